"""The one table of task kinds: every kind resolves, from the module the table names,
without anything imported first; a function outside the table is refused."""

from __future__ import annotations

import subprocess
import sys

import pytest

from halidelab.screening.tasks import TASK_KINDS, task_function


def test_every_kind_resolves_in_a_fresh_process_from_its_module():
    code = (
        "from halidelab.screening.tasks import TASK_FUNCTIONS, TASK_KINDS\n"
        "for kind, module in TASK_KINDS.items():\n"
        "    fn = TASK_FUNCTIONS[kind]\n"
        "    assert fn.__module__ == module, (kind, fn.__module__, module)\n"
        "print(len(TASK_KINDS))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) == len(TASK_KINDS) >= 14


def test_a_kind_outside_the_table_is_refused():
    with pytest.raises(RuntimeError, match="not in TASK_KINDS"):
        task_function("no-such-kind")(lambda inputs: inputs)
    with pytest.raises(RuntimeError, match="not in TASK_KINDS"):  # listed, but under another module
        task_function("relax")(lambda inputs: inputs)


def test_an_unknown_kind_is_a_one_line_error():
    from halidelab.errors import HalidelabError
    from halidelab.screening.tasks import execute

    with pytest.raises(HalidelabError, match="unknown task kind 'nope'"):
        execute("nope", {})


def test_relax_task_at_a_temperature_returns_the_expanded_lattice():
    """``relax`` with ``temperature_K``: the static cell is kept, the result's structure is
    the lattice at that temperature, larger by the recorded expansion (LiCl, CHGNet)."""
    from ase.build import bulk
    from pymatgen.core import Structure

    from halidelab.atoms import to_structure
    from halidelab.screening.tasks import execute

    s = to_structure(bulk("LiCl", "rocksalt", a=5.14, cubic=True)).as_dict()
    inputs = {"structure": s, "device": "cpu", "temperature_K": 300.0, "thermal_md_ps": 0.5}
    inputs["thermal_iterations"] = 1  # the linear step: enough for the checks, half the MD
    out = execute("relax", inputs)
    static, hot = Structure.from_dict(out["structure_0K"]), Structure.from_dict(out["structure"])
    th = out["thermal_lattice"]
    assert th["temperature_K"] == 300.0 and th["volume_0K_A3"] == pytest.approx(static.volume)
    assert hot.volume == pytest.approx(static.volume * (1 + th["expansion_percent"] / 100))
    # a crystal at 300 K pushes outwards: it expands (LiCl: about 2-4 % from 0 K)
    assert th["thermal_pressure_GPa"] > 3 * th["thermal_pressure_se_GPa"]
    assert 0.5 < th["expansion_percent"] < 8.0
