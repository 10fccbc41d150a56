"""The reference-case pipeline end to end on a small plan (few steps, coarse grid)."""

from __future__ import annotations

import json
import re

import pytest

from halidelab.cases.chen2025 import primitive_lattice, reproduce_chen2025
from halidelab.cli import main
from halidelab.errors import HalidelabError


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("chen")
    res = reproduce_chen2025(
        out=out,
        xs=(0.0, 0.2),
        model_xs=(0.0, 0.2),
        tiers=("rules", "models", "relax", "bvse", "prior"),
        relax_steps=3,
        bvse_resolution_A=0.5,
        max_atoms=140,
        progress=False,
        n_configs=2,
    )
    return out, res


def test_pipeline_writes_store_report_and_rows(small_run):
    out, res = small_run
    assert not res.failed, res.failed
    rows = {r["x"]: r for r in res.rows}
    assert rows[0.2]["formula"] == "Li1.8Zr0.8Nb0.2Cl6"
    assert rows[0.2]["li_vacancies"] == pytest.approx(0.2)
    assert rows[0.2]["x_modelled"] == pytest.approx(0.2)
    # relaxed lattice per prototype cell, near the starting estimate after 3 steps
    for x in (0.0, 0.2):
        assert rows[x]["a_relaxed_A"] == pytest.approx(rows[x]["a_vegard_A"], rel=0.05)
        assert rows[x]["relax_converged"] in (True, False)
        assert rows[x]["bvse_1d_eV"] <= rows[x]["bvse_3d_eV"]
        assert rows[x]["prior_hi"] > rows[x]["prior_log10_sigma"] > rows[x]["prior_lo"]
    assert rows[0.2]["measured_sigma_S_cm"] == pytest.approx(1.03e-3)
    html = res.report.read_text()
    assert "Predicted next to measured" in html and "data:image/png;base64" in html
    assert "Li1.8Zr0.8Nb0.2Cl6" in html and "Chen" in html
    assert (out / "structures" / "Li1.8Zr0.8Nb0.2Cl6_c0.cif").is_file()
    assert (out / "structures_annealed" / "Li1.8Zr0.8Nb0.2Cl6_c1.cif").is_file()
    # every modelled x in both synthesis states, two orderings each, as ensemble statistics
    ens = {(r["x"], r["state"]): r for r in res.ensembles}
    assert set(ens) == {(x, st) for x in (0.0, 0.2) for st in ("ball-milled", "annealed")}
    assert all(
        r["n"] == 2 and r["a_A"]["n"] == 2 and r["bvse_3d_eV"] is not None for r in ens.values()
    )
    assert ens[(0.2, "ball-milled")]["m_off_ordered_sites"]["mean"] > 0
    assert (
        rows[0.2]["n_orderings"] == 2
        and rows[0.2]["a_relaxed_A"] == ens[(0.2, "ball-milled")]["a_A"]["mean"]
    )
    assert any(v["quantity"].startswith("BVSE 3D barrier x=0 -> 0.2") for v in res.verdicts)
    assert ">Ensembles and synthesis states</h2>" in html
    # the milled cells are as narrow as the annealed ones within 140 atoms: the report says
    # so for each, with the size a wide cell that models x needs; the annealed ones are 8 A
    # wide and say nothing
    for x, need in ((0.0, 216), (0.2, 475)):
        f = rows[x]["formula"]
        assert re.search(
            rf"cell: {re.escape(f)} ball-milled: no cell .* is 11.5 A wide: .*"
            rf"--max-atoms {need} gives one",
            html,
        ), f
        assert f"cell: {f} annealed" not in html


def test_rerun_resumes_without_recomputing(small_run):
    out, res = small_run
    again = reproduce_chen2025(
        out=out,
        xs=(0.0, 0.2),
        model_xs=(0.0, 0.2),
        tiers=("rules", "models", "relax", "bvse", "prior"),
        relax_steps=3,
        bvse_resolution_A=0.5,
        max_atoms=140,
        progress=False,
        n_configs=2,
    )
    assert again.wall_s < res.wall_s
    assert [r.get("a_relaxed_A") for r in again.rows] == [r.get("a_relaxed_A") for r in res.rows]


def test_primitive_lattice_undoes_the_supercell():
    from pymatgen.core import Lattice, Structure

    prim = Lattice.hexagonal(10.94, 5.93)
    s = Structure(prim, ["Li"], [[0, 0, 0]])
    s.make_supercell([[1, 0, 0], [0, 1, 0], [0, 0, 5]])
    p = primitive_lattice(s.as_dict(), [[1, 0, 0], [0, 1, 0], [0, 0, 5]])
    assert p["a_A"] == pytest.approx(10.94) and p["c_A"] == pytest.approx(5.93)


