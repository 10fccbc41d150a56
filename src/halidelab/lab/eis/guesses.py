"""What the data say before any fit: intercepts, arc apexes, tail slope, and the initial
guesses built from them (no hand-set guesses).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from halidelab.lab.eis.circuits import Circuit, _Elem, _Node


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
    has_tail = bool(
        n >= 6
        and phase_end > 20
        and np.all(np.diff(ys[-k:]) > -0.02 * scale)
        and ys[-1] > ys[-k] + 0.01 * scale
    )
    # valley: walk back from the low-frequency end while -Z'' keeps falling
    valley = n - 1
    if has_tail:
        while valley > 0 and ys[valley - 1] <= ys[valley] + 0.03 * abs(ys[valley]) + 1e-12 * scale:
            valley -= 1
    # total resistance: extrapolate the tail to -Z'' = 0
    tail_alpha, tail_q = 0.9, 1e-6
    if has_tail:
        idx = np.arange(valley, n)
        lo = idx[len(idx) // 2 :] if len(idx) >= 6 else idx
        if lo.size >= 2 and np.ptp(y[lo]) > 0:
            b, a = np.polyfit(y[lo], x[lo], 1)  # x = a + b y
            tail_alpha = float(np.clip(2 / np.pi * np.arctan2(1.0, max(b, 1e-3)), 0.4, 0.999))
            r_total = float(np.clip(a, min(x[valley], x[: valley + 1].min()), x[valley]))
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
                rest = ys[apex : valley + 1]
                if rest.size >= 5:
                    dip = int(np.argmin(rest[: max(2, rest.size - 1)]))
                    if 0 < dip < rest.size - 2:
                        second = dip + int(np.argmax(rest[dip:]))
                        if rest[second] > rest[dip] * 1.1 and second < rest.size - 1:
                            j = apex + second
                            r1 = max(x[apex + dip] - r0, 1e-12)
                            arcs = [
                                (float(f[apex]), float(r1), alpha),
                                (float(f[j]), float(max(r_total - r0 - r1, 1e-3 * r1)), alpha),
                            ]
            elif apex == 0 and y[0] > 0:
                # apex above the window: tau from the first point of an R||C, y/x = omega tau
                tau = y[0] / max(x[0], 1e-300) / w[0]
                arcs.append((float(1 / (2 * np.pi * tau)), float(max(r_total, 1e-300)), 0.9))
    inductance = float(-y[0] / w[0]) if (y[0] < 0 and -y[0] > 0.002 * scale) else 0.0
    return SpectrumFeatures(
        r_hf_ohm=r_hf,
        r_total_ohm=max(r_total, 1e-12),
        has_tail=has_tail,
        tail_alpha=tail_alpha,
        tail_q=tail_q,
        arcs=tuple(arcs),
        arc_resolved=arc_resolved,
        inductance_H=inductance,
    )


def initial_guess(
    circuit: Circuit | str, f: np.ndarray, z: np.ndarray, features: SpectrumFeatures | None = None
) -> np.ndarray:
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
