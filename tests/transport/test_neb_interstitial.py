"""Li -> tetrahedral interstitial -> Li paths: symmetry and independently known barriers.

The model system is rock-salt LiCl (a = 5.14 A), whose Cl sublattice is fcc: a Li in
an octahedral site a hops through the tetrahedral hole i that shares a face with a and
with an empty octahedral site b. A mirror plane through i (perpendicular to b - a) swaps
a and b, so every path here is symmetric, E(s) = E(L - s).

The energies come from Born-Mayer pair potentials (analytic, cheap). Where the rest of
the cell is rigid, the answer is known without any NEB:

- one Li in a rigid Cl lattice: by symmetry the minimum energy path from an
  octahedral site to a face-sharing tetrahedral site is the straight three-fold axis
  through the shared face, and the tetrahedral centre (site symmetry -43m) is a
  stationary point. The path is the polyline a -> i -> b, its energy profile the pair
  sum along that polyline, and the barrier the maximum of that sum along the axis;
- with Li-Li repulsion from the Li neighbours of i the interstitial stops being a
  minimum; the saddle of the symmetric path then lies on the mirror plane, where it is
  the lowest point: a relaxation confined to that plane gives its energy.

These are the paths that came out lopsided when a single climbing image was run through
an interstitial that is a local minimum (see :func:`halidelab.transport.neb.neb_path`).
"""

from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.calculator import Calculator, all_changes
from ase.constraints import FixAtoms, FixedPlane
from ase.neighborlist import neighbor_list
from pymatgen.core import Lattice, Structure
from scipy.optimize import minimize_scalar

from halidelab.relax import to_atoms, to_structure
from halidelab.transport.hops import INTERSTITIAL_NUDGE_A, interstitial_paths
from halidelab.transport.neb import neb_path, neb_study, relax_fixed_cell
from halidelab.transport.sites import site_network

A_LICL = 5.14
#: octahedral-tetrahedral centre distance in an fcc anion lattice, a sqrt(3) / 4
OCT_TET_A = A_LICL * np.sqrt(3) / 4


class PairBM(Calculator):
    """Born-Mayer pairs, A exp(-r / rho), per pair of elements, shifted to zero at the cutoff."""

    implemented_properties = ["energy", "forces"]

    def __init__(
        self, params: dict[tuple[int, int], tuple[float, float]], cutoff_A: float = 5.0
    ) -> None:
        super().__init__()
        self.params, self.rc = params, cutoff_A

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        i, j, d, vec = neighbor_list("ijdD", self.atoms, self.rc)
        z = self.atoms.numbers
        amp, rho = np.zeros(len(d)), np.ones(len(d))
        for (za, zb), (a, r) in self.params.items():
            m = ((z[i] == za) & (z[j] == zb)) | ((z[i] == zb) & (z[j] == za))
            amp[m], rho[m] = a, r
        e = amp * (np.exp(-d / rho) - np.exp(-self.rc / rho))
        dedr = -(amp / rho) * np.exp(-d / rho)
        forces = np.zeros((len(self.atoms), 3))
        np.add.at(forces, i, (dedr / d)[:, None] * vec)  # each pair appears twice
        self.results = {"energy": 0.5 * float(e.sum()), "forces": forces}


LI_CL = {(3, 17): (500.0, 0.35), (17, 17): (500.0, 0.35)}
WITH_LI_LI = {**LI_CL, (3, 3): (50.0, 0.6)}


def rocksalt_cell(n_li: int | None = None) -> Structure:
    """2x2x2 primitive rock-salt LiCl (8 Cl) with one Li removed, or only ``n_li`` Li kept."""
    s = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(A_LICL), ["Li", "Cl"], [[0, 0, 0], [0.5, 0, 0]]
    ).get_primitive_structure()
    s.make_supercell([2, 2, 2])
    li = [i for i, x in enumerate(s) if x.specie.symbol == "Li"]
    s.remove_sites(li[:1] if n_li is None else li[n_li:])
    return s


