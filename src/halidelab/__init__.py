"""halidelab: design, predict and measure halide solid-state electrolytes.

The main entry points are re-exported lazily (importing ``halidelab`` stays cheap):

>>> import halidelab
>>> report = halidelab.design("Li2ZrCl6", dopant="Nb", site="Zr", x=[0, 0.2])
>>> report.entries[1].composition.formula
'Li1.8Zr0.8Nb0.2Cl6'
"""

from __future__ import annotations

__version__ = "0.2.0"

_LAZY = {
    "design": ("halidelab.designer", "design"),
    "design_composition": ("halidelab.composition", "design_composition"),
    "Substitution": ("halidelab.composition", "Substitution"),
    "build_models": ("halidelab.structures.models", "build_models"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'halidelab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
