"""The validation report: predicted vs measured Ea and log10 sigma(25 C) per tier and model.

One self-contained HTML page (:mod:`halidelab.report.html`): the parity table (raw and
leave-one-out calibrated MAE, RMSE, Spearman, classification accuracy, the chosen map and
the LOO error of every map, wall time per material), parity figures (raw predictions
hollow, LOO-calibrated filled, the other measurements of the same material as a grey
range: how far experiments on one composition already spread), the per-material table,
the substitution pairs, and the reference set with its DOIs and sources.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from halidelab.report.html import esc, figure_html, table_html, write_report
from halidelab.validation.metrics import (
    EA_GOOD_EV,
    SIGMA_GOOD_LOG10_S_CM,
    VOLUME_FLAG_PERCENT,
    comparison_verdict,
    fmt,
    metric_table,
)

_TARGET_LABEL = {"ea_eV": "E$_a$ (eV)", "log10_sigma_S_cm": "log$_{10}$ σ(25 °C) (S/cm)"}
_TARGET_TEXT = {"ea_eV": "Ea (eV)", "log10_sigma_S_cm": "log10 sigma(25 C) (log10 S/cm)"}


def _f(spec: str):
    return lambda v: fmt(v, spec)


def parity_figure(rows: list[dict[str, Any]], tier: str, model: str) -> Any:
    """Two panels (Ea, log10 sigma): measured on x, predicted on y, raw and LOO-calibrated.

    Raises
    ------
    ValueError
        No prediction of this tier and model.
    """
    from halidelab.report.figures import _plt

    plt = _plt()
    sub = [r for r in rows if r["tier"] == tier and r["model"] == model]
    targets = [
        t for t in ("ea_eV", "log10_sigma_S_cm") if any(r[f"pred_{t}"] is not None for r in sub)
    ]
    if not targets:
        raise ValueError(f"no prediction of tier {tier} ({model})")
    fig, axes = plt.subplots(1, len(targets), figsize=(5.2 * len(targets), 4.6), squeeze=False)
    for ax, t in zip(axes[0], targets, strict=True):
        meas_key = f"measured_{t}"
        xs, ys = [], []
        for r in sub:
            m, p = r[meas_key], r[f"pred_{t}"]
            up = r.get(f"upper_{t}")
            if m is not None and p is None and up is not None:  # a predicted upper limit
                ax.plot(m, up, "v", mfc="none", color="tab:blue", ms=6, zorder=3)
                xs.append(m)
                ys.append(up)
                continue
            if m is None or p is None:
                continue
            cens = t == "log10_sigma_S_cm" and r["censored"]
            others = [o[t] for o in r["other_measurements"] if o.get(t) is not None]
            if others:
                ax.plot(
                    [min([m, *others]), max([m, *others])],
                    [p, p],
                    color="0.75",
                    lw=3,
                    zorder=1,
                    solid_capstyle="round",
                )
                xs.extend(others)
            ax.plot(m, p, "<" if cens else "o", mfc="none", color="tab:blue", ms=6, zorder=3)
            loo = r.get(f"loo_{t}")
            if loo is not None:
                ax.plot(m, loo, "<" if cens else "o", color="tab:red", ms=5, zorder=4)
                ax.plot([m, m], [p, loo], color="tab:red", lw=0.6, alpha=0.5, zorder=2)
                ys.append(loo)
            ax.annotate(
                r["composition"],
                (m, p),
                fontsize=6,
                xytext=(3, 2),
                textcoords="offset points",
                color="0.3",
            )
            xs.append(m)
            ys.append(p)
        if xs:
            lo, hi = min(xs + ys), max(xs + ys)
            pad = 0.08 * (hi - lo or 1.0)
            ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=0.8)
            ax.set_xlim(lo - pad, hi + pad)
            ax.set_ylim(lo - pad, hi + pad)
        thr = EA_GOOD_EV if t == "ea_eV" else SIGMA_GOOD_LOG10_S_CM
        ax.axvline(thr, color="0.6", ls=":", lw=0.8)
        ax.axhline(thr, color="0.6", ls=":", lw=0.8)
        ax.set_xlabel(f"measured {_TARGET_LABEL[t]}")
        ax.set_ylabel(f"predicted {_TARGET_LABEL[t]}")
        ax.set_title(f"{tier} ({model})", fontsize=9)
        ax.grid(color="0.93")
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], ls="", marker="o", mfc="none", color="tab:blue", label="raw"),
        Line2D([], [], ls="", marker="o", color="tab:red", label="calibrated (leave-one-out)"),
        Line2D([], [], color="0.75", lw=3, label="other measurements of the material"),
        Line2D(
            [], [], ls="", marker="v", mfc="none", color="tab:blue", label="predicted upper limit"
        ),
        Line2D([], [], ls=":", color="0.6", label="good/poor threshold"),
    ]
    axes[0][-1].legend(handles=handles, fontsize=7, loc="best", framealpha=0.85)
    fig.tight_layout()
    return fig


def _metric_rows(out: Any) -> list[dict[str, Any]]:
    rows = metric_table(out.metrics)
    for r, m in zip(rows, out.metrics, strict=True):
        cal = m.get("calibration") or {}
        r["maps"] = "; ".join(f"{c['kind']} {c['loo_mae']:.3g}" for c in cal.get("candidates", []))
        r["target"] = _TARGET_TEXT[r["target"]]
        n_lim = r.get("n_limits") or 0
        r["limits"] = f"{n_lim} ({r.get('limits_respected') or 0})" if n_lim else "–"
        for basis in ("raw", "loo"):
            lo, hi = r.get(f"{basis}_mae_low"), r.get(f"{basis}_mae_high")
            r[f"{basis}_mae_ci"] = f"{lo:.3g} – {hi:.3g}" if lo is not None else "–"
            lo, hi = r.get(f"{basis}_spearman_low"), r.get(f"{basis}_spearman_high")
            r[f"{basis}_spearman_ci"] = f"{lo:.2f} – {hi:.2f}" if lo is not None else "–"
        if r.get("coverage_n"):
            k, n = r["coverage_inside"], r["coverage_n"]
            r["coverage"] = (
                f"{k}/{n} ({k / n:.2f}; {r['coverage_low']:.2f} – {r['coverage_high']:.2f})"
                f"; {r['coverage_without_spread']}/{n} without the spread"
                + (f"; RMS z {r['coverage_rms_z']:.2f}" if r.get("coverage_rms_z") else "")
                + (
                    f"; built models {r['coverage_built_inside']}/{r['coverage_built_n']}"
                    if r.get("coverage_built_n")
                    else ""
                )
            )
        if m.get("raw_prior_held_out"):
            h = m["raw_prior_held_out"]
            r["why_not"] = (r["why_not"] + " " if r["why_not"] else "") + (
                f"prior on the {h['n']} materials outside its training split: MAE {fmt(h['mae'])}, "
                f"Spearman {fmt(h['spearman'])}"
            )
    return rows


def _ea_row(r: dict[str, Any]) -> str:
    """Which row the measured Ea came from: "primary", another row's id, or "" (none)."""
    ea_id = r.get("measured_ea_id")
    if ea_id is None:
        return ""
    return "primary" if ea_id == r["id"] else ea_id


