"""Batched relaxation of positions and cell: one model call per FIRE iteration for all.

Each structure keeps its own ASE ``FrechetCellFilter`` (positions and the full cell at
zero external pressure, as :func:`halidelab.relax.relax`) and its own FIRE state
(:class:`halidelab.engine.fire.FireState`, ASE's FIRE update); only the energy, force
and stress evaluation is shared: every iteration evaluates all structures that have not
converged yet in one batched call (split by the atom budget). A structure leaves the
batch when its largest filter force (atoms and scaled cell) is below ``fmax``, exactly
ASE's convergence test, or when it used its ``steps``. Results are the
:class:`halidelab.relax.RelaxResult` records of the single-structure path.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from halidelab.engine.batch import BatchEvaluator, as_evaluator, single_point_calculator
from halidelab.engine.fire import FireState
from halidelab.errors import StructureError
from halidelab.records import Provenance


def relax_batch(
    structures: Sequence[Any],
    fmax: float = 0.05,
    steps: int = 300,
    relax_cell: bool = True,
    evaluator: BatchEvaluator | None = None,
    model: str = "chgnet",
    device: str = "auto",
    threads: int | None = None,
    modal: str | None = None,
    enable_cueq: bool | None = None,
    max_atoms: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Any]:
    """Relax many structures together (FIRE, batched force calls).

    Parameters
    ----------
    structures : sequence of pymatgen Structure or ase Atoms
        Ordered structures (any sizes and compositions).
    fmax : float
        Convergence on the largest force, eV/A (cell "forces" included when
        ``relax_cell``, as in ASE's filters).
    steps : int
        FIRE steps allowed per structure.
    relax_cell : bool
        Relax the cell too (``FrechetCellFilter``, zero pressure); else positions only.
    evaluator : BatchEvaluator, optional
        Default :func:`halidelab.engine.batch.get_evaluator` with ``model``, ``device``,
        ``threads``, ``modal``, ``enable_cueq``, ``max_atoms``.
    progress : callable(iteration, n_active), optional

    Returns
    -------
    list of halidelab.relax.RelaxResult
        One per structure, in order; ``converged`` is per structure and honest.
    """
    from ase.filters import FrechetCellFilter

    from halidelab.relax import (
        EV_A3_TO_GPA,
        LatticeParams,
        RelaxResult,
        to_atoms,
        to_structure,
        volume_per_anion_A3,
    )

    if not (fmax > 0) or steps < 1:
        raise StructureError(f"need fmax > 0 eV/A and steps >= 1 (got fmax={fmax}, steps={steps})")
    if not structures:
        raise StructureError("give at least one structure to relax")
    atoms_list = [to_atoms(s) for s in structures]
    ev = as_evaluator(evaluator, model, device, threads, modal, enable_cueq, max_atoms)
    n = len(atoms_list)
    lat0 = [LatticeParams.of(a.cell) for a in atoms_list]
    targets = [FrechetCellFilter(a) if relax_cell else a for a in atoms_list]
    t0 = time.perf_counter()
    converged, nsteps, e_first = _fire_batch(atoms_list, targets, ev, fmax, steps, progress)
    e0 = [e / len(a) for e, a in zip(e_first, atoms_list, strict=True)]
    wall = time.perf_counter() - t0
    params = {"fmax_eV_A": fmax, "steps": steps, "relax_cell": relax_cell, "optimizer": "FIRE",
              "filter": "FrechetCellFilter" if relax_cell else None, "batched": True,
              "n_structures": n, "model_calls": ev.n_calls}
    prov = Provenance(method="mlip-relax-batch", model=ev.info.get("name"),
                      model_version=ev.info.get("version"),
                      parameters={**params, "device": ev.info.get("device"),
                                  "enable_cueq": ev.info.get("enable_cueq"),
                                  "batching": ev.info.get("batching")})
    out = []
    for i, a in enumerate(atoms_list):
        forces = a.get_forces()
        try:
            stress = float(np.abs(a.get_stress()).max() * EV_A3_TO_GPA)
        except Exception:  # evaluators without stress
            stress = math.nan
        out.append(RelaxResult(
            formula=to_structure(a).composition.reduced_formula,
            n_atoms=len(a),
            converged=converged[i],
            steps=nsteps[i],
            max_steps=int(steps),
            fmax_eV_A=float(np.sqrt((forces**2).sum(axis=1).max())),
            fmax_target_eV_A=float(fmax),
            max_stress_GPa=stress,
            energy_per_atom_eV=float(a.get_potential_energy()) / len(a),
            energy_initial_per_atom_eV=float(e0[i]),
            lattice_initial=lat0[i],
            lattice_final=LatticeParams.of(a.cell),
            relax_cell=bool(relax_cell),
            optimizer="FIRE",
            volume_per_anion_A3=volume_per_anion_A3(a),
            structure=to_structure(a).as_dict(),
            wall_s=wall,  # the whole batch: structures share the wall time
            provenance=prov,
        ))
    return out


def _fire_batch(atoms_list: list[Any], targets: list[Any], ev: BatchEvaluator, fmax: float, steps: int,
                progress: Callable[[int, int], None] | None = None) -> tuple[list[bool], list[int], list[float]]:
    """FIRE on every target (atoms or a cell filter over them), one batched call per iteration.

    Each ``atoms_list[i]`` gets a single-point calculator with its latest evaluation.
    Returns per structure: converged, steps taken, first energy (eV).
    """
    n = len(atoms_list)
    fire = [FireState() for _ in range(n)]
    nsteps = [0] * n
    converged = [False] * n
    e0 = [math.nan] * n
    active = list(range(n))
    iteration = 0
    while active:
        results = ev.evaluate([atoms_list[i] for i in active])
        still = []
        for i, r in zip(active, results, strict=True):
            a = atoms_list[i]
            a.calc = single_point_calculator(a, r)
            if iteration == 0:
                e0[i] = r.energy_eV
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                f = np.asarray(targets[i].get_forces(), float)
            if float(np.sqrt((f**2).sum(axis=1)).max()) < fmax:
                converged[i] = True
                continue
            if nsteps[i] >= steps:
                continue
            dr = fire[i].step(f)
            targets[i].set_positions(targets[i].get_positions() + dr)
            nsteps[i] += 1
            still.append(i)
        active = still
        iteration += 1
        if progress is not None:
            progress(iteration, len(active))
    return converged, nsteps, e0


def relax_positions_batch(
    atoms_list: Sequence[Any],
    fmax: float = 0.05,
    steps: int = 300,
    evaluator: BatchEvaluator | None = None,
    model: str = "chgnet",
    device: str = "auto",
    threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[tuple[Any, bool, int]]:
    """Relax positions at fixed cell, many structures together, positions kept unwrapped.

    The batched twin of :func:`halidelab.transport.neb.relax_fixed_cell` (ASE's FIRE
    update, so the same path up to float noise): NEB endpoints must keep a moving atom
    where its hop vector put it, so nothing is wrapped into the cell and ``FixAtoms``
    constraints are kept.

    Parameters
    ----------
    atoms_list : sequence of ase Atoms
    fmax : float
        Convergence on the largest (constrained) force, eV/A.
    steps : int
        FIRE steps allowed per structure.
    evaluator : BatchEvaluator, optional
        Default :func:`halidelab.engine.batch.get_evaluator` with ``model``, ``device``,
        ``threads``.
    progress : callable(iteration, n_active), optional

    Returns
    -------
    list of (atoms, converged, steps)
        Relaxed copies whose calculator is a single-point record of their energy and
        (unconstrained) forces; model calls per structure are ``steps + 1``.
    """
    from ase import Atoms

    if not (fmax > 0) or steps < 1:
        raise StructureError(f"need fmax > 0 eV/A and steps >= 1 (got fmax={fmax}, steps={steps})")
    copies = []
    for k, a in enumerate(atoms_list):
        if not isinstance(a, Atoms):
            raise StructureError(f"structure {k} is a {type(a).__name__}; relax_positions_batch takes ase Atoms")
        b = a.copy()
        b.calc = None
        copies.append(b)
    if not copies:
        return []
    ev = as_evaluator(evaluator, model, device, threads)
    converged, nsteps, _ = _fire_batch(copies, copies, ev, fmax, steps, progress)
    return [(a, c, s) for a, c, s in zip(copies, converged, nsteps, strict=True)]
