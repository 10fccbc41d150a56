"""DC polarisation: electronic conductivity of a solid electrolyte between blocking electrodes.

A constant voltage V across an SSE pellet between ion-blocking electrodes (Au, SS, C)
drives a current that decays (ionic polarisation) to a steady state carried by electrons
only. With several voltages, the steady currents I_ss(V) fall on a line of slope 1/R_e:

    I_ss = V / R_e (+ I_0),     sigma_e = L / (R_e A)          [S/cm with L in cm, A in cm2]

and the ionic transference number follows from the ionic conductivity sigma_i (from EIS):

    t_ion = sigma_i / (sigma_i + sigma_e).

Reference (Chen et al., ChemComm 2025): Li2ZrCl6 8.11e-9 S/cm, Li1.8Zr0.8Nb0.2Cl6
1.09e-9 S/cm, six orders of magnitude below sigma_i ~ 1e-3 S/cm.

The steady-state current of each run is the mean over the final part of the I(t) decay
(``tail_fraction`` of the duration); its steadiness is checked by the relative change of
a straight line fitted through that tail, slope x tail duration / mean current, and a
:class:`PolarizationWarning` is raised above ``drift_limit`` (2% by default): a current
still decaying gives a conductivity that is too high.
"""

from __future__ import annotations

import dataclasses
import math
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from halidelab.errors import DataFormatError, FitError
from halidelab.lab import tables
from halidelab.records import Provenance, Record


class PolarizationWarning(UserWarning):
    """A DC polarisation current that has not reached steady state."""


@dataclasses.dataclass(frozen=True)
class SteadyState(Record):
    """Steady-state current of one constant-voltage run.

    ``current_err_A`` combines the standard error of the tail mean and half the drift
    across the tail; ``relative_drift`` = fitted slope x tail duration / mean current.
    """

    voltage_V: float
    current_A: float
    current_err_A: float
    relative_drift: float
    steady: bool
    tail_start_s: float
    tail_end_s: float
    n_points: int
    source: str = ""


@dataclasses.dataclass(frozen=True)
class DCPolarizationResult(Record):
    """Electronic resistance and conductivity from steady currents at several voltages."""

    points: tuple[SteadyState, ...]
    fit_intercept: bool
    resistance_ohm: float
    resistance_err_ohm: float
    intercept_A: float
    intercept_err_A: float
    thickness_cm: float
    area_cm2: float
    sigma_e_S_cm: float
    sigma_e_err_S_cm: float
    ionic_sigma_S_cm: float | None
    ratio_ionic_electronic: float | None
    t_ion: float | None
    t_ion_err: float | None
    warnings: tuple[str, ...]
    provenance: Provenance


def steady_state_current(
    time_s: Sequence[float],
    current_A: Sequence[float],
    voltage_V: float,
    *,
    tail_fraction: float = 0.2,
    drift_limit: float = 0.02,
    source: str = "",
) -> SteadyState:
    """Steady-state current from the final part of a current decay.

    Parameters
    ----------
    time_s, current_A : array-like
        The chronoamperometry, s and A.
    voltage_V : float
        Applied voltage, V.
    tail_fraction : float
        Fraction of the run duration, at its end, averaged (0 < f <= 1).
    drift_limit : float
        Largest accepted |relative drift| across the tail before warning.
    source : str
        File name, for messages.

    Returns
    -------
    SteadyState
    """
    t = np.asarray(time_s, dtype=float)
    i = np.asarray(current_A, dtype=float)
    ok = tables.finite_rows(t, i)
    t, i = t[ok], i[ok]
    name = source or "run"
    if not 0 < tail_fraction <= 1:
        raise DataFormatError(f"tail fraction must be in (0, 1], got {tail_fraction}")
    if t.size < 10:
        raise DataFormatError(
            f"{name}: only {t.size} readable points; a DC polarisation run "
            "needs the whole current decay"
        )
    tables.check_time(name, t)
    t0 = t[-1] - tail_fraction * (t[-1] - t[0])
    tail = t >= t0
    if tail.sum() < 5:
        raise DataFormatError(
            f"{name}: fewer than 5 points in the last {tail_fraction:.0%} of "
            "the run; use a larger tail fraction"
        )
    tt, it = t[tail], i[tail]
    mean = float(it.mean())
    if mean == 0:
        raise FitError(f"{name}: zero mean current at steady state")
    slope = float(np.polyfit(tt - tt.mean(), it, 1)[0])
    span = float(tt[-1] - tt[0])
    drift = slope * span / mean
    sem = float(it.std(ddof=1) / math.sqrt(it.size))
    err = math.hypot(sem, 0.5 * abs(slope) * span)
    steady = abs(drift) <= drift_limit
    if not steady:
        warnings.warn(
            f"{name}: current still changes by {100 * drift:+.1f}% across the last "
            f"{tail_fraction:.0%} of the run (limit {100 * drift_limit:.0f}%): not at "
            "steady state; polarise longer or sigma_e is overestimated",
            PolarizationWarning,
            stacklevel=2,
        )
    return SteadyState(
        voltage_V=float(voltage_V),
        current_A=mean,
        current_err_A=err,
        relative_drift=drift,
        steady=steady,
        tail_start_s=float(tt[0]),
        tail_end_s=float(tt[-1]),
        n_points=int(it.size),
        source=source,
    )


