"""Benchmark: a temperature series fitted as one analysis vs spectrum by spectrum.

Run by hand:  python benchmarks/bench_eis_series.py [--seeds 5]

The synthetic two-arc pellet of tests/lab/test_eis_series.py (bulk Ea 0.35 eV, grain
boundary Ea 0.55 eV, 7 temperatures from -20 to 100 C, 0.5% noise, the bulk arc half
outside the 7 MHz window at -20 C and beyond it above). For each noise seed it prints the
bulk and grain-boundary activation energies of

- the series path (:func:`halidelab.lab.eis.fit_series`, no hand-set guesses) and its
  joint Arrhenius-constrained fit;
- the single-spectrum path (:func:`halidelab.lab.eis.fit_spectra`, ``circuit="auto"``):
  R_bulk is the highest-frequency arc of whatever circuit each temperature chose, and
  R_gb = R_total - R_bulk;

with the reduced chi^2 of each Arrhenius line and the wall time.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from halidelab.arrhenius import fit_arrhenius
from halidelab.lab.eis import fit_series, fit_spectra, simulate_pellet_series

T_K = np.array([-20, 0, 20, 40, 60, 80, 100]) + 273.15
GEOM = {"thickness": "0.85mm", "diameter": "10mm"}
CELL = 0.085 / (np.pi * 1.0**2 / 4)


def single_path(specs):
    fits = [f for f in fit_spectra(specs, resistance="bulk", **GEOM, on_error="skip") if f]
    t = [f.temperature_K for f in fits]
    out = {}
    for name, r, dr in (
        ("bulk", [f.r_bulk_ohm for f in fits], [f.r_bulk_err_ohm for f in fits]),
        ("gb", [f.r_total_ohm - f.r_bulk_ohm for f in fits], [f.r_total_err_ohm for f in fits]),
    ):
        r, dr = np.array(r), np.array(dr)
        ok = (r > 0) & np.isfinite(dr) & (dr > 0)
        if ok.sum() < 3:
            out[name] = (float("nan"), float("nan"))
            continue
        a = fit_arrhenius(np.array(t)[ok], CELL / r[ok], CELL / r[ok] * dr[ok] / r[ok])
        out[name] = (a.ea_eV, a.chi2_red)
    return out, sorted({f.circuit for f in fits})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    print(
        "seed | series Ea_b  Ea_gb (chi2) | joint Ea_b  Ea_gb | single Ea_b (chi2)  "
        "Ea_gb (chi2) | t_series t_single"
    )
    for seed in range(args.seeds):
        specs = simulate_pellet_series(T_K, seed=100 * seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            sf = fit_series(specs, **GEOM, joint=True)
            t1 = time.perf_counter()
            single, circuits = single_path(specs)
            t2 = time.perf_counter()
        b, g = sf.arrhenius_bulk, sf.arrhenius_gb
        print(
            f"{seed:4d} | {b.ea_eV:.4f} {g.ea_eV:.4f} ({b.chi2_red:.2g}, {g.chi2_red:.2g}) | "
            f"{sf.joint.ea_bulk_eV:.4f} {sf.joint.ea_gb_eV:.4f} | "
            f"{single['bulk'][0]:.4f} ({single['bulk'][1]:.3g}) "
            f"{single['gb'][0]:.4f} ({single['gb'][1]:.3g}) | {t1 - t0:.2f} s {t2 - t1:.2f} s"
            f"  single-path circuits: {', '.join(circuits)}"
        )
    print("truth: Ea_b 0.35, Ea_gb 0.55 eV")


if __name__ == "__main__":
    main()
