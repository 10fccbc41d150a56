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
    assert rows[1] == {"x": 0.2, "dopant": "Nb", "sigma_S_cm": pytest.approx(1.03e-3),
                       "ea_eV": 0.327, "temperature_K": None}
    assert rows[0]["dopant"] == "Nb" and rows[0]["ea_eV"] is None
    for text, match in (("dopant,sigma_S_cm\nNb,1e-3\n", "no 'x' column"),
                        ("x,foo\n0.2,1\n", "sigma_S_cm"),
                        ("x,sigma_S_cm\n0.2,-1e-3\n", "line 2: conductivity must be > 0"),
                        ("x,sigma_S_cm\n0.2,abc\n", "line 2: sigma_S_cm 'abc' is not a number"),
                        ("x,ea_eV\n0.2,32.7\n", "outside 0-5 eV"),
                        ("x,ea_eV\n", "no data rows")):
        f.write_text(text)
        with pytest.raises(DataFormatError, match=match):
            read_measured(f)
    with pytest.raises(DataFormatError, match="not found"):
        read_measured(tmp_path / "missing.csv")


@pytest.fixture(scope="module")
def screened(tmp_path_factory):
    """A small real screen: Nb and Ta at x = 0.5 plus Y (pruned), BVSE at 0.5 A."""
    tmp = tmp_path_factory.mktemp("screen")
    store = Store(tmp / "r.sqlite")
    grid = candidate_grid("Li2ZrCl6", ["Nb", "Ta", "Y"], [0.5], ["Zr"])
    settings = ScreenSettings(tiers=("rules", "prior", "models", "bvse"), max_atoms=60,
                              bvse_resolution_A=0.5)
    out = run_screen(grid, store, settings, progress=False)
    assert not out.failed
    cands = gather(store)
    measured = tmp / "m.csv"
    measured.write_text("x,dopant,sigma_S_cm,ea_eV\n0,,5e-4,\n0.5,Nb,3e-4,0.41\n")
    path = write_screen_report(tmp / "rep" / "screen.html", cands, rank(cands), Weights(),
                               {"tiers": "rules, prior, models, bvse"},
                               read_measured(measured), {"deadbeef" * 8: "FitError: example"})
    return path, cands


def test_report_is_self_contained_and_complete(screened):
    path, cands = screened
    text = path.read_text()
    assert not re.search(r"(src|href)=['\"]?(https?:|//|file:)", text)  # nothing external
    assert "<script" not in text
    for heading in ("Ranking", "How the score is computed", "Series per dopant",
                    "Predicted vs measured", "Pruned by the rules", "Candidates", "Failed tasks"):
        assert f">{heading}</h2>" in text
    ranked = [c for c in cands if c.passed and c.dopant]
    assert len(ranked) == 2 and all(c.formula in text for c in ranked)
    # one series figure per surviving dopant (Nb, Ta); Y is pruned with its reason
    assert text.count("<img") == 2 and "Y3+ vs Zr4+ +25.0% exceeds 15%" in text
    # per-candidate pages carry the BVSE barriers and the prior interval of each
    for c in ranked:
        assert f"3D {c.bvse['e_3d_eV']:.3f} eV" in text
        assert f"{c.prior['log10_sigma_S_cm']:.2f} [{c.prior['log10_sigma_low_S_cm']:.2f}" in text
    # the measured Nb x = 0.5 sample sits next to its prediction
    assert "Nb x=0.5" in text and "0.410" in text


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine: the browser check "
                                             "runs where /usr/bin/chromium is installed")
def test_report_renders_in_headless_chromium_without_console_errors(screened, tmp_path):
    path, _ = screened
    shot = tmp_path / "shot.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0"]
    run = subprocess.run([CHROMIUM, *flags, f"--screenshot={shot}", "--window-size=1200,2400",
                          path.as_uri()], capture_output=True, text=True, timeout=120)
    assert shot.is_file(), run.stderr[-2000:]
    assert "Uncaught" not in run.stderr and "ERROR:CONSOLE" not in run.stderr
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", path.as_uri()], capture_output=True,
                         text=True, timeout=120).stdout
    assert "Screening Li2ZrCl6" in dom and dom.count("<img") == 2
    # the screenshot is a rendered page, not a blank one: images and text darken it
    from PIL import Image

    im = Image.open(shot).convert("L")
    assert im.size == (1200, 2400)
    hist = im.histogram()
    dark = sum(hist[:128]) / (im.size[0] * im.size[1])
    assert 0.005 < dark < 0.5
