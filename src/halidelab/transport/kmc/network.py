"""Rate networks of a cell: sites, energies and hop saddles from an NEB study or a BVSE map."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from halidelab.constants import K_B_EV_K
from halidelab.errors import SimulationError
from halidelab.records import Provenance, Record
from halidelab.transport.harmonic import PREFACTORS
from halidelab.transport.pathways import path_profile

#: Attempt frequency of every hop, Hz (harmonic TST; typical Li values 1e12-1e13 Hz).
ATTEMPT_FREQUENCY_HZ = 1.0e13
#: A BVSE basin contact (a hop the site network has not) whose saddle is higher than this
#: above the lowest Li site is left out, eV: at 400 K its rate is below 1e-15 of a 0.3 eV
#: hop's, and the rate catalogue stays small (Li3ErI6: 838 contacts, most eV high).
CONTACT_MAX_EV = 1.5
#: Two carriers never closer than this, A: split or overlapping positions. Face-sharing
#: oct-tet pairs (measured 2.19-2.30 A in Li2ZrCl6, Li3YCl6 and Li3InCl6 models) stay
#: allowed: excluding them (2.4 A) blocked every Li of ccp Li3InCl6, whose oct-tet-oct
#: paths all pass tetrahedra next to occupied octahedra; their Li-Li repulsion enters only
#: through the site and saddle energies (NEB: computed with the neighbours present).
EXCLUSION_RADIUS_A = 2.0


@dataclasses.dataclass(frozen=True)
class RateNetwork(Record):
    """Sites, energies and saddle energies of a periodic hop network.

    Attributes
    ----------
    formula : str
    lattice : list
        Cell vectors (rows), A.
    site_frac : tuple
        Site centres, fractional.
    site_label, site_role : tuple of str
        Orbit labels (``Li1``, ``i3`` ...) and ``li`` / ``interstitial``.
    site_energy_eV : tuple of float
        Energy of a Li on each site, eV (relative; only differences matter).
    edge_a, edge_b : tuple of int
        Site indices of each undirected hop; ``edge_b`` at ``site_frac[b] + edge_image``.
    edge_image : tuple
        Lattice translation of the end site.
    edge_saddle_eV : tuple of float
        Saddle energy of each hop (>= both end energies), eV.
    edge_class : tuple of str
        Where the saddle came from (hop class label).
    n_carriers : int
        Li per cell (fixed by the composition).
    attempt_frequency_Hz : float
    exclusion_radius_A : float
    source : str
        ``neb`` or ``bvse``.
    notes : tuple of str
        Approximations and diagnostics (least-squares residual, hops left out ...).
    provenance : Provenance
    exclusion_pairs : tuple
        Site pairs ``(a, b, image)`` that are never both occupied, beyond the exclusion
        radius: an interstitial between two Li sites and those sites, where they share a
        face and one is a tetrahedron (:func:`face_exclusions`). Empty in networks stored
        before.
    site_ln_nu, edge_ln_nu : tuple of float
        Harmonic (Vineyard) prefactors, where the network has them: the sum of
        ln(nu_k / nu0) over a site's 3 modes, and over the 2 stable modes at a hop's saddle
        (nu0 = ``attempt_frequency_Hz``), so that a hop from a has
        nu*_ab = nu0 exp(L_a - M_ab); detailed balance then holds with the site free
        energies F_a = E_a + k_B T L_a (:meth:`effective`). Empty (the default, and every
        network stored before): every hop at ``attempt_frequency_Hz``.
    """

    formula: str
    lattice: list[list[float]]
    site_frac: tuple[tuple[float, float, float], ...]
    site_label: tuple[str, ...]
    site_role: tuple[str, ...]
    site_energy_eV: tuple[float, ...]
    edge_a: tuple[int, ...]
    edge_b: tuple[int, ...]
    edge_image: tuple[tuple[int, int, int], ...]
    edge_saddle_eV: tuple[float, ...]
    edge_class: tuple[str, ...]
    n_carriers: int
    attempt_frequency_Hz: float
    exclusion_radius_A: float
    source: str
    notes: tuple[str, ...]
    provenance: Provenance
    exclusion_pairs: tuple[tuple[int, int, tuple[int, int, int]], ...] = ()
    site_ln_nu: tuple[float, ...] = ()
    edge_ln_nu: tuple[float, ...] = ()

    @property
    def harmonic(self) -> bool:
        """Whether the hops have their own (harmonic) prefactors."""
        return bool(self.site_ln_nu)

    def effective(self, temperature_K: float) -> RateNetwork:
        """The network at one temperature with every hop at ``attempt_frequency_Hz``: site
        energies F_a = E_a + k_B T L_a and saddles G_ab = S_ab + k_B T M_ab give the same
        rates, occupations and detailed balance as the harmonic prefactors (so the KMC,
        its equilibrium start and the superbasin raise need nothing else). Itself where
        the network has no prefactors."""
        if not self.harmonic:
            return self
        kt = K_B_EV_K * temperature_K
        return dataclasses.replace(
            self,
            site_energy_eV=tuple(
                float(e + kt * lv)
                for e, lv in zip(self.site_energy_eV, self.site_ln_nu, strict=True)
            ),
            edge_saddle_eV=tuple(
                float(s + kt * mv)
                for s, mv in zip(self.edge_saddle_eV, self.edge_ln_nu, strict=True)
            ),
            site_ln_nu=(),
            edge_ln_nu=(),
        )

    def prefactors_Hz(self) -> tuple[np.ndarray, np.ndarray]:
        """Forward (a -> b) and backward prefactor of every hop, Hz."""
        n = len(self.edge_a)
        if not self.harmonic:
            return np.full(n, self.attempt_frequency_Hz), np.full(n, self.attempt_frequency_Hz)
        lv, mv = np.asarray(self.site_ln_nu), np.asarray(self.edge_ln_nu)
        a, b = np.asarray(self.edge_a, dtype=int), np.asarray(self.edge_b, dtype=int)
        nu0 = self.attempt_frequency_Hz
        return nu0 * np.exp(lv[a] - mv), nu0 * np.exp(lv[b] - mv)

    @property
    def n_sites(self) -> int:
        """Number of sites in the cell."""
        return len(self.site_frac)

    def rates(self, temperature_K: float) -> tuple[np.ndarray, np.ndarray]:
        """Forward (a -> b) and backward (b -> a) rate of every hop, 1/s."""
        kt = K_B_EV_K * temperature_K
        e = np.asarray(self.site_energy_eV)
        s = np.asarray(self.edge_saddle_eV)
        a, b = np.asarray(self.edge_a, dtype=int), np.asarray(self.edge_b, dtype=int)
        fwd, bwd = self.prefactors_Hz()
        return fwd * np.exp(-(s - e[a]) / kt), bwd * np.exp(-(s - e[b]) / kt)

    def detailed_balance_error(self, temperature_K: float) -> float:
        """Largest |ln(k_ab/k_ba) + (F_b - F_a)/k_B T| over all hops (0 up to rounding);
        F the site energies, with the harmonic free energy where the network has it."""
        if not self.edge_a:
            return 0.0
        fwd, bwd = self.rates(temperature_K)
        e = np.asarray(self.effective(temperature_K).site_energy_eV)
        a, b = np.asarray(self.edge_a, dtype=int), np.asarray(self.edge_b, dtype=int)
        kt = K_B_EV_K * temperature_K
        return float(np.abs(np.log(fwd / bwd) + (e[b] - e[a]) / kt).max())

    def summary(self) -> dict[str, Any]:
        """Counts and the barrier range, for tables."""
        e = np.asarray(self.site_energy_eV)
        s = np.asarray(self.edge_saddle_eV)
        a = np.asarray(self.edge_a, dtype=int)
        b = np.asarray(self.edge_b, dtype=int)
        low = np.minimum(s - e[a], s - e[b]) if len(s) else np.array([np.nan])
        return {
            "n_sites": self.n_sites,
            "n_hops": len(self.edge_a),
            "n_carriers": self.n_carriers,
            "source": self.source,
            "min_barrier_eV": float(np.nanmin(low)),
            "max_barrier_eV": float(np.nanmax(np.maximum(s - e[a], s - e[b]))) if len(s) else None,
            "attempt_frequency_Hz": self.attempt_frequency_Hz,
            "exclusion_radius_A": self.exclusion_radius_A,
            **(self._prefactor_range() if self.harmonic else {}),
        }

    def _prefactor_range(self) -> dict[str, float]:
        """Median, lowest and highest harmonic prefactor of the hops (both ways), Hz; empty
        for a network without hops."""
        nu = np.concatenate(self.prefactors_Hz())
        if not len(nu):
            return {}
        return {
            "prefactor_median_Hz": float(np.median(nu)),
            "prefactor_min_Hz": float(nu.min()),
            "prefactor_max_Hz": float(nu.max()),
        }


def make_network(
    lattice: Any,
    site_frac: Sequence[Sequence[float]],
    site_energy_eV: Sequence[float],
    edges: Sequence[tuple[int, int, Sequence[int], float]],
    n_carriers: int,
    site_label: Sequence[str] | None = None,
    site_role: Sequence[str] | None = None,
    edge_class: Sequence[str] | None = None,
    formula: str = "",
    attempt_frequency_Hz: float = ATTEMPT_FREQUENCY_HZ,
    exclusion_radius_A: float = EXCLUSION_RADIUS_A,
    source: str = "user",
    notes: Sequence[str] = (),
    exclusion_pairs: Sequence[tuple[int, int, Sequence[int]]] = (),
    parameters: Mapping[str, Any] | None = None,
    site_ln_nu: Sequence[float] = (),
    edge_ln_nu: Sequence[float] = (),
) -> RateNetwork:
    """A :class:`RateNetwork` from plain lists (checked); ``parameters`` join the
    provenance's (how the energies were made).

    Parameters
    ----------
    lattice : (3, 3)
        Cell vectors (rows), A.
    site_frac : (n, 3)
    site_energy_eV : (n,)
    edges : sequence of (a, b, image, saddle_eV)
    n_carriers : int
    exclusion_pairs : sequence of (a, b, image)
        Site pairs never both occupied, whatever their distance.
    site_ln_nu, edge_ln_nu : sequences of float
        Harmonic prefactors (:class:`RateNetwork`), one per site and one per hop; both or
        neither.
    """
    frac = np.asarray(site_frac, dtype=float).reshape(-1, 3)
    n = len(frac)
    e = np.asarray(site_energy_eV, dtype=float)
    if len(e) != n:
        raise SimulationError(f"{len(e)} site energies for {n} sites")
    if not 0 < n_carriers <= n:
        raise SimulationError(f"{n_carriers} carriers do not fit {n} sites")
    if attempt_frequency_Hz <= 0 or exclusion_radius_A < 0:
        raise SimulationError("the attempt frequency must be > 0 and the exclusion radius >= 0")
    ea, eb, im, sd = [], [], [], []
    for a, b, image, saddle in edges:
        a, b = int(a), int(b)
        if not (0 <= a < n and 0 <= b < n):
            raise SimulationError(f"hop ({a}, {b}) refers to a site that does not exist")
        image = tuple(int(v) for v in image)
        if a == b and image == (0, 0, 0):
            raise SimulationError(f"hop ({a}, {b}) joins a site to itself")
        ea.append(a)
        eb.append(b)
        im.append(image)
        sd.append(max(float(saddle), e[a], e[b]))  # a saddle below an end is that end
    if (len(site_ln_nu) or len(edge_ln_nu)) and (
        len(site_ln_nu) != n or len(edge_ln_nu) != len(ea)
    ):
        raise SimulationError(
            f"harmonic prefactors need one value per site ({n}) and per hop ({len(ea)}), "
            f"got {len(site_ln_nu)} and {len(edge_ln_nu)}"
        )
    if not np.isfinite(
        np.concatenate([np.asarray(site_ln_nu, float), np.asarray(edge_ln_nu, float)])
    ).all():
        raise SimulationError("harmonic prefactors must be finite")
    pairs = []
    for a, b, image in exclusion_pairs:
        image = tuple(int(v) for v in image)
        if not (0 <= int(a) < n and 0 <= int(b) < n) or (a == b and image == (0, 0, 0)):
            raise SimulationError(f"exclusion pair ({a}, {b}, {image}) is not two sites")
        pairs.append((int(a), int(b), image))
    return RateNetwork(
        formula=formula,
        lattice=np.asarray(lattice, dtype=float).tolist(),
        site_frac=tuple(tuple(float(v) for v in f) for f in frac),
        site_label=tuple(site_label or [f"s{i}" for i in range(n)]),
        site_role=tuple(site_role or ["li"] * n),
        site_energy_eV=tuple(float(v) for v in e),
        edge_a=tuple(ea),
        edge_b=tuple(eb),
        edge_image=tuple(im),
        edge_saddle_eV=tuple(sd),
        edge_class=tuple(edge_class or [""] * len(ea)),
        n_carriers=int(n_carriers),
        attempt_frequency_Hz=float(attempt_frequency_Hz),
        exclusion_radius_A=float(exclusion_radius_A),
        source=source,
        notes=tuple(notes),
        exclusion_pairs=tuple(pairs),
        site_ln_nu=tuple(float(v) for v in site_ln_nu),
        edge_ln_nu=tuple(float(v) for v in edge_ln_nu),
        provenance=Provenance(
            method=f"rate-network-{source}",
            parameters={
                "attempt_frequency_Hz": attempt_frequency_Hz,
                "exclusion_radius_A": exclusion_radius_A,
                **dict(parameters or {}),
            },
        ),
    )


def face_exclusions(
    sites: Sequence[Any], hops: Sequence[Any]
) -> list[tuple[int, int, tuple[int, int, int]]]:
    """Site pairs that a Li never holds both of: an interstitial that shares faces with at
    most two Li sites, and those sites, where one of the pair is a tetrahedron.

    Any path through such an interstitial comes from one of its face neighbours and goes
    to the other, so its energy (NEB or BVSE) is that of a Li with both of them empty;
    with one of them occupied the two cations would sit 1.5-2.7 A apart, a state never
    measured. The spinel's 16c octahedron, between two 8a tetrahedra, is the case (without
    this, KMC filled 16c next to occupied 8a). An interstitial with more face neighbours
    (a ccp tetrahedron faces four octahedra, two of them neither start nor end of the
    path) was measured with its other neighbours as the NEB cell had them, often occupied:
    forbidding those states would contradict the measurement (it blocks every Li of a
    full sublattice, as divacancy-only hopping would), so they stay allowed; the right
    model there is a neighbour-dependent energy, which this network does not have. Octahedra
    that share a face (hcp, 2.9-3.1 A) are left to the exclusion radius. ``sites`` and
    ``hops`` are those of a :class:`~halidelab.transport.sites.SiteNetwork` (records or
    their dicts).
    """

    def get(x: Any, name: str) -> Any:
        return x[name] if isinstance(x, Mapping) else getattr(x, name)

    faces: dict[int, list[tuple[int, int, tuple[int, int, int]]]] = {}
    for h in hops:
        if get(h, "window") != "face":
            continue
        a, b = int(get(h, "site_a")), int(get(h, "site_b"))
        img = tuple(int(v) for v in get(h, "image"))
        ra, rb = get(sites[a], "role"), get(sites[b], "role")
        if {ra, rb} != {"li", "interstitial"}:
            continue
        if get(sites[a], "kind") == get(sites[b], "kind") == "oct":
            continue
        i = a if ra == "interstitial" else b
        faces.setdefault(i, []).append((a, b, img))
    return [p for pairs in faces.values() if len(pairs) <= 2 for p in pairs]


def _face_note(pairs: Sequence[Any]) -> str:
    return (
        f"{len(pairs)} pairs of a Li site and an interstitial between two Li sites (sharing a "
        "face, one a tetrahedron) are never both occupied: the interstitial's energy is "
        "that with both neighbours empty"
    )


def _orbit_energies(
    results: Sequence[Mapping[str, Any]], labels: Sequence[str]
) -> tuple[dict[str, float], float, list[str]]:
    """Least-squares energy per site label from the NEB runs' energy differences.

    Each vacancy run gives E(final) - E(initial) = delta_e; a path through interstitials
    that was split at stable ones also gives E(i) - E(initial) for each of them. The
    lowest-numbered Li orbit is the zero. Returns energies, the largest residual (eV) and notes.
    """
    labs = sorted(set(labels), key=lambda s: (not s.startswith("Li"), s))
    idx = {lab: k for k, lab in enumerate(labs)}
    rows, rhs = [], []

    def eq(a: str, b: str, d: float) -> None:
        if a in idx and b in idx and a != b:
            r = np.zeros(len(labs))
            r[idx[b]] += 1.0
            r[idx[a]] -= 1.0
            rows.append(r)
            rhs.append(d)

    for r in results:
        if not (r.get("converged") and r.get("endpoints_ok", True)):
            continue
        eq(r["label_initial"], r["label_final"], float(r["delta_e_eV"]))
        if r.get("via"):
            par = (r.get("provenance") or {}).get("parameters") or {}
            minima, _ = path_profile(r["via"], r["energies_eV"], par)
            for v, e in minima:
                eq(r["label_initial"], r["via"][v], e)
    ref = np.zeros(len(labs))
    ref[0] = 1.0
    a = np.vstack([*rows, ref]) if rows else ref[None]
    y = np.array([*rhs, 0.0])
    sol, *_ = np.linalg.lstsq(a, y, rcond=None)
    resid = float(np.abs(a @ sol - y).max()) if rows else 0.0
    notes = []
    # labels that no equation reaches keep energy 0: say so
    reached = {labs[0]}
    for row in rows:
        reached |= {labs[k] for k in np.nonzero(row)[0]}
    lone = [lab for lab in labs if lab not in reached]
    if lone:
        notes.append(f"no NEB run fixes the energy of {', '.join(lone)}: set equal to {labs[0]}")
    return {lab: float(sol[idx[lab]]) for lab in labs}, resid, notes


def _rebuilt_network(
    study: Mapping[str, Any], structure: Any | None, results: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The site network of a stored NEB study that was saved without it (the ``neb`` task
    drops it: it is large and a deterministic function of the cell): rebuilt from the cell
    with the study's own settings, then checked against every hop class and site label
    the study's runs name."""
    from halidelab.transport.sites import site_network

    if structure is None:
        raise SimulationError(
            "the NEB study was stored without its site network: give the cell it ran on"
        )
    params = (study.get("provenance") or {}).get("parameters") or {}
    net = site_network(structure, interstitials=bool(params.get("interstitials", True))).to_dict()
    labels = {x["label"] for x in net["sites"]}
    parents = {int(h["parent_class"]) for h in net["hops"]}
    for r in results:
        named = {r.get("label_initial"), r.get("label_final")} - {None}
        classes = {
            int(c) for c in (r.get("hop_classes") or [r.get("parent_class")]) if c is not None
        }
        if not named <= labels or not classes <= parents:
            raise SimulationError(
                "the NEB study does not match the site network of this cell (other sites or "
                "hop classes): rerun 'halidelab neb' on this cell"
            )
    return net


