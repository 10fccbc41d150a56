"""The task functions: each turns JSON inputs into a JSON result.

Kinds: ``design`` (charge balance + rules), ``models`` (ordered supercells),
``xrd`` (simulated pattern), ``relax`` (MLIP relaxation), ``bvse`` (bond-valence
barriers), ``prior`` (data-driven conductivity prior), ``neb`` (CI-NEB study), ``md``,
``hull`` (energy above the MLIP hull from already relaxed energies). Heavy imports stay
inside the functions so that a worker imports only what its tasks need.

The MLIP kinds (``relax``, ``neb``, ``md``) run on the batched engine: the model is the
inputs' ``model`` (a registry name; ``device`` and ``modal`` when given) as a
:class:`~halidelab.potentials.Potential`; a ``neb`` task runs every band of its study in
one model call per step. ``relax`` and ``neb`` also take ``structures`` (a list) instead
of ``structure``: the orderings of one composition relaxed, or studied, together; the
result is then ``{"results": [...]}`` or ``{"studies": [...]}`` in input order.
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
        state=inputs.get("state", "annealed"),
        milling_temperature_K=inputs.get("milling_temperature_K", 1000.0),
        dielectric=inputs.get("dielectric", 10.0),
    )
    return ms.to_dict()


def _potential(inputs: dict[str, Any]) -> Any:
    """The :class:`~halidelab.potentials.Potential` a task's inputs name."""
    from halidelab.potentials import Potential

    return Potential(inputs.get("model", "chgnet"), device=inputs.get("device", "auto"), modal=inputs.get("modal"))


def _structures(inputs: dict[str, Any]) -> tuple[list[Any], bool]:
    """The structures of a task (``structure`` or ``structures``) and whether a list was given."""
    from pymatgen.core import Structure

    if "structures" in inputs:
        return [Structure.from_dict(d) for d in inputs["structures"]], True
    return [Structure.from_dict(inputs["structure"])], False


@task_function("relax")
def relax_task(inputs: dict[str, Any]) -> dict[str, Any]:
    """MLIP relaxation (positions and cell) of one structure, or of several together."""
    from halidelab.relax import relax_structures

    structures, many = _structures(inputs)
    with warnings.catch_warnings():
        # chgnet warns on every call about a tensor-to-scalar conversion; not ours to fix
        warnings.simplefilter("ignore", UserWarning)
        results = relax_structures(
            structures,
            _potential(inputs),
            fmax=inputs.get("fmax", 0.05),
            steps=inputs.get("steps", 300),
            relax_cell=inputs.get("relax_cell", True),
        )
    if many:
        return {"results": [r.to_dict() for r in results]}
    return results[0].to_dict()


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


@task_function("xrd")
def xrd_task(inputs: dict[str, Any]) -> dict[str, Any]:
    """Simulated Cu K-alpha powder pattern (peak list) of one structure."""
    from pymatgen.core import Structure

    from halidelab.structures.xrd import simulate_pattern

    pat = simulate_pattern(Structure.from_dict(inputs["structure"]),
                           wavelength=inputs.get("wavelength", "CuKa"),
                           two_theta_range_deg=tuple(inputs.get("two_theta_range_deg", (10.0, 80.0))))
    return pat.to_dict()


