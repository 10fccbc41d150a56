"""Measured powder XRD: readers, lattice refinement against a structure model, figures.

Readers take ``.xy``/``.xye``/``.txt``/``.dat`` (two or three columns), ``.csv`` (with or
without a header) and Malvern Panalytical ``.xrdml`` (XRDMeasurement schema 1.x-2.x:
``<positions axis="2Theta">`` with ``startPosition``/``endPosition`` or
``listPositions``, ``<intensities>`` or ``<counts>``, the ``usedWavelength`` block).

Lattice refinement is a Pawley-type whole-pattern fit (Pawley, J. Appl. Cryst. 14 (1981)
357): reflection positions come from d(hkl) of the model's reflections and the lattice
parameters, constrained by the model's crystal system (hexagonal/trigonal a, c;
monoclinic a, b, c, beta; ...); each reflection (or each group of exactly overlapping
ones) has a free non-negative intensity; peaks are pseudo-Voigt with Caglioti widths and a
Cu K-alpha1/alpha2 doublet; the background is a non-negative piecewise-linear curve; a
zero shift is refined. The linear parameters (intensities, background) are solved exactly
at every step by non-negative least squares (variable projection, Golub & Pereyra 1973),
so the non-linear least squares (scipy ``least_squares``) only sees the lattice, zero and
profile parameters. Uncertainties come from that Jacobian, scaled by the reduced chi^2;
like all Rietveld/Pawley esds they are statistical only (serial correlation of residuals
and model errors make them optimistic: Berar & Lelann, J. Appl. Cryst. 24 (1991) 1).

Why our own code: no maintained pip-installable package does a Pawley or Le Bail fit with
uncertainties. GSAS-II is not on PyPI; xrayutilities' ``PowderModel.fit`` (GPL-2) is a
Rietveld fit whose intensities come from the structure factors, which is wrong for a
ball-milled, doped sample whose intensities differ from the ordered model; powerxrd
handles cubic cells only; easydiffraction is neutron-first and pulls ~100 packages
(Jupyter among them). See ``benchmarks/bench_xrd.py`` for speed and accuracy numbers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.analysis.diffraction.xrd import WAVELENGTHS
from pymatgen.core import Lattice, Structure

from halidelab.constants import CU_KALPHA2_KALPHA1_RATIO
from halidelab.errors import DataFormatError, FitError, StructureError, UnitError
from halidelab.records import Provenance, Record
from halidelab.structures.xrd import (
    caglioti_fwhm,
    format_hkl,
    pseudo_voigt,
    resolve_wavelength,
    simulate_pattern,
)

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


def pattern_from_arrays(two_theta_deg: Sequence[float], intensity: Sequence[float],
                        sigma: Sequence[float] | None = None, source: str = "<array>",
                        file_format: str = "array", wavelength_A: float | None = None,
                        wavelength2_A: float | None = None,
                        kalpha2_ratio: float | None = None) -> MeasuredPattern:
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
        raise DataFormatError(f"{name}: only {x.size} usable data points (need at least "
                              f"{MIN_POINTS}); is the file truncated or empty?")
    if x.min() <= 0 or x.max() >= 180:
        raise DataFormatError(f"{name}: angles span {x.min():g}-{x.max():g}, not 2-theta in "
                              "degrees within 0-180 (a file in Q, d or radians? convert it)")
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
        two_theta_deg=tuple(x.tolist()), intensity=tuple(y.tolist()),
        sigma=None if s is None else tuple(s.tolist()),
        wavelength_A=wavelength_A, wavelength2_A=wavelength2_A, kalpha2_ratio=kalpha2_ratio,
        source=str(source), file_format=file_format,
        provenance=Provenance(method="xrd-read", parameters={"format": file_format,
                                                             "n_points": int(x.size)}))


_NUM = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _numeric_rows(path: Path) -> list[list[float]]:
    rows = []
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except UnicodeError as exc:  # pragma: no cover - errors="replace" keeps this rare
        raise DataFormatError(f"{path.name}: cannot decode text ({exc})") from None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#!;%'\"/":
            continue
        parts = [p for p in re.split(r"[\s,;]+", line) if p]
        if parts and all(_NUM.match(p) for p in parts):
            rows.append([float(p) for p in parts])
    return rows


def read_xy(path: str | Path) -> MeasuredPattern:
    """Read a two- or three-column text pattern (2θ, intensity[, esd]); header lines skipped."""
    path = Path(path)
    rows = _numeric_rows(path)
    if not rows:
        raise DataFormatError(f"{path.name}: no numeric rows (empty file or not a 2-theta/"
                              "intensity table)")
    ncol = min(len(r) for r in rows)
    if ncol < 2:
        raise DataFormatError(f"{path.name}: one column only; need 2-theta and intensity "
                              "columns")
    arr = np.array([r[:3] if ncol >= 3 else r[:2] for r in rows])
    sigma = arr[:, 2] if ncol >= 3 and path.suffix.lower() == ".xye" else None
    return pattern_from_arrays(arr[:, 0], arr[:, 1], sigma, source=str(path), file_format="xy")


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
        raise DataFormatError(f"{path.name}: not a readable CSV ({str(exc).splitlines()[0]})"
                              ) from None
    headers = [str(c) for c in df.columns]
    if all(_NUM.match(h.strip()) for h in headers):  # no header line
        return read_xy(path)
    low = [h.lower().replace(" ", "") for h in headers]
    xcol = next((h for h, lo in zip(headers, low, strict=True)
                 if any(k in lo for k in _ANGLE_COL)), None)
    ycol = next((h for h, lo in zip(headers, low, strict=True)
                 if h != xcol and any(k in lo for k in _INT_COL)), None)
    num = df.apply(pd.to_numeric, errors="coerce")
    numeric = [h for h in headers if num[h].notna().mean() > 0.9]
    if xcol is None or ycol is None:
        if len(numeric) < 2:
            raise DataFormatError(f"{path.name}: need a 2-theta and an intensity column; "
                                  f"found {headers}")
        xcol = xcol or numeric[0]
        ycol = ycol or next(h for h in numeric if h != xcol)
    return pattern_from_arrays(num[xcol].to_numpy(), num[ycol].to_numpy(), source=str(path),
                               file_format="csv")


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
        raise DataFormatError(f"{path.name}: not valid XML ({exc}); is the file truncated?"
                              ) from None
    if _local(root.tag) != "xrdMeasurements":
        raise DataFormatError(f"{path.name}: root element is <{_local(root.tag)}>, not "
                              "<xrdMeasurements>: not a Panalytical XRDML file")
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
        raise DataFormatError(f"{path.name}: non-numeric values in <{_local(data_el.tag)}>"
                              ) from None
    att = _find(points, "beamAttenuationFactors")
    if att is not None and (att.text or "").strip():
        f = np.array(att.text.split(), dtype=float)
        if f.size == y.size and np.all(f > 0):
            y = y / f  # attenuated counts back to the unattenuated scale
    pos = next((e for e in points if _local(e.tag) == "positions"
                and e.get("axis", "").lower() == "2theta"), None)
    if pos is None:
        raise DataFormatError(f"{path.name}: no <positions axis=\"2Theta\"> in the scan")
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
    return pattern_from_arrays(x, y, source=str(path), file_format="xrdml", wavelength_A=lam1,
                               wavelength2_A=lam2, kalpha2_ratio=ratio)


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
        path.suffix.lower(), "xy")
    readers = {"xy": read_xy, "csv": read_csv, "xrdml": read_xrdml}
    if fmt not in readers:
        raise DataFormatError(f"unknown pattern format {fmt!r}: use xy, csv or xrdml")
    return readers[fmt](path)


def write_xrdml(pattern: MeasuredPattern | tuple[np.ndarray, np.ndarray], path: str | Path,
                wavelength_A: float = WAVELENGTHS["CuKa1"],
                wavelength2_A: float = WAVELENGTHS["CuKa2"],
                kalpha2_ratio: float = CU_KALPHA2_KALPHA1_RATIO,
                counting_time_s: float = 1.0) -> Path:
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
        f'      <ratioKAlpha2KAlpha1>{kalpha2_ratio:.4f}</ratioKAlpha2KAlpha1>\n'
        '    </usedWavelength>\n'
        '    <scan appendNumber="0" mode="Continuous" scanAxis="Gonio" status="Completed">\n'
        '      <dataPoints>\n'
        '        <positions axis="2Theta" unit="deg">\n'
        f'          <startPosition>{x[0]:.6f}</startPosition>\n'
        f'          <endPosition>{x[-1]:.6f}</endPosition>\n'
        '        </positions>\n'
        '        <positions axis="Omega" unit="deg">\n'
        f'          <startPosition>{x[0] / 2:.6f}</startPosition>\n'
        f'          <endPosition>{x[-1] / 2:.6f}</endPosition>\n'
        '        </positions>\n'
        f'        <commonCountingTime unit="seconds">{counting_time_s:.3f}</commonCountingTime>\n'
        f'        <counts unit="counts">{counts}</counts>\n'
        '      </dataPoints>\n'
        '    </scan>\n'
        '  </xrdMeasurement>\n'
        '</xrdMeasurements>\n')
    path = Path(path)
    path.write_text(xml, encoding="utf-8")
    return path


def synthetic_scan(structure: Structure, two_theta_range_deg: tuple[float, float] = (10, 80),
                   step_deg: float = 0.02, fwhm_deg: float | Sequence[float] = 0.08,
                   eta: float = 0.5, kalpha2_ratio: float = CU_KALPHA2_KALPHA1_RATIO,
                   zero_shift_deg: float = 0.0, peak_counts: float = 2.0e4,
                   background_counts: float = 300.0, seed: int | None = 0) -> MeasuredPattern:
    """A lab-like Cu K-alpha1/alpha2 scan of a structure, with Poisson counting noise.

    Peaks from :func:`~halidelab.structures.xrd.simulate_pattern` (K-alpha1) broadened by
    :meth:`~halidelab.structures.xrd.XRDPattern.profile`; the background falls from
    ``background_counts`` at low angle to half of it at high angle with a broad hump near
    25 deg (the look of an amorphous fraction or a sample holder). For round-trip tests,
    benchmarks and planning a measurement.

    Parameters
    ----------
    structure : pymatgen Structure
    two_theta_range_deg, step_deg : scan range and step (deg).
    fwhm_deg : float or (U, V, W)
        Width or Caglioti coefficients (deg, deg^2).
    eta : float
        Lorentzian fraction.
    kalpha2_ratio : float
        0 for a monochromated K-alpha1 beam.
    zero_shift_deg : float
        Added to every peak position (instrument zero error).
    peak_counts, background_counts : float
        Counts at the strongest peak and of the background at the low-angle end.
    seed : int or None
        Noise seed; None gives the noiseless expectation.
    """
    lo, hi = two_theta_range_deg
    x = np.arange(lo, hi + step_deg / 2, step_deg)
    pat = simulate_pattern(structure, wavelength="CuKa1",
                           two_theta_range_deg=(max(lo - 2, 0.5), min(hi + 2, 179.0)))
    peaks = pat.profile(x - zero_shift_deg, fwhm_deg=fwhm_deg, eta=eta,
                        kalpha2_ratio=kalpha2_ratio)
    t = (x - lo) / (hi - lo)
    bg = background_counts * (1 - 0.5 * t + 0.3 * np.exp(-0.5 * ((x - 25) / 6) ** 2))
    mean = bg + peak_counts * peaks / 100.0
    y = mean if seed is None else np.random.default_rng(seed).poisson(mean).astype(float)
    out = pattern_from_arrays(x, y, source=f"synthetic:{structure.composition.reduced_formula}",
                              file_format="synthetic", wavelength_A=WAVELENGTHS["CuKa1"],
                              wavelength2_A=WAVELENGTHS["CuKa2"], kalpha2_ratio=kalpha2_ratio)
    return dataclasses.replace(out, provenance=Provenance(
        method="xrd-synthetic-scan", seed=seed,
        parameters={"fwhm_deg": fwhm_deg, "eta": eta, "kalpha2_ratio": kalpha2_ratio,
                    "zero_shift_deg": zero_shift_deg, "peak_counts": peak_counts,
                    "background_counts": background_counts, "step_deg": step_deg}))


# ------------------------------------------------------------------------ lattice maths
#: Free lattice parameters per crystal system (monoclinic: the one non-90 angle).
SYSTEM_PARAMS: dict[str, tuple[str, ...]] = {
    "cubic": ("a",),
    "tetragonal": ("a", "c"),
    "hexagonal": ("a", "c"),
    "rhombohedral": ("a", "alpha"),
    "orthorhombic": ("a", "b", "c"),
    "monoclinic": ("a", "b", "c", "beta"),
    "triclinic": ("a", "b", "c", "alpha", "beta", "gamma"),
}
_NAMES = ("a", "b", "c", "alpha", "beta", "gamma")


def _cell_pattern(system: str, cell: np.ndarray, unique: str) -> list[str] | None:
    """Which of the model's cell parameters break the system's constraints (None if ok)."""
    a, b, c, al, be, ga = cell
    eq = lambda u, v: abs(u - v) <= 2e-3 * max(abs(u), abs(v))  # noqa: E731
    ang = lambda u, v: abs(u - v) <= 0.05  # noqa: E731
    checks = {
        "cubic": [eq(a, b), eq(a, c), ang(al, 90), ang(be, 90), ang(ga, 90)],
        "tetragonal": [eq(a, b), ang(al, 90), ang(be, 90), ang(ga, 90)],
        "hexagonal": [eq(a, b), ang(al, 90), ang(be, 90), ang(ga, 120)],
        "rhombohedral": [eq(a, b), eq(a, c), ang(al, be), ang(al, ga)],
        "orthorhombic": [ang(al, 90), ang(be, 90), ang(ga, 90)],
        "monoclinic": [ang(x, 90) for n, x in zip(("alpha", "beta", "gamma"), (al, be, ga),
                                                   strict=True) if n != unique],
        "triclinic": [],
    }[system]
    return None if all(checks) else [system]


def _expand(system: str, unique: str, p: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Full (a, b, c, alpha, beta, gamma) from the free parameters ``p``."""
    a = p[0]
    if system == "cubic":
        return np.array([a, a, a, 90.0, 90.0, 90.0])
    if system == "tetragonal":
        return np.array([a, a, p[1], 90.0, 90.0, 90.0])
    if system == "hexagonal":
        return np.array([a, a, p[1], 90.0, 90.0, 120.0])
    if system == "rhombohedral":
        return np.array([a, a, a, p[1], p[1], p[1]])
    if system == "orthorhombic":
        return np.array([p[0], p[1], p[2], 90.0, 90.0, 90.0])
    if system == "monoclinic":
        cell = np.array([p[0], p[1], p[2], 90.0, 90.0, 90.0])
        cell[3 + ("alpha", "beta", "gamma").index(unique)] = p[3]
        return cell
    return np.asarray(p, dtype=float).copy()


