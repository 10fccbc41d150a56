"""Composition features of the prior: element statistics and halide physics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from halidelab.errors import CompositionError
from halidelab.prior.data import load_obelix
from halidelab.prior.features import (
    ELEMENT_PROPERTIES,
    PACKING_CODE,
    PHYSICS_FEATURES,
    STATISTICS,
    feature_names,
    featurize,
)
from halidelab.rules import radius_ratio

NAMES = feature_names()


def col(x: np.ndarray, name: str) -> np.ndarray:
    return x[:, NAMES.index(name)]


def test_shape_and_names():
    x = featurize(["Li3YCl6", "Li7La3Zr2O12"])
    assert (
        x.shape
        == (2, len(NAMES))
        == (2, len(ELEMENT_PROPERTIES) * len(STATISTICS) + len(PHYSICS_FEATURES))
    )
    assert featurize([]).shape == (0, len(NAMES))


def test_element_statistics_by_hand():
    x = featurize(["LiCl"])  # Z: Li 3, Cl 17, half each
    assert col(x, "Z_mean")[0] == pytest.approx(10.0)
    assert col(x, "Z_mad")[0] == pytest.approx(7.0)
    assert col(x, "Z_min")[0] == 3 and col(x, "Z_max")[0] == 17 and col(x, "Z_range")[0] == 14
    assert col(x, "X_mean")[0] == pytest.approx((0.98 + 3.16) / 2)


def test_features_do_not_depend_on_formula_scaling():
    a, b = featurize(["Li3YCl6", "Li6Y2Cl12"])
    np.testing.assert_allclose(a, b, equal_nan=True)


def test_halide_physics_known_values():
    x = featurize(["Li3YCl6", "Li2ZrCl6", "Li1.8Zr0.8Nb0.2Cl6", "Li3InCl6"])
    # t = r(M)/r(X), Shannon crystal radii CN 6 (Y3+ 1.04, Zr4+ 0.86, In3+ 0.94, Cl- 1.67 A)
    np.testing.assert_allclose(
        col(x, "t_radius_ratio"),
        [1.04 / 1.67, 0.86 / 1.67, (0.8 * 0.86 + 0.2 * 0.78) / 1.67, 0.94 / 1.67],
        atol=2e-3,
    )
    assert list(col(x, "packing_code")) == [
        PACKING_CODE["hcp"],
        PACKING_CODE["ccp"],
        PACKING_CODE["ccp"],
        PACKING_CODE["ccp"],
    ]
    # octahedral sites: one per anion; Li3YCl6 has Li : M : vacancy = 3 : 1 : 2
    np.testing.assert_allclose(
        col(x, "octahedral_vacancy_fraction"), [2 / 6, 3 / 6, 1 - 2.8 / 6, 2 / 6]
    )
    np.testing.assert_allclose(col(x, "li_site_fraction"), [3 / 6, 2 / 6, 1.8 / 6, 3 / 6])
    # Nb5+ (0.64 A) vs Zr4+ (0.72 A) ionic radii: 11.1 % mismatch; single-M parents: 0
    np.testing.assert_allclose(
        col(x, "m_mismatch_percent"), [0, 0, 100 * 0.08 / 0.72, 0], atol=0.05
    )
    np.testing.assert_allclose(col(x, "m_mean_valence"), [3, 4, 4.2, 3])
    np.testing.assert_allclose(col(x, "li_per_anion"), [0.5, 1 / 3, 0.3, 0.5])


def test_undefined_physics_is_nan_not_an_error():
    x = featurize(["Li7La3Zr2O12", "LiZrCl7", "LiBH4"])
    # octahedral-site picture is for close-packed halides only
    assert math.isnan(col(x, "octahedral_vacancy_fraction")[0])
    # LiZrCl7 cannot be charge balanced with usual valences: t undefined
    assert math.isnan(col(x, "t_radius_ratio")[1])
    assert math.isnan(col(x, "m_mean_valence")[1])
    # no M cation besides B... LiBH4 is a hydride; physics of M-X packing undefined
    assert math.isnan(col(x, "octahedral_vacancy_fraction")[2])
    stats = x[:, : len(ELEMENT_PROPERTIES) * len(STATISTICS)]
    assert np.isfinite(stats).all()


def test_every_obelix_composition_featurizes():
    table = load_obelix("all")
    x = featurize(table["formula"])
    assert x.shape[0] == len(table)
    stats = x[:, : len(ELEMENT_PROPERTIES) * len(STATISTICS)]
    assert np.isfinite(stats).all()
    fam = [f"family_{f}" for f in ("halide", "sulfide", "oxide", "nitride", "hydride", "other")]
    onehot = np.column_stack([col(x, f) for f in fam])
    assert (onehot.sum(axis=1) == 1).all()
    # t is NaN exactly where the foundation cannot assign valences or there is no M
    for formula, t in zip(
        table["formula"][halide_mask(x)], col(x, "t_radius_ratio")[halide_mask(x)], strict=True
    ):
        try:
            radius_ratio(formula)
            defined = True
        except CompositionError:
            defined = False
        assert np.isfinite(t) == defined, formula
    assert np.isfinite(col(x, "t_radius_ratio")[halide_mask(x)]).mean() > 0.7


def halide_mask(x: np.ndarray) -> np.ndarray:
    return col(x, "family_halide") == 1
