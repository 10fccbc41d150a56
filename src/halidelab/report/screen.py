"""The screening report: ranking, series plots per dopant, per-candidate pages, measured data.

One self-contained HTML file (figures embedded as PNG, no JavaScript) written from the
results store via :func:`halidelab.screening.ranking.gather` and
:func:`~halidelab.screening.ranking.rank`. When the user gives measured results (a CSV of
x, sigma, Ea per dopant), predicted and measured sit side by side in a table and in the
series plots. The candidates are placed among known halide electrolytes (the literature
table, :mod:`halidelab.report.placement`).

Each candidate page (the top ``max_figure_pages``) carries the figures its data allow:
the simulated XRD pattern next to the parent's (from the relaxed or model structure),
two BVSE slices through Li with the stored percolation energies as contours, the CI-NEB
energy profiles, and the Arrhenius plot of its MD runs (read from the results store).
A figure whose tier did not run is replaced by one line naming the tier.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from halidelab.errors import DataFormatError, FitError, StructureError
from halidelab.report.html import esc, figure_html, missing_html, table_html, write_report

_SIGMA_COLS = {"sigma_s_cm": 1.0, "sigma_ms_cm": 1e-3, "sigma": 1.0}


def read_measured(path: str | Path, default_dopant: str | None = None) -> list[dict[str, Any]]:
    """Measured results from a CSV: one row per sample.

    Columns (case-insensitive): ``x`` (required); ``sigma_S_cm`` or ``sigma_mS_cm``
    (room-temperature ionic conductivity); ``ea_eV`` (activation energy); ``dopant``
    (optional: rows without one belong to ``default_dopant``, and x = 0 is the parent);
    ``temperature_K`` (optional). At least one of sigma and Ea per row.

    Returns
    -------
    list of dict
        ``x``, ``dopant``, ``sigma_S_cm``, ``ea_eV``, ``temperature_K`` (None where absent).

    Raises
    ------
    DataFormatError
        Missing file/columns, non-numeric or non-positive values.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(
            f"measured results file {path} not found: give a CSV with columns "
            "x, sigma_S_cm (or sigma_mS_cm), ea_eV[, dopant]"
        )
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames:
            raise DataFormatError(f"{path} is empty: expected columns x, sigma_S_cm, ea_eV")
        cols = {c.strip().lower(): c for c in reader.fieldnames}
        if "x" not in cols:
            raise DataFormatError(
                f"{path} has no 'x' column (columns: {', '.join(reader.fieldnames)})"
            )
        sig = next((c for c in _SIGMA_COLS if c in cols), None)
        if sig is None and "ea_ev" not in cols:
            raise DataFormatError(f"{path} needs a sigma_S_cm (or sigma_mS_cm) or an ea_eV column")
        out = []
        for i, row in enumerate(reader, start=2):

            def num(col: str | None, row=row, i=i) -> float | None:
                if col is None or col not in cols:
                    return None
                text = (row.get(cols[col]) or "").strip()
                if not text:
                    return None
                try:
                    v = float(text)
                except ValueError:
                    raise DataFormatError(
                        f"{path} line {i}: {cols[col]} {text!r} is not a number"
                    ) from None
                if not math.isfinite(v):
                    raise DataFormatError(f"{path} line {i}: {cols[col]} is not finite")
                return v

            x = num("x")
            if x is None or x < 0:
                raise DataFormatError(f"{path} line {i}: x must be a number >= 0")
            sigma = num(sig)
            if sigma is not None:
                if sigma <= 0:
                    raise DataFormatError(f"{path} line {i}: conductivity must be > 0")
                sigma *= _SIGMA_COLS[sig]
            ea = num("ea_ev")
            if ea is not None and not 0 < ea < 5:
                raise DataFormatError(f"{path} line {i}: ea_eV {ea} is outside 0-5 eV")
            dop = (row.get(cols["dopant"]) or "").strip() if "dopant" in cols else ""
            out.append(
                {
                    "x": x,
                    "dopant": dop or default_dopant,
                    "sigma_S_cm": sigma,
                    "ea_eV": ea,
                    "temperature_K": num("temperature_k"),
                }
            )
    if not out:
        raise DataFormatError(f"{path} has no data rows")
    return out


def _f(nd: int):
    return lambda v: f"{v:.{nd}f}"


def _pm(row: dict[str, Any]) -> str:
    if row.get("score_eV") is None:
        return "–"
    u = row.get("score_uncertainty_eV")
    return f"{row['score_eV']:.3f} ± {u:.3f}" if u is not None else f"{row['score_eV']:.3f}"


def _interval(p: dict[str, Any] | None) -> str:
    if not p:
        return "–"
    return (
        f"{p['log10_sigma_S_cm']:.2f} [{p['log10_sigma_low_S_cm']:.2f}, "
        f"{p['log10_sigma_high_S_cm']:.2f}]"
    )


