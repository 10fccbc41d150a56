"""Crystallography for the refinement: free lattice parameters per crystal system,
d-spacings from the reciprocal metric tensor, cell volumes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pymatgen.core import Structure

# ------------------------------------------------------------------------ lattice maths
#: Free lattice parameters per crystal system (monoclinic: the one non-90 angle).
SYSTEM_PARAMS: dict[str, tuple[str, ...]] = {
    "cubic": ("a",),
    "tetragonal": ("a", "c"),
    "hexagonal": ("a", "c"),
    "rhombohedral": ("a", "alpha"),
    "orthorhombic": ("a", "b", "c"),
    "monoclinic": ("a", "b", "c", "beta"),
    "triclinic": ("a", "b", "c", "alpha", "beta", "gamma"),
}
_NAMES = ("a", "b", "c", "alpha", "beta", "gamma")


def _cell_pattern(system: str, cell: np.ndarray, unique: str) -> list[str] | None:
    """Which of the model's cell parameters break the system's constraints (None if ok)."""
    a, b, c, al, be, ga = cell
    eq = lambda u, v: abs(u - v) <= 2e-3 * max(abs(u), abs(v))  # noqa: E731
    ang = lambda u, v: abs(u - v) <= 0.05  # noqa: E731
    checks = {
        "cubic": [eq(a, b), eq(a, c), ang(al, 90), ang(be, 90), ang(ga, 90)],
        "tetragonal": [eq(a, b), ang(al, 90), ang(be, 90), ang(ga, 90)],
        "hexagonal": [eq(a, b), ang(al, 90), ang(be, 90), ang(ga, 120)],
        "rhombohedral": [eq(a, b), eq(a, c), ang(al, be), ang(al, ga)],
        "orthorhombic": [ang(al, 90), ang(be, 90), ang(ga, 90)],
        "monoclinic": [
            ang(x, 90)
            for n, x in zip(("alpha", "beta", "gamma"), (al, be, ga), strict=True)
            if n != unique
        ],
        "triclinic": [],
    }[system]
    return None if all(checks) else [system]


def _expand(system: str, unique: str, p: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Full (a, b, c, alpha, beta, gamma) from the free parameters ``p``."""
    a = p[0]
    if system == "cubic":
        return np.array([a, a, a, 90.0, 90.0, 90.0])
    if system == "tetragonal":
        return np.array([a, a, p[1], 90.0, 90.0, 90.0])
    if system == "hexagonal":
        return np.array([a, a, p[1], 90.0, 90.0, 120.0])
    if system == "rhombohedral":
        return np.array([a, a, a, p[1], p[1], p[1]])
    if system == "orthorhombic":
        return np.array([p[0], p[1], p[2], 90.0, 90.0, 90.0])
    if system == "monoclinic":
        cell = np.array([p[0], p[1], p[2], 90.0, 90.0, 90.0])
        cell[3 + ("alpha", "beta", "gamma").index(unique)] = p[3]
        return cell
    return np.asarray(p, dtype=float).copy()


def reciprocal_metric(cell: Sequence[float]) -> np.ndarray:
    """Reciprocal metric tensor G* (1/Å^2) of a cell (a, b, c in Å, angles in deg)."""
    a, b, c, al, be, ga = cell
    ca, cb, cg = (math.cos(math.radians(v)) for v in (al, be, ga))
    g = np.array(
        [
            [a * a, a * b * cg, a * c * cb],
            [a * b * cg, b * b, b * c * ca],
            [a * c * cb, b * c * ca, c * c],
        ]
    )
    return np.linalg.inv(g)


def d_spacing(hkl: np.ndarray, cell: Sequence[float]) -> np.ndarray:
    """Interplanar spacings d(hkl) = 1/sqrt(h G* h^T) in Å for rows of ``hkl``."""
    h = np.atleast_2d(np.asarray(hkl, dtype=float))
    q2 = np.einsum("ij,jk,ik->i", h, reciprocal_metric(cell), h)
    return 1.0 / np.sqrt(q2)


def cell_volume(cell: Sequence[float]) -> float:
    """Cell volume (Å^3) from (a, b, c, alpha, beta, gamma)."""
    a, b, c, al, be, ga = cell
    ca, cb, cg = (math.cos(math.radians(v)) for v in (al, be, ga))
    return a * b * c * math.sqrt(max(1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg, 0.0))


def crystal_system_of(structure: Structure, symprec: float = 0.1) -> tuple[str, str]:
    """Crystal system for the refinement and the monoclinic unique angle.

    Trigonal cells in hexagonal axes give ``"hexagonal"``, in rhombohedral axes
    ``"rhombohedral"``. Returns (system, unique angle name).
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        system = SpacegroupAnalyzer(structure, symprec=symprec).get_crystal_system()
    except Exception:  # spglib may fail on odd disordered cells: fall back to the metric
        system = "triclinic"
    cell = np.array([*structure.lattice.abc, *structure.lattice.angles])
    if system == "trigonal":
        system = "hexagonal" if abs(cell[5] - 120) < 0.05 else "rhombohedral"
    return system, _unique_angle(cell)


def _unique_angle(cell: np.ndarray) -> str:
    dev = np.abs(cell[3:] - 90.0)
    return ("alpha", "beta", "gamma")[int(np.argmax(dev))]
