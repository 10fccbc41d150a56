"""``compare --calibration``: raw and calibrated values side by side, from the maths.

A small store (rules and ordered models of Li2ZrCl6 and Li1.8Zr0.8Nb0.2Cl6, three
orderings each) gets synthetic relax, BVSE, NEB, KMC and prior rows with barriers we
choose; calibrations are fitted on synthetic data whose true map is known
(measured = 2 raw - 1 + noise). Every expected number is computed here by hand: the
least-squares line by numpy, leave-one-out by refitting, the Student-t interval, the
Arrhenius estimate from the structure's Li density, the composition distance from
atomic fractions.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil

import numpy as np
import pytest
from pymatgen.core import Composition, Structure
from scipy.stats import t as student_t

from halidelab.cli import main
from halidelab.compare import compare
from halidelab.screening.store import Store
from halidelab.validation.calibration import calibrate, load_calibration, save_calibration
from halidelab.validation.reference import load_reference_set, reference_path

PARENT, DOPED = "Li2ZrCl6", "Li1.8Zr0.8Nb0.2Cl6"
#: calibration materials near the store's compositions (Li2ZrCl6 itself among them) ...
NEAR = ["Li2ZrCl6", "Li3YCl6", "Li3InCl6", "LiAlCl4", "Li2MgCl4", "Li3YBr6", "Li6NBr3", "LiGaBr4"]
#: ... and all far from them (nearest: LiAlCl4, total-variation distance 0.167 > 0.15)
FAR = ["Li3YCl6", "LiAlCl4", "Li2MgCl4", "Li3YBr6", "Li6NBr3", "LiGaBr4", "Li3ErI6"]


@pytest.fixture(scope="module")
def sha() -> str:
    return load_reference_set().sha256


@pytest.fixture(scope="module")
def base_store(tmp_path_factory):
    """Rules and three ordered models per composition (no MLIP: seconds)."""
    from halidelab.screening.plans import ScreenSettings, candidate_grid, run_screen

    path = tmp_path_factory.mktemp("cal") / "base.sqlite"
    store = Store(path)
    run_screen(
        candidate_grid(PARENT, ["Nb"], [0.2], ["Zr"]),
        store,
        ScreenSettings(n_configs=3, tiers=("rules", "models"), max_atoms=60),
        progress=False,
    )
    return path


def _models(store: Store) -> dict[str, list[dict]]:
    from halidelab.screening.ranking import gather

    out = {}
    for c in gather(store):
        out[c.formula] = [cf["structure"] for cf in c.models["configurations"]]
    return out


def _relaxed(s: dict, i: int) -> dict:
    st = Structure.from_dict(s)
    st.scale_lattice(st.volume * (1.03 + 0.01 * i))  # a stand-in for the MLIP relaxation
    return st.as_dict()


def make_store(
    base, path, bvse=None, neb=None, kmc=None, prior=None, model="chgnet", relax=True
) -> Store:
    """Copy of the base store with synthetic results.

    bvse, neb : {formula: [3D barrier of each ordering, eV]}
    kmc : {formula: [(sigma_25C, 68 % low, high, Ea, Ea error) per ordering]} on BVSE networks
    prior : {formula: (log10 sigma, low, high)}
    """
    shutil.copy(base, path)
    store = Store(path)
    n = 0

    def put(kind, inputs, result):
        nonlocal n
        n += 1
        key = f"synthetic-{kind}-{n}"
        store.add(key, kind, key, inputs, "test")
        store.finish(key, result, 0.0)

    for formula, structures in _models(store).items():
        for i, s in enumerate(structures):
            target = s
            if relax:
                target = _relaxed(s, i)
                put(
                    "relax",
                    {"structure": s, "model": model},
                    {
                        "structure": target,
                        "energy_per_atom_eV": -4.0 - 0.001 * i,
                        "converged": True,
                        "provenance": {"method": "relax", "model": model},
                    },
                )
            if bvse and formula in bvse:
                e = bvse[formula][i]
                put(
                    "bvse",
                    {"structure": target, "resolution_A": 0.25},
                    {
                        "e_1d_eV": e - 0.1,
                        "e_2d_eV": e,
                        "e_3d_eV": e,
                        "e_max_eV": 5.0,
                        "resolution_A": 0.25,
                        "formula": formula,
                    },
                )
            if neb and formula in neb and neb[formula][i] is not None:  # None: failed
                put(
                    "neb",
                    {"structure": target, "model": model},
                    {
                        "percolation": {
                            "ea_1d_eV": neb[formula][i] - 0.1,
                            "ea_3d_eV": neb[formula][i],
                        },
                        "all_converged": True,
                        "results": [],
                        "provenance": {"method": "ci-neb-study", "model": model},
                    },
                )
            if kmc and formula in kmc:
                s25, lo, hi, ea, ea_err = kmc[formula][i]
                put(
                    "kmc",
                    {"structure": target, "source": "bvse"},
                    {
                        "network": {"source": "bvse"},
                        "kmc": {
                            "sigma_25C_S_cm": s25,
                            "sigma_25C_low_S_cm": lo,
                            "sigma_25C_high_S_cm": hi,
                            "ea_eV": ea,
                            "ea_err_eV": ea_err,
                            # 25 C itself diffusive: the value is no extrapolation
                            "points": [
                                {
                                    "temperature_K": 298.15,
                                    "diffusive": True,
                                    "d_sigma_cm2_s": 1e-8,
                                    "sigma_S_cm": s25,
                                    "sigma_err_S_cm": 0.1 * s25,
                                }
                            ],
                        },
                    },
                )
        if prior and formula in prior:
            v, lo, hi = prior[formula]
            put(
                "prior",
                {"formula": formula},
                {
                    "formula": formula,
                    "log10_sigma_S_cm": v,
                    "log10_sigma_low_S_cm": lo,
                    "log10_sigma_high_S_cm": hi,
                    "temperature_K": 298.15,
                    "in_domain": True,
                },
            )
    return store


def synthetic_calibration(tier, model, target, comps, sha, x_range, seed=0, outlier=None):
    """Calibration fitted on measured = 2 raw - 1 + N(0, 0.01); returns it and the data."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(*x_range, len(comps))
    y = 2.0 * x - 1.0 + rng.normal(0.0, 0.01, len(comps))
    if outlier is not None:
        y[outlier] += 0.1
    mats = [f"m{i}" for i in range(len(comps))]
    cal = calibrate(target, tier, model, x, y, mats, comps, sha)
    assert cal.kind == "linear"  # a slope of 2 is far from the identity and the offset maps
    return cal, x, y


