"""Quantities with units as users type them ("0.85mm", "8.2 mg", "140mAh/g", "25C").

Each parser returns a float in the project's base unit for that dimension, which is
named in the function: :func:`length_cm`, :func:`mass_g`, :func:`specific_capacity_mAh_g`,
:func:`temperature_K`. A bare number without a unit is refused, because a pellet thickness
of "0.85" is 0.85 mm to one user and 0.85 cm to the next.
"""

from __future__ import annotations

import re

from halidelab.constants import ZERO_C_K
from halidelab.errors import UnitError

_NUMBER_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\d\s].*?)?\s*$")

# factors to the base unit of each dimension
_LENGTH_TO_CM = {
    "m": 100.0,
    "cm": 1.0,
    "mm": 0.1,
    "um": 1e-4,
    "µm": 1e-4,
    "μm": 1e-4,
    "nm": 1e-7,
    "a": 1e-8,
    "å": 1e-8,
    "angstrom": 1e-8,
}
_MASS_TO_G = {"kg": 1e3, "g": 1.0, "mg": 1e-3, "ug": 1e-6, "µg": 1e-6, "μg": 1e-6}
_SPEC_CAP_TO_MAH_G = {"mah/g": 1.0, "ah/kg": 1.0, "ah/g": 1e3, "mah/mg": 1e3, "uah/mg": 1.0}
_TEMPERATURE = {"k": "K", "c": "C", "°c": "C", "degc": "C"}


def _split(text: str | float, what: str) -> tuple[float, str]:
    if isinstance(text, int | float):
        raise UnitError(f"{what} {text!r} has no unit: write it with one, e.g. '0.85mm'")
    m = _NUMBER_UNIT.match(str(text))
    if not m:
        raise UnitError(f"cannot read {what} {text!r}: write a number and a unit, e.g. '0.85mm'")
    value, unit = float(m.group(1)), (m.group(2) or "").strip()
    if not unit:
        raise UnitError(f"{what} {text!r} has no unit: write it with one, e.g. '{text}mm'")
    return value, unit


def _convert(text: str | float, table: dict[str, float], what: str, positive: bool = True) -> float:
    value, unit = _split(text, what)
    key = unit.lower().replace(" ", "")
    if key not in table:
        raise UnitError(f"unknown unit {unit!r} for {what} {text!r}; use one of {sorted(table)}")
    if positive and value <= 0:
        raise UnitError(f"{what} must be positive, got {text!r}")
    return value * table[key]


def length_cm(text: str | float) -> float:
    """Parse a length such as ``"0.85mm"`` and return it in cm."""
    return _convert(text, _LENGTH_TO_CM, "length")


def mass_g(text: str | float) -> float:
    """Parse a mass such as ``"8.2mg"`` and return it in g."""
    return _convert(text, _MASS_TO_G, "mass")


def specific_capacity_mAh_g(text: str | float) -> float:
    """Parse a specific capacity such as ``"140mAh/g"`` and return it in mAh/g."""
    return _convert(text, _SPEC_CAP_TO_MAH_G, "specific capacity")


def temperature_K(text: str | float) -> float:
    """Parse a temperature such as ``"25C"``, ``"25 °C"`` or ``"298.15K"``; return K."""
    value, unit = _split(text, "temperature")
    kind = _TEMPERATURE.get(unit.lower().replace(" ", ""))
    if kind is None:
        raise UnitError(f"unknown temperature unit {unit!r} in {text!r}; use K or C")
    kelvin = value + ZERO_C_K if kind == "C" else value
    if kelvin <= 0:
        raise UnitError(f"temperature {text!r} is at or below absolute zero")
    return kelvin
