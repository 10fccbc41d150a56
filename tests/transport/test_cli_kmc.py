"""``halidelab kmc`` on a model cell: BVSE network, an NEB study file, the store."""

from __future__ import annotations

import json

import pytest

from halidelab.cli import main
from halidelab.cli.kmc import parse_temperatures
from halidelab.errors import SimulationError


@pytest.fixture(scope="module")
def cell(tmp_path_factory):
    from halidelab.composition import design_composition
    from halidelab.structures.models import build_models, write_structure

    s = build_models(design_composition("Li2ZrCl6"), n_configs=1, sweeps=40).structures[0]
    path = tmp_path_factory.mktemp("kmc") / "lzc.cif"
    write_structure(s, path)
    return path, s


def test_temperature_ranges():
    assert parse_temperatures("250..400:50") == [250.0, 300.0, 350.0, 400.0]
    assert parse_temperatures("298, 323") == [298.0, 323.0]
    for bad in ("hot", "400..250:25", "-5", "300..400:0"):
        with pytest.raises(SimulationError):
            parse_temperatures(bad)


def test_kmc_cli_bvse_network_into_a_store(cell, tmp_path, capsys):
    path, _ = cell
    db = tmp_path / "r.sqlite"
    args = [
        "kmc",
        str(path),
        "--T",
        "400..500:100",
        "--runs",
        "2",
        "--hops",
        "20",
        "--db",
        str(db),
        "--json",
    ]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["network"]["source"] == "bvse"
    assert [p["temperature_K"] for p in out["kmc"]["points"]] == [400.0, 500.0]
    assert out["kmc"]["ea_eV"] is not None or out["kmc"]["warnings"]
    # a rerun is answered from the store
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out) == out
    assert "minimum-energy path" in out["network"]["notes"][0]
    # the straight-line method on request: another task in the same store, said so
    assert main([*args, "--bvse-saddle", "line"]) == 0
    captured = capsys.readouterr()
    line = json.loads(captured.out)
    assert "straight hop line" in line["network"]["notes"][0]
    assert "straight-line saddles" in captured.err
    assert main([*args, "--bvse-saddle", "curved"]) == 2
    assert "--bvse-saddle must be path or line" in capsys.readouterr().err


def test_kmc_cli_from_an_neb_study_file(cell, tmp_path, capsys, orbit_study):
    path, s = cell
    study, _ = orbit_study(s)
    f = tmp_path / "study.json"
    f.write_text(json.dumps(study))
    assert (
        main(["kmc", str(path), "--neb", str(f), "--T", "300,350", "--runs", "2", "--hops", "20"])
        == 0
    )
    text = capsys.readouterr().out
    assert "neb network" in text and "Ea =" in text
    # both conductivities of the crystal: the orientation mean (the fit) and a pellet's
    assert "single crystal, orientation average: Ea =" in text
    assert "random polycrystal (a pellet's bulk" in text
    assert main(["kmc", str(path), "--source", "neb", "--T", "300"]) == 2
    assert "no NEB study" in capsys.readouterr().err
    f.write_text("{}")
    assert main(["kmc", str(path), "--neb", str(f)]) == 2
    assert "not an NEB study" in capsys.readouterr().err


def test_kmc_cli_superbasin_option(cell, tmp_path, capsys):
    path, _ = cell
    base = ["kmc", str(path), "--T", "400", "--runs", "2", "--hops", "20", "--json"]
    assert main([*base, "--superbasin", "none"]) == 0
    plain = json.loads(capsys.readouterr().out)["kmc"]
    assert plain["points"][0]["superbasin"] is None
    assert plain["provenance"]["parameters"]["superbasin_ratio"] is None
    assert main([*base, "--superbasin", "1000"]) == 0
    sb = json.loads(capsys.readouterr().out)["kmc"]["points"][0]["superbasin"]
    assert sb["ratio"] == 1000.0 and sb["n_raised"] >= 0
    for bad in ("0.5", "fast", "nan"):
        assert main([*base, "--superbasin", bad]) == 2
        err = capsys.readouterr().err
        assert "--superbasin" in err and "Traceback" not in err


def test_kmc_cli_harmonic_prefactors(cell, tmp_path, capsys, orbit_study):
    """--prefactors harmonic: each hop's Vineyard prefactor, said in the output; refused
    with one line for straight-line saddles and where an NEB network would be used."""
    path, s = cell
    base = ["kmc", str(path), "--T", "400", "--runs", "2", "--hops", "20"]
    assert main([*base, "--prefactors", "harmonic"]) == 0
    text = capsys.readouterr().out
    assert "hop prefactors: harmonic (Vineyard" in text
    assert main([*base, "--prefactors", "harmonic", "--json"]) == 0
    net = json.loads(capsys.readouterr().out)["network"]
    assert len(net["site_ln_nu"]) == len(net["site_frac"])
    assert len(net["edge_ln_nu"]) == len(net["edge_a"])
    assert main([*base, "--prefactors", "harmonic", "--bvse-saddle", "line"]) == 2
    assert "needs --bvse-saddle path" in capsys.readouterr().err
    assert main([*base, "--prefactors", "quantum"]) == 2
    assert "--prefactors must be fixed or harmonic" in capsys.readouterr().err
    study, _ = orbit_study(s)
    f = tmp_path / "study.json"
    f.write_text(json.dumps(study))
    assert main([*base, "--neb", str(f), "--prefactors", "harmonic"]) == 2
    err = capsys.readouterr().err
    assert "for BVSE networks" in err and "Traceback" not in err


def test_kmc_output_gives_the_upper_limit_of_a_run_that_stays_sub_diffusive(capsys):
    """A pair rattling over 0.2 eV in a chain joined by 0.6 eV hops: at 300 K the runs
    never leave their cells, so the console says sigma there is below the run's bound; at
    1200 K it is diffusive, no bound."""
    import numpy as np

    from halidelab.cli.kmc import _print
    from halidelab.transport.kmc import make_network, run_kmc

    net = make_network(
        np.diag([6.0, 30.0, 30.0]),
        [[0, 0, 0], [1 / 6.0, 0, 0]],
        [0.0, 0.0],
        [(0, 1, (0, 0, 0), 0.2), (1, 0, (1, 0, 0), 0.6)],
        1,
        exclusion_radius_A=0.0,
    )
    res = run_kmc(
        net,
        [300.0, 1200.0],
        n_runs=4,
        hops_per_carrier=40,
        supercell=(8, 1, 1),
        n_carriers_total=1,
        seed=2,
        superbasin_ratio=None,
    )
    cold = res.points[0]
    _print({"kmc": res.to_dict(), "network": net.to_dict()}, "bvse")
    text = " ".join(capsys.readouterr().out.split())
    assert f"sigma at 300 K < {cold.sigma_upper_S_cm:.2e} S/cm: an upper limit" in text
    assert res.points[1].sigma_upper_S_cm is None
