"""Real instrument exports: EC-Lab .mpr and their .mpt twins, decimal commas, Novocontrol-style
text, header rows below a preamble, temperatures in file names (issue 15).

The EC-Lab files are real runs from the yadg/galvani test data (tests/data/eclab/LICENSE):
a PEIS, a GCPL written with a decimal-comma locale, a GCPL with a CxN technique and an
LSV, each as the binary file and its EC-Lab text export where both exist.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from halidelab.errors import DataFormatError
from halidelab.lab.cyclers import read_cycler
from halidelab.lab.cycling import analyse_cycling
from halidelab.lab.eis import fit_spectrum, simulate_spectrum
from halidelab.lab.eis_io import read_spectrum, temperature_from_name
from halidelab.lab.lsv import read_lsv

ECLAB = "eclab"


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def test_peis_mpr_and_mpt_twin_give_the_same_spectrum_and_fit(shared_data):
    mpr = _quiet(read_spectrum, shared_data / ECLAB / "peis.issue_149.mpr")
    mpt = _quiet(read_spectrum, shared_data / ECLAB / "peis.issue_149.mpt")
    assert mpr.n_points == mpt.n_points == 84  # 4 loops of 21 frequencies
    # the text export rounds to 8 significant digits
    np.testing.assert_allclose(mpr.f, mpt.f, rtol=1e-7)
    np.testing.assert_allclose(mpr.z, mpt.z, rtol=1e-6)
    assert mpr.f.max() == pytest.approx(2.0e5, rel=1e-3)
    assert mpr.f.min() == pytest.approx(100, rel=1e-3)
    a, b = _quiet(fit_spectrum, mpr), _quiet(fit_spectrum, mpt)
    assert a.circuit == b.circuit
    assert a.r_total_ohm == pytest.approx(b.r_total_ohm, rel=1e-6)
    assert a.r_bulk_ohm == pytest.approx(b.r_bulk_ohm, rel=1e-6)
    # a real cell (SP-300, 10 mV): ~100 ohm, a clean fit
    assert 50 < a.r_total_ohm < 200 and a.rms_relative < 0.05


def test_gcpl_mpr_and_decimal_comma_mpt_give_equal_capacities(shared_data):
    mpr = read_cycler(shared_data / ECLAB / "gcpl.issue_149.mpr")
    mpt = read_cycler(shared_data / ECLAB / "gcpl.issue_149.mpt")
    # the .mpt was written with decimal commas: '3,015299923827115E+001' s
    assert "3,015299923827115E+001" in (shared_data / ECLAB / "gcpl.issue_149.mpt").read_text(
        encoding="latin-1"
    )
    assert mpr.n_rows == mpt.n_rows == 132
    np.testing.assert_allclose(mpr.data.time_s, mpt.data.time_s, rtol=0, atol=1e-9)
    np.testing.assert_allclose(mpr.data.voltage_V, mpt.data.voltage_V, rtol=1e-6)
    ra, rb = analyse_cycling(mpr.data), analyse_cycling(mpt.data)
    qa = [(c.charge_Ah, c.discharge_Ah) for c in ra.cycles]
    qb = [(c.charge_Ah, c.discharge_Ah) for c in rb.cycles]
    assert len(qa) == len(qb) >= 4
    np.testing.assert_allclose(np.array(qa, float), np.array(qb, float), rtol=1e-6)
    # 30 uA for ~10 s per half cycle: ~8.3e-8 Ah
    assert qa[0][0] == pytest.approx(30e-6 * 10 / 3600, rel=0.02)


def test_gcpl_cxn_export_reads(shared_data):
    run = read_cycler(shared_data / ECLAB / "gcpl.issue_226.CxN.mpt")
    assert run.n_rows == 15 and run.data.time_s.is_monotonic_increasing
    assert run.data.charge_capacity_Ah.max() > 0


def test_lsv_mpr_and_mpt_twin(shared_data):
    e1, i1, _ = read_lsv(shared_data / ECLAB / "lsv.mpr")
    e2, i2, _ = read_lsv(shared_data / ECLAB / "lsv.mpt")
    assert e1.size == e2.size == 1186
    np.testing.assert_allclose(e1, e2, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(i1, i2, rtol=1e-6, atol=1e-12)


def test_mpr_with_a_column_galvani_does_not_know(shared_data):
    with pytest.raises(DataFormatError, match=r"galvani cannot read.*\.mpt"):
        read_spectrum(shared_data / ECLAB / "coc.issue_185.mpr")


def _novocontrol_text(f, z, decimal_comma=False) -> str:
    """The layout of a Novocontrol WinDETA text export: a title line, the fixed values,
    then tab-separated columns with units in brackets and Z'' as measured (negative)."""

    def num(v):
        s = f"{v:.6E}"
        return s.replace(".", ",") if decimal_comma else s

    rows = "\n".join(f"{num(a)}\t{num(b.real)}\t{num(b.imag)}" for a, b in zip(f, z, strict=True))
    return (
        "LZNC pellet 0.85 mm, Au electrodes\n"
        "Fixed value(s) : AC Volt [Vrms]=1.000E-01\n"
        "Freq.[Hz]\tZs'[ohm]\tZs''[ohm]\n" + rows + "\n"
    )


@pytest.mark.parametrize("decimal_comma", [False, True])
def test_novocontrol_style_export(tmp_path, decimal_comma):
    ref = simulate_spectrum("R0-p(R1,CPE1)-CPE2", [20.0, 100.0, 1e-9, 0.9, 1e-6, 0.85])
    path = tmp_path / f"LZNC_140deg{'_de' if decimal_comma else ''}.txt"
    path.write_text(_novocontrol_text(ref.f, ref.z, decimal_comma), encoding="utf-8")
    spec = _quiet(read_spectrum, path)
    assert spec.instrument == "novocontrol"
    assert spec.temperature_K == pytest.approx(413.15)
    np.testing.assert_allclose(spec.f, ref.f, rtol=1e-6)
    np.testing.assert_allclose(spec.z, ref.z, rtol=1e-5)


HEADERS = [
    ("freq/Hz", "Re(Z)/Ohm", "-Im(Z)/Ohm"),
    ("Frequency [kHz]", "Z' [kohm]", "-Z'' [kohm]"),
    ("f (Hz)", "Zreal (ohm)", "Zimag (ohm)"),
]


@pytest.mark.parametrize(
    ("sep", "fh", "rh", "ih"),
    [
        *[(sep, *h) for sep in ("\t", ";", ",") for h in HEADERS],
        ("  ", *HEADERS[0]),  # space-separated: header names without spaces
    ],
)
def test_header_below_a_preamble_any_separator(tmp_path, sep, fh, rh, ih):
    ref = simulate_spectrum("R0-p(R1,CPE1)-CPE2", [20.0, 100.0, 1e-9, 0.9, 1e-6, 0.85])
    kf = 1e3 if "kHz" in fh else 1.0
    kz = 1e3 if "kohm" in rh else 1.0
    neg = ih.startswith("-")
    decimal_comma = sep in ("\t", ";")

    def num(v):
        s = f"{v:.8E}"
        return s.replace(".", ",") if decimal_comma else s

    lines = [
        "Instrument: some analyser v2",
        "Operator: x",
        "Temperature: 60 C",
        "",
        sep.join([fh, rh, ih]),
    ]
    for a, b in zip(ref.f, ref.z, strict=True):
        im = -b.imag if neg else b.imag
        lines.append(sep.join([num(a / kf), num(b.real / kz), num(im / kz)]))
    path = tmp_path / "spectrum.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    spec = _quiet(read_spectrum, path)
    np.testing.assert_allclose(spec.f, ref.f, rtol=1e-7)
    np.testing.assert_allclose(spec.z, ref.z, rtol=1e-6)
    assert spec.temperature_K == pytest.approx(333.15)


@pytest.mark.parametrize(
    ("name", "kelvin"),
    [
        ("LZNC_25C.mpt", 298.15),
        ("LZNC_25degC.mpt", 298.15),
        ("LZNC_140deg.txt", 413.15),
        ("LZNC 25 °C.txt", 298.15),
        ("LZNC_298K.z", 298.0),
        ("LZNC_T=25.csv", 298.15),
        ("LZNC_T=298.csv", 298.0),
        ("LZNC_25oC.txt", 298.15),
        ("LZNC_37p5C.txt", 310.65),
    ],
)
def test_temperature_spellings(name, kelvin):
    assert temperature_from_name(name) == pytest.approx(kelvin)


@pytest.mark.parametrize("name", ["LZNC_25C_60C.mpt", "LZNC_T=175.csv"])
def test_ambiguous_temperature_asks_for_the_option(name):
    with pytest.raises(DataFormatError, match="--temperatures"):
        temperature_from_name(name)
