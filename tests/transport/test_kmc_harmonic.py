"""Harmonic (Vineyard) hop prefactors: exact limits and symmetry.

- central differences are exact on a quadratic field;
- a separable double well: the minimum, the saddle and their curvatures are the analytic
  ones, and Vineyard's nu* is the frequency along the reaction coordinate;
- a harmonic frequency checked against scipy's constants;
- KMC with prefactors: one particle's D is nu* a^2 exp(-Ea/kT) on a cubic lattice, and two
  sites of equal energy but different stiffness are occupied as their harmonic free
  energies say (the stiffer one less);
- rock-salt LiCl's BVSE field: the octahedral and tetrahedral Li sites are isotropic (cubic
  site symmetry), equivalent sites and saddles get equal prefactors, and the prefactors
  leave the network's energies alone.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from scipy import constants

from halidelab.constants import K_B_EV_K
from halidelab.errors import SimulationError
from halidelab.screening.inputs import KMCInputs, TaskInputError
from halidelab.transport.harmonic import (
    gradient_hessian,
    mode_frequencies_Hz,
    stationary_points,
    vineyard_logs,
)
from halidelab.transport.kmc import ANGSTROM2_TO_CM2, make_network, network_from_bvse, run_kmc

NU0 = 1e13
LI_AMU = 6.94


def nu_of(k_eV_A2: float, mass_amu: float = LI_AMU) -> float:
    """(1/2 pi) sqrt(k/m) in SI, from scipy's constants."""
    k = k_eV_A2 * constants.electron_volt / constants.angstrom**2
    return math.sqrt(k / (mass_amu * constants.atomic_mass)) / (2 * math.pi)


def test_central_differences_are_exact_on_a_quadratic():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 3))
    k = a @ a.T + np.eye(3)
    b = rng.normal(size=3)

    def energy(x):
        return 0.5 * np.einsum("pi,ij,pj->p", x, k, x) + x @ b + 1.5

    x = rng.normal(size=(4, 3))
    e, g, h = gradient_hessian(energy, x)
    assert np.allclose(e, energy(x))
    assert np.allclose(g, x @ k + b, atol=1e-8)
    assert np.allclose(h, np.broadcast_to(k, (4, 3, 3)), atol=1e-6)


A_DW, B_DW, C_DW = 0.3, 1.2, 2.0  # eV, eV/A^2, eV/A^2


def double_well(x):
    """a (x^2 - 1)^2 + b y^2 + c z^2: minima at x = +-1, a saddle at 0 (barrier a)."""
    return A_DW * (x[:, 0] ** 2 - 1) ** 2 + B_DW * x[:, 1] ** 2 + C_DW * x[:, 2] ** 2


def test_a_double_wells_minimum_and_saddle_and_their_curvatures():
    start = np.array([[0.85, 0.1, -0.08], [0.12, -0.1, 0.05], [0.85, 0.1, -0.08]])
    x, e, h, ok = stationary_points(double_well, start, np.array([0, 1, 1]), max_move_A=0.5)
    assert ok.tolist() == [True, True, False]  # the third walks 0.85 A to the saddle
    assert np.allclose(x[0], [1, 0, 0], atol=1e-3)
    assert np.allclose(x[1], [0, 0, 0], atol=1e-3)
    assert e[1] - e[0] == pytest.approx(A_DW, abs=1e-5)
    # d2E/dx2 = a (12 x^2 - 4): 8a at the minimum, -4a at the saddle
    assert np.linalg.eigvalsh(h[0]) == pytest.approx(
        sorted([8 * A_DW, 2 * B_DW, 2 * C_DW]), rel=1e-3
    )
    assert np.linalg.eigvalsh(h[1]) == pytest.approx([-4 * A_DW, 2 * B_DW, 2 * C_DW], rel=1e-3)
    # separable: the y and z modes cancel, nu* is the x frequency at the minimum
    site, saddle = vineyard_logs(h[:1], h[1:2], LI_AMU, NU0)
    assert NU0 * math.exp(site[0] - saddle[0]) == pytest.approx(nu_of(8 * A_DW), rel=1e-3)
    with pytest.raises(SimulationError, match="exactly one negative"):
        vineyard_logs(h[:1], h[:1], LI_AMU, NU0)
    with pytest.raises(SimulationError, match="negative curvature"):
        vineyard_logs(h[1:2], h[1:2], LI_AMU, NU0)


