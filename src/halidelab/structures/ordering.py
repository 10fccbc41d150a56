"""Supercell choice and Ewald-ranked ordering of partially occupied sites.

Why our own search instead of pymatgen's ``OrderDisorderedStructureTransformation``:
its ``EwaldMinimizer`` does a complete branch-and-bound search, which is exact but
exponential; for Li1.8Zr0.8Nb0.2Cl6 in a 15-formula-unit cell (27 Li on 60 Li positions,
3 Nb among 15 M) the space holds C(60,27) C(15,3) ~ 4e19 orderings. We use the same energy model
(point-charge Ewald energy with formal charges, pymatgen's ``EwaldSummation`` matrix)
and find low-energy orderings by seeded simulated annealing over swaps, which scales as
O(N) per move. ``tests/test_structures.py`` checks that our configuration energy equals
pymatgen's Ewald energy of the written structure, and ``benchmarks/bench_ordering.py``
compares both on a cell small enough for the exact minimiser.

Determinism: the same inputs give the same orderings in any process. The annealing
decisions (accept a swap, keep a candidate, rank ties) are taken on an integer copy of
the Ewald matrix (units of :data:`ENERGY_QUANTUM_EV`), so no BLAS summation order can flip
a Metropolis test of a symmetry-degenerate swap (de = 0 up to 1e-15 eV); with floats the
branch taken, and with it the random stream, depended on the BLAS thread count of the
process. The matrix itself is computed with BLAS on one thread, and candidates of equal
energy are ranked by their labels, not by arrival order.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence

import numpy as np
from pymatgen.analysis.ewald import EwaldSummation
from pymatgen.core import Lattice, Structure

from halidelab.errors import StructureError

#: Resolution of the integer energies the annealing decides on, eV. 1e-10 eV keeps
#: q^T M q inside int64 for cells of up to ~3000 sites (|M_ij| < 3 eV, |q| <= 7).
ENERGY_QUANTUM_EV = 1e-10


def hnf_matrices(det: int) -> list[np.ndarray]:
    """All 3x3 lower-triangular Hermite normal forms with determinant ``det``.

    Every sublattice of index ``det`` corresponds to exactly one of these.
    """
    out = []
    for a in range(1, det + 1):
        if det % a:
            continue
        for c in range(1, det // a + 1):
            if (det // a) % c:
                continue
            f = det // (a * c)
            for b, d, e in itertools.product(range(c), range(f), range(f)):
                out.append(np.array([[a, 0, 0], [b, c, 0], [d, e, f]]))
    return out


def min_width_A(matrix: np.ndarray) -> float:
    """Smallest distance between opposite faces of a cell with these row vectors, in A."""
    m = np.asarray(matrix, dtype=float)
    vol = abs(np.linalg.det(m))
    return min(vol / np.linalg.norm(np.cross(m[(i + 1) % 3], m[(i + 2) % 3])) for i in range(3))


def best_supercell(lattice: Lattice, n_cells: int) -> np.ndarray:
    """The supercell of ``n_cells`` primitive cells that is most compact.

    Maximises the smallest face-to-face width (what limits periodic-image interactions
    in MLIP and NEB runs); ties go to diagonal matrices.
    """
    best, best_key = None, None
    for h in hnf_matrices(n_cells):
        # symmetric use: rows of h times lattice rows
        w = min_width_A(h @ lattice.matrix)
        diag = int(np.count_nonzero(h - np.diag(np.diag(h))) == 0)
        key = (round(w, 6), diag)
        if best_key is None or key > best_key:
            best, best_key = h, key
    return best


@dataclasses.dataclass
class Pool:
    """Positions that share one occupancy budget.

    ``counts`` maps species label (``""`` = vacancy) to how many of the positions it fills.
    ``role`` groups pools whose occupied positions may exchange species (e.g. all M).
    """

    indices: list[int]
    counts: dict[str, int]
    role: str


@dataclasses.dataclass
class OrderedConfig:
    """One ordering: species label per position and its Ewald energy in eV."""

    labels: list[str]
    energy_eV: float


def unit_ewald_matrix(structure: Structure, eta: float | None = None) -> np.ndarray:
    """Ewald interaction matrix for unit charges on every site, in eV.

    The Ewald energy of charges q on these sites is q^T M q for any neutral q (the
    energy is a quadratic form in the charges; the background term vanishes).
    """
    from threadpoolctl import threadpool_limits

    s = structure.copy()
    s.replace_species({sp: "H+" for sp in s.composition})
    s.add_oxidation_state_by_element({"H": 1})
    with threadpool_limits(limits=1, user_api="blas"):  # same bits in every process
        ew = EwaldSummation(s, eta=eta, compute_forces=False)
        m = np.array(ew.total_energy_matrix, dtype=float)
    return 0.5 * (m + m.T)


def _random_labels(pools: Sequence[Pool], n: int, rng: np.random.Generator) -> np.ndarray:
    """A random filling of every pool with its species counts (one permutation per pool,
    in pool order: the random stream is consumed the same way by every caller)."""
    labels = np.empty(n, dtype=object)
    for p in pools:
        bag = [lab for lab, c in p.counts.items() for _ in range(c)]
        if len(bag) != len(p.indices):
            raise StructureError("internal: pool counts do not fill the pool")
        labels[p.indices] = rng.permutation(np.array(bag, dtype=object))
    return labels


def _roles_and_pools(pools: Sequence[Pool], n: int) -> tuple[dict[str, list[int]], np.ndarray]:
    """The positions of each role, and each of the ``n`` positions' pool index."""
    roles: dict[str, list[int]] = {}
    for p in pools:
        roles.setdefault(p.role, []).extend(p.indices)
    pool_of = np.empty(n, dtype=int)
    for k, p in enumerate(pools):
        pool_of[p.indices] = k
    return roles, pool_of


