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
    # the OBELiX Li3YCl6 CIF has partial occupancies: its ordered model is used, with a note
    cif = shared_data / "structures" / "Li3YCl6_P-3m1_obelix-ei3.cif"
    assert main(["neb", str(cif), "--dry-run"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("note:") and "partial occupancies" in err[0]


def _licl_vacancy_cif(tmp_path):
    """15-atom rock-salt LiCl with one Li vacancy."""
    s = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.14), ["Li", "Cl"], [[0, 0, 0], [0.5, 0, 0]]
    ).get_primitive_structure()
    s.make_supercell([2, 2, 2])
    s.remove_sites([next(i for i, x in enumerate(s) if x.specie.symbol == "Li")])
    path = tmp_path / "LiCl_vac.cif"
    s.to(filename=str(path))
    return path


def test_neb_cli_gives_the_barriers_of_the_ase_calculator(tmp_path, capsys):
    """The CLI runs CHGNet batched (endpoints, then both bands of the Li1 -> i1 -> Li1 path
    in one model call per step); the same study with CHGNet's ASE calculator behind the
    engine makes the same decisions (i1 is a minimum for CHGNet here: two bands) and gives
    the same barriers to the float noise of the batched model call (1 meV stated; 0.1 meV
    seen). The engine itself follows ASE's NEB: tests/engine/test_batch_neb.py and
    tests/transport/test_neb_interstitial.py."""
    from halidelab.potentials import get_calculator
    from halidelab.transport.neb import neb_study

    path = _licl_vacancy_cif(tmp_path)
    args = [
        "neb",
        str(path),
        "--images",
        "3",
        "--fmax",
        "0.1",
        "--threads",
        "1",
        "--device",
        "cpu",
        "--json",
    ]
    assert main([*args, "--batch", "-o", str(tmp_path / "out")]) == 0
    cli = json.loads(capsys.readouterr().out)
    ref = neb_study(
        Structure.from_file(path),
        calculator=get_calculator("chgnet", "cpu", threads=1),
        n_images=3,
        fmax=0.1,
    ).to_dict()
    (x,), (y,) = ref["results"], cli["results"]
    assert (
        x["label"] == y["label"] == "Li1->i1->Li1"
        and x["mechanism"] == y["mechanism"] == "interstitial"
    )
    assert x["converged"] and y["converged"] and x["endpoints_ok"] and y["endpoints_ok"]
    assert x["n_images"] == y["n_images"]
    for key in ("barrier_forward_eV", "barrier_backward_eV", "delta_e_eV"):
        assert y[key] == pytest.approx(x[key], abs=1e-3)
    assert (
        y["provenance"]["parameters"].get("bands")
        == x["provenance"]["parameters"].get("bands")
        == 2
    )
    assert cli["provenance"]["parameters"]["potential"]["batching"] == "chgnet-predict_graph"
    assert ref["provenance"]["parameters"]["potential"]["batching"] == "ase-loop"
    assert [c["barrier_eV"] for c in cli["chains"]] == pytest.approx(
        [c["barrier_eV"] for c in ref["chains"]], abs=1e-3
    )
    assert (tmp_path / "out" / "neb.json").is_file() and (
        tmp_path / "out" / "neb_hops.json"
    ).is_file()


def test_neb_batch_bad_model_is_one_line(tmp_path, capsys):
    path = _licl_vacancy_cif(tmp_path)
    assert main(["neb", str(path), "--batch", "--model", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "valid names" in err[0]


@pytest.mark.slow
def test_neb_runs_on_licl_with_a_vacancy(tmp_path, capsys):
    path = _licl_vacancy_cif(tmp_path)
    rc = main(
        [
            "neb",
            str(path),
            "--no-interstitials",
            "--images",
            "3",
            "--fmax",
            "0.1",
            "--threads",
            "1",
            "--device",
            "cpu",
            "--json",
            "-o",
            str(tmp_path / "out"),
        ]
    )
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    (r,) = data["results"]
    assert r["converged"] and r["provenance"]["model"] == "chgnet"
    assert abs(r["barrier_forward_eV"] - r["barrier_backward_eV"]) < 0.03
    assert (tmp_path / "out" / "neb.json").is_file()
