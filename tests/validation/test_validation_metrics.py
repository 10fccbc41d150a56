"""Parity metrics: known errors, rank correlation limits, the classification threshold."""

from __future__ import annotations

import numpy as np
import pytest

from halidelab.errors import DataFormatError
from halidelab.validation.metrics import EA_GOOD_EV, SIGMA_GOOD_LOG10_S_CM, parity_metrics


def test_constant_offset_gives_mae_and_rmse_equal_to_the_offset():
    meas = np.linspace(-7.0, -2.0, 9)
    m = parity_metrics("log10_sigma_S_cm", meas + 0.7, meas)
    assert m.mae == pytest.approx(0.7) and m.rmse == pytest.approx(0.7)
    assert m.spearman == pytest.approx(1.0)  # an offset keeps the order


def test_rmse_exceeds_mae_for_unequal_errors():
    meas = np.zeros(4)
    m = parity_metrics("ea_eV", [0.0, 0.0, 0.0, 0.4], meas + 0.3)
    assert m.mae == pytest.approx((0.3 * 3 + 0.1) / 4)
    assert m.rmse == pytest.approx(np.sqrt((0.09 * 3 + 0.01) / 4))


def test_spearman_is_rank_based_and_undefined_for_two_points():
    meas = np.array([0.25, 0.3, 0.41, 0.5, 0.62])
    assert parity_metrics("ea_eV", np.exp(10 * meas), meas).spearman == pytest.approx(1.0)
    assert parity_metrics("ea_eV", -meas, meas).spearman == pytest.approx(-1.0)
    m = parity_metrics("ea_eV", [0.3, 0.4], [0.35, 0.45])
    assert m.spearman is None and m.n == 2


def test_classification_at_the_stated_thresholds():
    # sigma: good at >= 1e-4 S/cm; predictions on the right side for 3 of 4 materials
    meas = [-3.0, -5.0, -3.5, -6.0]
    pred = [-3.2, -4.5, -4.2, -6.5]
    m = parity_metrics("log10_sigma_S_cm", pred, meas)
    assert m.threshold == SIGMA_GOOD_LOG10_S_CM and m.good_is_above
    assert m.accuracy == pytest.approx(0.75) and m.n_good_measured == 2
    # Ea: good at <= 0.5 eV (lower is better)
    e = parity_metrics("ea_eV", [0.45, 0.55, 0.3], [0.4, 0.6, 0.7])
    assert e.threshold == EA_GOOD_EV and not e.good_is_above
    assert e.accuracy == pytest.approx(2 / 3)


def test_an_upper_limit_classifies_but_does_not_enter_the_errors():
    meas = [-3.0, -10.0, -6.0]
    pred = [-3.0, -5.0, -6.0]
    m = parity_metrics("log10_sigma_S_cm", pred, meas, censored=[False, True, False])
    assert m.n == 2 and m.mae == pytest.approx(0.0)  # the <1e-10 limit is not an error of 5
    assert m.n_classified == 3 and m.accuracy == pytest.approx(1.0)
    # an upper limit above the threshold says nothing about good/poor: left out
    m2 = parity_metrics("log10_sigma_S_cm", [-3.0, -3.0], [-3.0, -2.0], censored=[False, True])
    assert m2.n_classified == 1


def test_missing_pairs_are_dropped_and_bad_input_refused():
    m = parity_metrics("ea_eV", [0.3, None, 0.5], [0.35, 0.4, None])
    assert m.n == 1 and m.mae == pytest.approx(0.05)
    with pytest.raises(DataFormatError, match="unknown target"):
        parity_metrics("sigma", [1.0], [1.0])
    with pytest.raises(DataFormatError, match="length"):
        parity_metrics("ea_eV", [1.0, 2.0], [1.0])
