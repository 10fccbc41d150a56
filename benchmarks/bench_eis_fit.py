"""Benchmark: fitting many impedance spectra, halidelab vs a plain impedance.py loop.

Run by hand:  python benchmarks/bench_eis_fit.py [--n 1000] [--n-ref 100]

Both fit the same circuit (p(R1,CPE1)-CPE2, a pellet arc + blocking tail) to the same
synthetic spectra (80 frequencies, 7 MHz - 0.1 Hz, 1% complex noise, parameters drawn
around the reference pellet), from the same data-derived initial guesses and with the
same modulus weighting, so they must reach the same optimum; the script checks that.
impedance.py's CustomCircuit.fit (scipy curve_fit, finite-difference Jacobian, one
spectrum at a time) is run on the first ``--n-ref`` spectra and its time extrapolated
to ``--n``. halidelab's batched Levenberg-Marquardt (analytic Jacobian, all spectra in
one vectorised solve) fits all ``--n``. The automatic circuit choice (``circuit="auto"``,
five candidate circuits per spectrum) is timed too.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from halidelab.lab.eis import Circuit, fit_spectra, initial_guess, simulate_spectrum

CIRCUIT = "p(R1,CPE1)-CPE2"


def make_spectra(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        p = [
            105 * 10 ** rng.uniform(-1, 1),
            1e-9 * 10 ** rng.uniform(-0.5, 0.5),
            rng.uniform(0.8, 0.95),
            4e-6 * 10 ** rng.uniform(-0.5, 0.5),
            rng.uniform(0.8, 0.95),
        ]
        out.append((p, simulate_spectrum(CIRCUIT, p, noise=0.01, seed=seed * 100000 + i)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--n-ref", type=int, default=100)
    args = ap.parse_args()
    data = make_spectra(args.n)
    spectra = [s for _, s in data]

    t0 = time.perf_counter()
    ours = fit_spectra(spectra, CIRCUIT, on_error="skip")
    t_ours = time.perf_counter() - t0

    t0 = time.perf_counter()
    auto = fit_spectra(spectra, "auto", on_error="skip")
    t_auto = time.perf_counter() - t0

    from impedance.models.circuits import CustomCircuit

    n_ref = min(args.n_ref, args.n)
    ref_params = []
    t0 = time.perf_counter()
    for s in spectra[:n_ref]:
        guess = initial_guess(CIRCUIT, s.f, s.z)
        cc = CustomCircuit(CIRCUIT, initial_guess=list(guess))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cc.fit(s.f, s.z, weight_by_modulus=True)
        ref_params.append(cc.parameters_)
    t_ref = (time.perf_counter() - t0) / n_ref * args.n

    ok = [f is not None for f in ours]
    circ = Circuit(CIRCUIT)

    def cost(params, s):  # modulus-weighted sum of squares, the objective of both fitters
        r = (circ.impedance(np.asarray(params, dtype=float), s.f) - s.z) / np.abs(s.z)
        return float(np.sum(r.real**2 + r.imag**2))

    diffs, ours_better, ref_better = [], 0, 0
    for f, rp, s in zip(ours[:n_ref], ref_params, spectra[:n_ref], strict=True):
        if f is None:
            continue
        c_ours, c_ref = cost(f.parameters, s), cost(rp, s)
        if abs(c_ours - c_ref) <= 1e-3 * c_ours:
            diffs.append(np.max(np.abs(np.asarray(f.parameters) / rp - 1)))
        elif c_ours < c_ref:
            ours_better += 1
        else:
            ref_better += 1
    diffs = np.array(diffs)
    # is halidelab's optimum a minimum of impedance.py's own objective? restart
    # impedance.py from it (not timed) and see whether it finds anything lower or moves
    restart_moves, restart_lower = [], 0
    for f, s in zip(ours[:n_ref], spectra[:n_ref], strict=True):
        if f is None:
            continue
        cc = CustomCircuit(CIRCUIT, initial_guess=list(f.parameters))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cc.fit(s.f, s.z, weight_by_modulus=True)
        restart_lower += cost(cc.parameters_, s) < cost(f.parameters, s) * (1 - 1e-6)
        restart_moves.append(np.max(np.abs(cc.parameters_ / np.asarray(f.parameters) - 1)))
    r_err = np.array(
        [f.r_total_ohm / p[0] - 1 for (p, _), f in zip(data, ours, strict=True) if f is not None]
    )
    r_err_auto = np.array(
        [f.r_total_ohm / p[0] - 1 for (p, _), f in zip(data, auto, strict=True) if f is not None]
    )
    print(f"spectra: {args.n} x {spectra[0].n_points} points, circuit {CIRCUIT}")
    print(
        f"halidelab fit_spectra (fixed circuit): {t_ours:.2f} s "
        f"({1e3 * t_ours / args.n:.2f} ms/spectrum), converged {sum(ok)}/{args.n}"
    )
    print(
        f"halidelab fit_spectra (circuit='auto', 5 candidates): {t_auto:.2f} s, "
        f"fitted {sum(f is not None for f in auto)}/{args.n}"
    )
    print(
        f"impedance.py CustomCircuit loop: {t_ref:.2f} s for {args.n} "
        f"(measured on {n_ref}, extrapolated; {1e3 * t_ref / args.n:.2f} ms/spectrum)"
    )
    print(f"speed-up (fixed circuit): {t_ref / t_ours:.1f}x")
    print(
        f"same objective value (within 0.1%) on {diffs.size}/{n_ref} spectra; there the "
        f"largest relative parameter difference is median {np.median(diffs):.1e}, "
        f"max {np.max(diffs):.1e}"
    )
    print(
        f"impedance.py stopped at a higher objective on {ours_better}, "
        f"halidelab on {ref_better} of {n_ref}"
    )
    print(
        f"impedance.py restarted at halidelab's optimum: found a lower objective on "
        f"{restart_lower}/{len(restart_moves)}; moved parameters by median "
        f"{np.median(restart_moves):.1e}, max {np.max(restart_moves):.1e} (relative)"
    )
    print(
        f"R1 recovered (fixed): |dR/R| median {np.median(np.abs(r_err)):.2e}, "
        f"max {np.max(np.abs(r_err)):.2e}; (auto) max {np.max(np.abs(r_err_auto)):.2e}"
    )


if __name__ == "__main__":
    main()
