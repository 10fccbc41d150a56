"""A validation campaign's checked inputs and how its tasks are made, shared by the run
(:func:`halidelab.validation.run.validate`) and its cost estimate
(:mod:`halidelab.validation.estimate`)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from halidelab.errors import HalidelabError
from halidelab.screening.inputs import KMC_PREFACTORS, check_bvse_volume
from halidelab.validation.reference import (
    ReferenceEntry,
    ReferenceSet,
    load_reference_set,
    quenched_rows,
)
from halidelab.validation.tiers import (
    ANNEALED_STATES,
    ORDERING_FREE,
    TIERS,
    MaterialContext,
    ValidateSettings,
    normalise_tiers,
)

if TYPE_CHECKING:
    from halidelab.screening.tasks import Task

#: label of model-free predictions (prior, BVSE on unrelaxed models)
NO_MODEL = "-"


def client_workers(client: Any | None) -> int:
    """Workers a campaign runs on: 1 without a Dask client, else the client's threads."""
    from halidelab.screening.runner import _workers

    return _workers(client)


@dataclasses.dataclass
class Campaign:
    """A campaign's checked inputs: what :func:`halidelab.validation.run.validate` and
    :func:`halidelab.validation.estimate.estimate_validation` share (one way of making its
    tasks)."""

    tiers: tuple[str, ...]
    models: tuple[str, ...]
    settings: ValidateSettings
    ref: ReferenceSet
    groups: dict[str, list[ReferenceEntry]]
    primaries: list[ReferenceEntry]
    outdir: Path | None
    store: Any

    def stages(self) -> list[int]:
        """The campaign's stages, in the order they run."""
        return sorted({TIERS[t].stage for t in self.tiers})

    def context(
        self,
        results: dict[tuple[str, str, str, int], Any],
        entry: ReferenceEntry,
        model: str | None,
        ordering: int = 0,
    ) -> MaterialContext:
        """One material's context: the results of its (model-free and ``model``'s) tasks
        of ``ordering`` (and the ordering-free ones)."""
        res = {}
        for (tier, mat, m, k), val in results.items():
            if (
                mat == entry.material
                and (m == NO_MODEL or m == (model or NO_MODEL))
                and (k == ordering or tier in ORDERING_FREE)
            ):
                res[tier] = val
        return MaterialContext(
            entry=entry,
            model=model,
            settings=self.settings,
            tiers=self.tiers,
            results=res,
            ordering=ordering,
        )

    def stage_tasks(
        self, stage: int, results: dict[tuple[str, str, str, int], Any]
    ) -> list[tuple[tuple[str, str, str, int], Task]]:
        """The tasks of one stage given the earlier stages' ``results``: ((tier,
        material, model, ordering), task) pairs; a material whose earlier task failed has
        none."""
        out = []
        for t in (t for t in self.tiers if TIERS[t].stage == stage):
            spec = TIERS[t]
            for entry in self.primaries:
                for model in self.models if spec.per_model(self.tiers) else (None,):
                    n_ord = 1
                    built = results.get(("model", entry.material, NO_MODEL, 0))
                    if built and t not in ORDERING_FREE:
                        n_ord = 1 + len(built.get("orderings") or ())
                    for k in range(n_ord):
                        task = spec.task(self.context(results, entry, model, k))
                        if task is not None:
                            out.append(((t, entry.material, model or NO_MODEL, k), task))
        return out


