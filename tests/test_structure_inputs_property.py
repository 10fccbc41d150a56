"""Property: whatever text a structure file holds, halidelab answers with a HalidelabError
or a sane structure, never another exception (hypothesis-generated garbage CIF/POSCAR)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymatgen.core import Lattice, Structure

from halidelab.errors import HalidelabError
from halidelab.structures.checks import check_structure
from halidelab.structures.models import order_structure
from halidelab.structures.prototypes import read_structure

_BASE = Structure.from_spacegroup(
    "Fm-3m", Lattice.cubic(5.14), ["Li", "Cl"], [[0, 0, 0], [0.5] * 3]
)
_CIF = _BASE.to(fmt="cif")
_POSCAR = _BASE.to(fmt="poscar")
_DISORDERED = Path(__file__).parent / "data" / "structures" / "Li3YCl6_P-3m1_obelix-ei3.cif"

_TOKENS = [
    "nan",
    "inf",
    "-inf",
    "0",
    "-1",
    "1e308",
    "-1e-308",
    "1e9",
    "0.5",
    "2",
    "x",
    "?",
    ".",
    "Li",
    "Cl",
    "Xx",
    "_atom_site_occupancy",
    "loop_",
    "Direct",
    "Cartesian",
    "",
    "1 1 1",
    "'",
    '"',
    ";",
    "#",
]


def _mutate(text: str, data: st.DataObject) -> str:
    lines = text.splitlines()
    for _ in range(data.draw(st.integers(1, 6))):
        if not lines:
            break
        i = data.draw(st.integers(0, len(lines) - 1))
        action = data.draw(st.sampled_from(["drop", "dup", "token", "truncate", "swap"]))
        if action == "drop":
            del lines[i]
        elif action == "dup":
            lines.insert(i, lines[i])
        elif action == "truncate":
            lines[i] = lines[i][: data.draw(st.integers(0, max(len(lines[i]) - 1, 0)))]
        elif action == "swap":
            j = data.draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        else:
            words = lines[i].split() or [""]
            k = data.draw(st.integers(0, len(words) - 1))
            words[k] = data.draw(st.sampled_from(_TOKENS))
            lines[i] = " ".join(words)
    return "\n".join(lines) + "\n"


def _check(text: str, name: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / name
        p.write_text(text)
        try:
            s = read_structure(p)
        except HalidelabError:
            return
        assert len(s) > 0
        assert np.isfinite(s.lattice.matrix).all() and np.isfinite(s.frac_coords).all()
        try:
            check_structure(s, name, kind="bvse")
            if not s.is_ordered and len(s) <= 60:
                ordered, _ = order_structure(s, name, max_atoms=120, sweeps=2)
                assert ordered.is_ordered
        except HalidelabError:
            return


_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@_SETTINGS
@given(st.data(), st.sampled_from([("x.cif", _CIF), ("POSCAR", _POSCAR), ("x.vasp", _POSCAR)]))
def test_mutated_structure_files_give_halidelab_errors(data, case):
    name, text = case
    _check(_mutate(text, data), name)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_mutated_partially_occupied_cif(data):
    _check(_mutate(_DISORDERED.read_text(), data), "disordered.cif")


@_SETTINGS
@given(st.text(max_size=400), st.sampled_from(["x.cif", "POSCAR", "x.vasp", "x.xyz", "x.json"]))
def test_random_text_gives_halidelab_errors(text, name):
    _check(text, name)
