"""The screening report: ranking, series plots per dopant, per-candidate pages, measured data.

One self-contained HTML file (figures embedded as PNG, no JavaScript) written from the
results store via :func:`halidelab.screening.ranking.gather` and
:func:`~halidelab.screening.ranking.rank`. When the user gives measured results (a CSV of
x, sigma, Ea per dopant), predicted and measured sit side by side in a table and in the
series plots.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from halidelab.errors import DataFormatError
from halidelab.report.html import esc, figure_html, table_html, write_report

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
        raise DataFormatError(f"measured results file {path} not found: give a CSV with columns "
                              "x, sigma_S_cm (or sigma_mS_cm), ea_eV[, dopant]")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames:
            raise DataFormatError(f"{path} is empty: expected columns x, sigma_S_cm, ea_eV")
        cols = {c.strip().lower(): c for c in reader.fieldnames}
        if "x" not in cols:
            raise DataFormatError(f"{path} has no 'x' column (columns: {', '.join(reader.fieldnames)})")
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
                    raise DataFormatError(f"{path} line {i}: {cols[col]} {text!r} is not a number") from None
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
            out.append({"x": x, "dopant": dop or default_dopant, "sigma_S_cm": sigma, "ea_eV": ea,
                        "temperature_K": num("temperature_k")})
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
    return (f"{p['log10_sigma_S_cm']:.2f} [{p['log10_sigma_low_S_cm']:.2f}, "
            f"{p['log10_sigma_high_S_cm']:.2f}]")


def series_figure(parent: Any, members: Sequence[Any], dopant: str,
                  measured: Sequence[dict[str, Any]] = ()):
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = sorted([*([parent] if parent else []), *members], key=lambda c: c.x)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    # lattice: relative change from the lowest-x point (the parent), both axes on one scale
    ax = axes[0]
    lat = [(c.x, c.lattice) for c in pts if c.lattice]
    if lat:
        ref = lat[0][1]
        for key, style, lab in (("a_A", "o-", "a"), ("c_A", "s--", "c")):
            v = [(x, 100.0 * (la[key] / ref[key] - 1.0)) for x, la in lat
                 if la.get(key) is not None and ref.get(key)]
            if v:
                ax.plot(*zip(*v, strict=True), style, label=f"{lab} ({lab}$_0$ = {ref[key]:.3f} Å)",
                        mfc="none" if lab == "c" else None)
        ax.axhline(0.0, color="0.7", lw=0.8)
        ax.legend(fontsize=8)
        srcs = sorted({la["source"] for _, la in lat})
        ax.set_title(f"lattice, {'; '.join(srcs)}", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no structure models\n(tier 'models' not run)", ha="center",
                va="center", transform=ax.transAxes, color="0.4")
    ax.set_ylabel(f"change from x = {lat[0][0]:g} (%)" if lat else "lattice")
    # barriers
    ax = axes[1]
    for key, style, lab in (("e_1d_eV", "o-", "BVSE 1D"), ("e_3d_eV", "s-", "BVSE 3D")):
        b = [(c.x, c.bvse[key]) for c in pts if c.bvse and c.bvse.get(key) is not None]
        if b:
            ax.plot(*zip(*b, strict=True), style, label=lab)
    nb = [(c.x, c.neb["percolation"]["ea_3d_eV"]) for c in pts
          if c.neb and (c.neb.get("percolation") or {}).get("ea_3d_eV") is not None]
    if nb:
        ax.plot(*zip(*nb, strict=True), "D-", color="tab:green", label="CI-NEB 3D (MLIP)")
    m_ea = [(m["x"], m["ea_eV"]) for m in measured if m.get("ea_eV") is not None]
    if m_ea:
        ax.plot(*zip(*m_ea, strict=True), "k*", ms=11, label="measured Ea")
    if ax.lines:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no BVSE results\n(tier 'bvse' not run)", ha="center", va="center",
                transform=ax.transAxes, color="0.4")
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
        ax.text(0.5, 0.5, "no prior\n(tier 'prior' not run)", ha="center", va="center",
                transform=ax.transAxes, color="0.4")
    ax.set_ylabel("log10 σ(RT) (S/cm)")
    ax.set_title("conductivity", fontsize=8)
    for ax in axes:
        ax.set_xlabel(f"x ({dopant})")
    fig.suptitle(f"{dopant} series", fontsize=10)
    fig.tight_layout()
    return fig


def _candidate_page(c: Any, r: Any | None) -> str:
    parts = [f"<h3>{'#' + str(r.rank) + ' ' if r else 'parent: '}"
             f"{esc(c.formula or c.label)} <span class='muted'>({esc(c.label)})</span></h3>"]
    ru = c.rules
    rows = [("radius ratio t", f"{ru.get('t', float('nan')):.3f} (parent {ru['parent_t']:.3f})"),
            ("predicted packing", f"{ru.get('packing')} (parent {ru['parent_packing']})"),
            ("max |mismatch|", f"{ru['max_mismatch_percent']:.1f} %" if ru.get("max_mismatch_percent")
             is not None else "–"),
            ("Li vacancies / interstitials per f.u.",
             f"{ru.get('li_vacancies_per_fu', 0):.3f} / {ru.get('li_interstitials_per_fu', 0):.3f}")]
    m = c.models
    if m:
        rows += [("structure model", f"{m['formula_modelled']} in {m['framework']} ({m['space_group']}), "
                  f"supercell {m['supercell_diag'] or m['supercell_matrix']}, {m['n_atoms']} atoms"),
                 ("atoms", ", ".join(f"{k} {v}" for k, v in m["species_counts"].items()))]
        if abs(sum(m["x_modelled"].values()) - c.x) > 1e-6:
            rows.append(("modelled x", f"{sum(m['x_modelled'].values()):.4f} (asked {c.x:g})"))
    if c.lattice:
        la = c.lattice
        parts_l = [f"{k} = {la[key]:.{nd}f} {u}" for k, key, nd, u in (
            ("a", "a_A", 3, "Å"), ("c", "c_A", 3, "Å"), ("V/f.u.", "volume_per_fu_A3", 1, "Å³"))
            if la.get(key) is not None]
        rows.append(("lattice", f"{', '.join(parts_l)} ({la['source']})"))
    if c.relax:
        rx = c.relax
        rows.append(("relaxation", f"{'converged' if rx.get('converged') else 'NOT converged'}, "
                     f"fmax {rx.get('fmax_eV_A', float('nan')):.3f} eV/Å"))
    if c.bvse:
        b = c.bvse
        ax = ", ".join("–" if e is None else f"{e:.3f}" for e in b.get("e_axis_eV", []))

        def fmt(v):
            return "none below e_max" if v is None else f"{v:.3f} eV"

        rows.append(("BVSE barriers", f"1D {fmt(b['e_1d_eV'])}, 2D {fmt(b['e_2d_eV'])}, "
                     f"3D {fmt(b['e_3d_eV'])}; along a, b, c: {ax} eV "
                     f"({b['resolution_A']:g} Å grid, {b['formula']})"))
    if c.prior:
        p = c.prior
        rows.append(("conductivity prior", f"log10 σ = {_interval(p)} (90 %), "
                     f"{'in' if p['in_domain'] else 'OUTSIDE'} its applicability domain"))
    perc = (c.neb or {}).get("percolation") or {}
    if c.neb:
        def fe(v):
            return "none" if v is None else f"{v:.3f} eV"

        rows.append(("CI-NEB (MLIP)", f"percolation 1D {fe(perc.get('ea_1d_eV'))}, 2D {fe(perc.get('ea_2d_eV'))}, "
                     f"3D {fe(perc.get('ea_3d_eV'))}; {len(c.neb.get('results', []))} hops, "
                     f"{'all converged' if c.neb.get('all_converged') else 'NOT all converged'}"))
    if c.stability and c.stability.get("e_above_hull_eV_atom") is not None:
        rows.append(("E above hull", f"{c.stability['e_above_hull_eV_atom']:.3f} eV/atom (MLIP hull)"))
    if r:
        rows.append(("score", f"{_pm(r.to_dict())} eV = barrier {r.barrier_eV:.3f} ({r.barrier_note}) + "
                     f"mismatch {r.mismatch_penalty_eV:.3f} + structure {r.structure_penalty_eV:.3f} + "
                     f"stability {r.stability_penalty_eV:.3f}" if r.score_eV is not None else "–"))
    body = "".join(f"<tr><th class='l'>{esc(k)}</th><td class='l'>{esc(v)}</td></tr>" for k, v in rows)
    parts.append(f"<table>{body}</table>")
    for w in (r.warnings if r else ru.get("warnings", [])):
        parts.append(f"<p class='warn'>⚠ {esc(w)}</p>")
    return "".join(parts)


def write_screen_report(path: str | Path, candidates: Sequence[Any], ranked: Sequence[Any],
                        weights: Any, meta: dict[str, Any] | None = None,
                        measured: Sequence[dict[str, Any]] | None = None,
                        failed: dict[str, str] | None = None, max_pages: int = 40) -> Path:
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
    """
    meta = dict(meta or {})
    measured = list(measured or [])
    parents = [c for c in candidates if c.dopant is None]
    doped = [c for c in candidates if c.dopant is not None]
    pruned = [c for c in doped if not c.passed]
    parent_name = parents[0].parent if parents else (doped[0].parent if doped else "?")
    by_label = {c.label: c for c in candidates}
    sections: list[tuple[str, str]] = []

    summ = [("parent", parent_name), ("candidates", len(doped)),
            ("passed the rules", len(doped) - len(pruned)), ("pruned", len(pruned)),
            *meta.items()]
    body = "".join(f"<tr><th class='l'>{esc(k)}</th><td class='l'>{esc(v)}</td></tr>" for k, v in summ)
    sections.append(("Summary", f"<table>{body}</table>"))

    rows = []
    for r in ranked:
        d = r.to_dict()
        d["score"] = _pm(d)
        d["prior"] = (f"{r.prior_log10_sigma_S_cm:.2f} [{r.prior_log10_low:.2f}, {r.prior_log10_high:.2f}]"
                      if r.prior_log10_sigma_S_cm is not None else None)
        d["ties"] = (", ".join(f"#{t}" for t in r.tied_with[:4])
                     + (f" +{len(r.tied_with) - 4} more" if len(r.tied_with) > 4 else "")) or None
        d["flags"] = f"{len(r.warnings)} warning(s)" if r.warnings else None
        rows.append(d)
    cols = [("rank", "#", None), ("formula", "formula", None), ("basis", "basis", None),
            ("score", "score (eV)", None), ("barrier_eV", "barrier", _f(3)),
            ("mismatch_percent", "|mismatch| %", _f(1)), ("mismatch_penalty_eV", "+mismatch", _f(3)),
            ("structure_penalty_eV", "+structure", _f(3)), ("stability_penalty_eV", "+stability", _f(3)),
            ("bvse_1d_eV", "BVSE 1D", _f(3)), ("bvse_3d_eV", "BVSE 3D", _f(3)),
            ("neb_3d_eV", "NEB 3D", _f(3)), ("e_above_hull_eV_atom", "E_hull (eV/at)", _f(3)),
            ("prior", "prior log σ [90%]", None), ("ties", "tied with", None), ("flags", "flags", None)]
    note = ("<p class='muted'>Lower score is better. Candidates are ranked by basis first "
            "(MLIP NEB, then BVSE, then the conductivity prior only): the bases are not "
            "comparable. 'tied with': scores within the combined uncertainty.</p>")
    sections.append(("Ranking", note + (table_html(rows, cols) if rows else
                                         "<p class='warn'>No candidate passed the rules.</p>")))

    w = weights.to_dict()
    w.pop("provenance", None)
    wrows = [{"k": k, "v": v} for k, v in w.items()]
    sections.append(("How the score is computed", (
        "<p>score = barrier + mismatch penalty + structure-change penalty + stability penalty "
        "(eV, lower is better). Barrier: the BVSE 3D percolation energy of the (relaxed) "
        "supercell, or without BVSE the activation energy that reproduces the prior's "
        "σ(RT) with a typical halide prefactor. The weights are judgement, not physics:</p>"
        + table_html(wrows, [("k", "weight", None), ("v", "value", None)]))))

    dopants = sorted({c.dopant for c in doped if c.passed})
    figs = []
    for dop in dopants:
        members = [c for c in doped if c.dopant == dop and c.passed]
        meas = [m for m in measured if m["dopant"] in (dop, None) or (m["x"] == 0)]
        figs.append(figure_html(series_figure(parents[0] if parents else None, members, dop, meas),
                                f"{dop}: lattice, barrier and prior against x "
                                "(x = 0 is the parent; stars are measured)"))
    sections.append(("Series per dopant", "".join(figs) or "<p>No surviving candidates.</p>"))

    if measured:
        cmp_rows = []
        for m in measured:
            c = next((c for c in candidates
                      if (c.dopant == m["dopant"] or (m["x"] == 0 and c.dopant is None))
                      and abs(c.x - m["x"]) < 1e-6), None)
            p = c.prior if c else None
            lo_hi = (p["log10_sigma_low_S_cm"], p["log10_sigma_high_S_cm"]) if p else None
            ms = m.get("sigma_S_cm")
            inside = (None if not (p and ms) else
                      ("yes" if lo_hi[0] <= math.log10(ms) <= lo_hi[1] else "NO"))
            cmp_rows.append({
                "sample": f"{m['dopant'] or parent_name} x={m['x']:g}", "formula": c.formula if c else None,
                "meas_sigma": ms, "prior": _interval(p) if p else None, "inside": inside,
                "meas_ea": m.get("ea_eV"),
                "bvse3d": c.bvse.get("e_3d_eV") if c and c.bvse else None,
                "bvse1d": c.bvse.get("e_1d_eV") if c and c.bvse else None})
        sections.append(("Predicted vs measured", (
            "<p class='muted'>Measured values from the file the user gave. BVSE barriers of "
            "ideal ordered cells are expected above measured activation energies "
            "(disorder in ball-milled samples lowers them).</p>" + table_html(cmp_rows, [
                ("sample", "sample", None), ("formula", "formula", None),
                ("meas_sigma", "measured σ (S/cm)", lambda v: f"{v:.3g}"),
                ("prior", "prior log σ [90%]", None), ("inside", "in interval", None),
                ("meas_ea", "measured Ea (eV)", _f(3)), ("bvse1d", "BVSE 1D (eV)", _f(3)),
                ("bvse3d", "BVSE 3D (eV)", _f(3))]))))

    if pruned:
        prow = [{"label": c.label, "formula": c.formula, "why": "; ".join(c.rules.get("reasons", []))}
                for c in pruned]
        sections.append(("Pruned by the rules", table_html(
            prow, [("label", "candidate", None), ("formula", "formula", None), ("why", "reason", None)])))

    pages = [_candidate_page(by_label[r.label], r) for r in ranked[:max_pages] if r.label in by_label]
    if parents:
        pages.insert(0, _candidate_page(parents[0], None))
    more = (f"<p class='muted'>{len(ranked) - max_pages} more candidates are in the store "
            "(halidelab results).</p>" if len(ranked) > max_pages else "")
    sections.append(("Candidates", "".join(pages) + more))
    if failed:
        frows = [{"key": k[:12], "error": v} for k, v in failed.items()]
        sections.append(("Failed tasks", table_html(frows, [("key", "task", None), ("error", "error", None)])))
    return write_report(path, f"Screening {parent_name}", sections,
                        subtitle=f"{len(doped)} candidates, {len(ranked)} ranked.")
