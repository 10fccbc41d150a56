"""Time per CI-NEB hop in the 27-atom Li2ZrCl6 cell (P-3m1, 6 Li on 12 sites).

Run by hand (not a test):

    python benchmarks/bench_neb.py --model chgnet --images 5 --fmax 0.05 --threads 1

Prints, per symmetry-distinct hop (the c-axis Li1-Li2 hop through the shared face and
the in-plane octahedron -> tetrahedral interstitial hops), the barriers, convergence,
NEB steps, force calls and wall time; then the chain barriers ([Li1-Li2-Li1] along c,
[Li-i-Li] in-plane) and the 1D/2D/3D percolation barriers. ``--out FILE`` saves JSON.

``--via model`` (default) runs the study with the registry model
(:class:`halidelab.potentials.Potential`, its batched evaluator); ``--via calculator``
with the model's ASE calculator behind the engine (one structure per call).
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="chgnet")
    ap.add_argument("--images", type=int, default=5)
    ap.add_argument("--fmax", type=float, default=0.05)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--supercell", default="1", help="prototype cells: 1 (27 atoms) or 2 (54 atoms)"
    )
    ap.add_argument("--via", choices=["model", "calculator"], default="model")
    ap.add_argument(
        "--structure",
        default=None,
        help="a CIF/JSON of the model instead of the first Li2ZrCl6 ordering (the same input "
        "for runs of different code versions)",
    )
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    from halidelab.composition import design_composition
    from halidelab.engine.batch import get_evaluator
    from halidelab.potentials import Potential, get_calculator
    from halidelab.structures.models import build_models
    from halidelab.transport.neb import neb_study

    if args.structure:
        from pymatgen.core import Structure

        s = Structure.from_file(args.structure)
    else:
        s = build_models(
            design_composition("Li2ZrCl6"), supercell=int(args.supercell), n_configs=1
        ).structures[0]
    t0 = time.perf_counter()
    pot = Potential(args.model, device=args.device, threads=args.threads)
    calc = (
        get_evaluator(pot)
        if args.via == "model"
        else get_calculator(args.model, args.device, args.threads)
    )
    t_load = time.perf_counter() - t0

    def show(r) -> None:
        print(
            f"{r.label:12s} {r.mechanism:12s} dir={r.direction:7s} L={r.hop_length_A:.2f} A  "
            f"Ea_fwd={r.barrier_forward_eV:.3f} Ea_bwd={r.barrier_backward_eV:.3f} "
            f"dE={r.delta_e_eV:+.3f} eV  "
            f"conv={r.converged} ends_ok={r.endpoints_ok} steps={r.steps} calls={r.force_calls} "
            f"wall={r.wall_s:.1f} s  ({r.wall_s / max(r.force_calls, 1) * 1e3:.0f} ms/call)",
            flush=True,
        )
        for w in r.warnings:
            print("    warning:", w, flush=True)

    print(
        f"{s.composition.reduced_formula}, {len(s)} atoms, model {args.model} via {args.via} "
        f"(load {t_load:.1f} s), images={args.images} fmax={args.fmax}",
        flush=True,
    )
    t1 = time.perf_counter()
    study = neb_study(
        s,
        hops="distinct",
        calculator=calc,
        n_images=args.images,
        fmax=args.fmax,
        steps=args.steps,
        on_result=show,
    )
    print(
        f"total {time.perf_counter() - t1:.1f} s for {len(study.results)} hops "
        f"(initial-state relaxation included)"
    )
    for sk in study.skipped:
        print("skipped:", sk)
    for c in study.chains:
        print(
            f"chain {c.name:28s} barrier {c.barrier_eV:.3f} eV  converged={c.converged}  "
            f"sites {tuple(round(e, 3) for e in c.site_energies_eV)} "
            f"saddles {tuple(round(e, 3) for e in c.saddle_energies_eV)}"
        )
    p = study.percolation
    if p is not None:
        print(f"percolation: 1D {p.ea_1d_eV} 2D {p.ea_2d_eV} 3D {p.ea_3d_eV} eV")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(study.to_dict(), fh, indent=1, default=str)


if __name__ == "__main__":
    main()
