"""Screening plans: the grid, the rules tier, the cost estimate, staged runs, executors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from halidelab.errors import CompositionError, HalidelabError
from halidelab.screening.plans import (
    TIER_COSTS,
    Candidate,
    ScreenSettings,
    bvse_cost_s,
    candidate_grid,
    estimate_cost,
    jobqueue_cluster,
    normalise_tiers,
    rules_verdict,
    run_screen,
)
from halidelab.screening.store import Store


def test_grid_is_the_full_product_without_duplicates():
    g = candidate_grid("Li2ZrCl6", ["Nb", "Ta", "Nb", "Mo6+"], [0.1, 0.2, 0.2, 0.0], ["Zr"])
    assert len(g) == 3 * 2  # Nb, Ta, Mo6+ x (0.1, 0.2); duplicates and x = 0 dropped
    mo = [c for c in g if c.dopant == "Mo"]
    assert {c.oxidation_state for c in mo} == {6}
    assert g[0].substitutions == [{"dopant": "Nb", "site": "Zr", "x": 0.1}]
    assert Candidate("Li2ZrCl6", "Nb", "Zr", 0.0).substitutions == []


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"sites": ["Y"]}, "no Y site"),
        ({"dopants": ["Nb5"]}, "valence"),
        ({"dopants": ["Xx"]}, "Xx"),
        ({"dopants": []}, "no dopants"),
        ({"xs": [0.0]}, "no positive"),
    ],
)
def test_grid_refuses_bad_input(kwargs, match):
    args = {"parent": "Li2ZrCl6", "dopants": ["Nb"], "xs": [0.2], "sites": ["Zr"], **kwargs}
    with pytest.raises(CompositionError, match=match):
        candidate_grid(**args)


def test_rules_pass_nb_with_its_quoted_mismatch():
    v = rules_verdict("Li2ZrCl6", [{"dopant": "Nb", "site": "Zr", "x": 0.2}])
    assert v["status"] == "pass" and not v["reasons"]
    assert v["formula"] == "Li1.8Zr0.8Nb0.2Cl6"
    # Shannon ionic radii CN 6: Nb5+ 0.64 A vs Zr4+ 0.72 A -> 11.1 %
    assert v["max_mismatch_percent"] == pytest.approx(100 * 0.08 / 0.72, abs=0.05)
    assert v["li_vacancies_per_fu"] == pytest.approx(0.2)
    assert v["structure_change"] is False


def test_rules_prune_mismatch_only_when_asked_and_impossible_compositions_always():
    y = rules_verdict("Li2ZrCl6", [{"dopant": "Y", "site": "Zr", "x": 0.2}])
    assert y["status"] == "pass" and y["max_mismatch_percent"] == pytest.approx(25, abs=0.1)
    # an explicit threshold prunes: a strict one Nb too, a loose one keeps Y
    pruned = rules_verdict(
        "Li2ZrCl6", [{"dopant": "Y", "site": "Zr", "x": 0.2}], max_mismatch_percent=15
    )
    assert pruned["status"] == "pruned" and "mismatch" in pruned["reasons"][0]
    assert (
        rules_verdict(
            "Li2ZrCl6", [{"dopant": "Nb", "site": "Zr", "x": 0.2}], max_mismatch_percent=10
        )["status"]
        == "pruned"
    )
    assert (
        rules_verdict(
            "Li2ZrCl6", [{"dopant": "Y", "site": "Zr", "x": 0.2}], max_mismatch_percent=30
        )["status"]
        == "pass"
    )
    over = rules_verdict("Li2ZrCl6", [{"dopant": "Nb", "site": "Zr", "x": 1.5}])
    assert over["status"] == "pruned" and "occupancy" in over["reasons"][0]
    # each Mo6+ removes 2 Li: x = 1.1 would need negative Li
    neg = rules_verdict(
        "Li2ZrCl6", [{"dopant": "Mo", "site": "Zr", "x": 1.1, "oxidation_state": 6}]
    )
    assert neg["status"] == "pruned" and "Li" in neg["reasons"][0]


def test_structure_change_is_flagged_and_optionally_pruned():
    # In3+ (crystal radius 0.94 A) for Y3+ (1.04 A) in hcp Li3YCl6: t falls below 0.599 -> ccp
    sub = [{"dopant": "In", "site": "Y", "x": 0.6}]
    v = rules_verdict("Li3YCl6", sub)
    assert v["parent_packing"].startswith("hcp") and v["packing"].startswith("ccp")
    assert v["structure_change"] and v["status"] == "pass"
    assert any("structure change" in w for w in v["warnings"])
    assert rules_verdict("Li3YCl6", sub, prune_structure_change=True)["status"] == "pruned"
    # a little In keeps the packing
    assert not rules_verdict("Li3YCl6", [{"dopant": "In", "site": "Y", "x": 0.1}])[
        "structure_change"
    ]


def test_tiers_are_validated_and_completed():
    assert normalise_tiers(["bvse"]) == ("rules", "models", "bvse")
    assert normalise_tiers(["prior", "rules"]) == ("rules", "prior")
    with pytest.raises(HalidelabError, match="unknown tier"):
        normalise_tiers(["rules", "md"])


def test_cost_estimate_scales_with_tasks_workers_atoms_and_grid():
    s = ScreenSettings(
        n_configs=1, tiers=("rules", "prior", "models", "relax", "bvse"), include_parent=False
    )
    one = {r["tier"]: r for r in estimate_cost(10, s).rows}
    assert [r for r in one] == ["rules", "prior", "models", "relax", "bvse"]
    # per-task costs come from the table; relax scales linearly with atoms (140 vs 130)
    assert one["relax"]["per_task_s"] == pytest.approx(TIER_COSTS["relax"].typical_s * 140 / 130)
    two = {r["tier"]: r for r in estimate_cost(20, s).rows}
    w = TIER_COSTS["relax"].per_worker_s
    assert two["relax"]["total_s"] - w == pytest.approx(2 * (one["relax"]["total_s"] - w))
    par = {r["tier"]: r for r in estimate_cost(10, s, workers=2).rows}
    assert par["relax"]["total_s"] - w == pytest.approx((one["relax"]["total_s"] - w) / 2)
    # survivors known: the expensive tiers only run on them, the rules on all
    pruned = {r["tier"]: r for r in estimate_cost(10, s, n_survivors=4).rows}
    assert pruned["rules"]["tasks"] == 10 and pruned["relax"]["tasks"] == 4
    # a coarser BVSE grid is cheaper; the 0.25 A reference matches the table
    assert bvse_cost_s(0.25) == pytest.approx(TIER_COSTS["bvse"].typical_s)
    assert bvse_cost_s(0.5) < bvse_cost_s(0.25) < bvse_cost_s(0.1)
    est = estimate_cost(10, s)
    assert est.low_s <= est.total_s <= est.high_s
    with pytest.raises(HalidelabError):
        estimate_cost(10, s, workers=0)


def test_run_screen_prunes_then_runs_tiers_on_survivors_and_resumes(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    grid = candidate_grid("Li2ZrCl6", ["Nb", "Y"], [0.5], ["Zr"])
    settings = ScreenSettings(
        n_configs=1,
        tiers=("rules", "models", "bvse"),
        max_atoms=60,
        bvse_resolution_A=0.5,
        max_mismatch_percent=15.0,
    )  # the user asks to prune by mismatch
    seen = []
    out = run_screen(
        grid, store, settings, progress=False, confirm=lambda e: seen.append(e) or True
    )
    assert out.n_candidates == 2 and out.n_survivors == 1
    assert [p["label"] for p in out.pruned] == ["Li2ZrCl6 Y@Zr x=0.500"]
    assert seen[0].n_survivors == 1 and not out.failed
    done = {r["kind"]: 0 for r in store.rows()}
    for r in store.rows(status="done"):
        done[r["kind"]] += 1
    # rules on parent + 2 candidates; models and BVSE on parent + the survivor only
    assert done == {"rules": 3, "models": 2, "bvse": 2}
    bv = [r["result"] for r in store.rows(kind="bvse")]
    assert all(b["resolution_A"] == 0.5 and b["e_1d_eV"] is not None for b in bv)
    # the estimate scaled its per-atom costs to the mean size of the models then built
    sizes = [r["result"]["n_atoms"] for r in store.rows(kind="models")]
    assert seen[0].n_atoms == round(sum(sizes) / len(sizes)) < settings.max_atoms
    assert seen[0].atoms_source == "the models' mean size"
    again = run_screen(grid, store, settings, progress=False)
    assert again.computed == 0 and again.skipped == 7
    # nothing is left, and the rerun's estimate knows it: every model and BVSE map is done
    left = {r["tier"]: (r["tasks"], r["done"]) for r in again.estimate.rows}
    assert left["models"] == (0, 2) and left["bvse"] == (0, 2)
    assert seen[0].rows[1]["done"] == 0 and again.estimate.total_s < seen[0].total_s
    # the rerun's estimate takes the costs this store measured (3 rules tasks, 2 BVSE:
    # too few, so BVSE keeps the shipped cost)
    src = {r["tier"]: r["source"] for r in again.estimate.rows}
    assert src["rules"].startswith("measured in this store: 3 rules tasks")
    assert src["bvse"].startswith(TIER_COSTS["bvse"].source)
    # a confirm that says no stops before the expensive tiers
    stopped = run_screen(
        candidate_grid("Li2ZrCl6", ["Ta"], [0.5], ["Zr"]),
        store,
        settings,
        progress=False,
        confirm=lambda e: False,
    )
    assert stopped.n_survivors == 1
    assert not [r for r in store.rows(kind="models") if "Ta" in json.dumps(r["inputs"])]


def test_slurm_and_pbs_job_scripts():
    pytest.importorskip("dask_jobqueue", reason="dask-jobqueue not installed (extra 'cluster')")
    cl = jobqueue_cluster(
        "slurm",
        cores=4,
        memory="16GB",
        walltime="02:00:00",
        queue="cpu",
        account="chem42",
        python="/opt/py/bin/python",
        job_extra=["--exclusive"],
    )
    try:
        script = cl.job_script()
    finally:
        cl.close()
    assert "#SBATCH -p cpu" in script and "#SBATCH -A chem42" in script
    assert "#SBATCH --cpus-per-task=4" in script and "#SBATCH -t 02:00:00" in script
    assert "#SBATCH --exclusive" in script and "#SBATCH -J halidelab" in script
    # 4 single-threaded worker processes per job, started with the given python
    assert "/opt/py/bin/python -m distributed.cli.dask_worker" in script
    assert "--nworkers 4" in script and "--nthreads 1" in script
    pbs = jobqueue_cluster("pbs", cores=2, queue="short", walltime="00:30:00")
    try:
        ps = pbs.job_script()
    finally:
        pbs.close()
    assert "#PBS -q short" in ps and "walltime=00:30:00" in ps and "--nworkers 2" in ps
    with pytest.raises(HalidelabError, match="slurm or pbs"):
        jobqueue_cluster("lsf")


def test_missing_jobqueue_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask_jobqueue", None)
    with pytest.raises(HalidelabError, match=r"pip install 'halidelab\[cluster\]'"):
        jobqueue_cluster("slurm")


CONCURRENT = textwrap.dedent("""
    import json, sys
    from halidelab.screening.runner import run_tasks
    from halidelab.screening.store import Store
    from halidelab.screening.tasks import Task
    xs = [float(v) for v in sys.argv[2].split(",")]
    tasks = [Task("models", f"x={x}", {"parent": "Li2ZrCl6", "supercell": 2, "n_configs": 1,
              "sweeps": 60, "seed": 0, "substitutions": [{"dopant": "Nb", "site": "Zr", "x": x}]})
             for x in xs]
    s = run_tasks(tasks, Store(sys.argv[1]), progress=False)
    print(json.dumps({"computed": s.computed, "skipped": s.skipped, "busy": s.busy,
                      "failed": s.failed}))
