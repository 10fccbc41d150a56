"""D3(BJ) dispersion on top of the MLIPs (the ``-d3`` models): parameters, consistency of
energy, forces and stress, and the lattice it restores for a dispersion-bound tetrahalide."""

from __future__ import annotations

import sys
from importlib.resources import files

import numpy as np
import pytest
from ase.build import bulk
from ase.units import Bohr, Hartree

from halidelab import dispersion
from halidelab.engine import get_evaluator
from halidelab.errors import ModelError
from halidelab.potentials import Potential, get_calculator, model_info, provenance

pytest.importorskip("dftd3", reason="dftd3 wheels exist for Linux only")


@pytest.fixture(autouse=True, scope="module")
def _restore_torch_threads():
    import torch

    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _licl(a: float = 5.14, rattle: float = 0.05, seed: int = 3):
    atoms = bulk("LiCl", "rocksalt", a=a, cubic=True)
    atoms.rattle(rattle, seed=seed)
    return atoms


def _library_energy(atoms, method: str) -> float:
    """D3(BJ) two-body energy with the parameters dftd3 itself stores for ``method``, eV."""
    from dftd3.interface import DispersionModel, RationalDampingParam

    model = DispersionModel(
        atoms.numbers, atoms.positions / Bohr, atoms.cell[:] / Bohr, np.asarray(atoms.pbc)
    )
    res = model.get_dispersion(RationalDampingParam(method=method, atm=False), grad=False)
    return float(res["energy"]) * Hartree


@pytest.mark.parametrize(("modal", "method"), [(None, "pbe"), ("R2SCAN", "r2scan")])
def test_parameters_are_the_published_ones(modal, method):
    """Our explicit parameters give the energy of the set dftd3 stores under the name."""
    path = files("halidelab") / "data" / "structures" / "LiGaBr4_P2_1_c_obelix-be9.cif"
    from pymatgen.core import Structure

    from halidelab.atoms import to_atoms

    for atoms in (_licl(), to_atoms(Structure.from_file(str(path)))):
        ours, _, _ = dispersion.terms(atoms, dispersion.parameters_for(modal))
        assert ours < 0.0  # dispersion binds
        assert ours == pytest.approx(_library_energy(atoms, method), rel=1e-10)


def test_attractive_and_fading_with_distance():
    """Near equilibrium the dispersion energy weakens as the lattice expands; far apart it
    vanishes. (Not monotonic in between: D3's C6 grow as the coordination numbers fall.)"""
    e = [dispersion.terms(_licl(a, 0.0), dispersion.PARAMETERS["PBE"])[0] for a in (4.8, 5.14, 6)]
    assert e[0] < e[1] < e[2] < 0.0
    far = dispersion.terms(_licl(20.0, 0.0), dispersion.PARAMETERS["PBE"])[0]
    assert e[1] < far < 0.0 and abs(far) < 0.01 * abs(e[1])
    _, f, s = dispersion.terms(_licl(5.14, 0.0), dispersion.PARAMETERS["PBE"])
    assert np.abs(f).max() < 1e-8  # ideal rock salt: no force by symmetry
    # the dispersion energy falls on compression, so the stress it adds pulls the cell in
    # (positive in ASE's sign): a 2-3 GPa term for a chloride
    assert np.allclose(s[:3], s[0]) and 0.005 < s[0] < 0.03  # eV/A^3


def test_d3_model_is_the_model_plus_d3():
    atoms = _licl()
    params = dispersion.PARAMETERS["PBE"]
    (plain,) = get_evaluator("chgnet", "cpu", threads=1).evaluate([atoms])
    (with_d3,) = get_evaluator("chgnet-d3", "cpu", threads=1).evaluate([atoms])
    e, f, s = dispersion.terms(atoms, params)
    assert with_d3.energy_eV == pytest.approx(plain.energy_eV + e, abs=1e-6)
    assert np.allclose(with_d3.forces_eV_A, plain.forces_eV_A + f, atol=1e-6)
    assert np.allclose(with_d3.stress_eV_A3, plain.stress_eV_A3 + s, atol=1e-7)
    # the ASE calculator of the same name gives the same numbers
    b = atoms.copy()
    b.calc = get_calculator("chgnet-d3", "cpu")
    assert b.get_potential_energy() == pytest.approx(with_d3.energy_eV, abs=1e-5)
    assert np.allclose(b.get_forces(), with_d3.forces_eV_A, atol=1e-5)
    assert np.allclose(b.get_stress(), with_d3.stress_eV_A3, atol=1e-6)


