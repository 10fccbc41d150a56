"""The screen's cost estimate from durations measured in the user's own store."""

from __future__ import annotations

import pytest

from halidelab.screening.cost import (
    KMC_FIXED_FRACTION,
    KMC_REF_EVENTS,
    MIN_MEASURED_TASKS,
    PERCENTILE_RANGE_FROM,
    TIER_COSTS,
    estimate_cost,
    kmc_cost_factor,
    measured_costs,
)
from halidelab.screening.settings import ScreenSettings
from halidelab.screening.store import Store


def _cell(n_atoms: int) -> dict:
    """Just enough of ``Structure.as_dict()`` for the atom count."""
    return {"@class": "Structure", "sites": [{"species": [{"element": "Cl"}]}] * n_atoms}


def _done(store: Store, key: str, kind: str, inputs: dict, seconds: float, result=None) -> None:
    store.add(key, kind, key, inputs, "test")
    store.start(key)
    store.finish(key, result or {"ok": True}, seconds)


def test_timings_are_done_tasks_newest_first_with_their_durations(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    for i in range(4):
        _done(store, f"r{i}", "relax", {"i": i}, 10.0 + i)
    store.add("pending", "relax", "p", {"i": 9}, "test")
    store.add("bad", "relax", "b", {"i": 8}, "test")
    store.fail("bad", "boom", 3.0)
    _done(store, "other", "bvse", {"i": 5}, 1.0)
    rows = store.timings("relax")
    # failed, pending and other kinds are not timings of done relaxations
    assert sorted(r["duration_s"] for r in rows) == [10.0, 11.0, 12.0, 13.0]
    assert all("result" not in r for r in rows)
    assert len(store.timings("relax", limit=2)) == 2
    assert store.timings("bvse", with_result=True)[0]["result"] == {"ok": True}


def test_measured_costs_scale_to_the_reference_cell_and_keep_to_the_screens_model(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    ref = TIER_COSTS["relax"].ref_atoms
    # relaxation time grows with atoms: half the cell in half the time is the same cost
    # per reference cell, so every task measures 40 s per ref_atoms
    for i, (atoms, seconds) in enumerate([(ref, 40.0), (ref // 2, 20.0), (2 * ref, 80.0)]):
        _done(store, f"c{i}", "relax", {"structure": _cell(atoms), "model": "chgnet"}, seconds)
    # another model's relaxations do not measure this one's cost
    for i in range(5):
        _done(store, f"s{i}", "relax", {"structure": _cell(ref), "model": "sevennet-0"}, 400.0)
    got = measured_costs(store, ScreenSettings(model="chgnet"))
    assert got["relax"].typical_s == pytest.approx(40.0)
    assert got["relax"].low_s == pytest.approx(40.0) and got["relax"].high_s == pytest.approx(40.0)
    assert "3 relax tasks (chgnet)" in got["relax"].source
    other = measured_costs(store, ScreenSettings(model="sevennet-0"))
    assert other["relax"].typical_s == pytest.approx(400.0)
    # too few tasks: the tier keeps the shipped cost
    assert "relax" not in measured_costs(store, ScreenSettings(model="sevennet-mf-0"))
    assert MIN_MEASURED_TASKS == 3


def test_measured_bvse_is_for_the_screens_grid_and_neb_is_per_band(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    ref = TIER_COSTS["bvse"].ref_atoms
    for i in range(3):
        _done(store, f"b{i}", "bvse", {"structure": _cell(ref), "resolution_A": 0.5}, 1.0)
        _done(store, f"f{i}", "bvse", {"structure": _cell(ref), "resolution_A": 0.25}, 8.0)
    coarse = measured_costs(store, ScreenSettings(bvse_resolution_A=0.5))["bvse"]
    fine = measured_costs(store, ScreenSettings(bvse_resolution_A=0.25))["bvse"]
    assert coarse.typical_s == pytest.approx(1.0) and fine.typical_s == pytest.approx(8.0)
    assert "bvse" not in measured_costs(store, ScreenSettings(bvse_resolution_A=0.1))
    # a measured BVSE cost is for its own grid: the estimate does not rescale it
    s = ScreenSettings(tiers=("rules", "models", "bvse"), bvse_resolution_A=0.5, n_configs=1)
    row = {r["tier"]: r for r in estimate_cost(4, s, n_atoms=ref, costs={"bvse": coarse}).rows}
    assert row["bvse"]["per_task_s"] == pytest.approx(1.0)

    nref = TIER_COSTS["neb"].ref_atoms
    for i, bands in enumerate([2, 4, 3]):
        study = {"results": [{"barrier_eV": 0.3}] * bands}
        result = {"studies": [study]} if i == 2 else study
        inputs = {"structure": _cell(nref), "model": "chgnet"}
        _done(store, f"n{i}", "neb", inputs, 30.0 * bands, result)
    neb = measured_costs(store, ScreenSettings())["neb"]
    assert neb.typical_s == pytest.approx(30.0) and neb.high_s == pytest.approx(30.0)
    assert "per band" in neb.source


def test_one_slow_task_among_many_does_not_set_the_high_cost(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    ref = TIER_COSTS["kmc"].ref_atoms
    n = PERCENTILE_RANGE_FROM + 10
    run = {"structure": _cell(ref), "temperatures_K": [300.0] * 4, "n_runs": 8}
    run["hops_per_carrier"] = KMC_REF_EVENTS / 32  # the reference task's events
    for i in range(n):
        seconds = 2000.0 if i == 0 else 20.0 + i
        _done(store, f"k{i}", "kmc", {**run, "source": "bvse"}, seconds)
    for i in range(4):  # KMC on NEB networks is another cost
        _done(store, f"x{i}", "kmc", {**run, "source": "neb"}, 1.0)
    kmc = measured_costs(store, ScreenSettings())["kmc"]
    assert kmc.high_s < 100.0 < 2000.0
    assert 20.0 < kmc.low_s < kmc.typical_s < kmc.high_s
    assert f"{n} kmc tasks" in kmc.source and "10-90 %" in kmc.source


def test_the_estimate_follows_the_measured_cost_and_says_where_it_came_from(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    ref = TIER_COSTS["relax"].ref_atoms
    for i in range(3):  # a machine 10x faster than the shipped table
        inputs = {"structure": _cell(ref), "model": "chgnet"}
        _done(store, f"r{i}", "relax", inputs, TIER_COSTS["relax"].typical_s / 10)
    s = ScreenSettings(tiers=("rules", "models", "relax"), n_configs=1, include_parent=False)
    shipped = {r["tier"]: r for r in estimate_cost(10, s, n_atoms=ref).rows}
    costs = measured_costs(store, s)
    mine = {r["tier"]: r for r in estimate_cost(10, s, n_atoms=ref, costs=costs).rows}
    assert mine["relax"]["per_task_s"] == pytest.approx(shipped["relax"]["per_task_s"] / 10)
    assert mine["relax"]["source"].startswith("measured in this store: 3 relax tasks")
    # tiers the store has not measured keep the shipped costs
    assert mine["models"] == shipped["models"]


def test_kmc_costs_have_a_fixed_part_and_a_part_that_grows_with_the_events_per_li(tmp_path):
    ref_events = KMC_REF_EVENTS
    assert kmc_cost_factor(ref_events) == pytest.approx(1.0)
    # linear in the events, with a fixed part (the network, the set-up) at none
    steps = [kmc_cost_factor(k * ref_events) for k in (0, 1, 2, 3)]
    assert steps[0] == pytest.approx(KMC_FIXED_FRACTION) and 0 < KMC_FIXED_FRACTION < 1
    assert steps[2] - steps[1] == pytest.approx(steps[3] - steps[2])
    store = Store(tmp_path / "s.sqlite")
    ref = TIER_COSTS["kmc"].ref_atoms
    temps = [298.15, 323.15, 348.15, 373.15]
    # tasks of 200 and 800 events per Li that cost what the factor says: one reference cost
    slow = 30.0 * kmc_cost_factor(4 * 8 * 800.0)
    for i, (hops, seconds) in enumerate([(200.0, 30.0), (800.0, slow), (200.0, 30.0)]):
        inputs = {"structure": _cell(ref), "temperatures_K": temps, "n_runs": 8}
        _done(store, f"k{i}", "kmc", {**inputs, "hops_per_carrier": hops}, seconds)
    kmc = measured_costs(store, ScreenSettings())["kmc"]
    assert kmc.typical_s == pytest.approx(30.0 * kmc_cost_factor(4 * 8 * 200.0))
    assert kmc.low_s == pytest.approx(kmc.high_s)
    # a quenched screen runs 4x the events per Li of an annealed one
    tiers = ("rules", "models", "relax", "bvse", "kmc")
    per = {}
    for state in ("annealed", "quenched"):
        s = ScreenSettings(tiers=tiers, state=state, n_configs=1)
        rows = {r["tier"]: r for r in estimate_cost(3, s, n_atoms=ref, costs={"kmc": kmc}).rows}
        per[state] = rows["kmc"]["per_task_s"]
    hops = ScreenSettings(state="quenched").hops_per_carrier / ScreenSettings().hops_per_carrier
    assert hops == 4
    assert per["quenched"] == pytest.approx(kmc_cost_factor(hops * ref_events) * per["annealed"])
    assert per["annealed"] < per["quenched"] < hops * per["annealed"]


def test_damaged_timing_rows_are_passed_over_not_fatal(tmp_path):
    import sqlite3

    store = Store(tmp_path / "s.sqlite")
    ref = TIER_COSTS["relax"].ref_atoms
    for i in range(6):
        _done(store, f"r{i}", "relax", {"structure": _cell(ref), "model": "chgnet"}, 30.0)
    with sqlite3.connect(tmp_path / "s.sqlite") as db:  # another program damaged two rows
        db.execute("UPDATE tasks SET inputs = 'not json {' WHERE key = 'r0'")
        db.execute("UPDATE tasks SET duration_s = -5 WHERE key = 'r1'")
        db.execute("UPDATE tasks SET inputs = '[1, 2]' WHERE key = 'r2'")
    assert len(store.timings("relax")) == 3
    relax = measured_costs(store, ScreenSettings())["relax"]
    assert relax.typical_s == pytest.approx(30.0) and "3 relax tasks" in relax.source


def test_a_stage_estimate_comes_from_like_tasks_per_atom_and_shares_the_workers(tmp_path):
    from halidelab.screening.cost import stage_seconds
    from halidelab.screening.tasks import Task

    store = Store(tmp_path / "s.sqlite")
    for i in range(3):  # 40 s per 130 atoms with CHGNet
        _done(store, f"r{i}", "relax", {"structure": _cell(130), "model": "chgnet"}, 40.0)
    half = [Task("relax", f"n{i}", {"structure": _cell(65), "model": "chgnet"}) for i in range(2)]
    assert stage_seconds(half, store) == pytest.approx(2 * 20.0)
    assert stage_seconds(half, store, workers=2) == pytest.approx(20.0)
    # a relaxation with another MLIP has no like timings: no number
    other = [Task("relax", "s", {"structure": _cell(65), "model": "sevennet-0"})]
    assert stage_seconds([*half, *other], store) is None
    # skewed task times (one long of three): a stage's expected time is the mean's, not the
    # median's (which would say 10 s)
    for i, seconds in enumerate([10.0, 10.0, 40.0]):
        _done(store, f"k{i}", "bvse", {"structure": _cell(130), "resolution_A": 0.25}, seconds)
    one = [Task("bvse", "b", {"structure": _cell(130), "resolution_A": 0.25})]
    assert stage_seconds(one, store) == pytest.approx(20.0)


def test_run_tasks_titles_a_stage_with_its_estimate_from_the_store(tmp_path, monkeypatch):
    import contextlib

    from halidelab.screening import runner
    from halidelab.screening.tasks import TASK_FUNCTIONS, Task

    monkeypatch.setitem(TASK_FUNCTIONS, "relax", lambda inputs: {"ok": True})
    titles = []

    @contextlib.contextmanager
    def fake_progress(enabled, total, title):
        titles.append(title)
        yield None, None

    monkeypatch.setattr(runner, "_progress", fake_progress)
    store = Store(tmp_path / "s.sqlite")
    new = [Task("relax", "n0", {"structure": _cell(260), "model": "sevennet-0"})]
    runner.run_tasks(new, store, title="relax")  # nothing measured yet: the plain title
    assert titles[-1] == "relax"
    for i in range(3):
        _done(store, f"r{i}", "relax", {"structure": _cell(130), "model": "chgnet"}, 44.0)
    # another task (the key hashes the inputs) of the same size, MLIP and kind
    more = [Task("relax", "n1", {"structure": _cell(260), "model": "chgnet", "steps": 9})]
    runner.run_tasks(more, store, title="relax")
    assert titles[-1] == "relax (about 88 s by this store's timings)"  # 2 x 44 s
    # nothing left to run: no bar, no estimate
    runner.run_tasks(more, store, title="relax")
    assert titles[-1] == "relax"
    # a stage of seconds is over before an estimate helps: none
    small = [Task("relax", "n2", {"structure": _cell(13), "model": "chgnet", "steps": 9})]
    runner.run_tasks(small, store, title="relax")
    assert titles[-1] == "relax" and runner.STAGE_ESTIMATE_FROM_S == 10.0
