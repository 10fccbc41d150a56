"""Batched climbing-image NEB: every image of every hop in one force call per iteration.

Each hop is a band of ``n_images`` intermediate images between two fixed endpoints.
Per iteration the engine evaluates the intermediate images of all hops that have not
converged in one batched model call, then computes on the whole band at once (numpy
over images):

- the improved tangent of Henkelman & Jonsson, J. Chem. Phys. 113, 9978 (2000), eqs.
  8-11 (ASE's ``method="improvedtangent"``), springs as minimum-image differences;
- the force perpendicular to the tangent plus the spring force
  k (|R_{i+1} - R_i| - |R_i - R_{i-1}|) tau (eq. 12);
- on the climbing image (the highest intermediate image) the true force with its
  tangential part inverted, F - 2 (F.tau) tau, no spring (Henkelman, Uberuaga &
  Jonsson, J. Chem. Phys. 113, 9901 (2000), eq. 5).

Each band is optimised by its own FIRE (:class:`halidelab.engine.fire.FireState`, ASE's
update, on all intermediate images of the hop as one vector, as ASE does with an NEB
object), in two stages like :func:`halidelab.transport.neb.run_neb`: plain NEB to
``preconverge_fmax`` (at most a third of the steps), then climbing to ``fmax`` with a
fresh FIRE state. A hop is converged when its largest NEB force (climbing image
included) is below ``fmax``, and leaves the batch then: per-hop convergence.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from halidelab.engine.batch import BatchEvaluator, as_evaluator
from halidelab.engine.fire import FireState
from halidelab.errors import SimulationError, StructureError
from halidelab.records import Provenance, Record


@dataclasses.dataclass(frozen=True)
class NEBHop:
    """One hop: two endpoint structures (same atoms, same order, same cell).

    Attributes
    ----------
    initial, final : ase Atoms or pymatgen Structure
        Relaxed endpoints (the engine does not relax them). With ``mic`` the final
        positions are taken through the minimum image of the initial ones; without,
        as they are (unwrapped endpoints: ``final - initial`` is the real displacement,
        needed when a hop is longer than half the cell).
    label : str
    n_images : int, optional
        Intermediate images of this band (default: ``neb_batch``'s ``n_images``).
    via : sequence of (atom index, cartesian position)
        Start the band through these points: the atom's initial path is piecewise
        linear through them, images spread by arc length, no IDPP (as
        :func:`halidelab.transport.neb.run_neb` with ``via_positions``).
    mic : bool
        Interpolate through the minimum image (default) or the unwrapped difference.
    """

    initial: Any
    final: Any
    label: str = ""
    n_images: int | None = None
    via: tuple[tuple[int, tuple[float, float, float]], ...] = ()
    mic: bool = True


@dataclasses.dataclass(frozen=True)
class BatchNEBResult(Record):
    """Minimum energy path of one hop from the batched CI-NEB.

    Field names follow :class:`halidelab.transport.neb.NEBResult`.

    Attributes
    ----------
    label : str
    n_images : int
        Intermediate images.
    reaction_coordinate_A : tuple of float
        Cumulative all-atom path length along the band, A.
    energies_eV : tuple of float
        Image energies relative to the initial state, eV (endpoints included).
    barrier_forward_eV, barrier_backward_eV : float
        Highest image above the initial / the final state, eV.
    delta_e_eV : float
        Final minus initial, eV.
    saddle_image : int
        Index of the highest image (0 .. n_images + 1).
    converged : bool
        The climbing stage reached ``fmax_target_eV_A`` within the steps.
    fmax_eV_A, fmax_target_eV_A : float
        Largest NEB force at the end and the target, eV/A.
    steps : int
        FIRE steps of this hop (both stages).
    saddle_structure : dict
        Highest image, pymatgen ``Structure.as_dict()``.
    wall_s : float
        Wall time of the whole batch (hops share it).
    warnings : tuple of str
    provenance : Provenance
    force_calls : int
        Structures of this band evaluated (endpoints once, intermediate images at every
        iteration), the count :class:`~halidelab.transport.neb.NEBResult` reports.
    """

    label: str
    n_images: int
    reaction_coordinate_A: tuple[float, ...]
    energies_eV: tuple[float, ...]
    barrier_forward_eV: float
    barrier_backward_eV: float
    delta_e_eV: float
    saddle_image: int
    converged: bool
    fmax_eV_A: float
    fmax_target_eV_A: float
    steps: int
    saddle_structure: dict[str, Any]
    wall_s: float
    warnings: tuple[str, ...]
    provenance: Provenance
    force_calls: int = 0


def _mic(vectors: np.ndarray, cell: Any, pbc: Any) -> np.ndarray:
    from ase.geometry import find_mic

    shape = vectors.shape
    d, _ = find_mic(vectors.reshape(-1, 3), cell, pbc)
    return d.reshape(shape)


def neb_forces(positions: np.ndarray, energies: np.ndarray, forces: np.ndarray, cell: Any,
               pbc: Any, k: float, climb: bool) -> np.ndarray:
    """NEB forces on the intermediate images of one band (improved tangent, CI).

    Parameters
    ----------
    positions : array (n_images + 2, n_atoms, 3)
        Whole band, endpoints included, A.
    energies : array (n_images + 2,)
        eV.
    forces : array (n_images, n_atoms, 3)
        True forces on the intermediate images, eV/A.
    k : float
        Spring constant, eV/A^2.
    climb : bool
        Treat the highest intermediate image as the climbing image.

    Returns
    -------
    array (n_images, n_atoms, 3)
        eV/A.
    """
    t = _mic(positions[1:] - positions[:-1], cell, pbc)  # springs, (n+1, N, 3)
    nt = np.sqrt((t**2).sum(axis=(1, 2)))
    e = np.asarray(energies, float)
    e_prev, e_mid, e_next = e[:-2], e[1:-1], e[2:]
    up = (e_next > e_mid) & (e_mid > e_prev)
    down = (e_next < e_mid) & (e_mid < e_prev)
    d1, d2 = np.abs(e_next - e_mid), np.abs(e_prev - e_mid)
    dmax, dmin = np.maximum(d1, d2), np.minimum(d1, d2)
    w_next = np.where(e_next > e_prev, dmax, dmin)
    w_prev = np.where(e_next > e_prev, dmin, dmax)
    w_next = np.where(up, 1.0, np.where(down, 0.0, w_next))
    w_prev = np.where(up, 0.0, np.where(down, 1.0, w_prev))
    tau = w_next[:, None, None] * t[1:] + w_prev[:, None, None] * t[:-1]
    norm = np.sqrt((tau**2).sum(axis=(1, 2)))
    tau = tau / np.where(norm > 0, norm, 1.0)[:, None, None]
    f_par = (forces * tau).sum(axis=(1, 2))
    out = forces - f_par[:, None, None] * tau + (k * (nt[1:] - nt[:-1]))[:, None, None] * tau
    if climb:
        i = int(np.argmax(e_mid))
        out[i] = forces[i] - 2.0 * f_par[i] * tau[i]
    return out


def _fmax(f: np.ndarray) -> float:
    return float(np.sqrt((f**2).sum(axis=-1)).max())


def _band(initial: Any, final: Any, n_images: int, interpolation: str,
          via: Sequence[tuple[int, Sequence[float]]] = (), mic: bool = True) -> list[Any]:
    images = [initial.copy() for _ in range(n_images + 1)] + [final.copy()]
    d = final.positions - initial.positions
    if mic:
        d = _mic(d, initial.cell, initial.pbc)
    for j, im in enumerate(images):
        im.set_positions(initial.positions + d * j / (n_images + 1), apply_constraint=False)
    if via:
        from halidelab.transport.neb import _piecewise

        _piecewise(images, via)
    elif interpolation == "idpp":
        from ase.mep.neb import NEB, idpp_interpolate

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            band = NEB(images)
            idpp_interpolate(band, traj=None, log=None, mic=True, steps=200)
    for im in images:
        im.calc = None
    return images


def neb_batch(
    hops: Sequence[NEBHop],
    n_images: int = 5,
    k: float = 0.1,
    climb: bool = True,
    fmax: float = 0.05,
    steps: int = 300,
    preconverge_fmax: float | None = None,
    interpolation: str = "linear",
    evaluator: BatchEvaluator | None = None,
    model: str = "chgnet",
    device: str = "auto",
    threads: int | None = None,
    modal: str | None = None,
    enable_cueq: bool | None = None,
    max_atoms: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[BatchNEBResult]:
    """CI-NEB of many hops, one batched force call per iteration for all their images.

    Parameters
    ----------
    hops : sequence of NEBHop
        Endpoint pairs (may differ in size and composition).
    n_images : int
        Intermediate images per hop (a hop's own ``n_images`` overrides it).
    k : float
        Spring constant, eV/A^2 (ASE's default 0.1).
    climb : bool
        Climbing image in the second stage.
    fmax : float
        Convergence of the (climbing) band, eV/A.
    steps : int
        FIRE steps per hop, both stages together.
    preconverge_fmax : float, optional
        Target of the plain-NEB stage; default max(3 fmax, 0.15) eV/A.
    interpolation : {"linear", "idpp"}
        Initial band (IDPP: ASE's ``idpp_interpolate``).
    evaluator : BatchEvaluator, optional
        Default :func:`halidelab.engine.batch.get_evaluator` with the model arguments.
    progress : callable(iteration, n_running_hops), optional

    Returns
    -------
    list of BatchNEBResult
        One per hop, in order.
    """
    from halidelab.relax import to_atoms, to_structure

    if not hops:
        raise SimulationError("give at least one hop")
    if n_images < 1 or steps < 1 or not (fmax > 0) or not (k > 0):
        raise SimulationError(f"need n_images >= 1, steps >= 1, fmax > 0 and k > 0 "
                              f"(got {n_images}, {steps}, {fmax}, {k})")
    if interpolation not in ("linear", "idpp"):
        raise SimulationError(f"interpolation must be 'linear' or 'idpp', got {interpolation!r}")
    pre = preconverge_fmax if preconverge_fmax is not None else max(3 * fmax, 0.15)
    ev = as_evaluator(evaluator, model, device, threads, modal, enable_cueq, max_atoms)
    calls0 = ev.n_calls
    bands, fixed, nimg = [], [], []
    for h, hop in enumerate(hops):
        if not isinstance(hop, NEBHop):
            raise SimulationError(f"hops must be NEBHop objects, got {type(hop).__name__}")
        n_h = n_images if hop.n_images is None else int(hop.n_images)
        if n_h < 1:
            raise SimulationError(f"hop {h} ({hop.label}): need n_images >= 1, got {n_h}")
        a, b = to_atoms(hop.initial), to_atoms(hop.final)
        if len(a) != len(b) or (a.numbers != b.numbers).any():
            raise StructureError(f"hop {h} ({hop.label}): endpoints must hold the same atoms in the same order")
        if np.abs(a.cell.array - b.cell.array).max() > 1e-6:
            raise StructureError(f"hop {h} ({hop.label}): endpoints must share one cell")
        mask = np.zeros(len(a), bool)
        for c in a.constraints:
            if type(c).__name__ == "FixAtoms":
                mask[c.index] = True
        bands.append(_band(a, b, n_h, interpolation, hop.via, hop.mic))
        fixed.append(mask)
        nimg.append(n_h)
    nh = len(bands)
    energies = [np.zeros(nimg[h] + 2) for h in range(nh)]
    evals = [2] * nh  # endpoints once
    forces: list[np.ndarray | None] = [None] * nh
    climbing = [False] * nh
    fire = [FireState() for _ in range(nh)]
    nsteps, stage_steps = [0] * nh, [0] * nh
    converged = [False] * nh
    n_pre = max(1, steps // 3) if climb else steps
    t0 = time.perf_counter()

    # endpoints once, with the first images
    first = [im for band in bands for im in (band[0], band[-1])]
    for j, r in enumerate(ev.evaluate(first)):
        energies[j // 2][0 if j % 2 == 0 else -1] = r.energy_eV
    active = list(range(nh))
    iteration = 0
    while active:
        ims = [im for h in active for im in bands[h][1:-1]]
        res = ev.evaluate(ims)
        still = []
        offsets = np.concatenate([[0], np.cumsum([nimg[h] for h in active])])
        for q, h in enumerate(active):
            chunk = res[offsets[q]:offsets[q + 1]]
            evals[h] += nimg[h]
            energies[h][1:-1] = [r.energy_eV for r in chunk]
            f_true = np.array([r.forces_eV_A for r in chunk])
            f_true[:, fixed[h]] = 0.0
            pos = np.array([im.positions for im in bands[h]])
            f = neb_forces(pos, energies[h], f_true, bands[h][0].cell, bands[h][0].pbc, k, climbing[h])
            f[:, fixed[h]] = 0.0
            forces[h] = f
            fm = _fmax(f)
            target = fmax if (climbing[h] or not climb) else pre
            if fm < target or stage_steps[h] >= (n_pre if not climbing[h] and climb else steps):
                if climb and not climbing[h] and nsteps[h] < steps:
                    # second stage: climbing image, fresh FIRE (as a new ASE optimiser)
                    climbing[h] = True
                    fire[h] = FireState()
                    stage_steps[h] = nsteps[h]
                    f = neb_forces(pos, energies[h], f_true, bands[h][0].cell, bands[h][0].pbc, k, True)
                    f[:, fixed[h]] = 0.0
                    forces[h] = f
                    fm = _fmax(f)
                    if fm < fmax:
                        converged[h] = True
                        continue
                else:
                    converged[h] = fm < fmax
                    continue
            if nsteps[h] >= steps:
                continue
            dr = fire[h].step(f.reshape(-1, 3)).reshape(f.shape)
            for im, d in zip(bands[h][1:-1], dr, strict=True):
                im.set_positions(im.positions + d, apply_constraint=False)
            nsteps[h] += 1
            stage_steps[h] += 1
            still.append(h)
        active = still
        iteration += 1
        if progress is not None:
            progress(iteration, len(active))
    wall = time.perf_counter() - t0

    out = []
    for h, band in enumerate(bands):
        e_rel = energies[h] - energies[h][0]
        imax = int(np.argmax(e_rel))
        warns = []
        if imax in (0, len(e_rel) - 1):
            warns.append("the highest energy is at an endpoint: no saddle between the endpoints "
                         "(barrier = energy difference)")
        fm = _fmax(forces[h]) if forces[h] is not None else float("nan")
        if not converged[h]:
            warns.append(f"NEB not converged: max force {fm:.3f} eV/A > {fmax} after {nsteps[h]} steps")
        pos = np.array([im.positions for im in band])
        seg = np.sqrt((_mic(pos[1:] - pos[:-1], band[0].cell, band[0].pbc) ** 2).sum(axis=(1, 2)))
        params = {"n_images": nimg[h], "k_eV_A2": k, "climb": climb, "fmax_eV_A": fmax, "steps": steps,
                  "preconverge_fmax_eV_A": pre, "interpolation": interpolation, "optimizer": "FIRE",
                  "method": "improvedtangent", "batched": True, "n_hops": nh,
                  "model_calls": ev.n_calls - calls0, "device": ev.info.get("device"),
                  "enable_cueq": ev.info.get("enable_cueq"), "batching": ev.info.get("batching")}
        out.append(BatchNEBResult(
            label=hops[h].label or f"hop{h}", n_images=nimg[h],
            reaction_coordinate_A=tuple(float(v) for v in np.concatenate([[0.0], np.cumsum(seg)])),
            energies_eV=tuple(float(v) for v in e_rel),
            barrier_forward_eV=float(e_rel[imax]), barrier_backward_eV=float(e_rel[imax] - e_rel[-1]),
            delta_e_eV=float(e_rel[-1]), saddle_image=imax, converged=bool(converged[h]),
            fmax_eV_A=fm, fmax_target_eV_A=float(fmax), steps=int(nsteps[h]),
            saddle_structure=to_structure(band[imax]).as_dict(), wall_s=wall, warnings=tuple(warns),
            provenance=Provenance(method="ci-neb-batch" if climb else "neb-batch", model=ev.info.get("name"),
                                  model_version=ev.info.get("version"), parameters=params),
            force_calls=int(evals[h])))
    return out
