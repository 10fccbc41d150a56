"""How soft are MLIP defect energies? Frenkel and Schottky pairs of rock-salt LiX.

Rock-salt LiF, LiCl, LiBr and LiI have a full Li sublattice and measured intrinsic
conductivity; alkali halides are Schottky-disordered with pair energies of about 2 eV
(the textbook range of intrinsic-conductivity analyses). Each registered MLIP computes
both pairs with :func:`halidelab.transport.defects.li_defect_energies` in the 2x2x2
conventional supercell (64 atoms, 8-12 A wide) and, with ``--converge``, in 3x3x3 (216
atoms) for the finite-size error. The numbers go in the issue note beside the
measured range; nothing here is asserted.

Run by hand, one model at a time on a quiet machine::

    OMP_NUM_THREADS=1 python benchmarks/bench_defects.py --models chgnet,sevennet-0 \\
        --out bench_defects.json
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

from pymatgen.core import Lattice, Structure

from halidelab.relax import relax
from halidelab.transport.defects import ROCKSALT_A, li_defect_energies


def rocksalt(x: str) -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(ROCKSALT_A[x]), ["Li", x], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="chgnet", help="comma list of registry names")
    ap.add_argument("--anions", default="F,Cl,Br,I")
    ap.add_argument("--converge", action="store_true", help="also 3x3x3 (216 atoms)")
    ap.add_argument("--out", default="bench_defects.json")
    args = ap.parse_args()
    rows = []
    reps = [2] + ([3] if args.converge else [])
    for model in args.models.split(","):
        for x in args.anions.split(","):
            for n in reps:
                t0 = time.perf_counter()
                # the n x n x n conventional cell: its width is n a, just reached
                w = 0.99 * n * ROCKSALT_A[x]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    # the model's own lattice constant (the LiX reference is relaxed too)
                    s = relax(rocksalt(x), model, fmax=0.01, steps=200).to_structure()
                    d = li_defect_energies(
                        s, model, min_width_A=w * s.lattice.a / ROCKSALT_A[x], max_atoms=300
                    )
                row = {
                    "model": model,
                    "compound": f"Li{x}",
                    "a_A": s.lattice.a,
                    "n_atoms": d.n_atoms,
                    "e_schottky_eV": d.e_schottky_eV,
                    "e_frenkel_eV": d.e_frenkel_eV,
                    "lowest": d.mechanism,
                    "lix_energy_per_fu_eV": d.lix_energy_per_fu_eV,
                    "warnings": list(d.warnings),
                    "wall_s": time.perf_counter() - t0,
                }
                rows.append(row)
                es, ef = d.e_schottky_eV, d.e_frenkel_eV
                print(
                    f"{model:14s} Li{x:2s} {d.n_atoms:4d} atoms  Schottky "
                    f"{'-' if es is None else f'{es:.3f}'}  Frenkel "
                    f"{'-' if ef is None else f'{ef:.3f}'}  {row['wall_s']:.0f} s",
                    flush=True,
                )
                with open(args.out, "w") as fh:
                    json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
