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

# the figure-path rule lives with the output rules (halidelab.outputs, which must not import
# this module); re-exported here, where figure code looks for it
from halidelab.outputs import FigureFormatError, atomic_path, check_figure_path, supported_formats

__all__ = ["FigureFormatError", "check_figure_path", "pyplot", "savefig", "supported_formats"]


def pyplot():
    """matplotlib.pyplot with a headless (Agg) backend unless one was chosen already."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def savefig(fig: Any, path: str | Path, *, option: str = "figure", **kwargs: Any) -> Path:
    """Write ``fig`` to ``path`` after :func:`check_figure_path`, atomically; return the path.

    Extra keyword arguments go to :meth:`matplotlib.figure.Figure.savefig` (``dpi``...).
    """
    p = check_figure_path(path, option)
    assert p is not None
    with atomic_path(p) as tmp:  # a crash never leaves half a figure (halidelab.outputs)
        fig.savefig(tmp, **kwargs)
    return p