def prepare(
    tiers: Sequence[str],
    models: Sequence[str],
    db: str | Path | None,
    out: str | Path | None,
    settings: ValidateSettings | None,
    reference: ReferenceSet | str | Path | None,
    materials: Sequence[str] | None,
) -> Campaign:
    """Check a campaign's inputs (one line per problem) and open its store."""
    from halidelab.screening.store import Store

    settings = settings or ValidateSettings()
    if settings.orderings < 1:
        raise HalidelabError(f"--orderings must be >= 1, got {settings.orderings}")
    for name, width in (
        ("--milled-width", settings.milled_min_width_A),
        ("--annealed-width", settings.annealed_min_width_A),
    ):
        if not (math.isfinite(width) and width > 0):
            raise HalidelabError(f"{name} must be a width > 0 A, got {width}")
    for name, hops in (
        ("--kmc-hops", settings.kmc_hops),
        ("--milled-kmc-hops", settings.milled_kmc_hops),
    ):
        if not (math.isfinite(hops) and hops > 0):
            raise HalidelabError(f"{name} must be a number of KMC events per Li > 0, got {hops}")
    if settings.milled_max_atoms < 1:
        raise HalidelabError(f"--milled-max-atoms must be >= 1, got {settings.milled_max_atoms}")
    for name, count in (
        ("--max-atoms", settings.max_atoms),
        ("--relax-steps", settings.relax_steps),
        ("--neb-steps", settings.neb_steps),
    ):
        if count < 1:
            raise HalidelabError(f"{name} must be >= 1, got {count}")
    if not (math.isfinite(settings.bvse_resolution_A) and settings.bvse_resolution_A > 0):
        raise HalidelabError(
            f"--bvse-resolution must be a grid spacing > 0 A, got {settings.bvse_resolution_A}"
        )
    t_lat = settings.lattice_temperature_K
    check_bvse_volume(settings.bvse_volume)
    if settings.annealed_state not in ANNEALED_STATES:
        raise HalidelabError(
            f"--annealed-state must be one of {', '.join(ANNEALED_STATES)}, got "
            f"{settings.annealed_state!r}"
        )
    if settings.kmc_prefactors not in KMC_PREFACTORS:
        raise HalidelabError(
            f"--kmc-prefactors must be one of {', '.join(KMC_PREFACTORS)}, got "
            f"{settings.kmc_prefactors!r}"
        )
    if settings.bvse_volume != "relaxed" and t_lat is not None:
        raise HalidelabError(
            "--bvse-volume model and --lattice-temperature exclude each other: the model's "
            "(measured) volume is a room-temperature one already; leave one out"
        )
    if t_lat is not None and not (math.isfinite(t_lat) and t_lat > 0):
        raise HalidelabError(
            f"--lattice-temperature must be a temperature > 0 K, got {t_lat}; leave it out "
            "for the static (0 K) lattice"
        )
    if not (math.isfinite(settings.thermal_md_ps) and settings.thermal_md_ps > 0.5):
        raise HalidelabError(
            f"--thermal-ps must be longer than 0.5 ps, got {settings.thermal_md_ps}"
        )
    if settings.thermal_iterations < 1:
        raise HalidelabError(
            f"--thermal-iterations must be >= 1, got {settings.thermal_iterations}"
        )
    if materials is not None and not [m for m in materials if str(m).strip()]:
        raise HalidelabError(
            "--materials is empty: give reference ids (halidelab validate --list shows "
            "them), or leave it out for the whole set"
        )
    tiers_t = normalise_tiers(list(tiers))
    models_t = tuple(dict.fromkeys(m.strip() for m in models if m.strip()))
    if any(TIERS[t].per_model(tiers_t) for t in tiers_t) and not models_t:
        raise HalidelabError(
            "give at least one model (--models chgnet) for the relax, bvse and neb tiers"
        )
    if models_t:
        from halidelab.potentials import _canonical

        # canonical names (aliases share tasks); ModelError lists the registered names
        models_t = tuple(dict.fromkeys(_canonical(m) for m in models_t))
    ref = reference if isinstance(reference, ReferenceSet) else load_reference_set(reference)
    ref = ref.select(list(materials) if materials else None)
    if settings.annealed_state == "quenched":
        ref = dataclasses.replace(ref, entries=tuple(quenched_rows(ref.entries)))
    groups = ref.by_material()
    primaries = [rows[0] for rows in groups.values()]
    outdir = Path(out) if out is not None else None
    if outdir is not None:
        outdir.mkdir(parents=True, exist_ok=True)
    if db is None:
        if outdir is None:
            raise HalidelabError("give a results store (--db) or an output folder")
        db = outdir / "results.sqlite"
    store = Store(db)
    return Campaign(
        tiers=tiers_t,
        models=models_t,
        settings=settings,
        ref=ref,
        groups=groups,
        primaries=primaries,
        outdir=outdir,
        store=store,
    )
