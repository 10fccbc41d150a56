"""Where halidelab writes: one guard for every output path, atomic writes, one JSON encoder.

Every file the command line writes goes through :class:`OutputGuard` (checked before any
work starts) and is written atomically. The rules:

1. **Never over an input.** An output that is the same file as an input of the same
   command (after resolving links; ``os.path.samefile``, so hard links count too) is
   refused.
2. **Never over a database.** A CSV, JSON, figure, structure or any other output is
   never written over an SQLite file (a results store, or a database another program
   owns), whether or not the command reads it.
3. **Create only the folder that was asked for.** An output *file* goes into a folder
   that exists; nothing is created for it. An output *folder* (``--out DIR``,
   ``--report DIR``, ``--plot-dir DIR``) is created when missing, but only that last
   folder: its parent must exist (``mkdir``, never ``mkdir -p``). So
   ``bvse --cube /nonexistent_dir/map.cube`` is an error and creates nothing.
4. **A file is not a folder.** An output folder that exists as a file, or an output
   file that exists as a folder, is a one-line error.
5. **Atomic.** A file is written to a temporary name in its own folder and moved into
   place with ``os.replace``: a crash or Ctrl-C leaves the old file or the new one,
   never half of one.
6. **Figures** need a suffix matplotlib can write (png, svg, pdf ...), checked before
   the work (:func:`check_figure_path`); :func:`halidelab.plotting.savefig`
   writes them atomically too.

JSON: :func:`dumps_json` is the one encoder for ``--json`` output and every JSON file
(non-finite numbers become ``null``, numpy scalars and arrays plain numbers and lists),
so what halidelab writes is always valid JSON.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from halidelab.errors import HalidelabError

#: The first 16 bytes of every SQLite 3 database file.
SQLITE_HEADER = b"SQLite format 3\x00"


class OutputError(HalidelabError, ValueError):
    """An output path that would destroy a file or write where it should not."""


def is_sqlite_file(path: str | Path) -> bool:
    """Whether ``path`` is an existing SQLite database file (by its 16-byte header)."""
    p = Path(path)
    try:
        if not p.is_file():
            return False
        with p.open("rb") as fh:
            return fh.read(16) == SQLITE_HEADER
    except OSError:
        return False


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): not the same file
        return False


class OutputGuard:
    """Checks the output paths of one command against its inputs (the rules above).

    Parameters
    ----------
    inputs : iterable of path
        Every file the command reads (structures, data files, stores, tables). Missing
        ones and URLs are ignored.

    Examples
    --------
    >>> guard = OutputGuard([structure_path])            # doctest: +SKIP
    >>> out = guard.file(out_path, option="--out")       # before the work
    >>> write_text(out, text)                            # atomically, after it
    """

    def __init__(self, inputs: Iterable[str | Path | None] = ()):
        self.inputs: list[Path] = []
        for p in inputs:
            if p is None or "://" in str(p):
                continue
            self.inputs.append(Path(p))

    def add_input(self, path: str | Path | None) -> None:
        """Protect one more input file."""
        if path is not None and "://" not in str(path):
            self.inputs.append(Path(path))

    def _clash(self, path: Path) -> Path | None:
        for inp in self.inputs:
            if _same(path, inp):
                return inp
        return None

    def file(
        self,
        path: str | Path,
        option: str = "--out",
        *,
        figure: bool = False,
        store_ok: bool = False,
    ) -> Path:
        """Check an output file; return it as a Path (nothing is created).

        Parameters
        ----------
        path : path
            Where the command will write.
        option : str
            The CLI option that named it, for the message.
        figure : bool
            The file is a matplotlib figure: its suffix must be a format matplotlib writes
            (:func:`check_figure_path`).
        store_ok : bool
            The output *is* a results store (``--db``): an SQLite file there is expected.

        Raises
        ------
        OutputError
            Rules 1-4 of the module docstring.
        FigureFormatError
            Rule 6.
        """
        p = Path(path)
        inp = self._clash(p)
        if inp is not None:
            raise OutputError(
                f"{option} {p} is the input file {inp}: writing there would destroy "
                "it; choose another output name"
            )
        if p.is_dir():
            raise OutputError(f"{option} {p} is a folder: give a file name inside it")
        if not store_ok and is_sqlite_file(p):
            raise OutputError(
                f"{option} {p} is an SQLite database (a results store or another "
                "program's): halidelab does not write over it; choose another name"
            )
        _parent_must_exist(p, option)
        if figure:
            check_figure_path(p, option)
        return p

    def folder(self, path: str | Path, option: str = "--out", create: bool = True) -> Path:
        """Check an output folder and create it (only it, never its parents).

        Raises
        ------
        OutputError
            The folder is an existing file or an input, or its parent does not exist.
        """
        p = Path(path)
        if p.exists() and not p.is_dir():
            what = "the input file" if self._clash(p) is not None else "an existing file"
            raise OutputError(f"{option} {p} is {what}, not a folder: give a folder name")
        if not p.exists():
            _parent_must_exist(p, option)
            if create:
                try:
                    p.mkdir()
                except FileExistsError:  # created meanwhile by a parallel run
                    pass
                except OSError as exc:
                    raise OutputError(
                        f"{option} {p}: cannot create the folder ({exc.strerror})"
                    ) from None
        return p

    def file_in(self, folder: str | Path, name: str, option: str = "--out") -> Path:
        """Check a file the command writes inside an output folder it checked before.

        A folder that does not exist yet (checked with ``create=False``) holds nothing to
        clash with.
        """
        if not Path(folder).is_dir():
            return Path(folder) / name
        return self.file(Path(folder) / name, option)


def _parent_must_exist(p: Path, option: str) -> None:
    """Rule 3: the folder an output goes into exists (nothing above it is created)."""
    parent = p.parent
    if parent.is_dir():
        return
    if parent.exists():
        raise OutputError(f"{option} {p}: {parent} is a file, not a folder")
    raise OutputError(
        f"{option} {p}: the folder {parent} does not exist; create it first "
        "(halidelab creates only the last folder of an output path)"
    )


# ------------------------------------------------------------------------- atomic writes


def _tmp_name(path: Path) -> Path:
    # a hidden sibling that keeps the suffix (matplotlib and ase choose formats by it)
    return path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path``; moved onto ``path`` when the block succeeds.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    tmp = _tmp_name(path)
    try:
        yield tmp
        if not tmp.exists():  # the writer chose not to write
            return
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            if tmp.exists():
                tmp.unlink()


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """``open`` for writing, atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh


