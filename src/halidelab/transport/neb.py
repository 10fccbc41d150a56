"""Climbing-image NEB for Li hops, with any ASE calculator (MLIPs from the registry).

Mechanisms
----------
- *vacancy*: a Li in an occupied Li site moves into an empty Li site of the ordered
  model (the endpoints are the model with the Li at A and at B);
- *interstitial*: a Li moves from its octahedral site through an empty tetrahedral
  interstitial (``i`` site) into an empty Li site (:func:`neb_path`); chains such as
  [Li2-i3-Li2] are composed from these paths (:mod:`halidelab.transport.pathways`).

How a hop runs (:func:`neb_hop`): the initial state is relaxed at fixed cell once and
reused; the final state is the relaxed initial state with the moving Li put at the end
site *through the hop's image vector* (its position is the start position plus the real
hop vector, never the in-cell fractional difference), then relaxed at fixed cell. The
band is interpolated linearly between these unwrapped endpoints and refined with IDPP
(Smidstrup et al., J. Chem. Phys. 140, 214106 (2014)), then relaxed with all images
together (``ase.mep.NEB``, improved tangent, one shared calculator) first without and
then with the climbing image (Henkelman et al., J. Chem. Phys. 113, 9901 (2000)).
``converged`` is True only when the climbing stage reached ``fmax``; endpoints that did
not converge, or a Li that left its end site while relaxing, are reported in
``warnings`` and ``endpoints_ok``.

A path through an interstitial that is a local minimum has two saddles, one on each
side of it (equal by symmetry when the two Li sites are). One band with one climbing
image cannot represent that: the climbing image climbs one saddle and leaves the band
lopsided, or, when an image sits on the interstitial, stays on that stationary point (a
minimum along the path) and reports the interstitial energy as the barrier. So
:func:`neb_path` first relaxes the Li in the interstitial; when it stays there, the path
is run as two climbing-image bands joined at that intermediate minimum
(:func:`join_bands`), otherwise as one band through the interstitial.

:func:`neb_study_batch` runs the same study on the batched engine
(:mod:`halidelab.engine`): endpoints relaxed together, then every band of every hop in
one model call per optimiser step.
"""

from __future__ import annotations

import dataclasses
import functools
import time
import warnings as _warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from halidelab.errors import SimulationError, StructureError
from halidelab.records import Provenance, Record
from halidelab.transport.pathways import (
    ChainBarrier,
    Percolation,
    chain_barrier,
    hop_barriers_from_results,
    named_chains,
    percolation,
)
from halidelab.transport.sites import Hop, SiteNetwork, site_network

#: largest distance (A) between a relaxed endpoint's moving Li and its site centre
#: before the endpoint counts as having left the site
SITE_TOLERANCE_A = 0.8


@dataclasses.dataclass(frozen=True)
class NEBResult(Record):
    """Minimum energy path of one hop.

    Attributes
    ----------
    label : str
        e.g. ``Li1->Li2``.
    label_initial, label_final : str
        Site labels at the start and the end of the band.
    mechanism : {"vacancy", "interstitial", "endpoints"}
    hop_index, parent_class, env_class : int or None
        The hop in its :class:`~halidelab.transport.sites.SiteNetwork`.
    direction : str
        ``c``, ``ab``, ``oblique`` (or ``unknown`` for bare endpoints).
    hop_length_A : float
        Distance between the two site centres through the hop's image vector, A (for
        bare endpoints: the largest atomic displacement between them).
    n_images : int
        Intermediate images.
    reaction_coordinate_A : tuple of float
        Cumulative all-atom path length along the band, A.
    energies_eV : tuple of float
        Image energies relative to the initial state, eV (endpoints included).
    barrier_forward_eV, barrier_backward_eV : float
        Highest image above the initial / the final state, eV.
    delta_e_eV : float
        Final minus initial energy, eV.
    saddle_image : int
    converged : bool
        The climbing-image band reached ``fmax_target_eV_A`` within its steps.
    fmax_eV_A, fmax_target_eV_A : float
        Largest NEB force at the end, and the target, eV/A.
    steps : int
        Optimiser steps (both stages).
    force_calls : int
        Calculator evaluations, endpoint relaxations included.
    endpoints_ok : bool
        Both endpoints converged and the Li stayed in its sites.
    via : tuple of str
        Interstitial sites the band was started through (``("i3",)`` for Li2->i3->Li2).
    hop_classes, hop_env_classes : tuple of int
        Parent and environment classes of every hop the path traverses.
    wall_s : float
    warnings : tuple of str
    provenance : Provenance
    """

    label: str
    label_initial: str
    label_final: str
    mechanism: str
    hop_index: int | None
    parent_class: int | None
    env_class: int | None
    direction: str
    hop_length_A: float
    n_images: int
    reaction_coordinate_A: tuple[float, ...]
    energies_eV: tuple[float, ...]
    barrier_forward_eV: float
    barrier_backward_eV: float
    delta_e_eV: float
    saddle_image: int
    converged: bool
    fmax_eV_A: float
    fmax_target_eV_A: float
    steps: int
    force_calls: int
    endpoints_ok: bool
    wall_s: float
    warnings: tuple[str, ...]
    provenance: Provenance
    via: tuple[str, ...] = ()
    hop_classes: tuple[int, ...] = ()
    hop_env_classes: tuple[int, ...] = ()


class _Counter:
    """Counts calls to a calculator's ``calculate`` (patched on the instance)."""

    def __init__(self, calc: Any) -> None:
        self.calc = calc
        self.n = 0
        self._orig = calc.calculate

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.n += 1
            return self._orig(*args, **kwargs)

        calc.calculate = counted

    def restore(self) -> None:
        self.calc.calculate = self._orig


def _optimizer(name: str) -> Any:
    from ase.optimize import BFGS, FIRE, MDMin

    opt = {"FIRE": FIRE, "BFGS": BFGS, "MDMIN": MDMin}.get(str(name).upper())
    if opt is None:
        raise SimulationError(f"unknown optimizer {name!r}; use FIRE, BFGS or MDMin")
    return opt


def _fmax(forces: np.ndarray) -> float:
    return float(np.sqrt((np.asarray(forces) ** 2).sum(axis=-1).max())) if len(forces) else 0.0


