"""Relaxation on the engine: many structures, one model call per optimiser iteration.

Each structure keeps its own target, an ASE ``FrechetCellFilter`` (positions and the
full cell at zero external pressure) or the atoms alone, and its own optimiser state
(:mod:`halidelab.engine.optimizers`: ASE's FIRE, BFGS or MDMin update); only the energy,
force and stress evaluation is shared: every iteration evaluates all structures that
have not converged yet in one call of the evaluator (split by its atom budget). A
structure leaves the batch when its largest target force (atoms and scaled cell) is
below ``fmax``, exactly ASE's convergence test, or when it used its ``steps``. One
structure is a batch of one: :func:`halidelab.relax.relax` is this with a list of one.

:func:`relax_positions_batch` relaxes positions at fixed cell and never wraps atoms
into the cell (NEB endpoints keep a moving atom where its hop vector put it).
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from halidelab.atoms import to_atoms, to_structure
from halidelab.engine.batch import BatchEvaluator, as_evaluator, single_point_calculator
from halidelab.engine.optimizers import optimizer_class, optimizer_name
from halidelab.errors import StructureError
from halidelab.potentials import provenance
from halidelab.records import Provenance, Record

#: elements counted as the anion frame when normalising volumes (volume per anion)
ANION_ELEMENTS = frozenset({"F", "Cl", "Br", "I", "O", "S", "Se", "Te", "N"})

#: 1 eV/A^3 in GPa
EV_A3_TO_GPA = 160.21766208

#: Default stress criterion of a cell relaxation, GPa (0.5 kbar). ASE's filters alone stop
#: when the cell "force" (virial / number of atoms) is below ``fmax``: a residual stress of
#: up to fmax N / V, 0.2-0.4 GPa for the reference set's 56-96-atom halide cells at fmax
#: 0.05 eV/A, which left CHGNet's cells 1-7 % of volume short of the model's own minimum
#: (the BVSE barrier moves by ~0.02 eV per per cent of volume). 0.05 GPa leaves at most
#: 0.2-0.5 % of volume where the bulk modulus is 10-25 GPa.
STRESS_TOL_GPA = 0.05


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
        The optimiser reached ``fmax_target_eV_A`` (and, for a cell relaxation with
        ``stress_tol_GPa``, that stress) within ``max_steps``.
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
        Wall time of the call that relaxed it (structures relaxed together share it).
    provenance : Provenance
    stress_tol_GPa : float or None
        The stress criterion of a cell relaxation, GPa; None: ASE's force criterion alone
        (positions-only relaxations, and results stored before the criterion existed).
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
    stress_tol_GPa: float | None = None

    def to_structure(self) -> Any:
        """The relaxed structure as a pymatgen ``Structure``."""
        from pymatgen.core import Structure

        return Structure.from_dict(self.structure)


def volume_per_anion_A3(atoms: Any) -> float | None:
    """Cell volume divided by the number of anion-frame atoms (None if there are none)."""
    n = sum(1 for s in atoms.get_chemical_symbols() if s in ANION_ELEMENTS)
    return float(atoms.cell.volume / n) if n else None


#: ``observe(i, step, atoms)``: structure ``i`` after its evaluation at optimiser step
#: ``step`` (0 = the start); ``atoms`` carries a single-point calculator with its energy,
#: forces and stress
Observer = Callable[[int, int, Any], None]


def optimize(
    atoms_list: Sequence[Any],
    targets: Sequence[Any],
    evaluator: BatchEvaluator,
    fmax: float,
    steps: int,
    optimizer: str = "FIRE",
    progress: Callable[[int, int], None] | None = None,
    observe: Observer | None = None,
    stress_tol_GPa: float | None = None,
) -> tuple[list[bool], list[int], list[float]]:
    """Optimise every target (atoms or a filter over them), one batched call per iteration.

    The loop of ASE's ``Optimizer.run(fmax, steps)`` for each system: evaluate, stop
    when the largest target force is below ``fmax`` or ``steps`` were taken, else step.
    Each ``atoms_list[i]`` ends with a single-point calculator of its last evaluation.
    With ``stress_tol_GPa``, a target that is a cell filter (not the atoms themselves)
    must also have every stress component below it, GPa.

    Returns
    -------
    (converged, steps taken, first energy in eV), one entry per structure.
    """
    cls = optimizer_class(optimizer)
    n = len(atoms_list)
    states = [cls() for _ in range(n)]
    nsteps = [0] * n
    converged = [False] * n
    e0 = [math.nan] * n
    active = list(range(n))
    iteration = 0
    with warnings.catch_warnings():
        # scipy's logm (the Frechet cell filter's log of the deformation) warns at 1e-13
        # relative error on many steps: nothing a user can act on, so not shown
        warnings.filterwarnings("ignore", message="logm result may be inaccurate")
        while active:
            results = evaluator.evaluate([atoms_list[i] for i in active])
            still = []
            for i, r in zip(active, results, strict=True):
                a = atoms_list[i]
                a.calc = single_point_calculator(a, r)
                if iteration == 0:
                    e0[i] = r.energy_eV
                if observe is not None:
                    observe(i, nsteps[i], a)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    f = np.asarray(targets[i].get_forces(), float)
                if float(np.sqrt((f**2).sum(axis=1)).max()) < fmax and (
                    stress_tol_GPa is None or targets[i] is a or _max_stress_GPa(a) < stress_tol_GPa
                ):
                    converged[i] = True
                    continue
                if nsteps[i] >= steps:
                    continue
                pos = targets[i].get_positions()
                targets[i].set_positions(pos + states[i].step(pos, f))
                nsteps[i] += 1
                still.append(i)
            active = still
            iteration += 1
            if progress is not None:
                progress(iteration, len(active))
    return converged, nsteps, e0


def _max_stress_GPa(atoms: Any) -> float:
    """Largest |stress component| of ``atoms``' last evaluation, GPa (NaN without stress)."""
    return float(np.abs(atoms.get_stress()).max() * EV_A3_TO_GPA)


