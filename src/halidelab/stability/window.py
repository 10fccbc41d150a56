"""Intrinsic electrochemical window vs Li/Li+ from the MLIP phase diagram.

The method of Zhu, He and Mo (ACS Appl. Mater. Interfaces 7, 23685 (2015)) and Richards
et al. (Chem. Mater. 28, 266 (2016)): the electrolyte is in contact with a Li reservoir at
chemical potential mu_Li = mu_Li(metal) - e V. Walking the line from Li metal to the
Li-free end of the composition (pymatgen ``PhaseDiagram.get_element_profile``), each
critical composition gives a phase equilibrium and the mu_Li at which it forms. With
V = -(mu_Li - mu_Li(metal)) / e (mu_Li(metal) from the same MLIP, bcc Li):

- the reduction limit is the highest V at which the compound takes up Li (below it, it
  is reduced; for a chloride the framework cation goes to metal, or a lower chloride);
- the oxidation limit is the lowest V at which it releases Li (above it, it decomposes
  into Li-poorer phases, ultimately MCl_n and Cl2).

A compound above the hull has no stability range of its own; as in Zhu et al. its
energy is moved down onto the hull (by its e_above_hull plus 0.1 meV/atom) before the
profile is computed, and ``shifted_to_hull`` says so. The voltage profile lists every
step: voltage, Li taken up per formula unit (positive: reduction) and the phases.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition, Element, Structure

from halidelab.errors import StructureError
from halidelab.records import Provenance, Record
from halidelab.stability.hull import HullResult, energy_above_hull, reference_entries

#: shift (eV/atom) below the hull for a metastable compound (so it becomes a vertex)
HULL_SHIFT_EV = 1e-4
_TOL = 1e-6


@dataclasses.dataclass(frozen=True)
class VoltageStep(Record):
    """One step of the Li voltage profile of a composition."""

    voltage_V: float
    li_uptake_per_fu: float
    phases: tuple[str, ...]
    reaction: str


@dataclasses.dataclass(frozen=True)
class WindowResult(Record):
    """Electrochemical stability window vs Li/Li+.

    Attributes
    ----------
    formula : str
    reduction_limit_V, oxidation_limit_V : float
        vs Li/Li+ (V); stable in between.
    reduction_products, oxidation_products : tuple of str
        Phase equilibrium that forms just beyond each limit.
    reduction_reaction, oxidation_reaction : str
        Per formula unit of the compound.
    profile : tuple of VoltageStep
        All steps from Li metal (0 V) up to the Li-free end.
    e_above_hull_eV_atom : float
    shifted_to_hull : bool
        The compound was metastable and moved onto the hull for the window.
    warnings : tuple of str
    provenance : Provenance
    """

    formula: str
    reduction_limit_V: float
    oxidation_limit_V: float
    reduction_products: tuple[str, ...]
    oxidation_products: tuple[str, ...]
    reduction_reaction: str
    oxidation_reaction: str
    profile: tuple[VoltageStep, ...]
    e_above_hull_eV_atom: float
    shifted_to_hull: bool
    warnings: tuple[str, ...]
    provenance: Provenance


def _names(entries: Any) -> tuple[str, ...]:
    return tuple(sorted({e.composition.reduced_formula for e in entries}))


def window_from_phase_diagram(pd: PhaseDiagram, composition: Composition | str) -> dict[str, Any]:
    """Window of a composition: of the phase itself when it is on the hull, else of its
    equilibrium phase assemblage (a composition on a tie line, e.g. LiCl + YCl3).

    Returns
    -------
    dict
        ``reduction_limit_V``, ``oxidation_limit_V``, products, reactions and ``profile``.

    Raises
    ------
    StructureError
        When the composition has no Li, or no range of mu_Li in ``pd``.
    """
    comp = Composition(composition)
    li = Element("Li")
    if comp[li] <= 0:
        raise StructureError(
            f"{comp.reduced_formula} has no Li: the window vs Li/Li+ needs a Li compound"
        )
    if li not in pd.elements:
        raise StructureError("the phase diagram has no Li")
    mu0 = pd.el_refs[li].energy_per_atom
    prof = pd.get_element_profile(li, comp)
    steps = [
        VoltageStep(
            float(-(p["chempot"] - mu0)),
            float(p["evolution"]),
            _names(p["entries"]),
            str(p["reaction"]),
        )
        for p in prof
    ]
    zero = [i for i, p in enumerate(prof) if abs(p["evolution"]) < _TOL]
    if not zero:
        raise StructureError(
            f"{comp.reduced_formula} has no stability range against Li exchange in this "
            "diagram (it lies inside a phase triangle): put it on the hull first "
            "(electrochemical_window does)"
        )
    k = zero[0]
    v_red = steps[k].voltage_V
    red_step = steps[k - 1] if k > 0 else None
    ox_step = steps[k + 1] if k + 1 < len(steps) else None
    return {
        "reduction_limit_V": max(v_red, 0.0),
        "oxidation_limit_V": ox_step.voltage_V if ox_step else float("inf"),
        "reduction_products": red_step.phases if red_step else ("Li (stable against Li metal)",),
        "oxidation_products": ox_step.phases if ox_step else (),
        "reduction_reaction": red_step.reaction if red_step else "none: stable against Li metal",
        "oxidation_reaction": ox_step.reaction if ox_step else "none",
        "profile": tuple(steps),
    }


def electrochemical_window(
    target: str | Path | Structure,
    model: str = "chgnet",
    store: Any = None,
    n_configs: int = 1,
    seed: int = 0,
    include: list[str] | None = None,
    hull: HullResult | None = None,
    **kwargs: Any,
) -> WindowResult:
    """Reduction and oxidation limits vs Li/Li+ of a candidate, from one MLIP.

    Parameters
    ----------
    target : str, Path or Structure
        Formula, structure file or ordered Structure (as :func:`energy_above_hull`).
    model : str
        MLIP name; Li metal, the candidate and all phases use it.
    store : Store, optional
        Cache of the relaxations.
    n_configs, seed, include
        As in :func:`energy_above_hull`.
    hull : HullResult, optional
        A hull result already computed for this target (saves the relaxations).

    Returns
    -------
    WindowResult
    """
    if hull is None:
        hull = energy_above_hull(
            target,
            model=model,
            store=store,
            n_configs=n_configs,
            seed=seed,
            include=include,
            **kwargs,
        )
    refs = list(hull.references)
    best = min(hull.configurations, key=lambda c: c.energy_per_atom_eV)
    comp = Composition(hull.formula)
    e_atom = best.energy_per_atom_eV
    shifted = best.decomposition_energy_eV_atom > -HULL_SHIFT_EV
    if shifted:
        e_atom -= best.decomposition_energy_eV_atom + HULL_SHIFT_EV
    entries = [
        e
        for e in reference_entries(refs)
        if e.composition.reduced_composition != comp.reduced_composition
    ]
    entries.append(
        PDEntry(comp, e_atom * comp.num_atoms, name=comp.reduced_formula, attribute=hull.formula)
    )
    pd = PhaseDiagram(entries)
    w = window_from_phase_diagram(pd, comp)
    warn = list(hull.warnings)
    if shifted and hull.e_above_hull_eV_atom > 0:
        warn.append(
            f"{hull.formula} lies {1000 * hull.e_above_hull_eV_atom:.1f} meV/atom above the hull; "
            "its window is that of the same phase moved onto the hull"
        )
    warn.append(
        "oxidation limit depends one-to-one on the MLIP energy of the Cl2 (or O2) reference"
    )
    return WindowResult(
        formula=hull.formula,
        e_above_hull_eV_atom=hull.e_above_hull_eV_atom,
        shifted_to_hull=shifted,
        warnings=tuple(warn),
        provenance=Provenance(
            method="grand-potential-window (Zhu et al. 2015)",
            model=hull.provenance.model,
            model_version=hull.provenance.model_version,
            parameters={"references": hull.provenance.parameters.get("references", [])},
        ),
        **w,
    )
