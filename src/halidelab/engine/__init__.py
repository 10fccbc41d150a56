"""THE way MLIP work runs: relaxation, MD and NEB images, for one structure or many.

A single structure is a batch of one. Every method takes an evaluator
(:class:`BatchEvaluator`), which a :class:`~halidelab.potentials.Potential` (or a
registry name) or any ASE calculator becomes through :func:`as_evaluator`, and runs its
hot loop as one model call per iteration for everything still running:

- :mod:`.batch`: :func:`get_evaluator` -> a :class:`BatchEvaluator` (SevenNet on
  sevenn's graph batching, with its neighbour list on the device on GPUs; CHGNet on
  ``predict_graph``); :class:`CalculatorLoop`, any ASE calculator one structure at a
  time behind the same interface; packing into batches by an atom budget. Why not
  torch-sim: see the docstring of :mod:`halidelab.engine.batch`.
- :mod:`.optimizers`: ASE's FIRE, BFGS and MDMin updates as one state per system.
- :mod:`.relax`: :func:`relax_batch`, positions and cell (ASE's ``FrechetCellFilter``),
  per-structure convergence (:class:`RelaxResult`); :func:`relax_positions_batch`,
  fixed cell with positions kept unwrapped (NEB endpoints).
- :mod:`.md`: :class:`MDBatch` / :func:`run_md_batch`, Bussi or Langevin NVT for many
  tasks in lock step, one ASE trajectory and checkpoint per task, resumable
  (:class:`MDResult`).
- :mod:`.neb`: :func:`neb_batch`, climbing-image NEB with every image of every band in
  one force call per iteration (:class:`NEBResult`).

The physics built on it (:mod:`halidelab.relax`, :mod:`halidelab.transport.md`,
:mod:`halidelab.transport.neb`) plans the work and describes the results; the engine
imports none of it.
"""

from halidelab.engine.batch import (
    BatchEvaluator,
    CalculatorLoop,
    Evaluation,
    as_evaluator,
    atom_budget,
    cueq_available,
    evaluate_structures,
    get_evaluator,
    pack_batches,
)
from halidelab.engine.md import MDBatch, MDFailure, MDResult, MDTask, run_md_batch
from halidelab.engine.neb import NEBHop, NEBResult, neb_batch
from halidelab.engine.relax import RelaxResult, relax_batch, relax_positions_batch

__all__ = [
    "BatchEvaluator",
    "CalculatorLoop",
    "Evaluation",
    "MDBatch",
    "MDFailure",
    "MDResult",
    "MDTask",
    "NEBHop",
    "NEBResult",
    "RelaxResult",
    "as_evaluator",
    "atom_budget",
    "cueq_available",
    "evaluate_structures",
    "get_evaluator",
    "neb_batch",
    "pack_batches",
    "relax_batch",
    "relax_positions_batch",
    "run_md_batch",
]
