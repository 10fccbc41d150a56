"""``halidelab screen`` and ``halidelab results`` through the CLI entry point."""

from __future__ import annotations

import csv
import json
import sys

from halidelab.cli import main


def test_screen_then_results(tmp_path, capsys):
    db = tmp_path / "r.sqlite"
    code = main(
        [
            "screen",
            "Li2ZrCl6",
            "--site",
            "Zr",
            "--dopants",
            "Nb,Mg,Y",
            "--x",
            "0.1..0.3:0.1",
            "--tiers",
            "rules,prior",
            "--db",
            str(db),
            "--report",
            str(tmp_path / "rep"),
            "--max-mismatch",
            "15",
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = json.loads(captured.out)
    # asked to prune above 15 %: Y3+ (25 % larger than Zr4+) goes at every content
    assert sorted(p["label"] for p in out["pruned"]) == [
        f"Li2ZrCl6 Y@Zr x={x:.3f}" for x in (0.1, 0.2, 0.3)
    ]
    assert len(out["ranked"]) == 6 and {r["dopant"] for r in out["ranked"]} == {"Nb", "Mg"}
    assert all(r["basis"] == "prior" for r in out["ranked"])
    scores = [r["score_eV"] for r in out["ranked"]]
    assert scores == sorted(scores)
    assert (tmp_path / "rep" / "screen.html").is_file()
    assert "cost before the rules" in captured.err  # the estimate goes to stderr with --json
    # the same screen again: nothing left to run, and its estimate says so and takes the
    # rules' cost from the store (10 rules tasks measured)
    args = ["screen", "Li2ZrCl6", "--site", "Zr", "--dopants", "Nb,Mg,Y"]
    args += ["--x", "0.1..0.3:0.1", "--tiers", "rules,prior", "--db", str(db)]
    assert main([*args, "--max-mismatch", "15", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)["estimate"]
    rows = {r["tier"]: r for r in again["rows"]}
    assert (rows["prior"]["tasks"], rows["prior"]["done"]) == (0, 7)
    assert rows["rules"]["source"].startswith("measured in this store: 10 rules tasks")
    # results: same ranking from the store alone, as table, JSON and CSV
    assert main(["results", str(db), "--top", "3", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert [r["label"] for r in res["ranked"]] == [r["label"] for r in out["ranked"][:3]]
    assert res["n_ranked"] == 6 and res["n_candidates"] == 9
    assert main(["results", str(db), "--csv", str(tmp_path / "rank.csv")]) == 0
    table = capsys.readouterr().out
    assert "top 6 of 6 ranked (3 pruned)" in " ".join(table.split())
    rows = list(csv.DictReader((tmp_path / "rank.csv").open()))
    assert [r["rank"] for r in rows] == ["1", "2", "3", "4", "5", "6"]
    assert {"score_eV", "mismatch_penalty_eV", "structure_penalty_eV", "tied_with"} <= set(rows[0])
    # results --report with the user's own literature rows: placed among the known halides
    (tmp_path / "mine.csv").write_text(
        "composition,sigma_S_cm,temperature_C,ea_eV\nLi2.2Zr0.8In0.2Cl6,7.7e-4,25,0.34\n"
    )
    assert (
        main(
            [
                "results",
                str(db),
                "--report",
                str(tmp_path / "rep2"),
                "--literature",
                str(tmp_path / "mine.csv"),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert "Li2.2Zr0.8In0.2Cl6" in (tmp_path / "rep2" / "screen.html").read_text()
    assert (
        main(
            [
                "results",
                str(db),
                "--report",
                str(tmp_path / "rep3"),
                "--literature",
                str(tmp_path / "none.csv"),
            ]
        )
        == 2
    )
    assert "literature table not found" in capsys.readouterr().err
    # a rerun computes nothing
    assert (
        main(
            [
                "screen",
                "Li2ZrCl6",
                "--site",
                "Zr",
                "--dopants",
                "Nb,Mg,Y",
                "--x",
                "0.1..0.3:0.1",
                "--tiers",
                "rules,prior",
                "--max-mismatch",
                "15",
                "--db",
                str(db),
            ]
        )
        == 0
    )
    assert "0 tasks computed" in capsys.readouterr().out


def test_long_screen_needs_yes_when_not_interactive(tmp_path, capsys):
    # 20 candidates x relax (~1.5 min each) is far above the confirmation threshold
    code = main(
        [
            "screen",
            "Li2ZrCl6",
            "--site",
            "Zr",
            "--dopants",
            "Nb,Ta",
            "--x",
            "0.05..0.5:0.05",
            "--tiers",
            "rules,relax",
            "--db",
            str(tmp_path / "r.sqlite"),
        ]
    )
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "rerun with --yes" in errors[0]
    # the cheap rules tier ran; nothing expensive was started
    from halidelab.screening.store import Store

    kinds = {r["kind"] for r in Store(tmp_path / "r.sqlite").rows()}
    assert kinds == {"rules"}


def test_bad_input_is_one_line(tmp_path, capsys, monkeypatch):
    db = str(tmp_path / "r.sqlite")
    cases = [
        (
            [
                "screen",
                "Li2ZrCl6",
                "--site",
                "Zr",
                "--dopants",
                "Nb",
                "--tiers",
                "rules,md",
                "--db",
                db,
            ],
            "unknown tier",
        ),
        (["screen", "Li2ZrCl6", "--site", "Q", "--dopants", "Nb", "--db", db], "Q"),
        (
            [
                "screen",
                "Li2ZrCl6",
                "--site",
                "Zr",
                "--dopants",
                "Nb",
                "--x",
                "0.5..0.1:0.1",
                "--db",
                db,
            ],
            "backwards",
        ),
        (
            [
                "screen",
                "Li2ZrCl6",
                "--site",
                "Zr",
                "--dopants",
                "Nb",
                "--workers",
                "2",
                "--scheduler",
                "tcp://127.0.0.1:1",
                "--db",
                db,
            ],
            "one of --scheduler",
        ),
        (
            ["screen", "Li2ZrCl6", "--site", "Zr", "--dopants", "Nb", "--state", "slow"],
            "--state must be one of annealed, quenched",
        ),
        (["results", str(tmp_path / "none.sqlite")], "not found"),
    ]
    for argv, match in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert match in err and err.count("\n") == 1, err
    monkeypatch.setitem(sys.modules, "dask_jobqueue", None)
    assert (
        main(
            [
                "screen",
                "Li2ZrCl6",
                "--site",
                "Zr",
                "--dopants",
                "Nb",
                "--x",
                "0.2",
                "--cluster",
                "slurm",
                "--jobs",
                "2",
                "--db",
                db,
            ]
        )
        == 2
    )
    assert "pip install 'halidelab[cluster]'" in capsys.readouterr().err
