"""MD: checkpoints and resume, Li-only mobility, unphysical-run detection."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io.trajectory import Trajectory

from halidelab.errors import SimulationError
from halidelab.transport.md import run_md


class AntiFriction(EMT):
    """EMT plus a force along each atom's momentum: heats the system without bound."""

    def calculate(self, atoms=None, properties=("energy",), system_changes=None):
        super().calculate(atoms, properties, system_changes or [])
        self.results["forces"] = self.results["forces"] + 0.5 * self.atoms.get_momenta()


def cu():
    return bulk("Cu", cubic=True).repeat(2)


def test_interrupted_run_resumes_to_the_same_trajectory(tmp_path):
    kw = {"calculator": EMT(), "interval": 5, "checkpoint_every": 20, "seed": 7}
    full = run_md(cu(), 600, 60, tmp_path / "full.traj", **kw)
    assert full.steps == 60 and full.n_frames == 13 and full.resumed_from_step is None

    def kill(step, atoms):
        if step == 47:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_md(cu(), 600, 60, tmp_path / "part.traj", callback=kill, **kw)
    assert [f.info["step"] for f in Trajectory(str(tmp_path / "part.traj"))][-1] == 45
    res = run_md(cu(), 600, 60, tmp_path / "part.traj", **kw)
    assert res.resumed_from_step == 40 and res.steps == 60 and res.n_frames == 13
    a, b = Trajectory(str(tmp_path / "full.traj")), Trajectory(str(tmp_path / "part.traj"))
    assert [f.info["step"] for f in b] == list(range(0, 61, 5))
    assert np.allclose(a[-1].positions, b[-1].positions, atol=1e-10)
    # asking again for the same total does nothing more
    assert run_md(cu(), 600, 60, tmp_path / "part.traj", **kw).steps == 60
    # other inputs with the same file are refused, not silently mixed
    with pytest.raises(SimulationError, match="other inputs"):
        run_md(cu(), 700, 60, tmp_path / "part.traj", **kw)


def test_bussi_conserved_energy_and_temperature(tmp_path):
    res = run_md(
        cu(),
        400,
        200,
        tmp_path / "t.traj",
        calculator=EMT(),
        timestep_fs=2.0,
        thermostat_time_fs=20,
        seed=1,
    )
    assert res.conserved_drift_eV_atom is not None and res.conserved_drift_eV_atom < 0.01
    assert 250 < res.mean_temperature_K < 550
    assert res.provenance.seed == 1 and res.provenance.parameters["thermostat"] == "bussi"


def test_li_only_mobile_keeps_framework_fixed(tmp_path):
    atoms = bulk("LiCl", "rocksalt", a=5.13, cubic=True)
    res = run_md(
        atoms,
        600,
        10,
        tmp_path / "li.traj",
        model="chgnet",
        mobile="li",
        interval=5,
        thermostat="langevin",
        seed=0,
    )
    assert res.mobile == "li" and res.n_mobile == 4 and res.conserved_drift_eV_atom is None
    frames = Trajectory(str(tmp_path / "li.traj"))
    cl = np.array(frames[0].get_chemical_symbols()) == "Cl"
    assert np.allclose(frames[-1].positions[cl], frames[0].positions[cl])
    assert not np.allclose(frames[-1].positions[~cl], frames[0].positions[~cl])
    assert res.provenance.model == "chgnet"


def test_unphysical_runs_are_stopped(tmp_path):
    squeezed = cu()
    squeezed.positions[1] = squeezed.positions[0] + [0.5, 0, 0]
    with pytest.raises(SimulationError, match="apart"):
        run_md(squeezed, 300, 5, tmp_path / "a.traj", calculator=EMT())
    with pytest.raises(SimulationError, match="ran away"):
        # a broken, non-conservative model that pushes atoms along their velocities
        run_md(
            cu(),
            300,
            200,
            tmp_path / "b.traj",
            calculator=AntiFriction(),
            interval=5,
            thermostat="langevin",
            thermostat_time_fs=1e6,
        )
    with pytest.raises(SimulationError, match="drifted"):
        run_md(
            cu(),
            300,
            50,
            tmp_path / "c.traj",
            calculator=EMT(),
            timestep_fs=8.0,
            interval=5,
            max_drift_eV_atom=1e-4,
        )
    with pytest.raises(SimulationError, match="thermostat"):
        run_md(cu(), 300, 5, tmp_path / "d.traj", calculator=EMT(), thermostat="berendsen")


def test_skipping_the_whole_run_is_a_clear_error(tmp_path):
    from halidelab.errors import DataFormatError
    from halidelab.transport.diffusion import analyse_trajectory

    res = run_md(cu(), 300, 40, tmp_path / "s.traj", calculator=EMT(), interval=1)
    with pytest.raises(DataFormatError, match="lower --skip-ps"):
        analyse_trajectory(res.trajectory, skip_ps=1.0)
    d = analyse_trajectory(res.trajectory, species="Cu", skip_ps=0.0)
    assert d.duration_ps == pytest.approx(0.08)
