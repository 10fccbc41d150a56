"""One registry of universal machine-learned interatomic potentials (MLIPs).

``get_calculator("chgnet")`` returns an ASE calculator for a named model; the same
names work for every transport method (relax, MD, NEB). Weights come from the files
shipped inside the ``chgnet`` and ``sevenn`` wheels and are loaded by *path*, so no
model ever downloads anything:

- ``chgnet``: CHGNet 0.3.0 (MPtrj), ``chgnet/pretrained/0.3.0/*.pth.tar``, loaded with
  ``CHGNet.load(model_name="0.3.0")``, which reads that file with ``torch.load`` only.
- ``sevennet-0`` (SevenNet_0__11Jul2024), ``sevennet-0-22may2024``, ``sevennet-l3i5``,
  ``sevennet-mf-0`` (multi-fidelity; ``modal`` "PBE" (default) or "R2SCAN"): the
  checkpoints in ``sevenn/pretrained_potentials``. We pass the file path to
  ``sevenn.util.load_checkpoint``; sevenn's name lookup (``pretrained_name_to_path``)
  would try to download a missing file, the path route never does.

A name with ``-d3`` (``chgnet-d3``, ``sevennet-l3i5-d3``) is that model plus Grimme's
D3(BJ) dispersion for its training functional (:mod:`halidelab.dispersion`): the same
weights, with the dispersion PBE lacks added to every energy, force and stress.

A :class:`Potential` names a model and where it runs (device, threads, and options:
fidelity head, cuEquivariance kernels, atoms per call, neighbour list): it is the one
argument every MLIP method of halidelab takes (``relax``, ``md``, ``neb``, the screen's
tasks, the CLI's ``--model/--device/--threads``), and what goes into their provenance
(name, checkpoint version and the checkpoint file's SHA-256).

Loaded models are cached per process (one load per model, device and modal); each
:func:`get_calculator` call wraps the cached model in a fresh ASE calculator, so two
structures never share calculator state. Any other ASE calculator works with the
transport code too: :func:`calculator_info` describes it for provenance.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import io
import os
import threading
import warnings
from typing import Any

from halidelab.errors import ModelError
from halidelab.records import Provenance


@dataclasses.dataclass(frozen=True)
class _Spec:
    family: str  # "chgnet" or "sevenn"
    version: str  # checkpoint name users quote in papers
    relpath: str  # checkpoint path inside the package
    modals: tuple[str, ...] = ()
    description: str = ""


_REGISTRY: dict[str, _Spec] = {
    "chgnet": _Spec(
        "chgnet",
        "CHGNet-0.3.0",
        "pretrained/0.3.0/chgnet_0.3.0_e29f68s314m37.pth.tar",
        description="CHGNet 0.3.0 trained on MPtrj (PBE/PBE+U)",
    ),
    "sevennet-0": _Spec(
        "sevenn",
        "SevenNet_0__11Jul2024",
        "pretrained_potentials/SevenNet_0__11Jul2024/checkpoint_sevennet_0.pth",
        description="SevenNet-0 (11 Jul 2024) trained on MPtrj",
    ),
    "sevennet-0-22may2024": _Spec(
        "sevenn",
        "SevenNet_0__22May2024",
        "pretrained_potentials/SevenNet_0__22May2024/checkpoint_sevennet_0.pth",
        description="SevenNet-0 (22 May 2024) trained on MPtrj",
    ),
    "sevennet-l3i5": _Spec(
        "sevenn",
        "SevenNet_l3i5",
        "pretrained_potentials/SevenNet_l3i5/checkpoint_l3i5.pth",
        description="SevenNet l3i5 (lmax 3, 5 interactions) on MPtrj",
    ),
    "sevennet-mf-0": _Spec(
        "sevenn",
        "SevenNet_MF_0",
        "pretrained_potentials/SevenNet_MF_0/checkpoint_sevennet_mf_0.pth",
        modals=("PBE", "R2SCAN"),
        description="SevenNet multi-fidelity (PBE and R2SCAN heads)",
    ),
}

#: Accepted spellings that map onto the registry names.
_ALIASES = {
    "chgnet-0.3.0": "chgnet",
    "7net-0": "sevennet-0",
    "sevennet": "sevennet-0",
    "7net-0_22may2024": "sevennet-0-22may2024",
    "7net-l3i5": "sevennet-l3i5",
    "7net-mf-0": "sevennet-mf-0",
}

_CACHE: dict[tuple[str, str, str | None], Any] = {}
_LOCK = threading.Lock()


def available_models() -> list[str]:
    """Names :func:`get_calculator` accepts: each registered model, and each with ``-d3``
    (the model plus D3(BJ) dispersion)."""
    from halidelab.dispersion import SUFFIX

    return sorted([*_REGISTRY, *(name + SUFFIX for name in _REGISTRY)])


def _valid_names() -> str:
    from halidelab.dispersion import SUFFIX

    return f"{', '.join(sorted(_REGISTRY))} (each also with {SUFFIX} for D3(BJ) dispersion)"


def _canonical(model: str) -> str:
    from halidelab.dispersion import SUFFIX, split_name

    if not isinstance(model, str) or not model.strip():
        raise ModelError(f"model name must be a string; valid names: {_valid_names()}")
    key, d3 = split_name(model)
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise ModelError(f"unknown model {model!r}; valid names: {_valid_names()}")
    return key + SUFFIX if d3 else key


def _base(name: str) -> tuple[str, bool]:
    """Registry name of the weights behind a canonical name, and whether D3 is added."""
    from halidelab.dispersion import split_name

    return split_name(name)


def _spec(name: str) -> _Spec:
    """The registry entry of a canonical name (its ``-d3`` variant shares it)."""
    return _REGISTRY[_base(name)[0]]


def _checkpoint_path(spec: _Spec) -> str:
    import importlib

    pkg = importlib.import_module(spec.family)
    path = os.path.join(os.path.dirname(pkg.__file__), spec.relpath)
    if not os.path.isfile(path):
        raise ModelError(
            f"weights for {spec.version} not found at {path}: reinstall "
            f"{spec.family} (the wheel ships them; nothing is downloaded)"
        )
    return path


@functools.cache
def checkpoint_sha256(path: str) -> str:
    """SHA-256 of a checkpoint file (hex), computed once per process and path."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _package_version(family: str) -> str:
    from importlib.metadata import version

    return version(family)


