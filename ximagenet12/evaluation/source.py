"""A build to read: a local folder, a Hub dataset repo or any fsspec URL, all through fsspec + pyarrow."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import fsspec
import pyarrow.parquet as pq

from .. import manifest as mf
from ..scenarios import order_configs
from ..verify import verify_hub, verify_local, verify_stream
from .robustness import PAPER_SCENARIOS, REFERENCE

REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
COLUMNS = ["image", "label", "source_id"]


@dataclass
class BuildSource:
    """One build: its filesystem, root, manifest, class table and provenance.

    `files()` lists a config's shards as the manifest records them and, unless `verify` is off, checks
    each against its manifest sha256 before anything reads it (once per file and change for local
    builds, by the Hub's LFS sha256 for Hub repos, by hashing the stream elsewhere).
    """

    fs: fsspec.AbstractFileSystem
    root: str
    location: str
    kind: str
    revision: str | None = None
    verify: bool = True
    _files: dict = field(default_factory=dict, repr=False)

    @cached_property
    def manifest_bytes(self) -> bytes:
        """Raw build_manifest.json."""
        path = f"{self.root}/{mf.MANIFEST_NAME}"
        if not self.fs.exists(path):
            raise mf.ManifestError(
                f"{self.location} has no {mf.MANIFEST_NAME}; is it the output of `ximagenet12 build`?"
            )
        return self.fs.cat_file(path)

    @cached_property
    def manifest(self) -> mf.Manifest:
        """The build's manifest (class table, configs, files, seed)."""
        return mf.parse_manifest(self.manifest_bytes, source=f"{self.location}/{mf.MANIFEST_NAME}")

    @cached_property
    def classes(self) -> list[dict]:
        """The build's class table, sorted by label: label, wnid, imagenet_index, name."""
        return [c.to_dict() for c in self.manifest.classes]

    @cached_property
    def data_files(self) -> dict[str, dict[str, list[str]]]:
        """config -> split -> data-file patterns, as the manifest (and so the card) declares them."""
        return self.manifest.data_files()

    @property
    def configs(self) -> list[str]:
        """Configs of this build, in benchmark order."""
        return order_configs(list(self.data_files))

    def splits(self, config: str) -> list[str]:
        """Splits a config has."""
        return list(self.data_files.get(config, {}))

    def files(self, config: str, split: str) -> list[str]:
        """The config's Parquet shards for a split, as the manifest lists them, checked (see the class)."""
        key = (config, split)
        if key not in self._files:
            entries = self.manifest.files_of(config, split)
            if not entries:
                raise KeyError(f"{self.location} has no split {split!r} in config {config!r}")
            if self.verify:
                self._verify(entries)
            self._files[key] = [f"{self.root}/{entry.path}" for entry in entries]
        return self._files[key]

    def _verify(self, entries: list[mf.FileEntry]) -> None:
        if self.kind == "local":
            verify_local(self.root, entries)
        elif self.kind == "hub":
            verify_hub(self.location, self.revision, entries)
        else:
            verify_stream(self.fs, self.root, entries, where=self.location)

    def parquet(self, path: str) -> pq.ParquetFile:
        """One shard as a ParquetFile (use it in a `with` block: it closes the file)."""
        return pq.ParquetFile(path, filesystem=self.fs)

    def num_rows(self, config: str, split: str) -> int:
        """Rows in a config's split, from the shards' footers."""
        total = 0
        for path in self.files(config, split):
            with self.parquet(path) as parquet:
                total += parquet.metadata.num_rows
        return total

    def identity(self, config: str, split: str) -> dict:
        """What a cached result depends on: manifest hash, revision, shard names and sizes."""
        shards = [[p.rsplit("/", 1)[-1], self.fs.size(p)] for p in self.files(config, split)]
        return {
            "manifest_sha256": self.manifest_sha256,
            "revision": self.revision,
            "config": config,
            "split": split,
            "shards": shards,
        }

    @cached_property
    def manifest_sha256(self) -> str:
        """sha256 of build_manifest.json."""
        return hashlib.sha256(self.manifest_bytes).hexdigest()

    def provenance(self) -> dict:
        """Where the data came from, for the summary."""
        return {
            "location": self.location,
            "kind": self.kind,
            "revision": self.revision,
            "manifest_sha256": self.manifest_sha256,
            "build_seed": self.manifest.seed,
            "shards_verified": self.verify,
        }


def _hub(repo_id: str, revision: str | None) -> BuildSource:
    """A Hub dataset repo pinned to a commit sha."""
    from huggingface_hub import HfApi, HfFileSystem

    sha = HfApi().dataset_info(repo_id, revision=revision).sha
    root = f"datasets/{repo_id}@{sha}"
    return BuildSource(HfFileSystem(), root, repo_id, "hub", revision=sha)


def open_build(data: str | os.PathLike, *, revision: str | None = None, verify: bool = True) -> BuildSource:
    """Open a build: local folder, `hf://datasets/<repo>`, a bare Hub repo id, or any fsspec URL."""
    text = os.fspath(data)
    if Path(text).is_dir():
        root = str(Path(text).resolve())
        return BuildSource(fsspec.filesystem("file"), root, root, "local", verify=verify)
    if text.startswith("hf://datasets/"):
        repo = text[len("hf://datasets/") :].rstrip("/")
        repo, _, rev = repo.partition("@")
        return dataclasses.replace(_hub(repo, revision or rev or None), verify=verify)
    if "://" in text:
        fs, root = fsspec.core.url_to_fs(text)
        return BuildSource(fs, root.rstrip("/"), text, "fsspec", revision=revision, verify=verify)
    if REPO_ID.match(text):
        return dataclasses.replace(_hub(text, revision), verify=verify)
    raise FileNotFoundError(f"{text!r} is neither a folder, a URL nor a Hub repo id")


def config_list(configs: str | Sequence[str]) -> list[str]:
    """'a, b' or ['a', 'b'] -> ['a', 'b']."""
    return [c.strip() for c in configs.split(",")] if isinstance(configs, str) else list(configs)


def select_configs(source: BuildSource, configs: str | Sequence[str] | None, split: str) -> list[str]:
    """None/'all': every config having `split`; 'paper': original + the eight; else the named ones (checked)."""
    available = source.configs
    if configs is None or configs == "all":
        chosen = [c for c in available if split in source.splits(c)]
        if not chosen:
            raise ValueError(f"no config of {source.location} has a {split!r} split")
        return chosen
    if configs == "paper":
        return [c for c in (REFERENCE, *PAPER_SCENARIOS) if c in available and split in source.splits(c)]
    names = config_list(configs)
    unknown = [c for c in names if c not in available]
    if unknown:
        raise ValueError(f"{source.location} has no config {unknown}; it has {available}")
    lacking = [c for c in names if split not in source.splits(c)]
    if lacking:
        raise ValueError(f"configs {lacking} have no {split!r} split")
    return order_configs(names)
