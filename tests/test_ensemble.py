"""Ensemble statistics and verdicts: a claim only when it exceeds its uncertainty."""

from __future__ import annotations

import math

import numpy as np
import pytest

from halidelab.ensemble import compare, ensemble_stat, peak, trend


def test_mean_spread_and_standard_error():
    s = ensemble_stat([209.67, 207.32, 206.79, 206.80])  # the four x = 0.4 volumes of issue 13
    assert s.mean == pytest.approx(np.mean([209.67, 207.32, 206.79, 206.80]))
    assert s.std == pytest.approx(np.std([209.67, 207.32, 206.79, 206.80], ddof=1))
    assert s.sem == pytest.approx(s.std / 2)
    lo, hi = s.interval(0.95)
    assert lo < s.mean < hi
    one = ensemble_stat([1.0, None])
    assert one.n == 1 and one.sem is None and one.interval() is None and "1 ordering" in one.text()
    assert ensemble_stat([None, None]) is None


def test_issue_13_volumes_do_not_resolve_a_contraction():
    """x = 0.4 orderings 209.67/207.32/206.79/206.80 A^3 vs Li2ZrCl6 209.0: the first
    ordering alone said "expands"; the ensemble cannot tell."""
    v0 = ensemble_stat([209.0, 209.1, 208.9])
    v4 = ensemble_stat([209.67, 207.32, 206.79, 206.80])
    v = compare(v0, v4, "Nb contracts the lattice", "V per f.u.", "A^3")
    assert not v.resolved and v.text.startswith("not resolved")
    assert v.estimate < 0


def test_false_claims_happen_at_the_stated_rate():
    """Two ensembles drawn from one distribution: a 'resolved' difference in ~5 % of cases."""
    rng = np.random.default_rng(0)
    hits = 0
    trials = 2000
    for _ in range(trials):
        a = ensemble_stat(rng.normal(0, 1, 3))
        b = ensemble_stat(rng.normal(0, 1, 4))
        hits += compare(a, b, "differs").resolved
    assert 0.03 < hits / trials < 0.075
    # a real difference of 4 standard deviations is found nearly always
    found = sum(
        compare(
            ensemble_stat(rng.normal(0, 1, 4)), ensemble_stat(rng.normal(4, 1, 4)), "x"
        ).resolved
        for _ in range(200)
    )
    assert found > 180


def test_one_ordering_never_gives_a_verdict():
    v = compare(ensemble_stat([1.0]), ensemble_stat([2.0]), "higher", "E", "eV")
    assert not v.resolved and "need >= 2 orderings" in v.text


def test_trend_and_peak():
    rng = np.random.default_rng(1)
    xs = [0, 0.1, 0.2, 0.3, 0.4]
    falling = [ensemble_stat(209 - 5 * x + rng.normal(0, 0.05, 4)) for x in xs]
    t = trend(xs, falling, "expands", "contracts", "V", "A^3")
    assert (
        t.resolved and t.text.startswith("contracts") and t.estimate == pytest.approx(-5, abs=0.5)
    )
    flat = [ensemble_stat(rng.normal(209, 1.0, 3)) for _ in xs]
    assert not trend(xs, flat, "up", "down").resolved
    volcano = [ensemble_stat(m + rng.normal(0, 0.02, 4)) for m in (-3.3, -3.1, -2.9, -3.1, -3.4)]
    p = peak(xs, volcano, "log10 sigma")
    assert p.resolved and "x = 0.2" in p.text
    edge = [ensemble_stat(m + rng.normal(0, 0.02, 4)) for m in (-3.3, -3.1, -2.9, -2.8, -2.7)]
    assert "no interior" in peak(xs, edge, "log10 sigma").text
    noisy = [ensemble_stat(m + rng.normal(0, 0.5, 3)) for m in (-3.3, -3.1, -2.9, -3.1, -3.4)]
    assert not peak(xs, noisy, "log10 sigma").resolved


