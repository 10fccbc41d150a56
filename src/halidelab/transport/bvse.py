"""Bond-valence site energy (BVSE) maps for Li+ and percolation barriers in 1D/2D/3D.

The energy of a test Li+ at point r (Chen & Adams, softBV; Chen, Wong & Adams,
Acta Cryst. B 75 (2019) 1096; bvlain's implementation, Dembitskiy et al.) is

    E(r) = sum_anions  D0 [ (exp(alpha (R_min - d)) - 1)^2 - 1 ] / 2
         + sum_cations 14.4 q_Li q_M / sqrt(n_Li n_M) / d * erfc(d / (f (r_Li + r_M)))

(eV, d in A): a Morse-type bond-valence attraction to the anions plus a screened
Coulomb repulsion from the other cations (mobile Li removed, f = 0.74, n the principal
quantum numbers, r the covalent radii). The softBV parameters (R_min, alpha, D0) are
bvlain's tables; this module reads them through ``bvlain.Lain`` (pinned version) and
uses its ``BVSEPotential`` formulas.

Why our own grid and percolation instead of ``Lain.bvse_distribution`` and
``Lain.percolation_barriers`` (``benchmarks/bench_bvse.py`` compares both):

- bvlain's grid is ``linspace(0, 1, n)`` per axis, so the last plane repeats the first;
  ours is the periodic grid (n points, spacing 1/n), which a .cube file and a
  periodic connected-component analysis need. At the same points the energies agree
  with bvlain's to 1e-5 eV (the remaining difference: bvlain keeps the 100 nearest
  neighbours, we keep everything within ``r_cut``).
- bvlain evaluates all grid points x 100 neighbours at once (about 1 GB per array for a
  200-atom supercell at 0.2 A); we evaluate in chunks, so doped supercells fit.
- bvlain decides the percolation dimension by counting copies of one voxel in a 2x2x2
  supercell, which misreads e.g. a 2D net spanned by [110] and [1-10] (equal modulo 2)
  as 1D. We use a periodic union-find: connected components on the grid, each carrying
  the lattice translations it contains; the dimension is the rank of that set. The
  barrier of each dimension is the lowest threshold above the minimum at which a
  component of that rank exists, found by bisection over the grid energies (exact to
  the grid). It also gives the barrier along each cell axis.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import math
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import Structure
from scipy import ndimage
from scipy.spatial import cKDTree

from halidelab.errors import StructureError
from halidelab.records import Provenance, Record

#: Screening factor f of the softBV Coulomb term (bvlain default).
SCREENING_F = 0.74
#: Cap (eV above the minimum) on values written to .cube files.
CUBE_CAP_EV = 20.0
#: Elements that sit on the anion frame when assigning default oxidation states.
_ANIONS = frozenset({"F", "Cl", "Br", "I", "O", "S", "Se", "Te", "N"})


@dataclasses.dataclass(frozen=True)
class BVSEResult(Record):
    """Percolation barriers of a BVSE map.

    Attributes
    ----------
    formula : str
    mobile_ion : str
    e_1d_eV, e_2d_eV, e_3d_eV : float or None
        Lowest energy above the map minimum at which the Li-accessible region
        percolates in at least 1, 2 or 3 independent directions (None: not below
        ``e_max_eV``). Always e_1d <= e_2d <= e_3d.
    e_axis_eV : tuple of (float or None)
        Lowest percolation energy along the a, b and c axes (a path whose translation
        has a component along that axis).
    dimensionality_at_e_max : int
    e_min_eV : float
        Absolute minimum of the map (eV), the zero of the barriers.
    grid_shape : tuple of int
    resolution_A : float
    r_cut_A : float
    oxidation_states : dict
    wall_s : float
    provenance : Provenance
    """

    formula: str
    mobile_ion: str
    e_1d_eV: float | None
    e_2d_eV: float | None
    e_3d_eV: float | None
    e_axis_eV: tuple[float | None, float | None, float | None]
    dimensionality_at_e_max: int
    e_max_eV: float
    e_min_eV: float
    grid_shape: tuple[int, int, int]
    resolution_A: float
    r_cut_A: float
    oxidation_states: dict[str, int]
    wall_s: float
    provenance: Provenance


class BVSEMap:
    """Li+ site-energy grid on a periodic cell (not a record: holds the array).

    Attributes
    ----------
    energies_eV : ndarray, shape (n1, n2, n3)
        E at fractional points (i/n1, j/n2, k/n3), eV (absolute, not shifted).
    structure : Structure
        The structure (with oxidation states) the map belongs to.
    """

    def __init__(
        self,
        structure: Structure,
        energies_eV: np.ndarray,
        mobile_ion: str,
        resolution_A: float,
        r_cut_A: float,
        oxidation_states: dict[str, int],
    ):
        self.structure = structure
        self.energies_eV = energies_eV
        self.mobile_ion = mobile_ion
        self.resolution_A = resolution_A
        self.r_cut_A = r_cut_A
        self.oxidation_states = oxidation_states

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.energies_eV.shape)  # type: ignore[return-value]

    def write_cube(self, path: str | Path, relative: bool = True) -> Path:
        """Write the map as a Gaussian .cube file (eV; relative to the minimum by default).

        The atoms are the full structure (mobile ions included) in A, converted to Bohr
        by ASE's writer; the grid spans the cell with n points per axis (periodic).
        """
        from ase.io.cube import write_cube
        from pymatgen.io.ase import AseAtomsAdaptor

        from halidelab.outputs import atomic_open

        path = Path(path)
        if path.suffix != ".cube":
            path = path.with_suffix(".cube")
        if not path.parent.is_dir():
            raise StructureError(f"cannot write {path}: the folder {path.parent} does not exist")
        s = self.structure.copy()
        s.remove_oxidation_states()
        atoms = AseAtomsAdaptor.get_atoms(s)
        data = self.energies_eV - (self.energies_eV.min() if relative else 0.0)
        # points on top of a nucleus diverge (1e15 eV); cap them so viewers scale sensibly
        data = np.minimum(data, data.min() + CUBE_CAP_EV)
        with atomic_open(path, "w") as fh:
            write_cube(
                fh,
                atoms,
                data=data,
                comment=f"BVSE {self.mobile_ion} site energy (eV"
                f"{', relative to minimum' if relative else ''}) by halidelab",
            )
        return path


# ----------------------------------------------------------------------------- energy


def assign_oxidation_states(structure: Structure) -> Structure:
    """Structure decorated with formal oxidation states.

    Keeps states already present; otherwise uses halidelab's default valences (halide
    frameworks: Li+, Zr4+, Nb5+, Y3+, In3+, Cl-, O2- ...) and checks charge neutrality,
    falling back to pymatgen's ``BVAnalyzer``.

    Raises
    ------
    StructureError
        Partial occupancies, or no charge-neutral assignment found.
    """
    if not structure.is_ordered:
        raise StructureError(
            f"{structure.composition.reduced_formula} has partially occupied sites: order the "
            "structure first (halidelab.structures.models.order_structure; the CLI does it for you)"
        )
    species = structure.species
    if all(getattr(sp, "oxi_state", None) not in (None, 0) for sp in species):
        total = sum(sp.oxi_state for sp in species)
        if abs(total) > 1e-6:
            raise StructureError(
                f"oxidation states in the structure sum to {total:+g}, not 0: fix them"
            )
        return structure.copy()
    from halidelab.composition import default_valence

    s = structure.copy()
    s.remove_oxidation_states()
    try:
        valences = {
            el.symbol: default_valence(el.symbol, anion_site=el.symbol in _ANIONS)
            for el in s.composition.elements
        }
    except Exception:
        valences = None
    if valences is not None:
        total = sum(valences[el.symbol] * n for el, n in s.composition.items())
        if abs(total) < 1e-6:
            s.add_oxidation_state_by_element(valences)
            return s
    try:
        from pymatgen.analysis.bond_valence import BVAnalyzer

        return BVAnalyzer().get_oxi_state_decorated_structure(s)
    except Exception:
        raise StructureError(
            f"cannot assign charge-neutral oxidation states to {s.composition.reduced_formula}: "
            "it is not neutral with the usual valences; check the file, or write the oxidation "
            "states into it (CIF _atom_type_oxidation_number, or species like Nb5+)"
        ) from None


def _parse_ion(mobile_ion: str) -> tuple[str, int]:
    import re

    m = re.fullmatch(r"([A-Z][a-z]?)(\d*)([+-]?)", mobile_ion.strip())
    if not m:
        raise StructureError(f"cannot read mobile ion {mobile_ion!r}; write it like 'Li' or 'Li1+'")
    el, num, sign = m.groups()
    q = int(num or 1) * (-1 if sign == "-" else 1)
    return el, q


class _Field:
    """Framework atoms (mobile ions removed) with softBV parameters from bvlain."""

    def __init__(self, structure: Structure, mobile_ion: str, r_cut: float):
        from bvlain import Lain
        from pymatgen.io.ase import AseAtomsAdaptor

        self.element, self.q = _parse_ion(mobile_ion)
        if self.element not in structure.composition:
            raise StructureError(
                f"no {self.element} in {structure.composition.reduced_formula}: "
                f"a BVSE map for {self.element}+ needs the mobile ion in the structure"
            )
        lain = Lain(verbose=False)
        lain.atoms_copy = AseAtomsAdaptor.get_atoms(structure)
        lain.cell = lain.atoms_copy.cell
        try:
            with redirect_stdout(io.StringIO()):
                lain._get_params(f"{self.element}{abs(self.q)}{'+' if self.q > 0 else '-'}")
        except KeyError:
            pairs = sorted({str(sp) for sp in structure.species})
            raise StructureError(
                f"no softBV parameters for {self.element}{self.q:+d} with {pairs}: "
                "check the oxidation states"
            ) from None
        fw = lain.framework
        self.cell = np.array(structure.lattice.matrix)
        self.q_mi, self.rc_mi, self.n_mi = float(lain.q_mi), float(lain.rc_mi), float(lain.n_mi)
        q = fw.get_array("oxi_states").astype(float)
        self.is_anion = q * self.q_mi < 0
        self.q_rep = np.where(q * self.q_mi > 0, q, 0.0)
        self.r_min = fw.get_array("r_min")
        self.alpha = fw.get_array("alpha")
        self.d0 = fw.get_array("d0")
        self.r_c = fw.get_array("r_c")
        self.n = fw.get_array("n").astype(float)
        self.frac = fw.get_scaled_positions(wrap=True)
        self.r_cut = r_cut
        # periodic images covering every point of the cell within r_cut
        inv = np.linalg.inv(self.cell)
        widths = 1.0 / np.linalg.norm(inv, axis=0)  # face-to-face widths of the cell, A
        reps = [int(math.ceil(r_cut / w)) for w in widths]
        shifts = np.array(list(itertools.product(*[range(-r, r + 1) for r in reps])), dtype=float)
        pos = (self.frac[None, :, :] + shifts[:, None, :]).reshape(-1, 3) @ self.cell
        self.index = np.tile(np.arange(len(self.frac)), len(shifts))
        self.tree = cKDTree(pos)
        self.pos = pos

    def energy(
        self,
        frac_points: np.ndarray,
        chunk: int = 20000,
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """E(r) in eV at fractional points (any values; they are wrapped into the cell).

        ``progress(done, total)`` is called after each chunk of points.
        """
        from bvlain.potentials import BVSEPotential

        pts = np.mod(np.asarray(frac_points, dtype=float), 1.0) @ self.cell
        out = np.empty(len(pts))
        for start in range(0, len(pts), chunk):
            p = pts[start : start + chunk]
            ptree = cKDTree(p)
            sdm = ptree.sparse_distance_matrix(self.tree, self.r_cut, output_type="coo_matrix")
            rows, cols, d = sdm.row, sdm.col, sdm.data
            d = np.maximum(d, 1e-6)  # a grid point on a nucleus: huge but finite energy
            j = self.index[cols]
            e = np.zeros_like(d)
            an = self.is_anion[j]
            e[an] = BVSEPotential.Morse(d[an], self.r_min[j[an]], self.d0[j[an]], self.alpha[j[an]])
            cat = ~an & (self.q_rep[j] != 0)
            e[cat] = BVSEPotential.Coulomb(
                d[cat],
                self.q_mi,
                self.q_rep[j[cat]],
                self.rc_mi,
                self.r_c[j[cat]],
                self.n_mi,
                self.n[j[cat]],
                f=SCREENING_F,
            )
            out[start : start + chunk] = np.bincount(rows, weights=e, minlength=len(p))
            if progress is not None:
                progress(min(start + chunk, len(pts)), len(pts))
        return out


def grid_shape(structure: Structure, resolution_A: float) -> tuple[int, int, int]:
    """Points per axis so the spacing along each lattice vector is <= ``resolution_A``."""
    if not 0.01 <= resolution_A <= 2.0:
        raise StructureError(
            f"resolution {resolution_A} A is out of range; use 0.05-1 A (0.2 typical)"
        )
    return tuple(max(4, int(math.ceil(x / resolution_A))) for x in structure.lattice.abc)  # type: ignore[return-value]


def site_energy(
    structure: Structure, frac_points: np.ndarray, mobile_ion: str = "Li", r_cut_A: float = 10.0
) -> np.ndarray:
    """BVSE energy (eV) of a test ion at arbitrary fractional coordinates.

    Parameters
    ----------
    structure : Structure
        Ordered; oxidation states are assigned by :func:`assign_oxidation_states`.
    frac_points : array (m, 3)
    mobile_ion : str
        ``"Li"`` (= ``"Li1+"``), ``"Na"``...
    r_cut_A : float
        Interaction cutoff, A.
    """
    s = assign_oxidation_states(structure)
    return _Field(s, mobile_ion, r_cut_A).energy(np.atleast_2d(frac_points))


def bvse_field(
    structure: Structure, mobile_ion: str = "Li", r_cut_A: float = 10.0
) -> Callable[[np.ndarray], np.ndarray]:
    """The BVSE energy of a test ion as a function of Cartesian points: ``f(points (m, 3)
    in A) -> (m,) eV``, the field built once (:func:`site_energy` builds it per call)."""
    s = assign_oxidation_states(structure)
    field = _Field(s, mobile_ion, r_cut_A)
    inv = np.linalg.inv(field.cell)

    def energy(points_A: np.ndarray) -> np.ndarray:
        return field.energy(np.atleast_2d(np.asarray(points_A, dtype=float)) @ inv)

    return energy


def bvse_map(
    structure: Structure,
    mobile_ion: str = "Li",
    resolution_A: float = 0.2,
    r_cut_A: float = 10.0,
    shape: tuple[int, int, int] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BVSEMap:
    """The BVSE grid of a test ion over the periodic cell.

    Parameters
    ----------
    structure : Structure
        Ordered structure (pristine or a doped supercell).
    mobile_ion : str
    resolution_A : float
        Largest grid spacing along each lattice vector, A.
    r_cut_A : float
    shape : (n1, n2, n3), optional
        Explicit grid (overrides ``resolution_A``).
    progress : callable, optional
        ``progress(points_done, points_total)`` while the grid is evaluated.
    """
    if isinstance(structure, Structure) is False:
        from halidelab.atoms import to_structure

        structure = to_structure(structure)
    s = assign_oxidation_states(structure)
    n = tuple(int(v) for v in shape) if shape is not None else grid_shape(s, resolution_A)
    if min(n) < 2:
        raise StructureError(f"grid shape {n} too small")
    field = _Field(s, mobile_ion, r_cut_A)
    axes = [np.arange(k) / k for k in n]
    pts = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    energies = field.energy(pts, progress=progress).reshape(n)
    oxi = {str(sp.element): int(sp.oxi_state) for sp in s.species}
    return BVSEMap(s, energies, mobile_ion, resolution_A, r_cut_A, oxi)


# --------------------------------------------------------------- sites and hop saddles


def _descend(energies: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Grid index of the local minimum reached from ``start`` by steepest descent over the
    26 periodic neighbours (indices unwrapped: the result is where the walk ends)."""
    n = np.array(energies.shape)
    steps = np.array([d for d in itertools.product((-1, 0, 1), repeat=3) if any(d)])
    here = np.asarray(start, dtype=int).copy()
    e_here = energies[tuple(here % n)]
    for _ in range(int(n.sum())):
        nb = here[None] + steps
        e_nb = energies[tuple((nb % n).T)]
        k = int(np.argmin(e_nb))
        if e_nb[k] >= e_here:
            break
        here, e_here = nb[k], e_nb[k]
    return here


