"""Impedance readers: every real file in shared/data/eis, bad files, plain tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from halidelab.errors import DataFormatError
from halidelab.lab.eis_io import (
    EISDataWarning,
    ImpedanceSpectrum,
    read_spectrum,
    temperature_from_name,
)

# every spectrum file in shared/data/eis and the reader it needs
READABLE = {
    "Circuit1_EIS_1.z": "zplot",
    "Circuit1_EIS_2.z": "zplot",
    "Circuit2_EIS_1.z": "zplot",
    "Circuit2_EIS_2.z": "zplot",
    "Circuit3_EIS_1.z": "zplot",
    "Circuit3_EIS_2.z": "zplot",
    "exampleData.csv": "table",
    "exampleDataAutolab.txt": "autolab",
    "exampleDataBioLogic.mpt": "biologic",
    "exampleDataCHInstruments.txt": "chinstruments",
    "exampleDataGamry.DTA": "gamry",
    "exampleDataGamryABORT.DTA": "gamry",
    "exampleDataParstat.txt": "parstat",
    "exampleDataPowersuite.txt": "powersuite",
    "exampleDataVersaStudio.par": "versastudio",
    "exampleDataZPlot.z": "zplot",
    "exampleDataZPlot_noComments.z": "zplot",
}


def test_every_file_in_the_folder_is_covered(shared_data):
    files = {p.name for p in (shared_data / "eis").iterdir() if p.name != "LICENSE"}
    assert files == set(READABLE) | {"exampleDataBioLogic_MissingFreq.mpt"}


@pytest.mark.parametrize("name", sorted(READABLE))
def test_real_file_reads(shared_data, name):
    with (
        pytest.warns(EISDataWarning)
        if name in ("exampleDataGamryABORT.DTA", "exampleDataZPlot.z")
        else _no_warning()
    ):
        spec = read_spectrum(shared_data / "eis" / name)
    assert spec.instrument == READABLE[name]
    assert spec.n_points >= 20
    f = spec.f
    assert np.all(f > 0) and np.all(np.diff(f) < 0)  # sorted, decreasing
    assert np.all(np.isfinite(spec.z))
    # the low-frequency half of every one of these cells is capacitive (Z'' < 0; at high
    # frequency some are inductive): the sign convention must have come through
    assert np.mean(spec.z.imag[spec.n_points // 2 :] < 0) > 0.5
    assert spec.temperature_K is None  # no temperature in these names or headers


class _no_warning:
    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("error", EISDataWarning)

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


def test_biologic_modulus_and_phase_columns_agree(shared_data):
    """Independent check: EC-Lab also writes |Z| and Phase(Z); they must match our Z."""
    path = shared_data / "eis" / "exampleDataBioLogic.mpt"
    spec = read_spectrum(path)
    raw = pd.read_csv(path, sep="\t", skiprows=60, encoding="latin-1")
    raw = raw.sort_values("freq/Hz", ascending=False)
    assert np.allclose(np.abs(spec.z), raw["|Z|/Ohm"], rtol=1e-5)
    assert np.allclose(np.degrees(np.angle(spec.z)), raw["Phase(Z)/deg"], atol=1e-4)


def test_gamry_modulus_and_phase_columns_agree(shared_data):
    path = shared_data / "eis" / "exampleDataGamry.DTA"
    spec = read_spectrum(path)
    lines = path.read_text(encoding="latin-1").splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("ZCURVE"))
    rows = [ln.split("\t") for ln in lines[start + 3 :] if ln.startswith("\t")]
    zmod = np.array([float(r[7]) for r in rows])
    zphz = np.array([float(r[8]) for r in rows])
    assert np.allclose(np.sort(np.abs(spec.z)), np.sort(zmod), rtol=1e-5)
    assert np.allclose(np.sort(np.degrees(np.angle(spec.z))), np.sort(zphz), atol=1e-3)


def test_chinstruments_modulus_and_phase_columns_agree(shared_data):
    path = shared_data / "eis" / "exampleDataCHInstruments.txt"
    spec = read_spectrum(path)
    raw = pd.read_csv(path, skiprows=17, header=None, names=["f", "re", "im", "mod", "ph"])
    raw = raw.sort_values("f", ascending=False)
    assert np.allclose(np.abs(spec.z), raw["mod"], rtol=2e-3)
    assert np.allclose(np.degrees(np.angle(spec.z)), raw["ph"], atol=0.06)


def test_aborted_gamry_is_read_with_a_warning(shared_data):
    with pytest.warns(EISDataWarning, match="aborted"):
        spec = read_spectrum(shared_data / "eis" / "exampleDataGamryABORT.DTA")
    assert any("aborted" in w for w in spec.warnings)
    assert any("planned to reach 0.001 Hz" in w for w in spec.warnings)
    # what was measured before the abort is kept: down to ~0.016 Hz
    assert spec.f.min() == pytest.approx(0.0158898)


def test_biologic_missing_frequency_column(shared_data):
    with pytest.raises(DataFormatError, match="'freq/Hz' missing"):
        read_spectrum(shared_data / "eis" / "exampleDataBioLogic_MissingFreq.mpt")


@pytest.mark.parametrize(
    "name",
    [
        "exampleDataGamry.DTA",
        "exampleDataBioLogic.mpt",
        "Circuit1_EIS_1.z",
        "exampleDataCHInstruments.txt",
        "exampleData.csv",
    ],
)
def test_truncated_copy_is_rejected(shared_data, tmp_path, name):
    text = (shared_data / "eis" / name).read_bytes().decode("latin-1").rstrip("\r\n")
    last = text.rfind("\n")
    # cut the last row in the middle of a field, as a full disk or a killed export would
    cut = text[: last + 1 + len(text[last + 1 :]) // 3]
    out = tmp_path / name
    out.write_text(cut, encoding="latin-1")
    with pytest.raises(DataFormatError, match="truncated"):
        read_spectrum(out)


def test_empty_and_header_only(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataFormatError, match="empty"):
        read_spectrum(empty)
    head = tmp_path / "head.csv"
    head.write_text("freq/Hz,Z'/ohm,-Z''/ohm\n")
    with pytest.raises(DataFormatError, match="no numeric data rows|no data"):
        read_spectrum(head)
    with pytest.raises(DataFormatError, match="no such file"):
        read_spectrum(tmp_path / "missing.mpt")


def _reference_table():
    f = np.logspace(6, 0, 25)
    z = 105 / (1 + 1j * 2 * np.pi * f * 105 * 1e-9) + 1 / (4e-6 * (1j * 2 * np.pi * f) ** 0.9)
    return f, z


@pytest.mark.parametrize(
    ("header", "ff", "fz", "neg", "sep"),
    [
        ("freq/Hz,Z'/ohm,-Z''/ohm", 1.0, 1.0, True, ","),
        ("Frequency (kHz)\tRe(Z) (kOhm)\tIm(Z) (kOhm)", 1e-3, 1e-3, False, "\t"),
        ("f [MHz];Zreal [Ohm];-Zimag [Ohm]", 1e-6, 1.0, True, ";"),
        ("freq (Hz),Z' (Ω),Z'' (Ω)", 1.0, 1.0, False, ","),
    ],
)
def test_plain_tables_with_units(tmp_path, header, ff, fz, neg, sep):
    f, z = _reference_table()
    im = -z.imag if neg else z.imag
    rows = [
        sep.join(f"{v:.10g}" for v in (a * ff, b.real * fz, c * fz))
        for a, b, c in zip(f, z, im, strict=True)
    ]
    path = tmp_path / "t.txt"
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    spec = read_spectrum(path)
    assert np.allclose(spec.f, f, rtol=1e-8)
    assert np.allclose(spec.z, z, rtol=1e-8)


def test_table_sign_auto_and_forced(tmp_path):
    f, z = _reference_table()
    path = tmp_path / "nosign.csv"  # header says Z'' but the numbers are -Z''
    path.write_text(
        "freq,Zre,Zim\n" + "\n".join(f"{a},{b.real},{-b.imag}" for a, b in zip(f, z, strict=True))
    )
    with pytest.warns(EISDataWarning, match="mostly positive"):
        spec = read_spectrum(path)
    assert np.allclose(spec.z, z)
    forced = read_spectrum(path, imag_sign="Im")
    assert np.allclose(forced.z, np.conj(z))


def test_table_without_impedance_columns(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("time/s,current/mA,voltage/V\n1,2,3\n2,3,4\n3,4,5\n")
    with pytest.raises(DataFormatError, match="no frequency"):
        read_spectrum(path)


def test_negative_frequency_and_too_few_points():
    with pytest.raises(DataFormatError, match="positive"):
        ImpedanceSpectrum.from_arrays([1, 0, -1], [1, 2, 3])
    with pytest.raises(DataFormatError, match="at least 3"):
        ImpedanceSpectrum.from_arrays([1, 2], [1, 2])


@pytest.mark.parametrize(
    ("name", "kelvin"),
    [
        ("pellet_25C.DTA", 298.15),
        ("LZNC_60degC.mpt", 333.15),
        ("cell_298K.z", 298.0),
        ("LZNC_-20C.csv", 253.15),
        ("Li1.8Zr0.8Nb0.2Cl6_100C.mpt", 373.15),
        ("pellet 37.5 °C.txt", 310.65),
        ("Circuit1_EIS_1.z", None),
        ("LZNC_x0.2.mpt", None),
    ],
)
def test_temperature_from_name(name, kelvin):
    got = temperature_from_name(name)
    assert got == (None if kelvin is None else pytest.approx(kelvin))


def test_temperature_ambiguous_name():
    with pytest.raises(DataFormatError, match="several temperatures"):
        temperature_from_name("pellet_25C_then_60C.mpt")


def test_temperature_from_metadata_and_name(tmp_path):
    f, z = _reference_table()
    body = "\n".join(f"{a},{b.real},{b.imag}" for a, b in zip(f, z, strict=True))
    meta = tmp_path / "run7.csv"
    meta.write_text("# Temperature: 60 C\nfreq/Hz,Z'/ohm,Z''/ohm\n" + body)
    # comment lines are skipped by the table reader but read for metadata
    assert read_spectrum(meta).temperature_K == pytest.approx(333.15)
    named = tmp_path / "pellet_80C.csv"
    named.write_text("freq/Hz,Z'/ohm,Z''/ohm\n" + body)
    assert read_spectrum(named).temperature_K == pytest.approx(353.15)


def test_record_round_trip(shared_data):
    spec = read_spectrum(shared_data / "eis" / "exampleDataBioLogic.mpt")
    again = ImpedanceSpectrum.from_dict(spec.to_dict())
    assert again.frequency_Hz == spec.frequency_Hz and np.allclose(again.z, spec.z)
