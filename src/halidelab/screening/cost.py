"""What a screen costs before it starts: per-task costs measured on this project's 2-core CPU
(:data:`TIER_COSTS`), the same costs measured on the user's own machine from the tasks a
store already holds (:func:`measured_costs`), and the estimate for a grid
(:func:`estimate_cost`)."""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Mapping
from typing import Any

import numpy as np

from halidelab.errors import HalidelabError
from halidelab.records import Provenance, Record
from halidelab.screening.settings import ScreenSettings, normalise_tiers


@dataclasses.dataclass(frozen=True)
class TierCost:
    """Measured cost of one task of a tier on this project's 2-core CPU.

    Attributes
    ----------
    low_s, typical_s, high_s : float
        Wall seconds per task (range and typical value) at the reference size.
    ref_atoms : int
        Cell size the numbers refer to (0: independent of the cell).
    per_worker_s : float
        One-off cost per worker process (model loading, imports).
    source : str
        Where the number comes from.
    """

    low_s: float
    typical_s: float
    high_s: float
    ref_atoms: int = 0
    per_worker_s: float = 0.0
    source: str = ""


#: Per-task cost of each tier (this 2-core CPU, shared; see benchmarks/bench_screen_scaling.py).
#: BVSE numbers are for 0.25 A; other resolutions scale as (0.25 / resolution)^3 on the
#: grid part (:func:`bvse_cost_s`). Relax scales linearly with atoms (CHGNet on the CPU).
TIER_COSTS: dict[str, TierCost] = {
    "rules": TierCost(
        0.0002,
        0.001,
        0.005,
        per_worker_s=0.5,
        source="design + radius rules, measured median 0.2 ms",
    ),
    "prior": TierCost(
        0.012,
        0.03,
        0.2,
        per_worker_s=2.1,
        source="prior.predict, measured median 24 ms (+2.1 s model load per worker)",
    ),
    "models": TierCost(
        2.2,
        3.6,
        10.0,
        ref_atoms=130,
        source="build_models n_configs=1, 85-138 atoms, measured median 3.6 s",
    ),
    "relax": TierCost(
        10.0,
        20.0,
        300.0,
        ref_atoms=130,
        per_worker_s=5.0,
        source="CHGNet relax per 130 atoms: median 18-21 s in the validation campaigns' "
        "stores (46-76 relaxations of 40-240 atoms, 2 workers on 2 cores; 10-90 % "
        "12-33 s); 300 s measured under load 9 on 2 cores",
    ),
    "bvse": TierCost(
        4.8,
        5.2,
        15.0,
        ref_atoms=130,
        source="BVSE map + percolation at 0.25 A, ~130 atoms, measured median 5.2 s",
    ),
    # per competing phase (2-36 atoms), once per chemical system and store
    "stability-ref": TierCost(
        0.03,
        1.0,
        10.0,
        per_worker_s=5.0,
        source="CHGNet relax of one competing phase: measured 0.03-9.0 s "
        "(median 0.5 s) for the 10 Li-Zr-Nb-Cl phases, 2-36 atoms; "
        "once per chemical system, cached in the store",
    ),
    "stability": TierCost(
        0.02,
        0.05,
        0.5,
        source="convex hull from stored MLIP energies (no MLIP call), measured 0.02-0.06 s",
    ),
    # per NEB band (one hop or one Li-i-Li path); a study runs NEB_HOPS of them
    "neb": TierCost(
        25.0,
        40.0,
        400.0,
        ref_atoms=132,
        per_worker_s=5.0,
        source="CHGNet CI-NEB per band, 1 thread, 132-atom Li1.8Zr0.8(Nb,Ta)0.2Cl6 "
        "models: measured 29-48 s (113 s for 3 bands, 129 s for 4); 296-392 s "
        "with 3 processes sharing the 2 cores; scaled with atoms",
    ),
    # per network: KMC at 4 temperatures x 8 runs x 200 hops per Li (KMC_REF_EVENTS), runs
    # extended until diffusive; other event counts scale it; the first task of a worker also
    # compiles the numba kernel (per_worker_s)
    "kmc": TierCost(
        10.0,
        27.0,
        80.0,
        ref_atoms=132,
        per_worker_s=15.0,
        source="BVSE network + KMC at 4 temperatures x 8 runs x 200 events per Li, per 132 "
        "atoms: median 26-29 s in the validation campaigns' stores (37 tasks each, 40-155 "
        "atoms, 2 workers on 2 cores; 10-90 % 18-78 s); the first task of a worker also "
        "compiles the kernel",
    ),
}
#: NEB bands per ``hops="distinct"`` study (low, typical, high): measured 3-4 on Li2ZrCl6-type
#: models (x = 0.2 Nb: 3, Ta: 4; 1 vacancy hop class along c + 2-3 Li-i-Li paths in plane).
NEB_HOPS = (2, 4, 8)
#: Competing phases of a Li-M-M'-Cl system (Li-Zr-Nb-Cl: Li, Zr, Nb, two Cl2, LiCl, ZrCl4,
#: NbCl5 and two Li2ZrCl6 polymorphs), the estimate's default when not counted.
DEFAULT_N_REFERENCES = 10
#: Fixed part of a BVSE task (neighbour tables, percolation search), s; the rest scales
#: with the number of grid points (measured medians: 0.93 s at 0.5 A, 5.2 s at 0.25 A).
BVSE_FIXED_S = 0.5