def series_figure(
    parent: Any, members: Sequence[Any], dopant: str, measured: Sequence[dict[str, Any]] = ()
):
    """Lattice, barrier and prior against x for one dopant (parent at x = 0).

    Parameters
    ----------
    parent : CandidateResults or None
        The undoped parent (x = 0 point of every panel).
    members : sequence of CandidateResults
        The dopant's candidates (any order).
    measured : sequence of dict
        Rows of :func:`read_measured` for this dopant.
    """
    from halidelab.plotting import pyplot

    plt = pyplot()

    pts = sorted([*([parent] if parent else []), *members], key=lambda c: c.x)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    # lattice: relative change from the lowest-x point (the parent), both axes on one scale
    ax = axes[0]
    lat = [(c.x, c.lattice) for c in pts if c.lattice]
    if lat:
        ref = lat[0][1]
        for key, style, lab in (("a_A", "o-", "a"), ("c_A", "s--", "c")):
            v = [
                (x, 100.0 * (la[key] / ref[key] - 1.0))
                for x, la in lat
                if la.get(key) is not None and ref.get(key)
            ]
            if v:
                ax.plot(
                    *zip(*v, strict=True),
                    style,
                    label=f"{lab} ({lab}$_0$ = {ref[key]:.3f} Å)",
                    mfc="none" if lab == "c" else None,
                )
        ax.axhline(0.0, color="0.7", lw=0.8)
        ax.legend(fontsize=8)
        srcs = sorted({la["source"] for _, la in lat})
        ax.set_title(f"lattice, {'; '.join(srcs)}", fontsize=8)
    else:
        ax.text(
            0.5,
            0.5,
            "no structure models\n(tier 'models' not run)",
            ha="center",
            va="center",
            transform=ax.transAxes,
            color="0.4",
        )
    ax.set_ylabel(f"change from x = {lat[0][0]:g} (%)" if lat else "lattice")
    # barriers
    ax = axes[1]
    for key, style, lab in (("e_1d_eV", "o-", "BVSE 1D"), ("e_3d_eV", "s-", "BVSE 3D")):
        b = [(c.x, c.bvse[key]) for c in pts if c.bvse and c.bvse.get(key) is not None]
        if b:
            ax.plot(*zip(*b, strict=True), style, label=lab)
    nb = [
        (c.x, c.neb["percolation"]["ea_3d_eV"])
        for c in pts
        if c.neb and (c.neb.get("percolation") or {}).get("ea_3d_eV") is not None
    ]
    if nb:
        ax.plot(*zip(*nb, strict=True), "D-", color="tab:green", label="CI-NEB 3D (MLIP)")
    m_ea = [(m["x"], m["ea_eV"]) for m in measured if m.get("ea_eV") is not None]
    if m_ea:
        ax.plot(*zip(*m_ea, strict=True), "k*", ms=11, label="measured Ea")
    if ax.lines:
        ax.legend(fontsize=8)
    else:
        ax.text(
            0.5,
            0.5,
            "no BVSE results\n(tier 'bvse' not run)",
            ha="center",
            va="center",
            transform=ax.transAxes,
            color="0.4",
        )
    ax.set_ylabel("barrier / Ea (eV)")
    ax.set_title("Li+ migration barrier", fontsize=8)
    # prior
    ax = axes[2]
    pr = [(c.x, c.prior) for c in pts if c.prior]
    if pr:
        xs = [x for x, _ in pr]
        ys = [p["log10_sigma_S_cm"] for _, p in pr]
        lo = [p["log10_sigma_S_cm"] - p["log10_sigma_low_S_cm"] for _, p in pr]
        hi = [p["log10_sigma_high_S_cm"] - p["log10_sigma_S_cm"] for _, p in pr]
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o-", capsize=3, label="prior (90% interval)")
    m_s = [(m["x"], math.log10(m["sigma_S_cm"])) for m in measured if m.get("sigma_S_cm")]
    if m_s:
        ax.plot(*zip(*m_s, strict=True), "k*", ms=11, label="measured")
    if ax.lines or ax.collections:
        ax.legend(fontsize=8)
    else:
        ax.text(
            0.5,
            0.5,
            "no prior\n(tier 'prior' not run)",
            ha="center",
            va="center",
            transform=ax.transAxes,
            color="0.4",
        )
    ax.set_ylabel("log10 σ(RT) (S/cm)")
    ax.set_title("conductivity", fontsize=8)
    for ax in axes:
        ax.set_xlabel(f"x ({dopant})")
    fig.suptitle(f"{dopant} series", fontsize=10)
    fig.tight_layout()
    return fig


