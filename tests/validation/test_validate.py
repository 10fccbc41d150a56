"""``halidelab validate`` on a tiny subset: the store, reruns, the tier table, the report.

The MLIP relaxation is a toy (1 % isotropic contraction, no MLIP call) so that the test
runs in seconds; models, BVSE (coarse grid) and the prior are the real ones.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Structure

from halidelab.cli import main
from halidelab.constants import A3_TO_CM3, E_CHARGE_C, K_B_EV_K, K_B_J_K
from halidelab.errors import HalidelabError
from halidelab.screening import kinds, plans  # noqa: F401  (register the task functions)
from halidelab.screening.store import Store
from halidelab.screening.tasks import TASK_FUNCTIONS, Task
from halidelab.structures.prototypes import read_structure
from halidelab.validation import tiers as tiers_mod
from halidelab.validation.calibration import COVERAGE_KEYS, load_calibration
from halidelab.validation.metrics import relaxed_volumes
from halidelab.validation.reference import load_reference_set, reference_path
from halidelab.validation.run import NO_MODEL, substitution_pairs, validate
from halidelab.validation.tiers import (
    TIERS,
    Prediction,
    TierSpec,
    ValidateSettings,
    arrhenius_log10_sigma,
)

SUBSET = ["li3incl6-li2019angew", "lialcl4-jes", "li2mgcl4-ssi1983", "li3ybr6-asano2018"]
# one ordering: the task counts below are per material (orderings have their own test)
SETTINGS = ValidateSettings(bvse_resolution_A=0.5, relax_steps=5, orderings=1)


def toy_relax(inputs: dict) -> dict:
    s = Structure.from_dict(inputs["structure"])
    out = s.copy()
    out.scale_lattice(s.volume * 0.99)
    return {
        "formula": s.composition.reduced_formula,
        "n_atoms": len(s),
        "converged": True,
        "steps": 1,
        "fmax_eV_A": 0.01,
        "energy_per_atom_eV": -3.0,
        "structure": out.as_dict(),
        "provenance": {"method": "toy relax", "model": inputs["model"]},
    }


@pytest.fixture
def counted(monkeypatch):
    """Toy relax; every task function counts its calls."""
    calls: dict[str, int] = {}

    def wrap(kind, fn):
        def run(inputs):
            calls[kind] = calls.get(kind, 0) + 1
            return fn(inputs)

        return run

    monkeypatch.setitem(TASK_FUNCTIONS, "relax", wrap("relax", toy_relax))
    for kind in ("bvse", "prior", "reference-model"):
        monkeypatch.setitem(TASK_FUNCTIONS, kind, wrap(kind, TASK_FUNCTIONS[kind]))
    return calls


def test_arrhenius_estimate_is_nernst_einstein():
    """At Ea = 0 the estimate is log10(n e^2 a^2 nu0 / (6 kB T)); each 0.1 eV costs
    0.1 / (kB T ln 10) = 1.69 decades at 298.15 K."""
    s = Structure.from_spacegroup(
        "Fm-3m", [[4.0, 0, 0], [0, 4.0, 0], [0, 0, 4.0]], ["Li", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    n = 4 / (s.volume * A3_TO_CM3)
    pre = n * E_CHARGE_C**2 * (3e-8) ** 2 * 1e13 / (6 * K_B_J_K * 298.15)
    assert arrhenius_log10_sigma(0.0, s.as_dict()) == pytest.approx(math.log10(pre))
    step = arrhenius_log10_sigma(0.3, s.as_dict()) - arrhenius_log10_sigma(0.4, s.as_dict())
    assert step == pytest.approx(0.1 / (K_B_EV_K * 298.15 * math.log(10)))
    assert step == pytest.approx(1.69, abs=0.01)


def test_validate_subset_then_rerun_computes_nothing(tmp_path, counted):
    out = validate(
        tiers=["relax", "bvse", "prior"],
        models=["chgnet"],
        out=tmp_path / "v",
        settings=SETTINGS,
        materials=SUBSET,
        progress=False,
    )
    assert not out.failed
    assert out.tiers == ("model", "relax", "bvse", "prior")
    assert counted == {"reference-model": 4, "relax": 4, "bvse": 4, "prior": 4}
    bvse = [r for r in out.rows if r["tier"] == "bvse"]
    assert {r["model"] for r in bvse} == {"chgnet"} and len(bvse) == 4
    for r in bvse:
        assert r["pred_ea_eV"] is not None and 0.0 < r["pred_ea_eV"] < 5.0
        assert r["pred_log10_sigma_S_cm"] is not None
        assert r["wall_s"] > 0.0
    # the error split: the three materials with an Ea measured on the primary sample
    # (Li2MgCl4 has none); BVSE's sigma is the random walk of all Li with a 3.0 A hop at
    # 1e13 Hz, so its A = n e^2 a^2 nu / (6 k_B) is 10^4.15-10^5.05 S K/cm for Li densities
    # of 0.5-4e22 cm^-3 (LiAlCl4 0.68e22, Li3InCl6 1.4e22), whatever the barrier
    (split,) = [g for g in out.gap_split if g["tier"] == "bvse"]
    assert split["n"] == 3
    assert {m["composition"] for m in split["materials"]} == {"Li3InCl6", "LiAlCl4", "Li3YBr6"}
    for m in split["materials"]:
        assert m["barrier"] + m["prefactor"] == pytest.approx(m["total"])
        assert 4.15 < m["predicted_log10_A"] < 5.05
    html = (tmp_path / "v" / "report.html").read_text()
    assert "Where the σ error sits" in html
    # measured structures and built ones: every material of the subset is its own CIF
    ref_rows = {e.id: e for e in load_reference_set().select(SUBSET).entries if e.primary}
    (ss,) = [
        g for g in out.structure_split if g["tier"] == "bvse" and g["target"] == "log10_sigma_S_cm"
    ]
    assert ss["built"]["n"] == 0 and set(ss["measured"]["ids"]) == {
        i for i, e in ref_rows.items() if not e.censored
    }
    assert ss["measured"]["raw"] == pytest.approx(
        np.mean([abs(r["pred_log10_sigma_S_cm"] - r["measured_log10_sigma_S_cm"]) for r in bvse])
    )
    assert "Measured structures and built ones" in html
    # the floor: the subset's further rows of Li3InCl6 and Li3YBr6 against their primaries
    # (Li3InCl6's other rows report no Ea, so Ea has Li3YBr6 alone)
    ref = load_reference_set().select(SUBSET)
    others = {e.id for e in ref.entries if not e.primary}
    sigma_floor, ea_floor = out.measurement_floor
    assert {p["other_id"] for p in sigma_floor["pairs"]} == others
    assert sigma_floor["n_materials"] == 2
    assert {p["other_id"] for p in ea_floor["pairs"]} == {
        e.id for e in ref.entries if not e.primary and e.ea_eV is not None
    }
    assert "How finely the measurements judge" in html
    # the toy relaxation shrinks every model by 1 % in volume: each model row says so, the
    # model-free prior says nothing, and nothing is flagged
    for r in bvse:
        assert r["relaxed_volume_change_percent"] == pytest.approx(-1.0, abs=1e-9)
        axis = 100 * (0.99 ** (1 / 3) - 1)  # the same 1 % on every axis
        assert r["relaxed_axes_change_percent"] == pytest.approx([axis] * 3, abs=1e-9)
        # and every bond by the same 0.33 %: Li-X and M-X pairs, no anion-anion ones
        pairs = {b["pair"]: b for b in r["relaxed_bond_change"]}
        assert any(p.startswith("Li-") for p in pairs) and len(pairs) >= 2
        assert all(p.split("-")[1] in ("Cl", "Br") for p in pairs)
        for b in pairs.values():
            assert b["change_percent"] == pytest.approx(axis, abs=1e-6)
    ref_by_id = {e.id: e for e in load_reference_set().entries}
    for r in bvse:
        cif = ref_by_id[r["id"]].construction.split(";")[0] in ("cif", "cif-spinel", "cif-merge")
        assert r["measured_structure"] == cif
    prior_rows = [r for r in out.rows if r["tier"] == "prior"]
    assert all(r["relaxed_volume_change_percent"] is None for r in prior_rows)
    vols = relaxed_volumes(out.rows)
    assert len(vols) == 4 and not any(v["flagged"] for v in vols)
    assert "relax/chgnet ΔV" in html and "(a -0.3, b -0.3, c -0.3 %)" in html
    assert "; bonds Li–Cl -0.3" in html
    # each row says what structure it was computed on, as the reference-model task built it
    model_of = {r["composition"]: r["structure_model"] for r in bvse}
    assert "ordered CIF" in model_of["LiAlCl4"] and "Ewald" in model_of["Li2MgCl4"]
    assert "ordered on Li3InCl6 by build_models" in model_of["Li3InCl6"]
    prior = [r for r in out.rows if r["tier"] == "prior"]
    assert {r["model"] for r in prior} == {"-"}
    # the prior was trained on OBELiX train: LiAlCl4, Li3InCl6, Li3YBr6 are test-split entries
    assert {r["composition"]: r["in_prior_training"] for r in prior} == {
        "Li3InCl6": False,
        "LiAlCl4": False,
        "Li2MgCl4": True,
        "Li3YBr6": False,
    }
    # 4 materials with measured sigma: log sigma is calibrated, the files load and match
    cal_key = ("bvse", "chgnet", "log10_sigma_S_cm")
    assert cal_key in out.calibrations
    files = sorted(p.name for p in (tmp_path / "v" / "calibration").glob("*.json"))
    assert files == ["bvse-chgnet-log10_sigma_S_cm.json", "prior-none-log10_sigma_S_cm.json"]
    cal = load_calibration(
        tmp_path / "v" / "calibration" / files[0],
        reference_sha256=out.reference_sha256,
        model="chgnet",
        tier="bvse",
        target="log10_sigma_S_cm",
    )
    assert cal.n_materials == 4
    # it records how its values were made: the BVSE grid of this campaign, one ordering each
    assert cal.settings == {"bvse_resolution_A": SETTINGS.bvse_resolution_A}
    assert len(cal.orderings) == 4 and set(cal.orderings.values()) == {1}
    # Ea: three materials of the subset have a measured Ea (Li2MgCl4 has none): fewer than
    # 4, so no calibration, and it says why
    assert sorted(r["composition"] for r in bvse if r["measured_ea_eV"] is not None) == [
        "Li3InCl6",
        "Li3YBr6",
        "LiAlCl4",
    ]
    ea = [m for m in out.metrics if m["tier"] == "bvse" and m["target"] == "ea_eV"]
    assert ea and ea[0]["calibration"] is None and "at least 4" in ea[0]["why_not"]
    # tier + prior: 4 materials are too few for a 3-parameter combination, and it says so
    assert [(c["tier"], c["used"]) for c in out.combined] == [("bvse+prior", False)]
    assert "at least 7" in out.combined[0]["verdict"]
    html = out.report.read_text()
    assert (
        'data-kind="parity"' in html and "Parity table" in html and "10.1002/anie.201909805" in html
    )
    assert "Physics tier + prior" in html
    # the set's power to tell predictors apart: bvse against the prior on the 4 sigma values,
    # raw and LOO; no Ea comparison with the prior (it predicts no Ea); LOO, both sigma
    # predictors against the set's own mean (3 Ea values are too few to compare)
    comps = {(c.a, c.b, c.target, c.basis): c for c in out.comparisons}
    assert set(comps) == {
        ("bvse|chgnet", "prior|-", "log10_sigma_S_cm", basis) for basis in ("raw", "loo")
    } | {(a, "set mean", "log10_sigma_S_cm", "loo") for a in ("bvse|chgnet", "prior|-")}
    raw_cmp = comps[("bvse|chgnet", "prior|-", "log10_sigma_S_cm", "raw")]
    sig = {(m["tier"], m["target"]): m for m in out.metrics}
    assert raw_cmp.n == 4 and raw_cmp.mae_a == pytest.approx(
        sig[("bvse", "log10_sigma_S_cm")]["raw"]["mae"]
    )
    assert "Paired comparisons" in html and "95 % (LOO)" in html
    # a rerun computes nothing and gives the same predictions
    again = validate(
        tiers=["relax", "bvse", "prior"],
        models=["chgnet"],
        out=tmp_path / "v",
        settings=SETTINGS,
        materials=SUBSET,
        progress=False,
    )
    assert counted == {"reference-model": 4, "relax": 4, "bvse": 4, "prior": 4}
    key = lambda r: (r["tier"], r["material"])  # noqa: E731
    assert sorted((key(r), r["pred_log10_sigma_S_cm"]) for r in again.rows) == sorted(
        (key(r), r["pred_log10_sigma_S_cm"]) for r in out.rows
    )


def test_bvse_without_relax_is_model_free(tmp_path, counted):
    out = validate(
        tiers=["bvse"],
        models=["chgnet"],
        out=None,
        db=tmp_path / "s.sqlite",
        settings=SETTINGS,
        materials=SUBSET[:2],
        progress=False,
        report=False,
    )
    assert "relax" not in counted and {r["model"] for r in out.rows} == {"-"}
    assert out.report is None


def test_orderings_share_the_first_and_average_the_rest(tmp_path, counted, monkeypatch):
    """--orderings 3: Li3YCl6 (partially occupied Li sites in the CIF) gets 3 orderings,
    the ordered LiAlCl4 CIF one. The first ordering is the one of a single-ordering
    campaign, so its tasks come from the store (only the 2 new orderings relax and map);
    the prediction is the mean of the orderings' values and its spread is their sample SD
    (BVSE barriers have no spread of their own); a single ordering is left as it was.
    The orderings differ in where the Li sit, which the BVSE map (framework only) does not
    see: the toy relaxation here contracts each cell by an amount set by its Li positions,
    as a real relaxation distorts the framework around them."""
    import numpy as np

    def li_relax(inputs: dict) -> dict:
        out = toy_relax(inputs)
        s = Structure.from_dict(out["structure"])
        z = sum(site.frac_coords[2] % 1.0 for site in s if site.species_string == "Li")
        s.scale_lattice(s.volume * (1.0 - 0.02 * (z % 1.0)))
        return out | {"structure": s.as_dict()}

    monkeypatch.setitem(TASK_FUNCTIONS, "relax", li_relax)

    mats = ["li3ycl6-ampoule-schlem2020", "lialcl4-jes"]
    kw = {"models": ["chgnet"], "db": tmp_path / "s.sqlite", "out": None, "report": False}
    one = validate(tiers=["relax", "bvse"], settings=SETTINGS, materials=mats, progress=False, **kw)
    assert counted == {"reference-model": 2, "bvse": 2}
    three = validate(
        tiers=["relax", "bvse"],
        settings=ValidateSettings(bvse_resolution_A=0.5, relax_steps=5, orderings=3),
        materials=mats,
        progress=False,
        **kw,
    )
    assert not three.failed
    # 2 new model tasks (the ordering count is an input), 2 + 0 new bvse tasks
    assert counted == {"reference-model": 4, "bvse": 4}
    first = {r["composition"]: r for r in one.rows}
    rows = {r["composition"]: r for r in three.rows}
    y, al = rows["Li3YCl6"], rows["LiAlCl4"]
    vals = y["orderings_ea_eV"]
    assert len(vals) == 3 and vals[0] == pytest.approx(first["Li3YCl6"]["pred_ea_eV"])
    assert len(set(np.round(vals, 9))) > 1  # the orderings differ
    assert y["pred_ea_eV"] == pytest.approx(np.mean(vals))
    assert y["spread_ea_eV"] == pytest.approx(np.std(vals, ddof=1))
    assert "mean of 3 of 3 orderings" in y["note_ea_eV"]
    assert al["orderings_ea_eV"] == [pytest.approx(first["LiAlCl4"]["pred_ea_eV"])]
    assert al["pred_ea_eV"] == pytest.approx(first["LiAlCl4"]["pred_ea_eV"])
    assert al["spread_ea_eV"] == 0.0 and al["note_ea_eV"] == first["LiAlCl4"]["note_ea_eV"]


def test_a_prediction_needs_more_than_half_of_the_orderings():
    """The ensemble mean is over the orderings; when a tier fails on most of them (NEB on
    the cation-disordered milled orderings) the mean of the rest is not the ensemble's and
    is not given, with the reason; a majority is averaged, its spread from those values."""
    from halidelab.validation.run import _ensemble_predictions

    def p(v):
        return {"ea_eV": Prediction(v, 0.0, "toy")}

    one_of_three, why = _ensemble_predictions([{}, p(0.3), {}])
    assert one_of_three == {} and "only 1 of 3 orderings" in why["ea_eV"]
    assert "ordering 1" in why["ea_eV"]
    two_of_three, why = _ensemble_predictions([p(0.2), {}, p(0.4)])
    assert two_of_three["ea_eV"].value == pytest.approx(0.3) and why == {}
    assert two_of_three["ea_eV"].spread == pytest.approx(np.std([0.2, 0.4], ddof=1))
    assert "mean of 2 of 3 orderings" in two_of_three["ea_eV"].note
    half, why = _ensemble_predictions([p(0.2), {}])
    assert half == {} and "only 1 of 2" in why["ea_eV"]
    single, why = _ensemble_predictions([p(0.25)])
    assert single["ea_eV"].value == 0.25 and why == {}


def test_reference_model_orderings_are_distinct_and_start_with_the_single_one():
    """The further orderings are on the same cell with the same composition, differ from
    the first and from each other, and the first is what orderings=1 builds; an ordered
    CIF has only one."""
    from halidelab.validation.reference import resolve_structure_file
    from halidelab.validation.structures import build_reference_model

    ref = {e.id: e for e in load_reference_set().primary()}
    e = ref["li3ycl6-ampoule-schlem2020"]
    args = (e.composition, e.construction, resolve_structure_file(e.structure_file))
    single = build_reference_model(*args)
    many = build_reference_model(*args, orderings=3)
    assert many.n_orderings() == 3 and many.structure == single.structure
    structs = [Structure.from_dict(many.ordering(k)) for k in range(3)]
    occupations = {
        frozenset((site.species_string, *site.frac_coords.round(4) % 1.0) for site in st)
        for st in structs
    }
    assert len(occupations) == 3
    assert {st.composition.reduced_formula for st in structs} == {"Li3YCl6"}
    assert all(st.lattice == structs[0].lattice for st in structs)
    al = ref["lialcl4-jes"]
    ordered = build_reference_model(
        al.composition, al.construction, resolve_structure_file(al.structure_file), orderings=3
    )
    assert ordered.n_orderings() == 1


def test_a_new_tier_is_one_table_entry(tmp_path, counted, monkeypatch):
    """A 'kmc'-like tier (stage 3, per model) that turns the BVSE result into its own Ea."""
    monkeypatch.setitem(TASK_FUNCTIONS, "toy-kmc", lambda inputs: {"ea_eV": inputs["e3d"] + 0.1})

    def task(ctx):
        b = ctx.results.get("bvse")
        return Task("toy-kmc", ctx.label, {"e3d": b["e_3d_eV"]}) if b else None

    spec = TierSpec(
        "kmc",
        3,
        lambda tiers: "relax" in tiers,
        ("model", "bvse"),
        task,
        lambda res, ctx: {"ea_eV": Prediction(res["ea_eV"])},
        "toy",
    )
    monkeypatch.setitem(TIERS, "kmc", spec)
    assert tiers_mod.normalise_tiers(["kmc"]) == ("model", "bvse", "kmc")
    out = validate(
        tiers=["relax", "kmc"],
        models=["chgnet"],
        out=None,
        db=tmp_path / "k.sqlite",
        settings=SETTINGS,
        materials=SUBSET[:2],
        progress=False,
        report=False,
    )
    kmc = {r["material"]: r for r in out.rows if r["tier"] == "kmc"}
    bv = {r["material"]: r for r in out.rows if r["tier"] == "bvse"}
    assert len(kmc) == 2 and set(kmc) == set(bv)
    for mat, r in kmc.items():
        assert r["model"] == "chgnet"
        assert r["pred_ea_eV"] == pytest.approx(bv[mat]["pred_ea_eV"] + 0.1)
    assert any(m["tier"] == "kmc" and m["target"] == "ea_eV" for m in out.metrics)


def test_substitution_pairs_of_the_reference_set():
    """Parent -> substituted pairs from the table itself: materials designed on the
    parent's structure file, and formulas that differ by one element at the same amount;
    the measured change of log10 sigma is read from the rows the pair names, which come
    from one paper whenever a paper measured both materials."""
    from pymatgen.core import Composition

    ref = load_reference_set()
    raw = pd.read_csv(reference_path(), dtype=str, keep_default_na=False).set_index("id")
    pairs = substitution_pairs(ref, [])
    found = {
        (p["parent"], p["child"]): p
        for p in pairs
        if p["parent_state"] == p["child_state"] == "annealed"
    }
    keys = {(p["parent"], p["child"], p["parent_state"], p["child_state"]) for p in pairs}
    assert len(keys) == len(pairs)  # each pair once
    # a substitution pair never joins two synthesis states; a synthesis pair is one
    # composition, annealed -> ball-milled
    for p in pairs:
        if p["kind"] == "synthesis":
            assert p["parent"] == p["child"]
            assert (p["parent_state"], p["child_state"]) == ("annealed", "ball-milled")
        else:
            assert p["parent_state"] == p["child_state"]
    synthesis = {p["parent"]: p for p in pairs if p["kind"] == "synthesis"}
    # Schlem et al. 2020 measured ampoule-made and as-milled Li3YCl6 and Li3ErCl6, Kwak et
    # al. 2021 heat-treated (ccp monoclinic) and ball-milled (hcp) Li2ZrCl6
    assert set(synthesis) == {"Li3YCl6", "Li3ErCl6", "Li2ZrCl6"}
    lzc = synthesis["Li2ZrCl6"]
    assert (lzc["parent_id"], lzc["child_id"]) == ("li2zrcl6-ht-kwak2021", "li2zrcl6-bm-kwak2021")
    assert lzc["same_paper"] and not lzc["same_structure"]
    assert lzc["measured_delta_log10_sigma"] == pytest.approx(math.log10(4.0e-4 / 5.7e-6))
    assert lzc["substitution"] == "ball-milled vs annealed model (C2/m)"
    for comp, (amp, bm) in {
        "Li3YCl6": ("li3ycl6-ampoule-schlem2020", "li3ycl6-bm-schlem2020"),
        "Li3ErCl6": ("li3ercl6-ampoule-schlem2020", "li3ercl6-bm-schlem2020"),
    }.items():
        p = synthesis[comp]
        assert (p["parent_id"], p["child_id"]) == (amp, bm) and p["same_paper"]
        assert p["measured_delta_log10_sigma"] > 0  # milling raised sigma in both
    # the milled Y -> Er swap is a pair of its own, from the same paper
    milled = [p for p in pairs if p["kind"] == "swap" and p["parent_state"] == "ball-milled"]
    assert [(p["parent_id"], p["child_id"]) for p in milled] == [
        ("li3ycl6-bm-schlem2020", "li3ercl6-bm-schlem2020")
    ]
    # aliovalent, designed on the parent's structure (different papers)
    assert ("Li3InCl6", "Li2.7In0.7Hf0.3Cl6") in found and ("Li3YCl6", "Li2.5Y0.5Zr0.5Cl6") in found
    # isovalent swaps measured in one paper: Schlem 2020 (Y -> Er), Asano 2018 (Cl -> Br),
    # Solid State Ionics 1983 (spinels Mg -> Mn)
    for parent, child, doi in [
        ("Li3YCl6", "Li3ErCl6", "10.1002/aenm.201903719"),
        ("Li3YCl6", "Li3YBr6", "10.1002/adma.201803075"),
        ("Li2MgCl4", "Li2MnCl4", "10.1016/0167-2738(83)90223-0"),
    ]:
        p = found[(parent, child)]
        assert p["kind"] == "swap" and p["same_paper"] and p["parent_doi"] == doi
    # no pair with an upper limit (Li2CrCl4 < 1e-10 S/cm), none between two-element swaps
    assert not any("Li2CrCl4" in k for k in found)
    assert ("LiAlCl4", "LiGaBr4") not in found and ("LiGaBr4", "LiAlCl4") not in found
    by_comp: dict[str, list[str]] = {}
    for i, row in raw.iterrows():
        by_comp.setdefault(Composition(row["composition"]).reduced_formula, []).append(i)
    for p in pairs:
        prow, crow = raw.loc[p["parent_id"]], raw.loc[p["child_id"]]
        assert Composition(prow["composition"]) == Composition(p["parent"])
        assert Composition(crow["composition"]) == Composition(p["child"])
        want = math.log10(float(crow["sigma_S_cm"])) - math.log10(float(prow["sigma_S_cm"]))
        assert p["measured_delta_log10_sigma"] == pytest.approx(want)
        assert p["same_paper"] == (prow["doi"].lower() == crow["doi"].lower())
        # a paper that measured both is always preferred to rows from two papers
        dois_p = {
            raw.loc[i, "doi"].lower() for i in by_comp[Composition(p["parent"]).reduced_formula]
        }
        dois_c = {
            raw.loc[i, "doi"].lower() for i in by_comp[Composition(p["child"]).reduced_formula]
        }
        assert p["same_paper"] == bool(dois_p & dois_c)
        if p["kind"] == "swap":
            a = Composition(p["parent"]).reduced_composition.get_el_amt_dict()
            b = Composition(p["child"]).reduced_composition.get_el_amt_dict()
            assert len(set(a) ^ set(b)) == 2 and sorted(a.values()) == sorted(b.values())


def test_synthesis_pairs_are_summarised_apart_from_the_substitution_ranking():
    """A predictor that returns each material's measured (primary) log10 sigma gets every
    synthesis effect's sign and size right; one that puts every milled model a decade
    below gets every sign wrong; neither changes the substitution statistics' pair count."""
    from halidelab.validation.metrics import substitution_spearman, synthesis_agreement
    from halidelab.validation.structures import parse_construction

    ref = load_reference_set()
    prim = ref.primary()

    def rows(shift_milled: float) -> list[dict]:
        out = []
        for e in prim:
            milled = parse_construction(e.construction)["state"] == "ball-milled"
            out.append(
                {
                    "material": e.material,
                    "tier": "toy",
                    "model": "m",
                    "pred_log10_sigma_S_cm": e.log10_sigma_S_cm + (shift_milled if milled else 0),
                }
            )
        return out

    good = substitution_pairs(ref, rows(0.0))
    syn = synthesis_agreement(good)["toy|m"]
    assert syn["n"] == 3 and syn["sign_agreement"] == 1.0
    for q in syn["pairs"]:
        if q["composition"] == "Li2ZrCl6":
            # measured within one paper (Kwak 2021: milled 4.0e-4, heat-treated 5.7e-6);
            # the toy predicts from the primary rows (milled: Wang 2021, 8.08e-4)
            assert q["measured"] == pytest.approx(math.log10(4.0e-4 / 5.7e-6))
            assert q["predicted"] == pytest.approx(math.log10(8.08e-4 / 5.7e-6))
        else:
            assert q["predicted"] == pytest.approx(q["measured"])
        # one ordering per side: the spread over orderings is unknown, nothing is resolved
        assert q["se"] is None and q["resolved"] is None
    n_subs = sum(p["kind"] != "synthesis" for p in good)
    assert substitution_spearman(good)["toy|m"]["n"] == n_subs
    bad = substitution_pairs(ref, rows(-3.0))
    # annealed -> milled measured +0.45, +1.26 and +1.85 decades (the toy's +2.15 for
    # Li2ZrCl6): three decades below predicts -2.55, -1.74 and -0.85
    worse = synthesis_agreement(bad)["toy|m"]
    assert worse["sign_agreement"] == 0.0 and worse["mean_predicted"] < 0
    # the predicted change carries the standard error of the two ensemble means: milled
    # models of 3 orderings with a spread of 0.6 decades, annealed ones of 4 with 0.8
    spreads = []
    for r in rows(0.0):
        milled = r["material"].endswith(";ball-milled")
        n, sd = (3, 0.6) if milled else (4, 0.8)
        v = r["pred_log10_sigma_S_cm"]
        spreads.append({**r, "spread_log10_sigma_S_cm": sd, "orderings_log10_sigma_S_cm": [v] * n})
    se = math.hypot(0.6 / math.sqrt(3), 0.8 / 2)
    by = {
        q["composition"]: q
        for q in synthesis_agreement(substitution_pairs(ref, spreads))["toy|m"]["pairs"]
    }
    assert by["Li3YCl6"]["se"] == pytest.approx(se) and by["Li3ErCl6"]["se"] == pytest.approx(se)
    # +0.45 decades is inside 1.96 se (1.04), +1.26 outside
    assert by["Li3YCl6"]["resolved"] is False and by["Li3ErCl6"]["resolved"] is True
    # a tier that sees only the composition (the prior) predicts no synthesis effect at all
    prior = [{**r, "tier": "prior", "model": "-"} for r in rows(-2.0)]
    pairs = substitution_pairs(ref, prior)
    assert "prior|-" not in synthesis_agreement(pairs)
    assert substitution_spearman(pairs)["prior|-"]["n"] == n_subs


