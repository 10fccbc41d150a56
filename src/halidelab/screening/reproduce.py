"""Moved to :mod:`halidelab.cases.chen2025` (the case study left the pipeline); these
names stay importable from here for one release."""

from halidelab.cases.chen2025 import (  # noqa: F401
    CHEN2025_MEASURED,
    ReproduceOutput,
    _md_arrhenius,
    _prior_sha,
    lab_measurements,
    primitive_lattice,
    reproduce_chen2025,
    summary_rows,
)
