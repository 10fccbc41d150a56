"""Ranking screened candidates: one documented score, every component visible.

The score is an *effective barrier* in eV (lower is better)::

    score_eV = barrier_eV + mismatch_penalty_eV + structure_penalty_eV + stability_penalty_eV

barrier_eV (the basis, named in every row)
    ``neb``: when a CI-NEB study (task kind ``neb``) exists for the candidate's (relaxed)
    model, its MLIP 3D percolation barrier (``percolation.ea_3d_eV``: the lowest hop
    barrier at which the hop graph connects in 3D).
    ``bvse``: the BVSE 3D percolation barrier of the (relaxed, when relaxed) supercell, the
    energy at which Li+ paths connect in three independent directions (a quasi-1D
    conductor scores its 3D barrier, not its easy 1D one). No 3D path below the map's
    ceiling scores the ceiling (``e_max_eV``) and says so.
    ``prior``: without BVSE, the activation energy that gives the prior's sigma(T) with a
    typical halide Arrhenius prefactor, Ea = k_B T ln(A / (sigma T)),
    A = :data:`PRIOR_PREFACTOR_S_K_CM` (Li2ZrCl6: 0.5 mS/cm at 298 K with 0.33 eV gives
    A ~ 1e5 S K/cm). NEB, BVSE and prior numbers are on different scales (BVSE barriers of
    ideal ordered cells run higher than measured activation energies), so the bases are
    *not* comparable: candidates are ranked by basis first (neb, bvse, prior), then by
    score, and the basis column says which is which.
mismatch_penalty_eV
    :attr:`Weights.mismatch_eV_per_percent` per percent of |ionic-radius mismatch| beyond
    :attr:`Weights.mismatch_free_percent` (solubility falls with mismatch).
structure_penalty_eV
    :attr:`Weights.structure_change_eV` when the radius ratio predicts another packing or
    structure family than the parent's (a phase change the lab may not want).
stability_penalty_eV
    When a stability result (task kind ``hull`` from the screen's ``stability`` tier, or
    ``stability-hull``; field ``e_above_hull_eV_atom`` of the lowest-energy ordering) is
    present: :attr:`Weights.stability_eV_per_eV_atom` x (E_hull - tolerance)+. Where some
    candidates have one and others not, the others say so in their warnings.

The weights are judgement, not physics: they are parameters, printed in the report, and
a user can set them. Uncertainty of the score: BVSE grid discretisation of barrier
differences (:data:`BVSE_UNCERTAINTY_EV_PER_A` x resolution, measured by refining the
grid), :data:`NEB_UNCERTAINTY_EV` for an NEB barrier, or the prior's 90 % interval
converted the same way as its value (1 sigma = half-width / 1.645); in quadrature with the
spread over orderings when a candidate was modelled with several
(``config_uncertainty_eV``, the standard deviation of the BVSE 3D barrier over its
relaxed orderings; also used for an NEB barrier, which runs on the lowest-energy ordering
only). With several orderings, every value of a candidate (barrier, lattice, NEB, hull)
is that of its lowest-energy relaxed ordering (``best_config``), and the range over
orderings is shown (``config_barriers_eV``, ``config_spread_eV``,
``config_energy_spread_meV_atom``, ``e_above_hull_spread_eV_atom``).
Two candidates whose scores differ by less than the combined uncertainty are marked tied.

An NEB study whose bands did not all converge keeps its barrier (computed from the
converged bands only) but is marked: ``neb_converged`` False, ``neb_bands_converged`` of
``neb_bands``, and a warning; one that gave no 3D percolation barrier is not used.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from halidelab.constants import K_B_EV_K as K_B_EV
from halidelab.records import Provenance, Record
from halidelab.rules import MEASURED_MISMATCH_PERCENT
from halidelab.screening.tasks import canonical_json

#: Arrhenius prefactor sigma*T of a typical halide conductor, S K / cm (Li2ZrCl6, Chen 2025:
#: 0.5 mS/cm at 298 K with Ea ~0.33 eV gives 1.1e5).
PRIOR_PREFACTOR_S_K_CM = 1.0e5
#: Grid error of the *difference* between two candidates' BVSE barriers per angstrom of
#: grid spacing, eV/A. Measured on Li2ZrCl6 and Li(2-x)Zr(1-x)Nb(x)Cl6 (x = 0.2, 0.4) at
#: 0.5/0.25/0.2 A: absolute 3D barriers fall by ~0.35 eV per A of refinement (0.737 ->
#: 0.654 -> 0.630 eV for x = 0.2), but the differences to the parent stay within 0.007 eV
#: (0.039/0.038/0.039 eV for x = 0.2). 0.03 eV/A (0.015 eV at 0.5 A) is twice that.
#: Ranking compares candidates on one grid; mixed grids are flagged.
BVSE_UNCERTAINTY_EV_PER_A = 0.03
#: Systematic shift of absolute BVSE barriers per A of grid spacing (see above), eV/A.
BVSE_BIAS_EV_PER_A = 0.35
#: 1-sigma uncertainty given to an MLIP CI-NEB percolation barrier, eV. Judgement, not a
#: measurement: NEB converged to fmax 0.05 eV/A resolves barriers to ~0.01-0.02 eV; the
#: MLIP's own error against DFT (~0.05-0.1 eV) is larger but largely shared between
#: candidates of one parent.
NEB_UNCERTAINTY_EV = 0.03
#: Basis order: a lower index ranks first.
BASES = ("neb", "bvse", "prior", "rules")


@dataclasses.dataclass(frozen=True)
class Weights(Record):
    """Penalty weights of the score (all in eV of effective barrier).

    Attributes
    ----------
    mismatch_eV_per_percent : float
        eV per percent of |mismatch| beyond ``mismatch_free_percent`` (a stated, not a
        fitted, slope: no data set relates mismatch to sigma).
    mismatch_free_percent : float
        Mismatch that costs nothing, percent: the largest mismatch among the measured
        substituted halides of the literature table
        (:data:`halidelab.rules.MEASURED_MISMATCH_PERCENT`).
    structure_change_eV : float
        Penalty for a predicted change of packing or structure family.
    stability_eV_per_eV_atom : float
        eV of score per eV/atom above the hull beyond ``stability_tolerance_eV_atom``.
    stability_tolerance_eV_atom : float
        Metastability tolerated for free (ball-milled phases are metastable), eV/atom.
    """

    mismatch_eV_per_percent: float = 0.005
    mismatch_free_percent: float = MEASURED_MISMATCH_PERCENT
    structure_change_eV: float = 0.10
    stability_eV_per_eV_atom: float = 1.0
    stability_tolerance_eV_atom: float = 0.030
    provenance: Provenance = dataclasses.field(
        default_factory=lambda: Provenance(method="score weights")
    )


@dataclasses.dataclass
class CandidateResults:
    """Everything the store holds about one candidate (None where a tier did not run).

    Attributes
    ----------
    label, parent, formula : str
    dopant, site : str or None
        None for the parent itself.
    x : float
    rules, prior, models, relax, bvse, neb, stability : dict or None
        Stored results of each tier (``neb``: task kind ``neb``; ``stability``: task kind
        ``hull`` or ``stability-hull``, a ``HullResult`` dict).
    lattice : dict or None
        ``a_A``, ``c_A`` of the prototype cell, ``volume_per_fu_A3`` and ``source``
        (MLIP-relaxed, or the Vegard estimate of the model builder).
    key : str
        Parent and substitutions (:func:`sub_key`), the candidate's identity.
    configurations : list of dict
        One per ordering of the model: ``index``, ``relax``, ``bvse`` (dict or None),
        ``energy_per_atom_eV`` (relaxed, or None).
    best_config : int
        Index of the lowest-energy relaxed ordering (0, the lowest Ewald energy, when none
        is relaxed); ``relax``, ``bvse`` and ``lattice`` are its values.
    neb_config : int or None
        Ordering the NEB study ran on.
    state : str
        Synthesis state of the models (``annealed`` or ``ball-milled``).
    ensemble : dict
        :func:`halidelab.ensemble.summarize_members` over every ordering: mean, spread and
        standard error of the lattice, barriers and KMC results.
    """

    label: str
    parent: str
    formula: str | None
    dopant: str | None
    site: str | None
    x: float
    rules: dict[str, Any]
    prior: dict[str, Any] | None = None
    models: dict[str, Any] | None = None
    relax: dict[str, Any] | None = None
    bvse: dict[str, Any] | None = None
    neb: dict[str, Any] | None = None
    stability: dict[str, Any] | None = None
    lattice: dict[str, Any] | None = None
    key: str = ""
    configurations: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    best_config: int = 0
    neb_config: int | None = None
    state: str = "annealed"
    ensemble: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Whether the rules tier kept it."""
        return self.rules.get("status") == "pass"


