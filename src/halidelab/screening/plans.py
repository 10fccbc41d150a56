"""Screening plans: the candidate grid, the rules tier that prunes it, staged expensive tiers.

A screen asks "which dopant, how much?" for one parent:

1. The grid: parent x dopant x content x site (:func:`candidate_grid`).
2. The rules tier (task kind ``"rules"``, milliseconds per candidate): charge balance and
   site occupancy (:func:`halidelab.composition.design_composition` refuses impossible
   compositions; only these are pruned by default), the dopant-host ionic-radius mismatch
   (reported and, beyond the range of measured substitutions, penalised in the ranking;
   pruned only when ``max_mismatch_percent`` is given), and a structure-change flag when
   the radius ratio t of the doped composition predicts another anion packing or structure
   family than the parent's
   (kept and penalised in the ranking by default; pruned with
   ``prune_structure_change=True``).
3. Expensive tiers for the survivors only, in stages whose inputs are the previous stage's
   results: ``prior`` (data-driven sigma prior), ``models`` (ordered supercells, ``n_configs``
   orderings each), ``relax`` (MLIP, every ordering), ``bvse`` (bond-valence barriers, on the
   relaxed cell when relaxed, every ordering), ``stability`` (energy above the MLIP convex
   hull: competing phases relaxed once per chemical system as task kind
   ``stability-reference``, then one ``hull`` task per candidate from the relaxed energies of
   its orderings) and ``neb`` (CI-NEB over the distinct hops of the lowest-energy relaxed
   ordering, task kind ``neb`` with the inputs ``halidelab reproduce`` uses, for the
   ``neb_top`` best candidates by the cheaper tiers only: NEB costs minutes per hop).
4. A cost estimate before anything expensive starts (:func:`estimate_cost`), from the
   per-task costs measured on this project's 2-core CPU (:data:`TIER_COSTS`), or, for each
   tier the store already holds enough done tasks of, from their durations on the user's
   own machine (:func:`measured_costs`); per-atom costs scaled to the mean size of the
   survivors' models (:func:`mean_model_atoms`).

Every task goes through :func:`halidelab.screening.runner.run_tasks`, so a screen is
resumable, runs on Dask when given a client, and lives in one results store.

Around this module: :mod:`~halidelab.screening.grid` (the candidates),
:mod:`~halidelab.screening.settings` (tiers and :class:`ScreenSettings`),
:mod:`~halidelab.screening.cost` (measured per-task costs, :func:`estimate_cost`),
:mod:`~halidelab.screening.cluster` (Dask local and SLURM/PBS clusters) and
:mod:`~halidelab.screening.inputs` (the frozen inputs of every task kind).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

from halidelab.errors import CompositionError, HalidelabError

# The grid, the settings, the cost model and the Dask factories live in their own modules
# (grid, settings, cost, cluster); their names stay importable from here.
from halidelab.screening.cluster import NANNY_ENVIRON_FIX, jobqueue_cluster, local_cluster  # noqa: F401
from halidelab.screening.cost import (  # noqa: F401
    BVSE_FIXED_S,
    DEFAULT_N_REFERENCES,
    NEB_HOPS,
    TIER_COSTS,
    CostEstimate,
    TierCost,
    bvse_cost_s,
    estimate_cost,
    format_duration,
    measured_costs,
)
from halidelab.screening.grid import Candidate, candidate_grid, parse_x_spec  # noqa: F401
from halidelab.screening.inputs import (
    BVSEInputs,
    KMCInputs,
    ModelsInputs,
    NEBInputs,
    PriorInputs,
    RelaxInputs,
    bvse_volume_per_atom,
)
from halidelab.screening.settings import (  # noqa: F401
    DEFAULT_MAX_MISMATCH_PERCENT,
    NEEDS_RELAX,
    SCREEN_TIERS,
    ScreenSettings,
    normalise_tiers,
)
from halidelab.screening.tasks import Task, task_function


# -- the rules tier --------------------------------------------------------------------------
def rules_verdict(
    parent: str,
    substitutions: list[dict[str, Any]],
    max_mismatch_percent: float | None = DEFAULT_MAX_MISMATCH_PERCENT,
    prune_structure_change: bool = False,
) -> dict[str, Any]:
    """Rules-tier verdict of one candidate (never raises for a chemically impossible one).

    Returns
    -------
    dict
        ``status`` (``"pass"`` or ``"pruned"``), ``reasons`` (why pruned), ``formula``,
        ``max_mismatch_percent`` (largest |mismatch|, %), ``structure_change`` (bool),
        ``parent_packing`` and ``packing`` (predicted from t), ``t``, ``parent_t``,
        ``li_vacancies_per_fu``, ``li_interstitials_per_fu``, ``warnings``,
        ``composition`` and ``fit`` (the full records) when the composition exists.
    """
    from halidelab.composition import Substitution, design_composition
    from halidelab.rules import assess

    base = design_composition(parent)
    base_fit = assess(base)
    out: dict[str, Any] = {
        "parent": base.formula,
        "substitutions": substitutions,
        "parent_t": base_fit.t,
        "parent_packing": f"{base_fit.packing.packing} {base_fit.packing.family}",
        "thresholds": {
            "max_mismatch_percent": max_mismatch_percent,
            "prune_structure_change": prune_structure_change,
        },
    }
    try:
        comp = design_composition(parent, [Substitution(**s) for s in substitutions])
    except CompositionError as exc:
        out.update(
            status="pruned",
            reasons=[f"impossible composition: {exc}"],
            formula=None,
            structure_change=False,
            max_mismatch_percent=None,
            warnings=[],
        )
        return out
    fit = assess(comp)
    mism = max((abs(f.mismatch_percent) for f in fit.dopants), default=0.0)
    change = (
        fit.packing.packing != base_fit.packing.packing
        or fit.packing.family != base_fit.packing.family
    )
    reasons = []
    if max_mismatch_percent is not None and mism > max_mismatch_percent:
        worst = max(fit.dopants, key=lambda f: abs(f.mismatch_percent))
        reasons.append(
            f"radius mismatch {worst.dopant} vs {worst.host} "
            f"{worst.mismatch_percent:+.1f}% exceeds {max_mismatch_percent:g}%"
        )
    warnings = list(fit.warnings)
    if change:
        msg = (
            f"structure change predicted: t {base_fit.t:.3f} -> {fit.t:.3f} "
            f"({base_fit.packing.packing} {base_fit.packing.family} -> "
            f"{fit.packing.packing} {fit.packing.family})"
        )
        warnings.append(msg)
        if prune_structure_change:
            reasons.append(msg)
    out.update(
        status="pruned" if reasons else "pass",
        reasons=reasons,
        formula=comp.formula,
        t=fit.t,
        packing=f"{fit.packing.packing} {fit.packing.family}",
        max_mismatch_percent=mism,
        structure_change=change,
        warnings=warnings,
        li_vacancies_per_fu=comp.li_vacancies_per_fu,
        li_interstitials_per_fu=comp.li_interstitials_per_fu,
        composition=comp.to_dict(),
        fit=fit.to_dict(),
    )
    return out


@task_function("rules")
def rules_task(inputs: dict[str, Any]) -> dict[str, Any]:
    """Task kind ``rules``: :func:`rules_verdict` of one candidate."""
    return rules_verdict(
        inputs["parent"],
        inputs.get("substitutions", []),
        inputs.get("max_mismatch_percent", DEFAULT_MAX_MISMATCH_PERCENT),
        inputs.get("prune_structure_change", False),
    )


# -- plans -----------------------------------------------------------------------------------


def rules_tasks(candidates: Sequence[Candidate], settings: ScreenSettings) -> list[Task]:
    """One ``rules`` task per candidate (plus the parent when ``include_parent``)."""
    cands = list(candidates)
    if settings.include_parent and cands:
        cands.insert(0, Candidate(cands[0].parent, "-", "-", 0.0))
    return [
        Task(
            "rules",
            c.label if c.x > 0 else f"{c.parent} parent",
            {
                "parent": c.parent,
                "substitutions": c.substitutions,
                "max_mismatch_percent": settings.max_mismatch_percent,
                "prune_structure_change": settings.prune_structure_change,
            },
        )
        for c in cands
    ]


#: Most survivors whose model size :func:`mean_model_atoms` computes (evenly spaced over
#: the grid; 0.01-0.3 s each).
SIZE_SAMPLE = 20


def mean_model_atoms(rules: Sequence[Task], settings: ScreenSettings) -> int | None:
    """Mean atoms of the models the screen will build for these candidates (their
    ``rules`` tasks), from :func:`~halidelab.structures.models.model_size` (the cell
    choice without the ordering search) on at most :data:`SIZE_SAMPLE` of them; None when
    there are none, or none can be sized (their models would fail and say why)."""
    from halidelab.composition import Substitution, design_composition
    from halidelab.errors import HalidelabError
    from halidelab.structures.models import model_size

    if not rules:
        return None
    step = max(len(rules) / SIZE_SAMPLE, 1.0)
    sizes = []
    for i in range(min(len(rules), SIZE_SAMPLE)):
        inp = rules[int(i * step)].inputs
        try:
            design = design_composition(
                inp["parent"], [Substitution(**s) for s in inp["substitutions"]]
            )
            sizes.append(
                model_size(design, max_atoms=settings.models_max_atoms, state=settings.state)
            )
        except HalidelabError:
            continue
    return round(sum(sizes) / len(sizes)) if sizes else None


def model_task(
    parent: str, substitutions: list[dict[str, Any]], label: str, settings: ScreenSettings
) -> Task:
    """The ``models`` task of one surviving composition, in ``settings.state`` (a quenched
    model on the wide cells of ``validate --annealed-state quenched``; an annealed one's
    inputs, and so its key, are those of every screen before the state existed)."""
    return Task.of(
        ModelsInputs(
            parent=parent,
            substitutions=substitutions,
            supercell="auto",
            max_atoms=settings.models_max_atoms,
            n_configs=settings.n_configs,
            seed=settings.seed,
            state=settings.state,
        ),
        label if settings.state == "annealed" else f"{label} {settings.state}",
    )


def relax_task_for(structure: dict[str, Any], label: str, settings: ScreenSettings) -> Task:
    """The ``relax`` task of one ordering (inputs as ``halidelab reproduce`` writes them)."""
    return Task.of(
        RelaxInputs(
            structure=structure,
            model=settings.model,
            fmax=settings.fmax_eV_A,
            steps=settings.relax_steps,
        ),
        label,
    )


def neb_task_for(structure: dict[str, Any], label: str, settings: ScreenSettings) -> Task:
    """The ``neb`` task of one relaxed model: the kind and inputs ``halidelab reproduce``
    uses, so a reproduction and a screen share NEB results in one store."""
    return Task.of(
        NEBInputs(
            structure=structure,
            model=settings.model,
            hops="distinct",
            n_images=settings.neb_images,
            fmax=settings.fmax_eV_A,
            steps=settings.neb_steps,
            endpoint_steps=settings.neb_steps,
        ),
        label,
    )


# -- running a screen ------------------------------------------------------------------------
@dataclasses.dataclass
class ScreenOutput:
    """What :func:`run_screen` did.

    Attributes
    ----------
    n_candidates, n_survivors : int
    pruned : list of dict
        ``label`` and ``reasons`` of each pruned candidate.
    estimate : CostEstimate
        The estimate made after the rules tier (survivors known).
    failed : dict
        key -> one-line error of every task that failed.
    computed, skipped : int
        Tasks computed now, and found done in the store.
    wall_s : float
    notes : list of str
        Work a tier could not do and why (no elemental reference for a dopant, a failed
        relaxation a later tier needed), one line each.
    neb_selected : list of str
        Labels of the candidates that got the NEB tier (best first).
    """

    n_candidates: int
    n_survivors: int
    pruned: list[dict[str, Any]]
    estimate: CostEstimate
    failed: dict[str, str]
    computed: int
    skipped: int
    wall_s: float
    notes: list[str] = dataclasses.field(default_factory=list)
    neb_selected: list[str] = dataclasses.field(default_factory=list)


def run_stage(
    tasks: Sequence[Task],
    store: Any,
    client: Any | None = None,
    progress: bool = True,
    title: str = "tasks",
    poll_s: float = 1.0,
    wait_s: float = 24 * 3600.0,
) -> Any:
    """Run one stage and wait for tasks another live run on the store is computing.

    Returns the summary of the first pass, with ``computed``/``skipped``/``failed`` of the
    follow-up passes merged in.
    """
    from halidelab.screening.runner import run_tasks

    summary = run_tasks(tasks, store, client=client, progress=progress, title=title)
    t0 = time.monotonic()
    busy = set(summary.busy)
    while busy:
        if time.monotonic() - t0 > wait_s:
            raise HalidelabError(
                f"{len(busy)} task(s) held by another run for over {wait_s:.0f} s; "
                "rerun when that run has finished"
            )
        time.sleep(poll_s)
        again = run_tasks(
            [t for t in tasks if t.key in busy], store, client=client, progress=False, title=title
        )
        summary.computed += again.computed
        summary.skipped += again.skipped
        summary.failed.update(again.failed)
        busy = set(again.busy)
    summary.busy = []
    return summary


def run_screen(
    candidates: Sequence[Candidate],
    store: Any,
    settings: ScreenSettings,
    client: Any | None = None,
    progress: bool = True,
    workers: int = 1,
    confirm: Any | None = None,
) -> ScreenOutput:
    """Run a screen: rules on the grid, then the expensive tiers on the survivors.

    Stages (each waits for the previous one): rules; prior and models; relax of every
    ordering; BVSE of every (relaxed) ordering; stability (competing phases, then one hull
    per candidate); NEB of the ``settings.neb_top`` best doped candidates by the tiers
    before it (scored by :func:`halidelab.screening.ranking.score_candidate` without NEB).

    Parameters
    ----------
    candidates : sequence of Candidate
        From :func:`candidate_grid`.
    store : Store
        Results store (resumable: finished keys are skipped).
    settings : ScreenSettings
    client : distributed.Client, optional
        Dask client; None runs in this process.
    workers : int
        Number of workers (for the estimate only).
    confirm : callable, optional
        Called with the :class:`CostEstimate` after the rules tier; return False to stop
        before the expensive tiers.
    """
    t0 = time.perf_counter()
    tiers = normalise_tiers(settings.tiers)
    failed: dict[str, str] = {}
    notes: list[str] = []
    counts = {"computed": 0, "skipped": 0}

    def stage(tasks: list[Task], title: str, local: bool = False) -> None:
        if tasks:
            s = run_stage(
                tasks, store, client=None if local else client, progress=progress, title=title
            )
            failed.update(s.failed)
            counts["computed"] += len(s.computed)
            counts["skipped"] += len(s.skipped)

    def output(
        est: CostEstimate,
        n_real: int,
        pruned: list[dict[str, Any]],
        neb_selected: list[str] | None = None,
    ) -> ScreenOutput:
        return ScreenOutput(
            len(candidates),
            n_real,
            pruned,
            est,
            failed,
            counts["computed"],
            counts["skipped"],
            time.perf_counter() - t0,
            notes,
            neb_selected or [],
        )

    r_tasks = rules_tasks(candidates, settings)
    # rules are milliseconds: run here, not on the cluster (shipping them costs more)
    stage(r_tasks, "rules", local=True)
    survivors: list[tuple[Task, dict[str, Any]]] = []
    pruned = []
    for t in r_tasks:
        res = store.result(t.key)
        if res is None:
            continue
        if res["status"] == "pass":
            survivors.append((t, res))
        else:
            pruned.append({"label": t.label, "reasons": res["reasons"]})
    n_real = sum(1 for t, _ in survivors if t.inputs["substitutions"])
    systems: dict[frozenset[str], list[tuple[Any, Task]] | str] = {}
    n_refs = None
    if "stability" in tiers:
        systems = reference_plan([r["formula"] for _, r in survivors], settings)
        n_refs = sum(1 for t in _unique_reference_tasks(systems) if store.status(t.key) != "done")
    est = estimate_cost(
        len(candidates),
        settings,
        workers=workers,
        n_survivors=n_real,
        n_atoms=(
            mean_model_atoms([t for t, _ in survivors], settings) if "models" in tiers else None
        ),
        n_references=n_refs,
        costs=measured_costs(store, settings),
        done=done_counts(survivors, store, settings),
    )
    if confirm is not None and not confirm(est):
        return output(est, n_real, pruned)

    prior_t = _prior_tasks(survivors) if "prior" in tiers else []
    model_t = _model_tasks(survivors, settings) if "models" in tiers else {}
    stage([*prior_t, *model_t.values()], "prior, models")

    structures, modelled = _orderings(model_t, store)
    relax_t = _relax_tasks(structures, settings) if "relax" in tiers else {}
    stage(list(relax_t.values()), f"relax ({settings.model})")
    relaxed = {ki: store.result(t.key) for ki, t in relax_t.items()}

    bvse_t = _bvse_tasks(structures, relaxed, settings) if "bvse" in tiers else []
    stage(bvse_t, "bvse")

    if "stability" in tiers:
        stage(_unique_reference_tasks(systems), f"stability: competing phases ({settings.model})")
        hull_t = []
        for t, r in survivors:
            if t.key not in modelled:
                continue
            task, why = hull_task_for(
                t.label,
                r["formula"],
                modelled[t.key],
                {i: rel for (k, i), rel in relaxed.items() if k == t.key},
                systems.get(_system(r["formula"]), "not planned"),
                store,
            )
            if task is None:
                notes.append(f"stability: {t.label}: {why}")
            else:
                hull_t.append(task)
        # a hull is milliseconds from stored energies: run here
        stage(hull_t, "stability: hulls", local=True)

    neb_selected: list[str] = []
    neb_t: list[Task] = []
    if "neb" in tiers:
        neb_t, neb_selected, why = select_neb(survivors, store, settings)
        notes.extend(f"neb: {w}" for w in why)
        stage(neb_t, f"neb ({settings.model})")
    if "kmc" in tiers:
        stage(kmc_tasks_for(structures, relaxed, neb_t, store, settings), "kmc")
    return output(est, n_real, pruned, neb_selected)


def _prior_tasks(survivors: Sequence[tuple[Task, dict[str, Any]]]) -> list[Task]:
    return [Task.of(PriorInputs.of(r["formula"]), r["formula"]) for _, r in survivors]


def _model_tasks(
    survivors: Sequence[tuple[Task, dict[str, Any]]], settings: ScreenSettings
) -> dict[str, Task]:
    """Rules key -> the ``models`` task of each surviving candidate."""
    return {
        t.key: model_task(t.inputs["parent"], t.inputs["substitutions"], t.label, settings)
        for t, _ in survivors
    }


def _orderings(
    model_t: dict[str, Task], store: Any
) -> tuple[dict[tuple[str, int], tuple[str, dict[str, Any]]], dict[str, dict[str, Any]]]:
    """Every stored ordering of every model: (rules key, configuration index) -> (label,
    structure), and rules key -> the models result."""
    structures: dict[tuple[str, int], tuple[str, dict[str, Any]]] = {}
    modelled: dict[str, dict[str, Any]] = {}
    for k, mt in model_t.items():
        m = store.result(mt.key)
        if m and m.get("configurations"):
            modelled[k] = m
            for c in m["configurations"]:
                structures[(k, int(c["index"]))] = (
                    f"{mt.label} c{int(c['index'])}",
                    c["structure"],
                )
    return structures, modelled


def _relax_tasks(
    structures: dict[tuple[str, int], tuple[str, dict[str, Any]]], settings: ScreenSettings
) -> dict[tuple[str, int], Task]:
    return {ki: relax_task_for(s, lab, settings) for ki, (lab, s) in structures.items()}


def _bvse_tasks(
    structures: dict[tuple[str, int], tuple[str, dict[str, Any]]],
    relaxed: dict[tuple[str, int], dict[str, Any] | None],
    settings: ScreenSettings,
) -> list[Task]:
    """One ``bvse`` task per ordering: on its relaxed structure where there is one."""
    out = []
    for ki, (lab, s) in structures.items():
        rel = relaxed.get(ki)
        src = rel["structure"] if rel else s
        out.append(
            Task.of(
                BVSEInputs(
                    structure=src,
                    resolution_A=settings.bvse_resolution_A,
                    volume_per_atom_A3=bvse_volume_per_atom(settings.bvse_volume, s, rel),
                ),
                f"{lab}{' relaxed' if rel else ''}",
            )
        )
    return out


def done_counts(
    survivors: Sequence[tuple[Task, dict[str, Any]]], store: Any, settings: ScreenSettings
) -> dict[str, int]:
    """Tasks of each tier of this screen that the store already holds done (a resumed or
    overlapping screen), so that the estimate counts only the work left.

    The tasks are built as :func:`run_screen` builds them, as far as the store allows: the
    orderings of the models already made, their relaxations, and the BVSE and KMC tasks of
    the orderings already relaxed. Work whose inputs are not yet known (a model not yet
    made) is work left; NEB (chosen after the cheaper tiers) is not counted.
    """
    tiers = normalise_tiers(settings.tiers)
    done: dict[str, int] = {}

    def count(tier: str, tasks: Any) -> None:
        done[tier] = sum(1 for t in tasks if store.status(t.key) == "done")

    if "prior" in tiers:
        count("prior", _prior_tasks(survivors))
    model_t = _model_tasks(survivors, settings)
    if "models" in tiers:
        count("models", model_t.values())
    structures, _ = _orderings(model_t, store)
    relax_t = _relax_tasks(structures, settings) if "relax" in tiers else {}
    count("relax", relax_t.values())
    relaxed = {ki: store.result(t.key) for ki, t in relax_t.items()}
    if "bvse" in tiers:
        count("bvse", _bvse_tasks(structures, relaxed, settings))
    if "kmc" in tiers:
        count("kmc", kmc_tasks_for(structures, relaxed, [], store, settings))
    return done


def kmc_tasks_for(
    structures: dict[tuple[str, int], tuple[str, dict[str, Any]]],
    relaxed: dict[tuple[str, int], dict[str, Any] | None],
    neb_tasks: Sequence[Task],
    store: Any,
    settings: ScreenSettings,
) -> list[Task]:
    """``kmc`` tasks: one per relaxed ordering on its BVSE network, one per finished NEB
    study on its NEB network (inputs as ``halidelab reproduce`` writes them)."""
    common = {
        "temperatures_K": [float(t) for t in settings.kmc_temperatures_K],
        "n_runs": settings.kmc_runs,
        "hops_per_carrier": float(settings.hops_per_carrier),
        "seed": settings.seed,
    }
    out = []
    for ki, (lab, s) in structures.items():
        rel = relaxed.get(ki)
        if rel:
            v = bvse_volume_per_atom(settings.bvse_volume, s, rel)
            out.append(
                Task.of(
                    KMCInputs(
                        structure=rel["structure"], source="bvse", volume_per_atom_A3=v, **common
                    ),
                    f"{lab} bvse",
                )
            )
    for t in neb_tasks:
        study = store.result(t.key)
        if study and study.get("results"):
            out.append(
                Task.of(
                    KMCInputs(structure=t.inputs["structure"], source="neb", study=study, **common),
                    f"{t.label} neb",
                )
            )
    return out


# -- stability and NEB stages ----------------------------------------------------------------
_BUILT: dict[str, Any] = {}


def _system(formula: str | None) -> frozenset[str]:
    from halidelab.composition import parse_formula

    return frozenset(parse_formula(formula)) if formula else frozenset()


def reference_tasks(elements: Iterable[str], settings: ScreenSettings) -> list[tuple[Any, Task]]:
    """Competing-phase relaxations (task kind ``stability-reference``) of one chemical system.

    Inputs and keys are those of :func:`halidelab.stability.references.relax_cached`
    (``settings.model``, ``settings.fmax_eV_A``, ``settings.reference_steps``), so the
    ``halidelab stability`` commands and every screen on the same store share them: each
    phase is relaxed once per store, whatever the candidate.

    Returns
    -------
    list of (ReferenceSpec, Task)

    Raises
    ------
    StructureError
        An element without an elemental reference (no hull can be built).
    """
    from halidelab.stability.references import REFERENCE_KIND, references_for, relax_inputs

    out = []
    for spec in references_for(elements):
        if spec.name not in _BUILT:
            _BUILT[spec.name] = spec.builder()
        inputs = relax_inputs(
            _BUILT[spec.name],
            settings.model,
            settings.fmax_eV_A,
            settings.reference_steps,
            spec.relax_cell,
        )
        out.append((spec, Task(REFERENCE_KIND, spec.name, inputs)))
    return out


def grid_systems(candidates: Sequence[Candidate]) -> list[frozenset[str]]:
    """Chemical systems of a grid (parent elements plus the dopant), parents included."""
    from halidelab.composition import parse_formula

    out = []
    for c in candidates:
        base = frozenset(parse_formula(c.parent))
        out.append(base)
        if c.x > 0:
            out.append(base | {c.dopant})
    return list(dict.fromkeys(out))


def reference_plan(
    systems: Iterable[str | frozenset[str] | None], settings: ScreenSettings
) -> dict[frozenset[str], list[tuple[Any, Task]] | str]:
    """Reference tasks per chemical system (a formula or a set of elements), or why there
    are none for a system."""
    out: dict[frozenset[str], list[tuple[Any, Task]] | str] = {}
    for f in systems:
        els = f if isinstance(f, frozenset) else _system(f)
        if not els or els in out:
            continue
        try:
            out[els] = reference_tasks(els, settings)
        except HalidelabError as exc:
            out[els] = str(exc)
    return out


def _unique_reference_tasks(systems: dict[frozenset[str], Any]) -> list[Task]:
    seen: dict[str, Task] = {}
    for plan in systems.values():
        if isinstance(plan, list):
            for _, t in plan:
                seen.setdefault(t.key, t)
    return list(seen.values())


def reference_record(spec: Any, result: dict[str, Any]) -> dict[str, Any]:
    """One relaxed competing phase as a ``hull`` task input (no time stamps: the key of
    the hull is a hash of these energies, so a rerun finds it)."""
    from pymatgen.core import Composition, Structure

    s = Structure.from_dict(result["structure"])
    prov = result.get("provenance") or {}
    n_fu = len(s) / Composition(spec.formula).num_atoms
    return {
        "name": spec.name,
        "formula": Composition(spec.formula).reduced_formula,
        "energy_per_atom_eV": float(result["energy_per_atom_eV"]),
        "volume_per_atom_A3": s.volume / len(s),
        "n_atoms": len(s),
        "converged": bool(result["converged"]),
        "approximate": bool(spec.approximate),
        "measured_volume_A3_per_fu": spec.measured_volume_A3_per_fu,
        "volume_A3_per_fu": s.volume / n_fu,
        "source": spec.source,
        "structure": result["structure"],
        "model": prov.get("model"),
        "model_version": prov.get("model_version"),
        "parameters": {
            "fmax": result.get("fmax_target_eV_A"),
            "steps": result.get("max_steps"),
            "relax_cell": spec.relax_cell,
        },
    }


def hull_task_for(
    label: str,
    formula: str,
    models: dict[str, Any],
    relaxed: dict[int, Any],
    plan: list[tuple[Any, Task]] | str,
    store: Any,
) -> tuple[Task | None, str]:
    """The ``hull`` task of one candidate, or None and why it cannot be built.

    Parameters
    ----------
    label, formula : str
        Candidate label and designed formula.
    models : dict
        The candidate's ``models`` result.
    relaxed : dict
        Configuration index -> ``relax`` result (None where it failed or did not run).
    plan : list of (ReferenceSpec, Task) or str
        Its chemical system's reference tasks (from :func:`reference_plan`), or the reason
        there are none.
    store : Store
    """
    if isinstance(plan, str):
        return None, plan
    refs = []
    for spec, t in plan:
        res = store.result(t.key)
        if res is None:
            return None, f"competing phase {spec.name} was not relaxed (see the failures): no hull"
        refs.append(reference_record(spec, res))
    confs = [
        {
            "index": i,
            "structure": r["structure"],
            "energy_per_atom_eV": float(r["energy_per_atom_eV"]),
            "converged": bool(r["converged"]),
            "model": (r.get("provenance") or {}).get("model"),
        }
        for i, r in sorted(relaxed.items())
        if r
    ]
    if not confs:
        return None, "no relaxed ordering (relax failed): no hull"
    return Task(
        "hull",
        label,
        {
            "formula": models.get("formula_modelled", formula),
            "configurations": confs,
            "references": refs,
        },
    ), ""


def select_neb(
    survivors: Sequence[tuple[Task, dict[str, Any]]], store: Any, settings: ScreenSettings
) -> tuple[list[Task], list[str], list[str]]:
    """NEB tasks for the ``settings.neb_top`` best doped survivors by the cheaper tiers.

    Candidates are ordered as :func:`halidelab.screening.ranking.rank` orders them, with
    any NEB result left out (so the choice does not depend on what NEB already ran); the
    NEB runs on the relaxed structure of each one's lowest-energy ordering.

    Returns
    -------
    (list of Task, list of str, list of str)
        The tasks, the chosen labels (best first), and notes on candidates passed over.
    """
    from halidelab.screening.ranking import BASES, gather, score_candidate, sub_key

    want = {
        sub_key(r["parent"], t.inputs["substitutions"])
        for t, r in survivors
        if t.inputs["substitutions"]
    }
    parents = {r["parent"] for _, r in survivors}
    pool = [c for p in parents for c in gather(store, p) if c.key in want and c.passed]
    scored = [(c, score_candidate(dataclasses.replace(c, neb=None))) for c in pool]
    scored.sort(
        key=lambda cs: (
            BASES.index(cs[1]["basis"]),
            cs[1]["score_eV"] if cs[1]["score_eV"] is not None else math.inf,
            abs(cs[1]["mismatch_percent"] or 0.0),
            cs[0].label,
        )
    )
    tasks, chosen, why = [], [], []
    for c, _ in scored:
        if len(chosen) >= settings.neb_top:
            break
        if not c.relax:
            why.append(f"{c.label}: no relaxed structure (relax failed): no NEB")
            continue
        tasks.append(neb_task_for(c.relax["structure"], f"{c.label} c{c.best_config}", settings))
        chosen.append(c.label)
    return tasks, chosen, why
