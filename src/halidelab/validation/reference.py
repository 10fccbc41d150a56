"""The reference set: measured Li halide conductors with a DOI for every number.

``data/reference/reference_set.csv`` (shipped) holds one row per measurement:

========================  ===========================================================
column                    meaning
========================  ===========================================================
id                        unique slug
name                      human label (with the sample's synthesis when it matters)
composition               formula per formula unit
polymorph                 space group of the measured phase
structure_type            structure family in words
synthesis                 ball-milled / solid-state / wet chemistry / ... or "not
                          recorded by the source"
sigma_S_cm                ionic conductivity, S/cm
censored                  True: ``sigma_S_cm`` is an upper limit
temperature_K             temperature of ``sigma_S_cm`` (room temperature rows: 298.15)
sigma_kind                total / bulk / not stated
ea_eV                     measured activation energy, eV (empty where the source
                          gives none: never guessed)
ea_range_K                temperature range of the Arrhenius fit
primary                   True for the one row per material that parity metrics use
                          (the sample closest to the modelled, ordered structure)
doi                       DOI of the paper the numbers come from
reference                 short citation
source                    where the number was read (OBELiX row, search hit, ...)
structure_file            CIF under ``halidelab/data`` (OBELiX, CC BY 4.0); in a user's
                          table also any structure file relative to the table's folder
                          (read once on loading; the entry holds its absolute path)
construction              how the ordered model is built (see
                          :mod:`halidelab.validation.structures`)
obelix_id                 OBELiX entry of the structure, where it has one
notes                     anything a reader must know about the number
========================  ===========================================================

:func:`load_reference_set` validates every cell (a bad one is named with its file, row
and column) and returns a frozen :class:`ReferenceSet` with a SHA-256 checksum over the
table and the structure files it uses: a calibration records it, and a calibration fitted
on another set is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.resources
import math
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from halidelab.errors import CompositionError, DataFormatError
from halidelab.prior.data import composition_key, to_composition
from halidelab.records import Record

#: columns of the reference table, in order
COLUMNS = (
    "id",
    "name",
    "composition",
    "polymorph",
    "structure_type",
    "synthesis",
    "sigma_S_cm",
    "censored",
    "temperature_K",
    "sigma_kind",
    "ea_eV",
    "ea_range_K",
    "primary",
    "doi",
    "reference",
    "source",
    "structure_file",
    "construction",
    "obelix_id",
    "notes",
)
#: columns that may be empty
OPTIONAL = ("ea_eV", "ea_range_K", "obelix_id", "notes")
#: accepted ranges (room-temperature conductors)
SIGMA_RANGE_S_CM = (1e-12, 1e-1)
EA_RANGE_EV = (0.1, 1.2)
ROOM_TEMPERATURE_RANGE_K = (290.0, 310.0)
SIGMA_KINDS = ("total", "bulk", "not stated")
#: a DOI: prefix 10.NNNN[.NNN]/suffix without spaces
DOI_PATTERN = re.compile(r"^10\.\d{4,9}(\.\d+)*/\S+$")
_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.\-]*$")
_HALOGENS = {"F", "Cl", "Br", "I"}


def data_root() -> Path:
    """``halidelab/data`` inside the installed package."""
    return Path(str(importlib.resources.files("halidelab") / "data"))


def reference_path() -> Path:
    """The shipped reference table."""
    return data_root() / "reference" / "reference_set.csv"


@dataclasses.dataclass(frozen=True)
class ReferenceEntry(Record):
    """One measurement of the reference set (see the module docstring for the fields)."""

    id: str
    name: str
    composition: str
    polymorph: str
    structure_type: str
    synthesis: str
    sigma_S_cm: float
    censored: bool
    temperature_K: float
    sigma_kind: str
    ea_eV: float | None
    ea_range_K: str
    primary: bool
    doi: str
    reference: str
    source: str
    structure_file: str
    construction: str
    obelix_id: str
    notes: str

    @property
    def log10_sigma_S_cm(self) -> float:
        """log10 of the measured conductivity (S/cm)."""
        return math.log10(self.sigma_S_cm)

    @property
    def material(self) -> str:
        """Key of the modelled material: rows with the same key share one structure model
        (and so one prediction); leave-one-out leaves all of them out together."""
        return f"{composition_key(self.composition)}|{self.structure_file}|{self.construction}"


@dataclasses.dataclass(frozen=True)
class ReferenceSet(Record):
    """The validated reference table.

    Attributes
    ----------
    entries : tuple of ReferenceEntry
    sha256 : str
        SHA-256 over the table's bytes and, in name order, each structure file it uses.
    path : str
        Where the table was read.
    """

    entries: tuple[ReferenceEntry, ...]
    sha256: str
    path: str

    def primary(self) -> list[ReferenceEntry]:
        """One row per material: the rows the parity metrics use."""
        return [e for e in self.entries if e.primary]

    def by_material(self) -> dict[str, list[ReferenceEntry]]:
        """Rows grouped by modelled material, the primary row first."""
        out: dict[str, list[ReferenceEntry]] = {}
        for e in sorted(self.entries, key=lambda e: not e.primary):
            out.setdefault(e.material, []).append(e)
        return out

    def entry(self, entry_id: str) -> ReferenceEntry:
        """The row with this id."""
        for e in self.entries:
            if e.id == entry_id:
                return e
        raise DataFormatError(
            f"no reference entry {entry_id!r}; ids: {', '.join(e.id for e in self.entries)}"
        )

    def select(self, ids: list[str] | tuple[str, ...] | None) -> ReferenceSet:
        """The subset of materials whose rows include one of ``ids`` (all rows of each)."""
        if not ids:
            return self
        for i in ids:
            self.entry(i)
        mats = {self.entry(i).material for i in ids}
        return dataclasses.replace(
            self, entries=tuple(e for e in self.entries if e.material in mats)
        )


def resolve_structure_file(name: str, table_dir: Path | None = None) -> Path:
    """A ``structure_file`` cell as a path: under ``halidelab/data`` first, else relative
    to the table's folder (a user's own table), else as given."""
    for base in (data_root(), table_dir):
        if base is not None and (base / name).is_file():
            return base / name
    return Path(name)


def _bool(text: str, where: str, column: str) -> bool:
    t = text.strip().lower()
    if t in ("true", "1", "yes"):
        return True
    if t in ("false", "0", "no", ""):
        return False
    raise DataFormatError(f"{where}, column {column}: {text!r} is not True or False")


def _float(text: str, where: str, column: str, unit: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise DataFormatError(
            f"{where}, column {column}: {text!r} is not a number of {unit}"
        ) from None
    if not math.isfinite(v):
        raise DataFormatError(f"{where}, column {column}: {text!r} is not finite")
    return v


def _check_construction(text: str, where: str) -> None:
    from halidelab.validation.structures import parse_construction

    try:
        parse_construction(text)
    except (DataFormatError, CompositionError) as exc:
        raise DataFormatError(f"{where}, column construction: {exc}") from None


def _entry(row: dict[str, str], where: str, table_dir: Path) -> ReferenceEntry:
    for c in COLUMNS:
        if c not in OPTIONAL and not row[c].strip():
            raise DataFormatError(f"{where}, column {c}: empty (required)")
    rid = row["id"].strip()
    if not _ID_PATTERN.match(rid):
        raise DataFormatError(
            f"{where}, column id: {rid!r} must be a lower-case slug (a-z, 0-9, '.', '-')"
        )
    try:
        comp = to_composition(row["composition"])
    except CompositionError as exc:
        raise DataFormatError(f"{where}, column composition: {exc}") from None
    els = {el.symbol for el in comp.elements}
    if "Li" not in els or not els & _HALOGENS:
        raise DataFormatError(
            f"{where}, column composition: {row['composition']!r} is not a Li halide"
        )
    sigma = _float(row["sigma_S_cm"], where, "sigma_S_cm", "S/cm")
    lo, hi = SIGMA_RANGE_S_CM
    if not lo <= sigma <= hi:
        raise DataFormatError(
            f"{where}, column sigma_S_cm: {sigma:g} S/cm is outside {lo:g}..{hi:g} "
            "(is it in S/cm, not mS/cm?)"
        )
    t = _float(row["temperature_K"], where, "temperature_K", "K")
    lo, hi = ROOM_TEMPERATURE_RANGE_K
    if not lo <= t <= hi:
        raise DataFormatError(
            f"{where}, column temperature_K: {t:g} K is not room temperature "
            f"({lo:g}..{hi:g} K; is it in C?)"
        )
    ea = None
    if row["ea_eV"].strip():
        ea = _float(row["ea_eV"], where, "ea_eV", "eV")
        lo, hi = EA_RANGE_EV
        if not lo <= ea <= hi:
            raise DataFormatError(
                f"{where}, column ea_eV: {ea:g} eV is outside {lo:g}..{hi:g} eV "
                "(is it in eV, not kJ/mol?)"
            )
    kind = row["sigma_kind"].strip()
    if kind not in SIGMA_KINDS:
        raise DataFormatError(
            f"{where}, column sigma_kind: {kind!r}; use one of {', '.join(SIGMA_KINDS)}"
        )
    doi = row["doi"].strip()
    if not DOI_PATTERN.match(doi):
        raise DataFormatError(f"{where}, column doi: {doi!r} is not a DOI (10.NNNN/...)")
    name = row["structure_file"].strip()
    path = resolve_structure_file(name, table_dir)
    if not path.is_file():
        found = [b / name for b in (data_root(), table_dir) if (b / name).exists()]
        raise DataFormatError(
            f"{where}, column structure_file: {name!r} "
            + (
                f"is a directory ({found[0]}), not a structure file"
                if found and found[0].is_dir()
                else f"not found under {data_root()} or {table_dir}"
            )
        )
    if not path.resolve().is_relative_to(data_root().resolve()):
        # a user's own file: the tasks (perhaps on a Dask worker, in another folder) get
        # its absolute path, and an unreadable one is refused here, not by every task
        from halidelab.errors import StructureError
        from halidelab.structures.prototypes import read_structure

        try:
            read_structure(path)
        except StructureError as exc:
            raise DataFormatError(f"{where}, column structure_file: {exc}") from None
        name = str(path.resolve())
    _check_construction(row["construction"].strip(), where)
    return ReferenceEntry(
        id=rid,
        name=row["name"].strip(),
        composition=row["composition"].strip(),
        polymorph=row["polymorph"].strip().replace(" ", ""),
        structure_type=row["structure_type"].strip(),
        synthesis=row["synthesis"].strip(),
        sigma_S_cm=sigma,
        censored=_bool(row["censored"], where, "censored"),
        temperature_K=t,
        sigma_kind=kind,
        ea_eV=ea,
        ea_range_K=row["ea_range_K"].strip(),
        primary=_bool(row["primary"], where, "primary"),
        doi=doi,
        reference=row["reference"].strip(),
        source=row["source"].strip(),
        structure_file=name,
        construction=row["construction"].strip(),
        obelix_id=row["obelix_id"].strip(),
        notes=row["notes"].strip(),
    )


def _checksum(table_bytes: bytes, files: list[Path]) -> str:
    h = hashlib.sha256(table_bytes)
    for f in sorted(files, key=lambda p: p.name):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def load_reference_set(path: str | Path | None = None) -> ReferenceSet:
    """Read and validate a reference table (default: the shipped one).

    Raises
    ------
    DataFormatError
        Missing file, missing or unknown column, a bad cell (file, row and column named),
        a duplicate id or measurement, or a material without exactly one primary row.
    """
    path = Path(path) if path is not None else reference_path()
    if path.is_dir():
        raise DataFormatError(f"--reference {path} is a folder: give the table's CSV file")
    if not path.is_file():
        raise DataFormatError(f"reference table not found: {path}")
    blob = path.read_bytes()
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataFormatError(
            f"cannot read {path.name} as CSV: {str(exc).splitlines()[0]}"
        ) from None
    missing = [c for c in COLUMNS if c not in raw.columns]
    unknown = [c for c in raw.columns if c not in COLUMNS]
    if missing or unknown:
        raise DataFormatError(
            f"{path.name}: missing column(s) {', '.join(missing) or '-'}, unknown "
            f"column(s) {', '.join(unknown) or '-'}; columns are {', '.join(COLUMNS)}"
        )
    if raw.empty:
        raise DataFormatError(f"{path.name} has no rows")
    entries = [
        _entry({c: str(r[c]) for c in COLUMNS}, f"{path.name}, row {i + 2}", path.parent)
        for i, r in raw.iterrows()
    ]
    seen: dict[str, int] = {}
    measured: dict[tuple, str] = {}
    for i, e in enumerate(entries):
        if e.id in seen:
            raise DataFormatError(
                f"{path.name}, row {i + 2}: id {e.id!r} repeats row {seen[e.id] + 2}"
            )
        seen[e.id] = i
        key = (
            composition_key(e.composition),
            e.doi.lower(),
            e.synthesis.lower(),
            round(e.log10_sigma_S_cm, 3),
        )
        if key in measured:
            raise DataFormatError(
                f"{path.name}, row {i + 2}: the same measurement as {measured[key]!r} "
                "(composition, DOI, synthesis and sigma)"
            )
        measured[key] = e.id
    groups: dict[str, list[ReferenceEntry]] = {}
    for e in entries:
        groups.setdefault(e.material, []).append(e)
    for rows in groups.values():
        n = sum(e.primary for e in rows)
        if n != 1:
            raise DataFormatError(
                f"{path.name}: material {rows[0].composition} ({rows[0].structure_file}, "
                f"{rows[0].construction}) has {n} primary rows "
                f"({', '.join(e.id for e in rows)}); mark exactly one primary"
            )
    files = sorted({resolve_structure_file(e.structure_file, path.parent) for e in entries})
    return ReferenceSet(entries=tuple(entries), sha256=_checksum(blob, files), path=str(path))


def quenched_rows(entries: Sequence[ReferenceEntry]) -> list[ReferenceEntry]:
    """The rows ``validate --annealed-state quenched`` models in the quenched state.

    Parameters
    ----------
    entries : sequence of ReferenceEntry

    Returns
    -------
    list of ReferenceEntry
        Each annealed ``cif`` row whose file has partial occupancies, and each annealed
        ``design:`` row, with ``;quenched`` after its construction; every other row (an
        ordered file, a spinel or merged construction, a ball-milled row) as it is.
    """
    import warnings

    from halidelab.structures.prototypes import read_structure
    from halidelab.validation.structures import parse_construction

    out = []
    ordered: dict[str, bool] = {}
    for e in entries:
        spec = parse_construction(e.construction)
        quench = spec["state"] == "annealed" and spec["kind"] in ("cif", "design")
        if quench and spec["kind"] == "cif":
            if e.structure_file not in ordered:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    src = read_structure(resolve_structure_file(e.structure_file))
                ordered[e.structure_file] = src.is_ordered
            quench = not ordered[e.structure_file]
        out.append(
            dataclasses.replace(e, construction=f"{e.construction};quenched") if quench else e
        )
    return out
