"""Li sites, tetrahedral interstitials and the periodic hop graph of a structure.

Sites are the holes of the anion sublattice: every tetrahedron of a periodic Delaunay
triangulation of the anions has an empty circumsphere; its circumcentre is a Voronoi
vertex. Octahedral holes show up as several Delaunay tetrahedra with (nearly) the same
circumcentre, so circumcentres closer than ``merge_tol_A`` are merged, and a hole is
*octahedral* when its merged simplices span 6 anions and *tetrahedral* when they span 4.
Its centre is the centroid of those anions.

A Li that sits in no such hole (more than 1 A from every centre; Li6NBr3, whose Li sit
between one N and one Br in a polyhedron too irregular for its Delaunay tetrahedra to
merge) gets a hole at its own position, made of the anions within 1.25 x the Li-anion
contact (Shannon radii), and so do its images under the framework's symmetry; the
tetrahedra inside that polyhedron are dropped.

Holes are then classified against the structure:

- holes holding a framework cation (any cation other than the mobile one, e.g. Zr, Nb)
  are the framework, not sites;
- *Li sites* are the holes that hold a Li, plus every hole equivalent to one under the
  symmetry of the pristine framework (anions and framework cations with all dopants
  mapped onto one species), i.e. the vacant Li sites of an ordered model; an empty such
  hole that shares a face with an occupied hole, one of the two a tetrahedron, is not
  (cations 1.9-2.7 A apart; the Li themselves break the framework's symmetry there, as in
  the ordered spinels) and is an interstitial candidate instead;
- *interstitials* are the remaining empty holes that share no face with a
  framework-cation polyhedron and keep ``min_cation_distance_A`` from every framework
  cation (a Li there would face a highly charged cation through a shared face;
  Pauling's third rule).

Labels follow symmetry orbits of the pristine framework (spglib through pymatgen's
``SpacegroupAnalyzer``): Li sites ``Li1, Li2, ...`` in descending Wyckoff letter (in
P-3m1 Li2ZrCl6 this gives Li1 = 6h, Li2 = 6g, as in Chen et al., ChemComm 2025) and
interstitials ``i1, i2, ...`` in ascending Wyckoff letter. Whether ``i1..i3`` here are the
same orbits as a paper's i1..i3 must be checked by their Wyckoff positions.

Hops join two sites whose polyhedra share a face (3 anions: octahedron-octahedron
through a shared face along c in hcp, octahedron-tetrahedron in the a-b plane), or an
edge (2 anions) between octahedral Li sites when interstitials are left out (rock salt).
Every hop carries the image vector of its end site: a hop from a site to its own
periodic image in a small cell is a real hop with its own length, never a zero-length
in-cell difference.

pymatgen-analysis-diffusion (``DistinctPathFinder``) would find distinct hops between
occupied sites of a pristine cell, but it is not a dependency and it neither finds the
vacant Li sites of an ordered model nor groups the hops that doping makes
inequivalent; the symmetry here comes from the same spglib operations it uses.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from pymatgen.core import Structure

from halidelab.errors import StructureError
from halidelab.records import Provenance, Record

#: elements treated as the anion sublattice
ANIONS = frozenset({"F", "Cl", "Br", "I", "O", "S", "Se", "Te", "N"})

Image = tuple[int, int, int]


@dataclasses.dataclass(frozen=True)
class Site(Record):
    """One Li site or interstitial.

    Attributes
    ----------
    index : int
        Position in :attr:`SiteNetwork.sites`.
    label : str
        Orbit label: ``Li1``, ``Li2`` ... (Li sites), ``i1``, ``i2`` ... (interstitials).
    kind : {"oct", "tet", "cn5", ...}
        Coordination polyhedron of the anions around the hole (``cn<N>`` holes are Li
        sites only, where a Li sits in one, as in Li3AlF6).
    role : {"li", "interstitial"}
    frac : tuple of float
        Hole centre (centroid of its anions), fractional, in [0, 1).
    occupant : int or None
        Index of the Li atom in the structure that sits in this hole (None: vacant).
    orbit : int
        Symmetry orbit in the pristine framework.
    wyckoff : str or None
        Wyckoff symbol of the orbit in the framework's space group (e.g. ``6h``);
        multiplicity per conventional cell.
    anions : tuple
        Coordinating anions as ``(atom index, image)`` pairs relative to ``frac``.
    min_cation_distance_A : float
        Distance from the hole centre to the nearest framework cation, A (inf if none).
    """

    index: int
    label: str
    kind: str
    role: str
    frac: tuple[float, float, float]
    occupant: int | None
    orbit: int
    wyckoff: str | None
    anions: tuple[tuple[int, tuple[int, int, int]], ...]
    min_cation_distance_A: float


@dataclasses.dataclass(frozen=True)
class Hop(Record):
    """One hop between two sites (undirected edge of the periodic hop graph).

    Attributes
    ----------
    index : int
    site_a, site_b : int
        Site indices; ``site_b`` sits at ``frac[site_b] + image``.
    image : tuple of int
        Lattice translation of the end site, in cell vectors.
    length_A : float
        Real distance between the two hole centres, A (with the image).
    vector_A : tuple of float
        Cartesian vector from ``site_a`` to the image of ``site_b``, A.
    kind : str
        ``oct-oct``, ``oct-tet`` or ``tet-tet``.
    window : str
        ``face`` (3 shared anions) or ``edge`` (2).
    label : str
        Site labels, e.g. ``Li1-Li2`` or ``Li2-i3``.
    parent_class : int
        Symmetry-distinct class in the pristine framework.
    env_class : int
        Class in this model: parent class and local environment together.
    environment : dict
        Framework cations (by element) within ``environment_radius_A`` of the midpoint.
    direction : str
        ``c`` (within 30 deg of the c axis), ``ab`` (within 30 deg of the a-b plane) or
        ``oblique``.
    """

    index: int
    site_a: int
    site_b: int
    image: tuple[int, int, int]
    length_A: float
    vector_A: tuple[float, float, float]
    kind: str
    window: str
    label: str
    parent_class: int
    env_class: int
    environment: dict[str, int]
    direction: str


@dataclasses.dataclass(frozen=True)
class SiteNetwork(Record):
    """Sites and hops of one structure.

    Attributes
    ----------
    formula : str
    lattice : list
        Cell vectors (rows), A.
    sites, hops : tuple
    framework_space_group : str
        Space group of the pristine framework (dopants mapped onto the host).
    n_symmetry_ops : int
        Framework operations (in this cell) used for orbits and hop classes.
    n_parent_classes, n_env_classes : int
        Symmetry-distinct hops in the pristine framework, and in this model once the
        local environment (dopants near the midpoint) is counted.
    warnings : tuple of str
    provenance : Provenance
    """

    formula: str
    lattice: list[list[float]]
    sites: tuple[Site, ...]
    hops: tuple[Hop, ...]
    framework_space_group: str
    n_symmetry_ops: int
    n_parent_classes: int
    n_env_classes: int
    warnings: tuple[str, ...]
    provenance: Provenance

    # -- views ---------------------------------------------------------------
    def graph(self) -> Any:
        """The periodic hop graph as a ``networkx.MultiGraph``.

        Nodes are site indices (attributes ``label``, ``kind``, ``role``); each edge
        carries ``hop`` (index), ``image`` (of the higher-numbered end seen from the
        lower one, as stored in the hop) and ``length_A``. A site joined to its own
        periodic image is a self-loop with a nonzero image.
        """
        import networkx as nx

        g = nx.MultiGraph()
        for s in self.sites:
            g.add_node(s.index, label=s.label, kind=s.kind, role=s.role)
        for h in self.hops:
            g.add_edge(
                h.site_a,
                h.site_b,
                key=h.index,
                hop=h.index,
                image=h.image,
                a=h.site_a,
                length_A=h.length_A,
                label=h.label,
            )
        return g

    def distinct_hops(self, level: str = "parent", vacancy: bool = False) -> list[Hop]:
        """One representative hop per class.

        Parameters
        ----------
        level : {"parent", "environment"}
            ``parent``: symmetry-distinct hops of the pristine framework;
            ``environment``: also split by local dopant environment.
        vacancy : bool
            Prefer representatives that a vacancy mechanism can run in this model (one
            end holds a Li, the other is an empty Li site or an interstitial).
        """
        if level not in ("parent", "environment"):
            raise StructureError(f"level must be 'parent' or 'environment', got {level!r}")
        key = "parent_class" if level == "parent" else "env_class"
        out: dict[int, Hop] = {}
        for h in self.hops:
            k = getattr(h, key)
            if k not in out or (
                vacancy and not self.vacancy_ready(out[k]) and self.vacancy_ready(h)
            ):
                out[k] = h
        return [out[k] for k in sorted(out)]

    def vacancy_ready(self, hop: Hop) -> bool:
        """Exactly one end of the hop holds a Li (a vacancy-mechanism hop exists)."""
        a, b = self.sites[hop.site_a], self.sites[hop.site_b]
        if hop.site_a == hop.site_b:
            return False
        return (a.occupant is None) != (b.occupant is None)

    def frac_matrix(self) -> np.ndarray:
        """Site centres, fractional (n, 3)."""
        return np.array([s.frac for s in self.sites], dtype=float)


# ---------------------------------------------------------------------------
# holes of the anion sublattice


def _widths(matrix: np.ndarray) -> np.ndarray:
    """Face-to-face widths of the cell, A."""
    vol = abs(np.linalg.det(matrix))
    return np.array(
        [vol / np.linalg.norm(np.cross(matrix[(i + 1) % 3], matrix[(i + 2) % 3])) for i in range(3)]
    )


def _circumcentres(points: np.ndarray, simplices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = points[simplices]  # (m, 4, 3)
    a = 2.0 * (p[:, 1:, :] - p[:, :1, :])
    b = (p[:, 1:, :] ** 2).sum(-1) - (p[:, :1, :] ** 2).sum(-1)
    ok = np.abs(np.linalg.det(a)) > 1e-8
    cc = np.full((len(p), 3), np.nan)
    cc[ok] = np.linalg.solve(a[ok], b[ok][..., None])[..., 0]
    r = np.linalg.norm(cc - p[:, 0, :], axis=1)
    return cc, r


@dataclasses.dataclass
class _Hole:
    frac: np.ndarray
    anions: list[tuple[int, Image]]
    kind: str


def find_holes(structure: Structure, merge_tol_A: float = 0.75) -> list[_Hole]:
    """Octahedral and tetrahedral holes of the anion sublattice.

    Parameters
    ----------
    structure : Structure
    merge_tol_A : float
        Circumcentres of Delaunay tetrahedra closer than this (A) are one hole (an
        octahedron is split into four tetrahedra with a common circumcentre).

    Returns
    -------
    list
        Holes with ``frac`` (centroid of the anions, in [0, 1)), ``anions`` (index,
        image) and ``kind`` (``oct``, ``tet`` or ``cn<N>`` for other polyhedra).
    """
    from scipy.spatial import Delaunay

    latt = structure.lattice
    m = latt.matrix
    an_idx = [i for i, s in enumerate(structure) if s.specie.symbol in ANIONS]
    if len(an_idx) < 1:
        raise StructureError(
            f"{structure.composition.reduced_formula} has no anions "
            f"({', '.join(sorted(ANIONS))}): cannot find Li sites"
        )
    af = np.mod(structure.frac_coords[an_idx], 1.0)
    # replicate far enough that every hole in the home cell has its full neighbourhood
    reach = 7.0  # twice the largest hole radius considered (3.5 A)
    nrep = np.ceil(reach / _widths(m)).astype(int)
    rng = [np.arange(-n, n + 1) for n in nrep]
    imgs = np.array(np.meshgrid(*rng, indexing="ij")).reshape(3, -1).T
    pts_f = (af[None, :, :] + imgs[:, None, :]).reshape(-1, 3)
    pt_atom = np.tile(np.arange(len(an_idx)), len(imgs))
    pt_img = np.repeat(imgs, len(an_idx), axis=0)
    pts = pts_f @ m
    tri = Delaunay(pts, qhull_options="Qbb Qc QJ")
    cc, r = _circumcentres(pts, tri.simplices)
    ccf = cc @ np.linalg.inv(m)
    keep = np.all((ccf > -0.02) & (ccf < 1.02), axis=1) & np.isfinite(r) & (r < reach / 2)
    simp = tri.simplices[keep]
    ccf = ccf[keep]
    # cluster circumcentres (periodic, single linkage)
    n = len(ccf)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    d = latt.get_all_distances(ccf, ccf)
    ii, jj = np.nonzero(np.triu(d < merge_tol_A, 1))
    for i, j in zip(ii, jj, strict=True):
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[rj] = ri
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    holes: list[_Hole] = []
    for members in groups.values():
        ref = ccf[members[0]]
        verts: set[tuple[int, Image]] = set()
        for k in members:
            shift = np.round(ccf[k] - ref).astype(int)  # bring into the ref's cell
            for p in simp[k]:
                img = tuple(int(v) for v in pt_img[p] - shift)
                verts.add((int(pt_atom[p]), img))
        vlist = sorted(verts)
        vf = np.array([af[a] + np.array(img) for a, img in vlist])
        centre = vf.mean(axis=0)
        cell = np.floor(centre + 1e-7).astype(int)
        centre = centre - cell
        centre[np.abs(centre) < 1e-7] = 0.0
        anions = [(an_idx[a], tuple(int(v) for v in np.array(img) - cell)) for a, img in vlist]
        kind = {4: "tet", 6: "oct"}.get(len(vlist), f"cn{len(vlist)}")
        holes.append(_Hole(centre, anions, kind))
    # duplicates across the cell boundary collapse to one hole each
    out: list[_Hole] = []
    for h in holes:
        if out:
            dd = latt.get_all_distances([h.frac], [o.frac for o in out])[0]
            if dd.min() < merge_tol_A:
                continue
        out.append(h)
    out.sort(key=lambda h: (h.kind, *np.round(h.frac, 4)))
    return out


# ---------------------------------------------------------------------------
# symmetry of the pristine framework


#: anions that substitute for each other (one charge): mapped onto their majority species
_ANION_GROUPS = ({"F", "Cl", "Br", "I"}, {"O", "S", "Se", "Te"}, {"N"})


def _framework(structure: Structure, mobile: str) -> Structure:
    """Anions and framework cations, each mapped onto one species (dopant -> host).

    Anions are mapped within their charge group only (a Br for Cl substitution is a
    dopant; the N of Li6NBr3 is not a Br).
    """
    species, coords = [], []
    an = [s.specie.symbol for s in structure if s.specie.symbol in ANIONS]
    cat = [
        s.specie.symbol
        for s in structure
        if s.specie.symbol not in ANIONS and s.specie.symbol != mobile
    ]
    an_major = {}
    for group in _ANION_GROUPS:
        members = [el for el in an if el in group]
        for el in set(members):
            an_major[el] = max(set(members), key=members.count)
    cat_major = max(set(cat), key=cat.count) if cat else None
    for s in structure:
        el = s.specie.symbol
        if el == mobile:
            continue
        species.append(an_major[el] if el in ANIONS else cat_major)
        coords.append(s.frac_coords)
    return Structure(structure.lattice, species, coords)


def _symmetry_ops(
    framework: Structure, symprec: float
) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        sga = SpacegroupAnalyzer(framework, symprec=symprec)
        ops = sga.get_symmetry_operations(cartesian=False)
        sg = f"{sga.get_space_group_symbol()} ({sga.get_space_group_number()})"
    except Exception:  # spglib gives up on badly distorted input: identity only
        return [(np.eye(3), np.zeros(3))], "P1 (1)"
    return [(np.array(o.rotation_matrix), np.array(o.translation_vector)) for o in ops], sg


def _map_points(
    lattice: Any,
    frac: np.ndarray,
    R: np.ndarray,
    t: np.ndarray,
    tol: float,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Permutation and lattice shifts of points under an operation (None if not closed)."""
    new = frac @ R.T + t
    d = lattice.get_all_distances(new, frac)
    perm = np.argmin(d, axis=1)
    if np.any(d[np.arange(len(frac)), perm] > tol):
        return None
    shift = np.round(new - frac[perm]).astype(int)
    return perm, shift


