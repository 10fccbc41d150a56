"""Ordered models of the reference structures.

Every reference row names a structure file (an OBELiX CIF shipped under
``halidelab/data``) and a ``construction``, one of:

``cif``
    The CIF's own structure. A partially occupied CIF is ordered by
    :func:`halidelab.structures.models.build_models` on the row's composition with the CIF
    as framework (lowest point-charge Ewald energy of an annealed search, seeded); an
    ordered CIF is used as it is, repeated until every face-to-face width of the cell is
    at least ``min_width_A``.
``cif-spinel``
    Spinel-type CIFs whose octahedral sites are shared by Li and M (Li2MgCl4): the mixed
    sites are ordered by Ewald energy with pymatgen's
    ``OrderDisorderedStructureTransformation`` in the conventional cell (build_models
    treats a site shared by Li and M as neither).
``cif-merge``
    CIFs that split each Li over a few positions joined by distances below ``MERGE_TOL_A``
    (Li6NBr3: four positions of occupancy 1/4 on a square of side 0.95 A): one Li at the
    centroid of each group,
    with the group's summed occupancy, which must be 1.
``design:PARENT[+DOPANT@SITE=x...]|SPACEGROUP``
    A composition modelled on a shipped framework: ``design_composition(PARENT,
    substitutions)`` and ``build_models(..., polymorph=SPACEGROUP)``, e.g.
    ``design:Li3ErCl6|P-3m1`` (the Li3YCl6 framework with Er on the Y sites, lattice scaled
    by the mean M-Cl bond length) or ``design:Li3InCl6+Hf@In=0.3|C2/m``.

``;ball-milled`` after ``cif`` or a ``design:`` string (``cif;ball-milled``,
``design:Li3ErCl6|P-3m1;ball-milled``) models an as-milled sample: ``build_models(...,
state="ball-milled")`` spreads Li and every framework cation over all octahedral holes of
the anion lattice (Metropolis Monte Carlo on the screened Ewald energy at a fictive
temperature; see :mod:`halidelab.structures.models`), each ordering an independent
chain. Without it a model is the annealed (Ewald-ordered) limit. Both states of one
composition are two materials of the set: the pair measures whether a tier predicts the
synthesis effect (Schlem et al. 2020: milled Li3YCl6 and Li3ErCl6 conduct 3-18x better
than ampoule-made ones).

``;quenched`` (``cif;quenched``, ``design:Li3ErCl6|P-3m1;quenched``) models the site
disorder a sample quenched from its synthesis keeps: ``build_models(...,
state="quenched")`` samples Li, vacancies, dopants and the split M orbits of the file
(Y on the two face-sharing 2d orbits of Li3YCl6) on the file's own sites at a fictive
temperature (Metropolis on the screened Ewald energy), instead of taking the Ewald ground
state. M stays on the M sites (no antisites, unlike ``ball-milled``). ``validate
--annealed-state quenched`` gives every annealed ``cif`` row of a partially occupied file
and every annealed ``design:`` row this state
(:func:`~halidelab.validation.reference.quenched_rows`). A quenched model is on the wide
cell of a ball-milled one.

A milled model's cell is wider than an annealed one's: the smallest cell whose
face-to-face widths are all at least ``milled_min_width_A`` (:data:`MILLED_MIN_WIDTH_A`,
11.5 A: 2x2x2 trigonal cells, 240 atoms for Li3MCl6 and 216 for Li2ZrCl6 instead of 60
and 54, the first cells this wide, as the c of the hcp halides is 5.9-6.1 A), up to
``milled_max_atoms``. A
disordered state is a statistical one, and a small cell samples it badly: on the 60-atom
Li3YCl6 cell the fraction of Y off the ordered Y sites goes from 0 to 83 % from chain to
chain (10 chains: mean 52 %, SD 29 %; one chain is the annealed model), on the 240-atom
cell from 46 to 75 % (mean 62 %, SD 9 %), closer to the near-complete Y2/Y3 disorder
Schlem et al. refined; the unrelaxed BVSE 3D barrier of one chain spreads by 0.083 eV
(SD) on the small cell and 0.047 eV on the large one (Li3ErCl6: 0.093 and 0.054 eV), with
no shift of the mean beyond that spread (Li3YCl6 0.555 on both; 10 chains each,
``benchmarks/bench_milled_cells.py``). A cell only long along c (1x1x4, 120 atoms) spreads
as much as the small one (0.084 eV): it is the width of the cell that matters. After
CHGNet relaxation the spread is much smaller on both cells (10 chains: 0.042 and 0.034 eV
for Li3YCl6, 0.026 and 0.024 eV for Li3ErCl6), so the wide cell buys a disorder that is
the same from chain to chain more than a tighter barrier.

The ``reference-model`` task kind (:mod:`halidelab.validation.tasks`) runs
:func:`build_reference_model`; the file's SHA-256 is part of the task inputs, so a
changed CIF is never answered from an old model.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import Composition, Structure

from halidelab.errors import DataFormatError, StructureError
from halidelab.records import Provenance, Record
from halidelab.structures.models import MILLED_MIN_WIDTH_A, MIN_WIDTH_A

#: Li positions joined by distances below this are one split site (cif-merge), A
MERGE_TOL_A = 1.0
#: default largest ball-milled model (the 11.5 A cell of trigonal Li3MCl6 has 240 atoms)
MILLED_MAX_ATOMS = 320
#: largest composition distance (total variation of atomic fractions) between a row and
#: its model: build_models may model a dopant content only approximately
COMPOSITION_TOLERANCE = 0.02


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def parse_construction(text: str) -> dict[str, Any]:
    """Parse a ``construction`` cell.

    Returns
    -------
    dict
        ``kind`` (``cif``, ``cif-spinel``, ``cif-merge`` or ``design``), ``state``
        (``annealed``, or ``ball-milled`` or ``quenched`` after ``;``) and, for
        ``design``, ``parent``,
        ``substitutions`` (list of dicts for :class:`~halidelab.composition.Substitution`)
        and ``polymorph``.

    Raises
    ------
    DataFormatError
        An unknown kind or a malformed design string.
    """
    from halidelab.structures.models import STATES

    text = text.strip()
    state = "annealed"
    if ";" in text:
        text, suffix = (t.strip() for t in text.rsplit(";", 1))
        if suffix not in STATES[1:]:
            raise DataFormatError(
                f"construction {text};{suffix}: unknown state {suffix!r} after ';' (use "
                f"{' or '.join(STATES[1:])}; without a suffix the model is {STATES[0]})"
            )
        if not (text == "cif" or text.startswith("design:")):
            raise DataFormatError(
                f"construction {text};{suffix}: a state can follow only cif or a design: "
                "string (spinels and merged split sites are ordered their own way)"
            )
        state = suffix
    if text in ("cif", "cif-spinel", "cif-merge"):
        return {"kind": text, "state": state}
    if not text.startswith("design:"):
        raise DataFormatError(
            f"construction {text!r}: use cif, cif-spinel, cif-merge or "
            "design:PARENT[+DOPANT@SITE=x]|SPACEGROUP, optionally followed by ;ball-milled or "
            ";quenched"
        )
    body = text[len("design:") :]
    if "|" not in body:
        raise DataFormatError(
            f"construction {text!r}: give the space group after '|', e.g. design:Li3ErCl6|P-3m1"
        )
    spec, polymorph = body.split("|", 1)
    parent, *subs = spec.split("+")
    if not parent.strip() or not polymorph.strip():
        raise DataFormatError(f"construction {text!r}: empty parent or space group")
    out = []
    for s in subs:
        try:
            head, x = s.split("=")
            dopant, site = head.split("@")
            out.append({"dopant": dopant.strip(), "site": site.strip(), "x": float(x)})
        except ValueError:
            raise DataFormatError(
                f"construction {text!r}: substitution {s!r} is not DOPANT@SITE=x"
            ) from None
    return {
        "kind": "design",
        "parent": parent.strip(),
        "substitutions": out,
        "polymorph": polymorph.strip().replace(" ", ""),
        "state": state,
    }


@dataclasses.dataclass(frozen=True)
class ReferenceModel(Record):
    """The ordered structure modelled for one reference material.

    Attributes
    ----------
    composition : str
        The reference row's composition.
    formula_modelled : str
        Reduced formula of the model.
    n_atoms : int
    construction : str
        The row's construction cell.
    description : str
        What was done, in words.
    structure : dict
        pymatgen ``Structure.as_dict()``.
    structure_sha256 : str
        Of the source file.
    provenance : Provenance
    orderings : tuple of dict
        Further orderings of the same composition on the same supercell (structure
        dicts), next-lowest in Ewald energy, when more than one was asked for and the
        construction has any (an ordered CIF, a spinel or a merged split site has none).
    """

    composition: str
    formula_modelled: str
    n_atoms: int
    construction: str
    description: str
    structure: dict[str, Any]
    structure_sha256: str
    provenance: Provenance
    orderings: tuple[dict[str, Any], ...] = ()

    def n_orderings(self) -> int:
        """The model's orderings: the first (``structure``) and the further ones."""
        return 1 + len(self.orderings)

    def ordering(self, k: int) -> dict[str, Any]:
        """Structure dict of ordering ``k`` (0: ``structure``)."""
        return self.structure if k == 0 else self.orderings[k - 1]

    def to_structure(self) -> Structure:
        """The model as a pymatgen Structure."""
        return Structure.from_dict(self.structure)


