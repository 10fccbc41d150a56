"""Sulfide-side phases for interfaces with the argyrodite Li6PS5Cl, built in code.

Every structure here is ordered and unrelaxed; :mod:`halidelab.stability.references`
relaxes it with the same MLIP as every other phase.

- Li6PS5Cl (argyrodite, F-43m, a 9.898 A; Kraft et al., J. Am. Chem. Soc. 139 (2017)
  10909, doi:10.1021/jacs.7b06327, ICSD 259200; shipped as the OBELiX CIF ``122``).
  The refinement has Li half-occupying 48h and Cl/S2- mixed on the two free-anion
  sites (4a: 38.5% Cl, 4d: 61.5% Cl). The model is the *ideal ordered argyrodite*: Cl on
  4a, S2- on 4d (the Li-cage centre), 16e S bound to P on 4b as PS4 3- tetrahedra,
  and 24 of the 48 Li sites filled in the 52-atom cubic cell by the lowest point-charge
  Ewald energy (:func:`halidelab.structures.ordering.anneal_orderings`, seeded). 4a and
  4d are told apart by geometry, not by the CIF's origin: 4a lies a/2 from the nearest
  P (octahedral), 4d a sqrt(3)/4 (tetrahedral). ``chloride_site="4d"`` builds the
  inverted ordering, for comparing the two.
- gamma-Li3PS4 (Pmn2_1; OBELiX ``joc``, ICSD 180318) and Li7P3S11 (P-1; OBELiX ``mdp``,
  ICSD 157654): shipped CIFs. The S sites of gamma-Li3PS4 were refined 97-99% occupied;
  the model fills them (stoichiometric Li3PS4).
- Black phosphorus (Cmce, a 3.3136, b 10.478, c 4.3763 A, P on 8f (0, 0.1017, 0.0806)).
- alpha-sulfur (Fddd origin 2, a 10.4646, b 12.8660, c 24.4860 A; Rettig and Trotter,
  Acta Cryst. C43 (1987) 2260): 16 S8 crowns in the conventional cell, 32 atoms in the
  primitive one. The built cell is checked by its geometry (every S bonded to two S at
  2.04-2.06 A, angles 107-109 deg, rings of 8, density 2.07 g/cm^3), see the tests.
- An S8 crown molecule (S-S 2.05 A, S-S-S 108 deg) and a P4S10 cage molecule (the
  molecule of which P2S5 is made; P-S bridging 2.09 A, P=S terminal 1.91 A), each in a
  periodic box. No intermolecular cohesion: a molecule lies above its crystal, which
  makes it an upper bound on the energy of that solid.
- Li3P (Na3As type, P6_3/mmc, a 4.273, c 7.594 A), ZrS2 (CdI2 type, P-3m1, a 3.662,
  c 5.813 A), NbS2 (2H, MoS2 type, P6_3/mmc, a 3.31, c 11.89 A; also 1T, CdI2 type,
  a 3.33, c 5.9 A, as an approximate polymorph).
"""

from __future__ import annotations

import functools
import math
from importlib import resources

import numpy as np
from pymatgen.core import Lattice, Structure

from halidelab.errors import StructureError

#: shipped CIFs of the sulfide references (OBELiX, CC BY 4.0)
LI6PS5CL_CIF = "Li6PS5Cl_F-43m_obelix-122.cif"
LI3PS4_CIF = "Li3PS4_Pmn2_1_obelix-joc.cif"
LI7P3S11_CIF = "Li7P3S11_P-1_obelix-mdp.cif"

#: formal charges of the point-charge model used to order the argyrodite
_FORMAL_CHARGES = {"": 0.0, "Li": 1.0, "P": 5.0, "S": -2.0, "Cl": -1.0}


def shipped_cif(filename: str) -> Structure:
    """Read a CIF from ``halidelab/data/structures`` (partial occupancies kept).

    Raises
    ------
    StructureError
        When the file is not shipped.
    """
    import warnings

    path = resources.files("halidelab") / "data" / "structures" / filename
    if not path.is_file():
        raise StructureError(f"shipped structure {filename} not found in halidelab/data/structures")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Structure.from_file(str(path))


def fill_nearly_full_sites(structure: Structure, min_occupancy: float = 0.95) -> Structure:
    """Round single-species sites refined at >= ``min_occupancy`` up to full occupancy.

    Raises
    ------
    StructureError
        When a site is mixed or clearly partial (it needs a real ordering).
    """
    species, coords = [], []
    for site in structure:
        items = list(site.species.items())
        if len(items) != 1 or items[0][1] < min_occupancy:
            raise StructureError(
                f"site {site.species} at {np.round(site.frac_coords, 3)} is partially "
                f"occupied below {min_occupancy}: order it instead"
            )
        species.append(items[0][0].symbol)
        coords.append(site.frac_coords)
    return Structure(structure.lattice, species, coords)


