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
    refs = [r for r in hull.references if r.name != "Cl2 (solid, Cmca)"] + [
        r for r in hull.references if r.name == "Cl2 (solid, Cmca)"
    ]
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
    assert out["min_reaction_energy_eV_atom"] == pytest.approx(
        hull.formation_energy_eV_atom, abs=1e-6
    )
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
        100 * (2 * 2 * 17.0 - (2 * 20.0 + 2 * 30.0)) / (2 * 20.0 + 2 * 30.0)
    )


def test_cathode_choice():
    assert _cathode_spec("licoo2").formula == "LiCoO2"
    assert _cathode_spec("NCM811").approximate
    # the argyrodite is modelled now (no refusal), under its name and its aliases
    for name in ("Li6PS5Cl", "li6ps5cl", "LPSCl", "argyrodite"):
        assert _cathode_spec(name).formula == "Li6PS5Cl"
    with pytest.raises(StructureError, match="unknown cathode 'LiFePO4'; choose one of .*Li6PS5Cl"):
        _cathode_spec("LiFePO4")


def test_lico2_geometry():
    s = R.layered_lico2()
    for site in s:
        if site.specie.symbol == "Co":
            near = s.get_neighbors(site, 2.1)
            assert len(near) == 6 and all(x.specie.symbol == "O" for x in near)
            assert all(
                x.nn_distance == pytest.approx(1.92, abs=0.03) for x in near
            )  # measured Co-O 1.92 A


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
    assert reaction_volume_change(rxn, vols, gases=("O2",)) == pytest.approx(
        100 * (3 * 8.0 - 4 * 10.0) / 40.0
    )
    assert reaction_volume_change(rxn, vols) is None


# ------------------------------------------------------------------ Li6PS5Cl partner
#: toy energies (NOT an MLIP): element energies (eV/atom) and formation energies per atom
#: chosen so that Li6PS5Cl lies below LiCl + Li2S + Li3PS4. They exercise the pipeline
#: (phase diagram, partner, warnings) in a second; the physics is in the slow test.
_TOY_MU = {"Li": -1.9, "P": -5.4, "S": -4.1, "Cl": -1.8, "Zr": -8.5, "Nb": -10.0}
_TOY_HF = {
    "LiCl": -2.0,
    "Li2S": -1.4,
    "Li3P": -0.5,
    "P2S5": -0.2,
    "Li3PS4": -1.0,
    "Li7P3S11": -0.85,
    "Li6PS5Cl": -1.27,
}


def _toy_relax(structure, label, model="chgnet", fmax=0.05, steps=300, relax_cell=True, store=None):
    comp = structure.composition
    e = sum(_TOY_MU[el.symbol] * comp.get_atomic_fraction(el) for el in comp.elements)
    e += _TOY_HF.get(comp.reduced_formula, 0.0)
    return {
        "energy_per_atom_eV": e,
        "converged": True,
        "structure": structure.as_dict(),
        "provenance": {"model": "toy", "model_version": "0"},
    }, False


@pytest.fixture()
def toy_energies(monkeypatch):
    from halidelab.stability import hull

    monkeypatch.setattr(R, "relax_cached", _toy_relax)
    monkeypatch.setattr(hull, "relax_cached", _toy_relax)


def test_li6ps5cl_with_itself_does_not_react(toy_energies):
    from halidelab.stability.sulfides import ordered_argyrodite

    res = interface_reaction(ordered_argyrodite(), "Li6PS5Cl")
    assert res.cathode == "Li6PS5Cl" and res.electrolyte == "Li6PS5Cl"
    assert res.min_reaction_energy_eV_atom == 0.0
    assert res.volume_change_percent == 0.0
    # the sulfide-side competitors were on the phase diagram
    formulas = {Composition(n.split(" (")[0]).reduced_formula for n in res.competing_phases}
    assert {"Li2S", "Li3PS4", "Li7P3S11", "P", "S", "LiCl", "Li3P", "P2S5"} <= formulas
    # and the missing ones are named, with the bound they imply
    assert any("Li4P2S6" in m for m in res.missing_phases)
    assert any("bound" in w and "Li4P2S6" in w for w in res.warnings)
    assert any("ordered argyrodite" in w for w in res.warnings)


def test_li6ps5cl_coexists_with_its_decomposition_product(toy_energies):
    # LiCl lies on a tie line with Li6PS5Cl on this hull: zero at every mixing ratio
    res = interface_reaction(R.rock_salt("Li", "Cl", 5.13), "lpscl")
    assert res.min_reaction_energy_eV_atom == pytest.approx(0.0, abs=1e-9)
    assert all(abs(p.reaction_energy_eV_atom) < 1e-9 for p in res.curve)
    assert res.missing_phases and "Zr" not in " ".join(res.missing_phases)


def test_missing_phases_follow_the_chemical_system():
    assert R.missing_phases({"Li", "Y", "Cl"}) == []
    lzc = R.missing_phases({"Li", "Zr", "Cl", "P", "S"})
    assert "Zr sulfochlorides" in lzc and "PCl3, PCl5" in lzc
    assert not any("Nb" in m or "In" in m.split() for m in lzc)


@pytest.mark.slow
def test_li2zrcl6_with_li6ps5cl_mlip():
    from halidelab.stability.sulfides import ordered_argyrodite

    res = interface_reaction("Li2ZrCl6", "Li6PS5Cl")
    assert res.min_reaction_energy_eV_atom <= 0.0
    assert 0.0 <= res.x_cathode_at_min <= 1.0
    # every product is a phase of the joint system on the MLIP hull
    assert set(res.products) <= {
        Composition(n.split(" (")[0]).reduced_formula for n in res.competing_phases
    }
    # with itself, the argyrodite model only decomposes: minus its own energy above the hull
    own = interface_reaction(ordered_argyrodite(), "Li6PS5Cl")
    hull = energy_above_hull(ordered_argyrodite())
    assert own.min_reaction_energy_eV_atom == pytest.approx(-hull.e_above_hull_eV_atom, abs=1e-9)
    assert res.curve[-1].reaction_energy_eV_atom == pytest.approx(
        -hull.e_above_hull_eV_atom, abs=1e-6
    )
    # Li metal reduces the argyrodite to Li2S, Li3P and LiCl
    li = interface_reaction(R.bcc("Li", 3.51), "Li6PS5Cl")
    assert li.min_reaction_energy_eV_atom < -0.1
    assert set(li.products) == {"Li2S", "Li3P", "LiCl"}