def _widths(s: Structure) -> np.ndarray:
    m = s.lattice.matrix
    vol = abs(np.linalg.det(m))
    return np.array(
        [vol / np.linalg.norm(np.cross(m[(i + 1) % 3], m[(i + 2) % 3])) for i in range(3)]
    )


def repeat_to_width(s: Structure, min_width_A: float = MIN_WIDTH_A) -> Structure:
    """The smallest diagonal supercell whose face-to-face widths are all >= ``min_width_A``."""
    reps = [max(1, math.ceil(min_width_A / w - 1e-9)) for w in _widths(s)]
    return s * reps if reps != [1, 1, 1] else s.copy()


def order_spinel(s: Structure) -> Structure:
    """Order a CIF whose sites are shared by Li and another cation, by Ewald energy.

    Oxidation states by pymatgen's guess; the lowest-Ewald ordering of
    ``OrderDisorderedStructureTransformation`` (deterministic) in the given cell.
    """
    from pymatgen.transformations.standard_transformations import (
        OrderDisorderedStructureTransformation,
    )

    t = s.copy()
    try:
        t.add_oxidation_state_by_guess()
    except Exception:  # pymatgen raises many kinds when no charge-balanced guess exists
        raise StructureError(
            f"no oxidation states for {s.composition.reduced_formula}: cannot order it "
            "by Ewald energy"
        ) from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ranked = OrderDisorderedStructureTransformation(algo=0).apply_transformation(
            t, return_ranked_list=1
        )
    best = ranked[0]["structure"]
    best.remove_oxidation_states()
    return best


