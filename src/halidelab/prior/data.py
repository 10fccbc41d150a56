"""The measured data behind the conductivity prior: OBELiX, read honestly.

OBELiX (Therrien et al. 2025, arXiv:2502.14234; CC BY 4.0) lists 599 Li solid
electrolytes with a measured room-temperature ionic conductivity and an official
train/test split. The tables ship inside the package (``halidelab/data/obelix``).

What this module does to them, and says so:

- compositions are read from ``True Composition`` (plain element-number formulas with
  partial occupancies, e.g. ``Li7.8Al1.8Ti10.2P18.0O72.0``), not from the hand-written
  ``Reduced Composition`` (which holds brackets, hydrate dots and a ``*``);
- conductivities written as an upper limit (``<1E-10``, ``<1E-8``) are kept as
  *censored*: ``log10_sigma_S_cm`` is the limit and ``censored`` is True. The OBELiX
  authors' own benchmark replaced them by 1e-15 S/cm (their
  ``data/scripts/preprocessing.py``, ``replace_text_IC``); halidelab does not invent a
  value below the limit;
- each entry gets a chemical family from its anions (:func:`chemical_family`), and a
  normalised composition key (:func:`composition_key`: fractional composition rounded
  to 1e-4) used to deduplicate within a split and to check leakage between splits.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.resources
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pymatgen.core import Composition

from halidelab.errors import CompositionError, DataFormatError
from halidelab.records import Record

#: Halogens (halide anions).
HALOGENS = ("F", "Cl", "Br", "I")
#: Chalcogens heavier than O (sulfide-type anions).
CHALCOGENS = ("S", "Se", "Te")
#: Valence used to weigh anions when naming the family (charge share).
_ANION_Q = {"F": 1, "Cl": 1, "Br": 1, "I": 1, "O": 2, "S": 2, "Se": 2, "Te": 2, "N": 3, "H": 1}
#: Families, in the order used for features.
FAMILIES = ("halide", "sulfide", "oxide", "nitride", "hydride", "other")

_CSV_COLUMNS = ("ID", "True Composition", "Ionic conductivity (S cm-1)", "Family", "DOI")
_KEY_DECIMALS = 4


def data_dir() -> Path:
    """Folder of the shipped OBELiX tables (inside the installed package)."""
    return Path(str(importlib.resources.files("halidelab") / "data" / "obelix"))


def file_sha256(path: Path) -> str:
    """SHA-256 hex digest of a file (data version in the model provenance)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --------------------------------------------------------------------------- parsing


def parse_conductivity(value: object) -> tuple[float, bool]:
    """Parse one OBELiX conductivity cell into ``(log10 sigma [S/cm], censored)``.

    ``"1.2e-3"`` -> ``(-2.92, False)``; ``"<1E-10"`` -> ``(-10.0, True)`` (an upper limit,
    kept as such). Raises :class:`DataFormatError` for anything else (empty, zero,
    negative, text).
    """
    text = str(value).strip()
    censored = False
    if text.startswith("<"):
        censored = True
        text = text[1:].strip()
    try:
        sigma = float(text)
    except ValueError:
        raise DataFormatError(
            f"cannot read conductivity {value!r}: expected a number in S/cm or an upper limit like "
            "'<1E-10'"
        ) from None
    if not math.isfinite(sigma) or sigma <= 0:
        raise DataFormatError(f"conductivity {value!r} is not a positive number of S/cm")
    return math.log10(sigma), censored


def to_composition(formula: str | Composition | Mapping[str, float]) -> Composition:
    """A pymatgen Composition from a formula, a Composition or an ``{element: amount}`` map.

    Raises
    ------
    CompositionError
        Unreadable formula, unknown element, no positive amount.
    """
    if isinstance(formula, Composition):
        comp = formula
    else:
        try:
            comp = (
                Composition(dict(formula))
                if isinstance(formula, Mapping)
                else Composition(str(formula).strip())
            )
        except Exception as exc:  # pymatgen raises ValueError/KeyError/... on bad formulas
            raise CompositionError(
                f"cannot read formula {formula!r}: {exc}; write e.g. 'Li1.8Zr0.8Nb0.2Cl6'"
            ) from None
    if comp.num_atoms <= 0 or any(n < 0 for n in comp.values()):
        raise CompositionError(f"formula {formula!r} has no atoms or a negative amount")
    if any(getattr(el, "Z", 0) > 103 for el in comp.elements):
        raise CompositionError(f"formula {formula!r} has an element beyond Lr")
    return comp


def composition_key(formula: str | Composition | Mapping[str, float]) -> str:
    """Normalised composition: elements sorted, fractional amounts rounded to 1e-4.

    ``Li3YCl6``, ``Li6Y2Cl12`` and ``Y1Li3Cl6`` all give ``"Cl0.6 Li0.3 Y0.1"``.
    """
    comp = to_composition(formula).fractional_composition
    parts = sorted((el.symbol, round(float(n), _KEY_DECIMALS)) for el, n in comp.items())
    return " ".join(f"{el}{n:g}" for el, n in parts if n > 0)


