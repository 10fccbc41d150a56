"""Screen settings: the tiers a screen knows and the parameters of its expensive tiers."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from halidelab.errors import HalidelabError
from halidelab.records import Provenance, Record
from halidelab.screening.inputs import check_bvse_volume

#: Tiers a screen knows, in execution order.
SCREEN_TIERS = ("rules", "prior", "models", "relax", "bvse", "stability", "neb", "kmc")
#: Tiers that need relaxed structures (they add ``models`` and ``relax``).
NEEDS_RELAX = ("stability", "neb", "kmc")
#: Default dopant-host mismatch (ionic radii, CN 6) above which a candidate is pruned, %:
#: none. A 15 % rule of thumb pruned Ta5+ in Li3InCl6 (-20 %), measured to raise sigma;
#: substitutions up to :data:`halidelab.rules.MEASURED_MISMATCH_PERCENT` have been made
#: and measured. Pruning by mismatch is the user's explicit choice (``--max-mismatch``).
DEFAULT_MAX_MISMATCH_PERCENT: float | None = None
#: Synthesis states a screen builds its models in (``ScreenSettings.state``): the Ewald
#: ground state of the sites (annealed) or their disorder sampled at the quench temperature
#: (:func:`halidelab.structures.models.build_models`, ``state="quenched"``).
SCREEN_STATES = ("annealed", "quenched")
#: The quenched models' largest cell and KMC events per Li: those of ``halidelab validate``'s
#: wide cells (``ValidateSettings.milled_max_atoms`` and ``milled_kmc_hops``; written here,
#: not imported, to keep this module free of science; tests hold them equal), so that a
#: calibration of ``validate --annealed-state quenched`` applies to values made alike.
WIDE_MAX_ATOMS = 320
WIDE_KMC_HOPS = 800.0


@dataclasses.dataclass(frozen=True)
class ScreenSettings(Record):
    """Parameters of the expensive tiers (they go into the task keys).

    Attributes
    ----------
    tiers : tuple of str
        Subset of :data:`SCREEN_TIERS` (``rules`` is always run).
    max_mismatch_percent : float
    prune_structure_change : bool
    model : str
        MLIP for relaxation.
    max_atoms : int
        Largest supercell for the models.
    relax_steps : int
    fmax_eV_A : float
    bvse_resolution_A : float
    seed : int
    include_parent : bool
        Also model the undoped parent (x = 0), the reference of every series.
    n_configs : int
        Orderings per candidate for the models, relax and bvse tiers (the ranking uses the
        lowest-energy one and shows the spread over all of them).
    neb_top : int
        NEB runs for this many doped candidates only, the best by the cheaper tiers.
    neb_images, neb_steps : int
        CI-NEB images per hop and optimiser steps (also the endpoint relaxation steps).
    reference_steps : int
        Optimiser steps of each competing-phase relaxation (``stability`` tier).
    kmc_temperatures_K, kmc_runs, kmc_hops
        Kinetic Monte Carlo (``kmc`` tier) on every relaxed ordering's BVSE network and on
        the NEB networks the ``neb`` tier computed: temperatures (K), independent runs per
        temperature, hops per Li.
    bvse_volume : str
        ``relaxed`` (default): the BVSE tier and the BVSE networks of the kmc tier map the
        relaxed orderings as they are; ``model``: scaled to their ordered models' volume
        (the parent's measured cell, scaled by the bond lengths for the dopant), as
        ``halidelab validate --bvse-volume model`` does, so that its calibrations apply.
    state : str
        ``annealed`` (default): each composition's models are the Ewald ground state of its
        sites (:func:`halidelab.structures.models.build_models`); ``quenched``: their site
        disorder sampled at the quench temperature, on cells 11.5 A wide within
        ``wide_max_atoms`` and with ``wide_kmc_hops`` KMC events per Li, as the quenched
        reference models of ``halidelab validate --annealed-state quenched`` (whose
        calibrations apply only to values made that way, and theirs only to those). The
        ``stability`` tier then gives the quenched cells' energy above the hull: their
        disorder costs energy, and its configurational entropy is not subtracted.
    wide_max_atoms : int
        Largest cell of a quenched model (the ``max_atoms`` of the annealed ones).
    wide_kmc_hops : float
        KMC events per Li on the quenched models' networks (their disorder traps Li
        longer; ``kmc_hops`` for the annealed ones).
    """

    tiers: tuple[str, ...] = ("rules", "prior")
    max_mismatch_percent: float | None = DEFAULT_MAX_MISMATCH_PERCENT
    prune_structure_change: bool = False
    model: str = "chgnet"
    max_atoms: int = 140
    relax_steps: int = 250
    fmax_eV_A: float = 0.05
    bvse_resolution_A: float = 0.25
    seed: int = 0
    include_parent: bool = True
    n_configs: int = 3
    neb_top: int = 5
    neb_images: int = 5
    neb_steps: int = 300
    reference_steps: int = 300
    kmc_temperatures_K: tuple[float, ...] = (298.15, 323.15, 348.15, 373.15)
    kmc_runs: int = 8
    kmc_hops: float = 200.0
    bvse_volume: str = "relaxed"
    state: str = "annealed"
    wide_max_atoms: int = WIDE_MAX_ATOMS
    wide_kmc_hops: float = WIDE_KMC_HOPS
    provenance: Provenance = dataclasses.field(
        default_factory=lambda: Provenance(method="screening plan")
    )

    def __post_init__(self) -> None:
        check_bvse_volume(self.bvse_volume)
        if self.state not in SCREEN_STATES:
            raise HalidelabError(
                f"--state must be one of {', '.join(SCREEN_STATES)}, got {self.state!r}"
            )
        for name in ("kmc_hops", "wide_kmc_hops"):
            if not getattr(self, name) > 0:
                raise HalidelabError(
                    f"{name} must be a number of KMC events per Li > 0, got {getattr(self, name)}"
                )
        if int(self.n_configs) != self.n_configs or self.n_configs < 1:
            raise HalidelabError(f"--configs must be an integer >= 1, got {self.n_configs}")
        if int(self.neb_top) != self.neb_top or self.neb_top < 1:
            raise HalidelabError(f"--neb-top must be an integer >= 1, got {self.neb_top}")
        for name in (
            "neb_images",
            "neb_steps",
            "reference_steps",
            "relax_steps",
            "max_atoms",
            "wide_max_atoms",
        ):
            if getattr(self, name) < 1:
                raise HalidelabError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def models_max_atoms(self) -> int:
        """Largest model cell of this state (``wide_max_atoms`` when quenched)."""
        return self.wide_max_atoms if self.state == "quenched" else self.max_atoms

    @property
    def hops_per_carrier(self) -> float:
        """KMC events per Li of this state's models (``wide_kmc_hops`` when quenched)."""
        return self.wide_kmc_hops if self.state == "quenched" else self.kmc_hops


def normalise_tiers(tiers: Sequence[str]) -> tuple[str, ...]:
    """Validate tiers; add ``rules``, ``models`` for relax/bvse, ``models`` and ``relax``
    for stability/neb (both work on relaxed structures)."""
    names = [t.strip().lower() for t in tiers if t.strip()]
    bad = [t for t in names if t not in SCREEN_TIERS]
    if bad:
        raise HalidelabError(
            f"unknown tier(s) {', '.join(bad)}: choose from {', '.join(SCREEN_TIERS)}"
        )
    chosen = set(names) | {"rules"}
    if chosen & set(NEEDS_RELAX):
        chosen.add("relax")
    if chosen & {"relax", "bvse"}:
        chosen.add("models")
    return tuple(t for t in SCREEN_TIERS if t in chosen)
