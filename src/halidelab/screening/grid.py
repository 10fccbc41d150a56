"""The candidate grid of a screen: parent x dopant x content x site."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

from halidelab.errors import CompositionError
from halidelab.records import Record


@dataclasses.dataclass(frozen=True)
class Candidate(Record):
    """One point of the grid: ``x`` of ``dopant`` on ``site`` of ``parent``.

    Attributes
    ----------
    parent, dopant, site : str
    x : float
        Dopant atoms per formula unit.
    oxidation_state : int or None
        Dopant valence (None: the usual one in halides).
    """

    parent: str
    dopant: str
    site: str
    x: float
    oxidation_state: int | None = None

    @property
    def label(self) -> str:
        """``"Li2ZrCl6 Nb@Zr x=0.200"``."""
        q = "" if self.oxidation_state is None else f"({self.oxidation_state:+d})"
        return f"{self.parent} {self.dopant}{q}@{self.site} x={self.x:.3f}"

    @property
    def substitutions(self) -> list[dict[str, Any]]:
        """JSON substitutions for the task inputs (empty for x = 0, the parent)."""
        if self.x <= 0:
            return []
        sub: dict[str, Any] = {"dopant": self.dopant, "site": self.site, "x": float(self.x)}
        if self.oxidation_state is not None:
            sub["oxidation_state"] = self.oxidation_state
        return [sub]


def candidate_grid(
    parent: str, dopants: Sequence[str], xs: Sequence[float], sites: Sequence[str]
) -> list[Candidate]:
    """The full grid parent x dopant x content x site (duplicates removed, order kept).

    Parameters
    ----------
    parent : str
        Parent formula, e.g. ``"Li2ZrCl6"``.
    dopants : sequence of str
        Element symbols, optionally with a valence: ``"Nb"``, ``"Mo6+"`` or ``"Mo+6"``.
    xs : sequence of float
        Contents per formula unit (> 0; x = 0, the parent, is added by the report).
    sites : sequence of str
        Host elements whose sites the dopants take.
    """
    from halidelab.composition import check_element, parse_amount, parse_formula

    amounts = parse_formula(parent)
    if not dopants:
        raise CompositionError("no dopants given: use e.g. --dopants Nb,Ta,In")
    if not sites:
        raise CompositionError("no site given: use e.g. --site Zr")
    for site in sites:
        if check_element(site) not in amounts:
            raise CompositionError(f"{parent} has no {site} site: sites are {', '.join(amounts)}")
    xs = [parse_amount(x) for x in xs]
    if not xs or all(x == 0 for x in xs):
        raise CompositionError("no positive dopant content: use e.g. --x 0.05..0.5:0.05")
    out: list[Candidate] = []
    seen = set()
    for site in sites:
        for d in dopants:
            el, q = _parse_dopant(d)
            for x in xs:
                if x <= 0:
                    continue
                c = Candidate(parent, el, check_element(site), round(float(x), 10), q)
                if c not in seen:
                    seen.add(c)
                    out.append(c)
    return out


def _parse_dopant(text: str) -> tuple[str, int | None]:
    import re

    from halidelab.composition import check_element

    m = re.fullmatch(r"\s*([A-Z][a-z]?)\s*(?:([+-]?)(\d)([+-]?))?\s*", text)
    if not m or (m.group(3) and not (bool(m.group(2)) ^ bool(m.group(4)))):
        raise CompositionError(
            f"cannot read dopant {text!r}: write an element, optionally with "
            "its valence, e.g. Nb, Mo6+ or O2-"
        )
    el, s1, n, s2 = m.groups()
    el = check_element(el)
    if n is None:
        return el, None
    sign = s1 or s2
    return el, int(n) * (-1 if sign == "-" else 1)


def parse_x_spec(spec: str) -> list[float]:
    """Contents from ``"0.05..0.5:0.05"`` or ``"0.1,0.2"`` (see composition.parse_x_values)."""
    from halidelab.composition import parse_x_values

    xs = parse_x_values(spec)
    if any(not math.isfinite(x) for x in xs):
        raise CompositionError(f"non-finite content in {spec!r}")
    return xs
