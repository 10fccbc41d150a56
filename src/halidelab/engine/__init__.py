"""Batched execution of MLIP work: many structures, temperatures and NEB images per call.

- :mod:`.batch`: :func:`get_evaluator` -> a :class:`BatchEvaluator` (SevenNet on
  sevenn's graph batching, with its neighbour list on the device on GPUs; CHGNet on
  ``predict_graph``; or a loop over any ASE calculator); packing into batches by an
  atom budget. Why not torch-sim: see the docstring of :mod:`halidelab.engine.batch`.
- :mod:`.relax`: :func:`relax_batch`, FIRE on positions and cell (ASE's
  ``FrechetCellFilter``), per-structure convergence; :func:`relax_positions_batch`,
  fixed cell with positions kept unwrapped (NEB endpoints).
- :mod:`.md`: :func:`run_md_batch`, Bussi NVT for many tasks in lock step, one ASE
  trajectory and checkpoint per task, resumable.
- :mod:`.neb`: :func:`neb_batch`, climbing-image NEB with every image of every hop in
  one force call per iteration (:func:`halidelab.transport.neb.neb_study_batch` builds
  the hops of a model and returns the loop's records).

The single-structure ASE paths (:func:`halidelab.relax.relax`,
:func:`halidelab.transport.md.run_md`, :mod:`halidelab.transport.neb`) stay for small
jobs; the engine returns the same records.
"""

from halidelab.engine.batch import (
    BatchEvaluator,
    CalculatorLoop,
    Evaluation,
    atom_budget,
    cueq_available,
    evaluate_structures,
    get_evaluator,
    pack_batches,
)
from halidelab.engine.md import MDFailure, MDTask, run_md_batch
from halidelab.engine.neb import BatchNEBResult, NEBHop, neb_batch
from halidelab.engine.relax import relax_batch, relax_positions_batch

__all__ = ["BatchEvaluator", "BatchNEBResult", "CalculatorLoop", "Evaluation", "MDFailure", "MDTask",
           "NEBHop", "atom_budget", "cueq_available", "evaluate_structures", "get_evaluator",
           "neb_batch", "pack_batches", "relax_batch", "relax_positions_batch", "run_md_batch"]
