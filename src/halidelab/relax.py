"""Relaxation of positions and cell with an MLIP, and the lattice-vs-x (Vegard) trend.

``relax(structure)`` runs an ASE optimiser (FIRE by default, or BFGS) on a
``FrechetCellFilter`` (positions and the full cell, zero external pressure) or on the
atoms alone (``relax_cell=False``), and returns a :class:`RelaxResult` that says
whether it converged: final max force, steps, energy per atom and the lattice before
and after. ``relax_series(structures, x)`` relaxes a doping series and fits the
lattice against x (:func:`vegard_trend`), stating whether it contracts or expands.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from pymatgen.core import Structure

from halidelab.errors import FitError, StructureError
from halidelab.records import Provenance, Record

#: elements counted as the anion frame when normalising volumes (volume per anion)
ANION_ELEMENTS = frozenset({"F", "Cl", "Br", "I", "O", "S", "Se", "Te", "N"})

#: 1 eV/A^3 in GPa
EV_A3_TO_GPA = 160.21766208


@dataclasses.dataclass(frozen=True)
class LatticeParams(Record):
    """Cell parameters in A and degrees, volume in A^3."""

    a_A: float
    b_A: float
    c_A: float
    alpha_deg: float
    beta_deg: float
    gamma_deg: float
    volume_A3: float

    @classmethod
    def of(cls, cell: Any) -> LatticeParams:
        """From an ASE ``Cell`` / 3x3 matrix (rows are lattice vectors, A)."""
        from ase.cell import Cell

        c = Cell(np.asarray(cell, dtype=float))
        a, b, cc, al, be, ga = (float(v) for v in c.cellpar())
        return cls(a, b, cc, al, be, ga, float(abs(c.volume)))


@dataclasses.dataclass(frozen=True)
class RelaxResult(Record):
    """Outcome of one relaxation.

    Attributes
    ----------
    formula : str
        Reduced formula.
    n_atoms : int
    converged : bool
        The optimiser reached ``fmax_target_eV_A`` within ``max_steps``.
    steps : int
        Optimiser steps taken.
    fmax_eV_A : float
        Largest atomic force at the end, eV/A.
    max_stress_GPa : float
        Largest stress component at the end (cell relaxations; else at fixed cell).
    energy_per_atom_eV, energy_initial_per_atom_eV : float
        Energy per atom after and before, eV/atom.
    lattice_initial, lattice_final : LatticeParams
    relax_cell : bool
    volume_per_anion_A3 : float or None
        Final volume per anion (F, Cl, Br, I, O, S, N), A^3; the size measure that is
        comparable between supercells of a doping series.
    structure : dict
        Relaxed structure (pymatgen ``Structure.as_dict()``).
    wall_s : float
    provenance : Provenance
    """

    formula: str
    n_atoms: int
    converged: bool
    steps: int
    max_steps: int
    fmax_eV_A: float
    fmax_target_eV_A: float
    max_stress_GPa: float
    energy_per_atom_eV: float
    energy_initial_per_atom_eV: float
    lattice_initial: LatticeParams
    lattice_final: LatticeParams
    relax_cell: bool
    optimizer: str
    volume_per_anion_A3: float | None
    structure: dict[str, Any]
    wall_s: float
    provenance: Provenance

    def to_structure(self) -> Structure:
        """The relaxed structure as a pymatgen ``Structure``."""
        return Structure.from_dict(self.structure)


def to_atoms(structure: Structure | Any) -> Any:
    """An ASE ``Atoms`` copy of a pymatgen ``Structure`` or ``Atoms``.

    Raises
    ------
    StructureError
        Partially occupied sites (order the structure first), no atoms, no cell.
    """
    from ase import Atoms
    from pymatgen.io.ase import AseAtomsAdaptor

    if isinstance(structure, Atoms):
        atoms = structure.copy()
        atoms.calc = None
    elif isinstance(structure, Structure):
        if not structure.is_ordered:
            raise StructureError(
                f"{structure.composition.reduced_formula} has partially occupied sites: order "
                "the structure first (halidelab.build_models or `halidelab design --models`)")
        s = structure.copy()
        s.remove_oxidation_states()
        atoms = AseAtomsAdaptor.get_atoms(s)
    else:
        raise StructureError(f"expected a pymatgen Structure or ase Atoms, got {type(structure).__name__}")
    if len(atoms) == 0:
        raise StructureError("structure has no atoms")
    if not atoms.pbc.all() or atoms.cell.volume < 1.0:
        raise StructureError("structure needs a periodic 3D cell (pbc on all axes, nonzero volume)")
    return atoms


def to_structure(atoms: Any) -> Structure:
    """pymatgen ``Structure`` of ASE ``Atoms``."""
    from pymatgen.io.ase import AseAtomsAdaptor

    a = atoms.copy()
    a.calc = None
    a.constraints = []
    return AseAtomsAdaptor.get_structure(a)


def volume_per_anion_A3(atoms: Any) -> float | None:
    """Cell volume divided by the number of anion-frame atoms (None if there are none)."""
    n = sum(1 for s in atoms.get_chemical_symbols() if s in ANION_ELEMENTS)
    return float(atoms.cell.volume / n) if n else None


def _calculator(calculator: Any, model: str, device: str, threads: int | None, modal: str | None) -> Any:
    if calculator is not None:
        return calculator
    from halidelab.potentials import get_calculator

    return get_calculator(model, device=device, threads=threads, modal=modal)


def relax(
    structure: Structure | Any,
    calculator: Any = None,
    model: str = "chgnet",
    device: str = "auto",
    threads: int | None = None,
    modal: str | None = None,
    fmax: float = 0.05,
    steps: int = 500,
    relax_cell: bool = True,
    optimizer: str = "FIRE",
    trajectory: str | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> RelaxResult:
    """Relax atomic positions (and the cell) with an MLIP.

    Parameters
    ----------
    structure : pymatgen Structure or ase Atoms
        Ordered structure (partial occupancies are refused).
    calculator : ase Calculator, optional
        Any ASE calculator; default: ``potentials.get_calculator(model, device, threads)``.
    model, device, threads, modal
        Passed to :func:`halidelab.potentials.get_calculator` when no calculator is given.
    fmax : float
        Convergence threshold on the largest force, eV/A (for cell relaxations the
        ``FrechetCellFilter`` also counts stress x volume in it).
    steps : int
        Maximum optimiser steps.
    relax_cell : bool
        True: positions and cell (zero pressure); False: positions at fixed cell.
    optimizer : {"FIRE", "BFGS"}
    trajectory : str, optional
        ASE ``.traj`` file of the optimisation.
    progress : callable(step, fmax), optional
        Called after each step.

    Returns
    -------
    RelaxResult
        ``converged`` says honestly whether ``fmax`` was reached within ``steps``.
    """
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS, FIRE

    from halidelab.potentials import provenance

    if fmax <= 0 or steps < 1:
        raise StructureError(f"need fmax > 0 eV/A and steps >= 1 (got fmax={fmax}, steps={steps})")
    opt_cls = {"FIRE": FIRE, "BFGS": BFGS}.get(str(optimizer).upper())
    if opt_cls is None:
        raise StructureError(f"unknown optimizer {optimizer!r}; use FIRE or BFGS")
    atoms = to_atoms(structure)
    calc = _calculator(calculator, model, device, threads, modal)
    atoms.calc = calc
    lat0 = LatticeParams.of(atoms.cell)
    t0 = time.perf_counter()
    e0 = float(atoms.get_potential_energy()) / len(atoms)
    target = FrechetCellFilter(atoms) if relax_cell else atoms
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = opt_cls(target, logfile=None, trajectory=trajectory)
        if progress is not None:
            opt.attach(lambda: progress(opt.nsteps, float(np.sqrt((atoms.get_forces() ** 2).sum(1).max()))))
        converged = bool(opt.run(fmax=fmax, steps=steps))
    forces = atoms.get_forces()
    fmax_final = float(np.sqrt((forces**2).sum(axis=1).max()))
    try:
        stress = float(np.abs(atoms.get_stress()).max() * EV_A3_TO_GPA)
    except Exception:  # calculators without stress
        stress = math.nan
    e1 = float(atoms.get_potential_energy()) / len(atoms)
    params = {"fmax_eV_A": fmax, "steps": steps, "relax_cell": relax_cell,
              "optimizer": opt_cls.__name__, "filter": "FrechetCellFilter" if relax_cell else None}
    return RelaxResult(
        formula=to_structure(atoms).composition.reduced_formula,
        n_atoms=len(atoms),
        converged=converged,
        steps=int(opt.nsteps),
        max_steps=int(steps),
        fmax_eV_A=fmax_final,
        fmax_target_eV_A=float(fmax),
        max_stress_GPa=stress,
        energy_per_atom_eV=e1,
        energy_initial_per_atom_eV=e0,
        lattice_initial=lat0,
        lattice_final=LatticeParams.of(atoms.cell),
        relax_cell=bool(relax_cell),
        optimizer=opt_cls.__name__,
        volume_per_anion_A3=volume_per_anion_A3(atoms),
        structure=to_structure(atoms).as_dict(),
        wall_s=time.perf_counter() - t0,
        provenance=provenance("mlip-relax", calc, params),
    )


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


def vegard_trend(x: Sequence[float], lattices: Sequence[LatticeParams],
                 volume_per_anion: Sequence[float], labels: Sequence[str] | None = None,
                 same_shape: bool = True) -> VegardTrend:
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
        trend = "contracts" if vf.slope < 0 else "expands" if vf.slope > 0 else "no significant change"
        note = "two points only, no uncertainty on the slope"
    elif abs(vf.slope) > 2 * vf.slope_err:
        trend = "contracts" if vf.slope < 0 else "expands"
        note = f"slope {vf.slope:+.3g} +- {vf.slope_err:.2g} A^3/anion per unit x"
    else:
        trend = "no significant change"
        note = f"slope {vf.slope:+.3g} +- {vf.slope_err:.2g} A^3/anion per unit x is within 2 sigma of 0"
    verb = {"contracts": "contracts", "expands": "expands",
            "no significant change": "does not change significantly"}[trend]
    statement = (f"the lattice {verb} with x: volume per anion changes by {pct:+.2f}% over "
                 f"x = {xa.min():g}..{xa.max():g} ({note})")
    labs = tuple(labels) if labels is not None else tuple(f"x={xi:g}" for xi in xa)
    return VegardTrend(tuple(float(v) for v in xa), labs, tuple(float(t) for t in v), tuple(fits),
                       trend, statement)


@dataclasses.dataclass(frozen=True)
class SeriesRelaxResult(Record):
    """Relaxations of a doping series and their Vegard trend."""

    results: tuple[RelaxResult, ...]
    vegard: VegardTrend
    all_converged: bool


def relax_series(structures: Sequence[Structure | Any], x: Sequence[float],
                 labels: Sequence[str] | None = None, **relax_kwargs: Any) -> SeriesRelaxResult:
    """Relax each structure of a series and fit its lattice against x.

    Parameters
    ----------
    structures : sequence of Structure or Atoms
        Ordered models, one per x (e.g. ``build_models`` output for each x).
    x : sequence of float
        Dopant content of each structure.
    labels : sequence of str, optional
    **relax_kwargs
        Passed to :func:`relax` (model, calculator, fmax, steps, ...). The calculator is
        created once and shared.

    Returns
    -------
    SeriesRelaxResult
        With ``vegard.trend`` and ``vegard.statement`` saying whether the lattice
        contracts, expands, or does not change significantly.
    """
    if len(structures) != len(x):
        raise FitError(f"{len(structures)} structures but {len(x)} x values: give one x per structure")
    if labels is not None and len(labels) != len(structures):
        raise FitError("give one label per structure")
    atoms_list = [to_atoms(s) for s in structures]  # refuse disordered input before any work
    if relax_kwargs.get("calculator") is None:
        relax_kwargs["calculator"] = _calculator(None, relax_kwargs.pop("model", "chgnet"),
                                                 relax_kwargs.pop("device", "auto"),
                                                 relax_kwargs.pop("threads", None),
                                                 relax_kwargs.pop("modal", None))
    results = tuple(relax(a, **relax_kwargs) for a in atoms_list)
    n_anion = {round(r.lattice_final.volume_A3 / r.volume_per_anion_A3) if r.volume_per_anion_A3 else 0
               for r in results}
    vegard = vegard_trend(
        x, [r.lattice_final for r in results],
        [r.volume_per_anion_A3 if r.volume_per_anion_A3 is not None else r.lattice_final.volume_A3
         for r in results],
        labels=labels, same_shape=len(n_anion) == 1)
    return SeriesRelaxResult(results, vegard, all(r.converged for r in results))
