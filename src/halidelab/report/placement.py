"""Candidates among known halide electrolytes: the literature table next to predictions.

The known materials are the rows of :func:`halidelab.literature.load_literature` (the
shipped OBELiX halides, the reference case of Chen et al. 2025, and any user CSV) measured
at 25 ± 5 °C. A candidate is placed on the same log10 sigma axis by what halidelab
predicted for it: the data-driven prior at 25 °C with its 90 % interval, and, when MD ran,
the Nernst-Einstein sigma extrapolated to 300 K with its 68 % interval (300 K vs 298 K
shifts log10 sigma by ~0.01 for Ea ~ 0.3 eV, below the plot's resolution). MD places the
candidate only when it resolved an activation energy (Ea above two standard
uncertainties); otherwise its point is drawn hollow and the prior places it. Activation
energies sit in a second panel where they are known (measured, or MD from D(T)). The
nearest known materials by composition (:func:`halidelab.literature.nearest_known`) are
listed with their measured values and references.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from halidelab.errors import DataFormatError
from halidelab.report.html import esc, figure_html

#: Known entries measured this far from 25 °C are left out of a sigma(25 °C) axis.
TEMPERATURE_WINDOW_C = 5.0
#: Groups of known entries: (key, legend label, colour, marker).
_GROUPS = (
    ("reference", "reference case (Chen 2025)", "k", "o"),
    ("literature", "literature (OBELiX halides)", "0.55", "o"),
    ("added", "added rows (your CSV)", "tab:blue", "o"),
)
_PRIOR_COLOUR = "tab:purple"
_MD_COLOUR = "tab:orange"


@dataclasses.dataclass(frozen=True)
class PredictedSigma:
    """What halidelab predicts for one candidate's room-temperature conductivity.

    Attributes
    ----------
    label : str
        Shown on the axis (``"#1 Li1.8Zr0.8Nb0.2Cl6"``).
    formula : str
    prior_log10_S_cm, prior_low_log10_S_cm, prior_high_log10_S_cm : float or None
        Data-driven prior at 25 °C with its 90 % interval, log10(S/cm).
    prior_in_domain : bool or None
        Whether the candidate is inside the prior's applicability domain.
    md_sigma_300K_S_cm, md_sigma_300K_low_S_cm, md_sigma_300K_high_S_cm : float or None
        MD Nernst-Einstein sigma extrapolated to 300 K with its 68 % interval, S/cm.
    md_ea_eV, md_ea_err_eV : float or None
        Activation energy of D(T) from MD and its standard uncertainty, eV.
    """

    label: str
    formula: str
    prior_log10_S_cm: float | None = None
    prior_low_log10_S_cm: float | None = None
    prior_high_log10_S_cm: float | None = None
    prior_in_domain: bool | None = None
    md_sigma_300K_S_cm: float | None = None
    md_sigma_300K_low_S_cm: float | None = None
    md_sigma_300K_high_S_cm: float | None = None
    md_ea_eV: float | None = None
    md_ea_err_eV: float | None = None

    @classmethod
    def from_results(
        cls,
        label: str,
        formula: str,
        prior: Mapping[str, Any] | None = None,
        md_arrhenius: Mapping[str, Any] | None = None,
    ) -> PredictedSigma:
        """From a stored ``prior`` result and an MD Arrhenius dict (either may be None)."""
        p = prior or {}
        m = md_arrhenius if md_arrhenius and md_arrhenius.get("sigma_300K_S_cm") else {}
        return cls(
            label=label,
            formula=formula,
            prior_log10_S_cm=p.get("log10_sigma_S_cm"),
            prior_low_log10_S_cm=p.get("log10_sigma_low_S_cm"),
            prior_high_log10_S_cm=p.get("log10_sigma_high_S_cm"),
            prior_in_domain=p.get("in_domain"),
            md_sigma_300K_S_cm=m.get("sigma_300K_S_cm"),
            md_sigma_300K_low_S_cm=m.get("sigma_300K_low_S_cm"),
            md_sigma_300K_high_S_cm=m.get("sigma_300K_high_S_cm"),
            md_ea_eV=m.get("ea_eV"),
            md_ea_err_eV=m.get("ea_err_eV"),
        )

    @property
    def md_resolved(self) -> bool:
        """Whether MD resolved an activation energy (Ea > 2 standard uncertainties).

        Short MD near the ballistic regime gives a D(T) without Arrhenius slope; its
        300 K extrapolation then says nothing about room temperature.
        """
        return (
            bool(self.md_sigma_300K_S_cm)
            and self.md_ea_eV is not None
            and self.md_ea_eV > 2.0 * (self.md_ea_err_eV or 0.0)
        )

    @property
    def central_log10_S_cm(self) -> float | None:
        """The value the candidate is placed at: MD when it resolved an Ea, else the
        prior, else an unresolved MD value."""
        if self.md_resolved:
            return math.log10(self.md_sigma_300K_S_cm)
        if self.prior_log10_S_cm is not None:
            return self.prior_log10_S_cm
        return math.log10(self.md_sigma_300K_S_cm) if self.md_sigma_300K_S_cm else None


def _group(source: str) -> str:
    if source == "MISSION.md":
        return "reference"
    return "literature" if source.startswith("OBELiX") else "added"


def known_entries(
    table: pd.DataFrame, family: str | None = "halide", window_C: float = TEMPERATURE_WINDOW_C
) -> tuple[pd.DataFrame, int]:
    """Literature rows usable on a sigma(25 °C) axis, and how many were left out for T.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`halidelab.literature.load_literature`.
    family : str, optional
        Keep this chemical family only (None: all).
    window_C : float
        Keep rows measured within this many degrees of 25 °C.
    """
    sub = table[table["family"] == family] if family else table
    near = (sub["temperature_C"] - 25.0).abs() <= window_C
    return sub[near].reset_index(drop=True), int((~near).sum())


def placement_rows(
    predictions: Sequence[PredictedSigma], known: pd.DataFrame
) -> list[dict[str, Any]]:
    """Known entries and candidates on one log10 sigma axis, highest first.

    Returns
    -------
    list of dict
        ``kind`` (``"known"`` or ``"candidate"``), ``label``, ``log10_sigma_S_cm`` (the
        upper limit for censored entries), ``censored``, ``group`` (known: reference,
        literature or added), ``ea_eV`` (NaN/None where unknown), ``source``; candidates
        also carry ``prediction`` (the :class:`PredictedSigma`). Candidates without any
        prediction are left out.
    """
    rows: list[dict[str, Any]] = []
    for _, r in known.iterrows():
        ea = r.get("ea_eV")
        rows.append(
            {
                "kind": "known",
                "label": str(r["name"] or r["composition"]),
                "composition": r["composition"],
                "log10_sigma_S_cm": float(r["log10_sigma_S_cm"]),
                "censored": bool(r["censored"]),
                "group": _group(str(r["source"])),
                "ea_eV": None if ea is None or not math.isfinite(float(ea)) else float(ea),
                "source": str(r["source"]),
            }
        )
    for p in predictions:
        c = p.central_log10_S_cm
        if c is None:
            continue
        rows.append(
            {
                "kind": "candidate",
                "label": p.label,
                "composition": p.formula,
                "log10_sigma_S_cm": c,
                "censored": False,
                "group": "candidate",
                "ea_eV": p.md_ea_eV,
                "source": "halidelab",
                "prediction": p,
            }
        )
    rows.sort(key=lambda r: -r["log10_sigma_S_cm"])
    return rows


def placement_figure(rows: Sequence[dict[str, Any]]) -> Any:
    """log10 sigma(25 °C) of known materials with the candidates placed among them.

    Left: one row per entry, highest first; known entries as dots (censored ones as a
    left-pointing triangle at their upper limit), candidates with the prior (diamond,
    90 % interval; hollow when outside the prior's domain) and MD (square, 68 %
    interval). Right: activation energies where known. A dotted line marks 1 mS/cm.
    """
    from halidelab.plotting import pyplot

    plt = pyplot()
    from matplotlib.lines import Line2D

    if not rows:
        raise ValueError("nothing to place: no known entry and no prediction")
    n = len(rows)
    has_ea = any(r.get("ea_eV") is not None for r in rows)
    fig, axes = plt.subplots(
        1,
        2 if has_ea else 1,
        figsize=(8.6 if has_ea else 7.0, 1.3 + 0.24 * n),
        sharey=True,
        squeeze=False,
        gridspec_kw={"width_ratios": [3, 1.2] if has_ea else [1]},
    )
    ax = axes[0][0]
    ys = np.arange(n)[::-1]
    style = {k: (c, m) for k, _, c, m in _GROUPS}
    for y, r in zip(ys, rows, strict=True):
        if r["kind"] == "known":
            c, m = style[r["group"]]
            ax.plot(
                r["log10_sigma_S_cm"],
                y,
                "<" if r["censored"] else m,
                color=c,
                ms=6,
                mfc="none" if r["censored"] else c,
            )
            if r.get("ea_eV") is not None and has_ea:
                axes[0][1].plot(r["ea_eV"], y, m, color=c, ms=6)
            continue
        p: PredictedSigma = r["prediction"]
        if p.prior_log10_S_cm is not None:
            lo = p.prior_log10_S_cm - (
                p.prior_low_log10_S_cm if p.prior_low_log10_S_cm is not None else p.prior_log10_S_cm
            )
            hi = (
                p.prior_high_log10_S_cm
                if p.prior_high_log10_S_cm is not None
                else p.prior_log10_S_cm
            ) - p.prior_log10_S_cm
            ax.errorbar(
                p.prior_log10_S_cm,
                y + (0.15 if p.md_sigma_300K_S_cm else 0.0),
                xerr=[[lo], [hi]],
                fmt="D",
                color=_PRIOR_COLOUR,
                ms=5,
                capsize=2,
                lw=1.0,
                mfc="none" if p.prior_in_domain is False else _PRIOR_COLOUR,
            )
        if p.md_sigma_300K_S_cm:
            c = math.log10(p.md_sigma_300K_S_cm)
            lo = c - math.log10(p.md_sigma_300K_low_S_cm or p.md_sigma_300K_S_cm)
            hi = math.log10(p.md_sigma_300K_high_S_cm or p.md_sigma_300K_S_cm) - c
            ax.errorbar(
                c,
                y - 0.15,
                xerr=[[lo], [hi]],
                fmt="s",
                color=_MD_COLOUR,
                ms=5,
                capsize=2,
                lw=1.0,
                mfc=_MD_COLOUR if p.md_resolved else "none",
            )
            if has_ea and p.md_ea_eV is not None:
                axes[0][1].errorbar(
                    p.md_ea_eV,
                    y,
                    xerr=p.md_ea_err_eV or 0.0,
                    fmt="s",
                    color=_MD_COLOUR,
                    ms=5,
                    capsize=2,
                )
        ax.axhspan(y - 0.45, y + 0.45, color=_PRIOR_COLOUR, alpha=0.07, lw=0)
    ax.axvline(-3.0, color="0.6", ls=":", lw=0.9)
    ax.text(-3.0, n - 0.4, " 1 mS/cm", fontsize=7, color="0.4", va="bottom")
    ax.set_yticks(ys)
    ax.set_yticklabels(
        [r["label"] + (" (upper limit)" if r["censored"] else "") for r in rows], fontsize=7
    )
    for lab, r in zip(ax.get_yticklabels(), rows, strict=True):
        if r["kind"] == "candidate":
            lab.set_color(_PRIOR_COLOUR)
            lab.set_fontweight("bold")
    ax.set_ylim(-0.8, n - 0.2)
    ax.set_xlabel("log$_{10}$ σ at 25 °C (S/cm)")
    ax.grid(axis="x", color="0.92")
    handles = [
        Line2D([], [], ls="", marker=m, color=c, label=lab)
        for k, lab, c, m in _GROUPS
        if any(r["group"] == k for r in rows)
    ]
    if any(r["censored"] for r in rows):
        handles.append(
            Line2D([], [], ls="", marker="<", color="0.55", mfc="none", label="upper limit")
        )
    if any(r["kind"] == "candidate" and r["prediction"].prior_log10_S_cm is not None for r in rows):
        handles.append(
            Line2D(
                [],
                [],
                ls="-",
                marker="D",
                color=_PRIOR_COLOUR,
                label="prior, 90% interval (hollow: outside its domain)",
            )
        )
    if any(r["kind"] == "candidate" and r["prediction"].md_sigma_300K_S_cm for r in rows):
        handles.append(
            Line2D(
                [],
                [],
                ls="-",
                marker="s",
                color=_MD_COLOUR,
                label="MD σ(300 K), 68% interval (hollow: Ea not resolved)",
            )
        )
    ax.legend(handles=handles, fontsize=7, loc="lower right", framealpha=0.9)
    if has_ea:
        ea_ax = axes[0][1]
        ea_ax.set_xlabel("E$_a$ (eV)")
        ea_ax.grid(axis="x", color="0.92")
        ea_ax.set_title("activation energy where known", fontsize=8)
    fig.tight_layout()
    return fig


def _fmt_sigma(v: float | None) -> str:
    return "–" if v is None else f"{v:.3g}"


def nearest_table_html(
    predictions: Sequence[PredictedSigma],
    table: pd.DataFrame,
    n: int = 3,
    family: str | None = "halide",
) -> str:
    """A table: each candidate, its predictions, its rank among known entries, and the
    ``n`` known materials nearest in composition with their measured values.

    ``table`` should hold entries measured near 25 °C (:func:`known_entries`): the ranks
    and the sigma column compare room-temperature values.
    """
    from halidelab.literature import nearest_known, rank_among

    head = (
        "<tr><th class='l'>candidate</th><th class='l'>predicted log<sub>10</sub> σ (S/cm)</th>"
        "<th class='l'>among known</th><th class='l'>nearest known (composition distance)</th>"
        "<th>σ 25 °C (S/cm)</th><th>E<sub>a</sub> (eV)</th><th class='l'>reference</th></tr>"
    )
    body = []
    for p in predictions:
        pred = []
        if p.prior_log10_S_cm is not None:
            pred.append(
                f"prior {p.prior_log10_S_cm:.2f} [{p.prior_low_log10_S_cm:.2f}, "
                f"{p.prior_high_log10_S_cm:.2f}]"
                + ("" if p.prior_in_domain is not False else " (outside domain)")
            )
        if p.md_sigma_300K_S_cm:
            pred.append(
                f"MD 300 K {math.log10(p.md_sigma_300K_S_cm):.2f}"
                + (
                    f", Ea {p.md_ea_eV:.3f} ± {p.md_ea_err_eV:.3f} eV"
                    if p.md_ea_eV is not None
                    else ""
                )
                + ("" if p.md_resolved else " (Ea not resolved: not used for placement)")
            )
        among = []
        for what, v in (
            ("prior", p.prior_log10_S_cm),
            ("MD", math.log10(p.md_sigma_300K_S_cm) if p.md_resolved else None),
        ):
            if v is not None:
                try:
                    rk = rank_among(10.0**v, table, family=family)
                except DataFormatError:  # no comparable entries: say nothing
                    continue
                among.append(f"{what}: above {rk['percentile']:.0f}% of {rk['n']}")
        near = nearest_known(p.formula, table, n=n, family=family)
        for i, (_, r) in enumerate(near.iterrows()):
            ea = r.get("ea_eV")
            ref = str(r.get("reference") or "") or (
                f"doi:{r['doi']}" if r.get("doi") else str(r.get("source", ""))
            )
            first = i == 0
            ea_text = "–" if ea is None or not math.isfinite(float(ea)) else f"{float(ea):.3f}"
            cells = [
                f"<td class='l'>{esc(p.label) if first else ''}</td>",
                f"<td class='l'>{esc('; '.join(pred) or '–') if first else ''}</td>",
                f"<td class='l'>{esc('; '.join(among) or '–') if first else ''}</td>",
                f"<td class='l'>{esc(r['name'] or r['composition'])} ({r['distance']:.3f})</td>",
                f"<td>{'< ' if r['censored'] else ''}"
                f"{esc(_fmt_sigma(float(r['sigma_S_cm'])))}</td>",
                f"<td>{ea_text}</td>",
                f"<td class='l'>{esc(ref)}</td>",
            ]
            body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<div class='scroll'><table>{head}{''.join(body)}</table></div>"


def placement_section(
    predictions: Sequence[PredictedSigma],
    literature_csvs: Sequence[str | Path] = (),
    table: pd.DataFrame | None = None,
    n_nearest: int = 3,
) -> str:
    """HTML of the "among known materials" section: figure, nearest-known table, notes.

    Parameters
    ----------
    predictions : sequence of PredictedSigma
        Candidates to place (those without a prediction are named in a note).
    literature_csvs : sequence of path
        The user's own tables added to the shipped one (:func:`load_literature`).
    table : pandas.DataFrame, optional
        A literature table already loaded (then ``literature_csvs`` is ignored).
    n_nearest : int
        Known materials listed per candidate.
    """
    from halidelab.literature import load_literature

    lit = table if table is not None else load_literature(literature_csvs)
    known, n_off = known_entries(lit)
    rows = placement_rows(predictions, known)
    placed = [p for p in predictions if p.central_log10_S_cm is not None]
    parts = [
        f"<p class='muted'>{len(known)} known halides from the literature table "
        f"(shipped OBELiX halides, the reference case, and {len(literature_csvs)} added table(s)) "
        f"measured at 25 ± {TEMPERATURE_WINDOW_C:g} °C"
        + (f"; {n_off} measured at other temperatures left out" if n_off else "")
        + ". Candidates are placed by MD σ(300 K) when MD resolved an activation energy "
        "(Ea > 2σ), else by the prior; the intervals say how far to trust the placement.</p>"
    ]
    if rows:
        parts.append(
            figure_html(
                placement_figure(rows),
                "Known halide electrolytes (measured σ at 25 °C, "
                "Ea where known) with the candidates' predictions on the same axis.",
                kind="literature",
            )
        )
    unplaced = [p.label for p in predictions if p.central_log10_S_cm is None]
    if not placed:
        parts.append(
            "<p class='missing' data-missing='literature'>candidates' conductivity: not "
            "computed: run tier prior (or md)</p>"
        )
    elif unplaced:
        parts.append(
            f"<p class='muted'>not placed (no prior or MD): {esc(', '.join(unplaced))}</p>"
        )
    if predictions:
        parts.append(
            "<p class='muted'>Nearest known materials by composition (total variation "
            "distance of atomic fractions: 0 = same composition, 1 = no shared element; "
            "stoichiometry only, not chemical similarity).</p>"
        )
        parts.append(nearest_table_html(predictions, known, n=n_nearest))
    return "".join(parts)