def test_bad_tiers_and_cases(tmp_path, capsys):
    with pytest.raises(HalidelabError, match="unknown tier"):
        reproduce_chen2025(out=tmp_path, tiers=("rules", "nope"), progress=False)
    # the states Chen et al. measured, not every state a model can be built in
    with pytest.raises(HalidelabError, match="states must be among ball-milled, annealed"):
        reproduce_chen2025(out=tmp_path, states=("quenched",), progress=False)
    assert main(["reproduce", "smith2030", "-o", str(tmp_path)]) == 2
    assert "unknown reference case" in capsys.readouterr().err
    assert main(["reproduce", "chen2025", "--tiers", "rules,nope", "-o", str(tmp_path)]) == 2
    capsys.readouterr()
    bad = ["reproduce", "chen2025", "--bvse-volume", "exp", "-o", str(tmp_path / "v")]
    assert main(bad) == 2
    err = capsys.readouterr().err
    assert (
        "--bvse-volume must be one of relaxed, model" in err and len(err.strip().splitlines()) == 1
    )
    screen = ["screen", "Li2ZrCl6", "--site", "Zr", "--dopants", "Nb", "--x", "0.1"]
    assert main([*screen, "--bvse-volume", "exp", "--db", str(tmp_path / "s.db")]) == 2
    err = capsys.readouterr().err
    assert (
        "--bvse-volume must be one of relaxed, model" in err and len(err.strip().splitlines()) == 1
    )


def test_cli_rules_and_prior_json(tmp_path, capsys):
    rc = main(
        [
            "reproduce",
            "chen2025",
            "-o",
            str(tmp_path),
            "--tiers",
            "rules,prior",
            "--x",
            "0,0.2",
            "--json",
        ]
    )
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["formula"] for r in data["rows"]] == ["Li2ZrCl6", "Li1.8Zr0.8Nb0.2Cl6"]
    assert (tmp_path / "report.html").is_file()


@pytest.mark.slow
def test_neb_tier_runs_and_reports_non_convergence(tmp_path):
    """A few NEB steps on Li2ZrCl6 (several minutes on 2 cores: slow marker)."""
    res = reproduce_chen2025(
        out=tmp_path,
        xs=(0.0,),
        model_xs=(0.0,),
        tiers=("rules", "models", "neb"),
        neb_images=3,
        neb_steps=2,
        max_atoms=60,
        progress=False,
    )
    assert not res.failed, res.failed
    html = res.report.read_text()
    assert "CI-NEB hops" in html
    # two steps of NEB cannot converge, and the report must say so rather than hide it
    assert "NO" in html.split("CI-NEB hops")[1].split("</table>")[0]


def test_md_tier_runs_analyses_and_reports(tmp_path):
    """A short MD at two temperatures wires through trajectory, D(T) and the report."""
    res = reproduce_chen2025(
        out=tmp_path,
        xs=(0.0,),
        model_xs=(0.0,),
        tiers=("rules", "models", "md"),
        md_temperatures_K=(700.0, 900.0),
        md_ps=0.2,
        md_timestep_fs=2.0,
        max_atoms=60,
        progress=False,
    )
    assert not res.failed, res.failed
    assert len(sorted((tmp_path / "md").glob("*.traj"))) == 2
    html = res.report.read_text()
    assert "Molecular dynamics" in html and "700" in html and "900" in html


def test_prior_results_are_keyed_by_the_model_checksum():
    """A retrained prior must not be answered from results of the old model."""
    import hashlib

    from halidelab.cases.chen2025 import _prior_sha
    from halidelab.prior.model import default_model_dir

    blob = (default_model_dir() / "prior_model.joblib").read_bytes()
    assert _prior_sha() == hashlib.sha256(blob).hexdigest()