def _candidate_page(c: Any, r: Any | None) -> str:
    parts = [
        f"<h3>{'#' + str(r.rank) + ' ' if r else 'parent: '}"
        f"{esc(c.formula or c.label)} <span class='muted'>({esc(c.label)})</span></h3>"
    ]
    ru = c.rules
    rows = [
        ("radius ratio t", f"{ru.get('t', float('nan')):.3f} (parent {ru['parent_t']:.3f})"),
        ("predicted packing", f"{ru.get('packing')} (parent {ru['parent_packing']})"),
        (
            "max |mismatch|",
            f"{ru['max_mismatch_percent']:.1f} %"
            if ru.get("max_mismatch_percent") is not None
            else "–",
        ),
        (
            "Li vacancies / interstitials per f.u.",
            f"{ru.get('li_vacancies_per_fu', 0):.3f} / {ru.get('li_interstitials_per_fu', 0):.3f}",
        ),
    ]
    m = c.models
    if m:
        rows += [
            (
                "structure model",
                f"{m['formula_modelled']} in {m['framework']} ({m['space_group']}), "
                f"supercell {m['supercell_diag'] or m['supercell_matrix']}, {m['n_atoms']} atoms",
            ),
            ("atoms", ", ".join(f"{k} {v}" for k, v in m["species_counts"].items())),
        ]
        if abs(sum(m["x_modelled"].values()) - c.x) > 1e-6:
            rows.append(("modelled x", f"{sum(m['x_modelled'].values()):.4f} (asked {c.x:g})"))
    if c.lattice:
        la = c.lattice
        parts_l = [
            f"{k} = {la[key]:.{nd}f} {u}"
            for k, key, nd, u in (
                ("a", "a_A", 3, "Å"),
                ("c", "c_A", 3, "Å"),
                ("V/f.u.", "volume_per_fu_A3", 1, "Å³"),
            )
            if la.get(key) is not None
        ]
        rows.append(("lattice", f"{', '.join(parts_l)} ({la['source']})"))
    if c.relax:
        rx = c.relax
        rows.append(
            (
                "relaxation",
                f"{'converged' if rx.get('converged') else 'NOT converged'}, "
                f"fmax {rx.get('fmax_eV_A', float('nan')):.3f} eV/Å",
            )
        )
    if c.bvse:
        b = c.bvse
        ax = ", ".join("–" if e is None else f"{e:.3f}" for e in b.get("e_axis_eV", []))

        def fmt(v):
            return "none below e_max" if v is None else f"{v:.3f} eV"

        rows.append(
            (
                "BVSE barriers",
                f"1D {fmt(b['e_1d_eV'])}, 2D {fmt(b['e_2d_eV'])}, "
                f"3D {fmt(b['e_3d_eV'])}; along a, b, c: {ax} eV "
                f"({b['resolution_A']:g} Å grid, {b['formula']})",
            )
        )
    if c.prior:
        p = c.prior
        rows.append(
            (
                "conductivity prior",
                f"log10 σ = {_interval(p)} (90 %), "
                f"{'in' if p['in_domain'] else 'OUTSIDE'} its applicability domain",
            )
        )
    perc = (c.neb or {}).get("percolation") or {}
    if c.neb:

        def fe(v):
            return "none" if v is None else f"{v:.3f} eV"

        rows.append(
            (
                "CI-NEB (MLIP)",
                f"percolation 1D {fe(perc.get('ea_1d_eV'))}, 2D {fe(perc.get('ea_2d_eV'))}, "
                f"3D {fe(perc.get('ea_3d_eV'))}; {len(c.neb.get('results', []))} hops, "
                f"{'all converged' if c.neb.get('all_converged') else 'NOT all converged'}",
            )
        )
    if c.stability and c.stability.get("e_above_hull_eV_atom") is not None:
        rows.append(
            ("E above hull", f"{c.stability['e_above_hull_eV_atom']:.3f} eV/atom (MLIP hull)")
        )
    if r:
        rows.append(
            (
                "score",
                f"{_pm(r.to_dict())} eV = barrier {r.barrier_eV:.3f} ({r.barrier_note}) + "
                f"mismatch {r.mismatch_penalty_eV:.3f} + structure {r.structure_penalty_eV:.3f} + "
                f"stability {r.stability_penalty_eV:.3f}"
                if r.score_eV is not None
                else "–",
            )
        )
    body = "".join(
        f"<tr><th class='l'>{esc(k)}</th><td class='l'>{esc(v)}</td></tr>" for k, v in rows
    )
    parts.append(f"<table>{body}</table>")
    for w in r.warnings if r else ru.get("warnings", []):
        parts.append(f"<p class='warn'>⚠ {esc(w)}</p>")
    return "".join(parts)


