"""Loading OBELiX for the prior: censoring, families, deduplication, leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from halidelab.errors import CompositionError, DataFormatError
from halidelab.prior.data import (
    check_query_formula,
    chemical_family,
    composition_key,
    data_dir,
    deduplicate,
    leaked_keys,
    load_obelix,
    parse_conductivity,
    prepare_dataset,
    read_obelix_csv,
)


@pytest.fixture(scope="module")
def dataset():
    return prepare_dataset()


def test_parse_conductivity_numbers_and_limits():
    assert parse_conductivity("1e-3") == (pytest.approx(-3.0), False)
    assert parse_conductivity("0.00204") == (pytest.approx(np.log10(0.00204)), False)
    assert parse_conductivity("<1E-10") == (pytest.approx(-10.0), True)
    assert parse_conductivity(" <1E-8 ") == (pytest.approx(-8.0), True)
    for bad in ("", "n/a", "0", "-1e-3", "<"):
        with pytest.raises(DataFormatError):
            parse_conductivity(bad)


def test_shipped_tables_are_the_official_split_of_the_full_set(shared_data):
    """train.csv and test.csv shipped in the package partition OBELiX's all.csv (a real
    copy in tests/data): disjoint IDs, the same rows, nothing edited."""
    full = pd.read_csv(shared_data / "obelix" / "all.csv", dtype=str).set_index("ID").sort_index()
    parts = [pd.read_csv(data_dir() / f"{s}.csv", dtype=str) for s in ("train", "test")]
    assert not set(parts[0]["ID"]) & set(parts[1]["ID"])
    joined = pd.concat(parts).set_index("ID").sort_index()
    assert list(joined.index) == list(full.index)
    assert joined[full.columns].fillna("").equals(full.fillna(""))
    assert (data_dir() / "LICENSE.txt").is_file()


def test_every_row_is_read_and_censored_values_are_kept():
    for split in ("train", "test"):
        raw = pd.read_csv(data_dir() / f"{split}.csv", dtype=str)
        table = load_obelix(split)
        assert len(table) == len(raw)  # nothing dropped
        n_limits = raw["Ionic conductivity (S cm-1)"].str.strip().str.startswith("<").sum()
        assert table["censored"].sum() == n_limits > 0
        # censored rows hold the limit itself, not an invented lower number
        limits = raw.loc[
            raw["Ionic conductivity (S cm-1)"].str.startswith("<"), "Ionic conductivity (S cm-1)"
        ]
        expected = sorted(np.log10(float(v[1:])) for v in limits)
        assert sorted(table.loc[table["censored"], "log10_sigma_S_cm"]) == pytest.approx(expected)


def test_families():
    assert chemical_family("Li3YCl6") == "halide"
    assert chemical_family("Li3InCl5.5O0.25") == "halide"
    assert chemical_family("Li6PS5Cl") == "sulfide"
    assert chemical_family("Li3OCl") == "oxide"
    assert chemical_family("Li7La3Zr2O12") == "oxide"
    assert chemical_family("LiBH4") == "hydride"
    assert chemical_family("Li2OHBr") == "oxide"  # hydroxide H is not a hydride
    assert chemical_family("Li3N") == "nitride"


def test_families_agree_with_obelix_halide_labels():
    table = load_obelix("all")
    labelled = table["obelix_family"].str.lower().str.contains("halide|chloride|cholorides")
    assert labelled.sum() >= 10
    assert (table.loc[labelled, "family"] == "halide").all()


def test_composition_key_normalises_formulas():
    assert composition_key("Li3YCl6") == composition_key("Li6Y2Cl12") == composition_key("YLi3Cl6")
    assert composition_key("Li3YCl6") != composition_key("Li3YBr6")


def test_deduplicate_merges_by_median_and_reports():
    table = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d"],
            "key": ["k1", "k1", "k1", "k2"],
            "split": ["train"] * 4,
            "log10_sigma_S_cm": [-3.0, -4.0, -10.0, -5.0],
            "censored": [False, False, True, False],
        }
    )
    merged, report = deduplicate(table)
    assert len(merged) == 2
    row = merged[merged["key"] == "k1"].iloc[0]
    assert row["log10_sigma_S_cm"] == pytest.approx(-3.5)  # median of the uncensored
    assert not row["censored"] and row["n_merged"] == 3
    assert len(report) == 1 and set(report[0].ids) == {"a", "b", "c"}
    assert report[0].spread_log10 == pytest.approx(1.0)


def test_prepared_dataset_is_deduplicated_and_leak_free(dataset):
    raw = load_obelix("all")
    for table in (dataset.train, dataset.test):
        assert table["key"].is_unique
    # the official test split is kept whole (after dedup) ...
    assert set(dataset.test["key"]) == set(raw.loc[raw["split"] == "test", "key"])
    # ... and no test composition, after normalising formulas, is in the training data
    assert leaked_keys(dataset.train, dataset.test) == set()
    raw_overlap = set(raw.loc[raw["split"] == "train", "key"]) & set(
        raw.loc[raw["split"] == "test", "key"]
    )
    assert set(dataset.removed_from_train) == raw_overlap
    train_keys = set(raw.loc[raw["split"] == "train", "key"])
    assert len(dataset.train) == len(train_keys - raw_overlap)
    n_raw_test = (raw["split"] == "test").sum()
    merged_test = sum(
        len(m.ids) - 1
        for m in dataset.merged
        if m.ids[0] in set(raw.loc[raw["split"] == "test", "id"])
    )
    assert len(dataset.test) == n_raw_test - merged_test


def test_bad_tables_and_queries(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("ID,formula\n1,Li3YCl6\n")
    with pytest.raises(DataFormatError, match="lacks the OBELiX column"):
        read_obelix_csv(bad, "train")
    with pytest.raises(CompositionError, match="no Li"):
        check_query_formula("NaCl")
    with pytest.raises(CompositionError):
        check_query_formula("Li3Xx2Cl6")
    with pytest.raises(CompositionError):
        check_query_formula("")