def reciprocal_metric(cell: Sequence[float]) -> np.ndarray:
    """Reciprocal metric tensor G* (1/Å^2) of a cell (a, b, c in Å, angles in deg)."""
    a, b, c, al, be, ga = cell
    ca, cb, cg = (math.cos(math.radians(v)) for v in (al, be, ga))
    g = np.array([[a * a, a * b * cg, a * c * cb],
                  [a * b * cg, b * b, b * c * ca],
                  [a * c * cb, b * c * ca, c * c]])
    return np.linalg.inv(g)


def d_spacing(hkl: np.ndarray, cell: Sequence[float]) -> np.ndarray:
    """Interplanar spacings d(hkl) = 1/sqrt(h G* h^T) in Å for rows of ``hkl``."""
    h = np.atleast_2d(np.asarray(hkl, dtype=float))
    q2 = np.einsum("ij,jk,ik->i", h, reciprocal_metric(cell), h)
    return 1.0 / np.sqrt(q2)


def cell_volume(cell: Sequence[float]) -> float:
    """Cell volume (Å^3) from (a, b, c, alpha, beta, gamma)."""
    a, b, c, al, be, ga = cell
    ca, cb, cg = (math.cos(math.radians(v)) for v in (al, be, ga))
    return a * b * c * math.sqrt(max(1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg, 0.0))


