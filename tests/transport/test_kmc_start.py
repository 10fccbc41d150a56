"""Where a KMC run starts: an equilibrium placement, not one the run has to relax from.

- the Metropolis placement samples the Boltzmann distribution over exactly the placements
  the exclusions allow (exact enumeration of a ring);
- traps that the Li reach only over a high saddle: from the equilibrium placement they hold
  the exact canonical occupation from the first event, and sigma is the one a long-relaxed
  random start gives; a random start with the old 20 events per Li of relaxation leaves
  them half empty and sigma 0.3 decades high (the tests tell the two apart).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from halidelab.constants import K_B_EV_K
from halidelab.errors import SimulationError
from halidelab.transport.kmc import make_network, run_kmc
from halidelab.transport.kmc.lattice import _build, _metropolis


def test_the_metropolis_start_samples_the_boltzmann_weights_of_the_allowed_placements():
    """Ring of 6 Li sites (E = 0) and 6 interstitials (E = de) in turn, each interstitial
    sharing a face with both neighbours (never occupied together); 4 Li. Independent
    chains from one placement end in the exact distribution of the number of Li on
    interstitials, and never in a placement the exclusions forbid."""
    T, de, L, n = 400.0, 0.03, 6, 4
    kt = K_B_EV_K * T
    net = make_network(
        np.diag([5.0, 30.0, 30.0]),
        [[0.0, 0.0, 0.0], [0.5, 0.0, 0.0]],
        [0.0, de],
        [(0, 1, (0, 0, 0), 0.3), (1, 0, (1, 0, 0), 0.3)],
        1,
        site_label=["A", "I"],
        site_role=["li", "interstitial"],
        exclusion_pairs=[(0, 1, (0, 0, 0)), (1, 0, (1, 0, 0))],
    )
    lat = _build(net, (L, 1, 1))
    li_sites = [i for i, lbl in enumerate(lat.label) if lbl == "A"]
    assert len(li_sites) == L

    exact = np.zeros(n + 1)
    for occ in itertools.product((0, 1), repeat=2 * L):  # A0 I0 A1 I1 ... along the ring
        if sum(occ) != n or any(
            occ[2 * k + 1] and (occ[2 * k] or occ[(2 * k + 2) % (2 * L)]) for k in range(L)
        ):
            continue
        n_i = sum(occ[1::2])
        exact[n_i] += math.exp(-de * n_i / kt)
    exact /= exact.sum()

    metropolis = _metropolis()
    start = np.zeros(lat.n_sites, dtype=np.int8)
    start[li_sites[:n]] = 1  # all on Li sites, none on an interstitial
    inter = np.array([lbl == "I" for lbl in lat.label])
    counts = np.zeros(n + 1)
    n_chains = 4000
    for k in range(n_chains):
        occ = metropolis(start.copy(), lat.energy, lat.ex_ptr, lat.ex_idx, kt, 200 * n, k + 1)
        assert occ.sum() == n
        for s in np.nonzero(occ)[0]:  # no two Li that exclude each other
            assert not occ[lat.ex_idx[lat.ex_ptr[s] : lat.ex_ptr[s + 1]]].any()
        counts[int(occ[inter].sum())] += 1
    got = counts / n_chains
    err = np.sqrt(exact * (1 - exact) / n_chains)
    assert np.all(np.abs(got - exact) <= 4 * err + 1e-3), (got, exact)
    assert exact[0] < 0.9 and exact[1] > 0.05  # the interstitials are visited, not a limit


def trapped(de_trap: float = 0.1):
    """Simple cubic lattice of open sites (E = 0, hops over 0.2 eV) with one trap per cell
    (E = -de_trap) reached only over 0.35 eV; one Li per cell."""
    return make_network(
        np.eye(3) * 3.0,
        [[0, 0, 0], [0.5, 0.0, 0.0]],
        [0.0, -de_trap],
        [
            (0, 0, (1, 0, 0), 0.2),
            (0, 0, (0, 1, 0), 0.2),
            (0, 0, (0, 0, 1), 0.2),
            (0, 1, (0, 0, 0), 0.35),
        ],
        1,
        site_label=["open", "trap"],
        exclusion_radius_A=0.0,
    )


def test_an_equilibrium_start_fills_the_traps_that_a_random_start_leaves_empty():
    """64 Li on 64 open sites and 64 traps (4x4x4 cells), 300 K. Site blocking only, so
    the canonical trap occupation is exact: P(k in traps) ~ C(64, k)^2 exp(k de / kT).
    A trap fills about once per 300 open-site hops: the old start (random placement, 20
    events per Li) measures while half the traps are still empty and the free Li too
    many; the equilibrium start holds the exact occupation, and its sigma is the one a
    random start gives after 20,000 events per Li."""
    T, de, n = 300.0, 0.1, 64
    kt = K_B_EV_K * T
    w = np.array([math.comb(n, k) ** 2 * math.exp(de * k / kt) for k in range(n + 1)])
    exact = float((np.arange(n + 1) * w).sum() / w.sum() / n)
    kw = {"hops_per_carrier": 200, "supercell": (4, 4, 4)}

    eq = run_kmc(trapped(de), [T], n_runs=16, seed=1, **kw).points[0]
    assert eq.occupancy["trap"] == pytest.approx(exact, abs=0.01)
    old = run_kmc(trapped(de), [T], n_runs=8, seed=1, start="random", **kw).points[0]
    assert exact - old.occupancy["trap"] > 0.2
    relaxed = run_kmc(
        trapped(de), [T], n_runs=8, seed=2, start="random", equilibration_per_carrier=20000, **kw
    ).points[0]
    assert relaxed.occupancy["trap"] == pytest.approx(exact, abs=0.03)

    def gap(a, b) -> float:  # difference in standard errors
        return abs(a.sigma_S_cm - b.sigma_S_cm) / math.hypot(a.sigma_err_S_cm, b.sigma_err_S_cm)

    assert gap(eq, relaxed) < 3
    assert old.sigma_S_cm > relaxed.sigma_S_cm and gap(old, relaxed) > 3


def test_an_unknown_start_is_refused():
    with pytest.raises(SimulationError, match="start"):
        run_kmc(trapped(), [300.0], start="fermi")