def test_compare_reads_the_reference_run_side_by_side(small_run, capsys):
    out, res = small_run
    rows = {r["x"]: r for r in res.rows}
    # any formula that normalises to the stored candidate (Li1.8Zr0.8Nb0.2Cl6 = Li9Zr4NbCl30)
    code = main(
        [
            "compare",
            "Li2ZrCl6",
            "Li9Zr4NbCl30",
            "Li3InCl6",
            "--db",
            str(out / "results.sqlite"),
            "--json",
        ]
    )
    assert code == 0
    recs = json.loads(capsys.readouterr().out)
    lic = [r for r in recs if not r["found"]]
    assert len(lic) == 1 and lic[0]["formula"] == "Li3InCl6"
    found = [r for r in recs if r["found"]]
    ens = {(r["x"], r["state"]): r for r in res.ensembles}
    # one column per composition and synthesis state; model numbers are ensemble means
    assert sorted((r["formula"], r["state"]) for r in found) == sorted(
        (f, st) for f in ("Li2ZrCl6", found[-1]["formula"]) for st in ("annealed", "ball-milled")
    )
    for rec in found:
        x = 0.0 if rec["formula"] == "Li2ZrCl6" else 0.2
        e = ens[(x, rec["state"])]
        assert rec["n_orderings"] == 2
        assert rec["a_A"] == pytest.approx(e["a_A"]["mean"]) and rec["a_A_sem"] == pytest.approx(
            e["a_A"]["sem"]
        )
        assert rec["bvse_3d_eV"] == pytest.approx(e["bvse_3d_eV"]["mean"])
        assert rec["prior_log10_sigma_S_cm"] == pytest.approx(rows[x]["prior_log10_sigma"])
        # tiers that did not run are named, not filled in
        assert (
            rec["neb_3d_eV"] is None
            and rec["md_ea_eV"] is None
            and {"neb", "md", "kmc"} <= set(rec["missing"])
        )
    bm = next(r for r in found if r["formula"] != "Li2ZrCl6" and r["state"] == "ball-milled")
    assert bm["a_A"] == pytest.approx(rows[0.2]["a_relaxed_A"])
    # measured values come from the literature table (MISSION.md: LZNC 1.03 mS/cm, Ea 0.327 eV)
    assert bm["measured_sigma_S_cm"] == pytest.approx(1.03e-3) and bm[
        "measured_ea_eV"
    ] == pytest.approx(0.327)
    assert main(["compare", "Li2ZrCl6", "--db", str(out / "results.sqlite")]) == 0
    text = capsys.readouterr().out
    assert "BVSE 3D barrier" in text
    # two state columns, one source line
    assert text.count("Li2ZrCl6: measured from") == 1


def test_compare_fits_arrhenius_over_stored_md_runs(small_run, tmp_path, capsys):
    """Synthetic MD runs with a known D(T) put in a copy of the store: compare recovers Ea."""
    import shutil

    import numpy as np

    from halidelab.compare import compare
    from halidelab.constants import A2_PS_TO_CM2_S
    from halidelab.screening.store import Store
    from halidelab.transport.diffusion import analyse_positions

    out, _ = small_run
    shutil.copy(out / "results.sqlite", tmp_path / "r.sqlite")
    store = Store(tmp_path / "r.sqlite")
    relaxed = next(
        r["result"]["structure"]
        for r in store.rows(kind="relax", status="done")
        if any(
            sp["element"] == "Nb"
            for site in r["result"]["structure"]["sites"]
            for sp in site["species"]
        )
    )
    ea, d0, kb = 0.33, 2e-3, 8.617333262e-5
    rng = np.random.default_rng(3)
    for T in (500.0, 600.0, 700.0, 800.0):
        d = d0 * np.exp(-ea / (kb * T)) / A2_PS_TO_CM2_S  # A^2/ps
        steps = rng.normal(size=(399, 32, 3)) * np.sqrt(2 * d * 0.2)
        x = np.concatenate([rng.random((1, 32, 3)) * 10, steps]).cumsum(axis=0)
        diff = analyse_positions(
            x, np.diag([10.0, 10.0, 12.0]), np.arange(400) * 0.2, np.ones(32, bool), T
        )
        key = f"synthetic-md-{T:g}"
        store.add(
            key, "md", f"synthetic {T:g} K", {"structure": relaxed, "temperature_K": T}, "test"
        )
        store.finish(key, {"md": {}, "diffusion": diff.to_dict()}, 0.0)
    recs = compare(store, ["Li1.8Zr0.8Nb0.2Cl6"])
    assert len(recs) == 2  # ball-milled and annealed
    (rec,) = [r for r in recs if r["md_temperatures_K"]]  # the state whose ordering ran MD
    assert rec["md_temperatures_K"] == [500.0, 600.0, 700.0, 800.0]
    assert abs(rec["md_ea_eV"] - ea) < 3 * rec["md_ea_err_eV"] + 0.01
    assert (
        rec["md_sigma_300K_low_S_cm"] < rec["md_sigma_300K_S_cm"] < rec["md_sigma_300K_high_S_cm"]
    )
    assert any("300 K" in w for w in rec["md_warnings"]) and "md" not in rec["missing"]