def write_text(path: str | Path, text: str) -> Path:
    """Write text atomically; return the path."""
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return Path(path)


# ------------------------------------------------------------------------------- JSON


def jsonable(obj: Any) -> Any:
    """Plain JSON types: non-finite floats become None, numpy values plain Python ones.

    Dataclasses become dicts, paths and other objects their ``str``.
    """
    if obj is None or isinstance(obj, bool | str | int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [jsonable(v) for v in obj]
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a dependency
        np = None
    if np is not None:
        if isinstance(obj, np.ndarray):
            return jsonable(obj.tolist())
        if isinstance(obj, np.generic):
            return jsonable(obj.item())
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return jsonable(obj.to_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return jsonable(dataclasses.asdict(obj))
    return str(obj)


def dumps_json(data: Any, indent: int | None = 2) -> str:
    """``data`` as strict JSON text (NaN and infinities written as ``null``)."""
    return json.dumps(jsonable(data), indent=indent, allow_nan=False)


def write_json(path: str | Path, data: Any, indent: int | None = 2) -> Path:
    """Write ``data`` as strict JSON, atomically; return the path."""
    return write_text(path, dumps_json(data, indent) + "\n")


class FigureFormatError(HalidelabError, ValueError):
    """A figure path whose extension matplotlib cannot write."""


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
        raise FigureFormatError(
            f"{option} {str(p)!r} has no file extension: end it with one "
            f"of .{', .'.join(fmts)} (e.g. .png)"
        )
    if ext not in fmts:
        raise FigureFormatError(
            f"{option} {str(p)!r}: matplotlib cannot write .{ext} files; "
            f"use one of .{', .'.join(fmts)} (e.g. .png or .svg)"
        )
    return p
