"""Kinetic Monte Carlo on hop networks: exact limits of lattice-gas diffusion.

- one particle on a simple cubic lattice: D = Gamma a^2 / 6 (Gamma the total hop rate);
- a 1D chain with site blocking (single-file): the tracer D vanishes at long times, the
  collective (jump) D stays (1 - c) k a^2;
- two site energies: Boltzmann (one particle) and Fermi-Dirac (many) occupations;
- detailed balance on every generated network (NEB and BVSE);
- the result does not depend on the supercell once it is large enough.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from halidelab.constants import E_CHARGE_C, K_B_EV_K, K_B_J_K
from halidelab.errors import SimulationError
from halidelab.transport.kmc import (
    ANGSTROM2_TO_CM2,
    make_network,
    network_from_bvse,
    network_from_neb_study,
    run_kmc,
)

NU = 1e13


def k_hop(barrier_eV: float, T: float) -> float:
    return NU * math.exp(-barrier_eV / (K_B_EV_K * T))


def within(value: float, expected: float, err: float, n_sigma: float = 3.0) -> bool:
    return abs(value - expected) <= n_sigma * err


def cubic(a: float = 3.0, barrier: float = 0.3, n_carriers: int = 1):
    edges = [(0, 0, img, barrier) for img in ((1, 0, 0), (0, 1, 0), (0, 0, 1))]
    return make_network(
        np.eye(3) * a, [[0, 0, 0]], [0.0], edges, n_carriers, exclusion_radius_A=0.0
    )


def test_one_particle_on_simple_cubic_lattice():
    a, T = 3.0, 300.0
    res = run_kmc(
        cubic(a),
        [T],
        n_runs=24,
        hops_per_carrier=20000,
        supercell=(6, 6, 6),
        n_carriers_total=1,
        seed=1,
    )
    p = res.points[0]
    gamma = 6 * k_hop(0.3, T)
    expected = gamma * a * a / 6 * ANGSTROM2_TO_CM2
    assert within(p.d_tracer_cm2_s, expected, p.d_tracer_err_cm2_s)
    assert abs(p.d_tracer_cm2_s / expected - 1) < 0.35
    # one particle: tracer and collective are the same walk
    assert p.d_sigma_cm2_s == pytest.approx(p.d_tracer_cm2_s)


def chain(
    n_cells: int = 1, a: float = 3.0, energies=(0.0,), barrier: float = 0.3, n_carriers: int = 1
):
    """A 1D chain along x (cell length a * len(energies)); the other axes are long and
    carry no hops."""
    m = len(energies)
    frac = [[k / m, 0.0, 0.0] for k in range(m)]
    edges = [
        (k, (k + 1) % m, (1 if k == m - 1 else 0, 0, 0), max(energies) + barrier) for k in range(m)
    ]
    return make_network(
        np.diag([a * m, 30.0, 30.0]),
        frac,
        list(energies),
        edges,
        n_carriers,
        site_label=[f"E{k}" for k in range(m)],
        exclusion_radius_A=0.0,
    )


def test_single_file_chain_tracer_vanishes_collective_stays():
    """Site blocking on a line: particles cannot pass, so the tracer MSD grows as sqrt(t)
    and D* falls with the run length, while the collective D is (1 - c) k a^2 (here in
    the 3D convention MSD/6t: divided by 3)."""
    a, T, L, n = 3.0, 300.0, 64, 32
    k = k_hop(0.3, T)
    runs = [
        run_kmc(
            chain(a=a),
            [T],
            n_runs=96,  # one collective trajectory per run: 24 runs leave a 15 % error
            hops_per_carrier=h,
            supercell=(L, 1, 1),
            n_carriers_total=n,
            seed=2,
        ).points[0]
        for h in (100, 800)
    ]
    c = n / L
    d_j = (1 - c) * k * a * a / 3 * ANGSTROM2_TO_CM2
    for p in runs:
        assert within(p.d_sigma_cm2_s, d_j, p.d_sigma_err_cm2_s)
        assert abs(p.d_sigma_cm2_s / d_j - 1) < 0.3
    short, long = runs
    assert long.d_tracer_cm2_s < 0.5 * short.d_tracer_cm2_s  # D*(t) ~ t^-1/2
    assert long.d_tracer_cm2_s < 0.15 * long.d_sigma_cm2_s
    assert long.haven_ratio < 0.15


def test_two_site_energies_boltzmann_and_fermi_dirac():
    T, de = 400.0, 0.05
    kt = K_B_EV_K * T
    one = run_kmc(
        chain(energies=(0.0, de)),
        [T],
        n_runs=8,
        hops_per_carrier=4000,
        supercell=(16, 1, 1),
        n_carriers_total=1,
        seed=3,
    ).points[0]
    ratio = one.occupancy["E1"] / one.occupancy["E0"]
    assert ratio == pytest.approx(math.exp(-de / kt), rel=0.1)
    # many particles with exclusion: n/(1-n) ratio is Boltzmann (common chemical potential)
    many = run_kmc(
        chain(energies=(0.0, de)),
        [T],
        n_runs=8,
        hops_per_carrier=400,
        supercell=(32, 1, 1),
        n_carriers_total=40,
        seed=4,
    ).points[0]
    n0, n1 = many.occupancy["E0"], many.occupancy["E1"]
    assert (n0 + n1) / 2 == pytest.approx(40 / 64, abs=1e-9)
    assert (n1 / (1 - n1)) / (n0 / (1 - n0)) == pytest.approx(math.exp(-de / kt), rel=0.1)


def test_face_exclusions_give_the_boltzmann_occupancy_of_the_allowed_configurations():
    """A chain of Li sites (E = 0) and interstitials (E = de) in turn, each interstitial
    sharing a face with both its neighbours. With those pairs excluded, a Li sits on an
    interstitial only when both neighbours are empty; detailed balance then gives the
    canonical average over exactly the allowed configurations, computed here by
    enumerating all 2^12 of them. Without the exclusion the average is another one (the
    test tells the two apart)."""
    import itertools

    T, de, L, n = 400.0, 0.05, 6, 4
    kt = K_B_EV_K * T

    def net(excluded: bool):
        return make_network(
            np.diag([5.0, 30.0, 30.0]),
            [[0.0, 0.0, 0.0], [0.5, 0.0, 0.0]],
            [0.0, de],
            [(0, 1, (0, 0, 0), 0.3), (1, 0, (1, 0, 0), 0.3)],
            1,
            site_label=["A", "I"],
            site_role=["li", "interstitial"],
            exclusion_pairs=[(0, 1, (0, 0, 0)), (1, 0, (1, 0, 0))] if excluded else (),
        )

    def exact(excluded: bool) -> float:
        z = w_i = 0.0
        for occ in itertools.product((0, 1), repeat=2 * L):  # ring: A0 I0 A1 I1 ...
            if sum(occ) != n:
                continue
            if excluded and any(
                occ[2 * k + 1] and (occ[2 * k] or occ[(2 * k + 2) % (2 * L)]) for k in range(L)
            ):
                continue
            n_i = sum(occ[1::2])
            w = math.exp(-de * n_i / kt)
            z += w
            w_i += w * n_i
        return w_i / z / L

    got = {}
    for excluded in (True, False):
        p = run_kmc(
            net(excluded),
            [T],
            n_runs=8,
            hops_per_carrier=3000,
            supercell=(L, 1, 1),
            n_carriers_total=n,
            seed=5,
            diffusive_check=False,
        ).points[0]
        got[excluded] = p.occupancy["I"]
        assert got[excluded] == pytest.approx(exact(excluded), rel=0.05)
    assert abs(exact(True) - exact(False)) > 0.2 * exact(False)
    assert got[True] < got[False]


def test_face_exclusions_pair_interstitials_with_their_face_neighbours(lzc):
    """The excluded pairs are an interstitial between two Li sites and those sites, sharing
    a face, one of them a tetrahedron: 1.5-2.7 A apart, never two Li sites, never two
    octahedra (hcp octahedra along c share faces 3 A apart and stay allowed). In the
    ordered spinel each empty 16c octahedron is paired with exactly the two 8a Li
    tetrahedra it faces. A ccp tetrahedron facing four Li octahedra (Li3InCl6) is not
    excluded: its NEB energy was measured with two of them occupied."""
    from halidelab.transport.kmc.network import face_exclusions
    from halidelab.transport.sites import site_network
    from halidelab.validation.reference import resolve_structure_file
    from halidelab.validation.structures import build_reference_model

    spinel = build_reference_model(
        "Li2MgCl4", "cif-spinel", resolve_structure_file("reference/Li2MgCl4_Fd-3m_obelix-dvn.cif")
    ).to_structure()
    li3incl6 = build_reference_model(
        "Li3InCl6", "cif", resolve_structure_file("structures/Li3InCl6_C2_m_obelix-de5.cif")
    ).to_structure()
    ccp = site_network(li3incl6)
    assert face_exclusions(ccp.sites, ccp.hops) == []
    for s in (lzc, spinel):
        net = site_network(s)
        pairs = face_exclusions(net.sites, net.hops)
        m = s.lattice.matrix
        for a, b, img in pairs:
            sa, sb = net.sites[a], net.sites[b]
            assert "tet" in (sa.kind, sb.kind) and "interstitial" in (sa.role, sb.role)
            d = np.linalg.norm((np.array(sb.frac) + img - np.array(sa.frac)) @ m)
            assert 1.4 < d < 2.8
    tet_li = {x.index for x in net.sites if x.role == "li" and x.kind == "tet"}
    per_16c: dict[int, int] = {}
    for a, b, _ in pairs:
        for i, j in ((a, b), (b, a)):
            if net.sites[i].kind == "oct" and net.sites[i].role == "interstitial" and j in tet_li:
                per_16c[i] = per_16c.get(i, 0) + 1
    assert per_16c and set(per_16c.values()) == {2}


def test_answer_does_not_depend_on_the_supercell():
    """A 3D network with two site energies and exclusion; 3x3x3 and 4x4x4 agree."""
    a = 3.0
    frac = [[0, 0, 0], [0.5, 0.5, 0.5]]
    edges = [
        (0, 1, img, 0.35)
        for img in (
            (0, 0, 0),
            (-1, 0, 0),
            (0, -1, 0),
            (0, 0, -1),
            (-1, -1, 0),
            (-1, 0, -1),
            (0, -1, -1),
            (-1, -1, -1),
        )
    ]
    net = make_network(np.eye(3) * a * 2, frac, [0.0, 0.04], edges, 1, exclusion_radius_A=0.0)
    pts = [
        run_kmc(net, [350.0], n_runs=10, hops_per_carrier=300, supercell=(r, r, r), seed=5).points[
            0
        ]
        for r in (3, 4)
    ]
    d = [p.d_sigma_cm2_s for p in pts]
    err = math.hypot(*(p.d_sigma_err_cm2_s for p in pts))
    assert within(d[0], d[1], err)
    assert pts[0].sigma_S_cm == pytest.approx(pts[1].sigma_S_cm, rel=0.3)


def test_arrhenius_of_a_single_barrier_network():
    """One barrier, no site energy differences: Ea of sigma T is the barrier."""
    res = run_kmc(
        cubic(barrier=0.3),
        [300.0, 350.0, 400.0],
        n_runs=6,
        hops_per_carrier=400,
        supercell=(4, 4, 4),
        n_carriers_total=16,
        seed=6,
    )
    assert res.ea_eV == pytest.approx(0.3, abs=3 * res.ea_err_eV + 0.01)
    assert res.sigma_25C_S_cm > 0 and res.points[0].haven_ratio is not None


@pytest.fixture(scope="module")
def lzc():
    from halidelab.composition import design_composition
    from halidelab.structures.models import build_models

    return build_models(design_composition("Li2ZrCl6"), n_configs=1, sweeps=40).structures[0]


def test_network_from_neb_study_recovers_energies_and_keeps_detailed_balance(lzc, orbit_study):
    study, e = orbit_study(lzc)
    net = network_from_neb_study(study, lzc)
    for lab, en in zip(net.site_label, net.site_energy_eV, strict=True):
        assert en == pytest.approx(e[lab], abs=1e-9)
    assert net.n_carriers == sum(1 for s in lzc.species if s.symbol == "Li")
    assert len(net.edge_a) == len(study["network"]["hops"])  # every class has a barrier
    for T in (250.0, 300.0, 900.0):
        assert net.detailed_balance_error(T) < 1e-9
    s = np.asarray(net.edge_saddle_eV)
    en = np.asarray(net.site_energy_eV)
    assert (s >= np.maximum(en[list(net.edge_a)], en[list(net.edge_b)]) - 1e-12).all()
    # a class with no converged run leaves its hops out, and says so
    study["results"][0]["converged"] = False
    fewer = network_from_neb_study(study, lzc)
    assert len(fewer.edge_a) < len(net.edge_a) and any("left out" in n for n in fewer.notes)


def test_a_study_that_took_li_out_simulates_its_own_cell(lzc, orbit_study):
    """A study that emptied sites of full Li orbits ran on a cell with fewer Li: its KMC
    has that many carriers fewer (stored without its network or with it), and says why."""
    study, _ = orbit_study(lzc)
    n_li = sum(1 for s in lzc.species if s.symbol == "Li")
    stored = {k: v for k, v in study.items() if k != "network"}
    stored["created_vacancies"] = ["Li1 site 0: Li atom 0 removed"]
    net = network_from_neb_study(stored, lzc)
    assert net.n_carriers == n_li - 1
    assert any("1 Li taken out" in n and "vacancy fraction" in n for n in net.notes)
    full = network_from_neb_study(study, lzc)
    assert full.n_carriers == n_li  # none taken out
    # the kmc tier of `validate` carries the caveat into its predictions' notes
    from halidelab.validation.tiers import kmc_predict

    k = {"ea_eV": 0.3, "ea_err_eV": 0.01, "sigma_25C_S_cm": 1e-3}
    k |= {"sigma_25C_low_S_cm": 5e-4, "sigma_25C_high_S_cm": 2e-3}
    # diffusive and resolved at 25 C: a value that is no extrapolation
    point = {"temperature_K": 298.15, "diffusive": True, "d_sigma_cm2_s": 1e-8}
    k["points"] = [point | {"sigma_S_cm": 1e-3, "sigma_err_S_cm": 1e-4}]
    made = kmc_predict({"kmc": k, "network": net.to_dict()}, None)
    plain = kmc_predict({"kmc": k, "network": full.to_dict()}, None)
    assert "fraction is the cell's" in made["log10_sigma_S_cm"].note
    assert "fraction is the cell's" in made["ea_eV"].note
    assert "fraction" not in plain["log10_sigma_S_cm"].note


def test_bvse_network_keeps_detailed_balance(lzc):
    net = network_from_bvse(lzc)
    assert net.source == "bvse" and net.n_carriers == 12
    assert net.detailed_balance_error(300.0) < 1e-9
    assert min(net.site_energy_eV[i] for i, r in enumerate(net.site_role) if r == "li") == 0.0


def test_bvse_network_percolates_at_the_maps_3d_barrier(lzc):
    """The map's 3D percolation energy is the lowest maximum over all 3D-spanning paths; a
    network whose saddles are the tops of the minimum-energy paths between basins spans 3D
    at the same energy (to the grid; on this cell with or without the basin contacts).
    Straight-line saddles climb over what a Li goes round, and percolate only higher."""
    from halidelab.transport.bvse import bvse
    from halidelab.transport.pathways import percolation_thresholds

    res, _ = bvse(lzc, resolution_A=0.15)

    def threshold(net):
        edges = zip(
            net.edge_a, net.edge_b, map(tuple, net.edge_image), net.edge_saddle_eV, strict=True
        )
        return percolation_thresholds(list(edges))[3] - min(net.site_energy_eV)

    path, line = network_from_bvse(lzc), network_from_bvse(lzc, saddle="line")
    assert threshold(path) == pytest.approx(res.e_3d_eV, abs=0.01)
    assert threshold(line) > res.e_3d_eV + 0.02
    assert "minimum-energy path" in path.notes[0] and "straight hop line" in line.notes[0]
    assert path.edge_class == line.edge_class  # the site network's hops, either way
    # with the basin contacts: the site network's hops first, those it lacks after them
    both = network_from_bvse(lzc, contacts=True)
    assert threshold(both) == pytest.approx(res.e_3d_eV, abs=0.01)
    assert both.edge_class[: len(path.edge_class)] == path.edge_class
    contacts = both.edge_class[len(path.edge_class) :]
    assert contacts and all(c.endswith("basin contact") for c in contacts)
    assert f"site network's: {len(contacts)} of" in both.notes[0]
    assert both.provenance.parameters["contacts"] is True
    assert "contacts" not in path.provenance.parameters
    assert path.detailed_balance_error(300.0) < 1e-9
    with pytest.raises(SimulationError, match="'path' or 'line'"):
        network_from_bvse(lzc, saddle="curved")
    with pytest.raises(SimulationError, match="contacts need path saddles"):
        network_from_bvse(lzc, saddle="line", contacts=True)


def test_bad_inputs():
    with pytest.raises(SimulationError, match="carriers"):
        make_network(np.eye(3), [[0, 0, 0]], [0.0], [], 2)
    with pytest.raises(SimulationError, match="itself"):
        make_network(np.eye(3), [[0, 0, 0]], [0.0], [(0, 0, (0, 0, 0), 0.2)], 1)
    with pytest.raises(SimulationError, match="two runs"):
        run_kmc(cubic(), [300.0], n_runs=1)
    with pytest.raises(SimulationError, match="positive"):
        run_kmc(cubic(), [-3.0])
    with pytest.raises(SimulationError, match="average must be one of"):
        run_kmc(cubic(), [300.0], average="pellet")
    # one carrier per site: no hop is possible, said (no error, no number)
    res = run_kmc(cubic(n_carriers=1), [300.0, 400.0], n_runs=2, supercell=(2, 2, 2))
    assert all(not p.diffusive and "blocked" in p.note and p.sigma_S_cm == 0.0 for p in res.points)
    assert (
        res.ea_eV is None
        and res.sigma_25C_S_cm is None
        and any("blocked" in w for w in res.warnings)
    )
    # and no pellet value either: a blocked point has no tensor
    assert res.other_average["ea_eV"] is None
    assert all(p.sigma_polycrystal_S_cm is None for p in res.points)


def rattler(slow_eV: float, L: float = 6.0):
    """A fast back-and-forth pair 1 A apart (barrier 0.2 eV) in a chain whose cells join
    through a slow hop: per-event statistics are dominated by rattling."""
    return make_network(
        np.diag([L, 30.0, 30.0]),
        [[0, 0, 0], [1 / L, 0, 0]],
        [0.0, 0.0],
        [(0, 1, (0, 0, 0), 0.2), (1, 0, (1, 0, 0), slow_eV)],
        1,
        exclusion_radius_A=0.0,
    )


def test_rattling_runs_are_extended_until_diffusive():
    """D = k_slow L^2 / 6 (half the time on each site of the pair, each crossing moves L);
    20 events per carrier see almost no crossing, so the run is extended."""
    T, L = 300.0, 6.0
    res = run_kmc(
        rattler(0.3, L),
        [T],
        n_runs=16,
        hops_per_carrier=20,
        supercell=(32, 1, 1),
        n_carriers_total=1,
        seed=1,
    )
    p = res.points[0]
    assert p.diffusive and p.hops_per_carrier > 100
    exact = k_hop(0.3, T) * L * L / 6 * ANGSTROM2_TO_CM2
    assert within(p.d_sigma_cm2_s, exact, p.d_sigma_err_cm2_s)


def test_threads_run_the_same_runs():
    """The runs of a temperature go on in parallel threads; every random number comes from
    the run's own seed, so one thread and three give the same numbers to the last bit, with
    the equilibrium start, the extension of non-diffusive runs (the rattler is extended
    from 20 events per carrier) and many carriers with site energies (two-site lattice)."""
    from halidelab.transport.kmc.run import default_threads

    two_site = make_network(
        np.eye(3) * 6.0,
        [[0, 0, 0], [0.5, 0.5, 0.5]],
        [0.0, 0.04],
        [(0, 1, img, 0.35) for img in ((0, 0, 0), (-1, 0, 0), (0, -1, 0), (0, 0, -1))],
        1,
        exclusion_radius_A=0.0,
    )
    cases = [
        (rattler(0.3, 6.0), dict(supercell=(32, 1, 1), n_carriers_total=1, hops_per_carrier=20)),
        (two_site, dict(supercell=(3, 3, 3), hops_per_carrier=50)),
    ]
    for net, kw in cases:
        seen = {}
        for threads in (1, 3):
            calls = []
            res = run_kmc(
                net,
                [300.0, 400.0],
                n_runs=6,
                seed=4,
                threads=threads,
                progress=lambda done, total, calls=calls: calls.append((done, total)),
                **kw,
            )
            seen[threads] = [
                (p.d_sigma_runs, p.d_tracer_runs, p.events_per_run, p.occupancy) for p in res.points
            ]
            dones = [d for d, _ in calls]
            assert dones == list(range(1, len(calls) + 1)) and calls[-1][0] == calls[-1][1]
        assert seen[1] == seen[3]
    assert res.points[0].hops_per_carrier > 0
    assert default_threads(8) >= 1 and default_threads(1) == 1
    with pytest.raises(SimulationError, match="threads"):
        run_kmc(two_site, [300.0], n_runs=2, threads=0)


def test_an_error_in_one_run_drops_the_runs_not_yet_started():
    """Ctrl-C or a failing run stops the temperature: the queued runs are not started."""
    import threading
    import time

    from halidelab.transport.kmc.run import _map_runs

    started = []
    lock = threading.Lock()

    def run(job):
        with lock:
            started.append(job)
        if job == 0:
            raise KeyboardInterrupt
        time.sleep(0.05)
        return job

    with pytest.raises(KeyboardInterrupt):
        _map_runs(run, list(range(40)), 2, None, 0, 40)
    assert len(started) < 10
    assert _map_runs(lambda j: 2 * j, [1, 2, 3], 2, None, 0, 3) == [2, 4, 6]


def test_default_threads_follow_omp_num_threads(monkeypatch):
    from halidelab.transport.kmc.run import default_threads

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert default_threads(8) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "64")
    assert default_threads(8) <= 8
    assert default_threads(2) <= 2
    # inside a Dask worker the worker processes are the parallelism: one thread
    import sys
    import types

    fake = types.ModuleType("distributed")
    fake.get_worker = lambda: object()
    monkeypatch.setitem(sys.modules, "distributed", fake)
    assert default_threads(8) == 1

    def outside():
        raise ValueError("No worker found")

    fake.get_worker = outside
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert default_threads(8) == min(8, cpus)


def test_a_temperature_that_never_becomes_diffusive_is_left_out():
    # plain rates: the superbasin acceleration (tests/transport/test_kmc_superbasin.py)
    # would make this rattler diffusive
    res = run_kmc(
        rattler(0.6),
        [300.0, 1200.0],
        n_runs=8,
        hops_per_carrier=40,
        supercell=(16, 1, 1),
        n_carriers_total=1,
        seed=2,
        superbasin_ratio=None,
    )
    cold, hot = res.points
    assert not cold.diffusive and "hop lengths squared" in cold.note
    assert hot.diffusive
    assert res.ea_eV is None and any(w.startswith("not diffusive at 300 K") for w in res.warnings)
    # the cold point's upper limit (a pair crossed ~10^7 times per slow hop: D(t) = MSD / 6t
    # falls by orders of magnitude before it reaches the long-time value) is far above the
    # exact sigma, never below; one carrier, half its time on each site of the pair:
    # D_1D = L^2 / (2/k_fast + 2/k_slow); diffusive points carry no limit
    T, L = 300.0, 6.0
    d_exact = L * L / (2 / k_hop(0.2, T) + 2 / k_hop(0.6, T)) / 3 * ANGSTROM2_TO_CM2
    vol_cm3 = 16 * L * 30.0 * 30.0 * 1e-24
    assert cold.sigma_upper_S_cm >= d_exact / vol_cm3 * E_CHARGE_C**2 / (K_B_J_K * T)
    assert hot.sigma_upper_S_cm is None


def test_a_run_that_is_not_diffusive_bounds_sigma_from_above():
    """The upper limit of a sub-diffusive point is never below the exact long-time sigma.

    - A lattice gas on a simple cubic lattice at half filling (site exclusion only): the
      collective D is exactly D0 (1 - c) = k a^2 (1 - c) at every time (no correlation), so
      runs too short to be called diffusive still give a limit at most a few times above it.
    The rattler's limit: test_a_temperature_that_never_becomes_diffusive_is_left_out."""
    T, a, c = 300.0, 3.0, 0.5
    edges = [(0, 0, img, 0.3) for img in ((1, 0, 0), (0, 1, 0), (0, 0, 1))]
    gas = make_network(np.eye(3) * a, [[0, 0, 0]], [0.0], edges, 1, exclusion_radius_A=0.0)
    n_sites = 8**3
    res = run_kmc(
        gas,
        [T],
        n_runs=8,
        hops_per_carrier=0.05,
        supercell=(8, 8, 8),
        n_carriers_total=int(c * n_sites),
        seed=3,
    )
    p = res.points[0]
    assert not p.diffusive and "hop lengths squared" in p.note
    to_sigma = c / (a**3 * 1e-24) * E_CHARGE_C**2 / (K_B_J_K * T)
    exact = to_sigma * k_hop(0.3, T) * a * a * (1 - c) * ANGSTROM2_TO_CM2
    assert exact <= p.sigma_upper_S_cm <= 3 * exact


