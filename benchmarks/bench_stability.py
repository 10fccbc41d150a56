"""Stability of the reference-case electrolytes with one MLIP (run by hand, minutes to hours).

    python benchmarks/bench_stability.py [--model chgnet] [--store stab.sqlite] [--configs 1]
                                         [--ncm] [--sulfide] [--threads 1] [--only ...]

For Li2ZrCl6, Li1.8Zr0.8Nb0.2Cl6, Li3YCl6 and Li3InCl6: energy above the MLIP hull and
products, electrochemical window vs Li/Li+ with the phase equilibria at each limit, and
the reaction energy with LiCoO2 (and NCM811 with --ncm; the sulfide separator Li6PS5Cl
with --sulfide) with the interface volume change. ``--sulfide`` also prints the MLIP
hull of the ordered Li6PS5Cl model itself (it is metastable in DFT databases, so a
positive value is not a bug), the energy of the inverted anion ordering (Cl on 4d), and
the competing and missing phases of each halide | Li6PS5Cl system.
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

from halidelab.potentials import set_threads
from halidelab.stability.hull import energy_above_hull
from halidelab.stability.interface import interface_reaction
from halidelab.stability.references import (
    CATHODES,
    REFERENCE_PHASES,
    open_store,
    relax_cached,
    relax_reference,
)
from halidelab.stability.window import electrochemical_window

CANDIDATES = ("Li2ZrCl6", "Li1.8Zr0.8Nb0.2Cl6", "Li3YCl6", "Li3InCl6")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="chgnet")
    ap.add_argument("--store", default="stability-bench.sqlite")
    ap.add_argument("--configs", type=int, default=1)
    ap.add_argument("--ncm", action="store_true", help="also NCM811 (a 40-atom cell, slower)")
    ap.add_argument("--only", nargs="*", default=None, help="subset of the candidates")
    ap.add_argument(
        "--sulfide",
        action="store_true",
        help="also the interface with Li6PS5Cl (Li-P-S references)",
    )
    ap.add_argument("--skip-window", action="store_true", help="only hull and interfaces")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (1 beside other jobs)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    set_threads(args.threads)
    store = open_store(args.store)
    t0 = time.perf_counter()
    print(f"# reference phases ({args.model})")
    print(
        f"{'phase':34s} {'E eV/atom':>10s} {'V/fu relaxed':>12s} {'measured':>9s} {'dV %':>6s} conv"
    )
    specs = [s for s in REFERENCE_PHASES if args.sulfide or not s.elements & {"P", "S"}]
    for spec in specs + [CATHODES["NCM811"]] if args.ncm else specs:
        t1 = time.perf_counter()
        r = relax_reference(spec, model=args.model, store=store)
        meas = r.measured_volume_A3_per_fu
        dv = (
            f"{100 * (r.volume_A3_per_fu / meas - 1):+6.1f}"
            if meas and "molecule" not in r.name
            else "     -"
        )
        print(
            f"{r.name:34s} {r.energy_per_atom_eV:10.4f} {r.volume_A3_per_fu:12.1f} "
            f"{meas if meas is None else round(meas, 1)!s:>9s} {dv} {r.converged}"
            f"{'' if r.cached else f'  ({time.perf_counter() - t1:.0f} s)'}",
            flush=True,
        )
    if args.sulfide:
        _argyrodite(args.model, store)
    for f in args.only or CANDIDATES:
        t1 = time.perf_counter()
        h = energy_above_hull(f, model=args.model, store=store, n_configs=args.configs)
        if args.skip_window:
            print(
                f"\n## {h.formula} ({h.chemical_system}): E above hull "
                f"{1000 * h.e_above_hull_eV_atom:.1f} meV/atom"
            )
            _interfaces(f, h, args, store)
            continue
        w = electrochemical_window(f, model=args.model, hull=h)
        print(f"\n## {h.formula} ({h.chemical_system})")
        print(
            f"E above hull {1000 * h.e_above_hull_eV_atom:.1f} meV/atom (per configuration: "
            f"{', '.join(f'{1000 * c.e_above_hull_eV_atom:.1f}' for c in h.configurations)}); "
            f"decomposition energy vs other phases {1000 * h.decomposition_energy_eV_atom:+.1f} "
            "meV/atom; "
            f"products {' + '.join(f'{p.formula} ({p.atom_fraction:.2f})' for p in h.products)}"
        )
        print(
            f"window {w.reduction_limit_V:.2f} - {w.oxidation_limit_V:.2f} V vs Li/Li+"
            f"{' (moved onto the hull)' if w.shifted_to_hull else ''}"
        )
        print(f"  reduction: {w.reduction_reaction}")
        print(f"  oxidation: {w.oxidation_reaction}")
        print(
            "  profile: "
            + "; ".join(
                f"{s.voltage_V:.2f} V {s.li_uptake_per_fu:+.2f} Li [{' + '.join(s.phases)}]"
                for s in w.profile
            )
        )
        _interfaces(f, h, args, store)
        for warn in h.warnings:
            print(f"  warning: {warn}")
        print(f"  ({time.perf_counter() - t1:.0f} s)", flush=True)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


def _interfaces(formula: str, h: object, args: argparse.Namespace, store: object) -> None:
    """Reaction energy with each partner (LiCoO2; NCM811, Li6PS5Cl on request)."""
    partners = (
        ["LiCoO2"] + (["NCM811"] if args.ncm else []) + (["Li6PS5Cl"] if args.sulfide else [])
    )
    for cat in partners:
        if args.skip_window and cat != "Li6PS5Cl":
            continue
        i = interface_reaction(formula, cat, model=args.model, store=store, hull=h)
        dv = "-" if i.volume_change_percent is None else f"{i.volume_change_percent:+.1f}%"
        print(
            f"  | {cat}: E_rxn,min {1000 * i.min_reaction_energy_eV_atom:.0f} meV/atom at x = "
            f"{i.x_cathode_at_min:.3f}; dV {dv}; {i.reaction}"
        )
        if cat == "Li6PS5Cl":
            print(
                "    curve: "
                + "; ".join(
                    f"x={p.x_cathode:.3f} {1000 * p.reaction_energy_eV_atom:.0f}" for p in i.curve
                )
            )
            # the ends of the curve are the reactants' own decompositions (metastable model
            # phases); measured from the line between the ends, what mixing adds
            e0, e1 = i.curve[0].reaction_energy_eV_atom, i.curve[-1].reaction_energy_eV_atom
            rel = min(
                i.curve,
                key=lambda p: p.reaction_energy_eV_atom - (1 - p.x_cathode) * e0 - p.x_cathode * e1,
            )
            beyond = rel.reaction_energy_eV_atom - (1 - rel.x_cathode) * e0 - rel.x_cathode * e1
            print(
                f"    beyond the reactants' own decomposition: "
                f"{1000 * beyond:.0f} "
                f"meV/atom at x = {rel.x_cathode:.3f}"
            )
            print(f"    competing phases: {', '.join(i.competing_phases)}")
            print(f"    missing phases: {'; '.join(i.missing_phases)}")
            for w in i.warnings:
                if "not among the references" not in w:
                    print(f"    warning: {w}")


def _argyrodite(model: str, store: object) -> None:
    """MLIP hull of the ordered Li6PS5Cl model, and the inverted (Cl on 4d) ordering."""
    from halidelab.stability.sulfides import ordered_argyrodite

    h = energy_above_hull(ordered_argyrodite(), model=model, store=store)
    print(
        f"\n## Li6PS5Cl model (Cl 4a / S2- 4d): E above hull {1000 * h.e_above_hull_eV_atom:.1f} "
        "meV/atom, "
        f"decomposition energy {1000 * h.decomposition_energy_eV_atom:+.1f} meV/atom; products "
        f"{' + '.join(f'{p.formula} ({p.atom_fraction:.2f})' for p in h.products)}"
    )
    e = {}
    for site in ("4a", "4d"):
        res, _ = relax_cached(
            ordered_argyrodite(site), f"Li6PS5Cl Cl-{site}", model=model, store=store
        )
        e[site] = res["energy_per_atom_eV"]
    print(
        f"   Cl on 4d instead of 4a: {1000 * (e['4d'] - e['4a']):+.1f} meV/atom "
        f"({(e['4d'] - e['4a']) * 52:+.3f} eV per 52-atom cell)",
        flush=True,
    )


if __name__ == "__main__":
    main()
