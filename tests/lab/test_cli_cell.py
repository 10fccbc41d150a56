"""CLI: halidelab dcpol / lsv / cycling through main([...])."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from halidelab.cli import main
from halidelab.lab.cycling import simulate_cycling
from halidelab.lab.polarization import simulate_decay

AREA = math.pi * 0.5**2


def test_dcpol_cli(tmp_path, capsys):
    files = []
    for k, v in enumerate((0.1, 0.2, 0.3)):
        t, i = simulate_decay(v, 1.09e-9, thickness_cm=0.085, area_cm2=AREA, seed=k)
        p = tmp_path / f"dc_{v}V.csv"
        pd.DataFrame({"time/s": t, "I/nA": i * 1e9}).to_csv(p, index=False)
        files.append(str(p))
    rc = main(
        [
            "dcpol",
            *files,
            "--thickness",
            "0.85mm",
            "--diameter",
            "10mm",
            "--ionic-sigma",
            "1.03e-3",
            "--json",
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sigma_e_S_cm"] == pytest.approx(1.09e-9, rel=0.02)
    assert out["t_ion"] > 0.99999
    rc = main(["dcpol", *files, "--thickness", "0.85mm", "--diameter", "10mm"])
    assert rc == 0 and "S/cm" in capsys.readouterr().out
    assert main(["dcpol", *files, "--thickness", "0.85"]) == 2
    assert "no unit" in capsys.readouterr().err


def test_lsv_cli(tmp_path, capsys):
    e = np.arange(2.8, 5.0, 0.001)
    j = 2e-3 * (e - 2.8) + np.where(
        e > 4.02, 0.01 * np.expm1((np.clip(e, 4.02, None) - 4.02) / 0.03), 0
    )
    j = np.minimum(j, 0.5)
    p = tmp_path / "lsv.csv"
    pd.DataFrame({"Ewe/V": e, "I/mA": j * AREA}).to_csv(p, index=False)
    fig = tmp_path / "lsv.png"
    assert (
        main(
            [
                "lsv",
                str(p),
                "--threshold",
                "0.01mA/cm2",
                "--diameter",
                "10mm",
                "--plot",
                str(fig),
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert abs(out["onset_threshold_V"] - 4.02) < 0.05 and abs(out["onset_tangent_V"] - 4.02) < 0.05
    assert fig.stat().st_size > 0
    assert main(["lsv", str(p), "--threshold", "0.01mA/cm2"]) == 2
    assert "--area" in capsys.readouterr().err


def test_cycling_cli(tmp_path, capsys):
    proto = (
        [(0.2, 133.8, 127.4)]
        + [(0.2, 126.2, 126.0)] * 2
        + [(1.0, 100.1, 100.0)] * 2
        + [(0.2, 117.3, 117.2)] * 2
    )
    df = simulate_cycling(proto, active_mass_g=8.2e-3, c_rate_capacity_mAh_g=140)
    p = tmp_path / "cell.csv"
    df.to_csv(p, index=False)
    assert (
        main(
            [
                "cycling",
                str(p),
                "--active-mass",
                "8.2mg",
                "--c-rate-capacity",
                "140mAh/g",
                "--plot-dir",
                str(tmp_path / "figs"),
                "--cycles",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "convention: cathode" in text and "rate capability" in text and "recovery" in text
    assert (tmp_path / "figs" / "capacity_ce.png").is_file()
    assert (
        main(
            ["cycling", str(p), "--active-mass", "8.2mg", "--c-rate-capacity", "140mAh/g", "--json"]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["first_discharge_mAh_g"] == pytest.approx(127.4, rel=1e-12)
    assert [s["c_rate"] for s in out["rate_table"]] == [0.2, 1.0, 0.2]


def test_cycling_cli_real_files(shared_data, capsys):
    d = shared_data / "cycling"
    assert main(["cycling", str(d / "test_loopsnewoutput_MB_CE1_short10k.csv"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_cycles"] == 2 and out["reader"]["instrument"] == "biologic"
    assert main(["cycling", str(d / "EXP.000")]) == 2
    assert "procedure" in capsys.readouterr().err
    assert main(["cycling", str(d / "maccor_test_file_4267-66-6519.041")]) == 2
    assert "impedance" in capsys.readouterr().err
