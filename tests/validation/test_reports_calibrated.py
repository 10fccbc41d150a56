"""``screen --calibration`` and ``reproduce chen2025 --calibration``: raw and calibrated
values in the printed table, the JSON and both HTML reports, from the maths.

The stores are those of ``test_compare_calibrated`` (rules and ordered models, with
synthetic relax and BVSE rows whose barriers we choose) and a small ``reproduce chen2025``
run (rules and models of x = 0 and 0.2 in both synthesis states, seconds) given the same
synthetic rows. Calibrations are fitted on synthetic data with a known map
(measured = 2 raw - 1 + noise); every expected number is computed here by hand: the
least-squares line by numpy (without Li2ZrCl6 for Li2ZrCl6 itself, a calibration
material), the Student-t interval from the leave-one-out residuals and the spread over
the orderings. The HTML is parsed (``data-kind="calibrated"`` block, its rows' ``data-``
attributes and the cells' full-precision ``data-value``), not searched for text.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from html.parser import HTMLParser

import numpy as np
import pytest
from test_compare_calibrated import (  # the synthetic stores and calibrations of compare's tests
    BVSE,
    DOPED,
    NEAR,
    PARENT,
    _relaxed,
    half_width,
    line,
    make_store,
    synthetic_calibration,
)

from halidelab.cli import main
from halidelab.screening.store import Store
from halidelab.validation.calibration import (
    COVERAGE_KEYS,
    interval_coverage,
    save_calibration,
)

# -- parsing the reports ---------------------------------------------------------------


class _Calibrated(HTMLParser):
    """Rows of every ``data-kind="calibrated"`` block: the row's data- attributes and, per
    cell, (text, data-value); the blocks' own data-status lines; the ranking table."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict] = []
        self.statuses: list[str] = []
        self.tables: list[list[list[str]]] = []
        self._depth = 0  # inside a calibrated block
        self._row: dict | None = None
        self._cell: tuple[str, str | None] | None = None
        self._text = ""
        self._table: list[list[str]] | None = None
        self._plain_row: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("data-kind") == "calibrated" and tag != "div":
            self.statuses.append(a.get("data-status", ""))  # the one line without calibrations
        if tag == "div" and (self._depth or a.get("data-kind") == "calibrated"):
            self._depth += 1
        elif self._depth and "data-status" in a:
            self.statuses.append(a["data-status"])
        if tag == "table" and not self._depth:
            self._table = []
            self.tables.append(self._table)
        if tag == "tr":
            if self._depth and "data-tier" in a:
                self._row = {k[5:]: v for k, v in a.items() if k.startswith("data-")}
                self._row["cells"] = {}
            elif self._table is not None:
                self._plain_row = []
        if tag in ("td", "th"):
            self._cell = (a.get("data-col", ""), a.get("data-value"))
            self._text = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            if self._row is not None and tag == "td":
                self._row["cells"][self._cell[0]] = (self._text.strip(), self._cell[1])
            elif self._plain_row is not None:
                self._plain_row.append(self._text.strip())
            self._cell = None
        if tag == "tr":
            if self._row is not None:
                self.rows.append(self._row)
            if self._plain_row is not None and self._table is not None:
                self._table.append(self._plain_row)
            self._row = self._plain_row = None
        if tag == "table":
            self._table = None
        if tag == "div" and self._depth:
            self._depth -= 1

    def handle_data(self, data):
        if self._cell is not None:
            self._text += data


def parse(path) -> _Calibrated:
    p = _Calibrated()
    p.feed(path.read_text())
    return p


def section_of(path, heading: str) -> str:
    return path.read_text().split(f">{heading}</h2>")[1].split("<h2")[0]


def value(row: dict, col: str) -> float:
    text, v = row["cells"][col]
    assert v is not None, (col, text)
    return float(v)


# -- screen ----------------------------------------------------------------------------


def _screen(db, *extra) -> list[str]:
    return [
        "screen",
        PARENT,
        "--site",
        "Zr",
        "--dopants",
        "Nb",
        "--x",
        "0.2",
        "--tiers",
        "rules,models",
        "--configs",
        "3",
        "--max-atoms",
        "60",
        "--db",
        str(db),
        "--yes",
        *extra,
    ]


