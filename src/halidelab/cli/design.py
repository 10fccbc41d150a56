"""``halidelab design`` and ``halidelab structure``: compositions and structure models."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from halidelab.cli._common import OutputGuard, check_number, console, print_json, warn
from halidelab.errors import CompositionError


def _parse_oxi(items: list[str] | None) -> dict[str, int] | None:
    if not items:
        return None
    out = {}
    for item in items:
        el, sep, q = item.partition("=")
        try:
            out[el.strip()] = int(q.replace("+", ""))
        except ValueError:
            raise CompositionError(f"cannot read --oxi {item!r}: write it like Zr=4") from None
        if not sep:
            raise CompositionError(f"cannot read --oxi {item!r}: write it like Zr=4")
    return out


def _design_from_options(parent, dopant, site, x, dopants, sub, oxi):
    from halidelab.composition import parse_substitution
    from halidelab.designer import design

    subs = [parse_substitution(s) for s in sub] if sub else None
    if dopant is not None and x is None:
        raise CompositionError(f"no content given for {dopant}: add --x 0.2 (or a list/range)")
    if dopant is None and x is not None and x.strip() not in ("", "0"):
        raise CompositionError("--x given without --dopant: say which dopant, e.g. --dopant Nb")
    return design(
        parent,
        dopant=dopant,
        site=site,
        x=x,
        dopants=dopants,
        substitutions=subs,
        oxidation_states=_parse_oxi(oxi),
    )


def _fmt(v: float, nd: int = 3) -> str:
    return f"{v:.{nd}f}".rstrip("0").rstrip(".") if abs(v) > 1e-12 else "0"


def design_cmd(
    parent: str = typer.Argument(..., help="Parent formula, e.g. Li2ZrCl6"),
    dopant: str = typer.Option(
        None, "--dopant", help="Dopant, optionally with valence: Nb or Nb5+"
    ),
    site: str = typer.Option(None, "--site", help="Host element whose sites the dopant takes"),
    x: str = typer.Option(
        None, "--x", help="Contents per formula unit: 0.2, 0,0.1,0.2 or 0.1..0.5:0.1"
    ),
    dopants: str = typer.Option(
        None, "--dopants", help="Dopant mix on --site: Y:0.16,Er:0.16,Zr:0.25"
    ),
    sub: list[str] = typer.Option(None, "--sub", help="Substitution DOPANT[q]@SITE:X (repeatable)"),
    oxi: list[str] = typer.Option(None, "--oxi", help="Parent valence override, e.g. Zr=4"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables"),
) -> None:
    """Charge-balanced compositions, Li vacancies and the fit rules for a substitution."""
    report = _design_from_options(parent, dopant, site, x, dopants, sub, oxi)
    if as_json:
        print_json(report.to_dict())
        return
    table = Table(
        title=f"{report.parent} designs (per formula unit; oct = octahedral sites)",
        header_style="bold",
    )
    width = max(len(e.composition.formula) for e in report.entries)
    for col in (
        "x",
        "formula",
        "Li",
        "Li vac",
        "Li int",
        "oct Li/M/vac",
        "t",
        "packing",
        "mismatch",
    ):
        table.add_column(
            col,
            justify="left" if col in ("formula", "packing") else "right",
            no_wrap=col in ("formula", "packing"),
            min_width=width if col == "formula" else None,
        )
    for e in report.entries:
        c, f = e.composition, e.fit
        n_oct = c.octahedral_sites_per_fu
        table.add_row(
            _fmt(c.x_total),
            c.formula,
            _fmt(c.li_per_fu),
            _fmt(c.li_vacancies_per_fu),
            _fmt(c.li_interstitials_per_fu),
            "/".join(
                _fmt(v * n_oct, 2)
                for v in (c.li_site_fraction, c.m_site_fraction, c.vacancy_site_fraction)
            ),
            f"{f.t:.3f}",
            f"{f.packing.packing} {f.packing.family.split()[-1]}",
            " ".join(f"{d.mismatch_percent:+.1f}%" for d in f.dopants) or "-",
        )
    console.print(table)
    for note in report.notes:
        console.print(f"[cyan]note[/]: {note}")
    if report.warnings:
        for w in report.warnings:
            warn(w)
    else:
        console.print(
            "[green]no warnings[/]: one packing for the whole series, mismatch within limits"
        )


def structure_cmd(
    parent: str = typer.Argument(..., help="Parent formula, e.g. Li2ZrCl6"),
    dopant: str = typer.Option(
        None, "--dopant", help="Dopant, optionally with valence: Nb or Nb5+"
    ),
    site: str = typer.Option(None, "--site", help="Host site (default: the framework cation)"),
    x: str = typer.Option("0", "--x", help="Content(s) per formula unit: 0.2 or 0,0.2"),
    dopants: str = typer.Option(None, "--dopants", help="Dopant mix on --site: Y:0.16,Zr:0.25"),
    sub: list[str] = typer.Option(None, "--sub", help="Substitution DOPANT[q]@SITE:X (repeatable)"),
    polymorph: str = typer.Option(
        None, "--polymorph", help="Space group of the parent phase, e.g. C2/m"
    ),
    framework: Path = typer.Option(
        None, "--framework", help="Your own CIF/POSCAR as the framework"
    ),
    supercell: str = typer.Option("auto", "--supercell", help="auto, a number of cells, or 1x1x5"),
    max_atoms: int = typer.Option(
        200,
        "--max-atoms",
        help="Largest model: --supercell auto picks within it; a larger "
        "model (an explicit --supercell) is refused",
    ),
    configs: int = typer.Option(5, "--configs", help="Configurations (orderings) per composition"),
    state: str = typer.Option(
        "annealed",
        "--state",
        help="annealed (lowest Ewald energies), ball-milled (cation-disordered "
        "Monte Carlo samples over all octahedral holes) or quenched (Monte Carlo samples of "
        "the framework's own sites at 800 K)",
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed"),
    formats: str = typer.Option("cif,poscar,extxyz", "--formats", help="cif, poscar, extxyz"),
    out: Path = typer.Option(Path("out"), "-o", "--out", help="Output folder"),
    xrd: bool = typer.Option(True, "--xrd/--no-xrd", help="Also write simulated Cu K-alpha XRD"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables"),
) -> None:
    """Ordered, charge-balanced supercell models (Ewald-ranked, or disordered samples for
    --state ball-milled or quenched), XRD and a manifest."""
    from halidelab.structures.models import build_models, write_models

    check_number(seed, "--seed", minimum=0)
    check_number(max_atoms, "--max-atoms", minimum=1)
    check_number(configs, "--configs", minimum=1)
    if framework is not None and polymorph is not None:
        raise CompositionError(
            f"--polymorph {polymorph} and --framework both choose the parent "
            "phase (the framework file fixes it): give one of them"
        )
    guard = OutputGuard([framework])
    if framework is not None:
        from halidelab.cli._structures import load_structure

        load_structure(framework, order=False)  # overlaps, vacuum (partial occupancies are fine)
    guard.folder(out, "-o/--out", create=False)  # created when the models are written
    report = _design_from_options(
        parent, dopant, _default_site(parent, dopant, site), x, dopants, sub, None
    )
    sets = []
    for entry in report.entries:
        sets.append(
            build_models(
                entry.composition,
                polymorph=polymorph,
                supercell=supercell,
                max_atoms=max_atoms,
                n_configs=configs,
                seed=seed,
                framework=framework,
                state=state,
            )
        )
    manifest = write_models(
        sets,
        out,
        formats=[f.strip() for f in formats.split(",") if f.strip()],
        xrd=xrd,
        protect=guard.inputs,
    )
    if as_json:
        print_json(manifest)
        return
    table = Table(title=f"structure models written to {out}/", header_style="bold")
    for col in (
        "x req.",
        "x model",
        "formula (model)",
        "supercell",
        "atoms",
        "config",
        "E_Ewald-E_min (meV/atom)",
        "a (A)",
        "c (A)",
        "file",
    ):
        table.add_column(col)
    for s in sets:
        for i, cfg in enumerate(s.configurations):
            table.add_row(
                _fmt(s.x_requested_total, 4),
                _fmt(s.x_modelled_total, 4),
                s.formula_modelled,
                "x".join(str(v) for v in s.supercell_diag)
                if s.supercell_diag
                else str(s.supercell_matrix),
                str(s.n_atoms),
                str(i),
                f"{cfg.relative_energy_meV_atom:.2f}",
                f"{s.lattice_estimate['a_A']:.3f}",
                f"{s.lattice_estimate['c_A']:.3f}",
                manifest["models"][s.formula_modelled]["files"][i][0],
            )
    console.print(table)
    for w in dict.fromkeys(w for s in sets for w in s.warnings):
        warn(w)
    console.print(f"manifest: {out / 'manifest.json'}")


def _default_site(parent: str, dopant: str | None, site: str | None) -> str | None:
    """With one framework cation, ``--site`` may be left out."""
    if site is not None or dopant is None:
        return site
    from halidelab.composition import ANION_VALENCE, parse_formula

    cations = [el for el in parse_formula(parent) if el != "Li" and el not in ANION_VALENCE]
    if len(cations) == 1:
        return cations[0]
    raise CompositionError(f"{parent} has several framework cations: say which with --site")


def register(app: typer.Typer) -> None:
    """Add ``design`` and ``structure`` to the CLI."""
    app.command("design")(design_cmd)
    app.command("structure")(structure_cmd)