def test_network_of_a_stored_study_without_its_site_network(lzc, orbit_study):
    """The ``neb`` task stores its study without the (large) site network: the network is
    rebuilt from the cell, and a study that does not fit the cell is refused."""
    study, _ = orbit_study(lzc)
    full = network_from_neb_study(study, lzc)
    stored = {k: v for k, v in study.items() if k != "network"}
    rebuilt = network_from_neb_study(stored, lzc).to_dict()
    assert {k: v for k, v in rebuilt.items() if k != "provenance"} == {
        k: v for k, v in full.to_dict().items() if k != "provenance"
    }
    with pytest.raises(SimulationError, match="give the cell"):
        network_from_neb_study(stored)
    wrong = dict(stored, results=[dict(stored["results"][0], label_initial="Li99")])
    with pytest.raises(SimulationError, match="does not match"):
        network_from_neb_study(wrong, lzc)


def orthorhombic(barriers=(0.2, 0.3, 0.3), a=(3.0, 3.5, 4.0), rotation=None):
    """One site per cell, hops along the three cell vectors with their own barriers; the
    cell optionally rotated (its rows times ``rotation``) so that no axis is Cartesian."""
    lattice = np.diag(a)
    if rotation is not None:
        lattice = lattice @ rotation.T
    edges = [
        (0, 0, img, b) for img, b in zip(((1, 0, 0), (0, 1, 0), (0, 0, 1)), barriers, strict=True)
    ]
    return make_network(lattice, [[0, 0, 0]], [0.0], edges, 1, exclusion_radius_A=0.0)


