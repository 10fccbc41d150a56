"""Helpers shared by the CLI modules: consoles, one-line failures, JSON output."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

# Piped or captured output gets a wide console so tables are not truncated.
_WIDTH = None if sys.stdout.isatty() else 160
console = Console(emoji=False, highlight=False, width=_WIDTH)
console_err = Console(stderr=True, emoji=False, highlight=False)


def fail(message: str) -> int:
    """Print ``error: message`` as one line on stderr; return exit code 2."""
    line = " ".join(str(message).split())
    print(f"error: {line}", file=sys.stderr)
    return 2


def print_json(data: Any) -> None:
    """Write ``data`` as indented JSON on stdout (for scripts)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def potential(model: str, device: str = "auto", threads: int | None = None) -> Any:
    """The :class:`~halidelab.potentials.Potential` of ``--model/--device/--threads``."""
    from halidelab.potentials import Potential

    return Potential(model, device=device, threads=threads)


#: help of the ``--batch`` flags kept for one release
BATCH_HELP = "Deprecated, changes nothing: every run is batched (one structure is a batch of one)."


def batch_deprecated(batch: bool) -> None:
    """Say on stderr that ``--batch`` is gone (kept for one release; it changes nothing)."""
    if batch:
        console_err.print("note: --batch is deprecated and changes nothing: every run goes through the "
                          "batched engine now; drop the flag")
