"""Many-particle KMC runs on a rate network: D, Haven ratio, sigma(T) and Ea."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from halidelab.constants import E_CHARGE_C, K_B_EV_K, K_B_J_K
from halidelab.errors import FitError, SimulationError
from halidelab.records import Provenance, Record
from halidelab.transport.kmc.lattice import (
    MIN_SUPERCELL_LENGTH_A,
    _build,
    _kernel,
    _Lattice,
    _metropolis,
    supercell_size,
)
from halidelab.transport.kmc.network import RateNetwork
from halidelab.transport.kmc.superbasin import SUPERBASIN_RATIO, superbasin_saddles
from halidelab.transport.polycrystal import principal_values

#: A temperature is diffusive when the run-averaged collective MSD per carrier reaches
#: this many hop lengths squared over the fit window ...
MIN_MSD_HOPS = 4.0
#: ... and grows there with at least this log-log slope (1 = diffusive).
MIN_LOGLOG_SLOPE = 0.7
#: Runs that are not diffusive are repeated 4x longer, up to this many times the asked
#: ``hops_per_carrier`` (rattling between neighbouring sites eats events).
MAX_EXTENSION = 64
#: Events per Li that the workflows give the runs of a cation-disordered (ball-milled)
#: cell, 4x the 200 of an ordered one. Measured on the 11.5 A wide milled reference
#: models (CHGNet, BVSE networks, 10 orderings each): at 200 hops per Li, extended up to
#: 12,800, 25 C stayed non-diffusive in 9 of 10 Li3YCl6 and 7 of 10 Li3ErCl6 orderings,
#: their collective MSD at 1.5-18 A^2 of the 21 A^2 (4 hop lengths squared) a diffusive
#: run needs, and in 6 of the 9 milled cells of the reference case (Li2ZrCl6 + Nb): a
#: disordered cell traps its Li in pockets the ordered cells do not have. At 800 (up to
#: 51,200) 25 C is diffusive in 5 of those 10 Li3YCl6, 6 of 10 Li3ErCl6 and 7 of the 9
#: reference-case cells; the others stay sub-diffusive (log-log slope 0.5-0.7), and their
#: orderings give no value rather than an extrapolated one.
MILLED_HOPS_PER_CARRIER = 800.0

#: Metropolis moves per Li that draw each run's equilibrium start (``start="equilibrium"``,
#: kmc revision 4). From a random placement (revision 3 and before) the Li sit on shallow
#: sites of a landscape with deep ones and move too fast until the KMC has found the deep
#: ones, which took thousands of events per Li: after the 20 events per Li that the runs
#: discard, log10 sigma read 0.06-0.49 decades high in 5 of 6 networks measured
#: (``benchmarks/bench_kmc_equilibration.py``, seeds 1-3, 8 runs each; ball-milled
#: Li3YCl6 ordering 3 at 348 K -4.00 against -4.49 after 2000 events per Li and -4.51 after
#: 8000), and seeds spread 2-3x more than the stated error. From the equilibrium placement
#: the same network reads -4.44 (seed SD 0.04, stated error 0.09) after 20 events per Li.
#: The mean site energy of the placement is converged after 100 moves per Li on the four
#: networks checked (milled Li3YCl6, Li3ErCl6, Li2ZrCl6; annealed Li1.8Zr0.8Nb0.2Cl6); 1000
#: cost milliseconds.
START_MOVES_PER_CARRIER = 1000.0
#: KMC events per Li each run discards after its start.
EQUILIBRATION_PER_CARRIER = 20.0

ANGSTROM2_TO_CM2 = 1e-16


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
    d_sigma_tensor_cm2_s : tuple of tuple of float or None
        The run-averaged collective (jump) diffusion tensor in the cell's Cartesian frame,
        cm^2/s; its trace / 3 is ``d_sigma_cm2_s``.
    sigma_principal_S_cm : tuple of float or None
        Principal values of the single crystal's conductivity tensor, ascending, S/cm.
    sigma_polycrystal_S_cm, sigma_polycrystal_err_S_cm : float or None
        Conductivity of a random polycrystal of this crystal (a pressed pellet's bulk),
        the self-consistent effective-medium value of the principal values
        (:func:`~halidelab.transport.polycrystal.polycrystal_conductivity`), and its
        jackknife error over the runs, S/cm. ``sigma_S_cm`` is the orientation average
        (trace / 3, the polycrystal's upper bound).
    diffusive : bool
        The run-averaged collective MSD reached :data:`MIN_MSD_HOPS` hop lengths squared
        with a log-log slope >= :data:`MIN_LOGLOG_SLOPE` (runs are extended up to
        :data:`MAX_EXTENSION` times before giving up); a point that is not is left out of
        the Arrhenius fit.
    note : str
        Why it is not diffusive.
    sigma_upper_S_cm : float or None
        For a point that is not diffusive (and not blocked): an upper limit on the
        conductivity, S/cm, from the apparent collective diffusivity at the runs' longest
        lag, MSD(tau) / (6 tau) (mean over the runs plus two standard errors; the mean
        alone for a single run). KMC hops obey detailed balance, and for a reversible
        Markov process the current autocorrelation is non-positive at every t > 0
        (Kipnis and Varadhan, Commun. Math. Phys. 104, 1 (1986)), so MSD(t) / t never
        grows with t: whatever the Li do after the runs end, their long-time D_sigma is
        at most this. None for diffusive points and records written before it existed.
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
    d_sigma_tensor_cm2_s: tuple[tuple[float, float, float], ...] | None = None
    sigma_principal_S_cm: tuple[float, float, float] | None = None
    sigma_polycrystal_S_cm: float | None = None
    sigma_polycrystal_err_S_cm: float | None = None
    sigma_upper_S_cm: float | None = None


@dataclasses.dataclass(frozen=True)
class KMCResult(Record):
    """sigma(T), D(T), Haven ratio and Ea of one network from KMC.

    Attributes
    ----------
    formula : str
    points : tuple of KMCPoint
        One per temperature.
    ea_eV, ea_err_eV : float or None
        From ln(sigma T) vs 1/T over ``points`` (None with one temperature), sigma being
        the ``average`` of the points.
    sigma_25C_S_cm, sigma_25C_low_S_cm, sigma_25C_high_S_cm : float or None
        At 298.15 K (from the fit; interpolated when 298 K lies inside the range).
    arrhenius : dict or None
        :class:`~halidelab.arrhenius.ArrheniusFit` as a dict.
    network : dict
        :meth:`RateNetwork.summary` plus the supercell.
    assumptions : tuple of str
    warnings : tuple of str
    provenance : Provenance
    average : {"orientation", "polycrystal"}
        Which conductivity of the points the fit and the 25 C values use: the single
        crystal's orientation average (``sigma_S_cm``, the default) or a random polycrystal
        of it (``sigma_polycrystal_S_cm``; results stored before have no such values).
    other_average : dict or None
        The same Arrhenius values (``ea_eV``, ``ea_err_eV``, ``sigma_25C_S_cm`` and its
        bounds) for the other average, under ``average``.
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
    average: str = "orientation"
    other_average: dict[str, Any] | None = None


