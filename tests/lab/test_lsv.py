"""LSV onset: synthetic exponential rise from 4.02 V on a linear background."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq

from halidelab.errors import FitError
from halidelab.lab.lsv import oxidation_onset, plot_lsv, read_lsv

E_ON = 4.02  # LZNC onset, Chen et al. 2025
B_V = 0.03  # Tafel-like scale of the rise, V
J0 = 0.01  # mA/cm2 prefactor of the rise
J_LIM = 0.5  # mA/cm2 limiting current (the composite cannot pass more)
THR = 0.01  # mA/cm2


def model(e):
    """Background 2 uA/cm2/V + 0.5 uA/cm2, and a Butler-Volmer anodic branch from E_ON
    with a limiting current: j_f = j_k / (1 + j_k / j_lim), j_k = J0 (exp((E-E_ON)/b) - 1)."""
    e = np.asarray(e, dtype=float)
    jk = np.where(e > E_ON, J0 * np.expm1((np.clip(e, E_ON, None) - E_ON) / B_V), 0.0)
    return 2e-3 * (e - 2.8) + 5e-4 + jk / (1 + jk / J_LIM)


E = np.arange(2.8, 5.0, 0.001)


def test_threshold_is_where_model_crosses():
    res = oxidation_onset(E, model(E), threshold=THR, current_unit="mA/cm2")
    exact = brentq(lambda x: float(model(x)) - THR, 3.0, 4.5)
    # linear interpolation on a 1 mV grid
    assert res.onset_threshold_V == pytest.approx(exact, abs=1e-4)
    assert abs(res.onset_threshold_V - E_ON) < 0.05


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_both_onsets_near_construction_with_noise(seed):
    rng = np.random.default_rng(seed)
    j = model(E) + rng.normal(0, 2e-4, E.size)
    res = oxidation_onset(E, j, threshold=THR, current_unit="mA/cm2")
    assert abs(res.onset_tangent_V - E_ON) < 0.05
    assert abs(res.onset_threshold_V - E_ON) < 0.05
    assert res.baseline_window_V[1] < E_ON < res.rise_window_V[1]
    assert res.baseline_slope == pytest.approx(2e-3, abs=1e-3)


def test_area_normalisation_and_return_sweep():
    area = np.pi * 0.5**2
    e = np.concatenate([E, E[::-1]])  # a return sweep is ignored
    i_mA = np.concatenate([model(E), model(E[::-1]) * 0.5]) * area
    res = oxidation_onset(e, i_mA, threshold=THR, area_cm2=area)
    ref = oxidation_onset(E, model(E), threshold=THR, current_unit="mA/cm2")
    assert res.current_unit == "mA/cm2" and res.scan_end_V == pytest.approx(E[-1])
    assert res.onset_threshold_V == pytest.approx(ref.onset_threshold_V, abs=1e-9)
    assert res.onset_tangent_V == pytest.approx(ref.onset_tangent_V, abs=1e-9)


def test_later_onset_moves_both():
    shifted = oxidation_onset(E, model(E - 0.3), threshold=THR, current_unit="mA/cm2")
    base = oxidation_onset(E, model(E), threshold=THR, current_unit="mA/cm2")
    assert shifted.onset_threshold_V - base.onset_threshold_V == pytest.approx(0.3, abs=0.01)
    assert shifted.onset_tangent_V - base.onset_tangent_V == pytest.approx(0.3, abs=0.01)


def test_threshold_never_reached():
    with pytest.raises(FitError, match="never stays above"):
        oxidation_onset(E, model(E), threshold=10.0, current_unit="mA/cm2")


def test_read_mpt_like_file_and_figure(tmp_path):
    area = 0.785
    df = pd.DataFrame({"Ewe/V": E, "<I>/uA": model(E) * area * 1e3})
    path = tmp_path / "lsv.txt"
    df.to_csv(path, sep="\t", index=False)
    e, i, unit = read_lsv(path)
    assert unit == "mA" and np.allclose(i, model(E) * area)
    res = oxidation_onset(e, i, threshold=THR, area_cm2=area)
    assert abs(res.onset_threshold_V - E_ON) < 0.05
    out = Path("/tmp/figs/lsv_synthetic.png")
    plot_lsv(e, i, res, out)
    assert out.stat().st_size > 10_000
