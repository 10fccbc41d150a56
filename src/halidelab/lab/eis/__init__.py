"""Impedance of solid-electrolyte pellets: circuits, automatic fits, conductivity.

Laid out by concept, the way impedance.py is:

=================  ==================================================================
module             what it holds
=================  ==================================================================
``elements``       one function per circuit element (R, C, L, CPE, W), a registry
``circuits``       :class:`Circuit`: parse impedance.py circuit strings (no ``eval``),
                   evaluate Z and its analytic derivatives
``guesses``        :func:`spectrum_features`, :func:`initial_guess`: guesses from the data
``fitting``        the batched Levenberg-Marquardt and :func:`fit_spectra`/:func:`fit_spectrum`
``validation``     :func:`kramers_kronig` (Lin-KK)
``conductivity``   :func:`conductivity`, :func:`parse_length`, :func:`resistance_for`
``series``         :func:`fit_series`: a temperature series fitted as one analysis
``simulate``       :func:`simulate_spectrum`
``plots``          :func:`plot_nyquist`, :func:`plot_bode`
``records``        :class:`EISFit`, :class:`Conductivity`, :class:`KKResult`
=================  ==================================================================

Readers live in :mod:`halidelab.lab.eis_io`. A pellet between ion-blocking electrodes
gives, from high to low frequency, a bulk arc (``R_b || CPE_b``), sometimes a
grain-boundary arc (``R_gb || CPE_gb``) and a blocking-electrode spike (``CPE_el``).
See :mod:`halidelab.lab.eis.fitting` for why the fit is written here rather than taken
from impedance.py's ``CustomCircuit.fit``.
"""

from halidelab.lab.eis.circuits import Circuit
from halidelab.lab.eis.conductivity import conductivity, parse_length, resistance_for
from halidelab.lab.eis.elements import ELEMENT_TYPES, ELEMENTS, element
from halidelab.lab.eis.fitting import (
    AUTO_NO_TAIL,
    AUTO_TAIL,
    AUTO_TAIL_GB,
    POOR_FIT_RMS,
    UNDETERMINED_SIGMA,
    Resistance,
    fit_spectra,
    fit_spectrum,
    levenberg_marquardt,
)
from halidelab.lab.eis.guesses import SpectrumFeatures, initial_guess, spectrum_features
from halidelab.lab.eis.plots import plot_bode, plot_nyquist
from halidelab.lab.eis.records import Conductivity, EISFit, KKResult
from halidelab.lab.eis.series import (
    JointArrhenius,
    SeriesFit,
    SeriesPoint,
    c_effective,
    fit_series,
    two_arcs_resolved,
)
from halidelab.lab.eis.simulate import (
    arrhenius_resistance,
    simulate_pellet_series,
    simulate_spectrum,
)
from halidelab.lab.eis.validation import kramers_kronig

__all__ = [
    "AUTO_NO_TAIL",
    "AUTO_TAIL",
    "AUTO_TAIL_GB",
    "ELEMENTS",
    "ELEMENT_TYPES",
    "POOR_FIT_RMS",
    "UNDETERMINED_SIGMA",
    "Circuit",
    "Conductivity",
    "EISFit",
    "KKResult",
    "Resistance",
    "SpectrumFeatures",
    "conductivity",
    "element",
    "fit_spectra",
    "fit_spectrum",
    "initial_guess",
    "kramers_kronig",
    "levenberg_marquardt",
    "parse_length",
    "plot_bode",
    "plot_nyquist",
    "resistance_for",
    "simulate_spectrum",
    "spectrum_features",
    "JointArrhenius",
    "SeriesFit",
    "two_arcs_resolved",
    "SeriesPoint",
    "c_effective",
    "fit_series",
    "arrhenius_resistance",
    "simulate_pellet_series",
]
