"""The results store: every task keyed by the hash of its inputs, in SQL.

SQLite by default (one file, WAL journal so readers never block the writer, a busy
timeout so two runs on one file wait instead of failing); any SQLAlchemy URL
(``postgresql+psycopg://...``) for a group database. A task row goes
``pending -> running -> done | failed``; a result is written in the same transaction
that marks the task done, so a run killed at any moment loses at most the tasks in
flight, and a re-run skips every ``done`` key.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from halidelab.errors import StoreError

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

STATUSES = ("pending", "running", "done", "failed")


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _url(target: str | Path) -> str:
    text = str(target)
    if "://" in text:
        return text
    path = Path(text).expanduser().resolve()
    if path.is_dir():
        raise StoreError(f"{path} is a folder: give a database file such as results.sqlite")
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


class Store:
    """A results store at a path (SQLite) or an SQLAlchemy URL.

    Parameters
    ----------
    target : str or Path
        ``results.sqlite`` or ``postgresql+psycopg://user@host/db``.
    """

    def __init__(self, target: str | Path):
        self.url = _url(target)
        try:
            if self.url.startswith("sqlite"):
                self.engine = sa.create_engine(
                    self.url, connect_args={"timeout": 60}, poolclass=sa.pool.NullPool
                )

                @sa.event.listens_for(self.engine, "connect")
                def _pragmas(dbapi_conn, _record):  # pragma: no cover - driver hook
                    cur = dbapi_conn.cursor()
                    cur.execute("PRAGMA journal_mode=WAL")
                    cur.execute("PRAGMA synchronous=NORMAL")
                    cur.execute("PRAGMA busy_timeout=60000")
                    cur.close()
            else:
                self.engine = sa.create_engine(self.url, pool_pre_ping=True)
            try:
                _META.create_all(self.engine)
            except (sa.exc.OperationalError, sa.exc.ProgrammingError, sa.exc.IntegrityError):
                # two runs creating the schema at the same moment: the loser sees "already
                # exists"; the schema is there (or nearly), so check again
                time.sleep(0.5)
                _META.create_all(self.engine)
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot open results store {self.url}: {exc.__class__.__name__}: "
                             f"{str(exc).splitlines()[0]}") from None
        except ModuleNotFoundError as exc:
            raise StoreError(f"cannot open {self.url}: driver missing ({exc.name}); "
                             "pip install 'halidelab[cluster]'") from None

    # -- writing -----------------------------------------------------------------------
    def add(self, key: str, kind: str, label: str, inputs: dict[str, Any], code_version: str) -> None:
        """Register a task as pending unless the key is already known."""
        values = dict(key=key, kind=kind, label=label, inputs=json.dumps(inputs, default=str),
                      status="pending", attempts=0, code_version=code_version, updated_utc=_now())
        with self.engine.begin() as conn:
            exists = conn.execute(sa.select(TASKS.c.key).where(TASKS.c.key == key)).first()
            if exists:
                return
            dialect = self.engine.dialect.name
            if dialect in ("sqlite", "postgresql"):
                # INSERT ... ON CONFLICT DO NOTHING: a concurrent run inserting the same key
                # is not an error, and (PostgreSQL) does not abort this transaction.
                mod = __import__(f"sqlalchemy.dialects.{dialect}", fromlist=["insert"])
                conn.execute(mod.insert(TASKS).values(**values).on_conflict_do_nothing(
                    index_elements=["key"]))
                return
            try:
                conn.execute(TASKS.insert().values(**values))
            except sa.exc.IntegrityError:  # another run inserted it meanwhile
                pass

    def start(self, key: str) -> None:
        """Mark a task running (one more attempt)."""
        worker = f"{socket.gethostname()}:{os.getpid()}"
        with self.engine.begin() as conn:
            conn.execute(TASKS.update().where(TASKS.c.key == key).values(
                status="running", attempts=TASKS.c.attempts + 1, worker=worker,
                updated_utc=_now()))

    def finish(self, key: str, result: dict[str, Any], duration_s: float) -> None:
        """Store a result and mark the task done, atomically."""
        with self.engine.begin() as conn:
            conn.execute(TASKS.update().where(TASKS.c.key == key).values(
                status="done", result=json.dumps(result, default=str), error=None,
                duration_s=duration_s, updated_utc=_now()))

    def fail(self, key: str, error: str, duration_s: float | None = None) -> None:
        """Record a failure with its one-line reason."""
        with self.engine.begin() as conn:
            conn.execute(TASKS.update().where(TASKS.c.key == key).values(
                status="failed", error=error[:2000], duration_s=duration_s, updated_utc=_now()))

    def claim(self, key: str) -> bool:
        """Atomically mark a ``pending``/``failed`` task running for this process.

        Returns False when the task is ``done`` or ``running`` under another live run, so
        two runs on one store never compute the same task at the same time.
        """
        worker = f"{socket.gethostname()}:{os.getpid()}"
        with self.engine.begin() as conn:
            res = conn.execute(TASKS.update().where(
                (TASKS.c.key == key) & TASKS.c.status.in_(("pending", "failed"))).values(
                status="running", attempts=TASKS.c.attempts + 1, worker=worker,
                updated_utc=_now()))
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
            timespec="seconds")
        with self.engine.begin() as conn:
            rows = conn.execute(sa.select(TASKS.c.key, TASKS.c.worker, TASKS.c.updated_utc)
                                .where(TASKS.c.status == "running")).all()
            stale = [k for k, w, u in rows if _is_stale(w, u, host, cutoff)]
            for i in range(0, len(stale), 500):
                conn.execute(TASKS.update().where(
                    TASKS.c.key.in_(stale[i:i + 500]) & (TASKS.c.status == "running")).values(
                    status="pending", updated_utc=_now()))
            return len(stale)

    # -- reading -----------------------------------------------------------------------
    def status(self, key: str) -> str | None:
        """Status of a key, or None when unknown."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(TASKS.c.status).where(TASKS.c.key == key)).first()
        return row[0] if row else None

    def result(self, key: str) -> dict[str, Any] | None:
        """The stored result of a done task."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(TASKS.c.result).where(
                (TASKS.c.key == key) & (TASKS.c.status == "done"))).first()
        return json.loads(row[0]) if row and row[0] else None

    def rows(self, kind: str | None = None, status: str | None = None) -> Iterator[dict[str, Any]]:
        """All task rows (inputs and result decoded), optionally filtered."""
        q = sa.select(TASKS)
        if kind:
            q = q.where(TASKS.c.kind == kind)
        if status:
            q = q.where(TASKS.c.status == status)
        with self.engine.connect() as conn:
            for row in conn.execute(q.order_by(TASKS.c.kind, TASKS.c.label)):
                d = dict(row._mapping)
                d["inputs"] = json.loads(d["inputs"]) if d["inputs"] else {}
                d["result"] = json.loads(d["result"]) if d["result"] else None
                yield d

    def counts(self) -> dict[str, int]:
        """Number of tasks per status."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(TASKS.c.status, sa.func.count()).group_by(TASKS.c.status))
            out = dict.fromkeys(STATUSES, 0)
            out.update({s: int(n) for s, n in rows})
        return out

    def export(self, path: str | Path, kind: str | None = None) -> Path:
        """Write the rows as JSON (``.json``) or a flat CSV (``.csv``)."""
        path = Path(path)
        rows = list(self.rows(kind))
        if path.suffix.lower() == ".json":
            path.write_text(json.dumps(rows, indent=2, default=str))
        elif path.suffix.lower() == ".csv":
            flat = [_flatten(r) for r in rows]
            cols = sorted({k for r in flat for k in r})
            with path.open("w", newline="") as fh:
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
            out[name] = json.dumps(v, default=str) if len(json.dumps(v, default=str)) < 500 else f"[{len(v)} items]"
        else:
            out[name] = v
    return out
