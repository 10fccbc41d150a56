"""``halidelab eis``: impedance spectra to conductivity, Arrhenius and volcano plots."""

from __future__ import annotations

import glob
import math
import warnings
from pathlib import Path

import typer
from rich.table import Table

from halidelab.cli._common import OutputGuard, console, console_err, print_json
from halidelab.errors import DataFormatError, FitError
from halidelab.outputs import atomic_path

eis_app = typer.Typer(help="Impedance spectra: fit, conductivity, Arrhenius, volcano.",
                      no_args_is_help=True)


def _expand(patterns: list[str]) -> list[Path]:
    out: list[Path] = []
    for pat in patterns:
        hits = sorted(glob.glob(pat)) if any(ch in pat for ch in "*?[") else [pat]
        if not hits:
            raise DataFormatError(f"no files match {pat!r}")
        out += [Path(h) for h in hits]
    return out


def _read_all(paths: list[Path], instrument: str | None):
    from halidelab.lab.eis_io import read_spectrum

    spectra = []
    for p in paths:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            spectra.append(read_spectrum(p, instrument))
        for w in caught:
            console_err.print(f"warning: {w.message}")
    return spectra


def _fmt_sigma(c) -> str:
    return f"{c.sigma_S_cm * 1e3:.4g} ± {c.sigma_err_S_cm * 1e3:.2g}"


def _fit_rows(fits) -> Table:
    table = Table(title="impedance fits (sigma uses the total resistance unless --resistance bulk)",
                  header_style="bold")
    for col in ("file", "T (°C)", "circuit", "R_bulk (Ω)", "R_total (Ω)", "σ (mS/cm)", "rms %",
                "Lin-KK", "flags"):
        table.add_column(col, justify="left" if col in ("file", "circuit", "flags") else "right")
    for fit in fits:
        t = fit.temperature_K
        kk = "-" if fit.kk is None else ("ok" if fit.kk.valid else "FAIL") + \
            f" {100 * fit.kk.residual_rms:.1f}%"
        table.add_row(
            Path(fit.spectrum.source).name, "-" if t is None else f"{t - 273.15:.1f}",
            fit.circuit, f"{fit.r_bulk_ohm:.4g} ± {fit.r_bulk_err_ohm:.2g}",
            f"{fit.r_total_ohm:.4g} ± {fit.r_total_err_ohm:.2g}",
            _fmt_sigma(fit.conductivity) if fit.conductivity else "-",
            f"{100 * fit.rms_relative:.2f}", kk, ", ".join(fit.flags) or "-")
    return table