#: what ``average`` may be, and the point fields (value, error) each one reads
AVERAGES = {
    "polycrystal": ("sigma_polycrystal_S_cm", "sigma_polycrystal_err_S_cm"),
    "orientation": ("sigma_S_cm", "sigma_err_S_cm"),
}


def _field(point: KMCPoint | dict[str, Any], key: str) -> Any:
    """A field of a KMC point, record or stored dict (None where absent)."""
    return point.get(key) if isinstance(point, dict) else getattr(point, key, None)


def point_sigma(point: KMCPoint | dict[str, Any], average: str) -> tuple[float, float]:
    """(sigma, error) of a KMC point (record or stored dict) for ``average``, S/cm; (0, inf)
    where the point has no such value."""
    value_key, err_key = AVERAGES[average]
    value, err = _field(point, value_key), _field(point, err_key)
    if value is None:
        return 0.0, math.inf
    return float(value), (math.inf if err is None else float(err))


def usable_point(point: KMCPoint | dict[str, Any], average: str) -> bool:
    """The point enters the Arrhenius fit: diffusive, and its ``average`` sigma resolved
    from zero (error below the value)."""
    value, err = point_sigma(point, average)
    return (
        bool(_field(point, "diffusive"))
        and (_field(point, "d_sigma_cm2_s") or 0) > 0
        and 0 < value
        and err < value
    )


