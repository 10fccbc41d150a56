"""MD conductivity of Li2ZrCl6 vs Li(2-x)Zr(1-x)Nb(x)Cl6 with an MLIP: D, sigma(300 K), Ea.

Run: python benchmarks/bench_nb_md.py [--model chgnet] [--threads 1] [--T 600,700,800,900]
         [--ps 10] [--out bench_out/nb_md]

Both compositions in the 54-atom P-3m1 cell (the 27-atom cell doubled along c, so a Li
does not see its own image across c ~ 5.9 A; x = 1/3 is the smallest Nb content this
cell holds: 2 Nb of 6 M), relaxed with the MLIP (positions and cell), then NVT (Bussi,
all atoms mobile, 2 fs) at each temperature, tracer D with a covariance-aware error,
Nernst-Einstein sigma (Haven ratio 1 stated), and the Arrhenius fit extrapolated to
300 K. Trajectories are checkpointed under --out: re-running resumes.

This is the reproduction benchmark of the MD tier, sized for a 2-core laptop (about an
hour per composition with CHGNet on one thread). Short runs in a small cell: the error
bars it prints are the honest part of the answer.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

from halidelab.composition import Substitution, design_composition
from halidelab.potentials import get_calculator
from halidelab.relax import relax
from halidelab.structures.models import build_models
from halidelab.transport.diffusion import analyse_trajectory, md_arrhenius
from halidelab.transport.md import run_md

#: what Chen et al. measured (MISSION.md, 25 C): LZC ~0.5 mS/cm;
#: LZNC (x = 0.2) 1.03 mS/cm, Ea 0.327 eV
MEASURED = {
    0.0: "measured sigma 5.0e-04 S/cm",
    0.2: "measured at x = 0.2: sigma 1.03e-03 S/cm, Ea 0.327 eV",
}


def _label(x: float) -> str:
    from fractions import Fraction

    if x == 0:
        return "Li2ZrCl6"
    f = Fraction(x).limit_denominator(12)
    return f"Li{2 - f}Zr{1 - f}Nb{f}Cl6"


def _num(v: float | None) -> float:
    return float("nan") if v is None else float(v)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="chgnet")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--T", default="600,700,800,900")
    ap.add_argument("--ps", type=float, default=10.0)
    ap.add_argument("--skip-ps", type=float, default=1.0)
    ap.add_argument("--timestep", type=float, default=2.0)
    ap.add_argument("--out", default="bench_out/nb_md")
    ap.add_argument(
        "--x", default="0,1/3", help="Nb contents (multiples of 1/6 fit the 54-atom cell)"
    )
    ap.add_argument(
        "--plot-only", action="store_true", help="table and figure from summary.json, no MD"
    )
    args = ap.parse_args()
    if args.plot_only:
        report(Path(args.out))
        return
    warnings.simplefilter("ignore")
    temps = [float(t) for t in args.T.split(",")]
    calc = get_calculator(args.model, "cpu", args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {}
    from fractions import Fraction

    xs = [float(Fraction(v)) for v in args.x.split(",")]
    for x in xs:
        label = _label(x)
        subs = [Substitution("Nb", "Zr", x)] if x > 0 else []
        tag = label.replace("/", "")
        folder = out / tag
        model = build_models(
            design_composition("Li2ZrCl6", subs), supercell=[1, 1, 2], n_configs=1, seed=0
        )
        t0 = time.perf_counter()
        rel = relax(model.structures[0], calculator=calc, fmax=0.05)
        print(
            f"{label}: relaxed {len(rel.to_structure())} atoms, a = {rel.lattice_final.a_A:.3f} "
            f"c = {rel.lattice_final.c_A:.3f} A, converged={rel.converged} "
            f"({time.perf_counter() - t0:.0f} s)"
        )
        steps = int(round(args.ps * 1000 / args.timestep))
        diffs, runs = [], []
        for T in temps:
            t1 = time.perf_counter()
            r = run_md(
                rel.to_structure(),
                T,
                steps,
                folder / f"md_{T:g}K.traj",
                timestep_fs=args.timestep,
                calculator=calc,
                thermostat="bussi",
                mobile="all",
                seed=0,
                interval=10,
                progress=True,
            )
            d = analyse_trajectory(
                r.trajectory, skip_ps=args.skip_ps, temperature_K=r.mean_temperature_K
            )
            runs.append(r)
            diffs.append(d)
            print(
                f"  {T:.0f} K: <T> {r.mean_temperature_K:.0f} K, {r.duration_ps:.1f} ps, D = "
                f"{d.d_cm2_s:.2e} "
                f"+- {d.d_err_cm2_s:.1e} cm2/s, D_c/D_ab = {_num(d.anisotropy_c_ab):.2f}, sigma = "
                f"{d.sigma_S_cm:.2e} S/cm, "
                f"drift {_num(r.conserved_drift_eV_atom):.1e} eV/atom "
                f"({time.perf_counter() - t1:.0f} s)"
            )
        arr = md_arrhenius(diffs)
        summary[label] = {
            "x": x,
            "a_A": rel.lattice_final.a_A,
            "c_A": rel.lattice_final.c_A,
            "runs": [r.to_dict() for r in runs],
            "diffusion": [d.to_dict() for d in diffs],
            "arrhenius": arr.to_dict(),
        }
        old = (
            json.loads((out / "summary.json").read_text())
            if (out / "summary.json").is_file()
            else {}
        )
        (out / "summary.json").write_text(json.dumps({**old, **summary}, indent=1, default=str))
    report(out)


def report(out: Path) -> None:
    """Comparison table of every composition in ``out/summary.json`` and the Arrhenius figure."""
    import matplotlib

    matplotlib.use("Agg")
    import re
    from fractions import Fraction

    from halidelab.report.figures import md_arrhenius_figure

    summary = json.loads((out / "summary.json").read_text())
    for label, s in summary.items():  # summaries written before "x" was stored
        m = re.search(r"Nb([0-9/]+)Cl", label)
        s.setdefault("x", float(Fraction(m.group(1))) if m else 0.0)
    print(
        f"\n{'composition':20s} {'a':>7s} {'c':>7s} {'Ea (eV)':>14s} {'sigma300 (S/cm)':>28s}  "
        "measured"
    )
    for label, s in summary.items():
        a = s["arrhenius"]
        print(
            f"{label:20s} {s['a_A']:7.3f} {s['c_A']:7.3f} {a['ea_eV']:.3f} +- {a['ea_err_eV']:.3f} "
            f"{a['sigma_300K_S_cm']:.1e} [{a['sigma_300K_low_S_cm']:.0e}, "
            f"{a['sigma_300K_high_S_cm']:.0e}]  "
            f"{MEASURED.get(round(s['x'], 1), '-')}"
        )
        for w in a.get("warnings", []):
            print(f"  warning: {w}")
    items = [
        (label, s["arrhenius"]) for label, s in sorted(summary.items(), key=lambda kv: kv[1]["x"])
    ]
    fig = md_arrhenius_figure(
        items,
        measured=[
            ("LZC (Chen 2025)", 298.15, 5.0e-4),
            ("LZNC x = 0.2 (Chen 2025)", 298.15, 1.03e-3),
        ],
    )
    fig.savefig(out / "arrhenius.png", dpi=130)
    print(f"figure: {out / 'arrhenius.png'}")


if __name__ == "__main__":
    main()
