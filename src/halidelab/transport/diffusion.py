"""Mean squared displacement, tracer diffusion with honest uncertainty, conductivity.

- :func:`msd_fft`: time-origin-averaged MSD per Cartesian axis in O(T log T) with the
  FFT algorithm (Calandrini et al., nMoldyn, Collection SFN 12 (2011) 201; also
  Kneller et al. 1995): MSD(m) = S1(m) - 2 S2(m), S2 the position autocorrelation by
  FFT. :func:`msd_direct` is the O(T^2) loop it is checked against
  (``benchmarks/bench_md.py`` times both).
- :func:`fit_diffusion`: D from MSD(t) = 2 d D t + b by generalised least squares with
  the covariance of the time-averaged MSD of a Gaussian random walk, computed exactly
  for the lags used: Cov[(x_{t+m}-x_t)^2, (x_{u+n}-x_u)^2] = 2 (s^2 overlap)^2, summed
  over all pairs of windows (the model behind kinisi, McCluskey et al., JCTC 20 (2024)
  7358, evaluated exactly instead of approximated). Ordinary least squares on MSD
  points, as pymatgen's ``DiffusionAnalyzer`` does, treats strongly correlated points
  as independent and returns an error that is too small (pymatgen-analysis-diffusion
  issue #449). We do not depend on kinisi itself: it adds scipp, dynesty, emcee and
  statsmodels to the install; the coverage of our interval is checked on synthetic
  random walks in ``tests/transport/test_diffusion.py``. Assumptions (stated in every
  result): Li atoms move independently and the MSD is diffusive over the fitted lags
  (the ballistic/vibrational start is skipped, ``start_ps``).
- Nernst-Einstein: sigma = n q^2 D_tracer / (k_B T H_R), with the Haven ratio H_R a
  parameter (default 1, i.e. uncorrelated hops), always reported.
- :func:`md_arrhenius`: D(T) and sigma(T) through :func:`halidelab.arrhenius.fit_arrhenius`,
  extrapolated to 300 K with warnings when far from the fitted range or curved.
- Honest statistics (:func:`diffusion_checks`): no D, sigma or Ea from a trajectory that is
  not diffusive. Three checks, all stated in every result: the counted site-to-site hops
  of the mobile atoms (:func:`count_hops`, at least :data:`MIN_HOPS`), the log-log slope
  of the MSD over the fit window (at least :data:`MIN_LOGLOG_SLOPE`; 1 is diffusive,
  0 a vibration in a cage, 2 ballistic), and an MSD that grows over the window by at
  least half a site spacing squared (He et al.'s 4.5 A^2 for a = 3 A). Below them the
  result carries no number, only "not diffusive: run longer (need about N ps at T)".
  D's uncertainty is the larger of the GLS error and the relative standard deviation
  of He, Zhu, Epstein and Mo (npj Comput. Mater. 4, 18 (2018), eq. for AIMD):
  RSD = 3.43 / sqrt(N_eff) + 0.04, N_eff = N_mobile MSD / a^2 the effective number of
  hops (a the site spacing). Both are reported.

kinisi evaluated, not adopted (``benchmarks/bench_kinisi.py``, kinisi 2.1.0 with its
defaults, 30 seeds per case, the same coordinates given to both; numbers in the issue-13
note). On random walks and lattice gases with a known D, our GLS is unbiased (mean
D/D_true - 1 between -0.02 and +0.01, each within 2 standard errors of 0) and its 68 %
interval covers D_true in 60-93 % of runs; kinisi's posterior mean is 2-8 % low in all 8
diffusive cases (beyond 2 standard errors in 2) and its 68 % interval covers 53-70 %. On a
vibrating lattice with no hops (D = 0) kinisi gave a positive D whose 95 % interval
excluded 0 in 30 of 30 runs; on 0.2 ps runs it gave a D for every run (+26 % bias). Our
checks report "not diffusive" with no number in both cases (30 of 30). kinisi took
0.6-1.4 s per analysis (8 s with every lag, its default) against 0.03-0.25 s here, and
brings scipp, emcee and dynesty into the install. Our final error (the larger of GLS and
He et al.) is conservative: its 68 % interval is 2-10x the observed scatter (coverage 1.0);
we keep it, as He et al. derived it for correlated hops in real AIMD, which the synthetic
walks lack. The checks also withhold D from some short runs that do diffuse (8 of 30
lattice-gas runs of 3 ps with ~1.5 hops per atom): "run longer" is the answer there too.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from halidelab.constants import A2_PS_TO_CM2_S, A3_TO_CM3, E_CHARGE_C, K_B_J_K
from halidelab.errors import DataFormatError, FitError
from halidelab.records import Provenance, Record

#: Temperature (K) of the room-temperature extrapolation of MD results.
EXTRAPOLATION_T_K = 300.0

#: Fewest counted site-to-site hops (all mobile atoms together) for a diffusive run.
#: He et al. (2018): with N_eff = 20 effective hops D is known to about 80% (RSD).
MIN_HOPS = 20
#: Smallest log-log slope d ln MSD / d ln t over the fit window for a diffusive run.
MIN_LOGLOG_SLOPE = 0.7
#: The MSD must grow over the fit window by this fraction of a^2 (a: site spacing).
MIN_MSD_GAIN_A2_FRACTION = 0.5
#: Site spacing a is the median nearest-neighbour distance of the mobile atoms in the
#: first frame, kept within these bounds (A): Li-Li site spacings of halides, sulfides
#: and oxides lie in 2.4-3.8 A.
SITE_SPACING_BOUNDS_A = (2.0, 4.0)
#: Positions are averaged over blocks of this length before hops are counted, ps
#: (removes the thermal vibration, ~0.2-0.5 A, keeps hops that last longer).
HOP_BLOCK_PS = 0.05
#: A hop is counted when a block mean lies farther than this fraction of a from the
#: atom's anchor. Not 0.5: a block that straddles a hop averages to the midpoint, and
#: anchoring there would count the same hop twice.
HOP_THRESHOLD_FRACTION = 0.7


# ------------------------------------------------------------------------------- MSD


def msd_fft(positions: np.ndarray) -> np.ndarray:
    """Time-origin-averaged MSD per axis by FFT.

    Parameters
    ----------
    positions : array (n_frames, n_atoms, 3)
        Unwrapped Cartesian positions, A, at equal time spacing.

    Returns
    -------
    array (n_frames, 3)
        MSD per axis (A^2) at lags 0..n_frames-1, averaged over origins and atoms;
        sum over the last axis for the 3D MSD.
    """
    x = np.asarray(positions, dtype=float)
    if x.ndim != 3 or x.shape[2] != 3:
        raise DataFormatError(f"positions must have shape (frames, atoms, 3), got {x.shape}")
    n = x.shape[0]
    if n < 2:
        raise DataFormatError("need at least two frames for an MSD")
    # S2: autocorrelation sum_t x_t x_{t+m} / (n - m), via zero-padded FFT
    f = np.fft.rfft(x, n=2 * n, axis=0)
    s2 = np.fft.irfft(f * np.conj(f), n=2 * n, axis=0)[:n] / (n - np.arange(n))[:, None, None]
    # S1 by the recursion of Calandrini et al.
    d = x**2
    dsum = d.sum(axis=0)
    q = 2.0 * dsum
    s1 = np.empty_like(s2)
    s1[0] = q / n
    for m in range(1, n):
        q = q - d[m - 1] - d[n - m]
        s1[m] = q / (n - m)
    return (s1 - 2.0 * s2).mean(axis=1)


def msd_direct(positions: np.ndarray) -> np.ndarray:
    """Same as :func:`msd_fft` by an explicit loop over lags (reference, O(T^2))."""
    x = np.asarray(positions, dtype=float)
    n = x.shape[0]
    out = np.zeros((n, 3))
    for m in range(1, n):
        out[m] = ((x[m:] - x[:-m]) ** 2).mean(axis=(0, 1))
    return out


def unwrap(frac: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Cartesian unwrapped positions from (possibly wrapped) fractional ones.

    Frame-to-frame jumps larger than half a cell are taken as boundary crossings
    (frames must be close enough in time that no atom moves half a cell).
    """
    f = np.asarray(frac, dtype=float)
    step = np.diff(f, axis=0)
    step -= np.round(step)
    f_un = np.concatenate([f[:1], f[:1] + np.cumsum(step, axis=0)], axis=0)
    return f_un @ np.asarray(cell, dtype=float)


