"""Calibration: recovery of a known map, leave-one-out hygiene, intervals, files, domain."""

from __future__ import annotations

import json

import numpy as np
import pytest

from halidelab.errors import CalibrationError
from halidelab.validation.calibration import (
    calibrate,
    fit_map,
    interval_coverage,
    load_calibration,
    loo_predictions,
    save_calibration,
)

SHA = "a" * 64


def _ea_rows(tier: str, mats, pred, meas, **extra) -> list[dict]:
    """validate rows of one tier (CHGNet) with a predicted and a measured Ea each."""
    base = {
        "tier": tier,
        "model": "chgnet",
        "composition": "Li3YCl6",
        "pred_log10_sigma_S_cm": None,
        "measured_log10_sigma_S_cm": None,
        "censored": False,
        "in_prior_training": False,
        "computed": False,
        "wall_s": 1.0,
    }
    return [
        base | {"material": m, "pred_ea_eV": float(p), "measured_ea_eV": float(v)} | extra
        for m, p, v in zip(mats, pred, meas, strict=True)
    ]


def _synthetic(n: int, a: float, b: float, noise: float, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.1, 0.6, n)
    y = a + b * x + rng.normal(0.0, noise, n)
    mats = [f"m{i}" for i in range(n)]
    comps = ["Li3YCl6"] * n
    return x, y, mats, comps


def test_recovers_a_known_linear_map_within_its_interval():
    """y = 0.12 + 1.6 x + N(0, 0.02): the chosen map is linear, a and b come back within
    three standard errors, the LOO scatter is the noise, and 90 % intervals of new
    predictions cover about 90 % of new measurements."""
    a0, b0, noise = 0.12, 1.6, 0.02
    x, y, mats, comps = _synthetic(30, a0, b0, noise, seed=1)
    cal = calibrate("ea_eV", "neb", "chgnet", x, y, mats, comps, SHA)
    assert cal.kind == "linear"
    sxx = np.sum((x - x.mean()) ** 2)
    se_b = noise / np.sqrt(sxx)
    se_a = noise * np.sqrt(1 / len(x) + x.mean() ** 2 / sxx)
    assert abs(cal.b - b0) < 3 * se_b and abs(cal.a - a0) < 3 * se_a
    assert cal.residual_sd == pytest.approx(noise, rel=0.35)
    # the other maps are much worse out of sample: b = 1.6 is far from 1
    by = {c.kind: c.loo_mae for c in cal.candidates}
    assert by["linear"] < by["offset"] < by["none"]
    xn, yn, _, _ = _synthetic(2000, a0, b0, noise, seed=2)
    inside = [cal.apply(xi).low <= yi <= cal.apply(xi).high for xi, yi in zip(xn, yn, strict=True)]
    assert 0.85 <= np.mean(inside) <= 0.96


def test_simpler_map_wins_ties():
    x = np.array([0.2, 0.3, 0.45, 0.5, 0.61])
    mats = [f"m{i}" for i in range(5)]
    offset = calibrate("ea_eV", "bvse", "-", x, x + 0.2, mats, ["LiAlCl4"] * 5, SHA)
    assert offset.kind == "offset" and offset.a == pytest.approx(
        0.2
    )  # linear fits as well: not chosen
    ident = calibrate("ea_eV", "bvse", "-", x, x, mats, ["LiAlCl4"] * 5, SHA)
    assert ident.kind == "none" and ident.loo_mae == pytest.approx(0.0)


def test_leave_one_out_never_sees_the_held_out_material():
    """Clean line y = 1 + 2x for 6 materials plus one material with two rows far off the
    line. If a held-out fit saw its own material, the outlier's LOO prediction would be
    pulled towards it; it must be exactly the clean line's value."""
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 2.5, 2.6])
    y = 1.0 + 2.0 * x
    y[6:] += 10.0
    groups = ["a", "b", "c", "d", "e", "f", "out", "out"]
    pred, maps = loo_predictions(x, y, groups, "linear")
    assert pred[6] == pytest.approx(1.0 + 2.0 * 2.5, abs=1e-9)
    assert pred[7] == pytest.approx(1.0 + 2.0 * 2.6, abs=1e-9)
    assert maps["out"] == pytest.approx((1.0, 2.0), abs=1e-9)
    # a fit that saw the outliers gives something else
    a_all, b_all = fit_map(x, y, "linear")
    assert abs(a_all + b_all * 2.5 - pred[6]) > 1.0


