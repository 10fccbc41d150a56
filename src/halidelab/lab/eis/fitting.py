"""Automatic equivalent-circuit fits of impedance spectra.

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
from halidelab.lab.eis.circuits import Circuit
from halidelab.lab.eis.conductivity import conductivity
from halidelab.lab.eis.guesses import SpectrumFeatures, initial_guess, spectrum_features
from halidelab.lab.eis.records import EISFit, KKResult
from halidelab.lab.eis.validation import kramers_kronig
from halidelab.lab.eis_io import ImpedanceSpectrum, read_spectrum
from halidelab.records import Provenance

Resistance = Literal["total", "bulk"]
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


def levenberg_marquardt(
    circuit: Circuit,
    f: np.ndarray,
    z: np.ndarray,
    p0: np.ndarray,
    max_iter: int = 200,
    ftol: float = 1e-10,
    xtol: float = 1e-8,
    fixed: np.ndarray | None = None,
) -> _BatchResult:
    """Batched Levenberg-Marquardt for one circuit over B spectra of N points each.

    Residuals ``(Z_model - Z) / |Z|`` (modulus weighting), parameters in log/logit
    space, analytic Jacobian, per-spectrum damping. ``f`` (B,N) Hz, ``z`` (B,N),
    ``p0`` (B,P) in natural units. ``fixed`` (B,P) or (P,) bool holds parameters at
    ``p0`` (zero variance; the temperature series fixes an arc's capacitance this way
    when the arc lies outside the frequency window).
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
    fix = (
        np.zeros((b, npar), bool)
        if fixed is None
        else np.broadcast_to(np.asarray(fixed, dtype=bool), (b, npar))
    )
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
        hold = (
            ((np.abs(th_i - lo[idx]) < 1e-9) & (g > 0))
            | ((np.abs(th_i - hi[idx]) < 1e-9) & (g < 0))
            | fix[idx]
        )
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
    at_bound = ((np.abs(theta - lo) < 1e-9) | (np.abs(theta - hi) < 1e-9)) & ~fix
    # covariance over the free parameters; a parameter at its bound counts as fixed
    # (zero variance, flagged "at-bound" by the caller)
    a = np.einsum("bni,bnj->bij", jac, jac)
    cov = np.full((b, npar, npar), np.nan)
    dof = n_resid - npar
    for i in range(b):
        free = ~at_bound[i] & ~fix[i]
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
    return _BatchResult(
        params=circuit.from_theta(theta),
        cov_theta=cov,
        cost=cost,
        cost0=cost0,
        n_iter=n_iter,
        converged=converged,
        moved=moved,
        at_bound=at_bound,
        dof=max(dof, 1),
    )


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
            self.n_resid
        )

    def sigma_theta(self) -> np.ndarray:
        d = (
            np.diag(self.cov_theta)
            if np.all(np.isfinite(self.cov_theta))
            else np.full(self.circuit.n_params, np.nan)
        )
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
            for name, s, al, d in zip(
                self.circuit.names, st, self.circuit.is_alpha, dp, strict=True
            ):
                # ln-parameters: sigma > 1 is a factor e; alpha: an absolute 0.2
                if (s * d > 0.2) if al else (s > UNDETERMINED_SIGMA):
                    out.append(f"undetermined:{name}")
        return out


def _fit_group(
    circuit_text: str,
    items: list[tuple[int, np.ndarray, np.ndarray, SpectrumFeatures]],
    initial: np.ndarray | None,
) -> dict[int, _Trial]:
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
            out[g[0]] = _Trial(
                circ,
                res.params[k],
                res.cov_theta[k],
                float(res.cost[k]),
                float(res.cost0[k]),
                int(res.n_iter[k]),
                bool(res.converged[k]),
                bool(res.moved[k]),
                res.at_bound[k],
                res.dof,
                2 * n,
            )
    return out


