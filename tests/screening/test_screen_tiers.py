"""The stability and NEB tiers of a screen, and several orderings per candidate.

The MLIP is replaced by a toy energy whose hull is known by construction: every
Li-Zr-Nb-Cl compound lies a chosen ``offset`` above the LiCl + ZrCl4 + NbCl5 tie-plane
(plus a small, ordering-dependent term), the binaries are the hull, the elements its
corners. Models and BVSE are the real ones (small cells, coarse grid); NEB is a toy that
reports one band not converged.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import shutil

import numpy as np
import pytest
from pymatgen.core import Composition, Structure

from halidelab.cli import main
from halidelab.errors import HalidelabError
from halidelab.screening import kinds, plans  # noqa: F401  (register the task functions)
from halidelab.screening.plans import (
    NEB_HOPS,
    TIER_COSTS,
    ScreenSettings,
    candidate_grid,
    estimate_cost,
    model_task,
    normalise_tiers,
    run_screen,
)
from halidelab.screening.ranking import BVSE_UNCERTAINTY_EV_PER_A, gather, rank
from halidelab.screening.store import Store
from halidelab.screening.tasks import TASK_FUNCTIONS

MU = {"Li": -2.0, "Zr": -8.0, "Nb": -10.0, "Ta": -11.0, "Cl": -1.5}
#: formation energies of the hull binaries, eV/atom
FORM = {"LiCl": -1.0, "ZrCl4": -1.2, "NbCl5": -0.8}


def offset(comp: Composition) -> float:
    """Height above the binaries' tie-plane: 0.02 eV/atom for Li2ZrCl6, more with Nb."""
    zr, nb = comp["Zr"], comp["Nb"]
    return 0.02 + 0.12 * nb / (zr + nb) if zr + nb else 0.0


def formation(comp: Composition) -> float:
    if len(comp.elements) == 1:
        return 0.0
    if comp.reduced_formula in FORM:
        return FORM[comp.reduced_formula]
    # n_Li LiCl + n_Zr ZrCl4 + n_Nb NbCl5 has exactly the composition of a charge-balanced
    # Li-Zr-Nb-Cl compound (Cl = Li + 4 Zr + 5 Nb)
    tie = (
        2 * comp["Li"] * FORM["LiCl"]
        + 5 * comp["Zr"] * FORM["ZrCl4"]
        + 6 * comp["Nb"] * FORM["NbCl5"]
    ) / comp.num_atoms
    return tie + offset(comp)


def ordering_term(s: Structure) -> float:
    """0-6 meV/atom, different for different orderings, deterministic."""
    text = str(sorted((site.specie.symbol, *np.round(site.frac_coords, 3)) for site in s))
    return 0.001 * (int(hashlib.sha1(text.encode()).hexdigest(), 16) % 7)


def toy_energy(s: Structure, ordering: bool = True) -> float:
    comp = s.composition
    e = sum(MU[el.symbol] * n for el, n in comp.items()) / comp.num_atoms + formation(comp)
    return e + (ordering_term(s) if ordering else 0.0)


def _relaxed(inputs: dict, ordering: bool) -> dict:
    s = Structure.from_dict(inputs["structure"])
    out = s.copy()
    out.scale_lattice(s.volume * 0.99)
    return {
        "formula": s.composition.reduced_formula,
        "n_atoms": len(s),
        "converged": True,
        "steps": 1,
        "max_steps": inputs.get("steps", 300),
        "fmax_eV_A": 0.01,
        "fmax_target_eV_A": inputs.get("fmax", 0.05),
        "energy_per_atom_eV": toy_energy(s, ordering),
        "structure": out.as_dict(),
        "provenance": {"method": "toy relax", "model": "toy", "model_version": "1"},
    }


