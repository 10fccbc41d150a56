"""The lattice at a temperature (thermal pressure of NVT MD and the bulk modulus), on a
classical Lennard-Jones argon crystal, where the physics is known in its limits, and its
shape (the thermal stress tensor) on EMT's tetragonal L1_0 CuAu."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones
from pymatgen.core import Structure

from halidelab.atoms import to_atoms
from halidelab.engine.batch import as_evaluator
from halidelab.engine.relax import EV_A3_TO_GPA
from halidelab.errors import SimulationError
from halidelab.relax import relax
from halidelab.thermal import (
    _NVT,
    _at_zero_stress,
    _nvt_pressure,
    _relaxed_under,
    _step_trusted,
    thermal_lattice,
)

RUN = {"md_ps": 4.0, "equilibration_ps": 0.5, "timestep_fs": 5.0, "fmax": 1e-3}
ISO = {**RUN, "shape": "isotropic"}


def _lj() -> LennardJones:
    # argon: sigma 3.4 A, epsilon 10.4 meV (melts near 84 K)
    return LennardJones(sigma=3.4, epsilon=0.0104, rc=10.2, smooth=True)


@pytest.fixture(scope="module")
def argon() -> Structure:
    atoms = bulk("Ar", "fcc", a=5.26, cubic=True).repeat(2)
    return relax(atoms, calculator=_lj(), fmax=1e-3, steps=500).to_structure()


def _total_pressure_at(structure: Structure, temperature_K: float) -> tuple[float, float]:
    """Mean NVT pressure (GPa) of a cell and its standard error."""
    chk = thermal_lattice(
        structure,
        calculator=_lj(),
        temperature_K=temperature_K,
        seed=7,
        iterations=1,
        shape="isotropic",
        **RUN,
    )
    return chk.thermal_pressure_GPa + chk.static_pressure_GPa, chk.thermal_pressure_se_GPa


def _thermal_part(th) -> float:
    """The expansion less the removal of the relaxed cell's own static pressure, %."""
    return th.expansion_percent - 100.0 * th.static_pressure_GPa / th.bulk_modulus_GPa


def test_expansion_is_linear_in_temperature_in_the_classical_harmonic_limit(argon):
    low = thermal_lattice(argon, calculator=_lj(), temperature_K=10.0, iterations=1, **ISO)
    high = thermal_lattice(argon, calculator=_lj(), temperature_K=20.0, iterations=1, **ISO)
    assert _thermal_part(low) > 0.0 and low.bulk_modulus_GPa > 0.0
    assert abs(low.mean_temperature_K - 10.0) < 1.0
    ratio = _thermal_part(high) / _thermal_part(low)
    se = (
        ratio
        * (
            (high.expansion_se_percent / _thermal_part(high)) ** 2
            + (low.expansion_se_percent / _thermal_part(low)) ** 2
        )
        ** 0.5
    )
    assert abs(ratio - 2.0) < 4 * se + 0.05
    # near 0 K only the relaxed cell's small static pressure is removed
    cold = thermal_lattice(argon, calculator=_lj(), temperature_K=0.2, iterations=1, **ISO)
    assert abs(_thermal_part(cold)) < 0.05 * _thermal_part(low)
    assert Structure.from_dict(low.structure).volume == pytest.approx(
        low.volume_0K_A3 * (1 + low.expansion_percent / 100), rel=1e-9
    )


def test_a_cell_left_under_pressure_is_brought_to_zero(argon):
    """The target is zero total pressure: a cell compressed by 1 % (as an unconverged
    relaxation leaves one) comes back to the volume the relaxed cell reaches."""
    squeezed = argon.copy()
    squeezed.scale_lattice(argon.volume * 0.99)
    ref = thermal_lattice(argon, calculator=_lj(), temperature_K=10.0, **ISO)
    th = thermal_lattice(squeezed, calculator=_lj(), temperature_K=10.0, **ISO)
    assert th.static_pressure_GPa > 0.01  # compressed: the static cell pushes outwards
    v, v_ref = Structure.from_dict(th.structure).volume, Structure.from_dict(ref.structure).volume
    assert v == pytest.approx(
        v_ref, rel=3 * (th.expansion_se_percent + ref.expansion_se_percent) / 100
    )