def chemical_family(formula: str | Composition | Mapping[str, float]) -> str:
    """Chemical family from the anion with the largest share of negative charge.

    ``halide`` (F, Cl, Br, I), ``sulfide`` (S, Se, Te), ``oxide``, ``nitride``,
    ``hydride`` (H counted as an anion only when there is no O, e.g. LiBH4, not LiOH),
    else ``other``. Li6PS5Cl is a sulfide, Li3OCl an oxide, Li3InCl5.5O0.25 a halide.
    """
    comp = to_composition(formula)
    amounts = {el.symbol: float(n) for el, n in comp.items()}
    share = {"halide": 0.0, "sulfide": 0.0, "oxide": 0.0, "nitride": 0.0, "hydride": 0.0}
    for el, n in amounts.items():
        if el in HALOGENS:
            share["halide"] += n * _ANION_Q[el]
        elif el in CHALCOGENS:
            share["sulfide"] += n * _ANION_Q[el]
        elif el == "O":
            share["oxide"] += n * 2
        elif el == "N":
            share["nitride"] += n * 3
        elif el == "H" and "O" not in amounts:
            share["hydride"] += n
    best = max(share, key=lambda k: share[k])
    return best if share[best] > 0 else "other"


def major_elements(formula: str | Composition, min_fraction: float = 0.05) -> str:
    """Sorted elements with atomic fraction >= ``min_fraction`` (joined by ``-``).

    Used as the group of a composition in cross-validation, so that doped variants of
    one parent (Li1.3Al0.3Ti1.7(PO4)3 and LiTi2(PO4)3 both give ``Li-O-P-Ti``) are never
    split between the fitting and the held-out fold.
    """
    comp = to_composition(formula).fractional_composition
    return "-".join(sorted(el.symbol for el, n in comp.items() if n >= min_fraction))


# ----------------------------------------------------------------------------- tables


