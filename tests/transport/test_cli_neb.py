"""``halidelab neb`` through halidelab.cli.main."""

from __future__ import annotations

import json

import pytest
from pymatgen.core import Lattice, Structure

from halidelab.cli import main


@pytest.fixture(scope="module")
def lzc_cif(tmp_path_factory):
    from halidelab.composition import design_composition
    from halidelab.structures.models import build_models

    s = build_models(design_composition("Li2ZrCl6"), supercell=1, n_configs=1).structures[0]
    path = tmp_path_factory.mktemp("neb") / "Li2ZrCl6.cif"
    s.to(filename=str(path))
    return path


def test_dry_run_lists_distinct_hops(lzc_cif, capsys):
    assert main(["neb", str(lzc_cif), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "P-3m1" in out and "Li1-Li2" in out and "Li2-i3" in out


def test_dry_run_json(lzc_cif, capsys):
    assert main(["neb", str(lzc_cif), "--dry-run", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    hops = data["network"]["hops"]
    assert len(data["distinct_hops"]) == data["network"]["n_parent_classes"] == 4
    c = [h for h in hops if h["direction"] == "c"]
    assert all(h["label"] == "Li1-Li2" for h in c)


def test_bad_input_gives_one_line_and_exit_2(tmp_path, lzc_cif, shared_data, capsys):
    assert main(["neb", str(tmp_path / "missing.cif")]) == 2
    assert main(["neb", str(lzc_cif), "--hops", "some"]) == 2
    err = capsys.readouterr().err
    assert "not found" in err and "--hops must be" in err
    # the OBELiX Li3YCl6 CIF has partial occupancies: order it first
    cif = shared_data / "structures" / "Li3YCl6_P-3m1_obelix-ei3.cif"
    assert main(["neb", str(cif), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "partially occupied" in err[0]


@pytest.mark.slow
def test_neb_runs_on_licl_with_a_vacancy(tmp_path, capsys):
    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.14), ["Li", "Cl"],
                                  [[0, 0, 0], [0.5, 0, 0]]).get_primitive_structure()
    s.make_supercell([2, 2, 2])
    s.remove_sites([next(i for i, x in enumerate(s) if x.specie.symbol == "Li")])
    path = tmp_path / "LiCl_vac.cif"
    s.to(filename=str(path))
    rc = main(["neb", str(path), "--no-interstitials", "--images", "3", "--fmax", "0.1", "--threads", "1",
               "--device", "cpu", "--json", "-o", str(tmp_path / "out")])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    (r,) = data["results"]
    assert r["converged"] and r["provenance"]["model"] == "chgnet"
    assert abs(r["barrier_forward_eV"] - r["barrier_backward_eV"]) < 0.03
    assert (tmp_path / "out" / "neb.json").is_file()
