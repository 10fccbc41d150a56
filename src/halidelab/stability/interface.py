"""Chemical reactivity of an electrolyte with a cathode (pymatgen ``InterfacialReactivity``).

For a mixture x * cathode + (1 - x) * electrolyte (x the atomic mixing ratio, compositions
normalised per atom) the reaction energy is E_hull(mixture) - [x E_cathode + (1 - x)
E_electrolyte] in eV/atom of mixture, all energies from the same MLIP. The most negative
value over x is the most favourable reaction; its products come from the hull. The
reactants keep their own MLIP energies (``use_hull_energy=False``), so a metastable
reactant's own decomposition energy appears at its end of the curve.

Interface volume change: (sum of product volumes - sum of reactant volumes) / reactant
volume x 100, from the relaxed volume per atom of every phase (a positive value means
the interphase swells, a negative one opens voids).

Partners: LiCoO2 (R-3m, built), NCM811 approximated as one ordering of
LiNi0.8Co0.1Mn0.1O2 in a 10-formula-unit LiCoO2-type cell (magnetic and Jahn-Teller
details are left to the MLIP), and the sulfide separator Li6PS5Cl (the ideal ordered
argyrodite: Cl on 4a, S2- on 4d, Li ordered by Ewald energy; see
:mod:`halidelab.stability.sulfides`), with the Li-P-S, metal-sulfide and element
references of :mod:`halidelab.stability.references`.

The result lists the competing phases considered and the known phases of the joint
chemical system that are not built (:func:`halidelab.stability.references.missing_phases`:
oxychlorides, perchlorates and Nb oxides against oxides; P-S molecular solids, Li4P2S6,
P/S chlorides, metal sulfochlorides and thiophosphates against Li6PS5Cl ...). A missing
phase can only lower the hull, so every reaction energy is a bound: the true reaction
energy is more negative or equal.

Volumes: a molecule in a box has no meaningful volume. O2 and Cl2 known only as
molecules leave the interface as gas and are not counted in the volume change; a solid
known here only as a molecule (P2S5, built as one P4S10 molecule) enters with its
measured volume per formula unit, and the result says so.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

from pymatgen.analysis.interface_reactions import InterfacialReactivity
from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition, Structure

from halidelab.errors import StructureError
from halidelab.records import Provenance, Record
from halidelab.stability.hull import HullResult, energy_above_hull, reference_entries
from halidelab.stability.references import CATHODES, relax_reference


@dataclasses.dataclass(frozen=True)
class ReactionPoint(Record):
    """One kink of the reaction-energy curve."""

    x_cathode: float
    reaction_energy_eV_atom: float
    reaction: str


@dataclasses.dataclass(frozen=True)
class InterfaceResult(Record):
    """Reaction of an electrolyte with a cathode.

    Attributes
    ----------
    electrolyte, cathode : str
    min_reaction_energy_eV_atom : float
        Most negative reaction energy per atom of mixture (0: no reaction).
    x_cathode_at_min : float
        Atomic fraction of the cathode in the mixture at that point.
    reaction : str
        The most favourable reaction (balanced).
    products : tuple of str
    volume_change_percent : float or None
        Interface volume change of that reaction (None when a volume is missing).
    curve : tuple of ReactionPoint
        All kinks over the mixing ratio.
    warnings : tuple of str
    provenance : Provenance
    competing_phases : tuple of str
        Names of the phases on the joint phase diagram (same MLIP), reactants included.
    missing_phases : tuple of str
        Known phases of the joint chemical system that are not built: with them the
        reaction energy could only be more negative (the value here is a bound).
    """

    electrolyte: str
    cathode: str
    min_reaction_energy_eV_atom: float
    x_cathode_at_min: float
    reaction: str
    products: tuple[str, ...]
    volume_change_percent: float | None
    curve: tuple[ReactionPoint, ...]
    warnings: tuple[str, ...]
    provenance: Provenance
    competing_phases: tuple[str, ...] = ()
    missing_phases: tuple[str, ...] = ()


#: gases at room temperature: when known only as a molecule they leave the interface
GASES = ("Cl2", "F2", "H2", "N2", "O2")

#: aliases of the partner phases (lower case)
_ALIASES = {
    "lpscl": "Li6PS5Cl",
    "lpsc": "Li6PS5Cl",
    "argyrodite": "Li6PS5Cl",
    "lco": "LiCoO2",
    "ncm": "NCM811",
    "nmc811": "NCM811",
}

#: what a partner's model leaves out (stated in every result with that partner)
_PARTNER_NOTES = {
    "Li6PS5Cl": "Li6PS5Cl is modelled as the ideal ordered argyrodite (Cl on 4a, S2- on 4d, "
    "one Ewald-ranked Li ordering); the real phase has Cl/S2- site disorder and mobile Li",
}


def cathode_names() -> list[str]:
    """Partner phases (cathodes, sulfide separator) :func:`interface_reaction` can build."""
    return sorted(CATHODES)


def _cathode_spec(name: str) -> Any:
    text = str(name).strip().lower()
    key = {k.lower(): k for k in CATHODES}.get(text) or _ALIASES.get(text)
    if key is None:
        raise StructureError(
            f"unknown cathode {name!r}; choose one of {', '.join(cathode_names())}"
        )
    return CATHODES[key]


def _volumes(entries: list[tuple[PDEntry, float]]) -> dict[str, float]:
    """Lowest-energy volume per atom for each reduced formula."""
    best: dict[str, tuple[float, float]] = {}
    for entry, vol in entries:
        f = entry.composition.reduced_formula
        if f not in best or entry.energy_per_atom < best[f][0]:
            best[f] = (entry.energy_per_atom, vol)
    return {f: v for f, (_e, v) in best.items()}


def reaction_volume_change(
    reaction: Any, volume_per_atom: dict[str, float], gases: tuple[str, ...] = ()
) -> float | None:
    """Volume change (percent) of a pymatgen ``Reaction`` from volumes per atom (A^3).

    Products named in ``gases`` (e.g. ``("O2",)``: released, not part of the solid
    interphase) are left out of the product volume. None when a volume is missing.
    """
    v_r = v_p = 0.0
    for comp in reaction.reactants:
        f = comp.reduced_formula
        if f not in volume_per_atom:
            return None
        v_r += abs(reaction.get_coeff(comp)) * comp.num_atoms * volume_per_atom[f]
    for comp in reaction.products:
        f = comp.reduced_formula
        if f in gases:
            continue
        if f not in volume_per_atom:
            return None
        v_p += abs(reaction.get_coeff(comp)) * comp.num_atoms * volume_per_atom[f]
    if v_r <= 0:
        return None
    return 100.0 * (v_p - v_r) / v_r


def reactivity(
    pd: PhaseDiagram,
    c1: Composition,
    c2: Composition,
    volume_per_atom: dict[str, float] | None = None,
    gases: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Reaction-energy curve of c1 (cathode) with c2 (electrolyte) on a phase diagram.

    Both compositions must be entries of ``pd`` (their own energies are used);
    ``volume_per_atom`` and ``gases`` as in :func:`reaction_volume_change`.
    """
    c1, c2 = Composition(c1), Composition(c2)
    if c1.reduced_composition == c2.reduced_composition:
        # pymatgen's mixing-ratio algebra divides by the composition difference: the
        # reaction of a phase with itself is the phase's own decomposition, at every x
        e = pd.get_decomp_and_e_above_hull(
            PDEntry(c1, _own_energy(pd, c1) * c1.num_atoms), allow_negative=True
        )[1]
        rxn = (
            f"{c1.reduced_formula} -> {c1.reduced_formula}"
            if e <= 0
            else f"{c1.reduced_formula} decomposes"
        )
        val = -max(float(e), 0.0)
        return {
            "min_reaction_energy_eV_atom": val,
            "x_cathode_at_min": 0.5,
            "reaction": rxn,
            "products": (c1.reduced_formula,),
            "volume_change_percent": 0.0 if e <= 0 else None,
            "curve": (ReactionPoint(0.0, val, rxn), ReactionPoint(1.0, val, rxn)),
        }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ir = InterfacialReactivity(c1, c2, pd, norm=True, use_hull_energy=False)
        kinks = list(ir.get_kinks())
    curve = tuple(ReactionPoint(float(k[1]), float(k[2]), str(k[3])) for k in kinks)
    i_min = min(range(len(kinks)), key=lambda i: kinks[i][2])
    rxn = kinks[i_min][3]
    products = tuple(sorted({c.reduced_formula for c in rxn.products}))
    dv = reaction_volume_change(rxn, volume_per_atom or {}, gases)
    return {
        "min_reaction_energy_eV_atom": float(kinks[i_min][2]),
        "x_cathode_at_min": float(kinks[i_min][1]),
        "reaction": str(rxn),
        "products": products,
        "volume_change_percent": dv,
        "curve": curve,
    }