def _site_images(
    bmap: BVSEMap, site_frac: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, cKDTree]:
    """Grid shape, cell matrix, sites, the shifts -2..2 per axis and a tree of the sites'
    images under them (tree index = shift index * n_sites + site): nearest-site queries
    for grid points up to a cell outside the cell."""
    n = np.array(bmap.energies_eV.shape)
    matrix = np.array(bmap.structure.lattice.matrix)
    frac = np.asarray(site_frac, dtype=float).reshape(-1, 3)
    shifts = np.array(list(itertools.product(range(-2, 3), repeat=3)))
    tree = cKDTree((frac[None] + shifts[:, None]).reshape(-1, 3) @ matrix)
    return n, matrix, frac, shifts, tree


def hop_path_energies(
    bmap: BVSEMap,
    site_frac: np.ndarray,
    hops: Sequence[tuple[int, int, Sequence[int]]],
    margin_A: float = 1.5,
    locations: bool = False,
) -> tuple[np.ndarray, ...]:
    """Site energies at their basin minima and hop saddles along minimum-energy paths.

    A site's energy is the map's value at the local minimum that steepest descent from its
    centre reaches, when that minimum lies in the site's Voronoi cell (the grid points
    nearer to its centre than to any other site's); a site whose descent leaves its cell is
    a shoulder, not a minimum, and keeps its centre's value. A hop's saddle is the lowest
    energy at which the two sites' starting points are joined by grid points (26-neighbour
    steps) no higher than it, within the union of the two sites' Voronoi cells and the
    points on the straight line between them, in a box ``margin_A`` larger than the hop on
    each side: the highest point of the minimum-energy path, exact to the grid, found by
    bisection over the box's energies as :func:`percolation_barriers` finds its thresholds.
    Keeping to the two cells stops the path from passing through a third site (that is two
    hops of the network, not one).

    Why not the straight line: its maximum bounds the saddle from above, and where sites
    are centroids of split positions (Li6NBr3) or the path bends round an anion it is eV
    too high. Why not a string or NEB on the BVSE energy: the grid is already what the
    percolation barriers use, and the bisection has no step or convergence to tune;
    ``benchmarks/bench_bvse_paths.py`` runs pymatgen-analysis-diffusion's string relaxation
    (``NEBPathfinder.string_relax``) on the same grid: it never finds a lower maximum (on
    real cells it stops 0.02-0.05 eV above, median) and, tried at the five step sizes
    it needs on BVSE gradients, takes 400-500x longer.

    Parameters
    ----------
    bmap : BVSEMap
    site_frac : array (n_sites, 3)
        Site centres, fractional.
    hops : sequence of (a, b, image)
        Site indices and the lattice translation of ``b``.
    margin_A : float
        How far (A) beyond the hop's bounding box a path may go.
    locations : bool
        Also return where: each site's grid point (its basin minimum, or its centre for a
        shoulder) and each hop's saddle grid point, fractional (unwrapped: a saddle lies
        near the straight line from site ``a``'s point; NaN where no path joins).

    Returns
    -------
    (site_eV, saddle_eV) : ndarray, ndarray
        Absolute map energies (eV) of the sites (``n_sites``) and hop saddles (``len(hops)``);
        grid values, so a saddle can lie a few meV off the continuous one (0.15 A grid:
        within 5 meV of a 0.1 A grid on Li3InCl6). With ``locations``, followed by the
        sites' points ``(n_sites, 3)`` and the saddles' ``(len(hops), 3)``.
    """
    e = bmap.energies_eV
    n, matrix, frac, shifts, tree = _site_images(bmap, site_frac)
    ns = len(frac)
    zero = int(np.flatnonzero((shifts == 0).all(axis=1))[0])

    def owner(idx: np.ndarray) -> np.ndarray:
        """Index (shift * ns + site) of the site nearest to each grid index."""
        return tree.query((idx / n) @ matrix)[1]

    centre = np.rint(frac * n).astype(int)
    start = centre.copy()
    site_e = np.empty(ns)
    for i in range(ns):
        low = _descend(e, centre[i])
        if int(owner(low[None])[0]) == zero * ns + i:
            start[i] = low
        site_e[i] = e[tuple(start[i] % n)]
    pad = np.ceil(margin_A / (np.array(bmap.structure.lattice.abc) / n)).astype(int)
    stencil = np.ones((3, 3, 3), dtype=bool)
    saddles = np.empty(len(hops))
    where = np.full((len(hops), 3), np.nan)
    for k, (a, b, image) in enumerate(hops):
        img = np.asarray(image, dtype=int)
        ga, gb = start[a], start[b] + img * n
        ca, cb = frac[a] * n, (frac[b] + img) * n
        ends = np.array([ga, gb, ca, cb])
        lo = np.floor(ends.min(axis=0)).astype(int) - pad
        hi = np.ceil(ends.max(axis=0)).astype(int) + pad
        axes = [np.arange(x, y + 1) for x, y in zip(lo, hi, strict=True)]
        idx = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
        shape = idx.shape[:3]
        flat = idx.reshape(-1, 3)
        box = e[tuple((flat % n).T)].reshape(shape)
        o = owner(flat)
        match = np.flatnonzero((shifts == img).all(axis=1))
        shift_b = int(match[0]) if len(match) else -1  # beyond the images: the line alone
        allowed = ((o == zero * ns + a) | (o == shift_b * ns + b)).reshape(shape)
        # the straight line, and the descents from the centres to the starts
        for p, q in ((ca, cb), (ca, ga), (cb, gb)):
            m = 2 + 3 * int(np.ceil(np.abs(q - p).max()))
            t = np.linspace(0.0, 1.0, m)[:, None]
            pts = np.rint(p[None] + t * (q - p)[None]).astype(int) - lo
            allowed[tuple(pts.T)] = True
        s, g = tuple(ga - lo), tuple(gb - lo)
        levels = np.unique(box[allowed])
        levels = levels[levels >= max(box[s], box[g])]

        def joined(t: float, s: tuple = s, g: tuple = g, box: Any = box, ok: Any = allowed) -> bool:
            lab, _ = ndimage.label(ok & (box <= t), structure=stencil)
            return bool(lab[s] and lab[s] == lab[g])

        found = _lowest(box, levels, joined)
        saddles[k] = math.inf if found is None else found
        if locations and found is not None:
            # the point at the joining level: the saddle (ties are equal energies)
            where[k] = (np.argwhere(allowed & (box == found))[0] + lo) / n
    if locations:
        return site_e, saddles, start / n, where
    return site_e, saddles