#: Cost of one energy+forces+stress call of each registered MLIP relative to CHGNet's, on
#: a ~130-atom cell on this project's 2-core CPU (one process): the shipped relax and NEB
#: costs (CHGNet's) times this. Measured by ``python benchmarks/bench_engine.py
#: --device cpu --models chgnet,sevennet-0,sevennet-l3i5,sevennet-mf-0 --sizes 60,270
#: --batches 1 --repeats 5 --no-md`` (medians 0.104/0.566 s CHGNet, 0.276/1.061 s
#: SevenNet-0, 0.489/4.167 s SevenNet-l3i5, 0.230/0.954 s SevenNet-MF-0 at 60/270 atoms),
#: interpolated linearly to 130 atoms. A relaxation's steps differ between models too: a
#: store's own timings replace this as soon as it holds them (:func:`measured_costs`).
MODEL_CALL_FACTOR: dict[str, float] = {
    "chgnet": 1.0,
    "sevennet-0": 2.09,
    "sevennet-mf-0": 1.83,
    "sevennet-l3i5": 6.65,
}
#: Extra cost of the D3(BJ) term of a ``-d3`` model per call, in CHGNet calls: measured
#: 0.17-0.20 by ``benchmarks/bench_dispersion.py`` (60-240-atom cells, one thread).
D3_CALL_FACTOR = 0.2
#: One CHGNet energy+forces+stress call per 130 atoms on this CPU, s (the benchmark above:
#: 0.26 s interpolated between 60 and 270 atoms); prices the MD steps of a relaxation
#: expanded to a lattice temperature.
CHGNET_CALL_S = 0.26
#: MD time step of :func:`halidelab.thermal.thermal_lattice`, fs.
THERMAL_TIMESTEP_FS = 2.0


def model_call_factor(model: str | None) -> float | None:
    """Cost of a call of ``model`` relative to CHGNet's (:data:`MODEL_CALL_FACTOR`, plus
    :data:`D3_CALL_FACTOR` for a ``-d3`` model); None for a model not measured."""
    from halidelab.dispersion import split_name

    if not isinstance(model, str) or not model.strip():
        return None
    name, d3 = split_name(model)
    base = MODEL_CALL_FACTOR.get(name)
    if base is None:
        return None
    return base + (D3_CALL_FACTOR if d3 else 0.0)


#: Screen tier -> the task kind whose stored durations measure it.
TIER_KINDS: dict[str, str] = {
    "rules": "rules",
    "prior": "prior",
    "models": "models",
    "relax": "relax",
    "bvse": "bvse",
    "stability-ref": "stability-reference",
    "stability": "hull",
    "neb": "neb",
    "kmc": "kmc",
}
#: Fewest stored tasks of a tier (of the screen's model and settings) before their measured
#: durations replace the shipped :data:`TIER_COSTS`.
MIN_MEASURED_TASKS = 3
#: Newest stored tasks per kind that :func:`measured_costs` reads.
MEASURED_RECENT = 200
#: From this many measured tasks on, a tier's low and high costs are the 10th and 90th
#: percentiles of their durations (below it: the lowest and highest).
PERCENTILE_RANGE_FROM = 10


