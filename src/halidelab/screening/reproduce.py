"""``halidelab reproduce chen2025``: the reference case from design to report.

Li(2-x)Zr(1-x)Nb(x)Cl6 (Chen et al., ChemComm 2025): charge balance and fit rules over
the series, ordered supercell models, MLIP relaxation (lattice vs x), BVSE percolation
barriers, and the comparison with what the paper measured, in one resumable run whose
results live in a results store and whose report is one self-contained HTML file.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from halidelab.errors import HalidelabError
from halidelab.screening.runner import run_tasks
from halidelab.screening.store import Store
from halidelab.screening.tasks import TASK_FUNCTIONS, Task

#: What Chen et al. (ChemComm 2025) measured, as summarised in MISSION.md (25 C).
CHEN2025_MEASURED: tuple[dict[str, Any], ...] = (
    {"x": 0.0, "formula": "Li2ZrCl6", "sigma_S_cm": 0.5e-3, "sigma_note": "about",
     "ea_eV": None, "sigma_e_S_cm": 8.11e-9, "onset_V": None},
    {"x": 0.2, "formula": "Li1.8Zr0.8Nb0.2Cl6", "sigma_S_cm": 1.03e-3, "sigma_note": "",
     "ea_eV": 0.327, "sigma_e_S_cm": 1.09e-9, "onset_V": 4.02},
)
CHEN2025_LATTICE = "a ~ 10.9-11.0 A, c ~ 5.9-6.0 A, contracting with Nb (Vegard-like)"

ALL_TIERS = ("rules", "models", "relax", "bvse", "xrd", "prior", "neb", "md")
#: The laptop tiers; NEB (~1 min per hop per 27-atom cell, more for doped supercells) and
#: MD (a GPU or cluster tier: ~0.1-0.3 s per step on this CPU) are asked for explicitly.
DEFAULT_TIERS = ("rules", "models", "relax", "bvse", "xrd", "prior")


@dataclasses.dataclass
class ReproduceOutput:
    """Paths and the per-x summary rows of a reproduction run."""

    report: Path
    store: Path | str
    rows: list[dict[str, Any]]
    tiers: tuple[str, ...]
    failed: dict[str, str]
    wall_s: float


def _sub(x: float) -> list[dict[str, Any]]:
    return [{"dopant": "Nb", "site": "Zr", "x": float(x)}] if x > 0 else []


def _formula(x: float) -> str:
    from halidelab.composition import Substitution, design_composition

    return design_composition("Li2ZrCl6", [Substitution("Nb", "Zr", x)] if x > 0 else []).formula


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
        Nb contents that get structure models, relaxation and BVSE.
    tiers : sequence of str
        Any of ``rules, models, relax, bvse, xrd, prior``.
    model : str
        MLIP for relaxation (``chgnet`` or a SevenNet name).
    max_atoms : int
        Largest supercell for the models.
    neb_images, neb_steps : int
        CI-NEB images per hop and maximum optimiser steps (``neb`` tier).
    md_temperatures_K, md_ps, md_timestep_fs
        NVT temperatures (K), length per temperature (ps) and time step (fs) of the
        ``md`` tier; trajectories go to ``out/md`` and resume after a kill.
    measured : sequence of dict
        The user's own measurements of the series (rows of
        :func:`halidelab.report.screen.read_measured` or :func:`lab_measurements`: ``x``,
        ``sigma_S_cm`` at 25 C, ``ea_eV``, optional ``ea_err_eV`` and ``source``), shown
        beside the prediction and Chen et al.'s values.
    literature_csvs : sequence of path
        The user's tables of known electrolytes for the "among known halides" section.
    """
    t0 = time.perf_counter()
    tiers = tuple(dict.fromkeys(t.strip() for t in tiers if t.strip()))
    bad = [t for t in tiers if t not in ALL_TIERS]
    if bad:
        raise HalidelabError(f"unknown tier(s) {', '.join(bad)}: choose from {', '.join(ALL_TIERS)}")
    from halidelab.screening import kinds  # noqa: F401  (registers task functions)

    missing = [t for t in tiers if t not in ("rules",) and _kind(t) not in TASK_FUNCTIONS]
    if missing:
        raise HalidelabError(f"tier(s) {', '.join(missing)} are not available in this installation")
    needs_models = {"models", "relax", "bvse", "xrd", "neb", "md"} & set(tiers)
    if needs_models and "models" not in tiers:
        tiers = ("models", *tiers)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    store = Store(db if db is not None else out / "results.sqlite")
    failed: dict[str, str] = {}

    def stage(tasks: list[Task], title: str) -> None:
        if tasks:
            s = run_tasks(tasks, store, client=client, progress=progress, title=title)
            for key, err in s.failed.items():
                failed[key] = err

    design_t = {x: Task("design", _formula(x), {"parent": "Li2ZrCl6", "substitutions": _sub(x)})
                for x in xs}
    model_t = {x: Task("models", _formula(x), {"parent": "Li2ZrCl6", "substitutions": _sub(x),
                                               "supercell": "auto", "max_atoms": max_atoms,
                                               "n_configs": 1, "seed": seed})
               for x in model_xs} if needs_models else {}
    prior_t = ({x: Task("prior", _formula(x), {"formula": _formula(x), "model_sha256": _prior_sha()})
                for x in xs} if "prior" in tiers else {})
    stage([*design_t.values(), *model_t.values(), *prior_t.values()], "design, models, prior")

    models = {x: store.result(t.key) for x, t in model_t.items()}
    structures = {x: m["configurations"][0]["structure"] for x, m in models.items() if m}
    for _x, m in models.items():
        if m:
            from halidelab.structures.models import ModelSet, write_models

            write_models([ModelSet.from_dict(m)], out / "structures", formats=["cif"])
    relax_t = ({x: Task("relax", f"{_formula(x)} c0", {"structure": s, "model": model,
                                                        "fmax": fmax, "steps": relax_steps})
                for x, s in structures.items()} if "relax" in tiers else {})
    xrd_t = ({x: Task("xrd", f"{_formula(x)} c0", {"structure": s}) for x, s in structures.items()}
             if "xrd" in tiers else {})
    stage([*relax_t.values(), *xrd_t.values()], f"relax ({model}), xrd")

    relaxed = {x: store.result(t.key) for x, t in relax_t.items()}
    bvse_in = {x: (relaxed[x]["structure"] if relaxed.get(x) else s) for x, s in structures.items()}
    bvse_t = ({x: Task("bvse", f"{_formula(x)} c0", {"structure": s, "resolution_A": bvse_resolution_A})
               for x, s in bvse_in.items()} if "bvse" in tiers else {})
    neb_t = ({x: Task("neb", f"{_formula(x)} c0", {"structure": s, "model": model, "hops": "distinct",
                                                    "n_images": neb_images, "fmax": fmax,
                                                    "steps": neb_steps, "endpoint_steps": neb_steps})
              for x, s in bvse_in.items()} if "neb" in tiers else {})
    n_steps = max(int(round(md_ps * 1000.0 / md_timestep_fs)), 1)
    md_t = ({(x, t): Task("md", f"{_formula(x)} {t:g} K", {
        "structure": s, "temperature_K": float(t), "steps": n_steps, "timestep_fs": md_timestep_fs,
        "model": model, "seed": seed, "skip_ps": min(2.0, 0.2 * md_ps),
        "trajectory": str((out / "md" / f"{_formula(x)}_{t:g}K.traj").resolve())})
        for x, s in bvse_in.items() for t in md_temperatures_K} if "md" in tiers else {})
    if md_t:
        (out / "md").mkdir(exist_ok=True)
    stage([*bvse_t.values(), *neb_t.values(), *md_t.values()], "bvse, neb, md")

    results = {
        "design": {x: store.result(t.key) for x, t in design_t.items()},
        "models": models,
        "relax": relaxed,
        "bvse": {x: store.result(t.key) for x, t in bvse_t.items()},
        "xrd": {x: store.result(t.key) for x, t in xrd_t.items()},
        "prior": {x: store.result(t.key) for x, t in prior_t.items()},
        "neb": {x: store.result(t.key) for x, t in neb_t.items()},
        "md": {}, "md_arrhenius": {},
    }
    for (x, _t), task in md_t.items():
        res = store.result(task.key)
        if res:
            results["md"].setdefault(x, []).append(res)
    results["md_arrhenius"] = {x: _md_arrhenius(runs) for x, runs in results["md"].items()}
    rows = summary_rows(results, xs, measured)
    from halidelab.report.chen2025 import write_chen2025_report

    wall = time.perf_counter() - t0
    report = write_chen2025_report(out / "report.html", results, rows, tiers, model, failed, wall,
                                   literature_csvs=literature_csvs)
    return ReproduceOutput(report, store.url, rows, tiers, failed, wall)


