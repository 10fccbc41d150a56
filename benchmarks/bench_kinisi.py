"""kinisi 2.1.0 (Bayesian MSD) against halidelab's GLS and ``analyse_positions``.

Issue 13 item 4: evaluate kinisi (McCluskey et al., JCTC 20 (2024) 7358; PyPI
``kinisi==2.1.0``) against halidelab's own diffusion analysis on the SAME trajectories,
and write the comparison down. kinisi is NOT a halidelab dependency: it runs from its own
virtual environment that sees the shared packages::

    python -m venv --system-site-packages /work/venv-kinisi
    /work/venv-kinisi/bin/pip install kinisi==2.1.0
    PYTHONPATH=src /work/venv-kinisi/bin/python benchmarks/bench_kinisi.py \
        [--seeds 30] [--cases rw-n16-short,lg-r0.5-long] [--traj md.traj --skip-ps 1]

What is compared, per trajectory (all tools read the same wrapped fractional coordinates
in the same cell; halidelab unwraps them with :func:`unwrap`, kinisi with its own parser):

- ``gls``: :func:`halidelab.transport.diffusion.fit_diffusion` on the FFT MSD (GLS with the
  exact random-walk covariance, default window 10%-50% of the run); interval D +- z err.
- ``final``: :func:`analyse_positions` (the number halidelab reports): no D when the run is
  not diffusive (hops, log-log slope, MSD growth); else err = max(GLS, He et al. 2018).
- ``kinisi``: ``DiffusionAnalyzer.from_ase`` + ``diffusion(start_dt)`` with its defaults
  (emcee, 32 walkers, 1000 samples + 500 burn-in, thin 10 -> 3200 samples), start_dt = the
  same 10% of the run, the fit running to the end of the run as kinisi does by default;
  at most 100 lags (evenly spaced; kinisi 2.x uses every lag by default, which costs
  O(lags^2) Python in its covariance loop: ``kinisi-all`` checks that on a few seeds).
  Point estimate: posterior mean; intervals: 15.87/84.13 and 2.5/97.5 percentiles.
- ``kinisi-win``: kinisi restricted to halidelab's window (lags up to 50% of the run), to
  separate the statistics from the choice of window.

Synthetic cases with a known D (``--seeds`` each):
- ``rw-*``: independent Gaussian random walks (D = 0.5 A^2/ps, frames every 0.1 ps).
- ``lg-*``: independent hoppers on a cubic lattice (a = 3 A) with Gaussian thermal vibration
  (0.25 A), frames every 0.02 ps (the ``lattice_gas`` helper of
  ``tests/transport/test_diffusion.py``, vectorised); D = rate a^2 / 6.
- ``vib-only``: the lattice gas with no hops (true D = 0): is a D reported anyway?

Timing: wall time per analysis from the in-memory coordinates (kinisi: parse + MSD + MCMC;
halidelab: unwrap + FFT MSD + fits + checks), imports excluded. The machine's load is
printed beside the numbers (``uptime``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

warnings.simplefilter("ignore")

A2_PS_TO_CM2_S = 1e-4  # 1 A^2/ps = 1e-16 cm^2 / 1e-12 s
Z68 = 1.0  # Gaussian half-width of the 68.27% interval, in standard deviations
Z95 = 1.959964
P68 = (15.865, 84.135)
P95 = (2.5, 97.5)
MAX_KINISI_LAGS = 100

# name: (kind, n_atoms, n_frames, dt_ps, parameter); rw parameter = D (A^2/ps),
# lg parameter = hop rate per atom (1/ps)
CASES: dict[str, tuple[str, int, int, float, float]] = {
    "rw-n16-short": ("rw", 16, 50, 0.1, 0.5),
    "rw-n16-long": ("rw", 16, 500, 0.1, 0.5),
    "rw-n64-short": ("rw", 64, 50, 0.1, 0.5),
    "rw-n64-long": ("rw", 64, 500, 0.1, 0.5),
    "lg-r2-long": ("lg", 24, 600, 0.02, 2.0),
    "lg-r0.5-long": ("lg", 24, 600, 0.02, 0.5),
    "lg-r0.5-short": ("lg", 24, 150, 0.02, 0.5),
    "lg-r0.2-long": ("lg", 24, 600, 0.02, 0.2),
    "lg-r0.5-0.2ps": ("lg", 24, 10, 0.02, 0.5),
    "vib-only": ("lg", 24, 600, 0.02, 0.0),
}
LATTICE_A = 3.0
VIB_A = 0.25


# --------------------------------------------------------------------- trajectories


def random_walk(
    n_atoms: int, n_frames: int, dt_ps: float, d_A2_ps: float, seed: int, box_A: float = 20.0
) -> tuple[np.ndarray, np.ndarray, float]:
    """Wrapped fractional coordinates (frames, atoms, 3) of Gaussian walkers, cell, true D."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(size=(n_frames - 1, n_atoms, 3)) * math.sqrt(2 * d_A2_ps * dt_ps)
    x = np.concatenate([rng.random((1, n_atoms, 3)) * box_A, steps], axis=0).cumsum(axis=0)
    cell = np.eye(3) * box_A
    return (x / box_A) % 1.0, cell, d_A2_ps