@dataclasses.dataclass(frozen=True)
class RankedCandidate(Record):
    """One row of the ranking.

    Attributes
    ----------
    rank : int
        1 = best; tied candidates keep distinct ranks but list each other in ``tied_with``.
    label, formula : str
    dopant : str or None
    x : float
    basis : str
        ``neb``, ``bvse``, ``prior`` or ``rules`` (no transport estimate: unranked by score).
    score_eV, score_uncertainty_eV : float or None
    barrier_eV : float or None
    barrier_note : str
    mismatch_percent : float or None
    mismatch_penalty_eV, structure_penalty_eV, stability_penalty_eV : float
    bvse_1d_eV, bvse_2d_eV, bvse_3d_eV : float or None
    neb_3d_eV : float or None
        MLIP CI-NEB 3D percolation barrier when a NEB study exists.
    prior_log10_sigma_S_cm, prior_log10_low, prior_log10_high : float or None
    prior_in_domain : bool or None
    e_above_hull_eV_atom : float or None
    tied_with : tuple of int
        Ranks whose score is within the combined uncertainty.
    warnings : tuple of str
    decomposition : str or None
        ``"stable"`` or the hull products with atom fractions, e.g. ``"LiCl 0.40 + ZrCl4 0.60"``.
    e_above_hull_spread_eV_atom : float or None
        Range of E_hull over the orderings (None with one).
    neb_converged : bool or None
        Every NEB band converged with endpoints on their sites (None: no NEB).
    neb_bands, neb_bands_converged : int or None
        NEB bands (hops and Li-i-Li paths) run, and how many converged.
    n_configs : int
        Orderings modelled.
    best_config : int or None
        The lowest-energy relaxed ordering whose values are used.
    config_barriers_eV : tuple of float
        BVSE 3D barrier of each ordering (ordering index order; the ceiling where none).
    config_spread_eV : float or None
        max - min of ``config_barriers_eV`` (None with fewer than two).
    config_uncertainty_eV : float or None
        Their standard deviation (ddof=1): the component in ``score_uncertainty_eV``.
    config_energy_spread_meV_atom : float or None
        Range of the relaxed MLIP energies over the orderings.
    """

    rank: int
    label: str
    formula: str
    dopant: str | None
    x: float
    basis: str
    score_eV: float | None
    score_uncertainty_eV: float | None
    barrier_eV: float | None
    barrier_note: str
    mismatch_percent: float | None
    mismatch_penalty_eV: float
    structure_penalty_eV: float
    stability_penalty_eV: float
    bvse_1d_eV: float | None
    bvse_2d_eV: float | None
    bvse_3d_eV: float | None
    neb_3d_eV: float | None
    prior_log10_sigma_S_cm: float | None
    prior_log10_low: float | None
    prior_log10_high: float | None
    prior_in_domain: bool | None
    e_above_hull_eV_atom: float | None
    tied_with: tuple[int, ...]
    warnings: tuple[str, ...]
    decomposition: str | None = None
    e_above_hull_spread_eV_atom: float | None = None
    neb_converged: bool | None = None
    neb_bands: int | None = None
    neb_bands_converged: int | None = None
    n_configs: int = 1
    best_config: int | None = None
    config_barriers_eV: tuple[float, ...] = ()
    config_spread_eV: float | None = None
    config_uncertainty_eV: float | None = None
    config_energy_spread_meV_atom: float | None = None
    provenance: Provenance = dataclasses.field(
        default_factory=lambda: Provenance(method="halidelab screening score")
    )


