"""Batched relaxation follows ASE's optimisers (FIRE, BFGS, MDMin) per structure."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.optimize import BFGS, FIRE, MDMin

from halidelab.engine import CalculatorLoop, get_evaluator
from halidelab.engine.relax import relax_batch
from halidelab.errors import StructureError
from halidelab.potentials import get_calculator
from halidelab.relax import to_structure


@pytest.fixture(autouse=True, scope="module")
def _restore_torch_threads():
    """Tests run torch on one thread (shared CI cores); give the setting back after."""
    import torch

    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _ase_relax(atoms, calc, optimizer, fmax, steps, cell=True):
    """Oracle: ASE's optimiser on a FrechetCellFilter (or the atoms), as ASE users run it."""
    import warnings

    from ase.filters import FrechetCellFilter

    a = atoms.copy()
    a.calc = calc
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = optimizer(FrechetCellFilter(a) if cell else a, logfile=None)
        conv = opt.run(fmax=fmax, steps=steps)
    return a, bool(conv), opt.nsteps


def _licl(a: float, rattle: float, seed: int):
    atoms = bulk("LiCl", "rocksalt", a=a, cubic=True)
    atoms.rattle(rattle, seed=seed)
    return atoms


def test_batched_cell_relaxation_matches_ase():
    # two different starts in one batch: compressed rock salt, and a rattled expanded one
    starts = [_licl(4.95, 0.05, 1), _licl(5.30, 0.1, 2)]
    ev = get_evaluator(
        "chgnet", "cpu", threads=1, max_structures=64
    )  # one call for both structures
    # ASE's convergence test alone (no stress criterion), as the oracle runs it
    batched = relax_batch(starts, fmax=0.05, steps=100, evaluator=ev, stress_tol_GPa=None)
    assert all(b.converged and b.fmax_eV_A < 0.05 for b in batched)
    # per-structure convergence: each stopped at its own step; calls = longest run + 1
    assert batched[0].steps != batched[1].steps
    assert batched[0].provenance.parameters["model_calls"] == max(b.steps for b in batched) + 1
    single, conv, _ = _ase_relax(starts[0], get_calculator("chgnet", "cpu"), FIRE, 0.05, 100)
    b = batched[0]
    assert conv
    # same FIRE update, same start: same minimum. Tolerances: 1 meV/atom, 0.005 A on the
    # lattice, 0.02 A on positions (float32 model noise only)
    assert b.energy_per_atom_eV == pytest.approx(
        single.get_potential_energy() / len(single), abs=1e-3
    )
    for q, ref in zip(("a_A", "b_A", "c_A"), single.cell.cellpar()[:3], strict=True):
        assert getattr(b.lattice_final, q) == pytest.approx(ref, abs=5e-3)
    assert np.abs(b.to_structure().cart_coords - to_structure(single).cart_coords).max() < 0.02
    # the relaxation did something: the compressed cell expanded towards the minimum
    assert b.lattice_final.a_A - b.lattice_initial.a_A > 0.1
    assert b.energy_per_atom_eV < b.energy_initial_per_atom_eV


def test_positions_only_and_step_limit():
    start = _licl(5.14, 0.1, 4)
    ev = get_evaluator("chgnet", "cpu", threads=1)
    short, full = relax_batch([start, start], fmax=0.02, steps=3, relax_cell=False, evaluator=ev)
    assert not short.converged and short.steps == 3
    assert short.lattice_final == short.lattice_initial
    (done,) = relax_batch([start], fmax=0.05, steps=60, relax_cell=False, evaluator=ev)
    assert done.converged and done.energy_per_atom_eV < done.energy_initial_per_atom_eV


