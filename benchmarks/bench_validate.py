"""The validation campaign of issue 14 as one command, and its tables in Markdown.

Runs ``halidelab validate`` for each model (one store for all, so a rerun computes nothing
and models can be added later), then prints the parity table (raw and leave-one-out MAE,
Spearman, good/poor accuracy, wall time per material), the substitution-ranking table and
the tier + prior verdicts, as written into the issue notes.

Usage (hours on a 2-core CPU; each model is a campaign of its own)::

    python benchmarks/bench_validate.py --models chgnet,sevennet-0 \
        --tiers relax,bvse,prior,kmc --out bench_validate/
    python benchmarks/bench_validate.py --models chgnet --tiers relax,neb,kmc,prior \
        --out bench_validate/                      # the NEB tier (same store)
    python benchmarks/bench_validate.py --tables-only --out bench_validate/  # print again

Every table row names the tier, the model and the number of materials it rests on; a model
whose campaign is not finished is printed with the materials it has (``--materials`` in
``halidelab validate`` restricts a campaign to a subset).

The model table compares each model's leave-one-out errors with the baseline model's
(``--baseline``, default chgnet) on the materials both have, same tier, target and KMC
network: the mean difference of the absolute errors and its 95 % paired-bootstrap interval
(10,000 resamples of the materials, seeded). An interval that contains 0 means the set
cannot tell the two models apart.

The tier table does the same for a tier built on another (defect on NEB or BVSE, KMC on the
NEB or BVSE network) against that barrier tier, same campaign and model, raw and
leave-one-out.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def _fmt(v: float | None, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def run_campaign(models: list[str], tiers: str, out: Path, materials: str | None) -> None:
    """``halidelab validate`` per model into ``out/<tiers>-<model>/`` over one store."""
    out.mkdir(parents=True, exist_ok=True)
    for model in models:
        folder = out / f"{tiers.replace(',', '-')}_{model}"
        cmd = [
            "halidelab",
            "validate",
            "--tiers",
            tiers,
            "--models",
            model,
            "-o",
            str(folder),
            "--db",
            str(out / "results.sqlite"),
            "--json",
        ]
        if materials:
            cmd += ["--materials", materials]
        print("$", " ".join(cmd), file=sys.stderr)
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        (out / f"{folder.name}.json").write_text(res.stdout)
        print(f"  exit {res.returncode}, {time.perf_counter() - t0:.0f} s wall", file=sys.stderr)
        if res.returncode != 0:
            print(res.stderr.strip().splitlines()[-1] if res.stderr else "", file=sys.stderr)


def tables(out: Path) -> str:
    """The Markdown tables of every campaign JSON in ``out``."""
    rows, subs, comb, seen = [], [], [], set()
    for fn in sorted(out.glob("*.json")):
        try:
            d = json.loads(fn.read_text())
        except json.JSONDecodeError:
            continue
        if not isinstance(d, dict):  # another benchmark's output in the same folder
            continue
        for m in d.get("parity", []):
            # the kmc tier runs on the NEB network in a campaign with the neb tier, else on
            # the BVSE one: the campaign (file) is part of the row
            key = (fn.stem, m["tier"], m["model"], m["target"])
            if key in seen:
                continue
            seen.add(key)
            rows.append(
                f"| {fn.stem} | {m['tier']} | {m['model']} | {m['target']} | {m['n']} | "
                f"{_fmt(m.get('raw_mae'))} | {_fmt(m.get('loo_mae'))} | "
                f"{_fmt(m.get('raw_spearman'), '.2f')} | {_fmt(m.get('loo_spearman'), '.2f')} | "
                f"{_fmt(m.get('loo_accuracy'), '.2f')} | {m.get('map') or '-'} | "
                f"{_fmt(m.get('wall_s_per_material'), '.0f')} |"
            )
        for k, s in (d.get("substitutions") or {}).items():
            if ("sub", fn.stem, k) in seen:
                continue
            seen.add(("sub", fn.stem, k))
            subs.append(
                f"| {fn.stem} | {k.replace('|', ', ')} | {s['n']} | {s['spearman']:.2f} "
                f"({s['spearman_p']:.2f}) | {s['sign_agreement']:.2f} | {s['n_same_paper']} | "
                f"{_fmt(s.get('spearman_same_paper'), '.2f')} |"
            )
        for c in d.get("combined_with_prior") or []:
            key = ("comb", fn.stem, c["tier"], c["model"])
            if key in seen:
                continue
            seen.add(key)
            comb.append(
                f"| {fn.stem} | {c['tier']} | {c['model']} | {c['n']} | "
                f"{_fmt(c.get('loo_mae'), '.2f')} | "
                f"{_fmt(c.get('loo_mae_tier_alone'), '.2f')} | "
                f"{_fmt(c.get('loo_mae_prior_alone'), '.2f')} | "
                f"{'used' if c.get('used') else 'not used'} |"
            )
    head = (
        "| campaign | tier | model | target | n | raw MAE | LOO MAE | raw Spearman | "
        "LOO Spearman | LOO accuracy | map | wall s/material |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    text = [head, *rows, ""]
    if subs:
        text += [
            "| campaign | substitution ranking | pairs | Spearman (p) | sign agreement | "
            "same-paper pairs | Spearman same paper |",
            "|---|---|---|---|---|---|---|",
            *subs,
            "",
        ]
    if comb:
        text += [
            "| campaign | tier + prior | model | n | LOO MAE | tier alone | prior alone "
            "| verdict |",
            "|---|---|---|---|---|---|---|---|",
            *comb,
        ]
    return "\n".join(text)


def _calibrations(out: Path) -> list[tuple[str, dict]]:
    """(campaign, calibration) for every calibration file of the campaigns in ``out``."""
    found = []
    for fn in sorted(out.glob("*.json")):
        try:
            d = json.loads(fn.read_text())
        except json.JSONDecodeError:
            continue
        report = d.get("report") if isinstance(d, dict) else None
        if not report:
            continue
        for base in (Path.cwd(), fn.parent, fn.parent.parent):
            folder = (base / report).parent / "calibration"
            if folder.is_dir():
                for c in sorted(folder.glob("*.json")):
                    found.append((fn.stem, json.loads(c.read_text())["calibration"]))
                break
    return found


def _errors(c: dict, which: str = "loo_predictions") -> dict[str, float]:
    """Absolute error per material id of a calibration's LOO (or raw) predictions."""
    return {
        c["materials"][k]: abs(float(v) - float(c["measured"][k]))
        for k, v in c[which].items()
        if v is not None
    }


