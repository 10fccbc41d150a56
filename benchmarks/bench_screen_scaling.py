"""Screening costs on this machine: per-candidate cost of each tier, and Dask scaling.

Run by hand (minutes; the machine is shared, so repeat and quote the spread)::

    python benchmarks/bench_screen_scaling.py            # tiers + 1 vs 2 workers
    python benchmarks/bench_screen_scaling.py --relax    # also one CHGNet relaxation

What it measures
----------------
1. Per-candidate wall time of each tier on Li(2-x)Zr(1-x)M(x)Cl6 candidates: rules
   (design + radius rules), prior (after the one-off model load, which is reported
   separately), models (ordered 129-132-atom supercells, n_configs=1), BVSE at 0.5 and
   0.25 A, and optionally one CHGNet relaxation (fmax 0.05, <= 250 steps). These are the
   numbers behind ``halidelab.screening.plans.TIER_COSTS``.
2. The rules + BVSE tier (0.25 A) over the same candidates through
   runner (:func:`halidelab.screening.runner.run_tasks`): in-process, then on a Dask
   LocalCluster with 1 and 2 single-threaded worker processes
   (:func:`halidelab.screening.plans.local_cluster`; ``--dask-default-env`` keeps Dask's
   MALLOC_TRIM_THRESHOLD_, which doubles the BVSE cost), each on a fresh store.
   Efficiency = T(1 worker) / (2 T(2 workers)).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path

CANDIDATES = [
    ("Nb", 0.2),
    ("Ta", 0.2),
    ("In", 0.2),
    ("Sc", 0.2),
    ("Mg", 0.2),
    ("Nb", 0.4),
    ("Ta", 0.4),
    ("Mg", 0.4),
]


def timed(fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--relax", action="store_true", help="also time one CHGNet relaxation")
    ap.add_argument(
        "--resolution", type=float, default=0.25, help="BVSE grid for the scaling run, A"
    )
    ap.add_argument("--scaling-only", action="store_true", help="skip the per-tier timings")
    ap.add_argument(
        "--dask-default-env",
        action="store_true",
        help="workers with Dask's MALLOC_TRIM_THRESHOLD_ (2x slower BVSE)",
    )
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    from halidelab.screening.plans import rules_verdict
    from halidelab.screening.runner import run_tasks
    from halidelab.screening.store import Store
    from halidelab.screening.tasks import Task, execute

    subs = {f"{d}{x}": [{"dopant": d, "site": "Zr", "x": x}] for d, x in CANDIDATES}
    per: dict[str, list[float]] = {
        k: [] for k in ("rules", "prior", "models", "bvse_0.5", "bvse_0.25")
    }
    rules_verdict("Li2ZrCl6", [])  # warm the imports
    for s in subs.values():
        _, dt = timed(rules_verdict, "Li2ZrCl6", s)
        per["rules"].append(dt)
    formulas = [rules_verdict("Li2ZrCl6", s)["formula"] for s in subs.values()]
    _, prior_load = timed(execute, "prior", {"formula": "Li2ZrCl6"})
    for f in formulas:
        _, dt = timed(execute, "prior", {"formula": f})
        per["prior"].append(dt)
    structures = {}
    atoms = []
    for name, s in subs.items():
        m, dt = timed(
            execute,
            "models",
            {"parent": "Li2ZrCl6", "substitutions": s, "max_atoms": 140, "n_configs": 1, "seed": 0},
        )
        per["models"].append(dt)
        atoms.append(m["n_atoms"])
        structures[name] = m["configurations"][0]["structure"]
    for st in list(structures.values())[: 0 if args.scaling_only else 4]:
        for res in (0.5, 0.25):
            _, dt = timed(execute, "bvse", {"structure": st, "resolution_A": res})
            per[f"bvse_{res}"].append(dt)
    relax_s = None
    if args.relax:
        st = structures["Nb0.2"]
        r, relax_s = timed(
            execute, "relax", {"structure": st, "model": "chgnet", "fmax": 0.05, "steps": 250}
        )
        relax_info = {"steps": r.get("steps"), "converged": r.get("converged")}
    summary = {
        k: {"median_s": statistics.median(v), "min_s": min(v), "max_s": max(v), "n": len(v)}
        for k, v in per.items()
        if v
    }
    summary["prior"]["first_call_load_s"] = prior_load
    summary["models"]["atoms"] = f"{min(atoms)}-{max(atoms)}"
    if relax_s is not None:
        summary["relax_chgnet"] = {"wall_s": relax_s, "atoms": atoms[0], **relax_info}
    print("per-candidate cost of each tier (this machine, shared):")
    print(json.dumps(summary, indent=1))

    # -- scaling of rules + BVSE ------------------------------------------------------------
    from distributed import Client, LocalCluster

    from halidelab.screening.plans import local_cluster

    def tier_tasks():
        return [
            Task("rules", n, {"parent": "Li2ZrCl6", "substitutions": s}) for n, s in subs.items()
        ] + [
            Task("bvse", n, {"structure": st, "resolution_A": args.resolution})
            for n, st in structures.items()
        ]

    walls = {}
    with tempfile.TemporaryDirectory() as tmp:
        s = run_tasks(tier_tasks(), Store(Path(tmp) / "serial.sqlite"), progress=False)
        assert not s.failed, s.failed
        walls["in-process"] = s.wall_s
        for n in (1, 2):
            with (
                (
                    local_cluster(n, silence_logs=50)
                    if not args.dask_default_env
                    else LocalCluster(
                        n_workers=n,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                        silence_logs=50,
                    )
                ) as cl,
                Client(cl) as client,
            ):
                client.run(lambda: __import__("halidelab.transport.bvse"))  # warm imports
                s = run_tasks(
                    tier_tasks(),
                    Store(Path(tmp) / f"dask{n}.sqlite"),
                    client=client,
                    progress=False,
                )
                assert not s.failed, s.failed
                walls[f"dask {n} worker(s)"] = s.wall_s
    eff = walls["dask 1 worker(s)"] / (2 * walls["dask 2 worker(s)"])
    print(f"rules + BVSE ({args.resolution} A) on {len(subs)} candidates:")
    for k, v in walls.items():
        print(f"  {k:18s} {v:7.1f} s  ({v / len(subs):.2f} s per candidate)")
    print(
        f"  speed-up 1 -> 2 workers: {walls['dask 1 worker(s)'] / walls['dask 2 worker(s)']:.2f}x, "
        f"parallel efficiency {eff:.0%}"
    )


if __name__ == "__main__":
    main()
