"""BVSE maps and percolation: periodicity, ordering of barriers, symmetry, bvlain agreement."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from halidelab.errors import StructureError
from halidelab.transport.bvse import (
    BVSEMap,
    basin_contacts,
    bvse,
    bvse_map,
    hop_path_energies,
    percolation_barriers,
    periodic_components,
    site_energy,
)


def licl(a: float = 5.13) -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(a), ["Li", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


@pytest.fixture(scope="module")
def li3incl6(shared_data):
    from halidelab.composition import design_composition
    from halidelab.structures.models import build_models

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_models(design_composition("Li3InCl6"), n_configs=1, max_atoms=40).structures[0]


def test_energy_is_periodic_under_lattice_translations():
    s = licl()
    rng = np.random.default_rng(0)
    p = rng.random((50, 3))
    e0 = site_energy(s, p)
    for t in ([1, 0, 0], [0, -1, 0], [2, 1, -3]):
        assert np.allclose(site_energy(s, p + np.array(t)), e0, atol=1e-9)
    # the map of a 2x1x1 supercell is the unit map repeated
    unit = bvse_map(s, shape=(12, 12, 12)).energies_eV
    sup = s.copy()
    sup.make_supercell([2, 1, 1])
    double = bvse_map(sup, shape=(24, 12, 12)).energies_eV
    assert np.allclose(double, np.tile(unit, (2, 1, 1)), atol=1e-8)


def test_cubic_cell_has_equal_barriers_along_equivalent_axes():
    res, bmap = bvse(licl(), resolution_A=0.25)
    ea, eb, ec = res.e_axis_eV
    assert ea is not None and ea > 0.05  # Li must climb out of its octahedral site
    assert ea == pytest.approx(eb, abs=1e-9) and eb == pytest.approx(ec, abs=1e-9)
    # cubic: once it percolates along a it does so along b and c: 1D = 2D = 3D
    assert res.e_1d_eV == pytest.approx(res.e_3d_eV, abs=1e-9)
    # the minimum sits on a Li site (Li removed from the framework): frac (0,0,0)-type
    i = np.unravel_index(np.argmin(bmap.energies_eV), bmap.shape)
    frac = np.array(i) / np.array(bmap.shape)
    li = np.array([site.frac_coords for site in licl() if site.specie.symbol == "Li"])
    d = np.abs((li - frac + 0.5) % 1 - 0.5).max(axis=1).min()
    assert d <= 0.5 / bmap.shape[0] + 1e-9


def test_barriers_are_ordered_on_a_real_halide(li3incl6):
    res, _ = bvse(li3incl6, resolution_A=0.3)
    assert res.e_1d_eV is not None and res.e_3d_eV is not None
    assert 0.1 < res.e_1d_eV <= res.e_2d_eV <= res.e_3d_eV < 1.5
    assert min(e for e in res.e_axis_eV if e is not None) == pytest.approx(res.e_1d_eV)
    assert res.provenance.model_version.startswith("bvlain")


def test_doped_supercell_runs_and_changes_the_map(li3incl6):
    # Zr4+ on an In3+ site, one Li+ removed for charge balance
    doped = li3incl6.copy()
    i_in = next(i for i, s in enumerate(doped) if s.specie.symbol == "In")
    doped.replace(i_in, "Zr")
    i_li = next(i for i, s in enumerate(doped) if s.specie.symbol == "Li")
    doped.remove_sites([i_li])
    r0, m0 = bvse(li3incl6, resolution_A=0.4)
    r1, m1 = bvse(doped, resolution_A=0.4)
    assert r1.oxidation_states["Zr"] == 4
    assert r1.e_1d_eV is not None and r1.e_1d_eV <= r1.e_2d_eV <= r1.e_3d_eV
    assert m1.shape == m0.shape and not np.allclose(m1.energies_eV, m0.energies_eV)


def test_periodic_components_dimension():
    n = 12
    empty = np.zeros((n, n, n), bool)
    blob = empty.copy()
    blob[3:6, 3:6, 3:6] = True
    line = empty.copy()
    line[4, 4, :] = True
    plane = empty.copy()
    plane[:, :, 5] = True
    # channels along [110] and [1-10] crossing: a 2D net that a mod-2 copy count calls 1D
    diag = empty.copy()
    for i in range(n):
        diag[i, i, 2] = True
        diag[i, (-i) % n, 2] = True
    for mask, dim in ((empty, 0), (blob, 0), (line, 1), (plane, 2), (diag, 2), (~empty, 3)):
        _, trans = periodic_components(mask)
        assert max((len(v) for v in trans.values()), default=0) == dim


def test_percolation_threshold_of_a_synthetic_landscape():
    # a channel along c at 0.3 eV and a sheet (a-c) at 0.5 eV; the rest at 2 eV
    e = np.full((10, 10, 10), 2.0)
    e[2, 2, :] = 0.3
    e[:, 7, :] = 0.5
    e[2, 2, 4] = 0.0
    bars = percolation_barriers(BVSEMap(licl(), e, "Li", 0.2, 10.0, {}), e_max_eV=5.0)
    assert bars["e_1d_eV"] == pytest.approx(0.3)
    assert bars["e_2d_eV"] == pytest.approx(0.5)
    assert bars["e_3d_eV"] == pytest.approx(2.0)
    assert bars["e_axis_eV"] == pytest.approx((0.5, 2.0, 0.3))


def test_agrees_with_bvlain_energies():
    from bvlain import Lain

    from halidelab.transport.bvse import assign_oxidation_states

    s = assign_oxidation_states(licl())
    lain = Lain(verbose=False)
    lain.read_structure(s, oxi_check=False)
    ref = lain.bvse_distribution(mobile_ion="Li1+", resolution=0.5)
    axes = [np.linspace(0, 1, k) for k in ref.shape]
    pts = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    ours = site_energy(s, pts).reshape(ref.shape)
    low = ref < ref.min() + 5.0
    assert np.abs(ours - ref)[low].max() < 1e-3


def test_cube_file_round_trip(tmp_path):
    from ase.io.cube import read_cube_data

    res, bmap = bvse(licl(), resolution_A=0.4, cube=tmp_path / "licl")
    data, atoms = read_cube_data(str(tmp_path / "licl.cube"))
    assert data.shape == bmap.shape
    rel = bmap.energies_eV - bmap.energies_eV.min()
    ok = rel < 10
    assert np.allclose(data[ok], rel[ok], atol=1e-4)
    assert len(atoms) == 8


def test_partial_occupancy_is_ordered_and_missing_li_refused(shared_data):
    """A partially occupied CIF (OBELiX Li3InCl6) is mapped as its lowest-Ewald-energy
    ordered model, recorded in the provenance; the map itself still needs an ordered one."""
    s = Structure.from_file(shared_data / "structures" / "Li3InCl6_C2_m_obelix-de5.cif")
    res, bmap = bvse(s, resolution_A=0.5)
    order = res.provenance.parameters["ordering"]
    assert bmap.structure.is_ordered and order["n_atoms"] == len(bmap.structure) == 80
    assert res.formula == "Li3InCl6" and order["formula"] == "Li3InCl6"
    assert res.e_1d_eV is not None
    with pytest.raises(StructureError, match="order the structure"):
        bvse_map(s)
    nacl = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    with pytest.raises(StructureError, match="no Li"):
        bvse(nacl)


def _ring_map(spacing_A: float = 0.1, cell_A: float = 8.0, r_A: float = 1.5) -> BVSEMap:
    """E = k (rho - R)^2 - V cos(2 phi) + k_z z^2 about the cell's centre (k 0.5, k_z 1
    eV/A^2, V 0.2 eV): minima -V at (+-R, 0, 0), saddles +V at (0, +-R, 0) on the ring;
    the straight line between the minima crosses the axis at k R^2 - V."""
    n = int(round(cell_A / spacing_A))
    x = np.arange(n) * spacing_A - cell_A / 2
    gx, gy, gz = np.meshgrid(x, x, x, indexing="ij")
    rho, phi = np.hypot(gx, gy), np.arctan2(gy, gx)
    e = 0.5 * (rho - r_A) ** 2 - 0.2 * np.cos(2 * phi) + 1.0 * gz**2
    host = Structure(Lattice.cubic(cell_A), ["Li", "Cl"], [[0, 0, 0], [0.5, 0.5, 0]])
    return BVSEMap(host, e, "Li", spacing_A, 10.0, {})


def test_hop_saddle_follows_the_curved_minimum_energy_path():
    """Two minima on a ring: the path goes round the ring over +V = 0.2 eV, not over the
    axis (k R^2 - V = 0.925 eV on the straight line); a site given off its minimum takes
    the minimum's energy (-V), the saddle is unchanged."""
    bmap = _ring_map()
    f = lambda x, y: [0.5 + x / 8.0, 0.5 + y / 8.0, 0.5]  # noqa: E731
    site_e, saddle = hop_path_energies(bmap, np.array([f(-1.5, 0), f(1.5, 0)]), [(0, 1, (0, 0, 0))])
    assert site_e == pytest.approx([-0.2, -0.2], abs=1e-9)
    assert saddle[0] == pytest.approx(0.2, abs=0.01)
    off = np.array([f(-1.0, 0), f(1.5, 0)])  # 0.5 A inside the ring: E = -0.075 eV there
    site_e, saddle = hop_path_energies(bmap, off, [(0, 1, (0, 0, 0))])
    assert site_e[0] == pytest.approx(-0.2, abs=1e-9) and saddle[0] == pytest.approx(0.2, abs=0.01)


