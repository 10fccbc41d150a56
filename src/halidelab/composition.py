"""Substitutions and charge balance for Li-M-X halide electrolytes.

A parent such as Li2ZrCl6 is split into three roles: the Li+ carriers, the framework
cations M (Zr4+) and the anions X (Cl-). A substitution puts ``x`` dopant atoms per
formula unit on the sites of one host element (``x`` is the formula subscript, as
chemists write Li(2-x)Zr(1-x)Nb(x)Cl6). Electroneutrality is kept by changing the Li
content, which is how the halide literature compensates aliovalent doping:

    Li_new = Li_parent - sum_i x_i (q_dopant,i - q_host,i)

so Nb5+ on Zr4+ removes one Li+ per Nb (Li vacancies), In3+ on Zr4+ adds one Li+
(interstitial Li) and O2- on Cl- adds one Li+ per O.

Octahedral-site bookkeeping follows the close-packed picture of Li3MX6 (one octahedral
and two tetrahedral interstices per anion; Li and M both octahedral), so Li3YCl6 has
Li : M : vacancy = 3 : 1 : 2 over its six octahedral sites.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pymatgen.core import Composition, Element

from halidelab.constants import A3_TO_CM3
from halidelab.errors import CompositionError
from halidelab.records import Provenance, Record

#: Anions and their valence in halide electrolytes.
ANION_VALENCE: dict[str, int] = {
    "F": -1,
    "Cl": -1,
    "Br": -1,
    "I": -1,
    "O": -2,
    "S": -2,
    "Se": -2,
    "N": -3,
}

#: Default cation valence in chloride/bromide/iodide frameworks, where pymatgen's
#: "common" list is not what a halide chemist means (Mn7+, Sb3-, Sn4- ...). Elements
#: not listed fall back to the highest common positive state in pymatgen.
HALIDE_VALENCE: dict[str, int] = {
    "Li": 1,
    "Na": 1,
    "K": 1,
    "Ag": 1,
    "Cu": 2,
    "Mg": 2,
    "Ca": 2,
    "Sr": 2,
    "Ba": 2,
    "Mn": 2,
    "Fe": 3,
    "Co": 2,
    "Ni": 2,
    "Zn": 2,
    "Cd": 2,
    "Pb": 2,
    "Eu": 3,
    "Al": 3,
    "Ga": 3,
    "In": 3,
    "Tl": 3,
    "Sc": 3,
    "Y": 3,
    "La": 3,
    "Ce": 3,
    "Pr": 3,
    "Nd": 3,
    "Sm": 3,
    "Gd": 3,
    "Tb": 3,
    "Dy": 3,
    "Ho": 3,
    "Er": 3,
    "Tm": 3,
    "Yb": 3,
    "Lu": 3,
    "Bi": 3,
    "Cr": 3,
    "V": 3,
    "Ti": 4,
    "Zr": 4,
    "Hf": 4,
    "Sn": 4,
    "Ge": 4,
    "Si": 4,
    "Nb": 5,
    "Ta": 5,
    "Sb": 5,
    "Mo": 5,
    "W": 6,
    "B": 3,
}

#: Other valences seen in halide frameworks (Li2CrCl4 and Li2VCl4 spinels hold M2+).
HALIDE_ALTERNATES: dict[str, tuple[int, ...]] = {
    "Cr": (2,),
    "V": (2, 4),
    "Fe": (2,),
    "Ti": (3,),
    "Eu": (2,),
    "Yb": (2,),
    "Sm": (2,),
    "Mo": (3, 4, 6),
    "W": (4, 5),
    "Nb": (3, 4),
    "Ta": (4,),
    "Cu": (1,),
    "Tl": (1,),
    "Sn": (2,),
}

_TOL = 1e-6
#: Largest |charge| per formula unit accepted for a parent formula (rounded formulas).
PARENT_CHARGE_TOL = 0.02


@dataclasses.dataclass(frozen=True)
class Substitution(Record):
    """``x`` atoms of ``dopant`` per formula unit on the sites of ``site``.

    Attributes
    ----------
    dopant : str
        Element symbol of the dopant, e.g. ``"Nb"``.
    site : str
        Element symbol of the host whose sites the dopant takes, e.g. ``"Zr"``.
    x : float
        Dopant atoms per formula unit (the formula subscript).
    oxidation_state : int or None
        Dopant valence; ``None`` takes the usual valence in halides (Nb5+, In3+, O2-).
    """

    dopant: str
    site: str
    x: float
    oxidation_state: int | None = None

    def with_x(self, x: float) -> Substitution:
        """The same substitution at another content."""
        return dataclasses.replace(self, x=x)


@dataclasses.dataclass(frozen=True)
class DesignedComposition(Record):
    """A charge-balanced composition and its Li/vacancy bookkeeping, per formula unit.

    Attributes
    ----------
    parent : str
        Parent formula, e.g. ``"Li2ZrCl6"``.
    substitutions : tuple of Substitution
        The substitutions applied (valence resolved).
    formula : str
        The doped formula, e.g. ``"Li1.8Zr0.8Nb0.2Cl6"``.
    amounts : dict
        Atoms per formula unit for each element, in formula order.
    oxidation_states : dict
        Valence of each element.
    li_parent_per_fu, li_per_fu : float
        Li per formula unit in the parent and after compensation.
    li_vacancies_per_fu : float
        Li removed relative to the parent (vacancies created), >= 0.
    li_interstitials_per_fu : float
        Li added relative to the parent (interstitial Li), >= 0.
    octahedral_sites_per_fu : float
        Octahedral interstices of the close-packed anion sublattice (= anions per f.u.).
    li_site_fraction, m_site_fraction, vacancy_site_fraction : float
        Fractions of the octahedral sites holding Li, framework M, or nothing.
    net_charge : float
        Sum of valence x amount (0 for a valid design), in e per formula unit.
    warnings : tuple of str
        Chemistry a user should look at (unusual valence, Li beyond octahedral sites).
    provenance : Provenance
    """

    parent: str
    substitutions: tuple[Substitution, ...]
    formula: str
    amounts: dict[str, float]
    oxidation_states: dict[str, int]
    li_parent_per_fu: float
    li_per_fu: float
    li_vacancies_per_fu: float
    li_interstitials_per_fu: float
    octahedral_sites_per_fu: float
    li_site_fraction: float
    m_site_fraction: float
    vacancy_site_fraction: float
    net_charge: float
    warnings: tuple[str, ...] = ()
    provenance: Provenance = dataclasses.field(
        default_factory=lambda: Provenance(method="charge-balance (Li compensation)")
    )

    @property
    def composition(self) -> Composition:
        """pymatgen Composition (no oxidation states)."""
        return Composition({k: v for k, v in self.amounts.items() if v > _TOL})

    @property
    def composition_oxi(self) -> Composition:
        """pymatgen Composition decorated with oxidation states."""
        return Composition(
            {
                f"{el}{_charge_str(self.oxidation_states[el])}": n
                for el, n in self.amounts.items()
                if n > _TOL
            }
        )

    @property
    def x_total(self) -> float:
        """Total dopant atoms per formula unit."""
        return sum(s.x for s in self.substitutions)

    @property
    def framework_cations(self) -> dict[str, float]:
        """Non-Li cations (the M sublattice) per formula unit."""
        return {
            el: n
            for el, n in self.amounts.items()
            if el != "Li" and el not in ANION_VALENCE and n > _TOL
        }

    @property
    def anions(self) -> dict[str, float]:
        """Anions per formula unit."""
        return {el: n for el, n in self.amounts.items() if el in ANION_VALENCE and n > _TOL}

    def concentrations_per_cm3(self, volume_A3_per_fu: float) -> dict[str, float]:
        """Carrier and vacancy number densities.

        Parameters
        ----------
        volume_A3_per_fu : float
            Volume per formula unit in cubic angstrom (cell volume / Z).

        Returns
        -------
        dict
            ``li_per_cm3`` (carriers), ``octahedral_vacancies_per_cm3`` (empty
            octahedral sites) and ``li_vacancies_per_cm3`` (Li removed relative to the
            parent), all in cm^-3.
        """
        if not volume_A3_per_fu > 0 or not math.isfinite(volume_A3_per_fu):
            raise CompositionError(
                f"volume per formula unit must be a positive number of A^3, got {volume_A3_per_fu}"
            )
        v_cm3 = volume_A3_per_fu * A3_TO_CM3
        return {
            "li_per_cm3": self.li_per_fu / v_cm3,
            "octahedral_vacancies_per_cm3": self.vacancy_site_fraction
            * self.octahedral_sites_per_fu
            / v_cm3,
            "li_vacancies_per_cm3": self.li_vacancies_per_fu / v_cm3,
        }


def _charge_str(q: int) -> str:
    return f"{abs(q)}{'+' if q > 0 else '-'}"


def format_formula(amounts: Mapping[str, float], decimals: int = 4) -> str:
    """Formula string with subscripts rounded to ``decimals`` and 1 omitted.

    >>> format_formula({"Li": 1.8, "Zr": 0.8, "Nb": 0.2, "Cl": 6})
    'Li1.8Zr0.8Nb0.2Cl6'
    """
    parts = []
    for el, n in amounts.items():
        if n <= 10 ** (-decimals):
            continue
        s = f"{n:.{decimals}f}".rstrip("0").rstrip(".")
        parts.append(el if s == "1" else f"{el}{s}")
    return "".join(parts)


def check_element(symbol: str) -> str:
    """Return ``symbol`` if it is a real element, else raise :class:`CompositionError`."""
    if not isinstance(symbol, str) or not re.fullmatch(r"[A-Z][a-z]?", symbol.strip()):
        raise CompositionError(
            f"{symbol!r} is not an element symbol: write it like 'Nb' or 'Zr' (capital first)"
        )
    symbol = symbol.strip()
    if not Element.is_valid_symbol(symbol):
        raise CompositionError(f"unknown element {symbol!r}: check the spelling (e.g. 'Nb', 'Zr')")
    return symbol


_FORMULA_CHARS = re.compile(r"^[A-Za-z0-9.()\[\]\s]+$")


def parse_formula(formula: str | Composition) -> dict[str, float]:
    """Parse a formula into ordered ``{element: amount}`` (order as written).

    Raises
    ------
    CompositionError
        Empty, unparsable, unknown elements, non-positive or non-finite amounts.
    """
    if isinstance(formula, Composition):
        return {str(el): float(n) for el, n in formula.items()}
    if not isinstance(formula, str) or not formula.strip():
        raise CompositionError("empty formula: give a parent such as 'Li2ZrCl6'")
    text = formula.strip()
    if not _FORMULA_CHARS.match(text):
        raise CompositionError(
            f"cannot read formula {formula!r}: use element symbols and numbers only, e.g. "
            "'Li2ZrCl6'"
        )
    for sym in re.findall(r"[A-Z][a-z]?", text):
        check_element(sym)
    if re.search(r"(^|[^A-Za-z])[a-z]", text):
        raise CompositionError(
            f"cannot read formula {formula!r}: element symbols start with a capital letter"
        )
    try:
        comp = Composition(text)
    except Exception as exc:  # pymatgen raises ValueError/KeyError/... on bad formulas
        raise CompositionError(f"cannot read formula {formula!r}: {exc}") from None
    order = list(dict.fromkeys(re.findall(r"[A-Z][a-z]?", text)))
    amounts = {el: float(comp[el]) for el in order}
    for el, n in amounts.items():
        if not math.isfinite(n) or n <= 0:
            raise CompositionError(f"formula {formula!r} has a non-positive amount of {el}")
    return amounts


def default_valence(element: str, anion_site: bool = False) -> int:
    """The valence halidelab assumes for ``element`` in a halide framework.

    Parameters
    ----------
    element : str
        Element symbol.
    anion_site : bool
        True when the element sits on an anion site (O2-, N3-, Br-).
    """
    element = check_element(element)
    if element in ANION_VALENCE and (anion_site or element not in HALIDE_VALENCE):
        return ANION_VALENCE[element]
    if element in HALIDE_VALENCE and not anion_site:
        return HALIDE_VALENCE[element]
    el = Element(element)
    states = el.common_oxidation_states or el.oxidation_states
    if anion_site:
        neg = [s for s in states if s < 0]
        if not neg:
            raise CompositionError(
                f"{element} has no negative oxidation state: it cannot sit on an anion site"
            )
        return max(neg)
    pos = [s for s in states if s > 0]
    if not pos:
        raise CompositionError(
            f"{element} has no positive oxidation state: it cannot sit on a cation site"
        )
    return max(pos)


def _validate_valence(element: str, q: int) -> str | None:
    """Raise for an impossible valence; return a warning for an unusual one."""
    el = Element(element)
    if q == 0:
        raise CompositionError(
            f"valence 0 for {element} is not an ion: give e.g. "
            f"{element}{_charge_str(default_valence(element))}"
        )
    if q not in el.oxidation_states and q != ANION_VALENCE.get(element):
        raise CompositionError(
            f"{element}{_charge_str(q)} is not a known oxidation state of {element} "
            f"(known: {', '.join(_charge_str(s) for s in el.oxidation_states if s)})"
        )
    if (
        q not in el.common_oxidation_states
        and q != HALIDE_VALENCE.get(element)
        and q != ANION_VALENCE.get(element)
    ):
        common = ", ".join(_charge_str(s) for s in el.common_oxidation_states)
        return f"{element}{_charge_str(q)} is an unusual valence for {element} (common: {common})"
    return None


def assign_oxidation_states(
    formula: str | Composition | Mapping[str, float],
    overrides: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """Valence of each element of a neutral Li-M-X parent.

    Li is +1, anions take their usual valence (Cl-, O2-, N3-), and the framework
    cations take the combination of usual valences that makes the formula neutral
    (within :data:`PARENT_CHARGE_TOL` e per formula unit, for rounded formulas).

    Parameters
    ----------
    formula : str or Composition or mapping
        The parent, e.g. ``"Li2ZrCl6"``.
    overrides : mapping, optional
        Valences to impose, e.g. ``{"Zr": 3}``.

    Raises
    ------
    CompositionError
        When no combination of usual valences is neutral.
    """
    amounts = dict(formula) if isinstance(formula, Mapping) else parse_formula(formula)
    amounts = {str(k): float(v) for k, v in amounts.items()}
    overrides = {check_element(k): int(v) for k, v in (overrides or {}).items()}
    for el, q in overrides.items():
        if el not in amounts:
            raise CompositionError(
                f"oxidation state given for {el}, which is not in {format_formula(amounts)}"
            )
        _validate_valence(el, q)
    fixed: dict[str, int] = {}
    free: list[str] = []
    for el in amounts:
        if el in overrides:
            fixed[el] = overrides[el]
        elif el == "Li":
            fixed[el] = 1
        elif el in ANION_VALENCE:
            fixed[el] = ANION_VALENCE[el]
        else:
            free.append(el)
    if not any(q < 0 for q in fixed.values()):
        raise CompositionError(
            f"{format_formula(amounts)} has no anion (F, Cl, Br, I, O, S, Se, N): not a Li halide "
            "electrolyte"
        )
    base = sum(fixed[el] * amounts[el] for el in fixed)
    if not free:
        if abs(base) > PARENT_CHARGE_TOL:
            raise CompositionError(
                f"{format_formula(amounts)} is not charge neutral ({base:+.3g} e per formula unit)"
            )
        return {el: fixed[el] for el in amounts}
    choices = []
    for el in free:
        first = default_valence(el)
        common = [s for s in Element(el).common_oxidation_states if s > 0 and s != first]
        alt = [s for s in HALIDE_ALTERNATES.get(el, ()) if s != first and s not in common]
        choices.append([first, *common, *alt])  # cost rises along the list
    best: tuple[int, float, tuple[int, ...]] | None = None
    for combo in itertools.product(*choices):
        charge = base + sum(q * amounts[el] for el, q in zip(free, combo, strict=True))
        if abs(charge) <= PARENT_CHARGE_TOL:
            cost = sum(ch.index(q) for q, ch in zip(combo, choices, strict=True))
            if best is None or (cost, abs(charge)) < (best[0], best[1]):
                best = (cost, abs(charge), combo)
    if best is None:
        guess = ", ".join(f"{el}{_charge_str(c[0])}" for el, c in zip(free, choices, strict=True))
        charge = base + sum(c[0] * amounts[el] for el, c in zip(free, choices, strict=True))
        raise CompositionError(
            f"{format_formula(amounts)} is not charge neutral with the usual valences "
            f"({guess}: {charge:+.3g} e per formula unit); fix the formula or give oxidation states"
        )
    fixed.update(dict(zip(free, best[2], strict=True)))
    return {el: fixed[el] for el in amounts}


_SUB_RE = re.compile(
    r"^\s*(?P<dop>[A-Z][a-z]?)(?P<q>\d*[+-])?\s*(?:@\s*(?P<site>[A-Z][a-z]?))?\s*(?::\s*(?P<x>[^\s]+))?\s*$"
)


def parse_substitution(text: str, site: str | None = None, x: float | None = None) -> Substitution:
    """Parse ``"Nb5+@Zr:0.2"``, ``"Nb@Zr"``, ``"Y:0.16"`` (with ``site``) and the like.

    Raises
    ------
    CompositionError
        On malformed text, unknown elements or a missing site/amount.
    """
    m = _SUB_RE.match(text or "")
    if not m:
        raise CompositionError(
            f"cannot read substitution {text!r}: write DOPANT[VALENCE][@SITE][:X], e.g. "
            "'Nb5+@Zr:0.2'"
        )
    dopant = check_element(m.group("dop"))
    q = None
    if m.group("q"):
        digits = m.group("q")[:-1]
        q = int(digits or 1) * (1 if m.group("q")[-1] == "+" else -1)
    site_ = m.group("site") or site
    if site_ is None:
        raise CompositionError(f"substitution {text!r} names no site: add '@Zr' or use --site")
    x_ = m.group("x")
    value = parse_amount(x_) if x_ is not None else x
    if value is None:
        raise CompositionError(f"substitution {text!r} has no amount: add ':0.2' or use --x")
    return Substitution(dopant=dopant, site=check_element(site_), x=value, oxidation_state=q)


def parse_amount(text: str | float) -> float:
    """A single non-negative finite dopant amount."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise CompositionError(f"dopant amount {text!r} is not a number") from None
    if not math.isfinite(value):
        raise CompositionError(f"dopant amount {text!r} is not finite")
    if value < 0:
        raise CompositionError(f"dopant amount {text!r} is negative: x must be >= 0")
    return value


