"""ASE ``Atoms`` from pymatgen ``Structure`` and back: the adapter at the engine's edge.

The engine (:mod:`halidelab.engine`) works on ASE ``Atoms``; users give pymatgen
``Structure`` objects (or ``Atoms``). :func:`to_atoms` refuses what no MLIP method can
run (partial occupancies, no atoms, no periodic 3D cell) with a message that says what
to do; :func:`to_structure` goes back for results.
"""

from __future__ import annotations

from typing import Any

from pymatgen.core import Structure

from halidelab.errors import StructureError


def to_atoms(structure: Structure | Any) -> Any:
    """An ASE ``Atoms`` copy of a pymatgen ``Structure`` or ``Atoms`` (no calculator).

    Raises
    ------
    StructureError
        Partially occupied sites (order the structure first), no atoms, no cell.
    """
    from ase import Atoms
    from pymatgen.io.ase import AseAtomsAdaptor

    if isinstance(structure, Atoms):
        atoms = structure.copy()
        atoms.calc = None
    elif isinstance(structure, Structure):
        if not structure.is_ordered:
            raise StructureError(
                f"{structure.composition.reduced_formula} has partially occupied sites: order "
                "the structure first (halidelab.build_models or `halidelab design --models`)"
            )
        s = structure.copy()
        s.remove_oxidation_states()
        atoms = AseAtomsAdaptor.get_atoms(s)
    else:
        raise StructureError(
            f"expected a pymatgen Structure or ase Atoms, got {type(structure).__name__}"
        )
    if len(atoms) == 0:
        raise StructureError("structure has no atoms")
    if not atoms.pbc.all() or atoms.cell.volume < 1.0:
        raise StructureError("structure needs a periodic 3D cell (pbc on all axes, nonzero volume)")
    return atoms


def to_structure(atoms: Any) -> Structure:
    """pymatgen ``Structure`` of ASE ``Atoms`` (constraints and calculator dropped)."""
    from pymatgen.io.ase import AseAtomsAdaptor

    a = atoms.copy()
    a.calc = None
    a.constraints = []
    return AseAtomsAdaptor.get_structure(a)