def _to_record(
    spec: ImpedanceSpectrum,
    trial: _Trial,
    cands,
    kk: KKResult | None,
    thickness,
    diameter,
    resistance: Resistance,
    strict: bool,
    method_params: dict,
) -> EISFit:
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
            raise FitError(
                f"{label}: fit of {circ.text} failed ({', '.join(hard)}; rms residual "
                f"{100 * trial.rms:.1f}%): try another circuit or check the data"
            )
        if trial.rms > 4 * POOR_FIT_RMS:
            raise FitError(
                f"{label}: {circ.text} does not describe the data (rms residual "
                f"{100 * trial.rms:.0f}% of |Z|): choose a circuit that matches the "
                "spectrum's arcs and tail"
            )
        if not math.isfinite(r_tot_err) or r_tot_err > r_tot:
            raise FitError(
                f"{label}: the resistance is not determined by the data "
                f"(R = {r_tot:.3g} +- {r_tot_err:.3g} ohm); measure to higher "
                "frequency or choose a simpler circuit"
            )
    sig = None
    if thickness is not None and diameter is not None:
        r_use, r_use_err = (r_tot, r_tot_err) if resistance == "total" else (r_b, r_b_err)
        sig = conductivity(r_use, thickness, diameter, r_use_err, spec.temperature_K)
    return EISFit(
        circuit=circ.text,
        parameter_names=tuple(circ.names),
        parameter_units=tuple(circ.units),
        parameters=tuple(float(v) for v in p),
        parameter_errors=tuple(float(v) for v in perr),
        r_bulk_ohm=r_b,
        r_bulk_err_ohm=r_b_err,
        r_total_ohm=r_tot,
        r_total_err_ohm=r_tot_err,
        rms_relative=trial.rms,
        bic=trial.bic,
        n_iterations=trial.n_iter,
        flags=tuple(flags),
        candidates=tuple(cands),
        kk=kk,
        conductivity=sig,
        spectrum=spec,
        provenance=Provenance(
            method="eis-fit",
            parameters={
                "fitter": "halidelab batched Levenberg-Marquardt (log parameters, modulus weights)",
                "resistance": resistance,
                **method_params,
            },
        ),
    )


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
            return [
                _fit_impedance_py(s, circuit, initial_guess, thickness, diameter) for s in spectra
            ]
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
            out.append(
                _to_record(
                    s,
                    tr[best_c],
                    cands,
                    kkres,
                    thickness,
                    diameter,
                    resistance,
                    strict=True,
                    method_params={"circuit_request": circuit},
                )
            )
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
    res = fit_spectra(
        [spec],
        circuit,
        thickness=thickness,
        diameter=diameter,
        resistance=resistance,
        grain_boundary=grain_boundary,
        initial_guess=initial_guess,
        kk=kk,
        on_error="raise",
    )[0]
    assert res is not None
    return res


def _fit_impedance_py(
    spec: ImpedanceSpectrum, circuit: str, guess: Sequence[float], thickness, diameter
) -> EISFit:
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
    sig = (
        conductivity(r_tot, thickness, diameter, r_err, spec.temperature_K)
        if thickness is not None and diameter is not None
        else None
    )
    n_res = 2 * spec.n_points
    bic = n_res * math.log(max(rms**2, 1e-300)) + p.size * math.log(n_res)
    return EISFit(
        circuit=circuit,
        parameter_names=tuple(names),
        parameter_units=tuple(units),
        parameters=tuple(p.tolist()),
        parameter_errors=tuple(err.tolist()),
        r_bulk_ohm=float(p[r_ix[0]]),
        r_bulk_err_ohm=float(err[r_ix[0]]),
        r_total_ohm=r_tot,
        r_total_err_ohm=r_err,
        rms_relative=rms,
        bic=bic,
        n_iterations=-1,
        flags=flags,
        candidates=((circuit, bic, True),),
        kk=None,
        conductivity=sig,
        spectrum=spec,
        provenance=Provenance(
            method="eis-fit",
            parameters={"fitter": "impedance.py CustomCircuit (weight_by_modulus)"},
        ),
    )
