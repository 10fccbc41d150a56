"""Shared report figures: BVSE slices, XRD, NEB profiles, MD Arrhenius."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from halidelab.report.figures import (
    bvse_slice_figure,
    bvse_slices,
    md_arrhenius_figure,
    neb_profiles_figure,
    xrd_figure,
)


@pytest.fixture(scope="module")
def licl():
    """Rock-salt LiCl (a = 5.13 A): Li in the octahedra, Cl on the other fcc lattice."""
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.13), ["Li", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def _energy_at(sl, x, y):
    i = np.argmin((sl.x_A - x) ** 2 + (sl.y_A - y) ** 2)
    return sl.energies_eV.flat[i]


def test_bvse_slices_have_li_in_wells_and_cl_on_peaks(licl):
    slices = bvse_slices(licl, resolution_A=0.15)
    assert [s.plane for s in slices] == ["ab", "ca"]
    # without a reference the zero is the lowest point of the two planes
    assert min(s.energies_eV.min() for s in slices) == pytest.approx(0.0, abs=1e-12)
    for sl in slices:
        # in-plane coordinates in A: the cubic cell face is a x a
        assert np.ptp(sl.x_A) == pytest.approx(5.13) and np.ptp(sl.y_A) == pytest.approx(5.13)
        li = [(x, y) for el, x, y in sl.atoms if el == "Li"]
        cl = [(x, y) for el, x, y in sl.atoms if el == "Cl"]
        assert li and cl  # the (001) and (010) planes through Li hold both
        e_li = max(_energy_at(sl, x, y) for x, y in li)
        e_cl = min(_energy_at(sl, x, y) for x, y in cl)
        # the Li sites are the wells of the map and the anions its peaks
        assert e_li < np.percentile(sl.energies_eV, 10)
        assert e_cl > e_li + 2.0


def test_bvse_slice_reference_shifts_the_zero(licl):
    free = bvse_slices(licl, resolution_A=0.3)
    ref = free[0].reference_eV - 0.25
    shifted = bvse_slices(licl, reference_eV=ref, resolution_A=0.3)
    for a, b in zip(free, shifted, strict=True):
        np.testing.assert_allclose(b.energies_eV, a.energies_eV + 0.25)


def test_bvse_slices_of_a_hexagonal_cell_keep_angstrom_geometry():
    s = Structure(
        Lattice.hexagonal(6.0, 9.0),
        ["Li", "Li", "Cl", "Cl"],
        [[0, 0, 0], [0, 0, 0.5], [1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]],
    )
    ab, ca = bvse_slices(s, resolution_A=0.3)
    # the ab rhombus spans a + |b cos 120| = 1.5 a along a, a sin 120 across
    assert np.ptp(ab.x_A) == pytest.approx(9.0) and np.ptp(ab.y_A) == pytest.approx(
        6.0 * np.sqrt(3) / 2
    )
    # the ca plane: c horizontal, a vertical (perpendicular in a hexagonal cell)
    assert np.ptp(ca.x_A) == pytest.approx(9.0) and np.ptp(ca.y_A) == pytest.approx(6.0)
    fig = bvse_slice_figure([ab, ca], e_max_eV=2.0, levels={"1D percolation": 0.5, "3D": None})
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["1D percolation: 0.50 eV"]


def test_bvse_slices_need_the_mobile_ion():
    from halidelab.errors import StructureError

    s = Structure(Lattice.cubic(5.6), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(StructureError, match="has no Li"):
        bvse_slices(s)


def test_xrd_figure_draws_peaks_where_the_pattern_has_them(licl):
    from halidelab.structures.xrd import simulate_pattern

    pat = simulate_pattern(licl)
    fig = xrd_figure([("LiCl", pat.to_dict()), ("none", None)])
    (line,) = fig.axes[0].lines
    x, y = line.get_data()
    strongest = pat.two_theta_deg[int(np.argmax(pat.intensity))]
    assert x[np.argmax(y)] == pytest.approx(strongest, abs=0.05)
    assert "λ = 1.5418 Å" in fig.axes[0].get_xlabel()
    with pytest.raises(ValueError, match="no XRD pattern"):
        xrd_figure([("none", None)])


def test_neb_figure_draws_every_hop_and_the_percolation_barriers(neb_study):
    fig = neb_profiles_figure([("x = 0.2", neb_study), ("no hops", {"results": []})])
    assert len(fig.axes) == 1  # the study without hops is left out
    ax = fig.axes[0]
    hops = [ln for ln in ax.lines if len(ln.get_xdata()) > 2]
    assert [max(ln.get_ydata()) for ln in hops] == [0.30, 0.45]
    assert hops[1].get_linestyle() == ":"  # not converged
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "Li2->i3->Li2 [ab] (not conv.)" in labels and "3D percolation 0.45 eV" in labels
    with pytest.raises(ValueError):
        neb_profiles_figure([("x", None)])


def test_md_arrhenius_figure_ends_at_the_stored_300K_value(md_runs):
    from halidelab.transport.diffusion import DiffusionResult, md_arrhenius

    arr = md_arrhenius([DiffusionResult.from_dict(r["diffusion"]) for r in md_runs()]).to_dict()
    fig = md_arrhenius_figure([("LZNC", arr)], measured=[("LZNC 25 °C", 298.15, 1.03e-3)])
    ax = fig.axes[0]
    ext = next(ln for ln in ax.lines if ln.get_linestyle() == "--")
    x, y = ext.get_data()
    # the dashed extrapolation reaches 1000/300 K^-1 at the stored sigma(300 K), in mS/cm
    assert x[0] == pytest.approx(1000 / 300) and y[0] == pytest.approx(
        arr["sigma_300K_S_cm"] * 1e3, rel=1e-6
    )
    star = next(ln for ln in ax.lines if ln.get_marker() == "*")
    assert star.get_ydata()[0] == pytest.approx(1.03)
    assert ax.get_yscale() == "log" and "1000/T" in ax.get_xlabel()
    with pytest.raises(ValueError, match="no MD Arrhenius"):
        md_arrhenius_figure([("x", {"error": "D is not positive"})])