def _wls_line(
    x: np.ndarray, y: np.ndarray, sy: np.ndarray, intercept: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares y = a x (+ b); covariance scaled up by chi2/dof when > 1."""
    sy = np.where(sy > 0, sy, np.max(np.abs(y)) * 1e-12 + 1e-300)
    w = 1.0 / sy**2
    X = np.column_stack([x, np.ones_like(x)]) if intercept else x[:, None]
    A = X.T @ (w[:, None] * X)
    p = np.linalg.solve(A, X.T @ (w * y))
    cov = np.linalg.inv(A)
    dof = len(x) - X.shape[1]
    if dof > 0:
        chi2 = float(np.sum(w * (y - X @ p) ** 2)) / dof
        cov = cov * max(1.0, chi2)
    return p, cov


def electronic_conductivity(
    points: Sequence[SteadyState],
    *,
    thickness_cm: float,
    area_cm2: float,
    thickness_err_cm: float = 0.0,
    area_err_cm2: float = 0.0,
    fit_intercept: bool | None = None,
    ionic_sigma_S_cm: float | None = None,
    ionic_sigma_err_S_cm: float = 0.0,
) -> DCPolarizationResult:
    """Fit I_ss(V), then sigma_e = L / (R A) and t_ion.

    Parameters
    ----------
    points : sequence of SteadyState
        One per voltage (at least one; an intercept needs three).
    thickness_cm, area_cm2 : float
        Pellet thickness L (cm) and electrode area A (cm2); with their uncertainties.
    fit_intercept : bool, optional
        Fit I = V/R + I0 (an offset current from the instrument or a side reaction) or
        I = V/R through the origin. Default: intercept with three or more voltages.
    ionic_sigma_S_cm : float, optional
        Ionic conductivity (EIS) for sigma_i/sigma_e and t_ion.

    Returns
    -------
    DCPolarizationResult
    """
    if not points:
        raise DataFormatError("no DC polarisation runs given")
    if thickness_cm <= 0 or area_cm2 <= 0:
        raise DataFormatError("thickness and area must be positive")
    v = np.array([p.voltage_V for p in points], dtype=float)
    i = np.array([p.current_A for p in points], dtype=float)
    si = np.array([p.current_err_A for p in points], dtype=float)
    if len(set(np.round(v, 9))) < len(v):
        raise DataFormatError(
            f"two runs at the same voltage {sorted(v)}: give each run its own "
            "voltage (file column, name like dc_0.1V.csv, or --voltages)"
        )
    if fit_intercept is None:
        fit_intercept = len(points) >= 3
    if fit_intercept and len(points) < 3:
        raise FitError(
            "an I-V fit with intercept needs three or more voltages; fit through the "
            "origin (--no-intercept) or add runs"
        )
    p, cov = _wls_line(v, i, si, fit_intercept)
    g, g_err = float(p[0]), float(math.sqrt(cov[0, 0]))
    if g <= 0:
        raise FitError(
            f"the steady currents do not rise with voltage (slope {g:.3g} A/V): check "
            "the sign of voltages and currents"
        )
    b, b_err = (float(p[1]), float(math.sqrt(cov[1, 1]))) if fit_intercept else (0.0, 0.0)
    r, r_err = 1.0 / g, g_err / g**2
    sigma = thickness_cm / (r * area_cm2)
    rel = math.sqrt(
        (g_err / g) ** 2 + (thickness_err_cm / thickness_cm) ** 2 + (area_err_cm2 / area_cm2) ** 2
    )
    notes = [
        f"{p.source or p.voltage_V}: not steady ({100 * p.relative_drift:+.1f}% drift)"
        for p in points
        if not p.steady
    ]
    ratio = t_ion = t_err = None
    if ionic_sigma_S_cm is not None:
        if ionic_sigma_S_cm <= 0:
            raise DataFormatError("ionic conductivity must be positive")
        si_ = ionic_sigma_S_cm
        ratio = si_ / sigma
        t_ion = si_ / (si_ + sigma)
        # d t/d sigma_e = -si/(si+se)^2 ; d t/d sigma_i = se/(si+se)^2
        t_err = math.hypot(si_ * rel * sigma, sigma * ionic_sigma_err_S_cm) / (si_ + sigma) ** 2
    return DCPolarizationResult(
        points=tuple(points),
        fit_intercept=bool(fit_intercept),
        resistance_ohm=r,
        resistance_err_ohm=r_err,
        intercept_A=b,
        intercept_err_A=b_err,
        thickness_cm=thickness_cm,
        area_cm2=area_cm2,
        sigma_e_S_cm=sigma,
        sigma_e_err_S_cm=sigma * rel,
        ionic_sigma_S_cm=ionic_sigma_S_cm,
        ratio_ionic_electronic=ratio,
        t_ion=t_ion,
        t_ion_err=t_err,
        warnings=tuple(notes),
        provenance=Provenance(
            method="dc-polarization",
            parameters={
                "fit_intercept": bool(fit_intercept),
                "n_voltages": len(points),
                "sources": [pt.source for pt in points],
            },
        ),
    )


_VOLTAGE_IN_NAME = re.compile(r"(?<![\d.])([-+]?\d+(?:[.p]\d+)?)\s*(mV|V)(?![A-Za-z])")


def voltage_from_name(name: str | Path) -> float | None:
    """Applied voltage from a file name such as ``dc_0.1V.csv`` or ``pol_100mV.txt``; V."""
    m = _VOLTAGE_IN_NAME.search(Path(name).stem)
    if not m:
        return None
    value = float(m.group(1).replace("p", "."))
    return value * (1e-3 if m.group(2) == "mV" else 1.0)


def read_polarization(
    path: str | Path,
    voltage_V: float | None = None,
    *,
    tail_fraction: float = 0.2,
    drift_limit: float = 0.02,
) -> SteadyState:
    """Read one constant-voltage run (CSV/TXT/.mpt/.mpr) and return its steady state.

    The voltage is, in order: ``voltage_V`` if given, the median of the file's voltage
    column (``Ewe``/``Ecell``/``Voltage``) over the tail, the value in the file name.
    """
    path = Path(path)
    df = tables.read_table(path)
    t = tables.pick(df, "time", prefer=("time",), avoid=("control", "step"))
    i = tables.pick(df, "current", prefer=("<i>", "current", "i"), avoid=("control", "|"))
    if voltage_V is None:
        try:
            v = tables.pick(
                df,
                "voltage",
                prefer=("ewe", "ecell", "voltage", "potential", "e"),
                avoid=("control", "|"),
            )
        except DataFormatError:
            v = None
        if v is not None and np.isfinite(v).any():
            tt = t.to_numpy(dtype=float)
            tail = tt >= np.nanmax(tt) - tail_fraction * (np.nanmax(tt) - np.nanmin(tt))
            voltage_V = float(np.nanmedian(v.to_numpy(dtype=float)[tail]))
        else:
            voltage_V = voltage_from_name(path)
    if voltage_V is None:
        raise DataFormatError(
            f"{path.name}: no voltage column and no voltage in the file name; "
            "name it like dc_0.1V.csv or pass the voltages (--voltages)"
        )
    return steady_state_current(
        t.to_numpy(),
        i.to_numpy(),
        voltage_V,
        tail_fraction=tail_fraction,
        drift_limit=drift_limit,
        source=path.name,
    )


def simulate_decay(
    voltage_V: float,
    sigma_e_S_cm: float,
    *,
    thickness_cm: float,
    area_cm2: float,
    i0_A: float | None = None,
    tau_s: float = 600.0,
    duration_s: float = 7200.0,
    dt_s: float = 5.0,
    noise: float = 0.01,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic polarisation decay I(t) = I_ss + I0 exp(-t/tau) with Gaussian noise.

    ``I_ss = V sigma_e A / L``; ``noise`` is the standard deviation relative to I_ss;
    ``i0_A`` defaults to 100 I_ss. Returns (time_s, current_A).
    """
    rng = np.random.default_rng(seed)
    i_ss = voltage_V * sigma_e_S_cm * area_cm2 / thickness_cm
    i0 = 100 * i_ss if i0_A is None else i0_A
    t = np.arange(0.0, duration_s + dt_s / 2, dt_s)
    i = i_ss + i0 * np.exp(-t / tau_s) + rng.normal(0.0, noise * abs(i_ss), t.size)
    return t, i