def lab_measurements(series: Sequence[str], thickness: str, diameter: str, circuit: str = "auto",
                     resistance: str = "total", instrument: str | None = None) -> list[dict[str, Any]]:
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
        raise DataFormatError("--eis needs --thickness and --diameter (pellet dimensions with units)")
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
            raise DataFormatError(f"no temperature for {', '.join(missing)}: put it in the file name "
                                  "(pellet_25C.mpt, _298K) or the file's metadata")
        fits = fit_spectra(spectra, circuit, thickness=thickness, diameter=diameter, resistance=resistance)
        temps = [f.temperature_K for f in fits]
        if len(set(temps)) < 2:
            raise FitError(f"--eis {item!r}: all spectra are at one temperature; an Arrhenius fit needs several")
        arr = fit_arrhenius(temps, [f.conductivity.sigma_S_cm for f in fits],
                            [f.conductivity.sigma_err_S_cm for f in fits], quantity="sigma",
                            method="eis-arrhenius")
        out.append({"x": x, "sigma_S_cm": arr.value_25C, "ea_eV": arr.ea_eV, "ea_err_eV": arr.ea_err_eV,
                    "source": f"EIS Arrhenius, {len(set(temps))} temperatures ({Path(paths[0]).name} ...)",
                    "warnings": list(arr.warnings)})
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
    """Checksum of the installed prior model: part of the prior tasks' keys, so that a
    retrained model (``halidelab prior train``) is not answered from old results."""
    import json

    from halidelab.prior.model import default_model_dir

    meta = default_model_dir() / "prior_model.json"
    return json.loads(meta.read_text()).get("model_sha256", "") if meta.is_file() else ""


