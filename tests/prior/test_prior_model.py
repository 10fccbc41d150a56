"""The prior model: conformal intervals, test-split quality, applicability, persistence."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from halidelab.errors import CompositionError, FitError, ModelError
from halidelab.prior.data import prepare_dataset
from halidelab.prior.model import (
    MODEL_FILE,
    PROVENANCE_FILE,
    PriorPrediction,
    conformal_quantile,
    default_model_dir,
    load_model,
    metrics,
    save_model,
    train_prior,
)

NB_SERIES = [f"Li{2 - x:.1f}Zr{1 - x:.1f}Nb{x:.1f}Cl6" for x in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)]


@pytest.fixture(scope="module")
def trained():
    return train_prior(seed=0)


@pytest.fixture(scope="module")
def shipped():
    return load_model(default_model_dir())


def test_conformal_quantile_rank():
    r = np.arange(1.0, 20.0)  # 19 residuals: ceil(20 * 0.9) = 18th smallest
    assert conformal_quantile(r, 0.9) == 18.0
    assert conformal_quantile(-r, 0.9) == 18.0  # absolute values
    with pytest.raises(FitError):
        conformal_quantile(np.ones(5), 0.9)  # too few for 90 %


def test_conformal_quantile_covers_exchangeable_data():
    rng = np.random.default_rng(1)
    q = conformal_quantile(rng.standard_t(3, size=400), 0.9)
    fresh = rng.standard_t(3, size=20000)
    assert 0.88 <= np.mean(np.abs(fresh) <= q) <= 0.94


def test_metrics_handle_censored_entries():
    y = np.array([-3.0, -4.0, -10.0])
    p = np.array([-3.5, -3.0, -11.0])
    c = np.array([False, False, True])
    m = metrics(y, p, c, p - 0.6, p + 0.6)
    assert m["mae"] == pytest.approx(0.75)  # uncensored only
    assert m["mae_censoring_aware"] == pytest.approx(
        (0.5 + 1.0 + 0.0) / 3
    )  # below the limit is right
    assert m["mae_obelix_convention"] == pytest.approx((0.5 + 1.0 + 4.0) / 3)  # limit -> 1e-15
    assert m["coverage"] == pytest.approx(0.5)
    assert m["censored_consistent"] == 1.0


def test_test_split_quality_and_calibration(trained):
    model, report = trained
    ds = prepare_dataset()
    y = ds.test["log10_sigma_S_cm"].to_numpy()[~ds.test["censored"].to_numpy()]
    ytr = ds.train["log10_sigma_S_cm"].to_numpy()[~ds.train["censored"].to_numpy()]
    baseline_mae = np.mean(np.abs(y - np.median(ytr)))  # predicting the training median
    m = report.test_metrics
    assert m["n_uncensored"] == len(y)
    assert m["mae"] < 0.9 * baseline_mae  # measured: 1.32 vs 1.57 decades
    assert m["spearman"] > 0.5
    # nominal 90 % interval, held-out test split
    assert 0.85 <= m["coverage"] <= 0.95
    assert 0.85 <= report.cv_metrics["coverage"] <= 0.95
    assert report.test_metrics_halide["n"] == (ds.test["family"] == "halide").sum() > 0


def test_rebuild_reproduces_the_shipped_model(trained, shipped):
    model, _ = trained
    formulas = NB_SERIES + ["Li3YCl6", "Li7La3Zr2O12", "Li10GeP2S12"]
    a = [p.log10_sigma_S_cm for p in model.predict(formulas)]
    b = [p.log10_sigma_S_cm for p in shipped.predict(formulas)]
    np.testing.assert_allclose(a, b, atol=1e-9)
    assert shipped.provenance["test_metrics"]["mae"] == pytest.approx(
        trained[1].test_metrics["mae"]
    )


def test_applicability(shipped):
    llzo, nb, far = shipped.predict(["Li7La3Zr2O12", "Li1.8Zr0.8Nb0.2Cl6", "LiOs2Ir3Pt4"])
    assert llzo.in_domain and llzo.nearest[0].distance == pytest.approx(0.0, abs=1e-6)
    assert any("in the training data" in w for w in llzo.warnings)
    assert not nb.in_domain and any("halides" in w for w in nb.warnings)  # thin family
    assert nb.nearest[0].family == "halide"  # its nearest measured neighbour is a halide
    assert not far.in_domain and far.nearest_distance > shipped.domain_threshold
    # intervals widen with distance from the data
    for p in (llzo, nb, far):
        assert p.log10_sigma_low_S_cm < p.log10_sigma_S_cm < p.log10_sigma_high_S_cm
    width = [p.log10_sigma_high_S_cm - p.log10_sigma_low_S_cm for p in (llzo, nb, far)]
    assert width[0] < width[1] < width[2]


def test_prediction_record_round_trip(shipped):
    p = shipped.predict(["Li3InCl6"])[0]
    q = PriorPrediction.from_dict(json.loads(json.dumps(p.to_dict())))
    assert q == p
    assert p.sigma_S_cm == pytest.approx(10**p.log10_sigma_S_cm)


def test_explain_reports_drivers_and_neighbours(shipped):
    ex = shipped.explain("Li1.8Zr0.8Nb0.2Cl6", n_neighbours=5)
    d = [n.distance for n in ex.prediction.nearest]
    assert d == sorted(d) and len(d) == 5
    deltas = [abs(c.delta_log10) for c in ex.contributions]
    assert deltas == sorted(deltas, reverse=True) and deltas[0] > 0


def test_save_load_and_refusals(trained, tmp_path):
    model, _ = trained
    folder = save_model(model, tmp_path / "m")
    again = load_model(folder)
    f = ["Li2ZrCl6", "Li6PS5Cl"]
    assert [p.log10_sigma_S_cm for p in again.predict(f)] == [
        p.log10_sigma_S_cm for p in model.predict(f)
    ]
    # another scikit-learn version: refuse, and say what to do
    other = tmp_path / "other"
    shutil.copytree(folder, other)
    meta = json.loads((other / PROVENANCE_FILE).read_text())
    meta["versions"]["scikit-learn"] = "0.0.1"
    (other / PROVENANCE_FILE).write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="halidelab prior train"):
        load_model(other)
    # a model file that does not match its provenance record
    (folder / MODEL_FILE).write_bytes((folder / MODEL_FILE).read_bytes() + b"\0")
    with pytest.raises(ModelError, match="does not match"):
        load_model(folder)
    with pytest.raises(ModelError, match="no saved prior"):
        load_model(tmp_path / "nothing")


def test_bad_queries(shipped):
    with pytest.raises(CompositionError):
        shipped.predict(["Li3Qq2Cl6"])
    with pytest.raises(CompositionError):
        shipped.predict(["MgCl2"])  # no Li
    assert shipped.predict([]) == []
