"""Cycling analysis: exact capacities, convention, rate table, retention, real file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from halidelab.errors import FitError
from halidelab.lab.cyclers import read_cycler
from halidelab.lab.cycling import (
    analyse_cycling,
    plot_capacity_ce,
    plot_voltage_curves,
    simulate_cycling,
    split_half_cycles,
    voltage_curves,
)

MASS_G = 8.2e-3
ONE_C = 140.0
FIGS = Path("/tmp/figs")
# LZNC cell of Chen et al. 2025: first discharge 127.4 mAh/g with ICE 95.19%
LZNC_FIRST = (0.2, 127.4 / 0.9519, 127.4)


def _rate_protocol():
    """0.2/0.4/0.6/0.8/1C then back to 0.2C, 5 cycles each, CE 99.9% after cycle 1."""
    caps = [
        (0.2, 126.0),
        (0.4, 122.1),
        (0.6, 113.9),
        (0.8, 107.1),
        (1.0, 100.0),
        (0.2, 0.92 * 126.0),
    ]
    proto = [LZNC_FIRST] + [(0.2, 126.0 / 0.999, 126.0)] * 4
    for rate, q in caps[1:]:
        proto += [(rate, q / 0.999, q)] * 5
    return proto


def test_known_capacity_exact():
    proto = [LZNC_FIRST, (0.2, 126.3, 126.1), (0.2, 125.9, 125.8)]
    df = simulate_cycling(proto, active_mass_g=MASS_G, c_rate_capacity_mAh_g=ONE_C)
    res = analyse_cycling(df, active_mass_g=MASS_G, c_rate_capacity_mAh_g=ONE_C)
    assert res.n_cycles == 3 and res.convention == "cathode"
    for rec, (_, q_ch, q_dis) in zip(res.cycles, proto, strict=True):
        assert rec.charge_mAh_g == pytest.approx(q_ch, rel=1e-12)
        assert rec.discharge_mAh_g == pytest.approx(q_dis, rel=1e-12)
        assert rec.capacity_mAh_g == rec.discharge_mAh_g
        assert rec.c_rate_discharge == pytest.approx(0.2, rel=1e-12)
    assert res.first_discharge_mAh_g == pytest.approx(127.4, rel=1e-12)
    assert res.initial_ce_pct == pytest.approx(95.19, rel=1e-12)


def test_csv_round_trip_through_reader(tmp_path):
    proto = [LZNC_FIRST, (0.5, 120.0, 119.5)]
    df = simulate_cycling(proto, active_mass_g=MASS_G, c_rate_capacity_mAh_g=ONE_C)
    df.to_csv(tmp_path / "cell.csv", index=False)
    run = read_cycler(tmp_path / "cell.csv")
    res = analyse_cycling(run.data, active_mass_g=MASS_G, c_rate_capacity_mAh_g=ONE_C)
    assert [c.discharge_mAh_g for c in res.cycles] == pytest.approx([127.4, 119.5], rel=1e-12)
    assert res.cycles[1].c_rate_charge == pytest.approx(0.5, rel=1e-12)


def test_rest_noise_and_pulses_do_not_split_cycles():
    proto = [LZNC_FIRST, (0.2, 126.0, 125.8)]
    df = simulate_cycling(proto, active_mass_g=MASS_G, c_rate_capacity_mAh_g=ONE_C)
    rest = df.current_A == 0
    rng = np.random.default_rng(3)
    df.loc[rest, "current_A"] = rng.normal(0, 1e-4 * df.current_A.abs().max(), rest.sum())
    halves = split_half_cycles(df)
    assert list(halves.direction) == [1, -1, 1, -1]


def test_rate_table_and_recovery():
    proto = _rate_protocol()
    df = simulate_cycling(proto, active_mass_g=MASS_G, c_rate_capacity_mAh_g=ONE_C)
    res = analyse_cycling(df, active_mass_g=MASS_G, c_rate_capacity_mAh_g=ONE_C)
    steps = res.rate_table
    assert [s.c_rate for s in steps] == [0.2, 0.4, 0.6, 0.8, 1.0, 0.2]
    assert [s.n_cycles for s in steps] == [5] * 6
    expect = [np.mean([p[2] for p in proto[k * 5 : (k + 1) * 5]]) for k in range(6)]
    assert [s.capacity_mAh_g for s in steps] == pytest.approx(expect, rel=1e-12)
    assert [s.last_capacity_mAh_g for s in steps[1:5]] == pytest.approx(
        [122.1, 113.9, 107.1, 100.0]
    )
    assert res.recovery_pct == pytest.approx(100 * expect[5] / expect[0], rel=1e-12)
    assert steps[2].ce_pct == pytest.approx(99.9, rel=1e-12)


def test_c_rate_scales_with_active_mass():
    df = simulate_cycling([(0.5, 120, 119)] * 2, active_mass_g=MASS_G, c_rate_capacity_mAh_g=ONE_C)
    res = analyse_cycling(df, active_mass_g=2 * MASS_G, c_rate_capacity_mAh_g=ONE_C)
    assert res.cycles[0].c_rate_discharge == pytest.approx(0.25, rel=1e-12)
    assert res.cycles[0].discharge_mAh_g == pytest.approx(119 / 2, rel=1e-12)


def test_retention_of_linear_fade():
    """LZNC: 91.4% of the first discharge left after 100 cycles."""
    q = 127.4 * (1 - 0.086 * np.arange(100) / 99)
    proto = [(0.2, qi / 0.999, qi) for qi in q]
    df = simulate_cycling(
        proto, active_mass_g=MASS_G, c_rate_capacity_mAh_g=ONE_C, points_per_half=8
    )
    res = analyse_cycling(df, active_mass_g=MASS_G, c_rate_capacity_mAh_g=ONE_C)
    assert res.n_cycles == 100 and res.retention_cycle == 100
    assert res.retention_pct == pytest.approx(91.4, rel=1e-10)
    res50 = analyse_cycling(
        df, active_mass_g=MASS_G, retention_cycle=50, retention_reference_cycle=2
    )
    assert res50.retention_pct == pytest.approx(100 * q[49] / q[1], rel=1e-10)
    with pytest.raises(FitError, match="retention"):
        analyse_cycling(df, active_mass_g=MASS_G, retention_cycle=101)


def _as_anode_half_cell(df: pd.DataFrame) -> pd.DataFrame:
    """Mirror a cathode run: lithiation (I < 0) first, as graphite vs Li."""
    out = df.copy()
    out["current_A"] = -df.current_A
    out["charge_capacity_Ah"] = df.discharge_capacity_Ah
    out["discharge_capacity_Ah"] = df.charge_capacity_Ah
    return out


def test_anode_convention_is_explicit():
    proto = [(0.1, 350.0, 320.0), (0.1, 322.0, 320.5)]  # lithiation, delithiation (mAh/g)
    df = _as_anode_half_cell(
        simulate_cycling(proto, active_mass_g=MASS_G, c_rate_capacity_mAh_g=372)
    )
    res = analyse_cycling(df, active_mass_g=MASS_G, convention="anode")
    assert res.initial_ce_pct == pytest.approx(100 * 320 / 350, rel=1e-12)
    assert res.cycles[0].capacity_mAh_g == pytest.approx(320.0, rel=1e-12)
    assert res.cycles[0].charge_mAh_g == pytest.approx(320.0, rel=1e-12)  # cycler charge
    assert "anode" in res.convention_text
    # the cathode default on the same file pairs differently, and says so
    wrong = analyse_cycling(df, active_mass_g=MASS_G)
    assert any("left out" in n for n in wrong.notes)
    assert wrong.initial_ce_pct != pytest.approx(res.initial_ce_pct)


def test_rest_only_file_refused(shared_data):
    run = read_cycler(shared_data / "cycling" / "FastCharge_000025_CH8.csv")
    with pytest.raises(FitError, match="no charge or discharge"):
        analyse_cycling(run.data)


def test_real_biologic_cycles(shared_data):
    run = read_cycler(shared_data / "cycling" / "test_loopsnewoutput_MB_CE1_short10k.csv")
    res = analyse_cycling(run.data, source="MB")
    assert res.n_cycles == 2 and len(res.cycles) == 3  # the third has only its charge
    c1, c2 = res.cycles[:2]
    # the cell started part-charged: first charge 1.46 Ah < discharge 2.32 Ah (CE > 100%)
    assert c1.charge_Ah == pytest.approx(1.4619, abs=1e-3) and c1.ce_pct > 150
    assert any("> 100%" in n for n in res.notes)
    assert c2.charge_Ah == pytest.approx(2.3713, abs=1e-3)
    assert c2.discharge_Ah == pytest.approx(2.3266, abs=1e-3)
    assert 97 < c2.ce_pct < 99.5
    assert c2.discharge_current_A == pytest.approx(0.3572, rel=0.01)  # the 357.2 mA of the .mpl


def test_figures_written():
    FIGS.mkdir(parents=True, exist_ok=True)
    df = simulate_cycling(_rate_protocol(), active_mass_g=MASS_G, c_rate_capacity_mAh_g=ONE_C)
    res = analyse_cycling(df, active_mass_g=MASS_G, c_rate_capacity_mAh_g=ONE_C)
    curves = voltage_curves(df, [1, 6, 21, 26], active_mass_g=MASS_G)
    assert {c.capacity_unit for c in curves} == {"mAh/g"}
    assert max(
        c.capacity.max() for c in curves if c.cycle == 1 and c.process == "discharge"
    ) == pytest.approx(127.4, rel=1e-12)
    plot_voltage_curves(curves, FIGS / "cycling_lznc_voltage.png", title="synthetic LZNC rate test")
    plot_capacity_ce(res, FIGS / "cycling_lznc_capacity_ce.png", title="synthetic LZNC rate test")
    for name in ("cycling_lznc_voltage.png", "cycling_lznc_capacity_ce.png"):
        assert (FIGS / name).stat().st_size > 10_000
