"""Ordered, charge-balanced supercell models of designed compositions.

``build_models(design)`` takes a :class:`~halidelab.composition.DesignedComposition`,
puts it on its parent framework (shipped CIF, lattice estimated by Vegard scaling),
picks the supercell that represents the requested x best within ``max_atoms`` (the x
actually modelled is reported), places dopants, Li and Li vacancies by Ewald-ranked
simulated annealing, and keeps ``n_configs`` symmetry-distinct low-energy
configurations (pymatgen ``StructureMatcher``).

Three synthesis states (``state``):

- ``annealed`` (default): the ``n_configs`` lowest-Ewald-energy, symmetry-distinct
  orderings of Li, vacancies and dopants on the framework's own Li and M sites: the
  low-temperature, ordered limit that an annealed sample approaches.
- ``ball-milled``: cation-disordered. Li, every framework cation (M and dopant) and the
  vacancies are spread over all octahedral holes of the anion lattice (so M also sits
  on what are Li sites or empty holes in the ordered cell), sampled by Metropolis Monte
  Carlo on the formal-charge Ewald energy screened by ``dielectric`` at the fictive
  temperature ``milling_temperature_K`` (defaults 10 and 1000 K: a static dielectric
  constant typical of Li chlorides, LiCl ~12; a disorder frozen in near the melt): each
  member is an independent chain (random start, cooled to that temperature), weighted
  equally. Each configuration
  records its disorder: the fraction of M on holes that hold no M in the ordered cell,
  and its Ewald energy above the annealed ground state. Ball milling also makes stacking
  faults and amorphous fractions; those are not modelled.
- ``quenched``: the site disorder a sample quenched from its synthesis keeps, on the
  framework's own sites. The annealed state's pools (Li and vacancies on the Li sites;
  dopants and M on the M sites, the split M orbits of the file kept: Y on both
  face-sharing 2d orbits of Li3YCl6), sampled by the same Metropolis chains at
  ``quench_temperature_K`` (default :data:`QUENCH_TEMPERATURE_K`, 800 K: within the
  400-800 K where the chains reproduce the refined occupancies of both Li3YCl6 and
  Li3InCl6; at 1600 K In spreads over both In orbits:
  ``benchmarks/bench_quench_temperature.py``) on the Ewald energy screened by
  ``dielectric``, with swaps of dopant and M between M orbits. M never sits on a Li
  site; a position the file shares between Li and M holds one of them. Each
  configuration records the occupancy it gives each partial orbit of the file, to set
  beside the refined one: on the Li3YCl6 CIF (Li0 0.875, Li1 0.625, Y2 0.566, Y3 0.434)
  three 240-atom chains at 800 K give Li0 0.77-0.94, Li1 0.56-0.73 and Y2 0.38-0.62.

A disordered state is a statistical one, and a narrow cell samples it badly: with
``supercell="auto"`` a ball-milled model is at least :data:`MILLED_MIN_WIDTH_A` wide
(11.5 A: 2x2x2 trigonal cells, 240 atoms of Li3YCl6) where an annealed one is 8 A wide
(60 atoms). Measured on Li3YCl6 (10 chains each, seed 0): on the 60-atom cell the
fraction of Y off the ordered Y sites goes from 0 to 83 % from chain to chain (SD 29 %;
one chain is the annealed model), on the 240-atom cell from 46 to 75 % (SD 9 %), and the
unrelaxed BVSE 3D barrier of one chain spreads by 0.083 eV (SD) on the small cell and
0.047 eV on the large one (Li3ErCl6: 0.093 and 0.054 eV), with no shift of the mean
beyond that spread; a cell long only along c (1x1x4, 120 atoms) spreads as much as the
small one (0.084 eV; ``benchmarks/bench_milled_cells.py``). CHGNet relaxation evens
most of that out (relaxed: 0.042 and 0.034 eV for Li3YCl6, 0.026 and 0.024 eV for
Li3ErCl6): what the wide cell buys is a disorder that is the same from chain to chain,
not a much tighter barrier. When no cell within
``max_atoms`` is that wide, the model says so in its ``warnings`` and names the size that
would be.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Lattice, Structure

from halidelab.composition import (
    ANION_VALENCE,
    DesignedComposition,
    design_composition,
    format_formula,
)
from halidelab.errors import HalidelabError, StructureError
from halidelab.records import Provenance, Record
from halidelab.structures.ordering import (
    Pool,
    anneal_orderings,
    best_supercell,
    min_width_A,
    unit_ewald_matrix,
)
from halidelab.structures.prototypes import (
    choose_framework,
    framework_from_cif,
    framework_from_structure,
    lattice_scale,
    parent_lattice,
)

#: Label suffix of an anion position shared by several species in the framework file.
MIXED_ANION = ":mixed"

#: Largest |x_modelled - x_requested| accepted by ``supercell="auto"`` before it looks
#: for the closest x within ``max_atoms``.
X_TOLERANCE = 0.005

#: Synthesis states a model set can stand for.
STATES = ("annealed", "ball-milled", "quenched")
#: Default fictive temperature of the quenched state, K (:func:`build_models`).
QUENCH_TEMPERATURE_K = 800.0
#: Positions closer than this (A) are one place (a site the file shares between Li and M):
#: the quenched sampling puts at most one cation there, through a pair term of
#: ``OVERLAP_PENALTY_EV`` per unit charge squared.
OVERLAP_A = 0.5
OVERLAP_PENALTY_EV = 100.0
#: Smallest face-to-face width of an ``auto`` cell, A: annealed (periodic images of a
#: hopping Li or a dopant further apart than an MLIP cutoff) and ball-milled (the disorder
#: sampled on a wide cell; module docstring).
MIN_WIDTH_A = 8.0
MILLED_MIN_WIDTH_A = 11.5
#: Most prototype cells a warning looks through for a wide cell that models x.
MAX_WIDE_SEARCH = 64


@dataclasses.dataclass(frozen=True)
class Configuration(Record):
    """One ordered configuration.

    Attributes
    ----------
    index : int
        Rank by Ewald energy (0 = lowest).
    ewald_energy_eV : float
        Point-charge Ewald energy of the supercell (formal charges), eV.
    relative_energy_meV_atom : float
        Above the lowest kept configuration, meV/atom.
    structure : dict
        pymatgen ``Structure.as_dict()``.
    disorder : dict or None
        Ball-milled members: ``m_off_ordered_sites`` (fraction of framework cations on
        holes that hold no M in the ordered cell), ``m_on_li_sites`` (on holes that are
        Li sites there) and ``ewald_above_annealed_meV_atom``. Quenched members:
        ``ewald_above_annealed_meV_atom`` and ``occupancy:LABEL`` (the fraction of the
        positions of each partially occupied orbit of the framework file that it fills).
    """

    index: int
    ewald_energy_eV: float
    relative_energy_meV_atom: float
    structure: dict[str, Any]
    disorder: dict[str, float] | None = None

    def to_structure(self) -> Structure:
        """The configuration as a pymatgen Structure."""
        return Structure.from_dict(self.structure)


@dataclasses.dataclass(frozen=True)
class ModelSet(Record):
    """Ordered supercell models of one composition.

    Attributes
    ----------
    formula_requested, formula_modelled : str
    x_requested, x_modelled : dict
        Dopant content per formula unit, per dopant@site.
    framework, space_group : str
        Prototype used and the space group of the parent phase.
    supercell_matrix : list
        Rows in units of the prototype cell vectors.
    supercell_diag : list or None
        ``[na, nb, nc]`` when the matrix is diagonal.
    n_formula_units, n_atoms : int
    species_counts : dict
        Atoms of each element in the supercell.
    lattice_estimate : dict
        Vegard-scaled lattice of this composition (a_A, c_A, volume_A3, ...).
    lattice_source : str
    configurations : tuple of Configuration
    warnings : tuple of str
    provenance : Provenance
    state : str
        ``annealed``, ``ball-milled`` or ``quenched`` (see the module docstring).
    """

    formula_requested: str
    formula_modelled: str
    x_requested: dict[str, float]
    x_modelled: dict[str, float]
    framework: str
    space_group: str
    supercell_matrix: list[list[int]]
    supercell_diag: list[int] | None
    n_formula_units: int
    n_atoms: int
    species_counts: dict[str, int]
    lattice_estimate: dict[str, float]
    lattice_source: str
    configurations: tuple[Configuration, ...]
    warnings: tuple[str, ...]
    provenance: Provenance
    state: str = "annealed"

    @property
    def structures(self) -> list[Structure]:
        """The configurations as pymatgen Structures, lowest energy first."""
        return [c.to_structure() for c in self.configurations]

    @property
    def x_requested_total(self) -> float:
        """Total dopant content asked for, per formula unit."""
        return float(sum(self.x_requested.values()))

    @property
    def x_modelled_total(self) -> float:
        """Total dopant content in the model, per formula unit."""
        return float(sum(self.x_modelled.values()))


def parse_supercell(spec: str | int | Sequence[int] | None) -> str | int | list[int]:
    """``"auto"``, a number of prototype cells (``5``) or a diagonal ``"1x1x5"``."""
    if spec is None or (isinstance(spec, str) and spec.strip().lower() == "auto"):
        return "auto"
    if isinstance(spec, int):
        if spec < 1:
            raise StructureError(f"supercell size must be >= 1, got {spec}")
        return spec
    if isinstance(spec, list | tuple):
        vals = [int(v) for v in spec]
    else:
        text = str(spec).strip().lower()
        if re.fullmatch(r"\d+", text):
            return parse_supercell(int(text))
        if not re.fullmatch(r"\d+x\d+x\d+", text):
            raise StructureError(
                f"cannot read supercell {spec!r}: use auto, a number of cells, or 1x1x5"
            )
        vals = [int(v) for v in text.split("x")]
    if len(vals) != 3 or min(vals) < 1:
        raise StructureError(f"supercell {spec!r} needs three positive integers, e.g. 1x1x5")
    return vals


def _split_counts(total: int, fractions: dict[str, float]) -> dict[str, int]:
    """Integers summing to ``total`` closest to ``total * fractions`` (largest remainder)."""
    raw = {k: total * v for k, v in fractions.items()}
    out = {k: int(math.floor(v + 1e-9)) for k, v in raw.items()}
    rest = total - sum(out.values())
    for k in sorted(raw, key=lambda k: raw[k] - out[k], reverse=True)[: max(rest, 0)]:
        out[k] += 1
    return out


def _site_counts(design: DesignedComposition, n_fu: int) -> dict[str, int]:
    """Integer atom counts for ``n_fu`` formula units, keeping every site full and
    the cell neutral (Li follows from charge balance)."""
    parent = design_composition(design.parent)
    counts: dict[str, int] = {}
    by_site: dict[str, dict[str, float]] = {}
    for sub in design.substitutions:
        by_site.setdefault(sub.site, {})
        by_site[sub.site][sub.dopant] = by_site[sub.site].get(sub.dopant, 0.0) + sub.x
    for el, amount in parent.amounts.items():
        if el == "Li":
            continue
        total = int(round(amount * n_fu))
        dops = by_site.get(el, {})
        fr = {d: x / amount for d, x in dops.items()}
        fr[el] = 1.0 - sum(fr.values())
        for sp, n in _split_counts(total, fr).items():
            counts[sp] = counts.get(sp, 0) + n
    li_dops = by_site.get("Li", {})
    q = design.oxidation_states
    charge = sum(q[el] * n for el, n in counts.items())
    for d, x in li_dops.items():
        counts[d] = counts.get(d, 0) + int(round(x * n_fu))
        charge += q[d] * counts[d]
    counts["Li"] = -charge
    return counts


def _x_of(design: DesignedComposition, counts: dict[str, int], n_fu: int) -> dict[str, float]:
    return {f"{s.dopant}@{s.site}": counts.get(s.dopant, 0) / n_fu for s in design.substitutions}


@dataclasses.dataclass(frozen=True)
class _Site:
    element: str
    role: str  # "Li", "M" or "X"
    occupancy: float
    label: str
    frac: tuple[float, float, float]


def _prototype_sites(proto: Structure) -> list[_Site]:
    """One entry per (position, species); mixed sites (Li/Y antisites) give several."""
    out = []
    for i, site in enumerate(proto):
        for sp, occ in site.species.items():
            el = sp.symbol
            role = "Li" if el == "Li" else ("X" if el in ANION_VALENCE else "M")
            label = getattr(site, "label", None) or f"{el}{i}"
            if len(site.species) > 1:
                label = f"{label}:{el}"
            out.append(_Site(el, role, float(occ), str(label), tuple(site.frac_coords)))
    return out


def _resolve_sites(
    sites: list[_Site],
    lattice: Lattice,
    n_m_cell: float,
    n_li_cell: float,
    keep_split: bool = False,
) -> tuple[list[_Site], list[str]]:
    """Order the prototype's M sublattice and prune Li positions.

    - M: orbits with occupancy >= 0.5 become full, the others are dropped, when that
      gives the M count of the cell (as ordered models of these phases do); otherwise
      the partial M orbits stay pooled. Pooling split sites (Y on two 2d orbits 3 A
      apart in Li3YCl6) leaves 1D domain walls that annealing cannot remove. With
      ``keep_split`` (the quenched state, which samples that disorder) they stay pooled.
    - Li: positions on top of a kept M (antisite entries) are dropped, and minority Li
      orbits (occupancy < 0.15, e.g. tetrahedral Li in Li3YBr6) when the rest still hold
      the cell's Li.
    """
    notes: list[str] = []
    m_sites = [x for x in sites if x.role == "M"]
    partial = [x for x in m_sites if x.occupancy <= 0.999]
    kept_m = m_sites
    if partial and not keep_split:
        majority = [x for x in m_sites if x.occupancy >= 0.5]
        if len(majority) == round(n_m_cell):
            dropped = sorted({x.label for x in m_sites if x.occupancy < 0.5})
            kept_m = [dataclasses.replace(x, occupancy=1.0) for x in majority]
            notes.append(
                f"partially occupied M orbits resolved to the majority ones (dropped: "
                f"{', '.join(dropped) or 'none'}); the split-site disorder of the CIF is not "
                "modelled"
            )
    full_m = [x.frac for x in kept_m if x.occupancy > 0.999]
    li = [x for x in sites if x.role == "Li"]
    if full_m and li:
        dist = lattice.get_all_distances(
            [x.frac for x in li], [x.frac for x in kept_m if x.occupancy > 0.999]
        )
        on_m = dist.min(axis=1) < 0.5
        if on_m.any():
            notes.append(f"{int(on_m.sum())} Li antisite position(s) on M sites not used")
            li = [x for x, bad in zip(li, on_m, strict=True) if not bad]
    minor = [x for x in li if x.occupancy < 0.15]
    if minor and len(li) - len(minor) >= n_li_cell:
        notes.append(
            f"minority Li orbits ({', '.join(sorted({x.label for x in minor}))}, occupancy < 0.15) "
            "not used"
        )
        li = [x for x in li if x.occupancy >= 0.15]
    # mixed anion positions (S/Cl in argyrodites): one position, its species ordered later
    by_pos: dict[tuple[float, ...], list[_Site]] = {}
    for x in sites:
        if x.role == "X":
            by_pos.setdefault(tuple(np.round(np.mod(x.frac, 1.0), 4)), []).append(x)
    anions: list[_Site] = []
    mixed: set[str] = set()
    for group in by_pos.values():
        if len(group) == 1:
            anions.append(group[0])
            continue
        major = max(group, key=lambda g: g.occupancy)
        mixed.update(g.element for g in group)
        anions.append(
            dataclasses.replace(
                major,
                occupancy=min(sum(g.occupancy for g in group), 1.0),
                label=f"{major.label.split(':')[0]}{MIXED_ANION}",
            )
        )
    if mixed:
        notes.append(f"mixed {'/'.join(sorted(mixed))} anion positions ordered by Ewald energy")
    return [*li, *kept_m, *anions], notes


#: How a model set's narrow-cell warning begins (:func:`is_narrow_cell_warning`).
NARROW_CELL_WARNING = "no cell of "


def is_narrow_cell_warning(text: str) -> bool:
    """Whether one of a :class:`ModelSet`'s ``warnings`` says that its ``auto`` cell is
    narrower than its state asks (reports list these apart from the other warnings)."""
    return text.startswith(NARROW_CELL_WARNING)


def _narrow_cell_warning(
    formula: str,
    lattice: Any,
    k: int,
    width: float,
    atoms_per_cell: float,
    max_atoms: int,
    min_width: float,
    state: str,
    models_x: Callable[[int], bool],
) -> str:
    """Say that no ``auto`` cell within ``max_atoms`` is ``min_width`` wide (and models x):
    the chosen one (``k`` prototype cells) is ``width`` wide; and how many atoms the first
    one that is would have (``models_x(n)``: a cell of n prototype cells models the
    composition)."""
    need = next(
        (
            int(round(n * atoms_per_cell))
            for n in range(k + 1, MAX_WIDE_SEARCH + 1)
            if models_x(n) and min_width_A(best_supercell(lattice, n) @ lattice.matrix) >= min_width
        ),
        None,
    )
    why = (
        f"a {state} state's disorder is sampled badly on a narrow cell (the disorder "
        "changes from chain to chain)"
        if state != "annealed"
        else "periodic images of a hopping Li are closer than that"
    )
    return (
        f"{NARROW_CELL_WARNING}{formula} within --max-atoms {max_atoms} that models its "
        f"composition is {min_width:g} A wide: the model is {width:.1f} A wide; {why}; "
        + (
            f"--max-atoms {need} gives one"
            if need is not None
            else f"none does up to {int(round(MAX_WIDE_SEARCH * atoms_per_cell))} atoms"
        )
    )


def _size_arguments(state: str, max_atoms: int, min_width: float | None) -> float:
    """Check the state and ``max_atoms``; the minimum cell width of the state (A)."""
    if state not in STATES:
        raise StructureError(f"unknown synthesis state {state!r}: use {' or '.join(STATES)}")
    if max_atoms < 1:
        raise StructureError(f"--max-atoms must be >= 1, got {max_atoms}")
    if min_width is None:
        return MIN_WIDTH_A if state == "annealed" else MILLED_MIN_WIDTH_A
    return min_width


def model_size(
    design: DesignedComposition,
    polymorph: str | None = None,
    supercell: str | int | Sequence[int] | None = "auto",
    max_atoms: int = 200,
    min_width: float | None = None,
    framework: str | Path | Structure | None = None,
    state: str = "annealed",
) -> int:
    """Atoms of the model :func:`build_models` makes with these arguments, without its
    ordering search (milliseconds, where a model takes seconds): for cost estimates.

    Parameters are those of :func:`build_models`.

    Returns
    -------
    int
        Atoms in the supercell model.

    Raises
    ------
    StructureError
        As :func:`build_models` for the same arguments.
    """
    min_width = _size_arguments(state, max_atoms, min_width)
    return _model_cell(design, polymorph, supercell, max_atoms, min_width, framework, state).n_atoms


@dataclasses.dataclass
class _Cell:
    """What :func:`_model_cell` chose (see :func:`build_models`)."""

    framework: Any
    space_group: str
    proto: Structure
    sites: list[_Site]
    z: int
    matrix: np.ndarray
    n_fu: int
    counts: dict[str, int]
    n_atoms: int
    x_requested: dict[str, float]
    x_modelled: dict[str, float]
    warnings: list[str]


def _model_cell(
    design: DesignedComposition,
    polymorph: str | None,
    supercell: str | int | Sequence[int] | None,
    max_atoms: int,
    min_width: float,
    framework: str | Path | Structure | None,
    state: str,
) -> _Cell:
    """The framework, the supercell and the species counts of the model that
    :func:`build_models` makes (everything before the ordering search; milliseconds)."""
    if framework is not None and polymorph is not None:
        raise StructureError(
            f"--polymorph {polymorph} and --framework both choose the parent phase: the framework "
            "file fixes it; give one of them"
        )
    if isinstance(framework, Structure):
        fw = framework_from_structure(framework, framework.composition.reduced_formula)
        sg = fw.space_group
    elif framework is not None:
        fw = framework_from_cif(framework)
        sg = fw.space_group
    else:
        fw, sg = choose_framework(design, polymorph)
    framework = fw
    proto = framework.load()
    raw_sites = _prototype_sites(proto)
    n_x_proto = sum(x.occupancy for x in raw_sites if x.role == "X")
    n_x_fu = sum(design.anions.values())
    z = n_x_proto / n_x_fu
    if abs(z - round(z)) > 1e-3:
        raise StructureError(
            f"{design.formula} has {n_x_fu:g} anions per formula unit; the {framework.key} "
            "framework "
            f"has {n_x_proto:g} anions per cell: they do not fit"
        )
    z = int(round(z))
    sites, notes = _resolve_sites(
        raw_sites,
        proto.lattice,
        n_m_cell=z * sum(design_composition(design.parent).framework_cations.values()),
        n_li_cell=z * max(design.li_per_fu, design.li_parent_per_fu),
        keep_split=state == "quenched",
    )
    n_li_sites = sum(1 for x in sites if x.role == "Li")
    n_m_sites = sum(1 for x in sites if x.role == "M")
    warnings: list[str] = list(notes)

    spec = parse_supercell(supercell)
    proto_atoms_per_fu = (len(sites) - n_li_sites - n_m_sites + 0.0) / z  # anions
    atoms_per_fu = proto_atoms_per_fu + design.li_per_fu + sum(design.framework_cations.values())
    if spec == "auto":

        def x_error(k: int) -> float:
            counts = _site_counts(design, k * z)
            return max(
                (
                    abs(counts.get(el, 0) / (k * z) - n)
                    for el, n in design.amounts.items()
                    if el != "Li"
                ),
                default=0.0,
            )

        choices = []
        k = 1
        while k == 1 or k * z * atoms_per_fu <= max_atoms:
            err = x_error(k)
            mat = best_supercell(proto.lattice, k)
            width = min_width_A(mat @ proto.lattice.matrix)
            choices.append((k, err, mat, width))
            k += 1
            if k > 1000:
                break
        # the smallest cell that models x and is wide enough, else one that models x and
        # is as wide as an annealed cell (a wide ball-milled cell that models x is above
        # max_atoms; the warning below says so), else the closest x among the widest
        # (no cell within max_atoms as wide as an annealed one: the smallest that models x)
        base = min(MIN_WIDTH_A, min_width)
        good = [c for c in choices if c[1] <= X_TOLERANCE]
        none_wide = all(c[3] < base for c in choices)
        tiers = (
            [c for c in good if c[3] >= min_width]
            or [c for c in good if c[3] >= base]
            or (good if none_wide else []),
            [c for c in choices if c[3] >= min_width]
            or [c for c in choices if c[3] >= base]
            or choices,
        )
        k, err, matrix, width = (
            tiers[0][0] if tiers[0] else min(tiers[1], key=lambda c: (round(c[1], 9), c[0]))
        )
        if width < min_width:
            warnings.append(
                _narrow_cell_warning(
                    design.formula,
                    proto.lattice,
                    k,
                    width,
                    z * atoms_per_fu,
                    max_atoms,
                    min_width,
                    state,
                    lambda n: x_error(n) <= X_TOLERANCE,
                )
            )
    else:
        k = spec if isinstance(spec, int) else int(np.prod(spec))
        estimate = int(round(k * z * atoms_per_fu))
        if estimate > max_atoms:  # before enumerating supercells of a huge k
            raise StructureError(
                f"--supercell {supercell} gives a {estimate:,}-atom model of {design.formula}, "
                "above "
                f"--max-atoms {max_atoms}: raise --max-atoms if you mean it"
            )
        matrix = best_supercell(proto.lattice, k) if isinstance(spec, int) else np.diag(spec)
    n_fu = k * z
    counts = _site_counts(design, n_fu)
    n_model = sum(n for n in counts.values() if n > 0)
    if n_model > max_atoms:
        which = (
            f"the smallest {framework.key} model"
            if spec == "auto"
            else f"the --supercell {supercell} model"
        )
        raise StructureError(
            f"{which} of {design.formula} has {n_model} atoms, above --max-atoms {max_atoms}: "
            f"raise --max-atoms to at least {n_model}"
        )
    x_mod = _x_of(design, counts, n_fu)
    x_req = {f"{s.dopant}@{s.site}": s.x for s in design.substitutions}
    for key, xr in x_req.items():
        if abs(x_mod[key] - xr) > 1e-9:
            warnings.append(
                f"{key} x = {xr:g} is modelled as x = {x_mod[key]:.4f} ({round(x_mod[key] * n_fu)} "
                "in "
                f"{n_fu} formula units); raise --max-atoms or set --supercell for a closer x"
            )
    if counts["Li"] < 0:
        raise StructureError(f"no Li left in the {n_fu}-formula-unit cell: lower x")
    return _Cell(
        framework=framework,
        space_group=sg,
        proto=proto,
        sites=sites,
        z=z,
        matrix=matrix,
        n_fu=n_fu,
        counts=counts,
        n_atoms=n_model,
        x_requested=x_req,
        x_modelled=x_mod,
        warnings=warnings,
    )


def build_models(
    design: DesignedComposition,
    polymorph: str | None = None,
    supercell: str | int | Sequence[int] | None = "auto",
    max_atoms: int = 200,
    n_configs: int = 5,
    seed: int = 0,
    sweeps: int = 100,
    min_width: float | None = None,
    framework: str | Path | Structure | None = None,
    state: str = "annealed",
    milling_temperature_K: float = 1000.0,
    dielectric: float = 10.0,
    quench_temperature_K: float = QUENCH_TEMPERATURE_K,
) -> ModelSet:
    """Ordered supercell models of a designed composition.

    Parameters
    ----------
    design : DesignedComposition
        From :func:`halidelab.composition.design_composition` or ``halidelab.design``.
    polymorph : str, optional
        Space group of the parent phase (default: its first known polymorph, else t).
    supercell : "auto", int or [na, nb, nc]
        ``"auto"`` picks the smallest cell within ``max_atoms`` that models x within
        :data:`X_TOLERANCE` (else the closest x); an int is a number of prototype
        cells (most compact shape); a triple is a diagonal supercell.
    max_atoms : int
        Largest model: ``"auto"`` picks within it, and a model above it (an explicit
        ``supercell``, or a framework whose smallest cell is larger) is refused.
    n_configs : int
        Distinct low-energy configurations to keep.
    seed : int
        Random seed of the ordering search.
    sweeps : int
        Swap attempts per site per anneal (more is slower and more thorough).
    framework : str, Path or Structure, optional
        A CIF/POSCAR (or a Structure) to use as the framework instead of the shipped
        prototypes (M sites are the non-Li cations, X the anions; partial occupancies
        are resolved here). Not together with ``polymorph``.
    min_width : float, optional
        With ``"auto"``, smallest face-to-face width of the supercell in A (default
        :data:`MIN_WIDTH_A`, annealed, or :data:`MILLED_MIN_WIDTH_A`, ball-milled).
    state : {"annealed", "ball-milled", "quenched"}
        Synthesis state the configurations stand for (module docstring).
    milling_temperature_K, dielectric : float
        Fictive temperature (K) and Ewald screening of the ball-milled sampling; the
        screening also of the quenched one.
    quench_temperature_K : float
        Fictive temperature of the quenched sampling, K.

    Returns
    -------
    ModelSet

    Raises
    ------
    StructureError
        When the composition does not fit the framework (anion count, Li beyond the Li
        sites), the supercell request is invalid or larger than ``max_atoms``, or both
        ``polymorph`` and ``framework`` are given.
    """
    if n_configs < 1:
        raise StructureError(f"--configs must be >= 1, got {n_configs}")
    min_width = _size_arguments(state, max_atoms, min_width)
    if state == "ball-milled" and not (milling_temperature_K > 0 and dielectric > 0):
        raise StructureError("the milling temperature and the dielectric constant must be > 0")
    if state == "quenched" and not (quench_temperature_K > 0 and dielectric > 0):
        raise StructureError("the quench temperature and the dielectric constant must be > 0")
    if seed < 0:
        raise StructureError(f"--seed must be >= 0, got {seed}")
    cell_ = _model_cell(design, polymorph, supercell, max_atoms, min_width, framework, state)
    framework, sg, proto, sites = cell_.framework, cell_.space_group, cell_.proto, cell_.sites
    z, matrix, n_fu, counts = cell_.z, cell_.matrix, cell_.n_fu, cell_.counts
    x_req, x_mod, warnings = cell_.x_requested, cell_.x_modelled, cell_.warnings

    # lattice: parent lattice (measured where known), then Vegard scaling to this x
    base, lattice_source = parent_lattice(design, framework, sg, proto)
    modelled = {el: n / n_fu for el, n in counts.items()}
    modelled_design = DesignedComposition(
        **{
            **{f.name: getattr(design, f.name) for f in dataclasses.fields(design)},
            "amounts": {el: modelled.get(el, 0.0) for el in design.amounts},
        }
    )
    # no substitution: the parent's own lattice (no radii needed, e.g. Li6Br3N has no M)
    f = (
        lattice_scale(modelled_design, proto)
        / lattice_scale(design_composition(design.parent), proto)
        if design.substitutions
        else 1.0
    )
    alpha, beta, gamma = proto.lattice.angles
    lat = Lattice.from_parameters(base["a"] * f, base["b"] * f, base["c"] * f, alpha, beta, gamma)
    cell = Structure(
        lat,
        [{x.element: x.occupancy} for x in sites],
        [x.frac for x in sites],
        labels=[x.label for x in sites],
    )
    sc = cell.copy()
    sc.make_supercell(matrix)
    sc_roles = []
    for site in sc:
        ((sp, occ),) = site.species.items()
        el = sp.symbol
        role = "Li" if el == "Li" else ("X" if el in ANION_VALENCE else "M")
        sc_roles.append((el, role, float(occ), str(site.label)))

    # pools: all Li positions; fully occupied M orbits one pool each, partial M orbits
    # together; all anion positions
    li_idx = [i for i, r in enumerate(sc_roles) if r[1] == "Li"]
    x_idx = [i for i, r in enumerate(sc_roles) if r[1] == "X"]
    m_full: dict[str, list[int]] = {}
    m_part: list[int] = []
    for i, r in enumerate(sc_roles):
        if r[1] == "M":
            if r[2] > 0.999:
                m_full.setdefault(r[3], []).append(i)
            else:
                m_part.append(i)
    m_species = {
        el: n
        for el, n in counts.items()
        if el in design.framework_cations
        and not any(s.dopant == el and s.site == "Li" for s in design.substitutions)
    }
    li_species = {
        "Li": counts["Li"],
        **{s.dopant: counts[s.dopant] for s in design.substitutions if s.site == "Li"},
    }
    x_species = {el: n for el, n in counts.items() if el in ANION_VALENCE}
    n_m = sum(m_species.values())
    n_m_fixed = sum(len(v) for v in m_full.values())
    if n_m < n_m_fixed or n_m - n_m_fixed > len(m_part):
        raise StructureError(
            f"{n_m} framework cations do not fit the {framework.key} M sites "
            f"({n_m_fixed} full + {len(m_part)} partial positions)"
        )
    n_li = sum(li_species.values())
    if n_li > len(li_idx):
        raise StructureError(
            f"{n_li} Li do not fit the {len(li_idx)} Li sites of the {framework.key} framework: "
            "interstitial Li beyond the framework's Li sites is not modelled; lower x"
        )
    pools: list[Pool] = [Pool(li_idx, {**li_species, "": len(li_idx) - n_li}, "Li")]
    m_groups = [*m_full.values()] + ([m_part] if m_part else [])
    occupied = [len(g) for g in m_full.values()] + ([n_m - n_m_fixed] if m_part else [])
    fr = {el: n / n_m for el, n in m_species.items()}
    remaining = dict(m_species)
    for g, occ in zip(m_groups, occupied, strict=True):
        share = _split_counts(occ, fr)
        # keep totals exact: clip to what remains
        for el in share:
            share[el] = min(share[el], remaining[el])
        short = occ - sum(share.values())
        for el in remaining:
            take = min(short, remaining[el] - share[el])
            share[el] += take
            short -= take
        for el in share:
            remaining[el] -= share[el]
        pools.append(Pool(g, {**share, "": len(g) - occ}, "M"))
    mixed_x = [i for i in x_idx if sc_roles[i][3].endswith(MIXED_ANION) or sc_roles[i][2] <= 0.999]
    if not mixed_x:
        pools.append(Pool(x_idx, x_species, "X"))
    else:
        # fully occupied single-species anion positions keep their species (S of PS4
        # units); the mixed ones take the rest
        fixed: dict[str, list[int]] = {}
        for i in x_idx:
            if i not in mixed_x:
                fixed.setdefault(sc_roles[i][0], []).append(i)
        rest = {el: n - len(fixed.get(el, [])) for el, n in x_species.items()}
        if any(v < 0 for v in rest.values()) or sum(rest.values()) > len(mixed_x):
            raise StructureError(
                f"the anions of {design.formula} do not fit the {framework.key} anion sites "
                f"({sum(len(v) for v in fixed.values())} full + {len(mixed_x)} mixed or partial)"
            )
        for el, idx in fixed.items():
            pools.append(Pool(idx, {el: len(idx)}, f"X:{el}"))
        pools.append(Pool(mixed_x, {**rest, "": len(mixed_x) - sum(rest.values())}, "X"))

    charges = {"": 0.0, **{el: float(q) for el, q in design.oxidation_states.items()}}
    matrix_e = unit_ewald_matrix(Structure(sc.lattice, ["H"] * len(sc), sc.frac_coords))
    cands = anneal_orderings(matrix_e, pools, charges, n_keep=n_configs, seed=seed, sweeps=sweeps)
    if state == "ball-milled":
        configs, n_atoms, bm_notes = _ball_milled(
            sc,
            sc_roles,
            li_idx,
            x_idx,
            {**li_species, **m_species},
            x_species,
            charges,
            n_configs,
            seed,
            milling_temperature_K,
            dielectric,
            ground_eV=cands[0].energy_eV,
        )
        warnings += bm_notes
    elif state == "quenched":
        configs, n_atoms, q_notes = _quenched(
            sc,
            sc_roles,
            matrix_e,
            pools,
            charges,
            n_configs,
            seed,
            quench_temperature_K,
            dielectric,
            ground_eV=cands[0].energy_eV,
        )
        warnings += q_notes
    else:
        configs, n_atoms = _distinct(sc, cands, n_configs, warnings)
    diag = np.diag(np.diag(matrix))
    return ModelSet(
        formula_requested=design.formula,
        formula_modelled=format_formula({el: counts.get(el, 0) / n_fu for el in design.amounts}),
        x_requested=x_req,
        x_modelled=x_mod,
        framework=framework.key,
        space_group=sg,
        supercell_matrix=np.asarray(matrix, dtype=int).tolist(),
        supercell_diag=[int(v) for v in np.diag(matrix)] if np.array_equal(diag, matrix) else None,
        n_formula_units=n_fu,
        n_atoms=n_atoms,
        species_counts={el: int(n) for el, n in counts.items() if n},
        lattice_estimate={
            "a_A": lat.a,
            "b_A": lat.b,
            "c_A": lat.c,
            "alpha_deg": alpha,
            "beta_deg": beta,
            "gamma_deg": gamma,
            "volume_per_fu_A3": lat.volume / z,
        },
        lattice_source=f"{lattice_source}; Vegard scaling by mean M-X bond length",
        configurations=configs,
        warnings=tuple(warnings),
        provenance=Provenance(
            method={
                "annealed": "Ewald-ranked ordering (simulated annealing, formal charges)",
                "ball-milled": "cation-disordered sampling (Metropolis MC over octahedral "
                "holes, screened Ewald)",
                "quenched": "quenched site disorder (Metropolis MC over the framework's own "
                "sites, screened Ewald)",
            }[state],
            parameters={
                "polymorph": sg,
                "supercell": str(supercell),
                "max_atoms": max_atoms,
                "n_configs": n_configs,
                "sweeps": sweeps,
                "min_width_A": min_width,
                "state": state,
                **(
                    {"milling_temperature_K": milling_temperature_K, "dielectric": dielectric}
                    if state == "ball-milled"
                    else {}
                ),
                **(
                    {"quench_temperature_K": quench_temperature_K, "dielectric": dielectric}
                    if state == "quenched"
                    else {}
                ),
            },
            seed=seed,
        ),
        state=state,
    )


#: A single-species site at or above this occupancy is taken as fully occupied when a
#: structure is ordered (a deficit of a few % is within the refinement's error).
FULL_OCCUPANCY = 0.95


def order_structure(
    structure: Structure,
    name: str = "the structure",
    seed: int = 0,
    max_atoms: int = 200,
    sweeps: int = 100,
) -> tuple[Structure, dict[str, Any] | None]:
    """An ordered model of a structure with partial occupancies (the structure if ordered).

    A CIF refined with partial occupancies (most published halide CIFs) becomes the
    lowest-energy configuration of :func:`build_models` with the structure itself as the
    framework: its own composition (occupancies rounded per cell), its own lattice, the
    supercell ``"auto"`` picks within ``max_atoms`` (faces >= 8 A apart), Li and vacancies
    and mixed cation sites placed by Ewald-ranked simulated annealing (formal charges).
    Single-species sites at occupancy >= :data:`FULL_OCCUPANCY` are taken as full first;
    that alone orders e.g. Li3PS4 (S at 0.97-0.99).

    Parameters
    ----------
    structure : Structure
    name : str
        The file name, for messages and the record.
    seed : int
        Seed of the ordering search.
    max_atoms : int
        Largest ordered model.
    sweeps : int
        Swap attempts per site per anneal (:func:`build_models`).

    Returns
    -------
    (Structure, dict or None)
        The ordered structure and what was done (for a result's provenance:
        ``parameters["ordering"]``); None when the input was already ordered.

    Raises
    ------
    StructureError
        When the ordering machinery cannot order this structure (the reason and what to
        do are in the message).
    """
    if structure.is_ordered:
        return structure, None
    s = structure.copy()
    rounded = 0
    for i, site in enumerate(s):
        if len(site.species) == 1:
            ((sp, occ),) = site.species.items()
            if FULL_OCCUPANCY <= occ < 1.0:
                s.replace(i, {sp: 1.0}, label=site.label)
                rounded += 1
    base = {
        "source": name,
        "seed": seed,
        "sweeps": sweeps,
        "input_formula": structure.composition.formula,
        "n_sites_input": len(structure),
    }
    if s.is_ordered:
        info = {
            **base,
            "method": f"occupancies >= {FULL_OCCUPANCY} taken as full",
            "n_atoms": len(s),
            "supercell_matrix": np.eye(3, dtype=int).tolist(),
            "notes": [f"{rounded} site(s) with occupancy >= {FULL_OCCUPANCY} taken as full"],
        }
        return s, info
    try:
        fw = framework_from_structure(s, Path(name).stem, "")
        design = design_composition(fw.formula)
        ms = build_models(
            design,
            framework=s,
            supercell="auto",
            max_atoms=max_atoms,
            n_configs=1,
            seed=seed,
            sweeps=sweeps,
        )
    except HalidelabError as exc:
        raise StructureError(
            f"{name} has partial occupancies that halidelab's ordering cannot resolve ({exc}); "
            "give an ordered structure (e.g. from `halidelab structure`, or pymatgen's "
            "OrderDisorderedStructureTransformation)"
        ) from None
    cfg = ms.configurations[0]
    model = cfg.to_structure()
    matrix = np.asarray(ms.supercell_matrix, dtype=float)
    # the structure's own cell times the supercell matrix (build_models rebuilds the
    # lattice from parameters; the fractional coordinates are the same)
    ordered = Structure(Lattice(matrix @ s.lattice.matrix), model.species, model.frac_coords)
    info = {
        **base,
        "method": ms.provenance.method,
        "formula": ms.formula_modelled,
        "framework": ms.framework,
        "space_group": ms.space_group,
        "supercell_matrix": ms.supercell_matrix,
        "n_atoms": ms.n_atoms,
        "configuration": cfg.index,
        "ewald_energy_eV": cfg.ewald_energy_eV,
        "notes": (
            [f"{rounded} site(s) with occupancy >= {FULL_OCCUPANCY} taken as full"]
            if rounded
            else []
        )
        + list(ms.warnings),
    }
    return ordered, info


def ordering_note(info: dict[str, Any]) -> str:
    """One line saying which ordered model replaced a partially occupied structure."""
    m = info.get("supercell_matrix")
    diag = (
        np.diag(np.asarray(m)).tolist()
        if m is not None and np.count_nonzero(np.asarray(m) - np.diag(np.diag(np.asarray(m)))) == 0
        else None
    )
    cell = "x".join(str(v) for v in diag) if diag else str(m)
    if "ewald_energy_eV" not in info:
        return (
            f"{info['source']} has partial occupancies: {info['notes'][0]} "
            f"({info['n_atoms']} atoms)"
        )
    return (
        f"{info['source']} has partial occupancies: using its lowest-Ewald-energy ordered model "
        f"({info['formula']}, {cell} cell, {info['n_atoms']} atoms, seed {info['seed']}; "
        "halidelab's Ewald-ranked ordering, recorded in the result's provenance)"
    )


def _distinct(
    sc: Structure, cands: Sequence[Any], n_configs: int, warnings: list[str]
) -> tuple[tuple[Configuration, ...], int]:
    """The ``n_configs`` lowest, symmetry-distinct candidates as configurations."""
    matcher = StructureMatcher()
    kept: list[tuple[float, Structure]] = []
    for cand in cands:
        s = Structure(
            sc.lattice,
            [lab for lab in cand.labels if lab],
            [sc[i].frac_coords for i, lab in enumerate(cand.labels) if lab],
        )
        if any(abs(e - cand.energy_eV) < 1e-4 and matcher.fit(s, ks) for e, ks in kept):
            continue
        kept.append((cand.energy_eV, s))
        if len(kept) == n_configs:
            break
    if len(kept) < n_configs:
        warnings.append(
            f"only {len(kept)} symmetry-distinct configuration(s) found of the {n_configs} asked "
            "(the cell may allow no more, or raise sweeps)"
        )
    e0 = kept[0][0]
    n_atoms = len(kept[0][1])
    return tuple(
        Configuration(i, e, (e - e0) / n_atoms * 1000.0, s.as_dict())
        for i, (e, s) in enumerate(kept)
    ), n_atoms


def _ball_milled(
    sc: Structure,
    sc_roles: list[tuple[str, str, float, str]],
    li_idx: list[int],
    x_idx: list[int],
    cations: dict[str, int],
    x_species: dict[str, int],
    charges: dict[str, float],
    n_configs: int,
    seed: int,
    temperature_K: float,
    dielectric: float,
    ground_eV: float,
) -> tuple[tuple[Configuration, ...], int, list[str]]:
    """Cation-disordered configurations: Monte Carlo over all octahedral holes."""
    from halidelab.constants import K_B_EV_K
    from halidelab.structures.ordering import sample_orderings
    from halidelab.transport.sites import find_holes

    anions = Structure(
        sc.lattice, [sc_roles[i][0] for i in x_idx], [sc[i].frac_coords for i in x_idx]
    )
    holes = np.array([h.frac for h in find_holes(anions) if h.kind == "oct"])
    n_cat = sum(cations.values())
    if len(holes) < n_cat:
        raise StructureError(
            f"{n_cat} cations do not fit the {len(holes)} octahedral holes of the framework"
        )
    # what each hole is in the ordered cell: an M site, a Li site, or empty
    m_idx = [i for i, r in enumerate(sc_roles) if r[1] == "M"]
    role = np.array(["empty"] * len(holes), dtype=object)
    for idx, name in ((li_idx, "Li"), (m_idx, "M")):
        if idx:
            d = sc.lattice.get_all_distances(holes, [sc[i].frac_coords for i in idx])
            role[d.min(axis=1) < 0.7] = name
    pos = np.vstack([holes, [sc[i].frac_coords for i in x_idx]])
    n_h = len(holes)
    pools = [
        Pool(list(range(n_h)), {**cations, "": n_h - n_cat}, "oct"),
        Pool(list(range(n_h, len(pos))), x_species, "X"),
    ]
    matrix = unit_ewald_matrix(Structure(sc.lattice, ["H"] * len(pos), pos)) / dielectric
    kt = K_B_EV_K * temperature_K
    # independent chains (own random start and cooling each), not snapshots of one chain:
    # the ensemble's standard error assumes independent members
    samples = [
        sample_orderings(matrix, pools, charges, 1, kt, seed=int(child.generate_state(1)[0]))[0]
        for child in np.random.SeedSequence(seed).spawn(n_configs)
    ]
    configs = []
    n_atoms = n_cat + len(x_idx)
    for k, cand in enumerate(samples):
        st = Structure(
            sc.lattice,
            [lab for lab in cand.labels if lab],
            [pos[i] for i, lab in enumerate(cand.labels) if lab],
        )
        on = [role[i] for i, lab in enumerate(cand.labels[:n_h]) if lab and lab != "Li"]
        e = cand.energy_eV * dielectric  # unscreened, comparable with the annealed ones
        configs.append(
            Configuration(
                k,
                e,
                (e - ground_eV) / n_atoms * 1000.0,
                st.as_dict(),
                disorder={
                    "m_off_ordered_sites": float(np.mean([r != "M" for r in on])) if on else 0.0,
                    "m_on_li_sites": float(np.mean([r == "Li" for r in on])) if on else 0.0,
                    "ewald_above_annealed_meV_atom": (e - ground_eV) / n_atoms * 1000.0,
                },
            )
        )
    notes = [
        f"ball-milled: {n_configs} independent Monte Carlo sample(s) over {n_h} octahedral holes "
        "at "
        f"{temperature_K:g} K (Ewald / {dielectric:g}); M off the ordered M sites: "
        + ", ".join(f"{c.disorder['m_off_ordered_sites']:.0%}" for c in configs)
    ]
    return tuple(configs), n_atoms, notes


def _quenched(
    sc: Structure,
    sc_roles: list[tuple[str, str, float, str]],
    matrix: np.ndarray,
    pools: Sequence[Pool],
    charges: dict[str, float],
    n_configs: int,
    seed: int,
    temperature_K: float,
    dielectric: float,
    ground_eV: float,
) -> tuple[tuple[Configuration, ...], int, list[str]]:
    """Quenched site disorder: Monte Carlo over the framework's own sites.

    The annealed state's pools (Li and vacancies on the Li sites, dopants and M on the M
    sites, mixed anions), sampled at ``temperature_K`` on the Ewald energy screened by
    ``dielectric`` instead of minimised: independent chains, one per configuration. Each
    configuration records the occupancy it gives each partially occupied orbit of the
    framework file (by site label), comparable with the refined occupancies.
    """
    from halidelab.constants import K_B_EV_K
    from halidelab.structures.ordering import sample_orderings

    kt = K_B_EV_K * temperature_K
    # a position that the file shares between Li and M (Li/Y antisites of Li3YBr6) is two
    # entries at one place: they exclude each other (the Ewald sum has no finite energy for
    # two charges at one point)
    cat = [i for i, r in enumerate(sc_roles) if r[1] != "X"]
    frac = np.array([sc[i].frac_coords for i in cat])
    dist = sc.lattice.get_all_distances(frac, frac)
    screened = matrix / dielectric
    pairs = [(cat[a], cat[b]) for a, b in zip(*np.nonzero(dist < OVERLAP_A), strict=True) if a < b]
    for i, j in pairs:
        screened[i, j] += OVERLAP_PENALTY_EV
        screened[j, i] += OVERLAP_PENALTY_EV
    samples = [
        sample_orderings(
            screened,
            pools,
            charges,
            1,
            kt,
            seed=int(child.generate_state(1)[0]),
            exchange=True,
        )[0]
        for child in np.random.SeedSequence(seed).spawn(n_configs)
    ]
    # the prototype's orbit labels (make_supercell numbers each copy: Y2 -> Y2_1, Y2_2...)
    orbit = [re.sub(r"_\d+$", "", r[3]) for r in sc_roles]
    partial = sorted(
        {o for o, r in zip(orbit, sc_roles, strict=True) if r[2] < 0.999 and r[1] != "X"}
    )
    configs = []
    for k, cand in enumerate(samples):
        if any(cand.labels[i] and cand.labels[j] for i, j in pairs):
            raise StructureError(
                "the quenched sampling left two cations on one position of the framework "
                f"(seed {seed}): raise the cell or use the annealed state"
            )
        st = Structure(
            sc.lattice,
            [lab for lab in cand.labels if lab],
            [sc[i].frac_coords for i, lab in enumerate(cand.labels) if lab],
        )
        n_atoms = len(st)
        occupancy = {
            label: float(np.mean([bool(cand.labels[i]) for i, o in enumerate(orbit) if o == label]))
            for label in partial
        }
        # unscreened, comparable with the annealed ones (no overlap pair is occupied, so
        # the exclusion term adds nothing)
        e = cand.energy_eV * dielectric
        above = (e - ground_eV) / n_atoms * 1000.0
        configs.append(
            Configuration(
                k,
                e,
                above,
                st.as_dict(),
                disorder={
                    "ewald_above_annealed_meV_atom": above,
                    **{f"occupancy:{lab}": v for lab, v in occupancy.items()},
                },
            )
        )
    occ_text = "; ".join(
        f"{lab} " + ", ".join(f"{c.disorder[f'occupancy:{lab}']:.2f}" for c in configs)
        for lab in partial
    )
    notes = [
        f"quenched: {n_configs} independent Monte Carlo sample(s) of the framework's own sites at "
        f"{temperature_K:g} K (Ewald / {dielectric:g})"
        + (f"; occupancy of its partial orbits per sample: {occ_text}" if partial else "")
    ]
    return tuple(configs), n_atoms, notes


def primitive_lattice(
    structure: dict[str, Any], supercell_matrix: Sequence[Sequence[int]]
) -> dict[str, float]:
    """a, c (A) and volume per prototype cell of a (relaxed) supercell.

    The supercell's lattice rows are S @ L_prim, so L_prim = S^-1 @ L_supercell; a and c
    are averaged over the cell in the sense of this linear map.
    """
    from pymatgen.core import Lattice

    lat = np.asarray(structure["lattice"]["matrix"], dtype=float)
    prim = Lattice(np.linalg.solve(np.asarray(supercell_matrix, dtype=float), lat))
    return {"a_A": prim.a, "b_A": prim.b, "c_A": prim.c, "volume_A3": prim.volume}


def _structure_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".cif":
        return "cif"
    if suffix == ".vasp" or path.name.startswith("POSCAR"):
        return "poscar"
    if suffix in (".extxyz", ".xyz"):
        return "extxyz"
    raise StructureError(
        f"unknown structure format {path.suffix or path.name!r}: use .cif, .vasp or .extxyz"
    )


def check_structure_path(path: str | Path) -> Path:
    """``path`` if :func:`write_structure` can write that format (checked before the work)."""
    _structure_format(Path(path))
    return Path(path)


def write_structure(structure: Structure, path: str | Path) -> Path:
    """Write a structure atomically; the format follows the suffix (.cif, .vasp/POSCAR, .extxyz)."""
    from halidelab.outputs import atomic_path

    path = Path(path)
    fmt = _structure_format(path)
    with atomic_path(path) as tmp:
        if fmt == "cif":
            from pymatgen.io.cif import CifWriter

            CifWriter(structure).write_file(tmp)
        elif fmt == "poscar":
            from pymatgen.io.vasp import Poscar

            Poscar(structure, sort_structure=False).write_file(tmp)
        else:
            from ase.io import write as ase_write
            from pymatgen.io.ase import AseAtomsAdaptor

            ase_write(tmp, AseAtomsAdaptor.get_atoms(structure), format="extxyz")
    return path


_SUFFIX = {"cif": ".cif", "poscar": ".vasp", "vasp": ".vasp", "extxyz": ".extxyz", "xyz": ".extxyz"}


def write_models(
    sets: Sequence[ModelSet],
    out: str | Path,
    formats: Sequence[str] = ("cif", "poscar", "extxyz"),
    xrd: bool = False,
    protect: Sequence[str | Path] = (),
) -> dict[str, Any]:
    """Write every configuration and a ``manifest.json``; return the manifest.

    Files are ``<formula>_c<i>.<ext>`` (``Li1.8Zr0.8Nb0.2Cl6_c0.cif``) with the formula
    as modelled; with ``xrd`` also the simulated Cu K-alpha peak list
    (``_xrd.csv``) and profile (``_xrd.xy``). The manifest holds every record field
    except the structures. Every file is written atomically, and none over a file in
    ``protect`` (the command's inputs, e.g. a ``--framework`` CIF in the output folder)
    or over an SQLite database: that is checked for all names before anything is written.
    """
    from halidelab.outputs import OutputGuard, atomic_path, write_json

    bad = [f for f in formats if f.lower() not in _SUFFIX]
    if bad or not formats:
        raise StructureError(f"unknown format(s) {bad or formats}: use cif, poscar, extxyz")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise StructureError(
            f"{out} is an existing file, not a folder: give a folder for the models"
        )
    out.mkdir(parents=True, exist_ok=True)
    guard = OutputGuard(protect)
    plan: list[tuple[ModelSet, Configuration, list[str], str]] = []
    for s in sets:
        for cfg in s.configurations:
            names = [f"{s.formula_modelled}_c{cfg.index}{_SUFFIX[fmt.lower()]}" for fmt in formats]
            stem = f"{s.formula_modelled}_c{cfg.index}_xrd"
            plan.append((s, cfg, names, stem))
            for name in [*names, *([f"{stem}.csv", f"{stem}.xy"] if xrd else [])]:
                guard.file_in(out, name)
    guard.file_in(out, "manifest.json")
    manifest: dict[str, Any] = {"models": {}}
    entries: dict[str, dict[str, Any]] = {}
    for s, cfg, names, stem in plan:
        entry = entries.get(s.formula_modelled)
        if entry is None:
            entry = {k: v for k, v in s.to_dict().items() if k != "configurations"}
            entry["configurations"] = []
            entry["files"] = []
            if xrd:
                entry["xrd_note"] = (
                    "simulated Cu K-alpha (weighted mean, pymatgen); hkl indexed on "
                    "the supercell: parent-cell hkl = inverse(supercell_matrix) @ "
                    "hkl; non-integer ones are superstructure reflections of the "
                    "ordering"
                )
            entries[s.formula_modelled] = entry
            manifest["models"][s.formula_modelled] = entry
        st = cfg.to_structure()
        for name in names:
            write_structure(st, out / name)
        names = list(names)
        if xrd:
            from halidelab.structures.xrd import simulate_pattern, write_peak_list, write_xy

            pattern = simulate_pattern(st)
            with atomic_path(out / f"{stem}.csv") as tmp:
                write_peak_list(pattern, tmp)
            with atomic_path(out / f"{stem}.xy") as tmp:
                write_xy(pattern, tmp)
            names += [f"{stem}.csv", f"{stem}.xy"]
        entry["files"].append(names)
        entry["configurations"].append(
            {
                "index": cfg.index,
                "ewald_energy_eV": cfg.ewald_energy_eV,
                "relative_energy_meV_atom": cfg.relative_energy_meV_atom,
                "files": names,
            }
        )
    write_json(out / "manifest.json", manifest)
    return manifest