def _model_structure(c: Any) -> dict[str, Any] | None:
    """The unrelaxed model of the candidate's chosen ordering (``best_config``)."""
    confs = (c.models or {}).get("configurations") or []
    best = getattr(c, "best_config", 0)
    return next(
        (cf["structure"] for i, cf in enumerate(confs) if cf.get("index", i) == best),
        confs[0]["structure"] if confs else None,
    )


def _structure_of(c: Any) -> tuple[dict[str, Any] | None, str]:
    """The structure a candidate's later tiers used (relaxed first) and what it is."""
    if c.relax and c.relax.get("structure"):
        model = (c.relax.get("provenance") or {}).get("model") or "MLIP"
        return c.relax["structure"], f"relaxed ({model})"
    s = _model_structure(c)
    return (s, "unrelaxed model (Vegard lattice)") if s is not None else (None, "")


def md_runs_by_structure(store: Any) -> dict[str, list[dict[str, Any]]]:
    """Finished ``md`` task results of a store, keyed by the hash of their structure."""
    from halidelab.screening.ranking import _shash

    out: dict[str, list[dict[str, Any]]] = {}
    for r in store.rows(kind="md", status="done"):
        if r.get("result") and (r.get("inputs") or {}).get("structure"):
            out.setdefault(_shash(r["inputs"]["structure"]), []).append(r["result"])
    return out