# ------------------------------------------------------------------------ covariance


def _window_cov(lags: np.ndarray, n_steps: int) -> np.ndarray:
    """Cov of time-averaged squared displacements of a 1D unit-variance random walk.

    For lags m, n (in frame intervals) over a walk of ``n_steps`` intervals with unit
    variance per interval: (2 / (N_m N_n)) sum_{t,u} overlap([t,t+m],[u,u+n])^2, with
    N_m = n_steps - m + 1 windows. Exact for Gaussian increments.
    """
    k = len(lags)
    cov = np.empty((k, k))
    T = n_steps
    for i in range(k):
        m = int(lags[i])
        for j in range(i, k):
            n = int(lags[j])
            d = np.arange(-n, m + 1)  # u - t
            ov = np.minimum(m, d + n) - np.maximum(0, d)
            cnt = np.minimum(T - m, T - n - d) - np.maximum(0, -d) + 1
            ok = (ov > 0) & (cnt > 0)
            s = float((cnt[ok] * ov[ok].astype(float) ** 2).sum())
            cov[i, j] = cov[j, i] = 2.0 * s / ((T - m + 1) * (T - n + 1))
    return cov


@functools.lru_cache(maxsize=16)
def _window_cov_cached(lags: tuple[int, ...], n_steps: int) -> np.ndarray:
    """:func:`_window_cov`, read-only and cached: one MD analysis fits the same lags of
    one run many times (3D, per axis, c, ab and the six projections of the D tensor, for
    every block of atoms), and the double loop dominates those fits."""
    cov = _window_cov(np.asarray(lags), n_steps)
    cov.flags.writeable = False
    return cov


@dataclasses.dataclass(frozen=True)
class DiffusionFit(Record):
    """D from an MSD by covariance-aware generalised least squares.

    Attributes
    ----------
    direction : str
        ``"3d"``, ``"x"``, ``"y"``, ``"z"``, ``"c"`` (along the c axis), ``"ab"`` (in the
        plane normal to c).
    dimensions : int
        d in MSD = 2 d D t + b.
    d_cm2_s, d_err_cm2_s : float
        D and its standard uncertainty, cm^2/s.
    intercept_A2 : float
    fit_start_ps, fit_end_ps : float
    n_atoms : int
        Mobile atoms averaged over (taken as independent).
    chi2_red : float
        GLS reduced chi^2 of the MSD against the line (>> 1: not a random walk over
        the fitted lags, e.g. too short or correlated hops; the error is then inflated
        by sqrt(chi2_red)).
    """

    direction: str
    dimensions: int
    d_cm2_s: float
    d_err_cm2_s: float
    intercept_A2: float
    fit_start_ps: float
    fit_end_ps: float
    n_atoms: int
    chi2_red: float
    method: str = "gls-random-walk-covariance"