def _own_energy(pd: PhaseDiagram, comp: Composition) -> float:
    red = comp.reduced_composition
    cands = [e.energy_per_atom for e in pd.all_entries if e.composition.reduced_composition == red]
    if not cands:
        raise StructureError(f"{comp.reduced_formula} is not an entry of the phase diagram")
    return min(cands)


def interface_reaction(
    electrolyte: str | Path | Structure,
    cathode: str = "LiCoO2",
    model: str = "chgnet",
    store: Any = None,
    n_configs: int = 1,
    seed: int = 0,
    hull: HullResult | None = None,
    **kwargs: Any,
) -> InterfaceResult:
    """Reaction energy of an electrolyte with a cathode over the mixing ratio.

    Parameters
    ----------
    electrolyte : str, Path or Structure
        Formula, structure file or ordered Structure.
    cathode : str
        The partner phase: ``"LiCoO2"``, ``"NCM811"`` or ``"Li6PS5Cl"`` (see
        :func:`cathode_names`); ``x_cathode`` is its atomic fraction in the mixture.
    model : str
        The one MLIP for all energies.
    store : Store, optional
        Cache of the relaxations.
    hull : HullResult, optional
        The electrolyte's hull result, if already computed (its relaxed energy and
        volume are reused; the references of the joint electrolyte-cathode system are
        relaxed, or read from the cache, here).

    Returns
    -------
    InterfaceResult
    """
    spec = _cathode_spec(cathode)
    if hull is None:
        hull = energy_above_hull(
            electrolyte, model=model, store=store, n_configs=n_configs, seed=seed, **kwargs
        )
    relax_kw = {k: kwargs[k] for k in ("fmax", "steps") if k in kwargs}
    cat = relax_reference(spec, model=model, store=store, **relax_kw)
    from halidelab.stability.references import missing_phases, references_for, relax_references

    els = {e.symbol for e in Composition(hull.formula).elements} | set(spec.elements)
    refs = relax_references(
        references_for(els), model=model, store=store, progress=kwargs.get("progress"), **relax_kw
    )
    best = min(hull.configurations, key=lambda c: c.energy_per_atom_eV)
    c_el = Composition(hull.formula)
    c_cat = Composition(spec.formula)
    # other polymorphs of the electrolyte's composition are left out, so that the
    # electrolyte reacts with its own (modelled) energy, not a lower polymorph's
    entries = [
        (e, r.volume_per_atom_A3)
        for e, r in zip(reference_entries(refs), refs, strict=True)
        if e.composition.reduced_composition != c_el.reduced_composition
    ]
    entries.append(
        (
            PDEntry(
                c_el,
                best.energy_per_atom_eV * c_el.num_atoms,
                name=c_el.reduced_formula,
                attribute=hull.formula,
            ),
            best.volume_per_atom_A3,
        )
    )
    if not any(e.composition.reduced_composition == c_cat.reduced_composition for e, _ in entries):
        entries.append(
            (
                PDEntry(
                    c_cat,
                    cat.energy_per_atom_eV * c_cat.num_atoms,
                    name=c_cat.reduced_formula,
                    attribute=spec.name,
                ),
                cat.volume_per_atom_A3,
            )
        )
    pd = PhaseDiagram([e for e, _ in entries])
    # a molecule in a box has no meaningful volume: a gas (O2; Cl2 when only the molecule
    # is known) leaves the interface and is not counted; a solid known only as a molecule
    # (P2S5) enters with its measured volume
    molecular = {r.formula for r in refs if "molecule" in r.name} - {
        r.formula for r in refs if "molecule" not in r.name
    }
    gases = tuple(sorted(f for f in molecular if f in GASES))
    # volumes from condensed phases only (solid Cl2, alpha-S8: not the molecule in a box,
    # even where the molecule is lower in energy)
    volumes = _volumes(
        [
            (e, v)
            for e, v in entries
            if e.composition.reduced_formula not in molecular and "molecule" not in str(e.attribute)
        ]
    )
    measured_volume = {}
    for r in refs:
        if r.formula in molecular and r.formula not in gases and r.measured_volume_A3_per_fu:
            measured_volume[r.formula] = (
                r.measured_volume_A3_per_fu / Composition(r.formula).num_atoms
            )
    volumes.update(measured_volume)
    out = reactivity(pd, c_cat, c_el, volumes, gases)
    warn = list(hull.warnings)
    note = _PARTNER_NOTES.get(c_cat.reduced_formula)
    if note:
        warn.append(note)
    approx = sorted({r.name for r in refs if r.approximate and r.formula in out["products"]})
    if approx:
        warn.append(f"products include approximate reference polymorphs: {', '.join(approx)}")
    if spec.approximate:
        warn.append(f"cathode model is approximate: {spec.source}")
    released = sorted(set(out["products"]) & set(gases))
    if released:
        warn.append(f"{', '.join(released)} released as gas: not counted in the volume change")
    measured = sorted(set(out["products"]) & set(measured_volume))
    if measured and out["volume_change_percent"] is not None:
        warn.append(
            f"volume of {', '.join(measured)} from the measured density (built as a molecule)"
        )
    missing = tuple(missing_phases(els))
    if missing:
        warn.append(
            f"not among the references: {'; '.join(missing)}. The reaction energy is therefore a "
            "bound: the true reaction can only be more negative or equal"
        )
    considered = tuple(r.name for r in refs if r.formula != c_el.reduced_formula) + (
        f"{hull.formula} (electrolyte)",
    )
    if not any(r.formula == c_cat.reduced_formula for r in refs):
        considered += (spec.name,)
    return InterfaceResult(
        electrolyte=hull.formula,
        cathode=spec.formula,
        warnings=tuple(warn),
        provenance=Provenance(
            method="interfacial-reactivity (pymatgen)",
            model=hull.provenance.model,
            model_version=hull.provenance.model_version,
            parameters={
                "use_hull_energy": False,
                "norm": True,
                "references": [r.name for r in refs],
            },
        ),
        competing_phases=considered,
        missing_phases=missing,
        **out,
    )
