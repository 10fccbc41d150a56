"""Generic reader for tabular lab files whose headers carry units.

Instrument software and hand-made spreadsheets write units in the column header in many
ways: ``I/mA`` (EC-Lab), ``Current (A)`` (Novonix, Arbin 'new'), ``Capacity(Ah)``,
``time/s``, ``Z' [kohm]``. :func:`read_table` reads CSV/TXT (comma, semicolon or tab;
decimal comma tolerated), BioLogic ``.mpt`` text exports (the ``Nb header lines`` block is
skipped) and BioLogic binary ``.mpr`` files (through galvani), recognises the unit of each
column and converts it to the base unit of its dimension:

=========== ========= ==========================================
dimension   base unit accepted units (case as usually written)
=========== ========= ==========================================
time        s         s, ms, min, h
voltage     V         V, mV, uV/µV
current     A         A, mA, uA/µA, nA
charge      Ah        Ah, A.h, mAh, mA.h, uAh
frequency   Hz        Hz, kHz, MHz, mHz
resistance  ohm       ohm/Ohm/Ω, mohm, kohm/kΩ, Mohm/MΩ
=========== ========= ==========================================

Converted columns are renamed ``<name>_<base unit>`` (``I/mA`` becomes ``I_A`` with values
divided by 1000); columns without a recognised unit keep their header. The list of
:class:`Column` descriptions is kept in ``df.attrs["columns"]`` and :func:`pick` finds the
column of a dimension by preferred names.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from halidelab.errors import DataFormatError

#: base unit of each dimension
BASE_UNITS: dict[str, str] = {
    "time": "s",
    "voltage": "V",
    "current": "A",
    "charge": "Ah",
    "frequency": "Hz",
    "resistance": "ohm",
}

# unit as written (lower case, spaces removed) -> (dimension, factor to base unit)
_UNITS: dict[str, tuple[str, float]] = {
    "s": ("time", 1.0),
    "sec": ("time", 1.0),
    "ms": ("time", 1e-3),
    "min": ("time", 60.0),
    "mn": ("time", 60.0),
    "h": ("time", 3600.0),
    "hr": ("time", 3600.0),
    "v": ("voltage", 1.0),
    "mv": ("voltage", 1e-3),
    "uv": ("voltage", 1e-6),
    "µv": ("voltage", 1e-6),
    "a": ("current", 1.0),
    "ma": ("current", 1e-3),
    "ua": ("current", 1e-6),
    "µa": ("current", 1e-6),
    "μa": ("current", 1e-6),
    "na": ("current", 1e-9),
    "ah": ("charge", 1.0),
    "a.h": ("charge", 1.0),
    "a-h": ("charge", 1.0),
    "mah": ("charge", 1e-3),
    "ma.h": ("charge", 1e-3),
    "ma-h": ("charge", 1e-3),
    "uah": ("charge", 1e-6),
    "µah": ("charge", 1e-6),
    "µa.h": ("charge", 1e-6),
    "hz": ("frequency", 1.0),
    "khz": ("frequency", 1e3),
    "ohm": ("resistance", 1.0),
    "ohms": ("resistance", 1.0),
    "ω": ("resistance", 1.0),
    "kohm": ("resistance", 1e3),
    "kω": ("resistance", 1e3),
}
# units whose meaning depends on the case of the first letter (mHz vs MHz, mohm vs Mohm)
_CASED: dict[str, tuple[str, float]] = {
    "mHz": ("frequency", 1e-3),
    "MHz": ("frequency", 1e6),
    "mohm": ("resistance", 1e-3),
    "mOhm": ("resistance", 1e-3),
    "Mohm": ("resistance", 1e6),
    "MOhm": ("resistance", 1e6),
    "MΩ": ("resistance", 1e6),
    "mΩ": ("resistance", 1e-3),
}

# "name/unit", "name (unit)", "name [unit]"
_HEADER = re.compile(r"^\s*(?P<name>.*?)\s*(?:\((?P<p>[^()]+)\)|\[(?P<b>[^\[\]]+)\])\s*$")
# "name_unit" (halidelab's own column names, ``time_s``) only with these exact spellings,
# because "Step_Index" or "mode_a" must not be read as units
_SUFFIX = re.compile(r"^(?P<name>[A-Za-z][A-Za-z_ ]*?)_(?P<u>[A-Za-z]+)$")
_SUFFIX_UNITS = {"s", "min", "h", "V", "mV", "A", "mA", "uA", "Ah", "mAh", "Hz", "kHz", "ohm"}


@dataclasses.dataclass(frozen=True)
class Column:
    """One column of a table as read.

    Attributes
    ----------
    label : str
        Header as written in the file, e.g. ``"I/mA"``.
    name : str
        Header without its unit, e.g. ``"I"``.
    key : str
        Column name in the returned DataFrame (``"I_A"``; the label when no unit).
    dimension : str or None
        ``"time"``, ``"voltage"``, ``"current"``, ``"charge"``, ``"frequency"``,
        ``"resistance"`` or None when the unit was not recognised.
    unit : str or None
        Unit as written.
    factor : float
        Multiplier applied to reach the base unit of the dimension.
    """

    label: str
    name: str
    key: str
    dimension: str | None
    unit: str | None
    factor: float


def parse_unit(unit: str) -> tuple[str, float] | None:
    """Dimension and factor to the base unit of a unit string, or None if unknown.

    >>> parse_unit("mA.h")
    ('charge', 0.001)
    """
    u = unit.strip().replace(" ", "")
    if u in _CASED:
        return _CASED[u]
    return _UNITS.get(u.lower())


def parse_header(label: str) -> tuple[str, str | None, tuple[str, float] | None]:
    """Split a column header into (name, unit, (dimension, factor)).

    Accepts ``name/unit`` (EC-Lab style: the unit is all the text after the first slash,
    so ``dI/dt/mA/s`` or ``control/V/mA`` stay unrecognised rather than read as a time or
    a current), ``name (unit)`` and ``name [unit]``.
    """
    text = str(label).strip()
    m = _HEADER.match(text)
    if m:
        unit = m.group("p") or m.group("b")
        found = parse_unit(unit)
        if found:
            return m.group("name").strip(), unit.strip(), found
    m = _SUFFIX.match(text)
    if m and m.group("u") in _SUFFIX_UNITS:
        return m.group("name"), m.group("u"), parse_unit(m.group("u"))
    if "/" in text:
        first = text.index("/")
        name, unit = text[:first], text[first + 1 :]
        found = parse_unit(unit)
        if found and name.strip():
            return name.strip(), unit.strip(), found
    return text, None, None


def _sniff_separator(lines: Sequence[str]) -> str:
    """Separator of a header + data block: tab, then semicolon, then comma, else spaces.

    The order matters for European exports: with decimal commas the data rows hold more
    commas than tabs or semicolons, so a separator present on every line wins by kind,
    not by count.
    """
    sample = [ln for ln in lines[:20] if ln.strip()]
    for sep in ("\t", ";", ","):
        if sample and min(ln.count(sep) for ln in sample) > 0:
            return sep
    return r"\s+"


_ANY_SEP = re.compile(r"[\t;,]|\s+")


def _numberlike(field: str) -> bool:
    """A number as instruments write it: ``1.5``, ``-3,2E+001`` (decimal comma), ``1e-3``."""
    f = field.strip().strip('"')
    if not f:
        return False
    try:
        float(f.replace(",", "."))
    except ValueError:
        return False
    return True


def _numeric_row(line: str) -> bool:
    fields = [f for f in _ANY_SEP.split(line.strip()) if f]
    return len(fields) >= 2 and sum(_numberlike(f) for f in fields) >= 0.8 * len(fields)


def locate_header(lines: Sequence[str], max_lines: int = 200) -> tuple[int | None, int]:
    """Where a text table starts: (header line index or None, first data line index).

    The data start at the first of three consecutive numeric rows (or of the rows left,
    when fewer) within the first ``max_lines`` lines; the header is the line just above
    them when it is not numeric. Lines above the header (a title, ``Fixed value(s) : AC
    Volt [Vrms]=0.1``, instrument settings) are the preamble.

    Raises
    ------
    DataFormatError
        No numeric rows in the first ``max_lines`` lines.
    """
    n = len(lines)
    for j in range(min(n, max_lines)):
        block = [ln for ln in lines[j : j + 3]]
        if block and all(_numeric_row(ln) for ln in block):
            if j > 0 and not _numeric_row(lines[j - 1]) and lines[j - 1].strip():
                return j - 1, j
            return None, j
    raise DataFormatError(f"no numeric data rows in the first {max_lines} lines")


def _to_numeric(series: pd.Series) -> pd.Series:
    """Numbers as floats; decimal commas (European EC-Lab exports) accepted."""
    if pd.api.types.is_numeric_dtype(series):
        return series.astype(float)
    as_text = series.astype("string").str.strip()
    out = pd.to_numeric(as_text, errors="coerce")
    if out.notna().sum() < as_text.notna().sum():
        alt = pd.to_numeric(as_text.str.replace(",", ".", regex=False), errors="coerce")
        if alt.notna().sum() > out.notna().sum():
            out = alt
    return out.astype(float)


def convert_units(df: pd.DataFrame) -> pd.DataFrame:
    """Rename and scale columns with recognised units (see module docstring).

    Columns whose unit is recognised but whose values are not numbers (an EC-Lab
    ``time/s`` column written as absolute dates) are kept as text under their label.
    """
    out: dict[str, pd.Series] = {}
    cols: list[Column] = []
    for label in df.columns:
        name, unit, found = parse_header(str(label))
        raw = df[label]
        if found:
            values = _to_numeric(raw)
            if raw.notna().sum() == 0 or values.notna().sum() >= max(1, raw.notna().sum() // 2):
                dim, factor = found
                key = f"{name}_{BASE_UNITS[dim]}"
                while key in out:
                    key += "_"
                out[key] = values * factor
                cols.append(Column(str(label), name, key, dim, unit, factor))
                continue
        key = str(label)
        while key in out:
            key += "_"
        numeric = _to_numeric(raw) if raw.dtype == object else raw
        keep_text = raw.dtype == object and numeric.notna().sum() < raw.notna().sum() // 2
        out[key] = raw if keep_text else numeric
        cols.append(Column(str(label), name, key, None, None, 1.0))
    result = pd.DataFrame(out)
    result.attrs["columns"] = cols
    return result


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    if not raw.strip():
        raise DataFormatError(f"{path.name} is empty: export the data again")
    if b"\x00" in raw[:4096]:
        raise DataFormatError(
            f"{path.name} is a binary file, not a text table; export it as "
            "text (CSV/TXT) or, for BioLogic, pass the .mpr file"
        )
    for enc in ("utf-8", "cp1252", "latin-1"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1", errors="replace")  # pragma: no cover - latin-1 never fails


def _mpt_header_lines(lines: Sequence[str], name: str) -> int:
    """Number of header lines of an EC-Lab .mpt file (``Nb header lines : N``)."""
    for ln in lines[:5]:
        m = re.match(r"\s*Nb header lines\s*:\s*(\d+)", ln)
        if m:
            return int(m.group(1))
    raise DataFormatError(
        f"{name}: EC-Lab text file without 'Nb header lines'; the header "
        "is damaged: export it again from EC-Lab (Export as text)"
    )


def _frame_from_lines(lines: list[str], name: str) -> pd.DataFrame:
    """Parse header + data lines; refuse a table with no data rows.

    The header is the first line unless a block of numeric rows starts further down, in
    which case the line above that block is the header and the lines before it (titles,
    instrument settings) are kept in ``df.attrs["preamble"]``.
    """
    lines = [ln for ln in lines if ln.strip()]
    if not lines:
        raise DataFormatError(f"{name} has no table: expected a header line and data rows")
    preamble: list[str] = []
    try:
        head, first = locate_header(lines)
    except DataFormatError:
        head, first = 0, 1
    if head is not None and head > 0:
        preamble, lines = lines[:head], lines[head:]
    elif head is None and first > 0:
        preamble, lines = lines[:first], lines[first:]
    sep = _sniff_separator(lines)
    text = "\n".join(lines)
    try:
        df = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            engine="python",
            quoting=csv.QUOTE_MINIMAL,
            index_col=False,
            header=None if head is None else 0,
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataFormatError(
            f"{name}: cannot parse the table ({exc}); check the separator "
            "and that every row has the header's number of fields"
        ) from exc
    df = df.loc[
        :, [c for c in df.columns if not (str(c).startswith("Unnamed:") and df[c].isna().all())]
    ]
    df.columns = [str(c).strip() for c in df.columns]
    if len(df) == 0:
        raise DataFormatError(
            f"{name} has a header but no data rows: the run was empty or the "
            "export was cut; export it again"
        )
    df.attrs["preamble"] = preamble
    return df


def read_mpr(path: str | Path) -> pd.DataFrame:
    """Read a BioLogic binary ``.mpr`` file with galvani; columns as galvani names them.

    galvani's column labels follow EC-Lab (``time/s``, ``Ewe/V``, ``I/mA``,
    ``control/V/mA``) so they go through the same unit conversion as text exports.

    Why galvani and not yadg/eclabfiles: yadg (and its predecessor eclabfiles) reads
    more recent EC-Lab files (galvani 0.5 stops at column IDs it does not know: 9 of the
    47 .mpr files in yadg's test data, e.g. ID 182, 185, 215). Licence does not decide
    between them: galvani is GPL-3.0-or-later and yadg GPL-3.0, so neither may be copied
    into this MIT project; both can only be imported as installed packages. galvani is
    already a dependency and small; yadg brings a large stack (xarray, pint, dgbowl
    schemas). A file galvani cannot read is refused with the column it stopped at and
    the advice to read the EC-Lab text export (.mpt), which the text readers here handle
    whatever its columns.
    """
    from galvani import BioLogic

    path = Path(path)
    try:
        mpr = BioLogic.MPRfile(str(path))
    except Exception as exc:  # galvani raises ValueError/NotImplementedError/struct.error
        raise DataFormatError(
            f"{path.name}: galvani cannot read this .mpr file "
            f"({type(exc).__name__}: {exc}); export it from EC-Lab as text "
            "(.mpt) and read that"
        ) from exc
    df = pd.DataFrame(mpr.data)
    if len(df) == 0:
        raise DataFormatError(f"{path.name} contains no data points")
    return df


def read_raw_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV/TXT/.mpt/.mpr file into a DataFrame with the original headers."""
    path = Path(path)
    if path.suffix.lower() == ".mpr":
        return read_mpr(path)
    text = _read_text(path)
    lines = text.splitlines()
    if lines and lines[0].strip().startswith(("EC-Lab ASCII FILE", "BT-Lab ASCII FILE")):
        n = _mpt_header_lines(lines, path.name)
        if len(lines) < n:
            raise DataFormatError(
                f"{path.name} ends inside its {n}-line header: the export was cut; export it again"
            )
        return _frame_from_lines(lines[n - 1 :], path.name)
    if lines and lines[0].strip().startswith(("EC-Lab LOG FILE", "BT-Lab LOG FILE")):
        raise DataFormatError(
            f"{path.name} is an EC-Lab/BT-Lab settings log (.mpl), not data: "
            "read the .mpt/.csv text export or the .mpr file of the run"
        )
    return _frame_from_lines(lines, path.name)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a tabular lab file and convert columns with units to base units.

    Parameters
    ----------
    path : str or Path
        CSV/TXT with a header line, EC-Lab ``.mpt`` text export or ``.mpr`` binary.

    Returns
    -------
    pandas.DataFrame
        Columns with a recognised unit renamed ``<name>_<base unit>`` and scaled (s, V,
        A, Ah, Hz, ohm); ``df.attrs["columns"]`` lists :class:`Column` entries and
        ``df.attrs["source"]`` the path.

    Raises
    ------
    DataFormatError
        Empty, binary-but-not-.mpr, header-only or unparsable files.
    """
    df = convert_units(read_raw_table(path))
    df.attrs["source"] = str(path)
    return df


def columns_of(df: pd.DataFrame) -> list[Column]:
    """The :class:`Column` list of a table from :func:`read_table` (or inferred)."""
    cols = df.attrs.get("columns")
    if cols:
        return [c for c in cols if c.key in df.columns]
    out = []
    for key in df.columns:
        name, unit, found = parse_header(str(key))
        m = re.match(r"^(.*)_(s|V|A|Ah|Hz|ohm)$", str(key))
        if found is None and m:
            dim = {v: k for k, v in BASE_UNITS.items()}[m.group(2)]
            out.append(Column(str(key), m.group(1), str(key), dim, m.group(2), 1.0))
        else:
            out.append(Column(str(key), name, str(key), None, None, 1.0))
    return out


def pick(
    df: pd.DataFrame,
    dimension: str,
    prefer: Sequence[str] = (),
    avoid: Sequence[str] = ("control",),
    what: str | None = None,
) -> pd.Series:
    """The column of ``dimension`` (in its base unit) that best matches ``prefer``.

    Parameters
    ----------
    df : DataFrame
        From :func:`read_table`.
    dimension : str
        One of :data:`BASE_UNITS`.
    prefer : sequence of str
        Lower-case name fragments in order of preference (``("ewe", "ecell", "volt")``);
        the first column whose name contains one wins, otherwise the only column of
        that dimension.
    avoid : sequence of str
        Name fragments never picked (EC-Lab's ``control/V`` is the set point, not data).
    what : str, optional
        Words for the error message (default: the dimension).

    Raises
    ------
    DataFormatError
        No column, or several and none preferred.
    """
    cands = [
        c
        for c in columns_of(df)
        if c.dimension == dimension and not any(a in c.name.lower() for a in avoid)
    ]
    chosen = next((c for frag in prefer for c in cands if frag in c.name.lower()), None)
    if chosen is None and len(cands) == 1:
        chosen = cands[0]
    if chosen is not None:
        col = df[chosen.key].astype(float)
        if not np.isfinite(col.to_numpy()).any():
            src = Path(df.attrs.get("source", "table")).name
            raise DataFormatError(
                f"{src}: the {what or dimension} column {chosen.label!r} "
                "holds no numbers (empty or not numeric): check the export"
            )
        return col
    labels = [c.label for c in columns_of(df)]
    src = Path(df.attrs.get("source", "table")).name
    what = what or dimension
    if not cands:
        raise DataFormatError(
            f"{src}: no {what} column with a unit ({BASE_UNITS[dimension]} or a multiple) among "
            f"{labels[:12]}; write the unit in the header, e.g. "
            f"'{_EXAMPLE_HEADER.get(dimension, 'x/unit')}'"
        )
    raise DataFormatError(
        f"{src}: several {what} columns {[c.label for c in cands]} and none "
        f"named like {list(prefer)}; rename the one to use"
    )


_EXAMPLE_HEADER = {"time": "time/s", "voltage": "Ewe/V", "current": "I/mA"}


def check_time(name: str, time_s: np.ndarray) -> None:
    """Refuse a time column that runs backwards or does not advance (one-line reasons)."""
    t = np.asarray(time_s, dtype=float)
    back = np.flatnonzero(np.diff(t) < 0)
    if back.size:
        k = int(back[0])
        raise DataFormatError(
            f"{name}: test time goes backwards at data row {k + 2} "
            f"({t[k]:.6g} s -> {t[k + 1]:.6g} s); several runs pasted "
            "together? read them one by one"
        )
    if t.size > 1 and not t[-1] > t[0]:
        raise DataFormatError(
            f"{name}: the time column does not advance ({t[0]:.6g} s in "
            "every row): is it the right column, or a date exported without "
            "seconds?"
        )


def finite_rows(*arrays: np.ndarray) -> np.ndarray:
    """Boolean mask of rows where all arrays are finite."""
    mask = np.ones(len(arrays[0]), dtype=bool)
    for a in arrays:
        mask &= np.isfinite(np.asarray(a, dtype=float))
    return mask
