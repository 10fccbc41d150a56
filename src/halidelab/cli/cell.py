"""``halidelab dcpol | lsv | cycling``: cell electrochemistry time series."""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import typer
from rich.table import Table

from halidelab.cli._common import OutputGuard, console, console_err, print_json
from halidelab.errors import DataFormatError, UnitError
from halidelab.units import length_cm, mass_g, specific_capacity_mAh_g

_PM = re.compile(r"^\s*([-+]?[\d.eE+-]+?)\s*(?:\+-|\+/-|±)\s*([\d.eE+-]+)\s*([^\d\s].*)$")


def _length_err(text: str, what: str) -> tuple[float, float]:
    """'0.85mm' or '0.85+-0.01mm' -> (cm, err_cm)."""
    m = _PM.match(text)
    if m:
        value, err, unit = m.groups()
        return length_cm(f"{value}{unit}"), length_cm(f"{err}{unit}") if float(err) > 0 else 0.0
    try:
        return length_cm(text), 0.0
    except UnitError as exc:
        raise UnitError(f"--{what}: {exc}") from exc


def _area(diameter: str | None, area: str | None) -> tuple[float, float] | None:
    """Electrode area (cm2, err) from --diameter or --area ('0.785cm2', '78.5mm2').

    Both may be given only when they agree (within 2%, or within the diameter's error).
    """
    if area and diameter:
        a_area = _area(None, area)
        a_diam = _area(diameter, None)
        assert a_area is not None and a_diam is not None
        tol = max(0.02 * a_diam[0], 2 * a_diam[1])
        if abs(a_area[0] - a_diam[0]) > tol:
            raise UnitError(
                f"--area {area} ({a_area[0]:.4g} cm2) contradicts --diameter "
                f"{diameter} (pi d^2/4 = {a_diam[0]:.4g} cm2): give one of them"
            )
        return a_diam
    if area:
        m = re.match(r"^\s*([\d.eE+-]+)\s*(cm2|mm2|cm\^2|mm\^2)\s*$", area)
        if not m:
            raise UnitError(f"cannot read area {area!r}: write e.g. '0.785cm2' or '78.5mm2'")
        v = float(m.group(1)) * (0.01 if m.group(2).startswith("mm") else 1.0)
        if v <= 0:
            raise UnitError("area must be positive")
        return v, 0.0
    if diameter:
        d, d_err = _length_err(diameter, "diameter")
        a = math.pi * d**2 / 4
        return a, a * 2 * d_err / d
    return None


def _warn_lines(caught: list[warnings.WarningMessage]) -> None:
    for w in caught:
        console_err.print(f"warning: {w.message}")