def test_weighted_mean_uses_effective_sample_size():
    s = ensemble_stat([1.0, 2.0, 3.0], weights=[1, 1, 2])
    assert s.mean == pytest.approx((1 + 2 + 6) / 4)
    n_eff = 1 / ((0.25**2) * 2 + 0.5**2)
    assert s.sem == pytest.approx(s.std / math.sqrt(n_eff))


def test_member_errors_set_a_floor_on_the_standard_error():
    """Two KMC results that agree by chance to 0.01 but are each known to +-0.3: the
    ensemble's error is the propagated one, and no difference is claimed from it."""
    a = ensemble_stat([-4.00, -4.01], errors=[0.3, 0.3])
    assert a.sem == pytest.approx(math.sqrt(2) * 0.3 / 2)
    b = ensemble_stat([-3.50, -3.51], errors=[0.3, 0.3])
    assert not compare(a, b, "higher").resolved
    assert compare(ensemble_stat([-4.00, -4.01]), ensemble_stat([-3.50, -3.51]), "higher").resolved


def _kmc_member(log10_s: float, ea: float, diffusive_at: tuple[float, ...]) -> dict:
    s = 10.0**log10_s
    points = [
        {
            "temperature_K": t,
            "sigma_S_cm": s,
            "sigma_err_S_cm": 0.1 * s,
            "d_sigma_cm2_s": 1e-8,
            "diffusive": t in diffusive_at,
            "haven_ratio": 0.5,
        }
        for t in (298.15, 323.15, 348.15, 373.15)
    ]
    return {
        "kmc_bvse": {
            "kmc": {
                "sigma_25C_S_cm": s,
                "sigma_25C_low_S_cm": 0.8 * s,
                "sigma_25C_high_S_cm": 1.25 * s,
                "ea_eV": ea,
                "ea_err_eV": 0.01,
                "points": points,
            }
        }
    }


def test_ensembles_take_no_kmc_value_extrapolated_to_25C_or_with_negative_ea():
    """Three orderings: one whose runs were diffusive at every temperature, one not at
    25-50 C (its sigma(25 C) is a line through 75-100 C pushed outside its data) and one
    with a negative Ea: the ensemble's KMC sigma and Ea are the first one's alone."""
    from halidelab.ensemble import summarize_members

    all_t = (298.15, 323.15, 348.15, 373.15)
    stats = summarize_members(
        [
            _kmc_member(-3.0, 0.40, all_t),
            _kmc_member(-1.0, 0.10, (348.15, 373.15)),
            _kmc_member(-2.0, -0.02, all_t),
        ]
    )
    assert stats["kmc_bvse_log10_sigma"]["n"] == 1
    assert stats["kmc_bvse_log10_sigma"]["mean"] == pytest.approx(-3.0)
    assert stats["kmc_bvse_ea_eV"]["n"] == 1 and stats["kmc_bvse_ea_eV"]["mean"] == 0.40


def test_a_pellet_fit_checks_the_temperatures_its_pellet_values_resolve():
    """A kmc result fitted on the polycrystal (revision 5) counts a temperature only where
    the polycrystal conductivity is resolved: a needle crystal whose pellet value at 25 C is
    not resolved (its slow directions unresolved) gives no 25 C value, though its orientation
    average is resolved there; a result stored before (no ``average``) keeps the orientation
    average's test."""
    from halidelab.ensemble import kmc_room_temperature_problem, kmc_usable_points

    member = _kmc_member(-3.0, 0.40, (298.15, 323.15, 348.15, 373.15))
    k = member["kmc_bvse"]["kmc"]
    assert kmc_room_temperature_problem(k) is None  # stored before: orientation average
    for p in k["points"]:
        p["sigma_polycrystal_S_cm"] = 0.3 * p["sigma_S_cm"]
        p["sigma_polycrystal_err_S_cm"] = (0.5 if p["temperature_K"] < 300 else 0.02) * p[
            "sigma_S_cm"
        ]
    assert len(kmc_usable_points(k)) == 4
    k["average"] = "polycrystal"
    assert [p["temperature_K"] for p in kmc_usable_points(k)] == [323.15, 348.15, 373.15]
    assert "extrapolated" in kmc_room_temperature_problem(k)


