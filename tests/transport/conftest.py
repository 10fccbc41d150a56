"""Fixtures of the transport tests."""

from __future__ import annotations

import pytest


def _orbit_study(structure):
    """A synthetic NEB study on the real site network of a Li2ZrCl6 model: known orbit
    energies and saddles per hop class, written the way neb_study stores results."""
    from halidelab.transport.sites import site_network

    net = site_network(structure)
    e = {"Li1": 0.0, "Li2": 0.04, "i1": 0.30, "i2": 0.35, "i3": 0.25}
    results = []
    for h in net.distinct_hops("parent"):
        la, lb = net.sites[h.site_a].label, net.sites[h.site_b].label
        saddle = max(e.get(la, 0.0), e.get(lb, 0.0)) + 0.2 + 0.01 * h.parent_class
        results.append(
            {
                "label": f"{la}->{lb}",
                "label_initial": la,
                "label_final": lb,
                "mechanism": "vacancy",
                "parent_class": h.parent_class,
                "env_class": h.env_class,
                "hop_classes": [h.parent_class],
                "hop_env_classes": [h.env_class],
                "delta_e_eV": e.get(lb, 0.0) - e.get(la, 0.0),
                "energies_eV": [0.0, 0.1, 0.0],
                "barrier_forward_eV": saddle - e.get(la, 0.0),
                "barrier_backward_eV": saddle - e.get(lb, 0.0),
                "converged": True,
                "endpoints_ok": True,
                "via": [],
                "provenance": {},
            }
        )
    return {
        "formula": "Li2ZrCl6",
        "hops_mode": "distinct",
        "results": results,
        "network": net.to_dict(),
    }, e


@pytest.fixture(scope="session")
def orbit_study():
    """``orbit_study(structure) -> (study dict, orbit energies)``: a synthetic NEB study on
    the real site network of a cell, with known orbit energies and saddles per class."""
    return _orbit_study
