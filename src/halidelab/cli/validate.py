"""``halidelab validate``: the tiers against the reference set of measured halides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from halidelab.cli._common import (
    OutputGuard,
    console,
    console_err,
    estimate_table,
    print_json,
    warn,
)
from halidelab.errors import HalidelabError


def validate_cmd(
    tiers: str = typer.Option(
        "relax,bvse,prior",
        "--tiers",
        help=(
            "Comma list of relax, bvse, neb, kmc, defect, prior (bvse and kmc without relax: "
            "on the ordered models as built, no MLIP)"
        ),
    ),
    models: str = typer.Option(
        "chgnet", "--models", help="Comma list of MLIPs (chgnet, sevennet-0, ...)"
    ),
    report: Path = typer.Option(
        Path("validation"), "--report", "-o", help="Folder for report.html and calibration/*.json"
    ),
    db: str = typer.Option(
        None, "--db", help="Results store (default REPORT/results.sqlite, or a URL)"
    ),
    materials: str = typer.Option(
        None, "--materials", help="Comma list of reference ids (default: the whole set)"
    ),
    reference: Path = typer.Option(
        None, "--reference", help="Another reference table (same columns)"
    ),
    max_atoms: int = typer.Option(160, "--max-atoms", help="Largest model"),
    milled_width: float = typer.Option(
        None,
        "--milled-width",
        help="Smallest width of a ball-milled model's cell, Å (default 11.5: a disordered "
        "state needs a wide cell)",
    ),
    annealed_width: float = typer.Option(
        None,
        "--annealed-width",
        help="Smallest width of an annealed model's cell, Å (default 8; 11.5 with --max-atoms "
        "240: the milled models' cells, for a synthesis comparison on one cell size)",
    ),
    milled_max_atoms: int = typer.Option(
        None, "--milled-max-atoms", help="Largest ball-milled model (default 320)"
    ),
    lattice_temperature: float = typer.Option(
        None,
        "--lattice-temperature",
        help="Expand each relaxed cell to its lattice at this temperature, K (the mean stress "
        "of short NVT MD brought to zero in every component, the symmetry kept; e.g. 298 for "
        "room-temperature data); default: the 0 K cell",
    ),
    thermal_ps: float = typer.Option(
        1.0, "--thermal-ps", help="Length of each NVT run of --lattice-temperature, ps"
    ),
    thermal_iterations: int = typer.Option(
        2,
        "--thermal-iterations",
        help="NVT runs of --lattice-temperature (each checks the cell and corrects it; more "
        "verify more cells)",
    ),
    kmc_hops: float = typer.Option(
        200.0,
        "--kmc-hops",
        help="KMC events per Li of each run (extended up to 64x when not diffusive)",
    ),
    milled_kmc_hops: float = typer.Option(
        None,
        "--milled-kmc-hops",
        help="The same for ball-milled models (default 800: their disordered cells trap Li longer)",
    ),
    relax_steps: int = typer.Option(250, "--relax-steps", help="Max relaxation steps"),
    bvse_resolution: float = typer.Option(0.25, "--bvse-resolution", help="BVSE grid spacing, Å"),
    bvse_volume: str = typer.Option(
        "relaxed",
        "--bvse-volume",
        help="Cell of the BVSE tier and BVSE KMC networks: relaxed (the MLIP's), or model "
        "(the relaxed cell scaled to the ordered model's, i.e. measured, volume: bond "
        "valences are fitted to measured bond lengths)",
    ),
    annealed_state: str = typer.Option(
        "annealed",
        "--annealed-state",
        help="How rows without a state (ampoule- or wet-made samples) are modelled: annealed "
        "(the Ewald ground state of their sites) or quenched (the file's own site disorder "
        "sampled at a fictive temperature, on wide cells)",
    ),
    kmc_prefactors: str = typer.Option(
        "fixed",
        "--kmc-prefactors",
        help="Hop prefactors of the BVSE KMC networks: fixed (one attempt frequency, 1e13 Hz) "
        "or harmonic (each hop's Vineyard prefactor of a Li in the frozen host's BVSE field)",
    ),
    neb_steps: int = typer.Option(300, "--neb-steps", help="Max CI-NEB optimiser steps per band"),
    seed: int = typer.Option(0, "--seed", help="Seed of the orderings"),
    orderings: int = typer.Option(
        3,
        "--orderings",
        help="Orderings per material (lowest Ewald energies); predictions are their mean "
        "(1: the lowest-energy ordering alone)",
    ),
    scheduler: str = typer.Option(
        None, "--scheduler", help="Dask scheduler address (tcp://host:8786)"
    ),
    workers: int = typer.Option(1, "--workers", help="Local worker processes (1 = this process)"),
    list_only: bool = typer.Option(False, "--list", help="List the reference set and exit"),
    estimate_only: bool = typer.Option(
        False,
        "--estimate",
        help="Build the models (seconds each, kept in the store), print what the rest of the "
        "campaign will cost, and exit",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the parity table as JSON"),
) -> None:
    """Run tiers on the reference set of measured halides; parity, calibration, report.

    Resumable: rerun the same command to continue; finished tasks are skipped.
    """
    from halidelab.validation.metrics import (
        VOLUME_FLAG_PERCENT,
        metric_table,
        relaxed_volumes,
        substitution_spearman,
        synthesis_agreement,
        synthesis_pair_text,
    )
    from halidelab.validation.reference import load_reference_set
    from halidelab.validation.run import validate
    from halidelab.validation.tiers import ValidateSettings

    ref = load_reference_set(reference)
    if list_only:
        t = Table(title=f"reference set ({len(ref.entries)} rows, sha256 {ref.sha256[:12]}...)")
        for col in (
            "id",
            "composition",
            "phase",
            "synthesis",
            "σ (S/cm)",
            "Ea (eV)",
            "primary",
            "model",
            "DOI",
        ):
            # ids whole on one line (they are what --materials takes); the rest folds
            t.add_column(col, no_wrap=col == "id", overflow="fold")
        for e in ref.entries:
            t.add_row(
                e.id,
                e.composition,
                e.polymorph,
                e.synthesis,
                ("<" if e.censored else "") + f"{e.sigma_S_cm:.3g}",
                "–" if e.ea_eV is None else f"{e.ea_eV:.2f}",
                "yes" if e.primary else "",
                e.construction,
                e.doi,
            )
        console.print(t)
        return
    if workers < 1:
        raise HalidelabError(f"--workers must be >= 1, got {workers}")
    guard = OutputGuard([reference])
    guard.folder(report, "--report", create=False)  # created by the run
    guard.file_in(report, "report.html", "--report")
    settings = ValidateSettings(
        max_atoms=max_atoms,
        seed=seed,
        relax_steps=relax_steps,
        bvse_resolution_A=bvse_resolution,
        neb_steps=neb_steps,
        orderings=orderings,
        kmc_hops=kmc_hops,
        **({} if milled_kmc_hops is None else {"milled_kmc_hops": milled_kmc_hops}),
        **({} if milled_width is None else {"milled_min_width_A": milled_width}),
        **({} if annealed_width is None else {"annealed_min_width_A": annealed_width}),
        **({} if milled_max_atoms is None else {"milled_max_atoms": milled_max_atoms}),
        lattice_temperature_K=lattice_temperature,
        thermal_md_ps=thermal_ps,
        thermal_iterations=thermal_iterations,
        bvse_volume=bvse_volume,
        annealed_state=annealed_state,
        kmc_prefactors=kmc_prefactors,
    )
    from halidelab.cli.screen import _client

    client = _client(scheduler, workers)
    campaign = {
        "tiers": tiers.split(","),
        "models": models.split(",") if models else (),
        "db": db,
        "out": report,
        "settings": settings,
        "reference": ref,
        "materials": [m.strip() for m in materials.split(",")] if materials is not None else None,
        "client": client,
    }
    out_console = console_err if as_json else console

    def show(est: Any) -> None:
        out_console.print(
            estimate_table(
                est,
                f"after the models: {est.n_models} of {est.n_materials} materials built; "
                "the rest of the campaign",
            )
        )

    try:
        if estimate_only:
            from halidelab.validation.estimate import estimate_validation

            est = estimate_validation(**campaign, progress=not as_json)
            if as_json:
                print_json(est.to_dict())
            else:
                show(est)
            return
        out = validate(**campaign, on_estimate=show)
    finally:
        if client is not None:
            client.close()
    rows = metric_table(out.metrics)
    if as_json:
        print_json(
            {
                "report": str(out.report),
                "store": out.store,
                "reference_sha256": out.reference_sha256,
                "parity": rows,
                "substitutions": substitution_spearman(out.substitutions),
                "synthesis": synthesis_agreement(out.substitutions),
                "combined_with_prior": [
                    {k: v for k, v in c.items() if k != "loo_predictions"} for c in out.combined
                ],
                "comparisons": [
                    {k: v for k, v in c.to_dict().items() if k != "materials"}
                    | {"resolved": c.resolved, "resolvable": c.resolvable}
                    for c in out.comparisons
                ],
                "model_choice": out.model_choice,
                "gap_split": out.gap_split,
                "measurement_floor": out.measurement_floor,
                "structure_split": out.structure_split,
                "relaxed_volume": relaxed_volumes(out.rows),
                "interval_coverage": [
                    {"tier": m["tier"], "model": m["model"], "target": m["target"]} | m["coverage"]
                    for m in out.metrics
                    if m.get("coverage")
                ],
                "failed": out.failed,
                "wall_s": out.wall_s,
                "estimate": out.estimate,
                "wall_after_models_s": out.wall_after_models_s,
            }
        )
        return
    t = Table(title="parity: raw and leave-one-out calibrated")
    cols = [
        ("tier", "tier", "{}"),
        ("model", "model", "{}"),
        ("target", "target", "{}"),
        ("n", "n", "{}"),
        ("raw_mae", "MAE raw", "{:.3g}"),
        ("loo_mae", "MAE LOO", "{:.3g}"),
        ("loo_mae_ci", "95 %", "{}"),
        ("raw_spearman", "ρ raw", "{:.2f}"),
        ("loo_spearman", "ρ LOO", "{:.2f}"),
        ("raw_accuracy", "acc raw", "{:.2f}"),
        ("loo_accuracy", "acc LOO", "{:.2f}"),
        ("map", "map", "{}"),
        ("baseline_loo_mae", "mean LOO", "{:.3g}"),
        ("skill", "skill", "{:+.2f}"),
        ("coverage", "in interval", "{}"),
        ("wall_s_per_material", "s/material", "{:.0f}"),
    ]
    for r in rows:
        if r.get("loo_mae_low") is not None:
            r["loo_mae_ci"] = f"[{r['loo_mae_low']:.3g}, {r['loo_mae_high']:.3g}]"
        if r.get("coverage_n"):
            r["coverage"] = f"{r['coverage_inside']}/{r['coverage_n']}"
    for _, head, _ in cols:
        t.add_column(head)
    for r in rows:
        t.add_row(*[fmt.format(r[k]) if r.get(k) is not None else "–" for k, _, fmt in cols])
    console.print(t)
    for r in rows:
        if r["why_not"]:
            console.print(f"{r['tier']} ({r['model']}), {r['target']}: {r['why_not']}")
        if r.get("n_limits"):
            console.print(
                f"{r['tier']} ({r['model']}), {r['target']}: {r['n_limits']} upper limit(s) "
                f"instead of a value (classified when below the threshold), "
                f"{r['limits_respected']} respected by the measurement"
            )
    loo = [c for c in out.comparisons if c.basis == "loo"]
    if loo:
        from halidelab.validation.metrics import comparison_verdict

        ct = Table(
            title="paired differences of LOO absolute errors (a - b; 95 % bootstrap; "
            "sign-flip p, Holm-corrected over the LOO comparisons)"
        )
        heads = ("target", "a", "b", "n", "MAE a", "MAE b", "a - b [95 %]", "p", "p Holm")
        for head in (*heads, "resolved"):
            ct.add_column(head)
        for c in loo:
            ct.add_row(
                c.target,
                c.a,
                c.b,
                str(c.n),
                f"{c.mae_a:.3g}",
                f"{c.mae_b:.3g}",
                f"{c.difference:+.3f} [{c.low:+.3f}, {c.high:+.3f}]",
                f"{c.p_value:.3g}" if c.p_value is not None else "–",
                f"{c.p_holm:.3g}" if c.p_holm is not None else "–",
                comparison_verdict(c),
            )
        console.print(ct)
    for lab, v in synthesis_agreement(out.substitutions).items():
        console.print(
            f"synthesis effect, {lab}: "
            + "; ".join(synthesis_pair_text(q, "milled - annealed ") for q in v["pairs"])
            + " log10 S/cm"
        )
    for g in out.gap_split:
        console.print(
            f"{g['tier']} ({g['model']}), log10 sigma(25 C) error on {g['n']} materials with a "
            f"measured Ea: RMS {g['rms_barrier']:.2f} from the barrier, "
            f"{g['rms_prefactor']:.2f} from the prefactor (median log10 sigma_0 T measured "
            f"{g['median_measured_log10_A']:.2f}, predicted {g['median_predicted_log10_A']:.2f})"
        )
    for f in out.measurement_floor:
        if f["n_materials"]:
            console.print(
                f"measurement floor, {f['target']}: {f['n_rows']} measurements of "
                f"{f['n_materials']} materials scatter with SD {f['pooled_sd']:.3g}; an exact "
                f"prediction would still miss single ones by MAE {f['floor_mae']:.3g}"
                + (
                    f" and correlate with them at r = {f['correlation_ceiling']:.2f}"
                    if f.get("correlation_ceiling") is not None
                    else ""
                )
            )
    swollen = [v for v in relaxed_volumes(out.rows) if v["flagged"]]
    if swollen:
        console.print(
            f"relaxed volume more than {VOLUME_FLAG_PERCENT:g} % off the measured structure "
            "(barriers of a wrong lattice; PBE-trained potentials add about 2-5 %; a -d3 "
            "model with --lattice-temperature 298.15 comes within 2.4 % on average): "
            + "; ".join(
                f"{v['composition']} ({v['model']}) {v['change_percent']:+.1f} %" for v in swollen
            )
        )
    for c in out.combined:
        console.print(f"{c['tier']} ({c['model']}), log10 sigma: {c['verdict']}")
    for c in out.model_choice:
        console.print(f"model choice: {c['verdict']}")
    for err in out.failed.values():
        warn(err, prefix="failed")
    console.print(f"report: {out.report}  (results store: {out.store}; rerun to resume)")


def register(app: typer.Typer) -> None:
    """Add ``validate`` to the CLI."""
    app.command("validate")(validate_cmd)
