"""Batched NVT.

ASE's Bussi and Langevin trajectories, resumable after a kill, readable by the analysis.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.io import read

from halidelab.engine import CalculatorLoop, get_evaluator
from halidelab.engine.md import MDResult, MDTask, run_md_batch
from halidelab.errors import SimulationError
from halidelab.potentials import get_calculator


@pytest.fixture(autouse=True, scope="module")
def _restore_torch_threads():
    """Tests run torch on one thread (shared CI cores); give the setting back after."""
    import torch

    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _licl(seed: int):
    atoms = bulk("LiCl", "rocksalt", a=5.14, cubic=True)
    atoms.rattle(0.02, seed=seed)
    return atoms


def _ase_md(
    atoms,
    calc,
    temperature_K,
    steps,
    seed,
    interval,
    thermostat="bussi",
    tau_fs=100.0,
    mobile="all",
    timestep_fs=2.0,
):
    """Oracle: ASE's own Bussi (or Langevin) NVT from the same seeded start.

    Frames every ``interval``.
    """
    import warnings

    from ase import units
    from ase.constraints import FixAtoms
    from ase.md.bussi import Bussi
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    a = atoms.copy()
    a.calc = calc
    li = np.array(a.get_chemical_symbols()) == "Li"
    if mobile == "li":
        a.set_constraint(FixAtoms(indices=np.where(~li)[0]))
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(a, temperature_K=temperature_K, rng=rng)
    if mobile == "all":
        Stationary(a)
    else:
        p = a.get_momenta()
        p[~li] = 0.0
        a.set_momenta(p, apply_constraint=False)
    dt = timestep_fs * units.fs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dyn = (
            Bussi(a, dt, temperature_K=temperature_K, taut=tau_fs * units.fs, rng=rng)
            if thermostat == "bussi"
            else Langevin(
                a, dt, temperature_K=temperature_K, friction=1.0 / (tau_fs * units.fs), rng=rng
            )
        )
    frames = [(a.get_positions(), a.get_momenta())]
    for k in range(1, steps + 1):
        dyn.run(1)
        if k % interval == 0:
            frames.append((a.get_positions(), a.get_momenta()))
    return frames


@pytest.fixture(scope="module")
def ev():
    return get_evaluator(
        "chgnet", "cpu", threads=1, max_structures=64
    )  # tasks share each model call


def test_batch_task_follows_ase_bussi(tmp_path, ev):
    tasks = [
        MDTask(_licl(1), 600.0, tmp_path / "a.traj", seed=11),
        MDTask(_licl(2), 900.0, tmp_path / "b.traj", seed=12),
    ]
    res = run_md_batch(tasks, steps=6, evaluator=ev, interval=2, checkpoint_every=2)
    assert all(isinstance(r, MDResult) for r in res)
    ref = _ase_md(_licl(1), get_calculator("chgnet", "cpu"), 600.0, 6, seed=11, interval=2)
    fb = read(str(tmp_path / "a.traj"), ":")
    assert len(fb) == len(ref) == 4 == res[0].n_frames
    assert [a.info["step"] for a in fb] == [0, 2, 4, 6]
    for a, (pos, mom) in zip(fb, ref, strict=True):
        np.testing.assert_allclose(a.get_positions(), pos, atol=1e-5)
        np.testing.assert_allclose(a.get_momenta(), mom, atol=1e-4)
    # the atoms moved (the comparison is not between two static frames)
    assert np.abs(fb[-1].get_positions() - fb[0].get_positions()).max() > 1e-3
    # the other task is a different run
    assert not np.allclose(
        read(str(tmp_path / "b.traj"), "-1").get_positions(), fb[-1].get_positions()
    )
    assert res[0].provenance.seed == 11 and res[1].provenance.parameters["n_tasks"] == 2
    assert res[0].conserved_drift_eV_atom < 0.01


@pytest.mark.parametrize(
    "thermostat,mobile", [("langevin", "all"), ("bussi", "li"), ("langevin", "li")]
)
def test_thermostats_and_frozen_framework_follow_ase(tmp_path, thermostat, mobile):
    """An analytic potential leaves no model noise: ASE's trajectory to round-off.

    EMT knows no Li, so the Li-only runs use a Cu-Au cell with Au renamed Li for the
    mobility mask only: the forces come from EMT on the Cu-Au atoms.
    """
    from ase.build import bulk
    from ase.calculators.emt import EMT

    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    atoms.rattle(0.02, seed=3)
    calc = EMT()
    if mobile == "li":
        atoms.symbols[[1, 6, 11]] = "Li"

        class AsAu(EMT):  # EMT with the "Li" atoms computed as Au
            def calculate(self, atoms=None, properties=("energy",), system_changes=None):
                b = atoms.copy()
                b.symbols[b.symbols == "Li"] = "Au"
                super().calculate(b, properties, system_changes or ["positions", "numbers"])

        calc = AsAu()
    (r,) = run_md_batch(
        [MDTask(atoms, 500.0, tmp_path / "t.traj", seed=4)],
        steps=12,
        evaluator=CalculatorLoop(calc),
        interval=3,
        thermostat=thermostat,
        thermostat_time_fs=50.0,
        mobile=mobile,
    )
    ref = _ase_md(
        atoms,
        calc,
        500.0,
        12,
        seed=4,
        interval=3,
        thermostat=thermostat,
        tau_fs=50.0,
        mobile=mobile,
    )
    frames = read(r.trajectory, ":")
    assert len(frames) == len(ref) == 5 and r.thermostat == thermostat
    for f, (pos, mom) in zip(frames, ref, strict=True):
        np.testing.assert_allclose(f.get_positions(), pos, atol=1e-9)
        np.testing.assert_allclose(f.get_momenta(), mom, atol=1e-9)
    assert np.abs(frames[-1].get_positions() - frames[0].get_positions()).max() > 1e-3
    assert (r.conserved_drift_eV_atom is None) == (thermostat == "langevin")


class _Kill(Exception):
    pass


def test_killed_batch_resumes_identically(tmp_path, ev):
    def tasks(d):
        return [
            MDTask(_licl(3), 700.0, d / "t700.traj", seed=5),
            MDTask(_licl(4), 800.0, d / "t800.traj", seed=6),
        ]

    kw = dict(steps=8, evaluator=ev, interval=2, checkpoint_every=4, mobile="li")
    ref = run_md_batch(tasks(tmp_path / "ref"), **kw)

    def kill(step):
        if step == 6:  # frames at 6 are on disk, the last checkpoint is at 4
            raise _Kill

    with pytest.raises(_Kill):
        run_md_batch(tasks(tmp_path / "run"), callback=kill, **kw)
    assert len(read(str(tmp_path / "run" / "t700.traj"), ":")) == 4  # frames 0, 2, 4, 6
    res = run_md_batch(tasks(tmp_path / "run"), **kw)
    for r, q in zip(res, ref, strict=True):
        assert r.resumed_from_step == 4 and r.steps == 8 and r.n_frames == q.n_frames == 5
        fr, fq = read(r.trajectory, ":"), read(q.trajectory, ":")
        assert [f.info["step"] for f in fr] == [0, 2, 4, 6, 8]
        for a, b in zip(fr, fq, strict=True):
            np.testing.assert_allclose(a.get_positions(), b.get_positions(), atol=1e-10)
            np.testing.assert_allclose(a.get_momenta(), b.get_momenta(), atol=1e-10)
        # Li-only: the framework did not move, Li did
        cl = np.array(fr[0].get_chemical_symbols()) == "Cl"
        np.testing.assert_allclose(
            fr[-1].get_positions()[cl], fr[0].get_positions()[cl], atol=1e-12
        )
        assert np.abs(fr[-1].get_positions()[~cl] - fr[0].get_positions()[~cl]).max() > 1e-3
    # a checkpoint from other inputs is refused, not silently reused
    bad = [MDTask(_licl(3), 750.0, tmp_path / "run" / "t700.traj", seed=5)]
    with pytest.raises(SimulationError, match="other inputs"):
        run_md_batch(bad, **kw)


def test_trajectory_feeds_diffusion_analysis(tmp_path, ev):
    from halidelab.transport.diffusion import analyse_trajectory

    (r,) = run_md_batch(
        [MDTask(_licl(5), 1000.0, tmp_path / "d.traj", seed=3)], steps=12, evaluator=ev, interval=1
    )
    d = analyse_trajectory(r.trajectory, start_ps=0.004)
    assert d.temperature_K > 100 and d.n_mobile > 0 and len(d.msd_A2) > 2
    # 12 steps are vibration: the analysis says so and gives no D
    assert not d.diffusive and d.d_cm2_s is None


def test_bad_tasks(tmp_path, ev):
    with pytest.raises(SimulationError, match="same trajectory"):
        run_md_batch(
            [
                MDTask(_licl(1), 600, tmp_path / "x.traj"),
                MDTask(_licl(2), 700, tmp_path / "x.traj"),
            ],
            steps=2,
            evaluator=ev,
        )
    with pytest.raises(SimulationError, match="temperature"):
        run_md_batch([MDTask(_licl(1), -5, tmp_path / "y.traj")], steps=2, evaluator=ev)


@pytest.mark.slow
def test_sigkilled_process_resumes_identically(tmp_path, ev):
    """A real kill (SIGKILL of a child process mid-run), then resume here."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    script = """
