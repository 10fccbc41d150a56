"""Task kinds of the stability package (registered in the screening task registry).

- ``stability-reference``: MLIP relaxation of one competing phase; inputs
  ``structure`` (``Structure.as_dict()``), ``model``, ``fmax``, ``steps``, ``relax_cell``,
  ``stress_tol_GPa``;
  result ``RelaxResult.to_dict()``. Used as the cache of :mod:`.references`.
- ``stability-hull``: energy above hull of one formula or structure; inputs ``formula``
  or ``structure``, ``model``, ``n_configs``; result ``HullResult.to_dict()``.
"""

from __future__ import annotations

from typing import Any

from halidelab.screening.tasks import execute, task_function


@task_function("stability-reference")
def reference_task(inputs: dict[str, Any]) -> dict[str, Any]:
    """Relax one reference structure with an MLIP: the ``relax`` task under its own kind,
    so that reference phases are cached (and listed) apart from candidate relaxations."""
    return execute("relax", inputs)


@task_function("stability-hull")
def hull_task(inputs: dict[str, Any]) -> dict[str, Any]:
    """Energy above the MLIP convex hull of one candidate (formula or structure)."""
    from pymatgen.core import Structure

    from halidelab.stability.hull import energy_above_hull

    target: Any = inputs.get("formula")
    if inputs.get("structure") is not None:
        target = Structure.from_dict(inputs["structure"])
    res = energy_above_hull(
        target,
        model=inputs.get("model", "chgnet"),
        n_configs=inputs.get("n_configs", 1),
        seed=inputs.get("seed", 0),
        store=None,
    )
    return res.to_dict()
