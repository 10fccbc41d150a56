"""Superbasins of disordered networks: percolation energies, Fermi level, slowed fast hops."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from halidelab.constants import K_B_EV_K
from halidelab.errors import SimulationError
from halidelab.transport.kmc.network import RateNetwork

#: Superbasin acceleration: hops crossed more than this many times as often as the
#: critical hops of the network are slowed to that ratio (:func:`superbasin_saddles`).
SUPERBASIN_RATIO = 100.0


def percolation_energies(
    n_sites: int,
    edge_a: Sequence[int],
    edge_b: Sequence[int],
    edge_image: Sequence[Sequence[int]],
    edge_energy: Sequence[float],
) -> dict[int, float]:
    """Lowest edge energy at which the edges up to it span the periodic network in 1, 2, 3 D.

    Edges are added in order of energy to a union-find whose members carry their lattice
    offset from the root; a cycle whose offsets differ by a lattice vector wraps the
    cell, and the rank of a cluster's wrap vectors is the dimension it spans.

    Parameters
    ----------
    n_sites : int
    edge_a, edge_b : sequences of int
        Ends of each undirected edge; ``edge_b`` lies at its site + ``edge_image``.
    edge_image : sequence of (3,) ints
    edge_energy : sequence of float
        Any per-edge energy (saddle, or the effective energy of :func:`superbasin_saddles`), eV.

    Returns
    -------
    dict
        ``{dimension: energy}`` for each dimension the network spans (empty if none).
    """
    parent = list(range(n_sites))
    offset = np.zeros((n_sites, 3), dtype=np.int64)  # position of a node relative to its parent
    wraps: dict[int, np.ndarray] = {}  # root -> basis of its wrap vectors (rows)

    def find(i: int) -> tuple[int, np.ndarray]:
        path = []
        while parent[i] != i:
            path.append(i)
            i = parent[i]
        root, acc = i, np.zeros(3, dtype=np.int64)
        for node in reversed(path):  # compress: offsets relative to the root
            acc = acc + offset[node]
            offset[node] = acc
            parent[node] = root
        return root, acc.copy()

    def rank(vectors: np.ndarray) -> int:
        return int(np.linalg.matrix_rank(vectors.astype(float))) if len(vectors) else 0

    found: dict[int, float] = {}
    for k in np.argsort(np.asarray(edge_energy, dtype=float), kind="stable"):
        a, b = int(edge_a[k]), int(edge_b[k])
        img = np.asarray(edge_image[k], dtype=np.int64)
        ra, oa = find(a)
        rb, ob = find(b)
        if ra != rb:
            parent[rb] = ra
            offset[rb] = oa + img - ob
            merged = [v for v in (wraps.pop(ra, None), wraps.pop(rb, None)) if v is not None]
            if merged:
                wraps[ra] = np.vstack(merged)
        else:
            w = oa + img - ob
            if w.any():
                wraps[ra] = np.vstack([wraps[ra], w]) if ra in wraps else w[None]
        if ra in wraps:
            basis = wraps[ra]
            r = rank(basis)
            if len(basis) > r:  # keep an independent basis (at most 3 rows)
                keep: list[np.ndarray] = []
                for v in basis:
                    if rank(np.array([*keep, v])) > len(keep):
                        keep.append(v)
                wraps[ra] = np.array(keep)
            for d in range(1, r + 1):
                found.setdefault(d, float(edge_energy[k]))
            if r == 3:
                break
    return found


def fermi_level(site_energy_eV: Sequence[float], n_carriers: float, kt_eV: float) -> float:
    """Chemical potential mu (eV) at which sum_i 1/(exp((E_i - mu)/kT) + 1) = n_carriers."""
    from scipy.optimize import brentq

    e = np.asarray(site_energy_eV, dtype=float)
    if not 0 < n_carriers < len(e):
        raise SimulationError(
            f"{n_carriers} carriers on {len(e)} sites have no finite chemical potential"
        )

    def excess(mu: float) -> float:
        return float((0.5 * (1.0 - np.tanh((e - mu) / (2.0 * kt_eV)))).sum() - n_carriers)

    lo, hi = float(e.min()) - 60.0 * kt_eV, float(e.max()) + 60.0 * kt_eV
    return float(brentq(excess, lo, hi, xtol=1e-12 * max(1.0, kt_eV)))


def exclusion_partners(network: RateNetwork) -> list[set[int]]:
    """Per site, the sites of the cell that may not be occupied together with it.

    Those within the network's exclusion radius (any periodic image) and the face-sharing
    pairs of :attr:`RateNetwork.exclusion_pairs`, as the KMC lattice applies them
    (:mod:`halidelab.transport.kmc.lattice`); a site's own images are left out.
    """
    from halidelab.transport.kmc.lattice import _exclusion_pairs

    partners: list[set[int]] = [set() for _ in range(network.n_sites)]
    frac = np.asarray(network.site_frac, dtype=float)
    cell = np.asarray(network.lattice, dtype=float)
    for i, j, _img in _exclusion_pairs(frac, cell, network.exclusion_radius_A):
        if i != j:
            partners[i].add(j)
    for a, b, _img in network.exclusion_pairs:
        if a != b:
            partners[a].add(b)
            partners[b].add(a)
    return partners


def superbasin_saddles(
    network: RateNetwork,
    temperature_K: float,
    ratio: float = SUPERBASIN_RATIO,
    n_carriers: float | None = None,
    exclusions: bool = True,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Saddle energies with the superbasin hops slowed to a bounded speed (detailed balance kept).

    In a cation-disordered (ball-milled) cell a few Li hop back and forth over very low
    barriers (a shallow site beside a deep one) millions of times for each hop across the
    cell's bottleneck, and plain KMC spends all its events there ("superbasin"). Raising
    the saddle of such a hop by delta slows both directions by the same factor, so site
    energies, equilibrium occupations and detailed balance are untouched; only how often
    the pair is crossed changes. The Chatterjee-Voter accelerated superbasin KMC
    (J. Chem. Phys. 132, 194101 (2010)) and its generalisation by Dybeck, Plaisance and
    Neurock (J. Chem. Theory Comput. 13, 1525 (2017)) scale rates this way on the fly;
    here the scale is set once per temperature from the network itself:

    * Each hop's equilibrium flux (crossings per unit time) in the non-interacting lattice
      gas with site blocking is g_ij = nu exp(-(S_ij - mu)/kT) (1 - f_i)(1 - f_j), with f
      the Fermi-Dirac occupations at the composition's Li count and mu its chemical
      potential (the Miller-Abrahams / Ambegaokar-Halperin-Langer picture of hopping
      conduction); its effective energy is -kT ln(g_ij / nu). With ``exclusions`` (the
      default) a hop also needs the sites that exclude its ends (within the exclusion
      radius, or sharing a face: :func:`exclusion_partners`) empty, and g_ij carries
      their product of (1 - f_k) as well. Without it, a hop beside a deep, always-occupied
      Li site counts as fast although it is blocked, the critical energy below comes out
      too low and the raise too weak. In the 20 ball-milled Li3YCl6 and Li3ErCl6
      reference models (11.5 A cells, CHGNet, BVSE networks) the exclusions raise the
      critical energy by 0.00-0.16 eV; 6 of the 7 whose critical energy rises by 0.09 eV
      or more (a raise 30-500x too weak) stayed non-diffusive at 25 C after 12,000-47,000
      events per Li without them, against 3 of the other 13. With them, 18 of the 20 are
      diffusive at 25 C (800 events per Li, extended up to 64x), and where both rules gave
      a diffusive run the two agree: log10 sigma differs by -0.01 +- 0.07 on average at
      25 C (10 orderings) and -0.02 +- 0.03 at 75 C (15).
    * The critical energy is the lowest at which hops up to it span the cell
      (:func:`percolation_energies`, 1D: the first connected path). Long-range transport
      has to cross at least one hop at or above it.
    * A hop whose effective energy lies more than kT ln(ratio) below it is raised to that
      floor: it is still crossed at least ``ratio`` times as often as any critical hop, so
      the quasi-equilibrium inside the basin that its escape rate relies on stays. By
      Rayleigh monotonicity (one carrier: the network is a resistor network with edge
      conductances g_ij) D can only fall, and by at most about (raised hops in series
      per critical hop) / ratio.

    The error is controlled by ``ratio`` and measured, not assumed:
    ``benchmarks/bench_kmc_superbasin.py`` runs the ball-milled networks of the Chen
    series at ratios 30, 100 and 1000; the tests compare it with the exact D of a
    rattling chain and check Boltzmann/Fermi occupations under acceleration.

    Parameters
    ----------
    network : RateNetwork
    temperature_K : float
    ratio : float
        Smallest flux ratio kept between a raised hop and the critical hops (> 1).
    n_carriers : float, optional
        Li per cell for the occupations (default the network's own).
    exclusions : bool
        Include the exclusion partners' occupations in the effective energies (default);
        False is the flux of site blocking alone (kmc task revision 2 and before).

    Returns
    -------
    saddles : ndarray
        One per network edge, eV (>= the original).
    info : dict
        ``ratio``, ``exclusions``, ``critical_eV`` (effective energy, relative to mu),
        ``mu_eV``, ``n_raised``, ``max_raise_eV``, or ``reason`` when nothing could be
        raised.
    """
    if not ratio > 1.0:
        raise SimulationError(f"the superbasin ratio must be > 1, got {ratio}")
    s = np.asarray(network.edge_saddle_eV, dtype=float)
    info: dict[str, Any] = {
        "ratio": float(ratio),
        "exclusions": bool(exclusions),
        "n_raised": 0,
        "max_raise_eV": 0.0,
    }
    if not len(s):
        return s, {**info, "reason": "no hops"}
    n_c = float(network.n_carriers if n_carriers is None else n_carriers)
    if n_c >= network.n_sites:
        return s, {**info, "reason": "every site is full"}
    kt = K_B_EV_K * float(temperature_K)
    e = np.asarray(network.site_energy_eV, dtype=float)
    mu = fermi_level(e, n_c, kt)
    a = np.asarray(network.edge_a, dtype=int)
    b = np.asarray(network.edge_b, dtype=int)
    log_empty = -np.logaddexp(0.0, (mu - e) / kt)  # ln(1 - f_i)
    eff = s - mu - kt * (log_empty[a] + log_empty[b])
    if exclusions:
        partners = exclusion_partners(network)
        eff = eff - kt * np.array(
            [
                sum(log_empty[k] for k in (partners[i] | partners[j]) - {i, j})
                for i, j in zip(a.tolist(), b.tolist(), strict=True)
            ],
            dtype=float,
        )
    crit = percolation_energies(network.n_sites, a, b, network.edge_image, eff)
    if 1 not in crit:
        return s, {**info, "mu_eV": mu, "reason": "the hops do not span the cell"}
    floor = crit[1] - kt * math.log(ratio)
    raise_by = np.maximum(0.0, floor - eff)
    return s + raise_by, {
        **info,
        "mu_eV": mu,
        "critical_eV": float(crit[1]),
        "n_raised": int((raise_by > 0).sum()),
        "max_raise_eV": float(raise_by.max()),
    }
