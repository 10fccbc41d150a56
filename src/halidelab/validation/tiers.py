"""The prediction tiers of ``halidelab validate``: one table, tier name -> :class:`TierSpec`.

A tier says which task it runs for one reference material (given what earlier stages
returned) and how its stored result becomes predictions of the measured targets:

===========  =====  ==========  ===========================================================
tier         stage  per model   prediction
===========  =====  ==========  ===========================================================
model        0      no          (ordered structure; kind ``reference-model``)
relax        1      yes         (relaxed structure; kind ``relax``)
bvse         2      if relaxed  Ea = BVSE 3D percolation barrier; log10 sigma by Arrhenius
neb          2      yes         Ea = NEB 3D percolation barrier; log10 sigma by Arrhenius
prior        2      no          log10 sigma = the data-driven prior's
defect       2      yes         the NEB (else BVSE) barrier plus half the Li defect
                                formation energy where the Li sublattice is full;
                                log10 sigma by Arrhenius with the intrinsic carriers
kmc          3      yes         Ea and log10 sigma(25 C) from KMC at 25-100 C on the NEB
                                network when the neb tier ran, else the BVSE network;
                                with the defect tier, a full sublattice's vacancies are
                                the intrinsic ones (below)
===========  =====  ==========  ===========================================================

Adding a tier (the lead's ``kmc``) is one :class:`TierSpec` in :data:`TIERS`: a ``task``
function (material context -> :class:`~halidelab.screening.tasks.Task` or None) and a
``predict`` function (stored result, context -> ``{target: Prediction}``).

Barrier -> conductivity (tiers that predict only a barrier): the random-walk
Nernst-Einstein estimate with every Li a carrier,

    sigma(T) = n_Li e^2 a^2 nu0 / (6 k_B T) * exp(-Ea / (k_B T)),

n_Li from the (relaxed) model, hop length a = :data:`HOP_LENGTH_A` (3.0 A, the
octahedral-site spacing of close-packed halides) and attempt frequency nu0 =
:data:`ATTEMPT_FREQUENCY_HZ` (1e13 Hz). The prefactor is stated, not fitted; the
calibration (LOO) maps its log10 sigma onto the measured one.

Defect tier (:mod:`halidelab.transport.defects`): a model whose Li sites are all
occupied conducts through the Li vacancies that Frenkel or Schottky pairs make, a
fraction c(T) = sqrt(ratio) exp(-E_f / 2 k_B T) of the Li, so

    Ea = E_m + E_f / 2,   sigma(T) = c(T) x the estimate above at E_m,

with E_m the NEB 3D percolation barrier when the campaign has the neb tier, else the
BVSE one. A model with vacant Li sites (structural vacancies, as Li2ZrCl6 and Li3YCl6)
gets E_m and every Li a carrier, as the barrier tiers do: those vacancies are there
without being made.

The intrinsic fraction is the intrinsic regime's: at 25 C the carriers of a poor conductor
may instead be set by impurities or non-stoichiometry (the extrinsic regime of the alkali
halides, where Ea = E_m), which no tier knows. A model whose formation energies are soft
then lands nearer the measured sigma than one whose energies are not, for the wrong
reason; the issue note gives the numbers.

KMC with the defect tier: where the NEB study took Li out of a full sublattice, the KMC
runs with the cell's vacancy fraction x_cell (e.g. 2 of 16 Li sites), not a computed one.
In a campaign with the defect tier such a material's KMC sigma is rescaled to the
intrinsic fraction, sigma = sigma_KMC x c(25 C) / x_cell, and Ea = Ea_KMC + E_f / 2
(dilute, non-interacting vacancies: sigma proportional to their number; at x_cell <= 0.125
the blocking factor (1 - x) moves it by <= 0.06 log units). A full sublattice without a
formation energy then has no KMC value (one tier, one method); materials with vacant Li
sites keep the KMC value as it is.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from halidelab.constants import A3_TO_CM3, E_CHARGE_C, K_B_EV_K, K_B_J_K, ROOM_TEMPERATURE_K
from halidelab.ensemble import (
    kmc_room_temperature_problem,
    kmc_room_temperature_upper,
    kmc_usable_points,
)
from halidelab.screening.inputs import (
    BVSEInputs,
    DefectInputs,
    KMCInputs,
    NEBInputs,
    PriorInputs,
    RelaxInputs,
    bvse_volume_per_atom,
)
from halidelab.screening.settings import SCREEN_STATES
from halidelab.screening.tasks import Task
from halidelab.transport.kmc.run import MILLED_HOPS_PER_CARRIER
from halidelab.validation.structures import (
    MILLED_MAX_ATOMS,
    MILLED_MIN_WIDTH_A,
    MIN_WIDTH_A,
    parse_construction,
)

#: hop length of the Arrhenius estimate, A
HOP_LENGTH_A = 3.0
#: attempt frequency of the Arrhenius estimate, Hz
ATTEMPT_FREQUENCY_HZ = 1e13
#: targets a tier can predict
TARGETS = ("ea_eV", "log10_sigma_S_cm")


@dataclasses.dataclass(frozen=True)
class Prediction:
    """One predicted value of a target.

    Attributes
    ----------
    value : float
        eV or log10(S/cm).
    spread : float
        Standard deviation over the material's ordering ensemble (0: one ordering).
    note : str
        How it was obtained.
    """

    value: float
    spread: float = 0.0
    note: str = ""


@dataclasses.dataclass(frozen=True)
class ValidateSettings:
    """Parameters of a validation campaign (they go into the task keys).

    Attributes
    ----------
    max_atoms, seed : int
        Model size bound and ordering seed.
    relax_steps : int
    fmax_eV_A : float
    bvse_resolution_A : float
    neb_images, neb_steps : int
    orderings : int
        Orderings per material (the lowest in Ewald energy of the reference model's
        search, :func:`~halidelab.validation.structures.build_reference_model`): every tier
        but the prior runs on each, and a material's prediction is their uniform mean,
        with the spread between them in its ``spread``. The default, 3, is what
        ``screen`` and ``compare`` average over, so a calibration is fitted on the kind
        of value it is applied to; where the Li sit moves a relaxed model's BVSE barrier
        by up to 0.1 eV and its KMC sigma by up to 1.4 decades (CHGNet, measured on the
        reference set), as much as the calibrated errors. The first ordering is the one
        a single-ordering campaign (``orderings=1``) builds, so its results are shared.
    milled_min_width_A : float
        Smallest face-to-face width of a ball-milled reference model's cell, A
        (:mod:`halidelab.validation.structures`); in the task key of milled rows only.
    milled_max_atoms : int
        Largest ball-milled reference model.
    kmc_hops : float
        KMC events per Li of each run (:func:`~halidelab.transport.kmc.run_kmc`, which
        extends a run that is not diffusive 4x at a time, up to 64x).
    milled_kmc_hops : float
        The same for the ball-milled (and quenched) rows (default
        :data:`~halidelab.transport.kmc.run.MILLED_HOPS_PER_CARRIER`, 4x the 200 of the
        others: why there); in the task key of milled rows only.
    annealed_min_width_A : float
        Smallest face-to-face width of an annealed model's cell, A (default 8, the
        models' :data:`~halidelab.structures.models.MIN_WIDTH_A`); 11.5 puts the annealed
        models on the cells of the milled ones, so that a synthesis pair compares two states
        on one cell size (with ``max_atoms`` large enough: 240 for trigonal Li3MCl6). In
        the task key of annealed rows only when not the default.
    lattice_temperature_K : float or None
        When set, every relaxed model is expanded to its lattice at this temperature (its
        thermal pressure in NVT MD against its bulk modulus,
        :func:`halidelab.thermal.thermal_lattice`) before the tiers that use it: the
        measured conductivities are room-temperature ones, and a 0 K lattice gives the
        barriers of a compressed crystal. None (default): the static lattice, as stored
        before this existed. In the relax task's key only when set.
    thermal_md_ps : float
        Length of each NVT run of that expansion, ps.
    thermal_iterations : int
        NVT runs of that expansion (:func:`halidelab.thermal.thermal_lattice`'s
        ``iterations``).
    bvse_volume : str
        The cell the BVSE tier and the KMC tier's BVSE networks see: ``"relaxed"``
        (default) the MLIP-relaxed one; ``"model"`` the relaxed cell scaled isotropically
        (fractional coordinates and cell shape kept) to the volume of the ordered model it
        started from, that is the measured cell (a designed composition: its template's,
        scaled by the mean M-X bond length). Bond-valence parameters are fitted to measured
        bond lengths, and CHGNet swells some halides by 10-25 % (LiGaBr4, Li3ErI6,
        LiAlCl4: :data:`~halidelab.validation.metrics.VOLUME_FLAG_PERCENT` flags them),
        which lowers their BVSE barriers; the MLIP tiers (NEB, defects) keep the relaxed
        cell, whose energies it is the minimum of. In the task keys only when ``"model"``;
        not with ``lattice_temperature_K`` (the measured cell is a room-temperature one).
        Not the default, from the shipped set (CHGNet, three orderings; issue 14 note,
        2026-12-07): the KMC tier's calibrated sigma error 0.65 against 0.62 decades
        (raw 2.37 against 1.24: every cell slower), and the BVSE tier's 1.06 against 1.35
        only through a steeper backwards map (slope -0.40).
    annealed_state : str
        How the rows without a state suffix (annealed, ampoule-made or wet-made samples)
        are modelled: ``"annealed"`` (default) the Ewald ground state of their sites;
        ``"quenched"`` the site disorder of the file sampled at a fictive temperature
        (:func:`~halidelab.validation.reference.quenched_rows`: ``;quenched`` after each
        such construction of a partially occupied file or a design, on the wide cells and
        with the KMC events per Li of the ball-milled rows). Through the constructions it
        changes the task keys of those rows only; its calibrations record it
        (:func:`method_of`), and apply to designs built the same way (``screen --state
        quenched``, ``reproduce --annealed-state quenched``). Not the default: on the
        shipped set (three orderings; issue 14 notes, 2026-12-07) it gives the KMC tier
        an Ea that ranks the set (leave-one-out MAE 0.058 against 0.070 eV with CHGNet,
        0.033 against 0.063 with SevenNet-0; Spearman 0.67 and 0.69) and a better
        substitution ranking, but no better sigma (0.81 against 0.80 decades, and 0.74
        against 0.62), on cells of up to four times the atoms (Li3YCl6 240 against 60).
    kmc_prefactors : str
        Hop prefactors of the BVSE KMC networks: ``"fixed"`` (default, one attempt
        frequency of 1e13 Hz) or ``"harmonic"`` (each hop's Vineyard prefactor of a Li in
        the frozen host's BVSE field, :func:`~halidelab.transport.kmc.network_from_bvse`);
        in the KMC task keys and the calibrations' settings only when harmonic. NEB
        networks keep the fixed one. Not the default: on the shipped set (CHGNet,
        Ewald-ordered, three orderings; issue 14 notes, 2026-12-07) the harmonic
        prefactors are 1.2-4.3 THz (median per network), the raw KMC sigma falls by
        0.7-1.5 decades (raw MAE 2.01 against 1.36), and the held-out sigma and Ea errors
        are unchanged (0.781 against 0.777 decades, 0.071 against 0.070 eV).
    """

    max_atoms: int = 160
    seed: int = 0
    relax_steps: int = 250
    fmax_eV_A: float = 0.05
    bvse_resolution_A: float = 0.25
    neb_images: int = 5
    neb_steps: int = 300
    kmc_temperatures_K: tuple[float, ...] = (298.15, 323.15, 348.15, 373.15)
    kmc_runs: int = 8
    kmc_hops: float = 200.0
    orderings: int = 3
    milled_min_width_A: float = MILLED_MIN_WIDTH_A
    milled_max_atoms: int = MILLED_MAX_ATOMS
    milled_kmc_hops: float = MILLED_HOPS_PER_CARRIER
    annealed_min_width_A: float = MIN_WIDTH_A
    lattice_temperature_K: float | None = None
    thermal_md_ps: float = 1.0
    thermal_iterations: int = 2
    bvse_volume: str = "relaxed"
    annealed_state: str = "annealed"
    kmc_prefactors: str = "fixed"


#: what ``ValidateSettings.annealed_state`` may be (the states a screen builds too)
ANNEALED_STATES = SCREEN_STATES


@dataclasses.dataclass
class MaterialContext:
    """What a tier sees for one reference material (and one MLIP, for per-model tiers).

    Attributes
    ----------
    entry : ReferenceEntry
        The material's primary row.
    model : str or None
        MLIP name for per-model tiers; None for model-free ones.
    settings : ValidateSettings
    tiers : tuple of str
        Tiers of this campaign.
    results : dict
        Tier -> stored result of the earlier stages (for this material, model and
        ordering).
    ordering : int
        Which of the reference model's orderings (0: the first).
    """

    entry: Any
    model: str | None
    settings: ValidateSettings
    tiers: tuple[str, ...]
    results: dict[str, Any] = dataclasses.field(default_factory=dict)
    ordering: int = 0

    @property
    def structure(self) -> dict[str, Any] | None:
        """The relaxed structure when relaxed, else the ordered model (None if neither)."""
        relaxed = self.results.get("relax")
        if relaxed:
            return relaxed["structure"]
        return self._model_structure()

    def _model_structure(self) -> dict[str, Any] | None:
        """This ordering's ordered model (None when not built)."""
        model = self.results.get("model")
        if not model:
            return None
        return model["structure"] if self.ordering == 0 else model["orderings"][self.ordering - 1]

    @property
    def bvse_volume_per_atom_A3(self) -> float | None:
        """The volume per atom (A^3) the BVSE-based tasks scale the relaxed structure to:
        the ordered model's, when ``settings.bvse_volume`` is ``"model"`` and it was
        relaxed; else None (the structure as it is)."""
        built = self._model_structure()
        if built is None:
            return None
        return bvse_volume_per_atom(self.settings.bvse_volume, built, self.results.get("relax"))

    @property
    def label(self) -> str:
        return (
            f"{self.entry.composition} [{self.entry.id}]"
            + (f" ordering {self.ordering}" if self.ordering else "")
            + (f" {self.model}" if self.model else "")
        )


@dataclasses.dataclass(frozen=True)
class TierSpec:
    """One tier of the validation.

    Attributes
    ----------
    name : str
    stage : int
        Tiers of one stage run together; a stage sees the results of earlier ones.
    per_model : Callable[[tuple[str, ...]], bool]
        Whether the tier runs once per MLIP, given the campaign's tiers.
    requires : tuple of str
        Tiers it needs (added automatically).
    task : Callable[[MaterialContext], Task | None]
    predict : Callable[[dict, MaterialContext], dict[str, Prediction]] or None
    description : str
    explain : Callable[[dict, MaterialContext], str] or None
        Why a computed result gives no prediction (in words, for the row's note), where
        a tier can compute and still have no value.
    limit : Callable[[dict, MaterialContext], dict[str, Prediction]] or None
        Upper limits (target -> limit as a :class:`Prediction`'s value) where a computed
        result gives no value but bounds it: a KMC run at 25 C that stayed sub-diffusive
        bounds sigma from above. They classify (good/poor) but enter no MAE, Spearman or
        calibration fit, like a measured upper limit.
    """

    name: str
    stage: int
    per_model: Callable[[tuple[str, ...]], bool]
    requires: tuple[str, ...]
    task: Callable[[MaterialContext], Task | None]
    predict: Callable[[dict[str, Any], MaterialContext], dict[str, Prediction]] | None
    description: str
    explain: Callable[[dict[str, Any], MaterialContext], str] | None = None
    limit: Callable[[dict[str, Any], MaterialContext], dict[str, Prediction]] | None = None


def arrhenius_log10_sigma(
    ea_eV: float,
    structure: dict[str, Any],
    temperature_K: float = ROOM_TEMPERATURE_K,
    hop_length_A: float = HOP_LENGTH_A,
    attempt_frequency_Hz: float = ATTEMPT_FREQUENCY_HZ,
) -> float:
    """log10 sigma (S/cm) of the random-walk Nernst-Einstein estimate (module docstring).

    Parameters
    ----------
    ea_eV : float
        Barrier, eV.
    structure : dict
        pymatgen ``Structure.as_dict()``; gives the Li density.
    temperature_K, hop_length_A, attempt_frequency_Hz : float
    """
    from pymatgen.core import Structure

    s = Structure.from_dict(structure)
    n_li_cm3 = s.composition["Li"] / (s.volume * A3_TO_CM3)
    a_cm = hop_length_A * 1e-8
    # (cm^-3)(C^2)(cm^2)(1/s) / (J/K * K) = C^2 / (J s cm) = S/cm
    pre = (
        n_li_cm3 * E_CHARGE_C**2 * a_cm**2 * attempt_frequency_Hz / (6.0 * K_B_J_K * temperature_K)
    )
    return math.log10(pre) - ea_eV / (K_B_EV_K * temperature_K * math.log(10.0))


def _always(_tiers: tuple[str, ...]) -> bool:
    return True


def _never(_tiers: tuple[str, ...]) -> bool:
    return False


def _if_relaxed(tiers: tuple[str, ...]) -> bool:
    return "relax" in tiers


# -- tasks ----------------------------------------------------------------------------------
def model_task(ctx: MaterialContext) -> Task:
    """``reference-model`` task of the material."""
    from halidelab.validation.reference import resolve_structure_file
    from halidelab.validation.structures import file_sha256

    e = ctx.entry
    # a disordered (ball-milled or quenched) model is built on the wide cell
    milled = parse_construction(e.construction)["state"] != "annealed"
    return Task(
        "reference-model",
        f"{e.composition} [{e.id}]",
        {
            "composition": e.composition,
            "construction": e.construction,
            "structure_file": e.structure_file,
            "structure_sha256": file_sha256(resolve_structure_file(e.structure_file)),
            "max_atoms": ctx.settings.max_atoms,
            "seed": ctx.settings.seed,
            **({"orderings": ctx.settings.orderings} if ctx.settings.orderings > 1 else {}),
            # wider annealed cells only when asked: the default keys stay as they were
            **(
                {"annealed_min_width_A": ctx.settings.annealed_min_width_A}
                if not milled and ctx.settings.annealed_min_width_A != MIN_WIDTH_A
                else {}
            ),
            # only milled rows: the annealed models' keys (and results) stay as they were
            **(
                {
                    "milled_min_width_A": ctx.settings.milled_min_width_A,
                    "milled_max_atoms": ctx.settings.milled_max_atoms,
                }
                if milled
                else {}
            ),
        },
    )


def relax_task(ctx: MaterialContext) -> Task | None:
    """``relax`` task: the inputs ``screen`` and ``reproduce`` use."""
    if ctx.structure is None:
        return None
    return Task.of(
        RelaxInputs(
            structure=ctx.structure,
            model=ctx.model,
            fmax=ctx.settings.fmax_eV_A,
            steps=ctx.settings.relax_steps,
            temperature_K=ctx.settings.lattice_temperature_K,
            thermal_md_ps=ctx.settings.thermal_md_ps,
            thermal_iterations=ctx.settings.thermal_iterations,
        ),
        ctx.label,
    )


def bvse_task(ctx: MaterialContext) -> Task | None:
    """``bvse`` task on the relaxed structure (the ordered model when not relaxed)."""
    if ctx.structure is None or ("relax" in ctx.tiers and not ctx.results.get("relax")):
        return None
    return Task.of(
        BVSEInputs(
            structure=ctx.structure,
            resolution_A=ctx.settings.bvse_resolution_A,
            volume_per_atom_A3=ctx.bvse_volume_per_atom_A3,
        ),
        ctx.label,
    )


def neb_task(ctx: MaterialContext) -> Task | None:
    """``neb`` task on the relaxed structure (inputs as ``screen``/``reproduce``)."""
    if not ctx.results.get("relax"):
        return None
    st = ctx.settings
    return Task.of(
        NEBInputs(
            structure=ctx.structure,
            model=ctx.model,
            hops="distinct",
            n_images=st.neb_images,
            fmax=st.fmax_eV_A,
            steps=st.neb_steps,
            endpoint_steps=st.neb_steps,
        ),
        ctx.label,
    )


def kmc_task(ctx: MaterialContext) -> Task | None:
    """``kmc`` task: on the NEB study's network when the neb tier is in the campaign,
    else on the BVSE network of the relaxed structure, or of the ordered model in a
    campaign without the relax tier, as the bvse tier (inputs as ``reproduce``/``screen``;
    with one Li taken out of each cell where the defect tier is in the campaign and finds
    the Li sublattice full, so that the vacancies it rescales exist).
    A material whose NEB study failed gets no KMC value in a campaign with the neb tier
    (not a BVSE one: one tier, one method, so that its calibration applies)."""
    if ctx.structure is None or ("relax" in ctx.tiers and not ctx.results.get("relax")):
        return None
    st = ctx.settings
    # the wide disordered cells (ball-milled or quenched) trap Li longer: more events
    milled = parse_construction(ctx.entry.construction)["state"] != "annealed"
    common = {
        "temperatures_K": [float(t) for t in st.kmc_temperatures_K],
        "n_runs": st.kmc_runs,
        "hops_per_carrier": float(st.milled_kmc_hops if milled else st.kmc_hops),
        "seed": st.seed,
    }
    study = ctx.results.get("neb")
    if study and study.get("results"):
        return Task.of(
            KMCInputs(structure=ctx.structure, source="neb", study=study, **common),
            f"{ctx.label} neb",
        )
    if "neb" in ctx.tiers:
        return None
    # a full Li sublattice conducts through vacancies its ordered cell does not have: with
    # the defect tier (which rescales the cell's fraction to the intrinsic one) one Li is
    # taken out of each cell, as the NEB studies do; without it, the network as it is
    full = ((ctx.results.get("defect") or {}).get("li_sublattice_full")) and "defect" in ctx.tiers
    return Task.of(
        KMCInputs(
            structure=ctx.structure,
            source="bvse",
            vacancies=1 if full else 0,
            volume_per_atom_A3=ctx.bvse_volume_per_atom_A3,
            prefactors=st.kmc_prefactors,
            **common,
        ),
        f"{ctx.label} bvse" + (" vacancy" if full else ""),
    )


def defect_task(ctx: MaterialContext) -> Task | None:
    """``defects`` task on the relaxed structure (Frenkel and Schottky energies when its Li
    sublattice is full; the task finds out, at no model cost when it is not)."""
    if not ctx.results.get("relax"):
        return None
    st = ctx.settings
    return Task.of(
        DefectInputs(
            structure=ctx.structure, model=ctx.model, fmax=st.fmax_eV_A, steps=st.neb_steps
        ),
        ctx.label,
    )


def prior_task(ctx: MaterialContext) -> Task:
    """``prior`` task (inputs as ``reproduce``: formula and the model's checksum)."""
    return Task.of(PriorInputs.of(ctx.entry.composition), ctx.entry.composition)


# -- predictions ----------------------------------------------------------------------------
def _barrier_predictions(
    ea: float | None, ctx: MaterialContext, what: str, structure: dict[str, Any] | None = None
) -> dict[str, Prediction]:
    """Ea and its Arrhenius sigma, the carrier density from ``structure`` (default: the
    relaxed one)."""
    if ea is None or not math.isfinite(ea):
        return {}
    out = {"ea_eV": Prediction(float(ea), 0.0, f"{what} 3D percolation barrier")}
    structure = ctx.structure if structure is None else structure
    if structure is not None:
        out["log10_sigma_S_cm"] = Prediction(
            arrhenius_log10_sigma(float(ea), structure),
            0.0,
            f"Arrhenius from the {what} barrier (a = {HOP_LENGTH_A:g} A, nu0 = "
            f"{ATTEMPT_FREQUENCY_HZ:g} Hz, "
            "all Li carriers)",
        )
    return out


def bvse_predict(result: dict[str, Any], ctx: MaterialContext) -> dict[str, Prediction]:
    """BVSE: Ea = e_3d_eV (None when it does not percolate in 3D below e_max)."""
    structure = ctx.structure
    v = result.get("scaled_to_volume_per_atom_A3")
    if v is not None and structure is not None:  # the carrier density of the mapped cell
        from pymatgen.core import Structure

        from halidelab.screening.inputs import scaled_to_volume

        structure = scaled_to_volume(Structure.from_dict(structure), v).as_dict()
    return _barrier_predictions(result.get("e_3d_eV"), ctx, "BVSE", structure)


def neb_predict(result: dict[str, Any], ctx: MaterialContext) -> dict[str, Prediction]:
    """NEB: Ea = the 3D percolation barrier of the study (its note says when the study
    took Li out of full orbits to have hops to run, and when it ran paths through several
    interstitials)."""
    perc = result.get("percolation") or {}
    made = len(result.get("created_vacancies") or ())
    longest = max((len(r.get("via") or ()) for r in result.get("results") or ()), default=0)
    extra = [f"{made} Li taken out of full Li orbits"] if made else []
    if longest > 1:
        extra.append(f"paths through up to {longest} interstitials")
    what = f"NEB ({'; '.join(extra)})" if extra else "NEB"
    return _barrier_predictions(perc.get("ea_3d_eV"), ctx, what)


def _lower_dims(values: dict[str, Any], prefix: str) -> str:
    """The 1D and 2D percolation barriers a result has (``{prefix}_1d_eV`` ...), in words."""
    return ", ".join(
        f"{d} {values[f'{prefix}_{d.lower()}_eV']:.3f} eV"
        for d in ("1D", "2D")
        if values.get(f"{prefix}_{d.lower()}_eV") is not None
    )


def bvse_explain(result: dict[str, Any], ctx: MaterialContext) -> str:
    """Why a BVSE map gives no Ea: no 3D percolation below its energy ceiling."""
    dims = _lower_dims(result, "e")
    return "the BVSE map does not percolate in 3D below its energy ceiling" + (
        f" (it does in {dims})" if dims else ""
    )


def neb_explain(result: dict[str, Any], ctx: MaterialContext) -> str:
    """Why a NEB study gives no Ea: its converged hops do not join the Li sites in 3D."""
    perc = result.get("percolation")
    n_run = len(result.get("results") or ())
    n_conv = sum(bool(r.get("converged")) for r in result.get("results") or ())
    if not perc:
        return f"the study has no percolation analysis ({n_conv} of {n_run} NEB bands converged)"
    dims = _lower_dims(perc, "ea")
    missing = perc.get("n_hops_missing") or 0
    return (
        "the NEB hops do not percolate in 3D"
        + (f" (they do in {dims})" if dims else "")
        + f"; {n_conv} of {n_run} bands converged"
        + (
            f", {missing} hops of the site network have no barrier (not run or not converged)"
            if missing
            else "; every hop of the study's site network has a converged barrier: the "
            "network itself does not join the Li sites in 3D"
        )
    )


def _migration_barrier(ctx: MaterialContext) -> tuple[float | None, str]:
    """E_m of the defect tier: the NEB 3D barrier when the campaign has the neb tier (None
    when its study failed: one tier, one method), else the BVSE one."""
    if "neb" in ctx.tiers:
        study = ctx.results.get("neb") or {}
        return (study.get("percolation") or {}).get("ea_3d_eV"), "NEB"
    return (ctx.results.get("bvse") or {}).get("e_3d_eV"), "BVSE"


#: intrinsic vacancy fraction above which the dilute formulas are flagged in the note
DILUTE_LIMIT = 0.05


def _not_dilute(c: float) -> str:
    return (
        f"; {c:.2g} is not dilute: the formation energy is too low to trust as it stands"
        if c > DILUTE_LIMIT
        else ""
    )


def defect_predict(result: dict[str, Any], ctx: MaterialContext) -> dict[str, Prediction]:
    """Defect tier (module docstring): E_m + E_f/2 and the intrinsic carriers where the Li
    sublattice is full; E_m and every Li a carrier where the model has vacant Li sites."""
    from halidelab.transport.defects import intrinsic_fraction

    em, what = _migration_barrier(ctx)
    if em is None or not math.isfinite(em) or ctx.structure is None:
        return {}
    if not result.get("li_sublattice_full"):
        n = result.get("n_vacant_li_sites")
        return _barrier_predictions(
            em, ctx, f"{what}; {n} vacant Li sites in the model, no formation term"
        )
    ef = result.get("formation_energy_eV")
    if ef is None:
        return {}
    mech = result.get("mechanism")
    ratio = float(result.get("site_ratio") or 1.0)
    frac = intrinsic_fraction(ef, ROOM_TEMPERATURE_K, ratio)
    note = (
        f"{what} barrier {em:.3f} eV + half the {mech} energy {ef:.3f} eV (full Li "
        f"sublattice; intrinsic carriers, {frac:.2g} of the Li at 25 C{_not_dilute(frac)})"
    )
    return {
        "ea_eV": Prediction(float(em) + 0.5 * float(ef), 0.0, note),
        "log10_sigma_S_cm": Prediction(
            arrhenius_log10_sigma(float(em), ctx.structure) + math.log10(frac), 0.0, note
        ),
    }


def _cell_made_vacancies(network: dict[str, Any]) -> bool:
    """Whether the NEB study took Li out, so that the KMC runs at the cell's vacancy fraction."""
    return any("vacancy fraction set by the cell" in n for n in network.get("notes") or ())


def _kmc_defect_scaling(
    result: dict[str, Any], ctx: MaterialContext | None
) -> tuple[float, float, str] | None:
    """(factor on sigma, eV added to Ea, note) of the KMC value: (1, 0, "") unless a full
    sublattice's cell-made vacancies are rescaled in a campaign with the defect tier (no
    context: outside validate, nothing rescaled); None where the value must be dropped
    (full sublattice, no formation energy)."""
    net = result.get("network") or {}
    defects = (ctx.results.get("defect") or {}) if ctx is not None else {}
    if (
        ctx is None
        or "defect" not in ctx.tiers
        or not _cell_made_vacancies(net)
        or not defects.get("li_sublattice_full")
    ):
        return 1.0, 0.0, ""
    ef = defects.get("formation_energy_eV")
    n_sites = sum(1 for r in net.get("site_role") or () if r == "li")
    x_cell = 1.0 - float(net.get("n_carriers") or 0) / n_sites if n_sites else 0.0
    if ef is None or x_cell <= 0.0:
        return None
    from halidelab.transport.defects import intrinsic_fraction

    c = intrinsic_fraction(float(ef), ROOM_TEMPERATURE_K, float(defects.get("site_ratio") or 1.0))
    note = (
        f"vacancies rescaled from the cell's {x_cell:.3g} to the intrinsic {c:.2g} of half "
        f"the {defects.get('mechanism')} energy {float(ef):.3f} eV (Ea + {0.5 * float(ef):.3f} eV)"
        f"{_not_dilute(c)}"
    )
    return c / x_cell, 0.5 * float(ef), note


def kmc_predict(result: dict[str, Any], ctx: MaterialContext | None) -> dict[str, Prediction]:
    """KMC: Ea over 25-100 C and log10 sigma(25 C) (none when the lowest temperature run,
    25 C, was not diffusive, or Ea <= 0); the 68 % interval of sigma and Ea's standard error as
    spreads. With the defect tier, a full sublattice's cell-made vacancies are rescaled to
    the intrinsic fraction (module docstring)."""
    k = result["kmc"]
    if kmc_room_temperature_problem(k) is not None:
        return {}
    src = result["network"]["source"].upper()
    what = f"KMC on the {src} network"
    scaling = _kmc_defect_scaling(result, ctx)
    if scaling is None:
        return {}
    factor, add_ea, how = scaling
    if how:
        what += f" ({how})"
    elif _cell_made_vacancies(result["network"]):
        what += " (vacancies made by taking Li out: their fraction is the cell's)"
    out = {}
    if k.get("ea_eV") is not None:
        out["ea_eV"] = Prediction(
            float(k["ea_eV"]) + add_ea, float(k.get("ea_err_eV") or 0.0), what
        )
    s, lo, hi = k.get("sigma_25C_S_cm"), k.get("sigma_25C_low_S_cm"), k.get("sigma_25C_high_S_cm")
    if s and s > 0:
        spread = 0.5 * (math.log10(hi) - math.log10(lo)) if lo and hi and lo > 0 else 0.0
        out["log10_sigma_S_cm"] = Prediction(math.log10(s * factor), float(spread), f"{what}, 25 C")
    return out


def kmc_limit(result: dict[str, Any], ctx: MaterialContext | None) -> dict[str, Prediction]:
    """KMC: an upper limit on log10 sigma(25 C) where the 25 C run stayed sub-diffusive and
    so gives no value (:func:`halidelab.ensemble.kmc_room_temperature_upper`), scaled like
    a value by a full sublattice's defect rescaling; empty otherwise (a value, a blocked
    network, a record without the bound)."""
    k = result.get("kmc") or {}
    upper = kmc_room_temperature_upper(k)
    scaling = _kmc_defect_scaling(result, ctx) if upper is not None else None
    if upper is None or scaling is None:
        return {}
    factor, _add_ea, how = scaling
    src = (result.get("network") or {}).get("source", "").upper()
    note = (
        f"upper limit: KMC on the {src} network stayed sub-diffusive at 25 C; its Li cannot "
        "conduct faster at long times than their collective MSD shows at the runs' longest "
        "lag (mean + 2 SE over the runs). A bound on this network, the model's crystal with "
        "no defects but the cell's: a measured sigma above it needs a mechanism the model "
        "lacks (vacancies, disorder)" + (f" ({how})" if how else "")
    )
    return {"log10_sigma_S_cm": Prediction(math.log10(upper * factor), 0.0, note)}


def kmc_explain(result: dict[str, Any], ctx: MaterialContext) -> str:
    """Why a KMC result gives no value: too few temperatures diffusive and resolved for an
    Arrhenius fit, or none at 25 C, or a negative Ea (and which temperatures were not
    diffusive, and why), or a full sublattice without a formation energy."""
    k = result.get("kmc") or {}
    if k.get("sigma_25C_S_cm") and _kmc_defect_scaling(result, ctx) is None:
        return (
            "the KMC ran on vacancies the cell made in a full Li sublattice, and the defect "
            "tier gave no formation energy to scale them to the intrinsic fraction"
        )
    points = k.get("points") or []
    usable = kmc_usable_points(k)
    stuck = [p for p in points if not p.get("diffusive")]
    hops = max((p.get("hops_per_carrier") or 0 for p in points), default=0)
    temps = ", ".join(f"{p.get('temperature_K', 0.0):g}" for p in stuck)
    room = kmc_room_temperature_problem(k)
    return (
        room
        if room is not None
        else f"no Arrhenius fit: {len(usable)} of {len(points)} temperatures diffusive and "
        "resolved (it needs 2)"
    ) + (
        f"; not diffusive at {temps} K ({stuck[0].get('note') or 'see the KMC result'})"
        + (
            ""  # no Li could hop at all: longer runs would not help
            if hops <= 0
            else f" after up to {hops:.0f} hops per Li: longer runs would be needed"
        )
        if stuck
        else ""
    )


#: tiers whose predictions depend on settings that :func:`method_of` records (the
#: prior and the relaxation have none)
TIERS_WITH_SETTINGS = ("bvse", "neb", "kmc", "defect")
#: tiers that do not depend on the ordering: run once per material (the reference-model
#: task builds every ordering; the prior reads the formula)
ORDERING_FREE = frozenset({"model", "prior"})


def method_of(
    tier: str, result: dict[str, Any] | None, ctx: MaterialContext | None = None
) -> dict[str, Any]:
    """How a stored result of ``tier`` was made, as far as it moves the prediction: the
    BVSE grid, the NEB images and optimiser steps, the KMC network (NEB or BVSE) and its
    superbasin ratio and critical-hop rule, a BVSE network's saddles (minimum-energy paths:
    the straight lines before say nothing) (and, with the defect tier in ``ctx``'s tiers,
    that a full sublattice's vacancies are the intrinsic ones), the defect tier's barrier
    (NEB or BVSE, from ``ctx``'s tiers) and supercell width, and the lattice temperature of
    the relaxed cells when the campaign set one (with its shape when anisotropic). A
    calibration records it, and is applied only to values made alike. A BVSE map or BVSE
    network of a cell scaled to the ordered model's volume (``bvse_volume``; the result
    records it) says so; on the relaxed cell (every one stored before the choice existed)
    it says nothing. A campaign with ``annealed_state="quenched"`` says so too."""
    if not result:
        return {}
    how = _method_of(tier, result, ctx)
    scaled = {
        "bvse": result.get("scaled_to_volume_per_atom_A3"),
        "kmc": result.get("scaled_to_volume_per_atom_A3"),
        # the defect tier's E_m from the BVSE tier: as that tier's task was made
        "defect": (
            (ctx.results.get("bvse") or {}).get("scaled_to_volume_per_atom_A3")
            if ctx is not None and how.get("defect_barrier") == "BVSE"
            else None
        ),
    }.get(tier)
    if how and scaled is not None:  # BVSE on the relaxed cell scaled to the model's volume
        how["bvse_volume"] = "model"
    if how and ctx is not None and ctx.settings.annealed_state != "annealed":
        # a campaign whose annealed rows are quenched models: its calibrations apply to
        # values made that way only (screen and compare build the Ewald ground state)
        how["annealed_state"] = ctx.settings.annealed_state
    t_lat = ctx.settings.lattice_temperature_K if ctx is not None else None
    if how and t_lat is not None:  # computed on the lattice at a temperature (key only then)
        how["lattice_temperature_K"] = t_lat
        relaxed = (ctx.results or {}).get("relax") if ctx is not None else None
        if ((relaxed or {}).get("thermal_lattice") or {}).get("shape") == "anisotropic":
            # isotropic lattices (every one stored before the shape existed) say nothing,
            # so the calibrations fitted on them keep applying to them, and only to them
            how["lattice_shape"] = "anisotropic"
    return how


def _method_of(tier: str, result: dict[str, Any], ctx: MaterialContext | None) -> dict[str, Any]:
    """:func:`method_of` but for the lattice temperature."""
    if tier == "bvse":
        return {"bvse_resolution_A": result.get("resolution_A")}
    if tier == "neb":
        par = (result.get("provenance") or {}).get("parameters") or {}
        return {
            "neb_images": par.get("n_images"),
            "neb_steps": par.get("steps"),
            "hops": par.get("hops"),
        }
    if tier == "defect":
        par = (result.get("provenance") or {}).get("parameters") or {}
        return {
            "defect_barrier": _migration_barrier(ctx)[1] if ctx is not None else None,
            "defect_min_width_A": par.get("min_width_A"),
            "defect_n_relax": par.get("n_relax"),
        }
    if tier == "kmc":
        par = ((result.get("kmc") or {}).get("provenance") or {}).get("parameters") or {}
        how = {
            "kmc_network": (result.get("network") or {}).get("source"),
            "superbasin_ratio": par.get("superbasin_ratio"),
        }
        if par.get("superbasin_exclusions") is not None:  # kmc revision 3 on
            how["superbasin_exclusions"] = par["superbasin_exclusions"]
        if par.get("start") is not None:  # kmc revision 4 on: equilibrium starts
            how["kmc_start"] = par["start"]
        net = ((result.get("network") or {}).get("provenance") or {}).get("parameters") or {}
        if net.get("saddle") == "path":  # BVSE networks on minimum-energy paths (2026-12 on)
            how["bvse_saddle"] = "path"
        if net.get("prefactors") == "harmonic":  # Vineyard prefactors (fixed: nothing said)
            how["kmc_prefactors"] = "harmonic"
        if ctx is not None and "defect" in ctx.tiers:
            how["kmc_vacancies"] = "intrinsic"
        return how
    return {}


def prior_predict(result: dict[str, Any], ctx: MaterialContext) -> dict[str, Prediction]:
    """Prior: its log10 sigma(RT); the 90 % interval half-width / 1.645 as spread."""
    lo, hi = result.get("log10_sigma_low_S_cm"), result.get("log10_sigma_high_S_cm")
    spread = (hi - lo) / (2 * 1.645) if lo is not None and hi is not None else 0.0
    note = "data-driven prior" + ("" if result.get("in_domain", True) else " (out of its domain)")
    return {"log10_sigma_S_cm": Prediction(float(result["log10_sigma_S_cm"]), float(spread), note)}


#: The tier table.
TIERS: dict[str, TierSpec] = {
    "model": TierSpec(
        "model", 0, _never, (), model_task, None, "ordered model of the reference structure"
    ),
    "relax": TierSpec(
        "relax", 1, _always, ("model",), relax_task, None, "MLIP relaxation (positions and cell)"
    ),
    "bvse": TierSpec(
        "bvse",
        2,
        _if_relaxed,
        ("model",),
        bvse_task,
        bvse_predict,
        "BVSE 3D percolation barrier",
        bvse_explain,
    ),
    "neb": TierSpec(
        "neb",
        2,
        _always,
        ("model", "relax"),
        neb_task,
        neb_predict,
        "CI-NEB 3D percolation barrier (MLIP)",
        neb_explain,
    ),
    "defect": TierSpec(
        "defect",
        2,
        _always,
        ("model", "relax", "bvse"),
        defect_task,
        defect_predict,
        "migration barrier + half the Li defect formation energy (full Li sublattices)",
    ),
    "prior": TierSpec(
        "prior", 2, _never, (), prior_task, prior_predict, "data-driven conductivity prior"
    ),
    "kmc": TierSpec(
        "kmc",
        3,
        _if_relaxed,
        ("model",),
        kmc_task,
        kmc_predict,
        "kinetic Monte Carlo sigma(25 C) and Ea (NEB network, else BVSE)",
        kmc_explain,
        kmc_limit,
    ),
}


def normalise_tiers(tiers: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Validate tier names and add what they require, in stage order.

    Raises
    ------
    HalidelabError
        An unknown tier.
    """
    from halidelab.errors import HalidelabError

    names = [t.strip().lower() for t in tiers if t.strip()]
    bad = [t for t in names if t not in TIERS]
    if bad:
        raise HalidelabError(
            f"unknown tier(s) {', '.join(bad)}: choose from "
            f"{', '.join(t for t in TIERS if t != 'model')}"
        )
    if not names:
        raise HalidelabError("no tiers given: choose from relax, bvse, neb, kmc, defect, prior")
    chosen = set(names)
    todo = list(names)
    while todo:
        for req in TIERS[todo.pop()].requires:
            if req not in chosen:
                chosen.add(req)
                todo.append(req)
    return tuple(sorted(chosen, key=lambda t: (TIERS[t].stage, list(TIERS).index(t))))
