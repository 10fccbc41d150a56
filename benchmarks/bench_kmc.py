"""Cost of the KMC tier: wall time per network and KMC events per second on this CPU.

Run: python benchmarks/bench_kmc.py [--x 0,0.2] [--T 298.15,323.15,348.15,373.15]
         [--runs 8] [--hops 200] [--relax]

For each Nb content, the lowest-Ewald-energy ordering of Li(2-x)Zr(1-x)Nb(x)Cl6 (the
models ``reproduce chen2025`` builds; ``--relax`` relaxes it with CHGNet first, as the
pipeline does), its BVSE network (``network_from_bvse``), then ``run_kmc`` with the
pipeline's defaults. Prints the network size, the supercell, events per second of the
numba kernel (the first call also compiles it: timed separately), the hops per Li each
temperature needed before it was diffusive, and the wall time; these numbers set the
``kmc`` row of ``halidelab.screening.plans.TIER_COSTS``.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--x", default="0,0.2")
    ap.add_argument("--T", default="298.15,323.15,348.15,373.15")
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--hops", type=float, default=200.0)
    ap.add_argument("--relax", action="store_true")
    args = ap.parse_args()
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
        s = build_models(comp, n_configs=1).structures[0]
        if args.relax:
            from halidelab.relax import relax

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                s = relax(s, model="chgnet", steps=250).to_structure()
        t0 = time.perf_counter()
        net = network_from_bvse(s)
        t_net = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = run_kmc(net, temps, n_runs=args.runs, hops_per_carrier=args.hops)
        t_kmc = time.perf_counter() - t0
        events = sum(p.events_per_run * p.n_runs for p in res.points)
        row = {
            "x": x,
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
        }
        out.append(row)
        print(json.dumps(row))
    print(f"\nper network: {np.median([r['network_s'] + r['kmc_s'] for r in out]):.1f} s median")


if __name__ == "__main__":
    main()
