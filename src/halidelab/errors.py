"""One exception hierarchy for halidelab.

Every error a user can cause derives from :class:`HalidelabError`; the CLI turns these
into a one-line message and exit code 2. Messages say what is wrong *and* what to do.
"""

from __future__ import annotations


class HalidelabError(Exception):
    """Root of all errors halidelab raises on purpose."""


class CompositionError(HalidelabError, ValueError):
    """A formula, oxidation state or substitution that cannot be right."""


class StructureError(HalidelabError, ValueError):
    """A crystal structure that cannot be read, built or ordered."""


class DataFormatError(HalidelabError, ValueError):
    """A lab data file that cannot be read (missing column, truncated, empty...)."""


class FitError(HalidelabError, RuntimeError):
    """A fit that failed or did not move off its initial guess."""


class UnitError(HalidelabError, ValueError):
    """A quantity with a missing or unknown unit."""


class ModelError(HalidelabError, RuntimeError):
    """An MLIP that cannot be loaded or used (unknown name, missing weights)."""


class SimulationError(HalidelabError, RuntimeError):
    """A simulation that went unphysical (atoms overlapping, temperature runaway)."""


class StoreError(HalidelabError, RuntimeError):
    """A results store that cannot be opened or written."""


class CalibrationError(HalidelabError, ValueError):
    """A calibration that cannot be fitted, or a calibration file that is corrupted or
    does not match what it is applied to (reference set, model, tier)."""
