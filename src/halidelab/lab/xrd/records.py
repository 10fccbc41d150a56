"""Result records of a lattice refinement."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from halidelab.records import Provenance, Record


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
        Instrument zero: observed 2θ = Bragg 2θ + zero shift + D cos θ.
    displacement_deg, displacement_err_deg : float
        Sample-displacement coefficient D (deg); ``D = -(2 s / R)(180/pi)`` for a sample
        ``s`` mm above the focusing circle of a goniometer of radius ``R`` mm.
    axial_shl, axial_shl_err : float
        Peak asymmetry from axial divergence: S/L + H/L of the Finger-Cox-Jephcoat model
        (S = H; GSAS-II's "SH/L"), dimensionless, and its esd; 0 when not refined or not
        resolved, the cap when it ended on its upper bound (then flagged); the
        provenance's ``asymmetry`` entry says which.
    durbin_watson, esd_factor : float
        Durbin-Watson statistic of the weighted residuals and the factor
        ``sqrt((1 + rho) / (1 - rho))``, ``rho = 1 - d/2``, by which the esds were
        multiplied for serial correlation (Berar & Lelann 1991); esds are also scaled by
        sqrt(chi2_red).
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
    displacement_deg: float = 0.0
    displacement_err_deg: float = 0.0
    axial_shl: float = 0.0
    axial_shl_err: float = 0.0
    durbin_watson: float = math.nan
    esd_factor: float = 1.0

    @property
    def cell(self) -> tuple[float, ...]:
        """(a, b, c, alpha, beta, gamma)."""
        return (self.a_A, self.b_A, self.c_A, self.alpha_deg, self.beta_deg, self.gamma_deg)

    def summary(self) -> dict[str, Any]:
        """The record without the curves (for tables and JSON)."""
        d = self.to_dict()
        d.pop("curves", None)
        return d