def test_a_reference_material_is_calibrated_with_the_map_that_excluded_it():
    x = np.array([0.2, 0.3, 0.4, 0.5, 0.35])
    y = 0.1 + x
    y[4] += 0.3  # Li3InCl6 lies off the others' line
    mats = ["m0", "m1", "m2", "m3", "lic"]
    comps = ["LiAlCl4", "Li2MgCl4", "Li3YBr6", "Li6NBr3", "Li3InCl6"]
    cal = calibrate("ea_eV", "neb", "chgnet", x, y, mats, comps, SHA)
    assert cal.kind == "offset"
    own = cal.apply(0.35, material="lic")
    assert own.calibrated == pytest.approx(0.35 + 0.1)  # offset fitted without Li3InCl6
    assert "without Li3InCl6" in own.map_used
    by_comp = cal.apply(0.35, composition="Li6In2Cl12")  # same composition, other formula unit
    assert by_comp.calibrated == pytest.approx(own.calibrated)
    other = cal.apply(0.35, composition="Li3ScCl6")
    assert other.calibrated == pytest.approx(0.35 + cal.a) and other.map_used == "all materials"


def test_interval_combines_loo_scatter_and_ensemble_spread():
    x, y, mats, comps = _synthetic(12, 0.05, 1.0, 0.03, seed=3)
    cal = calibrate("ea_eV", "neb", "chgnet", x, y, mats, comps, SHA)
    h0 = cal.apply(0.3).half_width
    s = cal.residual_sd
    h1 = cal.apply(0.3, spread=s).half_width
    assert h1 / h0 == pytest.approx(np.sqrt(1 + cal.b**2))
    # the prior's spread is its own error estimate, which s_LOO measures: not added again
    prior = calibrate("log10_sigma_S_cm", "prior", "-", x, y, mats, comps, SHA)
    assert prior.apply(0.3, spread=s).half_width == pytest.approx(prior.apply(0.3).half_width)
    with pytest.raises(CalibrationError):
        cal.apply(0.3, spread=-0.1)
    with pytest.raises(CalibrationError):
        cal.apply(float("nan"))


def test_out_of_domain_by_composition_distance():
    x, y, _, _ = _synthetic(4, 0.0, 1.0, 0.01, seed=4)
    cal = calibrate(
        "log10_sigma_S_cm",
        "prior",
        "-",
        x,
        y,
        ["a", "b", "c", "d"],
        ["Li3InCl6", "Li3YCl6", "Li2ZrCl6", "LiAlCl4"],
        SHA,
    )
    near = cal.apply(-3.0, composition="Li3ScCl6")  # 0.1 from Li3InCl6
    assert not near.out_of_domain and near.nearest_reference in ("Li3InCl6", "Li3YCl6")
    far = cal.apply(-3.0, composition="Li3PS4")
    assert far.out_of_domain and far.distance > cal.domain_distance


def test_too_few_materials_or_repeated_materials_are_refused():
    with pytest.raises(CalibrationError, match="at least 4"):
        calibrate(
            "ea_eV",
            "bvse",
            "-",
            [0.1, 0.2, 0.3],
            [0.2, 0.3, 0.4],
            ["a", "b", "c"],
            ["Li3YCl6"] * 3,
            SHA,
        )
    with pytest.raises(CalibrationError, match="once"):
        calibrate(
            "ea_eV", "bvse", "-", [0.1] * 4, [0.2] * 4, ["a", "a", "b", "c"], ["Li3YCl6"] * 4, SHA
        )


@pytest.fixture
def saved(tmp_path):
    x, y, mats, comps = _synthetic(8, 0.1, 1.2, 0.02, seed=5)
    cal = calibrate("ea_eV", "neb", "chgnet", x, y, mats, comps, SHA)
    return cal, save_calibration(cal, tmp_path / "cal.json")


def test_file_round_trip(saved):
    cal, path = saved
    back = load_calibration(path, reference_sha256=SHA, model="chgnet", tier="neb", target="ea_eV")
    assert back == cal
    assert back.apply(0.4, material="m3") == cal.apply(0.4, material="m3")


def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_corrupted_files_are_refused_with_one_line(saved, tmp_path):
    _, path = saved
    text = path.read_text()
    trunc = tmp_path / "trunc.json"
    trunc.write_text(text[: len(text) // 2])
    with pytest.raises(CalibrationError) as exc:
        load_calibration(trunc)
    assert "corrupted" in _one_line(exc)
    doc = json.loads(text)
    doc["calibration"]["a"] += 0.1  # valid JSON, edited value
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc))
    with pytest.raises(CalibrationError) as exc:
        load_calibration(edited)
    assert "checksum" in _one_line(exc)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"hello": 1}))
    with pytest.raises(CalibrationError, match="not a halidelab calibration"):
        load_calibration(other)
    with pytest.raises(CalibrationError, match="not found"):
        load_calibration(tmp_path / "missing.json")
    with pytest.raises(CalibrationError, match="is a folder"):
        load_calibration(tmp_path)