@task_function("neb")
def neb_task(inputs: dict[str, Any]) -> dict[str, Any]:
    """CI-NEB over the distinct hops of one model (or several), with chains and percolation."""
    from halidelab.transport.neb import neb_studies

    structures, many = _structures(inputs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        studies = neb_studies(
            structures,
            hops=inputs.get("hops", "distinct"),
            model=_potential(inputs),
            n_images=inputs.get("n_images", 5),
            fmax=inputs.get("fmax", 0.05),
            steps=inputs.get("steps", 500),
            endpoint_steps=inputs.get("endpoint_steps", 300),
            interstitials=inputs.get("interstitials", True),
        )
    out = []
    for study in studies:
        d = study.to_dict()
        d.pop("network", None)  # large; rebuilt from the structure when needed
        out.append(d)
    return {"studies": out} if many else out[0]


@task_function("md")
def md_task(inputs: dict[str, Any]) -> dict[str, Any]:
    """NVT MD at one temperature (trajectory on disk, resumable) and its diffusion analysis."""
    from pymatgen.core import Structure

    from halidelab.transport.diffusion import analyse_trajectory
    from halidelab.transport.md import run_md

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        md = run_md(
            Structure.from_dict(inputs["structure"]),
            temperature_K=inputs["temperature_K"],
            steps=inputs["steps"],
            trajectory=inputs["trajectory"],
            timestep_fs=inputs.get("timestep_fs", 2.0),
            model=_potential(inputs),
            seed=inputs.get("seed", 0),
        )
        diff = analyse_trajectory(inputs["trajectory"], skip_ps=inputs.get("skip_ps", 0.0),
                                  temperature_K=inputs["temperature_K"])
    return {"md": md.to_dict(), "diffusion": diff.to_dict()}


@task_function("hull")
def hull_task(inputs: dict[str, Any]) -> dict[str, Any]:
    """Energy above the MLIP convex hull of one candidate from energies already computed.

    The screen's ``stability`` tier: the candidate's orderings were relaxed by the
    ``relax`` tier and its competing phases by ``stability-reference`` tasks (the cache of
    :mod:`halidelab.stability.references`), all with one MLIP; this task only builds the
    hull (pymatgen ``PhaseDiagram``, :mod:`halidelab.stability.hull`), so it runs in
    milliseconds and its key is a hash of the energies it was given.

    Inputs
    ------
    formula : str
        Candidate formula as modelled.
    configurations : list of dict
        ``index``, ``structure`` (relaxed), ``energy_per_atom_eV``, ``converged``, ``model``.
    references : list of dict
        Relaxed competing phases (:func:`halidelab.screening.plans.reference_record`).

    Returns
    -------
    dict
        ``HullResult.to_dict()``: ``e_above_hull_eV_atom`` and ``decomposition_energy_eV_atom``
        of the lowest-energy ordering, ``products``, ``configurations`` (each ordering's
        own hull energy), ``references``, ``warnings``.
    """
    from pymatgen.core import Structure

    from halidelab.errors import StructureError
    from halidelab.records import Provenance
    from halidelab.stability.hull import hull_from_energies
    from halidelab.stability.references import ReferenceEnergy

    refs = [ReferenceEnergy(
        name=r["name"], formula=r["formula"], energy_per_atom_eV=r["energy_per_atom_eV"],
        volume_per_atom_A3=r["volume_per_atom_A3"], n_atoms=r["n_atoms"], converged=r["converged"],
        approximate=r["approximate"], measured_volume_A3_per_fu=r["measured_volume_A3_per_fu"],
        volume_A3_per_fu=r["volume_A3_per_fu"], source=r["source"], structure=r["structure"],
        cached=True, provenance=Provenance(method="stability-reference-relax", model=r.get("model"),
                                           model_version=r.get("model_version"),
                                           parameters=r.get("parameters", {})))
        for r in inputs["references"]]
    confs = inputs["configurations"]
    if not confs or not refs:
        raise StructureError("a hull needs at least one relaxed configuration and the competing phases")
    models = {c.get("model") for c in confs} | {r.provenance.model for r in refs}
    if len(models - {None}) > 1:
        raise StructureError(f"energies from different MLIPs ({', '.join(sorted(models - {None}))}) "
                             "cannot share one hull")
    structures = [Structure.from_dict(c["structure"]) for c in confs]
    return hull_from_energies(
        inputs.get("formula") or structures[0].composition.reduced_formula,
        [st.composition for st in structures], [float(c["energy_per_atom_eV"]) for c in confs],
        [st.volume / len(st) for st in structures], [bool(c["converged"]) for c in confs], refs,
        Provenance(method="mlip-convex-hull (screen: relaxed energies)", model=next(iter(models - {None}), None),
                   model_version=refs[0].provenance.model_version,
                   parameters={"n_configs": len(confs), "relax": True, "references": [r.name for r in refs]}),
        indices=[int(c["index"]) for c in confs],
    ).to_dict()


@task_function("kmc")
def kmc_task(inputs: dict[str, Any]) -> dict[str, Any]:
    """Kinetic Monte Carlo on one cell's hop network (``source``: ``neb`` with the stored
    NEB study in ``study``, or ``bvse``) at ``temperatures_K``."""
    from pymatgen.core import Structure

    from halidelab.transport.kmc import network_from_bvse, network_from_neb_study, run_kmc

    structure = Structure.from_dict(inputs["structure"])
    if inputs.get("source", "bvse") == "neb":
        net = network_from_neb_study(inputs["study"], structure, level=inputs.get("level"))
    else:
        net = network_from_bvse(structure)
    res = run_kmc(net, inputs["temperatures_K"], n_runs=inputs.get("n_runs", 8),
                  hops_per_carrier=inputs.get("hops_per_carrier", 200.0), seed=inputs.get("seed", 0))
    return {"network": net.to_dict(), "kmc": res.to_dict()}