def test_secant_steps_reach_the_zero_pressure_volume(argon):
    """At 40 K (a 5 % expansion) the linear step with the static bulk modulus stops short:
    the crystal there still pushes outwards; one secant step on the measured pressures
    brings the mean pressure to zero within its error."""
    linear = thermal_lattice(argon, calculator=_lj(), temperature_K=40.0, iterations=1, **ISO)
    p, se = _total_pressure_at(Structure.from_dict(linear.structure), 40.0)
    assert p > 3 * se
    secant = thermal_lattice(argon, calculator=_lj(), temperature_K=40.0, **ISO)  # default: 2
    assert secant.iterations == 2 and secant.expansion_percent > linear.expansion_percent
    assert secant.md_expansions_percent[1] == pytest.approx(linear.expansion_percent)
    p, se = _total_pressure_at(Structure.from_dict(secant.structure), 40.0)
    assert abs(p) < 3 * se + 1e-4


def test_a_cubic_crystal_keeps_its_shape_and_reaches_zero_pressure(argon):
    """The anisotropic path (the default) on a cubic crystal: the point group keeps the
    cell cubic, and the fixed point lands where the mean pressure at 40 K is zero, as the
    isotropic secant does."""
    th = thermal_lattice(argon, calculator=_lj(), temperature_K=40.0, stress_tol_GPa=1e-4, **RUN)
    assert th.shape == "anisotropic" and th.space_group == "Fm-3m (225)"
    lat = Structure.from_dict(th.structure).lattice
    assert lat.b == pytest.approx(lat.a, rel=1e-6) and lat.c == pytest.approx(lat.a, rel=1e-6)
    assert lat.angles == pytest.approx((90.0, 90.0, 90.0), abs=1e-6)
    assert th.expansion_percent > 4.0  # argon at 40 K: about 5 % (the secant test)
    p, se = _total_pressure_at(Structure.from_dict(th.structure), 40.0)
    assert abs(p) < 3 * se + 1e-4


def test_a_run_at_zero_stress_ends_the_search_and_an_overshooting_step_is_not_taken():
    """The two stops of the anisotropic search. A run whose every stress component is
    within two standard errors of zero verifies its cell; one component three errors off
    does not. A quasi-static step is bounded by the volume the last run's pressure asks for
    at the runs' isothermal bulk modulus (CHGNet-D3 LiGaBr4 at 298 K: runs at 0 and +8.32 %
    with 0.669 and 0.046 GPa, B_T 7.5 GPa, so about +0.6 % more; the static relaxation went
    to +12.6 %)."""
    gpa = 1.0 / EV_A3_TO_GPA
    se = np.full(6, 0.05 * gpa)
    near = _NVT(0.0, 0.0, np.array([0.09, -0.08, 0.05, 0.0, 0.02, -0.09]) * gpa, se, 298.0)
    off = _NVT(0.0, 0.0, np.array([0.09, -0.08, 0.16, 0.0, 0.02, -0.09]) * gpa, se, 298.0)
    assert _at_zero_stress(near, 0.0) and not _at_zero_stress(off, 0.0)
    assert _at_zero_stress(off, 0.07)  # the relaxation's own tolerance is allowed for
    points = [(0.0, 0.669), (0.0832, 0.046)]
    assert not _step_trusted(points, 0.1259)
    assert _step_trusted(points, 0.0832 + 0.0090)  # the size the runs ask for
    assert not _step_trusted(points, 0.0832 - 0.0150)  # the wrong way, beyond the bound
    assert _step_trusted([(0.0, 0.669), (0.0832, 0.70)], 0.2)  # no bulk modulus resolved