def parse_x_values(spec: str) -> list[float]:
    """Parse ``"0,0.1,0.2"`` or a range ``"0.1..0.5:0.1"`` (both ends included).

    Raises
    ------
    CompositionError
        On malformed specs, negative values, zero or wrong-signed steps.
    """
    spec = (spec or "").strip()
    if not spec:
        raise CompositionError(
            "no dopant contents given: use e.g. --x 0.2, --x 0,0.1,0.2 or --x 0..0.5:0.1"
        )
    values: list[float] = []
    for part in spec.split(","):
        part = part.strip()
        m = re.fullmatch(r"([^.]*\.?[^.]*)\.\.([^:]+):(.+)", part)
        if ".." in part:
            if not m:
                raise CompositionError(
                    f"cannot read range {part!r}: write START..STOP:STEP, e.g. 0.1..0.5:0.1"
                )
            start, stop, step = (
                parse_amount(g) if i < 2 else _step(g) for i, g in enumerate(m.groups())
            )
            if stop < start:
                raise CompositionError(f"range {part!r} runs backwards: STOP must be >= START")
            n = int(math.floor((stop - start) / step + 1e-9))
            if n > 10000:
                raise CompositionError(f"range {part!r} has {n + 1} values: use a larger step")
            values.extend(round(start + i * step, 10) for i in range(n + 1))
        else:
            values.append(parse_amount(part))
    return values


