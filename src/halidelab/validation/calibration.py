"""Calibration of a tier's predictions against the reference set, by leave-one-out.

A tier's raw prediction x (a barrier in eV, or a log10 sigma) is mapped to the measured
y by one of three maps, fitted by least squares:

- ``none``: y = x;
- ``offset``: y = a + x (a systematic shift, e.g. a softened MLIP surface);
- ``linear``: y = a + b x.

Each map is scored out of sample by leave-one-material-out cross-validation: every
material is predicted by the map fitted to the other materials (all rows of one material
share one structure model, so they leave together). The map with the lowest LOO MAE is
chosen; a tie goes to the simpler map ("more parameters only if they win out of sample").

The calibrated value of a new prediction is a + b x with an interval of level p:

    half width = t_{(1+p)/2, n-k} * sqrt(s_LOO^2 + (b * s_ens)^2)

with s_LOO the root-mean-square LOO residual (the out-of-sample scatter of the map, which
includes the map's own fitting uncertainty), s_ens the spread of the prediction itself
(the standard deviation over the ordering ensemble, given by the caller; none for the
prior, whose spread is its own error estimate, which s_LOO already measures), n materials
and k parameters of the chosen map. :func:`interval_coverage` tests the interval out of
sample: how many held-out reference materials it holds. A reference material is never
calibrated against itself: applied to one of the calibration's materials, the map fitted
without it is used.

No skill: beside the maps, the reference set's own mean is scored the same way (each
material predicted by the mean measured value of the others, no tier at all). A tier
whose calibrated LOO MAE does not beat it has no skill out of sample on this set
(:attr:`Calibration.skill` <= 0), and every value it calibrates says so.

Out of domain: a composition whose total-variation distance of atomic fractions
(:func:`halidelab.literature.composition_distance`, the distance of
:mod:`halidelab.report.placement`'s nearest-known table) to every calibration material
exceeds :data:`DOMAIN_DISTANCE` is flagged; its interval is not trusted.

Files (:func:`save_calibration`, :func:`load_calibration`) are JSON with the reference
set's SHA-256, model, tier, target and halidelab version, and a SHA-256 of their own
payload: a truncated or edited file, or one fitted on another reference set, model or
tier, is refused with one line.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from halidelab import __version__
from halidelab.errors import CalibrationError
from halidelab.records import Record

MAP_KINDS = ("none", "offset", "linear")
#: parameters of each map
N_PARAMS = {"none": 0, "offset": 1, "linear": 2}
#: fewest materials a calibration is fitted on (each LOO linear fit then sees >= 3 points)
MIN_MATERIALS = 4
#: total-variation distance of atomic fractions beyond which a composition is out of domain
DOMAIN_DISTANCE = 0.15
#: default interval level
LEVEL = 0.9
#: tiers whose prediction's spread is the predictor's own estimate of its error (the prior's
#: interval), not a spread over orderings: the leave-one-out scatter s_LOO already measures
#: that error, so their calibrated interval adds no ensemble term (added, it counted the
#: error twice: :func:`interval_coverage` found the prior's held-out intervals too wide)
OWN_ERROR_TIERS = frozenset({"prior"})
#: what a calibration file keeps of :func:`interval_coverage`
COVERAGE_KEYS = (
    "level",
    "n",
    "inside",
    "fraction_low",
    "fraction_high",
    "rms_z",
    "built_n",  # validate's: of them, the materials built on another's template (designs)
    "built_inside",
)
FILE_FORMAT = "halidelab-calibration"
FILE_VERSION = 1


def fit_map(x: Sequence[float], y: Sequence[float], kind: str) -> tuple[float, float]:
    """Least-squares (a, b) of y = a + b x for one map kind.

    Raises
    ------
    CalibrationError
        Unknown kind, or too few distinct x for the kind.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if kind == "none":
        return 0.0, 1.0
    if kind == "offset":
        if len(x) < 1:
            raise CalibrationError("an offset map needs at least one point")
        return float(np.mean(y - x)), 1.0
    if kind == "linear":
        if len(x) < 2 or np.ptp(x) == 0:
            raise CalibrationError("a linear map needs at least two different predictions")
        b, a = np.polyfit(x, y, 1)
        return float(a), float(b)
    raise CalibrationError(f"unknown map {kind!r}; use one of {', '.join(MAP_KINDS)}")