def _material_rows(out: Any) -> list[dict[str, Any]]:
    mats: dict[str, dict[str, Any]] = {}
    for r in out.rows:
        d = mats.setdefault(
            r["material"],
            {
                "composition": r["composition"],
                "synthesis": r["synthesis"],
                "sigma": 10 ** r["measured_log10_sigma_S_cm"],
                "censored": r["censored"],
                "ea": r["measured_ea_eV"],
                "ea_row": _ea_row(r),
                "doi": r["doi"],
                "n_other": len(r["other_measurements"]),
                "structure_model": r.get("structure_model", ""),
            },
        )
        lab = f"{r['tier']}/{r['model']}"
        for t, short in (("ea_eV", "Ea"), ("log10_sigma_S_cm", "logσ")):
            if r[f"pred_{t}"] is None and r.get(f"note_{t}", "").startswith("no value"):
                d[f"{lab} {short}"] = r[f"note_{t}"]
            if r[f"pred_{t}"] is None and r.get(f"upper_{t}") is not None:
                d[f"{lab} {short}"] = f"< {r[f'upper_{t}']:.3g} ({r[f'note_{t}']})"
            if r[f"pred_{t}"] is not None:
                loo = r.get(f"loo_{t}")
                n_ord = sum(v is not None for v in r.get(f"orderings_{t}") or ())
                d[f"{lab} {short}"] = (
                    f"{r[f'pred_{t}']:.3g}"
                    + (f" ± {r[f'spread_{t}']:.2g} ({n_ord} ord.)" if n_ord > 1 else "")
                    + (f" → {loo:.3g}" if loo is not None else "")
                )
        if r["computed"]:
            d[f"{lab} s"] = f"{r['wall_s']:.0f}"
        dv = r.get("relaxed_volume_change_percent")
        if dv is not None:
            flag = r.get("measured_structure") and abs(dv) > VOLUME_FLAG_PERCENT
            th = r.get("thermal_expansion_percent")
            axes = r.get("relaxed_axes_change_percent")
            d[f"relax/{r['model']} ΔV"] = (
                f"{dv:+.1f} %"
                + (" (a {:+.1f}, b {:+.1f}, c {:+.1f} %)".format(*axes) if axes is not None else "")
                + _bonds_text(r.get("relaxed_bond_change"))
                + (
                    f" at {r['lattice_temperature_K']:g} K ({th:+.1f} % of it thermal)"
                    if th is not None
                    else ""
                )
                + (f" (over {VOLUME_FLAG_PERCENT:g} % off the measured lattice)" if flag else "")
            )
    return list(mats.values())


