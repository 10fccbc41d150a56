"""Sulfide-side structures: the ordered argyrodite and the Li-P-S / element / sulfide references."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
from pymatgen.analysis.ewald import EwaldSummation
from pymatgen.core import Composition, Structure

from halidelab.errors import StructureError
from halidelab.stability import sulfides as S

FORMAL = {"Li": 1, "P": 5, "S": -2, "Cl": -1}


def _neighbours(s: Structure, i: int, r: float, element: str | None = None) -> list:
    return [n for n in s.get_neighbors(s[i], r) if element is None or n.specie.symbol == element]


@pytest.fixture(scope="module")
def lpscl() -> Structure:
    return S.ordered_argyrodite()


def test_argyrodite_is_ordered_charge_balanced_and_cubic(lpscl):
    assert lpscl.is_ordered and len(lpscl) == 52
    assert lpscl.composition == Composition("Li24P4S20Cl4")
    assert sum(FORMAL[sp.symbol] * n for sp, n in lpscl.composition.items()) == 0
    a, b, c = lpscl.lattice.abc
    assert a == pytest.approx(9.898, abs=1e-6) and b == pytest.approx(a) and c == pytest.approx(a)
    assert lpscl.lattice.angles == pytest.approx((90.0, 90.0, 90.0))
    # the ordering kept the F-43m anion framework: four PS4 units, the cell is F-centred
    p = [i for i, site in enumerate(lpscl) if site.specie.symbol == "P"]
    assert len(p) == 4


def test_argyrodite_ps4_tetrahedra(lpscl):
    for i, site in enumerate(lpscl):
        if site.specie.symbol != "P":
            continue
        near = _neighbours(lpscl, i, 2.6)
        assert len(near) == 4 and all(n.specie.symbol == "S" for n in near)
        # measured P-S about 2.05 A (the shipped OBELiX CIF carries small position noise)
        assert all(n.nn_distance == pytest.approx(2.05, abs=0.06) for n in near)
        v = [n.coords - site.coords for n in near]
        angles = [
            math.degrees(
                math.acos(np.dot(v[j], v[k]) / np.linalg.norm(v[j]) / np.linalg.norm(v[k]))
            )
            for j in range(4)
            for k in range(j + 1, 4)
        ]
        assert angles == pytest.approx([109.47] * 6, abs=3.0)


def test_chloride_on_4a_sulfide_on_4d(lpscl):
    # 4a lies a/2 from the nearest P (octahedral), 4d a sqrt(3)/4 (tetrahedral)
    a = lpscl.lattice.a
    p_frac = np.array([s.frac_coords for s in lpscl if s.specie.symbol == "P"])
    for site in lpscl:
        if site.specie.symbol not in ("Cl", "S"):
            continue
        d = lpscl.lattice.get_all_distances(site.frac_coords, p_frac).min()
        if site.specie.symbol == "Cl":
            assert d == pytest.approx(a / 2, abs=0.05)
        elif d > 2.6:  # free S2-
            assert d == pytest.approx(a * math.sqrt(3) / 4, abs=0.05)
    inverted = S.ordered_argyrodite("4d")
    for site in inverted:
        if site.specie.symbol == "Cl":
            d = inverted.lattice.get_all_distances(site.frac_coords, p_frac).min()
            assert d == pytest.approx(a * math.sqrt(3) / 4, abs=0.05)
    with pytest.raises(StructureError, match="4a"):
        S.ordered_argyrodite("8c")


def test_argyrodite_li_ordering_is_low_in_ewald_energy(lpscl):
    # the chosen Li arrangement lies below every one of a set of random ones
    # on the same 48h sites (same anion ordering)
    def ewald(s: Structure) -> float:
        s = s.copy()
        s.add_oxidation_state_by_element(FORMAL)
        return EwaldSummation(s).total_energy

    cif = S.shipped_cif(S.LI6PS5CL_CIF)
    li_sites = [
        site.frac_coords for site in cif if {e.symbol for e in site.species.elements} == {"Li"}
    ]
    assert len(li_sites) == 48
    frame = lpscl.copy()
    frame.remove_species(["Li"])
    rng = np.random.default_rng(1)
    e_best = ewald(lpscl)
    for _ in range(5):
        s = frame.copy()
        for k in rng.choice(48, size=24, replace=False):
            s.append("Li", li_sites[k])
        assert ewald(s) > e_best
    # and no two Li in the same 48h doublet (closer than 2 A)
    li = [i for i, site in enumerate(lpscl) if site.specie.symbol == "Li"]
    d = lpscl.distance_matrix[np.ix_(li, li)] + np.eye(len(li)) * 10
    assert d.min() > 2.0


def test_argyrodite_is_reproducible(lpscl):
    S._ordered_argyrodite.cache_clear()  # order again from the CIF, not from the cache
    again = S.ordered_argyrodite()
    assert again == lpscl
    assert np.allclose(again.frac_coords, lpscl.frac_coords)


def test_shipped_li_p_s_phases():
    g = S.gamma_li3ps4()
    assert g.is_ordered and g.composition.reduced_formula == "Li3PS4" and len(g) == 16
    lps = S.li7p3s11()
    assert lps.is_ordered and lps.composition.reduced_formula == "Li7P3S11"
    with pytest.raises(StructureError, match="partially occupied"):
        S.fill_nearly_full_sites(S.shipped_cif(S.LI6PS5CL_CIF))
    with pytest.raises(StructureError, match="not found"):
        S.shipped_cif("Li99.cif")


def test_alpha_sulfur_is_made_of_s8_crowns():
    s = S.alpha_sulfur(primitive=False)
    assert len(s) == 128 and len(S.alpha_sulfur()) == 32
    assert s.density == pytest.approx(2.07, abs=0.01)  # measured 2.07 g/cm^3
    graph = nx.Graph()
    for i in range(len(s)):
        near = _neighbours(s, i, 2.3)
        assert len(near) == 2 and all(2.03 < n.nn_distance < 2.07 for n in near)
        v = [n.coords - s[i].coords for n in near]
        ang = math.degrees(
            math.acos(np.dot(v[0], v[1]) / np.linalg.norm(v[0]) / np.linalg.norm(v[1]))
        )
        assert 106.0 < ang < 110.0
        graph.add_edges_from((i, n.index) for n in near)
        # next neighbour is another molecule, a van der Waals contact
        assert min(n.nn_distance for n in _neighbours(s, i, 4.0) if n.nn_distance > 2.3) > 3.2
    assert {len(c) for c in nx.connected_components(graph)} == {8}


def test_s8_and_p4s10_molecules():
    s8 = S.s8_molecule_in_box()
    for i, site in enumerate(s8):
        near = _neighbours(s8, i, 2.3)
        assert len(near) == 2 and all(n.nn_distance == pytest.approx(2.05, abs=1e-6) for n in near)
        v = [n.coords - site.coords for n in near]
        assert math.degrees(
            math.acos(np.dot(v[0], v[1]) / np.linalg.norm(v[0]) / np.linalg.norm(v[1]))
        ) == pytest.approx(108.0, abs=1e-6)
    cage = S.p4s10_molecule_in_box()
    assert cage.composition == Composition("P4S10")
    for i, site in enumerate(cage):
        near = _neighbours(cage, i, 2.3)
        if site.specie.symbol == "P":  # 3 bridging S and one terminal S
            assert sorted(round(n.nn_distance, 3) for n in near) == [1.91, 2.09, 2.09, 2.09]
        else:
            assert len(near) in (1, 2) and all(n.specie.symbol == "P" for n in near)
    with pytest.raises(StructureError, match="no S8 crown"):
        S.s8_crown(2.05, 170.0)


def test_black_phosphorus_layers():
    s = S.black_phosphorus()
    for i in range(len(s)):
        near = _neighbours(s, i, 2.4)
        # three bonds: 2.22 A (x2) and 2.24 A in the puckered layer
        assert len(near) == 3 and all(2.20 < n.nn_distance < 2.26 for n in near)
    assert s.density == pytest.approx(2.69, abs=0.03)


@pytest.mark.parametrize(
    "builder, metal, cn, bond",
    [
        (lambda: S.cdi2_type("Zr", "S", 3.662, 5.813), "Zr", 6, 2.57),
        (lambda: S.mos2_type("Nb", "S", 3.31, 11.89, 2.47), "Nb", 6, 2.47),
    ],
)
def test_layered_sulfides(builder, metal, cn, bond):
    s = builder()
    for i, site in enumerate(s):
        if site.specie.symbol == metal:
            near = _neighbours(s, i, bond + 0.1)
            assert len(near) == cn and all(
                n.nn_distance == pytest.approx(bond, abs=0.01) for n in near
            )
    with pytest.raises(StructureError, match="shorter"):
        S.mos2_type("Nb", "S", 3.31, 11.89, 1.5)


def test_trigonal_prism_vs_octahedron():
    # 2H-NbS2: the S above and below Nb are eclipsed (prism); ZrS2 (CdI2): staggered (octahedron)
    def stacked_pairs(s: Structure, metal: str) -> int:
        i = next(k for k, site in enumerate(s) if site.specie.symbol == metal)
        near = _neighbours(s, i, 2.8, "S")
        xy = [tuple(np.round(n.coords[:2], 3)) for n in near]
        return len(xy) - len(set(xy))

    assert stacked_pairs(S.mos2_type("Nb", "S", 3.31, 11.89, 2.47), "Nb") == 3
    assert stacked_pairs(S.cdi2_type("Zr", "S", 3.662, 5.813), "Zr") == 0


def test_li3p():
    s = S.li3p()
    assert s.composition.reduced_formula == "Li3P" and len(s) == 8
    for i, site in enumerate(s):
        if site.specie.symbol == "P":  # Na3As type: P with 11 Li between 2.4 and 2.9 A
            near = _neighbours(s, i, 2.9)
            assert len(near) == 11 and all(
                n.specie.symbol == "Li" and n.nn_distance > 2.4 for n in near
            )
