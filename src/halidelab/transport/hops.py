"""The geometry of Li hops in an ordered model: which hops to run, and their endpoints.

Pure geometry on a :class:`~halidelab.transport.sites.SiteNetwork` and ASE ``Atoms``;
nothing here calls a model. The NEB driver (:mod:`halidelab.transport.neb`) asks this
module what to run and how to check what came back:

- :func:`select_hops`: the vacancy hops and the Li -> interstitial -> Li paths of a
  ``hops`` choice (one per symmetry class, per dopant environment, or all);
- :func:`add_vacancies`: one Li taken out of each Li-site orbit that has no empty site, so
  that a fully occupied sublattice (Li3InCl6, Li3ScCl6) or orbit (one of the two Li
  orbits of an ordered Li3YCl6 cell) has hops to run;
- :func:`hop_endpoints`: the final state of a vacancy hop, the Li moved along the hop's
  real (image) vector, never the in-cell fractional difference;
- :func:`interstitial_paths` and :func:`path_plan`: a Li moving from an occupied Li site
  through an empty tetrahedral interstitial into an empty Li site, with its final and
  interstitial states;
- :func:`interstitial_chains`: paths through two or more interstitials (the ccp Li3MCl6
  layers are joined only by tet -> empty metal-layer octahedron -> tet), added only where
  the Li sites need them to percolate in more dimensions;
- :func:`site_checks`, :func:`path_checks` and :func:`intermediate_minimum`: did the
  relaxed endpoints keep the moving Li in its sites, is the relaxed interstitial state a
  local minimum (then a path needs two bands);
- :func:`path_meta`: the descriptive fields of a path's result.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from halidelab.errors import SimulationError
from halidelab.transport.sites import Hop, SiteNetwork, direction_of

#: largest distance (A) between a relaxed endpoint's moving Li and its site centre
#: before the endpoint counts as having left the site
SITE_TOLERANCE_A = 0.8

#: the moving Li starts this far (A) from the interstitial centre, toward its start
#: site, when the interstitial state is relaxed: a centre that is a stationary point
#: only by symmetry (a maximum along the path) then relaxes away instead of passing for
#: a minimum
INTERSTITIAL_NUDGE_A = 0.05


def select_hops(
    net: SiteNetwork, hops: str | Sequence[int]
) -> tuple[str, list[Hop], list[str], list[tuple[Hop, Hop, int]]]:
    """What a ``hops`` choice runs in a model.

    Parameters
    ----------
    net : SiteNetwork
    hops : {"distinct", "environment", "all"} or sequence of hop indices
        ``distinct``: one hop per symmetry class of the pristine framework;
        ``environment``: one per class and dopant environment (doped models);
        ``all``: every hop that has a Li at one end and an empty site at the other.
        Interstitial hops become Li -> i -> Li paths (one per class).

    Returns
    -------
    (mode, vacancy hops, skipped classes with the reason, Li -> i -> Li paths)
        Each path is the tuple of its hops, in order from its occupied Li site (see
        :func:`interstitial_paths`; :func:`interstitial_chains` adds paths through several
        interstitials).
    """
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
                    skipped.append(
                        f"{h.label} (class {h.parent_class}): no instance with a Li at one end and "
                        "an empty site at the other in this model"
                    )
        elif mode == "all":
            chosen = [
                h
                for h in net.hops
                if net.vacancy_ready(h)
                and "interstitial" not in {net.sites[h.site_a].role, net.sites[h.site_b].role}
            ]
        else:
            raise SimulationError(
                f"--hops must be distinct, environment, all or hop indices; got {hops!r}"
            )
    else:
        mode = "list"
        chosen = []
        for i in hops:
            if not 0 <= int(i) < len(net.hops):
                raise SimulationError(
                    f"hop index {i} out of range (the network has {len(net.hops)} hops)"
                )
            chosen.append(net.hops[int(i)])
    paths = (
        [
            (h1, h2)
            for h1, h2, _ in interstitial_paths(
                net, "environment" if mode == "environment" else "parent"
            )
        ]
        if isinstance(hops, str)
        else []
    )
    return mode, chosen, skipped, paths


def add_vacancies(atoms: Any, network: SiteNetwork) -> tuple[Any, SiteNetwork, tuple[str, ...]]:
    """Take one Li out of each Li-site orbit that has no empty site.

    A vacancy hop needs a Li at one end and an empty Li site at the other, and a Li -> i ->
    Li path an empty Li site at its end. In an ordered model whose Li sublattice (or one Li
    orbit of it) is fully occupied, those hops have no instance and their classes are never
    run: Li3InCl6 or LiAlCl4 then get no barrier at all, and an ordered Li3YCl6 cell only
    the hops of its partly empty orbit (no 3D path). One Li per full orbit is removed; the
    vacancies are spread out (each new one as far as the cell allows from those already
    made, lowest site index on ties). The MLIP sees a neutral Li atom removed (no
    compensating charge: these models carry none); the barriers are those of a dilute
    vacancy in this cell, and the cell's Li count drops by the number removed.

    Parameters
    ----------
    atoms : ase.Atoms
        The model (same atom order as the structure the network was built from).
    network : SiteNetwork

    Returns
    -------
    (atoms, network, notes)
        A copy of ``atoms`` without the removed Li (constraints follow the renumbering), the
        network with those sites empty and the other occupants renumbered, and one note per
        vacancy (``"Li2 site 7: Li atom 12 removed"``). Unchanged copies and no notes when
        every Li orbit already has an empty site.
    """
    from pymatgen.core import Lattice

    li_sites = [s for s in network.sites if s.role == "li"]
    orbits = sorted({s.label for s in li_sites})
    lattice = Lattice(network.lattice)
    vacated: list[int] = []
    for label in orbits:
        members = [s for s in li_sites if s.label == label]
        if any(s.occupant is None for s in members):
            continue
        if vacated:
            d = lattice.get_all_distances(
                [s.frac for s in members], [network.sites[v].frac for v in vacated]
            ).min(axis=1)
            pick = members[int(np.argmax(np.round(d, 3)))]
        else:
            pick = members[0]
        vacated.append(pick.index)
    out = atoms.copy()
    if not vacated:
        return out, network, ()
    removed = sorted(int(network.sites[v].occupant) for v in vacated)
    del out[removed]
    out.calc = None

    def renumber(i: int | None) -> int | None:
        return None if i is None else i - int(np.searchsorted(removed, i))

    sites = tuple(
        dataclasses.replace(
            s,
            occupant=None if s.index in vacated else renumber(s.occupant),
            anions=tuple((renumber(a), img) for a, img in s.anions),
        )
        for s in network.sites
    )
    notes = tuple(
        f"{network.sites[v].label} site {v}: Li atom {network.sites[v].occupant} removed"
        for v in vacated
    )
    return out, dataclasses.replace(network, sites=sites), notes


def _oriented(network: SiteNetwork, hop: Hop, mechanism: str) -> tuple[int, int, np.ndarray]:
    """(start site, end site, cartesian hop vector): start holds the Li."""
    a, b = network.sites[hop.site_a], network.sites[hop.site_b]
    vec = np.array(hop.vector_A)
    if hop.site_a == hop.site_b:
        raise SimulationError(
            f"hop {hop.index} joins a site to its own image: a vacancy mechanism needs "
            "a second, empty site (use a larger supercell)"
        )
    if a.occupant is not None and b.occupant is None:
        return hop.site_a, hop.site_b, vec
    if b.occupant is not None and a.occupant is None:
        return hop.site_b, hop.site_a, -vec
    state = "both hold a Li" if a.occupant is not None else "neither holds a Li"
    raise SimulationError(
        f"hop {hop.index} ({hop.label}): {state}; a {mechanism} hop needs a Li at one "
        "end and an empty site at the other (pick another hop of the same class)"
    )


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


def hop_mechanism(network: SiteNetwork, start: int, end: int) -> str:
    """``vacancy`` between two Li sites, else ``interstitial``."""
    roles = {network.sites[start].role, network.sites[end].role}
    return "vacancy" if roles == {"li"} else "interstitial"


def distance_to_site(atoms: Any, idx: int, frac: Sequence[float]) -> float:
    """Minimum-image distance of atom ``idx`` from a fractional site centre, A."""
    from ase.geometry import find_mic

    d, _ = find_mic(atoms.positions[idx] - np.array(frac) @ atoms.cell.array, atoms.cell, atoms.pbc)
    return float(np.linalg.norm(d))


def site_checks(
    network: SiteNetwork, li: int, states: Sequence[tuple[Any, int]], note: str = ""
) -> list[str]:
    """Warnings for relaxed endpoints whose moving Li left its site (further than
    :data:`SITE_TOLERANCE_A`); ``states`` are (atoms, site index) pairs."""
    warns = []
    for atoms_e, site in states:
        d = distance_to_site(atoms_e, li, network.sites[site].frac)
        if d > SITE_TOLERANCE_A:
            warns.append(
                f"the moving Li relaxed {d:.2f} A away from {network.sites[site].label} "
                f"(site {site}){note}"
            )
    return warns


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
        legs = [
            (h, *_leg(network, h, i.index))
            for h in touching.get(i.index, [])
            if network.sites[_leg(network, h, i.index)[0]].role == "li"
        ]
        for h1, a, _v1 in legs:
            if network.sites[a].occupant is None:
                continue
            for h2, b, _v2 in legs:
                if h2.index == h1.index or network.sites[b].occupant is not None:
                    continue
                key = (
                    network.sites[a].label,
                    i.label,
                    network.sites[b].label,
                    *sorted([getattr(h1, key_attr), getattr(h2, key_attr)]),
                )
                out.setdefault(key, (h1, h2, i.index))
    return [out[k] for k in sorted(out)]


#: longest chain of interstitials a path between two Li sites may run through (the ccp
#: Li3MCl6 need three: Li -> tetrahedral -> empty octahedron of the metal layer ->
#: tetrahedral -> Li)
MAX_INTERSTITIALS = 3


def _adjacency(network: SiteNetwork) -> dict[int, list[tuple[int, np.ndarray, Hop]]]:
    """Site -> (other end, image of the other end, hop), both directions of every hop."""
    adj: dict[int, list[tuple[int, np.ndarray, Hop]]] = {}
    for h in network.hops:
        img = np.array(h.image, dtype=int)
        adj.setdefault(h.site_a, []).append((h.site_b, img, h))
        adj.setdefault(h.site_b, []).append((h.site_a, -img, h))
    return adj


def _chain_instances(
    network: SiteNetwork, k: int, adj: dict[int, list[tuple[int, np.ndarray, Hop]]]
) -> list[tuple[tuple[int, ...], tuple[Hop, ...], tuple[int, int, int]]]:
    """Every walk Li site -> k interstitials -> Li site that visits no site image twice:
    (sites, hops, image of the last site relative to the first). Both directions."""
    out = []
    for a in (s.index for s in network.sites if s.role == "li"):
        stack: list[tuple[tuple[int, ...], tuple[Hop, ...], tuple[tuple[int, ...], ...]]] = [
            ((a,), (), ((a, 0, 0, 0),))
        ]
        while stack:
            sites, hops, seen = stack.pop()
            here, img = sites[-1], np.array(seen[-1][1:])
            for nxt, d, h in adj.get(here, ()):
                pos = img + d
                key = (nxt, *map(int, pos))
                if key in seen:
                    continue
                role = network.sites[nxt].role
                if len(sites) == k + 1:
                    if role == "li":
                        out.append(((*sites, nxt), (*hops, h), tuple(int(v) for v in pos)))
                elif role == "interstitial":
                    stack.append(((*sites, nxt), (*hops, h), (*seen, key)))
    return out


def _ends(
    instances: Iterable[tuple[tuple[int, ...], tuple[Hop, ...], tuple[int, int, int]]],
) -> list[tuple[int, int, tuple[int, int, int]]]:
    """The (first site, last site, image) edges of chain instances."""
    return [(sites[0], sites[-1], img) for sites, _, img in instances]


def interstitial_chains(
    network: SiteNetwork,
    level: str = "parent",
    max_interstitials: int = MAX_INTERSTITIALS,
    every: bool = False,
) -> tuple[list[tuple[Hop, ...]], list[str]]:
    """Paths through two or more interstitials, where the Li sites need them to percolate.

    In the ccp (C2/m) Li3MCl6 the Li layers are joined only through a tetrahedral hole, an
    empty octahedron of the metal layer and a second tetrahedral hole; in LiAlCl4 the Li
    sites are joined only through chains of interstitials. Such a path is one Li moving
    from an occupied Li site through k interstitials into an empty Li site (run as bands
    split at the interstitials that are minima, :func:`halidelab.transport.neb.neb_path`).

    Chains are added by length, k = 2 .. ``max_interstitials``, only while the Li sites
    joined by direct hops and by the paths of fewer interstitials percolate in fewer
    dimensions than the whole site graph (Li sites and interstitials) does. At each length
    the chain classes (site labels and hop classes along the chain, either direction) whose
    instances raise that dimension are taken, each alone; when none does alone but all
    together do, all are taken. Paths that only lower a barrier without adding a direction
    are not run (the percolation barrier of such a material may then be an upper bound).

    Parameters
    ----------
    network : SiteNetwork
    level : {"parent", "environment"}
        Hop classes that tell chain classes apart.
    max_interstitials : int
        Longest chain (>= 1; 1 adds nothing).
    every : bool
        Every class of every length 2 .. ``max_interstitials``, needed for percolation or not
        (paths that may only lower a barrier; costly: the classes multiply with the length).

    Returns
    -------
    (chains, notes)
        One chain per class with a runnable instance (a Li at its start, its end site
        empty), as the tuple of its hops from the occupied site; one note per length that
        added chains, or whose classes had no runnable instance.
    """
    from halidelab.transport.pathways import periodic_dimension

    if max_interstitials < 1:
        raise SimulationError(f"max_interstitials must be >= 1, got {max_interstitials}")
    key_attr = "parent_class" if level == "parent" else "env_class"
    adj = _adjacency(network)
    li = [s.index for s in network.sites if s.role == "li"]
    ceiling = periodic_dimension([(h.site_a, h.site_b, h.image) for h in network.hops], li)
    edges = [
        (h.site_a, h.site_b, h.image)
        for h in network.hops
        if network.sites[h.site_a].role == network.sites[h.site_b].role == "li"
    ]
    edges += _ends(_chain_instances(network, 1, adj))
    chains: list[tuple[Hop, ...]] = []
    notes: list[str] = []
    dim = periodic_dimension(edges, li)
    for k in range(2, max_interstitials + 1):
        if dim >= ceiling and not every:
            break
        classes: dict[tuple[Any, ...], list[tuple[tuple[int, ...], tuple[Hop, ...], Any]]] = {}
        for inst in _chain_instances(network, k, adj):
            sites, hops, _ = inst
            fwd = (
                tuple(network.sites[x].label for x in sites),
                tuple(getattr(h, key_attr) for h in hops),
            )
            rev = (fwd[0][::-1], fwd[1][::-1])
            classes.setdefault(min(fwd, rev), []).append(inst)
        if every:
            chosen = sorted(classes)
        else:
            chosen = [
                c
                for c in sorted(classes)
                if periodic_dimension(edges + _ends(classes[c]), li) > dim
            ]
        if not chosen:
            union = edges + [e for x in classes.values() for e in _ends(x)]
            if periodic_dimension(union, li) > dim:
                chosen = sorted(classes)
        if not chosen:
            continue

        def held(x: int) -> bool:
            return network.sites[x].occupant is not None

        runnable, idle = 0, []
        for c in chosen:
            edges += _ends(classes[c])
            for sites, hops, _ in sorted(classes[c], key=lambda x: x[0]):
                if held(sites[0]) != held(sites[-1]):  # run from the end that holds the Li
                    chains.append(hops if held(sites[0]) else hops[::-1])
                    break
            else:
                idle.append("-".join(c[0]))
                continue
            runnable += 1
        new_dim = periodic_dimension(edges, li)
        notes.append(
            f"{runnable} path class(es) through {k} interstitials run"
            + (" (every class asked for)" if every else "")
            + f": with fewer the Li sites percolate in {dim}D{'' if every else ' only'}, "
            f"with them in {new_dim}D"
            + (
                f"; no instance of {', '.join(idle)} has a Li at one end and an empty site at "
                "the other"
                if idle
                else ""
            )
        )
        dim = new_dim
    return chains, notes


@dataclasses.dataclass
class PathPlan:
    """Geometry of a Li -> interstitial(s) -> Li path on a (relaxed) initial state."""

    start: int
    end: int
    via_sites: tuple[int, ...]
    li: int
    hops: tuple[Hop, ...]  # in path order, from the start
    legs: list[np.ndarray]  # cartesian vectors start -> i1 -> ... -> end, A
    points: list[np.ndarray]  # cartesian interstitial centres on the unwrapped path, A
    final: Any  # unrelaxed final state
    intermediates: list[Any]  # unrelaxed interstitial states (the Li nudged back along the path)

    @property
    def via_site(self) -> int:
        """The first interstitial."""
        return self.via_sites[0]

    @property
    def v1(self) -> np.ndarray:
        """Start site -> first interstitial centre, A."""
        return self.legs[0]

    @property
    def v2(self) -> np.ndarray:
        """First interstitial centre -> next point, A."""
        return self.legs[1]

    @property
    def via(self) -> np.ndarray:
        """Cartesian centre of the first interstitial, A."""
        return self.points[0]

    @property
    def intermediate(self) -> Any:
        """The unrelaxed state with the Li in the first interstitial."""
        return self.intermediates[0]


def path_plan(init: Any, network: SiteNetwork, *hops: Hop) -> PathPlan:
    """Unrelaxed final and interstitial states of a path, through real hop vectors.

    Parameters
    ----------
    init : ase.Atoms
    network : SiteNetwork
    *hops : Hop
        The path's hops in order (two for Li -> i -> Li); it runs from whichever end
        holds a Li.
    """
    if len(hops) < 2:
        raise SimulationError("a path through interstitials needs at least two hops")
    first = hops[0]
    ends = [x for x in (first.site_a, first.site_b) if network.sites[x].role == "li"]
    if len(ends) != 1:
        raise SimulationError(
            f"hop {first.index} does not join a Li site to an interstitial: not a path start"
        )
    sites, legs = [ends[0]], []
    for h in hops:
        if sites[-1] not in (h.site_a, h.site_b):
            raise SimulationError(f"hop {h.index} does not continue the path at site {sites[-1]}")
        nxt, vec = _leg(network, h, sites[-1])
        sites.append(nxt)
        legs.append(vec)
    via_sites = tuple(sites[1:-1])
    if network.sites[sites[-1]].role != "li" or any(
        network.sites[x].role != "interstitial" for x in via_sites
    ):
        raise SimulationError("a path must run from a Li site through interstitials to a Li site")
    a, b = sites[0], sites[-1]
    if network.sites[a].occupant is None and network.sites[b].occupant is not None:
        return path_plan(init, network, *hops[::-1])
    li = network.sites[a].occupant
    if li is None or network.sites[b].occupant is not None:
        raise SimulationError(
            "an interstitial path needs a Li at its start and an empty Li site at its end"
        )
    m = init.cell.array
    site_cart = np.array(network.sites[a].frac) @ m
    shift = np.round(np.linalg.solve(m.T, init.positions[li] - site_cart)) @ m
    points = list(site_cart + shift + np.cumsum(legs[:-1], axis=0))
    targets = [points[-1] + legs[-1]] + [
        p - INTERSTITIAL_NUDGE_A * v / np.linalg.norm(v) for p, v in zip(points, legs, strict=False)
    ]
    states = []
    for target in targets:
        x = init.copy()
        x.calc = None
        pos = x.positions.copy()
        pos[li] = target
        x.set_positions(pos, apply_constraint=False)
        states.append(x)
    return PathPlan(a, b, via_sites, int(li), tuple(hops), legs, points, states[0], states[1:])


def path_checks(
    network: SiteNetwork,
    plan: PathPlan,
    init: Any,
    final: Any,
    conv_f: bool,
    efmax: float,
    endpoint_steps: int,
) -> tuple[list[str], bool]:
    """Warnings and ``endpoints_ok`` for the relaxed final state of a path."""
    warns: list[str] = []
    ok = True
    if not conv_f:
        ok = False
        warns.append(f"final state not relaxed to {efmax} eV/A in {endpoint_steps} steps")
    w = site_checks(network, plan.li, ((init, plan.start), (final, plan.end)))
    return warns + w, ok and not w


def intermediate_minimum(
    network: SiteNetwork,
    plan: PathPlan,
    init: Any,
    inter: Any,
    converged: bool,
    which: int = 0,
) -> tuple[bool, str]:
    """Is a relaxed interstitial state a local minimum with the Li in the interstitial?

    True when its relaxation converged, the moving Li stayed within
    :data:`SITE_TOLERANCE_A` of the interstitial centre and no other Li left its site.
    Returns the verdict and a sentence for the result's warnings.

    Parameters
    ----------
    which : int
        Which interstitial of the path (0: the first).
    """
    via = plan.via_sites[which]
    lab = network.sites[via].label
    if len(plan.via_sites) > 1:
        lab = f"{lab} (interstitial {which + 1} of {len(plan.via_sites)})"
    d = distance_to_site(inter, plan.li, network.sites[via].frac)
    if not converged:
        return False, (
            f"the {lab} state did not relax within the endpoint steps: the band was run "
            f"through {lab} as one piece"
        )
    if d > SITE_TOLERANCE_A:
        return False, (
            f"a Li put in {lab} relaxes {d:.2f} A away (no minimum there): one band through "
            f"{lab}, its climbing image gives the saddle"
        )
    others = [
        j for j, sym in enumerate(init.get_chemical_symbols()) if sym == "Li" and j != plan.li
    ]
    if others:
        from ase.geometry import find_mic

        dd, _ = find_mic(inter.positions[others] - init.positions[others], init.cell, init.pbc)
        moved = float(np.linalg.norm(dd, axis=1).max())
        if moved > SITE_TOLERANCE_A:
            return False, (
                f"with a Li in {lab} another Li moves {moved:.2f} A (a knock-on, not a "
                f"simple hop): one band through {lab}"
            )
    if len(plan.via_sites) > 1:
        return True, (
            f"{lab} is a local minimum along the path: the bands are joined at its relaxed state"
        )
    return True, (
        f"{lab} is a local minimum along the path: the path was run as two climbing-image "
        f"bands ({network.sites[plan.start].label}->{lab}, {lab}->{network.sites[plan.end].label}) "
        "joined at the relaxed interstitial state"
    )


def path_meta(
    network: SiteNetwork, plan: PathPlan, cell: np.ndarray, efmax: float
) -> dict[str, Any]:
    """Descriptive result fields of a path (``parameters`` for the provenance)."""
    labels = [network.sites[x].label for x in (plan.start, *plan.via_sites, plan.end)]
    ordered = plan.hops
    first = ordered[0]
    params: dict[str, Any] = {
        "endpoint_fmax_eV_A": efmax,
        "moving_atom": plan.li,
        "site_initial": plan.start,
        "site_final": plan.end,
        "via_site": plan.via_sites[0],
        "hops": [h.index for h in ordered],
    }
    if len(plan.via_sites) > 1:
        params["via_sites"] = list(plan.via_sites)
    return dict(
        label="->".join(labels),
        label_initial=labels[0],
        label_final=labels[-1],
        mechanism="interstitial",
        hop_index=first.index,
        parent_class=first.parent_class,
        env_class=first.env_class,
        direction=direction_of(np.sum(plan.legs, axis=0), cell),
        hop_length_A=float(sum(np.linalg.norm(v) for v in plan.legs)),
        via=tuple(labels[1:-1]),
        hop_classes=tuple(h.parent_class for h in ordered),
        hop_env_classes=tuple(h.env_class for h in ordered),
        parameters=params,
    )
