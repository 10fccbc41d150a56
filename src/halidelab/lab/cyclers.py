"""Readers for galvanostatic cycler exports, normalised to one schema with explicit units.

Every reader returns a :class:`CyclerRun` whose ``data`` has the columns of
:data:`SCHEMA`:

``time_s``
    Test time since the first row, s (non-decreasing).
``voltage_V``
    Cell voltage, V.
``current_A``
    Current, A, signed as the cycler defines it: positive = charge (cell voltage driven
    up, oxidation at the positive electrode), negative = discharge.
``cycle``, ``step``
    The instrument's own cycle and step counters (nullable integers; <NA> when the file
    has none). Analyses in :mod:`halidelab.lab.cycling` do not trust instrument cycle
    counters (each brand increments them at a different point) and rebuild cycles from
    the current sign; these columns are kept for bookkeeping.
``charge_capacity_Ah``, ``discharge_capacity_Ah``
    Charge passed while charging / discharging, Ah, cumulative within the instrument
    cycle and reset to 0 at each new cycle (Arbin's convention). Built from the
    instrument's capacity counters, whatever their reset rule (per step: Maccor; per
    half-cycle: EC-Lab; per cycle: Arbin), or by integrating the current when a file has
    no capacity column.

Formats: Arbin CSV (``Data_Point, Test_Time, Current, Voltage, Charge_Capacity...``, SI
units), Maccor text exports (``.000``-``.999``, tab separated, ``Rec#  Cyc#  Step
TestTime ... Amp-hr ... Amps Volts State``), BioLogic EC-Lab/BT-Lab text (``.mpt`` with
header, or ``;``-separated modulo-bat ``.csv``) and binary ``.mpr`` (galvani), Novonix
HPC ``.csv`` (``[Summary] ... [Data]``), and any table with time, voltage and current
columns whose headers carry units (:mod:`halidelab.lab.tables`).

Why not beep: TRI-AMDD/beep's ``BEEPDatapath`` readers do this job, but beep is not
installable alongside this project's pins (it pins old pandas/numpy and pulls in a
large stack), its BioLogic reader requires the ``.mpl`` and a fixed US/Pacific time
zone, and it maps Novonix step type 8 (a CV hold that here carries a positive, charging
current) to discharge. These readers are written with pandas, use the current sign and
the instrument's state to assign charge and discharge, and refuse with a reason what
they cannot read (procedure files, settings logs, truncated rows).
"""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from halidelab.errors import DataFormatError
from halidelab.lab import tables

#: columns of a normalised cycler table
SCHEMA: tuple[str, ...] = (
    "time_s",
    "voltage_V",
    "current_A",
    "cycle",
    "step",
    "charge_capacity_Ah",
    "discharge_capacity_Ah",
)

INSTRUMENTS: tuple[str, ...] = ("arbin", "maccor", "biologic", "novonix", "table")


@dataclasses.dataclass(frozen=True)
class CyclerRun:
    """A cycler file read into the normalised schema.

    Attributes
    ----------
    data : pandas.DataFrame
        Columns of :data:`SCHEMA` (units in the names).
    instrument : str
        Which reader was used (``"arbin"``, ``"maccor"``, ``"biologic"``, ``"novonix"``,
        ``"table"``).
    source : str
        Path of the file.
    notes : tuple of str
        What the reader had to assume or found odd (no cycle counter, capacity integrated
        from current, impedance rows...).
    metadata : dict
        Header fields of the file (cell name, protocol, nominal capacity...).
    """

    data: pd.DataFrame
    instrument: str
    source: str
    notes: tuple[str, ...] = ()
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        """Number of data rows."""
        return len(self.data)

    @property
    def cycles(self) -> list[int]:
        """Distinct instrument cycle numbers, in order of appearance."""
        return [int(c) for c in pd.unique(self.data["cycle"].dropna())]


# --------------------------------------------------------------------------- helpers


def _increments(counter: np.ndarray, reset: np.ndarray | None = None) -> np.ndarray:
    """Per-row increments of a capacity counter that restarts from zero now and then.

    A row starts a new count where ``reset`` is True or where the counter decreased;
    there the increment is the counter's value itself (charge passed since the restart).
    NaN counts as no change.
    """
    x = np.abs(np.nan_to_num(np.asarray(counter, dtype=float), nan=np.nan))
    x = pd.Series(x).ffill().fillna(0.0).to_numpy()
    prev = np.concatenate([[0.0], x[:-1]])
    inc = x - prev
    restart = inc < 0
    if reset is not None:
        restart |= np.asarray(reset, dtype=bool)
    inc[restart] = x[restart]
    inc[0] = x[0]
    return inc


