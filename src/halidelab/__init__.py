"""halidelab: design, predict and measure halide solid-state electrolytes.

The main entry points are re-exported lazily (importing ``halidelab`` stays cheap):

>>> import halidelab
>>> report = halidelab.design("Li2ZrCl6", dopant="Nb", site="Zr", x=[0, 0.2])
>>> report.entries[1].composition.formula
'Li1.8Zr0.8Nb0.2Cl6'

Module map, lower layers first. The import graph has no cycle (``tests/test_import_cycles.py``
fails on a new one); a module imports from its own layer or below, except where noted.

- base: ``errors``, ``units``, ``constants``, ``records`` (result records with provenance),
  ``outputs`` (safe, atomic writes), ``plotting``, ``atoms``, ``potentials`` (one
  ``Potential``: model, device, threads).
- engine: ``engine`` (batched relax, MD and NEB for every model; a single structure is a
  batch of one). It imports none of the physics above it.
- science: ``composition``, ``rules``, ``designer``, ``structures`` (prototypes, ordered
  and ball-milled models, checks, XRD simulation), ``relax``, ``transport`` (site
  networks, BVSE, NEB, MD analysis, KMC), ``stability``, ``prior``, ``ensemble``,
  ``literature``, ``arrhenius``, ``lab`` (impedance, DC polarisation, LSV, cycling, XRD
  of measured data). Exception: ``stability`` caches its reference relaxations in the jobs
  layer's store, as tasks of its own kinds.
- jobs: ``screening.tasks`` (Task, keys, the one table of task kinds),
  ``screening.inputs`` (a frozen inputs dataclass per kind, defaults = the library's),
  ``screening.store``, ``screening.runner`` (local, Dask), ``screening.cluster`` (Dask
  local and SLURM/PBS factories), ``screening.kinds`` (the task functions).
- screens: ``screening.grid`` (candidates), ``screening.settings``, ``screening.cost``
  (measured costs, estimate), ``screening.plans`` (rules tier and the staged run).
- studies: ``screening`` (screen, ranking), ``validation`` (reference set, calibration),
  ``cases`` (the Chen 2025 reproduction), ``compare``; ``screening.plans`` ranks through
  ``screening.ranking``, and a study writes its report (``report``) when asked.
- output: ``report`` (HTML reports: they format records they are given), ``cli``.
"""

from __future__ import annotations

__version__ = "0.4.0"

_LAZY = {
    "design": ("halidelab.designer", "design"),
    "design_composition": ("halidelab.composition", "design_composition"),
    "Substitution": ("halidelab.composition", "Substitution"),
    "build_models": ("halidelab.structures.models", "build_models"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'halidelab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
