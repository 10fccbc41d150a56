"""ruff is part of the test command: the code base stays lint-clean."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_clean():
    ruff = shutil.which("ruff")
    cmd = [ruff] if ruff else [sys.executable, "-m", "ruff"]
    paths = [p for p in ("src", "tests", "benchmarks") if (ROOT / p).is_dir()]
    res = subprocess.run([*cmd, "check", *paths], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
