"""``halidelab reproduce chen2025``: the reference case from design to report.

Li(2-x)Zr(1-x)Nb(x)Cl6 (Chen et al., ChemComm 2025): charge balance and fit rules over
the series, then every modelled composition as an ensemble of orderings in two
synthesis states (ball-milled, as Chen's samples were, and annealed beside it), each
ordering MLIP-relaxed, with BVSE barriers, kinetic Monte Carlo sigma(T) and Ea, and, where
asked, CI-NEB barrier networks; every number is the ensemble mean with its spread and
standard error, and a verdict (contraction, lower barrier, a conductivity peak, the
effect of annealing) is stated only when it exceeds its uncertainty. One resumable run
whose results live in a results store and whose report is one self-contained HTML file.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from halidelab.errors import HalidelabError
from halidelab.screening.inputs import (
    BVSEInputs,
    DesignInputs,
    KMCInputs,
    MDInputs,
    ModelsInputs,
    NEBInputs,
    PriorInputs,
    RelaxInputs,
    XRDInputs,
    bvse_volume_per_atom,
    check_bvse_volume,
)
from halidelab.screening.runner import run_tasks
from halidelab.screening.settings import SCREEN_STATES as ANNEALED_STATES
from halidelab.screening.store import Store
from halidelab.screening.tasks import TASK_FUNCTIONS, Task
from halidelab.structures.models import (  # noqa: F401  (primitive_lattice: re-exported)
    is_narrow_cell_warning,
    primitive_lattice,
)
from halidelab.transport.kmc.run import MILLED_HOPS_PER_CARRIER

#: What Chen et al. (ChemComm 2025) measured, as summarised in MISSION.md (25 C): the
#: ball-milled series and the annealed (250 C, 5 h) LZNC.
CHEN2025_MEASURED: tuple[dict[str, Any], ...] = (
    {
        "x": 0.0,
        "formula": "Li2ZrCl6",
        "state": "ball-milled",
        "sigma_S_cm": 0.5e-3,
        "sigma_note": "about",
        "ea_eV": None,
        "sigma_e_S_cm": 8.11e-9,
        "onset_V": None,
    },
    {
        "x": 0.2,
        "formula": "Li1.8Zr0.8Nb0.2Cl6",
        "state": "ball-milled",
        "sigma_S_cm": 1.03e-3,
        "sigma_note": "",
        "ea_eV": 0.327,
        "sigma_e_S_cm": 1.09e-9,
        "onset_V": 4.02,
    },
    {
        "x": 0.2,
        "formula": "Li1.8Zr0.8Nb0.2Cl6",
        "state": "annealed",
        "sigma_S_cm": 1.46e-7,
        "sigma_note": "after 250 C, 5 h",
        "ea_eV": None,
        "sigma_e_S_cm": None,
        "onset_V": None,
    },
)
CHEN2025_LATTICE = "a ~ 10.9-11.0 A, c ~ 5.9-6.0 A, contracting with Nb (Vegard-like)"

ALL_TIERS = ("rules", "models", "relax", "bvse", "xrd", "prior", "kmc", "neb", "md")
#: The laptop tiers. NEB (minutes per doped cell and ordering, batched) and MD (a GPU or
#: cluster tier) are asked for explicitly.
DEFAULT_TIERS = ("rules", "models", "relax", "bvse", "xrd", "prior", "kmc")
#: Synthesis states modelled; the first is the one Chen et al. measured the series in.
STATES = ("ball-milled", "annealed")
#: KMC temperatures: 25-100 C, the range a battery group measures.
KMC_TEMPERATURES_K = (298.15, 323.15, 348.15, 373.15)


@dataclasses.dataclass
class ReproduceOutput:
    """Paths, the per-x summary rows and the ensemble rows and verdicts of a run."""

    report: Path
    store: Path | str
    rows: list[dict[str, Any]]
    tiers: tuple[str, ...]
    failed: dict[str, str]
    wall_s: float
    ensembles: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    verdicts: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    calibrated: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def _sub(x: float) -> list[dict[str, Any]]:
    return [{"dopant": "Nb", "site": "Zr", "x": float(x)}] if x > 0 else []


def _formula(x: float) -> str:
    from halidelab.composition import Substitution, design_composition

    return design_composition("Li2ZrCl6", [Substitution("Nb", "Zr", x)] if x > 0 else []).formula


def _tag(state: str, annealed_state: str = "annealed") -> str:
    if state == "ball-milled":
        return "bm"
    return "qu" if annealed_state == "quenched" else "an"


def reproduce_chen2025(
    out: str | Path = "chen2025",
    db: str | Path | None = None,
    xs: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5),
    model_xs: Sequence[float] = (0.0, 0.2, 0.4),
    tiers: Sequence[str] = DEFAULT_TIERS,
    model: str = "chgnet",
    max_atoms: int = 140,
    relax_steps: int = 250,
    fmax: float = 0.05,
    bvse_resolution_A: float = 0.25,
    neb_images: int = 5,
    neb_steps: int = 300,
    md_temperatures_K: Sequence[float] = (600.0, 700.0, 800.0, 900.0),
    md_ps: float = 20.0,
    md_timestep_fs: float = 2.0,
    seed: int = 0,
    client: Any | None = None,
    progress: bool = True,
    measured: Sequence[dict[str, Any]] = (),
    literature_csvs: Sequence[str | Path] = (),
    states: Sequence[str] = STATES,
    n_configs: int = 3,
    milling_temperature_K: float = 1000.0,
    dielectric: float = 10.0,
    kmc_temperatures_K: Sequence[float] = KMC_TEMPERATURES_K,
    kmc_runs: int = 8,
    kmc_hops: float = 200.0,
    milled_kmc_hops: float = MILLED_HOPS_PER_CARRIER,
    calibrations: Sequence[Any] = (),
    bvse_volume: str = "relaxed",
    annealed_state: str = "annealed",
) -> ReproduceOutput:
    """Run the Nb-in-Li2ZrCl6 reference case and write ``out/report.html``.

    Parameters
    ----------
    out : path
        Output folder (report, structures).
    db : path or URL, optional
        Results store (default ``out/results.sqlite``); a re-run resumes from it.
    xs : sequence of float
        Nb contents for the rules tier (and the prior).
    model_xs : sequence of float
        Nb contents that get structure models, relaxation, BVSE, KMC (and NEB/MD).
    tiers : sequence of str
        Any of :data:`ALL_TIERS`.
    model : str
        MLIP for relaxation and NEB (``chgnet`` or a SevenNet name).
    max_atoms : int
        Largest supercell for the models.
    neb_images, neb_steps : int
        CI-NEB images per hop and maximum optimiser steps (``neb`` tier, annealed
        orderings: a cation-disordered cell has no hop classes to share barriers).
    md_temperatures_K, md_ps, md_timestep_fs
        NVT temperatures (K), length per temperature (ps) and time step (fs) of the
        ``md`` tier (the first annealed ordering); trajectories go to ``out/md``.
    measured : sequence of dict
        The user's own measurements of the series (``x``, ``sigma_S_cm`` at 25 C,
        ``ea_eV``, optional ``ea_err_eV`` and ``source``), shown beside the prediction.
    literature_csvs : sequence of path
        The user's tables of known electrolytes for the "among known halides" section.
    states : sequence of str
        Synthesis states to model (``ball-milled``, ``annealed``); the first is the
        headline.
    n_configs : int
        Orderings per composition and state (the ensemble).
    milling_temperature_K, dielectric : float
        The ball-milled sampling (:func:`halidelab.structures.models.build_models`).
    kmc_temperatures_K, kmc_runs, kmc_hops
        KMC temperatures (K), independent runs per temperature and hops per Li.
    milled_kmc_hops : float
        Hops per Li of the ball-milled cells' KMC runs (their disorder traps Li longer:
        :data:`~halidelab.transport.kmc.run.MILLED_HOPS_PER_CARRIER`).
    calibrations : sequence of Calibration
        Calibrations of ``halidelab validate``
        (:func:`halidelab.validation.apply.load_calibrations`): every composition and
        state also gets its calibrated values with intervals (:func:`calibrated_series`).
    bvse_volume : str
        ``relaxed`` (default) or ``model``: the BVSE and BVSE-network KMC tasks map each
        relaxed ordering scaled to its ordered model's volume (Li2ZrCl6's measured cell,
        scaled by the bond lengths for Nb), as ``validate --bvse-volume model``.
    annealed_state : str
        How the annealed samples are modelled: ``annealed`` (default), the Ewald ground
        state of the sites; ``quenched``, their disorder sampled at the quench temperature
        (:func:`halidelab.structures.models.build_models`), as ``validate
        --annealed-state quenched`` models the annealed reference materials (whose
        calibrations then apply to them). The quenched models take ``milled_kmc_hops``
        and, as the ball-milled ones, cells within ``max_atoms`` (the campaign's are
        11.5 A wide within 320 atoms: ``--max-atoms 320`` builds those where x allows),
        and keep the annealed rows of the report, which says how they were made; task
        labels tag them ``qu``. The ``neb`` tier (annealed orderings only: a disordered
        cell has no hop classes to share barriers) is refused with them.
    """
    t0 = time.perf_counter()
    tiers = tuple(dict.fromkeys(t.strip() for t in tiers if t.strip()))
    bad = [t for t in tiers if t not in ALL_TIERS]
    if bad:
        raise HalidelabError(
            f"unknown tier(s) {', '.join(bad)}: choose from {', '.join(ALL_TIERS)}"
        )
    for name, hops in (("--kmc-hops", kmc_hops), ("--milled-kmc-hops", milled_kmc_hops)):
        if not (math.isfinite(hops) and hops > 0):
            raise HalidelabError(f"{name} must be a number of KMC events per Li > 0, got {hops}")
    states = tuple(dict.fromkeys(states))
    # the two states Chen et al. measured (a quenched model of the annealed LZNC would
    # need its own tag and comparison)
    if not states or any(st not in STATES for st in states):
        raise HalidelabError(
            f"states must be among {', '.join(STATES)}, got {', '.join(states) or 'none'}"
        )
    if n_configs < 1:
        raise HalidelabError(f"--configs must be >= 1, got {n_configs}")
    if annealed_state not in ANNEALED_STATES:
        raise HalidelabError(
            f"--annealed-state must be one of {', '.join(ANNEALED_STATES)}, got {annealed_state!r}"
        )
    quenched = annealed_state == "quenched" and "annealed" in states
    if quenched and "neb" in tiers:
        raise HalidelabError(
            "the neb tier runs on Ewald-ordered annealed models (a disordered cell has no hop "
            "classes to share barriers): leave neb out of --tiers with --annealed-state quenched"
        )
    check_bvse_volume(bvse_volume)
    if calibrations:
        from halidelab.validation.apply import check_calibrations

        check_calibrations(calibrations)
    missing = [t for t in tiers if t not in ("rules",) and _kind(t) not in TASK_FUNCTIONS]
    if missing:
        raise HalidelabError(f"tier(s) {', '.join(missing)} are not available in this installation")
    needs_models = {"models", "relax", "bvse", "xrd", "neb", "md", "kmc"} & set(tiers)
    if needs_models and "models" not in tiers:
        tiers = ("models", *tiers)
    if {"neb", "kmc"} & set(tiers) and "relax" not in tiers:
        tiers = (*tiers, "relax")  # barriers and networks of unrelaxed cells mean nothing
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    store = Store(db if db is not None else out / "results.sqlite")
    failed: dict[str, str] = {}

    def stage(tasks: list[Task], title: str) -> None:
        if tasks:
            s = run_tasks(tasks, store, client=client, progress=progress, title=title)
            for key, err in s.failed.items():
                failed[key] = err

    design_t = {
        x: Task.of(DesignInputs(parent="Li2ZrCl6", substitutions=_sub(x)), _formula(x)) for x in xs
    }
    model_t: dict[tuple[float, str], Task] = {}
    if needs_models:
        for x in model_xs:
            for st in states:
                # the model's state: the annealed samples' models quenched when asked
                kind = "quenched" if quenched and st == "annealed" else st
                sampling = {
                    "ball-milled": {
                        "milling_temperature_K": milling_temperature_K,
                        "dielectric": dielectric,
                    },
                    "quenched": {"dielectric": dielectric},
                }.get(kind, {})
                model_t[(x, st)] = Task.of(
                    ModelsInputs(
                        parent="Li2ZrCl6",
                        substitutions=_sub(x),
                        supercell="auto",
                        max_atoms=max_atoms,
                        n_configs=n_configs,
                        seed=seed,
                        state=kind,
                        **sampling,
                    ),
                    f"{_formula(x)} {st}" + (" (quenched model)" if kind != st else ""),
                )
    prior_t = (
        {x: Task.of(PriorInputs.of(_formula(x)), _formula(x)) for x in xs}
        if "prior" in tiers
        else {}
    )
    stage([*design_t.values(), *model_t.values(), *prior_t.values()], "design, models, prior")

    models = {k: store.result(t.key) for k, t in model_t.items()}
    members: dict[tuple[float, str, int], dict[str, Any]] = {}
    for (x, st), m in models.items():
        if not m:
            continue
        from halidelab.structures.models import ModelSet, write_models

        ms = ModelSet.from_dict(m)
        sub = "structures" if st == states[0] else f"structures_{st}"
        write_models([ms], out / sub, formats=["cif"])
        for cfg in m["configurations"]:
            members[(x, st, int(cfg["index"]))] = {
                "structure": cfg["structure"],
                "disorder": cfg.get("disorder"),
            }

    def label(k: tuple[float, str, int]) -> str:
        return f"{_formula(k[0])} {_tag(k[1], annealed_state)} c{k[2]}"

    relax_t = (
        {
            k: Task.of(
                RelaxInputs(structure=v["structure"], model=model, fmax=fmax, steps=relax_steps),
                label(k),
            )
            for k, v in members.items()
        }
        if "relax" in tiers
        else {}
    )
    first = {k: v for k, v in members.items() if k[2] == 0}
    xrd_t = (
        {k: Task.of(XRDInputs(structure=v["structure"]), label(k)) for k, v in first.items()}
        if "xrd" in tiers
        else {}
    )
    stage([*relax_t.values(), *xrd_t.values()], f"relax ({model}) of {len(relax_t)} orderings, xrd")

    relaxed = {k: store.result(t.key) for k, t in relax_t.items()}
    cell = {
        k: (relaxed[k]["structure"] if relaxed.get(k) else v["structure"])
        for k, v in members.items()
    }

    def volume(k: tuple[float, str, int]) -> float | None:
        return bvse_volume_per_atom(bvse_volume, members[k]["structure"], relaxed.get(k))

    bvse_t = (
        {
            k: Task.of(
                BVSEInputs(
                    structure=s, resolution_A=bvse_resolution_A, volume_per_atom_A3=volume(k)
                ),
                label(k),
            )
            for k, s in cell.items()
        }
        if "bvse" in tiers
        else {}
    )
    neb_t = (
        {
            k: Task.of(
                NEBInputs(
                    structure=s,
                    model=model,
                    hops="distinct",
                    n_images=neb_images,
                    fmax=fmax,
                    steps=neb_steps,
                    endpoint_steps=neb_steps,
                ),
                label(k),
            )
            for k, s in cell.items()
            if k[1] == "annealed" and relaxed.get(k)
        }
        if "neb" in tiers
        else {}
    )
    n_steps = max(int(round(md_ps * 1000.0 / md_timestep_fs)), 1)
    md_first = {k[0]: s for k, s in cell.items() if k[2] == 0 and k[1] == "annealed"} or {
        k[0]: s for k, s in cell.items() if k[2] == 0 and k[1] == states[0]
    }
    md_t = (
        {
            (x, t): Task.of(
                MDInputs(
                    structure=s,
                    temperature_K=float(t),
                    steps=n_steps,
                    timestep_fs=md_timestep_fs,
                    model=model,
                    seed=seed,
                    skip_ps=min(2.0, 0.2 * md_ps),
                    trajectory=str((out / "md" / f"{_formula(x)}_{t:g}K.traj").resolve()),
                ),
                f"{_formula(x)} {t:g} K",
            )
            for x, s in md_first.items()
            for t in md_temperatures_K
        }
        if "md" in tiers
        else {}
    )
    if md_t:
        (out / "md").mkdir(exist_ok=True)
    stage([*bvse_t.values(), *neb_t.values(), *md_t.values()], "bvse, neb, md")

    kmc_common = {
        "temperatures_K": [float(t) for t in kmc_temperatures_K],
        "n_runs": kmc_runs,
        "hops_per_carrier": float(kmc_hops),
        "seed": seed,
    }
    kmc_t: dict[tuple[float, str, int, str], Task] = {}

    def kmc_of(k: tuple[float, str, int]) -> dict[str, Any]:
        hops = milled_kmc_hops if k[1] == "ball-milled" or quenched else kmc_hops
        return {**kmc_common, "hops_per_carrier": float(hops)}

    if "kmc" in tiers:
        for k, s in cell.items():
            if relaxed.get(k):
                kmc_t[(*k, "bvse")] = Task.of(
                    KMCInputs(
                        structure=s, source="bvse", volume_per_atom_A3=volume(k), **kmc_of(k)
                    ),
                    f"{label(k)} bvse",
                )
        for k, t in neb_t.items():
            study = store.result(t.key)
            if study and study.get("results"):
                kmc_t[(*k, "neb")] = Task.of(
                    KMCInputs(structure=cell[k], source="neb", study=study, **kmc_of(k)),
                    f"{label(k)} neb",
                )
    stage(list(kmc_t.values()), f"kmc ({len(kmc_t)} networks)")

    for k, v in members.items():
        v.update(
            relax=relaxed.get(k),
            bvse=store.result(bvse_t[k].key) if k in bvse_t else None,
            neb=store.result(neb_t[k].key) if k in neb_t else None,
            kmc_bvse=store.result(kmc_t[(*k, "bvse")].key) if (*k, "bvse") in kmc_t else None,
            kmc_neb=store.result(kmc_t[(*k, "neb")].key) if (*k, "neb") in kmc_t else None,
            supercell_matrix=models[(k[0], k[1])]["supercell_matrix"],
            n_formula_units=models[(k[0], k[1])]["n_formula_units"],
        )
    primary = states[0]
    results = {
        "design": {x: store.result(t.key) for x, t in design_t.items()},
        "models": {x: models.get((x, primary)) for x in model_xs if models.get((x, primary))},
        "relax": {k[0]: r for k, r in relaxed.items() if k[1] == primary and k[2] == 0 and r},
        "bvse": {
            k[0]: members[k]["bvse"]
            for k in members
            if k[1] == primary and k[2] == 0 and members[k]["bvse"]
        },
        "xrd": {k[0]: store.result(t.key) for k, t in xrd_t.items() if k[1] == primary},
        "prior": {x: store.result(t.key) for x, t in prior_t.items()},
        "neb": {
            k[0]: members[k]["neb"]
            for k in members
            if k[1] == "annealed" and k[2] == 0 and members[k]["neb"]
        },
        "md": {},
        "md_arrhenius": {},
    }
    for (x, _t), task in md_t.items():
        res = store.result(task.key)
        if res:
            results["md"].setdefault(x, []).append(res)
    results["md_arrhenius"] = {x: _md_arrhenius(runs) for x, runs in results["md"].items()}
    ens = ensemble_rows(members, model_xs, states)
    results["ensembles"] = ens
    # a model's cell narrower than its state needs (ball-milled cells that model x at
    # 0.2 and 0.4 need 413-475 atoms): said in the report, not only in the store
    results["cell_warnings"] = [
        f"{_formula(x)} {st}: {w}"
        for (x, st), m in sorted(models.items())
        if m
        for w in m.get("warnings") or []
        if is_narrow_cell_warning(w)
    ]
    results["measured_reference"] = [dict(m) for m in CHEN2025_MEASURED]
    results["annealed_state"] = annealed_state if quenched else "annealed"
    results["kmc"] = {
        f"{x:g} {st}": [m for kk, m in members.items() if kk[0] == x and kk[1] == st]
        for x in model_xs
        for st in states
    }
    verdict_rows = ensemble_verdicts(ens, model_xs, states)
    rows = summary_rows(results, xs, measured, ens, primary)
    calibrated = calibrated_series(store, [*xs, *model_xs], calibrations, primary)
    results["calibrated"] = calibrated
    from halidelab.report.chen2025 import write_chen2025_report

    wall = time.perf_counter() - t0
    report = write_chen2025_report(
        out / "report.html",
        results,
        rows,
        tiers,
        model,
        failed,
        wall,
        literature_csvs=literature_csvs,
        verdict_rows=verdict_rows,
        calibrations_given=bool(calibrations),
    )
    return ReproduceOutput(
        report, store.url, rows, tiers, failed, wall, ens, verdict_rows, calibrated
    )


def calibrated_series(
    store: Any, xs: Sequence[float], calibrations: Sequence[Any], primary: str = STATES[0]
) -> list[dict[str, Any]]:
    """Raw and calibrated values of every composition of the series and state in the store.

    Parameters
    ----------
    store : Store
        The case's results store.
    xs : sequence of float
        Nb contents to report.
    calibrations : sequence of Calibration
    primary : str
        The state Chen et al. measured the series in (the measured values of a
        composition without structure models, whose only value is the prior's).

    Returns
    -------
    list of dict
        One per (x, state), x ascending: ``x``, ``formula``, ``state`` (of the models:
        ``quenched`` ones stand for the annealed sample; None: no structure models,
        composition-level values only), ``entries``
        (:func:`halidelab.validation.apply.calibrate_composition`: raw ensemble mean,
        calibrated value and interval, map used, out-of-domain flag, or the note why a
        calibration does not apply) and ``measured`` (target -> Chen et al.'s value in that
        state: ``ea_eV``, ``log10_sigma_S_cm``). Empty without calibrations.
    """
    if not calibrations:
        return []
    from halidelab.compare import _DesignAsRules
    from halidelab.screening.ranking import gather
    from halidelab.validation.apply import StoreIndex, calibrate_composition, check_calibrations

    check_calibrations(calibrations)
    index = StoreIndex.of(store)
    want = {round(float(x), 6) for x in xs}
    out = []
    for c in gather(_DesignAsRules(store), "Li2ZrCl6"):
        if c.dopant not in (None, "Nb") or round(c.x, 6) not in want or not c.formula:
            continue
        state = c.state if c.models else None
        # a quenched model stands for the annealed sample (reproduce --annealed-state)
        sample = "annealed" if state == "quenched" else state or primary
        meas: dict[str, float] = {}
        for m in CHEN2025_MEASURED:
            if abs(m["x"] - c.x) < 1e-9 and m["state"] == sample:
                if m["ea_eV"] is not None:
                    meas["ea_eV"] = m["ea_eV"]
                meas["log10_sigma_S_cm"] = math.log10(m["sigma_S_cm"])
        out.append(
            {
                "x": c.x,
                "formula": c.formula,
                "state": state,
                "entries": calibrate_composition(c.formula, c, index, calibrations),
                "measured": meas,
            }
        )
    return sorted(out, key=lambda r: (r["x"], r["state"] or ""))


# -- ensembles: science on the stored members; the report only formats what comes out -------


def ensemble_rows(
    members: dict[tuple[float, str, int], dict[str, Any]],
    model_xs: Sequence[float],
    states: Sequence[str],
) -> list[dict[str, Any]]:
    """One row per (x, state): every quantity as an ensemble statistic over the orderings
    (:func:`halidelab.ensemble.summarize_members`), with ``x``, ``state``, ``formula``,
    ``n`` (orderings) and ``relaxed_converged``. Members are weighted uniformly."""
    from halidelab.ensemble import summarize_members

    rows = []
    for x in model_xs:
        for st in states:
            mem = [m for k, m in sorted(members.items()) if k[0] == x and k[1] == st]
            if not mem:
                continue
            rows.append(
                {
                    "x": x,
                    "state": st,
                    "formula": _formula(x),
                    "n": len(mem),
                    "relaxed_converged": sum(
                        1 for m in mem if (m.get("relax") or {}).get("converged")
                    ),
                    **summarize_members(mem),
                }
            )
    return rows


def _stat(row: dict[str, Any] | None, key: str):
    from halidelab.ensemble import EnsembleStat

    if not row or not row.get(key):
        return None
    return EnsembleStat.from_dict(row[key])


def ensemble_verdicts(
    rows: list[dict[str, Any]], model_xs: Sequence[float], states: Sequence[str]
) -> list[dict[str, Any]]:
    """The claims of the case, each with its significance: lattice contraction, lower
    barriers with Nb, a conductivity peak, the effect of the synthesis state, and the
    predictions next to Chen et al.'s numbers."""
    from halidelab.ensemble import compare, peak, trend

    by = {(r["x"], r["state"]): r for r in rows}
    xs = sorted({r["x"] for r in rows})
    out: list[dict[str, Any]] = []

    def add(
        quantity: str, predicted: str, measured: str, verdict: str, resolved: bool | None
    ) -> None:
        out.append(
            {
                "quantity": quantity,
                "predicted": predicted,
                "measured": measured,
                "verdict": verdict,
                "resolved": resolved,
            }
        )

    def series(key: str, st: str, fmt: str) -> str:
        parts = []
        for x in xs:
            s = _stat(by.get((x, st)), key)
            if s is not None:
                parts.append(f"x={x:g}: {s.text(fmt)}")
        return "; ".join(parts)

    for st in states:
        v = trend(
            xs,
            [_stat(by.get((x, st)), "v_fu_A3") for x in xs],
            "expands with Nb",
            "contracts with Nb",
            "V per f.u.",
            "A^3",
        )
        pred = series("v_fu_A3", st, ".2f")
        if pred:
            add(
                f"lattice vs x, {st} (MLIP, V per f.u.)",
                pred,
                "contracts with Nb (Vegard-like)",
                v.text,
                v.resolved,
            )
        for key, name in (
            ("bvse_3d_eV", "BVSE 3D barrier"),
            ("neb_3d_eV", "CI-NEB 3D barrier"),
            ("kmc_neb_ea_eV", "KMC Ea (NEB network)"),
            ("kmc_bvse_ea_eV", "KMC Ea (BVSE network)"),
        ):
            a, b = _stat(by.get((0.0, st)), key), _stat(by.get((0.2, st)), key)
            if a is None or b is None:
                continue
            c = compare(a, b, "Nb lowers it" if b.mean < a.mean else "Nb raises it", name, "eV")
            add(
                f"{name} x=0 -> 0.2, {st}",
                series(key, st, ".3f"),
                "Ea 0.327 eV at x = 0.2, the minimum of the series"
                if "Ea" in name
                else "DFT: Nb lowers barriers in nearly all directions (~15 % in-plane)",
                c.text,
                c.resolved,
            )
        for key, name in (
            ("kmc_neb_log10_sigma", "log10 sigma(25 C), KMC on NEB networks"),
            ("kmc_bvse_log10_sigma", "log10 sigma(25 C), KMC on BVSE networks"),
        ):
            stats = [_stat(by.get((x, st)), key) for x in xs]
            if sum(s is not None for s in stats) < 2:
                continue
            meas = (
                "; ".join(
                    f"x={m['x']:g}: {math.log10(m['sigma_S_cm']):.2f}"
                    for m in CHEN2025_MEASURED
                    if m["state"] == st
                )
                or "not measured in this state"
            )
            p = peak(xs, stats, "log10 sigma", "") if len(xs) >= 3 else None
            verdict = p.text if p else "a peak needs three or more x"
            gaps = []
            for m in CHEN2025_MEASURED:
                s = _stat(by.get((m["x"], st)), key)
                if m["state"] == st and s is not None:
                    gaps.append(
                        f"x={m['x']:g} {s.mean - math.log10(m['sigma_S_cm']):+.1f} decades vs "
                        "measured"
                    )
            if gaps:
                verdict += (
                    "; "
                    + ", ".join(gaps)
                    + " (raw, uncalibrated; measurements spread 0.3-0.6 decades)"
                )
            add(
                f"{name}, {st}",
                series(key, st, ".2f"),
                f"{meas} (volcano peak at x = 0.2)" if st == "ball-milled" else meas,
                verdict,
                p.resolved if p else None,
            )
    if len(states) >= 2 and "annealed" in states and "ball-milled" in states:
        for x in xs:
            bm, an = by.get((x, "ball-milled")), by.get((x, "annealed"))
            for key, name, unit, fmt in (
                ("kmc_bvse_log10_sigma", "log10 sigma(25 C) (KMC, BVSE networks)", "", ".2f"),
                ("e_atom_eV", "MLIP energy per atom", "eV", ".4f"),
            ):
                a, b = _stat(an, key), _stat(bm, key)
                if a is None or b is None:
                    continue
                claim = (
                    (
                        "ball-milled conducts better"
                        if b.mean > a.mean
                        else "annealed conducts better"
                    )
                    if "sigma" in key
                    else (
                        "the disorder costs energy"
                        if b.mean > a.mean
                        else "the disordered cells are lower in energy"
                    )
                )
                c = compare(a, b, claim, name, unit, fmt=fmt)
                meas = (
                    "LZNC: ball-milled 1.03e-3, annealed 1.46e-7 S/cm (3.8 decades)"
                    if "sigma" in key and abs(x - 0.2) < 1e-9
                    else "-"
                )
                add(
                    f"ball-milled minus annealed, x={x:g}: {name}",
                    f"annealed {a.text(fmt)}; ball-milled {b.text(fmt)}",
                    meas,
                    c.text,
                    c.resolved,
                )
    return out


def lab_measurements(
    series: Sequence[str],
    thickness: str,
    diameter: str,
    circuit: str = "auto",
    resistance: str = "total",
    instrument: str | None = None,
) -> list[dict[str, Any]]:
    """The user's impedance spectra of the series, analysed: sigma(25 C) and Ea per x.

    Parameters
    ----------
    series : sequence of str
        ``"X=PATTERN"`` per composition, e.g. ``"0.2=LZNC_*C.mpt"``: spectra of one pellet
        at several temperatures (temperature in the file name or metadata).
    thickness, diameter : str
        Pellet dimensions with units (``0.85mm``, ``10mm``), the same for every pellet.
    circuit, resistance, instrument
        As ``halidelab eis arrhenius``.

    Returns
    -------
    list of dict
        ``x``, ``sigma_S_cm`` (25 C, from the Arrhenius fit), ``ea_eV``, ``ea_err_eV``,
        ``source`` (files and number of temperatures), ``warnings``.
    """
    import glob

    from halidelab.arrhenius import fit_arrhenius
    from halidelab.errors import DataFormatError, FitError
    from halidelab.lab.eis import fit_spectra
    from halidelab.lab.eis_io import read_spectrum

    if thickness is None or diameter is None:
        raise DataFormatError(
            "--eis needs --thickness and --diameter (pellet dimensions with units)"
        )
    out = []
    for item in series:
        if "=" not in item:
            raise DataFormatError(f"--eis {item!r}: write X=PATTERN, e.g. '0.2=LZNC_*C.mpt'")
        xs, pattern = item.split("=", 1)
        try:
            x = float(xs)
        except ValueError:
            raise DataFormatError(f"--eis {item!r}: {xs!r} is not a Nb content x") from None
        paths = sorted(glob.glob(pattern)) if any(ch in pattern for ch in "*?[") else [pattern]
        if not paths:
            raise DataFormatError(f"--eis {item!r}: no files match {pattern!r}")
        spectra = [read_spectrum(p, instrument) for p in paths]
        missing = [Path(sp.source).name for sp in spectra if sp.temperature_K is None]
        if missing:
            raise DataFormatError(
                f"no temperature for {', '.join(missing)}: put it in the file name "
                "(pellet_25C.mpt, _298K) or the file's metadata"
            )
        fits = fit_spectra(
            spectra, circuit, thickness=thickness, diameter=diameter, resistance=resistance
        )
        temps = [f.temperature_K for f in fits]
        if len(set(temps)) < 2:
            raise FitError(
                f"--eis {item!r}: all spectra are at one temperature; an Arrhenius fit needs "
                "several"
            )
        arr = fit_arrhenius(
            temps,
            [f.conductivity.sigma_S_cm for f in fits],
            [f.conductivity.sigma_err_S_cm for f in fits],
            quantity="sigma",
            method="eis-arrhenius",
        )
        out.append(
            {
                "x": x,
                "sigma_S_cm": arr.value_25C,
                "ea_eV": arr.ea_eV,
                "ea_err_eV": arr.ea_err_eV,
                "source": (
                    f"EIS Arrhenius, {len(set(temps))} temperatures ({Path(paths[0]).name} ...)"
                ),
                "warnings": list(arr.warnings),
            }
        )
    return out


def _md_arrhenius(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Arrhenius fit of D and Nernst-Einstein sigma over one composition's MD runs."""
    from halidelab.errors import FitError
    from halidelab.transport.diffusion import DiffusionResult, md_arrhenius

    try:
        return md_arrhenius([DiffusionResult.from_dict(r["diffusion"]) for r in runs]).to_dict()
    except FitError as exc:
        return {"error": str(exc)}


def _prior_sha() -> str:
    """Checksum of the installed prior model.

    See :func:`halidelab.prior.model.installed_model_sha256`.
    """
    from halidelab.prior.model import installed_model_sha256

    return installed_model_sha256()


def _kind(tier: str) -> str:
    return {"rules": "design"}.get(tier, tier)


def summary_rows(
    results: dict[str, dict[float, Any]],
    xs: Sequence[float],
    lab: Sequence[dict[str, Any]] = (),
    ensembles: Sequence[dict[str, Any]] = (),
    primary: str = "ball-milled",
) -> list[dict[str, Any]]:
    """One row per x with every predicted number that exists (None where not run).

    Where ``ensembles`` (:func:`ensemble_rows`) hold the x in the ``primary`` state, the
    lattice, BVSE, NEB and KMC numbers are their ensemble means (``*_sem``: standard
    error, ``n_orderings``); otherwise those of the first ordering. ``measured_*``:
    Chen et al.'s values in that state; ``lab_*``: the user's own (``lab``, rows with
    ``x``, ``sigma_S_cm``, ``ea_eV``, optional ``ea_err_eV`` and ``source``; the last row
    given for an x wins).
    """
    rows = []
    measured = {m["x"]: m for m in CHEN2025_MEASURED if m["state"] == primary}
    ens = {r["x"]: r for r in ensembles if r["state"] == primary}
    annealed = {r["x"]: r for r in ensembles if r["state"] == "annealed"}
    mine = {
        round(float(m["x"]), 6): m
        for m in lab
        if m.get("dopant") in (None, "Nb") or float(m["x"]) == 0
    }
    for x in sorted(set(xs) | set(results["models"]) | set(mine)):
        d = results["design"].get(x)
        m = results["models"].get(x)
        r = results["relax"].get(x)
        b = results["bvse"].get(x)
        p = results["prior"].get(x)
        row: dict[str, Any] = {"x": x, "formula": _formula(x)}
        if d:
            c, f = d["composition"], d["fit"]
            row.update(
                li_vacancies=c["li_vacancies_per_fu"],
                t=f["t"],
                packing=f"{f['packing']['packing']} {f['packing']['family']}",
            )
        if m:
            row.update(
                x_modelled=sum(m["x_modelled"].values()),
                n_atoms=m["n_atoms"],
                a_vegard_A=m["lattice_estimate"]["a_A"],
                c_vegard_A=m["lattice_estimate"]["c_A"],
            )
        if r and m:
            prim = primitive_lattice(r["structure"], m["supercell_matrix"])
            row.update(
                a_relaxed_A=prim["a_A"],
                c_relaxed_A=prim["c_A"],
                v_relaxed_A3=prim["volume_A3"],
                relax_converged=r["converged"],
                relax_fmax=r["fmax_eV_A"],
            )
        if b:
            row.update(bvse_1d_eV=b["e_1d_eV"], bvse_2d_eV=b["e_2d_eV"], bvse_3d_eV=b["e_3d_eV"])
        n = results.get("neb", {}).get(x)
        if n:
            perc = n.get("percolation") or {}
            row.update(
                neb_1d_eV=perc.get("ea_1d_eV"),
                neb_3d_eV=perc.get("ea_3d_eV"),
                neb_converged=n.get("all_converged"),
            )
        ma = results.get("md_arrhenius", {}).get(x)
        if ma and "error" not in ma:
            row.update(
                md_ea_eV=ma["ea_eV"],
                md_ea_err_eV=ma["ea_err_eV"],
                md_sigma_300K_S_cm=ma["sigma_300K_S_cm"],
            )
        e = ens.get(x)
        if e:
            row["state"] = primary
            row["n_orderings"] = e["n"]
            for key, dst in (
                ("a_A", "a_relaxed_A"),
                ("c_A", "c_relaxed_A"),
                ("bvse_1d_eV", "bvse_1d_eV"),
                ("bvse_3d_eV", "bvse_3d_eV"),
                ("kmc_bvse_log10_sigma", "kmc_log10_sigma"),
                ("kmc_bvse_ea_eV", "kmc_ea_eV"),
            ):
                if e.get(key):
                    row[dst] = e[key]["mean"]
                    row[f"{dst}_sem"] = e[key]["sem"]
        a = annealed.get(x)
        if a:
            for key, dst in (
                ("neb_1d_eV", "neb_1d_eV"),
                ("neb_3d_eV", "neb_3d_eV"),
                ("kmc_neb_log10_sigma", "kmc_neb_log10_sigma"),
                ("kmc_neb_ea_eV", "kmc_neb_ea_eV"),
            ):
                if a.get(key):
                    row[dst] = a[key]["mean"]
                    row[f"{dst}_sem"] = a[key]["sem"]
        if p:
            row.update(
                prior_log10_sigma=p["log10_sigma_S_cm"],
                prior_lo=p["log10_sigma_low_S_cm"],
                prior_hi=p["log10_sigma_high_S_cm"],
                prior_in_domain=p["in_domain"],
            )
        if x in measured:
            row.update(
                measured_sigma_S_cm=measured[x]["sigma_S_cm"], measured_ea_eV=measured[x]["ea_eV"]
            )
        m_lab = mine.get(round(float(x), 6))
        if m_lab:
            row.update(
                lab_sigma_S_cm=m_lab.get("sigma_S_cm"),
                lab_ea_eV=m_lab.get("ea_eV"),
                lab_ea_err_eV=m_lab.get("ea_err_eV"),
                lab_source=m_lab.get("source") or "your data",
            )
        rows.append(row)
    return rows
