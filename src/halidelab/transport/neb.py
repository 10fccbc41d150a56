"""Climbing-image NEB studies of Li hops, on the engine, with any model.

Mechanisms
----------
- *vacancy*: a Li in an occupied Li site moves into an empty Li site of the ordered
  model (the endpoints are the model with the Li at A and at B);
- *interstitial*: a Li moves from its octahedral site through an empty tetrahedral
  interstitial (``i`` site) into an empty Li site (:func:`neb_path`); chains such as
  [Li2-i3-Li2] are composed from these paths (:mod:`halidelab.transport.pathways`).

What to run and the endpoints come from the hop geometry (:mod:`halidelab.transport.hops`);
everything that calls the model runs on the engine (:mod:`halidelab.engine`), with a
registry model (:class:`~halidelab.potentials.Potential`) or any ASE calculator
(``calculator=``), in three batched stages however many hops and structures there are:

1. the initial states, relaxed at fixed cell (positions kept unwrapped) and reused by
   every hop of their structure;
2. every final state (the relaxed initial state with the moving Li put at the end site
   *through the hop's image vector*) and every interstitial state, relaxed together;
3. every band of every hop: the vacancy hops and one-band paths (interpolated linearly
   between the unwrapped endpoints and refined with IDPP, Smidstrup et al., J. Chem.
   Phys. 140, 214106 (2014)), and both bands of split paths, as one
   :func:`~halidelab.engine.neb.neb_batch` (plain NEB, then the climbing image,
   Henkelman et al., J. Chem. Phys. 113, 9901 (2000)).

``converged`` is True only when the climbing stage reached ``fmax``; endpoints that did
not converge, or a Li that left its end site while relaxing, are reported in
``warnings`` and ``endpoints_ok``.

A path through an interstitial that is a local minimum has two saddles, one on each
side of it (equal by symmetry when the two Li sites are). One band with one climbing
image cannot represent that: the climbing image climbs one saddle and leaves the band
lopsided, or, when an image sits on the interstitial, stays on that stationary point (a
minimum along the path) and reports the interstitial energy as the barrier. So a path
first relaxes the Li in the interstitial; when it stays there, the path is run as two
climbing-image bands joined at that intermediate minimum (:func:`join_bands`),
otherwise as one band through the interstitial.

:func:`neb_study` runs the hops of one model; :func:`neb_studies` those of several
(the orderings of a composition) in the same three stages; :func:`neb_hop`,
:func:`neb_path` and :func:`run_neb` are one hop, one path and one bare band.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from halidelab.atoms import to_atoms, to_structure
from halidelab.engine.batch import BatchEvaluator, as_evaluator
from halidelab.engine.neb import NEBHop, NEBResult, neb_batch
from halidelab.engine.relax import relax_positions_batch
from halidelab.errors import SimulationError
from halidelab.potentials import Potential, provenance
from halidelab.records import Provenance, Record
from halidelab.transport.hops import (
    MAX_INTERSTITIALS,
    add_vacancies,
    hop_endpoints,
    hop_mechanism,
    intermediate_minimum,
    interstitial_chains,
    path_checks,
    path_meta,
    path_plan,
    select_hops,
    site_checks,
)
from halidelab.transport.pathways import (
    ChainBarrier,
    Percolation,
    chain_barrier,
    hop_barriers_from_results,
    named_chains,
    path_profile,
    percolation,
)
from halidelab.transport.sites import (
    Hop,
    SiteNetwork,
    require_symmetric_framework,
    site_network,
)

__all__ = [
    "NEBResult",
    "NEBStudy",
    "join_bands",
    "neb_hop",
    "neb_path",
    "neb_studies",
    "neb_study",
    "relax_fixed_cell",
    "run_neb",
]

#: ``progress(stage, iteration, n_running)``: ``stage`` is ``"endpoints"`` or ``"bands"``
StageProgress = Callable[[str, int, int], None]


def relax_fixed_cell(
    atoms: Any, calculator: Any, fmax: float = 0.05, steps: int = 300, optimizer: str = "FIRE"
) -> tuple[Any, bool, int]:
    """Relax positions at fixed cell, keeping positions unwrapped (a batch of one).

    :func:`halidelab.relax.relax` goes through pymatgen and wraps atoms into the cell;
    NEB endpoints must keep the moving atom where the hop vector put it
    (:func:`halidelab.engine.relax.relax_positions_batch`).

    Returns
    -------
    (atoms, converged, steps)
        A relaxed copy whose calculator is a single-point record of its energy and forces.
    """
    ((out, conv, n),) = relax_positions_batch(
        [atoms], as_evaluator(calculator), fmax, steps, optimizer
    )
    return out, conv, n


def run_neb(
    initial: Any,
    final: Any,
    calculator: Any,
    n_images: int = 5,
    fmax: float = 0.05,
    steps: int = 500,
    climb: bool = True,
    preconverge_fmax: float | None = None,
    k: float = 0.1,
    interpolation: str = "idpp",
    optimizer: str = "FIRE",
    label: str = "",
    progress: Callable[[int, int], None] | None = None,
    via_positions: Sequence[tuple[int, Sequence[float]]] = (),
    **meta: Any,
) -> NEBResult:
    """CI-NEB between two endpoints with the same atoms in the same order (a batch of one).

    Parameters
    ----------
    initial, final : ase.Atoms
        Endpoints (already relaxed, or not, as the caller wants), same cell. Positions
        are taken as they are: a moving atom must be unwrapped in ``final`` so that
        ``final - initial`` is the real displacement. An endpoint whose calculator is a
        single-point record of its energy is not evaluated again.
    calculator : ase Calculator, BatchEvaluator, Potential or str
        The model (any ASE calculator works).
    n_images : int
        Intermediate images.
    fmax : float
        Convergence of the climbing-image band, eV/A.
    steps : int
        Optimiser steps in all (a third at most goes to the pre-convergence stage).
    climb : bool
        Climbing image after pre-convergence.
    preconverge_fmax : float, optional
        Force target of the plain-NEB stage (default ``max(3 fmax, 0.15)`` eV/A).
    k : float
        Spring constant, eV/A^2.
    interpolation : {"idpp", "linear"}
    optimizer : {"FIRE", "BFGS", "MDMin"}
    label : str
    progress : callable(iteration, n_running), optional
    via_positions : sequence of (atom index, cartesian position)
        Start the band through these points: the moving atom's initial path is piecewise
        linear through them (images spread by arc length) and IDPP is skipped.
    **meta
        Extra :class:`NEBResult` fields (label_initial, mechanism, hop_index, ...,
        ``warnings``, ``endpoint_force_calls``, ``parameters`` for the provenance).

    Returns
    -------
    NEBResult
    """
    if interpolation not in ("idpp", "linear"):
        raise SimulationError(f"interpolation must be 'idpp' or 'linear', got {interpolation!r}")
    t0 = time.perf_counter()
    (band,) = neb_batch(
        [
            NEBHop(
                initial,
                final,
                label,
                via=tuple((int(i), tuple(map(float, p))) for i, p in via_positions),
                mic=False,
            )
        ],
        as_evaluator(calculator),
        n_images=n_images,
        k=k,
        climb=climb,
        fmax=fmax,
        steps=steps,
        preconverge_fmax=preconverge_fmax,
        interpolation=interpolation,
        optimizer=optimizer,
        progress=progress,
    )
    meta.setdefault("hop_length_A", band.hop_length_A)
    meta["wall_s"] = float(meta.get("wall_s", 0.0)) + time.perf_counter() - t0
    return _describe(
        band,
        list(meta.pop("warnings", ())),
        int(meta.pop("endpoint_force_calls", 0)),
        meta.pop("parameters", {}),
        label=label,
        **meta,
    )


def _describe(
    band: NEBResult, warns: Sequence[str], extra_calls: int, parameters: dict[str, Any], **meta: Any
) -> NEBResult:
    """``band`` with the hop's description, warnings, endpoint calls and parameters."""
    params = dict(band.provenance.parameters)
    params.update(parameters)
    return NEBResult.from_band(
        band.energies_eV,
        band.reaction_coordinate_A,
        band.converged,
        band.fmax_eV_A,
        band.fmax_target_eV_A,
        band.steps,
        band.force_calls + extra_calls,
        [*warns, *band.band_warnings()],
        dataclasses.replace(band.provenance, parameters=params),
        **meta,
    )


