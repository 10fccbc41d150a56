"""Batched energy, forces and stress over many structures, one interface for every MLIP.

Why not torch-sim (the decision issue 9 asks for, written down here)
--------------------------------------------------------------------
torch-sim would give a batched state and runners, but on Python 3.11 pip offers
``torch-sim-atomistic`` only up to 0.3.0, whose SevenNet wrapper imports
``sevenn.calculator.torch_script_type`` (gone in sevenn 0.13: NameError at the first
call), while sevenn 0.13's own ``sevenn.torchsim`` wrapper needs torch-sim >= 0.4, i.e.
Python 3.12. Pinning 0.3.0 would mean adapters for both of our models on an old
interface, and a different code path on the 3.12 GPU machine. Neither package is
needed for the expensive part, the batched model call, because both models batch
natively:

- SevenNet: per-structure ``AtomGraphData`` graphs (sevenn's own neighbour list,
  ``sevenn.train.dataload.unlabeled_atoms_to_graph``) collated with torch_geometric's
  ``Collater`` into one disjoint graph, and the model switched to batch mode
  (``set_is_batch_data(True)``). This is exactly what ``sevenn.torchsim.SevenNetModel``
  does inside, minus torch-sim. cuEquivariance kernels (``enable_cueq``) come from
  ``checkpoint.build_model(enable_cueq=True)``.
- CHGNet: ``CHGNet.graph_converter`` per structure and one ``CHGNet.predict_graph``
  over the list (CHGNet's ``BatchedGraph``).

So the engine is plain torch + the two model packages, the same code on Python 3.11
and 3.12, CPU and GPU. What we had to write ourselves: a neighbour list on the device
(:func:`torch_neighbor_list`, default on CUDA for SevenNet; checked edge for edge
against ASE's ``primitive_neighbor_list`` in ``tests/engine/test_batch.py``), because
sevenn's graph builder runs per structure on the CPU and would starve a GPU; and the
integrators (:mod:`halidelab.engine.md`, :mod:`.relax`, :mod:`.neb`) on top of
:meth:`BatchEvaluator.evaluate`. CHGNet's graphs are still built on the CPU (its own
converter), which caps its GPU speed-up.

Units: energies eV, forces eV/A, stress eV/A^3 in ASE's Voigt order
(xx, yy, zz, yz, xz, xy) and sign (positive = tensile), the same numbers the ASE
calculators of :mod:`halidelab.potentials` give for one structure.

Measure before trusting batching: on a GPU it is the whole point; on a CPU a batch is
not faster than a loop (SevenNet-0, 17 Li2ZrCl6 cells of 27 atoms on one thread of this
2-core machine: 9.3 s as one call, 6.7 s one structure per call; CHGNet within 7 %
either way; ``benchmarks/bench_engine.py``), so on a CPU an evaluator calls the model
one structure at a time unless ``max_structures`` or ``max_atoms`` says otherwise
(:func:`get_evaluator`). The engine's loops are the same either way.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import importlib.util
import io
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from halidelab.errors import ModelError, StructureError
from halidelab.potentials import Potential

#: Atoms per model call on a CPU when batching is asked for there (``max_structures``).
CPU_ATOM_BUDGET = 2048

#: Rough GPU memory per atom of one forward+backward pass, bytes, for halide cells at
#: about 0.05 atoms/A^3 (about 45 edges per atom at 5 A). An estimate, not a measurement
#: on our cells: a GPU session should check it (``benchmarks/bench_engine.py``
#: prints the peak memory per atom) and the user can always pass ``max_atoms``.
GPU_BYTES_PER_ATOM = {"sevenn": 600_000, "chgnet": 1_500_000}


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Energy, forces and stress of one structure.

    Attributes
    ----------
    energy_eV : float
        Total potential energy, eV.
    forces_eV_A : ndarray (n_atoms, 3)
        eV/A.
    stress_eV_A3 : ndarray (6,)
        Voigt (xx, yy, zz, yz, xz, xy), eV/A^3, ASE sign convention.
    """

    energy_eV: float
    forces_eV_A: np.ndarray
    stress_eV_A3: np.ndarray


