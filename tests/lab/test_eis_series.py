"""A temperature series fitted as one analysis (issue 15).

The synthetic pellet: bulk Ea 0.35 eV (25 pF, 1 mS/cm at 25 C), grain boundary Ea
0.55 eV (20 nF), blocking electrodes, 0.5% noise, 7 temperatures from -20 to 100 C in a
7 MHz-0.1 Hz window: the bulk arc's apex is at 6 MHz at -20 C (half of it outside the
window) and above the window at every other temperature.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

from halidelab.arrhenius import fit_arrhenius
from halidelab.errors import DataFormatError, FitError
from halidelab.lab.eis import (
    arrhenius_resistance,
    fit_series,
    fit_spectra,
    simulate_pellet_series,
)

T_K = np.array([-20, 0, 20, 40, 60, 80, 100]) + 273.15
GEOM = {"thickness": "0.85mm", "diameter": "10mm"}
EA_B, EA_GB = 0.35, 0.55


@pytest.fixture(scope="module")
def series():
    return simulate_pellet_series(T_K)


@pytest.fixture(scope="module")
def fitted(series):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_series(series, **GEOM, joint=True)


def test_bulk_arc_is_half_outside_the_window_at_the_lowest_temperature():
    # apex frequency 1/(2 pi R C) of the bulk arc vs the 7 MHz top of the window
    r = arrhenius_resistance(108.0, EA_B, T_K[0])
    f_apex = 1 / (2 * np.pi * r * 2.5e-11)
    assert 3e6 < f_apex < 7e6
    assert 1 / (2 * np.pi * arrhenius_resistance(108.0, EA_B, T_K[1]) * 2.5e-11) > 7e6


def test_series_recovers_both_activation_energies(fitted):
    assert fitted.arrhenius_bulk.ea_eV == pytest.approx(EA_B, abs=0.02)
    assert fitted.arrhenius_gb.ea_eV == pytest.approx(EA_GB, abs=0.02)
    # the resistance errors describe the scatter (0.5% noise)
    assert fitted.arrhenius_bulk.chi2_red < 5 and fitted.arrhenius_gb.chi2_red < 5
    assert fitted.excluded == ()
    assert fitted.joint.ea_bulk_eV == pytest.approx(EA_B, abs=0.02)
    assert fitted.joint.ea_gb_eV == pytest.approx(EA_GB, abs=0.02)


def test_series_resistances_at_every_temperature(fitted):
    for pt in fitted.points:
        rb = arrhenius_resistance(108.0, EA_B, pt.temperature_K)
        rg = arrhenius_resistance(400.0, EA_GB, pt.temperature_K)
        assert pt.r_bulk_ohm == pytest.approx(rb, rel=0.03)
        assert pt.r_gb_ohm == pytest.approx(rg, rel=0.03)
        # arcs named by capacitance: pF bulk, nF grain boundary
        assert pt.c_bulk_F < 1e-10 < pt.c_gb_F


def test_single_spectrum_path_gets_the_bulk_wrong_on_the_same_files(series):
    """What the series fixes: fitted one by one, the automatic circuit switches between
    two arcs and 'R0 + one arc', and R_bulk (the highest-frequency arc) is then the
    grain boundary at some temperatures."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = fit_spectra(series, resistance="bulk", **GEOM, on_error="skip")
    assert len({f.circuit for f in fits if f}) > 1
    errs = [
        abs(f.r_bulk_ohm / arrhenius_resistance(108.0, EA_B, f.temperature_K) - 1)
        for f in fits
        if f
    ]
    assert max(errs) > 0.3
    ok = [f for f in fits if f]
    arr = fit_arrhenius(
        [f.temperature_K for f in ok],
        [f.conductivity.sigma_S_cm for f in ok],
        [f.conductivity.sigma_err_S_cm for f in ok],
    )
    # the mixed-up points do not lie on one line: a scatter far above the errors
    assert arr.chi2_red > 100


def test_duplicate_file_counted_once(series):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sf = fit_series([*series[:4], series[3]], **GEOM)
    assert len(sf.points) == 4
    assert any("same data" in n for n in sf.notes)


def test_mislabelled_temperature_is_excluded_with_its_reason(series):
    specs = list(series)
    wrong = simulate_pellet_series([313.15], seed=99)[0]  # a 40 C spectrum ...
    specs[4] = dataclasses.replace(wrong, temperature_K=333.15, source="pellet_60C")  # ... as 60 C
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sf = fit_series(specs, **GEOM)
    for res in ("bulk", "gb", "total"):
        assert [t for t, _ in sf.excluded_for(res)] == [pytest.approx(333.15)]
        assert "Arrhenius trend" in sf.excluded_for(res)[0][1]
    assert sf.arrhenius_bulk.ea_eV == pytest.approx(EA_B, abs=0.02)
    assert sf.arrhenius_gb.ea_eV == pytest.approx(EA_GB, abs=0.02)


def test_series_needs_temperatures(series):
    with pytest.raises(FitError, match="one temperature"):
        fit_series([series[0], dataclasses.replace(series[1], temperature_K=T_K[0])], **GEOM)
    with pytest.raises(DataFormatError, match="--temperatures"):
        fit_series([dataclasses.replace(series[0], temperature_K=None), series[1]], **GEOM)