def merge_split_li(s: Structure, tol_A: float = MERGE_TOL_A) -> Structure:
    """One Li per group of partially occupied Li positions (single linkage below ``tol_A``).

    Each group is replaced by a site at its periodic centroid with the group's summed
    occupancy; the result must be fully occupied (groups summing to 1).

    Raises
    ------
    StructureError
        A group whose occupancies do not sum to 1 (then this is not a split site).
    """
    keep = [
        site
        for site in s
        if not (
            len(site.species) == 1
            and site.species.elements[0].symbol == "Li"
            and site.species.num_atoms < 0.999
        )
    ]
    split = [site for site in s if site not in keep]
    if not split:
        return s.copy()
    frac = np.array([site.frac_coords for site in split])
    occ = np.array([site.species.num_atoms for site in split])
    dist = s.lattice.get_all_distances(frac, frac)
    # single-linkage groups: positions joined by chains of distances below tol_A
    parent = list(range(len(split)))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for i, j in zip(*np.nonzero(dist < tol_A), strict=True):
        parent[root(int(i))] = root(int(j))
    groups: dict[int, list[int]] = {}
    for k in range(len(split)):
        groups.setdefault(root(k), []).append(k)
    centres = []
    for group in sorted(groups.values()):
        i = group[0]
        total = occ[group].sum()
        if abs(total - 1.0) > 0.02:
            raise StructureError(
                f"Li positions near {np.round(frac[i], 3).tolist()} sum to occupancy "
                f"{total:.3f}, not 1: not a split site (merge tolerance {tol_A} A)"
            )
        # periodic centroid: unwrap each member to the image nearest the first
        ref = frac[group[0]]
        d = frac[group] - ref
        d -= np.round(d)
        centres.append((ref + d.mean(axis=0)) % 1.0)
    species = [site.species for site in keep] + ["Li"] * len(centres)
    coords = [site.frac_coords for site in keep] + centres
    out = Structure(s.lattice, species, coords)
    if not out.is_ordered:
        raise StructureError(
            f"{s.composition.reduced_formula}: sites other than split Li are partially "
            "occupied; cif-merge cannot order them"
        )
    return out


def _composition_distance(a: Composition, b: Composition) -> float:
    from halidelab.literature import composition_distance

    return composition_distance(a, b)


