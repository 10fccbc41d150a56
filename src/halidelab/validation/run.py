"""``halidelab validate``: predictions of the reference set through the results store,
parity metrics, leave-one-out calibrations and the report.

Every computation is a content-hashed task (:mod:`halidelab.screening.runner`): a rerun
with the same inputs computes nothing, a killed run resumes, and ``client`` puts the work
on Dask. The tiers are the table of :mod:`halidelab.validation.tiers`.

For each (tier, model, target) the campaign reports, on the materials' primary rows:

- raw metrics (MAE, RMSE, Spearman, classification accuracy) of the tier's prediction;
- LOO-calibrated metrics: each material predicted by the calibration fitted without it
  (:mod:`halidelab.validation.calibration`), with the chosen map and the LOO errors of all
  three maps; the calibration (fitted on all materials) is written as JSON;
- wall time per material: the summed task durations stored for that material (model-free
  tasks plus that model's), on the machine that ran them.

The prior was trained on OBELiX's train split: reference rows from that split are
in-sample for it, and its metrics are also given on the rest (``prior held-out``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from halidelab.errors import CalibrationError
from halidelab.validation.calibration import (
    COVERAGE_KEYS,
    Calibration,
    calibrate,
    interval_coverage,
    save_calibration,
)
from halidelab.validation.campaign import NO_MODEL, client_workers, prepare
from halidelab.validation.combine import combine_with_prior
from halidelab.validation.metrics import (
    PairedComparison,
    gap_split,
    holm_family,
    measured_structure,
    measurement_floor,
    paired_comparison,
    parity_metrics,
    relaxed_axes_change,
    relaxed_bond_change,
    relaxed_volume_change,
    structure_split,
)
from halidelab.validation.reference import (
    ReferenceEntry,
    ReferenceSet,
)
from halidelab.validation.tiers import (
    ORDERING_FREE,
    TARGETS,
    TIERS,
    MaterialContext,
    Prediction,
    ValidateSettings,
    method_of,
)

if TYPE_CHECKING:
    from halidelab.validation.estimate import CampaignEstimate


@dataclasses.dataclass
class ValidationOutput:
    """What a campaign produced.

    Attributes
    ----------
    report : Path or None
    store : str
    tiers, models : tuple of str
    rows : list of dict
        One per (material, tier, model) with a prediction: ``material``, ``id``,
        ``composition``, ``tier``, ``model``, measured and predicted values, wall time.
    metrics : list of dict
        One per (tier, model, target): raw and LOO-calibrated ``ParityMetrics`` dicts,
        the calibration summary or why there is none.
    calibrations : dict
        ``(tier, model, target)`` -> Calibration.
    substitutions : list of dict
        Parent -> substituted pairs and their predicted vs measured change.
    combined : list of dict
        Physics tier + prior (:func:`halidelab.validation.combine.combine_with_prior`):
        LOO scores of the stacked estimate beside each alone, and whether it is used.
    comparisons : list of PairedComparison
        Paired bootstrap of the error difference (:func:`tier_comparisons`), raw and LOO.
    model_choice : list of dict
        Per tier with several models: the one with the lowest LOO Ea MAE, its cost, and
        which others the set tells it apart from (:func:`model_choice`).
    gap_split : list of dict
        Per (tier, model): each material's log10 sigma(25 C) error split into its
        barrier's and its prefactor's part (:func:`halidelab.validation.metrics.gap_split`).
    measurement_floor : list of dict
        Per target: the scatter of the reference set's own repeated measurements of one
        modelled material, the error no tier can remove
        (:func:`halidelab.validation.metrics.measurement_floor`).
    structure_split : list of dict
        Per (tier, model, target): the raw and LOO errors on materials modelled on their
        measured structure and on those built on a template, as designs are
        (:func:`halidelab.validation.metrics.structure_split`).
    estimate : dict or None
        The cost estimate of the campaign's rest made after its models
        (:class:`halidelab.validation.estimate.CampaignEstimate` as a dict), and
    wall_after_models_s : float or None
        the wall time from then to the end of the campaign's tasks, s: how close it came.
    failed : dict
        Task key -> one-line error.
    wall_s : float
    reference_sha256 : str
    """

    report: Path | None
    store: str
    tiers: tuple[str, ...]
    models: tuple[str, ...]
    rows: list[dict[str, Any]]
    metrics: list[dict[str, Any]]
    calibrations: dict[tuple[str, str, str], Calibration]
    substitutions: list[dict[str, Any]]
    failed: dict[str, str]
    wall_s: float
    reference_sha256: str
    settings: ValidateSettings
    combined: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    comparisons: list[PairedComparison] = dataclasses.field(default_factory=list)
    model_choice: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    gap_split: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    measurement_floor: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    structure_split: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    estimate: dict[str, Any] | None = None
    wall_after_models_s: float | None = None


def _durations(store: Any, keys: Sequence[str]) -> dict[str, float]:
    import sqlalchemy as sa

    from halidelab.screening.store import TASKS

    keys = list(keys)
    out: dict[str, float] = {}
    with store.engine.connect() as conn:
        for i in range(0, len(keys), 500):
            q = sa.select(TASKS.c.key, TASKS.c.duration_s).where(TASKS.c.key.in_(keys[i : i + 500]))
            out.update({k: float(d) for k, d in conn.execute(q) if d is not None})
    return out


def _prior_training_keys() -> set[str]:
    from halidelab.prior.data import prepare_dataset

    return set(prepare_dataset().train["key"])


def validate(
    tiers: Sequence[str] = ("relax", "bvse", "prior"),
    models: Sequence[str] = ("chgnet",),
    db: str | Path | None = None,
    out: str | Path | None = "validation",
    settings: ValidateSettings | None = None,
    reference: ReferenceSet | str | Path | None = None,
    materials: Sequence[str] | None = None,
    client: Any | None = None,
    progress: bool = True,
    report: bool = True,
    on_estimate: Callable[[CampaignEstimate], Any] | None = None,
) -> ValidationOutput:
    """Run the tiers on the reference set, score and calibrate them, write the report.

    Parameters
    ----------
    tiers : sequence of str
        From :data:`halidelab.validation.tiers.TIERS` (required tiers are added).
    models : sequence of str
        MLIPs for the per-model tiers (relax, NEB, BVSE on relaxed structures).
    db : path or URL, optional
        Results store (default ``out/results.sqlite``).
    out : path, optional
        Folder for ``report.html`` and ``calibration/*.json``.
    settings : ValidateSettings, optional
    reference : ReferenceSet or path, optional
        Default: the shipped set.
    materials : sequence of str, optional
        Reference ids: only the materials of these rows.
    client : distributed.Client, optional
        Run on Dask.
    progress : bool
        Progress bars.
    report : bool
        Write ``out/report.html``.
    on_estimate : callable, optional
        Called once the models are built, before the first MLIP task, with the estimate
        of the rest of the campaign (:func:`halidelab.validation.estimate.estimate_remaining`).

    Raises
    ------
    HalidelabError
        Unknown tier or model, no models for a per-model tier, unreadable reference set.
    """
    t0 = time.perf_counter()
    from halidelab.screening.plans import run_stage

    camp = prepare(tiers, models, db, out, settings, reference, materials)
    settings, store = camp.settings, camp.store
    tiers_t, models_t, ref = camp.tiers, camp.models, camp.ref
    groups, primaries, outdir = camp.groups, camp.primaries, camp.outdir
    failed: dict[str, str] = {}
    # (tier, material, model, ordering) -> task key; results
    keys: dict[tuple[str, str, str, int], str] = {}
    results: dict[tuple[str, str, str, int], Any] = {}

    def ctx_for(entry: ReferenceEntry, model: str | None, ordering: int = 0) -> MaterialContext:
        return camp.context(results, entry, model, ordering)

    estimate = None
    t_estimate = None
    for stage in camp.stages():
        if stage > 0 and estimate is None:
            # after the models: their sizes and orderings are known, so is every task
            from halidelab.validation.estimate import estimate_remaining

            estimate = estimate_remaining(camp, results, workers=client_workers(client))
            if on_estimate is not None:
                on_estimate(estimate)
            t_estimate = time.perf_counter()
        stage_tiers = [t for t in tiers_t if TIERS[t].stage == stage]
        planned = camp.stage_tasks(stage, results)
        keys.update({where: task.key for where, task in planned})
        summary = run_stage(
            [task for _, task in planned],
            store,
            client=client,
            progress=progress,
            title=", ".join(stage_tiers),
        )
        failed.update(summary.failed)
        for (t, mat, m, k), key in keys.items():
            if t in stage_tiers:
                results[(t, mat, m, k)] = store.result(key)

    wall_after_models = time.perf_counter() - t_estimate if t_estimate is not None else None
    durations = _durations(store, list(keys.values()))
    in_train = _prior_training_keys() if "prior" in tiers_t else set()
    rows = _prediction_rows(
        tiers_t, models_t, primaries, groups, keys, results, durations, ctx_for, in_train
    )
    metrics, cals = _score(rows, tiers_t, models_t, ref.sha256, outdir)
    subs = substitution_pairs(ref, rows)
    combined = combine_with_prior(rows, ref.sha256)
    comparisons = tier_comparisons(rows, tiers_t, models_t)
    choice = model_choice(rows, metrics)
    wall = time.perf_counter() - t0
    output = ValidationOutput(
        report=None,
        store=store.url,
        tiers=tiers_t,
        models=models_t,
        rows=rows,
        metrics=metrics,
        calibrations=cals,
        substitutions=subs,
        failed=failed,
        wall_s=wall,
        reference_sha256=ref.sha256,
        settings=settings,
        combined=combined,
        comparisons=comparisons,
        model_choice=choice,
        gap_split=gap_split(rows),
        measurement_floor=measurement_floor(ref.by_material()),
        structure_split=structure_split(rows),
        estimate=estimate.to_dict() if estimate is not None else None,
        wall_after_models_s=wall_after_models,
    )
    if report and outdir is not None:
        from halidelab.report.validation import write_validation_report

        output.report = write_validation_report(outdir / "report.html", output, ref)
    return output


def _prediction_rows(
    tiers: tuple[str, ...],
    models: tuple[str, ...],
    primaries: list[ReferenceEntry],
    groups: dict[str, list[ReferenceEntry]],
    keys: dict,
    results: dict,
    durations: dict,
    ctx_for: Any,
    in_train: set[str],
) -> list[dict[str, Any]]:
    from halidelab.prior.data import composition_key

    bond_cache: dict[tuple[str, str], list[dict[str, Any]] | None] = {}

    def bonds_of(material: str, mkey: str, relaxed: Any, built: Any) -> Any:
        """The bond-length comparison of one material and model, once for all its tiers."""
        if (material, mkey) not in bond_cache:
            bond_cache[(material, mkey)] = relaxed_bond_change(
                relaxed["structure"] if relaxed else None,
                built["structure"] if built else None,
            )
        return bond_cache[(material, mkey)]

    rows = []
    for t in tiers:
        spec = TIERS[t]
        if spec.predict is None:
            continue
        for entry in primaries:
            for model in models if spec.per_model(tiers) else (None,):
                mkey = model or NO_MODEL
                n_ord = 1 + max(
                    (k for (tt, mat, m, k) in keys if tt == t and mat == entry.material),
                    default=0,
                )
                per_ordering = []
                limits: list[dict[str, Prediction]] = []
                why_none: list[str] = []
                have_result = False
                for k in range(n_ord):
                    res_k = results.get((t, entry.material, mkey, k))
                    have_result = have_result or bool(res_k)
                    ctx_k = ctx_for(entry, model, k)
                    per_ordering.append(spec.predict(res_k, ctx_k) if res_k else {})
                    limits.append(
                        spec.limit(res_k, ctx_k) if res_k and spec.limit is not None else {}
                    )
                    if res_k and not per_ordering[-1] and spec.explain is not None:
                        why_none.append(
                            (f"ordering {k}: " if n_ord > 1 else "") + spec.explain(res_k, ctx_k)
                        )
                res = results.get((t, entry.material, mkey, 0))
                ctx = ctx_for(entry, model)
                preds, too_few = _ensemble_predictions(per_ordering)
                chain = _chain(t, tiers)
                own = [
                    key
                    for (tt, mat, m, _k), key in keys.items()
                    if mat == entry.material and m in (NO_MODEL, mkey) and tt in chain
                ]
                wall = sum(durations.get(k, 0.0) for k in own)
                others = groups[entry.material][1:]
                # Ea: the primary row's, else the first other row of the material that
                # reports one (another sample of the same material; its id is recorded)
                ea_row = next(
                    (
                        e
                        for e in (entry, *others)
                        if e.ea_eV is not None and math.isfinite(float(e.ea_eV))
                    ),
                    None,
                )
                row = {
                    "material": entry.material,
                    "id": entry.id,
                    "name": entry.name,
                    "composition": entry.composition,
                    "tier": t,
                    "model": mkey,
                    "computed": have_result,
                    "measured_log10_sigma_S_cm": entry.log10_sigma_S_cm,
                    "censored": entry.censored,
                    "measured_ea_eV": ea_row.ea_eV if ea_row is not None else None,
                    "measured_ea_id": ea_row.id if ea_row is not None else None,
                    "synthesis": entry.synthesis,
                    "doi": entry.doi,
                    "other_measurements": [
                        {
                            "id": o.id,
                            "log10_sigma_S_cm": o.log10_sigma_S_cm,
                            "ea_eV": o.ea_eV,
                            "synthesis": o.synthesis,
                            "doi": o.doi,
                        }
                        for o in others
                    ],
                    "wall_s": wall,
                    "in_prior_training": composition_key(entry.composition) in in_train,
                }
                row["method"] = method_of(t, res, ctx)
                built = results.get(("model", entry.material, NO_MODEL, 0))
                row["structure_model"] = (
                    f"{built['n_atoms']} atoms; {built['description']}" if built else ""
                )
                relaxed = results.get(("relax", entry.material, mkey, 0)) if model else None
                row["relaxed_volume_change_percent"] = relaxed_volume_change(
                    relaxed["structure"] if relaxed else None,
                    built["structure"] if built else None,
                )
                row["relaxed_axes_change_percent"] = relaxed_axes_change(
                    relaxed["structure"] if relaxed else None,
                    built["structure"] if built else None,
                )
                row["relaxed_bond_change"] = bonds_of(entry.material, mkey, relaxed, built)
                thermal = (relaxed or {}).get("thermal_lattice") or {}
                row["thermal_expansion_percent"] = thermal.get("expansion_percent")
                row["lattice_temperature_K"] = thermal.get("temperature_K")
                row["measured_structure"] = measured_structure(entry.construction)
                for target in TARGETS:
                    p = preds.get(target)
                    row[f"pred_{target}"] = p.value if p else None
                    row[f"spread_{target}"] = p.spread if p else None
                    reasons = ([too_few[target]] if target in too_few else []) + why_none
                    row[f"note_{target}"] = (
                        p.note if p else ("no value: " + "; ".join(reasons) if reasons else "")
                    )
                    row[f"orderings_{target}"] = [
                        d[target].value if target in d else None for d in per_ordering
                    ]
                    upper = None if p else _ensemble_upper(per_ordering, limits, target)
                    row[f"upper_{target}"] = upper.value if upper else None
                    if upper:
                        row[f"note_{target}"] += f"; {upper.note}"
                rows.append(row)
    return rows


def _ensemble_predictions(
    per_ordering: list[dict[str, Prediction]],
) -> tuple[dict[str, Prediction], dict[str, str]]:
    """One prediction per target from the orderings' (uniform mean; spread of one
    ordering's prediction by the law of total variance, as ``compare`` computes it:
    :func:`halidelab.validation.apply.ordering_spread`); the first ordering's note, with
    the ensemble stated when there is more than one value.

    A target that more than half of the orderings give is predicted; one that only half or
    fewer give is not (second return value: why), since a mean over the orderings that
    worked is biased when whether one works depends on its structure (NEB studies fail on
    the most cation-disordered milled orderings and run on the least disordered one)."""
    from halidelab.validation.apply import OrderingPrediction, ordering_spread

    out: dict[str, Prediction] = {}
    why: dict[str, str] = {}
    for target in TARGETS:
        have = [(k, d[target]) for k, d in enumerate(per_ordering) if target in d]
        if not have:
            continue
        if len(per_ordering) == 1:  # one ordering: its prediction as it is
            out[target] = have[0][1]
            continue
        if 2 * len(have) <= len(per_ordering):
            why[target] = (
                f"only {len(have)} of {len(per_ordering)} orderings gave a value (ordering "
                + ", ".join(str(k) for k, _ in have)
                + "); a mean over the ones that worked would be biased"
            )
            continue
        mean, spread, between, n = ordering_spread(
            [OrderingPrediction(k, p.value, p.spread, "", "") for k, p in have]
        )
        note = have[0][1].note
        extra = f"mean of {n} of {len(per_ordering)} orderings" + (
            f", SD between them {between:.3g}" if between is not None else ""
        )
        out[target] = Prediction(mean, spread, f"{note}; {extra}" if note else extra)
    return out, why


def _ensemble_upper(
    per_ordering: list[dict[str, Prediction]], limits: list[dict[str, Prediction]], target: str
) -> Prediction | None:
    """A material's upper limit on ``target`` where its orderings give no value but every
    one gives a value or an upper limit and at least one a limit: the mean over the
    orderings of each one's value or limit. Each limit is at least its ordering's value, so
    the mean of them is at least the mean of the values, which is what the ensemble would
    predict (the uniform mean). None otherwise (an ordering without either says nothing)."""
    vals = [
        d[target].value if target in d else (lim[target].value if target in lim else None)
        for d, lim in zip(per_ordering, limits, strict=True)
    ]
    if not vals or any(v is None for v in vals) or not any(target in lim for lim in limits):
        return None
    n_lim = sum(
        target in lim and target not in d for d, lim in zip(per_ordering, limits, strict=True)
    )
    note = next(lim[target].note for lim in limits if target in lim)
    if len(vals) > 1:
        note += f"; mean of {len(vals)} orderings, {n_lim} of them limits"
    return Prediction(float(np.mean(vals)), 0.0, note)


def _chain(tier: str, tiers: tuple[str, ...]) -> set[str]:
    """The tier and every tier its prediction depends on (for its wall time)."""
    chain = {tier}
    todo = [tier]
    while todo:
        for req in TIERS[todo.pop()].requires:
            if req not in chain:
                chain.add(req)
                todo.append(req)
    if tier != "relax" and "relax" in tiers and TIERS[tier].per_model(tiers) and "model" in chain:
        chain |= {"relax", "model"}
    return chain


def _measured(row: dict[str, Any], target: str) -> float | None:
    v = row[f"measured_{target}"]
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _score(
    rows: list[dict[str, Any]],
    tiers: tuple[str, ...],
    models: tuple[str, ...],
    sha: str,
    outdir: Path | None,
) -> tuple[list[dict[str, Any]], dict[tuple[str, str, str], Calibration]]:
    metrics = []
    cals: dict[tuple[str, str, str], Calibration] = {}
    combos = list(dict.fromkeys((r["tier"], r["model"]) for r in rows))
    for tier, model in combos:
        sub = [r for r in rows if r["tier"] == tier and r["model"] == model]
        for target in TARGETS:
            # rows with a value, and rows with only an upper limit (they classify)
            pairs = [
                r
                for r in sub
                if r[f"pred_{target}"] is not None or r.get(f"upper_{target}") is not None
            ]
            if not any(r[f"pred_{target}"] is not None for r in pairs):
                continue
            cens = [bool(r["censored"]) if target == "log10_sigma_S_cm" else False for r in pairs]
            pred = [r[f"pred_{target}"] for r in pairs]
            meas = [_measured(r, target) for r in pairs]
            upper = [r.get(f"upper_{target}") for r in pairs]
            raw = parity_metrics(target, pred, meas, cens, upper)
            entry: dict[str, Any] = {
                "tier": tier,
                "model": model,
                "target": target,
                "raw": raw.to_dict(),
                "loo": None,
                "calibration": None,
                "why_not": "",
            }
            fit = [
                (r, p, m)
                for r, p, m, c in zip(pairs, pred, meas, cens, strict=True)
                if p is not None and m is not None and not c
            ]
            try:
                cal = calibrate(
                    target,
                    tier,
                    model,
                    [p for _, p, _ in fit],
                    [m for _, _, m in fit],
                    [r["material"] for r, _, _ in fit],
                    [r["composition"] for r, _, _ in fit],
                    sha,
                )
            except CalibrationError as exc:
                entry["why_not"] = str(exc)
            else:
                methods = {json.dumps(r.get("method") or {}, sort_keys=True) for r, _, _ in fit}
                settings = (
                    json.loads(next(iter(methods)))
                    if len(methods) == 1
                    else {"mixed": sorted(methods)}
                )  # never matches a store: not applied
                n_ord = {
                    r["material"]: sum(v is not None for v in r.get(f"orderings_{target}") or ())
                    for r, _, _ in fit
                }
                # the interval itself, held out: the whole calibration redone without each
                # material and applied to its raw value and ensemble spread
                try:
                    cov = interval_coverage(
                        [p for _, p, _ in fit],
                        [m for _, _, m in fit],
                        [r["material"] for r, _, _ in fit],
                        [r["composition"] for r, _, _ in fit],
                        [r.get(f"spread_{target}") for r, _, _ in fit],
                        level=cal.level,
                        target=target,
                        tier=tier,
                        model=model,
                        reference_sha256=sha,
                    )
                except CalibrationError as exc:  # a non-finite spread: no coverage, say why
                    cov = None
                    entry["coverage_why_not"] = str(exc)
                entry["coverage"] = cov
                if cov is not None:
                    # the materials built on another's template, as every design is
                    built = {r["material"] for r, _, _ in fit if not r.get("measured_structure")}
                    on_built = [m for m in cov["materials"] if m["material"] in built]
                    cov["built_n"] = len(on_built)
                    cov["built_inside"] = sum(m["inside"] for m in on_built)
                summary = (
                    {k: v for k, v in cov.items() if k in COVERAGE_KEYS}
                    if cov is not None
                    else None
                )
                cal = dataclasses.replace(cal, settings=settings, orderings=n_ord, coverage=summary)
                cals[(tier, model, target)] = cal
                loo = {mat: v for mat, v in cal.loo_predictions.items()}
                # censored rows: calibrated by the map fitted without them (they are not in the fit)
                loo_pred = [
                    loo.get(r["material"], cal.a + cal.b * p) if p is not None else None
                    for r, p in zip(pairs, pred, strict=True)
                ]
                # a limit stays an upper limit only through an increasing map
                loo_upper = [
                    cal.a + cal.b * v if v is not None and cal.b > 0 else None for v in upper
                ]
                entry["loo"] = parity_metrics(target, loo_pred, meas, cens, loo_upper).to_dict()
                entry["calibration"] = {
                    "kind": cal.kind,
                    "a": cal.a,
                    "b": cal.b,
                    "n": cal.n_materials,
                    "loo_mae": cal.loo_mae,
                    "loo_rmse": cal.loo_rmse,
                    "residual_sd": cal.residual_sd,
                    "candidates": [c.to_dict() for c in cal.candidates],
                    "baseline_loo_mae": cal.baseline_loo_mae,
                    "skill": cal.skill,
                }
                for r in pairs:
                    r[f"loo_{target}"] = loo.get(r["material"])
                why = []
                if entry.get("coverage_why_not"):
                    why.append(f"no held-out coverage of the interval: {entry['coverage_why_not']}")
                if cal.b < 0:
                    why.append(
                        f"the chosen {cal.kind} map has a negative slope (b = {cal.b:.2f}): "
                        "the tier orders these materials backwards, and its calibrated "
                        "values carry no ranking of its own"
                    )
                if cal.skill is not None and cal.skill <= 0:
                    why.append(
                        "no skill out of sample: the reference set's mean predicts the "
                        f"held-out materials as well or better (LOO MAE {cal.baseline_loo_mae:.3g} "
                        f"against the calibrated tier's {cal.loo_mae:.3g})"
                    )
                entry["why_not"] = "; ".join(why)
                if outdir is not None:
                    name = f"{tier}-{model if model != NO_MODEL else 'none'}-{target}.json"
                    entry["file"] = str(save_calibration(cal, outdir / "calibration" / name))
            walls = [r["wall_s"] for r in sub if r["computed"]]
            entry["wall_s_per_material"] = float(np.mean(walls)) if walls else None
            if tier == "prior":
                held = [i for i, r in enumerate(pairs) if not r["in_prior_training"]]
                entry["raw_prior_held_out"] = parity_metrics(
                    target,
                    [pred[i] for i in held],
                    [meas[i] for i in held],
                    [cens[i] for i in held],
                ).to_dict()
            metrics.append(entry)
    return metrics, cals


def _abs_errors(
    rows: list[dict[str, Any]], tier: str, model: str, target: str, basis: str
) -> dict[str, float]:
    """Material -> |prediction - measurement| of one tier and model (uncensored rows)."""
    col = f"pred_{target}" if basis == "raw" else f"loo_{target}"
    out = {}
    for r in rows:
        if r["tier"] != tier or r["model"] != model:
            continue
        if target == "log10_sigma_S_cm" and r["censored"]:
            continue
        pred, meas = r.get(col), _measured(r, target)
        if pred is not None and meas is not None:
            out[r["material"]] = abs(float(pred) - meas)
    return out


def _set_mean_errors(
    rows: list[dict[str, Any]], tier: str, model: str, target: str, materials: set[str]
) -> dict[str, float]:
    """Material -> |mean measured value of the other materials - its own|, over the given
    materials of one tier and model (the no-skill baseline, leave-one-out)."""
    from halidelab.validation.calibration import baseline_loo_predictions

    meas: dict[str, float] = {}
    for r in rows:
        if r["tier"] == tier and r["model"] == model and r["material"] in materials:
            v = _measured(r, target)
            if v is not None:
                meas.setdefault(r["material"], v)
    mats = sorted(meas)
    if len(mats) < 2:
        return {}
    y = [meas[m] for m in mats]
    pred = baseline_loo_predictions(y, mats)
    return {m: abs(float(p) - v) for m, p, v in zip(mats, pred, y, strict=True)}


def tier_comparisons(
    rows: list[dict[str, Any]], tiers: tuple[str, ...], models: tuple[str, ...]
) -> list[PairedComparison]:
    """Which differences between tiers and models the reference set can resolve.

    On the materials both predict (uncensored measurements), raw and leave-one-out
    calibrated, the paired bootstrap of the mean difference of absolute errors
    (:func:`~halidelab.validation.metrics.paired_comparison`) of:

    - each model against the first model, same tier and target (``model``);
    - the defect and kmc tiers against the barrier tier they are built on, the neb tier
      when the campaign has it, else bvse, same model (``built on``);
    - each per-model tier's log10 sigma against the prior's (``prior``): a physics tier
      that does not beat the model-free prior has not earned its cost;
    - leave-one-out only: each tier and model against the reference set's own mean on the
      same materials (``set mean``: each material predicted by the mean measured value of
      the others, no tier at all), the no-skill baseline of its calibration.

    Every comparison needs :data:`~halidelab.validation.metrics.MIN_PAIRED` common
    materials; the interval is reproducible (seeded). The raw comparisons are one Holm
    family and the LOO ones another (:func:`~halidelab.validation.metrics.holm_family`):
    each basis is one question asked of every pair (which predictor is closer as it
    comes; which is closer once calibrated), and a difference is resolved only if it
    survives the correction for all the pairs asked it.
    """
    combos = list(dict.fromkeys((r["tier"], r["model"]) for r in rows))
    base_tier = "neb" if "neb" in tiers else "bvse"
    pairs: list[tuple[tuple[str, str], tuple[str, str], str]] = []
    for tier, model in combos:
        if model != NO_MODEL and models and model != models[0]:
            pairs.append(((tier, model), (tier, models[0]), "model"))
        if tier in ("defect", "kmc") and (base_tier, model) in combos:
            pairs.append(((tier, model), (base_tier, model), "built on"))
    out = []
    for target in TARGETS:
        todo = list(pairs)
        if target == "log10_sigma_S_cm" and ("prior", NO_MODEL) in combos:
            todo += [((t, m), ("prior", NO_MODEL), "prior") for t, m in combos if m != NO_MODEL]
        for (ta, ma), (tb, mb), reason in todo:
            for basis in ("raw", "loo"):
                c = paired_comparison(
                    _abs_errors(rows, ta, ma, target, basis),
                    _abs_errors(rows, tb, mb, target, basis),
                    target=target,
                    a=f"{ta}|{ma}",
                    b=f"{tb}|{mb}",
                    basis=basis,
                    reason=reason,
                )
                if c is not None:
                    out.append(c)
        for ta, ma in combos:
            errs = _abs_errors(rows, ta, ma, target, "loo")
            c = paired_comparison(
                errs,
                _set_mean_errors(rows, ta, ma, target, set(errs)),
                target=target,
                a=f"{ta}|{ma}",
                b="set mean",
                basis="loo",
                reason="set mean",
            )
            if c is not None:
                out.append(c)
    for basis in ("raw", "loo"):
        idx = [i for i, c in enumerate(out) if c.basis == basis]
        for i, c in zip(idx, holm_family([out[i] for i in idx]), strict=True):
            out[i] = c
    return out


def model_choice(
    rows: list[dict[str, Any]], metrics: list[dict[str, Any]], target: str = "ea_eV"
) -> list[dict[str, Any]]:
    """The model choice of each tier run with several models, from the data.

    The issue's rule: the model with the lowest leave-one-out calibrated error of ``target``
    (Ea), at a cost stated beside it (wall s per material, and its ratio to the cheapest
    model of the tier). Against each other model, the paired bootstrap of the LOO absolute
    errors on the materials both predict, with the sign-flip test Holm-corrected over the
    tier's comparisons, says whether the set resolves the difference; the verdict names
    the models it cannot tell the best one from.

    Returns
    -------
    list of dict
        ``tier``, ``target``, ``ranking`` (model, LOO MAE, its 95 % interval, n, wall s per
        material; best first), ``best``, ``versus`` (:class:`PairedComparison` dicts, best
        as ``a``) and ``verdict`` (one sentence; it says when even the best model does not
        beat the reference set's own mean, the calibration's skill). Tiers where fewer than
        two models have a LOO calibration of the target are left out.
    """
    by_tier: dict[str, list[dict[str, Any]]] = {}
    for m in metrics:
        if m["target"] == target and m["model"] != NO_MODEL and m.get("loo"):
            by_tier.setdefault(m["tier"], []).append(m)
    out = []
    for tier, ms in by_tier.items():
        if len(ms) < 2:
            continue
        ranking = sorted(
            (
                {
                    "model": m["model"],
                    "loo_mae": m["loo"]["mae"],
                    "loo_mae_low": m["loo"].get("mae_low"),
                    "loo_mae_high": m["loo"].get("mae_high"),
                    "n": m["loo"]["n"],
                    "wall_s_per_material": m.get("wall_s_per_material"),
                }
                for m in ms
                if m["loo"].get("mae") is not None
            ),
            key=lambda r: r["loo_mae"],
        )
        if len(ranking) < 2:
            continue
        best = ranking[0]["model"]
        versus = []
        for r in ranking[1:]:
            c = paired_comparison(
                _abs_errors(rows, tier, best, target, "loo"),
                _abs_errors(rows, tier, r["model"], target, "loo"),
                target=target,
                a=f"{tier}|{best}",
                b=f"{tier}|{r['model']}",
                basis="loo",
                reason="model choice",
            )
            if c is not None:
                versus.append(c)
        versus = holm_family(versus)
        walls = [r["wall_s_per_material"] for r in ranking if r["wall_s_per_material"]]
        wall_best = ranking[0]["wall_s_per_material"]
        cost = (
            f", {wall_best:.0f} s per material ({wall_best / min(walls):.1f}x the cheapest)"
            if wall_best and walls
            else ""
        )
        unit = "eV" if target == "ea_eV" else "log units"
        ahead = [c.b.split("|", 1)[1] for c in versus if c.resolved]
        tied = [c.b.split("|", 1)[1] for c in versus if c.resolvable and not c.resolved]
        untestable = [c for c in versus if not c.resolvable]
        verdict = (
            f"{best} has the lowest LOO MAE of {tier} {target} ({ranking[0]['loo_mae']:.3g} "
            f"{unit}, n = {ranking[0]['n']}){cost}"
        )
        if ahead:
            verdict += f"; the set resolves it from {', '.join(ahead)}"
        if tied:
            verdict += (
                f"; it cannot tell it from {', '.join(tied)} (95 % paired bootstrap and "
                "Holm-corrected sign-flip test)"
            )
        if untestable:
            verdict += "; too few materials in common to test it against " + ", ".join(
                f"{c.b.split('|', 1)[1]} (n = {c.n}: the smallest possible p, "
                f"{c.smallest_p:.2g}, is not below {1 - c.level:.2g})"
                for c in untestable
            )
        seen = {c.b for c in versus}
        few = [r["model"] for r in ranking[1:] if f"{tier}|{r['model']}" not in seen]
        if few:
            verdict += f"; fewer than 4 materials in common with {', '.join(few)}"
        skill = next(
            (
                m["calibration"].get("skill")
                for m in ms
                if m["model"] == best and m.get("calibration")
            ),
            None,
        )
        if skill is not None and skill <= 0:
            verdict += (
                f"; but {best} has no skill over the reference set's own mean (skill "
                f"{skill:+.2f}), so the choice rests on the cost alone"
            )
        out.append(
            {
                "tier": tier,
                "target": target,
                "ranking": ranking,
                "best": best,
                "versus": [
                    c.to_dict() | {"resolved": c.resolved, "resolvable": c.resolvable}
                    for c in versus
                ],
                "verdict": verdict,
            }
        )
    return out


def _one_element_swap(a: str, b: str) -> tuple[str, str] | None:
    """(element of a, element of b) when b is a with one element replaced by another at
    the same amount (an isovalent M or X substitution: Li3YCl6 -> Li3ErCl6, Li3YBr6);
    None otherwise."""
    from pymatgen.core import Composition

    ca = Composition(a).reduced_composition.get_el_amt_dict()
    cb = Composition(b).reduced_composition.get_el_amt_dict()
    out_a, out_b = set(ca) - set(cb), set(cb) - set(ca)
    if len(out_a) != 1 or len(out_b) != 1:
        return None
    (ea,), (eb,) = out_a, out_b
    if not math.isclose(ca[ea], cb[eb]) or any(
        not math.isclose(ca[e], cb[e]) for e in set(ca) & set(cb)
    ):
        return None
    return ea, eb


def _pair_rows(
    parent: list[ReferenceEntry], child: list[ReferenceEntry]
) -> tuple[ReferenceEntry, ReferenceEntry, bool]:
    """The two rows whose log10 sigma difference is the measured change, and whether
    they come from one paper: a paper that measured both (one laboratory, one route) is
    preferred to the materials' primary rows from different papers; among such papers,
    the one of the primary rows, else the first in the table."""
    first_p: dict[str, ReferenceEntry] = {}
    first_c: dict[str, ReferenceEntry] = {}
    for e in parent:  # rows come primary first: a paper's first row is its primary if any
        first_p.setdefault(e.doi.lower(), e)
    for e in child:
        first_c.setdefault(e.doi.lower(), e)
    shared = [(first_p[d], first_c[d]) for d in first_p if d in first_c]
    if shared:
        both_primary = [(p, c) for p, c in shared if p.primary and c.primary]
        p, c = (both_primary or shared)[0]
        return p, c, True
    return parent[0], child[0], False


def substitution_pairs(ref: ReferenceSet, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parent -> substituted pairs of the reference set, with measured and predicted changes.

    Three kinds of pair:

    - ``design``: a material built as ``design:PARENT+DOPANT@SITE=x`` on the structure
      file of a material whose composition is PARENT (an aliovalent partial substitution,
      Li3InCl6 -> Li2.7In0.7Hf0.3Cl6);
    - ``swap``: two materials whose formulas differ by one element at the same amount (an
      isovalent M or X substitution: Li3YCl6 -> Li3ErCl6, Li3YCl6 -> Li3YBr6,
      Li2MgCl4 -> Li2MnCl4); the parent is the one modelled from a CIF (else the earlier
      in the table). Whether the substitution changes the structure (another polymorph)
      is recorded;
    - ``synthesis``: one composition on one structure file in both model states, the
      annealed (ordered, or quenched with ``annealed_state="quenched"``: either stands
      for the annealed sample) model the parent and the ball-milled one the child
      (ampoule-made and as-milled Li3YCl6); or, where the annealed phase is measured on
      another structure (heat-treated ccp Li2ZrCl6 against as-milled hcp), that one as the parent,
      when it is the composition's only annealed material. Not a substitution:
      :func:`substitution_spearman` leaves these out and :func:`synthesis_agreement`
      reports them.

    Substitution pairs join materials in the same state only (a milled parent and an
    annealed child would mix two effects).

    The measured change of log10 sigma comes from one paper when a paper measured both
    materials (``same_paper``), else from the two primary rows. A pair where either row
    is an upper limit is left out. The predicted change is per (tier, model), raw.
    """
    from halidelab.prior.data import composition_key
    from halidelab.validation.structures import parse_construction

    groups = ref.by_material()
    prim = [g[0] for g in groups.values() if g[0].primary]
    order = {e.material: i for i, e in enumerate(prim)}
    # the sample's state: a quenched model (validate --annealed-state quenched) stands for
    # an annealed sample as the Ewald-ordered one does
    model_state = {e.material: parse_construction(e.construction)["state"] for e in prim}
    state = {m: "annealed" if s == "quenched" else s for m, s in model_state.items()}
    by_comp = {
        (composition_key(e.composition), e.structure_file, state[e.material]): e for e in prim
    }
    found: list[tuple[ReferenceEntry, ReferenceEntry, str, str]] = []
    for child in prim:
        spec = parse_construction(child.construction)
        if spec["kind"] == "design" and spec["substitutions"]:
            parent = by_comp.get(
                (composition_key(spec["parent"]), child.structure_file, state[child.material])
            )
            if parent is not None:
                text = ", ".join(
                    f"{s['dopant']}@{s['site']} x={s['x']:g}" for s in spec["substitutions"]
                )
                found.append((parent, child, "design", text))
    for (key, structure_file, st), child in by_comp.items():
        if st == "annealed":
            continue
        parent = by_comp.get((key, structure_file, "annealed"))
        if parent is not None:
            found.append(
                (parent, child, "synthesis", f"{st} vs {model_state[parent.material]} model")
            )
            continue
        # the annealed phase of another structure (heat-treated Li2ZrCl6 is ccp monoclinic,
        # the milled one hcp): the measured change is that of the route, polymorph and all
        other = [e for (k, _f, s), e in by_comp.items() if k == key and s == "annealed"]
        if len(other) == 1:
            parent = other[0]
            found.append(
                (
                    parent,
                    child,
                    "synthesis",
                    f"{st} vs {model_state[parent.material]} model ({parent.polymorph})",
                )
            )
    for i, a in enumerate(prim):
        for b in prim[i + 1 :]:
            if state[a.material] != state[b.material]:
                continue
            swap = _one_element_swap(a.composition, b.composition)
            if swap is None:
                continue
            a_design = parse_construction(a.construction)["kind"] == "design"
            b_design = parse_construction(b.construction)["kind"] == "design"
            first, second = (a, b)
            if (b_design, order[b.material]) < (a_design, order[a.material]):
                first, second, swap = b, a, swap[::-1]
            found.append((first, second, "swap", f"{swap[1]} for {swap[0]}"))
    pairs = []
    for parent, child, kind, text in found:
        p_row, c_row, same = _pair_rows(groups[parent.material], groups[child.material])
        if p_row.censored or c_row.censored:
            continue
        item = {
            "parent": parent.composition,
            "child": child.composition,
            "kind": kind,
            "substitution": text,
            "same_structure": parent.polymorph == child.polymorph,
            "parent_state": state[parent.material],
            "child_state": state[child.material],
            "same_paper": same,
            "measured_delta_log10_sigma": c_row.log10_sigma_S_cm - p_row.log10_sigma_S_cm,
            "parent_id": p_row.id,
            "child_id": c_row.id,
            "parent_doi": p_row.doi,
            "child_doi": c_row.doi,
            "predicted": {},
            "predicted_se": {},
        }
        for r in rows:
            if r["material"] != child.material or r["pred_log10_sigma_S_cm"] is None:
                continue
            if kind == "synthesis" and r["tier"] in ORDERING_FREE:
                continue  # sees the composition only: no prediction of a synthesis effect
            match = [
                q
                for q in rows
                if q["material"] == parent.material
                and q["tier"] == r["tier"]
                and q["model"] == r["model"]
                and q["pred_log10_sigma_S_cm"] is not None
            ]
            if match:
                lab = f"{r['tier']}|{r['model']}"
                item["predicted"][lab] = (
                    r["pred_log10_sigma_S_cm"] - match[0]["pred_log10_sigma_S_cm"]
                )
                se = [_mean_se(r), _mean_se(match[0])]
                item["predicted_se"][lab] = None if None in se else math.hypot(*se)
        pairs.append(item)
    return pairs


def _mean_se(row: dict[str, Any], target: str = "log10_sigma_S_cm") -> float | None:
    """Standard error of a row's ensemble-mean prediction: the spread of one ordering's
    value over the square root of the number of orderings averaged; None from a single
    ordering, whose spread over orderings is unknown (a milled model's first ordering
    alone gives either sign of the synthesis effect)."""
    n = sum(v is not None for v in row.get(f"orderings_{target}") or ())
    spread = row.get(f"spread_{target}")
    return float(spread) / math.sqrt(n) if n >= 2 and spread is not None else None