def _wyckoff(
    framework: Structure,
    frac: np.ndarray,
    symprec: float,
    sg_number: int | None,
) -> str | None:
    import spglib

    lat = framework.lattice.matrix
    pos = np.vstack([framework.frac_coords, frac])
    nums = [site.specie.Z for site in framework] + [2] * len(frac)  # He marks the holes
    try:
        ds = spglib.get_symmetry_dataset((lat, pos, nums), symprec=symprec)
    except Exception:
        return None
    if ds is None or (sg_number is not None and ds.number != sg_number):
        return None
    letters = {ds.wyckoffs[len(framework) + i] for i in range(len(frac))}
    if len(letters) != 1:
        return None
    mult = len(frac) * abs(np.linalg.det(ds.std_lattice)) / abs(np.linalg.det(lat))
    return f"{round(mult)}{letters.pop()}"


# ---------------------------------------------------------------------------
# sites and hops


def _union_find(n: int) -> tuple[list[int], Any]:
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    return parent, find


def _hop_key(a: int, b: int, img: Iterable[int]) -> tuple[int, int, Image]:
    img = tuple(int(v) for v in img)
    neg = tuple(-v for v in img)
    if a < b:
        return (a, b, img)
    if a > b:
        return (b, a, neg)
    return (a, a, max(img, neg))


