"""Harmonic (Vineyard) hop prefactors of BVSE networks: checked against SciPy, and their cost.

Run by hand::

    python benchmarks/bench_harmonic_prefactors.py

For the model cells of Li2ZrCl6 and Li3InCl6 that the tests use (``build_models``,
lowest-Ewald ordering, unrelaxed) it reports:

* the minima of :func:`halidelab.transport.harmonic.stationary_points` (eigenvector-following
  Newton steps, all points in one batched field call per step) against
  ``scipy.optimize.minimize`` (BFGS, SciPy's own finite-difference gradient) from the same
  grid points: the largest distance between the two (A), the largest energy difference
  (eV), and the field evaluations each used. SciPy has no saddle search, so the saddles are
  checked by their one negative curvature and their energy against the grid path's top;
* the curvatures' convergence in the finite-difference step: frequencies at 0.02 A (the
  default) against 0.005 A;
* the wall time of ``network_from_bvse`` with fixed and with harmonic prefactors (median
  of two runs each).
"""

from __future__ import annotations

import time
import warnings

import numpy as np

warnings.simplefilter("ignore")

from scipy.optimize import minimize  # noqa: E402

from halidelab.composition import design_composition  # noqa: E402
from halidelab.structures.models import build_models  # noqa: E402
from halidelab.transport.bvse import bvse_field, bvse_map, hop_path_energies  # noqa: E402
from halidelab.transport.harmonic import (  # noqa: E402
    gradient_hessian,
    mode_frequencies_Hz,
    stationary_points,
)
from halidelab.transport.kmc import network_from_bvse  # noqa: E402
from halidelab.transport.sites import site_network  # noqa: E402


def counted(fn):
    calls = {"points": 0}

    def energy(x):
        x = np.atleast_2d(x)
        calls["points"] += len(x)
        return fn(x)

    return energy, calls


def check(name: str, s) -> None:
    net = site_network(s)
    frac = net.frac_matrix()
    hops = [(h.site_a, h.site_b, tuple(h.image)) for h in net.hops]
    _, saddle_e, at_site, at_saddle = hop_path_energies(
        bvse_map(s, resolution_A=0.15), frac, hops, locations=True
    )
    cell = np.asarray(s.lattice.matrix)
    field = bvse_field(s)
    ours, calls = counted(field)
    starts = at_site @ cell
    t = time.perf_counter()
    x, e, h, ok = stationary_points(ours, starts, np.zeros(len(starts), dtype=int), 0.6)
    t_ours = time.perf_counter() - t
    n_ours = calls["points"]
    theirs, calls2 = counted(field)
    t = time.perf_counter()
    sx, se = [], []
    for p in starts:
        r = minimize(lambda v: float(theirs(v[None])[0]), p, method="BFGS", options={"gtol": 1e-4})
        sx.append(r.x)
        se.append(r.fun)
    t_scipy = time.perf_counter() - t
    sx, se = np.array(sx), np.array(se)
    d = np.linalg.norm(x - sx, axis=1)[ok]
    de = np.abs(e - se)[ok]
    print(
        f"{name}: {len(starts)} sites, {int(ok.sum())} converged; largest distance to SciPy "
        f"{d.max():.1e} A, energy {de.max():.1e} eV; field points ours {n_ours} "
        f"({t_ours:.2f} s), SciPy BFGS {calls2['points']} ({t_scipy:.2f} s)"
    )
    have = np.isfinite(at_saddle).all(axis=1)
    xs, es, hs, oks = stationary_points(
        field, at_saddle[have] @ cell, np.ones(int(have.sum()), dtype=int), 0.6
    )
    gap = (es - saddle_e[have])[oks]
    print(
        f"  saddles: {int(oks.sum())} of {int(have.sum())} with one negative curvature; "
        f"refined minus grid energy {gap.min():+.3f} to {gap.max():+.3f} eV"
    )
    for label, pts in (("sites", x[ok]), ("saddles", xs[oks])):
        f1 = np.array([mode_frequencies_Hz(m, 6.94) for m in gradient_hessian(field, pts)[2]])
        f2 = np.array(
            [mode_frequencies_Hz(m, 6.94) for m in gradient_hessian(field, pts, step_A=0.005)[2]]
        )
        rel = np.abs(f1 / f2 - 1)
        print(f"  {label}: frequencies at 0.02 A against 0.005 A, largest change {rel.max():.1e}")
    times = {}
    for how in ("fixed", "harmonic"):
        runs = []
        for _ in range(2):
            t = time.perf_counter()
            network_from_bvse(s, prefactors=how)
            runs.append(time.perf_counter() - t)
        times[how] = float(np.median(runs))
    print(
        f"  network_from_bvse: fixed {times['fixed']:.1f} s, harmonic {times['harmonic']:.1f} s "
        f"(ratio {times['harmonic'] / times['fixed']:.2f})"
    )


if __name__ == "__main__":
    for formula in ("Li2ZrCl6", "Li3InCl6"):
        s = build_models(design_composition(formula), n_configs=1, sweeps=40).structures[0]
        check(formula, s)