def cell_factor(atoms: Any, fmax: float, stress_tol_GPa: float | None) -> float:
    """``exp_cell_factor`` of the cell filter: ASE's default, the number of atoms N, or,
    with a stress criterion, V sigma_tol / fmax where that is smaller.

    The filter divides the virial (-V sigma) by this factor to make the cell's "forces";
    ASE's N makes ``fmax`` on them a stress of fmax N / V, 4-15x looser than 0.05 GPa in
    the reference set's halide cells, and FIRE then moves the cell at the pace of those
    small "forces": on a flat E(V) it crawls (CHGNet's LiAlCl4: 500 steps and still 0.25
    GPa from its minimum). Scaled to V sigma_tol / fmax, a cell "force" of ``fmax`` is the
    stress criterion itself, and the same relaxations converge in 27-99 steps (Li3YCl6,
    LiAlCl4, Li6NBr3 with CHGNet). An extensive value, as ASE recommends.

    Never below 1: the filter's cell coordinate is the factor times the log of the
    deformation, so an optimiser step of 0.2 A (FIRE's largest) deforms the cell by up to
    0.2 / factor; an 8-atom LiCl cell at 0.01 GPa would get 0.17 and a 120 % step (and
    ASE's ``FixSymmetry`` refuses steps above 25 %). Cells above 160 A^3 at 0.05 GPa (800
    A^3 at 0.01 GPa), every halide cell of the reference set, are not affected.
    """
    n = float(len(atoms))
    if stress_tol_GPa is None:
        return n
    return min(n, max(1.0, atoms.get_volume() * stress_tol_GPa / EV_A3_TO_GPA / fmax))


def _check_settings(
    fmax: float, steps: int, optimizer: str, stress_tol_GPa: float | None = None
) -> str:
    if not (fmax > 0) or steps < 1:
        raise StructureError(f"need fmax > 0 eV/A and steps >= 1 (got fmax={fmax}, steps={steps})")
    if stress_tol_GPa is not None and not (stress_tol_GPa > 0 and math.isfinite(stress_tol_GPa)):
        raise StructureError(
            f"stress_tol_GPa must be a positive number of GPa, or None for the force criterion "
            f"alone (got {stress_tol_GPa})"
        )
    try:
        return optimizer_name(optimizer)
    except Exception:
        raise StructureError(f"unknown optimizer {optimizer!r}; use FIRE, BFGS or MDMin") from None