def baseline_loo_predictions(y: Sequence[float], groups: Sequence[str]) -> np.ndarray:
    """Each point predicted by the mean measured value of the other groups' rows: the no-skill
    baseline (the reference set's mean, out of sample)."""
    y, g = np.asarray(y, float), np.asarray(groups, dtype=object)
    pred = np.full(len(y), np.nan)
    for key in dict.fromkeys(g.tolist()):
        held = g == key
        if (~held).any():
            pred[held] = float(np.mean(y[~held]))
    return pred


def loo_predictions(
    x: Sequence[float], y: Sequence[float], groups: Sequence[str], kind: str
) -> tuple[np.ndarray, dict[str, tuple[float, float]]]:
    """Leave-one-group-out predictions of a map kind.

    Returns
    -------
    predictions : ndarray
        Each point predicted by the map fitted without its group.
    maps : dict
        Group -> (a, b) of the map that never saw that group.
    """
    x, y, g = np.asarray(x, float), np.asarray(y, float), np.asarray(groups, dtype=object)
    pred = np.full(len(x), np.nan)
    maps: dict[str, tuple[float, float]] = {}
    for key in dict.fromkeys(g.tolist()):
        held = g == key
        a, b = fit_map(x[~held], y[~held], kind)
        pred[held] = a + b * x[held]
        maps[str(key)] = (a, b)
    return pred, maps


@dataclasses.dataclass(frozen=True)
class MapCandidate(Record):
    """One map kind scored by leave-one-out.

    Attributes
    ----------
    kind : str
    a, b : float
        Fitted to all materials.
    loo_mae, loo_rmse : float
        Out-of-sample errors, in the target's unit.
    """

    kind: str
    a: float
    b: float
    loo_mae: float
    loo_rmse: float


@dataclasses.dataclass(frozen=True)
class CalibratedValue(Record):
    """A raw prediction and its calibrated value with an interval.

    Attributes
    ----------
    raw, calibrated, low, high : float
        In the target's unit.
    level : float
        Interval level.
    half_width : float
    map_used : str
        ``"all materials"``, or ``"leave-one-out (without X)"`` for a reference material.
    kind : str
        Map kind.
    out_of_domain : bool
        Farther than :data:`DOMAIN_DISTANCE` from every calibration material.
    nearest_reference : str or None
        Composition of the nearest calibration material.
    distance : float or None
        Its composition distance.
    """

    raw: float
    calibrated: float
    low: float
    high: float
    level: float
    half_width: float
    map_used: str
    kind: str
    out_of_domain: bool
    nearest_reference: str | None
    distance: float | None