def dcpol_cmd(
    files: list[Path] = typer.Argument(
        ..., help="One constant-voltage run per file (CSV/TXT/.mpt/.mpr)"
    ),
    thickness: str = typer.Option(
        ..., "--thickness", help="Pellet thickness, e.g. 0.85mm or 0.85+-0.01mm"
    ),
    diameter: str = typer.Option(None, "--diameter", help="Electrode diameter, e.g. 10mm"),
    area: str = typer.Option(
        None, "--area", help="Electrode area instead of --diameter, e.g. 0.785cm2"
    ),
    voltages: str = typer.Option(
        None, "--voltages", help="Applied voltages in V, comma separated, in file order"
    ),
    ionic_sigma: float = typer.Option(
        None, "--ionic-sigma", help="Ionic conductivity in S/cm (from EIS) for t_ion"
    ),
    tail: float = typer.Option(
        0.2, "--tail", help="Fraction of each run (at its end) averaged as steady state"
    ),
    intercept: bool = typer.Option(
        None,
        "--intercept/--no-intercept",
        help="Fit I = V/R + I0 (default with >= 3 voltages) or through 0",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table"),
) -> None:
    """Electronic conductivity from DC polarisation (steady currents at several voltages)."""
    from halidelab.lab.polarization import electronic_conductivity, read_polarization

    thick, thick_err = _length_err(thickness, "thickness")
    geom = _area(diameter, area)
    if geom is None:
        raise DataFormatError("give the electrode --diameter (e.g. 10mm) or --area")
    volts: list[float | None] = [None] * len(files)
    if voltages:
        try:
            volts = [float(v) for v in voltages.split(",")]
        except ValueError:
            raise UnitError(
                f"--voltages {voltages!r}: write numbers in V, e.g. 0.1,0.2,0.3"
            ) from None
        if len(volts) != len(files):
            raise DataFormatError(f"--voltages has {len(volts)} values for {len(files)} files")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        points = [
            read_polarization(f, v, tail_fraction=tail) for f, v in zip(files, volts, strict=True)
        ]
    _warn_lines(caught)
    res = electronic_conductivity(
        points,
        thickness_cm=thick,
        area_cm2=geom[0],
        thickness_err_cm=thick_err,
        area_err_cm2=geom[1],
        fit_intercept=intercept,
        ionic_sigma_S_cm=ionic_sigma,
    )
    if as_json:
        print_json(res.to_dict())
        return
    table = Table(
        title=f"DC polarisation: steady state = mean of the last {tail:.0%} of each run",
        header_style="bold",
    )
    for col in ("file", "V (V)", "I_ss (A)", "drift", "steady"):
        table.add_column(col, justify="left" if col == "file" else "right")
    for p in res.points:
        table.add_row(
            p.source,
            f"{p.voltage_V:.4g}",
            f"{p.current_A:.4g} ± {p.current_err_A:.2g}",
            f"{100 * p.relative_drift:+.2f}%",
            "yes" if p.steady else "NO",
        )
    console.print(table)
    fit = "I = V/R + I0" if res.fit_intercept else "I = V/R (through origin)"
    console.print(
        f"fit {fit}: R_e = {res.resistance_ohm:.4g} ± {res.resistance_err_ohm:.2g} Ω"
        + (
            f", I0 = {res.intercept_A:.3g} ± {res.intercept_err_A:.2g} A"
            if res.fit_intercept
            else ""
        )
    )
    console.print(f"L = {res.thickness_cm * 10:.4g} mm, A = {res.area_cm2:.4g} cm2")
    console.print(f"σ_e = {res.sigma_e_S_cm:.4g} ± {res.sigma_e_err_S_cm:.2g} S/cm")
    if res.t_ion is not None:
        console.print(
            f"σ_i/σ_e = {res.ratio_ionic_electronic:.3g}; t_ion = {res.t_ion:.8f} "
            f"(± {res.t_ion_err:.1g})"
        )


def _threshold(text: str) -> tuple[float, str]:
    """'0.01mA/cm2' -> (0.01, 'mA/cm2'); '1uA' -> (0.001, 'mA')."""
    m = re.match(r"^\s*([\d.eE+-]+)\s*([a-zA-Zµ]+)(\s*/\s*cm\^?2)?\s*$", text)
    scale = {"A": 1e3, "mA": 1.0, "uA": 1e-3, "µA": 1e-3, "nA": 1e-6}
    if not m or m.group(2) not in scale:
        raise UnitError(f"cannot read threshold {text!r}: write e.g. 0.01mA/cm2 or 1uA")
    value = float(m.group(1)) * scale[m.group(2)]
    return value, "mA/cm2" if m.group(3) else "mA"


def lsv_cmd(
    file: Path = typer.Argument(
        ..., help="Anodic LSV (CSV/TXT/.mpt/.mpr) with potential and current"
    ),
    threshold: str = typer.Option(
        "0.01mA/cm2",
        "--threshold",
        help="Onset threshold: a current density (needs --area/--diameter) or a current",
    ),
    diameter: str = typer.Option(None, "--diameter", help="Electrode diameter, e.g. 10mm"),
    area: str = typer.Option(None, "--area", help="Electrode area, e.g. 0.785cm2"),
    baseline_window: str = typer.Option(
        None, "--baseline-window", help="Baseline tangent window in V, e.g. 3.0,3.8"
    ),
    rise_window: str = typer.Option(
        None, "--rise-window", help="Rising tangent window in V, e.g. 4.05,4.1"
    ),
    subtract: bool = typer.Option(
        False, "--subtract-baseline", help="Apply the threshold to the baseline-subtracted current"
    ),
    plot: Path = typer.Option(None, "--plot", help="Figure with tangents and threshold (PNG/SVG)"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text"),
) -> None:
    """Oxidation onset potential by tangent intersection and by a threshold."""
    from halidelab.lab.lsv import oxidation_onset, plot_lsv, read_lsv

    if plot:  # format, not over the input, folder exists (halidelab.outputs)
        OutputGuard([file]).file(plot, "--plot", figure=True)
    value, unit = _threshold(threshold)
    geom = _area(diameter, area)
    if unit == "mA/cm2" and geom is None:
        raise DataFormatError(
            f"threshold {threshold!r} is a current density: give --area or "
            "--diameter, or a current threshold such as 1uA"
        )
    a = geom[0] if (geom and unit == "mA/cm2") else None

    def window(text: str | None, opt: str) -> tuple[float, float] | None:
        if text is None:
            return None
        try:
            lo, hi = (float(x) for x in text.split(","))
        except ValueError:
            raise UnitError(f"{opt} {text!r}: write two potentials in V, e.g. 3.0,3.8") from None
        return lo, hi

    e, i, _ = read_lsv(file)
    res = oxidation_onset(
        e,
        i,
        threshold=value,
        area_cm2=a,
        current_unit=unit,
        baseline_window=window(baseline_window, "--baseline-window"),
        rise_window=window(rise_window, "--rise-window"),
        subtract_baseline=subtract,
        source=file.name,
    )
    if plot:
        plot_lsv(e, i, res, plot, title=file.name)
    if as_json:
        print_json(res.to_dict())
        return
    console.print(f"{file.name}: sweep {res.scan_start_V:.3f} -> {res.scan_end_V:.3f} V")
    console.print(
        f"onset (tangent intersection): {res.onset_tangent_V:.3f} V  "
        f"[baseline {res.baseline_window_V[0]:.3f}-{res.baseline_window_V[1]:.3f} V, "
        f"rise {res.rise_window_V[0]:.3f}-{res.rise_window_V[1]:.3f} V]"
    )
    console.print(
        f"onset (threshold {res.threshold:g} {res.current_unit}"
        f"{', baseline subtracted' if res.subtract_baseline else ''}): "
        f"{res.onset_threshold_V:.3f} V"
    )


def cycling_cmd(
    file: Path = typer.Argument(
        ..., help="Cycler export (Arbin, Maccor, BioLogic, Novonix, CSV with units)"
    ),
    active_mass: str = typer.Option(
        None, "--active-mass", help="Cathode active material mass, e.g. 8.2mg"
    ),
    c_rate_capacity: str = typer.Option(
        None, "--c-rate-capacity", help="Capacity defining 1C, e.g. 140mAh/g"
    ),
    convention: str = typer.Option(
        "cathode", "--convention", help="cathode (charge first, CE = discharge/charge) or anode"
    ),
    instrument: str = typer.Option(
        None, "--instrument", help="Force a reader: arbin, maccor, biologic, novonix, table"
    ),
    retention_cycle: int = typer.Option(
        None, "--retention-cycle", help="Cycle for the retention (default: last)"
    ),
    reference_cycle: int = typer.Option(
        1, "--reference-cycle", help="Cycle whose capacity is 100%"
    ),
    curves: str = typer.Option(None, "--curves", help="Cycles for voltage curves, e.g. 1,2,50"),
    plot_dir: Path = typer.Option(
        None, "--plot-dir", help="Folder for voltage_curves.png and capacity_ce.png"
    ),
    show_cycles: bool = typer.Option(False, "--cycles", help="Print the per-cycle table"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables"),
) -> None:
    """Capacity, initial CE, CE per cycle, retention and rate table of a cycling run."""
    from halidelab.lab.cyclers import read_cycler
    from halidelab.lab.cycling import (
        analyse_cycling,
        plot_capacity_ce,
        plot_voltage_curves,
        voltage_curves,
    )

    if plot_dir:
        guard = OutputGuard([file])
        guard.folder(plot_dir, "--plot-dir", create=False)
        for name in ("voltage_curves.png", "capacity_ce.png"):
            guard.file_in(plot_dir, name, "--plot-dir")
    mass = mass_g(active_mass) if active_mass else None
    cap = specific_capacity_mAh_g(c_rate_capacity) if c_rate_capacity else None
    wanted_curves = None
    if curves:
        try:
            wanted_curves = [int(c) for c in curves.split(",") if c.strip()]
        except ValueError:
            raise DataFormatError(f"--curves {curves!r}: give cycle numbers, e.g. 1,2,50") from None
        if not wanted_curves or min(wanted_curves) < 1:
            raise DataFormatError(f"--curves {curves!r}: cycle numbers start at 1")
    run = read_cycler(file, instrument)
    res = analyse_cycling(
        run.data,
        active_mass_g=mass,
        c_rate_capacity_mAh_g=cap,
        convention=convention,
        retention_cycle=retention_cycle,
        retention_reference_cycle=reference_cycle,
        source=file.name,
    )
    if plot_dir:
        wanted = wanted_curves or sorted({1, min(2, res.n_cycles), res.n_cycles})
        guard.folder(plot_dir, "--plot-dir")
        plot_voltage_curves(
            voltage_curves(run.data, wanted, active_mass_g=mass, convention=convention),
            plot_dir / "voltage_curves.png",
            title=file.name,
        )
        plot_capacity_ce(res, plot_dir / "capacity_ce.png", title=file.name)
    if as_json:
        out = res.to_dict()
        out["reader"] = {"instrument": run.instrument, "notes": list(run.notes)}
        print_json(out)
        return
    per_g = mass is not None
    u = "mAh/g" if per_g else "mAh"
    console.print(f"{file.name}: read as {run.instrument}, {run.n_rows} rows")
    for n in run.notes + res.notes:
        console.print(f"  note: {n}")
    console.print(f"convention: {res.convention_text}")
    first = res.cycles[0]
    fc = first.charge_mAh_g if per_g else first.charge_Ah * 1e3
    fd = first.discharge_mAh_g if per_g else (first.discharge_Ah or float("nan")) * 1e3
    console.print(
        f"cycle 1: charge {fc:.4g} {u}, discharge {fd:.4g} {u}, initial CE "
        f"{res.initial_ce_pct:.2f}%"
    )
    if res.retention_pct is not None:
        console.print(
            f"retention at cycle {res.retention_cycle} vs cycle "
            f"{res.retention_reference_cycle}: {res.retention_pct:.1f}% "
            f"({res.n_cycles} complete cycles)"
        )
    if show_cycles:
        t = Table(title="cycles", header_style="bold")
        for col in ("cycle", f"charge ({u})", f"discharge ({u})", "CE (%)", "C-rate"):
            t.add_column(col, justify="right")
        for c in res.cycles:
            ch = c.charge_mAh_g if per_g else c.charge_Ah * 1e3
            dis = (
                c.discharge_mAh_g
                if per_g
                else (None if c.discharge_Ah is None else c.discharge_Ah * 1e3)
            )
            t.add_row(
                str(c.cycle),
                f"{ch:.4g}",
                "-" if dis is None else f"{dis:.4g}",
                "-" if c.ce_pct is None else f"{c.ce_pct:.2f}",
                "-" if c.c_rate_discharge is None else f"{c.c_rate_discharge:.2g}",
            )
        console.print(t)
    if res.rate_table:
        t = Table(title="rate capability", header_style="bold")
        for col in ("C-rate", "cycles", "capacity (mAh/g)", "last (mAh/g)", "CE (%)"):
            t.add_column(col, justify="right")
        for s in res.rate_table:
            t.add_row(
                f"{s.c_rate:g}C",
                f"{s.first_cycle}-{s.last_cycle}",
                f"{s.capacity_mAh_g:.4g} ± {s.capacity_std_mAh_g:.2g}",
                f"{s.last_capacity_mAh_g:.4g}",
                f"{s.ce_pct:.2f}",
            )
        console.print(t)
        if res.recovery_pct is not None:
            console.print(
                f"recovery back at {res.rate_table[0].c_rate:g}C: {res.recovery_pct:.1f}%"
            )


def register(app: typer.Typer) -> None:
    """Add ``dcpol``, ``lsv`` and ``cycling`` to the root app."""
    app.command("dcpol")(dcpol_cmd)
    app.command("lsv")(lsv_cmd)
    app.command("cycling")(cycling_cmd)
