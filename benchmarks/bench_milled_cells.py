"""How the cell size of a ball-milled model moves its disorder and its BVSE barrier.

Run from the repository root (minutes; BVSE only, no MLIP)::

    PYTHONPATH=src python benchmarks/bench_milled_cells.py [--chains 10] [--seed 0]

For milled Li3YCl6 and Li3ErCl6 (the validation set's as-milled rows, on the Li3YCl6
P-3m1 CIF) it builds ``--chains`` independent Metropolis chains
(``build_models(..., state="ball-milled")``) on three cells: the annealed model's 8 A auto
cell (60 atoms), a cell long only along c (1x1x4, 120 atoms) and the 11.5 A auto cell of
the milled state (2x2x2, 240 atoms), and prints per cell the fraction of M off the ordered
M sites (mean, SD, range over chains) and the unrelaxed BVSE 3D percolation barrier at
0.25 A (mean, SD). The numbers behind ``MILLED_MIN_WIDTH_A`` in
``halidelab.structures.models`` come from this script (issue 14's note, 2026-12-05):
Li3YCl6 M off sites 0-83 % (SD 29 %) on 60 atoms and 46-75 % (SD 9 %) on 240; BVSE SD
0.083 / 0.084 / 0.047 eV on the three cells (Li3ErCl6 0.093 / 0.068 / 0.054). The relaxed
barriers (CHGNet, through ``halidelab validate --orderings 10``) spread much less on both
cells (Li3YCl6 0.042 and 0.034 eV).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from pathlib import Path

CELLS = (("8 A auto", "auto", 8.0), ("1x1x4", (1, 1, 4), 8.0), ("11.5 A auto", "auto", 11.5))


def main() -> None:
    from halidelab.composition import design_composition
    from halidelab.structures.models import build_models
    from halidelab.transport.bvse import bvse
    from halidelab.validation.reference import load_reference_set, resolve_structure_file

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chains", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    ref = load_reference_set()
    print("| material | cell | atoms | M off sites mean (SD) [range] | BVSE Ea mean (SD), eV | s |")
    print("|---|---|---|---|---|---|")
    for mid in ("li3ycl6-bm-schlem2020", "li3ercl6-bm-schlem2020"):
        e = ref.entry(mid)
        path = Path(resolve_structure_file(ref.entry("li3ycl6-bm-schlem2020").structure_file))
        for name, cell, width in CELLS:
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ms = build_models(
                    design_composition(e.composition),
                    framework=path,
                    supercell=cell,
                    max_atoms=400,
                    n_configs=args.chains,
                    seed=args.seed,
                    state="ball-milled",
                    min_width=width,
                )
            off = [c.disorder["m_off_ordered_sites"] for c in ms.configurations]
            eas = [bvse(c.to_structure(), resolution_A=0.25)[0].e_3d_eV for c in ms.configurations]
            eas = [x for x in eas if x is not None]
            n = len(ms.configurations[0].to_structure())
            sd = statistics.stdev(eas) if len(eas) > 1 else float("nan")
            print(
                f"| {e.composition} | {name} | {n} | {statistics.mean(off):.0%} "
                f"({statistics.stdev(off):.0%}) [{min(off):.0%}-{max(off):.0%}] | "
                f"{statistics.mean(eas):.3f} ({sd:.3f}) | {time.perf_counter() - t0:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
