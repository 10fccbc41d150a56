"""Task kind ``reference-model``: the ordered model of one reference material.

Inputs
------
composition, construction : str
    From the reference row.
structure_file : str
    The row's ``structure_file`` (resolved under ``halidelab/data``).
structure_sha256 : str
    SHA-256 of that file: part of the key, and checked before building.
max_atoms, seed : int
orderings : int, optional
    Present only above 1: how many orderings to build (the first is the one built without
    it, so its results are shared).
milled_min_width_A, milled_max_atoms : float, int, optional
    Present only for ball-milled constructions: the milled model's cell size
    (:func:`~halidelab.validation.structures.build_reference_model`). A task without them
    of a milled row (stored before they existed) builds it on the annealed model's cell
    (8 A, ``max_atoms``), as it was then.
annealed_min_width_A : float, optional
    Present only for annealed rows built wider than :data:`MIN_WIDTH_A` (8 A): the
    smallest width of their cell (``validate --annealed-width``).

Returns ``ReferenceModel.to_dict()``. The later tiers use the existing kinds (``relax``,
``bvse``, ``neb``, ``prior``) with the inputs ``screen`` and ``reproduce`` use, so one
store shares their results.
"""

from __future__ import annotations

from typing import Any

from halidelab.screening.tasks import task_function


@task_function("reference-model")
def reference_model_task(inputs: dict[str, Any]) -> dict[str, Any]:
    """Build the ordered model of one reference material (see the module docstring)."""
    from halidelab.errors import StructureError
    from halidelab.validation.reference import resolve_structure_file
    from halidelab.validation.structures import (
        MIN_WIDTH_A,
        build_reference_model,
        file_sha256,
        parse_construction,
    )

    path = resolve_structure_file(inputs["structure_file"])
    if not path.is_file():
        raise StructureError(f"reference structure {inputs['structure_file']} not found")
    sha = file_sha256(path)
    if sha != inputs["structure_sha256"]:
        raise StructureError(
            f"{path.name} has changed (sha256 {sha[:12]}..., the task expects "
            f"{inputs['structure_sha256'][:12]}...): rerun validate to rebuild"
        )
    size = {k: inputs[k] for k in ("milled_min_width_A", "milled_max_atoms") if k in inputs}
    if not size and parse_construction(inputs["construction"])["state"] == "ball-milled":
        # a key from before the milled cell size existed: the cell it was built on then
        size = {"milled_min_width_A": MIN_WIDTH_A, "milled_max_atoms": inputs.get("max_atoms", 160)}
    return build_reference_model(
        inputs["composition"],
        inputs["construction"],
        path,
        max_atoms=inputs.get("max_atoms", 160),
        min_width_A=inputs.get("annealed_min_width_A", MIN_WIDTH_A),
        seed=inputs.get("seed", 0),
        orderings=inputs.get("orderings", 1),
        **size,
    ).to_dict()
