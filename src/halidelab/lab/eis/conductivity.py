"""Pellet geometry and ionic conductivity: ``sigma = L / (R A)``, ``A = pi d^2 / 4``,
with the uncertainty of R and of the geometry propagated to first order.
"""

from __future__ import annotations

import math
import re

from halidelab.errors import FitError, UnitError
from halidelab.lab.eis.records import Conductivity
from halidelab.records import Provenance
from halidelab.units import length_cm


def parse_length(text: str | float | tuple[float, float]) -> tuple[float, float]:
    """Length and its uncertainty in cm from ``"0.85mm"``, ``"0.85+-0.01mm"``,
    ``"0.85mm±0.01mm"`` or ``"0.85±0.01 mm"``; a float is taken as cm (library use)."""
    if isinstance(text, tuple):
        return float(text[0]), float(text[1])
    if isinstance(text, int | float):
        if text <= 0:
            raise UnitError(f"length must be positive, got {text}")
        return float(text), 0.0
    s = str(text).replace("+/-", "±").replace("+-", "±")
    if "±" not in s:
        return length_cm(s), 0.0
    left, right = (t.strip() for t in s.split("±", 1))
    err = length_cm(right)
    m = re.match(r"^\s*([-+]?[\d.eE+-]+)\s*$", left)
    value = length_cm(left + re.sub(r"^[\d.eE+-]+", "", right).strip()) if m else length_cm(left)
    return value, err


def conductivity(
    resistance_ohm: float,
    thickness: str | float | tuple[float, float],
    diameter: str | float | tuple[float, float],
    resistance_err_ohm: float = 0.0,
    temperature_K: float | None = None,
) -> Conductivity:
    """Ionic conductivity ``sigma = L / (R pi d^2 / 4)`` in S/cm with propagated error.

    Parameters
    ----------
    resistance_ohm, resistance_err_ohm : float
        Resistance of the pellet and its standard uncertainty (ohm).
    thickness, diameter : str or float or (value, error)
        Pellet thickness L and diameter d: strings with units (``"0.85mm"``,
        ``"10mm+-0.05mm"``) or floats in cm.
    temperature_K : float, optional
        Stored with the result.

    Returns
    -------
    Conductivity
        ``(dsigma/sigma)^2 = (dR/R)^2 + (dL/L)^2 + (2 dd/d)^2``.
    """
    if not (resistance_ohm > 0 and math.isfinite(resistance_ohm)):
        raise FitError(f"resistance must be positive to give a conductivity, got {resistance_ohm}")
    lcm, lerr = parse_length(thickness)
    dcm, derr = parse_length(diameter)
    if lcm > dcm * 5:
        raise UnitError(
            f"thickness {lcm:g} cm is more than 5x the diameter {dcm:g} cm: "
            "are thickness and diameter swapped?"
        )
    area = math.pi * dcm**2 / 4.0
    sigma = lcm / (resistance_ohm * area)
    rel_r = (resistance_err_ohm / resistance_ohm) if math.isfinite(resistance_err_ohm) else math.inf
    rel = math.sqrt(rel_r**2 + (lerr / lcm) ** 2 + (2 * derr / dcm) ** 2)
    return Conductivity(
        sigma_S_cm=sigma,
        sigma_err_S_cm=sigma * rel,
        resistance_ohm=float(resistance_ohm),
        resistance_err_ohm=float(resistance_err_ohm),
        thickness_cm=lcm,
        thickness_err_cm=lerr,
        diameter_cm=dcm,
        diameter_err_cm=derr,
        area_cm2=area,
        temperature_K=temperature_K,
        provenance=Provenance(method="eis-conductivity", parameters={"formula": "L/(R*pi*d^2/4)"}),
    )


def resistance_for(sigma_S_cm: float, thickness: str | float, diameter: str | float) -> float:
    """Resistance (ohm) of a pellet of conductivity sigma (S/cm): ``R = L / (sigma A)``."""
    lcm, _ = parse_length(thickness)
    dcm, _ = parse_length(diameter)
    return lcm / (sigma_S_cm * math.pi * dcm**2 / 4.0)