def crystal_system_of(structure: Structure, symprec: float = 0.1) -> tuple[str, str]:
    """Crystal system for the refinement and the monoclinic unique angle.

    Trigonal cells in hexagonal axes give ``"hexagonal"``, in rhombohedral axes
    ``"rhombohedral"``. Returns (system, unique angle name).
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        system = SpacegroupAnalyzer(structure, symprec=symprec).get_crystal_system()
    except Exception:  # spglib may fail on odd disordered cells: fall back to the metric
        system = "triclinic"
    cell = np.array([*structure.lattice.abc, *structure.lattice.angles])
    if system == "trigonal":
        system = "hexagonal" if abs(cell[5] - 120) < 0.05 else "rhombohedral"
    return system, _unique_angle(cell)


def _unique_angle(cell: np.ndarray) -> str:
    dev = np.abs(cell[3:] - 90.0)
    return ("alpha", "beta", "gamma")[int(np.argmax(dev))]


# -------------------------------------------------------------------------- refinement
@dataclasses.dataclass(frozen=True)
class FitCurves(Record):
    """Observed, calculated and background curves of a refinement, and the tick marks."""

    two_theta_deg: tuple[float, ...]
    observed: tuple[float, ...]
    calculated: tuple[float, ...]
    background: tuple[float, ...]
    reflection_two_theta_deg: tuple[float, ...]
    reflection_hkl: tuple[str, ...]
    reflection_intensity: tuple[float, ...]


@dataclasses.dataclass(frozen=True)
class LatticeRefinement(Record):
    """Lattice parameters refined from a measured pattern (Pawley-type fit).

    Lengths in Å, angles in degrees, ``*_err_*`` are one standard uncertainty (statistical,
    scaled by sqrt(reduced chi^2)); a tied parameter (b = a in hexagonal) carries the
    uncertainty of the one it is tied to; a fixed angle has uncertainty 0.

    Attributes
    ----------
    crystal_system : str
        Constraint set used (hexagonal covers trigonal cells in hexagonal axes).
    free_parameters : tuple of str
        The lattice parameters refined.
    a_A, b_A, c_A, alpha_deg, beta_deg, gamma_deg : float
        Refined cell; with their ``*_err_*`` uncertainties.
    volume_A3, volume_err_A3 : float
        Cell volume and its uncertainty (from the full covariance).
    model_cell : tuple of float
        The model's (a, b, c, alpha, beta, gamma) the fit started from.
    model_volume_A3 : float
    zero_shift_deg, zero_shift_err_deg : float
        Instrument zero: observed 2θ = Bragg 2θ + zero shift.
    caglioti_uvw_deg2 : tuple of float
        Peak width FWHM^2 = U tan^2 θ + V tan θ + W (V fixed at 0).
    eta : float
        Lorentzian fraction of the pseudo-Voigt.
    rwp, rexp, chi2_red : float
        Weighted-profile R factor, expected R, reduced chi^2 (weights 1/sigma^2, sigma =
        sqrt(counts) unless the file gives esds).
    rwp_model_intensities : float or None
        Rwp when the intensities are the model's structure-factor intensities at the refined
        cell (scale and background only): near ``rwp`` means the model's structure matches;
        much larger means the intensities differ (other phase, disorder, texture).
    n_points, n_reflections : int
    wavelength_A, wavelength2_A, kalpha2_ratio : float
        Lines used (K-alpha2 ratio 0 means a single line).
    two_theta_range_deg : tuple of float
    converged : bool
        The optimiser reported convergence and no parameter ended on a bound.
    flags : tuple of str
        Warnings a crystallographer would want (not converged, parameter at bound, large
        change from the model, poor fit).
    source, model_formula : str
    curves : FitCurves or None
        Data for the observed/calculated/difference figure.
    provenance : Provenance
    """

    crystal_system: str
    free_parameters: tuple[str, ...]
    a_A: float
    a_err_A: float
    b_A: float
    b_err_A: float
    c_A: float
    c_err_A: float
    alpha_deg: float
    alpha_err_deg: float
    beta_deg: float
    beta_err_deg: float
    gamma_deg: float
    gamma_err_deg: float
    volume_A3: float
    volume_err_A3: float
    model_cell: tuple[float, ...]
    model_volume_A3: float
    zero_shift_deg: float
    zero_shift_err_deg: float
    caglioti_uvw_deg2: tuple[float, ...]
    eta: float
    rwp: float
    rexp: float
    chi2_red: float
    rwp_model_intensities: float | None
    n_points: int
    n_reflections: int
    wavelength_A: float
    wavelength2_A: float
    kalpha2_ratio: float
    two_theta_range_deg: tuple[float, ...]
    converged: bool
    flags: tuple[str, ...]
    source: str
    model_formula: str
    curves: FitCurves | None
    provenance: Provenance

    @property
    def cell(self) -> tuple[float, ...]:
        """(a, b, c, alpha, beta, gamma)."""
        return (self.a_A, self.b_A, self.c_A, self.alpha_deg, self.beta_deg, self.gamma_deg)

    def summary(self) -> dict[str, Any]:
        """The record without the curves (for tables and JSON)."""
        d = self.to_dict()
        d.pop("curves", None)
        return d


@dataclasses.dataclass
class _Reflections:
    hkl: np.ndarray          # (n, 3) one row per distinct hkl family
    group: np.ndarray        # (n,) column index of each row (exact-overlap groups)
    labels: list[str]        # per group
    n_groups: int
    weights: np.ndarray      # (n,) model intensity share of each row (for the search)


def _reflections(model: Structure, system: str, unique: str, free_ref: np.ndarray,
                 lam: float, lo: float, hi: float) -> _Reflections:
    """hkl families of the model in (lo, hi), grouped where d stays equal for any cell."""
    pat = simulate_pattern(model, wavelength=lam, two_theta_range_deg=(lo, hi))
    rng = np.random.default_rng(12345)
    trials = [free_ref * (1 + 0.01 * rng.standard_normal(free_ref.size)) for _ in range(2)]
    hkl_rows, group, labels, weights = [], [], [], []
    for fams, inten, mults in zip(pat.hkls, pat.intensity, pat.multiplicities, strict=True):
        weights.extend(inten * np.asarray(mults, dtype=float) / sum(mults))
        fam = np.array(fams, dtype=float)
        ds = [d_spacing(fam, _expand(system, unique, p, free_ref)) for p in trials]
        assigned: list[int] = []
        local: list[tuple[int, np.ndarray]] = []  # (group id, signature)
        for i in range(len(fam)):
            sig = np.array([d[i] for d in ds])
            gid = next((g for g, s in local if np.allclose(s, sig, rtol=1e-9)), None)
            if gid is None:
                gid = len(labels)
                labels.append(format_hkl(fams[i]))
                local.append((gid, sig))
            else:
                labels[gid] += " " + format_hkl(fams[i])
            assigned.append(gid)
        hkl_rows.extend(fams)
        group.extend(assigned)
    return _Reflections(np.array(hkl_rows, dtype=float), np.array(group), labels, len(labels),
                        np.array(weights))


def _hat_basis(x: np.ndarray, n_nodes: int) -> np.ndarray:
    """Piecewise-linear (hat) basis on ``n_nodes`` evenly spaced nodes: (len(x), n_nodes)."""
    nodes = np.linspace(x[0], x[-1], n_nodes)
    h = nodes[1] - nodes[0]
    return np.clip(1.0 - np.abs(x[:, None] - nodes[None, :]) / h, 0.0, None)


class _PawleyModel:
    """Profile model with the linear parameters projected out by NNLS."""


    def __init__(self, x, y, w, refl, system, unique, free_ref, lams, n_bg, names):
        self.x, self.y, self.w = x, y, w
        self.names = names
        self.sw = np.sqrt(w)
        self.refl = refl
        self.system, self.unique, self.free_ref = system, unique, free_ref
        self.lams = lams  # [(lambda, weight)]
        self.bg = _hat_basis(x, n_bg)
        self.nlat = free_ref.size
        self.last_lin: np.ndarray | None = None
        self.reach = 25.0  # peak tails cut at this many FWHM

    def split(self, p):
        k = self.nlat
        return p[:k], p[k], p[k + 1], p[k + 2], p[k + 3]  # lattice, zero, U, W, eta

    def centres(self, p) -> list[tuple[np.ndarray, float]]:
        lat, zero, *_ = self.split(p)
        d = d_spacing(self.refl.hkl, _expand(self.system, self.unique, lat, self.free_ref))
        out = []
        for lam, weight in self.lams:
            s = lam / (2 * d)
            tt = np.where(s < 1, 2 * np.degrees(np.arcsin(np.clip(s, -1, 1))), np.nan)
            out.append((tt + zero, weight))
        return out

    def design(self, p):
        """Sparse (n_points, n_groups) profile matrix of the reflection groups.

        Vectorised: every line gets a window of the same number of points (the widest
        line's), entries beyond its own reach are zeroed.
        """
        import scipy.sparse as sp

        _, _, u, w, eta = self.split(p)
        x, n = self.x, len(self.x)
        rows, cols, vals = [], [], []
        for tt, weight in self.centres(p):
            ok = np.isfinite(tt)
            c, g = tt[ok], self.refl.group[ok]
            fw = caglioti_fwhm(c, u, 0.0, w)
            lo = np.searchsorted(x, c - self.reach * fw)
            hi = np.searchsorted(x, c + self.reach * fw)
            keep = hi > lo
            c, g, fw, lo, hi = c[keep], g[keep], fw[keep], lo[keep], hi[keep]
            if c.size == 0:
                continue
            span = int((hi - lo).max())
            idx = lo[:, None] + np.arange(span)[None, :]
            inside = idx < hi[:, None]
            idx = np.minimum(idx, n - 1)
            v = weight * pseudo_voigt(x[idx] - c[:, None], fw[:, None], eta) * inside
            rows.append(idx[inside])
            cols.append(np.broadcast_to(g[:, None], idx.shape)[inside])
            vals.append(v[inside])
        if not rows:
            return sp.csr_matrix((n, self.refl.n_groups))
        return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(n, self.refl.n_groups))

    def solve(self, p):
        """NNLS intensities and background at non-linear parameters ``p``."""
        import scipy.linalg as sl
        import scipy.sparse as sp
        from scipy.optimize import nnls

        a = sp.hstack([self.design(p), sp.csr_matrix(self.bg)]).tocsr()
        aw = sp.diags(self.sw) @ a
        g = (aw.T @ aw).toarray()
        b = aw.T @ (self.sw * self.y)
        diag = np.diag(g).copy()
        ridge = 1e-10 * (diag.mean() if diag.mean() > 0 else 1.0)
        g[np.diag_indices_from(g)] += ridge + 1e-12 * diag
        try:
            r = sl.cholesky(g, lower=False, check_finite=False)
        except np.linalg.LinAlgError:  # pragma: no cover - ridge makes this rare
            g[np.diag_indices_from(g)] += 1e-6 * diag.max()
            r = sl.cholesky(g, lower=False, check_finite=False)
        z = sl.solve_triangular(r, b, trans="T", check_finite=False)
        coef, _ = nnls(r, z, maxiter=50 * g.shape[0])
        self.last_lin = coef
        return a, coef

    def residual(self, p):
        a, coef = self.solve(p)
        return self.sw * (self.y - a @ coef)


def _fwhm_guess(x: np.ndarray, y: np.ndarray) -> float:
    """FWHM (deg) of the strongest peak above the median background, from the data."""
    base = np.median(y)
    i = int(np.argmax(y))
    half = base + (y[i] - base) / 2
    lo = i
    while lo > 0 and y[lo] > half:
        lo -= 1
    hi = i
    while hi < len(y) - 1 and y[hi] > half:
        hi += 1
    step = np.median(np.diff(x))
    return float(np.clip(x[hi] - x[lo], 2 * step, 2.0))


def _lines(measured: MeasuredPattern, wavelength: str | float | None,
           kalpha2_ratio: float | None) -> tuple[float, float, float]:
    """(lambda1, lambda2, ratio) from the user's choice, else the file, else Cu Ka1/Ka2."""
    lam2_default = WAVELENGTHS["CuKa2"]
    if wavelength is None:
        if measured.wavelength_A:
            lam1 = float(measured.wavelength_A)
            lam2 = float(measured.wavelength2_A or lam1)
            ratio = measured.kalpha2_ratio if measured.kalpha2_ratio is not None else 0.0
            if kalpha2_ratio is not None:
                ratio = kalpha2_ratio
            return lam1, lam2, float(ratio) if lam2 != lam1 else 0.0
        wavelength = "CuKa12"
    if isinstance(wavelength, str) and wavelength.strip().lower() in ("cuka12", "cuka1+2"):
        ratio = CU_KALPHA2_KALPHA1_RATIO if kalpha2_ratio is None else kalpha2_ratio
        return float(WAVELENGTHS["CuKa1"]), float(lam2_default), float(ratio)
    lam, label = resolve_wavelength(wavelength)
    if label == "CuKa1" and kalpha2_ratio:
        return lam, float(lam2_default), float(kalpha2_ratio)
    return lam, lam, 0.0


def refine_lattice(measured: MeasuredPattern, model: Structure, *,
                   crystal_system: str | None = None,
                   two_theta_range_deg: tuple[float, float] | None = None,
                   wavelength: str | float | None = None, kalpha2_ratio: float | None = None,
                   n_background: int = 12, fwhm_guess_deg: float | None = None,
                   max_strain: float = 0.05) -> LatticeRefinement:
    """Refine the lattice parameters of ``model`` against a measured pattern.

    Parameters
    ----------
    measured : MeasuredPattern
        From :func:`read_pattern`.
    model : pymatgen Structure
        Phase model: its reflections (hkl with non-zero intensity), crystal system and
        starting cell. An ordered supercell works but refines the supercell's cell; the
        parent CIF gives the parent's cell.
    crystal_system : str, optional
        Override: cubic, tetragonal, hexagonal (trigonal in hexagonal axes),
        rhombohedral, orthorhombic, monoclinic, triclinic. Default: from the model's space
        group (spglib, symprec 0.1 Å).
    two_theta_range_deg : (float, float), optional
        Fit range; default the whole pattern.
    wavelength : str or float, optional
        ``"CuKa12"`` (K-alpha1 1.54056 Å + K-alpha2 1.54439 Å, ratio 0.5), ``"CuKa1"``,
        ``"CuKa"`` (one line at the 1.54184 Å mean), another pymatgen label, or Å.
        Default: what an XRDML file states, else ``"CuKa12"``.
    kalpha2_ratio : float, optional
        Override I(K-alpha2)/I(K-alpha1).
    n_background : int
        Nodes of the non-negative piecewise-linear background.
    fwhm_guess_deg : float, optional
        Starting peak width; default measured on the strongest peak.
    max_strain : float
        Lattice lengths may move at most this fraction from the model (bounds).

    Returns
    -------
    LatticeRefinement

    Raises
    ------
    StructureError
        The model's cell does not match the requested crystal system.
    DataFormatError
        Too few points in the range.
    FitError
        No reflection of the model falls in the range.
    """
    from scipy.optimize import least_squares

    if not isinstance(model, Structure):
        raise StructureError(f"refine_lattice needs a pymatgen Structure model, got "
                             f"{type(model).__name__}")
    x_all, y_all = measured.x, measured.y
    lo, hi = two_theta_range_deg or (float(x_all[0]), float(x_all[-1]))
    sel = (x_all >= lo) & (x_all <= hi)
    if sel.sum() < MIN_POINTS:
        raise DataFormatError(f"only {int(sel.sum())} points between {lo:g} and {hi:g} deg; "
                              "widen the range")
    x, y = x_all[sel], y_all[sel]
    if measured.sigma is not None:
        sig = np.asarray(measured.sigma)[sel]
    else:  # Poisson-like: sigma = sqrt(counts), floored so empty channels do not dominate
        floor = max(1.0, 0.01 * float(np.median(np.abs(y))))
        sig = np.sqrt(np.maximum(np.abs(y), floor))
    w = 1.0 / sig**2

    cell0 = np.array([*model.lattice.abc, *model.lattice.angles])
    auto_system, unique = crystal_system_of(model)
    system = (crystal_system or auto_system).lower()
    if system == "trigonal":
        system = "hexagonal" if abs(cell0[5] - 120) < 0.05 else "rhombohedral"
    if system not in SYSTEM_PARAMS:
        raise StructureError(f"unknown crystal system {crystal_system!r}: use one of "
                             f"{', '.join(SYSTEM_PARAMS)}")
    if _cell_pattern(system, cell0, unique):
        raise StructureError(
            f"the model cell a,b,c = {cell0[0]:.4f}, {cell0[1]:.4f}, {cell0[2]:.4f} A, angles "
            f"{cell0[3]:.2f}, {cell0[4]:.2f}, {cell0[5]:.2f} deg is not a standard {system} "
            "setting; pass the parent CIF, or crystal_system='triclinic'")
    names = SYSTEM_PARAMS[system]
    if system == "monoclinic":
        names = ("a", "b", "c", unique)
    free0 = np.array([cell0[_NAMES.index(n)] for n in names])

    lam1, lam2, ratio = _lines(measured, wavelength, kalpha2_ratio)
    lams = [(lam1, 1.0)] + ([(lam2, ratio)] if ratio > 0 and lam2 != lam1 else [])
    # reflections that can enter the range when the cell strains by max_strain
    margin = math.degrees(2 * max_strain * math.tan(math.radians(hi / 2))) + 1.0
    refl = _reflections(model, system, unique, free0, lam1, max(lo - margin, 0.5),
                        min(hi + margin, 179.0))
    if refl.n_groups == 0:  # pragma: no cover - simulate_pattern raises first
        raise FitError("no reflection of the model in the fit range")

    fw0 = fwhm_guess_deg or _fwhm_guess(x, y)
    t_mid = math.tan(math.radians((lo + hi) / 4))
    p0 = np.r_[free0, 0.0, 0.0, fw0**2, 0.5]
    k = free0.size
    lb = np.r_[[v * (1 - max_strain) if n in "abc" else v - 10 for n, v in zip(names, free0,
                                                                              strict=True)],
               -1.0, -0.1, 1e-6, 0.0]
    ub = np.r_[[v * (1 + max_strain) if n in "abc" else v + 10 for n, v in zip(names, free0,
                                                                              strict=True)],
               1.0, 1.0, 4.0, 1.0]
    xscale = np.r_[1e-3 * free0, 0.01, 0.01 / max(t_mid**2, 1e-3), 0.01, 0.1]

    with _one_blas_thread():
        model_full = _PawleyModel(x, y, w, refl, system, unique, free0, lams, n_background, names)
        p = _coarse_search(model_full, p0, x, lo, hi, fw0, k, max_strain, refl.weights)
        # staged: low angles first (shifts are smallest there), then the full range
        cut = lo + 0.55 * (hi - lo)
        low = x <= cut
        if low.sum() >= MIN_POINTS:
            m_low = _PawleyModel(x[low], y[low], w[low], refl, system, unique, free0, lams,
                                 max(4, n_background // 2), names)
            broad = p.copy()
            broad[k + 2] = max(p[k + 2], (2.5 * fw0) ** 2)  # wide peaks: wide basin
            fixed_w = broad[k + 1: k + 4]

            def low_res(q, _m=m_low, _f=fixed_w):
                return _m.residual(np.r_[q, _f])

            r0 = least_squares(low_res, broad[: k + 1], bounds=(lb[: k + 1], ub[: k + 1]),
                               x_scale=xscale[: k + 1], max_nfev=60)
            p[: k + 1] = r0.x
            r1 = least_squares(m_low.residual, np.clip(p, lb, ub), bounds=(lb, ub),
                               x_scale=xscale, max_nfev=80)
            p = r1.x
        res = least_squares(model_full.residual, np.clip(p, lb, ub), bounds=(lb, ub),
                            x_scale=xscale, max_nfev=200)
        p = res.x
        # covariance from a fresh central-difference Jacobian at the optimum, with steps
        # of 1e-3 of the parameter scales: the optimiser's last forward-difference
        # Jacobian (steps ~1e-8) can straddle a change of the NNLS active set and give a
        # wildly small sigma (seen once in 12 noise seeds)
        jac = _central_jacobian(model_full.residual, p, 1e-3 * xscale, lb, ub)
        a_mat, coef = model_full.solve(p)

    ycalc = a_mat @ coef
    bg = model_full.bg @ coef[refl.n_groups:]
    n, npar = len(x), p.size + int(np.count_nonzero(coef))
    chi2 = float(np.sum(w * (y - ycalc) ** 2))
    dof = max(n - npar, 1)
    chi2_red = chi2 / dof
    sumwy2 = float(np.sum(w * y * y))
    rwp = math.sqrt(chi2 / sumwy2)
    rexp = math.sqrt(dof / sumwy2)

    try:
        cov = np.linalg.inv(jac.T @ jac) * chi2_red
    except np.linalg.LinAlgError:
        cov = np.full((p.size, p.size), np.nan)
    lat = p[:k]
    cell = _expand(system, unique, lat, free0)
    cov_lat = cov[:k, :k]
    jac_cell = np.zeros((6, k))
    for i in range(k):
        step = np.zeros(k)
        step[i] = 1e-6 * max(abs(lat[i]), 1.0)
        jac_cell[:, i] = (_expand(system, unique, lat + step, free0)
                          - _expand(system, unique, lat - step, free0)) / (2 * step[i])
    cell_err = np.sqrt(np.clip(np.diag(jac_cell @ cov_lat @ jac_cell.T), 0, None))
    grad_v = np.array([
        (cell_volume(_expand(system, unique, lat + e, free0))
         - cell_volume(_expand(system, unique, lat - e, free0))) / (2 * e[i])
        for i, e in enumerate(np.eye(k) * 1e-6 * np.maximum(np.abs(lat), 1.0))])
    vol_err = float(math.sqrt(max(grad_v @ cov_lat @ grad_v, 0.0)))
    perr = np.sqrt(np.clip(np.diag(cov), 0, None))

    flags = []
    at_bound = [(list(names) + ["zero", "U", "W", "eta"])[i]
                for i in np.flatnonzero(res.active_mask) if i < k + 2]
    converged = bool(res.status > 0) and not at_bound
    if res.status <= 0:
        flags.append(f"not converged: {res.message}")
    if at_bound:
        flags.append(f"parameter at its bound: {', '.join(at_bound)} (model far from the "
                     "sample? check the phase and the wavelength)")
    shift = np.abs(cell[:3] / cell0[:3] - 1)
    if shift.max() > 0.02:
        flags.append(f"cell differs from the model by {100 * shift.max():.1f}%: check the phase")
    if not np.all(np.isfinite(perr[:k])):
        flags.append("singular covariance: uncertainties unavailable")
    if rwp > 0.25:
        flags.append(f"poor fit (Rwp {100 * rwp:.1f}%): other phases, wrong model or range?")
    elif rwp > 3 * rexp:
        flags.append(f"misfit well above the noise (Rwp {100 * rwp:.1f}% vs Rexp "
                     f"{100 * rexp:.1f}%): check for other phases, texture or peak asymmetry")

    rwp_model = _model_intensity_rwp(model, cell, p, model_full, lams, lo, hi)
    centres = model_full.centres(p)[0][0]
    inten = np.zeros(refl.n_groups)
    inten[: refl.n_groups] = coef[: refl.n_groups]
    first = np.unique(refl.group, return_index=True)[1]
    tick_tt = centres[first]
    keep = np.isfinite(tick_tt) & (tick_tt >= lo) & (tick_tt <= hi)
    curves = FitCurves(
        two_theta_deg=tuple(x.tolist()), observed=tuple(y.tolist()),
        calculated=tuple(ycalc.tolist()), background=tuple(bg.tolist()),
        reflection_two_theta_deg=tuple(tick_tt[keep].tolist()),
        reflection_hkl=tuple(np.array(refl.labels, dtype=object)[keep].tolist()),
        reflection_intensity=tuple(inten[keep].tolist()))
    errs = dict(zip(_NAMES, cell_err, strict=True))
    return LatticeRefinement(
        crystal_system=system, free_parameters=tuple(names),
        a_A=float(cell[0]), a_err_A=float(errs["a"]), b_A=float(cell[1]),
        b_err_A=float(errs["b"]), c_A=float(cell[2]), c_err_A=float(errs["c"]),
        alpha_deg=float(cell[3]), alpha_err_deg=float(errs["alpha"]),
        beta_deg=float(cell[4]), beta_err_deg=float(errs["beta"]),
        gamma_deg=float(cell[5]), gamma_err_deg=float(errs["gamma"]),
        volume_A3=cell_volume(cell), volume_err_A3=vol_err,
        model_cell=tuple(float(v) for v in cell0), model_volume_A3=float(model.lattice.volume),
        zero_shift_deg=float(p[k]), zero_shift_err_deg=float(perr[k]),
        caglioti_uvw_deg2=(float(p[k + 1]), 0.0, float(p[k + 2])), eta=float(p[k + 3]),
        rwp=rwp, rexp=rexp, chi2_red=chi2_red, rwp_model_intensities=rwp_model,
        n_points=int(n), n_reflections=int(refl.n_groups), wavelength_A=lam1,
        wavelength2_A=lam2, kalpha2_ratio=float(ratio) if len(lams) > 1 else 0.0,
        two_theta_range_deg=(float(lo), float(hi)), converged=converged, flags=tuple(flags),
        source=measured.source, model_formula=model.composition.reduced_formula,
        curves=curves,
        provenance=Provenance(
            method="pawley-lattice-refinement", model="halidelab.lab.xrd",
            parameters={"crystal_system": system, "n_background_nodes": n_background,
                        "fwhm_guess_deg": fw0, "max_strain": max_strain,
                        "profile": "pseudo-Voigt, Caglioti U,W (V=0), constant eta",
                        "nfev": int(res.nfev)}))


def _central_jacobian(fun, p: np.ndarray, steps: np.ndarray, lb: np.ndarray,
                      ub: np.ndarray) -> np.ndarray:
    """Central-difference Jacobian of ``fun`` at ``p`` (one-sided next to a bound)."""
    cols = []
    for i, h in enumerate(steps):
        up, dn = p.copy(), p.copy()
        up[i] = min(p[i] + h, ub[i])
        dn[i] = max(p[i] - h, lb[i])
        cols.append((fun(up) - fun(dn)) / (up[i] - dn[i]))
    return np.stack(cols, axis=1)


@contextlib.contextmanager
def _one_blas_thread():
    """Run BLAS single-threaded: the fit's small dense algebra is 10-100x slower when
    several BLAS threads fight over a busy machine's cores (measured on a shared 2-core
    box: a 182x182 solve 70 ms threaded vs 0.6 ms on one thread)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _coarse_search(m: _PawleyModel, p0: np.ndarray, x: np.ndarray, lo: float, hi: float,
                   fw0: float, k: int, max_strain: float,
                   weights: np.ndarray) -> np.ndarray:
    """Global search of the cell lengths on the low-angle half of the pattern.

    Least squares from the model cell locks onto the wrong reflection when the sample's
    cell differs by more than about a peak width at high angle (a 2% smaller cell moves a
    60 deg peak by 1.2 deg), and searching one length at a time fails when two are both
    off (Li3YCl6 with a +2.5%, c -1%: measured). So:

    1. a full grid over all free lengths (+-``max_strain``; b tied to a where the system
       says so) scored by how much smoothed, background-free observed intensity lies under
       the predicted reflections, each weighted by the model's intensity (cheap: no fit);
    2. from the best grid point, grids one length at a time over +-3 grid steps scored by
       the projected (NNLS) Pawley fit with the measured width, twice over.
    """
    from scipy.ndimage import gaussian_filter1d, minimum_filter1d

    cut = lo + 0.5 * (hi - lo)
    low = x <= cut
    if low.sum() < MIN_POINTS:
        return p0
    lengths = [i for i in range(k) if m.names[i] in ("a", "b", "c")]
    if not lengths:
        return p0
    xs, ys = m.x[low], m.y[low]
    step_x = float(np.median(np.diff(xs)))
    deg_per_strain = math.degrees(2 * math.tan(math.radians(cut / 2)))
    coarse = max(0.5 * 1.5 * fw0 / deg_per_strain, 5e-4)
    n_grid = int(round(max_strain / coarse))
    if len(lengths) == 3:  # keep the 3-D grid near 40^3 points
        n_grid = min(n_grid, 20)
        coarse = max_strain / n_grid
    smooth_fw = max(fw0, coarse * deg_per_strain)
    base = minimum_filter1d(ys, max(3, int(2.0 / step_x)), mode="nearest")
    obs = gaussian_filter1d(np.clip(ys - gaussian_filter1d(base, 1.0 / step_x), 0, None),
                            max(smooth_fw / 2.355 / step_x, 0.5))
    # reflections (K-alpha1 only) and their weights
    hkl = m.refl.hkl
    cell0 = _expand(m.system, m.unique, p0[:k], m.free_ref)
    gstar = reciprocal_metric(cell0)
    axes = [m.names[i] for i in lengths]  # which of a, b, c each grid axis scales
    col = {"a": [0], "b": [1], "c": [2]}
    if m.system in ("hexagonal", "tetragonal"):
        col["a"] = [0, 1]
    if m.system in ("cubic", "rhombohedral"):
        col["a"] = [0, 1, 2]
    fr = np.arange(-n_grid, n_grid + 1) * coarse
    mesh = np.stack(np.meshgrid(*([fr] * len(axes)), indexing="ij"), -1).reshape(-1, len(axes))
    scale = np.ones((len(mesh), 3))
    for j, name in enumerate(axes):
        for c_ in col[name]:
            scale[:, c_] = 1 + mesh[:, j]
    lam = m.lams[0][0]
    best_score, best_s = -math.inf, np.zeros(len(axes))
    for chunk in range(0, len(mesh), 4096):
        sc = scale[chunk: chunk + 4096]
        hs = hkl[None, :, :] / sc[:, None, :]
        q2 = np.einsum("nri,ij,nrj->nr", hs, gstar, hs)
        sarg = lam * np.sqrt(q2) / 2
        tt = np.where(sarg < 1, 2 * np.degrees(np.arcsin(np.clip(sarg, 0, 1))), np.inf)
        inside = tt <= cut
        vals = np.interp(np.where(inside, tt, xs[0]), xs, obs) * inside
        wsum = (weights[None, :] * inside).sum(1)
        score = (vals * weights[None, :]).sum(1) / np.where(wsum > 0, wsum, np.inf)
        i = int(np.argmax(score))
        if score[i] > best_score:
            best_score, best_s = float(score[i]), mesh[chunk + i]
    best = p0.copy()
    for j, i in enumerate(lengths):
        best[i] = p0[i] * (1 + best_s[j])

    sub = _PawleyModel(xs, ys, m.w[low], m.refl, m.system, m.unique, m.free_ref, m.lams, 6,
                       m.names)
    fine = max(0.3 * fw0 / deg_per_strain, 1e-4)

    def cost(q):
        return float(np.sum(sub.residual(q) ** 2))

    for _ in range(2):
        for i in lengths:
            start = best.copy()
            trials = []
            for s in np.arange(-3 * coarse, 3 * coarse + fine / 2, fine):
                q = start.copy()
                q[i] = start[i] * (1 + s)
                trials.append((cost(q), q))
            best = min(trials, key=lambda t: t[0])[1]
    return best


def _model_intensity_rwp(model: Structure, cell: np.ndarray, p: np.ndarray, m: _PawleyModel,
                         lams, lo: float, hi: float) -> float | None:
    """Rwp with the model's own intensities at the refined cell (scale + background only)."""
    import scipy.sparse as sp
    from scipy.optimize import nnls

    try:
        s = model.copy()
        s.lattice = Lattice.from_parameters(*cell)
        pat = simulate_pattern(s, wavelength=lams[0][0], two_theta_range_deg=(
            max(lo - 1, 0.5), min(hi + 1, 179.0)))
    except (StructureError, UnitError, ValueError):
        return None
    k = m.nlat
    zero, u, w_, eta = p[k], p[k + 1], p[k + 2], p[k + 3]
    col = np.zeros_like(m.x)
    d = np.asarray(pat.d_spacing_A)
    for lam, weight in lams:
        sarg = lam / (2 * d)
        ok = sarg < 1
        tt = 2 * np.degrees(np.arcsin(sarg[ok])) + zero
        fw = caglioti_fwhm(tt, u, 0.0, w_)
        for c, f, inten in zip(tt, fw, np.asarray(pat.intensity)[ok], strict=True):
            lo_i, hi_i = np.searchsorted(m.x, (c - 25 * f, c + 25 * f))
            col[lo_i:hi_i] += weight * inten * pseudo_voigt(m.x[lo_i:hi_i] - c, f, eta)
    a = sp.hstack([sp.csr_matrix(col[:, None]), sp.csr_matrix(m.bg)]).toarray()
    coef, _ = nnls(a * m.sw[:, None], m.sw * m.y)
    resid = m.y - a @ coef
    return float(math.sqrt(np.sum(m.w * resid**2) / np.sum(m.w * m.y**2)))


# ------------------------------------------------------------------------------ figure
def plot_refinement(result: LatticeRefinement, path: str | Path | None = None,
                    title: str | None = None):
    """Observed, calculated and difference curves with reflection tick marks.

    Returns the matplotlib Figure; saves it to ``path`` (PNG/SVG/PDF) when given.
    """
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if result.curves is None:
        raise FitError("this refinement carries no curves to plot")
    cv = result.curves
    x = np.asarray(cv.two_theta_deg)
    yo, yc = np.asarray(cv.observed), np.asarray(cv.calculated)
    diff = yo - yc
    fig, ax = plt.subplots(figsize=(9, 5))
    ax.plot(x, yo, "o", ms=2.2, mfc="none", mew=0.6, color="0.15", label="observed")
    ax.plot(x, yc, "-", lw=1.0, color="tab:red", label="calculated")
    ax.plot(x, np.asarray(cv.background), "-", lw=0.8, color="tab:green", label="background")
    span = float(yo.max() - min(yo.min(), 0))
    tick_y = yo.min() - 0.06 * span
    ax.vlines(cv.reflection_two_theta_deg, tick_y - 0.04 * span, tick_y, color="tab:blue",
              lw=0.8, label=f"{result.model_formula} reflections")
    off = tick_y - 0.10 * span - diff.max()
    ax.plot(x, diff + off, "-", lw=0.8, color="tab:gray", label="obs - calc")
    ax.axhline(off, color="0.7", lw=0.5)
    ax.set_xlabel("2θ (°)" + (" Cu Kα1/Kα2" if result.kalpha2_ratio > 0 else ""))
    ax.set_ylabel("intensity (counts)")
    ax.set_yticks([])
    cell = (f"a = {result.a_A:.4f}({_digits(result.a_err_A)}) Å, "
            f"c = {result.c_A:.4f}({_digits(result.c_err_A)}) Å")
    if result.crystal_system in ("monoclinic", "orthorhombic", "triclinic"):
        cell = (f"a = {result.a_A:.4f}, b = {result.b_A:.4f}, c = {result.c_A:.4f} Å, "
                f"β = {result.beta_deg:.3f}°")
    ax.set_title(title or f"{result.model_formula} Pawley fit: {cell}, "
                 f"V = {result.volume_A3:.2f} Å³, Rwp = {100 * result.rwp:.2f}%", fontsize=10)
    ax.legend(fontsize=8, loc="upper right", frameon=False)
    ax.set_xlim(x[0], x[-1])
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig


def _digits(err: float) -> str:
    """Uncertainty in units of the last of 4 decimals, e.g. 0.0012 -> '12'."""
    if not math.isfinite(err):
        return "?"
    return str(max(int(round(err * 1e4)), 1))