def build_reference_model(
    composition: str,
    construction: str,
    structure_file: str | Path,
    max_atoms: int = 160,
    seed: int = 0,
    min_width_A: float = MIN_WIDTH_A,
    orderings: int = 1,
    milled_min_width_A: float = MILLED_MIN_WIDTH_A,
    milled_max_atoms: int = MILLED_MAX_ATOMS,
) -> ReferenceModel:
    """Build the ordered model of one reference material.

    Parameters
    ----------
    composition : str
        The reference row's composition (the model must match it within
        :data:`COMPOSITION_TOLERANCE`).
    construction : str
        See the module docstring.
    structure_file : path
        The CIF (resolved path).
    max_atoms : int
        Largest model build_models may make.
    seed : int
        Seed of build_models' ordering search.
    min_width_A : float
        Smallest face-to-face width of an annealed (ordered) model's cell, A: an ordered
        CIF is repeated to it, a partially occupied one ordered on such a cell
        (``validate --annealed-width``, e.g. 11.5 to compare synthesis states on the cells
        of the milled models).
    orderings : int
        How many orderings to return at most. The first is always the one built with
        ``orderings=1`` (so a campaign with more orderings reuses every result of the
        first); the others are the next distinct configurations of build_models'
        search for ``orderings + 1`` (same seed and supercell), in Ewald order. Only the
        constructions that build_models orders (``cif`` with partial occupancies and
        ``design``) have more than one.
    milled_min_width_A : float
        Smallest face-to-face width of a ball-milled model's cell, A (module docstring).
    milled_max_atoms : int
        Largest ball-milled model (instead of ``max_atoms``).

    Raises
    ------
    StructureError
        The file cannot be read or ordered, the model's composition is not the row's, or
        no ball-milled cell within ``milled_max_atoms`` is ``milled_min_width_A`` wide, or
        no annealed one within ``max_atoms`` is ``min_width_A`` wide.
    """
    from halidelab.composition import Substitution, design_composition
    from halidelab.structures.models import build_models
    from halidelab.structures.prototypes import read_structure

    spec = parse_construction(construction)
    path = Path(structure_file)
    src = read_structure(path)
    kind = spec["kind"]
    state = spec["state"]
    milled = state == "ball-milled"
    # a disordered state (ball-milled or quenched) is a statistical one: the wide cell
    disordered = state != "annealed"
    size = (
        {"max_atoms": milled_max_atoms, "min_width": milled_min_width_A}
        if disordered
        else {"max_atoms": max_atoms, "min_width": min_width_A}
    )
    extra: list[Structure] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "cif" and src.is_ordered and not disordered:
            model = repeat_to_width(src, min_width_A)
            desc = f"ordered CIF {path.name}, repeated to widths >= {min_width_A:g} A"
        elif kind == "cif":

            def build(n: int) -> Any:
                return build_models(
                    design_composition(composition),
                    framework=path,
                    n_configs=n,
                    **size,
                    seed=seed,
                    state=state,
                )

            ms = build(1)
            model = ms.configurations[0].to_structure()
            extra, disorder = _further_orderings(model, build, orderings, ms)
            how = {
                "ball-milled": f"cation-disordered on {composition} by build_models "
                f"({_disorder_text(disorder)}",
                "quenched": f"site disorder of the file quenched on {composition} by "
                f"build_models ({_quench_text(disorder)}",
            }.get(state, f"ordered on {composition} by build_models (lowest Ewald energy")
            desc = f"{path.name} {how}, seed {seed}), supercell {ms.supercell_matrix}"
        elif kind == "cif-spinel":
            model = repeat_to_width(order_spinel(src), min_width_A)
            desc = (
                f"{path.name}: Li/M shared sites ordered by Ewald energy (pymatgen), "
                f"{len(model)} atoms"
            )
        elif kind == "cif-merge":
            model = repeat_to_width(merge_split_li(src), min_width_A)
            desc = (
                f"{path.name}: split Li positions (< {MERGE_TOL_A} A apart) merged to one Li at "
                f"their centroid; repeated to widths >= {min_width_A:g} A"
            )
        else:
            design = design_composition(
                spec["parent"], [Substitution(**s) for s in spec["substitutions"]]
            )

            def build(n: int) -> Any:
                return build_models(
                    design,
                    polymorph=spec["polymorph"],
                    n_configs=n,
                    **size,
                    seed=seed,
                    state=state,
                )

            ms = build(1)
            model = ms.configurations[0].to_structure()
            extra, disorder = _further_orderings(model, build, orderings, ms)
            desc = (
                f"{design.formula} on the {ms.framework} framework ({ms.space_group}), "
                f"{ms.lattice_source}; modelled {ms.formula_modelled}, supercell "
                f"{ms.supercell_matrix}"
                + (f"; cation-disordered ({_disorder_text(disorder)})" if milled else "")
                + (
                    f"; site disorder quenched ({_quench_text(disorder)})"
                    if state == "quenched"
                    else ""
                )
            )
    if not model.is_ordered:
        raise StructureError(f"the model of {composition} ({construction}) is not ordered")
    width = float(_widths(model).min())
    if disordered:
        if width < milled_min_width_A - 1e-6:
            raise StructureError(
                f"the {state} model of {composition} is {width:.1f} A wide ({len(model)} "
                f"atoms): no cell {milled_min_width_A:g} A wide that models the composition "
                f"fits in {milled_max_atoms} atoms; raise --milled-max-atoms or lower "
                "--milled-width"
            )
        desc += f"; cell {width:.1f} A wide (disordered models >= {milled_min_width_A:g} A)"
    elif len(model) > max_atoms:
        raise StructureError(
            f"the model of {composition} has {len(model)} atoms to be {min_width_A:g} A wide, "
            f"more than --max-atoms {max_atoms}: raise --max-atoms or lower --annealed-width"
        )
    elif width < min_width_A - 1e-6:
        raise StructureError(
            f"the model of {composition} is {width:.1f} A wide "
            f"({len(model)} atoms): no cell {min_width_A:g} A wide that models the "
            f"composition fits in {max_atoms} atoms; raise --max-atoms or lower --annealed-width"
        )
    d = _composition_distance(model.composition, Composition(composition))
    if d > COMPOSITION_TOLERANCE:
        raise StructureError(
            f"the model of {composition} is {model.composition.reduced_formula} "
            f"(composition distance {d:.3f} > {COMPOSITION_TOLERANCE})"
        )
    return ReferenceModel(
        composition=composition,
        formula_modelled=model.composition.reduced_formula,
        n_atoms=len(model),
        construction=construction,
        description=desc,
        structure=model.as_dict(),
        structure_sha256=file_sha256(path),
        provenance=Provenance(
            method="reference-model",
            seed=seed,
            parameters={
                "max_atoms": max_atoms,
                "min_width_A": min_width_A,
                "structure_file": path.name,
                **({"orderings": orderings} if orderings > 1 else {}),
                **(
                    {
                        "state": state,
                        "milled_min_width_A": milled_min_width_A,
                        "milled_max_atoms": milled_max_atoms,
                    }
                    if disordered
                    else {}
                ),
            },
        ),
        orderings=tuple(x.as_dict() for x in extra),
    )


