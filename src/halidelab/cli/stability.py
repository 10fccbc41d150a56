"""``halidelab stability | window | interface | literature``: stability and known materials."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from halidelab.cli._common import console, console_err, print_json, warn
from halidelab.cli._structures import load_structure, with_ordering


def default_store() -> Path:
    """Cache of MLIP relaxations.

    ``$HALIDELAB_CACHE`` or ``~/.cache/halidelab/stability.sqlite``.
    """
    env = os.environ.get("HALIDELAB_CACHE")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "halidelab" / "stability.sqlite"


def _store(path: Path | None, no_cache: bool):
    from halidelab.screening.store import Store

    if no_cache:
        return None
    if path is None:
        path = default_store()
        # halidelab's own cache location (like pip's): created with its parents
        path.parent.mkdir(parents=True, exist_ok=True)
    return Store(path, option="--store")


def _progress(quiet: bool):
    if quiet:
        return None
    return lambda what: console_err.print(f"[dim]relaxing {what}[/dim]")


_TARGET = typer.Argument(..., help="Formula (Li1.8Zr0.8Nb0.2Cl6) or structure file (CIF/POSCAR)")
_MODEL = typer.Option("chgnet", "--model", help="MLIP for every energy: chgnet, sevennet-0 ...")
_CONFIGS = typer.Option(1, "--configs", help="Ordered configurations of a doped formula")
_STORE = typer.Option(
    None,
    "--store",
    help="Results store used as cache (default ~/.cache/halidelab/stability.sqlite)",
)
_NOCACHE = typer.Option(False, "--no-cache", help="Do not read or write the cache")
_FMAX = typer.Option(0.05, "--fmax", help="Relaxation force threshold, eV/A")
_STEPS = typer.Option(300, "--steps", help="Maximum relaxation steps")
_JSON = typer.Option(False, "--json", help="Print JSON instead of tables")
_QUIET = typer.Option(False, "--quiet", help="No progress lines")


def _target(text: str) -> tuple[Any, dict | None]:
    """A formula as given, or a structure file read, checked and (if needed) ordered."""
    p = Path(text)
    if p.suffix.lower() in (".cif", ".vasp", ".poscar", ".xyz", ".extxyz") or p.is_file():
        # the candidate is relaxed with its cell: a slab is refused
        return load_structure(p, kind="mlip", variable_cell=True)
    return text, None


def stability_cmd(
    target: str = _TARGET,
    model: str = _MODEL,
    configs: int = _CONFIGS,
    store: Path = _STORE,
    no_cache: bool = _NOCACHE,
    fmax: float = _FMAX,
    steps: int = _STEPS,
    as_json: bool = _JSON,
    quiet: bool = _QUIET,
) -> None:
    """Energy above the MLIP convex hull and the decomposition products."""
    from halidelab.stability.hull import energy_above_hull

    tgt, info = _target(target)
    res = energy_above_hull(
        tgt,
        model=model,
        n_configs=configs,
        store=_store(store, no_cache),
        fmax=fmax,
        steps=steps,
        progress=_progress(quiet or as_json),
    )
    res = with_ordering(res, info)
    if as_json:
        print_json(res.to_dict())
        return
    console.print(
        f"[bold]{res.formula}[/bold] ({res.chemical_system}, {res.provenance.model} "
        f"{res.provenance.model_version})"
    )
    console.print(
        f"energy above hull: {1000 * res.e_above_hull_eV_atom:.1f} meV/atom; decomposition energy "
        f"vs other phases: {1000 * res.decomposition_energy_eV_atom:+.1f} meV/atom; formation "
        f"energy {res.formation_energy_eV_atom:.3f} eV/atom; "
        + (
            "stable"
            if res.stable
            else "decomposes into " + " + ".join(p.formula for p in res.products)
        )
    )
    t = Table(title="configurations", header_style="bold")
    for c in ("#", "E (eV/atom)", "E above hull (meV/atom)", "converged"):
        t.add_column(c, justify="right")
    for c in res.configurations:
        t.add_row(
            str(c.index),
            f"{c.energy_per_atom_eV:.4f}",
            f"{1000 * c.e_above_hull_eV_atom:.1f}",
            str(c.converged),
        )
    console.print(t)
    t = Table(title="competing phases (same MLIP)", header_style="bold")
    for c in (
        "phase",
        "E (eV/atom)",
        "V/f.u. relaxed (A^3)",
        "V/f.u. measured",
        "approximate",
        "cached",
    ):
        t.add_column(c, justify="left" if c == "phase" else "right")
    for r in res.references:
        meas = f"{r.measured_volume_A3_per_fu:.1f}" if r.measured_volume_A3_per_fu else "-"
        t.add_row(
            r.name,
            f"{r.energy_per_atom_eV:.4f}",
            f"{r.volume_A3_per_fu:.1f}",
            meas,
            "yes" if r.approximate else "",
            "yes" if r.cached else "",
        )
    console.print(t)
    for w in res.warnings:
        warn(w)


def window_cmd(
    target: str = _TARGET,
    model: str = _MODEL,
    configs: int = _CONFIGS,
    store: Path = _STORE,
    no_cache: bool = _NOCACHE,
    fmax: float = _FMAX,
    steps: int = _STEPS,
    as_json: bool = _JSON,
    quiet: bool = _QUIET,
) -> None:
    """Electrochemical window vs Li/Li+.

    Reduction and oxidation limits, products, voltage profile.
    """
    from halidelab.stability.window import electrochemical_window

    tgt, info = _target(target)
    res = electrochemical_window(
        tgt,
        model=model,
        n_configs=configs,
        store=_store(store, no_cache),
        fmax=fmax,
        steps=steps,
        progress=_progress(quiet or as_json),
    )
    res = with_ordering(res, info)
    if as_json:
        print_json(res.to_dict())
        return
    console.print(
        f"[bold]{res.formula}[/bold]: stable from {res.reduction_limit_V:.2f} V to "
        f"{res.oxidation_limit_V:.2f} V vs Li/Li+ ({res.provenance.model})"
    )
    console.print(f"  below {res.reduction_limit_V:.2f} V: {res.reduction_reaction}")
    console.print(f"  above {res.oxidation_limit_V:.2f} V: {res.oxidation_reaction}")
    t = Table(title="voltage profile", header_style="bold")
    for c in ("V vs Li/Li+", "Li uptake per f.u.", "phase equilibrium"):
        t.add_column(c, justify="right" if c != "phase equilibrium" else "left")
    for s in res.profile:
        t.add_row(f"{s.voltage_V:.3f}", f"{s.li_uptake_per_fu:+.3f}", " + ".join(s.phases))
    console.print(t)
    for w in res.warnings:
        warn(w)


def interface_cmd(
    electrolyte: str = _TARGET,
    cathode: str = typer.Argument("LiCoO2", help="Partner phase: LiCoO2, NCM811 or Li6PS5Cl"),
    model: str = _MODEL,
    configs: int = _CONFIGS,
    store: Path = _STORE,
    no_cache: bool = _NOCACHE,
    fmax: float = _FMAX,
    steps: int = _STEPS,
    as_json: bool = _JSON,
    quiet: bool = _QUIET,
) -> None:
    """Reaction energy of an electrolyte with a cathode (or Li6PS5Cl) over the mixing ratio."""
    from halidelab.stability.interface import interface_reaction

    tgt, info = _target(electrolyte)
    res = interface_reaction(
        tgt,
        cathode,
        model=model,
        n_configs=configs,
        store=_store(store, no_cache),
        fmax=fmax,
        steps=steps,
        progress=_progress(quiet or as_json),
    )
    res = with_ordering(res, info)
    if as_json:
        print_json(res.to_dict())
        return
    dv = "-" if res.volume_change_percent is None else f"{res.volume_change_percent:+.1f}%"
    if res.min_reaction_energy_eV_atom > -1e-6:
        console.print(
            f"[bold]{res.electrolyte} | {res.cathode}[/bold]: no reaction at any mixing ratio"
        )
    else:
        console.print(
            f"[bold]{res.electrolyte} | {res.cathode}[/bold]: most negative reaction "
            f"{1000 * res.min_reaction_energy_eV_atom:.0f} meV/atom at x(cathode) = "
            f"{res.x_cathode_at_min:.3f}; volume change {dv}"
        )
        console.print(f"  {res.reaction}")
    t = Table(title="reaction energy over the mixing ratio", header_style="bold")
    for c in ("x cathode", "E_rxn (meV/atom)", "reaction"):
        t.add_column(c, justify="right" if c != "reaction" else "left")
    for p in res.curve:
        t.add_row(f"{p.x_cathode:.3f}", f"{1000 * p.reaction_energy_eV_atom:.0f}", p.reaction)
    console.print(t)
    if res.competing_phases:
        console.print(
            f"competing phases ({res.provenance.model}): {', '.join(res.competing_phases)}"
        )
    for w in res.warnings:
        warn(w)


def literature_cmd(
    family: str = typer.Option(
        None, "--family", help="halide, sulfide, oxide, nitride, hydride, other"
    ),
    element: str = typer.Option(
        None, "--element", help="Only compositions containing this element"
    ),
    sort: str = typer.Option(
        "sigma", "--sort", help="sigma, ea, temperature, composition, space_group"
    ),
    ascending: bool = typer.Option(
        None, "--ascending/--descending", help="Sort order (default: sigma high first)"
    ),
    limit: int = typer.Option(None, "--limit", help="Show at most this many rows"),
    add: list[Path] = typer.Option(
        [], "--add", help="Your own CSV (composition, sigma_S_cm, ...); repeatable"
    ),
    as_json: bool = _JSON,
) -> None:
    """Known electrolytes with their conductivity and source (shipped table + your CSVs)."""
    import math

    from halidelab.literature import load_literature, query

    table = query(
        load_literature(add),
        family=family,
        element=element,
        sort=sort,
        ascending=ascending,
        limit=limit,
    )
    if as_json:
        rows = table.to_dict(orient="records")
        for r in rows:
            r["ea_eV"] = (
                None if isinstance(r["ea_eV"], float) and math.isnan(r["ea_eV"]) else r["ea_eV"]
            )
        print_json(rows)
        return
    t = Table(title=f"literature ({len(table)} entries)", header_style="bold")
    for c in (
        "composition",
        "space group",
        "sigma (S/cm)",
        "T (C)",
        "Ea (eV)",
        "DOI / reference",
        "source",
    ):
        t.add_column(c, justify="right" if c in ("sigma (S/cm)", "T (C)", "Ea (eV)") else "left")
    for _, r in table.iterrows():
        sig = ("<" if r["censored"] else "") + f"{r['sigma_S_cm']:.3g}"
        ea = "-" if math.isnan(r["ea_eV"]) else f"{r['ea_eV']:.3f}"
        t.add_row(
            r["name"] or r["composition"],
            r["space_group"] or "-",
            sig,
            f"{r['temperature_C']:g}",
            ea,
            r["doi"] or r["reference"] or "-",
            r["source"],
        )
    console.print(t)


def register(app: typer.Typer) -> None:
    """Add the stability commands to the main app."""
    app.command("stability")(stability_cmd)
    app.command("window")(window_cmd)
    app.command("interface")(interface_cmd)
    app.command("literature")(literature_cmd)
