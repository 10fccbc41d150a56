"""``halidelab neb``: Li sites, hop graph and CI-NEB barriers of a structure file."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from halidelab.cli._common import (
    BATCH_HELP,
    OutputGuard,
    batch_deprecated,
    check_number,
    console,
    console_err,
    note,
    potential,
    print_json,
    warn,
)
from halidelab.cli._structures import load_structure, with_ordering


def _hops(text: str) -> str | list[int]:
    from halidelab.errors import SimulationError

    t = text.strip().lower()
    if t in ("distinct", "environment", "all"):
        return t
    try:
        return [int(v) for v in t.split(",") if v.strip()]
    except ValueError:
        raise SimulationError(
            f"--hops must be distinct, environment, all or hop indices like 0,3; got {text!r}"
        ) from None


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def register(app: typer.Typer) -> None:
    """Add the ``neb`` command to the app."""

    @app.command("neb")
    def neb_cmd(
        structure: Path = typer.Argument(
            ..., help="CIF/POSCAR of an ordered model with Li vacancies."
        ),
        hops: str = typer.Option(
            "distinct",
            "--hops",
            help="distinct (one per symmetry class), environment (also per dopant "
            "environment), all, or hop indices 0,3.",
        ),
        model: str = typer.Option(
            "chgnet",
            "--model",
            help="MLIP: chgnet, sevennet-0, ... (name-d3: plus D3(BJ) dispersion)",
        ),
        device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
        threads: int = typer.Option(None, "--threads", help="torch threads."),
        images: int = typer.Option(5, "--images", help="Intermediate images per hop."),
        fmax: float = typer.Option(0.05, "--fmax", help="NEB and endpoint force threshold, eV/A."),
        steps: int = typer.Option(500, "--steps", help="Maximum NEB optimiser steps per hop."),
        no_interstitials: bool = typer.Option(
            False, "--no-interstitials", help="Only Li-site to Li-site hops (edge-sharing too)."
        ),
        keep_li: bool = typer.Option(
            False,
            "--keep-li",
            help="Do not take a Li out of Li orbits that have no empty site (their hops are "
            "then not run).",
        ),
        max_interstitials: int = typer.Option(
            3,
            "--max-interstitials",
            help="Longest chain of interstitials a path may run through; longer paths are "
            "added only where the Li sites need them to percolate (1: one interstitial).",
        ),
        every_chain: bool = typer.Option(
            False,
            "--every-chain",
            help="Also run the longer paths that percolation does not need (they may lower a "
            "barrier; costly).",
        ),
        dry_run: bool = typer.Option(
            False, "--dry-run", help="List sites and distinct hops; run nothing."
        ),
        batch: bool = typer.Option(False, "--batch", hidden=True, help=BATCH_HELP),
        out: Path = typer.Option(
            None, "-o", "--out", help="Directory for neb.json (results as they come)."
        ),
        max_atoms: int = typer.Option(
            None, "--max-atoms", help="Refuse structures above this many atoms (default 1000)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """CI-NEB barrier of each Li hop (vacancy and interstitial), chains and percolation.

        Endpoints, then the images of all hops, run together (one model call per step). A file
        with partial occupancies is studied as its lowest-Ewald-energy ordered model (said in a
        note, recorded in the provenance).
        """
        from halidelab.outputs import write_json
        from halidelab.transport.sites import site_network

        mode = _hops(hops)
        check_number(images, "--images", minimum=1)
        check_number(fmax, "--fmax", above=0, unit="eV/A")
        check_number(steps, "--steps", minimum=1)
        check_number(max_interstitials, "--max-interstitials", minimum=1)
        check_number(max_atoms, "--max-atoms", minimum=1)
        guard = OutputGuard([structure])
        if out is not None and not dry_run:
            guard.folder(out, "-o/--out", create=False)  # created with the first result
            for name in ("neb_hops.json", "neb.json"):
                guard.file_in(out, name, "-o/--out")
        s, info = load_structure(structure, kind="mlip", max_atoms=max_atoms)
        net = site_network(s, interstitials=not no_interstitials)
        if dry_run:
            level = "environment" if mode == "environment" else "parent"
            dist = net.distinct_hops(level, vacancy=True)
            if as_json:
                print_json({"network": net.to_dict(), "distinct_hops": [h.index for h in dist]})
                return
            t = Table(
                title=f"{net.formula}: {len(net.sites)} sites, {len(net.hops)} hops, framework "
                f"{net.framework_space_group}"
            )
            for col in (
                "hop",
                "label",
                "kind",
                "direction",
                "length_A",
                "environment",
                "count",
                "vacancy hop",
            ):
                t.add_column(col)
            key = "parent_class" if level == "parent" else "env_class"
            for h in dist:
                n = sum(1 for x in net.hops if getattr(x, key) == getattr(h, key))
                t.add_row(
                    str(h.index),
                    h.label,
                    h.kind,
                    h.direction,
                    f"{h.length_A:.3f}",
                    ",".join(f"{k}{v}" for k, v in h.environment.items()),
                    str(n),
                    "yes" if net.vacancy_ready(h) else "no",
                )
            console.print(t)
            return
        from halidelab.transport.neb import neb_study

        pot = potential(model, device, threads)
        done: list[dict] = []

        def save(r) -> None:
            console_err.print(
                f"{r.label}: barrier {r.barrier_forward_eV:.3f} eV "
                f"({'converged' if r.converged else 'NOT converged'}, {r.wall_s:.0f} s)"
            )
            if out is not None:
                guard.folder(out, "-o/--out")
                done.append(with_ordering(r, info).to_dict())
                write_json(out / "neb_hops.json", done, indent=1)

        kw = dict(
            hops=mode,
            network=net,
            model=pot,
            n_images=images,
            fmax=fmax,
            steps=steps,
            interstitials=not no_interstitials,
            on_result=save,
            create_vacancies=not keep_li,
            max_interstitials=max_interstitials,
            every_chain=every_chain,
        )
        if as_json:
            study = neb_study(s, **kw)
        else:
            with console_err.status("NEB: relaxing endpoints") as status:
                study = neb_study(
                    s,
                    progress=lambda stage, it, n: status.update(
                        f"NEB: {stage}, iteration {it}, {n} running"
                    ),
                    **kw,
                )
        batch_deprecated(batch)
        study = with_ordering(study, info)
        if out is not None:
            guard.folder(out, "-o/--out")
            write_json(out / "neb.json", study.to_dict(), indent=1)
        if as_json:
            print_json(study.to_dict())
            return
        t = Table(
            title=f"{study.formula} ({study.n_atoms} atoms): CI-NEB with "
            f"{study.provenance.model} ({study.provenance.model_version}), all bands as one batch"
        )
        for col in (
            "hop",
            "mechanism",
            "dir",
            "length_A",
            "Ea_fwd_eV",
            "Ea_bwd_eV",
            "dE_eV",
            "converged",
            "steps",
            "calls",
            "wall_s",
        ):
            t.add_column(col)
        for r in study.results:
            t.add_row(
                r.label,
                r.mechanism,
                r.direction,
                f"{r.hop_length_A:.2f}",
                f"{r.barrier_forward_eV:.3f}",
                f"{r.barrier_backward_eV:.3f}",
                f"{r.delta_e_eV:+.3f}",
                ("yes" if r.converged else "NO") + ("" if r.endpoints_ok else " (endpoints!)"),
                str(r.steps),
                str(r.force_calls),
                f"{r.wall_s:.0f}",
            )
        console.print(t)
        for r in study.results:
            for w in r.warnings:
                warn(f"[{r.label}] {w}")
        for sk in study.skipped:
            warn(sk, prefix="skipped")
        for v in study.created_vacancies:
            note(f"vacancy made: {v} (its Li orbit had no empty site)")
        for n in study.notes:
            note(n)
        if study.chains:
            tc = Table(title="chains (highest saddle above the lowest site)")
            tc.add_column("chain")
            tc.add_column("barrier_eV")
            tc.add_column("converged")
            for c in study.chains:
                tc.add_row(c.name, f"{c.barrier_eV:.3f}", "yes" if c.converged else "NO")
            console.print(tc)
        p = study.percolation
        if p is not None:
            console.print(
                f"percolation (converged hops): 1D {_fmt(p.ea_1d_eV)} eV, 2D {_fmt(p.ea_2d_eV)} "
                "eV, "
                f"3D {_fmt(p.ea_3d_eV)} eV"
            )
        else:
            console.print("percolation: no converged hop")
