"""Li sites, interstitials, hop graph, distinct hops and percolation."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from halidelab.errors import SimulationError, StructureError
from halidelab.transport.pathways import (
    chain_barrier,
    named_chains,
    percolation_thresholds,
    periodic_dimension,
)
from halidelab.transport.sites import SiteNetwork, find_holes, site_network


def rocksalt(prim: bool = False) -> Structure:
    s = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.14), ["Li", "Cl"], [[0, 0, 0], [0.5, 0, 0]]
    )
    return s.get_primitive_structure() if prim else s


@pytest.fixture(scope="module")
def lzc() -> Structure:
    from halidelab.composition import design_composition
    from halidelab.structures.models import build_models

    return build_models(design_composition("Li2ZrCl6"), supercell=1, n_configs=1).structures[0]


def test_hcp_holes_count_and_hold_every_cation(lzc):
    holes = find_holes(lzc)
    n_cl = sum(1 for x in lzc if x.specie.symbol == "Cl")
    kinds = Counter(h.kind for h in holes)
    # close packing: one octahedral and two tetrahedral holes per anion
    assert kinds == {"oct": n_cl, "tet": 2 * n_cl}
    oct_f = [h.frac for h in holes if h.kind == "oct"]
    cat = [x.frac_coords for x in lzc if x.specie.symbol != "Cl"]
    assert lzc.lattice.get_all_distances(cat, oct_f).min(axis=1).max() < 0.5


def test_lzc_li_sites_vacancies_and_interstitials(lzc):
    net = site_network(lzc)
    assert net.framework_space_group.startswith("P-3m1")
    li = [s for s in net.sites if s.role == "li"]
    assert len(li) == 12 and sum(s.occupant is not None for s in li) == 6  # 6 Li on 12 sites
    assert {s.label: s.wyckoff for s in li} == {"Li1": "6h", "Li2": "6g"}
    inter = [s for s in net.sites if s.role == "interstitial"]
    assert {s.kind for s in inter} == {"tet"}
    assert sorted(Counter(s.label for s in inter).values()) == [6, 6, 6]  # i1, i2, i3
    # no interstitial shares a face with a ZrCl6 octahedron, so none is that close to Zr
    assert min(s.min_cation_distance_A for s in inter) > 2.5
    # the c-axis hop through the shared face is half the c axis, Li1 (z=1/2) to Li2 (z=0)
    c_hops = [h for h in net.hops if h.direction == "c"]
    assert c_hops and all(h.label == "Li1-Li2" and h.window == "face" for h in c_hops)
    assert c_hops[0].length_A == pytest.approx(lzc.lattice.c / 2, abs=0.02)
    # in-plane routes only through tetrahedral interstitials (face sharing)
    assert {h.kind for h in net.hops if h.direction != "c"} == {"oct-tet"}
    assert net.n_parent_classes == 4
    chains = {name for name, *_ in named_chains(net)}
    assert "[Li1-Li2-Li1] along c" in chains and "[Li2-i3-Li2] in-plane" in chains
    g = net.graph()
    assert g.number_of_nodes() == len(net.sites) and g.number_of_edges() == len(net.hops)
    assert SiteNetwork.from_dict(net.to_dict()) == net


def test_hop_length_is_the_real_distance_not_the_fractional_difference():
    s = rocksalt(prim=True)  # one Li per cell: every Li-Li hop goes to an image of itself
    net = site_network(s, interstitials=False)
    assert len(net.sites) == 1
    assert len(net.hops) == 6  # 12 neighbours, each undirected hop once
    d_li_li = 5.14 / np.sqrt(2)
    li = next(i for i, x in enumerate(s) if x.specie.symbol == "Li")
    nn = sorted(nb.nn_distance for nb in s.get_neighbors(s[li], 4.0) if nb.specie.symbol == "Li")
    assert nn[0] == pytest.approx(d_li_li, abs=1e-6)
    for h in net.hops:
        assert h.site_a == h.site_b == 0 and any(h.image)
        assert h.length_A == pytest.approx(nn[0], abs=1e-6)
        assert np.linalg.norm(h.vector_A) == pytest.approx(h.length_A)
        # the in-cell fractional difference of a site with itself is zero
        assert np.linalg.norm(np.array(h.image) @ s.lattice.matrix) == pytest.approx(h.length_A)


@pytest.mark.parametrize("prim", [True, False])
def test_rocksalt_has_one_distinct_vacancy_hop(prim):
    net = site_network(rocksalt(prim), interstitials=False)
    assert net.n_parent_classes == 1
    assert {round(h.length_A, 3) for h in net.hops} == {round(5.14 / np.sqrt(2), 3)}
    assert all(h.window == "edge" for h in net.hops)
    # with interstitials the only hop is octahedron -> tetrahedron through a face
    net_i = site_network(rocksalt(prim))
    assert net_i.n_parent_classes == 1
    assert {h.kind for h in net_i.hops} == {"oct-tet"}
    assert Counter(s.kind for s in net_i.sites) == {
        "oct": 4 // (4 if prim else 1),
        "tet": 8 // (4 if prim else 1),
    }


def test_doping_splits_hop_classes_by_environment():
    from halidelab.composition import Substitution, design_composition
    from halidelab.structures.models import build_models

    s = build_models(
        design_composition("Li2ZrCl6", Substitution("Nb", "Zr", 0.2)), n_configs=1, seed=0
    ).structures[0]
    net = site_network(s)
    assert net.framework_space_group.startswith("P-3m1")  # Nb mapped onto Zr: the parent framework
    assert net.n_parent_classes == 4
    assert net.n_env_classes > net.n_parent_classes
    with_nb = [h for h in net.hops if h.environment.get("Nb", 0) > 0]
    without = [h for h in net.hops if "Nb" not in h.environment]
    assert with_nb and without
    assert {h.env_class for h in with_nb}.isdisjoint({h.env_class for h in without})
    n_li = sum(1 for x in s if x.specie.symbol == "Li")
    li_sites = [x for x in net.sites if x.role == "li"]
    assert sum(x.occupant is not None for x in li_sites) == n_li
    env = net.distinct_hops("environment", vacancy=True)
    assert len(env) == net.n_env_classes


def test_bad_input():
    s = Structure(Lattice.hexagonal(10.9, 5.9), [{"Li": 0.5}, "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(StructureError, match="partially occupied"):
        site_network(s)
    with pytest.raises(StructureError, match="no Li"):
        site_network(Structure(Lattice.cubic(5.6), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]))


def test_periodic_dimension_of_synthetic_lattices():
    c = [(0, 0, (0, 0, 1))]  # one site joined to its image along c: a 1D chain
    assert periodic_dimension(c) == 1
    ab = [(0, 0, (1, 0, 0)), (0, 0, (0, 1, 0))]
    assert periodic_dimension(ab) == 2
    assert periodic_dimension(c + ab) == 3
    assert periodic_dimension([(0, 1, (0, 0, 0)), (1, 2, (0, 0, 0))]) == 0  # finite cluster
    # a two-site chain Li1-Li2-Li1 along c closes only through the image
    assert periodic_dimension([(0, 1, (0, 0, 0)), (1, 0, (0, 0, 1))]) == 1
    # a ring that returns to the same image is not infinite
    assert periodic_dimension([(0, 1, (0, 0, 0)), (1, 0, (0, 0, 0))]) == 0


def test_percolation_thresholds_follow_the_barriers():
    edges = [
        (0, 1, (0, 0, 0), 0.25),
        (1, 0, (0, 0, 1), 0.25),  # fast c chain
        (0, 0, (1, 0, 0), 0.5),
        (0, 0, (0, 1, 0), 0.6),
    ]  # slower in-plane hops
    th = percolation_thresholds(edges)
    assert th == {1: 0.25, 2: 0.5, 3: 0.6}
    assert percolation_thresholds(edges[:2]) == {1: 0.25, 2: None, 3: None}


def _res(a, b, fwd, de, direction="c", conv=True, cls=0):
    return SimpleNamespace(
        label_initial=a,
        label_final=b,
        barrier_forward_eV=fwd,
        barrier_backward_eV=fwd - de,
        delta_e_eV=de,
        direction=direction,
        converged=conv,
        parent_class=cls,
    )


def test_chain_barrier_is_highest_saddle_above_lowest_site():
    # Li1 -> Li2 is uphill by 0.1 eV with a 0.3 eV forward barrier
    r = [_res("Li1", "Li2", 0.3, 0.1)]
    ch = chain_barrier(["Li1", "Li2", "Li1"], r, "c")
    assert ch.site_energies_eV == pytest.approx((0.0, 0.1, 0.0))
    assert ch.saddle_energies_eV == pytest.approx((0.3, 0.3))
    assert ch.barrier_eV == pytest.approx(0.3)
    # starting from the higher site the landscape is the same: barrier from the lowest site
    ch2 = chain_barrier(["Li2", "Li1", "Li2"], r, "c")
    assert ch2.barrier_eV == pytest.approx(0.3)
    # an interstitial chain: Li2 -> i3 uphill 0.2, barrier 0.35
    ri = [_res("Li2", "i3", 0.35, 0.2, direction="ab", conv=False, cls=1)]
    chi = chain_barrier(["Li2", "i3", "Li2"], ri, "ab")
    assert chi.barrier_eV == pytest.approx(0.35) and chi.converged is False
    with pytest.raises(SimulationError, match="no NEB result"):
        chain_barrier(["Li2", "i3", "Li2"], ri, "c")


def test_distorted_doped_cell_keeps_its_empty_li_sites():
    """A CHGNet-relaxed (distorted) Nb-doped cell: at the default tolerance its framework
    symmetry is lost; the tolerance is loosened so that the empty Li sites are not misread
    as interstitials (else no vacancy hop is left)."""
    from pathlib import Path

    from halidelab.structures.prototypes import read_structure
    from halidelab.transport.sites import _site_network, site_network

    s = read_structure(
        Path(__file__).resolve().parents[1] / "data" / "Li5Zr2NbCl18_P-3m1_chgnet_relaxed.cif"
    )
    tight = _site_network(s, symprec=0.2)
    assert not [x for x in tight.sites if x.role == "li" and x.occupant is None]  # the failure
    net = site_network(s)
    empty_li = [x for x in net.sites if x.role == "li" and x.occupant is None]
    assert len(empty_li) == 12 - 5  # 12 Li sites of the P-3m1 cell, 5 Li in Li5Zr2NbCl18
    assert net.distinct_hops(level="parent", vacancy=True)
    assert "loosened" in net.warnings[-1]


def test_relaxed_x04_supercell_keeps_the_framework_hop_classes():
    """Relaxation does not change the framework's topology: the CHGNet-relaxed 129-atom
    Li1.6Zr0.6Nb0.4Cl6 cell (from ``reproduce chen2025 --tiers ...,neb``) must give the
    Li sites and hop classes of its unrelaxed, exactly symmetric model. At the default
    tolerance only 27 of its 60 Li sites were found and the 240 hops fell into 120
    classes, so the percolation of six NEB classes covered 22 hops and gave no barrier."""
    from pathlib import Path

    from halidelab.composition import Substitution, design_composition
    from halidelab.structures.models import build_models
    from halidelab.structures.prototypes import read_structure
    from halidelab.transport.sites import site_network

    relaxed = read_structure(
        Path(__file__).resolve().parents[1] / "data" / "Li1.6Zr0.6Nb0.4Cl6_129at_chgnet_relaxed.cif"
    )
    model = build_models(
        design_composition("Li2ZrCl6", [Substitution("Nb", "Zr", 0.4)]),
        max_atoms=140,
        n_configs=1,
        seed=0,
    ).structures[0]
    assert len(model) == len(relaxed) == 129
    ref, net = site_network(model), site_network(relaxed)
    n_li = sum(x.role == "li" for x in ref.sites)
    assert n_li == 60 and sum(x.role == "li" for x in net.sites) == n_li
    assert len(net.hops) == len(ref.hops)
    assert len({h.parent_class for h in net.hops}) == len({h.parent_class for h in ref.hops})


@pytest.mark.parametrize(
    "composition, cif, full_orbits",
    [
        # C2/m Li3InCl6: both Li orbits (4h, 2d) fully occupied in the ordered model
        ("Li3InCl6", "structures/Li3InCl6_C2_m_obelix-de5.cif", 2),
        # P-3m1 Li3YCl6: the CIF's partly occupied orbit keeps empty sites, the other is full
        ("Li3YCl6", "structures/Li3YCl6_P-3m1_obelix-ei3.cif", 1),
    ],
)
def test_add_vacancies_empties_one_site_of_each_full_li_orbit(composition, cif, full_orbits):
    from halidelab.atoms import to_atoms
    from halidelab.transport.hops import add_vacancies, select_hops
    from halidelab.validation.reference import resolve_structure_file
    from halidelab.validation.structures import build_reference_model

    s = build_reference_model(
        composition, "cif", resolve_structure_file(cif), max_atoms=160
    ).to_structure()
    net = site_network(s)
    atoms = to_atoms(s)
    full = {
        lab
        for lab in {x.label for x in net.sites if x.role == "li"}
        if all(x.occupant is not None for x in net.sites if x.label == lab)
    }
    assert len(full) == full_orbits
    out, vnet, notes = add_vacancies(atoms, net)
    assert len(notes) == full_orbits and len(out) == len(atoms) - full_orbits
    # now every Li orbit has an empty site, and every occupant is a Li at its site centre
    for lab in {x.label for x in vnet.sites if x.role == "li"}:
        assert any(x.occupant is None for x in vnet.sites if x.label == lab)
    frac = out.get_scaled_positions()
    for x in vnet.sites:
        if x.occupant is not None:
            assert out[x.occupant].symbol == "Li"
            d = (frac[x.occupant] - np.array(x.frac) + 0.5) % 1 - 0.5
            assert np.linalg.norm(d @ out.cell.array) < 1.0
        for a, _img in x.anions:  # anion indices follow the renumbering
            assert out[a].symbol == "Cl"
    # the Li counted: the same sites, fewer occupants; more hop classes and paths to run
    assert len(vnet.sites) == len(net.sites)
    _, ch0, _, p0 = select_hops(net, "distinct")
    _, ch1, _, p1 = select_hops(vnet, "distinct")
    assert len(ch1) + len(p1) > len(ch0) + len(p0)
    # nothing to do a second time
    again, _, more = add_vacancies(out, vnet)
    assert more == () and len(again) == len(out)


def test_li_in_five_fold_holes_are_li_sites_not_lost():
    """Li3AlF6 (C2/c): a quarter of its Li sit in five-fold F holes. Every Li must have a
    site (before, 8 of 36 were dropped with a warning), each orbit one coordination, and no
    empty five-fold hole may become an interstitial."""
    from halidelab.validation.reference import resolve_structure_file
    from halidelab.validation.structures import build_reference_model

    s = build_reference_model(
        "Li3AlF6", "cif", resolve_structure_file("reference/Li3AlF6_C2_c_obelix-l9v.cif")
    ).to_structure()
    net = site_network(s)
    n_li = sum(1 for x in s if x.specie.symbol == "Li")
    occupied = [x for x in net.sites if x.occupant is not None]
    assert len(occupied) == n_li == len({x.occupant for x in occupied})
    assert {x.kind for x in occupied} >= {"cn5", "oct"}
    assert all(x.role == "li" for x in net.sites if x.kind not in ("oct", "tet"))
    by_label: dict[str, set[str]] = {}
    for x in net.sites:
        by_label.setdefault(x.label, set()).add(x.kind)
    assert all(len(k) == 1 for k in by_label.values())
    assert not any("from the nearest hole centre" in w for w in net.warnings)


def test_ccp_li3incl6_layers_are_joined_through_the_metal_layers_empty_octahedra():
    """Li3InCl6 (C2/m, ccp Cl): a Li layer and the In layer alternate along c*. Through one
    tetrahedral hole a Li reaches only Li of its own layer or of the In layer's Li site
    (2D); between layers it must pass tet -> empty octahedron of the In layer -> tet. The
    paths through several interstitials are exactly those: three interstitials, an
    octahedron between two tetrahedra, and they cross the layers (a displacement along
    c*)."""
    from halidelab.atoms import to_atoms
    from halidelab.transport.hops import add_vacancies, interstitial_chains
    from halidelab.validation.reference import resolve_structure_file
    from halidelab.validation.structures import build_reference_model

    s = build_reference_model(
        "Li3InCl6", "cif", resolve_structure_file("structures/Li3InCl6_C2_m_obelix-de5.cif")
    ).to_structure()
    _, net, _ = add_vacancies(to_atoms(s), site_network(s))
    chains, notes = interstitial_chains(net)
    assert chains and len(notes) == 1 and "2D only" in notes[0] and "in 3D" in notes[0]
    normal = s.lattice.reciprocal_lattice.matrix[2] / np.linalg.norm(
        s.lattice.reciprocal_lattice.matrix[2]
    )
    crossing = 0
    for chain in chains:
        here = next(x for x in (chain[0].site_a, chain[0].site_b) if net.sites[x].role == "li")
        kinds, vec = [], np.zeros(3)
        for h in chain:
            vec += np.array(h.vector_A) * (1 if h.site_a == here else -1)
            here = h.site_b if h.site_a == here else h.site_a
            kinds.append(net.sites[here].kind)
        assert kinds == ["tet", "oct", "tet", "oct"]  # ... -> Li in its octahedron
        assert net.sites[here].role == "li"
        crossing += abs(vec @ normal) > 1.0
    assert crossing >= 1


def test_path_profile_gives_each_leg_the_top_of_its_band():
    """A joined profile (energies relative to the start) split at some interstitials: each
    leg's saddle is the highest point of the band it lies in, the minima are the joints.
    Also the two-band record of one interstitial written before joint_images existed."""
    from halidelab.transport.pathways import path_profile

    # Li -> i1 -> i2 -> i1 -> Li, minima at i2 only: two bands of 2 legs each
    e = [0.0, 0.2, 0.5, 0.3, 0.1, 0.15, 0.4, 0.25, 0.0]
    par = {"bands": 2, "band_images": [3, 3], "joint_images": [4], "joint_vias": [1]}
    minima, legs = path_profile(["i1", "i2", "i1"], e, par)
    assert minima == [(1, 0.1)]
    assert legs == [0.5, 0.5, 0.4, 0.4]
    # one band through everything: every leg has the path's maximum
    assert path_profile(["i1", "i2", "i1"], e, {})[1] == [0.5] * 4
    # the old two-band record (one interstitial): joint after the first band's images
    old = {"bands": 2, "band_images": [2, 2]}
    minima, legs = path_profile(["i1"], [0.0, 0.3, 0.25, 0.1, 0.2, 0.35, 0.05], old)
    assert minima == [(0, 0.1)] and legs == [0.3, 0.35]
    with pytest.raises(SimulationError):
        path_profile(["i1", "i2"], e, {"bands": 2, "joint_images": [3], "joint_vias": [0, 1]})


def test_no_longer_paths_where_the_li_sites_already_percolate_in_3d():
    """Li3YCl6 (P-3m1, one Li orbit emptied of one Li): its Li sites percolate in 3D through
    direct hops and one-interstitial paths, so no path through more interstitials is added,
    and none would be: even asked for every class, there is none of length 2 or 3."""
    from halidelab.atoms import to_atoms
    from halidelab.transport.hops import add_vacancies, interstitial_chains
    from halidelab.validation.reference import resolve_structure_file
    from halidelab.validation.structures import build_reference_model

    s = build_reference_model(
        "Li3YCl6", "cif", resolve_structure_file("structures/Li3YCl6_P-3m1_obelix-ei3.cif")
    ).to_structure()
    _, net, _ = add_vacancies(to_atoms(s), site_network(s))
    assert interstitial_chains(net) == ([], [])
    assert interstitial_chains(net, every=True) == ([], [])


@pytest.mark.parametrize(
    "composition, cif",
    [
        ("Li2MgCl4", "reference/Li2MgCl4_Fd-3m_obelix-dvn.cif"),
        ("Li2MnCl4", "reference/Li2MnCl4_Fd-3m_obelix-bjw.cif"),
    ],
)
def test_ordered_spinel_li_sites_are_the_li_holes_and_16c_is_the_interstitial(composition, cif):
    """Inverse spinel Li[LiM]Cl4 (Fd-3m: Li 8a, Li/M 16d). Ordering M on half of 16d makes
    the Cl + M framework map the empty 16c octahedra onto the Li 16d ones and other
    tetrahedra onto 8a. Those holes share a face with a Li-filled tetrahedron or octahedron
    (cations 2.2 A apart), so they are no vacant Li sites: every Li site holds a Li, and the
    8a Li reach each other only through the empty octahedra that share faces with two 8a
    tetrahedra (16c), a diamond net that percolates in 3D."""
    from halidelab.transport.pathways import periodic_dimension
    from halidelab.validation.reference import resolve_structure_file
    from halidelab.validation.structures import build_reference_model

    s = build_reference_model(composition, "cif-spinel", resolve_structure_file(cif)).to_structure()
    net = site_network(s)
    n_li = sum(1 for x in s if x.specie.symbol == "Li")
    li = [x for x in net.sites if x.role == "li"]
    assert len(li) == n_li and all(x.occupant is not None for x in li)
    frac = s.frac_coords
    cations = [i for i, x in enumerate(s) if x.specie.symbol not in ("Cl",)]
    for x in net.sites:  # no empty site of either role faces a cation 2.2 A away ...
        d = s.lattice.get_all_distances([x.frac], frac[cations])[0]
        if x.occupant is None:
            assert x.role == "interstitial" and d.min() > 2.0
    tet_li = {x.index for x in li if x.kind == "tet"}
    assert len(tet_li) == n_li // 2  # 8a holds half of the Li
    # ... and the 8a Li are joined through octahedral interstitials that face two of them
    via: dict[int, list[tuple[int, np.ndarray]]] = {}  # interstitial -> (8a site, its image)
    for h in net.hops:
        img = np.array(h.image)
        if h.site_a in tet_li and net.sites[h.site_b].role == "interstitial":
            via.setdefault(h.site_b, []).append((h.site_a, -img))
        elif h.site_b in tet_li and net.sites[h.site_a].role == "interstitial":
            via.setdefault(h.site_a, []).append((h.site_b, img))
    assert via and all(net.sites[b].kind == "oct" for b in via)
    assert all(len(v) == 2 for v in via.values())
    edges = [(a1, a2, tuple(i2 - i1)) for (a1, i1), (a2, i2) in via.values()]
    assert periodic_dimension(edges, sorted(tet_li)) == 3


def test_li_outside_every_hole_gets_a_site_at_its_position():
    """Li6NBr3 (Fm-3m): each N sits in a cube of Br with six Li on the cube's faces, 1.7 A
    from the N (Li6N octahedra), so no Li sits in a hole of the N+Br triangulation (before,
    the network refused the cell). Each Li gets a site at its own position, its polyhedron
    the N and the five Br it touches; the tetrahedra that subdivide it are no interstitials.
    The shortest hops (sqrt(2) x Li-N, around one N) only circle the Li6N cluster (dimension
    0); the Li percolate in 3D only with the longer hops between clusters."""
    from halidelab.transport.pathways import periodic_dimension
    from halidelab.validation.reference import resolve_structure_file
    from halidelab.validation.structures import build_reference_model

    s = build_reference_model(
        "Li6NBr3", "cif-merge", resolve_structure_file("structures/Li6Br3N_Fm-3m_obelix-kkn.cif")
    ).to_structure()
    net = site_network(s)
    li_atoms = [i for i, x in enumerate(s) if x.specie.symbol == "Li"]
    li = [x for x in net.sites if x.role == "li"]
    assert sorted(x.occupant for x in li) == li_atoms  # every Li, one site each
    for x in li:
        assert (
            np.linalg.norm(
                ((s[x.occupant].frac_coords - np.array(x.frac) + 0.5) % 1 - 0.5) @ s.lattice.matrix
            )
            < 1e-6
        )
        els = sorted(s[a].specie.symbol for a, _ in x.anions)
        assert els == ["Br"] * 5 + ["N"]
    polys = [{(a, img) for a, img in x.anions} for x in li]
    for x in net.sites:  # no interstitial lies inside a Li polyhedron
        if x.role == "interstitial":
            assert not any(set(x.anions) <= p for p in polys)
    li_idx = {x.index for x in li}
    li_n = np.linalg.norm(s[li_atoms[0]].coords - s.get_neighbors(s[li_atoms[0]], 2.2)[0].coords)
    short = [h for h in net.hops if abs(h.length_A - np.sqrt(2) * li_n) < 0.05]
    assert short and all(h.site_a in li_idx and h.site_b in li_idx for h in short)
    assert periodic_dimension([(h.site_a, h.site_b, h.image) for h in short], sorted(li_idx)) == 0
    li_hops = [(h.site_a, h.site_b, h.image) for h in net.hops if {h.site_a, h.site_b} <= li_idx]
    assert periodic_dimension(li_hops, sorted(li_idx)) == 3