def fit_diffusion(
    time_ps: np.ndarray,
    msd_A2: np.ndarray,
    n_atoms: int,
    n_steps: int,
    dimensions: int = 3,
    start_ps: float | None = None,
    end_ps: float | None = None,
    max_points: int = 60,
    direction: str = "3d",
) -> DiffusionFit:
    """Tracer D and its uncertainty from a time-averaged MSD.

    Parameters
    ----------
    time_ps : array
        Lag times, ps, equally spaced from 0 (``time_ps[k] = k dt``).
    msd_A2 : array
        MSD at those lags, A^2 (sum over ``dimensions`` axes, averaged over atoms).
    n_atoms : int
        Number of atoms averaged (independent samples).
    n_steps : int
        Frame intervals in the trajectory (frames - 1).
    dimensions : int
        1, 2 or 3.
    start_ps, end_ps : float, optional
        Fit window; default from 10% to 50% of the trajectory length.
    max_points : int
        Lags used in the fit (evenly spaced in the window).

    Returns
    -------
    DiffusionFit
    """
    t = np.asarray(time_ps, dtype=float)
    y = np.asarray(msd_A2, dtype=float)
    if len(t) != len(y) or len(t) < 4:
        raise FitError("need an MSD with at least 4 lags and one time per lag")
    if n_atoms < 1:
        raise FitError("no mobile atoms to average")
    dt = t[1] - t[0]
    total = n_steps * dt
    start = 0.1 * total if start_ps is None else float(start_ps)
    end = 0.5 * total if end_ps is None else float(end_ps)
    i0 = max(1, int(math.ceil(start / dt - 1e-9)))
    i1 = min(len(t) - 1, int(math.floor(end / dt + 1e-9)), n_steps - 1)
    if i1 - i0 < 2:
        raise FitError(
            f"fit window {start:.3g}-{end:.3g} ps holds fewer than 3 MSD points: "
            "run longer or write frames more often"
        )
    lags = np.unique(np.linspace(i0, i1, min(max_points, i1 - i0 + 1)).round().astype(int))
    tt, yy = t[lags], y[lags]
    A = np.stack([2 * dimensions * tt, np.ones_like(tt)], axis=1)
    base = _window_cov_cached(tuple(int(v) for v in lags), n_steps)  # per unit step variance, 1D
    coef = np.linalg.lstsq(A, yy, rcond=None)[0]
    for _ in range(3):  # plug the model's step variance into the covariance, iterate
        s2 = max(2.0 * max(coef[0], 1e-12) * dt, 1e-30)  # per-axis variance per frame interval
        cov = base * s2**2 * dimensions / n_atoms
        cov += np.eye(len(lags)) * 1e-12 * np.trace(cov) / len(lags)
        ci = np.linalg.inv(cov)
        fisher = A.T @ ci @ A
        coef = np.linalg.solve(fisher, A.T @ ci @ yy)
    resid = yy - A @ coef
    dof = max(len(lags) - 2, 1)
    chi2_red = float(resid @ ci @ resid) / dof
    var = np.linalg.inv(fisher)
    err = math.sqrt(var[0, 0]) * math.sqrt(max(1.0, chi2_red))
    return DiffusionFit(
        direction,
        dimensions,
        float(coef[0]) * A2_PS_TO_CM2_S,
        err * A2_PS_TO_CM2_S,
        float(coef[1]),
        float(tt[0]),
        float(tt[-1]),
        int(n_atoms),
        chi2_red,
    )


# ----------------------------------------------------------------- from trajectories


def nernst_einstein_S_cm(
    d_cm2_s: float,
    n_per_cm3: float,
    temperature_K: float,
    charge: int = 1,
    haven_ratio: float = 1.0,
) -> float:
    """Ionic conductivity sigma = n (z e)^2 D / (k_B T H_R) in S/cm.

    Parameters
    ----------
    d_cm2_s : float
        Tracer diffusion coefficient, cm^2/s.
    n_per_cm3 : float
        Carrier number density, cm^-3.
    temperature_K : float
    charge : int
        Carrier charge number z (1 for Li+).
    haven_ratio : float
        H_R = D_tracer / D_sigma (1: uncorrelated; measured values for Li conductors
        are often 0.3-0.7, which raise sigma).
    """
    if temperature_K <= 0 or haven_ratio <= 0 or n_per_cm3 < 0:
        raise FitError("Nernst-Einstein needs T > 0, H_R > 0 and n >= 0")
    q = charge * E_CHARGE_C
    # S/cm = (1/cm^3) C^2 (cm^2/s) / (J/K K)
    return n_per_cm3 * q * q * d_cm2_s / (K_B_J_K * temperature_K * haven_ratio)


def site_spacing_A(positions_A: np.ndarray, cell: np.ndarray) -> float:
    """Median nearest-neighbour distance of the atoms of one frame, A (minimum image).

    Clipped to :data:`SITE_SPACING_BOUNDS_A`; the spacing of the sites the mobile atoms
    hop between (He et al.'s ``a``).
    """
    from ase.geometry import get_distances

    p = np.asarray(positions_A, dtype=float)
    if len(p) < 2:
        return float(np.mean(SITE_SPACING_BOUNDS_A))
    _, d = get_distances(p, cell=np.asarray(cell, dtype=float), pbc=True)
    d[np.diag_indices_from(d)] = np.inf
    a = float(np.median(d.min(axis=1)))
    lo, hi = SITE_SPACING_BOUNDS_A
    return float(min(max(a, lo), hi))


def count_hops(
    positions_A: np.ndarray,
    time_ps: np.ndarray,
    hop_distance_A: float,
    block_ps: float = HOP_BLOCK_PS,
) -> int:
    """Site-to-site hops of atoms in an unwrapped trajectory.

    Positions are averaged over blocks of ``block_ps`` (thermal vibration out); each atom
    is anchored at its first block mean, and a hop is counted (and the anchor moved)
    whenever a block mean lies more than :data:`HOP_THRESHOLD_FRACTION` ``hop_distance_A``
    from the anchor. A jump to a neighbouring site (distance ~ a) is one hop; a vibration
    inside a site, or a visit to an interstitial half-way, is none; a jump there and back
    is two.

    Parameters
    ----------
    positions_A : array (frames, atoms, 3)
        Unwrapped Cartesian positions of the mobile atoms, A.
    time_ps : array (frames,)
        Equally spaced times, ps.
    hop_distance_A : float
        Site spacing a, A.
    block_ps : float
        Averaging block, ps (at least one frame).

    Returns
    -------
    int
        Hops of all atoms together.
    """
    x = np.asarray(positions_A, dtype=float)
    t = np.asarray(time_ps, dtype=float)
    dt = float(t[1] - t[0]) if len(t) > 1 else block_ps
    w = max(1, int(round(block_ps / dt)))
    nb = x.shape[0] // w
    if nb < 2:
        return 0
    blocks = x[: nb * w].reshape(nb, w, x.shape[1], 3).mean(axis=1)
    r2 = (HOP_THRESHOLD_FRACTION * hop_distance_A) ** 2
    anchor = blocks[0].copy()
    hops = 0
    for b in blocks[1:]:
        moved = ((b - anchor) ** 2).sum(axis=1) > r2
        hops += int(moved.sum())
        anchor[moved] = b[moved]
    return hops


