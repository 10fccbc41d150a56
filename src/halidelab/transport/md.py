"""NVT molecular dynamics with an MLIP: checkpointed, resumable, watched for blow-ups.

``run_md(structure, temperature_K=600, steps=5000, trajectory="md.traj")`` is one task
of the engine's MD (:class:`halidelab.engine.md.MDBatch`, a batch of one): velocity
Verlet with Bussi stochastic velocity rescaling (default; Bussi, Donadio & Parrinello,
J. Chem. Phys. 126, 014101 (2007): canonical sampling with little disturbance of the
dynamics, and a conserved quantity to watch) or Langevin, both ASE's updates with ASE's
random streams. Either all atoms move, or only Li (``mobile="li"``: the framework is
held by ``FixAtoms``; cheaper equilibration, but a frozen lattice lowers D: the result
says which was used). :func:`run_md_series` runs several temperatures of one structure
together (one model call per step for all).

Every ``interval`` steps a frame (unwrapped positions, energy, forces, ``info["step"]``
and ``info["time_ps"]``) is appended to an ASE ``.traj`` file; every
``checkpoint_every`` steps the full state (positions, momenta, thermostat energy
account, random generator state) goes atomically to ``<trajectory>.ckpt.json``. Running
the same call again after a kill resumes from the last checkpoint (frames written after
it are dropped) and ends at the same total step count; with the same seed the resumed
trajectory equals an uninterrupted one.

Runs are stopped with :class:`~halidelab.errors.SimulationError` when atoms come closer
than ``min_distance_A``, when the temperature (averaged over a check window) exceeds
``max_temperature_factor`` x target, or when the conserved energy of the Bussi
thermostat drifts by more than ``max_drift_eV_atom``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from halidelab.engine.batch import as_evaluator
from halidelab.engine.md import MDBatch, MDFailure, MDResult, MDTask
from halidelab.errors import SimulationError
from halidelab.potentials import Potential

__all__ = ["MDResult", "run_md", "run_md_series"]


def run_md(
    structure: Any,
    temperature_K: float,
    steps: int,
    trajectory: str | Path,
    timestep_fs: float = 2.0,
    model: Potential | str = "chgnet",
    calculator: Any = None,
    thermostat: str = "bussi",
    thermostat_time_fs: float = 100.0,
    mobile: str = "all",
    seed: int = 0,
    interval: int = 10,
    checkpoint_every: int = 100,
    resume: bool = True,
    min_distance_A: float = 0.9,
    max_temperature_factor: float = 3.0,
    max_drift_eV_atom: float = 0.05,
    progress: bool = False,
    callback: Callable[[int, Any], None] | None = None,
) -> MDResult:
    """Run (or resume) NVT molecular dynamics of one structure and write a trajectory.

    Parameters
    ----------
    structure : pymatgen Structure or ase Atoms
        Ordered structure (partial occupancies are refused), ideally relaxed.
    temperature_K : float
        Thermostat temperature, K.
    steps : int
        Total number of MD steps wanted (a resumed run continues up to this).
    trajectory : path
        ASE ``.traj`` output; ``<trajectory>.ckpt.json`` holds the checkpoint.
    timestep_fs : float
        Integration time step, fs (2 fs is usual for Li halides with MLIPs; 1 fs if H).
    model : Potential or str
        The MLIP and where it runs.
    calculator : ase Calculator or BatchEvaluator, optional
        Any ASE calculator, used instead of ``model``.
    thermostat : {"bussi", "langevin"}
    thermostat_time_fs : float
        Bussi coupling time tau_T, or 1/friction for Langevin, fs.
    mobile : {"all", "li"}
        Integrate all atoms, or Li only (framework fixed).
    seed : int
        Seeds the initial Maxwell-Boltzmann velocities and the thermostat noise.
    interval : int
        Steps between frames.
    checkpoint_every : int
        Steps between checkpoints (rounded up to a multiple of ``interval``).
    resume : bool
        Continue from ``<trajectory>.ckpt.json`` when it exists and matches the inputs.
    min_distance_A, max_temperature_factor, max_drift_eV_atom : float
        Limits that stop an unphysical run with :class:`SimulationError`.
    progress : bool
        Show a rich progress bar with the time left.
    callback : callable(step, atoms), optional
        Called after every step, its frame and checkpoint written (e.g. to stop a run
        from outside; the checkpoint stays valid).

    Returns
    -------
    MDResult

    Raises
    ------
    SimulationError
        Bad settings, or the run went unphysical (the message says how).
    """
    sim = MDBatch(
        [MDTask(structure, float(temperature_K), trajectory, seed=seed)],
        steps,
        as_evaluator(model, calculator),
        timestep_fs=timestep_fs,
        thermostat=thermostat,
        thermostat_time_fs=thermostat_time_fs,
        mobile=mobile,
        interval=interval,
        checkpoint_every=checkpoint_every,
        resume=resume,
        min_distance_A=min_distance_A,
        max_temperature_factor=max_temperature_factor,
        max_drift_eV_atom=max_drift_eV_atom,
    )
    bar = None
    if progress and sim.n_running:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(
            TextColumn(f"MD {temperature_K:g} K"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} steps"),
            TimeRemainingColumn(),
        )
        bar.start()
        bar_task = bar.add_task("md", total=steps, completed=sim.runs[0].step)
    try:
        for step in sim:
            if callback is not None:
                callback(step, sim.atoms[0])
            if bar is not None:
                bar.update(bar_task, completed=step)
    finally:
        if bar is not None:
            bar.stop()
    (res,) = sim.results()
    if isinstance(res, MDFailure):
        raise SimulationError(res.message)
    return res


def run_md_series(
    structure: Any,
    temperatures_K: Sequence[float],
    steps: int,
    out_dir: str | Path,
    model: Potential | str = "chgnet",
    calculator: Any = None,
    seed: int = 0,
    **kwargs: Any,
) -> list[MDResult]:
    """:func:`run_md` at several temperatures, one trajectory each (``md_<T>K.traj``), together.

    All temperatures run as one batch (one model call per step for all of them).
    ``kwargs`` are those of :class:`halidelab.engine.md.MDBatch` (``timestep_fs``,
    ``thermostat``, ``mobile``, ``interval`` ...).

    Raises
    ------
    SimulationError
        A temperature went unphysical (the others ran to the end; their trajectories
        and checkpoints are on disk).
    """
    from halidelab.engine.md import run_md_batch

    if not temperatures_K:
        raise SimulationError("give at least one temperature")
    out = Path(out_dir)
    tasks = [
        MDTask(structure, float(t), out / f"md_{float(t):g}K.traj", seed=seed)
        for t in temperatures_K
    ]
    results = run_md_batch(tasks, steps, as_evaluator(model, calculator), **kwargs)
    failed = [r for r in results if isinstance(r, MDFailure)]
    if failed:
        raise SimulationError(
            "; ".join(f"{r.temperature_K:g} K stopped: {r.message}" for r in failed)
        )
    return results  # type: ignore[return-value]
