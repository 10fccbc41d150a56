"""Dask executors for screening: a local cluster and SLURM/PBS job queues."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from halidelab.errors import HalidelabError

# -- executors -------------------------------------------------------------------------------
#: Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536 (to return memory to the
#: OS). Setting any malloc threshold switches off glibc's dynamic mmap threshold, so every
#: large numpy temporary is mmap'ed and zero-filled afresh: a BVSE map at 0.25 A took 7.6 s
#: of CPU with it and 3.7 s without (this machine, same structure). Screening workers keep
#: glibc's default.
NANNY_ENVIRON_FIX = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


def local_cluster(n_workers: int, **kwargs: Any) -> Any:
    """A Dask LocalCluster of single-threaded worker processes for screening tasks.

    Workers are processes (MLIP and numpy work parallelise across processes, not threads
    on a CPU) without Dask's malloc trim setting (see :data:`NANNY_ENVIRON_FIX`).
    """
    import dask
    from distributed import LocalCluster

    if n_workers < 1:
        raise HalidelabError(f"workers must be >= 1, got {n_workers}")
    opts: dict[str, Any] = dict(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=40,
    )
    opts.update(kwargs)
    with dask.config.set(NANNY_ENVIRON_FIX):
        return LocalCluster(**opts)


def jobqueue_cluster(
    kind: str,
    cores: int = 4,
    processes: int | None = None,
    memory: str = "8GB",
    walltime: str = "04:00:00",
    queue: str | None = None,
    account: str | None = None,
    python: str | None = None,
    job_extra: Sequence[str] = (),
) -> Any:
    """A dask-jobqueue cluster (not yet scaled: call ``.scale(jobs=N)`` to submit).

    Each job is one batch job running ``processes`` single-threaded Dask workers (default:
    one per core; on CPUs the MLIP tiers parallelise across processes, not threads, and
    each worker loads its model once).

    Parameters
    ----------
    kind : str
        ``"slurm"`` or ``"pbs"``.
    cores, processes : int
        Cores per job and worker processes per job.
    memory : str
        Memory per job, e.g. ``"16GB"``.
    walltime : str
        ``HH:MM:SS`` per job.
    queue, account : str, optional
        Partition/queue and account to charge.
    python : str, optional
        Python on the compute nodes (default: this interpreter).
    job_extra : sequence of str
        Extra scheduler directives, e.g. ``["--constraint=skylake"]``.

    Raises
    ------
    HalidelabError
        Unknown kind, or dask-jobqueue not installed.
    """
    import sys

    kind = kind.lower().strip()
    if kind not in ("slurm", "pbs"):
        raise HalidelabError(
            f"unknown cluster kind {kind!r}: use slurm or pbs (or --scheduler ADDRESS)"
        )
    if cores < 1:
        raise HalidelabError(f"cores per job must be >= 1, got {cores}")
    try:
        import dask_jobqueue
    except ModuleNotFoundError:
        raise HalidelabError(
            "--cluster needs dask-jobqueue, which is not installed: "
            "pip install 'halidelab[cluster]'"
        ) from None
    cls = dask_jobqueue.SLURMCluster if kind == "slurm" else dask_jobqueue.PBSCluster
    kwargs: dict[str, Any] = dict(
        cores=cores,
        processes=processes or cores,
        memory=memory,
        walltime=walltime,
        job_name="halidelab",
        python=python or sys.executable,
        scheduler_options={"dashboard_address": None},
    )
    if queue:
        kwargs["queue"] = queue
    if account:
        kwargs["account"] = account
    if job_extra:
        kwargs["job_extra_directives"] = list(job_extra)
    return cls(**kwargs)