def pack_batches(
    n_atoms: Sequence[int], max_atoms: int, max_structures: int | None = None
) -> list[list[int]]:
    """Split structures into consecutive batches of at most ``max_atoms`` atoms.

    Order is kept (so results line up with the input); a structure larger than the
    budget gets a batch of its own.

    Parameters
    ----------
    n_atoms : sequence of int
        Atoms in each structure.
    max_atoms : int
        Atom budget per model call.
    max_structures : int, optional
        Also cap the number of structures per batch.

    Returns
    -------
    list of list of int
        Indices into ``n_atoms``.
    """
    if max_atoms < 1:
        raise ModelError(f"max_atoms must be >= 1, got {max_atoms}")
    batches: list[list[int]] = []
    cur: list[int] = []
    total = 0
    for i, n in enumerate(n_atoms):
        full = max_structures is not None and len(cur) >= max_structures
        if cur and (total + n > max_atoms or full):
            batches.append(cur)
            cur, total = [], 0
        cur.append(i)
        total += int(n)
    if cur:
        batches.append(cur)
    return batches


def cueq_available() -> bool:
    """True when the cuEquivariance torch packages (the ``gpu`` extra) are importable."""
    return importlib.util.find_spec("cuequivariance_torch") is not None


def atom_budget(family: str, device: str, fraction: float = 0.5) -> int:
    """Atoms per model call that fit the device.

    On a CPU :data:`CPU_ATOM_BUDGET`; on CUDA ``fraction`` of the free memory divided by
    :data:`GPU_BYTES_PER_ATOM` (an estimate; pass ``max_atoms`` to override).
    """
    if not str(device).startswith("cuda"):
        return CPU_ATOM_BUDGET
    import torch

    free, _total = torch.cuda.mem_get_info(torch.device(device))
    return max(64, int(fraction * free / GPU_BYTES_PER_ATOM.get(family, 1_500_000)))


def _check_atoms(atoms_list: Sequence[Any]) -> list[Any]:
    from ase import Atoms

    out = list(atoms_list)
    for k, a in enumerate(out):
        if not isinstance(a, Atoms):
            raise StructureError(
                f"structure {k} is a {type(a).__name__}; the engine takes ase Atoms "
                "(convert with halidelab.atoms.to_atoms)"
            )
        if len(a) == 0:
            raise StructureError(f"structure {k} has no atoms")
        if not a.pbc.all() or abs(a.cell.volume) < 1.0:
            raise StructureError(
                f"structure {k} needs a periodic 3D cell (pbc on all axes, nonzero volume)"
            )
    return out


