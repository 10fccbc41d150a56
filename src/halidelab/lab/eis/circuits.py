"""Equivalent circuits in impedance.py notation: parsed (never ``eval``-ed), evaluated
with analytic derivatives, with the parameter transforms the fitter uses.

A circuit string is series ``-`` and parallel ``p(a,b,...)`` of the elements in
:mod:`halidelab.lab.eis.elements` (``"R0-p(R1,CPE1)-CPE2"``). Parameters are fitted as
``theta = ln p`` (positive quantities) or ``logit alpha`` (CPE exponents), so the
Jacobian the element functions return is ``dZ/dtheta``.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from halidelab.errors import FitError
from halidelab.lab.eis.elements import ELEMENT_TYPES, ELEMENTS

_TOKEN = re.compile(r"\s*(p\(|\(|\)|,|-|[A-Za-z]+\d*(?:_\w+)?)")


@dataclasses.dataclass(frozen=True)
class _Elem:
    kind: str
    name: str
    index: int  # first parameter index


@dataclasses.dataclass(frozen=True)
class _Node:
    op: str  # "s" (series) or "p" (parallel)
    children: tuple


class Circuit:
    """An equivalent circuit in impedance.py notation, evaluated with analytic derivatives.

    Parameters
    ----------
    text : str
        e.g. ``"R0-p(R1,CPE1)-CPE2"``; series ``-``, parallel ``p(a,b,...)``. The string is
        parsed (never ``eval``-ed).

    Attributes
    ----------
    names : list of str
        Parameter names as impedance.py writes them (``R1``, ``CPE1_0``, ``CPE1_1``).
    units : list of str
    is_alpha : numpy bool array
        Which parameters are CPE exponents (fitted in logit space).
    """

    def __init__(self, text: str):
        self.text = text.replace(" ", "")
        self.names: list[str] = []
        self.units: list[str] = []
        self.elements: list[_Elem] = []
        tokens = [t for t in _TOKEN.findall(self.text)]
        if "".join(tokens) != self.text or not tokens:
            raise FitError(
                f"cannot parse circuit {text!r}: use impedance.py notation, "
                "e.g. 'R0-p(R1,CPE1)-CPE2'"
            )
        self._tokens = tokens
        self._pos = 0
        self.tree = self._parse_series()
        if self._pos != len(tokens):
            raise FitError(f"cannot parse circuit {text!r} near {''.join(tokens[self._pos :])!r}")
        if len(set(self.names)) != len(self.names):
            raise FitError(f"circuit {text!r} names an element twice: number them R0, R1, ...")
        self.is_alpha = np.array(
            [flag for e in self.elements for flag in ELEMENT_TYPES[e.kind].exponents], dtype=bool
        )

    # recursive-descent parser -------------------------------------------------------
    def _peek(self) -> str | None:
        return self._tokens[self._pos] if self._pos < len(self._tokens) else None

    def _parse_series(self):
        items = [self._parse_item()]
        while self._peek() == "-":
            self._pos += 1
            items.append(self._parse_item())
        return items[0] if len(items) == 1 else _Node("s", tuple(items))

    def _parse_item(self):
        tok = self._peek()
        if tok is None:
            raise FitError(f"circuit {self.text!r} ends early")
        if tok == "p(":
            self._pos += 1
            items = [self._parse_series()]
            while self._peek() == ",":
                self._pos += 1
                items.append(self._parse_series())
            if self._peek() != ")":
                raise FitError(f"circuit {self.text!r}: unclosed p(")
            self._pos += 1
            if len(items) < 2:
                raise FitError(f"circuit {self.text!r}: p(...) needs two or more branches")
            return _Node("p", tuple(items))
        m = re.fullmatch(r"([A-Za-z]+)(\d*(?:_\w+)?)", tok)
        if not m or tok in ("(", ")", ",", "-"):
            raise FitError(f"circuit {self.text!r}: unexpected {tok!r}")
        kind = m.group(1)
        if kind not in ELEMENTS:
            raise FitError(
                f"element {kind!r} in {self.text!r} is not supported (supported: "
                f"{', '.join(ELEMENTS)}): write the circuit with these elements"
            )
        self._pos += 1
        elem = _Elem(kind, tok, len(self.names))
        units = ELEMENTS[kind]
        if len(units) == 1:
            self.names.append(tok)
        else:
            self.names += [f"{tok}_{i}" for i in range(len(units))]
        self.units += list(units)
        self.elements.append(elem)
        return elem

    @property
    def n_params(self) -> int:
        """Number of parameters."""
        return len(self.names)

    def __repr__(self) -> str:
        return f"Circuit({self.text!r})"

    # evaluation ---------------------------------------------------------------------
    def impedance(self, params: np.ndarray, frequency_Hz: np.ndarray) -> np.ndarray:
        """Z in ohm for parameters (natural units) at frequencies (Hz).

        ``params`` of shape (P,) or (B, P); ``frequency_Hz`` of shape (N,) or (B, N).
        """
        p = np.atleast_2d(np.asarray(params, dtype=float))
        w = np.atleast_2d(2 * np.pi * np.asarray(frequency_Hz, dtype=float))
        z, _ = self._eval(self.tree, p, w, jac=False)
        z = np.broadcast_to(z, (p.shape[0], w.shape[1]))
        return z[0] if np.ndim(params) == 1 else z

    def _eval(self, node, p, w, jac: bool):
        """Return Z (B,N) and {param index: dZ/dtheta (B,N)} (theta = ln p or logit alpha)."""
        if isinstance(node, _Elem):
            i = node.index
            etype = ELEMENT_TYPES[node.kind]
            z, dz = etype.function(p[:, i : i + len(etype.units)], w)
            return z, ({i + k: d for k, d in enumerate(dz)} if jac else {})
        parts = [self._eval(c, p, w, jac) for c in node.children]
        if node.op == "s":
            z = sum(pz for pz, _ in parts)
            d = {}
            for _, dd in parts:
                d.update(dd)
            return z, d
        y = sum(1.0 / pz for pz, _ in parts)
        z = 1.0 / y
        d = {}
        if jac:
            z2 = z * z
            for pz, dd in parts:
                fac = z2 / (pz * pz)
                for k, v in dd.items():
                    d[k] = fac * v
        return z, d

    def jacobian(self, params: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Z (B,N) and dZ/dtheta (B,N,P) at angular frequencies ``w`` (B,N)."""
        z, d = self._eval(self.tree, params, w, jac=True)
        b, n = params.shape[0], w.shape[1]
        z = np.broadcast_to(z, (b, n))
        jac = np.zeros((b, n, self.n_params), dtype=complex)
        for k, v in d.items():
            jac[:, :, k] = v
        return z, jac

    # parameter transforms -------------------------------------------------------------
    def to_theta(self, params: np.ndarray) -> np.ndarray:
        """Natural parameters -> fit space (ln p; logit alpha)."""
        p = np.asarray(params, dtype=float)
        th = np.empty_like(p)
        a = self.is_alpha
        th[..., ~a] = np.log(p[..., ~a])
        pa = np.clip(p[..., a], 1e-9, 1 - 1e-9)
        th[..., a] = np.log(pa / (1 - pa))
        return th

    def from_theta(self, theta: np.ndarray) -> np.ndarray:
        """Fit space -> natural parameters."""
        th = np.asarray(theta, dtype=float)
        p = np.empty_like(th)
        a = self.is_alpha
        p[..., ~a] = np.exp(th[..., ~a])
        p[..., a] = 1.0 / (1.0 + np.exp(-th[..., a]))
        return p

    def dparams_dtheta(self, params: np.ndarray) -> np.ndarray:
        """d p / d theta (for error propagation)."""
        p = np.asarray(params, dtype=float)
        return np.where(self.is_alpha, p * (1 - p), p)

    # roles ------------------------------------------------------------------------------
    def resistor_roles(self) -> dict[str, list[int]]:
        """Indices of resistors: 'series' (top level), 'arcs' (in p(...) with C/CPE, in order)."""
        top = (
            self.tree.children
            if isinstance(self.tree, _Node) and self.tree.op == "s"
            else (self.tree,)
        )
        roles: dict[str, list[int]] = {"series": [], "arcs": [], "all": []}
        for e in self.elements:
            if e.kind == "R":
                roles["all"].append(e.index)
        for item in top:
            if isinstance(item, _Elem) and item.kind == "R":
                roles["series"].append(item.index)
            elif isinstance(item, _Node) and item.op == "p":
                rs = [c.index for c in item.children if isinstance(c, _Elem) and c.kind == "R"]
                caps = [c for c in item.children if isinstance(c, _Elem) and c.kind in ("C", "CPE")]
                if len(rs) == 1 and caps:
                    roles["arcs"].append(rs[0])
                    self._arc_caps = getattr(self, "_arc_caps", {})
                    self._arc_caps[rs[0]] = caps[0]
        return roles

    def arc_frequency(self, params: np.ndarray, r_index: int) -> float:
        """Characteristic frequency (Hz) of the arc whose resistor is ``r_index``:
        ``f = 1 / (2 pi (R Q)^(1/alpha))`` (``alpha = 1``, ``Q = C`` for a capacitor)."""
        self.resistor_roles()
        cap = self._arc_caps[r_index]
        q = params[cap.index]
        alpha = params[cap.index + 1] if cap.kind == "CPE" else 1.0
        return float(1.0 / (2 * np.pi * (params[r_index] * q) ** (1.0 / alpha)))
