"""The results store: every task keyed by the hash of its inputs, in SQL.

SQLite by default (one file, WAL journal so readers never block the writer, a busy
timeout so two runs on one file wait instead of failing); any SQLAlchemy URL
(``postgresql+psycopg://...``) for a group database. A task row goes
``pending -> running -> done | failed``; a result is written in the same transaction
that marks the task done, so a run killed at any moment loses at most the tasks in
flight, and a re-run skips every ``done`` key.

One opener that knows reading from writing and recognises its own schema:

- ``Store(target, read_only=True)`` (``results``, ``compare``, reports) opens SQLite with
  ``file:...?mode=ro``: no WAL switch, no table created, nothing written. A missing or
  empty (0-byte) file is an error, not a new database.
- ``Store(target)`` (``screen``, ``reproduce``, the stability cache) writes. It refuses a
  database that is not a halidelab store: one with other tables and no schema marker
  (the ``halidelab_meta`` table, ``schema = halidelab-results`` and a version). A store
  written before the marker existed (exactly halidelab's ``tasks`` table) is adopted:
  the marker is added on the first write open.
- A read-only file that needs writes, a damaged file ("database disk image is
  malformed") and a store locked by another process for longer than the busy timeout
  are :class:`~halidelab.errors.StoreError` with one line saying what to do.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import json
import math
import os
import socket
import sqlite3
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from halidelab.errors import StoreError
from halidelab.outputs import SQLITE_HEADER, atomic_open

#: Name written in the marker table; a database without it (and not an old halidelab
#: store) is not ours.
SCHEMA_NAME = "halidelab-results"
#: Version of the table layout; a store with a higher one was written by a newer halidelab.
SCHEMA_VERSION = 1
#: How long a command waits for another process's write lock on an SQLite store, s.
BUSY_TIMEOUT_S = 60.0

_META = sa.MetaData()
TASKS = sa.Table(
    "tasks",
    _META,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False, index=True),
    sa.Column("label", sa.String(200), nullable=False, index=True),
    sa.Column("inputs", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("result", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("worker", sa.String(200)),
    sa.Column("duration_s", sa.Float),
    sa.Column("code_version", sa.String(32)),
    sa.Column("updated_utc", sa.String(40)),
)
#: The schema marker: rows ``schema`` = :data:`SCHEMA_NAME`, ``schema_version``.
META = sa.Table(
    "halidelab_meta",
    _META,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
)

STATUSES = ("pending", "running", "done", "failed")
_TASK_COLUMNS = frozenset(c.name for c in TASKS.columns)


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _sqlite_path(target: str | Path) -> Path | None:
    """The file of an SQLite target (a path or ``sqlite:///`` URL); None for other URLs."""
    text = str(target)
    if text.startswith("sqlite:///"):
        return Path(urllib.parse.unquote(text[len("sqlite:///") :].split("?")[0]))
    if "://" in text:
        return None
    return Path(text).expanduser().resolve()


def _safe_url(url: str) -> str:
    """A URL without its password, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: say it as given
        return url


def _recover_hint(path: Path | str) -> str:
    return (
        f'recover what is left with: sqlite3 {path} ".recover" | sqlite3 fixed.sqlite '
        "(then use fixed.sqlite)"
    )


def _translate(exc: BaseException, where: str, path: Path | None) -> StoreError:
    """One-line StoreError for a database error, saying what to do."""
    msg = str(getattr(exc, "orig", None) or exc).splitlines()[0] if str(exc) else type(exc).__name__
    low = msg.lower()
    if "readonly" in low or "read-only" in low or "attempt to write" in low:
        return StoreError(
            f"{where} is read-only and this command needs to write to it: make it "
            f"writable (chmod u+w {path or where}) or give another --db file"
        )
    if "locked" in low or "busy" in low:
        return StoreError(
            f"{where} is locked by another process (waited {BUSY_TIMEOUT_S:g} s): let "
            "the other halidelab run finish, or give another --db file"
        )
    if "malformed" in low or "not a database" in low or "corrupt" in low or "encrypted" in low:
        return StoreError(f"{where} is damaged ({msg}): " + _recover_hint(path or where))
    if "can't load plugin" in low or "could not parse" in low:
        scheme = where.split("://", 1)[0] if "://" in where else where
        return StoreError(
            f"{where} is not a database URL halidelab can open (scheme {scheme!r}): give a "
            "file path such as results.sqlite, or an SQLAlchemy URL such as "
            "postgresql://user@host/halidelab"
        )
    if "unable to open" in low:
        return StoreError(
            f"cannot open {where} ({msg}): check that the file and its folder "
            "exist and are readable"
        )
    return StoreError(f"results store {where}: {type(exc).__name__}: {msg}")


def _inspect_sqlite(path: Path) -> tuple[set[str], dict[str, str], set[str]]:
    """Tables, marker rows and ``tasks`` columns of an SQLite file, read-only.

    Opens with ``mode=ro``, so the file is not changed, and runs ``PRAGMA quick_check``.
    """
    uri = f"file:{urllib.parse.quote(str(path))}?mode=ro"
    con = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S)
    try:
        tables = {
            r[0]
            for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        marker: dict[str, str] = {}
        if META.name in tables:
            marker = {str(k): str(v) for k, v in con.execute(f"SELECT key, value FROM {META.name}")}
        cols = (
            {r[1] for r in con.execute("PRAGMA table_info(tasks)")} if "tasks" in tables else set()
        )
        # b-tree structure of every page (not the slower cross-index check): a damaged page
        # is found here, not as missing rows in a ranking
        check = con.execute("PRAGMA quick_check(1)").fetchone()
        if check is None or check[0] != "ok":
            first = " ".join(str(check[0] if check else "no answer").split())[:120]
            raise sqlite3.DatabaseError(f"database disk image is malformed ({first})")
    finally:
        con.close()
    return tables, marker, cols


def _classify(
    where: str, tables: set[str], marker: dict[str, str], cols: set[str], option: str
) -> str:
    """``"marked"``, ``"adopt"`` (old halidelab store) or ``"empty"``; else StoreError."""
    if marker:
        if marker.get("schema") != SCHEMA_NAME:
            raise StoreError(
                f"{where} is not a halidelab results store (its halidelab_meta says "
                f"{marker.get('schema')!r}): give another {option}"
            )
        try:
            version = int(marker.get("schema_version", "0"))
        except ValueError:
            version = 0
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{where} was written by a newer halidelab (store schema {version}, "
                f"this one reads {SCHEMA_VERSION}): upgrade halidelab"
            )
        if "tasks" not in tables or not _TASK_COLUMNS <= cols:
            raise StoreError(
                f"{where} is a damaged halidelab store (its tasks table is missing "
                f"or incomplete): " + _recover_hint(where)
            )
        return "marked"
    if not tables:
        return "empty"
    if tables <= {"tasks", META.name} and ("tasks" not in tables or cols == _TASK_COLUMNS):
        # a store written before the marker existed (or whose marker write was cut off)
        return "adopt"
    shown = ", ".join(sorted(tables)[:5]) + (" ..." if len(tables) > 5 else "")
    raise StoreError(
        f"{where} is not a halidelab results store (it holds the tables {shown} and no "
        f"halidelab schema marker): it belongs to another program; give another {option}"
    )


class Store:
    """A results store at a path (SQLite) or an SQLAlchemy URL.

    Parameters
    ----------
    target : str or Path
        ``results.sqlite`` or ``postgresql+psycopg://user@host/db``.
    read_only : bool
        Open for reading only (``results``, ``compare``, reports): the file must be an
        existing halidelab store; nothing in it changes.
    option : str
        The CLI option that named the store, for messages (``--db``, ``--store``).

    Raises
    ------
    StoreError
        A missing or empty file (read-only), a database of another program, a newer
        schema, a damaged or read-only file, or a driver that is not installed.
    """

    def __init__(self, target: str | Path, read_only: bool = False, option: str = "--db"):
        self.read_only = read_only
        self.path = _sqlite_path(target)
        self.option = option
        text = str(target)
        self.url = f"sqlite:///{self.path}" if self.path is not None else text
        self._where = str(self.path) if self.path is not None else _safe_url(text)
        try:
            if self.path is not None:
                self._open_sqlite()
            else:
                self._open_url(text)
        except StoreError:
            raise
        except sa.exc.SQLAlchemyError as exc:
            raise _translate(exc, self._where, self.path) from None
        except sqlite3.Error as exc:
            raise _translate(exc, self._where, self.path) from None
        except ModuleNotFoundError as exc:
            raise StoreError(
                f"cannot open {self._where}: driver missing ({exc.name}); "
                "pip install 'halidelab[cluster]'"
            ) from None

    # -- opening -----------------------------------------------------------------------
    def _open_sqlite(self) -> None:
        path = self.path
        assert path is not None
        where = self._where
        if path.is_dir():
            raise StoreError(f"{where} is a folder: give a database file such as results.sqlite")
        exists = path.is_file()
        size = path.stat().st_size if exists else 0
        if self.read_only:
            if not exists:
                raise StoreError(
                    f"results store {where} not found: give the {self.option} file "
                    "a screen or reproduce wrote"
                )
            if size == 0:
                raise StoreError(
                    f"{where} is empty (0 bytes): it is not a results store; give the "
                    f"{self.option} file a screen or reproduce wrote"
                )
        if exists and size > 0:
            with path.open("rb") as fh:
                head = fh.read(16)
            if head != SQLITE_HEADER:
                raise StoreError(
                    f"{where} is not an SQLite database (a {size}-byte file of another "
                    f"kind): give another {self.option} file"
                )
        if not exists and not path.parent.is_dir():
            raise StoreError(
                f"{self.option} {where}: the folder {path.parent} does not exist; create it first"
            )
        state = "empty"
        if exists and size > 0:
            state = _classify(where, *_inspect_sqlite(path), self.option)
        if self.read_only:
            uri = f"file:{urllib.parse.quote(str(path))}?mode=ro"

            def connect() -> sqlite3.Connection:
                con = sqlite3.connect(
                    uri, uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False
                )
                con.execute("PRAGMA query_only=1")
                return con

            if state == "empty":
                raise StoreError(
                    f"{where} is an empty SQLite database, not a results store: give "
                    f"the {self.option} file a screen or reproduce wrote"
                )
            self.engine = sa.create_engine("sqlite://", creator=connect, poolclass=sa.pool.NullPool)
            return
        if exists and not os.access(path, os.W_OK):
            raise _translate(StoreError("attempt to write a readonly database"), where, path)
        if not os.access(path.parent, os.W_OK):
            raise StoreError(
                f"the folder of {where} is read-only: SQLite writes its journal "
                f"({path.name}-wal) there; make it writable or give another "
                f"{self.option} file"
            )
        self.engine = sa.create_engine(
            self.url, connect_args={"timeout": BUSY_TIMEOUT_S}, poolclass=sa.pool.NullPool
        )

        @sa.event.listens_for(self.engine, "connect")
        def _pragmas(dbapi_conn, _record):  # pragma: no cover - driver hook
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            cur.close()

        self._create(state)

    def _open_url(self, url: str) -> None:
        self.engine = sa.create_engine(url, pool_pre_ping=True)
        insp = sa.inspect(self.engine)
        tables = set(insp.get_table_names())
        marker: dict[str, str] = {}
        if META.name in tables:
            with self._conn() as conn:
                marker = {
                    str(k): str(v) for k, v in conn.execute(sa.select(META.c.key, META.c.value))
                }
        cols = {c["name"] for c in insp.get_columns("tasks")} if "tasks" in tables else set()
        state = _classify(self._where, tables, marker, cols, self.option)
        if self.read_only:
            if state == "empty":
                raise StoreError(
                    f"{self._where} holds no halidelab tables: it is not a results "
                    "store yet (run a screen on it first)"
                )
            return
        self._create(state)

    def _create(self, state: str) -> None:
        """Create the tables and the marker in one transaction (new or adopted store)."""
        if state == "marked":
            return
        rows = {"schema": SCHEMA_NAME, "schema_version": str(SCHEMA_VERSION), "created_utc": _now()}
        attempts = 6
        for attempt in range(attempts):
            try:
                with self.engine.begin() as conn:
                    _META.create_all(conn)
                    have = {k for (k,) in conn.execute(sa.select(META.c.key))}
                    for k, v in rows.items():
                        if k not in have:
                            conn.execute(META.insert().values(key=k, value=v))
                return
            except StoreError:
                raise
            except (sa.exc.OperationalError, sa.exc.ProgrammingError, sa.exc.IntegrityError) as exc:
                # two runs creating the schema at the same moment: the loser sees "already
                # exists" or a duplicate marker row, or (SQLite WAL) its read transaction cannot
                # become a write transaction after the other's commit and gets SQLITE_BUSY at
                # once, without the busy timeout; the schema is there (or about to be): again
                msg = str(exc).lower()
                if attempt == attempts - 1 or not any(
                    s in msg for s in ("already exists", "unique", "duplicate", "locked", "busy")
                ):
                    raise
                time.sleep(0.2 * (attempt + 1))

    @contextlib.contextmanager
    def _conn(self, write: bool = False) -> Iterator[sa.Connection]:
        """A connection (a transaction when writing) with database errors as StoreError."""
        if write and self.read_only:
            raise StoreError(f"{self._where} was opened read-only: this operation writes")
        try:
            with self.engine.begin() if write else self.engine.connect() as conn:
                yield conn
        except sa.exc.SQLAlchemyError as exc:
            raise _translate(exc, self._where, self.path) from None

    # -- writing -----------------------------------------------------------------------
    def add(
        self, key: str, kind: str, label: str, inputs: dict[str, Any], code_version: str
    ) -> None:
        """Register a task as pending unless the key is already known."""
        values = dict(
            key=key,
            kind=kind,
            label=label,
            inputs=json.dumps(inputs, default=str),
            status="pending",
            attempts=0,
            code_version=code_version,
            updated_utc=_now(),
        )
        with self._conn(write=True) as conn:
            exists = conn.execute(sa.select(TASKS.c.key).where(TASKS.c.key == key)).first()
            if exists:
                return
            dialect = self.engine.dialect.name
            if dialect in ("sqlite", "postgresql"):
                # INSERT ... ON CONFLICT DO NOTHING: a concurrent run inserting the same key
                # is not an error, and (PostgreSQL) does not abort this transaction.
                mod = __import__(f"sqlalchemy.dialects.{dialect}", fromlist=["insert"])
                conn.execute(
                    mod.insert(TASKS)
                    .values(**values)
                    .on_conflict_do_nothing(index_elements=["key"])
                )
                return
            try:
                conn.execute(TASKS.insert().values(**values))
            except sa.exc.IntegrityError:  # another run inserted it meanwhile
                pass

    def start(self, key: str) -> None:
        """Mark a task running (one more attempt)."""
        worker = f"{socket.gethostname()}:{os.getpid()}"
        with self._conn(write=True) as conn:
            conn.execute(
                TASKS.update()
                .where(TASKS.c.key == key)
                .values(
                    status="running",
                    attempts=TASKS.c.attempts + 1,
                    worker=worker,
                    updated_utc=_now(),
                )
            )

    def finish(self, key: str, result: dict[str, Any], duration_s: float) -> None:
        """Store a result and mark the task done, atomically."""
        with self._conn(write=True) as conn:
            conn.execute(
                TASKS.update()
                .where(TASKS.c.key == key)
                .values(
                    status="done",
                    result=json.dumps(result, default=str),
                    error=None,
                    duration_s=duration_s,
                    updated_utc=_now(),
                )
            )

    def fail(self, key: str, error: str, duration_s: float | None = None) -> None:
        """Record a failure with its one-line reason."""
        with self._conn(write=True) as conn:
            conn.execute(
                TASKS.update()
                .where(TASKS.c.key == key)
                .values(
                    status="failed", error=error[:2000], duration_s=duration_s, updated_utc=_now()
                )
            )

    def claim(self, key: str) -> bool:
        """Atomically mark a ``pending``/``failed`` task running for this process.

        Returns False when the task is ``done`` or ``running`` under another live run, so
        two runs on one store never compute the same task at the same time.
        """
        worker = f"{socket.gethostname()}:{os.getpid()}"
        with self._conn(write=True) as conn:
            res = conn.execute(
                TASKS.update()
                .where((TASKS.c.key == key) & TASKS.c.status.in_(("pending", "failed")))
                .values(
                    status="running",
                    attempts=TASKS.c.attempts + 1,
                    worker=worker,
                    updated_utc=_now(),
                )
            )
            return int(res.rowcount or 0) == 1

    def reset_stale(self, stale_after_s: float = 6 * 3600.0) -> int:
        """Tasks left ``running`` by a killed run go back to ``pending``; returns how many.

        A row is stale when the process that claimed it (``worker`` = ``host:pid``) is this
        process (a previous, interrupted run), or a dead process on this host; rows held
        by a live process here (a second run on the same store) are left alone. Rows of
        another host are reset only after ``stale_after_s`` seconds without an update.
        """
        host = socket.gethostname()
        cutoff = (_dt.datetime.now(_dt.UTC) - _dt.timedelta(seconds=stale_after_s)).isoformat(
            timespec="seconds"
        )
        with self._conn(write=True) as conn:
            rows = conn.execute(
                sa.select(TASKS.c.key, TASKS.c.worker, TASKS.c.updated_utc).where(
                    TASKS.c.status == "running"
                )
            ).all()
            stale = [k for k, w, u in rows if _is_stale(w, u, host, cutoff)]
            for i in range(0, len(stale), 500):
                conn.execute(
                    TASKS.update()
                    .where(TASKS.c.key.in_(stale[i : i + 500]) & (TASKS.c.status == "running"))
                    .values(status="pending", updated_utc=_now())
                )
            return len(stale)

    # -- reading -----------------------------------------------------------------------
    def status(self, key: str) -> str | None:
        """Status of a key, or None when unknown."""
        with self._conn() as conn:
            row = conn.execute(sa.select(TASKS.c.status).where(TASKS.c.key == key)).first()
        return row[0] if row else None

    def result(self, key: str) -> dict[str, Any] | None:
        """The stored result of a done task."""
        with self._conn() as conn:
            row = conn.execute(
                sa.select(TASKS.c.result).where((TASKS.c.key == key) & (TASKS.c.status == "done"))
            ).first()
        return json.loads(row[0]) if row and row[0] else None

    def rows(self, kind: str | None = None, status: str | None = None) -> Iterator[dict[str, Any]]:
        """All task rows (inputs and result decoded), optionally filtered."""
        q = sa.select(TASKS)
        if kind:
            q = q.where(TASKS.c.kind == kind)
        if status:
            q = q.where(TASKS.c.status == status)
        with self._conn() as conn:
            for row in conn.execute(q.order_by(TASKS.c.kind, TASKS.c.label)):
                d = dict(row._mapping)
                d["inputs"] = json.loads(d["inputs"]) if d["inputs"] else {}
                d["result"] = json.loads(d["result"]) if d["result"] else None
                yield d

    def timings(
        self, kind: str, limit: int = 200, with_result: bool = False
    ) -> list[dict[str, Any]]:
        """The most recent done tasks of one kind with their measured wall time.

        Parameters
        ----------
        kind : str
            Task kind.
        limit : int
            At most this many rows, newest first (by the time they finished).
        with_result : bool
            Also decode each result (large for relaxations; off by default).

        Returns
        -------
        list of dict
            ``inputs`` (decoded), ``duration_s`` (s), ``worker`` and, when asked,
            ``result``. Rows without a recorded duration, or whose inputs, result or
            duration do not decode, are left out.
        """
        cols = [TASKS.c.inputs, TASKS.c.duration_s, TASKS.c.worker]
        if with_result:
            cols.append(TASKS.c.result)
        q = (
            sa.select(*cols)
            .where(
                (TASKS.c.kind == kind)
                & (TASKS.c.status == "done")
                & TASKS.c.duration_s.is_not(None)
            )
            .order_by(TASKS.c.updated_utc.desc())
            .limit(limit)
        )
        out = []
        with self._conn() as conn:
            for row in conn.execute(q):
                # a timing is a hint for an estimate: a row another program damaged (text
                # that is not JSON, a duration that is not a time) is passed over, not fatal
                try:
                    d = {
                        "inputs": json.loads(row.inputs) if row.inputs else {},
                        "duration_s": float(row.duration_s),
                        "worker": row.worker,
                    }
                    if with_result:
                        d["result"] = json.loads(row.result) if row.result else None
                except (TypeError, ValueError):
                    continue
                if (
                    isinstance(d["inputs"], dict)
                    and math.isfinite(d["duration_s"])
                    and d["duration_s"] >= 0
                ):
                    out.append(d)
        return out

    def counts(self) -> dict[str, int]:
        """Number of tasks per status."""
        with self._conn() as conn:
            rows = conn.execute(sa.select(TASKS.c.status, sa.func.count()).group_by(TASKS.c.status))
            out = dict.fromkeys(STATUSES, 0)
            out.update({s: int(n) for s, n in rows})
        return out

    def export(self, path: str | Path, kind: str | None = None) -> Path:
        """Write the rows as JSON (``.json``) or a flat CSV (``.csv``), atomically.

        Never over the store itself or another SQLite file (:mod:`halidelab.outputs`).
        """
        from halidelab.outputs import OutputGuard, write_json

        path = OutputGuard([self.path]).file(path, "export path")
        rows = list(self.rows(kind))
        if path.suffix.lower() == ".json":
            write_json(path, rows)
        elif path.suffix.lower() == ".csv":
            flat = [_flatten(r) for r in rows]
            cols = sorted({k for r in flat for k in r})
            with atomic_open(path, "w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=cols)
                w.writeheader()
                w.writerows(flat)
        else:
            raise StoreError(f"export to {path.suffix!r} is not supported: use .csv or .json")
        return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _is_stale(worker: str | None, updated: str | None, host: str, cutoff: str) -> bool:
    """Whether a ``running`` row's owner is gone (see :meth:`Store.reset_stale`)."""
    w_host, _, pid_text = (worker or "").rpartition(":")
    if w_host == host and pid_text.isdigit():
        pid = int(pid_text)
        return pid == os.getpid() or not _pid_alive(pid)
    return not updated or updated < cutoff


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            if k == "structure" or "lattice" in v and "sites" in v:
                continue
            out.update(_flatten(v, f"{name}."))
        elif isinstance(v, list | tuple):
            out[name] = (
                json.dumps(v, default=str)
                if len(json.dumps(v, default=str)) < 500
                else f"[{len(v)} items]"
            )
        else:
            out[name] = v
    return out
