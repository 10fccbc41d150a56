"""Ranking: the score's components, bases, ties, and the store join it ranks from."""

from __future__ import annotations

import math

import pytest
from pymatgen.core import Structure

from halidelab.constants import K_B_EV_K
from halidelab.screening.plans import ScreenSettings, candidate_grid, rules_verdict, run_screen
from halidelab.screening.ranking import (
    BVSE_UNCERTAINTY_EV_PER_A,
    PRIOR_PREFACTOR_S_K_CM,
    CandidateResults,
    Weights,
    gather,
    prior_equivalent_barrier_eV,
    rank,
    score_candidate,
)
from halidelab.screening.runner import run_tasks
from halidelab.screening.store import Store
from halidelab.screening.tasks import Task


def cand(
    dopant: str, x: float, bvse=None, prior=None, stability=None, parent="Li2ZrCl6", site="Zr", **kw
) -> CandidateResults:
    subs = [{"dopant": dopant, "site": site, "x": x, **kw}]
    rules = rules_verdict(parent, subs, max_mismatch_percent=40)
    return CandidateResults(
        label=f"{dopant} {x}",
        parent=parent,
        formula=rules["formula"],
        dopant=dopant,
        site=site,
        x=x,
        rules=rules,
        bvse=bvse,
        prior=prior,
        stability=stability,
    )


def bvse(e3, e1=0.5, res=0.25, e_max=5.0):
    return {
        "e_1d_eV": e1,
        "e_2d_eV": e1,
        "e_3d_eV": e3,
        "e_max_eV": e_max,
        "resolution_A": res,
        "e_axis_eV": [e1, e1, e3],
        "formula": "X",
    }


def prior(log10, half=1.0, in_domain=True):
    return {
        "log10_sigma_S_cm": log10,
        "log10_sigma_low_S_cm": log10 - half,
        "log10_sigma_high_S_cm": log10 + half,
        "temperature_K": 298.15,
        "in_domain": in_domain,
    }


def test_prior_equivalent_barrier_inverts_arrhenius():
    for log10 in (-6.0, -3.0, -2.3):
        ea = prior_equivalent_barrier_eV(log10, 298.15)
        sigma = PRIOR_PREFACTOR_S_K_CM / 298.15 * math.exp(-ea / (K_B_EV_K * 298.15))
        assert math.log10(sigma) == pytest.approx(log10, abs=1e-12)
    # the prefactor is consistent with Li2ZrCl6 (0.5 mS/cm at 25 C, Ea about 0.33 eV)
    assert prior_equivalent_barrier_eV(math.log10(0.5e-3)) == pytest.approx(0.33, abs=0.02)
    # ten times the conductivity is k_B T ln 10 = 59 meV less barrier
    d = prior_equivalent_barrier_eV(-4) - prior_equivalent_barrier_eV(-3)
    assert d == pytest.approx(K_B_EV_K * 298.15 * math.log(10))


def test_score_is_the_sum_of_visible_components():
    # by default a mismatch within the range of measured substitutions costs nothing
    assert score_candidate(cand("In", 0.2, bvse=bvse(0.6)))["mismatch_penalty_eV"] == 0.0
    w = Weights(mismatch_free_percent=5.0)
    c = cand("In", 0.2, bvse=bvse(0.60, res=0.5))  # In3+ 0.80 vs Zr4+ 0.72: 11.1 %
    s = score_candidate(c, w)
    assert s["basis"] == "bvse" and s["barrier_eV"] == 0.60
    assert s["mismatch_percent"] == pytest.approx(11.11, abs=0.01)
    assert s["mismatch_penalty_eV"] == pytest.approx(
        w.mismatch_eV_per_percent * (11.111 - 5.0), abs=1e-4
    )
    assert s["score_eV"] == pytest.approx(
        s["barrier_eV"]
        + s["mismatch_penalty_eV"]
        + s["structure_penalty_eV"]
        + s["stability_penalty_eV"]
    )
    assert s["score_uncertainty_eV"] == pytest.approx(BVSE_UNCERTAINTY_EV_PER_A * 0.5)
    # Mg2+ (0.72 A) fits Zr4+ exactly: no mismatch penalty
    assert score_candidate(cand("Mg", 0.2, bvse=bvse(0.6)), w)["mismatch_penalty_eV"] == 0.0