@pytest.mark.parametrize("orderings", [1, 2])
def test_the_synthesis_effect_reaches_the_cli_and_the_report(tmp_path, counted, capsys, orderings):
    """Ampoule-made and as-milled Li3YCl6 through a real BVSE campaign (toy relaxation):
    the milled model's M on Li and empty holes moves its BVSE map, and the CLI and the
    report give the milled - annealed change next to the measured +0.45 decades, with its
    standard error over the orderings when each side has more than one."""
    code = main(
        [
            "validate",
            "--tiers",
            "relax,bvse",
            "--models",
            "chgnet",
            "--orderings",
            str(orderings),
            "--materials",
            "li3ycl6-ampoule-schlem2020,li3ycl6-bm-schlem2020",
            "-o",
            str(tmp_path / "s"),
            "--db",
            str(tmp_path / "s.sqlite"),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    found = re.search(r"bvse\|chgnet: Li3YCl6 milled - annealed ([+-][0-9.]+) ", text)
    assert found is not None and abs(float(found.group(1))) > 0.01
    assert "(measured +0.45)" in text
    html = (tmp_path / "s" / "report.html").read_text()
    assert "Synthesis effect" in html and counted["bvse"] == 2 * orderings
    if orderings == 1:  # the spread over orderings is unknown: no ± and nothing resolved
        line = next(x for x in text.splitlines() if "milled - annealed" in x)
        assert "no standard error (single orderings" in html and "±" not in line
    else:
        assert re.search(r"annealed [+-][0-9.]+ ± [0-9.]+ \(measured", text)
        assert "resolved from zero by the orderings sampled" in html


def test_ball_milled_reference_models_disorder_the_cations():
    """The as-milled rows are modelled in the ball-milled state: same composition, volume
    per atom and anion lattice as the annealed model of the same file, on a cell at least
    MILLED_MIN_WIDTH_A wide (the annealed one is not), with the Y of every ordering well
    off the ordered Y sites (Schlem et al. refined near-complete Y2/Y3 disorder; on the
    annealed model's small cell one chain in ten leaves every Y on its site); the annealed
    orderings keep Y on the ordered Y sites."""
    from halidelab.validation.reference import resolve_structure_file
    from halidelab.validation.structures import (
        MILLED_MIN_WIDTH_A,
        _widths,
        build_reference_model,
    )

    ref = {e.id: e for e in load_reference_set().primary()}
    e = ref["li3ycl6-bm-schlem2020"]
    assert e.construction == "cif;ball-milled"
    path = resolve_structure_file(e.structure_file)
    milled = build_reference_model(e.composition, e.construction, path, orderings=3)
    annealed = build_reference_model(e.composition, "cif", path, orderings=3)
    assert milled.n_orderings() == annealed.n_orderings() == 3
    assert "cation-disordered" in milled.description and "M off" in milled.description

    def positions(st: Structure, symbols: set[str]) -> np.ndarray:
        return np.array([site.frac_coords % 1.0 for site in st if site.specie.symbol in symbols])

    a0 = Structure.from_dict(annealed.structure)
    assert _widths(a0).min() < MILLED_MIN_WIDTH_A
    for k in range(3):
        m = Structure.from_dict(milled.ordering(k))
        a = Structure.from_dict(annealed.ordering(k))
        assert _widths(m).min() >= MILLED_MIN_WIDTH_A
        assert m.composition.reduced_composition == a.composition.reduced_composition
        assert m.volume / len(m) == pytest.approx(a.volume / len(a), rel=1e-9)
        # the milled cell is a supercell of the annealed one: repeat the annealed model
        # onto it, and the anion lattices coincide
        n = np.linalg.solve(a.lattice.matrix.T, m.lattice.matrix.T).T
        assert np.allclose(n, np.round(n), atol=1e-6)
        big = a.copy()
        big.make_supercell(np.round(n).astype(int))
        assert len(big) == len(m)
        dist = m.lattice.get_all_distances(positions(m, {"Cl"}), positions(big, {"Cl"}))
        assert np.all(dist.min(axis=1) < 1e-3)
        # annealed: Y only on the ordered Y sites
        d_a = a.lattice.get_all_distances(positions(a, {"Y"}), positions(a0, {"Y"}))
        assert np.all(d_a.min(axis=1) < 1e-3)
        big0 = a0.copy()
        big0.make_supercell(np.round(n).astype(int))
        y_ordered = positions(big0, {"Y"})
        d_m = m.lattice.get_all_distances(positions(m, {"Y"}), y_ordered)
        off = float(np.mean(d_m.min(axis=1) > 0.5))
        # every chain is disordered: a quarter or more of its Y off the ordered sites
        assert off >= 0.25, (k, off)


def test_a_milled_model_too_big_for_its_limit_is_refused_with_one_line(tmp_path):
    """A milled cell cannot be as wide as asked within the atom limit: one line naming the
    width, the atoms and what to change, from the API and from the CLI (exit 2); and a
    width that is no width is refused before any work."""
    from halidelab.errors import StructureError
    from halidelab.validation.reference import resolve_structure_file
    from halidelab.validation.structures import build_reference_model

    e = {x.id: x for x in load_reference_set().primary()}["li3ycl6-bm-schlem2020"]
    path = resolve_structure_file(e.structure_file)
    too_big = r"no cell 11.5 A wide that models the composition fits in 100 atoms"
    with pytest.raises(StructureError, match=too_big):
        build_reference_model(e.composition, e.construction, path, milled_max_atoms=100)
    for bad in ("0", "nan"):
        code = main(
            [
                "validate",
                "--tiers",
                "prior",
                "--milled-width",
                bad,
                "-o",
                str(tmp_path / f"w{bad}"),
            ]
        )
        assert code == 2


def test_annealed_models_on_the_milled_cells_for_a_matched_synthesis_pair(tmp_path):
    """--annealed-width 11.5 puts the annealed Li3YCl6 on the cell family of the milled one
    (2x2x2, 240 atoms, every width >= 11.5 A) with the same volume per atom and the Y still
    on the ordered Y sites; its second ordering puts the Li elsewhere. A width
    that does not fit in --max-atoms is refused with one line; the default keys carry no
    width (stored results are reused), a wider campaign's annealed keys do and the milled
    keys do not."""
    from halidelab.errors import StructureError
    from halidelab.validation.reference import resolve_structure_file
    from halidelab.validation.structures import MILLED_MIN_WIDTH_A, _widths, build_reference_model
    from halidelab.validation.tiers import MaterialContext, model_task

    ref = {e.id: e for e in load_reference_set().primary()}
    e = ref["li3ycl6-ampoule-schlem2020"]
    path = resolve_structure_file(e.structure_file)
    narrow = build_reference_model(e.composition, e.construction, path)
    wide = build_reference_model(
        e.composition,
        e.construction,
        path,
        min_width_A=MILLED_MIN_WIDTH_A,
        max_atoms=320,
        orderings=2,
    )
    a, w = Structure.from_dict(narrow.structure), Structure.from_dict(wide.structure)
    assert _widths(a).min() < MILLED_MIN_WIDTH_A <= _widths(w).min()
    assert len(w) == 4 * len(a) == 240
    assert w.composition.reduced_composition == a.composition.reduced_composition
    assert w.volume / len(w) == pytest.approx(a.volume / len(a), rel=1e-9)
    n = np.linalg.solve(a.lattice.matrix.T, w.lattice.matrix.T).T
    big = a.copy()
    big.make_supercell(np.round(n).astype(int))
    y = [s.frac_coords for s in w if s.specie.symbol == "Y"]
    y0 = [s.frac_coords for s in big if s.specie.symbol == "Y"]
    assert np.all(w.lattice.get_all_distances(y, y0).min(axis=1) < 1e-3)
    w2 = Structure.from_dict(wide.ordering(1))
    assert not np.allclose(
        sorted(tuple(np.round(s.frac_coords % 1, 3)) for s in w if s.specie.symbol == "Li"),
        sorted(tuple(np.round(s.frac_coords % 1, 3)) for s in w2 if s.specie.symbol == "Li"),
    )
    with pytest.raises(StructureError, match="no cell 11.5 A wide .* fits in 160 atoms"):
        build_reference_model(e.composition, e.construction, path, min_width_A=11.5)

    def key_inputs(entry_id, settings):
        ctx = MaterialContext(entry=ref[entry_id], model=None, settings=settings, tiers=())
        return model_task(ctx).inputs

    assert "annealed_min_width_A" not in key_inputs(e.id, ValidateSettings())
    wider = ValidateSettings(annealed_min_width_A=11.5, max_atoms=320)
    assert key_inputs(e.id, wider)["annealed_min_width_A"] == 11.5
    assert "annealed_min_width_A" not in key_inputs("li3ycl6-bm-schlem2020", wider)
    code = main(
        ["validate", "--tiers", "prior", "--annealed-width", "0", "-o", str(tmp_path / "w")]
    )
    assert code == 2


def test_ea_of_a_material_comes_from_another_row_when_the_primary_has_none(tmp_path, counted):
    """Li3ErI6's primary row (the published paper, from OBELiX) gives no Ea; the preprint
    row of the Laskowski compilation does: the material's measured Ea is that row's, and
    the row is named. Li3YBr6's primary row has its own Ea, which wins over the other
    row's; Li3HoCl6 has no Ea in any row."""
    raw = pd.read_csv(reference_path(), dtype=str, keep_default_na=False).set_index("id")
    out = validate(
        tiers=["prior"],
        out=tmp_path / "ea",
        materials=["li3eri6-schlem2020", "li3ybr6-asano2018", "li3hocl6-li2023"],
        progress=False,
        report=False,
    )
    rows = {r["composition"]: r for r in out.rows}
    assert raw.loc["li3eri6-schlem2020", "ea_eV"] == ""
    assert rows["Li3ErI6"]["measured_ea_eV"] == pytest.approx(
        float(raw.loc["li3eri6-preprint-laskowski", "ea_eV"])
    )
    assert rows["Li3ErI6"]["measured_ea_id"] == "li3eri6-preprint-laskowski"
    # the primary's own Ea is preferred, although the wet-chemistry row also has one
    assert raw.loc["li3ybr6-wet-wang2021", "ea_eV"] != raw.loc["li3ybr6-asano2018", "ea_eV"]
    assert rows["Li3YBr6"]["measured_ea_eV"] == pytest.approx(
        float(raw.loc["li3ybr6-asano2018", "ea_eV"])
    )
    assert rows["Li3YBr6"]["measured_ea_id"] == "li3ybr6-asano2018"
    assert rows["Li3HoCl6"]["measured_ea_eV"] is None
    assert rows["Li3HoCl6"]["measured_ea_id"] is None


def test_cli_validate(tmp_path, counted, capsys):
    code = main(
        [
            "validate",
            "--tiers",
            "bvse,prior",
            "--models",
            "chgnet",
            "--materials",
            ",".join(SUBSET[:2]),
            "--bvse-resolution",
            "0.5",
            "--report",
            str(tmp_path / "c"),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "parity" in text and "report:" in text
    # Li3InCl6 has an Ea measured on its primary sample: the error split is printed
    assert "from the barrier" in text and "from the prefactor" in text
    assert (tmp_path / "c" / "report.html").is_file()
    assert main(["validate", "--list"]) == 0
    listed = capsys.readouterr().out
    # both Li3YCl6 samples of Schlem et al. are primary rows: the model column tells them apart
    assert "li3ycl6-ampoule-schlem2020" in listed and "cif;ball-milled" in listed


@pytest.mark.parametrize(
    "args,words",
    [
        (["--tiers", "magic"], "unknown tier"),
        (["--models", "nosuchmodel"], "unknown model"),
        (["--materials", "nosuch"], "no reference entry"),
        (["--orderings", "0"], "--orderings must be >= 1"),
        (["--milled-kmc-hops", "0"], "--milled-kmc-hops must be a number of KMC events"),
        (["--kmc-hops", "nan"], "--kmc-hops must be a number of KMC events"),
        # not the whole set (the prior alone, so that a regression fails fast)
        (["--materials", "", "--tiers", "prior"], "--materials is empty"),
        (["--max-atoms", "0", "--tiers", "prior"], "--max-atoms must be >= 1"),
        (["--relax-steps", "0", "--tiers", "prior"], "--relax-steps must be >= 1"),
        (["--bvse-resolution", "-0.1", "--tiers", "prior"], "--bvse-resolution must be"),
        (["--lattice-temperature", "-5", "--tiers", "prior"], "--lattice-temperature must be"),
        (["--thermal-ps", "0.3", "--tiers", "prior"], "--thermal-ps must be longer than 0.5"),
        (["--thermal-iterations", "0", "--tiers", "prior"], "--thermal-iterations must be >= 1"),
        (["--bvse-volume", "exp", "--tiers", "prior"], "--bvse-volume must be one of"),
        (
            ["--bvse-volume", "model", "--lattice-temperature", "298", "--tiers", "prior"],
            "exclude each other",
        ),
        (["--db", "foo://bar/baz", "--tiers", "prior"], "not a database URL"),
    ],
)
def test_cli_bad_input_is_one_line(tmp_path, capsys, args, words):
    code = main(["validate", "--report", str(tmp_path / "x"), *args])
    err = capsys.readouterr().err
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1


def test_kmc_tier_predicts_ea_and_sigma_at_25C(tmp_path, counted):
    """The kmc tier runs KMC on each relaxed reference structure's network (BVSE here: no
    neb tier) and predicts Ea over 25-100 C and log10 sigma at 25 C."""
    small = ValidateSettings(
        bvse_resolution_A=0.5,
        relax_steps=5,
        kmc_temperatures_K=(500.0, 600.0),  # few hops: hot enough to be diffusive
        kmc_runs=2,
        kmc_hops=20,
    )
    out = validate(
        tiers=["relax", "kmc"],
        models=["chgnet"],
        out=None,
        db=tmp_path / "k.sqlite",
        settings=small,
        materials=SUBSET[:2],
        progress=False,
        report=False,
    )
    assert not out.failed, out.failed
    assert out.tiers == ("model", "relax", "kmc")
    rows = {r["composition"]: r for r in out.rows if r["tier"] == "kmc"}
    assert set(rows) == {"Li3InCl6", "LiAlCl4"}
    for r in rows.values():
        assert r["model"] == "chgnet"
        assert math.isfinite(r["pred_log10_sigma_S_cm"]) and 0.0 < r["pred_ea_eV"] < 2.0


def test_kmc_tier_without_relax_runs_on_the_ordered_models(tmp_path, counted):
    """Without the relax tier the kmc tier maps the ordered models as built (the measured
    cell and positions of a CIF), as the bvse tier does: no MLIP runs, the rows carry no
    model (so their calibration is never applied to KMC on relaxed cells), and each task's
    structure is the model's. With relax in the campaign the same tier reads the relaxed
    cells: other tasks."""
    from halidelab.validation.tiers import normalise_tiers

    assert normalise_tiers(["kmc"]) == ("model", "kmc")
    small = ValidateSettings(
        bvse_resolution_A=0.5,
        orderings=1,
        kmc_temperatures_K=(500.0, 600.0),
        kmc_runs=2,
        kmc_hops=20,
    )
    db = tmp_path / "k.sqlite"
    kw = dict(db=db, out=None, settings=small, materials=SUBSET[:1], progress=False, report=False)
    out = validate(tiers=["kmc"], models=["chgnet"], **kw)
    assert not out.failed, out.failed
    assert out.tiers == ("model", "kmc") and "relax" not in counted
    (row,) = [r for r in out.rows if r["tier"] == "kmc"]
    assert row["model"] == NO_MODEL and row["method"]["kmc_network"] == "bvse"
    assert math.isfinite(row["pred_log10_sigma_S_cm"]) and 0.0 < row["pred_ea_eV"] < 2.0
    store = Store(db)
    (model,) = store.rows(kind="reference-model", status="done")
    (kmc,) = store.rows(kind="kmc", status="done")
    assert kmc["inputs"]["structure"] == model["result"]["structure"]
    # the relaxed cell is another structure: other KMC tasks, a per-model row
    out2 = validate(tiers=["relax", "kmc"], models=["chgnet"], **kw)
    assert counted["relax"] == 1
    assert len(list(store.rows(kind="kmc", status="done"))) == 2
    assert {r["model"] for r in out2.rows if r["tier"] == "kmc"} == {"chgnet"}


def test_kmc_tier_keeps_one_network_kind_per_campaign():
    """With the neb tier in the campaign, a material whose NEB study failed (no vacancy to
    hop into, say) gets no KMC value rather than a BVSE-network one: one tier, one method,
    so that its calibration can be applied. Without the neb tier, KMC runs on BVSE."""
    from halidelab.validation.tiers import MaterialContext, kmc_task

    entry = load_reference_set().entry("li3incl6-li2019angew")
    relaxed = toy_relax(
        {
            "structure": Structure.from_file(
                reference_path().parents[1] / entry.structure_file
            ).as_dict(),
            "model": "chgnet",
        }
    )

    def ctx(tiers, neb):
        return MaterialContext(
            entry=entry,
            model="chgnet",
            settings=SETTINGS,
            tiers=tiers,
            results={"relax": relaxed, "neb": neb},
        )

    assert kmc_task(ctx(("model", "relax", "neb", "kmc"), None)) is None
    bvse = kmc_task(ctx(("model", "relax", "kmc"), None))
    assert bvse is not None and bvse.inputs["source"] == "bvse"


def test_milled_rows_run_longer_kmc_and_the_annealed_keys_stay():
    """A ball-milled row's KMC runs take ``milled_kmc_hops`` events per Li (its cell traps
    Li longer); an annealed row's keep ``kmc_hops``, so their stored results are reused."""
    from halidelab.transport.kmc import MILLED_HOPS_PER_CARRIER as MILLED_KMC_HOPS
    from halidelab.validation.tiers import MaterialContext, kmc_task

    ref = load_reference_set()
    relaxed = {"structure": {"placeholder": True}}

    def hops(entry_id, settings):
        entry = ref.entry(entry_id)
        task = kmc_task(
            MaterialContext(
                entry=entry,
                model="chgnet",
                settings=settings,
                tiers=("model", "relax", "kmc"),
                results={"relax": relaxed},
            )
        )
        return task.inputs["hops_per_carrier"]

    default = ValidateSettings()
    assert MILLED_KMC_HOPS > default.kmc_hops
    assert hops("li3ycl6-bm-schlem2020", default) == MILLED_KMC_HOPS
    assert hops("li3ycl6-ampoule-schlem2020", default) == default.kmc_hops == 200.0
    longer = ValidateSettings(kmc_hops=300.0, milled_kmc_hops=1200.0)
    assert hops("li3ycl6-bm-schlem2020", longer) == 1200.0
    assert hops("li3ycl6-ampoule-schlem2020", longer) == 300.0


def test_neb_prediction_says_when_the_study_took_li_out():
    """The neb tier's Ea is the study's 3D percolation barrier either way; a study that ran
    on a cell with Li taken out of full orbits says so in the prediction's note."""
    from halidelab.validation.tiers import MaterialContext, neb_predict

    entry = load_reference_set().entry("li3incl6-li2019angew")
    ctx = MaterialContext(entry=entry, model="chgnet", settings=SETTINGS, tiers=("neb",))
    plain = neb_predict({"percolation": {"ea_3d_eV": 0.3}}, ctx)
    made = neb_predict({"percolation": {"ea_3d_eV": 0.3}, "created_vacancies": ["a", "b"]}, ctx)
    assert plain["ea_eV"].value == made["ea_eV"].value == 0.3
    assert "taken out" not in plain["ea_eV"].note
    assert "2 Li taken out" in made["ea_eV"].note
    assert neb_predict({"percolation": {"ea_3d_eV": None}}, ctx) == {}
    longer = neb_predict(
        {
            "percolation": {"ea_3d_eV": 0.3},
            "results": [{"via": ["i1"]}, {"via": ["i1", "i2", "i1"]}],
        },
        ctx,
    )
    assert "up to 3 interstitials" in longer["ea_eV"].note
    assert "interstitials" not in made["ea_eV"].note


def test_a_study_without_a_3d_barrier_says_why_it_has_no_value():
    """Four poor conductors of the set (LiAlCl4, LiGaBr4, Li3AlF6, Li6NBr3) have NEB
    studies whose hops join the Li sites in 1D or 2D only, or bands that did not converge:
    their rows say so instead of staying silently empty."""
    from halidelab.validation.tiers import MaterialContext, neb_explain, neb_predict

    ctx = MaterialContext(
        entry=load_reference_set().entry("li3alf6-2012"),
        model="chgnet",
        settings=SETTINGS,
        tiers=("neb",),
    )
    one_d = {
        "percolation": {"ea_1d_eV": 0.385, "ea_2d_eV": None, "ea_3d_eV": None, "n_hops_missing": 0},
        "results": [{"converged": True}] * 8,
    }
    assert neb_predict(one_d, ctx) == {}
    why = neb_explain(one_d, ctx)
    assert "do not percolate in 3D" in why and "1D 0.385 eV" in why and "8 of 8" in why
    assert "2D" not in why and "does not join the Li sites in 3D" in why
    missing = {**one_d, "percolation": {**one_d["percolation"], "n_hops_missing": 32}}
    assert "32 hops of the site network have no barrier" in neb_explain(missing, ctx)
    failed = {"percolation": None, "results": [{"converged": False}] * 2}
    assert "no percolation analysis (0 of 2 NEB bands converged)" in neb_explain(failed, ctx)


def test_rows_and_report_say_why_a_computed_tier_has_no_value(tmp_path, counted, monkeypatch):
    """A tier that computes and gives no value for one material: the row's note and the
    report's per-material cell carry the tier's explanation."""
    monkeypatch.setitem(TASK_FUNCTIONS, "toy-nothing", lambda inputs: {"dims": 1})

    def task(ctx):
        return Task("toy-nothing", ctx.label, {"m": ctx.entry.id}) if ctx.structure else None

    spec = TierSpec(
        "kmc",
        3,
        lambda tiers: "relax" in tiers,
        ("model",),
        task,
        lambda res, ctx: {},
        "toy",
        lambda res, ctx: f"percolates in {res['dims']}D only",
    )
    monkeypatch.setitem(TIERS, "kmc", spec)
    out = validate(
        tiers=["relax", "kmc"],
        models=["chgnet"],
        out=tmp_path / "r",
        db=tmp_path / "k.sqlite",
        settings=SETTINGS,
        materials=SUBSET[:2],
        progress=False,
    )
    rows = [r for r in out.rows if r["tier"] == "kmc"]
    assert len(rows) == 2
    for r in rows:
        assert r["computed"] and r["pred_ea_eV"] is None
        assert r["note_ea_eV"] == "no value: percolates in 1D only"
    html = (tmp_path / "r" / "report.html").read_text()
    assert "no value: percolates in 1D only" in html


def _defect_ctx(tiers, results):
    from halidelab.validation.tiers import MaterialContext

    entry = load_reference_set().entry("li2mgcl4-ssi1983")
    return MaterialContext(
        entry=entry, model="chgnet", settings=SETTINGS, tiers=tiers, results=results
    )


def _spinel_model():
    from halidelab.validation.reference import resolve_structure_file
    from halidelab.validation.structures import build_reference_model

    m = build_reference_model(
        "Li2MgCl4", "cif-spinel", resolve_structure_file("reference/Li2MgCl4_Fd-3m_obelix-dvn.cif")
    )
    return m.structure if isinstance(m.structure, dict) else m.structure.as_dict()


def test_defect_tier_adds_half_the_formation_energy_only_to_a_full_sublattice():
    """sigma = c(T) x pre x exp(-E_m/kT) with c = sqrt(r) exp(-E_f/2kT) is the Arrhenius
    estimate at E_m + E_f/2 (times sqrt(r)): the predicted Ea and sigma must agree on it."""
    from halidelab.validation.tiers import bvse_predict, defect_predict, method_of

    s = _spinel_model()
    res = {"relax": {"structure": s}, "bvse": {"e_3d_eV": 0.30}}
    ctx = _defect_ctx(("model", "relax", "bvse", "defect"), res)
    full = {
        "li_sublattice_full": True,
        "formation_energy_eV": 0.8,
        "mechanism": "schottky",
        "site_ratio": 4.0,
    }
    p = defect_predict(full, ctx)
    assert p["ea_eV"].value == pytest.approx(0.30 + 0.40)
    assert p["log10_sigma_S_cm"].value == pytest.approx(
        arrhenius_log10_sigma(0.70, s) + math.log10(2.0), abs=1e-9
    )
    assert "schottky" in p["ea_eV"].note and "BVSE" in p["ea_eV"].note
    assert method_of("defect", full, ctx)["defect_barrier"] == "BVSE"
    # structural vacancies: the BVSE tier's own prediction, and the note says why
    part = defect_predict({"li_sublattice_full": False, "n_vacant_li_sites": 6}, ctx)
    plain = bvse_predict(res["bvse"], ctx)
    assert part["ea_eV"].value == plain["ea_eV"].value
    assert part["log10_sigma_S_cm"].value == plain["log10_sigma_S_cm"].value
    assert "6 vacant Li sites" in part["ea_eV"].note
    # a full sublattice without a formation energy predicts nothing (not the bare barrier)
    assert defect_predict({"li_sublattice_full": True, "formation_energy_eV": None}, ctx) == {}
    # with the neb tier, the NEB barrier is E_m; a failed study gives nothing (one method)
    res_neb = {**res, "neb": {"percolation": {"ea_3d_eV": 0.25}}}
    ctx_neb = _defect_ctx(("model", "relax", "bvse", "neb", "defect"), res_neb)
    assert defect_predict(full, ctx_neb)["ea_eV"].value == pytest.approx(0.65)
    assert method_of("defect", full, ctx_neb)["defect_barrier"] == "NEB"
    ctx_failed = _defect_ctx(("model", "relax", "bvse", "neb", "defect"), {**res, "neb": None})
    assert defect_predict(full, ctx_failed) == {}


def _two_site_chain_kmc(inner_eV, outer_eV, n_carriers, temperatures_K, n_runs):
    """A KMC result as the kmc task stores it: two Li sites 3 A apart along a 6 A chain,
    joined inside the cell by ``inner_eV`` and to the next cell by ``outer_eV``."""
    from halidelab.transport.kmc import make_network, run_kmc

    net = make_network(
        np.diag([6.0, 30.0, 30.0]),
        [[0, 0, 0], [0.5, 0, 0]],
        [0.0, 0.0],
        [(0, 1, (0, 0, 0), inner_eV), (1, 0, (1, 0, 0), outer_eV)],
        n_carriers,
        exclusion_radius_A=0.0,
    )
    res = run_kmc(net, temperatures_K, n_runs=n_runs, seed=1, superbasin_ratio=None)
    return {
        "network": {
            "source": "bvse",
            "site_role": ["li", "li"],
            "n_carriers": n_carriers,
            "notes": [],
        },
        "kmc": res.to_dict(),
    }


def test_kmc_without_a_value_says_which_temperatures_were_not_diffusive():
    """A chain whose cells are joined by a 0.7 eV hop and whose two sites rattle over
    0.2 eV: at 300-340 K a run of 200 hops per Li never leaves its cell, no temperature is
    diffusive, the KMC tier has no value, and the row's explanation names the
    temperatures and the reason (as the wide milled cells' runs do)."""
    from halidelab.validation.tiers import kmc_explain, kmc_predict

    result = _two_site_chain_kmc(0.2, 0.7, 1, [300.0, 320.0, 340.0], n_runs=4)
    ctx = _defect_ctx(("model", "relax", "bvse", "kmc"), {})
    assert kmc_predict(result, ctx) == {}
    why = kmc_explain(result, ctx)
    assert why.startswith("no Arrhenius fit: 0 of 3 temperatures diffusive and resolved")
    assert "not diffusive at 300, 320, 340 K (collective MSD" in why


def test_kmc_on_a_full_sublattice_without_defects_does_not_ask_for_longer_runs():
    """Two Li sites, both occupied, joined by a hop: no Li can move at any temperature, so
    the explanation says the network makes no defects and does not suggest longer runs."""
    from halidelab.validation.tiers import kmc_explain, kmc_predict

    result = _two_site_chain_kmc(0.2, 0.2, 2, [300.0, 340.0], n_runs=2)
    ctx = _defect_ctx(("model", "relax", "bvse", "kmc"), {})
    assert kmc_predict(result, ctx) == {}
    why = kmc_explain(result, ctx)
    assert "not diffusive at 300, 340 K (no hop is possible" in why
    assert "longer runs" not in why


def test_kmc_takes_li_out_of_a_full_sublattice_only_for_the_defect_tier():
    """The spinel's BVSE network is a full Li sublattice: with the defect tier in the
    campaign (which rescales the cell's vacancies to the intrinsic ones) the KMC task takes
    one Li out of each cell, the network says the fraction is the cell's, and the tier's
    rescaling reads x = 1/16 from it; without the defect tier, or where the defect task
    finds vacant Li sites, the task is the one stored before (same key, no vacancy)."""
    from halidelab.screening.inputs import KMCInputs
    from halidelab.transport.kmc import network_from_bvse
    from halidelab.validation.tiers import _kmc_defect_scaling, kmc_task

    s = _spinel_model()
    tiers = ("model", "relax", "bvse", "kmc", "defect")
    full = {"relax": {"structure": s}, "defect": {"li_sublattice_full": True}}
    task = kmc_task(_defect_ctx(tiers, full))
    assert task.inputs["vacancies"] == 1
    plain = kmc_task(_defect_ctx(("model", "relax", "bvse", "kmc"), full))
    vacant = kmc_task(_defect_ctx(tiers, {**full, "defect": {"li_sublattice_full": False}}))
    assert "vacancies" not in plain.inputs and plain.key == vacant.key != task.key
    assert (
        plain.key
        == Task.of(
            KMCInputs(
                structure=s,
                source="bvse",
                **{
                    k: plain.inputs[k]
                    for k in ("temperatures_K", "n_runs", "hops_per_carrier", "seed")
                },
            ),
            "x",
        ).key
    )
    net = network_from_bvse(Structure.from_dict(s), vacancies=1).to_dict()
    n_li = sum(1 for r in net["site_role"] if r == "li")
    assert n_li == 16 and net["n_carriers"] == 15
    ef = 0.8
    ctx = _defect_ctx(
        tiers,
        {
            "defect": {
                "li_sublattice_full": True,
                "formation_energy_eV": ef,
                "mechanism": "frenkel",
                "site_ratio": 1.0,
            }
        },
    )
    factor, add_ea, how = _kmc_defect_scaling({"network": net}, ctx)
    assert add_ea == pytest.approx(ef / 2) and "from the cell's 0.0625" in how
    with pytest.raises(HalidelabError, match="fewer than the cell's 16 Li"):
        network_from_bvse(Structure.from_dict(s), vacancies=16)


def test_kmc_that_stays_sub_diffusive_at_25C_gives_an_upper_limit():
    """The 0.7 eV chain's runs never leave their cell at 25 C: no value, but the 25 C
    point's bound (at least the exact long-time sigma, tests/transport/test_kmc.py) is
    the tier's upper limit; a blocked network (no hop possible) and a result with a value
    give none."""
    from halidelab.validation.tiers import kmc_limit, kmc_predict

    ctx = _defect_ctx(("model", "relax", "bvse", "kmc"), {})
    stuck = _two_site_chain_kmc(0.2, 0.7, 1, [298.15, 340.0], n_runs=4)
    assert kmc_predict(stuck, ctx) == {}
    lim = kmc_limit(stuck, ctx)["log10_sigma_S_cm"]
    low = stuck["kmc"]["points"][0]
    assert not low["diffusive"] and lim.value == pytest.approx(math.log10(low["sigma_upper_S_cm"]))
    assert "upper limit" in lim.note
    blocked = _two_site_chain_kmc(0.2, 0.2, 2, [298.15, 340.0], n_runs=2)
    assert kmc_limit(blocked, ctx) == {}
    assert kmc_limit(_kmc_result(16, 14, made_by_cell=False), ctx) == {}
    old = copy.deepcopy(stuck)  # a record written before the bound existed
    for p in old["kmc"]["points"]:
        p.pop("sigma_upper_S_cm")
    assert kmc_limit(old, ctx) == {}


def test_an_ensemble_upper_limit_needs_every_ordering_to_bound_or_value():
    """Each ordering's limit is at least its value, so the mean of the values and limits
    bounds the ensemble's mean from above; an ordering with neither leaves no bound, and
    no limit at all leaves no limit."""
    from halidelab.validation.run import _ensemble_upper

    t = "log10_sigma_S_cm"

    def p(v):
        return {t: Prediction(v, 0.0, "x")}

    up = _ensemble_upper([{}, p(-5.0), {}], [p(-6.0), {}, p(-7.0)], t)
    assert up.value == pytest.approx(-6.0) and "2 of them limits" in up.note
    assert _ensemble_upper([{}, p(-5.0), {}], [p(-6.0), {}, {}], t) is None
    assert _ensemble_upper([p(-5.0), p(-4.0)], [{}, {}], t) is None
    assert _ensemble_upper([{}], [p(-6.5)], t).value == pytest.approx(-6.5)


def _kmc_result(n_li_sites, n_carriers, made_by_cell):
    notes = ["site energies per orbit by least squares"]
    if made_by_cell:
        notes.append(
            f"{n_li_sites - n_carriers} Li taken out for the NEB: {n_carriers} carriers on "
            f"{n_li_sites} Li sites, a vacancy fraction set by the cell size, not by a computed "
            "defect concentration (sigma scales with it)"
        )
    return {
        "network": {
            "source": "neb",
            "site_role": ["li"] * n_li_sites + ["interstitial"] * 8,
            "n_carriers": n_carriers,
            "notes": notes,
        },
        "kmc": {
            "ea_eV": 0.20,
            "ea_err_eV": 0.02,
            "sigma_25C_S_cm": 1e-2,
            "sigma_25C_low_S_cm": 8e-3,
            "sigma_25C_high_S_cm": 1.25e-2,
            "points": [_kmc_point(298.15, 1e-2)],
            "provenance": {"parameters": {"superbasin_ratio": 100.0}},
        },
    }


def _kmc_point(t, sigma, diffusive=True):
    return {
        "temperature_K": t,
        "diffusive": diffusive,
        "d_sigma_cm2_s": 1e-8,
        "sigma_S_cm": sigma,
        "sigma_err_S_cm": 0.1 * sigma,
        "note": "" if diffusive else "collective MSD 11 A^2 < 4 hop lengths squared (21 A^2)",
        "hops_per_carrier": 4000.0,
    }


def test_kmc_gives_no_value_extrapolated_to_25C_nor_a_negative_ea():
    """A milled cell's runs not diffusive at 25 and 50 C: the Arrhenius line through 75 and
    100 C would put sigma(25 C) 2.5 fitted ranges outside its data (and such fits of the
    milled Li3YCl6 cells gave Ea down to -0.02 eV), so the tier gives no value and says
    why; a fit through 25 C with Ea <= 0 is not thermally activated and gives none either;
    the same fit with a positive Ea is the tier's value."""
    from halidelab.validation.tiers import kmc_explain, kmc_predict

    ctx = _defect_ctx(("model", "relax", "bvse", "kmc"), {})
    good = _kmc_result(16, 14, made_by_cell=False)
    assert kmc_predict(good, ctx)["log10_sigma_S_cm"].value == pytest.approx(-2.0)
    hot = copy.deepcopy(good)
    hot["kmc"]["points"] = [
        _kmc_point(298.15, 1e-5, diffusive=False),
        _kmc_point(323.15, 4e-5, diffusive=False),
        _kmc_point(348.15, 1.7e-4),
        _kmc_point(373.15, 1.5e-4),
    ]
    assert kmc_predict(hot, ctx) == {}
    why = kmc_explain(hot, ctx)
    assert "lowest temperature run (298.15 K) was not diffusive" in why
    assert "extrapolated from 348.15-373.15 K" in why
    assert "not diffusive at 298.15, 323.15 K (collective MSD" in why
    negative = copy.deepcopy(good)
    negative["kmc"]["ea_eV"] = -0.02
    assert kmc_predict(negative, ctx) == {}
    assert "negative Ea (-0.020 eV)" in kmc_explain(negative, ctx)


def test_kmc_with_the_defect_tier_counts_intrinsic_vacancies_on_a_full_sublattice():
    """2 vacancies on 16 Li sites are x = 1/8; the intrinsic fraction of a 0.6 eV Schottky
    pair with 4 partners per Li is 2 exp(-0.3 eV / kT) at 25 C. Dilute vacancies carry a
    current in proportion to their number, so sigma scales by c / x and Ea gains 0.3 eV;
    materials with vacant Li sites, and campaigns without the defect tier, are untouched."""
    from halidelab.validation.tiers import kmc_predict, method_of

    kt = K_B_EV_K * 298.15
    c = 2.0 * math.exp(-0.3 / kt)
    full = {
        "li_sublattice_full": True,
        "formation_energy_eV": 0.6,
        "mechanism": "schottky",
        "site_ratio": 4.0,
    }
    made = _kmc_result(16, 14, made_by_cell=True)
    with_defect = _defect_ctx(("model", "relax", "bvse", "neb", "defect", "kmc"), {"defect": full})
    p = kmc_predict(made, with_defect)
    assert p["ea_eV"].value == pytest.approx(0.50)
    assert p["log10_sigma_S_cm"].value == pytest.approx(math.log10(1e-2 * c / 0.125), abs=1e-9)
    assert p["log10_sigma_S_cm"].spread == pytest.approx(0.5 * math.log10(1.25e-2 / 8e-3))
    assert "intrinsic" in p["ea_eV"].note and "0.125" in p["ea_eV"].note
    assert method_of("kmc", made, with_defect)["kmc_vacancies"] == "intrinsic"
    # without the defect tier: the cell's vacancies, as before, and the method says so
    without = _defect_ctx(("model", "relax", "neb", "kmc"), {})
    q = kmc_predict(made, without)
    assert q["ea_eV"].value == 0.20 and q["log10_sigma_S_cm"].value == pytest.approx(-2.0)
    assert "kmc_vacancies" not in method_of("kmc", made, without)
    # structural vacancies (nothing taken out; the defects task says not full): untouched
    own = kmc_predict(
        _kmc_result(24, 17, made_by_cell=False),
        _defect_ctx(with_defect.tiers, {"defect": {"li_sublattice_full": False}}),
    )
    assert own["log10_sigma_S_cm"].value == pytest.approx(-2.0)
    # a full sublattice without a formation energy: no KMC value (one tier, one method)
    none = {"li_sublattice_full": True, "formation_energy_eV": None}
    assert kmc_predict(made, _defect_ctx(with_defect.tiers, {"defect": none})) == {}
    # a 0.1 eV pair makes 2 exp(-0.05 / kT) = 0.29 of the Li vacant: the note says the
    # dilute formula is out of its range (and 0.6 eV's 3.4e-5 was not flagged)
    soft = {**full, "formation_energy_eV": 0.1}
    assert (
        "not dilute"
        in kmc_predict(made, _defect_ctx(with_defect.tiers, {"defect": soft}))["ea_eV"].note
    )
    assert "not dilute" not in p["ea_eV"].note


def test_defect_tier_runs_through_the_store(tmp_path, counted, monkeypatch):
    """The tier needs bvse and relax, runs one defects task per material and model, and a
    rerun computes nothing; the toy task decides fullness with the real site network."""
    from halidelab.transport.sites import site_network
    from halidelab.validation.tiers import normalise_tiers

    assert normalise_tiers(["defect"]) == ("model", "relax", "bvse", "defect")

    def toy_defects(inputs):
        counted["defects"] = counted.get("defects", 0) + 1
        net = site_network(Structure.from_dict(inputs["structure"]))
        vac = sum(1 for x in net.sites if x.role == "li" and x.occupant is None)
        return {
            "li_sublattice_full": vac == 0,
            "n_vacant_li_sites": vac,
            "formation_energy_eV": 1.0 if vac == 0 else None,
            "mechanism": "frenkel" if vac == 0 else None,
            "site_ratio": 1.0,
            "provenance": {"parameters": {"min_width_A": inputs["min_width_A"], "n_relax": 3}},
        }

    monkeypatch.setitem(TASK_FUNCTIONS, "defects", toy_defects)
    subset = ["li2mgcl4-ssi1983", "li3ycl6-ampoule-schlem2020"]
    run = lambda: validate(  # noqa: E731
        tiers=["defect"],
        models=["chgnet"],
        out=tmp_path / "v",
        settings=SETTINGS,
        materials=subset,
        progress=False,
    )
    out = run()
    assert not out.failed and counted["defects"] == 2
    by = {(r["tier"], r["composition"]): r for r in out.rows}
    assert {c for _, c in by} == {"Li2MgCl4", "Li3YCl6"}
    mg, y = by[("defect", "Li2MgCl4")], by[("defect", "Li3YCl6")]
    # the spinel's Li sublattice is full: +0.5 eV; Li3YCl6 has vacant Li sites: the BVSE value
    assert mg["pred_ea_eV"] == pytest.approx(by[("bvse", "Li2MgCl4")]["pred_ea_eV"] + 0.5)
    assert y["pred_ea_eV"] == pytest.approx(by[("bvse", "Li3YCl6")]["pred_ea_eV"])
    assert mg["method"]["defect_barrier"] == "BVSE"
    run()
    assert counted["defects"] == 2


def test_validate_never_writes_its_report_over_the_reference_table(tmp_path, capsys):
    """A table kept as REPORT/report.html (an odd name, but the user's file) is refused
    before any work, and is left as it was."""
    folder = tmp_path / "v"
    folder.mkdir()
    table = folder / "report.html"
    shutil.copy(reference_path(), table)
    before = table.read_bytes()
    code = main(["validate", "--tiers", "prior", "--reference", str(table), "-o", str(folder)])
    err = capsys.readouterr().err
    assert code == 2 and "input file" in err and len(err.strip().splitlines()) == 1
    assert table.read_bytes() == before


def test_relaxed_bond_change_follows_each_bond():
    """Bonds found in the model, followed into the relaxed cell: a tetragonal strain of rock
    salt lengthens its 4 in-plane Li-Cl bonds by 2 % and shortens the 2 axial ones by 1 %
    (mean +1 %); a rigid translation across the cell boundary changes nothing; a supercell
    or another species order is no comparison."""
    from halidelab.validation.metrics import relaxed_bond_change

    s = Structure.from_spacegroup(
        "Fm-3m", [[5.14, 0, 0], [0, 5.14, 0], [0, 0, 5.14]], ["Li", "Cl"], [[0, 0, 0], [0.5] * 3]
    )
    strained = s.copy()
    strained.apply_strain([0.02, 0.02, -0.01])
    (b,) = relaxed_bond_change(strained.as_dict(), s.as_dict())
    assert b["pair"] == "Li-Cl" and b["n"] == 6 * 4  # 4 Li, 6 Cl each
    assert b["built_A"] == pytest.approx(2.57)
    assert b["change_percent"] == pytest.approx((4 * 2.0 - 2 * 1.0) / 6)
    moved = s.copy()
    moved.translate_sites(range(len(s)), [0.3, -0.45, 0.7], frac_coords=True, to_unit_cell=True)
    (b,) = relaxed_bond_change(moved.as_dict(), s.as_dict())
    assert b["change_percent"] == pytest.approx(0.0, abs=1e-9)
    # one Li displaced along +x by 0.05 A: its +x bond shortens, its -x bond lengthens
    shifted = s.copy()
    shifted.translate_sites([0], [0.05, 0, 0], frac_coords=False)
    (b,) = relaxed_bond_change(shifted.as_dict(), s.as_dict())
    expect = (2.52 + 2.62 + 4 * np.hypot(2.57, 0.05)) / 6 + 3 * 6 * 2.57 / 6
    assert b["relaxed_A"] == pytest.approx(expect / 4)
    assert relaxed_bond_change((s * (2, 1, 1)).as_dict(), s.as_dict()) is None
    swapped = Structure(s.lattice, ["Cl"] * 4 + ["Li"] * 4, s.frac_coords)
    assert relaxed_bond_change(swapped.as_dict(), s.as_dict()) is None
    assert relaxed_bond_change(None, s.as_dict()) is None


def test_relaxed_volume_change_per_atom_and_its_flag():
    """The change is per atom (a supercell of the same cell changes nothing), exact for a
    scaled lattice, and flagged only on a measured structure beyond the stated limit."""
    from halidelab.validation.metrics import (
        VOLUME_FLAG_PERCENT,
        measured_structure,
        relaxed_axes_change,
        relaxed_volume_change,
    )

    s = Structure.from_spacegroup(
        "Fm-3m", [[5.0, 0, 0], [0, 5.0, 0], [0, 0, 5.0]], ["Li", "Cl"], [[0, 0, 0], [0.5] * 3]
    )
    big = s.copy()
    big.scale_lattice(s.volume * 1.24)
    assert relaxed_volume_change(big.as_dict(), s.as_dict()) == pytest.approx(24.0)
    assert relaxed_volume_change((s * (2, 1, 1)).as_dict(), s.as_dict()) == pytest.approx(0.0)
    assert relaxed_volume_change(None, s.as_dict()) is None
    # the axes: a tetragonal strain of the same cell, not a supercell
    strained = s.copy()
    strained.apply_strain([0.02, 0.02, -0.01])
    assert relaxed_axes_change(strained.as_dict(), s.as_dict()) == pytest.approx([2, 2, -1])
    assert relaxed_axes_change((s * (2, 1, 1)).as_dict(), s.as_dict()) is None
    assert relaxed_axes_change(None, s.as_dict()) is None
    assert measured_structure("cif") and measured_structure("cif-merge")
    assert measured_structure("cif;ball-milled")
    assert not measured_structure("design:Li3ErCl6|P-3m1")
    row = {"id": "x", "composition": "LiGaBr4", "model": "chgnet", "measured_structure": True}
    rows = [
        {**row, "tier": "relax", "relaxed_volume_change_percent": 24.3},
        {**row, "tier": "bvse", "relaxed_volume_change_percent": 24.3},  # same material
        {**row, "id": "y", "relaxed_volume_change_percent": VOLUME_FLAG_PERCENT - 1.0},
        {**row, "id": "z", "measured_structure": False, "relaxed_volume_change_percent": 24.3},
        {**row, "id": "w", "model": "-", "relaxed_volume_change_percent": None},
    ]
    vols = relaxed_volumes(rows)
    assert [(v["id"], v["flagged"]) for v in vols] == [("x", True), ("y", False), ("z", False)]


def test_lattice_temperature_reaches_the_relax_task_and_the_tiers_after_it(tmp_path, monkeypatch):
    """With ``lattice_temperature_K`` the relax tasks ask for the lattice at temperature, the
    BVSE tier runs on the structure they return (the expanded one), and each row and the
    report give that expansion beside the volume change."""
    seen: dict[str, list] = {"relax": [], "bvse": []}

    def hot_relax(inputs: dict) -> dict:
        seen["relax"].append(inputs)
        out = toy_relax(inputs)  # the static lattice: 1 % below the model
        hot = Structure.from_dict(out["structure"])
        hot.scale_lattice(hot.volume * 1.03)
        out["structure_0K"], out["structure"] = out["structure"], hot.as_dict()
        out["thermal_lattice"] = {
            "temperature_K": inputs["temperature_K"],
            "expansion_percent": 3.0,
            "shape": inputs["thermal_shape"],
        }
        return out

    bvse = TASK_FUNCTIONS["bvse"]

    def spy_bvse(inputs: dict) -> dict:
        seen["bvse"].append(Structure.from_dict(inputs["structure"]).volume)
        return bvse(inputs)

    monkeypatch.setitem(TASK_FUNCTIONS, "relax", hot_relax)
    monkeypatch.setitem(TASK_FUNCTIONS, "bvse", spy_bvse)
    settings = dataclasses.replace(
        SETTINGS, lattice_temperature_K=298.15, thermal_md_ps=1.5, thermal_iterations=3
    )
    out = validate(
        tiers=["relax", "bvse"],
        models=["chgnet"],
        out=tmp_path / "v",
        settings=settings,
        materials=SUBSET[:2],
        progress=False,
    )
    assert not out.failed
    assert [i["temperature_K"] for i in seen["relax"]] == [298.15, 298.15]
    assert {
        (i["thermal_md_ps"], i["thermal_iterations"], i["thermal_shape"]) for i in seen["relax"]
    } == {(1.5, 3, "anisotropic")}
    rows = [r for r in out.rows if r["tier"] == "bvse"]
    for r in rows:
        # the model shrank 1 % when relaxed and grew 3 % when warmed: 0.99 * 1.03 - 1
        assert r["relaxed_volume_change_percent"] == pytest.approx(1.97, abs=1e-9)
        assert r["thermal_expansion_percent"] == 3.0 and r["lattice_temperature_K"] == 298.15
        # a calibration fitted on these values records the lattice temperature, so that it
        # is never applied to values computed on static lattices
        assert r["method"]["lattice_temperature_K"] == 298.15
        # and its shape: an anisotropic lattice's calibration is not applied to isotropic
        # values (whose method, as stored before the shape existed, names none)
        assert r["method"]["lattice_shape"] == "anisotropic"
    built = {
        round(Structure.from_dict(i["structure"]).volume * 0.99 * 1.03, 6) for i in seen["relax"]
    }
    assert {round(v, 6) for v in seen["bvse"]} == built  # BVSE ran on the warm lattice
    html = (tmp_path / "v" / "report.html").read_text()
    assert "at 298.15 K (+3.0 % of it thermal)" in html


def test_the_lattice_shape_enters_the_method_only_when_anisotropic():
    """A calibration records how its values were made: the lattice temperature and, for an
    anisotropic lattice, its shape; an isotropic lattice (all stored before the shape
    existed) names none, so old calibrations keep matching the values they were fitted on."""
    from types import SimpleNamespace

    from halidelab.validation.tiers import method_of

    settings = dataclasses.replace(SETTINGS, lattice_temperature_K=298.15)
    bvse = {"resolution_A": 0.25}

    def ctx(thermal: dict | None):
        relaxed = {"thermal_lattice": thermal} if thermal is not None else {}
        return SimpleNamespace(settings=settings, results={"relax": relaxed}, tiers=("bvse",))

    aniso = method_of("bvse", bvse, ctx({"shape": "anisotropic"}))
    assert aniso == {
        "bvse_resolution_A": 0.25,
        "lattice_temperature_K": 298.15,
        "lattice_shape": "anisotropic",
    }
    for thermal in ({"shape": "isotropic"}, {}, None):
        assert method_of("bvse", bvse, ctx(thermal)) == {
            "bvse_resolution_A": 0.25,
            "lattice_temperature_K": 298.15,
        }
    static = SimpleNamespace(settings=SETTINGS, results={}, tiers=("bvse",))
    assert method_of("bvse", bvse, static) == {"bvse_resolution_A": 0.25}


def test_bvse_volume_model_puts_the_bvse_tiers_on_the_models_volume(tmp_path, monkeypatch):
    """With ``bvse_volume="model"`` the BVSE tier and the KMC tier's BVSE network map the
    relaxed cell scaled back to the ordered model's volume per atom (the task scales it:
    the inputs keep the relaxed structure, so the store still joins them to it), the MLIP
    tiers keep the relaxed cell, the results and so the rows' method say so (a
    calibration fitted on them is never applied to relaxed-cell values), and the default
    leaves the inputs, hence the stored keys, as they were."""
    from types import SimpleNamespace

    from halidelab.validation.tiers import (
        MaterialContext,
        bvse_task,
        defect_task,
        kmc_task,
        method_of,
    )

    entry = load_reference_set().entry("li3incl6-li2019angew")
    model = Structure.from_dict(
        TASK_FUNCTIONS["reference-model"](
            tiers_mod.model_task(MaterialContext(entry, None, SETTINGS, ("model",), {}, 0)).inputs
        )["structure"]
    )
    relaxed = model.copy()
    relaxed.apply_strain([0.06, 0.02, 0.04])  # a swollen, sheared cell: +12.4 %
    relaxed.perturb(0.05, 0.05)  # and moved atoms
    results = {
        "model": {"structure": model.as_dict()},
        "relax": {"structure": relaxed.as_dict()},
    }
    tiers = ("model", "relax", "bvse", "kmc", "defect")
    anchored = MaterialContext(
        entry, "chgnet", dataclasses.replace(SETTINGS, bvse_volume="model"), tiers, results
    )
    plain = MaterialContext(entry, "chgnet", SETTINGS, tiers, results)
    v_model = model.volume / len(model)
    for task in (bvse_task(anchored), kmc_task(anchored)):
        assert Structure.from_dict(task.inputs["structure"]) == relaxed
        assert task.inputs["volume_per_atom_A3"] == pytest.approx(v_model, rel=1e-12)
    for task in (bvse_task(plain), kmc_task(plain), defect_task(anchored)):
        assert Structure.from_dict(task.inputs["structure"]) == relaxed
        assert "volume_per_atom_A3" not in task.inputs  # the keys stored before hold
    assert bvse_task(anchored).key != bvse_task(plain).key

    # the task maps the scaled cell: the relaxed geometry, only smaller
    seen = []
    monkeypatch.setattr(
        "halidelab.transport.bvse.bvse",
        lambda s, **kw: (seen.append(s), (SimpleNamespace(to_dict=lambda: {"e_3d_eV": 0.3}), 0))[1],
    )
    bv = TASK_FUNCTIONS["bvse"](bvse_task(anchored).inputs)
    (mapped,) = seen
    assert mapped.volume == pytest.approx(model.volume, rel=1e-9)
    assert np.allclose(mapped.frac_coords, relaxed.frac_coords)
    assert np.allclose(mapped.lattice.angles, relaxed.lattice.angles)
    ratios = np.array(mapped.lattice.abc) / np.array(relaxed.lattice.abc)
    assert np.allclose(ratios, (model.volume / relaxed.volume) ** (1 / 3))
    assert bv["scaled_to_volume_per_atom_A3"] == pytest.approx(v_model)
    assert bv["given_volume_per_atom_A3"] == pytest.approx(relaxed.volume / len(relaxed))
    # its Arrhenius sigma takes the carrier density of the mapped (smaller) cell
    gain = math.log10(relaxed.volume / model.volume)
    raw = {"e_3d_eV": 0.3}
    assert tiers_mod.bvse_predict(bv, plain)["log10_sigma_S_cm"].value - tiers_mod.bvse_predict(
        raw, plain
    )["log10_sigma_S_cm"].value == pytest.approx(gain, abs=1e-9)

    # the method, from the results: BVSE tier, BVSE networks, a defect tier whose E_m is
    # the BVSE one; nothing on relaxed cells or NEB networks
    assert method_of("bvse", {**bv, "resolution_A": 0.5})["bvse_volume"] == "model"
    assert "bvse_volume" not in method_of("bvse", {"e_3d_eV": 0.3, "resolution_A": 0.5})
    net = {"network": {"source": "bvse"}, "kmc": {}}
    assert method_of("kmc", {**net, "scaled_to_volume_per_atom_A3": v_model})["bvse_volume"] == (
        "model"
    )
    assert "bvse_volume" not in method_of("kmc", net)
    defect = {"provenance": {"parameters": {"min_width_A": 10.0}}}
    on_bvse = SimpleNamespace(
        settings=SETTINGS, results={"bvse": bv}, tiers=("bvse", "defect"), ordering=0
    )
    assert method_of("defect", defect, on_bvse)["bvse_volume"] == "model"
    on_neb = SimpleNamespace(
        settings=SETTINGS, results={"bvse": bv}, tiers=("neb", "defect"), ordering=0
    )
    assert "bvse_volume" not in method_of("defect", defect, on_neb)

    # a campaign: the rows say so, the report names the cell
    monkeypatch.undo()
    monkeypatch.setitem(TASK_FUNCTIONS, "relax", toy_relax)
    out = validate(
        tiers=["relax", "bvse"],
        models=["chgnet"],
        out=tmp_path / "v",
        settings=dataclasses.replace(SETTINGS, bvse_volume="model"),
        materials=SUBSET[:1],
        progress=False,
    )
    assert not out.failed
    (row,) = [r for r in out.rows if r["tier"] == "bvse"]
    assert row["method"]["bvse_volume"] == "model"
    assert "scaled to their ordered models' volumes" in (tmp_path / "v" / "report.html").read_text()


def test_scaled_volume_task_inputs_are_checked():
    """A volume per atom must be a volume; a KMC on an NEB network has none to scale."""
    from halidelab.screening.inputs import BVSEInputs, KMCInputs, TaskInputError

    s = {"lattice": {}}
    for bad in (0.0, -3.0, float("nan"), "big"):
        with pytest.raises(TaskInputError, match="volume_per_atom_A3 must be a volume"):
            BVSEInputs(structure=s, volume_per_atom_A3=bad)
    with pytest.raises(TaskInputError, match="for BVSE networks"):
        KMCInputs(
            structure=s,
            temperatures_K=[300.0],
            source="neb",
            study={"x": 1},
            volume_per_atom_A3=20.0,
        )


def test_held_out_interval_coverage_reaches_the_json_and_the_report(tmp_path, capsys):
    """The prior over the whole set (model-free, seconds): its log sigma calibration gets
    the held-out coverage of its interval. Each material's refit is the calibration without
    it: where the refit chose the full calibration's map kind, its calibrated value is that
    material's leave-one-out prediction; its interval is built around that value, and the
    counts add up."""
    import json

    code = main(
        [
            "validate",
            "--tiers",
            "prior",
            "-o",
            str(tmp_path / "p"),
            "--db",
            str(tmp_path / "p.sqlite"),
            "--json",
        ]
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    (cov,) = [c for c in doc["interval_coverage"] if c["target"] == "log10_sigma_S_cm"]
    cal = load_calibration(tmp_path / "p" / "calibration" / "prior-none-log10_sigma_S_cm.json")
    assert cov["n"] == cal.n_materials >= 15 and cov["level"] == cal.level
    # the file keeps the summary, for compare, screen and the reports to state
    assert cal.coverage == pytest.approx({k: cov[k] for k in COVERAGE_KEYS})
    assert {m["material"] for m in cov["materials"]} == set(cal.materials)
    same = [m for m in cov["materials"] if m["kind"] == cal.kind]
    assert len(same) >= cov["n"] // 2
    for m in same:
        assert m["calibrated"] == pytest.approx(cal.loo_predictions[m["material"]], abs=1e-9)
    for m in cov["materials"]:
        assert m["low"] <= m["calibrated"] <= m["high"]
        assert m["inside"] == (m["low"] <= cal.measured[m["material"]] <= m["high"])
        assert m["inside"] or not m["inside_without_spread"]  # the spread only widens
    assert cov["inside"] == sum(m["inside"] for m in cov["materials"])
    # the designs' share: materials built on another's template (the key names the
    # construction, "design:...")
    built = [m for m in cov["materials"] if "|design:" in m["material"]]
    assert cov["built_n"] == len(built) >= 5
    assert cov["built_inside"] == sum(m["inside"] for m in built)
    (row,) = [
        r for r in doc["parity"] if r["tier"] == "prior" and r["target"] == "log10_sigma_S_cm"
    ]
    assert (row["coverage_inside"], row["coverage_n"]) == (cov["inside"], cov["n"])
    assert row["coverage_built_n"] == cov["built_n"]
    html = (tmp_path / "p" / "report.html").read_text()
    assert "held out in its interval" in html
    assert f"{cov['inside']}/{cov['n']} ({cov['inside'] / cov['n']:.2f};" in html
    assert f"built models {cov['built_inside']}/{cov['built_n']}" in html


def test_annealed_state_quenched_models_the_partially_occupied_annealed_rows():
    """--annealed-state quenched: every annealed row of a partially occupied CIF and every
    annealed design row gets ';quenched'; ordered CIFs, spinels, merged split sites and
    ball-milled rows stay as they are. The quenched Li3YCl6 model is on the wide cell,
    keeps the measured cell's volume per atom, fills both split Y orbits over its three
    orderings, and states the occupancies it gives; its KMC runs take the milled events
    per Li, and the default campaign's keys do not change."""
    from halidelab.validation.reference import quenched_rows, resolve_structure_file
    from halidelab.validation.structures import (
        MILLED_MIN_WIDTH_A,
        _widths,
        build_reference_model,
        parse_construction,
    )
    from halidelab.validation.tiers import MaterialContext, kmc_task, model_task

    ref = load_reference_set()
    q = {e.id: e for e in quenched_rows(ref.entries)}
    for e in ref.entries:
        spec = parse_construction(e.construction)
        ordered = (
            spec["kind"] == "cif"
            and read_structure(resolve_structure_file(e.structure_file)).is_ordered
        )
        want = spec["state"] == "annealed" and spec["kind"] in ("cif", "design") and not ordered
        assert q[e.id].construction == (e.construction + ";quenched" if want else e.construction)
        assert dataclasses.replace(q[e.id], construction=e.construction) == e
    assert q["li3ycl6-ampoule-schlem2020"].construction == "cif;quenched"
    assert q["lialcl4-jes"].construction == "cif"  # an ordered CIF: nothing to sample
    assert q["li3ycl6-bm-schlem2020"].construction == "cif;ball-milled"
    assert q["li3ercl6-ampoule-schlem2020"].construction.endswith("|P-3m1;quenched")

    e = q["li3ycl6-ampoule-schlem2020"]
    path = resolve_structure_file(e.structure_file)
    model = build_reference_model(e.composition, e.construction, path, orderings=3)
    cif = read_structure(path)
    assert "quenched" in model.description and "Y3" in model.description
    assert model.n_orderings() == 3
    y3 = 0
    for k in range(3):
        s = Structure.from_dict(model.ordering(k))
        assert _widths(s).min() >= MILLED_MIN_WIDTH_A
        assert s.volume / len(s) == pytest.approx(cif.volume / cif.composition.num_atoms, rel=1e-6)
        y = [x.frac_coords for x in s if x.specie.symbol == "Y"]
        # Y3 (z 0.981 of the CIF cell: 0.49 or 0.99 of the 2x2x2 cell) is filled somewhere
        y3 += sum(
            1 for f in y if min(abs((f[2] * 2) % 1 - 0.981), abs((f[2] * 2) % 1 - 0.981 + 1)) < 0.01
        )
    assert y3 > 0

    settings = ValidateSettings()
    ctx = MaterialContext(
        entry=e,
        model="chgnet",
        settings=settings,
        tiers=("model", "relax", "kmc"),
        results={"relax": {"structure": {"placeholder": True}}},
    )
    assert kmc_task(ctx).inputs["hops_per_carrier"] == settings.milled_kmc_hops
    assert "milled_min_width_A" in model_task(ctx).inputs
    plain = MaterialContext(
        entry=ref.entry("li3ycl6-ampoule-schlem2020"),
        model=None,
        settings=settings,
        tiers=("model",),
    )
    assert model_task(plain).inputs["construction"] == "cif"
    assert "milled_min_width_A" not in model_task(plain).inputs
    # its calibrations say how their values were made: never applied to Ewald-ordered ones
    from halidelab.validation.tiers import method_of

    bvse = {"resolution_A": 0.25}
    quenched = dataclasses.replace(settings, annealed_state="quenched")
    assert method_of("bvse", bvse, dataclasses.replace(ctx, settings=quenched)) == {
        "bvse_resolution_A": 0.25,
        "annealed_state": "quenched",
    }
    assert method_of("bvse", bvse, plain) == {"bvse_resolution_A": 0.25}


def test_an_unknown_annealed_state_or_kmc_prefactor_is_refused_with_one_line(tmp_path, capsys):
    code = main(
        ["validate", "--tiers", "prior", "--annealed-state", "slow", "-o", str(tmp_path / "v")]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "--annealed-state must be one of annealed, quenched" in err and "Traceback" not in err
    code = main(
        ["validate", "--tiers", "prior", "--kmc-prefactors", "vib", "-o", str(tmp_path / "v")]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "--kmc-prefactors must be one of fixed, harmonic" in err and "Traceback" not in err


def test_quenched_rows_pair_as_the_annealed_ones():
    """A quenched model stands for the annealed sample as the Ewald-ordered one does: the
    set's substitution and synthesis pairs are the same with --annealed-state quenched,
    and a synthesis pair names the model it compares ('ball-milled vs quenched model')."""
    from halidelab.validation.reference import quenched_rows

    ref = load_reference_set()
    q = dataclasses.replace(ref, entries=tuple(quenched_rows(ref.entries)))

    def ids(pairs):
        return {(p["parent_id"], p["child_id"], p["kind"]) for p in pairs}

    plain, quenched = substitution_pairs(ref, []), substitution_pairs(q, [])
    assert ids(plain) == ids(quenched)
    syn = {p["parent"]: p for p in quenched if p["kind"] == "synthesis"}
    assert set(syn) == {"Li3YCl6", "Li3ErCl6", "Li2ZrCl6"}
    assert syn["Li3YCl6"]["substitution"] == "ball-milled vs quenched model"
    assert syn["Li2ZrCl6"]["substitution"] == "ball-milled vs quenched model (C2/m)"
    assert all(
        (p["parent_state"], p["child_state"]) == ("annealed", "ball-milled") for p in syn.values()
    )


def test_harmonic_kmc_prefactors_reach_the_bvse_kmc_task_and_the_calibrations_method():
    """``kmc_prefactors="harmonic"`` puts the Vineyard prefactors in the BVSE KMC task (its
    own key) and in the method a calibration records, so that it is applied to values made
    alike; the fixed default changes neither."""
    from halidelab.validation.tiers import MaterialContext, ValidateSettings, kmc_task, method_of

    entry = load_reference_set().entry("li2mgcl4-ssi1983")
    res = {"relax": {"structure": _spinel_model()}}
    tasks = {}
    for how in ("fixed", "harmonic"):
        ctx = MaterialContext(
            entry=entry,
            model="chgnet",
            settings=dataclasses.replace(SETTINGS, kmc_prefactors=how),
            tiers=("model", "relax", "kmc"),
            results=res,
        )
        tasks[how] = kmc_task(ctx)
    assert "prefactors" not in tasks["fixed"].inputs
    assert tasks["harmonic"].inputs["prefactors"] == "harmonic"
    assert tasks["harmonic"].key != tasks["fixed"].key
    made = _kmc_result(16, 16, made_by_cell=False)
    made["network"]["source"] = "bvse"
    made["network"]["provenance"] = {"parameters": {"saddle": "path"}}
    assert "kmc_prefactors" not in method_of("kmc", made)
    made["network"]["provenance"]["parameters"]["prefactors"] = "harmonic"
    assert method_of("kmc", made)["kmc_prefactors"] == "harmonic"
    assert ValidateSettings().kmc_prefactors == "fixed"


def test_a_campaign_with_harmonic_kmc_prefactors_says_so_in_its_rows_and_report(
    tmp_path, monkeypatch
):
    """A KMC campaign with ``kmc_prefactors="harmonic"``: its KMC rows carry the method, its
    networks the prefactors, and the report's settings name them."""
    monkeypatch.setitem(TASK_FUNCTIONS, "relax", toy_relax)
    settings = dataclasses.replace(
        SETTINGS,
        kmc_prefactors="harmonic",
        kmc_runs=2,
        kmc_hops=20.0,
        kmc_temperatures_K=(298.15, 373.15),
    )
    out = validate(
        tiers=["relax", "kmc"],
        models=["chgnet"],
        out=tmp_path / "v",
        settings=settings,
        materials=SUBSET[:1],
        progress=False,
    )
    assert not out.failed
    (row,) = [r for r in out.rows if r["tier"] == "kmc"]
    assert row["method"]["kmc_prefactors"] == "harmonic"
    html = (tmp_path / "v" / "report.html").read_text()
    assert "harmonic (Vineyard) prefactor" in html
    store = Store(tmp_path / "v" / "results.sqlite")
    nets = [r["result"]["network"] for r in store.rows(kind="kmc", status="done")]
    assert nets and all(len(n["edge_ln_nu"]) == len(n["edge_a"]) for n in nets)
