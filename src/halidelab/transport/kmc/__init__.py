"""Kinetic Monte Carlo on Li hop networks: D, Haven ratio, sigma(T) and Ea at 25-100 C.

MD on these machines reaches 600-900 K for picoseconds; a battery group wants sigma at
25 C and Ea over 25-100 C. The NEB study of a relaxed cell already holds what
room-temperature transport is made of: Li sites and interstitials, their energies and
the saddle energies of the hops between them on a periodic network. KMC on that network
gives D and sigma at any temperature without extrapolating.

The network (:class:`RateNetwork`)
    Sites (Li sites and interstitials) with energies E_i and undirected hops with a
    saddle energy S_ij. Rates are harmonic transition-state theory with one attempt
    frequency nu (stated; default 1e13 Hz): k_ij = nu exp(-(S_ij - E_i)/k_B T).
    Detailed balance, k_ij/k_ji = exp(-(E_j - E_i)/k_B T), holds by construction
    because the forward and backward rates share the saddle energy.
    From an NEB study (:func:`network_from_neb_study`): site energies per framework orbit
    (Li1, Li2, i1 ...) by least squares over the energy differences of the NEB runs (the
    residual is reported: it measures how far the runs are from one consistent energy
    landscape); saddles per hop class, S = (E_a + E_b + barrier_fwd + barrier_bwd)/2,
    split by dopant environment where the study resolved it. From a BVSE map
    (:func:`network_from_bvse`, a cheap stated approximation): BVSE energies at the
    sites' basin minima and the top of the minimum-energy path between two basins (or, as
    before 2026-12, at the hole centres and on the straight hop line).
Many-particle KMC (:func:`run_kmc`)
    Rejection-free (Bortz-Kalos-Lebowitz / Gillespie) on a periodic supercell of the
    network, the number of carriers fixed by the composition (the Li of the cell),
    site blocking and a hard-core exclusion radius (no two Li closer than
    ``exclusion_radius_A``, :data:`EXCLUSION_RADIUS_A`); an interstitial between two Li
    sites is never occupied with either of them (:func:`face_exclusions`: its energy was
    measured with both empty). Li-Li interactions beyond that are not modelled (stated in
    results).
Superbasins (:func:`superbasin_saddles`, on by default)
    A cation-disordered (ball-milled) cell holds pairs of sites joined by barriers of
    0-0.1 eV next to a critical path at 0.4-0.5 eV: plain KMC spends ~1e6 events rattling
    per useful hop and stayed sub-diffusive after 12,800 hops per Li on 13 of the 15
    ball-milled Chen networks (9 of 15 give a number with it). The saddles of hops crossed more than
    :data:`SUPERBASIN_RATIO` times as often as the critical hops are raised (both
    directions alike: site energies, occupations and detailed balance unchanged), as
    in accelerated superbasin KMC; the error is bounded by the ratio and measured in
    ``benchmarks/bench_kmc_superbasin.py``. Each point records what was raised.
Observables
    Tracer D* from the time-origin averaged MSD of the carriers, collective (jump)
    D_sigma from the MSD of their summed displacement divided by N, Haven ratio
    H_R = D*/D_sigma, and sigma = n e^2 D_sigma / (k_B T) (Nernst-Einstein with the
    collective D, so correlations are in). Each from ``n_runs`` independent runs (own
    seeds), each starting from an equilibrium placement of the Li drawn by Metropolis
    Monte Carlo with non-local moves (a random placement makes the Li look for the deep
    sites of a disordered cell for thousands of events, and sigma reads up to half a
    decade high; ``benchmarks/bench_kmc_equilibration.py``); the uncertainty is the
    run-to-run standard error.
    Ea from :func:`halidelab.arrhenius.fit_arrhenius` over the requested temperatures.

Why our own KMC and not kmcpy (Canepa group, on PyPI as ``kmcpy`` 0.3.0): kmcpy is
built around a local cluster expansion of barriers fitted to many NEB calculations, and
its own input files (events.json, lce.json); its event loop runs in Python per event
(an ``index`` lookup over all events, a model call per dependent event and a full
cumulative sum per step). What we have is a per-class barrier network, for which a
numba kernel of ~100 lines does one event in microseconds; the physics tests below
(random walk, single-file diffusion, Boltzmann occupations, detailed balance,
supercell convergence) are what the choice is held to. ``benchmarks/bench_kmc.py``
measures events per second.
"""

from halidelab.transport.kmc.lattice import MIN_SUPERCELL_LENGTH_A, supercell_size
from halidelab.transport.kmc.network import (
    ATTEMPT_FREQUENCY_HZ,
    EXCLUSION_RADIUS_A,
    RateNetwork,
    face_exclusions,
    make_network,
    network_from_bvse,
    network_from_neb_study,
)
from halidelab.transport.kmc.run import (
    ANGSTROM2_TO_CM2,
    MAX_EXTENSION,
    MILLED_HOPS_PER_CARRIER,
    MIN_LOGLOG_SLOPE,
    MIN_MSD_HOPS,
    KMCPoint,
    KMCResult,
    run_kmc,
)
from halidelab.transport.kmc.superbasin import (
    SUPERBASIN_RATIO,
    fermi_level,
    percolation_energies,
    superbasin_saddles,
)

__all__ = [
    "ANGSTROM2_TO_CM2",
    "ATTEMPT_FREQUENCY_HZ",
    "EXCLUSION_RADIUS_A",
    "MAX_EXTENSION",
    "MILLED_HOPS_PER_CARRIER",
    "MIN_LOGLOG_SLOPE",
    "MIN_MSD_HOPS",
    "MIN_SUPERCELL_LENGTH_A",
    "SUPERBASIN_RATIO",
    "KMCPoint",
    "KMCResult",
    "RateNetwork",
    "face_exclusions",
    "fermi_level",
    "make_network",
    "network_from_bvse",
    "network_from_neb_study",
    "percolation_energies",
    "run_kmc",
    "superbasin_saddles",
    "supercell_size",
]
