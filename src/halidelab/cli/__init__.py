"""The ``halidelab`` command line: thin, it parses, calls the library and prints.

Each command group lives in its own module under ``halidelab.cli`` and exposes
``register(app)``; the modules are listed in :data:`COMMAND_MODULES`. Every
:class:`~halidelab.errors.HalidelabError` (and any ``OSError`` on a file the user named)
becomes one line on stderr and exit code 2. ``halidelab`` (or a command group) without a
command prints its help and exits 0. Results go to stdout; warnings, notes and progress
to stderr.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings

import typer

from halidelab import __version__
from halidelab.cli._common import console_err, fail

#: command modules under halidelab.cli; each defines ``register(app: typer.Typer)``
COMMAND_MODULES: tuple[str, ...] = (
    "design",
    "prior",
    "eis",
    "transport",
    "screen",
    "cell",
    "neb",
    "xrd",
    "screening",
    "stability",
    "compare",
    "kmc",
    "validate",
)

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
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """halidelab: halide solid electrolytes from substitution idea to report."""


for _name in COMMAND_MODULES:
    importlib.import_module(f"halidelab.cli.{_name}").register(app)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code (2 for bad input, with a one-line message).

    Python warnings raised while a command runs (numpy's ``RuntimeWarning``, a library's
    ``UserWarning``) are collected and printed at the end as one ``warning:`` line each on
    stderr when the command succeeds, and dropped when it fails: the ``error:`` line says
    what went wrong, without a page of library noise before it.
    """
    from halidelab.errors import HalidelabError

    with warnings.catch_warnings(record=True) as caught:
        code = _run(argv, HalidelabError)
    if code == 0:
        seen: set[str] = set()
        for w in caught:
            if issubclass(w.category, DeprecationWarning | PendingDeprecationWarning):
                continue
            text = " ".join(str(w.message).split())
            cat = "" if issubclass(w.category, UserWarning) else f"{w.category.__name__}: "
            if text and text not in seen:
                seen.add(text)
                print(f"warning: {cat}{text}", file=sys.stderr)
    return code


def _run(argv: list[str] | None, HalidelabError: type[Exception]) -> int:
    try:
        app(args=argv, prog_name="halidelab", standalone_mode=False)
    except HalidelabError as exc:
        return fail(str(exc))
    except OSError as exc:  # a file the user named: missing, a folder, no permission, disk full
        if exc.strerror and exc.filename:
            return fail(f"{exc.strerror}: {exc.filename}")
        return fail(str(exc) or type(exc).__name__)
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
            message = exc.format_message()
            if not message.strip():
                # a command group called without a command: its help was printed
                return 0
            return fail(message)
        if os.environ.get("HALIDELAB_DEBUG"):
            raise
        msg = str(exc).splitlines()[0] if str(exc) else ""
        print(
            f"internal error: {type(exc).__name__}: {msg} (a halidelab bug: rerun with "
            "HALIDELAB_DEBUG=1 for the traceback and report it)",
            file=sys.stderr,
        )
        return 1
    return 0


def entry() -> None:  # pragma: no cover - console-script shim
    sys.exit(main())