def network_from_neb_study(
    study: Mapping[str, Any],
    structure: Any | None = None,
    level: str | None = None,
    attempt_frequency_Hz: float = ATTEMPT_FREQUENCY_HZ,
    exclusion_radius_A: float = EXCLUSION_RADIUS_A,
) -> RateNetwork:
    """The rate network of a cell from its NEB study (a stored ``NEBStudy`` dict).

    Parameters
    ----------
    study : dict
        :class:`~halidelab.transport.neb.NEBStudy` as a dict (task kind ``neb``).
    structure : Structure, optional
        The relaxed cell the study ran on; its Li count, less the Li the study took out
        (``created_vacancies``), sets the carriers (default: the occupied sites of the
        study's network).
    level : {"parent", "environment"}, optional
        Saddles per parent hop class or per dopant environment (default: what the study
        resolved, ``environment`` when it ran ``--hops environment``).
    attempt_frequency_Hz, exclusion_radius_A : float

    Returns
    -------
    RateNetwork
        Hops whose class has no converged NEB run are left out (counted in ``notes``).
    """
    results = list(study.get("results") or [])
    if not results:
        raise SimulationError("the NEB study holds no hop results: run 'halidelab neb' first")
    net = study.get("network") or _rebuilt_network(study, structure, results)
    sites, hops = net["sites"], net["hops"]
    mode = study.get("hops_mode", "distinct")
    level = level or ("environment" if mode == "environment" else "parent")
    if level not in ("parent", "environment"):
        raise SimulationError(f"level must be 'parent' or 'environment', got {level!r}")
    labels = [s["label"] for s in sites]
    e_orbit, resid, notes = _orbit_energies(results, labels)
    e_site = np.array([e_orbit.get(lab, 0.0) for lab in labels])
    # saddle energies per class; a path through interstitials gives each hop class it
    # traverses a saddle (the highest point of the band that leg lies in)
    by_parent: dict[int, float] = {}
    by_env: dict[int, float] = {}
    for r in results:
        if not (r.get("converged") and r.get("endpoints_ok", True)):
            continue
        ei = e_orbit.get(r["label_initial"], 0.0)
        ef = e_orbit.get(r["label_final"], 0.0)
        par = (r.get("provenance") or {}).get("parameters") or {}
        if r.get("via"):  # each leg: the highest point of the band it lies in
            legs = [ei + x for x in path_profile(r["via"], r["energies_eV"], par)[1]]
        else:
            s = 0.5 * (ei + ef + float(r["barrier_forward_eV"]) + float(r["barrier_backward_eV"]))
            legs = [s]
        pcs = list(r.get("hop_classes") or [r.get("parent_class")])
        ecs = list(r.get("hop_env_classes") or [r.get("env_class")])
        for cls, s in zip(pcs, legs * len(pcs) if len(legs) == 1 else legs, strict=False):
            if cls is not None:
                by_parent[int(cls)] = min(by_parent.get(int(cls), math.inf), s)
        for cls, s in zip(ecs, legs * len(ecs) if len(legs) == 1 else legs, strict=False):
            if cls is not None:
                by_env[int(cls)] = min(by_env.get(int(cls), math.inf), s)
    edges, classes, missing = [], [], 0
    for h in hops:
        s = None
        if level == "environment" and int(h["env_class"]) in by_env:
            s = by_env[int(h["env_class"])]
        elif int(h["parent_class"]) in by_parent:
            s = by_parent[int(h["parent_class"])]
        if s is None:
            missing += 1
            continue
        edges.append((h["site_a"], h["site_b"], h["image"], s))
        classes.append(
            f"{h['label']} class {h['parent_class']}"
            + (f" env {h['env_class']}" if level == "environment" else "")
        )
    if not edges:
        raise SimulationError("no hop of the network has a converged NEB barrier: no rate network")
    if missing:
        notes.append(
            f"{missing} of {len(hops)} hops have no converged NEB run of their class and are left "
            "out"
        )
    notes.append(
        f"site energies per orbit by least squares over the NEB energy differences "
        f"(largest residual {resid * 1000:.1f} meV)"
    )
    if level == "environment":
        notes.append(
            "saddles per dopant environment where the study resolved it, else per parent class; "
            "site energies per framework orbit (the dopant's effect on site energies is not "
            "resolved)"
        )
    blocked = face_exclusions(sites, hops)
    if blocked:
        notes.append(_face_note(blocked))
    created = list(study.get("created_vacancies") or ())
    if structure is not None:
        # the study ran on the cell without the Li it took out of full orbits: the KMC
        # simulates that cell (a fully occupied sublattice has no other carrier of motion)
        n_carriers = sum(1 for el in structure.species if el.symbol == "Li") - len(created)
    else:
        n_carriers = sum(1 for s in sites if s.get("occupant") is not None)
    if created:
        n_li_sites = sum(1 for s in sites if s["role"] == "li")
        notes.append(
            f"{len(created)} Li taken out for the NEB ({'; '.join(created)}): {n_carriers} "
            f"carriers on {n_li_sites} Li sites, a vacancy fraction set by the cell size, not "
            "by a computed defect concentration (sigma scales with it)"
        )
    return make_network(
        net["lattice"],
        [s["frac"] for s in sites],
        e_site,
        edges,
        n_carriers,
        site_label=labels,
        site_role=[s["role"] for s in sites],
        edge_class=classes,
        formula=study.get("formula", ""),
        attempt_frequency_Hz=attempt_frequency_Hz,
        exclusion_radius_A=exclusion_radius_A,
        source="neb",
        notes=notes,
        exclusion_pairs=blocked,
    )


