"""The task functions: each turns JSON inputs into a JSON result.

Kinds: ``design`` (charge balance + rules), ``models`` (ordered supercells),
``xrd`` (simulated pattern), ``relax`` (MLIP relaxation), ``bvse`` (bond-valence
barriers), ``prior`` (data-driven conductivity prior), ``neb`` (CI-NEB study), ``md``,
``hull`` (energy above the MLIP hull from already relaxed energies), ``kmc``, ``defects``
(Li Frenkel and Schottky formation energies of a full Li sublattice). Heavy imports stay
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

from halidelab.screening.inputs import (
    BVSEInputs,
    DefectInputs,
    DesignInputs,
    KMCInputs,
    MDInputs,
    ModelsInputs,
    NEBInputs,
    PriorInputs,
    RelaxInputs,
    XRDInputs,
    scaled_to_volume,
)
from halidelab.screening.tasks import task_function


def _subs(substitutions: list[dict[str, Any]]):
    from halidelab.composition import Substitution

    return [Substitution(**s) for s in substitutions]


@task_function("design")
def design_task(inputs: dict[str, Any]) -> dict[str, Any]:
    """Charge-balanced composition and rules verdict of one composition."""
    from halidelab.composition import design_composition
    from halidelab.rules import assess

    inp = DesignInputs.parse(inputs)
    comp = design_composition(inp.parent, _subs(inp.substitutions), inp.oxidation_states)
    return {"composition": comp.to_dict(), "fit": assess(comp).to_dict()}


@task_function("models")
def models_task(inputs: dict[str, Any]) -> dict[str, Any]:
    """Ordered supercell models of one composition."""
    from halidelab.composition import design_composition
    from halidelab.structures.models import build_models

    inp = ModelsInputs.parse(inputs)
    comp = design_composition(inp.parent, _subs(inp.substitutions), inp.oxidation_states)
    ms = build_models(
        comp,
        polymorph=inp.polymorph,
        supercell=inp.supercell,
        max_atoms=inp.max_atoms,
        n_configs=inp.n_configs,
        seed=inp.seed,
        sweeps=inp.sweeps,
        state=inp.state,
        milling_temperature_K=inp.milling_temperature_K,
        dielectric=inp.dielectric,
    )
    return ms.to_dict()


def _structures(inp: RelaxInputs | NEBInputs) -> tuple[list[Any], bool]:
    """The structures of a task (``structure`` or ``structures``) and whether a list was given."""
    from pymatgen.core import Structure

    if inp.structures is not None:
        return [Structure.from_dict(d) for d in inp.structures], True
    return [Structure.from_dict(inp.structure)], False


@task_function("relax")
def relax_task(inputs: dict[str, Any]) -> dict[str, Any]:
    """MLIP relaxation (positions and cell) of one structure, or of several together."""
    from halidelab.relax import relax_structures

    inp = RelaxInputs.parse(inputs)
    structures, many = _structures(inp)
    with warnings.catch_warnings():
        # chgnet warns on every call about a tensor-to-scalar conversion; not ours to fix
        warnings.simplefilter("ignore", UserWarning)
        results = relax_structures(
            structures,
            inp.potential(),
            fmax=inp.fmax,
            steps=inp.steps,
            relax_cell=inp.relax_cell,
            stress_tol_GPa=inp.stress_tol_GPa,
        )
        out = [r.to_dict() for r in results]
        if inp.temperature_K is not None:
            out = [_at_temperature(d, inp) for d in out]
    if many:
        return {"results": out}
    return out[0]


def _at_temperature(relaxed: dict[str, Any], inp: RelaxInputs) -> dict[str, Any]:
    """A relax result whose ``structure`` is expanded to ``inp.temperature_K``: the static
    structure moves to ``structure_0K``, the expansion's record to ``thermal_lattice``."""
    from pymatgen.core import Structure

    from halidelab.thermal import thermal_lattice

    th = thermal_lattice(
        Structure.from_dict(relaxed["structure"]),
        inp.potential(),
        float(inp.temperature_K),
        md_ps=inp.thermal_md_ps,
        iterations=inp.thermal_iterations,
        fmax=inp.fmax,
        steps=inp.steps,
        shape=inp.thermal_shape,
    ).to_dict()
    out = dict(relaxed)
    out["structure_0K"] = relaxed["structure"]
    out["structure"] = th.pop("structure")
    out["thermal_lattice"] = th
    out["wall_s"] = float(relaxed["wall_s"]) + float(th["wall_s"])
    return out


@task_function("bvse")
def bvse_task(inputs: dict[str, Any]) -> dict[str, Any]:
    """BVSE map and 1D/2D/3D percolation barriers of Li+ in one structure."""
    from pymatgen.core import Structure

    from halidelab.transport.bvse import bvse

    inp = BVSEInputs.parse(inputs)
    given = Structure.from_dict(inp.structure)
    res, _ = bvse(
        scaled_to_volume(given, inp.volume_per_atom_A3),
        resolution_A=inp.resolution_A,
        e_max_eV=inp.e_max_eV,
    )
    return _with_volume(res.to_dict(), given, inp.volume_per_atom_A3)


def _with_volume(out: dict[str, Any], given: Any, volume_per_atom_A3: float | None) -> dict:
    """A result that ran on a scaled structure records both volumes per atom (A^3)."""
    if volume_per_atom_A3 is not None:
        out["scaled_to_volume_per_atom_A3"] = float(volume_per_atom_A3)
        out["given_volume_per_atom_A3"] = given.volume / len(given)
    return out


@task_function("prior")
def prior_task(inputs: dict[str, Any]) -> dict[str, Any]:
    """Data-driven log10 sigma(RT) prior with its 90% interval and applicability."""
    from halidelab.prior import predict

    (pred,) = predict([PriorInputs.parse(inputs).formula])
    return pred.to_dict()


