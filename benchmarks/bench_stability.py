"""Stability of the reference-case electrolytes with one MLIP (run by hand, minutes to hours).

    python benchmarks/bench_stability.py [--model chgnet] [--store stab.sqlite] [--configs 1]

For Li2ZrCl6, Li1.8Zr0.8Nb0.2Cl6, Li3YCl6 and Li3InCl6: energy above the MLIP hull and
products, electrochemical window vs Li/Li+ with the phase equilibria at each limit, and
the reaction energy with LiCoO2 (and NCM811 with --ncm) with the interface volume change.
Also prints every reference phase: relaxed vs measured volume per formula unit (the
check on the built prototypes) and the Cl2 reference choice. Relaxations are cached in
the store, so a re-run only prints.

Compare with MISSION.md: chlorides oxidise above about 4.2-4.3 V (review), LZNC LSV
onset 4.02 V; they are reduced against Li metal (M -> metal).
"""

from __future__ import annotations

import argparse
import time
import warnings

from halidelab.stability.hull import energy_above_hull
from halidelab.stability.interface import interface_reaction
from halidelab.stability.references import CATHODES, REFERENCE_PHASES, open_store, relax_reference
from halidelab.stability.window import electrochemical_window

CANDIDATES = ("Li2ZrCl6", "Li1.8Zr0.8Nb0.2Cl6", "Li3YCl6", "Li3InCl6")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="chgnet")
    ap.add_argument("--store", default="stability-bench.sqlite")
    ap.add_argument("--configs", type=int, default=1)
    ap.add_argument("--ncm", action="store_true", help="also NCM811 (a 40-atom cell, slower)")
    ap.add_argument("--only", nargs="*", default=None, help="subset of the candidates")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    store = open_store(args.store)
    t0 = time.perf_counter()
    print(f"# reference phases ({args.model})")
    print(f"{'phase':34s} {'E eV/atom':>10s} {'V/fu relaxed':>12s} {'measured':>9s} {'dV %':>6s} conv")
    for spec in REFERENCE_PHASES + (CATHODES["NCM811"],) if args.ncm else REFERENCE_PHASES:
        r = relax_reference(spec, model=args.model, store=store)
        meas = r.measured_volume_A3_per_fu
        dv = f"{100 * (r.volume_A3_per_fu / meas - 1):+6.1f}" if meas else "     -"
        print(f"{r.name:34s} {r.energy_per_atom_eV:10.4f} {r.volume_A3_per_fu:12.1f} "
              f"{meas if meas is None else round(meas, 1)!s:>9s} {dv} {r.converged}", flush=True)
    for f in args.only or CANDIDATES:
        t1 = time.perf_counter()
        h = energy_above_hull(f, model=args.model, store=store, n_configs=args.configs)
        w = electrochemical_window(f, model=args.model, hull=h)
        print(f"\n## {h.formula} ({h.chemical_system})")
        print(f"E above hull {1000 * h.e_above_hull_eV_atom:.1f} meV/atom (per configuration: "
              f"{', '.join(f'{1000 * c.e_above_hull_eV_atom:.1f}' for c in h.configurations)}); "
              f"decomposition energy vs other phases {1000 * h.decomposition_energy_eV_atom:+.1f} meV/atom; "
              f"products {' + '.join(f'{p.formula} ({p.atom_fraction:.2f})' for p in h.products)}")
        print(f"window {w.reduction_limit_V:.2f} - {w.oxidation_limit_V:.2f} V vs Li/Li+"
              f"{' (moved onto the hull)' if w.shifted_to_hull else ''}")
        print(f"  reduction: {w.reduction_reaction}")
        print(f"  oxidation: {w.oxidation_reaction}")
        print("  profile: " + "; ".join(f"{s.voltage_V:.2f} V {s.li_uptake_per_fu:+.2f} Li "
                                        f"[{' + '.join(s.phases)}]" for s in w.profile))
        for cat in ("LiCoO2", "NCM811") if args.ncm else ("LiCoO2",):
            i = interface_reaction(f, cat, model=args.model, store=store, hull=h)
            dv = "-" if i.volume_change_percent is None else f"{i.volume_change_percent:+.1f}%"
            print(f"  | {cat}: E_rxn,min {1000 * i.min_reaction_energy_eV_atom:.0f} meV/atom at x = "
                  f"{i.x_cathode_at_min:.3f}; dV {dv}; {i.reaction}")
        for warn in h.warnings:
            print(f"  warning: {warn}")
        print(f"  ({time.perf_counter() - t1:.0f} s)", flush=True)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
