"""Raw and calibrated values side by side, as HTML (``--calibration`` in the reports).

Formats the entries of :func:`halidelab.validation.apply.calibrate_composition` it is
given (nothing is computed here): one table row per composition (and synthesis state)
and calibration, with the raw ensemble mean, the calibrated value a + b x raw, its
interval (t quantile x sqrt(s_LOO^2 + (b s_ens)^2): the calibration's leave-one-out
scatter and the spread over the orderings), the map used (all materials, or leave-one-out
for a reference material), the nearest reference composition with its distance and the
out-of-domain flag; or, where a calibration does not apply, the note that says why.

Rows and cells carry ``data-`` attributes (``data-kind="calibrated"`` on the block,
``data-candidate``, ``data-tier``, ``data-model``, ``data-target``, ``data-status`` on a
row, ``data-value`` with the full-precision number on a numeric cell) so that readers and
tests can find them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from halidelab.report.html import esc

#: (column key, header)
COLUMNS: tuple[tuple[str, str], ...] = (
    ("candidate", "composition"),
    ("quantity", "quantity"),
    ("calibration", "calibration (tier, model)"),
    ("raw", "raw (ensemble mean)"),
    ("spread", "spread"),
    ("n", "orderings"),
    ("calibrated", "calibrated"),
    ("low", "low"),
    ("high", "high"),
    ("level", "level"),
    ("map", "map used"),
    ("nearest", "nearest reference (distance)"),
    ("domain", "domain"),
    ("measured", "measured"),
    ("note", "note"),
)

INTRO = (
    "<p>Calibrated = a + b × raw, the map <code>halidelab validate</code> fitted between the "
    "tier's predictions and the measured values of the reference set (chosen by leave-one-out "
    "error). Raw is the mean over the orderings of a composition (not the lowest-energy "
    "ordering alone); the interval combines the map's leave-one-out scatter and the spread over "
    "the orderings. A reference material is calibrated with the map fitted without it (map "
    "used: leave-one-out). A composition farther (total variation of atomic fractions) than the "
    "calibration's domain distance from every reference material is OUT OF DOMAIN: its "
    "interval is not to be trusted. A calibration is applied only to values made with its "
    "model and settings; otherwise the note says why.</p>"
)


def _nd(entry: dict[str, Any]) -> int:
    return 3 if entry.get("unit") == "eV" else 2


def _num(v: float | None, nd: int) -> tuple[str, str | None]:
    return ("–", None) if v is None else (f"{v:.{nd}f}", repr(float(v)))


def _cells(name: str, e: dict[str, Any], measured: str) -> list[tuple[str, str, str | None]]:
    """(column key, text, data-value) of one row."""
    nd = _nd(e)
    cal = f"{e['tier']}, {e['model']}"
    quantity = f"{e['label']} ({e['unit']})"
    if not e["applied"]:
        return [
            ("candidate", name, None),
            ("quantity", quantity, None),
            ("calibration", cal, None),
            *[
                (k, "–", None)
                for k in (
                    "raw",
                    "spread",
                    "n",
                    "calibrated",
                    "low",
                    "high",
                    "level",
                    "map",
                    "nearest",
                    "domain",
                )
            ],
            ("measured", measured, None),
            ("note", f"{e['status']}: {e['note']}", None),
        ]
    near = (
        f"{e['nearest_reference']} ({e['distance']:.3f})"
        if e.get("nearest_reference") is not None
        else "no reference composition"
    )
    if e["out_of_domain"]:
        domain = f"OUT OF DOMAIN (> {e['domain_distance']:g})"
    else:
        domain = f"in domain (≤ {e['domain_distance']:g})"
    return [
        ("candidate", name, None),
        ("quantity", quantity, None),
        ("calibration", cal, None),
        ("raw", *_num(e["raw"], nd)),
        ("spread", *_num(e["spread"], nd)),
        ("n", str(e["n_orderings"]), str(e["n_orderings"])),
        ("calibrated", *_num(e["calibrated"], nd)),
        ("low", *_num(e["low"], nd)),
        ("high", *_num(e["high"], nd)),
        ("level", f"{e['level']:.0%}", repr(float(e["level"]))),
        ("map", f"{e['kind']}, {e['map_used']}", None),
        ("nearest", near, None),
        ("domain", domain, "out" if e["out_of_domain"] else "in"),
        ("measured", measured, None),
        ("note", e.get("note") or "", None),
    ]


def calibration_table(rows: Sequence[dict[str, Any]], measured_label: str = "measured") -> str:
    """The table of raw and calibrated values.

    Parameters
    ----------
    rows : sequence of dict
        ``candidate`` (display name: composition, state), optional ``key`` (its
        ``data-candidate``; default the display name), ``entries`` (its
        :func:`~halidelab.validation.apply.calibrate_composition` list) and optional
        ``measured`` (target -> the measured value beside it, in the target's unit).
    measured_label : str
        Header of the measured column (shown when any row has a measured value).
    """
    show_measured = any(r.get("measured") for r in rows)
    cols = [
        (k, measured_label if k == "measured" else h)
        for k, h in COLUMNS
        if k != "measured" or show_measured
    ]
    head = "".join(f"<th class='l'>{esc(h)}</th>" for _, h in cols)
    body = []
    for r in rows:
        for e in r["entries"]:
            m = (r.get("measured") or {}).get(e["target"])
            meas = "–" if m is None else f"{m:.{_nd(e)}f}"
            cells = {k: (text, value) for k, text, value in _cells(r["candidate"], e, meas)}
            attrs = " ".join(
                f'data-{k}="{esc(v)}"'
                for k, v in (
                    ("candidate", r.get("key", r["candidate"])),
                    ("tier", e["tier"]),
                    ("model", e["model"]),
                    ("target", e["target"]),
                    ("status", e["status"]),
                )
            )
            tds = "".join(
                f"<td class='l' data-col='{k}'"
                + (f" data-value='{esc(cells[k][1])}'" if cells[k][1] else "")
                + f">{esc(cells[k][0])}</td>"
                for k, _ in cols
            )
            body.append(f"<tr {attrs}>{tds}</tr>")
    return f"<div class='scroll'><table><tr>{head}</tr>{''.join(body)}</table></div>"


def calibration_files(rows: Sequence[dict[str, Any]]) -> str:
    """One line per calibration applied: its map, fit and provenance."""
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in rows:
        for e in r["entries"]:
            seen.setdefault((e["tier"], e["model"], e["target"]), e)
    items = []
    for (tier, model, target), e in seen.items():
        c = e["calibration"]
        cov = c.get("coverage")
        held = (
            f"; held out, its {cov['level'] * 100:.0f} % intervals held {cov['inside']} of "
            f"{cov['n']} reference materials (95 % range of the fraction "
            f"{cov['fraction_low']:.2f}–{cov['fraction_high']:.2f})"
            + (
                f", {cov['built_inside']} of the {cov['built_n']} built on another's template "
                "(as a design is)"
                if cov.get("built_n")
                else ""
            )
            if cov
            else "; how its intervals fare held out is not recorded (fewer than 5 materials, "
            "or a file written before validate measured it)"
        )
        items.append(
            f"<li data-calibration='{esc(f'{tier} {model} {target}')}'>{esc(tier)} {esc(target)} "
            f"({esc(model)}): {esc(c['kind'])} map a = {c['a']:.4g}, b = {c['b']:.4g}, fitted on "
            f"{c['n_materials']} reference materials, leave-one-out MAE {c['loo_mae']:.3g} "
            f"{esc(e['unit'])}; reference set {esc(c['reference_sha256'][:12])}, halidelab "
            f"{esc(c['halidelab_version'])}{esc(held)}</li>"
        )
    return f"<ul>{''.join(items)}</ul>"


def calibration_section(
    rows: Sequence[dict[str, Any]], given: bool = True, measured_label: str = "measured"
) -> str:
    """The whole block: what calibration means, the files, the table, and plainly when
    none applies.

    Parameters
    ----------
    rows : sequence of dict
        As :func:`calibration_table`.
    given : bool
        Whether any calibration file was given (False: one line saying how to get one).
    measured_label : str
        Header of the measured column.
    """
    if not given:
        return (
            "<p class='missing' data-kind='calibrated' data-status='none given'>Calibrated values: "
            "none, "
            "no calibration file given: pass --calibration FILE (written by halidelab validate, "
            "REPORT/calibration/*.json) to show calibrated values with intervals beside the raw "
            "ones.</p>"
        )
    entries = [e for r in rows for e in r["entries"]]
    applied = sum(1 for e in entries if e["applied"])
    out = [INTRO, calibration_files(rows)]
    if not applied:
        why = sorted({e["note"] for e in entries if e["note"]})
        out.append(
            "<p class='warn' data-status='none applied'>No calibration applies to any composition "
            "here, so "
            "every value is raw: " + esc("; ".join(why) or "no matching raw value") + ".</p>"
        )
    elif applied < len(entries):
        out.append(
            f"<p class='note'>{applied} of {len(entries)} (composition, calibration) pairs are "
            "calibrated; the notes say why the others are not.</p>"
        )
    out.append(calibration_table(rows, measured_label))
    return f"<div data-kind='calibrated'>{''.join(out)}</div>"