def test_hop_saddle_never_passes_through_a_third_site():
    """With sites on the two ring saddles, the ring route from one minimum to the other
    passes through them (two hops of the network): the direct hop keeps the straight line
    over the axis (0.925 eV), the hop to a ring site tops out at that site (+V); a site
    whose descent leaves its own cell (a shoulder) keeps its centre's energy."""
    bmap = _ring_map()
    f = lambda x, y: [0.5 + x / 8.0, 0.5 + y / 8.0, 0.5]  # noqa: E731
    sites = np.array([f(-1.5, 0), f(1.5, 0), f(0, 1.5), f(0, -1.5)])
    site_e, saddle = hop_path_energies(bmap, sites, [(0, 1, (0, 0, 0)), (0, 2, (0, 0, 0))])
    assert saddle[0] == pytest.approx(0.5 * 1.5**2 - 0.2, abs=0.01)
    assert saddle[1] == pytest.approx(0.2, abs=0.01)
    assert site_e[2] == pytest.approx(0.2, abs=1e-9)


def test_basin_contacts_are_the_voronoi_neighbours():
    """Sites of a bcc lattice have truncated-octahedron Voronoi cells: 8 hexagons to the
    other sublattice, 6 squares to their own images (3 undirected per site), 14 contacts
    in all, whatever the grid; one site per cubic cell touches its 26 images (13
    undirected: faces, and edges and corners through the 26-neighbour stencil)."""
    host = Structure(Lattice.cubic(4.0), ["Li", "Cl"], [[0, 0, 0], [0.5, 0.5, 0]])
    for n in (12, 15):
        bmap = BVSEMap(host, np.zeros((n, n, n)), "Li", 4.0 / n, 10.0, {})
        bcc = basin_contacts(bmap, np.array([[0.1, 0.1, 0.1], [0.6, 0.6, 0.6]]))
        assert len(bcc) == 14 and len(set(bcc)) == 14
        assert sorted(im for a, b, im in bcc if a != b) == sorted(
            (x, y, z) for x in (-1, 0) for y in (-1, 0) for z in (-1, 0)
        )
        assert sorted(im for a, b, im in bcc if a == b == 0) == [(0, 0, 1), (0, 1, 0), (1, 0, 0)]
        sc = basin_contacts(bmap, np.array([[0.1, 0.1, 0.1]]))
        assert len(sc) == 13 and all(a == b == 0 and any(im) for a, b, im in sc)
