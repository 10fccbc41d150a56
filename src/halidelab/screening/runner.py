"""Run tasks against a results store: in this process or on Dask, resumable.

Finished keys are skipped; tasks a killed run left ``running`` are reset and rerun; a
task that raises is recorded as ``failed`` with its one-line reason and the run goes on.
Results are written by this (the client) process only, so SQLite sees one writer per run
and two runs on one file wait for each other instead of corrupting it. Each task is claimed
atomically before it runs: a task another live run is computing is left to that run and
listed in :attr:`RunSummary.busy`, so no task is computed twice at the same time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator, Sequence
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from halidelab.screening.cost import format_duration, stage_seconds
from halidelab.screening.store import Store
from halidelab.screening.tasks import CODE_VERSION, Task, execute


@dataclasses.dataclass
class RunSummary:
    """What a run did: keys computed, skipped (already done) and failed."""

    computed: list[str] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)
    failed: dict[str, str] = dataclasses.field(default_factory=dict)
    wall_s: float = 0.0
    #: keys another live run on the same store was computing (not run here)
    busy: list[str] = dataclasses.field(default_factory=list)


#: A stage estimated below this (s) gets no estimate in its title: it is over before one helps.
STAGE_ESTIMATE_FROM_S = 10.0


def _workers(client: Any | None) -> int:
    """Workers a stage runs on: 1 here, else the Dask cluster's threads (at least 1, as a
    batch cluster may have none yet)."""
    if client is None:
        return 1
    try:
        return max(sum(client.nthreads().values()), 1)
    except (AttributeError, OSError, TimeoutError):  # not a live Dask client
        return 1


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]


@contextlib.contextmanager
def _progress(enabled: bool, total: int, title: str) -> Iterator[tuple[Progress | None, Any]]:
    if not enabled or total == 0:
        yield None, None
        return
    prog = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    with prog:
        yield prog, prog.add_task(title, total=total)


def run_tasks(
    tasks: Sequence[Task],
    store: Store,
    client: Any | None = None,
    progress: bool = True,
    title: str = "tasks",
    retries: int = 2,
) -> RunSummary:
    """Run every task not already done; return what happened.

    Parameters
    ----------
    tasks : sequence of Task
        Independent tasks (one stage of a plan).
    store : Store
        Where results go; done keys are skipped.
    client : distributed.Client, optional
        Run on Dask (LocalCluster, remote scheduler or dask-jobqueue); None runs here.
    progress : bool
        Show a rich progress bar with the time left.
    retries : int
        Dask retries of a task that raised an unexpected error (a halidelab error is not
        retried: it would fail the same way); a task whose worker died is rescheduled by
        the scheduler (``distributed.scheduler.allowed-failures``).
    """
    t0 = time.perf_counter()
    summary = RunSummary()
    store.reset_stale()
    todo: list[Task] = []
    seen: set[str] = set()
    for task in tasks:
        key = task.key
        if key in seen:
            continue
        seen.add(key)
        store.add(key, task.kind, task.label, task.inputs, CODE_VERSION)
        if store.status(key) == "done":
            summary.skipped.append(key)
        else:
            todo.append(task)
    # claim atomically: a task another live run holds is left to it (summary.busy)
    claimed = []
    for task in todo:
        if store.claim(task.key):
            claimed.append(task)
        elif store.status(task.key) == "done":
            summary.skipped.append(task.key)
        else:
            summary.busy.append(task.key)
    todo = claimed
    if progress and todo:
        guess = stage_seconds(todo, store, _workers(client))
        if guess is not None and guess >= STAGE_ESTIMATE_FROM_S:
            # the bar's own time left needs tasks to finish first (minutes, for relaxations)
            title = f"{title} (about {format_duration(guess)} by this store's timings)"
    with _progress(progress, len(todo), title) as (prog, bar):
        if client is None:
            for task in todo:
                _run_local(task, store, summary)
                if prog is not None:
                    prog.advance(bar)
        else:
            _run_dask(todo, store, summary, client, retries, prog, bar)
    summary.wall_s = time.perf_counter() - t0
    return summary


def cached(
    task: Task, store: Store | None = None, memo: dict[str, dict[str, Any]] | None = None
) -> tuple[dict[str, Any], bool]:
    """One task's result now: from ``memo`` (this process), else the store, else computed
    here and written to both; the small cache of callers that need a single result inside
    their own work (the stability references) instead of a stage of :func:`run_tasks`.

    Returns
    -------
    (dict, bool)
        The result and whether it came from a cache.

    Raises
    ------
    Exception
        What the task raised (recorded in the store as ``failed`` with its one-line reason).
    """
    key = task.key
    if memo is not None and key in memo:
        return memo[key], True
    if store is not None:
        got = store.result(key)
        if got is not None:
            if memo is not None:
                memo[key] = got
            return got, True
        store.add(key, task.kind, task.label, task.inputs, CODE_VERSION)
        store.start(key)
    t0 = time.perf_counter()
    try:
        result = execute(task.kind, task.inputs)
    except BaseException as exc:
        if store is not None:
            store.fail(
                key,
                "interrupted" if isinstance(exc, KeyboardInterrupt) else _one_line(exc),
                time.perf_counter() - t0,
            )
        raise
    if store is not None:
        store.finish(key, result, time.perf_counter() - t0)
    if memo is not None:
        memo[key] = result
    return result, False


def _run_local(task: Task, store: Store, summary: RunSummary) -> None:
    key = task.key
    t = time.perf_counter()
    try:
        result = execute(task.kind, task.inputs)
    except KeyboardInterrupt:
        store.fail(key, "interrupted", time.perf_counter() - t)
        raise
    except Exception as exc:  # a failing task is recorded; the run goes on
        store.fail(key, _one_line(exc), time.perf_counter() - t)
        summary.failed[key] = _one_line(exc)
        return
    store.finish(key, result, time.perf_counter() - t)
    summary.computed.append(key)


def _timed_execute(
    kind: str, inputs: dict[str, Any]
) -> tuple[dict[str, Any] | None, float, str | None]:
    """(result, seconds, None), or (None, seconds, one-line reason) for a halidelab error.

    A halidelab error (bad input, a model the method does not apply to) is the same on
    every worker: it comes back as a value, so that Dask neither retries it (``retries``
    is for a worker that died or a passing fault) nor logs it as a crash with a traceback.
    """
    from halidelab.errors import HalidelabError

    t = time.perf_counter()
    try:
        return execute(kind, inputs), time.perf_counter() - t, None
    except HalidelabError as exc:
        return None, time.perf_counter() - t, _one_line(exc)


def _run_dask(
    todo: list[Task],
    store: Store,
    summary: RunSummary,
    client: Any,
    retries: int,
    prog: Progress | None,
    bar: Any,
) -> None:
    from distributed import as_completed

    futures = {}
    for task in todo:
        fut = client.submit(
            _timed_execute,
            task.kind,
            task.inputs,
            key=f"{task.kind}-{task.key}",
            retries=retries,
            pure=False,
        )
        futures[fut] = task
    try:
        for fut in as_completed(futures):
            task = futures[fut]
            try:
                result, dt, error = fut.result()
            except Exception as exc:  # unexpected error, or worker lost more than `retries` times
                error, dt = _one_line(exc), None
            if error is not None:
                store.fail(task.key, error, dt)
                summary.failed[task.key] = error
            else:
                store.finish(task.key, result, dt)
                summary.computed.append(task.key)
            if prog is not None:
                prog.advance(bar)
    except KeyboardInterrupt:
        for fut in futures:
            fut.cancel()
        raise
