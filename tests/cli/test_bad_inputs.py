"""Bad input through the whole CLI: exit 2, one ``error:`` line, and no file damaged.

One test per defect class of issue 17 (data loss, foreign databases, output paths,
store errors, structure sanity, size guards, JSON, messages). Every test runs the real
command in-process (``halidelab.cli.main``), hashes the files that must not change
before and after, and reads stdout/stderr as a user would see them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure

from halidelab.cli import main

# ----------------------------------------------------------------------------- helpers


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _run_process(argv: list, tmp_path: Path) -> tuple[int, str, str]:
    """The command in a fresh Python process, as a user runs it: pytest's own capture of
    Python warnings does not hide what would be printed."""
    code = "import sys; from halidelab.cli import main; sys.exit(main(sys.argv[1:]))"
    res = subprocess.run(
        [sys.executable, "-c", code, *[str(a) for a in argv]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env=os.environ.copy(),
    )
    return res.returncode, res.stdout, res.stderr


def _refused(code: int, err: str, *needles: str) -> str:
    """Exit 2 with exactly one ``error:`` line containing every needle; return it."""
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert code == 2, f"exit {code}, stderr: {err}"
    assert len(lines) == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    for n in needles:
        assert n.lower() in lines[0].lower(), lines[0]
    return lines[0]


def _digest(paths: list[Path]) -> dict[str, str | None]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None for p in paths
    }


DISORDERED = Path(__file__).parents[1] / "data" / "structures" / "Li3YCl6_P-3m1_obelix-ei3.cif"


def _rocksalt(a: float) -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(a), ["Li", "Cl"], [[0, 0, 0], [0.5] * 3]
    )


def _licl(path: Path, a: float = 5.3) -> Path:
    s = _rocksalt(a)
    s.to(filename=str(path))
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A real results store with ranked candidates (rules and prior tiers)."""
    db = tmp_path_factory.mktemp("store") / "results.sqlite"
    code = main(
        [
            "screen",
            "Li2ZrCl6",
            "--site",
            "Zr",
            "--dopants",
            "Nb,Mg",
            "--x",
            "0.1,0.2",
            "--tiers",
            "rules,prior",
            "--db",
            str(db),
        ]
    )
    assert code == 0
    return db


@pytest.fixture()
def my_store(store, tmp_path) -> Path:
    """A private copy of :func:`store` (tests may try to damage it)."""
    db = tmp_path / "results.sqlite"
    shutil.copy(store, db)
    return db


def _foreign_db(path: Path, table: str = "customers", cols: str = "id INTEGER, name TEXT") -> Path:
    con = sqlite3.connect(path)
    con.execute(f"CREATE TABLE {table} ({cols})")
    con.execute(f"INSERT INTO {table} VALUES (1, 'Ada')")
    con.commit()
    con.close()
    return path


# ---------------------------------------------------------------- data loss and damage


def test_outputs_never_replace_an_input(my_store, tmp_path, capsys):
    """results --csv over its store, relax --out over its input, xrd -o over the model."""
    cif = _licl(tmp_path / "a.cif")
    fw = tmp_path / "fw.cif"
    shutil.copy(DISORDERED, fw)
    out = tmp_path / "models"
    out.mkdir()
    trap = out / "Li3YCl6_c0.cif"  # the name `structure` would give its first model
    shutil.copy(fw, trap)
    protected = [my_store, cif, fw, trap]
    before = _digest(protected)
    cases = [
        (["results", my_store, "--csv", my_store], "input file"),
        (["relax", cif, "--out", cif, "--steps", "2"], "input file"),
        (["xrd", "simulate", cif, "-o", cif], "input file"),
        (["xrd", "simulate", cif, "--peaks", cif], "input file"),
        (
            [
                "structure",
                "Li3YCl6",
                "--framework",
                trap,
                "--configs",
                "1",
                "--no-xrd",
                "--formats",
                "cif",
                "-o",
                out,
            ],
            "input file",
        ),
    ]
    for argv, needle in cases:
        code, _, err = _run(argv, capsys)
        _refused(code, err, needle)
    assert _digest(protected) == before


def test_no_csv_or_json_over_a_database(my_store, tmp_path, capsys):
    other = _foreign_db(tmp_path / "other.sqlite")
    before = _digest([my_store, other])
    code, _, err = _run(["results", my_store, "--csv", other], capsys)
    _refused(code, err, "SQLite database")
    assert _digest([my_store, other]) == before