def path_of(s: Structure, moving_only: bool):
    """The study's pieces.

    (atoms with the frozen atoms fixed, network, hop in, hop out, moving Li, a, i, b
    positions).
    """
    net = site_network(s, interstitials=True)
    ((h1, h2, i_site),) = interstitial_paths(net)  # one class: Li1 -> i1 -> Li1
    atoms = to_atoms(s)
    a = h1.site_a if h1.site_b == i_site else h1.site_b
    li = net.sites[a].occupant
    m = atoms.cell.array
    frozen = [k for k, x in enumerate(atoms) if x.symbol == "Cl" or (moving_only and k != li)]
    atoms.set_constraint(FixAtoms(indices=frozen))
    p_a = atoms.positions[li]
    v1 = np.array(h1.vector_A) * (1 if h1.site_a == a else -1)
    v2 = np.array(h2.vector_A) * (1 if h2.site_a == i_site else -1)
    assert np.linalg.norm(p_a - np.array(net.sites[a].frac) @ m) < 1e-6
    return atoms, net, h1, h2, li, p_a, p_a + v1, p_a + v1 + v2


def energy_with_li_at(atoms, calc, li: int, x: np.ndarray) -> float:
    b = atoms.copy()
    b.calc = calc
    pos = b.positions.copy()
    pos[li] = x
    b.positions = pos
    return float(b.get_potential_energy())


@pytest.mark.parametrize("n_images", [3, 4, 5])
def test_one_li_in_a_rigid_lattice_follows_the_symmetry_axes(n_images):
    atoms, net, h1, h2, li, pa, pi, pb = path_of(rocksalt_cell(n_li=1), moving_only=True)
    assert np.linalg.norm(pi - pa) == pytest.approx(OCT_TET_A, abs=1e-6)
    assert np.linalg.norm(pb - pi) == pytest.approx(OCT_TET_A, abs=1e-6)
    calc = PairBM(LI_CL)
    e0 = energy_with_li_at(atoms, calc, li, pa)
    # independent answers: energy along the polyline a -> i -> b, and its maximum on a -> i
    length = 2 * OCT_TET_A

    def on_polyline(s: float) -> np.ndarray:
        return (
            pa + (pi - pa) * s / OCT_TET_A
            if s <= OCT_TET_A
            else pi + (pb - pi) * (s - OCT_TET_A) / OCT_TET_A
        )

    opt = minimize_scalar(
        lambda t: -energy_with_li_at(atoms, calc, li, pa + t * (pi - pa)),
        bounds=(0.0, 1.0),
        method="bounded",
        options={"xatol": 1e-9},
    )
    e_saddle, t_saddle = -opt.fun - e0, float(opt.x)
    e_tet = energy_with_li_at(atoms, calc, li, pi) - e0
    assert 0 < e_tet < e_saddle  # the interstitial is a minimum between two saddles

    r = neb_path(
        atoms, h1, h2, net, calc, n_images=n_images, fmax=0.01, steps=600, endpoint_fmax=0.005
    )
    assert r.converged and r.endpoints_ok and r.mechanism == "interstitial" and r.via == ("i1",)
    assert r.provenance.parameters["bands"] == 2  # split at the interstitial minimum
    s, e = np.array(r.reaction_coordinate_A), np.array(r.energies_eV)
    # the Li travelled the two straight segments, no detour
    assert s[-1] == pytest.approx(length, abs=2e-3)
    # every image lies on the analytic profile, which is symmetric: E(s) = E(L - s)
    exact = np.array(
        [energy_with_li_at(atoms, calc, li, on_polyline(min(x, length))) - e0 for x in s]
    )
    np.testing.assert_allclose(e, exact, atol=3e-3)
    # stationary points: two equal saddles placed symmetrically, the interstitial in the middle
    mid = int(np.argmin(np.abs(s - length / 2)))
    assert s[mid] == pytest.approx(length / 2, abs=2e-3)
    assert e[mid] == pytest.approx(e_tet, abs=1e-3)
    left, right = int(np.argmax(e[:mid])), mid + int(np.argmax(e[mid:]))
    assert e[left] == pytest.approx(e_saddle, abs=1e-3) and e[right] == pytest.approx(
        e_saddle, abs=1e-3
    )
    assert s[left] == pytest.approx(t_saddle * OCT_TET_A, abs=0.02)
    assert s[left] + s[right] == pytest.approx(length, abs=0.02)
    assert r.barrier_forward_eV == pytest.approx(e_saddle, abs=1e-3)
    assert r.barrier_backward_eV == pytest.approx(r.barrier_forward_eV, abs=1e-3)
    assert r.delta_e_eV == pytest.approx(0.0, abs=1e-4)


