"""Cycler readers: every file in shared/data/cycling read (or refused with a reason)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from halidelab.errors import DataFormatError
from halidelab.lab.cyclers import SCHEMA, read_cycler

CYC = "cycling"


def _integrated_charge_Ah(d: pd.DataFrame) -> float:
    return float(np.trapezoid(d.current_A.clip(lower=0), d.time_s) / 3600)


def _check_schema(run):
    d = run.data
    assert tuple(d.columns) == SCHEMA
    assert d.time_s.is_monotonic_increasing and d.time_s.iloc[0] == 0
    assert (d.charge_capacity_Ah >= 0).all() and (d.discharge_capacity_Ah >= 0).all()


def test_arbin_fastcharge_rest_only(shared_data):
    run = read_cycler(shared_data / CYC / "FastCharge_000025_CH8.csv")
    _check_schema(run)
    d = run.data
    assert run.instrument == "arbin" and len(d) == 248
    # a 30-minute open-circuit rest of a LFP/graphite cell at ~3.30 V, cycle 0, no current
    assert d.time_s.iloc[-1] == pytest.approx(1800.0104 - 10.0024)
    assert (d.current_A == 0).all() and d.voltage_V.between(3.30, 3.302).all()
    assert run.cycles == [0]


def test_arbin_tc_contact_charge_without_cycle_index(shared_data):
    run = read_cycler(shared_data / CYC / "2017-05-09_test-TC-contact_CH33.csv")
    _check_schema(run)
    d = run.data
    assert run.instrument == "arbin" and len(d) == 287
    assert d.cycle.isna().all() and any("Cycle_Index" in n for n in run.notes)
    # a ~17 min charge (up to 6.6 A); the instrument's 0.608 Ah agrees with the integral
    q = d.charge_capacity_Ah.iloc[-1]
    assert q == pytest.approx(0.6083, abs=1e-4)
    assert q == pytest.approx(_integrated_charge_Ah(d), rel=0.02)
    assert d.discharge_capacity_Ah.max() < 1e-6


def test_maccor_eis_test_file(shared_data):
    run = read_cycler(shared_data / CYC / "maccor_test_file_4267-66-6519.041")
    _check_schema(run)
    d = run.data
    assert run.instrument == "maccor" and len(d) == 74
    assert run.metadata["procedure"].startswith("EIS")
    # 10 s rest then impedance (FRA) rows at ~3.91 V; no charge or discharge
    assert d.time_s.iloc[-1] == 10.0 and d.voltage_V.between(3.90, 3.92).all()
    assert (d.current_A == 0).all() and d.charge_capacity_Ah.max() == 0
    assert any("FRA" in n for n in run.notes)
    assert list(d.step.unique()) == [1, 2, 3]


def test_maccor_procedure_file_refused(shared_data):
    with pytest.raises(DataFormatError, match="procedure"):
        read_cycler(shared_data / CYC / "EXP.000")


def test_novonix_formation(shared_data):
    run = read_cycler(shared_data / CYC / "test_Nova_Form-CH01-01_short.csv")
    _check_schema(run)
    d = run.data
    assert run.instrument == "novonix" and len(d) == 3942
    assert run.metadata["Capacity (Ah)"] == "0.24"
    assert d.time_s.iloc[-1] == pytest.approx(17.4345750 * 3600)
    # formation: CC-CV to 1.5 V then CC charge at 12 mA to 3.43 V; charge only
    assert d.current_A.min() >= 0 and d.voltage_V.max() == pytest.approx(3.4274, abs=1e-4)
    q = d.charge_capacity_Ah.iloc[-1]
    assert q == pytest.approx(0.0294679161, rel=1e-9)  # the file's last Capacity (Ah)
    assert q == pytest.approx(_integrated_charge_Ah(d), rel=0.01)


def test_biologic_modulo_bat(shared_data):
    run = read_cycler(shared_data / CYC / "test_loopsnewoutput_MB_CE1_short10k.csv")
    _check_schema(run)
    d = run.data
    assert run.instrument == "biologic" and len(d) == 9999
    assert run.cycles == [0, 1, 2]
    assert any("absolute dates" in n for n in run.notes)
    assert 28 < d.time_s.iloc[-1] / 3600 < 29
    assert d.voltage_V.min() == pytest.approx(3.0, abs=1e-3) and d.voltage_V.max() < 4.3
    # commercial cell: ~2.33 Ah discharges in cycles 0 and 1 (EC-Lab Q discharge, mA.h -> Ah)
    dis = d.groupby("cycle").discharge_capacity_Ah.max()
    assert dis[0] == pytest.approx(2.3246, abs=1e-3) and dis[1] == pytest.approx(2.3266, abs=1e-3)
    tot = d.groupby("cycle").charge_capacity_Ah.max().sum()
    assert tot == pytest.approx(_integrated_charge_Ah(d), rel=0.01)
    assert run.metadata["Run on channel"].startswith("E1")


def test_biologic_settings_log_refused(shared_data):
    with pytest.raises(DataFormatError, match="settings log"):
        read_cycler(shared_data / CYC / "test_loopsnewoutput_MB_CE1_short10k.mpl")


def test_every_shared_cycling_file_is_covered(shared_data):
    covered = {
        "FastCharge_000025_CH8.csv",
        "2017-05-09_test-TC-contact_CH33.csv",
        "maccor_test_file_4267-66-6519.041",
        "EXP.000",
        "test_Nova_Form-CH01-01_short.csv",
        "test_loopsnewoutput_MB_CE1_short10k.csv",
        "test_loopsnewoutput_MB_CE1_short10k.mpl",
        "LICENSE",
    }
    assert {p.name for p in (shared_data / CYC).iterdir()} <= covered


def test_truncated_arbin_refused_then_allowed(shared_data, tmp_path):
    text = (shared_data / CYC / "2017-05-09_test-TC-contact_CH33.csv").read_text()
    cut = text[: text.rfind("\n", 0, len(text) - 1) + 30]  # last row cut after 30 characters
    (tmp_path / "cut.csv").write_text(cut)
    with pytest.raises(DataFormatError, match="incomplete"):
        read_cycler(tmp_path / "cut.csv")
    run = read_cycler(tmp_path / "cut.csv", allow_truncated=True)
    assert len(run.data) == 286


def test_empty_and_missing_columns(tmp_path):
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(DataFormatError, match="empty"):
        read_cycler(tmp_path / "e.csv")
    (tmp_path / "nov.csv").write_text("time/s,Ewe/V\n0,3.0\n1,3.1\n")
    with pytest.raises(DataFormatError, match="current"):
        read_cycler(tmp_path / "nov.csv")
    (tmp_path / "arb.csv").write_text("Data_Point,Test_Time,Voltage\n0,0,3.0\n1,1,3.1\n")
    with pytest.raises(DataFormatError, match="Current"):
        read_cycler(tmp_path / "arb.csv")


def test_time_backwards_refused(tmp_path):
    (tmp_path / "b.csv").write_text("time/s,Ecell/V,I/mA\n0,3.0,1\n10,3.1,1\n5,3.2,1\n")
    with pytest.raises(DataFormatError, match="backwards"):
        read_cycler(tmp_path / "b.csv")


def test_generic_table_integrates_current(tmp_path):
    """No capacity column: 2 mA for 1 h charge then 1 mA for 1.5 h discharge."""
    t = np.concatenate([np.linspace(0, 3600, 61), 3600 + np.linspace(1, 5400, 91)])
    i = np.where(t <= 3600, 2.0, -1.0)
    pd.DataFrame({"Time (min)": t / 60, "Voltage (V)": 3.5 + 0 * t, "Current (mA)": i}).to_csv(
        tmp_path / "g.csv", index=False
    )
    run = read_cycler(tmp_path / "g.csv")
    assert run.instrument == "table"
    d = run.data
    assert d.charge_capacity_Ah.max() == pytest.approx(2e-3, rel=1e-9)
    # the discharge starts at the first negative row (1 s after the charge, trapezoid)
    assert d.discharge_capacity_Ah.max() == pytest.approx(1.5e-3, rel=1e-9)
