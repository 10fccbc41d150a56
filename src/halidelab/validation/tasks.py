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
    from halidelab.validation.structures import build_reference_model, file_sha256

    path = resolve_structure_file(inputs["structure_file"])
    if not path.is_file():
        raise StructureError(f"reference structure {inputs['structure_file']} not found")
    sha = file_sha256(path)
    if sha != inputs["structure_sha256"]:
        raise StructureError(
            f"{path.name} has changed (sha256 {sha[:12]}..., the task expects "
            f"{inputs['structure_sha256'][:12]}...): rerun validate to rebuild"
        )
    return build_reference_model(
        inputs["composition"],
        inputs["construction"],
        path,
        max_atoms=inputs.get("max_atoms", 160),
        seed=inputs.get("seed", 0),
        orderings=inputs.get("orderings", 1),
    ).to_dict()