@dataclasses.dataclass(frozen=True)
class Calibration(Record):
    """A fitted calibration of one (model, tier, target).

    Attributes
    ----------
    target : str
        ``ea_eV`` or ``log10_sigma_S_cm``.
    tier, model : str
    kind : str
        The chosen map.
    a, b : float
        The chosen map fitted to all materials.
    n_materials : int
    raw_mae, raw_rmse : float
        Errors of the uncalibrated predictions.
    loo_mae, loo_rmse : float
        Out-of-sample errors of the chosen map.
    residual_sd : float
        Root-mean-square LOO residual of the chosen map (s_LOO).
    dof : int
        n_materials minus the map's parameters (at least 1).
    level : float
    candidates : tuple of MapCandidate
        Every map kind with its LOO errors.
    materials : dict
        Material key -> composition.
    loo_maps : dict
        Material key -> (a, b) of the chosen kind fitted without that material.
    loo_predictions : dict
        Material key -> its held-out calibrated value.
    raw_predictions, measured : dict
        Material key -> value (what was fitted).
    reference_sha256 : str
    halidelab_version, created_utc : str
    domain_distance : float
    settings : dict
        How the tier's raw predictions were made (:func:`halidelab.validation.tiers.method_of`:
        BVSE grid, NEB images and steps, KMC network source and superbasin ratio); empty
        in files of halidelab < 0.4. ``compare`` applies the calibration only to values
        made the same way.
    orderings : dict
        Material -> how many orderings its raw prediction averages (``validate
        --orderings``); empty in files written before validate averaged orderings (one
        each).
    baseline_loo_mae, baseline_loo_rmse : float or None
        Out-of-sample errors of the reference set's mean (each material predicted by the
        mean measured value of the others): the no-skill baseline a tier must beat. None in
        files of halidelab before it was recorded.
    coverage : dict or None
        How the interval fared held out (:func:`interval_coverage` without its
        per-material list): ``level``, ``n``, ``inside``, ``fraction_low``,
        ``fraction_high``, ``rms_z``, and from ``validate`` ``built_n`` and
        ``built_inside``, the same count on the materials built on another's template (as
        every design is). None when the set was too small, or in files written before it
        was recorded.
    """

    target: str
    tier: str
    model: str
    kind: str
    a: float
    b: float
    n_materials: int
    raw_mae: float
    raw_rmse: float
    loo_mae: float
    loo_rmse: float
    residual_sd: float
    dof: int
    level: float
    candidates: tuple[MapCandidate, ...]
    materials: dict[str, str]
    loo_maps: dict[str, tuple[float, float]]
    loo_predictions: dict[str, float]
    raw_predictions: dict[str, float]
    measured: dict[str, float]
    reference_sha256: str
    halidelab_version: str = __version__
    created_utc: str = dataclasses.field(
        default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    )
    domain_distance: float = DOMAIN_DISTANCE
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    orderings: dict[str, int] = dataclasses.field(default_factory=dict)
    baseline_loo_mae: float | None = None
    baseline_loo_rmse: float | None = None
    coverage: dict[str, Any] | None = None

    @property
    def skill(self) -> float | None:
        """1 - LOO MAE / the set mean's LOO MAE: > 0 when the calibrated tier predicts
        held-out materials better than the reference set's mean does; None when unknown."""
        if self.baseline_loo_mae is None or not self.baseline_loo_mae > 0:
            return None
        return 1.0 - self.loo_mae / self.baseline_loo_mae

    def _t(self) -> float:
        from scipy.stats import t

        return float(t.ppf(0.5 * (1.0 + self.level), max(self.dof, 1)))

    def nearest(self, composition: str) -> tuple[str | None, float | None]:
        """The calibration material nearest in composition, and its distance."""
        from halidelab.literature import composition_distance

        best: tuple[str | None, float | None] = (None, None)
        for comp in self.materials.values():
            d = composition_distance(composition, comp)
            if best[1] is None or d < best[1]:
                best = (comp, d)
        return best

    def apply(
        self,
        raw: float,
        spread: float = 0.0,
        composition: str | None = None,
        material: str | None = None,
    ) -> CalibratedValue:
        """Calibrate one raw prediction.

        Parameters
        ----------
        raw : float
            The tier's prediction (eV or log10 S/cm).
        spread : float
            Standard deviation of the prediction over its ordering ensemble (same unit);
            0 for a single ordering. Not added for a tier in :data:`OWN_ERROR_TIERS`
            (the prior), whose spread is its own error estimate, which s_LOO contains.
        composition : str, optional
            For the out-of-domain flag; a composition equal to a calibration material's
            (same normalised atomic fractions) is calibrated with that material's
            leave-one-out map.
        material : str, optional
            A reference material key: its leave-one-out map is used.

        Raises
        ------
        CalibrationError
            A non-finite raw value or a negative spread.
        """
        if raw is None or not math.isfinite(raw):
            raise CalibrationError(f"cannot calibrate a non-finite prediction ({raw!r})")
        if spread is None or not math.isfinite(spread) or spread < 0:
            raise CalibrationError(
                f"the ensemble spread must be a finite number >= 0, got {spread!r}"
            )
        a, b, used = self.a, self.b, "all materials"
        if material is None and composition is not None:
            from halidelab.prior.data import composition_key

            key = composition_key(composition)
            for mat, comp in self.materials.items():
                if composition_key(comp) == key:
                    material = mat
                    break
        if material is not None and material in self.loo_maps:
            a, b = self.loo_maps[material]
            used = f"leave-one-out (without {self.materials[material]})"
        ens = 0.0 if self.tier in OWN_ERROR_TIERS else spread
        half = self._t() * math.sqrt(self.residual_sd**2 + (b * ens) ** 2)
        value = a + b * raw
        near, dist = self.nearest(composition) if composition else (None, None)
        ood = dist is not None and dist > self.domain_distance
        return CalibratedValue(
            raw=float(raw),
            calibrated=float(value),
            low=float(value - half),
            high=float(value + half),
            level=self.level,
            half_width=float(half),
            map_used=used,
            kind=self.kind,
            out_of_domain=bool(ood),
            nearest_reference=near,
            distance=dist,
        )


