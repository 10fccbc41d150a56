"""``halidelab xrd simulate | refine`` through the CLI entry point."""

from __future__ import annotations

import json

import pytest
from pymatgen.core import Lattice, Structure

from halidelab.cli import main
from halidelab.lab.xrd import synthetic_scan
from halidelab.structures.prototypes import read_structure

LYC = "structures/Li3YCl6_P-3m1_obelix-ei3.cif"


def test_simulate_json_and_files(shared_data, tmp_path, capsys):
    xy, peaks = tmp_path / "lyc.xy", tmp_path / "peaks.csv"
    code = main(
        ["xrd", "simulate", str(shared_data / LYC), "-o", str(xy), "--peaks", str(peaks), "--json"]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["wavelength_A"] == pytest.approx(1.54184)
    assert out["formula"] == "Li3YCl6"
    assert [1, 1, 0] in [h for fams in out["hkls"] for h in fams]
    assert len(xy.read_text().splitlines()) > 7000  # 10-80 deg at 0.01
    assert peaks.read_text().startswith("two_theta_deg,")


def test_simulate_table(shared_data, capsys):
    assert main(["xrd", "simulate", str(shared_data / LYC), "--top", "5"]) == 0
    assert "(1 1 0)" in capsys.readouterr().out


def test_refine_json(shared_data, tmp_path, capsys):
    model = read_structure(shared_data / LYC)
    truth = model.copy()
    truth.lattice = Lattice.hexagonal(model.lattice.a * 0.992, model.lattice.c * 1.005)
    scan = synthetic_scan(truth, fwhm_deg=0.09, seed=21)
    path = tmp_path / "pellet.xy"
    path.write_text("\n".join(f"{x:.3f}\t{y:.0f}" for x, y in zip(scan.x, scan.y, strict=True)))
    fig = tmp_path / "fit.svg"
    code = main(
        [
            "xrd",
            "refine",
            str(path),
            "--model",
            str(shared_data / LYC),
            "--json",
            "--plot",
            str(fig),
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert "curves" not in out
    assert abs(out["a_A"] - truth.lattice.a) < 0.01 and abs(out["c_A"] - truth.lattice.c) < 0.01
    assert out["a_err_A"] > 0 and out["volume_err_A3"] > 0
    assert out["converged"] is True
    assert fig.stat().st_size > 10_000


def test_refine_lab6_asymmetry_flag(shared_data, tmp_path, capsys):
    """The real 11-BM LaB6 standard: the asymmetry is refined and printed by default;
    --no-asymmetry fits symmetric peaks and says so (the cell then moves 3e-4 A low)."""
    lab6 = shared_data / "xrd" / "LaB6_SRM660a_11bmb_3844_5-15deg.fxye"
    cif = tmp_path / "LaB6.cif"
    cif.write_text(
        Structure.from_spacegroup(
            "Pm-3m", Lattice.cubic(4.157), ["La", "B"], [[0, 0, 0], [0.1975, 0.5, 0.5]]
        ).to(fmt="cif")
    )
    assert main(["xrd", "refine", str(lab6), "--model", str(cif), "--json"]) == 0
    on = json.loads(capsys.readouterr().out)
    assert main(["xrd", "refine", str(lab6), "--model", str(cif), "--no-asymmetry"]) == 0
    text = capsys.readouterr().out
    assert on["axial_shl"] > 10 * on["axial_shl_err"] > 0
    assert on["provenance"]["parameters"]["asymmetry"].startswith("refined")
    assert "peak asymmetry (axial divergence): off" in text


@pytest.mark.parametrize(
    "content,args,match",
    [
        ("", [], "empty"),
        ("\n".join(str(10 + 0.02 * i) for i in range(300)), [], "one column"),
        (None, ["--range", "80,10"], "range"),
        (None, ["--wavelength", "CuKz"], "wavelength"),
        (None, ["--system", "cubic"], "cubic"),
    ],
)
def test_refine_bad_input_exit_2(shared_data, tmp_path, capsys, content, args, match):
    path = tmp_path / "bad.xy"
    if content is None:
        scan = synthetic_scan(
            read_structure(shared_data / LYC), fwhm_deg=0.1, seed=1, two_theta_range_deg=(10, 40)
        )
        content = "\n".join(f"{x:.3f} {y:.0f}" for x, y in zip(scan.x, scan.y, strict=True))
    path.write_text(content)
    code = main(["xrd", "refine", str(path), "--model", str(shared_data / LYC), *args])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1
    assert match in err


def test_missing_files_exit_2(shared_data, tmp_path, capsys):
    assert main(["xrd", "simulate", str(tmp_path / "none.cif")]) == 2
    assert (
        main(["xrd", "refine", str(tmp_path / "none.xy"), "--model", str(shared_data / LYC)]) == 2
    )
    bad_cif = tmp_path / "bad.cif"
    bad_cif.write_text("data_x\n_cell_length_a 5\nloop_\n_atom_site_label\n")
    assert main(["xrd", "simulate", str(bad_cif)]) == 2
    errs = capsys.readouterr().err.strip().splitlines()
    assert len(errs) == 3 and all(e.startswith("error:") for e in errs)
