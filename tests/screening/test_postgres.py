"""The results store on a real PostgreSQL server, started here (skipped when none can be).

Same Store and runner code path as SQLite: add, run, skip finished keys, resume after a
killed run, leave a live run's tasks alone, and two concurrent runs on one database.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest

from halidelab.screening.runner import run_tasks
from halidelab.screening.store import Store
from halidelab.screening.tasks import Task


def _pg_bin() -> str | None:
    for ctl in (shutil.which("pg_ctl"), *sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))):
        if ctl and os.access(ctl, os.X_OK):
            d = os.path.dirname(os.path.realpath(ctl))
            if os.access(os.path.join(d, "initdb"), os.X_OK):
                return d
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pg_url():
    """Start a throw-away PostgreSQL on a loopback port; yield its SQLAlchemy URL."""
    pytest.importorskip("psycopg", reason="psycopg not installed: pip install 'halidelab[cluster]'")
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql")
    prefix: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root: run it as 'postgres'
        runuser = shutil.which("runuser")
        try:
            import pwd

            pw = pwd.getpwnam("postgres")
        except KeyError:
            pw = None
        if runuser is None or pw is None:
            pytest.skip(
                "running as root without a 'postgres' user or runuser: cannot start PostgreSQL"
            )
        prefix = [runuser, "-u", "postgres", "--"]
    root = tempfile.mkdtemp(prefix="halidelab-pg-")
    if prefix:
        os.chown(root, pw.pw_uid, pw.pw_gid)
    data, port = os.path.join(root, "data"), _free_port()

    def sh(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)

    r = sh(f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "halidelab", "-N", "-E", "UTF8")
    if r.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"initdb failed, cannot start PostgreSQL: {r.stderr.strip()[:300]}")
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    r = sh(
        f"{bindir}/pg_ctl", "-D", data, "-o", opts, "-l", os.path.join(root, "log"), "-w", "start"
    )
    if r.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"pg_ctl start failed, cannot start PostgreSQL: {r.stderr.strip()[:300]}")
    try:
        yield f"postgresql+psycopg://halidelab@127.0.0.1:{port}/postgres"
    finally:
        sh(f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_store(pg_url):
    store = Store(pg_url)
    from halidelab.screening.store import TASKS

    with store.engine.begin() as conn:
        conn.execute(TASKS.delete())
    return store


def design_tasks(xs):
    return [
        Task(
            "design",
            f"Nb x={x}",
            {"parent": "Li2ZrCl6", "substitutions": [{"dopant": "Nb", "site": "Zr", "x": x}]},
        )
        for x in xs
    ]


def test_add_run_skip_fail_export_on_postgres(pg_store, tmp_path):
    assert pg_store.engine.dialect.name == "postgresql"
    tasks = design_tasks([0, 0.1, 0.2])
    bad = Task(
        "design",
        "too much",
        {"parent": "Li2ZrCl6", "substitutions": [{"dopant": "Nb", "site": "Zr", "x": 1.5}]},
    )
    first = run_tasks([*tasks, bad], pg_store, progress=False)
    assert len(first.computed) == 3 and "occupancy above 1" in first.failed[bad.key]
    assert pg_store.result(tasks[2].key)["composition"]["formula"] == "Li1.8Zr0.8Nb0.2Cl6"
    # adding a known key again is a no-op (ON CONFLICT DO NOTHING), not an error
    pg_store.add(tasks[0].key, "design", "again", tasks[0].inputs, "x")
    second = run_tasks(tasks + design_tasks([0.3]), pg_store, progress=False)
    assert len(second.skipped) == 3 and len(second.computed) == 1
    assert pg_store.counts() == {"pending": 0, "running": 0, "done": 4, "failed": 1}
    data = json.loads(pg_store.export(tmp_path / "r.json").read_text())
    assert len(data) == 5


HOLDER = textwrap.dedent("""
    import sys, time
    from halidelab.screening.store import Store
    store = Store(sys.argv[1])
    for key in sys.argv[2:]:
        assert store.claim(key)
    print("claimed", flush=True)
    time.sleep(600)
""")


def test_live_run_is_left_alone_and_killed_run_resumes(pg_store, tmp_path):
    tasks = design_tasks([0.05, 0.15, 0.25, 0.35])
    for t in tasks:
        pg_store.add(t.key, t.kind, t.label, t.inputs, "v")
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    held = [tasks[0].key, tasks[1].key]
    proc = subprocess.Popen(
        [sys.executable, str(script), pg_store.url, *held], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "claimed"
        s = run_tasks(tasks, pg_store, progress=False)
        # the holder is alive: its two tasks are not stolen, the other two run here
        assert sorted(s.busy) == sorted(held) and len(s.computed) == 2
        assert {pg_store.status(k) for k in held} == {"running"}
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # kill -9 the holder mid-"computation"
        proc.wait()
    s2 = run_tasks(tasks, pg_store, progress=False)
    assert sorted(s2.computed) == sorted(held) and len(s2.skipped) == 2
    assert pg_store.counts() == {"pending": 0, "running": 0, "done": 4, "failed": 0}
    attempts = {r["key"]: r["attempts"] for r in pg_store.rows()}
    assert all(attempts[k] == 2 for k in held)  # claimed by the killed run, then by us


CONCURRENT = textwrap.dedent("""
    import json, sys
    from halidelab.screening.runner import run_tasks
    from halidelab.screening.store import Store
    from halidelab.screening.tasks import Task
    xs = [float(v) for v in sys.argv[2].split(",")]
    tasks = [Task("models", f"x={x}", {"parent": "Li2ZrCl6", "supercell": 2, "n_configs": 1,
              "sweeps": 60, "seed": 0, "substitutions": [{"dopant": "Nb", "site": "Zr", "x": x}]})
             for x in xs]
    s = run_tasks(tasks, Store(sys.argv[1]), progress=False)
    print(json.dumps({"computed": s.computed, "skipped": s.skipped, "busy": s.busy,
                      "failed": s.failed}))
""")


def test_two_concurrent_runs_on_one_postgres_database(pg_store, tmp_path):
    script = tmp_path / "run.py"
    script.write_text(CONCURRENT)
    a = ",".join(f"{i / 6:.6f}" for i in range(0, 5))
    b = ",".join(f"{i / 6:.6f}" for i in range(2, 7))
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), pg_store.url, xs],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for xs in (a, b)
    ]
    outs = []
    t0 = time.time()
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
        outs.append(json.loads(out.strip().splitlines()[-1]))
    assert time.time() - t0 < 300
    assert pg_store.counts() == {"pending": 0, "running": 0, "done": 7, "failed": 0}
    rows = list(pg_store.rows())
    assert len({r["key"] for r in rows}) == len(rows) == 7
    assert all(r["attempts"] == 1 for r in rows)
    computed = [k for o in outs for k in o["computed"]]
    assert len(computed) == len(set(computed)) == 7
    for o in outs:
        assert len(o["computed"]) + len(o["skipped"]) + len(o["busy"]) == 5
    for r in rows:
        x = r["inputs"]["substitutions"][0]["x"]
        assert r["result"]["x_modelled"]["Nb@Zr"] == pytest.approx(x, abs=1e-5)
