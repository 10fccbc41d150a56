"""The conductivity prior: gradient boosting on composition features, conformal intervals.

Model
    scikit-learn ``HistGradientBoostingRegressor`` (handles the NaN of undefined halide
    features natively) on :func:`halidelab.prior.features.featurize`, target
    log10(sigma_RT / S cm^-1), fixed seed. It was chosen over a random forest and extra
    trees by grouped cross-validation on the training split only (see
    ``benchmarks/bench_prior.py``); the test split is never used to choose anything.
Interval
    Split-free conformal (cross-conformal, Vovk 2015; the "CV+"-style residuals of
    Barber et al., Ann. Statist. 49, 486 (2021)): out-of-fold absolute residuals from
    a 5-fold *grouped* cross-validation on the training split (groups = the major
    elements, so doped variants of one parent never straddle a fold). The errors grow
    with the distance d from a query to the nearest training composition, so the
    score is normalised (locally weighted conformal, Lei et al., JASA 113, 1094
    (2018)): s = |residual| / sigma(d), sigma(d) = sqrt(1 + d / d_med), d_med the
    median held-out distance; q = the ceil((n+1)(1-alpha))-th smallest s, and the
    interval is prediction +/- q sigma(d). Grouped folds make the residuals those of
    an unseen chemical system, the situation of the official test split. Censored
    training entries (upper limits) carry no residual and are left out of the
    calibration. (A constant-width interval, tried first, covered 79% of the test
    split for a nominal 90%: the test split lies farther from the training data
    than the grouped folds do.)
Applicability
    Distance from the query to the nearest training composition in standardised
    feature space (root-mean-square over features, NaN counted as the training mean).
    The threshold is the 95th percentile of the same distance for training entries
    measured against the *other* cross-validation groups; beyond it the query is
    flagged out of domain. Also flagged: fewer than :data:`MIN_FAMILY_SUPPORT`
    training entries of the query's chemical family.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import importlib.resources
import json
import math
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from halidelab import __version__
from halidelab.constants import ROOM_TEMPERATURE_K
from halidelab.errors import FitError, ModelError
from halidelab.prior.data import (
    PriorDataset,
    check_query_formula,
    chemical_family,
    composition_key,
    prepare_dataset,
)
from halidelab.prior.features import (
    ELEMENT_PROPERTIES,
    PHYSICS_FEATURES,
    STATISTICS,
    feature_names,
    featurize,
)
from halidelab.records import Provenance, Record

#: Default random seed.
SEED = 0
#: Nominal coverage of the interval.
INTERVAL_LEVEL = 0.90
#: Number of grouped cross-validation folds for calibration and the domain threshold.
N_FOLDS = 5
#: Percentile of held-out nearest-neighbour distances used as the domain threshold.
DOMAIN_PERCENTILE = 95.0
#: Fewer training entries of a family than this flags the query.
MIN_FAMILY_SUPPORT = 20
#: Hyper-parameters (chosen by grouped CV on the training split, see the benchmark).
HGB_PARAMS: dict[str, Any] = {
    "learning_rate": 0.05,
    "max_iter": 300,
    "min_samples_leaf": 20,
    "l2_regularization": 0.0,
}
#: The OBELiX authors' value for "<1E-10" entries in their benchmark, log10 S/cm.
OBELIX_CENSORED_LOG10 = -15.0

MODEL_FILE = "prior_model.joblib"
PROVENANCE_FILE = "prior_model.json"
#: Environment variable that points predict/explain at another saved model folder.
MODEL_ENV = "HALIDELAB_PRIOR_MODEL"


def default_model_dir() -> Path:
    """Folder of the shipped model (``halidelab/data/prior``)."""
    return Path(str(importlib.resources.files("halidelab") / "data" / "prior"))


def installed_model_sha256() -> str:
    """Checksum of the installed prior model: part of the prior tasks' keys, so that a
    retrained model (``halidelab prior train``) is not answered from old results."""
    import json

    meta = default_model_dir() / "prior_model.json"
    return json.loads(meta.read_text()).get("model_sha256", "") if meta.is_file() else ""


# ---------------------------------------------------------------------------- records


@dataclasses.dataclass(frozen=True)
class Neighbour(Record):
    """A measured training material close to a query.

    Attributes
    ----------
    id : str
        OBELiX ID.
    formula : str
        Reduced formula as OBELiX writes it.
    family : str
        Chemical family.
    log10_sigma_S_cm : float
        Measured log10 conductivity at room temperature (an upper limit if censored).
    censored : bool
        True when only an upper limit was reported.
    distance : float
        RMS distance in standardised feature space.
    """

    id: str
    formula: str
    family: str
    log10_sigma_S_cm: float
    censored: bool
    distance: float


@dataclasses.dataclass(frozen=True)
class PriorPrediction(Record):
    """Prior estimate of the room-temperature ionic conductivity of one composition.

    Attributes
    ----------
    formula : str
        The query as given.
    family : str
        Chemical family (halide, sulfide, oxide, nitride, hydride, other).
    log10_sigma_S_cm : float
        Predicted log10(sigma / S cm^-1) at room temperature.
    log10_sigma_low_S_cm, log10_sigma_high_S_cm : float
        Conformal interval at ``interval_level`` (marginal coverage over compositions
        like the test split, not a per-composition guarantee).
    interval_level : float
        Nominal coverage (0.9).
    temperature_K : float
        Temperature the training data refer to (room temperature, ~298 K).
    in_domain : bool
        False when the query is farther from every training composition than
        ``domain_threshold`` or its family is thinly represented.
    nearest_distance : float
        Distance to the nearest training composition (standardised feature units).
    domain_threshold : float
        Distance beyond which a query is out of domain.
    nearest : tuple of Neighbour
        The closest measured materials.
    warnings : tuple of str
        What a user should know (out of domain, thin family, exact training match).
    provenance : Provenance
        Model, data version, seed.
    """

    formula: str
    family: str
    log10_sigma_S_cm: float
    log10_sigma_low_S_cm: float
    log10_sigma_high_S_cm: float
    interval_level: float
    temperature_K: float
    in_domain: bool
    nearest_distance: float
    domain_threshold: float
    nearest: tuple[Neighbour, ...] = ()
    warnings: tuple[str, ...] = ()
    provenance: Provenance = dataclasses.field(
        default_factory=lambda: Provenance(method="conductivity prior")
    )

    @property
    def sigma_S_cm(self) -> float:
        """Predicted conductivity in S/cm."""
        return 10.0**self.log10_sigma_S_cm


@dataclasses.dataclass(frozen=True)
class Contribution(Record):
    """Effect of one feature group on a prediction (occlusion to the training median).

    Attributes
    ----------
    feature : str
        Feature group (an element property's five statistics, or one physics feature).
    value : float or None
        The query's value (mean for element-property groups; None when NaN).
    delta_log10 : float
        Prediction minus the prediction with this group set to the training median,
        in decades of S/cm: positive means the feature raises the predicted sigma.
    """

    feature: str
    value: float | None
    delta_log10: float


@dataclasses.dataclass(frozen=True)
class PriorExplanation(Record):
    """Why the prior says what it says about one composition.

    Attributes
    ----------
    prediction : PriorPrediction
        The prediction explained.
    contributions : tuple of Contribution
        Feature groups sorted by |delta_log10|, largest first.
    """

    prediction: PriorPrediction
    contributions: tuple[Contribution, ...]


# ------------------------------------------------------------------------------ model


@dataclasses.dataclass
class PriorModel:
    """A fitted prior: estimator, calibration, reference set for applicability."""

    estimator: Any
    q_interval: float
    distance_scale: float
    interval_level: float
    x_mean: np.ndarray
    x_scale: np.ndarray
    x_ref: np.ndarray
    x_median: np.ndarray
    domain_threshold: float
    reference: pd.DataFrame
    feature_names: list[str]
    family_counts: dict[str, int]
    provenance: dict[str, Any]

    # -------------------------------------------------------------- prediction core

    def _standardise(self, x: np.ndarray) -> np.ndarray:
        z = (x - self.x_mean) / self.x_scale
        return np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)

    def _distances(self, x: np.ndarray) -> np.ndarray:
        """(n_query, n_ref) RMS distance in standardised feature space."""
        return _rms_distances(self._standardise(x), self.x_ref)

    def half_width(self, nearest_distance: np.ndarray | float) -> np.ndarray:
        """Interval half-width in decades for a distance to the nearest training entry."""
        return self.q_interval * _sigma(np.asarray(nearest_distance, float), self.distance_scale)

    def predict_features(self, x: np.ndarray) -> np.ndarray:
        """Predicted log10 sigma (S/cm) for a feature matrix."""
        return self.estimator.predict(x)

    def predict(self, compositions: Iterable[str], n_neighbours: int = 3) -> list[PriorPrediction]:
        """Predictions, intervals and applicability for formulas (see :func:`predict`)."""
        formulas = [str(f) for f in compositions]
        comps = [check_query_formula(f) for f in formulas]
        if not comps:
            return []
        x = featurize(comps)
        mean = self.predict_features(x)
        out: list[PriorPrediction] = []
        prov = Provenance(
            method="conductivity prior (gradient boosting + cross-conformal interval)",
            model="halidelab-prior-hgb",
            model_version=self.provenance.get("model_sha256", "")[:12],
            parameters={
                "data_sha256": self.provenance.get("data_sha256", {}),
                "interval_level": self.interval_level,
                "sklearn": self.provenance.get("versions", {}).get("scikit-learn"),
            },
            seed=self.provenance.get("seed"),
        )
        train_keys = set(self.reference["key"])
        ref = self.reference
        for start in range(0, len(comps), 2000):  # chunk: bounded memory for big batches
            stop = min(start + 2000, len(comps))
            d = self._distances(x[start:stop])
            k = min(n_neighbours, d.shape[1])
            order = np.argsort(d, axis=1)[:, :k]
            for row, i in enumerate(range(start, stop)):
                fam = chemical_family(comps[i])
                dmin = float(d[row, order[row, 0]])
                warns = []
                in_domain = dmin <= self.domain_threshold
                if not in_domain:
                    warns.append(
                        f"out of domain: nearest measured composition is {dmin:.2f} away "
                        f"(threshold {self.domain_threshold:.2f}); treat the number as a guess"
                    )
                support = self.family_counts.get(fam, 0)
                if support < MIN_FAMILY_SUPPORT:
                    in_domain = False
                    warns.append(
                        f"only {support} {fam}s in the training data: the prior knows little about "
                        "this family"
                    )
                if composition_key(comps[i]) in train_keys:
                    warns.append(
                        "this composition is in the training data: the prediction is not a forecast"
                    )
                neigh = tuple(
                    Neighbour(
                        id=str(ref["id"].iat[j]),
                        formula=str(ref["name"].iat[j]),
                        family=str(ref["family"].iat[j]),
                        log10_sigma_S_cm=float(ref["log10_sigma_S_cm"].iat[j]),
                        censored=bool(ref["censored"].iat[j]),
                        distance=float(d[row, j]),
                    )
                    for j in order[row]
                )
                m = float(mean[i])
                hw = float(self.half_width(dmin))
                out.append(
                    PriorPrediction(
                        formula=formulas[i],
                        family=fam,
                        log10_sigma_S_cm=m,
                        log10_sigma_low_S_cm=m - hw,
                        log10_sigma_high_S_cm=m + hw,
                        interval_level=self.interval_level,
                        temperature_K=ROOM_TEMPERATURE_K,
                        in_domain=bool(in_domain),
                        nearest_distance=dmin,
                        domain_threshold=self.domain_threshold,
                        nearest=neigh,
                        warnings=tuple(warns),
                        provenance=prov,
                    )
                )
        return out

    def explain(self, formula: str, n_neighbours: int = 5) -> PriorExplanation:
        """Prediction, feature-group contributions and nearest measured materials."""
        pred = self.predict([formula], n_neighbours=n_neighbours)[0]
        x = featurize([check_query_formula(formula)])
        base = float(self.predict_features(x)[0])
        groups = _feature_groups(self.feature_names)
        rows = []
        trials = []
        for _, cols in groups:
            xt = x.copy()
            xt[0, cols] = self.x_median[cols]
            trials.append(xt[0])
        deltas = base - self.predict_features(np.asarray(trials))
        for (name, cols), delta in zip(groups, deltas, strict=True):
            v = x[0, cols[0]]
            rows.append(
                Contribution(
                    feature=name,
                    value=None if not np.isfinite(v) else float(v),
                    delta_log10=float(delta),
                )
            )
        rows.sort(key=lambda c: -abs(c.delta_log10))
        return PriorExplanation(prediction=pred, contributions=tuple(rows))


def _rms_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """RMS Euclidean distances between rows of a and b (vectorised)."""
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(d2, 0.0) / a.shape[1])


def _sigma(d: np.ndarray, scale: float) -> np.ndarray:
    """Difficulty sigma(d) = sqrt(1 + d / d_med) of the normalised conformal score."""
    return np.sqrt(1.0 + np.maximum(d, 0.0) / scale)


def _feature_groups(names: Sequence[str]) -> list[tuple[str, list[int]]]:
    """Element-property groups (5 statistics each) and single physics features."""
    groups: list[tuple[str, list[int]]] = []
    index = {n: i for i, n in enumerate(names)}
    for p in ELEMENT_PROPERTIES:
        groups.append((f"{p} (mean/mad/min/max/range)", [index[f"{p}_{s}"] for s in STATISTICS]))
    for f in PHYSICS_FEATURES:
        groups.append((f, [index[f]]))
    return groups


# ---------------------------------------------------------------------------- training


def _new_estimator(seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(random_state=seed, **HGB_PARAMS)


def conformal_quantile(residuals: np.ndarray, level: float) -> float:
    """The ceil((n+1) level)-th smallest |residual| (finite-sample conformal quantile).

    Raises
    ------
    FitError
        Too few residuals for the level (n < level / (1 - level)).
    """
    r = np.sort(np.abs(np.asarray(residuals, float)))
    n = r.size
    k = math.ceil((n + 1) * level)
    if n == 0 or k > n:
        raise FitError(
            f"{n} calibration residuals are too few for a {level:.0%} conformal interval"
        )
    return float(r[k - 1])


def metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    censored: np.ndarray,
    low: np.ndarray | None = None,
    high: np.ndarray | None = None,
) -> dict[str, float]:
    """Scores in log10(S/cm) on a table with censored (upper-limit) entries.

    ``mae``, ``rmse``, ``spearman`` and ``coverage`` use the uncensored entries only;
    ``mae_censoring_aware`` counts a censored entry's error as max(0, pred - limit) (a
    prediction below the limit is right); ``mae_obelix_convention`` sets censored
    entries to 1e-15 S/cm as the OBELiX authors' benchmark did, for comparison with
    their numbers; ``censored_consistent`` is the fraction of censored entries whose
    interval reaches below the limit.
    """
    from scipy.stats import spearmanr

    y_true = np.asarray(y_true, float)
    y_pred = np.asarray(y_pred, float)
    cens = np.asarray(censored, bool)
    unc = ~cens
    err = y_pred - y_true
    out: dict[str, float] = {
        "n": int(y_true.size),
        "n_uncensored": int(unc.sum()),
        "n_censored": int(cens.sum()),
        "mae": float(np.mean(np.abs(err[unc]))) if unc.any() else math.nan,
        "rmse": float(np.sqrt(np.mean(err[unc] ** 2))) if unc.any() else math.nan,
        "spearman": float(spearmanr(y_true[unc], y_pred[unc])[0]) if unc.sum() > 2 else math.nan,
        "mae_censoring_aware": float(np.mean(np.where(cens, np.maximum(err, 0.0), np.abs(err)))),
        "mae_obelix_convention": float(
            np.mean(np.abs(y_pred - np.where(cens, OBELIX_CENSORED_LOG10, y_true)))
        ),
    }
    if low is not None and high is not None:
        low = np.asarray(low, float)
        high = np.asarray(high, float)
        inside = (y_true >= low) & (y_true <= high)
        out["coverage"] = float(inside[unc].mean()) if unc.any() else math.nan
        out["censored_consistent"] = (
            float((low[cens] <= y_true[cens]).mean()) if cens.any() else math.nan
        )
        out["interval_width"] = float(np.mean(high - low))
    return out


@dataclasses.dataclass(frozen=True)
class TrainReport(Record):
    """What ``train_prior`` did and how well the result scores.

    Attributes
    ----------
    n_train, n_test : int
        Entries after deduplication (train also after removing test compositions).
    n_merged : int
        Deduplication merges (both splits).
    removed_from_train : tuple of str
        Normalised compositions removed from train because the test split has them.
    cv_metrics : dict
        Grouped 5-fold cross-validation on the training split (out-of-fold).
    test_metrics : dict
        The official test split, all families.
    test_metrics_halide : dict
        The official test split, halides only (few entries: read with care).
    q_interval_log10 : float
        Conformal quantile of the normalised score; the half-width at distance d is
        q sqrt(1 + d / distance_scale), decades.
    distance_scale : float
        Median held-out nearest-neighbour distance d_med.
    domain_threshold : float
        Applicability threshold (standardised feature distance).
    seconds : float
        Wall time of training.
    provenance : Provenance
        Data version, seed, library versions.
    """

    n_train: int
    n_test: int
    n_merged: int
    removed_from_train: tuple[str, ...]
    cv_metrics: dict[str, float]
    test_metrics: dict[str, float]
    test_metrics_halide: dict[str, float]
    q_interval_log10: float
    distance_scale: float
    domain_threshold: float
    seconds: float
    provenance: Provenance


def _versions() -> dict[str, str]:
    import joblib
    import pymatgen.core
    import scipy
    import sklearn

    return {
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
        "joblib": joblib.__version__,
        "pymatgen": getattr(pymatgen.core, "__version__", "unknown"),
        "halidelab": __version__,
    }


def train_prior(
    dataset: PriorDataset | None = None,
    seed: int = SEED,
    level: float = INTERVAL_LEVEL,
) -> tuple[PriorModel, TrainReport]:
    """Fit the prior on the training split, calibrate it and score it on the test split.

    Parameters
    ----------
    dataset : PriorDataset, optional
        Default: the shipped OBELiX split (:func:`halidelab.prior.data.prepare_dataset`).
    seed : int
        Random seed of the estimator.
    level : float
        Nominal coverage of the interval (0 < level < 1).

    Returns
    -------
    (PriorModel, TrainReport)
    """
    from sklearn.model_selection import GroupKFold

    if not 0.0 < level < 1.0:
        raise FitError(f"interval level must be between 0 and 1, got {level}")
    t0 = time.perf_counter()
    ds = dataset if dataset is not None else prepare_dataset()
    train, test = ds.train, ds.test
    x = featurize(train["formula"])
    y = train["log10_sigma_S_cm"].to_numpy(float)
    cens = train["censored"].to_numpy(bool)
    groups = train["group"].to_numpy()
    n_groups = len(set(groups))
    if n_groups < N_FOLDS:
        raise FitError(
            f"training data hold {n_groups} chemical groups; at least {N_FOLDS} are needed"
        )

    # Out-of-fold predictions and held-out nearest-neighbour distances (grouped folds).
    x_mean = np.nanmean(x, axis=0)
    x_mean = np.where(np.isfinite(x_mean), x_mean, 0.0)
    x_scale = np.nanstd(x, axis=0)
    x_scale = np.where(np.isfinite(x_scale) & (x_scale > 0), x_scale, 1.0)
    z = np.nan_to_num((x - x_mean) / x_scale, nan=0.0)
    oof = np.empty_like(y)
    held_out_nn = np.empty_like(y)
    for fit_idx, val_idx in GroupKFold(n_splits=N_FOLDS).split(x, y, groups):
        est = _new_estimator(seed)
        est.fit(x[fit_idx], y[fit_idx])
        oof[val_idx] = est.predict(x[val_idx])
        held_out_nn[val_idx] = _rms_distances(z[val_idx], z[fit_idx]).min(axis=1)
    d_med = float(np.median(held_out_nn))
    if not d_med > 0:
        raise FitError(
            "training compositions are all identical across groups: cannot scale the interval"
        )
    sig = _sigma(held_out_nn, d_med)
    q = conformal_quantile(((oof - y) / sig)[~cens], level)
    threshold = float(np.percentile(held_out_nn, DOMAIN_PERCENTILE))

    est = _new_estimator(seed)
    est.fit(x, y)

    xt = featurize(test["formula"])
    pt = est.predict(xt)
    yt = test["log10_sigma_S_cm"].to_numpy(float)
    ct = test["censored"].to_numpy(bool)
    hal = (test["family"] == "halide").to_numpy()
    zt = np.nan_to_num((xt - x_mean) / x_scale, nan=0.0, posinf=0.0, neginf=0.0)
    wt = q * _sigma(_rms_distances(zt, z).min(axis=1), d_med)
    w = q * sig
    cv_m = metrics(y, oof, cens, oof - w, oof + w)
    test_m = metrics(yt, pt, ct, pt - wt, pt + wt)
    test_h = metrics(yt[hal], pt[hal], ct[hal], pt[hal] - wt[hal], pt[hal] + wt[hal])

    reference = train[
        ["id", "formula", "name", "key", "family", "log10_sigma_S_cm", "censored"]
    ].reset_index(drop=True)
    family_counts = {str(k): int(v) for k, v in train["family"].value_counts().items()}
    seconds = time.perf_counter() - t0
    prov: dict[str, Any] = {
        "method": "HistGradientBoostingRegressor on composition features; cross-conformal interval",
        "data": (
            "OBELiX official train/test split (Therrien et al. 2025, arXiv:2502.14234, CC BY 4.0)"
        ),
        "data_sha256": ds.data_sha256,
        "seed": seed,
        "hyperparameters": HGB_PARAMS,
        "n_folds": N_FOLDS,
        "interval_level": level,
        "domain_percentile": DOMAIN_PERCENTILE,
        "feature_names": feature_names(),
        "versions": _versions(),
        "n_train": len(train),
        "n_test": len(test),
        "n_merged": len(ds.merged),
        "removed_from_train": list(ds.removed_from_train),
        "censoring": (
            "upper limits ('<1E-10') trained at the limit, excluded from calibration and "
            "from MAE/RMSE/Spearman"
        ),
        "cv_metrics": cv_m,
        "test_metrics": test_m,
        "test_metrics_halide": test_h,
        "q_interval_log10": q,
        "distance_scale": d_med,
        "interval_rule": (
            "half-width = q * sqrt(1 + d / distance_scale), d = RMS standardised-feature "
            "distance to the nearest training entry"
        ),
        "domain_threshold": threshold,
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    model = PriorModel(
        estimator=est,
        q_interval=q,
        distance_scale=d_med,
        interval_level=level,
        x_mean=x_mean,
        x_scale=x_scale,
        x_ref=z,
        x_median=np.nanmedian(x, axis=0),
        domain_threshold=threshold,
        reference=reference,
        feature_names=feature_names(),
        family_counts=family_counts,
        provenance=prov,
    )
    report = TrainReport(
        n_train=len(train),
        n_test=len(test),
        n_merged=len(ds.merged),
        removed_from_train=tuple(ds.removed_from_train),
        cv_metrics=cv_m,
        test_metrics=test_m,
        test_metrics_halide=test_h,
        q_interval_log10=q,
        distance_scale=d_med,
        domain_threshold=threshold,
        seconds=seconds,
        provenance=Provenance(
            method="train conductivity prior",
            model="halidelab-prior-hgb",
            parameters={
                "data_sha256": ds.data_sha256,
                "hyperparameters": HGB_PARAMS,
                "versions": prov["versions"],
            },
            seed=seed,
        ),
    )
    return model, report


# ------------------------------------------------------------------------ persistence


def save_model(model: PriorModel, directory: str | Path | None = None) -> Path:
    """Write ``prior_model.joblib`` and its provenance ``prior_model.json``; return the folder.

    Raises
    ------
    ModelError
        The folder cannot be written (say ``--out`` to write elsewhere).
    """
    import joblib

    folder = Path(directory) if directory is not None else default_model_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / MODEL_FILE
        payload = {k: v for k, v in dataclasses.asdict(model).items() if k != "estimator"}
        payload["estimator"] = model.estimator
        from halidelab.outputs import atomic_path, write_text

        with atomic_path(path) as tmp:  # a crash never leaves half a model file
            joblib.dump(payload, tmp, compress=3)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        model.provenance["model_sha256"] = digest
        write_text(
            folder / PROVENANCE_FILE, json.dumps(_strict_json(model.provenance), indent=2) + "\n"
        )
    except OSError as exc:
        raise ModelError(
            f"cannot write the prior model to {folder}: {exc.strerror}; give another folder"
        ) from None
    return folder


def _strict_json(value: Any) -> Any:
    """Plain JSON types, NaN/inf written as null (strict JSON for other tools)."""
    if isinstance(value, dict):
        return {str(k): _strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict_json(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _model_dir(directory: str | Path | None) -> Path:
    if directory is not None:
        return Path(directory)
    env = os.environ.get(MODEL_ENV)
    return Path(env) if env else default_model_dir()


def load_model(directory: str | Path | None = None) -> PriorModel:
    """Load a saved prior (default: ``$HALIDELAB_PRIOR_MODEL`` or the shipped one).

    Refuses a model pickled with another scikit-learn version, or whose file does not
    match its provenance record.

    Raises
    ------
    ModelError
        Missing files, version mismatch, checksum mismatch.
    """
    import joblib
    import sklearn

    folder = _model_dir(directory)
    path, meta_path = folder / MODEL_FILE, folder / PROVENANCE_FILE
    if not path.is_file() or not meta_path.is_file():
        raise ModelError(f"no saved prior in {folder}: run `halidelab prior train` to build it")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"cannot read {meta_path}: {exc}; run `halidelab prior train`") from None
    built = meta.get("versions", {}).get("scikit-learn")
    if built != sklearn.__version__:
        raise ModelError(
            f"the saved prior was built with scikit-learn {built}, this environment has "
            f"{sklearn.__version__}: run `halidelab prior train` to rebuild it"
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if meta.get("model_sha256") != digest:
        raise ModelError(
            f"{path.name} does not match its provenance record {meta_path.name}: run `halidelab "
            "prior train`"
        )
    if meta.get("feature_names") != feature_names():
        raise ModelError(
            "the saved prior uses other features than this halidelab: run `halidelab prior train`"
        )
    payload = joblib.load(path)
    payload["provenance"] = meta
    return PriorModel(**payload)


_CACHE: dict[str, PriorModel] = {}


def get_model(directory: str | Path | None = None) -> PriorModel:
    """:func:`load_model`, cached per folder."""
    key = str(_model_dir(directory).resolve())
    if key not in _CACHE:
        _CACHE[key] = load_model(directory)
    return _CACHE[key]


def predict(
    compositions: Iterable[str], model_dir: str | Path | None = None, n_neighbours: int = 3
) -> list[PriorPrediction]:
    """Prior log10 sigma(RT) with a 90% interval and an applicability flag, per formula.

    This is the entry point for the screening pipeline's ``prior`` tier and the report.

    Parameters
    ----------
    compositions : iterable of str
        Formulas, e.g. ``["Li1.8Zr0.8Nb0.2Cl6", "Li3YCl6"]``.
    model_dir : path, optional
        Folder of a saved model (default: ``$HALIDELAB_PRIOR_MODEL`` or the shipped one).
    n_neighbours : int
        Nearest measured materials to attach to each prediction.

    Raises
    ------
    CompositionError
        An unreadable formula or one without Li.
    ModelError
        No usable saved model.
    """
    return get_model(model_dir).predict(compositions, n_neighbours=n_neighbours)


def explain(
    formula: str, model_dir: str | Path | None = None, n_neighbours: int = 5
) -> PriorExplanation:
    """Prediction, what drives it (feature-group occlusion) and nearest measured materials."""
    return get_model(model_dir).explain(formula, n_neighbours=n_neighbours)