def direction_of(vec: np.ndarray, matrix: np.ndarray) -> str:
    """Direction class of a hop vector.

    ``c`` (within 30 deg of the c axis), ``ab`` (within 30 deg of the a-b plane) or
    ``oblique``.
    """
    c_axis = np.cross(matrix[0], matrix[1])
    c_axis /= np.linalg.norm(c_axis)
    cosang = abs(float(vec @ c_axis)) / max(float(np.linalg.norm(vec)), 1e-12)
    if cosang >= math.cos(math.radians(30)):
        return "c"
    if cosang <= math.sin(math.radians(30)):
        return "ab"
    return "oblique"


def require_symmetric_framework(network: SiteNetwork, formula: str, why: str) -> None:
    """Refuse a framework without symmetry: every one of more than 4 Li sites its own orbit.

    That is a cation-disordered (ball-milled) model, whose framework cations sit on random
    octahedral holes. Its empty holes are not recognised as Li sites (they are equivalent
    to no occupied one), and no hop or site stands for an equivalent one elsewhere, so
    methods that work on orbits (NEB hop classes, intrinsic defects of a full sublattice)
    do not apply.

    Raises
    ------
    SimulationError
        One line naming the structure, ``why`` the calling method needs symmetry, and the
        tiers that do apply.
    """
    from halidelab.errors import SimulationError

    li = [x for x in network.sites if x.role == "li"]
    if len(li) > 4 and len({x.label for x in li}) == len(li):
        raise SimulationError(
            f"the framework of {formula} has no symmetry (each of its {len(li)} Li sites is "
            f"its own orbit, as in a cation-disordered model): {why}; use the BVSE or KMC "
            "tiers for such a model"
        )


