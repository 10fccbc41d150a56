"""The task functions: each turns JSON inputs into a JSON result.

Kinds: ``design`` (charge balance + rules), ``models`` (ordered supercells),
``xrd`` (simulated pattern), ``relax`` (MLIP relaxation), ``bvse`` (bond-valence
barriers), ``prior`` (data-driven conductivity prior). Heavy imports stay inside the
functions so that a worker imports only what its tasks need.
"""

from __future__ import annotations

import warnings
from typing import Any

from halidelab.screening.tasks import task_function


def _subs(inputs: dict[str, Any]):
    from halidelab.composition import Substitution

    return [Substitution(**s) for s in inputs.get("substitutions", [])]


@task_function("design")
def design_task(inputs: dict[str, Any]) -> dict[str, Any]:
    """Charge-balanced composition and rules verdict of one composition."""
    from halidelab.composition import design_composition
    from halidelab.rules import assess

    comp = design_composition(inputs["parent"], _subs(inputs), inputs.get("oxidation_states"))
    return {"composition": comp.to_dict(), "fit": assess(comp).to_dict()}


@task_function("models")
def models_task(inputs: dict[str, Any]) -> dict[str, Any]:
    """Ordered supercell models of one composition."""
    from halidelab.composition import design_composition
    from halidelab.structures.models import build_models

    comp = design_composition(inputs["parent"], _subs(inputs), inputs.get("oxidation_states"))
    ms = build_models(
        comp,
        polymorph=inputs.get("polymorph"),
        supercell=inputs.get("supercell", "auto"),
        max_atoms=inputs.get("max_atoms", 200),
        n_configs=inputs.get("n_configs", 1),
        seed=inputs.get("seed", 0),
        sweeps=inputs.get("sweeps", 100),
    )
    return ms.to_dict()


@task_function("relax")
def relax_task(inputs: dict[str, Any]) -> dict[str, Any]:
    """MLIP relaxation (positions and cell) of one structure."""
    from pymatgen.core import Structure

    from halidelab.relax import relax

    with warnings.catch_warnings():
        # chgnet warns on every call about a tensor-to-scalar conversion; not ours to fix
        warnings.simplefilter("ignore", UserWarning)
        res = relax(
            Structure.from_dict(inputs["structure"]),
            model=inputs.get("model", "chgnet"),
            device=inputs.get("device", "auto"),
            fmax=inputs.get("fmax", 0.05),
            steps=inputs.get("steps", 300),
            relax_cell=inputs.get("relax_cell", True),
        )
    return res.to_dict()


@task_function("bvse")
def bvse_task(inputs: dict[str, Any]) -> dict[str, Any]:
    """BVSE map and 1D/2D/3D percolation barriers of Li+ in one structure."""
    from pymatgen.core import Structure

    from halidelab.transport.bvse import bvse

    res, _ = bvse(
        Structure.from_dict(inputs["structure"]),
        resolution_A=inputs.get("resolution_A", 0.2),
        e_max_eV=inputs.get("e_max_eV", 5.0),
    )
    return res.to_dict()


@task_function("prior")
def prior_task(inputs: dict[str, Any]) -> dict[str, Any]:
    """Data-driven log10 sigma(RT) prior with its 90% interval and applicability."""
    from halidelab.prior import predict

    (pred,) = predict([inputs["formula"]])
    return pred.to_dict()
