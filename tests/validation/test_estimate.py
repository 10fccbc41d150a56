"""A validation campaign's cost estimate: the tasks it counts are those the campaign then
runs, done ones cost nothing, and each task is priced by the store's like tasks or else by
the shipped costs (scaled to the MLIP's measured call cost)."""

from __future__ import annotations

import json

import pytest
from test_validate import SETTINGS, SUBSET, counted  # noqa: F401  (fixture)

from halidelab.cli import main
from halidelab.screening.cost import (
    D3_CALL_FACTOR,
    MODEL_CALL_FACTOR,
    TIER_COSTS,
    model_call_factor,
    shipped_task_cost,
)
from halidelab.screening.store import Store
from halidelab.validation.campaign import prepare
from halidelab.validation.estimate import estimate_validation, plan_remaining
from halidelab.validation.run import validate
from halidelab.validation.tiers import ValidateSettings


def _rows(est) -> dict[str, dict]:
    return {r["tier"]: r for r in est.rows}


def _cell(n_atoms: int) -> dict:
    """Just enough of ``Structure.as_dict()`` for the atom count."""
    return {"@class": "Structure", "sites": [{"species": [{"element": "Cl"}]}] * n_atoms}


def test_the_estimate_counts_the_tasks_the_campaign_then_runs(tmp_path, counted):  # noqa: F811
    settings = ValidateSettings(bvse_resolution_A=0.5, relax_steps=5, orderings=2)
    common = {
        "tiers": ["relax", "bvse", "prior"],
        "models": ["chgnet"],
        "out": tmp_path / "v",
        "settings": settings,
        "materials": SUBSET,
        "progress": False,
    }
    est = estimate_validation(**common)
    # the estimate builds the models (the campaign's first stage) and nothing else
    assert counted == {"reference-model": len(SUBSET)}
    assert est.n_materials == est.n_models == len(SUBSET)
    rows = _rows(est)
    assert set(rows) == {"relax (chgnet)", "bvse (chgnet)", "prior"}
    assert rows["prior"]["tasks"] == len(SUBSET)
    # every ordering is relaxed and mapped; at least one material has a second one
    assert rows["relax (chgnet)"]["tasks"] == rows["bvse (chgnet)"]["tasks"] > len(SUBSET)
    assert all(r["done"] == 0 for r in rows.values())
    # an empty store: every task is priced by the shipped costs
    assert est.not_priced == 0 and est.total_s > 0
    assert all("shipped costs" in r["source"] for r in rows.values())

    seen = []
    out = validate(**common, on_estimate=lambda e: seen.append((e, dict(counted))))
    assert not out.failed
    # the campaign shows the same estimate once, after its models and before any relaxation
    ((shown, at_that_time),) = seen
    assert at_that_time == {"reference-model": len(SUBSET)}
    assert [(r["tier"], r["tasks"]) for r in shown.rows] == [
        (r["tier"], r["tasks"]) for r in est.rows
    ]
    # the campaign keeps its estimate and the time it then took, and its report says both
    assert out.estimate["total_s"] == pytest.approx(shown.total_s)
    assert 0 < out.wall_after_models_s < out.wall_s
    html = (tmp_path / "v" / "report.html").read_text()
    assert "Estimated after the models" in html and "it took" in html
    # what it counted is what ran
    assert counted["relax"] == rows["relax (chgnet)"]["tasks"]
    assert counted["bvse"] == rows["bvse (chgnet)"]["tasks"]
    assert counted["prior"] == rows["prior"]["tasks"]
    assert counted["reference-model"] == len(SUBSET)

    # a rerun has nothing left: every task found done, nothing to pay
    again = estimate_validation(**common)
    for tier, r in _rows(again).items():
        assert r["tasks"] == 0 and r["done"] == rows[tier]["tasks"]
        assert r["total_s"] == 0.0 and r["high_s"] == 0.0
    assert again.total_s == 0.0