@functools.lru_cache(maxsize=4)
def _ordered_argyrodite(chloride_site: str, seed: int) -> Structure:
    from halidelab.structures.ordering import Pool, anneal_orderings, unit_ewald_matrix

    cif = shipped_cif(LI6PS5CL_CIF)
    a = cif.lattice.a
    p_idx = [i for i, s in enumerate(cif) if {e.symbol for e in s.species.elements} == {"P"}]
    p_cart = cif.cart_coords[p_idx]
    labels: list[str] = []
    li_idx: list[int] = []
    for i, site in enumerate(cif):
        els = {e.symbol for e in site.species.elements}
        if els == {"Li"}:
            labels.append("Li")
            li_idx.append(i)
        elif els == {"P"}:
            labels.append("P")
        elif els <= {"S", "Cl"}:
            d = cif.lattice.get_all_distances(site.frac_coords, cif.frac_coords[p_idx]).min()
            if d < 2.5:  # 16e: S of a PS4 tetrahedron
                labels.append("S")
                continue
            # free anion: 4d at a sqrt(3)/4 from P, 4a at a/2
            site_name = "4d" if abs(d - a * math.sqrt(3) / 4) < abs(d - a / 2) else "4a"
            labels.append("Cl" if site_name == chloride_site else "S")
        else:
            raise StructureError(f"unexpected site {site.species} in {LI6PS5CL_CIF}")
    if len(p_cart) != 4 or labels.count("Cl") != 4:
        raise StructureError(f"{LI6PS5CL_CIF} is not the 4-formula-unit argyrodite cell")
    n_li = round(sum(cif[i].species.num_atoms for i in li_idx))
    pools = [Pool(li_idx, {"Li": n_li, "": len(li_idx) - n_li}, "Li")]
    for el in ("P", "S", "Cl"):
        idx = [i for i, lab in enumerate(labels) if lab == el]
        pools.append(Pool(idx, {el: len(idx)}, el))
    matrix = unit_ewald_matrix(Structure(cif.lattice, ["H"] * len(cif), cif.frac_coords))
    best = anneal_orderings(matrix, pools, _FORMAL_CHARGES, n_keep=1, seed=seed)[0]
    keep = [i for i, lab in enumerate(best.labels) if lab]
    return Structure(cif.lattice, [best.labels[i] for i in keep], cif.frac_coords[keep])


def ordered_argyrodite(chloride_site: str = "4a", seed: int = 0) -> Structure:
    """Ordered Li6PS5Cl in the 52-atom cubic cell (see the module notes).

    Parameters
    ----------
    chloride_site : {"4a", "4d"}
        Free-anion site that holds Cl; the other holds S2- (the ideal argyrodite: "4a").
    seed : int
        Seed of the Ewald-ranked Li ordering (deterministic).

    Returns
    -------
    Structure
        Li24 P4 S20 Cl4, measured cubic lattice a = 9.898 A, unrelaxed.
    """
    if chloride_site not in ("4a", "4d"):
        raise StructureError(f"chloride_site must be '4a' or '4d', got {chloride_site!r}")
    return _ordered_argyrodite(chloride_site, int(seed)).copy()


def gamma_li3ps4() -> Structure:
    """gamma-Li3PS4 (Pmn2_1, 16 atoms) from the shipped CIF, S sites filled."""
    return fill_nearly_full_sites(shipped_cif(LI3PS4_CIF))


def li7p3s11() -> Structure:
    """Li7P3S11 (P-1, 42 atoms) from the shipped CIF (fully ordered as refined)."""
    return fill_nearly_full_sites(shipped_cif(LI7P3S11_CIF), min_occupancy=1.0)


def black_phosphorus(
    a_A: float = 3.3136,
    b_A: float = 10.478,
    c_A: float = 4.3763,
    y: float = 0.1017,
    z: float = 0.0806,
) -> Structure:
    """Black phosphorus, Cmce (No. 64), P on 8f (0, y, z); primitive cell (4 atoms)."""
    return Structure.from_spacegroup(
        64, Lattice.orthorhombic(a_A, b_A, c_A), ["P"], [[0, y, z]]
    ).get_primitive_structure()


#: alpha-S8 (Rettig and Trotter 1987), Fddd origin choice 2: lattice (A) and the 4 S sites
ALPHA_SULFUR_LATTICE_A = (10.4646, 12.8660, 24.4860)
ALPHA_SULFUR_SITES = (
    (0.8554, 0.9526, 0.9516),
    (0.7844, 0.0301, 0.0763),
    (0.7069, 0.9795, 0.0040),
    (0.7862, 0.9073, 0.1290),
)