def test_a_harmonic_frequency_from_scipys_constants():
    f = mode_frequencies_Hz(np.diag([1.0, 2.0, -0.5]), LI_AMU)
    assert f == pytest.approx([-nu_of(0.5), nu_of(1.0), nu_of(2.0)], rel=1e-9)
    assert 5.9e12 < nu_of(1.0) < 6.0e12  # 1 eV/A^2 on a Li: the THz scale of Li rattling
    with pytest.raises(SimulationError):
        mode_frequencies_Hz(np.eye(3), 0.0)


def cubic_harmonic(a: float, barrier: float, site_ln: float, saddle_ln: float):
    edges = [(0, 0, img, barrier) for img in ((1, 0, 0), (0, 1, 0), (0, 0, 1))]
    return make_network(
        np.eye(3) * a,
        [[0, 0, 0]],
        [0.0],
        edges,
        1,
        exclusion_radius_A=0.0,
        site_ln_nu=[site_ln],
        edge_ln_nu=[saddle_ln] * 3,
    )


def test_one_particle_diffuses_with_the_hops_own_prefactor():
    a, T, barrier = 3.0, 300.0, 0.3
    net = cubic_harmonic(a, barrier, site_ln=math.log(0.5) * 3, saddle_ln=math.log(0.6) * 2)
    nu_star = NU0 * 0.5**3 / 0.6**2  # 3.5 THz
    assert net.prefactors_Hz()[0] == pytest.approx([nu_star] * 3)
    p = run_kmc(
        net, [T], n_runs=16, hops_per_carrier=5000, supercell=(6, 6, 6), n_carriers_total=1, seed=1
    ).points[0]
    # simple cubic, one particle: D = (6 k) a^2 / 6
    expected = nu_star * math.exp(-barrier / (K_B_EV_K * T)) * a * a * ANGSTROM2_TO_CM2
    assert abs(p.d_tracer_cm2_s - expected) <= 3 * p.d_tracer_err_cm2_s
    assert abs(p.d_tracer_cm2_s / expected - 1) < 0.35


def test_a_stiffer_site_of_the_same_energy_holds_less_by_its_free_energy():
    """Two sites of a chain, equal energies; site E1's three modes are 2x stiffer in
    frequency: F1 - F0 = kT ln 8, so a lone Li spends 1/8 as long there."""
    T = 400.0
    net = make_network(
        np.diag([6.0, 30.0, 30.0]),
        [[0, 0, 0], [0.5, 0, 0]],
        [0.0, 0.0],
        [(0, 1, (0, 0, 0), 0.2), (1, 0, (1, 0, 0), 0.2)],
        1,
        site_label=["E0", "E1"],
        exclusion_radius_A=0.0,
        site_ln_nu=[0.0, 3 * math.log(2.0)],
        edge_ln_nu=[0.0, 0.0],
    )
    assert net.detailed_balance_error(T) < 1e-12
    fwd, bwd = net.rates(T)
    eff = net.effective(T)
    assert not eff.harmonic and np.allclose(eff.rates(T), (fwd, bwd), rtol=1e-12)
    p = run_kmc(
        net, [T], n_runs=8, hops_per_carrier=4000, supercell=(16, 1, 1), n_carriers_total=1, seed=3
    ).points[0]
    assert p.occupancy["E1"] / p.occupancy["E0"] == pytest.approx(1 / 8, rel=0.1)


