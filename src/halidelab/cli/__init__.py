"""The ``halidelab`` command line: thin, it parses, calls the library and prints.

Each command group lives in its own module under ``halidelab.cli`` and exposes
``register(app)``; the modules are listed in :data:`COMMAND_MODULES`. Every
:class:`~halidelab.errors.HalidelabError` (and any bad-input ``ValueError``/``OSError``
raised while reading a user's file) becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

from halidelab import __version__
from halidelab.cli._common import console_err, fail

#: command modules under halidelab.cli; each defines ``register(app: typer.Typer)``
COMMAND_MODULES: tuple[str, ...] = ("design", "prior", "eis", "transport", "screen", "cell", "neb", "xrd", "screening", "stability", "compare", "kmc")

app = typer.Typer(
    name="halidelab",
    help="Design, predict and measure halide solid-state electrolytes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"halidelab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """halidelab: halide solid electrolytes from substitution idea to report."""


for _name in COMMAND_MODULES:
    importlib.import_module(f"halidelab.cli.{_name}").register(app)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code (2 for bad input, with a one-line message)."""
    from halidelab.errors import HalidelabError

    try:
        app(args=argv, prog_name="halidelab", standalone_mode=False)
    except HalidelabError as exc:
        return fail(str(exc))
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        return fail(f"{exc.strerror}: {exc.filename}")
    except KeyboardInterrupt:
        console_err.print("interrupted: finished results are saved; run the same command to resume")
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return fail("aborted")
    except Exception as exc:
        # click usage errors (typer vendors click, so match on the interface)
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            return fail(exc.format_message())
        if os.environ.get("HALIDELAB_DEBUG"):
            raise
        msg = str(exc).splitlines()[0] if str(exc) else ""
        print(f"internal error: {type(exc).__name__}: {msg} (a halidelab bug: rerun with "
              "HALIDELAB_DEBUG=1 for the traceback and report it)", file=sys.stderr)
        return 1
    return 0


def entry() -> None:  # pragma: no cover - console-script shim
    sys.exit(main())