def _modal(spec: _Spec, modal: str | None) -> str | None:
    if not spec.modals:
        if modal:
            raise ModelError(f"model {spec.version} has a single fidelity; drop modal={modal!r}")
        return None
    if modal is None:
        return spec.modals[0]
    for m in spec.modals:
        if m.lower() == str(modal).lower():
            return m
    raise ModelError(f"unknown modal {modal!r} for {spec.version}; use one of {list(spec.modals)}")


def model_info(model: str = "chgnet", modal: str | None = None) -> dict[str, Any]:
    """Name, checkpoint version and weights file of a registered model.

    Parameters
    ----------
    model : str
        Registry name (see :func:`available_models`).
    modal : str, optional
        Fidelity head for multi-fidelity models (``sevennet-mf-0``: "PBE" or "R2SCAN").

    Returns
    -------
    dict
        ``name``, ``version`` (checkpoint name, ``+D3(BJ)`` for a ``-d3`` model),
        ``checkpoint`` (absolute path), ``checkpoint_sha256``, ``package`` and
        ``package_version``, ``modal`` and ``description``; a ``-d3`` model also
        ``dispersion`` (method, functional, damping parameters, package version).

    Raises
    ------
    ModelError
        Unknown name, unknown modal, missing weights, or a ``-d3`` model without ``dftd3``.
    """
    name = _canonical(model)
    spec = _spec(name)
    path = _checkpoint_path(spec)
    mod = _modal(spec, modal)
    version = spec.version if not spec.modals else f"{spec.version}/{mod}"
    info = {
        "name": name,
        "version": version,
        "checkpoint": path,
        "checkpoint_sha256": checkpoint_sha256(path),
        "package": spec.family,
        "package_version": _package_version(spec.family),
        "modal": mod,
        "description": spec.description,
    }
    if _base(name)[1]:
        from halidelab.dispersion import parameters_for

        d3 = parameters_for(mod)
        info["version"] = f"{version}+D3(BJ)"
        info["description"] = f"{spec.description}, plus D3(BJ) dispersion ({d3.functional})"
        info["dispersion"] = d3.to_dict()
    return info


