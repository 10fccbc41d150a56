"""Radius-ratio rules against the review's classification and Shannon's table."""

from __future__ import annotations

import pytest

from halidelab.composition import Substitution, design_composition
from halidelab.designer import design
from halidelab.errors import CompositionError
from halidelab.rules import (
    known_polymorphs,
    mismatch_percent,
    predict_packing,
    radius_ratio,
    shannon_radius,
)


def test_shannon_radii_from_the_table():
    # Shannon 1976, CN VI: Nb5+ 0.64, Zr4+ 0.72 (ionic); Cl- 1.81 ionic, 1.67 crystal
    assert shannon_radius("Nb", 5) == pytest.approx(0.64)
    assert shannon_radius("Zr", 4) == pytest.approx(0.72)
    assert shannon_radius("Cl", -1) == pytest.approx(1.81)
    assert shannon_radius("Cl", -1, radius_type="crystal") == pytest.approx(1.67)
    with pytest.raises(CompositionError):
        shannon_radius("Nb", 5, cn="XII")


@pytest.mark.parametrize(
    "formula, t, packing",
    [
        ("Li3YCl6", 1.04 / 1.67, "hcp"),
        ("Li3ErCl6", 1.03 / 1.67, "hcp"),
        ("Li3LuCl6", 1.001 / 1.67, "hcp"),
        ("Li3InCl6", 0.94 / 1.67, "ccp"),
        ("Li3ScCl6", 0.885 / 1.67, "ccp"),
        ("Li3YBr6", 1.04 / 1.82, "ccp"),
        ("Li2ZrCl6", 0.86 / 1.67, "ccp"),
    ],
)
def test_radius_ratio_classifies_as_the_review(formula, t, packing):
    assert radius_ratio(formula) == pytest.approx(t, abs=1e-3)
    assert predict_packing(radius_ratio(formula)).packing == packing


def test_ionic_radii_would_misclassify():
    # the review's ranges hold with crystal radii; with ionic radii Li3YCl6 is not hcp
    t_ionic = shannon_radius("Y", 3) / shannon_radius("Cl", -1)
    assert predict_packing(t_ionic).packing != "hcp"


def test_large_cations_are_not_close_packed_and_small_are_tetrahedral():
    assert predict_packing(radius_ratio("Li3LaCl6")).packing == "non-close-packed"
    assert predict_packing(radius_ratio("LiAlCl4")).packing == "tetrahedral"
    assert predict_packing(0.515, anions_per_m=4).family == "spinel Fd-3m"


def test_mismatch_uses_ionic_radii():
    assert mismatch_percent("Zr", 4, "Nb", 5) == pytest.approx(100 * (0.64 - 0.72) / 0.72)


def test_reference_case_series_has_one_packing_and_no_warning():
    rep = design("Li2ZrCl6", dopant="Nb", site="Zr", x=[0, 0.1, 0.2, 0.3, 0.4, 0.5])
    c = rep.entries[2].composition
    assert c.formula == "Li1.8Zr0.8Nb0.2Cl6" and c.li_vacancies_per_fu == pytest.approx(0.2)
    fit = rep.entries[2].fit.dopants[0]
    assert (fit.r_dopant_A, fit.r_host_A) == (0.64, 0.72)
    assert abs(fit.mismatch_percent) == pytest.approx(11.1, abs=0.1)
    assert len({e.fit.packing.packing for e in rep.entries}) == 1
    assert not any("structure" in w for w in rep.warnings)
    assert rep.warnings == ()
    # t predicts ccp, and the metastable ball-milled trigonal phase is reported
    assert rep.parent_fit.packing.packing == "ccp"
    trig = [p for p in rep.polymorphs if p.space_group == "P-3m1"]
    assert trig and trig[0].stability == "metastable" and "ball mill" in trig[0].synthesis
    assert any("P-3m1" in n and "unlike t" in n for n in rep.notes)
    # Vegard-like contraction of t along the series (Nb smaller than Zr)
    ts = [e.fit.t for e in rep.entries]
    assert all(a > b for a, b in zip(ts, ts[1:], strict=False))


def test_zr_into_li3ybcl6_warns_of_a_structure_change():
    rep = design("Li3YbCl6", dopant="Zr", site="Yb", x="0.1..0.5:0.1")
    assert any("structure change" in w for w in rep.warnings)


def test_zr_into_li3ycl6_crosses_the_trigonal_orthorhombic_boundary():
    # Li3-xY1-xZrxCl6 is known to go from trigonal to orthorhombic on Zr substitution
    rep = design("Li3YCl6", dopant="Zr", site="Y", x=[0, 0.2, 0.4])
    assert any("structure" in w for w in rep.warnings)


def test_known_polymorphs_lookup_ignores_formula_order():
    assert known_polymorphs("Cl6ZrLi2")[0].space_group == "P-3m1"
    assert known_polymorphs("Li5NCl2") == ()


def test_in_into_li2zrcl6_gives_interstitial_li_and_no_warning():
    d = design_composition("Li2ZrCl6", Substitution("In", "Zr", 0.2))
    assert d.amounts["Li"] == pytest.approx(2.2) and d.li_interstitials_per_fu == pytest.approx(0.2)
