"""Shared fixtures: the real instrument and structure files the tests read.

They live in ``tests/data/`` (copied from the project's shared data folder with their
licences, see ``tests/data/README.md``) so that a clone of the repository alone passes
its tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_DATA = REPO_ROOT / "tests" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ``tests/data`` (real files: eis/, cycling/, obelix/, structures/)."""
    return TEST_DATA
