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
"""

from __future__ import annotations

import dataclasses
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


def fit_diffusion(time_ps: np.ndarray, msd_A2: np.ndarray, n_atoms: int, n_steps: int,
                  dimensions: int = 3, start_ps: float | None = None, end_ps: float | None = None,
                  max_points: int = 60, direction: str = "3d") -> DiffusionFit:
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
        raise FitError(f"fit window {start:.3g}-{end:.3g} ps holds fewer than 3 MSD points: "
                       "run longer or write frames more often")
    lags = np.unique(np.linspace(i0, i1, min(max_points, i1 - i0 + 1)).round().astype(int))
    tt, yy = t[lags], y[lags]
    A = np.stack([2 * dimensions * tt, np.ones_like(tt)], axis=1)
    base = _window_cov(lags, n_steps)  # per unit step variance, 1D
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
    return DiffusionFit(direction, dimensions, float(coef[0]) * A2_PS_TO_CM2_S,
                        err * A2_PS_TO_CM2_S, float(coef[1]), float(tt[0]), float(tt[-1]),
                        int(n_atoms), chi2_red)


# ----------------------------------------------------------------- from trajectories


def nernst_einstein_S_cm(d_cm2_s: float, n_per_cm3: float, temperature_K: float,
                         charge: int = 1, haven_ratio: float = 1.0) -> float:
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
    d_cm2_s, d_err_cm2_s : float
        Tracer D (3D) and its standard uncertainty.
    axes : tuple of DiffusionFit
        x, y, z (Cartesian), c (along the c axis) and ab (plane normal to c).
    anisotropy_c_ab : float
        D_c / D_ab.
    n_per_cm3 : float
        Density of the diffusing species, cm^-3.
    haven_ratio : float
    sigma_S_cm, sigma_err_S_cm : float
        Nernst-Einstein conductivity with ``haven_ratio``.
    msd_time_ps, msd_A2 : tuple of float
        The 3D MSD curve (subsampled to <= 200 points) for plots.
    assumptions : tuple of str
    provenance : Provenance
    """

    temperature_K: float
    species: str
    n_mobile: int
    duration_ps: float
    d_cm2_s: float
    d_err_cm2_s: float
    chi2_red: float
    axes: tuple[DiffusionFit, ...]
    anisotropy_c_ab: float | None
    n_per_cm3: float
    haven_ratio: float
    sigma_S_cm: float
    sigma_err_S_cm: float
    msd_time_ps: tuple[float, ...]
    msd_A2: tuple[float, ...]
    assumptions: tuple[str, ...]
    provenance: Provenance


