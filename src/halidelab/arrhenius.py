"""Arrhenius fits for measured and computed transport: sigma(T) and D(T).

One module for both streams of the project: conductivities from impedance spectra
(:mod:`halidelab.lab.eis`) and diffusion coefficients from molecular dynamics.

Models (``k_B`` in eV/K, ``T`` in K)::

    "sigma_T":  sigma * T = A exp(-Ea / (k_B T))     fit ln(sigma T) vs 1/T  (default, sigma)
    "plain":    y         = A exp(-Ea / (k_B T))     fit ln(y) vs 1/T        (default, D)

The fit is a weighted linear least-squares fit in ``ln y`` vs ``1/T``. Given absolute
uncertainties ``dy`` become weights ``1/(dy/y)^2`` (first-order error propagation into
``ln y``); when the scatter is larger than the stated errors (reduced chi^2 > 1) the
covariance is scaled up by chi^2_red (Birge ratio), never down. Without uncertainties
the covariance comes from the residual scatter (needs at least three temperatures).

Checks that come with every fit, as warnings in :attr:`ArrheniusFit.warnings` (and
Python ``UserWarning`` where a prediction is made):

- curvature: a quadratic term in 1/T whose t-test is significant (p < 0.01, four or
  more temperatures) means the plot bends (a phase transition, a change of mechanism,
  grain boundaries taking over) and one Ea does not describe the data;
- extrapolation: predicting further outside the fitted 1/T range than half that range.

References: the ln(sigma T) form follows from the Nernst-Einstein relation
sigma = n q^2 D / (k_B T) with D = D0 exp(-Ea/k_B T) (e.g. Bachman et al., Chem. Rev.
116, 140 (2016)).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from scipy import stats

from halidelab.constants import K_B_EV_K, ROOM_TEMPERATURE_K, ZERO_C_K
from halidelab.errors import FitError
from halidelab.records import Provenance, Record

Model = Literal["sigma_T", "plain"]
Quantity = Literal["sigma", "D"]

#: default units of the fitted quantity
_DEFAULT_UNIT = {"sigma": "S/cm", "D": "cm^2/s"}
#: warn when predicting this many fitted 1/T ranges outside the range
EXTRAPOLATION_WARN_SPANS: float = 0.5
#: p-value below which the quadratic (curvature) term counts as significant
CURVATURE_P_WARN: float = 0.01


class ArrheniusWarning(UserWarning):
    """An Arrhenius result that needs care (curvature, extrapolation)."""


@dataclasses.dataclass(frozen=True)
class ArrheniusPrediction(Record):
    """A value predicted from an Arrhenius fit at one temperature.

    Attributes
    ----------
    temperature_K : float
        Temperature of the prediction.
    value : float
        Predicted sigma (S/cm) or D (cm^2/s), in ``unit``.
    low, high : float
        Interval bounds at ``level`` (log-normal, from the fit covariance).
    level : float
        Probability content of the interval (0.683 = one standard deviation).
    unit : str
        Unit of ``value``.
    extrapolated : bool
        True when ``temperature_K`` lies outside the fitted range.
    warning : str or None
        Set when the prediction is far outside the fitted range.
    """

    temperature_K: float
    value: float
    low: float
    high: float
    level: float
    unit: str
    extrapolated: bool
    warning: str | None = None


@dataclasses.dataclass(frozen=True)
class ArrheniusFit(Record):
    """Result of an Arrhenius fit (frozen).

    Attributes
    ----------
    ea_eV, ea_err_eV : float
        Activation energy and its standard uncertainty, eV.
    ln_prefactor, ln_prefactor_err : float
        ``ln A`` and its standard uncertainty; ``A`` in :attr:`prefactor_unit`.
    cov_lnA_ea : float
        Covariance of ``ln A`` and ``Ea`` (eV); with the two variances it is the
        full 2x2 covariance used for predictions.
    model : str
        ``"sigma_T"`` (ln(sigma T) vs 1/T) or ``"plain"`` (ln y vs 1/T).
    quantity : str
        ``"sigma"`` or ``"D"``.
    unit : str
        Unit of the fitted quantity (``"S/cm"``, ``"cm^2/s"``).
    temperature_K, values, errors : tuple of float
        The data fitted (errors empty when none were given).
    chi2_red : float
        Reduced chi^2 (weighted when errors were given; 1 by construction otherwise).
    curvature_t, curvature_p : float
        t statistic and two-sided p-value of a quadratic term in 1/T (nan with
        fewer than four temperatures).
    value_25C, value_25C_low, value_25C_high : float
        Prediction at 298.15 K with its one-standard-deviation interval.
    warnings : tuple of str
        Curvature, poor chi^2, extrapolation to 25 C.
    provenance : Provenance
    """

    ea_eV: float
    ea_err_eV: float
    ln_prefactor: float
    ln_prefactor_err: float
    cov_lnA_ea: float
    model: str
    quantity: str
    unit: str
    temperature_K: tuple[float, ...]
    values: tuple[float, ...]
    errors: tuple[float, ...]
    chi2_red: float
    curvature_t: float
    curvature_p: float
    value_25C: float
    value_25C_low: float
    value_25C_high: float
    warnings: tuple[str, ...]
    provenance: Provenance

    @property
    def prefactor(self) -> float:
        """Prefactor ``A`` in :attr:`prefactor_unit`."""
        return math.exp(self.ln_prefactor)

    @property
    def prefactor_unit(self) -> str:
        """Unit of the prefactor (``S K/cm`` for the sigma*T model)."""
        if self.model == "sigma_T":
            return f"{self.unit} K".replace("S/cm K", "S K/cm")
        return self.unit

    @property
    def t_min_K(self) -> float:
        """Lowest fitted temperature, K."""
        return min(self.temperature_K)

    @property
    def t_max_K(self) -> float:
        """Highest fitted temperature, K."""
        return max(self.temperature_K)

    def _ln_value(self, temperature_K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = np.asarray(temperature_K, dtype=float)
        g_ea = -1.0 / (K_B_EV_K * t)
        ln_y = self.ln_prefactor + g_ea * self.ea_eV
        if self.model == "sigma_T":
            ln_y = ln_y - np.log(t)
        var = self.ln_prefactor_err**2 + g_ea**2 * self.ea_err_eV**2 + 2.0 * g_ea * self.cov_lnA_ea
        return ln_y, np.sqrt(np.maximum(var, 0.0))

    def value(self, temperature_K: float | np.ndarray) -> float | np.ndarray:
        """Central value of sigma (S/cm) or D (cm^2/s) at ``temperature_K`` (K)."""
        ln_y, _ = self._ln_value(np.asarray(temperature_K, dtype=float))
        out = np.exp(ln_y)
        return float(out) if np.ndim(out) == 0 else out

    def predict(
        self, temperature_K: float = ROOM_TEMPERATURE_K, level: float = 0.6827
    ) -> ArrheniusPrediction:
        """Predict the fitted quantity at one temperature with an interval.

        Parameters
        ----------
        temperature_K : float
            Temperature in K (default 298.15 K = 25 C).
        level : float
            Probability content of the interval; the interval is
            ``exp(ln y +/- z sigma_ln y)`` with the full parameter covariance.

        Returns
        -------
        ArrheniusPrediction
            Warns (:class:`ArrheniusWarning`) when far outside the fitted range.
        """
        if not 0 < level < 1:
            raise FitError(f"interval level must be between 0 and 1, got {level}")
        if temperature_K <= 0:
            raise FitError(f"temperature must be positive in K, got {temperature_K}")
        ln_y, s = self._ln_value(np.asarray(temperature_K, dtype=float))
        z = stats.norm.ppf(0.5 + level / 2.0)
        msg = _extrapolation_message(self.temperature_K, temperature_K)
        if msg:
            warnings.warn(msg, ArrheniusWarning, stacklevel=2)
        outside = not (self.t_min_K <= temperature_K <= self.t_max_K)
        return ArrheniusPrediction(
            temperature_K=float(temperature_K),
            value=float(np.exp(ln_y)),
            low=float(np.exp(ln_y - z * s)),
            high=float(np.exp(ln_y + z * s)),
            level=level,
            unit=self.unit,
            extrapolated=outside,
            warning=msg,
        )


def _extrapolation_message(temps: Sequence[float], temperature_K: float) -> str | None:
    inv = 1.0 / np.asarray(temps, dtype=float)
    span = float(inv.max() - inv.min())
    x = 1.0 / temperature_K
    dist = max(float(inv.min()) - x, x - float(inv.max()), 0.0)
    if dist <= 0 or span <= 0:
        return None
    if dist / span > EXTRAPOLATION_WARN_SPANS:
        return (
            f"extrapolating to {temperature_K:.1f} K ({temperature_K - ZERO_C_K:.0f} C) from "
            f"data at {min(temps):.0f}-{max(temps):.0f} K: {dist / span:.1f} times the "
            "fitted 1/T range outside it; the interval assumes one straight line"
        )
    return None


def fit_arrhenius(
    temperature_K: Sequence[float] | np.ndarray,
    values: Sequence[float] | np.ndarray,
    errors: Sequence[float] | np.ndarray | None = None,
    *,
    quantity: Quantity = "sigma",
    model: Model | None = None,
    unit: str | None = None,
    method: str = "arrhenius",
) -> ArrheniusFit:
    """Fit an Arrhenius law to sigma(T) or D(T).

    Parameters
    ----------
    temperature_K : array of float
        Temperatures in K (at least two distinct; three without ``errors``).
    values : array of float
        sigma in S/cm (or D in cm^2/s, or whatever ``unit`` says); all positive.
    errors : array of float, optional
        Standard uncertainties of ``values`` in the same unit (positive).
    quantity : {"sigma", "D"}
        What is fitted; sets the default model and unit.
    model : {"sigma_T", "plain"}, optional
        ``"sigma_T"`` fits ln(sigma T) vs 1/T (default for sigma), ``"plain"`` fits
        ln(y) vs 1/T (default for D, and the "ln sigma" convention).
    unit : str, optional
        Unit label of ``values`` (default S/cm for sigma, cm^2/s for D).
    method : str
        Provenance label (e.g. ``"eis-arrhenius"``, ``"md-arrhenius"``).

    Returns
    -------
    ArrheniusFit

    Raises
    ------
    FitError
        Non-positive or non-finite data, too few temperatures, mismatched lengths.
    """
    if quantity not in _DEFAULT_UNIT:
        raise FitError(f"unknown quantity {quantity!r}: use 'sigma' or 'D'")
    model = model or ("sigma_T" if quantity == "sigma" else "plain")
    if model not in ("sigma_T", "plain"):
        raise FitError(f"unknown Arrhenius model {model!r}: use 'sigma_T' or 'plain'")
    unit = unit or _DEFAULT_UNIT[quantity]
    t = np.asarray(temperature_K, dtype=float).ravel()
    y = np.asarray(values, dtype=float).ravel()
    if t.size != y.size:
        raise FitError(f"{t.size} temperatures but {y.size} values: give one value per temperature")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(y))):
        raise FitError("temperatures and values must be finite numbers (found nan or inf)")
    if np.any(t <= 0):
        raise FitError(
            f"temperatures must be in K and positive, got min {t.min():g}: convert C to K"
        )
    if np.any(y <= 0):
        raise FitError(f"Arrhenius needs positive {quantity} values, got min {y.min():g}")
    if np.unique(t).size < 2:
        raise FitError("need at least two different temperatures for an Arrhenius fit")
    if errors is not None:
        dy = np.asarray(errors, dtype=float).ravel()
        if dy.size != y.size:
            raise FitError(f"{dy.size} errors for {y.size} values: give one per value")
        if not np.all(np.isfinite(dy)) or np.any(dy <= 0):
            raise FitError("errors must be positive finite numbers (or leave them out)")
    else:
        dy = None
        if t.size < 3:
            raise FitError(
                "two temperatures without uncertainties give no error estimate: "
                "give errors or measure a third temperature"
            )

    x = -1.0 / (K_B_EV_K * t)  # ln y = lnA + Ea * x  (x in 1/eV)
    ln_y = np.log(y) + (np.log(t) if model == "sigma_T" else 0.0)
    w = np.ones_like(y) if dy is None else (y / dy) ** 2
    design = np.column_stack([np.ones_like(x), x])
    coef, cov, chi2_red, dof = _wls(design, ln_y, w, absolute=dy is not None)
    ln_a, ea = coef
    msgs: list[str] = []
    if dof > 0 and dy is not None and chi2_red > 3.0:
        msgs.append(
            f"scatter exceeds the given errors (chi2_red = {chi2_red:.1f}); "
            "uncertainties were scaled up by sqrt(chi2_red)"
        )

    curv_t, curv_p = _curvature_test(t, ln_y, w, absolute=dy is not None)
    if np.isfinite(curv_p) and curv_p < CURVATURE_P_WARN:
        msgs.append(
            f"the Arrhenius plot bends (quadratic term in 1/T significant, p = "
            f"{curv_p:.1g}): one activation energy does not describe "
            f"{t.min():.0f}-{t.max():.0f} K; fit sub-ranges separately"
        )
    if t.min() < 150.0:
        msgs.append(
            f"lowest temperature is {t.min():g} K: if these are degrees C, convert to K "
            "(add 273.15)"
        )
    if ea <= 0:
        msgs.append(f"negative activation energy ({ea:.3f} eV): check the temperatures and units")

    fit = ArrheniusFit(
        ea_eV=float(ea),
        ea_err_eV=float(math.sqrt(cov[1, 1])),
        ln_prefactor=float(ln_a),
        ln_prefactor_err=float(math.sqrt(cov[0, 0])),
        cov_lnA_ea=float(cov[0, 1]),
        model=model,
        quantity=quantity,
        unit=unit,
        temperature_K=tuple(float(v) for v in t),
        values=tuple(float(v) for v in y),
        errors=tuple(float(v) for v in dy) if dy is not None else (),
        chi2_red=float(chi2_red),
        curvature_t=float(curv_t),
        curvature_p=float(curv_p),
        value_25C=math.nan,
        value_25C_low=math.nan,
        value_25C_high=math.nan,
        warnings=(),
        provenance=Provenance(
            method=method,
            parameters={
                "model": model,
                "quantity": quantity,
                "weighted": dy is not None,
                "n_points": int(t.size),
            },
        ),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ArrheniusWarning)
        p25 = fit.predict(ROOM_TEMPERATURE_K)
    if p25.warning:
        msgs.append(p25.warning)
    return dataclasses.replace(
        fit,
        value_25C=p25.value,
        value_25C_low=p25.low,
        value_25C_high=p25.high,
        warnings=tuple(msgs),
    )


def _wls(
    design: np.ndarray, y: np.ndarray, w: np.ndarray, absolute: bool
) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Weighted linear least squares; returns coef, covariance, chi2_red, dof."""
    sw = np.sqrt(w)
    a = design * sw[:, None]
    b = y * sw
    # scale columns: 1/(k_B T) is ~40 1/eV, the intercept column 1: well conditioned enough,
    # but lstsq + explicit (A^T A)^-1 via pinv keeps it robust for close temperatures
    coef, *_ = np.linalg.lstsq(a, b, rcond=None)
    resid = b - a @ coef
    dof = y.size - design.shape[1]
    chi2 = float(resid @ resid)
    cov = np.linalg.pinv(a.T @ a)
    if dof > 0:
        chi2_red = chi2 / dof
        cov = cov * (max(chi2_red, 1.0) if absolute else chi2_red)
    else:
        chi2_red = math.nan
    return coef, cov, chi2_red, dof


