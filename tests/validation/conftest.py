"""Fixtures shared by the calibrated-values tests.

``test_reports_calibrated`` uses the synthetic store and reference-set checksum of
``test_compare_calibrated``; importing them here (not into the test module) lets pytest
find them without shadowing the test functions' parameters.
"""

from test_compare_calibrated import base_store, sha  # noqa: F401  (fixtures)
