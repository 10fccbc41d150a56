"""Bad and edge inputs to the lab commands (issue 17): exit 2, one ``error:`` line, no file
written or changed; and the confident wrong answers that must not come back.

Each test names the defect it guards; each failed before its fix (internal error exit 1,
a silent exit 0, or a message naming a Python argument the CLI does not have).
"""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pandas as pd
import pytest

from halidelab.cli import main
from halidelab.lab.eis import simulate_pellet_series, simulate_spectrum
from halidelab.lab.polarization import simulate_decay
from halidelab.lab.xrd import synthetic_scan
from halidelab.structures.prototypes import read_structure

LYC = "structures/Li3YCl6_P-3m1_obelix-ei3.cif"
LIC = "structures/Li3InCl6_C2_m_obelix-de5.cif"
GEOM = ["--thickness", "0.85mm", "--diameter", "10mm"]


def _digest(folder) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def _fails(capsys, args, folder, *words) -> str:
    """Run; expect exit 2, one error line containing ``words``, the folder unchanged."""
    before = _digest(folder)
    code = main([str(a) for a in args])
    cap = capsys.readouterr()
    err = [ln for ln in cap.err.strip().splitlines() if not ln.startswith("warning:")]
    assert code == 2, (code, cap.err)
    assert len(err) == 1 and err[0].startswith("error: "), cap.err
    assert "Traceback" not in cap.err and "internal error" not in cap.err
    for w in words:
        assert w in err[0], err[0]
    assert _digest(folder) == before
    return err[0]


def _spectrum_csv(path, f, z):
    rows = "\n".join(f"{a:.10g},{b.real:.10g},{-b.imag:.10g}" for a, b in zip(f, z, strict=True))
    path.write_text("freq/Hz,Z'/ohm,-Z''/ohm\n" + rows + "\n")
    return path


# ------------------------------------------------------------------------------ eis
@pytest.mark.parametrize(("zr", "zi", "word"), [(0.0, 0.0, "zero"), (1e305, 1e306, "beyond")])
def test_all_zero_or_overflowing_spectrum(tmp_path, capsys, zr, zi, word):
    f = np.logspace(6, -1, 40)
    path = _spectrum_csv(tmp_path / "bad.csv", f, np.full(f.size, zr + 1j * -zi))
    _fails(capsys, ["eis", "fit", path], tmp_path, word)


def test_unsupported_plot_extension_before_any_work(tmp_path, capsys):
    spec = simulate_spectrum("p(R1,CPE1)-CPE2", [100, 1e-9, 0.9, 4e-6, 0.88])
    path = _spectrum_csv(tmp_path / "p_25C.csv", spec.f, spec.z)
    _fails(capsys, ["eis", "fit", path, "--plot", tmp_path / "n.foo"], tmp_path, "--plot", ".png")
    _fails(capsys, ["eis", "fit", path, "--bode", tmp_path / "b"], tmp_path, "--bode")


def test_element_message_names_no_python_argument(tmp_path, capsys):
    spec = simulate_spectrum("p(R1,CPE1)-CPE2", [100, 1e-9, 0.9, 4e-6, 0.88])
    path = _spectrum_csv(tmp_path / "p_25C.csv", spec.f, spec.z)
    msg = _fails(capsys, ["eis", "fit", path, "--circuit", "R0-p(R1,E1)"], tmp_path, "'E'")
    assert "initial_guess" not in msg and "=[" not in msg


def test_sign_message_names_the_cli_option(tmp_path, capsys):
    spec = simulate_spectrum("p(R1,CPE1)-CPE2", [100, 1e-9, 0.9, 4e-6, 0.88])
    rows = "\n".join(f"{a},{b.real},{-b.imag}" for a, b in zip(spec.f, spec.z, strict=True))
    path = tmp_path / "nosign_25C.csv"
    path.write_text("f,Zre,Zim\n" + rows + "\n")
    assert main(["eis", "fit", str(path)]) == 0
    err = capsys.readouterr().err
    assert "--imag-sign Im" in err and "imag_sign=" not in err
    _fails(capsys, ["eis", "fit", path, "--imag-sign", "sideways"], tmp_path, "--imag-sign")