def undirected_hop(a: int, b: int, image: Sequence[int]) -> tuple[int, int, tuple[int, ...]]:
    """One spelling of an undirected hop from site ``a`` to site ``b`` at ``image``: a < b,
    or a == b with the image's first nonzero component positive (b -> a at -image is the
    same hop)."""
    img = tuple(int(x) for x in image)
    if a > b or (a == b and next((x for x in img if x), 0) < 0):
        return b, a, tuple(-x for x in img)
    return a, b, img


def basin_contacts(
    bmap: BVSEMap, site_frac: np.ndarray
) -> list[tuple[int, int, tuple[int, int, int]]]:
    """Pairs of sites whose Voronoi cells touch on the grid: every hop a Li can make
    between their basins without passing through a third site's cell.

    Two grid points that are neighbours (26-neighbour stencil, the connectivity of
    :func:`hop_path_energies` and of the percolation) and nearest to different sites, or to
    different periodic images of one site, put those two sites in contact.

    Returns
    -------
    list of (a, b, image)
        ``b`` at ``site_frac[b] + image``; each undirected contact once, as
        :func:`undirected_hop` spells it.
    """
    n, matrix, frac, shifts, tree = _site_images(bmap, site_frac)
    ns = len(frac)
    grid = np.stack(np.meshgrid(*[np.arange(k) for k in n], indexing="ij"), axis=-1)
    owner = tree.query((grid.reshape(-1, 3) / n) @ matrix)[1].reshape(tuple(n))
    site, shift = owner % ns, shifts[owner // ns]
    found: set[tuple[int, int, tuple[int, int, int]]] = set()
    for d in _DIRS:
        # the neighbour of each grid point, wrapped back into the cell, and the wrap
        nb_site = np.roll(site, [-x for x in d], axis=(0, 1, 2))
        nb_shift = np.roll(shift, [-x for x in d], axis=(0, 1, 2))
        wrap = np.floor_divide(grid + np.array(d), n)
        image = nb_shift + wrap - shift
        touch = (nb_site != site) | image.any(axis=-1)
        for a, b, img in zip(site[touch], nb_site[touch], image[touch], strict=True):
            found.add(undirected_hop(int(a), int(b), img))
    return sorted(found)


# ------------------------------------------------------------------------ percolation

# 13 half-neighbourhood directions of the 26-neighbour stencil (bvlain uses 26 too)
_DIRS = [d for d in itertools.product((-1, 0, 1), repeat=3) if d > (0, 0, 0)]


def _rank(vectors: list[np.ndarray]) -> int:
    return int(np.linalg.matrix_rank(np.array(vectors, dtype=float))) if vectors else 0


def periodic_components(mask: np.ndarray) -> tuple[np.ndarray, dict[int, list[np.ndarray]]]:
    """Connected components of a periodic boolean grid and their translation vectors.

    Parameters
    ----------
    mask : bool array (n1, n2, n3)
        Voxels that are open; the grid is periodic along all three axes; voxels are
        connected to their 26 neighbours.

    Returns
    -------
    labels : int array
        Component label of each voxel within the cell (0 = closed); voxels connected only
        through the cell boundary share a label.
    translations : dict label -> list of integer 3-vectors
        A basis (at most 3 independent vectors) of the lattice translations under which
        the component maps onto itself in the infinite crystal. Its length is the
        percolation dimension of that component (0: isolated pocket).
    """
    st = ndimage.generate_binary_structure(3, 3)
    labels, nlab = ndimage.label(mask, structure=st)
    if nlab == 0:
        return labels, {}
    shape = np.array(mask.shape)
    idx = np.indices(mask.shape)
    chunks = []
    for d in _DIRS:
        tgt = [(idx[ax] + d[ax]) for ax in range(3)]
        wrap = [np.floor_divide(tgt[ax], shape[ax]) for ax in range(3)]
        crosses = (wrap[0] != 0) | (wrap[1] != 0) | (wrap[2] != 0)
        rolled = np.roll(labels, shift=tuple(-x for x in d), axis=(0, 1, 2))
        sel = crosses & (labels > 0) & (rolled > 0)
        if sel.any():
            chunks.append(
                np.stack([labels[sel], rolled[sel], *(wrap[ax][sel] for ax in range(3))], axis=1)
            )
    edges = np.unique(np.concatenate(chunks), axis=0) if chunks else np.zeros((0, 5), dtype=int)
    parent = list(range(nlab + 1))
    offset = [np.zeros(3, dtype=int) for _ in range(nlab + 1)]  # position relative to parent
    basis: dict[int, list[np.ndarray]] = {i: [] for i in range(1, nlab + 1)}

    def find(x: int) -> tuple[int, np.ndarray]:
        path = []
        while parent[x] != x:
            path.append(x)
            x = parent[x]
        root = x
        # compress: offset of each node relative to the root
        acc = np.zeros(3, dtype=int)
        for node in reversed(path):
            acc = acc + offset[node]
            offset[node] = acc.copy()
            parent[node] = root
        return root, (offset[path[0]] if path else np.zeros(3, dtype=int))

    def add(root: int, vec: np.ndarray) -> None:
        if not vec.any() or len(basis[root]) >= 3:
            return
        if _rank([*basis[root], vec]) > len(basis[root]):
            basis[root].append(vec)

    # edge (a, b, w): voxel of component a in cell 0 touches component b in cell w
    for a, b, *w in edges.tolist():
        ra, oa = find(a)
        rb, ob = find(b)
        wv = np.array(w, dtype=int)
        if ra == rb:
            add(ra, oa + wv - ob)
        else:
            parent[rb] = ra
            offset[rb] = oa + wv - ob
            for v in basis.pop(rb):
                add(ra, v)
    roots = {}
    for lab in range(1, nlab + 1):
        roots[lab] = find(lab)[0]
    lut = np.zeros(nlab + 1, dtype=labels.dtype)
    for lab, r in roots.items():
        lut[lab] = r
    merged = lut[labels]
    return merged, {r: basis[r] for r in set(roots.values())}


def _percolation(energies: np.ndarray, threshold: float) -> tuple[int, tuple[bool, bool, bool]]:
    """Dimension and axes of percolation for voxels with E - E_min <= threshold."""
    _, trans = periodic_components(energies <= threshold)
    dim = max((len(v) for v in trans.values()), default=0)
    axes = [False, False, False]
    for vecs in trans.values():
        for v in vecs:
            for ax in range(3):
                axes[ax] = axes[ax] or v[ax] != 0
    return dim, (axes[0], axes[1], axes[2])


def _lowest(energies: np.ndarray, levels: np.ndarray, ok: Any) -> float | None:
    """Smallest level at which ``ok(threshold)`` holds (monotone), by bisection."""
    lo, hi = 0, len(levels) - 1
    if not ok(levels[hi]):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(levels[mid]):
            hi = mid
        else:
            lo = mid + 1
    return float(levels[lo])


def percolation_barriers(bmap: BVSEMap, e_max_eV: float = 5.0) -> dict[str, Any]:
    """Percolation energies of a BVSE map in 1D, 2D, 3D and along each axis.

    Parameters
    ----------
    bmap : BVSEMap
    e_max_eV : float
        Highest energy above the minimum that is searched; barriers above are None.

    Returns
    -------
    dict
        ``e_1d_eV``, ``e_2d_eV``, ``e_3d_eV``, ``e_axis_eV`` (a, b, c),
        ``dimensionality_at_e_max``; energies relative to the map minimum (eV), exact to
        the grid (each is the energy of a grid voxel).
    """
    rel = bmap.energies_eV - bmap.energies_eV.min()
    levels = np.unique(rel[rel <= e_max_eV])
    cache: dict[float, tuple[int, tuple[bool, bool, bool]]] = {}

    def perc(t: float) -> tuple[int, tuple[bool, bool, bool]]:
        if t not in cache:
            cache[t] = _percolation(rel, t)
        return cache[t]

    out: dict[str, Any] = {}
    for d in (1, 2, 3):
        out[f"e_{d}d_eV"] = _lowest(rel, levels, lambda t, d=d: perc(t)[0] >= d)
    out["e_axis_eV"] = tuple(
        _lowest(rel, levels, lambda t, ax=ax: perc(t)[1][ax]) for ax in range(3)
    )
    out["dimensionality_at_e_max"] = perc(float(levels[-1]))[0]
    return out


def bvse(
    structure: Structure,
    mobile_ion: str = "Li",
    resolution_A: float = 0.2,
    r_cut_A: float = 10.0,
    e_max_eV: float = 5.0,
    cube: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[BVSEResult, BVSEMap]:
    """BVSE map and 1D/2D/3D percolation barriers of a mobile ion.

    Parameters
    ----------
    structure : Structure or ase Atoms
        Ordered (pristine or doped supercell). A structure with partial occupancies is
        replaced by its lowest-Ewald-energy ordered model
        (:func:`halidelab.structures.models.order_structure`), recorded in the
        provenance as ``parameters["ordering"]``.
    mobile_ion : str
        ``"Li"`` by default.
    resolution_A : float
        Grid spacing, A (0.2 A: barriers converge to ~0.02 eV; 0.1 A for final numbers).
    r_cut_A : float
        Interaction cutoff, A.
    e_max_eV : float
        Search ceiling for the barriers, eV above the minimum.
    cube : path, optional
        Write the map (relative to its minimum, eV) as a Gaussian cube file.
    progress : callable, optional
        ``progress(points_done, points_total)`` while the grid is evaluated.

    Returns
    -------
    (BVSEResult, BVSEMap)
    """
    t0 = time.perf_counter()
    ordering = None
    if isinstance(structure, Structure) and not structure.is_ordered:
        from halidelab.structures.models import order_structure

        structure, ordering = order_structure(structure, structure.composition.reduced_formula)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bmap = bvse_map(structure, mobile_ion, resolution_A, r_cut_A, progress=progress)
        bars = percolation_barriers(bmap, e_max_eV)
    if cube is not None:
        bmap.write_cube(cube)
    from importlib.metadata import version

    res = BVSEResult(
        formula=bmap.structure.composition.reduced_formula,
        mobile_ion=mobile_ion,
        e_1d_eV=bars["e_1d_eV"],
        e_2d_eV=bars["e_2d_eV"],
        e_3d_eV=bars["e_3d_eV"],
        e_axis_eV=bars["e_axis_eV"],
        dimensionality_at_e_max=bars["dimensionality_at_e_max"],
        e_max_eV=e_max_eV,
        e_min_eV=float(bmap.energies_eV.min()),
        grid_shape=bmap.shape,
        resolution_A=resolution_A,
        r_cut_A=r_cut_A,
        oxidation_states=bmap.oxidation_states,
        wall_s=time.perf_counter() - t0,
        provenance=Provenance(
            method="bvse-softbv",
            model="softBV (bvlain tables)",
            model_version=f"bvlain {version('bvlain')}",
            parameters={
                "resolution_A": resolution_A,
                "r_cut_A": r_cut_A,
                "screening_f": SCREENING_F,
                "connectivity": 26,
                "e_max_eV": e_max_eV,
                **({"ordering": ordering} if ordering else {}),
            },
        ),
    )
    return res, bmap
