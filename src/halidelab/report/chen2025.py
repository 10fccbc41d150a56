"""The report of the Nb-in-Li2ZrCl6 reference case: predicted next to measured."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from halidelab.report.html import esc, figure_html, missing_html, table_html, write_report


def _f(nd: int):
    return lambda v: f"{v:.{nd}f}"


def _e(v: float | str) -> str:
    return v if isinstance(v, str) else f"{v:.3g}"


def _slope(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float] | None:
    """Least-squares slope and its standard error (None with fewer than 2 points)."""
    x, y = np.asarray(xs, float), np.asarray(ys, float)
    if len(x) < 2 or np.ptp(x) == 0:
        return None
    A = np.vstack([x, np.ones_like(x)]).T
    coef, res, *_ = np.linalg.lstsq(A, y, rcond=None)
    if len(x) > 2:
        s2 = float(np.sum((y - A @ coef) ** 2)) / (len(x) - 2)
        err = float(np.sqrt(s2 / np.sum((x - x.mean()) ** 2)))
    else:
        err = float("nan")
    return float(coef[0]), err


def lattice_figure(rows: list[dict[str, Any]]):
    """a and c against x: Vegard estimate, MLIP-relaxed, and the measured range."""
    from halidelab.plotting import pyplot

    plt = pyplot()

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, key, lo, hi in ((axes[0], "a", 10.9, 11.0), (axes[1], "c", 5.9, 6.0)):
        ax.axhspan(lo, hi, color="0.85", label="measured range (Chen 2025)")
        pts = [(r["x"], r[f"{key}_vegard_A"]) for r in rows if r.get(f"{key}_vegard_A")]
        if pts:
            ax.plot(
                *zip(*pts, strict=True), "s--", color="tab:gray", label="Vegard estimate (radii)"
            )
        pts = [(r["x"], r[f"{key}_relaxed_A"]) for r in rows if r.get(f"{key}_relaxed_A")]
        if pts:
            ax.plot(*zip(*pts, strict=True), "o-", color="tab:blue", label="MLIP relaxed")
        ax.set_xlabel("x in Li$_{2-x}$Zr$_{1-x}$Nb$_x$Cl$_6$")
        ax.set_ylabel(f"{key} (Å)")
    axes[0].legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def bvse_figure(rows: list[dict[str, Any]]):
    """BVSE percolation barriers against x."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 3.4))
    for key, lab, m in (
        ("bvse_1d_eV", "1D", "o-"),
        ("bvse_2d_eV", "2D", "s-"),
        ("bvse_3d_eV", "3D", "^-"),
    ):
        pts = [(r["x"], r[key]) for r in rows if r.get(key) is not None]
        if pts:
            ax.plot(*zip(*pts, strict=True), m, label=f"{lab} percolation")
    ax.set_xlabel("x (Nb)")
    ax.set_ylabel("BVSE barrier (eV)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def sigma_figure(rows: list[dict[str, Any]]):
    """Prior log10 sigma with its 90% interval, and the measured conductivities."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 3.4))
    pr = [r for r in rows if r.get("prior_log10_sigma") is not None]
    if pr:
        x = [r["x"] for r in pr]
        y = np.array([r["prior_log10_sigma"] for r in pr])
        lo = y - np.array([r["prior_lo"] for r in pr])
        hi = np.array([r["prior_hi"] for r in pr]) - y
        ax.errorbar(
            x,
            y,
            yerr=[lo, hi],
            fmt="o",
            color="tab:purple",
            capsize=3,
            label="data-driven prior (90% interval)",
        )
    ms = [r for r in rows if r.get("measured_sigma_S_cm")]
    if ms:
        ax.plot(
            [r["x"] for r in ms],
            [np.log10(r["measured_sigma_S_cm"]) for r in ms],
            "*",
            ms=12,
            color="tab:red",
            label="measured 25 °C (Chen 2025)",
        )
    lab = [r for r in rows if r.get("lab_sigma_S_cm")]
    if lab:
        ax.plot(
            [r["x"] for r in lab],
            [np.log10(r["lab_sigma_S_cm"]) for r in lab],
            "D",
            ms=7,
            color="black",
            mfc="none",
            label="your measurement, 25 °C",
        )
    ax.set_xlabel("x (Nb)")
    ax.set_ylabel("log$_{10}$ σ (S/cm)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def neb_figure(neb: dict[float, Any]):
    """CI-NEB energy profiles of every hop, one panel per composition."""
    from halidelab.report.figures import neb_profiles_figure

    return neb_profiles_figure([(f"x = {x:g}", st) for x, st in sorted(neb.items())])


def xrd_figure(xrd: dict[float, Any]):
    """Simulated patterns (Cu K-alpha, broadened), stacked by x."""
    from halidelab.report.figures import xrd_figure as _xrd

    return _xrd([(f"x = {x:g}", pat) for x, pat in sorted(xrd.items())])


def arrhenius_figure(md_arrhenius: dict[float, Any], measured: Sequence[dict[str, Any]] = ()):
    """MD Nernst-Einstein sigma(T) per composition, extrapolated to 300 K, with the
    conductivities Chen et al. measured at 25 C (``measured``: rows with ``x``, ``state``,
    ``sigma_S_cm``)."""
    from halidelab.report.figures import md_arrhenius_figure

    items = [(f"x = {x:g}", a) for x, a in sorted(md_arrhenius.items()) if a and "error" not in a]
    meas = [
        (f"x = {m['x']:g} {m.get('state', '')}, 25 °C (Chen 2025)", 298.15, m["sigma_S_cm"])
        for m in measured
    ]
    return md_arrhenius_figure(items, measured=meas)


def _pm(stat: dict[str, Any] | None, nd: int = 3) -> str:
    """``mean ± sem (N)`` of an ensemble statistic dict; one ordering says so."""
    if not stat:
        return "–"
    if stat.get("sem") is None:
        return f"{stat['mean']:.{nd}f} (N=1)"
    return f"{stat['mean']:.{nd}f} ± {stat['sem']:.{nd}f} (N={stat['n']})"


#: ensemble KMC sigma -> what the ensemble says where no ordering gives one
_NO_VALUE = {
    "kmc_bvse_log10_sigma": "kmc_bvse_no_value",
    "kmc_neb_log10_sigma": "kmc_neb_no_value",
}


def _ensemble_cell(row: dict[str, Any], key: str, nd: int) -> str:
    """:func:`_pm` of ``row[key]``; a KMC sigma that no ordering gives at 25 C shows its
    upper limit (:func:`halidelab.ensemble.kmc_no_value`), or 'no value'."""
    if not row.get(key) and key in _NO_VALUE:
        nov = row.get(_NO_VALUE[key])
        if nov:
            up = nov.get("upper_log10_sigma_S_cm")
            return f"< {up:.{nd}f} (limit, N={nov['n_run']})" if up is not None else "no value"
    return _pm(row.get(key), nd)


def ensemble_table(ensembles: list[dict[str, Any]]) -> str:
    """Every quantity per composition and synthesis state: ensemble mean ± standard error."""
    cols = [
        ("a_A", "a (Å)", 3),
        ("c_A", "c (Å)", 3),
        ("v_fu_A3", "V/f.u. (Å³)", 2),
        ("e_atom_eV", "E (eV/atom)", 4),
        ("m_off_ordered_sites", "M off ordered sites", 2),
        ("bvse_3d_eV", "BVSE 3D (eV)", 3),
        ("neb_3d_eV", "NEB 3D (eV)", 3),
        ("kmc_bvse_log10_sigma", "KMC log σ25 (BVSE net)", 2),
        ("kmc_bvse_ea_eV", "KMC Ea (BVSE net, eV)", 3),
        ("kmc_neb_log10_sigma", "KMC log σ25 (NEB net)", 2),
        ("kmc_neb_ea_eV", "KMC Ea (NEB net, eV)", 3),
        ("haven_ratio", "Haven ratio (25 °C)", 2),
    ]
    cols = [
        c for c in cols if any(r.get(c[0]) or r.get(_NO_VALUE.get(c[0], "")) for r in ensembles)
    ]
    head = "".join(f"<th>{esc(h)}</th>" for _, h, _ in cols)
    body = "".join(
        f"<tr><td class='l'>{esc(r['formula'])}</td><td>{r['x']:g}</td><td "
        f"class='l'>{esc(r['state'])}</td>"
        f"<td>{r['n']}</td>"
        + "".join(f"<td>{esc(_ensemble_cell(r, k, nd))}</td>" for k, _, nd in cols)
        + "</tr>"
        for r in ensembles
    )
    return (
        "<p>Each composition is modelled by N orderings per synthesis state, each relaxed "
        "with the MLIP; numbers are ensemble means ± standard errors (members weighted "
        "equally). Annealed: the lowest-Ewald-energy orderings on the framework's own Li and "
        "M sites. Ball-milled: Li, M and vacancies sampled over all octahedral holes (Monte "
        "Carlo on screened Ewald energies at a fictive temperature); 'M off ordered sites' is "
        "the fraction of Zr/Nb on holes with no M in the ordered cell.</p>"
        "<table><tr><th class='l'>formula</th><th>x</th><th "
        f"class='l'>state</th><th>N</th>{head}</tr>"
        f"{body}</table>"
    )


def kmc_figure(kmc: dict[str, list[dict[str, Any]]], measured: Sequence[dict[str, Any]] = ()):
    """sigma(T) from KMC per composition and state (mean and standard error over the
    orderings), next to Chen et al.'s measured Arrhenius line and points (``measured``:
    rows with ``x``, ``state``, ``sigma_S_cm``, ``ea_eV``)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    tt = np.linspace(298.15, 373.15, 20)
    kb = 8.617333262e-5
    for m in measured:  # a measured Ea draws its Arrhenius line (sigma T form) over 25-100 C
        if m.get("ea_eV"):
            line = m["sigma_S_cm"] * 298.15 / tt * np.exp(-m["ea_eV"] / kb * (1 / tt - 1 / 298.15))
            ax.plot(
                1000 / tt,
                np.log10(line),
                "-",
                color="tab:red",
                lw=2,
                label=(
                    f"measured x={m['x']:g} {m.get('state', '')} (Chen 2025), Ea {m['ea_eV']:g} eV"
                ),
            )
    for m in measured:
        ax.plot(
            1000 / 298.15,
            np.log10(m["sigma_S_cm"]),
            "*",
            ms=12,
            color="tab:red" if m["state"] == "ball-milled" else "tab:gray",
        )
    markers = {"ball-milled": "o", "annealed": "s"}
    for name, members in sorted(kmc.items()):
        x, state = name.split(" ", 1)
        for src, ls in (("kmc_neb", "-"), ("kmc_bvse", ":")):
            runs = [m[src]["kmc"] for m in members if m.get(src)]
            if not runs:
                continue
            temps = [p["temperature_K"] for p in runs[0]["points"]]
            logs = np.array(
                [
                    [
                        math.log10(p["sigma_S_cm"]) if p["sigma_S_cm"] > 0 else np.nan
                        for p in r["points"]
                    ]
                    for r in runs
                ]
            )
            mean = np.nanmean(logs, axis=0)
            err = np.nanstd(logs, axis=0, ddof=1) / np.sqrt(len(runs)) if len(runs) > 1 else None
            ax.errorbar(
                1000 / np.array(temps),
                mean,
                yerr=err,
                fmt=markers.get(state, "o") + ls,
                ms=4,
                capsize=2,
                label=f"x={x} {state}, KMC {src[4:].upper()} network (N={len(runs)})",
            )
    ax.set_xlabel("1000/T (K$^{-1}$)")
    ax.set_ylabel("log$_{10}$ σ (S/cm)")
    ax.legend(fontsize=6.5, loc="best")
    fig.tight_layout()
    return fig


