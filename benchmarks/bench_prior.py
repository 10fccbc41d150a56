"""Benchmark of the conductivity prior (run by hand: ``python benchmarks/bench_prior.py``).

1. Model choice by grouped 5-fold CV on the *training* split only (HGB vs random forest
   vs extra trees), then the official test split for the chosen one, next to the
   trivial baseline of predicting the training median.
2. Test-split metrics (all and halides) and interval coverage of the shipped model.
3. The Nb series Li(2-x)Zr(1-x)Nb(x)Cl6, x = 0..0.5.
4. Time to predict 10,000 generated compositions (cold feature cache).

matminer's ElementProperty featuriser would compute the same Magpie-style statistics,
but it pins pandas < 3 and cannot be installed beside this project, so there is no
library run to compare against here.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

warnings.simplefilter("ignore")


def model_choice() -> None:
    from sklearn.ensemble import (
        ExtraTreesRegressor,
        HistGradientBoostingRegressor,
        RandomForestRegressor,
    )
    from sklearn.model_selection import GroupKFold, cross_val_predict

    from halidelab.prior.data import prepare_dataset
    from halidelab.prior.features import featurize
    from halidelab.prior.model import HGB_PARAMS

    ds = prepare_dataset()
    x = featurize(ds.train["formula"])
    y = ds.train["log10_sigma_S_cm"].to_numpy()
    c = ds.train["censored"].to_numpy()
    g = ds.train["group"].to_numpy()
    xt = featurize(ds.test["formula"])
    yt = ds.test["log10_sigma_S_cm"].to_numpy()
    ct = ds.test["censored"].to_numpy()
    xi, xti = np.nan_to_num(x, nan=-1.0), np.nan_to_num(xt, nan=-1.0)
    models = {
        "HGB (chosen)": (HistGradientBoostingRegressor(random_state=0, **HGB_PARAMS), x, xt),
        "HGB lr0.05 leaf10": (
            HistGradientBoostingRegressor(
                random_state=0, learning_rate=0.05, max_iter=300, min_samples_leaf=10
            ),
            x,
            xt,
        ),
        "random forest": (
            RandomForestRegressor(
                n_estimators=300, min_samples_leaf=2, max_features=0.33, random_state=0, n_jobs=1
            ),
            xi,
            xti,
        ),
        "extra trees": (
            ExtraTreesRegressor(
                n_estimators=300, min_samples_leaf=2, max_features=0.5, random_state=0, n_jobs=1
            ),
            xi,
            xti,
        ),
    }
    base = np.mean(np.abs(yt[~ct] - np.median(y[~c])))
    print(f"trivial baseline (training median) test MAE: {base:.3f}")
    print(f"{'model':22s} {'CV MAE (train)':>15s} {'test MAE':>9s} {'fit s':>6s}")
    for name, (m, xa, xb) in models.items():
        t = time.perf_counter()
        oof = cross_val_predict(m, xa, y, cv=GroupKFold(5), groups=g)
        m.fit(xa, y)
        p = m.predict(xb)
        print(
            f"{name:22s} {np.mean(np.abs(oof - y)[~c]):15.3f} {np.mean(np.abs(p - yt)[~ct]):9.3f} "
            f"{time.perf_counter() - t:6.1f}"
        )


def obelix_recipe_baseline(seeds: tuple[int, ...] = (0, 1, 2, 3, 4)) -> None:
    """Re-run of the OBELiX authors' random-forest baseline recipe on the official split.

    Their published test MAEs could not be retrieved here (the paper's tables are not in
    the reachable sources), so this re-runs the recipe of their ``benchmark/tuning.py``
    (NRC-Mila/OBELiX): element fractions of the true composition plus space-group number
    and the six lattice parameters (standardised on the training split), log10 sigma
    with censored entries at 1e-15 S/cm, RandomForestRegressor(n_estimators=50,
    max_depth=12, max_features="sqrt", min_samples_leaf=2), trained on every training
    row (no deduplication) and scored on every test row. Our shipped model is scored on
    the same rows under the same convention.
    """
    import pandas as pd
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.preprocessing import StandardScaler

    from halidelab.prior.data import chemical_family, data_dir, parse_conductivity, to_composition
    from halidelab.prior.model import OBELIX_CENSORED_LOG10, get_model

    def table(split: str) -> pd.DataFrame:
        raw = pd.read_csv(data_dir() / f"{split}.csv", dtype=str, keep_default_na=False)
        rows = []
        for _, r in raw.iterrows():
            comp = to_composition(r["True Composition"])
            y, cens = parse_conductivity(r["Ionic conductivity (S cm-1)"])
            frac = {el.symbol: comp.get_atomic_fraction(el) for el in comp.elements}
            lat = [float(r[k]) for k in ("a", "b", "c", "alpha", "beta", "gamma")]
            rows.append(
                {
                    "formula": comp.formula.replace(" ", ""),
                    "family": chemical_family(comp),
                    "frac": frac,
                    "sg": float(r["Space group #"]),
                    "lat": lat,
                    "y": OBELIX_CENSORED_LOG10 if cens else y,
                    "censored": cens,
                }
            )
        return pd.DataFrame(rows)

    tr, te = table("train"), table("test")
    elements = sorted({e for f in pd.concat([tr, te])["frac"] for e in f})

    def x(t: pd.DataFrame, scaler: StandardScaler) -> np.ndarray:
        comp = np.array([[f.get(e, 0.0) for e in elements] for f in t["frac"]])
        lat = scaler.transform(np.array(t["lat"].tolist()))
        return np.hstack([comp, t[["sg"]].to_numpy(), lat])

    scaler = StandardScaler().fit(np.array(tr["lat"].tolist()))
    xtr, xte = x(tr, scaler), x(te, scaler)
    yte, cte = te["y"].to_numpy(), te["censored"].to_numpy()
    hal = (te["family"] == "halide").to_numpy() & ~cte
    maes, maes_unc, maes_hal = [], [], []
    for seed in seeds:
        rf = RandomForestRegressor(
            n_estimators=50,
            max_depth=12,
            max_features="sqrt",
            min_samples_leaf=2,
            random_state=seed,
            n_jobs=1,
        ).fit(xtr, tr["y"].to_numpy())
        p = rf.predict(xte)
        maes.append(np.mean(np.abs(p - yte)))
        maes_unc.append(np.mean(np.abs(p - yte)[~cte]))
        maes_hal.append(np.mean(np.abs(p - yte)[hal]))
    ours = np.array([q.log10_sigma_S_cm for q in get_model().predict(te["formula"].tolist())])
    print(
        f"OBELiX-recipe RF re-run ({len(tr)} train / {len(te)} test rows, {len(seeds)} seeds): "
        f"test MAE {np.mean(maes):.3f} +- {np.std(maes):.3f} (censored at 1e-15), "
        f"{np.mean(maes_unc):.3f} +- {np.std(maes_unc):.3f} (uncensored rows), "
        f"{np.mean(maes_hal):.3f} +- {np.std(maes_hal):.3f} (uncensored halides, n={hal.sum()})"
    )
    print(
        f"halidelab prior on the same rows: test MAE {np.mean(np.abs(ours - yte)):.3f} (censored "
        "at 1e-15), "
        f"{np.mean(np.abs(ours - yte)[~cte]):.3f} (uncensored rows), "
        f"{np.mean(np.abs(ours - yte)[hal]):.3f} "
        "(uncensored halides)"
    )


def shipped_metrics() -> None:
    from halidelab.prior.model import get_model

    prov = get_model().provenance
    for name in ("cv_metrics", "test_metrics", "test_metrics_halide"):
        m = prov[name]
        print(
            f"{name:20s} n={m['n_uncensored']:3d} (+{m['n_censored']} censored) MAE={m['mae']:.3f} "
            f"RMSE={m['rmse']:.3f} Spearman={m['spearman']:.3f} MAE(OBELiX "
            f"conv.)={m['mae_obelix_convention']:.3f} "
            f"coverage90={m['coverage']:.3f} mean width={m['interval_width']:.2f}"
        )


def nb_series() -> None:
    from halidelab.prior.model import predict

    xs = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    preds = predict([f"Li{2 - x:.1f}Zr{1 - x:.1f}Nb{x:.1f}Cl6" for x in xs])
    print(
        f"{'x':>4s} {'formula':20s} {'log10 s':>8s} {'90% interval':>16s} {'in domain':>9s} "
        f"{'d_nn':>5s}  nearest"
    )
    for x, p in zip(xs, preds, strict=True):
        n = p.nearest[0]
        print(
            f"{x:4.1f} {p.formula:20s} {p.log10_sigma_S_cm:8.2f} "
            f"[{p.log10_sigma_low_S_cm:6.2f},{p.log10_sigma_high_S_cm:6.2f}] "
            f"{str(p.in_domain):>9s} "
            f"{p.nearest_distance:5.2f}  {n.formula} ({n.log10_sigma_S_cm:.2f})"
        )


def generated(n: int, seed: int = 0) -> list[str]:
    """n distinct doped halides Li_a M1_(1-x) M2_x X_b (charge balanced by Li)."""
    rng = np.random.default_rng(seed)
    hosts = {"Y": 3, "In": 3, "Sc": 3, "Er": 3, "Yb": 3, "Lu": 3, "Ho": 3, "Zr": 4, "Hf": 4}
    dopants = {
        "Nb": 5,
        "Ta": 5,
        "Zr": 4,
        "Hf": 4,
        "In": 3,
        "Y": 3,
        "Sc": 3,
        "Mg": 2,
        "Zn": 2,
        "Al": 3,
        "Fe": 3,
    }
    out: set[str] = set()
    hk, dk = list(hosts), list(dopants)
    while len(out) < n:
        h, d = hk[rng.integers(len(hk))], dk[rng.integers(len(dk))]
        if h == d:
            continue
        x = round(float(rng.uniform(0.0, 0.6)), 3)
        xanion = ["Cl", "Br", "I"][rng.integers(3)]
        li = 6 - (hosts[h] * (1 - x) + dopants[d] * x)
        if li <= 0:
            continue
        out.add(f"Li{li:.3f}{h}{1 - x:.3f}{d}{x:.3f}{xanion}6")
    return sorted(out)


def timing(n: int = 10_000) -> None:
    from halidelab.prior import features
    from halidelab.prior.model import get_model

    model = get_model()
    formulas = generated(n)
    features._physics_from_items.cache_clear()
    t = time.perf_counter()
    preds = model.predict(formulas)
    dt = time.perf_counter() - t
    print(
        f"{len(preds)} predictions (cold cache) in {dt:.2f} s = {1e3 * dt / len(preds):.3f} ms "
        "each; "
        f"{sum(p.in_domain for p in preds)} in domain"
    )


if __name__ == "__main__":
    model_choice()
    obelix_recipe_baseline()
    shipped_metrics()
    nb_series()
    timing()
