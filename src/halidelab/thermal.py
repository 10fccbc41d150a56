"""The lattice at a temperature: thermal expansion of a relaxed (0 K) cell by its thermal pressure.

Why
---
A relaxation gives the static (0 K, no zero-point) lattice; conductivities are measured at
room temperature and above, in a lattice expanded by thermal motion, and halide barriers
are steep functions of volume: on the reference set the BVSE percolation barrier of Li3YCl6
and Li3InCl6 falls by 0.016-0.02 eV per 1 % of volume, that of LiGaBr4 with dispersion
likewise (CHGNet-D3 cells scaled by -4..+6 %). Relaxed to zero stress (within 0.05
GPa), a potential with dispersion (``chgnet-d3``) puts eight of the reference set's nine
measured room-temperature structures 2.3-7.5 % *below* their volume, as a 0 K lattice
should be (Li3AlF6 +0.2 %; 5.3 % on average); without dispersion (CHGNet) the seven
Li3MX6, Li6NBr3, Li2CrCl4 and Li3AlF6 structures come out 1.7-12.7 % above it (PBE's
missing dispersion standing in for the thermal expansion, and overdoing it for the
iodide), and the dispersion-bound MX4 tetrahalides 13-46 % above it, on an E(V) so flat
that their volume at 0.05 GPa depends on the optimiser's path (10.5 % on average).
Expanded to 298 K (anisotropically, from the zero-stress cells), the CHGNet-D3 cells come
within 0.5-5.8 % of the measured volumes, 2.2 % on average, and each axis within 1.0 % on
average (the isotropic expansion of the same cells: 2.3 % and 1.0 %; of cells relaxed on
the force criterion alone 2.4 %: the expansion targets zero total pressure whatever the
start).

How
---
The quasi-static thermal pressure: at the relaxed volume V0, NVT MD at T (the engine's
batched :class:`~halidelab.engine.md.MDBatch`, Bussi thermostat) gives the mean pressure,
kinetic part included, P_T = 2 K / (3 V) - tr(sigma) / 3; the relaxed-ion bulk modulus B
comes from two position relaxations at V0 (1 +- strain). With ``shape="isotropic"`` the
lattice expands by dV / V0 = P_T / B, keeping its shape, and the positions are relaxed in
that cell. The target is zero total
pressure, not the relaxed cell's own: a cell relaxed on ASE's filter criterion alone
(fmax on the cell "forces", virial / number of atoms; ``stress_tol_GPa=None``) keeps a
static pressure P_0 of up to fmax N / V, 0.2-0.4 GPa for 60-atom halide cells at fmax
0.05 eV/A, 1-7 % of volume, and even the default stress criterion leaves up to 0.05 GPa;
this step removes it with the thermal expansion. This is the first step of the search
for the volume where the crystal at T is under zero mean pressure; with the static B it
falls short of it (the crystal softens as it expands), so by default one secant step
follows. Classical nuclei: no
zero-point expansion.

The shape (``shape="anisotropic"``, the default): a trigonal or monoclinic halide does not
expand by the same fraction along every axis, and an isotropic expansion keeps the 0 K
shape whatever the thermal stress asks for (EMT L1_0 CuAu, 128 atoms at 600 K: the
anisotropic path expands a and b by about 2 % and leaves c within 0.5 % of its 0 K length,
the isotropic one expands each by 1.27 %; in independent NVT checks both leave stresses at
the level of the runs' standard errors, 0.05-0.1 GPa, as this crystal is soft to tetragonal
shear: the shape at T is as precise as the MD that measures it). The anisotropic path takes
the thermal stress *tensor* tau = <sigma>_NVT - sigma_static at the current cell (kinetic
part included), symmetrised by the crystal's point group (spglib through ASE's
``FixSymmetry``, which also keeps the symmetry during the relaxation), and relaxes cell and
positions statically under it: the static stress is driven to -tau (a constant stress
offset on the model's stress; the FIRE steps use forces and stress only, so the energies
stay the model's). Each further NVT run (``iterations``) measures tau again at the new
cell: a fixed point of sigma_static(h) + tau(h) = 0, i.e. zero mean total stress at T in
every component. The first step already follows the static lattice's whole nonlinear
response (the isotropic path's linear step uses the bulk modulus at V_0); what changes
between steps is only tau, which varies slowly with the cell. A run that finds its cell at
zero mean stress (every component within two standard errors) ends the search there,
verified; and a further step is not taken where it would move the volume much more than the
run's residual pressure asks for at the runs' own (isothermal) bulk modulus: a static
relaxation near the static lattice's tensile limit overshoots (CHGNet-D3 LiGaBr4 at 298 K:
+8.3 % with 0.05 GPa left, then a step to +12.6 %). ``final_cell`` in the result says which
of these ended it. ``shape="isotropic"`` is the earlier method, kept for the results stored
with it.

The MD is short (1 ps by default, the first 0.3 ps discarded) because a pressure average
converges fast; its standard error (blocks of the run) goes into the expansion's error.
``iterations`` (default 2) adds steps: an NVT run at the new cell, then (isotropic) the
volume where the line through the last two mean pressures crosses zero, or (anisotropic)
the cell relaxed under the thermal stress measured there.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from halidelab.atoms import to_atoms, to_structure
from halidelab.engine.batch import BatchEvaluator, Evaluation, as_evaluator
from halidelab.engine.md import MDBatch, MDTask
from halidelab.engine.relax import (
    EV_A3_TO_GPA,
    LatticeParams,
    cell_factor,
    optimize,
    relax_batch,
)
from halidelab.errors import SimulationError
from halidelab.potentials import Potential, provenance
from halidelab.records import Provenance, Record

#: Blocks of the production run for the pressure's standard error.
N_BLOCKS = 8
#: How the cell may change: every component of the mean stress to zero, or the volume alone.
SHAPES = ("anisotropic", "isotropic")
#: spglib tolerance of the point group that symmetrises the thermal stress, A.
SYMPREC_A = 0.01
#: Stress criterion of the cell relaxation under the thermal stress, GPa.
STRESS_TOL_GPA = 0.01


@dataclasses.dataclass(frozen=True)
class ThermalLattice(Record):
    """A relaxed cell expanded to its volume at a temperature.

    Attributes
    ----------
    formula : str
    n_atoms : int
    temperature_K : float
        Target temperature, K.
    mean_temperature_K : float
        Mean kinetic temperature of the production run, K.
    volume_0K_A3, volume_A3 : float
        Cell volume relaxed (static) and at ``temperature_K``, A^3.
    expansion_percent, expansion_se_percent : float
        100 (V_T / V_0 - 1) and its standard error from the pressure's, %: the thermal
        expansion plus the removal of the relaxed cell's static pressure
        (``static_pressure_GPa`` / ``bulk_modulus_GPa``).
    thermal_pressure_GPa, thermal_pressure_se_GPa : float
        P_T - P_0 at V_0, GPa.
    iterations : int
        NVT runs made (1: the linear step; more: secant steps).
    static_pressure_GPa : float
        P_0: pressure of the position-relaxed cell at V_0, GPa.
    bulk_modulus_GPa : float
        Relaxed-ion bulk modulus at V_0, GPa.
    mean_stress_GPa : list of float
        Mean total stress of the production run at V_0 (Voigt xx, yy, zz, yz, xz, xy, ASE
        sign: negative = the crystal pushes outwards), GPa: its anisotropy is what the
        isotropic expansion leaves out.
    md_expansions_percent, md_pressures_GPa : list of float
        Each NVT run's volume (expansion from V_0, %) and mean total pressure, GPa: the
        points of the secant search (one run: the linear step from V_0 alone) or of the
        fixed-point iteration (anisotropic).
    md_ps, equilibration_ps, timestep_fs : float
    structure : dict
        The expanded, position-relaxed structure (pymatgen ``Structure.as_dict()``).
    wall_s : float
    provenance : Provenance
    shape : str
        ``"anisotropic"`` (every stress component to zero) or ``"isotropic"`` (the volume
        alone; every result stored before the anisotropic path existed).
    md_stresses_GPa : list of list of float or None
        Mean total stress of each NVT run (Voigt, ASE sign), GPa; None on older results.
    thermal_stress_GPa : list of float or None
        Anisotropic: the symmetrised thermal stress tau (Voigt, ASE sign) of the last NVT
        run, under which the final cell was relaxed, GPa.
    thermal_stress_se_GPa : list of float or None
        Anisotropic: the standard error of each component of that run's mean stress
        (blocks of the run, before symmetrisation), GPa: divided by an elastic constant,
        the noise the MD leaves in the cell's shape (a low-symmetry cell takes it in
        every component; a symmetric one only in those its point group allows).
    space_group : str or None
        Anisotropic: the space group (spglib at ``SYMPREC_A``) kept during the relaxation.
    final_cell : str or None
        Anisotropic: how the returned cell stands. ``"verified"``: the last NVT run was made
        on it and found every component of its mean stress within two standard errors (plus
        ``stress_tol_GPa``) of zero; ``"stepped"``: relaxed under the last run's thermal
        stress and not run again (raise ``iterations`` to verify it); ``"kept"``: the last
        run's cell, not verified, because the step from it moved the volume more than that
        run's residual pressure and the runs' isothermal bulk modulus allow (see
        :func:`_step_trusted`).
    lattice_change_percent : list of float or None
        100 (x_T / x_0 - 1) for a, b, c, %: the anisotropy of the expansion.
    """

    formula: str
    n_atoms: int
    temperature_K: float
    mean_temperature_K: float
    volume_0K_A3: float
    volume_A3: float
    expansion_percent: float
    expansion_se_percent: float
    thermal_pressure_GPa: float
    thermal_pressure_se_GPa: float
    iterations: int
    static_pressure_GPa: float
    bulk_modulus_GPa: float
    mean_stress_GPa: list[float]
    md_expansions_percent: list[float]
    md_pressures_GPa: list[float]
    md_ps: float
    equilibration_ps: float
    timestep_fs: float
    structure: dict[str, Any]
    wall_s: float
    provenance: Provenance
    shape: str = "isotropic"
    md_stresses_GPa: list[list[float]] | None = None
    thermal_stress_GPa: list[float] | None = None
    thermal_stress_se_GPa: list[float] | None = None
    space_group: str | None = None
    final_cell: str | None = None
    lattice_change_percent: list[float] | None = None


def _pressure_eV_A3(stress: np.ndarray) -> float:
    """Hydrostatic pressure of an ASE stress (Voigt, positive = tensile), eV/A^3."""
    return -float(np.sum(stress[:3])) / 3.0


def _scaled(atoms: Any, factor: float) -> Any:
    b = atoms.copy()
    b.set_cell(atoms.cell[:] * factor ** (1.0 / 3.0), scale_atoms=True)
    return b


def block_standard_error(x: np.ndarray, n_blocks: int = N_BLOCKS) -> float:
    """Standard error of the mean of a correlated series from ``n_blocks`` block means."""
    x = np.asarray(x, dtype=float)
    n = len(x) // n_blocks
    if n < 1:
        raise SimulationError(f"need at least {n_blocks} samples for a block error, got {len(x)}")
    means = x[: n * n_blocks].reshape(n_blocks, n).mean(axis=1)
    return float(means.std(ddof=1) / math.sqrt(n_blocks))


@dataclasses.dataclass(frozen=True)
class _NVT:
    pressure: float  # mean total pressure, eV/A^3
    pressure_se: float
    stress: np.ndarray  # mean total stress (Voigt, ASE sign), eV/A^3
    stress_se: np.ndarray  # its block standard errors, eV/A^3
    temperature: float


def _nvt_pressure(
    atoms: Any,
    ev: Any,
    temperature_K: float,
    n_steps: int,
    n_burn: int,
    timestep_fs: float,
    seed: int,
    progress: Callable[[int, int], None] | None,
) -> _NVT:
    """Mean pressure (kinetic part included) of an NVT run on the engine's MD."""
    pressures: list[float] = []
    stresses: list[np.ndarray] = []
    temps: list[float] = []
    with tempfile.TemporaryDirectory(prefix="halidelab-thermal-") as tmp:
        batch = MDBatch(
            [MDTask(atoms, temperature_K, Path(tmp) / "nvt.traj", seed)],
            steps=n_steps,
            evaluator=ev,
            timestep_fs=timestep_fs,
            thermostat="bussi",
            interval=n_steps,
            checkpoint_every=n_steps,
            resume=False,
        )
        (run,) = batch.runs
        for step in batch:
            if run.failed is not None:
                break
            if progress is not None:
                progress(step, n_steps)
            if step <= n_burn:
                continue
            total = np.asarray(run.atoms.calc.results["stress"], dtype=float).copy()
            kin = 0.5 * float(np.vdot(run.momenta, run.momenta / run.masses))
            total[:3] -= 2.0 * kin / (3.0 * float(run.atoms.get_volume()))  # ideal-gas part
            stresses.append(total)
            pressures.append(_pressure_eV_A3(total))
            temps.append(run.temperature())
    if run.failed is not None or not pressures:
        raise SimulationError(
            f"thermal-lattice MD at {temperature_K:g} K stopped: {run.failed or 'no samples'}"
        )
    stress = np.array(stresses)
    return _NVT(
        float(np.mean(pressures)),
        block_standard_error(np.array(pressures)),
        stress.mean(axis=0),
        np.array([block_standard_error(stress[:, i]) for i in range(6)]),
        float(np.mean(temps)),
    )


