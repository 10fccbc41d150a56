"""Figures shared by the reports: XRD patterns, BVSE map slices, NEB profiles, Arrhenius.

Every function takes stored results (the JSON dicts of the results store, or records)
and returns a matplotlib figure (Agg backend, nothing shown) that
:func:`halidelab.report.html.figure_html` embeds. Axes carry their quantities and units.
The BVSE slice is the one computation here: a plane of site energies evaluated at report
time from the stored structure (tens of milliseconds for a 130-atom cell), because the
bvse task keeps the barriers, not the 3D grid.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from halidelab.errors import StructureError

#: Elements drawn as anions on BVSE slices.
_ANIONS = frozenset({"F", "Cl", "Br", "I", "O", "S", "Se", "Te", "N"})


def _plt() -> Any:
    from halidelab.plotting import pyplot

    plt = pyplot()

    return plt


# -- XRD ---------------------------------------------------------------------------------------
def xrd_figure(
    patterns: Sequence[tuple[str, Mapping[str, Any] | None]],
    fwhm_deg: float = 0.1,
    step_deg: float = 0.02,
) -> Any:
    """Simulated powder patterns, broadened and stacked (the first at the bottom).

    Parameters
    ----------
    patterns : sequence of (label, pattern)
        ``pattern`` is an :class:`~halidelab.structures.xrd.XRDPattern` as a dict (the
        ``xrd`` task result, or ``simulate_pattern(...).to_dict()``); None entries are
        skipped.
    fwhm_deg : float
        Pseudo-Voigt width (deg 2θ, eta = 0.5), about a lab diffractometer's.
    step_deg : float
        Grid step, deg 2θ.

    Raises
    ------
    ValueError
        No pattern to draw.
    """
    from halidelab.structures.xrd import XRDPattern

    pats = [(lab, XRDPattern.from_dict(dict(p))) for lab, p in patterns if p]
    if not pats:
        raise ValueError("no XRD pattern to draw")
    plt = _plt()
    lo = min(
        float(p.provenance.parameters.get("two_theta_range_deg", (10.0, 80.0))[0]) for _, p in pats
    )
    hi = max(
        float(p.provenance.parameters.get("two_theta_range_deg", (10.0, 80.0))[1]) for _, p in pats
    )
    grid = np.arange(lo, hi + step_deg / 2, step_deg)
    fig, ax = plt.subplots(figsize=(6.4, 1.0 + 1.0 * len(pats)))
    for i, (lab, p) in enumerate(pats):
        y = p.profile(grid, fwhm_deg=fwhm_deg, eta=0.5) + 110.0 * i
        ax.plot(grid, y, lw=0.8, color=f"C{i}")
        ax.text(hi, 110.0 * i + 70.0, f"{lab}  ", ha="right", fontsize=8, color=f"C{i}")
    p0 = pats[0][1]
    ax.set_xlim(lo, hi)
    line = p0.wavelength_label.replace("Ka", " Kα").replace("Kb", " Kβ")
    ax.set_xlabel(f"2θ (°), {line}, λ = {p0.wavelength_A:.4f} Å")
    ax.set_ylabel("intensity (arb. u., stacked)")
    ax.set_yticks([])
    fig.tight_layout()
    return fig


# -- BVSE slices -------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class BVSESlice:
    """One plane of a BVSE map in Cartesian in-plane coordinates.

    Attributes
    ----------
    plane : str
        ``"ab"`` or ``"ca"`` (the two cell vectors spanning it, the first horizontal).
    fixed_axis : str
        The third cell vector (``"c"`` for the ab plane).
    fixed : float
        Fractional coordinate of the plane along ``fixed_axis``.
    x_A, y_A : ndarray, shape (n1, n2)
        In-plane coordinates of the grid points, Å (x along the first vector).
    energies_eV : ndarray, shape (n1, n2)
        Site energy of the mobile ion relative to ``reference_eV``, eV.
    reference_eV : float
        Absolute energy taken as zero (the map minimum), eV.
    atoms : tuple of (str, float, float)
        Element and in-plane coordinates (Å) of the atoms within the tolerance of the plane.
    xlabel, ylabel : str
    """

    plane: str
    fixed_axis: str
    fixed: float
    x_A: np.ndarray
    y_A: np.ndarray
    energies_eV: np.ndarray
    reference_eV: float
    atoms: tuple[tuple[str, float, float], ...]
    xlabel: str
    ylabel: str


def bvse_slices(
    structure: Any,
    reference_eV: float | None = None,
    resolution_A: float = 0.2,
    mobile_ion: str = "Li",
    tolerance_A: float = 0.6,
    r_cut_A: float = 10.0,
) -> list[BVSESlice]:
    """BVSE site energies on two planes through the lowest-energy mobile-ion site.

    The planes are the ab plane and the plane spanned by c and a, both through the
    mobile-ion site of lowest BVSE energy; for the trigonal Li2ZrCl6 family the second
    holds the face-sharing Li chains along c. Energies are those of
    :func:`halidelab.transport.bvse.site_energy` (softBV), the same function as the
    bvse tier's map, so a contour at a stored percolation energy above the stored
    minimum (``reference_eV``) is the region where Li paths connect at that energy.

    Parameters
    ----------
    structure : Structure or dict
        Ordered structure (a stored ``structure`` dict is accepted).
    reference_eV : float, optional
        Absolute energy of zero (the bvse task's ``e_min_eV``); default the lowest
        energy on the two slices.
    resolution_A : float
        Grid spacing on the planes, Å.
    mobile_ion : str
    tolerance_A : float
        Atoms this close to a plane are drawn on it.
    r_cut_A : float
        Interaction cutoff, Å (the bvse tier's default).

    Raises
    ------
    StructureError
        No mobile ion in the structure.
    """
    from pymatgen.core import Structure

    from halidelab.transport.bvse import site_energy

    s = structure if isinstance(structure, Structure) else Structure.from_dict(dict(structure))
    mob = [i for i, site in enumerate(s) if site.specie.symbol == mobile_ion]
    if not mob:
        raise StructureError(f"{s.composition.reduced_formula} has no {mobile_ion}: no BVSE slice")
    lat = s.lattice.matrix
    frac = np.mod(s.frac_coords, 1.0)
    planes = (("ab", (0, 1), 2), ("ca", (2, 0), 1))
    names = "abc"
    grids = []
    for _, (i, j), _k in planes:
        ni = max(8, int(math.ceil(np.linalg.norm(lat[i]) / resolution_A)) + 1)
        nj = max(8, int(math.ceil(np.linalg.norm(lat[j]) / resolution_A)) + 1)
        grids.append(np.meshgrid(np.linspace(0, 1, ni), np.linspace(0, 1, nj), indexing="ij"))
    # one call for the mobile sites (to pick the plane) would need the planes' heights
    # first, so the sites go first and the planes second (two field builds, ~0.1 s each)
    e_sites = site_energy(s, frac[mob], mobile_ion, r_cut_A)
    f0 = frac[mob[int(np.argmin(e_sites))]]
    pts, shapes = [], []
    for (_, (i, j), k), (u, v) in zip(planes, grids, strict=True):
        f = np.zeros((*u.shape, 3))
        f[..., i], f[..., j], f[..., k] = u, v, f0[k]
        pts.append(f.reshape(-1, 3))
        shapes.append(u.shape)
    energies = site_energy(s, np.concatenate(pts), mobile_ion, r_cut_A)
    parts = np.split(energies, np.cumsum([int(np.prod(sh)) for sh in shapes])[:-1])
    ref = float(min(p.min() for p in parts)) if reference_eV is None else float(reference_eV)
    out = []
    volume = abs(float(np.linalg.det(lat)))
    for (name, (i, j), k), (u, v), e, sh in zip(planes, grids, parts, shapes, strict=True):
        e1 = lat[i] / np.linalg.norm(lat[i])
        w = lat[j] - (lat[j] @ e1) * e1
        e2 = w / np.linalg.norm(w)

        def xy(
            fi: np.ndarray, fj: np.ndarray, i=i, j=j, e1=e1, e2=e2
        ) -> tuple[np.ndarray, np.ndarray]:
            r = np.multiply.outer(fi, lat[i]) + np.multiply.outer(fj, lat[j])
            return r @ e1, r @ e2

        x, y = xy(u, v)
        spacing = volume / np.linalg.norm(np.cross(lat[i], lat[j]))
        dist = np.abs(((frac[:, k] - f0[k] + 0.5) % 1.0) - 0.5) * spacing
        atoms = []
        for idx in np.flatnonzero(dist <= tolerance_A):
            el = s[int(idx)].specie.symbol
            fi, fj = frac[idx, i], frac[idx, j]
            for di in (0.0, 1.0):  # repeat atoms on the cell edges on the opposite edge
                for dj in (0.0, 1.0):
                    if (di and fi > 0.02) or (dj and fj > 0.02):
                        continue
                    ax_, ay_ = xy(np.asarray(fi + di), np.asarray(fj + dj))
                    atoms.append((el, float(ax_), float(ay_)))
        out.append(
            BVSESlice(
                plane=name,
                fixed_axis=names[k],
                fixed=float(f0[k]),
                x_A=x,
                y_A=y,
                energies_eV=e.reshape(sh) - ref,
                reference_eV=ref,
                atoms=tuple(atoms),
                xlabel=f"along {names[i]} (Å)",
                ylabel=f"in plane, ⊥ {names[i]} (Å)",
            )
        )
    return out


def bvse_slice_figure(
    slices: Sequence[BVSESlice],
    e_max_eV: float = 2.0,
    levels: Mapping[str, float | None] | None = None,
    mobile_ion: str = "Li",
) -> Any:
    """Colour maps of BVSE slices with the percolation energies as contours.

    Parameters
    ----------
    slices : sequence of BVSESlice
        From :func:`bvse_slices`.
    e_max_eV : float
        Top of the colour scale (energies above are drawn at the top colour).
    levels : mapping, optional
        Label -> energy above the minimum (eV) drawn as a contour, e.g.
        ``{"1D percolation": 0.36, "3D percolation": 0.62}``; None values are skipped.
    mobile_ion : str
        Element drawn as open circles.
    """
    from matplotlib.lines import Line2D

    plt = _plt()
    widths = [float(np.ptp(sl.x_A)) or 1.0 for sl in slices]
    height = max(float(np.ptp(sl.y_A)) for sl in slices)
    fig_w = 9.0
    fig_h = max(2.6, min(6.0, fig_w * height / sum(widths) + 1.2))
    fig, axes = plt.subplots(
        1,
        len(slices),
        figsize=(fig_w, fig_h),
        squeeze=False,
        gridspec_kw={"width_ratios": widths},
        layout="constrained",
    )
    fig.get_layout_engine().set(wspace=0.12)
    bands = np.linspace(0.0, e_max_eV, max(5, int(round(e_max_eV / 0.1))) + 1)
    styles = ("-", "--", ":", "-.")
    handles = []
    mesh = None
    for ax, sl in zip(axes[0], slices, strict=True):
        # filled contours every ~0.1 eV: readable steps, and flat areas keep the PNG small
        mesh = ax.contourf(
            sl.x_A, sl.y_A, np.clip(sl.energies_eV, 0.0, e_max_eV), levels=bands, cmap="viridis"
        )
        for n, (lab, e) in enumerate((levels or {}).items()):
            if e is None or not 0.0 < e < e_max_eV:
                continue
            ax.contour(
                sl.x_A,
                sl.y_A,
                sl.energies_eV,
                levels=[e],
                colors="w",
                linewidths=0.9,
                linestyles=styles[n % len(styles)],
            )
            if ax is axes[0][0]:
                handles.append(
                    Line2D(
                        [], [], color="0.2", ls=styles[n % len(styles)], label=f"{lab}: {e:.2f} eV"
                    )
                )
        for kind, style in (
            (mobile_ion, dict(s=22, facecolors="none", edgecolors="w", linewidths=0.9)),
            ("anion", dict(s=10, c="0.75", edgecolors="k", linewidths=0.3)),
            ("cation", dict(s=26, c="tab:red", edgecolors="k", linewidths=0.4)),
        ):
            pts = [
                (x, y)
                for el, x, y in sl.atoms
                if (
                    el == mobile_ion
                    if kind == mobile_ion
                    else (el in _ANIONS)
                    if kind == "anion"
                    else (el != mobile_ion and el not in _ANIONS)
                )
            ]
            if pts:
                ax.scatter(*zip(*pts, strict=True), **style)
        other = sorted({el for el, _, _ in sl.atoms if el != mobile_ion and el not in _ANIONS})
        ax.set_title(
            f"{sl.plane[0]}{sl.plane[1]} plane through {mobile_ion} "
            f"({sl.fixed_axis} = {sl.fixed:.3f})" + (f"; red: {', '.join(other)}" if other else ""),
            fontsize=8,
        )
        ax.set_aspect("equal")
        ax.set_xlabel(sl.xlabel)
        ax.set_ylabel(sl.ylabel)
    fig.colorbar(
        mesh, ax=list(axes[0]), label=f"{mobile_ion}$^+$ site energy − E$_{{min}}$ (eV)", shrink=0.9
    )
    if handles:
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncol=len(handles),
            fontsize=8,
            frameon=False,
        )
    return fig


# -- NEB ---------------------------------------------------------------------------------------
def neb_profiles_figure(studies: Sequence[tuple[str, Mapping[str, Any] | None]]) -> Any:
    """CI-NEB energy profiles of every hop, one panel per study.

    Parameters
    ----------
    studies : sequence of (title, study)
        ``study`` is a stored ``neb`` result (:class:`~halidelab.transport.neb.NEBStudy`
        as a dict); studies without hops are skipped. Non-converged bands are dotted and
        say so; the 1D and 3D percolation barriers of the study are dashed lines.

    Raises
    ------
    ValueError
        No study with hops.
    """
    items = [(t, st) for t, st in studies if st and st.get("results")]
    if not items:
        raise ValueError("no NEB study with hops to draw")
    plt = _plt()
    fig, axes = plt.subplots(1, len(items), figsize=(4.4 * len(items), 3.4), squeeze=False)
    for ax, (title, st) in zip(axes[0], items, strict=True):
        for n, r in enumerate(st["results"]):
            conv = bool(r.get("converged"))
            d = r.get("direction")
            lab = (
                r["label"]
                + (f" [{d}]" if d and d != "unknown" else "")
                + ("" if conv else " (not conv.)")
            )
            ax.plot(
                r["reaction_coordinate_A"],
                r["energies_eV"],
                "o-" if conv else "o:",
                ms=3,
                color=f"C{n % 10}",
                label=lab,
            )
        perc = st.get("percolation") or {}
        for key, lab, ls in (
            ("ea_1d_eV", "1D percolation", "--"),
            ("ea_3d_eV", "3D percolation", "-."),
        ):
            if perc.get(key) is not None:
                ax.axhline(
                    perc[key], color="0.45", ls=ls, lw=0.8, label=f"{lab} {perc[key]:.2f} eV"
                )
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("reaction coordinate (Å)")
        ax.set_ylabel("E − E(initial) (eV)")
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


# -- Arrhenius ---------------------------------------------------------------------------------
def md_arrhenius_figure(
    items: Sequence[tuple[str, Mapping[str, Any] | None]],
    measured: Sequence[tuple[str, float, float]] = (),
    extrapolate_to_K: float = 300.0,
) -> Any:
    """Arrhenius plot of MD Nernst-Einstein conductivities, extrapolated to 300 K.

    Points with error bars and the fitted line with its 1-sigma band come from
    :func:`halidelab.arrhenius.plot_arrhenius`; the extrapolation to ``extrapolate_to_K``
    is dashed and ends in a square with the 68 % interval of the MD result.

    Parameters
    ----------
    items : sequence of (label, md_arrhenius)
        Stored :class:`~halidelab.transport.diffusion.MDArrhenius` dicts (entries
        without a ``sigma_fit``, e.g. failed fits, are skipped).
    measured : sequence of (label, temperature_K, sigma_S_cm)
        Measured conductivities drawn as black stars.
    extrapolate_to_K : float

    Raises
    ------
    ValueError
        No fit to draw.
    """
    from halidelab.arrhenius import ArrheniusFit, plot_arrhenius

    fits = [
        (lab, ArrheniusFit.from_dict(a["sigma_fit"]), a)
        for lab, a in items
        if a and a.get("sigma_fit")
    ]
    if not fits:
        raise ValueError("no MD Arrhenius fit to draw")
    _plt()
    fig = plot_arrhenius([f for _, f, _ in fits], labels=[lab for lab, _, _ in fits])
    ax = fig.axes[0]
    for i, (_lab, fit, a) in enumerate(fits):
        scale = 1e3 if fit.unit == "S/cm" else 1.0
        tt = np.linspace(extrapolate_to_K, fit.t_min_K, 60)
        ax.plot(1000.0 / tt, np.asarray(fit.value(tt)) * scale, "--", color=f"C{i}", lw=0.9)
        s300 = a.get("sigma_300K_S_cm")
        if s300:
            lo = s300 - a.get("sigma_300K_low_S_cm", s300)
            hi = a.get("sigma_300K_high_S_cm", s300) - s300
            ax.errorbar(
                [1000.0 / extrapolate_to_K],
                [s300 * scale],
                yerr=[[lo * scale], [hi * scale]],
                fmt="s",
                color=f"C{i}",
                ms=5,
                capsize=2,
                label=f"{extrapolate_to_K:g} K (extrapolated): {s300 * 1e3:.2g} mS/cm"
                if i == 0 or len(fits) == 1
                else None,
            )
    for j, (lab, t_k, sig) in enumerate(measured):
        ax.plot(
            [1000.0 / t_k],
            [sig * 1e3],
            "*",
            ms=11,
            color="k" if j == 0 else "0.35",
            label=f"measured: {lab}",
        )
    _celsius_ticks(ax)
    ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return fig


def _celsius_ticks(ax: Any, min_gap: float = 0.3) -> None:
    """Round-number °C ticks on the top axis of an Arrhenius plot, at least ``min_gap``
    apart in 1000/T (the default locator crowds them at high T once 300 K is in view)."""
    from halidelab.constants import ZERO_C_K

    top = next((c for c in ax.child_axes if hasattr(c, "set_functions")), None)
    if top is None:
        return
    lo, hi = sorted(ax.get_xlim())
    ticks: list[float] = []
    for c in (25, 50, 100, 150, 200, 300, 400, 500, 600, 800, 1000, 1200, 1500):
        x = 1000.0 / (c + ZERO_C_K)
        if lo <= x <= hi and all(abs(x - 1000.0 / (t + ZERO_C_K)) >= min_gap for t in ticks):
            ticks.append(c)
    top.set_xticks(ticks)
