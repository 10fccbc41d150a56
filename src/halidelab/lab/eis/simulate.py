"""Impedance of a known circuit, with optional proportional noise (tests, planning)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from halidelab.constants import K_B_EV_K, ROOM_TEMPERATURE_K, ZERO_C_K
from halidelab.lab.eis.circuits import Circuit
from halidelab.lab.eis_io import ImpedanceSpectrum


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
    return ImpedanceSpectrum.from_arrays(
        f,
        z,
        source=source,
        instrument="synthetic",
        temperature_K=temperature_K,
        method="eis-simulate",
        parameters={
            "circuit": circuit,
            "params": [float(v) for v in params],
            "noise": noise,
            "seed": seed,
        },
    )


def arrhenius_resistance(
    r_ref_ohm: float, ea_eV: float, temperature_K: float, reference_K: float = ROOM_TEMPERATURE_K
) -> float:
    """Resistance (ohm) at ``temperature_K`` of a conductor obeying ``sigma T = A exp(-Ea/kT)``.

    ``R(T) = R_ref (T / T_ref) exp(Ea/k (1/T - 1/T_ref))`` (R is proportional to 1/sigma).
    """
    t, t0 = float(temperature_K), float(reference_K)
    return r_ref_ohm * (t / t0) * math.exp(ea_eV / K_B_EV_K * (1.0 / t - 1.0 / t0))


def simulate_pellet_series(
    temperatures_K: Sequence[float],
    *,
    r_bulk_25C_ohm: float = 108.0,
    ea_bulk_eV: float = 0.35,
    c_bulk_F: float = 2.5e-11,
    alpha_bulk: float = 0.95,
    r_gb_25C_ohm: float = 400.0,
    ea_gb_eV: float = 0.55,
    c_gb_F: float = 2.0e-8,
    alpha_gb: float = 0.85,
    q_electrode: float = 2.0e-6,
    alpha_electrode: float = 0.85,
    frequency_Hz: np.ndarray | None = None,
    noise: float = 0.005,
    seed: int = 0,
    source_prefix: str = "pellet",
) -> list[ImpedanceSpectrum]:
    """Spectra of a two-arc pellet (bulk, grain boundary, blocking electrodes) over temperature.

    Circuit ``p(R1,CPE1)-p(R2,CPE2)-CPE3``; each resistance follows
    :func:`arrhenius_resistance`; each arc's CPE is set from its effective capacitance
    ``C = (R Q)^(1/alpha) / R`` (kept constant with temperature, as geometric and
    grain-boundary capacitances nearly are), so ``Q = C^alpha R^(alpha - 1)``. The
    defaults describe a 0.85 mm x 10 mm halide pellet (1 mS/cm bulk at 25 C, a 25 pF
    bulk and a 20 nF grain-boundary capacitance). Sources are named
    ``{source_prefix}_{T}C`` so the temperature reads back from the name.
    """
    out = []
    for k, t in enumerate(temperatures_K):
        rb = arrhenius_resistance(r_bulk_25C_ohm, ea_bulk_eV, t)
        rg = arrhenius_resistance(r_gb_25C_ohm, ea_gb_eV, t)
        qb = c_bulk_F**alpha_bulk * rb ** (alpha_bulk - 1)
        qg = c_gb_F**alpha_gb * rg ** (alpha_gb - 1)
        params = [rb, qb, alpha_bulk, rg, qg, alpha_gb, q_electrode, alpha_electrode]
        label = f"{source_prefix}_{t - ZERO_C_K:g}C"
        out.append(
            simulate_spectrum(
                "p(R1,CPE1)-p(R2,CPE2)-CPE3",
                params,
                frequency_Hz,
                noise=noise,
                seed=seed + k,
                temperature_K=float(t),
                source=label,
            )
        )
    return out
