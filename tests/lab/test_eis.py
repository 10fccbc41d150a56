"""Equivalent-circuit fits: round trips from known circuits, conductivity, Lin-KK, errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from halidelab.arrhenius import fit_arrhenius
from halidelab.constants import K_B_EV_K
from halidelab.errors import FitError, UnitError
from halidelab.lab.eis import (
    Circuit,
    EISFit,
    conductivity,
    fit_spectra,
    fit_spectrum,
    kramers_kronig,
    parse_length,
    plot_bode,
    plot_nyquist,
    resistance_for,
    simulate_spectrum,
)
from halidelab.lab.eis_io import ImpedanceSpectrum, read_spectrum

L, D = "0.85mm", "10mm"
SIGMA_LZNC = 1.03e-3  # S/cm, 25 C (Chen et al., ChemComm 2025)
EA_LZNC = 0.327  # eV


def _r_reference() -> float:
    # R = L / (sigma pi d^2 / 4), written out independently of the library
    return 0.085 / (SIGMA_LZNC * math.pi * 1.0**2 / 4)


def test_reference_resistance():
    assert _r_reference() == pytest.approx(105.07, abs=0.01)
    assert resistance_for(SIGMA_LZNC, L, D) == pytest.approx(_r_reference(), rel=1e-12)


@pytest.mark.parametrize(
    ("circuit", "params"),
    [
        ("R0-p(R1,CPE1)-CPE2", [3, 105, 2e-10, 0.88, 5e-6, 0.85]),
        ("p(R1,C1)-W1-L0", [10, 1e-9, 3, 1e-8]),
        ("p(R1,CPE1)-p(R2,CPE2)-CPE3", [100, 1e-9, 0.9, 300, 1e-7, 0.8, 5e-6, 0.85]),
        ("p(R1,p(C1,R2))-C2", [50, 1e-9, 70, 1e-6]),
    ],
)
def test_model_matches_impedance_py(circuit, params):
    from impedance.models.circuits import CustomCircuit

    f = np.logspace(7, -2, 50)
    ours = Circuit(circuit).impedance(np.asarray(params, float), f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = CustomCircuit(circuit, initial_guess=list(params)).predict(f, use_initial=True)
    assert np.allclose(ours, ref, rtol=1e-12)
    ref = CustomCircuit(circuit, initial_guess=list(params)).get_param_names()[0]
    assert Circuit(circuit).names == ref


def test_analytic_jacobian_matches_finite_differences():
    c = Circuit("R0-p(R1,CPE1)-p(R2,C2)-CPE3-W1-L0")
    p = np.array([[3, 105, 2e-10, 0.88, 50, 1e-8, 5e-6, 0.85, 2.0, 1e-9]])
    f = np.logspace(7, -1, 40)
    z, jac = c.jacobian(p, 2 * np.pi * f[None])
    th = c.to_theta(p)
    h = 1e-6
    for k in range(c.n_params):
        tp, tm = th.copy(), th.copy()
        tp[0, k] += h
        tm[0, k] -= h
        num = (c.impedance(c.from_theta(tp), f)[0] - c.impedance(c.from_theta(tm), f)[0]) / (2 * h)
        scale = np.abs(z[0])  # compare relative to |Z| at each frequency
        assert np.all(np.abs(num - jac[0, :, k]) < 1e-6 * scale + 1e-6 * np.abs(jac[0, :, k]))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_reference_case_round_trip(seed):
    """0.85 mm x 10 mm pellet, sigma = 1.03 mS/cm, 1% complex noise: sigma back within 2%."""
    r = _r_reference()
    spec = simulate_spectrum("p(R1,CPE1)-CPE2", [r, 1e-9, 0.9, 4e-6, 0.88], noise=0.01, seed=seed)
    fit = fit_spectrum(spec, thickness=L, diameter=D)
    assert fit.r_total_ohm == pytest.approx(r, rel=0.02)
    assert fit.conductivity.sigma_S_cm == pytest.approx(SIGMA_LZNC, rel=0.02)
    # the reported uncertainty is honest: the truth lies within 4 standard errors
    assert abs(fit.r_total_ohm - r) < 4 * fit.r_total_err_ohm
    assert fit.kk is not None and fit.kk.valid
    assert "poor-fit" not in fit.flags and fit.rms_relative < 0.02


@pytest.mark.parametrize(
    ("circuit", "params"),
    [
        ("R0-p(R1,CPE1)-CPE2", [8, 105, 1e-8, 0.85, 4e-6, 0.9]),
        ("p(R1,C1)-CPE2", [105, 2e-9, 4e-6, 0.9]),
        ("p(R1,CPE1)-p(R2,CPE2)-CPE3", [100, 1e-9, 0.92, 300, 1e-7, 0.85, 5e-6, 0.85]),
        ("p(R1,CPE1)", [1e3, 1e-9, 0.85]),
        ("R0-p(R1,CPE1)", [50, 1e3, 1e-9, 0.85]),
        # bulk arc far above 7 MHz: only the intercept and the tail are seen
        ("p(R1,CPE1)-CPE2", [105, 1e-11, 0.95, 4e-6, 0.88]),
    ],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_known_circuits_round_trip(circuit, params, seed):
    spec = simulate_spectrum(circuit, params, noise=0.01, seed=seed)
    fit = fit_spectrum(spec, kk=False)
    names = Circuit(circuit).names
    r_true = sum(v for n, v in zip(names, params, strict=True) if n.startswith("R"))
    assert fit.r_total_ohm == pytest.approx(r_true, rel=0.02)


@pytest.mark.parametrize("seed", [0, 1])
def test_grain_boundary_separated(seed):
    params = [100, 1e-9, 0.92, 300, 1e-7, 0.85, 5e-6, 0.85]
    spec = simulate_spectrum("p(R1,CPE1)-p(R2,CPE2)-CPE3", params, noise=0.01, seed=seed)
    fit = fit_spectrum(spec, kk=False)
    assert fit.circuit == "p(R1,CPE1)-p(R2,CPE2)-CPE3"
    assert fit.r_bulk_ohm == pytest.approx(100, rel=0.05)  # the high-frequency arc
    assert fit.r_total_ohm == pytest.approx(400, rel=0.02)


def test_pure_resistor():
    spec = simulate_spectrum("R1", [105.0], noise=0.01, seed=4)
    fit = fit_spectrum(spec, thickness=L, diameter=D)
    assert fit.circuit == "R1"
    assert fit.r_total_ohm == pytest.approx(105.0, rel=0.005)
    assert fit.conductivity.sigma_S_cm == pytest.approx(0.085 / (105 * math.pi / 4), rel=0.005)


def test_same_answer_as_impedance_py_customcircuit():
    """Same circuit, same start, same (modulus) weighting: the same optimum."""
    from impedance.models.circuits import CustomCircuit

    from halidelab.lab.eis import initial_guess

    spec = simulate_spectrum("p(R1,CPE1)-CPE2", [105, 1e-9, 0.9, 4e-6, 0.88], noise=0.01, seed=5)
    ours = fit_spectrum(spec, "p(R1,CPE1)-CPE2", kk=False)
    guess = initial_guess("p(R1,CPE1)-CPE2", spec.f, spec.z)
    cc = CustomCircuit("p(R1,CPE1)-CPE2", initial_guess=list(guess))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cc.fit(spec.f, spec.z, weight_by_modulus=True)
    assert np.allclose(ours.parameters, cc.parameters_, rtol=2e-3)


def test_temperature_series_gives_activation_energy():
    """Spectra at 25-100 C from Ea = 0.327 eV, fitted automatically, then Arrhenius.

    The bulk arc moves out of the 7 MHz window as T rises: where impedance.py's chained
    guesses stalled, the data-derived guesses and circuit choice must keep working.
    """
    temps = np.arange(25.0, 101.0, 5.0) + 273.15
    sigma = SIGMA_LZNC * 298.15 / temps * np.exp(-EA_LZNC / K_B_EV_K * (1 / temps - 1 / 298.15))
    spectra = [
        simulate_spectrum(
            "p(R1,CPE1)-CPE2",
            [resistance_for(s, L, D), 3e-10, 0.9, 4e-6, 0.88],
            noise=0.01,
            seed=i,
            temperature_K=t,
        )
        for i, (s, t) in enumerate(zip(sigma, temps, strict=True))
    ]
    fits = fit_spectra(spectra, thickness=L, diameter=D)
    got = np.array([f.conductivity.sigma_S_cm for f in fits])
    assert np.all(np.abs(got / sigma - 1) < 0.02)
    arr = fit_arrhenius(temps, got, [f.conductivity.sigma_err_S_cm for f in fits])
    assert arr.ea_eV == pytest.approx(EA_LZNC, abs=0.01)
    assert arr.value_25C == pytest.approx(SIGMA_LZNC, rel=0.02)


def test_batch_equals_single_fits():
    specs = [
        simulate_spectrum(
            "R0-p(R1,CPE1)-CPE2", [5, 100 + 10 * i, 1e-8, 0.85, 4e-6, 0.9], noise=0.01, seed=i
        )
        for i in range(6)
    ]
    batch = fit_spectra(specs)
    for s, b in zip(specs, batch, strict=True):
        single = fit_spectrum(s, kk=False)
        assert single.circuit == b.circuit
        assert np.allclose(single.parameters, b.parameters, rtol=1e-6)


def test_conductivity_uncertainty_propagation():
    c = conductivity(105.0, "0.85+-0.02mm", "10mm±0.05mm", resistance_err_ohm=2.0)
    rng = np.random.default_rng(0)
    n = 200_000
    r = 105 + 2 * rng.standard_normal(n)
    length = 0.085 + 0.002 * rng.standard_normal(n)
    d = 1.0 + 0.005 * rng.standard_normal(n)
    mc = length / (r * np.pi * d**2 / 4)
    assert c.sigma_S_cm == pytest.approx(0.085 / (105 * math.pi / 4))
    assert c.sigma_err_S_cm == pytest.approx(mc.std(), rel=0.03)


def test_parse_length():
    assert parse_length("0.85mm") == (pytest.approx(0.085), 0.0)
    assert parse_length("0.85+-0.01mm") == (pytest.approx(0.085), pytest.approx(0.001))
    assert parse_length("1cm ± 0.1mm") == (pytest.approx(1.0), pytest.approx(0.01))
    with pytest.raises(UnitError):
        parse_length("0.85")
    with pytest.raises(UnitError, match="swapped"):
        conductivity(100, "10mm", "0.85mm")


def test_kramers_kronig_flags_drifting_data():
    good = simulate_spectrum("p(R1,CPE1)-CPE2", [105, 1e-9, 0.9, 4e-6, 0.88], noise=0.005, seed=1)
    assert kramers_kronig(good).valid
    # a feature in the real part with no imaginary counterpart (e.g. the cell changing
    # during part of the sweep) violates Kramers-Kronig
    f, z = good.f, good.z
    bump = 0.15 * np.abs(z) * np.exp(-(((np.log10(f) - 3.0) / 0.3) ** 2))
    bad = ImpedanceSpectrum.from_arrays(f, z + bump)
    res = kramers_kronig(bad)
    assert not res.valid and res.residual_max > 0.05


def test_fit_errors():
    arc = simulate_spectrum("p(R1,CPE1)-CPE2", [105, 1e-9, 0.9, 4e-6, 0.88], noise=0.01)
    with pytest.raises(FitError, match="does not describe"):
        fit_spectrum(arc, "R1", kk=False)
    rng = np.random.default_rng(0)
    f = np.logspace(6, 0, 40)
    noise = ImpedanceSpectrum.from_arrays(f, 100 * (rng.random(40) + 1j * (rng.random(40) - 0.5)))
    with pytest.raises(FitError):
        fit_spectrum(noise, "p(R1,CPE1)-CPE2", kk=False)
    with pytest.raises(FitError, match="unclosed"):
        Circuit("p(R1,CPE1")
    with pytest.raises(FitError, match="not supported"):
        Circuit("R0-Wo1")
    assert fit_spectra([arc, noise], "p(R1,CPE1)-CPE2", on_error="skip")[1] is None


def test_resistance_undetermined_is_an_error():
    # an arc at 1e-3 of the measured band: R1 cannot be separated from anything
    f = np.logspace(6, 4, 15)
    z = Circuit("p(R1,C1)").impedance(np.array([1e6, 1e-6]), f)
    spec = ImpedanceSpectrum.from_arrays(f, z * (1 + 0.01 * np.sin(np.arange(15))))
    with pytest.raises(FitError):
        fit_spectrum(spec, "R0-p(R1,C1)", kk=False)


def test_user_circuit_with_other_elements_uses_impedance_py():
    spec = simulate_spectrum("R0-p(R1,CPE1)-CPE2", [5, 100, 1e-8, 0.85, 4e-6, 0.9], noise=0.005)
    fit = fit_spectrum(
        spec, "R0-p(R1,CPE1)-Wo1", initial_guess=[5, 100, 1e-8, 0.85, 1e5, 100], kk=False
    )
    assert "impedance.py" in fit.provenance.parameters["fitter"]
    assert fit.r_total_ohm > 0


def test_real_dummy_cells(shared_data):
    """ZPlot test circuits (R - R||C dummy cells): the fit's DC resistance equals the
    measured low-frequency real part, and the fit is as good as the data's own noise."""
    for name in ("Circuit1_EIS_1.z", "Circuit2_EIS_1.z", "Circuit3_EIS_1.z"):
        spec = read_spectrum(shared_data / "eis" / name)
        fit = fit_spectrum(spec)
        assert fit.r_total_ohm == pytest.approx(spec.z.real[-1], rel=0.01)
        assert fit.rms_relative < 0.02 and fit.kk.valid


def test_record_round_trip_and_figures(tmp_path):
    spec = simulate_spectrum(
        "p(R1,CPE1)-CPE2", [105, 1e-9, 0.9, 4e-6, 0.88], noise=0.01, temperature_K=298.15
    )
    fit = fit_spectrum(spec, thickness=L, diameter=D)
    again = EISFit.from_dict(fit.to_dict())
    assert again.conductivity == fit.conductivity and again.parameters == fit.parameters
    plot_nyquist(fit, path=tmp_path / "n.png")
    plot_bode(fit, path=tmp_path / "b.svg")
    assert (tmp_path / "n.png").stat().st_size > 5000
    assert (tmp_path / "b.svg").read_text().startswith("<?xml")