def line(x, y):
    b, a = np.polyfit(x, y, 1)
    return a, b


def loo_rms(x, y):
    """Root-mean-square leave-one-out residual of the least-squares line, by refitting."""
    res = []
    for i in range(len(x)):
        keep = np.arange(len(x)) != i
        a, b = line(x[keep], y[keep])
        res.append(a + b * x[i] - y[i])
    return float(np.sqrt(np.mean(np.square(res))))


def half_width(x, y, b, spread, level=0.9, params=2):
    return student_t.ppf(0.5 + level / 2, len(x) - params) * math.sqrt(
        loo_rms(x, y) ** 2 + (b * spread) ** 2
    )


def tv_distance(a: str, b: str) -> float:
    fa, fb = Composition(a).fractional_composition, Composition(b).fractional_composition
    return 0.5 * sum(abs(fa[el] - fb[el]) for el in set(fa.elements) | set(fb.elements))


def entry(rec, tier, target, model="chgnet"):
    (e,) = [
        e
        for e in rec["calibrated"]
        if (e["tier"], e["target"], e["model"]) == (tier, target, model)
    ]
    return e


def by_formula(recs):
    return {r["formula"]: r for r in recs}


BVSE = {PARENT: [0.62, 0.66, 0.70], DOPED: [0.58, 0.61, 0.67]}


