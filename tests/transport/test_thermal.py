"""The lattice at a temperature (thermal pressure of NVT MD and the bulk modulus), on a
classical Lennard-Jones argon crystal, where the physics is known in its limits."""

from __future__ import annotations

import pytest
from ase.build import bulk
from ase.calculators.lj import LennardJones
from pymatgen.core import Structure

from halidelab.errors import SimulationError
from halidelab.relax import relax
from halidelab.thermal import thermal_lattice

RUN = {"md_ps": 4.0, "equilibration_ps": 0.5, "timestep_fs": 5.0, "fmax": 1e-3}


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
        structure, calculator=_lj(), temperature_K=temperature_K, seed=7, iterations=1, **RUN
    )
    return chk.thermal_pressure_GPa + chk.static_pressure_GPa, chk.thermal_pressure_se_GPa


def _thermal_part(th) -> float:
    """The expansion less the removal of the relaxed cell's own static pressure, %."""
    return th.expansion_percent - 100.0 * th.static_pressure_GPa / th.bulk_modulus_GPa


def test_expansion_is_linear_in_temperature_in_the_classical_harmonic_limit(argon):
    low = thermal_lattice(argon, calculator=_lj(), temperature_K=10.0, iterations=1, **RUN)
    high = thermal_lattice(argon, calculator=_lj(), temperature_K=20.0, iterations=1, **RUN)
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
    cold = thermal_lattice(argon, calculator=_lj(), temperature_K=0.2, iterations=1, **RUN)
    assert abs(_thermal_part(cold)) < 0.05 * _thermal_part(low)
    assert Structure.from_dict(low.structure).volume == pytest.approx(
        low.volume_0K_A3 * (1 + low.expansion_percent / 100), rel=1e-9
    )


def test_a_cell_left_under_pressure_is_brought_to_zero(argon):
    """The target is zero total pressure: a cell compressed by 1 % (as an unconverged
    relaxation leaves one) comes back to the volume the relaxed cell reaches."""
    squeezed = argon.copy()
    squeezed.scale_lattice(argon.volume * 0.99)
    ref = thermal_lattice(argon, calculator=_lj(), temperature_K=10.0, **RUN)
    th = thermal_lattice(squeezed, calculator=_lj(), temperature_K=10.0, **RUN)
    assert th.static_pressure_GPa > 0.01  # compressed: the static cell pushes outwards
    v, v_ref = Structure.from_dict(th.structure).volume, Structure.from_dict(ref.structure).volume
    assert v == pytest.approx(
        v_ref, rel=3 * (th.expansion_se_percent + ref.expansion_se_percent) / 100
    )


def test_secant_steps_reach_the_zero_pressure_volume(argon):
    """At 40 K (a 5 % expansion) the linear step with the static bulk modulus stops short:
    the crystal there still pushes outwards; one secant step on the measured pressures
    brings the mean pressure to zero within its error."""
    linear = thermal_lattice(argon, calculator=_lj(), temperature_K=40.0, iterations=1, **RUN)
    p, se = _total_pressure_at(Structure.from_dict(linear.structure), 40.0)
    assert p > 3 * se
    secant = thermal_lattice(argon, calculator=_lj(), temperature_K=40.0, **RUN)  # default: 2
    assert secant.iterations == 2 and secant.expansion_percent > linear.expansion_percent
    assert secant.md_expansions_percent[1] == pytest.approx(linear.expansion_percent)
    p, se = _total_pressure_at(Structure.from_dict(secant.structure), 40.0)
    assert abs(p) < 3 * se + 1e-4


@pytest.mark.parametrize(
    "kwargs",
    [
        {"temperature_K": 0.0},
        {"temperature_K": float("nan")},
        {"iterations": 0},
        {"md_ps": 1.0, "equilibration_ps": 1.0},
        {"strain": 0.0},
    ],
)
def test_bad_settings_are_refused(argon, kwargs):
    with pytest.raises(SimulationError):
        thermal_lattice(argon, calculator=_lj(), **kwargs)
