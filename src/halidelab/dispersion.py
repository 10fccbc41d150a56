"""Grimme's D3 dispersion correction on top of a PBE-trained MLIP (the ``-d3`` models).

Why
---
Every potential of the registry learned PBE (MPtrj; SevenNet-MF-0 also r2SCAN), and PBE has
no dispersion: the weak bonds between the isolated MX4 tetrahedra of LiAlCl4 and LiGaBr4
are missing, and a relaxation swells their lattice (CHGNet relaxed to zero stress: +46 %
and +13 % in volume per atom against the measured CIFs, on an E(V) so flat that the
optimiser's path moves them by tens of per cent, where the reference set's other measured
structures come out +1.7 to +5.2 %, Li3ErI6 +12.7 %), and with it the barriers and
conductivities computed in that lattice.
The standard repair in DFT is the same one used here: add the D3 dispersion energy of the
functional the model was trained on (PBE-D3(BJ), VASP's ``IVDW = 12``; also MACE-MP-0's
"+D3" recipe). A model name with ``-d3`` (``chgnet-d3``, ``sevennet-l3i5-d3``) is that
model plus this term in every method: relaxations, NEB, MD, BVSE on the relaxed cell.

What
----
D3 with Becke-Johnson (rational) damping, two-body terms only (``s9 = 0``, as VASP's
``IVDW = 12`` and the original D3(BJ) fit), with the damping parameters of the training
functional: PBE (Grimme, Ehrlich, Goerigk, J. Comput. Chem. 32, 1456 (2011)) for every
model, r2SCAN (Ehlert et al., J. Chem. Phys. 154, 061101 (2021)) for SevenNet-MF-0's
R2SCAN head. The energies, forces and stress are computed by the reference
implementation, ``s-dftd3`` (package ``dftd3`` on PyPI, LGPL-3.0; real-space cut-offs at
its defaults: 60 bohr for pairs, 40 bohr for coordination numbers), through its ASE
calculator; nothing is re-implemented here. It runs on the CPU whatever device the model
uses: on one core of the 2-core development machine 0.020-0.117 s for the reference set's
60- to 240-atom cells, 15-18 % of a CHGNet call on the same core
(``benchmarks/bench_dispersion.py``; on a GPU, where the model call is faster, measure it).

PyPI has ``dftd3`` wheels for Linux only; elsewhere the ``-d3`` models say so in one line
(conda-forge's ``dftd3-python`` provides the same module on macOS and Windows).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from halidelab.errors import ModelError

#: Suffix of a registry name that adds the D3(BJ) correction (``chgnet-d3``).
SUFFIX = "-d3"


@dataclasses.dataclass(frozen=True)
class D3Parameters:
    """Becke-Johnson damping parameters of D3 for one functional.

    Attributes
    ----------
    functional : str
        The functional the parameters were fitted for (the model's training data).
    s6, s8 : float
        Scaling of the C6 and C8 terms (dimensionless).
    a1 : float
        Scaling of the critical radius (dimensionless).
    a2 : float
        Offset of the critical radius, bohr.
    s9 : float
        Three-body (Axilrod-Teller-Muto) scaling; 0: two-body only.
    reference : str
        Where the parameters were published.
    """

    functional: str
    s6: float
    s8: float
    a1: float
    a2: float
    s9: float
    reference: str

    def tweaks(self) -> dict[str, float]:
        """The parameters as ``dftd3``'s ``params_tweaks``."""
        return {"s6": self.s6, "s8": self.s8, "a1": self.a1, "a2": self.a2, "s9": self.s9}

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON description for provenance (method, functional, parameters, package)."""
        out: dict[str, Any] = {"method": "D3(BJ)", **dataclasses.asdict(self)}
        out["package"] = f"dftd3 {package_version()}"
        return out


#: D3(BJ) parameters by training functional (``tests/transport/test_dispersion.py``
#: checks them against the ones ``dftd3`` itself stores under these names).
PARAMETERS: dict[str, D3Parameters] = {
    "PBE": D3Parameters(
        "PBE",
        s6=1.0,
        s8=0.7875,
        a1=0.4289,
        a2=4.4407,
        s9=0.0,
        reference="Grimme, Ehrlich, Goerigk, J. Comput. Chem. 32, 1456 (2011)",
    ),
    "R2SCAN": D3Parameters(
        "r2SCAN",
        s6=1.0,
        s8=0.78981345,
        a1=0.49484001,
        a2=5.73083694,
        s9=0.0,
        reference="Ehlert, Huniar, Ye, Grimme, J. Chem. Phys. 154, 061101 (2021)",
    ),
}


def parameters_for(modal: str | None) -> D3Parameters:
    """D3(BJ) parameters for a model's training functional (``modal`` of multi-fidelity
    models; every other model learned PBE)."""
    return PARAMETERS["R2SCAN" if (modal or "").upper() == "R2SCAN" else "PBE"]


def split_name(name: str) -> tuple[str, bool]:
    """``("chgnet", True)`` for ``"chgnet-d3"`` (also ``"chgnet+d3"``); the name and False
    otherwise. The name is lower-cased and stripped."""
    key = name.strip().lower()
    for suffix in (SUFFIX, "+d3"):
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)], True
    return key, False


def package_version() -> str:
    """Version of the installed ``dftd3`` package.

    Raises
    ------
    ModelError
        ``dftd3`` is not installed (the message says how to get it).
    """
    try:
        from importlib.metadata import version

        import dftd3.ase  # noqa: F401

        return version("dftd3")
    except Exception:  # ImportError, or a broken shared library
        raise ModelError(
            "the -d3 models need the dftd3 package (s-dftd3): pip install dftd3 on Linux, "
            "conda install -c conda-forge dftd3-python elsewhere; or drop the -d3 suffix"
        ) from None


def calculator(params: D3Parameters) -> Any:
    """The ``dftd3`` ASE calculator of these parameters (energies eV, forces eV/A, stress
    eV/A^3 in ASE's convention)."""
    package_version()
    from dftd3.ase import DFTD3

    return DFTD3(damping="d3bj", params_tweaks=params.tweaks())


def terms(atoms: Any, params: D3Parameters) -> tuple[float, np.ndarray, np.ndarray]:
    """D3(BJ) energy (eV), forces (eV/A, n x 3) and stress (eV/A^3, Voigt, ASE sign) of one
    structure (ase ``Atoms``; numbers, positions, cell and pbc are read)."""
    b = atoms.copy()
    b.constraints = []
    b.calc = calculator(params)
    try:
        energy = float(b.get_potential_energy())
        forces = np.asarray(b.get_forces(), dtype=float)
        stress = np.asarray(b.get_stress(), dtype=float) if all(b.pbc) else np.zeros(6, dtype=float)
    except Exception as exc:  # dftd3 refuses unknown elements or overlapping atoms
        raise ModelError(f"D3 dispersion failed for {b.get_chemical_formula()}: {exc}") from None
    return energy, forces, stress