def _integer_problem(
    matrix: np.ndarray, charges: dict[str, float]
) -> tuple[np.ndarray, dict[str, int], float]:
    """Integer matrix (units of ENERGY_QUANTUM_EV) and integer charges.

    Charges are scaled by the smallest k in 1..12 that makes them all integers (mixed
    valences such as 2.5 give k = 2); energies in eV are ``E_int * quantum / k**2``.
    """
    for k in range(1, 13):
        if all(abs(q * k - round(q * k)) < 1e-9 for q in charges.values()):
            break
    else:
        raise StructureError(
            f"formal charges {sorted(set(charges.values()))} are not rational with "
            "a small denominator; give integer oxidation states"
        )
    m_int = np.rint(np.asarray(matrix, dtype=float) / ENERGY_QUANTUM_EV).astype(np.int64)
    return (
        m_int,
        {lab: int(round(q * k)) for lab, q in charges.items()},
        ENERGY_QUANTUM_EV / (k * k),
    )


def role_of_move_is_exchange(labels: np.ndarray, i: int, j: int, pool_of: np.ndarray) -> bool:
    """True for a forbidden move: a vacancy swapped across pools (changes pool counts)."""
    return pool_of[i] != pool_of[j] and (not labels[i] or not labels[j])


def _swap_cost(
    m: np.ndarray, diag: np.ndarray, q: np.ndarray, v: np.ndarray, i: int, j: int
) -> int:
    """Exact energy change of swapping the charges on i and j (integer quanta); v = m @ q."""
    d = int(q[j] - q[i])
    return 2 * d * int(v[i] - v[j]) + d * d * int(diag[i] + diag[j] - 2 * m[i, j])


def _quench(
    matrix: np.ndarray,
    q: np.ndarray,
    labels: np.ndarray,
    groups: list[np.ndarray],
    pool_of: np.ndarray,
    max_iter: int = 10000,
) -> None:
    """Steepest descent over all allowed pair swaps, in place, to a local minimum.

    ``matrix`` and ``q`` are integer (exact arithmetic); ties go to the first pair.
    """
    diag = np.diag(matrix)
    never = np.iinfo(np.int64).max
    for _ in range(max_iter):
        v = matrix @ q
        best = (0, -1, -1)
        for idx in groups:
            qi = q[idx]
            d = qi[None, :] - qi[:, None]  # d[a, b] = q_b - q_a for swapping a and b
            de = 2 * d * (v[idx][:, None] - v[idx][None, :]) + d * d * (
                diag[idx][:, None] + diag[idx][None, :] - 2 * matrix[np.ix_(idx, idx)]
            )
            occ = np.array([bool(labels[i]) for i in idx])
            cross = pool_of[idx][:, None] != pool_of[idx][None, :]
            de[cross & ~(occ[:, None] & occ[None, :])] = never  # vacancies stay in their pool
            a, b = np.unravel_index(np.argmin(de), de.shape)
            if de[a, b] < best[0]:
                best = (int(de[a, b]), int(idx[a]), int(idx[b]))
        if best[1] < 0:
            return
        _, i, j = best
        labels[i], labels[j] = labels[j], labels[i]
        q[i], q[j] = q[j], q[i]