@pytest.mark.parametrize(
    "field,value",
    [
        ("materials", ["m1", "m2"]),  # a list where a mapping belongs
        ("dof", -3),  # would widen every interval
        ("residual_sd", -1.0),  # would narrow every interval
        ("n_materials", 0),
        ("domain_distance", float("nan")),
    ],
)
def test_a_forged_file_with_a_matching_checksum_is_refused(saved, tmp_path, field, value):
    """Values no calibration can have are refused even when the checksum was recomputed,
    with one line and no traceback (not applied as if they were true)."""
    from halidelab.validation.calibration import _payload_sha

    _, path = saved
    doc = json.loads(path.read_text())
    doc["calibration"][field] = value
    doc["payload_sha256"] = _payload_sha(doc["calibration"])
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(doc))
    with pytest.raises(CalibrationError) as exc:
        load_calibration(forged)
    msg = _one_line(exc)
    assert "forged.json" in msg and ("invalid values" in msg or "corrupted" in msg)


@pytest.mark.parametrize(
    "kwargs,words",
    [
        ({"reference_sha256": "b" * 64}, "reference set"),
        ({"model": "sevennet-0"}, "model chgnet, not sevennet-0"),
        ({"tier": "bvse"}, "tier neb, not bvse"),
        ({"target": "log10_sigma_S_cm"}, "target ea_eV"),
    ],
)
def test_mismatched_files_are_refused(saved, kwargs, words):
    _, path = saved
    with pytest.raises(CalibrationError) as exc:
        load_calibration(path, **kwargs)
    assert words in _one_line(exc)


def _sigma_row(tier, i, pred, meas, upper=None):
    """A validate row of log10 sigma alone (material ``m{i}``, CHGNet)."""
    return {
        "tier": tier,
        "model": "chgnet",
        "material": f"m{i}",
        "composition": "Li3YCl6",
        "pred_log10_sigma_S_cm": pred,
        "upper_log10_sigma_S_cm": upper,
        "measured_log10_sigma_S_cm": meas,
        "censored": False,
        "pred_ea_eV": None,
        "measured_ea_eV": None,
        "in_prior_training": False,
        "computed": True,
        "wall_s": 1.0,
    }


def test_a_backwards_tier_gets_a_negative_slope_and_says_so(tmp_path):
    """A tier whose predictions anti-correlate with the measurements: the linear map wins
    out of sample with b < 0, and validate's metrics say what that means."""
    from halidelab.validation.run import _score

    x = np.linspace(-7.0, -2.0, 8)
    y = -4.0 - 0.5 * (x + 4.5)  # measured falls as predicted rises
    rows = [_sigma_row("bvse", i, xi, yi) for i, (xi, yi) in enumerate(zip(x, y, strict=True))]
    metrics, cals = _score(rows, ("bvse",), ("chgnet",), SHA, None)
    cal = cals[("bvse", "chgnet", "log10_sigma_S_cm")]
    assert cal.kind == "linear" and cal.b == pytest.approx(-0.5)
    assert "negative slope" in metrics[0]["why_not"]


def test_predicted_upper_limits_classify_but_never_enter_the_fit(tmp_path):
    """Eight materials with values (y = 0.5 x - 1.5) and two with only an upper limit: the
    map is fitted on the eight alone (exactly), the limits are classified raw and through
    the increasing map, and counted; a tier whose map is decreasing keeps no calibrated
    limit (an upper limit through a decreasing map is a lower one)."""
    from halidelab.validation.run import _score

    def row(i, pred, meas, upper=None):
        return _sigma_row("kmc", i, pred, meas, upper)

    x = np.linspace(-6.0, 0.0, 8)
    rows = [row(i, xi, 0.5 * xi - 1.5) for i, xi in enumerate(x)]
    # limits: -7 maps to -5 (poor; measured -6: right), -2 maps to -2.5 (says nothing)
    rows += [row(8, None, -6.0, upper=-7.0), row(9, None, -3.0, upper=-2.0)]
    metrics, cals = _score(rows, ("kmc",), ("chgnet",), SHA, None)
    cal = cals[("kmc", "chgnet", "log10_sigma_S_cm")]
    assert cal.n_materials == 8 and cal.b == pytest.approx(0.5) and cal.a == pytest.approx(-1.5)
    raw, loo = metrics[0]["raw"], metrics[0]["loo"]
    # the raw limit -7 lies below the measured -6 (violated); mapped to -5 it holds
    assert raw["n"] == 8 and raw["n_limits"] == 2 and raw["limits_respected"] == 1
    assert loo["n_limits"] == 2 and loo["limits_respected"] == 2
    # -7 (and -5 mapped) classify as poor, rightly; -2 (-2.5 mapped) is above the
    # threshold and classifies nothing
    assert raw["n_classified"] == 9
    assert loo["n_classified"] == 9 and loo["accuracy"] == pytest.approx(1.0)
    backwards = [row(i, xi, -0.5 * xi - 4.5) for i, xi in enumerate(x)]
    backwards.append(row(8, None, -6.0, upper=-7.0))
    metrics, cals = _score(backwards, ("kmc",), ("chgnet",), SHA, None)
    assert cals[("kmc", "chgnet", "log10_sigma_S_cm")].b < 0
    assert metrics[0]["raw"]["n_classified"] == 9 and metrics[0]["loo"]["n_classified"] == 8