def alpha_sulfur(primitive: bool = True) -> Structure:
    """Orthorhombic alpha-S8 (Fddd), 32-atom primitive or 128-atom conventional cell."""
    s = Structure.from_spacegroup(
        "Fddd:2",
        Lattice.orthorhombic(*ALPHA_SULFUR_LATTICE_A),
        ["S"] * 4,
        [list(p) for p in ALPHA_SULFUR_SITES],
    )
    return s.get_primitive_structure() if primitive else s


def _in_box(species: list[str], cart: np.ndarray, box_A: float) -> Structure:
    lat = Lattice.orthorhombic(box_A, box_A * 1.03, box_A * 1.06)  # non-cubic: no spurious symmetry
    centre = np.array(lat.abc) / 2
    return Structure(lat, species, cart - cart.mean(axis=0) + centre, coords_are_cartesian=True)


def s8_crown(bond_A: float = 2.05, angle_deg: float = 108.0) -> np.ndarray:
    """Cartesian coordinates (A) of a crown S8 ring (D4d): alternately up and down on a circle.

    Second neighbours (90 deg apart on the circle, same height) are
    2 d sin(theta/2) apart, so the radius is r = sqrt(2) d sin(theta/2); the height
    difference h of neighbours follows from d^2 = (2 r sin 22.5 deg)^2 + h^2.
    """
    r = math.sqrt(2) * bond_A * math.sin(math.radians(angle_deg) / 2)
    chord = 2 * r * math.sin(math.radians(22.5))
    if chord >= bond_A:
        raise StructureError(f"no S8 crown with bond {bond_A} A and angle {angle_deg} deg")
    h = math.sqrt(bond_A**2 - chord**2)
    return np.array(
        [
            [r * math.cos(k * math.pi / 4), r * math.sin(k * math.pi / 4), h / 2 * (-1) ** k]
            for k in range(8)
        ]
    )


def s8_molecule_in_box(box_A: float = 13.0) -> Structure:
    """One S8 crown in a periodic box of about ``box_A`` (A)."""
    return _in_box(["S"] * 8, s8_crown(), box_A)


def p4s10_molecule_in_box(
    bridge_A: float = 2.09, terminal_A: float = 1.91, box_A: float = 14.0
) -> Structure:
    """The P4S10 cage (adamantane-like, Td) in a periodic box.

    P on alternate cube corners (t, t, t), bridging S on the octahedron (2t, 0, 0) so that
    P-S = t sqrt(3) = ``bridge_A`` with tetrahedral angles, terminal S outward from each P
    at ``terminal_A``.
    """
    t = bridge_A / math.sqrt(3)
    p = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float) * t
    s_bridge = (
        np.array([[2, 0, 0], [-2, 0, 0], [0, 2, 0], [0, -2, 0], [0, 0, 2], [0, 0, -2]], float) * t
    )
    s_term = p + p / np.linalg.norm(p, axis=1)[:, None] * terminal_A
    cart = np.vstack([p, s_bridge, s_term])
    return _in_box(["P"] * 4 + ["S"] * 10, cart, box_A)


def li3p(a_A: float = 4.273, c_A: float = 7.594, z: float = 0.583) -> Structure:
    """Li3P, Na3As type (P6_3/mmc): P 2c, Li 2b and 4f (1/3, 2/3, z); 8 atoms."""
    return Structure.from_spacegroup(
        "P6_3/mmc",
        Lattice.hexagonal(a_A, c_A),
        ["P", "Li", "Li"],
        [[1 / 3, 2 / 3, 0.25], [0, 0, 0.25], [1 / 3, 2 / 3, z]],
    )


def cdi2_type(metal: str, anion: str, a_A: float, c_A: float, z: float = 0.25) -> Structure:
    """MX2 of the CdI2 (1T) type, P-3m1: M on 1a, X on 2d (1/3, 2/3, z); 3 atoms."""
    return Structure.from_spacegroup(
        "P-3m1", Lattice.hexagonal(a_A, c_A), [metal, anion], [[0, 0, 0], [1 / 3, 2 / 3, z]]
    )


def mos2_type(metal: str, anion: str, a_A: float, c_A: float, bond_A: float) -> Structure:
    """MX2 of the 2H-MoS2 type (P6_3/mmc, trigonal-prismatic M): M on 2c, X on 4f; 6 atoms.

    The 4f parameter z follows from the M-X bond: the two X of a prism edge lie
    +-dz c above and below M with (a / sqrt(3))^2 + (dz c)^2 = bond^2, z = 3/4 - dz.
    """
    in_plane = a_A / math.sqrt(3)
    if bond_A <= in_plane:
        raise StructureError(f"M-X bond {bond_A} A shorter than a/sqrt(3) = {in_plane:.3f} A")
    dz = math.sqrt(bond_A**2 - in_plane**2) / c_A
    return Structure.from_spacegroup(
        "P6_3/mmc",
        Lattice.hexagonal(a_A, c_A),
        [metal, anion],
        [[1 / 3, 2 / 3, 0.25], [1 / 3, 2 / 3, 0.75 - dz]],
    )