def he_rsd(n_eff_hops: float) -> float:
    """Relative standard deviation of D from the effective number of hops.

    RSD = 3.43 / sqrt(N_eff) + 0.04 (He, Zhu, Epstein and Mo, npj Comput. Mater. 4, 18
    (2018), fitted on AIMD of Li conductors; N_eff = N_mobile MSD(t) / a^2).
    """
    if not n_eff_hops > 0:
        return math.inf
    return 3.43 / math.sqrt(n_eff_hops) + 0.04


@dataclasses.dataclass(frozen=True)
class DiffusionChecks(Record):
    """Whether an MSD is diffusive enough to give D, and why not.

    Attributes
    ----------
    diffusive : bool
        All checks passed.
    n_hops : int
        Counted site-to-site hops of the mobile atoms (:func:`count_hops`).
    n_eff_hops : float
        He et al.'s effective hops, N_mobile MSD(window end) / a^2.
    site_spacing_A : float
        a, A.
    loglog_slope : float
        d ln MSD / d ln t over the fit window.
    msd_gain_A2 : float
        MSD(window end) - MSD(window start), A^2.
    needed_ps : float or None
        Estimated run length that would pass, at this temperature, ps (None when passed).
    reasons : tuple of str
        The checks that failed.
    thresholds : dict
        The thresholds used.
    """

    diffusive: bool
    n_hops: int
    n_eff_hops: float
    site_spacing_A: float
    loglog_slope: float
    msd_gain_A2: float
    needed_ps: float | None
    reasons: tuple[str, ...]
    thresholds: dict[str, float]

    @property
    def verdict(self) -> str:
        """One line: "diffusive" or "not diffusive: ... run longer (need about N ps)"."""
        if self.diffusive:
            return "diffusive"
        need = (
            f"need about {self.needed_ps:.3g} ps"
            if self.needed_ps and math.isfinite(self.needed_ps)
            else "need a much longer run or a higher temperature"
        )
        return f"not diffusive ({'; '.join(self.reasons)}): run longer ({need})"


def diffusion_checks(
    time_ps: np.ndarray,
    msd_A2: np.ndarray,
    positions_A: np.ndarray,
    n_mobile: int,
    site_spacing: float,
    fit_start_ps: float,
    fit_end_ps: float,
) -> DiffusionChecks:
    """The three diffusive checks of a mobile species' MSD and trajectory.

    Parameters
    ----------
    time_ps : array
        Lag times from 0, ps.
    msd_A2 : array
        3D MSD at those lags, A^2.
    positions_A : array (frames, n_mobile, 3)
        Unwrapped, drift-corrected positions of the mobile atoms, A.
    n_mobile : int
    site_spacing : float
        a, A.
    fit_start_ps, fit_end_ps : float
        The MSD fit window, ps.
    """
    t = np.asarray(time_ps, dtype=float)
    y = np.asarray(msd_A2, dtype=float)
    duration = float(t[-1])
    win = (t >= fit_start_ps - 1e-9) & (t <= fit_end_ps + 1e-9) & (t > 0)
    tw, yw = t[win], np.maximum(y[win], 1e-12)
    slope = float(np.polyfit(np.log(tw), np.log(yw), 1)[0]) if len(tw) >= 2 else 0.0
    gain = float(yw[-1] - yw[0]) if len(yw) else 0.0
    msd_end = float(yw[-1]) if len(yw) else 0.0
    n_hops = count_hops(positions_A, t, site_spacing)
    a2 = site_spacing**2
    n_eff = n_mobile * max(msd_end, 0.0) / a2
    reasons = []
    if n_hops < MIN_HOPS:
        reasons.append(f"{n_hops} Li hops counted, need {MIN_HOPS}")
    if slope < MIN_LOGLOG_SLOPE:
        reasons.append(f"MSD log-log slope {slope:.2f} < {MIN_LOGLOG_SLOPE}")
    if gain < MIN_MSD_GAIN_A2_FRACTION * a2:
        reasons.append(
            f"MSD grows {gain:.2g} A^2 over the fit window, need "
            f"{MIN_MSD_GAIN_A2_FRACTION * a2:.2g}"
        )
    needed = None
    if reasons:
        # time scales linearly with the events wanted (hops) and with the MSD gain wanted
        factors = [1.0]
        if n_hops < MIN_HOPS:
            factors.append(MIN_HOPS / n_hops if n_hops > 0 else 10.0 * MIN_HOPS)
        if gain < MIN_MSD_GAIN_A2_FRACTION * a2:
            factors.append(MIN_MSD_GAIN_A2_FRACTION * a2 / gain if gain > 0 else 10.0 * MIN_HOPS)
        needed = duration * max(factors)
    return DiffusionChecks(
        diffusive=not reasons,
        n_hops=n_hops,
        n_eff_hops=float(n_eff),
        site_spacing_A=float(site_spacing),
        loglog_slope=slope,
        msd_gain_A2=gain,
        needed_ps=needed,
        reasons=tuple(reasons),
        thresholds={
            "min_hops": MIN_HOPS,
            "min_loglog_slope": MIN_LOGLOG_SLOPE,
            "min_msd_gain_a2_fraction": MIN_MSD_GAIN_A2_FRACTION,
            "hop_block_ps": HOP_BLOCK_PS,
            "hop_threshold_fraction": HOP_THRESHOLD_FRACTION,
        },
    )


