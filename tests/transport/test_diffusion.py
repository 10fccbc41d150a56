"""MSD by FFT, D with calibrated uncertainty, per-axis D, Nernst-Einstein, Arrhenius."""

from __future__ import annotations

import numpy as np
import pytest

from halidelab.constants import A2_PS_TO_CM2_S, E_CHARGE_C, K_B_J_K
from halidelab.errors import FitError
from halidelab.transport.diffusion import (
    MIN_HOPS,
    analyse_positions,
    count_hops,
    fit_diffusion,
    he_rsd,
    md_arrhenius,
    msd_direct,
    msd_fft,
    nernst_einstein_S_cm,
    unwrap,
)

CELL = np.diag([10.0, 10.0, 12.0])


def walk(d_axes_A2_ps, n_frames=400, n_atoms=16, dt_ps=0.1, seed=0):
    rng = np.random.default_rng(seed)
    scale = np.sqrt(2 * np.asarray(d_axes_A2_ps) * dt_ps)
    steps = rng.normal(size=(n_frames - 1, n_atoms, 3)) * scale
    x = np.concatenate([rng.random((1, n_atoms, 3)) * 10, steps], axis=0).cumsum(axis=0)
    return x, np.arange(n_frames) * dt_ps


def test_msd_fft_equals_direct_loop():
    x, _ = walk([0.3, 0.5, 0.7], n_frames=120, n_atoms=5)
    assert np.allclose(msd_fft(x), msd_direct(x), atol=1e-9)


def test_msd_of_a_fixed_lattice_is_zero():
    x = np.repeat(np.random.default_rng(1).random((1, 8, 3)) * 10, 50, axis=0)
    assert np.abs(msd_fft(x)).max() < 1e-9
    # vibration without diffusion: not diffusive, and no number for D or sigma
    vib = x + np.random.default_rng(2).normal(0, 0.1, x.shape)
    mob = np.ones(8, bool)
    res = analyse_positions(vib, CELL, np.arange(50) * 0.1, mob, 600.0)
    assert not res.diffusive and res.checks.n_hops == 0
    assert res.d_cm2_s is None and res.sigma_S_cm is None and res.axes == ()
    assert res.verdict.startswith("not diffusive") and "600 K" in res.verdict


def test_unwrap_recovers_positions_crossing_the_boundary():
    x, _ = walk([0.5, 0.5, 0.5], n_frames=200, n_atoms=4, dt_ps=0.05)
    frac = (x @ np.linalg.inv(CELL)) % 1.0
    assert np.allclose(unwrap(frac, CELL) - unwrap(frac, CELL)[0], x - x[0], atol=1e-9)


def test_random_walk_recovers_d_with_calibrated_uncertainty():
    d_true = 0.5  # A^2/ps
    z, rel = [], []
    for seed in range(40):
        x, t = walk([d_true] * 3, seed=seed)
        f = fit_diffusion(t, msd_fft(x).sum(axis=1), n_atoms=16, n_steps=len(t) - 1)
        z.append((f.d_cm2_s / A2_PS_TO_CM2_S - d_true) / (f.d_err_cm2_s / A2_PS_TO_CM2_S))
        rel.append(f.d_err_cm2_s / f.d_cm2_s)
    z = np.array(z)
    assert 0.55 <= np.mean(np.abs(z) < 1) <= 0.85  # one-sigma coverage ~ 68%
    assert np.mean(np.abs(z) < 2) >= 0.88
    assert 0.7 < z.std() < 1.4 and abs(z.mean()) < 0.5
    assert 0.03 < np.mean(rel) < 0.3  # neither absurdly small nor huge


def test_ols_error_would_be_too_small():
    # the reason for the covariance-aware fit: naive OLS standard errors under-cover
    d_true, z = 0.5, []
    for seed in range(20):
        x, t = walk([d_true] * 3, seed=100 + seed)
        m = msd_fft(x).sum(axis=1)
        sel = slice(40, 200)
        coef, cov = np.polyfit(t[sel], m[sel], 1, cov=True)
        z.append((coef[0] / 6 - d_true) / (np.sqrt(cov[0, 0]) / 6))
    assert np.std(z) > 3


def test_per_axis_and_c_vs_ab_anisotropy():
    x, t = walk([0.2, 0.2, 1.0], n_frames=500, n_atoms=24, seed=3)
    res = analyse_positions(x, CELL, t, np.ones(24, bool), 600.0)
    by = {a.direction: a for a in res.axes}
    for lab, d in (("x", 0.2), ("y", 0.2), ("z", 1.0), ("c", 1.0), ("ab", 0.2)):
        fit = by[lab]
        assert abs(fit.d_cm2_s / A2_PS_TO_CM2_S - d) < 4 * fit.d_err_cm2_s / A2_PS_TO_CM2_S
    assert 3.0 < res.anisotropy_c_ab < 7.0
    assert res.d_cm2_s / A2_PS_TO_CM2_S == pytest.approx((0.2 + 0.2 + 1.0) / 3, rel=0.2)


