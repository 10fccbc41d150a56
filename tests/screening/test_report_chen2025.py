"""The reference-case report from stored-like results (no MLIP run)."""

from __future__ import annotations

import re

from halidelab.cases.chen2025 import _md_arrhenius, summary_rows
from halidelab.report.chen2025 import write_chen2025_report


def test_chen2025_report_draws_arrhenius_neb_and_known_materials(tmp_path, neb_study, md_runs):
    prior = {
        x: {
            "log10_sigma_S_cm": v,
            "log10_sigma_low_S_cm": v - 1.3,
            "log10_sigma_high_S_cm": v + 1.3,
            "in_domain": True,
        }
        for x, v in ((0.0, -3.4), (0.2, -3.1))
    }
    runs = md_runs()
    results = {
        "design": {},
        "models": {},
        "relax": {},
        "bvse": {},
        "xrd": {},
        "prior": prior,
        "neb": {0.2: neb_study},
        "md": {0.2: runs},
        "md_arrhenius": {0.2: _md_arrhenius(runs)},
    }
    rows = summary_rows(results, [0.0, 0.2])
    path = write_chen2025_report(
        tmp_path / "report.html", results, rows, ("rules", "prior", "neb", "md"), "chgnet", {}, 1.0
    )
    text = path.read_text()
    assert not re.search(r"(src|href)=['\"]?(https?:|//|file:)", text)
    figs = text.split(">Figures</h2>")[1].split("<h2")[0]
    assert 'data-kind="neb"' in figs and 'data-kind="arrhenius"' in figs
    assert "Simulated XRD: not computed: run tier xrd" in figs
    known = text.split(">Among known halides</h2>")[1].split("<h2")[0]
    assert 'data-kind="literature"' in known
    # both reference-case rows sit among the nearest known materials of the series
    assert "Li2ZrCl6 (LZC, ball milled) (0.000)" in known
    assert "Li1.8Zr0.8Nb0.2Cl6 (LZNC, ball milled) (0.000)" in known
    assert known.count("MD 300 K") == 1 and "prior -3.10 [-4.40, -1.80]" in known
    # the series table carries the NEB and MD numbers of the rows that have them
    series = text.split(">Series table</h2>")[1].split("<h2")[0]
    assert "NEB 3D (eV)" in series and "MD Ea (eV)" in series
    assert f"{rows[1]['md_ea_eV']:.3f}" in series


def test_chen2025_report_without_neb_and_md_says_which_tiers(tmp_path):
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
    }
    rows = summary_rows(results, [0.0, 0.2])
    text = write_chen2025_report(
        tmp_path / "r.html", results, rows, ("rules",), "chgnet", {}, 1.0
    ).read_text()
    assert "CI-NEB energy profiles: not computed: run tier neb" in text
    assert "Arrhenius plot (MD): not computed: run tier md" in text
    assert "not computed: run tier prior" in text.split(">Among known halides</h2>")[1]


def test_ensemble_table_shows_a_kmc_upper_limit_where_no_ordering_gives_a_value():
    """A (x, state) whose orderings all stayed sub-diffusive at 25 C shows the ensemble's
    upper limit, one blocked without a limit says 'no value', one with values its mean;
    the KMC column is kept when only a limit fills it."""
    from halidelab.report.chen2025 import ensemble_table

    stat = {"mean": -3.5, "sem": 0.2, "n": 3, "std": 0.35, "values": [-3.3, -3.5, -3.7]}
    limit = {"n_run": 3, "n_orderings": 3, "n_limits": 3, "upper_log10_sigma_S_cm": -6.25}
    rows = [
        {"formula": "A", "x": 0.0, "state": "annealed", "n": 3, "kmc_bvse_no_value": limit},
        {
            "formula": "B",
            "x": 0.2,
            "state": "annealed",
            "n": 3,
            "kmc_bvse_no_value": {**limit, "upper_log10_sigma_S_cm": None, "n_limits": 0},
        },
        {"formula": "C", "x": 0.4, "state": "annealed", "n": 3, "kmc_bvse_log10_sigma": stat},
    ]
    html = ensemble_table(rows)
    assert "KMC log σ25 (BVSE net)" in html
    assert "&lt; -6.25 (limit, N=3)" in html
    assert "no value" in html
    assert "-3.50 ± 0.20 (N=3)" in html
    # only limits: the column stays
    assert "KMC log σ25 (BVSE net)" in ensemble_table(rows[:1])
