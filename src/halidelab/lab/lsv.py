"""Linear sweep voltammetry: oxidation onset potential of a solid electrolyte.

An anodic sweep of an SSE/carbon composite against Li (or Li-In) stays near zero current
until the electrolyte oxidises, then the current rises. Two onsets are reported, as the
halide literature does (Chen et al. ChemComm 2025 quote 4.02 V vs Li/Li+ for
Li1.8Zr0.8Nb0.2Cl6):

Threshold onset
    The first potential after which the current density stays above ``threshold``
    (e.g. 0.01 mA/cm2), by linear interpolation between the two samples around the
    crossing. Raw current by default (what people read off the plot); the background
    can be subtracted.

Tangent onset
    Intersection of two straight lines:

    * the *baseline tangent*: least squares over the flat region of the sweep, from
      5% of the potential range after the start (skipping the capacitive transient) to
      ``baseline_gap_V`` (0.1 V) below the threshold onset; or a window the user gives;
    * the *rising-branch tangent*: least squares over the first ``rise_window_V``
      (50 mV) of the rise, starting where the baseline-subtracted current leaves the
      noise band for good (5 standard deviations of the baseline residuals); or a
      window the user gives.

    For an exponential (Tafel) rise I ~ exp((E - E_on)/b) a tangent drawn at current
    I_t meets the baseline about b (1 - I_on/I_t) above E_on, so the further up the rise
    a tangent is drawn, the later the onset. Taking it over the first 50 mV of the rise
    keeps that bias below ~b/2; both windows are reported so a reader can see them.

Only the forward (anodic) sweep is used: data after the highest potential are dropped.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from halidelab.errors import DataFormatError, FitError
from halidelab.lab import tables
from halidelab.plotting import pyplot, savefig
from halidelab.records import Provenance, Record


@dataclasses.dataclass(frozen=True)
class LSVOnset(Record):
    """Oxidation onset by tangent intersection and by a current threshold.

    Currents are densities in mA/cm2 when an area was given (``current_unit`` says
    which), otherwise currents in mA.
    """

    onset_tangent_V: float
    onset_threshold_V: float
    threshold: float
    current_unit: str
    baseline_window_V: tuple[float, float]
    baseline_slope: float
    baseline_intercept: float
    rise_window_V: tuple[float, float]
    rise_slope: float
    rise_intercept: float
    noise: float
    scan_start_V: float
    scan_end_V: float
    area_cm2: float | None
    subtract_baseline: bool
    provenance: Provenance


def _forward_sweep(e: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = tables.finite_rows(e, j)
    e, j = e[ok], j[ok]
    if e.size < 20:
        raise DataFormatError(f"only {e.size} readable points in the sweep; an LSV needs more")
    k = int(np.argmax(e))
    e, j = e[: k + 1], j[: k + 1]
    if e[-1] - e[0] <= 0.2:
        raise DataFormatError(
            f"the sweep spans only {e[-1] - e[0]:.3f} V upwards; an anodic LSV "
            "from OCV to ~5 V is expected"
        )
    return e, j


def _linfit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    a, b = np.polyfit(x, y, 1)
    return float(a), float(b)


def _crossing(e: np.ndarray, j: np.ndarray, level: float) -> float | None:
    """First potential after which j stays >= level (linear interpolation)."""
    below = np.flatnonzero(j < level)
    if below.size == 0:
        return float(e[0])
    k = int(below[-1])
    if k == e.size - 1:
        return None
    e0, e1, j0, j1 = e[k], e[k + 1], j[k], j[k + 1]
    return float(e0 + (level - j0) * (e1 - e0) / (j1 - j0))


def oxidation_onset(
    potential_V: Sequence[float],
    current: Sequence[float],
    *,
    threshold: float,
    area_cm2: float | None = None,
    current_unit: str | None = None,
    baseline_window: tuple[float, float] | None = None,
    rise_window: tuple[float, float] | None = None,
    baseline_gap_V: float = 0.1,
    rise_window_V: float = 0.05,
    noise_sigmas: float = 5.0,
    subtract_baseline: bool = False,
    source: str = "",
) -> LSVOnset:
    """Oxidation onset of an anodic LSV by tangents and by a threshold.

    Parameters
    ----------
    potential_V : array-like
        Working-electrode potential, V (vs the reference of the cell, usually Li/Li+).
    current : array-like
        Current in mA, or current density in mA/cm2 if ``area_cm2`` is None and
        ``current_unit`` is ``"mA/cm2"``. With ``area_cm2`` the current (mA) is divided
        by it.
    threshold : float
        Threshold in the same unit as the (possibly area-normalised) current.
    baseline_window, rise_window : (float, float), optional
        Potential windows (V) of the two tangents; chosen from the data if not given.
    baseline_gap_V : float
        The automatic baseline ends this far below the threshold onset.
    rise_window_V : float
        Width of the automatic rising-branch window, V.
    noise_sigmas : float
        The rise starts where the baseline-subtracted current stays above this many
        standard deviations of the baseline residuals.
    subtract_baseline : bool
        Apply the threshold to the baseline-subtracted current instead of the raw one.

    Returns
    -------
    LSVOnset

    Raises
    ------
    FitError
        The current never reaches the threshold, or a window holds too few points.
    """
    if not (math.isfinite(threshold) and threshold > 0):
        raise DataFormatError(
            f"the onset threshold must be a positive current (density), "
            f"got {threshold:g}: give --threshold e.g. 0.01mA/cm2 or 1uA"
        )
    e, j = _forward_sweep(np.asarray(potential_V, dtype=float), np.asarray(current, dtype=float))
    unit = current_unit or "mA"
    if area_cm2 is not None:
        if area_cm2 <= 0:
            raise DataFormatError("electrode area must be positive")
        j = j / area_cm2
        unit = "mA/cm2"
    span = e[-1] - e[0]
    e_thr = _crossing(e, j, threshold)
    if e_thr is None:
        raise FitError(
            f"{source or 'LSV'}: the current never stays above the threshold "
            f"{threshold:g} {unit} (max {np.max(j):.3g} {unit} at "
            f"{e[np.argmax(j)]:.3f} V); "
            "lower the threshold or sweep further"
        )
    if baseline_window is None:
        lo = e[0] + 0.05 * span
        baseline_window = (float(lo), float(e_thr - baseline_gap_V))
    bmask = (e >= baseline_window[0]) & (e <= baseline_window[1])
    if bmask.sum() < 5:
        raise FitError(
            f"{source or 'LSV'}: fewer than 5 points in the baseline window "
            f"{baseline_window[0]:.3f}-{baseline_window[1]:.3f} V (the current rises "
            "too early in the sweep); give --baseline-window"
        )
    b_slope, b_icpt = _linfit(e[bmask], j[bmask])
    resid = j[bmask] - (b_slope * e[bmask] + b_icpt)
    noise = float(np.std(resid, ddof=2)) if bmask.sum() > 2 else 0.0
    excess = j - (b_slope * e + b_icpt)
    if subtract_baseline:
        e_thr2 = _crossing(e, excess, threshold)
        if e_thr2 is None:
            raise FitError(
                f"{source or 'LSV'}: the baseline-subtracted current never stays above "
                f"{threshold:g} {unit}"
            )
        e_thr = e_thr2
    if rise_window is None:
        level = max(noise_sigmas * noise, 1e-12 * float(np.max(np.abs(j))))
        after = e > baseline_window[1]
        start = _crossing(e[after], excess[after], level) if after.any() else None
        if start is None:
            raise FitError(
                f"{source or 'LSV'}: no rise above the baseline noise after "
                f"{baseline_window[1]:.3f} V"
            )
        rise_window = (start, start + rise_window_V)
    rmask = (e >= rise_window[0]) & (e <= rise_window[1])
    if rmask.sum() < 3:
        raise FitError(
            f"{source or 'LSV'}: fewer than 3 points in the rising window "
            f"{rise_window[0]:.3f}-{rise_window[1]:.3f} V; sample more densely or "
            "give --rise-window"
        )
    r_slope, r_icpt = _linfit(e[rmask], j[rmask])
    if r_slope <= b_slope:
        raise FitError(
            f"{source or 'LSV'}: the rising tangent is not steeper than the baseline "
            f"in {rise_window[0]:.3f}-{rise_window[1]:.3f} V; give --rise-window"
        )
    e_tan = (b_icpt - r_icpt) / (r_slope - b_slope)
    return LSVOnset(
        onset_tangent_V=float(e_tan),
        onset_threshold_V=float(e_thr),
        threshold=float(threshold),
        current_unit=unit,
        baseline_window_V=(float(baseline_window[0]), float(baseline_window[1])),
        baseline_slope=b_slope,
        baseline_intercept=b_icpt,
        rise_window_V=(float(rise_window[0]), float(rise_window[1])),
        rise_slope=r_slope,
        rise_intercept=r_icpt,
        noise=noise,
        scan_start_V=float(e[0]),
        scan_end_V=float(e[-1]),
        area_cm2=area_cm2,
        subtract_baseline=subtract_baseline,
        provenance=Provenance(
            method="lsv-onset",
            parameters={
                "threshold": threshold,
                "unit": unit,
                "baseline_gap_V": baseline_gap_V,
                "rise_window_V": rise_window_V,
                "noise_sigmas": noise_sigmas,
                "source": source,
            },
        ),
    )


def read_lsv(path: str | Path) -> tuple[np.ndarray, np.ndarray, str]:
    """Potential (V) and current (mA, or mA/cm2 if the file has a density column).

    Returns (potential_V, current, unit).
    """
    df = tables.read_table(path)
    e = tables.pick(
        df,
        "voltage",
        prefer=("ewe", "<ewe>", "ecell", "potential", "voltage", "e"),
        avoid=("control", "|", "ece"),
        what="potential",
    )
    i = tables.pick(df, "current", prefer=("<i>", "i", "current"), avoid=("control", "|"))
    return e.to_numpy(dtype=float), i.to_numpy(dtype=float) * 1e3, "mA"


def plot_lsv(
    potential_V: Sequence[float],
    current: Sequence[float],
    onset: LSVOnset,
    path: str | Path | None = None,
    title: str = "",
) -> Any:
    """Current vs potential with both tangents, the threshold and the two onsets."""
    plt = pyplot()

    e = np.asarray(potential_V, dtype=float)
    j = np.asarray(current, dtype=float)
    if onset.area_cm2:
        j = j / onset.area_cm2
    fig, ax = plt.subplots(figsize=(4.8, 3.8), dpi=150)
    ax.plot(e, j, color="k", lw=1.2, label="LSV")
    x = np.linspace(onset.baseline_window_V[0], onset.scan_end_V, 50)
    ax.plot(
        x,
        onset.baseline_slope * x + onset.baseline_intercept,
        "--",
        color="tab:blue",
        lw=1,
        label="baseline tangent",
    )
    x = np.linspace(onset.onset_tangent_V - 0.05, onset.rise_window_V[1] + 0.05, 50)
    ax.plot(
        x,
        onset.rise_slope * x + onset.rise_intercept,
        "--",
        color="tab:red",
        lw=1,
        label="rising tangent",
    )
    ax.axhline(
        onset.threshold,
        color="tab:green",
        lw=0.8,
        ls=":",
        label=f"threshold {onset.threshold:g} {onset.current_unit}",
    )
    ax.axvline(onset.onset_tangent_V, color="tab:red", lw=0.6)
    ax.axvline(onset.onset_threshold_V, color="tab:green", lw=0.6)
    ax.set_xlabel("Potential (V vs Li/Li$^+$)")
    ax.set_ylabel(
        "Current density (mA/cm$^2$)" if onset.current_unit == "mA/cm2" else "Current (mA)"
    )
    top = max(float(np.max(j)), 5 * onset.threshold)
    ax.set_ylim(min(float(np.min(j)), 0) - 0.05 * top, top * 1.05)
    ax.set_title(
        title
        or f"onset {onset.onset_tangent_V:.2f} V (tangent), "
        f"{onset.onset_threshold_V:.2f} V (threshold)",
        fontsize=9,
    )
    ax.legend(frameon=False, fontsize=7, loc="upper left")
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        savefig(fig, path)
    return fig