def read_obelix_csv(path: str | Path, split: str) -> pd.DataFrame:
    """Read one OBELiX CSV into halidelab's table (one row per measured entry).

    Columns: ``id``, ``formula`` (True Composition), ``name`` (the data set's
    hand-written reduced formula, for display), ``key`` (:func:`composition_key`),
    ``family`` (:func:`chemical_family`), ``obelix_family`` (the data set's own label),
    ``group`` (:func:`major_elements`), ``log10_sigma_S_cm``, ``censored``, ``split``,
    ``doi``.

    Raises
    ------
    DataFormatError
        Missing columns, an unreadable composition or conductivity (the row is named).
    """
    path = Path(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataFormatError(f"cannot read {path}: {exc}") from None
    missing = [c for c in _CSV_COLUMNS if c not in raw.columns]
    if missing:
        raise DataFormatError(
            f"{path.name} lacks the OBELiX column(s) {', '.join(missing)}: is it an OBELiX table?"
        )
    rows = []
    for _, r in raw.iterrows():
        try:
            comp = to_composition(r["True Composition"])
            log_s, cens = parse_conductivity(r["Ionic conductivity (S cm-1)"])
        except (CompositionError, DataFormatError) as exc:
            raise DataFormatError(f"{path.name}, entry {r['ID']}: {exc}") from None
        rows.append(
            {
                "id": r["ID"],
                "formula": comp.formula.replace(" ", ""),
                "name": " ".join(str(r.get("Reduced Composition", "")).split())
                or comp.reduced_formula,
                "key": composition_key(comp),
                "family": chemical_family(comp),
                "obelix_family": r["Family"],
                "group": major_elements(comp),
                "log10_sigma_S_cm": log_s,
                "censored": cens,
                "split": split,
                "doi": r["DOI"],
            }
        )
    if not rows:
        raise DataFormatError(f"{path.name} has no entries")
    return pd.DataFrame(rows)


def load_obelix(
    split: Literal["train", "test", "all"] = "all", directory: str | Path | None = None
) -> pd.DataFrame:
    """The shipped OBELiX entries of one split (or both), one row per measurement.

    Parameters
    ----------
    split : {"train", "test", "all"}
        The official split.
    directory : path, optional
        A folder holding ``train.csv`` and ``test.csv`` (default: the shipped copy).
    """
    if split not in ("train", "test", "all"):
        raise DataFormatError(f"unknown split {split!r}: use 'train', 'test' or 'all'")
    folder = Path(directory) if directory is not None else data_dir()
    parts = ["train", "test"] if split == "all" else [split]
    return pd.concat([read_obelix_csv(folder / f"{s}.csv", s) for s in parts], ignore_index=True)


@dataclasses.dataclass(frozen=True)
class MergedEntry(Record):
    """Several measurements of one normalised composition merged into one.

    Attributes
    ----------
    key : str
        Normalised composition (:func:`composition_key`).
    ids : tuple of str
        OBELiX IDs merged.
    log10_sigma_S_cm : tuple of float
        Their log10 conductivities (S/cm); censored ones are upper limits.
    merged_log10_sigma_S_cm : float
        The value kept: median of the uncensored values, or the lowest limit if all
        are censored.
    spread_log10 : float
        max - min of the uncensored values (decades): the lab-to-lab scatter.
    """

    key: str
    ids: tuple[str, ...]
    log10_sigma_S_cm: tuple[float, ...]
    merged_log10_sigma_S_cm: float
    spread_log10: float


def deduplicate(table: pd.DataFrame) -> tuple[pd.DataFrame, list[MergedEntry]]:
    """Merge rows with the same normalised composition within each split.

    The merged value is the median of the uncensored measurements (censored limits are
    dropped when a real measurement exists); when all are censored the lowest limit is
    kept, still censored. Returns the merged table (first row's metadata, ``n_merged``
    column added) and a report of every merge.
    """
    out = []
    report: list[MergedEntry] = []
    for (_, _), g in table.groupby(["split", "key"], sort=False):
        row = g.iloc[0].copy()
        row["n_merged"] = len(g)
        if len(g) > 1:
            unc = g.loc[~g["censored"], "log10_sigma_S_cm"].to_numpy(float)
            if unc.size:
                value, censored = float(np.median(unc)), False
                spread = float(unc.max() - unc.min())
            else:
                value, censored, spread = float(g["log10_sigma_S_cm"].min()), True, 0.0
            row["log10_sigma_S_cm"] = value
            row["censored"] = censored
            report.append(
                MergedEntry(
                    key=str(row["key"]),
                    ids=tuple(g["id"]),
                    log10_sigma_S_cm=tuple(float(v) for v in g["log10_sigma_S_cm"]),
                    merged_log10_sigma_S_cm=value,
                    spread_log10=spread,
                )
            )
        out.append(row)
    return pd.DataFrame(out).reset_index(drop=True), report


def leaked_keys(train: pd.DataFrame, test: pd.DataFrame) -> set[str]:
    """Normalised compositions present in both tables."""
    return set(train["key"]) & set(test["key"])


@dataclasses.dataclass(frozen=True)
class PriorDataset:
    """The training and test tables the prior is fitted and scored on.

    Attributes
    ----------
    train, test : DataFrame
        Deduplicated tables; ``train`` holds no composition that is in ``test``.
    merged : list of MergedEntry
        Every deduplication merge (both splits).
    removed_from_train : tuple of str
        Keys dropped from the training table because the official test split holds the
        same normalised composition (the test split is kept whole, for comparability).
    data_sha256 : dict
        SHA-256 of the files read (the data version).
    """

    train: pd.DataFrame
    test: pd.DataFrame
    merged: list[MergedEntry]
    removed_from_train: tuple[str, ...]
    data_sha256: dict[str, str]


def prepare_dataset(directory: str | Path | None = None) -> PriorDataset:
    """Load both official splits, deduplicate, and remove test compositions from train."""
    folder = Path(directory) if directory is not None else data_dir()
    full = load_obelix("all", folder)
    dedup, merged = deduplicate(full)
    train = dedup[dedup["split"] == "train"]
    test = dedup[dedup["split"] == "test"].reset_index(drop=True)
    leak = leaked_keys(train, test)
    train = train[~train["key"].isin(leak)].reset_index(drop=True)
    return PriorDataset(
        train=train,
        test=test,
        merged=merged,
        removed_from_train=tuple(sorted(leak)),
        data_sha256={f"{s}.csv": file_sha256(folder / f"{s}.csv") for s in ("train", "test")},
    )


_FORMULA_OK = re.compile(r"^[A-Za-z0-9.()\[\]\s]+$")


def check_query_formula(text: str) -> Composition:
    """Parse a user's formula for prediction, with a one-line error when it is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise CompositionError("empty formula: give a composition such as 'Li1.8Zr0.8Nb0.2Cl6'")
    if not _FORMULA_OK.match(text):
        raise CompositionError(
            f"cannot read formula {text!r}: use element symbols and numbers only, e.g. 'Li3YCl6'"
        )
    from halidelab.composition import check_element  # unknown element: one clear line

    for sym in re.findall(r"[A-Z][a-z]?", text):
        check_element(sym)
    if re.search(r"(^|[^A-Za-z])[a-z]", text):
        raise CompositionError(
            f"cannot read formula {text!r}: element symbols start with a capital letter"
        )
    comp = to_composition(text)
    # a dopant at x = 0 (Li2Zr1Nb0Cl6) is the parent: drop zero amounts
    comp = Composition({el: n for el, n in comp.items() if n > 1e-9})
    if comp.num_atoms <= 0:
        raise CompositionError(f"formula {text!r} has no atoms")
    if "Li" not in {el.symbol for el in comp.elements}:
        raise CompositionError(
            f"{text} has no Li: the prior predicts Li-ion conductivity of Li conductors only"
        )
    return comp