def anneal_orderings(
    matrix: np.ndarray,
    pools: Sequence[Pool],
    charges: dict[str, float],
    n_keep: int,
    seed: int = 0,
    n_starts: int | None = None,
    sweeps: int = 300,
) -> list[OrderedConfig]:
    """Low-energy orderings by simulated annealing over swaps (seeded, deterministic).

    Parameters
    ----------
    matrix : ndarray (n, n)
        Unit-charge Ewald matrix of all positions (eV).
    pools : sequence of Pool
        Occupancy budgets; every position belongs to exactly one pool.
    charges : dict
        Formal charge of each species label (vacancy "" is 0).
    n_keep : int
        How many distinct-energy candidates to return, lowest first.
    seed : int
        Random seed.
    n_starts : int, optional
        Independent anneals (default max(8, 2 n_keep)).
    sweeps : int
        Swap attempts per position per anneal.

    Returns
    -------
    list of OrderedConfig
        Candidates sorted by energy; distinct energies (to 1e-6 eV) or distinct label
        arrays with the same energy. Symmetry-equivalence is checked by the caller.
    """
    n = matrix.shape[0]
    rng = np.random.default_rng(seed)
    roles, pool_of = _roles_and_pools(pools, n)
    movable_pools = [p for p in pools if sum(1 for v in p.counts.values() if v > 0) > 1]
    exch_roles = [
        r
        for r, idx in roles.items()
        if len({lab for p in pools if p.role == r for lab, c in p.counts.items() if c and lab}) > 1
    ]

    def energy_eV(labels) -> float:
        qf = np.array([charges[lab] for lab in labels], dtype=float)
        return float(qf @ matrix @ qf)

    if not movable_pools and not exch_roles:
        labels = [""] * n
        for p in pools:
            lab = next(lab for lab, c in p.counts.items() if c)
            for i in p.indices:
                labels[i] = lab
        return [OrderedConfig(labels, energy_eV(labels))]
    m_int, q_of, quantum = _integer_problem(matrix, charges)
    n_starts = n_starts or max(16, 3 * n_keep)
    found: set[tuple[int, tuple[str, ...]]] = set()
    diag = np.diag(m_int)
    role_idx = {r: np.array(roles[r]) for r in exch_roles}
    pool_idx = [np.array(p.indices) for p in movable_pools]
    p_exchange = 0.3 if movable_pools else 1.0
    for _ in range(n_starts):
        labels = _random_labels(pools, n, rng)
        q = np.array([q_of[lab] for lab in labels], dtype=np.int64)
        v = m_int @ q
        energy = int(q @ v)
        n_moves = max(sweeps * n, 2000)

        def propose():
            if exch_roles and rng.random() < p_exchange:
                idx = role_idx[exch_roles[rng.integers(len(exch_roles))]]
            else:
                idx = pool_idx[rng.integers(len(pool_idx))]
            i, j = idx[rng.integers(len(idx), size=2)]
            return int(i), int(j)

        # start hot enough to cross the typical swap energy (M moves cost tens of eV)
        probe = []
        for _ in range(200):
            i, j = propose()
            if q[j] != q[i] and (labels[i] or labels[j]):
                probe.append(abs(_swap_cost(m_int, diag, q, v, i, j)) * quantum)
        t0 = max(float(np.percentile(probe, 90)) if probe else 1.0, 0.05)
        t1 = 1e-3
        cold = int(0.5 * n_moves)
        for step in range(n_moves):
            kt = t0 * (t1 / t0) ** (step / n_moves)
            i, j = propose()
            if labels[i] == labels[j]:
                continue
            if role_of_move_is_exchange(labels, i, j, pool_of):
                continue
            d = int(q[j] - q[i])
            if d == 0:
                # same charge: energy-neutral label exchange (e.g. Y3+/Er3+), always accepted
                labels[i], labels[j] = labels[j], labels[i]
                continue
            de = _swap_cost(m_int, diag, q, v, i, j)
            if de <= 0 or rng.random() < math.exp(-de * quantum / kt):
                labels[i], labels[j] = labels[j], labels[i]
                q[i], q[j] = q[j], q[i]
                v += d * (m_int[:, i] - m_int[:, j])
                energy += de
            if step >= cold and step % n == 0:
                found.add((energy, tuple(labels)))
        _quench(m_int, q, labels, [*pool_idx, *role_idx.values()], pool_of)
        found.add((int(q @ m_int @ q), tuple(labels)))
    # canonical order: energy, then labels (equal-energy orderings never depend on arrival)
    ordered = [
        OrderedConfig(list(labels), energy_eV(labels))
        for _, labels in sorted(found)[: max(n_keep * 8, n_keep)]
    ]
    return ordered