def test_the_diffusion_tensor_and_pellet_of_an_anisotropic_lattice():
    """One particle, hop rates k_i along axes of length a_i: D_ii = k_i a_i^2 exactly, in
    the frame of the axes whatever the frame of the cell. The pellet's sigma is the
    effective-medium value of those exact principal values; the orientation average is
    their mean (its upper bound)."""
    from halidelab.transport.polycrystal import polycrystal_conductivity

    rng = np.random.default_rng(11)
    rot, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    barriers, a, T = (0.2, 0.3, 0.3), (3.0, 3.5, 4.0), 300.0
    res = run_kmc(
        orthorhombic(barriers, a, rot),
        [T],
        n_runs=64,  # each run's collective MSD is one trajectory: ~70 % error per run
        hops_per_carrier=20000,
        supercell=(6, 6, 6),
        n_carriers_total=1,
        seed=2,
    )
    p = res.points[0]
    exact = (
        np.array([k_hop(b, T) * x * x for b, x in zip(barriers, a, strict=True)]) * ANGSTROM2_TO_CM2
    )
    tensor = np.asarray(p.d_sigma_tensor_cm2_s)
    # back in the axes' frame the tensor is diagonal with the exact D_ii
    axes = rot.T @ tensor @ rot
    assert p.d_sigma_err_cm2_s / p.d_sigma_cm2_s < 0.12
    assert np.diag(axes) == pytest.approx(exact, rel=0.3)  # 3 standard errors
    assert np.abs(axes - np.diag(np.diag(axes))).max() < 0.1 * exact[1]
    assert np.trace(tensor) / 3 == pytest.approx(p.d_sigma_cm2_s, rel=1e-9)
    to_sigma = p.sigma_S_cm / p.d_sigma_cm2_s
    assert sorted(np.asarray(p.sigma_principal_S_cm) / to_sigma) == pytest.approx(
        sorted(exact), rel=0.3
    )
    pellet = polycrystal_conductivity(exact * to_sigma)
    assert within(p.sigma_polycrystal_S_cm, pellet, p.sigma_polycrystal_err_S_cm)
    assert abs(p.sigma_polycrystal_S_cm / pellet - 1) < 0.2
    # the needle-like crystal's pellet is well below its orientation average
    assert p.sigma_polycrystal_S_cm < 0.5 * p.sigma_S_cm
    # the fit is the orientation average's unless asked; the pellet's beside it
    assert res.average == "orientation" and res.other_average["average"] == "polycrystal"


