"""NVT molecular dynamics with an MLIP: checkpointed, resumable, watched for blow-ups.

``run_md(structure, temperature_K=600, steps=5000)`` integrates with ASE's Bussi
stochastic velocity rescaling (default; Bussi, Donadio & Parrinello, J. Chem. Phys. 126,
014101 (2007): canonical sampling with little disturbance of the dynamics, and a
conserved quantity to watch) or Langevin. Either all atoms move, or only Li
(``mobile="li"``: the framework is held by ``FixAtoms``; cheaper equilibration, but a
frozen lattice lowers D: the result says which was used).

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

import dataclasses
import hashlib
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from halidelab.errors import SimulationError, StructureError
from halidelab.records import Provenance, Record

THERMOSTATS = ("bussi", "langevin")
MOBILE = ("all", "li")


@dataclasses.dataclass(frozen=True)
class MDResult(Record):
    """One NVT run.

    Attributes
    ----------
    formula : str
    n_atoms, n_mobile : int
    mobile : {"all", "li"}
        Which atoms were integrated (``"li"``: framework fixed).
    temperature_K : float
        Thermostat target.
    mean_temperature_K, std_temperature_K : float
        Over the run (mobile degrees of freedom), after the first 10% of steps.
    steps : int
        Total steps now in the trajectory (including earlier, resumed parts).
    timestep_fs : float
    duration_ps : float
    thermostat : str
    thermostat_time_fs : float
        Bussi tau_T or 1/friction for Langevin.
    interval : int
        Steps between trajectory frames.
    n_frames : int
    trajectory : str
        Path of the ASE .traj file (unwrapped positions).
    resumed_from_step : int or None
    conserved_drift_eV_atom : float or None
        Largest |E_conserved(t) - E_conserved(0)| per atom (Bussi); None for Langevin,
        which has no conserved quantity.
    seed : int
    steps_per_s : float
        MD steps per wall-clock second in this call.
    wall_s : float
    provenance : Provenance
    """

    formula: str
    n_atoms: int
    n_mobile: int
    mobile: str
    temperature_K: float
    mean_temperature_K: float
    std_temperature_K: float
    steps: int
    timestep_fs: float
    duration_ps: float
    thermostat: str
    thermostat_time_fs: float
    interval: int
    n_frames: int
    trajectory: str
    resumed_from_step: int | None
    conserved_drift_eV_atom: float | None
    seed: int
    steps_per_s: float
    wall_s: float
    provenance: Provenance


def _params_key(params: dict[str, Any], atoms: Any) -> str:
    blob = json.dumps({**params, "numbers": atoms.numbers.tolist(),
                       "cell": np.round(atoms.cell.array, 6).tolist()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def closest_distance_A(atoms: Any, cutoff: float) -> float:
    """Smallest interatomic distance below ``cutoff`` (A), or ``inf`` if none (PBC aware)."""
    from ase.neighborlist import neighbor_list

    d = neighbor_list("d", atoms, cutoff)
    return float(d.min()) if len(d) else math.inf


def _truncate_trajectory(path: Path, last_step: int) -> int:
    """Drop frames written after ``last_step``; return the frames kept."""
    from ase.io.trajectory import Trajectory

    if not path.exists():
        return 0
    frames = list(Trajectory(str(path)))
    keep = [f for f in frames if f.info.get("step", -1) <= last_step]
    if len(keep) != len(frames):
        tmp = path.with_suffix(".tmp.traj")
        with Trajectory(str(tmp), "w") as tw:
            for f in keep:
                tw.write(f)
        os.replace(tmp, path)
    return len(keep)


def run_md(
    structure: Any,
    temperature_K: float,
    steps: int,
    trajectory: str | Path,
    timestep_fs: float = 2.0,
    calculator: Any = None,
    model: str = "chgnet",
    device: str = "auto",
    threads: int | None = None,
    modal: str | None = None,
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
    """Run (or resume) NVT molecular dynamics and write a trajectory.

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
    calculator : ase Calculator, optional
        Any ASE calculator; default ``potentials.get_calculator(model, device, threads)``.
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
        Called after every step (e.g. to stop a run from outside).

    Returns
    -------
    MDResult
    """
    from ase import units
    from ase.constraints import FixAtoms
    from ase.io.trajectory import Trajectory
    from ase.md.bussi import Bussi
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    from halidelab.potentials import get_calculator, provenance
    from halidelab.relax import to_atoms, to_structure

    if not (temperature_K > 0 and math.isfinite(temperature_K)):
        raise SimulationError(f"temperature must be > 0 K, got {temperature_K}")
    if steps < 1 or interval < 1 or timestep_fs <= 0 or thermostat_time_fs <= 0:
        raise SimulationError("need steps >= 1, interval >= 1, timestep_fs > 0 and thermostat_time_fs > 0")
    thermostat = thermostat.lower()
    if thermostat not in THERMOSTATS:
        raise SimulationError(f"unknown thermostat {thermostat!r}; use one of {THERMOSTATS}")
    mobile = mobile.lower()
    if mobile not in MOBILE:
        raise SimulationError(f"mobile must be one of {MOBILE}, got {mobile!r}")
    checkpoint_every = max(interval, int(math.ceil(checkpoint_every / interval)) * interval)

    atoms = to_atoms(structure)
    symbols = np.array(atoms.get_chemical_symbols())
    if mobile == "li":
        if not (symbols == "Li").any():
            raise StructureError("mobile='li' but the structure has no Li")
        atoms.set_constraint(FixAtoms(indices=np.where(symbols != "Li")[0]))
    n_mobile = int((symbols == "Li").sum()) if mobile == "li" else len(atoms)
    calc = calculator if calculator is not None else get_calculator(model, device, threads, modal)
    atoms.calc = calc

    traj_path = Path(trajectory)
    if traj_path.suffix != ".traj":
        traj_path = traj_path.with_suffix(".traj")
    traj_path.parent.mkdir(parents=True, exist_ok=True)
    ckpt_path = traj_path.with_suffix(".ckpt.json")
    params = {"temperature_K": float(temperature_K), "timestep_fs": float(timestep_fs),
              "thermostat": thermostat, "thermostat_time_fs": float(thermostat_time_fs),
              "mobile": mobile, "seed": int(seed), "interval": int(interval)}
    key = _params_key(params, atoms)

    rng = np.random.default_rng(seed)
    start, resumed, transferred, e_cons0 = 0, None, 0.0, None
    temps: list[float] = []
    if resume and ckpt_path.exists():
        try:
            ck = json.loads(ckpt_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise SimulationError(f"checkpoint {ckpt_path} is unreadable ({exc}); delete it to start over") from None
        if ck.get("key") != key:
            raise SimulationError(f"checkpoint {ckpt_path} belongs to a run with other inputs "
                                  f"({ck.get('params')}); use another trajectory name or delete it")
        atoms.set_positions(np.array(ck["positions"]), apply_constraint=False)
        atoms.set_momenta(np.array(ck["momenta"]), apply_constraint=False)
        rng.bit_generator.state = ck["rng_state"]
        start, resumed = int(ck["step"]), int(ck["step"])
        transferred, e_cons0 = float(ck["transferred_eV"]), ck["e_conserved0_eV"]
        temps = list(ck.get("temperatures", []))
        n_frames = _truncate_trajectory(traj_path, start)
    else:
        for p in (traj_path, ckpt_path):
            if p.exists():
                p.unlink()
        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)
        if mobile == "all":
            Stationary(atoms)
        else:
            mom = atoms.get_momenta()
            mom[symbols != "Li"] = 0.0
            atoms.set_momenta(mom, apply_constraint=False)
        n_frames = 0

    dt = timestep_fs * units.fs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if thermostat == "bussi":
            dyn = Bussi(atoms, dt, temperature_K=temperature_K, taut=thermostat_time_fs * units.fs, rng=rng)
            dyn.transferred_energy = transferred
        else:
            dyn = Langevin(atoms, dt, temperature_K=temperature_K,
                           friction=1.0 / (thermostat_time_fs * units.fs), rng=rng)
    dyn.nsteps = start

    def conserved() -> float | None:
        if thermostat != "bussi":
            return None
        return float(atoms.get_potential_energy() + atoms.get_kinetic_energy() - dyn.transferred_energy)

    if e_cons0 is None:
        e_cons0 = conserved()
    max_drift = 0.0 if thermostat == "bussi" else None
    window: list[float] = []
    n = len(atoms)

    def frame(step: int) -> None:
        atoms.info["step"] = step
        atoms.info["time_ps"] = step * timestep_fs / 1000.0
        with Trajectory(str(traj_path), "a") as tw:
            tw.write(atoms)

    def checkpoint(step: int) -> None:
        _write_json_atomic(ckpt_path, {
            "key": key, "params": params, "step": step,
            "positions": atoms.get_positions().tolist(), "momenta": atoms.get_momenta().tolist(),
            "rng_state": rng.bit_generator.state,
            "transferred_eV": float(getattr(dyn, "transferred_energy", 0.0)),
            "e_conserved0_eV": e_cons0, "temperatures": temps,
        })

    def check(step: int) -> None:
        nonlocal max_drift
        dmin = closest_distance_A(atoms, min_distance_A)
        if dmin < min_distance_A:
            raise SimulationError(f"atoms {dmin:.2f} A apart at step {step} (limit {min_distance_A} A): "
                                  "the potential let the structure collapse; lower the temperature or timestep")
        t_mean = float(np.mean(window)) if window else float(atoms.get_temperature())
        if t_mean > max_temperature_factor * temperature_K:
            raise SimulationError(f"temperature ran away to {t_mean:.0f} K at step {step} (target "
                                  f"{temperature_K:g} K): lower the timestep or check the structure")
        if thermostat == "bussi":
            drift = abs(conserved() - e_cons0) / n
            max_drift = max(max_drift, drift)
            if drift > max_drift_eV_atom:
                raise SimulationError(f"conserved energy drifted {drift:.3f} eV/atom by step {step} "
                                      f"(limit {max_drift_eV_atom}): lower the timestep")
        window.clear()

    t0 = time.perf_counter()
    if start == 0:
        check(0)
        frame(0)
        n_frames = 1
        checkpoint(0)
    bar = None
    if progress and start < steps:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(TextColumn(f"MD {temperature_K:g} K"), BarColumn(),
                       TextColumn("{task.completed}/{task.total} steps"), TimeRemainingColumn())
        bar.start()
        task = bar.add_task("md", total=steps, completed=start)
    try:
        step = start
        if start < steps:
            for _ in dyn.irun(steps - start):
                if dyn.nsteps == step:  # irun yields once before the first step
                    continue
                step = dyn.nsteps
                t_inst = float(atoms.get_temperature())
                window.append(t_inst)
                temps.append(t_inst)
                if callback is not None:
                    callback(step, atoms)
                if step % interval == 0 or step == steps:
                    check(step)
                    frame(step)
                    n_frames += 1
                if step % checkpoint_every == 0 or step == steps:
                    checkpoint(step)
                if bar is not None:
                    bar.update(task, completed=step)
    finally:
        if bar is not None:
            bar.stop()
    wall = time.perf_counter() - t0
    burn = len(temps) // 10
    tt = np.array(temps[burn:]) if len(temps) > burn else np.array([atoms.get_temperature()])
    done = steps - start
    return MDResult(
        formula=to_structure(atoms).composition.reduced_formula,
        n_atoms=n,
        n_mobile=n_mobile,
        mobile=mobile,
        temperature_K=float(temperature_K),
        mean_temperature_K=float(tt.mean()),
        std_temperature_K=float(tt.std()),
        steps=int(max(step, start)),
        timestep_fs=float(timestep_fs),
        duration_ps=max(step, start) * timestep_fs / 1000.0,
        thermostat=thermostat,
        thermostat_time_fs=float(thermostat_time_fs),
        interval=int(interval),
        n_frames=int(n_frames),
        trajectory=str(traj_path),
        resumed_from_step=resumed,
        conserved_drift_eV_atom=max_drift,
        seed=int(seed),
        steps_per_s=done / wall if wall > 0 and done > 0 else 0.0,
        wall_s=wall,
        provenance=provenance("mlip-md-nvt", calc, {**params, "steps": steps}, seed=seed),
    )


def run_md_series(structure: Any, temperatures_K: Sequence[float], steps: int, out_dir: str | Path,
                  **kwargs: Any) -> list[MDResult]:
    """:func:`run_md` at several temperatures, one trajectory each (``md_<T>K.traj``).

    One after another: on a CPU running temperatures as one batch does not pay
    (``benchmarks/bench_md.py``); on a cluster give each temperature its own process.
    """
    if not temperatures_K:
        raise SimulationError("give at least one temperature")
    calc = kwargs.pop("calculator", None)
    if calc is None:
        from halidelab.potentials import get_calculator

        calc = get_calculator(kwargs.pop("model", "chgnet"), kwargs.pop("device", "auto"),
                              kwargs.pop("threads", None), kwargs.pop("modal", None))
    out = Path(out_dir)
    return [run_md(structure, float(t), steps, out / f"md_{float(t):g}K.traj", calculator=calc, **kwargs)
            for t in temperatures_K]
