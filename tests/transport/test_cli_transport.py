"""CLI: relax, bvse, md through halidelab.cli.main."""

from __future__ import annotations

import json

import pytest
from pymatgen.core import Lattice, Structure

from halidelab.cli import main


def _licl(tmp_path, a=5.3):
    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Li", "Cl"], [[0, 0, 0], [0.5] * 3])
    p = tmp_path / "licl.cif"
    s.to(filename=str(p))
    return p


def test_bvse_cli_json_and_cube(tmp_path, capsys):
    p = _licl(tmp_path)
    code = main(["bvse", str(p), "--resolution", "0.4", "--cube", str(tmp_path / "m"), "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["e_1d_eV"] <= out["e_2d_eV"] <= out["e_3d_eV"]
    assert (tmp_path / "m.cube").exists()


def test_relax_cli_table(tmp_path, capsys):
    p = _licl(tmp_path)
    assert (
        main(["relax", str(p), "--steps", "40", "--fmax", "0.05", "--out", str(tmp_path / "r.cif")])
        == 0
    )
    text = capsys.readouterr().out
    assert "a_A" in text and "CHGNet-0.3.0" in text and "converged" in text
    assert Structure.from_file(tmp_path / "r.cif").lattice.a < 5.3


def test_relax_cli_stress_criterion(tmp_path, capsys):
    """--stress-tol converges the stress (default 0.05 GPa); 0 is ASE's force criterion
    alone; a negative value is refused in one line."""
    p = _licl(tmp_path, a=5.3)
    rows = {}
    for tol in ("0.01", "0"):
        args = ["relax", str(p), "--steps", "200", "--stress-tol", tol, "--json"]
        assert main(args) == 0
        rows[tol] = json.loads(capsys.readouterr().out)
    assert rows["0.01"]["converged"] and rows["0.01"]["max_stress_GPa"] < 0.01
    assert rows["0.01"]["stress_tol_GPa"] == 0.01 and rows["0"]["stress_tol_GPa"] is None
    assert main(["relax", str(p), "--stress-tol", "-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--stress-tol" in err[0]
    # several files: the table shows the stress left beside the force
    q = tmp_path / "licl_b.cif"
    q.write_text(p.read_text())
    assert main(["relax", str(p), str(q), "--steps", "200"]) == 0
    assert "stress" in capsys.readouterr().out


def test_md_cli_two_temperatures(tmp_path, capsys):
    p = _licl(tmp_path, a=5.15)
    code = main(
        [
            "md",
            str(p),
            "--T",
            "600,900",
            "--ps",
            "0.04",
            "--timestep",
            "2",
            "--interval",
            "1",
            "--out",
            str(tmp_path / "md"),
            "--json",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["steps"] for r in out["runs"]] == [20, 20]
    assert out["runs"][0]["provenance"]["model"] == "chgnet"
    assert all(d["haven_ratio"] == 1.0 for d in out["diffusion"])
    assert (tmp_path / "md" / "md_600K.traj").exists()
    # 0.04 ps is vibration, not diffusion: no D, no sigma, no Ea
    assert all(d["d_cm2_s"] is None and d["sigma_S_cm"] is None for d in out["diffusion"])
    assert out["arrhenius"] is None
    assert any("not diffusive" in f for f in out["failures"])


def test_md_cli_short_run_says_not_diffusive(tmp_path, capsys):
    """The trap of issue 13: 0.1 ps at 600 and 800 K gave Ea = 0.06 +- 0.04 eV and a
    sigma(300 K) with a narrow interval. Now: no number, and how long to run."""
    p = _licl(tmp_path, a=5.15)
    code = main(
        [
            "md",
            str(p),
            "--T",
            "600,800",
            "--ps",
            "0.1",
            "--timestep",
            "2",
            "--interval",
            "1",
            "--out",
            str(tmp_path / "md"),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "not diffusive" in out and "need about" in out
    assert "Ea =" not in out and "sigma(300 K)" not in out


def test_bad_inputs_give_one_line_errors(tmp_path, capsys):
    assert main(["bvse", str(tmp_path / "missing.cif")]) == 2
    assert "not found" in capsys.readouterr().err
    p = _licl(tmp_path)
    assert main(["md", str(p), "--T", "hot"]) == 2
    assert "temperatures" in capsys.readouterr().err
    assert main(["relax", str(p), "--model", "nope"]) == 2
    assert "valid names" in capsys.readouterr().err


def test_relax_cli_several_files_equal_one_by_one(tmp_path, capsys):
    """Several files are relaxed together (one model call per step) and reach the
    lattices each reaches alone; --batch is only a deprecation note now."""
    a = _licl(tmp_path, a=5.3)
    b = tmp_path / "licl_small.cif"
    Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(4.95), ["Li", "Cl"], [[0, 0, 0], [0.5] * 3]
    ).to(filename=str(b))
    assert main(["relax", str(a), str(b), "--batch", "--steps", "60", "--json"]) == 0
    out = capsys.readouterr()
    together = json.loads(out.out)
    assert "deprecated" in out.err
    alone = []
    for p in (a, b):
        assert main(["relax", str(p), "--steps", "60", "--optimizer", "FIRE", "--json"]) == 0
        alone.append(json.loads(capsys.readouterr().out))
    for x, y in zip(together, alone, strict=True):
        assert x["lattice_final"]["a_A"] == pytest.approx(y["lattice_final"]["a_A"], abs=0.005)
        assert x["steps"] == y["steps"]
    assert together[0]["provenance"]["parameters"]["n_structures"] == 2
    # both start on opposite sides of the minimum and meet there
    assert abs(together[0]["lattice_final"]["a_A"] - together[1]["lattice_final"]["a_A"]) < 0.02
    assert main(["relax", str(a), "--optimizer", "LBFGS"]) == 2
    assert "unknown optimizer" in capsys.readouterr().err


def test_md_cli_resumes_to_the_uninterrupted_run(tmp_path, capsys):
    """A run continued from its checkpoint gives the MSD of an uninterrupted one.

    Each temperature follows ASE's Bussi update and random stream
    (tests/engine/test_batch_md.py); resuming restores positions, momenta and the
    generator, so the continued run is the uninterrupted one (relative 1e-4 stated here;
    0.04 ps is vibration, so the analysis gives an MSD and no D).
    """
    p = _licl(tmp_path, a=5.15)
    common = ["--T", "600,900", "--interval", "1", "--threads", "1", "--device", "cpu", "--json"]
    assert main(["md", str(p), "--ps", "0.02", "--out", str(tmp_path / "a"), *common]) == 0
    capsys.readouterr()
    assert (
        main(["md", str(p), "--ps", "0.04", "--out", str(tmp_path / "a"), "--batch", *common]) == 0
    )
    resumed = json.loads(capsys.readouterr().out)
    assert main(["md", str(p), "--ps", "0.04", "--out", str(tmp_path / "b"), *common]) == 0
    whole = json.loads(capsys.readouterr().out)
    assert [r["resumed_from_step"] for r in resumed["runs"]] == [10, 10]
    assert [r["steps"] for r in resumed["runs"]] == [r["steps"] for r in whole["runs"]] == [20, 20]
    assert resumed["runs"][0]["provenance"]["method"] == "mlip-md-nvt"
    assert resumed["runs"][0]["provenance"]["parameters"]["n_tasks"] == 2
    for x, y in zip(resumed["runs"], whole["runs"], strict=True):
        assert x["mean_temperature_K"] == pytest.approx(y["mean_temperature_K"], rel=1e-4)
    for x, y in zip(resumed["diffusion"], whole["diffusion"], strict=True):
        assert x["msd_A2"] == pytest.approx(y["msd_A2"], rel=1e-4)
        assert max(x["msd_A2"]) > 0.01  # the atoms moved: the comparison is not of zeros


def test_md_cli_two_structures_in_one_batch(tmp_path, capsys):
    a = _licl(tmp_path, a=5.15)
    b = tmp_path / "licl_big.cif"
    Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.25), ["Li", "Cl"], [[0, 0, 0], [0.5] * 3]
    ).to(filename=str(b))
    assert (
        main(
            [
                "md",
                str(a),
                str(b),
                "--T",
                "700",
                "--ps",
                "0.02",
                "--interval",
                "1",
                "--threads",
                "1",
                "--device",
                "cpu",
                "--out",
                str(tmp_path / "md"),
                "--thermostat",
                "langevin",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert text.count("one batch") == 2 and "licl_big.cif" in text
    assert (tmp_path / "md" / "licl" / "md_700K.traj").exists()
    assert (tmp_path / "md" / "licl_big" / "md_700K.traj").exists()


def test_md_cli_refuses_what_it_cannot_run(tmp_path, capsys):
    p = _licl(tmp_path)
    assert main(["md", str(p), "--thermostat", "berendsen", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "thermostat" in err[0]
    assert main(["md", str(p), str(p), "--batch", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "share a name" in err[0]


def test_relax_cli_at_a_temperature_writes_the_warm_lattice(tmp_path, capsys):
    p = _licl(tmp_path, a=5.14)
    out = tmp_path / "warm.cif"
    args = ["relax", str(p), "--temperature", "300", "--thermal-ps", "0.4", "--out", str(out)]
    assert main([*args, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    th = d["thermal_lattice"]
    assert th["temperature_K"] == 300.0 and th["expansion_percent"] > 0.0
    # rock-salt LiCl is cubic: the anisotropic default keeps it so
    assert th["shape"] == "anisotropic" and th["space_group"] == "Fm-3m (225)"
    assert th["final_cell"] in ("verified", "stepped", "kept")
    assert th["lattice_change_percent"] == pytest.approx(
        [th["lattice_change_percent"][0]] * 3, abs=1e-4
    )
    written = Structure.from_file(out)
    assert written.volume == pytest.approx(th["volume_A3"], rel=1e-4)
    assert written.volume > d["lattice_final"]["volume_A3"]
    assert main(["relax", str(p), "--temperature", "-3"]) == 2
    assert "--temperature" in capsys.readouterr().err
    assert main(["relax", str(p), "--temperature", "300", "--thermal-ps", "0.1"]) == 2
    assert "--thermal-ps must be >= 0.35 ps" in capsys.readouterr().err
    assert main(["relax", str(p), "--temperature", "300", "--fixed-cell"]) == 2
    assert "--fixed-cell" in capsys.readouterr().err
    assert main(["relax", str(p), "--isotropic"]) == 2
    assert "give --temperature" in capsys.readouterr().err
    assert main([*args[:-2], "--isotropic"]) == 0
    text = capsys.readouterr().out
    assert "isotropic: a +" in text and "mean stress of the last NVT run" in text
