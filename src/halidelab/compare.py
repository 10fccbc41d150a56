"""Side-by-side comparison of compositions from a results store (``halidelab compare``).

One column per composition and synthesis state, one row per quantity, each with its
source: lattice parameters (MLIP-relaxed or the Vegard estimate), BVSE percolation
barriers, MLIP CI-NEB barriers (1D and 3D percolation, converged or not), kinetic Monte
Carlo sigma(25 C) and Ea (on NEB networks where they exist, else BVSE networks), MD
diffusion (D at the highest temperature, activation energy from D(T), sigma(300 K) with
its interval and the extrapolation warnings), the data-driven prior, the energy above
hull, and what was measured (the literature table: shipped rows plus the user's CSVs).
Where the store holds several orderings of a composition, every model quantity is their
ensemble mean +- standard error (N orderings), as :mod:`halidelab.ensemble` defines.

Nothing is computed here except the Arrhenius fit over a composition's stored MD runs:
the numbers come from ``halidelab reproduce`` / ``halidelab screen`` runs (and the MD,
NEB and stability tasks they ran). A quantity that no run computed is reported as
missing with the tier that would compute it, never filled in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from halidelab.errors import DataFormatError

#: (row key, label, unit) in display order
QUANTITIES: tuple[tuple[str, str, str], ...] = (
    ("state", "synthesis state", ""),
    ("n_orderings", "orderings (ensemble)", ""),
    ("a_A", "a", "A"),
    ("c_A", "c", "A"),
    ("lattice_source", "lattice from", ""),
    ("bvse_1d_eV", "BVSE 1D barrier", "eV"),
    ("bvse_3d_eV", "BVSE 3D barrier", "eV"),
    ("bvse_cell", "BVSE map of", ""),
    ("neb_1d_eV", "NEB 1D percolation", "eV"),
    ("neb_3d_eV", "NEB 3D percolation", "eV"),
    ("neb_converged", "NEB all converged", ""),
    ("kmc_log10_sigma", "log10 sigma(25 C) (KMC)", "log10 S/cm"),
    ("kmc_ea_eV", "Ea 25-100 C (KMC)", "eV"),
    ("kmc_source", "KMC network", ""),
    ("md_temperatures_K", "MD temperatures", "K"),
    ("md_d_top_cm2_s", "D at the highest T", "cm2/s"),
    ("md_ea_eV", "Ea (MD, from D)", "eV"),
    ("md_sigma_300K_S_cm", "sigma(300 K) (MD)", "S/cm"),
    ("prior_log10_sigma_S_cm", "prior log10 sigma(25 C)", "log10 S/cm"),
    ("e_above_hull_meV_atom", "E above hull", "meV/atom"),
    ("measured_sigma_S_cm", "measured sigma (literature)", "S/cm"),
    ("measured_ea_eV", "measured Ea (literature)", "eV"),
)

#: which tier fills a quantity (for the "not computed" note)
_TIER = {
    "a_A": "relax",
    "c_A": "relax",
    "bvse_1d_eV": "bvse",
    "bvse_3d_eV": "bvse",
    "neb_1d_eV": "neb",
    "kmc_log10_sigma": "kmc",
    "kmc_ea_eV": "kmc",
    "neb_3d_eV": "neb",
    "md_ea_eV": "md",
    "md_sigma_300K_S_cm": "md",
    "md_d_top_cm2_s": "md",
    "prior_log10_sigma_S_cm": "prior",
    "e_above_hull_meV_atom": "stability",
}


def _key(formula: str) -> str:
    from halidelab.prior.data import composition_key

    return composition_key(formula)


class _DesignAsRules:
    """A read-only view of a store in which ``design`` rows (``reproduce`` runs) also
    appear as passed ``rules`` rows, so that :func:`~halidelab.screening.ranking.gather`
    joins a reproduce store's tiers exactly as it joins a screen's."""

    def __init__(self, store: Any):
        self._store = store

    def rows(self, kind: str | None = None, status: str | None = None):
        from halidelab.composition import format_formula, parse_formula

        for r in self._store.rows(kind=kind, status=status):
            yield r
        if kind in (None, "rules"):
            for r in self._store.rows(kind="design", status=status):
                comp = (r.get("result") or {}).get("composition") or {}
                yield {
                    **r,
                    "kind": "rules",
                    "result": {
                        "status": "pass",
                        "parent": format_formula(parse_formula(r["inputs"]["parent"])),
                        "formula": comp.get("formula"),
                        "warnings": comp.get("warnings", []),
                    },
                }


def _md_by_structure(store: Any) -> dict[str, list[dict[str, Any]]]:
    from halidelab.screening.ranking import _shash

    out: dict[str, list[dict[str, Any]]] = {}
    for r in store.rows(kind="md", status="done"):
        out.setdefault(_shash(r["inputs"]["structure"]), []).append(r["result"])
    return out


def _md_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    from halidelab.errors import FitError
    from halidelab.transport.diffusion import DiffusionResult, md_arrhenius

    diffs = sorted(
        (DiffusionResult.from_dict(r["diffusion"]) for r in runs), key=lambda d: d.temperature_K
    )
    out: dict[str, Any] = {
        "md_temperatures_K": [round(d.temperature_K, 1) for d in diffs],
        "md_d_top_cm2_s": diffs[-1].d_cm2_s,
        "md_d_top_err_cm2_s": diffs[-1].d_err_cm2_s,
        "md_top_verdict": diffs[-1].verdict,
        "md_warnings": [],
    }
    if len(diffs) < 2:
        out["md_warnings"].append("one MD temperature: no Arrhenius fit (run two or more)")
        return out
    try:
        arr = md_arrhenius(diffs)
    except FitError as exc:
        out["md_warnings"].append(f"Arrhenius fit failed: {exc}")
        return out
    out.update(
        {
            "md_ea_eV": arr.ea_eV,
            "md_ea_err_eV": arr.ea_err_eV,
            "md_sigma_300K_S_cm": arr.sigma_300K_S_cm,
            "md_sigma_300K_low_S_cm": arr.sigma_300K_low_S_cm,
            "md_sigma_300K_high_S_cm": arr.sigma_300K_high_S_cm,
            "md_haven_ratio": arr.haven_ratio,
        }
    )
    out["md_warnings"].extend(arr.warnings)
    return out


def _measured(formula: str, literature: Any) -> dict[str, Any]:
    want = _key(formula)
    hits = literature[[_key(c) == want for c in literature["composition"]]]
    hits = hits[~hits["censored"].astype(bool)]
    if hits.empty:
        return {}
    best = hits.iloc[-1]  # the user's own rows come after the shipped ones: theirs win
    ea = best.get("ea_eV")
    return {
        "measured_sigma_S_cm": float(best["sigma_S_cm"]),
        "measured_temperature_C": float(best["temperature_C"]),
        "measured_ea_eV": None
        if ea is None or (isinstance(ea, float) and math.isnan(ea))
        else float(ea),
        "measured_source": str(
            best.get("reference") or best.get("doi") or best.get("source") or ""
        ),
        "measured_n_entries": len(hits),
    }


def compare(
    store: Any,
    formulas: Sequence[str],
    literature_csvs: Sequence[str | Path] = (),
    calibrations: Sequence[Any] = (),
) -> list[dict[str, Any]]:
    """One record per requested composition with everything the store and literature hold.

    Parameters
    ----------
    store : halidelab.screening.store.Store
        A results store written by ``reproduce`` or ``screen``.
    formulas : sequence of str
        Compositions to compare, any formula that normalises to a stored candidate's
        (``Li1.8Zr0.8Nb0.2Cl6`` = ``Li9Zr4NbCl30``).
    literature_csvs : sequence of path
        Extra literature tables (the user's measurements), as ``halidelab literature``.
    calibrations : sequence of Calibration
        Calibrations of ``halidelab validate``
        (:func:`~halidelab.validation.calibration.load_calibration`):
        each composition's matching raw prediction is also given calibrated, with its
        interval (:func:`halidelab.validation.apply.calibrate_composition`).

    Returns
    -------
    list of dict
        Keys of :data:`QUANTITIES` (None where not computed) plus ``formula``,
        ``label``, ``found`` (in the store), ``missing`` (tiers that would fill the
        gaps), ``md_warnings``, ``measured_source`` and ``calibrated`` (one entry per
        calibration: raw and calibrated value, interval, map used, out-of-domain flag,
        or the note why it was not applied).

    Raises
    ------
    DataFormatError
        A formula that is not a composition, or none of them in the store.
    CalibrationError
        A calibration compare cannot place, or two for one (tier, model, target).
    """
    from halidelab.composition import format_formula, parse_formula
    from halidelab.literature import load_literature
    from halidelab.screening.ranking import gather

    if not formulas:
        raise DataFormatError("give at least one composition to compare")
    if calibrations:
        from halidelab.validation.apply import StoreIndex, calibrate_composition, check_calibrations

        check_calibrations(calibrations)
        index = StoreIndex.of(store)
    cands = gather(_DesignAsRules(store))
    by_key: dict[str, Any] = {}
    for c in cands:
        if c.formula:
            by_key.setdefault(_key(c.formula), c)
    md = _md_by_structure(store)
    lit = load_literature(literature_csvs)
    by_key_all: dict[str, list[Any]] = {}
    for c in cands:
        if c.formula:
            by_key_all.setdefault(_key(c.formula), []).append(c)
    out = []
    for f in formulas:
        name = format_formula(parse_formula(f))
        for c in by_key_all.get(_key(name)) or [None]:
            rec = _record(name, c, md, lit)
            rec["calibrated"] = (
                calibrate_composition(name, c, index, calibrations) if calibrations else []
            )
            out.append(rec)
    if not any(r["found"] for r in out):
        known = sorted({c.formula for c in cands if c.formula})
        raise DataFormatError(
            f"none of {', '.join(r['formula'] for r in out)} is in the store; it holds "
            f"{', '.join(known[:8]) or 'no candidates'}{' ...' if len(known) > 8 else ''}: run "
            "'halidelab reproduce chen2025' or 'halidelab screen' for them first"
        )
    return out


#: ensemble keys (halidelab.ensemble.MEMBER_QUANTITIES) -> compare keys
_ENSEMBLE = {
    "a_A": "a_A",
    "c_A": "c_A",
    "bvse_1d_eV": "bvse_1d_eV",
    "bvse_3d_eV": "bvse_3d_eV",
    "neb_1d_eV": "neb_1d_eV",
    "neb_3d_eV": "neb_3d_eV",
}


def _record(name: str, c: Any, md: dict[str, list[dict[str, Any]]], lit: Any) -> dict[str, Any]:
    """One composition in one state: everything the store and literature hold."""
    from halidelab.screening.ranking import _shash

    rec: dict[str, Any] = {k: None for k, _, _ in QUANTITIES}
    rec.update(
        {
            "formula": name,
            "label": c.label if c else None,
            "found": c is not None,
            "md_warnings": [],
            "measured_source": None,
        }
    )
    rec.update(_measured(name, lit))
    if c is not None:
        rec["state"] = c.state
        if c.lattice:
            rec.update(
                {
                    "a_A": c.lattice.get("a_A"),
                    "c_A": c.lattice.get("c_A"),
                    "lattice_source": c.lattice.get("source"),
                }
            )
        if c.bvse:
            rec.update({"bvse_1d_eV": c.bvse.get("e_1d_eV"), "bvse_3d_eV": c.bvse.get("e_3d_eV")})
            best = next((x for x in c.configurations if x.get("index") == c.best_config), None)
            rec["bvse_cell"] = (best or {}).get("bvse_cell")
        if c.neb:
            perc = c.neb.get("percolation") or {}
            rec.update(
                {
                    "neb_1d_eV": perc.get("ea_1d_eV"),
                    "neb_3d_eV": perc.get("ea_3d_eV"),
                    "neb_converged": bool(c.neb.get("all_converged", False)),
                    "neb_hops_used": perc.get("n_hops_used"),
                    "neb_hops_missing": perc.get("n_hops_missing"),
                }
            )
        if c.prior:
            rec.update(
                {
                    "prior_log10_sigma_S_cm": c.prior.get("log10_sigma_S_cm"),
                    "prior_log10_low": c.prior.get("log10_sigma_low_S_cm"),
                    "prior_log10_high": c.prior.get("log10_sigma_high_S_cm"),
                    "prior_in_domain": c.prior.get("in_domain"),
                }
            )
        if c.stability and c.stability.get("e_above_hull_eV_atom") is not None:
            rec["e_above_hull_meV_atom"] = 1000.0 * float(c.stability["e_above_hull_eV_atom"])
        # MD of the lowest-energy ordering first, else of any other ordering
        hashes = []
        if c.relax:
            hashes.append(_shash(c.relax["structure"]))
        hashes += [_shash(x["relax"]["structure"]) for x in c.configurations if x.get("relax")]
        if c.models and c.models.get("configurations"):
            hashes += [_shash(cf["structure"]) for cf in c.models["configurations"]]
        runs = next((md[h] for h in hashes if h in md), None)
        if runs:
            rec.update(_md_summary(runs))
        ens = c.ensemble or {}
        if ens and any(ens.values()):
            rec["n_orderings"] = len(c.configurations)
            for src, dst in _ENSEMBLE.items():
                st = ens.get(src)
                if st:
                    rec[dst], rec[f"{dst}_sem"], rec[f"{dst}_n"] = st["mean"], st["sem"], st["n"]
            src = "neb" if ens.get("kmc_neb_log10_sigma") or ens.get("kmc_neb_no_value") else "bvse"
            nov = ens.get(f"kmc_{src}_no_value")
            if nov and not ens.get(f"kmc_{src}_log10_sigma"):
                # KMC ran and gives no value at 25 C: its upper limit, or why not
                rec["kmc_log10_sigma_upper"] = nov["upper_log10_sigma_S_cm"]
                rec["kmc_no_value"] = nov["reason"]
                rec["kmc_source"] = f"{src.upper()} networks"
            for key in ("log10_sigma", "ea_eV"):
                st = ens.get(f"kmc_{src}_{key}")
                if st:
                    rec[f"kmc_{key}"], rec[f"kmc_{key}_sem"], rec[f"kmc_{key}_n"] = (
                        st["mean"],
                        st["sem"],
                        st["n"],
                    )
                    rec["kmc_source"] = f"{src.upper()} networks"
    rec["missing"] = sorted(
        {
            t
            for k, t in _TIER.items()
            if rec.get(k) is None and not (t == "kmc" and rec.get("kmc_no_value"))
        }
    )
    return rec


def format_value(key: str, rec: dict[str, Any]) -> str:
    """Display string of one quantity (with its uncertainty or interval where known)."""
    v = rec.get(key)
    if v is None and key in ("neb_1d_eV", "neb_3d_eV") and rec.get("neb_converged") is not None:
        used, missing = rec.get("neb_hops_used"), rec.get("neb_hops_missing")
        cover = (
            f"; barriers for {used} of {used + missing} hops"
            if used is not None and missing
            else ""
        )
        return f"no percolating path among the computed hops{cover}"
    if v is None and key in ("kmc_log10_sigma", "kmc_ea_eV") and rec.get("kmc_no_value"):
        upper = rec.get("kmc_log10_sigma_upper")
        if key == "kmc_log10_sigma" and upper is not None:
            return f"< {upper:.2f} ({rec['kmc_no_value']})"
        return rec["kmc_no_value"]
    if v is None and key == "md_d_top_cm2_s" and rec.get("md_top_verdict"):
        return rec["md_top_verdict"]
    if v is None:
        tier = _TIER.get(key)
        return f"- (run {tier})" if tier and rec.get("found") else "-"
    if rec.get(f"{key}_sem") is not None or rec.get(f"{key}_n") == 1:
        nd = 2 if key == "kmc_log10_sigma" else 3
        sem = rec.get(f"{key}_sem")
        return (
            f"{v:.{nd}f} +- {sem:.{nd}f} (N={rec[f'{key}_n']})"
            if sem is not None
            else f"{v:.{nd}f} (1 ordering)"
        )
    if key == "md_ea_eV" and rec.get("md_ea_err_eV") is not None:
        return f"{v:.3f} +- {rec['md_ea_err_eV']:.3f}"
    if key == "md_sigma_300K_S_cm":
        return (
            f"{v:.2e} [{rec['md_sigma_300K_low_S_cm']:.1e}, {rec['md_sigma_300K_high_S_cm']:.1e}]"
        )
    if key == "md_d_top_cm2_s":
        return f"{v:.2e} +- {rec['md_d_top_err_cm2_s']:.1e}"
    if key == "prior_log10_sigma_S_cm":
        dom = "" if rec.get("prior_in_domain", True) else " (out of domain)"
        return f"{v:.2f} [{rec['prior_log10_low']:.2f}, {rec['prior_log10_high']:.2f}]{dom}"
    if key == "md_temperatures_K":
        return ", ".join(f"{t:.0f}" for t in v)
    if key == "measured_sigma_S_cm":
        return f"{v:.2e} at {rec.get('measured_temperature_C', 25):g} C"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:.1f}" if key == "e_above_hull_meV_atom" else f"{v:.3f}"
    return str(v)


def _nd(entry: dict[str, Any]) -> int:
    return 3 if entry["unit"] == "eV" else 2


def calibration_rows(recs: Sequence[dict[str, Any]]) -> dict[str, list[tuple[str, list[str]]]]:
    """Table rows of the calibrated values, by the :data:`QUANTITIES` row they follow.

    A calibrated row follows its raw quantity's row; a raw quantity compare does not show
    by itself (log10 sigma from a BVSE or NEB barrier by Arrhenius) gets a raw row first,
    after its barrier's row.

    Returns
    -------
    dict
        Row key of :data:`QUANTITIES` -> [(label, one cell per record)].
    """
    from halidelab.validation.apply import QUANTITY

    shown = {k for k, _, _ in QUANTITIES}
    idents = list(
        dict.fromkeys(
            (e["tier"], e["model"], e["target"]) for r in recs for e in r.get("calibrated", [])
        )
    )
    out: dict[str, list[tuple[str, list[str]]]] = {}
    for tier, model, target in idents:
        key, label, unit = QUANTITY[(tier, target)]
        anchor = key if key in shown else f"{tier}_3d_eV"
        entries = [
            next(
                (
                    e
                    for e in r.get("calibrated", [])
                    if (e["tier"], e["model"], e["target"]) == (tier, model, target)
                ),
                None,
            )
            for r in recs
        ]
        rows = out.setdefault(anchor, [])
        if key not in shown:
            rows.append((f"{label} ({unit}), raw", [_raw_text(e) for e in entries]))
        level = next((e["level"] for e in entries if e and e["applied"]), None)
        lv = f", {level:.0%}" if level is not None else ""
        rows.append(
            (f"  calibrated ({tier}, {model}{lv}) ({unit})", [calibrated_text(e) for e in entries])
        )
    return out


def _raw_text(e: dict[str, Any] | None) -> str:
    if not e or not e["applied"]:
        return "-"
    nd = _nd(e)
    if e["sd_between_orderings"] is None:
        return f"{e['raw']:.{nd}f} (1 ordering)"
    return f"{e['raw']:.{nd}f} (sd {e['sd_between_orderings']:.{nd}f}, N={e['n_orderings']})"


def calibrated_text(e: dict[str, Any] | None) -> str:
    """Table cell of a calibrated value: ``value [low, high]``, ``LOO`` when the material's
    leave-one-out map was used, ``OUT OF DOMAIN``; or why there is none."""
    if not e:
        return "-"
    if not e["applied"]:
        return "- (no raw value)" if e["status"] == "no value" else "not applied (see note)"
    nd = _nd(e)
    txt = f"{e['calibrated']:.{nd}f} [{e['low']:.{nd}f}, {e['high']:.{nd}f}]"
    if e["map_used"].startswith("leave-one-out"):
        txt += " LOO"
    return txt + (" OUT OF DOMAIN" if e["out_of_domain"] else "")


def calibration_lines(rec: dict[str, Any]) -> list[tuple[str, str]]:
    """One line per calibration of a record: (``result`` or ``note``, text).

    ``result``: raw -> calibrated with its interval, the map used and the nearest
    reference material with its composition distance (and the out-of-domain flag);
    ``note``: why a calibration was not applied (another model), or what to know about
    it. A composition without the raw value gets no line (the table says so).
    """
    head = rec["formula"] + (f" ({rec['state']})" if rec.get("state") else "")
    out = []
    for e in rec.get("calibrated", []):
        what = f"{head}: {e['tier']} {e['target']} ({e['model']})"
        if e["status"] == "no value":  # the table says so: "- (no raw value)"
            continue
        if not e["applied"]:
            out.append(("note", f"{what}: {e['note']}"))
            continue
        nd = _nd(e)
        cov = (e.get("calibration") or {}).get("coverage")
        held = (
            f"; held out, {cov['inside']} of {cov['n']} reference materials in their intervals"
            + (
                f" ({cov['built_inside']} of {cov['built_n']} built models)"
                if cov.get("built_n")
                else ""
            )
            if cov
            else ""
        )
        dist = (
            f"nearest reference {e['nearest_reference']} at composition distance "
            f"{e['distance']:.3f}"
            if e["nearest_reference"] is not None
            else "no reference composition"
        )
        ood = (
            f" > {e['domain_distance']:g}: OUT OF DOMAIN, the interval is not to be trusted"
            if e["out_of_domain"]
            else f" (domain {e['domain_distance']:g})"
        )
        out.append(
            (
                "result",
                f"{what}: raw {e['raw']:.{nd}f} (spread {e['spread']:.{nd}f}, "
                f"N={e['n_orderings']}) "
                f"-> calibrated {e['calibrated']:.{nd}f} [{e['low']:.{nd}f}, {e['high']:.{nd}f}] "
                f"({e['level']:.0%}, {e['kind']} map, {e['map_used']}{held}); {dist}{ood}",
            )
        )
        if e["note"]:
            out.append(("note", f"{what}: {e['note']}"))
    return out