def _paired(mine: dict[str, float], ref: dict[str, float], seed: int) -> tuple | None:
    """(n, MAE mine, MAE ref, mean difference, low, high, p) over the common materials, from
    :func:`halidelab.validation.metrics.paired_comparison` (95 % paired bootstrap, 10,000
    resamples; p of the exact sign-flip test, not corrected for the table's other rows);
    None below 4 common materials."""
    from halidelab.validation.metrics import paired_comparison

    c = paired_comparison(mine, ref, target="", a="", b="", basis="", reason="", seed=seed)
    if c is None:
        return None
    return c.n, c.mae_a, c.mae_b, c.difference, c.low, c.high, c.p_value


def _tier_name(c: dict) -> str:
    s = c.get("settings") or {}
    if s.get("kmc_network"):
        extra = ", intrinsic vacancies" if s.get("kmc_vacancies") else ""
        return f"{c['tier']} ({s['kmc_network'].upper()}{extra})"
    if s.get("defect_barrier"):
        return f"{c['tier']} ({s['defect_barrier']})"
    return c["tier"]


def model_table(out: Path, baseline: str = "chgnet", seed: int = 0) -> str:
    """Paired comparison of each model's leave-one-out errors with the baseline model's."""
    cals = _calibrations(out)

    def setting(c: dict) -> tuple:
        return (c["tier"], c["target"], json.dumps(c.get("settings") or {}, sort_keys=True))

    base = {setting(c): _errors(c) for _, c in cals if c["model"] == baseline}
    rows, seen = [], set()
    for camp, c in cals:
        key = (*setting(c), c["model"])
        if c["model"] in (baseline, "none", None) or key in seen or setting(c) not in base:
            continue
        seen.add(key)
        p = _paired(_errors(c), base[setting(c)], seed)
        if p is None:
            continue
        n, mae, mae_ref, mean, lo, hi, pv = p
        rows.append(
            f"| {_tier_name(c)} | {c['target']} | {c['model']} | {n} | {mae:.3f} | "
            f"{mae_ref:.3f} | {mean:+.3f} [{lo:+.3f}, {hi:+.3f}] p {pv:.2g} | {camp} |"
        )
    if not rows:
        return ""
    return "\n".join(
        [
            f"| tier | target | model | n | LOO MAE model | LOO MAE {baseline} | "
            "difference [95 % paired bootstrap] p (sign flip, uncorrected) | campaign |",
            "|---|---|---|---|---|---|---|---|",
            *sorted(rows),
        ]
    )