def test_structure_change_and_stability_penalties():
    w = Weights()
    big = cand("In", 0.6, parent="Li3YCl6", site="Y", bvse=bvse(0.5))  # hcp -> ccp predicted
    small = cand("In", 0.1, parent="Li3YCl6", site="Y", bvse=bvse(0.5))
    assert score_candidate(big, w)["structure_penalty_eV"] == w.structure_change_eV
    assert score_candidate(small, w)["structure_penalty_eV"] == 0.0
    stable = cand("Nb", 0.2, bvse=bvse(0.6), stability={"e_above_hull_eV_atom": 0.01})
    unstable = cand("Nb", 0.2, bvse=bvse(0.6), stability={"e_above_hull_eV_atom": 0.13})
    assert score_candidate(stable, w)["stability_penalty_eV"] == 0.0  # within the tolerance
    assert score_candidate(unstable, w)["stability_penalty_eV"] == pytest.approx(0.10)
    assert score_candidate(cand("Nb", 0.2, bvse=bvse(0.6)), w)["e_above_hull_eV_atom"] is None


def test_no_3d_path_scores_the_ceiling_and_says_so():
    s = score_candidate(cand("Nb", 0.2, bvse=bvse(None, e_max=3.0)))
    assert s["barrier_eV"] == 3.0 and any("no 3D percolation" in w for w in s["warnings"])


def test_bvse_ranks_before_prior_ties_are_marked():
    cs = [
        cand("Nb", 0.2, bvse=bvse(0.70)),
        cand("Nb", 0.3, bvse=bvse(0.705)),  # within 2 x 0.0075 eV of 0.70: a tie
        cand("Nb", 0.4, bvse=bvse(0.80)),
        cand("Ta", 0.2, prior=prior(-2.0)),  # a high prior but only a prior
        cand("Ta", 0.3, prior=prior(-5.0, in_domain=False)),
        cand("Ta", 0.4),  # rules only
    ]
    r = rank(cs)
    assert [x.label for x in r] == ["Nb 0.2", "Nb 0.3", "Nb 0.4", "Ta 0.2", "Ta 0.3", "Ta 0.4"]
    assert [x.basis for x in r] == ["bvse"] * 3 + ["prior"] * 2 + ["rules"]
    assert r[0].tied_with == (2,) and r[1].tied_with == (1,) and r[2].tied_with == ()
    assert r[5].score_eV is None
    assert any("applicability" in w for w in r[4].warnings)
    # the prior's 90 % interval (+-1 decade) becomes a 1-sigma barrier uncertainty
    assert r[3].score_uncertainty_eV == pytest.approx(K_B_EV_K * 298.15 * math.log(10) / 1.645)
    # pruned candidates and the parent are not ranked
    pruned = cand("Y", 0.2)
    pruned.rules = rules_verdict(
        "Li2ZrCl6", [{"dopant": "Y", "site": "Zr", "x": 0.2}], max_mismatch_percent=15
    )
    parent = CandidateResults(
        "p", "Li2ZrCl6", "Li2ZrCl6", None, None, 0.0, rules_verdict("Li2ZrCl6", []), bvse=bvse(0.1)
    )
    assert [x.label for x in rank([*cs, pruned, parent])] == [x.label for x in r]
    assert rank([parent], include_parent=True)[0].label == "p"


def test_an_neb_barrier_is_the_first_basis():
    neb = {
        "percolation": {"ea_1d_eV": 0.3, "ea_2d_eV": 0.4, "ea_3d_eV": 0.45},
        "all_converged": False,
        "provenance": {"model": "chgnet"},
    }
    with_neb = cand("Nb", 0.4, bvse=bvse(0.9))
    with_neb.neb = neb
    r = rank([cand("Nb", 0.2, bvse=bvse(0.6)), with_neb])
    assert [x.basis for x in r] == ["neb", "bvse"] and r[0].barrier_eV == 0.45
    assert r[0].neb_3d_eV == 0.45 and r[0].bvse_3d_eV == 0.9  # both visible
    assert any("NEB converged" in w for w in r[0].warnings)


