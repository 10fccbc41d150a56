"""Circuit elements: one short function per element, its formula in the docstring.

Each element is registered with its parameter units (impedance.py's names and units) by
the :func:`element` decorator, as impedance.py does, so a user can add one::

    @element(units=("Ohm", "sec"))
    def G(p, w):
        '''Gerischer-like ... Z = ...'''
        ...

An element function takes its parameters ``p`` (B, k) in natural units and angular
frequencies ``w`` (B or 1, N) in rad/s, and returns ``Z`` (B, N) in ohm and the
derivatives ``dZ/dtheta`` for each parameter, where ``theta = ln p`` (or
``logit alpha`` for CPE exponents: see :mod:`halidelab.lab.eis.circuits`). Analytic
derivatives make the batched Levenberg-Marquardt fit fast and exact.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

ElementFunction = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, tuple[np.ndarray, ...]]]


@dataclasses.dataclass(frozen=True)
class ElementType:
    """A registered element: its symbol, parameter units and impedance function."""

    kind: str
    units: tuple[str, ...]
    function: ElementFunction
    #: which parameters are exponents in (0, 1) (fitted in logit space)
    exponents: tuple[bool, ...]


#: registry of elements the fast fitter evaluates, by symbol
ELEMENT_TYPES: dict[str, ElementType] = {}
#: symbol -> parameter units (impedance.py's names), kept as the public table
ELEMENTS: dict[str, tuple[str, ...]] = {}


def element(units: tuple[str, ...], exponents: tuple[bool, ...] | None = None):
    """Register an element function under its name (the circuit-string symbol).

    Parameters
    ----------
    units : tuple of str
        Units of its parameters, in order.
    exponents : tuple of bool, optional
        Which parameters are exponents bounded to (0, 1); default none.
    """

    def deco(fn: ElementFunction) -> ElementFunction:
        kind = fn.__name__
        flags = tuple(exponents) if exponents is not None else (False,) * len(units)
        ELEMENT_TYPES[kind] = ElementType(kind, tuple(units), fn, flags)
        ELEMENTS[kind] = tuple(units)
        return fn

    return deco


@element(units=("Ohm",))
def R(p: np.ndarray, w: np.ndarray):
    """Resistor: ``Z = R`` (ohm)."""
    z = np.broadcast_to(p[:, 0:1], (p.shape[0], w.shape[1])).astype(complex)
    return z, (z,)


@element(units=("F",))
def C(p: np.ndarray, w: np.ndarray):
    """Capacitor: ``Z = 1 / (j omega C)`` (C in F)."""
    z = 1.0 / (1j * w * p[:, 0:1])
    return z, (-z,)


@element(units=("H",))
def L(p: np.ndarray, w: np.ndarray):
    """Inductor: ``Z = j omega L`` (L in H)."""
    z = 1j * w * p[:, 0:1]
    return z, (z,)


@element(units=("Ohm^-1 sec^a", ""), exponents=(False, True))
def CPE(p: np.ndarray, w: np.ndarray):
    """Constant phase element: ``Z = 1 / (Q (j omega)^alpha)``.

    Q (``CPEn_0``) in S s^alpha, alpha (``CPEn_1``) in (0, 1]; alpha = 1 is a capacitor.
    """
    q, a = p[:, 0:1], p[:, 1:2]
    lnjw = np.log(w) + 0.5j * np.pi
    z = np.exp(-np.log(q) - a * lnjw)
    return z, (-z, -z * lnjw * (a * (1 - a)))


@element(units=("Ohm sec^-0.5",))
def W(p: np.ndarray, w: np.ndarray):
    """Semi-infinite Warburg: ``Z = A_W (1 - j) / sqrt(omega)`` (A_W in ohm s^-1/2)."""
    z = p[:, 0:1] * (1 - 1j) / np.sqrt(w)
    return z, (z,)
