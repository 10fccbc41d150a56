"""``halidelab prior``: train, query and explain the data-driven conductivity prior."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from halidelab.cli._common import OutputGuard, console, print_json, warn

prior_app = typer.Typer(
    help="Data-driven conductivity prior learned from measured electrolytes (OBELiX).",
    no_args_is_help=True,
)


def _f(v: float | None, nd: int = 2) -> str:
    return "-" if v is None or v != v else f"{v:.{nd}f}"


def _metrics_row(table: Table, name: str, m: dict) -> None:
    table.add_row(
        name,
        str(m.get("n_uncensored")),
        str(m.get("n_censored")),
        _f(m.get("mae")),
        _f(m.get("rmse")),
        _f(m.get("spearman")),
        _f(m.get("mae_obelix_convention")),
        _f(100 * m.get("coverage", float("nan")), 0) + "%",
        _f(m.get("interval_width")),
    )


@prior_app.command("train")
def train_cmd(
    out: Path = typer.Option(
        None, "--out", help="Folder to write the model to (default: the shipped one)"
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables"),
) -> None:
    """Fit on the shipped OBELiX train split, calibrate, score on the test split, save."""
    from halidelab.prior.model import MODEL_FILE, PROVENANCE_FILE, save_model, train_prior

    if out is not None:
        guard = OutputGuard()
        guard.folder(out, "--out", create=False)
        for name in (MODEL_FILE, PROVENANCE_FILE):
            guard.file_in(out, name, "--out")
    model, report = train_prior(seed=seed)
    folder = save_model(model, out)
    if as_json:
        data = report.to_dict()
        data["saved_to"] = str(folder)
        print_json(data)
        return
    table = Table(
        title="conductivity prior: log10(sigma / S cm^-1) at room temperature", header_style="bold"
    )
    for col in (
        "set",
        "n",
        "n censored",
        "MAE",
        "RMSE",
        "Spearman",
        "MAE (OBELiX conv.)",
        "90% coverage",
        "mean width",
    ):
        table.add_column(col, justify="left" if col == "set" else "right")
    _metrics_row(table, "grouped 5-fold CV (train)", report.cv_metrics)
    _metrics_row(table, "test split, all", report.test_metrics)
    _metrics_row(table, "test split, halides", report.test_metrics_halide)
    console.print(table)
    console.print(
        f"{report.n_train} train / {report.n_test} test entries after merging {report.n_merged} "
        f"duplicate groups; {len(report.removed_from_train)} test composition(s) removed from "
        "train; "
        f"trained in {report.seconds:.1f} s; saved to {folder}"
    )


@prior_app.command("predict")
def predict_cmd(
    formulas: list[str] = typer.Argument(..., help="Formulas, e.g. Li1.8Zr0.8Nb0.2Cl6 Li3YCl6"),
    model_dir: Path = typer.Option(
        None, "--model", help="Folder of a saved model (default: shipped)"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables"),
) -> None:
    """Predicted log10 sigma(RT) with its 90% interval and the applicability flag."""
    from halidelab.prior.model import predict

    preds = predict(formulas, model_dir=model_dir)
    if as_json:
        print_json([p.to_dict() for p in preds])
        return
    table = Table(
        title="conductivity prior (room temperature, 90% conformal interval)", header_style="bold"
    )
    for col in (
        "formula",
        "family",
        "log10 sigma",
        "90% interval",
        "sigma (S/cm)",
        "in domain",
        "nearest measured",
    ):
        table.add_column(
            col, justify="left" if col in ("formula", "family", "nearest measured") else "right"
        )
    for p in preds:
        n = p.nearest[0] if p.nearest else None
        near = (
            f"{n.formula} ({'<' if n.censored else ''}{n.log10_sigma_S_cm:.2f}, d={n.distance:.2f})"
            if n
            else "-"
        )
        table.add_row(
            p.formula,
            p.family,
            _f(p.log10_sigma_S_cm),
            f"[{_f(p.log10_sigma_low_S_cm)}, {_f(p.log10_sigma_high_S_cm)}]",
            f"{p.sigma_S_cm:.1e}",
            "yes" if p.in_domain else "NO",
            near,
        )
    console.print(table)
    for p in preds:
        for w in p.warnings:
            warn(f"{p.formula}: {w}")


@prior_app.command("explain")
def explain_cmd(
    formula: str = typer.Argument(..., help="One formula, e.g. Li1.8Zr0.8Nb0.2Cl6"),
    model_dir: Path = typer.Option(
        None, "--model", help="Folder of a saved model (default: shipped)"
    ),
    top: int = typer.Option(8, "--top", help="How many feature groups to show"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables"),
) -> None:
    """What drives the prediction (feature occlusion) and the nearest measured materials."""
    from halidelab.prior.model import explain

    ex = explain(formula, model_dir=model_dir)
    if as_json:
        print_json(ex.to_dict())
        return
    p = ex.prediction
    console.print(
        f"{p.formula} ({p.family}): log10 sigma = {p.log10_sigma_S_cm:.2f} "
        f"[{p.log10_sigma_low_S_cm:.2f}, {p.log10_sigma_high_S_cm:.2f}] (90%), "
        f"{'in domain' if p.in_domain else 'OUT OF DOMAIN'}"
    )
    t1 = Table(
        title="what drives it: prediction minus prediction with the feature at the training median",
        header_style="bold",
    )
    for col in ("feature", "value", "effect (decades)"):
        t1.add_column(col, justify="left" if col == "feature" else "right")
    for c in ex.contributions[: max(top, 1)]:
        t1.add_row(c.feature, _f(c.value, 3), f"{c.delta_log10:+.2f}")
    console.print(t1)
    t2 = Table(title="nearest measured materials (training data)", header_style="bold")
    for col in ("id", "formula", "family", "log10 sigma", "distance"):
        t2.add_column(col, justify="left" if col in ("id", "formula", "family") else "right")
    for n in p.nearest:
        t2.add_row(
            n.id,
            n.formula,
            n.family,
            ("<" if n.censored else "") + _f(n.log10_sigma_S_cm),
            _f(n.distance),
        )
    console.print(t2)
    for w in p.warnings:
        warn(w)


def register(app: typer.Typer) -> None:
    """Add the ``prior`` command group to the CLI."""
    app.add_typer(prior_app, name="prior")