def test_foreign_databases_are_not_touched(my_store, tmp_path, capsys):
    """screen/results/compare on another program's database: refused, byte for byte unchanged."""
    customers = _foreign_db(tmp_path / "shop.sqlite")
    own_tasks = _foreign_db(tmp_path / "todo.sqlite", "tasks", "id INTEGER, title TEXT")
    files = [customers, own_tasks]
    before = _digest(files)
    for db in files:
        for argv in (
            ["results", db],
            ["compare", "Li2ZrCl6", "--db", db],
            [
                "screen",
                "Li2ZrCl6",
                "--site",
                "Zr",
                "--dopants",
                "Nb",
                "--x",
                "0.1",
                "--tiers",
                "rules",
                "--db",
                db,
            ],
        ):
            code, _, err = _run(argv, capsys)
            _refused(code, err, "not a halidelab results store")
    assert _digest(files) == before
    assert not any(Path(f"{f}-wal").exists() for f in files)


def test_read_commands_open_the_store_read_only(my_store, tmp_path, capsys):
    """A 0-byte file stays 0 bytes; a store written before the marker is still read."""
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    code, _, err = _run(["results", empty], capsys)
    _refused(code, err, "empty")
    assert empty.stat().st_size == 0
    # results reads a store without changing it (no WAL switch, no tables, no marker)
    before = _digest([my_store])
    code, out, err = _run(["results", my_store, "--top", "2", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["n_ranked"] == 4
    assert _digest([my_store]) == before
    # an old store (halidelab's tasks table, no marker): read as it is, adopted on a write
    old = tmp_path / "old.sqlite"
    shutil.copy(my_store, old)
    con = sqlite3.connect(old)
    con.execute("DROP TABLE halidelab_meta")
    con.commit()
    con.close()
    before = _digest([old])
    assert _run(["results", old, "--top", "1"], capsys)[0] == 0
    assert _digest([old]) == before
    code, _, err = _run(
        [
            "screen",
            "Li2ZrCl6",
            "--site",
            "Zr",
            "--dopants",
            "Nb",
            "--x",
            "0.1",
            "--tiers",
            "rules",
            "--db",
            old,
        ],
        capsys,
    )
    assert code == 0, err
    con = sqlite3.connect(old)
    meta = dict(con.execute("SELECT key, value FROM halidelab_meta"))
    assert meta["schema"] == "halidelab-results"
    con.close()


def test_output_paths_create_nothing_above_what_was_asked(tmp_path, capsys):
    cif = _licl(tmp_path / "licl.cif")
    missing = tmp_path / "nonexistent_dir"
    code, _, err = _run(
        ["bvse", cif, "--resolution", "0.5", "--cube", missing / "map.cube"], capsys
    )
    _refused(code, err, "does not exist")
    code, _, err = _run(
        ["structure", "Li2ZrCl6", "--configs", "1", "--no-xrd", "-o", missing / "models"], capsys
    )
    _refused(code, err, "does not exist")
    assert not missing.exists()
    # an output folder that is an existing file
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me\n")
    before = _digest([a_file])
    code, _, err = _run(
        ["structure", "Li2ZrCl6", "--configs", "1", "--no-xrd", "-o", a_file], capsys
    )
    _refused(code, err, "not a folder")
    assert _digest([a_file]) == before
    # the folder asked for is created (only it)
    code, _, err = _run(
        [
            "structure",
            "Li2ZrCl6",
            "--configs",
            "1",
            "--no-xrd",
            "--formats",
            "cif",
            "-o",
            tmp_path / "models",
        ],
        capsys,
    )
    assert code == 0, err
    assert (tmp_path / "models" / "manifest.json").is_file()


def test_figure_suffix_checked_before_the_work(shared_data, tmp_path, capsys):
    spectrum = tmp_path / "pellet_25C.z"
    shutil.copy(shared_data / "eis" / "exampleDataZPlot.z", spectrum)
    code, _, err = _run(["eis", "fit", spectrum, "--plot", tmp_path / "nyquist.docx"], capsys)
    _refused(code, err, ".docx")
    assert not (tmp_path / "nyquist.docx").exists()


# ------------------------------------------------------------------------ store errors


def _lock_readonly(path: Path) -> bool:
    """Make ``path`` read-only even for root (chattr +i); False when that is impossible."""
    path.chmod(0o444)
    if not os.access(path, os.W_OK):
        return True
    chattr = shutil.which("chattr")
    if chattr and subprocess.run([chattr, "+i", str(path)], capture_output=True).returncode == 0:
        return not os.access(path, os.W_OK)
    return False


def test_store_errors_are_one_line(my_store, tmp_path, capsys, monkeypatch):
    screen = [
        "screen",
        "Li2ZrCl6",
        "--site",
        "Zr",
        "--dopants",
        "Nb,Ta",
        "--x",
        "0.1",
        "--tiers",
        "rules",
        "--db",
    ]
    # a damaged page: found on opening, with the recovery command
    damaged = tmp_path / "damaged.sqlite"
    shutil.copy(my_store, damaged)
    with damaged.open("r+b") as fh:
        fh.seek(2 * 4096 + 8)
        fh.write(b"\xff" * 200)
    code, _, err = _run(["results", damaged], capsys)
    _refused(code, err, "damaged", ".recover")
    # a store locked by another process for longer than the busy timeout
    import halidelab.screening.store as store_mod

    monkeypatch.setattr(store_mod, "BUSY_TIMEOUT_S", 0.3)
    locker = sqlite3.connect(my_store)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        code, _, err = _run([*screen, my_store], capsys)
    finally:
        locker.rollback()
        locker.close()
    _refused(code, err, "locked")
    # a read-only store that needs writes
    ro = tmp_path / "ro.sqlite"
    shutil.copy(my_store, ro)
    if not _lock_readonly(ro):
        pytest.skip("cannot make a file read-only here (root without chattr)")
    try:
        before = _digest([ro])
        code, _, err = _run([*screen, ro], capsys)
        _refused(code, err, "read-only")
        assert _digest([ro]) == before
    finally:
        if shutil.which("chattr"):
            subprocess.run(["chattr", "-i", str(ro)], capture_output=True)


# --------------------------------------------------------------- structure sanity check


def _with_extra_atom(tmp_path: Path, shift_A: float) -> Path:
    """LiCl with Li at 0 and Cl moved to ``shift_A`` from a Li (charge neutral)."""
    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.3), ["Li", "Cl"], [[0, 0, 0], [0.5] * 3])
    cl = next(i for i, site in enumerate(s) if site.specie.symbol == "Cl")
    s.translate_sites([cl], s[0].coords + [shift_A, 0, 0] - s[cl].coords, frac_coords=False)
    p = tmp_path / f"close_{shift_A:g}.cif"
    s.to(filename=str(p))
    return p


