"""Arrhenius fits: recovery of known activation energies, honest errors, warnings."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from halidelab.arrhenius import (
    ArrheniusFit,
    ArrheniusWarning,
    fit_arrhenius,
    plot_arrhenius,
    plot_volcano,
)
from halidelab.constants import K_B_EV_K
from halidelab.errors import FitError

EA = 0.327  # eV, LZNC (Chen et al., ChemComm 2025)
SIGMA_25 = 1.03e-3  # S/cm at 25 C
T25 = 298.15


def _sigma(t, ea=EA, sigma25=SIGMA_25):
    """sigma T = A exp(-Ea/kT), anchored so that sigma(298.15 K) = sigma25."""
    return sigma25 * T25 / t * np.exp(-ea / K_B_EV_K * (1.0 / t - 1.0 / T25))


def test_recovers_ea_from_noisy_sigma_T():
    t = np.arange(25.0, 101.0, 10.0) + 273.15
    rng = np.random.default_rng(7)
    sig = _sigma(t) * (1 + 0.02 * rng.standard_normal(t.size))
    fit = fit_arrhenius(t, sig, 0.02 * sig)
    assert abs(fit.ea_eV - EA) < 0.005
    assert fit.ea_err_eV < 0.005
    assert abs(fit.ea_eV - EA) < 3 * fit.ea_err_eV
    assert fit.value_25C == pytest.approx(SIGMA_25, rel=0.03)
    assert fit.value_25C_low < SIGMA_25 * 1.03 and fit.value_25C_high > SIGMA_25 * 0.97
    assert fit.model == "sigma_T" and not fit.warnings


def test_exact_data_gives_exact_ea_and_prefactor():
    t = np.array([280.0, 300.0, 330.0, 360.0])
    a = 250.0  # S K / cm
    sig = a / t * np.exp(-EA / (K_B_EV_K * t))
    fit = fit_arrhenius(t, sig, quantity="sigma")
    assert fit.ea_eV == pytest.approx(EA, rel=1e-9)
    assert fit.prefactor == pytest.approx(a, rel=1e-8)
    assert fit.prefactor_unit == "S K/cm"
    # the ln(sigma) model on sigma*T-law data gives Ea lower by about k_B * <T>
    plain = fit_arrhenius(t, sig, model="plain")
    assert plain.ea_eV == pytest.approx(EA - K_B_EV_K * 1 / np.mean(1 / t), abs=2e-3)


def test_uncertainty_is_calibrated():
    """Over many noisy data sets, |Ea - true| < 1 sigma about 68% of the time."""
    t = np.linspace(298.15, 373.15, 7)
    rng = np.random.default_rng(0)
    inside = 0
    n = 300
    for _ in range(n):
        sig = _sigma(t) * np.exp(0.03 * rng.standard_normal(t.size))
        fit = fit_arrhenius(t, sig, 0.03 * sig)
        inside += abs(fit.ea_eV - EA) < fit.ea_err_eV
    assert 0.60 < inside / n < 0.76


def test_unweighted_error_from_scatter():
    t = np.linspace(300, 400, 8)
    rng = np.random.default_rng(3)
    sig = _sigma(t) * np.exp(0.05 * rng.standard_normal(t.size))
    fit = fit_arrhenius(t, sig)
    assert fit.errors == ()
    assert 0 < fit.ea_err_eV < 0.05
    assert abs(fit.ea_eV - EA) < 4 * fit.ea_err_eV


def test_diffusion_plain_model():
    t = np.array([600.0, 700.0, 800.0, 900.0, 1000.0])
    d0, ea = 3e-3, 0.25  # cm^2/s, eV
    d = d0 * np.exp(-ea / (K_B_EV_K * t))
    fit = fit_arrhenius(t, d, 0.05 * d, quantity="D")
    assert fit.model == "plain" and fit.unit == "cm^2/s"
    assert fit.ea_eV == pytest.approx(ea, rel=1e-6)
    assert fit.prefactor == pytest.approx(d0, rel=1e-5)
    # extrapolating MD from 600-1000 K down to room temperature is flagged
    assert any("extrapolating" in w for w in fit.warnings)
    with pytest.warns(ArrheniusWarning, match="extrapolating"):
        pred = fit.predict(300.0)
    assert pred.extrapolated
    assert pred.value == pytest.approx(d0 * math.exp(-ea / (K_B_EV_K * 300.0)), rel=1e-4)
    assert pred.low < pred.value < pred.high


def test_interval_widens_away_from_data():
    t = np.linspace(320, 380, 6)
    rng = np.random.default_rng(1)
    sig = _sigma(t) * np.exp(0.02 * rng.standard_normal(t.size))
    fit = fit_arrhenius(t, sig, 0.02 * sig)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ArrheniusWarning)
        near = fit.predict(350.0)
        far = fit.predict(250.0)
    assert (far.high / far.low) > (near.high / near.low)
    assert not near.extrapolated and near.warning is None


def test_curvature_is_detected():
    t = np.linspace(250, 450, 10)
    # two mechanisms in series: the plot bends
    sig = _sigma(t, ea=0.25) + _sigma(t, ea=0.6, sigma25=1e-5) * 50
    fit = fit_arrhenius(t, sig, 0.01 * sig)
    assert fit.curvature_p < 0.01
    assert any("bends" in w for w in fit.warnings)
    straight = fit_arrhenius(t, _sigma(t) * (1 + 0.005 * np.sin(t)), 0.01 * _sigma(t))
    assert not any("bends" in w for w in straight.warnings)


@pytest.mark.parametrize(
    ("t", "y", "err", "match"),
    [
        ([300, 310], [1e-3, 2e-3], None, "third temperature"),
        ([300, 300, 300], [1e-3, 1e-3, 1e-3], None, "two different"),
        ([300, 310, 320], [1e-3, -1e-3, 1e-3], None, "positive"),
        ([25, 50, 75], [1e-3, 2e-3, 3e-3], None, "warn"),  # C typed as K: fits, but warns
        ([-10, 50, 75], [1e-3, 2e-3, 3e-3], None, "convert C to K"),
        ([300, 310], [1e-3], None, "one value per temperature"),
        ([300, 310, 320], [1e-3, 2e-3, 3e-3], [0, 1, 1], "errors must be positive"),
    ],
)
def test_bad_input(t, y, err, match):
    if match == "warn":
        assert any("convert to K" in w for w in fit_arrhenius(t, y, err).warnings)
        return
    with pytest.raises(FitError, match=match):
        fit_arrhenius(t, y, err)


def test_record_round_trip_and_plots(tmp_path):
    t = np.linspace(298.15, 373.15, 6)
    fit = fit_arrhenius(t, _sigma(t), 0.02 * _sigma(t))
    again = ArrheniusFit.from_dict(fit.to_dict())
    assert again == fit
    with pytest.raises(dataclasses_frozen_error()):
        fit.ea_eV = 1.0  # type: ignore[misc]
    plot_arrhenius(fit, labels=["LZNC"], path=tmp_path / "a.png")
    plot_volcano(
        [0, 0.1, 0.2, 0.3],
        [5e-4, 8e-4, 1.03e-3, 7e-4],
        [0.36, 0.34, 0.327, 0.35],
        path=tmp_path / "v.svg",
    )
    assert (tmp_path / "a.png").stat().st_size > 1000
    assert (tmp_path / "v.svg").read_text().startswith("<?xml")


def dataclasses_frozen_error():
    import dataclasses

    return dataclasses.FrozenInstanceError