def relax_fixed_cell(atoms: Any, calculator: Any, fmax: float = 0.05, steps: int = 300,
                     optimizer: str = "FIRE") -> tuple[Any, bool, int]:
    """Relax positions at fixed cell, keeping positions unwrapped.

    :func:`halidelab.relax.relax` goes through pymatgen and wraps atoms into the cell;
    NEB endpoints must keep the moving atom where the hop vector put it, so endpoints
    are relaxed here with a plain ASE optimiser.

    Returns
    -------
    (atoms, converged, steps)
        A relaxed copy whose calculator is a single-point record of its energy and forces.
    """
    from ase.calculators.singlepoint import SinglePointCalculator

    a = atoms.copy()
    a.calc = calculator
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        opt = _optimizer(optimizer)(a, logfile=None)
        conv = bool(opt.run(fmax=fmax, steps=steps))
    e = float(a.get_potential_energy())
    f = a.get_forces(apply_constraint=False)
    out = a.copy()
    out.calc = SinglePointCalculator(out, energy=e, forces=f)
    return out, conv, int(opt.nsteps)


def _piecewise(images: Sequence[Any], via: Sequence[tuple[int, Sequence[float]]]) -> None:
    """Put the moving atom of the interior images on the polyline start-via-end."""
    idx = via[0][0]
    pts = [images[0].positions[idx]] + [np.asarray(p, dtype=float) for _, p in via] + \
        [images[-1].positions[idx]]
    seg = np.array([np.linalg.norm(b - a) for a, b in zip(pts[:-1], pts[1:], strict=True)])
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    n = len(images) - 1
    for k in range(1, n):
        x = cum[-1] * k / n
        j = min(int(np.searchsorted(cum, x, side="right")) - 1, len(seg) - 1)
        f = (x - cum[j]) / seg[j] if seg[j] > 0 else 0.0
        pos = images[k].positions.copy()
        pos[idx] = pts[j] + f * (pts[j + 1] - pts[j])
        images[k].set_positions(pos, apply_constraint=False)


@functools.cache
def _cached_neb_class() -> type:
    """``ase.mep.NEB`` that computes the band's forces once per set of positions.

    ASE's optimisers ask for the forces up to three times per step (log, convergence,
    step). With one calculator shared by all images, the calculator only remembers the
    last image, so every ask re-evaluated every image: three model calls per image and
    step where one is needed. Same forces, a third of the calls.
    """
    from ase.mep import NEB

    class CachedNEB(NEB):
        _cache_key: bytes | None = None
        _cache_forces: np.ndarray | None = None

        def get_forces(self) -> np.ndarray:
            # positions, climbing, and the calculators (IDPP swaps them on the same positions)
            key = (self.get_positions().tobytes() + bytes([bool(self.climb)])
                   + np.array([id(im.calc) for im in self.images], dtype=np.int64).tobytes())
            if key != self._cache_key or self._cache_forces is None:
                self._cache_forces = np.array(super().get_forces())
                self._cache_key = key
            return self._cache_forces.copy()

    return CachedNEB