def _initial_occupation(lat: _Lattice, n_p: int, rng: np.random.Generator) -> np.ndarray:
    """Random placement of ``n_p`` carriers on Li sites (interstitials if needed) that
    respects the exclusion radius."""
    for _ in range(50):
        occ = np.zeros(lat.n_sites, dtype=np.int8)
        blocked = np.zeros(lat.n_sites, dtype=bool)
        order = np.concatenate(
            [
                rng.permutation(np.nonzero(lat.role_li)[0]),
                rng.permutation(np.nonzero(~lat.role_li)[0]),
            ]
        )
        placed = 0
        for s in order:
            if placed == n_p:
                break
            if occ[s] or blocked[s]:
                continue
            occ[s] = 1
            placed += 1
            blocked[lat.ex_idx[lat.ex_ptr[s] : lat.ex_ptr[s + 1]]] = True
        if placed == n_p:
            return occ
    raise SimulationError(
        f"{n_p} Li do not fit the {lat.n_sites} sites with the exclusion radius: "
        "lower exclusion_radius_A"
    )


def _diffusion_from_samples(
    samples: np.ndarray, sample_dt: float
) -> tuple[float, float, np.ndarray, np.ndarray, np.ndarray]:
    """Tracer and collective D (A^2/s) from sampled displacements, time-origin averaged,
    slope over lags of 5-25 % of the run (short lags: many independent windows for the
    collective MSD, which is one trajectory per run; KMC has no ballistic regime to skip).
    Also returns the window's times (s), the collective MSD per carrier (A^2) and the
    collective D tensor (3x3, A^2/s per carrier; its trace / 3 is the collective D).

    The tensor's off-diagonal elements come from the MSD of the summed displacement
    projected on (e_i + e_j)/sqrt(2): M_ij = M_u - (M_ii + M_jj) / 2."""
    from halidelab.transport.diffusion import msd_fft

    n_s, n_p, _ = samples.shape
    lags = np.arange(n_s)
    win = (lags >= max(1, int(0.05 * (n_s - 1)))) & (lags <= int(0.25 * (n_s - 1)))
    t = lags[win] * sample_dt
    tracer = msd_fft(samples).sum(axis=1)[win]
    total = samples.sum(axis=1)
    diag = msd_fft(total[:, None, :])[win] / n_p
    pairs = ((0, 1), (0, 2), (1, 2))
    mixed = np.stack([(total[:, i] + total[:, j]) / math.sqrt(2.0) for i, j in pairs], axis=1)
    cross = msd_fft(mixed[:, None, :])[win] / n_p
    coll = diag.sum(axis=1)

    def slope(y: np.ndarray) -> float:
        tt = t - t.mean()
        return float((tt * (y - y.mean())).sum() / (tt * tt).sum())

    tensor = np.diag([slope(diag[:, i]) / 2.0 for i in range(3)])
    for k, (i, j) in enumerate(pairs):
        tensor[i, j] = tensor[j, i] = slope(cross[:, k]) / 2.0 - 0.5 * (tensor[i, i] + tensor[j, j])
    return slope(tracer) / 6.0, slope(coll) / 6.0, t, coll, tensor


def _diffusive(t: np.ndarray, coll: np.ndarray, hop_A: float) -> tuple[bool, str]:
    """The run-averaged collective MSD is diffusive over the fit window: it reaches
    :data:`MIN_MSD_HOPS` hop lengths squared and grows with a log-log slope of at least
    :data:`MIN_LOGLOG_SLOPE` (local back-and-forth between neighbouring sites plateaus)."""
    y = np.maximum(coll, 1e-30)
    slope = float(np.polyfit(np.log(t), np.log(y), 1)[0]) if len(t) >= 2 else 0.0
    reasons = []
    if coll[-1] < MIN_MSD_HOPS * hop_A**2:
        reasons.append(
            f"collective MSD {coll[-1]:.2g} A^2 < {MIN_MSD_HOPS:g} hop lengths squared "
            f"({MIN_MSD_HOPS * hop_A**2:.2g} A^2)"
        )
    if slope < MIN_LOGLOG_SLOPE:
        reasons.append(f"MSD log-log slope {slope:.2f} < {MIN_LOGLOG_SLOPE}")
    return not reasons, "; ".join(reasons)


def _sem(values: np.ndarray) -> float:
    """Standard error of the mean of independent runs."""
    return float(values.std(ddof=1) / math.sqrt(len(values)))


def default_threads(n_runs: int) -> int:
    """Threads for a temperature's independent runs: the CPUs this process may use, capped
    by ``OMP_NUM_THREADS`` when it is set (the thread budget of cluster job scripts and of
    single-core benchmarks) and by ``n_runs``; 1 inside a Dask worker, whose processes are
    the parallelism there."""
    import os
    import sys

    if "distributed" in sys.modules:
        try:
            sys.modules["distributed"].get_worker()
        except (ValueError, AttributeError):
            pass
        else:
            return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cpus = os.cpu_count() or 1
    omp = os.environ.get("OMP_NUM_THREADS", "").strip()
    if omp.isdigit() and int(omp) > 0:
        cpus = min(cpus, int(omp))
    return max(1, min(cpus, n_runs))


