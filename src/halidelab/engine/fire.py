"""FIRE, step for step the algorithm of ASE's ``ase.optimize.FIRE``, one state per system.

Bitzek et al., Phys. Rev. Lett. 97, 170201 (2006), with ASE's defaults and details
(velocity reset to zero on uphill steps, mixing only after the first step, the step
length capped at ``maxstep``). We keep our own copy, not ASE's class, because ASE's
optimiser asks its target for forces inside ``step()``; here the forces of every system
come from one batched model call and are handed in. Same update, so a batched
relaxation follows the path of the ASE one (``tests/engine/test_batch_relax.py``).
"""

from __future__ import annotations

import dataclasses

import numpy as np


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

    def step(self, forces: np.ndarray) -> np.ndarray:
        """Velocity update from ``forces``; returns the displacement ``dr`` to apply."""
        f = np.asarray(forces, float)
        if self.v is None:
            self.v = np.zeros_like(f)
        else:
            vf = float(np.vdot(f, self.v))
            if vf > 0.0:
                fnorm = float(np.sqrt(np.vdot(f, f)))
                self.v = (1.0 - self.a) * self.v + self.a * f / fnorm * float(np.sqrt(np.vdot(self.v, self.v)))
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
