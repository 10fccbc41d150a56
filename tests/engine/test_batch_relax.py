"""Batched FIRE relaxation reaches the structure and energy of ASE's FIRE, per structure."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from halidelab.engine import get_evaluator
from halidelab.engine.relax import relax_batch
from halidelab.errors import StructureError
from halidelab.potentials import get_calculator
from halidelab.relax import relax


@pytest.fixture(autouse=True, scope="module")
def _restore_torch_threads():
    """Tests run torch on one thread (shared CI cores); give the setting back after."""
    import torch

    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _licl(a: float, rattle: float, seed: int):
    atoms = bulk("LiCl", "rocksalt", a=a, cubic=True)
    atoms.rattle(rattle, seed=seed)
    return atoms


def test_batched_cell_relaxation_matches_ase():
    # two different starts in one batch: compressed rock salt, and a rattled expanded one
    starts = [_licl(4.95, 0.05, 1), _licl(5.30, 0.1, 2)]
    ev = get_evaluator("chgnet", "cpu", threads=1)
    batched = relax_batch(starts, fmax=0.05, steps=100, evaluator=ev)
    assert all(b.converged and b.fmax_eV_A < 0.05 for b in batched)
    # per-structure convergence: each stopped at its own step; calls = longest run + 1
    assert batched[0].steps != batched[1].steps
    assert batched[0].provenance.parameters["model_calls"] == max(b.steps for b in batched) + 1
    single = relax(starts[0], fmax=0.05, steps=100, calculator=get_calculator("chgnet", "cpu"),
                   optimizer="FIRE")
    b = batched[0]
    assert single.converged
    # same FIRE update, same start: same minimum. Tolerances: 1 meV/atom, 0.005 A on the
    # lattice, 0.02 A on positions (float32 model noise only)
    assert b.energy_per_atom_eV == pytest.approx(single.energy_per_atom_eV, abs=1e-3)
    for q in ("a_A", "b_A", "c_A"):
        assert getattr(b.lattice_final, q) == pytest.approx(getattr(single.lattice_final, q), abs=5e-3)
    assert np.abs(b.to_structure().cart_coords - single.to_structure().cart_coords).max() < 0.02
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


def test_bad_input():
    with pytest.raises(StructureError):
        relax_batch([], evaluator=None)
    with pytest.raises(StructureError):
        relax_batch([_licl(5.1, 0, 0)], fmax=-1)