class ToyNEB:
    """Two bands per study, the second not converged; records what it was asked."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, inputs: dict) -> dict:
        self.calls.append(inputs)
        s = Structure.from_dict(inputs["structure"])
        return {
            "formula": s.composition.reduced_formula,
            "n_atoms": len(s),
            "hops_mode": "distinct",
            "results": [band("Li1", "Li2", "c", 0.25, True), band("Li2", "Li2", "ab", 0.35, False)],
            "skipped": [],
            "chains": [],
            "percolation": {"ea_1d_eV": 0.25, "ea_2d_eV": 0.30, "ea_3d_eV": 0.35},
            "all_converged": False,
            "provenance": {"method": "toy neb", "model": "toy"},
        }


def band(a: str, b: str, direction: str, barrier: float, converged: bool) -> dict:
    """One NEB band as :class:`~halidelab.transport.neb.NEBResult` stores it."""
    from halidelab.records import Provenance
    from halidelab.transport.neb import NEBResult

    e = (0.0, barrier / 2, barrier, barrier / 2, 0.0)
    return NEBResult(
        label=f"{a}->{b}",
        label_initial=a,
        label_final=b,
        mechanism="vacancy",
        hop_index=0,
        parent_class=0,
        env_class=0,
        direction=direction,
        hop_length_A=3.0,
        n_images=3,
        reaction_coordinate_A=(0.0, 0.75, 1.5, 2.25, 3.0),
        energies_eV=e,
        barrier_forward_eV=barrier,
        barrier_backward_eV=barrier,
        delta_e_eV=0.0,
        saddle_image=2,
        converged=converged,
        fmax_eV_A=0.03 if converged else 0.4,
        fmax_target_eV_A=0.05,
        steps=10,
        force_calls=50,
        endpoints_ok=True,
        wall_s=1.0,
        warnings=(),
        provenance=Provenance(method="toy neb", model="toy"),
    ).to_dict()


@pytest.fixture
def toys(monkeypatch):
    """Toy relax (candidates and competing phases) and toy NEB in the task registry."""
    neb = ToyNEB()
    monkeypatch.setitem(TASK_FUNCTIONS, "relax", lambda inp: _relaxed(inp, ordering=True))
    monkeypatch.setitem(
        TASK_FUNCTIONS, "stability-reference", lambda inp: _relaxed(inp, ordering=False)
    )
    monkeypatch.setitem(TASK_FUNCTIONS, "neb", neb)
    return neb


GRID = dict(parent="Li2ZrCl6", dopants=["Nb", "Ta"], xs=[0.25, 0.5], sites=["Zr"])


def settings(**kw) -> ScreenSettings:
    base = dict(
        tiers=("rules", "models", "bvse", "stability", "neb"),
        max_atoms=60,
        bvse_resolution_A=0.5,
        neb_top=1,
        n_configs=1,
    )
    return ScreenSettings(**{**base, **kw})


@pytest.fixture(scope="module")
def screened(tmp_path_factory):
    """One screen with every new tier: Nb and Ta at x = 0.25, 0.5, two orderings each."""
    mp = pytest.MonkeyPatch()
    neb = ToyNEB()
    mp.setitem(TASK_FUNCTIONS, "relax", lambda inp: _relaxed(inp, ordering=True))
    mp.setitem(TASK_FUNCTIONS, "stability-reference", lambda inp: _relaxed(inp, ordering=False))
    mp.setitem(TASK_FUNCTIONS, "neb", neb)
    try:
        tmp = tmp_path_factory.mktemp("tiers")
        store = Store(tmp / "r.sqlite")
        out = run_screen(candidate_grid(**GRID), store, settings(n_configs=2), progress=False)
    finally:
        mp.undo()
    return tmp, store, out, neb


def done(store: Store, kind: str) -> list[dict]:
    return [r for r in store.rows(kind=kind) if r["status"] == "done"]


def test_stability_and_neb_need_relaxed_structures():
    assert normalise_tiers(["stability"]) == ("rules", "models", "relax", "stability")
    assert normalise_tiers(["bvse", "neb"]) == ("rules", "models", "relax", "bvse", "neb")


def test_stability_tier_stores_the_hull_of_every_candidate(screened):
    from halidelab.stability.references import references_for

    _, store, out, _ = screened
    assert not out.failed
    # competing phases of Li-Zr-Nb-Cl relaxed once (the parent's Li-Zr-Cl ones among them)
    refs = done(store, "stability-reference")
    assert sorted(r["label"] for r in refs) == sorted(
        s.name for s in references_for(["Li", "Zr", "Nb", "Cl"])
    )
    # one hull per candidate with references: the parent and the two Nb contents; Ta has no
    # elemental reference, which is said, not hidden
    hulls = {r["label"]: r["result"] for r in done(store, "hull")}
    assert set(hulls) == {"Li2ZrCl6 parent", "Li2ZrCl6 Nb@Zr x=0.250", "Li2ZrCl6 Nb@Zr x=0.500"}
    assert [n for n in out.notes if "Ta" in n and "no elemental reference for Ta" in n]
    assert len([n for n in out.notes if n.startswith("stability:")]) == 2
    for r in done(store, "hull"):
        res = r["result"]
        best = min(res["configurations"], key=lambda c: c["energy_per_atom_eV"])
        conf = next(c for c in r["inputs"]["configurations"] if c["index"] == best["index"])
        s = Structure.from_dict(conf["structure"])
        # the toy puts every compound `offset` (+ its ordering term) above LiCl + ZrCl4 + NbCl5
        expected = (
            offset(s.composition) + best["energy_per_atom_eV"] - toy_energy(s, ordering=False)
        )
        assert res["e_above_hull_eV_atom"] == pytest.approx(expected, abs=1e-9)
        assert len(res["configurations"]) == 2 and res["stable"] is False
    nb = hulls["Li2ZrCl6 Nb@Zr x=0.500"]
    # Li1.5Zr0.5Nb0.5Cl6 = 1.5 LiCl + 0.5 ZrCl4 + 0.5 NbCl5: 3, 2.5 and 3 of 8.5 atoms
    fr = {p["formula"]: p["atom_fraction"] for p in nb["products"]}
    assert fr == pytest.approx({"LiCl": 3 / 8.5, "ZrCl4": 2.5 / 8.5, "NbCl5": 3 / 8.5})
    assert any("approximate reference" in w for w in nb["warnings"])  # ZrCl4, NbCl5 built approx.


def test_ranking_shows_the_stability_component(screened):
    _, store, _, _ = screened
    rows = {r.label: r for r in rank(gather(store))}
    nb = rows["Li2ZrCl6 Nb@Zr x=0.500"]
    hull = next(r["result"] for r in done(store, "hull") if r["label"] == nb.label)
    assert nb.e_above_hull_eV_atom == hull["e_above_hull_eV_atom"]
    assert nb.stability_penalty_eV == pytest.approx(nb.e_above_hull_eV_atom - 0.030)
    assert nb.score_eV == pytest.approx(
        nb.barrier_eV + nb.mismatch_penalty_eV + nb.structure_penalty_eV + nb.stability_penalty_eV
    )
    assert nb.decomposition.startswith(("LiCl", "ZrCl4", "NbCl5")) and "+" in nb.decomposition
    ta = rows["Li2ZrCl6 Ta@Zr x=0.500"]
    assert ta.e_above_hull_eV_atom is None and ta.stability_penalty_eV == 0.0
    assert any("no energy above hull" in w for w in ta.warnings)


def test_neb_runs_for_the_top_k_only_and_records_convergence(screened, tmp_path, monkeypatch):
    tmp, store, out, neb = screened
    # the choice: best doped candidate by the tiers before NEB (NEB result left out)
    before = Store(tmp_path / "b.sqlite")
    shutil.copy(tmp / "r.sqlite", tmp_path / "b.sqlite")
    with before.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM tasks WHERE kind = 'neb'")
    top = rank(gather(before))[0]
    assert out.neb_selected == [top.label] and len(neb.calls) == 1
    (row,) = done(store, "neb")
    cand = next(c for c in gather(store) if c.label == top.label)
    # on the relaxed structure of the lowest-energy ordering, with reproduce's inputs
    assert row["inputs"]["structure"] == cand.relax["structure"]
    assert (
        cand.best_config == min(cand.configurations, key=lambda c: c["energy_per_atom_eV"])["index"]
    )
    assert {k: v for k, v in row["inputs"].items() if k != "structure"} == {
        "model": "chgnet",
        "hops": "distinct",
        "n_images": 5,
        "fmax": 0.05,
        "steps": 300,
        "endpoint_steps": 300,
        "device": "auto",
        "modal": None,
        "interstitials": True,
        "create_vacancies": True,
        "max_interstitials": 3,
        "structures": None,
    }
    r = {x.label: x for x in rank(gather(store))}[top.label]
    assert r.basis == "neb" and r.neb_3d_eV == 0.35
    assert r.neb_converged is False and (r.neb_bands, r.neb_bands_converged) == (2, 1)
    assert any("1 of 2 bands" in w for w in r.warnings)
    others = [x for x in rank(gather(store)) if x.label != top.label]
    assert all(x.neb_bands is None and x.basis == "bvse" for x in others)


def test_rerun_skips_finished_stability_and_neb_then_extends_the_top_k(screened, tmp_path, toys):
    tmp, _, first, _ = screened
    shutil.copy(tmp / "r.sqlite", tmp_path / "r.sqlite")
    store = Store(tmp_path / "r.sqlite")
    again = run_screen(candidate_grid(**GRID), store, settings(n_configs=2), progress=False)
    assert again.computed == 0 and not toys.calls
    assert again.neb_selected == first.neb_selected
    # the estimate knows the competing phases, the relaxations and the BVSE maps (parent and
    # 4 candidates, 2 orderings each) are in the store already
    left = {r["tier"]: (r["tasks"], r["done"]) for r in again.estimate.rows}
    assert left["stability-ref"][0] == 0
    assert left["relax"] == (0, 10) and left["bvse"] == (0, 10) and left["models"] == (0, 5)
    more = run_screen(
        candidate_grid(**GRID), store, settings(n_configs=2, neb_top=2), progress=False
    )
    assert more.computed == 1 and len(toys.calls) == 1
    assert more.neb_selected[0] == first.neb_selected[0] and len(more.neb_selected) == 2
    assert len(done(store, "neb")) == 2 and len(done(store, "hull")) == 3


def test_two_orderings_per_candidate_give_a_spread(screened):
    _, store, _, _ = screened
    models = done(store, "models")
    assert all(
        r["inputs"]["n_configs"] == 2 and len(r["result"]["configurations"]) == 2 for r in models
    )
    n_cand = len(models)
    assert len(done(store, "relax")) == len(done(store, "bvse")) == 2 * n_cand
    for c in gather(store):
        if not c.passed or c.dopant is None:
            continue
        assert len(c.configurations) == 2
        energies = {x["index"]: x["energy_per_atom_eV"] for x in c.configurations}
        assert c.best_config == min(energies, key=energies.get)
        r = next(x for x in rank(gather(store)) if x.label == c.label)
        vals = [x["bvse"]["e_3d_eV"] for x in c.configurations]
        assert r.n_configs == 2 and r.config_barriers_eV == pytest.approx(vals)
        assert r.config_spread_eV == pytest.approx(max(vals) - min(vals))
        assert r.config_energy_spread_meV_atom == pytest.approx(
            1000 * (max(energies.values()) - min(energies.values()))
        )
        if r.basis == "bvse":  # the lowest-energy ordering's barrier, the spread in the uncertainty
            assert (
                r.barrier_eV
                == c.configurations[[x["index"] for x in c.configurations].index(c.best_config)][
                    "bvse"
                ]["e_3d_eV"]
            )
            assert r.score_uncertainty_eV == pytest.approx(
                math.hypot(BVSE_UNCERTAINTY_EV_PER_A * 0.5, np.std(vals, ddof=1))
            )


def test_an_ensemble_of_three_orderings_is_the_default():
    """Issue 13: a composition is N orderings (default 3), each relaxed and mapped; the
    estimate counts them."""
    s = ScreenSettings()
    assert s.n_configs == 3
    t = model_task("Li2ZrCl6", [{"dopant": "Nb", "site": "Zr", "x": 0.2}], "x", s)
    assert t.inputs["n_configs"] == 3
    base = estimate_cost(10, ScreenSettings(tiers=("rules", "models", "relax", "bvse", "kmc")))
    rows = {r["tier"]: r for r in base.rows}
    assert (
        rows["relax"]["tasks"] == rows["bvse"]["tasks"] == rows["kmc"]["tasks"] == 33
    )  # (10 + parent) x 3
    one = {
        r["tier"]: r
        for r in estimate_cost(10, ScreenSettings(tiers=("rules", "relax"), n_configs=1)).rows
    }
    assert one["relax"]["tasks"] == 11


def test_cost_estimate_includes_stability_and_neb():
    s = ScreenSettings(
        tiers=("rules", "relax", "stability", "neb"), neb_top=3, n_configs=2, include_parent=False
    )
    rows = {
        r["tier"]: r for r in estimate_cost(10, s, n_survivors=8, n_references=7, n_atoms=135).rows
    }
    assert list(rows) == ["rules", "models", "relax", "stability-ref", "stability", "neb"]
    assert rows["relax"]["tasks"] == 16  # two orderings per candidate
    assert rows["stability-ref"]["tasks"] == 7 and rows["stability"]["tasks"] == 8
    neb = TIER_COSTS["neb"]
    assert rows["neb"]["tasks"] == 3 and "top 3 of 8" in rows["neb"]["source"]
    # per study: bands x per-band cost scaled from the 27-atom reference cell
    assert rows["neb"]["per_task_s"] == pytest.approx(
        NEB_HOPS[1] * neb.typical_s * 135 / neb.ref_atoms
    )
    assert rows["neb"]["total_s"] == pytest.approx(3 * rows["neb"]["per_task_s"] + neb.per_worker_s)
    few = {r["tier"]: r for r in estimate_cost(10, s, n_survivors=2).rows}
    assert few["neb"]["tasks"] == 2  # fewer survivors than --neb-top


@pytest.mark.parametrize(
    "kw", [{"n_configs": 0}, {"neb_top": 0}, {"neb_top": -2}, {"n_configs": 1.5}]
)
def test_settings_refuse_bad_values(kw):
    with pytest.raises(HalidelabError):
        ScreenSettings(**kw)


def test_bad_neb_top_and_configs_are_one_line(tmp_path, capsys):
    db = str(tmp_path / "r.sqlite")
    base = ["screen", "Li2ZrCl6", "--site", "Zr", "--dopants", "Nb", "--x", "0.2", "--db", db]
    for extra, match in (
        (["--neb-top", "0"], "--neb-top must be >= 1"),
        (["--configs", "0"], "--configs must be >= 1"),
        (["--configs", "-3"], "--configs must be >= 1"),
        (["--configs", "two"], "--configs"),
        (["--neb-top", "1.5"], "--neb-top"),
    ):
        assert main([*base, *extra]) == 2, extra
        err = capsys.readouterr().err
        assert match in err and err.count("\n") == 1 and err.startswith("error:"), err


def test_cli_screen_with_the_new_tiers(tmp_path, capsys, toys):
    db = tmp_path / "r.sqlite"
    argv = [
        "screen",
        "Li2ZrCl6",
        "--site",
        "Zr",
        "--dopants",
        "Nb",
        "--x",
        "0.5",
        "--tiers",
        "rules,bvse,stability,neb",
        "--configs",
        "2",
        "--neb-top",
        "1",
        "--max-atoms",
        "60",
        "--bvse-resolution",
        "0.5",
        "--db",
        str(db),
        "--report",
        str(tmp_path / "rep"),
        "--json",
        "--yes",
    ]
    assert main(argv) == 0
    cap = capsys.readouterr()
    out = json.loads(cap.out)
    (r,) = out["ranked"]
    assert r["basis"] == "neb" and r["neb_converged"] is False and r["e_above_hull_eV_atom"] > 0
    assert r["n_configs"] == 2 and len(r["config_barriers_eV"]) == 2
    assert out["neb_selected"] == [r["label"]] and not out["failed"]
    est = {row["tier"]: row for row in out["estimate"]["rows"]}
    assert est["stability-ref"]["tasks"] == 10 and est["neb"]["tasks"] == 1
    assert "top 1 of 1" in est["neb"]["source"] and "cost before the rules" in cap.err
    assert (tmp_path / "rep" / "screen.html").is_file()
    # the stored results, as CSV and as the printed table, carry the new components
    assert main(["results", str(db), "--csv", str(tmp_path / "rank.csv")]) == 0
    (row,) = list(csv.DictReader((tmp_path / "rank.csv").open()))
    assert row["neb_converged"] == "False" and float(row["e_above_hull_eV_atom"]) > 0
    assert len(row["config_barriers_eV"].split()) == 2
    from rich.console import Console

    from halidelab.cli.screening import ranking_table

    con = Console(width=400, record=True)
    con.print(ranking_table(rank(gather(Store(db))), "t"))
    text = con.export_text()
    assert "E_hull" in text and "NEB 3D" in text and "(1/2 conv.)" in text and "(n=2)" in text


#: a screen of Li1.5Zr0.5Nb0.5Cl6 with a few-step relaxation and hot, short KMC runs
KMC_TOY = {
    "tiers": ("rules", "models", "relax", "bvse", "kmc"),
    "relax_steps": 2,
    "include_parent": False,
    "kmc_temperatures_K": (500.0, 600.0),
    "kmc_runs": 2,
    "kmc_hops": 20,
}


def test_kmc_tier_runs_on_every_relaxed_ordering_and_joins_the_ensemble(tmp_path):
    """screen --tiers ...,kmc: one KMC per relaxed ordering (BVSE network), stored and
    summarised per candidate as an ensemble; a rerun computes nothing."""
    store = Store(tmp_path / "k.sqlite")
    grid = candidate_grid("Li2ZrCl6", ["Nb"], [0.5], ["Zr"])
    s = settings(**{**KMC_TOY, "tiers": ("rules", "models", "relax", "kmc"), "n_configs": 2})
    out = run_screen(grid, store, s, progress=False)
    assert not out.failed, out.failed
    assert sum(1 for _ in store.rows(kind="kmc", status="done")) == 2
    (c,) = [c for c in gather(store) if c.dopant == "Nb"]
    stat = c.ensemble["kmc_bvse_log10_sigma"]
    assert stat is not None and stat["n"] == 2 and len(stat["values"]) == 2
    again = run_screen(grid, store, s, progress=False)
    assert again.computed == 0
    # the rerun's estimate finds both orderings' relaxations and KMC done
    left = {r["tier"]: (r["tasks"], r["done"]) for r in again.estimate.rows}
    assert left["relax"] == (0, 2) and left["kmc"] == (0, 2)
    assert again.estimate.total_s < out.estimate.total_s


def test_bvse_volume_model_scales_the_bvse_and_kmc_tasks_of_relaxed_orderings(tmp_path):
    """screen --bvse-volume model: every relaxed ordering's BVSE map and BVSE-network KMC
    scale it to its ordered model's volume per atom (the measured parent's, Vegard-scaled),
    the tasks keep the relaxed structure (the store joins them to it), and the candidate's
    values are those of the scaled tasks (the latest); the default's tasks carry no volume."""
    store = Store(tmp_path / "v.sqlite")
    grid = candidate_grid("Li2ZrCl6", ["Nb"], [0.5], ["Zr"])
    base = KMC_TOY
    assert not run_screen(grid, store, settings(**base), progress=False).failed
    for kind in ("bvse", "kmc"):
        (row,) = done(store, kind)
        assert "volume_per_atom_A3" not in row["inputs"]
    out = run_screen(grid, store, settings(**base, bvse_volume="model"), progress=False)
    assert not out.failed and out.computed == 2  # one BVSE, one KMC: the relaxation is shared
    (models,) = done(store, "models")
    model = Structure.from_dict(models["result"]["configurations"][0]["structure"])
    (relaxed,) = done(store, "relax")
    for kind in ("bvse", "kmc"):
        scaled = [r for r in done(store, kind) if "volume_per_atom_A3" in r["inputs"]]
        (row,) = scaled
        assert row["inputs"]["volume_per_atom_A3"] == pytest.approx(model.volume / len(model))
        assert row["inputs"]["structure"] == relaxed["result"]["structure"]
        assert row["result"]["scaled_to_volume_per_atom_A3"] == pytest.approx(
            model.volume / len(model)
        )
    (c,) = [c for c in gather(store) if c.dopant == "Nb"]
    assert c.bvse["scaled_to_volume_per_atom_A3"] == pytest.approx(model.volume / len(model))
    # compare says which cell the BVSE map is of
    from halidelab.compare import compare

    recs = compare(store, ["Li1.5Zr0.5Nb0.5Cl6"])
    (rec,) = [r for r in recs if r.get("state", "annealed") == "annealed"]
    assert rec["bvse_cell"].startswith("relaxed, scaled to the model's volume")
    assert f"{model.volume / len(model):.2f} A3/atom" in rec["bvse_cell"]
    with pytest.raises(HalidelabError, match="--bvse-volume must be one of"):
        settings(**base, bvse_volume="measured")