def lattice_gas(
    n_atoms: int,
    n_frames: int,
    dt_ps: float,
    rate_per_ps: float,
    seed: int,
    a: float = LATTICE_A,
    vib_A: float = VIB_A,
    box_sites: int = 8,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Independent hoppers on a cubic lattice with thermal vibration (true D = rate a^2/6)."""
    rng = np.random.default_rng(seed)
    dirs = np.vstack([np.eye(3), -np.eye(3)]) * a
    site0 = np.floor(rng.random((n_atoms, 3)) * box_sites) * a
    k = rng.poisson(rate_per_ps * dt_ps, (n_frames - 1, n_atoms))
    kmax = max(int(k.max()), 1)
    which = rng.integers(6, size=(n_frames - 1, n_atoms, kmax))
    used = np.arange(kmax) < k[..., None]
    steps = (dirs[which] * used[..., None]).sum(axis=2)
    sites = site0 + np.concatenate([np.zeros((1, n_atoms, 3)), steps.cumsum(axis=0)], axis=0)
    x = sites + rng.normal(0, vib_A, sites.shape)
    box = box_sites * a
    return (x / box) % 1.0, np.eye(3) * box, rate_per_ps * a * a / 6


def make(case: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    kind, n, f, dt, p = CASES[case]
    frac, cell, d = (random_walk if kind == "rw" else lattice_gas)(n, f, dt, p, seed)
    return frac, cell, np.arange(f) * dt, d


# -------------------------------------------------------------------------- analysers


def halidelab_gls(
    frac: np.ndarray, cell: np.ndarray, t: np.ndarray, mobile: np.ndarray | None = None
) -> dict:
    """Raw GLS (fit_diffusion) on the 3D MSD of the mobile atoms, framework drift removed."""
    from halidelab.transport.diffusion import fit_diffusion, msd_fft, unwrap

    t0 = time.perf_counter()
    x = unwrap(frac, cell)
    mob = np.ones(x.shape[1], bool) if mobile is None else mobile
    if (~mob).any():  # the same framework drift correction as analyse_positions
        x = x - (x[:, ~mob] - x[0, ~mob]).mean(axis=1)[:, None, :]
    fit = fit_diffusion(
        t - t[0], msd_fft(x[:, mob]).sum(axis=1), n_atoms=int(mob.sum()), n_steps=len(t) - 1
    )
    wall = time.perf_counter() - t0
    d, e = fit.d_cm2_s, fit.d_err_cm2_s
    return {
        "d": d,
        "lo68": d - Z68 * e,
        "hi68": d + Z68 * e,
        "lo95": d - Z95 * e,
        "hi95": d + Z95 * e,
        "err": e,
        "chi2_red": fit.chi2_red,
        "wall_s": wall,
        "window_ps": [fit.fit_start_ps, fit.fit_end_ps],
    }


def halidelab_final(
    frac: np.ndarray,
    cell: np.ndarray,
    t: np.ndarray,
    temperature_K: float,
    hop_distance_A: float | None,
    mobile: np.ndarray | None = None,
) -> dict:
    """analyse_positions: what halidelab reports (None when not diffusive)."""
    from halidelab.transport.diffusion import analyse_positions, unwrap

    t0 = time.perf_counter()
    x = unwrap(frac, cell)
    mob = np.ones(x.shape[1], bool) if mobile is None else mobile
    r = analyse_positions(x, cell, t, mob, temperature_K, hop_distance_A=hop_distance_A)
    wall = time.perf_counter() - t0
    out = {
        "diffusive": r.diffusive,
        "n_hops": r.checks.n_hops,
        "n_eff_hops": r.checks.n_eff_hops,
        "loglog_slope": r.checks.loglog_slope,
        "verdict": r.verdict,
        "wall_s": wall,
        "sigma_S_cm": r.sigma_S_cm,
        "sigma_err_S_cm": r.sigma_err_S_cm,
        "temperature_K": r.temperature_K,
    }
    if r.diffusive:
        d, e = r.d_cm2_s, r.d_err_cm2_s
        out.update(
            {
                "d": d,
                "err": e,
                "err_gls": r.d_err_gls_cm2_s,
                "rsd_hops": r.d_rsd_hops,
                "lo68": d - Z68 * e,
                "hi68": d + Z68 * e,
                "lo95": d - Z95 * e,
                "hi95": d + Z95 * e,
            }
        )
    return out


def _atoms_list(frac: np.ndarray, cell: np.ndarray, symbols: list[str]) -> list:
    from ase import Atoms

    return [Atoms(symbols, scaled_positions=f, cell=cell, pbc=True) for f in frac]


def kinisi_fit(
    frames: list,
    dt_ps: float,
    start_ps: float,
    end_ps: float | None,
    seed: int,
    max_lags: int | None = MAX_KINISI_LAGS,
    conductivity_T_K: float | None = None,
) -> dict:
    """kinisi DiffusionAnalyzer.from_ase + diffusion(); D samples -> mean and percentiles.

    The frame interval is given in fs so that kinisi's integer lag index
    (dt / (time_step * step_skip)).astype(int) is exact.
    """
    import scipp as sc
    from kinisi.analyze import ConductivityAnalyzer, DiffusionAnalyzer

    step_fs = round(dt_ps * 1000.0, 6)
    n = len(frames)
    # kinisi's lags run 1..n frames (its parser puts the first frame one interval after t=0)
    top = n if end_ps is None else max(2, int(math.floor(end_ps / dt_ps + 1e-9)))
    lags = np.arange(1, top + 1)
    if max_lags is not None and len(lags) > max_lags:
        lags = np.unique(np.linspace(1, top, max_lags).round().astype(int))
    dt = sc.array(dims=["time interval"], values=lags * step_fs, unit="fs")
    params = {
        "specie": "Li",
        "time_step": step_fs * sc.Unit("fs"),
        "step_skip": 1 * sc.Unit("dimensionless"),
        "dt": dt,
        "progress": False,
    }
    t0 = time.perf_counter()
    an = DiffusionAnalyzer.from_ase(frames, **params)
    an.diffusion(
        start_ps * 1000.0 * sc.Unit("fs"), progress=False, random_state=np.random.RandomState(seed)
    )
    wall = time.perf_counter() - t0
    s = np.asarray(sc.to_unit(an.D, "cm2/s").values)
    out = {
        "d": float(s.mean()),
        "d_median": float(np.median(s)),
        "std": float(s.std(ddof=1)),
        "lo68": float(np.percentile(s, P68[0])),
        "hi68": float(np.percentile(s, P68[1])),
        "lo95": float(np.percentile(s, P95[0])),
        "hi95": float(np.percentile(s, P95[1])),
        "n_samples": int(s.size),
        "n_lags": int(len(lags)),
        "wall_s": wall,
    }
    if conductivity_T_K is not None:
        t0 = time.perf_counter()
        ca = ConductivityAnalyzer.from_ase(frames, ionic_charge=1 * sc.Unit("e"), **params)
        ca.conductivity(
            start_ps * 1000.0 * sc.Unit("fs"),
            temperature=conductivity_T_K * sc.Unit("K"),
            progress=False,
            random_state=np.random.RandomState(seed),
        )
        sig = np.asarray(sc.to_unit(ca.sigma, "S/cm").values)
        out["sigma_collective_S_cm"] = {
            "mean": float(sig.mean()),
            "lo68": float(np.percentile(sig, P68[0])),
            "hi68": float(np.percentile(sig, P68[1])),
            "lo95": float(np.percentile(sig, P95[0])),
            "hi95": float(np.percentile(sig, P95[1])),
            "wall_s": time.perf_counter() - t0,
        }
    return out


# ---------------------------------------------------------------------------- driver


def run_case(case: str, seeds: int, all_lags_seeds: int) -> dict:
    kind, n_atoms, n_frames, dt_ps, _ = CASES[case]
    rows = []
    for seed in range(seeds):
        frac, cell, t, d_true = make(case, seed)
        frames = _atoms_list(frac, cell, ["Li"] * n_atoms)
        dur = t[-1] - t[0]
        row = {
            "seed": seed,
            "d_true": d_true * A2_PS_TO_CM2_S,
            "gls": halidelab_gls(frac, cell, t),
            "final": halidelab_final(frac, cell, t, 600.0, LATTICE_A),
            "kinisi": kinisi_fit(frames, dt_ps, 0.1 * dur, None, seed),
            "kinisi-win": kinisi_fit(frames, dt_ps, 0.1 * dur, 0.5 * dur, seed),
        }
        if seed < all_lags_seeds and n_frames > MAX_KINISI_LAGS:
            row["kinisi-all"] = kinisi_fit(frames, dt_ps, 0.1 * dur, None, seed, max_lags=None)
        rows.append(row)
        print(
            f"  {case} seed {seed}: true {row['d_true']:.3g}  gls {row['gls']['d']:.3g}  "
            f"final {row['final'].get('d', float('nan')):.3g}  kinisi {row['kinisi']['d']:.3g}",
            file=sys.stderr,
            flush=True,
        )
    return {
        "case": case,
        "kind": kind,
        "n_atoms": n_atoms,
        "n_frames": n_frames,
        "dt_ps": dt_ps,
        "duration_ps": (n_frames - 1) * dt_ps,
        "d_true_cm2_s": rows[0]["d_true"],
        "rows": rows,
        "summary": {
            m: summarise(rows, m)
            for m in ("gls", "final", "kinisi", "kinisi-win", "kinisi-all")
            if any(m in r for r in rows)
        },
    }


def summarise(rows: list[dict], method: str) -> dict:
    rs = [r for r in rows if method in r]
    with_d = [r for r in rs if "d" in r[method]]
    out = {
        "n_runs": len(rs),
        "n_with_number": len(with_d),
        "n_not_diffusive": len(rs) - len(with_d),
    }
    if not with_d:
        return out
    true = np.array([r["d_true"] for r in with_d])
    m = [r[method] for r in with_d]
    d = np.array([x["d"] for x in m])
    lo68, hi68 = np.array([x["lo68"] for x in m]), np.array([x["hi68"] for x in m])
    lo95, hi95 = np.array([x["lo95"] for x in m]), np.array([x["hi95"] for x in m])
    out.update(
        {
            "cover68": float(np.mean((lo68 <= true) & (true <= hi68))),
            "cover95": float(np.mean((lo95 <= true) & (true <= hi95))),
            "wall_s_median": float(np.median([x["wall_s"] for x in m])),
        }
    )
    if true[0] > 0:
        rel = d / true - 1
        out.update(
            {
                "bias_rel": float(rel.mean()),
                "bias_rel_se": float(rel.std(ddof=1) / math.sqrt(len(rel)))
                if len(rel) > 1
                else None,
                "scatter_rel": float(rel.std(ddof=1))
                if len(rel) > 1
                else None,  # true spread of the estimate
                "halfwidth68_rel": float(np.mean((hi68 - lo68) / 2 / true)),
                "halfwidth95_rel": float(np.mean((hi95 - lo95) / 2 / true)),
            }
        )
    else:  # true D = 0: how large a D does each method report, and does its 95% interval hold 0
        out.update(
            {
                "d_median_cm2_s": float(np.median(d)),
                "hi95_median_cm2_s": float(np.median(hi95)),
                "lo95_median_cm2_s": float(np.median(lo95)),
            }
        )
    return out


def analyse_real(path: Path, skip_ps: float, seed: int = 0) -> dict:
    """halidelab (GLS, final) and kinisi (D, collective sigma) on one MD trajectory."""
    from ase.io import read

    from halidelab.transport.diffusion import analyse_trajectory

    frames = read(str(path), index=":")
    times = np.array([f.info["time_ps"] for f in frames])
    keep = times >= times[0] + skip_ps - 1e-9
    frames = [f for f, k in zip(frames, keep, strict=True) if k]
    t = times[keep] - times[keep][0]
    dt_ps = float(t[1] - t[0])
    sym = np.array(frames[0].get_chemical_symbols())
    cell = frames[0].cell.array
    frac = np.array([f.get_scaled_positions(wrap=False) for f in frames])
    mob = sym == "Li"
    t0 = time.perf_counter()
    res = analyse_trajectory(path, skip_ps=skip_ps)  # the CLI's own path (reads the file itself)
    final_wall = time.perf_counter() - t0
    temperature = res.temperature_K
    gls = halidelab_gls(frac, cell, t, mobile=mob)
    final = {
        "diffusive": res.diffusive,
        "verdict": res.verdict,
        "n_hops": res.checks.n_hops,
        "n_eff_hops": res.checks.n_eff_hops,
        "loglog_slope": res.checks.loglog_slope,
        "d": res.d_cm2_s,
        "err": res.d_err_cm2_s,
        "err_gls": res.d_err_gls_cm2_s,
        "rsd_hops": res.d_rsd_hops,
        "sigma_S_cm": res.sigma_S_cm,
        "sigma_err_S_cm": res.sigma_err_S_cm,
        "temperature_K": temperature,
        "wall_s_incl_read": final_wall,
    }
    if res.diffusive:
        final.update(
            {
                "lo68": res.d_cm2_s - res.d_err_cm2_s,
                "hi68": res.d_cm2_s + res.d_err_cm2_s,
                "lo95": res.d_cm2_s - Z95 * res.d_err_cm2_s,
                "hi95": res.d_cm2_s + Z95 * res.d_err_cm2_s,
            }
        )
    dur = float(t[-1])
    ki = kinisi_fit(frames, dt_ps, 0.1 * dur, None, seed, conductivity_T_K=temperature)
    kw = kinisi_fit(frames, dt_ps, 0.1 * dur, 0.5 * dur, seed)
    ka = kinisi_fit(frames, dt_ps, 0.1 * dur, None, seed, max_lags=None)
    return {
        "trajectory": str(path),
        "skip_ps": skip_ps,
        "n_frames": len(frames),
        "dt_ps": dt_ps,
        "duration_ps": dur,
        "n_li": int(mob.sum()),
        "n_atoms": len(sym),
        "gls": gls,
        "final": final,
        "kinisi": ki,
        "kinisi-win": kw,
        "kinisi-all": ka,
    }


def _fmt(x: float | None, spec: str = ".3f") -> str:
    return "-" if x is None else format(x, spec)


def print_table(results: list[dict]) -> None:
    head = (
        f"{'case':15s} {'method':11s} {'n':>5s} {'no D':>4s} {'bias':>14s} {'scatter':>7s} "
        f"{'hw68':>6s} {'hw95':>6s} {'cov68':>5s} {'cov95':>5s} {'s/run':>7s}"
    )
    print(head)
    print("-" * len(head))
    for res in results:
        for m, s in res["summary"].items():
            if "bias_rel" in s:
                bias = f"{s['bias_rel']:+.3f}+-{_fmt(s['bias_rel_se'])}"
                print(
                    f"{res['case']:15s} {m:11s} {s['n_runs']:5d} {s['n_not_diffusive']:4d} "
                    f"{bias:>14s} "
                    f"{_fmt(s['scatter_rel']):>7s} {s['halfwidth68_rel']:6.3f} "
                    f"{s['halfwidth95_rel']:6.3f} "
                    f"{s['cover68']:5.2f} {s['cover95']:5.2f} {s['wall_s_median']:7.3f}"
                )
            elif "d_median_cm2_s" in s:
                print(
                    f"{res['case']:15s} {m:11s} {s['n_runs']:5d} {s['n_not_diffusive']:4d} "
                    f"D_med {s['d_median_cm2_s']:.2e} 95% [{s['lo95_median_cm2_s']:.1e}, "
                    f"{s['hi95_median_cm2_s']:.1e}] cov95(0) {s['cover95']:.2f} "
                    f"{s['wall_s_median']:7.3f}"
                )
            else:
                print(
                    f"{res['case']:15s} {m:11s} {s['n_runs']:5d} {s['n_not_diffusive']:4d}  (no "
                    "number: not diffusive)"
                )
    print(
        "bias: mean (D/D_true - 1) +- its standard error over seeds; scatter: std of D/D_true over "
        "seeds "
        "(the error a method should report); hw68/hw95: mean interval half-width / D_true; "
        "cov68/cov95: "
        "fraction of seeds whose interval holds D_true; no D: runs halidelab calls not diffusive."
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument(
        "--all-lags-seeds",
        type=int,
        default=3,
        help="seeds per long case also fitted by kinisi with every lag (its 2.x default)",
    )
    ap.add_argument(
        "--traj", type=Path, help="an MD trajectory (halidelab md .traj) to analyse with both"
    )
    ap.add_argument("--skip-ps", type=float, default=1.0)
    ap.add_argument("--out", type=Path, default=Path("bench_out/kinisi"))
    args = ap.parse_args()
    import kinisi

    import halidelab

    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(
        f"kinisi {kinisi.__version__}, halidelab {halidelab.__version__}, numpy {np.__version__}; "
        f"load before: {load}"
    )
    # import cost, measured in fresh processes
    imports = {}
    for mod in ("kinisi.analyze", "halidelab.transport.diffusion"):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {mod}"], check=True, env=os.environ.copy())
        imports[mod] = time.perf_counter() - t0
    print(
        "import time (fresh process, s): " + ", ".join(f"{k} {v:.2f}" for k, v in imports.items())
    )
    results = []
    for case in [c for c in args.cases.split(",") if c]:
        if case not in CASES:
            raise SystemExit(f"unknown case {case!r}; known: {', '.join(CASES)}")
        results.append(run_case(case, args.seeds, args.all_lags_seeds))
    print_table(results)
    real = None
    if args.traj is not None:
        real = analyse_real(args.traj, args.skip_ps)
        print(
            f"\nMD trajectory {real['trajectory']}: {real['n_atoms']} atoms, {real['n_li']} Li, "
            f"{real['duration_ps']:.2f} ps after skipping {args.skip_ps:g} ps, "
            f"T = {real['final']['temperature_K']:.0f} K"
        )
        for m in ("gls", "final", "kinisi", "kinisi-win", "kinisi-all"):
            r = real[m]
            if r.get("d") is None:
                print(f"  {m:11s} no D: {r.get('verdict')}")
                continue
            print(
                f"  {m:11s} D = {r['d']:.3e} cm2/s  68% [{r['lo68']:.3e}, {r['hi68']:.3e}]  "
                f"95% [{r['lo95']:.3e}, {r['hi95']:.3e}]  "
                f"{r.get('wall_s', r.get('wall_s_incl_read', float('nan'))):.2f} s"
            )
        f = real["final"]
        print(
            f"  halidelab: {f['verdict']}; hops {f['n_hops']}, N_eff {f['n_eff_hops']:.0f}, "
            f"log-log slope {f['loglog_slope']:.2f}; sigma (Nernst-Einstein, H_R = 1) "
            f"{_fmt(f['sigma_S_cm'], '.3e')} +- {_fmt(f['sigma_err_S_cm'], '.1e')} S/cm"
        )
        sc_ = real["kinisi"]["sigma_collective_S_cm"]
        print(
            f"  kinisi collective sigma (MSCD, includes Li-Li correlations): {sc_['mean']:.3e} "
            "S/cm "
            f"95% [{sc_['lo95']:.2e}, {sc_['hi95']:.2e}]"
        )
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"load after: {load}")
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "bench_kinisi.json"
    out.write_text(
        json.dumps(
            {
                "command": " ".join(sys.argv),
                "imports_s": imports,
                "load_after": load,
                "cases": results,
                "md": real,
            },
            indent=1,
            default=float,
        )
    )
    print(f"results: {out}")


if __name__ == "__main__":
    main()
