"""Ensemble statistics: a prediction is a set of orderings, not one sample.

Every number halidelab predicts for a composition (lattice, volume per formula unit,
BVSE and NEB barriers, KMC sigma and Ea, E_hull) comes from N orderings of that
composition. :func:`ensemble_stat` turns the N values into a mean, the spread between
orderings (sample standard deviation) and the standard error of the mean, with the
weighting stated. A verdict about a difference ("Nb contracts the lattice", "the barrier
is lower at x = 0.2", "sigma peaks at x = 0.2") is printed only when it exceeds its
combined uncertainty (Welch's t-test at a stated level, :func:`compare`,
:func:`trend`, :func:`peak`); otherwise it says "not resolved at N orderings".

Weights: orderings sampled from a distribution (Monte Carlo snapshots of the ball-milled
state) are weighted uniformly; the annealed state's N lowest-Ewald-energy orderings are
also weighted uniformly (stated), because their MLIP energies differ by less than the
MLIP's own error and a Boltzmann weight at the annealing temperature would keep one of
them only, hiding the spread a user needs to see. ``weights`` can be given explicitly.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats as _st

from halidelab.errors import FitError
from halidelab.records import Record

#: Two-sided significance level of a verdict.
ALPHA = 0.05


@dataclasses.dataclass(frozen=True)
class EnsembleStat(Record):
    """Mean, spread and standard error of one quantity over the orderings.

    Attributes
    ----------
    mean : float
    std : float or None
        Sample standard deviation between orderings (None for one ordering).
    sem : float or None
        Standard error of the mean (None for one ordering).
    n : int
        Orderings with a value.
    values : tuple of float
    weighting : str
        ``uniform`` or a description of the weights used.
    """

    mean: float
    std: float | None
    sem: float | None
    n: int
    values: tuple[float, ...]
    weighting: str = "uniform"

    def interval(self, level: float = 0.95) -> tuple[float, float] | None:
        """Student-t confidence interval of the mean (None for one ordering)."""
        if self.sem is None or self.n < 2:
            return None
        t = float(_st.t.ppf(0.5 + level / 2, self.n - 1))
        return self.mean - t * self.sem, self.mean + t * self.sem

    def text(self, fmt: str = ".3f", unit: str = "") -> str:
        """``0.231 +- 0.012 (sd 0.02, N=3)``; one ordering says so."""
        u = f" {unit}" if unit else ""
        if self.sem is None:
            return f"{self.mean:{fmt}}{u} (1 ordering: no spread)"
        return f"{self.mean:{fmt}} +- {self.sem:{fmt}}{u} (sd {self.std:{fmt}}, N={self.n})"


def ensemble_stat(
    values: Sequence[float | None],
    weights: Sequence[float] | None = None,
    weighting: str | None = None,
    errors: Sequence[float | None] | None = None,
) -> EnsembleStat | None:
    """Mean, spread and standard error of the values that exist (None where a member
    has no value; None when none has).

    With ``weights`` the mean is weighted and the standard error uses Kish's effective
    sample size n_eff = (sum w)^2 / sum w^2. With ``errors`` (each member's own standard
    uncertainty, e.g. a KMC run-to-run error) the standard error is the larger of the
    between-ordering one and the propagated member errors, sqrt(sum (w_i err_i)^2): with
    two or three orderings the sample spread alone can be small by chance.
    """
    n_all = len(values)
    ws = weights if weights is not None else [1.0] * n_all
    es = errors if errors is not None else [None] * n_all
    triples = [
        (float(v), float(w), None if e is None else float(e))
        for v, w, e in zip(values, ws, es, strict=True)
        if v is not None and math.isfinite(float(v))
    ]
    if not triples:
        return None
    v = np.array([p[0] for p in triples])
    w = np.array([p[1] for p in triples])
    member_err = np.array(
        [p[2] if p[2] is not None and math.isfinite(p[2]) else 0.0 for p in triples]
    )
    if (w < 0).any() or w.sum() <= 0:
        raise FitError("ensemble weights must be >= 0 with a positive sum")
    w = w / w.sum()
    mean = float((w * v).sum())
    if len(v) < 2:
        return EnsembleStat(mean, None, None, 1, tuple(v.tolist()), weighting or "uniform")
    n_eff = 1.0 / float((w * w).sum())
    var = float((w * (v - mean) ** 2).sum()) * n_eff / max(n_eff - 1.0, 1e-12)
    std = math.sqrt(max(var, 0.0))
    sem = max(std / math.sqrt(n_eff), math.sqrt(float(((w * member_err) ** 2).sum())))
    return EnsembleStat(
        mean,
        std,
        sem,
        len(v),
        tuple(v.tolist()),
        weighting or ("uniform" if weights is None else "weighted"),
    )


@dataclasses.dataclass(frozen=True)
class Verdict(Record):
    """Whether a difference, trend or peak is resolved by the ensembles.

    Attributes
    ----------
    resolved : bool
        The effect exceeds its combined uncertainty at level ``alpha``.
    estimate : float
        The difference (b - a), slope, or the peak's margin over its neighbours.
    stderr : float or None
        Its combined standard error.
    p_value : float or None
        Two-sided (Welch t-test, or the t-test of the slope).
    alpha : float
    text : str
        One line for reports: the claim when resolved, ``not resolved at N orderings``
        with the numbers otherwise.
    """

    resolved: bool
    estimate: float
    stderr: float | None
    p_value: float | None
    alpha: float
    text: str


def _welch(a: EnsembleStat, b: EnsembleStat) -> tuple[float, float | None, float | None]:
    d = b.mean - a.mean
    if a.sem is None or b.sem is None:
        return d, None, None
    se = math.hypot(a.sem, b.sem)
    if se == 0:
        return d, 0.0, 0.0 if d != 0 else 1.0
    num = se**4
    den = (a.sem**4 / (a.n - 1)) + (b.sem**4 / (b.n - 1))
    dof = num / den if den > 0 else a.n + b.n - 2
    p = float(2 * _st.t.sf(abs(d) / se, dof))
    return d, se, p


def compare(
    a: EnsembleStat | None,
    b: EnsembleStat | None,
    claim: str,
    quantity: str = "",
    unit: str = "",
    alpha: float = ALPHA,
    fmt: str = ".3f",
) -> Verdict:
    """Is b - a resolved? ``claim`` is what is said when it is, in the direction of the
    sign found (e.g. "lower" / "higher" picked by the caller from ``estimate``)."""
    if a is None or b is None:
        return Verdict(False, math.nan, None, None, alpha, f"{quantity} not computed for both")
    d, se, p = _welch(a, b)
    n = min(a.n, b.n)
    if se is None:
        return Verdict(
            False,
            d,
            None,
            None,
            alpha,
            f"not resolved at {n} ordering{'s' if n != 1 else ''}: {quantity} differs by "
            f"{d:+{fmt}}{(' ' + unit) if unit else ''} with no spread to judge it (need >= 2 "
            "orderings)",
        )
    ok = p is not None and p < alpha and d != 0
    u = f" {unit}" if unit else ""
    nums = f"{d:+{fmt}} +- {se:{fmt}}{u}, p = {p:.2g}"
    return Verdict(
        ok,
        d,
        se,
        p,
        alpha,
        f"{claim} ({nums})"
        if ok
        else f"not resolved at N = {a.n}/{b.n} orderings ({quantity} {nums})",
    )


def trend(
    xs: Sequence[float],
    ys: Sequence[EnsembleStat | None],
    claim_up: str,
    claim_down: str,
    quantity: str = "",
    unit: str = "",
    alpha: float = ALPHA,
    fmt: str = ".3g",
) -> Verdict:
    """Weighted least-squares slope of the ensemble means against x, and whether it is
    resolved from zero (t-test with n_points - 2 degrees of freedom, errors from the
    standard errors of the means, scaled by the reduced chi^2 when the scatter is larger)."""
    pts = [(float(x), y) for x, y in zip(xs, ys, strict=True) if y is not None]
    if len(pts) < 3 or any(y.sem is None for _, y in pts):
        n = min((y.n for _, y in pts), default=0)
        return Verdict(
            False,
            math.nan,
            None,
            None,
            alpha,
            f"not resolved: a trend of {quantity} needs >= 3 compositions with >= 2 orderings "
            f"each (have {len(pts)} with N >= {n})",
        )
    x = np.array([p[0] for p in pts])
    y = np.array([p[1].mean for p in pts])
    s = np.array([max(p[1].sem, 1e-12) for p in pts])
    w = 1.0 / s**2
    a = np.stack([np.ones_like(x), x], axis=1)
    cov = np.linalg.inv(a.T @ (a * w[:, None]))
    coef = cov @ (a.T @ (w * y))
    resid = y - a @ coef
    dof = len(x) - 2
    chi2 = float((w * resid**2).sum()) / dof if dof > 0 else 0.0
    se = math.sqrt(cov[1, 1] * max(1.0, chi2))
    slope = float(coef[1])
    p = float(2 * _st.t.sf(abs(slope) / se, max(dof, 1))) if se > 0 else 0.0
    ok = p < alpha and slope != 0
    u = f" {unit}" if unit else ""
    nums = f"slope {slope:+{fmt}} +- {se:{fmt}}{u} per unit x, p = {p:.2g}"
    claim = claim_up if slope > 0 else claim_down
    return Verdict(
        ok, slope, se, p, alpha, f"{claim} ({nums})" if ok else f"not resolved ({quantity} {nums})"
    )


def peak(
    xs: Sequence[float],
    ys: Sequence[EnsembleStat | None],
    quantity: str = "",
    unit: str = "",
    alpha: float = ALPHA,
    fmt: str = ".3g",
    maximum: bool = True,
) -> Verdict:
    """Does the quantity peak inside the series, resolved against both neighbours?

    The extreme ensemble mean must differ from the next point on each side by more than
    their combined uncertainty (Welch, ``alpha`` each side); an extreme at the end of the
    series is "no interior peak".
    """
    pts = [(float(x), y) for x, y in zip(xs, ys, strict=True) if y is not None]
    if len(pts) < 3:
        return Verdict(
            False, math.nan, None, None, alpha, "not resolved: a peak needs >= 3 compositions"
        )
    pts.sort(key=lambda p: p[0])
    sign = 1.0 if maximum else -1.0
    k = int(np.argmax([sign * p[1].mean for p in pts]))
    word = "peaks" if maximum else "has its minimum"
    if k in (0, len(pts) - 1):
        return Verdict(
            False,
            math.nan,
            None,
            None,
            alpha,
            f"no interior {'maximum' if maximum else 'minimum'}: {quantity} is extreme at the end "
            f"of the series (x = {pts[k][0]:g})",
        )
    sides = [_welch(pts[k][1], pts[k + j][1]) for j in (-1, 1)]
    if any(se is None for _, se, _ in sides):
        return Verdict(
            False,
            math.nan,
            None,
            None,
            alpha,
            f"not resolved: {quantity} is extreme at x = {pts[k][0]:g} but needs >= 2 orderings "
            "per x",
        )
    margin = min(abs(d) for d, _, _ in sides)
    pmax = max(p for _, _, p in sides)
    ok = pmax < alpha
    se = max(se for _, se, _ in sides)
    u = f" {unit}" if unit else ""
    txt = (
        f"{quantity} {word} at x = {pts[k][0]:g} (margin {margin:{fmt}}{u} over the neighbours, p "
        f"<= {pmax:.2g})"
        if ok
        else f"not resolved at these orderings ({quantity} extreme at x = {pts[k][0]:g}, "
        f"margin {margin:{fmt}}{u}, p = {pmax:.2g})"
    )
    return Verdict(ok, margin, se, pmax, alpha, txt)


# -- one composition's orderings -> its ensemble statistics -------------------------------

#: Quantities :func:`summarize_members` reports, in display order.
MEMBER_QUANTITIES = (
    "a_A",
    "c_A",
    "v_fu_A3",
    "e_atom_eV",
    "m_off_ordered_sites",
    "bvse_1d_eV",
    "bvse_3d_eV",
    "neb_1d_eV",
    "neb_3d_eV",
    "kmc_bvse_log10_sigma",
    "kmc_bvse_ea_eV",
    "kmc_neb_log10_sigma",
    "kmc_neb_ea_eV",
    "haven_ratio",
)


def kmc_usable_points(k: dict[str, Any]) -> list[dict[str, Any]]:
    """The KMC temperatures its Arrhenius fit used: diffusive, and the conductivity of its
    ``average`` (the orientation average, or a random polycrystal's when the run was asked
    for that) resolved from zero."""
    from halidelab.transport.kmc.run import usable_point

    average = k.get("average") or "orientation"
    return [p for p in k.get("points") or [] if usable_point(p, average)]


def kmc_room_temperature_problem(k: dict[str, Any]) -> str | None:
    """Why a stored KMC result (its ``kmc`` dict) gives no value at 25 C (None: it does);
    every consumer (validate, compare, screen, the reference case's ensembles) applies it.

    Its sigma(25 C) must not be extrapolated further than the run asked: the Arrhenius fit
    needs the lowest temperature that was run (25 C by default; measured on the reference
    set: every KMC fit of an ordered or annealed model has it, and fits of
    cation-disordered milled cells without it reached Ea down to -0.02 eV from 75-100 C),
    and a thermally activated Ea is positive."""
    if k.get("sigma_25C_S_cm") is None:
        return None  # no fit at all (validate's kmc_explain says why)
    lowest = min((p.get("temperature_K", 0.0) for p in k.get("points") or []), default=None)
    used = sorted(p.get("temperature_K", 0.0) for p in kmc_usable_points(k))
    if lowest is None or not used or used[0] > lowest + 0.5:
        span = f"{used[0]:g}-{used[-1]:g} K" if used else "no temperature"
        return (
            f"the lowest temperature run ({lowest or 0:g} K) was not diffusive and resolved: "
            f"sigma(25 C) would be extrapolated from {span}"
        )
    ea = k.get("ea_eV")
    if ea is not None and ea <= 0:
        return f"the Arrhenius fit gives a negative Ea ({ea:.3f} eV): not thermally activated"
    return None


def kmc_room_temperature_upper(k: dict[str, Any]) -> float | None:
    """Upper limit on sigma(25 C), S/cm, of a stored KMC result (its ``kmc`` dict) that
    gives no value there because its lowest temperature run (25 C by default) was not
    diffusive: that point's ``sigma_upper_S_cm`` (:class:`~halidelab.transport.kmc.run.
    KMCPoint`: the long-time conductivity cannot exceed what the runs' longest lag shows).
    None when the result gives a value at 25 C, when its lowest run was blocked (no hop
    possible: a full sublattice conducts through defects the network does not make, about
    which the run says nothing) or diffusive, and for records written before the bound
    existed."""
    if k.get("sigma_25C_S_cm") is not None and kmc_room_temperature_problem(k) is None:
        return None
    points = k.get("points") or []
    if not points:
        return None
    low = min(points, key=lambda p: p.get("temperature_K", 0.0))
    upper = low.get("sigma_upper_S_cm")
    if low.get("diffusive") or upper is None or not math.isfinite(upper) or upper <= 0:
        return None
    return float(upper)


def kmc_no_value(results: Sequence[dict[str, Any] | None]) -> dict[str, Any] | None:
    """What a composition's KMC says at 25 C where it ran but no ordering gives a value.

    Parameters
    ----------
    results : sequence of dict or None
        One stored ``kmc`` task result per ordering (None: not run on that ordering).

    Returns
    -------
    dict or None
        None when no ordering ran or one gives a value. Else ``n_run`` (orderings with a
        result), ``n_orderings``, ``n_limits`` and ``upper_log10_sigma_S_cm``: the mean
        over the orderings of log10 of each one's upper limit
        (:func:`kmc_room_temperature_upper`) when every ordering ran and has one (each
        limit is above its ordering's sigma, so their mean is above the mean the ensemble
        would give: the rule validation's parity uses), else None; and ``reason``, a
        phrase.
    """
    ran = [r for r in results if r]
    if not ran or any(_kmc_values(r)[0] is not None for r in ran):
        return None
    limits = [kmc_room_temperature_upper(r.get("kmc") or {}) for r in ran]
    got = [u for u in limits if u is not None]
    upper = (
        float(np.mean([math.log10(u) for u in got]))
        if got and len(got) == len(ran) == len(results)
        else None
    )
    if upper is not None:
        reason = "upper limit: sub-diffusive at 25 C on every ordering (mean of their log10 limits)"
    else:
        reason = (
            f"no value at 25 C on the {len(ran)} of {len(results)} orderings run"
            + (f" ({len(got)} with an upper limit)" if got else "")
            + " (`halidelab kmc` says why for one structure)"
        )
    return {
        "n_run": len(ran),
        "n_orderings": len(results),
        "n_limits": len(got),
        "upper_log10_sigma_S_cm": upper,
        "reason": reason,
    }


def _kmc_values(res: dict[str, Any] | None) -> tuple[float | None, ...]:
    """(log10 sigma(25 C), Ea, Haven ratio at the lowest T, log10 error, Ea error) of a
    stored ``kmc`` task result; the log10 error is half the width of the 68 % interval."""
    if not res:
        return None, None, None, None, None
    k = res["kmc"]
    haven = k["points"][0].get("haven_ratio") if k.get("points") else None
    if kmc_room_temperature_problem(k) is not None:  # extrapolated, or Ea <= 0: no value
        return None, None, haven, None, None
    s = k.get("sigma_25C_S_cm")
    lo, hi = k.get("sigma_25C_low_S_cm"), k.get("sigma_25C_high_S_cm")
    s_err = 0.5 * (math.log10(hi) - math.log10(lo)) if lo and hi and lo > 0 else None
    return (
        (math.log10(s) if s and s > 0 else None),
        k.get("ea_eV"),
        haven,
        s_err,
        k.get("ea_err_eV"),
    )


def summarize_members(members: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any] | None]:
    """Ensemble statistics of one composition in one state over its orderings.

    Parameters
    ----------
    members : sequence of dict
        One per ordering, with any of: ``relax`` (stored relax result), ``bvse``, ``neb``
        (NEB study), ``kmc_bvse`` / ``kmc_neb`` (stored kmc results), ``disorder``, and
        ``supercell_matrix`` + ``n_formula_units`` (for the lattice per prototype cell).

    Returns
    -------
    dict
        For each key of :data:`MEMBER_QUANTITIES` an :class:`EnsembleStat` as a dict
        (None where no ordering has it); KMC values carry each member's own error. And
        ``kmc_bvse_no_value`` / ``kmc_neb_no_value``: :func:`kmc_no_value` of each network's
        KMC (None unless it ran and no ordering gives a value).
    """
    from halidelab.structures.models import primitive_lattice

    vals: dict[str, list[float | None]] = {k: [] for k in MEMBER_QUANTITIES}
    errs: dict[str, list[float | None]] = {k: [] for k in MEMBER_QUANTITIES}
    for m in members:
        r = m.get("relax")
        lat = None
        if r and m.get("supercell_matrix") is not None:
            lat = primitive_lattice(r["structure"], m["supercell_matrix"])
            vol = abs(
                float(np.linalg.det(np.asarray(r["structure"]["lattice"]["matrix"], dtype=float)))
            )
            lat["v_fu_A3"] = vol / m["n_formula_units"]
        perc = (m.get("neb") or {}).get("percolation") or {}
        b = m.get("bvse") or {}
        row = {
            "a_A": lat and lat["a_A"],
            "c_A": lat and lat["c_A"],
            "v_fu_A3": lat and lat["v_fu_A3"],
            "e_atom_eV": r.get("energy_per_atom_eV") if r else None,
            "m_off_ordered_sites": (m.get("disorder") or {}).get("m_off_ordered_sites"),
            "bvse_1d_eV": b.get("e_1d_eV"),
            "bvse_3d_eV": b.get("e_3d_eV"),
            "neb_1d_eV": perc.get("ea_1d_eV"),
            "neb_3d_eV": perc.get("ea_3d_eV"),
        }
        err: dict[str, float | None] = {}
        for src in ("bvse", "neb"):
            kv = _kmc_values(m.get(f"kmc_{src}"))
            row[f"kmc_{src}_log10_sigma"], row[f"kmc_{src}_ea_eV"] = kv[0], kv[1]
            err[f"kmc_{src}_log10_sigma"], err[f"kmc_{src}_ea_eV"] = kv[3], kv[4]
            if src == "bvse":
                row["haven_ratio"] = kv[2]
        for k in MEMBER_QUANTITIES:
            vals[k].append(row.get(k))
            errs[k].append(err.get(k))
    out: dict[str, dict[str, Any] | None] = {}
    for k in MEMBER_QUANTITIES:
        stat = ensemble_stat(
            vals[k], errors=errs[k] if any(e is not None for e in errs[k]) else None
        )
        out[k] = stat.to_dict() if stat else None
    for src in ("bvse", "neb"):
        out[f"kmc_{src}_no_value"] = kmc_no_value([m.get(f"kmc_{src}") for m in members])
    return out