#: KMC events of the reference task of :data:`TIER_COSTS` ``kmc``: 4 temperatures x 8 runs x
#: 200 events per Li.
KMC_REF_EVENTS = 4 * 8 * 200.0
#: Part of the reference KMC task's cost that does not grow with its events (the BVSE map and
#: network, the runs' set-up). Measured in a validation campaign's store (CHGNet, 92 KMC
#: tasks, 2 workers on 2 cores): per 132 atoms, median 27.4 s at 200 events per Li (74
#: tasks) and 61.7 s at 800 (18), so 16.0 s fixed + 11.4 s per 200 events: 0.58.
KMC_FIXED_FRACTION = 0.58


def kmc_events(temperatures: int, runs: int, hops_per_carrier: float) -> float:
    """KMC events per Li of a task (temperatures x runs x events per Li per run)."""
    return float(temperatures) * float(runs) * float(hops_per_carrier)


def kmc_cost_factor(events: float) -> float:
    """Cost of a KMC task of ``events`` events per Li relative to the reference task
    (:data:`KMC_REF_EVENTS`): a fixed part and a part that grows with the events."""
    return KMC_FIXED_FRACTION + (1.0 - KMC_FIXED_FRACTION) * events / KMC_REF_EVENTS


def _task_kmc_events(inputs: Mapping[str, Any]) -> float | None:
    try:
        return kmc_events(
            len(inputs.get("temperatures_K") or ()),
            int(inputs.get("n_runs", 0)),
            float(inputs.get("hops_per_carrier", 0.0)),
        )
    except (TypeError, ValueError):
        return None


def _n_atoms(inputs: Mapping[str, Any]) -> int | None:
    s = inputs.get("structure")
    if isinstance(s, Mapping) and isinstance(s.get("sites"), list) and s["sites"]:
        return len(s["sites"])
    return None


def _task_size(kind: str, inputs: Mapping[str, Any]) -> float:
    """How much work a task is, in the units its time scales with: its atoms (1 when its
    inputs hold no single structure), times the KMC events factor for KMC."""
    size = float(_n_atoms(inputs) or 1)
    if kind == "kmc":
        size *= kmc_cost_factor(_task_kmc_events(inputs) or KMC_REF_EVENTS)
    return size


def _n_bands(result: Any) -> int:
    """NEB bands of a stored ``neb`` result (one study, or ``{"studies": [...]}``)."""
    if not isinstance(result, Mapping):
        return 0
    studies = result.get("studies", [result])
    return sum(len(st.get("results") or []) for st in studies if isinstance(st, Mapping))


def _matches(tier: str, inputs: Mapping[str, Any], settings: ScreenSettings) -> bool:
    """Whether a stored task ran with the screen's model and settings (its cost transfers)."""
    if tier in ("relax", "stability-ref", "neb"):
        return inputs.get("model") == settings.model
    if tier == "bvse":
        res = inputs.get("resolution_A")
        return isinstance(res, int | float) and math.isclose(res, settings.bvse_resolution_A)
    if tier == "kmc":
        return inputs.get("source", "bvse") == "bvse"
    return True


