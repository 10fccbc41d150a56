"""Superbasin acceleration of KMC: exact answers it must keep.

- percolation energies of networks whose spanning is known by construction;
- a chain of fast pairs joined by slow hops: plain KMC cannot leave the rattling regime in
  its event budget, accelerated KMC gives the exact D (series conductances);
- the same chain with a low-saddle bypass that an always-occupied site blocks (a face
  exclusion): the critical hops must count the bypass as blocked, or the raise is too weak
  for the run to leave the rattling regime;
- raising saddles keeps Boltzmann / Fermi-Dirac occupations (detailed balance);
- a network without superbasins runs with the plain rates.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from halidelab.constants import K_B_EV_K
from halidelab.errors import SimulationError
from halidelab.transport.kmc import (
    ANGSTROM2_TO_CM2,
    fermi_level,
    make_network,
    percolation_energies,
    run_kmc,
    superbasin_saddles,
)

NU = 1e13


def k_hop(barrier_eV: float, T: float) -> float:
    return NU * math.exp(-barrier_eV / (K_B_EV_K * T))


def perc(net):
    return percolation_energies(
        net.n_sites, net.edge_a, net.edge_b, net.edge_image, net.edge_saddle_eV
    )


def test_percolation_energies_of_known_networks():
    cubic = make_network(
        np.eye(3) * 3,
        [[0, 0, 0]],
        [0.0],
        [(0, 0, im, 0.3) for im in ((1, 0, 0), (0, 1, 0), (0, 0, 1))],
        1,
    )
    assert perc(cubic) == {1: 0.3, 2: 0.3, 3: 0.3}
    layers = make_network(
        np.eye(3) * 3,
        [[0, 0, 0]],
        [0.0],
        [(0, 0, (1, 0, 0), 0.2), (0, 0, (0, 1, 0), 0.25), (0, 0, (0, 0, 1), 0.5)],
        1,
    )
    assert perc(layers) == {1: 0.2, 2: 0.25, 3: 0.5}
    # a pair joined inside the cell by a very low saddle spans nothing; the chain spans 1D
    # at its slow hop, and the diagonal hop that closes a loop inside the cell adds nothing
    chain = make_network(
        np.diag([6.0, 30, 30]),
        [[0, 0, 0], [1 / 6, 0, 0]],
        [0.0, 0.0],
        [(0, 1, (0, 0, 0), 0.05), (1, 0, (1, 0, 0), 0.45), (0, 1, (0, 0, 0), 0.1)],
        1,
    )
    assert perc(chain) == {1: 0.45}
    # two disconnected pairs never span
    assert (
        perc(
            make_network(
                np.eye(3) * 9, [[0, 0, 0], [0.1, 0, 0]], [0.0, 0.0], [(0, 1, (0, 0, 0), 0.1)], 1
            )
        )
        == {}
    )


def test_fermi_level_counts_the_carriers():
    e = np.array([0.0, 0.0, 0.1, 0.3])
    for n in (0.5, 1.0, 2.5, 3.9):
        kt = K_B_EV_K * 300
        mu = fermi_level(e, n, kt)
        assert (1 / (np.exp((e - mu) / kt) + 1)).sum() == pytest.approx(n, abs=1e-9)
    with pytest.raises(SimulationError):
        fermi_level(e, 4.0, 0.03)


def rattler(fast_eV: float, slow_eV: float, L: float = 6.0):
    """Pairs 1 A apart (fast hop) whose cells join through a slow hop."""
    return make_network(
        np.diag([L, 30.0, 30.0]),
        [[0, 0, 0], [1 / L, 0, 0]],
        [0.0, 0.0],
        [(0, 1, (0, 0, 0), fast_eV), (1, 0, (1, 0, 0), slow_eV)],
        1,
        exclusion_radius_A=0.0,
    )


def test_rattling_chain_gives_the_exact_d_only_with_acceleration():
    """One carrier, half its time on each site: edge conductances k/2, in series over a
    cell, D_1D = L^2 / (2/k_fast + 2/k_slow); MSD/6t reports a third of it. The fast pair
    is crossed exp(0.4 eV / kT) ~ 5e6 times per slow hop: the plain run cannot escape it."""
    T, L = 300.0, 6.0
    net = rattler(0.05, 0.45, L)
    exact = L * L / (2 / k_hop(0.05, T) + 2 / k_hop(0.45, T)) / 3 * ANGSTROM2_TO_CM2
    kw = dict(n_runs=16, hops_per_carrier=200, supercell=(32, 1, 1), n_carriers_total=1, seed=7)
    plain = run_kmc(net, [T], superbasin_ratio=None, **kw).points[0]
    assert not plain.diffusive
    fast = run_kmc(net, [T], superbasin_ratio=100.0, **kw).points[0]
    assert fast.diffusive and fast.superbasin["n_raised"] == 1
    # the raised pair is crossed 100x as often as the slow hop: D is low by 1/(1 + 1/100)
    assert abs(fast.d_sigma_cm2_s - exact) <= 3 * fast.d_sigma_err_cm2_s + 0.02 * exact
    assert abs(fast.d_sigma_cm2_s / exact - 1) < 0.3
    assert fast.superbasin["max_raise_eV"] == pytest.approx(
        0.4 - K_B_EV_K * T * math.log(100), abs=1e-9
    )


def test_a_bypass_blocked_by_an_excluding_site_does_not_set_the_critical_hops():
    """The rattling chain (fast pair A-B, slow hop B -> A') with a bypass B -> I -> A' over
    0.2 eV saddles, where I shares a face with a deep site D that always holds a Li (no
    hops of its own): I is never available, so the mobile Li crosses the slow hop and its
    exact D is the rattler's. Counting site blocking alone, the bypass looks like the
    critical path, the fast pair is raised by 0.03 eV instead of 0.28, and the run stays in
    the pair for 64x its events; counting the exclusion, it is diffusive at once."""
    T, L, cells = 300.0, 6.0, 8
    net = make_network(
        np.diag([L, 30.0, 30.0]),
        [[0, 0, 0], [1 / L, 0, 0], [0.5, 0, 0], [0.5, 0.5, 0]],
        [0.0, 0.0, 0.1, -1.0],
        [
            (0, 1, (0, 0, 0), 0.05),
            (1, 0, (1, 0, 0), 0.45),
            (1, 2, (0, 0, 0), 0.2),
            (2, 0, (1, 0, 0), 0.2),
        ],
        1,
        site_label=["A", "B", "I", "D"],
        site_role=["interstitial", "interstitial", "interstitial", "li"],
        exclusion_radius_A=0.0,
        exclusion_pairs=[(2, 3, (0, 0, 0))],
    )
    # the Li sites (D) fill first: one Li each, plus one mobile Li
    kw = dict(n_runs=16, hops_per_carrier=800, supercell=(cells, 1, 1), seed=7)
    kw["n_carriers_total"] = cells + 1
    plain = run_kmc(net, [T], superbasin_exclusions=False, **kw).points[0]
    assert not plain.diffusive
    p = run_kmc(net, [T], **kw).points[0]
    assert p.diffusive and p.superbasin["exclusions"]
    assert p.occupancy["D"] == 1.0 and p.occupancy["I"] == 0.0
    exact = L * L / (2 / k_hop(0.05, T) + 2 / k_hop(0.45, T)) / 3 * ANGSTROM2_TO_CM2
    d_one = p.d_sigma_cm2_s * (cells + 1)  # only one Li of the cells + 1 moves
    err = p.d_sigma_err_cm2_s * (cells + 1)
    assert abs(d_one - exact) <= 3 * err + 0.02 * exact
    assert abs(d_one / exact - 1) < 0.5


def test_acceleration_keeps_equilibrium_occupations():
    """A deep site with a shallow neighbour behind a fast hop, cells joined by a slow hop;
    many carriers: n/(1-n) of the two sites keeps the Boltzmann ratio after the fast hop
    is slowed (both directions by the same factor)."""
    T, de = 350.0, 0.08
    kt = K_B_EV_K * T
    net = make_network(
        np.diag([6.0, 30.0, 30.0]),
        [[0, 0, 0], [0.25, 0, 0]],
        [0.0, de],
        [(0, 1, (0, 0, 0), de + 0.02), (1, 0, (1, 0, 0), 0.45)],
        1,
        site_label=["deep", "shallow"],
        exclusion_radius_A=0.0,
    )
    _, info = superbasin_saddles(net, T, 100.0, n_carriers=0.75)
    assert info["n_raised"] == 1
    p = run_kmc(
        net,
        [T],
        n_runs=8,
        hops_per_carrier=400,
        supercell=(32, 1, 1),
        n_carriers_total=24,
        seed=8,
        superbasin_ratio=100.0,
    ).points[0]
    n0, n1 = p.occupancy["deep"], p.occupancy["shallow"]
    assert (n0 + n1) / 2 == pytest.approx(24 / 64, abs=1e-9)
    assert (n1 / (1 - n1)) / (n0 / (1 - n0)) == pytest.approx(math.exp(-de / kt), rel=0.15)


def test_a_network_without_superbasins_keeps_its_rates():
    net = make_network(
        np.eye(3) * 3,
        [[0, 0, 0]],
        [0.0],
        [(0, 0, im, 0.3) for im in ((1, 0, 0), (0, 1, 0), (0, 0, 1))],
        1,
    )
    kw = dict(n_runs=4, hops_per_carrier=100, supercell=(4, 4, 4), n_carriers_total=8, seed=9)
    a = run_kmc(net, [350.0], superbasin_ratio=100.0, **kw).points[0]
    b = run_kmc(net, [350.0], superbasin_ratio=None, **kw).points[0]
    assert a.superbasin["n_raised"] == 0 and b.superbasin is None
    assert a.d_sigma_runs == b.d_sigma_runs  # same seeds, same rates: the same trajectories
    with pytest.raises(SimulationError):
        superbasin_saddles(net, 300.0, ratio=1.0)
