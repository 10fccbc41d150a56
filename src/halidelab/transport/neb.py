"""Climbing-image NEB for Li hops, with any ASE calculator (MLIPs from the registry).

Mechanisms
----------
- *vacancy*: a Li in an occupied Li site moves into an empty Li site of the ordered
  model (the endpoints are the model with the Li at A and at B);
- *interstitial*: a Li moves from its octahedral site into an empty tetrahedral
  interstitial (``i`` site) or back; chains such as [Li2-i3-Li2] are composed from these
  hops (:mod:`halidelab.transport.pathways`).

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
"""

from __future__ import annotations

import dataclasses
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
    from ase.mep import NEB

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
        band = NEB(images, k=k, climb=False, method="improvedtangent", allow_shared_calculator=True)
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
    e_rel = energies - energies[0]
    imax = int(np.argmax(e_rel))
    if imax in (0, len(e_rel) - 1):
        warns.append("the highest energy is at an endpoint: no saddle between the endpoints "
                     "(barrier = energy difference)")
    if not conv:
        warns.append(f"NEB not converged: max force {fmax_end:.3f} eV/A > {fmax} after {used} steps")
    s = _path_length(images)
    moved = np.linalg.norm(final.positions - initial.positions, axis=1)
    params = {"n_images": n_images, "fmax_eV_A": fmax, "via": [list(map(float, p)) for _, p in via_positions], "steps": steps, "climb": climb,
              "preconverge_fmax_eV_A": pre, "k_eV_A2": k, "interpolation": interpolation,
              "optimizer": opt_cls.__name__, "method": "improvedtangent"}
    params.update(meta.pop("parameters", {}))
    fields = dict(
        label=label, label_initial=meta.pop("label_initial", "initial"),
        label_final=meta.pop("label_final", "final"), mechanism=meta.pop("mechanism", "endpoints"),
        hop_index=meta.pop("hop_index", None), parent_class=meta.pop("parent_class", None),
        env_class=meta.pop("env_class", None), direction=meta.pop("direction", "unknown"),
        hop_length_A=float(meta.pop("hop_length_A", moved.max())), n_images=n_images,
        reaction_coordinate_A=tuple(float(v) for v in s),
        energies_eV=tuple(float(v) for v in e_rel),
        barrier_forward_eV=float(e_rel[imax]), barrier_backward_eV=float(e_rel[imax] - e_rel[-1]),
        delta_e_eV=float(e_rel[-1]), saddle_image=imax, converged=conv, fmax_eV_A=fmax_end,
        fmax_target_eV_A=float(fmax), steps=used, force_calls=counter.n + extra_calls,
        via=tuple(meta.pop("via", ())), hop_classes=tuple(meta.pop("hop_classes", ())),
        hop_env_classes=tuple(meta.pop("hop_env_classes", ())),
        endpoints_ok=bool(meta.pop("endpoints_ok", True)), wall_s=float(meta.pop("wall_s", 0.0))
        + time.perf_counter() - t0, warnings=tuple(warns),
        provenance=provenance("ci-neb" if climb else "neb", calculator, params))
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
    optimizer: str = "FIRE",
    progress: Callable[[int, float], None] | None = None,
) -> NEBResult:
    """CI-NEB of a Li moving from a Li site through an interstitial into an empty Li site.

    The band starts on the polyline Li site -> interstitial centre -> empty Li site, so
    the interstitial may come out as an intermediate minimum or as the saddle region;
    both endpoints are octahedral Li sites, which (unlike a bare tetrahedral endpoint)
    are minima. Parameters as in :func:`neb_hop`.
    """
    t0 = time.perf_counter()
    atoms = _atoms(structure)
    i_site = next(s for s in {hop_in.site_a, hop_in.site_b} & {hop_out.site_a, hop_out.site_b}
                  if network.sites[s].role == "interstitial")
    a, v1 = _leg(network, hop_in, i_site)
    b, v2 = _leg(network, hop_out, i_site)
    v1 = -v1  # from a to the interstitial
    li = network.sites[a].occupant
    if li is None or network.sites[b].occupant is not None:
        raise SimulationError("an interstitial path needs a Li at its start and an empty Li site at its end")
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
        m = init.cell.array
        site_cart = np.array(network.sites[a].frac) @ m
        shift = np.round(np.linalg.solve(m.T, init.positions[li] - site_cart)) @ m
        via = site_cart + shift + v1
        final = init.copy()
        final.calc = None
        pos = final.positions.copy()
        pos[li] = via + v2
        final.positions = pos
        final, conv_f, _ = relax_fixed_cell(final, calculator, efmax, endpoint_steps, optimizer)
        if not conv_f:
            ok = False
            warns.append(f"final state not relaxed to {efmax} eV/A in {endpoint_steps} steps")
        for atoms_e, site in ((init, a), (final, b)):
            d = _distance_to_site(atoms_e, li, network.sites[site].frac)
            if d > SITE_TOLERANCE_A:
                ok = False
                warns.append(f"the moving Li relaxed {d:.2f} A away from {network.sites[site].label} (site {site})")
    finally:
        calls = counter.n
        counter.restore()
    la, li_lab, lb = network.sites[a].label, network.sites[i_site].label, network.sites[b].label
    vec = v1 + v2
    from halidelab.transport.sites import _direction

    return run_neb(
        init, final, calculator, n_images=n_images, fmax=fmax, steps=steps, climb=climb,
        optimizer=optimizer, label=f"{la}->{li_lab}->{lb}", progress=progress,
        via_positions=[(li, via)], label_initial=la, label_final=lb, mechanism="interstitial",
        hop_index=hop_in.index, parent_class=hop_in.parent_class, env_class=hop_in.env_class,
        direction=_direction(vec, m), hop_length_A=float(np.linalg.norm(v1) + np.linalg.norm(v2)),
        endpoints_ok=ok, wall_s=time.perf_counter() - t0, warnings=tuple(warns), endpoint_force_calls=calls,
        via=(li_lab,), hop_classes=(hop_in.parent_class, hop_out.parent_class),
        hop_env_classes=(hop_in.env_class, hop_out.env_class),
        parameters={"endpoint_fmax_eV_A": efmax, "moving_atom": li, "site_initial": a, "site_final": b,
                    "via_site": i_site, "hops": [hop_in.index, hop_out.index]})


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
        Include tetrahedral interstitial hops.
    on_result : callable(NEBResult), optional
        Called after each hop (progress, saving).

    Returns
    -------
    NEBStudy
    """
    from pymatgen.core import Structure

    from halidelab.relax import to_structure

    atoms = _atoms(structure)
    st = structure if isinstance(structure, Structure) else to_structure(atoms)
    net = network or site_network(st, interstitials=interstitials)
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
    if not chosen and not paths:
        raise SimulationError(f"no hop of {st.composition.reduced_formula} has a Li at one end and an empty "
                              "site at the other: the model has no vacancies to hop into")
    if calculator is None:
        from halidelab.potentials import get_calculator

        calculator = get_calculator(model, device=device, threads=threads)
    efmax = neb_kwargs.pop("endpoint_fmax", None) or fmax
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
                     endpoint_fmax=efmax, endpoint_steps=endpoint_steps, relaxed_initial=init,
                     optimizer=neb_kwargs.get("optimizer", "FIRE"))
        results.append(r)
        if on_result is not None:
            on_result(r)
    chains = []
    for name, labels, direction in named_chains(net):
        via_runs = [r for r in results if r.via and (r.label_initial, *r.via, r.label_final) in
                    (tuple(labels), tuple(labels[::-1]))]
        if via_runs:
            r = min(via_runs, key=lambda r: max(r.barrier_forward_eV, r.barrier_backward_eV))
            e = np.array(r.energies_eV)
            chains.append(ChainBarrier(name, direction, tuple(labels), (0.0, r.delta_e_eV),
                                       (float(e.max()),), float(e.max() - min(0.0, r.delta_e_eV)),
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
    from halidelab.potentials import provenance

    return NEBStudy(
        formula=st.composition.reduced_formula, n_atoms=len(atoms), hops_mode=mode, results=tuple(results),
        skipped=tuple(skipped), chains=tuple(chains), percolation=perc,
        all_converged=all(r.converged and r.endpoints_ok for r in results), network=net,
        provenance=provenance("ci-neb-study", calculator,
                              {"hops": mode, "n_images": n_images, "fmax_eV_A": fmax, "steps": steps,
                               "interstitials": interstitials}))