def resolve_device(device: str = "auto") -> str:
    """Turn ``"auto"`` into ``"cuda"`` when a GPU is visible, else ``"cpu"``.

    Raises
    ------
    ModelError
        A CUDA device was asked for on a machine without one, or an unknown device.
    """
    import torch

    dev = str(device).strip().lower()
    if dev == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if dev == "cpu":
        return "cpu"
    if dev.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ModelError(
                f"device {device!r} requested but no CUDA GPU is visible; use --device cpu"
            )
        return dev
    if dev == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ModelError("device 'mps' requested but not available; use --device cpu")
        return dev
    raise ModelError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps")


def set_threads(threads: int | None) -> None:
    """Set torch's intra-op thread count (``None`` leaves the current setting)."""
    if threads is None:
        return
    if int(threads) < 1:
        raise ModelError(f"threads must be >= 1, got {threads}")
    import torch

    torch.set_num_threads(int(threads))


def _load(name: str, device: str, modal: str | None) -> Any:
    """Load (once per process) the torch model behind a registry name."""
    name = _base(name)[0]  # a -d3 model runs the same weights
    key = (name, device, modal)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        spec = _spec(name)
        path = _checkpoint_path(spec)
        sink = io.StringIO()
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(sink):
                warnings.simplefilter("ignore")
                if spec.family == "chgnet":
                    from chgnet.model import CHGNet

                    model = CHGNet.load(model_name="0.3.0", use_device=device, verbose=False)
                else:
                    from sevenn.util import load_checkpoint

                    model = load_checkpoint(path).build_model()  # a file path: never downloads
                    model.set_is_batch_data(False)
        except ModelError:
            raise
        except Exception as exc:  # torch / package errors while reading weights
            raise ModelError(f"cannot load {spec.version} from {path}: {exc}") from None
        _CACHE[key] = model
        return model


def get_calculator(
    model: str = "chgnet",
    device: str = "auto",
    threads: int | None = None,
    modal: str | None = None,
) -> Any:
    """An ASE calculator for a registered MLIP (weights loaded offline, cached).

    Parameters
    ----------
    model : str
        ``"chgnet"`` (default), ``"sevennet-0"``, ``"sevennet-0-22may2024"``,
        ``"sevennet-l3i5"`` or ``"sevennet-mf-0"``; with ``-d3``, plus D3(BJ) dispersion
        (an ASE ``SumCalculator`` of the model and ``dftd3``'s calculator).
    device : str
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
    threads : int, optional
        torch intra-op threads (``torch.set_num_threads``); None keeps the current value.
    modal : str, optional
        Fidelity for ``sevennet-mf-0`` ("PBE" default, or "R2SCAN").

    Returns
    -------
    ase.calculators.calculator.Calculator
        Energies in eV, forces in eV/A, stress in eV/A^3. Its ``halidelab_model``
        attribute holds :func:`model_info`.

    Raises
    ------
    ModelError
        Unknown name (the message lists the valid ones), bad device, missing weights.
    """
    name = _canonical(model)
    spec = _spec(name)
    mod = _modal(spec, modal)
    dev = resolve_device(device)
    set_threads(threads)
    loaded = _load(name, dev, mod)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        if spec.family == "chgnet":
            calc = _quiet_chgnet_class()(model=loaded, use_device=dev)
        else:
            from sevenn.calculator import SevenNetCalculator

            calc = SevenNetCalculator(
                model=loaded, file_type="model_instance", device=dev, modal=mod
            )
    info = model_info(name, mod)
    if "dispersion" in info:
        from ase.calculators.mixing import SumCalculator

        from halidelab.dispersion import calculator as d3_calculator
        from halidelab.dispersion import parameters_for

        calc = SumCalculator([calc, d3_calculator(parameters_for(mod))])
    calc.halidelab_model = info
    calc.halidelab_model["device"] = dev
    return calc


