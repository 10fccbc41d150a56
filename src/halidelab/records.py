"""Result records: frozen dataclasses with units in field names and a provenance.

Every result halidelab produces (a designed composition, a fitted spectrum, a barrier)
is a frozen dataclass that derives from :class:`Record`, so it turns into plain JSON
types with :meth:`Record.to_dict` and back with :meth:`Record.from_dict`.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import types
import typing
from typing import Any, TypeVar

import numpy as np

from halidelab import __version__

T = TypeVar("T", bound="Record")


def _plain(value: Any) -> Any:
    """Convert a value to JSON-compatible Python types."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _revive(tp: Any, value: Any) -> Any:
    """Rebuild a value of annotated type ``tp`` from its plain form."""
    if value is None:
        return None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _revive(arg, value)
            except (TypeError, ValueError, KeyError):
                continue
        return value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return tp.from_dict(value) if issubclass(tp, Record) else tp(**value)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_revive(args[0], v) for v in value)
        if args:
            return tuple(_revive(a, v) for a, v in zip(args, value, strict=True))
        return tuple(value)
    if origin is list:
        return [_revive(args[0], v) for v in value] if args else list(value)
    if origin is dict:
        return {k: _revive(args[1], v) for k, v in value.items()} if args else dict(value)
    return value


@dataclasses.dataclass(frozen=True)
class Provenance:
    """Where a result came from.

    Attributes
    ----------
    method : str
        What computed it, e.g. ``"charge-balance"``, ``"ci-neb"``, ``"eis-fit"``.
    model : str or None
        The MLIP or model name, e.g. ``"chgnet"``, ``"sevennet-0"``.
    model_version : str or None
        Its version or checkpoint name.
    parameters : dict
        The parameters the method ran with (plain JSON types).
    seed : int or None
        Random seed, where anything random was done.
    halidelab_version : str
        Version of this package.
    created_utc : str
        ISO 8601 time stamp.
    """

    method: str
    model: str | None = None
    model_version: str | None = None
    parameters: dict[str, Any] = dataclasses.field(default_factory=dict)
    seed: int | None = None
    halidelab_version: str = __version__
    created_utc: str = dataclasses.field(
        default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    )

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return _plain(self)


@dataclasses.dataclass(frozen=True)
class Record:
    """Base of all result records (frozen dataclasses)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (nested records, tuples and arrays become dicts and lists)."""
        return _plain(self)

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        """Inverse of :meth:`to_dict`."""
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for f in dataclasses.fields(cls):
            if f.name in data:
                kwargs[f.name] = _revive(hints.get(f.name, Any), data[f.name])
        return cls(**kwargs)
