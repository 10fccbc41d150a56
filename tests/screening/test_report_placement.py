"""Candidates among known halides: composition distance, placement, the report section."""

from __future__ import annotations

import math
import re

import pytest

from halidelab.errors import DataFormatError
from halidelab.literature import composition_distance, load_literature, nearest_known
from halidelab.report.placement import (
    PredictedSigma,
    known_entries,
    placement_figure,
    placement_rows,
    placement_section,
)


def test_composition_distance_is_a_stoichiometry_metric():
    # the same composition written per 5 formula units
    assert composition_distance("Li1.8Zr0.8Nb0.2Cl6", "Li9Zr4NbCl30") == pytest.approx(0.0)
    assert composition_distance("LiCl", "NaBr") == pytest.approx(1.0)
    a, b = "Li2ZrCl6", "Li3YCl6"
    assert composition_distance(a, b) == pytest.approx(composition_distance(b, a))
    # by hand: Li 2/9 vs 1.8/8.8, Zr 1/9 vs 0.8/8.8, Nb 0 vs 0.2/8.8, Cl 6/9 vs 6/8.8
    by_hand = 0.5 * (
        abs(2 / 9 - 1.8 / 8.8) + abs(1 / 9 - 0.8 / 8.8) + 0.2 / 8.8 + abs(6 / 9 - 6 / 8.8)
    )
    assert composition_distance("Li2ZrCl6", "Li1.8Zr0.8Nb0.2Cl6") == pytest.approx(by_hand)


def test_nearest_known_finds_the_reference_case():
    lit = load_literature()
    near = nearest_known("Li9Zr4NbCl30", lit, n=3)
    assert near["composition"].tolist()[:2] == ["Li1.8Zr0.8Nb0.2Cl6", "Li2ZrCl6"]
    assert near["distance"].iloc[0] == pytest.approx(0.0) and near["ea_eV"].iloc[
        0
    ] == pytest.approx(0.327)
    assert list(near["distance"]) == sorted(near["distance"])
    with pytest.raises(DataFormatError, match="n must be >= 1"):
        nearest_known("Li2ZrCl6", lit, n=0)
    with pytest.raises(DataFormatError, match="no sulfide entries"):
        nearest_known("Li2ZrCl6", lit[lit["family"] == "halide"], family="sulfide")


def test_candidates_sit_between_the_known_entries_they_lie_between(tmp_path):
    user = tmp_path / "mine.csv"
    user.write_text(
        "composition,name,sigma_S_cm,temperature_C,ea_eV,reference\n"
        "Li2.8Zr0.2Y0.8Cl6,our LYZC,1.2e-3,25,0.40,our pellet\n"
        "Li3YCl6,,2e-2,80,,hot measurement\n"
    )
    known, n_off = known_entries(load_literature([user]))
    assert n_off == 1  # the 80 C entry does not belong on a 25 C axis
    lznc = math.log10(1.03e-3)
    preds = [
        PredictedSigma("prior only", "Li1.9Zr0.9Ta0.1Cl6", -2.95, -4.0, -1.9, True),
        # MD, when it ran, decides the placement over the prior
        PredictedSigma(
            "with MD",
            "Li1.5Zr0.5Nb0.5Cl6",
            -6.0,
            -7.0,
            -5.0,
            False,
            md_sigma_300K_S_cm=10**-2.0,
            md_sigma_300K_low_S_cm=10**-2.3,
            md_sigma_300K_high_S_cm=10**-1.7,
            md_ea_eV=0.28,
            md_ea_err_eV=0.02,
        ),
        # MD too short to resolve an Ea (0.002 +- 0.08 eV): its 300 K value does not place it
        PredictedSigma(
            "unresolved MD",
            "Li1.5Zr0.5Ta0.5Cl6",
            -4.2,
            -7.2,
            -1.2,
            False,
            md_sigma_300K_S_cm=10.0,
            md_sigma_300K_low_S_cm=1.0,
            md_sigma_300K_high_S_cm=100.0,
            md_ea_eV=0.002,
            md_ea_err_eV=0.083,
        ),
        PredictedSigma("nothing", "Li2ZrCl6"),
    ]
    rows = placement_rows(preds, known)
    labels = [r["label"] for r in rows]
    values = [r["log10_sigma_S_cm"] for r in rows]
    assert values == sorted(values, reverse=True) and "nothing" not in labels
    i = labels.index("prior only")
    assert values[i - 1] > -2.95 > values[i + 1]
    assert labels[i + 1] == "Li1.8Zr0.8Nb0.2Cl6 (LZNC, ball milled)" and values[
        i + 1
    ] == pytest.approx(lznc)
    assert values[labels.index("with MD")] == pytest.approx(-2.0)
    assert values[labels.index("unresolved MD")] == pytest.approx(-4.2)
    groups = {r["label"]: r["group"] for r in rows}
    assert groups["Li2ZrCl6 (LZC, ball milled)"] == "reference" and groups["our LYZC"] == "added"
    assert any(r["censored"] for r in rows)  # OBELiX upper limits stay upper limits
    fig = placement_figure(rows)
    assert len(fig.axes) == 2  # known activation energies (LZNC, the user's row, MD) get a panel
    assert "25 °C" in fig.axes[0].get_xlabel() and fig.axes[1].get_xlabel() == "E$_a$ (eV)"


def test_placement_section_lists_nearest_known_with_references(tmp_path):
    html = placement_section(
        [PredictedSigma("#1 Li1.8Zr0.8Nb0.2Cl6", "Li1.8Zr0.8Nb0.2Cl6", -3.1, -4.5, -1.8, True)]
    )
    assert 'data-kind="literature"' in html
    assert "Li1.8Zr0.8Nb0.2Cl6 (LZNC, ball milled) (0.000)" in html
    assert "Chen et al., Chem. Commun. 2025" in html
    assert re.search(r"prior: above \d+% of \d+", html)
    assert not re.search(r"(src|href)=['\"]?(https?:|//)", html)
    # nothing predicted: the section says which tier would place the candidates
    none = placement_section([PredictedSigma("#1 X", "Li1.8Zr0.8Nb0.2Cl6")])
    assert "not computed: run tier prior" in none
