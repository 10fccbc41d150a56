"""Vineyard prefactor of one Li hop with an MLIP: frozen host against a host that moves.

Run by hand (CPU, a few minutes)::

    python benchmarks/bench_vineyard_mlip.py [model]     # default chgnet

The BVSE harmonic prefactors of ``network_from_bvse(prefactors="harmonic")`` are those of
one Li in a frozen host: 1.2-4.3 THz on the reference set, below the KMC's 1e13 Hz, because
the Li is squeezed through a window of anions that cannot move. This asks the MLIP how
much a moving host changes that. On a Li2ZrCl6 model (``build_models``, lowest-Ewald
ordering, its cell as built; both endpoints relaxed in it with the MLIP) it takes a Li
next to an empty Li site through the octahedral face they share (a vacancy hop of the hcp
chain along c), runs a
climbing-image NEB (ASE's ``NEB``, 5 images, FIRE to 0.05 eV/A), and computes the
harmonic modes of the initial state and of the saddle image with ASE's ``Vibrations``
(central differences, 0.01 A) for growing sets of atoms: the Li alone (the frozen host of
the BVSE prefactors), then the Li and every atom within 3, 4, 5 and 6 A of its saddle
position, then every atom of the cell (its three translations left out). Vineyard's
nu* = prod(nu_min, 3k modes) / prod(nu_saddle, 3k - 1 stable modes); the partial Hessians
converge to the full one as the shell grows. A set whose saddle has more than one
negative mode (a band converged to 0.05 eV/A is not a saddle to the last soft mode) gives
no value.
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings

import numpy as np

warnings.simplefilter("ignore")

from ase.mep import NEB  # noqa: E402
from ase.optimize import BFGS, FIRE  # noqa: E402
from ase.vibrations import Vibrations  # noqa: E402
from pymatgen.io.ase import AseAtomsAdaptor  # noqa: E402

from halidelab.composition import design_composition  # noqa: E402
from halidelab.potentials import Potential  # noqa: E402
from halidelab.structures.models import build_models  # noqa: E402
from halidelab.transport.sites import site_network  # noqa: E402

#: cm^-1 -> Hz
CM_TO_HZ = 2.99792458e10


def frequencies_Hz(atoms, indices, calc, workdir: str, name: str) -> np.ndarray:
    """Harmonic frequencies (Hz; an imaginary one negative) of ``indices``, the others fixed."""
    a = atoms.copy()
    a.calc = calc
    vib = Vibrations(a, indices=list(indices), delta=0.01, name=f"{workdir}/{name}")
    vib.run()
    f = vib.get_frequencies()  # cm^-1, complex for imaginary modes
    vib.clean()
    out = np.where(np.abs(f.imag) > np.abs(f.real), -np.abs(f.imag), np.abs(f.real))
    return np.sort(out * CM_TO_HZ)


def vineyard(f_min: np.ndarray, f_sad: np.ndarray) -> tuple[float, int, int]:
    """nu* (Hz), and the numbers of negative frequencies at the minimum and the saddle."""
    neg_min, neg_sad = int((f_min < 0).sum()), int((f_sad < 0).sum())
    stable = np.sort(f_sad)[1:]  # the reaction coordinate (the most negative) left out
    return (
        float(np.exp(np.log(np.abs(f_min)).sum() - np.log(np.abs(stable)).sum())),
        neg_min,
        neg_sad,
    )


def main(model: str = "chgnet") -> None:
    t0 = time.perf_counter()
    calc = Potential.of(model, device="cpu").calculator()
    s = build_models(design_composition("Li2ZrCl6"), n_configs=1, sweeps=40).structures[0]
    net = site_network(s)
    occupied = {i for i, st in enumerate(net.sites) if st.occupant is not None}
    hop = next(
        h
        for h in net.hops
        if h.window == "face"
        and net.sites[h.site_a].kind == net.sites[h.site_b].kind == "oct"
        and net.sites[h.site_a].role == net.sites[h.site_b].role == "li"
        and (h.site_a in occupied) != (h.site_b in occupied)
    )
    src, dst = (hop.site_a, hop.site_b) if hop.site_a in occupied else (hop.site_b, hop.site_a)
    img = np.asarray(hop.image) * (1 if src == hop.site_a else -1)
    atoms = AseAtomsAdaptor.get_atoms(s)
    frac = net.frac_matrix()
    li = int(net.sites[src].occupant)
    cell = atoms.cell.array
    initial = atoms.copy()
    initial.positions[li] = frac[src] @ cell
    final = initial.copy()
    final.positions[li] = (frac[dst] + img) @ cell
    for end in (initial, final):
        end.calc = calc
        BFGS(end, logfile=None).run(fmax=0.03, steps=300)
    images = [initial] + [initial.copy() for _ in range(5)] + [final]
    for im in images[1:-1]:
        im.calc = calc
    band = NEB(images, climb=True, k=0.1, allow_shared_calculator=True)
    band.interpolate(method="idpp", mic=False)
    FIRE(band, logfile=None).run(fmax=0.05, steps=400)
    e = np.array([im.get_potential_energy() for im in images])
    k_top = int(np.argmax(e))
    saddle = images[k_top]
    print(
        f"{model}: Li2ZrCl6 model ({len(atoms)} atoms), Li {li} from {net.sites[src].label} to "
        f"{net.sites[dst].label} through their shared face: barrier {e[k_top] - e[0]:.3f} eV "
        f"(image {k_top} of {len(images) - 1}), NEB {time.perf_counter() - t0:.0f} s"
    )
    d = saddle.get_distances(li, list(range(len(saddle))), mic=True)
    with tempfile.TemporaryDirectory() as work:
        for radius in (0.0, 3.0, 4.0, 5.0, 6.0, np.inf):
            idx = [li] if radius == 0 else [int(i) for i in np.flatnonzero(d <= radius)]
            t = time.perf_counter()
            f_min = frequencies_Hz(initial, idx, calc, work, f"min{radius}")
            f_sad = frequencies_Hz(saddle, idx, calc, work, f"sad{radius}")
            if len(idx) == len(atoms):  # every atom: the three translations are not modes
                f_min = np.sort(f_min[np.argsort(np.abs(f_min))[3:]])
                f_sad = np.sort(f_sad[np.argsort(np.abs(f_sad))[3:]])
            nu, n_min, n_sad = vineyard(f_min, f_sad)
            what = (
                "the Li alone (frozen host)"
                if radius == 0
                else "every atom (translations out)"
                if np.isinf(radius)
                else f"within {radius:.1f} A"
            )
            value = (
                f"nu* {nu / 1e12:6.2f} THz"
                if (n_min, n_sad) == (0, 1)
                else "no Vineyard value (not a minimum and a first-order saddle)"
            )
            print(
                f"  {what:28s} {len(idx):3d} atoms: {value}; negative modes "
                f"{n_min} at the minimum, {n_sad} at the saddle; Li modes at the minimum "
                f"{', '.join(f'{x / 1e12:.1f}' for x in f_min[:3]) if radius == 0 else '-'} THz "
                f"({time.perf_counter() - t:.0f} s)"
            )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "chgnet")
