"""The literature table of Li solid electrolytes (``data/literature.csv``), extendable.

Seeded from two sources, and each row says which:

- OBELiX (Therrien et al. 2025, CC BY 4.0; the shipped ``data/obelix`` train and test
  tables): every entry whose chemical family is ``halide`` (by
  :func:`halidelab.prior.data.chemical_family`), with its space group, room-temperature
  conductivity (OBELiX reports room temperature; stored as 25 C) and DOI. Upper limits
  such as ``<1E-10`` stay upper limits (``censored``). OBELiX has no activation energies.
- The reference case of this project (MISSION.md): Li2ZrCl6 (P-3m1, ball milled,
  about 0.5 mS/cm at 25 C) and Li1.8Zr0.8Nb0.2Cl6 (1.03 mS/cm, Ea 0.327 eV), Chen et al.,
  Chem. Commun. 2025 (DOI not recorded here, so the cell is left empty rather than
  guessed).

Users add rows from their own CSV (:func:`read_user_table`): required columns
``composition`` and ``sigma_S_cm``; optional ``temperature_C`` (default 25),
``ea_eV``, ``space_group``, ``structure``, ``doi``, ``reference``, ``notes``. Every
value is validated, and an error names the file, row and column.
"""

from __future__ import annotations

import importlib.resources
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from pymatgen.core import Composition, Element

from halidelab.errors import CompositionError, DataFormatError
from halidelab.prior.data import chemical_family, data_dir, parse_conductivity, to_composition

#: columns of the literature table, in order
COLUMNS = (
    "composition",
    "name",
    "family",
    "space_group",
    "structure",
    "sigma_S_cm",
    "censored",
    "temperature_C",
    "ea_eV",
    "doi",
    "reference",
    "source",
    "notes",
)
#: columns a user's table must have
REQUIRED = ("composition", "sigma_S_cm")
#: room temperature assumed where a source says "room temperature"
ROOM_TEMPERATURE_C = 25.0

_REFERENCE_CASE = (
    {
        "composition": "Li2ZrCl6",
        "name": "Li2ZrCl6 (LZC, ball milled)",
        "space_group": "P-3m1",
        "structure": "trigonal, hcp Cl",
        "sigma_S_cm": "5.0e-4",
        "temperature_C": 25.0,
        "ea_eV": "",
        "doi": "",
        "reference": "Chen et al., Chem. Commun. 2025 (reference case; 'about 0.5 mS/cm')",
        "source": "MISSION.md",
        "notes": "annealed Li2ZrCl6 is monoclinic C2/m",
    },
    {
        "composition": "Li1.8Zr0.8Nb0.2Cl6",
        "name": "Li1.8Zr0.8Nb0.2Cl6 (LZNC, ball milled)",
        "space_group": "P-3m1",
        "structure": "trigonal, hcp Cl",
        "sigma_S_cm": "1.03e-3",
        "temperature_C": 25.0,
        "ea_eV": 0.327,
        "doi": "",
        "reference": "Chen et al., Chem. Commun. 2025 (reference case)",
        "source": "MISSION.md",
        "notes": "LSV oxidation onset 4.02 V vs Li/Li+; electronic 1.09e-9 S/cm",
    },
)


def _formula(comp: Composition) -> str:
    """Compact formula in the given element order: ``Li1.8Zr0.8Nb0.2Cl6``."""
    return "".join(
        f"{el.symbol}{'' if abs(n - 1) < 1e-9 else f'{round(float(n), 4):g}'}"
        for el, n in comp.items()
    )


def literature_path() -> Path:
    """The shipped table (inside the installed package)."""
    return Path(str(importlib.resources.files("halidelab") / "data" / "literature.csv"))


def seed_rows(obelix_dir: str | Path | None = None) -> pd.DataFrame:
    """Rebuild the shipped table from OBELiX halides plus the reference case.

    Used to (re)write ``data/literature.csv``; the test suite checks that the shipped
    file equals this.
    """
    folder = Path(obelix_dir) if obelix_dir is not None else data_dir()
    rows = []
    for split in ("train", "test"):
        path = folder / f"{split}.csv"
        try:
            raw = pd.read_csv(path, dtype=str, keep_default_na=False)
        except OSError as exc:
            raise DataFormatError(f"cannot read {path}: {exc}") from None
        for _, r in raw.iterrows():
            comp = to_composition(r["True Composition"])
            if chemical_family(comp) != "halide":
                continue
            text = str(r["Ionic conductivity (S cm-1)"]).strip()
            _log, censored = parse_conductivity(text)
            sigma = text.lstrip("<").strip()
            name = " ".join(str(r["Reduced Composition"]).split()) or comp.reduced_formula
            try:  # per formula unit: OBELiX's True Composition is per cell (Z formula units)
                z = float(r.get("Z", "") or 1)
            except ValueError:
                z = 1.0
            per_fu = comp / z if z > 0 else comp
            notes = ""
            try:
                if not Composition(name).almost_equals(per_fu, rtol=0.02, atol=0.02):
                    notes = f"OBELiX True Composition per Z differs from its name {name}"
            except (ValueError, KeyError):
                pass
            rows.append(
                {
                    "composition": _formula(per_fu),
                    "name": name,
                    "family": "halide",
                    "space_group": str(r.get("Space group", "")).replace(" ", ""),
                    "structure": str(r.get("Family", "")),
                    "sigma_S_cm": f"{float(sigma):.4g}",
                    "censored": bool(censored),
                    "temperature_C": ROOM_TEMPERATURE_C,
                    "ea_eV": "",
                    "doi": str(r["DOI"]).strip(),
                    "reference": "",
                    "source": f"OBELiX {split} {r['ID']}",
                    "notes": notes,
                }
            )
    for case in _REFERENCE_CASE:
        rows.append({**case, "family": chemical_family(case["composition"]), "censored": False})
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    return table


