"""A screen on a Dask LocalCluster with 2 worker processes survives a killed worker."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from distributed import Client, LocalCluster

from halidelab.screening.runner import run_tasks
from halidelab.screening.store import Store
from halidelab.screening.tasks import Task


def _pid() -> int:
    return os.getpid()


def test_killed_worker_tasks_finish_exactly_once(tmp_path):
    tasks = [
        Task(
            "models",
            f"x={x:.3f}",
            {
                "parent": "Li2ZrCl6",
                "supercell": 2,
                "n_configs": 1,
                "sweeps": 80,
                "seed": 1,
                "substitutions": [{"dopant": "Nb", "site": "Zr", "x": x}],
            },
        )
        for x in (0, 1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1.0)
    ]
    store = Store(tmp_path / "dask.sqlite")
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=50,
        ) as cluster,
        Client(cluster) as client,
    ):
        pids = client.run(_pid)
        victim = sorted(pids.values())[0]
        killed = threading.Event()
        done_at_kill: list[int] = []

        def killer():
            # kill one worker process (kill -9) once the run has started producing results
            deadline = time.time() + 120
            while time.time() < deadline and not killed.is_set():
                done = store.counts()["done"]
                if done >= 1:
                    done_at_kill.append(done)
                    os.kill(victim, signal.SIGKILL)
                    killed.set()
                    return
                time.sleep(0.05)

        th = threading.Thread(target=killer, daemon=True)
        th.start()
        summary = run_tasks(tasks, store, client=client, progress=False, retries=3)
        th.join(timeout=5)
    assert killed.is_set(), "the worker was never killed: the test did not test anything"
    assert done_at_kill[0] < len(tasks), "the kill came after the run: nothing was tested"
    assert not summary.failed, summary.failed
    assert store.counts() == {"pending": 0, "running": 0, "done": len(tasks), "failed": 0}
    rows = list(store.rows())
    assert len(rows) == len({r["key"] for r in rows}) == len(tasks)
    # the result is the right one for each task
    for t in tasks:
        res = store.result(t.key)
        x = t.inputs["substitutions"][0]["x"]
        assert res["x_modelled"]["Nb@Zr"] == pytest.approx(round(x * 6) / 6)


def test_a_halidelab_error_on_a_worker_is_recorded_once_not_retried(tmp_path, monkeypatch):
    """A task that fails with a halidelab error (the same on any worker) runs once and is
    stored as failed with its one-line reason; an unexpected error may be passing, so
    Dask's retries still apply to it. Threads in this process: the counting function is
    the one the worker calls."""
    from halidelab.errors import SimulationError
    from halidelab.screening.tasks import TASK_FUNCTIONS

    calls = {"known": 0, "odd": 0}

    def known(inputs):
        calls["known"] += 1
        raise SimulationError("no symmetry: a NEB study needs classes of equivalent hops")

    def odd(inputs):
        calls["odd"] += 1
        raise ValueError("something passing")

    monkeypatch.setitem(TASK_FUNCTIONS, "known-failure", known)
    monkeypatch.setitem(TASK_FUNCTIONS, "odd-failure", odd)
    tasks = [Task("known-failure", "k", {"a": 1}), Task("odd-failure", "o", {"a": 2})]
    store = Store(tmp_path / "fail.sqlite")
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=False,
            dashboard_address=None,
            silence_logs=50,
        ) as cluster,
        Client(cluster) as client,
    ):
        summary = run_tasks(tasks, store, client=client, progress=False, retries=2)
    assert calls == {"known": 1, "odd": 3}
    assert summary.failed[tasks[0].key] == (
        "SimulationError: no symmetry: a NEB study needs classes of equivalent hops"
    )
    assert summary.failed[tasks[1].key].startswith("ValueError: something passing")
    assert store.counts()["failed"] == 2