def site_network(
    structure: Structure,
    mobile: str = "Li",
    interstitials: bool = True,
    symprec: float = 0.2,
    **kwargs: Any,
) -> SiteNetwork:
    """Li sites, interstitials and the hops between them (see :func:`_site_network`).

    A relaxed doped cell is distorted: at a tight ``symprec`` the pristine framework's
    symmetry is lost, some of its empty Li sites come out as "interstitials" (few or no
    vacancy hops left) and the hop classes no longer merge (percolation then needs every
    hop). So the tolerance is also tried loosened (x1.5 steps up to 0.5 A) and the network
    with the most Li sites is returned (the tightest tolerance among equals), with a
    warning when it is not the one asked for. A loosened tolerance whose orbits join holes
    of different coordination (an octahedron and a five-fold hole "equivalent") is a
    pseudo-symmetry and is not used. An undistorted cell keeps ``symprec``.
    """
    net = _site_network(structure, mobile, interstitials, symprec, **kwargs)
    best, best_sp, sp = net, symprec, symprec
    while sp < 0.5:
        sp = min(sp * 1.5, 0.5)
        try:
            trial = _site_network(structure, mobile, interstitials, sp, _loosened=True, **kwargs)
        except _MixedOrbits:
            continue  # a pseudo-symmetry that maps holes of different coordination together
        if sum(x.role == "li" for x in trial.sites) > sum(x.role == "li" for x in best.sites):
            best, best_sp = trial, sp
    if best is net:
        return net
    return dataclasses.replace(
        best,
        warnings=(
            *best.warnings,
            f"symmetry tolerance loosened from {symprec} to {best_sp:.3g} A to recover "
            "the Li sites and hop classes of the distorted framework",
        ),
    )