def _path_length(images: Sequence[Any]) -> np.ndarray:
    from ase.geometry import find_mic

    s = [0.0]
    for a, b in zip(images[:-1], images[1:], strict=True):
        d, _ = find_mic(b.positions - a.positions, a.cell, a.pbc)
        s.append(s[-1] + float(np.sqrt((d**2).sum())))
    return np.array(s)


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
    progress: Callable[[int, float], None] | None = None,
    via_positions: Sequence[tuple[int, Sequence[float]]] = (),
    **meta: Any,
) -> NEBResult:
    """CI-NEB between two endpoints with the same atoms in the same order.

    Parameters
    ----------
    initial, final : ase.Atoms
        Endpoints (already relaxed, or not, as the caller wants), same cell. Positions
        are taken as they are: a moving atom must be unwrapped in ``final`` so that
        ``final - initial`` is the real displacement.
    calculator : ase Calculator
        Shared by all intermediate images (``NEB(allow_shared_calculator=True)``);
        endpoint energies are computed once.
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
    progress : callable(step, fmax), optional
    via_positions : sequence of (atom index, cartesian position)
        Start the band through these points: the moving atom's initial path is piecewise
        linear through them (images spread by arc length) and IDPP is skipped.
    **meta
        Extra :class:`NEBResult` fields (label_initial, mechanism, hop_index, ...).

    Returns
    -------
    NEBResult
    """
    from ase.calculators.singlepoint import SinglePointCalculator

    from halidelab.potentials import provenance

    if n_images < 1:
        raise SimulationError(f"need at least 1 intermediate image, got {n_images}")
    if fmax <= 0 or steps < 1:
        raise SimulationError(f"need fmax > 0 and steps >= 1 (got {fmax}, {steps})")
    if len(initial) != len(final) or (initial.numbers != final.numbers).any():
        raise StructureError("NEB endpoints must hold the same atoms in the same order")
    if not np.allclose(initial.cell.array, final.cell.array, atol=1e-6):
        raise StructureError("NEB endpoints must share one cell (relax the endpoints at fixed cell)")
    if interpolation not in ("idpp", "linear"):
        raise SimulationError(f"interpolation must be 'idpp' or 'linear', got {interpolation!r}")
    t0 = time.perf_counter()
    counter = _Counter(calculator)
    warns: list[str] = list(meta.pop("warnings", ()))
    extra_calls = int(meta.pop("endpoint_force_calls", 0))
    try:
        ends = []
        for a in (initial, final):
            b = a.copy()
            if isinstance(a.calc, SinglePointCalculator) and {"energy", "forces"} <= set(a.calc.results):
                e, f = a.calc.results["energy"], a.calc.results["forces"]
            else:
                b.calc = calculator
                e, f = b.get_potential_energy(), b.get_forces()
            b.calc = SinglePointCalculator(b, energy=float(e), forces=np.array(f))
            ends.append(b)
        images = [ends[0]] + [ends[0].copy() for _ in range(n_images)] + [ends[1]]
        for im in images[1:-1]:
            im.calc = calculator
        band = _cached_neb_class()(images, k=k, climb=False, method="improvedtangent",
                                   allow_shared_calculator=True)
        band.interpolate(method="linear", mic=False, apply_constraint=False)
        if via_positions:
            _piecewise(images, via_positions)
        elif interpolation == "idpp":
            from ase.mep.neb import idpp_interpolate

            with _warnings.catch_warnings():
                _warnings.simplefilter("ignore")
                idpp_interpolate(band, traj=None, log=None, mic=True, steps=200)
            for im in images[1:-1]:
                im.calc = calculator
        opt_cls = _optimizer(optimizer)
        pre = preconverge_fmax if preconverge_fmax is not None else max(3 * fmax, 0.15)
        n_pre = max(1, steps // 3) if climb else steps
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            opt = opt_cls(band, logfile=None)
            if progress is not None:
                opt.attach(lambda: progress(opt.nsteps, _fmax(band.get_forces())))
            conv = bool(opt.run(fmax=pre if climb else fmax, steps=n_pre))
            used = int(opt.nsteps)
            if climb:
                band.climb = True
                opt = opt_cls(band, logfile=None)
                if progress is not None:
                    opt.attach(lambda: progress(used + opt.nsteps, _fmax(band.get_forces())))
                conv = bool(opt.run(fmax=fmax, steps=max(1, steps - used)))
                used += int(opt.nsteps)
        fmax_end = _fmax(band.get_forces())
        energies = np.array(band.energies, dtype=float)
    finally:
        counter.restore()
    s = _path_length(images)
    moved = np.linalg.norm(final.positions - initial.positions, axis=1)
    params = {"n_images": n_images, "fmax_eV_A": fmax, "via": [list(map(float, p)) for _, p in via_positions],
              "steps": steps, "climb": climb, "preconverge_fmax_eV_A": pre, "k_eV_A2": k,
              "interpolation": interpolation, "optimizer": opt_cls.__name__, "method": "improvedtangent"}
    params.update(meta.pop("parameters", {}))
    meta.setdefault("hop_length_A", float(moved.max()))
    meta["wall_s"] = float(meta.get("wall_s", 0.0)) + time.perf_counter() - t0
    return _band_result(energies - energies[0], s, conv, fmax_end, fmax, used, counter.n + extra_calls, warns,
                        provenance("ci-neb" if climb else "neb", calculator, params), label=label, **meta)


def _band_result(e_rel: Sequence[float], s: Sequence[float], converged: bool, fmax_end: float,
                 fmax_target: float, steps: int, force_calls: int, warns: Sequence[str],
                 prov: Provenance, label: str = "", **meta: Any) -> NEBResult:
    """An :class:`NEBResult` from a band's energies (relative to its first image) and path.

    ``meta`` holds the descriptive fields (label_initial, mechanism, hop_index, ...);
    the barriers, the saddle image and the endpoint/convergence warnings come from the
    band itself.
    """
    e_rel = np.asarray(e_rel, dtype=float)
    warns = list(warns)
    imax = int(np.argmax(e_rel))
    if imax in (0, len(e_rel) - 1):
        warns.append("the highest energy is at an endpoint: no saddle between the endpoints "
                     "(barrier = energy difference)")
    if not converged:
        warns.append(f"NEB not converged: max force {fmax_end:.3f} eV/A > {fmax_target} after {steps} steps")
    meta = dict(meta)
    fields = dict(
        label=label, label_initial=meta.pop("label_initial", "initial"),
        label_final=meta.pop("label_final", "final"), mechanism=meta.pop("mechanism", "endpoints"),
        hop_index=meta.pop("hop_index", None), parent_class=meta.pop("parent_class", None),
        env_class=meta.pop("env_class", None), direction=meta.pop("direction", "unknown"),
        hop_length_A=float(meta.pop("hop_length_A", 0.0)), n_images=len(e_rel) - 2,
        reaction_coordinate_A=tuple(float(v) for v in s),
        energies_eV=tuple(float(v) for v in e_rel),
        barrier_forward_eV=float(e_rel[imax]), barrier_backward_eV=float(e_rel[imax] - e_rel[-1]),
        delta_e_eV=float(e_rel[-1]), saddle_image=imax, converged=bool(converged), fmax_eV_A=float(fmax_end),
        fmax_target_eV_A=float(fmax_target), steps=int(steps), force_calls=int(force_calls),
        via=tuple(meta.pop("via", ())), hop_classes=tuple(meta.pop("hop_classes", ())),
        hop_env_classes=tuple(meta.pop("hop_env_classes", ())),
        endpoints_ok=bool(meta.pop("endpoints_ok", True)), wall_s=float(meta.pop("wall_s", 0.0)),
        warnings=tuple(warns), provenance=prov)
    if meta:
        raise SimulationError(f"unknown NEB result fields: {sorted(meta)}")
    return NEBResult(**fields)


# ---------------------------------------------------------------------------
# hops of a structure


def _atoms(structure: Any) -> Any:
    from halidelab.relax import to_atoms

    return to_atoms(structure)


def _oriented(network: SiteNetwork, hop: Hop, mechanism: str) -> tuple[int, int, np.ndarray]:
    """(start site, end site, cartesian hop vector): start holds the Li."""
    a, b = network.sites[hop.site_a], network.sites[hop.site_b]
    vec = np.array(hop.vector_A)
    if hop.site_a == hop.site_b:
        raise SimulationError(f"hop {hop.index} joins a site to its own image: a vacancy mechanism needs "
                              "a second, empty site (use a larger supercell)")
    if a.occupant is not None and b.occupant is None:
        return hop.site_a, hop.site_b, vec
    if b.occupant is not None and a.occupant is None:
        return hop.site_b, hop.site_a, -vec
    state = "both hold a Li" if a.occupant is not None else "neither holds a Li"
    raise SimulationError(f"hop {hop.index} ({hop.label}): {state}; a {mechanism} hop needs a Li at one "
                          "end and an empty site at the other (pick another hop of the same class)")


def hop_endpoints(atoms: Any, network: SiteNetwork, hop: Hop) -> tuple[Any, Any, int, int, int]:
    """Unrelaxed final state for a hop: the Li moved along the real hop vector.

    Parameters
    ----------
    atoms : ase.Atoms
        The initial state (the ordered model, possibly relaxed; same atom order as the
        structure the network was built from).
    network : SiteNetwork
    hop : Hop

    Returns
    -------
    (initial, final, moving atom index, start site, end site)
    """
    start, end, vec = _oriented(network, hop, "vacancy")
    li = network.sites[start].occupant
    assert li is not None
    m = atoms.cell.array
    site_cart = np.array(network.sites[start].frac) @ m
    # the Li sits near its site centre, possibly one lattice vector away after wrapping
    frac_off = np.linalg.solve(m.T, atoms.positions[li] - site_cart)
    shift = np.round(frac_off) @ m
    target = site_cart + shift + vec
    final = atoms.copy()
    final.calc = None
    pos = final.positions.copy()
    pos[li] = target
    final.positions = pos
    return atoms.copy(), final, int(li), start, end


def _distance_to_site(atoms: Any, idx: int, frac: Sequence[float]) -> float:
    from ase.geometry import find_mic

    d, _ = find_mic(atoms.positions[idx] - np.array(frac) @ atoms.cell.array, atoms.cell, atoms.pbc)
    return float(np.linalg.norm(d))


def neb_hop(
    structure: Any,
    hop: Hop | int,
    network: SiteNetwork | None = None,
    calculator: Any = None,
    model: str = "chgnet",
    device: str = "auto",
    threads: int | None = None,
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
    progress: Callable[[int, float], None] | None = None,
) -> NEBResult:
    """CI-NEB of one hop of an ordered model (vacancy or interstitial mechanism).

    Parameters
    ----------
    structure : pymatgen Structure or ase Atoms
        The ordered model (initial state).
    hop : Hop or int
        A hop of ``network`` (or its index). One end must hold a Li, the other be an
        empty Li site (vacancy mechanism) or an interstitial.
    network : SiteNetwork, optional
        Default: :func:`~halidelab.transport.sites.site_network` of ``structure``.
    calculator : ase Calculator, optional
        Any ASE calculator; default ``potentials.get_calculator(model, device, threads)``.
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
    climb, interpolation, optimizer, progress
        See :func:`run_neb`.

    Returns
    -------
    NEBResult
    """
    from pymatgen.core import Structure

    from halidelab.relax import to_structure

    t0 = time.perf_counter()
    atoms = _atoms(structure)
    if network is None:
        network = site_network(structure if isinstance(structure, Structure) else to_structure(atoms))
    if isinstance(hop, int | np.integer):
        if not 0 <= int(hop) < len(network.hops):
            raise SimulationError(f"hop index {hop} out of range (the network has {len(network.hops)} hops)")
        hop = network.hops[int(hop)]
    if calculator is None:
        from halidelab.potentials import get_calculator

        calculator = get_calculator(model, device=device, threads=threads)
    efmax = endpoint_fmax if endpoint_fmax is not None else fmax
    warns: list[str] = []
    calls = 0
    ok = True
    counter = _Counter(calculator)
    try:
        if relaxed_initial is not None:
            init = relaxed_initial.copy()
            init.calc = relaxed_initial.calc
        elif relax_endpoints:
            init, conv_i, _ = relax_fixed_cell(atoms, calculator, efmax, endpoint_steps, optimizer)
            if not conv_i:
                ok = False
                warns.append(f"initial state not relaxed to {efmax} eV/A in {endpoint_steps} steps")
        else:
            init = atoms
        _, final, li, start, end = hop_endpoints(init, network, hop)
        mech = "vacancy" if network.sites[end].role == "li" and network.sites[start].role == "li" \
            else "interstitial"
        if relax_endpoints:
            final, conv_f, _ = relax_fixed_cell(final, calculator, efmax, endpoint_steps, optimizer)
            if not conv_f:
                ok = False
                warns.append(f"final state not relaxed to {efmax} eV/A in {endpoint_steps} steps")
        for atoms_e, site in ((init, start), (final, end)):
            d = _distance_to_site(atoms_e, li, network.sites[site].frac)
            if d > SITE_TOLERANCE_A:
                ok = False
                warns.append(f"the moving Li relaxed {d:.2f} A away from {network.sites[site].label} "
                             f"(site {site}): that site is not a minimum for this model")
    finally:
        calls = counter.n
        counter.restore()
    label = f"{network.sites[start].label}->{network.sites[end].label}"
    return run_neb(
        init, final, calculator, n_images=n_images, fmax=fmax, steps=steps, climb=climb,
        interpolation=interpolation, optimizer=optimizer, label=label, progress=progress,
        label_initial=network.sites[start].label, label_final=network.sites[end].label,
        mechanism=mech, hop_index=hop.index, parent_class=hop.parent_class, env_class=hop.env_class,
        direction=hop.direction, hop_length_A=hop.length_A, endpoints_ok=ok,
        wall_s=time.perf_counter() - t0, warnings=tuple(warns), endpoint_force_calls=calls,
        parameters={"endpoint_fmax_eV_A": efmax, "relax_endpoints": relax_endpoints, "moving_atom": li,
                    "site_initial": start, "site_final": end, "image": list(hop.image)})


def _leg(network: SiteNetwork, hop: Hop, start: int) -> tuple[int, np.ndarray]:
    """(other end, cartesian vector from ``start``) of a hop traversed from ``start``."""
    if hop.site_a == start:
        return hop.site_b, np.array(hop.vector_A)
    return hop.site_a, -np.array(hop.vector_A)


def interstitial_paths(network: SiteNetwork, level: str = "parent") -> list[tuple[Hop, Hop, int]]:
    """One Li -> i -> Li path per class: (hop into i, hop out of i, interstitial site).

    The first hop starts at a Li site holding a Li, the second ends at an empty Li site
    (vacancy mechanism through a tetrahedral interstitial). Classes: the site labels and
    the (parent or environment) classes of both hops.
    """
    key_attr = "parent_class" if level == "parent" else "env_class"
    out: dict[tuple[Any, ...], tuple[Hop, Hop, int]] = {}
    touching: dict[int, list[Hop]] = {}
    for h in network.hops:
        for s in {h.site_a, h.site_b}:
            touching.setdefault(s, []).append(h)
    for i in (s for s in network.sites if s.role == "interstitial"):
        legs = [(h, *_leg(network, h, i.index)) for h in touching.get(i.index, [])
                if network.sites[_leg(network, h, i.index)[0]].role == "li"]
        for h1, a, _v1 in legs:
            if network.sites[a].occupant is None:
                continue
            for h2, b, _v2 in legs:
                if h2.index == h1.index or network.sites[b].occupant is not None:
                    continue
                key = (network.sites[a].label, i.label, network.sites[b].label,
                       *sorted([getattr(h1, key_attr), getattr(h2, key_attr)]))
                out.setdefault(key, (h1, h2, i.index))
    return [out[k] for k in sorted(out)]


#: the moving Li starts this far (A) from the interstitial centre, toward its start
#: site, when the interstitial state is relaxed: a centre that is a stationary point
#: only by symmetry (a maximum along the path) then relaxes away instead of passing for
#: a minimum
INTERSTITIAL_NUDGE_A = 0.05


@dataclasses.dataclass
class _PathPlan:
    """Geometry of a Li -> interstitial -> Li path on a (relaxed) initial state."""

    start: int
    end: int
    via_site: int
    li: int
    v1: np.ndarray  # start site -> interstitial centre, A
    v2: np.ndarray  # interstitial centre -> end site, A
    via: np.ndarray  # cartesian interstitial centre on the unwrapped path, A
    final: Any  # unrelaxed final state
    intermediate: Any  # unrelaxed interstitial state (the Li nudged toward the start)


def _path_plan(init: Any, network: SiteNetwork, hop_in: Hop, hop_out: Hop) -> _PathPlan:
    """Unrelaxed final and interstitial states of a Li -> i -> Li path, through real hop vectors."""
    common = [s for s in {hop_in.site_a, hop_in.site_b} & {hop_out.site_a, hop_out.site_b}
              if network.sites[s].role == "interstitial"]
    if not common:
        raise SimulationError(f"hops {hop_in.index} and {hop_out.index} share no interstitial site")
    i_site = common[0]
    a, v1 = _leg(network, hop_in, i_site)
    b, v2 = _leg(network, hop_out, i_site)
    v1 = -v1  # from a to the interstitial
    li = network.sites[a].occupant
    if li is None or network.sites[b].occupant is not None:
        raise SimulationError("an interstitial path needs a Li at its start and an empty Li site at its end")
    m = init.cell.array
    site_cart = np.array(network.sites[a].frac) @ m
    shift = np.round(np.linalg.solve(m.T, init.positions[li] - site_cart)) @ m
    via = site_cart + shift + v1
    states = []
    for target in (via + v2, via - INTERSTITIAL_NUDGE_A * v1 / np.linalg.norm(v1)):
        x = init.copy()
        x.calc = None
        pos = x.positions.copy()
        pos[li] = target
        x.set_positions(pos, apply_constraint=False)
        states.append(x)
    return _PathPlan(a, b, i_site, int(li), v1, v2, via, states[0], states[1])


def _path_checks(network: SiteNetwork, plan: _PathPlan, init: Any, final: Any, conv_f: bool,
                 efmax: float, endpoint_steps: int) -> tuple[list[str], bool]:
    """Warnings and ``endpoints_ok`` for the relaxed final state of a path."""
    warns: list[str] = []
    ok = True
    if not conv_f:
        ok = False
        warns.append(f"final state not relaxed to {efmax} eV/A in {endpoint_steps} steps")
    for atoms_e, site in ((init, plan.start), (final, plan.end)):
        d = _distance_to_site(atoms_e, plan.li, network.sites[site].frac)
        if d > SITE_TOLERANCE_A:
            ok = False
            warns.append(f"the moving Li relaxed {d:.2f} A away from {network.sites[site].label} (site {site})")
    return warns, ok


def _intermediate_minimum(network: SiteNetwork, plan: _PathPlan, init: Any, inter: Any, converged: bool,
                          ) -> tuple[bool, str]:
    """Is the relaxed interstitial state a local minimum with the Li in the interstitial?

    True when its relaxation converged, the moving Li stayed within
    :data:`SITE_TOLERANCE_A` of the interstitial centre and no other Li left its site.
    Returns the verdict and a sentence for the result's warnings.
    """
    lab = network.sites[plan.via_site].label
    d = _distance_to_site(inter, plan.li, network.sites[plan.via_site].frac)
    if not converged:
        return False, (f"the {lab} state did not relax within the endpoint steps: the band was run "
                       f"through {lab} as one piece")
    if d > SITE_TOLERANCE_A:
        return False, (f"a Li put in {lab} relaxes {d:.2f} A away (no minimum there): one band through "
                       f"{lab}, its climbing image gives the saddle")
    others = [j for j, sym in enumerate(init.get_chemical_symbols()) if sym == "Li" and j != plan.li]
    if others:
        from ase.geometry import find_mic

        dd, _ = find_mic(inter.positions[others] - init.positions[others], init.cell, init.pbc)
        moved = float(np.linalg.norm(dd, axis=1).max())
        if moved > SITE_TOLERANCE_A:
            return False, (f"with a Li in {lab} another Li moves {moved:.2f} A (a knock-on, not a "
                           f"simple hop): one band through {lab}")
    return True, (f"{lab} is a local minimum along the path: the path was run as two climbing-image "
                  f"bands ({network.sites[plan.start].label}->{lab}, {lab}->{network.sites[plan.end].label}) "
                  "joined at the relaxed interstitial state")


def _path_meta(network: SiteNetwork, hop_in: Hop, hop_out: Hop, plan: _PathPlan, cell: np.ndarray,
               efmax: float) -> dict[str, Any]:
    """Descriptive :class:`NEBResult` fields of a Li -> i -> Li path."""
    from halidelab.transport.sites import _direction

    la, li_lab, lb = (network.sites[x].label for x in (plan.start, plan.via_site, plan.end))
    return dict(
        label=f"{la}->{li_lab}->{lb}", label_initial=la, label_final=lb, mechanism="interstitial",
        hop_index=hop_in.index, parent_class=hop_in.parent_class, env_class=hop_in.env_class,
        direction=_direction(plan.v1 + plan.v2, cell),
        hop_length_A=float(np.linalg.norm(plan.v1) + np.linalg.norm(plan.v2)),
        via=(li_lab,), hop_classes=(hop_in.parent_class, hop_out.parent_class),
        hop_env_classes=(hop_in.env_class, hop_out.env_class),
        parameters={"endpoint_fmax_eV_A": efmax, "moving_atom": plan.li, "site_initial": plan.start,
                    "site_final": plan.end, "via_site": plan.via_site, "hops": [hop_in.index, hop_out.index]})


def join_bands(first: NEBResult, second: NEBResult, warnings: Sequence[str] = (), endpoint_force_calls: int = 0,
               **meta: Any) -> NEBResult:
    """One path from two bands that meet at an intermediate minimum.

    ``first`` runs from the initial state to the intermediate, ``second`` from the
    intermediate to the final state (its energies relative to the intermediate). The
    joined profile is relative to the initial state; its barriers, saddle image and
    convergence (both bands) are those of the whole path.

    Parameters
    ----------
    first, second : NEBResult
    warnings : sequence of str
        Extra warnings (e.g. why the path was split).
    endpoint_force_calls : int
        Calculator calls spent on endpoint and intermediate relaxations.
    **meta
        Descriptive fields of the joined result (label, label_initial, mechanism, ...,
        ``parameters`` merged into the provenance).

    Returns
    -------
    NEBResult
    """
    e1, e2 = np.array(first.energies_eV), np.array(second.energies_eV)
    s1, s2 = np.array(first.reaction_coordinate_A), np.array(second.reaction_coordinate_A)
    e = np.concatenate([e1, e1[-1] + e2[1:]])
    s = np.concatenate([s1, s1[-1] + s2[1:]])
    seg_warns = [f"band {k + 1}: {w}" for k, r in enumerate((first, second)) for w in r.warnings
                 if not w.startswith(("the highest energy is at an endpoint", "NEB not converged"))]
    params = dict(first.provenance.parameters)
    params.update(meta.pop("parameters", {}))
    params.update({"n_images": first.n_images + second.n_images + 1, "bands": 2,
                   "band_images": [first.n_images, second.n_images],
                   "intermediate_energy_eV": float(e1[-1]), "saddle_images": [first.saddle_image,
                                                                              len(e1) - 1 + second.saddle_image]})
    prov = dataclasses.replace(first.provenance, parameters=params)
    return _band_result(e, s, first.converged and second.converged, max(first.fmax_eV_A, second.fmax_eV_A),
                        first.fmax_target_eV_A, first.steps + second.steps,
                        first.force_calls + second.force_calls + int(endpoint_force_calls),
                        [*warnings, *seg_warns], prov, **meta)


def neb_path(
    structure: Any,
    hop_in: Hop,
    hop_out: Hop,
    network: SiteNetwork,
    calculator: Any,
    n_images: int = 5,
    fmax: float = 0.05,
    steps: int = 500,
    endpoint_fmax: float | None = None,
    endpoint_steps: int = 300,
    relaxed_initial: Any = None,
    climb: bool = True,
    interpolation: str = "idpp",
    optimizer: str = "FIRE",
    progress: Callable[[int, float], None] | None = None,
    split: bool = True,
) -> NEBResult:
    """CI-NEB of a Li moving from a Li site through an interstitial into an empty Li site.

    Both endpoints are octahedral Li sites (minima, unlike a bare tetrahedral endpoint).
    The interstitial state (the Li put in the interstitial, nudged
    :data:`INTERSTITIAL_NUDGE_A` toward its start, relaxed at fixed cell) decides how
    the path is run:

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
    Other parameters
        As in :func:`neb_hop`.

    Returns
    -------
    NEBResult
        ``energies_eV`` over the whole path (for a split path: first band, the
        interstitial state, second band); ``provenance.parameters["bands"]`` is 2 for a
        split path.
    """
    t0 = time.perf_counter()
    atoms = _atoms(structure)
    efmax = endpoint_fmax if endpoint_fmax is not None else fmax
    warns: list[str] = []
    ok = True
    counter = _Counter(calculator)
    try:
        if relaxed_initial is not None:
            init = relaxed_initial.copy()
            init.calc = relaxed_initial.calc
        else:
            init, conv_i, _ = relax_fixed_cell(atoms, calculator, efmax, endpoint_steps, optimizer)
            if not conv_i:
                ok = False
                warns.append(f"initial state not relaxed to {efmax} eV/A in {endpoint_steps} steps")
        plan = _path_plan(init, network, hop_in, hop_out)
        final, conv_f, _ = relax_fixed_cell(plan.final, calculator, efmax, endpoint_steps, optimizer)
        inter = conv_m = None
        if split:
            inter, conv_m, _ = relax_fixed_cell(plan.intermediate, calculator, efmax, endpoint_steps, optimizer)
    finally:
        calls = counter.n
        counter.restore()
    w, ok_f = _path_checks(network, plan, init, final, conv_f, efmax, endpoint_steps)
    warns += w
    ok = ok and ok_f
    meta = _path_meta(network, hop_in, hop_out, plan, init.cell.array, efmax)
    kw = dict(fmax=fmax, steps=steps, climb=climb, optimizer=optimizer, progress=progress)
    if inter is not None:
        is_min, why = _intermediate_minimum(network, plan, init, inter, bool(conv_m))
        warns.append(why)
        if is_min:
            n_seg = max(1, n_images // 2)
            lab = network.sites[plan.via_site].label
            r1 = run_neb(init, inter, calculator, n_images=n_seg, interpolation=interpolation,
                         label=f"{meta['label_initial']}->{lab}", **kw)
            r2 = run_neb(inter, final, calculator, n_images=n_seg, interpolation=interpolation,
                         label=f"{lab}->{meta['label_final']}", **kw)
            return join_bands(r1, r2, warnings=warns, endpoint_force_calls=calls, endpoints_ok=ok,
                              wall_s=time.perf_counter() - t0, **meta)
    label = meta.pop("label")
    return run_neb(init, final, calculator, n_images=n_images, label=label, via_positions=[(plan.li, plan.via)],
                   endpoints_ok=ok, wall_s=time.perf_counter() - t0, warnings=tuple(warns),
                   endpoint_force_calls=calls, **kw, **meta)


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
    provenance : Provenance
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


def _select_hops(net: SiteNetwork, hops: str | Sequence[int]) -> tuple[str, list[Hop], list[str],
                                                                       list[tuple[Hop, Hop, int]]]:
    """(mode, vacancy hops, skipped classes, Li -> i -> Li paths) for a ``hops`` choice."""
    skipped: list[str] = []
    if isinstance(hops, str):
        mode = hops.lower()
        if mode in ("distinct", "environment"):
            level = "parent" if mode == "distinct" else "environment"
            chosen = []
            for h in net.distinct_hops(level, vacancy=True):
                if "interstitial" in {net.sites[h.site_a].role, net.sites[h.site_b].role}:
                    continue  # run as Li -> i -> Li paths below
                if net.vacancy_ready(h):
                    chosen.append(h)
                else:
                    skipped.append(f"{h.label} (class {h.parent_class}): no instance with a Li at one end and "
                                   "an empty site at the other in this model")
        elif mode == "all":
            chosen = [h for h in net.hops if net.vacancy_ready(h)
                      and "interstitial" not in {net.sites[h.site_a].role, net.sites[h.site_b].role}]
        else:
            raise SimulationError(f"--hops must be distinct, environment, all or hop indices; got {hops!r}")
    else:
        mode = "list"
        chosen = []
        for i in hops:
            if not 0 <= int(i) < len(net.hops):
                raise SimulationError(f"hop index {i} out of range (the network has {len(net.hops)} hops)")
            chosen.append(net.hops[int(i)])
    paths = interstitial_paths(net, "environment" if mode == "environment" else "parent") \
        if isinstance(hops, str) else []
    return mode, chosen, skipped, paths


def _study_inputs(structure: Any, hops: str | Sequence[int], network: SiteNetwork | None,
                  interstitials: bool) -> tuple[Any, Any, SiteNetwork, str, list[Hop], list[str],
                                                list[tuple[Hop, Hop, int]]]:
    from pymatgen.core import Structure

    from halidelab.relax import to_structure

    atoms = _atoms(structure)
    st = structure if isinstance(structure, Structure) else to_structure(atoms)
    net = network or site_network(st, interstitials=interstitials)
    mode, chosen, skipped, paths = _select_hops(net, hops)
    if not chosen and not paths:
        raise SimulationError(f"no hop of {st.composition.reduced_formula} has a Li at one end and an empty "
                              "site at the other: the model has no vacancies to hop into")
    return atoms, st, net, mode, chosen, skipped, paths


def _finish_study(st: Any, n_atoms: int, net: SiteNetwork, mode: str, results: list[NEBResult],
                  skipped: list[str], prov: Provenance) -> NEBStudy:
    """Chains and percolation from the hop results."""
    chains = []
    for name, labels, direction in named_chains(net):
        via_runs = [r for r in results if r.via and (r.label_initial, *r.via, r.label_final) in
                    (tuple(labels), tuple(labels[::-1]))]
        if via_runs:
            r = min(via_runs, key=lambda r: max(r.barrier_forward_eV, r.barrier_backward_eV))
            e = np.array(r.energies_eV)
            par = r.provenance.parameters
            if par.get("bands") == 2:  # split at the interstitial: it is a site of the chain
                k = int(par["band_images"][0]) + 1
                sites, saddles = (0.0, float(e[k]), r.delta_e_eV), (float(e[:k + 1].max()), float(e[k:].max()))
            else:
                sites, saddles = (0.0, r.delta_e_eV), (float(e.max()),)
            chains.append(ChainBarrier(name, direction, tuple(labels), sites, saddles,
                                       float(max(saddles) - min(sites)),
                                       bool(r.converged and r.endpoints_ok), r.hop_classes,
                                       Provenance(method="neb-chain")))
            continue
        try:
            chains.append(dataclasses.replace(chain_barrier(labels, results, direction), name=name))
        except SimulationError:
            continue
    level = "environment" if mode == "environment" else "parent"
    hb = hop_barriers_from_results(net, results, level=level, converged_only=True)
    perc = percolation(net, hb) if hb else None
    return NEBStudy(
        formula=st.composition.reduced_formula, n_atoms=n_atoms, hops_mode=mode, results=tuple(results),
        skipped=tuple(skipped), chains=tuple(chains), percolation=perc,
        all_converged=all(r.converged and r.endpoints_ok for r in results), network=net, provenance=prov)


def neb_study(
    structure: Any,
    hops: str | Sequence[int] = "distinct",
    network: SiteNetwork | None = None,
    calculator: Any = None,
    model: str = "chgnet",
    device: str = "auto",
    threads: int | None = None,
    n_images: int = 5,
    fmax: float = 0.05,
    steps: int = 500,
    endpoint_steps: int = 300,
    interstitials: bool = True,
    on_result: Callable[[NEBResult], None] | None = None,
    **neb_kwargs: Any,
) -> NEBStudy:
    """Run CI-NEB on the hops of a model and compose chains and percolation.

    Parameters
    ----------
    structure : Structure or Atoms
        Ordered model.
    hops : {"distinct", "environment", "all"} or sequence of hop indices
        ``distinct``: one hop per symmetry class of the pristine framework;
        ``environment``: one per class and dopant environment (doped models);
        ``all``: every hop that has a Li at one end and an empty site at the other.
    network : SiteNetwork, optional
    calculator, model, device, threads
        As in :func:`neb_hop`; one calculator serves every hop.
    n_images, fmax, steps, endpoint_steps
        As in :func:`neb_hop`.
    interstitials : bool
        Include tetrahedral interstitial hops (as Li -> i -> Li paths, :func:`neb_path`).
    on_result : callable(NEBResult), optional
        Called after each hop (progress, saving).
    **neb_kwargs
        ``endpoint_fmax``, ``climb``, ``interpolation``, ``optimizer``, ``progress``,
        ``relax_endpoints`` (see :func:`neb_hop`) and ``split`` (see :func:`neb_path`).

    Returns
    -------
    NEBStudy
    """
    atoms, st, net, mode, chosen, skipped, paths = _study_inputs(structure, hops, network, interstitials)
    if calculator is None:
        from halidelab.potentials import get_calculator

        calculator = get_calculator(model, device=device, threads=threads)
    efmax = neb_kwargs.pop("endpoint_fmax", None) or fmax
    path_kwargs = {k: neb_kwargs[k] for k in ("climb", "interpolation", "optimizer", "progress")
                   if k in neb_kwargs}
    path_kwargs["split"] = neb_kwargs.pop("split", True)
    init, conv_i, _ = relax_fixed_cell(atoms, calculator, efmax, endpoint_steps,
                                       neb_kwargs.get("optimizer", "FIRE"))
    results = []
    for h in chosen:
        r = neb_hop(st, h, network=net, calculator=calculator, n_images=n_images, fmax=fmax, steps=steps,
                    endpoint_fmax=efmax, endpoint_steps=endpoint_steps, relaxed_initial=init, **neb_kwargs)
        if not conv_i:
            r = dataclasses.replace(r, endpoints_ok=False,
                                    warnings=(*r.warnings, "initial state not relaxed to fmax"))
        results.append(r)
        if on_result is not None:
            on_result(r)
    for h1, h2, _i in paths:
        r = neb_path(st, h1, h2, net, calculator, n_images=n_images, fmax=fmax, steps=steps,
                     endpoint_fmax=efmax, endpoint_steps=endpoint_steps, relaxed_initial=init, **path_kwargs)
        if not conv_i:
            r = dataclasses.replace(r, endpoints_ok=False,
                                    warnings=(*r.warnings, "initial state not relaxed to fmax"))
        results.append(r)
        if on_result is not None:
            on_result(r)
    from halidelab.potentials import provenance

    prov = provenance("ci-neb-study", calculator,
                      {"hops": mode, "n_images": n_images, "fmax_eV_A": fmax, "steps": steps,
                       "interstitials": interstitials})
    return _finish_study(st, len(atoms), net, mode, results, skipped, prov)


def neb_study_batch(
    structure: Any,
    hops: str | Sequence[int] = "distinct",
    network: SiteNetwork | None = None,
    evaluator: Any = None,
    model: str = "chgnet",
    device: str = "auto",
    threads: int | None = None,
    n_images: int = 5,
    fmax: float = 0.05,
    steps: int = 500,
    endpoint_fmax: float | None = None,
    endpoint_steps: int = 300,
    interstitials: bool = True,
    climb: bool = True,
    interpolation: str = "idpp",
    split: bool = True,
    on_result: Callable[[NEBResult], None] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> NEBStudy:
    """:func:`neb_study` on the batched engine: every band of every hop in one model call per step.

    Same hops, paths, endpoints, decisions and records as :func:`neb_study` (FIRE
    only): the initial state is relaxed, then all final and interstitial states
    together (:func:`halidelab.engine.relax.relax_positions_batch`), then all bands,
    vacancy hops, one-band paths and both bands of split paths, as one
    :func:`halidelab.engine.neb.neb_batch`. ASE's FIRE update and NEB forces are
    reproduced step for step, so barriers equal the loop's up to float noise of the
    batched model call (which a long optimisation can amplify; the CLI test states the
    tolerance). ``wall_s`` of every result is the whole batch's; ``force_calls`` counts
    this hop's structures, endpoint relaxations included.

    Parameters
    ----------
    evaluator : BatchEvaluator, optional
        Default :func:`halidelab.engine.batch.get_evaluator` with ``model``, ``device``,
        ``threads``.
    progress : callable(stage, iteration, n_running), optional
        ``stage`` is ``"endpoints"`` or ``"bands"``.
    Other parameters
        As in :func:`neb_study` and :func:`neb_path`.

    Returns
    -------
    NEBStudy
    """
    from halidelab.engine.batch import as_evaluator
    from halidelab.engine.neb import NEBHop, neb_batch
    from halidelab.engine.relax import relax_positions_batch

    atoms, st, net, mode, chosen, skipped, paths = _study_inputs(structure, hops, network, interstitials)
    ev = as_evaluator(evaluator, model, device, threads)
    efmax = endpoint_fmax or fmax
    t0 = time.perf_counter()

    def stage(name: str) -> Callable[[int, int], None] | None:
        return None if progress is None else (lambda it, n: progress(name, it, n))

    ((init, conv_i, n_i),) = relax_positions_batch([atoms], efmax, endpoint_steps, evaluator=ev,
                                                   progress=stage("endpoints"))
    hop_ends = [hop_endpoints(init, net, h) for h in chosen]
    plans = [_path_plan(init, net, h1, h2) for h1, h2, _ in paths]
    todo = [e[1] for e in hop_ends] + [p.final for p in plans] + ([p.intermediate for p in plans] if split else [])
    relaxed = relax_positions_batch(todo, efmax, endpoint_steps, evaluator=ev, progress=stage("endpoints")) \
        if todo else []
    init_calls = n_i + 1
    not_relaxed = f"final state not relaxed to {efmax} eV/A in {endpoint_steps} steps"

    # every band of the study, and how to turn its result back into a hop record
    bands: list[Any] = []
    jobs: list[tuple[str, list[int], dict[str, Any]]] = []
    for k, (h, (_, _, li, start, end)) in enumerate(zip(chosen, hop_ends, strict=True)):
        final, conv_f, n_f = relaxed[k]
        warns, ok = [], True
        if not conv_f:
            ok = False
            warns.append(not_relaxed)
        for atoms_e, site in ((init, start), (final, end)):
            d = _distance_to_site(atoms_e, li, net.sites[site].frac)
            if d > SITE_TOLERANCE_A:
                ok = False
                warns.append(f"the moving Li relaxed {d:.2f} A away from {net.sites[site].label} "
                             f"(site {site}): that site is not a minimum for this model")
        mech = "vacancy" if net.sites[end].role == "li" and net.sites[start].role == "li" else "interstitial"
        label = f"{net.sites[start].label}->{net.sites[end].label}"
        bands.append(NEBHop(init, final, label, mic=False))
        jobs.append(("hop", [len(bands) - 1], dict(
            label=label, label_initial=net.sites[start].label, label_final=net.sites[end].label,
            mechanism=mech, hop_index=h.index, parent_class=h.parent_class, env_class=h.env_class,
            direction=h.direction, hop_length_A=h.length_A, endpoints_ok=ok, warnings=warns, calls=n_f + 1,
            parameters={"endpoint_fmax_eV_A": efmax, "relax_endpoints": True, "moving_atom": li,
                        "site_initial": start, "site_final": end, "image": list(h.image)})))
    n_hops = len(chosen)
    for q, ((h1, h2, _), plan) in enumerate(zip(paths, plans, strict=True)):
        final, conv_f, n_f = relaxed[n_hops + q]
        warns, ok = _path_checks(net, plan, init, final, conv_f, efmax, endpoint_steps)
        meta = _path_meta(net, h1, h2, plan, init.cell.array, efmax)
        calls = n_f + 1
        is_min = False
        if split:
            inter, conv_m, n_m = relaxed[n_hops + len(plans) + q]
            calls += n_m + 1
            is_min, why = _intermediate_minimum(net, plan, init, inter, conv_m)
            warns.append(why)
        if is_min:
            n_seg = max(1, n_images // 2)
            lab = net.sites[plan.via_site].label
            bands.append(NEBHop(init, inter, f"{meta['label_initial']}->{lab}", n_images=n_seg, mic=False))
            bands.append(NEBHop(inter, final, f"{lab}->{meta['label_final']}", n_images=n_seg, mic=False))
            jobs.append(("split", [len(bands) - 2, len(bands) - 1], dict(meta, endpoints_ok=ok, warnings=warns,
                                                                          calls=calls)))
        else:
            bands.append(NEBHop(init, final, meta["label"], via=((plan.li, tuple(plan.via)),), mic=False))
            jobs.append(("hop", [len(bands) - 1], dict(meta, endpoints_ok=ok, warnings=warns, calls=calls)))

    res = neb_batch(bands, n_images=n_images, fmax=fmax, steps=steps, climb=climb, interpolation=interpolation,
                    evaluator=ev, progress=stage("bands"))
    wall = time.perf_counter() - t0
    results: list[NEBResult] = []
    for kind, idx, meta in jobs:
        meta = dict(meta)
        warns, calls = list(meta.pop("warnings")), int(meta.pop("calls"))
        if not conv_i:
            meta["endpoints_ok"] = False
            warns.append("initial state not relaxed to fmax")
        parts = [_from_batch(res[j]) for j in idx]
        if kind == "split":
            r = join_bands(parts[0], parts[1], warnings=warns, endpoint_force_calls=calls, wall_s=wall, **meta)
        else:
            p = parts[0]
            params = dict(p.provenance.parameters)
            params.update(meta.pop("parameters", {}))
            r = _band_result(p.energies_eV, p.reaction_coordinate_A, p.converged, p.fmax_eV_A,
                             p.fmax_target_eV_A, p.steps, p.force_calls + calls, warns,
                             dataclasses.replace(p.provenance, parameters=params), wall_s=wall, **meta)
        results.append(r)
        if on_result is not None:
            on_result(r)
    prov = Provenance(method="ci-neb-study-batch", model=ev.info.get("name"), model_version=ev.info.get("version"),
                      parameters={"hops": mode, "n_images": n_images, "fmax_eV_A": fmax, "steps": steps,
                                  "interstitials": interstitials, "batched": True, "n_bands": len(bands),
                                  "initial_state_force_calls": init_calls, "device": ev.info.get("device")})
    return _finish_study(st, len(atoms), net, mode, results, skipped, prov)


def _from_batch(b: Any) -> NEBResult:
    """A bare :class:`NEBResult` (no hop fields yet) from a :class:`~halidelab.engine.neb.BatchNEBResult`."""
    warns = [w for w in b.warnings if not w.startswith(("the highest energy is at an endpoint",
                                                        "NEB not converged"))]
    return _band_result(b.energies_eV, b.reaction_coordinate_A, b.converged, b.fmax_eV_A, b.fmax_target_eV_A,
                        b.steps, b.force_calls, warns, b.provenance, label=b.label)
