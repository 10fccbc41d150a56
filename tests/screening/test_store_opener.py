"""The store opener: read-only opens change nothing, write opens refuse other programs'
databases, the schema marker, adoption of pre-marker stores, damage and lock errors."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

import halidelab.screening.store as store_mod
from halidelab.errors import HalidelabError, StoreError
from halidelab.screening.store import SCHEMA_NAME, SCHEMA_VERSION, Store


def _sha(p) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture()
def db(tmp_path):
    path = tmp_path / "r.sqlite"
    s = Store(path)
    s.add("k1", "rules", "a", {"x": 1}, "0")
    s.finish("k1", {"ok": True}, 0.1)
    return path


def test_new_store_has_the_marker(db):
    con = sqlite3.connect(db)
    meta = dict(con.execute("SELECT key, value FROM halidelab_meta"))
    con.close()
    assert meta["schema"] == SCHEMA_NAME and meta["schema_version"] == str(SCHEMA_VERSION)


def test_read_only_open_changes_nothing_and_cannot_write(db):
    before = _sha(db)
    s = Store(db, read_only=True)
    assert s.counts()["done"] == 1 and s.result("k1") == {"ok": True}
    with pytest.raises(StoreError, match="read-only"):
        s.add("k2", "rules", "b", {}, "0")
    assert _sha(db) == before


def test_read_only_refuses_missing_empty_and_foreign(tmp_path):
    with pytest.raises(StoreError, match="not found"):
        Store(tmp_path / "none.sqlite", read_only=True)
    assert not (tmp_path / "none.sqlite").exists()
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    with pytest.raises(StoreError, match="empty"):
        Store(empty, read_only=True)
    assert empty.stat().st_size == 0
    text = tmp_path / "notes.sqlite"
    text.write_text("hello\n")
    with pytest.raises(StoreError, match="not an SQLite database"):
        Store(text, read_only=True)


def test_write_open_refuses_other_programs_databases(tmp_path):
    for name, ddl in (
        ("shop.sqlite", "CREATE TABLE customers (id INTEGER)"),
        ("todo.sqlite", "CREATE TABLE tasks (id INTEGER, title TEXT)"),
        ("mixed.sqlite", "CREATE TABLE tasks (id INTEGER); CREATE TABLE other (a)"),
    ):
        p = tmp_path / name
        con = sqlite3.connect(p)
        con.executescript(ddl)
        con.close()
        before = _sha(p)
        with pytest.raises(StoreError, match="not a halidelab results store"):
            Store(p)
        assert _sha(p) == before
    # a newer version of our schema
    Store(tmp_path / "ours.sqlite")
    con = sqlite3.connect(tmp_path / "ours.sqlite")
    con.execute("UPDATE halidelab_meta SET value = '99' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="newer halidelab"):
        Store(tmp_path / "ours.sqlite")


def test_pre_marker_store_is_adopted_on_write(db, tmp_path):
    con = sqlite3.connect(db)
    con.execute("DROP TABLE halidelab_meta")
    con.commit()
    con.close()
    assert Store(db, read_only=True).result("k1") == {"ok": True}  # read as it is
    con = sqlite3.connect(db)
    assert "halidelab_meta" not in {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
    con.close()
    Store(db).add("k2", "rules", "b", {}, "0")  # a write open adds the marker
    con = sqlite3.connect(db)
    assert dict(con.execute("SELECT key, value FROM halidelab_meta"))["schema"] == SCHEMA_NAME
    con.close()


def test_damaged_store_says_how_to_recover(db, tmp_path):
    s = Store(db)
    for i in range(200):
        s.add(f"k{i:04d}", "rules", f"label {i}", {"pad": "x" * 200}, "0")
    with db.open("r+b") as fh:
        fh.seek(3 * 4096 + 8)
        fh.write(b"\xff" * 300)
    for ro in (True, False):
        with pytest.raises(StoreError, match=r"damaged.*sqlite3 .*\.recover"):
            Store(db, read_only=ro)


def test_locked_store_is_one_clear_error(db, monkeypatch):
    monkeypatch.setattr(store_mod, "BUSY_TIMEOUT_S", 0.2)
    s = Store(db)
    locker = sqlite3.connect(db)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked by another process"):
            s.add("k9", "rules", "z", {}, "0")
    finally:
        locker.rollback()
        locker.close()


def test_export_refuses_the_store_itself(db, tmp_path):
    s = Store(db)
    before = _sha(db)
    with pytest.raises(HalidelabError, match="input file"):
        s.export(db)
    assert _sha(db) == before
    assert s.export(tmp_path / "rows.json").is_file()


@pytest.mark.parametrize("url", ["foo://bar/baz", "nosuchdb+driver://user@host/db"])
def test_an_unknown_url_scheme_is_one_line_saying_what_to_give(url):
    with pytest.raises(StoreError) as exc:
        Store(url)
    msg = str(exc.value)
    assert "not a database URL" in msg and "results.sqlite" in msg and "\n" not in msg