@task_function("xrd")
def xrd_task(inputs: dict[str, Any]) -> dict[str, Any]:
    """Simulated Cu K-alpha powder pattern (peak list) of one structure."""
    from pymatgen.core import Structure

    from halidelab.structures.xrd import simulate_pattern

    inp = XRDInputs.parse(inputs)
    pat = simulate_pattern(
        Structure.from_dict(inp.structure),
        wavelength=inp.wavelength,
        two_theta_range_deg=tuple(inp.two_theta_range_deg),
    )
    return pat.to_dict()


@task_function("neb")
def neb_task(inputs: dict[str, Any]) -> dict[str, Any]:
    """CI-NEB over the distinct hops of one model (or several), with chains and percolation."""
    from halidelab.transport.neb import neb_studies

    inp = NEBInputs.parse(inputs)
    structures, many = _structures(inp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        studies = neb_studies(
            structures,
            hops=inp.hops,
            model=inp.potential(),
            n_images=inp.n_images,
            fmax=inp.fmax,
            steps=inp.steps,
            endpoint_steps=inp.endpoint_steps,
            interstitials=inp.interstitials,
            create_vacancies=inp.create_vacancies,
            max_interstitials=inp.max_interstitials,
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

    inp = MDInputs.parse(inputs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        md = run_md(
            Structure.from_dict(inp.structure),
            temperature_K=inp.temperature_K,
            steps=inp.steps,
            trajectory=inp.trajectory,
            timestep_fs=inp.timestep_fs,
            model=inp.potential(),
            seed=inp.seed,
        )
        diff = analyse_trajectory(
            inp.trajectory, skip_ps=inp.skip_ps, temperature_K=inp.temperature_K
        )
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

    refs = [
        ReferenceEnergy(
            name=r["name"],
            formula=r["formula"],
            energy_per_atom_eV=r["energy_per_atom_eV"],
            volume_per_atom_A3=r["volume_per_atom_A3"],
            n_atoms=r["n_atoms"],
            converged=r["converged"],
            approximate=r["approximate"],
            measured_volume_A3_per_fu=r["measured_volume_A3_per_fu"],
            volume_A3_per_fu=r["volume_A3_per_fu"],
            source=r["source"],
            structure=r["structure"],
            cached=True,
            provenance=Provenance(
                method="stability-reference-relax",
                model=r.get("model"),
                model_version=r.get("model_version"),
                parameters=r.get("parameters", {}),
            ),
        )
        for r in inputs["references"]
    ]
    confs = inputs["configurations"]
    if not confs or not refs:
        raise StructureError(
            "a hull needs at least one relaxed configuration and the competing phases"
        )
    models = {c.get("model") for c in confs} | {r.provenance.model for r in refs}
    if len(models - {None}) > 1:
        raise StructureError(
            f"energies from different MLIPs ({', '.join(sorted(models - {None}))}) "
            "cannot share one hull"
        )
    structures = [Structure.from_dict(c["structure"]) for c in confs]
    return hull_from_energies(
        inputs.get("formula") or structures[0].composition.reduced_formula,
        [st.composition for st in structures],
        [float(c["energy_per_atom_eV"]) for c in confs],
        [st.volume / len(st) for st in structures],
        [bool(c["converged"]) for c in confs],
        refs,
        Provenance(
            method="mlip-convex-hull (screen: relaxed energies)",
            model=next(iter(models - {None}), None),
            model_version=refs[0].provenance.model_version,
            parameters={
                "n_configs": len(confs),
                "relax": True,
                "references": [r.name for r in refs],
            },
        ),
        indices=[int(c["index"]) for c in confs],
    ).to_dict()


@task_function("kmc")
def kmc_task(inputs: dict[str, Any]) -> dict[str, Any]:
    """Kinetic Monte Carlo on one cell's hop network (``source``: ``neb`` with the stored
    NEB study in ``study``, or ``bvse``, with ``prefactors`` fixed or harmonic) at
    ``temperatures_K``; ``superbasin_ratio`` (None: plain rates) as
    :func:`~halidelab.transport.kmc.run_kmc`."""
    from pymatgen.core import Structure

    from halidelab.transport.kmc import network_from_bvse, network_from_neb_study, run_kmc

    inp = KMCInputs.parse(inputs)
    structure = Structure.from_dict(inp.structure)
    if inp.source == "neb":
        net = network_from_neb_study(inp.study, structure, level=inp.level)
    else:
        net = network_from_bvse(
            scaled_to_volume(structure, inp.volume_per_atom_A3),
            vacancies=inp.vacancies,
            saddle=inp.bvse_saddle,
            prefactors=inp.prefactors,
        )
    res = run_kmc(
        net,
        inp.temperatures_K,
        n_runs=inp.n_runs,
        hops_per_carrier=inp.hops_per_carrier,
        seed=inp.seed,
        superbasin_ratio=inp.superbasin_ratio,
    )
    return _with_volume(
        {"network": net.to_dict(), "kmc": res.to_dict()}, structure, inp.volume_per_atom_A3
    )


@task_function("defects")
def defects_task(inputs: dict[str, Any]) -> dict[str, Any]:
    """Li Frenkel and Schottky formation energies of one relaxed structure (none when it
    has vacant Li sites)."""
    from halidelab.transport.defects import li_defect_energies

    inp = DefectInputs.parse(inputs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res = li_defect_energies(
            inp.structure,
            inp.potential(),
            min_width_A=inp.min_width_A,
            max_atoms=inp.max_atoms,
            fmax=inp.fmax,
            steps=inp.steps,
            n_relax=inp.n_relax,
        )
    return res.to_dict()
