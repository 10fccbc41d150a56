"""Batched CI-NEB gives the barrier and path of ASE's CI-NEB on the same hops."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.mep.neb import NEB
from ase.optimize import BFGS, FIRE, MDMin

from halidelab.engine import CalculatorLoop, get_evaluator
from halidelab.engine.neb import NEBHop, neb_batch, neb_forces
from halidelab.errors import SimulationError, StructureError
from halidelab.potentials import get_calculator


@pytest.fixture(autouse=True, scope="module")
def _restore_torch_threads():
    """Tests run torch on one thread (shared CI cores); give the setting back after."""
    import torch

    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _vacancy_hop(symbol: str, structure: str, a: float, repeat: int):
    """Remove atom 0; its nearest neighbour moves into the vacancy."""
    host = bulk(symbol, structure, a=a, cubic=True).repeat(repeat)
    vac = host.positions[0].copy()
    d = host.get_distances(0, range(1, len(host)), mic=True)
    same = np.array(host.get_chemical_symbols()[1:]) == host.get_chemical_symbols()[0]
    j = 1 + int(np.argmin(np.where(same, d, np.inf)))
    del host[0]
    j -= 1
    initial = host.copy()
    final = host.copy()
    final.positions[j] = vac
    return initial, final


def _ase_neb(initial, final, calc_factory, n_images, k, fmax, steps, optimizer=FIRE):
    """Reference: ASE NEB (improved tangent), plain to 0.15 eV/A then climbing (FIRE by default)."""
    images = [initial.copy() for _ in range(n_images + 1)] + [final.copy()]
    for im in images:
        im.calc = calc_factory()
    band = NEB(images, k=k, climb=False, method="improvedtangent", allow_shared_calculator=True)
    band.interpolate(mic=True)
    pre = max(3 * fmax, 0.15)
    opt = optimizer(band, logfile=None)
    opt.run(fmax=pre, steps=max(1, steps // 3))
    used = opt.nsteps
    band.climb = True
    opt = optimizer(band, logfile=None)
    conv = opt.run(fmax=fmax, steps=max(1, steps - used))
    e = np.array([im.get_potential_energy() for im in images])
    return e - e[0], conv, images, used + opt.nsteps


def test_neb_forces_climbing_image_inverts_tangential_force():
    # a 1-atom "band" on a line: tangent is x; climbing image gets +F_x -> -F_x
    pos = np.zeros((3, 1, 3))
    pos[:, 0, 0] = [0.0, 1.0, 2.0]
    f = np.array([[[0.3, 0.2, 0.0]]])
    e = np.array([0.0, 1.0, 0.5])
    out = neb_forces(pos, e, f, np.eye(3) * 20, [True] * 3, k=0.1, climb=True)
    np.testing.assert_allclose(out[0, 0], [-0.3, 0.2, 0.0])
    out = neb_forces(pos, e, f, np.eye(3) * 20, [True] * 3, k=0.1, climb=False)
    np.testing.assert_allclose(out[0, 0], [0.0, 0.2, 0.0])  # equal springs, parallel part removed


def test_two_emt_hops_in_one_batch_match_ase():
    hops = [_vacancy_hop("Al", "fcc", 4.05, 2), _vacancy_hop("Cu", "fcc", 3.61, 2)]
    res = neb_batch(
        [NEBHop(i, f, label=lab) for (i, f), lab in zip(hops, ["Al", "Cu"], strict=True)],
        n_images=3,
        k=0.1,
        fmax=0.03,
        steps=300,
        evaluator=CalculatorLoop(EMT),
    )
    for (i, f), r in zip(hops, res, strict=True):
        e_ref, conv, images, _ = _ase_neb(i, f, EMT, 3, 0.1, 0.03, 300)
        assert conv and r.converged
        assert r.barrier_forward_eV == pytest.approx(e_ref.max(), abs=0.01)
        np.testing.assert_allclose(r.energies_eV, e_ref, atol=0.01)
        # symmetric hop: the saddle is the middle image, barrier of a vacancy hop in fcc
        # metals with EMT is a few tenths of an eV
        assert r.saddle_image == 2 and 0.2 < r.barrier_forward_eV < 1.5
        assert r.delta_e_eV == pytest.approx(0.0, abs=1e-3)
    assert res[0].barrier_forward_eV != pytest.approx(res[1].barrier_forward_eV, abs=0.01)
    # per-hop convergence: the hops stopped at their own step counts
    assert res[0].provenance.parameters["n_hops"] == 2


@pytest.mark.slow
def test_licl_vacancy_hop_chgnet_matches_ase():
    initial, final = _vacancy_hop("LiCl", "rocksalt", 5.14, 1)
    (r,) = neb_batch(
        [NEBHop(initial, final, "Li-vac")],
        n_images=3,
        fmax=0.05,
        steps=200,
        evaluator=get_evaluator("chgnet", "cpu", threads=1, max_structures=64),
    )
    calc = get_calculator("chgnet", "cpu")
    e_ref, conv, _, _ = _ase_neb(initial, final, lambda: calc, 3, 0.1, 0.05, 200)
    assert conv and r.converged
    assert r.barrier_forward_eV == pytest.approx(e_ref.max(), abs=0.01)
    assert r.barrier_forward_eV > 0.05


@pytest.mark.parametrize("name,optimizer", [("BFGS", BFGS), ("MDMin", MDMin)])
def test_band_optimizers_follow_ase(name, optimizer):
    """BFGS and MDMin on the whole band, both stages, as ASE's optimisers on an NEB object."""
    i, f = _vacancy_hop("Al", "fcc", 4.05, 1)
    (r,) = neb_batch(
        [NEBHop(i, f, "Al")],
        n_images=3,
        fmax=0.03,
        steps=300,
        interpolation="linear",
        optimizer=name,
        evaluator=CalculatorLoop(EMT),
    )
    e_ref, conv, _, n = _ase_neb(i, f, EMT, 3, 0.1, 0.03, 300, optimizer)
    assert conv and r.converged and r.steps == n and r.provenance.parameters["optimizer"] == name
    np.testing.assert_allclose(r.energies_eV, e_ref, atol=1e-8)


