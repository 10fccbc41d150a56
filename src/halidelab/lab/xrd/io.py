"""Measured powder patterns: readers (.xy/.xye/.txt/.dat, .csv, .xrdml) and an XRDML writer.

Readers take ``.xy``/``.xye``/``.txt``/``.dat`` (two or three columns), ``.csv`` (with or
without a header) and Malvern Panalytical ``.xrdml`` (XRDMeasurement schema 1.x-2.x:
``<positions axis="2Theta">`` with ``startPosition``/``endPosition`` or
``listPositions``, ``<intensities>`` or ``<counts>``, the ``usedWavelength`` block).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pymatgen.analysis.diffraction.xrd import WAVELENGTHS

from halidelab.constants import CU_KALPHA2_KALPHA1_RATIO
from halidelab.errors import DataFormatError
from halidelab.records import Provenance, Record

#: Fewest data points a pattern must have to be analysed.
MIN_POINTS = 50


# ----------------------------------------------------------------------------- readers
@dataclasses.dataclass(frozen=True)
class MeasuredPattern(Record):
    """A measured powder pattern (2θ scan).

    Attributes
    ----------
    two_theta_deg : tuple of float
        Scattering angles, increasing (deg).
    intensity : tuple of float
        Counts or counts per second as the file gives them.
    sigma : tuple of float or None
        Standard uncertainty per point where the file gives one (``.xye``).
    wavelength_A : float or None
        K-alpha1 (or single) wavelength the file states (Å), None if it does not.
    wavelength2_A : float or None
        K-alpha2 wavelength the file states (Å).
    kalpha2_ratio : float or None
        I(K-alpha2)/I(K-alpha1) the file states.
    source : str
        The file it was read from.
    file_format : str
        ``xy``, ``csv`` or ``xrdml``.
    provenance : Provenance
    """

    two_theta_deg: tuple[float, ...]
    intensity: tuple[float, ...]
    sigma: tuple[float, ...] | None
    wavelength_A: float | None
    wavelength2_A: float | None
    kalpha2_ratio: float | None
    source: str
    file_format: str
    provenance: Provenance

    @property
    def x(self) -> np.ndarray:
        """2θ as an array (deg)."""
        return np.asarray(self.two_theta_deg, dtype=float)

    @property
    def y(self) -> np.ndarray:
        """Intensity as an array."""
        return np.asarray(self.intensity, dtype=float)


def pattern_from_arrays(
    two_theta_deg: Sequence[float],
    intensity: Sequence[float],
    sigma: Sequence[float] | None = None,
    source: str = "<array>",
    file_format: str = "array",
    wavelength_A: float | None = None,
    wavelength2_A: float | None = None,
    kalpha2_ratio: float | None = None,
) -> MeasuredPattern:
    """Validate arrays and wrap them in a :class:`MeasuredPattern`.

    Rows with a non-finite value are dropped, points are sorted by angle and repeated
    angles rejected.

    Raises
    ------
    DataFormatError
        Fewer than 50 usable points, angles outside 0-180 deg, repeated angles, or an
        intensity that is flat or all zero.
    """
    name = Path(source).name
    x = np.asarray(two_theta_deg, dtype=float)
    y = np.asarray(intensity, dtype=float)
    s = None if sigma is None else np.asarray(sigma, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise DataFormatError(f"{name}: 2-theta and intensity columns differ in length")
    ok = np.isfinite(x) & np.isfinite(y) & (np.isfinite(s) if s is not None else True)
    x, y = x[ok], y[ok]
    s = s[ok] if s is not None else None
    if x.size < MIN_POINTS:
        raise DataFormatError(
            f"{name}: only {x.size} usable data points (need at least "
            f"{MIN_POINTS}); is the file truncated or empty?"
        )
    if x.min() <= 0 or x.max() >= 180:
        raise DataFormatError(
            f"{name}: angles span {x.min():g}-{x.max():g}, not 2-theta in "
            "degrees within 0-180 (a file in Q, d or radians? convert it)"
        )
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    s = s[order] if s is not None else None
    if np.any(np.diff(x) <= 0):
        raise DataFormatError(f"{name}: repeated 2-theta values; is it two scans in one file?")
    if not np.ptp(y) > 0:
        raise DataFormatError(f"{name}: intensity is constant ({y[0]:g}); no pattern in it")
    if s is not None and np.any(s <= 0):
        raise DataFormatError(f"{name}: third column (esd) has values <= 0")
    return MeasuredPattern(
        two_theta_deg=tuple(x.tolist()),
        intensity=tuple(y.tolist()),
        sigma=None if s is None else tuple(s.tolist()),
        wavelength_A=wavelength_A,
        wavelength2_A=wavelength2_A,
        kalpha2_ratio=kalpha2_ratio,
        source=str(source),
        file_format=file_format,
        provenance=Provenance(
            method="xrd-read", parameters={"format": file_format, "n_points": int(x.size)}
        ),
    )


_NUM = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _numeric_rows(path: Path) -> tuple[list[list[float]], list[str]]:
    """Numeric rows and the other (header/comment) lines of a text pattern."""
    rows, other = [], []
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except UnicodeError as exc:  # pragma: no cover - errors="replace" keeps this rare
        raise DataFormatError(f"{path.name}: cannot decode text ({exc})") from None
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        parts = [p for p in re.split(r"[\s,;]+", line) if p]
        if line[0] not in "#!;%'\"/" and parts and all(_NUM.match(p) for p in parts):
            rows.append([float(p) for p in parts])
        else:
            other.append(line)
    return rows, other


_WAVELENGTH = re.compile(
    r"(?:wavelength|lambda|λ)[^0-9\n]{0,20}?(\d+\.\d+)\s*(?:A\b|Å|angstrom)?", re.I
)


def header_wavelength(lines: Sequence[str]) -> float | None:
    """A single wavelength (Å) stated in a text pattern's header, e.g. halidelab's own
    ``# wavelength 1.54184 A (CuKa)`` or 11-BM's ``# Mean wavelength is: 0.413128``.

    A stated single wavelength means one line: no K-alpha2 is added when refining.
    """
    for line in lines[:100]:
        m = _WAVELENGTH.search(line)
        if m:
            value = float(m.group(1))
            if 0.1 < value < 5.0:
                return value
    return None


def read_xy(path: str | Path) -> MeasuredPattern:
    """Read a two- or three-column text pattern (2θ, intensity[, esd]); header lines skipped.

    Also reads GSAS ``FXYE`` files (a ``BANK ... FXYE`` line; 2θ in centidegrees, then
    intensity and esd). A wavelength stated in the header is kept (single line).
    """
    path = Path(path)
    rows, other = _numeric_rows(path)
    if not rows:
        raise DataFormatError(
            f"{path.name}: no numeric rows (empty file or not a 2-theta/intensity table)"
        )
    ncol = min(len(r) for r in rows)
    if ncol < 2:
        raise DataFormatError(f"{path.name}: one column only; need 2-theta and intensity columns")
    arr = np.array([r[:3] if ncol >= 3 else r[:2] for r in rows])
    fxye = any(ln.startswith("BANK") and "FXYE" in ln.split() for ln in other)
    sigma = arr[:, 2] if ncol >= 3 and (path.suffix.lower() == ".xye" or fxye) else None
    x = arr[:, 0] / 100.0 if fxye else arr[:, 0]
    return pattern_from_arrays(
        x,
        arr[:, 1],
        sigma,
        source=str(path),
        file_format="gsas-fxye" if fxye else "xy",
        wavelength_A=header_wavelength(other),
    )


_ANGLE_COL = ("2theta", "2-theta", "two_theta", "twotheta", "2θ", "2th", "angle", "pos")
_INT_COL = ("intens", "count", "cps", "i_obs", "yobs", "y_obs", "int")


def read_csv(path: str | Path) -> MeasuredPattern:
    """Read a CSV pattern; columns found by name (2theta/angle, intensity/counts) or order."""
    import pandas as pd

    path = Path(path)
    if path.stat().st_size == 0:
        raise DataFormatError(f"{path.name}: empty file")
    try:
        df = pd.read_csv(path, sep=None, engine="python", comment="#", encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataFormatError(
            f"{path.name}: not a readable CSV ({str(exc).splitlines()[0]})"
        ) from None
    headers = [str(c) for c in df.columns]
    if all(_NUM.match(h.strip()) for h in headers):  # no header line
        return read_xy(path)
    low = [h.lower().replace(" ", "") for h in headers]
    xcol = next(
        (h for h, lo in zip(headers, low, strict=True) if any(k in lo for k in _ANGLE_COL)), None
    )
    ycol = next(
        (
            h
            for h, lo in zip(headers, low, strict=True)
            if h != xcol and any(k in lo for k in _INT_COL)
        ),
        None,
    )
    num = df.apply(pd.to_numeric, errors="coerce")
    numeric = [h for h in headers if num[h].notna().mean() > 0.9]
    if xcol is None or ycol is None:
        if len(numeric) < 2:
            raise DataFormatError(
                f"{path.name}: need a 2-theta and an intensity column; found {headers}"
            )
        xcol = xcol or numeric[0]
        ycol = ycol or next(h for h in numeric if h != xcol)
    return pattern_from_arrays(
        num[xcol].to_numpy(), num[ycol].to_numpy(), source=str(path), file_format="csv"
    )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(elem, name: str):
    for child in elem.iter():
        if _local(child.tag) == name:
            return child
    return None


def read_xrdml(path: str | Path) -> MeasuredPattern:
    """Read a Malvern Panalytical ``.xrdml`` scan (first scan; others are reported).

    Positions come from ``<positions axis="2Theta">`` (``startPosition``/``endPosition``,
    evenly spaced, or ``listPositions``), intensities from ``<counts>`` (schema 1.5+) or
    ``<intensities>`` (older), divided by ``beamAttenuationFactors`` where present. The
    wavelengths and K-alpha2/K-alpha1 ratio of ``<usedWavelength>`` are kept.
    """
    import xml.etree.ElementTree as ET

    path = Path(path)
    try:
        root = ET.fromstring(path.read_bytes())
    except ET.ParseError as exc:
        raise DataFormatError(
            f"{path.name}: not valid XML ({exc}); is the file truncated?"
        ) from None
    if _local(root.tag) != "xrdMeasurements":
        raise DataFormatError(
            f"{path.name}: root element is <{_local(root.tag)}>, not "
            "<xrdMeasurements>: not a Panalytical XRDML file"
        )
    scans = [e for e in root.iter() if _local(e.tag) == "scan"]
    if not scans:
        raise DataFormatError(f"{path.name}: no <scan> element")
    if len(scans) > 1:
        warnings.warn(f"{path.name}: {len(scans)} scans, reading the first", stacklevel=2)
    points = _find(scans[0], "dataPoints")
    if points is None:
        raise DataFormatError(f"{path.name}: the scan has no <dataPoints>")
    data_el = _find(points, "counts")
    if data_el is None:
        data_el = _find(points, "intensities")
    if data_el is None or not (data_el.text or "").strip():
        raise DataFormatError(f"{path.name}: no <counts> or <intensities> in the scan")
    try:
        y = np.array(data_el.text.split(), dtype=float)
    except ValueError:
        raise DataFormatError(
            f"{path.name}: non-numeric values in <{_local(data_el.tag)}>"
        ) from None
    att = _find(points, "beamAttenuationFactors")
    if att is not None and (att.text or "").strip():
        f = np.array(att.text.split(), dtype=float)
        if f.size == y.size and np.all(f > 0):
            y = y / f  # attenuated counts back to the unattenuated scale
    pos = next(
        (
            e
            for e in points
            if _local(e.tag) == "positions" and e.get("axis", "").lower() == "2theta"
        ),
        None,
    )
    if pos is None:
        raise DataFormatError(f'{path.name}: no <positions axis="2Theta"> in the scan')
    lst = _find(pos, "listPositions")
    if lst is not None and (lst.text or "").strip():
        x = np.array(lst.text.split(), dtype=float)
    else:
        start, end = _find(pos, "startPosition"), _find(pos, "endPosition")
        if start is None or end is None:
            raise DataFormatError(f"{path.name}: 2Theta positions lack start/endPosition")
        x = np.linspace(float(start.text), float(end.text), y.size)
    if x.size != y.size:
        raise DataFormatError(f"{path.name}: {x.size} positions but {y.size} intensities")
    lam1 = lam2 = ratio = None
    wl = _find(root, "usedWavelength")
    if wl is not None:
        vals = {_local(c.tag): c.text for c in wl}
        with contextlib.suppress(TypeError, ValueError):
            lam1 = float(vals["kAlpha1"])
        with contextlib.suppress(TypeError, ValueError, KeyError):
            lam2 = float(vals["kAlpha2"])
        with contextlib.suppress(TypeError, ValueError, KeyError):
            ratio = float(vals["ratioKAlpha2KAlpha1"])
    return pattern_from_arrays(
        x,
        y,
        source=str(path),
        file_format="xrdml",
        wavelength_A=lam1,
        wavelength2_A=lam2,
        kalpha2_ratio=ratio,
    )


def read_pattern(path: str | Path, file_format: str | None = None) -> MeasuredPattern:
    """Read a measured pattern, choosing the reader from ``file_format`` or the suffix.

    Parameters
    ----------
    path : str or Path
        ``.xy``, ``.xye``, ``.txt``, ``.dat``, ``.asc``, ``.csv`` or ``.xrdml``.
    file_format : {"xy", "csv", "xrdml"}, optional
        Force a reader.

    Raises
    ------
    DataFormatError
        Missing, empty, one-column, corrupt or too short files.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"pattern file not found: {path}")
    if path.stat().st_size == 0:
        raise DataFormatError(f"{path.name}: empty file")
    fmt = (file_format or "").lower() or {".csv": "csv", ".xrdml": "xrdml"}.get(
        path.suffix.lower(), "xy"
    )
    readers = {"xy": read_xy, "csv": read_csv, "xrdml": read_xrdml}
    if fmt not in readers:
        raise DataFormatError(f"unknown pattern format {fmt!r}: use xy, csv or xrdml")
    return readers[fmt](path)