def calibrate(
    target: str,
    tier: str,
    model: str,
    raw: Sequence[float],
    measured: Sequence[float],
    materials: Sequence[str],
    compositions: Sequence[str],
    reference_sha256: str,
    level: float = LEVEL,
) -> Calibration:
    """Fit and choose the calibration of one (model, tier, target).

    Parameters
    ----------
    target, tier, model : str
    raw, measured : sequence of float
        One value per material (the material's primary measurement).
    materials : sequence of str
        Material keys (unique).
    compositions : sequence of str
        Their compositions (for the out-of-domain flag).
    reference_sha256 : str
        Checksum of the reference set the values come from.
    level : float
        Interval level (0 < level < 1).

    Raises
    ------
    CalibrationError
        Fewer than :data:`MIN_MATERIALS` materials, repeated materials, non-finite values.
    """
    x, y = np.asarray(raw, float), np.asarray(measured, float)
    n = len(x)
    if not (len(y) == len(materials) == len(compositions) == n):
        raise CalibrationError("raw, measured, materials and compositions differ in length")
    if len(set(materials)) != n:
        raise CalibrationError("each material may appear once (give its primary measurement)")
    if n < MIN_MATERIALS:
        raise CalibrationError(
            f"{n} reference material(s) with a prediction and a measured {target}; "
            f"a calibration needs at least {MIN_MATERIALS}"
        )
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise CalibrationError("non-finite prediction or measurement")
    if not 0.0 < level < 1.0:
        raise CalibrationError(f"interval level must be between 0 and 1, got {level}")
    cands = []
    loo: dict[str, tuple[np.ndarray, dict[str, tuple[float, float]]]] = {}
    for kind in MAP_KINDS:
        pred, maps = loo_predictions(x, y, materials, kind)
        loo[kind] = (pred, maps)
        a, b = fit_map(x, y, kind)
        res = pred - y
        cands.append(
            MapCandidate(
                kind=kind,
                a=a,
                b=b,
                loo_mae=float(np.mean(np.abs(res))),
                loo_rmse=float(np.sqrt(np.mean(res**2))),
            )
        )
    # lowest LOO MAE; ties (1e-12) to fewer parameters: MAP_KINDS is ordered by complexity
    best = min(cands, key=lambda c: (round(c.loo_mae, 12), N_PARAMS[c.kind]))
    pred, maps = loo[best.kind]
    res = pred - y
    base = baseline_loo_predictions(y, materials) - y
    return Calibration(
        target=target,
        tier=tier,
        model=model,
        kind=best.kind,
        a=best.a,
        b=best.b,
        n_materials=n,
        raw_mae=float(np.mean(np.abs(x - y))),
        raw_rmse=float(np.sqrt(np.mean((x - y) ** 2))),
        loo_mae=best.loo_mae,
        loo_rmse=best.loo_rmse,
        residual_sd=float(np.sqrt(np.mean(res**2))),
        dof=max(n - N_PARAMS[best.kind], 1),
        level=level,
        candidates=tuple(cands),
        materials=dict(zip(materials, compositions, strict=True)),
        loo_maps=maps,
        loo_predictions={m: float(v) for m, v in zip(materials, pred, strict=True)},
        raw_predictions={m: float(v) for m, v in zip(materials, x, strict=True)},
        measured={m: float(v) for m, v in zip(materials, y, strict=True)},
        reference_sha256=reference_sha256,
        baseline_loo_mae=float(np.mean(np.abs(base))),
        baseline_loo_rmse=float(np.sqrt(np.mean(base**2))),
    )


