"""``halidelab compare``: compositions side by side from a results store."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from halidelab.cli._common import console, note, print_json, warn
from halidelab.errors import DataFormatError


def register(app: typer.Typer) -> None:
    """Add the ``compare`` command."""

    @app.command("compare")
    def compare_cmd(
        formulas: list[str] = typer.Argument(
            ..., help="Compositions, e.g. Li2ZrCl6 Li1.8Zr0.8Nb0.2Cl6."
        ),
        db: Path = typer.Option(
            Path("chen2025/results.sqlite"),
            "--db",
            help="Results store written by 'reproduce' or 'screen'.",
        ),
        literature: list[Path] = typer.Option(
            [], "--literature", help="Your measured values (CSV as 'halidelab literature')."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
        calibration: list[Path] = typer.Option(
            [],
            "--calibration",
            help="Calibration file of 'halidelab validate' (REPORT/calibration/*.json; "
            "repeatable): the "
            "matching tier/model/target is also shown calibrated, with its interval.",
        ),
        reference: Path = typer.Option(
            None,
            "--reference",
            help="Reference table the calibrations were fitted on (default: the shipped set).",
        ),
    ) -> None:
        """Side by side, per synthesis state: a, c, BVSE and NEB barriers, KMC sigma(25 C) and Ea,
        MD D, sigma(300 K) and Ea, prior, E_hull, measured; ensemble means +- standard errors
        over the stored orderings; with --calibration, raw and calibrated with an interval."""
        from halidelab.compare import (
            QUANTITIES,
            calibration_lines,
            calibration_rows,
            compare,
            format_value,
        )
        from halidelab.screening.store import Store
        from halidelab.validation.apply import load_calibrations

        cals = load_calibrations(calibration, reference)
        if "://" not in str(db) and not db.is_file():
            raise DataFormatError(
                f"no results store at {db}: run 'halidelab reproduce chen2025 -o chen2025' "
                "(or 'halidelab screen ... --db FILE') first, or pass --db"
            )
        recs = compare(Store(db, read_only=True), formulas, literature, calibrations=cals)
        if as_json:
            print_json(recs)
            return
        t = Table(title=f"halidelab compare ({db})")
        t.add_column("quantity")
        for r in recs:
            t.add_column(
                r["formula"]
                + (f" ({r['state']})" if r.get("state") else "")
                + ("" if r["found"] else " (not in store)")
            )
        extra = calibration_rows(recs)
        for key, label, unit in QUANTITIES:
            t.add_row(f"{label} ({unit})" if unit else label, *[format_value(key, r) for r in recs])
            for row_label, cells in extra.get(key, []):
                t.add_row(row_label, *cells)
        console.print(t)
        sources = []  # one line per formula, not one per state column
        for r in recs:
            for w in r["md_warnings"]:
                warn(f"{r['formula']}: {w}")
            if r.get("measured_source"):
                sources.append(f"{r['formula']}: measured from {r['measured_source']}")
        for line in dict.fromkeys(sources):
            console.print(line)
        for r in recs:
            for kind, line in calibration_lines(r):
                if kind == "note":
                    note(line)
                else:
                    console.print(line, soft_wrap=True, markup=False)
