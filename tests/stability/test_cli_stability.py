"""The stability, window, interface and literature commands (through halidelab.cli.main)."""

from __future__ import annotations

import json

import pytest

from halidelab.cli import main
from halidelab.stability import references as R


@pytest.fixture(scope="module")
def licl_cif(tmp_path_factory):
    path = tmp_path_factory.mktemp("licl") / "LiCl.cif"
    R.rock_salt("Li", "Cl", 5.13).to(filename=str(path))
    return path


def test_literature_table_and_json(capsys):
    assert main(["literature", "--family", "halide", "--sort", "sigma", "--limit", "4"]) == 0
    out = capsys.readouterr().out
    assert "Li3InCl6" in out and "literature (4 entries)" in out
    assert main(["literature", "--family", "halide", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    sig = [r["sigma_S_cm"] for r in rows]
    assert sig == sorted(sig, reverse=True)


def test_literature_add_and_errors(tmp_path, capsys):
    mine = tmp_path / "mine.csv"
    mine.write_text("composition,sigma_S_cm,notes\nLi1.7Zr0.7Nb0.3Cl6,9.9e-2,lab\n")
    assert main(["literature", "--add", str(mine), "--limit", "1", "--json"]) == 0
    top = json.loads(capsys.readouterr().out)[0]
    assert top["composition"] == "Li1.7Zr0.7Nb0.3Cl6" and top["source"] == "user: mine.csv"
    bad = tmp_path / "bad.csv"
    bad.write_text("formula,sigma\nLiCl,1\n")
    assert main(["literature", "--add", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "sigma_S_cm" in err and len(err.strip().splitlines()) == 1
    assert main(["literature", "--sort", "colour"]) == 2


def test_interface_refuses_what_it_cannot_model(capsys):
    # an unknown partner is refused before any MLIP work, naming the ones it can build
    assert main(["interface", "Li3YCl6", "LiFePO4", "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "unknown cathode 'LiFePO4'" in err and "Li6PS5Cl" in err
    assert len(err.strip().splitlines()) == 1
    assert main(["stability", "Li2Zr0.8Nb0.2Cl6", "--no-cache"]) == 2
    assert "charge balanced" in capsys.readouterr().err


def test_stability_and_window_of_a_cif(licl_cif, tmp_path, capsys):
    store = tmp_path / "cache.sqlite"
    assert main(["stability", str(licl_cif), "--store", str(store), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    # LiCl is its own hull phase: zero up to the float32 noise of two relaxations of the
    # same cell (2e-7 eV/atom when torch runs on another thread count)
    assert res["stable"] and res["e_above_hull_eV_atom"] == pytest.approx(0.0, abs=1e-6)
    assert res["chemical_system"] == "Cl-Li"
    assert main(["window", str(licl_cif), "--store", str(store), "--json"]) == 0
    w = json.loads(capsys.readouterr().out)
    assert w["reduction_limit_V"] < w["oxidation_limit_V"]
    assert w["oxidation_products"] == ["Cl2"]
    assert main(["window", str(licl_cif), "--store", str(store), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "vs Li/Li+" in out and "voltage profile" in out
