"""Lattice refinement against a structure model: a Pawley-type whole-pattern fit.

Readers take ``.xy``/``.xye``/``.txt``/``.dat`` (two or three columns), ``.csv`` (with or
without a header) and Malvern Panalytical ``.xrdml`` (XRDMeasurement schema 1.x-2.x:
``<positions axis="2Theta">`` with ``startPosition``/``endPosition`` or
``listPositions``, ``<intensities>`` or ``<counts>``, the ``usedWavelength`` block).

Lattice refinement is a Pawley-type whole-pattern fit (Pawley, J. Appl. Cryst. 14 (1981)
357): reflection positions come from d(hkl) of the model's reflections and the lattice
parameters, constrained by the model's crystal system (hexagonal/trigonal a, c;
monoclinic a, b, c, beta; ...); each reflection (or each group of exactly overlapping
ones) has a free non-negative intensity; peaks are pseudo-Voigt with Caglioti widths and a
Cu K-alpha1/alpha2 doublet; the background is a non-negative piecewise-linear curve; a
zero shift and the sample displacement (a line moves by ``zero + D cos(theta)``, the
Bragg-Brentano specimen-height error) are refined, and so is the peak asymmetry from axial
divergence (Finger, Cox & Jephcoat, J. Appl. Cryst. 27 (1994) 892; one parameter SH/L =
S/L + H/L with S = H, as GSAS-II refines it for constant-wavelength data; see
:func:`~halidelab.lab.xrd.profile.fcj_kernel`). A symmetric profile fitted to peaks with a
low-angle tail puts the centres too low by an amount that grows towards low angle (about
as cot 2theta), which a lattice parameter, a zero shift and a displacement cannot absorb
together: the cell comes out biased with a small esd. The linear parameters (intensities,
background) are solved exactly at every step by non-negative least squares (variable
projection, Golub & Pereyra 1973), so the non-linear least squares (scipy
``least_squares``) only sees the lattice, zero, displacement and profile parameters.
Uncertainties come from that Jacobian, scaled by the reduced chi^2 and, as Rietveld
programs do, by the serial correlation of the residuals (Berar & Lelann, J. Appl. Cryst.
24 (1991) 1): misfit peaks give runs of same-sign residuals, i.e. fewer independent
points than data points.

Why our own code: no maintained pip-installable package does a Pawley or Le Bail fit with
uncertainties. GSAS-II is not on PyPI; xrayutilities' ``PowderModel.fit`` (GPL-2) is a
Rietveld fit whose intensities come from the structure factors, which is wrong for a
ball-milled, doped sample whose intensities differ from the ordered model; powerxrd
handles cubic cells only; easydiffraction is neutron-first and pulls ~100 packages
(Jupyter among them). See ``benchmarks/bench_xrd.py`` for speed and accuracy numbers.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from pymatgen.analysis.diffraction.xrd import WAVELENGTHS
from pymatgen.core import Lattice, Structure

from halidelab.constants import CU_KALPHA2_KALPHA1_RATIO
from halidelab.errors import DataFormatError, FitError, StructureError, UnitError
from halidelab.lab.blas import one_blas_thread
from halidelab.lab.xrd.crystallography import (
    _NAMES,
    SYSTEM_PARAMS,
    _cell_pattern,
    _expand,
    cell_volume,
    crystal_system_of,
)
from halidelab.lab.xrd.io import MIN_POINTS, MeasuredPattern
from halidelab.lab.xrd.profile import (
    Q_MIN,
    _PawleyModel,
    _reflections,
    asymmetric_profile,
    fcj_kernel,
)
from halidelab.lab.xrd.records import FitCurves, LatticeRefinement
from halidelab.lab.xrd.search import _coarse_search
from halidelab.records import Provenance
from halidelab.structures.xrd import (
    caglioti_fwhm,
    resolve_wavelength,
    simulate_pattern,
)


def _fwhm_guess(x: np.ndarray, y: np.ndarray) -> float:
    """FWHM (deg) of the strongest peak above the median background, from the data."""
    base = np.median(y)
    i = int(np.argmax(y))
    half = base + (y[i] - base) / 2
    lo = i
    while lo > 0 and y[lo] > half:
        lo -= 1
    hi = i
    while hi < len(y) - 1 and y[hi] > half:
        hi += 1
    step = np.median(np.diff(x))
    return float(np.clip(x[hi] - x[lo], 2 * step, 2.0))


def _lines(
    measured: MeasuredPattern, wavelength: str | float | None, kalpha2_ratio: float | None
) -> tuple[float, float, float]:
    """(lambda1, lambda2, ratio) from the user's choice, else the file, else Cu Ka1/Ka2."""
    lam2_default = WAVELENGTHS["CuKa2"]
    if wavelength is None:
        if measured.wavelength_A:
            lam1 = float(measured.wavelength_A)
            lam2 = float(measured.wavelength2_A or lam1)
            ratio = measured.kalpha2_ratio if measured.kalpha2_ratio is not None else 0.0
            if kalpha2_ratio is not None:
                ratio = kalpha2_ratio
            return lam1, lam2, float(ratio) if lam2 != lam1 else 0.0
        wavelength = "CuKa12"
    if isinstance(wavelength, str) and wavelength.strip().lower() in ("cuka12", "cuka1+2"):
        ratio = CU_KALPHA2_KALPHA1_RATIO if kalpha2_ratio is None else kalpha2_ratio
        return float(WAVELENGTHS["CuKa1"]), float(lam2_default), float(ratio)
    lam, label = resolve_wavelength(wavelength)
    if label == "CuKa1" and kalpha2_ratio:
        return lam, float(lam2_default), float(kalpha2_ratio)
    return lam, lam, 0.0