def _validate(raw: pd.DataFrame, origin: str) -> pd.DataFrame:
    """Check and normalise a table with at least the :data:`REQUIRED` columns."""
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise DataFormatError(
            f"{origin} lacks column(s) {', '.join(missing)}; required: {', '.join(REQUIRED)}; "
            f"optional: {', '.join(c for c in COLUMNS if c not in REQUIRED)}"
        )
    unknown = [c for c in raw.columns if c not in COLUMNS]
    if unknown:
        raise DataFormatError(
            f"{origin} has unknown column(s) {', '.join(unknown)}; allowed: {', '.join(COLUMNS)}"
        )
    out = []
    for i, r in raw.reset_index(drop=True).iterrows():
        where = f"{origin}, row {i + 2}"  # header is line 1
        try:
            comp = to_composition(r["composition"])
        except CompositionError as exc:
            raise DataFormatError(f"{where}, column composition: {exc}") from None
        odd = [str(e) for e in comp.elements if not isinstance(e, Element)]
        if odd:
            raise DataFormatError(
                f"{where}, column composition: {r['composition']!r} has unknown element(s) "
                f"{', '.join(odd)}"
            )
        cens_text = str(r.get("censored", "")).strip().lower()
        try:
            log_s, cens = parse_conductivity(r["sigma_S_cm"])
        except DataFormatError as exc:
            raise DataFormatError(f"{where}, column sigma_S_cm: {exc}") from None
        cens = cens or cens_text in ("true", "1", "yes")
        t_text = str(r.get("temperature_C", "")).strip()
        try:
            t_c = float(t_text) if t_text not in ("", "nan") else ROOM_TEMPERATURE_C
        except ValueError:
            raise DataFormatError(
                f"{where}, column temperature_C: {t_text!r} is not a number of degrees C"
            ) from None
        if not math.isfinite(t_c) or t_c < -273.15 or t_c > 1500:
            raise DataFormatError(
                f"{where}, column temperature_C: {t_c} C is outside -273.15..1500"
            )
        ea_text = str(r.get("ea_eV", "")).strip()
        try:
            ea = float(ea_text) if ea_text not in ("", "nan") else math.nan
        except ValueError:
            raise DataFormatError(
                f"{where}, column ea_eV: {ea_text!r} is not a number of eV"
            ) from None
        if math.isfinite(ea) and not 0 < ea < 5:
            raise DataFormatError(f"{where}, column ea_eV: {ea} eV is outside 0..5 eV")
        row = {c: ("" if pd.isna(r.get(c, "")) else str(r.get(c, "")).strip()) for c in COLUMNS}
        row.update(
            {
                "composition": _formula(comp),
                "name": row["name"] or comp.reduced_formula,
                "family": chemical_family(comp),
                "sigma_S_cm": 10.0**log_s,
                "log10_sigma_S_cm": log_s,
                "censored": bool(cens),
                "temperature_C": t_c,
                "ea_eV": ea,
            }
        )
        out.append(row)
    if not out:
        raise DataFormatError(f"{origin} has no rows")
    return pd.DataFrame(out)