def measured_costs(store: Any, settings: ScreenSettings) -> dict[str, TierCost]:
    """Per-task costs measured on the user's machine: the stored durations of done tasks.

    The shipped :data:`TIER_COSTS` were measured on this project's 2-core CPU; a cluster
    node, a GPU or a busy laptop differ by an order of magnitude either way. Each tier
    with at least :data:`MIN_MEASURED_TASKS` done tasks of the screen's model and
    settings (relaxations and NEB of ``settings.model``, BVSE at its grid, KMC on BVSE
    networks) gets the median and range of their durations (the newest
    :data:`MEASURED_RECENT`; lowest-highest, or 10th-90th percentile from
    :data:`PERCENTILE_RANGE_FROM` tasks on). Each duration is scaled to the tier's
    reference cell size where the cost grows with atoms (seconds x ``ref_atoms`` / the
    task's atoms), an NEB study's is divided by its bands, and a KMC task's is brought to
    :data:`KMC_REF_EVENTS` events per Li (:func:`kmc_cost_factor`). A measured duration
    includes the first task's model loading on each worker; the per-worker cost stays
    the shipped one.

    Parameters
    ----------
    store : Store
        Results store (read only here).
    settings : ScreenSettings
        The screen's settings (model, BVSE grid).

    Returns
    -------
    dict
        Tier -> :class:`TierCost` (``source`` says how many tasks measured it); tiers
        with too few stored tasks are absent (the estimate keeps :data:`TIER_COSTS`).
    """
    out: dict[str, TierCost] = {}
    for tier, kind in TIER_KINDS.items():
        shipped = TIER_COSTS[tier]
        rows = store.timings(kind, limit=MEASURED_RECENT, with_result=tier == "neb")
        per: list[float] = []
        for r in rows:
            if not _matches(tier, r["inputs"], settings):
                continue
            seconds = r["duration_s"]
            if tier == "kmc" and not _task_kmc_events(r["inputs"]):
                continue
            if tier == "neb":
                bands = _n_bands(r.get("result"))
                if bands < 1:
                    continue
                seconds /= bands
            if shipped.ref_atoms and tier != "models":  # models: no structure in the inputs
                if _n_atoms(r["inputs"]) is None:
                    continue
                # per reference cell (KMC also per reference events), as a stage is sized
                seconds *= shipped.ref_atoms / _task_size(kind, r["inputs"])
            per.append(seconds)
        if len(per) < MIN_MEASURED_TASKS:
            continue
        per.sort()
        median = statistics.median(per)
        if len(per) >= PERCENTILE_RANGE_FROM:
            # one task that waited on a loaded machine would set every task's high cost
            low, high = (float(v) for v in np.percentile(per, [10, 90]))
            spread = "10-90 % range"
        else:
            low, high = per[0], per[-1]
            spread = "range"
        what = {
            "relax": f" ({settings.model})",
            "stability-ref": f" ({settings.model})",
            "neb": f" ({settings.model}, per band)",
            "bvse": f" ({settings.bvse_resolution_A:g} Å grid)",
            "kmc": f" (BVSE networks, scaled to {KMC_REF_EVENTS:g} events per Li)",
        }.get(tier, "")
        size = f" per {shipped.ref_atoms} atoms" if shipped.ref_atoms and tier != "models" else ""
        out[tier] = TierCost(
            low,
            median,
            high,
            ref_atoms=0 if tier == "models" else shipped.ref_atoms,
            per_worker_s=shipped.per_worker_s,
            source=f"measured in this store: {len(per)} {kind} tasks{what}, median "
            f"{median:.3g} s{size} ({spread} {low:.3g}-{high:.3g} s)",
        )
    return out


#: Inputs in which two tasks of one kind must agree for the stored time of one to stand for
#: the other (another MLIP, BVSE grid, KMC network kind or relaxation target costs otherwise).
LIKE_INPUTS = (
    "model",
    "modal",
    "resolution_A",
    "source",
    "fmax",
    "relax_cell",
    "temperature_K",
    "state",
)