def _relaxed_at(atoms: Any, expansion: float, ev: Any, fmax: float, steps: int) -> Any:
    """``atoms`` scaled isotropically to V (1 + expansion), positions relaxed (a RelaxResult)."""
    (res,) = relax_batch(
        [_scaled(atoms, 1.0 + expansion)], ev, fmax=fmax, steps=steps, relax_cell=False
    )
    return res


class _StressOffset(BatchEvaluator):
    """A model's evaluator whose stress has a constant tensor added (Voigt, eV/A^3): a cell
    relaxed to zero stress on it reaches a static stress of ``-offset``. Energies and
    forces are the model's (the FIRE steps read forces and stress only)."""

    family = "offset"

    def __init__(self, base: BatchEvaluator, offset: np.ndarray) -> None:
        super().__init__(base.info, base.max_atoms, base.max_structures)
        self.base = base
        self.offset = np.asarray(offset, dtype=float).copy()

    def _evaluate_batch(self, atoms_list: list[Any]) -> list[Evaluation]:
        return [
            Evaluation(r.energy_eV, r.forces_eV_A, r.stress_eV_A3 + self.offset)
            for r in self.base.evaluate(atoms_list)
        ]


def _relaxed_under(
    atoms: Any,
    tau: np.ndarray,
    ev: BatchEvaluator,
    fmax: float,
    steps: int,
    symprec: float,
    stress_tol_GPa: float,
) -> tuple[Any, np.ndarray, str]:
    """Cell and positions of ``atoms`` relaxed statically to the stress ``-tau``, the
    crystal's symmetry kept (ASE ``FixSymmetry``).

    Returns the relaxed atoms (no constraint, no calculator), the symmetrised tau (Voigt,
    eV/A^3) and the space group kept.
    """
    import warnings

    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter
    from ase.spacegroup.symmetrize import check_symmetry

    a = atoms.copy()
    a.calc = None
    a.set_constraint()
    data = check_symmetry(a, symprec)
    tau_sym = np.asarray(tau, dtype=float).copy()
    if data is None:  # spglib found no group: relax unconstrained, tau as measured
        group = "none found (spglib)"
    else:
        group = f"{data.international} ({data.number})"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fix = FixSymmetry(a, symprec=symprec)
        a.set_constraint(fix)
        fix.adjust_stress(a, tau_sym)
    target = FrechetCellFilter(a, exp_cell_factor=cell_factor(a, fmax, stress_tol_GPa))
    (converged,), (n,), _ = optimize(
        [a],
        [target],
        _StressOffset(ev, tau_sym),
        fmax,
        steps,
        "FIRE",
        stress_tol_GPa=stress_tol_GPa,
    )
    if not converged:
        raise SimulationError(
            f"the cell relaxation under the thermal stress did not converge in {n} steps "
            f"(force {fmax:g} eV/A, stress {stress_tol_GPa:g} GPa); raise steps"
        )
    a.set_constraint()
    a.calc = None
    return a, tau_sym, group