def test_framework_drift_is_removed():
    x, t = walk([0.3] * 3, n_frames=300, n_atoms=10, seed=5)
    frame = np.zeros((300, 6, 3)) + np.array([1.0, 2.0, 3.0])
    drift = (t * 0.5)[:, None, None] * np.array([1.0, 0.0, 0.0])
    allx = np.concatenate([x, frame], axis=1) + drift
    mob = np.arange(16) < 10
    with_drift = analyse_positions(allx, CELL, t, mob, 600.0)
    clean = analyse_positions(x, CELL, t, np.ones(10, bool), 600.0)
    assert with_drift.d_cm2_s == pytest.approx(clean.d_cm2_s, rel=1e-6)


def test_nernst_einstein_by_hand():
    # n = 1e22 cm^-3, D = 1e-6 cm^2/s, T = 600 K, z = 1
    sigma = nernst_einstein_S_cm(1e-6, 1e22, 600.0)
    by_hand = 1e22 * E_CHARGE_C**2 * 1e-6 / (K_B_J_K * 600.0)
    assert sigma == pytest.approx(by_hand, rel=1e-12)
    assert sigma == pytest.approx(0.0310, rel=2e-3)  # 0.031 S/cm
    assert nernst_einstein_S_cm(1e-6, 1e22, 600.0, haven_ratio=0.5) == pytest.approx(2 * sigma)
    with pytest.raises(FitError):
        nernst_einstein_S_cm(1e-6, 1e22, 600.0, haven_ratio=0)


def test_md_arrhenius_recovers_ea_and_warns_for_far_extrapolation():
    ea, d0 = 0.30, 1e-3  # eV, cm^2/s
    kb = 8.617333262e-5
    results = []
    for i, T in enumerate((600.0, 700.0, 800.0, 900.0)):
        d_A2_ps = d0 * np.exp(-ea / (kb * T)) / A2_PS_TO_CM2_S
        x, t = walk([d_A2_ps] * 3, n_frames=400, n_atoms=32, dt_ps=0.2, seed=10 + i)
        results.append(analyse_positions(x, CELL, t, np.ones(32, bool), T, haven_ratio=1.0))
    arr = md_arrhenius(results)
    assert abs(arr.ea_eV - ea) < 3 * arr.ea_err_eV + 0.01
    assert any("300 K" in w for w in arr.warnings)
    assert arr.sigma_300K_low_S_cm < arr.sigma_300K_S_cm < arr.sigma_300K_high_S_cm
    assert arr.haven_ratio == 1.0


def test_md_arrhenius_names_both_extrapolation_targets_in_one_warning():
    # 25 C (the fit's room temperature) and 300 K (the MD extrapolation) are one warning
    kb = 8.617333262e-5
    results = []
    for i, T in enumerate((700.0, 900.0)):
        d_A2_ps = 1e-3 * np.exp(-0.3 / (kb * T)) / A2_PS_TO_CM2_S
        x, t = walk([d_A2_ps] * 3, n_frames=200, n_atoms=16, dt_ps=0.2, seed=i)
        results.append(analyse_positions(x, CELL, t, np.ones(16, bool), T, haven_ratio=1.0))
    ext = [w for w in md_arrhenius(results).warnings if w.startswith("extrapolating to")]
    assert len(ext) == 1
    assert "298.1 K (25 C)" in ext[0] and "300.0 K" in ext[0]


# ------------------------------------------------------------ honest statistics


def lattice_gas(n_atoms=24, n_frames=600, dt_ps=0.02, rate_per_ps=2.0, a=3.0, vib_A=0.25, seed=0):
    """Independent hoppers on a simple cubic lattice (spacing a) with thermal noise.

    Each atom hops to one of its 6 neighbours at total rate ``rate_per_ps``; positions
    are recorded every ``dt_ps`` with Gaussian vibration. D = rate a^2 / 6 exactly.
    Returns positions, times and the true number of hops.
    """
    rng = np.random.default_rng(seed)
    dirs = np.vstack([np.eye(3), -np.eye(3)]) * a
    site = np.floor(rng.random((n_atoms, 3)) * 4) * a
    pos, true_hops = [], 0
    for _ in range(n_frames):
        pos.append(site + rng.normal(0, vib_A, site.shape))
        k = rng.poisson(rate_per_ps * dt_ps, n_atoms)
        true_hops += int(k.sum())
        for i in np.nonzero(k)[0]:
            site[i] += dirs[rng.integers(6, size=k[i])].sum(axis=0)
    return np.array(pos), np.arange(n_frames) * dt_ps, true_hops