def test_the_set_mean_baseline_is_exact_and_never_sees_the_held_out_material():
    """y = 0, 1, 2, 3: the set's mean without each material is 2, 5/3, 4/3, 1, so the
    baseline's LOO errors are 2, 2/3, 2/3, 2 (MAE 4/3), whatever the tier predicted."""
    from halidelab.validation.calibration import baseline_loo_predictions

    y = np.array([0.0, 1.0, 2.0, 3.0])
    mats = [f"m{i}" for i in range(4)]
    assert baseline_loo_predictions(y, mats) == pytest.approx([2.0, 5 / 3, 4 / 3, 1.0])
    # two rows of one material leave together (the others' rows are averaged, as the maps
    # are fitted on them)
    got = baseline_loo_predictions([0.0, 0.0, 3.0, 6.0], ["a", "a", "b", "c"])
    assert got == pytest.approx([4.5, 4.5, 2.0, 1.0])
    for x in (y + 0.3, np.array([5.0, -1.0, 2.0, 0.5])):
        cal = calibrate("ea_eV", "bvse", "-", x, y, mats, ["LiAlCl4"] * 4, SHA)
        assert cal.baseline_loo_mae == pytest.approx(4 / 3)
        assert cal.baseline_loo_rmse == pytest.approx(np.sqrt((4 + 4 / 9 + 4 / 9 + 4) / 4))


def test_skill_tells_an_informative_tier_from_noise(tmp_path):
    """A tier that tracks the measurements (y = 0.1 + 0.8 x + N(0, 0.02) over 0.2-0.6 eV)
    beats the set's mean out of sample; a tier of pure noise does not, validate's metrics
    say so, and so does every value it calibrates."""
    from halidelab.validation.run import _score

    x, y, mats, comps = _synthetic(16, 0.1, 0.8, 0.02, seed=3)
    good = calibrate("ea_eV", "neb", "chgnet", x, y, mats, comps, SHA)
    assert good.skill is not None and good.skill > 0.5
    noise = np.random.default_rng(4).uniform(0.1, 0.6, len(x))
    bad = calibrate("ea_eV", "neb", "chgnet", noise, y, mats, comps, SHA)
    assert bad.skill is not None and bad.skill <= 0
    rows = _ea_rows("neb", mats, noise, y, measured_log10_sigma_S_cm=-3.0, computed=True)
    metrics, _ = _score(rows, ("neb",), ("chgnet",), SHA, None)
    assert "no skill out of sample" in metrics[0]["why_not"]
    assert metrics[0]["calibration"]["skill"] == pytest.approx(bad.skill)
    path = save_calibration(bad, tmp_path / "bad.json")
    loaded = load_calibration(path)
    assert loaded.skill == pytest.approx(bad.skill)


def test_a_file_without_the_baseline_loads_with_unknown_skill(saved, tmp_path):
    """Files written before the baseline was recorded: skill None, nothing claimed."""
    doc = json.loads(saved[1].read_text())
    for key in ("baseline_loo_mae", "baseline_loo_rmse"):
        doc["calibration"].pop(key, None)
    from halidelab.validation.calibration import _payload_sha

    doc["payload_sha256"] = _payload_sha(doc["calibration"])
    old = tmp_path / "old.json"
    old.write_text(json.dumps(doc))
    cal = load_calibration(old)
    assert cal.baseline_loo_mae is None and cal.skill is None


