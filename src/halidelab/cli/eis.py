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

eis_app = typer.Typer(
    help="Impedance spectra: fit, conductivity, Arrhenius, volcano.", no_args_is_help=True
)


def _expand(patterns: list[str]) -> list[Path]:
    out: list[Path] = []
    for pat in patterns:
        hits = sorted(glob.glob(pat)) if any(ch in pat for ch in "*?[") else [pat]
        if not hits:
            raise DataFormatError(f"no files match {pat!r}")
        out += [Path(h) for h in hits]
    return out


_IMAG_SIGN = {"auto": "auto", "im": "Im", "-im": "-Im"}


def _read_all(
    paths: list[Path],
    instrument: str | None,
    imag_sign: str = "auto",
    temperatures: str | None = None,
):
    from halidelab.lab.eis_io import parse_temperature, read_spectrum

    sign = _IMAG_SIGN.get(str(imag_sign).lower())
    if sign is None:
        raise DataFormatError(
            f"--imag-sign {imag_sign!r}: use auto, Im (the column is Z'') "
            "or -Im (the column is -Z'')"
        )
    temps: list[float | None] = [None] * len(paths)
    if temperatures is not None:
        items = [t for t in temperatures.split(",") if t.strip()]
        if len(items) != len(paths):
            raise DataFormatError(
                f"--temperatures gives {len(items)} values for {len(paths)} "
                "files: give one per file, in the order of the files"
            )
        temps = [parse_temperature(t) for t in items]
    spectra = []
    for p, t in zip(paths, temps, strict=True):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            spectra.append(read_spectrum(p, instrument, temperature_K=t, imag_sign=sign))
        for w in caught:
            console_err.print(f"warning: {w.message}")
    return spectra


def _check_plots(inputs: list[Path], **paths: Path | None) -> None:
    """Refuse, before any work, a figure path matplotlib cannot write, one that is an input
    file, or one in a folder that does not exist (:class:`halidelab.outputs.OutputGuard`)."""
    guard = OutputGuard(inputs)
    for opt, path in paths.items():
        if path is not None:
            guard.file(path, "--" + opt.replace("_", "-"), figure=True)


def _fmt_sigma(c) -> str:
    return f"{c.sigma_S_cm * 1e3:.4g} ± {c.sigma_err_S_cm * 1e3:.2g}"


def _fit_rows(fits) -> Table:
    table = Table(
        title="impedance fits (sigma uses the total resistance unless --resistance bulk)",
        header_style="bold",
    )
    for col in (
        "file",
        "T (°C)",
        "circuit",
        "R_bulk (Ω)",
        "R_total (Ω)",
        "σ (mS/cm)",
        "rms %",
        "Lin-KK",
        "flags",
    ):
        table.add_column(col, justify="left" if col in ("file", "circuit", "flags") else "right")
    for fit in fits:
        t = fit.temperature_K
        kk = (
            "-"
            if fit.kk is None
            else ("ok" if fit.kk.valid else "FAIL") + f" {100 * fit.kk.residual_rms:.1f}%"
        )
        table.add_row(
            Path(fit.spectrum.source).name,
            "-" if t is None else f"{t - 273.15:.1f}",
            fit.circuit,
            f"{fit.r_bulk_ohm:.4g} ± {fit.r_bulk_err_ohm:.2g}",
            f"{fit.r_total_ohm:.4g} ± {fit.r_total_err_ohm:.2g}",
            _fmt_sigma(fit.conductivity) if fit.conductivity else "-",
            f"{100 * fit.rms_relative:.2f}",
            kk,
            ", ".join(fit.flags) or "-",
        )
    return table