def _at_zero_stress(run: _NVT, stress_tol_GPa: float) -> bool:
    """Every component of the run's mean stress within two standard errors (plus the
    relaxation's stress tolerance) of zero."""
    tol = stress_tol_GPa / EV_A3_TO_GPA
    return bool(np.all(np.abs(run.stress) <= 2.0 * run.stress_se + tol))


def _step_trusted(points: list[tuple[float, float]], new_expansion: float) -> bool:
    """Whether a further quasi-static step (from the last NVT run's cell to a volume
    expansion ``new_expansion``) is the size the runs allow.

    The step is a static relaxation, so it moves the cell by the *static* compliance times
    the run's residual stress; near the static lattice's tensile limit (a soft lattice
    under a large thermal pressure: CHGNet-D3 LiGaBr4 at 298 K, static bulk modulus 15 GPa)
    that compliance is far above the crystal's at T and the step overshoots (LiGaBr4: the
    run at +8.3 % found 0.05 GPa left, and the step went to +12.6 %). The volume the last
    run's pressure asks for, with the isothermal bulk modulus of the last two runs (their
    secant), bounds it: a step whose volume change differs from that by more than twice it
    (and by more than 0.5 % of volume) is not taken."""
    (e0, p0), (e1, p1) = points[-2], points[-1]
    slope = (p1 - p0) / (e1 - e0) if e1 != e0 else 0.0
    if not slope < 0:
        return True  # the runs resolve no bulk modulus: nothing to bound the step with
    wanted = -p1 / slope
    return abs((1.0 + new_expansion) / (1.0 + e1) - 1.0 - wanted) <= max(2.0 * abs(wanted), 0.005)


