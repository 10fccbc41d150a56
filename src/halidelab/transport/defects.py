"""Intrinsic Li defects of a full Li sublattice: Frenkel and Schottky formation energies
from an MLIP, and the carrier fraction they give.

Where every Li site of an ordered model holds a Li (the ordered spinels' 8a/16d,
LiAlCl4, LiGaBr4, Li3AlF6 ...), a Li can move only once a defect has been made, and the
conductivity is that of the defects, not of every Li. Two intrinsic mechanisms
(Kröger-Vink; the cell stays neutral, as an MLIP needs):

- Frenkel: Li_Li -> V_Li' + Li_i*;  E_F = E(one Li moved to an empty interstitial hole
  far from its site, relaxed) - E(perfect cell, relaxed);
- Schottky (LiX): Li_Li + X_X -> V_Li' + V_X* + LiX(rock salt);
  E_S = E(cell without one Li and one X, relaxed) + E(LiX, per formula unit) - E(cell).

In dilute equilibrium with ideal configurational entropy (no vibrational entropy: the
prefactor is the site ratio alone) the Li-vacancy fraction per Li is

    Frenkel:   c_V = sqrt(N_i / N_Li) exp(-E_F / 2 k_B T)
    Schottky:  c_V = sqrt(N_X / N_Li) exp(-E_S / 2 k_B T)

(N_i the sites of the interstitial orbit, N_X the X sites, N_Li the Li, per cell), and
the lower-energy mechanism sets the carriers. The Li interstitials of a Frenkel pair move
too, with a barrier of their own that is not computed here: counting the vacancies only
makes the conductivity a lower bound. A conductivity ``sigma ~ c_V(T)
exp(-E_m / k_B T) / T`` then has the activation energy ``E_a = E_m + E_f / 2`` (the
intrinsic regime of every textbook Arrhenius plot of an ionic crystal).

How the pairs are chosen: the holes come from :func:`~halidelab.transport.sites.site_network`
of a supercell at least ``min_width_A`` wide. For every (Li orbit, interstitial orbit)
the Li and the hole farthest apart (minimum image) make one Frenkel candidate; for every
(Li orbit, X orbit) the farthest Li and X one Schottky candidate. Each candidate's
unrelaxed energy is one model call; the ``n_relax`` lowest of each mechanism are relaxed
at fixed cell on the batched engine. A Frenkel pair after whose relaxation every Li site
holds a Li again (each Li assigned to its nearest hole) has recombined and is not counted; a
"defect" lower in energy than the perfect cell means the ordered model is not the
model's ground state: it is reported in ``warnings`` and not counted either.

What this leaves out, stated in every result: the pair still interacts in the finite
cell (the separation is recorded); the charged defects are modelled as a neutral pair
(no dielectric screening correction; the MLIP has no charges); extrinsic carriers
(aliovalent impurities, off-stoichiometry, the damage of ball milling) that make real
samples conduct above the intrinsic limit. So the intrinsic estimate is an upper bound
of E_a and a lower bound of sigma for a sample with a full Li sublattice.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
from pymatgen.core import Lattice, Structure

from halidelab.constants import K_B_EV_K
from halidelab.errors import StructureError
from halidelab.records import Provenance, Record

#: a "defect" lower than the perfect cell by more than this is a better Li arrangement, eV
LOWER_GROUND_STATE_EV = 0.02
#: rock-salt lattice constants that start the LiX reference relaxation, A (ICSD values)
ROCKSALT_A: dict[str, float] = {"F": 4.03, "Cl": 5.13, "Br": 5.50, "I": 6.00}


@dataclasses.dataclass(frozen=True)
class DefectCalc(Record):
    """One defect pair computed.

    Attributes
    ----------
    mechanism : {"frenkel", "schottky"}
    vacancy_label : str
        Orbit label of the Li site emptied (``Li1`` ...).
    partner_label : str
        Frenkel: the interstitial orbit the Li was put in (``i2``); Schottky: the anion
        removed (element and its orbit number, ``Cl2``).
    separation_A : float
        Distance between the two defects at the start (minimum image), A.
    energy_unrelaxed_eV : float
        Formation energy before relaxation, eV.
    energy_eV : float or None
        Formation energy after relaxation at fixed cell (None: not relaxed, it was not
        among the lowest), eV.
    converged : bool or None
    steps : int or None
    recombined : bool
        Frenkel: the relaxation put a Li back on the vacated site.
    final_label : str or None
        Frenkel: the site label nearest to the moved Li at the end.
    """

    mechanism: str
    vacancy_label: str
    partner_label: str
    separation_A: float
    energy_unrelaxed_eV: float
    energy_eV: float | None = None
    converged: bool | None = None
    steps: int | None = None
    recombined: bool = False
    final_label: str | None = None

    @property
    def counts(self) -> bool:
        """Relaxed, not recombined, not below the perfect cell."""
        return (
            self.energy_eV is not None
            and not self.recombined
            and self.energy_eV > -LOWER_GROUND_STATE_EV
        )


@dataclasses.dataclass(frozen=True)
class DefectEnergies(Record):
    """Intrinsic Li defect formation energies of one structure (module docstring).

    Attributes
    ----------
    formula : str
    n_atoms : int
        Atoms of the supercell the defects were made in.
    supercell : tuple of int
        Repetitions of the input cell.
    li_sublattice_full : bool
        Every Li site of the network holds a Li (False: the model has structural
        vacancies, which are the carriers; nothing was computed).
    n_li : int
    n_vacant_li_sites : int
    energy_perfect_eV : float or None
        Relaxed (fixed-cell) energy of the perfect supercell, eV.
    lix_energy_per_fu_eV : float or None
        Relaxed rock-salt LiX, eV per formula unit (Schottky reference).
    anion : str or None
        X of the Schottky pair (the majority halide).
    calcs : tuple of DefectCalc
    e_frenkel_eV, e_schottky_eV : float or None
        Lowest counted formation energy of each mechanism, eV.
    mechanism : str or None
        The lower of the two.
    formation_energy_eV : float or None
        Its formation energy, eV.
    site_ratio : float or None
        N_i / N_Li (Frenkel) or N_X / N_Li (Schottky) of the chosen pair.
    warnings : tuple of str
    wall_s : float
    provenance : Provenance
    """

    formula: str
    n_atoms: int
    supercell: tuple[int, int, int]
    li_sublattice_full: bool
    n_li: int
    n_vacant_li_sites: int
    energy_perfect_eV: float | None
    lix_energy_per_fu_eV: float | None
    anion: str | None
    calcs: tuple[DefectCalc, ...]
    e_frenkel_eV: float | None
    e_schottky_eV: float | None
    mechanism: str | None
    formation_energy_eV: float | None
    site_ratio: float | None
    warnings: tuple[str, ...]
    wall_s: float
    provenance: Provenance

    def carrier_fraction(self, temperature_K: float) -> float | None:
        """Li-vacancy fraction per Li at ``temperature_K`` (K) in intrinsic equilibrium
        (None when the sublattice is not full or no formation energy was found)."""
        if not self.li_sublattice_full or self.formation_energy_eV is None:
            return None
        return intrinsic_fraction(self.formation_energy_eV, temperature_K, self.site_ratio or 1.0)


def intrinsic_fraction(
    formation_energy_eV: float, temperature_K: float, site_ratio: float = 1.0
) -> float:
    """Dilute pair-defect fraction ``sqrt(site_ratio) exp(-E_f / 2 k_B T)``.

    Parameters
    ----------
    formation_energy_eV : float
        Energy to make one pair (Frenkel or Schottky), eV.
    temperature_K : float
    site_ratio : float
        Sites available to the partner defect per Li site.
    """
    if temperature_K <= 0:
        raise ValueError(f"temperature must be positive, got {temperature_K} K")
    return math.sqrt(site_ratio) * math.exp(-formation_energy_eV / (2 * K_B_EV_K * temperature_K))


def defect_supercell(
    structure: Structure, min_width_A: float = 9.0, max_atoms: int = 260
) -> tuple[Structure, tuple[int, int, int]]:
    """The input repeated until every face-to-face width reaches ``min_width_A`` (A),
    as far as ``max_atoms`` allows (the narrowest direction is grown first)."""
    from halidelab.transport.sites import _widths

    reps = [1, 1, 1]
    widths = _widths(structure.lattice.matrix)
    n = len(structure)
    while True:
        short = [i for i in range(3) if widths[i] * reps[i] < min_width_A - 1e-6]
        if not short:
            break
        i = min(short, key=lambda k: widths[k] * reps[k])
        if n * math.prod(reps) * (reps[i] + 1) / reps[i] > max_atoms:
            break
        reps[i] += 1
    sc = structure.copy()
    if reps != [1, 1, 1]:
        sc.make_supercell(reps)
    return sc, (reps[0], reps[1], reps[2])


def _majority_halide(s: Structure) -> str | None:
    comp = s.composition
    hal = [x for x in ("F", "Cl", "Br", "I") if comp[x] > 0]
    return max(hal, key=lambda x: comp[x]) if hal else None


def _anion_orbits(s: Structure, element: str, symprec: float) -> dict[int, int]:
    """Atom index -> orbit number (1, 2, ...) of the ``element`` atoms in ``s``."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        eq = SpacegroupAnalyzer(s, symprec=symprec).get_symmetry_dataset().equivalent_atoms
    except Exception:  # spglib finds no symmetry: every atom is its own orbit
        eq = np.arange(len(s))
    firsts: dict[int, int] = {}
    out = {}
    for i, site in enumerate(s):
        if site.specie.symbol != element:
            continue
        out[i] = firsts.setdefault(int(eq[i]), len(firsts) + 1)
    return out