def fit_cmd(
    files: list[str] = typer.Argument(..., help="Spectrum files or quoted glob patterns"),
    thickness: str = typer.Option(None, "--thickness", help="Pellet thickness, e.g. 0.85mm or 0.85+-0.01mm"),
    diameter: str = typer.Option(None, "--diameter", help="Pellet diameter, e.g. 10mm"),
    circuit: str = typer.Option("auto", "--circuit", help="'auto' or impedance.py notation, e.g. 'R0-p(R1,CPE1)-CPE2'"),
    resistance: str = typer.Option("total", "--resistance", help="Resistance for sigma: total or bulk"),
    instrument: str = typer.Option(None, "--instrument", help="Force a reader (gamry, biologic, zplot, ...)"),
    plot: Path = typer.Option(None, "--plot", help="Nyquist figure (PNG/SVG); several files: one panel"),
    bode: Path = typer.Option(None, "--bode", help="Bode figure of the first file (PNG/SVG)"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table"),
) -> None:
    """Fit spectra with automatic guesses; conductivity with uncertainty."""
    from halidelab.lab.eis import fit_spectra, plot_bode, plot_nyquist

    paths = _expand(files)
    guard = OutputGuard(paths)
    for fig, opt in ((plot, "--plot"), (bode, "--bode")):
        if fig is not None:
            guard.file(fig, opt, figure=True)
    spectra = _read_all(paths, instrument)
    fits = fit_spectra(spectra, circuit, thickness=thickness, diameter=diameter,
                       resistance=resistance, kk=True)
    if plot is not None:
        with atomic_path(plot) as tmp:
            plot_nyquist(fits, path=tmp)
    if bode is not None:
        with atomic_path(bode) as tmp:
            plot_bode(fits[0], path=tmp)
    if as_json:
        print_json([_fit_summary(f) for f in fits])
        return
    console.print(_fit_rows(fits))


def _fit_summary(fit) -> dict:
    d = fit.to_dict()
    d.pop("spectrum")
    d["source"] = fit.spectrum.source
    d["temperature_K"] = fit.temperature_K
    return d


def _series(files: list[str], thickness: str, diameter: str, circuit: str, resistance: str,
            instrument: str | None, model: str):
    from halidelab.arrhenius import fit_arrhenius
    from halidelab.lab.eis import fit_spectra

    if thickness is None or diameter is None:
        raise DataFormatError("an Arrhenius series needs --thickness and --diameter")
    paths = _expand(files)
    spectra = _read_all(paths, instrument)
    missing = [Path(s.source).name for s in spectra if s.temperature_K is None]
    if missing:
        raise DataFormatError(f"no temperature for {', '.join(missing)}: put it in the file "
                              "name (pellet_25C.mpt, _298K) or the file's metadata")
    fits = fit_spectra(spectra, circuit, thickness=thickness, diameter=diameter,
                       resistance=resistance)
    temps = [f.temperature_K for f in fits]
    if len(set(temps)) < 2:
        raise FitError("all spectra are at one temperature: an Arrhenius fit needs several")
    arr = fit_arrhenius(temps, [f.conductivity.sigma_S_cm for f in fits],
                        [f.conductivity.sigma_err_S_cm for f in fits], quantity="sigma",
                        model=model, method="eis-arrhenius")
    return fits, arr


def arrhenius_cmd(
    files: list[str] = typer.Argument(..., help="Spectra at several temperatures (quoted globs ok)"),
    thickness: str = typer.Option(None, "--thickness", help="Pellet thickness, e.g. 0.85mm"),
    diameter: str = typer.Option(None, "--diameter", help="Pellet diameter, e.g. 10mm"),
    circuit: str = typer.Option("auto", "--circuit", help="'auto' or impedance.py notation"),
    resistance: str = typer.Option("total", "--resistance", help="total or bulk"),
    model: str = typer.Option("sigma_T", "--model", help="sigma_T: ln(sigma T) vs 1/T; plain: ln sigma"),
    instrument: str = typer.Option(None, "--instrument", help="Force a reader"),
    plot: Path = typer.Option(None, "--plot", help="Arrhenius figure (PNG/SVG)"),
    nyquist: Path = typer.Option(None, "--nyquist", help="Nyquist figure of all spectra"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Conductivity vs temperature: activation energy and sigma at 25 C."""
    from halidelab.arrhenius import plot_arrhenius
    from halidelab.lab.eis import plot_nyquist

    guard = OutputGuard(_expand(files))
    for fig, opt in ((plot, "--plot"), (nyquist, "--nyquist")):
        if fig is not None:
            guard.file(fig, opt, figure=True)
    fits, arr = _series(files, thickness, diameter, circuit, resistance, instrument, model)
    if plot is not None:
        with atomic_path(plot) as tmp:
            plot_arrhenius(arr, path=tmp)
    if nyquist is not None:
        with atomic_path(nyquist) as tmp:
            plot_nyquist(fits, path=tmp, zoom=1.6)
    if as_json:
        print_json({"arrhenius": arr.to_dict(), "fits": [_fit_summary(f) for f in fits]})
        return
    console.print(_fit_rows(fits))
    console.print(f"Ea = {arr.ea_eV:.4f} ± {arr.ea_err_eV:.4f} eV ({arr.model} model, "
                  f"{len(arr.temperature_K)} temperatures, chi2_red = {arr.chi2_red:.2g})")
    console.print(f"σ(25 °C) = {arr.value_25C * 1e3:.4g} mS/cm (1σ interval "
                  f"{arr.value_25C_low * 1e3:.4g}-{arr.value_25C_high * 1e3:.4g})")
    for w in arr.warnings:
        console_err.print(f"warning: {w}")


def volcano_cmd(
    series: list[str] = typer.Argument(..., help="X=PATTERN per composition, e.g. '0.2=LZNC_*C.mpt'"),
    thickness: str = typer.Option(None, "--thickness", help="Pellet thickness (all pellets)"),
    diameter: str = typer.Option(None, "--diameter", help="Pellet diameter (all pellets)"),
    circuit: str = typer.Option("auto", "--circuit", help="'auto' or impedance.py notation"),
    xlabel: str = typer.Option("x", "--xlabel", help="Label of the composition axis"),
    plot: Path = typer.Option(None, "--plot", help="Volcano figure (PNG/SVG)"),
    arrhenius_plot: Path = typer.Option(None, "--arrhenius-plot", help="All series in one Arrhenius figure"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Sigma(25 C) and Ea against composition across a series (two y axes)."""
    from halidelab.arrhenius import plot_arrhenius, plot_volcano

    guard = OutputGuard(_expand([item.partition("=")[2] for item in series if "=" in item]))
    for fig, opt in ((plot, "--plot"), (arrhenius_plot, "--arrhenius-plot")):
        if fig is not None:
            guard.file(fig, opt, figure=True)
    rows = []
    for item in series:
        x, sep, pattern = item.partition("=")
        try:
            xv = float(x)
        except ValueError:
            xv = math.nan
        if not sep or not pattern or math.isnan(xv):
            raise DataFormatError(f"cannot read {item!r}: write X=PATTERN, e.g. '0.2=LZNC_*C.mpt'")
        _, arr = _series([pattern], thickness, diameter, circuit, "total", None, "sigma_T")
        rows.append((xv, arr))
    rows.sort(key=lambda r: r[0])
    sig_err = [(a.value_25C_high - a.value_25C_low) / 2 for _, a in rows]
    if plot is not None:
        with atomic_path(plot) as tmp:
            plot_volcano([x for x, _ in rows], [a.value_25C for _, a in rows],
                         [a.ea_eV for _, a in rows], sig_err, [a.ea_err_eV for _, a in rows],
                         xlabel=xlabel, path=tmp)
    if arrhenius_plot is not None:
        with atomic_path(arrhenius_plot) as tmp:
            plot_arrhenius([a for _, a in rows], labels=[f"{xlabel} = {x:g}" for x, _ in rows],
                           path=tmp)
    if as_json:
        print_json([{"x": x, **a.to_dict()} for x, a in rows])
        return
    table = Table(title="composition series (σ at 25 °C from each Arrhenius fit)",
                  header_style="bold")
    for col in ("x", "σ25 (mS/cm)", "Ea (eV)", "T range (°C)", "warnings"):
        table.add_column(col, justify="right" if col != "warnings" else "left")
    for (x, a), se in zip(rows, sig_err, strict=True):
        table.add_row(f"{x:g}", f"{a.value_25C * 1e3:.4g} ± {se * 1e3:.2g}",
                      f"{a.ea_eV:.4f} ± {a.ea_err_eV:.4f}",
                      f"{a.t_min_K - 273.15:.0f}-{a.t_max_K - 273.15:.0f}",
                      "; ".join(a.warnings) or "-")
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the ``eis`` command group."""
    eis_app.command("fit")(fit_cmd)
    eis_app.command("arrhenius")(arrhenius_cmd)
    eis_app.command("volcano")(volcano_cmd)
    app.add_typer(eis_app, name="eis")