def _bonds_text(bonds: list[dict[str, Any]] | None) -> str:
    """ "; bonds Y–Cl +2.7, Li–Cl -1.1 %" from :func:`relaxed_bond_change`'s pairs."""
    if not bonds:
        return ""
    parts = ", ".join(f"{b['pair'].replace('-', '–')} {b['change_percent']:+.1f}" for b in bonds)
    return f"; bonds {parts} %"


def _combined_html(combined: list[dict[str, Any]]) -> str:
    """The stacked tier + prior estimates (:mod:`halidelab.validation.combine`)."""
    rows = [
        {
            **c,
            "coef": (
                f"{c['a']:+.2f} {c['b_tier']:+.2f} x_tier {c['b_prior']:+.2f} x_prior"
                if "a" in c
                else "–"
            ),
            "used_text": "yes" if c["used"] else "no",
        }
        for c in combined
    ]
    body = table_html(
        rows,
        [
            ("physics_tier", "tier", None),
            ("model", "model", None),
            ("n", "n", None),
            ("n_in_prior_training", "left out: in the prior's training", None),
            ("loo_mae", "MAE LOO, combined", _f(".3g")),
            ("loo_mae_tier_alone", "MAE LOO, tier alone", _f(".3g")),
            ("loo_mae_prior_alone", "MAE LOO, prior alone", _f(".3g")),
            ("loo_rmse", "RMSE LOO, combined", _f(".3g")),
            ("loo_spearman", "Spearman LOO, combined", _f(".2f")),
            ("coef", "log σ = (fitted on all)", None),
            ("used_text", "used", None),
            ("verdict", "verdict", None),
        ],
    )
    return body + (
        "<p class='muted'>log10 σ(25 °C) = a + b<sub>tier</sub> x<sub>tier</sub> + "
        "b<sub>prior</sub> x<sub>prior</sub>, fitted by least squares and scored leave-one-"
        "material-out on the materials where both predict, σ was measured and the prior "
        "did not see them in training; the tier and "
        "the prior alone are scored by their own LOO calibrations on the same materials. "
        "The combination is used only when it beats both.</p>"
    )


def _comparisons_html(comparisons: list[Any]) -> str:
    """Paired bootstrap differences of absolute errors (:func:`tier_comparisons`)."""
    rows = [
        {
            "target": _TARGET_TEXT[c.target],
            "a": c.a.replace("|", " · "),
            "b": c.b.replace("|", " · "),
            "basis": "LOO-cal." if c.basis == "loo" else "raw",
            "reason": c.reason,
            "n": c.n,
            "mae_a": c.mae_a,
            "mae_b": c.mae_b,
            "diff": f"{c.difference:+.3g} [{c.low:+.3g}, {c.high:+.3g}]",
            "p": c.p_value,
            "p_holm": c.p_holm,
            "verdict": comparison_verdict(c),
        }
        for c in comparisons
    ]
    return table_html(
        rows,
        [
            ("target", "target", None),
            ("a", "a (tier · model)", None),
            ("b", "b", None),
            ("reason", "compared as", None),
            ("basis", "predictions", None),
            ("n", "n", None),
            ("mae_a", "MAE a", _f(".3g")),
            ("mae_b", "MAE b", _f(".3g")),
            ("diff", "mean |err a| − |err b| [95 %]", None),
            ("p", "p (sign flip)", _f(".2g")),
            ("p_holm", "p (Holm)", _f(".2g")),
            ("verdict", "verdict", None),
        ],
    ) + (
        "<p class='muted'>On the materials both predict with an uncensored measurement: the "
        "mean difference of absolute errors and its 95 % paired-bootstrap interval "
        "(10,000 resamples of the materials, seeded), and the two-sided p of the exact "
        "paired sign-flip test of equal mean errors. A difference is resolved only when the "
        "interval excludes 0 and the p after Holm's correction is below 0.05; the raw "
        f"comparisons are one Holm family ({sum(c.basis == 'raw' for c in comparisons)} "
        f"here) and the LOO ones another ({sum(c.basis == 'loo' for c in comparisons)}). "
        "On n materials the smallest sign-flip p is 2/2<sup>n</sup>: four materials can "
        "never resolve a difference (too few materials to test). Not resolved: the reference "
        "set cannot tell the two apart. Compared as: model = against the first model, same "
        "tier; built on = a tier against the barrier tier it adds to; prior = against the "
        "model-free prior; set mean = a calibrated tier against the reference set's own mean "
        "(leave-one-out, no tier at all: the no-skill baseline).</p>"
    )