@dataclasses.dataclass(frozen=True)
class DiffusionResult(Record):
    """Diffusion and conductivity of one MD run.

    Attributes
    ----------
    temperature_K : float
        Mean temperature of the run (K), used in Nernst-Einstein.
    species : str
    n_mobile : int
    duration_ps : float
    d_cm2_s, d_err_cm2_s : float or None
        Tracer D (3D) and its standard uncertainty: the larger of the GLS error and He et
        al.'s hop-count error. None when the run is not diffusive (``checks``).
    axes : tuple of DiffusionFit
        x, y, z (Cartesian), c (along the c axis) and ab (plane normal to c); empty when
        not diffusive.
    anisotropy_c_ab : float or None
        D_c / D_ab.
    n_per_cm3 : float
        Density of the diffusing species, cm^-3.
    haven_ratio : float
    sigma_S_cm, sigma_err_S_cm : float or None
        Nernst-Einstein conductivity with ``haven_ratio``; None when not diffusive.
    msd_time_ps, msd_A2 : tuple of float
        The 3D MSD curve (subsampled to <= 200 points) for plots.
    assumptions : tuple of str
    provenance : Provenance
    checks : DiffusionChecks
        Hops counted, effective hops, MSD log-log slope and growth, and the verdict.
    d_err_gls_cm2_s, d_rsd_hops : float or None
        The two error estimates behind ``d_err_cm2_s``: GLS on the MSD, and the relative
        standard deviation 3.43/sqrt(N_eff) + 0.04 of He et al. (2018).
    d_tensor_cm2_s : tuple of tuple of float or None
        Tracer D tensor in the cell's Cartesian frame (GLS fits of the MSD along x, y, z and
        three diagonal directions over the 3D fit window), cm^2/s; None when not diffusive.
    sigma_polycrystal_S_cm, sigma_polycrystal_err_S_cm : float or None
        Conductivity of a random polycrystal of the crystal (a pressed pellet's bulk):
        ``sigma_S_cm`` (the orientation average, the polycrystal's upper bound) times the
        ratio of the effective-medium value of the tensor's principal values to their mean
        (:mod:`~halidelab.transport.polycrystal`); its error combines sigma's and the
        ratio's (jackknife over 8 blocks of Li atoms).
    """

    temperature_K: float
    species: str
    n_mobile: int
    duration_ps: float
    d_cm2_s: float | None
    d_err_cm2_s: float | None
    chi2_red: float
    axes: tuple[DiffusionFit, ...]
    anisotropy_c_ab: float | None
    n_per_cm3: float
    haven_ratio: float
    sigma_S_cm: float | None
    sigma_err_S_cm: float | None
    msd_time_ps: tuple[float, ...]
    msd_A2: tuple[float, ...]
    assumptions: tuple[str, ...]
    provenance: Provenance
    checks: DiffusionChecks
    d_err_gls_cm2_s: float | None = None
    d_rsd_hops: float | None = None
    d_tensor_cm2_s: tuple[tuple[float, float, float], ...] | None = None
    sigma_polycrystal_S_cm: float | None = None
    sigma_polycrystal_err_S_cm: float | None = None

    @property
    def diffusive(self) -> bool:
        """True when D, sigma and their errors are numbers (all checks passed)."""
        return self.checks.diffusive

    @property
    def verdict(self) -> str:
        """ "diffusive" or why not and how long to run."""
        v = self.checks.verdict
        return v if self.diffusive else v.replace(" ps)", f" ps at {self.temperature_K:.0f} K)")


#: Blocks of mobile atoms whose leave-one-out MSD tensors give the error of the pellet's
#: anisotropy ratio (tracer displacements of different atoms are nearly independent).
POLYCRYSTAL_BLOCKS = 8


#: the axis pairs of the tensor's off-diagonal elements
_PAIRS = ((0, 1), (0, 2), (1, 2))


