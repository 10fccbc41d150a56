"""Isotropic against anisotropic thermal expansion: what each leaves of the mean stress at T.

Run by hand:
``PYTHONPATH=src python benchmarks/bench_thermal_shape.py [model] [temperature_K] [md_ps] [ids...]``
(default ``chgnet-d3``, 298.15 K, 1 ps runs as ``validate --lattice-temperature`` makes
them; ids: the reference set's materials modelled on a measured CIF, default Li3YCl6 and
Li3InCl6). ``model`` ``emt`` runs the EMT L1_0 CuAu cell of the tests instead (128 atoms,
600 K by default), where the anisotropy is large and the runs are cheap.

For each cell (the validation's ordered model, relaxed to zero stress) it expands the
lattice to T both ways (:func:`halidelab.thermal.thermal_lattice`, ``shape`` isotropic and
anisotropic) and then runs an independent NVT check at each final cell (another seed,
``4 x md_ps``) and prints: the change of a, b, c and V against the start (for a measured
CIF, the room-temperature structure, %), the mean stress the check finds along a, b, c
with its standard error (GPa: zero within errors is the target), and the wall time of
the expansion (s). Measured results are in the issue notes.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import torch
from pymatgen.core import Structure

from halidelab.atoms import to_atoms, to_structure
from halidelab.engine import get_evaluator
from halidelab.engine.batch import as_evaluator
from halidelab.engine.relax import EV_A3_TO_GPA
from halidelab.relax import relax
from halidelab.thermal import _nvt_pressure, thermal_lattice
from halidelab.validation.reference import load_reference_set, resolve_structure_file
from halidelab.validation.structures import build_reference_model

CELLS = ("li3ycl6-ampoule-schlem2020", "li3incl6-li2019angew")


def _cuau() -> tuple[Structure, object]:
    from ase import Atoms
    from ase.calculators.emt import EMT

    a, c = 3.96 / 2**0.5, 3.7
    atoms = Atoms(
        "CuAu", scaled_positions=[[0, 0, 0], [0.5] * 3], cell=[[a, 0, 0], [0, a, 0], [0, 0, c]]
    ).repeat(4)
    atoms.pbc = True
    return atoms, as_evaluator(None, EMT())


def _axes(s: Structure, s0: Structure) -> list[float]:
    return [100 * (x / x0 - 1) for x, x0 in zip(s.lattice.abc, s0.lattice.abc, strict=True)]


def main() -> None:
    model = sys.argv[1] if len(sys.argv) > 1 else "chgnet-d3"
    emt = model == "emt"
    temperature = float(sys.argv[2]) if len(sys.argv) > 2 else (600.0 if emt else 298.15)
    md_ps = float(sys.argv[3]) if len(sys.argv) > 3 else (4.0 if emt else 1.0)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="logm result may be inaccurate")
    if emt:
        atoms, ev = _cuau()
        cells = [("cuau-emt", atoms)]
    else:
        ev = get_evaluator(model, "cpu", threads=1)
        entries = {e.id: e for e in load_reference_set().entries}
        cells = []
        for cid in sys.argv[4:] or CELLS:
            e = entries[cid]
            built = build_reference_model(
                e.composition, e.construction, resolve_structure_file(e.structure_file)
            )
            cells.append((cid, Structure.from_dict(built.structure)))
    timestep = 5.0 if emt else 2.0
    print(f"{model}, {temperature:g} K, NVT runs of {md_ps:g} ps; check runs {4 * md_ps:g} ps")
    for cid, start in cells:
        s0 = start if isinstance(start, Structure) else to_structure(start)
        fmax = 1e-3 if emt else 0.05
        relaxed = relax(s0, calculator=ev, fmax=fmax, steps=1000).to_structure()
        print(f"{cid}: relaxed (0 K) a b c {_axes(relaxed, s0)} %")
        for shape in ("isotropic", "anisotropic"):
            t0 = time.perf_counter()
            th = thermal_lattice(
                relaxed,
                calculator=ev,
                temperature_K=temperature,
                md_ps=md_ps,
                equilibration_ps=0.3 if md_ps <= 1.0 else 0.5,
                timestep_fs=timestep,
                fmax=fmax,
                shape=shape,
            )
            wall = time.perf_counter() - t0
            final = Structure.from_dict(th.structure)
            n_steps = int(round(4 * md_ps * 1000 / timestep))
            check = _nvt_pressure(
                to_atoms(final), ev, temperature, n_steps, n_steps // 8, timestep, 12345, None
            )
            mean, se = check.stress * EV_A3_TO_GPA, check.stress_se * EV_A3_TO_GPA
            axes = ", ".join(f"{x:+.2f}" for x in _axes(final, s0))
            stress = ", ".join(f"{m:+.3f}+-{e:.3f}" for m, e in zip(mean[:3], se[:3], strict=True))
            print(
                f"  {shape:11s} a b c ({axes}) %, V {100 * (final.volume / s0.volume - 1):+.2f} %;"
                f" check stress xx yy zz ({stress}) GPa, shear max "
                f"{np.abs(mean[3:]).max():.3f}; {th.space_group or '-'}; {wall:.0f} s",
                flush=True,
            )


if __name__ == "__main__":
    main()