def test_tasks_after_a_task_not_run_are_made_on_a_stand_in(tmp_path, counted):  # noqa: F811
    """KMC on NEB networks needs the relaxation and the NEB study: before either ran, the
    estimate still makes each KMC task, on the model's cell (a relaxation keeps its atoms)
    and on an NEB network (one method per campaign)."""
    camp = prepare(["kmc", "neb"], ["chgnet"], None, tmp_path / "v", SETTINGS, None, SUBSET[:2])
    est = estimate_validation(
        tiers=["kmc", "neb"],
        models=["chgnet"],
        out=tmp_path / "v",
        settings=SETTINGS,
        materials=SUBSET[:2],
        progress=False,
    )
    assert {r["tier"]: r["tasks"] for r in est.rows} == {
        "relax (chgnet)": 2,
        "neb (chgnet)": 2,
        "kmc (chgnet)": 2,
    }
    results = {}
    for where, task in camp.stage_tasks(0, results):
        results[where] = camp.store.result(task.key)
    left, done = plan_remaining(camp, results)
    assert not done
    models = {w[1]: len(results[("model", w[1], "-", 0)]["structure"]["sites"]) for w, _ in left}
    for (tier, material, _m, _k), task in left:
        assert len(task.inputs["structure"]["sites"]) == models[material]
        if tier == "kmc":
            assert task.inputs["source"] == "neb"
    # relax, NEB and KMC are priced; NEB per band, several bands per study
    rows = _rows(est)
    assert rows["neb (chgnet)"]["per_task_s"] > TIER_COSTS["neb"].low_s
    assert est.not_priced == 0


def test_tasks_are_priced_by_like_tasks_in_the_store_else_by_the_shipped_costs(
    tmp_path,
    counted,  # noqa: F811
):
    common = {
        "tiers": ["relax"],
        "models": ["chgnet", "sevennet-0"],
        "out": tmp_path / "v",
        "settings": SETTINGS,
        "materials": SUBSET,
        "progress": False,
    }
    camp = prepare(common["tiers"], common["models"], None, common["out"], SETTINGS, None, SUBSET)
    est0 = estimate_validation(**common)
    results = {}
    for where, task in camp.stage_tasks(0, results):
        results[where] = camp.store.result(task.key)
    left, _ = plan_remaining(camp, results)
    chg = [t for (_, _, m, _), t in left if m == "chgnet"]
    # three chgnet relaxations of another campaign, like these (same MLIP, relax mode),
    # of 130 atoms in 10, 10 and 40 s: a mean of 20 s per 130 atoms
    store = Store(tmp_path / "v" / "results.sqlite")
    for i, seconds in enumerate((10.0, 10.0, 40.0)):
        inputs = dict(chg[0].inputs) | {"structure": _cell(130), "steps": 1000 + i}
        store.add(f"m{i}", "relax", f"m{i}", inputs, "test")
        store.start(f"m{i}")
        store.finish(f"m{i}", {"ok": True}, seconds)
    est = estimate_validation(**common)
    rows = _rows(est)
    atoms = [len(t.inputs["structure"]["sites"]) for t in chg]
    # the mean (20 s), not the median (10 s): a campaign is the sum of its task times
    assert rows["relax (chgnet)"]["total_s"] == pytest.approx(20.0 / 130 * sum(atoms))
    assert rows["relax (chgnet)"]["low_s"] == pytest.approx(10.0 / 130 * sum(atoms))
    assert rows["relax (chgnet)"]["high_s"] == pytest.approx(40.0 / 130 * sum(atoms))
    assert "like tasks done in this store" in rows["relax (chgnet)"]["source"]
    # the other MLIP's relaxations are not like these: shipped, at its call cost
    seven = rows["relax (sevennet-0)"]
    shipped = TIER_COSTS["relax"]
    factor = MODEL_CALL_FACTOR["sevennet-0"]
    assert seven["per_task_s"] == pytest.approx(
        shipped.typical_s * factor * sum(atoms) / len(atoms) / shipped.ref_atoms
    )
    assert "shipped costs" in seven["source"] and "sevennet-0" in seven["source"]
    # the shipped chgnet cost before the store held its own (the factor is 1)
    assert _rows(est0)["relax (chgnet)"]["per_task_s"] == pytest.approx(
        seven["per_task_s"] / factor
    )


