"""NVT molecular dynamics on the engine: many structures and temperatures in lock step.

:class:`MDBatch` integrates every task (a structure at a temperature with a seed) with
a thermostat that reproduces ASE's, update for update and random number for random
number (each task draws from its own ``numpy`` generator in ASE's order):

- ``bussi``: velocity Verlet with Bussi stochastic velocity rescaling (Bussi, Donadio &
  Parrinello, J. Chem. Phys. 126, 014101 (2007); ``ase.md.bussi.Bussi``, eq. A7):
  canonical sampling with little disturbance of the dynamics, and a conserved quantity
  (potential + kinetic - energy given to the bath) that is watched for drift;
- ``langevin``: the quasi-symplectic Langevin propagator of Vanden-Eijnden & Ciccotti,
  Chem. Phys. Lett. 429, 310 (2006), eq. 23 (``ase.md.langevin.Langevin`` with its
  centre-of-mass correction), friction 1 / ``thermostat_time_fs``; no conserved quantity.

The only thing tasks share is the force call: all tasks still running are evaluated in
one call of the evaluator per step (:class:`halidelab.engine.batch.BatchEvaluator`; on a
CPU the loop over structures is itself an evaluator). A task run in a batch follows the
trajectory it would follow alone, up to the float noise of the model call. One structure
is a batch of one (:func:`halidelab.transport.md.run_md`).

Either all atoms move, or only Li (``mobile="li"``: the framework is held by
``FixAtoms``, with ASE's RATTLE half-steps; cheaper equilibration, but a frozen lattice
lowers D: the result says which was used).

Per task, on disk: an ASE ``.traj`` (unwrapped positions, momenta, energy, forces,
``info["step"]`` and ``info["time_ps"]``; Li-only runs carry their ``FixAtoms``) that
:func:`halidelab.transport.diffusion.analyse_trajectory` reads, and
``<trajectory>.ckpt.json`` with positions, momenta, the generator state and the
thermostat's energy account, written atomically every ``checkpoint_every`` steps.
Running the same tasks again after a kill resumes each from its checkpoint (frames after
it are dropped) and, with the same tasks, continues identically. A task that blows up
(atoms closer than ``min_distance_A``, temperature run away, conserved energy drift) is
stopped and reported as :class:`MDFailure`; the other tasks go on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from halidelab.atoms import to_atoms, to_structure
from halidelab.engine.batch import BatchEvaluator, as_evaluator, single_point_calculator
from halidelab.errors import SimulationError, StructureError
from halidelab.potentials import provenance
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
        Wall time of the call (tasks run together share it).
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


def closest_distance_A(atoms: Any, cutoff: float) -> float:
    """Smallest interatomic distance below ``cutoff`` (A), or ``inf`` if none (PBC aware)."""
    from ase.neighborlist import neighbor_list

    d = neighbor_list("d", atoms, cutoff)
    return float(d.min()) if len(d) else math.inf


def _params_key(params: dict[str, Any], atoms: Any) -> str:
    blob = json.dumps(
        {
            **params,
            "numbers": atoms.numbers.tolist(),
            "cell": np.round(atoms.cell.array, 6).tolist(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


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


def _kinetic(p: np.ndarray, masses: np.ndarray) -> float:
    # as ase.Atoms.get_kinetic_energy
    return float(0.5 * np.vdot(p, p / masses))


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
    thermostat: Any = None
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

    def temperature(self) -> float:
        from ase import units

        return 2.0 * _kinetic(self.momenta, self.masses) / (self.ndof * units.kB)


class Bussi:
    """Velocity Verlet with Bussi velocity rescaling before each step (``ase.md.bussi.Bussi``)."""

    conserves_energy = True

    def __init__(self, run: _Run, dt: float, tau_fs: float) -> None:
        from ase import units

        self.dt = dt
        self.target_ke = 0.5 * run.task.temperature_K * units.kB * run.ndof
        self.exp_term = math.exp(-dt / (tau_fs * units.fs))

    def before_forces(self, r: _Run) -> None:
        """Rescale (eq. A7), half kick, drift (with RATTLE's first half for fixed atoms)."""
        ke = _kinetic(r.momenta, r.masses)
        scale = (1.0 - self.exp_term) * self.target_ke / ke / r.ndof
        r1 = r.rng.standard_normal()
        sum_r2 = 2.0 * r.rng.standard_gamma(0.5 * (r.ndof - 1))
        alpha = math.sqrt(
            self.exp_term + scale * (sum_r2 + r1**2) + 2.0 * r1 * math.sqrt(self.exp_term * scale)
        )
        r.momenta = alpha * r.momenta
        r.momenta[r.fixed] = 0.0
        r.transferred += (alpha**2 - 1.0) * ke
        # ase.md.verlet.VelocityVerlet.step
        p = r.momenta + 0.5 * self.dt * r.forces
        pos = r.atoms.get_positions()
        new = pos + self.dt * p / r.masses
        if r.fixed.any():
            new[r.fixed] = pos[r.fixed]
            p = (new - pos) * r.masses / self.dt
        r.atoms.set_positions(new, apply_constraint=False)
        r.momenta = p
        r.atoms.set_momenta(
            p, apply_constraint=False
        )  # as ASE: momenta on the atoms for the force call

    def after_forces(self, r: _Run) -> None:
        """Second half kick."""
        r.momenta = r.momenta + 0.5 * self.dt * r.forces
        r.momenta[r.fixed] = 0.0
        r.atoms.set_momenta(r.momenta, apply_constraint=False)


class Langevin:
    """Langevin dynamics, ``ase.md.langevin.Langevin`` (fixcm=True), friction 1 / tau."""

    conserves_energy = False

    def __init__(self, run: _Run, dt: float, tau_fs: float) -> None:
        from ase import units

        self.dt = dt
        fr = 1.0 / (tau_fs * units.fs)
        sigma = np.sqrt(2.0 * run.task.temperature_K * units.kB * fr / run.masses)
        self.c1 = dt / 2.0 - dt * dt * fr / 8.0
        self.c2 = dt * fr / 2 - dt * dt * fr * fr / 8.0
        self.c3 = np.sqrt(dt) * sigma / 2.0 - dt**1.5 * fr * sigma / 8.0
        self.c5 = dt**1.5 * sigma / (2 * np.sqrt(3))
        self.c4 = fr / 2.0 * self.c5
        self.v = np.zeros((len(run.atoms), 3))
        self.rnd_vel = np.zeros((len(run.atoms), 3))

    def before_forces(self, r: _Run) -> None:
        """Random kicks (centre of mass kept), first velocity half step, position step."""
        n = len(r.atoms)
        m = r.masses
        v = r.momenta / m
        xi = r.rng.standard_normal(size=(n, 3))
        eta = r.rng.standard_normal(size=(n, 3))
        rnd_pos = self.c5 * eta
        rnd_vel = self.c3 * xi - self.c4 * eta
        factor = math.sqrt(n / (n - 1.0))
        rnd_pos = (rnd_pos - rnd_pos.sum(axis=0) / n) * factor
        rnd_vel = (rnd_vel - (rnd_vel * m).sum(axis=0) / (m * n)) * factor
        v = v + self.c1 * r.forces / m - self.c2 * v + rnd_vel
        x = r.atoms.get_positions()
        new = x + self.dt * v + rnd_pos
        new[r.fixed] = x[r.fixed]  # FixAtoms
        r.atoms.set_positions(new, apply_constraint=False)
        self.v = (new - x - rnd_pos) / self.dt
        self.rnd_vel = rnd_vel

    def after_forces(self, r: _Run) -> None:
        """Second velocity half step."""
        v = self.v + self.c1 * r.forces / r.masses - self.c2 * self.v + self.rnd_vel
        r.momenta = v * r.masses
        r.momenta[r.fixed] = 0.0
        r.atoms.set_momenta(r.momenta, apply_constraint=False)


_THERMOSTAT_CLASSES = {"bussi": Bussi, "langevin": Langevin}


class MDBatch:
    """Run (or resume) NVT MD of many tasks, one batched force call per step.

    Iterating advances all running tasks step by step (it yields the step reached, after
    that step's frames and checkpoints are on disk; raise in the loop body to stop, the
    checkpoints stay valid); :meth:`results` gives the records. :func:`run_md_batch` is
    the loop for callers that need nothing in between.

    Parameters
    ----------
    tasks : sequence of MDTask
        Structures x temperatures x seeds; every trajectory path must be distinct.
    steps : int
        Total steps wanted per task (resumed tasks continue up to this).
    evaluator : BatchEvaluator, Potential, str or ase Calculator, optional
        The model (:func:`halidelab.engine.batch.as_evaluator`); default ``chgnet``.
    timestep_fs : float
        Time step, fs (2 fs is usual for Li halides with MLIPs; 1 fs with H).
    thermostat : {"bussi", "langevin"}
    thermostat_time_fs : float
        Bussi coupling time tau_T, or 1/friction for Langevin, fs.
    mobile : {"all", "li"}
        Integrate all atoms, or Li only (framework fixed with ``FixAtoms``).
    interval : int
        Steps between frames (and between the blow-up checks).
    checkpoint_every : int
        Steps between checkpoints (rounded up to a multiple of ``interval``).
    resume : bool
        Continue each task from its checkpoint when it exists and matches its inputs.
    min_distance_A : float
        Stop a task whose atoms come closer than this, A.
    max_temperature_factor : float
        Stop a task whose temperature (mean over a check window) exceeds this x target.
    max_drift_eV_atom : float
        Stop a Bussi task whose conserved energy drifts by more than this, eV/atom.
    """

    def __init__(
        self,
        tasks: Sequence[MDTask],
        steps: int,
        evaluator: Any = None,
        timestep_fs: float = 2.0,
        thermostat: str = "bussi",
        thermostat_time_fs: float = 100.0,
        mobile: str = "all",
        interval: int = 10,
        checkpoint_every: int = 100,
        resume: bool = True,
        min_distance_A: float = 0.9,
        max_temperature_factor: float = 3.0,
        max_drift_eV_atom: float = 0.05,
    ) -> None:
        if not tasks:
            raise SimulationError("give at least one MD task")
        if steps < 1 or interval < 1 or timestep_fs <= 0 or thermostat_time_fs <= 0:
            raise SimulationError(
                "need steps >= 1, interval >= 1, timestep_fs > 0 and thermostat_time_fs > 0"
            )
        thermostat = str(thermostat).lower()
        if thermostat not in THERMOSTATS:
            raise SimulationError(f"unknown thermostat {thermostat!r}; use one of {THERMOSTATS}")
        mobile = str(mobile).lower()
        if mobile not in MOBILE:
            raise SimulationError(f"mobile must be one of {MOBILE}, got {mobile!r}")
        paths = []
        for t in tasks:
            if not isinstance(t, MDTask):
                raise SimulationError(f"tasks must be MDTask objects, got {type(t).__name__}")
            if not (t.temperature_K > 0 and math.isfinite(t.temperature_K)):
                raise SimulationError(f"temperature must be > 0 K, got {t.temperature_K}")
            p = Path(t.trajectory)
            paths.append(p if p.suffix == ".traj" else p.with_suffix(".traj"))
        if len({str(p.resolve()) for p in paths}) != len(paths):
            raise SimulationError(
                "two tasks write the same trajectory: give each task its own path"
            )
        self.steps = int(steps)
        self.timestep_fs = float(timestep_fs)
        self.thermostat = thermostat
        self.tau_fs = float(thermostat_time_fs)
        self.mobile = mobile
        self.interval = int(interval)
        self.checkpoint_every = max(
            interval, int(math.ceil(checkpoint_every / interval)) * interval
        )
        self.min_distance_A = min_distance_A
        self.max_temperature_factor = max_temperature_factor
        self.max_drift_eV_atom = max_drift_eV_atom
        atoms_list = [
            to_atoms(t.structure) for t in tasks
        ]  # refuse bad input before loading a model
        self.evaluator: BatchEvaluator = as_evaluator(evaluator)
        self.runs = [
            self._prepare(t, a, p, resume) for t, a, p in zip(tasks, atoms_list, paths, strict=True)
        ]
        self.wall_s = 0.0

    @property
    def atoms(self) -> list[Any]:
        """The live ``Atoms`` of each task (positions, momenta and last forces as they are now)."""
        return [r.atoms for r in self.runs]

    def _prepare(self, t: MDTask, atoms: Any, traj: Path, resume: bool) -> _Run:
        from ase import units
        from ase.constraints import FixAtoms
        from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

        symbols = np.array(atoms.get_chemical_symbols())
        fixed = np.zeros(len(atoms), bool)
        if self.mobile == "li":
            if not (symbols == "Li").any():
                raise StructureError(f"{traj.name}: mobile='li' but the structure has no Li")
            fixed = symbols != "Li"
            atoms.set_constraint(FixAtoms(indices=np.where(fixed)[0]))
        traj.parent.mkdir(parents=True, exist_ok=True)
        params = {
            "temperature_K": float(t.temperature_K),
            "timestep_fs": self.timestep_fs,
            "thermostat": self.thermostat,
            "thermostat_time_fs": self.tau_fs,
            "mobile": self.mobile,
            "seed": int(t.seed),
            "interval": self.interval,
        }
        run = _Run(
            task=t,
            atoms=atoms,
            traj=traj,
            ckpt=traj.with_suffix(".ckpt.json"),
            params=params,
            key=_params_key(params, atoms),
            rng=np.random.default_rng(t.seed),
            masses=atoms.get_masses()[:, None],
            fixed=fixed,
            ndof=int(atoms.get_number_of_degrees_of_freedom()),
            n_mobile=int((~fixed).sum()),
            momenta=np.zeros((len(atoms), 3)),
        )
        if resume and run.ckpt.exists():
            try:
                ck = json.loads(run.ckpt.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise SimulationError(
                    f"checkpoint {run.ckpt} is unreadable ({exc}); delete it to start over"
                ) from None
            if ck.get("key") != run.key:
                raise SimulationError(
                    f"checkpoint {run.ckpt} belongs to a run with other inputs "
                    f"({ck.get('params')}); use another trajectory name or delete it"
                )
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
            if self.mobile == "all":
                Stationary(atoms)
            else:
                mom = atoms.get_momenta()
                mom[fixed] = 0.0
                atoms.set_momenta(mom, apply_constraint=False)
            run.momenta = atoms.get_momenta()
            if _kinetic(run.momenta, run.masses) < 1e-12:
                raise SimulationError(
                    f"{traj.name}: zero initial kinetic energy; check the temperature"
                )
        atoms.set_momenta(run.momenta, apply_constraint=False)
        run.start = run.step
        run.thermostat = _THERMOSTAT_CLASSES[self.thermostat](
            run, self.timestep_fs * units.fs, self.tau_fs
        )
        return run

    # -- one task's bookkeeping -------------------------------------------------------
    def _evaluate(self, active: list[int]) -> None:
        for i, res in zip(
            active, self.evaluator.evaluate([self.runs[i].atoms for i in active]), strict=True
        ):
            r = self.runs[i]
            f = res.forces_eV_A.copy()
            f[r.fixed] = 0.0  # as FixAtoms.adjust_forces (get_forces(md=True))
            r.forces, r.energy = f, res.energy_eV
            r.atoms.calc = single_point_calculator(r.atoms, res)

    def _conserved(self, r: _Run) -> float | None:
        if not r.thermostat.conserves_energy:
            return None
        return r.energy + _kinetic(r.momenta, r.masses) - r.transferred

    def _frame(self, r: _Run) -> None:
        from ase.io.trajectory import Trajectory

        r.atoms.set_momenta(r.momenta, apply_constraint=False)
        r.atoms.info["step"] = r.step
        r.atoms.info["time_ps"] = r.step * self.timestep_fs / 1000.0
        with Trajectory(str(r.traj), "a") as tw:
            tw.write(r.atoms)
        r.n_frames += 1

    def _checkpoint(self, r: _Run) -> None:
        _write_json_atomic(
            r.ckpt,
            {
                "key": r.key,
                "params": r.params,
                "step": r.step,
                "positions": r.atoms.get_positions().tolist(),
                "momenta": r.momenta.tolist(),
                "rng_state": r.rng.bit_generator.state,
                "transferred_eV": r.transferred,
                "e_conserved0_eV": r.e_cons0,
                "temperatures": r.temps,
                "max_drift_eV_atom": r.max_drift,
                "engine": "halidelab.engine.md",
            },
        )

    def _check(self, r: _Run) -> str | None:
        dmin = closest_distance_A(r.atoms, self.min_distance_A)
        if dmin < self.min_distance_A:
            return (
                f"atoms {dmin:.2f} A apart at step {r.step} (limit {self.min_distance_A} A): the "
                "potential "
                "let the structure collapse; lower the temperature or timestep"
            )
        t_mean = float(np.mean(r.window)) if r.window else r.temperature()
        if t_mean > self.max_temperature_factor * r.task.temperature_K:
            return (
                f"temperature ran away to {t_mean:.0f} K at step {r.step} (target "
                f"{r.task.temperature_K:g} K): lower the timestep or check the structure"
            )
        r.window.clear()
        e = self._conserved(r)
        if e is not None:
            drift = abs(e - r.e_cons0) / len(r.atoms)
            r.max_drift = max(r.max_drift, drift)
            if drift > self.max_drift_eV_atom:
                return (
                    f"conserved energy drifted {drift:.3f} eV/atom by step {r.step} "
                    f"(limit {self.max_drift_eV_atom}): lower the timestep"
                )
        return None

    @property
    def n_running(self) -> int:
        """Tasks that have steps left and did not fail."""
        return sum(1 for r in self.runs if r.failed is None and r.step < self.steps)

    def __iter__(self) -> Iterator[int]:
        t0 = time.perf_counter()
        try:
            active = [i for i, r in enumerate(self.runs) if r.step < self.steps or r.step == 0]
            if active:
                self._evaluate(active)
            for i in active:
                r = self.runs[i]
                if r.e_cons0 is None:
                    r.e_cons0 = self._conserved(r)
                if r.step == 0:
                    r.failed = self._check(r)
                    if r.failed is None:
                        self._frame(r)
                        self._checkpoint(r)
            active = [
                i for i in active if self.runs[i].failed is None and self.runs[i].step < self.steps
            ]
            while active:
                for i in active:
                    self.runs[i].thermostat.before_forces(self.runs[i])
                self._evaluate(active)
                for i in active:
                    r = self.runs[i]
                    r.thermostat.after_forces(r)
                    r.step += 1
                    t_inst = r.temperature()
                    r.window.append(t_inst)
                    r.temps.append(t_inst)
                    if r.step % self.interval == 0 or r.step == self.steps:
                        r.failed = self._check(r)
                        if r.failed is not None:
                            continue
                        self._frame(r)
                    if r.step % self.checkpoint_every == 0 or r.step == self.steps:
                        self._checkpoint(r)
                active = [
                    i
                    for i in active
                    if self.runs[i].failed is None and self.runs[i].step < self.steps
                ]
                self.wall_s += time.perf_counter() - t0
                t0 = time.perf_counter()
                yield max(self.runs[i].step for i in active) if active else self.steps
        finally:
            self.wall_s += time.perf_counter() - t0

    def results(self) -> list[MDResult | MDFailure]:
        """One record per task, in order (an :class:`MDFailure` for a stopped task)."""
        return [self._result(r) for r in self.runs]

    def _result(self, r: _Run) -> MDResult | MDFailure:
        ev = self.evaluator
        prov = provenance(
            "mlip-md-nvt",
            ev.info,
            {**r.params, "steps": self.steps, "n_tasks": len(self.runs)},
            seed=int(r.task.seed),
        )
        if r.failed is not None:
            return MDFailure(str(r.traj), float(r.task.temperature_K), int(r.step), r.failed, prov)
        burn = len(r.temps) // 10
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tt = np.array(r.temps[burn:]) if len(r.temps) > burn else np.array([r.temperature()])
        done = r.step - r.start
        wall = self.wall_s
        return MDResult(
            formula=to_structure(r.atoms).composition.reduced_formula,
            n_atoms=len(r.atoms),
            n_mobile=r.n_mobile,
            mobile=self.mobile,
            temperature_K=float(r.task.temperature_K),
            mean_temperature_K=float(tt.mean()),
            std_temperature_K=float(tt.std()),
            steps=int(r.step),
            timestep_fs=self.timestep_fs,
            duration_ps=r.step * self.timestep_fs / 1000.0,
            thermostat=self.thermostat,
            thermostat_time_fs=self.tau_fs,
            interval=self.interval,
            n_frames=int(r.n_frames),
            trajectory=str(r.traj),
            resumed_from_step=r.resumed,
            conserved_drift_eV_atom=float(r.max_drift) if r.thermostat.conserves_energy else None,
            seed=int(r.task.seed),
            steps_per_s=done / wall if wall > 0 and done > 0 else 0.0,
            wall_s=wall,
            provenance=prov,
        )


def run_md_batch(
    tasks: Sequence[MDTask],
    steps: int,
    evaluator: Any = None,
    progress: Callable[[int, int], None] | None = None,
    callback: Callable[[int], None] | None = None,
    **kwargs: Any,
) -> list[MDResult | MDFailure]:
    """Run (or resume) NVT MD of many tasks, one batched force call per step.

    Parameters
    ----------
    tasks, steps, evaluator
        See :class:`MDBatch`.
    progress : callable(step, n_running), optional
        After each batched step.
    callback : callable(step), optional
        After each batched step, its frames and checkpoints written (raise to stop the
        batch; the checkpoints stay valid).
    **kwargs
        The other parameters of :class:`MDBatch` (``timestep_fs``, ``thermostat``,
        ``thermostat_time_fs``, ``mobile``, ``interval``, ``checkpoint_every``,
        ``resume``, ``min_distance_A``, ``max_temperature_factor``, ``max_drift_eV_atom``).

    Returns
    -------
    list of MDResult or MDFailure
        One per task, in order.
    """
    sim = MDBatch(tasks, steps, evaluator, **kwargs)
    for step in sim:
        if progress is not None:
            progress(step, sim.n_running)
        if callback is not None:
            callback(step)
    return sim.results()
