"""Energy above the convex hull from MLIP energies (pymatgen ``PhaseDiagram``).

The candidate (each of its ordered configurations) and every competing phase of its
chemical system (:mod:`halidelab.stability.references`) are relaxed with the same MLIP;
pymatgen builds the hull from ``PDEntry`` objects holding those total energies.

Two numbers per candidate:

- ``decomposition_energy_eV_atom``: the energy of the candidate relative to the hull of
  all *other* phases (the candidate's own composition left out), Bartel's decomposition
  enthalpy. Negative: stable by that margin; positive: it decomposes.
- ``e_above_hull_eV_atom``: above the hull of *all* phases, other polymorphs of the same
  composition included (a strained or wrong polymorph lies above its ground state);
  0 for a phase on the hull.

The decomposition products are the hull phases at the candidate's composition with
their fractions (atom fractions). Every reference energy is an MLIP energy; references
marked approximate (built polymorph not the ground state) are flagged when they appear
among the products, because a reference that is too high in energy makes the candidate
look more stable than it is.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition, Structure

from halidelab.errors import CompositionError, StructureError
from halidelab.records import Provenance, Record
from halidelab.stability.references import (
    ReferenceEnergy,
    ReferenceSpec,
    references_for,
    relax_cached,
    relax_references,
)

#: below this (eV/atom) a phase counts as on the hull
ON_HULL_TOL_EV = 1e-6


@dataclasses.dataclass(frozen=True)
class Product(Record):
    """One decomposition product: reduced formula, reference name and atom fraction."""

    formula: str
    name: str
    atom_fraction: float


@dataclasses.dataclass(frozen=True)
class ConfigurationEnergy(Record):
    """Energy of one relaxed configuration of a candidate."""

    index: int
    energy_per_atom_eV: float
    decomposition_energy_eV_atom: float
    e_above_hull_eV_atom: float
    volume_per_atom_A3: float
    converged: bool


@dataclasses.dataclass(frozen=True)
class HullResult(Record):
    """Phase stability of one candidate against its competing phases.

    Attributes
    ----------
    formula : str
        Candidate formula (as modelled).
    chemical_system : str
        e.g. ``"Cl-Li-Nb-Zr"``.
    e_above_hull_eV_atom : float
        Of the lowest-energy configuration against all phases (same-composition
        polymorphs included); 0 on the hull.
    decomposition_energy_eV_atom : float
        Relative to the hull of the other phases (negative: stable by that much).
    formation_energy_eV_atom : float
        From the elemental references of the same MLIP.
    stable : bool
    products : tuple of Product
        Phases it decomposes into (itself when stable).
    configurations : tuple of ConfigurationEnergy
        Every configuration relaxed, each with its own hull energy.
    references : tuple of ReferenceEnergy
        The competing phases used (energies, volumes, whether approximate).
    warnings : tuple of str
    provenance : Provenance
    """

    formula: str
    chemical_system: str
    e_above_hull_eV_atom: float
    decomposition_energy_eV_atom: float
    formation_energy_eV_atom: float
    stable: bool
    products: tuple[Product, ...]
    configurations: tuple[ConfigurationEnergy, ...]
    references: tuple[ReferenceEnergy, ...]
    warnings: tuple[str, ...]
    provenance: Provenance


# ------------------------------------------------------------------- candidate models
def design_for_formula(formula: str) -> Any:
    """The designed composition behind a (doped) formula such as ``Li1.8Zr0.8Nb0.2Cl6``.

    The host is the most abundant non-Li cation; the parent is Li_n Host X_m with n from
    charge balance; every other cation is a substitution on the host site.

    Raises
    ------
    CompositionError
        When the formula is not of that form (anion doping, several hosts): pass a
        structure file instead.
    """
    from halidelab.composition import (
        ANION_VALENCE,
        Substitution,
        default_valence,
        design_composition,
        format_formula,
        parse_formula,
    )

    amounts = parse_formula(formula)
    anions = {e: n for e, n in amounts.items() if e in ANION_VALENCE and e not in ("H",)}
    cations = {e: n for e, n in amounts.items() if e not in anions and e != "Li"}
    if "Li" not in amounts or not anions or not cations:
        raise CompositionError(
            f"{formula}: expected Li, a framework cation and halide anions "
            "(e.g. Li1.8Zr0.8Nb0.2Cl6); give a CIF for anything else"
        )
    if len(anions) > 1:
        raise CompositionError(
            f"{formula}: mixed anions are not inferred from a formula; give a CIF"
        )
    host = max(cations, key=lambda e: cations[e])
    x_anion = next(iter(anions.values()))
    anion = next(iter(anions))
    q_host = default_valence(host)
    n_host = sum(cations.values())
    n_li = x_anion * abs(default_valence(anion, anion_site=True)) - q_host * n_host
    if n_li <= 0:
        raise CompositionError(f"{formula}: parent with {host}{q_host:+d} leaves no Li; give a CIF")
    parent = format_formula({"Li": n_li, host: n_host, anion: x_anion})
    subs = [Substitution(e, host, n) for e, n in cations.items() if e != host]
    design = design_composition(parent, subs)
    if not Composition(design.formula).almost_equals(Composition(formula), rtol=1e-3, atol=1e-3):
        raise CompositionError(
            f"{formula} is not charge balanced as {parent} + substitutions on {host} "
            f"(that gives {design.formula}); check the formula or give a CIF"
        )
    return design


def candidate_structures(
    target: str | Path | Structure, n_configs: int = 1, seed: int = 0, supercell: str | int = "auto"
) -> tuple[str, list[Structure]]:
    """Ordered structures for a formula, a structure file or a ``Structure``.

    Returns
    -------
    (str, list of Structure)
        The formula and the unrelaxed configurations.
    """
    if isinstance(target, Structure):
        if not target.is_ordered:
            from halidelab.structures.models import order_structure

            target, _ = order_structure(target, target.composition.reduced_formula, seed=seed)
        return target.composition.reduced_formula, [target]
    text = str(target)
    if (
        Path(text).suffix.lower() in (".cif", ".vasp", ".poscar", ".xyz", ".extxyz")
        or Path(text).is_file()
    ):
        from halidelab.structures.prototypes import read_structure

        return candidate_structures(read_structure(text), n_configs, seed)
    from halidelab.structures.models import build_models

    design = design_for_formula(text)
    if not design.substitutions:
        supercell = 1  # an undoped parent needs no supercell
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ms = build_models(design, supercell=supercell, n_configs=n_configs, seed=seed)
    return ms.formula_modelled, list(ms.structures)


# ------------------------------------------------------------------------- the hull
def _entry(composition: Composition, energy_per_atom: float, name: str) -> PDEntry:
    # pymatgen parses entry names as formulas (InterfacialReactivity): the reference's
    # label goes into ``attribute``
    return PDEntry(
        composition,
        energy_per_atom * composition.num_atoms,
        name=composition.reduced_formula,
        attribute=name,
    )


def reference_entries(references: Sequence[ReferenceEnergy]) -> list[PDEntry]:
    """``PDEntry`` objects (total energy of the relaxed cell) of relaxed references."""
    return [
        _entry(Composition(r.to_structure().composition), r.energy_per_atom_eV, r.name)
        for r in references
    ]


def phase_diagram(
    references: Sequence[ReferenceEnergy], exclude: Composition | None = None
) -> PhaseDiagram:
    """The MLIP hull of the references (optionally without one reduced composition)."""
    entries = reference_entries(references)
    if exclude is not None:
        red = exclude.reduced_composition
        entries = [e for e in entries if e.composition.reduced_composition != red]
    try:
        return PhaseDiagram(entries)
    except ValueError as exc:
        raise StructureError(f"cannot build the phase diagram: {exc}") from None


def _products(pd: PhaseDiagram, comp: Composition) -> tuple[Product, ...]:
    decomp = pd.get_decomposition(comp)
    out = [
        Product(e.composition.reduced_formula, str(e.attribute or e.name), float(f))
        for e, f in decomp.items()
    ]
    return tuple(sorted(out, key=lambda p: -p.atom_fraction))


def hull_of_entry(
    pd_others: PhaseDiagram, comp: Composition, energy_per_atom: float
) -> tuple[float, tuple[Product, ...]]:
    """Decomposition energy (eV/atom, negative = stable) and products of one entry."""
    entry = _entry(comp, energy_per_atom, "candidate")
    try:
        _decomp, e = pd_others.get_decomp_and_e_above_hull(entry, allow_negative=True)
    except ValueError as exc:
        raise StructureError(
            f"{comp.reduced_formula} lies outside the reference system: {exc}"
        ) from None
    return float(e), _products(pd_others, comp)


def energy_above_hull(
    target: str | Path | Structure,
    model: str = "chgnet",
    n_configs: int = 1,
    seed: int = 0,
    store: Any = None,
    relax: bool = True,
    include: Sequence[str] | None = None,
    fmax: float = 0.05,
    steps: int = 300,
    progress: Callable[[str], None] | None = None,
) -> HullResult:
    """Energy above the MLIP convex hull of a candidate, per configuration.

    Parameters
    ----------
    target : str, Path or Structure
        A formula (``"Li1.8Zr0.8Nb0.2Cl6"``: ordered models are built), a structure file,
        or an ordered pymatgen ``Structure``.
    model : str
        The one MLIP for every energy.
    n_configs, seed : int
        Configurations of a doped formula and the ordering seed.
    store : Store, optional
        Results store used as the cache of every relaxation.
    relax : bool
        Relax the candidate (True) or take its energy as given (False: a single-point
        energy, e.g. for a deliberately strained structure).
    include : sequence of str, optional
        Restrict the competing phases to these names or formulas (small test systems).
    fmax, steps : float, int
        Relaxation settings (eV/A, optimiser steps) for the candidate and references.
    progress : callable(str), optional
        Called with what is being relaxed.

    Returns
    -------
    HullResult
    """
    ordering = None
    if not isinstance(target, Structure) and Path(str(target)).suffix.lower() in (
        ".cif",
        ".vasp",
        ".poscar",
        ".xyz",
        ".extxyz",
    ):
        from halidelab.structures.prototypes import read_structure

        target = read_structure(target)
    if isinstance(target, Structure) and not target.is_ordered:
        from halidelab.structures.models import order_structure

        # a partially occupied structure: its lowest-Ewald-energy ordered model, recorded
        target, ordering = order_structure(target, target.composition.reduced_formula, seed=seed)
    formula, structures = candidate_structures(target, n_configs=n_configs, seed=seed)
    comp0 = structures[0].composition
    elements = sorted({e.symbol for e in comp0.elements})
    specs: list[ReferenceSpec] = references_for(elements, include=include)
    refs = relax_references(
        specs, model=model, store=store, fmax=fmax, steps=steps, progress=progress
    )
    energies, volumes, conv_flags = [], [], []
    for i, s in enumerate(structures):
        if progress is not None:
            progress(f"{formula} configuration {i}")
        if relax:
            res, _ = relax_cached(
                s, f"{formula} c{i}", model=model, fmax=fmax, steps=steps, store=store
            )
            e_atom, conv = float(res["energy_per_atom_eV"]), bool(res["converged"])
            s_rel = Structure.from_dict(res["structure"])
        else:
            from halidelab.engine.batch import evaluate_structures

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                (ev,) = evaluate_structures([s], model)
            e_atom, conv = ev.energy_eV / len(s), True
            s_rel = s
        energies.append(e_atom)
        volumes.append(s_rel.volume / len(s_rel))
        conv_flags.append(conv)
    from halidelab.potentials import model_info

    info = model_info(model)
    return hull_from_energies(
        formula,
        [st.composition for st in structures],
        energies,
        volumes,
        conv_flags,
        refs,
        Provenance(
            method="mlip-convex-hull",
            model=info["name"],
            model_version=info["version"],
            parameters={
                "n_configs": n_configs,
                "relax": relax,
                "fmax": fmax,
                "steps": steps,
                "references": [r.name for r in refs],
                **({"ordering": ordering} if ordering else {}),
            },
            seed=seed,
        ),
    )


def hull_from_energies(
    formula: str,
    compositions: Sequence[Composition],
    energies_eV_atom: Sequence[float],
    volumes_A3_atom: Sequence[float],
    converged: Sequence[bool],
    references: Sequence[ReferenceEnergy],
    provenance: Provenance,
    indices: Sequence[int] | None = None,
) -> HullResult:
    """Hull energies of a candidate's configurations from energies already computed.

    Parameters
    ----------
    formula : str
        Candidate formula (for the record).
    compositions : sequence of Composition
        One per configuration (the same reduced composition).
    energies_eV_atom, volumes_A3_atom : sequence of float
        Relaxed (or single-point) MLIP energy per atom, eV, and volume per atom, A^3.
    converged : sequence of bool
    references : sequence of ReferenceEnergy
        Competing phases relaxed with the same MLIP.
    provenance : Provenance
    indices : sequence of int, optional
        Configuration indices (default 0, 1, ...).

    Returns
    -------
    HullResult
        The lowest-energy configuration's E_hull (vs every phase, polymorphs included) and
        decomposition energy (vs other compositions), its products and formation energy.
    """
    refs = list(references)
    comp0 = compositions[0]
    elements = sorted({e.symbol for e in comp0.elements})
    pd_all = phase_diagram(refs)
    # an element has no "other phases" to decompose into: its own references stand in
    pd_others = pd_all if len(elements) == 1 else phase_diagram(refs, exclude=comp0)
    idx = list(indices) if indices is not None else list(range(len(compositions)))
    configs = []
    for i, comp, e_atom, vol, conv in zip(
        idx, compositions, energies_eV_atom, volumes_A3_atom, converged, strict=True
    ):
        e_dec, _ = hull_of_entry(pd_others, comp, float(e_atom))
        e_all, _ = hull_of_entry(pd_all, comp, float(e_atom))
        configs.append(
            ConfigurationEnergy(
                int(i), float(e_atom), e_dec, max(e_all, 0.0), float(vol), bool(conv)
            )
        )
    ib = min(range(len(configs)), key=lambda k: configs[k].energy_per_atom_eV)
    best, comp = configs[ib], compositions[ib]
    e_hull = best.e_above_hull_eV_atom
    all_products = _products(pd_all, comp)
    products = all_products if e_hull > ON_HULL_TOL_EV else (Product(formula, "candidate", 1.0),)
    e_form = pd_all.get_form_energy_per_atom(_entry(comp, best.energy_per_atom_eV, "candidate"))
    warn = []
    approx = {r.name for r in refs if r.approximate}
    used_approx = sorted({p.name for p in all_products} & approx)
    if used_approx:
        warn.append(
            f"decomposition involves approximate reference polymorphs ({', '.join(used_approx)}): "
            "their true ground states are lower, so the true hull energy is higher"
        )
    not_conv = [r.name for r in refs if not r.converged] + [
        f"configuration {c.index}" for c in configs if not c.converged
    ]
    if not_conv:
        warn.append(f"relaxations not converged: {', '.join(not_conv)}")
    return HullResult(
        formula=formula,
        chemical_system="-".join(elements),
        e_above_hull_eV_atom=e_hull,
        decomposition_energy_eV_atom=best.decomposition_energy_eV_atom,
        formation_energy_eV_atom=float(e_form),
        stable=e_hull <= ON_HULL_TOL_EV,
        products=tuple(products),
        configurations=tuple(configs),
        references=tuple(refs),
        warnings=tuple(warn),
        provenance=provenance,
    )
