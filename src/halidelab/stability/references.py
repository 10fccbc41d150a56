"""Competing phases: built in code, relaxed with ONE MLIP, cached in the results store.

Every energy on a hull, in a window or an interface reaction comes from the same MLIP
(``model``): the candidate and all its competing phases. Mixing these energies with
another source (Materials Project DFT, another MLIP) without a fitted correction is
wrong, so this module never does it and there is no network access anyway.

CHGNet 0.3.0 and SevenNet-0 were trained on MPtrj, whose energies carry the
MP2020 compatibility corrections (anion and +U corrections; CHGNet's fine-tuning example
applies ``MaterialsProject2020Compatibility`` to the labels). The MLIP energies are
therefore used as they are, with no further correction: applying MP2020 again would
count it twice.

Reference phases and how they are made (``REFERENCE_PHASES``)
-----------------------------------------------------------
- Elements. Li, Nb: bcc. Zr, Y, Co: hcp. Ni: fcc. In: body-centred tetragonal
  (I4/mmm, its real structure). Mn: *approximated as fcc* (gamma-Mn); the real
  alpha-Mn (58 atoms/cell) is not built, so Mn-containing hulls carry that error
  (gamma-Mn lies some tens of meV/atom above alpha-Mn in DFT).
- Chlorine: the real element is a molecular crystal (Cmca, solid Cl2). Two candidates are
  built: solid Cl2 at its measured cell (a 6.24, b 4.48, c 8.26 A, 160 K; positions
  relaxed at fixed cell, because an MPtrj-trained MLIP has no dispersion and the
  molecular crystal would expand without bound on a cell relaxation) and one Cl2
  molecule in a 12 A box (positions relaxed). The lower energy per atom is the Cl
  reference. An MLIP trained on crystals is least reliable exactly here; the oxidation
  limit of every chloride shifts one-to-one (per Cl transferred) with this energy, so it
  is the largest single uncertainty of the window. Oxygen: an O2 molecule in a box.
- Binaries with simple structures: LiCl, LiF, CoO, NiO, MnO (rock salt), Li2O
  (antifluorite), ZrO2 (*cubic fluorite, an approximation*: the ground state is
  monoclinic baddeleyite, ~0.1 eV/ZrO2 lower in DFT), Y2O3 and In2O3 (bixbyite, Ia-3, the
  real structure), Co3O4 (spinel), LiCoO2 (layered R-3m, alpha-NaFeO2 type).
- Layered and chain halides from a close-packed anion array (:func:`layered_halide`):
  M in octahedral holes of every other gap of a cubic-close-packed (ABC) Cl stacking,
  with a fraction of the holes in that gap filled in a pattern:
  MX2 all (CdCl2 type: CoCl2, NiCl2, MnCl2 - the real type), MX3 a honeycomb two thirds
  (AlCl3 type: YCl3 and InCl3 - the real type, up to the stacking of the honeycomb
  layers), MX4 one half as straight edge-sharing chains (*approximation* of ZrCl4, whose
  real Pca2_1 structure has zigzag edge-sharing chains in ccp Cl), MX5 two fifths as
  isolated edge-sharing M2X10 dimers (*approximation* of NbCl5, which is made of exactly
  such Nb2Cl10 dimers, packed differently). The approximate ones may lie a few to tens
  of meV/atom above the real polymorph: that makes a hull *too favourable* to the
  compounds that decompose into them. Their relaxed volumes are compared with the
  measured ones in ``benchmarks/bench_stability.py``.
- Ternaries from the shipped frameworks, ordered by :func:`build_models` in the
  prototype cell: Li3YCl6 (P-3m1), Li3InCl6 (C2/m), Li2ZrCl6 (P-3m1, the ball-milled
  phase, and C2/m, the annealed one).
- Sulfide side, for interfaces with the argyrodite Li6PS5Cl (builders and sources in
  :mod:`halidelab.stability.sulfides`): Li6PS5Cl (ordered: Cl on 4a, S2- on 4d, Li by
  Ewald ranking), gamma-Li3PS4 and Li7P3S11 (shipped OBELiX CIFs), Li2S (antifluorite),
  Li3P (Na3As type), black P, sulfur (alpha-S8 at its measured cell, positions relaxed,
  and an S8 molecule in a box; the lower is the reference, as for Cl2), ZrS2 (CdI2 type,
  the real type), NbS2 (2H, MoS2 type; 3R stacking also exists), P2S5 (*approximation*:
  one P4S10 molecule in a box, no intermolecular cohesion, so above the real solid),
  Y2S3 and In2S3 (*approximations*: bixbyite type, lattice scaled from the oxides; the
  real Y2S3 is monoclinic and beta-In2S3 a tetragonal defect spinel).
- Not built (honest gaps): :data:`MISSING_PHASES`, listed per chemical system by
  :func:`missing_phases` (LiNbCl6, oxychlorides, perchlorates, Nb oxides, Li-TM
  chlorides, P-S molecular solids other than P4S10, Li4P2S6, Li7PS6, P and S chlorides,
  metal sulfochlorides and thiophosphates, ternary Li-M sulfides ...). Missing phases can
  only make a hull energy too low and a reaction energy too small in magnitude.

Cache: each relaxation is a task ``stability-reference`` in the results store, keyed by
the hash of (structure, model, fmax, steps, relax_cell, code version): a second call with
the same store reads it back without running the MLIP.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import Composition, Element, Lattice, Structure

from halidelab.errors import StructureError
from halidelab.records import Provenance, Record
from halidelab.stability.sulfides import (
    ALPHA_SULFUR_LATTICE_A,
    alpha_sulfur,
    black_phosphorus,
    cdi2_type,
    gamma_li3ps4,
    li3p,
    li7p3s11,
    mos2_type,
    ordered_argyrodite,
    p4s10_molecule_in_box,
    s8_molecule_in_box,
)

#: Task kind of a cached reference relaxation.
REFERENCE_KIND = "stability-reference"


# --------------------------------------------------------------------------- builders
def bcc(element: str, a_A: float) -> Structure:
    """Conventional bcc cell (2 atoms) with lattice constant ``a_A`` (A)."""
    return Structure(Lattice.cubic(a_A), [element] * 2, [[0, 0, 0], [0.5, 0.5, 0.5]])


def fcc(element: str, a_A: float) -> Structure:
    """Primitive fcc cell (1 atom) of cubic lattice constant ``a_A`` (A)."""
    h = a_A / 2
    return Structure(Lattice([[0, h, h], [h, 0, h], [h, h, 0]]), [element], [[0, 0, 0]])


def hcp(element: str, a_A: float, c_A: float) -> Structure:
    """hcp cell (2 atoms), P6_3/mmc, lattice ``a_A``, ``c_A`` (A)."""
    return Structure(
        Lattice.hexagonal(a_A, c_A), [element] * 2, [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]]
    )


def body_centred_tetragonal(element: str, a_A: float, c_A: float) -> Structure:
    """I4/mmm cell with one atom at 2a (indium), conventional cell (2 atoms)."""
    return Structure(Lattice.tetragonal(a_A, c_A), [element] * 2, [[0, 0, 0], [0.5, 0.5, 0.5]])


def rock_salt(cation: str, anion: str, a_A: float) -> Structure:
    """Primitive rock-salt cell (2 atoms), cubic lattice constant ``a_A`` (A)."""
    h = a_A / 2
    return Structure(
        Lattice([[0, h, h], [h, 0, h], [h, h, 0]]), [cation, anion], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def fluorite(cation: str, anion: str, a_A: float, anti: bool = False) -> Structure:
    """Primitive (anti)fluorite cell (3 atoms): MX2 (fluorite) or X2M... (``anti``: M2X)."""
    h = a_A / 2
    lat = Lattice([[0, h, h], [h, 0, h], [h, h, 0]])
    if anti:  # Li2O: O on the fcc site, Li in the tetrahedral holes
        return Structure(lat, [anion, cation, cation], [[0, 0, 0], [0.25] * 3, [0.75] * 3])
    return Structure(lat, [cation, anion, anion], [[0, 0, 0], [0.25] * 3, [0.75] * 3])


def spinel(a_site: str, b_site: str, anion: str, a_A: float, u: float = 0.263) -> Structure:
    """Primitive normal spinel AB2X4 (14 atoms); ``u`` is the 32e anion parameter in origin
    choice 2 (A at 1/8). pymatgen's Fd-3m is origin choice 1 (A at 0, B at
    5/8, anion at u + 1/8)."""
    s = Structure.from_spacegroup(
        "Fd-3m",
        Lattice.cubic(a_A),
        [a_site, b_site, anion],
        [[0, 0, 0], [0.625] * 3, [u + 0.125] * 3],
    )
    return s.get_primitive_structure()


def bixbyite(
    metal: str, anion: str, a_A: float, x_m: float, o_xyz: tuple[float, float, float]
) -> Structure:
    """Primitive bixbyite M2O3 (Ia-3, 40 atoms): M on 8b and 24d (x,0,1/4), O on 48e."""
    s = Structure.from_spacegroup(
        "Ia-3",
        Lattice.cubic(a_A),
        [metal, metal, anion],
        [[0.25, 0.25, 0.25], [x_m, 0, 0.25], list(o_xyz)],
    )
    return s.get_primitive_structure()


def layered_lico2(
    a_A: float = 2.816, c_A: float = 14.05, z_o: float = 0.2604, li: str = "Li", m: str = "Co"
) -> Structure:
    """LiCoO2, R-3m (alpha-NaFeO2), primitive rhombohedral cell (4 atoms)."""
    s = Structure.from_spacegroup(
        "R-3m", Lattice.hexagonal(a_A, c_A), [li, m, "O"], [[0, 0, 0.5], [0, 0, 0], [0, 0, z_o]]
    )
    return s.get_primitive_structure()


def molecule_in_box(element: str, bond_A: float, box_A: float = 12.0) -> Structure:
    """A homonuclear diatomic in a (slightly non-cubic) periodic box, bond along x+y+z."""
    lat = Lattice.orthorhombic(box_A, box_A * 1.03, box_A * 1.06)
    d = bond_A / math.sqrt(3)
    return Structure(lat, [element] * 2, [[0, 0, 0], [d, d, d]], coords_are_cartesian=True)


def solid_chlorine() -> Structure:
    """Solid Cl2, Cmca (No. 64), a 6.24, b 4.48, c 8.26 A, Cl on 8f (0, 0.1017, 0.3784)."""
    return Structure.from_spacegroup(
        64, Lattice.orthorhombic(6.24, 4.48, 8.26), ["Cl"], [[0, 0.1017, 0.3784]]
    ).get_primitive_structure()


#: in-plane superlattice (rows in units of the triangular anion lattice) and the
#: filled octahedral holes (integer in-plane positions modulo that superlattice) per
#: filled gap, for MX_n made of close-packed X with M in every other gap.
_HOLE_PATTERNS: dict[
    int, tuple[tuple[tuple[int, int], tuple[int, int]], tuple[tuple[int, int], ...]]
] = {
    2: (((1, 0), (0, 1)), ((0, 0),)),  # CdCl2 / CdI2: full layers
    3: (((2, 1), (-1, 1)), ((0, 0), (1, 0))),  # honeycomb (AlCl3, BiI3)
    4: (((2, 0), (0, 1)), ((0, 0),)),  # straight edge-sharing chains
    5: (((2, -1), (3, 1)), ((0, 0), (1, 0))),  # isolated edge-sharing M2X10 dimers
}
_LAYER_XY = {"A": (0.0, 0.0), "B": (1 / 3, 2 / 3), "C": (2 / 3, 1 / 3)}


def layered_halide(
    metal: str, anion: str, n: int, bond_A: float, stacking: str = "ccp"
) -> Structure:
    """MX_n (n = 2..5) of close-packed X with M in octahedral holes of every other gap.

    Parameters
    ----------
    metal, anion : str
        Element symbols.
    n : int
        Anions per metal: 2 (CdCl2 type), 3 (honeycomb, AlCl3/BiI3 type), 4 (chains),
        5 (M2X10 dimers).
    bond_A : float
        Ideal M-X bond length (A); the X-X distance is ``bond_A * sqrt(2)``.
    stacking : {"ccp", "hcp"}
        ABC stacking (6 anion layers per cell) or AB (2 layers).

    Returns
    -------
    Structure
        Ideal (unrelaxed) structure; relax it before use.
    """
    if n not in _HOLE_PATTERNS:
        raise StructureError(f"layered_halide builds MX2..MX5, not MX{n}")
    seq = {"ccp": "ABCABC", "hcp": "AB"}.get(stacking)
    if seq is None:
        raise StructureError(f"stacking must be 'ccp' or 'hcp', got {stacking!r}")
    d_xx = bond_A * math.sqrt(2)
    h = d_xx * math.sqrt(2 / 3)  # spacing of close-packed layers
    n_layers = len(seq)
    rows, filled = _HOLE_PATTERNS[n]
    sup = np.array(rows)
    inv = np.linalg.inv(sup.T.astype(float))
    # enumerate triangular-lattice points inside the supercell
    pts = []
    span = int(np.abs(sup).sum()) + 2
    for i in range(-span, span + 1):
        for j in range(-span, span + 1):
            f = inv @ np.array([i, j], float)
            if np.all(f > -1e-9) and np.all(f < 1 - 1e-9):
                pts.append((i, j))
    n_sites = round(abs(np.linalg.det(sup)))
    if len(pts) != n_sites:  # pragma: no cover - geometry guard
        raise StructureError("internal error enumerating the hole lattice")
    a1 = np.array([d_xx, 0.0, 0.0])
    a2 = np.array([-d_xx / 2, d_xx * math.sqrt(3) / 2, 0.0])  # 120 degrees to a1
    c_len = h * n_layers
    lattice = Lattice(
        [sup[0, 0] * a1 + sup[0, 1] * a2, sup[1, 0] * a1 + sup[1, 1] * a2, [0, 0, c_len]]
    )

    def _member(i: int, j: int) -> bool:
        for s in filled:
            c = inv @ np.array([i - s[0], j - s[1]], float)
            if np.allclose(c, np.round(c), atol=1e-8):
                return True
        return False

    species, coords = [], []
    for k, letter in enumerate(seq):
        ox, oy = _LAYER_XY[letter]
        for i, j in pts:
            cart = (i + ox) * a1 + (j + oy) * a2 + np.array([0, 0, k * h])
            species.append(anion)
            coords.append(cart)
        if k % 2 == 0:  # filled gap between layer k and k+1
            hole = ({"A", "B", "C"} - {letter, seq[(k + 1) % n_layers]}).pop()
            hx, hy = _LAYER_XY[hole]
            for i, j in pts:
                if _member(i, j):
                    cart = (i + hx) * a1 + (j + hy) * a2 + np.array([0, 0, (k + 0.5) * h])
                    species.append(metal)
                    coords.append(cart)
    s = Structure(lattice, species, coords, coords_are_cartesian=True)
    if abs(s.composition[Element(anion)] / s.composition[Element(metal)] - n) > 1e-9:
        raise StructureError(f"layered_halide gave {s.composition.reduced_formula}, not M X{n}")
    return s


def _ternary(formula: str, polymorph: str | None = None) -> Structure:
    from halidelab.composition import design_composition
    from halidelab.structures.models import build_models

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ms = build_models(
            design_composition(formula), polymorph=polymorph, supercell=1, n_configs=1, seed=0
        )
    return ms.structures[0]


def _ncm811() -> Structure:
    """LiNi0.8Co0.1Mn0.1O2 approximated as one ordering in a 10-f.u. LiCoO2 supercell."""
    base = layered_lico2(a_A=2.87, c_A=14.2, m="Ni")
    s = base.copy()
    s.make_supercell([[2, 0, 0], [0, 5, 0], [0, 0, 1]])
    ni = [i for i, site in enumerate(s) if site.specie.symbol == "Ni"]
    # spread Co and Mn apart: the two TM sites farthest from each other
    dm = s.distance_matrix[np.ix_(ni, ni)]
    i, j = np.unravel_index(np.argmax(dm), dm.shape)
    s.replace(ni[i], "Co")
    s.replace(ni[j], "Mn")
    return s


@dataclasses.dataclass(frozen=True)
class ReferenceSpec:
    """How one competing phase is built.

    Attributes
    ----------
    name : str
        Label, e.g. ``"YCl3 (AlCl3 type)"``.
    formula : str
        Reduced formula.
    builder : callable
        Returns the unrelaxed pymatgen ``Structure``.
    source : str
        Where the structure comes from (prototype, measured lattice, shipped CIF).
    approximate : bool
        True where the built polymorph is not the known ground state.
    relax_cell : bool
        False for molecular crystals and molecules (fixed cell, positions only).
    measured_volume_A3_per_fu : float or None
        Measured volume per formula unit (A^3) for the lattice check.
    """

    name: str
    formula: str
    builder: Callable[[], Structure]
    source: str
    approximate: bool = False
    relax_cell: bool = True
    measured_volume_A3_per_fu: float | None = None

    @property
    def elements(self) -> frozenset[str]:
        return frozenset(e.symbol for e in Composition(self.formula).elements)


def _v_hex(a: float, c: float, z: float) -> float:
    return math.sqrt(3) / 2 * a * a * c / z


def _v_mono(a: float, b: float, c: float, beta: float, z: float) -> float:
    return a * b * c * math.sin(math.radians(beta)) / z


def _v_tri(
    a: float, b: float, c: float, alpha: float, beta: float, gamma: float, z: float
) -> float:
    ca, cb, cg = (math.cos(math.radians(x)) for x in (alpha, beta, gamma))
    return a * b * c * math.sqrt(1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg) / z


#: All reference phases halidelab knows how to build. Measured volumes (A^3 per formula
#: unit) from the ICSD-quoted room-temperature lattices of the real phases.
REFERENCE_PHASES: tuple[ReferenceSpec, ...] = (
    ReferenceSpec(
        "Li (bcc)",
        "Li",
        lambda: bcc("Li", 3.51),
        "bcc, a 3.51 A",
        measured_volume_A3_per_fu=3.51**3 / 2,
    ),
    ReferenceSpec(
        "Zr (hcp)",
        "Zr",
        lambda: hcp("Zr", 3.232, 5.147),
        "hcp",
        measured_volume_A3_per_fu=_v_hex(3.232, 5.147, 2),
    ),
    ReferenceSpec(
        "Nb (bcc)", "Nb", lambda: bcc("Nb", 3.300), "bcc", measured_volume_A3_per_fu=3.300**3 / 2
    ),
    ReferenceSpec(
        "Y (hcp)",
        "Y",
        lambda: hcp("Y", 3.647, 5.731),
        "hcp",
        measured_volume_A3_per_fu=_v_hex(3.647, 5.731, 2),
    ),
    ReferenceSpec(
        "In (I4/mmm)",
        "In",
        lambda: body_centred_tetragonal("In", 3.252, 4.946),
        "body-centred tetragonal",
        measured_volume_A3_per_fu=3.252**2 * 4.946 / 2,
    ),
    ReferenceSpec(
        "Co (hcp)",
        "Co",
        lambda: hcp("Co", 2.507, 4.070),
        "hcp",
        measured_volume_A3_per_fu=_v_hex(2.507, 4.070, 2),
    ),
    ReferenceSpec(
        "Ni (fcc)", "Ni", lambda: fcc("Ni", 3.524), "fcc", measured_volume_A3_per_fu=3.524**3 / 4
    ),
    ReferenceSpec(
        "Mn (fcc, approx.)",
        "Mn",
        lambda: fcc("Mn", 3.63),
        "fcc gamma-Mn in place of alpha-Mn",
        approximate=True,
    ),
    ReferenceSpec(
        "Cl2 (solid, Cmca)",
        "Cl2",
        solid_chlorine,
        "measured cell, positions relaxed",
        relax_cell=False,
        measured_volume_A3_per_fu=6.24 * 4.48 * 8.26 / 4,
    ),
    ReferenceSpec(
        "Cl2 (molecule)",
        "Cl2",
        lambda: molecule_in_box("Cl", 1.99),
        "molecule in a 12 A box",
        relax_cell=False,
    ),
    ReferenceSpec(
        "O2 (molecule)",
        "O2",
        lambda: molecule_in_box("O", 1.21),
        "molecule in a 12 A box",
        relax_cell=False,
    ),
    ReferenceSpec(
        "LiCl (rock salt)",
        "LiCl",
        lambda: rock_salt("Li", "Cl", 5.13),
        "rock salt",
        measured_volume_A3_per_fu=5.13**3 / 4,
    ),
    ReferenceSpec(
        "LiF (rock salt)",
        "LiF",
        lambda: rock_salt("Li", "F", 4.03),
        "rock salt",
        measured_volume_A3_per_fu=4.03**3 / 4,
    ),
    ReferenceSpec(
        "Li2O (antifluorite)",
        "Li2O",
        lambda: fluorite("Li", "O", 4.61, anti=True),
        "antifluorite",
        measured_volume_A3_per_fu=4.61**3 / 4,
    ),
    ReferenceSpec(
        "YCl3 (AlCl3 type)",
        "YCl3",
        lambda: layered_halide("Y", "Cl", 3, 2.63),
        "ccp Cl, honeycomb Y",
        measured_volume_A3_per_fu=_v_mono(6.92, 11.94, 6.44, 111.0, 4),
    ),
    ReferenceSpec(
        "InCl3 (AlCl3 type)",
        "InCl3",
        lambda: layered_halide("In", "Cl", 3, 2.51),
        "ccp Cl, honeycomb In",
        measured_volume_A3_per_fu=_v_mono(6.41, 11.10, 6.31, 109.8, 4),
    ),
    ReferenceSpec(
        "ZrCl4 (chains, approx.)",
        "ZrCl4",
        lambda: layered_halide("Zr", "Cl", 4, 2.45),
        "ccp Cl, straight edge-sharing ZrCl6 chains (real: zigzag, Pca2_1)",
        approximate=True,
        measured_volume_A3_per_fu=6.36 * 7.41 * 12.03 / 4,
    ),
    ReferenceSpec(
        "NbCl5 (dimers, approx.)",
        "NbCl5",
        lambda: layered_halide("Nb", "Cl", 5, 2.38),
        "ccp Cl, Nb2Cl10 dimers (real packing C2/m differs)",
        approximate=True,
        measured_volume_A3_per_fu=_v_mono(18.30, 17.96, 5.888, 90.6, 12),
    ),
    ReferenceSpec(
        "CoCl2 (CdCl2 type)",
        "CoCl2",
        lambda: layered_halide("Co", "Cl", 2, 2.45),
        "ccp Cl, CdCl2 type",
        measured_volume_A3_per_fu=_v_hex(3.544, 17.43, 3),
    ),
    ReferenceSpec(
        "NiCl2 (CdCl2 type)",
        "NiCl2",
        lambda: layered_halide("Ni", "Cl", 2, 2.43),
        "ccp Cl, CdCl2 type",
        measured_volume_A3_per_fu=_v_hex(3.48, 17.4, 3),
    ),
    ReferenceSpec(
        "MnCl2 (CdCl2 type)",
        "MnCl2",
        lambda: layered_halide("Mn", "Cl", 2, 2.55),
        "ccp Cl, CdCl2 type",
        measured_volume_A3_per_fu=_v_hex(3.71, 17.59, 3),
    ),
    ReferenceSpec(
        "CoO (rock salt)",
        "CoO",
        lambda: rock_salt("Co", "O", 4.26),
        "rock salt",
        measured_volume_A3_per_fu=4.26**3 / 4,
    ),
    ReferenceSpec(
        "NiO (rock salt)",
        "NiO",
        lambda: rock_salt("Ni", "O", 4.18),
        "rock salt",
        measured_volume_A3_per_fu=4.18**3 / 4,
    ),
    ReferenceSpec(
        "MnO (rock salt)",
        "MnO",
        lambda: rock_salt("Mn", "O", 4.445),
        "rock salt",
        measured_volume_A3_per_fu=4.445**3 / 4,
    ),
    ReferenceSpec(
        "Co3O4 (spinel)",
        "Co3O4",
        lambda: spinel("Co", "Co", "O", 8.08),
        "normal spinel",
        measured_volume_A3_per_fu=8.08**3 / 8,
    ),
    ReferenceSpec(
        "ZrO2 (fluorite, approx.)",
        "ZrO2",
        lambda: fluorite("Zr", "O", 5.07),
        "cubic fluorite in place of monoclinic baddeleyite",
        approximate=True,
    ),
    ReferenceSpec(
        "Y2O3 (bixbyite)",
        "Y2O3",
        lambda: bixbyite("Y", "O", 10.60, -0.0323, (0.391, 0.152, 0.380)),
        "bixbyite Ia-3",
        measured_volume_A3_per_fu=10.60**3 / 16,
    ),
    ReferenceSpec(
        "In2O3 (bixbyite)",
        "In2O3",
        lambda: bixbyite("In", "O", 10.12, -0.0336, (0.390, 0.155, 0.382)),
        "bixbyite Ia-3",
        measured_volume_A3_per_fu=10.12**3 / 16,
    ),
    ReferenceSpec(
        "LiCoO2 (R-3m)",
        "LiCoO2",
        layered_lico2,
        "alpha-NaFeO2 type",
        measured_volume_A3_per_fu=_v_hex(2.816, 14.05, 3),
    ),
    ReferenceSpec(
        "Li3YCl6 (P-3m1)",
        "Li3YCl6",
        lambda: _ternary("Li3YCl6"),
        "shipped OBELiX CIF, ordered",
        measured_volume_A3_per_fu=_v_hex(11.20, 6.04, 3),
    ),
    ReferenceSpec(
        "Li3InCl6 (C2/m)",
        "Li3InCl6",
        lambda: _ternary("Li3InCl6"),
        "shipped OBELiX CIF, ordered",
        measured_volume_A3_per_fu=_v_mono(6.44, 11.14, 6.39, 109.8, 2),
    ),
    ReferenceSpec(
        "Li2ZrCl6 (P-3m1)", "Li2ZrCl6", lambda: _ternary("Li2ZrCl6"), "Li3YCl6 framework, ordered"
    ),
    ReferenceSpec(
        "Li2ZrCl6 (C2/m)",
        "Li2ZrCl6",
        lambda: _ternary("Li2ZrCl6", "C2/m"),
        "Li3InCl6 framework, ordered",
    ),
    # ---- sulfide side (Li6PS5Cl interfaces), see halidelab.stability.sulfides
    ReferenceSpec(
        "P (black, Cmce)",
        "P",
        black_phosphorus,
        "black phosphorus, measured cell",
        measured_volume_A3_per_fu=3.3136 * 10.478 * 4.3763 / 8,
    ),
    ReferenceSpec(
        "S8 (alpha, Fddd)",
        "S",
        alpha_sulfur,
        "alpha-S8 (Rettig & Trotter 1987), measured cell, positions relaxed",
        relax_cell=False,
        measured_volume_A3_per_fu=math.prod(ALPHA_SULFUR_LATTICE_A) / 128,
    ),
    ReferenceSpec(
        "S8 (molecule)", "S", s8_molecule_in_box, "S8 crown in a 13 A box", relax_cell=False
    ),
    ReferenceSpec(
        "Li2S (antifluorite)",
        "Li2S",
        lambda: fluorite("Li", "S", 5.708, anti=True),
        "antifluorite",
        measured_volume_A3_per_fu=5.708**3 / 4,
    ),
    ReferenceSpec(
        "Li3P (Na3As type)",
        "Li3P",
        li3p,
        "Na3As type, P6_3/mmc",
        measured_volume_A3_per_fu=_v_hex(4.273, 7.594, 2),
    ),
    ReferenceSpec(
        "ZrS2 (CdI2 type)",
        "ZrS2",
        lambda: cdi2_type("Zr", "S", 3.662, 5.813),
        "CdI2 (1T) type",
        measured_volume_A3_per_fu=_v_hex(3.662, 5.813, 1),
    ),
    ReferenceSpec(
        "NbS2 (2H, MoS2 type)",
        "NbS2",
        lambda: mos2_type("Nb", "S", 3.31, 11.89, 2.47),
        "trigonal-prismatic layers, 2H stacking (3R also known)",
        measured_volume_A3_per_fu=_v_hex(3.31, 11.89, 2),
    ),
    ReferenceSpec(
        "Y2S3 (bixbyite type, approx.)",
        "Y2S3",
        lambda: bixbyite("Y", "S", 12.78, -0.0323, (0.391, 0.152, 0.380)),
        "bixbyite type scaled from Y2O3 (real Y2S3: monoclinic)",
        approximate=True,
    ),
    ReferenceSpec(
        "In2S3 (bixbyite type, approx.)",
        "In2S3",
        lambda: bixbyite("In", "S", 12.07, -0.0336, (0.390, 0.155, 0.382)),
        "bixbyite type scaled from In2O3 (real beta-In2S3: tetragonal defect spinel)",
        approximate=True,
    ),
    ReferenceSpec(
        "P2S5 (P4S10 molecule, approx.)",
        "P2S5",
        p4s10_molecule_in_box,
        "one P4S10 molecule in a 14 A box (no intermolecular cohesion)",
        approximate=True,
        relax_cell=False,
        measured_volume_A3_per_fu=222.27 / (2.09 * 0.602214),
    ),
    ReferenceSpec(
        "Li3PS4 (gamma, Pmn2_1)",
        "Li3PS4",
        gamma_li3ps4,
        "shipped OBELiX CIF (ICSD 180318)",
        measured_volume_A3_per_fu=7.70829 * 6.53521 * 6.1365 / 2,
    ),
    ReferenceSpec(
        "Li7P3S11 (P-1)",
        "Li7P3S11",
        li7p3s11,
        "shipped OBELiX CIF (ICSD 157654)",
        measured_volume_A3_per_fu=_v_tri(12.5009, 6.0316, 12.5303, 102.845, 113.2024, 74.467, 2),
    ),
    ReferenceSpec(
        "Li6PS5Cl (argyrodite, Cl on 4a)",
        "Li6PS5Cl",
        ordered_argyrodite,
        "shipped OBELiX CIF (ICSD 259200), Cl 4a / S2- 4d, Li ordered by Ewald energy",
        measured_volume_A3_per_fu=9.898**3 / 4,
    ),
)

#: Known phases that are not built, each with the elements it needs. A chemical system
#: holding those elements lacks that competitor: its hull energies are too low and its
#: reaction energies too small in magnitude (the true ones can only be more negative).
MISSING_PHASES: tuple[tuple[str, frozenset[str]], ...] = tuple(
    (name, frozenset(els))
    for name, els in (
        ("LiNbCl6", ("Li", "Nb", "Cl")),
        ("oxychlorides (YOCl, ZrOCl2, InOCl ...)", ("O", "Cl")),
        ("perchlorates (LiClO4 ...)", ("Li", "Cl", "O")),
        ("Nb oxides (Nb2O5, LiNbO3 ...)", ("Nb", "O")),
        ("Li-Co chlorides", ("Li", "Co", "Cl")),
        ("Li-Ni chlorides", ("Li", "Ni", "Cl")),
        ("Li-Mn chlorides", ("Li", "Mn", "Cl")),
        ("crystalline P2S5 and the other P4Sx molecular solids (P4S3, P4S7 ...)", ("P", "S")),
        ("Li4P2S6, Li7PS6, beta-Li3PS4", ("Li", "P", "S")),
        ("LiP, Li3P7 and other Li phosphides", ("Li", "P")),
        ("PCl3, PCl5", ("P", "Cl")),
        ("PSCl3", ("P", "S", "Cl")),
        ("S2Cl2, SCl2", ("S", "Cl")),
        ("Li6PS5Cl with Cl/S2- site disorder", ("Li", "P", "S", "Cl")),
        ("ZrS3 and other Zr sulfides", ("Zr", "S")),
        ("Zr sulfochlorides", ("Zr", "S", "Cl")),
        ("Zr thiophosphates", ("Zr", "P", "S")),
        ("NbS3, Nb3S4", ("Nb", "S")),
        ("Nb sulfochlorides", ("Nb", "S", "Cl")),
        ("Nb thiophosphates", ("Nb", "P", "S")),
        ("Li-Zr sulfides", ("Li", "Zr", "S")),
        ("Li-Nb sulfides", ("Li", "Nb", "S")),
        ("Li-Y sulfides", ("Li", "Y", "S")),
        ("LiInS2", ("Li", "In", "S")),
        ("Y sulfochlorides", ("Y", "S", "Cl")),
        ("In sulfochlorides", ("In", "S", "Cl")),
        ("Y thiophosphates", ("Y", "P", "S")),
        ("InPS4", ("In", "P", "S")),
    )
)


def missing_phases(elements: Iterable[str]) -> list[str]:
    """Known phases of the chemical system ``elements`` that are not among the references."""
    els = {str(e) for e in elements}
    return [name for name, need in MISSING_PHASES if need <= els]


#: Cathodes and other partner phases for :mod:`halidelab.stability.interface` (built like
#: the references): LiCoO2, NCM811 and the sulfide separator Li6PS5Cl.
CATHODES: dict[str, ReferenceSpec] = {
    "LiCoO2": next(s for s in REFERENCE_PHASES if s.formula == "LiCoO2"),
    "NCM811": ReferenceSpec(
        "NCM811 (ordered LiNi0.8Co0.1Mn0.1O2)",
        "LiNi0.8Co0.1Mn0.1O2",
        _ncm811,
        "one Ni/Co/Mn ordering in a 10 f.u. LiCoO2-type cell",
        approximate=True,
    ),
    "Li6PS5Cl": next(s for s in REFERENCE_PHASES if s.formula == "Li6PS5Cl"),
}


def references_for(
    elements: Iterable[str], include: Iterable[str] | None = None
) -> list[ReferenceSpec]:
    """Reference phases whose elements all lie in ``elements``.

    Parameters
    ----------
    elements : iterable of str
        The chemical system, e.g. ``{"Li", "Zr", "Nb", "Cl"}``.
    include : iterable of str, optional
        Restrict to these reference names (for small test systems).

    Raises
    ------
    StructureError
        When an element has no elemental reference (the hull cannot be built).
    """
    els = {str(e) for e in elements}
    chosen = [s for s in REFERENCE_PHASES if s.elements <= els]
    if include is not None:
        want = set(include)
        chosen = [s for s in chosen if s.name in want or s.formula in want]
    have = {e for s in REFERENCE_PHASES if len(s.elements) == 1 for e in s.elements}
    missing = sorted(els - have)
    if missing:
        raise StructureError(
            f"no elemental reference for {', '.join(missing)}: halidelab builds references for "
            f"{', '.join(sorted(have))} only"
        )
    return chosen


# --------------------------------------------------------------------------- relaxing
@dataclasses.dataclass(frozen=True)
class ReferenceEnergy(Record):
    """A relaxed phase and its MLIP energy.

    Attributes
    ----------
    name, formula : str
    energy_per_atom_eV : float
        MLIP energy per atom (eV/atom) after relaxation.
    volume_per_atom_A3 : float
    n_atoms : int
    converged : bool
    approximate : bool
        The built polymorph is not the known ground state.
    measured_volume_A3_per_fu, volume_A3_per_fu : float or None
        Measured and relaxed volume per formula unit (A^3).
    source : str
    structure : dict
        Relaxed structure (``Structure.as_dict()``).
    cached : bool
        Read from the store (no MLIP call).
    provenance : Provenance
    """

    name: str
    formula: str
    energy_per_atom_eV: float
    volume_per_atom_A3: float
    n_atoms: int
    converged: bool
    approximate: bool
    measured_volume_A3_per_fu: float | None
    volume_A3_per_fu: float
    source: str
    structure: dict[str, Any]
    cached: bool
    provenance: Provenance

    def to_structure(self) -> Structure:
        return Structure.from_dict(self.structure)


_MEMO: dict[str, dict[str, Any]] = {}


def relax_inputs(
    structure: Structure, model: str, fmax: float, steps: int, relax_cell: bool
) -> dict[str, Any]:
    """The task inputs whose hash keys a reference relaxation in the store (with the
    stress criterion of :class:`~halidelab.screening.inputs.RelaxInputs`'s default for a
    cell relaxation; a fixed-cell one keeps the key it had before the criterion)."""
    from halidelab.screening.inputs import RelaxInputs

    out = {
        "structure": structure.as_dict(),
        "model": model,
        "fmax": fmax,
        "steps": steps,
        "relax_cell": relax_cell,
    }
    if relax_cell:
        out["stress_tol_GPa"] = RelaxInputs.stress_tol_GPa
    return out


def relax_cached(
    structure: Structure,
    label: str,
    model: str = "chgnet",
    fmax: float = 0.05,
    steps: int = 300,
    relax_cell: bool = True,
    store: Any = None,
) -> tuple[dict[str, Any], bool]:
    """Relax ``structure`` with ``model`` unless the store (or this process) has it.

    Returns
    -------
    (dict, bool)
        ``RelaxResult.to_dict()`` and whether it came from the cache.
    """
    from halidelab.screening.runner import cached
    from halidelab.screening.tasks import Task

    return cached(
        Task(REFERENCE_KIND, label, relax_inputs(structure, model, fmax, steps, relax_cell)),
        store,
        _MEMO,
    )


def open_store(path: str | Path | None) -> Any:
    """A :class:`~halidelab.screening.store.Store` at ``path`` (None: no persistent cache)."""
    if path is None:
        return None
    from halidelab.screening.store import Store

    return Store(path)


def relax_reference(
    spec: ReferenceSpec,
    model: str = "chgnet",
    store: Any = None,
    fmax: float = 0.05,
    steps: int = 300,
) -> ReferenceEnergy:
    """Build and relax one reference phase (cached).

    Parameters
    ----------
    spec : ReferenceSpec
    model : str
        MLIP name (:func:`halidelab.potentials.get_calculator`).
    store : Store, optional
        Results store used as the cache.
    fmax : float
        Force threshold, eV/A.
    steps : int
        Maximum optimiser steps.
    """
    structure = spec.builder()
    res, cached = relax_cached(
        structure,
        spec.name,
        model=model,
        fmax=fmax,
        steps=steps,
        relax_cell=spec.relax_cell,
        store=store,
    )
    s = Structure.from_dict(res["structure"])
    n_fu = len(s) / Composition(spec.formula).num_atoms
    prov = res["provenance"]
    return ReferenceEnergy(
        name=spec.name,
        formula=Composition(spec.formula).reduced_formula,
        energy_per_atom_eV=float(res["energy_per_atom_eV"]),
        volume_per_atom_A3=s.volume / len(s),
        n_atoms=len(s),
        converged=bool(res["converged"]),
        approximate=spec.approximate,
        measured_volume_A3_per_fu=spec.measured_volume_A3_per_fu,
        volume_A3_per_fu=s.volume / n_fu,
        source=spec.source,
        structure=res["structure"],
        cached=cached,
        provenance=Provenance(
            method="stability-reference-relax",
            model=prov.get("model"),
            model_version=prov.get("model_version"),
            parameters={"fmax": fmax, "steps": steps, "relax_cell": spec.relax_cell},
        ),
    )


def relax_references(
    specs: Iterable[ReferenceSpec],
    model: str = "chgnet",
    store: Any = None,
    fmax: float = 0.05,
    steps: int = 300,
    progress: Callable[[str], None] | None = None,
) -> list[ReferenceEnergy]:
    """Relax many reference phases (each cached); ``progress(name)`` before each."""
    out = []
    for spec in specs:
        if progress is not None:
            progress(spec.name)
        out.append(relax_reference(spec, model=model, store=store, fmax=fmax, steps=steps))
    return out
