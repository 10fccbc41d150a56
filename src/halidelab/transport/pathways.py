"""Chains of hops and percolation of the periodic hop graph.

- :func:`periodic_dimension`: dimensionality (0-3) of a periodic graph whose edges carry
  image vectors. Each connected component is walked once, giving every node a position
  in the infinite lift; every edge that closes a cycle adds the lattice vector
  ``offset[u] + image - offset[v]``; the rank of those vectors is the number of
  independent directions in which the component is infinite (the rank of its cycle
  lattice).
- :func:`percolation_thresholds`: the smallest barrier threshold at which the graph of
  hops with barrier <= threshold percolates in 1, 2 and 3 dimensions (the effective
  barrier for 1D/2D/3D long-range transport).
- :func:`chain_barrier`: energy landscape along a named chain of hops (e.g. the c-axis
  [Li1-Li2-Li1] chain or the in-plane [Li2-i3-Li2] chain through an interstitial) from
  the per-hop NEB results: site energies follow from the hop energy differences, saddle
  energies from the forward barriers, and the chain barrier is the highest saddle above
  the lowest site.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from halidelab.errors import SimulationError
from halidelab.records import Provenance, Record

Edge = tuple[int, int, tuple[int, int, int]]


def periodic_dimension(edges: Sequence[Edge], nodes: Sequence[int] | None = None) -> int:
    """Largest periodic dimensionality of any connected component.

    Parameters
    ----------
    edges : sequence of (u, v, image)
        ``v`` sits at ``image`` (cell vectors) relative to ``u``. A self-loop with a
        nonzero image (a site joined to its own periodic image) is a 1D chain.
    nodes : sequence of int, optional
        Extra isolated nodes (dimension 0).

    Returns
    -------
    int
        0 (finite clusters only), 1, 2 or 3.
    """
    adj: dict[int, list[tuple[int, np.ndarray]]] = {}
    for u, v, img in edges:
        im = np.asarray(img, dtype=int)
        adj.setdefault(u, []).append((v, im))
        adj.setdefault(v, []).append((u, -im))
    for n in nodes or ():
        adj.setdefault(n, [])
    offset: dict[int, np.ndarray] = {}
    best = 0
    for root in adj:
        if root in offset:
            continue
        offset[root] = np.zeros(3, dtype=int)
        stack = [root]
        cycles: list[np.ndarray] = []
        while stack:
            u = stack.pop()
            for v, im in adj[u]:
                pos = offset[u] + im
                if v not in offset:
                    offset[v] = pos
                    stack.append(v)
                else:
                    c = pos - offset[v]
                    if c.any():
                        cycles.append(c)
        if cycles:
            best = max(best, int(np.linalg.matrix_rank(np.array(cycles, dtype=float))))
        if best == 3:
            break
    return best


@dataclasses.dataclass(frozen=True)
class Percolation(Record):
    """Effective barriers for 1D, 2D and 3D percolation of the hop graph.

    Attributes
    ----------
    ea_1d_eV, ea_2d_eV, ea_3d_eV : float or None
        Smallest hop barrier threshold at which hops with barrier <= threshold connect
        an infinite network in at least 1, 2, 3 dimensions (None: never, with the hops
        given).
    n_hops_used : int
        Hops with a barrier (hops without one are left out of the graph).
    n_hops_missing : int
    """

    ea_1d_eV: float | None
    ea_2d_eV: float | None
    ea_3d_eV: float | None
    n_hops_used: int
    n_hops_missing: int
    provenance: Provenance


def percolation_thresholds(
    weighted_edges: Sequence[tuple[int, int, tuple[int, int, int], float]],
) -> dict[int, float | None]:
    """Smallest edge-weight threshold giving 1D, 2D and 3D percolation.

    Parameters
    ----------
    weighted_edges : sequence of (u, v, image, barrier_eV)

    Returns
    -------
    dict
        ``{1: eV or None, 2: ..., 3: ...}``.
    """
    out: dict[int, float | None] = {1: None, 2: None, 3: None}
    ws = sorted({float(w) for *_, w in weighted_edges if np.isfinite(w)})
    for w in ws:
        dim = periodic_dimension([(u, v, img) for u, v, img, x in weighted_edges if x <= w])
        for d in (1, 2, 3):
            if dim >= d and out[d] is None:
                out[d] = w
        if dim == 3:
            break
    return out


def percolation(network: Any, hop_barriers: Mapping[int, float]) -> Percolation:
    """Percolation barriers of a :class:`~halidelab.transport.sites.SiteNetwork`.

    Parameters
    ----------
    network : SiteNetwork
    hop_barriers : mapping hop index -> barrier, eV
        Usually ``max(forward, backward)`` of the hop's NEB (the barrier seen from its
        lower end); see :func:`hop_barriers_from_results`.
    """
    edges = [
        (h.site_a, h.site_b, h.image, float(hop_barriers[h.index]))
        for h in network.hops
        if h.index in hop_barriers and hop_barriers[h.index] is not None
    ]
    th = percolation_thresholds(edges)
    return Percolation(
        th[1],
        th[2],
        th[3],
        len(edges),
        len(network.hops) - len(edges),
        Provenance(
            method="hop-percolation", parameters={"edge_weight": "max(forward, backward) barrier"}
        ),
    )


def hop_barriers_from_results(
    network: Any, results: Sequence[Any], level: str = "parent", converged_only: bool = False
) -> dict[int, float]:
    """Give every hop of the network the barrier of the NEB run on its class.

    Parameters
    ----------
    network : SiteNetwork
    results : sequence of NEBResult
        Each with ``parent_class``/``env_class`` and forward/backward barriers.
    level : {"parent", "environment"}
    converged_only : bool
        Leave out hops whose NEB did not converge or whose endpoints were not right.
    """
    key = "parent_class" if level == "parent" else "env_class"
    many = "hop_classes" if level == "parent" else "hop_env_classes"
    by_class: dict[int, float] = {}
    for r in results:
        if converged_only and not (r.converged and getattr(r, "endpoints_ok", True)):
            continue
        b = max(r.barrier_forward_eV, r.barrier_backward_eV)
        # a path through an interstitial gives its barrier to every hop it traverses
        for c in getattr(r, many, ()) or (getattr(r, key),):
            by_class[c] = min(by_class.get(c, np.inf), b)
    return {h.index: by_class[getattr(h, key)] for h in network.hops if getattr(h, key) in by_class}


def path_profile(
    via: Sequence[str], energies_eV: Sequence[float], parameters: Mapping[str, Any]
) -> tuple[list[tuple[int, float]], list[float]]:
    """Minima and leg saddles of a path result through interstitials.

    A path Li -> i1 -> ... -> ik -> Li is run as bands split at the interstitials that are
    local minima (:func:`halidelab.transport.neb.join_bands`). Each leg (hop) of the path
    lies in one band; its saddle is that band's highest energy.

    Parameters
    ----------
    via : sequence of str
        The interstitial labels of the path (``NEBResult.via``).
    energies_eV : sequence of float
        The joined profile, relative to the initial state, eV.
    parameters : mapping
        The result's ``provenance.parameters`` (``bands``, ``band_images``, and for paths
        through several interstitials ``joint_images`` and ``joint_vias``).

    Returns
    -------
    (minima, leg_saddles)
        (index into ``via``, energy eV) of each interstitial that is a minimum, and the
        saddle energy of each of the ``len(via) + 1`` legs, eV (relative to the initial
        state).
    """
    e = np.asarray(energies_eV, dtype=float)
    if int(parameters.get("bands", 1) or 1) >= 2:
        joints = [int(j) for j in parameters.get("joint_images") or ()]
        if not joints:  # a two-band path through one interstitial (before joint_images)
            joints = [int(parameters["band_images"][0]) + 1]
        vias = [int(v) for v in parameters.get("joint_vias") or [0]]
    else:
        joints, vias = [], []
    if len(joints) != len(vias):
        raise SimulationError("a path result's joint_images and joint_vias do not match")
    bounds = [0, *joints, len(e) - 1]
    band_max = [float(e[bounds[b] : bounds[b + 1] + 1].max()) for b in range(len(bounds) - 1)]
    legs = [band_max[sum(1 for v in vias if v < leg)] for leg in range(len(via) + 1)]
    return [(v, float(e[j])) for v, j in zip(vias, joints, strict=True)], legs


@dataclasses.dataclass(frozen=True)
class ChainBarrier(Record):
    """Energy landscape along a chain of hops.

    Attributes
    ----------
    name : str
        e.g. ``[Li1-Li2-Li1]``.
    direction : str
        ``c``, ``ab`` or ``any``.
    site_labels : tuple of str
    site_energies_eV : tuple of float
        Energy of the Li at each site of the chain, relative to the first, eV.
    saddle_energies_eV : tuple of float
        Highest image of each hop, same reference, eV.
    barrier_eV : float
        Highest saddle above the lowest site, eV.
    converged : bool
        Every hop's NEB converged.
    hop_classes : tuple of int
    provenance : Provenance
    """

    name: str
    direction: str
    site_labels: tuple[str, ...]
    site_energies_eV: tuple[float, ...]
    saddle_energies_eV: tuple[float, ...]
    barrier_eV: float
    converged: bool
    hop_classes: tuple[int, ...]
    provenance: Provenance


def chain_barrier(
    labels: Sequence[str], results: Sequence[Any], direction: str = "any", name: str | None = None
) -> ChainBarrier:
    """Barrier along a chain of site labels, from per-hop NEB results.

    Parameters
    ----------
    labels : sequence of str
        Site labels along the chain, e.g. ``["Li1", "Li2", "Li1"]``.
    results : sequence of NEBResult
        Hop results with ``label_initial``, ``label_final``, ``direction``,
        ``barrier_forward_eV``, ``barrier_backward_eV`` and ``delta_e_eV``.
    direction : {"c", "ab", "any"}
        Only use hops along this direction (``ab`` accepts ``oblique`` too).
    name : str, optional

    Raises
    ------
    SimulationError
        A step of the chain has no hop result.
    """
    if len(labels) < 2:
        raise SimulationError("a chain needs at least two site labels")
    site_e = [0.0]
    saddles: list[float] = []
    classes: list[int] = []
    conv = True
    for a, b in zip(labels[:-1], labels[1:], strict=True):
        best = None
        for r in results:
            if direction == "c" and r.direction != "c":
                continue
            if direction == "ab" and r.direction == "c":
                continue
            if (r.label_initial, r.label_final) == (a, b):
                up, de = r.barrier_forward_eV, r.delta_e_eV
            elif (r.label_initial, r.label_final) == (b, a):
                up, de = r.barrier_backward_eV, -r.delta_e_eV
            else:
                continue
            if best is None or up < best[0]:
                best = (up, de, r)
        if best is None:
            raise SimulationError(
                f"no NEB result for a {a}-{b} hop (direction {direction}): run it first"
            )
        up, de, r = best
        saddles.append(site_e[-1] + up)
        site_e.append(site_e[-1] + de)
        classes.append(r.parent_class)
        conv = conv and bool(r.converged) and bool(getattr(r, "endpoints_ok", True))
    barrier = max(saddles) - min(site_e)
    return ChainBarrier(
        name or "[" + "-".join(labels) + "]",
        direction,
        tuple(labels),
        tuple(site_e),
        tuple(saddles),
        float(barrier),
        conv,
        tuple(classes),
        Provenance(method="neb-chain"),
    )


def named_chains(network: Any) -> list[tuple[str, tuple[str, ...], str]]:
    """Chains worth reporting for a network: ``(name, labels, direction)``.

    - along c: ``[La-Lb-La]`` for each octahedron-octahedron face-sharing hop class along
      c (in P-3m1 Li2ZrCl6: ``[Li1-Li2-Li1]``);
    - in the a-b plane: ``[La-ik-Lb]`` for each interstitial ``ik`` and each pair of Li
      labels it joins (e.g. ``[Li2-i3-Li2]``).
    """
    sites = network.sites
    out: list[tuple[str, tuple[str, ...], str]] = []
    seen = set()
    for h in network.hops:
        a, b = sites[h.site_a], sites[h.site_b]
        if h.kind == "oct-oct" and h.direction == "c" and a.role == b.role == "li":
            la, lb = sorted([a.label, b.label])
            labs = (la, lb, la)
            if labs not in seen:
                seen.add(labs)
                out.append(("[" + "-".join(labs) + "] along c", labs, "c"))
    li_of: dict[str, set[str]] = {}
    for h in network.hops:
        a, b = sites[h.site_a], sites[h.site_b]
        if {a.role, b.role} == {"li", "interstitial"}:
            i, li = (a, b) if a.role == "interstitial" else (b, a)
            li_of.setdefault(i.label, set()).add(li.label)
    for i in sorted(li_of, key=lambda x: (len(x), x)):
        lis = sorted(li_of[i])
        for x in range(len(lis)):
            for y in range(x, len(lis)):
                labs = (lis[x], i, lis[y])
                out.append(("[" + "-".join(labs) + "] in-plane", labs, "ab"))
    return out
