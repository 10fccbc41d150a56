"""Superbasin acceleration of KMC: does the answer depend on the ratio, and what does it cost?

Run: python benchmarks/bench_kmc_superbasin.py STORE [--labels "Li2ZrCl6 bm c1,..."]
         [--ratios none,30,100,1000] [--floors exclusion] [--T 298.15,348.15] [--runs 8]
         [--hops 200] [--out F.json]

STORE is the ``results.sqlite`` of a ``halidelab reproduce chen2025`` run (or a screen):
the networks of its ``kmc`` tasks (and, with ``--neb``, the networks built from its
``neb`` studies by ``network_from_neb_study``, labelled ``<label> neb``) are rerun with
``run_kmc`` at each superbasin ratio (``none`` = plain rates) and each way of finding the
critical hops (``--floors``: ``exclusion``, the default, counts a hop beside an occupied
excluding site as blocked; ``plain`` is site blocking alone, as kmc task revision 2). For
each network and temperature it prints sigma with its run-to-run error, whether the point
was diffusive, the hops per Li it took, the raised hops and the wall time; the spread
across ratios and floors, against the errors, is how much the acceleration changes the
answer (``halidelab.transport.kmc.superbasin_saddles``). Then per network sigma(25 C) and
Ea of the Arrhenius fit, and per ensemble (labels that differ only in the ordering ``cN``)
the mean, spread and standard error of log10 sigma(25 C) and Ea over the orderings that
gave a number (how many did is printed).
Run it alone: two heavy jobs on 2 cores make both timings worthless.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sqlite3
import time
from collections import defaultdict

import numpy as np

from halidelab.transport.kmc import RateNetwork, network_from_neb_study, run_kmc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store")
    ap.add_argument(
        "--labels", default="", help="comma list of task labels (default: every kmc task)"
    )
    ap.add_argument("--ratios", default="none,30,100,1000")
    ap.add_argument("--floors", default="exclusion", help="comma list of exclusion, plain")
    ap.add_argument("--T", default="298.15,348.15")
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--hops", type=float, default=200.0)
    ap.add_argument("--out", default="")
    ap.add_argument(
        "--neb", action="store_true", help="also the networks of the store's NEB studies"
    )
    ap.add_argument(
        "--only-neb", action="store_true", help="only the networks of the store's NEB studies"
    )
    args = ap.parse_args()
    temps = [float(t) for t in args.T.split(",")]
    ratios = [None if r.strip() == "none" else float(r) for r in args.ratios.split(",")]
    floors = [f.strip() for f in args.floors.split(",") if f.strip()]
    if not floors or set(floors) - {"exclusion", "plain"}:
        raise SystemExit(f"error: --floors takes exclusion and/or plain, got {args.floors!r}")
    # (ratio, floor) pairs; the floor means nothing without a ratio
    variants = [(r, f) for r in ratios for f in (floors if r is not None else floors[:1])]
    wanted = [w.strip() for w in args.labels.split(",") if w.strip()]
    con = sqlite3.connect(f"file:{args.store}?mode=ro", uri=True)
    rows = con.execute(
        "select label, result from tasks where kind = 'kmc' and status = 'done' order by label"
    )
    nets = (
        {}
        if args.only_neb
        else {label: RateNetwork.from_dict(json.loads(res)["network"]) for label, res in rows}
    )
    if args.neb or args.only_neb:
        from pymatgen.core import Structure

        for label, inp, res in con.execute(
            "select label, inputs, result from tasks where kind = 'neb' "
            "and status = 'done' order by label"
        ):
            structure = Structure.from_dict(json.loads(inp)["structure"])
            nets[f"{label} neb"] = network_from_neb_study(json.loads(res), structure)
    labels = [w for w in wanted if w in nets] if wanted else sorted(nets)
    missing = [w for w in wanted if w not in nets]
    if missing:
        raise SystemExit(f"error: no kmc task labelled {missing} in {args.store}")
    records = []
    fits: dict[tuple[str, str], list[tuple[float | None, float | None]]] = defaultdict(list)
    for label in labels:
        net = nets[label]
        for ratio, floor in variants:
            name = "none" if ratio is None else f"{ratio:g}{'' if floor == 'exclusion' else 'p'}"
            t0 = time.perf_counter()
            res = run_kmc(
                net,
                temps,
                n_runs=args.runs,
                hops_per_carrier=args.hops,
                superbasin_ratio=ratio,
                superbasin_exclusions=floor == "exclusion",
            )
            wall = time.perf_counter() - t0
            for p in res.points:
                sb = p.superbasin or {}
                rec = {
                    "label": label,
                    "ratio": ratio,
                    "floor": floor,
                    "T_K": p.temperature_K,
                    "sigma_S_cm": p.sigma_S_cm,
                    "sigma_err_S_cm": p.sigma_err_S_cm,
                    "diffusive": p.diffusive,
                    "hops_per_li": p.hops_per_carrier,
                    "haven": p.haven_ratio,
                    "n_raised": sb.get("n_raised"),
                    "max_raise_eV": sb.get("max_raise_eV"),
                    "wall_s": wall,
                }
                records.append(rec)
                print(
                    f"{label:32s} ratio {name:>6s} {p.temperature_K:7.2f} K  sigma "
                    f"{p.sigma_S_cm:9.3g} "
                    f"+- {p.sigma_err_S_cm:8.2g}  "
                    f"{'diffusive' if p.diffusive else 'NOT diffusive':13s} "
                    f"{p.hops_per_carrier:8.0f} hops/Li  raised {sb.get('n_raised', '-')!s:>3s} "
                    f"(max {sb.get('max_raise_eV', 0.0):.3f} eV)  {wall:6.1f} s",
                    flush=True,
                )
            s25 = res.sigma_25C_S_cm
            print(
                f"{label:32s} ratio {name:>6s} -> sigma(25 C) "
                f"{'-' if s25 is None else f'{s25:.3g}'} S/cm, Ea "
                f"{'-' if res.ea_eV is None else f'{res.ea_eV:.3f} +- {res.ea_err_eV:.3f}'} eV",
                flush=True,
            )
            records.append(
                {
                    "label": label,
                    "ratio": ratio,
                    "floor": floor,
                    "sigma_25C_S_cm": s25,
                    "ea_eV": res.ea_eV,
                    "ea_err_eV": res.ea_err_eV,
                    "warnings": list(res.warnings),
                }
            )
            fits[(re.sub(r" (c|ordering )\d+", "", label), name)].append(
                (math.log10(s25) if s25 else None, res.ea_eV)
            )
    print(
        "\nensembles (mean +- standard error, sd, orderings with a number / all; ratio Np: "
        "plain floor):"
    )
    for (group, name), vals in sorted(fits.items()):
        parts = []
        for name, col in (("log10 sigma25", 0), ("Ea", 1)):
            v = np.array([x[col] for x in vals if x[col] is not None], dtype=float)
            if len(v) >= 2:
                parts.append(
                    f"{name} {v.mean():.2f} +- {v.std(ddof=1) / math.sqrt(len(v)):.2f} "
                    f"(sd {v.std(ddof=1):.2f}, {len(v)}/{len(vals)})"
                )
            elif len(v) == 1:
                parts.append(f"{name} {v[0]:.2f} (1/{len(vals)}: no spread)")
            else:
                parts.append(f"{name} - (0/{len(vals)})")
        print(f"{group:28s} ratio {name:>6s}  " + "; ".join(parts))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(records, fh, indent=1)


if __name__ == "__main__":
    main()
