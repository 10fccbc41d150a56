"""Frozen inputs of the science task kinds: one dataclass per kind, defaults = the library's.

A task's inputs used to be dicts written in four places (``reproduce``, ``screen``,
``validate``, the CLI) whose defaults drifted from each other and from the library
(relax steps 300 in the task, 500 in :func:`halidelab.relax.relax_structures`). Now a
builder writes ``Task.of(RelaxInputs(structure=..., model=...), label)``: every field, its
default included, is in the JSON that the key hashes, so a key says everything the
result depends on, and a reproduction, a screen and a validation that ask for the same
computation share one result. The task functions read their inputs back with
:meth:`TaskInputs.parse`, which refuses a key the kind does not know (a typo such as
``setps`` would otherwise be hashed, ignored, and run with the default).

The defaults are written here, not imported, so that this module (and a Dask worker
that only unpickles a task) imports no science; ``tests/screening/test_task_inputs.py``
holds each default equal to the library function's own.

Kinds without a dataclass and why: ``rules`` (a list of compositions from the screen's
plan), ``hull`` (energies already computed, hashed as they are), ``stability-reference``
and ``stability-hull`` (:mod:`halidelab.stability`, with their own cache protocol) and
``reference-model`` (one reference-set entry): their inputs are records handed over, not
settings with defaults.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, ClassVar

from halidelab.errors import HalidelabError
from halidelab.transport.harmonic import PREFACTORS


class TaskInputError(HalidelabError):
    """Task inputs that name an unknown field, miss a required one or contradict each other."""


def _plain(value: Any) -> Any:
    """JSON-shaped copy (tuples become lists) so that keys match the JSON round trip."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@dataclasses.dataclass(frozen=True, kw_only=True)
class TaskInputs:
    """Base of the per-kind inputs (frozen; every field is part of the task key)."""

    kind: ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:
        """All fields as plain JSON types (the task's ``inputs``)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def parse(cls, inputs: Mapping[str, Any]) -> TaskInputs:
        """Inputs of this kind from a task's JSON; missing fields take the defaults.

        Raises
        ------
        TaskInputError
            An unknown or a missing required field, or fields that contradict each other.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(inputs) - names)
        if unknown:
            raise TaskInputError(
                f"task kind {cls.kind!r} has no input {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(sorted(names))}"
            )
        required = sorted(
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        )
        missing = [n for n in required if n not in inputs]
        if missing:
            raise TaskInputError(f"task kind {cls.kind!r} needs {', '.join(map(repr, missing))}")
        return cls(**dict(inputs))


