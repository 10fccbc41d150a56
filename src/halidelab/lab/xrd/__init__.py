"""Measured powder XRD: readers, lattice refinement against a structure model, figures.

=====================  ==============================================================
module                 what it holds
=====================  ==============================================================
``io``                 :class:`MeasuredPattern`, :func:`read_pattern` (.xy/.xye/.csv/.xrdml),
                       :func:`write_xrdml`
``crystallography``    free parameters per crystal system, :func:`d_spacing`,
                       :func:`cell_volume`, :func:`crystal_system_of`
``profile``            the Pawley profile model (reflection groups, background, NNLS)
``search``             global search of the cell lengths before least squares
``pawley``             :func:`refine_lattice` (Pawley-type whole-pattern fit)
``records``            :class:`LatticeRefinement`, :class:`FitCurves`
``synthetic``          :func:`synthetic_scan`: lab-like simulated scans with noise
``plots``              :func:`plot_refinement`
=====================  ==============================================================
"""

from halidelab.lab.xrd.crystallography import (
    SYSTEM_PARAMS,
    cell_volume,
    crystal_system_of,
    d_spacing,
    reciprocal_metric,
)
from halidelab.lab.xrd.io import (
    MIN_POINTS,
    MeasuredPattern,
    pattern_from_arrays,
    read_csv,
    read_pattern,
    read_xrdml,
    read_xy,
    write_xrdml,
)
from halidelab.lab.xrd.pawley import refine_lattice
from halidelab.lab.xrd.plots import plot_refinement
from halidelab.lab.xrd.records import FitCurves, LatticeRefinement
from halidelab.lab.xrd.synthetic import synthetic_scan

__all__ = [
    "MIN_POINTS",
    "SYSTEM_PARAMS",
    "FitCurves",
    "LatticeRefinement",
    "MeasuredPattern",
    "cell_volume",
    "crystal_system_of",
    "d_spacing",
    "pattern_from_arrays",
    "plot_refinement",
    "read_csv",
    "read_pattern",
    "read_xrdml",
    "read_xy",
    "reciprocal_metric",
    "refine_lattice",
    "synthetic_scan",
    "write_xrdml",
]
