"""XRD: simulation speed, refinement speed, and whether the refinement's uncertainties are
honest (Monte Carlo pulls over noise seeds).

Run by hand:  python benchmarks/bench_xrd.py [--seeds 20]

For each structure (Li3YCl6 P-3m1, Li3InCl6 C2/m from ../shared/data/structures) and
each peak width (sharp lab peaks, broad ball-milled peaks) it strains the cell by a
known amount, makes ``--seeds`` noisy Cu K-alpha1/alpha2 scans, refines each from the
unstrained CIF and reports: median time per refinement, max |error| in A, and the pull
statistics (error / reported sigma): their standard deviation should be near 1 if the
uncertainties are honest, and the fraction within 2 sigma near 95%.

No library comparison is run for the refinement: no pip-installable package does a
Pawley/Le Bail fit (see halidelab/lab/xrd.py); the simulation is pymatgen's own
XRDCalculator, timed here with halidelab's record on top.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from pymatgen.analysis.diffraction.xrd import XRDCalculator
from pymatgen.core import Lattice

from halidelab.lab.xrd import refine_lattice, synthetic_scan
from halidelab.structures.prototypes import read_structure
from halidelab.structures.xrd import simulate_pattern

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "structures"
CASES = {
    "Li3YCl6 P-3m1": (
        "Li3YCl6_P-3m1_obelix-ei3.cif",
        dict(da=-0.008, db=-0.008, dc=0.005, dbeta=0.0),
        ("a", "c"),
    ),
    "Li3InCl6 C2/m": (
        "Li3InCl6_C2_m_obelix-de5.cif",
        dict(da=-0.008, db=0.003, dc=0.005, dbeta=0.25),
        ("a", "b", "c", "beta"),
    ),
}
WIDTHS = {"sharp (0.08-0.12 deg)": (0.02, 0.0, 0.006), "broad (0.35-0.55 deg)": (0.3, 0.0, 0.1)}


def strained(s, da, db, dc, dbeta):
    t = s.copy()
    a, b, c = s.lattice.abc
    al, be, ga = s.lattice.angles
    t.lattice = Lattice.from_parameters(
        a * (1 + da), b * (1 + db), c * (1 + dc), al, be + dbeta, ga
    )
    return t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    args = ap.parse_args()
    print(f"# command: python benchmarks/bench_xrd.py --seeds {args.seeds}")

    s = read_structure(DATA / CASES["Li3YCl6 P-3m1"][0])
    t0 = time.perf_counter()
    for _ in range(20):
        XRDCalculator("CuKa").get_pattern(s, two_theta_range=(10, 80))
    t_pmg = (time.perf_counter() - t0) / 20
    t0 = time.perf_counter()
    for _ in range(20):
        simulate_pattern(s)
    t_ours = (time.perf_counter() - t0) / 20
    print(
        f"simulate Li3YCl6 10-80 deg: pymatgen {1e3 * t_pmg:.1f} ms, "
        f"simulate_pattern {1e3 * t_ours:.1f} ms"
    )

    for name, (cif, strain, params) in CASES.items():
        model = read_structure(DATA / cif)
        truth = strained(model, **strain)
        true = dict(
            zip(("a", "b", "c", "alpha", "beta", "gamma"), truth.lattice.parameters, strict=True)
        )
        for wname, uvw in WIDTHS.items():
            pulls: dict[str, list[float]] = {p: [] for p in params}
            errs: dict[str, list[float]] = {p: [] for p in params}
            times, fails = [], 0
            for seed in range(args.seeds):
                scan = synthetic_scan(truth, fwhm_deg=uvw, zero_shift_deg=0.03, seed=seed)
                t0 = time.perf_counter()
                res = refine_lattice(scan, model)
                times.append(time.perf_counter() - t0)
                fails += not res.converged
                for p in params:
                    unit = "A" if p in "abc" else "deg"
                    val, err = getattr(res, f"{p}_{unit}"), getattr(res, f"{p}_err_{unit}")
                    errs[p].append(val - true[p])
                    pulls[p].append((val - true[p]) / err)
            print(
                f"\n{name}, {wname}: {args.seeds} seeds, median {statistics.median(times):.2f} s "
                f"per refinement, {fails} not converged"
            )
            for p in params:
                pu = np.array(pulls[p])
                print(
                    f"  {p:5s} max|err| {np.max(np.abs(errs[p])):.5f}  mean err "
                    f"{np.mean(errs[p]):+.5f}  pull sd {pu.std(ddof=1):.2f}  mean "
                    f"{pu.mean():+.2f}  within 2 sigma {100 * np.mean(np.abs(pu) < 2):.0f}%"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