def test_licl_vacancy_hop_chgnet_batched_images_match_ase_forces():
    """Fast MLIP check: the first NEB forces of the batched band equal ASE's NEB forces."""
    initial, final = _vacancy_hop("LiCl", "rocksalt", 5.14, 1)
    (r,) = neb_batch(
        [NEBHop(initial, final)],
        n_images=3,
        fmax=10.0,
        steps=1,
        climb=False,
        evaluator=get_evaluator("chgnet", "cpu", threads=1, max_structures=64),
    )
    calc = get_calculator("chgnet", "cpu")
    images = [initial.copy() for _ in range(4)] + [final.copy()]
    for im in images:
        im.calc = calc
    band = NEB(images, k=0.1, method="improvedtangent", allow_shared_calculator=True)
    band.interpolate(mic=True)
    f_ase = band.get_forces()
    e = np.array([im.get_potential_energy() for im in images])
    np.testing.assert_allclose(r.energies_eV, e - e[0], atol=2e-4)
    assert r.fmax_eV_A == pytest.approx(float(np.sqrt((f_ase**2).sum(1)).max()), abs=2e-3)
    assert r.barrier_forward_eV > 0.05  # the linear band of a vacancy hop is uphill


def test_bad_hops():
    i, f = _vacancy_hop("Al", "fcc", 4.05, 1)
    with pytest.raises(StructureError, match="same atoms"):
        neb_batch([NEBHop(i, f[:-1])], evaluator=CalculatorLoop(EMT))
    with pytest.raises(SimulationError):
        neb_batch([NEBHop(i, f)], n_images=0, evaluator=CalculatorLoop(EMT))
    with pytest.raises(SimulationError):
        neb_batch([], evaluator=CalculatorLoop(EMT))