def test_the_pellet_ea_of_a_needle_lies_between_its_fast_and_slow_barriers():
    """A crystal whose fast axis has 0.2 eV and slow axes 0.3 eV: its orientation average
    follows the fast axis (Ea near 0.2 eV), a pellet of it needs the slow ones too (its
    EMA Ea lies between the two barriers; the mean of the two for a strong needle, where
    sigma = sqrt(s_fast s_slow / 2))."""
    from halidelab.transport.polycrystal import polycrystal_conductivity

    barriers, a, temps = (0.2, 0.3, 0.3), (3.0, 3.0, 3.0), [300.0, 350.0, 400.0]
    res = run_kmc(
        orthorhombic(barriers, a),
        temps,
        n_runs=32,
        hops_per_carrier=20000,
        supercell=(6, 6, 6),
        n_carriers_total=1,
        seed=4,
        average="polycrystal",
    )
    ln_st = [math.log(polycrystal_conductivity([k_hop(b, T) for b in barriers]) * T) for T in temps]
    inv_kt = [1 / (K_B_EV_K * T) for T in temps]
    exact_ea = -np.polyfit(inv_kt, ln_st, 1)[0]
    assert 0.22 < exact_ea < 0.3
    assert res.ea_eV == pytest.approx(exact_ea, abs=max(0.015, 3 * res.ea_err_eV))
    orient = res.other_average["ea_eV"]
    assert orient < exact_ea - 0.03
    assert res.other_average["sigma_25C_S_cm"] > 2 * res.sigma_25C_S_cm
