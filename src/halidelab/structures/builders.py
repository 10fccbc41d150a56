"""Frameworks from a space group and Wyckoff positions, where no CIF exists.

A user copies a paper's structure table (space group, lattice, one position per
Wyckoff orbit with its occupancy) into a small JSON file, and halidelab expands it with
the space group's operations (pymatgen ``Structure.from_spacegroup``). The result is a
framework like a shipped CIF: ``halidelab structure Li3YbCl6 --framework table.json``.

JSON layout::

    {"space_group": "P-3m1",
     "lattice": {"a": 11.21, "c": 6.047},              # A and degrees; missing ones
     "sites": [                                         # follow the crystal system
        {"species": "Li", "coords": [0, 0.3256, 0.5], "occupancy": 0.875},
        {"species": "Cl", "coords": [0.1084, 0.2167, 0.7765]}]}
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pymatgen.core import Lattice, Structure
from pymatgen.symmetry.groups import SpaceGroup

from halidelab.errors import StructureError

_SYSTEM_DEFAULTS = {
    "cubic": lambda p: (p["a"], p["a"], p["a"], 90, 90, 90),
    "tetragonal": lambda p: (p["a"], p["a"], p["c"], 90, 90, 90),
    "orthorhombic": lambda p: (p["a"], p["b"], p["c"], 90, 90, 90),
    "hexagonal": lambda p: (p["a"], p["a"], p["c"], 90, 90, 120),
    "trigonal": lambda p: (p["a"], p["a"], p["c"], 90, 90, 120),
    "monoclinic": lambda p: (p["a"], p["b"], p["c"], 90, p["beta"], 90),
    "triclinic": lambda p: (p["a"], p["b"], p["c"], p["alpha"], p["beta"], p["gamma"]),
}


def from_wyckoff(
    space_group: str | int, lattice: Mapping[str, float], sites: Sequence[Mapping[str, Any]]
) -> Structure:
    """Expand one position per Wyckoff orbit into the full (partially occupied) cell.

    Parameters
    ----------
    space_group : str or int
        Hermann-Mauguin symbol (``"P-3m1"``, ``"Pnma"``, ``"Fd-3m"``) or number.
    lattice : mapping
        ``a, b, c`` in A and ``alpha, beta, gamma`` in degrees; only the free ones of
        the crystal system are needed (``a, c`` for trigonal/hexagonal).
    sites : sequence of mappings
        ``species`` (element), ``coords`` (fractional), optional ``occupancy`` (1).

    Raises
    ------
    StructureError
        Unknown space group, missing lattice parameters, bad sites, or overlapping atoms.
    """
    try:
        sg = (
            SpaceGroup.from_int_number(int(space_group))
            if str(space_group).isdigit()
            else SpaceGroup(str(space_group).replace(" ", ""))
        )
    except Exception:
        raise StructureError(
            f"unknown space group {space_group!r}: use a symbol like P-3m1 or a number"
        ) from None
    system = sg.crystal_system
    try:
        a, b, c, al, be, ga = _SYSTEM_DEFAULTS[system]({k: float(v) for k, v in lattice.items()})
    except KeyError as exc:
        raise StructureError(f"a {system} lattice needs {exc.args[0]!r} (A or degrees)") from None
    if min(a, b, c) <= 0:
        raise StructureError("lattice lengths must be positive")
    if not sites:
        raise StructureError("no sites given: list one position per Wyckoff orbit")
    species, coords = [], []
    for i, site in enumerate(sites):
        try:
            el = str(site["species"])
            xyz = [float(v) for v in site["coords"]]
            occ = float(site.get("occupancy", 1.0))
        except (KeyError, TypeError, ValueError):
            raise StructureError(f"site {i + 1} needs 'species' and three 'coords'") from None
        if len(xyz) != 3 or not 0 < occ <= 1:
            raise StructureError(f"site {i + 1}: three coordinates and 0 < occupancy <= 1 needed")
        species.append({el: occ})
        coords.append(xyz)
    try:
        spec = int(space_group) if str(space_group).isdigit() else str(space_group).replace(" ", "")
        return Structure.from_spacegroup(
            spec, Lattice.from_parameters(a, b, c, al, be, ga), species, coords, tol=0.01
        )
    except Exception as exc:
        raise StructureError(f"cannot expand the Wyckoff positions in {sg.symbol}: {exc}") from None


def read_wyckoff_json(path: str | Path) -> Structure:
    """Build a framework from a JSON structure table (see the module docstring)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise StructureError(f"structure table not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise StructureError(
            f"{path.name} is not valid JSON: {exc.msg} (line {exc.lineno})"
        ) from None
    if not isinstance(data, dict) or not {"space_group", "lattice", "sites"} <= set(data):
        raise StructureError(f"{path.name} needs 'space_group', 'lattice' and 'sites'")
    return from_wyckoff(data["space_group"], data["lattice"], data["sites"])
