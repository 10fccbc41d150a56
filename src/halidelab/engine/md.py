"""Batched NVT molecular dynamics: many structures and temperatures in lock step.

``run_md_batch(tasks, steps)`` integrates every task (a structure at a temperature with
a seed) with the same scheme as :func:`halidelab.transport.md.run_md`: velocity Verlet
with Bussi stochastic velocity rescaling (Bussi, Donadio & Parrinello, J. Chem. Phys.
126, 014101 (2007)), ASE's ``Bussi`` update line for line, each task with its own
``numpy`` generator drawn in the same order as ASE's. The only shared thing is the
force call: all tasks still running are evaluated in one batched model call per step
(:class:`halidelab.engine.batch.BatchEvaluator`). So a task run in a batch follows the
trajectory :func:`run_md` would give with the same seed, up to the float noise of the
batched model call.

Per task, on disk, exactly what :func:`run_md` writes: an ASE ``.traj`` (unwrapped
positions, momenta, energy, forces, ``info["step"]`` and ``info["time_ps"]``; Li-only
runs carry their ``FixAtoms``) that :func:`halidelab.transport.diffusion.analyse_trajectory`
reads unchanged, and ``<trajectory>.ckpt.json`` with positions, momenta, the generator
state and the thermostat's energy account, written atomically every
``checkpoint_every`` steps. The checkpoint format and its input key are run_md's, so a
killed batch resumes (frames after the last checkpoint are dropped) and, with the same
tasks in the batch, continues identically.

A task that blows up (atoms closer than ``min_distance_A``, temperature run away,
conserved energy drift) is stopped and reported as :class:`MDFailure`; the other tasks
go on.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from halidelab.engine.batch import BatchEvaluator, as_evaluator, single_point_calculator
from halidelab.errors import SimulationError, StructureError
from halidelab.records import Provenance, Record


@dataclasses.dataclass(frozen=True)
class MDTask:
    """One MD run of a batch.

    Attributes
    ----------
    structure : pymatgen Structure or ase Atoms
        Ordered, ideally relaxed.
    temperature_K : float
        Thermostat target, K.
    trajectory : str or Path
        ``.traj`` output; the checkpoint goes next to it.
    seed : int
        Initial velocities and thermostat noise.
    """

    structure: Any
    temperature_K: float
    trajectory: str | Path
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class MDFailure(Record):
    """A task of a batch that was stopped (the others went on)."""

    trajectory: str
    temperature_K: float
    step: int
    message: str
    provenance: Provenance


@dataclasses.dataclass
class _Run:
    """Mutable state of one task."""

    task: MDTask
    atoms: Any
    traj: Path
    ckpt: Path
    params: dict[str, Any]
    key: str
    rng: np.random.Generator
    masses: np.ndarray  # (n, 1)
    fixed: np.ndarray  # bool (n,)
    ndof: int
    n_mobile: int
    momenta: np.ndarray
    step: int = 0
    resumed: int | None = None
    transferred: float = 0.0
    e_cons0: float | None = None
    temps: list[float] = dataclasses.field(default_factory=list)
    window: list[float] = dataclasses.field(default_factory=list)
    n_frames: int = 0
    forces: np.ndarray | None = None
    energy: float = 0.0
    max_drift: float = 0.0
    failed: str | None = None
    start: int = 0


def _kinetic(p: np.ndarray, masses: np.ndarray) -> float:
    # as ase.Atoms.get_kinetic_energy
    return float(0.5 * np.vdot(p, p / masses))


def run_md_batch(
    tasks: Sequence[MDTask],
    steps: int,
    timestep_fs: float = 2.0,
    evaluator: BatchEvaluator | None = None,
    model: str = "chgnet",
    device: str = "auto",
    threads: int | None = None,
    modal: str | None = None,
    enable_cueq: bool | None = None,
    max_atoms: int | None = None,
    thermostat_time_fs: float = 100.0,
    mobile: str = "all",
    interval: int = 10,
    checkpoint_every: int = 100,
    resume: bool = True,
    min_distance_A: float = 0.9,
    max_temperature_factor: float = 3.0,
    max_drift_eV_atom: float = 0.05,
    progress: Callable[[int, int], None] | None = None,
    callback: Callable[[int], None] | None = None,
) -> list[Any]:
    """Run (or resume) Bussi NVT for many tasks, one batched force call per step.

    Parameters
    ----------
    tasks : sequence of MDTask
        Structures x temperatures x seeds; every trajectory path must be distinct.
    steps : int
        Total steps wanted per task (resumed tasks continue up to this).
    timestep_fs : float
        Time step, fs.
    evaluator : BatchEvaluator, optional
        Default :func:`halidelab.engine.batch.get_evaluator` with ``model``, ``device``,
        ``threads``, ``modal``, ``enable_cueq``, ``max_atoms`` (atom budget per call).
    thermostat_time_fs : float
        Bussi coupling time tau_T, fs.
    mobile : {"all", "li"}
        Integrate all atoms, or Li only (framework fixed with ``FixAtoms``).
    interval : int
        Steps between frames (and between the blow-up checks).
    checkpoint_every : int
        Steps between checkpoints (rounded up to a multiple of ``interval``).
    resume : bool
        Continue each task from its checkpoint when it exists and matches its inputs.
    min_distance_A, max_temperature_factor, max_drift_eV_atom : float
        Limits that stop a task (see :func:`halidelab.transport.md.run_md`).
    progress : callable(step, n_running), optional
        After each batched step.
    callback : callable(step), optional
        After each batched step (raise to stop the batch; checkpoints stay valid).

    Returns
    -------
    list of MDResult or MDFailure
        One per task, in order (:class:`halidelab.transport.md.MDResult` as run_md).
    """
    from ase import units
    from ase.constraints import FixAtoms
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    from halidelab.relax import to_atoms
    from halidelab.transport.md import MOBILE, _params_key, _truncate_trajectory

    if not tasks:
        raise SimulationError("give at least one MD task")
    if steps < 1 or interval < 1 or timestep_fs <= 0 or thermostat_time_fs <= 0:
        raise SimulationError("need steps >= 1, interval >= 1, timestep_fs > 0 and thermostat_time_fs > 0")
    mobile = str(mobile).lower()
    if mobile not in MOBILE:
        raise SimulationError(f"mobile must be one of {MOBILE}, got {mobile!r}")
    checkpoint_every = max(interval, int(math.ceil(checkpoint_every / interval)) * interval)
    paths = []
    for t in tasks:
        if not isinstance(t, MDTask):
            raise SimulationError(f"tasks must be MDTask objects, got {type(t).__name__}")
        if not (t.temperature_K > 0 and math.isfinite(t.temperature_K)):
            raise SimulationError(f"temperature must be > 0 K, got {t.temperature_K}")
        p = Path(t.trajectory)
        paths.append(p if p.suffix == ".traj" else p.with_suffix(".traj"))
    if len({str(p.resolve()) for p in paths}) != len(paths):
        raise SimulationError("two tasks write the same trajectory: give each task its own path")
    ev = as_evaluator(evaluator, model, device, threads, modal, enable_cueq, max_atoms)
    dt = timestep_fs * units.fs

    runs: list[_Run] = []
    for t, traj in zip(tasks, paths, strict=True):
        atoms = to_atoms(t.structure)
        symbols = np.array(atoms.get_chemical_symbols())
        fixed = np.zeros(len(atoms), bool)
        if mobile == "li":
            if not (symbols == "Li").any():
                raise StructureError(f"{traj.name}: mobile='li' but the structure has no Li")
            fixed = symbols != "Li"
            atoms.set_constraint(FixAtoms(indices=np.where(fixed)[0]))
        traj.parent.mkdir(parents=True, exist_ok=True)
        params = {"temperature_K": float(t.temperature_K), "timestep_fs": float(timestep_fs),
                  "thermostat": "bussi", "thermostat_time_fs": float(thermostat_time_fs),
                  "mobile": mobile, "seed": int(t.seed), "interval": int(interval)}
        run = _Run(task=t, atoms=atoms, traj=traj, ckpt=traj.with_suffix(".ckpt.json"), params=params,
                   key=_params_key(params, atoms), rng=np.random.default_rng(t.seed),
                   masses=atoms.get_masses()[:, None], fixed=fixed,
                   ndof=int(atoms.get_number_of_degrees_of_freedom()),
                   n_mobile=int((~fixed).sum()), momenta=np.zeros((len(atoms), 3)))
        if resume and run.ckpt.exists():
            try:
                ck = json.loads(run.ckpt.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise SimulationError(f"checkpoint {run.ckpt} is unreadable ({exc}); delete it to start over") from None
            if ck.get("key") != run.key:
                raise SimulationError(f"checkpoint {run.ckpt} belongs to a run with other inputs "
                                      f"({ck.get('params')}); use another trajectory name or delete it")
            atoms.set_positions(np.array(ck["positions"]), apply_constraint=False)
            run.momenta = np.array(ck["momenta"], float)
            run.rng.bit_generator.state = ck["rng_state"]
            run.step = run.resumed = int(ck["step"])
            run.transferred, run.e_cons0 = float(ck["transferred_eV"]), ck["e_conserved0_eV"]
            run.temps = list(ck.get("temperatures", []))
            run.max_drift = float(ck.get("max_drift_eV_atom", 0.0))
            run.n_frames = _truncate_trajectory(traj, run.step)
        else:
            for p in (traj, run.ckpt):
                if p.exists():
                    p.unlink()
            MaxwellBoltzmannDistribution(atoms, temperature_K=t.temperature_K, rng=run.rng)
            if mobile == "all":
                Stationary(atoms)
            else:
                mom = atoms.get_momenta()
                mom[fixed] = 0.0
                atoms.set_momenta(mom, apply_constraint=False)
            run.momenta = atoms.get_momenta()
            if _kinetic(run.momenta, run.masses) < 1e-12:
                raise SimulationError(f"{traj.name}: zero initial kinetic energy; check the temperature")
        run.start = run.step
        runs.append(run)

    target_ke = [0.5 * r.task.temperature_K * units.kB * r.ndof for r in runs]
    exp_term = math.exp(-dt / (thermostat_time_fs * units.fs))

    def evaluate(active: list[int]) -> None:
        for i, res in zip(active, ev.evaluate([runs[i].atoms for i in active]), strict=True):
            r = runs[i]
            f = res.forces_eV_A.copy()
            f[r.fixed] = 0.0  # as FixAtoms.adjust_forces (get_forces(md=True))
            r.forces, r.energy = f, res.energy_eV
            r.atoms.calc = single_point_calculator(r.atoms, res)

    def temperature(r: _Run) -> float:
        return 2.0 * _kinetic(r.momenta, r.masses) / (r.ndof * units.kB)

    def conserved(r: _Run) -> float:
        return r.energy + _kinetic(r.momenta, r.masses) - r.transferred

    def frame(r: _Run) -> None:
        from ase.io.trajectory import Trajectory

        r.atoms.set_momenta(r.momenta, apply_constraint=False)
        r.atoms.info["step"] = r.step
        r.atoms.info["time_ps"] = r.step * timestep_fs / 1000.0
        with Trajectory(str(r.traj), "a") as tw:
            tw.write(r.atoms)
        r.n_frames += 1

    def checkpoint(r: _Run) -> None:
        from halidelab.transport.md import _write_json_atomic

        _write_json_atomic(r.ckpt, {
            "key": r.key, "params": r.params, "step": r.step,
            "positions": r.atoms.get_positions().tolist(), "momenta": r.momenta.tolist(),
            "rng_state": r.rng.bit_generator.state, "transferred_eV": r.transferred,
            "e_conserved0_eV": r.e_cons0, "temperatures": r.temps,
            "max_drift_eV_atom": r.max_drift, "engine": "halidelab.engine.md (batched)",
        })

    def check(r: _Run) -> str | None:
        from halidelab.transport.md import closest_distance_A

        dmin = closest_distance_A(r.atoms, min_distance_A)
        if dmin < min_distance_A:
            return (f"atoms {dmin:.2f} A apart at step {r.step} (limit {min_distance_A} A): the potential "
                    "let the structure collapse; lower the temperature or timestep")
        t_mean = float(np.mean(r.window)) if r.window else temperature(r)
        if t_mean > max_temperature_factor * r.task.temperature_K:
            return (f"temperature ran away to {t_mean:.0f} K at step {r.step} (target "
                    f"{r.task.temperature_K:g} K): lower the timestep or check the structure")
        drift = abs(conserved(r) - r.e_cons0) / len(r.atoms)
        r.max_drift = max(r.max_drift, drift)
        r.window.clear()
        if drift > max_drift_eV_atom:
            return (f"conserved energy drifted {drift:.3f} eV/atom by step {r.step} "
                    f"(limit {max_drift_eV_atom}): lower the timestep")
        return None

    t0 = time.perf_counter()
    active = [i for i, r in enumerate(runs) if r.step < steps or r.step == 0]
    if active:
        evaluate(active)
    for i in active:
        r = runs[i]
        if r.e_cons0 is None:
            r.e_cons0 = conserved(r)
        if r.step == 0:
            r.failed = check(r)
            if r.failed is None:
                frame(r)
                checkpoint(r)
    active = [i for i in active if runs[i].failed is None and runs[i].step < steps]

    while active:
        for i in active:
            r = runs[i]
            # Bussi velocity rescaling (ase.md.bussi.Bussi.scale_velocities, eq. A7)
            ke = _kinetic(r.momenta, r.masses)
            scale = (1.0 - exp_term) * target_ke[i] / ke / r.ndof
            r1 = r.rng.standard_normal()
            sum_r2 = 2.0 * r.rng.standard_gamma(0.5 * (r.ndof - 1))
            alpha = math.sqrt(exp_term + scale * (sum_r2 + r1**2) + 2.0 * r1 * math.sqrt(exp_term * scale))
            r.momenta = alpha * r.momenta
            r.momenta[r.fixed] = 0.0
            r.transferred += (alpha**2 - 1.0) * ke
            # velocity Verlet, first half kick and drift (ase.md.verlet.VelocityVerlet.step)
            p = r.momenta + 0.5 * dt * r.forces
            pos = r.atoms.get_positions()
            new = pos + dt * p / r.masses
            if r.fixed.any():
                new[r.fixed] = pos[r.fixed]
                p = (new - pos) * r.masses / dt  # RATTLE first half, as ASE with constraints
            r.atoms.set_positions(new, apply_constraint=False)
            r.momenta = p
        evaluate(active)
        for i in active:
            r = runs[i]
            r.momenta = r.momenta + 0.5 * dt * r.forces
            r.momenta[r.fixed] = 0.0
            r.step += 1
            t_inst = temperature(r)
            r.window.append(t_inst)
            r.temps.append(t_inst)
            if r.step % interval == 0 or r.step == steps:
                r.failed = check(r)
                if r.failed is not None:
                    continue
                frame(r)
            if r.step % checkpoint_every == 0 or r.step == steps:
                checkpoint(r)
        active = [i for i in active if runs[i].failed is None and runs[i].step < steps]
        lead = max(runs[i].step for i in active) if active else steps
        if progress is not None:
            progress(lead, len(active))
        if callback is not None:
            callback(lead)
    wall = time.perf_counter() - t0

    return [_result(r, steps, timestep_fs, thermostat_time_fs, mobile, interval, ev, len(runs), wall)
            for r in runs]


def _result(r: _Run, steps: int, timestep_fs: float, tau_fs: float, mobile: str, interval: int,
            ev: BatchEvaluator, n_tasks: int, wall: float) -> Any:
    from halidelab.relax import to_structure
    from halidelab.transport.md import MDResult

    prov = Provenance(method="mlip-md-nvt-batch", model=ev.info.get("name"),
                      model_version=ev.info.get("version"),
                      parameters={**r.params, "steps": steps, "device": ev.info.get("device"),
                                  "enable_cueq": ev.info.get("enable_cueq"),
                                  "batching": ev.info.get("batching"), "n_tasks": n_tasks,
                                  "max_atoms_per_call": ev.info.get("max_atoms_per_call")},
                      seed=int(r.task.seed))
    if r.failed is not None:
        return MDFailure(str(r.traj), float(r.task.temperature_K), int(r.step), r.failed, prov)
    burn = len(r.temps) // 10
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tt = np.array(r.temps[burn:]) if len(r.temps) > burn else np.array([np.nan])
    done = r.step - r.start
    return MDResult(
        formula=to_structure(r.atoms).composition.reduced_formula,
        n_atoms=len(r.atoms),
        n_mobile=r.n_mobile,
        mobile=mobile,
        temperature_K=float(r.task.temperature_K),
        mean_temperature_K=float(tt.mean()),
        std_temperature_K=float(tt.std()),
        steps=int(r.step),
        timestep_fs=float(timestep_fs),
        duration_ps=r.step * timestep_fs / 1000.0,
        thermostat="bussi",
        thermostat_time_fs=float(tau_fs),
        interval=int(interval),
        n_frames=int(r.n_frames),
        trajectory=str(r.traj),
        resumed_from_step=r.resumed,
        conserved_drift_eV_atom=float(r.max_drift),
        seed=int(r.task.seed),
        steps_per_s=done / wall if wall > 0 and done > 0 else 0.0,
        wall_s=wall,
        provenance=prov,
    )
