"""Relaxation of positions and cell with an MLIP, and the lattice-vs-x (Vegard) trend.

``relax(structure)`` runs an optimiser (FIRE by default, BFGS or MDMin: ASE's updates)
on a ``FrechetCellFilter`` (positions and the full cell, zero external pressure: the
largest force below ``fmax`` and, unlike ASE's filter alone, every stress component
below ``stress_tol_GPa``) or on the atoms alone (``relax_cell=False``), and returns a
:class:`RelaxResult` that says whether it converged: final max force, steps, energy per
atom and the lattice before and after. ``relax_structures(structures)`` relaxes many
(the orderings of a composition, a doping series) together: both run on the engine
(:func:`halidelab.engine.relax.relax_batch`), a single structure being a batch of one,
with any model: a registry name or :class:`~halidelab.potentials.Potential`, or any ASE
calculator (``calculator=``). ``relax_series(structures, x)`` relaxes a doping series
and fits the lattice against x (:func:`vegard_trend`), stating whether it contracts or
expands.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from pymatgen.core import Structure

from halidelab.atoms import to_atoms, to_structure
from halidelab.engine.batch import as_evaluator
from halidelab.engine.relax import (
    ANION_ELEMENTS,
    EV_A3_TO_GPA,
    STRESS_TOL_GPA,
    LatticeParams,
    RelaxResult,
    relax_batch,
    volume_per_anion_A3,
)
from halidelab.errors import FitError
from halidelab.potentials import Potential
from halidelab.records import Record

__all__ = [
    "ANION_ELEMENTS",
    "EV_A3_TO_GPA",
    "STRESS_TOL_GPA",
    "LatticeParams",
    "RelaxResult",
    "SeriesRelaxResult",
    "VegardTrend",
    "relax",
    "relax_series",
    "relax_structures",
    "to_atoms",
    "to_structure",
    "vegard_trend",
    "volume_per_anion_A3",
]


def relax_structures(
    structures: Sequence[Structure | Any],
    model: Potential | str = "chgnet",
    calculator: Any = None,
    fmax: float = 0.05,
    steps: int = 500,
    relax_cell: bool = True,
    optimizer: str = "FIRE",
    progress: Callable[[int, int], None] | None = None,
    stress_tol_GPa: float | None = STRESS_TOL_GPA,
) -> list[RelaxResult]:
    """Relax several structures together: one model call per optimiser step for all.

    Parameters
    ----------
    structures : sequence of pymatgen Structure or ase Atoms
        Ordered structures (partial occupancies are refused), any sizes: e.g. the
        orderings of one composition.
    model : Potential or str
        The MLIP and where it runs (``Potential("sevennet-0", device="cuda")``).
    calculator : ase Calculator or BatchEvaluator, optional
        Any ASE calculator (one structure per call), used instead of ``model``.
    fmax : float
        Convergence threshold on the largest force, eV/A (for cell relaxations the
        ``FrechetCellFilter`` also counts stress x volume in it).
    steps : int
        Maximum optimiser steps per structure.
    relax_cell : bool
        True: positions and cell (zero pressure); False: positions at fixed cell.
    optimizer : {"FIRE", "BFGS", "MDMin"}
    progress : callable(iteration, n_running), optional
    stress_tol_GPa : float or None
        Cell relaxations also converge every stress component below this, GPa (default
        0.05); None: the force criterion alone, which leaves up to ``fmax`` N / V of
        stress (0.2-0.4 GPa and 1-7 % of volume in the 56-96-atom halide cells measured).

    Returns
    -------
    list of RelaxResult
        In input order; ``converged`` says honestly, per structure, whether ``fmax`` (and
        the stress criterion) was reached within ``steps``.
    """
    atoms_list = [to_atoms(s) for s in structures]  # refuse disordered input before loading a model
    return relax_batch(
        atoms_list,
        as_evaluator(model, calculator),
        fmax=fmax,
        steps=steps,
        relax_cell=relax_cell,
        optimizer=optimizer,
        progress=progress,
        stress_tol_GPa=stress_tol_GPa,
    )


def relax(
    structure: Structure | Any,
    model: Potential | str = "chgnet",
    calculator: Any = None,
    fmax: float = 0.05,
    steps: int = 500,
    relax_cell: bool = True,
    optimizer: str = "FIRE",
    trajectory: str | None = None,
    progress: Callable[[int, float], None] | None = None,
    stress_tol_GPa: float | None = STRESS_TOL_GPA,
) -> RelaxResult:
    """Relax atomic positions (and the cell) of one structure with an MLIP.

    Parameters
    ----------
    structure : pymatgen Structure or ase Atoms
        Ordered structure (partial occupancies are refused).
    model, calculator, fmax, steps, relax_cell, optimizer, stress_tol_GPa
        As in :func:`relax_structures`.
    trajectory : str, optional
        ASE ``.traj`` file of the optimisation (one frame per step, the start included:
        positions, cell, energy, forces, stress).
    progress : callable(step, fmax), optional
        Called at the start and after each step with the largest atomic force, eV/A.

    Returns
    -------
    RelaxResult
        ``converged`` says honestly whether ``fmax`` was reached within ``steps``.
    """
    atoms = to_atoms(structure)
    writer = None
    if trajectory is not None:
        from ase.io.trajectory import Trajectory

        writer = Trajectory(str(trajectory), "w")

    def observe(_i: int, step: int, a: Any) -> None:
        if writer is not None:
            writer.write(a)
        if progress is not None:
            progress(step, float(np.sqrt((a.get_forces() ** 2).sum(axis=1).max())))

    try:
        (res,) = relax_batch(
            [atoms],
            as_evaluator(model, calculator),
            fmax=fmax,
            steps=steps,
            relax_cell=relax_cell,
            optimizer=optimizer,
            observe=observe if writer is not None or progress is not None else None,
            stress_tol_GPa=stress_tol_GPa,
        )
    finally:
        if writer is not None:
            writer.close()
    return res


@dataclasses.dataclass(frozen=True)
class LinearTrend(Record):
    """Straight-line fit y = intercept + slope * x with standard errors."""

    quantity: str
    slope: float
    slope_err: float | None
    intercept: float
    relative_change_per_x: float
    n_points: int


@dataclasses.dataclass(frozen=True)
class VegardTrend(Record):
    """Lattice against x across a series.

    Attributes
    ----------
    x : tuple of float
    volume_per_anion_A3 : tuple of float
    fits : tuple of LinearTrend
        Volume per anion always; a, b, c and volume when all cells have the same shape
        (same anion count), else only the per-anion volume.
    trend : {"contracts", "expands", "no significant change", "undetermined"}
        From the per-anion volume slope: significant when |slope| > 2 sigma (with two
        points there is no sigma and the sign alone decides, said in ``statement``).
    statement : str
        One sentence a user can quote, said either way.
    """

    x: tuple[float, ...]
    labels: tuple[str, ...]
    volume_per_anion_A3: tuple[float, ...]
    fits: tuple[LinearTrend, ...]
    trend: str
    statement: str


def _line(quantity: str, x: np.ndarray, y: np.ndarray) -> LinearTrend:
    n = len(x)
    coef = np.polyfit(x, y, 1)
    slope, intercept = float(coef[0]), float(coef[1])
    err = None
    if n > 2:
        resid = y - (intercept + slope * x)
        s2 = float(resid @ resid) / (n - 2)
        err = math.sqrt(s2 / float(((x - x.mean()) ** 2).sum()))
    ref = intercept if intercept != 0 else float(np.mean(y))
    return LinearTrend(quantity, slope, err, intercept, slope / ref, n)


def vegard_trend(
    x: Sequence[float],
    lattices: Sequence[LatticeParams],
    volume_per_anion: Sequence[float],
    labels: Sequence[str] | None = None,
    same_shape: bool = True,
) -> VegardTrend:
    """Fit lattice against x and state whether the lattice contracts.

    Parameters
    ----------
    x : sequence of float
        Dopant content of each structure.
    lattices : sequence of LatticeParams
    volume_per_anion : sequence of float
        A^3 per anion; comparable across different supercells.
    labels : sequence of str, optional
    same_shape : bool
        Also fit a, b, c and the cell volume (only meaningful for identical supercells).

    Raises
    ------
    FitError
        Fewer than two distinct x values.
    """
    xa = np.asarray(x, dtype=float)
    if len(xa) != len(lattices) or len(xa) != len(volume_per_anion):
        raise FitError("x, lattices and volumes must have the same length")
    if len(np.unique(xa)) < 2:
        raise FitError("a Vegard trend needs at least two different x values")
    v = np.asarray(volume_per_anion, dtype=float)
    fits = [_line("volume_per_anion_A3", xa, v)]
    if same_shape:
        for q in ("a_A", "b_A", "c_A", "volume_A3"):
            fits.append(_line(q, xa, np.array([getattr(lat, q) for lat in lattices])))
    vf = fits[0]
    span = float(xa.max() - xa.min())
    pct = 100 * vf.relative_change_per_x * span
    if vf.slope_err is None:
        trend = (
            "contracts" if vf.slope < 0 else "expands" if vf.slope > 0 else "no significant change"
        )
        note = "two points only, no uncertainty on the slope"
    elif abs(vf.slope) > 2 * vf.slope_err:
        trend = "contracts" if vf.slope < 0 else "expands"
        note = f"slope {vf.slope:+.3g} +- {vf.slope_err:.2g} A^3/anion per unit x"
    else:
        trend = "no significant change"
        note = (
            f"slope {vf.slope:+.3g} +- {vf.slope_err:.2g} A^3/anion per unit x "
            "is within 2 sigma of 0"
        )
    verb = {
        "contracts": "contracts",
        "expands": "expands",
        "no significant change": "does not change significantly",
    }[trend]
    statement = (
        f"the lattice {verb} with x: volume per anion changes by {pct:+.2f}% over "
        f"x = {xa.min():g}..{xa.max():g} ({note})"
    )
    labs = tuple(labels) if labels is not None else tuple(f"x={xi:g}" for xi in xa)
    return VegardTrend(
        tuple(float(v) for v in xa), labs, tuple(float(t) for t in v), tuple(fits), trend, statement
    )


@dataclasses.dataclass(frozen=True)
class SeriesRelaxResult(Record):
    """Relaxations of a doping series and their Vegard trend."""

    results: tuple[RelaxResult, ...]
    vegard: VegardTrend
    all_converged: bool


def relax_series(
    structures: Sequence[Structure | Any],
    x: Sequence[float],
    labels: Sequence[str] | None = None,
    **relax_kwargs: Any,
) -> SeriesRelaxResult:
    """Relax each structure of a series (together) and fit its lattice against x.

    Parameters
    ----------
    structures : sequence of Structure or Atoms
        Ordered models, one per x (e.g. ``build_models`` output for each x).
    x : sequence of float
        Dopant content of each structure.
    labels : sequence of str, optional
    **relax_kwargs
        Passed to :func:`relax_structures` (model, calculator, fmax, steps, ...).

    Returns
    -------
    SeriesRelaxResult
        With ``vegard.trend`` and ``vegard.statement`` saying whether the lattice
        contracts, expands, or does not change significantly.
    """
    if len(structures) != len(x):
        raise FitError(
            f"{len(structures)} structures but {len(x)} x values: give one x per structure"
        )
    if labels is not None and len(labels) != len(structures):
        raise FitError("give one label per structure")
    results = tuple(relax_structures(structures, **relax_kwargs))
    n_anion = {
        round(r.lattice_final.volume_A3 / r.volume_per_anion_A3) if r.volume_per_anion_A3 else 0
        for r in results
    }
    vegard = vegard_trend(
        x,
        [r.lattice_final for r in results],
        [
            r.volume_per_anion_A3
            if r.volume_per_anion_A3 is not None
            else r.lattice_final.volume_A3
            for r in results
        ],
        labels=labels,
        same_shape=len(n_anion) == 1,
    )
    return SeriesRelaxResult(results, vegard, all(r.converged for r in results))
