"""The Pawley profile model: reflection groups, background basis, and the design matrix
whose linear parameters (intensities, background) are solved by non-negative least squares.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from pymatgen.core import Structure

from halidelab.lab.xrd.crystallography import _expand, d_spacing
from halidelab.structures.xrd import (
    caglioti_fwhm,
    format_hkl,
    pseudo_voigt,
    simulate_pattern,
)


@dataclasses.dataclass
class _Reflections:
    hkl: np.ndarray  # (n, 3) one row per distinct hkl family
    group: np.ndarray  # (n,) column index of each row (exact-overlap groups)
    labels: list[str]  # per group
    n_groups: int
    weights: np.ndarray  # (n,) model intensity share of each row (for the search)


def _reflections(
    model: Structure,
    system: str,
    unique: str,
    free_ref: np.ndarray,
    lam: float,
    lo: float,
    hi: float,
) -> _Reflections:
    """hkl families of the model in (lo, hi), grouped where d stays equal for any cell."""
    pat = simulate_pattern(model, wavelength=lam, two_theta_range_deg=(lo, hi))
    rng = np.random.default_rng(12345)
    trials = [free_ref * (1 + 0.01 * rng.standard_normal(free_ref.size)) for _ in range(2)]
    hkl_rows, group, labels, weights = [], [], [], []
    for fams, inten, mults in zip(pat.hkls, pat.intensity, pat.multiplicities, strict=True):
        weights.extend(inten * np.asarray(mults, dtype=float) / sum(mults))
        fam = np.array(fams, dtype=float)
        ds = [d_spacing(fam, _expand(system, unique, p, free_ref)) for p in trials]
        assigned: list[int] = []
        local: list[tuple[int, np.ndarray]] = []  # (group id, signature)
        for i in range(len(fam)):
            sig = np.array([d[i] for d in ds])
            gid = next((g for g, s in local if np.allclose(s, sig, rtol=1e-9)), None)
            if gid is None:
                gid = len(labels)
                labels.append(format_hkl(fams[i]))
                local.append((gid, sig))
            else:
                labels[gid] += " " + format_hkl(fams[i])
            assigned.append(gid)
        hkl_rows.extend(fams)
        group.extend(assigned)
    return _Reflections(
        np.array(hkl_rows, dtype=float), np.array(group), labels, len(labels), np.array(weights)
    )


#: Gauss-Legendre nodes of the axial-divergence kernel (see :func:`fcj_kernel`)
N_FCJ = 8
#: below this (S/L + H/L)^2 the profile is taken as symmetric (a kernel of ~1e-12 rad)
Q_MIN = 1e-12


def fcj_kernel(
    two_theta_deg: np.ndarray, shl: float, n_nodes: int = N_FCJ
) -> tuple[np.ndarray, np.ndarray]:
    """Axial-divergence (Finger-Cox-Jephcoat) kernel as quadrature nodes and weights.

    Finger, Cox & Jephcoat, J. Appl. Cryst. 27 (1994) 892, for a sample of axial half
    length S and a receiving slit of axial half length H at a distance L, with S = H (as
    GSAS-II's constant-wavelength profile, whose one parameter SH/L is our ``shl`` =
    S/L + H/L; separate S/L and H/L are strongly correlated in a fit and the data here do
    not tell them apart). Rays scattered out of the equatorial plane reach the detector at
    2phi, between 2phi_min (``cos 2phi_min = cos 2theta sqrt(1 + shl^2)``) and the Bragg
    angle 2theta, with the weight (FCJ eq. 6 for S = H)

        D(2phi) ∝ [1 / sqrt(cos^2 2phi / cos^2 2theta - 1) - 1 / shl] / |cos 2phi|,

    which diverges (integrably) at 2phi = 2theta: below 90 deg the peak gets a tail on its
    low-angle side and its centroid moves down, the more the lower the angle (above 90 deg
    the tail is on the high-angle side). The observed peak is the symmetric profile
    convolved with D. With ``u = sqrt(cos^2 2phi / cos^2 2theta - 1)`` (0 to ``shl``) the
    integrand becomes smooth, ``D d(2phi) ∝ (1 - u/shl) / ((1 + u^2) |sin 2phi|) du``, so a
    Gauss-Jacobi rule in u with the weight (1 - u/shl) integrates it accurately with a few
    nodes (GSAS-II instead samples D on the 2theta grid). 8 nodes give the 11-BM LaB6 cell
    (kernel about one FWHM long) within 3e-7 A (0.02 esd) of 64 nodes. The kernel's first
    two moments are tested against a direct integration of D in 2phi
    (tests/lab/test_xrd_refine.py).

    Parameters
    ----------
    two_theta_deg : ndarray
        Bragg angles 2theta (deg), shape (m,).
    shl : float
        S/L + H/L (dimensionless, >= 0).
    n_nodes : int
        Quadrature nodes per peak.

    Returns
    -------
    offsets_deg, weights : ndarray, shape (m, n_nodes)
        Where each node puts the symmetric profile relative to 2theta (deg; negative
        below 90 deg) and its weight (each row sums to 1).
    """
    tt = np.radians(np.asarray(two_theta_deg, dtype=float))[:, None]
    from scipy.special import roots_jacobi

    t, gw = roots_jacobi(n_nodes, 1.0, 0.0)  # weight (1 - t) on (-1, 1)
    u = shl * (t + 1.0) / 2.0  # nodes on (0, shl)
    cos_phi = np.clip(np.cos(tt) * np.sqrt(1.0 + u * u), -1.0, 1.0)
    two_phi = np.arccos(cos_phi)
    sin_phi = np.abs(np.sin(two_phi))
    inside = sin_phi > 1e-9  # rays past 2phi = 0 (or 180) are not recorded
    wts = np.where(inside, gw / ((1.0 + u * u) * np.maximum(sin_phi, 1e-9)), 0.0)
    wts /= np.maximum(wts.sum(axis=1, keepdims=True), 1e-300)
    return np.degrees(two_phi - tt), wts


def asymmetric_profile(
    dx: np.ndarray,
    fwhm: np.ndarray,
    eta: float,
    offsets_deg: np.ndarray | None,
    weights: np.ndarray | None,
) -> np.ndarray:
    """Pseudo-Voigt at offsets ``dx`` from 2theta convolved with an FCJ kernel (or not).

    ``dx`` and ``fwhm`` broadcast to (m, n); ``offsets_deg``, ``weights`` are (m, k) from
    :func:`fcj_kernel`, or None for the symmetric profile. Area-normalised (1/deg).
    """
    if offsets_deg is None or weights is None:
        return pseudo_voigt(dx, fwhm, eta)
    out = np.zeros(np.broadcast_shapes(np.shape(dx), np.shape(fwhm)))
    for j in range(offsets_deg.shape[1]):
        out += weights[:, j, None] * pseudo_voigt(dx - offsets_deg[:, j, None], fwhm, eta)
    return out


def _hat_basis(x: np.ndarray, n_nodes: int) -> np.ndarray:
    """Piecewise-linear (hat) basis on ``n_nodes`` evenly spaced nodes: (len(x), n_nodes)."""
    nodes = np.linspace(x[0], x[-1], n_nodes)
    h = nodes[1] - nodes[0]
    return np.clip(1.0 - np.abs(x[:, None] - nodes[None, :]) / h, 0.0, None)


class _PawleyModel:
    """Profile model with the linear parameters projected out by NNLS."""

    def __init__(self, x, y, w, refl, system, unique, free_ref, lams, n_bg, names):
        self.x, self.y, self.w = x, y, w
        self.names = names
        self.sw = np.sqrt(w)
        self.refl = refl
        self.system, self.unique, self.free_ref = system, unique, free_ref
        self.lams = lams  # [(lambda, weight)]
        self.bg = _hat_basis(x, n_bg)
        self.nlat = free_ref.size
        self.last_lin: np.ndarray | None = None
        self.reach = 25.0  # peak tails cut at this many FWHM

    def split(self, p):
        k = self.nlat
        # lattice, zero, U, W, eta (then the displacement D and the asymmetry q, if present)
        return p[:k], p[k], p[k + 1], p[k + 2], p[k + 3]

    def asymmetry_q(self, p) -> float:
        """(S/L + H/L)^2 of the axial-divergence kernel (the refined asymmetry parameter)."""
        k = self.nlat
        return float(p[k + 5]) if len(p) > k + 5 else 0.0

    def displacement(self, p) -> float:
        """Sample-displacement coefficient D (deg): a line moves by ``D cos(theta)``."""
        k = self.nlat
        return float(p[k + 4]) if len(p) > k + 4 else 0.0

    def centres(self, p) -> list[tuple[np.ndarray, float]]:
        lat, zero, *_ = self.split(p)
        disp = self.displacement(p)
        d = d_spacing(self.refl.hkl, _expand(self.system, self.unique, lat, self.free_ref))
        out = []
        for lam, weight in self.lams:
            s = lam / (2 * d)
            tt = np.where(s < 1, 2 * np.degrees(np.arcsin(np.clip(s, -1, 1))), np.nan)
            out.append((tt + zero + disp * np.cos(np.radians(tt / 2)), weight))
        return out

    def design(self, p):
        """Sparse (n_points, n_groups) profile matrix of the reflection groups.

        Vectorised: every line gets a window of the same number of points (the widest
        line's), entries beyond its own reach are zeroed.
        """
        import scipy.sparse as sp

        _, _, u, w, eta = self.split(p)
        q = self.asymmetry_q(p)
        shl = math.sqrt(q) if q > Q_MIN else 0.0
        x, n = self.x, len(self.x)
        rows, cols, vals = [], [], []
        for tt, weight in self.centres(p):
            ok = np.isfinite(tt)
            c, g = tt[ok], self.refl.group[ok]
            fw = caglioti_fwhm(c, u, 0.0, w)
            offs, wts = fcj_kernel(c, shl) if shl > 0 else (None, None)
            tail = np.abs(offs).max(axis=1) if offs is not None else np.zeros_like(c)
            lo = np.searchsorted(x, c - self.reach * fw - tail)
            hi = np.searchsorted(x, c + self.reach * fw + tail)
            keep = hi > lo
            c, g, fw, lo, hi, tail = c[keep], g[keep], fw[keep], lo[keep], hi[keep], tail[keep]
            if offs is not None:
                offs, wts = offs[keep], wts[keep]
            if c.size == 0:
                continue
            span = int((hi - lo).max())
            idx = lo[:, None] + np.arange(span)[None, :]
            inside = idx < hi[:, None]
            idx = np.minimum(idx, n - 1)
            dx = x[idx] - c[:, None]
            v = weight * asymmetric_profile(dx, fw[:, None], eta, offs, wts) * inside
            # taper the last fifth of the window to 0 (cos^2): a hard cut makes the model
            # jump whenever the window edge passes a data point, which the central-
            # difference Jacobian of the esds turns into noise (esds changing by tens of %
            # with the step on the 11-BM LaB6 pattern)
            z = np.abs(dx) / (self.reach * fw + tail)[:, None]
            v *= np.where(z < 0.8, 1.0, np.cos(0.5 * np.pi * np.clip((z - 0.8) / 0.2, 0, 1)) ** 2)
            rows.append(idx[inside])
            cols.append(np.broadcast_to(g[:, None], idx.shape)[inside])
            vals.append(v[inside])
        if not rows:
            return sp.csr_matrix((n, self.refl.n_groups))
        return sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(n, self.refl.n_groups),
        )

    def solve(self, p):
        """NNLS intensities and background at non-linear parameters ``p``."""
        import scipy.linalg as sl
        import scipy.sparse as sp
        from scipy.optimize import nnls

        a = sp.hstack([self.design(p), sp.csr_matrix(self.bg)]).tocsr()
        aw = sp.diags(self.sw) @ a
        g = (aw.T @ aw).toarray()
        b = aw.T @ (self.sw * self.y)
        diag = np.diag(g).copy()
        ridge = 1e-10 * (diag.mean() if diag.mean() > 0 else 1.0)
        g[np.diag_indices_from(g)] += ridge + 1e-12 * diag
        try:
            r = sl.cholesky(g, lower=False, check_finite=False)
        except np.linalg.LinAlgError:  # pragma: no cover - ridge makes this rare
            g[np.diag_indices_from(g)] += 1e-6 * diag.max()
            r = sl.cholesky(g, lower=False, check_finite=False)
        z = sl.solve_triangular(r, b, trans="T", check_finite=False)
        coef, _ = nnls(r, z, maxiter=50 * g.shape[0])
        self.last_lin = coef
        return a, coef

    def residual(self, p):
        a, coef = self.solve(p)
        return self.sw * (self.y - a @ coef)
