"""Synthetic NEB and MD results with known barriers, for the report tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

#: Activation energy put into the synthetic MD runs, eV.
MD_EA_EV = 0.33


def _hop(label: str, direction: str, barrier: float, converged: bool) -> dict:
    rc = [0.0, 0.7, 1.4, 2.1, 2.8]
    e = [0.0, 0.6 * barrier, barrier, 0.6 * barrier, 0.0]
    return {
        "label": label,
        "label_initial": "Li1",
        "label_final": "Li2",
        "mechanism": "vacancy",
        "direction": direction,
        "reaction_coordinate_A": rc,
        "energies_eV": e,
        "barrier_forward_eV": barrier,
        "barrier_backward_eV": barrier,
        "delta_e_eV": 0.0,
        "converged": converged,
    }


@pytest.fixture(scope="session")
def md_ea_eV() -> float:
    """The activation energy of :func:`md_runs`' random walks, eV."""
    return MD_EA_EV


@pytest.fixture(scope="session")
def neb_study() -> dict:
    """A stored NEB study of two hops: along c 0.30 eV (converged), in-plane 0.45 eV (not)."""
    return {
        "formula": "Li3ZrNbCl12",
        "results": [_hop("Li1->Li2", "c", 0.30, True), _hop("Li2->i3->Li2", "ab", 0.45, False)],
        "skipped": [],
        "chains": [],
        "all_converged": False,
        "percolation": {"ea_1d_eV": 0.30, "ea_2d_eV": 0.45, "ea_3d_eV": 0.45},
        "provenance": {"method": "ci-neb", "model": "chgnet"},
    }


@pytest.fixture(scope="session")
def md_runs() -> Callable[[Sequence[float]], list[dict]]:
    """Stored ``md`` results of 3D random walks with D = D0 exp(-Ea / k_B T), Ea = MD_EA_EV."""
    from halidelab.constants import A2_PS_TO_CM2_S, K_B_EV_K
    from halidelab.transport.diffusion import analyse_positions

    def make(temps: Sequence[float] = (500.0, 600.0, 700.0, 800.0)) -> list[dict]:
        rng = np.random.default_rng(3)
        out = []
        for T in temps:
            d = 2e-3 * np.exp(-MD_EA_EV / (K_B_EV_K * T)) / A2_PS_TO_CM2_S  # A^2/ps
            steps = rng.normal(size=(399, 32, 3)) * np.sqrt(2 * d * 0.2)
            x = np.concatenate([rng.random((1, 32, 3)) * 10, steps]).cumsum(axis=0)
            diff = analyse_positions(
                x, np.diag([10.0, 10.0, 12.0]), np.arange(400) * 0.2, np.ones(32, bool), T
            )
            out.append({"md": {}, "diffusion": diff.to_dict()})
        return out

    return make
