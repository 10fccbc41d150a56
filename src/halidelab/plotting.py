"""One place for matplotlib: a headless backend, figure-path checks and saving.

Every module that draws a figure gets pyplot from :func:`pyplot` (the non-interactive
Agg backend unless the user already chose one, so figures work on a cluster node or in
CI without a display) and writes it with :func:`savefig`, which checks the file
extension against the formats matplotlib can write *before* anything is drawn or written
and raises :class:`FigureFormatError` (one line: the extension and the formats allowed)
instead of matplotlib's multi-line ``ValueError``. Command-line tools call
:func:`check_figure_path` on every figure option first, so a typo in ``--plot`` is
reported before minutes of fitting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from halidelab.errors import HalidelabError


class FigureFormatError(HalidelabError, ValueError):
    """A figure path whose extension matplotlib cannot write."""


def pyplot():
    """matplotlib.pyplot with a headless (Agg) backend unless one was chosen already."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def supported_formats() -> tuple[str, ...]:
    """File extensions (lower case, no dot) matplotlib can write with its current backend."""
    from matplotlib.backend_bases import FigureCanvasBase

    return tuple(sorted(FigureCanvasBase.get_supported_filetypes()))


def check_figure_path(path: str | Path | None, option: str = "figure") -> Path | None:
    """Check that matplotlib can write ``path``'s format; return it as a Path (None passes).

    Parameters
    ----------
    path : str or Path or None
        Where the figure will go.
    option : str
        How the user named it (``"--plot"``), for the message.

    Raises
    ------
    FigureFormatError
        No extension, or one matplotlib does not write (``.foo``, ``.jpg`` without Pillow).
    """
    if path is None:
        return None
    p = Path(path)
    ext = p.suffix.lower().lstrip(".")
    fmts = supported_formats()
    if not ext:
        raise FigureFormatError(f"{option} {str(p)!r} has no file extension: end it with one "
                                f"of .{', .'.join(fmts)} (e.g. .png)")
    if ext not in fmts:
        raise FigureFormatError(f"{option} {str(p)!r}: matplotlib cannot write .{ext} files; "
                                f"use one of .{', .'.join(fmts)} (e.g. .png or .svg)")
    return p


def savefig(fig: Any, path: str | Path, *, option: str = "figure", **kwargs: Any) -> Path:
    """Write ``fig`` to ``path`` after :func:`check_figure_path`, atomically; return the path.

    Extra keyword arguments go to :meth:`matplotlib.figure.Figure.savefig` (``dpi``...).
    """
    from halidelab.outputs import atomic_path

    p = check_figure_path(path, option)
    assert p is not None
    with atomic_path(p) as tmp:  # a crash never leaves half a figure (halidelab.outputs)
        fig.savefig(tmp, **kwargs)
    return p