def _cuau(repeat: int) -> Structure:
    """L1_0 CuAu (tetragonal P4/mmm, Cu and Au layers along c) relaxed with EMT."""
    a, c = 3.96 / 2**0.5, 3.7
    cell = [[a, 0, 0], [0, a, 0], [0, 0, c]]
    atoms = Atoms("CuAu", scaled_positions=[[0, 0, 0], [0.5] * 3], cell=cell, pbc=True)
    return relax(atoms.repeat(repeat), calculator=EMT(), fmax=1e-3, steps=1000).to_structure()


def test_relaxation_under_a_stress_tensor_reaches_it_within_the_point_group():
    """The static step of the anisotropic path: a noisy stress (as an MD average gives
    one) is symmetrised by the crystal's point group (4/mmm: xx = yy, no shear) and the
    cell relaxed under it ends with exactly that static stress, still tetragonal."""
    atoms = to_atoms(_cuau(2))
    noisy = np.array([-1.0, -1.2, -0.5, 0.05, -0.03, 0.1]) / EV_A3_TO_GPA  # eV/A^3
    out, tau, group = _relaxed_under(
        atoms, noisy, as_evaluator(None, EMT()), 1e-3, 1000, 0.01, 1e-3
    )
    assert group == "P4/mmm (123)"
    assert tau * EV_A3_TO_GPA == pytest.approx([-1.1, -1.1, -0.5, 0, 0, 0], abs=1e-9)
    out.calc = EMT()
    static = out.get_stress() * EV_A3_TO_GPA
    assert static == pytest.approx(-tau * EV_A3_TO_GPA, abs=2e-3)
    a, b, c, al, be, ga = out.cell.cellpar()
    assert b == pytest.approx(a, rel=1e-9) and (al, be, ga) == pytest.approx((90, 90, 90))
    # the crystal is pushed outwards (more in-plane than along c): a and the volume grow
    assert a > atoms.cell.cellpar()[0] and out.get_volume() > atoms.get_volume()


def test_a_tetragonal_crystal_expands_anisotropically_to_zero_stress():
    """EMT CuAu at 600 K: the thermal stress is larger in the Cu/Au planes than across
    them (-5.3 against -4.5 GPa at the 0 K cell), so a and b expand and c hardly does (the
    isotropic path expands every axis by the same 1.27 %). The anisotropic fixed point
    leaves every diagonal component of the mean stress within three errors of zero,
    measured by an independent NVT run at the final cell."""
    cuau = _cuau(4)
    run = {"md_ps": 4.0, "equilibration_ps": 0.5, "timestep_fs": 5.0, "fmax": 1e-3}
    th = thermal_lattice(cuau, calculator=EMT(), temperature_K=600.0, **run)
    assert th.space_group == "P4/mmm (123)" and th.iterations == 2
    assert th.final_cell in ("verified", "stepped", "kept")
    txx, tyy, tzz, *shear = th.thermal_stress_GPa
    assert txx == pytest.approx(tyy) and shear == pytest.approx([0, 0, 0], abs=1e-9)
    assert txx < tzz < 0 and all(0 < e < 0.2 for e in th.thermal_stress_se_GPa)
    da, db, dc = th.lattice_change_percent
    assert da == pytest.approx(db, abs=1e-6) and da - dc > 1.5  # measured: +2.1 %, -0.5 %
    final = Structure.from_dict(th.structure)
    check = _nvt_pressure(
        to_atoms(final), as_evaluator(None, EMT()), 600.0, 800, 100, 5.0, 11, None
    )
    mean, se = check.stress * EV_A3_TO_GPA, check.stress_se * EV_A3_TO_GPA
    assert np.all(np.abs(mean[:3]) < 3 * se[:3] + 0.03), (mean, se)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"temperature_K": 0.0},
        {"temperature_K": float("nan")},
        {"iterations": 0},
        {"md_ps": 1.0, "equilibration_ps": 1.0},
        {"strain": 0.0},
        {"shape": "cubic"},
        {"symprec": 0.0},
        {"stress_tol_GPa": -1.0},
    ],
)
def test_bad_settings_are_refused(argon, kwargs):
    with pytest.raises(SimulationError):
        thermal_lattice(argon, calculator=_lj(), **kwargs)
