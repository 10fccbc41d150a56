"""The periodic supercell of a rate network and the numba KMC kernel that runs on it."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from halidelab.errors import SimulationError
from halidelab.transport.kmc.network import RateNetwork

#: Shortest supercell length along each cell vector, A.
MIN_SUPERCELL_LENGTH_A = 20.0


@dataclasses.dataclass
class _Lattice:
    """The supercell arrays the kernel runs on."""

    n_sites: int
    src: np.ndarray
    dst: np.ndarray
    dx: np.ndarray
    #: network edge (index into ``RateNetwork.edge_*``) of each directed hop
    edge: np.ndarray
    energy: np.ndarray
    se_ptr: np.ndarray
    se_idx: np.ndarray
    ex_ptr: np.ndarray
    ex_idx: np.ndarray
    src_ex: np.ndarray
    role_li: np.ndarray
    label: list[str]
    volume_A3: float
    reps: tuple[int, int, int]


def supercell_size(
    lattice: Any, min_length_A: float = MIN_SUPERCELL_LENGTH_A
) -> tuple[int, int, int]:
    """Repetitions so that every supercell width is at least ``min_length_A`` (>= 2 each)."""
    m = np.asarray(lattice, dtype=float)
    vol = abs(np.linalg.det(m))
    widths = [vol / np.linalg.norm(np.cross(m[(i + 1) % 3], m[(i + 2) % 3])) for i in range(3)]
    return tuple(max(2, int(math.ceil(min_length_A / w))) for w in widths)  # type: ignore[return-value]


def _exclusion_pairs(
    frac: np.ndarray, cell: np.ndarray, radius_A: float
) -> list[tuple[int, int, np.ndarray]]:
    """All (i, j, image) with |r_j + image - r_i| < radius (i != j or image != 0)."""
    if radius_A <= 0:
        return []
    vol = abs(np.linalg.det(cell))
    widths = [
        vol / np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3])) for k in range(3)
    ]
    span = [int(math.ceil(radius_A / w)) for w in widths]
    images = np.array(
        [
            (a, b, c)
            for a in range(-span[0], span[0] + 1)
            for b in range(-span[1], span[1] + 1)
            for c in range(-span[2], span[2] + 1)
        ]
    )
    diff = (
        frac[None, :, None, :] + images[None, None, :, :] - frac[:, None, None, :]
    )  # (i, j, img, 3)
    d = np.linalg.norm(diff @ cell, axis=-1)
    ii, jj, kk = np.nonzero(d < radius_A)
    return [
        (int(i), int(j), images[k])
        for i, j, k in zip(ii, jj, kk, strict=True)
        if not (i == j and not images[k].any())
    ]


def _build(network: RateNetwork, reps: tuple[int, int, int]) -> _Lattice:
    cell = np.asarray(network.lattice, dtype=float)
    frac = np.asarray(network.site_frac, dtype=float)
    n0 = len(frac)
    r = np.array(reps, dtype=int)
    shifts = np.array([(i, j, k) for k in range(r[2]) for j in range(r[1]) for i in range(r[0])])
    ncell = len(shifts)
    cell_index = {tuple(s): c for c, s in enumerate(shifts)}
    n = n0 * ncell
    src, dst, dx, edge = [], [], [], []
    for k, (a, b, img) in enumerate(
        zip(network.edge_a, network.edge_b, network.edge_image, strict=True)
    ):
        vec = (frac[b] + np.asarray(img) - frac[a]) @ cell
        for c, sh in enumerate(shifts):
            cb = cell_index[tuple((sh + np.asarray(img)) % r)]
            ia, ib = a + n0 * c, b + n0 * cb
            if ia == ib:
                raise SimulationError(
                    "a hop joins a site to its own image in the supercell: enlarge it"
                )
            src += [ia, ib]
            dst += [ib, ia]
            dx += [vec, -vec]
            edge += [k, k]
    src_a = np.array(src, dtype=np.int64)
    dst_a = np.array(dst, dtype=np.int64)
    # site -> directed edges touching it (as source or destination)
    touch: list[list[int]] = [[] for _ in range(n)]
    for e, (i, j) in enumerate(zip(src_a, dst_a, strict=True)):
        touch[i].append(e)
        touch[j].append(e)
    se_ptr = np.zeros(n + 1, dtype=np.int64)
    se_ptr[1:] = np.cumsum([len(t) for t in touch])
    se_idx = np.array([e for t in touch for e in t], dtype=np.int64)
    # exclusion neighbours: pairs (i, j, image) in the cell, then mapped like the hops
    excl: list[list[int]] = [[] for _ in range(n)]
    pairs = list(_exclusion_pairs(frac, cell, network.exclusion_radius_A))
    for a, b, img in network.exclusion_pairs:  # face neighbours, whatever their distance
        pairs += [(a, b, np.asarray(img)), (b, a, -np.asarray(img))]
    for i, j, img in pairs:
        for c, sh in enumerate(shifts):
            cj = cell_index[tuple((sh + img) % r)]
            ia, jb = i + n0 * c, j + n0 * cj
            if ia != jb and jb not in excl[ia]:
                excl[ia].append(jb)
    ex_ptr = np.zeros(n + 1, dtype=np.int64)
    ex_ptr[1:] = np.cumsum([len(x) for x in excl])
    ex_idx = np.array([j for x in excl for j in x], dtype=np.int64)
    exsets = [set(x) for x in excl]
    src_ex = np.array(
        [int(i) in exsets[int(j)] for i, j in zip(src_a, dst_a, strict=True)], dtype=np.bool_
    )
    energy = np.tile(np.asarray(network.site_energy_eV, dtype=float), ncell)
    role_li = np.tile(np.array([ro == "li" for ro in network.site_role]), ncell)
    return _Lattice(
        n,
        src_a,
        dst_a,
        np.array(dx, dtype=float).reshape(-1, 3),
        np.array(edge, dtype=np.int64),
        energy,
        se_ptr,
        se_idx,
        ex_ptr,
        ex_idx,
        src_ex,
        role_li,
        list(network.site_label) * ncell,
        float(abs(np.linalg.det(cell)) * ncell),
        tuple(int(v) for v in r),
    )


def _kernel_py(
    occ,
    part_at,
    src,
    dst,
    rate,
    dx,
    se_ptr,
    se_idx,
    ex_ptr,
    ex_idx,
    src_ex,
    n_equil,
    n_events,
    n_samples,
    seed,
):  # pragma: no cover - compiled by numba
    """Rejection-free KMC: equilibrate, then sample carrier displacements in time.

    Returns (samples (n_samples, P, 3) in A, sample spacing in s, events run, occupancy
    time fractions per site, final occupation).
    """
    np.random.seed(seed)  # noqa: NPY002 - numba's per-thread generator is the legacy API
    n_sites = occ.shape[0]
    n_e = src.shape[0]
    n_p = 0
    for s in range(n_sites):
        if occ[s]:
            n_p += 1
    block = np.zeros(n_sites, dtype=np.int64)
    for s in range(n_sites):
        if occ[s]:
            for k in range(ex_ptr[s], ex_ptr[s + 1]):
                block[ex_idx[k]] += 1
    # rates of the allowed events, and their sums over blocks of 64 edges: choosing an
    # event scans the block sums, then one block (O(sqrt E) instead of O(E) per event)
    bsz = 64
    n_b = (n_e + bsz - 1) // bsz
    active = np.zeros(n_e)
    bsum = np.zeros(n_b)
    total = 0.0
    for e in range(n_e):
        i = src[e]
        j = dst[e]
        if occ[i] and not occ[j] and block[j] - (1 if src_ex[e] else 0) == 0:
            active[e] = rate[e]
            bsum[e // bsz] += rate[e]
            total += rate[e]
    disp = np.zeros((n_p, 3))
    samples = np.zeros((n_samples, n_p, 3))
    occ_time = np.zeros(n_sites)
    last = np.zeros(n_sites)
    t = 0.0
    sample_dt = 0.0
    k = 0
    done = 0
    measuring = False
    step = 0
    while True:
        if not measuring and step >= n_equil:
            measuring = True
            for p in range(n_p):
                disp[p, 0] = 0.0
                disp[p, 1] = 0.0
                disp[p, 2] = 0.0
            t = 0.0
            for s in range(n_sites):
                last[s] = 0.0
                occ_time[s] = 0.0
            if total <= 0.0:
                return samples, 0.0, 0, occ_time, occ
            sample_dt = n_events / total / max(n_samples - 1, 1)
        if measuring and total <= 0.0:
            while k < n_samples:
                samples[k] = disp
                k += 1
            break
        if not measuring and total <= 0.0:
            step = n_equil
            continue
        u = np.random.random()  # noqa: NPY002
        dt = -math.log(1.0 - u) / total
        if measuring:
            t_next = t + dt
            while k < n_samples and k * sample_dt <= t_next:
                samples[k] = disp
                k += 1
            if k >= n_samples:
                t = t_next
                break
        # choose the event
        target = np.random.random() * total  # noqa: NPY002
        acc = 0.0
        chosen = -1
        kb = n_b - 1
        for b in range(n_b):
            if bsum[b] > 0.0:
                kb = b
                if acc + bsum[b] >= target:
                    break
                acc += bsum[b]
        for e in range(kb * bsz, min(n_e, (kb + 1) * bsz)):
            if active[e] > 0.0:
                acc += active[e]
                chosen = e
                if acc >= target:
                    break
        if chosen < 0:  # rounding left the chosen block empty: take any allowed event
            for e in range(n_e):
                if active[e] > 0.0:
                    chosen = e
                    break
        i = src[chosen]
        j = dst[chosen]
        if measuring:
            t = t + dt
            occ_time[i] += t - last[i]
            last[i] = t
            last[j] = t
            p = part_at[i]
            disp[p, 0] += dx[chosen, 0]
            disp[p, 1] += dx[chosen, 1]
            disp[p, 2] += dx[chosen, 2]
            done += 1
        part_at[j] = part_at[i]
        part_at[i] = -1
        occ[i] = 0
        occ[j] = 1
        for q in range(ex_ptr[i], ex_ptr[i + 1]):
            block[ex_idx[q]] -= 1
        for q in range(ex_ptr[j], ex_ptr[j + 1]):
            block[ex_idx[q]] += 1
        # refresh every edge touching i, j and their exclusion neighbours
        for c in range(2 + (ex_ptr[i + 1] - ex_ptr[i]) + (ex_ptr[j + 1] - ex_ptr[j])):
            if c == 0:
                s = i
            elif c == 1:
                s = j
            elif c - 2 < ex_ptr[i + 1] - ex_ptr[i]:
                s = ex_idx[ex_ptr[i] + c - 2]
            else:
                s = ex_idx[ex_ptr[j] + c - 2 - (ex_ptr[i + 1] - ex_ptr[i])]
            for q in range(se_ptr[s], se_ptr[s + 1]):
                e = se_idx[q]
                a = src[e]
                b = dst[e]
                new = 0.0
                if occ[a] and not occ[b] and block[b] - (1 if src_ex[e] else 0) == 0:
                    new = rate[e]
                total += new - active[e]
                bsum[e // bsz] += new - active[e]
                active[e] = new
        step += 1
        if step % 4096 == 0:  # no drift of the running sums
            total = 0.0
            for b in range(n_b):
                bsum[b] = 0.0
            for e in range(n_e):
                bsum[e // bsz] += active[e]
                total += active[e]
    if measuring:
        for s in range(n_sites):
            if occ[s]:
                occ_time[s] += t - last[s]
        if t > 0:
            for s in range(n_sites):
                occ_time[s] /= t
    return samples, sample_dt, done, occ_time, occ


def _metropolis_py(occ, energy, ex_ptr, ex_idx, kt, n_moves, seed):  # pragma: no cover - numba
    """Equilibrium placement: Metropolis Monte Carlo with non-local moves of one carrier.

    A move takes an occupied site i and any site j (both uniform), and puts the carrier on
    j when j is empty and no other carrier excludes it, with probability
    min(1, exp(-(E_j - E_i) / kT)). The proposal is symmetric, so the chain samples the
    equilibrium the KMC's rates satisfy detailed balance with: Boltzmann weights of the site
    energies over the placements the exclusions allow. Moves jump anywhere, over no
    barrier: a carrier reaches a deep site in a few moves, where the KMC needs thousands
    of events. ``occ`` is changed in place and returned.
    """
    np.random.seed(seed)  # noqa: NPY002 - numba's per-thread generator is the legacy API
    n_sites = occ.shape[0]
    block = np.zeros(n_sites, dtype=np.int64)
    where = np.zeros(n_sites, dtype=np.int64)  # the occupied sites, in any order
    n_p = 0
    for s in range(n_sites):
        if occ[s]:
            where[n_p] = s
            n_p += 1
            for k in range(ex_ptr[s], ex_ptr[s + 1]):
                block[ex_idx[k]] += 1
    if n_p == 0 or n_p == n_sites:
        return occ
    for _ in range(n_moves):
        slot = np.random.randint(n_p)  # noqa: NPY002
        i = where[slot]
        j = np.random.randint(n_sites)  # noqa: NPY002
        if occ[j]:
            continue
        own = 0  # does the moving carrier itself exclude j?
        for k in range(ex_ptr[i], ex_ptr[i + 1]):
            if ex_idx[k] == j:
                own = 1
                break
        if block[j] - own != 0:
            continue
        de = energy[j] - energy[i]
        if de > 0.0 and np.random.random() >= math.exp(-de / kt):  # noqa: NPY002
            continue
        occ[i] = 0
        occ[j] = 1
        where[slot] = j
        for k in range(ex_ptr[i], ex_ptr[i + 1]):
            block[ex_idx[k]] -= 1
        for k in range(ex_ptr[j], ex_ptr[j + 1]):
            block[ex_idx[k]] += 1
    return occ


_COMPILED: dict[str, Any] = {}


def _compiled(fn: Any) -> Any:
    """``fn`` compiled by numba (once per process, cached on disk), without the GIL so that
    independent runs go on in parallel threads (numba's random generator is per thread)."""
    if fn.__name__ not in _COMPILED:
        from numba import njit

        _COMPILED[fn.__name__] = njit(cache=True, nogil=True)(fn)
    return _COMPILED[fn.__name__]


def _metropolis() -> Any:
    """The numba-compiled equilibrium placement (:func:`_metropolis_py`)."""
    return _compiled(_metropolis_py)


def _kernel() -> Any:
    """The numba-compiled KMC kernel (:func:`_kernel_py`)."""
    return _compiled(_kernel_py)
