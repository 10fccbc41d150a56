"""The Chen case's ensemble science on synthetic members (no MLIP): statistics per
composition and state, the verdicts and their significance, and the report sections."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from halidelab.cases.chen2025 import ensemble_rows, ensemble_verdicts, summary_rows
from halidelab.report.chen2025 import write_chen2025_report

XS = (0.0, 0.2, 0.4)


def _kmc(log10_s: float, ea: float, err: float = 0.05) -> dict:
    s = 10.0**log10_s
    pts = [
        {
            "temperature_K": t,
            "sigma_S_cm": s * np.exp(-ea / 8.617e-5 * (1 / t - 1 / 298.15)),
            "sigma_err_S_cm": 0.1 * s * np.exp(-ea / 8.617e-5 * (1 / t - 1 / 298.15)),
            "d_sigma_cm2_s": 1e-8,
            "diffusive": True,
            "haven_ratio": 0.6,
        }
        for t in (298.15, 348.15)
    ]
    return {
        "kmc": {
            "sigma_25C_S_cm": s,
            "sigma_25C_low_S_cm": s / 10**err,
            "sigma_25C_high_S_cm": s * 10**err,
            "ea_eV": ea,
            "ea_err_eV": 0.01,
            "points": pts,
            "assumptions": ["synthetic"],
        }
    }


def members(noise: float = 0.01, seed: int = 0) -> dict:
    """3 orderings per x and state: V contracts with x, the ball-milled cells conduct 3
    decades better, and sigma peaks at x = 0.2."""
    rng = np.random.default_rng(seed)
    out = {}
    peak = {0.0: -3.3, 0.2: -2.9, 0.4: -3.4}
    for x in XS:
        for st in ("ball-milled", "annealed"):
            for i in range(3):
                a = 10.94 - 0.3 * x + rng.normal(0, noise)
                s = Structure(Lattice.hexagonal(a, 5.93 - 0.05 * x), ["Li"], [[0, 0, 0]])
                ls = peak[x] - (0.0 if st == "ball-milled" else 3.0) + rng.normal(0, 0.03)
                out[(x, st, i)] = {
                    "structure": s.as_dict(),
                    "disorder": {"m_off_ordered_sites": 0.6} if st == "ball-milled" else None,
                    "relax": {
                        "structure": s.as_dict(),
                        "energy_per_atom_eV": -4.77 + (0.07 if st == "ball-milled" else 0),
                        "converged": True,
                    },
                    "bvse": {"e_1d_eV": 0.5, "e_3d_eV": 0.6 - 0.1 * x + rng.normal(0, 0.005)},
                    "neb": None,
                    "kmc_bvse": _kmc(ls, 0.35 + rng.normal(0, 0.005)),
                    "kmc_neb": None,
                    "supercell_matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
                    "n_formula_units": 3,
                }
    return out


def test_rows_are_ensemble_statistics():
    rows = ensemble_rows(members(), XS, ("ball-milled", "annealed"))
    assert len(rows) == 6 and all(r["n"] == 3 for r in rows)
    r = next(r for r in rows if r["x"] == 0.2 and r["state"] == "ball-milled")
    assert r["a_A"]["mean"] == pytest.approx(10.88, abs=0.03) and r["a_A"]["n"] == 3
    assert (
        r["kmc_bvse_log10_sigma"]["sem"] >= 0.05 / np.sqrt(3) - 1e-12
    )  # member errors are a floor
    assert r["m_off_ordered_sites"]["mean"] == pytest.approx(0.6)
    assert next(r for r in rows if r["state"] == "annealed")["m_off_ordered_sites"] is None


def test_verdicts_claim_only_what_the_ensembles_resolve():
    rows = ensemble_rows(members(), XS, ("ball-milled", "annealed"))
    v = {d["quantity"]: d for d in ensemble_verdicts(rows, XS, ("ball-milled", "annealed"))}
    lat = v["lattice vs x, ball-milled (MLIP, V per f.u.)"]
    assert lat["resolved"] and lat["verdict"].startswith("contracts with Nb")
    pk = v["log10 sigma(25 C), KMC on BVSE networks, ball-milled"]
    assert pk["resolved"] and "peaks at x = 0.2" in pk["verdict"]
    st = v["ball-milled minus annealed, x=0.2: log10 sigma(25 C) (KMC, BVSE networks)"]
    assert st["resolved"] and st["verdict"].startswith("ball-milled conducts better")
    assert "1.03e-3" in st["measured"]
    # the same series with orderings that scatter as much as the effect: nothing is claimed
    noisy = ensemble_rows(members(noise=0.5, seed=3), XS, ("ball-milled",))
    lat2 = {d["quantity"]: d for d in ensemble_verdicts(noisy, XS, ("ball-milled",))}[
        "lattice vs x, ball-milled (MLIP, V per f.u.)"
    ]
    assert not lat2["resolved"] and lat2["verdict"].startswith("not resolved")


def test_report_has_ensemble_and_kmc_sections(tmp_path):
    mem = members()
    rows_e = ensemble_rows(mem, XS, ("ball-milled", "annealed"))
    verdicts = ensemble_verdicts(rows_e, XS, ("ball-milled", "annealed"))
    results = {
        "design": {},
        "models": {},
        "relax": {},
        "bvse": {},
        "xrd": {},
        "prior": {},
        "neb": {},
        "md": {},
        "md_arrhenius": {},
        "ensembles": rows_e,
        "kmc": {
            f"{x:g} {st}": [m for k, m in mem.items() if k[0] == x and k[1] == st]
            for x in XS
            for st in ("ball-milled", "annealed")
        },
    }
    rows = summary_rows(results, list(XS), ensembles=rows_e)
    assert (
        rows[1]["a_relaxed_A"] == pytest.approx(rows_e[2]["a_A"]["mean"])
        and rows[1]["n_orderings"] == 3
    )
    text = write_chen2025_report(
        tmp_path / "r.html",
        results,
        rows,
        ("rules", "kmc"),
        "chgnet",
        {},
        1.0,
        verdict_rows=verdicts,
    ).read_text()
    assert ">Ensembles and synthesis states</h2>" in text and "± " in text
    kmc = text.split(">Kinetic Monte Carlo (25-100 °C)</h2>")[1].split("<h2")[0]
    assert 'data-kind="kmc"' in kmc and "synthetic" in kmc
    assert "contracts with Nb" in text.split(">Predicted next to measured</h2>")[1].split("<h2")[0]
