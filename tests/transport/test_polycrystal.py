"""The pellet (random polycrystal) conductivity of an anisotropic crystal.

Limits of the self-consistent effective-medium approximation (Stroud 1975): an isotropic
crystal is its own pellet; a 2D conductor (s, s, 0) gives s/2; a needle (s, e, e), e << s,
gives sqrt(s e / 2); a strict 1D conductor (s, 0, 0) is at the percolation threshold (0).
Always between the Reuss (harmonic) and Voigt (arithmetic) means; unchanged by the order
of the principal values; proportional to their scale; and from a tensor, independent of
the frame (a rotated tensor has the same pellet).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from halidelab.errors import SimulationError
from halidelab.transport.polycrystal import (
    conducting_principal_values,
    polycrystal_conductivity,
    principal_values,
    voigt_reuss_bounds,
)


def test_limits_of_the_effective_medium():
    assert polycrystal_conductivity([2.5, 2.5, 2.5]) == pytest.approx(2.5, rel=1e-12)
    assert polycrystal_conductivity([3.0, 3.0, 0.0]) == pytest.approx(1.5, rel=1e-10)
    for eps in (1e-4, 1e-6, 1e-9):
        assert polycrystal_conductivity([1.0, eps, eps]) == pytest.approx(
            math.sqrt(eps / 2), rel=5 * math.sqrt(eps) + 1e-9
        )
    assert polycrystal_conductivity([1.0, 0.0, 0.0]) == 0.0
    assert polycrystal_conductivity([0.0, 0.0, 0.0]) == 0.0


def test_the_root_solves_the_self_consistency_and_lies_between_the_bounds():
    rng = np.random.default_rng(3)
    for _ in range(200):
        s = 10.0 ** rng.uniform(-8, 0, 3)
        x = polycrystal_conductivity(s)
        assert np.sum((s - x) / (s + 2 * x)) == pytest.approx(0.0, abs=1e-9)
        lo, hi = voigt_reuss_bounds(s)
        assert lo * (1 - 1e-12) <= x <= hi * (1 + 1e-12)
        assert lo == pytest.approx(3 / np.sum(1 / s)) and hi == pytest.approx(s.mean())
        assert polycrystal_conductivity(s[::-1]) == pytest.approx(x, rel=1e-12)
        assert polycrystal_conductivity(7.0 * s) == pytest.approx(7.0 * x, rel=1e-10)


def test_a_rotated_tensor_has_the_same_pellet():
    rng = np.random.default_rng(5)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    t = q @ np.diag([1e-3, 2e-5, 2e-5]) @ q.T
    assert principal_values(t) == pytest.approx([2e-5, 2e-5, 1e-3], rel=1e-9)
    assert polycrystal_conductivity(principal_values(t)) == pytest.approx(
        polycrystal_conductivity([1e-3, 2e-5, 2e-5]), rel=1e-9
    )


def test_bad_principal_values_are_refused():
    with pytest.raises(SimulationError, match="clip"):
        polycrystal_conductivity([1.0, -0.1, 1.0])
    with pytest.raises(SimulationError, match="three finite"):
        polycrystal_conductivity([1.0, 1.0])
    with pytest.raises(SimulationError, match="3x3"):
        principal_values([[1.0, 0.0], [0.0, 1.0]])


def test_rounding_and_negative_directions_do_not_conduct():
    """A direction with no motion gives eigenvalues of rounding size (1e-12 relative) or a
    small negative one from noise: both are no conduction, so a strict needle has no pellet
    (the effective medium would turn 1e-12 into 1e-6 of the fast axis)."""
    t = np.diag([1.0e-5, 2.0e-17, -3.0e-18])
    assert conducting_principal_values(t).tolist() == [0.0, 0.0, 1.0e-5]
    assert polycrystal_conductivity(conducting_principal_values(t)) == 0.0
    assert polycrystal_conductivity(principal_values(t).clip(0)) > 0  # what rounding would give
    slow = np.diag([1.0e-5, 1.0e-12, 1.0e-12])  # 1e-7 relative: a real slow direction
    assert conducting_principal_values(slow).tolist() == pytest.approx([1e-12, 1e-12, 1e-5])
    assert conducting_principal_values(np.zeros((3, 3))).tolist() == [0.0, 0.0, 0.0]


def test_the_jackknife_of_a_mean_is_its_standard_error():
    from halidelab.transport.polycrystal import jackknife_se

    x = np.random.default_rng(2).normal(size=11)
    loo = [(x.sum() - v) / (len(x) - 1) for v in x]
    assert jackknife_se(loo) == pytest.approx(x.std(ddof=1) / np.sqrt(len(x)), rel=1e-12)
