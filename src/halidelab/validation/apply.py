"""Calibrations applied to what a results store holds (``halidelab compare --calibration``).

A calibration file of ``halidelab validate`` maps one tier's raw prediction of one target
(made with one MLIP) onto the measured value. Applied to a composition in the store:

raw value
    Each ordering's raw prediction is what the validation tier computes from the stored
    result (:data:`halidelab.validation.tiers.TIERS`' ``predict`` functions, with the
    structure the tier would have seen: the relaxed ordering when the result was
    computed on it, else the unrelaxed model): BVSE and NEB 3D percolation barriers and
    their Arrhenius log10 sigma(25 C)
    (:func:`~halidelab.validation.tiers.arrhenius_log10_sigma`), KMC Ea and log10
    sigma(25 C), the prior's log10 sigma. The raw value is the ensemble mean over the
    orderings that have one (:func:`halidelab.ensemble.ensemble_stat`, uniform weights,
    the same mean ``compare`` prints).
spread
    The standard deviation of one ordering's prediction: by the law of total variance
    sqrt(s_between^2 + mean(s_i^2)), with s_between the sample standard deviation of the
    raw values over the orderings (0 for one ordering) and s_i the tier's own spread of
    ordering i (0 for BVSE and NEB barriers; the KMC run-to-run error; the prior's 90 %
    interval / (2 x 1.645)). For barriers this is exactly the ensemble standard deviation.
calibrated value
    :meth:`Calibration.apply(raw, spread, composition=formula)
    <halidelab.validation.calibration.Calibration.apply>`: a reference material is
    calibrated with the map fitted without it; a composition farther than the
    calibration's domain distance from every reference material is flagged out of domain.

A calibration is applied only where every ordering's value was made the way the
calibration's were (:func:`~halidelab.validation.tiers.method_of`: BVSE grid, NEB images
and steps, KMC network and superbasin ratio; files of halidelab < 0.4 do not record it and
say so), on models of the calibration's kind (one of ``validate --annealed-state
quenched`` applies to quenched and ball-milled models, one of the default campaign to
Ewald-ordered and ball-milled ones) and with the calibration's model (read from the stored
results' provenance: the MLIP that relaxed the structure BVSE mapped and KMC ran on, the
MLIP of the NEB study; ``-`` for model-free values: the prior, BVSE on an unrelaxed model);
otherwise it is a one-line note.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from halidelab.errors import CalibrationError
from halidelab.validation.calibration import OWN_ERROR_TIERS, Calibration

#: label of model-free predictions (as :data:`halidelab.validation.run.NO_MODEL`)
NO_MODEL = "-"

#: (tier, target) -> (compare row key, label, unit) of the raw quantity
QUANTITY: dict[tuple[str, str], tuple[str, str, str]] = {
    ("bvse", "ea_eV"): ("bvse_3d_eV", "BVSE 3D barrier", "eV"),
    ("bvse", "log10_sigma_S_cm"): (
        "bvse_log10_sigma",
        "log10 sigma(25 C) (Arrhenius, BVSE barrier)",
        "log10 S/cm",
    ),
    ("neb", "ea_eV"): ("neb_3d_eV", "NEB 3D percolation", "eV"),
    ("neb", "log10_sigma_S_cm"): (
        "neb_log10_sigma",
        "log10 sigma(25 C) (Arrhenius, NEB barrier)",
        "log10 S/cm",
    ),
    ("kmc", "ea_eV"): ("kmc_ea_eV", "Ea 25-100 C (KMC)", "eV"),
    ("kmc", "log10_sigma_S_cm"): ("kmc_log10_sigma", "log10 sigma(25 C) (KMC)", "log10 S/cm"),
    ("prior", "log10_sigma_S_cm"): (
        "prior_log10_sigma_S_cm",
        "prior log10 sigma(25 C)",
        "log10 S/cm",
    ),
}


def check_calibrations(calibrations: Sequence[Calibration]) -> None:
    """Refuse calibrations ``compare`` cannot place, and two for one (tier, model, target).

    Raises
    ------
    CalibrationError
    """
    seen: set[tuple[str, str, str]] = set()
    for cal in calibrations:
        if (cal.tier, cal.target) not in QUANTITY:
            shown = ", ".join(f"{t} {g}" for t, g in QUANTITY)
            why = (
                " (the defect tier runs in validate only: no screen makes its tasks)"
                if cal.tier == "defect"
                else ""
            )
            raise CalibrationError(
                f"a calibration of tier {cal.tier!r}, target {cal.target!r} has no "
                f"quantity in compare{why} (it shows {shown})"
            )
        if (cal.settings or {}).get("kmc_vacancies") == "intrinsic":
            raise CalibrationError(
                f"this {cal.tier} calibration was fitted with intrinsic vacancies (a validate "
                "campaign with the defect tier), which no screen makes: use one from a "
                "campaign without the defect tier"
            )
        ident = (cal.tier, cal.model, cal.target)
        if ident in seen:
            raise CalibrationError(
                f"two calibrations for tier {cal.tier}, model {cal.model}, target "
                f"{cal.target}: give one"
            )
        seen.add(ident)


def load_calibrations(
    paths: Sequence[str | Path], reference: str | Path | None = None
) -> list[Calibration]:
    """Read calibration files to apply (``--calibration``), checked against the reference set.

    Parameters
    ----------
    paths : sequence of path
        JSON files of ``halidelab validate`` (``REPORT/calibration/*.json``).
    reference : path, optional
        The reference table they were fitted on (default: the shipped set).

    Raises
    ------
    CalibrationError
        A missing or corrupted file, one fitted on another reference set, one ``compare``
        cannot place, or two for one (tier, model, target).
    DataFormatError
        An unreadable reference table.
    """
    from halidelab.validation.calibration import load_calibration
    from halidelab.validation.reference import load_reference_set

    if not paths:
        if reference is not None:
            raise CalibrationError(
                f"--reference {reference} only says which table the --calibration files were "
                "fitted on: give --calibration FILE too, or leave --reference out"
            )
        return []
    sha = load_reference_set(reference).sha256
    cals = [load_calibration(p, reference_sha256=sha) for p in paths]
    check_calibrations(cals)
    return cals


def model_of(result: dict[str, Any] | None) -> str:
    """Registry name of the MLIP in a stored result's provenance (``unknown`` if none)."""
    from halidelab.errors import ModelError
    from halidelab.potentials import _canonical

    name = ((result or {}).get("provenance") or {}).get("model")
    if not name:
        return "unknown"
    try:
        return _canonical(name)
    except ModelError:
        return str(name)


@dataclasses.dataclass
class StoreIndex:
    """The store's BVSE, NEB and KMC rows by the hash of the structure they ran on
    (the latest finished row wins, as in :func:`halidelab.screening.ranking.gather`)."""

    bvse_structures: set[str]
    neb: dict[str, dict[str, Any]]
    kmc: dict[tuple[str, str], dict[str, Any]]

    @classmethod
    def of(cls, store: Any) -> StoreIndex:
        from halidelab.screening.ranking import _shash

        def latest(kind: str) -> list[dict[str, Any]]:
            return sorted(
                store.rows(kind=kind, status="done"), key=lambda r: r.get("updated_utc") or ""
            )

        bvse = {
            _shash(r["inputs"]["structure"]) for r in latest("bvse") if r["inputs"].get("structure")
        }
        neb = {
            _shash(r["inputs"]["structure"]): r["result"]
            for r in latest("neb")
            if r["inputs"].get("structure")
        }
        kmc = {
            (_shash(r["inputs"]["structure"]), r["inputs"].get("source", "bvse")): r["result"]
            for r in latest("kmc")
            if r["inputs"].get("structure")
        }
        return cls(bvse, neb, kmc)


@dataclasses.dataclass(frozen=True)
class OrderingPrediction:
    """One ordering's raw prediction of one (tier, target).

    Attributes
    ----------
    index : int
        Ordering index (-1 for a composition-level value: the prior).
    value, spread : float
        The tier's prediction and its own spread (eV or log10 S/cm).
    model : str
        MLIP it was made with (``-``: model-free).
    method : str
        How it was made (JSON of :func:`~halidelab.validation.tiers.method_of`).
    """

    index: int
    value: float
    spread: float
    model: str
    method: str = "{}"


def _ctx(structure_results: dict[str, Any]) -> Any:
    from halidelab.validation.tiers import MaterialContext, ValidateSettings

    return MaterialContext(
        entry=None, model=None, settings=ValidateSettings(), tiers=(), results=structure_results
    )


def ordering_predictions(
    c: Any, index: StoreIndex
) -> dict[tuple[str, str], list[OrderingPrediction]]:
    """Each ordering's raw prediction of every (tier, target), as validation computes it.

    Parameters
    ----------
    c : halidelab.screening.ranking.CandidateResults
        One composition in one state (from :func:`~halidelab.screening.ranking.gather`).
    index : StoreIndex
    """
    from halidelab.screening.ranking import _shash
    from halidelab.validation.tiers import TIERS, method_of

    out: dict[tuple[str, str], list[OrderingPrediction]] = {}

    def add(tier: str, result: dict[str, Any] | None, ctx: Any, i: int, model: str) -> None:
        if not result:
            return
        made = method_of(tier, result)
        if made and c.state == "quenched":  # as validate --annealed-state quenched records it
            made["annealed_state"] = "quenched"
        how = json.dumps(made, sort_keys=True)
        for target, p in TIERS[tier].predict(result, _ctx(ctx or {})).items():
            out.setdefault((tier, target), []).append(
                OrderingPrediction(i, p.value, p.spread, model, how)
            )

    members = []
    model_confs = (c.models or {}).get("configurations") or []
    for conf, cf in zip(c.configurations, model_confs, strict=False):
        s, rel = cf["structure"], conf.get("relax")
        on_model = {"model": {"structure": s}}
        on_relaxed = {"relax": rel, "model": {"structure": s}} if rel else None
        h_rel = _shash(rel["structure"]) if rel else None
        h_mod = _shash(s)
        relax_model = model_of(rel) if rel else NO_MODEL
        i = int(conf.get("index", len(members)))
        # BVSE: on the relaxed ordering when it was mapped (gather prefers it), else the model
        bvse_relaxed = h_rel is not None and h_rel in index.bvse_structures
        add(
            "bvse",
            conf.get("bvse"),
            on_relaxed if bvse_relaxed else on_model,
            i,
            relax_model if bvse_relaxed else NO_MODEL,
        )
        # NEB of the relaxed ordering first, else of the model (as gather)
        for h, where in ((h_rel, on_relaxed), (h_mod, on_model)):
            if h is not None and h in index.neb:
                study = index.neb[h]
                model = model_of(study)
                add("neb", study, where, i, relax_model if model == "unknown" else model)
                break
        members.append((i, h_rel, h_mod, relax_model))
    # KMC: on NEB networks where any ordering has one, else on BVSE networks (as compare shows)
    src = (
        "neb"
        if any((h, "neb") in index.kmc for _, hr, hm, _ in members for h in (hr, hm))
        else "bvse"
    )
    for i, h_rel, h_mod, relax_model in members:
        for h in (h_rel, h_mod):
            res = index.kmc.get((h, src)) if h is not None else None
            if res is None:
                continue
            if src == "neb":
                model = next(
                    (model_of(index.neb[x]) for x in (h_rel, h_mod) if x in index.neb), relax_model
                )
            else:
                model = relax_model if h == h_rel else NO_MODEL
            add("kmc", res, None, i, model)
            break
    if c.prior:
        add("prior", c.prior, None, -1, NO_MODEL)
    return out


def _wanted(settings: dict[str, Any], c: Any) -> dict[str, Any]:
    """How a calibration's values were made, as a composition's values must have been made
    to take it. A ball-milled model is built alike whether the campaign's annealed rows were
    Ewald-ordered or quenched (``validate --annealed-state``), so for it that setting is no
    condition; an annealed (Ewald-ordered) or a quenched model takes only the calibrations
    of its own kind."""
    if c.state == "ball-milled":
        return {k: v for k, v in settings.items() if k != "annealed_state"}
    return settings


def ordering_spread(preds: Sequence[OrderingPrediction]) -> tuple[float, float, float | None, int]:
    """(raw mean, spread of one ordering's prediction, s_between or None, N)."""
    from halidelab.ensemble import ensemble_stat

    st = ensemble_stat([p.value for p in preds])
    between = st.std if st.std is not None else 0.0
    own = sum(p.spread**2 for p in preds) / len(preds)
    return st.mean, math.sqrt(between**2 + own), st.std, st.n


def calibrate_composition(
    formula: str, c: Any, index: StoreIndex, calibrations: Sequence[Calibration]
) -> list[dict[str, Any]]:
    """Raw and calibrated values of one composition in one state, one entry per calibration.

    Parameters
    ----------
    formula : str
        The composition (for the leave-one-out map and the out-of-domain flag).
    c : CandidateResults or None
        What the store holds for it (None: not in the store).
    index : StoreIndex
    calibrations : sequence of Calibration

    Returns
    -------
    list of dict
        ``tier``, ``model``, ``target``, ``quantity`` (compare's row key), ``label``,
        ``unit``, ``applied``, ``status`` (``applied``, ``no value``, ``model mismatch``,
        ``settings mismatch``, ``too few orderings``: half or fewer of the composition's
        orderings have a value)
        and, when applied, ``raw``, ``spread``,
        ``sd_between_orderings``, ``n_orderings``, ``calibrated``, ``low``, ``high``,
        ``level``, ``half_width``, ``map_used``, ``kind``, ``out_of_domain``,
        ``nearest_reference``, ``distance``, ``domain_distance``; ``note`` says why not,
        or what to know (a backwards map, another BVSE grid).
    """
    from halidelab.screening.ranking import BVSE_BIAS_EV_PER_A
    from halidelab.validation.tiers import TIERS_WITH_SETTINGS, ValidateSettings

    preds = ordering_predictions(c, index) if c is not None else {}
    out = []
    for cal in calibrations:
        key, label, unit = QUANTITY[(cal.tier, cal.target)]
        entry: dict[str, Any] = {
            "tier": cal.tier,
            "model": cal.model,
            "target": cal.target,
            "quantity": key,
            "label": label,
            "unit": unit,
            "applied": False,
            "note": "",
            "calibration": {
                "kind": cal.kind,
                "a": cal.a,
                "b": cal.b,
                "n_materials": cal.n_materials,
                "loo_mae": cal.loo_mae,
                "reference_sha256": cal.reference_sha256,
                "halidelab_version": cal.halidelab_version,
                "coverage": cal.coverage,
            },
        }
        out.append(entry)
        have = preds.get((cal.tier, cal.target), [])
        if not have:
            entry["status"] = "no value"
            entry["note"] = (
                f"no {cal.tier} value in the store (run the {cal.tier} tier): nothing to calibrate"
            )
            continue
        models = sorted({p.model for p in have})
        if models != [cal.model]:
            entry["status"] = "model mismatch"
            entry["note"] = (
                f"not applied: the {cal.tier} values here come from {', '.join(models)}, "
                f"the calibration is for {cal.model}"
            )
            continue
        if cal.settings:
            want = json.dumps(_wanted(cal.settings, c), sort_keys=True)
            made = sorted({p.method for p in have})
            if made != [want]:
                entry["status"] = "settings mismatch"
                entry["note"] = (
                    f"not applied: the {cal.tier} values here were made with {'; '.join(made)}, "
                    f"the calibration's with {want}"
                )
                continue
        n_conf = len(c.configurations) if c is not None else 0
        orderings = {p.index for p in have}
        if cal.tier != "prior" and n_conf > 1 and 2 * len(orderings) <= n_conf:
            # as validate: a mean over the orderings that worked is biased when whether
            # one works depends on its structure (a milled ordering's NEB study)
            entry["status"] = "too few orderings"
            entry["note"] = (
                f"not applied: only {len(orderings)} of the {n_conf} orderings have a "
                f"{cal.tier} value; a mean over the ones that worked would be biased"
            )
            continue
        raw, spread, between, n = ordering_spread(have)
        cv = cal.apply(raw, spread, composition=formula)
        entry.update(
            {
                "applied": True,
                "status": "applied",
                "raw": raw,
                "spread": spread,
                "sd_between_orderings": between,
                "n_orderings": n,
                "domain_distance": cal.domain_distance,
                **{k: v for k, v in cv.to_dict().items() if k not in ("raw", "provenance")},
            }
        )
        notes = []
        if cal.tier in OWN_ERROR_TIERS and spread > 0:
            notes.append(
                f"the interval is the calibration's leave-one-out scatter alone: the {cal.tier}'s "
                "own interval (the spread) estimates the same error, which that scatter measures"
            )
        if cal.b < 0:
            notes.append(
                f"the map's slope is negative (b = {cal.b:.2f}): the tier orders the reference "
                "materials backwards, so the calibrated value carries no ranking"
            )
        if cal.skill is not None and cal.skill <= 0:
            notes.append(
                "no skill out of sample: on the reference set the set's mean predicted held-out "
                f"materials as well or better (LOO MAE {cal.baseline_loo_mae:.3g} against "
                f"{cal.loo_mae:.3g}), so this calibrated value says no more than that mean"
            )
        if not cal.settings and cal.tier in TIERS_WITH_SETTINGS:
            notes.append(
                "the calibration file does not record how its values were made (halidelab < 0.4): "
                "applied without checking the tier's settings"
            )
        if cal.tier == "bvse" and c is not None and not cal.settings:
            grids = {
                conf["bvse"].get("resolution_A") for conf in c.configurations if conf.get("bvse")
            }
            default = ValidateSettings().bvse_resolution_A
            if grids - {default}:
                notes.append(
                    f"BVSE grid {', '.join(f'{g:g}' for g in sorted(grids))} A here, validate's "
                    f"default {default:g} A: barriers shift by ~{BVSE_BIAS_EV_PER_A:g} eV per A of "
                    "grid, so the "
                    "calibration holds only for the grid it was fitted on"
                )
        entry["note"] = "; ".join(notes)
    return out