def test_relaxing_cell_barrier_is_symmetric_and_independent_of_the_image_count():
    """Six other Li relax around the moving one; Cl is held (a repulsive toy needs a cage).

    The regression: one band with one climbing image put its odd middle image on the
    interstitial and reported E(i1) as the barrier, and with an even image count climbed
    one of the two saddles and left the band lopsided.
    """
    atoms, net, h1, h2, li, pa, pi, pb = path_of(rocksalt_cell(), moving_only=False)
    calc = PairBM(LI_CL)
    res = [
        neb_path(atoms, h1, h2, net, calc, n_images=n, fmax=0.01, steps=600, endpoint_fmax=0.005)
        for n in (4, 5)
    ]
    for r in res:
        assert r.converged and r.endpoints_ok and r.provenance.parameters["bands"] == 2
        s, e = np.array(r.reaction_coordinate_A), np.array(r.energies_eV)
        mid = int(np.argmin(np.abs(s - s[-1] / 2)))
        assert s[mid] == pytest.approx(s[-1] / 2, abs=0.02)
        assert e[mid - 1] > e[mid] < e[mid + 1]  # the interstitial: a minimum between the saddles
        assert np.max(e[:mid]) == pytest.approx(np.max(e[mid:]), abs=2e-3)
        assert r.barrier_backward_eV == pytest.approx(r.barrier_forward_eV, abs=2e-3)
        assert r.delta_e_eV == pytest.approx(0.0, abs=2e-3)
        # the intermediate state is the relaxed Li-in-i1 state, computed here on its own
        trial = atoms.copy()
        pos = trial.positions.copy()
        pos[li] = pi
        trial.positions = pos
        ref, conv, _ = relax_fixed_cell(trial, calc, fmax=0.002, steps=1000)
        init, _, _ = relax_fixed_cell(atoms, calc, fmax=0.002, steps=1000)
        assert conv
        assert e[mid] == pytest.approx(
            ref.get_potential_energy() - init.get_potential_energy(), abs=2e-3
        )
    assert res[0].barrier_forward_eV == pytest.approx(res[1].barrier_forward_eV, abs=2e-3)


def test_interstitial_in_the_saddle_region_gives_one_band_with_the_mirror_plane_saddle():
    """Li-Li repulsion from the two Li that face i1 makes it a maximum along the path.

    The moving Li put in i1 (nudged toward a) slides back, so the path is one band. The
    symmetric path has its saddle on the mirror plane, where it is the lowest point: a
    plain relaxation with the Li confined to that plane (no NEB) gives the barrier.
    """
    atoms, net, h1, h2, li, pa, pi, pb = path_of(rocksalt_cell(), moving_only=True)
    calc = PairBM(WITH_LI_LI)
    assert energy_with_li_at(
        atoms, calc, li, pi - INTERSTITIAL_NUDGE_A * (pi - pa) / OCT_TET_A
    ) < energy_with_li_at(atoms, calc, li, pi)
    r = neb_path(atoms, h1, h2, net, calc, n_images=5, fmax=0.01, steps=600, endpoint_fmax=0.005)
    assert r.converged and r.endpoints_ok
    assert "bands" not in r.provenance.parameters
    assert any("no minimum there" in w for w in r.warnings)
    plane = atoms.copy()
    pos = plane.positions.copy()
    pos[li] = pi
    plane.positions = pos
    plane.set_constraint([*plane.constraints, FixedPlane(li, pb - pa)])
    saddle, conv, _ = relax_fixed_cell(plane, calc, fmax=0.001, steps=2000)
    assert conv
    e_saddle = saddle.get_potential_energy() - energy_with_li_at(atoms, calc, li, pa)
    assert r.barrier_forward_eV == pytest.approx(e_saddle, abs=2e-3)
    assert r.barrier_backward_eV == pytest.approx(r.barrier_forward_eV, abs=1e-3)
    s = np.array(r.reaction_coordinate_A)
    assert s[r.saddle_image] == pytest.approx(s[-1] / 2, abs=0.02)
    e = np.array(r.energies_eV)
    np.testing.assert_allclose(e, e[::-1], atol=2e-3)  # odd image count: images mirror images


