"""Cost of the MD analysis (``analyse_positions``) with the tracer D tensor and the pellet.

Run by hand: ``PYTHONPATH=src python benchmarks/bench_md_analysis.py [n_frames] [n_li]``.

A synthetic anisotropic random walk (D = 0.05, 0.05, 0.3 A^2/ps; 72 Li, 2000 frames of
0.05 ps by default, the size of a 264-atom Li3YCl6 run written every 50 fs for 100 ps)
is analysed three times: the first analysis computes the GLS window covariance, the
others reuse it (runs of the same length share it), so the first is the cost of a new
run; the pellet/orientation ratio is printed. The tensor costs 6 GLS fits on all atoms
and 6 on each of 8 leave-one-block-out sets (the jackknife of the pellet's error): 54
fits beside the 6 of the plain analysis, cheap because the window covariance is cached
(measured in the issue-14 note: 0.32 s before the tensor, 0.57 s with it, 72 Li x 2000
frames, 2-core CPU).
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

from halidelab.transport.diffusion import analyse_positions


def main() -> None:
    n_f = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    n_a = int(sys.argv[2]) if len(sys.argv) > 2 else 72
    dt = 0.05
    rng = np.random.default_rng(0)
    steps = rng.normal(size=(n_f - 1, n_a, 3)) * np.sqrt(2 * np.array([0.05, 0.05, 0.3]) * dt)
    x = np.concatenate([rng.random((1, n_a, 3)) * 10, steps]).cumsum(axis=0)
    t = np.arange(n_f) * dt
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        r = analyse_positions(x, np.diag([12.0, 12.0, 12.0]), t, np.ones(n_a, bool), 700.0)
        times.append(time.perf_counter() - t0)
    ratio = (r.sigma_polycrystal_S_cm or 0.0) / r.sigma_S_cm
    print(
        f"{n_a} Li x {n_f} frames: first analysis {times[0]:.2f} s, then median "
        f"{statistics.median(times[1:]):.2f} s (covariance cached); pellet / orientation "
        f"average {ratio:.3f}"
    )


if __name__ == "__main__":
    main()