def placement(
    rows: list[dict[str, Any]],
    md_arrhenius: dict[float, Any],
    literature_csvs: Sequence[str | Path] = (),
) -> str:
    """The series among known halides: the literature figure and the nearest-known table."""
    from halidelab.report.placement import PredictedSigma, placement_section

    preds = []
    for r in rows:
        prior = (
            {
                "log10_sigma_S_cm": r["prior_log10_sigma"],
                "log10_sigma_low_S_cm": r["prior_lo"],
                "log10_sigma_high_S_cm": r["prior_hi"],
                "in_domain": r.get("prior_in_domain"),
            }
            if r.get("prior_log10_sigma") is not None
            else None
        )
        ma = md_arrhenius.get(r["x"])
        preds.append(
            PredictedSigma.from_results(
                f"x = {r['x']:g}: {r['formula']}",
                r["formula"],
                prior,
                ma if ma and "error" not in ma else None,
            )
        )
    return placement_section(preds, literature_csvs)


def verdicts(rows: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(quantity, predicted, measured, verdict) for the comparison table."""
    out = []
    rel = [r for r in rows if r.get("a_relaxed_A") and r.get("v_relaxed_A3")]
    if len(rel) >= 2:
        sa = _slope([r["x"] for r in rel], [r["a_relaxed_A"] for r in rel])
        sc = _slope([r["x"] for r in rel], [r["c_relaxed_A"] for r in rel])
        sv = _slope([r["x"] for r in rel], [r["v_relaxed_A3"] for r in rel])
        r0 = rel[0]
        contracts = sv[0] < 0
        out.append(
            (
                "lattice vs x (MLIP)",
                f"a({r0['x']:g}) = {r0['a_relaxed_A']:.3f} Å, c = {r0['c_relaxed_A']:.3f} Å; "
                f"da/dx = {sa[0]:+.3f}, dc/dx = {sc[0]:+.3f} Å, dV/dx = {sv[0]:+.1f} Å³ per cell",
                "a ~ 10.9-11.0 Å, c ~ 5.9-6.0 Å, contracts with Nb",
                "the model contracts the lattice with Nb, as measured"
                if contracts
                else "the model does NOT contract the lattice with Nb, unlike the measurement",
            )
        )
    bv = [r for r in rows if r.get("bvse_3d_eV") is not None or r.get("bvse_1d_eV") is not None]
    if len(bv) >= 2:
        first, best = bv[0], min(bv, key=lambda r: r.get("bvse_3d_eV") or 99)
        out.append(
            (
                "BVSE barrier vs x",
                "; ".join(
                    f"x={r['x']:g}: 1D {_fmt(r.get('bvse_1d_eV'))}, 3D {_fmt(r.get('bvse_3d_eV'))} "
                    "eV"
                    for r in bv
                ),
                "Ea = 0.327 eV at x = 0.2 (minimum of the series)",
                f"lowest 3D BVSE barrier at x = {best['x']:g}"
                + (" (x = 0.2 measured best)" if abs(best["x"] - 0.2) < 1e-9 else "")
                + (
                    "; Nb lowers the 3D barrier"
                    if (best.get("bvse_3d_eV") or 9) < (first.get("bvse_3d_eV") or 9)
                    else "; Nb does not lower the 3D barrier in BVSE"
                )
                + ". BVSE energies are a static-lattice ranking, not activation energies.",
            )
        )
    pr = [r for r in rows if r.get("prior_log10_sigma") is not None]
    if pr:
        m = {r["x"]: r for r in rows if r.get("measured_sigma_S_cm")}
        inside = [
            r["prior_lo"] <= np.log10(m[r["x"]]["measured_sigma_S_cm"]) <= r["prior_hi"]
            for r in pr
            if r["x"] in m
        ]
        out.append(
            (
                "σ(25 °C), data-driven prior",
                "; ".join(f"x={r['x']:g}: 10^{r['prior_log10_sigma']:.2f}" for r in pr),
                "LZC ~0.5 mS/cm, LZNC 1.03 mS/cm (volcano peak at x = 0.2)",
                f"measured value inside the 90% interval for {sum(inside)}/{len(inside)}; "
                + (
                    "all predictions flagged out of domain; "
                    if not any(r["prior_in_domain"] for r in pr)
                    else ""
                )
                + "the prior cannot resolve a volcano within one series",
            )
        )
    nb = [r for r in rows if r.get("neb_1d_eV") is not None]
    if nb:
        out.append(
            (
                "CI-NEB percolation barrier (MLIP)",
                "; ".join(
                    f"x={r['x']:g}: 1D {_fmt(r['neb_1d_eV'])}, 3D {_fmt(r.get('neb_3d_eV'))} eV"
                    + ("" if r.get("neb_converged") else " (not all hops converged)")
                    for r in nb
                ),
                "DFT: c-axis [Li1-Li2-Li1] lowest; Nb lowers barriers ~15% in-plane; Ea 0.327 eV "
                "(LZNC)",
                _neb_verdict(nb),
            )
        )
    lab = [r for r in rows if r.get("lab_sigma_S_cm") or r.get("lab_ea_eV") is not None]
    if lab:
        out.append(
            (
                "your measurements",
                "; ".join(_lab_predicted(r) for r in lab),
                "; ".join(_lab_measured(r) for r in lab),
                _lab_verdict(lab),
            )
        )
    md = [r for r in rows if r.get("md_ea_eV") is not None]
    if md:
        out.append(
            (
                "σ(300 K), Ea from MD (Nernst-Einstein, H_R = 1)",
                "; ".join(
                    f"x={r['x']:g}: Ea {r['md_ea_eV']:.3f}±{r['md_ea_err_eV']:.3f} eV, "
                    f"σ(300 K) {r['md_sigma_300K_S_cm']:.2g} S/cm"
                    for r in md
                ),
                "LZC ~0.5 mS/cm; LZNC 1.03 mS/cm, Ea 0.327 eV",
                "short MD extrapolated to 300 K: see the warnings in the MD section",
            )
        )
    else:
        out.append(
            (
                "σ(300 K), Ea from MD",
                "not run (add --tiers ...,md; a GPU/cluster tier)",
                "Ea 0.327 eV, 1.03 mS/cm (LZNC)",
                "–",
            )
        )
    return out


def _lab_predicted(r: dict[str, Any]) -> str:
    parts = []
    if r.get("prior_log10_sigma") is not None:
        parts.append(
            f"prior 10^{r['prior_log10_sigma']:.2f} [10^{r['prior_lo']:.2f}, "
            f"10^{r['prior_hi']:.2f}]"
        )
    if r.get("md_ea_eV") is not None:
        parts.append(f"MD Ea {r['md_ea_eV']:.3f} eV")
    return f"x={r['x']:g}: " + (", ".join(parts) or "–")


def _lab_measured(r: dict[str, Any]) -> str:
    parts = []
    if r.get("lab_sigma_S_cm"):
        parts.append(f"σ {r['lab_sigma_S_cm']:.3g} S/cm")
    if r.get("lab_ea_eV") is not None:
        err = f"±{r['lab_ea_err_eV']:.3f}" if r.get("lab_ea_err_eV") is not None else ""
        parts.append(f"Ea {r['lab_ea_eV']:.3f}{err} eV")
    return f"x={r['x']:g}: " + ", ".join(parts) + f" ({r.get('lab_source') or 'your data'})"


def _lab_verdict(lab: list[dict[str, Any]]) -> str:
    """Your numbers against Chen et al.'s and against the prior's interval."""
    out = []
    for r in lab:
        s = r.get("lab_sigma_S_cm")
        if s and r.get("measured_sigma_S_cm"):
            out.append(f"x={r['x']:g}: σ {s / r['measured_sigma_S_cm']:.2g}x Chen's")
        if s and r.get("prior_log10_sigma") is not None:
            inside = r["prior_lo"] <= np.log10(s) <= r["prior_hi"]
            out.append(
                f"x={r['x']:g}: {'inside' if inside else 'OUTSIDE'} the prior's 90% interval"
            )
        if r.get("lab_ea_eV") is not None and r.get("measured_ea_eV") is not None:
            out.append(f"x={r['x']:g}: Ea {r['lab_ea_eV'] - r['measured_ea_eV']:+.3f} eV vs Chen's")
    sig = sorted((r["x"], r["lab_sigma_S_cm"]) for r in lab if r.get("lab_sigma_S_cm"))
    if len(sig) >= 3:
        best = max(sig, key=lambda t: t[1])
        out.append(
            f"your highest σ at x = {best[0]:g}"
            + (" (Chen: x = 0.2)" if abs(best[0] - 0.2) > 1e-9 else ", as Chen found")
        )
    return "; ".join(out) or "–"


def _neb_verdict(nb: list[dict[str, Any]]) -> str:
    first = nb[0]
    lines = []
    for r in nb[1:]:
        for key, lab in (("neb_1d_eV", "1D"), ("neb_3d_eV", "3D")):
            a, b = first.get(key), r.get(key)
            if a is not None and b is not None:
                lines.append(f"{lab} x={r['x']:g} vs x={first['x']:g}: {100 * (b - a) / a:+.0f}%")
    return (
        "; ".join(lines) + ". Nb lowers the barrier in this model"
        if lines and all((r.get("neb_3d_eV") or 9) < (first.get("neb_3d_eV") or 9) for r in nb[1:])
        else (
            "; ".join(lines) + ". Nb does not lower the 3D barrier in this model" if lines else "–"
        )
    )


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}"


def write_chen2025_report(
    path: Path,
    results: dict[str, dict[float, Any]],
    rows: list[dict[str, Any]],
    tiers: Sequence[str],
    model: str,
    failed: dict[str, str],
    wall_s: float,
    literature_csvs: Sequence[str | Path] = (),
    verdict_rows: Sequence[dict[str, Any]] = (),
    calibrations_given: bool = False,
) -> Path:
    """Write the reference-case report (self-contained HTML).

    Parameters
    ----------
    path : path
        The HTML file.
    results : dict
        Tier name -> {x: stored result} (``md`` holds lists of runs, ``md_arrhenius``
        the fits), as :func:`halidelab.screening.reproduce.reproduce_chen2025` gathers.
    rows : list of dict
        :func:`halidelab.screening.reproduce.summary_rows`.
    tiers, model, failed, wall_s
        What ran, with which MLIP, what failed, and how long it took.
    literature_csvs : sequence of path
        The user's tables of measured electrolytes, added to the shipped literature table
        in the "among known halides" section.
    verdict_rows : sequence of dict
        :func:`halidelab.cases.chen2025.ensemble_verdicts`: the case's claims with their
        significance (they replace the single-ordering lattice and barrier lines).
    calibrations_given : bool
        Whether ``--calibration`` files were given: ``results["calibrated"]``
        (:func:`halidelab.cases.chen2025.calibrated_series`) then holds, per composition
        and state, the raw and calibrated values with intervals (or why a calibration
        does not apply), shown beside Chen et al.'s measurements.
    """
    from halidelab.plotting import pyplot

    pyplot()  # headless backend before any figure
    sections = []
    intro = (
        "<p>Li<sub>2-x</sub>Zr<sub>1-x</sub>Nb<sub>x</sub>Cl<sub>6</sub>: each Nb<sup>5+</sup> on "
        "a "
        "Zr<sup>4+</sup> site removes one Li<sup>+</sup>. Reference: Chen et al., ChemComm 2025 "
        "(ball-milled, trigonal P-3m1). Tiers run: <b>"
        + esc(", ".join(tiers))
        + f"</b>; MLIP: <b>{esc(model)}"
        f"</b>; wall time {wall_s:.0f} s.</p>"
    )
    if failed:
        intro += "<p class='bad'>Failed tasks: " + esc("; ".join(failed.values())) + "</p>"
    comp = verdicts(rows)
    if verdict_rows:
        replaced = ("lattice vs x (MLIP)", "BVSE barrier vs x", "CI-NEB percolation barrier (MLIP)")
        comp = [
            (v["quantity"], v["predicted"], v["measured"], v["verdict"]) for v in verdict_rows
        ] + [c for c in comp if c[0] not in replaced]
    intro += (
        "<table><tr><th class='l'>quantity</th><th class='l'>predicted</th><th "
        "class='l'>measured</th>"
        "<th class='l'>verdict</th></tr>"
        + "".join(
            f"<tr><td class='l'>{esc(a)}</td><td class='l'>{esc(b)}</td><td class='l'>{esc(c)}</td>"
            f"<td class='l'>{esc(d)}</td></tr>"
            for a, b, c, d in comp
        )
        + "</table>"
    )
    sections.append(("Predicted next to measured", intro))

    cols = [
        ("formula", "formula", None),
        ("x", "x", _f(2)),
        ("li_vacancies", "Li vac /f.u.", _f(2)),
        ("t", "t", _f(3)),
        ("packing", "t predicts", None),
        ("x_modelled", "x modelled", _f(4)),
        ("n_atoms", "atoms", None),
        ("a_vegard_A", "a Vegard (Å)", _f(3)),
        ("a_relaxed_A", "a relaxed (Å)", _f(3)),
        ("c_relaxed_A", "c relaxed (Å)", _f(3)),
        ("bvse_1d_eV", "BVSE 1D (eV)", _f(2)),
        ("bvse_3d_eV", "BVSE 3D (eV)", _f(2)),
        ("prior_log10_sigma", "prior log σ", _f(2)),
        ("measured_sigma_S_cm", "measured σ (S/cm)", _e),
        ("measured_ea_eV", "measured Ea (eV)", _f(3)),
    ]
    if any(r.get("neb_1d_eV") is not None or r.get("neb_converged") is not None for r in rows):
        cols[12:12] = [("neb_1d_eV", "NEB 1D (eV)", _f(3)), ("neb_3d_eV", "NEB 3D (eV)", _f(3))]
    if any(r.get("md_ea_eV") is not None for r in rows):
        cols[-2:-2] = [
            ("md_ea_eV", "MD Ea (eV)", _f(3)),
            ("md_sigma_300K_S_cm", "MD σ(300 K) (S/cm)", _e),
        ]
    if any(r.get("lab_sigma_S_cm") or r.get("lab_ea_eV") is not None for r in rows):
        cols += [("lab_sigma_S_cm", "your σ (S/cm)", _e), ("lab_ea_eV", "your Ea (eV)", _f(3))]
    sections.append(("Series table", table_html(rows, cols)))
    from halidelab.report.calibrated import calibration_section

    cal_rows = [
        {
            "candidate": r["formula"]
            + (f" ({r['state']})" if r["state"] else " (no structure models)"),
            "key": f"{r['x']:g} {r['state'] or '-'}",
            "entries": r["entries"],
            "measured": r["measured"],
        }
        for r in results.get("calibrated") or []
    ]
    sections.append(
        (
            "Calibrated against the reference set",
            calibration_section(
                cal_rows,
                given=calibrations_given,
                measured_label="measured (Chen 2025, same state)",
            ),
        )
    )
    if results.get("ensembles"):
        sections.append(
            (
                "Ensembles and synthesis states",
                ensemble_table(results["ensembles"])
                + (
                    "<p>annealed: quenched models (each annealed composition's site disorder "
                    "sampled at the quench temperature, <code>--annealed-state quenched</code>), "
                    "not the Ewald ground state; they stand for the annealed samples.</p>"
                    if results.get("annealed_state") == "quenched"
                    else ""
                )
                + "".join(
                    f"<p class='warn'>cell: {esc(w)}</p>"
                    for w in results.get("cell_warnings") or []
                ),
            )
        )
    kmc = {
        k: v
        for k, v in (results.get("kmc") or {}).items()
        if any(m.get("kmc_bvse") or m.get("kmc_neb") for m in v)
    }
    if kmc:
        notes = sorted(
            {
                a
                for v in kmc.values()
                for m in v
                for src in ("kmc_bvse", "kmc_neb")
                if m.get(src)
                for a in m[src]["kmc"]["assumptions"]
            }
        )
        sections.append(
            (
                "Kinetic Monte Carlo (25-100 °C)",
                figure_html(
                    kmc_figure(kmc, results.get("measured_reference", ())),
                    "σ(T) by kinetic Monte Carlo on the hop networks of every ordering (mean ± "
                    "standard error over the orderings): solid, NEB networks (annealed orderings); "
                    "dotted, BVSE "
                    "networks (both states). Red line: the measured Arrhenius line of ball-milled "
                    "LZNC; stars: "
                    "measured 25 °C values (grey: annealed LZNC).",
                    kind="kmc",
                )
                + "<ul>"
                + "".join(f"<li class='note'>{esc(n)}</li>" for n in notes)
                + "</ul>",
            )
        )
    else:
        sections.append(
            ("Kinetic Monte Carlo (25-100 °C)", missing_html("σ(T) by KMC", "kmc", "kmc"))
        )

    design = results.get("design", {})
    notes = []
    if design:
        from halidelab.designer import design as _design

        rep = _design("Li2ZrCl6", dopant="Nb", site="Zr", x=sorted(design))
        notes = [f"<li class='note'>{esc(n)}</li>" for n in rep.notes]
        notes += [f"<li class='warn'>warning: {esc(w)}</li>" for w in rep.warnings] or [
            "<li class='ok'>no warnings: one packing along the series, Nb/Zr mismatch 11%</li>"
        ]
    sections.append(("Design and fit rules", "<ul>" + "".join(notes) + "</ul>"))

    figs = []
    if any(r.get("a_vegard_A") for r in rows):
        figs.append(
            figure_html(
                lattice_figure(rows), "Lattice parameters against Nb content.", kind="lattice"
            )
        )
    if any(r.get("bvse_1d_eV") is not None for r in rows):
        figs.append(
            figure_html(
                bvse_figure(rows), "BVSE percolation barriers of Li+ (static lattice).", kind="bvse"
            )
        )
    if any(r.get("prior_log10_sigma") is not None for r in rows):
        figs.append(
            figure_html(sigma_figure(rows), "Conductivity: prior and measurement.", kind="sigma")
        )
    if any((st or {}).get("results") for st in results.get("neb", {}).values()):
        figs.append(
            figure_html(
                neb_figure(results["neb"]),
                "CI-NEB energy profiles (MLIP); dotted: band "
                "not converged; dashed: 1D/3D percolation barriers.",
                kind="neb",
            )
        )
    else:
        figs.append(missing_html("CI-NEB energy profiles", "neb", "neb"))
    md_arr = {x: a for x, a in results.get("md_arrhenius", {}).items() if a and "error" not in a}
    if md_arr:
        figs.append(
            figure_html(
                arrhenius_figure(md_arr, results.get("measured_reference", ())),
                "Arrhenius plot of the MD Nernst-Einstein "
                "conductivities (Haven ratio 1), extrapolated to 300 K (dashed), with "
                "the conductivities measured at 25 °C (stars).",
                kind="arrhenius",
            )
        )
    else:
        figs.append(
            missing_html(
                "Arrhenius plot (MD)",
                "md",
                "arrhenius",
                why="not computed: run tier md at two or more temperatures"
                if not results.get("md")
                else "no Arrhenius fit: see the MD section",
            )
        )
    if any(results.get("xrd", {}).values()):
        figs.append(
            figure_html(
                xrd_figure(results["xrd"]),
                "Simulated XRD (Cu Kα, pseudo-Voigt FWHM 0.1°) of the unrelaxed ordered models.",
                kind="xrd",
            )
        )
    else:
        figs.append(missing_html("Simulated XRD", "xrd", "xrd"))
    sections.append(("Figures", "".join(figs)))
    sections.append(
        ("Among known halides", placement(rows, results.get("md_arrhenius", {}), literature_csvs))
    )

    neb = results.get("neb", {})
    if neb:
        nrows = []
        for x, st in sorted(neb.items()):
            for r in (st or {}).get("results", []):
                nrows.append(
                    {
                        "x": x,
                        "hop": r["label"],
                        "fwd": r["barrier_forward_eV"],
                        "bwd": r["barrier_backward_eV"],
                        "conv": "yes" if r["converged"] else "NO",
                    }
                )
        sections.append(
            (
                "CI-NEB hops",
                table_html(
                    nrows,
                    [
                        ("hop", "hop", None),
                        ("x", "x", _f(2)),
                        ("fwd", "forward (eV)", _f(3)),
                        ("bwd", "backward (eV)", _f(3)),
                        ("conv", "converged", None),
                    ],
                ),
            )
        )
    md_arr = results.get("md_arrhenius", {})
    if md_arr:
        mrows = []
        for x, runs in sorted(results.get("md", {}).items()):
            for r in runs:
                d = r["diffusion"]
                if d.get("d_cm2_s") is None:  # not diffusive: the verdict, not a number
                    from halidelab.transport.diffusion import DiffusionResult

                    verdict = DiffusionResult.from_dict(d).verdict
                    mrows.append(
                        {"x": x, "T": d["temperature_K"], "D": verdict, "Derr": "", "sigma": ""}
                    )
                    continue
                mrows.append(
                    {
                        "x": x,
                        "T": d["temperature_K"],
                        "D": d["d_cm2_s"],
                        "Derr": d["d_err_cm2_s"],
                        "sigma": d["sigma_S_cm"],
                    }
                )
        warn = "".join(
            f"<li class='warn'>x={x:g}: {esc(w)}</li>"
            for x, a in md_arr.items()
            if a
            for w in (a.get("warnings") or ([a["error"]] if "error" in a else []))
        )
        sections.append(
            (
                "Molecular dynamics",
                table_html(
                    mrows,
                    [
                        ("x", "x", _f(2)),
                        ("T", "T (K)", _f(0)),
                        ("D", "D (cm²/s)", _e),
                        ("Derr", "± D", _e),
                        ("sigma", "σ NE (S/cm)", _e),
                    ],
                )
                + (f"<ul>{warn}</ul>" if warn else ""),
            )
        )
    relax = results.get("relax", {})
    if relax:
        rrows = [
            {
                "x": x,
                "formula": r["formula"],
                "converged": "yes" if r["converged"] else "NO",
                "steps": r["steps"],
                "fmax": r["fmax_eV_A"],
                "e": r["energy_per_atom_eV"],
                "wall": r["wall_s"],
                "model": f"{r['provenance']['model']} {r['provenance']['model_version']}",
            }
            for x, r in sorted(relax.items())
            if r
        ]
        sections.append(
            (
                "Relaxations",
                table_html(
                    rrows,
                    [
                        ("formula", "formula", None),
                        ("x", "x", _f(2)),
                        ("converged", "converged", None),
                        ("steps", "steps", None),
                        ("fmax", "final fmax (eV/Å)", _f(3)),
                        ("e", "E (eV/atom)", _f(4)),
                        ("wall", "wall (s)", _f(1)),
                        ("model", "model", None),
                    ],
                ),
            )
        )
    return write_report(
        path,
        "Nb-substituted Li2ZrCl6: reference case",
        sections,
        subtitle="halidelab reproduce chen2025 —",
    )
