"""Result records of the impedance analysis: fits, conductivities, Lin-KK tests."""

from __future__ import annotations

import dataclasses

import numpy as np

from halidelab.lab.eis.circuits import Circuit
from halidelab.lab.eis_io import ImpedanceSpectrum
from halidelab.records import Provenance, Record


@dataclasses.dataclass(frozen=True)
class KKResult(Record):
    """Lin-KK validity test (Schoenleber et al., Electrochim. Acta 131, 20 (2014)).

    Attributes
    ----------
    n_rc : int
        Number of RC elements used (chosen by impedance.py with mu < c = 0.85).
    mu : float
        Over/under-fitting measure.
    residual_rms, residual_max : float
        Relative residuals (fraction of |Z|) of the KK-compliant fit, real and imaginary.
    valid : bool
        rms < 2% and max < 5% (a heuristic: residuals at the noise level mean the data
        obey Kramers-Kronig, i.e. a linear, causal, stable system).
    """

    n_rc: int
    mu: float
    residual_rms: float
    residual_max: float
    valid: bool


@dataclasses.dataclass(frozen=True)
class Conductivity(Record):
    """Ionic conductivity of a pellet, sigma = L / (R A), A = pi d^2 / 4.

    Attributes
    ----------
    sigma_S_cm, sigma_err_S_cm : float
        Conductivity and its standard uncertainty (R and geometry propagated).
    resistance_ohm, resistance_err_ohm : float
    thickness_cm, thickness_err_cm, diameter_cm, diameter_err_cm, area_cm2 : float
    temperature_K : float or None
    provenance : Provenance
    """

    sigma_S_cm: float
    sigma_err_S_cm: float
    resistance_ohm: float
    resistance_err_ohm: float
    thickness_cm: float
    thickness_err_cm: float
    diameter_cm: float
    diameter_err_cm: float
    area_cm2: float
    temperature_K: float | None
    provenance: Provenance


@dataclasses.dataclass(frozen=True)
class EISFit(Record):
    """A fitted impedance spectrum.

    Attributes
    ----------
    circuit : str
        Circuit in impedance.py notation.
    parameter_names, parameter_units : tuple of str
    parameters, parameter_errors : tuple of float
        Best values and standard errors (natural units; errors from the Jacobian,
        scaled by the residual variance; nan where undetermined).
    r_bulk_ohm, r_bulk_err_ohm : float
        Resistor of the highest-frequency arc; if the circuit has no arc, the series
        resistance (bulk and grain boundaries then not separated).
    r_total_ohm, r_total_err_ohm : float
        Sum of all resistors (the intercept of the blocking tail with the real axis).
    rms_relative : float
        RMS of ``|Z_model - Z| / |Z|`` over real and imaginary parts.
    bic : float
        Bayesian information criterion of the modulus-weighted fit.
    n_iterations : int
    flags : tuple of str
        Problems found (``"at-bound:CPE1_1"``, ``"undetermined:CPE1_0"``, ``"kk-invalid"``,
        ``"poor-fit"``). Empty for a clean fit.
    candidates : tuple of (circuit, bic, accepted)
        What ``circuit="auto"`` tried.
    kk : KKResult or None
    conductivity : Conductivity or None
    spectrum : ImpedanceSpectrum
    provenance : Provenance
    """

    circuit: str
    parameter_names: tuple[str, ...]
    parameter_units: tuple[str, ...]
    parameters: tuple[float, ...]
    parameter_errors: tuple[float, ...]
    r_bulk_ohm: float
    r_bulk_err_ohm: float
    r_total_ohm: float
    r_total_err_ohm: float
    rms_relative: float
    bic: float
    n_iterations: int
    flags: tuple[str, ...]
    candidates: tuple[tuple[str, float, bool], ...]
    kk: KKResult | None
    conductivity: Conductivity | None
    spectrum: ImpedanceSpectrum
    provenance: Provenance

    @property
    def params(self) -> dict[str, float]:
        """Parameters by name."""
        return dict(zip(self.parameter_names, self.parameters, strict=True))

    @property
    def temperature_K(self) -> float | None:
        """Temperature of the spectrum, K."""
        return self.spectrum.temperature_K

    def model(self, frequency_Hz: np.ndarray) -> np.ndarray:
        """Model impedance (ohm) at frequencies (Hz)."""
        return Circuit(self.circuit).impedance(
            np.asarray(self.parameters), np.asarray(frequency_Hz, dtype=float)
        )