def join_bands(
    first: NEBResult,
    second: NEBResult,
    *more: NEBResult,
    warnings: Sequence[str] = (),
    endpoint_force_calls: int = 0,
    joint_vias: Sequence[int] | None = None,
    **meta: Any,
) -> NEBResult:
    """One path from bands that meet at intermediate minima.

    ``first`` runs from the initial state to the first intermediate, each next band from
    the previous band's end (its energies relative to that end) on, the last one to the
    final state. The joined profile is relative to the initial state; its barriers, saddle
    image and convergence (all bands) are those of the whole path.

    Parameters
    ----------
    first, second, *more : NEBResult
    warnings : sequence of str
        Extra warnings (e.g. why the path was split).
    endpoint_force_calls : int
        Model calls spent on endpoint and intermediate relaxations.
    joint_vias : sequence of int, optional
        Which interstitial of the path (index into ``via``) each joint is; recorded (with
        ``joint_images``) for paths through several interstitials.
    **meta
        Descriptive fields of the joined result (label, label_initial, mechanism, ...,
        ``parameters`` merged into the provenance).

    Returns
    -------
    NEBResult
    """
    bands = (first, second, *more)
    e = np.array(first.energies_eV)
    s = np.array(first.reaction_coordinate_A)
    joints, saddles = [], [first.saddle_image]
    for band in bands[1:]:
        joints.append(len(e) - 1)
        saddles.append(len(e) - 1 + band.saddle_image)
        e = np.concatenate([e, e[-1] + np.array(band.energies_eV)[1:]])
        s = np.concatenate([s, s[-1] + np.array(band.reaction_coordinate_A)[1:]])
    seg_warns = [f"band {k + 1}: {w}" for k, r in enumerate(bands) for w in r.band_warnings()]
    params = dict(first.provenance.parameters)
    params.update(meta.pop("parameters", {}))
    params.update(
        {
            "n_images": sum(b.n_images for b in bands) + len(bands) - 1,
            "bands": len(bands),
            "band_images": [b.n_images for b in bands],
            "intermediate_energy_eV": float(e[joints[0]]),
            "saddle_images": saddles,
        }
    )
    if joint_vias is not None:
        if len(joint_vias) != len(joints):
            raise SimulationError(f"{len(bands)} bands need {len(joints)} joint_vias")
        params["joint_images"] = joints
        params["joint_vias"] = [int(v) for v in joint_vias]
        params["intermediate_energies_eV"] = [float(e[j]) for j in joints]
    prov = dataclasses.replace(first.provenance, parameters=params)
    return NEBResult.from_band(
        e,
        s,
        all(b.converged for b in bands),
        max(b.fmax_eV_A for b in bands),
        first.fmax_target_eV_A,
        sum(b.steps for b in bands),
        sum(b.force_calls for b in bands) + int(endpoint_force_calls),
        [*warnings, *seg_warns],
        prov,
        **meta,
    )