#: What torch says inside CHGNet's stress computation on every call (chgnet 0.4.2,
#: model.py: ``torch.tensor(volumes)`` of a tensor that requires grad). Harmless for the
#: numbers; filtered where the model is called, nowhere else.
_CHGNET_TORCH_WARNING = r"Converting a tensor with requires_grad=True to a scalar"


def _quiet_chgnet_class() -> type:
    """``CHGNetCalculator`` whose ``calculate`` filters :data:`_CHGNET_TORCH_WARNING`.

    Built on first use (chgnet is imported lazily) and kept as a module attribute, so
    instances pickle like the parent class.
    """
    cls = globals().get("QuietCHGNetCalculator")
    if cls is not None:
        return cls
    from chgnet.model.dynamics import CHGNetCalculator

    def calculate(self, *args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_CHGNET_TORCH_WARNING, category=UserWarning)
            return CHGNetCalculator.calculate(self, *args, **kwargs)

    cls = type(
        "QuietCHGNetCalculator",
        (CHGNetCalculator,),
        {
            "calculate": calculate,
            "__module__": __name__,
            "__doc__": "CHGNetCalculator without torch's per-call requires_grad warning.",
        },
    )
    globals()["QuietCHGNetCalculator"] = cls
    return cls


def calculator_info(calc: Any) -> dict[str, Any]:
    """Model name and version of any ASE calculator (registry ones carry them)."""
    info = getattr(calc, "halidelab_model", None)
    if info:
        return dict(info)
    return {"name": type(calc).__name__, "version": None, "checkpoint": None}


#: what of an evaluator's or calculator's description goes into a result's provenance
#: (besides the model name and version, which have fields of their own)
_PROVENANCE_KEYS = (
    "checkpoint_sha256",
    "modal",
    "device",
    "enable_cueq",
    "batching",
    "max_atoms_per_call",
    "max_structures_per_call",
    "neighbor_list",
    "dispersion",
)


def provenance(
    method: str, source: Any, parameters: dict[str, Any] | None = None, seed: int | None = None
) -> Provenance:
    """A :class:`Provenance` naming the model, its checkpoint version and checksum.

    Parameters
    ----------
    method : str
    source : dict or ase Calculator
        The ``info`` of a :class:`halidelab.engine.batch.BatchEvaluator` (model name,
        version, checkpoint SHA-256, device, batching) or an ASE calculator.
    parameters : dict, optional
        The method's parameters; the model's description is added under ``potential``.
    seed : int, optional
    """
    info = dict(source) if isinstance(source, dict) else calculator_info(source)
    params = dict(parameters or {})
    params["potential"] = {k: info[k] for k in _PROVENANCE_KEYS if info.get(k) is not None}
    return Provenance(
        method=method,
        model=info.get("name"),
        model_version=info.get("version"),
        parameters=params,
        seed=seed,
    )


_NEIGHBOR_LISTS = ("auto", "ase", "torch")


