"""The Pawley profile model: reflection groups, background basis, and the design matrix
whose linear parameters (intensities, background) are solved by non-negative least squares.
"""


from __future__ import annotations

import dataclasses

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
    hkl: np.ndarray          # (n, 3) one row per distinct hkl family
    group: np.ndarray        # (n,) column index of each row (exact-overlap groups)
    labels: list[str]        # per group
    n_groups: int
    weights: np.ndarray      # (n,) model intensity share of each row (for the search)


def _reflections(model: Structure, system: str, unique: str, free_ref: np.ndarray,
                 lam: float, lo: float, hi: float) -> _Reflections:
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
    return _Reflections(np.array(hkl_rows, dtype=float), np.array(group), labels, len(labels),
                        np.array(weights))


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
        # lattice, zero, U, W, eta (and the sample displacement, when present)
        return p[:k], p[k], p[k + 1], p[k + 2], p[k + 3]

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
        x, n = self.x, len(self.x)
        rows, cols, vals = [], [], []
        for tt, weight in self.centres(p):
            ok = np.isfinite(tt)
            c, g = tt[ok], self.refl.group[ok]
            fw = caglioti_fwhm(c, u, 0.0, w)
            lo = np.searchsorted(x, c - self.reach * fw)
            hi = np.searchsorted(x, c + self.reach * fw)
            keep = hi > lo
            c, g, fw, lo, hi = c[keep], g[keep], fw[keep], lo[keep], hi[keep]
            if c.size == 0:
                continue
            span = int((hi - lo).max())
            idx = lo[:, None] + np.arange(span)[None, :]
            inside = idx < hi[:, None]
            idx = np.minimum(idx, n - 1)
            v = weight * pseudo_voigt(x[idx] - c[:, None], fw[:, None], eta) * inside
            rows.append(idx[inside])
            cols.append(np.broadcast_to(g[:, None], idx.shape)[inside])
            vals.append(v[inside])
        if not rows:
            return sp.csr_matrix((n, self.refl.n_groups))
        return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(n, self.refl.n_groups))

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


