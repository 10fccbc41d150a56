"""CI-NEB mechanics on an analytic pair potential, and one tiny CHGNet NEB."""

from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.calculator import Calculator, all_changes
from ase.neighborlist import neighbor_list
from pymatgen.core import Lattice, Structure

from halidelab.errors import SimulationError, StructureError
from halidelab.transport.hops import hop_endpoints
from halidelab.transport.neb import neb_hop, neb_study, run_neb
from halidelab.transport.sites import site_network


class BornMayer(Calculator):
    """Repulsive pair potential E = sum_{i<j} A exp(-r/rho), r < cutoff (toy, analytic)."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, a_eV: float = 500.0, rho_A: float = 0.35, cutoff_A: float = 5.0) -> None:
        super().__init__()
        self.a, self.rho, self.rc = a_eV, rho_A, cutoff_A

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        i, j, d, vec = neighbor_list("ijdD", self.atoms, self.rc)
        shift = self.a * np.exp(-self.rc / self.rho)
        e = self.a * np.exp(-d / self.rho) - shift
        # each pair appears twice in the neighbour list
        dedr = -(self.a / self.rho) * np.exp(-d / self.rho)
        fvec = (dedr / d)[:, None] * vec  # force on i is -dE/dr_i = +dedr * (r_j - r_i)/d
        forces = np.zeros((len(self.atoms), 3))
        np.add.at(forces, i, fvec)
        self.results = {"energy": 0.5 * float(e.sum()), "forces": forces}


def licl_with_vacancy() -> Structure:
    """2x2x2 primitive rock-salt LiCl (16 atoms) minus one Li: 15 atoms, cell 7.27 A."""
    s = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.14), ["Li", "Cl"], [[0, 0, 0], [0.5, 0, 0]]
    ).get_primitive_structure()
    s.make_supercell([2, 2, 2])
    s.remove_sites([next(i for i, x in enumerate(s) if x.specie.symbol == "Li")])
    return s


def caged(s: Structure):
    """Atoms of ``s`` with the Cl framework held fixed (a repulsive toy needs a rigid cage)."""
    from ase.constraints import FixAtoms

    from halidelab.relax import to_atoms

    atoms = to_atoms(s)
    atoms.set_constraint(FixAtoms(indices=[a.index for a in atoms if a.symbol == "Cl"]))
    return atoms


def test_toy_forces_are_minus_energy_gradient():
    s = licl_with_vacancy()
    from halidelab.relax import to_atoms

    atoms = to_atoms(s)
    atoms.rattle(0.05, seed=1)
    atoms.calc = BornMayer()
    f = atoms.get_forces()
    h = 1e-4
    p = atoms.positions.copy()
    for k in (0, 5):
        for ax in range(3):
            q = p.copy()
            q[k, ax] += h
            atoms.positions = q
            ep = atoms.get_potential_energy()
            q[k, ax] -= 2 * h
            atoms.positions = q
            em = atoms.get_potential_energy()
            assert f[k, ax] == pytest.approx(-(ep - em) / (2 * h), abs=1e-4)
        atoms.positions = p


def test_vacancy_hop_between_equivalent_sites_is_symmetric():
    s = licl_with_vacancy()
    net = site_network(s, interstitials=False)
    (hop,) = net.distinct_hops(vacancy=True)
    r = neb_hop(
        caged(s), hop, network=net, calculator=BornMayer(), n_images=5, fmax=0.02, steps=600
    )
    assert r.converged and r.endpoints_ok
    e = np.array(r.energies_eV)
    assert e[0] == 0.0
    # E(s) = E(1 - s): the end state is the start state mirrored
    np.testing.assert_allclose(e, e[::-1], atol=2e-3)
    assert r.barrier_forward_eV == pytest.approx(r.barrier_backward_eV, abs=2e-3)
    assert r.barrier_forward_eV > 0.1
    assert r.saddle_image == 3  # the middle of 7 images
    s_coord = np.array(r.reaction_coordinate_A)
    assert np.all(np.diff(s_coord) > 0)
    assert r.force_calls > r.steps * 5  # five images per step, plus the endpoint relaxations
    assert r.provenance.method == "ci-neb" and r.provenance.model == "BornMayer"
    # round trip through plain JSON types
    from halidelab.transport.neb import NEBResult

    assert NEBResult.from_dict(r.to_dict()) == r


def test_cut_off_neb_reports_not_converged():
    s = licl_with_vacancy()
    net = site_network(s, interstitials=False)
    hop = net.distinct_hops(vacancy=True)[0]
    r = neb_hop(caged(s), hop, network=net, calculator=BornMayer(), n_images=3, fmax=0.001, steps=3)
    assert r.converged is False
    assert r.fmax_eV_A > 0.001
    assert any("not converged" in w for w in r.warnings)


def test_final_state_uses_the_real_hop_vector_across_the_boundary():
    s = licl_with_vacancy()
    net = site_network(s, interstitials=False)
    from halidelab.relax import to_atoms

    atoms = to_atoms(s)
    for hop in [h for h in net.hops if net.vacancy_ready(h)]:
        init, final, li, start, end = hop_endpoints(atoms, net, hop)
        moved = final.positions[li] - init.positions[li]
        # the Li travels the Li-Li distance of rock salt (a / sqrt 2), even when the
        # end site is across the cell boundary (a fractional difference would give more)
        assert np.linalg.norm(moved) == pytest.approx(5.14 / np.sqrt(2), abs=1e-6)
        others = np.delete(np.arange(len(atoms)), li)
        np.testing.assert_allclose(final.positions[others], init.positions[others])


def test_endpoints_must_match():
    s = licl_with_vacancy()
    from halidelab.relax import to_atoms

    a = to_atoms(s)
    b = a[:-1]
    with pytest.raises(StructureError):
        run_neb(a, b, BornMayer())
    with pytest.raises(SimulationError):
        run_neb(a, a.copy(), BornMayer(), n_images=0)


def test_no_vacancy_no_neb_without_vacancy_creation():
    s = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.14), ["Li", "Cl"], [[0, 0, 0], [0.5, 0, 0]]
    )
    with pytest.raises(SimulationError, match="empty site"):
        neb_study(s, calculator=BornMayer(), interstitials=False, create_vacancies=False)


def test_tiny_chgnet_neb_licl_vacancy_hop():
    """One real MLIP NEB (15 atoms, 3 images, loose fmax): symmetric, positive barrier."""
    from halidelab.potentials import get_calculator

    s = licl_with_vacancy()
    calc = get_calculator("chgnet", device="cpu", threads=1)
    st = neb_study(s, calculator=calc, n_images=3, fmax=0.1, steps=150, interstitials=False)
    (r,) = st.results
    assert r.converged
    assert r.provenance.model == "chgnet" and r.provenance.model_version == "CHGNet-0.3.0"
    assert r.barrier_forward_eV == pytest.approx(r.barrier_backward_eV, abs=0.03)
    assert 0.1 < r.barrier_forward_eV < 1.5
    # one hop class; it percolates in 3D at its own barrier
    assert st.percolation is not None
    assert st.percolation.ea_3d_eV == pytest.approx(
        max(r.barrier_forward_eV, r.barrier_backward_eV)
    )


def test_full_li_sublattice_gets_a_vacancy_and_the_same_barrier_as_any_other_vacancy():
    """A perfect LiCl cell has no empty Li site: the study takes one Li out. Every Li of rock
    salt is equivalent, so the barrier must equal that of a cell built with a vacancy at
    another Li (the last one, not the one the study picks)."""
    from ase.constraints import FixAtoms

    from halidelab.relax import to_atoms

    s = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.14), ["Li", "Cl"], [[0, 0, 0], [0.5, 0, 0]]
    ).get_primitive_structure()
    s.make_supercell([2, 2, 2])
    kw = dict(calculator=BornMayer(), interstitials=False, n_images=5, fmax=0.02, steps=600)
    made = neb_study(caged(s), **kw)
    assert len(made.created_vacancies) == 1 and "removed" in made.created_vacancies[0]
    assert made.n_atoms == len(s) - 1
    occupied = [x for x in made.network.sites if x.occupant is not None]
    assert len(occupied) == 7  # 8 Li sites, one emptied
    (r,) = made.results
    assert r.converged and r.endpoints_ok

    explicit = s.copy()
    explicit.remove_sites([max(i for i, x in enumerate(s) if x.specie.symbol == "Li")])
    atoms = to_atoms(explicit)
    atoms.set_constraint(FixAtoms(indices=[a.index for a in atoms if a.symbol == "Cl"]))
    ref = neb_study(atoms, **kw)
    assert ref.created_vacancies == ()  # it had its empty site already
    (r0,) = ref.results
    assert r.barrier_forward_eV == pytest.approx(r0.barrier_forward_eV, abs=2e-3)
    assert made.percolation.ea_3d_eV == pytest.approx(ref.percolation.ea_3d_eV, abs=2e-3)
    # and without vacancy creation the full cell has nothing to run, as before
    with pytest.raises(SimulationError, match="empty site"):
        neb_study(caged(s), create_vacancies=False, **kw)


def test_li_sites_linked_only_through_interstitial_chains():
    """LiAlCl4: even with a vacancy made, no Li site reaches another directly or through one
    interstitial, only through chains of them. Limited to one interstitial, the study says
    so (not 'no vacancies'); allowed longer paths, it finds chains that start at a Li, pass
    only interstitials and end at the empty Li site."""
    from halidelab.atoms import to_atoms
    from halidelab.transport.hops import add_vacancies, interstitial_chains
    from halidelab.validation.reference import resolve_structure_file
    from halidelab.validation.structures import build_reference_model

    s = build_reference_model(
        "LiAlCl4", "cif", resolve_structure_file("structures/LiAlCl4_P2_1_c_obelix-p81.cif")
    ).to_structure()
    with pytest.raises(SimulationError, match="longer chains of interstitials"):
        neb_study(s, calculator=BornMayer(), max_interstitials=1)
    _, net, made = add_vacancies(to_atoms(s), site_network(s))
    assert len(made) == 1
    chains, notes = interstitial_chains(net)
    assert chains and notes
    for chain in chains:
        assert len(chain) >= 3  # two or more interstitials
        ends = [x for x in (chain[0].site_a, chain[0].site_b) if net.sites[x].role == "li"]
        here = ends[0]
        assert net.sites[here].occupant is not None
        for k, h in enumerate(chain):
            here = h.site_b if h.site_a == here else h.site_a
            assert net.sites[here].role == ("li" if k == len(chain) - 1 else "interstitial")
        assert net.sites[here].occupant is None
