"""What a validation campaign will cost before its MLIP work starts.

A campaign builds its models first (seconds per material, kept in the store); once they are
built, every later task is known: the models give each material's size and orderings, and
the tiers' tasks are made as :func:`halidelab.validation.run.validate` makes them. A task
whose upstream task is not done yet is made on a stand-in for that result (the model's
structure for its relaxation, which keeps its atoms; a one-band study for an NEB network),
so that its kind, inputs and size are those the campaign will run; tasks found done in the
store cost nothing.

Each task left is priced as the screen's stages are
(:func:`halidelab.screening.cost.stage_seconds`): the mean time of the store's done tasks
like it (same kind and MLIP, grid, network source, relax mode and lattice temperature;
per atom, KMC per events), once the store holds at least
:data:`~halidelab.screening.cost.MIN_MEASURED_TASKS` of them; else from the shipped costs
measured on this project's 2-core CPU (:func:`halidelab.screening.cost.shipped_task_cost`).
The mean, not the median: a campaign's time is the sum of skewed task times. A task that
neither prices (a ``defects`` task before the store holds three, or an MLIP whose calls
were never timed) is counted and named, not added to the total.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from halidelab.records import Provenance, Record
from halidelab.screening.cost import (
    MIN_MEASURED_TASKS,
    PERCENTILE_RANGE_FROM,
    LikeTimings,
    _task_size,
    cost_row,
    shipped_task_cost,
)
from halidelab.validation.campaign import NO_MODEL

if TYPE_CHECKING:
    from halidelab.screening.tasks import Task
    from halidelab.validation.campaign import Campaign
    from halidelab.validation.reference import ReferenceSet
    from halidelab.validation.tiers import ValidateSettings

#: What stands in for a result not computed yet, so that the tasks after it can be made:
#: per tier, a function of the task that will compute it. These are the only tiers whose
#: results later tasks are made from.
_STAND_INS = {
    # a relaxation keeps the atoms: its downstream tasks are sized by the model
    "relax": lambda task: {"structure": task.inputs["structure"]},
    # an NEB study makes the KMC network; its content does not change the KMC task's cost
    "neb": lambda task: {"results": [{"stand_in": True}]},
    # a defect task not run yet: the KMC network as it is (no vacancy taken out)
    "defect": lambda task: {},
}


@dataclasses.dataclass(frozen=True)
class CampaignEstimate(Record):
    """The cost of what is left of a validation campaign.

    Attributes
    ----------
    rows : tuple of dict
        Per tier and MLIP: ``tier`` (e.g. ``"relax (chgnet)"``), ``tasks`` (left),
        ``done`` (found done in the store), ``per_task_s`` (mean of the tasks left),
        ``low_s``, ``high_s``, ``total_s`` (on ``workers``), ``source``, and
        ``not_priced`` (tasks left that nothing prices; not in the totals).
    n_materials : int
        Materials of the campaign.
    n_models : int
        Of them, those whose models are built (the others have no later tasks).
    workers : int
    total_s, low_s, high_s : float
        Wall seconds on ``workers`` (perfect scaling within a tier assumed).
    not_priced : int
        Tasks left that no timing prices (their tiers say which).
    """

    rows: tuple[dict[str, Any], ...]
    n_materials: int
    n_models: int
    workers: int
    total_s: float
    low_s: float
    high_s: float
    not_priced: int = 0
    provenance: Provenance = dataclasses.field(
        default_factory=lambda: Provenance(
            method="validation campaign cost estimate (store timings, shipped costs)"
        )
    )


def plan_remaining(
    camp: Campaign, results: dict[tuple[str, str, str, int], Any]
) -> tuple[list[tuple[tuple[str, str, str, int], Task]], Counter[tuple[str, str]]]:
    """The campaign's tasks after the model stage: those left to run, and the count of
    those done per (tier, model).

    Parameters
    ----------
    camp : Campaign
        The checked campaign (:func:`halidelab.validation.campaign.prepare`).
    results : dict
        The results so far, (tier, material, model, ordering) -> result (at least the
        model stage's; not changed).
    """
    results = dict(results)
    left = []
    done: Counter[tuple[str, str]] = Counter()
    store = camp.store
    for stage in camp.stages():
        if stage == 0:  # the models: built before the estimate
            continue
        for where, task in camp.stage_tasks(stage, results):
            tier, _mat, model, _k = where
            stand_in = _STAND_INS.get(tier)
            if store.status(task.key) == "done":
                done[(tier, model)] += 1
                # only the results later tasks are made from (the others can be large)
                results[where] = store.result(task.key) if stand_in else None
            else:
                left.append((where, task))
                results[where] = stand_in(task) if stand_in else None
    return left, done


def _spread(units: list[float]) -> tuple[float, float]:
    """Low and high of per-unit times: lowest-highest, or the 10th-90th percentile from
    :data:`PERCENTILE_RANGE_FROM` on (one task that waited on a loaded machine would set
    every task's high cost)."""
    if len(units) >= PERCENTILE_RANGE_FROM:
        low, high = np.percentile(units, [10, 90])
        return float(low), float(high)
    return min(units), max(units)


def estimate_remaining(
    camp: Campaign, results: dict[tuple[str, str, str, int], Any], workers: int = 1
) -> CampaignEstimate:
    """Price what is left of a campaign (module docstring).

    Parameters
    ----------
    camp : Campaign
    results : dict
        The results so far (at least the model stage's).
    workers : int
        Parallel workers the campaign runs on.
    """
    left, done = plan_remaining(camp, results)
    like = LikeTimings(camp.store)
    groups: dict[tuple[str, str], list[Task]] = {}
    for (tier, _mat, model, _k), task in left:
        groups.setdefault((tier, model), []).append(task)
    for label in done:
        groups.setdefault(label, [])
    rows = []
    not_priced_all = 0
    for (tier, model), tasks in sorted(groups.items(), key=lambda g: _order(camp, g[0])):
        sums = {"low_s": 0.0, "typical_s": 0.0, "high_s": 0.0}
        measured: list[int] = []
        shipped: set[str] = set()
        per_worker = 0.0
        not_priced = 0
        for task in tasks:
            units = like.units(task.kind, task.inputs)
            size = _task_size(task.kind, task.inputs)
            if len(units) >= MIN_MEASURED_TASKS:
                low, high = _spread(units)
                sums["low_s"] += low * size
                sums["typical_s"] += statistics.fmean(units) * size
                sums["high_s"] += high * size
                measured.append(len(units))
                continue
            price = shipped_task_cost(task.kind, task.inputs)
            if price is None:
                not_priced += 1
                continue
            per, source, pw = price
            for w in sums:
                sums[w] += per[w]
            shipped.add(source)
            per_worker = max(per_worker, pw)
        priced = len(tasks) - not_priced
        parts = []
        if measured:
            parts.append(
                f"{len(measured)} priced by the mean of {min(measured)}-{max(measured)} like "
                "tasks done in this store"
                if min(measured) != max(measured)
                else f"{len(measured)} priced by the mean of {measured[0]} like tasks done "
                "in this store"
            )
        if shipped:
            n_shipped = priced - len(measured)
            parts.append(f"{n_shipped} by the shipped costs ({'; '.join(sorted(shipped))})")
        if not_priced:
            parts.append(
                f"{not_priced} not priced (no cost shipped for {tier}"
                + (f" with {model}" if model != NO_MODEL else "")
                + f"; measured once this store holds {MIN_MEASURED_TASKS} like tasks)"
            )
        if not tasks:
            parts.append("nothing left")
        row = cost_row(
            tier if model == NO_MODEL else f"{tier} ({model})",
            len(tasks),
            sums,
            sums["typical_s"] / priced if priced else 0.0,
            "; ".join(parts),
            per_worker,
            workers,
            done.get((tier, model), 0),
        )
        row["not_priced"] = not_priced
        rows.append(row)
        not_priced_all += not_priced
    n_models = sum(
        1 for e in camp.primaries if results.get(("model", e.material, NO_MODEL, 0)) is not None
    )
    return CampaignEstimate(
        rows=tuple(rows),
        n_materials=len(camp.primaries),
        n_models=n_models,
        workers=workers,
        total_s=sum(r["total_s"] for r in rows),
        low_s=sum(r["low_s"] for r in rows),
        high_s=sum(r["high_s"] for r in rows),
        not_priced=not_priced_all,
    )


def _order(camp: Campaign, label: tuple[str, str]) -> tuple[int, int]:
    tier, model = label
    return (camp.tiers.index(tier), camp.models.index(model) if model in camp.models else -1)


def estimate_validation(
    tiers: Sequence[str] = ("relax", "bvse", "prior"),
    models: Sequence[str] = ("chgnet",),
    db: str | Path | None = None,
    out: str | Path | None = "validation",
    settings: ValidateSettings | None = None,
    reference: ReferenceSet | str | Path | None = None,
    materials: Sequence[str] | None = None,
    client: Any | None = None,
    progress: bool = True,
    workers: int | None = None,
) -> CampaignEstimate:
    """Build a campaign's models (kept in the store) and estimate the rest of it.

    Parameters are :func:`halidelab.validation.run.validate`'s; ``workers`` (default: those
    of ``client``, 1 without one) are the workers the campaign will run on.

    Raises
    ------
    HalidelabError
        What :func:`~halidelab.validation.run.validate` refuses.
    """
    from halidelab.screening.plans import run_stage
    from halidelab.validation.campaign import client_workers, prepare

    camp = prepare(tiers, models, db, out, settings, reference, materials)
    results: dict[tuple[str, str, str, int], Any] = {}
    planned = camp.stage_tasks(0, results)
    run_stage(
        [task for _, task in planned], camp.store, client=client, progress=progress, title="model"
    )
    for where, task in planned:
        results[where] = camp.store.result(task.key)
    return estimate_remaining(
        camp, results, workers=workers if workers is not None else client_workers(client)
    )