def _map_runs(fn: Any, jobs: list, n_threads: int, progress: Any, done: int, total: int) -> list:
    """``fn`` over ``jobs`` in order, on ``n_threads`` threads (the numba kernels release
    the GIL), calling ``progress(done, total)`` as runs finish."""
    if n_threads <= 1 or len(jobs) <= 1:
        out = []
        for job in jobs:
            out.append(fn(job))
            done += 1
            if progress is not None:
                progress(done, total)
        return out
    from concurrent.futures import ThreadPoolExecutor, as_completed

    pool = ThreadPoolExecutor(max_workers=min(n_threads, len(jobs)))
    try:
        futures = {pool.submit(fn, job): i for i, job in enumerate(jobs)}
        out: list = [None] * len(jobs)
        for fut in as_completed(futures):
            out[futures[fut]] = fut.result()
            done += 1
            if progress is not None:
                progress(done, total)
    finally:
        # on Ctrl-C or an error, runs not yet started are dropped; a running numba kernel
        # cannot be stopped and is waited for, as in a single thread
        pool.shutdown(wait=True, cancel_futures=True)
    return out


def _polycrystal(tensors: np.ndarray, to_sigma: float) -> tuple[float, float]:
    """Random-polycrystal conductivity (S/cm) of the run-averaged collective D tensor and its
    jackknife error over the runs (leave one run out; the map is not linear, so the runs'
    own values would be biased by their noise). Principal values below zero (an unresolved
    direction) or at rounding level count as zero."""
    from halidelab.transport.polycrystal import (
        conducting_principal_values,
        jackknife_se,
        polycrystal_conductivity,
    )

    def value(t: np.ndarray) -> float:
        return polycrystal_conductivity(conducting_principal_values(t) * to_sigma)

    n = len(tensors)
    total = tensors.sum(axis=0)
    full = value(total / n)
    return full, jackknife_se([value((total - tensors[i]) / (n - 1)) for i in range(n)])


def _arrhenius_of(points: Sequence[KMCPoint], average: str) -> tuple[Any, ...]:
    """(Ea, its error, sigma(25 C), low, high, the fit as a dict, warnings) of the points'
    ``average`` conductivity; Nones without two usable points or when the fit fails."""
    usable = [p for p in points if usable_point(p, average)]
    none = (None, None, None, None, None, None)
    if len(usable) < 2:
        return (*none, [])
    from halidelab.arrhenius import fit_arrhenius

    values = [point_sigma(p, average) for p in usable]
    try:
        fit = fit_arrhenius(
            [p.temperature_K for p in usable],
            [v for v, _ in values],
            [e for _, e in values],
            quantity="sigma",
            method="kmc-arrhenius",
        )
    except FitError as exc:
        return (*none, [f"Arrhenius fit failed ({average} average): {exc}"])
    import warnings as _w

    with _w.catch_warnings(record=True) as caught:
        _w.simplefilter("always")
        pred = fit.predict(298.15)
    warns = [str(c.message) for c in caught] + [w for w in fit.warnings]
    return (fit.ea_eV, fit.ea_err_eV, pred.value, pred.low, pred.high, fit.to_dict(), warns)


