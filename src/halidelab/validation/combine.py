"""A physics tier and the data-driven prior together: used only if it wins out of sample.

The prior (:mod:`halidelab.prior`) predicts log10 sigma(25 C) from the composition alone;
a physics tier (BVSE, KMC, NEB) from a relaxed structure. Their errors come from different
places, so a combination can beat both. The combination is the stacked linear model

    y = a + b_tier x_tier + b_prior x_prior

fitted by least squares on the reference materials where both predict and sigma was
measured (not an upper limit) and that the prior did not see in training (its value there
is in-sample, and would flatter any combination that leans on it), scored by
leave-one-material-out: each material is
predicted by the fit that never saw it, exactly like the single-tier calibrations of
:mod:`halidelab.validation.calibration`. On the same materials, the tier alone and the
prior alone are scored by their own LOO calibration (the best of the none / offset /
linear maps, chosen by LOO MAE, which if anything favours them). The combination is
*used* only when its LOO MAE is below both; otherwise the verdict says by how much it
lost, and nothing downstream changes.

Three parameters need more points than a line: below :data:`MIN_MATERIALS_COMBINED`
materials no combination is fitted (the verdict says so).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from halidelab.errors import CalibrationError
from halidelab.validation.calibration import calibrate
from halidelab.validation.metrics import spearman

TARGET = "log10_sigma_S_cm"
#: fewest materials a combination is fitted on (each LOO fit: 3 parameters, >= 3 dof)
MIN_MATERIALS_COMBINED = 7


def fit_stacked(
    x_tier: Sequence[float], x_prior: Sequence[float], y: Sequence[float]
) -> np.ndarray:
    """Least-squares (a, b_tier, b_prior) of y = a + b_tier x_tier + b_prior x_prior.

    Raises
    ------
    CalibrationError
        Fewer than 3 points, or the two predictors collinear (the design matrix is rank
        deficient: no unique combination).
    """
    x1, x2, yy = (np.asarray(v, float) for v in (x_tier, x_prior, y))
    if len(yy) < 3:
        raise CalibrationError("a combination of two predictors needs at least 3 materials")
    design = np.column_stack([np.ones_like(x1), x1, x2])
    coef, _, rank, _ = np.linalg.lstsq(design, yy, rcond=None)
    if rank < 3:
        raise CalibrationError(
            "the tier's and the prior's predictions are collinear on these materials: "
            "no unique combination"
        )
    return coef


def loo_stacked(
    x_tier: Sequence[float], x_prior: Sequence[float], y: Sequence[float]
) -> np.ndarray:
    """Each point predicted by :func:`fit_stacked` on all the other points."""
    x1, x2, yy = (np.asarray(v, float) for v in (x_tier, x_prior, y))
    out = np.empty(len(yy))
    for i in range(len(yy)):
        keep = np.arange(len(yy)) != i
        a, b1, b2 = fit_stacked(x1[keep], x2[keep], yy[keep])
        out[i] = a + b1 * x1[i] + b2 * x2[i]
    return out


def combine_with_prior(rows: list[dict[str, Any]], reference_sha256: str) -> list[dict[str, Any]]:
    """Stacked tier + prior estimates of log10 sigma for every physics (tier, model).

    Parameters
    ----------
    rows : list of dict
        The prediction rows of :func:`halidelab.validation.run.validate` (one per material,
        tier and model, primary measurements): ``pred_log10_sigma_S_cm``,
        ``measured_log10_sigma_S_cm``, ``censored``, ``material``, ``composition``.
    reference_sha256 : str
        Checksum of the reference set (recorded in the single-tier fits).

    Returns
    -------
    list of dict
        One per physics (tier, model) that predicts log10 sigma: ``tier``, ``model``,
        ``n``, ``materials``, LOO MAE / RMSE / Spearman of the combination and LOO MAE of
        the tier alone and of the prior alone on the same materials, the coefficients
        fitted on all of them (``a``, ``b_tier``, ``b_prior``), the LOO predictions per
        material, ``used`` (True only when the combination beats both) and ``verdict``
        (one line). Empty when the prior did not run.
    """
    prior = {
        r["material"]: r["pred_" + TARGET]
        for r in rows
        if r["tier"] == "prior" and r["pred_" + TARGET] is not None
    }
    if not prior:
        return []
    out = []
    combos = dict.fromkeys((r["tier"], r["model"]) for r in rows if r["tier"] != "prior")
    for tier, model in combos:
        predicted = [
            r
            for r in rows
            if r["tier"] == tier and r["model"] == model and r["pred_" + TARGET] is not None
        ]
        if not predicted:
            continue  # the tier predicts no sigma (relax)
        n_training = sum(1 for r in predicted if r.get("in_prior_training"))
        sub = [
            r
            for r in predicted
            if r["material"] in prior
            and r["measured_" + TARGET] is not None
            and not r["censored"]
            and not r.get("in_prior_training")
        ]
        entry: dict[str, Any] = {
            "tier": f"{tier}+prior",
            "physics_tier": tier,
            "model": model,
            "target": TARGET,
            "n": len(sub),
            "n_in_prior_training": n_training,
            "materials": [r["material"] for r in sub],
            "used": False,
        }
        out.append(entry)
        if len(sub) < MIN_MATERIALS_COMBINED:
            entry["verdict"] = (
                f"not fitted: {len(sub)} materials with both predictions and a measured sigma "
                f"outside the prior's training set ({n_training} inside it left out); "
                f"a 3-parameter combination needs at least {MIN_MATERIALS_COMBINED}"
            )
            continue
        mats = [r["material"] for r in sub]
        comps = [r["composition"] for r in sub]
        x1 = np.array([r["pred_" + TARGET] for r in sub], float)
        x2 = np.array([prior[m] for m in mats], float)
        y = np.array([r["measured_" + TARGET] for r in sub], float)
        try:
            coef = fit_stacked(x1, x2, y)
            loo = loo_stacked(x1, x2, y)
            alone_tier = calibrate(TARGET, tier, model, x1, y, mats, comps, reference_sha256)
            alone_prior = calibrate(TARGET, "prior", "-", x2, y, mats, comps, reference_sha256)
        except CalibrationError as exc:
            entry["verdict"] = f"not fitted: {exc}"
            continue
        res = loo - y
        mae = float(np.mean(np.abs(res)))
        rho, _ = spearman(loo, y)
        best_alone = min(alone_tier.loo_mae, alone_prior.loo_mae)
        entry.update(
            {
                "a": float(coef[0]),
                "b_tier": float(coef[1]),
                "b_prior": float(coef[2]),
                "loo_mae": mae,
                "loo_rmse": float(np.sqrt(np.mean(res**2))),
                "loo_spearman": rho,
                "loo_mae_tier_alone": alone_tier.loo_mae,
                "tier_alone_map": alone_tier.kind,
                "loo_mae_prior_alone": alone_prior.loo_mae,
                "prior_alone_map": alone_prior.kind,
                "loo_predictions": {m: float(v) for m, v in zip(mats, loo, strict=True)},
                "used": bool(mae < best_alone),
            }
        )
        if entry["used"]:
            entry["verdict"] = (
                f"used: LOO MAE {mae:.2f} beats the tier alone ({alone_tier.loo_mae:.2f}) and "
                f"the prior alone ({alone_prior.loo_mae:.2f}) on these {len(sub)} materials "
                f"(outside the prior's training set)"
            )
        else:
            entry["verdict"] = (
                f"not used: LOO MAE {mae:.2f} does not beat the better single predictor "
                f"({'tier' if alone_tier.loo_mae <= alone_prior.loo_mae else 'prior'}, "
                f"{best_alone:.2f}) on these {len(sub)} materials (outside the prior's "
                "training set)"
            )
    return out
