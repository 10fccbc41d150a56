"""Does Nb lower the Li+ barriers in the MLIP? CI-NEB on Li2ZrCl6 vs Li(2-x)Zr(1-x)Nb(x)Cl6.

Run: python benchmarks/bench_nb_neb.py [--model chgnet] [--threads 2]

Both compositions in the 27-atom P-3m1 cell (x = 1/3: one Nb of three M, the smallest
cell holding Nb), relaxed with the MLIP (positions and cell), then CI-NEB over one hop
per symmetry class of the pristine framework (c-axis Li1-Li2 and the in-plane
Li-i-Li paths), with chains and percolation barriers. Prints one table and the verdict.
The cell is small (c ~ 5.9 A): a benchmark of the question, not a converged answer.
"""

from __future__ import annotations

import argparse
import time
import warnings

from halidelab.composition import Substitution, design_composition
from halidelab.potentials import Potential
from halidelab.relax import relax
from halidelab.structures.models import build_models
from halidelab.transport.neb import neb_study


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="chgnet")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--images", type=int, default=5)
    ap.add_argument("--fmax", type=float, default=0.05)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    rows = []
    for label, subs in (
        ("Li2ZrCl6", []),
        ("Li5/3Zr2/3Nb1/3Cl6", [Substitution("Nb", "Zr", 1 / 3)]),
    ):
        model = build_models(design_composition("Li2ZrCl6", subs), supercell=1, n_configs=1, seed=0)
        t = time.perf_counter()
        pot = Potential(args.model, threads=args.threads)
        rel = relax(model.structures[0], pot, fmax=args.fmax)
        study = neb_study(
            rel.to_structure(), hops="distinct", model=pot, n_images=args.images, fmax=args.fmax
        )
        wall = time.perf_counter() - t
        for r in study.results:
            print(
                f"{label:20s} {r.label:22s} fwd {r.barrier_forward_eV:.3f} bwd "
                f"{r.barrier_backward_eV:.3f} eV "
                f"converged={r.converged}"
            )
        p = study.percolation
        rows.append(
            (
                label,
                rel.lattice_final.a_A,
                rel.lattice_final.c_A,
                p.ea_1d_eV if p else None,
                p.ea_3d_eV if p else None,
                study.all_converged,
                wall,
            )
        )
    print(f"\n{'composition':20s} {'a (A)':>7s} {'c (A)':>7s} {'E1D':>6s} {'E3D':>6s} conv  wall")
    for lab, a, c, e1, e3, conv, wall in rows:
        print(
            f"{lab:20s} {a:7.3f} {c:7.3f} {e1 if e1 is None else round(e1, 3)!s:>6s} "
            f"{e3 if e3 is None else round(e3, 3)!s:>6s} {conv!s:5s} {wall:5.0f} s"
        )
    (_, _, _, e1a, e3a, _, _), (_, _, _, e1b, e3b, _, _) = rows
    if None not in (e1a, e3a, e1b, e3b):
        print(
            f"\nNb changes the 1D barrier by {100 * (e1b - e1a) / e1a:+.0f}% and the 3D barrier by "
            f"{100 * (e3b - e3a) / e3a:+.0f}% in this model ({args.model})."
        )


if __name__ == "__main__":
    main()
