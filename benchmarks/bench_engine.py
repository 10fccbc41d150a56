"""Batched engine vs the ASE loop: atom-steps/s of NVT MD, force-call throughput, NEB per hop.

Run by hand (not in CI). Cells: ordered Li3YCl6 (P-3m1) from
``build_models(design_composition("Li3YCl6"), supercell=1)`` (30 atoms) repeated to
60 (2x1x1), 270 (3x3x1) and 1080 (3x3x4) atoms, the nearest ordered sizes to the 66 /
264 / 1056-atom cells of the H100 anchors in ../shared/DESIGN.md ("Measured costs").

CPU (this machine, shared, noisy; a few minutes)::

    python benchmarks/bench_engine.py --device cpu --models chgnet,sevennet-0 \
        --sizes 60,270 --batches 1,4 --steps 5 --neb

GPU session (what is left of issue 9; carry .gpu built by ../shared/tools/gpu-site.sh,
and install the ``gpu`` extra for the cuEquivariance rows)::

    python benchmarks/bench_engine.py --device cuda --models sevennet-0,chgnet --cueq both \
        --sizes 60,270,1080 --batches 1,8,32,128 --steps 50 --neb --tier \
        --json $OUT/bench_engine.json
    # SevenNet graph building on the CPU instead of the GPU, to see what the torch
    # neighbour list buys:
    python benchmarks/bench_engine.py --device cuda --models sevennet-0 --nl ase \
        --sizes 60,270 --batches 32,128 --steps 50 --no-md --json $OUT/bench_nl_ase.json

Anchors to print next to the GPU numbers (H100, 264-atom cells x 32): ASE loop 3.8k,
torch-sim 0.6.2 + SevenNet-0 28k, + cuEquivariance 82k atom-steps/s.

What is measured:

- ``eval``: one batched energy+forces+stress call on B copies (rattled, different) of
  a cell, median of ``--repeats`` calls after a warm-up: atoms/s of model evaluation.
- ``md``: ``halidelab.engine.md.run_md_batch`` with B tasks (600 K, different seeds),
  ``--steps`` steps, frames every 1000 steps: atom-steps/s = B x n_atoms x steps / wall.
  ``md-ase``: ASE's own ``Bussi`` on one cell with the registry's ASE calculator (the
  yardstick: a loop over B structures runs at this rate). ``md-single``: the public
  ``halidelab.transport.md.run_md`` on one cell with the registry model (a batch of one
  on the engine; before the engine became the only path this row was ``md-ase``).
- ``neb``: Li-vacancy hops in the 30-atom cell, 3 images, ``--neb-hops`` hops in one
  ``neb_batch`` call vs ASE's NEB (improved tangent, FIRE, plain then climbing) one hop
  after another: wall time per hop and the barrier difference.
- ``--tier``: wall time of the reference MD tier (4 compositions x 4 temperatures x
  100 ps at 2 fs on 264-atom cells = 16 tasks) extrapolated from the measured
  270-atom batched rate at the batch size closest to 16.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

warnings.simplefilter("ignore")

SUPERCELLS = {30: (1, 1, 1), 60: (2, 1, 1), 270: (3, 3, 1), 1080: (3, 3, 4)}


def base_cell():
    from halidelab.composition import design_composition
    from halidelab.relax import to_atoms
    from halidelab.structures.models import build_models

    s = build_models(design_composition("Li3YCl6"), supercell=1, n_configs=1).structures[0]
    return to_atoms(s)


def cells(base, n_atoms: int, count: int, seed: int = 0):
    rep = SUPERCELLS[n_atoms]
    out = []
    for k in range(count):
        a = base.repeat(rep)
        a.rattle(0.02, seed=seed + k)
        out.append(a)
    return out


def peak_mem_reset(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def peak_mem(device: str) -> float | None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() / 2**20
    return None


def oom(exc: Exception) -> bool:
    return "out of memory" in str(exc).lower()


def bench_eval(ev, base, n, b, repeats, device):
    structs = cells(base, n, b)
    ev.evaluate(structs)  # warm-up
    peak_mem_reset(device)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        ev.evaluate(structs)
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    mem = peak_mem(device)
    return {
        "kind": "eval",
        "n_atoms": n,
        "batch": b,
        "median_s": med,
        "atoms_per_s": n * b / med,
        "peak_MiB": mem,
        "bytes_per_atom": None if mem is None else mem * 2**20 / (n * b),
    }


def bench_md(ev, base, n, b, steps):
    from halidelab.engine.md import MDTask, run_md_batch

    with tempfile.TemporaryDirectory() as d:
        tasks = [
            MDTask(a, 600.0, Path(d) / f"t{k}.traj", seed=k)
            for k, a in enumerate(cells(base, n, b))
        ]
        t = time.perf_counter()
        res = run_md_batch(
            tasks,
            steps=steps,
            evaluator=ev,
            interval=1000,
            checkpoint_every=1000,
            max_temperature_factor=10,
        )
        wall = time.perf_counter() - t
    bad = [r for r in res if type(r).__name__ == "MDFailure"]
    return {
        "kind": "md",
        "n_atoms": n,
        "batch": b,
        "steps": steps,
        "wall_s": wall,
        "atom_steps_per_s": n * b * steps / wall,
        "failed": len(bad),
    }


def bench_ase_md(model, device, base, n, steps):
    """ASE's Bussi NVT with the registry's ASE calculator: the yardstick."""
    from ase import units
    from ase.md.bussi import Bussi
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    from halidelab.potentials import get_calculator

    calc = get_calculator(model, device)
    (a,) = cells(base, n, 1)
    a.calc = calc
    rng = np.random.default_rng(0)
    MaxwellBoltzmannDistribution(a, temperature_K=600.0, rng=rng)
    Stationary(a)
    dyn = Bussi(a, 2.0 * units.fs, temperature_K=600.0, taut=100 * units.fs, rng=rng)
    dyn.run(1)  # warm-up
    t = time.perf_counter()
    dyn.run(steps)
    wall = time.perf_counter() - t
    return {
        "kind": "md-ase",
        "n_atoms": n,
        "batch": 1,
        "steps": steps,
        "wall_s": wall,
        "atom_steps_per_s": n * steps / wall,
    }


def bench_single_md(ev, base, n, steps):
    """The public run_md on one cell (the engine, a batch of one)."""
    from halidelab.transport.md import run_md

    (a,) = cells(base, n, 1)
    with tempfile.TemporaryDirectory() as d:
        run_md(a, 600.0, 1, Path(d) / "warm.traj", calculator=ev)
        t = time.perf_counter()
        run_md(
            a,
            600.0,
            steps,
            Path(d) / "x.traj",
            calculator=ev,
            interval=1000,
            checkpoint_every=1000,
            max_temperature_factor=10,
        )
        wall = time.perf_counter() - t
    return {
        "kind": "md-single",
        "n_atoms": n,
        "batch": 1,
        "steps": steps,
        "wall_s": wall,
        "atom_steps_per_s": n * steps / wall,
    }


def li_vacancy_hops(base, count):
    """Li vacancy hops: remove one Li, move each of its nearest Li neighbours into it."""
    li = [i for i, s in enumerate(base.get_chemical_symbols()) if s == "Li"]
    v = li[0]
    d = base.get_distances(v, li[1:], mic=True)
    order = np.argsort(d)[:count]
    hops = []
    for o in order:
        j = li[1:][o]
        host = base.copy()
        vac = host.positions[v].copy()
        from ase.geometry import find_mic

        disp, _ = find_mic(vac - host.positions[j], host.cell, host.pbc)
        del host[v]
        jj = j - 1 if j > v else j
        fin = host.copy()
        fin.positions[jj] = host.positions[jj] + disp
        hops.append((host, fin, float(d[o])))
    return hops


def bench_neb(ev, model, device, base, n_hops, fmax, steps):
    from ase.mep.neb import NEB
    from ase.optimize import FIRE

    from halidelab.engine.neb import NEBHop, neb_batch
    from halidelab.potentials import get_calculator

    hops = li_vacancy_hops(base, n_hops)
    t = time.perf_counter()
    res = neb_batch(
        [NEBHop(i, f, f"hop{k}") for k, (i, f, _) in enumerate(hops)],
        ev,
        n_images=3,
        fmax=fmax,
        steps=steps,
    )
    wall_b = time.perf_counter() - t
    calc = get_calculator(model, device)
    t = time.perf_counter()
    ase_barriers, ase_conv = [], []
    for i, f, _ in hops:
        images = [i.copy() for _ in range(4)] + [f.copy()]
        for im in images:
            im.calc = calc
        band = NEB(images, k=0.1, method="improvedtangent", allow_shared_calculator=True)
        band.interpolate(mic=True)
        opt = FIRE(band, logfile=None)
        opt.run(fmax=max(3 * fmax, 0.15), steps=max(1, steps // 3))
        used = opt.nsteps
        band.climb = True
        opt = FIRE(band, logfile=None)
        ase_conv.append(bool(opt.run(fmax=fmax, steps=max(1, steps - used))))
        e = np.array([im.get_potential_energy() for im in images])
        ase_barriers.append(float((e - e[0]).max()))
    wall_a = time.perf_counter() - t
    return {
        "kind": "neb",
        "n_hops": len(hops),
        "hop_lengths_A": [h[2] for h in hops],
        "batched_s_per_hop": wall_b / len(hops),
        "ase_s_per_hop": wall_a / len(hops),
        "barriers_batched_eV": [r.barrier_forward_eV for r in res],
        "barriers_ase_eV": ase_barriers,
        "converged_batched": [r.converged for r in res],
        "converged_ase": ase_conv,
        "max_barrier_diff_eV": float(
            max(abs(r.barrier_forward_eV - e) for r, e in zip(res, ase_barriers, strict=True))
        ),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--models", default="sevennet-0")
    ap.add_argument("--cueq", choices=["off", "on", "both"], default="off")
    ap.add_argument("--sizes", default="60,270")
    ap.add_argument("--batches", default="1,4")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--neb", action="store_true")
    ap.add_argument("--neb-hops", type=int, default=4)
    ap.add_argument("--neb-steps", type=int, default=150)
    ap.add_argument("--tier", action="store_true")
    ap.add_argument("--no-md", action="store_true")
    ap.add_argument("--nl", default="auto", help="SevenNet neighbour list: auto, ase or torch")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    from halidelab.engine.batch import get_evaluator
    from halidelab.potentials import set_threads

    set_threads(args.threads)
    base = base_cell()
    sizes = [int(s) for s in args.sizes.split(",")]
    batches = [int(b) for b in args.batches.split(",")]
    rows = []

    def emit(row):
        rows.append(row)
        print(json.dumps(row), flush=True)

    for model in args.models.split(","):
        cueqs = {"off": [False], "on": [True], "both": [False, True]}[args.cueq]
        if model == "chgnet":
            cueqs = [False]
        for cq in cueqs:
            ev = get_evaluator(
                model, args.device, max_atoms=10**9, enable_cueq=cq, neighbor_list=args.nl
            )
            tag = {
                "model": model,
                "device": args.device,
                "cueq": cq,
                "nl": ev.info.get("neighbor_list"),
            }
            for n in sizes:
                for b in batches:
                    try:
                        emit({**tag, **bench_eval(ev, base, n, b, args.repeats, args.device)})
                        if not args.no_md:
                            emit({**tag, **bench_md(ev, base, n, b, args.steps)})
                    except Exception as exc:  # OOM on big batches: record and go on
                        if not oom(exc):
                            raise
                        emit({**tag, "kind": "oom", "n_atoms": n, "batch": b})
                        import torch

                        torch.cuda.empty_cache()
                if not args.no_md and not cq:
                    emit({**tag, **bench_ase_md(model, args.device, base, n, args.steps)})
                    emit({**tag, **bench_single_md(ev, base, n, args.steps)})
            if args.neb and not cq:
                emit(
                    {
                        **tag,
                        **bench_neb(
                            ev, model, args.device, base, args.neb_hops, 0.05, args.neb_steps
                        ),
                    }
                )
            if args.tier:
                md = [
                    r
                    for r in rows
                    if r.get("kind") == "md"
                    and r["model"] == model
                    and r["cueq"] == cq
                    and r["n_atoms"] == 270
                ]
                if md:
                    best = min(md, key=lambda r: abs(r["batch"] - 16))
                    atom_steps = 16 * 264 * 50_000
                    emit(
                        {
                            **tag,
                            "kind": "tier-estimate",
                            "from_batch": best["batch"],
                            "atom_steps": atom_steps,
                            "wall_h": atom_steps / best["atom_steps_per_s"] / 3600,
                        }
                    )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
