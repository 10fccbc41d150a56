"""The output-path guard, atomic writes and the strict JSON encoder."""

from __future__ import annotations

import json
import math
import os
import sqlite3

import numpy as np
import pytest

from halidelab.errors import HalidelabError
from halidelab.outputs import (
    OutputError,
    OutputGuard,
    atomic_open,
    atomic_path,
    dumps_json,
    is_sqlite_file,
    write_json,
    write_text,
)


def test_guard_refuses_an_input_by_any_name(tmp_path):
    src = tmp_path / "in.cif"
    src.write_text("data\n")
    link = tmp_path / "link.cif"
    link.symlink_to(src)
    hard = tmp_path / "hard.cif"
    os.link(src, hard)
    guard = OutputGuard([src])
    for name in (src, link, hard, tmp_path / "sub" / ".." / "in.cif"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        with pytest.raises(OutputError, match="input file"):
            guard.file(name)
    assert guard.file(tmp_path / "out.cif") == tmp_path / "out.cif"


def test_guard_refuses_sqlite_files_and_missing_folders(tmp_path):
    db = tmp_path / "x.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t (a)")
    con.commit()
    con.close()
    assert is_sqlite_file(db) and not is_sqlite_file(tmp_path / "none")
    guard = OutputGuard()
    with pytest.raises(OutputError, match="SQLite database"):
        guard.file(db, "--csv")
    assert guard.file(db, "--db", store_ok=True) == db
    with pytest.raises(OutputError, match="does not exist"):
        guard.file(tmp_path / "a" / "b.csv")
    assert not (tmp_path / "a").exists()
    with pytest.raises(OutputError, match="is a folder"):
        guard.file(tmp_path)


def test_guard_folder_creates_only_the_last_level(tmp_path):
    guard = OutputGuard()
    assert guard.folder(tmp_path / "out").is_dir()
    with pytest.raises(OutputError, match="does not exist"):
        guard.folder(tmp_path / "x" / "y")
    assert not (tmp_path / "x").exists()
    f = tmp_path / "file.txt"
    f.write_text("keep")
    with pytest.raises(OutputError, match="not a folder"):
        guard.folder(f)
    assert not guard.folder(tmp_path / "later", create=False).exists()


def test_figure_suffix(tmp_path):
    guard = OutputGuard()
    assert guard.file(tmp_path / "a.png", figure=True)
    assert guard.file(tmp_path / "a.SVG", figure=True)
    with pytest.raises(HalidelabError, match=r"\.docx"):  # halidelab.plotting's figure rule
        guard.file(tmp_path / "a.docx", figure=True)
    with pytest.raises(HalidelabError, match="no file extension"):
        guard.file(tmp_path / "figure", figure=True)


def test_atomic_write_keeps_the_old_file_on_a_crash(tmp_path):
    p = tmp_path / "table.csv"
    write_text(p, "old\n")
    with pytest.raises(RuntimeError), atomic_open(p) as fh:
        fh.write("half a new fi")
        raise RuntimeError("crash")
    assert p.read_text() == "old\n"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["table.csv"]  # no temp file left
    with atomic_path(p) as tmp:
        assert tmp.suffix == ".csv" and tmp.parent == tmp_path
        tmp.write_text("new\n")
    assert p.read_text() == "new\n"


def test_json_is_strict_and_nan_is_null(tmp_path):
    data = {
        "a": math.nan,
        "b": [1.0, math.inf, -math.inf],
        "c": np.float64("nan"),
        "d": np.arange(3),
        "e": np.int64(7),
        "f": tmp_path,
        "g": (np.float32(1.5),),
    }
    text = dumps_json(data)
    back = json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c}"))
    assert back == {
        "a": None,
        "b": [1.0, None, None],
        "c": None,
        "d": [0, 1, 2],
        "e": 7,
        "f": str(tmp_path),
        "g": [1.5],
    }
    write_json(tmp_path / "x.json", data)
    assert json.loads((tmp_path / "x.json").read_text())["b"] == [1.0, None, None]