def _sub_diffusive_member(upper_log10: float | None) -> dict:
    """A KMC result not diffusive at any temperature (no Arrhenius fit); its 25 C run's
    upper limit on sigma at ``upper_log10`` (None: blocked, no hop, no limit)."""
    points = [
        {
            "temperature_K": t,
            "sigma_S_cm": 0.0,
            "sigma_err_S_cm": 0.0,
            "diffusive": False,
            "sigma_upper_S_cm": None if upper_log10 is None else 10.0 ** (upper_log10 + k),
        }
        for k, t in enumerate((298.15, 323.15, 348.15, 373.15))
    ]
    return {"kmc_bvse": {"kmc": {"sigma_25C_S_cm": None, "ea_eV": None, "points": points}}}


def test_an_ensemble_without_a_kmc_value_keeps_its_upper_limit():
    """Orderings that ran KMC but were sub-diffusive at 25 C bound the ensemble's sigma by
    the mean of their log10 limits (each above its ordering's value, so the mean is above
    the mean of the values); an ordering with a value gives no limit but a value; an
    ordering not run, or blocked without a limit, leaves no bound but says why; compare
    shows the bound, not "run kmc"."""
    from halidelab.compare import _record, format_value
    from halidelab.ensemble import kmc_no_value, summarize_members
    from halidelab.literature import load_literature
    from halidelab.screening.ranking import CandidateResults

    limited = [_sub_diffusive_member(u) for u in (-6.0, -5.0, -7.5)]
    stats = summarize_members(limited)
    assert stats["kmc_bvse_log10_sigma"] is None
    nov = stats["kmc_bvse_no_value"]
    assert nov["upper_log10_sigma_S_cm"] == pytest.approx(-6.1666667)
    assert (nov["n_run"], nov["n_orderings"], nov["n_limits"]) == (3, 3, 3)
    assert stats["kmc_neb_no_value"] is None  # no NEB network ran
    # one ordering with a value: the ensemble is that value, and there is no bound
    with_value = summarize_members([*limited[:2], _kmc_member(-3.0, 0.4, (298.15, 323.15))])
    assert with_value["kmc_bvse_no_value"] is None
    assert with_value["kmc_bvse_log10_sigma"]["mean"] == pytest.approx(-3.0)
    # a blocked ordering (no limit) or one not run: no bound, and the reason
    blocked = kmc_no_value(
        [m["kmc_bvse"] for m in limited[:2]] + [_sub_diffusive_member(None)["kmc_bvse"]]
    )
    assert blocked["upper_log10_sigma_S_cm"] is None and blocked["n_limits"] == 2
    assert "3 of 3 orderings run (2 with an upper limit)" in blocked["reason"]
    not_run = kmc_no_value([m["kmc_bvse"] for m in limited[:2]] + [None])
    assert not_run["upper_log10_sigma_S_cm"] is None
    assert "2 of 3 orderings run" in not_run["reason"]
    assert kmc_no_value([None, None]) is None

    c = CandidateResults("LiAlCl4", "LiAlCl4", "LiAlCl4", None, None, 0.0, {}, ensemble=stats)
    c.configurations = [{}, {}, {}]
    rec = _record("LiAlCl4", c, {}, load_literature())
    assert (
        rec["kmc_log10_sigma"] is None
        and rec["kmc_log10_sigma_upper"] == nov["upper_log10_sigma_S_cm"]
    )
    assert "kmc" not in rec["missing"]
    assert format_value("kmc_log10_sigma", rec).startswith("< -6.17 (upper limit")
    assert format_value("kmc_ea_eV", rec) == nov["reason"]
    # without a KMC result the row still asks for the tier
    bare = _record(
        "LiAlCl4",
        CandidateResults("LiAlCl4", "LiAlCl4", "LiAlCl4", None, None, 0.0, {}),
        {},
        load_literature(),
    )
    assert "kmc" in bare["missing"] and format_value("kmc_log10_sigma", bare) == "- (run kmc)"
