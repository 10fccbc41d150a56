"""Intrinsic Li defects: formation energies, carrier fraction, the validate tier.

Physics checked: the pair fraction is Arrhenius with half the formation energy; a model
with vacant Li sites needs no defect made (no model call); rock-salt LiCl, the textbook
Schottky-disordered alkali halide, comes out with Schottky pairs cheaper than Frenkel
pairs, neither recombining, the Frenkel Li left in the tetrahedral interstitial.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from halidelab.constants import K_B_EV_K, ROOM_TEMPERATURE_K
from halidelab.engine.batch import CalculatorLoop
from halidelab.transport.defects import defect_supercell, intrinsic_fraction, li_defect_energies
from halidelab.transport.sites import _widths


def rocksalt(x: str = "Cl", a: float = 5.13) -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(a), ["Li", x], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def test_intrinsic_fraction_is_arrhenius_with_half_the_formation_energy():
    ef = 0.9
    t1, t2 = 300.0, 400.0
    slope = (math.log(intrinsic_fraction(ef, t1)) - math.log(intrinsic_fraction(ef, t2))) / (
        1 / t1 - 1 / t2
    )
    assert slope == pytest.approx(-ef / (2 * K_B_EV_K), rel=1e-12)
    # the site ratio enters as its square root (n_V n_i = N_Li N_i exp(-E/kT), n_V = n_i)
    assert intrinsic_fraction(ef, t1, 4.0) == pytest.approx(2 * intrinsic_fraction(ef, t1))
    assert intrinsic_fraction(0.0, t1) == 1.0
    with pytest.raises(ValueError, match="positive"):
        intrinsic_fraction(ef, 0.0)


def test_defect_supercell_reaches_the_width_within_the_atom_budget():
    s = rocksalt()
    sc, reps = defect_supercell(s, 9.0, 260)
    assert reps == (2, 2, 2) and len(sc) == 64
    assert min(_widths(sc.lattice.matrix)) >= 9.0
    # the budget stops growth: 8 atoms x 2 x 2 = 32 <= 40 < 64
    sc, reps = defect_supercell(s, 9.0, 40)
    assert len(sc) <= 40 and sorted(reps) == [1, 2, 2]


def test_a_frenkel_pair_too_close_recombines_and_does_not_count():
    d = li_defect_energies(rocksalt(), "chgnet", min_width_A=5.0, n_relax=1)
    assert d.n_atoms == 8
    assert not any("A wide" in w for w in d.warnings)  # 5.13 A reaches 5 A
    (fr,) = [c for c in d.calcs if c.mechanism == "frenkel"]
    assert fr.recombined and fr.energy_eV < 0.1 and not fr.counts
    assert d.e_frenkel_eV is None and d.mechanism == "schottky"
    narrow = li_defect_energies(rocksalt(), "chgnet", min_width_A=9.0, max_atoms=8, n_relax=1)
    assert any("5.1 A wide" in w for w in narrow.warnings)


class _Refuse:
    """An ASE-like calculator that fails the test if it is ever asked for an energy."""

    implemented_properties = ("energy", "forces")
    calls = 0

    def get_property(self, *a, **k):  # pragma: no cover - must not run
        raise AssertionError("the model was called")

    def get_potential_energy(self, *a, **k):  # pragma: no cover - must not run
        raise AssertionError("the model was called")


def test_structural_vacancies_need_no_defect_and_no_model_call():
    # half of the Li taken out of rock-salt LiCl (in a supercell): vacant Li sites
    s = rocksalt()
    s.make_supercell([2, 1, 1])
    li = [i for i, x in enumerate(s) if x.specie.symbol == "Li"]
    s.remove_sites(li[:2])
    ev = CalculatorLoop(_Refuse(), info={"name": "refuse"})
    d = li_defect_energies(s, ev)
    assert not d.li_sublattice_full
    assert d.n_vacant_li_sites > 0
    assert d.formation_energy_eV is None and d.calcs == ()
    assert d.carrier_fraction(ROOM_TEMPERATURE_K) is None


def test_refuses_a_structure_without_li():
    from halidelab.errors import StructureError

    with pytest.raises(StructureError, match="no Li"):
        li_defect_energies(
            Structure.from_spacegroup(
                "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5] * 3]
            ),
            CalculatorLoop(_Refuse(), info={"name": "refuse"}),
        )


def test_refuses_a_cation_disordered_model_before_any_model_call():
    """A milled Li3YCl6 model (Y on random octahedral holes): no framework symmetry, so its
    empty holes are not Li sites and the Li sublattice would look full; the defect energies
    are refused with one line, and the ordered (annealed) model of the same cell is not."""
    from halidelab.composition import design_composition
    from halidelab.errors import SimulationError
    from halidelab.structures.models import build_models

    design = design_composition("Li3YCl6")
    milled = build_models(design, polymorph="P-3m1", n_configs=1, state="ball-milled")
    assert milled.configurations[0].disorder["m_off_ordered_sites"] > 0.5
    ev = CalculatorLoop(_Refuse(), info={"name": "refuse"})
    with pytest.raises(SimulationError, match="has no symmetry") as exc:
        li_defect_energies(milled.configurations[0].to_structure(), ev)
    assert "\n" not in str(exc.value)
    annealed = build_models(design, polymorph="P-3m1", n_configs=1)
    d = li_defect_energies(annealed.configurations[0].to_structure(), ev)
    assert not d.li_sublattice_full and d.n_vacant_li_sites > 0  # the ordered model has them


@pytest.fixture(scope="module")
def licl_defects():
    return li_defect_energies(rocksalt(), "chgnet", n_relax=1)


def test_rocksalt_licl_is_schottky_disordered(licl_defects):
    d = licl_defects
    assert d.li_sublattice_full and d.n_li == 32 and d.n_atoms == 64
    assert d.anion == "Cl"
    # the LiCl reference is the same crystal: its energy per formula unit is the cell's / 32
    assert d.lix_energy_per_fu_eV == pytest.approx(d.energy_perfect_eV / 32, abs=2e-3)
    fr = [c for c in d.calcs if c.mechanism == "frenkel"]
    sch = [c for c in d.calcs if c.mechanism == "schottky"]
    # one Li orbit, one interstitial orbit (the tetrahedral 8c hole), one Cl orbit
    assert len(fr) == 1 and len(sch) == 1
    assert fr[0].final_label == fr[0].partner_label and not fr[0].recombined
    assert fr[0].separation_A > 5.0 and sch[0].separation_A > 5.0
    # relaxation lowers both; both cost energy; Schottky is the cheaper pair in LiCl
    for c in d.calcs:
        assert c.converged and 0 < c.energy_eV < c.energy_unrelaxed_eV
    assert d.e_schottky_eV < d.e_frenkel_eV
    assert d.mechanism == "schottky" and d.formation_energy_eV == d.e_schottky_eV
    assert d.site_ratio == pytest.approx(1.0)
    c = d.carrier_fraction(ROOM_TEMPERATURE_K)
    assert c == pytest.approx(np.exp(-d.e_schottky_eV / (2 * K_B_EV_K * ROOM_TEMPERATURE_K)))


def test_cli_defects_table_json_and_bad_input(tmp_path, capsys):
    import json

    from halidelab.cli import main

    p = tmp_path / "licl.cif"
    rocksalt().to(filename=str(p))
    # the 8-atom conventional cell (narrow, so cheap): the table and the verdict line
    assert main(["defects", str(p), "--min-width", "5", "--relax", "1"]) == 0
    out = capsys.readouterr().out
    assert "schottky" in out and "frenkel" in out and "Ea = E_m +" in out
    # in that cell the Frenkel Li is 2.2 A from its vacancy: it falls back (not counted)
    assert "recombined" in out
    # structural vacancies: said in one line, nothing computed
    s = rocksalt()
    s.make_supercell([2, 1, 1])
    s.remove_sites([i for i, x in enumerate(s) if x.specie.symbol == "Li"][:2])
    q = tmp_path / "vac.cif"
    s.to(filename=str(q))
    assert main(["defects", str(q), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["li_sublattice_full"] is False and d["calcs"] == []
    # bad input: exit 2, one line naming the option
    assert main(["defects", str(p), "--fmax", "-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--fmax" in err and len(err.splitlines()) == 1
    assert main(["defects", str(tmp_path / "missing.cif")]) == 2