def test_calibrated_barrier_is_the_known_map_of_the_ensemble_mean(base_store, tmp_path, sha):
    """The doped composition is no reference material: a + b * mean over the orderings,
    the line fitted to all materials; the interval is t * sqrt(s_LOO^2 + (b sd)^2)."""
    store = make_store(base_store, tmp_path / "s.sqlite", bvse=BVSE)
    cal, x, y = synthetic_calibration("bvse", "chgnet", "ea_eV", NEAR, sha, (0.55, 0.75))
    rec = by_formula(compare(store, [DOPED], calibrations=[cal]))[DOPED]
    e = entry(rec, "bvse", "ea_eV")
    a, b = line(x, y)
    raw = np.mean(BVSE[DOPED])
    assert (
        e["applied"] and e["raw"] == pytest.approx(raw) and rec["bvse_3d_eV"] == pytest.approx(raw)
    )
    assert e["calibrated"] == pytest.approx(a + b * raw, abs=1e-9)
    assert b == pytest.approx(2.0, abs=0.2)  # the synthetic truth, within the noise
    sd = np.std(BVSE[DOPED], ddof=1)
    assert e["spread"] == pytest.approx(sd)
    assert e["high"] - e["low"] == pytest.approx(2 * half_width(x, y, b, sd), rel=1e-9)
    assert e["low"] < e["calibrated"] < e["high"] and e["map_used"] == "all materials"
    assert not e["out_of_domain"]
    assert e["nearest_reference"] == PARENT and e["distance"] == pytest.approx(
        tv_distance(DOPED, PARENT)
    )


def test_a_tier_without_skill_says_so_on_every_calibrated_value(base_store, tmp_path, sha):
    """A calibration whose raw barriers are noise against the measurements: the set's mean
    predicts held-out materials as well or better, and the calibrated value says so; the
    informative calibration (measured = 2 raw - 1) carries no such note."""
    store = make_store(base_store, tmp_path / "s.sqlite", bvse=BVSE)
    rng = np.random.default_rng(7)
    x = rng.uniform(0.55, 0.75, len(NEAR))
    y = rng.uniform(0.3, 0.5, len(NEAR))
    noise = calibrate(
        "ea_eV", "bvse", "chgnet", x, y, [f"m{i}" for i in range(len(NEAR))], NEAR, sha
    )
    assert noise.skill <= 0
    e = entry(by_formula(compare(store, [DOPED], calibrations=[noise]))[DOPED], "bvse", "ea_eV")
    assert e["applied"] and "no skill out of sample" in e["note"]
    good, _, _ = synthetic_calibration("bvse", "chgnet", "ea_eV", NEAR, sha, (0.55, 0.75))
    assert good.skill > 0.5
    e = entry(by_formula(compare(store, [DOPED], calibrations=[good]))[DOPED], "bvse", "ea_eV")
    assert e["applied"] and "no skill" not in e["note"]


def test_arrhenius_sigma_is_calibrated_from_each_orderings_structure(base_store, tmp_path, sha):
    """log10 sigma from BVSE barriers: per ordering, the random-walk Nernst-Einstein
    estimate with that ordering's Li density (a = 3 A, nu0 = 1e13 Hz), then the mean."""
    store = make_store(base_store, tmp_path / "s.sqlite", bvse=BVSE)
    cal, x, y = synthetic_calibration(
        "bvse", "chgnet", "log10_sigma_S_cm", NEAR, sha, (-10.0, -7.0)
    )
    rec = by_formula(compare(store, [DOPED], calibrations=[cal]))[DOPED]
    e = entry(rec, "bvse", "log10_sigma_S_cm")
    kb_J, kb_eV, q, T = 1.380649e-23, 8.617333262e-5, 1.602176634e-19, 298.15
    structures = _models(store)[DOPED]
    hand = []
    for i, (s, ea) in enumerate(zip(structures, BVSE[DOPED], strict=True)):
        st = Structure.from_dict(_relaxed(s, i))
        n_cm3 = st.composition["Li"] / (st.volume * 1e-24)
        sigma = n_cm3 * q**2 * (3e-8) ** 2 * 1e13 / (6 * kb_J * T) * math.exp(-ea / (kb_eV * T))
        hand.append(math.log10(sigma))
    a, b = line(x, y)
    assert e["raw"] == pytest.approx(np.mean(hand), abs=1e-9)
    assert e["calibrated"] == pytest.approx(a + b * np.mean(hand), abs=1e-9)
    assert e["spread"] == pytest.approx(np.std(hand, ddof=1), rel=1e-9)


