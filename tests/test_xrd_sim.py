"""Simulated XRD of structure models: Bragg's law, hexagonal d-spacings, profiles, writers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from halidelab.errors import StructureError, UnitError
from halidelab.lab.xrd import read_pattern
from halidelab.structures.prototypes import read_structure
from halidelab.structures.xrd import (
    XRDPattern,
    pseudo_voigt,
    resolve_wavelength,
    simulate_pattern,
    write_peak_list,
    write_xy,
)

CU_KA = 1.54184  # pymatgen's weighted Cu K-alpha1/alpha2 mean (A)


@pytest.fixture(scope="module")
def lyc(shared_data) -> Structure:
    return read_structure(shared_data / "structures" / "Li3YCl6_P-3m1_obelix-ei3.cif")


@pytest.fixture(scope="module")
def lyc_pattern(lyc) -> XRDPattern:
    return simulate_pattern(lyc)


def _peak_with(pattern: XRDPattern, hkl: tuple[int, int, int]) -> int:
    hits = [i for i, fams in enumerate(pattern.hkls) if hkl in fams]
    assert hits, f"{hkl} not in the peak list"
    return hits[0]


def test_li3ycl6_110_by_hand(lyc, lyc_pattern):
    # hexagonal: 1/d^2 = 4/3 (h^2 + hk + k^2)/a^2 + l^2/c^2, so d(110) = a/2
    a = lyc.lattice.a
    d110 = a / 2
    two_theta = 2 * math.degrees(math.asin(CU_KA / (2 * d110)))
    i = _peak_with(lyc_pattern, (1, 1, 0))
    assert lyc_pattern.d_spacing_A[i] == pytest.approx(d110, rel=1e-6)
    assert lyc_pattern.two_theta_deg[i] == pytest.approx(two_theta, abs=1e-4)
    assert 15.7 < two_theta < 15.9  # a = 11.21 A
    assert lyc_pattern.intensity[i] > 20  # one of the strong low-angle reflections


def test_li3ycl6_strong_low_angle_reflections(lyc, lyc_pattern):
    a, c = lyc.lattice.a, lyc.lattice.c
    # the strong reflections below 35 deg of trigonal Li3YCl6 (P-3m1)
    for hkl in [(1, 1, 0), (1, 0, 1), (3, 0, 1)]:
        h, k, l_ = hkl
        d = 1 / math.sqrt(4 / 3 * (h * h + h * k + k * k) / a**2 + l_**2 / c**2)
        i = _peak_with(lyc_pattern, hkl)
        assert lyc_pattern.d_spacing_A[i] == pytest.approx(d, rel=1e-6)
        assert lyc_pattern.intensity[i] > 10
    assert max(lyc_pattern.intensity) == pytest.approx(100.0)


def test_every_peak_obeys_bragg_and_the_hexagonal_metric(lyc, lyc_pattern):
    a, c = lyc.lattice.a, lyc.lattice.c
    for tt, d, fams in zip(
        lyc_pattern.two_theta_deg, lyc_pattern.d_spacing_A, lyc_pattern.hkls, strict=True
    ):
        assert tt == pytest.approx(2 * math.degrees(math.asin(CU_KA / (2 * d))), abs=1e-6)
        for h, k, l_ in fams:  # the 3-index labels give the same d
            d_hex = 1 / math.sqrt(4 / 3 * (h * h + h * k + k * k) / a**2 + l_**2 / c**2)
            assert d_hex == pytest.approx(d, rel=1e-6)
    assert min(lyc_pattern.two_theta_deg) >= 10 and max(lyc_pattern.two_theta_deg) <= 80


def test_wavelength_moves_peaks_by_bragg(lyc, lyc_pattern):
    ka1 = simulate_pattern(lyc, wavelength="CuKa1")
    lam1 = ka1.wavelength_A
    assert lam1 == pytest.approx(1.54056)
    assert lyc_pattern.wavelength_label == "CuKa"
    assert "weighted" in lyc_pattern.provenance.parameters["wavelength_note"]
    i, j = _peak_with(lyc_pattern, (1, 1, 0)), _peak_with(ka1, (1, 1, 0))
    assert math.sin(math.radians(ka1.two_theta_deg[j] / 2)) / lam1 == pytest.approx(
        math.sin(math.radians(lyc_pattern.two_theta_deg[i] / 2)) / CU_KA, rel=1e-9
    )


def test_partial_occupancy_changes_intensities(lyc):
    # emptying the split Y 2d sites changes the structure factors: intensities move
    ordered = lyc.copy()
    ordered.remove_species(["Y"])
    full = simulate_pattern(lyc)
    empty = simulate_pattern(ordered)
    assert not np.allclose(sorted(full.intensity)[-5:], sorted(empty.intensity)[-5:], rtol=0.05)


def test_monoclinic_li3incl6(shared_data):
    s = read_structure(shared_data / "structures" / "Li3InCl6_C2_m_obelix-de5.cif")
    pat = simulate_pattern(s, two_theta_range_deg=(10, 40))
    a, b, c = s.lattice.abc
    beta = math.radians(s.lattice.beta)
    # monoclinic (b unique): 1/d^2 = (h^2/a^2 + k^2 sin^2 b/b^2 + l^2/c^2 - 2hl cos b/(ac))/sin^2 b
    for d, fams in zip(pat.d_spacing_A, pat.hkls, strict=True):
        h, k, l_ = fams[0]
        inv = (
            h * h / a**2
            + k * k * math.sin(beta) ** 2 / b**2
            + l_**2 / c**2
            - 2 * h * l_ * math.cos(beta) / (a * c)
        ) / math.sin(beta) ** 2
        assert 1 / math.sqrt(inv) == pytest.approx(d, rel=1e-6)
    # C-centring: h + k odd is absent
    assert all((h + k) % 2 == 0 for fams in pat.hkls for h, k, _ in fams)


def test_profile_areas_and_kalpha2(lyc):
    pat = simulate_pattern(lyc, wavelength="CuKa1", two_theta_range_deg=(14, 20))
    grid = np.arange(5, 30, 0.002)
    y = pat.profile(grid, fwhm_deg=0.08, eta=0.3, normalize=False)
    assert np.trapezoid(y, grid) == pytest.approx(sum(pat.intensity), rel=0.01)
    y2 = pat.profile(grid, fwhm_deg=0.08, eta=0.3, kalpha2_ratio=0.5, normalize=False)
    assert np.trapezoid(y2, grid) == pytest.approx(1.5 * sum(pat.intensity), rel=0.01)
    # the K-alpha2 line of (110) sits where Bragg's law puts it for 1.54439 A
    d = pat.d_spacing_A[_peak_with(pat, (1, 1, 0))]
    tt2 = 2 * math.degrees(math.asin(1.54439 / (2 * d)))
    near = (grid > tt2 - 0.03) & (grid < tt2 + 0.03)
    assert (y2 - y)[near].max() == pytest.approx((y2 - y).max(), rel=0.2)
    with pytest.raises(UnitError):
        simulate_pattern(lyc).profile(grid, kalpha2_ratio=0.5)  # CuKa is already a mean


def test_pseudo_voigt_is_normalised():
    x = np.linspace(-50, 50, 200001)
    for eta in (0.0, 0.5, 1.0):
        area = np.trapezoid(pseudo_voigt(x, 0.2, eta), x)
        assert area == pytest.approx(1.0, rel=3e-3)
    half = pseudo_voigt(np.array([0.0, 0.1]), 0.2, 0.4)
    assert half[1] / half[0] == pytest.approx(0.5, rel=1e-9)  # FWHM really is 0.2


def test_writers_round_trip(lyc_pattern, tmp_path):
    xy = write_xy(lyc_pattern, tmp_path / "lyc.xy", step_deg=0.01, fwhm_deg=0.1)
    back = read_pattern(xy)
    assert back.x[0] == pytest.approx(10.0) and back.x[-1] == pytest.approx(80.0)
    strongest = lyc_pattern.two_theta_deg[int(np.argmax(lyc_pattern.intensity))]
    assert back.x[int(np.argmax(back.y))] == pytest.approx(strongest, abs=0.011)
    csv = write_peak_list(lyc_pattern, tmp_path / "peaks.csv")
    lines = csv.read_text().splitlines()
    assert lines[0] == "two_theta_deg,d_spacing_A,intensity,hkl,multiplicity"
    assert len(lines) == len(lyc_pattern) + 1
    assert XRDPattern.from_dict(lyc_pattern.to_dict()) == lyc_pattern


def test_bad_input():
    with pytest.raises(StructureError):
        simulate_pattern("Li3YCl6.cif")  # type: ignore[arg-type]
    s = Structure(Lattice.cubic(5.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(UnitError):
        simulate_pattern(s, wavelength="CuKz")
    with pytest.raises(UnitError):
        simulate_pattern(s, two_theta_range_deg=(80, 10))
    with pytest.raises(UnitError):
        resolve_wavelength(154.0)  # pm, not A
    with pytest.raises(StructureError):
        simulate_pattern(s, two_theta_range_deg=(1, 2))  # no reflection there
