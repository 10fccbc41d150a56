"""Impedance of a known circuit, with optional proportional noise (tests, planning)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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
    return ImpedanceSpectrum.from_arrays(f, z, source=source, instrument="synthetic",
                                         temperature_K=temperature_K, method="eis-simulate",
                                         parameters={"circuit": circuit,
                                                     "params": [float(v) for v in params],
                                                     "noise": noise, "seed": seed})

