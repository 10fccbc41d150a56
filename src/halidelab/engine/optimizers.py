"""Optimisers, step for step the algorithms of ASE's ``FIRE``, ``BFGS`` and ``MDMin``.

One state object per system (a structure, a cell filter or a whole NEB band), one
:meth:`step` per iteration: it takes the positions and the forces of that system and
returns the displacement to apply. We keep our own copies, not ASE's classes, because
an ASE optimiser asks its target for forces inside ``step()``; here the forces of every
system come from one batched model call and are handed in. Same updates, defaults and
step limits as ASE 3.29 (the engine's tests run ASE's optimisers as the oracle), so a
batched relaxation or NEB follows the path of the ASE one.

- FIRE: Bitzek et al., Phys. Rev. Lett. 97, 170201 (2006), with ASE's details
  (velocity reset on uphill steps, mixing only after the first step, the step length
  capped at ``maxstep``).
- BFGS: quasi-Newton with ASE's initial Hessian 70 eV/A^2 x identity, the BFGS update
  and steps along |eigenvalues|, scaled so that no atom moves more than ``maxstep``.
- MDMin: velocity-projected MD (ASE's ``MDMin``, dt = 0.2).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from halidelab.errors import SimulationError


@dataclasses.dataclass
class FireState:
    """FIRE state of one system (ASE's defaults)."""

    dt: float = 0.1
    maxstep: float = 0.2
    dtmax: float = 1.0
    nmin: int = 5
    finc: float = 1.1
    fdec: float = 0.5
    astart: float = 0.1
    fa: float = 0.99
    a: float = 0.1
    nsteps_downhill: int = 0
    v: np.ndarray | None = None

    def step(self, positions: np.ndarray, forces: np.ndarray) -> np.ndarray:
        """Velocity update from ``forces``; returns the displacement ``dr`` to apply."""
        f = np.asarray(forces, float)
        if self.v is None:
            self.v = np.zeros_like(f)
        else:
            vf = float(np.vdot(f, self.v))
            if vf > 0.0:
                fnorm = float(np.sqrt(np.vdot(f, f)))
                self.v = (1.0 - self.a) * self.v + self.a * f / fnorm * float(
                    np.sqrt(np.vdot(self.v, self.v))
                )
                if self.nsteps_downhill > self.nmin:
                    self.dt = min(self.dt * self.finc, self.dtmax)
                    self.a *= self.fa
                self.nsteps_downhill += 1
            else:
                self.v = np.zeros_like(f)
                self.a = self.astart
                self.dt *= self.fdec
                self.nsteps_downhill = 0
        self.v = self.v + self.dt * f
        dr = self.dt * self.v
        normdr = float(np.sqrt(np.vdot(dr, dr)))
        if normdr > self.maxstep:
            dr = self.maxstep * dr / normdr
        return dr


@dataclasses.dataclass
class BFGSState:
    """BFGS state of one system (ASE's ``BFGS``: alpha 70 eV/A^2, maxstep 0.2 A)."""

    alpha: float = 70.0
    maxstep: float = 0.2
    hessian: np.ndarray | None = None
    pos0: np.ndarray | None = None
    forces0: np.ndarray | None = None

    def step(self, positions: np.ndarray, forces: np.ndarray) -> np.ndarray:
        """Quasi-Newton step from ``forces`` at ``positions`` (arrays (n, 3))."""
        pos = np.asarray(positions, float).ravel()
        f = np.asarray(forces, float).ravel()
        if self.hessian is None:
            self.hessian = np.eye(len(f)) * self.alpha
        else:
            dpos = pos - self.pos0
            if np.abs(dpos).max() >= 1e-7:  # ASE skips the update on an unchanged configuration
                dg = -(f - self.forces0)  # gradient change
                a = dpos @ dg
                hd = self.hessian @ dpos
                b = dpos @ hd
                self.hessian = self.hessian + np.outer(dg, dg) / a - np.outer(hd, hd) / b
        self.pos0, self.forces0 = pos, f.copy()
        omega, vectors = np.linalg.eigh(self.hessian)
        dr = (vectors @ ((f @ vectors) / np.fabs(omega))).reshape(-1, 3)
        longest = float(np.linalg.norm(dr, axis=1).max())
        if longest >= self.maxstep:
            dr *= self.maxstep / longest
        return dr


@dataclasses.dataclass
class MDMinState:
    """MDMin state of one system (ASE's ``MDMin``: dt 0.2, maxstep 0.2 A)."""

    dt: float = 0.2
    maxstep: float = 0.2
    v: np.ndarray | None = None

    def step(self, positions: np.ndarray, forces: np.ndarray) -> np.ndarray:
        """Projected-velocity step from ``forces``; returns the displacement."""
        f = np.asarray(forces, float).ravel()
        if self.v is None:
            self.v = np.zeros_like(f)
        else:
            self.v = self.v + 0.5 * self.dt * f
            vf = float(np.vdot(self.v, f))
            self.v = np.zeros_like(f) if vf < 0.0 else f * vf / float(np.vdot(f, f))
        self.v = self.v + 0.5 * self.dt * f
        dr = (self.dt * self.v).reshape(-1, 3)
        longest = float(np.linalg.norm(dr, axis=1).max())
        return dr * float(np.clip(self.maxstep / (1e-6 + longest), 0.0, 1.0))


OPTIMIZERS = {"FIRE": FireState, "BFGS": BFGSState, "MDMIN": MDMinState}


def optimizer_class(name: str) -> type:
    """The state class of an optimiser name (``FIRE``, ``BFGS``, ``MDMin``; any case).

    Raises
    ------
    SimulationError
        Unknown name.
    """
    cls = OPTIMIZERS.get(str(name).upper())
    if cls is None:
        raise SimulationError(f"unknown optimizer {name!r}; use FIRE, BFGS or MDMin")
    return cls


def optimizer_name(name: str) -> str:
    """ASE's spelling of an optimiser name.

    ``"fire"`` -> ``"FIRE"``, ``"mdmin"`` -> ``"MDMin"``.
    """
    optimizer_class(name)
    return {"FIRE": "FIRE", "BFGS": "BFGS", "MDMIN": "MDMin"}[str(name).upper()]