def test_mixed_bvse_grids_are_flagged():
    r = rank([cand("Nb", 0.2, bvse=bvse(0.7, res=0.5)), cand("Nb", 0.4, bvse=bvse(0.7, res=0.25))])
    assert all(any("grids differ" in w for w in x.warnings) for x in r)


def test_gather_joins_store_rows_by_content(tmp_path):
    store = Store(tmp_path / "g.sqlite")
    grid = candidate_grid("Li2ZrCl6", ["Nb", "Y"], [0.5], ["Zr"])
    settings = ScreenSettings(
        n_configs=1,
        tiers=("rules", "prior", "models", "bvse"),
        max_atoms=60,
        bvse_resolution_A=0.5,
        max_mismatch_percent=15.0,
    )
    run_screen(grid, store, settings, progress=False)
    cands = {c.label: c for c in gather(store)}
    assert set(cands) == {"Li2ZrCl6 parent", "Li2ZrCl6 Nb@Zr x=0.500", "Li2ZrCl6 Y@Zr x=0.500"}
    nb, y, par = (
        cands["Li2ZrCl6 Nb@Zr x=0.500"],
        cands["Li2ZrCl6 Y@Zr x=0.500"],
        cands["Li2ZrCl6 parent"],
    )
    assert nb.passed and not y.passed and y.models is None and y.bvse is None
    assert nb.formula == "Li1.5Zr0.5Nb0.5Cl6" and nb.prior["formula"] == nb.formula
    assert nb.models["x_modelled"] == {"Nb@Zr": 0.5}
    # the BVSE row found is the one computed on this candidate's own model structure
    assert nb.bvse["formula"] == "Li3ZrNbCl12" and par.bvse["formula"] == "Li2ZrCl6"
    # Vegard lattice contracts with Nb (smaller Nb5+ on Zr4+ sites)
    assert nb.lattice["a_A"] < par.lattice["a_A"] and nb.lattice["source"] == "Vegard estimate"
    # a second BVSE on the same structure at a coarser grid does not replace the finer one
    s0 = nb.models["configurations"][0]["structure"]
    run_tasks(
        [Task("bvse", "coarse", {"structure": s0, "resolution_A": 0.7})], store, progress=False
    )
    assert {c.label: c for c in gather(store)}["Li2ZrCl6 Nb@Zr x=0.500"].bvse["resolution_A"] == 0.5
    # one on the same grid of the structure scaled to another volume: the latest wins, and
    # it is joined to the structure it was given (the one the store knows)
    v = Structure.from_dict(s0).volume / len(Structure.from_dict(s0))
    run_tasks(
        [
            Task(
                "bvse",
                "scaled",
                {"structure": s0, "resolution_A": 0.5, "volume_per_atom_A3": 0.9 * v},
            )
        ],
        store,
        progress=False,
    )
    cand = {c.label: c for c in gather(store)}["Li2ZrCl6 Nb@Zr x=0.500"]
    got = cand.bvse
    assert nb.configurations[0]["bvse_cell"] == "model (unrelaxed)"  # no relax tier
    assert cand.configurations[0]["bvse_cell"].startswith("model (unrelaxed), scaled to")
    assert got["scaled_to_volume_per_atom_A3"] == pytest.approx(0.9 * v)
    assert got["e_3d_eV"] != nb.bvse["e_3d_eV"]  # a smaller cell, another barrier
    assert gather(store, parent="Li3YCl6") == []
    ranked = rank(gather(store))
    assert [x.label for x in ranked] == ["Li2ZrCl6 Nb@Zr x=0.500"]
    assert ranked[0].bvse_3d_eV == got["e_3d_eV"]
