"""Data validation: the Lin-KK test (Schoenleber et al., Electrochim. Acta 131, 20 (2014))."""

from __future__ import annotations

import math

import numpy as np

from halidelab.lab.eis.records import KKResult
from halidelab.lab.eis_io import ImpedanceSpectrum


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
        zfit = (
            elements[0]
            + np.sum(elements[1 : m + 1, None] / (1 + 1j * w[None, :] * ts[:, None]), axis=0)
            + elements[-2] / (1j * w)
            + 1j * w * elements[-1]
        )
    err = (z - zfit) / np.abs(z)
    res = np.concatenate([err.real, err.imag])
    rms = float(np.sqrt(np.mean(res**2)))
    mx = float(np.max(np.abs(res)))
    return KKResult(
        n_rc=int(m),
        mu=float(mu),
        residual_rms=rms,
        residual_max=mx,
        valid=bool(rms < 0.02 and mx < 0.05),
    )