def test_held_out_coverage_of_honest_intervals_is_their_level():
    """Gaussian scatter about a line: each material's interval, from the calibration redone
    without it, holds its measured value about 90 % of the time, and the held-out
    residuals in units of the interval's standard error have an RMS near 1."""
    x, y, mats, comps = _synthetic(120, 0.1, 0.8, 0.03, seed=11)
    cov = interval_coverage(x, y, mats, comps, level=0.9)
    assert cov["n"] == 120 and len(cov["materials"]) == 120
    assert 0.84 <= cov["fraction"] <= 0.96
    assert cov["fraction_low"] < 0.9 < cov["fraction_high"]
    assert 0.85 <= cov["rms_z"] <= 1.15
    assert cov["mean_half_width"] == pytest.approx(1.645 * 0.03, rel=0.15)
    # an interval half as wide (level 0.59 instead of 0.9) covers measurably less
    narrow = interval_coverage(x, y, mats, comps, level=0.59)
    assert narrow["fraction"] < cov["fraction"] - 0.15


def test_coverage_refits_without_the_held_out_material():
    """Eight materials exactly on y = x and one 1.0 off it. Held out, the outlier meets a
    calibration of eight exact points (zero scatter, zero width): outside. Each exact
    point, held out, meets a calibration that contains the outlier: inside. Any trace of
    the outlier in its own refit would give its interval a width."""
    x = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.45])
    y = x.copy()
    y[-1] += 1.0
    mats = [f"m{i}" for i in range(9)]
    cov = interval_coverage(x, y, mats, ["LiAlCl4"] * 9, level=0.9)
    out = cov["materials"][-1]
    assert not out["inside"] and out["half_width"] == pytest.approx(0.0, abs=1e-12)
    assert out["calibrated"] == pytest.approx(0.45, abs=1e-12)
    assert all(m["inside"] for m in cov["materials"][:-1])
    assert cov["inside"] == 8
    leaky = calibrate("ea_eV", "neb", "chgnet", x, y, mats, ["LiAlCl4"] * 9, SHA)
    assert leaky.apply(0.45, material="m8").half_width > 0.3  # what a leak would give


def test_coverage_counts_the_ensemble_spread():
    """A material whose raw value is 0.3 eV off, but whose orderings spread by 0.3 eV, is
    inside its interval only when the spread enters it."""
    x, y, mats, comps = _synthetic(10, 0.0, 1.0, 0.01, seed=5)
    x = x.copy()
    x[3] += 0.3
    spreads = [0.0] * 10
    spreads[3] = 0.3
    cov = interval_coverage(x, y, mats, comps, spreads=spreads)
    m = cov["materials"][3]
    assert m["inside"] and not m["inside_without_spread"]
    assert cov["inside_without_spread"] < cov["inside"]


def test_coverage_needs_one_more_material_than_a_calibration():
    x, y, mats, comps = _synthetic(4, 0.0, 1.0, 0.01, seed=6)
    assert interval_coverage(x, y, mats, comps) is None
    x, y, mats, comps = _synthetic(5, 0.0, 1.0, 0.01, seed=6)
    assert interval_coverage(x, y, mats, comps)["n"] == 5
    with pytest.raises(CalibrationError, match="differ in length"):
        interval_coverage(x, y, mats, comps, spreads=[0.1])
    with pytest.raises(CalibrationError, match="spread"):
        interval_coverage(x, y, mats, comps, spreads=[0.1, 0.1, -1.0, 0.1, 0.1])


def test_a_non_finite_spread_costs_the_coverage_not_the_campaign():
    """validate scores a tier whose rows carry a NaN ensemble spread: the calibration is
    fitted and saved, the coverage is None, and the notes say why."""
    from halidelab.validation.run import _score

    x, y, mats, _ = _synthetic(8, 0.1, 0.8, 0.02, seed=9)
    rows = _ea_rows("bvse", mats, x, y, spread_ea_eV=0.01, measured_structure=True)
    rows[2]["spread_ea_eV"] = float("nan")
    metrics, cals = _score(rows, ("bvse",), ("chgnet",), SHA, None)
    (entry,) = metrics
    assert entry["calibration"] is not None and entry["coverage"] is None
    assert "no held-out coverage" in entry["why_not"] and "spread" in entry["why_not"]
    assert cals[("bvse", "chgnet", "ea_eV")].coverage is None
    # the same rows with finite spreads get it
    rows[2]["spread_ea_eV"] = 0.01
    (entry,), _ = _score(rows, ("bvse",), ("chgnet",), SHA, None)
    assert entry["coverage"]["n"] == 8
