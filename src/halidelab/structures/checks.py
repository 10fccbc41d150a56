"""One sanity check for every structure a command is given.

``check_structure`` runs before any work on a structure file (``bvse``, ``relax``,
``neb``, ``md``, ``structure --framework``, ``xrd simulate``, the stability commands) and
refuses what would give a confident wrong answer, with the reason and what to do:

- **Overlapping atoms.** Two atoms closer than :data:`MIN_DISTANCE_A` (0.5 A, shorter
  than any bond, H2 included) are an error naming the pair. Closer than
  :data:`WARN_FRACTION` (75 %) of the sum of their covalent radii (Cordero et al. 2008,
  pymatgen's table; Li-Cl 1.73 A, Zr-Cl 2.08 A, Li-Li 1.92 A, against measured 2.4-2.7,
  2.45 and >= 2.5 A in these halides) is a warning: a bond compressed by a quarter
  does not occur in a solid at ambient pressure. Partially occupied positions closer
  than that are alternatives of one site (split sites) when their occupancies add up
  to at most 1, and are not counted.
- **Vacuum.** An empty slab thicker than :data:`VACUUM_GAP_A` (6 A: wider than the
  cutoff of CHGNet and SevenNet, so the two surfaces do not see each other) along a cell
  axis means a slab or a molecule, not a bulk crystal. A variable-cell relaxation of
  it would collapse the vacuum: it is refused (relax with a fixed cell); other commands
  warn.
- **Size.** More than ``max_atoms`` atoms is refused unless the user raises the limit
  (``--max-atoms``): defaults :data:`MAX_ATOMS` per kind of work, from measured costs
  (DESIGN.md, ``benchmarks/bench_bvse.py``).

POSCAR files whose atom counts disagree with their coordinate lines are caught when
they are read (:func:`halidelab.structures.prototypes.read_structure`).
"""

from __future__ import annotations

import numpy as np
from pymatgen.core import Structure

from halidelab.errors import StructureError

#: Below this distance (A) two atoms overlap: an error.
MIN_DISTANCE_A = 0.5
#: Warn when a distance is below this fraction of the two covalent radii.
WARN_FRACTION = 0.75
#: An empty slab thicker than this along a cell axis (A) is vacuum.
VACUUM_GAP_A = 6.0
#: Default largest structure per kind of work (atoms); ``--max-atoms`` raises it.
#: bvse: the cost is linear in the cell volume (grid points x neighbours in r_cut);
#: DESIGN.md measures 3.5-5 s for ~130 atoms at 0.25 A on the 2-core CPU, so 2000 atoms
#: is a few minutes, and a 13,824-atom cell (estimated, linear) 10-20 min with a grid of
#: ~3e7 points at 0.2 A. mlip: a relax, MD or NEB is hundreds to thousands of model
#: calls, each seconds for 1000 atoms on a CPU (CHGNet 0.12-0.35 s for ~70 atoms).
MAX_ATOMS: dict[str, int] = {"bvse": 2000, "mlip": 1000}


def _cov_radius(symbol: str) -> float:
    from pymatgen.analysis.molecule_structure_comparator import CovalentRadius

    return float(CovalentRadius.radius.get(symbol, 1.5))


def _occupancies(structure: Structure) -> np.ndarray:
    return np.array([sum(site.species.values()) for site in structure])


def close_pairs(
    structure: Structure, cutoff_A: float | None = None
) -> list[tuple[float, int, int, float]]:
    """Pairs closer than the warning threshold: ``(distance, i, j, threshold)``, closest first.

    Split sites (two partial positions whose occupancies add up to <= 1) are skipped.
    """
    symbols = [max(site.species.items(), key=lambda kv: kv[1])[0].symbol for site in structure]
    radii = {el: _cov_radius(el) for el in set(symbols)}
    r_max = WARN_FRACTION * 2 * max(radii.values())
    cutoff = max(r_max, MIN_DISTANCE_A) if cutoff_A is None else cutoff_A
    # periodic distances do not change when every site is wrapped into the cell; the
    # neighbour search's memory grows with the span of the coordinates (a site at
    # x = 1e9 made it allocate tens of GB)
    wrapped = Structure(
        structure.lattice, structure.species_and_occu, np.mod(structure.frac_coords, 1.0)
    )
    centers, points, _, dists = wrapped.get_neighbor_list(cutoff, exclude_self=True)
    occ = _occupancies(structure)
    out = []
    for i, j, d in zip(centers, points, dists, strict=True):
        if i > j or (i == j and d < 1e-8):
            continue
        if (occ[i] < 0.999 or occ[j] < 0.999) and occ[i] + occ[j] <= 1.0 + 1e-3:
            continue  # alternative positions of one (split) site
        thr = WARN_FRACTION * (radii[symbols[i]] + radii[symbols[j]])
        if d < max(thr, MIN_DISTANCE_A):
            out.append((float(d), int(i), int(j), float(thr)))
    out.sort()
    return out


#: Largest |fractional coordinate| accepted: beyond it a coordinate keeps too few digits
#: below the decimal point to place the atom (and no writer produces it).
MAX_FRACTIONAL = 1000.0
#: Smallest volume per atom accepted, A^3 (solids: ~5-60; below 1 the atoms overlap).
MIN_VOLUME_PER_ATOM_A3 = 1.0