def test_interval_widens_when_the_ensemble_spread_grows(base_store, tmp_path, sha):
    cal, x, y = synthetic_calibration("bvse", "chgnet", "ea_eV", NEAR, sha, (0.55, 0.75))
    tight = make_store(base_store, tmp_path / "a.sqlite", bvse={DOPED: [0.62, 0.62, 0.62]})
    wide = make_store(base_store, tmp_path / "b.sqlite", bvse={DOPED: [0.52, 0.62, 0.72]})
    e0 = entry(by_formula(compare(tight, [DOPED], calibrations=[cal]))[DOPED], "bvse", "ea_eV")
    e1 = entry(by_formula(compare(wide, [DOPED], calibrations=[cal]))[DOPED], "bvse", "ea_eV")
    assert e0["calibrated"] == pytest.approx(e1["calibrated"])  # same mean, same value
    a, b = line(x, y)
    assert e0["half_width"] == pytest.approx(half_width(x, y, b, 0.0), rel=1e-9)  # LOO scatter only
    assert e1["half_width"] == pytest.approx(half_width(x, y, b, 0.1), rel=1e-9)
    assert e1["half_width"] > 1.5 * e0["half_width"]


def test_a_reference_composition_is_calibrated_without_itself(base_store, tmp_path, sha):
    """Li2ZrCl6 is calibration material m0 (made an outlier): its value comes from the
    line fitted to the other seven, not from the line that saw it."""
    store = make_store(base_store, tmp_path / "s.sqlite", bvse=BVSE)
    cal, x, y = synthetic_calibration("bvse", "chgnet", "ea_eV", NEAR, sha, (0.55, 0.75), outlier=0)
    (rec,) = [r for r in compare(store, ["Li4Zr2Cl12"], calibrations=[cal]) if r["found"]]
    e = entry(rec, "bvse", "ea_eV")
    raw = np.mean(BVSE[PARENT])
    a_loo, b_loo = line(x[1:], y[1:])
    a_all, b_all = line(x, y)
    assert e["calibrated"] == pytest.approx(a_loo + b_loo * raw, abs=1e-9)
    assert abs((a_all + b_all * raw) - e["calibrated"]) > 5e-3  # the outlier would have pulled it
    assert e["map_used"] == f"leave-one-out (without {PARENT})" and e["distance"] == pytest.approx(
        0.0
    )


def test_a_far_composition_is_flagged_out_of_domain(base_store, tmp_path, sha, capsys):
    store = make_store(base_store, tmp_path / "s.sqlite", bvse=BVSE)
    cal, _, _ = synthetic_calibration("bvse", "chgnet", "ea_eV", FAR, sha, (0.55, 0.75))
    path = save_calibration(cal, tmp_path / "far.json")
    recs = by_formula(compare(store, [PARENT, DOPED], calibrations=[cal]))
    for f in (PARENT, DOPED):
        e = entry(recs[f], "bvse", "ea_eV")
        nearest = min(FAR, key=lambda m: tv_distance(f, m))
        assert nearest == "LiAlCl4" and tv_distance(f, nearest) > 0.15
        assert e["out_of_domain"] and e["nearest_reference"] == nearest
        assert e["distance"] == pytest.approx(tv_distance(f, nearest))
    assert (
        main(["compare", PARENT, "--db", str(tmp_path / "s.sqlite"), "--calibration", str(path)])
        == 0
    )
    out = capsys.readouterr().out
    assert "OUT OF DOMAIN" in out
    assert (
        f"nearest reference LiAlCl4 at composition distance {tv_distance(PARENT, 'LiAlCl4'):.3f}"
        in out
    )


