"""The shipped reference set: DOIs, units and ranges, structures, provenance, refusals."""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from pymatgen.core import Composition

from halidelab.errors import DataFormatError
from halidelab.literature import composition_distance
from halidelab.prior.data import composition_key
from halidelab.structures.prototypes import read_structure
from halidelab.validation.reference import (
    COLUMNS,
    load_reference_set,
    reference_path,
    resolve_structure_file,
)
from halidelab.validation.structures import (
    MILLED_MAX_ATOMS,
    build_reference_model,
    merge_split_li,
    parse_construction,
)

DOI = re.compile(r"^10\.\d{4,9}/[^\s]+$")


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    """The table as text, read independently of the loader."""
    return pd.read_csv(reference_path(), dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def ref():
    return load_reference_set()


def test_every_row_has_a_well_formed_doi_and_a_source(raw):
    for _, r in raw.iterrows():
        assert DOI.match(r["doi"]), r["id"]
        assert r["source"].strip() and r["reference"].strip(), r["id"]


def test_units_and_ranges(raw):
    sigma = raw["sigma_S_cm"].astype(float)
    assert ((sigma >= 1e-12) & (sigma <= 1e-1)).all()  # S/cm, not mS/cm
    ea = pd.to_numeric(raw["ea_eV"].replace("", float("nan")))
    assert ea.dropna().between(0.1, 1.2).all()  # eV, not kJ/mol
    t = raw["temperature_K"].astype(float)
    assert t.between(290.0, 310.0).all()  # room temperature, in K
    assert set(raw["sigma_kind"]) <= {"total", "bulk", "not stated"}


def test_no_duplicates_and_one_primary_per_material(ref, raw):
    assert raw["id"].is_unique
    keys = [
        (composition_key(e.composition), e.doi.lower(), e.synthesis, round(e.log10_sigma_S_cm, 3))
        for e in ref.entries
    ]
    assert len(set(keys)) == len(keys)
    for rows in ref.by_material().values():
        assert sum(e.primary for e in rows) == 1
        assert rows[0].primary


def test_coverage_good_and_poor_over_orders_of_magnitude(ref):
    prim = [e for e in ref.primary() if not e.censored]
    assert len(ref.primary()) >= 15
    logs = [e.log10_sigma_S_cm for e in prim]
    assert max(logs) - min(logs) >= 4.0
    assert any(v >= -4 for v in logs) and any(v < -5 for v in logs)
    families = {e.structure_type.split(" (")[0] for e in ref.primary()}
    assert len(families) >= 6


def test_obelix_rows_match_the_obelix_table(ref, shared_data):
    """Every row read from OBELiX has OBELiX's conductivity and DOI for that entry."""
    obx = pd.read_csv(
        shared_data / "obelix" / "all.csv", dtype=str, keep_default_na=False
    ).set_index("ID")
    checked = 0
    for e in ref.entries:
        m = re.search(r"OBELiX all\.csv ID (\w+)", e.source)
        if not m:
            continue
        row = obx.loc[m.group(1)]
        text = row["Ionic conductivity (S cm-1)"].strip()
        assert e.censored == text.startswith("<"), e.id
        assert math.isclose(e.sigma_S_cm, float(text.lstrip("<")), rel_tol=1e-9), e.id
        assert e.doi.lower() in row["DOI"].lower(), e.id
        assert composition_key(e.composition) == composition_key(row["Reduced Composition"]), e.id
        checked += 1
    assert checked >= 12


def test_every_structure_file_loads_and_matches_its_row(ref):
    """CIF rows: the file's own composition is the row's; design rows: the framework loads."""
    for e in ref.entries:
        s = read_structure(resolve_structure_file(e.structure_file))
        spec = parse_construction(e.construction)
        if spec["kind"] == "design":
            assert "Li" in {el.symbol for el in s.composition.elements}
            continue
        comp = Composition({el: round(n) for el, n in s.composition.element_composition.items()})
        assert composition_distance(comp, e.composition) < 0.01, (e.id, comp)


def test_models_are_ordered_and_have_the_row_composition(ref):
    for e in ref.primary():
        m = build_reference_model(
            e.composition, e.construction, resolve_structure_file(e.structure_file), max_atoms=160
        )
        s = m.to_structure()
        assert s.is_ordered
        assert composition_distance(s.composition, e.composition) <= 0.02, e.id
        milled = parse_construction(e.construction)["state"] == "ball-milled"
        assert len(s) <= (MILLED_MAX_ATOMS if milled else 160), e.id


def test_split_li_positions_merge_to_one_li_per_group():
    """Li6NBr3: 96 quarter-occupied Li positions become 24 Li at the group centres, each the
    centroid of a square of four positions around an N-centred octahedron vertex."""
    src = read_structure(resolve_structure_file("structures/Li6Br3N_Fm-3m_obelix-kkn.cif"))
    merged = merge_split_li(src)
    assert merged.composition.reduced_formula == Composition("Li6NBr3").reduced_formula
    assert merged.composition["Li"] == pytest.approx(src.composition["Li"])
    n_sites = [i for i, site in enumerate(merged) if site.specie.symbol == "N"]
    li = [site for site in merged if site.specie.symbol == "Li"]
    # each Li sits on an N-Li axis: its nearest N is at the same distance for all
    d = sorted(min(merged.get_distance(merged.index(site), j) for j in n_sites) for site in li)
    assert d[-1] - d[0] < 1e-6


def _write(tmp_path, raw: pd.DataFrame, name: str = "ref.csv"):
    path = tmp_path / name
    raw.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    "column,value,words",
    [
        ("doi", "doi:10.1002/abc", "not a DOI"),
        ("sigma_S_cm", "1.5", "S/cm"),  # mS/cm by mistake
        ("temperature_K", "25", "room temperature"),  # C by mistake
        ("ea_eV", "35", "eV"),  # kJ/mol by mistake
        ("construction", "magic", "construction"),
        ("construction", "cif-spinel;ball-milled", "a state can follow only"),
        ("construction", "cif;annealed", "unknown state"),  # annealed is the default
        ("structure_file", "structures/nope.cif", "not found"),
    ],
)
@pytest.mark.parametrize("where", ["early", "last"])
def test_bad_cells_are_refused_with_row_and_column(tmp_path, raw, column, value, words, where):
    """An early row and the last row (the most recently added) are both checked."""
    index = 2 if where == "early" else len(raw) - 1
    bad = raw.copy()
    bad.loc[index, column] = value
    with pytest.raises(DataFormatError) as exc:
        load_reference_set(_write(tmp_path, bad))
    msg = str(exc.value)
    assert f"row {index + 2}" in msg and column in msg and words in msg and "\n" not in msg