def test_prefactors_need_one_finite_value_per_site_and_hop():
    base = dict(lattice=np.eye(3) * 3, site_frac=[[0, 0, 0]], site_energy_eV=[0.0], n_carriers=1)
    edges = [(0, 0, (1, 0, 0), 0.3)]
    with pytest.raises(SimulationError, match="one value per site"):
        make_network(edges=edges, site_ln_nu=[0.0], **base)
    with pytest.raises(SimulationError, match="one value per site"):
        make_network(edges=edges, site_ln_nu=[0.0, 1.0], edge_ln_nu=[0.0], **base)
    with pytest.raises(SimulationError, match="finite"):
        make_network(edges=edges, site_ln_nu=[math.nan], edge_ln_nu=[0.0], **base)
    with pytest.raises(SimulationError, match="one value per site"):
        make_network(edges=edges, edge_ln_nu=[0.0], **base)
    # sites without hops: prefactors of no hop, and a summary without their range
    lone = make_network(edges=[], site_ln_nu=[0.5], **base)
    assert lone.harmonic and lone.prefactors_Hz()[0].size == 0
    assert "prefactor_median_Hz" not in lone.summary()


@pytest.fixture(scope="module")
def licl() -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.14), ["Li", "Cl"], [[0, 0, 0], [0.5, 0, 0]]
    )


@pytest.fixture(scope="module")
def licl_nets(licl):
    return network_from_bvse(licl), network_from_bvse(licl, prefactors="harmonic")


def test_rock_salt_sites_are_isotropic_and_equivalent_hops_share_a_prefactor(licl, licl_nets):
    from halidelab.transport.bvse import bvse_field

    fixed, harm = licl_nets
    assert harm.harmonic and not fixed.harmonic
    assert "0 of" in harm.notes[-1]  # every site and saddle found its stationary point
    # the prefactors move no energy: same sites, saddles and barriers as the fixed network
    assert harm.site_energy_eV == fixed.site_energy_eV
    assert harm.edge_saddle_eV == fixed.edge_saddle_eV
    assert harm.provenance.parameters["prefactors"] == "harmonic"
    # Oh and Td sites: three equal curvatures
    cell = licl.lattice.matrix
    x, _, h, ok = stationary_points(
        bvse_field(licl),
        np.array([[0, 0, 0], [0.25, 0.25, 0.25]]) @ cell + 0.03,
        np.array([0, 0]),
        max_move_A=0.3,
    )
    assert ok.all()
    for hess in h:
        w = np.linalg.eigvalsh(hess)
        assert w.min() > 0 and w.max() / w.min() == pytest.approx(1.0, abs=0.01)
    # one value per orbit: octahedra, tetrahedra, oct-tet saddles
    by_role: dict[str, set] = {}
    for lab, lv in zip(harm.site_label, harm.site_ln_nu, strict=True):
        by_role.setdefault(lab, set()).add(round(lv, 3))
    assert all(len(v) == 1 for v in by_role.values()) and len(by_role) == 2
    assert len({round(m, 3) for m in harm.edge_ln_nu}) == 1
    assert harm.detailed_balance_error(298.15) < 1e-12
    nu = np.concatenate(harm.prefactors_Hz())
    assert harm.summary()["prefactor_median_Hz"] == pytest.approx(float(np.median(nu)))


def test_harmonic_prefactors_need_path_saddles_and_a_known_name(licl):
    with pytest.raises(SimulationError, match="path saddles"):
        network_from_bvse(licl, saddle="line", prefactors="harmonic")
    with pytest.raises(SimulationError, match="prefactors must be"):
        network_from_bvse(licl, prefactors="vineyard")


def test_kmc_task_keys_of_fixed_prefactors_are_unchanged(licl):
    base = dict(structure=licl.as_dict(), temperatures_K=[298.15])
    plain = KMCInputs(**base)
    assert "prefactors" not in plain.to_json()
    assert KMCInputs(**base, prefactors="fixed").to_json() == plain.to_json()
    harm = KMCInputs(**base, prefactors="harmonic")
    assert harm.to_json()["prefactors"] == "harmonic"
    with pytest.raises(TaskInputError, match="prefactors must be"):
        KMCInputs(**base, prefactors="vineyard")
    with pytest.raises(TaskInputError, match="minimum-energy paths"):
        KMCInputs(**base, prefactors="harmonic", bvse_saddle="line")
