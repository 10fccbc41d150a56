"""Cost of the KMC tier: wall time per network and KMC events per second on this CPU.

Run: python benchmarks/bench_kmc.py [--x 0,0.2] [--T 298.15,323.15,348.15,373.15]
         [--runs 8] [--hops 200] [--relax] [--state annealed|ball-milled] [--configs 1]
         [--threads 1,2]
       python benchmarks/bench_kmc.py --store STORE --labels "LABEL,..." [--threads 1,2]

For each Nb content, the lowest-Ewald-energy ordering of Li(2-x)Zr(1-x)Nb(x)Cl6 (the
models ``reproduce chen2025`` builds; ``--state ball-milled`` the first ``--configs``
ball-milled models, 140 atoms at most, as the reference case builds them; ``--relax``
relaxes them with CHGNet first, as the pipeline does), its BVSE network
(``network_from_bvse``), then ``run_kmc`` with the pipeline's defaults, once per thread
count of ``--threads`` (``run_kmc(..., threads=N)``: a temperature's runs in N threads;
the numbers must be identical, the row says whether they are). Prints the network size,
the supercell, events per second of the numba kernel (the first call also compiles it:
timed separately), the hops per Li each temperature needed before it was diffusive, and
the wall time; these numbers set the ``kmc`` row of ``halidelab.screening.plans.TIER_COSTS``.
With ``--store``, the networks and settings of finished ``kmc`` tasks of a results store
(a ``reproduce`` or ``validate`` run's) are rerun instead, once per thread count.
Run it alone: two heavy jobs on 2 cores make both timings worthless.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np

from halidelab.composition import Substitution, design_composition
from halidelab.structures.models import build_models
from halidelab.transport.kmc import make_network, network_from_bvse, run_kmc


def stored(store: str, labels: list[str], thread_counts: list[int]) -> None:
    """Rerun stored kmc tasks (their network and settings) once per thread count."""
    import sqlite3

    from halidelab.transport.kmc import RateNetwork

    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    for label in labels:
        row = con.execute(
            "select inputs, result, duration_s from tasks where kind = 'kmc' and "
            "status = 'done' and label = ? order by updated_utc desc limit 1",
            (label,),
        ).fetchone()
        if row is None:
            raise SystemExit(f"error: no finished kmc task labelled {label!r} in {store}")
        inp, res = json.loads(row[0]), json.loads(row[1])
        net = RateNetwork.from_dict(res["network"])
        first = None
        for threads in thread_counts:
            t0 = time.perf_counter()
            out = run_kmc(
                net,
                inp["temperatures_K"],
                n_runs=inp["n_runs"],
                hops_per_carrier=inp["hops_per_carrier"],
                seed=inp["seed"],
                superbasin_ratio=inp["superbasin_ratio"],
                threads=threads,
            )
            wall = time.perf_counter() - t0
            runs = [p.d_sigma_runs for p in out.points]
            first = runs if first is None else first
            same_as_stored = runs == [tuple(p["d_sigma_runs"]) for p in res["kmc"]["points"]]
            print(
                json.dumps(
                    {
                        "label": label,
                        "threads": threads,
                        "kmc_s": round(wall, 2),
                        "stored_duration_s": round(row[2], 2),
                        "hops_per_li": [round(p.hops_per_carrier) for p in out.points],
                        "same_as_first_thread_count": runs == first,
                        "same_as_stored": same_as_stored,
                    }
                ),
                flush=True,
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--x", default="0,0.2")
    ap.add_argument("--T", default="298.15,323.15,348.15,373.15")
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--hops", type=float, default=200.0)
    ap.add_argument("--relax", action="store_true")
    ap.add_argument("--state", default="annealed", choices=["annealed", "ball-milled"])
    ap.add_argument("--configs", type=int, default=1)
    ap.add_argument("--threads", default="1", help="comma list of run_kmc thread counts")
    ap.add_argument("--store", help="rerun the stored kmc tasks of this results.sqlite")
    ap.add_argument("--labels", default="", help="comma list of kmc task labels (--store)")
    args = ap.parse_args()
    thread_counts = [int(v) for v in args.threads.split(",")]
    if args.store:
        stored(args.store, [w.strip() for w in args.labels.split(",") if w.strip()], thread_counts)
        return
    temps = [float(t) for t in args.T.split(",")]
    # compile once (numba caches to disk: a second process skips this)
    t0 = time.perf_counter()
    tiny = make_network(
        np.eye(3) * 3, [[0, 0, 0]], [0.0], [(0, 0, (1, 0, 0), 0.3)], 1, exclusion_radius_A=0
    )
    run_kmc(tiny, [300.0], n_runs=2, hops_per_carrier=10, supercell=(4, 1, 1), n_carriers_total=1)
    print(f"kernel load/compile: {time.perf_counter() - t0:.1f} s")
    out = []
    for x in (float(v) for v in args.x.split(",")):
        comp = design_composition("Li2ZrCl6", [Substitution("Nb", "Zr", x)] if x > 0 else [])
        built = build_models(
            comp, n_configs=args.configs, state=args.state, supercell="auto", max_atoms=140
        ).structures
        for i_conf, s in enumerate(built[: args.configs]):
            if args.relax:
                from halidelab.relax import relax

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    s = relax(s, model="chgnet", steps=250).to_structure()
            t0 = time.perf_counter()
            net = network_from_bvse(s)
            t_net = time.perf_counter() - t0
            first = None
            for threads in thread_counts:
                t0 = time.perf_counter()
                res = run_kmc(
                    net, temps, n_runs=args.runs, hops_per_carrier=args.hops, threads=threads
                )
                t_kmc = time.perf_counter() - t0
                events = sum(p.events_per_run * p.n_runs for p in res.points)
                runs = [p.d_sigma_runs for p in res.points]
                first = runs if first is None else first
                row = {
                    "x": x,
                    "state": args.state,
                    "config": i_conf,
                    "threads": threads,
                    "atoms": len(s),
                    "sites": net.n_sites,
                    "hops": len(net.edge_a),
                    "supercell": res.network["supercell"],
                    "carriers": res.network["n_carriers_supercell"],
                    "network_s": round(t_net, 2),
                    "kmc_s": round(t_kmc, 2),
                    "events": int(events),
                    "events_per_s": round(events / t_kmc),
                    "hops_per_li": [round(p.hops_per_carrier) for p in res.points],
                    "diffusive": [p.diffusive for p in res.points],
                    "ea_eV": res.ea_eV,
                    "sigma_25C_S_cm": res.sigma_25C_S_cm,
                    "same_as_first_thread_count": runs == first,
                }
                out.append(row)
                print(json.dumps(row), flush=True)
    print(f"\nper network: {np.median([r['network_s'] + r['kmc_s'] for r in out]):.1f} s median")


if __name__ == "__main__":
    main()
