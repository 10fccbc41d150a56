"""Impedance of solid-electrolyte pellets: circuits, automatic fits, conductivity.

A pellet between ion-blocking electrodes (Au, stainless steel, carbon) gives, from high
to low frequency, an arc for the bulk (``R_b || CPE_b``), sometimes a second arc for grain
boundaries (``R_gb || CPE_gb``), and a capacitive spike from the blocking electrodes
(``CPE_el``). In impedance.py's notation::

    p(R1,CPE1)-CPE2                   bulk arc + blocking tail (the default shape)
    R0-p(R1,CPE1)-CPE2                with a series (lead / offset) resistance
    p(R1,CPE1)-p(R2,CPE2)-CPE3        bulk and grain-boundary arcs + tail
    R1-CPE2                           arc beyond the frequency window: intercept + tail
    R1                                a resistor (no capacitive features at all)

Elements (``omega = 2 pi f`` in rad/s; impedance.py's parameter names and units)::

    R    Z = R                                  R in ohm
    C    Z = 1 / (j omega C)                    C in F
    L    Z = j omega L                          L in H
    CPE  Z = 1 / (Q (j omega)^alpha)            Q (CPEn_0) in S s^alpha, alpha (CPEn_1) in (0, 1]
    W    Z = A_W (1 - j) / sqrt(omega)          A_W in ohm s^-1/2 (semi-infinite Warburg)

Why not impedance.py's ``CustomCircuit.fit`` (used as the reference in
``benchmarks/bench_eis_fit.py`` and in the tests): it fits unweighted by default with
hand-made guesses, evaluates circuits with ``eval``, uses finite-difference Jacobians
through ``curve_fit`` one spectrum at a time, and says nothing when the optimiser does not
move. Here:

- initial guesses come from the data (:func:`initial_guess`): the tail's extrapolated
  intercept on the real axis (total resistance), the arc apex frequency
  (``omega R Q^(1/alpha) = 1``, i.e. ``C = 1/(2 pi f_apex R)`` for alpha = 1), the arc
  height for alpha of a ZARC (``-Z''_apex = (R/2) tan(alpha pi/4)``), the tail slope for
  the electrode alpha;
- parameters are fitted in log space (ln R, ln Q) and logit space (alpha), with modulus
  weighting (residuals divided by ``|Z_data|``), by a Levenberg-Marquardt written here
  with analytic derivatives and vectorised over many spectra at once (:func:`fit_spectra`);
- several candidate circuits are fitted and the one with the lowest BIC among those
  whose parameters the data determine is kept (``circuit="auto"``);
- standard errors come from the Jacobian, ``cov = s^2 (J^T J)^-1`` with ``s^2`` the
  residual variance; a fit that does not converge, stays at its guess with a poor
  residual, or has parameters the data cannot determine raises :class:`FitError` or
  carries a flag;
- the Lin-KK test (impedance.py :func:`impedance.validation.linKK`) checks the data.

Conductivity: ``sigma = L / (R A)`` with ``A = pi d^2 / 4`` (:func:`conductivity`), with
the uncertainty of R and of the geometry propagated to first order.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from halidelab.errors import FitError, UnitError
from halidelab.lab.eis_io import ImpedanceSpectrum, read_spectrum
from halidelab.records import Provenance, Record
from halidelab.units import length_cm

Resistance = Literal["total", "bulk"]

# --------------------------------------------------------------------------- circuits

#: elements the fast fitter evaluates, with their parameter units
ELEMENTS: dict[str, tuple[str, ...]] = {
    "R": ("Ohm",),
    "C": ("F",),
    "L": ("H",),
    "CPE": ("Ohm^-1 sec^a", ""),
    "W": ("Ohm sec^-0.5",),
}

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
            raise FitError(f"cannot parse circuit {text!r}: use impedance.py notation, "
                           "e.g. 'R0-p(R1,CPE1)-CPE2'")
        self._tokens = tokens
        self._pos = 0
        self.tree = self._parse_series()
        if self._pos != len(tokens):
            raise FitError(f"cannot parse circuit {text!r} near {''.join(tokens[self._pos:])!r}")
        if len(set(self.names)) != len(self.names):
            raise FitError(f"circuit {text!r} names an element twice: number them R0, R1, ...")
        self.is_alpha = np.array([n.startswith("CPE") and n.endswith("_1") for n in self.names])

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
            raise FitError(f"element {kind!r} in {self.text!r} is not supported by the fast "
                           f"fitter (supported: {', '.join(ELEMENTS)}); pass initial_guess=[...] "
                           "to fit it with impedance.py instead")
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
            if node.kind == "R":
                z = np.broadcast_to(p[:, i:i + 1], (p.shape[0], w.shape[1])).astype(complex)
                return z, ({i: z} if jac else {})
            if node.kind == "C":
                z = 1.0 / (1j * w * p[:, i:i + 1])
                return z, ({i: -z} if jac else {})
            if node.kind == "L":
                z = 1j * w * p[:, i:i + 1]
                return z, ({i: z} if jac else {})
            if node.kind == "W":
                z = p[:, i:i + 1] * (1 - 1j) / np.sqrt(w)
                return z, ({i: z} if jac else {})
            # CPE
            q, a = p[:, i:i + 1], p[:, i + 1:i + 2]
            lnjw = np.log(w) + 0.5j * np.pi
            z = np.exp(-np.log(q) - a * lnjw)
            if not jac:
                return z, {}
            return z, {i: -z, i + 1: -z * lnjw * (a * (1 - a))}
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
        top = self.tree.children if isinstance(self.tree, _Node) and self.tree.op == "s" else (
            self.tree,)
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


# --------------------------------------------------------------------------- features


@dataclasses.dataclass(frozen=True)
class SpectrumFeatures:
    """What the data say before any fit (used for initial guesses), all in ohm/Hz.

    Attributes
    ----------
    r_hf_ohm : float
        Z' at the highest frequency.
    r_total_ohm : float
        Low-frequency intercept of the arcs (tail extrapolated to -Z'' = 0, or the
        low-frequency Z' when there is no tail).
    has_tail : bool
        A blocking-electrode spike at low frequency.
    tail_alpha, tail_q : float
        CPE exponent from the tail slope and its Q (S s^alpha).
    arcs : tuple of (f_apex_Hz, r_ohm, alpha)
        Arcs seen (or, for an arc whose apex is above the window, inferred), high f first.
    arc_resolved : bool
        The first arc's apex lies inside the measured window.
    inductance_H : float
        Series inductance from positive Z'' at the highest frequencies (0 if none).
    """

    r_hf_ohm: float
    r_total_ohm: float
    has_tail: bool
    tail_alpha: float
    tail_q: float
    arcs: tuple[tuple[float, float, float], ...]
    arc_resolved: bool
    inductance_H: float = 0.0


def _smooth(y: np.ndarray) -> np.ndarray:
    if y.size < 5:
        return y
    pad = np.concatenate([y[:1], y, y[-1:]])
    return np.median(np.stack([pad[:-2], pad[1:-1], pad[2:]]), axis=0)


def spectrum_features(f: np.ndarray, z: np.ndarray) -> SpectrumFeatures:
    """Intercepts, arc apexes and tail slope of a spectrum (sorted by decreasing f)."""
    f = np.asarray(f, dtype=float)
    z = np.asarray(z, dtype=complex)
    order = np.argsort(-f)
    f, z = f[order], z[order]
    x, y = z.real, -z.imag
    n = f.size
    w = 2 * np.pi * f
    scale = max(np.max(np.abs(z)), 1e-300)
    ys = _smooth(y)
    # tail: -Z'' growing toward low frequency at the end, with a steep phase
    phase_end = np.degrees(np.arctan2(y[-1], x[-1]))
    k = max(3, n // 10)
    has_tail = bool(n >= 6 and phase_end > 20 and np.all(np.diff(ys[-k:]) > -0.02 * scale)
                    and ys[-1] > ys[-k] + 0.01 * scale)
    # valley: walk back from the low-frequency end while -Z'' keeps falling
    valley = n - 1
    if has_tail:
        while valley > 0 and ys[valley - 1] <= ys[valley] + 0.03 * abs(ys[valley]) + 1e-12 * scale:
            valley -= 1
    # total resistance: extrapolate the tail to -Z'' = 0
    tail_alpha, tail_q = 0.9, 1e-6
    if has_tail:
        idx = np.arange(valley, n)
        lo = idx[len(idx) // 2:] if len(idx) >= 6 else idx
        if lo.size >= 2 and np.ptp(y[lo]) > 0:
            b, a = np.polyfit(y[lo], x[lo], 1)  # x = a + b y
            tail_alpha = float(np.clip(2 / np.pi * np.arctan2(1.0, max(b, 1e-3)), 0.4, 0.999))
            r_total = float(np.clip(a, min(x[valley], x[:valley + 1].min()), x[valley]))
        else:
            r_total = float(x[valley])
        zt = z[lo] - r_total
        tail_q = float(np.median(1.0 / (np.abs(zt) * w[lo] ** tail_alpha)))
    else:
        r_total = float(x[-1])
    r_hf = float(x[0])
    arcs: list[tuple[float, float, float]] = []
    region = slice(0, valley + 1)
    yr = ys[region]
    arc_resolved = False
    if yr.size >= 3:
        apex = int(np.argmax(yr))
        height = yr[apex]
        if height > 0.03 * max(r_total, 1e-300):
            if 0 < apex < yr.size - 1:
                arc_resolved = True
                r0 = max(min(r_hf, x[apex]) - 0.0, 0.0)
                r_arc = max(r_total - r0, 2 * height)
                alpha = float(np.clip(4 / np.pi * np.arctan(2 * height / r_arc), 0.5, 0.999))
                arcs.append((float(f[apex]), float(r_arc), alpha))
                # a second, lower-frequency arc (grain boundaries)?
                rest = ys[apex:valley + 1]
                if rest.size >= 5:
                    dip = int(np.argmin(rest[: max(2, rest.size - 1)]))
                    if 0 < dip < rest.size - 2:
                        second = dip + int(np.argmax(rest[dip:]))
                        if rest[second] > rest[dip] * 1.1 and second < rest.size - 1:
                            j = apex + second
                            r1 = max(x[apex + dip] - r0, 1e-12)
                            arcs = [(float(f[apex]), float(r1), alpha),
                                    (float(f[j]), float(max(r_total - r0 - r1, 1e-3 * r1)),
                                     alpha)]
            elif apex == 0 and y[0] > 0:
                # apex above the window: tau from the first point of an R||C, y/x = omega tau
                tau = y[0] / max(x[0], 1e-300) / w[0]
                arcs.append((float(1 / (2 * np.pi * tau)), float(max(r_total, 1e-300)), 0.9))
    inductance = float(-y[0] / w[0]) if (y[0] < 0 and -y[0] > 0.002 * scale) else 0.0
    return SpectrumFeatures(r_hf_ohm=r_hf, r_total_ohm=max(r_total, 1e-12),
                            has_tail=has_tail, tail_alpha=tail_alpha, tail_q=tail_q,
                            arcs=tuple(arcs), arc_resolved=arc_resolved,
                            inductance_H=inductance)


def initial_guess(circuit: Circuit | str, f: np.ndarray, z: np.ndarray,
                  features: SpectrumFeatures | None = None) -> np.ndarray:
    """Initial parameters for ``circuit`` derived from the data (natural units).

    Top-level resistors take the high-frequency intercept (or the total resistance
    when no arc is visible), each ``p(R, CPE)`` group takes one arc (high frequency
    first; ``Q = 1 / (R (2 pi f_apex)^alpha)``), top-level C/CPE take the blocking tail.
    """
    c = Circuit(circuit) if isinstance(circuit, str) else circuit
    ft = features or spectrum_features(f, z)
    p = np.full(c.n_params, np.nan)
    top = c.tree.children if isinstance(c.tree, _Node) and c.tree.op == "s" else (c.tree,)
    groups = [it for it in top if isinstance(it, _Node)]
    series_r = [it for it in top if isinstance(it, _Elem) and it.kind == "R"]
    arcs = list(ft.arcs)
    r_tot = ft.r_total_ohm
    if groups:
        r_series_total = max(ft.r_hf_ohm, 0.0) if ft.arc_resolved else 0.0
        r_series_total = min(r_series_total, 0.5 * r_tot)
    else:
        r_series_total = r_tot
    for e in series_r:
        p[e.index] = max(r_series_total / len(series_r), 1e-3 * r_tot)
    # arcs: use detected ones, invent further ones at lower frequency
    r_arc_total = max(r_tot - r_series_total, 1e-3 * r_tot)
    if not arcs:
        fmax = float(np.max(f))
        arcs = [(fmax * 10.0, r_arc_total, 0.9)]
    while len(arcs) < len(groups):
        fa, ra, al = arcs[-1]
        arcs[-1] = (fa, ra * 0.5, al)
        arcs.append((fa / 100.0, ra * 0.5, al))
    if len(groups) == 1 and len(arcs) > 1:
        arcs = [(arcs[0][0], sum(a[1] for a in arcs), arcs[0][2])]
    for g, (fa, ra, al) in zip(groups, arcs, strict=False):
        wa = 2 * np.pi * fa
        for ch in g.children:
            if not isinstance(ch, _Elem):
                continue
            if ch.kind == "R":
                p[ch.index] = ra
            elif ch.kind == "CPE":
                p[ch.index] = 1.0 / (ra * wa**al)
                p[ch.index + 1] = al
            elif ch.kind == "C":
                p[ch.index] = 1.0 / (ra * wa)
            elif ch.kind == "L":
                p[ch.index] = ra / wa * 10
            elif ch.kind == "W":
                p[ch.index] = ra * math.sqrt(wa)
    for e in c.elements:
        if not np.isnan(p[e.index]):
            continue
        if e.kind == "CPE":
            p[e.index] = ft.tail_q if ft.has_tail else 1e3 / (r_tot * 2 * np.pi * np.min(f))
            p[e.index + 1] = ft.tail_alpha if ft.has_tail else 0.9
        elif e.kind == "C":
            p[e.index] = ft.tail_q if ft.has_tail else 1e3 / (r_tot * 2 * np.pi * np.min(f))
        elif e.kind == "L":
            p[e.index] = ft.inductance_H or 1e-3 * r_tot / (2 * np.pi * np.max(f))
        elif e.kind == "W":
            p[e.index] = 0.1 * r_tot * math.sqrt(2 * np.pi * np.min(f))
        elif e.kind == "R":
            p[e.index] = r_arc_total
    return p


# --------------------------------------------------------------------------- the fitter

_ALPHA_LO, _ALPHA_HI = 0.2, 0.9999
_THETA_ALPHA_LO = math.log(_ALPHA_LO / (1 - _ALPHA_LO))
_THETA_ALPHA_HI = math.log(_ALPHA_HI / (1 - _ALPHA_HI))


@dataclasses.dataclass
class _BatchResult:
    params: np.ndarray  # (B, P)
    cov_theta: np.ndarray  # (B, P, P)
    cost: np.ndarray  # (B,) 0.5 sum r^2
    cost0: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    moved: np.ndarray
    at_bound: np.ndarray  # (B, P)
    dof: int


def _residuals(circuit, theta, w, zd, wt):
    p = circuit.from_theta(theta)
    zm, dz = circuit.jacobian(p, w)
    rc = (zm - zd) * wt
    r = np.concatenate([rc.real, rc.imag], axis=1)
    jc = dz * wt[:, :, None]
    jac = np.concatenate([jc.real, jc.imag], axis=1)
    return r, jac


def _cost(circuit, theta, w, zd, wt):
    p = circuit.from_theta(theta)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        zm = circuit.impedance(p, w / (2 * np.pi))
        rc = (np.atleast_2d(zm) - zd) * wt
        c = 0.5 * np.sum(rc.real**2 + rc.imag**2, axis=1)
    return np.where(np.isfinite(c), c, np.inf)


def levenberg_marquardt(circuit: Circuit, f: np.ndarray, z: np.ndarray, p0: np.ndarray,
                        max_iter: int = 200, ftol: float = 1e-10,
                        xtol: float = 1e-8) -> _BatchResult:
    """Batched Levenberg-Marquardt for one circuit over B spectra of N points each.

    Residuals ``(Z_model - Z) / |Z|`` (modulus weighting), parameters in log/logit
    space, analytic Jacobian, per-spectrum damping. ``f`` (B,N) Hz, ``z`` (B,N),
    ``p0`` (B,P) in natural units.
    """
    f = np.atleast_2d(np.asarray(f, dtype=float))
    zd = np.atleast_2d(np.asarray(z, dtype=complex))
    w = 2 * np.pi * f
    wt = 1.0 / np.maximum(np.abs(zd), 1e-300)
    theta0 = circuit.to_theta(np.atleast_2d(p0))
    b, npar = theta0.shape
    lo = np.where(circuit.is_alpha, _THETA_ALPHA_LO, theta0 - 40.0)
    hi = np.where(circuit.is_alpha, _THETA_ALPHA_HI, theta0 + 40.0)
    theta = np.clip(theta0, lo, hi)
    lam = np.full(b, 1e-3)
    r, jac = _residuals(circuit, theta, w, zd, wt)
    cost = 0.5 * np.sum(r * r, axis=1)
    cost0 = cost.copy()
    active = np.isfinite(cost)
    converged = np.zeros(b, bool)
    n_iter = np.zeros(b, int)
    eye = np.eye(npar)
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        ja, ra = jac[idx], r[idx]
        a = np.einsum("bni,bnj->bij", ja, ja)
        g = np.einsum("bni,bn->bi", ja, ra)
        dg = np.maximum(np.einsum("bii->bi", a), 1e-12)
        # a parameter on its bound whose descent direction points outward is held there
        th_i = theta[idx]
        hold = (((np.abs(th_i - lo[idx]) < 1e-9) & (g > 0))
                | ((np.abs(th_i - hi[idx]) < 1e-9) & (g < 0)))
        if np.any(hold):
            a = np.where(hold[:, :, None] | hold[:, None, :], 0.0, a)
            g = np.where(hold, 0.0, g)
            dg = np.where(hold, 1.0, dg)
            a = a + hold[:, :, None] * eye
        m = a + lam[idx, None, None] * dg[:, :, None] * eye
        try:
            step = -np.linalg.solve(m, g[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            step = -np.einsum("bij,bj->bi", np.linalg.pinv(m), g)
        step = np.clip(step, -3.0, 3.0)
        th_new = np.clip(theta[idx] + step, lo[idx], hi[idx])
        c_new = _cost(circuit, th_new, w[idx], zd[idx], wt[idx])
        n_iter[idx] += 1
        better = c_new < cost[idx]
        acc = idx[better]
        rej = idx[~better]
        lam[rej] = np.minimum(lam[rej] * 4.0, 1e12)
        if acc.size:
            old = cost[acc]
            dth = np.max(np.abs(th_new[better] - theta[acc]), axis=1)
            theta[acc] = th_new[better]
            cost[acc] = c_new[better]
            lam[acc] = np.maximum(lam[acc] / 3.0, 1e-12)
            r[acc], jac[acc] = _residuals(circuit, theta[acc], w[acc], zd[acc], wt[acc])
            done = ((old - cost[acc]) <= ftol * np.maximum(old, 1e-300)) | (dth < xtol)
            converged[acc[done]] = True
            active[acc[done]] = False
        # a rejected step with huge damping: at a minimum (or stuck)
        stuck = rej[lam[rej] >= 1e12]
        if stuck.size:
            converged[stuck] = True
            active[stuck] = False
    n_resid = 2 * f.shape[1]
    at_bound = (np.abs(theta - lo) < 1e-9) | (np.abs(theta - hi) < 1e-9)
    # covariance over the free parameters; a parameter at its bound counts as fixed
    # (zero variance, flagged "at-bound" by the caller)
    a = np.einsum("bni,bnj->bij", jac, jac)
    cov = np.full((b, npar, npar), np.nan)
    dof = n_resid - npar
    for i in range(b):
        free = ~at_bound[i]
        af = a[i][np.ix_(free, free)]
        if not np.all(np.isfinite(af)):
            continue
        s2 = 2 * cost[i] / max(n_resid - int(free.sum()), 1)
        d = np.sqrt(np.maximum(np.diag(af), 1e-300))
        an = af / np.outer(d, d)
        if np.linalg.cond(an) < 1e14:
            c = np.zeros((npar, npar))
            c[np.ix_(free, free)] = np.linalg.inv(an) / np.outer(d, d) * s2
            cov[i] = c
    moved = np.max(np.abs(theta - theta0), axis=1) > 1e-4
    return _BatchResult(params=circuit.from_theta(theta), cov_theta=cov, cost=cost,
                        cost0=cost0, n_iter=n_iter, converged=converged, moved=moved,
                        at_bound=at_bound, dof=max(dof, 1))


# --------------------------------------------------------------------------- records


@dataclasses.dataclass(frozen=True)
class KKResult(Record):
    """Lin-KK validity test (Schoenleber et al., Electrochim. Acta 131, 20 (2014)).

    Attributes
    ----------
    n_rc : int
        Number of RC elements used (chosen by impedance.py with mu < c = 0.85).
    mu : float
        Over/under-fitting measure.
    residual_rms, residual_max : float
        Relative residuals (fraction of |Z|) of the KK-compliant fit, real and imaginary.
    valid : bool
        rms < 2% and max < 5% (a heuristic: residuals at the noise level mean the data
        obey Kramers-Kronig, i.e. a linear, causal, stable system).
    """

    n_rc: int
    mu: float
    residual_rms: float
    residual_max: float
    valid: bool


@dataclasses.dataclass(frozen=True)
class Conductivity(Record):
    """Ionic conductivity of a pellet, sigma = L / (R A), A = pi d^2 / 4.

    Attributes
    ----------
    sigma_S_cm, sigma_err_S_cm : float
        Conductivity and its standard uncertainty (R and geometry propagated).
    resistance_ohm, resistance_err_ohm : float
    thickness_cm, thickness_err_cm, diameter_cm, diameter_err_cm, area_cm2 : float
    temperature_K : float or None
    provenance : Provenance
    """

    sigma_S_cm: float
    sigma_err_S_cm: float
    resistance_ohm: float
    resistance_err_ohm: float
    thickness_cm: float
    thickness_err_cm: float
    diameter_cm: float
    diameter_err_cm: float
    area_cm2: float
    temperature_K: float | None
    provenance: Provenance


@dataclasses.dataclass(frozen=True)
class EISFit(Record):
    """A fitted impedance spectrum.

    Attributes
    ----------
    circuit : str
        Circuit in impedance.py notation.
    parameter_names, parameter_units : tuple of str
    parameters, parameter_errors : tuple of float
        Best values and standard errors (natural units; errors from the Jacobian,
        scaled by the residual variance; nan where undetermined).
    r_bulk_ohm, r_bulk_err_ohm : float
        Resistor of the highest-frequency arc; if the circuit has no arc, the series
        resistance (bulk and grain boundaries then not separated).
    r_total_ohm, r_total_err_ohm : float
        Sum of all resistors (the intercept of the blocking tail with the real axis).
    rms_relative : float
        RMS of ``|Z_model - Z| / |Z|`` over real and imaginary parts.
    bic : float
        Bayesian information criterion of the modulus-weighted fit.
    n_iterations : int
    flags : tuple of str
        Problems found (``"at-bound:CPE1_1"``, ``"undetermined:CPE1_0"``, ``"kk-invalid"``,
        ``"poor-fit"``). Empty for a clean fit.
    candidates : tuple of (circuit, bic, accepted)
        What ``circuit="auto"`` tried.
    kk : KKResult or None
    conductivity : Conductivity or None
    spectrum : ImpedanceSpectrum
    provenance : Provenance
    """

    circuit: str
    parameter_names: tuple[str, ...]
    parameter_units: tuple[str, ...]
    parameters: tuple[float, ...]
    parameter_errors: tuple[float, ...]
    r_bulk_ohm: float
    r_bulk_err_ohm: float
    r_total_ohm: float
    r_total_err_ohm: float
    rms_relative: float
    bic: float
    n_iterations: int
    flags: tuple[str, ...]
    candidates: tuple[tuple[str, float, bool], ...]
    kk: KKResult | None
    conductivity: Conductivity | None
    spectrum: ImpedanceSpectrum
    provenance: Provenance

    @property
    def params(self) -> dict[str, float]:
        """Parameters by name."""
        return dict(zip(self.parameter_names, self.parameters, strict=True))

    @property
    def temperature_K(self) -> float | None:
        """Temperature of the spectrum, K."""
        return self.spectrum.temperature_K

    def model(self, frequency_Hz: np.ndarray) -> np.ndarray:
        """Model impedance (ohm) at frequencies (Hz)."""
        return Circuit(self.circuit).impedance(np.asarray(self.parameters),
                                               np.asarray(frequency_Hz, dtype=float))


# --------------------------------------------------------------------------- geometry


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
        raise UnitError(f"thickness {lcm:g} cm is more than 5x the diameter {dcm:g} cm: "
                        "are thickness and diameter swapped?")
    area = math.pi * dcm**2 / 4.0
    sigma = lcm / (resistance_ohm * area)
    rel_r = (resistance_err_ohm / resistance_ohm) if math.isfinite(resistance_err_ohm) else math.inf
    rel = math.sqrt(rel_r**2 + (lerr / lcm) ** 2 + (2 * derr / dcm) ** 2)
    return Conductivity(
        sigma_S_cm=sigma, sigma_err_S_cm=sigma * rel, resistance_ohm=float(resistance_ohm),
        resistance_err_ohm=float(resistance_err_ohm), thickness_cm=lcm, thickness_err_cm=lerr,
        diameter_cm=dcm, diameter_err_cm=derr, area_cm2=area, temperature_K=temperature_K,
        provenance=Provenance(method="eis-conductivity", parameters={"formula": "L/(R*pi*d^2/4)"}))


def resistance_for(sigma_S_cm: float, thickness: str | float, diameter: str | float) -> float:
    """Resistance (ohm) of a pellet of conductivity sigma (S/cm): ``R = L / (sigma A)``."""
    lcm, _ = parse_length(thickness)
    dcm, _ = parse_length(diameter)
    return lcm / (sigma_S_cm * math.pi * dcm**2 / 4.0)


# --------------------------------------------------------------------------- Lin-KK


def kramers_kronig(spectrum: ImpedanceSpectrum, c: float = 0.85, max_m: int = 50) -> KKResult:
    """Lin-KK test (complex fit, with a series capacitance for blocking tails).

    The number of RC elements M grows from ``2 x (decades of frequency)`` until
    mu < c. Uses impedance.py's linear regression (:func:`impedance.validation.fit_linKK`) and
    its time-constant grid; the loop over the number of RC elements and the residuals
    are computed here because impedance.py 1.7.1's ``linKK``/``eval_linKK`` build a
    string of ``repr``-ed numbers and ``eval`` it, which breaks under numpy 2
    (``np.float64(...)`` reprs raise NameError).
    """
    from impedance.validation import fit_linKK, get_tc_distribution

    f, z = spectrum.f, spectrum.z
    w = 2 * np.pi * f
    # impedance.py starts at M = 1 and stops at the first mu < c; on real spectra mu dips
    # below c erratically at small M (e.g. M = 3 for a plain R-RC dummy cell, leaving 4%
    # residuals). Starting at two time constants per decade avoids those false alarms.
    decades = math.log10(f.max() / f.min())
    m_start = int(min(max(1, math.ceil(2 * decades)), max_m))
    m, mu, elements, ts = m_start - 1, 1.0, None, None
    with np.errstate(all="ignore"):
        while mu > c and m < max_m:
            m += 1
            ts = get_tc_distribution(f, m)
            elements, mu = fit_linKK(f, ts, m, z, "complex", True)
        zfit = (elements[0] + np.sum(elements[1:m + 1, None] / (1 + 1j * w[None, :] * ts[:, None]),
                                     axis=0)
                + elements[-2] / (1j * w) + 1j * w * elements[-1])
    err = (z - zfit) / np.abs(z)
    res = np.concatenate([err.real, err.imag])
    rms = float(np.sqrt(np.mean(res**2)))
    mx = float(np.max(np.abs(res)))
    return KKResult(n_rc=int(m), mu=float(mu), residual_rms=rms, residual_max=mx,
                    valid=bool(rms < 0.02 and mx < 0.05))


# --------------------------------------------------------------------------- fitting

#: candidates tried by circuit="auto"
AUTO_TAIL = ("p(R1,CPE1)-CPE2", "R0-p(R1,CPE1)-CPE2", "R1-CPE2")
AUTO_TAIL_GB = ("p(R1,CPE1)-p(R2,CPE2)-CPE3",)
AUTO_NO_TAIL = ("p(R1,CPE1)", "R0-p(R1,CPE1)", "R1")
# (a series L0 is added to each candidate when the highest frequencies are inductive)
#: above this relative RMS residual a fit is flagged "poor-fit"; above 4x it is an error
POOR_FIT_RMS = 0.05
#: parameters whose log-uncertainty exceeds this are "undetermined" (a factor e)
UNDETERMINED_SIGMA = 1.0


def _candidates(circuit: str, features: SpectrumFeatures, grain_boundary: bool | None) -> list[str]:
    if circuit != "auto":
        return [circuit]
    if features.has_tail:
        cands = list(AUTO_TAIL)
        if grain_boundary is not False:
            cands += list(AUTO_TAIL_GB)
        if grain_boundary:
            cands = list(AUTO_TAIL_GB)
    else:
        cands = list(AUTO_NO_TAIL)
    if features.inductance_H > 0:  # positive Z'' at the top frequencies: leads' inductance
        cands = cands + [f"L0-{c}" for c in cands]
    return cands


@dataclasses.dataclass
class _Trial:
    circuit: Circuit
    params: np.ndarray
    cov_theta: np.ndarray
    cost: float
    cost0: float
    n_iter: int
    converged: bool
    moved: bool
    at_bound: np.ndarray
    dof: int
    n_resid: int

    @property
    def rms(self) -> float:
        return math.sqrt(2 * self.cost / self.n_resid)

    @property
    def bic(self) -> float:
        rss = max(2 * self.cost, 1e-300)
        return self.n_resid * math.log(rss / self.n_resid) + self.circuit.n_params * math.log(
            self.n_resid)

    def sigma_theta(self) -> np.ndarray:
        d = np.diag(self.cov_theta) if np.all(np.isfinite(self.cov_theta)) else np.full(
            self.circuit.n_params, np.nan)
        return np.sqrt(np.maximum(d, 0.0))

    def problems(self) -> list[str]:
        out = []
        if not np.all(np.isfinite(self.params)) or not math.isfinite(self.cost):
            return ["non-finite"]
        if not self.converged:
            out.append("not-converged")
        if not self.moved and self.rms > 0.02:
            out.append("did-not-move")
        st = self.sigma_theta()
        if not np.all(np.isfinite(st)):
            out.append("singular")
        else:
            dp = self.circuit.dparams_dtheta(self.params)
            for name, s, al, d in zip(self.circuit.names, st, self.circuit.is_alpha, dp,
                                      strict=True):
                # ln-parameters: sigma > 1 is a factor e; alpha: an absolute 0.2
                if (s * d > 0.2) if al else (s > UNDETERMINED_SIGMA):
                    out.append(f"undetermined:{name}")
        return out


def _fit_group(circuit_text: str, items: list[tuple[int, np.ndarray, np.ndarray,
                                                    SpectrumFeatures]],
               initial: np.ndarray | None) -> dict[int, _Trial]:
    """Fit one circuit to several spectra; spectra of equal length share one batch."""
    circ = Circuit(circuit_text)
    out: dict[int, _Trial] = {}
    by_len: dict[int, list] = {}
    for it in items:
        by_len.setdefault(it[1].size, []).append(it)
    for n, group in by_len.items():
        f = np.stack([g[1] for g in group])
        z = np.stack([g[2] for g in group])
        if initial is not None:
            p0 = np.tile(np.asarray(initial, dtype=float), (len(group), 1))
        else:
            p0 = np.stack([initial_guess(circ, g[1], g[2], g[3]) for g in group])
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            res = levenberg_marquardt(circ, f, z, p0)
        for k, g in enumerate(group):
            out[g[0]] = _Trial(circ, res.params[k], res.cov_theta[k], float(res.cost[k]),
                               float(res.cost0[k]), int(res.n_iter[k]), bool(res.converged[k]),
                               bool(res.moved[k]), res.at_bound[k], res.dof, 2 * n)
    return out


def _to_record(spec: ImpedanceSpectrum, trial: _Trial, cands, kk: KKResult | None,
               thickness, diameter, resistance: Resistance, strict: bool,
               method_params: dict) -> EISFit:
    circ = trial.circuit
    st = trial.sigma_theta()
    dp = circ.dparams_dtheta(trial.params)
    perr = np.where(np.isfinite(st), st * dp, np.nan)
    roles = circ.resistor_roles()
    cov = trial.cov_theta
    p = trial.params

    def _sum_err(ix: list[int]) -> tuple[float, float]:
        val = float(np.sum(p[ix]))
        g = np.zeros(circ.n_params)
        g[ix] = p[ix]  # d(sum R)/d ln R
        var = float(g @ cov @ g) if np.all(np.isfinite(cov)) else math.nan
        return val, math.sqrt(var) if var >= 0 else math.nan

    r_all = roles["all"]
    if not r_all:
        raise FitError(f"circuit {circ.text!r} has no resistor: no ionic resistance to report")
    r_tot, r_tot_err = _sum_err(r_all)
    if roles["arcs"]:  # bulk = the arc with the highest characteristic frequency
        first = max(roles["arcs"], key=lambda k: circ.arc_frequency(p, k))
        r_b, r_b_err = _sum_err([first])
    else:
        r_b, r_b_err = _sum_err(roles["series"] or r_all)
    flags = [f for f in trial.problems() if f.startswith("undetermined")]
    for name, b in zip(circ.names, trial.at_bound, strict=True):
        if b:
            flags.append(f"at-bound:{name}")
    if trial.rms > POOR_FIT_RMS:
        flags.append("poor-fit")
    if kk is not None and not kk.valid:
        flags.append("kk-invalid")
    if kk is not None and trial.rms > 3 * kk.residual_rms + 0.005:
        flags.append("model-misses-features")
    label = Path(spec.source).name or "spectrum"
    if strict:
        hard = [f for f in trial.problems() if not f.startswith("undetermined")]
        if hard:
            raise FitError(f"{label}: fit of {circ.text} failed ({', '.join(hard)}; rms residual "
                           f"{100 * trial.rms:.1f}%): try another circuit or check the data")
        if trial.rms > 4 * POOR_FIT_RMS:
            raise FitError(f"{label}: {circ.text} does not describe the data (rms residual "
                           f"{100 * trial.rms:.0f}% of |Z|): choose a circuit that matches the "
                           "spectrum's arcs and tail")
        if not math.isfinite(r_tot_err) or r_tot_err > r_tot:
            raise FitError(f"{label}: the resistance is not determined by the data "
                           f"(R = {r_tot:.3g} +- {r_tot_err:.3g} ohm); measure to higher "
                           "frequency or choose a simpler circuit")
    sig = None
    if thickness is not None and diameter is not None:
        r_use, r_use_err = (r_tot, r_tot_err) if resistance == "total" else (r_b, r_b_err)
        sig = conductivity(r_use, thickness, diameter, r_use_err, spec.temperature_K)
    return EISFit(
        circuit=circ.text, parameter_names=tuple(circ.names), parameter_units=tuple(circ.units),
        parameters=tuple(float(v) for v in p), parameter_errors=tuple(float(v) for v in perr),
        r_bulk_ohm=r_b, r_bulk_err_ohm=r_b_err, r_total_ohm=r_tot, r_total_err_ohm=r_tot_err,
        rms_relative=trial.rms, bic=trial.bic, n_iterations=trial.n_iter, flags=tuple(flags),
        candidates=tuple(cands), kk=kk, conductivity=sig, spectrum=spec,
        provenance=Provenance(method="eis-fit", parameters={
            "fitter": "halidelab batched Levenberg-Marquardt (log parameters, modulus weights)",
            "resistance": resistance, **method_params}))


def fit_spectra(
    spectra: Sequence[ImpedanceSpectrum],
    circuit: str = "auto",
    *,
    thickness: str | float | tuple[float, float] | None = None,
    diameter: str | float | tuple[float, float] | None = None,
    resistance: Resistance = "total",
    grain_boundary: bool | None = None,
    initial_guess: Sequence[float] | None = None,
    kk: bool = False,
    on_error: Literal["raise", "skip"] = "raise",
) -> list[EISFit | None]:
    """Fit many spectra at once (vectorised Levenberg-Marquardt per circuit).

    Parameters
    ----------
    spectra : list of ImpedanceSpectrum
    circuit : str
        ``"auto"`` (pick among pellet circuits by BIC) or an impedance.py circuit string.
    thickness, diameter : str or float, optional
        Pellet geometry (``"0.85mm"``; floats in cm); gives each fit a conductivity.
    resistance : {"total", "bulk"}
        Which resistance the conductivity uses.
    grain_boundary : bool, optional
        Force (True) or forbid (False) a grain-boundary arc in ``"auto"``; None: only
        when two arcs are seen.
    initial_guess : list of float, optional
        Start values (natural units, impedance.py order) instead of automatic guesses.
        For circuits with elements the fast fitter lacks, the fit is done with
        impedance.py's CustomCircuit (modulus-weighted) from this guess.
    kk : bool
        Run the Lin-KK test on each spectrum (slower, ~10 ms each).
    on_error : {"raise", "skip"}
        On a failed fit: raise FitError, or put None in the result list.

    Returns
    -------
    list of EISFit (or None where skipped)
    """
    if resistance not in ("total", "bulk"):
        raise FitError(f"resistance must be 'total' or 'bulk', not {resistance!r}")
    if (thickness is None) != (diameter is None):
        raise UnitError("give both thickness and diameter for a conductivity, or neither")
    spectra = list(spectra)
    if not spectra:
        raise FitError("no spectra to fit")
    if circuit != "auto":
        try:
            Circuit(circuit)
        except FitError:
            if initial_guess is None:
                raise
            return [_fit_impedance_py(s, circuit, initial_guess, thickness, diameter)
                    for s in spectra]
    feats = [spectrum_features(s.f, s.z) for s in spectra]
    cand_lists = [_candidates(circuit, ft, grain_boundary) for ft in feats]
    jobs: dict[str, list] = {}
    for i, (s, cl) in enumerate(zip(spectra, cand_lists, strict=True)):
        for c in cl:
            jobs.setdefault(c, []).append((i, s.f, s.z, feats[i]))
    trials: dict[int, dict[str, _Trial]] = {i: {} for i in range(len(spectra))}
    for c, items in jobs.items():
        for i, t in _fit_group(c, items, initial_guess if circuit != "auto" else None).items():
            trials[i][c] = t
    out: list[EISFit | None] = []
    for i, s in enumerate(spectra):
        tr = trials[i]
        ok = {c: t for c, t in tr.items() if not t.problems()}
        pool = ok or tr
        best_c = min(pool, key=lambda c: pool[c].bic)
        cands = tuple((c, float(t.bic), c in ok) for c, t in tr.items())
        kkres = kramers_kronig(s) if kk else None
        try:
            out.append(_to_record(s, tr[best_c], cands, kkres, thickness, diameter, resistance,
                                  strict=True, method_params={"circuit_request": circuit}))
        except FitError:
            if on_error == "raise":
                raise
            out.append(None)
    return out


def fit_spectrum(
    spectrum: ImpedanceSpectrum | str | Path,
    circuit: str = "auto",
    *,
    thickness: str | float | tuple[float, float] | None = None,
    diameter: str | float | tuple[float, float] | None = None,
    resistance: Resistance = "total",
    grain_boundary: bool | None = None,
    initial_guess: Sequence[float] | None = None,
    kk: bool = True,
) -> EISFit:
    """Fit one spectrum (or file) and, given the geometry, give its conductivity.

    See :func:`fit_spectra` for the parameters. Raises :class:`FitError` when the fit
    fails to converge, stays at its guess with a poor residual, cannot determine the
    resistance, or the circuit does not describe the data.
    """
    spec = spectrum if isinstance(spectrum, ImpedanceSpectrum) else read_spectrum(spectrum)
    res = fit_spectra([spec], circuit, thickness=thickness, diameter=diameter,
                      resistance=resistance, grain_boundary=grain_boundary,
                      initial_guess=initial_guess, kk=kk, on_error="raise")[0]
    assert res is not None
    return res


def _fit_impedance_py(spec: ImpedanceSpectrum, circuit: str, guess: Sequence[float],
                      thickness, diameter) -> EISFit:
    """Fallback for circuits with elements the fast fitter lacks: impedance.py, weighted."""
    import warnings

    from impedance.models.circuits import CustomCircuit

    try:
        cc = CustomCircuit(circuit, initial_guess=list(guess))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cc.fit(spec.f, spec.z, weight_by_modulus=True)
    except (ValueError, AssertionError, RuntimeError, TypeError) as exc:
        raise FitError(f"impedance.py could not fit {circuit!r}: {exc}") from None
    p = np.asarray(cc.parameters_, dtype=float)
    err = np.asarray(cc.conf_, dtype=float) if cc.conf_ is not None else np.full(p.size, np.nan)
    names, units = cc.get_param_names()
    zm = cc.predict(spec.f)
    rel = (zm - spec.z) / np.abs(spec.z)
    rms = float(np.sqrt(np.mean(np.concatenate([rel.real, rel.imag]) ** 2)))
    r_ix = [i for i, n in enumerate(names) if re.fullmatch(r"R\d*", n)]
    if not r_ix:
        raise FitError(f"circuit {circuit!r} has no resistor: no ionic resistance to report")
    r_tot = float(np.sum(p[r_ix]))
    r_err = float(np.sqrt(np.sum(err[r_ix] ** 2)))
    flags = ("poor-fit",) if rms > POOR_FIT_RMS else ()
    sig = (conductivity(r_tot, thickness, diameter, r_err, spec.temperature_K)
           if thickness is not None and diameter is not None else None)
    n_res = 2 * spec.n_points
    bic = n_res * math.log(max(rms**2, 1e-300)) + p.size * math.log(n_res)
    return EISFit(circuit=circuit, parameter_names=tuple(names), parameter_units=tuple(units),
                  parameters=tuple(p.tolist()), parameter_errors=tuple(err.tolist()),
                  r_bulk_ohm=float(p[r_ix[0]]), r_bulk_err_ohm=float(err[r_ix[0]]),
                  r_total_ohm=r_tot, r_total_err_ohm=r_err, rms_relative=rms, bic=bic,
                  n_iterations=-1, flags=flags, candidates=((circuit, bic, True),), kk=None,
                  conductivity=sig, spectrum=spec,
                  provenance=Provenance(method="eis-fit", parameters={
                      "fitter": "impedance.py CustomCircuit (weight_by_modulus)"}))


# --------------------------------------------------------------------------- simulation


def simulate_spectrum(
    circuit: str,
    params: Sequence[float],
    frequency_Hz: np.ndarray | None = None,
    noise: float = 0.0,
    seed: int | None = 0,
    temperature_K: float | None = None,
    source: str = "synthetic",
) -> ImpedanceSpectrum:
    """Impedance of a known circuit, optionally with proportional complex noise.

    ``Z_noisy = Z + noise |Z| (n1 + j n2)``, ``n1, n2 ~ N(0, 1)`` (so ``noise=0.01`` is
    1% of |Z| on each part). Default frequencies: 7 MHz to 0.1 Hz, 10 per decade.
    """
    f = np.logspace(np.log10(7e6), -1, 80) if frequency_Hz is None else np.asarray(frequency_Hz)
    z = Circuit(circuit).impedance(np.asarray(params, dtype=float), f)
    if noise:
        rng = np.random.default_rng(seed)
        z = z + noise * np.abs(z) * (rng.standard_normal(f.size) + 1j * rng.standard_normal(f.size))
    return ImpedanceSpectrum.from_arrays(f, z, source=source, instrument="synthetic",
                                         temperature_K=temperature_K, method="eis-simulate",
                                         parameters={"circuit": circuit,
                                                     "params": [float(v) for v in params],
                                                     "noise": noise, "seed": seed})


# --------------------------------------------------------------------------- figures


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _model_curve(fit: EISFit) -> tuple[np.ndarray, np.ndarray]:
    f = fit.spectrum.f
    ff = np.logspace(np.log10(f.max()), np.log10(f.min()), 300)
    return ff, fit.model(ff)


def plot_nyquist(data: EISFit | ImpedanceSpectrum | Sequence[EISFit | ImpedanceSpectrum],
                 path: str | Path | None = None, ax=None, labels: Sequence[str] | None = None,
                 zoom: float | None = None):
    """Nyquist plot (-Z'' vs Z', ohm, equal aspect); fits drawn as lines over the points.

    Parameters
    ----------
    data : EISFit or ImpedanceSpectrum, or a list of them
    path : str or Path, optional
        Write PNG/SVG/PDF (by suffix).
    ax : matplotlib Axes, optional
    labels : list of str, optional
    zoom : float, optional
        Show only Z' up to ``zoom`` times the largest total resistance (to see the arcs
        next to a long tail). Default: 2.5 when a fitted blocking tail would otherwise
        squeeze the arcs into a corner, else everything.
    """
    plt = _pyplot()
    items = list(data) if isinstance(data, list | tuple) else [data]
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.4, 4.0), dpi=150)
    else:
        fig = ax.figure
    labels = list(labels) if labels else [None] * len(items)
    xmax = 0.0
    r_tot = 0.0
    for i, (it, lab) in enumerate(zip(items, labels, strict=True)):
        spec = it.spectrum if isinstance(it, EISFit) else it
        z = spec.z
        if lab is None:
            lab = (f"{spec.temperature_K - 273.15:.0f} °C" if spec.temperature_K
                   else Path(spec.source).name)
        ax.plot(z.real, -z.imag, "o", ms=3.5, mfc="white", color=f"C{i}", label=lab)
        if isinstance(it, EISFit):
            _, zm = _model_curve(it)
            ax.plot(zm.real, -zm.imag, "-", color=f"C{i}", lw=1.2)
            r_tot = max(r_tot, it.r_total_ohm)
        xmax = max(xmax, float(np.max(z.real)), float(np.max(-z.imag)))
    if zoom is None and r_tot > 0 and xmax > 5 * r_tot:
        zoom = 2.5
    if zoom and r_tot > 0:
        xmax = zoom * r_tot
    lo = -0.05 * xmax  # start at the origin; inductive points below zero stay in view a bit
    ax.set_xlim(lo, xmax * 1.05)
    ax.set_ylim(lo, xmax * 1.05)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("Z′ (Ω)")
    ax.set_ylabel("−Z″ (Ω)")
    if any(lab for lab in labels) or len(items) > 1 or items:
        ax.legend(frameon=False, fontsize=7)
    if isinstance(items[0], EISFit) and len(items) == 1 and items[0].conductivity is not None:
        c = items[0].conductivity
        ax.set_title(f"σ = {c.sigma_S_cm * 1e3:.3g} ± {c.sigma_err_S_cm * 1e3:.2g} mS cm$^{{-1}}$",
                     fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path)
    return fig


def plot_bode(data: EISFit | ImpedanceSpectrum, path: str | Path | None = None):
    """Bode plot: |Z| (ohm, log) and -phase (degrees) against frequency (Hz, log)."""
    plt = _pyplot()
    spec = data.spectrum if isinstance(data, EISFit) else data
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(4.4, 4.6), dpi=150, sharex=True)
    f, z = spec.f, spec.z
    a1.loglog(f, np.abs(z), "o", ms=3.5, mfc="white", color="C0", label="data")
    a2.semilogx(f, -np.degrees(np.angle(z)), "o", ms=3.5, mfc="white", color="C0")
    if isinstance(data, EISFit):
        ff, zm = _model_curve(data)
        a1.loglog(ff, np.abs(zm), "-", color="C1", label=f"fit {data.circuit}")
        a2.semilogx(ff, -np.degrees(np.angle(zm)), "-", color="C1")
    a1.set_ylabel("|Z| (Ω)")
    a2.set_ylabel("−phase (°)")
    a2.set_xlabel("frequency (Hz)")
    a1.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path)
    return fig
