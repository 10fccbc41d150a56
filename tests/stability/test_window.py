"""Electrochemical window: algebra of the grand-potential profile, and MLIP LiCl."""

from __future__ import annotations

import pytest
from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition

from halidelab.errors import StructureError
from halidelab.stability import references as R
from halidelab.stability.hull import energy_above_hull
from halidelab.stability.window import electrochemical_window, window_from_phase_diagram


def _lyc_diagram(e_lyc_fu: float) -> PhaseDiagram:
    # elements at 0; LiCl -4 eV/f.u.; YCl3 -7.2 eV/f.u.; Li3YCl6 given
    entries = [
        PDEntry(Composition(f), e)
        for f, e in (
            ("Li", 0.0),
            ("Y", 0.0),
            ("Cl2", 0.0),
            ("LiCl", -4.0),
            ("YCl3", -7.2),
            ("Li3YCl6", e_lyc_fu),
        )
    ]
    return PhaseDiagram(entries)


def test_window_limits_follow_from_the_reaction_energies():
    # Li3YCl6 0.3 eV/f.u. below LiCl + YCl3.
    # reduction: Li3YCl6 + 3 Li -> 6 LiCl + Y, dE = -24 + 19.5 = -4.5 eV for 3 Li -> 1.5 V
    # oxidation: Li3YCl6 -> YCl3 + 3/2 Cl2 + 3 Li, dE = -7.2 + 19.5 = 12.3 eV for 3 Li -> 4.1 V
    e_lyc = 3 * -4.0 - 7.2 - 0.3
    w = window_from_phase_diagram(_lyc_diagram(e_lyc), "Li3YCl6")
    assert w["reduction_limit_V"] == pytest.approx((6 * -4.0 - e_lyc) / -3, abs=1e-6)
    assert w["oxidation_limit_V"] == pytest.approx((-7.2 - e_lyc) / 3, abs=1e-6)
    assert set(w["reduction_products"]) == {"LiCl", "Y"}
    assert set(w["oxidation_products"]) == {"YCl3", "Cl2"}
    # deeper stabilisation widens the window on both sides
    w2 = window_from_phase_diagram(_lyc_diagram(e_lyc - 0.3), "Li3YCl6")
    assert (
        w2["reduction_limit_V"]
        < w["reduction_limit_V"]
        < w["oxidation_limit_V"]
        < w2["oxidation_limit_V"]
    )
    # the profile is ordered in voltage and ends fully delithiated
    volts = [s.voltage_V for s in w["profile"]]
    assert volts == sorted(volts)
    assert w["profile"][-1].li_uptake_per_fu == pytest.approx(-3.0)


def test_off_hull_composition_gets_the_window_of_its_assemblage():
    # Li3YCl6 above LiCl + YCl3: the window is that of the mixture.
    # reduction: YCl3 + 3 Li -> Y + 3 LiCl, dE = -12 + 7.2 = -4.8 eV for 3 Li -> 1.6 V
    # oxidation: LiCl -> Li + 1/2 Cl2 at 4.0 V
    w = window_from_phase_diagram(_lyc_diagram(3 * -4.0 - 7.2 + 0.3), "Li3YCl6")
    assert w["reduction_limit_V"] == pytest.approx(4.8 / 3, abs=1e-6)
    assert w["oxidation_limit_V"] == pytest.approx(4.0, abs=1e-6)
    # inside a phase triangle (LiCl + Y + YCl3) there is no range at all
    with pytest.raises(StructureError, match="no stability range"):
        window_from_phase_diagram(_lyc_diagram(-20.0), "Li3YCl5")
    with pytest.raises(StructureError, match="no Li"):
        window_from_phase_diagram(_lyc_diagram(-20.0), "YCl3")


def test_licl_window_from_the_mlip():
    s = R.rock_salt("Li", "Cl", 5.13)
    hull = energy_above_hull(s)
    w = electrochemical_window(s, hull=hull)
    # LiCl is stable against Li metal; it oxidises to Cl2 at -dG_f per Li (here dE_f)
    assert w.reduction_limit_V == pytest.approx(0.0, abs=1e-9)
    assert w.oxidation_limit_V == pytest.approx(-2 * hull.formation_energy_eV_atom, abs=1e-6)
    assert w.reduction_limit_V < w.oxidation_limit_V
    assert w.oxidation_products == ("Cl2",)
    assert not w.shifted_to_hull
    # measured: LiCl decomposes near 4.0-4.2 V (dG_f -384 kJ/mol = 3.98 V; dH_f 4.23 V)
    assert 3.6 < w.oxidation_limit_V < 4.6


@pytest.mark.slow
def test_li3ycl6_window_from_the_mlip():
    w = electrochemical_window("Li3YCl6")
    assert 0.0 < w.reduction_limit_V < w.oxidation_limit_V
    assert "Y" in w.reduction_products or "YCl3" in w.reduction_products
    assert "Cl2" in w.oxidation_products or "YCl3" in w.oxidation_products
    assert 3.0 < w.oxidation_limit_V < 5.0