def _model_choice_html(choices: list[dict[str, Any]]) -> str:
    """Per tier: the models ranked by LOO Ea MAE, with cost, and the verdict."""
    parts = []
    for c in choices:
        rows = [
            {
                **r,
                "ci": (
                    f"{r['loo_mae_low']:.3g} – {r['loo_mae_high']:.3g}"
                    if r.get("loo_mae_low") is not None
                    else "–"
                ),
            }
            for r in c["ranking"]
        ]
        parts.append(
            f"<h3>{esc(c['tier'])}</h3>"
            + table_html(
                rows,
                [
                    ("model", "model", None),
                    ("loo_mae", "MAE LOO-cal.", _f(".3g")),
                    ("ci", "95 %", None),
                    ("n", "n", None),
                    ("wall_s_per_material", "wall s/material", _f(".0f")),
                ],
            )
            + f"<p>{esc(c['verdict'])}.</p>"
        )
    return "".join(parts) + (
        "<p class='muted'>The rule: the lowest leave-one-out calibrated E<sub>a</sub> error "
        "at an affordable cost. Wall time is per material on the machine that computed the "
        "store (tasks share it with whatever else ran).</p>"
    )


def _structure_split_html(splits: list[dict[str, Any]]) -> str:
    """Per tier, model and target: the errors on measured structures and on built ones
    (:func:`halidelab.validation.metrics.structure_split`)."""
    rows = []
    for g in splits:
        row = {"tier": g["tier"], "model": g["model"], "target": g["target"]}
        for k in ("measured", "built"):
            row[f"{k}_n"] = g[k]["n"]
            row[f"{k}_raw"] = g[k]["raw"]
            row[f"{k}_loo"] = g[k]["loo"]
        rows.append(row)
    num = _f(".3g")
    return table_html(
        rows,
        [
            ("tier", "tier", None),
            ("model", "model", None),
            ("target", "target", None),
            ("measured_n", "n measured", None),
            ("measured_raw", "measured: raw MAE", num),
            ("measured_loo", "measured: LOO MAE", num),
            ("built_n", "n built", None),
            ("built_raw", "built: raw MAE", num),
            ("built_loo", "built: LOO MAE", num),
        ],
    ) + (
        "<p class='muted'>Measured: the material's ordered model is built from its own CIF "
        "(its measured cell and positions, before any relaxation). Built: the composition "
        "placed on another material's template "
        "scaled by its M–X bond lengths, as every screened design is; these are the errors "
        "to expect of a design. Censored σ rows are left out.</p>"
    )


