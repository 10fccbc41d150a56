"""What a screen costs in the quenched state against the annealed (Ewald-ordered) one.

Run from the repository root (minutes; CHGNet relaxations and KMC on 2 local workers)::

    PYTHONPATH=src python benchmarks/bench_screen_states.py --state quenched
    PYTHONPATH=src python benchmarks/bench_screen_states.py --state annealed

Each run screens Nb and Ta at x = 0.2 in Li2ZrCl6 (and the parent) through the tiers
rules, prior, models, relax, bvse and kmc, three orderings each, on a fresh store in a
temporary folder (``run_screen`` with ``ScreenSettings(state=...)``, as ``halidelab screen
... --state``). It prints the wall time, each task kind's summed task time and each
model's atom count. To compare the two whole processes, time both commands over several
runs with a paired timer (e.g. ``/usr/bin/time -v``, alternating them).

Measured (issue 14 note, 2026-12-07, this 2-core CPU, 2 workers, OMP_NUM_THREADS=1; two
runs of each whole process, alternated, median): annealed 204 s wall (194-214), quenched
328 s (313-342), paired ratio 1.60 (1.60-1.61); largest process 1.37 GB and 1.66 GB. Per
run: relax 127 and 217 s of task time, kmc 204 and 336 s; cells 54, 132, 132 atoms
annealed, 216, 132, 132 quenched (no 11.5 A cell of the doped compositions fits in 320
atoms, and the models say so). The extra cost is the parent's four-times-larger cell and
the 800 KMC events per Li against 200.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--state", choices=("annealed", "quenched"), default="quenched")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    from distributed import Client

    from halidelab.screening.cluster import local_cluster
    from halidelab.screening.plans import ScreenSettings, candidate_grid, run_screen
    from halidelab.screening.store import Store

    settings = ScreenSettings(
        tiers=("rules", "prior", "models", "relax", "bvse", "kmc"), state=args.state
    )
    grid = candidate_grid("Li2ZrCl6", ["Nb", "Ta"], [0.2], ["Zr"])
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "s.sqlite")
        client = Client(local_cluster(args.workers)) if args.workers > 1 else None
        t0 = time.perf_counter()
        try:
            out = run_screen(grid, store, settings, client=client, progress=False)
        finally:
            if client is not None:
                client.close()
        wall = time.perf_counter() - t0
        by_kind: dict[str, float] = {}
        for r in store.rows(status="done"):
            by_kind[r["kind"]] = by_kind.get(r["kind"], 0.0) + float(r.get("duration_s") or 0)
        atoms = {
            r["label"]: len(r["result"]["configurations"][0]["structure"]["sites"])
            for r in store.rows(kind="models", status="done")
        }
    print(
        json.dumps(
            {
                "state": args.state,
                "wall_s": round(wall, 1),
                "failed": len(out.failed),
                "task_s": {k: round(v, 1) for k, v in sorted(by_kind.items())},
                "atoms": atoms,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
