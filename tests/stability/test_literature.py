"""The literature table: seeded from the real OBELiX files, validated user extensions."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from halidelab.errors import DataFormatError
from halidelab.literature import (
    COLUMNS,
    literature_path,
    load_literature,
    query,
    rank_among,
    read_user_table,
    seed_rows,
)


def test_shipped_table_is_the_seed_of_the_shipped_obelix():
    shipped = pd.read_csv(literature_path(), dtype=str, keep_default_na=False)
    regen = seed_rows().astype(str)
    assert list(shipped.columns) == list(COLUMNS)
    assert shipped["composition"].tolist() == regen["composition"].tolist()
    assert shipped["sigma_S_cm"].tolist() == regen["sigma_S_cm"].tolist()


def test_every_obelix_halide_is_in_with_its_measured_sigma(shared_data):
    from halidelab.prior.data import chemical_family, parse_conductivity

    raw = pd.read_csv(shared_data / "obelix" / "all.csv", dtype=str, keep_default_na=False)
    lit = load_literature()
    by_id = {
        s.split()[-1]: r
        for s, (_, r) in zip(lit["source"], lit.iterrows(), strict=True)
        if s.startswith("OBELiX")
    }
    halides = raw[[chemical_family(c) == "halide" for c in raw["True Composition"]]]
    assert len(halides) > 10
    for _, r in halides.iterrows():
        assert r["ID"] in by_id, r["ID"]
        log_s, cens = parse_conductivity(r["Ionic conductivity (S cm-1)"])
        assert math.log10(by_id[r["ID"]]["sigma_S_cm"]) == pytest.approx(log_s, abs=1e-3)
        assert bool(by_id[r["ID"]]["censored"]) == cens
        assert by_id[r["ID"]]["doi"] == r["DOI"].strip()


def test_reference_case_rows():
    lit = load_literature()
    lznc = lit[lit["composition"] == "Li1.8Zr0.8Nb0.2Cl6"].iloc[0]
    lzc = lit[lit["composition"] == "Li2ZrCl6"].iloc[0]
    assert lznc["ea_eV"] == pytest.approx(0.327)
    assert lznc["sigma_S_cm"] > lzc["sigma_S_cm"]  # Nb doping raises sigma (MISSION.md)
    assert lznc["space_group"] == "P-3m1"


def test_query_filters_and_sorts():
    lit = load_literature()
    hal = query(lit, family="halide", sort="sigma")
    assert (hal["family"] == "halide").all()
    assert hal["sigma_S_cm"].is_monotonic_decreasing
    up = query(lit, family="halide", sort="sigma", ascending=True, limit=3)
    assert len(up) == 3 and up["sigma_S_cm"].is_monotonic_increasing
    ylist = query(lit, element="Y")
    assert len(ylist) > 0 and all("Y" in c for c in ylist["composition"])
    with pytest.raises(DataFormatError, match="cannot sort by"):
        query(lit, sort="colour")
    with pytest.raises(DataFormatError, match="unknown family"):
        query(lit, family="metal")


def test_user_table_extends_and_is_validated(tmp_path):
    good = tmp_path / "mine.csv"
    good.write_text(
        "composition,sigma_S_cm,temperature_C,ea_eV,notes\n"
        "Li1.7Zr0.7Nb0.3Cl6,8.1e-4,30,0.35,our EIS fit\nLi2ZrCl6,4.2e-4,,,\n"
    )
    t = read_user_table(good)
    assert t["temperature_C"].tolist() == [30.0, 25.0]
    assert t["source"].tolist() == ["user: mine.csv"] * 2
    both = load_literature([good])
    assert len(both) == len(load_literature()) + 2

    def bad(text: str, match: str):
        p = tmp_path / "bad.csv"
        p.write_text(text)
        with pytest.raises(DataFormatError, match=match):
            read_user_table(p)

    bad("composition,temperature_C\nLiCl,25\n", "lacks column.*sigma_S_cm")
    bad("composition,sigma_S_cm,colour\nLiCl,1e-3,red\n", "unknown column.*colour")
    bad("composition,sigma_S_cm\nLiCl,1e-3\nLiCl,fast\n", r"row 3, column sigma_S_cm")
    bad("composition,sigma_S_cm\nLiQq,1e-3\n", r"row 2, column composition")
    bad("composition,sigma_S_cm,temperature_C\nLiCl,1e-3,hot\n", "temperature_C")
    bad("composition,sigma_S_cm,ea_eV\nLiCl,1e-3,-0.2\n", "ea_eV")
    with pytest.raises(DataFormatError, match="not found"):
        read_user_table(tmp_path / "missing.csv")


def test_rank_among_known_halides():
    lit = load_literature()
    hal = lit[(lit["family"] == "halide") & ~lit["censored"]]
    r = rank_among(1.03e-3, lit)
    assert r["n"] == len(hal)
    assert r["n_higher"] == int((hal["sigma_S_cm"] > 1.03e-3).sum())
    assert rank_among(1e-2, lit)["percentile"] == 100.0
    assert (
        rank_among(1e-2, lit)["percentile"]
        >= r["percentile"]
        >= rank_among(1e-12, lit)["percentile"]
    )
    with pytest.raises(DataFormatError):
        rank_among(-1.0, lit)
