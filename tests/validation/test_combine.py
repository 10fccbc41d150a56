"""Physics tier + prior (``halidelab.validation.combine``): the stacked estimate is fitted
and scored leave-one-material-out and used only when it beats both predictors alone.

Expected values come from the construction: an exact linear combination is recovered, a
held-out point never moves its own prediction, two predictors with independent errors
average their noise away (the error of the mean of two equal, independent errors is
1/sqrt(2) of either), a collinear pair has no unique combination.
"""

from __future__ import annotations

import numpy as np
import pytest

from halidelab.errors import CalibrationError
from halidelab.validation.combine import (
    MIN_MATERIALS_COMBINED,
    combine_with_prior,
    fit_stacked,
    loo_stacked,
)

T = "log10_sigma_S_cm"


def _rows(x_tier, x_prior, y, censored=None, tier="bvse", model="chgnet"):
    rows = []
    for i, (a, b, m) in enumerate(zip(x_tier, x_prior, y, strict=True)):
        common = {
            "material": f"m{i}",
            "composition": f"Li{i + 1}Cl{i + 1}",
            "measured_" + T: float(m),
            "censored": bool(censored[i]) if censored is not None else False,
            "in_prior_training": False,
        }
        rows.append({**common, "tier": tier, "model": model, "pred_" + T: float(a)})
        rows.append({**common, "tier": "prior", "model": "-", "pred_" + T: float(b)})
    return rows


def test_an_exact_combination_is_recovered():
    rng = np.random.default_rng(1)
    x1, x2 = rng.uniform(-9, -2, 12), rng.uniform(-9, -2, 12)
    y = 1.0 + 0.5 * x1 + 0.4 * x2
    np.testing.assert_allclose(fit_stacked(x1, x2, y), [1.0, 0.5, 0.4], atol=1e-10)
    np.testing.assert_allclose(loo_stacked(x1, x2, y), y, atol=1e-9)


def test_leave_one_out_never_sees_the_held_out_point():
    rng = np.random.default_rng(2)
    x1, x2 = rng.uniform(-9, -2, 10), rng.uniform(-9, -2, 10)
    y = -1.0 + 0.8 * x1 + 0.1 * x2 + rng.normal(0, 0.3, 10)
    before = loo_stacked(x1, x2, y)
    y2 = y.copy()
    y2[3] += 50.0  # a wild measurement of material 3
    after = loo_stacked(x1, x2, y2)
    assert after[3] == pytest.approx(before[3], abs=1e-9)  # its own prediction cannot see it
    assert np.max(np.abs(np.delete(after - before, 3))) > 1.0  # the others' fits do


def test_two_predictors_with_independent_errors_combine_and_are_used():
    rng = np.random.default_rng(3)
    n = 40
    y = rng.uniform(-9, -2, n)
    x1 = y + rng.normal(0, 0.6, n)  # the physics tier
    x2 = y + rng.normal(0, 0.6, n)  # the prior, errors independent of the tier's
    (c,) = combine_with_prior(_rows(x1, x2, y), "sha")
    assert c["tier"] == "bvse+prior" and c["n"] == n
    assert c["used"] and c["verdict"].startswith("used")
    # the mean of two independent equal errors: 1/sqrt(2) of either (MAE ~ 0.34 vs ~ 0.48)
    assert c["loo_mae"] < 0.85 * min(c["loo_mae_tier_alone"], c["loo_mae_prior_alone"])
    assert c["b_tier"] == pytest.approx(0.5, abs=0.15)
    assert c["b_prior"] == pytest.approx(0.5, abs=0.15)


def test_an_unrelated_prior_gets_no_weight_and_the_rule_decides():
    """A prior unrelated to the measurement gets ~no weight in the fit; whether the
    combination is used is decided by the LOO rule alone (it may win or lose by noise)."""
    rng = np.random.default_rng(4)
    n = 30
    y = rng.uniform(-9, -2, n)
    x1 = y + rng.normal(0, 0.3, n)
    x2 = rng.uniform(-9, -2, n)  # unrelated to y
    (c,) = combine_with_prior(_rows(x1, x2, y), "sha")
    assert c["used"] is (c["loo_mae"] < min(c["loo_mae_tier_alone"], c["loo_mae_prior_alone"]))
    assert abs(c["b_prior"]) < 0.1  # the fit gives the unrelated predictor no weight
    if not c["used"]:
        assert c["verdict"].startswith("not used") and "tier" in c["verdict"]


def test_collinear_predictors_and_too_few_materials_are_refused():
    x1 = np.linspace(-8, -2, 10)
    with pytest.raises(CalibrationError, match="collinear"):
        fit_stacked(x1, 2 * x1 + 3, x1)
    (c,) = combine_with_prior(_rows(x1, 2 * x1 + 3, x1 + 0.1), "sha")
    assert not c["used"] and "collinear" in c["verdict"]
    k = MIN_MATERIALS_COMBINED - 1
    rng = np.random.default_rng(5)
    (c,) = combine_with_prior(_rows(rng.normal(size=k), rng.normal(size=k), rng.normal(size=k)), "")
    assert not c["used"] and f"at least {MIN_MATERIALS_COMBINED}" in c["verdict"]


def test_upper_limits_and_tiers_without_sigma_are_left_out():
    rng = np.random.default_rng(6)
    n = 12
    y = rng.uniform(-9, -2, n)
    cens = [i < 3 for i in range(n)]
    rows = _rows(y + rng.normal(0, 0.5, n), y + rng.normal(0, 0.5, n), y, censored=cens)
    rows += [{**r, "tier": "relax", "pred_" + T: None} for r in rows if r["tier"] == "bvse"]
    out = combine_with_prior(rows, "sha")
    assert [c["tier"] for c in out] == ["bvse+prior"]  # relax predicts no sigma
    assert out[0]["n"] == n - 3 and not set(out[0]["materials"]) & {"m0", "m1", "m2"}
    assert combine_with_prior([r for r in rows if r["tier"] != "prior"], "sha") == []


def test_materials_the_prior_was_trained_on_are_left_out():
    """The prior's value on its own training materials is in-sample: a combination scored
    on them would be flattered. They are left out and counted."""
    rng = np.random.default_rng(7)
    n = 14
    y = rng.uniform(-9, -2, n)
    rows = _rows(y + rng.normal(0, 0.5, n), y + rng.normal(0, 0.5, n), y)
    trained = {"m0", "m1", "m2", "m3"}
    for r in rows:
        r["in_prior_training"] = r["material"] in trained
    (c,) = combine_with_prior(rows, "sha")
    assert c["n"] == n - 4 and c["n_in_prior_training"] == 4
    assert not set(c["materials"]) & trained and not set(c["loo_predictions"]) & trained
