"""Parent frameworks: shipped experimental CIFs and lattice estimates.

The trigonal P-3m1 framework of Li3YCl6 (hcp Cl, Li on 6g/6h, Y on 1a and split 2d)
also serves Li2ZrCl6 and Li3ErCl6 (M on the Y sites, Li reduced to the composition);
the monoclinic C2/m framework of Li3InCl6 (ccp Cl) serves Li3ScCl6, annealed Li2ZrCl6
and other ccp Li_a M Cl6. Where the parent itself is shipped (Li3YBr6) its own CIF is
used.
"""

from __future__ import annotations

import dataclasses
import warnings
from importlib import resources
from pathlib import Path

from pymatgen.core import Composition, Species, Structure

from halidelab.composition import (
    ANION_VALENCE,
    DesignedComposition,
    default_valence,
    design_composition,
)
from halidelab.errors import StructureError
from halidelab.rules import assess, known_polymorphs, mean_radii

DATA = resources.files("halidelab") / "data" / "structures"


@dataclasses.dataclass(frozen=True)
class Framework:
    """A shipped prototype structure.

    Attributes
    ----------
    key : str
        Short name, e.g. ``"Li3YCl6-P-3m1"``.
    cif : str
        File name under ``halidelab/data/structures``.
    space_group : str
    packing : str
    """

    key: str
    cif: str
    space_group: str
    packing: str
    formula: str = ""
    #: an in-memory structure (``Structure.as_dict()``) instead of the file ``cif``
    structure: dict | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def compound(self) -> str:
        """Reduced formula of the compound the file describes."""
        return _reduced(self.formula or self.key.split("-")[0])

    def load(self) -> Structure:
        """The prototype as a (partially occupied) pymatgen Structure."""
        if self.structure is not None:
            return Structure.from_dict(self.structure)
        path = Path(self.cif)
        return read_structure(path if path.is_absolute() else Path(str(DATA / self.cif)))


def framework_from_cif(path: str | Path) -> Framework:
    """A user's CIF (or POSCAR) as the framework, e.g. their own refined structure.

    Raises
    ------
    StructureError
        When the file cannot be read or has no Li, no framework cation or no anion.
    """
    path = Path(path).resolve()
    return framework_from_structure(read_structure(path), path.stem, str(path))


