"""Cost of the D3(BJ) term of the ``-d3`` models against the model call it is added to.

Run by hand: ``PYTHONPATH=src python benchmarks/bench_dispersion.py [repeats]``.

For three cells of the reference set (LiGaBr4 as built for validation, 96 atoms; the
Li3YCl6 ordered model; the ball-milled Li3YCl6 model, the largest cells the validation
relaxes) it times, on one thread, one CHGNet evaluation (energy, forces, stress) and one
D3(BJ) evaluation by ``dftd3`` (:func:`halidelab.dispersion.terms`), median of
``repeats`` calls after a warm-up, and prints their ratio: the extra cost of a ``-d3``
relaxation or MD step on a CPU. ``dftd3`` runs on the CPU whatever device the model uses,
so on a GPU the ratio is larger: measure it there before long ``-d3`` MD runs.
"""

from __future__ import annotations

import statistics
import sys
import time

import torch
from pymatgen.core import Structure

from halidelab.atoms import to_atoms
from halidelab.dispersion import PARAMETERS, terms
from halidelab.engine import get_evaluator
from halidelab.validation.reference import load_reference_set, resolve_structure_file
from halidelab.validation.structures import build_reference_model

CELLS = ("ligabr4-2000", "li3ycl6-ampoule-schlem2020", "li3ycl6-bm-schlem2020")


def _median_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    torch.set_num_threads(1)
    entries = {e.id: e for e in load_reference_set().entries}
    ev = get_evaluator("chgnet", "cpu", threads=1)
    print(f"{'cell':32s} {'atoms':>5s} {'chgnet (s)':>10s} {'d3 (s)':>8s} {'d3/chgnet':>9s}")
    for cid in CELLS:
        e = entries[cid]
        model = build_reference_model(
            e.composition, e.construction, resolve_structure_file(e.structure_file)
        )
        atoms = to_atoms(Structure.from_dict(model.structure))
        t_model = _median_time(lambda a=atoms: ev.evaluate([a]), repeats)
        t_d3 = _median_time(lambda a=atoms: terms(a, PARAMETERS["PBE"]), repeats)
        print(f"{cid:32s} {len(atoms):5d} {t_model:10.3f} {t_d3:8.3f} {t_d3 / t_model:9.2f}")


if __name__ == "__main__":
    main()