def _lattice_change(atoms0: Any, atoms: Any) -> list[float]:
    """100 (x / x_0 - 1) of a, b, c, %."""
    l0, l1 = LatticeParams.of(atoms0.cell), LatticeParams.of(atoms.cell)
    return [
        100.0 * (x / x0 - 1.0)
        for x0, x in zip((l0.a_A, l0.b_A, l0.c_A), (l1.a_A, l1.b_A, l1.c_A), strict=True)
    ]


def thermal_lattice(
    structure: Any,
    model: Potential | str = "chgnet",
    temperature_K: float = 298.15,
    *,
    calculator: Any = None,
    md_ps: float = 1.0,
    equilibration_ps: float = 0.3,
    iterations: int = 2,
    timestep_fs: float = 2.0,
    strain: float = 0.02,
    fmax: float = 0.05,
    steps: int = 300,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    shape: str = "anisotropic",
    symprec: float = SYMPREC_A,
    stress_tol_GPa: float = STRESS_TOL_GPA,
) -> ThermalLattice:
    """Expand a relaxed cell to its volume at ``temperature_K`` (see the module docstring).

    Parameters
    ----------
    structure : pymatgen Structure or ase Atoms
        The relaxed (0 K) structure, cell included.
    model, calculator
        The MLIP (registry name or :class:`~halidelab.potentials.Potential`), or any ASE
        calculator with stress.
    temperature_K : float
        K.
    md_ps, equilibration_ps : float
        Length of each NVT run and of its discarded start, ps.
    iterations : int
        NVT runs. Isotropic: 1 takes the linear step from V_0 with the static bulk modulus,
        short of the zero-pressure volume as the crystal softens on expanding (classical
        Lennard-Jones argon at 40 K: 4.15 % against 4.90 % after one secant step and 5.08 %
        after two; CHGNet-D3 Li3YCl6 at 298 K: 1.54 % against 2.11 +- 0.24 %); each further
        run makes a secant step on the measured pressures (default 2: one secant step).
        Anisotropic: each run measures the thermal stress at the current cell and the cell
        is relaxed under it (default 2: one correction of the first step, or none where
        the run at the first step's cell finds it at zero stress).
    timestep_fs : float
        fs.
    strain : float
        Volume strain of the two cells that give the bulk modulus (dimensionless).
    fmax, steps
        Position relaxations (strained and final cells): force limit eV/A, steps.
    seed : int
        Initial velocities and thermostat noise.
    progress : callable(step, total), optional
        Called after each MD step (steps counted over all runs).
    shape : {"anisotropic", "isotropic"}
        Every component of the mean stress to zero (the cell's shape changes within its
        symmetry), or the volume alone (the 0 K shape kept).
    symprec : float
        Anisotropic: spglib tolerance of the symmetry kept, A.
    stress_tol_GPa : float
        Anisotropic: the cell relaxation under the thermal stress converges every stress
        component to within this of it, GPa (default 0.01: 0.05 % of volume at a halide's
        bulk modulus of 20 GPa, below the NVT runs' standard error).

    Returns
    -------
    ThermalLattice

    Raises
    ------
    SimulationError
        Bad settings, a non-positive bulk modulus (the relaxed cell is not a minimum), an
        MD run that failed (atoms too close, temperature runaway), or (anisotropic) a cell
        relaxation under the thermal stress that did not converge in ``steps``.
    """
    if not (temperature_K > 0 and math.isfinite(temperature_K)):
        raise SimulationError(f"temperature must be > 0 K, got {temperature_K}")
    if not (0 < equilibration_ps < md_ps) or timestep_fs <= 0:
        raise SimulationError(
            "need 0 < equilibration_ps < md_ps and timestep_fs > 0, got "
            f"{equilibration_ps}, {md_ps}, {timestep_fs}"
        )
    if int(iterations) < 1:
        raise SimulationError(f"iterations must be >= 1, got {iterations}")
    if not 0 < strain < 0.1:
        raise SimulationError(f"strain must lie in (0, 0.1), got {strain}")
    if shape not in SHAPES:
        raise SimulationError(f"shape must be one of {', '.join(SHAPES)}, got {shape!r}")
    if not (symprec > 0 and math.isfinite(symprec)):
        raise SimulationError(f"symprec must be a positive length in A, got {symprec}")
    if not (stress_tol_GPa > 0 and math.isfinite(stress_tol_GPa)):
        raise SimulationError(f"stress_tol_GPa must be a positive number, got {stress_tol_GPa}")
    t_start = time.perf_counter()
    atoms0 = to_atoms(structure)
    ev = as_evaluator(model, calculator)
    v0 = float(atoms0.get_volume())

    # relaxed-ion bulk modulus and the static pressure left at V0
    cells = [_scaled(atoms0, 1.0 - strain), atoms0.copy(), _scaled(atoms0, 1.0 + strain)]
    relaxed = relax_batch(cells, ev, fmax=fmax, steps=steps, relax_cell=False)
    finals = [to_atoms(r.to_structure()) for r in relaxed]
    evals = ev.evaluate(finals)
    p_minus, p_static, p_plus = (_pressure_eV_A3(e.stress_eV_A3) for e in evals)
    bulk = -(p_plus - p_minus) / (2.0 * strain)
    if not bulk > 0:
        raise SimulationError(
            f"bulk modulus {bulk * EV_A3_TO_GPA:.3g} GPa is not positive: the cell is not "
            "relaxed to a minimum; relax it (cell included) first"
        )

    n_steps = int(round(md_ps * 1000.0 / timestep_fs))
    n_burn = int(round(equilibration_ps * 1000.0 / timestep_fs))
    if n_steps - n_burn < 2 * N_BLOCKS:
        raise SimulationError(
            f"the production run has {n_steps - n_burn} steps; need at least {2 * N_BLOCKS}"
        )
    total_steps = n_steps * iterations

    def nvt(atoms: Any, done: int) -> _NVT:
        step_progress = None
        if progress is not None:

            def step_progress(step: int, _n: int) -> None:
                progress(done + step, total_steps)

        return _nvt_pressure(
            atoms, ev, temperature_K, n_steps, n_burn, timestep_fs, seed, step_progress
        )

    runs = [nvt(finals[1], 0)]
    points = [(0.0, runs[0].pressure)]
    slope = -bulk
    tau_sym = None
    group = None
    final_cell = None
    if shape == "isotropic":
        # the first, linear step with the static bulk modulus; then secant steps on the
        # mean pressure of NVT runs at the new volumes
        expansion = points[0][1] / bulk
        cell = _relaxed_at(finals[1], expansion, ev, fmax, steps)
        for it in range(1, iterations):
            runs.append(nvt(to_atoms(cell.to_structure()), it * n_steps))
            points.append((expansion, runs[-1].pressure))
            (e0, f0), (e1, f1) = points[-2], points[-1]
            if not (e1 - e0) or not (f1 - f0) / (e1 - e0) < 0:
                break  # the pressures do not resolve a slope: keep the last cell
            slope = (f1 - f0) / (e1 - e0)
            expansion = e1 - f1 / slope
            cell = _relaxed_at(finals[1], expansion, ev, fmax, steps)
        s_t = cell.to_structure()
    else:
        # fixed point of sigma_static(h) + tau(h) = 0: the thermal stress measured at the
        # current cell, the cell relaxed statically under it, again at the new cell
        current, static = finals[1], np.asarray(evals[1].stress_eV_A3, dtype=float)
        final_cell = "stepped"
        for it in range(iterations):
            if it > 0 and _at_zero_stress(runs[-1], stress_tol_GPa):
                final_cell = "verified"  # the NVT at this cell finds it at zero mean stress
                break
            tau = runs[-1].stress - static
            stepped, tau_step, group = _relaxed_under(
                current, tau, ev, fmax, steps, symprec, stress_tol_GPa
            )
            if it > 0 and not _step_trusted(points, float(stepped.get_volume()) / v0 - 1.0):
                final_cell = "kept"
                break
            current, tau_sym = stepped, tau_step
            if it + 1 < iterations:
                runs.append(nvt(current, (it + 1) * n_steps))
                points.append((float(current.get_volume()) / v0 - 1.0, runs[-1].pressure))
                (static_eval,) = ev.evaluate([current])
                static = np.asarray(static_eval.stress_eV_A3, dtype=float)
        s_t = to_structure(current)
        expansion = s_t.volume / v0 - 1.0
    last = runs[-1]
    prov = provenance(
        "thermal-lattice-quasistatic",
        ev.info,
        {
            "temperature_K": temperature_K,
            "iterations": iterations,
            "md_ps": md_ps,
            "equilibration_ps": equilibration_ps,
            "timestep_fs": timestep_fs,
            "thermostat": "bussi",
            "strain": strain,
            "fmax": fmax,
            "steps": steps,
            "md_steps": n_steps,
            "shape": shape,
            "symprec_A": symprec if shape == "anisotropic" else None,
            "stress_tol_GPa": stress_tol_GPa if shape == "anisotropic" else None,
        },
        seed=seed,
    )
    return ThermalLattice(
        formula=s_t.composition.reduced_formula,
        n_atoms=len(s_t),
        temperature_K=float(temperature_K),
        mean_temperature_K=last.temperature,
        volume_0K_A3=v0,
        volume_A3=float(s_t.volume),
        expansion_percent=100.0 * expansion,
        expansion_se_percent=100.0 * last.pressure_se / abs(slope),
        thermal_pressure_GPa=(points[0][1] - p_static) * EV_A3_TO_GPA,
        thermal_pressure_se_GPa=runs[0].pressure_se * EV_A3_TO_GPA,
        iterations=len(runs),
        static_pressure_GPa=p_static * EV_A3_TO_GPA,
        bulk_modulus_GPa=bulk * EV_A3_TO_GPA,
        mean_stress_GPa=[float(x) * EV_A3_TO_GPA for x in runs[0].stress],
        md_expansions_percent=[100.0 * e for e, _ in points],
        md_pressures_GPa=[f * EV_A3_TO_GPA for _, f in points],
        md_ps=float(md_ps),
        equilibration_ps=float(equilibration_ps),
        timestep_fs=float(timestep_fs),
        structure=s_t.as_dict(),
        wall_s=time.perf_counter() - t_start,
        provenance=prov,
        shape=shape,
        md_stresses_GPa=[[float(x) * EV_A3_TO_GPA for x in r.stress] for r in runs],
        thermal_stress_GPa=None if tau_sym is None else [float(x) * EV_A3_TO_GPA for x in tau_sym],
        thermal_stress_se_GPa=None
        if tau_sym is None
        else [float(x) * EV_A3_TO_GPA for x in last.stress_se],
        space_group=group,
        final_cell=final_cell,
        lattice_change_percent=_lattice_change(atoms0, to_atoms(s_t)),
    )
