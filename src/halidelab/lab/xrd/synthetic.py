"""Lab-like simulated scans with counting noise (round-trip tests, benchmarks, planning)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from pymatgen.analysis.diffraction.xrd import WAVELENGTHS
from pymatgen.core import Structure

from halidelab.constants import CU_KALPHA2_KALPHA1_RATIO
from halidelab.lab.xrd.io import MeasuredPattern, pattern_from_arrays
from halidelab.lab.xrd.profile import asymmetric_profile, fcj_kernel
from halidelab.records import Provenance
from halidelab.structures.xrd import (
    caglioti_fwhm,
    simulate_pattern,
)


def synthetic_scan(
    structure: Structure,
    two_theta_range_deg: tuple[float, float] = (10, 80),
    step_deg: float = 0.02,
    fwhm_deg: float | Sequence[float] = 0.08,
    eta: float = 0.5,
    kalpha2_ratio: float = CU_KALPHA2_KALPHA1_RATIO,
    zero_shift_deg: float = 0.0,
    displacement_deg: float = 0.0,
    axial_shl: float = 0.0,
    peak_counts: float = 2.0e4,
    background_counts: float = 300.0,
    seed: int | None = 0,
) -> MeasuredPattern:
    """A lab-like Cu K-alpha1/alpha2 scan of a structure, with Poisson counting noise.

    Peaks from :func:`~halidelab.structures.xrd.simulate_pattern` (K-alpha1) broadened by
    :meth:`~halidelab.structures.xrd.XRDPattern.profile`; the background falls from
    ``background_counts`` at low angle to half of it at high angle with a broad hump near
    25 deg (the look of an amorphous fraction or a sample holder). For round-trip tests,
    benchmarks and planning a measurement.

    Parameters
    ----------
    structure : pymatgen Structure
    two_theta_range_deg, step_deg : scan range and step (deg).
    fwhm_deg : float or (U, V, W)
        Width or Caglioti coefficients (deg, deg^2).
    eta : float
        Lorentzian fraction.
    kalpha2_ratio : float
        0 for a monochromated K-alpha1 beam.
    zero_shift_deg : float
        Added to every peak position (instrument zero error).
    displacement_deg : float
        Sample-displacement coefficient D: each peak moves by ``D cos(theta)`` (deg).
    axial_shl : float
        Axial-divergence asymmetry S/L + H/L (Finger-Cox-Jephcoat, S = H; dimensionless):
        each peak is convolved with the FCJ kernel (:func:`~halidelab.lab.xrd.profile.
        fcj_kernel`, evaluated with 128 nodes, 8 times the refinement's) about its shifted
        position. 0: symmetric peaks.
    peak_counts, background_counts : float
        Counts at the strongest peak and of the background at the low-angle end.
    seed : int or None
        Noise seed; None gives the noiseless expectation.
    """
    if not (np.isfinite(axial_shl) and 0 <= axial_shl < 1):
        raise ValueError(f"axial_shl (S/L + H/L) must be within 0-1, got {axial_shl}")
    lo, hi = two_theta_range_deg
    x = np.arange(lo, hi + step_deg / 2, step_deg)
    pat = simulate_pattern(
        structure, wavelength="CuKa1", two_theta_range_deg=(max(lo - 2, 0.5), min(hi + 2, 179.0))
    )
    # a peak at Bragg angle t appears at t + zero + D cos(t/2); to first order in the
    # shift the profile at x is the Bragg profile at x - zero - D cos(x/2)
    shift = zero_shift_deg + displacement_deg * np.cos(np.radians(x / 2))
    if axial_shl > 0:
        peaks = _asymmetric_peaks(
            pat, x, fwhm_deg, eta, kalpha2_ratio, zero_shift_deg, displacement_deg, axial_shl
        )
    else:
        peaks = pat.profile(x - shift, fwhm_deg=fwhm_deg, eta=eta, kalpha2_ratio=kalpha2_ratio)
    t = (x - lo) / (hi - lo)
    bg = background_counts * (1 - 0.5 * t + 0.3 * np.exp(-0.5 * ((x - 25) / 6) ** 2))
    mean = bg + peak_counts * peaks / 100.0
    y = mean if seed is None else np.random.default_rng(seed).poisson(mean).astype(float)
    out = pattern_from_arrays(
        x,
        y,
        source=f"synthetic:{structure.composition.reduced_formula}",
        file_format="synthetic",
        wavelength_A=WAVELENGTHS["CuKa1"],
        wavelength2_A=WAVELENGTHS["CuKa2"],
        kalpha2_ratio=kalpha2_ratio,
    )
    return dataclasses.replace(
        out,
        provenance=Provenance(
            method="xrd-synthetic-scan",
            seed=seed,
            parameters={
                "fwhm_deg": fwhm_deg,
                "eta": eta,
                "kalpha2_ratio": kalpha2_ratio,
                "zero_shift_deg": zero_shift_deg,
                "displacement_deg": displacement_deg,
                "axial_shl": axial_shl,
                "peak_counts": peak_counts,
                "background_counts": background_counts,
                "step_deg": step_deg,
            },
        ),
    )


def _asymmetric_peaks(
    pat,
    x: np.ndarray,
    fwhm_deg,
    eta: float,
    kalpha2_ratio: float,
    zero_deg: float,
    disp_deg: float,
    shl: float,
) -> np.ndarray:
    """K-alpha1(+2) peaks convolved with the FCJ kernel, strongest at 100 (as ``profile``)."""
    d = np.asarray(pat.d_spacing_A)
    inten = np.asarray(pat.intensity)
    lines = [(float(WAVELENGTHS["CuKa1"]), 1.0)]
    if kalpha2_ratio > 0:
        lines.append((float(WAVELENGTHS["CuKa2"]), float(kalpha2_ratio)))
    out = np.zeros_like(x)
    for lam, weight in lines:
        sarg = lam / (2 * d)
        ok = sarg < 1
        bragg = 2 * np.degrees(np.arcsin(sarg[ok]))
        # exact positions (not the first-order shift of the symmetric path)
        c = bragg + zero_deg + disp_deg * np.cos(np.radians(bragg / 2))
        if np.ndim(fwhm_deg) == 0:
            fw = np.full_like(c, float(fwhm_deg))
        else:
            u, v, w = fwhm_deg
            fw = caglioti_fwhm(c, u, v, w)
        offs, wts = fcj_kernel(c, shl, n_nodes=128)
        for i in range(c.size):
            tail = float(np.abs(offs[i]).max())
            lo, hi = np.searchsorted(x, (c[i] - 30 * fw[i] - tail, c[i] + 30 * fw[i] + tail))
            if hi > lo:
                out[lo:hi] += (
                    weight
                    * inten[ok][i]
                    * asymmetric_profile(
                        x[lo:hi][None, :] - c[i], fw[i], eta, offs[i : i + 1], wts[i : i + 1]
                    )[0]
                )
    return out * (100.0 / out.max()) if out.max() > 0 else out
