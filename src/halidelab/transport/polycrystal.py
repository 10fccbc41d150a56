"""The conductivity of a pressed pellet from the conductivity tensor of its crystal.

A KMC or MD run gives the conductivity *tensor* of a single crystal. What a lab measures
on a pressed or sintered pellet (the bulk semicircle of an impedance spectrum, grain
boundaries left out) is the conductivity of many randomly oriented grains. For a cubic
crystal the two are the same. For an anisotropic one they are not: the orientation
average of the tensor, trace/3, is the upper (Voigt, Wiener) bound of the pellet, reached
only if every grain were a parallel channel from electrode to electrode; the harmonic mean
of the principal values is the lower (Reuss) bound, grains in series. A quasi-1D conductor
is where they differ most: its orientation average is a third of its fast axis, while a
pellet of randomly oriented needles carries current only where grains hand it on through
their slow directions. (The c-axis chains of trigonal Li3MCl6 motivated this module; in the
KMC of the reference set's CHGNet models their principal conductivities are only 2-11x
apart at 25 C.)

:func:`polycrystal_conductivity` is the self-consistent effective-medium value for a
random polycrystal of spherical grains (Bruggeman's symmetric approximation extended to
anisotropic grains by D. Stroud, Phys. Rev. B 12, 3368 (1975),
https://doi.org/10.1103/PhysRevB.12.3368): the conductivity sigma_e for which a grain of
any orientation, embedded in the effective medium, on average disturbs the field by
nothing,

    sum_k (sigma_k - sigma_e) / (sigma_k + 2 sigma_e) = 0,

over the three principal values sigma_k. Its limits: sigma_e = sigma for an isotropic
crystal; sigma/2 for a 2D conductor (sigma, sigma, 0); sqrt(sigma_1 sigma_2 / 2) for a
nearly 1D one (sigma_1 >> sigma_2 = sigma_3), and 0 for a strictly 1D one (one conducting
direction in three is the effective-medium percolation threshold). It lies between the
Reuss and Voigt bounds.

The pellet value is only as good as the model's anisotropy. The conductivity tensor of a
crystal has the symmetry of its average structure (Neumann's principle): an ordered model
of a cation-disordered cubic crystal (one Li/M ordering of a spinel) can have channels the
real crystal averages out, and its "pellet" is then an artefact. halidelab therefore keeps
the orientation average as the KMC and MD headline value and reports the pellet beside it
(measured on the reference set: :func:`halidelab.transport.kmc.run_kmc`'s ``average``).

No library of the stack provides it (pymatgen, ASE and spglib have tensors but no
effective-medium averages); it is a one-dimensional root search.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from halidelab.errors import SimulationError


def principal_values(tensor: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """Eigenvalues (ascending) of the symmetric part of a 3x3 transport tensor.

    Parameters
    ----------
    tensor : (3, 3) array_like
        Conductivity (S/cm) or diffusion (cm^2/s) tensor in any Cartesian frame.

    Returns
    -------
    ndarray (3,)
        Principal values in the units of ``tensor``; a noisy, unresolved direction can be
        slightly negative.
    """
    t = np.asarray(tensor, dtype=float)
    if t.shape != (3, 3) or not np.all(np.isfinite(t)):
        raise SimulationError(f"a transport tensor must be a finite 3x3 array, got shape {t.shape}")
    return np.linalg.eigvalsh(0.5 * (t + t.T))


#: Principal values below this fraction of the largest are rounding, not conduction: a
#: direction with no motion at all gives eigenvalues of 1e-12 relative from the arithmetic
#: of the tensor's off-diagonal elements, which the effective medium would turn into a
#: pellet conductivity of 1e-6 relative (the square root of their ratio).
ROUNDING_RTOL = 1e-9


def conducting_principal_values(tensor: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """:func:`principal_values` with the directions that do not conduct set to 0: negative
    values (an unresolved, noisy direction) and those below :data:`ROUNDING_RTOL` of the
    largest (rounding)."""
    lam = principal_values(tensor)
    top = float(lam.max())
    return np.where(lam > ROUNDING_RTOL * top, lam, 0.0) if top > 0 else np.zeros(3)


def jackknife_se(leave_one_out: Sequence[float] | np.ndarray) -> float:
    """Jackknife standard error from the n leave-one-out values of an estimate:
    sqrt((n - 1) / n * sum (v_i - mean v)^2). Exact for a mean; used for the pellet values,
    which are not linear in the runs (or blocks of atoms) they average."""
    v = np.asarray(leave_one_out, dtype=float)
    n = len(v)
    return math.sqrt((n - 1) / n * float(np.sum((v - v.mean()) ** 2)))


def _checked(principal: Sequence[float]) -> np.ndarray:
    s = np.asarray(principal, dtype=float).ravel()
    if s.shape != (3,) or not np.all(np.isfinite(s)):
        raise SimulationError(f"three finite principal values are needed, got {principal}")
    if np.any(s < 0):
        raise SimulationError(
            f"principal conductivities must be >= 0, got {s.tolist()} (clip an unresolved "
            "direction to 0 first)"
        )
    return s


def voigt_reuss_bounds(principal: Sequence[float]) -> tuple[float, float]:
    """Lower (Reuss: harmonic mean, grains in series) and upper (Voigt: arithmetic mean,
    the orientation average trace/3) bounds of a random polycrystal's conductivity, in the
    units of ``principal``. The lower bound is 0 when a principal value is 0."""
    s = _checked(principal)
    upper = float(s.mean())
    lower = 0.0 if np.any(s == 0) else float(3.0 / np.sum(1.0 / s))
    return lower, upper


def polycrystal_conductivity(principal: Sequence[float]) -> float:
    """Self-consistent effective-medium conductivity of a random polycrystal (Stroud 1975).

    Parameters
    ----------
    principal : (3,) array_like
        Principal values of the crystal's conductivity tensor (>= 0), any unit (S/cm).

    Returns
    -------
    float
        sigma_e in the units of ``principal``: the root of
        sum_k (sigma_k - sigma_e)/(sigma_k + 2 sigma_e) = 0 in the Reuss-Voigt interval;
        0 when at most one principal value is non-zero (below the effective-medium
        percolation threshold).
    """
    s = _checked(principal)
    lower, upper = voigt_reuss_bounds(s)
    if upper == 0.0:
        return 0.0
    if np.allclose(s, s[0], rtol=1e-12, atol=0.0):
        return float(s[0])
    if np.count_nonzero(s) <= 1:
        return 0.0
    scale = upper

    def f(x: float) -> float:  # decreasing in x > 0
        return float(np.sum((s / scale - x) / (s / scale + 2.0 * x)))

    from scipy.optimize import brentq

    lo = lower / scale if lower > 0 else 1e-300
    if f(1.0) >= 0:  # only at the isotropic limit, up to rounding
        return upper
    if f(lo) <= 0:
        return lower
    # root in log x: it can lie decades below the upper bound (needle-like grains)
    root = brentq(lambda u: f(math.exp(u)), math.log(lo), 0.0, xtol=1e-14, rtol=1e-14)
    return float(math.exp(root) * scale)