def tier_table(out: Path, seed: int = 0) -> str:
    """Paired comparison of each derived tier with the barrier tier it is built on.

    A defect tier (``defect_barrier`` NEB or BVSE) and a KMC tier (``kmc_network``) are
    compared with the neb or bvse tier of the same campaign, model and target, on the
    materials both have: raw and leave-one-out, mean difference of the absolute errors
    with its 95 % paired-bootstrap interval. This is what says whether a tier's change is
    more than the noise of a small set.
    """
    cals = _calibrations(out)
    index = {(camp, c["tier"], c["model"], c["target"]): c for camp, c in cals}
    rows = []
    for camp, c in cals:
        s = c.get("settings") or {}
        on = (s.get("defect_barrier") or s.get("kmc_network") or "").lower()
        ref = index.get((camp, on, c["model"], c["target"])) if on else None
        if ref is None:
            continue
        cells = []
        for which in ("raw_predictions", "loo_predictions"):
            p = _paired(_errors(c, which), _errors(ref, which), seed)
            if p is None:
                break
            n, mae, mae_ref, mean, lo, hi, pv = p
            cells.append(
                f"{mae:.3f} vs {mae_ref:.3f} | {mean:+.3f} [{lo:+.3f}, {hi:+.3f}] p {pv:.2g}"
            )
        if len(cells) == 2:
            rows.append(
                f"| {_tier_name(c)} vs {on} | {c['target']} | {c['model']} | {n} | "
                f"{cells[0]} | {cells[1]} | {camp} |"
            )
    if not rows:
        return ""
    return "\n".join(
        [
            "| tiers | target | model | n | raw MAE | raw difference [95 %] p | LOO MAE | "
            "LOO difference [95 %] p | campaign |",
            "|---|---|---|---|---|---|---|---|---|",
            *sorted(rows),
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="chgnet")
    ap.add_argument("--tiers", default="relax,bvse,prior,kmc")
    ap.add_argument("--materials", default=None, help="reference ids, comma-separated")
    ap.add_argument("--out", type=Path, default=Path("bench_validate"))
    ap.add_argument("--tables-only", action="store_true")
    ap.add_argument("--baseline", default="chgnet", help="model the others are compared with")
    a = ap.parse_args()
    if not a.tables_only:
        run_campaign([m for m in a.models.split(",") if m], a.tiers, a.out, a.materials)
    print(tables(a.out))
    print()
    print(model_table(a.out, a.baseline))
    print()
    print(tier_table(a.out))


if __name__ == "__main__":
    main()
