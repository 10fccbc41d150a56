"""Generic unit-aware table reader: headers in any common unit, .mpt, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from halidelab.errors import DataFormatError
from halidelab.lab import tables


@pytest.mark.parametrize(
    "header, dim, factor",
    [
        ("I/mA", "current", 1e-3),
        ("Current (A)", "current", 1.0),
        ("Capacity(Ah)", "charge", 1.0),
        ("time/s", "time", 1.0),
        ("Run Time (h)", "time", 3600.0),
        ("t [min]", "time", 60.0),
        ("Q charge/mA.h", "charge", 1e-3),
        ("freq/Hz", "frequency", 1.0),
        ("f (kHz)", "frequency", 1e3),
        ("f (mHz)", "frequency", 1e-3),
        ("f (MHz)", "frequency", 1e6),
        ("Z' (kohm)", "resistance", 1e3),
        ("Re(Z)/Ohm", "resistance", 1.0),
        ("Ewe/mV", "voltage", 1e-3),
        ("current [uA]", "current", 1e-6),
        ("Capacity (mAh)", "charge", 1e-3),
        ("time_s", "time", 1.0),
        ("current_mA", "current", 1e-3),
    ],
)
def test_header_units(header, dim, factor):
    _, _, found = tables.parse_header(header)
    assert found == (dim, pytest.approx(factor))


@pytest.mark.parametrize(
    "header",
    ["dI/dt/mA/s", "control/V/mA", "Temperature (°C)", "Step_Index", "cycle number", "Test_Time"],
)
def test_headers_not_misread(header):
    assert tables.parse_header(header)[2] is None


def test_same_quantity_in_different_units_gives_same_values(tmp_path):
    t = np.linspace(0, 3600, 7)
    i = np.linspace(1e-3, 2e-3, 7)
    pd.DataFrame({"time/s": t, "I/mA": i * 1e3}).to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame({"Time (h)": t / 3600, "Current (uA)": i * 1e6}).to_csv(
        tmp_path / "b.txt", sep="\t", index=False
    )
    pd.DataFrame({"t [min]": t / 60, "Current (A)": i}).to_csv(
        tmp_path / "c.csv", sep=";", index=False
    )
    for name in ("a.csv", "b.txt", "c.csv"):
        df = tables.read_table(tmp_path / name)
        assert np.allclose(tables.pick(df, "time"), t, rtol=1e-12)
        assert np.allclose(tables.pick(df, "current"), i, rtol=1e-12)


def test_decimal_comma(tmp_path):
    (tmp_path / "eu.txt").write_text("time/s;Ewe/V;I/mA\n0,0;3,100;0,50\n1,5;3,200;0,25\n")
    df = tables.read_table(tmp_path / "eu.txt")
    assert tables.pick(df, "voltage").tolist() == [3.1, 3.2]
    assert tables.pick(df, "current").tolist() == [5e-4, 2.5e-4]


def test_biologic_mpt_text(shared_data):
    """EC-Lab .mpt export (the EIS sample in shared data): header skipped, units converted."""
    df = tables.read_table(shared_data / "eis" / "exampleDataBioLogic.mpt")
    f = tables.pick(df, "frequency")
    assert len(df) == 43 and f.iloc[0] == pytest.approx(1000.3201) and f.min() < 0.02
    assert f.is_monotonic_decreasing  # a real sweep from 1 kHz down over five decades
    assert tables.pick(df, "resistance", prefer=("re(z)",)).gt(0).all()


def test_mpl_settings_file_rejected(shared_data):
    with pytest.raises(DataFormatError, match="settings log"):
        tables.read_table(shared_data / "cycling" / "test_loopsnewoutput_MB_CE1_short10k.mpl")


def test_empty_and_header_only(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "head.csv").write_text("time/s,I/mA\n")
    with pytest.raises(DataFormatError, match="empty"):
        tables.read_table(tmp_path / "empty.csv")
    with pytest.raises(DataFormatError, match="no data rows"):
        tables.read_table(tmp_path / "head.csv")


def test_missing_column_message(tmp_path):
    (tmp_path / "x.csv").write_text("time/s,Ewe/V\n0,3\n1,3.1\n")
    df = tables.read_table(tmp_path / "x.csv")
    with pytest.raises(DataFormatError, match="no current column"):
        tables.pick(df, "current")


def test_mpr_not_readable_gives_clear_error(tmp_path):
    """No real .mpr exists in the shared data; galvani's failure on a non-.mpr becomes a
    DataFormatError (the .mpr success path is not tested here)."""
    (tmp_path / "fake.mpr").write_bytes(b"not a biologic file" * 10)
    with pytest.raises(DataFormatError, match="galvani"):
        tables.read_table(tmp_path / "fake.mpr")