def _kind(tier: str) -> str:
    return {"rules": "design"}.get(tier, tier)


def primitive_lattice(structure: dict[str, Any], supercell_matrix: Sequence[Sequence[int]]
                      ) -> dict[str, float]:
    """a, c (A) and volume per prototype cell of a (relaxed) supercell.

    The supercell's lattice rows are S @ L_prim, so L_prim = S^-1 @ L_supercell; a and c
    are averaged over the cell in the sense of this linear map.
    """
    from pymatgen.core import Lattice

    lat = np.asarray(structure["lattice"]["matrix"], dtype=float)
    prim = Lattice(np.linalg.solve(np.asarray(supercell_matrix, dtype=float), lat))
    return {"a_A": prim.a, "b_A": prim.b, "c_A": prim.c, "volume_A3": prim.volume}


def summary_rows(results: dict[str, dict[float, Any]], xs: Sequence[float],
                 lab: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """One row per x with every predicted number that exists (None where not run).

    ``measured_*``: Chen et al.'s values; ``lab_*``: the user's own (``lab``, rows with
    ``x``, ``sigma_S_cm``, ``ea_eV``, optional ``ea_err_eV`` and ``source``; the last row
    given for an x wins).
    """
    rows = []
    measured = {m["x"]: m for m in CHEN2025_MEASURED}
    mine = {round(float(m["x"]), 6): m for m in lab if m.get("dopant") in (None, "Nb") or float(m["x"]) == 0}
    for x in sorted(set(xs) | set(results["models"]) | set(mine)):
        d = results["design"].get(x)
        m = results["models"].get(x)
        r = results["relax"].get(x)
        b = results["bvse"].get(x)
        p = results["prior"].get(x)
        row: dict[str, Any] = {"x": x, "formula": _formula(x)}
        if d:
            c, f = d["composition"], d["fit"]
            row.update(li_vacancies=c["li_vacancies_per_fu"], t=f["t"],
                       packing=f"{f['packing']['packing']} {f['packing']['family']}")
        if m:
            row.update(x_modelled=sum(m["x_modelled"].values()), n_atoms=m["n_atoms"],
                       a_vegard_A=m["lattice_estimate"]["a_A"], c_vegard_A=m["lattice_estimate"]["c_A"])
        if r and m:
            prim = primitive_lattice(r["structure"], m["supercell_matrix"])
            row.update(a_relaxed_A=prim["a_A"], c_relaxed_A=prim["c_A"],
                       v_relaxed_A3=prim["volume_A3"], relax_converged=r["converged"],
                       relax_fmax=r["fmax_eV_A"])
        if b:
            row.update(bvse_1d_eV=b["e_1d_eV"], bvse_2d_eV=b["e_2d_eV"], bvse_3d_eV=b["e_3d_eV"])
        n = results.get("neb", {}).get(x)
        if n:
            perc = n.get("percolation") or {}
            row.update(neb_1d_eV=perc.get("ea_1d_eV"), neb_3d_eV=perc.get("ea_3d_eV"),
                       neb_converged=n.get("all_converged"))
        ma = results.get("md_arrhenius", {}).get(x)
        if ma and "error" not in ma:
            row.update(md_ea_eV=ma["ea_eV"], md_ea_err_eV=ma["ea_err_eV"],
                       md_sigma_300K_S_cm=ma["sigma_300K_S_cm"])
        if p:
            row.update(prior_log10_sigma=p["log10_sigma_S_cm"], prior_lo=p["log10_sigma_low_S_cm"],
                       prior_hi=p["log10_sigma_high_S_cm"], prior_in_domain=p["in_domain"])
        if x in measured:
            row.update(measured_sigma_S_cm=measured[x]["sigma_S_cm"], measured_ea_eV=measured[x]["ea_eV"])
        m_lab = mine.get(round(float(x), 6))
        if m_lab:
            row.update(lab_sigma_S_cm=m_lab.get("sigma_S_cm"), lab_ea_eV=m_lab.get("ea_eV"),
                       lab_ea_err_eV=m_lab.get("ea_err_eV"), lab_source=m_lab.get("source") or "your data")
        rows.append(row)
    return rows
