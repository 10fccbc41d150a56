"""Harmonic transition-state prefactors of a test ion in a frozen host's potential.

Vineyard's harmonic TST (J. Phys. Chem. Solids 3, 121 (1957)) gives a hop's rate as
k = nu* exp(-(E_saddle - E_site)/k_B T) with nu* = prod(nu_min, 3 modes) / prod(nu_saddle, 2
stable modes). Here the modes are those of the one mobile ion in the potential of a frozen
host (the BVSE field of :mod:`halidelab.transport.bvse`): the host's own relaxation and its
modes are left out, the usual one-particle approximation of lattice-gas KMC.

Why not ASE's ``Vibrations``: it differentiates an ASE calculator's forces (a second finite
difference of a scalar field here), writes cache files per displacement, and works on one
configuration at a time; the BVSE field is evaluated for any number of points in one call,
so every site and saddle of a cell is refined together (19 points each per Newton step).
Why not ``scipy.optimize.minimize``: it has no saddle search. Its BFGS finds the same
minima (within 0.002 A and 2e-6 eV on the Li2ZrCl6 and Li3InCl6 models) in 4-6x the wall
time, one point per field call (``benchmarks/bench_harmonic_prefactors.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from halidelab.errors import SimulationError

#: eV/A^2 per amu -> (rad/s)^2: 1 eV = 1.602176634e-19 J, 1 A^2 = 1e-20 m^2,
#: 1 amu = 1.66053906660e-27 kg.
_EV_A2_AMU_TO_RAD2_S2 = 1.602176634e-19 / 1e-20 / 1.66053906660e-27
#: Finite-difference step of the Hessian, A: frequencies within 1-4.5 % of a 0.005 A step's
#: on the Li2ZrCl6 and Li3InCl6 models (``benchmarks/bench_harmonic_prefactors.py``), a
#: few hundredths of a decade in a hop's prefactor.
FD_STEP_A = 0.02
#: A stationary point is converged when its gradient is below this, eV/A.
GRAD_TOL_EV_A = 2e-3
#: Largest Newton step, A.
MAX_STEP_A = 0.1
#: Newton iterations at most.
MAX_ITER = 60
#: How a rate network's hops get their prefactors: one attempt frequency, or Vineyard's.
PREFACTORS = ("fixed", "harmonic")


def _stencil() -> np.ndarray:
    """Displacements (in units of the step) of a central-difference gradient and Hessian."""
    eye = np.eye(3)
    rows = [np.zeros(3)]
    for i in range(3):
        rows += [eye[i], -eye[i]]
    for i in range(3):
        for j in range(i + 1, 3):
            rows += [si * eye[i] + sj * eye[j] for si in (1, -1) for sj in (1, -1)]
    return np.array(rows)


_STENCIL = _stencil()  # (19, 3)


def gradient_hessian(
    energy: Callable[[np.ndarray], np.ndarray], points_A: np.ndarray, step_A: float = FD_STEP_A
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Energy, gradient and Hessian of a scalar field at Cartesian points by central
    differences, all points in one call of ``energy``.

    Parameters
    ----------
    energy : callable
        ``energy(points (m, 3) in A) -> (m,)`` in eV.
    points_A : (p, 3)
    step_A : float

    Returns
    -------
    e : (p,) eV
    g : (p, 3) eV/A
    h : (p, 3, 3) eV/A^2
    """
    x = np.atleast_2d(np.asarray(points_A, dtype=float))
    e = np.asarray(energy((x[:, None, :] + step_A * _STENCIL[None]).reshape(-1, 3)))
    e = e.reshape(len(x), len(_STENCIL))
    e0 = e[:, 0]
    g = np.empty((len(x), 3))
    h = np.empty((len(x), 3, 3))
    for i in range(3):
        ep, em = e[:, 1 + 2 * i], e[:, 2 + 2 * i]
        g[:, i] = (ep - em) / (2 * step_A)
        h[:, i, i] = (ep - 2 * e0 + em) / step_A**2
    k = 7
    for i in range(3):
        for j in range(i + 1, 3):
            pp, pm, mp, mm = (e[:, k + m] for m in range(4))
            h[:, i, j] = h[:, j, i] = (pp - pm - mp + mm) / (4 * step_A**2)
            k += 4
    return e0, g, h