def _md_runs(c: Any, index: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    from halidelab.screening.ranking import _shash

    hashes = []
    if c.relax and c.relax.get("structure"):
        hashes.append(_shash(c.relax["structure"]))
    s = _model_structure(c)
    if s is not None:
        hashes.append(_shash(s))
    return next((index[h] for h in hashes if h in index), [])


def md_arrhenius_of(runs: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Arrhenius fit over one candidate's MD runs (None with fewer than two temperatures;
    ``{"error": ...}`` when the fit fails)."""
    from halidelab.transport.diffusion import DiffusionResult, md_arrhenius

    temps = {round(float(r["diffusion"]["temperature_K"]), 1) for r in runs}
    if len(temps) < 2:
        return None
    try:
        return md_arrhenius([DiffusionResult.from_dict(r["diffusion"]) for r in runs]).to_dict()
    except FitError as exc:
        return {"error": str(exc)}


class _PageContext:
    """What the candidate pages share: the parent's XRD, MD runs, literature, measured."""

    def __init__(
        self,
        parent: Any | None,
        md_index: dict[str, list[dict[str, Any]]] | None,
        literature: Any,
        measured: Sequence[dict[str, Any]],
    ):
        self.parent = parent
        self.md_index = md_index
        self.literature = literature
        self.measured = measured
        self._xrd: dict[str, dict[str, Any] | str] = {}

    def xrd(self, c: Any) -> dict[str, Any] | str | None:
        """Simulated pattern of a candidate's structure (a string: why it failed)."""
        from pymatgen.core import Structure

        from halidelab.structures.xrd import simulate_pattern

        s, _ = _structure_of(c)
        if s is None:
            return None
        if c.label not in self._xrd:
            try:
                self._xrd[c.label] = simulate_pattern(Structure.from_dict(s)).to_dict()
            except StructureError as exc:
                self._xrd[c.label] = str(exc)
        return self._xrd[c.label]

    def md(self, c: Any) -> list[dict[str, Any]] | None:
        """MD runs of a candidate (None: the report has no store to look in)."""
        return None if self.md_index is None else _md_runs(c, self.md_index)

    def measured_points(self, c: Any) -> list[tuple[str, float, float]]:
        """(label, T in K, sigma in S/cm) measured for this composition: the user's file
        and the literature table."""
        from halidelab.prior.data import composition_key

        pts = []
        for m in self.measured:
            same = (m["dopant"] == c.dopant or (m["x"] == 0 and c.dopant is None)) and abs(
                m["x"] - c.x
            ) < 1e-6
            if same and m.get("sigma_S_cm"):
                pts.append(
                    (f"your data x = {m['x']:g}", m.get("temperature_K") or 298.15, m["sigma_S_cm"])
                )
        if self.literature is not None and c.formula:
            key = composition_key(c.formula)
            for _, r in self.literature.iterrows():
                if not r["censored"] and composition_key(r["composition"]) == key:
                    pts.append(
                        (str(r["name"]), float(r["temperature_C"]) + 273.15, float(r["sigma_S_cm"]))
                    )
        return pts


def _candidate_figures(c: Any, ctx: _PageContext) -> str:
    """The figure block of one candidate page (a one-line note for each missing figure)."""
    from pymatgen.core import Structure

    from halidelab.report.figures import (
        bvse_slice_figure,
        bvse_slices,
        md_arrhenius_figure,
        neb_profiles_figure,
        xrd_figure,
    )

    name = c.formula or c.label
    figs = []
    s, what = _structure_of(c)
    # XRD: the candidate over the parent
    pat = ctx.xrd(c)
    if pat is None:
        figs.append(missing_html("Simulated XRD", "models", "xrd"))
    elif isinstance(pat, str):
        figs.append(missing_html("Simulated XRD", "models", "xrd", why=f"failed: {pat}"))
    else:
        pats = [(f"{name} ({what})", pat)]
        ref = ctx.xrd(ctx.parent) if ctx.parent is not None and ctx.parent is not c else None
        if isinstance(ref, dict):
            pats.insert(0, (f"parent {ctx.parent.formula} ({_structure_of(ctx.parent)[1]})", ref))
        figs.append(
            figure_html(
                xrd_figure(pats),
                f"Simulated powder XRD of {name} from the {what} "
                "structure (kinematic, pseudo-Voigt FWHM 0.1°)"
                + (", parent below" if len(pats) > 1 else ""),
                dpi=100,
                kind="xrd",
            )
        )
    # BVSE map slices
    b = c.bvse
    if not b or s is None:
        figs.append(missing_html("BVSE map", "bvse", "bvse-map"))
    else:
        try:
            sl = bvse_slices(Structure.from_dict(s), reference_eV=b.get("e_min_eV"))
        except StructureError as exc:
            figs.append(missing_html("BVSE map", "bvse", "bvse-map", why=f"failed: {exc}"))
        else:
            top = max(v for v in (b.get("e_3d_eV"), b.get("e_1d_eV"), 1.0) if v is not None)
            levels = {"1D percolation": b.get("e_1d_eV"), "3D percolation": b.get("e_3d_eV")}
            figs.append(
                figure_html(
                    bvse_slice_figure(sl, e_max_eV=min(3.0, top + 0.5), levels=levels),
                    f"BVSE Li+ site energy of {name} ({what} structure) on two planes through the "
                    f"lowest-energy Li site, relative to the map minimum of the bvse tier "
                    f"({b.get('resolution_A', 0):g} Å grid); white lines: the stored 1D and 3D "
                    "percolation energies (Li paths connect below them)",
                    dpi=100,
                    kind="bvse-map",
                )
            )
    # NEB
    if not c.neb:
        figs.append(missing_html("CI-NEB energy profiles", "neb", "neb"))
    elif not c.neb.get("results"):
        figs.append(
            missing_html(
                "CI-NEB energy profiles",
                "neb",
                "neb",
                why="the NEB tier found no hop to compute: "
                + "; ".join(c.neb.get("skipped", [])[:3]),
            )
        )
    else:
        model = (c.neb.get("provenance") or {}).get("model") or "MLIP"
        figs.append(
            figure_html(
                neb_profiles_figure([(f"{name}, {model}", c.neb)]),
                f"CI-NEB energy profiles of the distinct Li hops of {name} "
                f"({model}); dotted: band not converged",
                dpi=100,
                kind="neb",
            )
        )
    # MD Arrhenius
    runs = ctx.md(c)
    if runs is None:
        figs.append(
            missing_html(
                "Arrhenius plot (MD)",
                "md",
                "arrhenius",
                why="not looked up: the report was written without the results store",
            )
        )
    elif not runs:
        figs.append(missing_html("Arrhenius plot (MD)", "md", "arrhenius"))
    else:
        arr = md_arrhenius_of(runs)
        temps = sorted({round(float(r["diffusion"]["temperature_K"]), 1) for r in runs})
        if arr is None:
            figs.append(
                missing_html(
                    "Arrhenius plot (MD)",
                    "md",
                    "arrhenius",
                    why=f"MD at {temps[0]:g} K only: run the md tier at two or more temperatures",
                )
            )
        elif "error" in arr:
            figs.append(
                missing_html(
                    "Arrhenius plot (MD)",
                    "md",
                    "arrhenius",
                    why=f"Arrhenius fit failed: {arr['error']}",
                )
            )
        else:
            warn = "; ".join(arr.get("warnings", [])[:2])
            figs.append(
                figure_html(
                    md_arrhenius_figure([(name, arr)], measured=ctx.measured_points(c)),
                    f"Arrhenius plot of {name} from MD at {', '.join(f'{t:g}' for t in temps)} K "
                    f"(Nernst-Einstein, Haven ratio {arr.get('haven_ratio', 1):g}); Ea from D(T) "
                    f"{arr['ea_eV']:.3f} ± {arr['ea_err_eV']:.3f} eV; dashed: extrapolation to 300 "
                    "K, "
                    f"σ(300 K) = {arr['sigma_300K_S_cm']:.2g} S/cm (68 %: "
                    f"{arr['sigma_300K_low_S_cm']:.2g}-"
                    f"{arr['sigma_300K_high_S_cm']:.2g})" + (f". {warn}" if warn else ""),
                    dpi=100,
                    kind="arrhenius",
                )
            )
    return "<div class='figs'>" + "".join(figs) + "</div>"


#: raw quantity of a calibration (compare's row key) -> the ranking column it sits beside
_RAW_COLUMN = {
    "bvse_3d_eV": "bvse_3d_eV",
    "neb_3d_eV": "neb_3d_eV",
    "prior_log10_sigma_S_cm": "prior",
}


def _with_calibrated_columns(
    cols: list[tuple[str, str, Any]],
    rows: list[dict[str, Any]],
    ranked: Sequence[Any],
    calibrated: dict[str, list[dict[str, Any]]],
) -> list[tuple[str, str, Any]]:
    """The ranking's columns with, per calibration, its raw ensemble mean and calibrated value
    [interval] beside the raw column it calibrates (before 'tied with' where the ranking has
    no such column); ``rows`` get the cells."""
    from halidelab.compare import calibrated_text

    idents = list(
        dict.fromkeys(
            (e["tier"], e["model"], e["target"], e["quantity"], e["label"], e["unit"])
            for es in calibrated.values()
            for e in es
        )
    )
    cols = list(cols)
    for tier, model, target, quantity, label, unit in idents:
        key = f"cal {tier} {model} {target}"
        level = next(
            (
                e["level"]
                for es in calibrated.values()
                for e in es
                if (e["tier"], e["model"], e["target"]) == (tier, model, target) and e["applied"]
            ),
            None,
        )
        for row, r in zip(rows, ranked, strict=True):
            e = next(
                (
                    e
                    for e in calibrated.get(r.label, [])
                    if (e["tier"], e["model"], e["target"]) == (tier, model, target)
                ),
                None,
            )
            nd = 3 if unit == "eV" else 2
            row[f"{key} raw"] = (
                f"{e['raw']:.{nd}f} (N={e['n_orderings']})" if e and e["applied"] else None
            )
            row[key] = calibrated_text(e)
        new = [
            (f"{key} raw", f"{label} raw, mean of orderings ({unit})", None),
            (
                key,
                f"calibrated ({tier}, {model}{f', {level:.0%}' if level is not None else ''}) "
                f"({unit})",
                None,
            ),
        ]
        anchor = _RAW_COLUMN.get(quantity)
        at = next((i + 1 for i, c in enumerate(cols) if c[0] == anchor), None)
        if at is None:
            at = next(i for i, c in enumerate(cols) if c[0] == "ties")
        while at < len(cols) and cols[at][0].startswith("cal "):
            at += 1  # after the calibrations already beside this column
        cols[at:at] = new
    return cols


def _predicted(c: Any, label: str, ctx: _PageContext) -> Any:
    from halidelab.report.placement import PredictedSigma

    runs = ctx.md(c) or []
    arr = md_arrhenius_of(runs) if runs else None
    return PredictedSigma.from_results(
        label, c.formula or c.label, c.prior, arr if arr and "error" not in arr else None
    )


def write_screen_report(
    path: str | Path,
    candidates: Sequence[Any],
    ranked: Sequence[Any],
    weights: Any,
    meta: dict[str, Any] | None = None,
    measured: Sequence[dict[str, Any]] | None = None,
    failed: dict[str, str] | None = None,
    max_pages: int = 40,
    store: Any | None = None,
    literature_csvs: Sequence[str | Path] = (),
    max_figure_pages: int = 12,
    max_placed: int = 15,
    calibrated: dict[str, list[dict[str, Any]]] | None = None,
) -> Path:
    """Write the screening report.

    Parameters
    ----------
    path : path
        The HTML file (``report/screen.html``).
    candidates : sequence of CandidateResults
        From :func:`halidelab.screening.ranking.gather` (pruned ones included).
    ranked : sequence of RankedCandidate
        From :func:`halidelab.screening.ranking.rank`.
    weights : Weights
    meta : dict, optional
        Shown in the summary (parent, tiers, store, wall time, estimate ...).
    measured : sequence of dict, optional
        From :func:`read_measured`.
    failed : dict, optional
        key -> error of failed tasks.
    max_pages : int
        Per-candidate sections for the top ``max_pages`` ranked candidates.
    store : Store, optional
        The results store the candidates came from: its ``md`` runs give the Arrhenius
        plots and MD conductivities (without it the pages say MD was not looked up).
    literature_csvs : sequence of path
        The user's tables of measured electrolytes, added to the shipped literature
        table (:func:`halidelab.literature.load_literature`).
    max_figure_pages : int
        Candidate pages (parent first, then by rank) that get figures; each costs about
        a second and 100-200 kB.
    max_placed : int
        Top-ranked candidates placed among known materials.
    calibrated : dict, optional
        Candidate label -> its :func:`halidelab.validation.apply.calibrate_composition`
        entries (``--calibration``): the ranking gets the calibrated value with its
        interval beside each raw value a calibration matches, and a section lists raw,
        calibrated, interval, map, domain, or the note why a calibration does not apply.
        None: no calibration was given (the report says so in one line).
    """
    from halidelab.literature import load_literature
    from halidelab.report.placement import placement_section

    meta = dict(meta or {})
    measured = list(measured or [])
    parents = [c for c in candidates if c.dopant is None]
    doped = [c for c in candidates if c.dopant is not None]
    pruned = [c for c in doped if not c.passed]
    parent_name = parents[0].parent if parents else (doped[0].parent if doped else "?")
    by_label = {c.label: c for c in candidates}
    sections: list[tuple[str, str]] = []
    literature = load_literature(literature_csvs)
    ctx = _PageContext(
        parents[0] if parents else None,
        md_runs_by_structure(store) if store is not None else None,
        literature,
        measured,
    )

    summ = [
        ("parent", parent_name),
        ("candidates", len(doped)),
        ("passed the rules", len(doped) - len(pruned)),
        ("pruned", len(pruned)),
        *meta.items(),
    ]
    body = "".join(
        f"<tr><th class='l'>{esc(k)}</th><td class='l'>{esc(v)}</td></tr>" for k, v in summ
    )
    sections.append(("Summary", f"<table>{body}</table>"))

    rows = []
    for r in ranked:
        d = r.to_dict()
        d["score"] = _pm(d)
        d["prior"] = (
            f"{r.prior_log10_sigma_S_cm:.2f} [{r.prior_log10_low:.2f}, {r.prior_log10_high:.2f}]"
            if r.prior_log10_sigma_S_cm is not None
            else None
        )
        d["ties"] = (
            ", ".join(f"#{t}" for t in r.tied_with[:4])
            + (f" +{len(r.tied_with) - 4} more" if len(r.tied_with) > 4 else "")
        ) or None
        d["flags"] = f"{len(r.warnings)} warning(s)" if r.warnings else None
        rows.append(d)
    cols = [
        ("rank", "#", None),
        ("formula", "formula", None),
        ("basis", "basis", None),
        ("score", "score (eV)", None),
        ("barrier_eV", "barrier", _f(3)),
        ("mismatch_percent", "|mismatch| %", _f(1)),
        ("mismatch_penalty_eV", "+mismatch", _f(3)),
        ("structure_penalty_eV", "+structure", _f(3)),
        ("stability_penalty_eV", "+stability", _f(3)),
        ("bvse_1d_eV", "BVSE 1D", _f(3)),
        ("bvse_3d_eV", "BVSE 3D", _f(3)),
        ("neb_3d_eV", "NEB 3D", _f(3)),
        ("e_above_hull_eV_atom", "E_hull (eV/at)", _f(3)),
        ("prior", "prior log σ [90%]", None),
        ("ties", "tied with", None),
        ("flags", "flags", None),
    ]
    if calibrated:
        cols = _with_calibrated_columns(cols, rows, ranked, calibrated)
    note = (
        "<p class='muted'>Lower score is better. Candidates are ranked by basis first "
        "(MLIP NEB, then BVSE, then the conductivity prior only): the bases are not "
        "comparable. 'tied with': scores within the combined uncertainty.</p>"
    )
    sections.append(
        (
            "Ranking",
            note
            + (
                table_html(rows, cols)
                if rows
                else "<p class='warn'>No candidate passed the rules.</p>"
            ),
        )
    )

    from halidelab.report.calibrated import calibration_section

    sections.append(
        (
            "Calibrated values",
            calibration_section(
                [
                    {
                        "candidate": f"#{r.rank} {r.formula}",
                        "key": r.label,
                        "entries": calibrated.get(r.label, []),
                    }
                    for r in ranked
                ]
                if calibrated
                else [],
                given=calibrated is not None,
            ),
        )
    )

    w = weights.to_dict()
    w.pop("provenance", None)
    wrows = [{"k": k, "v": v} for k, v in w.items()]
    sections.append(
        (
            "How the score is computed",
            (
                "<p>score = barrier + mismatch penalty + structure-change penalty + stability "
                "penalty "
                "(eV, lower is better). Barrier: the BVSE 3D percolation energy of the (relaxed) "
                "supercell, or without BVSE the activation energy that reproduces the prior's "
                "σ(RT) with a typical halide prefactor. The weights are judgement, not physics:</p>"
                + table_html(wrows, [("k", "weight", None), ("v", "value", None)])
            ),
        )
    )

    dopants = sorted({c.dopant for c in doped if c.passed})
    figs = []
    for dop in dopants:
        members = [c for c in doped if c.dopant == dop and c.passed]
        meas = [m for m in measured if m["dopant"] in (dop, None) or (m["x"] == 0)]
        figs.append(
            figure_html(
                series_figure(parents[0] if parents else None, members, dop, meas),
                f"{dop}: lattice, barrier and prior against x "
                "(x = 0 is the parent; stars are measured)",
                kind="series",
            )
        )
    sections.append(("Series per dopant", "".join(figs) or "<p>No surviving candidates.</p>"))

    if measured:
        cmp_rows = []
        for m in measured:
            c = next(
                (
                    c
                    for c in candidates
                    if (c.dopant == m["dopant"] or (m["x"] == 0 and c.dopant is None))
                    and abs(c.x - m["x"]) < 1e-6
                ),
                None,
            )
            p = c.prior if c else None
            lo_hi = (p["log10_sigma_low_S_cm"], p["log10_sigma_high_S_cm"]) if p else None
            ms = m.get("sigma_S_cm")
            inside = (
                None
                if not (p and ms)
                else ("yes" if lo_hi[0] <= math.log10(ms) <= lo_hi[1] else "NO")
            )
            cmp_rows.append(
                {
                    "sample": f"{m['dopant'] or parent_name} x={m['x']:g}",
                    "formula": c.formula if c else None,
                    "meas_sigma": ms,
                    "prior": _interval(p) if p else None,
                    "inside": inside,
                    "meas_ea": m.get("ea_eV"),
                    "bvse3d": c.bvse.get("e_3d_eV") if c and c.bvse else None,
                    "bvse1d": c.bvse.get("e_1d_eV") if c and c.bvse else None,
                }
            )
        sections.append(
            (
                "Predicted vs measured",
                (
                    "<p class='muted'>Measured values from the file the user gave. BVSE barriers "
                    "of "
                    "ideal ordered cells are expected above measured activation energies "
                    "(disorder in ball-milled samples lowers them).</p>"
                    + table_html(
                        cmp_rows,
                        [
                            ("sample", "sample", None),
                            ("formula", "formula", None),
                            ("meas_sigma", "measured σ (S/cm)", lambda v: f"{v:.3g}"),
                            ("prior", "prior log σ [90%]", None),
                            ("inside", "in interval", None),
                            ("meas_ea", "measured Ea (eV)", _f(3)),
                            ("bvse1d", "BVSE 1D (eV)", _f(3)),
                            ("bvse3d", "BVSE 3D (eV)", _f(3)),
                        ],
                    )
                ),
            )
        )

    placed = [_predicted(parents[0], f"parent {parents[0].formula}", ctx)] if parents else []
    placed += [
        _predicted(by_label[r.label], f"#{r.rank} {r.formula}", ctx)
        for r in ranked[:max_placed]
        if r.label in by_label
    ]
    more_placed = (
        f"<p class='muted'>The top {max_placed} of {len(ranked)} ranked candidates are placed.</p>"
        if len(ranked) > max_placed
        else ""
    )
    sections.append(
        (
            "Among known materials",
            placement_section(placed, literature_csvs, table=literature) + more_placed,
        )
    )

    if pruned:
        prow = [
            {"label": c.label, "formula": c.formula, "why": "; ".join(c.rules.get("reasons", []))}
            for c in pruned
        ]
        sections.append(
            (
                "Pruned by the rules",
                table_html(
                    prow,
                    [
                        ("label", "candidate", None),
                        ("formula", "formula", None),
                        ("why", "reason", None),
                    ],
                ),
            )
        )

    page_cands = [(by_label[r.label], r) for r in ranked[:max_pages] if r.label in by_label]
    if parents:
        page_cands.insert(0, (parents[0], None))
    pages = []
    for i, (c, r) in enumerate(page_cands):
        page = _candidate_page(c, r)
        if i < max_figure_pages:
            page += _candidate_figures(c, ctx)
        pages.append(page)
    more = (
        f"<p class='muted'>{len(ranked) - max_pages} more candidates are in the store "
        "(halidelab results).</p>"
        if len(ranked) > max_pages
        else ""
    )
    if len(page_cands) > max_figure_pages:
        more += (
            f"<p class='muted'>Figures are drawn on the first {max_figure_pages} pages "
            "(parent and best ranked).</p>"
        )
    sections.append(("Candidates", "".join(pages) + more))
    if failed:
        frows = [{"key": k[:12], "error": v} for k, v in failed.items()]
        sections.append(
            ("Failed tasks", table_html(frows, [("key", "task", None), ("error", "error", None)]))
        )
    return write_report(
        path,
        f"Screening {parent_name}",
        sections,
        subtitle=f"{len(doped)} candidates, {len(ranked)} ranked.",
    )
