"""``halidelab xrd simulate | refine``: simulated patterns and lattice refinement."""

from __future__ import annotations

import math
from pathlib import Path

import typer
from rich.table import Table

from halidelab.cli._common import OutputGuard, console, console_err, print_json, warn
from halidelab.outputs import atomic_path

xrd_app = typer.Typer(
    help="Powder XRD: simulate a model's pattern, refine a lattice.", no_args_is_help=True
)


def _range(text: str) -> tuple[float, float]:
    from halidelab.errors import UnitError

    try:
        lo, hi = (float(v) for v in text.replace(":", ",").replace("-", ",", 1).split(","))
    except ValueError:
        raise UnitError(f"cannot read 2-theta range {text!r}: write it like 10,80 (deg)") from None
    if not 0 <= lo < hi <= 180:
        raise UnitError(f"2-theta range {text!r} must satisfy 0 <= min < max <= 180 deg")
    return lo, hi


def _wavelength(text: str | None):
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return text


def simulate_cmd(
    model: Path = typer.Argument(..., help="Structure file (CIF, POSCAR, extxyz)"),
    output: Path = typer.Option(None, "-o", "--output", help="Write the broadened pattern (.xy)"),
    peaks: Path = typer.Option(None, "--peaks", help="Write the peak list (CSV)"),
    wavelength: str = typer.Option(
        "CuKa", "--wavelength", help="CuKa (Ka1/Ka2 weighted mean), CuKa1, MoKa... or Å"
    ),
    two_theta: str = typer.Option("10,80", "--range", help="2-theta range in deg, e.g. 10,80"),
    fwhm: float = typer.Option(0.1, "--fwhm", help="Peak FWHM for the .xy profile (deg)"),
    top: int = typer.Option(15, "--top", help="Rows of the table (strongest peaks)"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table"),
) -> None:
    """Simulated powder pattern and peak list of a structure model."""
    from halidelab.cli._structures import load_structure
    from halidelab.errors import UnitError
    from halidelab.structures.xrd import simulate_pattern, write_peak_list, write_xy

    if not (math.isfinite(fwhm) and 0 < fwhm <= 10):
        raise UnitError(
            f"--fwhm {fwhm:g}: give the peak width in deg 2-theta, > 0 (lab "
            "diffractometers: 0.05-0.2)"
        )
    if top < 1:
        raise UnitError(f"--top {top}: give how many of the strongest peaks to list (>= 1)")
    guard = OutputGuard([model])
    for path, opt in ((output, "-o/--output"), (peaks, "--peaks")):
        if path is not None:
            guard.file(path, opt)
    if output is not None and peaks is not None and output.resolve() == peaks.resolve():
        raise UnitError(f"-o/--output and --peaks are the same file {output}: give two names")
    structure, _ = load_structure(model, order=False)  # partial occupancies diffract as they are
    pat = simulate_pattern(
        structure, wavelength=_wavelength(wavelength), two_theta_range_deg=_range(two_theta)
    )
    if output is not None:
        with atomic_path(output) as tmp:
            write_xy(pat, tmp, fwhm_deg=fwhm)
    if peaks is not None:
        with atomic_path(peaks) as tmp:
            write_peak_list(pat, tmp)
    if as_json:
        print_json(pat.to_dict())
        return
    table = Table(
        title=f"{pat.formula}: {len(pat)} peaks, λ = {pat.wavelength_A:.5f} Å "
        f"({pat.wavelength_label})",
        header_style="bold",
    )
    for col in ("2θ (°)", "d (Å)", "I (rel.)", "hkl", "mult."):
        table.add_column(col, justify="left" if col == "hkl" else "right")
    rows = sorted(pat.peak_rows(), key=lambda r: -float(r["intensity"]))[: max(top, 1)]
    for r in sorted(rows, key=lambda r: float(r["two_theta_deg"])):
        table.add_row(
            f"{r['two_theta_deg']:.3f}",
            f"{r['d_spacing_A']:.4f}",
            f"{r['intensity']:.1f}",
            str(r["hkl"]),
            str(r["multiplicity"]),
        )
    console.print(table)
    for path in (output, peaks):
        if path is not None:
            console.print(f"wrote {path}")


def refine_cmd(
    pattern: Path = typer.Argument(..., help="Measured pattern (.xy, .xye, .csv, .xrdml)"),
    model: Path = typer.Option(..., "--model", help="Structure model (CIF) of the phase"),
    system: str = typer.Option(
        None, "--system", help="Override the crystal system (hexagonal, monoclinic, ...)"
    ),
    two_theta: str = typer.Option(None, "--range", help="Fit range in deg, e.g. 12,75"),
    wavelength: str = typer.Option(
        None, "--wavelength", help="CuKa12 (default unless the file says), CuKa1, CuKa, Å"
    ),
    ka2: float = typer.Option(None, "--ka2-ratio", help="I(Ka2)/I(Ka1), 0 for Ka1 only"),
    fmt: str = typer.Option(None, "--format", help="Force a reader: xy, csv, xrdml"),
    plot: Path = typer.Option(None, "--plot", help="Observed/calculated/difference figure"),
    asymmetry: bool = typer.Option(
        True,
        "--asymmetry/--no-asymmetry",
        help="Refine the axial-divergence peak asymmetry (Finger-Cox-Jephcoat SH/L)",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table"),
) -> None:
    """Refine lattice parameters (Pawley-type fit) against a structure model."""
    import warnings

    from halidelab.errors import UnitError
    from halidelab.lab.xrd import plot_refinement, read_pattern, refine_lattice
    from halidelab.structures.prototypes import read_structure

    if plot is not None:  # format, not over an input, folder exists (halidelab.outputs)
        OutputGuard([pattern, model]).file(plot, "--plot", figure=True)
    if ka2 is not None and not (math.isfinite(ka2) and 0 <= ka2 <= 1):
        raise UnitError(
            f"--ka2-ratio {ka2:g}: I(Ka2)/I(Ka1) lies in 0-1 (Cu: 0.5; 0 for a "
            "monochromated Ka1 beam)"
        )

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        measured = read_pattern(pattern, fmt)
    for w in caught:
        console_err.print(f"warning: {w.message}")
    structure = read_structure(model)
    res = refine_lattice(
        measured,
        structure,
        crystal_system=system,
        two_theta_range_deg=_range(two_theta) if two_theta else None,
        wavelength=_wavelength(wavelength),
        kalpha2_ratio=ka2,
        refine_asymmetry=asymmetry,
    )
    if plot is not None:
        from halidelab.plotting import pyplot

        pyplot().close(plot_refinement(res, plot))
    if as_json:
        print_json(res.summary())
        return
    m = res.model_cell
    table = Table(
        title=f"{Path(res.source).name}: {res.model_formula} ({res.crystal_system}), Pawley fit",
        header_style="bold",
    )
    for col in ("parameter", "refined", "± (1σ)", "model", "change %"):
        table.add_column(col, justify="left" if col == "parameter" else "right")
    rows = [
        ("a (Å)", res.a_A, res.a_err_A, m[0]),
        ("b (Å)", res.b_A, res.b_err_A, m[1]),
        ("c (Å)", res.c_A, res.c_err_A, m[2]),
        ("α (°)", res.alpha_deg, res.alpha_err_deg, m[3]),
        ("β (°)", res.beta_deg, res.beta_err_deg, m[4]),
        ("γ (°)", res.gamma_deg, res.gamma_err_deg, m[5]),
        ("V (Å³)", res.volume_A3, res.volume_err_A3, res.model_volume_A3),
    ]
    for name, val, err, ref in rows:
        table.add_row(
            name,
            f"{val:.5f}",
            f"{err:.5f}" if err > 0 else "fixed",
            f"{ref:.5f}",
            f"{100 * (val / ref - 1):+.3f}",
        )
    console.print(table)
    console.print(
        f"zero shift {res.zero_shift_deg:+.4f} ± {res.zero_shift_err_deg:.4f}°, "
        f"Rwp {100 * res.rwp:.2f}%, Rexp {100 * res.rexp:.2f}%, "
        f"χ²red {res.chi2_red:.2f}, Rwp with model intensities "
        + (
            f"{100 * res.rwp_model_intensities:.2f}%"
            if res.rwp_model_intensities is not None
            else "-"
        )
        + f", {res.n_reflections} reflections, λ1 {res.wavelength_A:.5f} Å"
        + (f" + Kα2 ({res.kalpha2_ratio:g})" if res.kalpha2_ratio else "")
    )
    console.print(
        f"sample displacement D = {res.displacement_deg:+.4f} ± "
        f"{res.displacement_err_deg:.4f}° (shift D cos θ); "
        f"{res.provenance.parameters.get('displacement', '')}"
    )
    console.print(
        f"peak asymmetry (axial divergence): {res.provenance.parameters.get('asymmetry', '')}"
    )
    console.print(
        f"esds scaled by sqrt(χ²red) and by {res.esd_factor:.2f} for serially "
        f"correlated residuals (Durbin-Watson {res.durbin_watson:.2f})"
    )
    console.print("converged" if res.converged else "NOT converged")
    for flag in res.flags:
        warn(flag)
    if plot is not None:
        console.print(f"wrote {plot}")


def register(app: typer.Typer) -> None:
    """Add the ``xrd`` command group."""
    xrd_app.command("simulate")(simulate_cmd)
    xrd_app.command("refine")(refine_cmd)
    app.add_typer(xrd_app, name="xrd")