# ---------------------------------------------------------------------------
# the three stages, for any number of hops and paths of any number of structures


@dataclasses.dataclass(frozen=True)
class _Settings:
    n_images: int
    fmax: float
    steps: int
    efmax: float
    endpoint_steps: int
    climb: bool
    interpolation: str
    optimizer: str
    split: bool
    relax_endpoints: bool


@dataclasses.dataclass
class _Start:
    """The initial state a hop starts from, and what its relaxation left to report."""

    atoms: Any  # relaxed (single-point energy attached) or as given
    warns: list[str] = dataclasses.field(default_factory=list)  # the hop's first warnings
    calls: int = 0  # model calls of its relaxation counted in the hop's force_calls
    ok: bool = True
    not_relaxed_study: bool = False  # a study's shared initial state did not converge


@dataclasses.dataclass
class _Job:
    """One hop record to make.

    A vacancy hop (``hop``) or a path through interstitials (``chain``: its hops in order,
    two for Li -> i -> Li).
    """

    start: _Start
    network: SiteNetwork
    hop: Hop | None = None
    chain: tuple[Hop, ...] = ()


def _relax_starts(
    structures: Sequence[Any],
    ev: BatchEvaluator,
    s: _Settings,
    progress: Callable[[int, int], None] | None,
) -> list[tuple[Any, bool, int]]:
    return relax_positions_batch(
        [to_atoms(x) for x in structures], ev, s.efmax, s.endpoint_steps, s.optimizer, progress
    )