""")


def run_two_at_once(script_path, target: str, xs_a: str, xs_b: str) -> list[dict]:
    """Start two runs on one store at the same time; return their summaries."""
    procs = [
        subprocess.Popen(
            [sys.executable, str(script_path), target, xs],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for xs in (xs_a, xs_b)
    ]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
        outs.append(json.loads(out.strip().splitlines()[-1]))
    return outs


def check_exactly_once(store: Store, outs: list[dict], n_union: int) -> None:
    """Every task done once: one row per key, one attempt, computed by one run only."""
    assert store.counts() == {"pending": 0, "running": 0, "done": n_union, "failed": 0}
    rows = list(store.rows())
    assert len({r["key"] for r in rows}) == len(rows) == n_union
    assert all(r["attempts"] == 1 for r in rows), [r["attempts"] for r in rows]
    computed = [k for o in outs for k in o["computed"]]
    assert len(computed) == len(set(computed)) == n_union
    assert not any(o["failed"] for o in outs)
    for r in rows:  # each result is the right one for its inputs
        x = r["inputs"]["substitutions"][0]["x"]
        assert r["result"]["x_modelled"]["Nb@Zr"] == pytest.approx(x, abs=1e-5)


def test_two_runs_on_one_sqlite_store_do_not_corrupt_it(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(CONCURRENT)
    db = tmp_path / "shared.sqlite"
    a = ",".join(f"{i / 6:.6f}" for i in range(0, 5))  # 0 .. 4/6
    b = ",".join(f"{i / 6:.6f}" for i in range(2, 7))  # 2/6 .. 1: three tasks overlap
    outs = run_two_at_once(script, str(db), a, b)
    check_exactly_once(Store(db), outs, 7)
    # each run accounts for all its tasks: computed, found done, or left to the other run
    for o, n in zip(outs, (5, 5), strict=True):
        assert len(o["computed"]) + len(o["skipped"]) + len(o["busy"]) == n
    with Store(db).engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


@pytest.mark.slow
def test_screen_on_a_dask_local_cluster_matches_in_process(tmp_path):
    """Same keys and results whether the expensive tiers run here or on 2 Dask workers."""
    from distributed import Client

    from halidelab.screening.plans import local_cluster

    grid = candidate_grid("Li2ZrCl6", ["Nb", "Ta", "Y"], [0.5], ["Zr"])
    settings = ScreenSettings(
        n_configs=1, tiers=("rules", "prior", "models", "bvse"), max_atoms=60, bvse_resolution_A=0.5
    )
    here = Store(tmp_path / "here.sqlite")
    run_screen(grid, here, settings, progress=False)
    there = Store(tmp_path / "dask.sqlite")
    with local_cluster(2, silence_logs=50) as cl, Client(cl) as client:
        env = client.run(lambda: __import__("os").environ.get("MALLOC_TRIM_THRESHOLD_"))
        assert set(env.values()) == {None}  # glibc's dynamic mmap threshold kept
        out = run_screen(grid, there, settings, client=client, progress=False, workers=2)
    assert not out.failed
    # rules/prior/models keys are identical; BVSE keys hash the model structure, whose last
    # bits depend on the process (BLAS summation order), so compare those by label
    a = {(r["kind"], r["label"]): r for r in here.rows()}
    b = {(r["kind"], r["label"]): r for r in there.rows()}
    assert set(a) == set(b) and all(r["status"] == "done" for r in b.values())
    for k, r in a.items():
        if r["kind"] in ("rules", "prior", "models"):
            assert b[k]["key"] == r["key"]
        if r["kind"] == "bvse":
            assert b[k]["result"]["e_3d_eV"] == pytest.approx(r["result"]["e_3d_eV"], abs=1e-6)


def _parent_of(entry: dict) -> tuple[str, float]:
    """The undoped parent of a substituted literature composition and x of the dopant."""
    from pymatgen.core import Composition

    from halidelab.composition import ANION_VALENCE, default_valence, format_formula

    comp = Composition(entry["composition"])
    amounts = {el.symbol: float(v) for el, v in comp.items()}
    anion = next(el for el in amounts if el in ANION_VALENCE)
    n_m = sum(v for el, v in amounts.items() if el not in ("Li", anion))
    li = amounts[anion] * -ANION_VALENCE[anion] - n_m * default_valence(entry["host"])
    return format_formula({"Li": li, entry["host"]: n_m, anion: amounts[anion]}), amounts[
        entry["dopant"]
    ]


def test_no_measured_material_of_the_literature_table_is_pruned():
    """Every substituted halide of the literature table (made and measured) passes the
    rules tier with its default settings, and costs no mismatch penalty in the ranking."""
    from pymatgen.core import Composition

    from halidelab.rules import MEASURED_MISMATCH_PERCENT, measured_mismatch_range
    from halidelab.screening.ranking import Weights

    top, entries = measured_mismatch_range()
    assert len(entries) >= 4
    assert MEASURED_MISMATCH_PERCENT == pytest.approx(top, abs=0.05)
    assert Weights().mismatch_free_percent == MEASURED_MISMATCH_PERCENT
    for e in entries:
        parent, x = _parent_of(e)
        v = rules_verdict(parent, [{"dopant": e["dopant"], "site": e["host"], "x": x}])
        assert v["status"] == "pass", (e, v["reasons"])
        assert Composition(v["formula"]).almost_equals(Composition(e["composition"]))
        assert abs(v["max_mismatch_percent"]) <= Weights().mismatch_free_percent + 1e-9


def test_ta_in_li3incl6_is_kept():
    """Issue 13: Ta5+ for In3+ (-20 %), measured to raise sigma, was pruned at 15 %."""
    v = rules_verdict("Li3InCl6", [{"dopant": "Ta", "site": "In", "x": 0.2}])
    assert v["status"] == "pass" and v["max_mismatch_percent"] == pytest.approx(20, abs=0.1)


def test_a_quenched_screen_builds_the_validation_campaigns_wide_cells_and_kmc():
    """``screen --state quenched`` makes its models and KMC as ``validate --annealed-state
    quenched`` makes the quenched reference models (so that campaign's calibrations apply):
    the wide cells' atom limit, the quenched state, the milled rows' KMC events per Li.
    The annealed screen's task inputs are those of every screen before the state existed."""
    from halidelab.screening.inputs import ModelsInputs
    from halidelab.screening.plans import kmc_tasks_for, model_task
    from halidelab.screening.settings import WIDE_KMC_HOPS, WIDE_MAX_ATOMS
    from halidelab.screening.tasks import Task
    from halidelab.validation.tiers import ValidateSettings

    v = ValidateSettings()
    assert (WIDE_MAX_ATOMS, WIDE_KMC_HOPS) == (v.milled_max_atoms, v.milled_kmc_hops)
    subs = [{"dopant": "Nb", "site": "Zr", "x": 0.2}]
    annealed, quenched = ScreenSettings(), ScreenSettings(state="quenched")
    a = model_task("Li2ZrCl6", subs, "c", annealed)
    before = Task.of(
        ModelsInputs(
            parent="Li2ZrCl6",
            substitutions=subs,
            supercell="auto",
            max_atoms=140,
            n_configs=3,
            seed=0,
        ),
        "c",
    )
    assert a.key == before.key and a.inputs["state"] == "annealed"
    q = model_task("Li2ZrCl6", subs, "c", quenched)
    assert (q.inputs["state"], q.inputs["max_atoms"]) == ("quenched", WIDE_MAX_ATOMS)
    assert q.key != a.key and q.label == "c quenched"
    # KMC on every relaxed ordering: the milled events per Li when quenched
    s = {"lattice": {}, "sites": []}
    structures = {("k", 0): ("c c0", s)}
    relaxed = {("k", 0): {"structure": s}}
    hops = {
        st.state: [
            t.inputs["hops_per_carrier"] for t in kmc_tasks_for(structures, relaxed, [], None, st)
        ]
        for st in (annealed, quenched)
    }
    assert hops == {"annealed": [annealed.kmc_hops], "quenched": [WIDE_KMC_HOPS]}
    # the estimate prices the wide cells (relax is linear in atoms)
    tiers = ("rules", "models", "relax")
    est = {
        st: {r["tier"]: r for r in estimate_cost(4, ScreenSettings(tiers=tiers, state=st)).rows}
        for st in ("annealed", "quenched")
    }
    assert est["quenched"]["relax"]["per_task_s"] == pytest.approx(
        est["annealed"]["relax"]["per_task_s"] * WIDE_MAX_ATOMS / 140
    )
    with pytest.raises(HalidelabError, match="--state must be one of annealed, quenched"):
        ScreenSettings(state="ball milled")
    with pytest.raises(HalidelabError, match="wide_kmc_hops must be"):
        ScreenSettings(wide_kmc_hops=0)