def framework_from_structure(s: Structure, name: str, cif: str = "") -> Framework:
    """A (partially occupied) structure as the framework of ordered models.

    Parameters
    ----------
    s : Structure
    name : str
        Key of the framework in messages and records (the file stem).
    cif : str
        The file it came from ('' for an in-memory structure).

    Raises
    ------
    StructureError
        No Li, no framework cation or no anion.
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    els = {e.symbol for e in s.composition.elements}
    if "Li" not in els or not els & set(ANION_VALENCE):
        raise StructureError(
            f"{name} is not a Li-(M)-X framework: it needs Li and an anion (elements: "
            f"{', '.join(sorted(els))})"
        )
    try:
        sg = SpacegroupAnalyzer(s, symprec=0.1).get_space_group_symbol()
    except Exception:  # spglib fails on some disordered cells: the label is informative only
        sg = "P1"
    # occupancies in CIFs are rounded (Li3InCl6 has In2.03 per cell): round per cell
    formula = Composition(
        {e: round(n) for e, n in s.composition.element_composition.items() if round(n) > 0}
    ).reduced_formula
    return Framework(
        name, cif or name, sg, "from file", formula=formula, structure=None if cif else s.as_dict()
    )


FRAMEWORKS: dict[str, Framework] = {
    "Li3YCl6-P-3m1": Framework("Li3YCl6-P-3m1", "Li3YCl6_P-3m1_obelix-ei3.cif", "P-3m1", "hcp"),
    "Li3InCl6-C2/m": Framework("Li3InCl6-C2/m", "Li3InCl6_C2_m_obelix-de5.cif", "C2/m", "ccp"),
    "Li3YBr6-C2/m": Framework("Li3YBr6-C2/m", "Li3YBr6_C2_m_obelix-elz.cif", "C2/m", "ccp"),
}

#: Measured lattices of parents in a borrowed framework, in A and degrees
#: (Li2ZrCl6 ball-milled trigonal: a ~ 10.9-11.0, c ~ 5.9-6.0 A, MISSION.md / Chen 2025).
REFERENCE_LATTICES: dict[tuple[str, str], dict[str, float]] = {
    ("Li2ZrCl6", "P-3m1"): {"a": 10.94, "b": 10.94, "c": 5.93},
}


def read_structure(
    path: str | Path, max_sites: int | None = None, kind: str | None = None
) -> Structure:
    """Read a CIF/POSCAR/extxyz file, or a JSON Wyckoff table, into a pymatgen Structure.

    A ``.json`` file is a space group + Wyckoff-position table expanded by
    :func:`halidelab.structures.builders.read_wyckoff_json` (for phases with no CIF).

    Parameters
    ----------
    path : path
    max_sites : int, optional
        Refuse, before parsing, a file that lists more sites than this (pymatgen's CIF
        reader is quadratic in the number of atoms: a 13,824-atom P1 CIF takes minutes).
        The count is a lower bound of the atoms (CIF rows of the asymmetric unit), so an
        ordered structure within the limit is never refused here.
    kind : str, optional
        The work the limit is for, for the message (:func:`halidelab.structures.checks.size_error`).

    Raises
    ------
    StructureError
        Missing, empty or unreadable file, a file without atoms, non-finite
        coordinates, occupancies above 1, a POSCAR whose counts disagree with its
        coordinate lines, or more sites than ``max_sites``.
    """
    path = Path(path)
    if not path.is_file():
        raise StructureError(f"structure file not found: {path}")
    if path.stat().st_size == 0:
        raise StructureError(f"structure file is empty: {path}")
    if _looks_like_poscar(path):
        _check_poscar_counts(path)
    if max_sites is not None:
        n = _quick_site_count(path)
        if n is not None and n > max_sites:
            from halidelab.structures.checks import size_error

            raise size_error(path.name, n, max_sites, kind)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if path.suffix.lower() == ".json":
                from halidelab.structures.builders import read_wyckoff_json

                return read_wyckoff_json(path)
            if path.suffix.lower() in (".xyz", ".extxyz"):
                from ase.io import read as ase_read
                from pymatgen.io.ase import AseAtomsAdaptor

                s = AseAtomsAdaptor.get_structure(ase_read(path))
            else:
                s = Structure.from_file(path)
    except StructureError:
        raise
    except Exception as exc:  # pymatgen/ase raise many kinds on corrupt files
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StructureError(f"cannot read structure {path.name}: {msg[:160]}") from None
    if len(s) == 0:
        raise StructureError(f"no atoms in {path.name}")
    import numpy as np

    if not (np.isfinite(s.lattice.matrix).all() and np.isfinite(s.frac_coords).all()):
        raise StructureError(f"{path.name} has non-finite lattice vectors or coordinates (NaN/inf)")
    occ = [sum(site.species.values()) for site in s]
    if any(not 0 < o <= 1.0 + 1e-3 for o in occ):
        raise StructureError(
            f"{path.name} has a site occupancy outside 0-1 (total {max(occ):g}): "
            "fix the occupancies"
        )
    if s.volume < 1.0:
        raise StructureError(f"{path.name} has a degenerate cell (volume {s.volume:.3g} A^3)")
    return s


def _quick_site_count(path: Path) -> int | None:
    """Sites a structure file lists, counted without parsing it (None: cannot tell).

    CIF: rows of the ``_atom_site_`` loop (the asymmetric unit: a lower bound of the
    atoms); POSCAR: the sum of the counts line; (ext)xyz: the first line.
    """
    try:
        with path.open(errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    suffix = path.suffix.lower()
    if suffix in (".xyz", ".extxyz"):
        try:
            return int(lines[0].split()[0])
        except (IndexError, ValueError):
            return None
    if _looks_like_poscar(path):
        for i in (5, 6):
            try:
                return sum(int(v) for v in lines[i].split())
            except (IndexError, ValueError):
                continue
        return None
    if suffix != ".cif":
        return None
    rows, in_loop, in_header, is_site = 0, False, False, False
    for raw in lines:
        line = raw.strip()
        if line.lower().startswith("loop_"):
            in_loop, in_header, is_site = True, True, False
            continue
        if not in_loop:
            continue
        if line.startswith("_"):
            if not in_header:
                in_loop = False
                continue
            tag = line.split()[0].lower()
            if tag.startswith("_atom_site_") and not tag.startswith("_atom_site_aniso"):
                is_site = True
            continue
        in_header = False
        if not line or line.startswith("#"):
            continue
        if line.lower().startswith("data_"):
            in_loop = False
            continue
        if is_site:
            rows += 1
    return rows or None


def _looks_like_poscar(path: Path) -> bool:
    """The names pymatgen reads as VASP POSCAR/CONTCAR (``Structure.from_file``)."""
    name = path.name.upper()
    return (
        "POSCAR" in name
        or "CONTCAR" in name
        or name.endswith((".VASP", ".POSCAR"))
        or path.suffix == ""
    )


def _floats(tokens: list[str], n: int) -> bool:
    if len(tokens) < n:
        return False
    try:
        for tok in tokens[:n]:
            float(tok)
    except ValueError:
        return False
    return True


def _check_poscar_counts(path: Path) -> None:
    """Refuse a POSCAR whose atom counts disagree with its coordinate lines.

    pymatgen reads exactly ``sum(counts)`` lines after the coordinate-mode line and
    ignores the rest, so a counts line that is too small silently drops atoms.
    Coordinate lines are the consecutive lines of three numbers after the mode line
    (a CONTCAR's velocities come after a blank line).
    """
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return
    if len(lines) < 8 or not all(_floats(lines[i].split(), 3) for i in (2, 3, 4)):
        return  # not a POSCAR layout: let the reader say what is wrong
    i = 5
    tokens = lines[i].split()
    if tokens and not tokens[0].lstrip("-").isdigit():
        i += 1  # species names line (VASP 5)
        if i >= len(lines):
            return
        tokens = lines[i].split()
    try:
        counts = [int(v) for v in tokens]
    except ValueError:
        return
    i += 1
    if i < len(lines) and lines[i].strip()[:1] in ("s", "S"):
        i += 1  # Selective dynamics
    i += 1  # Direct / Cartesian
    n_coord = 0
    while i + n_coord < len(lines) and _floats(lines[i + n_coord].split(), 3):
        n_coord += 1
    total = sum(counts)
    if n_coord != total:
        raise StructureError(
            f"{path.name}: its counts line says {total} atoms ({' '.join(tokens)}) but it has "
            f"{n_coord} coordinate lines: fix the counts (a reader would silently "
            f"{'drop' if n_coord > total else 'misread'} atoms)"
        )


def _reduced(formula: str | Composition) -> str:
    return Composition(formula).reduced_formula


def choose_framework(
    design: DesignedComposition, polymorph: str | None = None
) -> tuple[Framework, str]:
    """Pick the prototype for a parent: (framework, space group of the modelled phase).

    Order: the user's ``polymorph``; else the parent's first known polymorph (the phase
    of the reference studies, e.g. ball-milled P-3m1 Li2ZrCl6); else the family that the
    radius ratio t predicts.

    Raises
    ------
    StructureError
        When no shipped framework has that space group.
    """
    parent = design.parent
    if polymorph is None:
        known = known_polymorphs(parent)
        if known:
            polymorph = known[0].space_group
        else:
            polymorph = assess(design_composition(parent)).packing.family.split()[-1]
    sg = polymorph.replace(" ", "")
    own = [f for f in FRAMEWORKS.values() if f.compound == _reduced(parent) and f.space_group == sg]
    if own:
        return own[0], sg
    same_anion = [
        f
        for f in FRAMEWORKS.values()
        if f.space_group == sg
        and set(Composition(f.compound).elements)
        & set(Composition(parent).elements)
        & {e for e in Composition(parent).elements if e.symbol in ANION_VALENCE}
    ]
    cands = same_anion or [f for f in FRAMEWORKS.values() if f.space_group == sg]
    if not cands:
        have = sorted({f.space_group for f in FRAMEWORKS.values()})
        raise StructureError(
            f"no shipped framework for {parent} in {polymorph}: available space groups are "
            f"{', '.join(have)} (choose one with --polymorph, or start from your own CIF)"
        )
    return cands[0], sg


def lattice_scale(design: DesignedComposition, proto: Structure) -> float:
    """Isotropic scale factor from the prototype to ``design`` by mean M-X bond length.

    A radius-based Vegard estimate: a(x)/a0 = (r_M(x) + r_X(x)) / (r_M0 + r_X0) with
    composition-weighted Shannon ionic radii (CN 6). It is a first estimate for building
    models, not a prediction; relaxation with an MLIP gives the computed lattice.
    """
    # usual valences, not charge balance: CIF occupancies are rounded (Li3InCl6 has In2.03)
    proto_comp = Composition(
        {
            Species(el.symbol, default_valence(el.symbol, el.symbol in ANION_VALENCE)): n
            for el, n in proto.composition.element_composition.items()
        }
    )
    rm0, rx0 = mean_radii(proto_comp, "ionic")
    rm, rx = mean_radii(design, "ionic")
    return (rm + rx) / (rm0 + rx0)


def parent_lattice(
    design: DesignedComposition, framework: Framework, space_group: str, proto: Structure
) -> tuple[dict[str, float], str]:
    """Lattice (a, b, c in A) of the undoped parent in this framework, and its source."""
    parent = _reduced(design.parent)
    if framework.packing == "from file" and framework.compound == parent:
        a, b, c = proto.lattice.abc  # the user's own (refined) lattice comes first
        return {"a": a, "b": b, "c": c}, f"your file {Path(framework.cif).name}"
    for (name, sg), abc in REFERENCE_LATTICES.items():
        if _reduced(name) == parent and sg == space_group:
            return dict(abc), "measured (reference table)"
    if framework.compound == parent:
        a, b, c = proto.lattice.abc
        return {"a": a, "b": b, "c": c}, f"shipped CIF {framework.cif}"
    f = lattice_scale(design_composition(design.parent), proto)
    a, b, c = proto.lattice.abc
    return (
        {"a": a * f, "b": b * f, "c": c * f},
        f"{framework.cif} scaled by mean M-X bond length (estimate)",
    )


def vegard_lattice(
    design: DesignedComposition, framework: Framework | None = None, polymorph: str | None = None
) -> dict[str, float]:
    """First-estimate lattice of a doped composition, in A, degrees and A^3.

    The parent's lattice (measured where known) scaled by the ratio of mean M-X bond
    lengths (Shannon ionic radii) of the doped and undoped compositions: Vegard-like,
    linear in x. For Nb5+ on Zr4+ it contracts, as measured.
    """
    if framework is None:
        framework, polymorph = choose_framework(design, polymorph)
    proto = framework.load()
    base, _ = parent_lattice(design, framework, polymorph or framework.space_group, proto)
    f = lattice_scale(design, proto) / lattice_scale(design_composition(design.parent), proto)
    alpha, beta, gamma = proto.lattice.angles
    a, b, c = base["a"] * f, base["b"] * f, base["c"] * f
    from pymatgen.core import Lattice

    vol = Lattice.from_parameters(a, b, c, alpha, beta, gamma).volume
    return {
        "a_A": a,
        "b_A": b,
        "c_A": c,
        "alpha_deg": alpha,
        "beta_deg": beta,
        "gamma_deg": gamma,
        "volume_A3": vol,
    }
