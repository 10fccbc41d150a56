"""Which fictive temperature of the quenched state reproduces the refined occupancies.

Run from the repository root (a minute; Ewald Monte Carlo only, no MLIP)::

    PYTHONPATH=src python benchmarks/bench_quench_temperature.py [--chains 6] [--seed 0]

For the four shipped CIFs with partially occupied cation orbits (Li3YCl6 P-3m1, Li3InCl6
C2/m, Li3YBr6 C2/m, Li3ErI6 C2/c) it builds ``--chains`` independent quenched chains
(``build_models(..., state="quenched", quench_temperature_K=T)``, on each file's own
composition and sites, the 11.5 A cells) at each temperature and prints, per file and
temperature, the mean over chains of each partial orbit's occupancy beside the refined one
and their mean absolute deviation. The quenched state's default
(``QUENCH_TEMPERATURE_K`` = 800 K in ``halidelab.structures.models``) is chosen from this
structural comparison, not from any conductivity (issue 14's note, 2026-12-07): mean
deviation at 400 / 800 / 1600 / 5000 K Li3YCl6 0.052 / 0.047 / 0.031 / 0.078, Li3InCl6
0.043 / 0.043 / 0.160 / 0.262 (In spreads over both In orbits when hot); the shared Li/M
positions of Li3YBr6 (0.13-0.14) and Li3ErI6 (0.27-0.35) are reproduced at no temperature.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

FILES = {
    "Li3YCl6": "Li3YCl6_P-3m1_obelix-ei3.cif",
    "Li3InCl6": "Li3InCl6_C2_m_obelix-de5.cif",
    "Li3YBr6": "Li3YBr6_C2_m_obelix-elz.cif",
    "Li3ErI6": "Li3ErI6_C2_c_obelix-9wf.cif",
}
ANIONS = {"Cl", "Br", "I"}


def refined_occupancies(path: Path) -> dict[str, float]:
    """Occupancy of each partially occupied cation orbit of a CIF (``LABEL`` for a
    single-species position, ``LABEL:EL`` for each species of a shared one: the labels
    the quenched configurations record)."""
    from pymatgen.core import Structure

    out: dict[str, float] = {}
    for site in Structure.from_file(path):
        for sp, occ in site.species.items():
            if str(sp) in ANIONS or occ >= 0.999:
                continue
            out[site.label if len(site.species) == 1 else f"{site.label}:{sp}"] = float(occ)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chains", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--temperatures", default="400,800,1600,5000", help="K, comma list")
    args = ap.parse_args()
    import numpy as np

    import halidelab
    from halidelab.composition import design_composition
    from halidelab.structures.models import build_models

    data = Path(halidelab.__file__).parent / "data" / "structures"
    temps = [float(t) for t in args.temperatures.split(",")]
    warnings.simplefilter("ignore")
    for name, file in FILES.items():
        ref = refined_occupancies(data / file)
        for t in temps:
            t0 = time.perf_counter()
            ms = build_models(
                design_composition(name),
                framework=data / file,
                n_configs=args.chains,
                seed=args.seed,
                state="quenched",
                quench_temperature_K=t,
                max_atoms=400,
            )
            sampled: dict[str, list[float]] = {}
            for c in ms.configurations:
                for k, v in (c.disorder or {}).items():
                    if k.startswith("occupancy:"):
                        sampled.setdefault(k.split(":", 1)[1], []).append(v)
            common = [k for k in ref if k in sampled]
            mad = float(np.mean([abs(np.mean(sampled[k]) - ref[k]) for k in common]))
            pairs = ", ".join(f"{k} {ref[k]:.3f}/{np.mean(sampled[k]):.3f}" for k in common)
            print(
                f"{name:9s} {t:6.0f} K  {ms.n_atoms:3d} atoms  mean |dev| {mad:.3f}  "
                f"(refined/sampled: {pairs})  {time.perf_counter() - t0:.1f} s"
            )


if __name__ == "__main__":
    main()