def torch_neighbor_list(
    positions: Any, cells: Any, cutoff: float, max_pairs: int = 20_000_000
) -> list[tuple[Any, Any, Any]]:
    """Periodic neighbour lists of several systems on the tensors' device (GPU-friendly).

    All pairs (i, j, S) with |r_j + S.cell - r_i| < cutoff, S an integer cell shift,
    the self pair at S = 0 excluded: the edges ASE's ``primitive_neighbor_list`` gives
    (sevenn's CPU graph builder), in another order. Positions need not be wrapped into
    the cell (MD keeps them unwrapped): they are wrapped for the search and the shifts
    corrected so that r_j + S.cell - r_i is the true vector for the positions given.
    Systems of one size and one shift range are searched together as dense
    (systems x shifts x atoms x atoms) blocks of at most ``max_pairs`` pairs.

    Parameters
    ----------
    positions : list of tensor (n_k, 3)
        Cartesian positions, A.
    cells : list of tensor (3, 3)
        Rows are the lattice vectors, A.
    cutoff : float
        A.

    Returns
    -------
    list of (src, dst, shift)
        Per system: int64 tensors (E,), (E,) and float shifts (E, 3) in lattice units.
    """
    import math

    import torch

    out: list[Any] = [None] * len(positions)
    groups: dict[tuple[int, ...], list[int]] = {}
    ranges = []
    for k, (pos, cell) in enumerate(zip(positions, cells, strict=True)):
        inv = torch.linalg.inv(cell.double())
        heights = 1.0 / torch.linalg.norm(inv, dim=0)  # plane spacings, A
        n = [int(math.ceil(cutoff / float(h))) for h in heights]
        ranges.append(n)
        groups.setdefault((pos.shape[0], *n), []).append(k)
    for key, members in groups.items():
        natom, n = key[0], key[1:]
        dev = positions[members[0]].device
        axes = [torch.arange(-m, m + 1, device=dev, dtype=torch.float64) for m in n]
        shifts = torch.cartesian_prod(*axes)  # (S, 3)
        zero = int(((shifts == 0).all(dim=1)).nonzero()[0, 0])
        n_s = shifts.shape[0]
        chunk = max(1, max_pairs // max(1, n_s * natom * natom))
        for c0 in range(0, len(members), chunk):
            mem = members[c0 : c0 + chunk]
            pos = torch.stack([positions[k].double() for k in mem])  # (B, N, 3)
            cell = torch.stack([cells[k].double() for k in mem])  # (B, 3, 3)
            frac = torch.linalg.solve(cell.transpose(1, 2), pos.transpose(1, 2)).transpose(1, 2)
            wrap = torch.floor(frac)  # r = r_wrapped + wrap.cell
            pw = pos - torch.einsum("bni,bij->bnj", wrap, cell)
            sv = torch.einsum("si,bij->bsj", shifts, cell)  # (B, S, 3)
            d = pw[:, None, None, :, :] - pw[:, None, :, None, :] + sv[:, :, None, None, :]
            hit = (d * d).sum(-1) < cutoff * cutoff  # (B, S, N_src, N_dst)
            eye = torch.eye(natom, dtype=torch.bool, device=dev)
            hit[:, zero] &= ~eye
            b, s, i, j = hit.nonzero(as_tuple=True)
            true_shift = shifts[s] + wrap[b, i] - wrap[b, j]
            for q, k in enumerate(mem):
                sel = b == q
                out[k] = (i[sel], j[sel], true_shift[sel])
    return out


class BatchEvaluator(abc.ABC):
    """Energy, forces and stress of many structures per model call.

    Subclasses implement :meth:`_evaluate_batch` for one packed batch;
    :meth:`evaluate` packs by the atom budget and returns one :class:`Evaluation` per
    structure, in input order.

    Attributes
    ----------
    info : dict
        Model name, version, checkpoint, device, ``enable_cueq``, atoms and structures
        per call: goes into every result's provenance.
    n_calls : int
        Model calls made (batches), for benchmarks.
    """

    family = "generic"

    def __init__(
        self, info: dict[str, Any], max_atoms: int, max_structures: int | None = None
    ) -> None:
        self.info = dict(info)
        self.max_atoms = int(max_atoms)
        self.max_structures = None if max_structures is None else int(max_structures)
        self.info["max_atoms_per_call"] = self.max_atoms
        self.info["max_structures_per_call"] = self.max_structures
        self.n_calls = 0

    def evaluate(self, atoms_list: Sequence[Any]) -> list[Evaluation]:
        """Evaluate every structure (ase ``Atoms``; only numbers, positions, cell are read).

        Returns
        -------
        list of Evaluation
            Same order as the input.
        """
        atoms_list = _check_atoms(atoms_list)
        out: list[Evaluation | None] = [None] * len(atoms_list)
        for batch in pack_batches(
            [len(a) for a in atoms_list], self.max_atoms, self.max_structures
        ):
            res = self._evaluate_batch([atoms_list[i] for i in batch])
            self.n_calls += 1
            for i, r in zip(batch, res, strict=True):
                out[i] = r
        return out  # type: ignore[return-value]

    @abc.abstractmethod
    def _evaluate_batch(self, atoms_list: list[Any]) -> list[Evaluation]:
        """Energies, forces and stresses of one packed batch (each subclass's model call)."""


class SevenNetBatch(BatchEvaluator):
    """SevenNet models on sevenn's own graph batching (torch_geometric ``Collater``).

    A private model instance is built from the checkpoint (the ASE calculators of
    :mod:`halidelab.potentials` share another one in non-batch mode).
    """

    family = "sevenn"

    def __init__(
        self,
        model: Any,
        info: dict[str, Any],
        device: str,
        max_atoms: int,
        modal: str | None,
        neighbor_list: str = "auto",
        max_structures: int | None = None,
    ) -> None:
        super().__init__(info, max_atoms, max_structures)
        self.model = model
        self.device = device
        self.modal = modal
        self.cutoff = float(model.cutoff)
        self.type_map = model.type_map
        if neighbor_list == "auto":
            neighbor_list = "torch" if str(device).startswith("cuda") else "ase"
        if neighbor_list not in ("ase", "torch"):
            raise ModelError(
                f"neighbor_list must be 'auto', 'ase' or 'torch', got {neighbor_list!r}"
            )
        self.neighbor_list = neighbor_list
        self.info["neighbor_list"] = neighbor_list

    def _graphs_torch(self, atoms_list: list[Any]) -> list[Any]:
        import sevenn._keys as KEY
        import torch
        from sevenn.atom_graph_data import AtomGraphData

        dev = torch.device(self.device)
        pos = [torch.as_tensor(a.positions, dtype=torch.float64, device=dev) for a in atoms_list]
        cells = [torch.as_tensor(a.cell.array, dtype=torch.float64, device=dev) for a in atoms_list]
        graphs = []
        for a, p, c, (src, dst, shift) in zip(
            atoms_list, pos, cells, torch_neighbor_list(pos, cells, self.cutoff), strict=True
        ):
            z = torch.as_tensor(a.numbers, dtype=torch.int64, device=dev)
            p32, c32, s32 = p.float(), c.float(), shift.float()
            data = {
                KEY.NODE_FEATURE: z,
                KEY.ATOMIC_NUMBERS: z,
                KEY.POS: p32,
                KEY.EDGE_IDX: torch.stack([src, dst]),
                KEY.EDGE_VEC: p32[dst] - p32[src] + s32 @ c32,
                KEY.CELL: c32,
                KEY.CELL_SHIFT: s32,
                KEY.CELL_VOLUME: torch.abs(torch.det(c)).float(),
                KEY.NUM_ATOMS: torch.tensor(len(a), device=dev),
            }
            if self.modal:
                data[KEY.DATA_MODALITY] = self.modal
            data[KEY.INFO] = {}
            graphs.append(AtomGraphData(**data))
        return graphs

    def _evaluate_batch(self, atoms_list: list[Any]) -> list[Evaluation]:
        import sevenn._keys as KEY
        from sevenn.atom_graph_data import AtomGraphData
        from sevenn.train.dataload import unlabeled_atoms_to_graph
        from torch_geometric.loader.dataloader import Collater

        for k, a in enumerate(atoms_list):
            unknown = set(a.numbers.tolist()) - set(self.type_map)
            if unknown:
                raise ModelError(
                    f"structure {k}: {self.info.get('name')} knows no element with "
                    f"Z={sorted(unknown)}"
                )
        if self.neighbor_list == "torch":
            graphs = self._graphs_torch(atoms_list)
        else:
            graphs = []
            for a in atoms_list:
                g = AtomGraphData.from_numpy_dict(
                    unlabeled_atoms_to_graph(a, self.cutoff, with_shift=True)
                )
                if self.modal:
                    g[KEY.DATA_MODALITY] = self.modal
                graphs.append(g)
        batch = Collater([], follow_batch=None, exclude_keys=None)(graphs)
        batch.to(self.device)
        out = self.model(batch)
        energy = out[KEY.PRED_TOTAL_ENERGY].detach().cpu().numpy().reshape(-1)
        forces = out[KEY.PRED_FORCE].detach().cpu().numpy()
        # sevenn: (xx, yy, zz, xy, yz, zx) with the opposite sign (calculator.py)
        stress = -out[KEY.PRED_STRESS].detach().cpu().numpy().reshape(-1, 6)[:, [0, 1, 2, 4, 5, 3]]
        res, start = [], 0
        for k, a in enumerate(atoms_list):
            n = len(a)
            res.append(
                Evaluation(
                    float(energy[k]),
                    forces[start : start + n].astype(float),
                    stress[k].astype(float),
                )
            )
            start += n
        return res


class CHGNetBatch(BatchEvaluator):
    """CHGNet through its own batching (``graph_converter`` + ``predict_graph``).

    Numbers follow ``chgnet.model.dynamics.CHGNetCalculator``: energy = e (eV/atom) x
    n_atoms, stress = s (GPa) x ``ase.units.GPa``. Graph building runs on the CPU
    whatever the device (CHGNet's design), which caps its GPU speed-up.
    """

    family = "chgnet"

    def __init__(
        self,
        model: Any,
        info: dict[str, Any],
        device: str,
        max_atoms: int,
        max_structures: int | None = None,
    ) -> None:
        super().__init__(info, max_atoms, max_structures)
        self.model = model
        self.device = device

    def _evaluate_batch(self, atoms_list: list[Any]) -> list[Evaluation]:
        from ase import units
        from ase.stress import full_3x3_to_voigt_6_stress
        from pymatgen.io.ase import AseAtomsAdaptor

        graphs = [self.model.graph_converter(AseAtomsAdaptor.get_structure(a)) for a in atoms_list]
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            preds = self.model.predict_graph(graphs, task="efs", batch_size=len(graphs))
        if isinstance(preds, dict):
            preds = [preds]
        res = []
        for a, p in zip(atoms_list, preds, strict=True):
            factor = len(a) if self.model.is_intensive else 1
            stress = full_3x3_to_voigt_6_stress(np.asarray(p["s"], float) * units.GPa)
            res.append(Evaluation(float(p["e"]) * factor, np.asarray(p["f"], float), stress))
        return res


class CalculatorLoop(BatchEvaluator):
    """Any ASE calculator, one structure at a time: the reference and the fallback.

    Parameters
    ----------
    calculator : ase Calculator or callable returning one
        A factory is called once per structure (fresh state); an instance is reused.
    """

    family = "ase-loop"

    def __init__(self, calculator: Any, info: dict[str, Any] | None = None) -> None:
        from halidelab.potentials import calculator_info

        self._factory = isinstance(calculator, type) or (
            callable(calculator) and not hasattr(calculator, "get_property")
        )
        probe = calculator() if self._factory else calculator
        base = dict(info or calculator_info(probe))
        base["batching"] = "ase-loop"
        super().__init__(base, max_atoms=1)
        self._calc = calculator
        self._probe = probe

    def _evaluate_batch(self, atoms_list: list[Any]) -> list[Evaluation]:
        res = []
        for a in atoms_list:
            b = a.copy()
            b.constraints = []
            b.calc = self._calc() if self._factory else self._probe
            try:
                stress = np.asarray(b.get_stress(), float)
            except Exception:  # calculators without stress (molecules, some pair potentials)
                stress = np.full(6, np.nan)
            res.append(
                Evaluation(float(b.get_potential_energy()), np.array(b.get_forces(), float), stress)
            )
        return res


class DispersionCorrected(BatchEvaluator):
    """A model's evaluator plus D3(BJ) dispersion (:mod:`halidelab.dispersion`): the ``-d3``
    models.

    The model runs batched as before; the D3 terms are computed per structure on the CPU by
    ``dftd3`` and added to each structure's energy, forces and stress.

    Parameters
    ----------
    base : BatchEvaluator
        The model's evaluator.
    params : halidelab.dispersion.D3Parameters
    info : dict
        Provenance of the whole (the ``-d3`` model's :func:`~halidelab.potentials.model_info`
        with the device); the base's batching settings are kept.
    """

    family = "d3"

    def __init__(self, base: BatchEvaluator, params: Any, info: dict[str, Any]) -> None:
        merged = {**base.info, **info}
        merged["batching"] = f"{base.info.get('batching')}+dftd3-cpu"
        super().__init__(merged, base.max_atoms, base.max_structures)
        self.base = base
        self.params = params

    def _evaluate_batch(self, atoms_list: list[Any]) -> list[Evaluation]:
        from halidelab.dispersion import terms

        out = []
        for a, r in zip(atoms_list, self.base._evaluate_batch(atoms_list), strict=True):
            e, f, s = terms(a, self.params)
            out.append(Evaluation(r.energy_eV + e, r.forces_eV_A + f, r.stress_eV_A3 + s))
        return out


_CACHE: dict[tuple[str, str, str | None, bool], Any] = {}
_LOCK = threading.Lock()


def _load_sevenn(path: str, device: str, cueq: bool) -> Any:
    from sevenn.util import load_checkpoint

    model = load_checkpoint(path).build_model(enable_cueq=cueq)
    model.set_is_batch_data(True)
    model.eval_type_map = __import__("torch").tensor(True)
    model.to(device)
    model.eval()
    return model


def get_evaluator(
    model: Potential | str = "chgnet", device: str | None = None, **options: Any
) -> BatchEvaluator:
    """The batched evaluator of a registered MLIP.

    Parameters
    ----------
    model : Potential or str
        The model and where it runs; a registry name is ``Potential(name)``.
    device : str, optional
        Overrides the potential's device (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``).
    **options
        Other :class:`~halidelab.potentials.Potential` fields to override (``threads``,
        ``modal``, ``enable_cueq``, ``max_atoms``, ``max_structures``, ``neighbor_list``):
        ``get_evaluator("chgnet", "cpu", threads=1)`` is
        ``get_evaluator(Potential("chgnet", "cpu", threads=1))``.

    Batches: on CUDA as many structures per call as :func:`atom_budget` allows; elsewhere
    one structure per call (batching does not pay on a CPU, see the module docstring)
    unless the potential sets ``max_structures`` or ``max_atoms``.

    Returns
    -------
    BatchEvaluator
        SevenNet on sevenn's graph batching, CHGNet on ``predict_graph``; a ``-d3`` model
        is that evaluator inside :class:`DispersionCorrected`. Its ``info``
        (model name, version, checkpoint SHA-256, device, ``enable_cueq``, batching, atoms
        per call) goes into every result's provenance.

    Raises
    ------
    ModelError
        Unknown model, CUDA or cuEquivariance asked for and missing, cuEquivariance with CHGNet.
    """
    p = Potential.of(model, device=device, **options)
    if not p.dispersion:
        return _model_evaluator(p)
    from halidelab import potentials as pot
    from halidelab.dispersion import parameters_for

    base = _model_evaluator(dataclasses.replace(p, name=pot._base(p.name)[0]))
    info = p.info()
    info["device"] = base.info["device"]
    return DispersionCorrected(base, parameters_for(p.modal), info)


def _model_evaluator(p: Potential) -> BatchEvaluator:
    """The batched evaluator of a registered model's weights (no dispersion term)."""
    from halidelab import potentials as pot

    dev = pot.resolve_device(p.device)
    pot.set_threads(p.threads)
    info = p.info()
    info["device"] = dev
    per_call = p.max_structures
    if per_call is None and p.max_atoms is None and not dev.startswith("cuda"):
        per_call = 1
    if p.family == "chgnet":
        loaded = pot._load(p.name, dev, p.modal)  # CHGNet batches as loaded: share the cached model
        info.update(enable_cueq=False, batching="chgnet-predict_graph")
        return CHGNetBatch(loaded, info, dev, p.max_atoms or atom_budget("chgnet", dev), per_call)
    have = cueq_available()
    if p.enable_cueq and not have:
        raise ModelError(
            "enable_cueq=True but cuequivariance-torch is not installed: "
            "pip install 'halidelab[gpu]' on the GPU machine, or drop enable_cueq"
        )
    if p.enable_cueq and not dev.startswith("cuda"):
        raise ModelError(
            "cuEquivariance kernels need a CUDA device; use --device cuda or drop enable_cueq"
        )
    cueq = bool(have and dev.startswith("cuda")) if p.enable_cueq is None else bool(p.enable_cueq)
    key = (p.name, dev, p.modal, cueq)
    with _LOCK:
        if key not in _CACHE:
            try:
                with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                    warnings.simplefilter("ignore")
                    _CACHE[key] = _load_sevenn(info["checkpoint"], dev, cueq)
            except Exception as exc:  # torch / sevenn errors while building
                raise ModelError(
                    f"cannot build {info['version']} (enable_cueq={cueq}): {exc}"
                ) from None
    info.update(enable_cueq=cueq, batching="sevenn-torch_geometric")
    return SevenNetBatch(
        _CACHE[key],
        info,
        dev,
        p.max_atoms or atom_budget("sevenn", dev),
        p.modal,
        p.neighbor_list,
        per_call,
    )


def as_evaluator(model: Any = None, calculator: Any = None) -> BatchEvaluator:
    """Whatever names a model, as the evaluator the engine runs on.

    Parameters
    ----------
    model : BatchEvaluator, Potential, str, ase Calculator, calculator factory or None
        An evaluator is used as it is; a :class:`~halidelab.potentials.Potential` or
        registry name gets :func:`get_evaluator`; an ASE calculator (or a class or
        function that makes one) gets a :class:`CalculatorLoop`; None is the default
        potential (``chgnet``, device ``auto``).
    calculator : optional
        When given, used instead of ``model`` (the library's ``calculator=`` argument:
        any ASE calculator, or an evaluator to share).

    Raises
    ------
    ModelError
        Anything else (the message says what is accepted).
    """
    if calculator is not None:
        model = calculator
    if isinstance(model, BatchEvaluator):
        return model
    if model is None or isinstance(model, Potential | str):
        return get_evaluator(model or "chgnet")
    if hasattr(model, "get_property") or callable(model):
        return CalculatorLoop(model)
    raise ModelError(
        f"cannot run a model given as {type(model).__name__}: give a registry name, a Potential, "
        "an ASE calculator or a BatchEvaluator"
    )


def evaluate_structures(
    structures: Sequence[Any], evaluator: Any = None, **kwargs: Any
) -> list[Evaluation]:
    """Energies, forces and stresses of pymatgen Structures or ase Atoms, batched.

    ``evaluator`` is anything :func:`as_evaluator` takes; ``kwargs`` (``device``,
    ``threads`` ...) go to :func:`get_evaluator` with it when it names a model.
    """
    from halidelab.atoms import to_atoms

    ev = get_evaluator(evaluator or "chgnet", **kwargs) if kwargs else as_evaluator(evaluator)
    return ev.evaluate([to_atoms(s) for s in structures])


def single_point_calculator(atoms: Any, ev: Evaluation) -> Any:
    """An ASE ``SinglePointCalculator`` holding ``ev`` for ``atoms`` (for filters, frames)."""
    from ase.calculators.singlepoint import SinglePointCalculator

    return SinglePointCalculator(
        atoms,
        energy=ev.energy_eV,
        free_energy=ev.energy_eV,
        forces=ev.forces_eV_A.copy(),
        stress=ev.stress_eV_A3.copy(),
    )


ProgressFn = Callable[[int, int], None]
