"""Which universal potentials ship their weights inside the wheel from the package index?

Run by hand (it downloads wheels; nothing of halidelab does at run time):
``python benchmarks/check_potential_wheels.py [package ...]``.

Issue 14's model choice compares every universal potential "whose weights install from
the package index without a download at run time". This script checks that condition for
each candidate instead of taking it on trust: it fetches the newest wheel with
``pip download --no-deps`` (no install, no dependencies), lists the files inside it that
look like model weights (``.pt``, ``.pth``, ``.pth.tar``, ``.ckpt``, ``.model``, ``.pkl``,
``.npz``, ``.safetensors``, ``.json`` above 1 MB), and the addresses in its source that a
loader would fetch weights from (release assets, Hugging Face and its
``hf_hub_download``, S3, raw GitHub). chgnet and sevenn, which halidelab registers, are
the positive controls: their weights must show up, or the check itself is broken.

A candidate qualifies only with weights inside its wheel; a package index that holds a
separate weights package would show up as its own candidate (e.g. ``mace-models``).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

CONTROLS = ("chgnet", "sevenn")
CANDIDATES = (
    "mace-torch",
    "mace-models",
    "mattersim",
    "matgl",
    "orb-models",
    "pet-mad",
    "fairchem-core",
    "tensorpotential",  # GRACE
    "deepmd-kit",  # DPA
    "alignn",  # ALIGNN-FF
)
WEIGHT_SUFFIXES = (
    ".pt",
    ".pth",
    ".pth.tar",  # chgnet's
    ".ckpt",
    ".model",
    ".pkl",
    ".npz",
    ".safetensors",
    ".json",
)
MIN_WEIGHT_BYTES = 1_000_000
URL = re.compile(
    rb"https?://[^\s\"'()<>]*(?:releases/download|huggingface\.co|amazonaws\.com|"
    rb"raw\.githubusercontent\.com|figshare|zenodo)[^\s\"'()<>]*"
    rb"|hf_hub_download|snapshot_download"  # the Hugging Face hub's own downloaders
)


def inspect(package: str, folder: Path) -> dict:
    """Download ``package``'s wheel into ``folder`` and look inside it."""
    run = subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", package, "-d", str(folder)],
        capture_output=True,
        text=True,
    )
    wheels = sorted(folder.glob(f"{package.replace('-', '_')}-*.whl"), key=lambda p: p.name)
    if run.returncode != 0 or not wheels:
        return {"package": package, "wheel": None, "error": run.stderr.strip().splitlines()[-1:]}
    wheel = wheels[-1]
    weights, urls = [], set()
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            name = info.filename
            if name.endswith(WEIGHT_SUFFIXES) and info.file_size >= MIN_WEIGHT_BYTES:
                weights.append((name, info.file_size))
            if name.endswith(".py"):
                urls.update(u.decode(errors="replace") for u in URL.findall(z.read(name)))
    return {
        "package": package,
        "wheel": wheel.name,
        "wheel_MB": wheel.stat().st_size / 1e6,
        "weights": weights,
        "urls": sorted(urls),
    }


def main(packages: list[str]) -> int:
    print(f"# {' '.join([Path(sys.argv[0]).name, *sys.argv[1:]])}")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for pkg in packages or [*CONTROLS, *CANDIDATES]:
            folder = Path(tmp) / pkg
            folder.mkdir()
            r = inspect(pkg, folder)
            if r["wheel"] is None:
                print(f"{pkg}: no wheel ({' '.join(r['error'])})")
                continue
            n = len(r["weights"])
            verdict = "weights in the wheel" if n else "no weights in the wheel"
            print(f"{pkg}: {r['wheel']} ({r['wheel_MB']:.1f} MB): {verdict}")
            for name, size in r["weights"][:5]:
                print(f"    {name} ({size / 1e6:.1f} MB)")
            for url in r["urls"][:3]:
                print(f"    fetches from {url}")
            if pkg in CONTROLS and not n:
                ok = False
                print(f"    CONTROL FAILED: {pkg} ships its weights; the check missed them")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