def _gap_split_html(splits: list[dict[str, Any]]) -> str:
    """Per tier and model: each material's log σ(25 °C) error, its barrier's and its
    prefactor's part (:func:`halidelab.validation.metrics.gap_split`)."""
    parts = []
    for g in splits:
        parts.append(
            f"<h3>{esc(g['tier'])} ({esc(g['model'])})</h3><p>n = {g['n']}: RMS of the "
            f"barrier's part {g['rms_barrier']:.2f}, of the prefactor's part "
            f"{g['rms_prefactor']:.2f} decades (means {g['mean_barrier']:+.2f} and "
            f"{g['mean_prefactor']:+.2f})"
            + (
                f"; with exact barriers an offset calibration would leave the prefactor parts' "
                f"spread, {g['sd_prefactor']:.2f} decades (SD)"
                if g.get("sd_prefactor") is not None
                else ""
            )
            + "; median log<sub>10</sub> A measured "
            f"{g['median_measured_log10_A']:.2f}, predicted {g['median_predicted_log10_A']:.2f} "
            "(A = σ<sub>0</sub>T in S K/cm).</p>"
            + table_html(
                g["materials"],
                [
                    ("composition", "material", None),
                    ("id", "reference row", None),
                    ("total", "Δlog σ (pred − meas)", _f("+.2f")),
                    ("barrier", "barrier's part", _f("+.2f")),
                    ("prefactor", "prefactor's part", _f("+.2f")),
                    ("measured_log10_A", "log A meas.", _f(".2f")),
                    ("predicted_log10_A", "log A pred.", _f(".2f")),
                ],
            )
        )
    return "".join(parts) + (
        "<p class='muted'>Both are Arrhenius, σT = A exp(−E<sub>a</sub>/k<sub>B</sub>T), so at "
        "25 °C the error of log σ is exactly −ΔE<sub>a</sub>/(k<sub>B</sub>T ln 10), the "
        "barrier's part (0.059 eV is one decade), plus Δlog A, the prefactor's part (attempt "
        "frequency, how many Li move, correlation, migration entropy). Only materials with "
        "both predictions, an uncensored σ and an E<sub>a</sub> measured on the same sample "
        "enter; a measured E<sub>a</sub> uncertain by 0.03–0.05 eV moves a material's split "
        "by 0.5–0.8 decades between the two parts. The bvse tier's σ is a random walk of "
        "all Li with one 3.0 Å hop per attempt at 10<sup>13</sup> Hz, without correlation or "
        "migration entropy: its A is the reference of a plain hopping model (several "
        "equivalent hop directions raise it by up to about one decade); a measured A well "
        "above it is migration entropy, or Meyer–Neldel compensation in the measured "
        "Arrhenius line, which no tier here models and only a calibration absorbs.</p>"
    )


def _floor_html(floors: list[dict[str, Any]], metrics: list[dict[str, Any]]) -> str:
    """The reference set's own repeat measurements: the error no tier can remove
    (:func:`halidelab.validation.metrics.measurement_floor`)."""
    unit = {"log10_sigma_S_cm": ("log σ(25 °C)", "decades"), "ea_eV": ("E<sub>a</sub>", "eV")}
    parts = []
    for f in floors:
        what, u = unit[f["target"]]
        if not f["n_materials"]:
            parts.append(f"<p>{what}: no material of this set has two usable measurements.</p>")
            continue
        base = [
            m["baseline_loo_mae"]
            for m in metrics
            if m.get("target") == f["target"] and m.get("baseline_loo_mae")
        ]
        room = (
            f" Against the set's mean (LOO MAE {min(base):.3g}–{max(base):.3g} {u} on the "
            "tiers' materials) the skill a perfect tier could show is about "
            f"{1 - f['floor_mae'] / min(base):+.2f} to {1 - f['floor_mae'] / max(base):+.2f}."
            if base
            else ""
        )
        parts.append(
            f"<p>{what}: {f['n_rows']} measurements of {f['n_materials']} materials; their "
            f"scatter about each material's mean has SD {f['pooled_sd']:.3g} {u} (pooled), so "
            f"an exact prediction of each material would still miss single measurements by "
            f"<b>{f['floor_mae']:.3g} {u}</b> (MAE); the further rows miss each material's "
            f"first row by {f['pair_mae']:.3g} {u} (MAE of {f['n_pairs']} pairs).{room}"
            + (
                f" The {f['n_set']} materials spread with SD {f['set_sd']:.3g} {u}: against "
                "single rows, an exact prediction correlates with the measurements at about "
                f"r = {f['correlation_ceiling']:.2f}, on average the most a tier can show."
                if f.get("correlation_ceiling") is not None
                else ""
            )
            + "</p>"
            + table_html(
                f["pairs"],
                [
                    ("id", "first row", None),
                    ("other_id", "other row", None),
                    ("value", "value", _f(".3g")),
                    ("other_value", "other value", _f(".3g")),
                    ("difference", "other − first", _f("+.2f")),
                ],
            )
        )
    return "".join(parts) + (
        "<p class='muted'>Rows of one modelled material are other groups' samples and other "
        "synthesis routes that the structure model does not tell apart; each tier predicts "
        "one value for all of them and is scored against the primary row. With normal "
        "scatter of SD s, an exact prediction misses single rows by s√(2/π) on average. "
        "Censored σ and rows measured at another temperature are left out. The estimate "
        "rests on the few replicated materials (mostly Li<sub>3</sub>MX<sub>6</sub>) and is "
        "itself uncertain.</p>"
    )