def _run_jobs(
    jobs: Sequence[_Job], ev: BatchEvaluator, s: _Settings, progress: StageProgress | None = None
) -> tuple[list[NEBResult], int]:
    """Final and interstitial states of every job relaxed together, then every band together.

    Returns the hop records (in job order) and the number of bands run.
    """
    t0 = time.perf_counter()

    def stage(name: str) -> Callable[[int, int], None] | None:
        return None if progress is None else (lambda it, n: progress(name, it, n))

    plans: list[Any] = []
    todo: list[Any] = []
    for job in jobs:
        init = job.start.atoms
        if job.hop is not None:
            plan = hop_endpoints(init, job.network, job.hop)
            states = [plan[1]] if s.relax_endpoints else []
        else:
            plan = path_plan(init, job.network, *job.chain)
            states = [plan.final] + (list(plan.intermediates) if s.split else [])
        plans.append((plan, len(todo), len(states)))
        todo.extend(states)
    relaxed = (
        relax_positions_batch(todo, ev, s.efmax, s.endpoint_steps, s.optimizer, stage("endpoints"))
        if todo
        else []
    )
    not_relaxed = f"final state not relaxed to {s.efmax} eV/A in {s.endpoint_steps} steps"

    bands: list[NEBHop] = []
    assembly: list[tuple[str, list[int], dict[str, Any]]] = []
    for job, (plan, first, n_states) in zip(jobs, plans, strict=True):
        net, init, st = job.network, job.start.atoms, job.start
        warns, ok, calls = list(st.warns), st.ok, st.calls
        if job.hop is not None:
            h = job.hop
            _, final, li, start, end = plan
            if n_states:
                final, conv_f, n_f = relaxed[first]
                calls += n_f + 1
                if not conv_f:
                    ok = False
                    warns.append(not_relaxed)
            w = site_checks(
                net,
                li,
                ((init, start), (final, end)),
                ": that site is not a minimum for this model",
            )
            ok = ok and not w
            warns += w
            label = f"{net.sites[start].label}->{net.sites[end].label}"
            bands.append(NEBHop(init, final, label, mic=False))
            assembly.append(
                (
                    "hop",
                    [len(bands) - 1],
                    dict(
                        label=label,
                        label_initial=net.sites[start].label,
                        label_final=net.sites[end].label,
                        mechanism=hop_mechanism(net, start, end),
                        hop_index=h.index,
                        parent_class=h.parent_class,
                        env_class=h.env_class,
                        direction=h.direction,
                        hop_length_A=h.length_A,
                        endpoints_ok=ok,
                        warnings=warns,
                        calls=calls,
                        parameters={
                            "endpoint_fmax_eV_A": s.efmax,
                            "relax_endpoints": s.relax_endpoints,
                            "moving_atom": li,
                            "site_initial": start,
                            "site_final": end,
                            "image": list(h.image),
                        },
                    ),
                )
            )
            continue
        final, conv_f, n_f = relaxed[first]
        calls += n_f + 1
        w, ok_f = path_checks(net, plan, init, final, conv_f, s.efmax, s.endpoint_steps)
        warns += w
        ok = ok and ok_f
        meta = path_meta(net, plan, init.cell.array, s.efmax)
        n_via = len(plan.via_sites)
        minima: list[tuple[int, Any]] = []
        if s.split:
            for j in range(n_via):
                inter, conv_m, n_m = relaxed[first + 1 + j]
                calls += n_m + 1
                is_min, why = intermediate_minimum(net, plan, init, inter, conv_m, j)
                warns.append(why)
                if is_min:
                    minima.append((j, inter))
        # bands between consecutive minima (the ends count as minima); the interstitials
        # that are not minima lie inside a band, which starts on the polyline through them
        labels = [meta["label_initial"], *meta["via"], meta["label_final"]]
        stops = [(-1, init), *minima, (n_via, final)]
        idx = []
        for (p, xa), (q, xb) in zip(stops, stops[1:], strict=False):
            inside = tuple((plan.li, tuple(plan.points[v])) for v in range(p + 1, q))
            bands.append(
                NEBHop(
                    xa,
                    xb,
                    meta["label"] if not minima else f"{labels[p + 1]}->{labels[q + 1]}",
                    n_images=max(1, (s.n_images * (q - p)) // 2),
                    via=inside,
                    mic=False,
                )
            )
            idx.append(len(bands) - 1)
        assembly.append(
            (
                "split" if minima else "hop",
                idx,
                dict(
                    meta,
                    endpoints_ok=ok,
                    warnings=warns,
                    calls=calls,
                    joint_vias=[j for j, _ in minima] if n_via > 1 and minima else None,
                ),
            )
        )

    res = neb_batch(
        bands,
        ev,
        n_images=s.n_images,
        climb=s.climb,
        fmax=s.fmax,
        steps=s.steps,
        interpolation=s.interpolation,
        optimizer=s.optimizer,
        progress=stage("bands"),
    )
    wall = time.perf_counter() - t0
    out: list[NEBResult] = []
    for job, (kind, idx, meta) in zip(jobs, assembly, strict=True):
        meta = dict(meta)
        warns, calls = meta.pop("warnings"), int(meta.pop("calls"))
        joint_vias = meta.pop("joint_vias", None)
        if kind == "split":
            r = join_bands(
                *(res[i] for i in idx),
                warnings=warns,
                endpoint_force_calls=calls,
                joint_vias=joint_vias,
                wall_s=wall,
                **meta,
            )
        else:
            r = _describe(res[idx[0]], warns, calls, meta.pop("parameters"), wall_s=wall, **meta)
        if job.start.not_relaxed_study:
            r = dataclasses.replace(
                r, endpoints_ok=False, warnings=(*r.warnings, "initial state not relaxed to fmax")
            )
        out.append(r)
    return out, len(bands)


def _settings(
    n_images: int,
    fmax: float,
    steps: int,
    endpoint_fmax: float | None,
    endpoint_steps: int,
    climb: bool,
    interpolation: str,
    optimizer: str,
    split: bool = True,
    relax_endpoints: bool = True,
) -> _Settings:
    from halidelab.engine.optimizers import optimizer_name

    if n_images < 1:
        raise SimulationError(f"need at least 1 intermediate image, got {n_images}")
    if not (fmax > 0) or steps < 1 or endpoint_steps < 1:
        raise SimulationError(
            f"need fmax > 0, steps >= 1 and endpoint_steps >= 1 (got {fmax}, {steps}, "
            f"{endpoint_steps})"
        )
    if interpolation not in ("idpp", "linear"):
        raise SimulationError(f"interpolation must be 'idpp' or 'linear', got {interpolation!r}")
    return _Settings(
        int(n_images),
        float(fmax),
        int(steps),
        float(endpoint_fmax or fmax),
        int(endpoint_steps),
        bool(climb),
        interpolation,
        optimizer_name(optimizer),
        bool(split),
        bool(relax_endpoints),
    )


def _own_start(
    atoms: Any, relaxed_initial: Any, relax: bool, ev: BatchEvaluator, s: _Settings
) -> _Start:
    """The initial state of a single hop or path: given relaxed, relaxed here, or as it is."""
    if relaxed_initial is not None:
        init = relaxed_initial.copy()
        init.calc = relaxed_initial.calc
        return _Start(init)
    if not relax:
        return _Start(atoms)
    ((init, conv, n),) = _relax_starts([atoms], ev, s, None)
    if conv:
        return _Start(init, calls=n + 1)
    return _Start(
        init,
        [f"initial state not relaxed to {s.efmax} eV/A in {s.endpoint_steps} steps"],
        n + 1,
        False,
    )


def neb_hop(
    structure: Any,
    hop: Hop | int,
    network: SiteNetwork | None = None,
    calculator: Any = None,
    model: Potential | str = "chgnet",
    n_images: int = 5,
    fmax: float = 0.05,
    steps: int = 500,
    endpoint_fmax: float | None = None,
    endpoint_steps: int = 300,
    relax_endpoints: bool = True,
    relaxed_initial: Any = None,
    climb: bool = True,
    interpolation: str = "idpp",
    optimizer: str = "FIRE",
    progress: StageProgress | None = None,
) -> NEBResult:
    """CI-NEB of one hop of an ordered model (vacancy mechanism).

    Parameters
    ----------
    structure : pymatgen Structure or ase Atoms
        The ordered model (initial state).
    hop : Hop or int
        A hop of ``network`` (or its index). One end must hold a Li, the other be an
        empty Li site.
    network : SiteNetwork, optional
        Default: :func:`~halidelab.transport.sites.site_network` of ``structure``.
    calculator : ase Calculator or BatchEvaluator, optional
        Any ASE calculator, used instead of ``model``.
    model : Potential or str
        The MLIP and where it runs.
    n_images : int
        Intermediate images.
    fmax : float
        NEB convergence, eV/A.
    steps : int
        NEB optimiser steps in all.
    endpoint_fmax : float, optional
        Endpoint relaxation target, eV/A (default ``fmax``).
    endpoint_steps : int
    relax_endpoints : bool
        Relax both endpoints at fixed cell (recommended; unrelaxed endpoints inflate or
        hide barriers).
    relaxed_initial : ase.Atoms, optional
        An already relaxed initial state (reused across hops of one model); its
        calculator must hold its energy and forces.
    climb, interpolation, optimizer
        See :func:`run_neb`.
    progress : callable(stage, iteration, n_running), optional

    Returns
    -------
    NEBResult
    """
    from pymatgen.core import Structure

    atoms = to_atoms(structure)
    if network is None:
        network = site_network(
            structure if isinstance(structure, Structure) else to_structure(atoms)
        )
    if isinstance(hop, int | np.integer):
        if not 0 <= int(hop) < len(network.hops):
            raise SimulationError(
                f"hop index {hop} out of range (the network has {len(network.hops)} hops)"
            )
        hop = network.hops[int(hop)]
    s = _settings(
        n_images,
        fmax,
        steps,
        endpoint_fmax,
        endpoint_steps,
        climb,
        interpolation,
        optimizer,
        relax_endpoints=relax_endpoints,
    )
    ev = as_evaluator(model, calculator)
    start = _own_start(atoms, relaxed_initial, relax_endpoints, ev, s)
    (r,), _ = _run_jobs([_Job(start, network, hop=hop)], ev, s, progress)
    return r


def neb_path(
    structure: Any,
    hop_in: Hop,
    hop_out: Hop,
    network: SiteNetwork,
    calculator: Any = None,
    n_images: int = 5,
    fmax: float = 0.05,
    steps: int = 500,
    endpoint_fmax: float | None = None,
    endpoint_steps: int = 300,
    relaxed_initial: Any = None,
    climb: bool = True,
    interpolation: str = "idpp",
    optimizer: str = "FIRE",
    progress: StageProgress | None = None,
    split: bool = True,
    model: Potential | str = "chgnet",
    through: Sequence[Hop] = (),
) -> NEBResult:
    """CI-NEB of a Li moving from a Li site through an interstitial into an empty Li site.

    Both endpoints are octahedral Li sites (minima, unlike a bare tetrahedral endpoint).
    The interstitial state (the Li put in the interstitial, nudged
    :data:`~halidelab.transport.hops.INTERSTITIAL_NUDGE_A` toward its start, relaxed at
    fixed cell) decides how the path is run:

    - the Li stays there (a local minimum): two climbing-image bands, start -> i and
      i -> end, with ``max(1, n_images // 2)`` images each, joined at the relaxed
      interstitial state (:func:`join_bands`). One band with one climbing image cannot
      describe such a path: the path has two saddles, one on each side of i (related
      by symmetry when the two Li sites are), and a single climbing image either climbs
      one of them and leaves the band lopsided, or, when an image sits on i itself,
      stays on that stationary point, a minimum along the path, and reports the
      interstitial energy as the barrier;
    - the Li slides out (i lies in the saddle region): one band started on the
      polyline start -> i centre -> end, its climbing image on the saddle.

    Parameters
    ----------
    hop_in, hop_out : Hop
        Hop from the occupied Li site into the interstitial, and from the interstitial
        into the empty Li site.
    split : bool
        Allow the two-band path at an intermediate minimum (False: always one band).
    through : sequence of Hop
        Hops between ``hop_in`` and ``hop_out`` for a path through several interstitials
        (:func:`~halidelab.transport.hops.interstitial_chains`). Each interstitial is
        tested as above; the path is split at every one that is a minimum, and a band
        that spans k legs gets ``max(1, n_images * k // 2)`` images (a band through one
        interstitial that is not a minimum: ``n_images``).
    Other parameters
        As in :func:`neb_hop`.

    Returns
    -------
    NEBResult
        ``energies_eV`` over the whole path (for a split path: first band, the
        interstitial state, second band); ``provenance.parameters["bands"]`` is the
        number of bands of a split path (2 through one interstitial; a path through
        several also records ``joint_vias`` and ``joint_images``, see
        :func:`~halidelab.transport.pathways.path_profile`).
    """
    s = _settings(
        n_images,
        fmax,
        steps,
        endpoint_fmax,
        endpoint_steps,
        climb,
        interpolation,
        optimizer,
        split=split,
    )
    ev = as_evaluator(model, calculator)
    start = _own_start(to_atoms(structure), relaxed_initial, True, ev, s)
    chain = (hop_in, *through, hop_out)
    (r,), _ = _run_jobs([_Job(start, network, chain=chain)], ev, s, progress)
    return r


@dataclasses.dataclass(frozen=True)
class NEBStudy(Record):
    """NEB barriers of the hops of one model, chains and percolation.

    Attributes
    ----------
    formula : str
    n_atoms : int
    hops_mode : str
        ``distinct`` (one hop per symmetry class), ``environment`` or ``all``.
    results : tuple of NEBResult
    skipped : tuple of str
        Hop classes without a vacancy/interstitial instance in this model, and why.
    chains : tuple of ChainBarrier
    percolation : Percolation or None
        From the converged hops (non-converged ones are left out).
    all_converged : bool
    network : SiteNetwork
        The network of the cell the bands ran on (with the created vacancies empty).
    provenance : Provenance
    created_vacancies : tuple of str
        Li removed so that full Li orbits have hops (one note each, see
        :func:`~halidelab.transport.hops.add_vacancies`); ``n_atoms`` counts the cell
        without them. Empty when the model had an empty site in every Li orbit.
    """

    formula: str
    n_atoms: int
    hops_mode: str
    results: tuple[NEBResult, ...]
    skipped: tuple[str, ...]
    chains: tuple[ChainBarrier, ...]
    percolation: Percolation | None
    all_converged: bool
    network: SiteNetwork
    provenance: Provenance
    created_vacancies: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def _path_chain(r: NEBResult, name: str, direction: str, labels: Sequence[str]) -> ChainBarrier:
    """The chain of one path result through interstitials (its minima are sites)."""
    minima, legs = path_profile(r.via, r.energies_eV, r.provenance.parameters)
    sites = (0.0, *(e for _, e in minima), r.delta_e_eV)
    # one saddle per band: a band starts at the path's start or right after a minimum
    saddles = tuple(legs[leg] for leg in (0, *(v + 1 for v, _ in minima)))
    return ChainBarrier(
        name,
        direction,
        tuple(labels),
        sites,
        saddles,
        float(max(saddles) - min(sites)),
        bool(r.converged and r.endpoints_ok),
        r.hop_classes,
        Provenance(method="neb-chain"),
    )


def _chains(net: SiteNetwork, results: Sequence[NEBResult]) -> list[ChainBarrier]:
    """The named chains of a model from its hop results (a split path's interstitial is a
    site), and one chain per label sequence of the paths through several interstitials."""

    def worst(r: NEBResult) -> float:
        return max(r.barrier_forward_eV, r.barrier_backward_eV)

    chains = []
    for name, labels, direction in named_chains(net):
        via_runs = [
            r
            for r in results
            if r.via
            and (r.label_initial, *r.via, r.label_final) in (tuple(labels), tuple(labels[::-1]))
        ]
        if via_runs:
            chains.append(_path_chain(min(via_runs, key=worst), name, direction, labels))
            continue
        try:
            chains.append(dataclasses.replace(chain_barrier(labels, results, direction), name=name))
        except SimulationError:
            continue
    longer: dict[tuple[str, ...], NEBResult] = {}
    for r in results:
        if len(r.via) > 1:
            labs = (r.label_initial, *r.via, r.label_final)
            key = min(labs, labs[::-1])
            if key not in longer or worst(r) < worst(longer[key]):
                longer[key] = r
    for key, r in sorted(longer.items()):
        name = f"[{'-'.join(key)}] through {len(key) - 2} interstitials"
        own = (r.label_initial, *r.via, r.label_final)  # the order of its energies
        chains.append(_path_chain(r, name, r.direction, own))
    return chains


def neb_studies(
    structures: Sequence[Any],
    hops: str | Sequence[int] = "distinct",
    networks: Sequence[SiteNetwork | None] | None = None,
    model: Potential | str = "chgnet",
    calculator: Any = None,
    n_images: int = 5,
    fmax: float = 0.05,
    steps: int = 500,
    endpoint_fmax: float | None = None,
    endpoint_steps: int = 300,
    interstitials: bool = True,
    climb: bool = True,
    interpolation: str = "idpp",
    optimizer: str = "FIRE",
    split: bool = True,
    relax_endpoints: bool = True,
    on_result: Callable[[NEBResult], None] | None = None,
    progress: StageProgress | None = None,
    create_vacancies: bool = True,
    max_interstitials: int = MAX_INTERSTITIALS,
    every_chain: bool = False,
) -> list[NEBStudy]:
    """CI-NEB studies of several (relaxed) models together: every band of every hop in one batch.

    The initial states of all models are relaxed together, then every final and
    interstitial state, then every band (see the module docstring), so a GPU sees all of
    them in each model call: the way to run the orderings of a composition.

    Parameters
    ----------
    structures : sequence of Structure or Atoms
        Ordered models (relaxed: the NEB relaxes positions at fixed cell only).
    hops : {"distinct", "environment", "all"} or sequence of hop indices
        What to run in each model (:func:`halidelab.transport.hops.select_hops`).
    networks : sequence of SiteNetwork or None, optional
        Site networks of the models (default: built from each).
    model : Potential or str
        The MLIP and where it runs.
    calculator : ase Calculator or BatchEvaluator, optional
        Any ASE calculator, used instead of ``model``.
    n_images, fmax, steps, endpoint_fmax, endpoint_steps
        As in :func:`neb_hop`.
    interstitials : bool
        Include tetrahedral interstitial hops (as Li -> i -> Li paths, :func:`neb_path`).
    climb, interpolation, optimizer
        See :func:`run_neb`.
    split : bool
        See :func:`neb_path`.
    relax_endpoints : bool
        Relax the final states of vacancy hops (the initial states and the states of
        interstitial paths are always relaxed).
    on_result : callable(NEBResult), optional
        Called for each hop result, in order, once the batch is done (saving).
    progress : callable(stage, iteration, n_running), optional
    create_vacancies : bool
        Take one Li out of each Li-site orbit that has no empty site, so that a fully
        occupied sublattice or orbit has hops to run (:func:`~halidelab.transport.hops.
        add_vacancies`; the study lists them in ``created_vacancies`` and runs on the cell
        without them). False: such hop classes are not run.
    max_interstitials : int
        Longest chain of interstitials a path may run through (with ``hops`` a mode, not a
        list of indices). Paths through two or more are added only where the Li sites
        need them to percolate in more dimensions
        (:func:`~halidelab.transport.hops.interstitial_chains`; the study's ``notes`` say
        which were added). 1: paths through one interstitial only.
    every_chain : bool
        Run every class of path through 2 .. ``max_interstitials`` interstitials, also those
        the percolation does not need (they may lower a barrier; costly).

    Returns
    -------
    list of NEBStudy
        One per structure, in order.

    Raises
    ------
    SimulationError
        A model has no hop with a Li at one end and an empty site at the other (with
        ``create_vacancies`` False, a model whose hops all join a site to its own image, or
        one whose Li sites are linked only through chains of more than
        ``max_interstitials`` interstitials).
    """
    from pymatgen.core import Structure

    if not structures:
        raise SimulationError("give at least one structure")
    nets = list(networks) if networks is not None else [None] * len(structures)
    if len(nets) != len(structures):
        raise SimulationError(f"{len(structures)} structures but {len(nets)} networks")
    s = _settings(
        n_images,
        fmax,
        steps,
        endpoint_fmax,
        endpoint_steps,
        climb,
        interpolation,
        optimizer,
        split,
        relax_endpoints,
    )
    models = []
    for structure, net in zip(structures, nets, strict=True):
        atoms = to_atoms(structure)
        st = structure if isinstance(structure, Structure) else to_structure(atoms)
        net = net or site_network(st, interstitials=interstitials)
        require_symmetric_framework(
            net,
            st.composition.reduced_formula,
            "a NEB percolation study needs classes of equivalent hops",
        )
        added: tuple[str, ...] = ()
        if create_vacancies:
            atoms, net, added = add_vacancies(atoms, net)
        mode, chosen, skipped, paths = select_hops(net, hops)
        notes: list[str] = []
        if isinstance(hops, str) and interstitials:
            longer, notes = interstitial_chains(
                net,
                "environment" if mode == "environment" else "parent",
                max_interstitials,
                every=every_chain,
            )
            paths = [*paths, *longer]
        if not chosen and not paths:
            formula = st.composition.reduced_formula
            if added:
                raise SimulationError(
                    f"no hop of {formula} joins a Li to an empty Li site, directly or through "
                    f"at most {max_interstitials} interstitial(s), even with {len(added)} Li "
                    "taken out: its Li sites are linked only through longer chains of "
                    "interstitials (raise max_interstitials)"
                )
            raise SimulationError(
                f"no hop of {formula} has a Li at one end and an empty site at the other: "
                "the model has no vacancies to hop into"
                + ("" if create_vacancies else " (allow create_vacancies)")
            )
        models.append((atoms, st, net, mode, chosen, skipped, paths, added, tuple(notes)))
    ev = as_evaluator(model, calculator)
    calls0 = ev.n_calls
    starts = _relax_starts(
        [m[0] for m in models],
        ev,
        s,
        None if progress is None else (lambda it, n: progress("endpoints", it, n)),
    )
    jobs, owner = [], []
    for q, ((_, _, net, _, chosen, _, paths, *_), (init, conv_i, _)) in enumerate(
        zip(models, starts, strict=True)
    ):
        start = _Start(init, not_relaxed_study=not conv_i)
        jobs += [_Job(start, net, hop=h) for h in chosen] + [
            _Job(start, net, chain=tuple(c)) for c in paths
        ]
        owner += [q] * (len(chosen) + len(paths))
    results, n_bands = _run_jobs(jobs, ev, s, progress)
    if on_result is not None:
        for r in results:
            on_result(r)
    studies = []
    for q, ((atoms, st, net, mode, _, skipped, _, added, notes), (_, _, n_i)) in enumerate(
        zip(models, starts, strict=True)
    ):
        mine = [r for r, o in zip(results, owner, strict=True) if o == q]
        level = "environment" if mode == "environment" else "parent"
        hb = hop_barriers_from_results(net, mine, level=level, converged_only=True)
        prov = provenance(
            "ci-neb-study",
            ev.info,
            {
                "hops": mode,
                "n_images": s.n_images,
                "fmax_eV_A": s.fmax,
                "steps": s.steps,
                "interstitials": interstitials,
                "create_vacancies": create_vacancies,
                "max_interstitials": max_interstitials,
                "every_chain": every_chain,
                "n_structures": len(models),
                "n_bands": n_bands,
                "initial_state_force_calls": n_i + 1,
                "model_calls": ev.n_calls - calls0,
            },
        )
        studies.append(
            NEBStudy(
                formula=st.composition.reduced_formula,
                n_atoms=len(atoms),
                hops_mode=mode,
                results=tuple(mine),
                skipped=tuple(skipped),
                chains=tuple(_chains(net, mine)),
                percolation=percolation(net, hb) if hb else None,
                all_converged=all(r.converged and r.endpoints_ok for r in mine),
                network=net,
                provenance=prov,
                created_vacancies=added,
                notes=notes,
            )
        )
    return studies


def neb_study(
    structure: Any,
    hops: str | Sequence[int] = "distinct",
    network: SiteNetwork | None = None,
    calculator: Any = None,
    model: Potential | str = "chgnet",
    n_images: int = 5,
    fmax: float = 0.05,
    steps: int = 500,
    endpoint_steps: int = 300,
    interstitials: bool = True,
    on_result: Callable[[NEBResult], None] | None = None,
    **neb_kwargs: Any,
) -> NEBStudy:
    """Run CI-NEB on the hops of a model and compose chains and percolation.

    :func:`neb_studies` with one structure: every band of every hop in one batch.

    Parameters
    ----------
    structure : Structure or Atoms
        Ordered model.
    hops : {"distinct", "environment", "all"} or sequence of hop indices
        ``distinct``: one hop per symmetry class of the pristine framework;
        ``environment``: one per class and dopant environment (doped models);
        ``all``: every hop that has a Li at one end and an empty site at the other.
    network : SiteNetwork, optional
    calculator, model
        As in :func:`neb_hop`; one model serves every hop.
    n_images, fmax, steps, endpoint_steps
        As in :func:`neb_hop`.
    interstitials : bool
        Include tetrahedral interstitial hops (as Li -> i -> Li paths, :func:`neb_path`).
    on_result : callable(NEBResult), optional
        Called for each hop result (saving).
    **neb_kwargs
        ``endpoint_fmax``, ``climb``, ``interpolation``, ``optimizer``, ``split``,
        ``relax_endpoints``, ``progress``, ``create_vacancies``, ``max_interstitials``,
        ``every_chain`` (see :func:`neb_studies`).

    Returns
    -------
    NEBStudy
    """
    (study,) = neb_studies(
        [structure],
        hops,
        [network],
        model=model,
        calculator=calculator,
        n_images=n_images,
        fmax=fmax,
        steps=steps,
        endpoint_steps=endpoint_steps,
        interstitials=interstitials,
        on_result=on_result,
        **neb_kwargs,
    )
    return study
