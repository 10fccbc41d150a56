"""Tasks: a kind, JSON inputs and a key that hashes them (with the code version).

Each kind maps to a pure function ``inputs -> result`` (plain JSON types) in
:data:`TASK_FUNCTIONS`. The function runs wherever the executor puts it (this process or
a Dask worker); MLIP models are cached per process by :mod:`halidelab.potentials`, so a
worker loads each model once, not once per task.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from typing import Any

from halidelab import __version__

#: Version stamped into every key: results of another code version are not reused.
CODE_VERSION = __version__

TASK_FUNCTIONS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def task_function(kind: str) -> Callable:
    """Register ``fn`` as the function of task kind ``kind``."""

    def deco(fn: Callable[[dict[str, Any]], dict[str, Any]]):
        TASK_FUNCTIONS[kind] = fn
        return fn

    return deco


def canonical_json(data: Any) -> str:
    """Deterministic JSON (sorted keys, floats as repr) for hashing."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


@dataclasses.dataclass(frozen=True)
class Task:
    """One unit of work.

    Attributes
    ----------
    kind : str
        A key of :data:`TASK_FUNCTIONS` (``"design"``, ``"models"``, ``"relax"`` ...).
    label : str
        Human-readable name (``"Li1.8Zr0.8Nb0.2Cl6 c0"``); not part of the key.
    inputs : dict
        Everything the result depends on (structure, method, model, parameters).
    """

    kind: str
    label: str
    inputs: dict[str, Any]

    @property
    def key(self) -> str:
        """SHA-256 of kind, inputs and code version."""
        blob = canonical_json({"kind": self.kind, "inputs": self.inputs, "version": CODE_VERSION})
        return hashlib.sha256(blob.encode()).hexdigest()


def execute(kind: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Run one task in this process (the function executors ship to workers)."""
    from halidelab.screening import kinds, plans  # noqa: F401  (register the task functions)

    if kind not in TASK_FUNCTIONS:
        from halidelab.errors import HalidelabError

        raise HalidelabError(f"unknown task kind {kind!r}; known: {', '.join(sorted(TASK_FUNCTIONS))}")
    return TASK_FUNCTIONS[kind](inputs)
