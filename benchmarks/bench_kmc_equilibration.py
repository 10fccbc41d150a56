"""KMC start-up: does sigma depend on the equilibration length and the seed, beyond its error bar?

Run: python benchmarks/bench_kmc_equilibration.py STORE --labels "LABEL,..." [--T 348.15]
         [--equilibration 20,2000] [--seeds 1,2,3] [--hops 800] [--ratio 100] [--runs 8]
         [--start equilibrium,random]

STORE is a ``results.sqlite`` with ``kmc`` tasks (a validation, screen or reproduction
store); each labelled task's network (the newest stored) is rerun with
``run_kmc(network, [T], n_runs, hops_per_carrier, equilibration_per_carrier=E, seed=S)``
for every equilibration length E (events per Li discarded before the production run)
and seed S, and for every start rule (``run_kmc(..., start=...)``). From a random start
(Li placed at random on the Li sites, kmc revision 3 and before) a landscape with deep
sites (ball-milled cells) needs thousands of events per Li before the Li find them;
until then the Li sit on shallow sites and move faster. The equilibrium start (the
default since revision 4) draws the placement by Metropolis Monte Carlo first and should
need none. For each network it prints log10 sigma with its
run-to-run standard error per (E, S), and per E the mean over seeds, their standard
deviation and the mean stated error: a seed spread well above the stated error, or a mean
that falls as E grows, means the stated KMC error bars leave out the start-up.
Run it alone: two heavy jobs on 2 cores make both timings worthless.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sqlite3
import time

import numpy as np

from halidelab.transport.kmc import RateNetwork, run_kmc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store")
    ap.add_argument("--labels", required=True, help="comma list of kmc task labels")
    ap.add_argument("--T", type=float, default=348.15)
    ap.add_argument("--equilibration", default="20,2000")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--hops", type=float, default=800.0)
    ap.add_argument("--ratio", type=float, default=100.0)
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument(
        "--start",
        default="equilibrium,random",
        help="comma list of run_kmc start rules to compare: equilibrium, random (default both)",
    )
    args = ap.parse_args()
    eqs = [float(v) for v in args.equilibration.split(",")]
    seeds = [int(v) for v in args.seeds.split(",")]
    starts = [w.strip() for w in args.start.split(",") if w.strip()]
    con = sqlite3.connect(f"file:{args.store}?mode=ro", uri=True)
    for label in [w.strip() for w in args.labels.split(",") if w.strip()]:
        row = con.execute(
            "select result from tasks where kind = 'kmc' and status = 'done' and label = ? "
            "order by updated_utc desc limit 1",
            (label,),
        ).fetchone()
        if row is None:
            raise SystemExit(f"error: no finished kmc task labelled {label!r} in {args.store}")
        net = RateNetwork.from_dict(json.loads(row[0])["network"])
        for start, eq in itertools.product(starts, eqs):
            tag = f"{label} {args.T:g} K start {start} eq {eq:g}"
            vals, errs = [], []
            for seed in seeds:
                t0 = time.perf_counter()
                p = run_kmc(
                    net,
                    [args.T],
                    n_runs=args.runs,
                    hops_per_carrier=args.hops,
                    equilibration_per_carrier=eq,
                    seed=seed,
                    superbasin_ratio=args.ratio,
                    start=start,
                ).points[0]
                if p.sigma_S_cm <= 0:
                    print(f"{tag} seed {seed}: no conduction")
                    continue
                v = math.log10(p.sigma_S_cm)
                e = p.sigma_err_S_cm / p.sigma_S_cm / math.log(10)
                vals.append(v)
                errs.append(e)
                print(
                    f"{tag} seed {seed}: log10 sigma {v:.2f} +- {e:.2f}"
                    f" {'diffusive' if p.diffusive else 'NOT diffusive'}"
                    f" {p.hops_per_carrier:.0f} hops/Li {time.perf_counter() - t0:.0f} s",
                    flush=True,
                )
            if len(vals) >= 2:
                print(
                    f"{tag}: mean {np.mean(vals):.2f}, seed SD {np.std(vals, ddof=1):.2f}, "
                    f"mean stated error {np.mean(errs):.2f} ({len(vals)} seeds)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
