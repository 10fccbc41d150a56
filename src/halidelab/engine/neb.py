"""Climbing-image NEB on the engine: every image of every band in one force call per iteration.

Each hop is a band of ``n_images`` intermediate images between two fixed endpoints
(:class:`NEBHop`). Per iteration the engine evaluates the intermediate images of all
bands that have not converged in one batched model call, then computes on each band at
once (numpy over images):

- the improved tangent of Henkelman & Jonsson, J. Chem. Phys. 113, 9978 (2000), eqs.
  8-11 (ASE's ``method="improvedtangent"``), springs as minimum-image differences;
- the force perpendicular to the tangent plus the spring force
  k (|R_{i+1} - R_i| - |R_i - R_{i-1}|) tau (eq. 12);
- on the climbing image (the highest intermediate image) the true force with its
  tangential part inverted, F - 2 (F.tau) tau, no spring (Henkelman, Uberuaga &
  Jonsson, J. Chem. Phys. 113, 9901 (2000), eq. 5).

Each band is optimised by its own optimiser (:mod:`halidelab.engine.optimizers`: ASE's
FIRE, BFGS or MDMin update, on all intermediate images of the band as one vector, as ASE
does with an NEB object), in two stages as is usual with ASE: plain NEB to
``preconverge_fmax`` (at most a third of the steps), then climbing to ``fmax`` with a
fresh optimiser. A band is converged when its largest NEB force (climbing image
included) is below ``fmax``, and leaves the batch then: per-band convergence. One hop is
a batch of one; the hops of a structure (:mod:`halidelab.transport.neb`) and of many
structures run together.

Results are :class:`NEBResult` records, the same record the studies return with the
hop's description filled in (:meth:`NEBResult.from_band`).
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from halidelab.atoms import to_atoms
from halidelab.engine.batch import as_evaluator
from halidelab.engine.optimizers import optimizer_class, optimizer_name
from halidelab.errors import SimulationError, StructureError
from halidelab.potentials import provenance
from halidelab.records import Provenance, Record


@dataclasses.dataclass(frozen=True)
class NEBResult(Record):
    """Minimum energy path of one hop (or of a path of hops joined at minima).

    The band fields come from the NEB; the descriptive ones (sites, mechanism, hop
    classes) from whoever planned the hop (:mod:`halidelab.transport.neb`) and keep
    their defaults for bare endpoints.

    Attributes
    ----------
    label : str
        e.g. ``Li1->Li2``.
    label_initial, label_final : str
        Site labels at the start and the end of the band.
    mechanism : {"vacancy", "interstitial", "endpoints"}
    hop_index, parent_class, env_class : int or None
        The hop in its :class:`~halidelab.transport.sites.SiteNetwork`.
    direction : str
        ``c``, ``ab``, ``oblique`` (or ``unknown`` for bare endpoints).
    hop_length_A : float
        Distance between the two site centres through the hop's image vector, A (for
        bare endpoints: the largest atomic displacement between them).
    n_images : int
        Intermediate images.
    reaction_coordinate_A : tuple of float
        Cumulative all-atom path length along the band, A.
    energies_eV : tuple of float
        Image energies relative to the initial state, eV (endpoints included).
    barrier_forward_eV, barrier_backward_eV : float
        Highest image above the initial / the final state, eV.
    delta_e_eV : float
        Final minus initial energy, eV.
    saddle_image : int
        Index of the highest image (0 .. n_images + 1).
    converged : bool
        The climbing-image band reached ``fmax_target_eV_A`` within its steps.
    fmax_eV_A, fmax_target_eV_A : float
        Largest NEB force at the end, and the target, eV/A.
    steps : int
        Optimiser steps (both stages).
    force_calls : int
        Structures evaluated for this hop: its images at every iteration, endpoints
        without a known energy once, and the endpoint relaxations of a study.
    endpoints_ok : bool
        Both endpoints converged and the Li stayed in its sites.
    wall_s : float
        Wall time of the call that ran the band (bands run together share it).
    warnings : tuple of str
    provenance : Provenance
    via : tuple of str
        Interstitial sites the band was started through (``("i3",)`` for Li2->i3->Li2).
    hop_classes, hop_env_classes : tuple of int
        Parent and environment classes of every hop the path traverses.
    """

    label: str
    label_initial: str
    label_final: str
    mechanism: str
    hop_index: int | None
    parent_class: int | None
    env_class: int | None
    direction: str
    hop_length_A: float
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
    force_calls: int
    endpoints_ok: bool
    wall_s: float
    warnings: tuple[str, ...]
    provenance: Provenance
    via: tuple[str, ...] = ()
    hop_classes: tuple[int, ...] = ()
    hop_env_classes: tuple[int, ...] = ()

    @classmethod
    def from_band(
        cls,
        e_rel: Sequence[float],
        s: Sequence[float],
        converged: bool,
        fmax_end: float,
        fmax_target: float,
        steps: int,
        force_calls: int,
        warns: Sequence[str],
        prov: Provenance,
        label: str = "",
        **meta: Any,
    ) -> NEBResult:
        """A result from a band's energies (relative to its first image) and path.

        ``meta`` holds the descriptive fields (label_initial, mechanism, hop_index, ...,
        endpoints_ok, wall_s); the barriers, the saddle image and the endpoint and
        convergence warnings (after ``warns``) come from the band itself.

        Raises
        ------
        SimulationError
            A field name that :class:`NEBResult` does not have.
        """
        e_rel = np.asarray(e_rel, dtype=float)
        warns = list(warns)
        imax = int(np.argmax(e_rel))
        if imax in (0, len(e_rel) - 1):
            warns.append(
                "the highest energy is at an endpoint: no saddle between the endpoints "
                "(barrier = energy difference)"
            )
        if not converged:
            warns.append(
                f"NEB not converged: max force {fmax_end:.3f} eV/A > {fmax_target} after {steps} "
                "steps"
            )
        meta = dict(meta)
        fields = dict(
            label=label,
            label_initial=meta.pop("label_initial", "initial"),
            label_final=meta.pop("label_final", "final"),
            mechanism=meta.pop("mechanism", "endpoints"),
            hop_index=meta.pop("hop_index", None),
            parent_class=meta.pop("parent_class", None),
            env_class=meta.pop("env_class", None),
            direction=meta.pop("direction", "unknown"),
            hop_length_A=float(meta.pop("hop_length_A", 0.0)),
            n_images=len(e_rel) - 2,
            reaction_coordinate_A=tuple(float(v) for v in s),
            energies_eV=tuple(float(v) for v in e_rel),
            barrier_forward_eV=float(e_rel[imax]),
            barrier_backward_eV=float(e_rel[imax] - e_rel[-1]),
            delta_e_eV=float(e_rel[-1]),
            saddle_image=imax,
            converged=bool(converged),
            fmax_eV_A=float(fmax_end),
            fmax_target_eV_A=float(fmax_target),
            steps=int(steps),
            force_calls=int(force_calls),
            via=tuple(meta.pop("via", ())),
            hop_classes=tuple(meta.pop("hop_classes", ())),
            hop_env_classes=tuple(meta.pop("hop_env_classes", ())),
            endpoints_ok=bool(meta.pop("endpoints_ok", True)),
            wall_s=float(meta.pop("wall_s", 0.0)),
            warnings=tuple(warns),
            provenance=prov,
        )
        if meta:
            raise SimulationError(f"unknown NEB result fields: {sorted(meta)}")
        return cls(**fields)

    def band_warnings(self) -> tuple[str, ...]:
        """The warnings that are not about the band itself (endpoint saddle, convergence)."""
        return tuple(
            w
            for w in self.warnings
            if not w.startswith(("the highest energy is at an endpoint", "NEB not converged"))
        )


@dataclasses.dataclass(frozen=True)
class NEBHop:
    """One hop: two endpoint structures (same atoms, same order, same cell).

    Attributes
    ----------
    initial, final : ase Atoms or pymatgen Structure
        Endpoints (the engine does not relax them). An ``Atoms`` endpoint whose
        calculator is a single-point record with an energy (a relaxation's result) is
        not evaluated again. With ``mic`` the final positions are taken through the
        minimum image of the initial ones; without, as they are (unwrapped endpoints:
        ``final - initial`` is the real displacement, needed when a hop is longer than
        half the cell).
    label : str
    n_images : int, optional
        Intermediate images of this band (default: ``neb_batch``'s ``n_images``).
    via : sequence of (atom index, cartesian position)
        Start the band through these points: the atom's initial path is piecewise
        linear through them, images spread by arc length, no IDPP.
    mic : bool
        Interpolate through the minimum image (default) or the unwrapped difference.
    """

    initial: Any
    final: Any
    label: str = ""
    n_images: int | None = None
    via: tuple[tuple[int, tuple[float, float, float]], ...] = ()
    mic: bool = True


def _mic(vectors: np.ndarray, cell: Any, pbc: Any) -> np.ndarray:
    from ase.geometry import find_mic

    shape = vectors.shape
    d, _ = find_mic(vectors.reshape(-1, 3), cell, pbc)
    return d.reshape(shape)


def neb_forces(
    positions: np.ndarray,
    energies: np.ndarray,
    forces: np.ndarray,
    cell: Any,
    pbc: Any,
    k: float,
    climb: bool,
) -> np.ndarray:
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


def along_polyline(images: Sequence[Any], via: Sequence[tuple[int, Sequence[float]]]) -> None:
    """Put the moving atom of the interior images on the polyline start - via - end.

    The images are spread evenly by arc length; ``via`` holds (atom index, cartesian
    point) pairs, all for the same atom.
    """
    idx = via[0][0]
    pts = (
        [images[0].positions[idx]]
        + [np.asarray(p, dtype=float) for _, p in via]
        + [images[-1].positions[idx]]
    )
    seg = np.array([np.linalg.norm(b - a) for a, b in zip(pts[:-1], pts[1:], strict=True)])
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    n = len(images) - 1
    for k in range(1, n):
        x = cum[-1] * k / n
        j = min(int(np.searchsorted(cum, x, side="right")) - 1, len(seg) - 1)
        f = (x - cum[j]) / seg[j] if seg[j] > 0 else 0.0
        pos = images[k].positions.copy()
        pos[idx] = pts[j] + f * (pts[j + 1] - pts[j])
        images[k].set_positions(pos, apply_constraint=False)


def interpolate_band(
    initial: Any,
    final: Any,
    n_images: int,
    interpolation: str,
    via: Sequence[tuple[int, Sequence[float]]] = (),
    mic: bool = True,
) -> list[Any]:
    """The starting band: endpoints and ``n_images`` images in between (ase Atoms copies).

    Linear (through the minimum image with ``mic``), then along the ``via`` polyline
    when one is given, else refined by IDPP when asked (ASE's ``idpp_interpolate``;
    Smidstrup et al., J. Chem. Phys. 140, 214106 (2014)).
    """
    images = [initial.copy() for _ in range(n_images + 1)] + [final.copy()]
    d = final.positions - initial.positions
    if mic:
        d = _mic(d, initial.cell, initial.pbc)
    for j, im in enumerate(images):
        im.set_positions(initial.positions + d * j / (n_images + 1), apply_constraint=False)
    if via:
        along_polyline(images, via)
    elif interpolation == "idpp":
        from ase.mep.neb import NEB, idpp_interpolate

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            band = NEB(images)
            idpp_interpolate(band, traj=None, log=None, mic=True, steps=200)
    for im in images:
        im.calc = None
    return images


def _known_energy(structure: Any) -> float | None:
    """The energy an endpoint already carries (a single-point record), else None."""
    from ase.calculators.singlepoint import SinglePointCalculator

    calc = getattr(structure, "calc", None)
    if isinstance(calc, SinglePointCalculator) and "energy" in calc.results:
        return float(calc.results["energy"])
    return None


def neb_batch(
    hops: Sequence[NEBHop],
    evaluator: Any = None,
    n_images: int = 5,
    k: float = 0.1,
    climb: bool = True,
    fmax: float = 0.05,
    steps: int = 300,
    preconverge_fmax: float | None = None,
    interpolation: str = "linear",
    optimizer: str = "FIRE",
    progress: Callable[[int, int], None] | None = None,
) -> list[NEBResult]:
    """CI-NEB of many hops, one batched force call per iteration for all their images.

    Parameters
    ----------
    hops : sequence of NEBHop
        Endpoint pairs (may differ in size and composition).
    evaluator : BatchEvaluator, Potential, str or ase Calculator, optional
        The model (:func:`halidelab.engine.batch.as_evaluator`); default ``chgnet``.
    n_images : int
        Intermediate images per hop (a hop's own ``n_images`` overrides it).
    k : float
        Spring constant, eV/A^2 (ASE's default 0.1).
    climb : bool
        Climbing image in the second stage.
    fmax : float
        Convergence of the (climbing) band, eV/A.
    steps : int
        Optimiser steps per hop, both stages together.
    preconverge_fmax : float, optional
        Target of the plain-NEB stage; default max(3 fmax, 0.15) eV/A.
    interpolation : {"linear", "idpp"}
        Initial band (IDPP: ASE's ``idpp_interpolate``).
    optimizer : {"FIRE", "BFGS", "MDMin"}
    progress : callable(iteration, n_running_hops), optional

    Returns
    -------
    list of NEBResult
        One per hop, in order (descriptive fields at their defaults, ``label`` the hop's).
    """
    if not hops:
        raise SimulationError("give at least one hop")
    if n_images < 1 or steps < 1 or not (fmax > 0) or not (k > 0):
        raise SimulationError(
            f"need n_images >= 1, steps >= 1, fmax > 0 and k > 0 "
            f"(got {n_images}, {steps}, {fmax}, {k})"
        )
    if interpolation not in ("linear", "idpp"):
        raise SimulationError(f"interpolation must be 'linear' or 'idpp', got {interpolation!r}")
    opt_name = optimizer_name(optimizer)
    opt_cls = optimizer_class(optimizer)
    pre = preconverge_fmax if preconverge_fmax is not None else max(3 * fmax, 0.15)
    bands, fixed, nimg, known = [], [], [], []
    for h, hop in enumerate(hops):
        if not isinstance(hop, NEBHop):
            raise SimulationError(f"hops must be NEBHop objects, got {type(hop).__name__}")
        n_h = n_images if hop.n_images is None else int(hop.n_images)
        if n_h < 1:
            raise SimulationError(f"hop {h} ({hop.label}): need n_images >= 1, got {n_h}")
        a, b = to_atoms(hop.initial), to_atoms(hop.final)
        if len(a) != len(b) or (a.numbers != b.numbers).any():
            raise StructureError(
                f"hop {h} ({hop.label}): endpoints must hold the same atoms in the same order"
            )
        if np.abs(a.cell.array - b.cell.array).max() > 1e-6:
            raise StructureError(
                f"hop {h} ({hop.label}): endpoints must share one cell "
                "(relax the endpoints at fixed cell)"
            )
        mask = np.zeros(len(a), bool)
        for c in a.constraints:
            if type(c).__name__ == "FixAtoms":
                mask[c.index] = True
        bands.append(interpolate_band(a, b, n_h, interpolation, hop.via, hop.mic))
        fixed.append(mask)
        nimg.append(n_h)
        known.append((_known_energy(hop.initial), _known_energy(hop.final)))
    ev = as_evaluator(evaluator)
    calls0 = ev.n_calls
    nh = len(bands)
    energies = [np.zeros(nimg[h] + 2) for h in range(nh)]
    evals = [0] * nh
    forces: list[np.ndarray | None] = [None] * nh
    climbing = [False] * nh
    states = [opt_cls() for _ in range(nh)]
    nsteps, stage_steps = [0] * nh, [0] * nh
    converged = [False] * nh
    n_pre = max(1, steps // 3) if climb else steps
    t0 = time.perf_counter()

    # endpoints without a known energy: once, all together
    todo = [(h, end) for h in range(nh) for end in (0, 1) if known[h][end] is None]
    for (h, end), r in zip(
        todo,
        ev.evaluate([bands[h][0 if end == 0 else -1] for h, end in todo]) if todo else [],
        strict=True,
    ):
        known[h] = (r.energy_eV, known[h][1]) if end == 0 else (known[h][0], r.energy_eV)
        evals[h] += 1
    for h in range(nh):
        energies[h][0], energies[h][-1] = known[h]
    active = list(range(nh))
    iteration = 0
    while active:
        ims = [im for h in active for im in bands[h][1:-1]]
        res = ev.evaluate(ims)
        still = []
        offsets = np.concatenate([[0], np.cumsum([nimg[h] for h in active])])
        for q, h in enumerate(active):
            chunk = res[offsets[q] : offsets[q + 1]]
            evals[h] += nimg[h]
            energies[h][1:-1] = [r.energy_eV for r in chunk]
            f_true = np.array([r.forces_eV_A for r in chunk])
            f_true[:, fixed[h]] = 0.0
            pos = np.array([im.positions for im in bands[h]])
            f = neb_forces(
                pos, energies[h], f_true, bands[h][0].cell, bands[h][0].pbc, k, climbing[h]
            )
            f[:, fixed[h]] = 0.0
            forces[h] = f
            fm = _fmax(f)
            target = fmax if (climbing[h] or not climb) else pre
            if fm < target or stage_steps[h] >= (n_pre if not climbing[h] and climb else steps):
                if climb and not climbing[h] and nsteps[h] < steps:
                    # second stage: climbing image, fresh optimiser (as a new ASE optimiser)
                    climbing[h] = True
                    states[h] = opt_cls()
                    stage_steps[h] = nsteps[h]
                    f = neb_forces(
                        pos, energies[h], f_true, bands[h][0].cell, bands[h][0].pbc, k, True
                    )
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
            dr = states[h].step(pos[1:-1].reshape(-1, 3), f.reshape(-1, 3)).reshape(f.shape)
            dr[:, fixed[h]] = 0.0
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
        hop = hops[h]
        pos = np.array([im.positions for im in band])
        seg = np.sqrt((_mic(pos[1:] - pos[:-1], band[0].cell, band[0].pbc) ** 2).sum(axis=(1, 2)))
        moved = np.linalg.norm(pos[-1] - pos[0], axis=1)
        params = {
            "n_images": nimg[h],
            "fmax_eV_A": fmax,
            "steps": steps,
            "climb": climb,
            "preconverge_fmax_eV_A": pre,
            "k_eV_A2": k,
            "interpolation": interpolation,
            "optimizer": opt_name,
            "method": "improvedtangent",
            "via": [list(map(float, p)) for _, p in hop.via],
            "n_hops": nh,
            "model_calls": ev.n_calls - calls0,
        }
        out.append(
            NEBResult.from_band(
                energies[h] - energies[h][0],
                np.concatenate([[0.0], np.cumsum(seg)]),
                converged[h],
                _fmax(forces[h]) if forces[h] is not None else float("nan"),
                fmax,
                nsteps[h],
                evals[h],
                (),
                provenance("ci-neb" if climb else "neb", ev.info, params),
                label=hop.label or f"hop{h}",
                hop_length_A=float(moved.max()),
                wall_s=wall,
            )
        )
    return out
