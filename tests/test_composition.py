"""Charge balance and Li bookkeeping from chemistry, not from the code's output."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from halidelab.composition import (
    Substitution,
    assign_oxidation_states,
    design_composition,
    format_formula,
    parse_substitution,
    parse_x_values,
)
from halidelab.errors import CompositionError


def charge(d) -> float:
    return sum(d.oxidation_states[el] * n for el, n in d.amounts.items())


def test_reference_case_nb_in_li2zrcl6():
    d = design_composition("Li2ZrCl6", Substitution("Nb", "Zr", 0.2))
    assert d.formula == "Li1.8Zr0.8Nb0.2Cl6"
    assert d.oxidation_states == {"Li": 1, "Zr": 4, "Nb": 5, "Cl": -1}
    assert d.li_vacancies_per_fu == pytest.approx(0.2)
    assert d.li_interstitials_per_fu == 0
    assert charge(d) == pytest.approx(0.0, abs=1e-12)
    # six octahedral sites per Cl6: 1.8 Li, 1 M, 3.2 empty
    assert d.octahedral_sites_per_fu == 6
    assert d.li_site_fraction * 6 == pytest.approx(1.8)
    assert d.m_site_fraction * 6 == pytest.approx(1.0)
    assert d.vacancy_site_fraction * 6 == pytest.approx(3.2)


def test_li3mcl6_octahedral_ratio_is_3_1_2():
    d = design_composition("Li3YCl6")
    ratio = [d.li_site_fraction * 6, d.m_site_fraction * 6, d.vacancy_site_fraction * 6]
    assert ratio == pytest.approx([3, 1, 2])


def test_lower_valent_dopant_adds_interstitial_li():
    d = design_composition("Li2ZrCl6", Substitution("In", "Zr", 0.3))
    assert d.amounts["Li"] == pytest.approx(2.3)
    assert d.li_interstitials_per_fu == pytest.approx(0.3)
    assert d.li_vacancies_per_fu == 0


def test_oxide_on_chloride_site_adds_li():
    d = design_composition("Li2ZrCl6", Substitution("O", "Cl", 0.5))
    assert d.oxidation_states["O"] == -2
    assert d.amounts == pytest.approx({"Li": 2.5, "Zr": 1.0, "Cl": 5.5, "O": 0.5})


def test_nitride_on_chloride_site_adds_two_li_per_n():
    d = design_composition("Li3YCl6", Substitution("N", "Cl", 0.1))
    assert d.amounts["Li"] == pytest.approx(3.2)


def test_zr_in_li3incl6_creates_vacancies():
    d = design_composition("Li3InCl6", Substitution("Zr", "In", 0.5))
    assert d.formula == "Li2.5In0.5Zr0.5Cl6"
    assert d.li_vacancies_per_fu == pytest.approx(0.5)


def test_high_entropy_mix_is_neutral():
    subs = [
        Substitution(e, "In", x) for e, x in [("Y", 0.16), ("Er", 0.16), ("Yb", 0.16), ("Zr", 0.25)]
    ]
    d = design_composition("Li3InCl6", subs)
    assert d.amounts["Li"] == pytest.approx(2.75)
    assert d.amounts["In"] == pytest.approx(0.27)
    assert charge(d) == pytest.approx(0.0, abs=1e-12)


def test_double_doping_two_sites():
    d = design_composition("Li3YCl6", [Substitution("Zr", "Y", 0.2), Substitution("F", "Cl", 0.5)])
    # F- for Cl- is isovalent; Zr4+ removes 0.2 Li
    assert d.amounts["Li"] == pytest.approx(2.8)
    assert d.amounts["F"] == pytest.approx(0.5) and d.amounts["Cl"] == pytest.approx(5.5)


def test_explicit_valence_and_unusual_valence_warning():
    d = design_composition("Li2ZrCl6", Substitution("Nb", "Zr", 0.2, oxidation_state=4))
    assert d.li_per_fu == pytest.approx(2.0)
    assert any("unusual" in w for w in d.warnings)


def test_mg_on_li_site_creates_vacancies():
    d = design_composition("Li3InCl6", Substitution("Mg", "Li", 0.1))
    # 0.1 Li replaced by Mg, 0.1 more removed for charge
    assert d.amounts["Li"] == pytest.approx(2.8)
    assert charge(d) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    "parent, sub, match",
    [
        ("Li2ZrCl6", Substitution("Nb", "Y", 0.2), "no Y site"),
        ("Li2ZrCl6", Substitution("Nb", "Zr", 1.2), "occupancy above 1"),
        ("Li2ZrCl6", Substitution("Ta", "Zr", 0.6, 5), None),  # fine: Li 1.4
        ("Li2ZrCl6", Substitution("Nb", "Zr", -0.1), "negative"),
        ("Li2ZrCl6", Substitution("Nb", "Zr", math.nan), "not finite"),
        ("Li2ZrCl6", Substitution("Xx", "Zr", 0.1), "unknown element"),
        ("Li2ZrCl6", Substitution("O", "Zr", 0.1), "cation site"),
        ("Li2ZrCl6", Substitution("Nb", "Cl", 0.1), "anion site"),
        ("Li2ZrCl6", Substitution("Zr", "Zr", 0.1), "own site"),
        ("LiAlCl4", Substitution("Nb", "Al", 0.6), "cannot go below 0"),
        ("Li3ZrCl6", (), "not charge neutral"),
        ("ZrCl4", (), "no Li"),
        ("Li2Zr", (), "no anion"),
    ],
)
def test_impossible_requests_are_refused(parent, sub, match):
    if match is None:
        design_composition(parent, sub)
        return
    with pytest.raises(CompositionError, match=match):
        design_composition(parent, sub)


@pytest.mark.parametrize(
    "bad",
    ["", "   ", "Li2ZrCL6", "li2zrcl6", "Li2Zr$Cl6", "Li-2ZrCl6", "Li2Qq6", "Li2ZrCl6)", "123"],
)
def test_malformed_parents(bad):
    with pytest.raises(CompositionError):
        design_composition(bad)


def test_parse_x_values():
    assert parse_x_values("0,0.1,0.2") == [0, 0.1, 0.2]
    assert parse_x_values("0.1..0.5:0.1") == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    for bad in ["", "a", "0.5..0.1:0.1", "0..1:0", "0..1:-0.1", "0..1", "-0.1"]:
        with pytest.raises(CompositionError):
            parse_x_values(bad)


def test_parse_substitution():
    assert parse_substitution("Nb5+@Zr:0.2") == Substitution("Nb", "Zr", 0.2, 5)
    assert parse_substitution("O2-@Cl:0.5").oxidation_state == -2
    assert parse_substitution("Y:0.16", site="In") == Substitution("Y", "In", 0.16)
    for bad in ["Nb", "Nb@Zr", "nb@Zr:0.2", "Nb@Zr:abc", "@Zr:0.1"]:
        with pytest.raises(CompositionError):
            parse_substitution(bad)


def test_assign_oxidation_states_known_parents():
    assert assign_oxidation_states("Li3InCl6")["In"] == 3
    assert assign_oxidation_states("Li2ZrCl6")["Zr"] == 4
    assert assign_oxidation_states("Li2MgCl4")["Mg"] == 2
    assert assign_oxidation_states("LiNbOCl4")["Nb"] == 5
    assert assign_oxidation_states("Li6PS5Cl")["P"] == 5
    # M2+ chloride spinels use a halide-specific alternate valence
    assert assign_oxidation_states("Li2CrCl4")["Cr"] == 2
    assert assign_oxidation_states("Li2VCl4")["V"] == 2


def test_concentrations_per_cm3():
    d = design_composition("Li2ZrCl6", Substitution("Nb", "Zr", 0.2))
    c = d.concentrations_per_cm3(200.0)  # A^3 per formula unit
    assert c["li_per_cm3"] == pytest.approx(1.8 / 200e-24)
    assert c["li_vacancies_per_cm3"] == pytest.approx(0.2 / 200e-24)
    with pytest.raises(CompositionError):
        d.concentrations_per_cm3(-1)


def test_record_round_trip():
    d = design_composition(
        "Li3InCl6", [Substitution("Zr", "In", 0.2), Substitution("F", "Cl", 0.3)]
    )
    again = type(d).from_dict(d.to_dict())
    assert again == d


def test_format_formula():
    assert format_formula({"Li": 2.0, "Zr": 1.0, "Cl": 6.0}) == "Li2ZrCl6"
    assert format_formula({"Li": 1.8, "Zr": 0.8, "Nb": 0.2, "Cl": 6.0}) == "Li1.8Zr0.8Nb0.2Cl6"


PARENTS = ["Li2ZrCl6", "Li3YCl6", "Li3InCl6", "Li3ErCl6", "Li3YBr6", "Li2HfCl6"]
DOPANTS = [
    ("Nb", None),
    ("Ta", None),
    ("In", None),
    ("Mg", None),
    ("Sc", None),
    ("Zr", None),
    ("W", 6),
    ("Fe", 3),
    ("Y", None),
    ("Hf", None),
]


@settings(max_examples=150, deadline=None)
@given(
    parent=st.sampled_from(PARENTS),
    picks=st.lists(st.tuples(st.sampled_from(DOPANTS), st.floats(0, 1)), min_size=1, max_size=3),
    anion=st.tuples(st.sampled_from(["Br", "I", "F", "O"]), st.floats(0, 3)),
)
def test_property_every_design_is_neutral_and_bounded(parent, picks, anion):
    from halidelab.composition import parse_formula

    amounts = parse_formula(parent)
    m = next(el for el in amounts if el not in ("Li", "Cl", "Br"))
    x_el = next(el for el in amounts if el in ("Cl", "Br"))
    subs = [Substitution(d, m, x, q) for (d, q), x in picks if d != m]
    if anion[0] != x_el:
        subs.append(Substitution(anion[0], x_el, anion[1]))
    try:
        d = design_composition(parent, subs)
    except CompositionError:
        return  # refusing is fine; a wrong answer is not
    assert abs(charge(d)) < 1e-9
    assert d.li_per_fu >= 0
    assert all(n >= -1e-12 for n in d.amounts.values())
    # no site holds more than its host had
    assert sum(n for el, n in d.amounts.items() if d.oxidation_states[el] < 0) == pytest.approx(6)
    for frac in (d.li_site_fraction, d.m_site_fraction, d.vacancy_site_fraction):
        assert -1e-12 <= frac <= 1 + 1e-12