def li_defect_energies(
    structure: Structure | dict[str, Any],
    model: Any = "chgnet",
    *,
    min_width_A: float = 9.0,
    max_atoms: int = 260,
    fmax: float = 0.05,
    steps: int = 300,
    n_relax: int = 3,
    symprec: float = 0.1,
    progress: Callable[[str], None] | None = None,
) -> DefectEnergies:
    """Frenkel and Schottky formation energies of Li in a structure whose Li sublattice
    is full (module docstring); a structure with vacant Li sites gets none.

    Parameters
    ----------
    structure : pymatgen Structure or its dict
        Relaxed ordered structure (positions and cell).
    model : str, Potential or BatchEvaluator
        MLIP (:func:`~halidelab.engine.batch.as_evaluator`).
    min_width_A : float
        Supercell face-to-face width to reach, A.
    max_atoms : int
        Largest supercell.
    fmax : float
        Force convergence of the fixed-cell relaxations, eV/A.
    steps : int
        Optimiser steps per relaxation.
    n_relax : int
        Candidates relaxed per mechanism (the lowest unrelaxed ones).
    symprec : float
        Tolerance of the anion orbits (Schottky), A.
    progress : callable(str), optional
        Told each stage.

    Raises
    ------
    StructureError
        No Li, or a disordered structure.
    """
    from halidelab.atoms import to_atoms
    from halidelab.engine.batch import as_evaluator
    from halidelab.engine.relax import relax_positions_batch
    from halidelab.potentials import provenance
    from halidelab.transport.sites import _widths, require_symmetric_framework, site_network

    t0 = time.perf_counter()
    s = Structure.from_dict(structure) if isinstance(structure, dict) else structure.copy()
    if not s.is_ordered:
        raise StructureError("defect energies need an ordered structure (one species per site)")
    if s.composition["Li"] == 0:
        raise StructureError(f"{s.composition.reduced_formula} has no Li")
    say = progress or (lambda _msg: None)
    # a milled model's empty holes are not Li sites: its sublattice would only look full
    require_symmetric_framework(
        site_network(s),
        s.composition.reduced_formula,
        "which empty holes are Li sites is undefined, so intrinsic defects do not apply",
    )
    sc, reps = defect_supercell(s, min_width_A, max_atoms)
    net = site_network(sc)
    li_sites = [x for x in net.sites if x.role == "li"]
    vacant = [x for x in li_sites if x.occupant is None]
    n_li = int(sc.composition["Li"])
    ev = as_evaluator(model)
    params = {
        "min_width_A": min_width_A,
        "max_atoms": max_atoms,
        "fmax": fmax,
        "steps": steps,
        "n_relax": n_relax,
        "symprec": symprec,
    }
    prov = provenance("li_defect_energies", ev.info, params)
    base = dict(formula=sc.composition.reduced_formula, n_atoms=len(sc), supercell=reps, n_li=n_li)
    if vacant:
        return DefectEnergies(
            **base,
            li_sublattice_full=False,
            n_vacant_li_sites=len(vacant),
            energy_perfect_eV=None,
            lix_energy_per_fu_eV=None,
            anion=None,
            calcs=(),
            e_frenkel_eV=None,
            e_schottky_eV=None,
            mechanism=None,
            formation_energy_eV=None,
            site_ratio=None,
            warnings=(f"{len(vacant)} vacant Li sites: structural vacancies are the carriers",),
            wall_s=time.perf_counter() - t0,
            provenance=prov,
        )
    warns: list[str] = list(net.warnings)
    width = float(min(_widths(sc.lattice.matrix)))
    if width < min_width_A - 1e-6:
        warns.append(
            f"the defect supercell is {width:.1f} A wide (max_atoms {max_atoms} stops it "
            f"below {min_width_A:g} A): the pair interacts more"
        )
    latt = sc.lattice
    say("perfect cell")
    ((perfect, conv0, _),) = relax_positions_batch([to_atoms(sc)], ev, fmax, steps)
    e0 = float(perfect.get_potential_energy())
    if not conv0:
        warns.append(f"the perfect cell did not reach fmax {fmax} eV/A in {steps} steps")
    pos0 = perfect.get_positions()
    frac0 = perfect.get_scaled_positions(wrap=False)
    li_idx = [i for i, x in enumerate(sc) if x.specie.symbol == "Li"]

    # -- Frenkel candidates: one per (Li orbit, interstitial orbit), farthest apart
    empties = [x for x in net.sites if x.occupant is None]
    by_pair: dict[tuple[str, str], tuple[float, Any, Any]] = {}
    for li in li_sites:
        fa = frac0[li.occupant]
        for h in empties:
            d = latt.get_distance_and_image(fa, h.frac)[0]
            k = (li.label, h.label)
            if k not in by_pair or d > by_pair[k][0]:
                by_pair[k] = (d, li, h)
    fr_atoms, fr_meta = [], []
    for (_ll, _hl), (d, li, h) in sorted(by_pair.items()):
        a = perfect.copy()
        a.calc = None
        # the Li goes to the image of the hole nearest its own site, so it is not wrapped
        f = np.array(h.frac) - frac0[li.occupant]
        f -= np.round(f)
        p = a.get_positions()
        p[li.occupant] = pos0[li.occupant] + latt.get_cartesian_coords(f)
        a.set_positions(p)
        fr_atoms.append(a)
        fr_meta.append((li, h, d))
    n_orbit = Counter(x.label for x in net.sites)

    # -- Schottky candidates: one per (Li orbit, X orbit), farthest apart
    anion = _majority_halide(sc)
    sch_atoms, sch_meta = [], []
    e_lix = None
    if anion is not None:
        orbits = _anion_orbits(sc, anion, symprec)
        best: dict[tuple[str, int], tuple[float, Any, int]] = {}
        for li in li_sites:
            for j, o in orbits.items():
                d = latt.get_distance_and_image(frac0[li.occupant], frac0[j])[0]
                k = (li.label, o)
                if k not in best or d > best[k][0]:
                    best[k] = (d, li, j)
        for (_ll, o), (d, li, j) in sorted(best.items()):
            a = perfect.copy()
            a.calc = None
            del a[[li.occupant, j]]
            sch_atoms.append(a)
            sch_meta.append((li, f"{anion}{o}", d, sum(1 for v in orbits.values() if v == o)))
        say(f"Li{anion} reference")
        e_lix = _lix_energy(anion, ev, fmax, steps)
    cands = [("frenkel", m) for m in fr_meta] + [("schottky", m) for m in sch_meta]
    if not cands:
        warns.append("no empty hole and no anion to make a defect with")
    say(f"{len(cands)} candidate pairs (unrelaxed)")
    evals = ev.evaluate(fr_atoms + sch_atoms) if cands else []
    unrel = []
    for (mech, _m), e in zip(cands, evals, strict=True):
        extra = e_lix if mech == "schottky" else 0.0
        unrel.append(float(e.energy_eV) + extra - e0)
    # relax the n_relax lowest of each mechanism together
    chosen = []
    for mech in ("frenkel", "schottky"):
        ks = [k for k, (m, _) in enumerate(cands) if m == mech]
        chosen += sorted(ks, key=lambda k: unrel[k])[: max(n_relax, 0)]
    all_atoms = fr_atoms + sch_atoms
    say(f"relaxing {len(chosen)} defect cells")
    relaxed = dict(
        zip(
            chosen,
            relax_positions_batch([all_atoms[k] for k in chosen], ev, fmax, steps),
            strict=True,
        )
    )
    calcs = []
    site_frac = np.array([x.frac for x in net.sites])
    li_roles = np.array([x.role == "li" for x in net.sites])
    for k, (mech, meta) in enumerate(cands):
        e_rel = conv = nstep = final = None
        recombined = False
        if k in relaxed:
            at, conv, nstep = relaxed[k]
            e_rel = float(at.get_potential_energy()) + (e_lix if mech == "schottky" else 0.0) - e0
            if mech == "frenkel":
                # recombined: every Li site holds a Li again (the moved Li, or a neighbour
                # that took its place with the moved one back in a site, leaves no pair)
                nearest = latt.get_all_distances(
                    at.get_scaled_positions()[li_idx], site_frac
                ).argmin(1)
                recombined = bool(np.all(np.isin(np.flatnonzero(li_roles), nearest)))
                moved = li_idx.index(meta[0].occupant)
                final = net.sites[int(nearest[moved])].label
        if mech == "frenkel":
            li, h, d = meta
            partner = h.label
        else:
            li, partner, d, _n = meta
        calcs.append(
            DefectCalc(
                mechanism=mech,
                vacancy_label=li.label,
                partner_label=partner,
                separation_A=round(float(d), 4),
                energy_unrelaxed_eV=unrel[k],
                energy_eV=e_rel,
                converged=conv,
                steps=nstep,
                recombined=recombined,
                final_label=final,
            )
        )
    for c in calcs:
        if c.energy_eV is not None and c.energy_eV <= -LOWER_GROUND_STATE_EV and not c.recombined:
            warns.append(
                f"{c.mechanism} pair {c.vacancy_label}/{c.partner_label} is {-c.energy_eV:.3f} eV "
                "below the perfect cell: the ordered model is not this MLIP's ground state"
            )
        if c.energy_eV is not None and c.converged is False:
            warns.append(
                f"{c.mechanism} pair {c.vacancy_label}/{c.partner_label} did not reach fmax "
                f"{fmax} eV/A in {steps} steps"
            )

    def lowest(mech: str) -> DefectCalc | None:
        ok = [c for c in calcs if c.mechanism == mech and c.counts]
        return min(ok, key=lambda c: c.energy_eV) if ok else None

    fr, sch = lowest("frenkel"), lowest("schottky")
    pick = min((c for c in (fr, sch) if c is not None), key=lambda c: c.energy_eV, default=None)
    ratio = None
    if pick is not None:
        if pick.mechanism == "frenkel":
            ratio = n_orbit[pick.partner_label] / n_li
        else:
            n_x = next(m[3] for m in sch_meta if m[1] == pick.partner_label)
            ratio = n_x / n_li
    else:
        warns.append("no defect pair survived its relaxation: no formation energy")
    return DefectEnergies(
        **base,
        li_sublattice_full=True,
        n_vacant_li_sites=0,
        energy_perfect_eV=e0,
        lix_energy_per_fu_eV=e_lix,
        anion=anion,
        calcs=tuple(calcs),
        e_frenkel_eV=fr.energy_eV if fr else None,
        e_schottky_eV=sch.energy_eV if sch else None,
        mechanism=pick.mechanism if pick else None,
        formation_energy_eV=pick.energy_eV if pick else None,
        site_ratio=ratio,
        warnings=tuple(dict.fromkeys(warns)),
        wall_s=time.perf_counter() - t0,
        provenance=prov,
    )


def _lix_energy(anion: str, evaluator: Any, fmax: float, steps: int) -> float:
    """Energy of rock-salt LiX relaxed (positions and cell) with ``evaluator``, eV per
    formula unit."""
    from halidelab.relax import relax

    rs = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(ROCKSALT_A[anion]), ["Li", anion], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    r = relax(rs, calculator=evaluator, fmax=fmax, steps=steps, relax_cell=True)
    return float(r.energy_per_atom_eV) * 2.0