def _curvature_test(
    t: np.ndarray, ln_y: np.ndarray, w: np.ndarray, absolute: bool
) -> tuple[float, float]:
    """t-test of a quadratic term in 1000/T; (nan, nan) with fewer than 4 temperatures."""
    if np.unique(t).size < 4:
        return math.nan, math.nan
    u = 1000.0 / t
    u = (u - u.mean()) / (u.std() or 1.0)
    design = np.column_stack([np.ones_like(u), u, u**2])
    coef, cov, _, dof = _wls(design, ln_y, w, absolute)
    if dof <= 0 or cov[2, 2] <= 0:
        return math.nan, math.nan
    tstat = coef[2] / math.sqrt(cov[2, 2])
    return float(tstat), float(2.0 * stats.t.sf(abs(tstat), dof))


# --------------------------------------------------------------------------- figures


def plot_arrhenius(
    fits: ArrheniusFit | Sequence[ArrheniusFit],
    labels: Sequence[str] | None = None,
    path: str | Path | None = None,
    ax=None,
    show_ea: bool = True,
):
    """Arrhenius plot: log10(sigma) (or D) vs 1000/T with a top axis in C.

    Parameters
    ----------
    fits : ArrheniusFit or list of them
        One line, points (with error bars) and the one-sigma band per fit.
    labels : list of str, optional
        Legend labels (e.g. compositions).
    path : str or Path, optional
        Write the figure (PNG/SVG/PDF by suffix).
    ax : matplotlib Axes, optional
        Draw into an existing axes.
    show_ea : bool
        Put "Ea = ... eV" in the legend.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from halidelab.plotting import pyplot

    plt = pyplot()

    fits = [fits] if isinstance(fits, ArrheniusFit) else list(fits)
    if not fits:
        raise FitError("nothing to plot: give at least one Arrhenius fit")
    labels = list(labels) if labels is not None else [None] * len(fits)
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.6, 3.8), dpi=150)
    else:
        fig = ax.figure
    scale, ylab = _y_scale(fits[0])
    for i, (fit, lab) in enumerate(zip(fits, labels, strict=True)):
        color = f"C{i}"
        t = np.asarray(fit.temperature_K)
        y = np.asarray(fit.values) * scale
        x = 1000.0 / t
        if fit.errors:
            ax.errorbar(
                x,
                y,
                yerr=np.asarray(fit.errors) * scale,
                fmt="o",
                color=color,
                ms=5,
                capsize=2,
                mfc="white",
            )
        else:
            ax.plot(x, y, "o", color=color, ms=5, mfc="white")
        tt = np.linspace(t.min(), t.max(), 100)
        ln_y, s = fit._ln_value(tt)
        ax.plot(
            1000.0 / tt, np.exp(ln_y) * scale, "-", color=color, label=_fit_label(fit, lab, show_ea)
        )
        ax.fill_between(
            1000.0 / tt,
            np.exp(ln_y - s) * scale,
            np.exp(ln_y + s) * scale,
            color=color,
            alpha=0.15,
            lw=0,
        )
    ax.set_yscale("log")
    ax.set_xlabel("1000/T (K$^{-1}$)")
    ax.set_ylabel(ylab)
    top = ax.secondary_xaxis("top", functions=(_inv_k_to_c, _c_to_inv_k))
    top.set_xlabel("T (°C)")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    if path is not None:
        from halidelab.plotting import savefig

        savefig(fig, path)  # format checked, written atomically
    return fig


def _inv_k_to_c(x):
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(x > 0, 1000.0 / np.where(x > 0, x, 1.0) - ZERO_C_K, np.inf)


def _c_to_inv_k(c):
    c = np.asarray(c, dtype=float)
    k = c + ZERO_C_K
    with np.errstate(divide="ignore"):
        return np.where(k > 0, 1000.0 / np.where(k > 0, k, 1.0), np.inf)


def _y_scale(fit: ArrheniusFit) -> tuple[float, str]:
    if fit.quantity == "sigma" and fit.unit == "S/cm":
        return 1e3, "σ (mS cm$^{-1}$)"
    if fit.quantity == "D":
        return 1.0, f"D ({fit.unit.replace('^2', '$^2$')})"
    return 1.0, f"{fit.quantity} ({fit.unit})"


def _fit_label(fit: ArrheniusFit, label: str | None, show_ea: bool) -> str | None:
    parts = [label] if label else []
    if show_ea:
        err = fit.ea_err_eV
        nd = 3 if not (err > 0 and math.isfinite(err)) else max(3, -math.floor(math.log10(err)))
        parts.append(f"$E_a$ = {fit.ea_eV:.{nd}f} ± {err:.{nd}f} eV")
    return ", ".join(parts) or None


def plot_volcano(
    x: Sequence[float],
    sigma_S_cm: Sequence[float],
    ea_eV: Sequence[float],
    sigma_err_S_cm: Sequence[float] | None = None,
    ea_err_eV: Sequence[float] | None = None,
    xlabel: str = "x",
    path: str | Path | None = None,
    temperature_label: str = "25 °C",
):
    """Volcano plot: sigma (left axis, mS/cm) and Ea (right axis, eV) against x.

    Parameters
    ----------
    x : list of float
        Composition variable (e.g. Nb content in Li(2-x)Zr(1-x)Nb(x)Cl6).
    sigma_S_cm, sigma_err_S_cm : list of float
        Conductivity at the reference temperature (S/cm) and its uncertainty.
    ea_eV, ea_err_eV : list of float
        Activation energies (eV) and uncertainties.
    xlabel : str
        Label of the composition axis.
    path : str or Path, optional
        Write the figure (PNG/SVG/PDF by suffix).
    temperature_label : str
        Temperature of the sigma values, shown in the axis label.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from halidelab.plotting import pyplot

    plt = pyplot()

    xs = np.asarray(x, dtype=float)
    sig = np.asarray(sigma_S_cm, dtype=float) * 1e3
    ea = np.asarray(ea_eV, dtype=float)
    if not (xs.size == sig.size == ea.size) or xs.size == 0:
        raise FitError("volcano plot needs one sigma and one Ea per composition x")
    order = np.argsort(xs)
    fig, ax = plt.subplots(figsize=(4.6, 3.6), dpi=150)
    c1, c2 = "#1f4e9c", "#c0392b"
    serr = None if sigma_err_S_cm is None else np.asarray(sigma_err_S_cm, dtype=float)[order] * 1e3
    ax.errorbar(xs[order], sig[order], yerr=serr, fmt="o-", color=c1, ms=6, capsize=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"σ at {temperature_label} (mS cm$^{{-1}}$)", color=c1)
    ax.tick_params(axis="y", colors=c1)
    ax2 = ax.twinx()
    eerr = None if ea_err_eV is None else np.asarray(ea_err_eV, dtype=float)[order]
    ax2.errorbar(xs[order], ea[order], yerr=eerr, fmt="s--", color=c2, ms=6, capsize=2, mfc="white")
    ax2.set_ylabel("$E_a$ (eV)", color=c2)
    ax2.tick_params(axis="y", colors=c2)
    ax2.spines["right"].set_color(c2)
    ax2.spines["left"].set_color(c1)
    fig.tight_layout()
    if path is not None:
        from halidelab.plotting import savefig

        savefig(fig, path)  # format checked, written atomically
    return fig
