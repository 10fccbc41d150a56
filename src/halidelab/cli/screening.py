"""``halidelab screen`` and ``halidelab results``: screening at scale, ranked results."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from halidelab.cli._common import (
    BVSE_VOLUME_HELP,
    OutputGuard,
    console,
    console_err,
    estimate_table,
    print_json,
    warn,
)
from halidelab.errors import HalidelabError

#: Above this estimated wall time the screen asks before starting (or needs --yes), s.
CONFIRM_ABOVE_S = 600.0
#: help of ``--calibration`` and ``--reference`` (screen, results)
CALIBRATION_HELP = (
    "Calibration file of 'halidelab validate' (REPORT/calibration/*.json; repeatable): one "
    "column of calibrated values with intervals (ensemble mean over the orderings)."
)
REFERENCE_HELP = "Reference table the calibrations were fitted on (default: the shipped set)."


def _client(
    scheduler: str | None,
    cluster: str | None,
    jobs: int,
    workers: int,
    cores: int,
    memory: str,
    walltime: str,
    queue: str | None,
    account: str | None,
):
    """A Dask client (or None: run in this process) and the number of workers."""
    if sum(bool(v) for v in (scheduler, cluster, workers > 1)) > 1:
        raise HalidelabError("give one of --scheduler, --cluster or --workers N")
    if cluster:
        from halidelab.screening.cluster import jobqueue_cluster

        if jobs < 1:
            raise HalidelabError(f"--jobs must be >= 1, got {jobs}")
        cl = jobqueue_cluster(
            cluster, cores=cores, memory=memory, walltime=walltime, queue=queue, account=account
        )
        cl.scale(jobs=jobs)
        from distributed import Client

        console_err.print(
            f"submitted {jobs} {cluster} job(s) of {cores} worker(s); the screen "
            "starts as workers arrive"
        )
        return Client(cl), jobs * cores
    if scheduler:
        from halidelab.cli.screen import _client as remote

        client = remote(scheduler, 1)
        return client, len(client.scheduler_info().get("workers", {})) or 1
    if workers > 1:
        from distributed import Client

        from halidelab.screening.cluster import local_cluster

        return Client(local_cluster(workers)), workers
    return None, 1


def screen_cmd(
    parent: str = typer.Argument(..., help="Parent formula, e.g. Li2ZrCl6"),
    site: str = typer.Option(..., "--site", help="Host site(s), comma list, e.g. Zr"),
    dopants: str = typer.Option(..., "--dopants", help="Comma list, e.g. Nb,Ta,In or Mo6+"),
    x: str = typer.Option("0.05..0.5:0.05", "--x", help="Contents: 0.1,0.2 or START..STOP:STEP"),
    tiers: str = typer.Option(
        "rules,prior",
        "--tiers",
        help="Comma list of rules, prior, models, relax, bvse, stability, neb, kmc",
    ),
    db: str = typer.Option("results.sqlite", "--db", help="Results store: file or SQLAlchemy URL"),
    report: Path = typer.Option(
        None, "--report", help="Folder for screen.html (default: no report)"
    ),
    measured: Path = typer.Option(
        None, "--measured", help="CSV of measured results (x, sigma_S_cm, ea_eV[, dopant])"
    ),
    literature: list[Path] = typer.Option(
        [], "--literature", help="CSV of known electrolytes added to the literature table"
    ),
    max_mismatch: float = typer.Option(
        None,
        "--max-mismatch",
        help="Prune above this |mismatch|, % (default: prune none; "
        "measured substitutions reach 31 %)",
    ),
    prune_structure_change: bool = typer.Option(
        False, "--prune-structure-change", help="Prune (not only flag) predicted structure changes"
    ),
    model: str = typer.Option("chgnet", "--model", help="MLIP for relax"),
    max_atoms: int = typer.Option(140, "--max-atoms", help="Largest supercell"),
    relax_steps: int = typer.Option(250, "--relax-steps", help="Max relaxation steps"),
    bvse_resolution: float = typer.Option(0.25, "--bvse-resolution", help="BVSE grid spacing, Å"),
    bvse_volume: str = typer.Option("relaxed", "--bvse-volume", help=BVSE_VOLUME_HELP),
    state: str = typer.Option(
        "annealed",
        "--state",
        help="Models: annealed (Ewald ground state of the sites) or quenched (their disorder "
        "sampled at 800 K on 11.5 Å cells, as validate --annealed-state quenched: its "
        "calibrations apply to these only)",
    ),
    configs: int = typer.Option(
        3,
        "--configs",
        help="Orderings per candidate for models/relax/bvse/kmc (ensemble "
        "means and spreads; the ranking uses the lowest-energy one)",
    ),
    neb_top: int = typer.Option(
        5, "--neb-top", help="NEB for this many best candidates by the cheaper tiers"
    ),
    neb_steps: int = typer.Option(300, "--neb-steps", help="Max CI-NEB optimiser steps per band"),
    scheduler: str = typer.Option(
        None, "--scheduler", help="Dask scheduler address (tcp://host:8786)"
    ),
    cluster: str = typer.Option(None, "--cluster", help="slurm or pbs (dask-jobqueue)"),
    jobs: int = typer.Option(1, "--jobs", help="Batch jobs to submit with --cluster"),
    cores: int = typer.Option(4, "--cores", help="Cores (= worker processes) per batch job"),
    memory: str = typer.Option("8GB", "--memory", help="Memory per batch job"),
    walltime: str = typer.Option("04:00:00", "--walltime", help="Wall time per batch job"),
    queue: str = typer.Option(None, "--queue", help="Partition / queue for --cluster"),
    account: str = typer.Option(None, "--account", help="Account for --cluster"),
    workers: int = typer.Option(1, "--workers", help="Local worker processes (1 = this process)"),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Start without asking, whatever the estimate"
    ),
    top: int = typer.Option(10, "--top", help="Rows of the ranking to print"),
    as_json: bool = typer.Option(False, "--json", help="Print the ranking as JSON"),
    calibration: list[Path] = typer.Option([], "--calibration", help=CALIBRATION_HELP),
    reference: Path = typer.Option(None, "--reference", help=REFERENCE_HELP),
) -> None:
    """Screen dopants and contents of a parent: rules prune, expensive tiers for survivors.

    Resumable: rerun the same command to continue; finished tasks are skipped. With
    --calibration, raw and calibrated values (with intervals) side by side.
    """
    from halidelab.report.screen import read_measured, write_screen_report
    from halidelab.screening.plans import (
        ScreenSettings,
        candidate_grid,
        estimate_cost,
        format_duration,
        measured_costs,
        normalise_tiers,
        parse_x_spec,
        run_screen,
    )
    from halidelab.screening.ranking import Weights, gather, rank
    from halidelab.screening.store import Store
    from halidelab.validation.apply import load_calibrations

    cals = load_calibrations(calibration, reference)  # a bad file stops here, before any work
    if workers < 1:
        raise HalidelabError(f"--workers must be >= 1, got {workers}")
    if top < 1:
        raise HalidelabError(f"--top must be >= 1, got {top}")
    if not 0.05 <= bvse_resolution <= 2.0:
        raise HalidelabError(f"--bvse-resolution {bvse_resolution} Å is outside 0.05-2 Å")
    if max_mismatch is not None and max_mismatch <= 0:
        raise HalidelabError(f"--max-mismatch must be > 0 %, got {max_mismatch}")
    if configs < 1:
        raise HalidelabError(f"--configs must be >= 1, got {configs}")
    if neb_top < 1:
        raise HalidelabError(
            f"--neb-top must be >= 1, got {neb_top} (leave neb out of --tiers to run no NEB)"
        )
    if neb_steps < 1:
        raise HalidelabError(f"--neb-steps must be >= 1, got {neb_steps}")
    grid = candidate_grid(
        parent,
        [d for d in dopants.split(",") if d.strip()],
        parse_x_spec(x),
        [s.strip() for s in site.split(",") if s.strip()],
    )
    settings = ScreenSettings(
        tiers=normalise_tiers(tiers.split(",")),
        max_mismatch_percent=max_mismatch,
        prune_structure_change=prune_structure_change,
        model=model,
        max_atoms=max_atoms,
        relax_steps=relax_steps,
        bvse_resolution_A=bvse_resolution,
        bvse_volume=bvse_volume,
        state=state,
        n_configs=configs,
        neb_top=neb_top,
        neb_steps=neb_steps,
    )
    meas = read_measured(measured, default_dopant=None) if measured else None
    n_workers = workers if not cluster else jobs * cores
    n_refs = None
    if "stability" in settings.tiers:
        from halidelab.screening.plans import grid_systems, reference_plan

        plan = reference_plan(grid_systems(grid), settings)
        n_refs = len({t.key for p in plan.values() if isinstance(p, list) for _, t in p})

    def confirm(est: Any) -> bool:
        out_console.print(
            estimate_table(
                est,
                f"after the rules: {est.n_survivors} of {est.n_candidates} candidates pass; "
                f"costs per atom scaled to {est.n_atoms} atoms ({est.atoms_source})",
            )
        )
        if yes or est.total_s <= CONFIRM_ABOVE_S:
            return True
        if not sys.stdin.isatty():
            raise HalidelabError(
                f"the screen is estimated at {format_duration(est.total_s)} "
                f"(range {format_duration(est.low_s)}-{format_duration(est.high_s)}): "
                "rerun with --yes to start it (results so far are in the store)"
            )
        return typer.confirm(f"start? (about {format_duration(est.total_s)})", default=False)

    guard = OutputGuard([measured, *literature, *calibration, reference])
    if report is not None:
        guard.folder(report, "--report", create=False)
        guard.file_in(report, "screen.html", "--report")
    store = Store(db)
    upper = estimate_cost(
        len(grid),
        settings,
        workers=n_workers,
        n_references=n_refs,
        costs=measured_costs(store, settings),
    )
    out_console = console_err if as_json else console
    out_console.print(
        estimate_table(
            upper,
            f"{len(grid)} candidates: cost before the rules (every candidate assumed to pass)",
        )
    )
    client, n_workers = _client(
        scheduler, cluster, jobs, workers, cores, memory, walltime, queue, account
    )
    try:
        res = run_screen(
            grid,
            store,
            settings,
            client=client,
            progress=not as_json,
            workers=n_workers,
            confirm=confirm,
        )
    finally:
        if client is not None:
            client.close()
    weights = Weights()
    cands = gather(store, parent)
    ranked = rank(cands, weights)
    calibrated = calibrate_ranked(store, cands, ranked, cals)
    report_path = None
    if report is not None:
        meta = {
            "tiers": ", ".join(settings.tiers),
            "store": store.url,
            "estimate (after rules)": f"{format_duration(res.estimate.total_s)} on "
            f"{res.estimate.workers} worker(s)",
            "this run": f"{res.computed} tasks computed, {res.skipped} found done, "
            f"{len(res.failed)} failed, {format_duration(res.wall_s)}",
            "max mismatch": "no pruning" if max_mismatch is None else f"{max_mismatch:g} %",
            "BVSE grid": f"{bvse_resolution:g} Å" if "bvse" in settings.tiers else "–",
            "orderings per candidate": str(configs),
        }
        if settings.state != "annealed":
            meta["models"] = (
                f"{settings.state} (site disorder sampled at the quench temperature, cells "
                f"up to {settings.models_max_atoms} atoms, {settings.hops_per_carrier:g} KMC "
                "events per Li)"
            )
        if "neb" in settings.tiers:
            meta["NEB"] = (
                f"top {neb_top} by the cheaper tiers: {', '.join(res.neb_selected) or 'none'} "
                f"({settings.neb_images} images, {neb_steps} steps, hops distinct)"
            )
        if res.notes:
            meta["not computed"] = "; ".join(res.notes)
        report_path = write_screen_report(
            Path(report) / "screen.html",
            cands,
            ranked,
            weights,
            meta,
            meas,
            res.failed,
            store=store,
            literature_csvs=literature,
            calibrated=calibrated if cals else None,
        )
    if as_json:
        print_json(
            {
                "ranked": [
                    {**r.to_dict(), **({"calibrated": calibrated[r.label]} if cals else {})}
                    for r in ranked
                ],
                "pruned": res.pruned,
                "failed": res.failed,
                "report": str(report_path) if report_path else None,
                "store": store.url,
                "estimate": res.estimate.to_dict(),
                "notes": res.notes,
                "neb_selected": res.neb_selected,
                "wall_s": res.wall_s,
                "computed": res.computed,
                "skipped": res.skipped,
            }
        )
        return
    console.print(
        ranking_table(ranked[:top], f"{parent}: top {min(top, len(ranked))} of {len(ranked)}")
    )
    print_calibration_lines(ranked[:top], calibrated)
    console.print(
        f"{res.n_survivors} of {res.n_candidates} candidates passed the rules; "
        f"{len(res.pruned)} pruned. {res.computed} tasks computed, {res.skipped} reused, "
        f"{len(res.failed)} failed ({format_duration(res.wall_s)})."
    )
    if res.neb_selected:
        console.print(f"NEB (top {neb_top} by the cheaper tiers): {', '.join(res.neb_selected)}")
    for note in res.notes:
        warn(note, prefix="not computed")
    for err in list(res.failed.values())[:10]:
        warn(err, prefix="failed")
    if report_path:
        console.print(f"report: {report_path}")
    console.print(f"results store: {store.url} (rerun to resume; halidelab results {db} --top 10)")


def ranking_table(ranked: list[Any], title: str) -> Table:
    """A rich table of ranked candidates with every score component.

    NEB, E_hull and ordering-spread columns appear when any row has them.
    """
    show_neb = any(r.neb_bands is not None for r in ranked)
    show_hull = any(r.e_above_hull_eV_atom is not None for r in ranked)
    show_cfg = any(r.n_configs > 1 for r in ranked)
    t = Table(title=title)
    cols = [
        "#",
        "formula",
        "basis",
        "score (eV)",
        "barrier",
        "+mism.",
        "+struct.",
        "+stab.",
        "BVSE 1D",
        "BVSE 3D",
    ]
    cols += ["NEB 3D (conv.)"] if show_neb else []
    cols += ["E_hull eV/at"] if show_hull else []
    cols += ["3D spread (orderings)"] if show_cfg else []
    for col in (*cols, "prior log σ [90%]", "tied", "warnings"):
        t.add_column(col)

    def f(v: Any, nd: int = 3) -> str:
        return "–" if v is None else f"{v:.{nd}f}"

    for r in ranked:
        score = (
            "–" if r.score_eV is None else f"{r.score_eV:.3f} ± {r.score_uncertainty_eV or 0:.3f}"
        )
        prior = (
            "–"
            if r.prior_log10_sigma_S_cm is None
            else (
                f"{r.prior_log10_sigma_S_cm:.2f} "
                f"[{r.prior_log10_low:.2f}, {r.prior_log10_high:.2f}]"
            )
        )
        row = [
            str(r.rank),
            r.formula,
            r.basis,
            score,
            f(r.barrier_eV),
            f(r.mismatch_penalty_eV),
            f(r.structure_penalty_eV),
            f(r.stability_penalty_eV),
            f(r.bvse_1d_eV),
            f(r.bvse_3d_eV),
        ]
        if show_neb:
            row.append(
                "–"
                if r.neb_bands is None
                else f"{f(r.neb_3d_eV)} ({r.neb_bands_converged}/{r.neb_bands} conv.)"
            )
        if show_hull:
            row.append(f(r.e_above_hull_eV_atom))
        if show_cfg:
            row.append(
                "–"
                if r.config_spread_eV is None
                else f"{r.config_spread_eV:.3f} (n={len(r.config_barriers_eV)})"
            )
        t.add_row(*row, prior, _ties(r.tied_with), str(len(r.warnings)))
    return t


def calibrated_table(ranked: list[Any], calibrated: dict[str, list[dict[str, Any]]]) -> Table:
    """The ranked candidates' raw and calibrated values, one pair of columns per calibration.

    Raw is the ensemble mean over the orderings (what is calibrated; the ranking's own
    barriers are the lowest-energy ordering's); calibrated is ``value [low, high]`` with
    ``LOO`` (a reference material, calibrated without itself) and ``OUT OF DOMAIN`` flags,
    or why a calibration does not apply (the note under the table says more).

    Parameters
    ----------
    ranked : list of RankedCandidate
    calibrated : dict
        Label -> :func:`halidelab.validation.apply.calibrate_composition` entries.
    """
    from halidelab.compare import calibrated_text

    idents = list(
        dict.fromkeys(
            (e["tier"], e["model"], e["target"], e["label"], e["unit"])
            for es in calibrated.values()
            for e in es
        )
    )
    levels = {
        (e["tier"], e["model"], e["target"]): e["level"]
        for es in calibrated.values()
        for e in es
        if e["applied"]
    }
    t = Table(title="raw (mean over the orderings) and calibrated against the reference set")
    for col in ("#", "formula"):
        t.add_column(col)
    for tier, model, target, label, unit in idents:
        level = levels.get((tier, model, target))
        t.add_column(f"{label} raw ({unit})")
        t.add_column(f"calibrated ({tier}, {model}{f', {level:.0%}' if level is not None else ''})")
    for r in ranked:
        mine = calibrated.get(r.label, [])
        cells = []
        for tier, model, target, _, unit in idents:
            e = next(
                (e for e in mine if (e["tier"], e["model"], e["target"]) == (tier, model, target)),
                None,
            )
            nd = 3 if unit == "eV" else 2
            cells += [
                f"{e['raw']:.{nd}f} (N={e['n_orderings']})" if e and e["applied"] else "–",
                calibrated_text(e),
            ]
        t.add_row(str(r.rank), r.formula, *cells)
    return t


def _ties(ranks: tuple[int, ...], show: int = 3) -> str:
    if not ranks:
        return "–"
    text = ",".join(f"#{i}" for i in ranks[:show])
    return text + (f" +{len(ranks) - show}" if len(ranks) > show else "")


def calibrate_ranked(
    store: Any, cands: list[Any], ranked: list[Any], cals: list[Any]
) -> dict[str, list[dict[str, Any]]]:
    """Candidate label -> :func:`halidelab.validation.apply.calibrate_composition` entries
    of every ranked candidate ({} without calibrations)."""
    if not cals:
        return {}
    from halidelab.validation.apply import StoreIndex, calibrate_composition

    index = StoreIndex.of(store)
    by_label = {c.label: c for c in cands}
    return {
        r.label: calibrate_composition(r.formula, by_label[r.label], index, cals) for r in ranked
    }


def print_calibration_lines(ranked: list[Any], calibrated: dict[str, list[dict[str, Any]]]) -> None:
    """The table of raw and calibrated values (:func:`calibrated_table`), then per candidate
    raw -> calibrated [interval], map, nearest reference; notes on stderr."""
    if not calibrated:
        return
    from halidelab.cli._common import note
    from halidelab.compare import calibration_lines

    console.print(calibrated_table(ranked, calibrated))
    for r in ranked:
        for kind, line in calibration_lines(
            {"formula": r.label, "calibrated": calibrated[r.label]}
        ):
            if kind == "note":
                note(line)
            else:
                console.print(line, soft_wrap=True, markup=False)


def results_cmd(
    db: str = typer.Argument(..., help="Results store: file or SQLAlchemy URL"),
    top: int = typer.Option(10, "--top", help="Rows to show"),
    parent: str = typer.Option(None, "--parent", help="Only candidates of this parent"),
    csv_out: Path = typer.Option(None, "--csv", help="Write the full ranking as CSV"),
    report: Path = typer.Option(None, "--report", help="Write screen.html into this folder"),
    measured: Path = typer.Option(
        None, "--measured", help="CSV of measured results for the report"
    ),
    literature: list[Path] = typer.Option(
        [], "--literature", help="CSV of known electrolytes added to the literature table"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the ranking as JSON"),
    calibration: list[Path] = typer.Option([], "--calibration", help=CALIBRATION_HELP),
    reference: Path = typer.Option(None, "--reference", help=REFERENCE_HELP),
) -> None:
    """Rank what a results store holds (no computation; the store is opened read-only)."""
    import csv

    from halidelab.report.screen import read_measured, write_screen_report
    from halidelab.screening.ranking import Weights, gather, rank
    from halidelab.screening.store import Store
    from halidelab.validation.apply import load_calibrations

    cals = load_calibrations(calibration, reference)
    if "://" not in db and not Path(db).is_file():
        raise HalidelabError(f"results store {db} not found: give the --db file of a screen")
    if top < 1:
        raise HalidelabError(f"--top must be >= 1, got {top}")
    guard = OutputGuard([db, measured, *literature, *calibration, reference])
    if csv_out:
        guard.file(csv_out, "--csv")
    if report:
        guard.folder(report, "--report", create=False)
        guard.file_in(report, "screen.html", "--report")
    store = Store(db, read_only=True)
    cands = gather(store, parent)
    if not cands:
        raise HalidelabError(
            f"{db} holds no screened candidates{' of ' + parent if parent else ''}: "
            "run halidelab screen first"
        )
    weights = Weights()
    ranked = rank(cands, weights)
    calibrated = calibrate_ranked(store, cands, ranked, cals)
    if csv_out:
        rows = [r.to_dict() for r in ranked]
        for r in rows:
            r.pop("provenance", None)
            r["tied_with"] = " ".join(str(i) for i in r["tied_with"])
            r["warnings"] = " | ".join(r["warnings"])
            r["config_barriers_eV"] = " ".join(f"{v:.4f}" for v in r["config_barriers_eV"])
            for e in calibrated.get(r["label"], []):
                col = f"calibrated_{e['tier']}_{e['model']}_{e['target']}"
                r.update(
                    {
                        col: e.get("calibrated"),
                        f"{col}_low": e.get("low"),
                        f"{col}_high": e.get("high"),
                        f"{col}_out_of_domain": e.get("out_of_domain"),
                        f"{col}_note": e["note"],
                    }
                )
        from halidelab.outputs import atomic_open

        with atomic_open(csv_out, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["rank"])
            w.writeheader()
            w.writerows(rows)
    report_path = None
    if report:
        meas = read_measured(measured) if measured else None
        report_path = write_screen_report(
            Path(report) / "screen.html",
            cands,
            ranked,
            weights,
            {"store": store.url},
            meas,
            None,
            store=store,
            literature_csvs=literature,
            calibrated=calibrated if cals else None,
        )
    if as_json:
        print_json(
            {
                "ranked": [
                    {**r.to_dict(), **({"calibrated": calibrated[r.label]} if cals else {})}
                    for r in ranked[:top]
                ],
                "n_ranked": len(ranked),
                "n_candidates": sum(1 for c in cands if c.dopant),
                "pruned": [
                    {"label": c.label, "reasons": c.rules.get("reasons", [])}
                    for c in cands
                    if c.dopant and not c.passed
                ],
            }
        )
        return
    console.print(
        ranking_table(
            ranked[:top],
            f"top {min(top, len(ranked))} of {len(ranked)} ranked "
            f"({sum(1 for c in cands if c.dopant and not c.passed)} pruned)",
        )
    )
    print_calibration_lines(ranked[:top], calibrated)
    if csv_out:
        console.print(f"ranking written to {csv_out}")
    if report_path:
        console.print(f"report: {report_path}")


def register(app: typer.Typer) -> None:
    """Add ``screen`` and ``results`` to the CLI."""
    app.command("screen")(screen_cmd)
    app.command("results")(results_cmd)
