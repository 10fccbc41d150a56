"""``halidelab reproduce``: reference cases end to end."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from halidelab.cli._common import BVSE_VOLUME_HELP, OutputGuard, console, print_json, warn
from halidelab.errors import HalidelabError


def _client(scheduler: str | None, workers: int):
    if scheduler:
        from distributed import Client

        try:
            return Client(scheduler, timeout="20s")
        except OSError as exc:
            raise HalidelabError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    if workers > 1:
        from distributed import Client

        from halidelab.screening.cluster import local_cluster

        return Client(local_cluster(workers))
    return None


def reproduce_cmd(
    case: str = typer.Argument(..., help="Reference case: chen2025 (Nb-substituted Li2ZrCl6)"),
    out: Path = typer.Option(Path("chen2025"), "-o", "--out", help="Output folder"),
    db: str = typer.Option(
        None, "--db", help="Results store (default OUT/results.sqlite, or a URL)"
    ),
    tiers: str = typer.Option(
        "rules,models,relax,bvse,xrd,prior,kmc",
        "--tiers",
        help="Comma list of rules, models, relax, bvse, xrd, prior, kmc, neb, md",
    ),
    states: str = typer.Option(
        "ball-milled,annealed",
        "--states",
        help="Synthesis states to model (the first is the headline)",
    ),
    configs: int = typer.Option(3, "--configs", help="Orderings per composition and state"),
    kmc_t: str = typer.Option("298.15..373.15:25", "--kmc-T", help="KMC temperatures, K"),
    kmc_hops: float = typer.Option(
        200.0, "--kmc-hops", help="KMC events per Li of each run (annealed cells)"
    ),
    milled_kmc_hops: float = typer.Option(
        None,
        "--milled-kmc-hops",
        help="The same for the ball-milled cells (default 800: their disorder traps Li longer)",
    ),
    model: str = typer.Option("chgnet", "--model", help="MLIP for relaxation"),
    bvse_volume: str = typer.Option("relaxed", "--bvse-volume", help=BVSE_VOLUME_HELP),
    annealed_state: str = typer.Option(
        "annealed",
        "--annealed-state",
        help="Model the annealed samples as annealed (Ewald ground state of the sites) or "
        "quenched (their disorder sampled at 800 K, as validate --annealed-state quenched: "
        "its calibrations apply to these)",
    ),
    x: str = typer.Option("0..0.5:0.1", "--x", help="Nb contents for rules and prior"),
    model_x: str = typer.Option(
        "0,0.2,0.4", "--model-x", help="Nb contents that get models, relax, BVSE"
    ),
    max_atoms: int = typer.Option(140, "--max-atoms", help="Largest supercell"),
    relax_steps: int = typer.Option(250, "--relax-steps", help="Max relaxation steps"),
    scheduler: str = typer.Option(
        None, "--scheduler", help="Dask scheduler address (tcp://host:8786)"
    ),
    workers: int = typer.Option(1, "--workers", help="Local worker processes (1 = this process)"),
    measured: Path = typer.Option(
        None, "--measured", help="CSV of your measurements: x, sigma_S_cm (or sigma_mS_cm), ea_eV"
    ),
    eis: list[str] = typer.Option(
        [], "--eis", help="Your spectra per x at several temperatures: X=PATTERN (repeatable)"
    ),
    thickness: str = typer.Option(
        None, "--thickness", help="Pellet thickness for --eis, e.g. 0.85mm"
    ),
    diameter: str = typer.Option(None, "--diameter", help="Pellet diameter for --eis, e.g. 10mm"),
    literature: list[Path] = typer.Option(
        [], "--literature", help="CSV of known electrolytes added to the literature table"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary rows as JSON"),
    calibration: list[Path] = typer.Option(
        [],
        "--calibration",
        help="Calibration file of 'halidelab validate' (REPORT/calibration/*.json; "
        "repeatable): the report "
        "shows calibrated values with intervals beside the raw ensemble values.",
    ),
    reference: Path = typer.Option(
        None,
        "--reference",
        help="Reference table the calibrations were fitted on (default: the shipped set).",
    ),
) -> None:
    """Run a reference case from design to report (resumable: rerun to continue)."""
    from halidelab.cases.chen2025 import lab_measurements, reproduce_chen2025
    from halidelab.cli.kmc import parse_temperatures
    from halidelab.composition import parse_x_values
    from halidelab.validation.apply import load_calibrations

    cals = load_calibrations(calibration, reference)  # a bad file stops here, before any work

    if case.lower() != "chen2025":
        raise HalidelabError(f"unknown reference case {case!r}: available: chen2025")
    if workers < 1:
        raise HalidelabError(f"--workers must be >= 1, got {workers}")
    from halidelab.report.screen import read_measured

    mine = read_measured(measured, default_dopant="Nb") if measured else []
    mine += lab_measurements(eis, thickness, diameter) if eis else []
    for lit in literature:
        if not lit.is_file():
            raise HalidelabError(f"literature table {lit} not found")
    guard = OutputGuard([measured, *literature, *calibration, reference])
    guard.folder(out, "-o/--out", create=False)
    guard.file_in(out, "report.html", "-o/--out")
    client = _client(scheduler, workers)
    try:
        res = reproduce_chen2025(
            out=out,
            db=db,
            xs=parse_x_values(x),
            model_xs=parse_x_values(model_x),
            tiers=tiers.split(","),
            model=model,
            max_atoms=max_atoms,
            relax_steps=relax_steps,
            client=client,
            measured=mine,
            literature_csvs=literature,
            states=[s.strip() for s in states.split(",")],
            n_configs=configs,
            kmc_temperatures_K=parse_temperatures(kmc_t),
            kmc_hops=kmc_hops,
            **({} if milled_kmc_hops is None else {"milled_kmc_hops": milled_kmc_hops}),
            calibrations=cals,
            bvse_volume=bvse_volume,
            annealed_state=annealed_state,
        )
    finally:
        if client is not None:
            client.close()
    if as_json:
        print_json(
            {
                "report": str(res.report),
                "store": str(res.store),
                "rows": res.rows,
                "ensembles": res.ensembles,
                "verdicts": res.verdicts,
                "failed": res.failed,
                **({"calibrated": res.calibrated} if cals else {}),
            }
        )
        return
    table = Table(title="Li(2-x)Zr(1-x)Nb(x)Cl6: predicted (and measured, Chen 2025)")
    cols = [
        ("x", "x", "{:.2f}"),
        ("formula", "formula", "{}"),
        ("a_relaxed_A", "a (Å)", "{:.3f}"),
        ("c_relaxed_A", "c (Å)", "{:.3f}"),
        ("bvse_1d_eV", "BVSE 1D", "{:.2f}"),
        ("bvse_3d_eV", "BVSE 3D", "{:.2f}"),
        ("prior_log10_sigma", "prior log σ", "{:.2f}"),
        ("measured_sigma_S_cm", "meas. σ (S/cm)", "{:.3g}"),
    ]
    if any(r.get("lab_sigma_S_cm") or r.get("lab_ea_eV") for r in res.rows):
        cols += [
            ("lab_sigma_S_cm", "your σ (S/cm)", "{:.3g}"),
            ("lab_ea_eV", "your Ea (eV)", "{:.3f}"),
        ]
    for _, head, _ in cols:
        table.add_column(head)
    for r in res.rows:
        table.add_row(*[fmt.format(r[k]) if r.get(k) is not None else "–" for k, _, fmt in cols])
    console.print(table)
    for v in res.verdicts:
        console.print(f"{v['quantity']}: {v['verdict']}")
    if cals:
        from halidelab.cli._common import note
        from halidelab.compare import calibration_lines

        for r in res.calibrated:
            for kind, line in calibration_lines(
                {"formula": r["formula"], "state": r["state"], "calibrated": r["entries"]}
            ):
                if kind == "note":
                    note(line)
                else:
                    console.print(line, soft_wrap=True, markup=False)
    for err in res.failed.values():
        warn(err, prefix="failed")
    console.print(f"report: {res.report}  (results store: {res.store}; rerun to resume)")


def register(app: typer.Typer) -> None:
    """Add ``reproduce`` to the CLI."""
    app.command("reproduce")(reproduce_cmd)