def _check_cell(structure: Structure, name: str) -> None:
    """Refuse a cell no neighbour search or model should see: non-finite or collapsed
    volume, coordinates far outside the cell."""
    n = max(len(structure), 1)
    vol = float(abs(np.linalg.det(structure.lattice.matrix)))
    if not np.isfinite(vol) or vol / n < MIN_VOLUME_PER_ATOM_A3:
        raise StructureError(
            f"{name}: cell volume {vol:.3g} A^3 for {n} atoms ({vol / n:.3g} A^3 per atom; "
            f"solids have 5-60): the lattice vectors are wrong (scale factor or units?); "
            "fix the file"
        )
    far = np.abs(structure.frac_coords).max(axis=1) if len(structure) else np.zeros(0)
    if far.size and far.max() > MAX_FRACTIONAL:
        k = int(far.argmax())
        raise StructureError(
            f"{name}: site {k + 1} ({_label(structure, k)}) has fractional coordinate "
            f"{far[k]:.3g}, far outside the cell: the coordinates are wrong (Cartesian read as "
            "fractional?); fix the file"
        )


def vacuum_gap(structure: Structure) -> tuple[float, int]:
    """Thickest empty slab parallel to a cell face, A, and its axis (0, 1, 2 = a, b, c).

    For axis i the atoms are projected on the normal of the face spanned by the other
    two vectors; the largest gap between neighbouring planes (periodically) times the
    interplanar spacing V / |a_j x a_k| is the empty thickness.
    """
    frac = np.mod(structure.frac_coords, 1.0)
    m = structure.lattice.matrix
    vol = abs(np.linalg.det(m))
    best = (0.0, 0)
    for ax in range(3):
        d = vol / np.linalg.norm(np.cross(m[(ax + 1) % 3], m[(ax + 2) % 3]))
        f = np.sort(frac[:, ax])
        gaps = np.diff(np.concatenate([f, [f[0] + 1.0]]))
        gap = float(gaps.max() * d)
        if gap > best[0]:
            best = (gap, ax)
    return best


def check_structure(
    structure: Structure,
    name: str = "the structure",
    *,
    max_atoms: int | None = None,
    kind: str | None = None,
    variable_cell: bool = False,
    force: bool = False,
) -> list[str]:
    """Refuse a structure that would give a wrong answer; return warnings (one line each).

    Parameters
    ----------
    structure : Structure
        As read (partial occupancies allowed: split sites are not overlaps).
    name : str
        The file name, for messages.
    max_atoms : int, optional
        Largest number of sites accepted (default :data:`MAX_ATOMS` ``[kind]``; None
        with no kind: no limit).
    kind : str, optional
        ``"bvse"`` or ``"mlip"``: which default limit (others: none).
    variable_cell : bool
        The cell will be relaxed: a slab is refused instead of warned about.
    force : bool
        Skip the size limit (not the overlap check).

    Raises
    ------
    StructureError
        Atoms closer than 0.5 A (the pair is named), a slab for a variable-cell
        relaxation, more atoms than the limit.
    """
    warnings: list[str] = []
    n = len(structure)
    limit = size_limit(kind, max_atoms)
    if limit is not None and n > limit and not force:
        raise size_error(name, n, limit, kind)
    _check_cell(structure, name)
    pairs = close_pairs(structure)
    if pairs:
        d, i, j, thr = pairs[0]
        a, b = _label(structure, i), _label(structure, j)
        if d < MIN_DISTANCE_A:
            raise StructureError(
                f"{name}: atoms {a} and {b} are {d:.3f} A apart (below {MIN_DISTANCE_A} A): "
                "they overlap; the file has duplicate atoms or wrong coordinates; fix it"
            )
        more = f" (and {len(pairs) - 1} more pairs)" if len(pairs) > 1 else ""
        warnings.append(
            f"{name}: atoms {a} and {b} are {d:.2f} A apart, below {WARN_FRACTION:.0%} of their "
            f"covalent radii sum ({thr:.2f} A){more}: check the file; results for it are "
            "unreliable"
        )
    gap, ax = vacuum_gap(structure)
    if gap > VACUUM_GAP_A:
        axis = "abc"[ax]
        if variable_cell:
            raise StructureError(
                f"{name} has {gap:.1f} A of empty space along {axis}: it is a slab or a molecule, "
                "not a bulk crystal; a variable-cell relaxation would collapse the vacuum: relax "
                "it with --fixed-cell, or give the bulk cell"
            )
        warnings.append(
            f"{name} has {gap:.1f} A of empty space along {axis}: a slab or molecule, "
            "not a bulk crystal; bulk properties computed from it are not bulk ones"
        )
    return warnings


def size_limit(kind: str | None, max_atoms: int | None = None) -> int | None:
    """The user's ``--max-atoms``, else the default of :data:`MAX_ATOMS` for ``kind``."""
    return max_atoms if max_atoms is not None else MAX_ATOMS.get(kind or "", None)


def size_error(name: str, n: int, limit: int, kind: str | None) -> StructureError:
    """The one message for a structure above the size limit."""
    work = {"bvse": "BVSE", "mlip": "MLIP work"}.get(kind or "", "this command")
    return StructureError(
        f"{name} has {n:,} atoms, above the limit of {limit:,} for {work} (cost grows with "
        f"size): raise --max-atoms to {n} if you mean it"
    )


def _label(structure: Structure, i: int) -> str:
    site = structure[i]
    el = max(site.species.items(), key=lambda kv: kv[1])[0].symbol
    return f"#{i} ({el})"
