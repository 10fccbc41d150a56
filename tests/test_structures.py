"""Ordered supercell models: composition, charge, site counts, distinctness, energies."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.analysis.ewald import EwaldSummation
from pymatgen.analysis.structure_matcher import StructureMatcher

from halidelab.composition import Substitution, design_composition
from halidelab.errors import StructureError
from halidelab.structures.models import build_models, parse_supercell, write_models
from halidelab.structures.ordering import best_supercell, hnf_matrices
from halidelab.structures.prototypes import read_structure, vegard_lattice

OXI = {"Li": 1, "Zr": 4, "Nb": 5, "Cl": -1}


@pytest.fixture(scope="module")
def lznc():
    d = design_composition("Li2ZrCl6", Substitution("Nb", "Zr", 0.2))
    return build_models(d, n_configs=4, seed=7, sweeps=40)


def test_lznc_supercell_composition_charge_and_sites(lznc):
    assert lznc.x_modelled == {"Nb@Zr": pytest.approx(0.2)}
    assert lznc.formula_modelled == "Li1.8Zr0.8Nb0.2Cl6"
    assert lznc.n_formula_units == 15
    assert lznc.species_counts == {"Li": 27, "Zr": 12, "Nb": 3, "Cl": 90}
    assert round(abs(np.linalg.det(lznc.supercell_matrix))) == 5
    for s in lznc.structures:
        comp = s.composition.get_el_amt_dict()
        assert comp == {"Li": 27, "Zr": 12, "Nb": 3, "Cl": 90}
        assert sum(OXI[el] * n for el, n in comp.items()) == 0
        # no two atoms overlap; cations keep their distance
        d = s.distance_matrix + np.eye(len(s)) * 100
        assert d.min() > 2.0
        # every Nb sits on a site of the M sublattice: octahedrally coordinated by Cl
        for site in s:
            if site.specie.symbol == "Nb":
                cl = [n for n in s.get_neighbors(site, 3.0) if n.specie.symbol == "Cl"]
                assert len(cl) == 6


def test_configurations_are_distinct_and_ranked(lznc):
    ss = lznc.structures
    assert len(ss) >= 2
    sm = StructureMatcher()
    for i in range(len(ss)):
        for j in range(i + 1, len(ss)):
            assert not sm.fit(ss[i], ss[j])
    e = [c.ewald_energy_eV for c in lznc.configurations]
    assert e == sorted(e)
    assert lznc.configurations[0].relative_energy_meV_atom == 0


def test_recorded_energy_is_the_pymatgen_ewald_energy(lznc):
    for cfg in lznc.configurations[:2]:
        s = cfg.to_structure()
        s.add_oxidation_state_by_element(OXI)
        assert EwaldSummation(s).total_energy == pytest.approx(cfg.ewald_energy_eV, abs=1e-6)


def test_ordering_beats_random_placement(lznc):
    """The lowest configuration is far below random orderings of the same cell."""
    rng = np.random.default_rng(0)
    best = lznc.structures[0].copy()
    best.add_oxidation_state_by_element(OXI)
    e_best = EwaldSummation(best).total_energy
    li_like = [i for i, s in enumerate(best) if s.specie.symbol in ("Zr", "Nb")]
    energies = []
    for _ in range(5):
        s = best.copy()
        perm = rng.permutation(li_like)
        species = [s[i].specie for i in li_like]
        for i, sp in zip(perm, species, strict=True):
            s.replace(i, sp)
        energies.append(EwaldSummation(s).total_energy)
    assert e_best <= min(energies) + 1e-6


def test_seed_makes_it_deterministic():
    d = design_composition("Li2ZrCl6", Substitution("Nb", "Zr", 0.2))
    a = build_models(d, n_configs=2, seed=3, sweeps=20)
    b = build_models(d, n_configs=2, seed=3, sweeps=20)
    assert [c.ewald_energy_eV for c in a.configurations] == [
        c.ewald_energy_eV for c in b.configurations
    ]


def test_li2zrcl6_in_the_li3ycl6_framework():
    m = build_models(design_composition("Li2ZrCl6"), n_configs=1, seed=0, sweeps=20)
    assert m.space_group == "P-3m1" and m.framework == "Li3YCl6-P-3m1"
    assert m.lattice_estimate["a_A"] == pytest.approx(10.94)
    assert m.lattice_estimate["c_A"] == pytest.approx(5.93)
    s = m.structures[0]
    per_fu = {el: n / m.n_formula_units for el, n in s.composition.get_el_amt_dict().items()}
    assert per_fu == pytest.approx({"Li": 2, "Zr": 1, "Cl": 6})


def test_x_that_needs_a_large_cell_is_approximated_and_reported():
    d = design_composition("Li2ZrCl6", Substitution("Nb", "Zr", 0.1))
    m = build_models(d, n_configs=1, max_atoms=120, seed=0, sweeps=20)
    x = m.x_modelled["Nb@Zr"]
    assert x != 0.1 and abs(x - 0.1) < 0.05
    assert any("modelled as x" in w for w in m.warnings)
    counts = m.structures[0].composition.get_el_amt_dict()
    assert counts["Nb"] / m.n_formula_units == pytest.approx(x)
    # Li follows x exactly: one Li removed per Nb
    assert counts["Li"] == 2 * m.n_formula_units - counts["Nb"]


def test_vegard_estimate_contracts_with_nb():
    a0 = vegard_lattice(design_composition("Li2ZrCl6"))
    a2 = vegard_lattice(design_composition("Li2ZrCl6", Substitution("Nb", "Zr", 0.2)))
    assert a2["a_A"] < a0["a_A"] and a2["c_A"] < a0["c_A"]
    assert a0["a_A"] == pytest.approx(10.94)


def test_monoclinic_framework_and_anion_substitution():
    m = build_models(
        design_composition("Li3InCl6", Substitution("Zr", "In", 0.5)),
        n_configs=1,
        seed=0,
        sweeps=20,
    )
    assert m.space_group == "C2/m"
    comp = m.structures[0].composition.get_el_amt_dict()
    assert comp["Zr"] == comp["In"] and comp["Li"] == 2.5 * m.n_formula_units
    o = build_models(
        design_composition("Li2ZrCl6", Substitution("O", "Cl", 0.5)), n_configs=1, seed=0, sweeps=20
    )
    comp = o.structures[0].composition.get_el_amt_dict()
    assert comp["O"] / o.n_formula_units == pytest.approx(0.5)
    assert comp["Li"] / o.n_formula_units == pytest.approx(2.5)


def test_write_and_read_back(tmp_path, lznc):
    man = write_models([lznc], tmp_path, formats=["cif", "poscar", "extxyz"], xrd=True)
    files = man["models"]["Li1.8Zr0.8Nb0.2Cl6"]["files"][0]
    assert files == [
        "Li1.8Zr0.8Nb0.2Cl6_c0.cif",
        "Li1.8Zr0.8Nb0.2Cl6_c0.vasp",
        "Li1.8Zr0.8Nb0.2Cl6_c0.extxyz",
        "Li1.8Zr0.8Nb0.2Cl6_c0_xrd.csv",
        "Li1.8Zr0.8Nb0.2Cl6_c0_xrd.xy",
    ]
    # the strongest low-angle reflection of the P-3m1 framework: (110) of the parent
    # cell, d = a/2 (hexagonal), here (1 1 0) of the 1x1x5 supercell too
    import csv

    with (tmp_path / files[3]).open() as fh:
        peaks = list(csv.DictReader(fh))
    p110 = next(p for p in peaks if p["hkl"].strip("()").split() == ["1", "1", "0"])
    a = lznc.lattice_estimate["a_A"]
    assert float(p110["d_spacing_A"]) == pytest.approx(a / 2, rel=1e-4)
    for f in files[:3]:
        s = read_structure(tmp_path / f)
        assert s.composition.get_el_amt_dict() == {"Li": 27, "Zr": 12, "Nb": 3, "Cl": 90}
    assert (tmp_path / "manifest.json").is_file()


def test_hnf_count_and_compact_supercell():
    # number of sublattices of index n: sigma_2-like sequence 1, 7, 13, 35 for n = 1..4
    assert [len(hnf_matrices(n)) for n in (1, 2, 3, 4)] == [1, 7, 13, 35]
    from pymatgen.core import Lattice

    cubic = Lattice.cubic(5.0)
    m = best_supercell(cubic, 8)
    assert sorted(np.abs(np.diag(m)).tolist()) == [2, 2, 2]


@pytest.mark.parametrize("bad", ["0", "1x1", "axbxc", "-1", "1x0x1"])
def test_bad_supercell_specs(bad):
    with pytest.raises(StructureError):
        parse_supercell(bad)


def test_corrupted_and_empty_cif(tmp_path):
    bad = tmp_path / "bad.cif"
    bad.write_text("data_x\n_cell_length_a 5\n loop_\n _atom_site_label\n garbage here\n")
    with pytest.raises(StructureError):
        read_structure(bad)
    empty = tmp_path / "empty.cif"
    empty.write_text("")
    with pytest.raises(StructureError, match="empty"):
        read_structure(empty)
    with pytest.raises(StructureError, match="not found"):
        read_structure(tmp_path / "nope.cif")


@pytest.fixture(scope="module")
def lznc_milled():
    d = design_composition("Li2ZrCl6", Substitution("Nb", "Zr", 0.2))
    return build_models(d, n_configs=3, seed=2, state="ball-milled")


def test_ball_milled_models_are_cation_disordered_on_octahedral_holes(lznc_milled):
    ms = lznc_milled
    assert ms.state == "ball-milled" and ms.formula_modelled == "Li1.8Zr0.8Nb0.2Cl6"
    for cfg in ms.configurations:
        s = cfg.to_structure()
        comp = s.composition.get_el_amt_dict()
        assert comp == {"Li": 27, "Zr": 12, "Nb": 3, "Cl": 90}
        assert sum(OXI[el] * n for el, n in comp.items()) == 0
        d = s.distance_matrix + np.eye(len(s)) * 100
        assert d.min() > 2.0
        # every cation sits in an octahedral hole: six Cl around it
        for site in s:
            if site.specie.symbol != "Cl":
                assert len([n for n in s.get_neighbors(site, 3.2) if n.specie.symbol == "Cl"]) == 6
        # M on sites that hold Li in the ordered cell: the disorder the ordered model lacks
        assert 0 < cfg.disorder["m_on_li_sites"] <= cfg.disorder["m_off_ordered_sites"] <= 1
        assert cfg.disorder["ewald_above_annealed_meV_atom"] > 0
    structs = ms.structures
    assert not StructureMatcher().fit(structs[0], structs[1])


def test_ball_milled_sampling_is_reproducible_and_annealed_has_no_disorder(lznc_milled, lznc):
    d = design_composition("Li2ZrCl6", Substitution("Nb", "Zr", 0.2))
    again = build_models(d, n_configs=3, seed=2, state="ball-milled")
    assert [c.structure for c in again.configurations] == [
        c.structure for c in lznc_milled.configurations
    ]
    assert all(c.disorder is None for c in lznc.configurations) and lznc.state == "annealed"
    with pytest.raises(StructureError, match="synthesis state"):
        build_models(d, state="slow-cooled")


def test_ball_milled_cells_are_wide_enough_to_sample_the_disorder():
    """Li3YCl6 on its trigonal framework: the annealed auto cell is 8 A wide (60 atoms),
    the ball-milled one 11.5 A (240 atoms), and on it every chain moves a quarter or more
    of the Y off their ordered sites (on the 60-atom cell the fraction is a coin toss of
    six Y, 0 % for some chains: the annealed model called milled)."""
    from halidelab.structures.models import MILLED_MIN_WIDTH_A, MIN_WIDTH_A
    from halidelab.structures.ordering import min_width_A

    d = design_composition("Li3YCl6")
    annealed = build_models(d, polymorph="P-3m1", max_atoms=300, n_configs=1)
    milled = build_models(d, polymorph="P-3m1", max_atoms=300, n_configs=3, state="ball-milled")
    a = annealed.configurations[0].to_structure()
    assert MIN_WIDTH_A <= min_width_A(a.lattice.matrix) < MILLED_MIN_WIDTH_A
    for c in milled.configurations:
        m = c.to_structure()
        assert min_width_A(m.lattice.matrix) >= MILLED_MIN_WIDTH_A
        assert len(m) == 4 * len(a)
        assert c.disorder["m_off_ordered_sites"] >= 0.25
    assert not any("wide" in w for w in milled.warnings)


def test_a_ball_milled_cell_above_max_atoms_keeps_the_annealed_width_and_says_so():
    """Li2ZrCl6 within 140 atoms: no 11.5 A cell fits (the first is 216 atoms), so the milled
    model keeps the 8 A cell of the annealed one (54 atoms; never the 27-atom cell, 6 A
    wide) and its warnings name the width and the --max-atoms that gives a wide cell."""
    from halidelab.structures.ordering import min_width_A

    d = design_composition("Li2ZrCl6")
    annealed = build_models(d, max_atoms=140, n_configs=1)
    milled = build_models(d, max_atoms=140, n_configs=1, state="ball-milled")
    a = annealed.configurations[0].to_structure()
    m = milled.configurations[0].to_structure()
    assert len(m) == len(a) == 54
    assert min_width_A(m.lattice.matrix) == pytest.approx(min_width_A(a.lattice.matrix))
    (w,) = [w for w in milled.warnings if "wide" in w]
    assert "11.5 A wide" in w and "--max-atoms 216 gives one" in w
    assert not any("wide" in w for w in annealed.warnings)
    # the reports pick it out of the other warnings by is_narrow_cell_warning
    from halidelab.structures.models import is_narrow_cell_warning

    assert [x for x in milled.warnings if is_narrow_cell_warning(x)] == [w]
    assert not any(is_narrow_cell_warning(x) for x in annealed.warnings)


def test_a_ball_milled_cell_models_the_composition_before_it_is_wide():
    """Li1.8Zr0.8Nb0.2Cl6 within 220 atoms: the 2x2x2 cell (24 formula units) is wide but
    can hold 4.8 Nb only as 5 (x = 0.208); the milled model keeps x = 0.2 on the 1x1x5
    cell and says that the first wide cell that models x has 475 atoms."""
    d = design_composition("Li2ZrCl6", Substitution("Nb", "Zr", 0.2))
    ms = build_models(d, max_atoms=220, n_configs=1, state="ball-milled")
    comp = ms.configurations[0].to_structure().composition.get_el_amt_dict()
    assert comp["Nb"] / (comp["Nb"] + comp["Zr"]) == pytest.approx(0.2)
    assert sum(OXI[el] * n for el, n in comp.items()) == 0
    (w,) = [w for w in ms.warnings if "wide" in w]
    assert "--max-atoms 475 gives one" in w


# -- the quenched state: the file's own site disorder, sampled -------------------------
LYC_CIF = "src/halidelab/data/structures/Li3YCl6_P-3m1_obelix-ei3.cif"


@pytest.fixture(scope="module")
def lyc_quenched():
    from halidelab.structures.models import MILLED_MIN_WIDTH_A

    d = design_composition("Li3YCl6")
    ms = build_models(
        d, framework=_data(LYC_CIF), n_configs=3, seed=1, state="quenched", max_atoms=300
    )
    assert ms.state == "quenched" and ms.n_atoms == 240
    assert ms.lattice_estimate["a_A"] * 2 >= MILLED_MIN_WIDTH_A
    return ms


def _data(rel):
    from pathlib import Path

    import halidelab

    return Path(halidelab.__file__).parent / rel.removeprefix("src/halidelab/")


def _cation_distances(s, symbols):
    idx = [i for i, site in enumerate(s) if site.specie.symbol in symbols]
    d = s.distance_matrix[np.ix_(idx, idx)] + np.eye(len(idx)) * 100
    return d


def test_quenched_li3ycl6_keeps_both_split_y_orbits_and_never_a_face_sharing_pair(lyc_quenched):
    """The Li3YCl6 CIF puts the column Y on two 2d orbits 3.0 A apart (Y2 0.566, Y3 0.434):
    a quenched sample fills both orbits over its columns but never two face-sharing holes
    of one column (Y-Y >= 6 A), where the annealed model drops Y3 altogether. Its Li
    vacancies fall on both Li orbits, as refined (Li0 0.875, Li1 0.625)."""
    annealed = build_models(design_composition("Li3YCl6"), framework=_data(LYC_CIF), n_configs=1)
    assert any("not modelled" in w for w in annealed.warnings)  # Y3 dropped there
    y3 = []
    for c in lyc_quenched.configurations:
        s = c.to_structure()
        assert s.composition.get_el_amt_dict() == {"Li": 72, "Y": 24, "Cl": 144}
        assert _cation_distances(s, {"Y"}).min() > 5.5
        assert _cation_distances(s, {"Li", "Y"}).min() > 2.9
        occ = {k.split(":", 1)[1]: v for k, v in c.disorder.items() if k.startswith("occ")}
        assert set(occ) == {"Li0", "Li1", "Y2", "Y3"}
        assert occ["Y2"] + occ["Y3"] == pytest.approx(1.0)  # one Y per column period
        assert 0 < occ["Li0"] < 1 and 0 < occ["Li1"] < 1
        # 72 Li on 48 Li0 + 48 Li1 positions
        assert 48 * (occ["Li0"] + occ["Li1"]) == pytest.approx(72)
        y3.append(occ["Y3"])
        assert c.disorder["ewald_above_annealed_meV_atom"] > 0
    assert sum(y3) > 0 and min(y3) < 1
    structs = lyc_quenched.structures
    assert not StructureMatcher().fit(structs[0], structs[1])


def test_quenched_sampling_is_reproducible_and_its_first_chain_does_not_depend_on_how_many():
    d = design_composition("Li3YCl6")
    kw = {"framework": _data(LYC_CIF), "seed": 4, "state": "quenched", "max_atoms": 300}
    one = build_models(d, n_configs=1, **kw)
    three = build_models(d, n_configs=3, **kw)
    again = build_models(d, n_configs=3, **kw)
    assert one.configurations[0].structure == three.configurations[0].structure
    assert [c.structure for c in again.configurations] == [
        c.structure for c in three.configurations
    ]


def test_quenched_disorder_grows_with_the_quench_temperature():
    """Boltzmann sampling: the colder the quench, the closer to the Ewald ground state
    (mean Ewald energy above it over independent chains)."""
    d = design_composition("Li3YCl6")
    kw = {"framework": _data(LYC_CIF), "seed": 0, "state": "quenched", "max_atoms": 300}

    def above(t):
        ms = build_models(d, n_configs=3, quench_temperature_K=t, **kw)
        return np.mean([c.disorder["ewald_above_annealed_meV_atom"] for c in ms.configurations])

    assert above(150.0) < above(3000.0)
    with pytest.raises(StructureError, match="quench temperature"):
        build_models(d, quench_temperature_K=0.0, **kw)


def test_quenched_mixed_li_y_positions_hold_one_cation():
    """Li3YBr6 (C2/m) refines Li and Y on shared positions: the quenched sample puts one
    cation at most on each (no two atoms closer than a bond)."""
    d = design_composition("Li3YBr6")
    ms = build_models(
        d,
        framework=_data("src/halidelab/data/structures/Li3YBr6_C2_m_obelix-elz.cif"),
        n_configs=3,
        state="quenched",
        max_atoms=300,
    )
    for c in ms.configurations:
        s = c.to_structure()
        assert s.composition.get_el_amt_dict() == {
            "Li": 3 * ms.n_formula_units,
            "Y": ms.n_formula_units,
            "Br": 6 * ms.n_formula_units,
        }
        assert (s.distance_matrix + np.eye(len(s)) * 100).min() > 2.4


def test_quenched_dopants_move_between_m_orbits():
    """Li2.5Y0.5Zr0.5Cl6 on the trigonal framework: the fully occupied Y1 orbit (1a, the
    cell corners) is a pool of one position per copy; the exchange moves give each chain
    its own Zr/Y on those positions (without them every chain keeps the species the pools
    were filled in with)."""
    d = design_composition("Li3YCl6", Substitution("Zr", "Y", 0.5))
    ms = build_models(d, polymorph="P-3m1", n_configs=3, state="quenched", max_atoms=300)
    corners = []
    for c in ms.configurations:
        s = c.to_structure()
        comp = s.composition.get_el_amt_dict()
        assert comp["Zr"] == comp["Y"]
        assert sum({"Li": 1, "Y": 3, "Zr": 4, "Cl": -1}[el] * n for el, n in comp.items()) == 0
        assert _cation_distances(s, {"Y", "Zr"}).min() > 5.5
        on_1a = sorted(
            (tuple(np.round(x.frac_coords % 1, 3)), x.specie.symbol)
            for x in s
            if np.allclose((x.frac_coords * 2) % 1, 0, atol=1e-3) and x.specie.symbol != "Cl"
        )
        assert len(on_1a) == 8 and {sp for _, sp in on_1a} <= {"Y", "Zr"}
        corners.append(tuple(on_1a))
    assert len(set(corners)) == 3


def test_exchange_moves_sample_the_boltzmann_ratio_between_two_pools():
    """Two one-position pools of one role, A (+1) and B (+2), and self-energies e0, e1:
    swapping them costs dE = 3 (e0 - e1). With exchange moves the chain visits the swapped
    arrangement with the Boltzmann weight (here 1/3 of the other's: a fraction of 1/4);
    without them it never leaves its start."""
    from halidelab.structures.ordering import Pool, sample_orderings

    kt = 0.05
    e1 = 0.2
    e0 = e1 + kt * np.log(3.0) / 3.0
    matrix = np.diag([e0, e1])
    pools = [Pool([0], {"A": 1}, "M"), Pool([1], {"B": 1}, "M")]
    charges = {"": 0.0, "A": 1.0, "B": 2.0}
    kw = {"burn_in_sweeps": 5, "sweeps_between": 1}
    snaps = sample_orderings(matrix, pools, charges, 4000, kt, seed=3, exchange=True, **kw)
    swapped = np.mean([s.labels == ["B", "A"] for s in snaps])
    assert swapped == pytest.approx(0.25, abs=0.04)
    for s in snaps[:3]:
        want = float(
            np.array([charges[x] for x in s.labels])
            @ matrix
            @ np.array([charges[x] for x in s.labels])
        )
        assert s.energy_eV == pytest.approx(want)
    still = sample_orderings(matrix, pools, charges, 50, kt, seed=3, **kw)
    assert all(s.labels == ["A", "B"] for s in still)


def test_model_size_is_the_size_of_the_model_built_without_its_ordering_search(
    lznc, lznc_milled, lyc_quenched
):
    from halidelab.structures.models import model_size

    nb = design_composition("Li2ZrCl6", Substitution("Nb", "Zr", 0.2))
    # annealed, ball-milled (wider cells) and quenched from a CIF: the three cell choices
    assert model_size(nb) == lznc.n_atoms == 132
    assert model_size(nb, state="ball-milled") == lznc_milled.n_atoms
    lyc = design_composition("Li3YCl6")
    size = model_size(lyc, framework=_data(LYC_CIF), state="quenched", max_atoms=300)
    assert size == lyc_quenched.n_atoms == 240
    # a tighter bound picks a smaller cell (x modelled less closely), as build_models does
    small = build_models(nb, max_atoms=60, n_configs=1, sweeps=5)
    assert model_size(nb, max_atoms=60) == small.n_atoms < 132
    # and the same refusals
    with pytest.raises(StructureError, match="max-atoms"):
        model_size(nb, max_atoms=0)
    with pytest.raises(StructureError, match="state"):
        model_size(nb, state="molten")