def test_overlapping_atoms_refused_short_contacts_warned(tmp_path, capsys):
    for d in (0.1, 0.009):
        p = _with_extra_atom(tmp_path, d)
        for argv in (["bvse", p, "--resolution", "0.5"], ["relax", p, "--steps", "2"]):
            code, _, err = _run(argv, capsys)
            line = _refused(code, err, "apart", "overlap")
            assert "(Li)" in line and "(Cl)" in line
    # 1.2 A Li-Cl (measured 2.57 A in LiCl): computed, with a warning on stderr
    code, out, err = _run(
        ["bvse", _with_extra_atom(tmp_path, 1.2), "--resolution", "0.5", "--json"], capsys
    )
    assert code == 0, err
    assert "warning" in err and "1.20 A apart" in err
    json.loads(out)


def test_poscar_counts_must_match_coordinates(tmp_path, capsys):
    good = _licl(tmp_path / "licl.cif")
    s = Structure.from_file(good)
    lines = s.to(fmt="poscar").splitlines()
    lines[6] = "4 3"  # 8 coordinate lines follow; a reader would silently drop the last Cl
    bad = tmp_path / "POSCAR_bad.vasp"
    bad.write_text("\n".join(lines) + "\n")
    code, _, err = _run(["bvse", bad, "--resolution", "0.5"], capsys)
    _refused(code, err, "7 atoms", "8 coordinate lines")


def test_slab_not_relaxed_with_a_variable_cell(tmp_path, capsys):
    bulk = _rocksalt(5.14)
    slab = Structure(
        Lattice.orthorhombic(5.14, 5.14, 5.14 + 25.0),
        bulk.species,
        [[f[0], f[1], f[2] * 5.14 / 30.14] for f in bulk.frac_coords],
    )
    p = tmp_path / "slab.cif"
    slab.to(filename=str(p))
    code, _, err = _run(["relax", p, "--steps", "2"], capsys)
    _refused(code, err, "empty space", "--fixed-cell")


def test_size_guards(tmp_path, capsys):
    code, _, err = _run(
        ["structure", "Li2ZrCl6", "--supercell", "50x50x50", "--no-xrd", "-o", tmp_path / "big"],
        capsys,
    )
    _refused(code, err, "--max-atoms")
    code, _, err = _run(
        ["structure", "Li2ZrCl6", "--max-atoms", "5", "--no-xrd", "-o", tmp_path / "small"], capsys
    )
    _refused(code, err, "--max-atoms")
    assert not (tmp_path / "big").exists() and not (tmp_path / "small").exists()
    # a 2016-atom cell is above the BVSE default (2000 atoms): refused, unless asked for
    s = _rocksalt(5.14)
    s.make_supercell([7, 6, 6])
    p = tmp_path / "big.cif"
    s.to(filename=str(p))
    code, _, err = _run(["bvse", p, "--resolution", "1.0"], capsys)
    _refused(code, err, "2,016 atoms", "--max-atoms")


