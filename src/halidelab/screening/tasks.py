"""Tasks: a kind, JSON inputs and a key that hashes them (with the code version).

Each kind maps to a pure function ``inputs -> result`` (plain JSON types) in
:data:`TASK_FUNCTIONS`. The function runs wherever the executor puts it (this process or
a Dask worker); MLIP models are cached per process by :mod:`halidelab.potentials`, so a
worker loads each model once, not once per task.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
from collections.abc import Callable
from typing import Any

from halidelab import __version__
from halidelab.screening.inputs import TASK_INPUTS, TaskInputs  # noqa: F401  (the table's other half)

#: Version stamped into every key: results of another code version are not reused.
CODE_VERSION = __version__

#: Kinds whose results changed for the same inputs within one code version: the revision
#: joins the key, so a store made before computes them again (and keeps every other kind).
#: neb, kmc 1: the site network no longer counts as vacant Li sites the holes that share a
#: face with an occupied hole, one of the two a tetrahedron (ordered spinels), and gives a
#: Li in no hole a site at its position (Li6NBr3, refused before). kmc 2: an interstitial
#: between two Li sites (sharing faces, one a tetrahedron) is never occupied with either.
#: models 1: an ``auto`` ball-milled cell is 11.5 A wide (was 8 A, as an annealed one).
#: kmc 3: the superbasin acceleration finds the critical hops counting a hop as blocked
#: while a site that excludes its ends is occupied (superbasin_saddles' ``exclusions``).
#: kmc 4: each run starts from an equilibrium placement of its Li (run_kmc's ``start``),
#: not a random one.
KIND_REVISIONS: dict[str, int] = {"neb": 1, "kmc": 4, "models": 1}

#: Every task kind, and the module whose ``@task_function`` defines it: the one explicit
#: table of kinds. A module is imported the first time its kind is looked up, so this
#: module imports none of the science it schedules (no import cycle through registration).
#: The inputs of the science kinds are frozen dataclasses (:data:`TASK_INPUTS`, defaults =
#: the library's); a :class:`Task` of such a kind is checked against it when made.
TASK_KINDS: dict[str, str] = {
    "rules": "halidelab.screening.plans",
    "design": "halidelab.screening.kinds",
    "models": "halidelab.screening.kinds",
    "relax": "halidelab.screening.kinds",
    "bvse": "halidelab.screening.kinds",
    "prior": "halidelab.screening.kinds",
    "xrd": "halidelab.screening.kinds",
    "neb": "halidelab.screening.kinds",
    "md": "halidelab.screening.kinds",
    "hull": "halidelab.screening.kinds",
    "kmc": "halidelab.screening.kinds",
    "defects": "halidelab.screening.kinds",
    "stability-reference": "halidelab.stability.tasks",
    "stability-hull": "halidelab.stability.tasks",
    "reference-model": "halidelab.validation.tasks",
}


class _Registry(dict):
    """Kind -> task function, filled from :data:`TASK_KINDS` on first lookup."""

    def _load(self, kind: str) -> None:
        module = TASK_KINDS.get(kind)
        if module is not None and not dict.__contains__(self, kind):
            importlib.import_module(module)

    def __missing__(self, kind: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
        self._load(kind)
        if dict.__contains__(self, kind):
            return dict.__getitem__(self, kind)
        raise KeyError(kind)

    def __contains__(self, kind: object) -> bool:
        if isinstance(kind, str):
            self._load(kind)
        return dict.__contains__(self, kind)


TASK_FUNCTIONS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = _Registry()


def task_function(kind: str) -> Callable:
    """Register ``fn`` as the function of task kind ``kind`` (a kind of :data:`TASK_KINDS`,
    defined in the module the table names)."""

    def deco(fn: Callable[[dict[str, Any]], dict[str, Any]]):
        if TASK_KINDS.get(kind) != fn.__module__:
            raise RuntimeError(
                f"task kind {kind!r} of {fn.__module__} is not in TASK_KINDS under "
                "that module: add it to the table in halidelab.screening.tasks"
            )
        dict.__setitem__(TASK_FUNCTIONS, kind, fn)
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

    @classmethod
    def of(cls, inputs: TaskInputs, label: str) -> Task:
        """The task of a kind's frozen inputs (:mod:`halidelab.screening.inputs`)."""
        return cls(inputs.kind, label, inputs.to_json())

    def __post_init__(self) -> None:
        spec = TASK_INPUTS.get(self.kind)
        if spec is not None:  # unknown or missing fields: refused here, not hashed and ignored
            spec.parse(self.inputs)

    @property
    def key(self) -> str:
        """SHA-256 of kind, inputs, code version (and the kind's revision, if any)."""
        data = {"kind": self.kind, "inputs": self.inputs, "version": CODE_VERSION}
        if KIND_REVISIONS.get(self.kind):
            data["revision"] = KIND_REVISIONS[self.kind]
        blob = canonical_json(data)
        return hashlib.sha256(blob.encode()).hexdigest()


def execute(kind: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Run one task in this process (the function executors ship to workers)."""
    if kind not in TASK_FUNCTIONS:
        from halidelab.errors import HalidelabError

        raise HalidelabError(
            f"unknown task kind {kind!r}; known: {', '.join(sorted(TASK_FUNCTIONS))}"
        )
    return TASK_FUNCTIONS[kind](inputs)
