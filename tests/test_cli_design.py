"""The design/structure CLI: useful output, and one-line errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from halidelab.cli import main

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def test_design_reference_case_table(capsys):
    assert (
        main(["design", "Li2ZrCl6", "--dopant", "Nb", "--site", "Zr", "--x", "0,0.1,0.2,0.3,0.4"])
        == 0
    )
    out = capsys.readouterr().out
    assert "Li1.8Zr0.8Nb0.2Cl6" in out and "-11.1%" in out
    assert "P-3m1" in out and "metastable" in out
    assert "no warnings" in out


def test_design_json_is_machine_readable(capsys):
    assert (
        main(
            [
                "design",
                "Li3InCl6",
                "--dopant",
                "Zr",
                "--site",
                "In",
                "--x",
                "0.1..0.5:0.1",
                "--json",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    formulas = [e["composition"]["formula"] for e in data["entries"]]
    assert formulas[-1] == "Li2.5In0.5Zr0.5Cl6" and len(formulas) == 5


def test_design_high_entropy_and_anion(capsys):
    assert (
        main(["design", "Li3InCl6", "--dopants", "Y:0.16,Er:0.16,Yb:0.16,Zr:0.25", "--site", "In"])
        == 0
    )
    assert "Li2.75In0.27Y0.16Er0.16Yb0.16Zr0.25Cl6" in capsys.readouterr().out
    assert main(["design", "Li2ZrCl6", "--dopant", "O", "--site", "Cl", "--x", "0.5"]) == 0
    assert "Li2.5ZrCl5.5O0.5" in capsys.readouterr().out


def test_design_structure_change_warning(capsys):
    assert main(["design", "Li3YbCl6", "--dopant", "Zr", "--site", "Yb", "--x", "0..0.3:0.1"]) == 0
    assert "structure change" in capsys.readouterr().err  # warnings go to stderr


def test_structure_command_writes_models(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(
        [
            "structure",
            "Li2ZrCl6",
            "--dopant",
            "Nb",
            "--x",
            "0.2",
            "--supercell",
            "auto",
            "--configs",
            "2",
            "-o",
            str(out),
        ]
    )
    assert rc == 0
    assert (out / "Li1.8Zr0.8Nb0.2Cl6_c0.cif").is_file()
    man = json.loads((out / "manifest.json").read_text())
    assert man["models"]["Li1.8Zr0.8Nb0.2Cl6"]["x_modelled"] == {"Nb@Zr": 0.2}


def test_structure_from_users_framework_cif(tmp_path, capsys):
    cif = SHARED / "structures" / "Li3InCl6_C2_m_obelix-de5.cif"
    rc = main(
        [
            "structure",
            "Li3InCl6",
            "--dopant",
            "Zr",
            "--x",
            "0.5",
            "--framework",
            str(cif),
            "--configs",
            "1",
            "-o",
            str(tmp_path),
            "--json",
        ]
    )
    assert rc == 0
    man = json.loads(capsys.readouterr().out)
    (entry,) = man["models"].values()
    assert entry["framework"] == "Li3InCl6_C2_m_obelix-de5" and entry["species_counts"]["Zr"] > 0


BAD = [
    ["design", "Li2ZrCL6"],
    ["design", "li2zrcl6"],
    ["design", ""],
    ["design", "Li2Zr$Cl6"],
    ["design", "Li2Qq6"],
    ["design", "ZrCl4", "--dopant", "Nb", "--site", "Zr", "--x", "0.1"],
    ["design", "Li3ZrCl6"],
    ["design", "Li2ZrCl6", "--dopant", "Xx", "--site", "Zr", "--x", "0.2"],
    ["design", "Li2ZrCl6", "--dopant", "nb", "--site", "Zr", "--x", "0.2"],
    ["design", "Li2ZrCl6", "--dopant", "Nb", "--site", "Y", "--x", "0.2"],
    ["design", "Li2ZrCl6", "--dopant", "Nb", "--site", "Zr", "--x", "1.5"],
    ["design", "Li2ZrCl6", "--dopant", "Nb", "--site", "Zr", "--x", "-0.1"],
    ["design", "Li2ZrCl6", "--dopant", "Nb", "--site", "Zr", "--x", "abc"],
    ["design", "Li2ZrCl6", "--dopant", "Nb", "--site", "Zr", "--x", "0.5..0.1:0.1"],
    ["design", "Li2ZrCl6", "--dopant", "Nb", "--site", "Zr", "--x", "0..0.5:0"],
    ["design", "Li2ZrCl6", "--dopant", "Nb", "--site", "Zr", "--x", "nan"],
    ["design", "Li2ZrCl6", "--dopant", "Nb", "--site", "Zr", "--x", "inf"],
    ["design", "Li2ZrCl6", "--dopant", "Nb", "--site", "Zr"],
    ["design", "Li2ZrCl6", "--dopant", "Nb", "--x", "0.2"],
    ["design", "Li2ZrCl6", "--x", "0.2"],
    ["design", "Li2ZrCl6", "--dopant", "O", "--site", "Zr", "--x", "0.2"],
    ["design", "Li2ZrCl6", "--dopant", "Nb", "--site", "Cl", "--x", "0.2"],
    ["design", "Li2ZrCl6", "--dopant", "Nb0+", "--site", "Zr", "--x", "0.2"],
    ["design", "Li2ZrCl6", "--dopant", "Nb9+", "--site", "Zr", "--x", "0.2"],
    ["design", "Li2ZrCl6", "--dopants", "Y:abc", "--site", "Zr"],
    ["design", "Li2ZrCl6", "--dopants", "Y:0.6,Nb:0.6", "--site", "Zr"],
    ["design", "LiAlCl4", "--dopant", "Nb", "--site", "Al", "--x", "0.6"],
    ["design", "Li2ZrCl6", "--oxi", "Zr4"],
    ["design", "Li2ZrCl6", "--sub", "Nb@Zr"],
    ["design", "Li2ZrCl6", "--bogus"],
    ["design"],
    ["structure", "Li2ZrCl6", "--dopant", "Nb", "--x", "0.2", "--supercell", "1x1"],
    ["structure", "Li2ZrCl6", "--dopant", "Nb", "--x", "0.2", "--configs", "0"],
    ["structure", "Li2ZrCl6", "--dopant", "Nb", "--x", "0.2", "--polymorph", "Pnma"],
    ["structure", "Li2ZrCl6", "--dopant", "Nb", "--x", "0.2", "--formats", "pdb"],
    ["structure", "Li3InCl6", "--dopant", "Mg", "--site", "In", "--x", "1.0"],
    ["nonexistent-command"],
    ["structure", "Li2ZrCl6", "--framework", "corrupt.cif"],
    ["structure", "Li2ZrCl6", "--framework", "empty.cif"],
    ["structure", "Li2ZrCl6", "--framework", "missing.cif"],
    ["structure", "Li2ZrCl6", "--framework", "nitride.cif"],
]


@pytest.mark.parametrize("argv", BAD, ids=[" ".join(a) or "empty" for a in BAD])
def test_bad_input_gives_one_line_and_exit_2(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corrupt.cif").write_text(
        "data_x\n_cell_length_a 5\nloop_\n_atom_site_label\n1 2 3\n"
    )
    (tmp_path / "empty.cif").write_text("")
    (tmp_path / "nitride.cif").write_bytes(
        (SHARED / "structures" / "Li6Br3N_Fm-3m_obelix-kkn.cif").read_bytes()
    )
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err


def test_at_least_30_malformed_inputs():
    assert len(BAD) >= 30


def test_structure_ball_milled_state(tmp_path, capsys):
    from halidelab.cli import main

    assert (
        main(
            [
                "structure",
                "Li2ZrCl6",
                "--dopant",
                "Nb",
                "--x",
                "0.2",
                "--state",
                "ball-milled",
                "--configs",
                "2",
                "--no-xrd",
                "--formats",
                "cif",
                "-o",
                str(tmp_path),
                "--json",
            ]
        )
        == 0
    )
    import json

    man = json.loads(capsys.readouterr().out)["models"]["Li1.8Zr0.8Nb0.2Cl6"]
    assert man["state"] == "ball-milled" and len(man["configurations"]) == 2
    assert main(["structure", "Li2ZrCl6", "--state", "slow-cooled", "-o", str(tmp_path / "s")]) == 2
    assert "synthesis state" in capsys.readouterr().err
    # quenched: samples of the framework's own sites; the note gives the occupancies of
    # the file's split orbits
    args = ["structure", "Li2ZrCl6", "--state", "quenched", "--configs", "2", "--no-xrd"]
    assert main([*args, "--formats", "cif", "-o", str(tmp_path / "q"), "--json"]) == 0
    man = json.loads(capsys.readouterr().out)["models"]["Li2ZrCl6"]
    assert man["state"] == "quenched" and len(man["configurations"]) == 2
    (note,) = [w for w in man["warnings"] if w.startswith("quenched:")]
    assert "800 K" in note and "Y2" in note and "Y3" in note
