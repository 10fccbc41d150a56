"""From a substitution idea to charge-balanced compositions with a rules verdict.

``design("Li2ZrCl6", dopant="Nb", site="Zr", x=[0, 0.1, 0.2])`` composes
:mod:`halidelab.composition` (charge balance, Li vacancies) and :mod:`halidelab.rules`
(radius ratio, packing, mismatch, known polymorphs) into one :class:`DesignReport`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from pymatgen.core import Composition

from halidelab.composition import (
    DesignedComposition,
    Substitution,
    design_composition,
    parse_amount,
    parse_formula,
    parse_substitution,
    parse_x_values,
)
from halidelab.errors import CompositionError
from halidelab.records import Provenance, Record
from halidelab.rules import (
    FitAssessment,
    Polymorph,
    assess,
    known_polymorphs,
    series_warnings,
)


@dataclasses.dataclass(frozen=True)
class DesignEntry(Record):
    """One composition of a design with its rules verdict."""

    composition: DesignedComposition
    fit: FitAssessment


@dataclasses.dataclass(frozen=True)
class DesignReport(Record):
    """A parent, its known polymorphs and every designed composition.

    Attributes
    ----------
    parent : str
    parent_fit : FitAssessment
        t and predicted packing of the undoped parent.
    polymorphs : tuple of Polymorph
        Known phases of the parent; the first is the one halidelab models by default.
    entries : tuple of DesignEntry
        One per composition, in the order requested.
    warnings : tuple of str
        Series-level warnings (structure change) and every composition's warnings.
    notes : tuple of str
        What the rules and the known polymorphs say together.
    """

    parent: str
    parent_fit: FitAssessment
    polymorphs: tuple[Polymorph, ...]
    entries: tuple[DesignEntry, ...]
    warnings: tuple[str, ...]
    notes: tuple[str, ...]
    provenance: Provenance = dataclasses.field(
        default_factory=lambda: Provenance(method="design: charge balance + Shannon rules")
    )


def _xs(x: float | str | Sequence[float] | None) -> list[float]:
    if x is None:
        raise CompositionError(
            "no dopant content x given: use e.g. --x 0.2 or --x 0,0.1,0.2 "
            "(x=0.2 or x=[0, 0.1, 0.2] in Python)"
        )
    if isinstance(x, str):
        return parse_x_values(x)
    if isinstance(x, int | float):
        return [parse_amount(x)]
    return [parse_amount(v) for v in x]


def _dopant_mix(dopants: str | Mapping[str, float], site: str | None) -> list[Substitution]:
    if isinstance(dopants, str):
        subs = [parse_substitution(tok, site=site) for tok in dopants.split(",") if tok.strip()]
    else:
        if site is None:
            raise CompositionError(
                "a dopant mix needs the site it goes on: give --site In (site='In' in Python)"
            )
        subs = [Substitution(d, site, parse_amount(v)) for d, v in dopants.items()]
    if not subs:
        raise CompositionError("empty dopant list: give e.g. 'Y:0.16,Zr:0.25'")
    return subs


def design(
    parent: str | Composition,
    dopant: str | None = None,
    site: str | None = None,
    x: float | str | Sequence[float] | None = None,
    *,
    dopants: str | Mapping[str, float] | None = None,
    substitutions: Sequence[Substitution] | None = None,
    oxidation_state: int | None = None,
    oxidation_states: Mapping[str, int] | None = None,
) -> DesignReport:
    """Design charge-balanced compositions and judge their fit.

    Give exactly one of:

    - ``dopant``, ``site`` and ``x`` (a number, a list, or a spec such as
      ``"0.1..0.5:0.1"``): a series of one dopant on one site;
    - ``dopants`` (``"Y:0.16,Er:0.16,Zr:0.25"`` or a mapping) and ``site``: one
      multi-dopant (e.g. high-entropy) composition;
    - ``substitutions``: one composition with any substitutions on any sites
      (e.g. Zr on Y plus F on Cl).

    Parameters
    ----------
    parent : str or Composition
        Neutral parent formula.
    oxidation_state : int, optional
        Valence of ``dopant`` (default: its usual valence in halides).
    oxidation_states : mapping, optional
        Parent valences to impose.

    Returns
    -------
    DesignReport

    Raises
    ------
    CompositionError
        On any impossible or malformed request.
    """
    parse_formula(parent)
    given = sum(v is not None for v in (dopant, dopants, substitutions))
    if given > 1:
        raise CompositionError(
            "give one of --dopant, --dopants or --sub, not several (dopant=, "
            "dopants=, substitutions= in Python)"
        )
    if dopant is not None:
        if site is None:
            raise CompositionError(
                f"no site given for {dopant}: say which element it replaces with "
                "--site, e.g. --site Zr (site='Zr' in Python)"
            )
        sub = parse_substitution(dopant, site=site, x=0.0)
        if oxidation_state is not None:
            sub = dataclasses.replace(sub, oxidation_state=int(oxidation_state))
        series = [[sub.with_x(v)] for v in _xs(x)]
    elif dopants is not None:
        series = [_dopant_mix(dopants, site)]
    elif substitutions is not None:
        series = [list(substitutions)]
    else:
        series = [[]]
    comps = [design_composition(parent, subs, oxidation_states) for subs in series]
    fits = [assess(c) for c in comps]
    parent_design = design_composition(parent, [], oxidation_states)
    parent_fit = assess(parent_design)
    polymorphs = known_polymorphs(parent)

    warnings = series_warnings(
        [parent_fit, *fits] if fits[0].formula != parent_fit.formula else fits
    )
    for f in fits:
        warnings.extend(w for w in f.warnings if w not in warnings)
    notes = [
        f"t = {parent_fit.t:.3f} for {parent_fit.formula} predicts {parent_fit.packing.packing} "
        f"anion packing ({parent_fit.packing.family})"
    ]
    for p in polymorphs:
        agree = (
            "as t predicts" if p.packing == parent_fit.packing.packing else "unlike t's prediction"
        )
        notes.append(
            f"known {p.crystal_system} {p.space_group} ({p.packing}, {agree}): {p.stability}, "
            f"made by {p.synthesis} [{p.source}]"
        )
    if not polymorphs:
        notes.append(f"no known polymorphs recorded for {parent_fit.formula}: the model follows t")
    return DesignReport(
        parent=parent_design.formula,
        parent_fit=parent_fit,
        polymorphs=polymorphs,
        entries=tuple(DesignEntry(c, f) for c, f in zip(comps, fits, strict=True)),
        warnings=tuple(warnings),
        notes=tuple(notes),
        provenance=Provenance(
            method="design: charge balance + Shannon rules",
            parameters={
                "parent": parent_design.formula,
                "substitutions": [[s.to_dict() for s in subs] for subs in series],
            },
        ),
    )