def test_duplicates_and_primaries_are_refused(tmp_path, raw):
    dup = pd.concat([raw, raw.iloc[[0]]], ignore_index=True)
    with pytest.raises(DataFormatError, match="repeats row 2"):
        load_reference_set(_write(tmp_path, dup))
    two = raw.copy()
    # a second row of the first material (same composition and construction) made primary
    same = (
        (raw.composition == raw.loc[0, "composition"])
        & (raw.construction == raw.loc[0, "construction"])
        & (raw.primary == "False")
    )
    two.loc[raw.index[same][0], "primary"] = "True"
    with pytest.raises(DataFormatError, match="2 primary rows"):
        load_reference_set(_write(tmp_path, two))
    with pytest.raises(DataFormatError, match="missing column"):
        load_reference_set(_write(tmp_path, raw.drop(columns=["doi"])))
    with pytest.raises(DataFormatError, match="is a folder"):
        load_reference_set(tmp_path)


def test_checksum_follows_the_content(tmp_path, raw, ref):
    same = load_reference_set(_write(tmp_path, raw))
    assert list(COLUMNS) == list(raw.columns)
    changed = raw.copy()
    changed.loc[0, "sigma_S_cm"] = "3.5e-5"
    other = load_reference_set(_write(tmp_path, changed, "changed.csv"))
    assert same.sha256 != other.sha256
    # the shipped table's checksum also covers its structure files
    copy = tmp_path / "copy.csv"
    shutil.copy(reference_path(), copy)
    assert load_reference_set(copy).sha256 == ref.sha256


def test_a_users_structure_file_is_found_from_any_folder(tmp_path, raw, monkeypatch):
    """A table naming its own CIF relative to itself: the entry holds the absolute path,
    so the tasks (run from another folder, or on a Dask worker) read the same file; the
    material key and the checksum follow the file's content, not the working folder."""
    own = tmp_path / "mine" / "cifs"
    own.mkdir(parents=True)
    i = int(raw.index[raw.id == "lialcl4-jes"][0])  # a material of one row
    shutil.copy(resolve_structure_file(raw.loc[i, "structure_file"]), own / "copy.cif")
    table = raw.copy()
    table.loc[i, "structure_file"] = "cifs/copy.cif"
    path = _write(tmp_path / "mine", table)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    ref = load_reference_set(path)
    e = ref.entry(raw.loc[i, "id"])
    assert Path(e.structure_file).is_absolute()
    assert resolve_structure_file(e.structure_file) == (own / "copy.cif").resolve()
    # shipped files keep their short name (their task keys are unchanged)
    j = next(k for k in raw.index if k != i)
    assert ref.entry(raw.loc[j, "id"]).structure_file == raw.loc[j, "structure_file"]


@pytest.mark.parametrize("absolute", [False, True])
@pytest.mark.parametrize(
    "make,words",
    [
        (lambda d: (d / "adir.cif").mkdir(), "is a directory"),
        (lambda d: (d / "adir.cif").write_text("this is not a CIF\n"), "cannot read structure"),
    ],
)
def test_a_users_structure_file_that_cannot_be_read_is_refused(
    tmp_path, raw, make, words, absolute
):
    make(tmp_path)
    bad = raw.copy()
    bad.loc[0, "structure_file"] = str(tmp_path / "adir.cif") if absolute else "adir.cif"
    with pytest.raises(DataFormatError) as exc:
        load_reference_set(_write(tmp_path, bad))
    msg = str(exc.value)
    assert "row 2" in msg and "structure_file" in msg and words in msg and "\n" not in msg
