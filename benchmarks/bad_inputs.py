"""Bad and edge inputs through the whole CLI: exit codes, internal errors, silent wrong
answers and damaged files (issue 17's table).

Run from the repository root (a few minutes; MLIP cases load CHGNet once)::

    PYTHONPATH=src python benchmarks/bad_inputs.py [--out table.md] [--only GROUP] [-v]

Every case runs ``halidelab.cli.main(argv)`` in this process, with stdout and stderr
captured. Counted per case:

- **exit**: the exit code (2 = one-line refusal, 0 = done, 1 = internal error).
- **internal error**: exit 1 or any exit other than 0/2, a Python traceback, or an
  ``internal error:`` line.
- **silent wrong answer**: a case that must be refused (``expect="refuse"``) but exited
  0, or a case that must succeed whose output check failed (e.g. bare ``NaN`` in JSON,
  a warning on stdout, no ordering in the provenance); a refusal without exactly one
  ``error:`` line also counts here (the message is the answer).
- **file damaged**: any protected file (inputs, stores, other programs' databases) whose
  SHA-256 changed, or a path that must not exist afterwards (folders above what was
  asked for, figures in an unsupported format) that does.

Cases tagged ``lab`` exercise readers and fits that the ``lab-files`` branch hardens;
they are listed separately so the table of each branch is honest about what it fixes.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import io
import json
import math
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


@dataclasses.dataclass
class Case:
    """One input: the command line, what must happen and what must not change."""

    group: str
    name: str
    argv: list[str]
    #: "refuse" (exit 2, one error line), "ok" (exit 0), or "quiet" (any exit; no Python
    #: warning text on stderr: the case checks the warnings, another one the exit code)
    expect: str = "refuse"
    protect: list[Path] = dataclasses.field(default_factory=list)
    absent: list[Path] = dataclasses.field(default_factory=list)
    check: Callable[[str, str], str | None] | None = None  # (stdout, stderr) -> problem
    owner: str = "hardening"
    needle: str | None = None  # text the error line must contain


@dataclasses.dataclass
class Outcome:
    case: Case
    code: int
    internal: bool
    wrong: str | None
    damaged: list[str]
    seconds: float
    error_line: str


def _sha(p: Path) -> str | None:
    return hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None


def _strict_json(out: str) -> str | None:
    try:
        json.loads(out, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(f"bare {c}")))
    except ValueError as exc:
        return f"stdout is not strict JSON ({exc})"
    return None


def run_case(case: Case) -> Outcome:
    from halidelab.cli import main

    before = {p: _sha(p) for p in case.protect}
    out, err = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in case.argv])
        except SystemExit as exc:  # pragma: no cover - main() returns, never exits
            code = int(exc.code or 0)
        except BaseException as exc:  # noqa: BLE001 - counted as an internal error
            print(f"Traceback (escaped main): {type(exc).__name__}: {exc}", file=sys.stderr)
            code = 1
    dt = time.perf_counter() - t0
    o, e = out.getvalue(), err.getvalue()
    errors = [ln for ln in e.splitlines() if ln.startswith("error:")]
    internal = code not in (0, 2) or "Traceback" in e or "internal error" in e
    wrong = None
    if case.expect == "refuse":
        if code == 0:
            wrong = "accepted (exit 0)"
        elif code == 2 and len(errors) != 1:
            wrong = f"{len(errors)} error lines"
        elif code == 2 and case.needle and case.needle.lower() not in errors[0].lower():
            wrong = f"error does not say {case.needle!r}"
    elif case.expect == "quiet":
        internal = False  # the exit code is another case's (owner lab) business
        if "RuntimeWarning" in e or "encountered in" in e:
            wrong = "numpy warning printed"
    elif code == 0 and case.check is not None:
        wrong = case.check(o, e)
    elif code == 2:
        wrong = "refused a valid input"
    damaged = [p.name for p, h in before.items() if _sha(p) != h]
    damaged += [f"{p.name} created" for p in case.absent if p.exists()]
    return Outcome(case, code, internal, wrong, damaged, dt, errors[0] if errors else "")


# ------------------------------------------------------------------------------ inputs


def _licl(path: Path, a: float = 5.14, extra: Callable | None = None) -> Path:
    from pymatgen.core import Lattice, Structure

    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Li", "Cl"], [[0, 0, 0], [0.5] * 3])
    if extra is not None:
        s = extra(s)
    s.to(filename=str(path))
    return path


def _moved_cl(d: float):
    def f(s):
        cl = next(i for i, site in enumerate(s) if site.specie.symbol == "Cl")
        s.translate_sites([cl], s[0].coords + [d, 0, 0] - s[cl].coords, frac_coords=False)
        return s

    return f


def _foreign(path: Path, table: str = "customers", cols: str = "id INTEGER, name TEXT") -> Path:
    con = sqlite3.connect(path)
    con.execute(f"CREATE TABLE {table} ({cols})")
    con.execute(f"INSERT INTO {table} VALUES (1, 'x')")
    con.commit()
    con.close()
    return path


def build_cases(tmp: Path) -> list[Case]:
    """Prepare every input file in ``tmp``; return the cases."""
    import numpy as np
    from pymatgen.core import Lattice, Structure

    from halidelab.cli import main

    cases: list[Case] = []
    add = cases.append
    licl = _licl(tmp / "licl.cif")
    disordered = DATA / "structures" / "Li3YCl6_P-3m1_obelix-ei3.cif"
    shipped = sorted((ROOT / "src" / "halidelab" / "data" / "structures").glob("*.cif"))

    # a real store with ranked candidates
    store = tmp / "results.sqlite"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert (
            main(
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
                    str(store),
                ]
            )
            == 0
        )

    def copy_store(name: str) -> Path:
        p = tmp / name
        shutil.copy(store, p)
        return p

    # --- A. data loss: outputs over inputs, stores, other programs' databases
    s1 = copy_store("s1.sqlite")
    add(
        Case(
            "A data loss",
            "results --csv over its own store",
            ["results", s1, "--csv", s1],
            protect=[s1],
            needle="input file",
        )
    )
    other = _foreign(tmp / "other.sqlite")
    add(
        Case(
            "A data loss",
            "results --csv over another database",
            ["results", s1, "--csv", other],
            protect=[s1, other],
            needle="SQLite",
        )
    )
    add(
        Case(
            "A data loss",
            "results --report into the store file",
            ["results", s1, "--report", s1],
            protect=[s1],
            needle="not a folder",
        )
    )
    a_cif = _licl(tmp / "a.cif")
    add(
        Case(
            "A data loss",
            "relax --out over its input",
            ["relax", a_cif, "--out", a_cif, "--steps", "2"],
            protect=[a_cif],
            needle="input file",
        )
    )
    add(
        Case(
            "A data loss",
            "xrd simulate -o over the model",
            ["xrd", "simulate", a_cif, "-o", a_cif],
            protect=[a_cif],
            needle="input file",
        )
    )
    add(
        Case(
            "A data loss",
            "xrd simulate --peaks over the model",
            ["xrd", "simulate", a_cif, "--peaks", a_cif],
            protect=[a_cif],
            needle="input file",
        )
    )
    outdir = tmp / "models"
    outdir.mkdir()
    trap = outdir / "Li3YCl6_c0.cif"
    shutil.copy(disordered, trap)
    add(
        Case(
            "A data loss",
            "structure -o where the --framework file would be overwritten",
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
                outdir,
            ],
            protect=[trap],
            needle="input file",
        )
    )
    add(
        Case(
            "A data loss",
            "screen --report into the store file",
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
                s1,
                "--report",
                s1,
            ],
            protect=[s1],
            needle="not a folder",
        )
    )
    mine = tmp / "mine.csv"
    mine.write_text("x,sigma_S_cm,ea_eV\n0.1,1.2e-3,0.31\n")
    add(
        Case(
            "A data loss",
            "screen --db is the --measured CSV",
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
                mine,
                "--measured",
                mine,
            ],
            protect=[mine],
            needle="not an SQLite",
        )
    )
    for label, table, cols in (
        ("customers", "customers", "id INTEGER, name TEXT"),
        ("own tasks table", "tasks", "id INTEGER, title TEXT"),
    ):
        db = _foreign(tmp / f"foreign_{table}.sqlite", table, cols)
        for argv, what in (
            (["results", db], "results"),
            (["compare", "Li2ZrCl6", "--db", db], "compare"),
            (
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
                "screen",
            ),
            (["stability", "Li2ZrCl6", "--store", db, "--steps", "1"], "stability"),
        ):
            add(
                Case(
                    "A data loss",
                    f"{what} on a database with a {label} table",
                    argv,
                    protect=[db],
                    absent=[Path(f"{db}-wal")],
                    needle="not a halidelab results store",
                )
            )
    empty = tmp / "empty.sqlite"
    empty.touch()
    add(
        Case(
            "A data loss",
            "results on a 0-byte file",
            ["results", empty],
            needle="empty",
            protect=[empty],
        )
    )
    add(
        Case(
            "A data loss",
            "results reads a store without changing it",
            ["results", s1, "--json"],
            expect="ok",
            protect=[s1],
            check=lambda o, e: _strict_json(o),
        )
    )

    # --- B. output paths
    missing = tmp / "nonexistent_dir"
    add(
        Case(
            "B output paths",
            "bvse --cube in a missing folder",
            ["bvse", licl, "--resolution", "0.5", "--cube", missing / "map.cube"],
            absent=[missing],
            needle="does not exist",
        )
    )
    add(
        Case(
            "B output paths",
            "relax --out two levels of missing folders",
            ["relax", licl, "--steps", "2", "--out", missing / "sub" / "r.cif"],
            absent=[missing],
        )
    )
    add(
        Case(
            "B output paths",
            "structure -o under a missing folder",
            ["structure", "Li2ZrCl6", "--no-xrd", "-o", missing / "m"],
            absent=[missing],
        )
    )
    add(
        Case(
            "B output paths",
            "md --out under a missing folder",
            ["md", licl, "--ps", "0.004", "--out", missing / "md"],
            absent=[missing],
        )
    )
    note = tmp / "note.txt"
    note.write_text("keep me\n")
    for argv, what in (
        (["structure", "Li2ZrCl6", "--no-xrd", "-o", note], "structure -o"),
        (["md", licl, "--ps", "0.004", "--out", note], "md --out"),
        (["neb", licl, "-o", note], "neb -o"),
        (["results", s1, "--report", note], "results --report"),
        (["reproduce", "chen2025", "-o", note, "--tiers", "rules"], "reproduce -o"),
        (["prior", "train", "--out", note], "prior train --out"),
    ):
        add(
            Case(
                "B output paths",
                f"{what} is an existing file",
                argv,
                protect=[note],
                needle="not a folder",
            )
        )
    spectrum = tmp / "pellet_25C.z"
    shutil.copy(DATA / "eis" / "exampleDataZPlot.z", spectrum)
    for suffix in (".docx", ".xyz", ""):
        fig = tmp / f"nyquist{suffix}"
        add(
            Case(
                "B output paths",
                f"eis fit --plot with suffix {suffix or '(none)'}",
                ["eis", "fit", spectrum, "--plot", fig],
                absent=[fig],
                protect=[spectrum],
            )
        )
    add(
        Case(
            "B output paths",
            "relax --out with an unknown structure format",
            ["relax", licl, "--steps", "2", "--out", tmp / "r.docx"],
            absent=[tmp / "r.docx"],
            needle="format",
        )
    )

    # --- C. store errors
    damaged = copy_store("damaged.sqlite")
    with damaged.open("r+b") as fh:
        fh.seek(2 * 4096 + 8)
        fh.write(b"\xff" * 200)
    add(
        Case(
            "C store errors",
            "results on a store with a damaged page",
            ["results", damaged],
            needle=".recover",
        )
    )
    add(
        Case(
            "C store errors",
            "screen on a store with a damaged page",
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
                damaged,
            ],
            needle="damaged",
        )
    )
    text = tmp / "text.sqlite"
    text.write_text("not a database\n")
    add(Case("C store errors", "results on a text file", ["results", text], protect=[text]))
    add(
        Case(
            "C store errors",
            "screen --db on a text file",
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
                text,
            ],
            protect=[text],
        )
    )
    add(
        Case(
            "C store errors",
            "results on a missing store",
            ["results", tmp / "none.sqlite"],
            absent=[tmp / "none.sqlite"],
        )
    )
    add(
        Case(
            "C store errors",
            "compare on a missing store",
            ["compare", "Li2ZrCl6", "--db", tmp / "none.sqlite"],
            absent=[tmp / "none.sqlite"],
        )
    )
    newer = copy_store("newer.sqlite")
    con = sqlite3.connect(newer)
    con.execute("UPDATE halidelab_meta SET value = '99' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    add(
        Case(
            "C store errors",
            "results on a store of a newer schema",
            ["results", newer],
            protect=[newer],
            needle="newer",
        )
    )
    ro = copy_store("readonly.sqlite")
    ro.chmod(0o444)
    chattr = shutil.which("chattr")
    import os
    import subprocess

    if os.access(ro, os.W_OK) and chattr:
        subprocess.run([chattr, "+i", str(ro)], capture_output=True)
    if not os.access(ro, os.W_OK):
        add(
            Case(
                "C store errors",
                "screen on a read-only store",
                [
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
                    ro,
                ],
                protect=[ro],
                needle="read-only",
            )
        )

    # --- D. structures
    for d in (0.1, 0.009):
        p = _licl(tmp / f"close_{d}.cif", extra=_moved_cl(d))
        add(
            Case(
                "D structures",
                f"bvse: atoms {d} A apart",
                ["bvse", p, "--resolution", "0.5"],
                protect=[p],
                needle="overlap",
            )
        )
        add(
            Case(
                "D structures",
                f"relax: atoms {d} A apart",
                ["relax", p, "--steps", "2"],
                protect=[p],
                needle="overlap",
            )
        )
    short = _licl(tmp / "short.cif", extra=_moved_cl(1.2))
    add(
        Case(
            "D structures",
            "bvse: Li-Cl 1.2 A apart (warn, compute)",
            ["bvse", short, "--resolution", "0.5", "--json"],
            expect="ok",
            check=lambda o, e: _strict_json(o) or (None if "1.20 A apart" in e else "no warning"),
        )
    )
    lines = Structure.from_file(licl).to(fmt="poscar").splitlines()
    for counts in ("4 3", "4 5", "3 3"):
        bad = tmp / f"POSCAR_{counts.replace(' ', '_')}.vasp"
        bad.write_text("\n".join([*lines[:6], counts, *lines[7:]]) + "\n")
        add(
            Case(
                "D structures",
                f"POSCAR counts {counts} with 8 coordinate lines",
                ["bvse", bad, "--resolution", "0.5"],
                protect=[bad],
                needle="coordinate lines",
            )
        )
    far = tmp / "POSCAR_far.vasp"  # found by hypothesis: the neighbour search took 24 GB
    far.write_text("\n".join([*lines[:8], "1e9 0.0 0.5 Li", *lines[9:]]) + "\n")
    add(
        Case(
            "D structures",
            "POSCAR with a fractional coordinate of 1e9",
            ["bvse", far, "--resolution", "0.5"],
            protect=[far],
            needle="far outside the cell",
        )
    )
    bulk = Structure.from_file(licl)
    slab = Structure(
        Lattice.orthorhombic(5.14, 5.14, 30.14),
        bulk.species,
        [[f[0], f[1], f[2] * 5.14 / 30.14] for f in bulk.frac_coords],
    )
    slab_p = tmp / "slab.cif"
    slab.to(filename=str(slab_p))
    add(
        Case(
            "D structures",
            "relax (variable cell) of a slab with 25 A vacuum",
            ["relax", slab_p, "--steps", "2"],
            needle="--fixed-cell",
        )
    )
    add(
        Case(
            "D structures",
            "stability of a slab with 25 A vacuum",
            ["stability", slab_p, "--no-cache", "--steps", "1"],
            needle="empty space",
        )
    )
    add(
        Case(
            "D structures",
            "bvse of a slab (warn, compute)",
            ["bvse", slab_p, "--resolution", "0.6", "--json"],
            expect="ok",
            check=lambda o, e: None if "empty space" in e else "no vacuum warning",
        )
    )
    add(
        Case(
            "D structures",
            "structure --supercell 50x50x50",
            ["structure", "Li2ZrCl6", "--supercell", "50x50x50", "--no-xrd", "-o", tmp / "big"],
            absent=[tmp / "big"],
            needle="--max-atoms",
        )
    )
    add(
        Case(
            "D structures",
            "structure --max-atoms 5",
            ["structure", "Li2ZrCl6", "--max-atoms", "5", "--no-xrd", "-o", tmp / "small"],
            absent=[tmp / "small"],
            needle="--max-atoms",
        )
    )
    big = Structure.from_file(licl)
    big.make_supercell([7, 6, 6])
    big_p = tmp / "big2016.cif"
    big.to(filename=str(big_p))
    add(
        Case(
            "D structures",
            "bvse of 2016 atoms (limit 2000)",
            ["bvse", big_p, "--resolution", "1.0"],
            needle="--max-atoms",
        )
    )
    add(
        Case(
            "D structures",
            "relax of 2016 atoms (limit 1000)",
            ["relax", big_p, "--steps", "1"],
            needle="--max-atoms",
        )
    )
    huge = Structure.from_file(licl)
    huge.make_supercell([12, 12, 12])  # 13,824 atoms
    huge_p = tmp / "huge13824.cif"
    huge.to(filename=str(huge_p))
    add(Case("D structures", "bvse of 13,824 atoms", ["bvse", huge_p], needle="13,824 atoms"))
    add(
        Case(
            "D structures",
            "structure --polymorph with --framework",
            [
                "structure",
                "Li3YCl6",
                "--framework",
                disordered,
                "--polymorph",
                "C2/m",
                "--no-xrd",
                "-o",
                tmp / "pf",
            ],
            needle="--framework",
        )
    )
    for name, text in (
        ("empty.cif", ""),
        ("garbage.cif", "this is not a CIF\n"),
        ("nan.vasp", "x\n1.0\nnan 0 0\n0 5 0\n0 0 5\nLi\n1\nDirect\n0 0 0\n"),
        ("zero_cell.vasp", "x\n1.0\n0 0 0\n0 0 0\n0 0 0\nLi\n1\nDirect\n0 0 0\n"),
    ):
        p = tmp / name
        p.write_text(text)
        add(Case("D structures", f"bvse of {name}", ["bvse", p], protect=[p]))
    li5cl4 = _licl(tmp / "li5cl4.cif", extra=lambda s: (s.append("Li", [0.25, 0.25, 0.25]), s)[1])
    add(
        Case(
            "D structures",
            "bvse of a non-neutral structure (message names a CLI fix)",
            ["bvse", li5cl4, "--resolution", "0.5"],
            needle="oxidation states",
        )
    )

    # --- E. partial occupancies: ordered model, note, provenance
    def ordered_check(o: str, e: str) -> str | None:
        bad = _strict_json(o)
        if bad:
            return bad
        prov = json.loads(o).get("provenance", {}).get("parameters", {})
        if "ordering" not in prov:
            return "no ordering in the provenance"
        return (
            None
            if sum(ln.startswith("note:") for ln in e.splitlines()) == 1
            else "no one-line note"
        )

    for cif in [disordered, *shipped]:
        add(
            Case(
                "E partial occupancy",
                f"bvse {cif.name}",
                ["bvse", cif, "--resolution", "0.5", "--json"],
                expect="ok",
                protect=[cif],
                check=(
                    ordered_check
                    if not Structure.from_file(cif).is_ordered
                    else (lambda o, e: _strict_json(o))
                ),
            )
        )
    add(
        Case(
            "E partial occupancy",
            "neb --dry-run on the partially occupied Li3YCl6 CIF",
            ["neb", disordered, "--dry-run", "--json"],
            expect="ok",
            protect=[disordered],
            check=lambda o, e: _strict_json(o),
        )
    )
    add(
        Case(
            "E partial occupancy",
            "relax (1 step) of the partially occupied Li3YCl6 CIF",
            ["relax", disordered, "--steps", "1", "--json"],
            expect="ok",
            protect=[disordered],
            check=ordered_check,
        )
    )

    # --- F. option values
    for argv, what in (
        (["md", licl, "--ps", "nan"], "md --ps nan"),
        (["md", licl, "--ps", "-1"], "md --ps -1"),
        (["md", licl, "--timestep", "0"], "md --timestep 0"),
        (["md", licl, "--timestep", "nan"], "md --timestep nan"),
        (["md", licl, "--T", "inf"], "md --T inf"),
        (["md", licl, "--haven", "nan"], "md --haven nan"),
        (["md", licl, "--ps", "1", "--skip-ps", "2"], "md --skip-ps > --ps"),
        (["relax", licl, "--fmax", "inf"], "relax --fmax inf"),
        (["relax", licl, "--fmax", "nan"], "relax --fmax nan"),
        (["relax", licl, "--steps", "0"], "relax --steps 0"),
        (["neb", licl, "--images", "0"], "neb --images 0"),
        (["neb", licl, "--fmax", "nan"], "neb --fmax nan"),
        (["bvse", licl, "--resolution", "0"], "bvse --resolution 0"),
        (["bvse", licl, "--max-atoms", "0"], "bvse --max-atoms 0"),
        (["structure", "Li2ZrCl6", "--seed", "-1", "-o", tmp / "s1"], "structure --seed -1"),
        (["structure", "Li2ZrCl6", "--configs", "0", "-o", tmp / "s2"], "structure --configs 0"),
        (["design", "Li2ZrCl6", "--dopant", "Nb", "--x", "nan"], "design --x nan"),
        (
            [
                "screen",
                "Li2ZrCl6",
                "--site",
                "Zr",
                "--dopants",
                "Nb",
                "--top",
                "0",
                "--db",
                tmp / "t0.sqlite",
            ],
            "screen --top 0",
        ),
        (["results", s1, "--top", "0"], "results --top 0"),
    ):
        add(Case("F option values", what, argv))

    # --- G. JSON and messages
    ser = tmp / "series"
    ser.mkdir()
    shutil.copy(DATA / "eis" / "exampleDataZPlot.z", ser / "p_25C.z")
    shutil.copy(DATA / "eis" / "Circuit1_EIS_1.z", ser / "p_60C.z")
    add(
        Case(
            "G JSON and messages",
            "eis arrhenius --json with 2 temperatures (chi2 undefined)",
            [
                "eis",
                "arrhenius",
                str(ser / "p_*C.z"),
                "--thickness",
                "1mm",
                "--diameter",
                "10mm",
                "--json",
            ],
            expect="ok",
            check=lambda o, e: _strict_json(o),
        )
    )
    add(
        Case(
            "G JSON and messages",
            "bare halidelab",
            [],
            expect="ok",
            check=lambda o, e: (
                None if "Usage" in o and "error" not in e else "no help / error line"
            ),
        )
    )
    add(
        Case(
            "G JSON and messages",
            "bare halidelab eis",
            ["eis"],
            expect="ok",
            check=lambda o, e: (
                None if "Usage" in o and "error" not in e else "no help / error line"
            ),
        )
    )
    add(
        Case(
            "G JSON and messages",
            "structure warnings go to stderr",
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
                tmp / "m013",
            ],
            expect="ok",
            check=lambda o, e: (
                None if "warning" not in o.lower() and "warning" in e else "warning on stdout"
            ),
        )
    )
    add(
        Case(
            "G JSON and messages",
            "design warnings go to stderr",
            ["design", "Li2ZrCl6", "--dopant", "Y", "--site", "Zr", "--x", "0.3"],
            expect="ok",
            check=lambda o, e: (
                None if "warning:" not in o and "warning" in e else "warning on stdout"
            ),
        )
    )
    add(
        Case(
            "G JSON and messages",
            "relax prints no torch UserWarning",
            ["relax", licl, "--steps", "1"],
            expect="ok",
            check=lambda o, e: "torch UserWarning on stderr" if "requires_grad" in e else None,
        )
    )
    add(
        Case(
            "G JSON and messages",
            "design --dopant without --site names the CLI option",
            ["design", "Li2ZrCl6", "--dopant", "Nb", "--x", "0.1"],
            needle="--site Zr",
        )
    )
    add(
        Case(
            "G JSON and messages",
            "design with two framework cations and no --site",
            ["design", "Li2ZrNbCl6", "--dopant", "Ta", "--x", "0.1"],
            needle="--site",
        )
    )

    # --- H. lab readers and fits (branch lab-files)
    import pandas as pd

    f = np.logspace(6, 0, 30)
    for label, z in (("all-zero", 0.0), ("overflowing", 1e308)):
        p = tmp / f"z_{label}.csv"
        pd.DataFrame({"Frequency (Hz)": f, "Z' (Ohm)": z, "-Z'' (Ohm)": z}).to_csv(p, index=False)
        add(
            Case(
                "H lab",
                f"eis fit of an {label} impedance file",
                ["eis", "fit", p],
                owner="lab",
                protect=[p],
            )
        )
    add(
        Case(
            "H lab",
            "no numpy warnings before the error (overflowing impedance)",
            ["eis", "fit", tmp / "z_overflowing.csv"],
            expect="quiet",
        )
    )
    xy = tmp / "licl.xy"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        main(["xrd", "simulate", str(licl), "-o", str(xy)])
    for argv, what in (
        (["xrd", "simulate", licl, "--fwhm", "0", "-o", tmp / "f0.xy"], "xrd simulate --fwhm 0"),
        (["xrd", "simulate", licl, "--fwhm", "-1", "-o", tmp / "f1.xy"], "xrd simulate --fwhm -1"),
        (["xrd", "simulate", licl, "--top", "-5"], "xrd simulate --top -5"),
        (["xrd", "refine", xy, "--model", licl, "--ka2-ratio", "-1"], "xrd refine --ka2-ratio -1"),
    ):
        add(Case("H lab", what, argv, owner="lab"))
    from halidelab.lab.cycling import simulate_cycling

    df = simulate_cycling(
        [(0.2, 133.8, 127.4)] * 3, active_mass_g=8.2e-3, c_rate_capacity_mAh_g=140
    )
    tcol = next(c for c in df.columns if c.lower().startswith("time"))
    df[tcol] = 0.0
    const = tmp / "constant_time.csv"
    df.to_csv(const, index=False)
    add(
        Case(
            "H lab",
            "cycling with a constant time column",
            ["cycling", const],
            owner="lab",
            protect=[const],
        )
    )
    e = np.arange(2.8, 5.0, 0.001)
    lsv = tmp / "lsv.csv"
    pd.DataFrame({"Ewe/V": e, "I/mA": 1e-3 * (e - 2.8)}).to_csv(lsv, index=False)
    add(
        Case(
            "H lab",
            "lsv with contradicting --diameter and --area",
            ["lsv", lsv, "--diameter", "10mm", "--area", "5cm2"],
            owner="lab",
            needle="--area",
        )
    )
    add(
        Case(
            "H lab",
            "lsv --plot with an unsupported suffix",
            ["lsv", lsv, "--diameter", "10mm", "--plot", tmp / "lsv.plot"],
            absent=[tmp / "lsv.plot"],
        )
    )
    from halidelab.lab.polarization import simulate_decay

    t, i = simulate_decay(0.1, 1e-9, thickness_cm=0.085, area_cm2=math.pi * 0.25, seed=0)
    back = tmp / "dc_0.1V_backwards.csv"
    pd.DataFrame({"time/s": t[::-1], "I/nA": i * 1e9}).to_csv(back, index=False)
    add(
        Case(
            "H lab",
            "dcpol with time running backwards",
            ["dcpol", back, "--thickness", "0.85mm", "--diameter", "10mm"],
            owner="lab",
            needle="time",
        )
    )
    return cases


def main_(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="Write the table (Markdown) here too")
    ap.add_argument("--only", help="Run only groups whose name starts with this letter/word")
    ap.add_argument("-v", "--verbose", action="store_true", help="Print every case")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="halidelab-bad-") as d:
        cases = build_cases(Path(d))
        if args.only:
            cases = [c for c in cases if c.group.lower().startswith(args.only.lower())]
        outcomes = []
        for c in cases:
            outcomes.append(run_case(c))
            if args.verbose:
                r = outcomes[-1]
                print(
                    f"{r.code} {'INTERNAL ' if r.internal else ''}{r.wrong or ''} "
                    f"{r.damaged or ''} "
                    f"[{c.group}] {c.name} ({r.seconds:.1f} s) {r.error_line[:120]}",
                    file=sys.stderr,
                )
        # restore permissions of anything made read-only
        for p in Path(d).glob("*.sqlite"):
            if shutil.which("chattr"):
                import subprocess

                subprocess.run(["chattr", "-i", str(p)], capture_output=True)
    text = table(outcomes, time.perf_counter() - t0)
    print(text)
    if args.out:
        args.out.write_text(text)
    bad = [
        o for o in outcomes if o.case.owner == "hardening" and (o.internal or o.wrong or o.damaged)
    ]
    return 1 if bad else 0


def table(outcomes: list[Outcome], wall_s: float) -> str:
    """Markdown: one row per group and owner, then every case that is not clean."""
    from halidelab import __version__

    rows = [
        "| group | owner | inputs | exit 0 | exit 2 | other exit | internal errors | "
        "silent wrong answers | files damaged |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    keys = sorted({(o.case.group, o.case.owner) for o in outcomes})
    tot = [0] * 7
    for g, own in keys:
        sub = [o for o in outcomes if o.case.group == g and o.case.owner == own]
        vals = [
            len(sub),
            sum(o.code == 0 for o in sub),
            sum(o.code == 2 for o in sub),
            sum(o.code not in (0, 2) for o in sub),
            sum(o.internal for o in sub),
            sum(bool(o.wrong) for o in sub),
            sum(bool(o.damaged) for o in sub),
        ]
        tot = [a + b for a, b in zip(tot, vals, strict=True)]
        rows.append(f"| {g} | {own} | " + " | ".join(str(v) for v in vals) + " |")
    rows.append("| **all** | | " + " | ".join(f"**{v}**" for v in tot) + " |")
    mine = [o for o in outcomes if o.case.owner == "hardening"]
    head = (
        f"halidelab {__version__}: {len(outcomes)} bad or edge inputs through the CLI in "
        f"{wall_s:.0f} s; hardening cases: {sum(o.internal for o in mine)} internal errors, "
        f"{sum(bool(o.wrong) for o in mine)} silent wrong answers, "
        f"{sum(bool(o.damaged) for o in mine)} files damaged"
    )
    notes = []
    for o in outcomes:
        if o.internal or o.wrong or o.damaged:
            what = "; ".join(
                x
                for x in (
                    "internal error" if o.internal else "",
                    o.wrong or "",
                    f"damaged: {', '.join(o.damaged)}" if o.damaged else "",
                )
                if x
            )
            notes.append(f"- [{o.case.owner}] {o.case.group}: {o.case.name}: exit {o.code}: {what}")
    return (
        "\n".join(
            [head, "", *rows, "", *(["not clean:", *notes] if notes else ["every case clean"])]
        )
        + "\n"
    )


if __name__ == "__main__":
    sys.exit(main_())