def test_arrhenius_counts_temperatures_not_files(tmp_path, capsys):
    """The same file twice must not shrink the error bar: it is counted once, and said."""
    paths = []
    for s in simulate_pellet_series(np.array([20.0, 40.0, 60.0]) + 273.15):
        paths.append(_spectrum_csv(tmp_path / f"{s.source}.csv", s.f, s.z))
    assert main(["eis", "arrhenius", *map(str, paths), *GEOM, "--json"]) == 0
    once = json.loads(capsys.readouterr().out)
    assert main(["eis", "arrhenius", *map(str, paths), str(paths[0]), *GEOM, "--json"]) == 0
    cap = capsys.readouterr()
    twice = json.loads(cap.out)
    assert "counted once" in cap.err
    assert twice["n_temperatures"] == 3 and twice["n_spectra"] == 3
    assert twice["arrhenius"]["ea_err_eV"] == pytest.approx(once["arrhenius"]["ea_err_eV"])


def test_arrhenius_temperatures_option(tmp_path, capsys):
    paths = []
    for k, s in enumerate(simulate_pellet_series(np.array([20.0, 40.0, 60.0]) + 273.15)):
        paths.append(_spectrum_csv(tmp_path / f"run{k}.csv", s.f, s.z))
    _fails(capsys, ["eis", "arrhenius", *paths, *GEOM], tmp_path, "--temperatures")
    _fails(
        capsys,
        ["eis", "arrhenius", *paths, *GEOM, "--temperatures", "20C,40C"],
        tmp_path,
        "--temperatures",
        "3 files",
    )
    assert (
        main(
            ["eis", "arrhenius", *map(str, paths), *GEOM, "--temperatures", "20C,40C,60C", "--json"]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["arrhenius"]["temperature_K"] == pytest.approx([293.15, 313.15, 333.15])


def test_arrhenius_flagged_point_is_excluded_with_its_reason(tmp_path, capsys):
    specs = simulate_pellet_series(np.array([-20, 0, 20, 40, 60, 80, 100]) + 273.15)
    wrong = simulate_pellet_series([313.15], seed=99)[0]  # a 40 C spectrum named 60 C
    specs[4] = wrong
    for k, s in enumerate(specs):
        t = (-20, 0, 20, 40, 60, 80, 100)[k]
        _spectrum_csv(tmp_path / f"pellet_{t}C.csv", s.f, s.z)
    code = main(
        ["eis", "arrhenius", str(tmp_path / "pellet_*C.csv"), *GEOM, "--resistance", "bulk"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "excluded 60.0 °C" in out and "Arrhenius trend" in out
    ea = float(out.split("Ea(bulk) = ")[1].split()[0])
    assert ea == pytest.approx(0.35, abs=0.02)


# ------------------------------------------------------------------------------ xrd
def test_xrd_simulate_bad_width_and_top(shared_data, tmp_path, capsys):
    out = tmp_path / "s.xy"
    for bad in ("0", "-1"):
        _fails(
            capsys,
            ["xrd", "simulate", shared_data / LYC, "--fwhm", bad, "-o", out],
            tmp_path,
            "--fwhm",
        )
    _fails(capsys, ["xrd", "simulate", shared_data / LYC, "--top", "-5"], tmp_path, "--top")


def test_xrd_refine_bad_ka2_ratio_and_plot(shared_data, tmp_path, capsys):
    scan = synthetic_scan(read_structure(shared_data / LYC), seed=2)
    path = tmp_path / "p.xy"
    path.write_text("\n".join(f"{a:.3f} {b:.0f}" for a, b in zip(scan.x, scan.y, strict=True)))
    _fails(
        capsys,
        ["xrd", "refine", path, "--model", shared_data / LYC, "--ka2-ratio", "-1"],
        tmp_path,
        "--ka2-ratio",
    )
    _fails(
        capsys,
        ["xrd", "refine", path, "--model", shared_data / LYC, "--plot", tmp_path / "fig.xyz"],
        tmp_path,
        "--plot",
    )


def test_xrd_refine_negative_intensities(shared_data, tmp_path, capsys):
    x = np.arange(10, 80, 0.02)
    y = np.random.default_rng(0).normal(0, 30, x.size)
    path = tmp_path / "sub.xy"
    path.write_text("\n".join(f"{a:.3f} {b:.1f}" for a, b in zip(x, y, strict=True)))
    _fails(
        capsys,
        ["xrd", "refine", path, "--model", shared_data / LYC],
        tmp_path,
        "negative intensity",
    )


def test_xrd_refine_pure_noise_finds_no_pattern(shared_data, tmp_path, capsys):
    x = np.arange(10, 80, 0.02)
    y = np.random.default_rng(0).poisson(300, x.size)
    path = tmp_path / "noise.xy"
    path.write_text("\n".join(f"{a:.3f} {b}" for a, b in zip(x, y, strict=True)))
    _fails(
        capsys,
        ["xrd", "refine", path, "--model", shared_data / LYC],
        tmp_path,
        "no diffraction pattern",
    )


def test_xrd_refine_with_another_phase_model(shared_data, tmp_path, capsys):
    scan = synthetic_scan(read_structure(shared_data / LYC), seed=1)
    path = tmp_path / "lyc.xy"
    path.write_text("\n".join(f"{a:.3f} {b:.0f}" for a, b in zip(scan.x, scan.y, strict=True)))
    _fails(capsys, ["xrd", "refine", path, "--model", shared_data / LIC], tmp_path, "do not match")


def test_simulated_pattern_refined_with_its_own_wavelength(shared_data, tmp_path, capsys):
    """xrd simulate writes one line at the Cu K-alpha mean (1.54184 A) and says so in the
    header; refine must use that line, not add a K-alpha2 doublet."""
    xy = tmp_path / "sim.xy"
    assert main(["xrd", "simulate", str(shared_data / LYC), "-o", str(xy), "--fwhm", "0.08"]) == 0
    capsys.readouterr()
    assert main(["xrd", "refine", str(xy), "--model", str(shared_data / LYC), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["wavelength_A"] == pytest.approx(1.54184) and res["kalpha2_ratio"] == 0.0
    assert res["rwp"] < 0.05
    assert res["a_A"] == pytest.approx(read_structure(shared_data / LYC).lattice.a, rel=2e-4)


# ------------------------------------------------------------------------------ cells
def _cycling_csv(path, t):
    n = len(t)
    i = np.where((np.arange(n) // 50) % 2 == 0, 1.0, -1.0)
    v = 3.7 + 0.001 * np.arange(n) * i
    pd.DataFrame({"time/s": t, "Ewe/V": v, "I/mA": i}).to_csv(path, index=False)
    return path


def test_cycling_constant_time_and_bad_curves(tmp_path, capsys):
    const = _cycling_csv(tmp_path / "const.csv", np.full(200, 5.0))
    _fails(capsys, ["cycling", const], tmp_path, "time column does not advance")
    good = _cycling_csv(tmp_path / "good.csv", np.arange(200.0) * 10)
    _fails(
        capsys,
        ["cycling", good, "--curves", "a,b", "--plot-dir", tmp_path / "figs"],
        tmp_path,
        "--curves",
    )
    assert not (tmp_path / "figs").exists()


def _lsv_csv(path, current):
    e = np.arange(2.8, 5.0, 0.001)
    pd.DataFrame({"Ewe/V": e, "I/mA": current(e)}).to_csv(path, index=False)
    return path


def test_lsv_messages_blame_the_right_thing(tmp_path, capsys):
    good = _lsv_csv(
        tmp_path / "lsv.csv",
        lambda e: 2e-3 * (e - 2.8) + np.where(e > 4.0, 0.01 * (e - 4.0) / 0.03, 0),
    )
    _fails(capsys, ["lsv", good, "--threshold", "-1uA"], tmp_path, "positive")
    nan = _lsv_csv(tmp_path / "nan.csv", lambda e: np.full(e.size, np.nan))
    _fails(capsys, ["lsv", nan, "--threshold", "1uA"], tmp_path, "holds no numbers")
    _fails(capsys, ["lsv", good, "--diameter", "10mm", "--area", "2cm2"], tmp_path, "contradicts")
    assert main(["lsv", str(good), "--diameter", "10mm", "--area", "0.785cm2"]) == 0
    capsys.readouterr()


def test_dcpol_time_running_backwards(tmp_path, capsys):
    t, i = simulate_decay(0.5, 1e-9, thickness_cm=0.085, area_cm2=math.pi / 4, seed=0)
    path = tmp_path / "dc_0.5V.csv"
    pd.DataFrame({"time/s": t[::-1], "I/nA": i * 1e9}).to_csv(path, index=False)
    _fails(capsys, ["dcpol", path, *GEOM], tmp_path, "backwards")
