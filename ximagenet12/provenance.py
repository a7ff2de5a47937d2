"""Hashes, library versions, fingerprints and atomic writes: what builds and evaluations record and resume by."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

BLOCK = 1 << 20

# Distribution name -> import name, for the libraries whose behaviour a build or an evaluation depends on.
IMPORT_NAMES = {
    "ximagenet12": "ximagenet12",
    "opencv-python-headless": "cv2",
    "pillow": "PIL",
    "numpy": "numpy",
    "pyarrow": "pyarrow",
    "datasets": "datasets",
    "huggingface_hub": "huggingface_hub",
    "fsspec": "fsspec",
}


def sha256_file(path: str | os.PathLike) -> str:
    """The sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def canonical_json(data: Any) -> str:
    """JSON with sorted keys and fixed spacing: the same data always gives the same bytes."""
    return json.dumps(data, sort_keys=True, indent=1, ensure_ascii=False, default=_plain) + "\n"


def _plain(value: Any) -> Any:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def fingerprint(data: Any) -> str:
    """sha256 of the canonical JSON of `data`."""
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()


def compact_fingerprint(data: Any) -> str:
    """sha256 of sorted, compact JSON of `data`, for large data (not equal to `fingerprint` of it).

    Without indentation `json` uses its C encoder: about ten times faster on a build's plan of a shard.
    """
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain)
    return hashlib.sha256(text.encode()).hexdigest()


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        pass
    module = IMPORT_NAMES.get(name)
    if module is None:
        return None
    try:
        return getattr(__import__(module), "__version__", None)
    except ImportError:
        return None


def library_versions(names: Iterable[str], *, python: bool = False) -> dict[str, str]:
    """Installed versions of the named distributions (absent ones left out), optionally with Python's."""
    out = {"python": platform.python_version()} if python else {}
    for name in names:
        version = _version(name)
        if version is not None:
            out[name] = version
    return out


@contextmanager
def atomic_target(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path`, renamed onto it on success and removed on any error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write text (UTF-8) or bytes to `path` through a temporary file and a rename."""
    with atomic_target(path) as tmp:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)