import sys
from ase.build import bulk
from halidelab.engine import get_evaluator
from halidelab.engine.md import MDTask, run_md_batch

tasks = []
for k, T in enumerate((700.0, 800.0)):
    a = bulk("LiCl", "rocksalt", a=5.14, cubic=True); a.rattle(0.02, seed=k)
    tasks.append(MDTask(a, T, sys.argv[1] + f"/t{k}.traj", seed=k))
run_md_batch(tasks, steps=int(sys.argv[2]), evaluator=get_evaluator("chgnet", "cpu", threads=1),
             interval=2, checkpoint_every=4)
"""

    def tasks(d):
        out = []
        for k, t in enumerate((700.0, 800.0)):
            a = bulk("LiCl", "rocksalt", a=5.14, cubic=True)
            a.rattle(0.02, seed=k)
            out.append(MDTask(a, t, d / f"t{k}.traj", seed=k))
        return out

    run = tmp_path / "run"
    run.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", script, str(run), "400"])
    ckpt = run / "t1.ckpt.json"
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            if json.loads(ckpt.read_text())["step"] >= 8:
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = json.loads(ckpt.read_text())["step"]
    assert 8 <= killed_at < 400
    steps = killed_at + 6
    res = run_md_batch(tasks(run), steps=steps, evaluator=ev, interval=2, checkpoint_every=4)
    ref = run_md_batch(
        tasks(tmp_path / "ref"), steps=steps, evaluator=ev, interval=2, checkpoint_every=4
    )
    for r, q in zip(res, ref, strict=True):
        assert r.resumed_from_step is not None and r.steps == q.steps == steps
        fr, fq = read(r.trajectory, ":"), read(q.trajectory, ":")
        assert [f.info["step"] for f in fr] == [f.info["step"] for f in fq]
        for a, b in zip(fr, fq, strict=True):
            np.testing.assert_allclose(a.get_positions(), b.get_positions(), atol=1e-10)