#: the fitted reflections must remove at least this fraction of a background-only misfit
MIN_EXPLAINED = 0.5
#: the displacement is refined only when cos(theta) changes by at least this much over the
#: fitted range (else D cos(theta) is a constant: the zero shift)
MIN_COS_SPAN = 0.05
#: upper bound of the refined axial-divergence parameter S/L + H/L: a generous cap (the
#: 11-BM LaB6 pattern gives 0.0046; a lab sample 10 mm long 240 mm from the detector,
#: with a slit as long, gives S/L + H/L ~ 0.04)
MAX_SHL = 0.15


def refine_lattice(
    measured: MeasuredPattern,
    model: Structure,
    *,
    crystal_system: str | None = None,
    two_theta_range_deg: tuple[float, float] | None = None,
    wavelength: str | float | None = None,
    kalpha2_ratio: float | None = None,
    n_background: int = 12,
    fwhm_guess_deg: float | None = None,
    max_strain: float = 0.05,
    refine_displacement: bool = True,
    refine_asymmetry: bool = True,
) -> LatticeRefinement:
    """Refine the lattice parameters of ``model`` against a measured pattern.

    Parameters
    ----------
    measured : MeasuredPattern
        From :func:`read_pattern`.
    model : pymatgen Structure
        Phase model: its reflections (hkl with non-zero intensity), crystal system and
        starting cell. An ordered supercell works but refines the supercell's cell; the
        parent CIF gives the parent's cell.
    crystal_system : str, optional
        Override: cubic, tetragonal, hexagonal (trigonal in hexagonal axes),
        rhombohedral, orthorhombic, monoclinic, triclinic. Default: from the model's space
        group (spglib, symprec 0.1 Å).
    two_theta_range_deg : (float, float), optional
        Fit range; default the whole pattern.
    wavelength : str or float, optional
        ``"CuKa12"`` (K-alpha1 1.54056 Å + K-alpha2 1.54439 Å, ratio 0.5), ``"CuKa1"``,
        ``"CuKa"`` (one line at the 1.54184 Å mean), another pymatgen label, or Å.
        Default: what an XRDML file states, else ``"CuKa12"``.
    kalpha2_ratio : float, optional
        Override I(K-alpha2)/I(K-alpha1).
    n_background : int
        Nodes of the non-negative piecewise-linear background.
    fwhm_guess_deg : float, optional
        Starting peak width; default measured on the strongest peak.
    max_strain : float
        Lattice lengths may move at most this fraction from the model (bounds).
    refine_displacement : bool
        Refine the sample displacement: a line moves by ``D cos(theta)`` (deg), with
        ``D = -(2 s / R) (180 / pi)`` for a sample ``s`` above the focusing circle of a
        goniometer of radius ``R`` (Bragg-Brentano), besides the constant zero shift.
    refine_asymmetry : bool
        Refine the axial-divergence asymmetry SH/L = S/L + H/L (Finger-Cox-Jephcoat, S =
        H), in a last stage after the symmetric fit; a value that ends at 0 is reported as
        not resolved and leaves the covariance, one within 2 esd of 0 is marked so in the
        provenance. False: symmetric pseudo-Voigt peaks.

    Returns
    -------
    LatticeRefinement

    Raises
    ------
    StructureError
        The model's cell does not match the requested crystal system.
    DataFormatError
        Too few points in the range.
    FitError
        No reflection of the model falls in the range.
    """
    from scipy.optimize import least_squares

    if not isinstance(model, Structure):
        raise StructureError(
            f"refine_lattice needs a pymatgen Structure model, got {type(model).__name__}"
        )
    x_all, y_all = measured.x, measured.y
    lo, hi = two_theta_range_deg or (float(x_all[0]), float(x_all[-1]))
    sel = (x_all >= lo) & (x_all <= hi)
    if sel.sum() < MIN_POINTS:
        raise DataFormatError(
            f"only {int(sel.sum())} points between {lo:g} and {hi:g} deg; widen the range"
        )
    x, y = x_all[sel], y_all[sel]
    name = Path(measured.source).name
    if measured.sigma is None and np.any(y < 0):
        raise DataFormatError(
            f"{name}: {int(np.sum(y < 0))} points have negative intensity (down to "
            f"{y.min():.3g}): background-subtracted or normalised data? refine the raw "
            "counts (the background is fitted), or give esds in a third column (.xye)"
        )
    if measured.sigma is not None:
        sig = np.asarray(measured.sigma)[sel]
    else:  # Poisson-like: sigma = sqrt(counts), floored so empty channels do not dominate
        floor = max(1.0, 0.01 * float(np.median(np.abs(y))))
        sig = np.sqrt(np.maximum(np.abs(y), floor))
    w = 1.0 / sig**2

    cell0 = np.array([*model.lattice.abc, *model.lattice.angles])
    auto_system, unique = crystal_system_of(model)
    system = (crystal_system or auto_system).lower()
    if system == "trigonal":
        system = "hexagonal" if abs(cell0[5] - 120) < 0.05 else "rhombohedral"
    if system not in SYSTEM_PARAMS:
        raise StructureError(
            f"unknown crystal system {crystal_system!r}: use one of {', '.join(SYSTEM_PARAMS)}"
        )
    if _cell_pattern(system, cell0, unique):
        raise StructureError(
            f"the model cell a,b,c = {cell0[0]:.4f}, {cell0[1]:.4f}, {cell0[2]:.4f} A, angles "
            f"{cell0[3]:.2f}, {cell0[4]:.2f}, {cell0[5]:.2f} deg is not a standard {system} "
            "setting; pass the parent CIF, or refine it as triclinic (--system triclinic)"
        )
    names = SYSTEM_PARAMS[system]
    if system == "monoclinic":
        names = ("a", "b", "c", unique)
    free0 = np.array([cell0[_NAMES.index(n)] for n in names])

    displacement_note = "refined" if refine_displacement else "fixed at 0"
    cos_span = math.cos(math.radians(lo / 2)) - math.cos(math.radians(hi / 2))
    if refine_displacement and cos_span < MIN_COS_SPAN:
        refine_displacement = False
        displacement_note = (
            f"not separable from the zero shift over {lo:g}-{hi:g} deg "
            f"(cos theta changes by {cos_span:.3f}): fixed at 0, zero shift "
            "refined alone"
        )
    lam1, lam2, ratio = _lines(measured, wavelength, kalpha2_ratio)
    lams = [(lam1, 1.0)] + ([(lam2, ratio)] if ratio > 0 and lam2 != lam1 else [])
    # reflections that can enter the range when the cell strains by max_strain
    margin = math.degrees(2 * max_strain * math.tan(math.radians(hi / 2))) + 1.0
    refl = _reflections(
        model, system, unique, free0, lam1, max(lo - margin, 0.5), min(hi + margin, 179.0)
    )
    if refl.n_groups == 0:  # pragma: no cover - simulate_pattern raises first
        raise FitError("no reflection of the model in the fit range")

    fw0 = fwhm_guess_deg or _fwhm_guess(x, y)
    t_mid = math.tan(math.radians((lo + hi) / 4))
    # non-linear parameters: lattice, zero, U, W, eta, sample displacement D (deg), and
    # the asymmetry q = (S/L + H/L)^2. q, not S/L + H/L, is the fitted variable: the FCJ
    # kernel's extent grows as (S/L + H/L)^2, so the profile changes linearly in q and
    # its derivative at 0 is finite (in S/L + H/L it vanishes at 0, a stationary point
    # the fit could not leave, and a singular covariance for symmetric data). q is 0 in
    # the search and the symmetric stages; the last stage starts it inside its bounds (a
    # trust-region step shrinks to nothing along a variable that sits on its bound, seen
    # as an early stop at chi2 5% above the minimum), at the q whose kernel reaches 0.3
    # FWHM below the lowest-angle peak (delta_max ~ q/2 cot 2theta)
    q0 = 0.6 * math.radians(fw0) * math.tan(math.radians(max(lo, 1.0))) if refine_asymmetry else 0.0
    q0 = min(q0, 0.5 * MAX_SHL**2)
    p0 = np.r_[free0, 0.0, 0.0, fw0**2, 0.5, 0.0, 0.0]  # q = 0 until the last stage
    k = free0.size
    lb = np.r_[
        [v * (1 - max_strain) if n in "abc" else v - 10 for n, v in zip(names, free0, strict=True)],
        -1.0,
        -0.1,
        1e-6,
        0.0,
        -2.0,
        0.0,
    ]
    ub = np.r_[
        [v * (1 + max_strain) if n in "abc" else v + 10 for n, v in zip(names, free0, strict=True)],
        1.0,
        1.0,
        4.0,
        1.0,
        2.0,
        MAX_SHL**2,
    ]
    # a parameter that is not refined is left out of the optimiser (held between two
    # bounds 1e-12 apart it stopped the trust region after 4 evaluations: xtol)
    free = np.ones(p0.size, bool)
    free[k + 4], free[k + 5] = refine_displacement, refine_asymmetry
    sym = free.copy()
    sym[k + 5] = False
    xscale = np.r_[1e-3 * free0, 0.01, 0.01 / max(t_mid**2, 1e-3), 0.01, 0.1, 0.01, 1e-4]

    with one_blas_thread():
        model_full = _PawleyModel(x, y, w, refl, system, unique, free0, lams, n_background, names)
        p = _coarse_search(model_full, p0, x, lo, hi, fw0, k, max_strain, refl.weights)
        p = np.clip(p, lb, ub)  # the search's last grid step may reach past a bound
        # staged: low angles first (shifts are smallest there), then the full range
        cut = lo + 0.55 * (hi - lo)
        low = x <= cut
        if low.sum() >= MIN_POINTS:
            m_low = _PawleyModel(
                x[low],
                y[low],
                w[low],
                refl,
                system,
                unique,
                free0,
                lams,
                max(4, n_background // 2),
                names,
            )
            broad = p.copy()
            broad[k + 2] = max(p[k + 2], (2.5 * fw0) ** 2)  # wide peaks: wide basin
            fixed_w = broad[k + 1 :]

            def low_res(q, _m=m_low, _f=fixed_w):
                return _m.residual(np.r_[q, _f])

            r0 = least_squares(
                low_res,
                np.clip(broad[: k + 1], lb[: k + 1], ub[: k + 1]),
                bounds=(lb[: k + 1], ub[: k + 1]),
                x_scale=xscale[: k + 1],
                max_nfev=60,
            )
            p[: k + 1] = r0.x
            r1 = least_squares(
                _on_free(m_low.residual, p, sym),
                np.clip(p, lb, ub)[sym],
                bounds=(lb[sym], ub[sym]),
                x_scale=xscale[sym],
                max_nfev=80,
            )
            p[sym] = r1.x
        # symmetric peaks first (an asymmetric profile costs N_FCJ symmetric ones), then
        # the asymmetry from there
        for mask in [sym, free] if refine_asymmetry else [free]:
            if mask[k + 5]:
                rwp_sym = math.sqrt(
                    float(np.sum(model_full.residual(p) ** 2)) / float(np.sum(w * y * y))
                )
                if _wrong_phase(_expand(system, unique, p[:k], free0), cell0, max_strain, rwp_sym):
                    break  # refused below; no asymmetry to refine
                p[k + 5] = q0
            res = least_squares(
                _on_free(model_full.residual, p, mask),
                np.clip(p, lb, ub)[mask],
                bounds=(lb[mask], ub[mask]),
                x_scale=xscale[mask],
                max_nfev=200,
            )
            p[mask] = res.x
            active = np.zeros(p.size, int)
            active[mask] = res.active_mask
        # covariance from a fresh central-difference Jacobian at the optimum, with steps
        # of 1e-3 of the parameter scales: the optimiser's last forward-difference
        # Jacobian (steps ~1e-8) can straddle a change of the NNLS active set and give a
        # wildly small sigma (seen once in 12 noise seeds). The width steps follow the
        # refined widths: the optimiser's scales (0.01 deg^2) are 300 times W of a
        # synchrotron pattern (FWHM 0.005 deg), where a step of 1e-3 of them changed the
        # width by 30% and the esds by 20-80% with the step size (LaB6 from 11-BM)
        jac_scale = xscale.copy()
        fw2 = float(np.mean(caglioti_fwhm(np.array([lo, hi]), p[k + 1], 0.0, p[k + 2]) ** 2))
        jac_scale[k + 1] = min(xscale[k + 1], fw2 / max(t_mid**2, 1e-3))
        jac_scale[k + 2] = min(xscale[k + 2], fw2)
        jac = np.zeros((x.size, p.size))
        jac[:, free] = _central_jacobian(
            _on_free(model_full.residual, p, free),
            p[free],
            1e-3 * jac_scale[free],
            lb[free],
            ub[free],
        )
        a_mat, coef = model_full.solve(p)

    ycalc = a_mat @ coef
    bg = model_full.bg @ coef[refl.n_groups :]
    n, npar = len(x), p.size + int(np.count_nonzero(coef))
    chi2 = float(np.sum(w * (y - ycalc) ** 2))
    # is there a pattern at all? the reflections must explain most of what a smooth
    # background alone leaves (pure noise: a few % from fitting noise with free peaks)
    from scipy.optimize import nnls

    bg_coef, _ = nnls(model_full.bg * model_full.sw[:, None], model_full.sw * y)
    chi2_bg = float(np.sum(w * (y - model_full.bg @ bg_coef) ** 2))
    explained = (chi2_bg - chi2) / max(chi2_bg, 1e-300)
    if explained < MIN_EXPLAINED:
        raise FitError(
            f"{name}: no diffraction pattern of {model.composition.reduced_formula} found: "
            f"its reflections explain {100 * explained:.0f}% of what a background alone "
            "leaves (noise, another phase, or the wrong file?); the refinement is not "
            "reported"
        )
    dof = max(n - npar, 1)
    chi2_red = chi2 / dof
    sumwy2 = float(np.sum(w * y * y))
    rwp = math.sqrt(chi2 / sumwy2)
    rexp = math.sqrt(dof / sumwy2)

    # esds: scaled by chi2_red and, as Rietveld programs do, by the serial correlation
    # of the residuals (Berar & Lelann, J. Appl. Cryst. 24 (1991) 1): neighbouring
    # residuals of a misfit peak move together, so there are fewer independent points
    # than data points. With lag-1 correlation rho (from the Durbin-Watson d = 2(1 -
    # rho)) the variance of a mean grows by (1 + rho) / (1 - rho).
    resid_w = np.sqrt(w) * (y - ycalc)
    durbin_watson = float(np.sum(np.diff(resid_w) ** 2) / max(np.sum(resid_w**2), 1e-300))
    rho = min(max(1.0 - durbin_watson / 2.0, 0.0), 0.99)
    esd_factor = math.sqrt((1 + rho) / (1 - rho))
    use = np.ones(p.size, bool)
    if not refine_displacement:
        use[k + 4] = False
    q_fit = float(p[k + 5])
    asym_resolved = refine_asymmetry and q_fit > Q_MIN and not active[k + 5]
    if not asym_resolved:
        use[k + 5] = False
    cov = np.zeros((p.size, p.size))
    try:
        ju = jac[:, use]
        cov[np.ix_(use, use)] = np.linalg.inv(ju.T @ ju) * chi2_red * esd_factor**2
    except np.linalg.LinAlgError:
        cov = np.full((p.size, p.size), np.nan)
    lat = p[:k]
    cell = _expand(system, unique, lat, free0)
    cov_lat = cov[:k, :k]
    jac_cell = np.zeros((6, k))
    for i in range(k):
        step = np.zeros(k)
        step[i] = 1e-6 * max(abs(lat[i]), 1.0)
        jac_cell[:, i] = (
            _expand(system, unique, lat + step, free0) - _expand(system, unique, lat - step, free0)
        ) / (2 * step[i])
    cell_err = np.sqrt(np.clip(np.diag(jac_cell @ cov_lat @ jac_cell.T), 0, None))
    grad_v = np.array(
        [
            (
                cell_volume(_expand(system, unique, lat + e, free0))
                - cell_volume(_expand(system, unique, lat - e, free0))
            )
            / (2 * e[i])
            for i, e in enumerate(np.eye(k) * 1e-6 * np.maximum(np.abs(lat), 1.0))
        ]
    )
    vol_err = float(math.sqrt(max(grad_v @ cov_lat @ grad_v, 0.0)))
    perr = np.sqrt(np.clip(np.diag(cov), 0, None))
    asym_capped = refine_asymmetry and active[k + 5] > 0
    shl = math.sqrt(q_fit) if asym_resolved or asym_capped else 0.0
    shl_err = perr[k + 5] / (2 * shl) if asym_resolved else 0.0  # d sqrt(q) = dq / 2 sqrt(q)
    if not refine_asymmetry:
        asymmetry_note = "off: symmetric pseudo-Voigt peaks"
    elif asym_resolved:
        asymmetry_note = (
            f"refined: Finger-Cox-Jephcoat axial divergence, S/L = H/L, SH/L = "
            f"{shl:.5f} +- {shl_err:.5f}"
        )
        if shl < 2 * shl_err:
            asymmetry_note += " (within 2 esd of 0: the peaks look symmetric)"
    elif asym_capped:
        asymmetry_note = (
            f"refined to its upper bound SH/L = {MAX_SHL:g}: no uncertainty; "
            "not an axial divergence (other phases or strongly asymmetric "
            "broadening?)"
        )
    else:
        asymmetry_note = (
            "refined, stayed at 0: no axial-divergence asymmetry resolved (symmetric peaks)"
        )

    flags = []
    at_bound = [
        (list(names) + ["zero", "U", "W", "eta"])[i] for i in np.flatnonzero(active) if i < k + 2
    ]
    converged = bool(res.status > 0) and not at_bound
    if res.status <= 0:
        flags.append(f"not converged: {res.message}")
    if at_bound:
        flags.append(
            f"parameter at its bound: {', '.join(at_bound)} (model far from the "
            "sample? check the phase and the wavelength)"
        )
    shift = np.abs(cell[:3] / cell0[:3] - 1)
    if _wrong_phase(cell, cell0, max_strain, rwp):
        raise FitError(
            f"{name}: the reflections of {model.composition.reduced_formula} do not match "
            f"the pattern (Rwp {100 * rwp:.0f}% with the cell pushed to the {100 * max_strain:g}% "
            "strain limit): another phase, the wrong model, or the wrong wavelength? check "
            "the phase (xrd simulate shows where its peaks are)"
        )
    if shift.max() > 0.02:
        flags.append(f"cell differs from the model by {100 * shift.max():.1f}%: check the phase")
    if asym_capped:
        flags.append(
            f"peak asymmetry at its bound (SH/L = {MAX_SHL:g}): check the phase, or "
            "refine without it (--no-asymmetry)"
        )
    if not np.all(np.isfinite(perr[:k])):
        flags.append("singular covariance: uncertainties unavailable")
    if rwp > 0.25:
        flags.append(f"poor fit (Rwp {100 * rwp:.1f}%): other phases, wrong model or range?")
    elif rwp > 3 * rexp:
        flags.append(
            f"misfit well above the noise (Rwp {100 * rwp:.1f}% vs Rexp "
            f"{100 * rexp:.1f}%): check for other phases, texture or peak asymmetry"
        )

    rwp_model = _model_intensity_rwp(model, cell, p, model_full, lams, lo, hi)
    centres = model_full.centres(p)[0][0]
    inten = np.zeros(refl.n_groups)
    inten[: refl.n_groups] = coef[: refl.n_groups]
    first = np.unique(refl.group, return_index=True)[1]
    tick_tt = centres[first]
    keep = np.isfinite(tick_tt) & (tick_tt >= lo) & (tick_tt <= hi)
    curves = FitCurves(
        two_theta_deg=tuple(x.tolist()),
        observed=tuple(y.tolist()),
        calculated=tuple(ycalc.tolist()),
        background=tuple(bg.tolist()),
        reflection_two_theta_deg=tuple(tick_tt[keep].tolist()),
        reflection_hkl=tuple(np.array(refl.labels, dtype=object)[keep].tolist()),
        reflection_intensity=tuple(inten[keep].tolist()),
    )
    errs = dict(zip(_NAMES, cell_err, strict=True))
    return LatticeRefinement(
        crystal_system=system,
        free_parameters=tuple(names),
        a_A=float(cell[0]),
        a_err_A=float(errs["a"]),
        b_A=float(cell[1]),
        b_err_A=float(errs["b"]),
        c_A=float(cell[2]),
        c_err_A=float(errs["c"]),
        alpha_deg=float(cell[3]),
        alpha_err_deg=float(errs["alpha"]),
        beta_deg=float(cell[4]),
        beta_err_deg=float(errs["beta"]),
        gamma_deg=float(cell[5]),
        gamma_err_deg=float(errs["gamma"]),
        volume_A3=cell_volume(cell),
        volume_err_A3=vol_err,
        model_cell=tuple(float(v) for v in cell0),
        model_volume_A3=float(model.lattice.volume),
        zero_shift_deg=float(p[k]),
        zero_shift_err_deg=float(perr[k]),
        displacement_deg=float(p[k + 4]) if refine_displacement else 0.0,
        displacement_err_deg=float(perr[k + 4]) if refine_displacement else 0.0,
        axial_shl=float(shl),
        axial_shl_err=float(shl_err),
        durbin_watson=durbin_watson,
        esd_factor=esd_factor,
        caglioti_uvw_deg2=(float(p[k + 1]), 0.0, float(p[k + 2])),
        eta=float(p[k + 3]),
        rwp=rwp,
        rexp=rexp,
        chi2_red=chi2_red,
        rwp_model_intensities=rwp_model,
        n_points=int(n),
        n_reflections=int(refl.n_groups),
        wavelength_A=lam1,
        wavelength2_A=lam2,
        kalpha2_ratio=float(ratio) if len(lams) > 1 else 0.0,
        two_theta_range_deg=(float(lo), float(hi)),
        converged=converged,
        flags=tuple(flags),
        source=measured.source,
        model_formula=model.composition.reduced_formula,
        curves=curves,
        provenance=Provenance(
            method="pawley-lattice-refinement",
            model="halidelab.lab.xrd",
            parameters={
                "crystal_system": system,
                "n_background_nodes": n_background,
                "fwhm_guess_deg": fw0,
                "max_strain": max_strain,
                "profile": "pseudo-Voigt, Caglioti U,W (V=0), constant eta"
                + (", convolved with the FCJ axial-divergence kernel" if q_fit > Q_MIN else ""),
                "displacement": displacement_note,
                "asymmetry": asymmetry_note,
                "nfev": int(res.nfev),
            },
        ),
    )


def _wrong_phase(cell: np.ndarray, cell0: np.ndarray, max_strain: float, rwp: float) -> bool:
    """The cell pushed to the strain limit and still a poor fit: not this phase."""
    return bool(np.abs(cell[:3] / cell0[:3] - 1).max() > 0.98 * max_strain and rwp > 0.2)


def _on_free(fun, p: np.ndarray, free: np.ndarray):
    """``fun`` of the full parameter vector as a function of its free entries (the others
    held at their values in ``p``)."""
    held = p.copy()

    def wrapped(v):
        full = held.copy()
        full[free] = v
        return fun(full)

    return wrapped


def _central_jacobian(
    fun, p: np.ndarray, steps: np.ndarray, lb: np.ndarray, ub: np.ndarray
) -> np.ndarray:
    """Central-difference Jacobian of ``fun`` at ``p`` (one-sided next to a bound)."""
    cols = []
    for i, h in enumerate(steps):
        up, dn = p.copy(), p.copy()
        up[i] = min(p[i] + h, ub[i])
        dn[i] = max(p[i] - h, lb[i])
        cols.append((fun(up) - fun(dn)) / (up[i] - dn[i]))
    return np.stack(cols, axis=1)


def _model_intensity_rwp(
    model: Structure, cell: np.ndarray, p: np.ndarray, m: _PawleyModel, lams, lo: float, hi: float
) -> float | None:
    """Rwp with the model's own intensities at the refined cell (scale + background only)."""
    import scipy.sparse as sp
    from scipy.optimize import nnls

    try:
        s = model.copy()
        s.lattice = Lattice.from_parameters(*cell)
        pat = simulate_pattern(
            s, wavelength=lams[0][0], two_theta_range_deg=(max(lo - 1, 0.5), min(hi + 1, 179.0))
        )
    except (StructureError, UnitError, ValueError):
        return None
    k = m.nlat
    zero, u, w_, eta = p[k], p[k + 1], p[k + 2], p[k + 3]
    disp = float(p[k + 4]) if len(p) > k + 4 else 0.0
    q = m.asymmetry_q(p)
    shl = math.sqrt(q) if q > Q_MIN else 0.0
    col = np.zeros_like(m.x)
    d = np.asarray(pat.d_spacing_A)
    for lam, weight in lams:
        sarg = lam / (2 * d)
        ok = sarg < 1
        tt = 2 * np.degrees(np.arcsin(sarg[ok]))
        tt = tt + zero + disp * np.cos(np.radians(tt / 2))
        fw = caglioti_fwhm(tt, u, 0.0, w_)
        offs, wts = fcj_kernel(tt, shl) if shl > 0 else (None, None)
        for i, (c, f, inten) in enumerate(zip(tt, fw, np.asarray(pat.intensity)[ok], strict=True)):
            tail = float(np.abs(offs[i]).max()) if offs is not None else 0.0
            lo_i, hi_i = np.searchsorted(m.x, (c - 25 * f - tail, c + 25 * f + tail))
            kern = (offs[i : i + 1], wts[i : i + 1]) if offs is not None else (None, None)
            col[lo_i:hi_i] += (
                weight * inten * asymmetric_profile(m.x[lo_i:hi_i][None, :] - c, f, eta, *kern)[0]
            )
    a = sp.hstack([sp.csr_matrix(col[:, None]), sp.csr_matrix(m.bg)]).toarray()
    coef, _ = nnls(a * m.sw[:, None], m.sw * m.y)
    resid = m.y - a @ coef
    return float(math.sqrt(np.sum(m.w * resid**2) / np.sum(m.w * m.y**2)))