def fit_cmd(
    files: list[str] = typer.Argument(..., help="Spectrum files or quoted glob patterns"),
    thickness: str = typer.Option(
        None, "--thickness", help="Pellet thickness, e.g. 0.85mm or 0.85+-0.01mm"
    ),
    diameter: str = typer.Option(None, "--diameter", help="Pellet diameter, e.g. 10mm"),
    circuit: str = typer.Option(
        "auto", "--circuit", help="'auto' or impedance.py notation, e.g. 'R0-p(R1,CPE1)-CPE2'"
    ),
    resistance: str = typer.Option(
        "total", "--resistance", help="Resistance for sigma: total or bulk"
    ),
    instrument: str = typer.Option(
        None, "--instrument", help="Force a reader (gamry, biologic, zplot, ...)"
    ),
    imag_sign: str = typer.Option(
        "auto", "--imag-sign", help="Plain tables: auto, Im (column is Z'') or -Im"
    ),
    plot: Path = typer.Option(
        None, "--plot", help="Nyquist figure (PNG/SVG); several files: one panel"
    ),
    bode: Path = typer.Option(None, "--bode", help="Bode figure of the first file (PNG/SVG)"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table"),
) -> None:
    """Fit spectra with automatic guesses; conductivity with uncertainty."""
    from halidelab.lab.eis import fit_spectra, plot_bode, plot_nyquist

    _check_plots(_expand(files), plot=plot, bode=bode)
    if resistance not in ("total", "bulk"):
        raise FitError(
            f"--resistance {resistance!r}: use total or bulk (eis arrhenius also takes gb)"
        )
    spectra = _read_all(_expand(files), instrument, imag_sign)
    fits = fit_spectra(
        spectra, circuit, thickness=thickness, diameter=diameter, resistance=resistance, kk=True
    )
    if plot is not None:
        plot_nyquist(fits, path=plot)
    if bode is not None:
        plot_bode(fits[0], path=bode)
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


def _dedupe(spectra):
    """The same measurement given twice (one file twice, or a copy) counts once."""
    out, seen = [], {}
    for sp in spectra:
        key = (sp.frequency_Hz, sp.z_real_ohm, sp.z_imag_ohm)
        if key in seen:
            console_err.print(
                f"warning: {sp.source} holds the same data as {seen[key]}: "
                "counted once (a repeat would shrink the error bar)"
            )
            continue
        seen[key] = sp.source
        out.append(sp)
    return out


def _series(
    files: list[str],
    thickness: str,
    diameter: str,
    circuit: str,
    resistance: str,
    instrument: str | None,
    model: str,
    temperatures: str | None = None,
    imag_sign: str = "auto",
    joint: bool = False,
):
    """Spectra -> (per-temperature fits, Arrhenius fit, series or None, marks)."""
    from halidelab.arrhenius import fit_arrhenius
    from halidelab.lab.eis import fit_series, fit_spectra, two_arcs_resolved

    if thickness is None or diameter is None:
        raise DataFormatError("an Arrhenius series needs --thickness and --diameter")
    if resistance not in ("total", "bulk", "gb"):
        raise FitError(f"--resistance {resistance!r}: use total, bulk or gb")
    paths = _expand(files)
    spectra = _dedupe(_read_all(paths, instrument, imag_sign, temperatures))
    missing = [Path(s.source).name for s in spectra if s.temperature_K is None]
    if missing:
        raise DataFormatError(
            f"no temperature for {', '.join(missing)}: put it in the file "
            "name (pellet_25C.mpt, _298K), the file's metadata, or pass "
            "--temperatures 25C,40C,..."
        )
    n_t = len({round(s.temperature_K, 3) for s in spectra})
    if n_t < 2:
        raise FitError(
            f"{len(spectra)} spectra but one temperature: an Arrhenius fit needs several"
        )
    if circuit == "auto" and two_arcs_resolved(spectra):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sf = fit_series(
                spectra, thickness=thickness, diameter=diameter, joint=joint, model=model
            )
        arr = sf.arrhenius(resistance)
        if arr is None:
            raise FitError(
                f"no {resistance} Arrhenius fit: "
                + "; ".join(f"{t - 273.15:.1f} C: {why}" for t, why in sf.excluded_for(resistance))
            )
        used = {round(t, 3) for t in arr.temperature_K}
        marks = sorted({f for p in sf.points if round(p.temperature_K, 3) in used for f in p.flags})
        return [p.fit for p in sf.points], arr, sf, marks, n_t
    if resistance == "gb" or (resistance == "bulk" and circuit == "auto"):
        raise FitError(
            "the spectra show one arc at every temperature: bulk and grain "
            "boundary cannot be separated; use --resistance total (or give "
            "--circuit with both)"
        )
    fits = fit_spectra(
        spectra, circuit, thickness=thickness, diameter=diameter, resistance=resistance
    )
    arr = fit_arrhenius(
        [f.temperature_K for f in fits],
        [f.conductivity.sigma_S_cm for f in fits],
        [f.conductivity.sigma_err_S_cm for f in fits],
        quantity="sigma",
        model=model,
        method="eis-arrhenius",
    )
    marks = sorted({f"{Path(f.spectrum.source).name}: {fl}" for f in fits for fl in f.flags})
    return fits, arr, None, marks, n_t


def _series_rows(sf) -> Table:
    table = Table(
        title="temperature series (one circuit, fits chained between neighbours)",
        header_style="bold",
    )
    for col in (
        "file",
        "T (°C)",
        "R_bulk (Ω)",
        "R_gb (Ω)",
        "R_total (Ω)",
        "C_bulk (F)",
        "C_gb (F)",
        "rms %",
        "start",
        "flags",
    ):
        table.add_column(col, justify="left" if col in ("file", "start", "flags") else "right")
    for p in sf.points:
        table.add_row(
            Path(p.source).name,
            f"{p.temperature_K - 273.15:.1f}",
            f"{p.r_bulk_ohm:.4g} ± {p.r_bulk_err_ohm:.2g}",
            f"{p.r_gb_ohm:.4g} ± {p.r_gb_err_ohm:.2g}",
            f"{p.r_total_ohm:.4g} ± {p.r_total_err_ohm:.2g}",
            f"{p.c_bulk_F:.2g}",
            f"{p.c_gb_F:.2g}",
            f"{100 * p.rms_relative:.2f}",
            p.start,
            "; ".join(p.flags) or "-",
        )
    return table


def arrhenius_cmd(
    files: list[str] = typer.Argument(
        ..., help="Spectra at several temperatures (quoted globs ok)"
    ),
    thickness: str = typer.Option(None, "--thickness", help="Pellet thickness, e.g. 0.85mm"),
    diameter: str = typer.Option(None, "--diameter", help="Pellet diameter, e.g. 10mm"),
    circuit: str = typer.Option(
        "auto", "--circuit", help="'auto' (series fit) or impedance.py notation"
    ),
    resistance: str = typer.Option("total", "--resistance", help="total, bulk or gb"),
    model: str = typer.Option(
        "sigma_T", "--model", help="sigma_T: ln(sigma T) vs 1/T; plain: ln sigma"
    ),
    temperatures: str = typer.Option(
        None, "--temperatures", help="One per file, in file order: 25C,40C,60C (or K)"
    ),
    joint: bool = typer.Option(
        False, "--joint", help="Also fit all spectra at once with Arrhenius-constrained resistances"
    ),
    instrument: str = typer.Option(None, "--instrument", help="Force a reader"),
    imag_sign: str = typer.Option(
        "auto", "--imag-sign", help="Plain tables: auto, Im (column is Z'') or -Im"
    ),
    plot: Path = typer.Option(None, "--plot", help="Arrhenius figure (PNG/SVG)"),
    nyquist: Path = typer.Option(None, "--nyquist", help="Nyquist figure of all spectra"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Conductivity vs temperature: activation energy and sigma at 25 C."""
    from halidelab.arrhenius import plot_arrhenius
    from halidelab.lab.eis import plot_nyquist

    _check_plots(_expand(files), plot=plot, nyquist=nyquist)
    fits, arr, sf, marks, n_t = _series(
        files,
        thickness,
        diameter,
        circuit,
        resistance,
        instrument,
        model,
        temperatures,
        imag_sign,
        joint,
    )
    if plot is not None:
        plot_arrhenius(arr, path=plot)
    if nyquist is not None:
        plot_nyquist(fits, path=nyquist, zoom=1.6)
    excluded = sf.excluded_for(resistance) if sf is not None else []
    if as_json:
        out = {
            "arrhenius": arr.to_dict(),
            "resistance": resistance,
            "n_temperatures": len(set(arr.temperature_K)),
            "n_spectra": len(fits),
            "flags_on_used_points": marks,
            "excluded": [{"temperature_K": t, "reason": why} for t, why in excluded],
            "fits": [_fit_summary(f) for f in fits],
        }
        if sf is not None:
            out["series"] = {
                "notes": list(sf.notes),
                "joint": sf.joint.to_dict() if sf.joint else None,
                "points": [{k: v for k, v in p.to_dict().items() if k != "fit"} for p in sf.points],
            }
        print_json(out)
        return
    console.print(_series_rows(sf) if sf is not None else _fit_rows(fits))
    n_used = len(set(arr.temperature_K))
    star = " *" if marks else ""
    console.print(
        f"Ea({resistance}) = {arr.ea_eV:.4f} ± {arr.ea_err_eV:.4f} eV{star} "
        f"({arr.model} model, {n_used} temperatures from {len(fits)} spectra"
        f"{f', {n_t - n_used} excluded' if n_t > n_used else ''}, "
        f"chi2_red = {arr.chi2_red:.2g})"
    )
    console.print(
        f"σ(25 °C) = {arr.value_25C * 1e3:.4g} mS/cm{star} (1σ interval "
        f"{arr.value_25C_low * 1e3:.4g}-{arr.value_25C_high * 1e3:.4g})"
    )
    for t, why in excluded:
        console.print(f"excluded {t - 273.15:.1f} °C: {why}")
    if marks:
        console.print("* built on points with flags: " + "; ".join(marks))
    if sf is not None and sf.joint is not None:
        j = sf.joint
        console.print(
            f"joint fit: Ea(bulk) = {j.ea_bulk_eV:.4f} ± {j.ea_bulk_err_eV:.4f} eV, "
            f"Ea(gb) = {j.ea_gb_eV:.4f} ± {j.ea_gb_err_eV:.4f} eV "
            f"(rms {100 * j.rms_relative:.2f}%)"
        )
    for note in sf.notes if sf is not None else ():
        console_err.print(f"note: {note}")
    for w in arr.warnings:
        console_err.print(f"warning: {w}")


def volcano_cmd(
    series: list[str] = typer.Argument(
        ..., help="X=PATTERN per composition, e.g. '0.2=LZNC_*C.mpt'"
    ),
    thickness: str = typer.Option(None, "--thickness", help="Pellet thickness (all pellets)"),
    diameter: str = typer.Option(None, "--diameter", help="Pellet diameter (all pellets)"),
    circuit: str = typer.Option("auto", "--circuit", help="'auto' or impedance.py notation"),
    xlabel: str = typer.Option("x", "--xlabel", help="Label of the composition axis"),
    plot: Path = typer.Option(None, "--plot", help="Volcano figure (PNG/SVG)"),
    arrhenius_plot: Path = typer.Option(
        None, "--arrhenius-plot", help="All series in one Arrhenius figure"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Sigma(25 C) and Ea against composition across a series (two y axes)."""
    from halidelab.arrhenius import plot_arrhenius, plot_volcano

    _check_plots(
        _expand([item.partition("=")[2] for item in series if "=" in item]),
        plot=plot,
        arrhenius_plot=arrhenius_plot,
    )
    rows = []
    for item in series:
        x, sep, pattern = item.partition("=")
        try:
            xv = float(x)
        except ValueError:
            xv = math.nan
        if not sep or not pattern or math.isnan(xv):
            raise DataFormatError(f"cannot read {item!r}: write X=PATTERN, e.g. '0.2=LZNC_*C.mpt'")
        _, arr, _, _, _ = _series([pattern], thickness, diameter, circuit, "total", None, "sigma_T")
        rows.append((xv, arr))
    rows.sort(key=lambda r: r[0])
    sig_err = [(a.value_25C_high - a.value_25C_low) / 2 for _, a in rows]
    if plot is not None:
        plot_volcano(
            [x for x, _ in rows],
            [a.value_25C for _, a in rows],
            [a.ea_eV for _, a in rows],
            sig_err,
            [a.ea_err_eV for _, a in rows],
            xlabel=xlabel,
            path=plot,
        )
    if arrhenius_plot is not None:
        plot_arrhenius(
            [a for _, a in rows], labels=[f"{xlabel} = {x:g}" for x, _ in rows], path=arrhenius_plot
        )
    if as_json:
        print_json([{"x": x, **a.to_dict()} for x, a in rows])
        return
    table = Table(
        title="composition series (σ at 25 °C from each Arrhenius fit)", header_style="bold"
    )
    for col in ("x", "σ25 (mS/cm)", "Ea (eV)", "T range (°C)", "warnings"):
        table.add_column(col, justify="right" if col != "warnings" else "left")
    for (x, a), se in zip(rows, sig_err, strict=True):
        table.add_row(
            f"{x:g}",
            f"{a.value_25C * 1e3:.4g} ± {se * 1e3:.2g}",
            f"{a.ea_eV:.4f} ± {a.ea_err_eV:.4f}",
            f"{a.t_min_K - 273.15:.0f}-{a.t_max_K - 273.15:.0f}",
            "; ".join(a.warnings) or "-",
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the ``eis`` command group."""
    eis_app.command("fit")(fit_cmd)
    eis_app.command("arrhenius")(arrhenius_cmd)
    eis_app.command("volcano")(volcano_cmd)
    app.add_typer(eis_app, name="eis")
