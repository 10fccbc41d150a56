"""Kinetic Monte Carlo on Li hop networks: D, Haven ratio, sigma(T) and Ea at 25-100 C.

MD on these machines reaches 600-900 K for picoseconds; a battery group wants sigma at
25 C and Ea over 25-100 C. The NEB study of a relaxed cell already holds what
room-temperature transport is made of: Li sites and interstitials, their energies and
the saddle energies of the hops between them on a periodic network. KMC on that network
gives D and sigma at any temperature without extrapolating.

The network (:class:`RateNetwork`)
    Sites (Li sites and interstitials) with energies E_i and undirected hops with a
    saddle energy S_ij. Rates are harmonic transition-state theory with one attempt
    frequency nu (stated; default 1e13 Hz): k_ij = nu exp(-(S_ij - E_i)/k_B T).
    Detailed balance, k_ij/k_ji = exp(-(E_j - E_i)/k_B T), holds by construction
    because the forward and backward rates share the saddle energy.
    From an NEB study (:func:`network_from_neb_study`): site energies per framework orbit
    (Li1, Li2, i1 ...) by least squares over the energy differences of the NEB runs (the
    residual is reported: it measures how far the runs are from one consistent energy
    landscape); saddles per hop class, S = (E_a + E_b + barrier_fwd + barrier_bwd)/2,
    split by dopant environment where the study resolved it. From a BVSE map
    (:func:`network_from_bvse`, a cheap stated approximation): BVSE energies at the hole
    centres and the maximum along the straight hop line.
Many-particle KMC (:func:`run_kmc`)
    Rejection-free (Bortz-Kalos-Lebowitz / Gillespie) on a periodic supercell of the
    network, the number of carriers fixed by the composition (the Li of the cell),
    site blocking and a hard-core exclusion radius (no two Li closer than
    ``exclusion_radius_A``, :data:`EXCLUSION_RADIUS_A`). Li-Li interactions beyond that
    are not modelled (stated in results).
Superbasins (:func:`superbasin_saddles`, on by default)
    A cation-disordered (ball-milled) cell holds pairs of sites joined by barriers of
    0-0.1 eV next to a critical path at 0.4-0.5 eV: plain KMC spends ~1e6 events rattling
    per useful hop and stayed sub-diffusive after 12,800 hops per Li on every
    ball-milled Chen network. The saddles of hops crossed more than
    :data:`SUPERBASIN_RATIO` times as often as the critical hops are raised (both
    directions alike: site energies, occupations and detailed balance unchanged), as
    in accelerated superbasin KMC; the error is bounded by the ratio and measured in
    ``benchmarks/bench_kmc_superbasin.py``. Each point records what was raised.
Observables
    Tracer D* from the time-origin averaged MSD of the carriers, collective (jump)
    D_sigma from the MSD of their summed displacement divided by N, Haven ratio
    H_R = D*/D_sigma, and sigma = n e^2 D_sigma / (k_B T) (Nernst-Einstein with the
    collective D, so correlations are in). Each from ``n_runs`` independent runs (random
    initial occupations, own seeds); the uncertainty is the run-to-run standard error.
    Ea from :func:`halidelab.arrhenius.fit_arrhenius` over the requested temperatures.

Why our own KMC and not kmcpy (Canepa group, on PyPI as ``kmcpy`` 0.3.0): kmcpy is
built around a local cluster expansion of barriers fitted to many NEB calculations, and
its own input files (events.json, lce.json); its event loop runs in Python per event
(an ``index`` lookup over all events, a model call per dependent event and a full
cumulative sum per step). What we have is a per-class barrier network, for which a
numba kernel of ~100 lines does one event in microseconds; the physics tests below
(random walk, single-file diffusion, Boltzmann occupations, detailed balance,
supercell convergence) are what the choice is held to. ``benchmarks/bench_kmc.py``
measures events per second.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from halidelab.constants import E_CHARGE_C, K_B_EV_K, K_B_J_K
from halidelab.errors import FitError, SimulationError
from halidelab.records import Provenance, Record

#: Attempt frequency of every hop, Hz (harmonic TST; typical Li values 1e12-1e13 Hz).
ATTEMPT_FREQUENCY_HZ = 1.0e13
#: Two carriers never closer than this, A: split or overlapping positions. Face-sharing
#: oct-tet pairs (measured 2.19-2.30 A in Li2ZrCl6, Li3YCl6 and Li3InCl6 models) stay
#: allowed: excluding them (2.4 A) blocked every Li of ccp Li3InCl6, whose oct-tet-oct
#: paths all pass tetrahedra next to occupied octahedra; their Li-Li repulsion enters only
#: through the site and saddle energies (NEB: computed with the neighbours present).
EXCLUSION_RADIUS_A = 2.0
#: Shortest supercell length along each cell vector, A.
MIN_SUPERCELL_LENGTH_A = 20.0
#: A temperature is diffusive when the run-averaged collective MSD per carrier reaches
#: this many hop lengths squared over the fit window ...
MIN_MSD_HOPS = 4.0
#: ... and grows there with at least this log-log slope (1 = diffusive).
MIN_LOGLOG_SLOPE = 0.7
#: Runs that are not diffusive are repeated 4x longer, up to this many times the asked
#: ``hops_per_carrier`` (rattling between neighbouring sites eats events).
MAX_EXTENSION = 64
#: Superbasin acceleration: hops crossed more than this many times as often as the
#: critical hops of the network are slowed to that ratio (:func:`superbasin_saddles`).
SUPERBASIN_RATIO = 100.0

ANGSTROM2_TO_CM2 = 1e-16


# ----------------------------------------------------------------------------- network


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
        return (self.attempt_frequency_Hz * np.exp(-(s - e[a]) / kt),
                self.attempt_frequency_Hz * np.exp(-(s - e[b]) / kt))

    def detailed_balance_error(self, temperature_K: float) -> float:
        """Largest |ln(k_ab/k_ba) + (E_b - E_a)/k_B T| over all hops (0 up to rounding)."""
        if not self.edge_a:
            return 0.0
        fwd, bwd = self.rates(temperature_K)
        e = np.asarray(self.site_energy_eV)
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
        return {"n_sites": self.n_sites, "n_hops": len(self.edge_a), "n_carriers": self.n_carriers,
                "source": self.source, "min_barrier_eV": float(np.nanmin(low)),
                "max_barrier_eV": float(np.nanmax(np.maximum(s - e[a], s - e[b]))) if len(s) else None,
                "attempt_frequency_Hz": self.attempt_frequency_Hz,
                "exclusion_radius_A": self.exclusion_radius_A}


def make_network(lattice: Any, site_frac: Sequence[Sequence[float]], site_energy_eV: Sequence[float],
                 edges: Sequence[tuple[int, int, Sequence[int], float]], n_carriers: int,
                 site_label: Sequence[str] | None = None, site_role: Sequence[str] | None = None,
                 edge_class: Sequence[str] | None = None, formula: str = "",
                 attempt_frequency_Hz: float = ATTEMPT_FREQUENCY_HZ,
                 exclusion_radius_A: float = EXCLUSION_RADIUS_A, source: str = "user",
                 notes: Sequence[str] = ()) -> RateNetwork:
    """A :class:`RateNetwork` from plain lists (checked).

    Parameters
    ----------
    lattice : (3, 3)
        Cell vectors (rows), A.
    site_frac : (n, 3)
    site_energy_eV : (n,)
    edges : sequence of (a, b, image, saddle_eV)
    n_carriers : int
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
    return RateNetwork(
        formula=formula, lattice=np.asarray(lattice, dtype=float).tolist(),
        site_frac=tuple(tuple(float(v) for v in f) for f in frac),
        site_label=tuple(site_label or [f"s{i}" for i in range(n)]),
        site_role=tuple(site_role or ["li"] * n), site_energy_eV=tuple(float(v) for v in e),
        edge_a=tuple(ea), edge_b=tuple(eb), edge_image=tuple(im), edge_saddle_eV=tuple(sd),
        edge_class=tuple(edge_class or [""] * len(ea)), n_carriers=int(n_carriers),
        attempt_frequency_Hz=float(attempt_frequency_Hz), exclusion_radius_A=float(exclusion_radius_A),
        source=source, notes=tuple(notes),
        provenance=Provenance(method=f"rate-network-{source}",
                              parameters={"attempt_frequency_Hz": attempt_frequency_Hz,
                                          "exclusion_radius_A": exclusion_radius_A}),
    )