def run_kmc(
    network: RateNetwork,
    temperatures_K: Sequence[float],
    n_runs: int = 8,
    hops_per_carrier: float = 200.0,
    equilibration_per_carrier: float = EQUILIBRATION_PER_CARRIER,
    n_samples: int = 400,
    supercell: Sequence[int] | None = None,
    min_length_A: float = MIN_SUPERCELL_LENGTH_A,
    seed: int = 0,
    progress: Any = None,
    n_carriers_total: int | None = None,
    diffusive_check: bool = True,
    superbasin_ratio: float | None = SUPERBASIN_RATIO,
    superbasin_exclusions: bool = True,
    start: str = "equilibrium",
    threads: int | None = None,
    average: str = "orientation",
) -> KMCResult:
    """KMC on a rate network at several temperatures, then Arrhenius.

    Parameters
    ----------
    network : RateNetwork
    temperatures_K : sequence of float
    n_runs : int
        Independent runs per temperature (own start and seed each); errors are their
        standard error.
    hops_per_carrier : float
        KMC events per carrier in each run's production part.
    equilibration_per_carrier : float
        Events per carrier each run discards after its start
        (:data:`EQUILIBRATION_PER_CARRIER`). A run extended because the temperature was not
        diffusive continues its own trajectory, without a new start.
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
    superbasin_exclusions : bool
        Count a hop as blocked while a site that excludes its ends is occupied when the
        critical hops are found (default; ``exclusions`` of :func:`superbasin_saddles`).
    start : {"equilibrium", "random"}
        Where each run's Li start: an equilibrium placement (default; drawn by Metropolis
        Monte Carlo with non-local moves, :data:`START_MOVES_PER_CARRIER` per Li, from a
        random one: the site energies' Boltzmann weights over the placements the exclusions
        allow, the distribution the KMC's rates keep), or at random on the Li sites (kmc
        revision 3 and before; the Li then sit on shallow sites of a landscape with deep
        ones and move too fast until they find the deep ones).
    threads : int, optional
        Threads that run a temperature's independent runs at once (default
        :func:`default_threads`: the CPUs this process may use, at most ``OMP_NUM_THREADS``
        and ``n_runs``; 1 in a Dask worker). The result does not depend on it: every random
        number is drawn from the run's own seed before the runs start.
    average : {"orientation", "polycrystal"}
        The conductivity the Arrhenius fit and the 25 C values use (both are reported per
        point, and the other one's fit in ``other_average``): the single crystal's
        orientation average trace / 3 (default), or a random polycrystal of the crystal, the
        bulk of a pressed pellet (the self-consistent effective-medium value of the
        principal conductivities, :mod:`~halidelab.transport.polycrystal`; at most the
        orientation average, equal to it for a cubic crystal). The polycrystal value is
        the pellet's only where the model's anisotropy is the crystal's: an ordered model
        of a cation-disordered cubic crystal (the spinels' Li/M orderings) has channels the
        real crystal averages out. Measured on the reference set's NEB networks (CHGNet):
        the ordered Li2MgCl4, Li2MnCl4 and Li2VCl4 models gave principal values 1e4-1e6
        apart and pellet values 1.6-2.0 decades below their orientation averages, while
        the trigonal Li3MCl6, whose c-axis chains motivated the pellet value, have principal
        values 2-3x apart at 25 C (Li3ErCl6 11x) and pellet values 0.01-0.04 decades below
        the orientation average (Li3ErCl6 0.19).
        Hence the orientation average is the default (the ordering ensemble averages
        orientations too), and the pellet is reported beside it.

    Returns
    -------
    KMCResult
    """
    temps = [float(t) for t in temperatures_K]
    if not temps or any(not (t > 0 and math.isfinite(t)) for t in temps):
        raise SimulationError(f"temperatures must be positive numbers of K, got {temperatures_K}")
    if n_runs < 2:
        raise SimulationError("KMC needs at least two runs per temperature for an error bar")
    if start not in ("equilibrium", "random"):
        raise SimulationError(f"start must be 'equilibrium' or 'random', got {start!r}")
    if average not in AVERAGES:
        raise SimulationError(f"average must be one of {sorted(AVERAGES)}, got {average!r}")
    if hops_per_carrier <= 0 or equilibration_per_carrier < 0 or n_samples < 20:
        raise SimulationError(
            "hops_per_carrier must be > 0, equilibration >= 0 and n_samples >= 20"
        )
    reps = (
        tuple(int(v) for v in supercell)
        if supercell is not None
        else supercell_size(network.lattice, min_length_A)
    )
    if len(reps) != 3 or min(reps) < 1:
        raise SimulationError(f"supercell must be three positive integers, got {supercell}")
    lat = _build(network, reps)
    n_p = (
        network.n_carriers * int(np.prod(reps))
        if n_carriers_total is None
        else int(n_carriers_total)
    )
    if not 0 < n_p <= lat.n_sites:
        raise SimulationError(f"{n_p} carriers do not fit the {lat.n_sites} sites of the supercell")
    kernel, metropolis = _kernel(), _metropolis()
    n_threads = default_threads(n_runs) if threads is None else int(threads)
    if n_threads < 1:
        raise SimulationError(f"threads must be >= 1, got {threads}")
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
        # harmonic prefactors enter as free energies at T: one nu0 for every hop then
        net_t = network.effective(T)
        energy = np.tile(np.asarray(net_t.site_energy_eV, dtype=float), n_cells)
        edge_saddle, sb = np.asarray(net_t.edge_saddle_eV, dtype=float), None
        if superbasin_ratio is not None:
            edge_saddle, sb = superbasin_saddles(
                net_t,
                T,
                superbasin_ratio,
                n_carriers=n_p / n_cells,
                exclusions=superbasin_exclusions,
            )
        saddle = edge_saddle[lat.edge]
        rate = network.attempt_frequency_Hz * np.exp(-(saddle - energy[lat.src]) / kt)
        hops = float(hops_per_carrier)
        blocked = False
        # each run's own trajectory: an extended run continues from where it ended
        states: list[tuple[np.ndarray, np.ndarray] | None] = [None] * n_runs
        while True:
            dts, dss, events, times, colls, tens = [], [], [], [], [], []
            d_apparent: list[float] = []  # MSD(tau) / (6 tau) at each run's longest lag, A^2/s
            occ_acc = np.zeros(lat.n_sites)
            children = np.random.SeedSequence([seed, int(round(T * 1000)), int(hops)]).spawn(n_runs)
            # every random draw is made here, in run order, so that the result does not
            # depend on how many threads run the runs
            jobs = []
            for i_run, child in enumerate(children):
                rng = np.random.default_rng(child)
                state = states[i_run]
                if state is None:
                    occ = _initial_occupation(lat, n_p, rng)
                    mseed = int(rng.integers(0, 2**31 - 1)) if start == "equilibrium" else None
                    part_at = None
                    n_equil = int(equilibration_per_carrier * n_p)
                else:
                    (occ, part_at), mseed, n_equil = state, None, 0
                kseed = int(rng.integers(0, 2**31 - 1))
                jobs.append((occ, part_at, mseed, n_equil, kseed))

            def one_run(
                job: tuple,
                hops: float = hops,
                rate: np.ndarray = rate,
                kt: float = kt,
                energy: np.ndarray = energy,
            ):
                occ, part_at, mseed, n_equil, kseed = job
                if mseed is not None:
                    occ = metropolis(
                        occ,
                        energy,
                        lat.ex_ptr,
                        lat.ex_idx,
                        kt,
                        int(START_MOVES_PER_CARRIER * n_p),
                        mseed,
                    )
                if part_at is None:
                    part_at = np.full(lat.n_sites, -1, dtype=np.int64)
                    part_at[np.nonzero(occ)[0]] = np.arange(n_p)
                samples, sdt, n_ev, occ_time, occ_end = kernel(
                    occ,
                    part_at,
                    lat.src,
                    lat.dst,
                    rate,
                    lat.dx,
                    lat.se_ptr,
                    lat.se_idx,
                    lat.ex_ptr,
                    lat.ex_idx,
                    lat.src_ex,
                    n_equil,
                    int(hops * n_p),
                    int(n_samples),
                    kseed,
                )
                if sdt <= 0:  # no event possible at all: a blocked network conducts nothing
                    return occ_end, part_at, None
                return (
                    occ_end,
                    part_at,
                    (
                        *_diffusion_from_samples(samples, sdt),
                        n_ev,
                        sdt * (n_samples - 1),
                        occ_time,
                    ),
                )

            outcomes = _map_runs(one_run, jobs, n_threads, progress, done_runs, total_runs)
            done_runs += len(jobs)
            for i_run, (occ_end, part_at, out) in enumerate(outcomes):
                states[i_run] = (occ_end, part_at)
                if out is None:
                    blocked = True
                    break
                d_tr, d_col, t_win, coll, tensor, n_ev, t_run, occ_time = out
                tens.append(tensor * ANGSTROM2_TO_CM2)
                dts.append(d_tr * ANGSTROM2_TO_CM2)
                dss.append(d_col * ANGSTROM2_TO_CM2)
                events.append(n_ev)
                times.append(t_run)
                d_apparent.append(float(coll[-1] / (6.0 * t_win[-1])) if t_win[-1] > 0 else 0.0)
                colls.append(np.interp(np.linspace(0.05, 0.25, 20), t_win / t_win[-1] * 0.25, coll))
                occ_acc += occ_time
            if blocked:
                break
            t_ref = np.linspace(0.05, 0.25, 20) * float(np.mean(times))
            ok, why = (
                _diffusive(t_ref, np.mean(colls, axis=0), hop_A) if diffusive_check else (True, "")
            )
            if ok or hops >= MAX_EXTENSION * hops_per_carrier:
                break
            hops *= 4.0
            total_runs += n_runs
        if blocked:
            why = (
                "no hop is possible: every Li is blocked (a full Li sublattice conducts through "
                "defects that this network does not create)"
            )
            not_diffusive.append(f"{T:g} K: {why}")
            points.append(
                KMCPoint(
                    temperature_K=T,
                    d_tracer_cm2_s=0.0,
                    d_tracer_err_cm2_s=0.0,
                    d_sigma_cm2_s=0.0,
                    d_sigma_err_cm2_s=0.0,
                    haven_ratio=None,
                    haven_ratio_err=None,
                    sigma_S_cm=0.0,
                    sigma_err_S_cm=0.0,
                    n_runs=0,
                    events_per_run=0.0,
                    hops_per_carrier=0.0,
                    time_per_run_s=0.0,
                    occupancy={},
                    d_sigma_runs=(),
                    d_tracer_runs=(),
                    diffusive=False,
                    note=why,
                    superbasin=sb,
                )
            )
            continue
        if not ok:
            not_diffusive.append(f"{T:g} K: {why} after {hops:g} hops per Li")
        dts_a, dss_a = np.array(dts), np.array(dss)
        d_tr, d_tr_err = float(dts_a.mean()), _sem(dts_a)
        d_s, d_s_err = float(dss_a.mean()), _sem(dss_a)
        haven = d_tr / d_s if d_s > 0 else None
        haven_err = (
            haven * math.hypot(d_tr_err / d_tr if d_tr > 0 else 0.0, d_s_err / d_s)
            if haven is not None
            else None
        )
        to_sigma = n_cm3 * E_CHARGE_C**2 / (K_B_J_K * T)
        sig = to_sigma * d_s
        sig_err = sig * d_s_err / d_s if d_s > 0 else math.inf
        upper = None
        if not ok:  # the bound of the field's docstring: mean + 2 SE over the runs
            d_app = np.array(d_apparent)
            d_up = float(d_app.mean()) + (2.0 * _sem(d_app) if len(d_app) > 1 else 0.0)
            upper = float(to_sigma * d_up * ANGSTROM2_TO_CM2)
        tens_a = np.array(tens)
        t_mean = tens_a.mean(axis=0)
        poly, poly_err = _polycrystal(tens_a, to_sigma)
        occ_mean = occ_acc / n_runs
        occupancy = {lab: float(occ_mean[label_arr == lab].mean()) for lab in labels}
        points.append(
            KMCPoint(
                temperature_K=T,
                d_tracer_cm2_s=d_tr,
                d_tracer_err_cm2_s=d_tr_err,
                d_sigma_cm2_s=d_s,
                d_sigma_err_cm2_s=d_s_err,
                haven_ratio=haven,
                haven_ratio_err=haven_err,
                sigma_S_cm=float(sig),
                sigma_err_S_cm=float(sig_err),
                n_runs=n_runs,
                events_per_run=float(np.mean(events)),
                hops_per_carrier=float(np.mean(events) / n_p),
                time_per_run_s=float(np.mean(times)),
                occupancy=occupancy,
                d_sigma_runs=tuple(float(v) for v in dss_a),
                d_tracer_runs=tuple(float(v) for v in dts_a),
                diffusive=bool(ok),
                note=why,
                superbasin=sb,
                d_sigma_tensor_cm2_s=tuple(tuple(float(v) for v in row) for row in t_mean),
                sigma_principal_S_cm=tuple(float(v) for v in principal_values(t_mean) * to_sigma),
                sigma_polycrystal_S_cm=poly,
                sigma_polycrystal_err_S_cm=poly_err,
                sigma_upper_S_cm=upper,
            )
        )
    warns: list[str] = [
        f"not diffusive at {m}: left out of the Arrhenius fit (raise hops_per_carrier, --hops in "
        "the CLI)"
        for m in not_diffusive
    ]
    unresolved = [
        p
        for p in points
        if p.diffusive and not (p.d_sigma_cm2_s > 0 and p.sigma_err_S_cm < p.sigma_S_cm)
    ]
    if unresolved:
        warns.append(
            f"{len(unresolved)} temperature(s) gave a collective D not resolved from zero "
            "(error >= value): longer runs (hops_per_carrier) or more runs"
        )
    if average == "polycrystal":
        slow = [
            p
            for p in points
            if p not in unresolved and p.diffusive and not usable_point(p, "polycrystal")
        ]
        if slow:
            warns.append(
                f"{len(slow)} temperature(s) gave a polycrystal conductivity not resolved from "
                "zero: the crystal conducts in fewer than two directions within the runs' "
                "resolution (in a random polycrystal, grains must hand the current on through "
                "their slow directions)"
            )
    fits = {avg: _arrhenius_of(points, avg) for avg in AVERAGES}
    ea, ea_err, s25, s25_lo, s25_hi, arr, fit_warns = fits[average]
    warns += [w for w in fit_warns if w not in warns]
    other = next(avg for avg in AVERAGES if avg != average)
    o_ea, o_ea_err, o_s25, o_lo, o_hi, _, _ = fits[other]
    other_average = {
        "average": other,
        "ea_eV": o_ea,
        "ea_err_eV": o_ea_err,
        "sigma_25C_S_cm": o_s25,
        "sigma_25C_low_S_cm": o_lo,
        "sigma_25C_high_S_cm": o_hi,
    }
    summary = {
        **network.summary(),
        "supercell": list(reps),
        "n_carriers_supercell": n_p,
        "n_sites_supercell": lat.n_sites,
    }
    assumptions = (
        (
            "harmonic TST rates with each hop's Vineyard prefactor (one Li in a frozen host); "
            "sites weighted by their harmonic free energy"
            if network.harmonic
            else f"harmonic TST rates with one attempt frequency "
            f"{network.attempt_frequency_Hz:.1e} Hz"
        ),
        f"site blocking and hard-core exclusion within {network.exclusion_radius_A:g} A"
        + (
            f" and between {len(network.exclusion_pairs)} face-sharing pairs of a Li site and "
            "an interstitial between two Li sites"
            if network.exclusion_pairs
            else ""
        )
        + "; no other Li-Li interaction",
        "sigma = n e^2 D_sigma / (k_B T) with the collective (jump) D: correlations included, "
        "Haven ratio reported, not assumed",
        (
            "Ea and sigma(25 C) are a pressed pellet's bulk: the random polycrystal of the "
            "crystal, the self-consistent effective-medium value of its principal "
            "conductivities (Stroud, Phys. Rev. B 12, 3368 (1975)), jackknife errors over the "
            "runs, valid where the model's anisotropy is the crystal's; the orientation "
            "average trace / 3 (the polycrystal's upper bound) in other_average"
            if average == "polycrystal"
            else "Ea and sigma(25 C) are the single crystal's orientation average trace / 3 "
            "(a random polycrystal's upper bound); a random polycrystal of the crystal (its "
            "effective-medium value, Stroud, Phys. Rev. B 12, 3368 (1975)) in other_average, "
            "a pellet's bulk where the model's anisotropy is the crystal's (not for an "
            "ordered model of a cation-disordered crystal)"
        ),
        f"{n_runs} independent runs per temperature, each from "
        + (
            "an equilibrium placement of the Li (Metropolis Monte Carlo, "
            f"{START_MOVES_PER_CARRIER:g} moves per Li)"
            if start == "equilibrium"
            else "a random placement of the Li"
        )
        + f" and {equilibration_per_carrier:g} KMC events per Li discarded; errors are their "
        "standard error",
        f"a temperature counts only when diffusive (collective MSD >= {MIN_MSD_HOPS:g} hop lengths "
        "squared, "
        f"log-log slope >= {MIN_LOGLOG_SLOPE}); runs are extended 4x up to {MAX_EXTENSION}x before "
        "giving up",
        (
            f"superbasin acceleration: hops crossed more than {superbasin_ratio:g}x as often as "
            "the "
            "critical (first spanning) hops are slowed to that ratio, both directions alike (site "
            "energies, occupations and detailed balance unchanged; per temperature in "
            "points[].superbasin)"
            if superbasin_ratio is not None
            else "plain rates (no superbasin acceleration)"
        ),
        *network.notes,
    )
    return KMCResult(
        formula=network.formula,
        points=tuple(points),
        ea_eV=ea,
        ea_err_eV=ea_err,
        sigma_25C_S_cm=s25,
        sigma_25C_low_S_cm=s25_lo,
        sigma_25C_high_S_cm=s25_hi,
        arrhenius=arr,
        network=summary,
        assumptions=assumptions,
        warnings=tuple(warns),
        average=average,
        other_average=other_average,
        provenance=Provenance(
            method="kmc-rejection-free",
            parameters={
                "n_runs": n_runs,
                "hops_per_carrier": hops_per_carrier,
                "equilibration_per_carrier": equilibration_per_carrier,
                "n_samples": n_samples,
                "supercell": list(reps),
                "source": network.source,
                "superbasin_ratio": superbasin_ratio,
                "superbasin_exclusions": superbasin_exclusions,
                "start": start,
                "average": average,
            },
            seed=seed,
        ),
    )
