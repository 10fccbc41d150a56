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