def _orbit_energies(results: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> tuple[dict[str, float], float, list[str]]:
    """Least-squares energy per site label from the NEB runs' energy differences.

    Each vacancy run gives E(final) - E(initial) = delta_e; a Li -> i -> Li run that was
    split at a stable interstitial also gives E(i) - E(initial). The lowest-numbered Li
    orbit is the zero. Returns energies, the largest residual (eV) and notes.
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
        par = (r.get("provenance") or {}).get("parameters") or {}
        if r.get("via") and par.get("bands") == 2:
            k = int(par["band_images"][0]) + 1
            eq(r["label_initial"], r["via"][0], float(r["energies_eV"][k]))
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


def _rebuilt_network(study: Mapping[str, Any], structure: Any | None,
                     results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The site network of a stored NEB study that was saved without it (the ``neb`` task
    drops it: it is large and a deterministic function of the cell): rebuilt from the cell
    with the study's own settings, then checked against every hop class and site label
    the study's runs name."""
    from halidelab.transport.sites import site_network

    if structure is None:
        raise SimulationError("the NEB study was stored without its site network: give the cell it ran on")
    params = (study.get("provenance") or {}).get("parameters") or {}
    net = site_network(structure, interstitials=bool(params.get("interstitials", True))).to_dict()
    labels = {x["label"] for x in net["sites"]}
    parents = {int(h["parent_class"]) for h in net["hops"]}
    for r in results:
        named = {r.get("label_initial"), r.get("label_final")} - {None}
        classes = {int(c) for c in (r.get("hop_classes") or [r.get("parent_class")]) if c is not None}
        if not named <= labels or not classes <= parents:
            raise SimulationError("the NEB study does not match the site network of this cell (other sites or "
                                  "hop classes): rerun 'halidelab neb' on this cell")
    return net


def network_from_neb_study(study: Mapping[str, Any], structure: Any | None = None,
                           level: str | None = None, attempt_frequency_Hz: float = ATTEMPT_FREQUENCY_HZ,
                           exclusion_radius_A: float = EXCLUSION_RADIUS_A) -> RateNetwork:
    """The rate network of a cell from its NEB study (a stored ``NEBStudy`` dict).

    Parameters
    ----------
    study : dict
        :class:`~halidelab.transport.neb.NEBStudy` as a dict (task kind ``neb``).
    structure : Structure, optional
        The relaxed cell the study ran on; its Li count sets the carriers (default: the
        occupied sites of the study's network).
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
    # saddle energies per class; a Li -> i -> Li path gives each of its hop classes a saddle
    by_parent: dict[int, float] = {}
    by_env: dict[int, float] = {}
    for r in results:
        if not (r.get("converged") and r.get("endpoints_ok", True)):
            continue
        ei = e_orbit.get(r["label_initial"], 0.0)
        ef = e_orbit.get(r["label_final"], 0.0)
        par = (r.get("provenance") or {}).get("parameters") or {}
        en = np.asarray(r["energies_eV"], dtype=float)
        if r.get("via") and par.get("bands") == 2:
            k = int(par["band_images"][0]) + 1
            legs = [ei + float(en[: k + 1].max()), ei + float(en[k:].max())]
        elif r.get("via"):  # the interstitial is not a minimum: one saddle for the path
            legs = [ei + float(en.max())] * 2
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
        classes.append(f"{h['label']} class {h['parent_class']}" + (
            f" env {h['env_class']}" if level == "environment" else ""))
    if not edges:
        raise SimulationError("no hop of the network has a converged NEB barrier: no rate network")
    if missing:
        notes.append(f"{missing} of {len(hops)} hops have no converged NEB run of their class and are left out")
    notes.append(f"site energies per orbit by least squares over the NEB energy differences "
                 f"(largest residual {resid * 1000:.1f} meV)")
    if level == "environment":
        notes.append("saddles per dopant environment where the study resolved it, else per parent class; "
                     "site energies per framework orbit (the dopant's effect on site energies is not resolved)")
    n_carriers = (sum(1 for el in structure.species if el.symbol == "Li") if structure is not None
                  else sum(1 for s in sites if s.get("occupant") is not None))
    return make_network(
        net["lattice"], [s["frac"] for s in sites], e_site, edges, n_carriers,
        site_label=labels, site_role=[s["role"] for s in sites], edge_class=classes,
        formula=study.get("formula", ""), attempt_frequency_Hz=attempt_frequency_Hz,
        exclusion_radius_A=exclusion_radius_A, source="neb", notes=notes)


def network_from_bvse(structure: Any, interstitials: bool = True, n_line: int = 25,
                      attempt_frequency_Hz: float = ATTEMPT_FREQUENCY_HZ,
                      exclusion_radius_A: float = EXCLUSION_RADIUS_A) -> RateNetwork:
    """A cheap rate network from the bond-valence site energy of an ordered cell.

    Sites and hops are those of :func:`halidelab.transport.sites.site_network`; a site's
    energy is the BVSE energy at its hole centre, a hop's saddle the highest BVSE energy on
    ``n_line`` points of the straight line between the centres. Both are stated
    approximations: BVSE barriers are not MLIP barriers (they are calibrated in the
    validation), and a straight line over-estimates the saddle of a curved path.
    """
    from halidelab.transport.bvse import site_energy
    from halidelab.transport.sites import site_network

    net = site_network(structure, interstitials=interstitials)
    frac = net.frac_matrix()
    e_site = site_energy(structure, frac)
    t = np.linspace(0.0, 1.0, n_line)[1:-1]
    edges, classes = [], []
    pts = []
    for h in net.hops:
        a, b = frac[h.site_a], frac[h.site_b] + np.asarray(h.image)
        pts.append(a[None] + t[:, None] * (b - a)[None])
    line = site_energy(structure, np.vstack(pts)).reshape(len(net.hops), len(t)) if pts else np.zeros((0, 0))
    for k, h in enumerate(net.hops):
        edges.append((h.site_a, h.site_b, h.image, float(line[k].max())))
        classes.append(f"{h.label} class {h.parent_class}")
    n_li = sum(1 for el in structure.species if el.symbol == "Li")
    e0 = float(np.min(e_site[[i for i, s in enumerate(net.sites) if s.role == "li"]]))
    return make_network(
        net.lattice, frac, e_site - e0, [(a, b, im, s - e0) for a, b, im, s in edges], n_li,
        site_label=[s.label for s in net.sites], site_role=[s.role for s in net.sites],
        edge_class=classes, formula=net.formula, attempt_frequency_Hz=attempt_frequency_Hz,
        exclusion_radius_A=exclusion_radius_A, source="bvse",
        notes=("BVSE energies at hole centres; saddles = maximum on the straight hop line "
               "(an upper bound for curved paths); not MLIP barriers",))


# ----------------------------------------------------------------------------- supercell


@dataclasses.dataclass
class _Lattice:
    """The supercell arrays the kernel runs on."""

    n_sites: int
    src: np.ndarray
    dst: np.ndarray
    dx: np.ndarray
    saddle: np.ndarray
    energy: np.ndarray
    se_ptr: np.ndarray
    se_idx: np.ndarray
    ex_ptr: np.ndarray
    ex_idx: np.ndarray
    src_ex: np.ndarray
    role_li: np.ndarray
    label: list[str]
    volume_A3: float
    reps: tuple[int, int, int]


def supercell_size(lattice: Any, min_length_A: float = MIN_SUPERCELL_LENGTH_A) -> tuple[int, int, int]:
    """Repetitions so that every supercell width is at least ``min_length_A`` (>= 2 each)."""
    m = np.asarray(lattice, dtype=float)
    vol = abs(np.linalg.det(m))
    widths = [vol / np.linalg.norm(np.cross(m[(i + 1) % 3], m[(i + 2) % 3])) for i in range(3)]
    return tuple(max(2, int(math.ceil(min_length_A / w))) for w in widths)  # type: ignore[return-value]


def _exclusion_pairs(frac: np.ndarray, cell: np.ndarray, radius_A: float) -> list[tuple[int, int, np.ndarray]]:
    """All (i, j, image) with |r_j + image - r_i| < radius (i != j or image != 0)."""
    if radius_A <= 0:
        return []
    vol = abs(np.linalg.det(cell))
    widths = [vol / np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3])) for k in range(3)]
    span = [int(math.ceil(radius_A / w)) for w in widths]
    images = np.array([(a, b, c) for a in range(-span[0], span[0] + 1) for b in range(-span[1], span[1] + 1)
                       for c in range(-span[2], span[2] + 1)])
    diff = frac[None, :, None, :] + images[None, None, :, :] - frac[:, None, None, :]  # (i, j, img, 3)
    d = np.linalg.norm(diff @ cell, axis=-1)
    ii, jj, kk = np.nonzero(d < radius_A)
    return [(int(i), int(j), images[k]) for i, j, k in zip(ii, jj, kk, strict=True)
            if not (i == j and not images[k].any())]


def _build(network: RateNetwork, reps: tuple[int, int, int]) -> _Lattice:
    cell = np.asarray(network.lattice, dtype=float)
    frac = np.asarray(network.site_frac, dtype=float)
    n0 = len(frac)
    r = np.array(reps, dtype=int)
    shifts = np.array([(i, j, k) for k in range(r[2]) for j in range(r[1]) for i in range(r[0])])
    ncell = len(shifts)
    cell_index = {tuple(s): c for c, s in enumerate(shifts)}
    n = n0 * ncell
    src, dst, dx, sad = [], [], [], []
    for a, b, img, s in zip(network.edge_a, network.edge_b, network.edge_image, network.edge_saddle_eV,
                            strict=True):
        vec = (frac[b] + np.asarray(img) - frac[a]) @ cell
        for c, sh in enumerate(shifts):
            cb = cell_index[tuple((sh + np.asarray(img)) % r)]
            ia, ib = a + n0 * c, b + n0 * cb
            if ia == ib:
                raise SimulationError("a hop joins a site to its own image in the supercell: enlarge it")
            src += [ia, ib]
            dst += [ib, ia]
            dx += [vec, -vec]
            sad += [s, s]
    src_a = np.array(src, dtype=np.int64)
    dst_a = np.array(dst, dtype=np.int64)
    # site -> directed edges touching it (as source or destination)
    touch: list[list[int]] = [[] for _ in range(n)]
    for e, (i, j) in enumerate(zip(src_a, dst_a, strict=True)):
        touch[i].append(e)
        touch[j].append(e)
    se_ptr = np.zeros(n + 1, dtype=np.int64)
    se_ptr[1:] = np.cumsum([len(t) for t in touch])
    se_idx = np.array([e for t in touch for e in t], dtype=np.int64)
    # exclusion neighbours: pairs (i, j, image) in the cell, then mapped like the hops
    excl: list[list[int]] = [[] for _ in range(n)]
    for i, j, img in _exclusion_pairs(frac, cell, network.exclusion_radius_A):
        for c, sh in enumerate(shifts):
            cj = cell_index[tuple((sh + img) % r)]
            ia, jb = i + n0 * c, j + n0 * cj
            if ia != jb and jb not in excl[ia]:
                excl[ia].append(jb)
    ex_ptr = np.zeros(n + 1, dtype=np.int64)
    ex_ptr[1:] = np.cumsum([len(x) for x in excl])
    ex_idx = np.array([j for x in excl for j in x], dtype=np.int64)
    exsets = [set(x) for x in excl]
    src_ex = np.array([int(i) in exsets[int(j)] for i, j in zip(src_a, dst_a, strict=True)], dtype=np.bool_)
    energy = np.tile(np.asarray(network.site_energy_eV, dtype=float), ncell)
    role_li = np.tile(np.array([ro == "li" for ro in network.site_role]), ncell)
    return _Lattice(n, src_a, dst_a, np.array(dx, dtype=float).reshape(-1, 3), np.array(sad, dtype=float),
                    energy, se_ptr, se_idx, ex_ptr, ex_idx, src_ex, role_li,
                    list(network.site_label) * ncell, float(abs(np.linalg.det(cell)) * ncell), tuple(int(v) for v in r))


# ----------------------------------------------------------------------------- superbasins


def percolation_energies(n_sites: int, edge_a: Sequence[int], edge_b: Sequence[int],
                         edge_image: Sequence[Sequence[int]], edge_energy: Sequence[float]) -> dict[int, float]:
    """Lowest edge energy at which the edges up to it span the periodic network in 1, 2, 3 D.

    Edges are added in order of energy to a union-find whose members carry their lattice
    offset from the root; a cycle whose offsets differ by a lattice vector wraps the
    cell, and the rank of a cluster's wrap vectors is the dimension it spans.

    Parameters
    ----------
    n_sites : int
    edge_a, edge_b : sequences of int
        Ends of each undirected edge; ``edge_b`` lies at its site + ``edge_image``.
    edge_image : sequence of (3,) ints
    edge_energy : sequence of float
        Any per-edge energy (saddle, or the effective energy of :func:`superbasin_saddles`), eV.

    Returns
    -------
    dict
        ``{dimension: energy}`` for each dimension the network spans (empty if none).
    """
    parent = list(range(n_sites))
    offset = np.zeros((n_sites, 3), dtype=np.int64)  # position of a node relative to its parent
    wraps: dict[int, np.ndarray] = {}  # root -> basis of its wrap vectors (rows)

    def find(i: int) -> tuple[int, np.ndarray]:
        path = []
        while parent[i] != i:
            path.append(i)
            i = parent[i]
        root, acc = i, np.zeros(3, dtype=np.int64)
        for node in reversed(path):  # compress: offsets relative to the root
            acc = acc + offset[node]
            offset[node] = acc
            parent[node] = root
        return root, acc.copy()

    def rank(vectors: np.ndarray) -> int:
        return int(np.linalg.matrix_rank(vectors.astype(float))) if len(vectors) else 0

    found: dict[int, float] = {}
    for k in np.argsort(np.asarray(edge_energy, dtype=float), kind="stable"):
        a, b = int(edge_a[k]), int(edge_b[k])
        img = np.asarray(edge_image[k], dtype=np.int64)
        ra, oa = find(a)
        rb, ob = find(b)
        if ra != rb:
            parent[rb] = ra
            offset[rb] = oa + img - ob
            merged = [v for v in (wraps.pop(ra, None), wraps.pop(rb, None)) if v is not None]
            if merged:
                wraps[ra] = np.vstack(merged)
        else:
            w = oa + img - ob
            if w.any():
                wraps[ra] = np.vstack([wraps[ra], w]) if ra in wraps else w[None]
        if ra in wraps:
            basis = wraps[ra]
            r = rank(basis)
            if len(basis) > r:  # keep an independent basis (at most 3 rows)
                keep: list[np.ndarray] = []
                for v in basis:
                    if rank(np.array([*keep, v])) > len(keep):
                        keep.append(v)
                wraps[ra] = np.array(keep)
            for d in range(1, r + 1):
                found.setdefault(d, float(edge_energy[k]))
            if r == 3:
                break
    return found


def fermi_level(site_energy_eV: Sequence[float], n_carriers: float, kt_eV: float) -> float:
    """Chemical potential mu (eV) at which sum_i 1/(exp((E_i - mu)/kT) + 1) = n_carriers."""
    from scipy.optimize import brentq

    e = np.asarray(site_energy_eV, dtype=float)
    if not 0 < n_carriers < len(e):
        raise SimulationError(f"{n_carriers} carriers on {len(e)} sites have no finite chemical potential")

    def excess(mu: float) -> float:
        return float((0.5 * (1.0 - np.tanh((e - mu) / (2.0 * kt_eV)))).sum() - n_carriers)

    lo, hi = float(e.min()) - 60.0 * kt_eV, float(e.max()) + 60.0 * kt_eV
    return float(brentq(excess, lo, hi, xtol=1e-12 * max(1.0, kt_eV)))


def superbasin_saddles(network: RateNetwork, temperature_K: float, ratio: float = SUPERBASIN_RATIO,
                       n_carriers: float | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Saddle energies with the superbasin hops slowed to a bounded speed (detailed balance kept).

    In a cation-disordered (ball-milled) cell a few Li hop back and forth over very low
    barriers (a shallow site beside a deep one) millions of times for each hop across the
    cell's bottleneck, and plain KMC spends all its events there ("superbasin"). Raising
    the saddle of such a hop by delta slows both directions by the same factor, so site
    energies, equilibrium occupations and detailed balance are untouched; only how often
    the pair is crossed changes. The Chatterjee-Voter accelerated superbasin KMC
    (J. Chem. Phys. 132, 194101 (2010)) and its generalisation by Dybeck, Plaisance and
    Neurock (J. Chem. Theory Comput. 13, 1525 (2017)) scale rates this way on the fly;
    here the scale is set once per temperature from the network itself:

    * Each hop's equilibrium flux (crossings per unit time) in the non-interacting lattice
      gas with site blocking is g_ij = nu exp(-(S_ij - mu)/kT) (1 - f_i)(1 - f_j), with f
      the Fermi-Dirac occupations at the composition's Li count and mu its chemical
      potential (the Miller-Abrahams / Ambegaokar-Halperin-Langer picture of hopping
      conduction); its effective energy is -kT ln(g_ij / nu).
    * The critical energy is the lowest at which hops up to it span the cell
      (:func:`percolation_energies`, 1D: the first connected path). Long-range transport
      has to cross at least one hop at or above it.
    * A hop whose effective energy lies more than kT ln(ratio) below it is raised to that
      floor: it is still crossed at least ``ratio`` times as often as any critical hop, so
      the quasi-equilibrium inside the basin that its escape rate relies on stays. By
      Rayleigh monotonicity (one carrier: the network is a resistor network with edge
      conductances g_ij) D can only fall, and by at most about (raised hops in series
      per critical hop) / ratio.

    The error is controlled by ``ratio`` and measured, not assumed:
    ``benchmarks/bench_kmc_superbasin.py`` runs the ball-milled networks of the Chen
    series at ratios 30, 100 and 1000; the tests compare it with the exact D of a
    rattling chain and check Boltzmann/Fermi occupations under acceleration.

    Parameters
    ----------
    network : RateNetwork
    temperature_K : float
    ratio : float
        Smallest flux ratio kept between a raised hop and the critical hops (> 1).
    n_carriers : float, optional
        Li per cell for the occupations (default the network's own).

    Returns
    -------
    saddles : ndarray
        One per network edge, eV (>= the original).
    info : dict
        ``ratio``, ``critical_eV`` (effective energy, relative to mu), ``mu_eV``,
        ``n_raised``, ``max_raise_eV``, or ``reason`` when nothing could be raised.
    """
    if not ratio > 1.0:
        raise SimulationError(f"the superbasin ratio must be > 1, got {ratio}")
    s = np.asarray(network.edge_saddle_eV, dtype=float)
    info: dict[str, Any] = {"ratio": float(ratio), "n_raised": 0, "max_raise_eV": 0.0}
    if not len(s):
        return s, {**info, "reason": "no hops"}
    n_c = float(network.n_carriers if n_carriers is None else n_carriers)
    if n_c >= network.n_sites:
        return s, {**info, "reason": "every site is full"}
    kt = K_B_EV_K * float(temperature_K)
    e = np.asarray(network.site_energy_eV, dtype=float)
    mu = fermi_level(e, n_c, kt)
    a = np.asarray(network.edge_a, dtype=int)
    b = np.asarray(network.edge_b, dtype=int)
    log_empty = -np.logaddexp(0.0, (mu - e) / kt)  # ln(1 - f_i)
    eff = s - mu - kt * (log_empty[a] + log_empty[b])
    crit = percolation_energies(network.n_sites, a, b, network.edge_image, eff)
    if 1 not in crit:
        return s, {**info, "mu_eV": mu, "reason": "the hops do not span the cell"}
    floor = crit[1] - kt * math.log(ratio)
    raise_by = np.maximum(0.0, floor - eff)
    return s + raise_by, {**info, "mu_eV": mu, "critical_eV": float(crit[1]),
                          "n_raised": int((raise_by > 0).sum()), "max_raise_eV": float(raise_by.max())}


# ----------------------------------------------------------------------------- kernel


def _kernel_py(occ, part_at, src, dst, rate, dx, se_ptr, se_idx, ex_ptr, ex_idx, src_ex,
               n_equil, n_events, n_samples, seed):  # pragma: no cover - compiled by numba
    """Rejection-free KMC: equilibrate, then sample carrier displacements in time.

    Returns (samples (n_samples, P, 3) in A, sample spacing in s, events run, occupancy
    time fractions per site, final occupation).
    """
    np.random.seed(seed)  # noqa: NPY002 - numba's per-thread generator is the legacy API
    n_sites = occ.shape[0]
    n_e = src.shape[0]
    n_p = 0
    for s in range(n_sites):
        if occ[s]:
            n_p += 1
    block = np.zeros(n_sites, dtype=np.int64)
    for s in range(n_sites):
        if occ[s]:
            for k in range(ex_ptr[s], ex_ptr[s + 1]):
                block[ex_idx[k]] += 1
    # rates of the allowed events, and their sums over blocks of 64 edges: choosing an
    # event scans the block sums, then one block (O(sqrt E) instead of O(E) per event)
    bsz = 64
    n_b = (n_e + bsz - 1) // bsz
    active = np.zeros(n_e)
    bsum = np.zeros(n_b)
    total = 0.0
    for e in range(n_e):
        i = src[e]
        j = dst[e]
        if occ[i] and not occ[j] and block[j] - (1 if src_ex[e] else 0) == 0:
            active[e] = rate[e]
            bsum[e // bsz] += rate[e]
            total += rate[e]
    disp = np.zeros((n_p, 3))
    samples = np.zeros((n_samples, n_p, 3))
    occ_time = np.zeros(n_sites)
    last = np.zeros(n_sites)
    t = 0.0
    sample_dt = 0.0
    k = 0
    done = 0
    measuring = False
    step = 0
    while True:
        if not measuring and step >= n_equil:
            measuring = True
            for p in range(n_p):
                disp[p, 0] = 0.0
                disp[p, 1] = 0.0
                disp[p, 2] = 0.0
            t = 0.0
            for s in range(n_sites):
                last[s] = 0.0
                occ_time[s] = 0.0
            if total <= 0.0:
                return samples, 0.0, 0, occ_time, occ
            sample_dt = n_events / total / max(n_samples - 1, 1)
        if measuring and total <= 0.0:
            while k < n_samples:
                samples[k] = disp
                k += 1
            break
        if not measuring and total <= 0.0:
            step = n_equil
            continue
        u = np.random.random()  # noqa: NPY002
        dt = -math.log(1.0 - u) / total
        if measuring:
            t_next = t + dt
            while k < n_samples and k * sample_dt <= t_next:
                samples[k] = disp
                k += 1
            if k >= n_samples:
                t = t_next
                break
        # choose the event
        target = np.random.random() * total  # noqa: NPY002
        acc = 0.0
        chosen = -1
        kb = n_b - 1
        for b in range(n_b):
            if bsum[b] > 0.0:
                kb = b
                if acc + bsum[b] >= target:
                    break
                acc += bsum[b]
        for e in range(kb * bsz, min(n_e, (kb + 1) * bsz)):
            if active[e] > 0.0:
                acc += active[e]
                chosen = e
                if acc >= target:
                    break
        if chosen < 0:  # rounding left the chosen block empty: take any allowed event
            for e in range(n_e):
                if active[e] > 0.0:
                    chosen = e
                    break
        i = src[chosen]
        j = dst[chosen]
        if measuring:
            t = t + dt
            occ_time[i] += t - last[i]
            last[i] = t
            last[j] = t
            p = part_at[i]
            disp[p, 0] += dx[chosen, 0]
            disp[p, 1] += dx[chosen, 1]
            disp[p, 2] += dx[chosen, 2]
            done += 1
        part_at[j] = part_at[i]
        part_at[i] = -1
        occ[i] = 0
        occ[j] = 1
        for q in range(ex_ptr[i], ex_ptr[i + 1]):
            block[ex_idx[q]] -= 1
        for q in range(ex_ptr[j], ex_ptr[j + 1]):
            block[ex_idx[q]] += 1
        # refresh every edge touching i, j and their exclusion neighbours
        for c in range(2 + (ex_ptr[i + 1] - ex_ptr[i]) + (ex_ptr[j + 1] - ex_ptr[j])):
            if c == 0:
                s = i
            elif c == 1:
                s = j
            elif c - 2 < ex_ptr[i + 1] - ex_ptr[i]:
                s = ex_idx[ex_ptr[i] + c - 2]
            else:
                s = ex_idx[ex_ptr[j] + c - 2 - (ex_ptr[i + 1] - ex_ptr[i])]
            for q in range(se_ptr[s], se_ptr[s + 1]):
                e = se_idx[q]
                a = src[e]
                b = dst[e]
                new = 0.0
                if occ[a] and not occ[b] and block[b] - (1 if src_ex[e] else 0) == 0:
                    new = rate[e]
                total += new - active[e]
                bsum[e // bsz] += new - active[e]
                active[e] = new
        step += 1
        if step % 4096 == 0:  # no drift of the running sums
            total = 0.0
            for b in range(n_b):
                bsum[b] = 0.0
            for e in range(n_e):
                bsum[e // bsz] += active[e]
                total += active[e]
    if measuring:
        for s in range(n_sites):
            if occ[s]:
                occ_time[s] += t - last[s]
        if t > 0:
            for s in range(n_sites):
                occ_time[s] /= t
    return samples, sample_dt, done, occ_time, occ


_KERNEL = None


def _kernel():
    """The numba-compiled kernel (compiled once per process, cached on disk)."""
    global _KERNEL
    if _KERNEL is None:
        from numba import njit

        _KERNEL = njit(cache=True)(_kernel_py)
    return _KERNEL


# ----------------------------------------------------------------------------- runs


@dataclasses.dataclass(frozen=True)
class KMCPoint(Record):
    """KMC transport at one temperature (mean and standard error over independent runs).

    Attributes
    ----------
    temperature_K : float
    d_tracer_cm2_s, d_tracer_err_cm2_s : float
        Tracer D* and its standard error over runs.
    d_sigma_cm2_s, d_sigma_err_cm2_s : float
        Collective (jump) D_sigma = <|sum of displacements|^2>/(6 N t) and its error.
    haven_ratio, haven_ratio_err : float
        D*/D_sigma.
    sigma_S_cm, sigma_err_S_cm : float
        n e^2 D_sigma / (k_B T).
    n_runs : int
    events_per_run : float
        Mean KMC events (hops) per run after equilibration.
    hops_per_carrier : float
    time_per_run_s : float
        Simulated time per run, s.
    occupancy : dict
        Time-averaged occupation per site label (fraction of those sites holding a Li).
    d_sigma_runs, d_tracer_runs : tuple of float
        Per-run values, cm^2/s.
    diffusive : bool
        The run-averaged collective MSD reached :data:`MIN_MSD_HOPS` hop lengths squared
        with a log-log slope >= :data:`MIN_LOGLOG_SLOPE` (runs are extended up to
        :data:`MAX_EXTENSION` times before giving up); a point that is not is left out of
        the Arrhenius fit.
    note : str
        Why it is not diffusive.
    """

    temperature_K: float
    d_tracer_cm2_s: float
    d_tracer_err_cm2_s: float
    d_sigma_cm2_s: float
    d_sigma_err_cm2_s: float
    haven_ratio: float | None
    haven_ratio_err: float | None
    sigma_S_cm: float
    sigma_err_S_cm: float
    n_runs: int
    events_per_run: float
    hops_per_carrier: float
    time_per_run_s: float
    occupancy: dict[str, float]
    d_sigma_runs: tuple[float, ...]
    d_tracer_runs: tuple[float, ...]
    diffusive: bool = True
    note: str = ""
    superbasin: dict[str, Any] | None = None


@dataclasses.dataclass(frozen=True)
class KMCResult(Record):
    """sigma(T), D(T), Haven ratio and Ea of one network from KMC.

    Attributes
    ----------
    formula : str
    points : tuple of KMCPoint
        One per temperature.
    ea_eV, ea_err_eV : float or None
        From ln(sigma T) vs 1/T over ``points`` (None with one temperature).
    sigma_25C_S_cm, sigma_25C_low_S_cm, sigma_25C_high_S_cm : float or None
        At 298.15 K (from the fit; interpolated when 298 K lies inside the range).
    arrhenius : dict or None
        :class:`~halidelab.arrhenius.ArrheniusFit` as a dict.
    network : dict
        :meth:`RateNetwork.summary` plus the supercell.
    assumptions : tuple of str
    warnings : tuple of str
    provenance : Provenance
    """

    formula: str
    points: tuple[KMCPoint, ...]
    ea_eV: float | None
    ea_err_eV: float | None
    sigma_25C_S_cm: float | None
    sigma_25C_low_S_cm: float | None
    sigma_25C_high_S_cm: float | None
    arrhenius: dict[str, Any] | None
    network: dict[str, Any]
    assumptions: tuple[str, ...]
    warnings: tuple[str, ...]
    provenance: Provenance


def _initial_occupation(lat: _Lattice, n_p: int, rng: np.random.Generator) -> np.ndarray:
    """Random placement of ``n_p`` carriers on Li sites (interstitials if needed) that
    respects the exclusion radius."""
    for _ in range(50):
        occ = np.zeros(lat.n_sites, dtype=np.int8)
        blocked = np.zeros(lat.n_sites, dtype=bool)
        order = np.concatenate([rng.permutation(np.nonzero(lat.role_li)[0]),
                                rng.permutation(np.nonzero(~lat.role_li)[0])])
        placed = 0
        for s in order:
            if placed == n_p:
                break
            if occ[s] or blocked[s]:
                continue
            occ[s] = 1
            placed += 1
            blocked[lat.ex_idx[lat.ex_ptr[s]:lat.ex_ptr[s + 1]]] = True
        if placed == n_p:
            return occ
    raise SimulationError(f"{n_p} Li do not fit the {lat.n_sites} sites with the exclusion radius: "
                          "lower exclusion_radius_A")


def _diffusion_from_samples(samples: np.ndarray, sample_dt: float) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Tracer and collective D (A^2/s) from sampled displacements, time-origin averaged,
    slope over lags of 5-25 % of the run (short lags: many independent windows for the
    collective MSD, which is one trajectory per run; KMC has no ballistic regime to skip).
    Also returns the window's times (s) and collective MSD per carrier (A^2)."""
    from halidelab.transport.diffusion import msd_fft

    n_s, n_p, _ = samples.shape
    lags = np.arange(n_s)
    win = (lags >= max(1, int(0.05 * (n_s - 1)))) & (lags <= int(0.25 * (n_s - 1)))
    t = lags[win] * sample_dt
    tracer = msd_fft(samples).sum(axis=1)[win]
    total = samples.sum(axis=1)[:, None, :]
    coll = msd_fft(total).sum(axis=1)[win] / n_p

    def slope(y: np.ndarray) -> float:
        tt = t - t.mean()
        return float((tt * (y - y.mean())).sum() / (tt * tt).sum())

    return slope(tracer) / 6.0, slope(coll) / 6.0, t, coll


def _diffusive(t: np.ndarray, coll: np.ndarray, hop_A: float) -> tuple[bool, str]:
    """The run-averaged collective MSD is diffusive over the fit window: it reaches
    :data:`MIN_MSD_HOPS` hop lengths squared and grows with a log-log slope of at least
    :data:`MIN_LOGLOG_SLOPE` (local back-and-forth between neighbouring sites plateaus)."""
    y = np.maximum(coll, 1e-30)
    slope = float(np.polyfit(np.log(t), np.log(y), 1)[0]) if len(t) >= 2 else 0.0
    reasons = []
    if coll[-1] < MIN_MSD_HOPS * hop_A**2:
        reasons.append(f"collective MSD {coll[-1]:.2g} A^2 < {MIN_MSD_HOPS:g} hop lengths squared "
                       f"({MIN_MSD_HOPS * hop_A**2:.2g} A^2)")
    if slope < MIN_LOGLOG_SLOPE:
        reasons.append(f"MSD log-log slope {slope:.2f} < {MIN_LOGLOG_SLOPE}")
    return not reasons, "; ".join(reasons)


def _sem(values: np.ndarray) -> float:
    """Standard error of the mean of independent runs."""
    return float(values.std(ddof=1) / math.sqrt(len(values)))


def run_kmc(network: RateNetwork, temperatures_K: Sequence[float], n_runs: int = 8,
            hops_per_carrier: float = 200.0, equilibration_per_carrier: float = 20.0,
            n_samples: int = 400, supercell: Sequence[int] | None = None,
            min_length_A: float = MIN_SUPERCELL_LENGTH_A, seed: int = 0,
            progress: Any = None, n_carriers_total: int | None = None,
            diffusive_check: bool = True,
            superbasin_ratio: float | None = SUPERBASIN_RATIO) -> KMCResult:
    """KMC on a rate network at several temperatures, then Arrhenius.

    Parameters
    ----------
    network : RateNetwork
    temperatures_K : sequence of float
    n_runs : int
        Independent runs per temperature (random start, own seed); errors are their
        standard error.
    hops_per_carrier : float
        KMC events per carrier in each run's production part.
    equilibration_per_carrier : float
        Events per carrier discarded first.
    n_samples : int
        Displacement snapshots per run (equally spaced in time).
    supercell : (3,) ints, optional
        Repetitions of the network cell (default :func:`supercell_size`).
    seed : int
    progress : callable, optional
        ``progress(done, total)`` after each run.
    n_carriers_total : int, optional
        Carriers in the whole supercell (default: the network's per cell times the cells;
        other values are for model systems such as one particle on a lattice).
    diffusive_check : bool
        Extend non-diffusive runs and leave out what stays non-diffusive (default); off
        only for model systems whose exact answer is sub-diffusive (single-file chains).
    superbasin_ratio : float or None
        Slow the hops of superbasins (fast back-and-forth pairs of disordered cells) to
        this many times the critical hops' crossing rate, detailed balance kept
        (:func:`superbasin_saddles`); None runs the plain rates.

    Returns
    -------
    KMCResult
    """
    temps = [float(t) for t in temperatures_K]
    if not temps or any(not (t > 0 and math.isfinite(t)) for t in temps):
        raise SimulationError(f"temperatures must be positive numbers of K, got {temperatures_K}")
    if n_runs < 2:
        raise SimulationError("KMC needs at least two runs per temperature for an error bar")
    if hops_per_carrier <= 0 or equilibration_per_carrier < 0 or n_samples < 20:
        raise SimulationError("hops_per_carrier must be > 0, equilibration >= 0 and n_samples >= 20")
    reps = tuple(int(v) for v in supercell) if supercell is not None else supercell_size(network.lattice,
                                                                                        min_length_A)
    if len(reps) != 3 or min(reps) < 1:
        raise SimulationError(f"supercell must be three positive integers, got {supercell}")
    lat = _build(network, reps)
    n_p = network.n_carriers * int(np.prod(reps)) if n_carriers_total is None else int(n_carriers_total)
    if not 0 < n_p <= lat.n_sites:
        raise SimulationError(f"{n_p} carriers do not fit the {lat.n_sites} sites of the supercell")
    kernel = _kernel()
    volume_cm3 = lat.volume_A3 * 1e-24
    n_cm3 = n_p / volume_cm3
    points = []
    done_runs, total_runs = 0, len(temps) * n_runs
    labels = sorted(set(lat.label))
    label_arr = np.array(lat.label)
    hop_A = float(np.median(np.linalg.norm(lat.dx, axis=1))) if len(lat.dx) else 1.0
    not_diffusive: list[str] = []
    n_cells = int(np.prod(reps))
    for T in temps:
        kt = K_B_EV_K * T
        saddle, sb = lat.saddle, None
        if superbasin_ratio is not None:
            edge_saddle, sb = superbasin_saddles(network, T, superbasin_ratio, n_carriers=n_p / n_cells)
            saddle = np.repeat(edge_saddle, 2 * n_cells)  # _build: each edge, each cell, both ways
        rate = network.attempt_frequency_Hz * np.exp(-(saddle - lat.energy[lat.src]) / kt)
        hops = float(hops_per_carrier)
        blocked = False
        while True:
            dts, dss, events, times, colls = [], [], [], [], []
            occ_acc = np.zeros(lat.n_sites)
            for child in np.random.SeedSequence([seed, int(round(T * 1000)), int(hops)]).spawn(n_runs):
                rng = np.random.default_rng(child)
                occ = _initial_occupation(lat, n_p, rng)
                part_at = np.full(lat.n_sites, -1, dtype=np.int64)
                part_at[np.nonzero(occ)[0]] = np.arange(n_p)
                kseed = int(rng.integers(0, 2**31 - 1))
                samples, sdt, n_ev, occ_time, _ = kernel(
                    occ, part_at, lat.src, lat.dst, rate, lat.dx, lat.se_ptr, lat.se_idx, lat.ex_ptr,
                    lat.ex_idx, lat.src_ex, int(equilibration_per_carrier * n_p), int(hops * n_p),
                    int(n_samples), kseed)
                if sdt <= 0:  # no event possible at all: a blocked network conducts nothing
                    blocked = True
                    break
                d_tr, d_col, t_win, coll = _diffusion_from_samples(samples, sdt)
                dts.append(d_tr * ANGSTROM2_TO_CM2)
                dss.append(d_col * ANGSTROM2_TO_CM2)
                events.append(n_ev)
                times.append(sdt * (n_samples - 1))
                colls.append(np.interp(np.linspace(0.05, 0.25, 20), t_win / t_win[-1] * 0.25, coll))
                occ_acc += occ_time
                done_runs += 1
                if progress is not None:
                    progress(done_runs, total_runs)
            if blocked:
                break
            t_ref = np.linspace(0.05, 0.25, 20) * float(np.mean(times))
            ok, why = _diffusive(t_ref, np.mean(colls, axis=0), hop_A) if diffusive_check else (True, "")
            if ok or hops >= MAX_EXTENSION * hops_per_carrier:
                break
            hops *= 4.0
            total_runs += n_runs
        if blocked:
            why = ("no hop is possible: every Li is blocked (a full Li sublattice conducts through "
                   "defects that this network does not create)")
            not_diffusive.append(f"{T:g} K: {why}")
            points.append(KMCPoint(
                temperature_K=T, d_tracer_cm2_s=0.0, d_tracer_err_cm2_s=0.0, d_sigma_cm2_s=0.0,
                d_sigma_err_cm2_s=0.0, haven_ratio=None, haven_ratio_err=None, sigma_S_cm=0.0,
                sigma_err_S_cm=0.0, n_runs=0, events_per_run=0.0, hops_per_carrier=0.0, time_per_run_s=0.0,
                occupancy={}, d_sigma_runs=(), d_tracer_runs=(), diffusive=False, note=why,
                superbasin=sb))
            continue
        if not ok:
            not_diffusive.append(f"{T:g} K: {why} after {hops:g} hops per Li")
        dts_a, dss_a = np.array(dts), np.array(dss)
        d_tr, d_tr_err = float(dts_a.mean()), _sem(dts_a)
        d_s, d_s_err = float(dss_a.mean()), _sem(dss_a)
        haven = d_tr / d_s if d_s > 0 else None
        haven_err = (haven * math.hypot(d_tr_err / d_tr if d_tr > 0 else 0.0, d_s_err / d_s)
                     if haven is not None else None)
        sig = n_cm3 * E_CHARGE_C**2 * d_s / (K_B_J_K * T)
        sig_err = sig * d_s_err / d_s if d_s > 0 else math.inf
        occ_mean = occ_acc / n_runs
        occupancy = {lab: float(occ_mean[label_arr == lab].mean()) for lab in labels}
        points.append(KMCPoint(
            temperature_K=T, d_tracer_cm2_s=d_tr, d_tracer_err_cm2_s=d_tr_err, d_sigma_cm2_s=d_s,
            d_sigma_err_cm2_s=d_s_err, haven_ratio=haven, haven_ratio_err=haven_err,
            sigma_S_cm=float(sig), sigma_err_S_cm=float(sig_err), n_runs=n_runs,
            events_per_run=float(np.mean(events)), hops_per_carrier=float(np.mean(events) / n_p),
            time_per_run_s=float(np.mean(times)), occupancy=occupancy,
            d_sigma_runs=tuple(float(v) for v in dss_a), d_tracer_runs=tuple(float(v) for v in dts_a),
            diffusive=bool(ok), note=why, superbasin=sb))
    ea = ea_err = s25 = s25_lo = s25_hi = None
    arr = None
    warns: list[str] = []
    usable = [p for p in points if p.diffusive and p.d_sigma_cm2_s > 0 and p.sigma_err_S_cm < p.sigma_S_cm]
    warns += [f"not diffusive at {m}: left out of the Arrhenius fit (raise hops_per_carrier, --hops in the CLI)"
              for m in not_diffusive]
    unresolved = [p for p in points if p.diffusive and not (p.d_sigma_cm2_s > 0 and p.sigma_err_S_cm < p.sigma_S_cm)]
    if unresolved:
        warns.append(f"{len(unresolved)} temperature(s) gave a collective D not resolved from zero "
                     "(error >= value): longer runs (hops_per_carrier) or more runs")
    if len(usable) >= 2:
        from halidelab.arrhenius import fit_arrhenius

        try:
            fit = fit_arrhenius([p.temperature_K for p in usable], [p.sigma_S_cm for p in usable],
                                [p.sigma_err_S_cm for p in usable], quantity="sigma", method="kmc-arrhenius")
        except FitError as exc:
            warns.append(f"Arrhenius fit failed: {exc}")
        else:
            import warnings as _w

            with _w.catch_warnings(record=True) as caught:
                _w.simplefilter("always")
                pred = fit.predict(298.15)
            warns += [str(c.message) for c in caught]
            ea, ea_err = fit.ea_eV, fit.ea_err_eV
            s25, s25_lo, s25_hi = pred.value, pred.low, pred.high
            arr = fit.to_dict()
            warns += [w for w in fit.warnings if w not in warns]
    summary = {**network.summary(), "supercell": list(reps), "n_carriers_supercell": n_p,
               "n_sites_supercell": lat.n_sites}
    assumptions = (
        f"harmonic TST rates with one attempt frequency {network.attempt_frequency_Hz:.1e} Hz",
        f"site blocking and hard-core exclusion within {network.exclusion_radius_A:g} A; no other Li-Li interaction",
        "sigma = n e^2 D_sigma / (k_B T) with the collective (jump) D: correlations included, "
        "Haven ratio reported, not assumed",
        f"{n_runs} independent runs per temperature; errors are their standard error",
        f"a temperature counts only when diffusive (collective MSD >= {MIN_MSD_HOPS:g} hop lengths squared, "
        f"log-log slope >= {MIN_LOGLOG_SLOPE}); runs are extended 4x up to {MAX_EXTENSION}x before giving up",
        (f"superbasin acceleration: hops crossed more than {superbasin_ratio:g}x as often as the "
         "critical (first spanning) hops are slowed to that ratio, both directions alike (site "
         "energies, occupations and detailed balance unchanged; per temperature in points[].superbasin)"
         if superbasin_ratio is not None else "plain rates (no superbasin acceleration)"),
        *network.notes,
    )
    return KMCResult(
        formula=network.formula, points=tuple(points), ea_eV=ea, ea_err_eV=ea_err, sigma_25C_S_cm=s25,
        sigma_25C_low_S_cm=s25_lo, sigma_25C_high_S_cm=s25_hi, arrhenius=arr, network=summary,
        assumptions=assumptions, warnings=tuple(warns),
        provenance=Provenance(method="kmc-rejection-free", parameters={
            "n_runs": n_runs, "hops_per_carrier": hops_per_carrier,
            "equilibration_per_carrier": equilibration_per_carrier, "n_samples": n_samples,
            "supercell": list(reps), "source": network.source, "superbasin_ratio": superbasin_ratio},
            seed=seed),
    )