def _block_msds(xm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MSD curves of blocks of atoms along x, y, z and along (e_i + e_j)/sqrt(2) for the
    pairs xy, xz, yz: (n_blocks, frames, 6), A^2, with the atom count of each block."""
    n = xm.shape[1]
    blocks = np.array_split(np.arange(n), min(POLYCRYSTAL_BLOCKS, n))
    out = np.empty((len(blocks), xm.shape[0], 6))
    for b, idx in enumerate(blocks):
        x = xm[:, idx]
        mixed = np.stack([(x[..., i] + x[..., j]) / math.sqrt(2.0) for i, j in _PAIRS], axis=-1)
        out[b, :, :3] = msd_fft(x)
        out[b, :, 3:] = msd_fft(mixed)
    return out, np.array([len(idx) for idx in blocks], dtype=float)


def _tensor_of(
    msds: np.ndarray, t: np.ndarray, n_atoms: int, start: float, end: float
) -> np.ndarray:
    """Tracer D tensor (cm^2/s) from the six MSD curves (frames, 6): each a GLS fit over the
    window (:func:`fit_diffusion`, 1D), M_ij = M_u - (M_ii + M_jj) / 2 off the diagonal."""
    rel = t - t[0]
    kw = {"n_atoms": n_atoms, "n_steps": len(t) - 1, "start_ps": start, "end_ps": end}
    d = [
        fit_diffusion(rel, msds[:, k], dimensions=1, direction="u", **kw).d_cm2_s for k in range(6)
    ]
    tensor = np.diag(d[:3])
    for k, (i, j) in enumerate(_PAIRS):
        tensor[i, j] = tensor[j, i] = d[3 + k] - 0.5 * (d[i] + d[j])
    return tensor


def polycrystal_ratio(
    xm: np.ndarray, t: np.ndarray, start_ps: float, end_ps: float
) -> tuple[np.ndarray, float, float | None]:
    """Tracer D tensor (cm^2/s) over a fit window, and the ratio of a random polycrystal's
    D to the orientation average (<= 1) with its jackknife error over blocks of atoms.

    Parameters
    ----------
    xm : array (frames, atoms, 3)
        Unwrapped positions of the mobile atoms, A.
    t : array (frames,)
        Times, ps (equally spaced).
    start_ps, end_ps : float
        The MSD fit window (lags), ps from the first frame.

    Returns
    -------
    tensor : ndarray (3, 3)
        From GLS fits of the MSD along x, y, z and three diagonal directions (the MSD's
        covariance makes least squares on its long lags several times noisier).
    ratio : float
        Effective-medium value of the principal values over their mean (negative principal
        values, an unresolved direction, and rounding-level ones count as 0).
    ratio_err : float or None
        None with fewer than two blocks of atoms.
    """
    from halidelab.transport.polycrystal import (
        conducting_principal_values,
        jackknife_se,
        polycrystal_conductivity,
        principal_values,
    )

    per_block, weights = _block_msds(xm)

    def ratio_of(tensor: np.ndarray) -> float:
        mean = float(principal_values(tensor).mean())  # trace / 3
        if mean <= 0:
            return 0.0
        return polycrystal_conductivity(conducting_principal_values(tensor)) / mean

    total = (per_block * weights[:, None, None]).sum(axis=0)
    n_all = int(weights.sum())
    tensor = _tensor_of(total / n_all, t, n_all, start_ps, end_ps)
    ratio = ratio_of(tensor)
    n = len(weights)
    if n < 2:
        return tensor, ratio, None
    err = jackknife_se(
        [
            ratio_of(
                _tensor_of(
                    (total - per_block[i] * weights[i]) / (n_all - weights[i]),
                    t,
                    int(n_all - weights[i]),
                    start_ps,
                    end_ps,
                )
            )
            for i in range(n)
        ]
    )
    return tensor, ratio, err


def analyse_positions(
    positions_A: np.ndarray,
    cell: np.ndarray,
    time_ps: np.ndarray,
    mobile: np.ndarray,
    temperature_K: float,
    species: str = "Li",
    haven_ratio: float = 1.0,
    start_ps: float | None = None,
    end_ps: float | None = None,
    framework: np.ndarray | None = None,
    provenance: Provenance | None = None,
    hop_distance_A: float | None = None,
) -> DiffusionResult:
    """D (3D, per axis, c vs ab) and Nernst-Einstein sigma from unwrapped positions.

    Parameters
    ----------
    positions_A : array (frames, atoms, 3)
        Unwrapped Cartesian positions, A.
    cell : array (3, 3)
        Lattice vectors (rows), A.
    time_ps : array (frames,)
        Equally spaced times, ps.
    mobile : bool array (atoms,)
        Atoms of the diffusing species.
    temperature_K : float
    haven_ratio : float
    start_ps, end_ps : float, optional
        MSD fit window (default 10%-50% of the run).
    framework : bool array, optional
        Atoms whose mean displacement is subtracted (drift of the frame); default the
        non-mobile atoms when they move.
    hop_distance_A : float, optional
        Site spacing a for the hop count and He et al.'s error (default
        :func:`site_spacing_A` of the first frame).

    Returns
    -------
    DiffusionResult
        With no D or sigma (None) when the trajectory is not diffusive: see ``checks``.
    """
    x = np.asarray(positions_A, dtype=float)
    t = np.asarray(time_ps, dtype=float)
    mob = np.asarray(mobile, dtype=bool)
    if x.ndim != 3 or len(t) != x.shape[0]:
        raise DataFormatError("positions must be (frames, atoms, 3) with one time per frame")
    if not mob.any():
        raise FitError(f"no {species} atoms to analyse")
    if len(t) < 5:
        raise FitError(
            f"{len(t)} frames are too few for a diffusion coefficient: write more frames"
        )
    dts = np.diff(t)
    if not np.allclose(dts, dts[0], rtol=1e-6):
        raise DataFormatError("frames are not equally spaced in time")
    fw = (~mob) if framework is None else np.asarray(framework, dtype=bool)
    assumptions = [
        "Li atoms diffuse independently (tracer D; collective effects in H_R)",
        "MSD diffusive over the fitted lags; Gaussian random-walk covariance",
        f"Haven ratio H_R = {haven_ratio:g} in Nernst-Einstein",
    ]
    if fw.any():
        drift = (x[:, fw] - x[0, fw]).mean(axis=1)
        if np.abs(drift).max() > 1e-8:
            x = x - drift[:, None, :]
            assumptions.append("framework centre-of-mass drift subtracted")
    xm = x[:, mob]
    msd = msd_fft(xm)  # (frames, 3)
    n_steps = len(t) - 1
    n_mob = int(mob.sum())
    cellm = np.asarray(cell, dtype=float)
    c_hat = cellm[2] / np.linalg.norm(cellm[2])
    # projections on c and on the plane normal to c
    disp_c = xm @ c_hat
    msd_c = msd_fft(np.stack([disp_c, np.zeros_like(disp_c), np.zeros_like(disp_c)], axis=-1))[:, 0]
    msd_tot = msd.sum(axis=1)
    msd_ab = msd_tot - msd_c
    kw = {"n_atoms": n_mob, "n_steps": n_steps, "start_ps": start_ps, "end_ps": end_ps}
    fit3 = fit_diffusion(t - t[0], msd_tot, dimensions=3, direction="3d", **kw)
    axes = tuple(
        fit_diffusion(t - t[0], msd[:, k], dimensions=1, direction=lab, **kw)
        for k, lab in enumerate("xyz")
    )
    fit_c = fit_diffusion(t - t[0], msd_c, dimensions=1, direction="c", **kw)
    fit_ab = fit_diffusion(t - t[0], msd_ab, dimensions=2, direction="ab", **kw)
    volume_cm3 = abs(np.linalg.det(cellm)) * A3_TO_CM3
    n_cm3 = n_mob / volume_cm3
    a = site_spacing_A(xm[0], cellm) if hop_distance_A is None else float(hop_distance_A)
    checks = diffusion_checks(t - t[0], msd_tot, xm, n_mob, a, fit3.fit_start_ps, fit3.fit_end_ps)
    assumptions.append(
        f"diffusive only with >= {MIN_HOPS} counted hops, MSD log-log slope >= {MIN_LOGLOG_SLOPE} "
        f"and MSD growth >= {MIN_MSD_GAIN_A2_FRACTION:g} a^2 over the fit window (a = {a:.2f} A)"
    )
    sub = np.unique(np.linspace(0, len(t) - 1, min(200, len(t))).round().astype(int))
    common = {
        "temperature_K": float(temperature_K),
        "species": species,
        "n_mobile": n_mob,
        "duration_ps": float(t[-1] - t[0]),
        "chi2_red": fit3.chi2_red,
        "n_per_cm3": float(n_cm3),
        "haven_ratio": float(haven_ratio),
        "msd_time_ps": tuple(float(v) for v in (t - t[0])[sub]),
        "msd_A2": tuple(float(v) for v in msd_tot[sub]),
        "checks": checks,
        "provenance": provenance
        or Provenance(
            method="msd-fft-gls",
            parameters={
                "start_ps": fit3.fit_start_ps,
                "end_ps": fit3.fit_end_ps,
                "haven_ratio": haven_ratio,
            },
        ),
    }
    if not checks.diffusive:
        return DiffusionResult(
            d_cm2_s=None,
            d_err_cm2_s=None,
            axes=(),
            anisotropy_c_ab=None,
            sigma_S_cm=None,
            sigma_err_S_cm=None,
            assumptions=tuple(assumptions),
            **common,
        )
    rsd = he_rsd(checks.n_eff_hops)
    d_err = max(fit3.d_err_cm2_s, rsd * abs(fit3.d_cm2_s))
    assumptions.append(
        f"D error: the larger of GLS ({fit3.d_err_cm2_s:.2g} cm2/s) and He et al. 2018 "
        f"3.43/sqrt(N_eff)+0.04 = {rsd:.2f} relative (N_eff = {checks.n_eff_hops:.0f} effective "
        "hops)"
    )
    sigma = nernst_einstein_S_cm(fit3.d_cm2_s, n_cm3, temperature_K, haven_ratio=haven_ratio)
    sigma_err = sigma * d_err / abs(fit3.d_cm2_s) if fit3.d_cm2_s != 0 else math.inf
    aniso = fit_c.d_cm2_s / fit_ab.d_cm2_s if fit_ab.d_cm2_s > 0 else None
    tensor, ratio, ratio_err = polycrystal_ratio(xm, t, fit3.fit_start_ps, fit3.fit_end_ps)
    poly = float(sigma) * ratio
    poly_err = (
        None
        if ratio_err is None
        else poly * math.hypot(sigma_err / sigma, ratio_err / ratio)
        if sigma > 0 and ratio > 0
        else math.inf
    )
    assumptions.append(
        "pellet (random polycrystal): sigma times the effective-medium value of the tracer D "
        f"tensor's principal values over their mean ({ratio:.2f}"
        + ("" if ratio_err is None else f" +- {ratio_err:.2f}")
        + ", Stroud, Phys. Rev. B 12, 3368 (1975)): a pellet's bulk only where the cell's "
        "anisotropy is the crystal's (not for an ordered model of a cation-disordered crystal)"
    )
    return DiffusionResult(
        d_cm2_s=fit3.d_cm2_s,
        d_err_cm2_s=float(d_err),
        axes=(*axes, fit_c, fit_ab),
        anisotropy_c_ab=aniso,
        sigma_S_cm=float(sigma),
        sigma_err_S_cm=float(sigma_err),
        assumptions=tuple(assumptions),
        d_err_gls_cm2_s=fit3.d_err_cm2_s,
        d_tensor_cm2_s=tuple(tuple(float(v) for v in row) for row in tensor),
        sigma_polycrystal_S_cm=poly,
        sigma_polycrystal_err_S_cm=poly_err,
        d_rsd_hops=float(rsd),
        **common,
    )


def analyse_trajectory(
    path: str | Path,
    species: str = "Li",
    haven_ratio: float = 1.0,
    start_ps: float | None = None,
    end_ps: float | None = None,
    skip_ps: float = 0.0,
    temperature_K: float | None = None,
) -> DiffusionResult:
    """:func:`analyse_positions` on an ASE trajectory written by :func:`run_md`.

    Parameters
    ----------
    path : path
        ``.traj`` (or any ASE-readable file with equally spaced frames; times from
        ``info["time_ps"]``).
    skip_ps : float
        Equilibration discarded from the start, ps.
    temperature_K : float, optional
        For Nernst-Einstein; default the mean kinetic temperature of the frames.
    """
    from ase.io import read

    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"trajectory not found: {path}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            frames = read(str(path), index=":")
        except Exception as exc:
            raise DataFormatError(f"cannot read trajectory {path.name}: {exc}") from None
    if not frames:
        raise DataFormatError(f"no frames in {path.name}")
    times = np.array([f.info.get("time_ps", np.nan) for f in frames], dtype=float)
    if np.isnan(times).any():
        raise DataFormatError(
            f"{path.name} has frames without info['time_ps']: write it with halidelab md"
        )
    if skip_ps < 0:
        raise ValueError(f"skip_ps must be >= 0, got {skip_ps}")
    keep = times >= times[0] + skip_ps - 1e-9
    if keep.sum() < 3:
        raise DataFormatError(
            f"{path.name} spans {times[-1] - times[0]:.3g} ps: skipping {skip_ps:g} ps leaves "
            f"{int(keep.sum())} frames; run longer or lower --skip-ps"
        )
    frames = [f for f, k in zip(frames, keep, strict=True) if k]
    times = times[keep]
    sym = np.array(frames[0].get_chemical_symbols())
    cell = frames[0].cell.array
    pos = unwrap(np.array([f.get_scaled_positions(wrap=False) for f in frames]), cell)
    if temperature_K is None:
        temps = [f.get_temperature() for f in frames if f.get_momenta().any()]
        if not temps:
            raise DataFormatError(f"{path.name} stores no velocities: pass temperature_K")
        temperature_K = float(np.mean(temps))
    fixed = np.zeros(len(sym), bool)
    for c in frames[0].constraints:
        if type(c).__name__ == "FixAtoms":
            fixed[c.index] = True
    return analyse_positions(
        pos,
        cell,
        times,
        sym == species,
        temperature_K,
        species=species,
        haven_ratio=haven_ratio,
        start_ps=start_ps,
        end_ps=end_ps,
        framework=(sym != species) & ~fixed,
        provenance=Provenance(
            method="msd-fft-gls",
            parameters={
                "trajectory": str(path),
                "skip_ps": skip_ps,
                "haven_ratio": haven_ratio,
                "start_ps": start_ps,
                "end_ps": end_ps,
            },
        ),
    )


@dataclasses.dataclass(frozen=True)
class MDArrhenius(Record):
    """Arrhenius analysis of D(T) and sigma(T) from MD, extrapolated to 300 K.

    Attributes
    ----------
    d_fit, sigma_fit : ArrheniusFit (as dict)
        From :func:`halidelab.arrhenius.fit_arrhenius`.
    ea_eV, ea_err_eV : float
        From D(T) (ln D vs 1/T).
    sigma_300K_S_cm, sigma_300K_low_S_cm, sigma_300K_high_S_cm : float
        Extrapolated conductivity with its 68% interval.
    warnings : tuple of str
        Far extrapolation, curvature.
    polycrystal : dict or None
        The same fit of a random polycrystal's (a pellet's) sigma(T): ``ea_eV``,
        ``ea_err_eV``, ``sigma_300K_S_cm`` and its 68 % bounds, ``temperatures_K``; or
        ``reason`` why there is none (fewer than two temperatures resolve it).
    """

    temperatures_K: tuple[float, ...]
    ea_eV: float
    ea_err_eV: float
    d_300K_cm2_s: float
    sigma_300K_S_cm: float
    sigma_300K_low_S_cm: float
    sigma_300K_high_S_cm: float
    haven_ratio: float
    d_fit: dict[str, Any]
    sigma_fit: dict[str, Any]
    warnings: tuple[str, ...]
    provenance: Provenance
    polycrystal: dict[str, Any] | None = None


def _polycrystal_fit(results: Sequence[DiffusionResult]) -> dict[str, Any]:
    """Arrhenius of the runs' random-polycrystal sigma, extrapolated to 300 K."""
    from halidelab.arrhenius import fit_arrhenius

    ok = [
        r
        for r in results
        if r.sigma_polycrystal_S_cm
        and r.sigma_polycrystal_err_S_cm is not None
        and r.sigma_polycrystal_err_S_cm < r.sigma_polycrystal_S_cm
    ]
    if len(ok) < 2:
        return {
            "reason": f"{len(ok)} diffusive temperature(s) resolve the polycrystal sigma (it "
            "needs 2): the crystal conducts in fewer than two directions within the runs' "
            "resolution"
        }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the orientation-average fit reports the same ones
        try:
            fit = fit_arrhenius(
                [r.temperature_K for r in ok],
                [r.sigma_polycrystal_S_cm for r in ok],
                [r.sigma_polycrystal_err_S_cm for r in ok],
                quantity="sigma",
                method="md-polycrystal-arrhenius",
            )
        except FitError as exc:
            return {"reason": f"the polycrystal Arrhenius fit failed: {exc}"}
        pred = fit.predict(EXTRAPOLATION_T_K)
    return {
        "temperatures_K": [float(r.temperature_K) for r in ok],
        "ea_eV": fit.ea_eV,
        "ea_err_eV": fit.ea_err_eV,
        "sigma_300K_S_cm": pred.value,
        "sigma_300K_low_S_cm": pred.low,
        "sigma_300K_high_S_cm": pred.high,
    }