def _quench_text(disorder: list[dict[str, float]]) -> str:
    """The quenched orderings' occupancies of the file's partial orbits in words."""
    labels = sorted({k.split(":", 1)[1] for d in disorder for k in d if k.startswith("occupancy:")})
    per = "; ".join(
        f"{lab} " + ", ".join(f"{d.get('occupancy:' + lab, float('nan')):.2f}" for d in disorder)
        for lab in labels
    )
    return "Metropolis samples of its own sites; occupancy per ordering: " + (per or "none partial")


def _disorder_text(disorder: list[dict[str, float]]) -> str:
    """The ball-milled orderings' cation disorder in words."""
    return "M off the ordered M sites per ordering: " + ", ".join(
        f"{d.get('m_off_ordered_sites', 0.0):.0%}" for d in disorder
    )


def _further_orderings(
    first: Structure, build: Any, orderings: int, first_set: Any = None
) -> tuple[list[Structure], list[dict[str, float]]]:
    """Up to ``orderings - 1`` configurations of ``build(orderings + 1)`` other than
    ``first``, and the ``disorder`` records of ``first`` (from ``first_set``, the model
    set it came from) and of each one kept. All are on one supercell, so two orderings are
    the same when they put the same species on the same positions (compared as sets, to
    1e-4 in fractions)."""
    disorder = [dict(first_set.configurations[0].disorder or {})] if first_set is not None else []
    if orderings <= 1:
        return [], disorder

    def occupation(st: Structure) -> frozenset:
        return frozenset(
            (site.species_string, *np.round(np.mod(site.frac_coords, 1.0), 4).tolist())
            for site in st
        )

    seen = {occupation(first)}
    out: list[Structure] = []
    for c in build(orderings + 1).configurations:
        st = c.to_structure()
        if len(st) != len(first) or not np.allclose(st.lattice.matrix, first.lattice.matrix):
            continue
        occ = occupation(st)
        if occ not in seen and len(out) < orderings - 1:
            seen.add(occ)
            out.append(st)
            disorder.append(dict(c.disorder or {}))
    return out, disorder