def test_d3_forces_and_stress_are_energy_derivatives():
    """Finite differences of the ``-d3`` evaluator's extra energy against its extra forces
    and stress: the added terms have the right sign and units."""
    ev = get_evaluator("chgnet-d3", "cpu", threads=1)
    base = get_evaluator("chgnet", "cpu", threads=1)

    def d3_part(atoms):
        (a,), (b,) = ev.evaluate([atoms]), base.evaluate([atoms])
        return (
            a.energy_eV - b.energy_eV,
            a.forces_eV_A - b.forces_eV_A,
            a.stress_eV_A3 - b.stress_eV_A3,
        )

    atoms = _licl()
    _, f, s = d3_part(atoms)
    h = 1e-3
    for atom, axis in ((0, 0), (3, 2)):
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[atom, axis] += h
        minus.positions[atom, axis] -= h
        fd = -(d3_part(plus)[0] - d3_part(minus)[0]) / (2 * h)
        assert fd == pytest.approx(f[atom, axis], abs=2e-4)
    eps = 1e-4
    strained = []
    for sign in (1, -1):
        b = atoms.copy()
        b.set_cell(atoms.cell[:] * (1 + sign * eps), scale_atoms=True)
        strained.append(d3_part(b)[0])
    # uniform strain: dE/d(eps) / V = the trace of the stress (ASE sign)
    fd_trace = (strained[0] - strained[1]) / (2 * eps) / atoms.get_volume()
    assert fd_trace == pytest.approx(s[:3].sum(), rel=1e-3)


def test_names_info_and_provenance():
    assert Potential("CHGNet+D3").name == "chgnet-d3"
    assert Potential("7net-0-d3").name == "sevennet-0-d3"
    assert Potential("chgnet-d3").dispersion and not Potential("chgnet").dispersion
    assert Potential("chgnet-d3").family == "chgnet"
    info = model_info("chgnet-d3")
    assert info["version"] == "CHGNet-0.3.0+D3(BJ)"
    assert info["checkpoint_sha256"] == model_info("chgnet")["checkpoint_sha256"]
    assert info["dispersion"]["functional"] == "PBE" and info["dispersion"]["s9"] == 0.0
    r2 = model_info("sevennet-mf-0-d3", modal="r2scan")
    assert r2["dispersion"]["functional"] == "r2SCAN" and r2["version"].endswith("R2SCAN+D3(BJ)")
    prov = provenance("test", get_evaluator("chgnet-d3", "cpu").info)
    assert prov.model == "chgnet-d3"
    assert prov.parameters["potential"]["dispersion"]["a1"] == 0.4289
    with pytest.raises(ModelError, match=r"valid names: .*-d3"):
        Potential("mace-d3")
    # the -d3 model shares the cached weights of its model
    calc = get_calculator("chgnet-d3", "cpu")
    assert calc.mixer.calcs[0].model is get_calculator("chgnet", "cpu").model


def test_missing_dftd3_is_one_clear_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "dftd3.ase", None)  # import now raises ImportError
    with pytest.raises(ModelError, match="need the dftd3 package.*drop the -d3 suffix"):
        get_evaluator("chgnet-d3", "cpu")
    assert get_evaluator("chgnet", "cpu").info["name"] == "chgnet"  # the plain model still runs


def test_d3_restores_the_measured_lattice_of_ligabr4():
    """LiGaBr4 is built of isolated GaBr4 tetrahedra held by dispersion-like bonds: CHGNet
    (PBE, no dispersion) swells it by over 10 % in volume; with D3(BJ) the relaxed volume
    comes within 5 % of the measured room-temperature structure (a 0 K relaxation with
    dispersion may end a few per cent below it: thermal expansion)."""
    from pymatgen.core import Structure

    from halidelab.relax import relax

    path = files("halidelab") / "data" / "structures" / "LiGaBr4_P2_1_c_obelix-be9.cif"
    measured = Structure.from_file(str(path))
    v0 = measured.volume / len(measured)
    change = {}
    for model in ("chgnet", "chgnet-d3"):
        res = relax(measured, Potential(model, device="cpu", threads=1), steps=400)
        assert res.converged
        relaxed = Structure.from_dict(res.structure)
        change[model] = 100.0 * (relaxed.volume / len(relaxed) / v0 - 1.0)
    assert change["chgnet"] > 10.0
    assert abs(change["chgnet-d3"]) < 5.0