def _ase_relax(atoms, calc, fmax, steps):
    """Oracle: ASE's FIRE on the atoms at fixed cell (positions unwrapped)."""
    from ase.optimize import FIRE

    a = atoms.copy()
    a.calc = calc
    opt = FIRE(a, logfile=None)
    conv = opt.run(fmax=fmax, steps=steps)
    return a, conv


def _ase_band(initial, final, calc, n_images, fmax, steps, via=None):
    """Oracle: ASE's NEB (improved tangent, one shared calculator), IDPP or the via
    polyline, FIRE to max(3 fmax, 0.15) then climbing to fmax."""
    import warnings

    from ase.mep import NEB
    from ase.mep.neb import idpp_interpolate
    from ase.optimize import FIRE

    images = [initial.copy() for _ in range(n_images + 1)] + [final.copy()]
    for im in images:
        im.calc = calc
    band = NEB(images, k=0.1, climb=False, method="improvedtangent", allow_shared_calculator=True)
    band.interpolate(method="linear", mic=False, apply_constraint=False)
    if via is not None:  # the moving atom on the polyline start - via - end, spread by arc length
        li, point = via
        pts = [images[0].positions[li], point, images[-1].positions[li]]
        seg = [np.linalg.norm(pts[1] - pts[0]), np.linalg.norm(pts[2] - pts[1])]
        for k in range(1, n_images + 1):
            x = sum(seg) * k / (n_images + 1)
            j = 0 if x < seg[0] else 1
            f = (x - (0 if j == 0 else seg[0])) / seg[j]
            pos = images[k].positions.copy()
            pos[li] = pts[j] + f * (pts[j + 1] - pts[j])
            images[k].set_positions(pos, apply_constraint=False)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            idpp_interpolate(band, traj=None, log=None, mic=True, steps=200)
        for im in images:
            im.calc = calc
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = FIRE(band, logfile=None)
        opt.run(fmax=max(3 * fmax, 0.15), steps=max(1, steps // 3))
        used = opt.nsteps
        band.climb = True
        opt = FIRE(band, logfile=None)
        conv = opt.run(fmax=fmax, steps=max(1, steps - used))
    e = np.array([im.get_potential_energy() for im in images])
    return e - e[0], conv


def _ase_study_path(atoms, calc, n_images, fmax, steps, efmax, case):
    """Oracle for one hop or path of a study.

    The library's hop geometry, ASE's optimisers and NEB.
    """
    from halidelab.transport.hops import hop_endpoints, intermediate_minimum, path_plan, select_hops

    net = site_network(to_structure(atoms), interstitials=case != "vacancy hop")
    _, chosen, _, paths = select_hops(net, "distinct")
    init, _ = _ase_relax(atoms, calc, efmax, 300)
    if case == "vacancy hop":
        (h,) = chosen
        final, _ = _ase_relax(hop_endpoints(init, net, h)[1], calc, efmax, 300)
        return _ase_band(init, final, calc, n_images, fmax, steps)
    ((h1, h2),) = paths
    plan = path_plan(init, net, h1, h2)
    final, _ = _ase_relax(plan.final, calc, efmax, 300)
    inter, conv_m = _ase_relax(plan.intermediate, calc, efmax, 300)
    if intermediate_minimum(net, plan, init, inter, conv_m)[0]:
        e1, c1 = _ase_band(init, inter, calc, n_images // 2, fmax, steps)
        e2, c2 = _ase_band(inter, final, calc, n_images // 2, fmax, steps)
        return np.concatenate([e1, e1[-1] + e2[1:]]), c1 and c2
    return _ase_band(init, final, calc, n_images, fmax, steps, via=(plan.li, plan.via))


@pytest.mark.parametrize("case", ["vacancy hop", "two bands", "one band"])
def test_study_follows_ase_neb(case):
    """neb_study (the engine: all bands in one evaluation per step) against ASE's FIRE and NEB.

    The same hop geometry relaxed and interpolated by ASE's own optimiser and NEB class
    step for step gives the same barriers and profiles up to float noise.
    """
    params = WITH_LI_LI if case == "one band" else LI_CL
    atoms, *_ = path_of(rocksalt_cell(), moving_only=case == "one band")
    kw = dict(
        n_images=4, fmax=0.01, steps=600, endpoint_fmax=0.005, interstitials=case != "vacancy hop"
    )
    study = neb_study(atoms, calculator=PairBM(params), **kw)
    e_ref, conv_ref = _ase_study_path(atoms, PairBM(params), 4, 0.01, 600, 0.005, case)
    (y,) = study.results
    assert y.converged and conv_ref and y.endpoints_ok
    assert y.provenance.parameters.get("bands") == (2 if case == "two bands" else None)
    assert y.n_images == len(e_ref) - 2
    assert y.barrier_forward_eV == pytest.approx(e_ref.max(), abs=1e-5)
    assert y.barrier_backward_eV == pytest.approx(e_ref.max() - e_ref[-1], abs=1e-5)
    # the path is symmetric: with an even image count the climbing image is one of the two
    # middle images, a tie that float noise breaks, so one band may be the other mirrored
    ey = np.array(y.energies_eV)
    assert np.allclose(ey, e_ref, atol=1e-5) or np.allclose(ey, e_ref[::-1], atol=1e-5)
    assert study.provenance.parameters["n_bands"] == (2 if case == "two bands" else 1)
    if case == "two bands":  # the interstitial minimum is a site of the in-plane chain
        (c,) = [c for c in study.chains if c.site_labels == ("Li1", "i1", "Li1")]
        assert (
            c.site_energies_eV[1] == pytest.approx(ey[y.n_images // 2 + 1])
            and c.site_energies_eV[1] > 0
        )
        assert c.barrier_eV == pytest.approx(max(y.barrier_forward_eV, y.barrier_backward_eV))


def test_studies_of_several_models_equal_each_alone():
    """neb_studies runs the hops of several structures as one batch; each study is what it
    would be alone (the bands do not talk to each other)."""
    from halidelab.transport.neb import neb_studies

    a, *_ = path_of(rocksalt_cell(), moving_only=False)
    b = a.copy()
    b.set_cell(a.cell * 1.03, scale_atoms=True)  # an expanded lattice: lower barriers
    kw = dict(n_images=4, fmax=0.01, steps=600, endpoint_fmax=0.005, interstitials=True)
    both = neb_studies([a, b], calculator=PairBM(LI_CL), **kw)
    alone = [neb_study(x, calculator=PairBM(LI_CL), **kw) for x in (a, b)]
    assert both[0].provenance.parameters["n_structures"] == 2
    for x, y in zip(both, alone, strict=True):
        assert [r.label for r in x.results] == [r.label for r in y.results]
        for r, q in zip(x.results, y.results, strict=True):
            np.testing.assert_allclose(r.energies_eV, q.energies_eV, atol=1e-10)
            assert r.force_calls == q.force_calls and r.steps == q.steps
    # two different studies: the expanded lattice gives the lower barrier
    assert both[1].results[0].barrier_forward_eV < both[0].results[0].barrier_forward_eV - 0.05


@pytest.mark.slow
def test_chgnet_li_interstitial_li_path_is_symmetric():
    """A real MLIP on the same path (15 atoms, loose settings): equal barriers both ways."""
    from halidelab.potentials import get_calculator

    atoms, net, h1, h2, *_ = path_of(rocksalt_cell(), moving_only=False)
    atoms.set_constraint()
    calc = get_calculator("chgnet", device="cpu", threads=1)
    r = neb_path(atoms, h1, h2, net, calc, n_images=4, fmax=0.05, steps=300)
    assert r.converged and r.endpoints_ok
    assert r.barrier_backward_eV == pytest.approx(r.barrier_forward_eV, abs=0.03)
    assert r.delta_e_eV == pytest.approx(0.0, abs=0.03)
    assert 0.1 < r.barrier_forward_eV < 2.0


# ---------------------------------------------------------------------------
# paths through several interstitials: Li -> tet -> empty octahedron -> tet -> Li


def layered_cell(made_interstitial=None):
    """Rock-salt LiCl (2x2x2 conventional cells) with Li only in the octahedra of every
    other (001) layer, and the network in which the empty layers' octahedra are
    interstitials (``i2``), as the empty octahedra of the metal layers are in the ccp
    Li3MCl6 (their framework cations set them apart; here the network is told).

    Every tetrahedron shares faces with two octahedra of a Li layer and two of an empty
    layer, so the Li sites of one layer are joined through one interstitial (2D), and
    neighbouring Li layers only through tet -> empty octahedron -> tet.
    ``made_interstitial(frac)``: which empty octahedra become interstitials (default: all);
    the others stay empty Li sites.
    """
    import dataclasses

    s = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(A_LICL), ["Li", "Cl"], [[0, 0, 0], [0.5, 0, 0]]
    )
    s.make_supercell([2, 2, 2])
    # Li on the octahedra (fcc Cl at the origin: the Li of from_spacegroup sit at the
    # octahedral holes of the Cl); keep the layers at z = 0 and z = 1/2 of the supercell
    s.remove_sites(
        [
            i
            for i, x in enumerate(s)
            if x.specie.symbol == "Li" and abs((x.frac_coords[2] * 4) % 2 - 1) < 0.1
        ]
    )
    net = site_network(s, interstitials=True)
    sites = tuple(
        dataclasses.replace(x, role="interstitial", label="i2")
        if x.role == "li" and x.occupant is None and (made_interstitial or (lambda f: True))(x.frac)
        else x
        for x in net.sites
    )
    return s, dataclasses.replace(net, sites=sites)


def _one_li_profile(atoms, calc):
    """Analytic oct -> tet profile of one Li in the rigid Cl lattice: (E_tet, E_saddle)."""
    li = next(i for i, x in enumerate(atoms) if x.symbol == "Li")
    pa = atoms.positions[li]
    pi = pa + np.array([1.0, 1.0, 1.0]) * A_LICL / 4  # a face-sharing tetrahedral centre
    e0 = energy_with_li_at(atoms, calc, li, pa)
    opt = minimize_scalar(
        lambda t: -energy_with_li_at(atoms, calc, li, pa + t * (pi - pa)),
        bounds=(0.0, 1.0),
        method="bounded",
        options={"xatol": 1e-9},
    )
    return energy_with_li_at(atoms, calc, li, pi) - e0, -opt.fun - e0


def test_layers_joined_only_through_an_empty_octahedron_get_three_interstitial_paths():
    from halidelab.transport.hops import add_vacancies, interstitial_chains
    from halidelab.transport.pathways import periodic_dimension

    s, net = layered_cell()
    assert s.composition["Li"] == 16 and s.composition["Cl"] == 32
    li = [x.index for x in net.sites if x.role == "li"]
    # physics first: through one tetrahedron the Li sites of a layer form a 2D net
    around: dict[int, list[tuple[int, np.ndarray]]] = {}
    for h in net.hops:
        ends = {net.sites[h.site_a].role, net.sites[h.site_b].role}
        if ends == {"li", "interstitial"} and "i1" in {
            x.label for x in (net.sites[h.site_a], net.sites[h.site_b])
        }:
            if net.sites[h.site_a].role == "li":
                around.setdefault(h.site_b, []).append((h.site_a, -np.array(h.image)))
            else:
                around.setdefault(h.site_a, []).append((h.site_b, np.array(h.image)))
    flat = [
        (a, b, tuple(ib - ia))
        for members in around.values()
        for k, (a, ia) in enumerate(members)
        for b, ib in members[k + 1 :]
    ]
    assert periodic_dimension(flat, li) == 2
    _, vnet, notes = add_vacancies(to_atoms(s), net)
    assert len(notes) == 1
    assert interstitial_chains(net, max_interstitials=1) == ([], [])
    chains, why = interstitial_chains(vnet)
    assert chains and len(why) == 1 and "2D only" in why[0] and "in 3D" in why[0]
    for chain in chains:
        assert len(chain) == 4
        # consecutive hops share a site; Li site -> i1 -> i2 -> i1 -> Li site; c changes by a
        path = [vnet.sites[x] for x in (chain[0].site_a, chain[0].site_b)]
        start = path[0] if path[0].role == "li" else path[1]
        assert start.occupant is not None
        here, vec, labels = start.index, np.zeros(3), [start.label]
        for h in chain:
            assert here in (h.site_a, h.site_b)
            nxt = h.site_b if h.site_a == here else h.site_a
            vec += np.array(h.vector_A) * (1 if h.site_a == here else -1)
            here = nxt
            labels.append(vnet.sites[here].label)
        assert labels == ["Li1", "i1", "i2", "i1", "Li1"]
        assert vnet.sites[here].occupant is None
        assert abs(vec[2]) == pytest.approx(A_LICL, abs=1e-6)  # one layer pair crossed
    # with these chains the Li sites percolate in 3D, without them in 2D only
    edges = [
        (h.site_a, h.site_b, h.image)
        for h in vnet.hops
        if {vnet.sites[h.site_a].role, vnet.sites[h.site_b].role} == {"li"}
    ]
    assert periodic_dimension(edges, li) == 0  # no direct Li-Li hops in rock salt


def test_three_interstitial_path_follows_the_analytic_profile_of_one_li():
    """One Li (the others do not see it) in the rigid Cl lattice: every leg of
    Li -> tet -> empty oct -> tet -> Li is the same oct-tet axis, so the path has minima
    E_tet, 0, E_tet, four equal saddles E_saddle and dE = 0, known without any NEB. The
    study runs it as four bands, its KMC network gives every leg that saddle, and the Li
    sites percolate in 3D only with the path."""
    from halidelab.transport.kmc.network import network_from_neb_study

    s, net = layered_cell()
    atoms = to_atoms(s)
    atoms.set_constraint(FixAtoms(indices=[i for i, x in enumerate(atoms) if x.symbol == "Cl"]))
    calc = PairBM(LI_CL)
    e_tet, e_saddle = _one_li_profile(atoms, calc)
    assert 0 < e_tet < e_saddle
    kw = dict(calculator=calc, network=net, n_images=4, fmax=0.01, steps=600, endpoint_fmax=0.005)
    study = neb_study(atoms, **kw)
    long = [r for r in study.results if len(r.via) == 3]
    assert long and study.notes
    for r in long:
        assert r.converged and r.endpoints_ok and r.via == ("i1", "i2", "i1")
        par = r.provenance.parameters
        assert par["bands"] == 4 and par["joint_vias"] == [0, 1, 2]
        np.testing.assert_allclose(par["intermediate_energies_eV"], [e_tet, 0, e_tet], atol=1e-3)
        assert r.barrier_forward_eV == pytest.approx(e_saddle, abs=1e-3)
        assert r.delta_e_eV == pytest.approx(0.0, abs=1e-4)
        assert r.hop_length_A == pytest.approx(4 * OCT_TET_A, abs=1e-6)
        e = np.array(r.energies_eV)
        for j in range(4):  # each band climbs to the same saddle
            a, b = ([0, *par["joint_images"], len(e) - 1])[j : j + 2]
            assert e[a : b + 1].max() == pytest.approx(e_saddle, abs=1e-3)
    assert study.percolation.ea_3d_eV == pytest.approx(e_saddle, abs=1e-3)
    assert any("through 3 interstitials" in c.name for c in study.chains)
    rn = network_from_neb_study(study.to_dict())
    energy = dict(zip(rn.site_label, rn.site_energy_eV, strict=True))
    assert energy["i1"] == pytest.approx(e_tet, abs=1e-3)
    assert energy["i2"] == pytest.approx(0.0, abs=1e-3)
    np.testing.assert_allclose(rn.edge_saddle_eV, e_saddle, atol=1e-3)
    # paths through one interstitial only: none of the longer ones is run (the percolation
    # is not checked here: in this framework every oct-tet hop, i1-i2 too, is one class,
    # so the in-plane path lends its barrier to the i1-i2 hops as well)
    flat = neb_study(atoms, max_interstitials=1, **kw)
    assert not flat.notes and flat.results and all(len(r.via) <= 1 for r in flat.results)


def test_paths_percolation_does_not_need_run_only_when_every_chain_is_asked():
    """Only half of the empty octahedra made interstitials: the Li layers are then joined
    through one tetrahedron via the empty Li sites of the other half (3D), so the path
    through the interstitial octahedra is not needed and not added; asked for every class,
    it is (Li -> i1 -> i2 -> i1 -> Li)."""
    from halidelab.transport.hops import add_vacancies, interstitial_chains

    s, net = layered_cell(made_interstitial=lambda f: f[0] < 0.49)
    assert {x.label for x in net.sites if x.role == "interstitial"} == {"i1", "i2"}
    _, vnet, _ = add_vacancies(to_atoms(s), net)
    assert interstitial_chains(vnet) == ([], [])
    chains, notes = interstitial_chains(vnet, every=True)
    assert chains and len(notes) == 1 and "every class asked for" in notes[0]
    for chain in chains:
        here = next(x for x in (chain[0].site_a, chain[0].site_b) if vnet.sites[x].role == "li")
        labels, vec = [vnet.sites[here].label], np.zeros(3)
        for h in chain:
            vec += np.array(h.vector_A) * (1 if h.site_a == here else -1)
            here = h.site_b if h.site_a == here else h.site_a
            labels.append(vnet.sites[here].label)
        assert labels[1:-1] == ["i1", "i2", "i1"] and vnet.sites[here].occupant is None
        # into the next Li layer (a) or into an empty octahedron of the half-kept layer (a/2)
        assert min(abs(abs(vec[2]) - A_LICL), abs(abs(vec[2]) - A_LICL / 2)) < 1e-6


def test_a_framework_without_symmetry_is_refused_before_any_band():
    """A cation-disordered (ball-milled) model of Li3YCl6: Y on random octahedral holes
    leave the framework without symmetry, every Li site its own orbit; taking one Li out of
    each 'full orbit' would empty the cell, and no barrier could stand for an equivalent
    hop. The study refuses it with one line before building a single band (no model is
    evaluated: the calculator here would fail if it were)."""
    from halidelab.composition import design_composition
    from halidelab.errors import SimulationError
    from halidelab.structures.models import build_models
    from halidelab.transport.neb import neb_studies

    ms = build_models(
        design_composition("Li3YCl6"), polymorph="P-3m1", n_configs=1, state="ball-milled"
    )
    milled = ms.configurations[0].to_structure()
    assert ms.configurations[0].disorder["m_off_ordered_sites"] > 0.5

    class Untouchable:
        def get_potential_energy(self, *a, **k):  # pragma: no cover - must not run
            raise AssertionError("evaluated")

    with pytest.raises(SimulationError, match="has no symmetry") as exc:
        neb_studies([milled], calculator=Untouchable())
    assert "\n" not in str(exc.value) and "BVSE or KMC" in str(exc.value)