def _shash(structure: dict[str, Any]) -> str:
    return hashlib.sha1(canonical_json(structure).encode()).hexdigest()


def sub_key(parent: str, subs: list[dict[str, Any]]) -> str:
    """Identity of a candidate: its parent formula and substitutions (order-free)."""
    return canonical_json(
        [parent, sorted((s["dopant"], s["site"], round(float(s["x"]), 8)) for s in subs)]
    )


_sub_key = sub_key


def gather(store: Any, parent: str | None = None) -> list[CandidateResults]:
    """Join the store's rows into one record per screened candidate.

    Rows are matched by content, not by label: ``prior`` by formula, ``models`` by parent
    and substitutions, ``relax`` by the hash of the model structure it started from,
    ``bvse`` by the hash of the structure it was given (the relaxed one preferred, then the
    finest grid, then the latest: a map of the relaxed cell and one of it scaled to another
    volume are two maps of one structure), ``neb`` by the hash of the structure it ran on,
    ``hull`` (the screen's stability tier) by the hashes of the relaxed orderings it was
    built from (the hull covering most of them wins), ``stability-hull`` by structure or
    formula. Every ordering of the model is joined (:attr:`CandidateResults.configurations`); the
    candidate's own values are those of its lowest-energy relaxed ordering. Where a tier
    ran more than once with different settings, the latest finished row wins.

    Parameters
    ----------
    store : Store
    parent : str, optional
        Keep only candidates of this parent formula.
    """
    from halidelab.composition import format_formula, parse_formula

    want = format_formula(parse_formula(parent)) if parent else None

    def latest(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {r["key"]: r for r in sorted(rows, key=lambda r: r.get("updated_utc") or "")}

    by_kind: dict[str, list[dict[str, Any]]] = {}
    for r in store.rows(status="done"):
        by_kind.setdefault(r["kind"], []).append(r)
    prior_by_formula = {}
    for r in latest(by_kind.get("prior", [])).values():
        prior_by_formula[r["inputs"].get("formula")] = r["result"]
    models_by_sub: dict[str, dict[str, dict[str, Any]]] = {}
    for r in latest(by_kind.get("models", [])).values():
        inp = r["inputs"]
        models_by_sub.setdefault(_sub_key(inp["parent"], inp.get("substitutions", [])), {})[
            inp.get("state", "annealed")
        ] = r["result"]
    kmc_by_struct: dict[tuple[str, str], dict[str, Any]] = {}
    for r in latest(by_kind.get("kmc", [])).values():
        kmc_by_struct[(_shash(r["inputs"]["structure"]), r["inputs"].get("source", "bvse"))] = r[
            "result"
        ]
    relax_by_start = {}
    for r in latest(by_kind.get("relax", [])).values():
        relax_by_start[_shash(r["inputs"]["structure"])] = r["result"]
    bvse_by_struct: dict[str, list[dict[str, Any]]] = {}
    # latest first: among maps of one structure on the finest grid (one on its own volume
    # and one scaled, say), the latest wins, as for every other tier
    for r in sorted(by_kind.get("bvse", []), key=lambda r: r.get("updated_utc") or "")[::-1]:
        bvse_by_struct.setdefault(_shash(r["inputs"]["structure"]), []).append(r["result"])
    neb_by_struct = {}
    for r in latest(by_kind.get("neb", [])).values():
        neb_by_struct[_shash(r["inputs"]["structure"])] = r["result"]
    stab_by_formula, stab_by_struct = {}, {}
    for r in latest(by_kind.get("stability-hull", [])).values():
        if r["inputs"].get("structure") is not None:
            stab_by_struct[_shash(r["inputs"]["structure"])] = r["result"]
        for f in {r["inputs"].get("formula"), (r["result"] or {}).get("formula")} - {None}:
            stab_by_formula[f] = r["result"]
    # screen hulls (kind "hull"): one per candidate over its relaxed orderings
    hull_rows: dict[str, list[tuple[set[str], str, dict[str, Any]]]] = {}
    for r in by_kind.get("hull", []):
        hashes = {_shash(c["structure"]) for c in r["inputs"].get("configurations", [])}
        for h in hashes:
            hull_rows.setdefault(h, []).append((hashes, r.get("updated_utc") or "", r["result"]))

    out: dict[tuple[str, str], CandidateResults] = {}
    for r in sorted(by_kind.get("rules", []), key=lambda r: r.get("updated_utc") or ""):
        res, inp = r["result"], r["inputs"]
        if want and res.get("parent") != want:
            continue
        subs = inp.get("substitutions", [])
        key = sub_key(res["parent"], subs)
        by_state = models_by_sub.get(key) or {"annealed": None}
        for state, models in by_state.items():
            c = CandidateResults(
                label=r["label"] + ("" if state == "annealed" else f" ({state})"),
                parent=res["parent"],
                formula=res.get("formula"),
                dopant=subs[0]["dopant"] if subs else None,
                site=subs[0]["site"] if subs else None,
                x=float(sum(s["x"] for s in subs)),
                rules=res,
                key=key,
                state=state,
            )
            if c.formula:
                c.prior = prior_by_formula.get(c.formula)
                c.stability = stab_by_formula.get(c.formula)
            c.models = models
            if c.models and c.models.get("configurations"):
                _join_configurations(
                    c,
                    relax_by_start,
                    bvse_by_struct,
                    neb_by_struct,
                    stab_by_struct,
                    hull_rows,
                    kmc_by_struct,
                )
            out[(key, state)] = c  # a later rules row (other thresholds) replaces an earlier one
    return sorted(
        out.values(), key=lambda c: (c.parent, c.dopant or "", c.site or "", c.x, c.state)
    )


def _join_configurations(
    c: CandidateResults,
    relax_by_start: dict[str, Any],
    bvse_by_struct: dict[str, list[dict[str, Any]]],
    neb_by_struct: dict[str, Any],
    stab_by_struct: dict[str, Any],
    hull_rows: dict[str, list[tuple[set[str], str, dict[str, Any]]]],
    kmc_by_struct: dict[tuple[str, str], dict[str, Any]] | None = None,
) -> None:
    """Attach every ordering's relax/BVSE/NEB/KMC to ``c``, its ensemble statistics, and
    pick the lowest-energy ordering."""
    from halidelab.ensemble import summarize_members
    from halidelab.structures.models import primitive_lattice

    confs = []
    for cf in c.models["configurations"]:
        s = cf["structure"]
        rel = relax_by_start.get(_shash(s))
        cands = bvse_by_struct.get(_shash(rel["structure"]), []) if rel else []
        cell = "relaxed"
        if not cands:
            cands = bvse_by_struct.get(_shash(s), [])
            cell = "model (unrelaxed)"
        hashes = ([_shash(rel["structure"])] if rel else []) + [_shash(s)]
        kmc = kmc_by_struct or {}
        bv = min(cands, key=lambda b: b.get("resolution_A", 1.0)) if cands else None
        if bv and bv.get("scaled_to_volume_per_atom_A3") is not None:
            cell += (
                f", scaled to the model's volume ({bv['scaled_to_volume_per_atom_A3']:.2f} "
                f"A3/atom; given {bv['given_volume_per_atom_A3']:.2f})"
            )
        confs.append(
            {
                "index": int(cf.get("index", len(confs))),
                "relax": rel,
                "bvse": bv,
                "bvse_cell": cell if bv else None,
                "energy_per_atom_eV": float(rel["energy_per_atom_eV"]) if rel else None,
                "neb": next((neb_by_struct[h] for h in hashes if h in neb_by_struct), None),
                "kmc_bvse": next((kmc[(h, "bvse")] for h in hashes if (h, "bvse") in kmc), None),
                "kmc_neb": next((kmc[(h, "neb")] for h in hashes if (h, "neb") in kmc), None),
                "disorder": cf.get("disorder"),
                "hashes": hashes,
            }
        )
    relaxed = [x for x in confs if x["energy_per_atom_eV"] is not None]
    best = min(relaxed, key=lambda x: x["energy_per_atom_eV"]) if relaxed else confs[0]
    c.configurations = [
        {k: v for k, v in x.items() if k not in ("hashes", "neb", "kmc_bvse", "kmc_neb")}
        for x in confs
    ]
    c.ensemble = summarize_members(
        [
            {
                **x,
                "supercell_matrix": c.models["supercell_matrix"],
                "n_formula_units": c.models["n_formula_units"],
            }
            for x in confs
        ]
    )
    c.best_config = best["index"]
    c.relax, c.bvse = best["relax"], best["bvse"]
    # NEB of the lowest-energy ordering first, else of any other one
    for x in [best, *[y for y in confs if y is not best]]:
        h = next((h for h in x["hashes"] if h in neb_by_struct), None)
        if h is not None:
            c.neb, c.neb_config = neb_by_struct[h], x["index"]
            break
    c.stability = next(
        (stab_by_struct[h] for h in best["hashes"] if h in stab_by_struct), c.stability
    )
    mine = {h for x in confs for h in x["hashes"]}
    hulls = [row for h in mine for row in hull_rows.get(h, [])]
    if hulls:  # the hull that covers most of these orderings, then the latest
        c.stability = max(hulls, key=lambda row: (len(row[0] & mine), row[1]))[2]
    if c.relax:
        lat = primitive_lattice(c.relax["structure"], c.models["supercell_matrix"])
        vol = abs(float(np.linalg.det(np.asarray(c.relax["structure"]["lattice"]["matrix"]))))
        c.lattice = {
            "a_A": lat["a_A"],
            "c_A": lat["c_A"],
            "volume_per_fu_A3": vol / c.models["n_formula_units"],
            "source": f"relaxed ({c.relax.get('provenance', {}).get('model', 'MLIP')})",
        }
    else:
        est = c.models.get("lattice_estimate", {})
        if est.get("a_A") is not None:
            c.lattice = {
                "a_A": est["a_A"],
                "c_A": est.get("c_A"),
                "volume_per_fu_A3": est.get("volume_per_fu_A3"),
                "source": "Vegard estimate",
            }


def prior_equivalent_barrier_eV(
    log10_sigma_S_cm: float,
    temperature_K: float = 298.15,
    prefactor_S_K_cm: float = PRIOR_PREFACTOR_S_K_CM,
) -> float:
    """Ea (eV) that gives sigma at T with sigma T = A exp(-Ea / k_B T)."""
    return (
        K_B_EV
        * temperature_K
        * math.log(10.0)
        * (math.log10(prefactor_S_K_cm / temperature_K) - log10_sigma_S_cm)
    )


def _config_component(c: CandidateResults) -> dict[str, Any]:
    """Spread of the BVSE 3D barrier and of the relaxed energy over a candidate's orderings."""
    vals = []
    for x in c.configurations:
        b = x.get("bvse")
        if b:
            vals.append(
                float(b["e_3d_eV"])
                if b.get("e_3d_eV") is not None
                else float(b.get("e_max_eV") or 5.0)
            )
    energies = [
        x["energy_per_atom_eV"] for x in c.configurations if x.get("energy_per_atom_eV") is not None
    ]
    many = len(vals) >= 2
    return {
        "n_configs": max(len(c.configurations), 1),
        "best_config": c.best_config if c.configurations else None,
        "config_barriers_eV": tuple(vals),
        "config_spread_eV": (max(vals) - min(vals)) if many else None,
        "config_uncertainty_eV": float(np.std(vals, ddof=1)) if many else None,
        "config_energy_spread_meV_atom": (
            1000.0 * (max(energies) - min(energies)) if len(energies) >= 2 else None
        ),
    }


def _decomposition(stab: dict[str, Any]) -> str | None:
    if stab.get("stable"):
        return "stable"
    prods = stab.get("products") or []
    if not prods:
        return None
    return " + ".join(f"{p['formula']} {float(p['atom_fraction']):.2f}" for p in prods)


def score_candidate(c: CandidateResults, weights: Weights | None = None) -> dict[str, Any]:
    """Score components of one candidate (see the module docstring)."""
    w = weights or Weights()
    rules = c.rules
    warnings = list(rules.get("warnings", []))
    mism = rules.get("max_mismatch_percent")
    mis_pen = (
        w.mismatch_eV_per_percent * max(0.0, abs(mism) - w.mismatch_free_percent)
        if mism is not None
        else 0.0
    )
    struct_pen = w.structure_change_eV if rules.get("structure_change") else 0.0
    ehull = ehull_spread = decomposition = None
    stab_pen = 0.0
    if c.stability and c.stability.get("e_above_hull_eV_atom") is not None:
        ehull = float(c.stability["e_above_hull_eV_atom"])
        stab_pen = w.stability_eV_per_eV_atom * max(0.0, ehull - w.stability_tolerance_eV_atom)
        decomposition = _decomposition(c.stability)
        per = [float(x["e_above_hull_eV_atom"]) for x in c.stability.get("configurations") or []]
        ehull_spread = (max(per) - min(per)) if len(per) >= 2 else None
        warnings.extend(f"stability: {m}" for m in c.stability.get("warnings") or [])
    barrier = unc = None
    note = ""
    basis = "rules"
    b = c.bvse
    cfg = _config_component(c)
    neb_conv = n_bands = n_conv = None
    perc = (c.neb or {}).get("percolation") or {}
    if c.neb:
        bands = c.neb.get("results") or []
        n_bands = len(bands)
        n_conv = sum(1 for r in bands if r.get("converged") and r.get("endpoints_ok", True))
        neb_conv = bool(c.neb.get("all_converged", n_conv == n_bands))
        if not neb_conv:
            warnings.append(
                f"not every NEB converged ({n_conv} of {n_bands} bands): "
                "the NEB barrier comes from the converged bands only and may be off"
            )
        if perc.get("ea_3d_eV") is None:
            warnings.append("NEB gave no 3D percolation barrier: ranked on the next basis")
        if c.neb_config is not None and c.configurations and c.neb_config != c.best_config:
            warnings.append(
                f"NEB ran on ordering {c.neb_config}, not on the lowest-energy "
                f"ordering {c.best_config}"
            )
    if perc.get("ea_3d_eV") is not None:
        basis = "neb"
        barrier = float(perc["ea_3d_eV"])
        unc = NEB_UNCERTAINTY_EV
        note = f"MLIP CI-NEB 3D percolation ({c.neb.get('provenance', {}).get('model', 'MLIP')})"
    elif b:
        basis = "bvse"
        res_A = float(b.get("resolution_A") or 0.25)
        unc = BVSE_UNCERTAINTY_EV_PER_A * res_A
        if b.get("e_3d_eV") is not None:
            barrier = float(b["e_3d_eV"])
            note = f"BVSE 3D percolation, {res_A:g} A grid"
        else:
            barrier = float(b.get("e_max_eV") or 5.0)
            note = f"no 3D percolation below {barrier:g} eV: scored at that ceiling"
            warnings.append(note)
    elif c.prior:
        basis = "prior"
        p = c.prior
        T = float(p.get("temperature_K") or 298.15)
        barrier = prior_equivalent_barrier_eV(p["log10_sigma_S_cm"], T)
        half = 0.5 * (p["log10_sigma_high_S_cm"] - p["log10_sigma_low_S_cm"])
        unc = K_B_EV * T * math.log(10.0) * half / 1.645
        note = f"prior sigma({T:.0f} K) as Ea with A = {PRIOR_PREFACTOR_S_K_CM:.0e} S K/cm"
        if not p.get("in_domain", True):
            warnings.append("prior outside its applicability domain: treat its number as a guess")
    if basis in ("bvse", "neb") and cfg["config_uncertainty_eV"] is not None:
        unc = math.hypot(unc or 0.0, cfg["config_uncertainty_eV"])
        note += (
            f"; lowest-energy of {len(cfg['config_barriers_eV'])} orderings "
            f"(BVSE 3D spread {cfg['config_spread_eV']:.3f} eV)"
        )
    score = None if barrier is None else barrier + mis_pen + struct_pen + stab_pen
    pr = c.prior or {}
    return {
        "basis": basis,
        "score_eV": score,
        "score_uncertainty_eV": unc,
        "barrier_eV": barrier,
        "barrier_note": note,
        "mismatch_percent": mism,
        "mismatch_penalty_eV": mis_pen,
        "structure_penalty_eV": struct_pen,
        "stability_penalty_eV": stab_pen,
        "bvse_1d_eV": b.get("e_1d_eV") if b else None,
        "bvse_2d_eV": b.get("e_2d_eV") if b else None,
        "bvse_3d_eV": b.get("e_3d_eV") if b else None,
        "neb_3d_eV": perc.get("ea_3d_eV"),
        "prior_log10_sigma_S_cm": pr.get("log10_sigma_S_cm"),
        "prior_log10_low": pr.get("log10_sigma_low_S_cm"),
        "prior_log10_high": pr.get("log10_sigma_high_S_cm"),
        "prior_in_domain": pr.get("in_domain"),
        "e_above_hull_eV_atom": ehull,
        "warnings": tuple(dict.fromkeys(warnings)),
        "decomposition": decomposition,
        "e_above_hull_spread_eV_atom": ehull_spread,
        "neb_converged": neb_conv,
        "neb_bands": n_bands,
        "neb_bands_converged": n_conv,
        **cfg,
    }


def rank(
    candidates: Sequence[CandidateResults],
    weights: Weights | None = None,
    include_parent: bool = False,
) -> list[RankedCandidate]:
    """Rank the candidates that passed the rules (best first).

    Order: basis (neb, bvse, prior, then rules-only), then score, then |mismatch|, then
    label (deterministic). Candidates within the combined 1-sigma uncertainty of each
    other (same basis) are listed in each other's ``tied_with``.

    Parameters
    ----------
    candidates : sequence of CandidateResults
        From :func:`gather`.
    weights : Weights, optional
    include_parent : bool
        Rank the undoped parent too (it is the reference, so off by default).
    """
    w = weights or Weights()
    pool = [c for c in candidates if c.passed and (include_parent or c.dopant is not None)]
    scored = [(c, score_candidate(c, w)) for c in pool]
    scored.sort(
        key=lambda cs: (
            BASES.index(cs[1]["basis"]),
            cs[1]["score_eV"] if cs[1]["score_eV"] is not None else math.inf,
            abs(cs[1]["mismatch_percent"] or 0.0),
            cs[0].label,
        )
    )
    grids = {c.bvse.get("resolution_A") for c, _ in scored if c.bvse}
    if len(grids) > 1:
        msg = (
            f"BVSE grids differ between candidates ({', '.join(f'{g:g}' for g in sorted(grids))} "
            "A): "
            f"absolute barriers shift by ~{BVSE_BIAS_EV_PER_A} eV per A of grid; rerun on one grid"
        )
        for _, s in scored:
            if s["basis"] == "bvse":
                s["warnings"] = (*s["warnings"], msg)
    if any(s["e_above_hull_eV_atom"] is not None for _, s in scored):
        msg = (
            "no energy above hull (stability not computed for it): no stability penalty, "
            "unlike candidates that have one"
        )
        for _, s in scored:
            if s["e_above_hull_eV_atom"] is None:
                s["warnings"] = (*s["warnings"], msg)
    ties: dict[int, list[int]] = {i: [] for i in range(len(scored))}
    for i, (_, a) in enumerate(scored):
        for j in range(i + 1, len(scored)):
            b = scored[j][1]
            if a["basis"] != b["basis"] or a["score_eV"] is None or b["score_eV"] is None:
                continue
            u = math.hypot(a["score_uncertainty_eV"] or 0.0, b["score_uncertainty_eV"] or 0.0)
            if abs(a["score_eV"] - b["score_eV"]) <= u:
                ties[i].append(j + 1)
                ties[j].append(i + 1)
    return [
        RankedCandidate(
            rank=i + 1,
            label=c.label,
            formula=c.formula or "",
            dopant=c.dopant,
            x=c.x,
            tied_with=tuple(ties[i]),
            provenance=Provenance(method="halidelab screening score", parameters=w.to_dict()),
            **{k: v for k, v in s.items()},
        )
        for i, (c, s) in enumerate(scored)
    ]
