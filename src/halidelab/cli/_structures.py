"""Reading structure files for the CLI: one sanity check, one ordering, one provenance rule.

Every command that takes a structure file (``bvse``, ``relax``, ``neb``, ``md``,
``structure --framework``, ``xrd simulate``, ``stability``/``window``/``interface``) reads
it through :func:`load_structure`:

1. :func:`halidelab.structures.prototypes.read_structure` (a POSCAR whose counts
   disagree with its coordinate lines is refused there);
2. :func:`halidelab.structures.checks.check_structure`: overlapping atoms are an error,
   short contacts and vacuum a warning (a slab is an error for a variable-cell relax);
3. for commands that need an ordered structure, a file with partial occupancies becomes
   the lowest-Ewald-energy ordered model (:func:`halidelab.structures.models.order_structure`),
   said in one ``note:`` line and recorded in the result's provenance
   (``parameters["ordering"]``, :func:`with_ordering`);
4. the size limit on the structure the work runs on (``--max-atoms``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from halidelab.cli._common import note, warn


def load_structure(
    path: Path,
    *,
    kind: str | None = None,
    max_atoms: int | None = None,
    variable_cell: bool = False,
    order: bool = True,
    quiet: bool = False,
    max_model_atoms: int = 200,
) -> tuple[Any, dict[str, Any] | None]:
    """Read, check and (if needed) order a structure file.

    Parameters
    ----------
    path : Path
    kind : str, optional
        ``"bvse"`` or ``"mlip"``: which default size limit applies
        (:data:`halidelab.structures.checks.MAX_ATOMS`).
    max_atoms : int, optional
        The user's ``--max-atoms`` (overrides the default limit).
    variable_cell : bool
        The cell will be relaxed: a slab is refused.
    order : bool
        Build an ordered model of a partially occupied structure.
    quiet : bool
        No note/warning lines (they still go into the record where they matter).
    max_model_atoms : int
        Largest ordered model to build.

    Returns
    -------
    (Structure, dict or None)
        The structure to work on and the ordering record (None: used as read).
    """
    from halidelab.structures.checks import check_structure, size_limit
    from halidelab.structures.prototypes import read_structure

    s = read_structure(path, max_sites=size_limit(kind, max_atoms), kind=kind)
    info = None
    if order and not s.is_ordered:
        for w in check_structure(s, path.name, variable_cell=variable_cell):
            _say(warn, w, quiet)
        from halidelab.structures.models import order_structure, ordering_note

        limit = max(max_model_atoms, max_atoms or 0)
        s, info = order_structure(s, path.name, max_atoms=limit)
        _say(note, ordering_note(info), quiet)
        name = f"the ordered model of {path.name}"
    else:
        name = path.name
    for w in check_structure(s, name, kind=kind, max_atoms=max_atoms, variable_cell=variable_cell):
        _say(warn, w, quiet)
    return s, info


def _say(fn: Any, message: str, quiet: bool) -> None:
    if not quiet:
        fn(message)


def with_ordering(record: Any, info: dict[str, Any] | None) -> Any:
    """The record with ``provenance.parameters["ordering"] = info`` (unchanged if None)."""
    if info is None or not dataclasses.is_dataclass(record) or not hasattr(record, "provenance"):
        return record
    prov = record.provenance
    params = {**prov.parameters, "ordering": info}
    return dataclasses.replace(record, provenance=dataclasses.replace(prov, parameters=params))