def test_polymorph_and_framework_together_refused(tmp_path, capsys):
    code, _, err = _run(
        [
            "structure",
            "Li3YCl6",
            "--framework",
            DISORDERED,
            "--polymorph",
            "C2/m",
            "--no-xrd",
            "-o",
            tmp_path / "m",
        ],
        capsys,
    )
    _refused(code, err, "--polymorph", "--framework")


# ----------------------------------------------------------------------- JSON, messages


def test_json_output_has_no_nan(shared_data, tmp_path, capsys):
    """Two temperatures leave chi2_red undefined: JSON null, not the bare NaN token."""
    shutil.copy(shared_data / "eis" / "exampleDataZPlot.z", tmp_path / "p_25C.z")
    shutil.copy(shared_data / "eis" / "Circuit1_EIS_1.z", tmp_path / "p_60C.z")
    code, out, err = _run(
        [
            "eis",
            "arrhenius",
            str(tmp_path / "p_*C.z"),
            "--thickness",
            "1mm",
            "--diameter",
            "10mm",
            "--json",
        ],
        capsys,
    )
    assert code == 0, err

    def no_constant(name: str):
        raise AssertionError(f"non-JSON constant {name} in --json output")

    data = json.loads(out, parse_constant=no_constant)
    assert data["arrhenius"]["chi2_red"] is None


def test_messages(tmp_path, capsys):
    # a bare command prints its help, not an empty "error:" line
    code, out, err = _run([], capsys)
    assert code == 0 and "Usage" in out and "error" not in err
    # warnings go to stderr, results to stdout
    code, out, err = _run(
        [
            "structure",
            "Li2ZrCl6",
            "--dopant",
            "Nb",
            "--x",
            "0.13",
            "--configs",
            "1",
            "--no-xrd",
            "--formats",
            "cif",
            "-o",
            tmp_path / "m",
        ],
        capsys,
    )
    assert code == 0, err
    assert "warning" not in out.lower() and "warning" in err and "modelled as x" in err
    # no Python API names in what the CLI says
    li5cl4 = _rocksalt(5.3)
    li5cl4.append("Li", [0.25, 0.25, 0.25])
    p = tmp_path / "li5cl4.cif"
    li5cl4.to(filename=str(p))
    code, _, err = _run(["bvse", p, "--resolution", "0.5"], capsys)
    line = _refused(code, err, "oxidation states")
    assert "Structure." not in line and "add_oxidation_state" not in line


def test_no_python_warnings_before_an_error(tmp_path, capsys):
    """An impedance file with overflowing values: numpy warns inside the fit, then the fit
    fails; the user sees one line (the reader/fit error is the lab branch's business)."""
    import numpy as np

    p = tmp_path / "overflow.csv"
    f = np.logspace(6, 0, 30)
    p.write_text("Frequency (Hz),Z' (Ohm),-Z'' (Ohm)\n" + "".join(f"{x},1e308,1e308\n" for x in f))
    code, _, err = _run_process(["eis", "fit", p], tmp_path)
    assert code != 0
    assert "RuntimeWarning" not in err and "encountered in" not in err, err
    assert len([ln for ln in err.splitlines() if ln.strip()]) == 1, err


def test_relax_prints_no_torch_warning(tmp_path):
    code, out, err = _run_process(["relax", _licl(tmp_path / "licl.cif"), "--steps", "1"], tmp_path)
    assert code == 0, err
    assert "a_A" in out
    assert "UserWarning" not in err and "requires_grad" not in err, err


# ------------------------------------------------------- partial occupancies (issue 15)


def test_partially_occupied_cif_is_ordered_and_recorded(shared_data, tmp_path, capsys):
    cif = shared_data / "structures" / "Li3YCl6_P-3m1_obelix-ei3.cif"
    before = _digest([cif])
    code, out, err = _run(["bvse", cif, "--resolution", "0.4", "--json"], capsys)
    assert code == 0, err
    notes = [ln for ln in err.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1 and "partial occupancies" in notes[0] and "60 atoms" in notes[0]
    order = json.loads(out)["provenance"]["parameters"]["ordering"]
    assert order["source"] == cif.name and order["n_atoms"] == 60
    assert order["formula"] == "Li3YCl6"
    assert order["supercell_matrix"] == [[1, 0, 0], [0, 1, 0], [0, 0, 2]]
    code, out, err = _run(["neb", cif, "--dry-run", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["network"]["formula"] == "Li3YCl6"
    assert _digest([cif]) == before


def test_neb_max_interstitials_below_one_is_refused(tmp_path, capsys):
    """A path needs at least one interstitial to be a path; 0 is refused before any work."""
    cif = _licl(tmp_path / "licl.cif")
    code, _, err = _run(["neb", cif, "--max-interstitials", "0"], capsys)
    _refused(code, err, "--max-interstitials")
