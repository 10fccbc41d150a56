"""Ordering search: halidelab's annealing vs pymatgen's exact EwaldMinimizer.

Run: python benchmarks/bench_ordering.py

On a cell small enough for pymatgen's OrderDisorderedStructureTransformation (complete
Ewald branch-and-bound), compare the lowest Ewald energy and the time of both; then time
halidelab on the reference-case cell (Li1.8Zr0.8Nb0.2Cl6, 15 formula units, ~4e19
orderings), where an exhaustive search is out of reach.
"""

from __future__ import annotations

import time

from pymatgen.transformations.standard_transformations import (
    OrderDisorderedStructureTransformation,
)

from halidelab.composition import Substitution, design_composition
from halidelab.structures.models import build_models


def small_case() -> None:
    # Li2ZrCl6 in one P-3m1 cell: 6 Li over 12 Li sites (924 orderings)
    d = design_composition("Li2ZrCl6")
    t = time.perf_counter()
    ours = build_models(d, supercell=1, n_configs=1, seed=0)
    t_ours = time.perf_counter() - t
    # same disordered cell for pymatgen: Li sites at occupancy 0.5, M sites as ours
    s = ours.structures[0].copy()
    li = [i for i, site in enumerate(s) if site.specie.symbol == "Li"]
    from halidelab.structures.models import _prototype_sites, _resolve_sites
    from halidelab.structures.prototypes import FRAMEWORKS

    proto = FRAMEWORKS["Li3YCl6-P-3m1"].load()
    sites, _ = _resolve_sites(_prototype_sites(proto), proto.lattice, 3, 6)
    from pymatgen.core import Structure

    dis = Structure(
        s.lattice,
        [
            {"Li+": 0.5} if x.role == "Li" else ({"Zr4+": 1.0} if x.role == "M" else {"Cl-": 1.0})
            for x in sites
        ],
        [x.frac for x in sites],
    )
    t = time.perf_counter()
    exact = OrderDisorderedStructureTransformation(algo=0).apply_transformation(
        dis, return_ranked_list=1
    )
    t_exact = time.perf_counter() - t
    print(
        f"Li2ZrCl6 1 cell ({len(li)} Li on 12 sites): halidelab "
        f"{ours.configurations[0].ewald_energy_eV:.4f} eV"
        f" in {t_ours:.2f} s; pymatgen exact {exact[0]['energy']:.4f} eV in {t_exact:.2f} s"
    )


def reference_case() -> None:
    d = design_composition("Li2ZrCl6", Substitution("Nb", "Zr", 0.2))
    for seed in (0, 1, 2):
        t = time.perf_counter()
        m = build_models(d, n_configs=5, seed=seed)
        print(
            f"Li1.8Zr0.8Nb0.2Cl6 ({m.n_atoms} atoms) seed {seed}: {time.perf_counter() - t:.2f} s, "
            f"lowest {m.configurations[0].ewald_energy_eV:.3f} eV, "
            f"kept {[round(c.relative_energy_meV_atom, 2) for c in m.configurations]} meV/atom"
        )


if __name__ == "__main__":
    small_case()
    reference_case()