def read_user_table(path: str | Path) -> pd.DataFrame:
    """Read and validate a user's CSV of measured electrolytes.

    Raises
    ------
    DataFormatError
        Missing file, missing or unknown columns, or a bad value (row and column named).
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"literature table not found: {path}")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataFormatError(
            f"cannot read {path.name} as CSV: {str(exc).splitlines()[0]}"
        ) from None
    table = _validate(raw, path.name)
    table["source"] = [s or f"user: {path.name}" for s in table["source"]]
    return table


def load_literature(extra: Sequence[str | Path] = ()) -> pd.DataFrame:
    """The shipped table plus the users' CSVs, validated, one row per entry.

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS` plus ``log10_sigma_S_cm``; ``sigma_S_cm`` in S/cm,
        ``temperature_C`` in C, ``ea_eV`` (NaN where unknown).
    """
    path = literature_path()
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    tables = [_validate(raw, path.name)]
    tables += [read_user_table(p) for p in extra]
    return pd.concat(tables, ignore_index=True)


_SORT = {
    "sigma": "sigma_S_cm",
    "ea": "ea_eV",
    "temperature": "temperature_C",
    "composition": "composition",
    "space_group": "space_group",
}


def query(
    table: pd.DataFrame,
    family: str | None = None,
    element: str | None = None,
    sort: str = "sigma",
    ascending: bool | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Filter and sort the literature table.

    Parameters
    ----------
    family : str, optional
        ``halide``, ``sulfide``, ``oxide`` ... (as :func:`chemical_family`).
    element : str, optional
        Keep compositions containing this element.
    sort : {"sigma", "ea", "temperature", "composition", "space_group"}
    ascending : bool, optional
        Default: descending for sigma, ascending otherwise.
    limit : int, optional
    """
    if sort not in _SORT:
        raise DataFormatError(f"cannot sort by {sort!r}; use one of {', '.join(_SORT)}")
    out = table
    if family:
        fams = set(table["family"])
        if family not in fams | {"halide", "sulfide", "oxide", "nitride", "hydride", "other"}:
            raise DataFormatError(
                f"unknown family {family!r}; use halide, sulfide, oxide, nitride, hydride or other"
            )
        out = out[out["family"] == family]
    if element:
        from halidelab.composition import check_element

        el = check_element(element)
        out = out[[el in to_composition(c).as_dict() for c in out["composition"]]]
    if ascending is None:
        ascending = sort != "sigma"
    out = out.sort_values(_SORT[sort], ascending=ascending, na_position="last", kind="stable")
    if limit is not None:
        if limit < 1:
            raise DataFormatError(f"--limit must be >= 1, got {limit}")
        out = out.head(limit)
    return out.reset_index(drop=True)


def rank_among(
    sigma_S_cm: float, table: pd.DataFrame, family: str | None = "halide"
) -> dict[str, float]:
    """Where a conductivity sits among known materials (censored entries excluded).

    Returns
    -------
    dict
        ``n`` entries compared, ``n_higher`` with a higher sigma, ``percentile`` (share
        of entries with a lower sigma, 0-100).
    """
    if not (isinstance(sigma_S_cm, int | float) and math.isfinite(sigma_S_cm) and sigma_S_cm > 0):
        raise DataFormatError(f"sigma must be a positive number of S/cm, got {sigma_S_cm!r}")
    sub = table[~table["censored"].astype(bool)]
    if family:
        sub = sub[sub["family"] == family]
    if sub.empty:
        raise DataFormatError(f"no {family or ''} entries to compare with")
    n_higher = int((sub["sigma_S_cm"] > sigma_S_cm).sum())
    n_lower = int((sub["sigma_S_cm"] < sigma_S_cm).sum())
    return {"n": len(sub), "n_higher": n_higher, "percentile": 100.0 * n_lower / len(sub)}


def composition_distance(a: str | Composition, b: str | Composition) -> float:
    """Distance between two compositions: total variation of their atomic fractions.

    d = 1/2 sum_el |f_a(el) - f_b(el)|, with f the atomic fraction of each element, so
    0 for the same composition (any formula unit), 1 for compositions sharing no
    element. It measures stoichiometry only: Y and In count as different elements, not
    as chemically similar ones (Li3YCl6 and Li3InCl6 are equally far from Li2ZrCl6).

    Examples
    --------
    >>> round(composition_distance("Li2ZrCl6", "Li1.8Zr0.8Nb0.2Cl6"), 3)
    0.038
    """
    fa = to_composition(a).fractional_composition
    fb = to_composition(b).fractional_composition
    els = set(fa.elements) | set(fb.elements)
    return 0.5 * float(sum(abs(fa[el] - fb[el]) for el in els))


def nearest_known(
    formula: str | Composition, table: pd.DataFrame, n: int = 3, family: str | None = "halide"
) -> pd.DataFrame:
    """The ``n`` entries of ``table`` closest in composition to ``formula``.

    Parameters
    ----------
    formula : str or Composition
        The candidate.
    table : pandas.DataFrame
        From :func:`load_literature`.
    n : int
        Entries to return (ties keep the table's order).
    family : str, optional
        Compare only within this chemical family (None: all).

    Returns
    -------
    pandas.DataFrame
        The closest rows, with a ``distance`` column (:func:`composition_distance`),
        nearest first.

    Raises
    ------
    DataFormatError
        ``n`` < 1, or no entry of ``family`` in the table.
    """
    if n < 1:
        raise DataFormatError(f"n must be >= 1, got {n}")
    sub = table[table["family"] == family] if family else table
    if sub.empty:
        raise DataFormatError(f"no {family or ''} entries in the literature table to compare with")
    target = to_composition(formula)
    out = sub.assign(distance=[composition_distance(target, c) for c in sub["composition"]])
    return out.sort_values("distance", kind="stable").head(n).reset_index(drop=True)
