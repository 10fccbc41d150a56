"""``halidelab kmc``: kinetic Monte Carlo on a cell's hop network, sigma(T) and Ea."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from halidelab.cli._common import console, console_err, print_json


def parse_temperatures(text: str) -> list[float]:
    """``298,323,348`` or a range ``250..400:25`` (both ends included), in K."""
    import numpy as np

    from halidelab.errors import SimulationError

    t = text.strip()
    try:
        if ".." in t:
            span, _, step = t.partition(":")
            lo, hi = (float(v) for v in span.split(".."))
            st = float(step) if step else 25.0
            if st <= 0 or hi < lo:
                raise ValueError
            vals = [float(v) for v in np.arange(lo, hi + st / 2, st)]
        else:
            vals = [float(v) for v in t.replace(";", ",").split(",") if v.strip()]
    except ValueError:
        raise SimulationError(
            f"cannot read temperatures {text!r}: write K values like 298,323,348 "
            "or a range like 250..400:25"
        ) from None
    if not vals or any(v <= 0 for v in vals):
        raise SimulationError(f"temperatures must be positive numbers of K, got {text!r}")
    return vals


def _study_from_store(db: Path, structure: Any) -> dict[str, Any] | None:
    """The NEB study of this very cell in a results store (same structure hash)."""
    from halidelab.screening.ranking import _shash
    from halidelab.screening.store import Store

    want = _shash(structure.as_dict())
    for r in Store(db).rows(kind="neb", status="done"):
        if _shash(r["inputs"]["structure"]) == want:
            return r["result"]
    return None


def register(app: typer.Typer) -> None:
    """Add the ``kmc`` command."""

    @app.command("kmc")
    def kmc_cmd(
        structure: Path = typer.Argument(..., help="Relaxed, ordered cell (CIF/POSCAR/extxyz)."),
        temperatures: str = typer.Option(
            "298.15..373.15:25",
            "--T",
            help="K: 298,323,348 or a range 250..400:25 (default 25-100 C).",
        ),
        db: Path = typer.Option(
            None,
            "--db",
            help="Results store holding an NEB study of this cell; "
            "the KMC result is stored there too.",
        ),
        neb_json: Path = typer.Option(
            None, "--neb", help="An NEB study as JSON (halidelab neb --json)."
        ),
        source: str = typer.Option(
            "auto", "--source", help="neb, bvse or auto (neb when a study is found, else bvse)."
        ),
        bvse_saddle: str = typer.Option(
            "path",
            "--bvse-saddle",
            help="BVSE network: path (sites at basin minima, saddles on minimum-energy paths) "
            "or line (hole centres, straight lines: the method before 2026-12).",
        ),
        prefactors: str = typer.Option(
            "fixed",
            "--prefactors",
            help="BVSE network hop prefactors: fixed (one attempt frequency, 1e13 Hz) or "
            "harmonic (each hop's Vineyard prefactor of a Li in the frozen host's BVSE field; "
            "path saddles only).",
        ),
        runs: int = typer.Option(8, "--runs", help="Independent KMC runs per temperature."),
        hops: float = typer.Option(200.0, "--hops", help="KMC hops per Li in each run."),
        seed: int = typer.Option(0, "--seed"),
        superbasin: str = typer.Option(
            "100",
            "--superbasin",
            help="Slow hops crossed more than this many times as often as the network's critical "
            "hops to that ratio (fast back-and-forth pairs of disordered cells; detailed balance "
            "kept), or 'none' for the plain rates.",
        ),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """sigma(T), D (tracer and collective), Haven ratio and Ea by kinetic Monte Carlo
        on the Li hop network of a cell: from its NEB study (after ``halidelab neb``) or,
        as a cheaper stated approximation, its BVSE map."""
        from halidelab.cli._structures import load_structure
        from halidelab.errors import HalidelabError, SimulationError

        temps = parse_temperatures(temperatures)
        ratio = _superbasin_ratio(superbasin)
        if source not in ("auto", "neb", "bvse"):
            raise HalidelabError(f"--source must be auto, neb or bvse, got {source!r}")
        if bvse_saddle not in ("path", "line"):
            raise HalidelabError(f"--bvse-saddle must be path or line, got {bvse_saddle!r}")
        from halidelab.screening.inputs import KMC_PREFACTORS, KMCInputs

        if prefactors not in KMC_PREFACTORS:
            raise HalidelabError(f"--prefactors must be fixed or harmonic, got {prefactors!r}")
        if prefactors == "harmonic" and bvse_saddle != "path":
            raise HalidelabError("--prefactors harmonic needs --bvse-saddle path")
        st, ordering = load_structure(structure, kind="bvse")  # checked; a CIF with partial
        # occupancies becomes its lowest-Ewald ordered model (a note; recorded below)
        study = None
        if neb_json is not None:
            try:
                data = json.loads(Path(neb_json).read_text())
            except (OSError, ValueError) as exc:
                raise HalidelabError(f"cannot read the NEB study {neb_json}: {exc}") from None
            study = data.get("study", data) if isinstance(data, dict) else None
            if not isinstance(study, dict) or "network" not in study:
                raise HalidelabError(
                    f"{neb_json} is not an NEB study (no 'network'): write it with "
                    "'halidelab neb ... --json'"
                )
        elif db is not None and source != "bvse":
            study = _study_from_store(db, st)
        if source == "neb" and study is None:
            raise SimulationError(
                "no NEB study of this cell: run 'halidelab neb' on it (with --db) or "
                "give --neb study.json, or use --source bvse"
            )
        use = "neb" if study is not None and source != "bvse" else "bvse"
        if prefactors == "harmonic" and use != "bvse":
            raise HalidelabError(
                "--prefactors harmonic is for BVSE networks, and an NEB study of this cell was "
                "found: add --source bvse"
            )
        if use == "bvse":
            console_err.print(
                "note: BVSE network (a cheap approximation: BVSE site energies and "
                + ("minimum-energy-path" if bvse_saddle == "path" else "straight-line")
                + " saddles, not MLIP barriers)"
            )
        spec = KMCInputs(
            structure=st.as_dict(),
            source=use,
            temperatures_K=temps,
            n_runs=runs,
            hops_per_carrier=hops,
            seed=seed,
            superbasin_ratio=ratio,
            study=study if use == "neb" else None,
            bvse_saddle=bvse_saddle,
            prefactors=prefactors,
        )
        inputs = spec.to_json()
        if db is not None:
            from halidelab.screening.runner import run_tasks
            from halidelab.screening.store import Store
            from halidelab.screening.tasks import Task

            store = Store(db)
            task = Task.of(spec, f"{st.composition.reduced_formula} kmc {use}")
            summary = run_tasks([task], store, progress=not as_json, title="kmc")
            if summary.failed:
                raise SimulationError(next(iter(summary.failed.values())))
            out = store.result(task.key)
        else:
            from halidelab.screening.kinds import kmc_task

            out = kmc_task(inputs)
        if ordering is not None:
            out = {**out, "ordering": ordering}
        if as_json:
            print_json(out)
            return
        _print(out, use)


def _superbasin_ratio(text: str) -> float | None:
    """``--superbasin``: a ratio > 1, or none/off for the plain rates."""
    from halidelab.cli._common import check_number
    from halidelab.errors import HalidelabError

    if text.strip().lower() in ("none", "off", "no"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise HalidelabError(f"--superbasin must be a ratio > 1 or 'none', got {text!r}") from None
    check_number(value, "--superbasin", above=1.0)
    return value


def _print(out: dict[str, Any], source: str) -> None:
    from rich.table import Table

    from halidelab.ensemble import kmc_room_temperature_upper

    res, net = out["kmc"], out["network"]
    t = Table(
        title=f"KMC {res['formula']} ({source} network: {len(net['site_frac'])} sites, "
        f"{len(net['edge_a'])} hops; supercell {res['network']['supercell']}, "
        f"{res['network']['n_carriers_supercell']} Li)"
    )
    for col in (
        "T (K)",
        "D* (cm2/s)",
        "D_sigma (cm2/s)",
        "Haven",
        "sigma, orientation mean (S/cm)",
        "principal sigma (S/cm)",
        "polycrystal sigma (S/cm)",
        "hops/Li",
        "slowed hops",
    ):
        t.add_column(col)
    for p in res["points"]:
        hv = "-" if p["haven_ratio"] is None else f"{p['haven_ratio']:.2f}"
        t.add_row(
            f"{p['temperature_K']:.1f}",
            f"{p['d_tracer_cm2_s']:.2e} +- {p['d_tracer_err_cm2_s']:.1e}",
            f"{p['d_sigma_cm2_s']:.2e} +- {p['d_sigma_err_cm2_s']:.1e}",
            hv,
            f"{p['sigma_S_cm']:.2e} +- {p['sigma_err_S_cm']:.1e}"
            + (
                f" (not diffusive: < {p['sigma_upper_S_cm']:.1e})"
                if p.get("sigma_upper_S_cm") is not None
                else ""
            ),
            ", ".join(f"{v:.1e}" for v in p.get("sigma_principal_S_cm") or []) or "-",
            "-"
            if p.get("sigma_polycrystal_S_cm") is None
            else f"{p['sigma_polycrystal_S_cm']:.2e} +- {p['sigma_polycrystal_err_S_cm']:.1e}",
            f"{p['hops_per_carrier']:.0f}",
            _slowed(p.get("superbasin")),
        )
    console.print(t)
    summ = res["network"]
    if summ.get("prefactor_median_Hz") is not None:
        console.print(
            f"hop prefactors: harmonic (Vineyard, one Li in the frozen host's BVSE field), "
            f"median {summ['prefactor_median_Hz']:.2e} Hz, {summ['prefactor_min_Hz']:.1e}-"
            f"{summ['prefactor_max_Hz']:.1e} Hz"
        )
    fits = [(res.get("average") or "orientation", res)]
    if res.get("other_average"):
        fits.append((res["other_average"]["average"], res["other_average"]))
    for average, fit in fits:
        what = (
            "random polycrystal (a pellet's bulk, if the model's anisotropy is the crystal's)"
            if average == "polycrystal"
            else "single crystal, orientation average"
        )
        if fit.get("ea_eV") is None:
            console.print(f"{what}: no Arrhenius fit")
            continue
        console.print(
            f"{what}: Ea = {fit['ea_eV']:.3f} +- {fit['ea_err_eV']:.3f} eV; sigma(25 C) = "
            f"{fit['sigma_25C_S_cm']:.2e} S/cm [{fit['sigma_25C_low_S_cm']:.1e}, "
            f"{fit['sigma_25C_high_S_cm']:.1e}]"
        )
    upper = kmc_room_temperature_upper(res)
    if upper is not None:
        console.print(
            f"sigma at {min(p['temperature_K'] for p in res['points']):g} K < {upper:.2e} S/cm: "
            "an upper limit (the run stayed sub-diffusive; MSD/6t at its longest lag, "
            "mean + 2 SE, bounds the long-time conductivity from above)"
        )
    for a in res["assumptions"]:
        console.print(f"assumption: {a}")
    for w in res["warnings"]:
        console_err.print(f"warning: {w}")


def _slowed(sb: dict[str, Any] | None) -> str:
    """The superbasin column: how many hops were slowed, by up to how much."""
    if sb is None:
        return "off"
    if sb.get("reason"):
        return f"0 ({sb['reason']})"
    return f"{sb['n_raised']} (<= {sb['max_raise_eV']:.2f} eV)" if sb["n_raised"] else "0"
