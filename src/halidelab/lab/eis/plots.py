"""Nyquist and Bode figures of spectra and fits."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from halidelab.lab.eis.records import EISFit
from halidelab.lab.eis_io import ImpedanceSpectrum
from halidelab.plotting import pyplot, savefig


def _model_curve(fit: EISFit) -> tuple[np.ndarray, np.ndarray]:
    f = fit.spectrum.f
    ff = np.logspace(np.log10(f.max()), np.log10(f.min()), 300)
    return ff, fit.model(ff)


def plot_nyquist(
    data: EISFit | ImpedanceSpectrum | Sequence[EISFit | ImpedanceSpectrum],
    path: str | Path | None = None,
    ax=None,
    labels: Sequence[str] | None = None,
    zoom: float | None = None,
):
    """Nyquist plot (-Z'' vs Z', ohm, equal aspect); fits drawn as lines over the points.

    Parameters
    ----------
    data : EISFit or ImpedanceSpectrum, or a list of them
    path : str or Path, optional
        Write PNG/SVG/PDF (by suffix).
    ax : matplotlib Axes, optional
    labels : list of str, optional
    zoom : float, optional
        Show only Z' up to ``zoom`` times the largest total resistance (to see the arcs
        next to a long tail). Default: 2.5 when a fitted blocking tail would otherwise
        squeeze the arcs into a corner, else everything.
    """
    plt = pyplot()
    items = list(data) if isinstance(data, list | tuple) else [data]
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.4, 4.0), dpi=150)
    else:
        fig = ax.figure
    labels = list(labels) if labels else [None] * len(items)
    xmax = 0.0
    r_tot = 0.0
    for i, (it, lab) in enumerate(zip(items, labels, strict=True)):
        spec = it.spectrum if isinstance(it, EISFit) else it
        z = spec.z
        if lab is None:
            lab = (
                f"{spec.temperature_K - 273.15:.0f} °C"
                if spec.temperature_K
                else Path(spec.source).name
            )
        ax.plot(z.real, -z.imag, "o", ms=3.5, mfc="white", color=f"C{i}", label=lab)
        if isinstance(it, EISFit):
            _, zm = _model_curve(it)
            ax.plot(zm.real, -zm.imag, "-", color=f"C{i}", lw=1.2)
            r_tot = max(r_tot, it.r_total_ohm)
        xmax = max(xmax, float(np.max(z.real)), float(np.max(-z.imag)))
    if zoom is None and r_tot > 0 and xmax > 5 * r_tot:
        zoom = 2.5
    if zoom and r_tot > 0:
        xmax = zoom * r_tot
    lo = -0.05 * xmax  # start at the origin; inductive points below zero stay in view a bit
    ax.set_xlim(lo, xmax * 1.05)
    ax.set_ylim(lo, xmax * 1.05)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("Z′ (Ω)")
    ax.set_ylabel("−Z″ (Ω)")
    if any(lab for lab in labels) or len(items) > 1 or items:
        ax.legend(frameon=False, fontsize=7)
    if isinstance(items[0], EISFit) and len(items) == 1 and items[0].conductivity is not None:
        c = items[0].conductivity
        ax.set_title(
            f"σ = {c.sigma_S_cm * 1e3:.3g} ± {c.sigma_err_S_cm * 1e3:.2g} mS cm$^{{-1}}$",
            fontsize=9,
        )
    fig.tight_layout()
    if path is not None:
        savefig(fig, path)
    return fig


def plot_bode(data: EISFit | ImpedanceSpectrum, path: str | Path | None = None):
    """Bode plot: |Z| (ohm, log) and -phase (degrees) against frequency (Hz, log)."""
    plt = pyplot()
    spec = data.spectrum if isinstance(data, EISFit) else data
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(4.4, 4.6), dpi=150, sharex=True)
    f, z = spec.f, spec.z
    a1.loglog(f, np.abs(z), "o", ms=3.5, mfc="white", color="C0", label="data")
    a2.semilogx(f, -np.degrees(np.angle(z)), "o", ms=3.5, mfc="white", color="C0")
    if isinstance(data, EISFit):
        ff, zm = _model_curve(data)
        a1.loglog(ff, np.abs(zm), "-", color="C1", label=f"fit {data.circuit}")
        a2.semilogx(ff, -np.degrees(np.angle(zm)), "-", color="C1")
    a1.set_ylabel("|Z| (Ω)")
    a2.set_ylabel("−phase (°)")
    a2.set_xlabel("frequency (Hz)")
    a1.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    if path is not None:
        savefig(fig, path)
    return fig
