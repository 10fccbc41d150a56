"""The MLIP task kinds run on the engine: one structure as before, or several orderings together."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from halidelab.screening.kinds import relax_task


def _licl(a: float) -> dict:
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(a), ["Li", "Cl"], [[0, 0, 0], [0.5] * 3]
    ).as_dict()


def test_relax_task_of_several_structures_equals_one_by_one():
    common = {"model": "chgnet", "device": "cpu", "fmax": 0.05, "steps": 40}
    together = relax_task({"structures": [_licl(5.3), _licl(4.95)], **common})["results"]
    alone = [relax_task({"structure": s, **common}) for s in (_licl(5.3), _licl(4.95))]
    assert len(together) == 2
    for x, y in zip(together, alone, strict=True):
        assert x["converged"] == y["converged"] and x["steps"] == y["steps"]
        assert x["energy_per_atom_eV"] == pytest.approx(y["energy_per_atom_eV"], abs=1e-5)
        assert x["lattice_final"]["a_A"] == pytest.approx(y["lattice_final"]["a_A"], abs=1e-5)
    # the model, its checkpoint and where it ran are in the provenance of every result
    prov = together[0]["provenance"]
    assert prov["model"] == "chgnet" and prov["model_version"] == "CHGNet-0.3.0"
    assert len(prov["parameters"]["potential"]["checkpoint_sha256"]) == 64
    assert (
        prov["parameters"]["n_structures"] == 2
        and alone[0]["provenance"]["parameters"]["n_structures"] == 1
    )
    # the expanded cell shrank and the compressed one grew: both relaxed, on their own
    assert together[0]["lattice_final"]["a_A"] < 5.3
    assert together[1]["lattice_final"]["a_A"] > 4.95