def write_xrdml(
    pattern: MeasuredPattern | tuple[np.ndarray, np.ndarray],
    path: str | Path,
    wavelength_A: float = WAVELENGTHS["CuKa1"],
    wavelength2_A: float = WAVELENGTHS["CuKa2"],
    kalpha2_ratio: float = CU_KALPHA2_KALPHA1_RATIO,
    counting_time_s: float = 1.0,
) -> Path:
    """Write an evenly spaced scan as a minimal XRDML 1.5 file (counts, start/end positions).

    Meant for round-trip tests and for handing simulated data to programs that read
    XRDML. Intensities are rounded to integer counts.
    """
    if isinstance(pattern, MeasuredPattern):
        x, y = pattern.x, pattern.y
    else:
        x, y = (np.asarray(v, dtype=float) for v in pattern)
    steps = np.diff(x)
    if x.size < 2 or not np.allclose(steps, steps[0], rtol=1e-4, atol=1e-6):
        raise DataFormatError("XRDML start/end positions need an evenly spaced 2-theta scan")
    ns = "http://www.xrdml.com/XRDMeasurement/1.5"
    counts = " ".join(str(int(round(v))) for v in np.maximum(y, 0))
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<xrdMeasurements xmlns="{ns}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="{ns} {ns}/XRDMeasurement.xsd" status="Completed">\n'
        '  <sample type="To be analyzed"><id>halidelab</id><name>simulated</name></sample>\n'
        '  <xrdMeasurement measurementType="Scan" status="Completed">\n'
        '    <usedWavelength intended="K-Alpha 1">\n'
        f'      <kAlpha1 unit="Angstrom">{wavelength_A:.7f}</kAlpha1>\n'
        f'      <kAlpha2 unit="Angstrom">{wavelength2_A:.7f}</kAlpha2>\n'
        f"      <ratioKAlpha2KAlpha1>{kalpha2_ratio:.4f}</ratioKAlpha2KAlpha1>\n"
        "    </usedWavelength>\n"
        '    <scan appendNumber="0" mode="Continuous" scanAxis="Gonio" status="Completed">\n'
        "      <dataPoints>\n"
        '        <positions axis="2Theta" unit="deg">\n'
        f"          <startPosition>{x[0]:.6f}</startPosition>\n"
        f"          <endPosition>{x[-1]:.6f}</endPosition>\n"
        "        </positions>\n"
        '        <positions axis="Omega" unit="deg">\n'
        f"          <startPosition>{x[0] / 2:.6f}</startPosition>\n"
        f"          <endPosition>{x[-1] / 2:.6f}</endPosition>\n"
        "        </positions>\n"
        f'        <commonCountingTime unit="seconds">{counting_time_s:.3f}</commonCountingTime>\n'
        f'        <counts unit="counts">{counts}</counts>\n'
        "      </dataPoints>\n"
        "    </scan>\n"
        "  </xrdMeasurement>\n"
        "</xrdMeasurements>\n"
    )
    path = Path(path)
    path.write_text(xml, encoding="utf-8")
    return path
