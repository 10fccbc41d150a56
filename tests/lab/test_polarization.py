"""DC polarisation: synthetic decays from a known sigma_e are fitted back."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from halidelab.errors import DataFormatError, FitError
from halidelab.lab.polarization import (
    PolarizationWarning,
    electronic_conductivity,
    read_polarization,
    simulate_decay,
    steady_state_current,
    voltage_from_name,
)

L_CM = 0.085  # 0.85 mm pellet
AREA = math.pi * 0.5**2  # 10 mm diameter
VOLTS = (0.1, 0.2, 0.3)


@pytest.mark.parametrize("sigma_e", [8.11e-9, 1.09e-9])  # LZC, LZNC (Chen et al. 2025)
@pytest.mark.parametrize("intercept", [True, False])
def test_recovers_sigma_e(sigma_e, intercept):
    pts = []
    for k, v in enumerate(VOLTS):
        t, i = simulate_decay(
            v, sigma_e, thickness_cm=L_CM, area_cm2=AREA, tau_s=500, noise=0.02, seed=11 + k
        )
        pts.append(steady_state_current(t, i, v))
    res = electronic_conductivity(
        pts, thickness_cm=L_CM, area_cm2=AREA, fit_intercept=intercept, ionic_sigma_S_cm=1.03e-3
    )
    assert res.sigma_e_S_cm == pytest.approx(sigma_e, rel=0.02)
    assert abs(res.sigma_e_S_cm - sigma_e) < 4 * res.sigma_e_err_S_cm
    assert res.resistance_ohm == pytest.approx(L_CM / (sigma_e * AREA), rel=0.02)
    assert res.t_ion == pytest.approx(1.03e-3 / (1.03e-3 + res.sigma_e_S_cm), rel=1e-12)
    assert 1 - res.t_ion == pytest.approx(sigma_e / 1.03e-3, rel=0.03)  # electronic share
    assert res.ratio_ionic_electronic == pytest.approx(1.03e-3 / res.sigma_e_S_cm)
    assert res.fit_intercept is intercept and all(p.steady for p in res.points)


def test_offset_current_needs_the_intercept():
    """An instrument offset of 2 nA biases the through-origin fit, not the intercept fit."""
    sigma = 1.09e-9
    pts = []
    for k, v in enumerate((0.1, 0.2, 0.3, 0.5)):
        t, i = simulate_decay(v, sigma, thickness_cm=L_CM, area_cm2=AREA, noise=0.005, seed=k)
        pts.append(steady_state_current(t, i + 2e-9, v))
    free = electronic_conductivity(pts, thickness_cm=L_CM, area_cm2=AREA, fit_intercept=True)
    zero = electronic_conductivity(pts, thickness_cm=L_CM, area_cm2=AREA, fit_intercept=False)
    assert free.sigma_e_S_cm == pytest.approx(sigma, rel=0.02)
    assert free.intercept_A == pytest.approx(2e-9, rel=0.1)
    assert zero.sigma_e_S_cm > 1.1 * sigma


def test_not_steady_warns():
    t, i = simulate_decay(
        0.1, 1e-9, thickness_cm=L_CM, area_cm2=AREA, tau_s=3000, duration_s=3600, noise=0.0
    )
    with pytest.warns(PolarizationWarning, match="not at steady state"):
        s = steady_state_current(t, i, 0.1)
    assert not s.steady and s.relative_drift < -0.02


def test_geometry_uncertainty_propagates():
    pts = [
        steady_state_current(
            *simulate_decay(v, 1e-9, thickness_cm=L_CM, area_cm2=AREA, noise=0.0), v
        )
        for v in VOLTS
    ]
    a = electronic_conductivity(pts, thickness_cm=L_CM, area_cm2=AREA)
    b = electronic_conductivity(pts, thickness_cm=L_CM, area_cm2=AREA, thickness_err_cm=0.001)
    assert b.sigma_e_err_S_cm >= b.sigma_e_S_cm * 0.001 / L_CM
    assert b.sigma_e_err_S_cm > a.sigma_e_err_S_cm


def test_bad_inputs():
    s = steady_state_current(*simulate_decay(0.1, 1e-9, thickness_cm=L_CM, area_cm2=AREA), 0.1)
    with pytest.raises(FitError, match="three or more"):
        electronic_conductivity([s], thickness_cm=L_CM, area_cm2=AREA, fit_intercept=True)
    with pytest.raises(DataFormatError, match="same voltage"):
        electronic_conductivity([s, s], thickness_cm=L_CM, area_cm2=AREA)
    with pytest.raises(DataFormatError, match="readable points"):
        steady_state_current([0, 1, 2], [1, 1, 1], 0.1)


def test_voltage_from_name():
    assert voltage_from_name("dc_0.1V.csv") == pytest.approx(0.1)
    assert voltage_from_name("LZNC_pol_150mV.txt") == pytest.approx(0.15)
    assert voltage_from_name("run7.csv") is None


def test_read_files_units_and_voltage(tmp_path):
    sigma = 8.11e-9
    for k, v in enumerate(VOLTS):
        t, i = simulate_decay(v, sigma, thickness_cm=L_CM, area_cm2=AREA, seed=k)
        # one file with a voltage column in mV and current in nA, others from the name
        if k == 0:
            pd.DataFrame({"time/s": t, "Ewe/mV": v * 1e3 + 0 * t, "I/nA": i * 1e9}).to_csv(
                tmp_path / "run_a.csv", index=False
            )
        else:
            pd.DataFrame({"Time (h)": t / 3600, "Current (uA)": i * 1e6}).to_csv(
                tmp_path / f"dc_{v}V.txt", sep="\t", index=False
            )
    pts = [read_polarization(tmp_path / "run_a.csv")] + [
        read_polarization(tmp_path / f"dc_{v}V.txt") for v in VOLTS[1:]
    ]
    assert [p.voltage_V for p in pts] == pytest.approx(list(VOLTS))
    res = electronic_conductivity(pts, thickness_cm=L_CM, area_cm2=AREA)
    assert res.sigma_e_S_cm == pytest.approx(sigma, rel=0.02)
    (tmp_path / "novolt.csv").write_text("time/s,I/nA\n" + "\n".join(f"{k},{1}" for k in range(20)))
    with pytest.raises(DataFormatError, match="voltage"):
        read_polarization(tmp_path / "novolt.csv")
    assert np.isfinite(res.sigma_e_err_S_cm)
