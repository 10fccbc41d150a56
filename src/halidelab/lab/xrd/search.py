"""Global search of the cell lengths before the least-squares refinement."""

from __future__ import annotations

import math

import numpy as np

from halidelab.lab.xrd.crystallography import _expand, reciprocal_metric
from halidelab.lab.xrd.io import MIN_POINTS
from halidelab.lab.xrd.profile import _PawleyModel


def _coarse_search(
    m: _PawleyModel,
    p0: np.ndarray,
    x: np.ndarray,
    lo: float,
    hi: float,
    fw0: float,
    k: int,
    max_strain: float,
    weights: np.ndarray,
) -> np.ndarray:
    """Global search of the cell lengths on the low-angle half of the pattern.

    Least squares from the model cell locks onto the wrong reflection when the sample's
    cell differs by more than about a peak width at high angle (a 2% smaller cell moves a
    60 deg peak by 1.2 deg), and searching one length at a time fails when two are both
    off (Li3YCl6 with a +2.5%, c -1%: measured). So:

    1. a full grid over all free lengths (+-``max_strain``; b tied to a where the system
       says so) scored by how much smoothed, background-free observed intensity lies under
       the predicted reflections, each weighted by the model's intensity (cheap: no fit);
    2. from the best grid point, grids one length at a time over +-3 grid steps scored by
       the projected (NNLS) Pawley fit with the measured width, twice over.
    """
    from scipy.ndimage import gaussian_filter1d, minimum_filter1d

    cut = lo + 0.5 * (hi - lo)
    low = x <= cut
    if low.sum() < MIN_POINTS:
        return p0
    lengths = [i for i in range(k) if m.names[i] in ("a", "b", "c")]
    if not lengths:
        return p0
    xs, ys = m.x[low], m.y[low]
    step_x = float(np.median(np.diff(xs)))
    deg_per_strain = math.degrees(2 * math.tan(math.radians(cut / 2)))
    coarse = max(0.5 * 1.5 * fw0 / deg_per_strain, 5e-4)
    n_grid = int(round(max_strain / coarse))
    if len(lengths) == 3:  # keep the 3-D grid near 40^3 points
        n_grid = min(n_grid, 20)
        coarse = max_strain / n_grid
    smooth_fw = max(fw0, coarse * deg_per_strain)
    base = minimum_filter1d(ys, max(3, int(2.0 / step_x)), mode="nearest")
    obs = gaussian_filter1d(
        np.clip(ys - gaussian_filter1d(base, 1.0 / step_x), 0, None),
        max(smooth_fw / 2.355 / step_x, 0.5),
    )
    # reflections (K-alpha1 only) and their weights
    hkl = m.refl.hkl
    cell0 = _expand(m.system, m.unique, p0[:k], m.free_ref)
    gstar = reciprocal_metric(cell0)
    axes = [m.names[i] for i in lengths]  # which of a, b, c each grid axis scales
    col = {"a": [0], "b": [1], "c": [2]}
    if m.system in ("hexagonal", "tetragonal"):
        col["a"] = [0, 1]
    if m.system in ("cubic", "rhombohedral"):
        col["a"] = [0, 1, 2]
    fr = np.arange(-n_grid, n_grid + 1) * coarse
    mesh = np.stack(np.meshgrid(*([fr] * len(axes)), indexing="ij"), -1).reshape(-1, len(axes))
    scale = np.ones((len(mesh), 3))
    for j, name in enumerate(axes):
        for c_ in col[name]:
            scale[:, c_] = 1 + mesh[:, j]
    lam = m.lams[0][0]
    best_score, best_s = -math.inf, np.zeros(len(axes))
    for chunk in range(0, len(mesh), 4096):
        sc = scale[chunk : chunk + 4096]
        hs = hkl[None, :, :] / sc[:, None, :]
        q2 = np.einsum("nri,ij,nrj->nr", hs, gstar, hs)
        sarg = lam * np.sqrt(q2) / 2
        tt = np.where(sarg < 1, 2 * np.degrees(np.arcsin(np.clip(sarg, 0, 1))), np.inf)
        inside = tt <= cut
        vals = np.interp(np.where(inside, tt, xs[0]), xs, obs) * inside
        wsum = (weights[None, :] * inside).sum(1)
        score = (vals * weights[None, :]).sum(1) / np.where(wsum > 0, wsum, np.inf)
        i = int(np.argmax(score))
        if score[i] > best_score:
            best_score, best_s = float(score[i]), mesh[chunk + i]
    best = p0.copy()
    for j, i in enumerate(lengths):
        best[i] = p0[i] * (1 + best_s[j])

    sub = _PawleyModel(xs, ys, m.w[low], m.refl, m.system, m.unique, m.free_ref, m.lams, 6, m.names)
    fine = max(0.3 * fw0 / deg_per_strain, 1e-4)

    def cost(q):
        return float(np.sum(sub.residual(q) ** 2))

    for _ in range(2):
        for i in lengths:
            start = best.copy()
            trials = []
            for s in np.arange(-3 * coarse, 3 * coarse + fine / 2, fine):
                q = start.copy()
                q[i] = start[i] * (1 + s)
                trials.append((cost(q), q))
            best = min(trials, key=lambda t: t[0])[1]
    return best
