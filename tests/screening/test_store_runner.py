"""Results store and runner: skip finished work, survive SIGKILL, record failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from halidelab.errors import CompositionError, StoreError
from halidelab.screening.runner import run_tasks
from halidelab.screening.store import Store
from halidelab.screening.tasks import Task


def design_tasks(xs):
    return [
        Task(
            "design",
            f"Nb x={x}",
            {"parent": "Li2ZrCl6", "substitutions": [{"dopant": "Nb", "site": "Zr", "x": x}]},
        )
        for x in xs
    ]


def test_key_depends_on_inputs_not_label():
    a = Task("design", "a", {"parent": "Li2ZrCl6", "substitutions": []})
    b = Task("design", "b", {"substitutions": [], "parent": "Li2ZrCl6"})
    c = Task("design", "a", {"parent": "Li3YCl6", "substitutions": []})
    assert a.key == b.key != c.key


def test_rerun_skips_finished_tasks(tmp_path):
    store = Store(tmp_path / "r.sqlite")
    tasks = design_tasks([0, 0.1, 0.2])
    first = run_tasks(tasks, store, progress=False)
    assert len(first.computed) == 3 and not first.skipped
    res = store.result(tasks[2].key)
    assert res["composition"]["formula"] == "Li1.8Zr0.8Nb0.2Cl6"
    second = run_tasks(tasks + design_tasks([0.3]), store, progress=False)
    assert len(second.skipped) == 3 and len(second.computed) == 1
    assert store.counts()["done"] == 4


def test_failing_task_is_recorded_and_run_goes_on(tmp_path):
    store = Store(tmp_path / "r.sqlite")
    bad = Task(
        "design",
        "too much Nb",
        {"parent": "Li2ZrCl6", "substitutions": [{"dopant": "Nb", "site": "Zr", "x": 1.5}]},
    )
    summary = run_tasks([bad, *design_tasks([0.2])], store, progress=False)
    assert len(summary.computed) == 1
    assert "occupancy above 1" in summary.failed[bad.key]
    row = next(store.rows(status="failed"))
    assert row["label"] == "too much Nb" and "CompositionError" in row["error"]


def test_export_csv_and_json(tmp_path):
    store = Store(tmp_path / "r.sqlite")
    run_tasks(design_tasks([0, 0.2]), store, progress=False)
    data = json.loads(store.export(tmp_path / "r.json").read_text())
    assert {d["result"]["composition"]["formula"] for d in data} == {
        "Li2ZrCl6",
        "Li1.8Zr0.8Nb0.2Cl6",
    }
    text = store.export(tmp_path / "r.csv").read_text()
    assert "result.composition.formula" in text.splitlines()[0]
    with pytest.raises(StoreError):
        store.export(tmp_path / "r.xlsx")


def test_store_refuses_a_folder(tmp_path):
    with pytest.raises(StoreError):
        Store(tmp_path)


SCRIPT = textwrap.dedent("""
    import sys
    from halidelab.screening.runner import run_tasks
    from halidelab.screening.store import Store
    from halidelab.screening.tasks import Task
    tasks = [Task("models", f"x={x}", {"parent": "Li2ZrCl6", "supercell": 2, "n_configs": 1,
              "sweeps": 250, "seed": 0,
              "substitutions": [{"dopant": "Nb", "site": "Zr", "x": x}]})
             for x in (0.0, 1/6, 2/6, 3/6, 4/6, 5/6)]
    run_tasks(tasks, Store(sys.argv[1]), progress=False)
""")


def _same(a, b) -> bool:
    """Equal results: time stamps ignored, floats to 1e-9 (BLAS summation order varies)."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = (set(a) | set(b)) - {"created_utc"}
        return all(_same(a.get(k), b.get(k)) for k in keys)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9, abs=1e-12)
    return a == b


def test_sigkill_mid_run_then_resume_gives_same_results(tmp_path):
    db = tmp_path / "killed.sqlite"
    script = tmp_path / "plan.py"
    script.write_text(SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), str(db)], start_new_session=True)
    # wait until at least two tasks are done, then kill -9 in the middle of the run
    deadline = time.time() + 240
    while time.time() < deadline:
        time.sleep(0.1)
        if db.exists() and Store(db).counts()["done"] >= 2:
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = Store(db)
    done_before = {r["key"]: r["result"] for r in killed.rows(status="done")}
    assert 2 <= len(done_before) < 6, "the kill should land mid-run"

    # resume in this process: finished keys are not recomputed
    ns: dict = {}
    exec(SCRIPT.split("run_tasks(tasks")[0], ns)
    tasks = ns["tasks"]
    summary = run_tasks(tasks, killed, progress=False)
    assert set(summary.skipped) == set(done_before)
    assert len(summary.computed) == 6 - len(done_before)
    assert killed.counts() == {"pending": 0, "running": 0, "done": 6, "failed": 0}
    for key, res in done_before.items():
        assert killed.result(key) == res  # untouched

    # an uninterrupted run gives the same results
    clean = Store(tmp_path / "clean.sqlite")
    run_tasks(tasks, clean, progress=False)
    for t in tasks:
        assert _same(clean.result(t.key), killed.result(t.key))


def test_cached_computes_once_then_answers_from_the_store_or_the_memo(tmp_path):
    from halidelab.screening.runner import cached

    store = Store(tmp_path / "c.sqlite")
    task = Task("design", "lzc", {"parent": "Li2ZrCl6"})
    first, hit = cached(task, store)
    assert not hit and store.status(task.key) == "done" and store.result(task.key) == first
    again, hit = cached(task, Store(tmp_path / "c.sqlite"))  # another process's view of the file
    assert hit and again == first
    memo: dict = {}
    cached(task, None, memo)
    assert task.key in memo and cached(task, None, memo) == (memo[task.key], True)
    bad = Task("design", "bad", {"parent": "Xx2ZrCl6"})
    with pytest.raises(CompositionError):  # what the task raised, re-raised
        cached(bad, store)
    assert store.status(bad.key) == "failed"


def test_a_kind_revision_changes_only_that_kinds_keys(monkeypatch):
    """A kind whose results changed within one code version gets a revision: its keys
    change (a store made before computes it again), every other kind's stay."""
    from halidelab.screening import tasks as tasks_mod

    design = Task("design", "a", {"parent": "Li2ZrCl6", "substitutions": []})
    other = Task("rules", "r", {"parent": "Li2ZrCl6"})
    before, other_before = design.key, other.key
    monkeypatch.setitem(tasks_mod.KIND_REVISIONS, "design", 7)
    assert design.key != before and other.key == other_before
    monkeypatch.delitem(tasks_mod.KIND_REVISIONS, "design")
    assert design.key == before