def network_from_bvse(
    structure: Any,
    interstitials: bool = True,
    n_line: int = 25,
    attempt_frequency_Hz: float = ATTEMPT_FREQUENCY_HZ,
    exclusion_radius_A: float = EXCLUSION_RADIUS_A,
    vacancies: int = 0,
    saddle: str = "path",
    resolution_A: float = 0.15,
    contacts: bool = False,
    prefactors: str = "fixed",
) -> RateNetwork:
    """A cheap rate network from the bond-valence site energy of an ordered cell.

    Sites and hops are those of :func:`halidelab.transport.sites.site_network`
    (face-sharing holes). With ``saddle="path"`` (default) a site's energy is the BVSE
    minimum of its basin and a hop's saddle the highest point of the minimum-energy path
    between the two basins on a ``resolution_A`` grid
    (:func:`halidelab.transport.bvse.hop_path_energies`), never above the straight line's
    maximum. With ``saddle="line"`` (before 2026-12) a site's energy is the BVSE energy at
    its hole centre and a hop's saddle the highest BVSE energy on ``n_line`` points of the
    straight line between the centres: an upper bound, eV too high where a site is the
    centroid of split positions (Li6NBr3: KMC Ea 5.8 eV against the map's 3D barrier of
    0.55 eV). Either way BVSE barriers are not MLIP barriers (they are calibrated in the
    validation).

    ``contacts=True`` (path saddles only) also joins every other pair of sites whose basins
    touch (:func:`halidelab.transport.bvse.basin_contacts`) with a saddle at most
    :data:`CONTACT_MAX_EV` above the lowest Li site, so that the network percolates where
    the map does (Li3ErI6: at 0.30 eV with them, 0.40 eV on the face-sharing hops alone).
    Off by default, from the validation set: the BVSE energy of a Li has no Li-Li
    repulsion, so a contact to an interstitial 2.2 A from an occupied Li site looks as
    cheap as an empty one, and the face-sharing exclusions that keep such pairs apart
    (:func:`face_exclusions`) exist only for the site network's hops. With contacts,
    LiAlCl4 and Li3AlF6 (every Li site full) came out 2.6 and 4.0 decades faster than
    measured and the calibrated KMC sigma error rose from 0.62 to 1.11 decades (issue 14
    note, 2026-12-07).

    ``prefactors="harmonic"`` (path saddles only) gives each hop Vineyard's harmonic
    prefactor nu* = prod(nu, 3 modes at the site) / prod(nu, 2 stable modes at the saddle)
    of a Li in the same BVSE field (:mod:`halidelab.transport.harmonic`): every site's
    minimum and every hop's saddle refined from its grid point by eigenvector-following
    Newton steps, the frequencies from central-difference curvatures. A frozen host: its
    relaxation around the moving Li (which softens a saddle's window) is left out, so nu* is
    the one-particle value. A site or saddle that does not converge to a stationary point
    of the right kind near its grid point (a shoulder, a centroid of split positions) keeps
    nu0 = ``attempt_frequency_Hz`` per mode (a saddle: the geometric mean of its ends'),
    and the notes count them (on the reference set's networks 7 % of sites, 6 % of
    saddles). The default, ``fixed``, is one ``attempt_frequency_Hz``: the harmonic
    prefactors there are 1.2-4.3 THz (median per network), and the KMC sigma they give
    is 0.7-1.5 decades lower and no better after calibration (issue 14 notes,
    2026-12-07).

    ``vacancies`` Li are taken out of each cell (the KMC's equilibrium start places the
    others): a full Li sublattice conducts through vacancies that an ordered cell does not
    have, and this gives them at the fraction the cell sets, as the NEB studies do when they
    take Li out; the network's notes say so, so that a campaign with the defect tier rescales
    sigma to the intrinsic fraction (:mod:`halidelab.validation.tiers`).

    Raises
    ------
    SimulationError
        ``vacancies`` negative, or not fewer than the cell's Li; ``saddle`` or
        ``prefactors`` unknown; harmonic prefactors on straight-line saddles.
    """
    from halidelab.transport.bvse import (
        basin_contacts,
        bvse_map,
        hop_path_energies,
        site_energy,
        undirected_hop,
    )
    from halidelab.transport.sites import site_network

    if saddle not in ("path", "line"):
        raise SimulationError(f"BVSE saddle must be 'path' or 'line', got {saddle!r}")
    if contacts and saddle != "path":
        raise SimulationError("basin contacts need path saddles (saddle='path')")
    if prefactors not in PREFACTORS:
        raise SimulationError(f"prefactors must be 'fixed' or 'harmonic', got {prefactors!r}")
    if prefactors == "harmonic" and saddle != "path":
        raise SimulationError("harmonic prefactors need path saddles (saddle='path')")
    n_li = sum(1 for el in structure.species if el.symbol == "Li")
    if not 0 <= int(vacancies) < n_li:
        raise SimulationError(
            f"vacancies must be >= 0 and fewer than the cell's {n_li} Li, got {vacancies}"
        )
    net = site_network(structure, interstitials=interstitials)
    frac = net.frac_matrix()
    e_site = site_energy(structure, frac)
    pairs = [
        (h.site_a, h.site_b, tuple(h.image), f"{h.label} class {h.parent_class}") for h in net.hops
    ]
    added = 0
    if saddle == "path":
        bmap = bvse_map(structure, resolution_A=resolution_A)
    if contacts:
        # the site network joins face-sharing holes; the map may let a Li pass between two
        # basins that share no face (an edge of a swollen iodide's tetrahedra): every pair
        # whose basins touch is a hop, its saddle found like the others'
        have = {undirected_hop(a, b, im) for a, b, im, _ in pairs}
        for a, b, im in basin_contacts(bmap, frac):
            if (a, b, im) not in have:
                la, lb = net.sites[a].label, net.sites[b].label
                pairs.append((a, b, im, f"{la}-{lb} basin contact"))
                added += 1
    t = np.linspace(0.0, 1.0, n_line)[1:-1]
    pts = [
        frac[a][None] + t[:, None] * (frac[b] + np.asarray(im) - frac[a])[None]
        for a, b, im, _ in pairs
    ]
    line = (
        site_energy(structure, np.vstack(pts)).reshape(len(pairs), len(t))
        if pts
        else np.zeros((0, 0))
    )
    tops = line.max(axis=1) if pairs else np.zeros(0)
    li = [i for i, s in enumerate(net.sites) if s.role == "li"]
    if saddle == "path":
        e_grid, e_path, at_site, at_saddle = hop_path_energies(
            bmap, frac, [(a, b, im) for a, b, im, _ in pairs], locations=True
        )
        e_site = np.minimum(e_site, e_grid)
        tops = np.minimum(tops, e_path)
    # a contact too high to matter is left out (the site network's own hops all stay)
    e0 = float(np.min(e_site[li]))
    keep = [k for k in range(len(pairs)) if k < len(net.hops) or tops[k] - e0 <= CONTACT_MAX_EV]
    edges = [(*pairs[k][:3], float(tops[k])) for k in keep]
    classes = [pairs[k][3] for k in keep]
    if saddle == "path":
        how = (
            f"BVSE site energies at their basin minima and saddles at the top of the "
            f"minimum-energy path between the basins ({resolution_A:g} A grid, never above "
            "the straight line's maximum)"
        )
        if contacts:
            how += (
                "; hops between basins that touch without a shared face added to the site "
                f"network's: {len(keep) - len(net.hops)} of {added}, those with saddles at "
                f"most {CONTACT_MAX_EV:g} eV above the lowest Li site (no Li-Li repulsion)"
            )
    else:
        how = (
            "BVSE energies at hole centres; saddles = maximum on the straight hop line "
            "(an upper bound for curved paths)"
        )
    harm: dict[str, Any] = {}
    if prefactors == "harmonic":
        harm = _harmonic_logs(
            structure, at_site, at_saddle[keep], [pairs[k][:2] for k in keep], attempt_frequency_Hz
        )
    blocked = face_exclusions(net.sites, net.hops)
    n_li_sites = sum(1 for s in net.sites if s.role == "li")
    made = (
        [
            f"{vacancies} Li taken out of each cell: {n_li - vacancies} carriers on {n_li_sites} "
            "Li sites, a vacancy fraction set by the cell size, not by a computed defect "
            "concentration (sigma scales with it)"
        ]
        if vacancies
        else []
    )
    return make_network(
        net.lattice,
        frac,
        e_site - e0,
        [(a, b, im, s - e0) for a, b, im, s in edges],
        n_li - int(vacancies),
        site_label=[s.label for s in net.sites],
        site_role=[s.role for s in net.sites],
        edge_class=classes,
        formula=net.formula,
        attempt_frequency_Hz=attempt_frequency_Hz,
        exclusion_radius_A=exclusion_radius_A,
        source="bvse",
        notes=(
            f"{how}; not MLIP barriers",
            *([_face_note(blocked)] if blocked else []),
            *made,
            *([harm["note"]] if harm else []),
        ),
        exclusion_pairs=blocked,
        parameters={
            "saddle": saddle,
            **({"resolution_A": resolution_A} if saddle == "path" else {}),
            **({"contacts": True} if contacts else {}),
            **({"prefactors": "harmonic"} if harm else {}),
        },
        site_ln_nu=harm.get("site", ()),
        edge_ln_nu=harm.get("edge", ()),
    )


