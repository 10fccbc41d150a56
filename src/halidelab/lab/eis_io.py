"""Readers for impedance spectra: instrument exports and plain tables.

:func:`read_spectrum` recognises the instrument from the file's content (not only its
suffix) and reads it with impedance.py's readers (:mod:`impedance.preprocessing`) where
those work: Gamry ``.DTA``, BioLogic EC-Lab ``.mpt``, ZPlot/ZView ``.z``, Autolab, CH
Instruments, Parstat, PowerSuite and VersaStudio ``.par``. Around them this module adds
what they lack, so a bad file gives one clear line instead of an ``IndexError``:

- empty file, no data rows, fewer than three points;
- a truncated file (the last row shorter than the rows before it): rejected, with the
  line number, because a row cut inside a number would give a silently wrong value;
- a missing column (BioLogic exports without ``freq/Hz``): rejected, naming the
  column and listing those present;
- an aborted or incomplete sweep (Gamry ``EXPERIMENTABORTED``, a ZPlot/Gamry sweep
  that stops short of its planned final frequency): **read and warned**. The points
  measured before the abort are valid impedances, and the high-frequency part is what
  the bulk resistance of a pellet comes from; the warning (``ImpedanceSpectrum.warnings``
  and a Python :class:`EISDataWarning`) says how far the sweep got, so a user can
  decide whether the missing low-frequency end matters for the fit.

Plain CSV/TXT tables (comma, tab, semicolon or space separated) are read with pandas:
headers name the columns (``freq``/``frequency``/``f``, ``Z'``/``Re(Z)``/``Zreal``,
``Z''``/``Im(Z)``/``-Im(Z)``/``-Z''``/``Zimag``), units are taken from the header
(``Hz``, ``kHz``, ``MHz``; ``ohm``, ``kohm``, ``Mohm``, ``Ω``), and a leading minus in the
header (``-Z''``, ``-Im(Z)``) flips the sign. Without a header the first three columns
are frequency (Hz), Z' and Z'' (ohm), as impedance.py's ``readCSV`` assumes.

Convention everywhere in halidelab: ``Z = Z' + j Z''`` in ohm with ``Z'' < 0`` for a
capacitive response (plots show ``-Z''``). When a table's imaginary column is mostly
positive while its header does not say ``-``, the sign is ambiguous; ``imag_sign="auto"``
(default) assumes it is ``-Z''`` (the common export) and records a warning.

Temperatures come from the file name (``pellet_25C.DTA``, ``LZNC_60degC.mpt``,
``cell_298K.z``, ``_-20C``) or, where an instrument writes one, from the file's metadata.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from pathlib import Path
from typing import Literal

import numpy as np

from halidelab.constants import ZERO_C_K
from halidelab.errors import DataFormatError
from halidelab.records import Provenance, Record

ImagSign = Literal["auto", "Im", "-Im"]

#: impedance.py instrument names this module recognises
INSTRUMENTS = (
    "gamry",
    "biologic",
    "zplot",
    "autolab",
    "chinstruments",
    "parstat",
    "powersuite",
    "versastudio",
    "novocontrol",
    "table",
)


class EISDataWarning(UserWarning):
    """A file that was read but has something to be aware of (aborted sweep...)."""


@dataclasses.dataclass(frozen=True)
class ImpedanceSpectrum(Record):
    """One impedance spectrum, sorted by decreasing frequency.

    Attributes
    ----------
    frequency_Hz : tuple of float
        Frequencies in Hz (positive, decreasing).
    z_real_ohm, z_imag_ohm : tuple of float
        Z' and Z'' in ohm, ``Z = Z' + j Z''`` (``Z'' < 0`` for a capacitive response).
    source : str
        File it came from (or a label for synthetic data).
    instrument : str
        Reader that was used (one of :data:`INSTRUMENTS`, or ``"synthetic"``).
    temperature_K : float or None
        Temperature in K from the file name or metadata, if any.
    warnings : tuple of str
        What the reader noticed (aborted sweep, sign assumed...).
    provenance : Provenance
    """

    frequency_Hz: tuple[float, ...]
    z_real_ohm: tuple[float, ...]
    z_imag_ohm: tuple[float, ...]
    source: str = ""
    instrument: str = "synthetic"
    temperature_K: float | None = None
    warnings: tuple[str, ...] = ()
    provenance: Provenance = dataclasses.field(
        default_factory=lambda: Provenance(method="eis-read")
    )

    @property
    def f(self) -> np.ndarray:
        """Frequencies in Hz as an array."""
        return np.asarray(self.frequency_Hz, dtype=float)

    @property
    def z(self) -> np.ndarray:
        """Complex impedance in ohm as an array."""
        return np.asarray(self.z_real_ohm, dtype=float) + 1j * np.asarray(
            self.z_imag_ohm, dtype=float
        )

    @property
    def n_points(self) -> int:
        """Number of frequencies."""
        return len(self.frequency_Hz)

    @classmethod
    def from_arrays(
        cls,
        frequency_Hz,
        z,
        *,
        source: str = "",
        instrument: str = "synthetic",
        temperature_K: float | None = None,
        warnings: tuple[str, ...] = (),
        method: str = "eis-read",
        parameters: dict | None = None,
    ) -> ImpedanceSpectrum:
        """Build a checked spectrum from arrays (frequency in Hz, complex Z in ohm).

        Raises
        ------
        DataFormatError
            Different lengths, non-finite values, non-positive frequencies, < 3 points.
        """
        f = np.asarray(frequency_Hz, dtype=float).ravel()
        zz = np.asarray(z, dtype=complex).ravel()
        label = source or "spectrum"
        if f.size != zz.size:
            raise DataFormatError(f"{label}: {f.size} frequencies but {zz.size} impedances")
        good = np.isfinite(f) & np.isfinite(zz.real) & np.isfinite(zz.imag)
        if not np.all(good):
            raise DataFormatError(
                f"{label}: {np.sum(~good)} points are not finite numbers "
                "(nan/inf): clean the export and read it again"
            )
        n_zero = int(np.sum(np.abs(zz) == 0))
        if n_zero:
            raise DataFormatError(
                f"{label}: the impedance is zero at {n_zero} of its points: "
                "not a measured spectrum (a short circuit or an empty "
                "export); check the file"
            )
        if np.any(np.abs(zz) > 1e20) or np.any(f > 1e12):
            raise DataFormatError(
                f"{label}: values beyond any impedance analyser (|Z| up to "
                f"{np.max(np.abs(zz)):.3g} ohm, f up to {f.max():.3g} Hz): "
                "wrong columns or units?"
            )
        if np.any(f <= 0):
            raise DataFormatError(
                f"{label}: frequencies must be positive (found {f.min():g} Hz); "
                "is the frequency column the right one?"
            )
        if f.size < 3:
            raise DataFormatError(
                f"{label}: only {f.size} data points; an impedance spectrum "
                "needs at least 3 frequencies"
            )
        order = np.argsort(-f, kind="stable")
        return cls(
            frequency_Hz=tuple(f[order].tolist()),
            z_real_ohm=tuple(zz.real[order].tolist()),
            z_imag_ohm=tuple(zz.imag[order].tolist()),
            source=str(source),
            instrument=instrument,
            temperature_K=temperature_K,
            warnings=tuple(warnings),
            provenance=Provenance(method=method, parameters=dict(parameters or {})),
        )


# --------------------------------------------------------------------------- temperature

_T_IN_NAME = re.compile(
    r"(?<![A-Za-z0-9.])(\d+(?:[.p]\d+)?)\s*(°\s*C|deg\s*C|deg|o\s*C|C|K)(?![A-Za-z])", re.I
)
_T_EQUALS = re.compile(
    r"(?<![A-Za-z])T\s*=\s*(-?\d+(?:[.p]\d+)?)\s*(°\s*C|deg\s*C|deg|C|K)?(?![A-Za-z])"
)
#: a bare number (``T=25``) up to this is read as deg C, from BARE_MIN_K up as K
BARE_MAX_C, BARE_MIN_K = 150.0, 200.0


def _kelvin(value: float, unit: str | None, name: str) -> float:
    u = (unit or "").replace(" ", "").replace("°", "").lower()
    if u == "k":
        return value
    if u in ("c", "degc", "deg", "oc"):
        return value + ZERO_C_K
    if value <= BARE_MAX_C:
        return value + ZERO_C_K
    if value >= BARE_MIN_K:
        return value
    raise DataFormatError(
        f"file name {name!r}: T={value:g} without a unit could be deg C or K; "
        "write the unit in the name (T=175C) or pass --temperatures"
    )


def temperature_from_name(name: str | Path) -> float | None:
    """Temperature in K written in a file name, or None.

    Recognises ``25C``, ``25degC``, ``25deg``, ``25°C``, ``25 °C``, ``25oC``, ``298K``,
    ``-20C`` (after ``_`` or a space), ``37p5C`` (p for the decimal point) and ``T=25``
    (a bare number up to 150 is deg C, from 200 up K, in between ambiguous), in the file's
    stem; digits glued to letters (``Cl6``, ``x0.2``) do not count.

    Raises
    ------
    DataFormatError
        The name holds two different temperatures, or an ambiguous bare ``T=``; the
        message asks for ``--temperatures``.
    """
    full = Path(str(name)).name
    stem = full
    if "." in stem and not re.search(r"\.\d+\s*(°\s*)?[CcKk]$", stem):
        stem = stem[: stem.rfind(".")]
    found = []
    spans = []
    for m in _T_EQUALS.finditer(stem):
        found.append(round(_kelvin(float(m.group(1).replace("p", ".")), m.group(2), full), 6))
        spans.append(m.span())
    for m in _T_IN_NAME.finditer(stem):
        if any(a <= m.start() < b for a, b in spans):
            continue
        value = float(m.group(1).replace("p", ".").replace("P", "."))
        i = m.start(1)
        if i >= 1 and stem[i - 1] == "-" and (i == 1 or stem[i - 2] in "_ ("):
            value = -value
        kelvin = _kelvin(value, m.group(2), full)
        if kelvin > 0:
            found.append(round(kelvin, 6))
    if not found:
        return None
    if len(set(found)) > 1:
        raise DataFormatError(
            f"file name {full!r} holds several temperatures "
            f"({', '.join(f'{t:.2f} K' for t in found)}): pass them with "
            "--temperatures (one per file, e.g. 25C,40C,60C)"
        )
    return found[0]


def parse_temperature(text: str) -> float:
    """A temperature typed by a user, in K: ``25C``, ``25degC``, ``298K``, ``-20C``, or a
    bare number (up to 150: deg C; from 200: K; in between refused as ambiguous).

    Raises
    ------
    DataFormatError
        Not a temperature, or an ambiguous bare number, or below 0 K.
    """
    t = str(text).strip()
    try:
        value = float(t)
    except ValueError:
        value = None
    if value is not None:
        if BARE_MAX_C < value < BARE_MIN_K:
            raise DataFormatError(
                f"temperature {text!r} could be deg C or K: add the unit (e.g. 175C or 175K)"
            )
        kelvin = _kelvin(value, None, t)
    else:
        neg = t.startswith("-")
        kelvin = temperature_from_name("_" + t.lstrip("-+")) if t else None
        if kelvin is not None and neg:
            kelvin = 2 * ZERO_C_K - kelvin if t.lower().endswith("c") else -kelvin
        if kelvin is None:
            raise DataFormatError(f"cannot read temperature {text!r}: write e.g. 25C, 298K or -20C")
    if kelvin <= 0:
        raise DataFormatError(f"temperature {text!r} is below absolute zero")
    return kelvin


_T_META = re.compile(
    r"temp(?:erature)?\.?\"?\s*(?:[\(\[]\s*(°?\s*C|K|deg\s*C)\s*[\)\]])?\s*[:=\t ]\s*"
    r"(-?\d+(?:[.,]\d+)?)\s*(°\s*C|deg\s*C|C|K)?(?![A-Za-z0-9])",
    re.I,
)


def _temperature_from_metadata(lines: list[str], instrument: str) -> float | None:
    """Temperature a header line states (``Temperature: 25 C``, ``Temp (K) = 298``,
    Novocontrol's ``Temperature [°C]=25.0``); a value without a unit is not used."""
    for line in lines[:200]:
        m = _T_META.search(line.replace("\t", " "))
        if m:
            unit = (m.group(1) or m.group(3) or "").replace(" ", "").upper()
            if not unit:
                continue
            value = float(m.group(2).replace(",", "."))
            kelvin = value if unit == "K" else value + ZERO_C_K
            if kelvin > 0:
                return kelvin
    if instrument == "gamry":  # Gamry writes a Temp column (deg C; -327.67 = no probe)
        temps = _gamry_column(lines, "OCVCURVE", "Temp")
        temps = [t for t in temps if t > -273.0]
        if temps:
            return float(np.median(temps)) + ZERO_C_K
    return None


def _gamry_column(lines: list[str], table: str, column: str) -> list[float]:
    for i, line in enumerate(lines):
        if line.startswith(table):
            head = lines[i + 1].split("\t") if i + 1 < len(lines) else []
            head = [h.strip() for h in head]
            if column not in head:
                return []
            k = head.index(column)
            out = []
            for row in lines[i + 3 :]:
                if not row.startswith("\t"):
                    break
                parts = row.split("\t")
                try:
                    out.append(float(parts[k]))
                except (ValueError, IndexError):
                    break
            return out
    return []


# --------------------------------------------------------------------------- detection


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    if not raw.strip():
        raise DataFormatError(f"{path.name}: the file is empty")
    if b"\x00" in raw[:4096]:
        raise DataFormatError(
            f"{path.name}: this is a binary file; export the spectrum as "
            "text (EC-Lab: .mpt, Gamry: .DTA) and read that"
        )
    for enc in ("utf-8-sig", "latin-1"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1", errors="replace")  # pragma: no cover - latin-1 never fails


def detect_instrument(path: str | Path, text: str | None = None) -> str:
    """Which reader a file needs, from its content (then its suffix).

    Returns one of :data:`INSTRUMENTS`; ``"table"`` for plain CSV/TXT tables.
    """
    p = Path(path)
    text = _read_text(p) if text is None else text
    head = text[:4000]
    first = head.lstrip().splitlines()[0] if head.strip() else ""
    if first.startswith("EXPLAIN") or "ZCURVE" in text:
        return "gamry"
    if first.startswith("EC-Lab ASCII FILE"):
        return "biologic"
    if first.startswith("ZPLOT2 ASCII") or "ZPlotW Data File" in first:
        return "zplot"
    if "Z60W Data File" in first:
        return "autolab"
    if "A.C. Impedance" in head and "Freq/Hz" in head:
        return "chinstruments"
    if "<Application>" in head and "VersaStudio" in head:
        return "versastudio"
    if first.startswith("Potential (V)") and "Zre (ohms)" in first:
        return "parstat"
    if re.match(r"^Frequency\s+Zre\s+Zimg\s*$", first):
        return "powersuite"
    return "table"


# --------------------------------------------------------------------------- checks


def _fields(line: str) -> list[str]:
    return [x for x in re.split(r"[,\t;]|\s+", line.strip()) if x != ""]


def _check_truncated(name: str, text: str, instrument: str) -> None:
    """Reject a file whose last data row is shorter than the rows before it."""
    if instrument == "versastudio":  # data sit inside an XML-like block, not at the end
        return
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) < 2:
        return
    last, prev = _fields(lines[-1]), _fields(lines[-2])
    numeric_prev = all(_is_number(x) or x.strip(".") == "" for x in prev[:3])
    if numeric_prev and 0 < len(last) < len(prev):
        raise DataFormatError(
            f"{name}: the file looks truncated: its last row (line {len(text.splitlines())}) "
            f"has {len(last)} of {len(prev)} fields ({lines[-1].strip()[:40]!r}); re-export it "
            "or delete the incomplete row"
        )
    if numeric_prev and last and not all(_is_number(x) or x.strip(".") == "" for x in last[:3]):
        raise DataFormatError(
            f"{name}: the file looks truncated or corrupted: its last row "
            f"{lines[-1].strip()[:40]!r} is not numeric; re-export it"
        )


def _is_number(x: str) -> bool:
    try:
        float(x.replace(",", "."))
    except ValueError:
        return False
    return True


def _check_biologic_columns(name: str, text: str) -> None:
    lines = text.splitlines()
    try:
        n_header = int(lines[1].split(":")[1])
    except (IndexError, ValueError):
        raise DataFormatError(
            f"{name}: EC-Lab header line 2 should read 'Nb header lines : N'; "
            "the file is damaged or not an EC-Lab .mpt export"
        ) from None
    if len(lines) < n_header:
        raise DataFormatError(
            f"{name}: the header says {n_header} lines but the file has "
            f"{len(lines)}: truncated before the data"
        )
    headers = [h.strip() for h in lines[n_header - 1].split("\t")]
    missing = [c for c in ("freq/Hz", "Re(Z)/Ohm", "-Im(Z)/Ohm") if c not in headers]
    if missing:
        present = ", ".join(h for h in headers if h)
        raise DataFormatError(
            f"{name}: column {' and '.join(repr(m) for m in missing)} missing from the EC-Lab "
            f"export (columns present: {present[:200]}); export again with "
            "freq/Hz, Re(Z)/Ohm and -Im(Z)/Ohm selected"
        )
    if len(lines) <= n_header:
        raise DataFormatError(f"{name}: the EC-Lab file has a header but no data rows")


def _planned_final_frequency(text: str, instrument: str) -> float | None:
    if instrument == "gamry":
        m = re.search(r"^FREQFINAL\s+QUANT\s+([-+0-9.Ee]+)", text, re.M)
    elif instrument == "zplot":
        m = re.search(r"vs Freq-Final:\s*([-+0-9.Ee]+)", text)
    else:
        return None
    return float(m.group(1)) if m else None


# --------------------------------------------------------------------------- tables

_UNIT_F = {"hz": 1.0, "khz": 1e3, "mhz": 1e6, "ghz": 1e9}
_UNIT_Z = {
    "ohm": 1.0,
    "ohms": 1.0,
    "Ω": 1.0,
    "kohm": 1e3,
    "kohms": 1e3,
    "kΩ": 1e3,
    "mohm": 1e6,
    "mohms": 1e6,
    "MΩ": 1e6,
    "mΩ": 1e-3,
    "gohm": 1e9,
}


def _header_unit(header: str, table: dict[str, float], default: float) -> tuple[float, str]:
    """Unit factor from ``name (unit)``, ``name [unit]`` or ``name/unit``."""
    candidates = re.findall(r"[\(\[]\s*([^\)\]]+?)\s*[\)\]]", header)
    if "/" in header:
        candidates.append(header.rsplit("/", 1)[1].strip(" )]"))
    for cand in reversed(candidates):
        key = cand.replace(" ", "")
        if key in ("MΩ", "mΩ", "kΩ", "Ω"):
            return table.get(key, default), key
        # "MOhm" is mega-ohm, "mohm" ambiguous: treat lower-case "mohm" as mega (as
        # ZView/EC-Lab write it); milli-ohm must be written "mΩ" or "mOhm"
        if key == "mOhm":
            return 1e-3, key
        if key.lower() in table:
            return table[key.lower()], key
    return default, ""


def _classify_column(header: str) -> str | None:
    h = header.strip().strip('"').lower().replace(" ", "")
    h_nounit = re.sub(r"[\(\[][^\)\]]*[\)\]]$", "", h)
    if not h_nounit.startswith(("re(", "im(", "-im(")):
        h_nounit = h_nounit.split("/")[0]
    if re.match(r"^(freq(uency)?\.?|f)(\(|\[|/|$)", h) or h_nounit in (
        "freq",
        "frequency",
        "f",
        "freq.",
    ):
        return "f"
    if h_nounit.startswith(("|z|", "mod", "phase", "phi", "theta")):
        return None
    neg = h_nounit.startswith("-")
    core = h_nounit.lstrip("-")
    if core.startswith(
        (
            "z''",
            'z"',
            "zs''",
            'zs"',
            "im(z)",
            "zimag",
            "zim",
            "z_im",
            "zimg",
            "imz",
            "z2",
            "z_imag",
            "imag",
        )
    ):
        return "-im" if neg else "im"
    if core.startswith(
        ("z'", "zs'", "re(z)", "zreal", "zre", "z_re", "rez", "z1", "z_real", "real")
    ):
        return "re"
    return None


def _read_table(
    path: Path, text: str, imag_sign: ImagSign
) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """A plain text table: header row anywhere in the first lines, any separator, decimal
    commas with exponents. Returns f, Z, notes and the preamble lines above the header."""
    from halidelab.lab.tables import _frame_from_lines, _to_numeric

    notes: list[str] = []
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise DataFormatError(f"{path.name}: no data rows (only comments or blank lines)")
    df = _frame_from_lines(lines, path.name)
    preamble = list(df.attrs.get("preamble", []))
    has_header = not all(str(c).isdigit() for c in df.columns)
    if has_header:
        kinds = {c: _classify_column(str(c)) for c in df.columns}
        fcol = next((c for c, k in kinds.items() if k == "f"), None)
        rcol = next((c for c, k in kinds.items() if k == "re"), None)
        icol = next((c for c, k in kinds.items() if k in ("im", "-im")), None)
        missing = [
            n
            for n, c in (
                ("frequency", fcol),
                ("Z' (real part)", rcol),
                ("Z'' (imaginary part)", icol),
            )
            if c is None
        ]
        if missing:
            raise DataFormatError(
                f"{path.name}: no {' or '.join(missing)} column among the headers "
                f"{[str(c) for c in df.columns]}; name them e.g. 'freq/Hz', \"Z'/ohm\", "
                "\"-Z''/ohm\""
            )
        ff, uf = _header_unit(str(fcol), _UNIT_F, 1.0)
        fr, ur = _header_unit(str(rcol), _UNIT_Z, 1.0)
        fi, _ = _header_unit(str(icol), _UNIT_Z, 1.0)
        if not uf:
            notes.append("no frequency unit in the header: Hz assumed")
        if not ur:
            notes.append("no impedance unit in the header: ohm assumed")
        cols = [fcol, rcol, icol]
        stated_neg = kinds[icol] == "-im"
    else:
        if df.shape[1] < 3:
            raise DataFormatError(
                f"{path.name}: {df.shape[1]} columns without a header; expected "
                "frequency (Hz), Z' (ohm), Z'' (ohm)"
            )
        cols = list(df.columns[:3])
        ff = fr = fi = 1.0
        stated_neg = None
    data = np.column_stack([_to_numeric(df[c]).to_numpy(dtype=float) for c in cols])
    bad = ~np.all(np.isfinite(data), axis=1)
    if np.all(bad):
        raise DataFormatError(f"{path.name}: no numeric data rows")
    if np.any(bad):
        rows = np.flatnonzero(bad)[:5] + (2 if has_header else 1) + len(preamble)
        raise DataFormatError(
            f"{path.name}: non-numeric or missing values in data rows "
            f"{', '.join(map(str, rows))}: fix or remove them"
        )
    f = data[:, 0] * ff
    zr = data[:, 1] * fr
    zi = data[:, 2] * fi
    if imag_sign == "-Im" or (imag_sign == "auto" and stated_neg):
        zi = -zi
    elif imag_sign == "auto" and not stated_neg:
        if np.mean(zi > 0) > 0.5 and np.mean(np.abs(zi)) > 1e-3 * np.mean(np.abs(zr)):
            zi = -zi
            notes.append(
                "imaginary column is mostly positive: read as -Z'' (say --imag-sign Im "
                "if it really is Z'')"
            )
    return f, zr + 1j * zi, notes, preamble


def _read_eclab(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """EC-Lab impedance: binary ``.mpr`` (galvani) or text ``.mpt``, the same columns.

    Both give EC-Lab's labels (``freq/Hz``, ``Re(Z)/Ohm``, ``-Im(Z)/Ohm``); values with
    decimal commas (an export made under a European locale) are accepted.
    """
    from halidelab.lab.tables import _to_numeric, read_mpr, read_raw_table

    raw = read_mpr(path) if path.suffix.lower() == ".mpr" else read_raw_table(path)
    cols = {str(c).strip(): c for c in raw.columns}
    missing = [c for c in ("freq/Hz", "Re(Z)/Ohm", "-Im(Z)/Ohm") if c not in cols]
    if missing:
        present = ", ".join(str(c) for c in list(cols)[:15])
        raise DataFormatError(
            f"{path.name}: column {' and '.join(repr(m) for m in missing)} missing from the "
            f"EC-Lab file (columns present: {present}); is it an impedance (PEIS/GEIS) run?"
        )
    f, re_z, mim = (
        _to_numeric(raw[cols[c]]).to_numpy(dtype=float)
        for c in ("freq/Hz", "Re(Z)/Ohm", "-Im(Z)/Ohm")
    )
    keep = np.isfinite(f) & (f > 0)  # EC-Lab writes rows without a frequency between loops
    return f[keep], re_z[keep] - 1j * mim[keep]


# --------------------------------------------------------------------------- main entry


def read_spectrum(
    path: str | Path,
    instrument: str | None = None,
    *,
    temperature_K: float | None = None,
    imag_sign: ImagSign = "auto",
) -> ImpedanceSpectrum:
    """Read one impedance spectrum from an instrument export or a plain table.

    Parameters
    ----------
    path : str or Path
        The file.
    instrument : str, optional
        Force a reader (one of :data:`INSTRUMENTS`); detected from content otherwise.
    temperature_K : float, optional
        Temperature in K; taken from the file name or metadata when not given.
    imag_sign : {"auto", "Im", "-Im"}
        For plain tables: whether the imaginary column is Z'' or -Z''.

    Returns
    -------
    ImpedanceSpectrum
        Sorted by decreasing frequency, ``Z''`` negative for capacitive behaviour.

    Raises
    ------
    DataFormatError
        Empty, truncated, missing column, unknown format, too few points.
    """
    from impedance import preprocessing as pp

    p = Path(path)
    if not p.exists():
        raise DataFormatError(f"{p}: no such file")
    if p.is_dir():
        raise DataFormatError(f"{p}: is a folder, not a spectrum file")
    if imag_sign not in ("auto", "Im", "-Im"):
        raise DataFormatError(f"imag_sign must be 'auto', 'Im' or '-Im', not {imag_sign!r}")
    if p.suffix.lower() == ".mpr" and instrument in (None, "biologic"):
        f, z = _read_eclab(p)
        return _finish(p, f, z, [], [], "biologic", temperature_K, reader="galvani (EC-Lab .mpr)")
    text = _read_text(p)
    kind = instrument or detect_instrument(p, text)
    if kind not in INSTRUMENTS:
        raise DataFormatError(f"unknown instrument {kind!r}; use one of {', '.join(INSTRUMENTS)}")
    notes: list[str] = []
    _check_truncated(p.name, text, kind)
    if kind == "biologic":
        _check_biologic_columns(p.name, text)
    if kind == "gamry":
        if "ZCURVE" not in text:
            raise DataFormatError(
                f"{p.name}: a Gamry file without a ZCURVE table: not an impedance (EIS) measurement"
            )
        if re.search(r"^EXPERIMENTABORTED\s+TOGGLE\s+T", text, re.M):
            notes.append(
                "experiment aborted (EXPERIMENTABORTED): the points measured before "
                "the abort are used"
            )
    preamble: list[str] = []
    if kind == "table":
        f, z, more, preamble = _read_table(p, text, imag_sign)
        notes += more
        if any("Fixed value" in ln or "Zs'" in ln for ln in [*preamble, *text.splitlines()[:60]]):
            kind = "novocontrol"
    elif kind == "biologic":
        f, z = _read_eclab(p)
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                f, z = pp.readFile(str(p), instrument=kind)
        except (
            ValueError,
            IndexError,
            AssertionError,
            UnboundLocalError,
            KeyError,
            UnicodeDecodeError,
        ) as exc:
            raise DataFormatError(
                f"{p.name}: the {kind} reader could not parse the data ({type(exc).__name__}: "
                f"{exc}); check the export is complete and of that instrument"
            ) from None
        f, z = np.asarray(f, dtype=float), np.asarray(z, dtype=complex)
        if f.size == 0:
            raise DataFormatError(f"{p.name}: the {kind} file holds no impedance data rows")
    planned = _planned_final_frequency(text, kind)
    if planned is not None and f.size and f.min() > 1.5 * planned:
        notes.append(
            f"sweep incomplete: last point at {f.min():.3g} Hz, planned to reach "
            f"{planned:.3g} Hz; the low-frequency end is missing"
        )
    lines = text.splitlines()
    if temperature_K is None:
        temperature_K = temperature_from_name(p.name)
    if temperature_K is None:
        temperature_K = _temperature_from_metadata(preamble or lines, kind)
    reader = {
        "table": "halidelab-table",
        "novocontrol": "halidelab-table (Novocontrol)",
        "biologic": "halidelab EC-Lab text",
    }.get(kind, "impedance.preprocessing")
    return _finish(p, f, z, notes, lines, kind, temperature_K, reader=reader)


def _finish(
    p: Path,
    f: np.ndarray,
    z: np.ndarray,
    notes: list[str],
    lines: list[str],
    kind: str,
    temperature_K: float | None,
    reader: str,
) -> ImpedanceSpectrum:
    """Common tail of every reader: repeats, temperature, warnings, the checked record."""
    if f.size == 0:
        raise DataFormatError(f"{p.name}: the {kind} file holds no impedance data rows")
    if np.unique(f).size < f.size:
        notes.append(
            f"{f.size - np.unique(f).size} frequencies repeat: the file may hold "
            "several sweeps (all points kept)"
        )
    if temperature_K is None:
        temperature_K = temperature_from_name(p.name)
    for note in notes:
        warnings.warn(f"{p.name}: {note}", EISDataWarning, stacklevel=3)
    return ImpedanceSpectrum.from_arrays(
        f,
        z,
        source=str(p),
        instrument=kind,
        temperature_K=temperature_K,
        warnings=tuple(notes),
        method="eis-read",
        parameters={"reader": reader, "instrument": kind},
    )