@dataclasses.dataclass(frozen=True, kw_only=True)
class _OneOrMany(TaskInputs):
    """A kind that runs on ``structure`` or on ``structures`` (several run together)."""

    structure: dict[str, Any] | None = None
    structures: list[dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        if (self.structure is None) == (self.structures is None):
            raise TaskInputError(
                f"task kind {self.kind!r} takes exactly one of 'structure' and 'structures'"
            )


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Model:
    """The MLIP fields (:class:`~halidelab.potentials.Potential`)."""

    model: str = "chgnet"
    device: str = "auto"
    modal: str | None = None

    def potential(self) -> Any:
        """The :class:`~halidelab.potentials.Potential` these fields name."""
        from halidelab.potentials import Potential

        return Potential(self.model, device=self.device, modal=self.modal)


@dataclasses.dataclass(frozen=True, kw_only=True)
class DesignInputs(TaskInputs):
    """``design``: charge balance and rules of one composition."""

    kind: ClassVar[str] = "design"
    parent: str
    substitutions: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    oxidation_states: dict[str, float] | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelsInputs(TaskInputs):
    """``models``: ordered (annealed) or cation-disordered (ball-milled) supercells
    (:func:`halidelab.structures.models.build_models`)."""

    kind: ClassVar[str] = "models"
    parent: str
    substitutions: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    oxidation_states: dict[str, float] | None = None
    polymorph: str | None = None
    supercell: Any = "auto"
    max_atoms: int = 200
    n_configs: int = 5
    seed: int = 0
    sweeps: int = 100
    state: str = "annealed"
    milling_temperature_K: float = 1000.0
    dielectric: float = 10.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class RelaxInputs(_Model, _OneOrMany):
    """``relax``: positions and cell (:func:`halidelab.relax.relax_structures`)."""

    kind: ClassVar[str] = "relax"
    fmax: float = 0.05
    steps: int = 500
    relax_cell: bool = True
    #: Cell relaxations also converge every stress component below this, GPa; None: the
    #: force criterion alone (the relaxations stored before it existed keep their keys).
    stress_tol_GPa: float | None = 0.05
    #: When set, the relaxed cell is expanded to its lattice at this temperature (K) by its
    #: thermal stress (:func:`halidelab.thermal.thermal_lattice`): the result's
    #: ``structure`` is then that lattice, the static one is kept in ``structure_0K``.
    #: These four fields enter the inputs (and the key) only when it is set, so the keys
    #: of static relaxations are those stored before it existed.
    temperature_K: float | None = None
    thermal_md_ps: float = 1.0
    thermal_iterations: int = 2
    #: "anisotropic" (every component of the mean stress to zero) or "isotropic" (the
    #: volume alone, the 0 K shape kept: every thermal lattice stored before the
    #: anisotropic path existed, whose inputs have no such field).
    thermal_shape: str = "anisotropic"

    def __post_init__(self) -> None:
        super().__post_init__()
        tol = self.stress_tol_GPa
        if tol is not None and not (
            isinstance(tol, int | float) and not isinstance(tol, bool) and 0 < tol < float("inf")
        ):
            raise TaskInputError(
                f"stress_tol_GPa must be a positive number of GPa or None, got {tol!r}"
            )
        if self.thermal_shape not in ("anisotropic", "isotropic"):
            raise TaskInputError(
                f"thermal_shape must be 'anisotropic' or 'isotropic', got {self.thermal_shape!r}"
            )
        if self.temperature_K is not None and not (
            float(self.temperature_K) > 0 and self.relax_cell
        ):
            raise TaskInputError(
                "temperature_K must be > 0 K and needs relax_cell (the cell it expands), "
                f"got {self.temperature_K} with relax_cell={self.relax_cell}"
            )

    @classmethod
    def parse(cls, inputs: Mapping[str, Any]) -> TaskInputs:
        """As :meth:`TaskInputs.parse`, but inputs without ``stress_tol_GPa`` (every task
        stored before the stress criterion existed, whose key hashes no such field) mean the
        force criterion alone, as they did when they were computed; thermal lattices
        stored without ``thermal_shape`` were expanded isotropically."""
        if "stress_tol_GPa" not in inputs:
            inputs = {**inputs, "stress_tol_GPa": None}
        if inputs.get("temperature_K") is not None and "thermal_shape" not in inputs:
            inputs = {**inputs, "thermal_shape": "isotropic"}
        return super().parse(inputs)

    def to_json(self) -> dict[str, Any]:
        """As :meth:`TaskInputs.to_json`, without the thermal fields of a static relaxation
        (and without ``thermal_shape`` when isotropic: the method of every thermal lattice
        stored before the field existed) and without ``stress_tol_GPa`` when it is None
        (the force criterion alone) or has nothing to act on (``relax_cell`` False:
        positions-only relaxations keep their keys)."""
        data = super().to_json()
        if self.stress_tol_GPa is None or not self.relax_cell:
            data.pop("stress_tol_GPa")
        if self.temperature_K is None:
            for name in ("temperature_K", "thermal_md_ps", "thermal_iterations", "thermal_shape"):
                data.pop(name)
        elif self.thermal_shape == "isotropic":
            data.pop("thermal_shape")  # the inputs (and key) of the isotropic results stored
        return data


@dataclasses.dataclass(frozen=True, kw_only=True)
class BVSEInputs(TaskInputs):
    """``bvse``: map and percolation barriers (:func:`halidelab.transport.bvse.bvse`).
    ``volume_per_atom_A3``: map the structure scaled isotropically to this volume per
    atom (A^3; :func:`scaled_to_volume`), e.g. a relaxed cell at its measured volume; None
    (default, and then not in the inputs: every earlier key holds) maps it as it is."""

    kind: ClassVar[str] = "bvse"
    structure: dict[str, Any]
    resolution_A: float = 0.2
    e_max_eV: float = 5.0
    volume_per_atom_A3: float | None = None

    def __post_init__(self) -> None:
        _check_volume(self.volume_per_atom_A3, "bvse")

    def to_json(self) -> dict[str, Any]:
        """As :meth:`TaskInputs.to_json`, without ``volume_per_atom_A3`` when None."""
        data = super().to_json()
        if self.volume_per_atom_A3 is None:
            data.pop("volume_per_atom_A3")
        return data


def _check_volume(v: float | None, kind: str) -> None:
    if v is not None and not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
        raise TaskInputError(f"{kind} volume_per_atom_A3 must be a volume > 0 A^3, got {v!r}")


#: where the BVSE-based tiers take a relaxed cell's volume from: ``relaxed`` (as relaxed)
#: or ``model`` (the ordered model's it started from: the measured cell, or a design's
#: template scaled by its bond lengths)
BVSE_VOLUMES = ("relaxed", "model")


def check_bvse_volume(bvse_volume: str) -> None:
    """Refuse a ``bvse_volume`` that is not one of :data:`BVSE_VOLUMES` (one line)."""
    if bvse_volume not in BVSE_VOLUMES:
        raise TaskInputError(
            f"--bvse-volume must be one of {', '.join(BVSE_VOLUMES)}, got {bvse_volume!r}"
        )


def bvse_volume_per_atom(
    bvse_volume: str, model_structure: dict[str, Any], relaxed: dict[str, Any] | None
) -> float | None:
    """``volume_per_atom_A3`` of a BVSE or BVSE-network KMC task on a relaxed ordering:
    its ordered model's volume per atom (A^3) when ``bvse_volume`` is ``"model"`` and it
    was relaxed, else None (the relaxed cell as it is)."""
    check_bvse_volume(bvse_volume)
    if bvse_volume != "model" or not relaxed:
        return None
    (a, b, c) = (tuple(float(v) for v in row) for row in model_structure["lattice"]["matrix"])
    det = (
        a[0] * (b[1] * c[2] - b[2] * c[1])
        - a[1] * (b[0] * c[2] - b[2] * c[0])
        + a[2] * (b[0] * c[1] - b[1] * c[0])
    )
    return abs(det) / len(model_structure["sites"])


def scaled_to_volume(structure: Any, volume_per_atom_A3: float | None) -> Any:
    """A copy of a pymatgen ``Structure`` scaled isotropically (fractional coordinates and
    cell angles kept) to ``volume_per_atom_A3`` (A^3 per atom); the structure itself when
    None."""
    if volume_per_atom_A3 is None:
        return structure
    out = structure.copy()
    out.scale_lattice(float(volume_per_atom_A3) * len(out))
    return out


@dataclasses.dataclass(frozen=True, kw_only=True)
class XRDInputs(TaskInputs):
    """``xrd``: simulated powder pattern (:func:`halidelab.structures.xrd.simulate_pattern`)."""

    kind: ClassVar[str] = "xrd"
    structure: dict[str, Any]
    wavelength: str | float = "CuKa"
    two_theta_range_deg: tuple[float, float] = (10.0, 80.0)


@dataclasses.dataclass(frozen=True, kw_only=True)
class PriorInputs(TaskInputs):
    """``prior``: data-driven log10 sigma; ``model_sha256`` only ties the key to the
    shipped prior model (a new model recomputes)."""

    kind: ClassVar[str] = "prior"
    formula: str
    model_sha256: str | None = None

    @classmethod
    def of(cls, formula: str) -> PriorInputs:
        """Inputs for ``formula`` tied to the installed prior model."""
        from halidelab.prior.model import installed_model_sha256

        return cls(formula=formula, model_sha256=installed_model_sha256())


@dataclasses.dataclass(frozen=True, kw_only=True)
class NEBInputs(_Model, _OneOrMany):
    """``neb``: CI-NEB study (:func:`halidelab.transport.neb.neb_studies`)."""

    kind: ClassVar[str] = "neb"
    hops: str = "distinct"
    n_images: int = 5
    fmax: float = 0.05
    steps: int = 500
    endpoint_steps: int = 300
    interstitials: bool = True
    create_vacancies: bool = True
    max_interstitials: int = 3


@dataclasses.dataclass(frozen=True, kw_only=True)
class MDInputs(_Model, TaskInputs):
    """``md``: NVT MD at one temperature (:func:`halidelab.transport.md.run_md`) and its
    analysis (:func:`halidelab.transport.diffusion.analyse_trajectory`)."""

    kind: ClassVar[str] = "md"
    structure: dict[str, Any]
    temperature_K: float
    steps: int
    trajectory: str
    timestep_fs: float = 2.0
    seed: int = 0
    skip_ps: float = 0.0


#: How a BVSE network's hops get their prefactors
#: (:func:`halidelab.transport.kmc.network_from_bvse`).
KMC_PREFACTORS = PREFACTORS


@dataclasses.dataclass(frozen=True, kw_only=True)
class KMCInputs(TaskInputs):
    """``kmc``: KMC on a cell's hop network (:func:`halidelab.transport.kmc.run_kmc`);
    ``source`` ``neb`` needs the stored study in ``study``. ``vacancies``: Li taken out of
    each cell of a BVSE network (:func:`~halidelab.transport.kmc.network_from_bvse`; 0, the
    default, stays out of the inputs, so every earlier key holds). ``bvse_saddle``: how a
    BVSE network places its sites and saddles (``path``: basin minima and minimum-energy
    paths; ``line``: hole centres and straight lines, the method before 2026-12); in the
    inputs of a BVSE network only, so its keys changed with the method and an NEB
    network's did not. ``volume_per_atom_A3``: a BVSE network of the structure scaled to
    this volume per atom (as :class:`BVSEInputs`; None, the default, stays out of the
    inputs). ``prefactors``: a BVSE network's hop prefactors, ``fixed`` (one attempt
    frequency, the default, out of the inputs) or ``harmonic`` (each hop's Vineyard
    prefactor in the BVSE field: ``network_from_bvse``)."""

    kind: ClassVar[str] = "kmc"
    structure: dict[str, Any]
    temperatures_K: list[float]
    source: str = "bvse"
    study: dict[str, Any] | None = None
    level: str | None = None
    n_runs: int = 8
    hops_per_carrier: float = 200.0
    seed: int = 0
    superbasin_ratio: float | None = 100.0
    vacancies: int = 0
    bvse_saddle: str = "path"
    volume_per_atom_A3: float | None = None
    prefactors: str = "fixed"

    def __post_init__(self) -> None:
        _check_volume(self.volume_per_atom_A3, "kmc")
        if self.prefactors not in KMC_PREFACTORS:
            raise TaskInputError(
                f"kmc prefactors must be one of {', '.join(KMC_PREFACTORS)}, "
                f"got {self.prefactors!r}"
            )
        if self.prefactors != "fixed" and (self.source != "bvse" or self.bvse_saddle != "path"):
            raise TaskInputError(
                "kmc harmonic prefactors are for BVSE networks on minimum-energy paths"
            )
        if self.volume_per_atom_A3 is not None and self.source != "bvse":
            raise TaskInputError(
                "kmc volume_per_atom_A3 is for BVSE networks (an NEB study has its own cell)"
            )
        if self.source not in ("bvse", "neb"):
            raise TaskInputError(f"kmc source must be 'bvse' or 'neb', got {self.source!r}")
        if self.bvse_saddle not in ("path", "line"):
            raise TaskInputError(
                f"kmc bvse_saddle must be 'path' or 'line', got {self.bvse_saddle!r}"
            )
        if self.source == "neb" and not self.study:
            raise TaskInputError("a kmc task on an NEB network needs the study ('study')")
        if not isinstance(self.vacancies, int) or self.vacancies < 0:
            raise TaskInputError(f"kmc vacancies must be an integer >= 0, got {self.vacancies!r}")
        if self.vacancies and self.source != "bvse":
            raise TaskInputError("kmc vacancies are for BVSE networks (an NEB study makes its own)")

    def to_json(self) -> dict[str, Any]:
        """As :meth:`TaskInputs.to_json`, without ``vacancies`` when 0 (every key stored
        before it existed), without ``bvse_saddle`` on an NEB network (which has none) and
        without ``prefactors`` when fixed."""
        data = super().to_json()
        if not self.vacancies:
            data.pop("vacancies")
        if self.source != "bvse":
            data.pop("bvse_saddle")
        if self.volume_per_atom_A3 is None:
            data.pop("volume_per_atom_A3")
        if self.prefactors == "fixed":
            data.pop("prefactors")
        return data


@dataclasses.dataclass(frozen=True, kw_only=True)
class DefectInputs(_Model, TaskInputs):
    """``defects``: Frenkel and Schottky formation energies of Li in a structure whose Li
    sublattice is full (:func:`halidelab.transport.defects.li_defect_energies`)."""

    kind: ClassVar[str] = "defects"
    structure: dict[str, Any]
    min_width_A: float = 9.0
    max_atoms: int = 260
    fmax: float = 0.05
    steps: int = 300
    n_relax: int = 3


#: Kind -> its inputs dataclass.
TASK_INPUTS: dict[str, type[TaskInputs]] = {
    cls.kind: cls
    for cls in (
        DesignInputs,
        ModelsInputs,
        RelaxInputs,
        BVSEInputs,
        XRDInputs,
        PriorInputs,
        NEBInputs,
        MDInputs,
        KMCInputs,
        DefectInputs,
    )
}
