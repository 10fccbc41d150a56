"""Fit rules for halide frameworks: Shannon radii, radius ratio, packing, mismatch.

Radius ratio t = r(M) / r(X) with Shannon *crystal* radii at CN 6 (pymatgen
``get_shannon_radius("VI", radius_type="crystal")``; Cl- 1.67 A) predicts the anion
packing of Li_a M X_b (EES Batteries 2025 review of substitution in halide SSEs):

==================  ==========================================================
t < 0.414           M too small for an octahedron: tetrahedral M (LiAlCl4 type)
0.414 <= t < 0.599  cubic close packing (ccp, ABC): monoclinic C2/m (Li3InCl6,
                    Li3ScCl6, Li3YBr6) or spinel Fd-3m (Li2MgCl4)
0.599 <= t <= 0.637 hexagonal close packing (hcp, AB): trigonal P-3m1 (Li3YCl6,
                    Li3ErCl6) or, at the small end, orthorhombic Pnma (Li3YbCl6,
                    Li3LuCl6)
t > 0.637           large M (La-Sm): non-close-packed UCl3 type, P6_3/m
==================  ==========================================================

These ranges hold with crystal radii and not with ionic radii (Cl- 1.81 A). Dopant-host
mismatch, in contrast, is quoted with *ionic* radii, as papers do (Nb5+ 0.64 vs Zr4+
0.72 A: 11%). The rule gives the equilibrium packing, not every phase a lab makes:
:data:`KNOWN_POLYMORPHS` says which phases are known and how they are made.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

from pymatgen.core import Composition, Species

from halidelab.composition import (
    ANION_VALENCE,
    DesignedComposition,
    assign_oxidation_states,
    check_element,
    parse_formula,
)
from halidelab.errors import CompositionError
from halidelab.records import Provenance, Record

#: Lower limit of octahedral coordination (sqrt(2) - 1).
T_OCTAHEDRAL_MIN = 0.414
#: ccp / hcp boundary (Lu3+ in Cl-, the smallest hcp case).
T_HCP_MIN = 0.599
#: Within hcp: below this orthorhombic Pnma (Yb, Lu), above trigonal P-3m1 (Er, Y).
T_TRIGONAL_MIN = 0.610
#: hcp / UCl3-type boundary.
T_HCP_MAX = 0.637
#: Dopant-host ionic-radius mismatch above which a warning is raised, in percent.
MISMATCH_WARN_PERCENT = 15.0

_CN_ORDER = ["VI", "VII", "V", "VIII", "IV", "IVSQ", "IX", "III", "XII", "II"]


def shannon_radius(
    element: str,
    oxidation_state: int,
    cn: str = "VI",
    radius_type: Literal["ionic", "crystal"] = "ionic",
) -> float:
    """Shannon radius in angstrom (R. D. Shannon, Acta Cryst. A32, 751 (1976)).

    Parameters
    ----------
    element : str
        Element symbol.
    oxidation_state : int
        Valence, e.g. 5 for Nb5+.
    cn : str
        Coordination number as a Roman numeral ("VI" for octahedral).
    radius_type : {"ionic", "crystal"}
        Ionic radii (Cl- 1.81 A) or crystal radii (Cl- 1.67 A).

    Raises
    ------
    CompositionError
        When Shannon's table has no radius for that ion and coordination.
    """
    return _radius(element, oxidation_state, cn, radius_type, fallback=False)[0]


def _radius(
    element: str, q: int, cn: str, radius_type: str, fallback: bool = True
) -> tuple[float, str]:
    element = check_element(element)
    try:
        sp = Species(element, q)
    except ValueError as exc:
        raise CompositionError(f"no ion {element}{q:+d}: {exc}") from None
    try:
        return float(sp.get_shannon_radius(cn, radius_type=radius_type)), cn
    except (KeyError, ValueError):
        pass
    if fallback:
        for other in _CN_ORDER:
            try:
                return float(sp.get_shannon_radius(other, radius_type=radius_type)), other
            except (KeyError, ValueError):
                continue
    raise CompositionError(
        f"Shannon's table has no CN {cn} radius for {element}{abs(q)}{'+' if q > 0 else '-'}"
    )


@dataclasses.dataclass(frozen=True)
class PackingPrediction(Record):
    """Anion packing and structure family predicted from t = r(M)/r(X).

    Attributes
    ----------
    t : float
        Radius ratio (crystal radii, CN 6).
    packing : str
        ``"tetrahedral"``, ``"ccp"``, ``"hcp"`` or ``"non-close-packed"``.
    family : str
        Most likely space-group family, e.g. ``"trigonal P-3m1"``.
    alternatives : tuple of str
        Other families of the same packing.
    examples : tuple of str
        Known compounds of that family.
    """

    t: float
    packing: str
    family: str
    alternatives: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()


def predict_packing(t: float, anions_per_m: float | None = None) -> PackingPrediction:
    """Predicted anion packing and space-group family for a radius ratio ``t``.

    Parameters
    ----------
    t : float
        r(M)/r(X) with crystal radii at CN 6.
    anions_per_m : float, optional
        X per M (6 for Li3MX6, 4 for Li2MX4): ccp with 4 anions per M is spinel-like.
    """
    if not t > 0:
        raise CompositionError(f"radius ratio must be positive, got {t}")
    if t < T_OCTAHEDRAL_MIN:
        return PackingPrediction(
            t, "tetrahedral", "tetrahedral M (e.g. monoclinic P2_1/c)", (), ("LiAlCl4", "LiGaCl4")
        )
    if t < T_HCP_MIN:
        if anions_per_m is not None and abs(anions_per_m - 4) < 0.5:
            return PackingPrediction(
                t, "ccp", "spinel Fd-3m", ("monoclinic C2/m",), ("Li2MgCl4", "Li2Sc2/3Cl4")
            )
        return PackingPrediction(
            t, "ccp", "monoclinic C2/m", ("spinel Fd-3m",), ("Li3InCl6", "Li3ScCl6", "Li3YBr6")
        )
    if t <= T_HCP_MAX:
        if t < T_TRIGONAL_MIN:
            return PackingPrediction(
                t, "hcp", "orthorhombic Pnma", ("trigonal P-3m1",), ("Li3YbCl6", "Li3LuCl6")
            )
        return PackingPrediction(
            t, "hcp", "trigonal P-3m1", ("orthorhombic Pnma",), ("Li3YCl6", "Li3ErCl6")
        )
    return PackingPrediction(
        t, "non-close-packed", "hexagonal UCl3 type P6_3/m", (), ("LiLaCl4-type La-Sm chlorides",)
    )


def _as_amounts_and_valences(
    composition: str | Composition | DesignedComposition | Mapping[str, float],
    oxidation_states: Mapping[str, int] | None = None,
) -> tuple[dict[str, float], dict[str, int]]:
    if isinstance(composition, DesignedComposition):
        return dict(composition.amounts), dict(composition.oxidation_states)
    if isinstance(composition, Composition) and any(
        getattr(sp, "oxi_state", None) for sp in composition
    ):
        amounts: dict[str, float] = {}
        valences: dict[str, int] = {}
        for sp, n in composition.items():
            el = sp.symbol
            amounts[el] = amounts.get(el, 0.0) + float(n)
            valences[el] = int(round(sp.oxi_state))
        return amounts, valences
    amounts = (
        {str(k): float(v) for k, v in composition.items()}
        if isinstance(composition, Mapping | Composition)
        else parse_formula(composition)
    )
    return amounts, assign_oxidation_states(amounts, oxidation_states)


def mean_radii(
    composition: str | Composition | DesignedComposition | Mapping[str, float],
    radius_type: Literal["ionic", "crystal"] = "crystal",
    oxidation_states: Mapping[str, int] | None = None,
) -> tuple[float, float]:
    """Composition-weighted mean CN-6 radius of the M cations and of the anions, in A.

    M are all cations except Li. Where Shannon's table has no CN 6 radius the nearest
    tabulated coordination is used.
    """
    amounts, valences = _as_amounts_and_valences(composition, oxidation_states)
    rm = rx = nm = nx = 0.0
    for el, n in amounts.items():
        if n <= 0:
            continue
        q = valences[el]
        r, _ = _radius(el, q, "VI", radius_type)
        if q < 0:
            rx, nx = rx + n * r, nx + n
        elif el != "Li":
            rm, nm = rm + n * r, nm + n
    if nm == 0:
        raise CompositionError("no framework cation M besides Li: the radius ratio t is undefined")
    if nx == 0:
        raise CompositionError("no anion: the radius ratio t is undefined")
    return rm / nm, rx / nx


def radius_ratio(
    composition: str | Composition | DesignedComposition | Mapping[str, float],
    oxidation_states: Mapping[str, int] | None = None,
) -> float:
    """t = r(M)/r(X) with composition-weighted Shannon crystal radii at CN 6.

    >>> round(radius_ratio("Li3YCl6"), 3)
    0.623
    """
    rm, rx = mean_radii(composition, "crystal", oxidation_states)
    return rm / rx


def mismatch_percent(host: str, host_q: int, dopant: str, dopant_q: int) -> float:
    """Signed ionic-radius mismatch 100 (r_dopant - r_host) / r_host at CN 6, in percent.

    Nb5+ for Zr4+: (0.64 - 0.72)/0.72 = -11.1 %.
    """
    rh, _ = _radius(host, host_q, "VI", "ionic")
    rd, _ = _radius(dopant, dopant_q, "VI", "ionic")
    return 100.0 * (rd - rh) / rh


#: Largest |ionic-radius mismatch| among the measured substituted halides of the shipped
#: literature table, percent (Ga3+ for Mn2+ in the spinel Li1.9Mn0.9Ga0.1Cl4, -31.1%; Zr4+
#: for Y3+ in Li2.5Y0.5Zr0.5Cl6, -20.0%; In3+ for Mn2+ and Nb5+ for Zr4+, -11.1%).
#: Substitutions this far apart have been made and measured, so the screening ranking
#: charges nothing for a mismatch up to here and the rules tier prunes none by default.
#: :func:`measured_mismatch_range` recomputes it from the table (a test keeps them equal).
MEASURED_MISMATCH_PERCENT = 31.12


def measured_mismatch_range(table: Any = None) -> tuple[float, list[dict[str, Any]]]:
    """The largest |mismatch| among measured substituted halides, and the entries.

    A composition counts as substituted when it has two or more framework cations (not
    Li) on one anion; the host is the most abundant one, and with a tie the mismatch is
    taken relative to the larger ion (the smaller |mismatch|, conservative).

    Parameters
    ----------
    table : DataFrame, optional
        A literature table (default :func:`halidelab.literature.load_literature`).

    Returns
    -------
    (float, list of dict)
        Percent, and per entry ``composition``, ``host``, ``dopant``, ``mismatch_percent``
        and ``doi``.
    """
    import warnings

    from pymatgen.core import Composition

    from halidelab.composition import default_valence

    if table is None:
        from halidelab.literature import load_literature

        table = load_literature()
    entries = []
    for _, row in table.iterrows():
        comp = Composition(str(row["composition"]))
        amounts = {el.symbol: float(v) for el, v in comp.items()}
        anions = [el for el in amounts if el in ANION_VALENCE]
        cations = {el: v for el, v in amounts.items() if el != "Li" and el not in ANION_VALENCE}
        if len(cations) < 2 or len(anions) != 1:
            continue
        top = max(cations.values())
        hosts = [el for el, v in cations.items() if abs(v - top) < 1e-9]
        best = None
        for host in hosts:
            for dop in cations:
                if dop == host:
                    continue
                try:
                    with warnings.catch_warnings():  # pymatgen's spin-state notes
                        warnings.simplefilter("ignore")
                        m = mismatch_percent(host, default_valence(host), dop, default_valence(dop))
                except Exception:  # noqa: BLE001 - an ion without a CN-6 radius is skipped
                    continue
                cand = {
                    "composition": str(row["composition"]),
                    "host": host,
                    "dopant": dop,
                    "mismatch_percent": m,
                    "doi": str(row.get("doi", "")),
                }
                # several dopants: the worst one counts; a tie of hosts: the smaller value
                if (
                    best is None
                    or (len(hosts) == 1 and abs(m) > abs(best["mismatch_percent"]))
                    or (len(hosts) > 1 and abs(m) < abs(best["mismatch_percent"]))
                ):
                    best = cand
        if best is not None:
            entries.append(best)
    top_m = max((abs(e["mismatch_percent"]) for e in entries), default=0.0)
    return top_m, entries


@dataclasses.dataclass(frozen=True)
class DopantFit(Record):
    """How one dopant fits its host site (ionic radii, CN 6).

    Attributes
    ----------
    dopant, host : str
        Ions, e.g. ``"Nb5+"`` and ``"Zr4+"``.
    r_dopant_A, r_host_A : float
        Ionic radii in angstrom (the CN used is given when it is not VI).
    mismatch_percent : float
        100 (r_dopant - r_host)/r_host.
    note : str
        Coordination fall-backs, if any.
    """

    dopant: str
    host: str
    r_dopant_A: float
    r_host_A: float
    mismatch_percent: float
    note: str = ""


def dopant_fit(design: DesignedComposition) -> list[DopantFit]:
    """Ionic-radius mismatch of each substitution of a designed composition."""
    out = []
    for sub in design.substitutions:
        hq = design.oxidation_states[sub.site]
        dq = design.oxidation_states[sub.dopant]
        rh, cnh = _radius(sub.site, hq, "VI", "ionic")
        rd, cnd = _radius(sub.dopant, dq, "VI", "ionic")
        notes = [
            f"{el} radius at CN {cn}"
            for el, cn in ((sub.site, cnh), (sub.dopant, cnd))
            if cn != "VI"
        ]
        out.append(
            DopantFit(
                dopant=_ion(sub.dopant, dq),
                host=_ion(sub.site, hq),
                r_dopant_A=rd,
                r_host_A=rh,
                mismatch_percent=100.0 * (rd - rh) / rh,
                note="; ".join(notes),
            )
        )
    return out


def _ion(el: str, q: int) -> str:
    return f"{el}{abs(q) if abs(q) != 1 else ''}{'+' if q > 0 else '-'}"


@dataclasses.dataclass(frozen=True)
class Polymorph(Record):
    """A known phase of a parent compound and how it is made.

    Attributes
    ----------
    space_group : str
        Hermann-Mauguin symbol.
    crystal_system : str
    packing : str
        Anion packing (hcp, ccp).
    synthesis : str
        How this phase is obtained.
    stability : str
        ``"equilibrium"`` or ``"metastable"``.
    source : str
        Where the statement comes from.
    """

    space_group: str
    crystal_system: str
    packing: str
    synthesis: str
    stability: str
    source: str


_CHEN = "Chen et al., ChemComm 2025 (Nb-substituted Li2ZrCl6)"
_REVIEW = "EES Batteries 2025 review of chemical substitution in halide SSEs"

#: Known polymorphs of common parents; the first entry is the phase halidelab models by
#: default (the phase of the reference studies).
KNOWN_POLYMORPHS: dict[str, tuple[Polymorph, ...]] = {
    "Li2ZrCl6": (
        Polymorph(
            "P-3m1",
            "trigonal",
            "hcp",
            "ball milling (mechanochemical, room temperature)",
            "metastable",
            _CHEN,
        ),
        Polymorph(
            "C2/m",
            "monoclinic",
            "ccp",
            "annealing / high-temperature solid-state synthesis",
            "equilibrium",
            _REVIEW,
        ),
    ),
    "Li3YCl6": (
        Polymorph(
            "P-3m1",
            "trigonal",
            "hcp",
            "ball milling, or solid-state synthesis",
            "equilibrium",
            _REVIEW,
        ),
    ),
    "Li3ErCl6": (
        Polymorph(
            "P-3m1",
            "trigonal",
            "hcp",
            "ball milling, or solid-state synthesis",
            "equilibrium",
            _REVIEW,
        ),
    ),
    "Li3YbCl6": (
        Polymorph("Pnma", "orthorhombic", "hcp", "solid-state synthesis", "equilibrium", _REVIEW),
    ),
    "Li3LuCl6": (
        Polymorph("Pnma", "orthorhombic", "hcp", "solid-state synthesis", "equilibrium", _REVIEW),
    ),
    "Li3InCl6": (
        Polymorph(
            "C2/m",
            "monoclinic",
            "ccp",
            "solid-state or water-mediated synthesis",
            "equilibrium",
            _REVIEW,
        ),
    ),
    "Li3ScCl6": (
        Polymorph("C2/m", "monoclinic", "ccp", "solid-state synthesis", "equilibrium", _REVIEW),
    ),
    "Li3YBr6": (
        Polymorph("C2/m", "monoclinic", "ccp", "solid-state synthesis", "equilibrium", _REVIEW),
    ),
    "Li2MgCl4": (
        Polymorph("Fd-3m", "cubic", "ccp", "solid-state synthesis", "equilibrium", _REVIEW),
    ),
}


def known_polymorphs(formula: str | Composition) -> tuple[Polymorph, ...]:
    """Known phases of a parent (empty when halidelab has no record of it)."""
    amounts = parse_formula(formula)
    reduced = Composition(amounts).reduced_formula
    for key, value in KNOWN_POLYMORPHS.items():
        if Composition(key).reduced_formula == reduced:
            return value
    return ()


@dataclasses.dataclass(frozen=True)
class FitAssessment(Record):
    """Rules verdict for one composition.

    Attributes
    ----------
    formula : str
    t : float
        Radius ratio r(M)/r(X) (crystal radii, CN 6).
    r_m_crystal_A, r_x_crystal_A : float
        Composition-weighted mean crystal radii in angstrom.
    packing : PackingPrediction
    dopants : tuple of DopantFit
    warnings : tuple of str
    """

    formula: str
    t: float
    r_m_crystal_A: float
    r_x_crystal_A: float
    packing: PackingPrediction
    dopants: tuple[DopantFit, ...]
    warnings: tuple[str, ...]
    provenance: Provenance = dataclasses.field(
        default_factory=lambda: Provenance(method="Shannon radius rules (CN VI)")
    )


def assess(design: DesignedComposition) -> FitAssessment:
    """Radius ratio, predicted packing and dopant mismatch of one composition."""
    rm, rx = mean_radii(design, "crystal")
    n_m = sum(design.framework_cations.values())
    n_x = sum(design.anions.values())
    packing = predict_packing(rm / rx, n_x / n_m if n_m else None)
    fits = tuple(dopant_fit(design))
    warnings = list(design.warnings)
    for f in fits:
        if abs(f.mismatch_percent) > MISMATCH_WARN_PERCENT:
            warnings.append(
                f"{f.dopant} ({f.r_dopant_A:.3f} A) differs from {f.host} ({f.r_host_A:.3f} A) by "
                f"{f.mismatch_percent:+.1f}%: beyond {MISMATCH_WARN_PERCENT:.0f}%, expect limited "
                "solubility or a structure change"
            )
    return FitAssessment(
        formula=design.formula,
        t=rm / rx,
        r_m_crystal_A=rm,
        r_x_crystal_A=rx,
        packing=packing,
        dopants=fits,
        warnings=tuple(warnings),
    )


def series_warnings(assessments: list[FitAssessment]) -> list[str]:
    """Warnings about a whole series, e.g. a predicted change of structure type.

    The first member (lowest x) is the reference; any member whose predicted packing or
    family differs from it is named.
    """
    if len(assessments) < 2:
        return []
    ref = assessments[0]
    out = []
    for a in assessments[1:]:
        if a.packing.packing != ref.packing.packing:
            out.append(
                f"structure change predicted along the series: {ref.formula} t={ref.t:.3f} "
                f"({ref.packing.packing}, {ref.packing.family}) -> {a.formula} t={a.t:.3f} "
                f"({a.packing.packing}, {a.packing.family})"
            )
            break
        if a.packing.family != ref.packing.family:
            out.append(
                f"structure-type change possible along the series: {ref.formula} "
                f"({ref.packing.family}) -> {a.formula} ({a.packing.family}), "
                f"t={ref.t:.3f}->{a.t:.3f}"
            )
            break
    return out
