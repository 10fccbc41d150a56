"""Batched evaluation equals one-structure ASE calls (chgnet and sevennet-0)."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from halidelab.engine import get_evaluator, pack_batches
from halidelab.errors import ModelError, StructureError
from halidelab.potentials import get_calculator


@pytest.fixture(autouse=True, scope="module")
def _restore_torch_threads():
    """Tests run torch on one thread (shared CI cores); give the setting back after."""
    import torch

    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _licl(rattle: float, seed: int, a: float = 5.14):
    atoms = bulk("LiCl", "rocksalt", a=a, cubic=True)
    atoms.rattle(rattle, seed=seed)
    return atoms


def _single(model, atoms):
    b = atoms.copy()
    b.calc = get_calculator(model, "cpu")
    return b.get_potential_energy(), b.get_forces(), b.get_stress()


@pytest.fixture(scope="module")
def lzc():
    from halidelab.composition import design_composition
    from halidelab.relax import to_atoms
    from halidelab.structures.models import build_models

    s = build_models(design_composition("Li2ZrCl6"), supercell=1, n_configs=1).structures[0]
    atoms = to_atoms(s)
    atoms.rattle(0.03, seed=3)
    return atoms


@pytest.mark.parametrize("model", ["chgnet", "sevennet-0"])
def test_copies_equal_single_calls(model):
    atoms = _licl(0.05, 1)
    ev = get_evaluator(model, "cpu", threads=1, max_structures=64)  # batching asked for on the CPU
    out = ev.evaluate([atoms] * 4)
    e, f, s = _single(model, atoms)
    assert ev.n_calls == 1
    for r in out:
        assert r.energy_eV == pytest.approx(e, abs=1e-4)
        np.testing.assert_allclose(r.forces_eV_A, f, atol=1e-4)
        np.testing.assert_allclose(r.stress_eV_A3, s, atol=1e-5)
    # forces are not trivially zero: the test would catch a wrong atom slice
    assert np.abs(f).max() > 0.05


@pytest.mark.parametrize("model", ["chgnet", "sevennet-0"])
def test_mixed_batch_equals_single_calls(model, lzc):
    structs = [_licl(0.05, 1), lzc, _licl(0.08, 2, a=5.3)]
    ev = get_evaluator(model, "cpu", threads=1, max_structures=64)
    out = ev.evaluate(structs)
    assert ev.n_calls == 1
    for atoms, r in zip(structs, out, strict=True):
        e, f, s = _single(model, atoms)
        assert r.forces_eV_A.shape == (len(atoms), 3)
        assert r.energy_eV == pytest.approx(e, abs=2e-4)
        np.testing.assert_allclose(r.forces_eV_A, f, atol=2e-4)
        np.testing.assert_allclose(r.stress_eV_A3, s, atol=2e-5)
    # different structures really give different numbers
    assert abs(out[0].energy_eV / 8 - out[2].energy_eV / 8) > 1e-3


def test_atom_budget_splits_calls_without_changing_results():
    structs = [_licl(0.05, k) for k in range(5)]
    whole = get_evaluator("chgnet", "cpu", threads=1).evaluate(structs)
    ev = get_evaluator("chgnet", "cpu", max_atoms=16)
    split = ev.evaluate(structs)
    assert ev.n_calls == 3  # 8-atom cells, 16 atoms per call
    for a, b in zip(whole, split, strict=True):
        assert a.energy_eV == pytest.approx(b.energy_eV, abs=1e-4)
        np.testing.assert_allclose(a.forces_eV_A, b.forces_eV_A, atol=1e-4)


def test_cpu_default_is_one_structure_per_call():
    """Batching does not pay on a CPU (measured).

    The default there calls the model per structure.
    """
    structs = [_licl(0.05, k) for k in range(3)]
    ev = get_evaluator("chgnet", "cpu", threads=1)
    ev.evaluate(structs)
    assert ev.n_calls == 3 and ev.info["max_structures_per_call"] == 1
    by_atoms = get_evaluator(
        "chgnet", "cpu", threads=1, max_atoms=16
    )  # an atom budget asks for batches
    by_atoms.evaluate(structs)
    assert by_atoms.n_calls == 2 and by_atoms.info["max_structures_per_call"] is None


def test_pack_batches():
    assert pack_batches([10, 10, 10, 30, 5], 25) == [[0, 1], [2], [3], [4]]
    assert pack_batches([1] * 5, 100, max_structures=2) == [[0, 1], [2, 3], [4]]
    with pytest.raises(ModelError):
        pack_batches([1], 0)


def test_bad_input_is_refused():
    with pytest.raises(StructureError, match="ase Atoms"):
        get_evaluator("chgnet", "cpu").evaluate(["not a structure"])
    with pytest.raises(ModelError, match="unknown model"):
        get_evaluator("no-such-model")
    with pytest.raises(ModelError, match="SevenNet only"):
        get_evaluator("chgnet", "cpu", enable_cueq=True)
    with pytest.raises(ModelError):
        get_evaluator("sevennet-0", "cpu", enable_cueq=True)


def test_provenance_info():
    ev = get_evaluator("sevennet-0", "cpu")
    assert ev.info["name"] == "sevennet-0" and ev.info["enable_cueq"] is False
    assert ev.info["batching"] == "sevenn-torch_geometric" and ev.info["device"] == "cpu"
    assert ev.info["neighbor_list"] == "ase"  # auto on a CPU: sevenn's own graph builder
    with pytest.raises(ModelError, match="neighbor_list"):
        get_evaluator("sevennet-0", "cpu", neighbor_list="fast")


def _cuda_cueq() -> bool:
    import torch

    from halidelab.engine import cueq_available

    return torch.cuda.is_available() and cueq_available()


@pytest.mark.skipif(not _cuda_cueq(), reason="needs a CUDA GPU and the gpu extra (cuEquivariance)")
def test_cueq_matches_plain_model_on_gpu(lzc):
    structs = [_licl(0.05, 1), lzc]
    plain = get_evaluator("sevennet-0", "cuda", enable_cueq=False).evaluate(structs)
    ev = get_evaluator("sevennet-0", "cuda", enable_cueq=True)
    assert ev.info["enable_cueq"] is True
    for a, b in zip(plain, ev.evaluate(structs), strict=True):
        assert a.energy_eV == pytest.approx(b.energy_eV, abs=1e-3)
        np.testing.assert_allclose(a.forces_eV_A, b.forces_eV_A, atol=1e-3)
        np.testing.assert_allclose(a.stress_eV_A3, b.stress_eV_A3, atol=1e-4)


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("model", ["chgnet", "sevennet-0"])
def test_gpu_batch_matches_cpu(model, lzc):
    structs = [_licl(0.05, 1), lzc]
    cpu = get_evaluator(model, "cpu").evaluate(structs)
    gpu = get_evaluator(model, "cuda").evaluate(structs)
    for a, b in zip(cpu, gpu, strict=True):
        assert a.energy_eV == pytest.approx(b.energy_eV, abs=1e-3)
        np.testing.assert_allclose(a.forces_eV_A, b.forces_eV_A, atol=1e-3)


def test_torch_neighbor_list_equals_ase(lzc):
    import torch
    from ase.neighborlist import primitive_neighbor_list

    from halidelab.engine.batch import torch_neighbor_list

    a = _licl(0.1, 7)
    a.positions[0] += a.cell[0] * 1.3 - a.cell[2] * 0.6  # unwrapped, as in MD
    structs = [a, lzc, _licl(0.05, 8)]
    pos = [torch.tensor(s.positions) for s in structs]
    cells = [torch.tensor(s.cell.array) for s in structs]
    for s, (src, dst, shift) in zip(structs, torch_neighbor_list(pos, cells, 5.0), strict=True):
        i, j, S = primitive_neighbor_list("ijS", s.pbc, s.cell.array, s.positions, 5.0)
        ref = sorted(zip(i.tolist(), j.tolist(), map(tuple, S.tolist()), strict=True))
        got = sorted(
            zip(src.tolist(), dst.tolist(), map(tuple, shift.round().long().tolist()), strict=True)
        )
        assert got == ref and len(ref) > 10 * len(s)


def test_sevennet_torch_graphs_equal_sevenn_graphs(lzc):
    a = _licl(0.08, 9)
    a.positions[3] += a.cell[1] * 2.0  # unwrapped
    structs = [a, lzc]
    ref = get_evaluator("sevennet-0", "cpu", threads=1, neighbor_list="ase").evaluate(structs)
    ev = get_evaluator("sevennet-0", "cpu", threads=1, neighbor_list="torch")
    assert ev.info["neighbor_list"] == "torch"
    for r, q in zip(ref, ev.evaluate(structs), strict=True):
        assert r.energy_eV == pytest.approx(q.energy_eV, abs=1e-4)
        np.testing.assert_allclose(r.forces_eV_A, q.forces_eV_A, atol=1e-4)
        np.testing.assert_allclose(r.stress_eV_A3, q.stress_eV_A3, atol=1e-5)