def _estimate_text(out: Any) -> str:
    """How long the campaign's rest was estimated to take after its models, and took."""
    est = getattr(out, "estimate", None)
    took = getattr(out, "wall_after_models_s", None)
    if not est or took is None:
        return ""
    from halidelab.screening.cost import format_duration

    unpriced = est.get("not_priced") or 0
    return (
        f" Estimated after the models: {format_duration(est['total_s'])} (range "
        f"{format_duration(est['low_s'])} - {format_duration(est['high_s'])}) on "
        f"{est['workers']} worker(s)"
        + (f", {unpriced} task(s) not priced" if unpriced else "")
        + f"; it took {format_duration(took)}."
    )


def write_validation_report(path: str | Path, out: Any, ref: Any) -> Path:
    """Write the validation report of a :class:`~halidelab.validation.run.ValidationOutput`."""
    from halidelab.validation.calibration import LEVEL
    from halidelab.validation.metrics import (
        substitution_spearman,
        synthesis_agreement,
        synthesis_pair_text,
    )

    sections = []
    st = out.settings
    n_mat = len({r["material"] for r in out.rows}) or len(ref.primary())
    summary = (
        f"<p>Reference set: {len(ref.entries)} measurements of {len(ref.by_material())} materials "
        f"(sha256 <code>{esc(out.reference_sha256[:16])}</code>…), {n_mat} with predictions. "
        "Tiers: "
        f"{esc(', '.join(out.tiers))}; models: {esc(', '.join(out.models) or '–')}. Results store: "
        f"<code>{esc(out.store)}</code> (a rerun computes nothing already done). Wall time of this "
        "run "
        f"{out.wall_s:.0f} s.{_estimate_text(out)}</p>"
        f"<p class='note'>Good conductor: σ(25 °C) ≥ 10<sup>{SIGMA_GOOD_LOG10_S_CM:g}</sup> S/cm "
        "for log σ, "
        f"E<sub>a</sub> ≤ {EA_GOOD_EV:g} eV for E<sub>a</sub> (Bheemaguli, Xiao and Sai Gautam, "
        "Digital "
        "Discovery 2026). Calibration: none, offset or linear map chosen by leave-one-material-out "
        "MAE; "
        "each material's calibrated value comes from the map fitted without it. Barrier → σ: "
        "random-walk "
        "Nernst–Einstein with all Li as carriers, hop 3.0 Å, attempt frequency 10<sup>13</sup> Hz. "
        f"Settings: max {st.max_atoms} atoms per model, relax ≤ {st.relax_steps} steps to "
        f"{st.fmax_eV_A:g} eV/Å, BVSE grid {st.bvse_resolution_A:g} Å"
        + (
            " (BVSE tier and BVSE KMC networks on the relaxed cells scaled to their ordered "
            "models' volumes). "
            if st.bvse_volume == "model"
            else ". "
        )
        + (
            "Rows without a synthesis state (ampoule- or wet-made) are modelled quenched: the "
            "site disorder of their file sampled at a fictive temperature on wide cells, not "
            "the Ewald ground state ('…;quenched' in their construction). "
            if st.annealed_state == "quenched"
            else ""
        )
        + (
            "KMC on BVSE networks: each hop's harmonic (Vineyard) prefactor of one Li in the "
            "frozen host's BVSE field, not one attempt frequency. "
            if st.kmc_prefactors == "harmonic" and "kmc" in out.tiers
            else ""
        )
        + (
            f"Orderings: up to {st.orderings} per material (the lowest in Ewald energy; a "
            "material's prediction is their mean ± the spread of one ordering's value, "
            "'n ord.')."
            if st.orderings > 1
            else "One ordering per material (the lowest in Ewald energy)."
        )
        + "</p>"
    )
    if out.failed:
        summary += (
            "<p class='bad'>Failed tasks: "
            + "; ".join(esc(v) for v in out.failed.values())
            + "</p>"
        )
    sections.append(("Summary", summary))
    cols = [
        ("tier", "tier", None),
        ("model", "model", None),
        ("target", "target", None),
        ("n", "n", None),
        ("raw_mae", "MAE raw", _f(".3g")),
        ("raw_mae_ci", "95 % (raw)", None),
        ("loo_mae", "MAE LOO-cal.", _f(".3g")),
        ("loo_mae_ci", "95 % (LOO)", None),
        ("raw_rmse", "RMSE raw", _f(".3g")),
        ("loo_rmse", "RMSE LOO-cal.", _f(".3g")),
        ("raw_spearman", "Spearman raw", _f(".2f")),
        ("raw_spearman_ci", "95 % (raw)", None),
        ("loo_spearman", "Spearman LOO-cal.", _f(".2f")),
        ("loo_spearman_ci", "95 % (LOO)", None),
        ("raw_accuracy", "accuracy raw", _f(".2f")),
        ("loo_accuracy", "accuracy LOO-cal.", _f(".2f")),
        ("limits", "upper limits (respected)", None),
        ("map", "chosen map", None),
        ("maps", "LOO MAE by map", None),
        ("baseline_loo_mae", "LOO MAE of the set's mean", _f(".3g")),
        ("skill", "skill", _f("+.2f")),
        ("coverage", "held out in its interval", None),
        ("wall_s_per_material", "wall s/material", _f(".0f")),
        ("why_not", "notes", None),
    ]
    sections.append(
        (
            "Parity table",
            table_html(_metric_rows(out), cols)
            + "<p class='muted'>n: materials with a prediction and an uncensored measurement "
            "(accuracy also counts upper limits below the threshold, measured or predicted: "
            "a KMC run that stays sub-diffusive at 25 C bounds sigma from above; upper limits: "
            "such predicted limits with a measurement, and in how many the measured sigma is at "
            "or below the limit). A calibration needs at "
            "least 4 materials with a measured value of the target. 95 %: percentile "
            "bootstrap of the MAE (and of Spearman's rho) over the materials (10,000 "
            "resamples): with 7-17 materials a rho of 0.5 is often compatible with 0. "
            "The set's mean: each material predicted by the mean measured value of the other "
            "materials, no tier at all; skill = 1 − LOO MAE / that baseline's (≤ 0: the "
            "calibrated tier predicts held-out materials no better than the set's mean). "
            "Held out in its interval: for each material the whole calibration (map, "
            "leave-one-out scatter, degrees of freedom) is redone without it and its "
            f"interval made as compare makes one for a new composition ({LEVEL * 100:.0f} % level, "
            "with its ensemble spread); k/n measured values fall inside, with the 95 % "
            "Clopper–Pearson range of the fraction. An honest interval holds about its "
            "level; a range that excludes the level says the intervals are too narrow or "
            "too wide on this set. RMS z: the root mean square of (measured − calibrated) "
            "over each interval's standard error (half-width / t), about 1 when the "
            "width matches the held-out scatter. Built models: the same count on the "
            "materials modelled on another's template, as every design is.</p>",
        )
    )
    if out.measurement_floor:
        sections.append(
            (
                "How finely the measurements judge",
                _floor_html(out.measurement_floor, metric_table(out.metrics)),
            )
        )
    if out.comparisons:
        sections.append(("Paired comparisons", _comparisons_html(out.comparisons)))
    if out.model_choice:
        sections.append(("Model choice", _model_choice_html(out.model_choice)))
    figs = []
    for tier, model in dict.fromkeys((r["tier"], r["model"]) for r in out.rows):
        try:
            figs.append(
                figure_html(
                    parity_figure(out.rows, tier, model),
                    f"{tier} ({model}): predicted vs measured",
                    kind="parity",
                )
            )
        except ValueError as exc:
            figs.append(f"<p class='missing'>{esc(exc)}</p>")
    sections.append(("Parity figures", "<div class='figs'>" + "".join(figs) + "</div>"))
    mrows = _material_rows(out)
    keys = list(dict.fromkeys(k for r in mrows for k in r))
    mcols = [
        ("composition", "material", None),
        ("synthesis", "synthesis (primary row)", None),
        ("sigma", "σ meas. (S/cm)", _f(".3g")),
        ("ea", "Ea meas. (eV)", _f(".3g")),
        ("ea_row", "Ea from row", None),
        ("n_other", "other rows", None),
    ]
    mcols += [
        (k, k + (" (raw → LOO)" if k.endswith((" Ea", " logσ")) else ""), None)
        for k in keys
        if "/" in k
    ]
    mcols.append(("structure_model", "structure model", None))
    mcols.append(("doi", "DOI", None))
    note = (
        "<p>relax/MODEL ΔV: the relaxed (lowest-Ewald) ordering's volume per atom against its "
        "ordered model, each cell axis, and each cation–anion pair's mean bond length, the "
        "bonds found in the model and followed into the relaxed cell. Where the model is the "
        "material's own CIF these are the relaxation's errors against the measured "
        "structure (a CIF with mixed or partly occupied sites is an average over "
        "configurations, which no one ordered cell has).</p>"
        if any(k.endswith(" ΔV") for k in keys)
        else ""
    )
    sections.append(("Per material", note + table_html(mrows, mcols)))
    if out.structure_split:
        sections.append(
            (
                "Measured structures and built ones (designs)",
                _structure_split_html(out.structure_split),
            )
        )
    if out.gap_split:
        sections.append(
            ("Where the σ error sits: barrier or prefactor", _gap_split_html(out.gap_split))
        )
    if out.substitutions:
        srows = []
        for p in out.substitutions:
            srows.append(
                {
                    "pair": f"{p['parent']} → {p['child']}",
                    "sub": p["substitution"],
                    "kind": p.get("kind", "design"),
                    "struct": "same" if p.get("same_structure", True) else "changes",
                    "meas": p["measured_delta_log10_sigma"],
                    "same": "yes" if p["same_paper"] else "no",
                    "pred": "; ".join(
                        f"{k}: {v:+.2f}"
                        + (
                            f" ± {p['predicted_se'][k]:.2f}"
                            if p.get("predicted_se", {}).get(k)
                            else ""
                        )
                        for k, v in p["predicted"].items()
                    ),
                    "dois": f"{p['parent_doi']} / {p['child_doi']}",
                    "rows": f"{p.get('parent_id', '')} / {p.get('child_id', '')}",
                }
            )
        body = table_html(
            srows,
            [
                ("pair", "pair", None),
                ("sub", "substitution", None),
                ("kind", "kind", None),
                ("struct", "structure", None),
                ("meas", "Δlog σ measured", _f("+.2f")),
                ("pred", "Δlog σ predicted", None),
                ("same", "same paper", None),
                ("dois", "DOIs", None),
                ("rows", "rows", None),
            ],
        )
        stats = substitution_spearman(out.substitutions)
        body += (
            "<p>"
            + "; ".join(
                f"{esc(k)}: n = {v['n']}, Spearman {fmt(v['spearman'], '.2f')} "
                f"[{fmt(v.get('spearman_low'), '.2f')}, {fmt(v.get('spearman_high'), '.2f')}], "
                "sign agreement "
                f"{fmt(v['sign_agreement'], '.2f')} (guessing the commoner measured sign "
                f"every time: {fmt(v.get('majority_sign_rate'), '.2f')}); measured in one "
                "paper: n = "
                f"{v['n_same_paper']}, Spearman {fmt(v['spearman_same_paper'], '.2f')}"
                for k, v in stats.items()
            )
            + "</p>"
        )
        body += (
            "<p class='muted'>Pairs: a material designed on its parent's structure (design), "
            "or two materials whose formulas differ by one element at the same amount "
            "(swap: an isovalent M or X substitution). The measured change comes from one "
            "paper when a paper measured both, else from the primary rows. Spearman needs at "
            "least 3 pairs; pairs from different papers mix laboratories and synthesis "
            "routes. Synthesis pairs (one composition, annealed and ball-milled model) are "
            "not substitutions: they are left out of the Spearman and summarised below.</p>"
        )
        syn = synthesis_agreement(out.substitutions)
        if syn:
            body += (
                "<p><b>Synthesis effect</b> (ball-milled minus annealed model, log10 S/cm; ± "
                "the standard error of the difference of the two ensemble means over their "
                "orderings): "
                + "; ".join(
                    f"{esc(k)}: "
                    + ", ".join(esc(synthesis_pair_text(q)) for q in v["pairs"])
                    + f", sign agreement {fmt(v['sign_agreement'], '.2f')}, "
                    + (
                        f"{sum(bool(q['resolved']) for q in v['pairs'])} of {v['n']} resolved "
                        "from zero by the orderings sampled (|change| > 1.96 se)"
                        if any(q["resolved"] is not None for q in v["pairs"])
                        else "no standard error (single orderings: the spread over "
                        "orderings is unknown)"
                    )
                    for k, v in syn.items()
                )
                + "</p>"
            )
        sections.append(("Substitution pairs", body))
    if out.combined:
        sections.append(("Physics tier + prior", _combined_html(out.combined)))
    refrows = [{**e.to_dict(), "ea": e.ea_eV} for e in ref.entries]
    sections.append(
        (
            "Reference set",
            table_html(
                refrows,
                [
                    ("id", "id", None),
                    ("composition", "composition", None),
                    ("polymorph", "phase", None),
                    ("synthesis", "synthesis", None),
                    ("sigma_S_cm", "σ (S/cm)", _f(".3g")),
                    ("censored", "upper limit", None),
                    ("sigma_kind", "bulk/total", None),
                    ("ea", "Ea (eV)", _f(".3g")),
                    ("primary", "primary", None),
                    ("doi", "DOI", None),
                    ("source", "read in", None),
                    ("construction", "structure model", None),
                    ("notes", "notes", None),
                ],
            ),
        )
    )
    return write_report(
        path,
        "Validation against measured halide conductors",
        sections,
        subtitle="halidelab validate:",
    )