def test_a_task_nothing_prices_is_counted_and_named_not_added(tmp_path, counted):  # noqa: F811
    est = estimate_validation(
        tiers=["defect"],
        models=["chgnet"],
        out=tmp_path / "v",
        settings=SETTINGS,
        materials=SUBSET[:2],
        progress=False,
    )
    rows = _rows(est)
    defect = rows["defect (chgnet)"]
    assert defect["tasks"] == 2 and defect["not_priced"] == 2
    assert defect["total_s"] == 0.0 and "not priced" in defect["source"]
    assert est.not_priced == 2
    assert est.total_s == pytest.approx(sum(r["total_s"] for r in est.rows))
    assert est.total_s > 0  # the relaxations and BVSE maps it needs are priced


def test_shipped_costs_follow_the_model_and_the_lattice_temperature():
    base = {"structure": _cell(130), "model": "chgnet"}
    chg, _, _ = shipped_task_cost("relax", base)
    assert chg["typical_s"] == pytest.approx(TIER_COSTS["relax"].typical_s)
    # twice the atoms, twice the time
    big, _, _ = shipped_task_cost("relax", base | {"structure": _cell(260)})
    assert big["typical_s"] == pytest.approx(2 * chg["typical_s"])
    # each registered MLIP is priced at its measured call cost; a -d3 one adds D3's
    for name, factor in MODEL_CALL_FACTOR.items():
        per, _, _ = shipped_task_cost("relax", base | {"model": name})
        assert per["typical_s"] == pytest.approx(chg["typical_s"] * factor)
        assert model_call_factor(f"{name}-d3") == pytest.approx(factor + D3_CALL_FACTOR)
    assert MODEL_CALL_FACTOR["sevennet-l3i5"] > MODEL_CALL_FACTOR["sevennet-0"] > 1.0
    # an MLIP never timed and a defect task are not priced
    assert shipped_task_cost("relax", base | {"model": "mace-mp-0"}) is None
    assert shipped_task_cost("defects", base) is None
    # a relaxation expanded to a lattice temperature adds MD steps: longer MD, more time
    hot = [
        shipped_task_cost("relax", base | {"temperature_K": 298.0, "thermal_md_ps": ps})[0]
        for ps in (1.0, 2.0)
    ]
    assert chg["typical_s"] < hot[0]["typical_s"] < hot[1]["typical_s"]
    assert hot[1]["typical_s"] - hot[0]["typical_s"] == pytest.approx(
        hot[0]["typical_s"] - 3 * chg["typical_s"]
    )


def test_cli_validate_estimate_prints_and_runs_nothing_else(tmp_path, counted, capsys):  # noqa: F811
    args = [
        "validate",
        "--tiers",
        "relax,bvse",
        "--materials",
        ",".join(SUBSET[:2]),
        "--bvse-resolution",
        "0.5",
        "--orderings",
        "1",
        "--report",
        str(tmp_path / "v"),
        "--estimate",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "after the models: 2 of 2 materials built" in out
    assert "relax (chgnet)" in out and "bvse (chgnet)" in out
    assert counted == {"reference-model": 2}
    assert not (tmp_path / "v" / "report.html").exists()
    assert main([*args, "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert {r["tier"]: r["tasks"] for r in got["rows"]} == {
        "relax (chgnet)": 2,
        "bvse (chgnet)": 2,
    }
    assert counted == {"reference-model": 2}  # the models were found done