class LikeTimings:
    """The store's timings of done tasks like a given one (same kind and
    :data:`LIKE_INPUTS`), each per unit of its size (:func:`_task_size`: per atom, KMC also
    per events factor), s. Reads each kind's newest :data:`MEASURED_RECENT` timings once and
    each set of like inputs once, however many tasks ask."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._rows: dict[str, list[dict[str, Any]]] = {}
        self._units: dict[tuple[str, str], list[float]] = {}

    def units(self, kind: str, inputs: Mapping[str, Any]) -> list[float]:
        """Per-unit durations of the done tasks like one of ``kind`` with ``inputs``."""
        sig = (kind, repr([inputs.get(k) for k in LIKE_INPUTS]))
        if sig not in self._units:
            if kind not in self._rows:
                self._rows[kind] = self.store.timings(kind, limit=MEASURED_RECENT)
            self._units[sig] = [
                r["duration_s"] / _task_size(kind, r["inputs"])
                for r in self._rows[kind]
                if all(r["inputs"].get(k) == inputs.get(k) for k in LIKE_INPUTS)
            ]
        return self._units[sig]


def shipped_task_cost(
    kind: str, inputs: Mapping[str, Any]
) -> tuple[dict[str, float], str, float] | None:
    """One task's cost from the shipped :data:`TIER_COSTS`, sized to its inputs.

    Relaxations and NEB studies of another MLIP than CHGNet are priced by
    :func:`model_call_factor`; a relaxation expanded to a lattice temperature adds its MD
    steps (:data:`CHGNET_CALL_S` each) and one more relaxation per NVT run (derived from
    :func:`halidelab.thermal.thermal_lattice`'s steps, not measured as a whole).

    Parameters
    ----------
    kind : str
        Task kind (``relax``, ``bvse``, ``neb``, ``kmc``, ``prior``, ...).
    inputs : mapping
        The task's inputs.

    Returns
    -------
    (dict, str, float) or None
        ``low_s``/``typical_s``/``high_s`` seconds of the task, where the numbers come
        from, and the one-off cost per worker (s); None where nothing shipped prices the
        task: an MLIP without a measured call cost, a ``defects`` task (its cost depends on
        whether the Li sublattice is full, known only when it runs), another kind.
    """
    keys = ("low_s", "typical_s", "high_s")
    atoms = _n_atoms(inputs)
    if kind == "prior":
        c = TIER_COSTS["prior"]
        return {w: getattr(c, w) for w in keys}, c.source, c.per_worker_s
    if atoms is None:
        return None
    if kind == "bvse":
        res = inputs.get("resolution_A")
        if not isinstance(res, int | float) or res <= 0:
            return None
        c = TIER_COSTS["bvse"]
        return {w: bvse_cost_s(float(res), atoms, w) for w in keys}, c.source, c.per_worker_s
    if kind == "kmc":
        c = TIER_COSTS["kmc"]
        factor = kmc_cost_factor(_task_kmc_events(inputs) or KMC_REF_EVENTS)
        per = {w: getattr(c, w) * atoms / c.ref_atoms * factor for w in keys}
        events = "" if factor == 1.0 else f"; x {factor:.3g} for its events per Li"
        return per, c.source + events, c.per_worker_s
    if kind not in ("relax", "neb"):
        return None
    model = inputs.get("model")
    factor = model_call_factor(model)
    if factor is None:
        return None
    c = TIER_COSTS[kind]
    scale = atoms / c.ref_atoms * factor
    model_text = "" if factor == 1.0 else f"; x {factor:.3g}: a {model} call against CHGNet's"
    if kind == "neb":
        per = {w: getattr(c, w) * scale * h for w, h in zip(keys, NEB_HOPS, strict=True)}
        return (
            per,
            f"{NEB_HOPS[1]} bands ({NEB_HOPS[0]}-{NEB_HOPS[2]}) per study; {c.source}{model_text}",
            c.per_worker_s,
        )
    per = {w: getattr(c, w) * scale for w in keys}
    source = c.source + model_text
    temperature = inputs.get("temperature_K")
    if temperature is not None:
        iterations = int(inputs.get("thermal_iterations", 2))
        steps = iterations * float(inputs.get("thermal_md_ps", 1.0)) * 1000.0
        steps /= THERMAL_TIMESTEP_FS
        md = steps * CHGNET_CALL_S * atoms / c.ref_atoms * factor
        per = {w: v * (1 + iterations) + md for w, v in per.items()}
        source += (
            f"; + {steps:.0f} MD steps ({CHGNET_CALL_S:g} s per CHGNet call per "
            f"{c.ref_atoms} atoms) and {iterations} more relaxations of the expansion to "
            f"{float(temperature):g} K (derived, not measured)"
        )
    return per, source, c.per_worker_s


def cost_row(
    tier: str,
    n: int,
    sums: Mapping[str, float],
    per_task_s: float,
    source: str,
    per_worker_s: float,
    workers: int,
    n_done: int = 0,
) -> dict[str, Any]:
    """One row of a cost table: ``n`` tasks left whose summed seconds (``low_s``,
    ``typical_s``, ``high_s``) share ``min(workers, n)`` workers, each of which pays
    ``per_worker_s`` once (nothing when no task is left)."""
    active = min(workers, max(n, 1))
    tot = {w: sums[w] / active + (per_worker_s if n else 0.0) for w in sums}
    return {
        "tier": tier,
        "tasks": n,
        "done": n_done,
        "per_task_s": per_task_s,
        "low_s": tot["low_s"],
        "high_s": tot["high_s"],
        "total_s": tot["typical_s"],
        "source": source,
    }


def stage_seconds(tasks: Any, store: Any, workers: int = 1) -> float | None:
    """Wall seconds a stage's tasks will take on ``workers``, from the store's timings of
    done tasks like them (same kind and :data:`LIKE_INPUTS`; per atom, KMC per event
    factor): the sum of each task's mean like time, shared by the workers.

    Parameters
    ----------
    tasks : sequence of Task
        The tasks still to run.
    store : Store
    workers : int
        Parallel workers.

    Returns
    -------
    float or None
        Seconds; None when some task has fewer than :data:`MIN_MEASURED_TASKS` like
        timings (then no number beats the progress bar's own, once tasks finish).
    """
    total = 0.0
    like = LikeTimings(store)
    for t in tasks:
        units = like.units(t.kind, t.inputs)
        if len(units) < MIN_MEASURED_TASKS:
            return None
        # the mean, not the median: a stage's time is the sum of its tasks', and task
        # times are skewed to long ones. Checked on a campaign store's 46 KMC tasks
        # estimated from 46 others: mean 0.99 of their time, median 0.65.
        total += statistics.fmean(units) * _task_size(t.kind, t.inputs)
    return total / max(int(workers), 1)


def bvse_cost_s(resolution_A: float, n_atoms: int = 130, which: str = "typical_s") -> float:
    """Estimated seconds of one BVSE task at ``resolution_A`` for an ``n_atoms`` cell."""
    c = TIER_COSTS["bvse"]
    base = getattr(c, which)
    grid = max(base - BVSE_FIXED_S, 0.1) * (0.25 / resolution_A) ** 3 * (n_atoms / c.ref_atoms)
    return BVSE_FIXED_S + grid


@dataclasses.dataclass(frozen=True)
class CostEstimate(Record):
    """What a screen will cost before it starts.

    Attributes
    ----------
    rows : tuple of dict
        Per tier: ``tier``, ``tasks`` (left to run), ``done`` (found done in the store),
        ``per_task_s`` (typical), ``low_s``, ``high_s``, ``total_s`` (typical, on
        ``workers``), ``source``.
    n_candidates, n_survivors : int
        Grid size, and candidates passing the rules (None when not yet known: then every
        candidate is assumed to survive).
    workers : int
    total_s, low_s, high_s : float
        Wall time on ``workers`` parallel workers (perfect scaling assumed; the benchmark
        measured the real efficiency).
    n_atoms : int
        Cell size the per-atom costs were scaled to.
    atoms_source : str
        Where that size comes from (the models' mean, or ``--max-atoms`` as a bound).
    """

    rows: tuple[dict[str, Any], ...]
    n_candidates: int
    n_survivors: int | None
    workers: int
    total_s: float
    low_s: float
    high_s: float
    n_atoms: int = 0
    atoms_source: str = ""
    provenance: Provenance = dataclasses.field(
        default_factory=lambda: Provenance(method="screen cost estimate (measured per-tier costs)")
    )


def estimate_cost(
    n_candidates: int,
    settings: ScreenSettings,
    workers: int = 1,
    n_survivors: int | None = None,
    n_atoms: int | None = None,
    n_references: int | None = None,
    neb_hops: tuple[int, int, int] | None = None,
    costs: Mapping[str, TierCost] | None = None,
    done: Mapping[str, int] | None = None,
) -> CostEstimate:
    """Wall-time estimate of a screen from :data:`TIER_COSTS`, or from costs measured on
    this machine where given (:func:`measured_costs`).

    Parameters
    ----------
    n_candidates : int
        Grid points (the rules tier runs on all of them).
    settings : ScreenSettings
    workers : int
        Parallel workers (Dask); per-worker start-up costs are paid once per worker.
    n_survivors : int, optional
        Candidates passing the rules, when known (else all are assumed to pass).
    n_atoms : int, optional
        Cell size for models/relax/BVSE/NEB: the mean of the models to be built
        (:func:`halidelab.structures.models.model_size`); default
        ``settings.models_max_atoms``, an upper bound.
    n_references : int, optional
        Competing phases still to relax for the ``stability`` tier (default
        :data:`DEFAULT_N_REFERENCES`, the count of a Li-M-M'-Cl system).
    neb_hops : (int, int, int), optional
        NEB bands per study (low, typical, high); default :data:`NEB_HOPS`.
    costs : mapping, optional
        Tier -> :class:`TierCost` used in place of :data:`TIER_COSTS` (measured costs;
        a BVSE cost given here is for the screen's grid and is not rescaled with it).
    done : mapping, optional
        Tier -> tasks of this screen already done in the store
        (:func:`halidelab.screening.plans.done_counts`):
        they cost nothing, and a tier with nothing left pays no per-worker start either.

    Notes
    -----
    ``relax`` and ``bvse`` run once per ordering (``settings.n_configs`` per candidate);
    ``stability`` is a row for the competing phases (``stability-ref``, relaxed once per
    chemical system and kept in the store) and one for the hulls (milliseconds each);
    ``neb`` runs for ``min(neb_top, survivors)`` doped candidates, each a study of
    ``neb_hops`` bands costing ``TIER_COSTS["neb"]`` per band.
    """
    if workers < 1:
        raise HalidelabError(f"workers must be >= 1, got {workers}")
    tiers = normalise_tiers(settings.tiers)
    extra = 1 if settings.include_parent else 0
    n_all = n_candidates + extra
    n_doped = n_candidates if n_survivors is None else n_survivors
    n_surv = n_doped + extra
    atoms = n_atoms or settings.models_max_atoms
    hops = neb_hops or NEB_HOPS
    n_refs = DEFAULT_N_REFERENCES if n_references is None else n_references
    given = dict(costs or {})
    finished = dict(done or {})
    rows = []

    def add(
        tier: str, n: int, per: dict[str, float], source: str, cost: TierCost, n_done: int = 0
    ) -> None:
        sums = {w: n * v for w, v in per.items()}
        rows.append(
            cost_row(tier, n, sums, per["typical_s"], source, cost.per_worker_s, workers, n_done)
        )

    keys = ("low_s", "typical_s", "high_s")
    for tier in tiers:
        c = given.get(tier, TIER_COSTS[tier])
        n = n_all if tier == "rules" else n_surv
        scale = atoms / c.ref_atoms if c.ref_atoms else 1.0
        source = c.source
        if tier in ("relax", "bvse", "kmc") and settings.n_configs > 1:
            n *= settings.n_configs
            source = f"{source}; {settings.n_configs} orderings per candidate"
        if tier == "models" and settings.n_configs > 1:
            source = f"{source}; {settings.n_configs} orderings kept from the same search"
        if tier == "bvse" and tier not in given:
            per = {w: bvse_cost_s(settings.bvse_resolution_A, atoms, w) for w in keys}
        elif tier == "neb":
            n = min(settings.neb_top, n_doped)
            per = {w: getattr(c, w) * scale * h for w, h in zip(keys, hops, strict=True)}
            source = (
                f"top {n} of {n_doped} candidates (--neb-top {settings.neb_top}) x "
                f"{hops[1]} bands ({hops[0]}-{hops[2]}) x {c.typical_s * scale:.0f} s per band; "
                f"{c.source}"
            )
        elif tier == "kmc":
            events = kmc_events(
                len(settings.kmc_temperatures_K), settings.kmc_runs, settings.hops_per_carrier
            )
            factor = kmc_cost_factor(events)
            per = {w: getattr(c, w) * scale * factor for w in keys}
            if events != KMC_REF_EVENTS:
                source = f"{source}; x {factor:.3g} for {events:g} events per Li"
        else:
            per = {w: getattr(c, w) * scale for w in keys}
        if tier == "stability":
            r = given.get("stability-ref", TIER_COSTS["stability-ref"])
            add(
                "stability-ref",
                n_refs,
                {w: getattr(r, w) for w in keys},
                f"{n_refs} competing phases still to relax; {r.source}",
                r,
            )
        n_done = min(finished.get(tier, 0), n)
        if n_done:
            n -= n_done
            source = f"{source}; {n_done} more already done in the store"
        add(tier, n, per, source, c, n_done)
    return CostEstimate(
        rows=tuple(rows),
        n_candidates=n_candidates,
        n_survivors=n_survivors,
        workers=workers,
        total_s=sum(r["total_s"] for r in rows),
        low_s=sum(r["low_s"] for r in rows),
        high_s=sum(r["high_s"] for r in rows),
        n_atoms=atoms,
        atoms_source="the models' mean size"
        if n_atoms
        else f"--max-atoms {settings.models_max_atoms} (an upper bound)",
    )


def format_duration(seconds: float) -> str:
    """``"45 s"``, ``"12 min"``, ``"3.2 h"``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