def _step(text: str) -> float:
    try:
        step = float(text)
    except ValueError:
        raise CompositionError(f"range step {text!r} is not a number") from None
    if not step > 0 or not math.isfinite(step):
        raise CompositionError(f"range step {text!r} must be a positive number")
    return step


def design_composition(
    parent: str | Composition,
    substitutions: Sequence[Substitution] | Substitution = (),
    oxidation_states: Mapping[str, int] | None = None,
) -> DesignedComposition:
    """Apply substitutions to a parent and compensate the charge with Li.

    Parameters
    ----------
    parent : str or Composition
        Neutral parent formula, e.g. ``"Li2ZrCl6"``.
    substitutions : Substitution or sequence of Substitution
        What goes where; several dopants (also on the same site) are allowed.
    oxidation_states : mapping, optional
        Parent valences to impose where the usual ones do not apply.

    Returns
    -------
    DesignedComposition

    Raises
    ------
    CompositionError
        Unknown element, a site the parent does not have, a dopant of the wrong sign for
        its site, more dopant than host atoms (occupancy above 1), Li below zero, or more
        cations than the anion framework has interstices.

    Examples
    --------
    >>> d = design_composition("Li2ZrCl6", Substitution("Nb", "Zr", 0.2))
    >>> d.formula, round(d.li_vacancies_per_fu, 6)
    ('Li1.8Zr0.8Nb0.2Cl6', 0.2)
    """
    if isinstance(substitutions, Substitution):
        substitutions = (substitutions,)
    parent_amounts = parse_formula(parent)
    parent_name = format_formula(parent_amounts)
    if "Li" not in parent_amounts:
        raise CompositionError(
            f"parent {parent_name} has no Li: halidelab designs Li-ion conductors"
        )
    parent_q = assign_oxidation_states(parent_amounts, oxidation_states)
    warnings: list[str] = []

    resolved: list[Substitution] = []
    dopant_amounts: dict[str, dict[str, float]] = {}  # site -> dopant -> x
    dopant_q: dict[str, int] = {}
    li_change = 0.0
    for sub in substitutions:
        if not isinstance(sub, Substitution):
            raise CompositionError(f"{sub!r} is not a Substitution")
        dop, site = check_element(sub.dopant), check_element(sub.site)
        x = parse_amount(sub.x)
        if site not in parent_amounts:
            raise CompositionError(
                f"{parent_name} has no {site} site for {dop}: sites are {', '.join(parent_amounts)}"
            )
        if dop == site:
            raise CompositionError(f"{dop} on its own site is not a substitution")
        anion_site = site in ANION_VALENCE and parent_q[site] < 0
        q = (
            sub.oxidation_state
            if sub.oxidation_state is not None
            else default_valence(dop, anion_site)
        )
        if (q < 0) != anion_site:
            kind = "an anion" if anion_site else "a cation"
            raise CompositionError(
                f"{dop}{_charge_str(q)} cannot replace {site}{_charge_str(parent_q[site])}: the "
                f"{site} site is {kind} site"
            )
        note = _validate_valence(dop, q)
        if note:
            warnings.append(note)
        if dop in dopant_q and dopant_q[dop] != q:
            raise CompositionError(f"{dop} is given with two valences ({dopant_q[dop]} and {q})")
        if dop in parent_q and parent_q[dop] != q:
            raise CompositionError(
                f"{dop} is already in {parent_name} as {dop}{_charge_str(parent_q[dop])}; "
                f"it cannot also be {dop}{_charge_str(q)}"
            )
        dopant_q[dop] = q
        dopant_amounts.setdefault(site, {})
        dopant_amounts[site][dop] = dopant_amounts[site].get(dop, 0.0) + x
        li_change -= x * (q - parent_q[site])
        resolved.append(Substitution(dopant=dop, site=site, x=x, oxidation_state=q))

    for site, dops in dopant_amounts.items():
        total = sum(dops.values())
        if total > parent_amounts[site] + _TOL:
            raise CompositionError(
                f"{'+'.join(dops)} x={total:g} on {site} exceeds the {parent_amounts[site]:g} "
                f"{site} per "
                f"formula unit of {parent_name} (site occupancy above 1)"
            )

    # build ordered amounts: parent order, dopants right after their site
    amounts: dict[str, float] = {}
    for el, n in parent_amounts.items():
        amounts[el] = amounts.get(el, 0.0) + n - sum(dopant_amounts.get(el, {}).values())
        for dop, x in dopant_amounts.get(el, {}).items():
            amounts[dop] = amounts.get(dop, 0.0) + x
    # Li compensation (a dopant on the Li site was already subtracted above)
    amounts["Li"] = amounts["Li"] + li_change
    li_parent = parent_amounts["Li"]
    if amounts["Li"] < -_TOL:
        raise CompositionError(
            f"charge compensation would leave {amounts['Li']:.3g} Li per formula unit: "
            f"reduce the dopant content (Li cannot go below 0)"
        )
    amounts = {el: (0.0 if abs(n) < 1e-12 else n) for el, n in amounts.items()}
    amounts["Li"] = max(amounts["Li"], 0.0)
    valences = {**parent_q, **dopant_q}
    charge = sum(valences[el] * n for el, n in amounts.items())

    n_anion = sum(n for el, n in amounts.items() if valences[el] < 0)
    n_m = sum(n for el, n in amounts.items() if valences[el] > 0 and el != "Li")
    li = amounts["Li"]
    if li + n_m > 3 * n_anion + _TOL:
        raise CompositionError(
            f"{li + n_m:.3g} cations per formula unit exceed the {3 * n_anion:g} interstices "
            f"(octahedral + tetrahedral) of {n_anion:g} anions: reduce the dopant content"
        )
    if li + n_m > n_anion + _TOL:
        warnings.append(
            f"{li + n_m:.3g} cations exceed the {n_anion:g} octahedral sites per formula unit: "
            "the excess Li must sit on tetrahedral sites"
        )
    oct_li = min(li, max(n_anion - n_m, 0.0))
    return DesignedComposition(
        parent=parent_name,
        substitutions=tuple(resolved),
        formula=format_formula(amounts),
        amounts=amounts,
        oxidation_states={el: valences[el] for el in amounts},
        li_parent_per_fu=li_parent,
        li_per_fu=li,
        li_vacancies_per_fu=max(li_parent - li, 0.0),
        li_interstitials_per_fu=max(li - li_parent, 0.0),
        octahedral_sites_per_fu=n_anion,
        li_site_fraction=oct_li / n_anion,
        m_site_fraction=min(n_m / n_anion, 1.0),
        vacancy_site_fraction=max(n_anion - n_m - li, 0.0) / n_anion,
        net_charge=0.0 if abs(charge) < 1e-9 else charge,
        warnings=tuple(warnings),
        provenance=Provenance(
            method="charge-balance (Li compensation)",
            parameters={
                "parent": parent_name,
                "oxidation_states_override": dict(oxidation_states or {}),
            },
        ),
    )


def design_series(
    parent: str | Composition,
    dopant: str | Iterable[str],
    site: str,
    xs: Sequence[float],
    oxidation_state: int | None = None,
    oxidation_states: Mapping[str, int] | None = None,
) -> list[DesignedComposition]:
    """One :class:`DesignedComposition` per content ``x`` of one dopant on one site."""
    if isinstance(dopant, str):
        dopant = [dopant]
    return [
        design_composition(
            parent,
            [Substitution(d, site, x, oxidation_state) for d in dopant],
            oxidation_states,
        )
        for x in xs
    ]


def to_plain(obj: Any) -> Any:
    """Plain-JSON form of a record or a list of them (for ``--json``)."""
    if isinstance(obj, list | tuple):
        return [to_plain(o) for o in obj]
    return obj.to_dict() if hasattr(obj, "to_dict") else obj