def stationary_points(
    energy: Callable[[np.ndarray], np.ndarray],
    start_A: np.ndarray,
    index: np.ndarray,
    max_move_A: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Refine minima (``index`` 0) and first-order saddles (1) of a field by
    eigenvector-following Newton steps (Cerjan and Miller, J. Chem. Phys. 75, 2800 (1981)):
    uphill along the lowest Hessian mode of a saddle, downhill along the others, each step
    at most :data:`MAX_STEP_A`.

    Parameters
    ----------
    energy : callable
        As :func:`gradient_hessian`.
    start_A : (p, 3)
        Starting points (a grid minimum or the top of a grid path), A.
    index : (p,) int
        0 for a minimum, 1 for a saddle.
    max_move_A : float
        A point that ends further than this from its start has found another stationary
        point, not the one asked for: not converged.

    Returns
    -------
    x : (p, 3) A
    e : (p,) eV
    hessian : (p, 3, 3) eV/A^2
    ok : (p,) bool
        Converged, with ``index`` negative curvatures, within ``max_move_A`` of its start.
    """
    x0 = np.atleast_2d(np.asarray(start_A, dtype=float))
    idx = np.asarray(index, dtype=int)
    if idx.shape != (len(x0),) or not np.isin(idx, (0, 1)).all():
        raise SimulationError("stationary points: one index, 0 or 1, per starting point")
    x = x0.copy()
    active = np.ones(len(x), dtype=bool)
    for _ in range(MAX_ITER):
        if not active.any():
            break
        _, g, h = gradient_hessian(energy, x[active])
        w, v = np.linalg.eigh(h)  # ascending
        gp = np.einsum("pji,pj->pi", v, g)  # gradient along each mode
        # a saddle's lowest mode goes uphill; everything else downhill; soft or wrong-sign
        # curvatures take a gradient step of 0.5 eV/A^2 stiffness instead of a Newton one
        sign = np.ones_like(w)
        sign[idx[active] == 1, 0] = -1.0
        curv = np.where(sign * w > 0, np.abs(w), 0.5)
        step = -np.einsum("pij,pj->pi", v, sign * gp / curv)
        norm = np.linalg.norm(step, axis=1, keepdims=True)
        step *= np.minimum(1.0, MAX_STEP_A / np.maximum(norm, 1e-12))
        done = np.linalg.norm(g, axis=1) < GRAD_TOL_EV_A
        moving = np.flatnonzero(active)
        x[moving[~done]] += step[~done]
        active[moving[done]] = False
    e, g, h = gradient_hessian(energy, x)
    n_neg = (np.linalg.eigvalsh(h) < 0).sum(axis=1)
    ok = (
        (np.linalg.norm(g, axis=1) < GRAD_TOL_EV_A)
        & (n_neg == idx)
        & (np.linalg.norm(x - x0, axis=1) <= max_move_A)
    )
    return x, e, h, ok


def mode_frequencies_Hz(hessian: np.ndarray, mass_amu: float) -> np.ndarray:
    """Harmonic frequencies (Hz, ascending) of a particle of ``mass_amu`` in a well of
    curvature ``hessian`` (eV/A^2); a negative curvature gives a negative (imaginary)
    frequency."""
    if not mass_amu > 0:
        raise SimulationError(f"the mobile ion's mass must be > 0 amu, got {mass_amu}")
    lam = np.linalg.eigvalsh(np.asarray(hessian, dtype=float))
    return np.sign(lam) * np.sqrt(np.abs(lam) * _EV_A2_AMU_TO_RAD2_S2 / mass_amu) / (2 * math.pi)


def vineyard_logs(
    hessians_min: np.ndarray, hessians_saddle: np.ndarray, mass_amu: float, nu0_Hz: float
) -> tuple[np.ndarray, np.ndarray]:
    """Sum of ln(nu / nu0) over the 3 modes of each minimum and over the 2 stable modes of
    each saddle (its unstable mode, the reaction coordinate, left out), so that a hop from
    site a over saddle s has nu* = nu0 exp(L_a - M_s).

    Raises
    ------
    SimulationError
        A minimum with a negative curvature, or a saddle without exactly one.
    """
    lo = np.array([mode_frequencies_Hz(h, mass_amu) for h in hessians_min]).reshape(-1, 3)
    hi = np.array([mode_frequencies_Hz(h, mass_amu) for h in hessians_saddle]).reshape(-1, 3)
    if (lo <= 0).any():
        raise SimulationError("a minimum with a negative curvature has no harmonic prefactor")
    if len(hi) and ((hi[:, 0] >= 0).any() or (hi[:, 1:] <= 0).any()):
        raise SimulationError("a saddle needs exactly one negative curvature")
    return np.log(lo / nu0_Hz).sum(axis=1), np.log(hi[:, 1:] / nu0_Hz).sum(axis=1)
