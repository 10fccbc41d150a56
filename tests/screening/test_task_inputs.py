"""Frozen task inputs: defaults are the library's, unknown fields are refused, keys are shared."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from halidelab.screening.inputs import (
    TASK_INPUTS,
    BVSEInputs,
    KMCInputs,
    MDInputs,
    ModelsInputs,
    NEBInputs,
    RelaxInputs,
    TaskInputError,
    XRDInputs,
)
from halidelab.screening.tasks import TASK_KINDS, Task


def _library_defaults():
    from halidelab.relax import relax_structures
    from halidelab.structures.models import build_models
    from halidelab.structures.xrd import simulate_pattern
    from halidelab.thermal import thermal_lattice
    from halidelab.transport.bvse import bvse
    from halidelab.transport.diffusion import analyse_trajectory
    from halidelab.transport.kmc import network_from_bvse, run_kmc
    from halidelab.transport.md import run_md
    from halidelab.transport.neb import neb_studies

    # inputs class -> [(field, function, parameter)]
    return {
        RelaxInputs: [
            ("fmax", relax_structures, "fmax"),
            ("steps", relax_structures, "steps"),
            ("relax_cell", relax_structures, "relax_cell"),
            ("model", relax_structures, "model"),
            ("stress_tol_GPa", relax_structures, "stress_tol_GPa"),
            ("thermal_md_ps", thermal_lattice, "md_ps"),
            ("thermal_iterations", thermal_lattice, "iterations"),
            ("thermal_shape", thermal_lattice, "shape"),
        ],
        NEBInputs: [
            (f, neb_studies, f)
            for f in (
                "hops",
                "n_images",
                "fmax",
                "steps",
                "endpoint_steps",
                "interstitials",
                "model",
            )
        ],
        MDInputs: [
            ("timestep_fs", run_md, "timestep_fs"),
            ("seed", run_md, "seed"),
            ("model", run_md, "model"),
            ("skip_ps", analyse_trajectory, "skip_ps"),
        ],
        BVSEInputs: [("resolution_A", bvse, "resolution_A"), ("e_max_eV", bvse, "e_max_eV")],
        XRDInputs: [
            ("wavelength", simulate_pattern, "wavelength"),
            ("two_theta_range_deg", simulate_pattern, "two_theta_range_deg"),
        ],
        ModelsInputs: [
            (f, build_models, f)
            for f in (
                "polymorph",
                "supercell",
                "max_atoms",
                "n_configs",
                "seed",
                "sweeps",
                "state",
                "milling_temperature_K",
                "dielectric",
            )
        ],
        KMCInputs: [
            (f, run_kmc, f) for f in ("n_runs", "hops_per_carrier", "seed", "superbasin_ratio")
        ]
        + [("bvse_saddle", network_from_bvse, "saddle")],
    }


def test_defaults_are_the_library_defaults():
    for cls, pairs in _library_defaults().items():
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        for field, fn, param in pairs:
            lib = inspect.signature(fn).parameters[param].default
            assert defaults[field] == lib, (
                f"{cls.__name__}.{field} = {defaults[field]!r}, {fn.__name__} says {lib!r}"
            )


def test_every_inputs_class_is_a_kind_of_the_table():
    assert set(TASK_INPUTS) <= set(TASK_KINDS)
    assert {"relax", "neb", "md", "kmc", "bvse", "models"} <= set(TASK_INPUTS)


def test_unknown_missing_and_contradicting_fields_are_refused():
    s = {"lattice": "x"}  # the structure is not read here
    with pytest.raises(TaskInputError, match="setps"):
        RelaxInputs.parse({"structure": s, "setps": 10})
    with pytest.raises(
        TaskInputError, match="setps"
    ):  # and a Task of the kind is checked when made
        Task("relax", "typo", {"structure": s, "setps": 10})
    with pytest.raises(TaskInputError, match="temperatures_K"):
        KMCInputs.parse({"structure": s})
    with pytest.raises(TaskInputError, match="exactly one"):
        RelaxInputs(structure=s, structures=[s])
    with pytest.raises(TaskInputError, match="study"):
        KMCInputs(structure=s, temperatures_K=[300.0], source="neb")
    with pytest.raises(TaskInputError, match="vacancies must be an integer >= 0"):
        KMCInputs(structure=s, temperatures_K=[300.0], vacancies=-1)
    with pytest.raises(TaskInputError, match="vacancies are for BVSE"):
        KMCInputs(structure=s, temperatures_K=[300.0], source="neb", study={"a": 1}, vacancies=1)
    with pytest.raises(TaskInputError, match="bvse_saddle must be 'path' or 'line'"):
        KMCInputs(structure=s, temperatures_K=[300.0], bvse_saddle="straight")
    # kinds without a dataclass take their records as they are
    Task("hull", "h", {"anything": 1})


def test_round_trip_and_shared_keys():
    s = {"lattice": "x"}
    a = RelaxInputs(structure=s, model="chgnet", steps=250)
    assert RelaxInputs.parse(a.to_json()) == a
    # the defaults are written into the inputs: a key says everything the result depends on
    assert a.to_json()["fmax"] == 0.05 and a.to_json()["relax_cell"] is True
    t = Task.of(a, "x")
    assert t.kind == "relax" and t.key == Task("relax", "y", dict(a.to_json())).key
    x = XRDInputs(structure=s)
    assert x.to_json()["two_theta_range_deg"] == [10.0, 80.0]  # JSON shape, as stored


def test_lattice_temperature_enters_the_relax_key_only_when_set():
    """A static relaxation on the force criterion alone writes exactly the fields it wrote
    before the stress criterion and the lattice at temperature existed (so those stored keys
    stay valid); the default stress criterion adds its field (a new key: a new result), a
    thermal relaxation its four."""
    s = {"lattice": "x"}
    old = RelaxInputs(structure=s, stress_tol_GPa=None).to_json()
    assert set(old) == {
        "structure",
        "structures",
        "model",
        "device",
        "modal",
        "fmax",
        "steps",
        "relax_cell",
    }
    static = RelaxInputs(structure=s).to_json()
    assert set(static) == set(old) | {"stress_tol_GPa"} and static["stress_tol_GPa"] == 0.05
    assert Task.of(RelaxInputs(structure=s), "a").key != Task.of(RelaxInputs.parse(old), "a").key
    assert RelaxInputs.parse(old).stress_tol_GPa is None
    # positions only: the criterion has nothing to act on, the key is the old one
    fixed = RelaxInputs(structure=s, relax_cell=False)
    fixed_old = RelaxInputs(structure=s, relax_cell=False, stress_tol_GPa=None)
    assert "stress_tol_GPa" not in fixed.to_json()
    assert Task.of(fixed, "a").key == Task.of(fixed_old, "a").key
    for bad in (0, -1.0, float("nan"), float("inf"), True, "0.05"):
        with pytest.raises(TaskInputError, match="stress_tol_GPa"):
            RelaxInputs(structure=s, stress_tol_GPa=bad)
    hot = RelaxInputs(structure=s, temperature_K=298.15)
    assert hot.to_json()["temperature_K"] == 298.15
    assert {"thermal_md_ps", "thermal_iterations"} <= set(hot.to_json())
    assert RelaxInputs.parse(hot.to_json()) == hot
    assert Task.of(hot, "a").key != Task.of(RelaxInputs(structure=s), "a").key
    # the thermal lattice's shape: anisotropic by default, in the key; thermal lattices
    # stored before the field existed were isotropic, and their keys stay theirs
    assert hot.thermal_shape == "anisotropic" and hot.to_json()["thermal_shape"] == "anisotropic"
    stored = {k: v for k, v in hot.to_json().items() if k != "thermal_shape"}
    iso = RelaxInputs.parse(stored)
    assert iso.thermal_shape == "isotropic" and iso.to_json() == stored
    assert Task.of(iso, "a").key == Task("relax", "a", stored).key
    assert Task.of(iso, "a").key != Task.of(hot, "a").key
    with pytest.raises(TaskInputError, match="thermal_shape"):
        RelaxInputs(structure=s, temperature_K=300.0, thermal_shape="cubic")
    with pytest.raises(TaskInputError, match="temperature_K"):
        RelaxInputs(structure=s, temperature_K=-5.0)
    with pytest.raises(TaskInputError, match="relax_cell"):
        RelaxInputs(structure=s, temperature_K=300.0, relax_cell=False)


def test_screen_reproduce_and_validate_share_relax_and_neb_keys():
    """The three builders write the same inputs for the same computation."""
    from halidelab.screening.plans import ScreenSettings, neb_task_for, relax_task_for

    st = ScreenSettings()
    s = {"lattice": "x"}
    relax = RelaxInputs(structure=s, model=st.model, fmax=st.fmax_eV_A, steps=st.relax_steps)
    assert relax_task_for(s, "a", st).key == Task.of(relax, "b").key
    neb = NEBInputs(
        structure=s,
        model=st.model,
        hops="distinct",
        n_images=st.neb_images,
        fmax=st.fmax_eV_A,
        steps=st.neb_steps,
        endpoint_steps=st.neb_steps,
    )
    assert neb_task_for(s, "a", st).key == Task.of(neb, "b").key


def test_the_bvse_saddle_joins_the_key_of_a_bvse_network_only():
    """The saddle method changed BVSE networks (new keys: stored results of the straight
    line are not taken for the path's), not NEB networks (their stored results hold)."""
    s = {"lattice": "x"}
    path = KMCInputs(structure=s, temperatures_K=[300.0])
    line = KMCInputs(structure=s, temperatures_K=[300.0], bvse_saddle="line")
    assert path.to_json()["bvse_saddle"] == "path"
    assert Task.of(path, "a").key != Task.of(line, "a").key
    neb = KMCInputs(structure=s, temperatures_K=[300.0], source="neb", study={"a": 1})
    assert "bvse_saddle" not in neb.to_json()
    assert KMCInputs.parse(line.to_json()) == line
