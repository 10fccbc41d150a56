"""Data-driven conductivity prior: a cheap first opinion on a composition.

Learned from the measured room-temperature conductivities of OBELiX (shipped in
``halidelab/data/obelix``), with a conformal 90% interval and an applicability flag.
The screening pipeline and the report call :func:`predict`:

>>> from halidelab.prior import predict
>>> p = predict(["Li1.8Zr0.8Nb0.2Cl6"])[0]
>>> (p.log10_sigma_S_cm, p.log10_sigma_low_S_cm,
...  p.log10_sigma_high_S_cm, p.in_domain)  # doctest: +SKIP

Modules: :mod:`~halidelab.prior.data` (loading, censoring, families, deduplication,
leakage), :mod:`~halidelab.prior.features` (composition features),
:mod:`~halidelab.prior.model` (training, intervals, applicability, persistence).
"""

from __future__ import annotations

from halidelab.prior.model import (
    PriorExplanation,
    PriorModel,
    PriorPrediction,
    TrainReport,
    explain,
    load_model,
    predict,
    save_model,
    train_prior,
)

__all__ = [
    "PriorExplanation",
    "PriorModel",
    "PriorPrediction",
    "TrainReport",
    "explain",
    "load_model",
    "predict",
    "save_model",
    "train_prior",
]
