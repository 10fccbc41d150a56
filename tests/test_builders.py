"""Frameworks from space group + Wyckoff positions reproduce known structures."""

from __future__ import annotations

import json

import pytest
from pymatgen.analysis.structure_matcher import StructureMatcher

from halidelab.cli import main
from halidelab.errors import StructureError
from halidelab.structures.builders import from_wyckoff
from halidelab.structures.prototypes import read_structure

# the asymmetric unit of the shipped Li3YCl6 CIF (OBELiX ei3), P-3m1
LI3YCL6 = {
    "space_group": "P-3m1",
    "lattice": {"a": 11.209337, "c": 6.046941},
    "sites": [
        {"species": "Li", "coords": [0, 0.32562724, 0.5], "occupancy": 0.87538},
        {"species": "Li", "coords": [0, 0.32611712, 0], "occupancy": 0.62462},
        {"species": "Y", "coords": [1 / 3, 2 / 3, 0.4869661], "occupancy": 0.56592},
        {"species": "Y", "coords": [1 / 3, 2 / 3, 0.98118561], "occupancy": 0.43408},
        {"species": "Y", "coords": [0, 0, 0]},
        {"species": "Cl", "coords": [0.10836711, 0.21673423, 0.77651019]},
        {"species": "Cl", "coords": [0.12545527, 0.56272764, 0.75056223]},
        {"species": "Cl", "coords": [0.21024526, 0.42049052, 0.27835218]},
    ],
}


def test_wyckoff_expansion_reproduces_the_shipped_cif(shared_data):
    built = from_wyckoff(**LI3YCL6)
    cif = read_structure(shared_data / "structures" / "Li3YCl6_P-3m1_obelix-ei3.cif")
    assert len(built) == len(cif) == 6 + 6 + 2 + 2 + 1 + 18
    assert built.composition.almost_equals(cif.composition)
    assert StructureMatcher(primitive_cell=False, scale=False).fit(built, cif)


def test_rock_salt_and_multiplicities():
    s = from_wyckoff(
        "Fm-3m",
        {"a": 5.13},
        [{"species": "Li", "coords": [0, 0, 0]}, {"species": "Cl", "coords": [0.5, 0.5, 0.5]}],
    )
    assert s.composition.get_el_amt_dict() == {"Li": 4, "Cl": 4}
    d = s.distance_matrix + 100 * __import__("numpy").eye(len(s))
    assert d.min() == pytest.approx(5.13 / 2)


def test_models_on_a_json_framework(tmp_path, capsys):
    table = tmp_path / "li3ycl6.json"
    table.write_text(json.dumps(LI3YCL6))
    rc = main(
        [
            "structure",
            "Li2ZrCl6",
            "--dopant",
            "Nb",
            "--x",
            "0.2",
            "--framework",
            str(table),
            "--configs",
            "1",
            "--no-xrd",
            "-o",
            str(tmp_path / "out"),
            "--json",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    (entry,) = json.loads(capsys.readouterr().out)["models"].values()
    assert entry["species_counts"] == {"Li": 27, "Zr": 12, "Nb": 3, "Cl": 90}


@pytest.mark.parametrize(
    "spec, match",
    [
        (
            {
                "space_group": "P9",
                "lattice": {"a": 5},
                "sites": [{"species": "Li", "coords": [0, 0, 0]}],
            },
            "unknown space group",
        ),
        (
            {
                "space_group": "Pnma",
                "lattice": {"a": 5},
                "sites": [{"species": "Li", "coords": [0, 0, 0]}],
            },
            "needs 'b'",
        ),
        ({"space_group": "Fm-3m", "lattice": {"a": 5}, "sites": []}, "no sites"),
        (
            {
                "space_group": "Fm-3m",
                "lattice": {"a": 5},
                "sites": [{"species": "Li", "coords": [0, 0]}],
            },
            "three",
        ),
        (
            {
                "space_group": "Fm-3m",
                "lattice": {"a": -5},
                "sites": [{"species": "Li", "coords": [0, 0, 0]}],
            },
            "positive",
        ),
    ],
)
def test_bad_tables(spec, match):
    with pytest.raises(StructureError, match=match):
        from_wyckoff(**spec)


def test_bad_json_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(StructureError, match="not valid JSON"):
        read_structure(bad)
    bad.write_text(json.dumps({"space_group": "P1"}))
    with pytest.raises(StructureError, match="needs"):
        read_structure(bad)
