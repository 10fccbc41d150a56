"""Validation against experiment: a reference set of measured halide conductors,
parity metrics, leave-one-out calibration and ``halidelab validate``.

Modules
-------
:mod:`~halidelab.validation.reference`
    The shipped reference set (``data/reference/reference_set.csv``): measured
    room-temperature sigma and Ea with a DOI for every number, and how each material's
    structure model is built.
:mod:`~halidelab.validation.structures`
    Ordered models of the reference structures (task kind ``reference-model``).
:mod:`~halidelab.validation.metrics`
    MAE, RMSE, Spearman, good/poor classification accuracy.
:mod:`~halidelab.validation.calibration`
    Linear / offset / no calibration chosen by leave-one-material-out error, intervals,
    JSON files with provenance, the out-of-domain flag.
:mod:`~halidelab.validation.tiers`
    The table of prediction tiers (tier name -> tasks and how a prediction is read).
:mod:`~halidelab.validation.run`
    :func:`~halidelab.validation.run.validate`: the campaign through the results store.
:mod:`~halidelab.validation.apply`
    Calibrations applied to a results store's predictions (``compare``, ``results``,
    ``screen`` and ``reproduce chen2025`` ``--calibration``; the HTML block is
    :mod:`halidelab.report.calibrated`): raw and calibrated side by side, per composition
    and state.
"""
