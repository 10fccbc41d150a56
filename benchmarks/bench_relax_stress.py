"""What the stress criterion of a cell relaxation costs and changes, on the reference set.

Run by hand: ``PYTHONPATH=src python benchmarks/bench_relax_stress.py [model] [steps] [ids...]``
(default ``chgnet``, 500 steps, the reference set's ten materials modelled on a measured
CIF).

For each cell (the validation's ordered model, built from the shipped data) it relaxes
positions and cell three ways on one thread, each from the same start:

- ``force``: ASE's criterion alone (``stress_tol_GPa=None``): the largest force below fmax,
  the cell "forces" (virial / N) included, which leaves up to fmax N / V of stress;
- ``stress, N``: also every stress component below 0.05 GPa, with ASE's default
  ``exp_cell_factor`` (N);
- ``stress``: the default, the same criterion with ``exp_cell_factor`` min(N, V
  stress_tol / fmax) (:func:`halidelab.engine.relax.cell_factor`),

and prints the optimiser steps, whether it converged, the largest stress left (GPa), the
volume against the start (the measured room-temperature structure, %), the energy per
atom (eV) and the wall time (s). Measured results are in the issue notes.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import torch
from ase.filters import FrechetCellFilter
from pymatgen.core import Structure

from halidelab.atoms import to_atoms
from halidelab.engine import get_evaluator
from halidelab.engine.relax import EV_A3_TO_GPA, STRESS_TOL_GPA, cell_factor, optimize
from halidelab.validation.reference import load_reference_set, resolve_structure_file
from halidelab.validation.structures import build_reference_model

CELLS = (
    "li3ycl6-ampoule-schlem2020",
    "li3ybr6-asano2018",
    "li3incl6-li2019angew",
    "li3eri6-schlem2020",
    "lialcl4-jes",
    "ligabr4-2000",
    "li6nbr3-2015",
    "li2crcl4-1988",
    "li3alf6-2012",
)
FMAX = 0.05


def _run(atoms, ev, steps: int, factor: float, tol: float | None) -> tuple:
    a = atoms.copy()
    target = FrechetCellFilter(a, exp_cell_factor=factor)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conv, nsteps, _ = optimize([a], [target], ev, FMAX, steps, "FIRE", stress_tol_GPa=tol)
    wall = time.perf_counter() - t0
    stress = float(np.abs(a.get_stress()).max() * EV_A3_TO_GPA)
    dv = 100 * (a.get_volume() / atoms.get_volume() - 1)
    return nsteps[0], conv[0], stress, dv, a.get_potential_energy() / len(a), wall


def main() -> None:
    model = sys.argv[1] if len(sys.argv) > 1 else "chgnet"
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    cells = sys.argv[3:] or CELLS
    torch.set_num_threads(1)
    entries = {e.id: e for e in load_reference_set().entries}
    ev = get_evaluator(model, "cpu", threads=1)
    print(f"{model}, fmax {FMAX} eV/A, stress criterion {STRESS_TOL_GPA} GPa, {steps} steps")
    print(
        f"{'cell':28s} {'atoms':>5s} {'criterion':10s} {'steps':>5s} {'conv':>5s} "
        f"{'stress GPa':>10s} {'dV %':>6s} {'E eV/atom':>10s} {'wall s':>6s}"
    )
    for cid in cells:
        e = entries[cid]
        built = build_reference_model(
            e.composition, e.construction, resolve_structure_file(e.structure_file)
        )
        atoms = to_atoms(Structure.from_dict(built.structure))
        n = float(len(atoms))
        for name, factor, tol in (
            ("force", n, None),
            ("stress, N", n, STRESS_TOL_GPA),
            ("stress", cell_factor(atoms, FMAX, STRESS_TOL_GPA), STRESS_TOL_GPA),
        ):
            k, conv, stress, dv, e_atom, wall = _run(atoms, ev, steps, factor, tol)
            print(
                f"{cid:28s} {len(atoms):5d} {name:10s} {k:5d} {conv!s:>5s} {stress:10.3f} "
                f"{dv:+6.1f} {e_atom:10.5f} {wall:6.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