def test_unwrapped_endpoints_via_points_and_images_per_hop():
    """One batch, three ways of giving the same hop; plus a band with more images."""
    from ase.geometry import find_mic

    i, f = _vacancy_hop("Al", "fcc", 4.05, 2)
    d, _ = find_mic(f.positions - i.positions, i.cell, i.pbc)
    fu = i.copy()
    fu.positions = i.positions + d  # final state with the moving atom unwrapped
    j = int(np.argmax(np.linalg.norm(d, axis=1)))
    mid = i.positions[j] + d[j] / 2  # a via point on the straight line changes nothing
    res = neb_batch(
        [
            NEBHop(i, f, "mic"),
            NEBHop(i, fu, "unwrapped", mic=False),
            NEBHop(i, fu, "via", via=((j, tuple(mid)),), mic=False),
            NEBHop(i, f, "five", n_images=5),
        ],
        n_images=3,
        fmax=0.03,
        steps=300,
        interpolation="linear",
        evaluator=CalculatorLoop(EMT),
    )
    ref = res[0]
    for r in res[1:3]:
        np.testing.assert_allclose(r.energies_eV, ref.energies_eV, atol=1e-8)
        np.testing.assert_allclose(r.reaction_coordinate_A, ref.reaction_coordinate_A, atol=1e-8)
    five = res[3]
    assert ref.n_images == 3 and five.n_images == 5 and len(five.energies_eV) == 7
    assert ref.force_calls == 2 + 3 * (ref.steps + 1)  # endpoints once, the images every iteration
    # endpoints that carry their energy (a relaxation's single-point record) are not evaluated again
    from ase.calculators.singlepoint import SinglePointCalculator

    i_sp, fu_sp = i.copy(), fu.copy()
    for a in (i_sp, fu_sp):
        a.calc = SinglePointCalculator(a, energy=EMT().get_potential_energy(a))
    (known,) = neb_batch(
        [NEBHop(i_sp, fu_sp, "known", mic=False)],
        n_images=3,
        fmax=0.03,
        steps=300,
        interpolation="linear",
        evaluator=CalculatorLoop(EMT),
    )
    np.testing.assert_allclose(known.energies_eV, res[1].energies_eV, atol=1e-10)
    assert known.force_calls == res[1].force_calls - 2
    # more images, same saddle: the climbing image finds it either way
    assert five.converged and five.barrier_forward_eV == pytest.approx(
        ref.barrier_forward_eV, abs=5e-3
    )
    # an unwrapped final state read through the minimum image is a different (wrong) band
    # when the atom is put a lattice vector away; without mic it is taken as given
    far = fu.copy()
    far.positions[j] += i.cell[0]
    (r_far,) = neb_batch(
        [NEBHop(i, far, "far", mic=False)],
        n_images=3,
        fmax=1.0,
        steps=1,
        interpolation="linear",
        evaluator=CalculatorLoop(EMT),
    )
    assert r_far.reaction_coordinate_A[-1] > ref.reaction_coordinate_A[-1] + 1.0


def test_relax_positions_batch_follows_ase_fire_and_keeps_atoms_unwrapped():
    from ase.constraints import FixAtoms

    from halidelab.engine.relax import relax_positions_batch

    def relax_fixed_cell(atoms, calc, fmax, steps):  # the oracle: ASE's FIRE on the atoms
        a = atoms.copy()
        a.calc = calc
        opt = FIRE(a, logfile=None)
        conv = opt.run(fmax=fmax, steps=steps)
        return a, conv, opt.nsteps

    i, _ = _vacancy_hop("Cu", "fcc", 3.61, 2)
    i.rattle(0.05, seed=3)
    i.positions[0] -= i.cell[2]  # outside the cell: a relaxation must not wrap it back
    fixed = i.copy()
    fixed.set_constraint(FixAtoms(indices=[5, 6]))
    out = relax_positions_batch([i, fixed], fmax=0.01, steps=200, evaluator=CalculatorLoop(EMT))
    for atoms, (r, conv, n) in zip((i, fixed), out, strict=True):
        ref, conv_ref, n_ref = relax_fixed_cell(atoms, EMT(), fmax=0.01, steps=200)
        assert conv and conv_ref and n == n_ref
        np.testing.assert_allclose(r.positions, ref.positions, atol=1e-8)
        assert r.get_potential_energy() == pytest.approx(ref.get_potential_energy(), abs=1e-8)
        assert r.positions[0, 2] < 0  # still unwrapped
    np.testing.assert_allclose(out[1][0].positions[[5, 6]], fixed.positions[[5, 6]])
    assert not np.allclose(out[0][0].positions[[5, 6]], i.positions[[5, 6]])
