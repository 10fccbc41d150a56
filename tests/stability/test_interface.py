"""Interface reactions: zero for a phase with itself or with a phase it coexists with,
the formation energy for its own elements, and the cathode models."""

from __future__ import annotations

import pytest
from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition

from halidelab.errors import StructureError
from halidelab.stability import references as R
from halidelab.stability.hull import energy_above_hull, reference_entries
from halidelab.stability.interface import (
    _cathode_spec,
    interface_reaction,
    reaction_volume_change,
    reactivity,
)


@pytest.fixture(scope="module")
def licl_system():
    hull = energy_above_hull(R.rock_salt("Li", "Cl", 5.13))
    refs = [r for r in hull.references if r.name != "Cl2 (solid, Cmca)"] + \
        [r for r in hull.references if r.name == "Cl2 (solid, Cmca)"]
    return hull, PhaseDiagram(reference_entries(refs)), refs


def test_self_reaction_is_zero(licl_system):
    _hull, pd, _refs = licl_system
    out = reactivity(pd, Composition("LiCl"), Composition("LiCl"))
    assert out["min_reaction_energy_eV_atom"] == 0.0
    assert out["volume_change_percent"] == 0.0


def test_coexisting_phases_do_not_react(licl_system):
    # Li metal and LiCl share a tie line: no reaction at any mixing ratio
    _hull, pd, _refs = licl_system
    out = reactivity(pd, Composition("Li"), Composition("LiCl"))
    assert out["min_reaction_energy_eV_atom"] == pytest.approx(0.0, abs=1e-9)
    assert all(abs(p.reaction_energy_eV_atom) < 1e-9 for p in out["curve"])


def test_li_with_chlorine_gives_the_formation_energy(licl_system):
    hull, pd, refs = licl_system
    vols = {r.formula: r.volume_per_atom_A3 for r in refs}
    vols["Cl2"] = min(r.volume_per_atom_A3 for r in refs if r.formula == "Cl2")
    out = reactivity(pd, Composition("Cl2"), Composition("Li"), vols)
    # most negative at the LiCl composition (x = 1/2 per atom), equal to E_f(LiCl)
    assert out["x_cathode_at_min"] == pytest.approx(0.5, abs=1e-9)
    assert out["min_reaction_energy_eV_atom"] == pytest.approx(hull.formation_energy_eV_atom, abs=1e-6)
    assert out["products"] == ("LiCl",)
    # volume change of Li + 1/2 Cl2 -> LiCl from the same volumes
    v_r = vols["Li"] + vols["Cl2"]
    v_p = 2 * vols["LiCl"]
    assert out["volume_change_percent"] == pytest.approx(100 * (v_p - v_r) / v_r, rel=1e-9)


def test_volume_change_needs_every_volume():
    from pymatgen.analysis.reaction_calculator import Reaction

    rxn = Reaction([Composition("Li"), Composition("Cl2")], [Composition("LiCl")])
    assert reaction_volume_change(rxn, {"Li": 20.0, "LiCl": 17.0}) is None
    assert reaction_volume_change(rxn, {"Li": 20.0, "Cl2": 30.0, "LiCl": 17.0}) == pytest.approx(
        100 * (2 * 2 * 17.0 - (2 * 20.0 + 2 * 30.0)) / (2 * 20.0 + 2 * 30.0))


def test_cathode_choice():
    assert _cathode_spec("licoo2").formula == "LiCoO2"
    assert _cathode_spec("NCM811").approximate
    with pytest.raises(StructureError, match="Li6PS5Cl is not modelled"):
        _cathode_spec("Li6PS5Cl")
    with pytest.raises(StructureError, match="unknown cathode"):
        _cathode_spec("LiFePO4")


def test_lico2_geometry():
    s = R.layered_lico2()
    for site in s:
        if site.specie.symbol == "Co":
            near = s.get_neighbors(site, 2.1)
            assert len(near) == 6 and all(x.specie.symbol == "O" for x in near)
            assert all(x.nn_distance == pytest.approx(1.92, abs=0.03) for x in near)  # measured Co-O 1.92 A


def test_metastable_reactant_decomposition_shows_at_its_end():
    # a phase 0.1 eV/atom above LiCl: its reaction curve at x(cathode)=0 is -0.1 eV/atom
    entries = [PDEntry(Composition(f), e) for f, e in (("Li", 0.0), ("Cl2", 0.0), ("LiCl", -4.0))]
    entries.append(PDEntry(Composition("LiCl"), -4.0 + 0.2, name="strained"))
    pd = PhaseDiagram(entries)
    out = reactivity(pd, Composition("Li"), Composition("Cl2"))
    assert out["min_reaction_energy_eV_atom"] == pytest.approx(-2.0)


@pytest.mark.slow
def test_li3ycl6_with_licoo2():
    res = interface_reaction("Li3YCl6", "LiCoO2")
    assert res.min_reaction_energy_eV_atom < 0.0
    assert 0.0 < res.x_cathode_at_min < 1.0
    assert res.products


def test_released_gas_is_not_counted_in_the_volume():
    from pymatgen.analysis.reaction_calculator import Reaction

    rxn = Reaction([Composition("Li2O2")], [Composition("Li2O"), Composition("O2")])
    vols = {"Li2O2": 10.0, "Li2O": 8.0}
    # 1 Li2O2 (4 atoms) -> Li2O (3 atoms) + 1/2 O2 (gas, left out)
    assert reaction_volume_change(rxn, vols, gases=("O2",)) == pytest.approx(100 * (3 * 8.0 - 4 * 10.0) / 40.0)
    assert reaction_volume_change(rxn, vols) is None