@dataclasses.dataclass(frozen=True)
class Potential:
    """An MLIP of the registry and where it runs: the one model argument of halidelab.

    ``Potential("sevennet-0", device="cuda", enable_cueq=True)``; a bare registry name
    works wherever a Potential is asked for (``Potential.of("chgnet")``). Names are
    checked and stored canonical (``"7net-0"`` -> ``"sevennet-0"``), so a typo fails
    where it is written, with the valid names in the message.

    Attributes
    ----------
    name : str
        Registry name (:func:`available_models`).
    device : str
        ``"auto"`` (CUDA when visible, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
    threads : int, optional
        torch intra-op threads (None keeps the current setting).
    modal : str, optional
        Fidelity head of multi-fidelity models (``sevennet-mf-0``: "PBE" or "R2SCAN").
    enable_cueq : bool, optional
        cuEquivariance kernels for SevenNet on CUDA. None: on when the ``gpu`` extra is
        installed and the device is CUDA; True: required; False: off.
    max_atoms : int, optional
        Atoms per model call (default: what the device holds,
        :func:`halidelab.engine.batch.atom_budget`).
    max_structures : int, optional
        Structures per model call. Default: no limit on CUDA; one on a CPU, where
        batching does not pay (measured, :mod:`halidelab.engine.batch`), unless
        ``max_atoms`` is given.
    neighbor_list : {"auto", "ase", "torch"}
        SevenNet graph building: sevenn's own on the CPU, or on the model's device
        ("auto": torch on CUDA, ase on the CPU).
    """

    name: str = "chgnet"
    device: str = "auto"
    threads: int | None = None
    modal: str | None = None
    enable_cueq: bool | None = None
    max_atoms: int | None = None
    neighbor_list: str = "auto"
    max_structures: int | None = None

    def __post_init__(self) -> None:
        name = _canonical(self.name)
        spec = _spec(name)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "modal", _modal(spec, self.modal))
        if self.threads is not None and int(self.threads) < 1:
            raise ModelError(f"threads must be >= 1, got {self.threads}")
        if self.max_atoms is not None and int(self.max_atoms) < 1:
            raise ModelError(f"max_atoms must be >= 1, got {self.max_atoms}")
        if self.max_structures is not None and int(self.max_structures) < 1:
            raise ModelError(f"max_structures must be >= 1, got {self.max_structures}")
        if self.neighbor_list not in _NEIGHBOR_LISTS:
            raise ModelError(
                f"neighbor_list must be one of {_NEIGHBOR_LISTS}, got {self.neighbor_list!r}"
            )
        if self.enable_cueq and spec.family != "sevenn":
            raise ModelError(
                f"cuEquivariance kernels exist for SevenNet only; drop enable_cueq for {name}"
            )

    @classmethod
    def of(cls, model: Potential | str | None = None, **options: Any) -> Potential:
        """``model`` as a Potential, with the ``options`` that are not None applied.

        ``Potential.of("chgnet", device="cpu")``, ``Potential.of(pot, threads=2)``;
        None means the default model (``chgnet``).
        """
        if model is not None and not isinstance(model, Potential | str):
            raise ModelError(
                f"model must be a registry name or a Potential, got {type(model).__name__}; "
                "pass an ASE calculator as calculator="
            )
        base = model if isinstance(model, Potential) else cls(model or "chgnet")
        given = {k: v for k, v in options.items() if v is not None}
        return dataclasses.replace(base, **given) if given else base

    @property
    def family(self) -> str:
        """Model package: ``"chgnet"`` or ``"sevenn"``."""
        return _spec(self.name).family

    @property
    def dispersion(self) -> bool:
        """Whether D3(BJ) dispersion is added (a ``-d3`` name)."""
        return _base(self.name)[1]

    def info(self) -> dict[str, Any]:
        """:func:`model_info` of this model (name, version, checkpoint and its SHA-256)."""
        return model_info(self.name, self.modal)

    def calculator(self) -> Any:
        """An ASE calculator of this model on its device (:func:`get_calculator`)."""
        return get_calculator(self.name, self.device, self.threads, self.modal)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (fields left at their defaults included)."""
        return dataclasses.asdict(self)