def interval_coverage(
    raw: Sequence[float],
    measured: Sequence[float],
    materials: Sequence[str],
    compositions: Sequence[str],
    spreads: Sequence[float | None] | None = None,
    level: float = LEVEL,
    target: str = "",
    tier: str = "",
    model: str = "",
    reference_sha256: str = "",
) -> dict[str, Any] | None:
    """How often the calibrated interval holds a held-out material's measured value.

    For each material in turn the whole calibration is redone without it, exactly as
    :func:`calibrate` does it (the map kind chosen by its own inner leave-one-out, the
    residual SD s_LOO and the degrees of freedom of the remaining materials), and applied
    to the held-out material's raw prediction and ensemble spread as ``compare`` applies
    a calibration to a new composition. The interval is honest if about ``level`` of the
    measured values fall inside it; the Clopper-Pearson range says what the set's size
    allows one to conclude. This is the out-of-sample test of the interval itself: the
    calibrated value of a reference material (:meth:`Calibration.apply` with
    ``material``) uses the map fitted without it, but its half-width uses the s_LOO of
    all materials, its own residual included.

    Parameters
    ----------
    raw, measured : sequence of float
        One value per material (eV or log10 S/cm), as for :func:`calibrate`.
    materials, compositions : sequence of str
    spreads : sequence of float or None, optional
        Each material's ensemble spread (the SD of one ordering's prediction, as
        ``compare`` passes it); None or 0 for a single ordering.
    level : float
        Interval level.
    target, tier, model, reference_sha256 : str
        Passed to each refitted calibration (provenance only).

    Returns
    -------
    dict or None
        None when fewer than ``MIN_MATERIALS + 1`` materials (each refit needs
        :data:`MIN_MATERIALS`). Otherwise ``level``, ``n``, ``inside`` (count),
        ``fraction`` with its 95 % Clopper-Pearson range ``fraction_low``/``fraction_high``,
        ``inside_without_spread`` (the same intervals with the ensemble term left out),
        ``mean_half_width``, ``rms_z`` (RMS of (measured - calibrated) / (half-width / t):
        about 1 when the interval's width matches the held-out scatter) and ``materials``
        (per material: ``material``, ``composition``, ``measured``, ``calibrated``,
        ``low``, ``high``, ``half_width``, ``kind`` of the refitted map, ``inside``,
        ``inside_without_spread``).

    Raises
    ------
    CalibrationError
        As :func:`calibrate` (lengths, repeated materials, non-finite values), or a
        negative or non-finite spread.
    """
    from scipy.stats import beta

    x, y = np.asarray(raw, float), np.asarray(measured, float)
    n = len(x)
    sp = np.zeros(n) if spreads is None else np.array([s or 0.0 for s in spreads], float)
    if not (len(y) == len(materials) == len(compositions) == len(sp) == n):
        raise CalibrationError(
            "raw, measured, materials, compositions and spreads differ in length"
        )
    if n < MIN_MATERIALS + 1:
        return None
    per = []
    for i in range(n):
        keep = [j for j in range(n) if j != i]
        cal = calibrate(
            target,
            tier,
            model,
            x[keep],
            y[keep],
            [materials[j] for j in keep],
            [compositions[j] for j in keep],
            reference_sha256,
            level=level,
        )
        # neither material nor composition: the held-out one is in none of cal's maps,
        # and another material of the same composition (a milled and an annealed phase)
        # must not lend it its leave-one-out map
        cv = cal.apply(float(x[i]), float(sp[i]))
        bare = cal.apply(float(x[i]), 0.0)
        per.append(
            {
                "material": materials[i],
                "composition": compositions[i],
                "measured": float(y[i]),
                "calibrated": cv.calibrated,
                "low": cv.low,
                "high": cv.high,
                "half_width": cv.half_width,
                "kind": cal.kind,
                "z": (float(y[i]) - cv.calibrated) / (cv.half_width / cal._t())
                if cv.half_width > 0
                else None,
                "inside": bool(cv.low <= y[i] <= cv.high),
                "inside_without_spread": bool(bare.low <= y[i] <= bare.high),
            }
        )
    k = sum(p["inside"] for p in per)
    zs = [p["z"] for p in per if p["z"] is not None]
    return {
        "level": level,
        "n": n,
        "inside": k,
        "fraction": k / n,
        "fraction_low": float(beta.ppf(0.025, k, n - k + 1)) if k > 0 else 0.0,
        "fraction_high": float(beta.ppf(0.975, k + 1, n - k)) if k < n else 1.0,
        "inside_without_spread": sum(p["inside_without_spread"] for p in per),
        "mean_half_width": float(np.mean([p["half_width"] for p in per])),
        "rms_z": float(np.sqrt(np.mean(np.square(zs)))) if zs else None,
        "materials": per,
    }