def _li_hole_kinds(s: Structure, mobile: str, holes: list, odd: list) -> set[str]:
    """Kinds of the non-oct/tet holes (``cn5`` ...) that hold a ``mobile`` atom which is in
    no octahedral or tetrahedral hole (more than 1 A from every such centre)."""
    li = [i for i, x in enumerate(s) if x.specie.symbol == mobile]
    if not li or not odd:
        return set()
    fc = s.frac_coords[li]
    if holes:
        stray = fc[s.lattice.get_all_distances(fc, [h.frac for h in holes]).min(axis=1) > 1.0]
    else:
        stray = fc
    if not len(stray):
        return set()
    d = s.lattice.get_all_distances(stray, [h.frac for h in odd])
    near = d.argmin(axis=1)[d.min(axis=1) <= 1.0]
    return {odd[int(j)].kind for j in near}


class _MixedOrbits(Exception):
    """A (loosened) tolerance whose orbits join holes of different coordination."""


def _site_network(
    structure: Structure,
    mobile: str = "Li",
    interstitials: bool = True,
    symprec: float = 0.2,
    cutoff_A: float = 4.5,
    min_cation_distance_A: float = 2.5,
    environment_radius_A: float = 4.0,
    windows: str | None = None,
    merge_tol_A: float = 0.75,
    _loosened: bool = False,
) -> SiteNetwork:
    """Li sites, interstitials and the hops between them.

    Parameters
    ----------
    structure : Structure
        Ordered structure (pymatgen). Partially occupied sites are refused.
    mobile : str
        The mobile element (Li).
    interstitials : bool
        Include empty tetrahedral (and non-Li octahedral) holes as interstitial sites.
    symprec : float
        spglib tolerance for the pristine framework symmetry, A.
    cutoff_A : float
        Longest hop considered, A.
    min_cation_distance_A : float
        Interstitials closer than this to a framework cation are dropped, A.
    environment_radius_A : float
        Framework cations within this distance of a hop's midpoint define its local
        environment (dopant neighbours), A.
    windows : {"face", "edge"}, optional
        Smallest shared polyhedron element for a hop: ``face`` (3 anions) or ``edge``
        (2 anions, octahedron-octahedron only). Default: ``face`` with interstitials,
        ``edge`` without.
    merge_tol_A : float
        See :func:`find_holes`.

    Returns
    -------
    SiteNetwork

    Raises
    ------
    StructureError
        Partial occupancies, no anions, or no Li in the structure.
    """
    if not structure.is_ordered:
        raise StructureError(
            f"{structure.composition.reduced_formula} has partially occupied sites: "
            "order it first (halidelab.structures.models.order_structure; the CLI does it for you)"
        )
    els = [s.specie.symbol for s in structure]
    if mobile not in els:
        raise StructureError(
            f"no {mobile} in {structure.composition.reduced_formula}: nothing to hop"
        )
    windows = windows or ("face" if interstitials else "edge")
    if windows not in ("face", "edge"):
        raise StructureError(f"windows must be 'face' or 'edge', got {windows!r}")
    min_shared = 3 if windows == "face" else 2
    s = structure.copy()
    s.remove_oxidation_states()
    latt = s.lattice
    m = latt.matrix
    warnings: list[str] = []
    holes = find_holes(s, merge_tol_A=merge_tol_A)
    odd = [h for h in holes if h.kind not in ("oct", "tet")]
    holes = [h for h in holes if h.kind in ("oct", "tet")]
    # A Li that is in no octahedral or tetrahedral hole may sit in a hole of another
    # coordination (five-fold in Li3AlF6): those kinds of holes are kept, as Li sites only
    # (never as interstitials, below). Cells whose Li all sit in oct/tet holes are unchanged.
    li_kinds = _li_hole_kinds(s, mobile, holes, odd)
    if li_kinds:
        holes += [h for h in odd if h.kind in li_kinds]
        odd = [h for h in odd if h.kind not in li_kinds]
    if odd:
        warnings.append(
            f"{len(odd)} hole(s) that are neither octahedral nor tetrahedral ignored "
            f"({', '.join(sorted({h.kind for h in odd}))})"
        )
    fw = _framework(s, mobile)
    ops_all, sg = _symmetry_ops(fw, symprec)
    # A Li in no hole of the anion triangulation (Li6NBr3: between one N and one Br, in a
    # polyhedron too irregular for its Delaunay tetrahedra to merge) gets a site at its own
    # position, made of the anions it touches; the tetrahedra that subdivide that
    # polyhedron are no holes of their own.
    placed = _li_position_holes(s, mobile, holes, [(R, t) for R, t in ops_all])
    if placed:
        holes = [h for h in holes if not any(_inside(h, p) for p in placed)] + placed
        warnings.append(
            f"{len(placed)} {mobile} site(s) placed at {mobile} positions that are in no "
            "anion hole (their polyhedron: the anions within 1.25 x the Li-anion contact)"
        )
    hf = np.array([h.frac for h in holes])

    # occupants: every cation in a hole
    cat_idx = [i for i, e in enumerate(els) if e not in ANIONS]
    occ: dict[int, int] = {}
    if cat_idx:
        d = latt.get_all_distances(s.frac_coords[cat_idx], hf)
        for row, i in enumerate(cat_idx):
            j = int(np.argmin(d[row]))
            if d[row, j] > 1.0:
                warnings.append(
                    f"{els[i]} atom {i} is {d[row, j]:.2f} A from the nearest hole centre"
                )
                continue
            if j in occ:
                warnings.append(f"atoms {occ[j]} and {i} share one hole")
            occ[j] = i
    m_holes = {j for j, i in occ.items() if els[i] != mobile}
    li_holes = {j for j, i in occ.items() if els[i] == mobile}
    if not li_holes:
        raise StructureError(
            f"no {mobile} atom sits in an anion hole: cannot define {mobile} sites"
        )

    # framework symmetry and orbits of the holes
    ops = []
    for R, t in ops_all:
        mp = _map_points(latt, hf, R, t, tol=max(0.5, 2 * symprec))
        if mp is not None:
            ops.append((R, t, *mp))
    if len(ops) < len(ops_all):
        warnings.append(
            f"{len(ops_all) - len(ops)} of {len(ops_all)} framework symmetry operations "
            "do not map the holes onto each other (distorted cell) and were not used"
        )
    parent, find = _union_find(len(holes))
    for _R, _t, perm, _shift in ops:
        for i, j in enumerate(perm):
            ri, rj = find(i), find(int(j))
            if ri != rj:
                parent[rj] = ri
    orbit_of = [find(i) for i in range(len(holes))]
    parent_orbit = {o: o for o in orbit_of}
    # An empty hole of a Li orbit that shares a face with an occupied hole (a Li or a
    # framework cation in it), where one of the two is a tetrahedron, is no vacant Li
    # site: two cations 1.9-2.7 A apart never both hold such a pair. The framework's
    # symmetry (anions + framework cations) makes it one with the Li sites where the Li
    # themselves break it: in the ordered spinels (Li2MgCl4: Mg on half of 16d) the empty
    # 16c octahedra join the Li 16d ones and the 8b/48f tetrahedra the Li 8a ones. Such a
    # hole leaves the Li orbit and is an interstitial candidate (16c is the spinel's
    # interstitial). Octahedra sharing a face (hcp chains, 2.9-3.1 A) stay vacant Li
    # sites, as in the Li2ZrCl6 and Li3MCl6 models whose Li orbits are half filled.
    blocked = _blocked_li_holes(holes, hf, orbit_of, li_holes, occ, latt)
    for j in blocked:
        orbit_of[j] = len(holes) + orbit_of[j]
        parent_orbit[orbit_of[j]] = orbit_of[j] - len(holes)
    li_orbits = {orbit_of[j] for j in li_holes}

    # minimum distance to framework cations, face sharing with framework polyhedra
    fc = [i for i in cat_idx if els[i] != mobile]
    if fc:
        dmin = latt.get_all_distances(hf, s.frac_coords[fc]).min(axis=1)
    else:
        dmin = np.full(len(holes), np.inf)

    def anion_set(j: int, shift: Image = (0, 0, 0)) -> set[tuple[int, Image]]:
        return _shifted(holes[j].anions, shift)

    chosen: list[int] = []
    role: dict[int, str] = {}
    for j in range(len(holes)):
        if j in m_holes:
            continue
        if orbit_of[j] in li_orbits:
            chosen.append(j)
            role[j] = "li"
        elif holes[j].kind not in ("oct", "tet"):
            continue  # kept for the Li that sit in such holes, not as interstitials
        elif interstitials:
            if dmin[j] < min_cation_distance_A:
                continue
            chosen.append(j)
            role[j] = "interstitial"
    # drop interstitials that share a face with a framework-cation polyhedron
    if interstitials and m_holes:
        m_polys = []
        for j in m_holes:
            for img in _nearby_images():
                m_polys.append(anion_set(j, img))
        keep = []
        for j in chosen:
            if role[j] == "interstitial":
                aset = anion_set(j)
                if any(len(aset & p) >= 3 for p in m_polys):
                    continue
            keep.append(j)
        chosen = keep

    judged = set(chosen) | set(blocked)  # on the framework's orbits, before the split above
    if _loosened and len({(parent_orbit[orbit_of[j]], holes[j].kind) for j in judged}) > len(
        {parent_orbit[orbit_of[j]] for j in judged}
    ):
        raise _MixedOrbits

    # labels by orbit
    sg_num = int(sg.split("(")[-1].rstrip(")")) if "(" in sg else None
    orbits: dict[int, list[int]] = {}
    for j in chosen:
        orbits.setdefault(orbit_of[j], []).append(j)
    full: dict[int, list[int]] = {}
    for j in chosen:  # Wyckoff position of the whole framework orbit (before the split)
        full.setdefault(parent_orbit[orbit_of[j]], []).append(j)
    for j in range(len(holes)):
        if parent_orbit[orbit_of[j]] in full and j not in chosen:
            full[parent_orbit[orbit_of[j]]].append(j)
    wyck_full = {o: _wyckoff(fw, hf[sorted(js)], symprec, sg_num) for o, js in full.items()}
    wyck = {o: wyck_full[parent_orbit[o]] for o in orbits}

    def letter(o: int) -> str:
        w = wyck[o] or "~"
        return w.lstrip("0123456789")

    li_o = sorted(
        [o for o in orbits if role[orbits[o][0]] == "li"],
        key=lambda o: (letter(o), *np.round(hf[min(orbits[o])], 3)),
        reverse=True,
    )
    in_o = sorted(
        [o for o in orbits if role[orbits[o][0]] == "interstitial"],
        key=lambda o: (
            holes[orbits[o][0]].kind != "tet",
            letter(o),
            *np.round(hf[min(orbits[o])], 3),
        ),
    )
    names = {o: f"Li{k + 1}" for k, o in enumerate(li_o)}
    names.update({o: f"i{k + 1}" for k, o in enumerate(in_o)})
    order = [j for o in li_o + in_o for j in sorted(orbits[o])]
    new_index = {j: k for k, j in enumerate(order)}
    orbit_rank = {o: k for k, o in enumerate(li_o + in_o)}
    sites = tuple(
        Site(
            index=new_index[j],
            label=names[orbit_of[j]],
            kind=holes[j].kind,
            role=role[j],
            frac=tuple(float(v) for v in hf[j]),
            occupant=occ.get(j) if j in li_holes else None,
            orbit=orbit_rank[orbit_of[j]],
            wyckoff=wyck[orbit_of[j]],
            anions=tuple(holes[j].anions),
            min_cation_distance_A=float(dmin[j]),
        )
        for j in order
    )

    # hops: pairs within the cutoff that share a window
    sf = np.array([site.frac for site in sites]) if sites else np.zeros((0, 3))
    nrep = np.ceil(cutoff_A / _widths(m)).astype(int)
    imgs = (
        np.array(np.meshgrid(*[np.arange(-n, n + 1) for n in nrep], indexing="ij")).reshape(3, -1).T
    )
    raw: dict[tuple[int, int, Image], tuple[float, np.ndarray, int]] = {}
    sets = [anion_set(order[k]) for k in range(len(sites))]
    for a in range(len(sites)):
        diff = (sf[None, :, :] + imgs[:, None, :] - sf[a]) @ m  # (nimg, nsite, 3)
        dist = np.linalg.norm(diff, axis=-1)
        for ki, b in zip(*np.nonzero((dist <= cutoff_A) & (dist > 0.3)), strict=True):
            img = tuple(int(v) for v in imgs[ki])
            key = _hop_key(a, int(b), img)
            if key in raw:
                continue
            ka, kb = sites[a].kind, sites[int(b)].kind
            shared = len(sets[a] & _shifted(sets[int(b)], img))
            if shared < 3 and not (min_shared == 2 and shared == 2 and ka == kb == "oct"):
                continue
            raw[key] = (float(dist[ki, b]), diff[ki, b], shared)
    keys = sorted(raw, key=lambda k: (raw[k][0], k))
    key_index = {k: n for n, k in enumerate(keys)}

    # parent classes: framework operations acting on hops
    site_perm_ops = []
    inv = {j: k for k, j in enumerate(order)}
    for _R, _t, perm, shift in ops:
        p = np.array([inv.get(int(perm[order[k]]), -1) for k in range(len(sites))])
        if np.any(p < 0):
            continue
        if any(sites[int(p[k])].label != sites[k].label for k in range(len(sites))):
            continue  # joins a vacant Li site with a hole split off its orbit (above)
        sh = np.array([shift[order[k]] for k in range(len(sites))])
        site_perm_ops.append((_R, p, sh))
    hparent, hfind = _union_find(len(keys))
    for R, p, sh in site_perm_ops:
        Ri = np.round(R).astype(int)
        for n, (a, b, img) in enumerate(keys):
            new_img = Ri @ np.array(img) + sh[b] - sh[a]
            k2 = _hop_key(int(p[a]), int(p[b]), new_img)
            n2 = key_index.get(k2)
            if n2 is None:
                continue
            r1, r2 = hfind(n), hfind(n2)
            if r1 != r2:
                hparent[r2] = r1
    roots: dict[int, int] = {}
    pclass = []
    for n in range(len(keys)):
        r = hfind(n)
        roots.setdefault(r, len(roots))
        pclass.append(roots[r])

    # local environment of each hop: framework cations near the midpoint
    env_keys: dict[tuple[Any, ...], int] = {}
    hops = []
    for n, (a, b, img) in enumerate(keys):
        dist, vec, shared = raw[(a, b, img)]
        mid = sf[a] @ m + vec / 2
        env: dict[str, int] = {}
        if fc:
            for nb in s.get_sites_in_sphere(mid, environment_radius_A):
                el = nb.specie.symbol
                if el != mobile and el not in ANIONS:
                    env[el] = env.get(el, 0) + 1
        ek = (pclass[n], tuple(sorted(env.items())))
        env_keys.setdefault(ek, len(env_keys))
        la, lb = sites[a].label, sites[b].label
        hops.append(
            Hop(
                index=n,
                site_a=a,
                site_b=b,
                image=img,
                length_A=dist,
                vector_A=tuple(float(v) for v in vec),
                kind="-".join(sorted([sites[a].kind, sites[b].kind])),
                window="face" if shared >= 3 else "edge",
                label=f"{la}-{lb}",
                parent_class=pclass[n],
                env_class=env_keys[ek],
                environment=dict(sorted(env.items())),
                direction=direction_of(vec, m),
            )
        )
    if not hops:
        warnings.append(f"no hops within {cutoff_A} A that share a polyhedron {windows}")
    params = {
        "mobile": mobile,
        "interstitials": interstitials,
        "symprec": symprec,
        "cutoff_A": cutoff_A,
        "min_cation_distance_A": min_cation_distance_A,
        "environment_radius_A": environment_radius_A,
        "windows": windows,
        "merge_tol_A": merge_tol_A,
    }
    return SiteNetwork(
        formula=s.composition.reduced_formula,
        lattice=m.tolist(),
        sites=sites,
        hops=tuple(hops),
        framework_space_group=sg,
        n_symmetry_ops=len(site_perm_ops),
        n_parent_classes=len(roots),
        n_env_classes=len(env_keys),
        warnings=tuple(warnings),
        provenance=Provenance(method="site-network", parameters=params),
    )


