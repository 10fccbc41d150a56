"""One set of inputs, one result: ordered models are the same in any process.

The issue this guards against: the Ewald-ranked annealing took its Metropolis branch on
float energies, so a symmetry-degenerate swap (de = 0 up to BLAS rounding) went one way
or the other depending on the BLAS thread count of the process, and the same task key
stored different (equivalent) structures in a fresh process and in one that had run
other work first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import hashlib, json, sys
    prelude = sys.argv[1]
    if prelude == "busy":
        # other work first: other compositions, BLAS on several threads, torch threads
        import numpy as np
        from threadpoolctl import threadpool_limits
        import torch
        torch.set_num_threads(1)
        threadpool_limits(limits=2, user_api="blas")
        a = np.random.default_rng(1).random((400, 400)); (a @ a).sum()
        from halidelab.composition import Substitution, design_composition
        from halidelab.structures.models import build_models
        build_models(design_composition("Li3YCl6", Substitution("Zr", "Y", 0.5)), supercell=1,
                     n_configs=2, sweeps=20, seed=3)
    from halidelab.composition import Substitution, design_composition
    from halidelab.structures.models import build_models
    out = {}
    for x in (0.0, 1 / 6):
        ms = build_models(design_composition("Li2ZrCl6", Substitution("Nb", "Zr", x)),
                          supercell=2, n_configs=2, sweeps=60, seed=0)
        d = ms.to_dict()
        d["provenance"].pop("created_utc")
        out[str(x)] = hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()
    print(json.dumps(out))
""")


def _run(prelude: str, threads: str | None) -> dict:
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(var, None)
        if threads:
            env[var] = threads
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT, prelude],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("other", [("plain", "1"), ("busy", None)], ids=["one-thread", "busy"])
def test_models_identical_across_processes(other):
    """Bit-identical records (time stamp aside) in a fresh process with BLAS on its
    default threads, one with BLAS on one thread, and one that ran other work first."""
    reference = _run("plain", None)
    assert _run(*other) == reference
