"""Observed / calculated / difference figure of a refinement."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from halidelab.errors import FitError
from halidelab.lab.xrd.records import LatticeRefinement
from halidelab.plotting import pyplot, savefig


def plot_refinement(
    result: LatticeRefinement, path: str | Path | None = None, title: str | None = None
):
    """Observed, calculated and difference curves with reflection tick marks.

    Returns the matplotlib Figure; saves it to ``path`` (PNG/SVG/PDF) when given.
    """
    plt = pyplot()
    if result.curves is None:
        raise FitError("this refinement carries no curves to plot")
    cv = result.curves
    x = np.asarray(cv.two_theta_deg)
    yo, yc = np.asarray(cv.observed), np.asarray(cv.calculated)
    diff = yo - yc
    fig, ax = plt.subplots(figsize=(9, 5))
    ax.plot(x, yo, "o", ms=2.2, mfc="none", mew=0.6, color="0.15", label="observed")
    ax.plot(x, yc, "-", lw=1.0, color="tab:red", label="calculated")
    ax.plot(x, np.asarray(cv.background), "-", lw=0.8, color="tab:green", label="background")
    span = float(yo.max() - min(yo.min(), 0))
    tick_y = yo.min() - 0.06 * span
    ax.vlines(
        cv.reflection_two_theta_deg,
        tick_y - 0.04 * span,
        tick_y,
        color="tab:blue",
        lw=0.8,
        label=f"{result.model_formula} reflections",
    )
    off = tick_y - 0.10 * span - diff.max()
    ax.plot(x, diff + off, "-", lw=0.8, color="tab:gray", label="obs - calc")
    ax.axhline(off, color="0.7", lw=0.5)
    ax.set_xlabel("2θ (°)" + (" Cu Kα1/Kα2" if result.kalpha2_ratio > 0 else ""))
    ax.set_ylabel("intensity (counts)")
    ax.set_yticks([])
    cell = (
        f"a = {result.a_A:.4f}({_digits(result.a_err_A)}) Å, "
        f"c = {result.c_A:.4f}({_digits(result.c_err_A)}) Å"
    )
    if result.crystal_system in ("monoclinic", "orthorhombic", "triclinic"):
        cell = (
            f"a = {result.a_A:.4f}, b = {result.b_A:.4f}, c = {result.c_A:.4f} Å, "
            f"β = {result.beta_deg:.3f}°"
        )
    ax.set_title(
        title
        or f"{result.model_formula} Pawley fit: {cell}, "
        f"V = {result.volume_A3:.2f} Å³, Rwp = {100 * result.rwp:.2f}%",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="upper right", frameon=False)
    ax.set_xlim(x[0], x[-1])
    fig.tight_layout()
    if path is not None:
        savefig(fig, path, dpi=150)
    return fig


def _digits(err: float) -> str:
    """Uncertainty in units of the last of 4 decimals, e.g. 0.0012 -> '12'."""
    if not math.isfinite(err):
        return "?"
    return str(max(int(round(err * 1e4)), 1))