def _harmonic_logs(
    structure: Any,
    site_frac: np.ndarray,
    saddle_frac: np.ndarray,
    ends: Sequence[tuple[int, int]],
    nu0_Hz: float,
) -> dict[str, Any]:
    """Vineyard logs (:class:`RateNetwork` ``site_ln_nu``, ``edge_ln_nu``) of a Li in the
    BVSE field of ``structure``, from the grid points of its sites and saddles, and a note
    saying how many kept nu0 and the prefactors' range."""
    from pymatgen.core import Element

    from halidelab.transport.bvse import bvse_field
    from halidelab.transport.harmonic import stationary_points, vineyard_logs

    cell = np.asarray(structure.lattice.matrix)
    energy = bvse_field(structure)
    n_s = len(site_frac)
    have = np.isfinite(saddle_frac).all(axis=1)
    start = np.vstack([site_frac @ cell, saddle_frac[have] @ cell])
    index = np.r_[np.zeros(n_s, dtype=int), np.ones(int(have.sum()), dtype=int)]
    # a site's minimum is within a grid step or two of its grid point, a saddle too; a
    # point that walks further has found another stationary point (the site's centre,
    # the next basin)
    _, _, hess, ok = stationary_points(energy, start, index, max_move_A=0.6)
    mass = float(Element("Li").atomic_mass)
    good_sites, sad_ok = ok[:n_s], ok[n_s:]
    site_l, saddle_l = vineyard_logs(hess[:n_s][good_sites], hess[n_s:][sad_ok], mass, nu0_Hz)
    site = np.zeros(n_s)  # a site without its minimum: nu0 per mode
    site[good_sites] = site_l
    # a saddle without its stationary point: the geometric mean of its ends'
    edge = np.array([(site[a] + site[b]) / 2 for a, b in ends], dtype=float)
    edge[np.flatnonzero(have)[sad_ok]] = saddle_l
    a = np.array([e[0] for e in ends], dtype=int)
    b = np.array([e[1] for e in ends], dtype=int)
    nu = nu0_Hz * np.exp(np.concatenate([site[a] - edge, site[b] - edge])) if len(ends) else []
    span = (
        f"; nu* {np.median(nu) / 1e12:.2g} THz median, {np.min(nu) / 1e12:.2g}-"
        f"{np.max(nu) / 1e12:.2g} THz"
        if len(nu)
        else ""
    )
    return {
        "site": site,
        "edge": edge,
        "note": (
            "harmonic (Vineyard) prefactors of one Li in the frozen host's BVSE field"
            f"{span}; {int((~good_sites).sum())} of {n_s} sites and "
            f"{len(ends) - int(sad_ok.sum())} of {len(ends)} saddles kept nu0 = "
            f"{nu0_Hz:.1e} Hz per mode (no stationary point of the right kind at their grid "
            "point)"
        ),
    }