@pytest.mark.parametrize(("rate", "floor"), [(0.5, 0.93), (2.0, 0.85)])
def test_hop_count_equals_the_true_number_of_hops(rate, floor):
    """Never more hops than happened (thermal noise is not a hop); hops closer in time
    than the 0.05 ps averaging block merge, so at 2 hops/ps/atom ~10% are missed (MD of
    these conductors has residence times of ps: fewer)."""
    for seed in range(3):
        x, t, true = lattice_gas(rate_per_ps=rate, seed=seed)
        counted = count_hops(x, t, hop_distance_A=3.0)
        assert floor * true <= counted <= true
    vib, t, _ = lattice_gas(rate_per_ps=0.0, vib_A=0.4)
    assert count_hops(vib, t, hop_distance_A=3.0) == 0


def test_lattice_gas_gives_d_within_its_error_and_he_rsd():
    rate, a = 2.0, 3.0
    x, t, _ = lattice_gas(rate_per_ps=rate, a=a, seed=3)
    res = analyse_positions(
        x, np.diag([12.0, 12.0, 12.0]) * 10, t, np.ones(x.shape[1], bool), 600.0, hop_distance_A=a
    )
    assert res.diffusive, res.verdict
    d_true = rate * a * a / 6 * A2_PS_TO_CM2_S
    assert abs(res.d_cm2_s - d_true) < 2.5 * res.d_err_cm2_s
    assert res.d_rsd_hops == pytest.approx(he_rsd(res.checks.n_eff_hops))
    assert res.d_err_cm2_s >= res.d_err_gls_cm2_s


def test_he_rsd_formula():
    assert he_rsd(100) == pytest.approx(3.43 / 10 + 0.04)
    assert he_rsd(0) == float("inf")


def test_rattling_between_two_sites_is_not_diffusive():
    """Many hops, but each atom goes back and forth between two sites: no long-range
    transport, flat MSD (log-log slope ~ 0), so no D."""
    rng = np.random.default_rng(5)
    n, frames, dt = 16, 500, 0.02
    base = rng.random((n, 3)) * 10
    side = (np.cumsum(rng.random((frames, n)) < 0.1, axis=0) % 2).astype(float)
    x = base[None] + side[..., None] * np.array([3.0, 0, 0]) + rng.normal(0, 0.2, (frames, n, 3))
    res = analyse_positions(
        x, np.diag([30.0] * 3), np.arange(frames) * dt, np.ones(n, bool), 600.0, hop_distance_A=3.0
    )
    assert res.checks.n_hops >= MIN_HOPS
    assert not res.diffusive and res.d_cm2_s is None
    assert any("log-log slope" in r for r in res.checks.reasons)


def test_short_run_says_how_long_to_run():
    x, t, _ = lattice_gas(n_frames=10, rate_per_ps=0.5, seed=2)  # 0.2 ps, ~2 hops in all
    res = analyse_positions(
        x, np.diag([120.0] * 3), t, np.ones(x.shape[1], bool), 700.0, hop_distance_A=3.0
    )
    assert not res.diffusive and res.sigma_S_cm is None
    assert res.checks.needed_ps > 10 * res.duration_ps
    assert "need about" in res.verdict and "at 700 K" in res.verdict


def test_md_arrhenius_excludes_non_diffusive_runs_and_refuses_with_one_left():
    runs = []
    for T, rate in ((600.0, 1.0), (700.0, 2.0), (800.0, 3.5)):
        x, t, _ = lattice_gas(rate_per_ps=rate, seed=int(T))
        runs.append(
            analyse_positions(
                x, np.diag([120.0] * 3), t, np.ones(x.shape[1], bool), T, hop_distance_A=3.0
            )
        )
    x, t, _ = lattice_gas(n_frames=10, rate_per_ps=0.1, seed=9)
    cold = analyse_positions(
        x, np.diag([120.0] * 3), t, np.ones(x.shape[1], bool), 500.0, hop_distance_A=3.0
    )
    assert not cold.diffusive
    arr = md_arrhenius([cold, *runs])
    assert arr.temperatures_K == (600.0, 700.0, 800.0)
    assert any(w.startswith("excluded 500 K: not diffusive") for w in arr.warnings)
    with pytest.raises(FitError, match="not diffusive"):
        md_arrhenius([cold, runs[0]])


