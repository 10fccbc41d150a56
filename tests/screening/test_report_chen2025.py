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