def test_a_calibration_for_another_model_is_a_note_not_applied(base_store, tmp_path, sha, capsys):
    store = make_store(base_store, tmp_path / "s.sqlite", bvse=BVSE, model="chgnet")
    cal, _, _ = synthetic_calibration("bvse", "sevennet-0", "ea_eV", NEAR, sha, (0.55, 0.75))
    free, _, _ = synthetic_calibration("bvse", "-", "ea_eV", NEAR, sha, (0.55, 0.75))
    recs = compare(store, [DOPED], calibrations=[cal, free])
    for rec in recs:
        for e in rec[
            "calibrated"
        ]:  # BVSE of chgnet-relaxed orderings: neither sevennet-0 nor model-free
            assert not e["applied"] and "calibrated" not in e and "chgnet" in e["note"]
    paths = [str(save_calibration(cal, tmp_path / "7net.json"))]
    assert (
        main(["compare", DOPED, "--db", str(tmp_path / "s.sqlite"), "--calibration", paths[0]]) == 0
    )
    cap = capsys.readouterr()
    notes = [ln for ln in cap.err.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1 and "sevennet-0" in notes[0] and "chgnet" in notes[0]
    assert "not applied" in cap.out
    # BVSE of unrelaxed models is model-free: the '-' calibration applies, the sevennet-0 one not
    bare = make_store(base_store, tmp_path / "bare.sqlite", bvse=BVSE, relax=False)
    (rec,) = compare(bare, [DOPED], calibrations=[cal, free])
    assert [e["applied"] for e in rec["calibrated"]] == [False, True]


def test_kmc_and_prior_carry_their_own_error_into_the_spread(base_store, tmp_path, sha):
    """Law of total variance: spread^2 = sd between orderings^2 + mean own error^2 (the
    KMC 68 % interval half-width in log10; the prior's 90 % interval / (2 x 1.645)). The
    KMC's spread widens its calibrated interval; the prior's does not: it is the prior's
    own error estimate, which the calibration's leave-one-out scatter already measures."""
    kmc = {
        DOPED: [
            (1e-4, 5e-5, 2e-4, 0.35, 0.02),
            (2e-4, 1e-4, 4e-4, 0.33, 0.03),
            (4e-4, 3e-4, 5e-4, 0.30, 0.01),
        ]
    }
    prior = {DOPED: (-3.2, -4.1, -2.3)}
    store = make_store(base_store, tmp_path / "s.sqlite", kmc=kmc, prior=prior)
    c_kmc, xk, yk = synthetic_calibration(
        "kmc", "chgnet", "log10_sigma_S_cm", NEAR, sha, (-5.0, -2.0)
    )
    c_pri, xp, yp = synthetic_calibration(
        "prior", "-", "log10_sigma_S_cm", NEAR, sha, (-5.0, -2.0), seed=4
    )
    rec = by_formula(compare(store, [DOPED], calibrations=[c_kmc, c_pri]))[DOPED]
    ek, ep = entry(rec, "kmc", "log10_sigma_S_cm"), entry(rec, "prior", "log10_sigma_S_cm", "-")
    logs = [math.log10(s) for s, *_ in kmc[DOPED]]
    own = [0.5 * (math.log10(hi) - math.log10(lo)) for _, lo, hi, _, _ in kmc[DOPED]]
    spread = math.sqrt(np.var(logs, ddof=1) + np.mean(np.square(own)))
    assert ek["raw"] == pytest.approx(np.mean(logs)) and rec["kmc_log10_sigma"] == pytest.approx(
        np.mean(logs)
    )
    assert ek["spread"] == pytest.approx(spread)
    a, b = line(xk, yk)
    assert ek["calibrated"] == pytest.approx(a + b * np.mean(logs), abs=1e-9)
    assert ek["half_width"] == pytest.approx(half_width(xk, yk, b, spread), rel=1e-9)
    a, b = line(xp, yp)
    assert ep["calibrated"] == pytest.approx(a + b * -3.2, abs=1e-9)
    assert ep["spread"] == pytest.approx(1.8 / (2 * 1.645))
    assert ep["half_width"] == pytest.approx(half_width(xp, yp, b, 0.0), rel=1e-9)
    assert ep["half_width"] < half_width(xp, yp, b, 1.8 / (2 * 1.645))
    assert "leave-one-out scatter alone" in ep["note"]
    # the prior has no settings to record: its calibration needs none (no "halidelab < 0.4"
    # note), while a KMC calibration that records nothing is applied with that note
    assert c_pri.settings == {} and "does not record" not in ep["note"]
    assert c_kmc.settings == {} and "does not record" in ek["note"]


def test_a_mean_over_a_minority_of_the_orderings_is_not_calibrated(base_store, tmp_path, sha):
    """As validate: when only 1 of 3 orderings has a NEB value (the others' studies failed)
    the calibration is not applied, with the reason; with 2 of 3 it is, on their mean."""
    cal, _, _ = synthetic_calibration("neb", "chgnet", "ea_eV", NEAR, sha, (0.2, 0.4))
    one = make_store(base_store, tmp_path / "one.sqlite", neb={DOPED: [0.30, None, None]})
    e = entry(by_formula(compare(one, [DOPED], calibrations=[cal]))[DOPED], "neb", "ea_eV")
    assert not e["applied"] and e["status"] == "too few orderings"
    assert "only 1 of the 3 orderings" in e["note"]
    two = make_store(base_store, tmp_path / "two.sqlite", neb={DOPED: [0.30, None, 0.34]})
    e = entry(by_formula(compare(two, [DOPED], calibrations=[cal]))[DOPED], "neb", "ea_eV")
    assert e["applied"] and e["n_orderings"] == 2 and e["raw"] == pytest.approx(0.32)


def test_json_has_raw_and_calibrated_side_by_side(base_store, tmp_path, sha, capsys):
    make_store(base_store, tmp_path / "s.sqlite", bvse=BVSE, neb={DOPED: [0.30, 0.32, 0.34]})
    cal, x, y = synthetic_calibration("neb", "chgnet", "ea_eV", NEAR, sha, (0.55, 0.75))
    path = save_calibration(cal, tmp_path / "neb.json")
    assert (
        main(
            [
                "compare",
                DOPED,
                "--db",
                str(tmp_path / "s.sqlite"),
                "--calibration",
                str(path),
                "--json",
            ]
        )
        == 0
    )
    (rec,) = json.loads(capsys.readouterr().out)
    e = entry(rec, "neb", "ea_eV")
    a, b = line(x, y)
    assert rec["neb_3d_eV"] == pytest.approx(0.32) and e["raw"] == pytest.approx(0.32)
    assert e["calibrated"] == pytest.approx(a + b * 0.32, abs=1e-9)
    assert {
        "low",
        "high",
        "level",
        "map_used",
        "out_of_domain",
        "nearest_reference",
        "distance",
    } <= set(e)
    assert e["quantity"] == "neb_3d_eV" and e["model"] == "chgnet"


def test_bad_calibration_files_exit_2_with_one_line(base_store, tmp_path, sha, capsys):
    make_store(base_store, tmp_path / "s.sqlite", bvse=BVSE)
    cal, _, _ = synthetic_calibration("bvse", "chgnet", "ea_eV", NEAR, sha, (0.55, 0.75))
    good = save_calibration(cal, tmp_path / "good.json")
    text = good.read_text()
    truncated = tmp_path / "truncated.json"
    truncated.write_text(text[: len(text) // 2])
    edited = tmp_path / "edited.json"
    edited.write_text(text.replace(f'"a": {json.loads(text)["calibration"]["a"]!r}', '"a": 0.5'))
    other, _, _ = synthetic_calibration("bvse", "chgnet", "ea_eV", NEAR, "b" * 64, (0.55, 0.75))
    other_set = save_calibration(other, tmp_path / "other.json")
    cases = {
        tmp_path / "missing.json": "not found",
        truncated: "corrupted",
        edited: "corrupted",
        other_set: "reference set",
    }
    db = str(tmp_path / "s.sqlite")
    for path, words in cases.items():
        assert main(["compare", DOPED, "--db", db, "--calibration", str(path)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:") and words in err[0], err
    assert load_calibration(good, reference_sha256=sha).a == cal.a  # the good one loads
    assert (
        main(["compare", DOPED, "--db", db, "--calibration", str(good), "--calibration", str(good)])
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "two calibrations" in err[0]


def test_results_ranks_with_the_calibrated_column(base_store, tmp_path, sha, capsys):
    """``results --calibration``: the doped candidate (the parent is not ranked) gets
    a + b * its ensemble mean; a bad file is one line and exit 2 there too."""
    make_store(base_store, tmp_path / "s.sqlite", bvse=BVSE)
    cal, x, y = synthetic_calibration("bvse", "chgnet", "ea_eV", NEAR, sha, (0.55, 0.75))
    path = str(save_calibration(cal, tmp_path / "bvse.json"))
    db = str(tmp_path / "s.sqlite")
    assert main(["results", db, "--calibration", path, "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["ranked"]
    (e,) = row["calibrated"]
    a, b = line(x, y)
    assert row["formula"] == DOPED and e["calibrated"] == pytest.approx(
        a + b * np.mean(BVSE[DOPED]), abs=1e-9
    )
    # the ranking's own BVSE 3D barrier is its lowest-energy ordering's; the calibration
    # uses all three
    assert row["bvse_3d_eV"] == pytest.approx(BVSE[DOPED][2]) and e["n_orderings"] == 3
    assert main(["results", db, "--calibration", path]) == 0
    out = capsys.readouterr().out
    assert f"{e['calibrated']:.3f} [{e['low']:.3f}, {e['high']:.3f}]" in out
    assert f"bvse ea_eV (chgnet): raw {np.mean(BVSE[DOPED]):.3f}" in out
    assert main(["results", db, "--calibration", str(tmp_path / "nope.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not found" in err[0]
    # the reference table given with the calibration is an input: never the --csv output
    table = tmp_path / "ref.csv"
    shutil.copy(reference_path(), table)
    before = table.read_bytes()
    argv = ["results", db, "--calibration", path, "--reference", str(table), "--csv", str(table)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "input file" in err[0] and table.read_bytes() == before
    # and --reference alone does nothing: said, not ignored
    assert main(["results", db, "--reference", str(table)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "give --calibration FILE too" in err[0]


def test_a_calibration_is_applied_only_to_values_made_the_same_way(base_store, tmp_path, sha):
    """validate records how its values were made (BVSE grid, KMC network ...): compare
    applies a calibration to values made alike and refuses, with a note, the others; a
    file that records nothing (halidelab < 0.4) is applied with a note that says so."""
    import dataclasses

    from halidelab.validation.tiers import method_of

    store = make_store(base_store, tmp_path / "s.sqlite", bvse=BVSE)
    cal, _, _ = synthetic_calibration("bvse", "chgnet", "ea_eV", NEAR, sha, (0.55, 0.75))
    made = method_of("bvse", {"resolution_A": 0.25})
    assert made == {"bvse_resolution_A": 0.25}
    same = dataclasses.replace(cal, settings=made)
    other = dataclasses.replace(cal, settings={"bvse_resolution_A": 0.1})
    for c, applied, status in (
        (same, True, "applied"),
        (other, False, "settings mismatch"),
        (cal, True, "applied"),
    ):
        e = entry(by_formula(compare(store, [DOPED], calibrations=[c]))[DOPED], "bvse", "ea_eV")
        assert (e["applied"], e["status"]) == (applied, status)
        assert ("does not record" in e["note"]) == (not c.settings)
        if not applied:
            assert "0.1" in e["note"] and "0.25" in e["note"]
    # the settings survive the file
    p = save_calibration(same, tmp_path / "c.json")
    assert load_calibration(p, reference_sha256=sha).settings == made
    # a KMC calibration fitted on BVSE networks is not applied to KMC on NEB networks
    assert method_of(
        "kmc",
        {
            "network": {"source": "neb"},
            "kmc": {"provenance": {"parameters": {"superbasin_ratio": 100.0}}},
        },
    ) == {"kmc_network": "neb", "superbasin_ratio": 100.0}
    # nor one fitted before the critical hops counted exclusions to KMC that counts them
    par = {"superbasin_ratio": 100.0, "superbasin_exclusions": True}
    now = {"network": {"source": "bvse"}, "kmc": {"provenance": {"parameters": par}}}
    before = {
        "network": {"source": "bvse"},
        "kmc": {"provenance": {"parameters": {"superbasin_ratio": 100.0}}},
    }
    assert method_of("kmc", now) != method_of("kmc", before)
    # nor one fitted before the runs started from an equilibrium placement (revision 4)
    par4 = {**par, "start": "equilibrium"}
    now4 = {"network": {"source": "bvse"}, "kmc": {"provenance": {"parameters": par4}}}
    assert method_of("kmc", now4) != method_of("kmc", now)
    assert method_of("kmc", now4)["kmc_start"] == "equilibrium"
    # nor one fitted on straight-line BVSE saddles to KMC on minimum-energy-path saddles
    # (a line network, stored before or made on request, says nothing: the old method)
    path = {**now4, "network": {"source": "bvse", "provenance": {"parameters": {"saddle": "path"}}}}
    line = {**now4, "network": {"source": "bvse", "provenance": {"parameters": {"saddle": "line"}}}}
    assert method_of("kmc", path)["bvse_saddle"] == "path"
    assert method_of("kmc", line) == method_of("kmc", now4) != method_of("kmc", path)


def test_a_defect_tier_calibration_is_refused_by_compare_with_the_reason():
    from halidelab.errors import CalibrationError
    from halidelab.validation.apply import check_calibrations
    from halidelab.validation.calibration import calibrate

    raw = [0.2, 0.3, 0.4, 0.5, 0.6]
    cal = calibrate(
        "ea_eV",
        "defect",
        "chgnet",
        raw,
        [r + 0.1 for r in raw],
        [f"m{i}" for i in range(5)],
        ["Li3YCl6", "Li3InCl6", "LiAlCl4", "Li2MgCl4", "Li3YBr6"],
        "0" * 64,
    )
    with pytest.raises(CalibrationError, match="defect tier runs in validate only"):
        check_calibrations([cal])
    # a kmc calibration from a campaign with the defect tier (intrinsic vacancies on full
    # sublattices) is refused too; one from a campaign without it is accepted
    kmc = dataclasses.replace(cal, tier="kmc", settings={"kmc_network": "neb"})
    check_calibrations([kmc])
    intrinsic = dataclasses.replace(kmc, settings={**kmc.settings, "kmc_vacancies": "intrinsic"})
    with pytest.raises(CalibrationError, match="intrinsic vacancies"):
        check_calibrations([intrinsic])


def test_a_quenched_campaigns_calibration_applies_to_quenched_and_milled_models_only(
    base_store, tmp_path, sha
):
    """A calibration of ``validate --annealed-state quenched`` was fitted on quenched
    models of the annealed samples and on ball-milled ones; the default campaign's on
    Ewald-ordered and ball-milled ones. Each applies to values made on its own kind of
    model (a ``screen --state quenched`` store holds quenched ones), and to ball-milled
    models, which both campaigns build alike; otherwise a settings-mismatch note."""
    from halidelab.screening.inputs import ModelsInputs
    from halidelab.screening.plans import ScreenSettings, candidate_grid, run_screen, run_stage
    from halidelab.screening.ranking import gather
    from halidelab.screening.tasks import Task
    from halidelab.validation.tiers import MaterialContext, ValidateSettings, method_of

    path = tmp_path / "states.sqlite"
    shutil.copy(base_store, path)
    store = Store(path)
    # the same composition quenched (a screen) and ball-milled (a reproduction's models)
    out = run_screen(
        candidate_grid(PARENT, ["Nb"], [0.2], ["Zr"]),
        store,
        ScreenSettings(
            n_configs=3, tiers=("rules", "models"), state="quenched", wide_max_atoms=140
        ),
        progress=False,
    )
    assert not out.failed
    milled = Task.of(
        ModelsInputs(
            parent=PARENT,
            substitutions=[{"dopant": "Nb", "site": "Zr", "x": 0.2}],
            max_atoms=60,
            n_configs=3,
            state="ball-milled",
        ),
        "milled",
    )
    assert not run_stage([milled], store, progress=False).failed
    cands = {(c.formula, c.state): c for c in gather(store)}
    assert {s for f, s in cands if f == DOPED} == {"annealed", "quenched", "ball-milled"}
    n = 0
    for (formula, _state), c in cands.items():
        for i, cf in enumerate(c.models["configurations"]):
            n += 1
            key = f"bvse-{n}"
            store.add(key, "bvse", key, {"structure": cf["structure"], "resolution_A": 0.25}, "t")
            e = BVSE[formula][i]
            store.finish(key, {"e_3d_eV": e, "e_1d_eV": e - 0.1, "resolution_A": 0.25}, 0.0)

    cal, _, _ = synthetic_calibration("bvse", "-", "ea_eV", NEAR, sha, (0.55, 0.75))
    result = {"resolution_A": 0.25}

    def made(state: str) -> dict:
        ctx = MaterialContext(
            entry=None,
            model=None,
            settings=ValidateSettings(annealed_state=state),
            tiers=(),
            results={},
        )
        return method_of("bvse", result, ctx)

    quenched_cal = dataclasses.replace(cal, settings=made("quenched"))
    ordered_cal = dataclasses.replace(cal, settings=made("annealed"))
    assert quenched_cal.settings != ordered_cal.settings
    recs = {r["state"]: r for r in compare(store, [DOPED], calibrations=[quenched_cal])}
    recs_o = {r["state"]: r for r in compare(store, [DOPED], calibrations=[ordered_cal])}
    expect = {  # state -> (quenched calibration applied, ordered one applied)
        "quenched": (True, False),
        "annealed": (False, True),
        "ball-milled": (True, True),
    }
    for state, (q_ok, o_ok) in expect.items():
        for rec, ok in ((recs[state], q_ok), (recs_o[state], o_ok)):
            e = entry(rec, "bvse", "ea_eV", model="-")
            assert e["applied"] is ok, (state, e["note"])
            if ok:  # the ensemble mean of the three orderings' barriers, mapped
                assert e["raw"] == pytest.approx(np.mean(BVSE[DOPED]))
            else:
                assert e["status"] == "settings mismatch"
                assert "annealed_state" in e["note"]
