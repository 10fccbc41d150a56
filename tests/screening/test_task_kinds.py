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