@pytest.mark.parametrize("name,optimizer", [("FIRE", FIRE), ("BFGS", BFGS), ("MDMin", MDMin)])
def test_each_optimizer_follows_ase_step_for_step(name, optimizer):
    """An analytic potential (EMT) leaves no float noise: same steps, same structure as ASE."""
    starts = []
    for k, a in enumerate((3.50, 3.70)):
        atoms = bulk("Cu", "fcc", a=a, cubic=True)
        atoms.rattle(0.05, seed=k)
        starts.append(atoms)
    out = relax_batch(
        starts, CalculatorLoop(EMT), fmax=0.02, steps=200, optimizer=name, stress_tol_GPa=None
    )
    for start, r in zip(starts, out, strict=True):
        ref, conv, n = _ase_relax(start, EMT(), optimizer, 0.02, 200)
        assert r.converged and conv and r.steps == n and r.optimizer == name
        assert r.energy_per_atom_eV == pytest.approx(
            ref.get_potential_energy() / len(ref), abs=1e-9
        )
        np.testing.assert_allclose(r.to_structure().lattice.matrix, ref.cell.array, atol=1e-7)
        np.testing.assert_allclose(
            r.to_structure().cart_coords, to_structure(ref).cart_coords, atol=1e-6
        )
    assert out[0].steps != out[1].steps  # each structure stopped at its own step
    # compressed and expanded cells met at EMT's lattice constant
    assert out[0].lattice_final.volume_A3 == pytest.approx(out[1].lattice_final.volume_A3, rel=0.01)
    assert out[0].lattice_final.volume_A3 > out[0].lattice_initial.volume_A3


def _emt_zero_pressure_volume(atoms) -> float:
    """Oracle: the volume where EMT's pressure vanishes under isotropic scaling, A^3 (a
    perfect fcc crystal stays perfect when scaled: its positions need no relaxation)."""
    from scipy.optimize import brentq

    def pressure(scale: float) -> float:
        a = atoms.copy()
        a.set_cell(atoms.cell * scale, scale_atoms=True)
        a.calc = EMT()
        return -float(np.trace(a.get_stress(voigt=False))) / 3

    return atoms.get_volume() * brentq(pressure, 0.95, 1.05, xtol=1e-12) ** 3


def test_stress_criterion_reaches_the_zero_pressure_volume():
    """ASE's filter stops when virial / N < fmax, i.e. at a stress up to fmax N / V; the
    default criterion also converges the stress, and so the volume, to the true minimum."""
    start = bulk("Cu", "fcc", a=3.70, cubic=True).repeat(2)  # 32 atoms, 2.8 % expanded
    v0 = _emt_zero_pressure_volume(start)
    (ase_only,) = relax_batch(
        [start], CalculatorLoop(EMT), fmax=0.05, steps=300, stress_tol_GPa=None
    )
    (tight,) = relax_batch([start], CalculatorLoop(EMT), fmax=0.05, steps=300)
    assert ase_only.converged and tight.converged
    assert tight.stress_tol_GPa == 0.05 and ase_only.stress_tol_GPa is None
    assert tight.max_stress_GPa < 0.05
    # EMT copper's B ~ 130 GPa: 0.05 GPa is < 0.05 % of volume
    assert tight.lattice_final.volume_A3 == pytest.approx(v0, rel=5e-4)
    # what the force criterion alone left: fmax N / V = 0.68 GPa at most, here
    assert ase_only.max_stress_GPa > 0.05
    assert abs(ase_only.lattice_final.volume_A3 / v0 - 1) > 5e-4
    # positions-only relaxations have no stress criterion
    (fixed,) = relax_batch([start], CalculatorLoop(EMT), fmax=0.05, relax_cell=False)
    assert fixed.converged and fixed.stress_tol_GPa is None and fixed.max_stress_GPa > 1


def test_bad_input():
    with pytest.raises(StructureError):
        relax_batch([], evaluator=None)
    with pytest.raises(StructureError):
        relax_batch([_licl(5.1, 0, 0)], fmax=-1)
    for bad in (0.0, -0.1, float("nan"), float("inf")):
        with pytest.raises(StructureError, match="stress_tol_GPa"):
            relax_batch([_licl(5.1, 0, 0)], CalculatorLoop(EMT), stress_tol_GPa=bad)
    with pytest.raises(StructureError, match="optimizer"):
        relax_batch([_licl(5.1, 0, 0)], CalculatorLoop(EMT), optimizer="LBFGS")