def analyse_positions(positions_A: np.ndarray, cell: np.ndarray, time_ps: np.ndarray,
                      mobile: np.ndarray, temperature_K: float, species: str = "Li",
                      haven_ratio: float = 1.0, start_ps: float | None = None,
                      end_ps: float | None = None, framework: np.ndarray | None = None,
                      provenance: Provenance | None = None) -> DiffusionResult:
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
    """
    x = np.asarray(positions_A, dtype=float)
    t = np.asarray(time_ps, dtype=float)
    mob = np.asarray(mobile, dtype=bool)
    if x.ndim != 3 or len(t) != x.shape[0]:
        raise DataFormatError("positions must be (frames, atoms, 3) with one time per frame")
    if not mob.any():
        raise FitError(f"no {species} atoms to analyse")
    if len(t) < 5:
        raise FitError(f"{len(t)} frames are too few for a diffusion coefficient: write more frames")
    dts = np.diff(t)
    if not np.allclose(dts, dts[0], rtol=1e-6):
        raise DataFormatError("frames are not equally spaced in time")
    fw = (~mob) if framework is None else np.asarray(framework, dtype=bool)
    assumptions = ["Li atoms diffuse independently (tracer D; collective effects in H_R)",
                   "MSD diffusive over the fitted lags; Gaussian random-walk covariance",
                   f"Haven ratio H_R = {haven_ratio:g} in Nernst-Einstein"]
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
    axes = tuple(fit_diffusion(t - t[0], msd[:, k], dimensions=1, direction=lab, **kw)
                 for k, lab in enumerate("xyz"))
    fit_c = fit_diffusion(t - t[0], msd_c, dimensions=1, direction="c", **kw)
    fit_ab = fit_diffusion(t - t[0], msd_ab, dimensions=2, direction="ab", **kw)
    volume_cm3 = abs(np.linalg.det(cellm)) * A3_TO_CM3
    n_cm3 = n_mob / volume_cm3
    sigma = nernst_einstein_S_cm(fit3.d_cm2_s, n_cm3, temperature_K, haven_ratio=haven_ratio)
    sigma_err = sigma * fit3.d_err_cm2_s / abs(fit3.d_cm2_s) if fit3.d_cm2_s != 0 else math.inf
    aniso = fit_c.d_cm2_s / fit_ab.d_cm2_s if fit_ab.d_cm2_s > 0 else None
    sub = np.unique(np.linspace(0, len(t) - 1, min(200, len(t))).round().astype(int))
    return DiffusionResult(
        temperature_K=float(temperature_K), species=species, n_mobile=n_mob,
        duration_ps=float(t[-1] - t[0]), d_cm2_s=fit3.d_cm2_s, d_err_cm2_s=fit3.d_err_cm2_s,
        chi2_red=fit3.chi2_red, axes=(*axes, fit_c, fit_ab), anisotropy_c_ab=aniso,
        n_per_cm3=float(n_cm3), haven_ratio=float(haven_ratio), sigma_S_cm=float(sigma),
        sigma_err_S_cm=float(sigma_err),
        msd_time_ps=tuple(float(v) for v in (t - t[0])[sub]),
        msd_A2=tuple(float(v) for v in msd_tot[sub]), assumptions=tuple(assumptions),
        provenance=provenance or Provenance(method="msd-fft-gls", parameters={
            "start_ps": fit3.fit_start_ps, "end_ps": fit3.fit_end_ps, "haven_ratio": haven_ratio}),
    )


def analyse_trajectory(path: str | Path, species: str = "Li", haven_ratio: float = 1.0,
                       start_ps: float | None = None, end_ps: float | None = None,
                       skip_ps: float = 0.0, temperature_K: float | None = None) -> DiffusionResult:
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
        raise DataFormatError(f"{path.name} has frames without info['time_ps']: write it with halidelab md")
    if skip_ps < 0:
        raise ValueError(f"skip_ps must be >= 0, got {skip_ps}")
    keep = times >= times[0] + skip_ps - 1e-9
    if keep.sum() < 3:
        raise DataFormatError(
            f"{path.name} spans {times[-1] - times[0]:.3g} ps: skipping {skip_ps:g} ps leaves "
            f"{int(keep.sum())} frames; run longer or lower --skip-ps")
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
    return analyse_positions(pos, cell, times, sym == species, temperature_K, species=species,
                             haven_ratio=haven_ratio, start_ps=start_ps, end_ps=end_ps,
                             framework=(sym != species) & ~fixed,
                             provenance=Provenance(method="msd-fft-gls", parameters={
                                 "trajectory": str(path), "skip_ps": skip_ps,
                                 "haven_ratio": haven_ratio, "start_ps": start_ps, "end_ps": end_ps}))


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


def _merge_extrapolations(msgs: list[str]) -> list[str]:
    """One warning for the fits' extrapolations to 25 C and to :data:`EXTRAPOLATION_T_K`.

    ``fit_arrhenius`` warns about 298.15 K and ``predict`` about 300 K, two messages that
    differ only in the target; keep one naming both, with the numbers of the first.
    """
    ext = [m for m in msgs if m.startswith("extrapolating to ") and " from data" in m]
    if len(ext) < 2:
        return msgs
    targets = list(dict.fromkeys(m[len("extrapolating to "):m.index(" from data")] for m in ext))
    merged = f"extrapolating to {' and '.join(targets)}{ext[0][ext[0].index(' from data'):]}"
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
    bad = [r.temperature_K for r in results if not r.d_cm2_s > 0]
    if bad:
        raise FitError(f"D is not positive at {bad} K (no diffusion seen): run longer or hotter, "
                       "or drop those temperatures")
    T = [r.temperature_K for r in results]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dfit = fit_arrhenius(T, [r.d_cm2_s for r in results], [r.d_err_cm2_s for r in results],
                             quantity="D", method="md-arrhenius")
        sfit = fit_arrhenius(T, [r.sigma_S_cm for r in results], [r.sigma_err_S_cm for r in results],
                             quantity="sigma", method="md-nernst-einstein-arrhenius")
        pred = sfit.predict(EXTRAPOLATION_T_K)
    msgs = _merge_extrapolations(list(dict.fromkeys(
        [*dfit.warnings, *sfit.warnings, *(str(w.message) for w in caught)]
        + ([pred.warning] if pred.warning else []))))
    tmin = min(T)
    span = 1000 / tmin - 1000 / max(T)
    gap = 1000 / EXTRAPOLATION_T_K - 1000 / tmin
    if tmin - EXTRAPOLATION_T_K > 100 or (span > 0 and gap > span):
        msgs.append(f"300 K lies far below the simulated {tmin:g}-{max(T):g} K: the extrapolated "
                    f"sigma assumes the same mechanism and Ea down to 300 K (1000/T gap {gap:.2f} vs "
                    f"fitted span {span:.2f} K^-1)")
    return MDArrhenius(
        temperatures_K=tuple(float(t) for t in T), ea_eV=dfit.ea_eV, ea_err_eV=dfit.ea_err_eV,
        d_300K_cm2_s=float(dfit.value(EXTRAPOLATION_T_K)), sigma_300K_S_cm=pred.value,
        sigma_300K_low_S_cm=pred.low, sigma_300K_high_S_cm=pred.high,
        haven_ratio=hr.pop(), d_fit=dfit.to_dict(), sigma_fit=sfit.to_dict(), warnings=tuple(msgs),
        provenance=Provenance(method="md-arrhenius", parameters={"n_temperatures": len(T)}),
    )
