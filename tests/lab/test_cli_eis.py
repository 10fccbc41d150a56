"""``halidelab eis``: fit, arrhenius, volcano through the CLI entry point."""

from __future__ import annotations

import json

import numpy as np
import pytest

from halidelab.cli import main
from halidelab.constants import K_B_EV_K
from halidelab.lab.eis import resistance_for, simulate_spectrum

L, D = "0.85mm", "10mm"


def _write(path, sigma, seed=0):
    spec = simulate_spectrum(
        "p(R1,CPE1)-CPE2",
        [resistance_for(sigma, L, D), 1e-9, 0.9, 4e-6, 0.88],
        noise=0.01,
        seed=seed,
    )
    rows = "\n".join(
        f"{f:.8g},{z.real:.8g},{-z.imag:.8g}" for f, z in zip(spec.f, spec.z, strict=True)
    )
    path.write_text("freq/Hz,Z'/ohm,-Z''/ohm\n" + rows + "\n")
    return path


def _series(folder, sigma25, ea, prefix="pellet"):
    for i, tc in enumerate(range(25, 101, 15)):
        t = tc + 273.15
        sig = sigma25 * 298.15 / t * np.exp(-ea / K_B_EV_K * (1 / t - 1 / 298.15))
        _write(folder / f"{prefix}_{tc}C.csv", sig, seed=i)


def test_fit_json(tmp_path, capsys):
    path = _write(tmp_path / "pellet_25C.csv", 1.03e-3)
    code = main(
        [
            "eis",
            "fit",
            str(path),
            "--thickness",
            L,
            "--diameter",
            D,
            "--json",
            "--plot",
            str(tmp_path / "n.png"),
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out[0]["conductivity"]["sigma_S_cm"] == pytest.approx(1.03e-3, rel=0.02)
    assert out[0]["temperature_K"] == pytest.approx(298.15)
    assert (tmp_path / "n.png").exists()


def test_fit_table(tmp_path, capsys):
    path = _write(tmp_path / "pellet_25C.csv", 1.03e-3)
    assert main(["eis", "fit", str(path), "--thickness", L, "--diameter", D]) == 0
    out = capsys.readouterr().out
    assert "pellet_25C.csv" in out and "mS/cm" in out


def test_arrhenius_from_glob(tmp_path, capsys):
    _series(tmp_path, 1.03e-3, 0.327)
    code = main(
        [
            "eis",
            "arrhenius",
            str(tmp_path / "pellet_*C.csv"),
            "--thickness",
            L,
            "--diameter",
            D,
            "--json",
            "--plot",
            str(tmp_path / "a.png"),
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["arrhenius"]["ea_eV"] == pytest.approx(0.327, abs=0.01)
    assert out["arrhenius"]["value_25C"] == pytest.approx(1.03e-3, rel=0.03)
    assert (tmp_path / "a.png").exists()


def test_volcano(tmp_path, capsys):
    for x, (s25, ea) in {
        "0": (0.5e-3, 0.36),
        "0.2": (1.03e-3, 0.327),
        "0.4": (0.6e-3, 0.35),
    }.items():
        _series(tmp_path, s25, ea, prefix=f"x{x.replace('.', 'p')}")
    args = [
        "eis",
        "volcano",
        "--thickness",
        L,
        "--diameter",
        D,
        "--json",
        "--plot",
        str(tmp_path / "v.png"),
    ]
    args += [f"{x}={tmp_path}/x{x.replace('.', 'p')}_*C.csv" for x in ("0", "0.2", "0.4")]
    assert main(args) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["x"] for r in rows] == [0.0, 0.2, 0.4]
    best = max(rows, key=lambda r: r["value_25C"])
    assert best["x"] == 0.2 and best["ea_eV"] == min(r["ea_eV"] for r in rows)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    return err[0]


def test_bad_file_exit_2(tmp_path, capsys, shared_data):
    missing = shared_data / "eis" / "exampleDataBioLogic_MissingFreq.mpt"
    assert main(["eis", "fit", str(missing)]) == 2
    assert "freq/Hz" in _one_line_error(capsys)
    empty = tmp_path / "e.csv"
    empty.write_text("")
    assert main(["eis", "fit", str(empty)]) == 2
    assert "empty" in _one_line_error(capsys)
    assert main(["eis", "fit", str(tmp_path / "nothing_*.mpt")]) == 2
    assert "no files match" in _one_line_error(capsys)


def test_bad_units_exit_2(tmp_path, capsys):
    path = _write(tmp_path / "pellet_25C.csv", 1.03e-3)
    assert main(["eis", "fit", str(path), "--thickness", "0.85", "--diameter", D]) == 2
    assert "no unit" in _one_line_error(capsys)
    assert main(["eis", "fit", str(path), "--thickness", "0.85parsec", "--diameter", D]) == 2
    assert "unknown unit" in _one_line_error(capsys)


def test_arrhenius_needs_temperatures(tmp_path, capsys):
    _write(tmp_path / "a.csv", 1e-3)
    _write(tmp_path / "b.csv", 2e-3)
    code = main(
        [
            "eis",
            "arrhenius",
            str(tmp_path / "a.csv"),
            str(tmp_path / "b.csv"),
            "--thickness",
            L,
            "--diameter",
            D,
        ]
    )
    assert code == 2
    assert "no temperature" in _one_line_error(capsys)