def relax_batch(
    structures: Sequence[Any],
    evaluator: Any = None,
    fmax: float = 0.05,
    steps: int = 300,
    relax_cell: bool = True,
    optimizer: str = "FIRE",
    progress: Callable[[int, int], None] | None = None,
    observe: Observer | None = None,
    stress_tol_GPa: float | None = STRESS_TOL_GPA,
) -> list[RelaxResult]:
    """Relax many structures together (batched force calls, per-structure convergence).

    Parameters
    ----------
    structures : sequence of pymatgen Structure or ase Atoms
        Ordered structures (any sizes and compositions).
    evaluator : BatchEvaluator, Potential, str or ase Calculator, optional
        The model (:func:`halidelab.engine.batch.as_evaluator`); default ``chgnet``.
    fmax : float
        Convergence on the largest force, eV/A (cell "forces" included when
        ``relax_cell``, as in ASE's filters).
    steps : int
        Optimiser steps allowed per structure.
    relax_cell : bool
        Relax the cell too (``FrechetCellFilter``, zero pressure); else positions only.
    optimizer : {"FIRE", "BFGS", "MDMin"}
    progress : callable(iteration, n_active), optional
    observe : callable(i, step, atoms), optional
        Called for each structure after each evaluation (trajectories, progress).
    stress_tol_GPa : float or None
        With ``relax_cell``, converged also needs every stress component below this, GPa
        (:data:`STRESS_TOL_GPA`); None: ASE's criterion alone (``fmax`` on the cell
        "forces", virial / number of atoms, which leaves up to ``fmax`` N / V of stress).

    Returns
    -------
    list of RelaxResult
        One per structure, in order; ``converged`` is per structure and honest.
    """
    from ase.filters import FrechetCellFilter

    if not relax_cell:
        stress_tol_GPa = None  # positions only: no stress to converge
    opt = _check_settings(fmax, steps, optimizer, stress_tol_GPa)
    if not structures:
        raise StructureError("give at least one structure to relax")
    atoms_list = [to_atoms(s) for s in structures]
    ev = as_evaluator(evaluator)
    calls0 = ev.n_calls
    n = len(atoms_list)
    lat0 = [LatticeParams.of(a.cell) for a in atoms_list]
    targets = [
        FrechetCellFilter(a, exp_cell_factor=cell_factor(a, fmax, stress_tol_GPa))
        if relax_cell
        else a
        for a in atoms_list
    ]
    t0 = time.perf_counter()
    converged, nsteps, e_first = optimize(
        atoms_list, targets, ev, fmax, steps, opt, progress, observe, stress_tol_GPa
    )
    wall = time.perf_counter() - t0
    prov = provenance(
        "mlip-relax",
        ev.info,
        {
            "fmax_eV_A": fmax,
            "steps": steps,
            "relax_cell": relax_cell,
            "optimizer": opt,
            "filter": "FrechetCellFilter" if relax_cell else None,
            "stress_tol_GPa": stress_tol_GPa,
            "exp_cell_factor": "min(N, max(1, V stress_tol / fmax))" if stress_tol_GPa else "N",
            "n_structures": n,
            "model_calls": ev.n_calls - calls0,
        },
    )
    out = []
    for i, a in enumerate(atoms_list):
        forces = a.get_forces()
        stress = _max_stress_GPa(a)
        final = to_structure(a)
        out.append(
            RelaxResult(
                formula=final.composition.reduced_formula,
                n_atoms=len(a),
                converged=converged[i],
                steps=nsteps[i],
                max_steps=int(steps),
                fmax_eV_A=float(np.sqrt((forces**2).sum(axis=1).max())),
                fmax_target_eV_A=float(fmax),
                max_stress_GPa=stress,
                energy_per_atom_eV=float(a.get_potential_energy()) / len(a),
                energy_initial_per_atom_eV=float(e_first[i]) / len(a),
                lattice_initial=lat0[i],
                lattice_final=LatticeParams.of(a.cell),
                relax_cell=bool(relax_cell),
                optimizer=opt,
                volume_per_anion_A3=volume_per_anion_A3(a),
                structure=final.as_dict(),
                wall_s=wall,
                provenance=prov,
                stress_tol_GPa=stress_tol_GPa,
            )
        )
    return out


def relax_positions_batch(
    atoms_list: Sequence[Any],
    evaluator: Any = None,
    fmax: float = 0.05,
    steps: int = 300,
    optimizer: str = "FIRE",
    progress: Callable[[int, int], None] | None = None,
) -> list[tuple[Any, bool, int]]:
    """Relax positions at fixed cell, many structures together, positions kept unwrapped.

    NEB endpoints must keep a moving atom where its hop vector put it, so nothing is
    wrapped into the cell and ``FixAtoms`` constraints are kept (ASE's optimiser on the
    atoms themselves, not through pymatgen).

    Parameters
    ----------
    atoms_list : sequence of ase Atoms
    evaluator : BatchEvaluator, Potential, str or ase Calculator, optional
        See :func:`relax_batch`.
    fmax : float
        Convergence on the largest (constrained) force, eV/A.
    steps : int
        Optimiser steps allowed per structure.
    optimizer : {"FIRE", "BFGS", "MDMin"}
    progress : callable(iteration, n_active), optional

    Returns
    -------
    list of (atoms, converged, steps)
        Relaxed copies whose calculator is a single-point record of their energy and
        (unconstrained) forces; model calls per structure are ``steps + 1``.
    """
    from ase import Atoms

    opt = _check_settings(fmax, steps, optimizer)
    copies = []
    for k, a in enumerate(atoms_list):
        if not isinstance(a, Atoms):
            raise StructureError(
                f"structure {k} is a {type(a).__name__}; relax_positions_batch takes ase Atoms"
            )
        b = a.copy()
        b.calc = None
        copies.append(b)
    if not copies:
        return []
    converged, nsteps, _ = optimize(
        copies, copies, as_evaluator(evaluator), fmax, steps, opt, progress
    )
    return [(a, c, s) for a, c, s in zip(copies, converged, nsteps, strict=True)]
