"""The screening report: measured-data reader, self-contained HTML, a real browser render."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from halidelab.errors import DataFormatError
from halidelab.report.screen import read_measured, write_screen_report
from halidelab.screening.plans import ScreenSettings, candidate_grid, run_screen
from halidelab.screening.ranking import Weights, gather, rank
from halidelab.screening.store import Store


def test_read_measured_units_and_errors(tmp_path):
    f = tmp_path / "m.csv"
    f.write_text("x,dopant,sigma_mS_cm,ea_eV\n0,,0.5,\n0.2,Nb,1.03,0.327\n")
    rows = read_measured(f, default_dopant="Nb")
    assert rows[1] == {
        "x": 0.2,
        "dopant": "Nb",
        "sigma_S_cm": pytest.approx(1.03e-3),
        "ea_eV": 0.327,
        "temperature_K": None,
    }
    assert rows[0]["dopant"] == "Nb" and rows[0]["ea_eV"] is None
    for text, match in (
        ("dopant,sigma_S_cm\nNb,1e-3\n", "no 'x' column"),
        ("x,foo\n0.2,1\n", "sigma_S_cm"),
        ("x,sigma_S_cm\n0.2,-1e-3\n", "line 2: conductivity must be > 0"),
        ("x,sigma_S_cm\n0.2,abc\n", "line 2: sigma_S_cm 'abc' is not a number"),
        ("x,ea_eV\n0.2,32.7\n", "outside 0-5 eV"),
        ("x,ea_eV\n", "no data rows"),
    ):
        f.write_text(text)
        with pytest.raises(DataFormatError, match=match):
            read_measured(f)
    with pytest.raises(DataFormatError, match="not found"):
        read_measured(tmp_path / "missing.csv")


@pytest.fixture(scope="module")
def screened(tmp_path_factory, neb_study, md_runs):
    """A small real screen: Nb and Ta at x = 0.5 plus Y (pruned), BVSE at 0.5 A; the Nb
    candidate also gets a stored NEB study and four MD runs (synthetic, known Ea)."""
    tmp = tmp_path_factory.mktemp("screen")
    store = Store(tmp / "r.sqlite")
    grid = candidate_grid("Li2ZrCl6", ["Nb", "Ta", "Y"], [0.5], ["Zr"])
    settings = ScreenSettings(
        n_configs=1,
        tiers=("rules", "prior", "models", "bvse"),
        max_atoms=60,
        bvse_resolution_A=0.5,
        max_mismatch_percent=15.0,
    )
    out = run_screen(grid, store, settings, progress=False)
    assert not out.failed
    nb = next(c for c in gather(store) if c.dopant == "Nb")
    s0 = nb.models["configurations"][0]["structure"]
    store.add("synthetic-neb", "neb", "synthetic neb", {"structure": s0}, "test")
    store.finish("synthetic-neb", neb_study, 0.0)
    for i, run in enumerate(md_runs()):
        key = f"synthetic-md-{i}"
        store.add(
            key,
            "md",
            key,
            {"structure": s0, "temperature_K": run["diffusion"]["temperature_K"]},
            "test",
        )
        store.finish(key, run, 0.0)
    cands = gather(store)
    measured = tmp / "m.csv"
    measured.write_text("x,dopant,sigma_S_cm,ea_eV\n0,,5e-4,\n0.5,Nb,3e-4,0.41\n")
    path = write_screen_report(
        tmp / "rep" / "screen.html",
        cands,
        rank(cands),
        Weights(),
        {"tiers": "rules, prior, models, bvse"},
        read_measured(measured),
        {"deadbeef" * 8: "FitError: example"},
        store=store,
    )
    return path, cands


def pages(text: str) -> dict[str, str]:
    """The candidate pages of a report, keyed by formula."""
    body = text.split(">Candidates</h2>")[1]
    out = {}
    for chunk in body.split("<h3>")[1:]:
        formula = re.sub(r"^(#\d+ |parent: )", "", chunk.split(" <span")[0])
        out[formula] = chunk
    return out


def test_report_is_self_contained_and_complete(screened):
    path, cands = screened
    text = path.read_text()
    assert not re.search(r"(src|href)=['\"]?(https?:|//|file:)", text)  # nothing external
    assert "<script" not in text
    for heading in (
        "Ranking",
        "How the score is computed",
        "Series per dopant",
        "Predicted vs measured",
        "Among known materials",
        "Pruned by the rules",
        "Candidates",
        "Failed tasks",
    ):
        assert f">{heading}</h2>" in text
    ranked = [c for c in cands if c.passed and c.dopant]
    assert len(ranked) == 2 and all(c.formula in text for c in ranked)
    # every image is an embedded PNG
    assert text.count("<img") == text.count('src="data:image/png;base64,')
    assert "Y3+ vs Zr4+ +25.0% exceeds 15%" in text
    # per-candidate pages carry the BVSE barriers and the prior interval of each
    for c in ranked:
        assert f"3D {c.bvse['e_3d_eV']:.3f} eV" in text
        assert f"{c.prior['log10_sigma_S_cm']:.2f} [{c.prior['log10_sigma_low_S_cm']:.2f}" in text
    # the measured Nb x = 0.5 sample sits next to its prediction
    assert "Nb x=0.5" in text and "0.410" in text


def test_candidate_pages_have_a_figure_or_a_note_per_tier(screened, md_ea_eV):
    path, cands = screened
    pg = pages(path.read_text())
    nb = next(c.formula for c in cands if c.dopant == "Nb")
    ta = next(c.formula for c in cands if c.dopant == "Ta")
    assert set(pg) == {"Li2ZrCl6", nb, ta}
    # models and bvse ran for all three: XRD pattern and BVSE slices everywhere
    for chunk in pg.values():
        assert chunk.count('data-kind="xrd"') == 1 and chunk.count('data-kind="bvse-map"') == 1
    # the doped candidates' XRD sits over the parent's; the parent's stands alone
    assert "parent below" in pg[nb] and "parent below" not in pg["Li2ZrCl6"]
    # NEB and MD only for Nb; the others say which tier would fill the gap
    assert 'data-kind="neb"' in pg[nb] and 'data-kind="arrhenius"' in pg[nb]
    for f in (ta, "Li2ZrCl6"):
        assert 'data-kind="neb"' not in pg[f] and 'data-kind="arrhenius"' not in pg[f]
        assert "CI-NEB energy profiles: not computed: run tier neb" in pg[f]
        assert "Arrhenius plot (MD): not computed: run tier md" in pg[f]
    # the Arrhenius caption carries the Ea recovered from the MD runs (put in: 0.33 eV)
    ea, err = (
        float(v) for v in re.search(r"Ea from D\(T\) ([\d.]+) ± ([\d.]+) eV", pg[nb]).groups()
    )
    assert abs(ea - md_ea_eV) < 3 * err + 0.01
    # the in-plane hop did not converge: the caption says how that is drawn
    assert "dotted: band not converged" in pg[nb]


def test_report_without_structure_tiers_names_the_missing_tiers(tmp_path):
    store = Store(tmp_path / "r.sqlite")
    grid = candidate_grid("Li2ZrCl6", ["Nb"], [0.2], ["Zr"])
    run_screen(grid, store, ScreenSettings(tiers=("rules", "prior")), progress=False)
    cands = gather(store)
    path = write_screen_report(tmp_path / "screen.html", cands, rank(cands), Weights())
    text = path.read_text()
    pg = pages(text)
    assert len(pg) == 2
    for chunk in pg.values():
        assert "data-kind=" not in chunk
        assert "Simulated XRD: not computed: run tier models" in chunk
        assert "BVSE map: not computed: run tier bvse" in chunk
        assert "CI-NEB energy profiles: not computed: run tier neb" in chunk
        # no store given: the report cannot know about MD and says so instead of "not computed"
        assert "Arrhenius plot (MD): not looked up" in chunk
    # the prior still places the candidate among known materials
    assert 'data-kind="literature"' in text and "#1 Li1.8Zr0.8Nb0.2Cl6" in text


def test_candidates_are_placed_among_known_halides(screened):
    path, cands = screened
    section = path.read_text().split(">Among known materials</h2>")[1].split("<h2")[0]
    assert section.count('data-kind="literature"') == 1
    # the reference case (Chen 2025) is among the known materials nearest to the Nb/Ta candidates
    assert (
        "Li2ZrCl6 (LZC, ball milled)" in section
        and "Li1.8Zr0.8Nb0.2Cl6 (LZNC, ball milled)" in section
    )
    assert "0.327" in section  # LZNC's measured Ea
    # the parent and every ranked candidate are placed with their prior; Nb also by its MD
    for c in cands:
        if c.passed:
            assert f"prior {c.prior['log10_sigma_S_cm']:.2f} [" in section
    assert section.count("MD 300 K") == 1


CHROMIUM = (
    shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
)


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium on this machine: the browser check "
    "runs where /usr/bin/chromium is installed",
)
def test_report_renders_in_headless_chromium_without_console_errors(screened, tmp_path):
    path, _ = screened
    shot = tmp_path / "shot.png"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
    ]
    run = subprocess.run(
        [CHROMIUM, *flags, f"--screenshot={shot}", "--window-size=1200,2400", path.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.is_file(), run.stderr[-2000:]
    assert "Uncaught" not in run.stderr and "ERROR:CONSOLE" not in run.stderr
    dom = subprocess.run(
        [CHROMIUM, *flags, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    assert "Screening Li2ZrCl6" in dom and dom.count("<img") == path.read_text().count("<img") >= 10
    # the screenshot is a rendered page, not a blank one: images and text darken it
    from PIL import Image

    im = Image.open(shot).convert("L")
    assert im.size == (1200, 2400)
    hist = im.histogram()
    dark = sum(hist[:128]) / (im.size[0] * im.size[1])
    assert 0.005 < dark < 0.5