def test_compare_bad_input_is_one_line(small_run, tmp_path, capsys):
    out, _ = small_run
    assert main(["compare", "Li2ZrCl6", "--db", str(tmp_path / "none.sqlite")]) == 2
    assert main(["compare", "Li3InCl6", "--db", str(out / "results.sqlite")]) == 2
    assert main(["compare", "Xx2Cl", "--db", str(out / "results.sqlite")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(e.startswith("error:") for e in err)
    assert "reproduce chen2025" in err[0] and "Li3InCl6" in err[1]


def test_your_measurements_sit_beside_the_prediction(tmp_path, capsys):
    """Your own EIS series (analysed here) and a CSV of measured values.

    Both reach the rows and the report.
    """
    import numpy as np

    from halidelab.constants import K_B_EV_K
    from halidelab.lab.eis import resistance_for, simulate_spectrum

    L, D = "0.85mm", "10mm"
    sigma25, ea = 0.9e-3, 0.35  # your LZNC pellet (x = 0.2), not Chen's 1.03 mS/cm / 0.327 eV
    for i, tc in enumerate(range(25, 101, 25)):
        t = tc + 273.15
        sig = sigma25 * 298.15 / t * np.exp(-ea / K_B_EV_K * (1 / t - 1 / 298.15))
        spec = simulate_spectrum(
            "p(R1,CPE1)-CPE2",
            [resistance_for(sig, L, D), 1e-9, 0.9, 4e-6, 0.88],
            noise=0.005,
            seed=i,
        )
        rows = "\n".join(
            f"{f:.8g},{z.real:.8g},{-z.imag:.8g}" for f, z in zip(spec.f, spec.z, strict=True)
        )
        (tmp_path / f"lznc_{tc}C.csv").write_text("freq/Hz,Z'/ohm,-Z''/ohm\n" + rows + "\n")
    (tmp_path / "mine.csv").write_text("x,sigma_mS_cm,ea_eV\n0,0.4,0.36\n")
    code = main(
        [
            "reproduce",
            "chen2025",
            "-o",
            str(tmp_path / "out"),
            "--tiers",
            "rules,prior",
            "--x",
            "0,0.2",
            "--eis",
            f"0.2={tmp_path / 'lznc_*C.csv'}",
            "--thickness",
            L,
            "--diameter",
            D,
            "--measured",
            str(tmp_path / "mine.csv"),
            "--json",
        ]
    )
    assert code == 0
    rows = {r["x"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert rows[0.2]["lab_sigma_S_cm"] == pytest.approx(sigma25, rel=0.03)
    assert rows[0.2]["lab_ea_eV"] == pytest.approx(ea, abs=0.01)
    assert rows[0.2]["measured_sigma_S_cm"] == pytest.approx(
        1.03e-3
    )  # Chen's value stays beside yours
    assert rows[0.0]["lab_sigma_S_cm"] == pytest.approx(4e-4) and rows[0.0][
        "lab_ea_eV"
    ] == pytest.approx(0.36)
    html = (tmp_path / "out" / "report.html").read_text()
    assert (
        "your measurements" in html
        and "your σ (S/cm)" in html
        and "EIS Arrhenius, 4 temperatures" in html
    )
    # an --eis without pellet dimensions, or without X=, is one line and exit 2
    assert (
        main(
            [
                "reproduce",
                "chen2025",
                "-o",
                str(tmp_path / "o2"),
                "--tiers",
                "rules",
                "--eis",
                f"0.2={tmp_path / 'lznc_*C.csv'}",
            ]
        )
        == 2
    )
    assert (
        main(
            [
                "reproduce",
                "chen2025",
                "-o",
                str(tmp_path / "o2"),
                "--tiers",
                "rules",
                "--eis",
                str(tmp_path / "lznc_25C.csv"),
                "--thickness",
                L,
                "--diameter",
                D,
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "--thickness" in err[0] and "X=PATTERN" in err[1]


def test_ball_milled_cells_run_longer_kmc(small_run, capsys):
    """The kmc tier gives the ball-milled cells ``milled_kmc_hops`` events per Li (their
    disorder traps Li longer) and the annealed ones ``kmc_hops``; both reach the store's
    task inputs, and the CLI refuses a run length that is no number of events."""
    from halidelab.screening.store import Store

    out, _ = small_run
    res = reproduce_chen2025(
        out=out,
        xs=(0.0,),
        model_xs=(0.0,),
        tiers=("rules", "models", "relax", "kmc"),
        relax_steps=3,
        max_atoms=140,
        progress=False,
        n_configs=2,
        kmc_temperatures_K=(500.0, 600.0),
        kmc_runs=2,
        kmc_hops=3.0,
        milled_kmc_hops=12.0,
    )
    assert not res.failed, res.failed
    store = Store(out / "results.sqlite")
    hops = {r["label"]: r["inputs"]["hops_per_carrier"] for r in store.rows(kind="kmc")}
    assert {lab: h for lab, h in hops.items() if " bm " in lab} == {
        "Li2ZrCl6 bm c0 bvse": 12.0,
        "Li2ZrCl6 bm c1 bvse": 12.0,
    }
    assert {lab: h for lab, h in hops.items() if " an " in lab} == {
        "Li2ZrCl6 an c0 bvse": 3.0,
        "Li2ZrCl6 an c1 bvse": 3.0,
    }
    code = main(
        [
            "reproduce",
            "chen2025",
            "--tiers",
            "rules",
            "--milled-kmc-hops",
            "0",
            "-o",
            str(out / "x"),
        ]
    )
    assert code == 2 and "--milled-kmc-hops must be a number" in capsys.readouterr().err


def test_annealed_lznc_as_quenched_models(tmp_path, capsys):
    """``--annealed-state quenched``: the annealed Li1.8Zr0.8Nb0.2Cl6 is modelled by its
    sites' disorder sampled at the quench temperature (tagged ``qu``, with the milled KMC
    events), the report says so, and a calibration of ``validate --annealed-state
    quenched`` applies to those models and is set beside the measured annealed sample
    (Chen et al.: 1.46e-7 S/cm), while one of the default campaign is refused on them.
    (One ordering, no milled state: a KMC network costs ~20 s.)"""
    import dataclasses
    import math

    from halidelab.cases.chen2025 import calibrated_series
    from halidelab.screening.store import Store
    from halidelab.validation.calibration import calibrate
    from halidelab.validation.reference import load_reference_set
    from halidelab.validation.tiers import MaterialContext, ValidateSettings, method_of

    res = reproduce_chen2025(
        out=tmp_path,
        xs=(0.2,),
        model_xs=(0.2,),
        tiers=("rules", "models", "relax", "bvse", "kmc"),
        relax_steps=2,
        bvse_resolution_A=0.5,
        progress=False,
        states=("annealed",),
        n_configs=1,
        kmc_temperatures_K=(500.0, 600.0),
        kmc_runs=2,
        kmc_hops=3.0,
        milled_kmc_hops=12.0,
        annealed_state="quenched",
    )
    assert not res.failed, res.failed
    store = Store(tmp_path / "results.sqlite")
    states = {r["inputs"]["state"] for r in store.rows(kind="models")}
    assert states == {"quenched"}
    hops = {r["label"]: r["inputs"]["hops_per_carrier"] for r in store.rows(kind="kmc")}
    assert hops == {"Li1.8Zr0.8Nb0.2Cl6 qu c0 bvse": 12.0}
    html = (tmp_path / "report.html").read_text()
    assert "annealed: quenched models" in html
    # calibrations of both campaigns, on the BVSE barriers, fitted on a synthetic map
    ref = load_reference_set()
    comps = ["Li2ZrCl6", "Li3YCl6", "Li3InCl6", "LiAlCl4", "Li2MgCl4", "Li3YBr6"]
    raw = [0.30, 0.40, 0.50, 0.60, 0.70, 0.80]
    cal = calibrate(
        "ea_eV", "bvse", "chgnet", raw, [2 * r - 0.5 for r in raw], comps, comps, ref.sha256
    )

    def made(state: str) -> dict:
        ctx = MaterialContext(None, None, ValidateSettings(annealed_state=state), (), {})
        return method_of("bvse", {"resolution_A": 0.5}, ctx)

    entries = {}
    for state in ("quenched", "annealed"):
        c = dataclasses.replace(cal, settings=made(state))
        (row,) = calibrated_series(store, [0.2], [c])
        assert row["state"] == "quenched"
        assert row["measured"]["log10_sigma_S_cm"] == pytest.approx(math.log10(1.46e-7))
        (entries[state],) = row["entries"]
    assert entries["quenched"]["applied"] and not entries["annealed"]["applied"]
    assert entries["annealed"]["status"] == "settings mismatch"
    # no NEB on the quenched cells, and a state it does not know: one line each
    with pytest.raises(HalidelabError, match="leave neb out"):
        reproduce_chen2025(
            out=tmp_path / "n", tiers=("rules", "neb"), annealed_state="quenched", progress=False
        )
    assert (
        main(["reproduce", "chen2025", "--annealed-state", "slow", "-o", str(tmp_path / "s")]) == 2
    )
    err = capsys.readouterr().err
    assert "--annealed-state must be one of annealed, quenched" in err
    assert len(err.strip().splitlines()) == 1