def test_the_tracer_tensor_and_pellet_of_a_rotated_needle():
    """Random walkers with D = (0.1, 0.1, 1.0) A^2/ps along axes rotated off the Cartesian
    ones: the tensor comes back in the Cartesian frame, and the pellet's sigma is sigma times
    the effective-medium value of (0.1, 0.1, 1.0) over their mean; an isotropic walk's pellet
    is its own sigma."""
    from halidelab.transport.polycrystal import polycrystal_conductivity

    rot, _ = np.linalg.qr(np.random.default_rng(7).normal(size=(3, 3)))
    d_axes = np.array([0.1, 0.1, 1.0])
    x, t = walk(d_axes, n_frames=500, n_atoms=48, seed=4)
    res = analyse_positions(x @ rot.T, CELL, t, np.ones(48, bool), 600.0)
    tensor = np.asarray(res.d_tensor_cm2_s) / A2_PS_TO_CM2_S
    expected = rot @ np.diag(d_axes) @ rot.T
    assert np.abs(tensor - expected).max() < 0.15 * d_axes.max()
    assert np.trace(tensor) / 3 == pytest.approx(res.d_cm2_s / A2_PS_TO_CM2_S, rel=0.1)
    ratio = polycrystal_conductivity(d_axes) / d_axes.mean()
    assert ratio < 0.7  # 0.25 / 0.4
    pellet = res.sigma_S_cm * ratio
    assert abs(res.sigma_polycrystal_S_cm - pellet) < 3 * res.sigma_polycrystal_err_S_cm
    assert res.sigma_polycrystal_err_S_cm < 0.3 * res.sigma_polycrystal_S_cm
    iso = analyse_positions(
        *walk([0.4] * 3, n_frames=500, n_atoms=48, seed=5)[:1], CELL, t, np.ones(48, bool), 600.0
    )
    assert 0.9 * iso.sigma_S_cm < iso.sigma_polycrystal_S_cm <= iso.sigma_S_cm


def test_md_arrhenius_of_the_pellet_needs_the_slow_directions():
    """Fast axis 0.2 eV, slow axes 0.4 eV: the orientation average follows the fast axis,
    the pellet's Ea lies between the two (its exact effective-medium value)."""
    from halidelab.transport.polycrystal import polycrystal_conductivity

    kb, d0 = 8.617333262e-5, 1e-3
    temps, results, exact = (600.0, 700.0, 800.0, 900.0), [], []
    for i, T in enumerate(temps):
        d = np.array([d0 * np.exp(-e / (kb * T)) for e in (0.4, 0.4, 0.2)]) / A2_PS_TO_CM2_S
        x, t = walk(d, n_frames=400, n_atoms=48, dt_ps=0.2, seed=20 + i)
        results.append(analyse_positions(x, CELL, t, np.ones(48, bool), T, haven_ratio=1.0))
        exact.append(np.log(polycrystal_conductivity(d)))  # the fit is of sigma T ~ D
    arr = md_arrhenius(results)
    slope = np.polyfit([1 / (kb * T) for T in temps], exact, 1)[0]
    pc = arr.polycrystal
    assert 0.25 < -slope < 0.4
    assert abs(pc["ea_eV"] - (-slope)) < 3 * pc["ea_err_eV"] + 0.02
    assert pc["ea_eV"] > arr.ea_eV + 0.03
    assert pc["sigma_300K_S_cm"] < arr.sigma_300K_S_cm


def test_a_strict_1d_conductor_has_no_pellet_value_and_says_why():
    """Walkers along z only: the crystal conducts, a random pellet of it does not (one
    conducting direction in three is the effective-medium threshold), so the pellet fit
    gives a reason instead of a number while the orientation average keeps its Ea."""
    kb, d0 = 8.617333262e-5, 1e-3
    results = []
    for i, T in enumerate((600.0, 800.0)):
        d = np.array([0.0, 0.0, d0 * np.exp(-0.3 / (kb * T))]) / A2_PS_TO_CM2_S
        x, t = walk(d, n_frames=400, n_atoms=32, dt_ps=0.2, seed=40 + i)
        res = analyse_positions(x, CELL, t, np.ones(32, bool), T, haven_ratio=1.0)
        assert res.diffusive and res.sigma_polycrystal_S_cm == 0.0
        results.append(res)
    arr = md_arrhenius(results)
    assert arr.ea_eV == pytest.approx(0.3, abs=0.1)
    assert (
        "ea_eV" not in arr.polycrystal and "fewer than two directions" in arr.polycrystal["reason"]
    )