def _merge_extrapolations(msgs: list[str]) -> list[str]:
    """One warning for the fits' extrapolations to 25 C and to :data:`EXTRAPOLATION_T_K`.

    ``fit_arrhenius`` warns about 298.15 K and ``predict`` about 300 K, two messages that
    differ only in the target; keep one naming both, with the numbers of the first.
    """
    ext = [m for m in msgs if m.startswith("extrapolating to ") and " from data" in m]
    if len(ext) < 2:
        return msgs
    targets = list(dict.fromkeys(m[len("extrapolating to ") : m.index(" from data")] for m in ext))
    merged = f"extrapolating to {' and '.join(targets)}{ext[0][ext[0].index(' from data') :]}"
    out = []
    for m in msgs:
        if m not in ext:
            out.append(m)
        elif merged not in out:
            out.append(merged)
    return out


def md_arrhenius(results: Sequence[DiffusionResult]) -> MDArrhenius:
    """Fit D(T) and sigma(T) of several MD runs and extrapolate to 300 K.

    Warns (in ``warnings``) when 300 K lies far below the fitted range (more than
    100 K, or 1000/T beyond the fitted span by more than its width) or the Arrhenius
    plot bends (from ``fit_arrhenius``'s curvature test).
    """
    from halidelab.arrhenius import fit_arrhenius

    if len(results) < 2:
        raise FitError("an Arrhenius fit needs MD at two or more temperatures")
    hr = {r.haven_ratio for r in results}
    if len(hr) > 1:
        raise FitError(f"runs use different Haven ratios {sorted(hr)}: analyse them with one")
    excluded = [f"{r.temperature_K:.0f} K: {r.verdict}" for r in results if not r.diffusive]
    results = [r for r in results if r.diffusive]
    if len(results) < 2:
        raise FitError(
            f"no Arrhenius fit: {len(excluded)} of the runs are not diffusive ({excluded[0]}); "
            "an Ea needs two or more diffusive temperatures"
        )
    bad = [r.temperature_K for r in results if not r.d_cm2_s > 0]
    if bad:
        raise FitError(
            f"D is not positive at {bad} K (no diffusion seen): run longer or hotter, "
            "or drop those temperatures"
        )
    T = [r.temperature_K for r in results]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dfit = fit_arrhenius(
            T,
            [r.d_cm2_s for r in results],
            [r.d_err_cm2_s for r in results],
            quantity="D",
            method="md-arrhenius",
        )
        sfit = fit_arrhenius(
            T,
            [r.sigma_S_cm for r in results],
            [r.sigma_err_S_cm for r in results],
            quantity="sigma",
            method="md-nernst-einstein-arrhenius",
        )
        pred = sfit.predict(EXTRAPOLATION_T_K)
    msgs = _merge_extrapolations(
        list(
            dict.fromkeys(
                [*dfit.warnings, *sfit.warnings, *(str(w.message) for w in caught)]
                + ([pred.warning] if pred.warning else [])
            )
        )
    )
    tmin = min(T)
    span = 1000 / tmin - 1000 / max(T)
    gap = 1000 / EXTRAPOLATION_T_K - 1000 / tmin
    if tmin - EXTRAPOLATION_T_K > 100 or (span > 0 and gap > span):
        msgs.append(
            f"300 K lies far below the simulated {tmin:g}-{max(T):g} K: the extrapolated "
            f"sigma assumes the same mechanism and Ea down to 300 K (1000/T gap {gap:.2f} vs "
            f"fitted span {span:.2f} K^-1)"
        )
    msgs += [f"excluded {e}" for e in excluded]
    return MDArrhenius(
        temperatures_K=tuple(float(t) for t in T),
        ea_eV=dfit.ea_eV,
        ea_err_eV=dfit.ea_err_eV,
        d_300K_cm2_s=float(dfit.value(EXTRAPOLATION_T_K)),
        sigma_300K_S_cm=pred.value,
        sigma_300K_low_S_cm=pred.low,
        sigma_300K_high_S_cm=pred.high,
        haven_ratio=hr.pop(),
        d_fit=dfit.to_dict(),
        sigma_fit=sfit.to_dict(),
        warnings=tuple(msgs),
        provenance=Provenance(method="md-arrhenius", parameters={"n_temperatures": len(T)}),
        polycrystal=_polycrystal_fit(results),
    )