def _payload_sha(payload: dict) -> str:
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def save_calibration(cal: Calibration, path: str | Path) -> Path:
    """Write a calibration as JSON with a checksum of its payload."""
    from halidelab.outputs import jsonable, write_text

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = jsonable(cal.to_dict())  # strict JSON (NaN -> null), checksummed as written
    doc = {
        "format": FILE_FORMAT,
        "format_version": FILE_VERSION,
        "calibration": payload,
        "payload_sha256": _payload_sha(payload),
    }
    write_text(path, json.dumps(doc, indent=1, sort_keys=True, allow_nan=False))  # atomically
    return path


def load_calibration(
    path: str | Path,
    reference_sha256: str | None = None,
    model: str | None = None,
    tier: str | None = None,
    target: str | None = None,
) -> Calibration:
    """Read a calibration file and check it matches what it will be applied to.

    Parameters
    ----------
    path : path
    reference_sha256, model, tier, target : str, optional
        When given, the file's must be the same.

    Raises
    ------
    CalibrationError
        Missing, unreadable or corrupted file (not JSON, wrong format, missing fields,
        payload checksum mismatch), or a file fitted on another reference set, model,
        tier or target.
    """
    path = Path(path)
    if path.is_dir():
        raise CalibrationError(
            f"{path} is a folder: give one of the calibration/*.json files in it"
        )
    if not path.is_file():
        raise CalibrationError(
            f"calibration file not found: {path}; run 'halidelab validate' to make one"
        )
    fix = "rerun 'halidelab validate' to rewrite it"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CalibrationError(
            f"calibration file {path.name} is corrupted (not valid JSON: "
            f"{str(exc).splitlines()[0]}); {fix}"
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != FILE_FORMAT:
        raise CalibrationError(f"{path.name} is not a halidelab calibration file; {fix}")
    if doc.get("format_version") != FILE_VERSION:
        raise CalibrationError(
            f"{path.name} has calibration format version {doc.get('format_version')!r}, "
            f"this halidelab reads {FILE_VERSION}; {fix}"
        )
    payload = doc.get("calibration")
    if not isinstance(payload, dict) or doc.get("payload_sha256") != _payload_sha(payload):
        raise CalibrationError(
            f"calibration file {path.name} is corrupted (its checksum does not match "
            f"its content: edited or truncated); {fix}"
        )
    try:
        cal = Calibration.from_dict(payload)
        checks = (
            cal.kind in MAP_KINDS
            and math.isfinite(cal.a)
            and math.isfinite(cal.b)
            and math.isfinite(cal.residual_sd)
            and cal.residual_sd >= 0
            and isinstance(cal.dof, int)
            and cal.dof >= 1
            and isinstance(cal.n_materials, int)
            and cal.n_materials >= 1
            and 0 < cal.level < 1
            and math.isfinite(cal.domain_distance)
            and cal.domain_distance >= 0
            and all(
                isinstance(getattr(cal, f), dict)
                for f in ("materials", "loo_maps", "loo_predictions", "raw_predictions", "measured")
            )
        )
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise CalibrationError(
            f"calibration file {path.name} is corrupted ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); {fix}"
        ) from None
    if not checks:
        raise CalibrationError(f"calibration file {path.name} has invalid values; {fix}")
    for name, want, have in (
        ("reference set", reference_sha256, cal.reference_sha256),
        ("model", model, cal.model),
        ("tier", tier, cal.tier),
        ("target", target, cal.target),
    ):
        if want is not None and want != have:
            shown = (
                (have[:12] + "...", want[:12] + "...") if name == "reference set" else (have, want)
            )
            raise CalibrationError(
                f"{path.name} was fitted for {name} {shown[0]}, not {shown[1]}: "
                f"it does not apply here; {fix} for this {name}"
            )
    return cal