def _changes(values: Any) -> np.ndarray:
    """True where a counter differs from the previous row (missing values compare equal)."""
    key = pd.to_numeric(pd.Series(values).reset_index(drop=True), errors="coerce")
    key = key.astype(float).fillna(-1.0).to_numpy()
    return np.concatenate([[False], key[1:] != key[:-1]])


def _cumulative_in_cycle(inc: np.ndarray, cycle: pd.Series) -> np.ndarray:
    """Cumulative sum of increments, restarting at each change of the cycle counter."""
    block = np.cumsum(_changes(cycle))
    return pd.Series(inc).groupby(block).cumsum().to_numpy()


def _integrated_increments(
    time_s: np.ndarray, current_A: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Charge and discharge increments (Ah): each row's current x time since the last row.

    This backward rectangle rule (not the trapezoid) keeps charge and discharge apart at
    a current reversal and is exact for constant-current steps sampled during the step.
    """
    dt = np.diff(time_s, prepend=time_s[0])
    q = np.nan_to_num(current_A) * dt / 3600.0
    return np.where(q > 0, q, 0.0), np.where(q < 0, -q, 0.0)


def _int_column(values: Any, n: int) -> pd.Series:
    if values is None:
        return pd.Series(pd.array([pd.NA] * n, dtype="Int64"))
    s = pd.to_numeric(pd.Series(values).reset_index(drop=True), errors="coerce")
    return s.round().astype("Int64")


def _assemble(
    name: str,
    time_s: np.ndarray,
    voltage: np.ndarray,
    current: np.ndarray,
    cycle: Any,
    step: Any,
    qc_inc: np.ndarray,
    qd_inc: np.ndarray,
) -> pd.DataFrame:
    """Build the normalised frame; check time and required values."""
    n = len(time_s)
    if n == 0:
        raise DataFormatError(f"{name} has no data rows: the run was empty or the export cut")
    time_s = np.asarray(time_s, dtype=float)
    if not np.all(np.isfinite(time_s)):
        bad = int(np.flatnonzero(~np.isfinite(time_s))[0])
        raise DataFormatError(
            f"{name}: time is missing or unreadable at data row {bad + 1}; "
            "the file is damaged there"
        )
    tables.check_time(name, time_s)
    cyc = _int_column(cycle, n)
    df = pd.DataFrame(
        {
            "time_s": time_s - time_s[0],
            "voltage_V": np.asarray(voltage, dtype=float),
            "current_A": np.asarray(current, dtype=float),
            "cycle": cyc,
            "step": _int_column(step, n),
            "charge_capacity_Ah": _cumulative_in_cycle(qc_inc, cyc),
            "discharge_capacity_Ah": _cumulative_in_cycle(qd_inc, cyc),
        }
    )
    for col in ("voltage_V", "current_A"):
        if df[col].isna().all():
            raise DataFormatError(f"{name}: no readable {col.split('_')[0]} values")
    return df


def _check_last_row(
    name: str, raw: pd.DataFrame, required: Sequence[str], allow_truncated: bool, notes: list[str]
) -> pd.DataFrame:
    """Refuse (or drop, if allowed) a last row cut in the middle by a truncated export."""
    if len(raw) == 0:
        return raw
    last = raw.iloc[-1]
    missing = [c for c in required if c in raw.columns and pd.isna(last[c])]
    if missing and raw[missing].iloc[:-1].notna().all().all():
        if not allow_truncated:
            raise DataFormatError(
                f"{name}: the last row is incomplete (no {', '.join(missing)}): the export was "
                "cut; export it again or read it with allow_truncated=True to drop that row"
            )
        notes.append("last row incomplete (truncated export): dropped")
        return raw.iloc[:-1]
    return raw


# --------------------------------------------------------------------------- detection


def detect_cycler(path: str | Path) -> str:
    """Which reader a file needs (see :data:`INSTRUMENTS`), from its first lines.

    Raises
    ------
    DataFormatError
        Empty files, Maccor procedure files (XML), EC-Lab settings logs (``.mpl``).
    """
    path = Path(path)
    if path.suffix.lower() == ".mpr":
        return "biologic"
    raw = path.read_bytes()[:8192]
    if not raw.strip():
        raise DataFormatError(f"{path.name} is empty: export the cycler data again")
    head = raw.decode("latin-1")
    first = head.lstrip().splitlines()[0] if head.strip() else ""
    if first.startswith("<?xml"):
        if "Maccor" in head or "<MaccorTestProcedure" in head:
            raise DataFormatError(
                f"{path.name} is a Maccor test procedure (XML: the steps to run), not data; "
                "read the test's data export (the text file with Rec#, Cyc#, Amps, Volts)"
            )
        raise DataFormatError(f"{path.name} is an XML file, not a cycler data export")
    if first.startswith(("EC-Lab LOG FILE", "BT-Lab LOG FILE")):
        raise DataFormatError(
            f"{path.name} is an EC-Lab/BT-Lab settings log (.mpl: protocol, channel, mass), "
            "not data; read the .mpt/.csv text export or the .mpr file of the same run"
        )
    if first.startswith(("EC-Lab ASCII FILE", "BT-Lab ASCII FILE")):
        return "biologic"
    if first.startswith("Today's Date") or first.startswith("Rec#"):
        return "maccor"
    if first.startswith("[Summary]") and "Novonix" in head:
        return "novonix"
    low = first.lower()
    if ("ecell/v" in low or "ewe/v" in low) and ("cycle number" in low or "ns" in low.split(";")):
        return "biologic"
    if "data_point" in low and "test_time" in low:
        return "arbin"
    return "table"


# --------------------------------------------------------------------------- readers


def _read_arbin(path: Path, allow_truncated: bool) -> CyclerRun:
    df = tables.read_raw_table(path)
    notes: list[str] = []
    # Arbin "legacy" exports have unitless SI headers (Test_Time in s, Current in A,
    # Charge_Capacity in Ah); newer ones write "Test Time (s)", "Current (A)"...
    keys = {}
    for col in df.columns:
        name, _, found = tables.parse_header(col)
        key = re.sub(r"[^a-z]+", "_", name.lower()).strip("_")
        keys[key] = (col, found[1] if found else 1.0)
    need = {"test_time": "Test_Time", "voltage": "Voltage", "current": "Current"}
    missing = [v for k, v in need.items() if k not in keys]
    if missing:
        raise DataFormatError(
            f"{path.name}: Arbin export without column(s) {missing}; "
            "export with Test_Time, Current and Voltage"
        )
    df = _check_last_row(path.name, df, [keys[k][0] for k in need], allow_truncated, notes)

    def col(key: str) -> np.ndarray | None:
        if key not in keys:
            return None
        c, factor = keys[key]
        return pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float) * factor

    t, v, i = col("test_time"), col("voltage"), col("current")
    cycle, step = col("cycle_index"), col("step_index")
    if cycle is None or np.all(np.isnan(cycle)):
        notes.append("no Cycle_Index values in the file: cycle left empty")
    if step is None or np.all(np.isnan(step)):
        notes.append("no Step_Index values in the file: step left empty")
    qc, qd = col("charge_capacity"), col("discharge_capacity")
    if qc is None or qd is None:
        notes.append("no Charge_/Discharge_Capacity columns: capacity integrated from current")
        qc_inc, qd_inc = _integrated_increments(t, i)
    else:
        reset = _changes(cycle) if cycle is not None else None
        qc_inc, qd_inc = _increments(qc, reset), _increments(qd, reset)
    data = _assemble(path.name, t, v, i, cycle, step, qc_inc, qd_inc)
    return CyclerRun(data, "arbin", str(path), tuple(notes))


_MACCOR_TIME = re.compile(r"^\s*(?:(\d+)d\s+)?(\d+):(\d+):(\d+(?:\.\d*)?)\s*$")


def _maccor_seconds(text: pd.Series, name: str) -> np.ndarray:
    """Maccor ``"  1d 02:03:04.5000"`` durations (or plain seconds) to seconds."""
    numeric = pd.to_numeric(text, errors="coerce")
    if numeric.notna().all():
        return numeric.to_numpy(dtype=float)
    out = np.full(len(text), np.nan)
    for k, s in enumerate(text.astype(str)):
        m = _MACCOR_TIME.match(s)
        if m:
            d, h, mi, sec = m.groups()
            out[k] = int(d or 0) * 86400 + int(h) * 3600 + int(mi) * 60 + float(sec)
    return out


def _read_maccor(path: Path, allow_truncated: bool) -> CyclerRun:
    text = tables._read_text(path)
    lines = text.splitlines()
    start = 1 if lines and lines[0].startswith("Today's Date") else 0
    metadata: dict[str, Any] = {}
    if start:
        for field in ("Date of Test", "Filename", "Procedure", "Comment/Barcode"):
            m = re.search(re.escape(field) + r":\s*\t?(.*?)(?:\t|$| {2,}\w+:)", lines[0])
            if m:
                metadata[field.lower()] = m.group(1).strip()
    body = [ln.rstrip("\r") for ln in lines[start:] if ln.strip()]
    if len(body) < 2:
        raise DataFormatError(f"{path.name}: Maccor export with a header but no data rows")
    try:
        df = pd.read_csv(io.StringIO("\n".join(body)), sep="\t", dtype=str, index_col=False)
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataFormatError(f"{path.name}: cannot parse the Maccor table ({exc})") from exc
    df.columns = [c.strip() for c in df.columns]
    low = {c.lower(): c for c in df.columns}
    time_col = low.get("testtime") or low.get("test (sec)") or low.get("test time")
    need = {
        "time (TestTime)": time_col,
        "Amps": low.get("amps"),
        "Volts": low.get("volts"),
        "State": low.get("state"),
    }
    missing = [k for k, v in need.items() if v is None]
    if missing:
        raise DataFormatError(f"{path.name}: Maccor export without column(s) {missing}")
    notes: list[str] = []
    df = _check_last_row(path.name, df, [c for c in need.values() if c], allow_truncated, notes)
    t = _maccor_seconds(df[time_col].str.strip(), path.name)
    amps = pd.to_numeric(df[low["amps"]], errors="coerce").to_numpy(dtype=float)
    volts = pd.to_numeric(df[low["volts"]], errors="coerce").to_numpy(dtype=float)
    state = df[low["state"]].fillna("").str.strip().str.upper().to_numpy()
    # Maccor's State is authoritative for the direction (C charge, D discharge, R rest;
    # others: O/S/FRA...); some setups export unsigned Amps, so sign them by the state.
    current = np.where(state == "C", np.abs(amps), np.where(state == "D", -np.abs(amps), amps))
    cycle = df[low["cyc#"]] if "cyc#" in low else None
    step = df[low["step"]] if "step" in low else None
    if "amp-hr" in low:
        ah = pd.to_numeric(df[low["amp-hr"]], errors="coerce").to_numpy(dtype=float)
        reset = _changes(pd.to_numeric(step, errors="coerce")) if step is not None else None
        inc = _increments(ah, reset)  # Amp-hr restarts at every step
        qc_inc, qd_inc = np.where(state == "C", inc, 0.0), np.where(state == "D", inc, 0.0)
    else:
        notes.append("no Amp-hr column: capacity integrated from current")
        qc_inc, qd_inc = _integrated_increments(t, current)
    other = sorted(set(state) - {"C", "D", "R", ""})
    if other:
        notes.append(
            f"rows in Maccor states {other} (not charge/discharge/rest; FRA = impedance "
            "points, whose TestTime does not advance) kept with their current"
        )
    if not np.any(np.isin(state, ["C", "D"])):
        notes.append("no charge or discharge rows: rest and other steps only")
    data = _assemble(path.name, t, volts, current, cycle, step, qc_inc, qd_inc)
    return CyclerRun(data, "maccor", str(path), tuple(notes), metadata)


def _biologic_time(values: pd.Series, name: str, notes: list[str]) -> np.ndarray:
    """EC-Lab ``time/s``: seconds (decimal point or comma), or absolute dates when exported
    with 'Absolute' time."""
    numeric = tables._to_numeric(values)
    if numeric.notna().all():
        return numeric.to_numpy(dtype=float)
    text = values.astype(str).str.strip()
    for fmt, label in (
        ("%m/%d/%Y %H:%M:%S.%f", "MM/DD/YYYY"),
        ("%d/%m/%Y %H:%M:%S.%f", "DD/MM/YYYY"),
        ("%m/%d/%Y %H:%M:%S", "MM/DD/YYYY"),
        ("%d/%m/%Y %H:%M:%S", "DD/MM/YYYY"),
        ("%Y-%m-%d %H:%M:%S.%f", "ISO"),
    ):
        stamps = pd.to_datetime(text, format=fmt, errors="coerce")
        if stamps.notna().all():
            secs = (stamps - stamps.iloc[0]).dt.total_seconds().to_numpy()
            if np.all(np.diff(secs) >= 0):
                notes.append(
                    f"time exported as absolute dates ({label}); converted to seconds "
                    "from the first row"
                )
                return secs
    raise DataFormatError(
        f"{name}: cannot read the time/s column (neither seconds nor dates "
        f"like '{text.iloc[0]}'); export with relative time in seconds"
    )


_ECLAB_V = ("Ecell/V", "Ewe/V", "<Ewe>/V", "<Ecell>/V")
_ECLAB_I = ("I/mA", "<I>/mA", "I/A", "<I>/A", "I/uA", "I/µA")
_ECLAB_DQ = ("dq/mA.h", "dQ/mA.h", "dq/C", "dQ/C")


def _num(raw: pd.DataFrame, col: str) -> np.ndarray:
    """Column as floats in the base unit of its header (decimal commas accepted)."""
    found = tables.parse_header(col)[2]
    values = tables._to_numeric(raw[col]).to_numpy(dtype=float)
    if found is None and col.endswith("/C"):  # coulombs -> Ah
        return values / 3600.0
    return values * (found[1] if found else 1.0)


def _biologic_frame(
    raw: pd.DataFrame, name: str, allow_truncated: bool, notes: list[str]
) -> pd.DataFrame:
    """EC-Lab columns (a text export or galvani's .mpr frame: same labels) -> schema.

    Current: the measured ``I``/``<I>`` column; a binary GCPL file that stores only the
    charge increments gets ``I = dq/dt`` (said in the notes). Capacity: EC-Lab's
    ``Q charge``/``Q discharge`` counters when exported, else the signed charge increments
    ``dq`` (positive: charge), else the integrated current. The set point
    ``control/V/mA`` is never used as a measurement.
    """
    cols = [c for c in raw.columns if isinstance(c, str)]
    stripped = {c.strip(): c for c in cols}
    time_col = next((stripped[c] for c in ("time/s", "time/h", "time/min") if c in stripped), None)
    v_col = next((stripped[c] for c in _ECLAB_V if c in stripped), None)
    i_col = next((stripped[c] for c in _ECLAB_I if c in stripped), None)
    dq_col = next((stripped[c] for c in _ECLAB_DQ if c in stripped), None)
    missing = [
        n
        for n, c in (("time/s", time_col), ("Ecell/V or Ewe/V", v_col), ("I/mA", i_col or dq_col))
        if c is None
    ]
    if missing:
        raise DataFormatError(
            f"{name}: EC-Lab data without column(s) {missing}; select "
            "them in EC-Lab's text export variables"
        )
    raw = _check_last_row(
        name, raw, [c for c in (time_col, v_col, i_col) if c], allow_truncated, notes
    )
    t = _biologic_time(raw[time_col], name, notes)
    t = t * tables.parse_header(time_col)[2][1]
    v = _num(raw, v_col)
    dq = _num(raw, dq_col) if dq_col else None
    if i_col is not None:
        i = _num(raw, i_col)
    else:
        assert dq is not None
        dt = np.diff(t, prepend=t[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            i = np.where(dt > 0, dq * 3600.0 / dt, 0.0)
        notes.append(f"no current column: I = dq/dt from {dq_col!r}")
    cycle = raw["cycle number"] if "cycle number" in raw.columns else None
    step = raw["Ns"] if "Ns" in raw.columns else None
    if cycle is None:
        notes.append("no 'cycle number' column: cycle left empty")
    qc_col = next((c for c in cols if c.startswith("Q charge/") and "discharge" not in c), None)
    qd_col = next((c for c in cols if c.startswith("Q discharge/")), None)
    if qc_col and qd_col:
        # EC-Lab restarts Q charge / Q discharge at every charge/discharge alternation
        qc_inc = _increments(_num(raw, qc_col))
        qd_inc = _increments(_num(raw, qd_col))
    elif dq is not None:
        d = np.nan_to_num(dq)
        qc_inc, qd_inc = np.clip(d, 0, None), np.clip(-d, 0, None)
        notes.append(f"capacity from the charge increments {dq_col!r}")
    else:
        notes.append("no 'Q charge'/'Q discharge' columns: capacity integrated from current")
        qc_inc, qd_inc = _integrated_increments(t, i)
    return _assemble(name, t, v, i, cycle, step, qc_inc, qd_inc)


def _read_biologic(path: Path, allow_truncated: bool) -> CyclerRun:
    notes: list[str] = []
    raw = tables.read_raw_table(path)
    if "cycle_index" in raw.columns:
        notes.append(
            "column 'cycle_index' (added by other software) ignored; EC-Lab's 'cycle number' used"
        )
    data = _biologic_frame(raw, path.name, allow_truncated, notes)
    meta: dict[str, Any] = {}
    mpl = path.with_suffix(".mpl")
    if mpl.is_file():
        for line in mpl.read_bytes().decode("latin-1").splitlines()[:80]:
            if " : " in line:
                k, _, val = line.partition(" : ")
                if k.strip() in (
                    "Run on channel",
                    "Mass of active material",
                    "Battery capacity",
                    "Electrode surface area",
                    "Acquisition started on",
                    "Device",
                ):
                    meta[k.strip()] = val.strip()
    return CyclerRun(data, "biologic", str(path), tuple(notes), meta)


def _read_novonix(path: Path, allow_truncated: bool) -> CyclerRun:
    text = tables._read_text(path)
    lines = text.splitlines()
    try:
        k = next(n for n, ln in enumerate(lines) if ln.strip().strip('"') == "[Data]")
    except StopIteration:
        raise DataFormatError(
            f"{path.name}: Novonix file without a [Data] section: the export "
            "stopped in its header; export it again"
        ) from None
    meta: dict[str, Any] = {}
    for ln in lines[:k]:
        if ": " in ln and not ln.startswith(("[", " ", '"')):
            key, _, val = ln.partition(": ")
            meta[key.strip()] = val.strip()
    # data rows are whole lines in quotes: "a,b,c"
    body = [ln.strip().strip('"') for ln in lines[k + 1 :] if ln.strip()]
    if len(body) < 2:
        raise DataFormatError(f"{path.name}: Novonix [Data] section has no data rows")
    df = pd.read_csv(io.StringIO("\n".join(body)), sep=",", dtype=str, index_col=False)
    df.columns = [c.strip() for c in df.columns]
    names = {tables.parse_header(c)[0].lower(): c for c in df.columns}
    need = {"run time": "Run Time (h)", "current": "Current (A)", "potential": "Potential (V)"}
    missing = [v for kk, v in need.items() if kk not in names]
    if missing:
        raise DataFormatError(f"{path.name}: Novonix data without column(s) {missing}")
    notes: list[str] = []
    df = _check_last_row(path.name, df, [names[kk] for kk in need], allow_truncated, notes)

    def num(key: str) -> np.ndarray:
        c = names[key]
        found = tables.parse_header(c)[2]
        return pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float) * (
            found[1] if found else 1.0
        )

    t, i, v = num("run time"), num("current"), num("potential")
    cycle = df[names["cycle number"]] if "cycle number" in names else None
    step = df[names["step number"]] if "step number" in names else None
    if "capacity" in names:
        # One counter for both directions; it carries on across the CC and CV steps of a
        # charge (it does not restart at each step). Direction from the current sign
        # (Novonix step-type codes are not reliable for this: type 8 holds can charge).
        inc = _increments(num("capacity"))
        sign = pd.Series(np.sign(i)).replace(0.0, np.nan).ffill().fillna(0.0).to_numpy()
        qc_inc, qd_inc = np.where(sign > 0, inc, 0.0), np.where(sign < 0, inc, 0.0)
    else:
        notes.append("no Capacity column: capacity integrated from current")
        qc_inc, qd_inc = _integrated_increments(t, i)
    data = _assemble(path.name, t, v, i, cycle, step, qc_inc, qd_inc)
    return CyclerRun(data, "novonix", str(path), tuple(notes), meta)


_CYCLE_NAMES = ("cycle", "cycle number", "cycle_index", "cycle index", "cyc#", "cycle_number")
_STEP_NAMES = ("step", "step number", "step_index", "step index", "ns", "step_number")


def _read_table_cycler(path: Path, allow_truncated: bool) -> CyclerRun:
    notes: list[str] = []
    df = tables.read_table(path)
    t = tables.pick(
        df,
        "time",
        prefer=("test time", "test_time", "run time", "total time", "time"),
        avoid=("control", "step", "cycle time"),
    )
    v = tables.pick(
        df,
        "voltage",
        prefer=("ecell", "ewe", "cell", "voltage", "potential"),
        avoid=("control", "|"),
    )
    i = tables.pick(df, "current", prefer=("current", "<i>", "i"), avoid=("control", "|"))
    cols = tables.columns_of(df)
    df = _check_last_row(path.name, df, [t.name, v.name, i.name], allow_truncated, notes)
    t, v, i = (s.iloc[: len(df)].to_numpy(dtype=float) for s in (t, v, i))
    low = {c.name.lower().strip(): c.key for c in cols}
    cycle = next((df[low[n]] for n in _CYCLE_NAMES if n in low), None)
    step = next((df[low[n]] for n in _STEP_NAMES if n in low), None)
    charge_cols = [c for c in cols if c.dimension == "charge"]
    qc = next(
        (c for c in charge_cols if "charge" in c.name.lower() and "dis" not in c.name.lower()), None
    )
    qd = next((c for c in charge_cols if "discharge" in c.name.lower()), None)
    if qc and qd:
        qc_inc = _increments(df[qc.key].to_numpy(dtype=float))
        qd_inc = _increments(df[qd.key].to_numpy(dtype=float))
    elif len(charge_cols) == 1:
        inc = _increments(df[charge_cols[0].key].to_numpy(dtype=float))
        sign = pd.Series(np.sign(i)).replace(0.0, np.nan).ffill().fillna(0.0).to_numpy()
        qc_inc, qd_inc = np.where(sign > 0, inc, 0.0), np.where(sign < 0, inc, 0.0)
        notes.append(
            f"one capacity column ({charge_cols[0].label}): split into charge and "
            "discharge by the current sign"
        )
    else:
        qc_inc, qd_inc = _integrated_increments(t, i)
        notes.append("no capacity columns: capacity integrated from current")
    if cycle is None:
        notes.append("no cycle column: cycle left empty")
    data = _assemble(path.name, t, v, i, cycle, step, qc_inc, qd_inc)
    return CyclerRun(data, "table", str(path), tuple(notes))


_READERS = {
    "arbin": _read_arbin,
    "maccor": _read_maccor,
    "biologic": _read_biologic,
    "novonix": _read_novonix,
    "table": _read_table_cycler,
}


def read_cycler(
    path: str | Path, instrument: str | None = None, *, allow_truncated: bool = False
) -> CyclerRun:
    """Read a cycler export into the normalised schema (:data:`SCHEMA`).

    Parameters
    ----------
    path : str or Path
        The export file.
    instrument : str, optional
        Force a reader (one of :data:`INSTRUMENTS`); detected from the content otherwise.
    allow_truncated : bool
        Drop an incomplete last row (an export cut mid-line) instead of refusing the file.

    Returns
    -------
    CyclerRun

    Raises
    ------
    DataFormatError
        Empty, truncated, procedure or settings files; missing time/voltage/current
        columns; time running backwards.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"no such file: {path}")
    if instrument is None:
        instrument = detect_cycler(path)
    elif instrument not in _READERS:
        raise DataFormatError(f"unknown instrument {instrument!r}; use one of {list(_READERS)}")
    if path.suffix.lower() == ".mpr":
        return _read_mpr_cycler(path)
    return _READERS[instrument](path, allow_truncated)


def _read_mpr_cycler(path: Path) -> CyclerRun:
    """BioLogic binary through galvani, then the same mapping as the text exports."""
    raw = tables.read_mpr(path)
    notes: list[str] = ["read with galvani (BioLogic binary .mpr)"]
    data = _biologic_frame(raw, path.name, False, notes)
    return CyclerRun(data, "biologic", str(path), tuple(notes))
