"""Energy above the MLIP hull: elements and stable binaries on it, strained phases above."""

from __future__ import annotations

import pytest

from halidelab.errors import CompositionError
from halidelab.stability import references as R
from halidelab.stability.hull import design_for_formula, energy_above_hull

#: measured standard enthalpy of formation of LiCl, -408.6 kJ/mol (NIST-JANAF), eV/atom
DHF_LICL_EV_ATOM = -408.6 / 96.485 / 2


def test_elements_and_stable_binary_lie_on_the_hull():
    lic = energy_above_hull(R.rock_salt("Li", "Cl", 5.13))
    assert lic.stable and lic.e_above_hull_eV_atom == 0.0
    assert lic.decomposition_energy_eV_atom < -1.0  # far below Li + Cl2
    assert [p.formula for p in lic.products] == ["LiCl"]
    li = energy_above_hull(R.bcc("Li", 3.51))
    assert li.stable and li.e_above_hull_eV_atom == 0.0
    assert li.formation_energy_eV_atom == pytest.approx(0.0, abs=1e-9)
    # the MLIP (MP2020-compatible energies) against the measured formation enthalpy
    assert lic.formation_energy_eV_atom == pytest.approx(DHF_LICL_EV_ATOM, abs=0.15)


def test_compressed_rock_salt_is_above_the_hull():
    # LiCl squeezed 8% in a (unrelaxed): above its own relaxed polymorph, decomposes to it
    res = energy_above_hull(R.rock_salt("Li", "Cl", 5.13 * 0.92), relax=False)
    assert not res.stable
    assert res.e_above_hull_eV_atom > 0.03
    assert [p.formula for p in res.products] == ["LiCl"]
    # the configuration energy is the strained energy, higher than the relaxed LiCl reference
    ref = next(r for r in res.references if r.formula == "LiCl")
    assert res.configurations[0].energy_per_atom_eV - ref.energy_per_atom_eV == pytest.approx(
        res.e_above_hull_eV_atom, abs=1e-9
    )


def test_hull_result_round_trips():
    res = energy_above_hull(R.rock_salt("Li", "Cl", 5.13))
    back = type(res).from_dict(res.to_dict())
    assert back.e_above_hull_eV_atom == res.e_above_hull_eV_atom
    assert back.references[0].name == res.references[0].name


def test_design_for_formula():
    d = design_for_formula("Li1.8Zr0.8Nb0.2Cl6")
    assert d.parent.replace("1", "") in ("Li2ZrCl6",) or "Li2" in d.parent
    assert [(s.dopant, s.site, round(s.x, 6)) for s in d.substitutions] == [("Nb", "Zr", 0.2)]
    assert design_for_formula("Li3YCl6").substitutions == ()
    with pytest.raises(CompositionError, match="not charge balanced"):
        design_for_formula("Li2Zr0.8Nb0.2Cl6")
    with pytest.raises(CompositionError):
        design_for_formula("ZrCl4")


def test_partial_occupancy_is_ordered_first(shared_data):
    """A partially occupied CIF is relaxed as its lowest-Ewald-energy ordered model."""
    from halidelab.stability.hull import candidate_structures
    from halidelab.structures.prototypes import read_structure

    s = read_structure(shared_data / "structures" / "Li3YCl6_P-3m1_obelix-ei3.cif")
    formula, structures = candidate_structures(s)
    (model,) = structures
    assert formula == "Li3YCl6" and model.is_ordered and len(model) == 60


@pytest.mark.slow
def test_li3ycl6_against_licl_and_ycl3():
    res = energy_above_hull("Li3YCl6")
    # a known ternary: within a few tens of meV/atom of the LiCl + YCl3 hull
    assert res.e_above_hull_eV_atom < 0.05
    assert res.chemical_system == "Cl-Li-Y"
    if not res.stable:
        assert {p.formula for p in res.products} <= {"LiCl", "YCl3"}
