"""Helpers shared by the CLI modules: consoles, one-line failures and warnings, JSON output.

Conventions: results go to stdout; warnings, notes and progress to stderr (:func:`warn`,
:func:`note`), so ``--json`` output and redirected tables stay clean. Every JSON the CLI
prints or writes goes through :func:`halidelab.outputs.dumps_json` (NaN becomes null).
"""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from halidelab.outputs import OutputGuard, dumps_json

__all__ = [
    "OutputGuard",
    "console",
    "console_err",
    "dumps_json",
    "estimate_table",
    "fail",
    "note",
    "print_json",
    "warn",
]

# Piped or captured output gets a wide console so tables are not truncated.
_WIDTH = None if sys.stdout.isatty() else 160
console = Console(emoji=False, highlight=False, width=_WIDTH)
console_err = Console(
    stderr=True, emoji=False, highlight=False, width=None if sys.stderr.isatty() else 160
)


def fail(message: str) -> int:
    """Print ``error: message`` as one line on stderr; return exit code 2."""
    line = " ".join(str(message).split())
    print(f"error: {line}", file=sys.stderr)
    return 2


def warn(message: str, prefix: str = "warning") -> None:
    """Print ``warning: message`` on stderr (one line per warning)."""
    line = " ".join(str(message).split())
    console_err.print(f"[yellow]{prefix}[/]: {escape(line)}", soft_wrap=True)


def note(message: str) -> None:
    """Print ``note: message`` on stderr (what the tool did for you, e.g. an ordering)."""
    warn(message, prefix="note")


def print_json(data: Any) -> None:
    """Write ``data`` as indented, strict JSON on stdout (non-finite numbers as null)."""
    sys.stdout.write(dumps_json(data) + "\n")


def check_number(
    value: float | int | None,
    option: str,
    *,
    minimum: float | None = None,
    above: float | None = None,
    maximum: float | None = None,
    unit: str = "",
) -> None:
    """Refuse a non-finite or out-of-range option value before any work (one line).

    ``minimum`` is inclusive, ``above`` exclusive (``above=0``: strictly positive).
    """
    import math

    from halidelab.errors import HalidelabError

    if value is None:
        return
    u = f" {unit}" if unit else ""
    if not math.isfinite(float(value)):
        raise HalidelabError(f"{option} must be a finite number{u}, got {value}")
    if above is not None and not value > above:
        raise HalidelabError(f"{option} must be > {above:g}{u}, got {value:g}")
    if minimum is not None and value < minimum:
        raise HalidelabError(f"{option} must be >= {minimum:g}{u}, got {value:g}")
    if maximum is not None and value > maximum:
        raise HalidelabError(f"{option} must be <= {maximum:g}{u}, got {value:g}")


def potential(model: str, device: str = "auto", threads: int | None = None) -> Any:
    """The :class:`~halidelab.potentials.Potential` of ``--model/--device/--threads``."""
    from halidelab.potentials import Potential

    return Potential(model, device=device, threads=threads)


#: help of the ``--batch`` flags kept for one release
BATCH_HELP = "Deprecated, changes nothing: every run is batched (one structure is a batch of one)."


def batch_deprecated(batch: bool) -> None:
    """Say on stderr that ``--batch`` is gone (kept for one release; it changes nothing)."""
    if batch:
        note(
            "--batch is deprecated and changes nothing: every run goes through the batched engine "
            "now; drop the flag"
        )


#: help of --bvse-volume (screen, reproduce)
BVSE_VOLUME_HELP = (
    "Cell of the BVSE tier and the KMC tier's BVSE networks: relaxed (the MLIP's), or model "
    "(the relaxed cell scaled to its ordered model's volume: the measured parent's, scaled by "
    "bond lengths; as 'validate --bvse-volume model', whose calibrations then apply)"
)


def estimate_table(est: Any, title: str) -> Table:
    """A cost estimate (a screen's or a validation campaign's) as a table: its rows, and
    the total on its workers (with the tasks no timing prices, where there are any)."""
    from halidelab.screening.cost import format_duration

    t = Table(title=title)
    for col in ("tier", "tasks", "per task", "total (typical)", "range", "cost source"):
        t.add_column(col)
    for r in est.rows:
        t.add_row(
            r["tier"],
            f"{r['tasks']} (+{r['done']} done)" if r.get("done") else str(r["tasks"]),
            f"{r['per_task_s']:.3g} s",
            format_duration(r["total_s"]),
            f"{format_duration(r['low_s'])} - {format_duration(r['high_s'])}",
            r["source"],
        )
    t.add_row(
        "all",
        "",
        "",
        format_duration(est.total_s),
        f"{format_duration(est.low_s)} - {format_duration(est.high_s)}",
        f"on {est.workers} worker(s), perfect scaling assumed"
        + (
            f"; {est.not_priced} task(s) not priced (not in the total)"
            if getattr(est, "not_priced", 0)
            else ""
        ),
    )
    return t