#: Li-anion contact distances, A (Shannon radii: Li+ six-fold 0.76 plus the anion's); the
#: polyhedron of a Li placed outside every hole is the anions within 1.25 x these.
LI_ANION_CONTACT_A = {
    "F": 2.09,
    "Cl": 2.57,
    "Br": 2.72,
    "I": 2.96,
    "O": 2.16,
    "S": 2.60,
    "Se": 2.74,
    "Te": 2.97,
    "N": 2.22,
}


def _li_position_holes(
    s: Structure, mobile: str, holes: list[_Hole], ops: list[tuple[np.ndarray, np.ndarray]]
) -> list[_Hole]:
    """Holes centred on the ``mobile`` atoms that are more than 1 A from every hole, and
    on their images under the framework operations (the vacant sites of their orbit)."""
    li = [i for i, x in enumerate(s) if x.specie.symbol == mobile]
    fc = np.mod(s.frac_coords[li], 1.0)
    if holes and len(fc):
        fc = fc[s.lattice.get_all_distances(fc, [h.frac for h in holes]).min(axis=1) > 1.0]
    if not len(fc):
        return []
    uniq: list[np.ndarray] = []
    for R, t in ops or [(np.eye(3), np.zeros(3))]:
        for p in np.mod(fc @ np.asarray(R).T + np.asarray(t), 1.0):
            if not uniq or s.lattice.get_all_distances([p], uniq).min() > 0.5:
                uniq.append(p)
    wrapped = np.mod(s.frac_coords, 1.0)
    reach = 1.25 * max(LI_ANION_CONTACT_A.values())
    out = []
    for p in uniq:
        p = np.where(np.abs(p - 1.0) < 1e-9, 0.0, p)
        anions = []
        for nb in s.get_sites_in_sphere(s.lattice.get_cartesian_coords(p), reach):
            el = nb.specie.symbol
            if el in ANIONS and nb.nn_distance <= 1.25 * LI_ANION_CONTACT_A.get(el, 2.6):
                img = np.round(nb.frac_coords - wrapped[nb.index]).astype(int)
                anions.append((int(nb.index), tuple(int(v) for v in img)))
        if len(anions) >= 2:
            kind = {4: "tet", 6: "oct"}.get(len(anions), f"cn{len(anions)}")
            out.append(_Hole(np.array(p, dtype=float), sorted(anions), kind))
    return out


