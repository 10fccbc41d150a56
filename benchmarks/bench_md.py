"""MD throughput on a ~100-atom halide cell, MSD FFT vs loop, batching on CPU.

Run by hand: ``PYTHONPATH=src python benchmarks/bench_md.py [steps] [models]``
(defaults: 10 steps, "chgnet,sevennet-0").

1. MD steps/s (Bussi NVT, 600 K, 2 fs, all atoms mobile) on an ordered Li3InCl6 cell
   from ``build_models`` (the OBELiX CIF with its In/Li occupancies resolved), per model.
2. Batching: CHGNet ``predict_structure`` on 4 copies (4 "temperatures") in one batch
   vs 4 single calls; this is the force call MD would batch.
3. MSD: :func:`msd_fft` vs :func:`msd_direct` on 2000 frames x 64 atoms, and vs
   pymatgen-analysis-diffusion if it happens to be installed (it is not a dependency).
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings

import numpy as np

warnings.simplefilter("ignore")


def cell():
    from halidelab.composition import design_composition
    from halidelab.structures.models import build_models

    return build_models(design_composition("Li3InCl6"), n_configs=1, max_atoms=120).structures[0]


def md_rate(model: str, steps: int) -> None:
    from halidelab.potentials import get_calculator
    from halidelab.transport.md import run_md

    s = cell()
    calc = get_calculator(model, device="cpu")
    with tempfile.TemporaryDirectory() as d:
        run_md(s, 600, 2, f"{d}/warm.traj", calculator=calc)  # warm-up (graph build, JIT)
        r = run_md(s, 600, steps, f"{d}/md.traj", calculator=calc, interval=5)
    print(
        f"MD {model}: {len(s)} atoms, {steps} steps: {r.steps_per_s:.2f} steps/s "
        f"({r.steps_per_s * len(s):.0f} atom-steps/s, {1 / r.steps_per_s:.2f} s/step)"
    )


def batching(n: int = 4, repeats: int = 3) -> None:
    from chgnet.model import CHGNet
    from pymatgen.core import Structure

    s = cell()
    model = CHGNet.load(verbose=False, use_device="cpu")
    rng = np.random.default_rng(0)
    copies = [
        Structure(
            s.lattice,
            s.species,
            s.cart_coords + rng.normal(0, 0.05, (len(s), 3)),
            coords_are_cartesian=True,
        )
        for _ in range(n)
    ]
    model.predict_structure(copies[0])
    loop, batch = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        for c in copies:
            model.predict_structure(c, task="efs")
        loop.append(time.perf_counter() - t)
        t = time.perf_counter()
        model.predict_structure(copies, task="efs", batch_size=n)
        batch.append(time.perf_counter() - t)
    print(
        f"CHGNet {n} x {len(s)} atoms: loop {np.median(loop):.2f} s, one batch "
        f"{np.median(batch):.2f} s "
        f"-> batch speed-up {np.median(loop) / np.median(batch):.2f}x"
    )


def msd_speed() -> None:
    from halidelab.transport.diffusion import msd_direct, msd_fft

    x = np.cumsum(np.random.default_rng(0).normal(size=(2000, 64, 3)), axis=0)
    t = time.perf_counter()
    a = msd_fft(x)
    t1 = time.perf_counter()
    b = msd_direct(x)
    t2 = time.perf_counter()
    print(
        f"MSD 2000 frames x 64 atoms: FFT {t1 - t:.3f} s, direct loop {t2 - t1:.2f} s "
        f"({(t2 - t1) / (t1 - t):.0f}x), max diff {np.abs(a - b).max():.1e} A^2"
    )
    try:
        import pymatgen.analysis.diffusion  # noqa: F401

        print("pymatgen-analysis-diffusion installed: compare by hand")
    except ImportError:
        print("pymatgen-analysis-diffusion not installed: no comparison")


if __name__ == "__main__":
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    models = sys.argv[2].split(",") if len(sys.argv) > 2 else ["chgnet", "sevennet-0"]
    msd_speed()
    for m in models:
        md_rate(m, steps)
    batching()
