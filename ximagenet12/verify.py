"""Checking a build's shards against the sha256 its manifest records, before anything reads their rows.

Local files are hashed once and remembered by (path, size, mtime), as TFDS remembers its checksums, so a
second load costs a `stat` per file. Files of a Hub repo are checked without downloading them again: the
Hub's LFS object id of a file is its sha256, and one paths-info call returns it for every shard.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import DataError
from .manifest import FileEntry
from .provenance import BLOCK, sha256_file, write_atomic

CACHE_ENV = "XIMAGENET12_CACHE"


def cache_path() -> Path:
    """Where verified local files are remembered: $XIMAGENET12_CACHE, else ~/.cache/ximagenet12."""
    root = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "ximagenet12"
    )
    return Path(root) / "verified.json"


def _read_cache(path: Path) -> dict[str, list]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _mismatch(path: str, got: str, want: str) -> DataError:
    return DataError(
        f"{path}: sha256 {got[:16]}… differs from the manifest's {want[:16]}…; the file is damaged or was changed "
        "after the build (rebuild or download it again; verify=False / --no-verify reads it anyway)"
    )


def verify_local(root: str | os.PathLike, files: Iterable[FileEntry], *, remember: bool = True) -> int:
    """Check local shards against their manifest entries; returns how many had to be hashed."""
    cache_file = cache_path()
    cache = _read_cache(cache_file) if remember else {}
    hashed = sum(verify_file(Path(root) / entry.path, entry, cache=cache) for entry in files)
    if remember and hashed:
        with contextlib.suppress(OSError):  # an unwritable cache only costs a re-hash next time
            write_atomic(cache_file, json.dumps(cache, sort_keys=True))
    return hashed


def verify_file(path: Path, entry: FileEntry, *, cache: dict | None = None) -> bool:
    """Check one local file's size and sha256 against its entry; True if it was hashed (not remembered)."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise DataError(f"{path}: missing; the build's manifest lists it") from None
    if stat.st_size != entry.size:
        raise DataError(f"{path}: {stat.st_size} bytes, the manifest says {entry.size}; the file is damaged")
    key = str(path.resolve())
    if cache is not None and cache.get(key) == [stat.st_size, stat.st_mtime_ns, entry.sha256]:
        return False
    digest = sha256_file(path)
    if digest != entry.sha256:
        raise _mismatch(str(path), digest, entry.sha256)
    if cache is not None:
        cache[key] = [stat.st_size, stat.st_mtime_ns, digest]
    return True


def verify_stream(fs: Any, root: str, files: Iterable[FileEntry], *, where: str) -> None:
    """Check shards on any fsspec filesystem by hashing what it serves."""
    for entry in files:
        digest = hashlib.sha256()
        try:
            with fs.open(f"{root}/{entry.path}", "rb") as f:
                while block := f.read(BLOCK):
                    digest.update(block)
        except FileNotFoundError:
            raise DataError(f"{where}/{entry.path}: missing; the build's manifest lists it") from None
        if digest.hexdigest() != entry.sha256:
            raise _mismatch(f"{where}/{entry.path}", digest.hexdigest(), entry.sha256)


def verify_hub(repo_id: str, revision: str, files: Iterable[FileEntry], *, token: str | bool | None = None) -> None:
    """Check a Hub repo's shards at `revision` against their manifest entries by their LFS sha256."""
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoFile

    wanted = {f.path: f for f in files}
    if not wanted:
        return
    infos = HfApi().get_paths_info(repo_id, sorted(wanted), repo_type="dataset", revision=revision, token=token)
    found = {info.path: info for info in infos if isinstance(info, RepoFile)}
    for path, entry in sorted(wanted.items()):
        where = f"{repo_id}@{revision[:12]}/{path}"
        info = found.get(path)
        if info is None:
            raise DataError(f"{where}: missing; the build's manifest lists it")
        if info.size != entry.size:
            raise DataError(f"{where}: {info.size} bytes, the manifest says {entry.size}")
        if info.lfs is None:
            raise DataError(
                f"{where}: not stored through LFS, so the Hub reports no sha256 to check it by "
                "(verify=False / --no-verify reads it unchecked)"
            )
        if info.lfs.sha256 != entry.sha256:
            raise _mismatch(where, info.lfs.sha256, entry.sha256)