def _inside(h: _Hole, placed: _Hole) -> bool:
    """Whether all of ``h``'s anions belong to the polyhedron ``placed`` (any nearby
    image of it)."""
    base = np.round(h.frac - placed.frac).astype(int)
    mine = set(h.anions)
    for near in _nearby_images():
        img = base + near
        if mine <= _shifted(placed.anions, img):
            return True
    return False


def _blocked_li_holes(
    holes: list[_Hole],
    hf: np.ndarray,
    orbit_of: list[int],
    li_holes: set[int],
    occ: dict[int, int],
    latt: Any,
) -> list[int]:
    """Empty holes of Li orbits that share a face with an occupied hole, one of the two
    a tetrahedron (see :func:`_site_network`)."""
    li_orbits = {orbit_of[j] for j in li_holes}
    empty = [j for j in range(len(holes)) if orbit_of[j] in li_orbits and j not in occ]
    full = sorted(occ)
    if not empty or not full:
        return []
    d = latt.get_all_distances(hf[empty], hf[full])
    out = []
    for row, j in enumerate(empty):
        for col in np.nonzero(d[row] < 3.5)[0]:
            k = full[int(col)]
            if holes[j].kind == holes[k].kind == "oct":
                continue
            if _shares_face(holes[j], holes[k], hf[j], hf[k], latt):
                out.append(j)
                break
    return out


def _shares_face(a: _Hole, b: _Hole, fa: np.ndarray, fb: np.ndarray, latt: Any) -> bool:
    """Whether two holes share at least 3 anions (``b`` seen at any image near ``a``)."""
    base = np.round(fa - fb).astype(int)
    sa = set(a.anions)
    for near in _nearby_images():
        img = base + near
        if len(sa & _shifted(b.anions, img)) >= 3:
            return True
    return False


def _shifted(anions: Iterable[tuple[int, Any]], img: Any) -> set[tuple[int, Image]]:
    """Anions ``(index, image)`` of a hole seen from ``img`` cells further."""
    return {(a, (i[0] + img[0], i[1] + img[1], i[2] + img[2])) for a, i in anions}


def _nearby_images() -> list[Image]:
    return [(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)]
