"""Simulated powder X-ray diffraction patterns of structure models.

Peak positions and integrated intensities come from pymatgen's
:class:`~pymatgen.analysis.diffraction.xrd.XRDCalculator` (kinematic structure factors
with the atomic scattering factors of International Tables, site occupancies applied, so
partially occupied CIFs such as Li3YCl6 with split Y 2d sites work as they are, and the
Bragg-Brentano Lorentz-polarisation factor (1 + cos^2 2θ) / (sin^2 θ cos θ)). This
module adds what a lab needs on top: a record with units, broadening into a profile
(pseudo-Voigt, constant or Caglioti width, optional Cu K-alpha2 doublet), and writers
for ``.xy`` profiles and CSV peak lists.

Wavelengths follow pymatgen's table: ``"CuKa"`` is the weighted mean of K-alpha1 and
K-alpha2 (2:1), 1.54184 Å, a single line; ``"CuKa1"`` is 1.54056 Å. A measured pattern
from an unmonochromated Cu tube shows both lines; simulate with ``"CuKa1"`` and
``profile(..., kalpha2_ratio=0.5)`` to reproduce the doublet.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pymatgen.analysis.diffraction.xrd import WAVELENGTHS, XRDCalculator
from pymatgen.core import Structure

from halidelab.errors import StructureError, UnitError
from halidelab.records import Provenance, Record

#: Description of the pymatgen wavelength labels, for the record.
_WAVELENGTH_NOTES = {
    "CuKa": "Cu K-alpha, weighted mean of K-alpha1 and K-alpha2 (2:1), one line",
    "CuKa1": "Cu K-alpha1 only (monochromated)",
    "CuKa2": "Cu K-alpha2 only",
    "CuKb1": "Cu K-beta1",
}

#: K-alpha1 label -> (K-alpha2 label) for the doublet.
_KA2_OF = {
    "CuKa1": "CuKa2",
    "MoKa1": "MoKa2",
    "CoKa1": "CoKa2",
    "FeKa1": "FeKa2",
    "AgKa1": "AgKa2",
    "CrKa1": "CrKa2",
}


def resolve_wavelength(wavelength: str | float) -> tuple[float, str]:
    """Wavelength in Å and a label from a pymatgen name (``"CuKa"``) or a number in Å.

    Raises
    ------
    UnitError
        Unknown label or a wavelength outside 0.1-5 Å.
    """
    if isinstance(wavelength, str):
        key = wavelength.strip()
        match = {k.lower(): k for k in WAVELENGTHS}.get(key.lower())
        if match is not None:
            return float(WAVELENGTHS[match]), match
        try:
            wavelength = float(key)
        except ValueError:
            raise UnitError(
                f"unknown X-ray wavelength {key!r}: use one of "
                f"{', '.join(sorted(WAVELENGTHS))} or a number in angstrom"
            ) from None
    lam = float(wavelength)
    if not (0.1 <= lam <= 5.0) or not math.isfinite(lam):
        raise UnitError(
            f"X-ray wavelength {lam:g} A is outside 0.1-5 A: give it in angstrom "
            "(Cu K-alpha is 1.5418 A)"
        )
    for name, val in WAVELENGTHS.items():
        if abs(val - lam) < 5e-6:
            return lam, name
    return lam, f"{lam:.5f} A"


def pseudo_voigt(x: np.ndarray, fwhm: np.ndarray | float, eta: float) -> np.ndarray:
    """Area-normalised pseudo-Voigt: eta L(x) + (1 - eta) G(x), both with FWHM ``fwhm``.

    Parameters
    ----------
    x : ndarray
        Offset from the peak centre (deg 2θ).
    fwhm : float or ndarray
        Full width at half maximum (deg 2θ), broadcast against ``x``.
    eta : float
        Lorentzian fraction, 0 (Gaussian) to 1 (Lorentzian).

    Returns
    -------
    ndarray
        Profile in 1/deg (integrates to 1 over x).
    """
    u = x / fwhm
    lor = (2.0 / (math.pi * fwhm)) / (1.0 + 4.0 * u * u)
    gau = (2.0 / fwhm) * math.sqrt(math.log(2.0) / math.pi) * np.exp(-4.0 * math.log(2.0) * u * u)
    return eta * lor + (1.0 - eta) * gau


def caglioti_fwhm(two_theta_deg: np.ndarray, u: float, v: float, w: float) -> np.ndarray:
    """Caglioti width FWHM = sqrt(U tan^2 θ + V tan θ + W) in deg 2θ (U, V, W in deg^2).

    Caglioti, Paoletti & Ricci, Nucl. Instrum. 3 (1958) 223. The argument under the root
    is floored at 1e-8 deg^2 so a fit never takes the root of a negative number.
    """
    t = np.tan(np.radians(np.asarray(two_theta_deg, dtype=float)) / 2.0)
    return np.sqrt(np.maximum(u * t * t + v * t + w, 1e-8))


@dataclasses.dataclass(frozen=True)
class XRDPattern(Record):
    """A simulated powder pattern: one entry per reflection (group of equal 2θ).

    Attributes
    ----------
    two_theta_deg : tuple of float
        Peak positions (deg 2θ).
    intensity : tuple of float
        Integrated intensities including multiplicity and Lorentz-polarisation, scaled
        so the strongest peak is 100.
    hkls : tuple of tuple of (h, k, l)
        The hkl families in each peak (3-index Miller indices, also for hexagonal cells).
    multiplicities : tuple of tuple of int
        Multiplicity of each family in ``hkls``.
    d_spacing_A : tuple of float
        Interplanar spacings (Å).
    wavelength_A : float
        Wavelength used (Å).
    wavelength_label : str
        Which line(s) that is, e.g. ``"CuKa"`` (the weighted K-alpha1/alpha2 mean).
    formula : str
        Reduced formula of the structure.
    lattice_abc_A, lattice_angles_deg : tuple of float
        Cell of the structure that was simulated.
    provenance : Provenance
    """

    two_theta_deg: tuple[float, ...]
    intensity: tuple[float, ...]
    hkls: tuple[tuple[tuple[int, ...], ...], ...]
    multiplicities: tuple[tuple[int, ...], ...]
    d_spacing_A: tuple[float, ...]
    wavelength_A: float
    wavelength_label: str
    formula: str
    lattice_abc_A: tuple[float, ...]
    lattice_angles_deg: tuple[float, ...]
    provenance: Provenance

    def __len__(self) -> int:
        return len(self.two_theta_deg)

    def profile(
        self,
        two_theta_grid: Sequence[float] | np.ndarray,
        fwhm_deg: float | Sequence[float] = 0.1,
        eta: float = 0.5,
        kalpha2_ratio: float = 0.0,
        normalize: bool = True,
    ) -> np.ndarray:
        """Broaden the peaks into a continuous pattern.

        Parameters
        ----------
        two_theta_grid : array of float
            Where to evaluate (deg 2θ).
        fwhm_deg : float or (U, V, W)
            Constant FWHM (deg 2θ), or Caglioti coefficients in deg^2.
        eta : float
            Lorentzian fraction of the pseudo-Voigt (0-1).
        kalpha2_ratio : float
            Add a K-alpha2 line with this intensity ratio to K-alpha1 (0.5 for a Cu tube);
            the pattern must then have been simulated with a K-alpha1 wavelength.
        normalize : bool
            Scale the result so its maximum is 100; otherwise each peak's area equals its
            ``intensity`` (deg units).

        Returns
        -------
        ndarray
            Intensity on ``two_theta_grid``.
        """
        grid = np.asarray(two_theta_grid, dtype=float)
        if grid.ndim != 1 or grid.size == 0 or not np.all(np.isfinite(grid)):
            raise ValueError("two_theta_grid must be a non-empty 1-D array of finite angles")
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta (Lorentzian fraction) must be within 0-1, got {eta}")
        d = np.asarray(self.d_spacing_A)
        inten = np.asarray(self.intensity)
        lines = [(self.wavelength_A, 1.0)]
        if kalpha2_ratio > 0:
            ka2 = _KA2_OF.get(self.wavelength_label)
            if ka2 is None:
                raise UnitError(
                    f"a K-alpha2 doublet needs a pattern simulated with a K-alpha1 "
                    f"line (e.g. CuKa1), not {self.wavelength_label}"
                )
            lines.append((float(WAVELENGTHS[ka2]), float(kalpha2_ratio)))
        out = np.zeros_like(grid)
        for lam, weight in lines:
            s = np.clip(lam / (2.0 * d), -1.0, 1.0)
            ok = s < 1.0
            centres = 2.0 * np.degrees(np.arcsin(s[ok]))
            fw = _width(centres, fwhm_deg)
            out += peak_sum(grid, centres, fw, eta, weight * inten[ok])
        if normalize and out.max() > 0:
            out *= 100.0 / out.max()
        return out

    def peak_rows(self) -> list[dict[str, object]]:
        """One dict per peak: 2θ, d, intensity, hkl families as text, multiplicity."""
        rows = []
        for tt, d, i, fams, mults in zip(
            self.two_theta_deg,
            self.d_spacing_A,
            self.intensity,
            self.hkls,
            self.multiplicities,
            strict=True,
        ):
            rows.append(
                {
                    "two_theta_deg": tt,
                    "d_spacing_A": d,
                    "intensity": i,
                    "hkl": " ".join(format_hkl(h) for h in fams),
                    "multiplicity": int(sum(mults)),
                }
            )
        return rows


def _width(centres: np.ndarray, fwhm_deg: float | Sequence[float]) -> np.ndarray:
    if np.ndim(fwhm_deg) == 0:
        fw = float(fwhm_deg)  # type: ignore[arg-type]
        if not fw > 0:
            raise ValueError(f"fwhm_deg must be > 0, got {fw}")
        return np.full_like(centres, fw)
    uvw = [float(v) for v in fwhm_deg]  # type: ignore[union-attr]
    if len(uvw) != 3:
        raise ValueError("fwhm_deg must be one width or Caglioti (U, V, W)")
    return caglioti_fwhm(centres, *uvw)


def peak_sum(
    grid: np.ndarray,
    centres: np.ndarray,
    fwhm: np.ndarray,
    eta: float,
    areas: np.ndarray,
    reach: float = 30.0,
) -> np.ndarray:
    """Sum of area-``areas`` pseudo-Voigt peaks on ``grid``, each cut at ``reach`` FWHM."""
    out = np.zeros_like(grid)
    for c, fw, a in zip(centres, fwhm, areas, strict=True):
        lo, hi = np.searchsorted(grid, (c - reach * fw, c + reach * fw))
        if hi > lo:
            out[lo:hi] += a * pseudo_voigt(grid[lo:hi] - c, fw, eta)
    return out


def format_hkl(hkl: Sequence[int]) -> str:
    """Miller indices as text, e.g. ``(1 1 0)``, ``(2 0 -1)``."""
    return "(" + " ".join(str(int(v)) for v in hkl) + ")"


def simulate_pattern(
    structure: Structure,
    wavelength: str | float = "CuKa",
    two_theta_range_deg: tuple[float, float] = (10.0, 80.0),
    debye_waller_factors: dict[str, float] | None = None,
) -> XRDPattern:
    """Simulated powder XRD peak list of a structure (kinematic, Bragg-Brentano).

    Parameters
    ----------
    structure : pymatgen Structure
        Ordered or partially occupied; occupancies scale the scattering factors.
    wavelength : str or float
        pymatgen label (``"CuKa"`` = weighted K-alpha1/alpha2 mean 1.54184 Å,
        ``"CuKa1"`` = 1.54056 Å, ``"MoKa"``...) or a wavelength in Å.
    two_theta_range_deg : (float, float)
        Range of 2θ (deg), within 0-180.
    debye_waller_factors : dict, optional
        Isotropic B (Å^2) per element symbol; none by default (B = 0).

    Returns
    -------
    XRDPattern
        Peaks with intensities scaled to 100 for the strongest.

    Raises
    ------
    StructureError
        Not a structure, or no reflection in the range.
    UnitError
        Unknown wavelength or a range outside 0-180 deg.
    """
    if not isinstance(structure, Structure):
        raise StructureError(
            f"simulate_pattern needs a pymatgen Structure, got {type(structure).__name__}"
        )
    if len(structure) == 0:
        raise StructureError("cannot simulate XRD of a structure without atoms")
    lam, label = resolve_wavelength(wavelength)
    lo, hi = (float(v) for v in two_theta_range_deg)
    if not (0.0 <= lo < hi <= 180.0):
        raise UnitError(f"two-theta range {lo:g}-{hi:g} deg must satisfy 0 <= min < max <= 180")
    calc = XRDCalculator(wavelength=lam, debye_waller_factors=debye_waller_factors)
    try:
        pat = calc.get_pattern(structure, scaled=True, two_theta_range=(lo, hi))
    except ValueError:  # pymatgen fails to unpack an empty reflection list
        pat = None
    if pat is None or len(pat.x) == 0:
        raise StructureError(
            f"no reflection of {structure.composition.reduced_formula} "
            f"between {lo:g} and {hi:g} deg 2-theta at {lam:.5f} A: "
            "widen the range"
        )
    hkls, mults = [], []
    for fams in pat.hkls:
        hkls.append(tuple(_three_index(f["hkl"]) for f in fams))
        mults.append(tuple(int(f["multiplicity"]) for f in fams))
    lat = structure.lattice
    note = _WAVELENGTH_NOTES.get(label, label)
    return XRDPattern(
        two_theta_deg=tuple(float(v) for v in pat.x),
        intensity=tuple(float(v) for v in pat.y),
        hkls=tuple(hkls),
        multiplicities=tuple(mults),
        d_spacing_A=tuple(float(v) for v in pat.d_hkls),
        wavelength_A=lam,
        wavelength_label=label,
        formula=structure.composition.reduced_formula,
        lattice_abc_A=tuple(float(v) for v in lat.abc),
        lattice_angles_deg=tuple(float(v) for v in lat.angles),
        provenance=Provenance(
            method="xrd-kinematic",
            model="pymatgen.XRDCalculator",
            model_version=_pymatgen_version(),
            parameters={
                "wavelength": label,
                "wavelength_note": note,
                "two_theta_range_deg": [lo, hi],
                "debye_waller_factors": debye_waller_factors or {},
                "geometry": "Bragg-Brentano, Lorentz-polarisation, no absorption",
            },
        ),
    )


def _three_index(hkl: Sequence[int]) -> tuple[int, int, int]:
    """(h, k, l) of a reflection; pymatgen's hexagonal (h, k, i, l) is first turned into
    the equivalent with the most non-negative indices, so (2 -1 -1 0) reads (1 1 0).

    Permutations of (h, k, i) together with a common sign and the sign of l keep d
    unchanged for any hexagonal cell, so the choice changes the label, not the peak.
    """
    import itertools

    vals = [int(v) for v in hkl]
    if len(vals) != 4:
        return (vals[0], vals[1], vals[2])
    h, k, i, l_ = vals
    best = None
    for perm in itertools.permutations((h, k, i)):
        for sgn in (1, -1):
            for sl in (1, -1):
                cand = (sgn * perm[0], sgn * perm[1], sl * l_)
                key = (sum(v >= 0 for v in cand), cand)
                if best is None or key > best[0]:
                    best = (key, cand)
    return best[1]  # type: ignore[index]


def _pymatgen_version() -> str:
    from importlib.metadata import version

    return version("pymatgen")


def write_xy(
    pattern: XRDPattern,
    path: str | Path,
    two_theta_range_deg: tuple[float, float] | None = None,
    step_deg: float = 0.01,
    fwhm_deg: float | Sequence[float] = 0.1,
    eta: float = 0.5,
) -> Path:
    """Write the broadened pattern as a two-column ``.xy`` file (2θ in deg, intensity).

    The header lines start with ``#`` and record formula, wavelength and broadening.
    """
    lo, hi = two_theta_range_deg or tuple(
        pattern.provenance.parameters.get(
            "two_theta_range_deg", (min(pattern.two_theta_deg), max(pattern.two_theta_deg))
        )
    )
    if not step_deg > 0:
        raise ValueError(f"step_deg must be > 0, got {step_deg}")
    grid = np.arange(float(lo), float(hi) + step_deg / 2, step_deg)
    y = pattern.profile(grid, fwhm_deg=fwhm_deg, eta=eta)
    path = Path(path)
    header = (
        f"# simulated powder XRD of {pattern.formula} (halidelab, pymatgen XRDCalculator)\n"
        f"# wavelength {pattern.wavelength_A:.5f} A ({pattern.wavelength_label}); "
        f"pseudo-Voigt eta {eta:g}, FWHM {fwhm_deg} deg\n"
        "# 2theta_deg intensity\n"
    )
    body = "\n".join(f"{x:.4f} {v:.5f}" for x, v in zip(grid, y, strict=True))
    path.write_text(header + body + "\n")
    return path


def write_peak_list(pattern: XRDPattern, path: str | Path) -> Path:
    """Write the peak list as CSV: two_theta_deg, d_spacing_A, intensity, hkl, multiplicity."""
    import csv

    path = Path(path)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(
            fh, fieldnames=["two_theta_deg", "d_spacing_A", "intensity", "hkl", "multiplicity"]
        )
        writer.writeheader()
        for row in pattern.peak_rows():
            writer.writerow(
                {
                    **row,
                    "two_theta_deg": f"{row['two_theta_deg']:.4f}",
                    "d_spacing_A": f"{row['d_spacing_A']:.5f}",
                    "intensity": f"{row['intensity']:.3f}",
                }
            )
    return path
