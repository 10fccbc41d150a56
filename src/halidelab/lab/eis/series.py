"""A temperature series of impedance spectra fitted as one analysis.

Fitting each spectrum on its own (:func:`~halidelab.lab.eis.fitting.fit_spectra`) lets
the circuit and the meaning of "bulk" change from one temperature to the next: on a
halide pellet the bulk arc sits above the frequency window at room temperature and
comes into view only when cold, so one temperature's "first arc" is the bulk and the
next one's is the grain boundary, and a bulk activation energy built from them is
wrong (issue 15: 1.68 eV instead of ~0.5). Here (:func:`fit_series`):

1. one circuit for the whole series, ``p(R1,CPE1)-p(R2,CPE2)[-CPE3]`` (bulk arc, grain
   boundary arc, blocking electrode when the data show a tail); where the tail is
   absent at some temperature the circuit drops ``CPE3`` there and the notes say so;
2. every spectrum is fitted from guesses built from its own data, then the series is
   walked outward from the best-determined temperature, each fit starting from its
   neighbour's solution (resistances moved along the Arrhenius trend seen so far,
   capacitances kept); the better of the two starts is kept (BIC), the chained one on a
   tie, so the series stays on one branch;
3. an arc whose capacitance the data cannot determine (it lies outside the window) has
   its CPE held at the neighbour's capacitance, and the point says so;
4. arcs are named by their capacitance, not their order: the smaller ``C * L / A`` is the
   bulk. Each class must stay physical (Irvine, Sinclair & West, Adv. Mater. 2, 132
   (1990), for a cell constant ``L/A`` of 1/cm: bulk ~1e-12 F, grain boundary
   1e-11-1e-8 F, electrode interface 1e-7-1e-5 F);
5. resistances must follow a smooth Arrhenius trend: a temperature whose ``ln(R/T)``
   lies off the line through the others is refitted from that line's prediction; if it
   stays off (or a capacitance stays unphysical, or R is undetermined) the point is
   excluded from that resistance's Arrhenius fit, with the reason recorded;
6. optionally (``joint=True``) all spectra are fitted at once with each resistance
   constrained to ``R_k(T) = R_k(T0) (T/T0) exp(Ea_k/k (1/T - 1/T0))``, which gives the
   activation energies directly with their covariance.

Conductivities are ``sigma = L / (R A)``; Arrhenius fits use ``sigma T`` (the
``sigma_T`` model) weighted by the resistance errors only: the geometry error is one
scale factor common to every temperature and moves the prefactor, not Ea.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from halidelab.arrhenius import ArrheniusFit, fit_arrhenius
from halidelab.constants import K_B_EV_K, ROOM_TEMPERATURE_K
from halidelab.errors import DataFormatError, FitError
from halidelab.lab.blas import one_blas_thread
from halidelab.lab.eis.circuits import Circuit
from halidelab.lab.eis.conductivity import parse_length
from halidelab.lab.eis.fitting import _to_record, _Trial, levenberg_marquardt
from halidelab.lab.eis.guesses import initial_guess, spectrum_features
from halidelab.lab.eis.records import EISFit
from halidelab.lab.eis_io import ImpedanceSpectrum
from halidelab.records import Provenance, Record

#: the series circuit: bulk arc, grain-boundary arc (+ "-CPE3", the blocking electrode)
SERIES_CIRCUIT = "p(R1,CPE1)-p(R2,CPE2)"
#: physical ranges of C * L / A (F/cm) per class (Irvine, Sinclair & West 1990, widened
#: by a factor ~10 each way for CPE effective capacitances)
C_RANGES_F_CM: dict[str, tuple[float, float]] = {"bulk": (1e-14, 1e-10), "gb": (1e-12, 1e-7)}
#: a point whose ln(R/T) is further than this from the line through the others is off-trend
OFF_TREND_LN = 0.15
#: which parameters of the series circuit: R1, (Q1, a1), R2, (Q2, a2), (Q3, a3)
_R = (0, 3)
_CPE = ((1, 2), (4, 5))


@dataclasses.dataclass(frozen=True)
class SeriesPoint(Record):
    """One temperature of a series fit.

    Attributes
    ----------
    temperature_K : float
    source : str
    circuit : str
    r_bulk_ohm, r_bulk_err_ohm, r_gb_ohm, r_gb_err_ohm, r_total_ohm, r_total_err_ohm : float
        Bulk and grain-boundary resistances (named by capacitance) and their sum.
    c_bulk_F, c_gb_F : float
        Effective capacitances ``(R Q)^(1/alpha) / R`` of the two arcs.
    start : str
        Where the accepted fit started (``"data"``, ``"chained from 273.2 K"``,
        ``"Arrhenius trend"``).
    flags : tuple of str
        What is wrong or was held (``"bulk capacitance held at 2.5e-11 F"``, ``"off-trend:
        bulk"``, ``"unphysical capacitance: gb"``...).
    fit : EISFit
    """

    temperature_K: float
    source: str
    circuit: str
    r_bulk_ohm: float
    r_bulk_err_ohm: float
    r_gb_ohm: float
    r_gb_err_ohm: float
    r_total_ohm: float
    r_total_err_ohm: float
    c_bulk_F: float
    c_gb_F: float
    rms_relative: float
    start: str
    flags: tuple[str, ...]
    fit: EISFit


@dataclasses.dataclass(frozen=True)
class JointArrhenius(Record):
    """Activation energies from one fit of all spectra with Arrhenius-constrained R.

    ``ea_*`` in eV with standard errors (scaled by the reduced chi^2 of the joint fit);
    ``r25_*`` are R at 298.15 K in ohm.
    """

    ea_bulk_eV: float
    ea_bulk_err_eV: float
    ea_gb_eV: float
    ea_gb_err_eV: float
    r25_bulk_ohm: float
    r25_gb_ohm: float
    rms_relative: float
    n_temperatures: int


@dataclasses.dataclass(frozen=True)
class SeriesFit(Record):
    """A temperature series fitted as one analysis (see the module docstring).

    Attributes
    ----------
    points : tuple of SeriesPoint
        In increasing temperature.
    thickness_cm, diameter_cm : float
    arrhenius_bulk, arrhenius_gb, arrhenius_total : ArrheniusFit or None
        ``sigma T`` fits over the points not excluded (None with fewer than two).
    excluded : tuple of (resistance, temperature_K, reason)
        Points left out of an Arrhenius fit and why.
    joint : JointArrhenius or None
    notes : tuple of str
        Circuit changes, duplicates dropped, refits done.
    provenance : Provenance
    """

    points: tuple[SeriesPoint, ...]
    thickness_cm: float
    diameter_cm: float
    arrhenius_bulk: ArrheniusFit | None
    arrhenius_gb: ArrheniusFit | None
    arrhenius_total: ArrheniusFit | None
    excluded: tuple[tuple[str, float, str], ...]
    joint: JointArrhenius | None
    notes: tuple[str, ...]
    provenance: Provenance

    @property
    def temperatures_K(self) -> tuple[float, ...]:
        """Temperatures of the points, K."""
        return tuple(p.temperature_K for p in self.points)

    def arrhenius(self, resistance: str) -> ArrheniusFit | None:
        """The Arrhenius fit of ``"bulk"``, ``"gb"`` or ``"total"``."""
        if resistance not in ("bulk", "gb", "total"):
            raise FitError(f"resistance must be bulk, gb or total, not {resistance!r}")
        return getattr(self, f"arrhenius_{resistance}")

    def excluded_for(self, resistance: str) -> list[tuple[float, str]]:
        """(temperature_K, reason) of the points left out of that Arrhenius fit."""
        return [(t, why) for r, t, why in self.excluded if r == resistance]


# --------------------------------------------------------------------------- helpers


def c_effective(r_ohm: float, q: float, alpha: float) -> float:
    """Effective capacitance (F) of ``R || CPE``: ``C = (R Q)^(1/alpha) / R`` (Hsu & Mansfeld)."""
    return float((r_ohm * q) ** (1.0 / alpha) / r_ohm)


def _caps(p: np.ndarray) -> list[float]:
    """Effective capacitances of the two arcs of the series circuit."""
    return [c_effective(p[_R[k]], p[_CPE[k][0]], p[_CPE[k][1]]) for k in (0, 1)]


def _bulk_slot(p: np.ndarray) -> int:
    """Which arc (0 or 1) of the series circuit is the bulk: the smaller capacitance."""
    c = _caps(p)
    return 0 if c[0] <= c[1] else 1


def _q_for(c_F: float, r_ohm: float, alpha: float) -> float:
    return float(c_F**alpha * r_ohm ** (alpha - 1.0))


def _dedupe(spectra: Sequence[ImpedanceSpectrum]) -> tuple[list[ImpedanceSpectrum], list[str]]:
    """Drop repeated copies of one measurement (same data): they add no information."""
    out: list[ImpedanceSpectrum] = []
    notes: list[str] = []
    seen: dict[tuple, str] = {}
    for s in spectra:
        key = (s.frequency_Hz, s.z_real_ohm, s.z_imag_ohm)
        if key in seen:
            notes.append(f"{s.source} holds the same data as {seen[key]}: counted once")
            continue
        seen[key] = s.source
        out.append(s)
    return out, notes


def _trial(
    circ: Circuit, spec: ImpedanceSpectrum, p0: np.ndarray, fixed: np.ndarray | None = None
) -> _Trial:
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        res = levenberg_marquardt(
            circ,
            spec.f[None, :],
            spec.z[None, :],
            p0[None, :],
            fixed=None if fixed is None else fixed[None, :],
        )
    return _Trial(
        circ,
        res.params[0],
        res.cov_theta[0],
        float(res.cost[0]),
        float(res.cost0[0]),
        int(res.n_iter[0]),
        bool(res.converged[0]),
        bool(res.moved[0]),
        res.at_bound[0],
        res.dof,
        2 * spec.n_points,
    )


def _undetermined_cpe(trial: _Trial, k: int) -> bool:
    names = trial.circuit.names
    bad = {p.split(":", 1)[1] for p in trial.problems() if p.startswith("undetermined:")}
    return any(names[i] in bad for i in _CPE[k])


def _ok(trial: _Trial) -> bool:
    hard = [p for p in trial.problems() if not p.startswith("undetermined:")]
    return not hard and math.isfinite(trial.cost)


def _r_err(trial: _Trial, i: int) -> float:
    st = trial.sigma_theta()
    return float(st[i] * trial.params[i]) if np.isfinite(st[i]) else math.nan


@dataclasses.dataclass
class _State:
    trial: _Trial
    start: str
    flags: list[str]


# --------------------------------------------------------------------------- the series


def two_arcs_resolved(spectra: Sequence[ImpedanceSpectrum], margin: float = 10.0) -> bool:
    """Whether any spectrum needs two arcs: the two-arc circuit beats one arc by ``margin``
    in BIC with both resistances determined (else bulk and grain boundary cannot be
    separated anywhere in the series)."""
    for s in spectra:
        ft = spectrum_features(s.f, s.z)
        tail = "-CPE3" if ft.has_tail else ""
        one, two = Circuit("p(R1,CPE1)" + tail), Circuit(SERIES_CIRCUIT + tail)
        t1 = _trial(one, s, initial_guess(one, s.f, s.z, ft))
        t2 = _trial(two, s, initial_guess(two, s.f, s.z, ft))
        if not _ok(t2):
            continue
        errs = [_r_err(t2, i) for i in _R]
        determined = all(
            math.isfinite(e) and e < 0.5 * t2.params[i] for e, i in zip(errs, _R, strict=True)
        )
        if determined and t2.bic < (t1.bic if _ok(t1) else math.inf) - margin:
            return True
    return False


def fit_series(
    spectra: Sequence[ImpedanceSpectrum],
    *,
    thickness: str | float | tuple[float, float],
    diameter: str | float | tuple[float, float],
    joint: bool = False,
    model: str = "sigma_T",
) -> SeriesFit:
    """Fit a temperature series of pellet spectra as one analysis.

    Parameters
    ----------
    spectra : list of ImpedanceSpectrum
        Each with a temperature (file name, metadata, or given); any order.
    thickness, diameter : str or float or (value, error)
        Pellet geometry (``"0.85mm"``; floats in cm).
    joint : bool
        Also fit all spectra at once with Arrhenius-constrained resistances.
    model : {"sigma_T", "plain"}
        Arrhenius model of the conductivity fits (ln(sigma T) or ln sigma vs 1/T).

    Returns
    -------
    SeriesFit

    Raises
    ------
    DataFormatError
        A spectrum without a temperature.
    FitError
        Fewer than two distinct temperatures, or no temperature could be fitted.
    """
    lcm, _ = parse_length(thickness)
    dcm, _ = parse_length(diameter)
    area = math.pi * dcm**2 / 4.0
    cell = lcm / area  # 1/cm
    missing = [s.source for s in spectra if s.temperature_K is None]
    if missing:
        raise DataFormatError(
            f"no temperature for {', '.join(missing)}: put it in the file "
            "name (pellet_25C.mpt) or pass --temperatures"
        )
    specs, notes = _dedupe(spectra)
    specs.sort(key=lambda s: float(s.temperature_K))
    temps = np.array([float(s.temperature_K) for s in specs])
    if np.unique(temps).size < 2:
        raise FitError(
            f"{len(specs)} spectra but one temperature ({temps[0]:.2f} K): a series "
            "needs two or more"
        )
    feats = [spectrum_features(s.f, s.z) for s in specs]
    tail = [ft.has_tail for ft in feats]
    major = sum(tail) * 2 >= len(tail)
    circs: list[Circuit] = []
    for s, t_has in zip(specs, tail, strict=True):
        circs.append(Circuit(SERIES_CIRCUIT + ("-CPE3" if t_has else "")))
        if t_has != major:
            notes.append(
                f"{s.source}: {'a' if t_has else 'no'} blocking-electrode tail, unlike "
                f"most of the series: circuit {circs[-1].text} there"
            )

    # 1. every spectrum from its own data
    own = [
        _trial(c, s, initial_guess(c, s.f, s.z, ft))
        for c, s, ft in zip(circs, specs, feats, strict=True)
    ]

    def score(tr: _Trial) -> tuple[int, float]:
        return (len(tr.problems()), tr.rms)

    anchor = min(range(len(specs)), key=lambda i: score(own[i]))
    states: dict[int, _State] = {anchor: _State(own[anchor], "data", [])}
    _hold_undetermined(states[anchor], circs[anchor], specs[anchor], None)

    # 2. walk outward from the anchor, each fit from its neighbour
    for direction in (1, -1):
        i = anchor + direction
        while 0 <= i < len(specs):
            j = i - direction
            guess, fixed_from = _chained_guess(states, j, i, direction, temps, circs, specs, feats)
            chained = _State(
                _trial(circs[i], specs[i], guess), f"chained from {temps[j]:.1f} K", []
            )
            _hold_undetermined(chained, circs[i], specs[i], fixed_from)
            mine = _State(own[i], "data", [])
            _hold_undetermined(mine, circs[i], specs[i], fixed_from)
            states[i] = _pick(chained, mine)
            i += direction

    # 3. name arcs by capacitance, check capacitances, then the Arrhenius trend
    points = [_point(states[i], specs[i], cell) for i in range(len(specs))]
    points, trend_notes = _enforce_trend(points, states, specs, circs, temps, cell)
    notes += trend_notes
    excluded: list[tuple[str, float, str]] = []
    fits = {}
    for res in ("bulk", "gb", "total"):
        use_t, use_s, use_e = [], [], []
        for pt in points:
            reason = _exclusion(pt, res)
            if reason:
                excluded.append((res, pt.temperature_K, reason))
                continue
            r, dr = _resistance(pt, res)
            use_t.append(pt.temperature_K)
            use_s.append(cell / r)
            use_e.append(cell / r * dr / r)
        fits[res] = None
        if len(set(use_t)) >= 2:
            try:
                fits[res] = fit_arrhenius(
                    use_t, use_s, use_e, quantity="sigma", model=model, method=f"eis-series-{res}"
                )
            except FitError as exc:
                notes.append(f"{res}: no Arrhenius fit ({exc})")
        else:
            notes.append(f"{res}: fewer than two usable temperatures, no Arrhenius fit")
    jnt = _joint_fit(points, specs, circs) if joint else None
    return SeriesFit(
        points=tuple(points),
        thickness_cm=lcm,
        diameter_cm=dcm,
        arrhenius_bulk=fits["bulk"],
        arrhenius_gb=fits["gb"],
        arrhenius_total=fits["total"],
        excluded=tuple(excluded),
        joint=jnt,
        notes=tuple(notes),
        provenance=Provenance(
            method="eis-series",
            parameters={
                "circuit": SERIES_CIRCUIT + ("-CPE3" if major else ""),
                "anchor_K": temps[anchor],
                "off_trend_ln": OFF_TREND_LN,
                "c_ranges_F_cm": C_RANGES_F_CM,
                "joint": joint,
            },
        ),
    )


def _chained_guess(states, j, i, direction, temps, circs, specs, feats):
    """Neighbour j's solution moved to temperature i; and the CPE values to hold if needed."""
    prev = states[j].trial
    ci = circs[i]
    p = np.full(ci.n_params, np.nan)
    n = min(prev.params.size, ci.n_params)
    p[:n] = prev.params[:n]
    if ci.n_params > prev.params.size:  # a tail appears: take it from the data
        p[6:8] = initial_guess(ci, specs[i].f, specs[i].z, feats[i])[6:8]
    # Arrhenius step for each resistance: Ea from the last two accepted points on this
    # side, else the data's total-resistance ratio
    k2 = j - direction
    for r_ix in _R:
        if k2 in states and 0 <= k2 < len(temps):
            r1, r2 = states[k2].trial.params[r_ix], prev.params[r_ix]
            x1, x2 = 1 / temps[k2], 1 / temps[j]
            slope = (math.log(r2 / temps[j]) - math.log(r1 / temps[k2])) / (x2 - x1)
            ratio = (temps[i] / temps[j]) * math.exp(slope * (1 / temps[i] - 1 / temps[j]))
        else:
            ratio = feats[i].r_total_ohm / max(feats[j].r_total_ohm, 1e-300)
        p[r_ix] = prev.params[r_ix] * ratio
    held = {}
    for k, (qi, ai) in enumerate(_CPE):
        c = c_effective(prev.params[_R[k]], prev.params[qi], prev.params[ai])
        p[qi] = _q_for(c, p[_R[k]], prev.params[ai])
        held[k] = (p[qi], prev.params[ai], c)
    return p, held


def _hold_undetermined(state: _State, circ: Circuit, spec: ImpedanceSpectrum, held) -> None:
    """Refit with an arc's CPE held at the neighbour's capacitance when the data cannot
    determine it (the arc lies outside the window)."""
    tr = state.trial
    if held is None:
        return
    fixed = np.zeros(circ.n_params, bool)
    p0 = tr.params.copy()
    for k in (0, 1):
        if _undetermined_cpe(tr, k):
            qi, ai = _CPE[k]
            q, a, c = held[k]
            p0[qi] = _q_for(c, p0[_R[k]], a)
            p0[ai] = a
            fixed[[qi, ai]] = True
            state.flags.append(
                f"{('bulk', 'gb')[k]}-arc capacitance held at {c:.3g} F "
                "(not determined by the data: the arc is outside or at the "
                "edge of the window)"
            )
    if fixed.any():
        state.trial = _trial(circ, spec, p0, fixed)


def _bic(tr: _Trial) -> float:
    return tr.bic if _ok(tr) else math.inf


def _pick(chained: _State, mine: _State) -> _State:
    """The better start by BIC; the chained one unless the other is clearly better."""
    return mine if _bic(mine.trial) < _bic(chained.trial) - 2.0 else chained


def _point(state: _State, spec: ImpedanceSpectrum, cell: float) -> SeriesPoint:
    tr = state.trial
    p = tr.params
    caps = _caps(p)
    b = _bulk_slot(p)
    g = 1 - b
    flags = list(state.flags)
    if b == 1:
        flags = [
            f.replace("bulk-arc", "tmp").replace("gb-arc", "bulk-arc").replace("tmp", "gb-arc")
            for f in flags
        ]
    for name, k in (("bulk", b), ("gb", g)):
        lo, hi = C_RANGES_F_CM[name]
        cn = caps[k] * cell
        if not lo <= cn <= hi:
            flags.append(
                f"unphysical capacitance: {name} C*L/A = {cn:.2g} F/cm (expected {lo:.0e}-{hi:.0e})"
            )
    errs = [_r_err(tr, i) for i in _R]
    cov = tr.cov_theta
    g_vec = np.zeros(tr.circuit.n_params)
    g_vec[list(_R)] = p[list(_R)]
    var = float(g_vec @ cov @ g_vec) if np.all(np.isfinite(cov)) else math.nan
    fit = _to_record(
        spec,
        tr,
        ((tr.circuit.text, tr.bic, _ok(tr)),),
        None,
        None,
        None,
        "total",
        strict=False,
        method_params={"series": True},
    )
    return SeriesPoint(
        temperature_K=float(spec.temperature_K),
        source=spec.source,
        circuit=tr.circuit.text,
        r_bulk_ohm=float(p[_R[b]]),
        r_bulk_err_ohm=errs[b],
        r_gb_ohm=float(p[_R[g]]),
        r_gb_err_ohm=errs[g],
        r_total_ohm=float(p[0] + p[3]),
        r_total_err_ohm=math.sqrt(var) if var >= 0 else math.nan,
        c_bulk_F=caps[b],
        c_gb_F=caps[g],
        rms_relative=tr.rms,
        start=state.start,
        flags=tuple(flags),
        fit=fit,
    )


def _resistance(pt: SeriesPoint, res: str) -> tuple[float, float]:
    return {
        "bulk": (pt.r_bulk_ohm, pt.r_bulk_err_ohm),
        "gb": (pt.r_gb_ohm, pt.r_gb_err_ohm),
        "total": (pt.r_total_ohm, pt.r_total_err_ohm),
    }[res]


def _exclusion(pt: SeriesPoint, res: str) -> str | None:
    r, dr = _resistance(pt, res)
    if not (math.isfinite(dr) and dr < r):
        return f"R_{res} not determined by the data ({r:.3g} +- {dr:.3g} ohm)"
    for f in pt.flags:
        if res == "total" and f.startswith("off-trend:"):
            return f"its {f.split(': ')[1]} resistance is off the Arrhenius trend"
        if res != "total" and f.startswith(f"unphysical capacitance: {res}"):
            return f
        if res != "total" and f == f"off-trend: {res}":
            return f"off the Arrhenius trend of the other temperatures ({res})"
    if pt.fit.flags and "poor-fit" in pt.fit.flags:
        return f"poor fit (rms {100 * pt.rms_relative:.1f}% of |Z|)"
    return None


def _loo_residuals(t: np.ndarray, r: np.ndarray, use: np.ndarray) -> np.ndarray:
    """Residual of each point's ln(R/T) from the line in 1/T through the other used points."""
    y = np.log(r / t)
    x = 1.0 / t
    out = np.full(t.size, np.nan)
    for i in range(t.size):
        m = use & (np.arange(t.size) != i)
        if np.unique(x[m]).size < 3:
            continue
        c = np.polyfit(x[m], y[m], 1)
        out[i] = y[i] - np.polyval(c, x[i])
    return out


def _enforce_trend(points, states, specs, circs, temps, cell):
    """Refit temperatures off the Arrhenius line of the others; flag those that stay off.

    Worst point first; a flagged point leaves the line the others are judged against;
    at most a third of the points can be flagged per resistance.
    """
    notes: list[str] = []
    if len(points) < 4:
        return points, notes
    for name in ("bulk", "gb"):
        use = np.ones(len(points), bool)
        for _ in range(len(points) // 3):
            r = np.array([_resistance(p, name)[0] for p in points])
            res = _loo_residuals(temps, r, use)
            res[~use] = np.nan
            if not np.any(np.isfinite(res)):
                break
            i = int(np.nanargmax(np.abs(res)))
            if abs(res[i]) <= OFF_TREND_LN:
                break
            m = use & (np.arange(len(points)) != i)
            guess = states[i].trial.params.copy()
            caps = _caps(guess)
            b = _bulk_slot(guess)
            for k in (0, 1):
                nm = "bulk" if k == b else "gb"
                rr = np.array([_resistance(p, nm)[0] for p in points])
                c = np.polyfit(1 / temps[m], np.log(rr[m] / temps[m]), 1)
                pred = temps[i] * math.exp(np.polyval(c, 1 / temps[i]))
                guess[_R[k]] = pred
                guess[_CPE[k][0]] = _q_for(caps[k], pred, guess[_CPE[k][1]])
            refit = _State(_trial(circs[i], specs[i], guess), "Arrhenius trend", [])
            candidate = _point(refit, specs[i], cell)
            trial_points = list(points)
            trial_points[i] = candidate
            r2 = np.array([_resistance(p, name)[0] for p in trial_points])
            res2 = _loo_residuals(temps, r2, use)
            if (
                _ok(refit.trial)
                and abs(res2[i]) <= OFF_TREND_LN
                and refit.trial.bic <= states[i].trial.bic + 10.0
            ):
                points = trial_points
                states[i] = refit
                notes.append(
                    f"{specs[i].source}: {name} resistance was off the Arrhenius "
                    "trend; refitted from the trend of the other temperatures"
                )
                continue
            use[i] = False
            points[i] = dataclasses.replace(
                points[i], flags=(*points[i].flags, f"off-trend: {name}")
            )
            notes.append(
                f"{specs[i].source}: {name} resistance {abs(res[i]):.2f} (in ln R) off "
                "the Arrhenius trend of the other temperatures and a refit from the "
                f"trend did not fix it: left out of the {name} Arrhenius fit"
            )
    return points, notes


# --------------------------------------------------------------------------- joint fit


def _joint_fit(points, specs, circs) -> JointArrhenius | None:
    """All spectra at once: ln R_k(T) = ln R_k(T0) + ln(T/T0) + Ea_k/k (1/T - 1/T0)."""
    from scipy.optimize import least_squares

    t0 = ROOM_TEMPERATURE_K
    temps = np.array([p.temperature_K for p in points])
    # per temperature: which parameter holds bulk (0) and gb (1)
    order = [(_R[b], _R[1 - b]) for b in (_bulk_slot(np.asarray(p.fit.parameters)) for p in points)]
    nt = len(points)
    # global: ln R0_b, Ea_b, ln R0_g, Ea_g; per T: the non-resistor parameters in theta
    x0 = []
    for k in (0, 1):
        r = np.array([(p.r_bulk_ohm, p.r_gb_ohm)[k] for p in points])
        c = np.polyfit(1 / temps - 1 / t0, np.log(r / temps) + math.log(t0), 1)
        x0 += [c[1], c[0] * K_B_EV_K]
    locals_ix = []
    for p, circ in zip(points, circs, strict=True):
        th = circ.to_theta(np.asarray(p.fit.parameters))
        ix = [i for i in range(circ.n_params) if i not in _R]
        locals_ix.append(ix)
        x0 += list(th[ix])
    x0 = np.asarray(x0, dtype=float)

    def unpack(x):
        out, pos = [], 4
        for i in range(nt):
            circ = circs[i]
            th = np.empty(circ.n_params)
            ix = locals_ix[i]
            th[ix] = x[pos : pos + len(ix)]
            pos += len(ix)
            dx = 1 / temps[i] - 1 / t0
            for k in (0, 1):
                th[order[i][k]] = x[2 * k] + math.log(temps[i] / t0) + x[2 * k + 1] / K_B_EV_K * dx
            out.append(th)
        return out

    def resid(x):
        rs = []
        for i, th in enumerate(unpack(x)):
            zm = circs[i].impedance(circs[i].from_theta(th), specs[i].f)
            r = (zm - specs[i].z) / np.abs(specs[i].z)
            rs.append(np.concatenate([r.real, r.imag]))
        return np.concatenate(rs)

    def jac(x):
        rows = []
        pos = 4
        n_tot = x.size
        for i, th in enumerate(unpack(x)):
            circ = circs[i]
            p = circ.from_theta(th)
            w = 2 * np.pi * specs[i].f[None, :]
            _, dz = circ.jacobian(p[None, :], w)
            dz = dz[0] / np.abs(specs[i].z)[:, None]
            d = np.concatenate([dz.real, dz.imag])  # (2N, P) d r / d theta
            block = np.zeros((d.shape[0], n_tot))
            dx = 1 / temps[i] - 1 / t0
            for k in (0, 1):
                col = d[:, order[i][k]]
                block[:, 2 * k] = col
                block[:, 2 * k + 1] = col * dx / K_B_EV_K
            ix = locals_ix[i]
            block[:, pos : pos + len(ix)] = d[:, ix]
            pos += len(ix)
            rows.append(block)
        return np.vstack(rows)

    lo = np.full(x0.size, -np.inf)
    hi = np.full(x0.size, np.inf)
    pos = 4
    for i in range(nt):
        for ix in locals_ix[i]:
            if circs[i].is_alpha[ix]:
                lo[pos], hi[pos] = math.log(0.2 / 0.8), math.log(0.9999 / 0.0001)
            pos += 1
    x0 = np.clip(x0, lo + 1e-9, hi - 1e-9)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), one_blas_thread():
        sol = least_squares(resid, x0, jac=jac, bounds=(lo, hi), method="trf", max_nfev=200)
    if not np.all(np.isfinite(sol.x)):
        return None
    j = sol.jac
    dof = max(j.shape[0] - j.shape[1], 1)
    s2 = 2 * sol.cost / dof
    try:
        cov = np.linalg.pinv(j.T @ j) * s2
    except np.linalg.LinAlgError:  # pragma: no cover
        cov = np.full((x0.size, x0.size), np.nan)
    err = np.sqrt(np.clip(np.diag(cov)[:4], 0, None))
    return JointArrhenius(
        ea_bulk_eV=float(sol.x[1]),
        ea_bulk_err_eV=float(err[1]),
        ea_gb_eV=float(sol.x[3]),
        ea_gb_err_eV=float(err[3]),
        r25_bulk_ohm=float(math.exp(sol.x[0])),
        r25_gb_ohm=float(math.exp(sol.x[2])),
        rms_relative=float(math.sqrt(2 * sol.cost / j.shape[0])),
        n_temperatures=nt,
    )
