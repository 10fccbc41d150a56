"""Property tests: every lab reader, fed generated garbage tables and spectra, either returns
a valid record or raises a HalidelabError subclass, never anything else (issue 17)."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from halidelab.errors import HalidelabError
from halidelab.lab.cyclers import read_cycler
from halidelab.lab.eis_io import ImpedanceSpectrum, read_spectrum
from halidelab.lab.lsv import read_lsv
from halidelab.lab.polarization import read_polarization
from halidelab.lab.tables import read_table
from halidelab.lab.xrd import read_pattern

# CI runs 40 examples per test; HALIDELAB_HYPOTHESIS_EXAMPLES=500 for a deeper search
SETTINGS = settings(
    max_examples=int(os.environ.get("HALIDELAB_HYPOTHESIS_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -0.0, 1e308, -1e308, 5e-324, 1.0, -1.0]),
    st.integers(-(10**6), 10**6).map(float),
)
WORDS = st.sampled_from(
    [
        "freq/Hz",
        "Z'/ohm",
        "-Z''/ohm",
        "time/s",
        "Ewe/V",
        "I/mA",
        "abc",
        "",
        "nan",
        "1,5E+003",
        "2theta",
        "Intensity",
        "#",
        "Q charge/mA.h",
        "EC-Lab ASCII FILE",
        "Nb header lines : 3",
        "Freq.[Hz]",
        "Zs'[ohm]",
        "BANK 1 FXYE",
        "<xrdMeasurements>",
        "T=25",
        "\x00",
    ]
)
SEPARATORS = st.sampled_from([",", ";", "\t", " ", "  "])


def _fmt(x: float, comma: bool) -> str:
    s = repr(float(x))
    return s.replace(".", ",") if comma else s


@st.composite
def garbage_tables(draw) -> str:
    sep = draw(SEPARATORS)
    comma = draw(st.booleans()) and sep != ","
    n_cols = draw(st.integers(1, 5))
    lines = []
    for _ in range(draw(st.integers(0, 3))):  # preamble
        lines.append(sep.join(draw(st.lists(WORDS, min_size=1, max_size=4))))
    if draw(st.booleans()):
        lines.append(sep.join(draw(st.lists(WORDS, min_size=n_cols, max_size=n_cols))))
    for _ in range(draw(st.integers(0, 60))):
        row = [draw(st.one_of(NUMBERS.map(lambda v: _fmt(v, comma)), WORDS)) for _ in range(n_cols)]
        lines.append(sep.join(row))
    return "\n".join(lines) + ("\n" if draw(st.booleans()) else "")


@st.composite
def garbage_spectra(draw) -> str:
    """Tables that look like spectra: a proper header and columns of awkward numbers."""
    n = draw(st.integers(0, 40))
    sep = draw(SEPARATORS)
    cols = [draw(st.lists(NUMBERS, min_size=n, max_size=n)) for _ in range(3)]
    rows = [sep.join(repr(float(c[i])) for c in cols) for i in range(n)]
    return sep.join(["freq/Hz", "Z'/ohm", "-Z''/ohm"]) + "\n" + "\n".join(rows) + "\n"


def _run(reader, text: str, name: str):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / name
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return reader(path)
        except HalidelabError:
            return None


@SETTINGS
@given(garbage_spectra())
def test_read_spectrum_on_garbage_spectra(text):
    spec = _run(read_spectrum, text, "s_25C.csv")
    if spec is not None:
        assert isinstance(spec, ImpedanceSpectrum)
        assert spec.n_points >= 3 and np.all(np.isfinite(spec.z)) and np.all(spec.f > 0)


@SETTINGS
@given(garbage_tables(), st.sampled_from(["x.csv", "x.txt", "x.mpt", "x.z", "x.DTA"]))
def test_read_spectrum_on_garbage_tables(text, name):
    spec = _run(read_spectrum, text, name)
    if spec is not None:
        assert spec.n_points >= 3 and np.all(np.isfinite(spec.z))


@SETTINGS
@given(garbage_tables(), st.sampled_from(["x.csv", "x.txt", "x.mpt"]))
def test_read_table_and_cycler_and_cell_readers(text, name):
    df = _run(read_table, text, name)
    if df is not None:
        assert len(df) > 0
    run = _run(read_cycler, text, name)
    if run is not None:
        assert run.data["time_s"].is_monotonic_increasing
    lsv = _run(read_lsv, text, name)
    if lsv is not None:
        assert len(lsv[0]) == len(lsv[1])
    _run(lambda p: read_polarization(p, 0.5), text, name)


@SETTINGS
@given(garbage_tables(), st.sampled_from(["x.xy", "x.xye", "x.csv", "x.xrdml", "x.dat"]))
def test_read_pattern_on_garbage(text, name):
    pat = _run(read_pattern, text, name)
    if pat is not None:
        assert pat.x.size >= 50 and np.all(np.diff(pat.x) > 0) and np.all(np.isfinite(pat.y))