def test_screen_table_json_and_report_carry_the_calibrated_values(
    base_store, tmp_path, sha, capsys
):
    """The doped candidate (no reference material): a + b * its ensemble mean over the three
    orderings, with the interval t * sqrt(s_LOO^2 + (b sd)^2), in the JSON, the printed table
    and the report's ranking and calibrated section."""
    db = tmp_path / "s.sqlite"
    make_store(base_store, db, bvse=BVSE)
    cal, x, y = synthetic_calibration("bvse", "chgnet", "ea_eV", NEAR, sha, (0.55, 0.75))
    path = str(
        save_calibration(
            dataclasses.replace(cal, settings={"bvse_resolution_A": 0.25}), tmp_path / "bvse.json"
        )
    )
    a, b = line(x, y)
    raw = float(np.mean(BVSE[DOPED]))
    want, hw = a + b * raw, half_width(x, y, b, float(np.std(BVSE[DOPED], ddof=1)))

    assert (
        main(_screen(db, "--calibration", path, "--json", "--report", str(tmp_path / "rep"))) == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["computed"] == 0  # everything was in the store: nothing recomputed
    (row,) = out["ranked"]
    (e,) = row["calibrated"]
    assert row["formula"] == DOPED and e["applied"] and e["n_orderings"] == 3
    assert e["raw"] == pytest.approx(raw) and e["calibrated"] == pytest.approx(want, abs=1e-9)
    assert e["high"] - e["low"] == pytest.approx(2 * hw, rel=1e-9) and not e["out_of_domain"]

    # the report: the calibrated section, numbers at full precision
    report = tmp_path / "rep" / "screen.html"
    p = parse(report)
    (r,) = p.rows
    assert (r["candidate"], r["tier"], r["model"], r["target"], r["status"]) == (
        row["label"],
        "bvse",
        "chgnet",
        "ea_eV",
        "applied",
    )
    assert value(r, "raw") == pytest.approx(raw, abs=1e-12)
    assert value(r, "calibrated") == pytest.approx(want, abs=1e-9)
    assert value(r, "low") == pytest.approx(want - hw, abs=1e-9)
    assert value(r, "high") == pytest.approx(want + hw, abs=1e-9)
    assert value(r, "n") == 3 and value(r, "level") == pytest.approx(0.9)
    assert r["cells"]["domain"][1] == "in" and r["cells"]["map"][0] == "linear, all materials"
    assert r["cells"]["nearest"][0] == f"{PARENT} ({e['distance']:.3f})"
    # ... and the ranking: the calibrated column right after the raw BVSE 3D column
    (ranking,) = [t for t in p.tables if t and "formula" in t[0] and "BVSE 3D" in t[0]]
    head, cells = ranking[0], ranking[1]
    i = head.index("BVSE 3D")
    assert head[i + 1] == "BVSE 3D barrier raw, mean of orderings (eV)"
    assert head[i + 2] == "calibrated (bvse, chgnet, 90%) (eV)"
    assert cells[i] == f"{BVSE[DOPED][2]:.3f}"  # the ranking's own: the lowest-energy ordering
    assert cells[i + 1] == f"{raw:.3f} (N=3)"
    assert cells[i + 2] == f"{want:.3f} [{want - hw:.3f}, {want + hw:.3f}]"

    # the printed table and the line under it
    assert main(_screen(db, "--calibration", path)) == 0
    cap = capsys.readouterr()
    assert f"{want:.3f} [{want - hw:.3f}, {want + hw:.3f}]" in cap.out
    assert f"bvse ea_eV (chgnet): raw {raw:.3f} (spread" in cap.out and "-> calibrated" in cap.out
    # 'results --report' writes the same section from the same store
    assert (
        main(["results", str(db), "--calibration", path, "--report", str(tmp_path / "rep2")]) == 0
    )
    capsys.readouterr()
    (r2,) = parse(tmp_path / "rep2" / "screen.html").rows
    assert (
        r2["cells"]["calibrated"] == r["cells"]["calibrated"]
        and r2["cells"]["low"] == r["cells"]["low"]
    )


def test_a_calibration_carries_how_its_intervals_fared_held_out(base_store, tmp_path, sha, capsys):
    """validate stores each calibration's held-out coverage in its file; screen's JSON and
    report state it beside the map, and a file without it says it is not recorded."""
    db = tmp_path / "s.sqlite"
    make_store(base_store, db, bvse=BVSE)
    cal, x, y = synthetic_calibration("bvse", "chgnet", "ea_eV", NEAR, sha, (0.55, 0.75))
    cov = interval_coverage(x, y, list(cal.materials), list(cal.materials.values()))
    kept = {k: v for k, v in cov.items() if k in COVERAGE_KEYS}
    kept |= {"built_n": 4, "built_inside": 3}  # as validate adds them
    cal = dataclasses.replace(cal, settings={"bvse_resolution_A": 0.25})
    paths = {
        "with": str(save_calibration(dataclasses.replace(cal, coverage=kept), tmp_path / "c.json")),
        "without": str(save_calibration(cal, tmp_path / "n.json")),
    }
    for which, path in paths.items():
        rep = tmp_path / f"rep-{which}"
        assert main(_screen(db, "--calibration", path, "--json", "--report", str(rep))) == 0
        (row,) = json.loads(capsys.readouterr().out)["ranked"]
        (e,) = row["calibrated"]
        html = (rep / "screen.html").read_text()
        assert main(_screen(db, "--calibration", path)) == 0
        printed = capsys.readouterr().out
        if which == "with":
            assert (
                f"held out, {kept['inside']} of {kept['n']} reference materials in their "
                "intervals (3 of 4 built models)"
            ) in printed
            assert e["calibration"]["coverage"] == pytest.approx(kept)
            assert (
                f"its 90 % intervals held {kept['inside']} of {kept['n']} reference materials"
                in html
            )
            assert "3 of the 4 built on another&#x27;s template" in html  # escaped
        else:
            assert e["calibration"]["coverage"] is None
            assert "how its intervals fare held out is not recorded" in html


def test_screen_shows_the_note_for_another_model_or_other_settings(
    base_store, tmp_path, sha, capsys
):
    """A sevennet-0 calibration on chgnet-relaxed orderings, and one fitted on a 0.1 A BVSE
    grid on barriers of a 0.25 A grid: no number, the note why, in the JSON, the table, the
    stderr notes and the report (which also says that no calibration applies)."""
    db = tmp_path / "s.sqlite"
    make_store(base_store, db, bvse=BVSE)
    sev, _, _ = synthetic_calibration("bvse", "sevennet-0", "ea_eV", NEAR, sha, (0.55, 0.75))
    grid, _, _ = synthetic_calibration("bvse", "chgnet", "ea_eV", NEAR, sha, (0.55, 0.75), seed=2)
    paths = [
        str(save_calibration(sev, tmp_path / "sev.json")),
        str(
            save_calibration(
                dataclasses.replace(grid, settings={"bvse_resolution_A": 0.1}),
                tmp_path / "grid.json",
            )
        ),
    ]
    args = [a for p in paths for a in ("--calibration", p)]
    assert main(_screen(db, *args, "--json", "--report", str(tmp_path / "rep"))) == 0
    (row,) = json.loads(capsys.readouterr().out)["ranked"]
    es = {e["model"]: e for e in row["calibrated"]}
    assert (
        es["sevennet-0"]["status"] == "model mismatch"
        and es["chgnet"]["status"] == "settings mismatch"
    )
    for e in es.values():
        assert not e["applied"] and "calibrated" not in e
    p = parse(tmp_path / "rep" / "screen.html")
    by_model = {r["model"]: r for r in p.rows}
    assert by_model["sevennet-0"]["status"] == "model mismatch"
    assert by_model["chgnet"]["status"] == "settings mismatch"
    for r in p.rows:
        assert all(v is None for _, v in r["cells"].values())  # no number anywhere in the row
    note7 = by_model["sevennet-0"]["cells"]["note"][0]
    assert "sevennet-0" in note7 and "come from chgnet" in note7
    assert '"bvse_resolution_A": 0.25' in by_model["chgnet"]["cells"]["note"][0]
    assert "none applied" in p.statuses
    (ranking,) = [t for t in p.tables if t and "formula" in t[0] and "BVSE 3D" in t[0]]
    assert ranking[1].count("not applied (see note)") == 2

    assert main(_screen(db, *args)) == 0
    cap = capsys.readouterr()
    assert cap.out.count("not applied (see note)") == 2
    notes = [ln for ln in cap.err.splitlines() if ln.startswith("note:")]
    assert (
        len(notes) == 2 and any("sevennet-0" in n for n in notes) and any("0.1" in n for n in notes)
    )


def test_screen_refuses_bad_calibration_files_before_any_work(base_store, tmp_path, sha, capsys):
    cal, _, _ = synthetic_calibration("bvse", "chgnet", "ea_eV", NEAR, sha, (0.55, 0.75))
    text = save_calibration(cal, tmp_path / "good.json").read_text()
    truncated = tmp_path / "truncated.json"
    truncated.write_text(text[: len(text) // 2])
    db = tmp_path / "new.sqlite"
    for path, words in ((tmp_path / "missing.json", "not found"), (truncated, "corrupted")):
        assert main(_screen(db, "--calibration", str(path))) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:") and words in err[0], err
    assert not db.exists()  # refused before the store was opened


def test_screen_report_without_calibration_says_so(base_store, tmp_path, capsys):
    db = tmp_path / "s.sqlite"
    shutil.copy(base_store, db)
    assert main(_screen(db, "--report", str(tmp_path / "rep"), "--json")) == 0
    p = parse(tmp_path / "rep" / "screen.html")
    assert p.rows == [] and p.statuses == ["none given"]
    assert "calibrated" not in json.loads(capsys.readouterr().out)["ranked"][0]


# -- reproduce chen2025 ----------------------------------------------------------------

#: 3D BVSE barrier of each ordering, by (x, state)
CHEN_BVSE = {
    (0.0, "ball-milled"): [0.50, 0.54, 0.58],
    (0.0, "annealed"): [0.62, 0.66, 0.70],
    (0.2, "ball-milled"): [0.45, 0.47, 0.52],
    (0.2, "annealed"): [0.58, 0.61, 0.67],
}
CHEN_ARGS = [
    "--tiers",
    "rules,models",
    "--x",
    "0,0.2",
    "--model-x",
    "0,0.2",
    "--configs",
    "3",
    "--max-atoms",
    "60",
]


@pytest.fixture(scope="module")
def chen_run(tmp_path_factory):
    """A ``reproduce chen2025`` run of rules and models (no MLIP), then synthetic chgnet
    relaxations and BVSE barriers (:data:`CHEN_BVSE`) of every ordering in its store."""
    out = tmp_path_factory.mktemp("chen") / "run"
    assert main(["reproduce", "chen2025", "-o", str(out), *CHEN_ARGS, "--json"]) == 0
    store = Store(out / "results.sqlite")
    n = 0
    for row in list(store.rows(kind="models", status="done")):
        x = sum(s["x"] for s in row["inputs"]["substitutions"])
        state = row["inputs"]["state"]
        for i, cf in enumerate(row["result"]["configurations"]):
            rel = _relaxed(cf["structure"], i)
            e = CHEN_BVSE[(round(x, 6), state)][i]
            for kind, inputs, result in (
                (
                    "relax",
                    {"structure": cf["structure"], "model": "chgnet"},
                    {
                        "structure": rel,
                        "energy_per_atom_eV": -4.0 - 0.001 * i,
                        "converged": True,
                        "provenance": {"method": "relax", "model": "chgnet"},
                    },
                ),
                (
                    "bvse",
                    {"structure": rel, "resolution_A": 0.25},
                    {
                        "e_1d_eV": e - 0.1,
                        "e_2d_eV": e,
                        "e_3d_eV": e,
                        "e_max_eV": 5.0,
                        "resolution_A": 0.25,
                        "formula": "synthetic",
                    },
                ),
            ):
                n += 1
                store.add(f"synthetic-{n}", kind, f"synthetic {n}", inputs, "test")
                store.finish(f"synthetic-{n}", result, 0.0)
    return out


def test_chen_report_shows_calibrated_values_per_composition_and_state(
    chen_run, tmp_path, sha, capsys
):
    """Every (x, state): a + b * the mean of its three orderings; Li2ZrCl6 (calibration
    material m0) with the line fitted without it (its interval: the calibration's LOO scatter
    and that line's slope); Chen's measured Ea beside LZNC ball-milled."""
    out = tmp_path / "run"
    shutil.copytree(chen_run, out)
    cal, x, y = synthetic_calibration("bvse", "chgnet", "ea_eV", NEAR, sha, (0.55, 0.75))
    path = str(save_calibration(cal, tmp_path / "bvse.json"))
    assert (
        main(["reproduce", "chen2025", "-o", str(out), *CHEN_ARGS, "--calibration", path, "--json"])
        == 0
    )
    res = json.loads(capsys.readouterr().out)
    lines = {(r["x"], r["state"]): r for r in res["calibrated"]}
    assert set(lines) == set(CHEN_BVSE)
    p = parse(out / "report.html")
    rows = {r["candidate"]: r for r in p.rows}
    assert len(rows) == 4 and all(r["status"] == "applied" for r in rows.values())
    for (xx, state), bars in CHEN_BVSE.items():
        a, b = line(x[1:], y[1:]) if xx == 0.0 else line(x, y)  # NEAR[0] is Li2ZrCl6
        want = a + b * np.mean(bars)
        hw = half_width(
            x, y, b, float(np.std(bars, ddof=1))
        )  # the calibration's LOO scatter, this b
        (e,) = lines[(xx, state)]["entries"]
        assert e["calibrated"] == pytest.approx(want, abs=1e-9)
        r = rows[f"{xx:g} {state}"]
        assert value(r, "raw") == pytest.approx(np.mean(bars), abs=1e-12)
        assert value(r, "calibrated") == pytest.approx(want, abs=1e-9)
        assert value(r, "high") - value(r, "low") == pytest.approx(2 * hw, rel=1e-6)
        assert r["cells"]["map"][0] == (
            "linear, leave-one-out (without Li2ZrCl6)" if xx == 0.0 else "linear, all materials"
        )
        assert r["cells"]["domain"][1] == "in"
        assert r["cells"]["measured"][0] == (
            "0.327" if (xx, state) == (0.2, "ball-milled") else "–"
        )
    assert "none applied" not in p.statuses
    # the calibrated section sits in the report under its own heading
    assert "data-kind" in section_of(out / "report.html", "Calibrated against the reference set")


def test_chen_report_says_why_no_calibration_applies(chen_run, tmp_path, sha, capsys):
    """A sevennet-0 calibration (the store's relaxations are chgnet's) and a KMC one (no KMC
    ran): no numbers, the note for every composition and state, and a line that none applies."""
    out = tmp_path / "run"
    shutil.copytree(chen_run, out)
    sev, _, _ = synthetic_calibration("bvse", "sevennet-0", "ea_eV", NEAR, sha, (0.55, 0.75))
    kmc, _, _ = synthetic_calibration("kmc", "chgnet", "log10_sigma_S_cm", NEAR, sha, (-5.0, -2.0))
    args = [
        "--calibration",
        str(save_calibration(sev, tmp_path / "sev.json")),
        "--calibration",
        str(save_calibration(kmc, tmp_path / "kmc.json")),
    ]
    assert main(["reproduce", "chen2025", "-o", str(out), *CHEN_ARGS, *args]) == 0
    cap = capsys.readouterr()
    notes = [ln for ln in cap.err.splitlines() if ln.startswith("note:")]
    assert len(notes) == 4 and all("sevennet-0" in n and "chgnet" in n for n in notes)
    p = parse(out / "report.html")
    assert len(p.rows) == 8 and "none applied" in p.statuses
    for r in p.rows:
        assert all(v is None for _, v in r["cells"].values())
        note = r["cells"]["note"][0]
        if r["tier"] == "bvse":
            assert r["status"] == "model mismatch" and "sevennet-0" in note and "chgnet" in note
        else:
            assert r["status"] == "no value" and "run the kmc tier" in note


def test_chen_bad_calibration_exits_2_before_any_work(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    out = tmp_path / "run"
    assert (
        main(["reproduce", "chen2025", "-o", str(out), *CHEN_ARGS, "--calibration", str(bad)]) == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "bad.json" in err[0]
    assert not out.exists()


def test_chen_report_without_calibration_says_so(chen_run):
    p = parse(chen_run / "report.html")
    assert p.rows == [] and p.statuses == ["none given"]
