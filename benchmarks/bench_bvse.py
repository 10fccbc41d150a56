"""BVSE: halidelab.transport.bvse vs bvlain on pristine Li3YCl6 and Li3InCl6.

Run by hand: ``PYTHONPATH=src python benchmarks/bench_bvse.py [resolution_A]``.

Checks (1) the energies at bvlain's own grid points (max |dE|), (2) percolation
barriers: bvlain's bisection vs our periodic union-find on the *same* grid (bvlain's
grid without its repeated last plane), and on our own grid, and (3) wall times.
Structures: the OBELiX CIFs ordered by halidelab.build_models (lowest-Ewald config).
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np

warnings.simplefilter("ignore")

from bvlain import Lain  # noqa: E402

from halidelab.composition import design_composition  # noqa: E402
from halidelab.structures.models import build_models  # noqa: E402
from halidelab.transport.bvse import (  # noqa: E402
    BVSEMap,
    assign_oxidation_states,
    bvse,
    percolation_barriers,
    site_energy,
)


def main(resolution: float = 0.2) -> None:
    for formula in ("Li3YCl6", "Li3InCl6"):
        s = build_models(design_composition(formula), n_configs=1, max_atoms=120).structures[0]
        s = assign_oxidation_states(s)
        t0 = time.perf_counter()
        lain = Lain(verbose=False)
        lain.read_structure(s, oxi_check=False)
        grid = lain.bvse_distribution(mobile_ion="Li1+", resolution=resolution)
        t1 = time.perf_counter()
        ref = lain.percolation_barriers(encut=5.0)
        t2 = time.perf_counter()
        n = grid.shape
        axes = [np.linspace(0, 1, k) for k in n]
        pts = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
        t3 = time.perf_counter()
        ours_at_ref = site_energy(s, pts).reshape(n)
        t4 = time.perf_counter()
        low = grid < grid.min() + 5.0  # the region that matters (points on nuclei diverge)
        dE = np.abs(ours_at_ref - grid)[low].max()
        periodic = grid[:-1, :-1, :-1]
        same_grid = percolation_barriers(BVSEMap(s, periodic, "Li", resolution, 10.0, {}))
        t5 = time.perf_counter()
        res, _ = bvse(s, resolution_A=resolution)
        t6 = time.perf_counter()
        print(f"{formula} ({len(s)} atoms), resolution {resolution} A, grid {n}")
        print(f"  max |E_ours - E_bvlain| at bvlain's points with E < Emin + 5 eV: {dE:.2e} eV")
        print(
            f"  bvlain barriers (bisection, 0.01 eV):    1D {ref['E_1D']:.4f} 2D {ref['E_2D']:.4f} "
            f"3D {ref['E_3D']:.4f}"
        )
        print(
            f"  ours on bvlain's grid (periodic part):   1D {same_grid['e_1d_eV']:.4f} 2D "
            f"{same_grid['e_2d_eV']:.4f} 3D {same_grid['e_3d_eV']:.4f}"
        )
        print(
            f"  ours on our grid {res.grid_shape}:        1D {res.e_1d_eV:.4f} 2D "
            f"{res.e_2d_eV:.4f} "
            f"3D {res.e_3d_eV:.4f}; axes a,b,c {[round(e, 4) for e in res.e_axis_eV]}"
        )
        print(
            f"  time: bvlain grid {t1 - t0:.2f} s + percolation {t2 - t1:.2f} s; ours energy at "
            f"same points {t4 - t3:.2f} s, percolation on same grid {t5 - t4:.2f} s, "
            f"full bvse() {t6 - t5:.2f} s"
        )


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 0.2)