def sample_orderings(
    matrix: np.ndarray,
    pools: Sequence[Pool],
    charges: dict[str, float],
    n_samples: int,
    kt_eV: float,
    seed: int = 0,
    burn_in_sweeps: int = 50,
    sweeps_between: int = 20,
    exchange: bool = False,
) -> list[OrderedConfig]:
    """Orderings sampled from the Boltzmann distribution at ``kt_eV`` (Metropolis swaps).

    The disordered (ball-milled) counterpart of :func:`anneal_orderings`: a random start,
    ``burn_in_sweeps`` sweeps cooling geometrically from 10 kT to kT (a random start
    quenched at low kT would stay a glass of the random start), then one snapshot every
    ``sweeps_between`` sweeps at kT (a sweep is one attempted swap per position). The same
    integer-exact energies as the annealing, so the samples are the same in any process
    for one seed.

    Parameters
    ----------
    matrix : ndarray (n, n)
        Unit-charge Ewald matrix (eV), already scaled by any dielectric screening.
    pools : sequence of Pool
        Swaps happen within a pool (every position in exactly one pool).
    charges : dict
        Formal charge per species label ("" = vacancy).
    n_samples : int
    kt_eV : float
        k_B T of the sampling, eV (> 0).
    seed : int
    exchange : bool
        Also swap occupied positions of different pools of one role (as
        :func:`anneal_orderings` does: a dopant moves between M orbits that are pools of
        their own), in 30 % of the moves. Off, a pool's species stay in the pool.

    Returns
    -------
    list of OrderedConfig
        ``n_samples`` snapshots in sampling order (not sorted by energy).
    """
    if kt_eV <= 0:
        raise StructureError(f"the sampling temperature must be > 0, got kT = {kt_eV} eV")
    n = matrix.shape[0]
    rng = np.random.default_rng(seed)
    m_int, q_of, quantum = _integer_problem(matrix, charges)
    diag = np.diag(m_int)
    movable = [np.array(p.indices) for p in pools if sum(1 for v in p.counts.values() if v > 0) > 1]
    labels = _random_labels(pools, n, rng)
    q = np.array([q_of[lab] for lab in labels], dtype=np.int64)

    def energy_eV(labs) -> float:
        qf = np.array([charges[lab] for lab in labs], dtype=float)
        return float(qf @ matrix @ qf)

    roles, pool_of = _roles_and_pools(pools, n)
    exch = (
        [
            np.array(idx)
            for r, idx in roles.items()
            if len({lab for p in pools if p.role == r for lab, c in p.counts.items() if c and lab})
            > 1
            and sum(1 for p in pools if p.role == r) > 1
        ]
        if exchange
        else []
    )
    if not movable and not exch:
        return [OrderedConfig(list(labels), energy_eV(labels)) for _ in range(n_samples)]
    v = m_int @ q
    sizes = np.array([len(idx) for idx in movable], dtype=float)
    pick = sizes / sizes.sum() if movable else sizes
    out = []
    n_moves_per_sweep = sum(len(idx) for idx in movable) + sum(len(idx) for idx in exch)
    total_sweeps = burn_in_sweeps + sweeps_between * (n_samples - 1) + 1
    snap_at = {burn_in_sweeps + k * sweeps_between for k in range(n_samples)}
    for sweep in range(total_sweeps + 1):
        if sweep in snap_at:
            out.append(OrderedConfig(list(labels), energy_eV(labels)))
            if len(out) == n_samples:
                break
        kt = kt_eV * 10.0 ** (1.0 - min(sweep / max(burn_in_sweeps, 1), 1.0))
        for _ in range(n_moves_per_sweep):
            if exch and (not movable or rng.random() < 0.3):
                idx = exch[int(rng.integers(len(exch)))]
            elif len(movable) > 1:
                idx = movable[int(rng.choice(len(movable), p=pick))]
            else:
                idx = movable[0]
            i, j = (int(k) for k in idx[rng.integers(len(idx), size=2)])
            u = rng.random()  # drawn for every proposal: the stream never depends on energies
            if labels[i] == labels[j] or role_of_move_is_exchange(labels, i, j, pool_of):
                continue
            d = int(q[j] - q[i])
            if d == 0:
                labels[i], labels[j] = labels[j], labels[i]
                continue
            de = _swap_cost(m_int, diag, q, v, i, j)
            if de <= 0 or u < math.exp(-de * quantum / kt):
                labels[i], labels[j] = labels[j], labels[i]
                q[i], q[j] = q[j], q[i]
                v += d * (m_int[:, i] - m_int[:, j])
    return out
