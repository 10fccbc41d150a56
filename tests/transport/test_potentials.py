"""MLIP registry: offline loading, caching, names, devices, provenance."""

from __future__ import annotations

import socket

import pytest
import torch
from ase.build import bulk

from halidelab.errors import ModelError
from halidelab.potentials import available_models, get_calculator, model_info, provenance


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_registry_names_and_versions():
    assert {
        "chgnet",
        "sevennet-0",
        "sevennet-0-22may2024",
        "sevennet-l3i5",
        "sevennet-mf-0",
    } <= set(available_models())
    info = model_info("sevennet-0")
    assert info["version"] == "SevenNet_0__11Jul2024" and info["checkpoint"].endswith(".pth")
    assert model_info("chgnet")["version"] == "CHGNet-0.3.0"
    assert model_info("sevennet-mf-0", modal="r2scan")["modal"] == "R2SCAN"


def test_unknown_model_lists_valid_names():
    with pytest.raises(ModelError, match="valid names: .*chgnet.*sevennet-0"):
        get_calculator("mace-mp-0")
    with pytest.raises(ModelError, match="modal"):
        model_info("sevennet-mf-0", modal="HSE")


@pytest.mark.parametrize("name", ["chgnet", "sevennet-0"])
def test_loads_offline_and_caches(name, no_network):
    atoms = bulk("LiCl", "rocksalt", a=5.13, cubic=True)
    calc = get_calculator(name, device="cpu", threads=1)
    assert torch.get_num_threads() == 1
    atoms.calc = calc
    e = atoms.get_potential_energy() / len(atoms)
    assert -5.0 < e < -3.0  # eV/atom of LiCl, MPtrj-trained models
    forces = atoms.get_forces()
    assert abs(forces).max() < 1e-3  # ideal rock salt: forces vanish by symmetry
    calc2 = get_calculator(name, device="cpu")
    assert calc2 is not calc and calc2.model is calc.model  # new calculator, cached weights
    prov = provenance("test", calc)
    assert prov.model == name and prov.model_version == calc.halidelab_model["version"]


def test_device_auto_and_cuda_refusal():
    calc = get_calculator("chgnet", device="auto")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert calc.halidelab_model["device"] == expected
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="no CUDA"):
            get_calculator("chgnet", device="cuda")
