"""Screening plans: the candidate grid, the rules tier that prunes it, staged expensive tiers.

A screen asks "which dopant, how much?" for one parent:

1. The grid: parent x dopant x content x site (:func:`candidate_grid`).
2. The rules tier (task kind ``"rules"``, milliseconds per candidate): charge balance and
   site occupancy (:func:`halidelab.composition.design_composition` refuses impossible
   compositions; only these are pruned by default), the dopant-host ionic-radius mismatch
   (reported and, beyond the range of measured substitutions, penalised in the ranking;
   pruned only when ``max_mismatch_percent`` is given), and a structure-change flag when the radius ratio t of the
   doped composition predicts another anion packing or structure family than the parent's
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
   per-task costs measured on this project's 2-core CPU (:data:`TIER_COSTS`).

Every task goes through :func:`halidelab.screening.runner.run_tasks`, so a screen is
resumable, runs on Dask when given a client, and lives in one results store.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

from halidelab.errors import CompositionError, HalidelabError
from halidelab.records import Provenance, Record
from halidelab.screening.inputs import (
    BVSEInputs,
    KMCInputs,
    ModelsInputs,
    NEBInputs,
    PriorInputs,
    RelaxInputs,
)
from halidelab.screening.tasks import Task, task_function

#: Tiers a screen knows, in execution order.
SCREEN_TIERS = ("rules", "prior", "models", "relax", "bvse", "stability", "neb", "kmc")
#: Tiers that need relaxed structures (they add ``models`` and ``relax``).
NEEDS_RELAX = ("stability", "neb", "kmc")
#: Default dopant-host mismatch (ionic radii, CN 6) above which a candidate is pruned, %:
#: none. A 15 % rule of thumb pruned Ta5+ in Li3InCl6 (-20 %), measured to raise sigma;
#: substitutions up to :data:`halidelab.rules.MEASURED_MISMATCH_PERCENT` have been made
#: and measured. Pruning by mismatch is the user's explicit choice (``--max-mismatch``).
DEFAULT_MAX_MISMATCH_PERCENT: float | None = None


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
    "rules": TierCost(0.0002, 0.001, 0.005, per_worker_s=0.5,
                      source="design + radius rules, measured median 0.2 ms"),
    "prior": TierCost(0.012, 0.03, 0.2, per_worker_s=2.1,
                      source="prior.predict, measured median 24 ms (+2.1 s model load per worker)"),
    "models": TierCost(2.2, 3.6, 10.0, ref_atoms=130,
                       source="build_models n_configs=1, 85-138 atoms, measured median 3.6 s"),
    "relax": TierCost(15.0, 60.0, 300.0, ref_atoms=130, per_worker_s=5.0,
                      source="CHGNet relax of a 130-atom cell: 15-19 s (52-62 steps from the "
                             "Vegard model, 1 thread) to 1-2 min; 300 s measured under load 9 "
                             "on 2 cores"),
    "bvse": TierCost(4.8, 5.2, 15.0, ref_atoms=130,
                     source="BVSE map + percolation at 0.25 A, ~130 atoms, measured median 5.2 s"),
    # per competing phase (2-36 atoms), once per chemical system and store
    "stability-ref": TierCost(0.03, 1.0, 10.0, per_worker_s=5.0,
                              source="CHGNet relax of one competing phase: measured 0.03-9.0 s "
                                     "(median 0.5 s) for the 10 Li-Zr-Nb-Cl phases, 2-36 atoms; "
                                     "once per chemical system, cached in the store"),
    "stability": TierCost(0.02, 0.05, 0.5,
                          source="convex hull from stored MLIP energies (no MLIP call), "
                                 "measured 0.02-0.06 s"),
    # per NEB band (one hop or one Li-i-Li path); a study runs NEB_HOPS of them
    "neb": TierCost(25.0, 40.0, 400.0, ref_atoms=132, per_worker_s=5.0,
                    source="CHGNet CI-NEB per band, 1 thread, 132-atom Li1.8Zr0.8(Nb,Ta)0.2Cl6 "
                           "models: measured 29-48 s (113 s for 3 bands, 129 s for 4); 296-392 s "
                           "with 3 processes sharing the 2 cores; scaled with atoms"),
    # per network: KMC at 4 temperatures x 8 runs x 200 hops per Li, runs extended until
    # diffusive; the first task of a worker also compiles the numba kernel (per_worker_s)
    "kmc": TierCost(3.0, 10.0, 60.0, ref_atoms=132, per_worker_s=15.0,
                    source="benchmarks/bench_kmc.py (load ~6 on the 2 cores): BVSE network + KMC at "
                           "4 temperatures x 8 runs, 5.7 s for a 54-atom and 14 s for a 132-atom "
                           "Li2ZrCl6-type model; the first task of a worker also compiles the kernel"),
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


def bvse_cost_s(resolution_A: float, n_atoms: int = 130, which: str = "typical_s") -> float:
    """Estimated seconds of one BVSE task at ``resolution_A`` for an ``n_atoms`` cell."""
    c = TIER_COSTS["bvse"]
    base = getattr(c, which)
    grid = max(base - BVSE_FIXED_S, 0.1) * (0.25 / resolution_A) ** 3 * (n_atoms / c.ref_atoms)
    return BVSE_FIXED_S + grid


@dataclasses.dataclass(frozen=True)
class Candidate(Record):
    """One point of the grid: ``x`` of ``dopant`` on ``site`` of ``parent``.

    Attributes
    ----------
    parent, dopant, site : str
    x : float
        Dopant atoms per formula unit.
    oxidation_state : int or None
        Dopant valence (None: the usual one in halides).
    """

    parent: str
    dopant: str
    site: str
    x: float
    oxidation_state: int | None = None

    @property
    def label(self) -> str:
        """``"Li2ZrCl6 Nb@Zr x=0.200"``."""
        q = "" if self.oxidation_state is None else f"({self.oxidation_state:+d})"
        return f"{self.parent} {self.dopant}{q}@{self.site} x={self.x:.3f}"

    @property
    def substitutions(self) -> list[dict[str, Any]]:
        """JSON substitutions for the task inputs (empty for x = 0, the parent)."""
        if self.x <= 0:
            return []
        sub: dict[str, Any] = {"dopant": self.dopant, "site": self.site, "x": float(self.x)}
        if self.oxidation_state is not None:
            sub["oxidation_state"] = self.oxidation_state
        return [sub]


def candidate_grid(parent: str, dopants: Sequence[str], xs: Sequence[float],
                   sites: Sequence[str]) -> list[Candidate]:
    """The full grid parent x dopant x content x site (duplicates removed, order kept).

    Parameters
    ----------
    parent : str
        Parent formula, e.g. ``"Li2ZrCl6"``.
    dopants : sequence of str
        Element symbols, optionally with a valence: ``"Nb"``, ``"Mo6+"`` or ``"Mo+6"``.
    xs : sequence of float
        Contents per formula unit (> 0; x = 0, the parent, is added by the report).
    sites : sequence of str
        Host elements whose sites the dopants take.
    """
    from halidelab.composition import check_element, parse_amount, parse_formula

    amounts = parse_formula(parent)
    if not dopants:
        raise CompositionError("no dopants given: use e.g. --dopants Nb,Ta,In")
    if not sites:
        raise CompositionError("no site given: use e.g. --site Zr")
    for site in sites:
        if check_element(site) not in amounts:
            raise CompositionError(f"{parent} has no {site} site: sites are {', '.join(amounts)}")
    xs = [parse_amount(x) for x in xs]
    if not xs or all(x == 0 for x in xs):
        raise CompositionError("no positive dopant content: use e.g. --x 0.05..0.5:0.05")
    out: list[Candidate] = []
    seen = set()
    for site in sites:
        for d in dopants:
            el, q = _parse_dopant(d)
            for x in xs:
                if x <= 0:
                    continue
                c = Candidate(parent, el, check_element(site), round(float(x), 10), q)
                if c not in seen:
                    seen.add(c)
                    out.append(c)
    return out


def _parse_dopant(text: str) -> tuple[str, int | None]:
    import re

    from halidelab.composition import check_element

    m = re.fullmatch(r"\s*([A-Z][a-z]?)\s*(?:([+-]?)(\d)([+-]?))?\s*", text)
    if not m or (m.group(3) and not (bool(m.group(2)) ^ bool(m.group(4)))):
        raise CompositionError(f"cannot read dopant {text!r}: write an element, optionally with "
                               "its valence, e.g. Nb, Mo6+ or O2-")
    el, s1, n, s2 = m.groups()
    el = check_element(el)
    if n is None:
        return el, None
    sign = s1 or s2
    return el, int(n) * (-1 if sign == "-" else 1)


# -- the rules tier --------------------------------------------------------------------------
def rules_verdict(parent: str, substitutions: list[dict[str, Any]],
                  max_mismatch_percent: float | None = DEFAULT_MAX_MISMATCH_PERCENT,
                  prune_structure_change: bool = False) -> dict[str, Any]:
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
        "parent": base.formula, "substitutions": substitutions,
        "parent_t": base_fit.t,
        "parent_packing": f"{base_fit.packing.packing} {base_fit.packing.family}",
        "thresholds": {"max_mismatch_percent": max_mismatch_percent,
                       "prune_structure_change": prune_structure_change},
    }
    try:
        comp = design_composition(parent, [Substitution(**s) for s in substitutions])
    except CompositionError as exc:
        out.update(status="pruned", reasons=[f"impossible composition: {exc}"], formula=None,
                   structure_change=False, max_mismatch_percent=None, warnings=[])
        return out
    fit = assess(comp)
    mism = max((abs(f.mismatch_percent) for f in fit.dopants), default=0.0)
    change = (fit.packing.packing != base_fit.packing.packing
              or fit.packing.family != base_fit.packing.family)
    reasons = []
    if max_mismatch_percent is not None and mism > max_mismatch_percent:
        worst = max(fit.dopants, key=lambda f: abs(f.mismatch_percent))
        reasons.append(f"radius mismatch {worst.dopant} vs {worst.host} "
                       f"{worst.mismatch_percent:+.1f}% exceeds {max_mismatch_percent:g}%")
    warnings = list(fit.warnings)
    if change:
        msg = (f"structure change predicted: t {base_fit.t:.3f} -> {fit.t:.3f} "
               f"({base_fit.packing.packing} {base_fit.packing.family} -> "
               f"{fit.packing.packing} {fit.packing.family})")
        warnings.append(msg)
        if prune_structure_change:
            reasons.append(msg)
    out.update(
        status="pruned" if reasons else "pass", reasons=reasons, formula=comp.formula,
        t=fit.t, packing=f"{fit.packing.packing} {fit.packing.family}",
        max_mismatch_percent=mism, structure_change=change, warnings=warnings,
        li_vacancies_per_fu=comp.li_vacancies_per_fu,
        li_interstitials_per_fu=comp.li_interstitials_per_fu,
        composition=comp.to_dict(), fit=fit.to_dict(),
    )
    return out


@task_function("rules")
def rules_task(inputs: dict[str, Any]) -> dict[str, Any]:
    """Task kind ``rules``: :func:`rules_verdict` of one candidate."""
    return rules_verdict(inputs["parent"], inputs.get("substitutions", []),
                         inputs.get("max_mismatch_percent", DEFAULT_MAX_MISMATCH_PERCENT),
                         inputs.get("prune_structure_change", False))


# -- plans -----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ScreenSettings(Record):
    """Parameters of the expensive tiers (they go into the task keys).

    Attributes
    ----------
    tiers : tuple of str
        Subset of :data:`SCREEN_TIERS` (``rules`` is always run).
    max_mismatch_percent : float
    prune_structure_change : bool
    model : str
        MLIP for relaxation.
    max_atoms : int
        Largest supercell for the models.
    relax_steps : int
    fmax_eV_A : float
    bvse_resolution_A : float
    seed : int
    include_parent : bool
        Also model the undoped parent (x = 0), the reference of every series.
    n_configs : int
        Orderings per candidate for the models, relax and bvse tiers (the ranking uses the
        lowest-energy one and shows the spread over all of them).
    neb_top : int
        NEB runs for this many doped candidates only, the best by the cheaper tiers.
    neb_images, neb_steps : int
        CI-NEB images per hop and optimiser steps (also the endpoint relaxation steps).
    reference_steps : int
        Optimiser steps of each competing-phase relaxation (``stability`` tier).
    kmc_temperatures_K, kmc_runs, kmc_hops
        Kinetic Monte Carlo (``kmc`` tier) on every relaxed ordering's BVSE network and on
        the NEB networks the ``neb`` tier computed: temperatures (K), independent runs per
        temperature, hops per Li.
    """

    tiers: tuple[str, ...] = ("rules", "prior")
    max_mismatch_percent: float | None = DEFAULT_MAX_MISMATCH_PERCENT
    prune_structure_change: bool = False
    model: str = "chgnet"
    max_atoms: int = 140
    relax_steps: int = 250
    fmax_eV_A: float = 0.05
    bvse_resolution_A: float = 0.25
    seed: int = 0
    include_parent: bool = True
    n_configs: int = 3
    neb_top: int = 5
    neb_images: int = 5
    neb_steps: int = 300
    reference_steps: int = 300
    kmc_temperatures_K: tuple[float, ...] = (298.15, 323.15, 348.15, 373.15)
    kmc_runs: int = 8
    kmc_hops: float = 200.0
    provenance: Provenance = dataclasses.field(
        default_factory=lambda: Provenance(method="screening plan"))

    def __post_init__(self) -> None:
        if int(self.n_configs) != self.n_configs or self.n_configs < 1:
            raise HalidelabError(f"--configs must be an integer >= 1, got {self.n_configs}")
        if int(self.neb_top) != self.neb_top or self.neb_top < 1:
            raise HalidelabError(f"--neb-top must be an integer >= 1, got {self.neb_top}")
        for name in ("neb_images", "neb_steps", "reference_steps", "relax_steps", "max_atoms"):
            if getattr(self, name) < 1:
                raise HalidelabError(f"{name} must be >= 1, got {getattr(self, name)}")


def normalise_tiers(tiers: Sequence[str]) -> tuple[str, ...]:
    """Validate tiers; add ``rules``, ``models`` for relax/bvse, ``models`` and ``relax``
    for stability/neb (both work on relaxed structures)."""
    names = [t.strip().lower() for t in tiers if t.strip()]
    bad = [t for t in names if t not in SCREEN_TIERS]
    if bad:
        raise HalidelabError(f"unknown tier(s) {', '.join(bad)}: choose from {', '.join(SCREEN_TIERS)}")
    chosen = set(names) | {"rules"}
    if chosen & set(NEEDS_RELAX):
        chosen.add("relax")
    if chosen & {"relax", "bvse"}:
        chosen.add("models")
    return tuple(t for t in SCREEN_TIERS if t in chosen)


def rules_tasks(candidates: Sequence[Candidate], settings: ScreenSettings) -> list[Task]:
    """One ``rules`` task per candidate (plus the parent when ``include_parent``)."""
    cands = list(candidates)
    if settings.include_parent and cands:
        cands.insert(0, Candidate(cands[0].parent, "-", "-", 0.0))
    return [Task("rules", c.label if c.x > 0 else f"{c.parent} parent",
                 {"parent": c.parent, "substitutions": c.substitutions,
                  "max_mismatch_percent": settings.max_mismatch_percent,
                  "prune_structure_change": settings.prune_structure_change})
            for c in cands]


def model_task(parent: str, substitutions: list[dict[str, Any]], label: str,
               settings: ScreenSettings) -> Task:
    """The ``models`` task of one surviving composition."""
    return Task.of(ModelsInputs(parent=parent, substitutions=substitutions, supercell="auto", max_atoms=settings.max_atoms,
                        n_configs=settings.n_configs, seed=settings.seed), label)


def relax_task_for(structure: dict[str, Any], label: str, settings: ScreenSettings) -> Task:
    """The ``relax`` task of one ordering (inputs as ``halidelab reproduce`` writes them)."""
    return Task.of(RelaxInputs(structure=structure, model=settings.model, fmax=settings.fmax_eV_A,
                       steps=settings.relax_steps), label)


def neb_task_for(structure: dict[str, Any], label: str, settings: ScreenSettings) -> Task:
    """The ``neb`` task of one relaxed model: the kind and inputs ``halidelab reproduce``
    uses, so a reproduction and a screen share NEB results in one store."""
    return Task.of(NEBInputs(structure=structure, model=settings.model, hops="distinct", n_images=settings.neb_images,
                     fmax=settings.fmax_eV_A, steps=settings.neb_steps, endpoint_steps=settings.neb_steps), label)


@dataclasses.dataclass(frozen=True)
class CostEstimate(Record):
    """What a screen will cost before it starts.

    Attributes
    ----------
    rows : tuple of dict
        Per tier: ``tier``, ``tasks``, ``per_task_s`` (typical), ``low_s``, ``high_s``,
        ``total_s`` (typical, on ``workers``), ``source``.
    n_candidates, n_survivors : int
        Grid size, and candidates passing the rules (None when not yet known: then every
        candidate is assumed to survive).
    workers : int
    total_s, low_s, high_s : float
        Wall time on ``workers`` parallel workers (perfect scaling assumed; the benchmark
        measured the real efficiency).
    """

    rows: tuple[dict[str, Any], ...]
    n_candidates: int
    n_survivors: int | None
    workers: int
    total_s: float
    low_s: float
    high_s: float
    provenance: Provenance = dataclasses.field(
        default_factory=lambda: Provenance(method="screen cost estimate (measured per-tier costs)"))


def estimate_cost(n_candidates: int, settings: ScreenSettings, workers: int = 1,
                  n_survivors: int | None = None, n_atoms: int | None = None,
                  n_references: int | None = None,
                  neb_hops: tuple[int, int, int] | None = None) -> CostEstimate:
    """Wall-time estimate of a screen from :data:`TIER_COSTS`.

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
        Cell size for models/relax/BVSE/NEB (default ``settings.max_atoms``, an upper bound).
    n_references : int, optional
        Competing phases still to relax for the ``stability`` tier (default
        :data:`DEFAULT_N_REFERENCES`, the count of a Li-M-M'-Cl system).
    neb_hops : (int, int, int), optional
        NEB bands per study (low, typical, high); default :data:`NEB_HOPS`.

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
    atoms = n_atoms or settings.max_atoms
    hops = neb_hops or NEB_HOPS
    n_refs = DEFAULT_N_REFERENCES if n_references is None else n_references
    rows = []

    def add(tier: str, n: int, per: dict[str, float], source: str, cost: TierCost) -> None:
        active = min(workers, max(n, 1))
        tot = {w: (n * per[w] / active + (cost.per_worker_s if n else 0.0)) for w in per}
        rows.append({"tier": tier, "tasks": n, "per_task_s": per["typical_s"],
                     "low_s": tot["low_s"], "high_s": tot["high_s"], "total_s": tot["typical_s"],
                     "source": source})

    keys = ("low_s", "typical_s", "high_s")
    for tier in tiers:
        c = TIER_COSTS[tier]
        n = n_all if tier == "rules" else n_surv
        scale = atoms / c.ref_atoms if c.ref_atoms else 1.0
        source = c.source
        if tier in ("relax", "bvse", "kmc") and settings.n_configs > 1:
            n *= settings.n_configs
            source = f"{source}; {settings.n_configs} orderings per candidate"
        if tier == "models" and settings.n_configs > 1:
            source = f"{source}; {settings.n_configs} orderings kept from the same search"
        if tier == "bvse":
            per = {w: bvse_cost_s(settings.bvse_resolution_A, atoms, w) for w in keys}
        elif tier == "neb":
            n = min(settings.neb_top, n_doped)
            per = {w: getattr(c, w) * scale * h for w, h in zip(keys, hops, strict=True)}
            source = (f"top {n} of {n_doped} candidates (--neb-top {settings.neb_top}) x "
                      f"{hops[1]} bands ({hops[0]}-{hops[2]}) x {c.typical_s * scale:.0f} s per band; {c.source}")
        else:
            per = {w: getattr(c, w) * scale for w in keys}
        if tier == "stability":
            r = TIER_COSTS["stability-ref"]
            add("stability-ref", n_refs, {w: getattr(r, w) for w in keys},
                f"{n_refs} competing phases still to relax; {r.source}", r)
        add(tier, n, per, source, c)
    return CostEstimate(rows=tuple(rows), n_candidates=n_candidates, n_survivors=n_survivors,
                        workers=workers, total_s=sum(r["total_s"] for r in rows),
                        low_s=sum(r["low_s"] for r in rows), high_s=sum(r["high_s"] for r in rows))


def format_duration(seconds: float) -> str:
    """``"45 s"``, ``"12 min"``, ``"3.2 h"``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


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


def run_stage(tasks: Sequence[Task], store: Any, client: Any | None = None, progress: bool = True,
              title: str = "tasks", poll_s: float = 1.0, wait_s: float = 24 * 3600.0) -> Any:
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
            raise HalidelabError(f"{len(busy)} task(s) held by another run for over {wait_s:.0f} s; "
                                 "rerun when that run has finished")
        time.sleep(poll_s)
        again = run_tasks([t for t in tasks if t.key in busy], store, client=client,
                          progress=False, title=title)
        summary.computed += again.computed
        summary.skipped += again.skipped
        summary.failed.update(again.failed)
        busy = set(again.busy)
    summary.busy = []
    return summary


def run_screen(candidates: Sequence[Candidate], store: Any, settings: ScreenSettings,
               client: Any | None = None, progress: bool = True, workers: int = 1,
               confirm: Any | None = None) -> ScreenOutput:
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
            s = run_stage(tasks, store, client=None if local else client, progress=progress,
                          title=title)
            failed.update(s.failed)
            counts["computed"] += len(s.computed)
            counts["skipped"] += len(s.skipped)

    def output(est: CostEstimate, n_real: int, pruned: list[dict[str, Any]],
               neb_selected: list[str] | None = None) -> ScreenOutput:
        return ScreenOutput(len(candidates), n_real, pruned, est, failed, counts["computed"],
                            counts["skipped"], time.perf_counter() - t0, notes, neb_selected or [])

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
    est = estimate_cost(len(candidates), settings, workers=workers, n_survivors=n_real,
                        n_references=n_refs)
    if confirm is not None and not confirm(est):
        return output(est, n_real, pruned)

    prior_t = [Task.of(PriorInputs.of(r["formula"]), r["formula"]) for _, r in survivors] if "prior" in tiers else []
    model_t = {t.key: model_task(t.inputs["parent"], t.inputs["substitutions"], t.label, settings)
               for t, _ in survivors} if "models" in tiers else {}
    stage([*prior_t, *model_t.values()], "prior, models")

    # every ordering of every model: (rules key, configuration index) -> structure
    structures: dict[tuple[str, int], tuple[str, dict[str, Any]]] = {}
    modelled: dict[str, dict[str, Any]] = {}
    for k, mt in model_t.items():
        m = store.result(mt.key)
        if m and m.get("configurations"):
            modelled[k] = m
            for c in m["configurations"]:
                structures[(k, int(c["index"]))] = (f"{mt.label} c{int(c['index'])}", c["structure"])
    relax_t = {ki: relax_task_for(s, lab, settings)
               for ki, (lab, s) in structures.items()} if "relax" in tiers else {}
    stage(list(relax_t.values()), f"relax ({settings.model})")
    relaxed = {ki: store.result(t.key) for ki, t in relax_t.items()}

    bvse_t = []
    if "bvse" in tiers:
        for ki, (lab, s) in structures.items():
            rel = relaxed.get(ki)
            src = rel["structure"] if rel else s
            bvse_t.append(Task.of(BVSEInputs(structure=src, resolution_A=settings.bvse_resolution_A), f"{lab}{' relaxed' if rel else ''}"))
    stage(bvse_t, "bvse")

    if "stability" in tiers:
        stage(_unique_reference_tasks(systems), f"stability: competing phases ({settings.model})")
        hull_t = []
        for t, r in survivors:
            if t.key not in modelled:
                continue
            task, why = hull_task_for(t.label, r["formula"], modelled[t.key],
                                      {i: rel for (k, i), rel in relaxed.items() if k == t.key},
                                      systems.get(_system(r["formula"]), "not planned"), store)
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


def kmc_tasks_for(structures: dict[tuple[str, int], tuple[str, dict[str, Any]]],
                  relaxed: dict[tuple[str, int], dict[str, Any] | None], neb_tasks: Sequence[Task],
                  store: Any, settings: ScreenSettings) -> list[Task]:
    """``kmc`` tasks: one per relaxed ordering on its BVSE network, one per finished NEB
    study on its NEB network (inputs as ``halidelab reproduce`` writes them)."""
    common = {"temperatures_K": [float(t) for t in settings.kmc_temperatures_K], "n_runs": settings.kmc_runs,
              "hops_per_carrier": float(settings.kmc_hops), "seed": settings.seed}
    out = []
    for ki, (lab, _) in structures.items():
        rel = relaxed.get(ki)
        if rel:
            out.append(Task.of(KMCInputs(structure=rel["structure"], source="bvse", **common), f"{lab} bvse"))
    for t in neb_tasks:
        study = store.result(t.key)
        if study and study.get("results"):
            out.append(Task.of(KMCInputs(structure=t.inputs["structure"], source="neb", study=study,
                                 **common), f"{t.label} neb"))
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
        inputs = relax_inputs(_BUILT[spec.name], settings.model, settings.fmax_eV_A,
                              settings.reference_steps, spec.relax_cell)
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


def reference_plan(systems: Iterable[str | frozenset[str] | None], settings: ScreenSettings
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
    return {"name": spec.name, "formula": Composition(spec.formula).reduced_formula,
            "energy_per_atom_eV": float(result["energy_per_atom_eV"]),
            "volume_per_atom_A3": s.volume / len(s), "n_atoms": len(s),
            "converged": bool(result["converged"]), "approximate": bool(spec.approximate),
            "measured_volume_A3_per_fu": spec.measured_volume_A3_per_fu,
            "volume_A3_per_fu": s.volume / n_fu, "source": spec.source,
            "structure": result["structure"], "model": prov.get("model"),
            "model_version": prov.get("model_version"),
            "parameters": {"fmax": result.get("fmax_target_eV_A"), "steps": result.get("max_steps"),
                           "relax_cell": spec.relax_cell}}


def hull_task_for(label: str, formula: str, models: dict[str, Any], relaxed: dict[int, Any],
                  plan: list[tuple[Any, Task]] | str, store: Any) -> tuple[Task | None, str]:
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
    confs = [{"index": i, "structure": r["structure"], "energy_per_atom_eV": float(r["energy_per_atom_eV"]),
              "converged": bool(r["converged"]), "model": (r.get("provenance") or {}).get("model")}
             for i, r in sorted(relaxed.items()) if r]
    if not confs:
        return None, "no relaxed ordering (relax failed): no hull"
    return Task("hull", label, {"formula": models.get("formula_modelled", formula),
                               "configurations": confs, "references": refs}), ""


def select_neb(survivors: Sequence[tuple[Task, dict[str, Any]]], store: Any,
               settings: ScreenSettings) -> tuple[list[Task], list[str], list[str]]:
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

    want = {sub_key(r["parent"], t.inputs["substitutions"]) for t, r in survivors
            if t.inputs["substitutions"]}
    parents = {r["parent"] for _, r in survivors}
    pool = [c for p in parents for c in gather(store, p) if c.key in want and c.passed]
    scored = [(c, score_candidate(dataclasses.replace(c, neb=None))) for c in pool]
    scored.sort(key=lambda cs: (BASES.index(cs[1]["basis"]),
                                cs[1]["score_eV"] if cs[1]["score_eV"] is not None else math.inf,
                                abs(cs[1]["mismatch_percent"] or 0.0), cs[0].label))
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


def parse_x_spec(spec: str) -> list[float]:
    """Contents from ``"0.05..0.5:0.05"`` or ``"0.1,0.2"`` (see composition.parse_x_values)."""
    from halidelab.composition import parse_x_values

    xs = parse_x_values(spec)
    if any(not math.isfinite(x) for x in xs):
        raise CompositionError(f"non-finite content in {spec!r}")
    return xs


# -- executors -------------------------------------------------------------------------------
#: Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536 (to return memory to the
#: OS). Setting any malloc threshold switches off glibc's dynamic mmap threshold, so every
#: large numpy temporary is mmap'ed and zero-filled afresh: a BVSE map at 0.25 A took 7.6 s
#: of CPU with it and 3.7 s without (this machine, same structure). Screening workers keep
#: glibc's default.
NANNY_ENVIRON_FIX = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


def local_cluster(n_workers: int, **kwargs: Any) -> Any:
    """A Dask LocalCluster of single-threaded worker processes for screening tasks.

    Workers are processes (MLIP and numpy work parallelise across processes, not threads
    on a CPU) without Dask's malloc trim setting (see :data:`NANNY_ENVIRON_FIX`).
    """
    import dask
    from distributed import LocalCluster

    if n_workers < 1:
        raise HalidelabError(f"workers must be >= 1, got {n_workers}")
    opts: dict[str, Any] = dict(n_workers=n_workers, threads_per_worker=1, processes=True,
                                dashboard_address=None, silence_logs=40)
    opts.update(kwargs)
    with dask.config.set(NANNY_ENVIRON_FIX):
        return LocalCluster(**opts)


def jobqueue_cluster(kind: str, cores: int = 4, processes: int | None = None, memory: str = "8GB",
                     walltime: str = "04:00:00", queue: str | None = None,
                     account: str | None = None, python: str | None = None,
                     job_extra: Sequence[str] = ()) -> Any:
    """A dask-jobqueue cluster (not yet scaled: call ``.scale(jobs=N)`` to submit).

    Each job is one batch job running ``processes`` single-threaded Dask workers (default:
    one per core; on CPUs the MLIP tiers parallelise across processes, not threads, and
    each worker loads its model once).

    Parameters
    ----------
    kind : str
        ``"slurm"`` or ``"pbs"``.
    cores, processes : int
        Cores per job and worker processes per job.
    memory : str
        Memory per job, e.g. ``"16GB"``.
    walltime : str
        ``HH:MM:SS`` per job.
    queue, account : str, optional
        Partition/queue and account to charge.
    python : str, optional
        Python on the compute nodes (default: this interpreter).
    job_extra : sequence of str
        Extra scheduler directives, e.g. ``["--constraint=skylake"]``.

    Raises
    ------
    HalidelabError
        Unknown kind, or dask-jobqueue not installed.
    """
    import sys

    kind = kind.lower().strip()
    if kind not in ("slurm", "pbs"):
        raise HalidelabError(f"unknown cluster kind {kind!r}: use slurm or pbs (or --scheduler ADDRESS)")
    if cores < 1:
        raise HalidelabError(f"cores per job must be >= 1, got {cores}")
    try:
        import dask_jobqueue
    except ModuleNotFoundError:
        raise HalidelabError("--cluster needs dask-jobqueue, which is not installed: "
                             "pip install 'halidelab[cluster]'") from None
    cls = dask_jobqueue.SLURMCluster if kind == "slurm" else dask_jobqueue.PBSCluster
    kwargs: dict[str, Any] = dict(
        cores=cores, processes=processes or cores, memory=memory, walltime=walltime,
        job_name="halidelab", python=python or sys.executable,
        scheduler_options={"dashboard_address": None},
    )
    if queue:
        kwargs["queue"] = queue
    if account:
        kwargs["account"] = account
    if job_extra:
        kwargs["job_extra_directives"] = list(job_extra)
    return cls(**kwargs)
