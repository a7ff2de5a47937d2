"""The `datasets` builder: one config per scenario, reading a build's Parquet shards as they are stored.

Reads a build folder (`data_dir=`) or a Hub dataset repo (`repo_id=`, pinned to one commit). Each shard is
checked against the sha256 its manifest records before any row is read (`verify=False` skips it), then
yielded one row group at a time as an Arrow table: images are the stored bytes, never re-encoded, so rows
equal `load_dataset(folder_or_repo, config)`'s.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

import datasets
import fsspec
import pyarrow.parquet as pq
from datasets.builder import Key

from . import __version__
from . import manifest as mf
from .features import SPLITS, features
from .scenarios import SCENARIOS, SCENARIOS_LIST, mask_variant_of, scenario_of
from .verify import verify_hub, verify_local

_CODE_HASH = hashlib.sha256(Path(__file__).read_bytes() + __version__.encode()).hexdigest()


class XImageNet12Config(datasets.BuilderConfig):
    """One config: its scenario (and mask variant, in its name: `seg_img@dilate3`), description and recipe."""

    def __init__(self, *, scenario: str, name: str | None = None, **kwargs: Any):
        spec = SCENARIOS[scenario]
        super().__init__(
            name=name or scenario, version=datasets.Version(__version__), description=spec.description, **kwargs
        )
        self.recipe = dict(spec.recipe)
        self.ranges = dict(spec.ranges)
        self.mode = spec.mode


def _hub_commit(repo_id: str, revision: str | None, token: Any) -> str:
    """The commit sha `revision` (default: main) of a Hub dataset repo points at now."""
    from huggingface_hub import HfApi

    return HfApi().dataset_info(repo_id, revision=revision, token=token).sha


class XImageNet12(datasets.ArrowBasedBuilder):
    """XImageNet-12 from a build folder or a Hub repo; configs are the scenarios."""

    BUILDER_CONFIG_CLASS = XImageNet12Config
    BUILDER_CONFIGS = [  # noqa: RUF012 (the datasets convention)
        XImageNet12Config(scenario=s.name) for s in SCENARIOS_LIST
    ]
    DEFAULT_CONFIG_NAME = "original"

    def __init__(self, *args: Any, revision: str | None = None, verify: bool = True, **kwargs: Any):
        data_dir, repo_id = kwargs.get("data_dir"), kwargs.get("repo_id")
        if (data_dir is None) == (repo_id is None):
            raise ValueError("give exactly one of data_dir= (a build folder) or repo_id= (a Hub dataset repo)")
        token = kwargs.get("token")
        self.verify = verify
        self.repo_id = repo_id
        self.commit = _hub_commit(repo_id, revision, token) if repo_id else None
        self.root = str(Path(data_dir).resolve()) if data_dir else f"hf://datasets/{repo_id}@{quote(self.commit)}"
        self.storage_options = {"token": token} if repo_id and token else {}
        self.manifest = self._read(mf.MANIFEST_NAME, mf.parse_manifest)
        data_hash = hashlib.sha256(json.dumps([_CODE_HASH, [f.sha256 for f in self.manifest.files]]).encode())
        kwargs.setdefault("dataset_name", "ximagenet12")
        kwargs.setdefault("hash", data_hash.hexdigest()[:16])
        super().__init__(*args, **kwargs)

    def _create_builder_config(
        self, config_name: str | None = None, custom_features: Any = None, config_id: str | None = None, **kwargs: Any
    ) -> tuple[datasets.BuilderConfig, str]:
        """The scenario's config, or for a mask-variant config (`seg_img@dilate3`) one made from its scenario's."""
        if isinstance(config_name, str) and mask_variant_of(config_name) and scenario_of(config_name) in SCENARIOS:
            config = XImageNet12Config(scenario=scenario_of(config_name), name=config_name)
            for key, value in kwargs.items():
                if value is not None:
                    setattr(config, key, value)
            return config, config_id or config_name
        return super()._create_builder_config(config_name, custom_features, config_id, **kwargs)

    def _read(self, name: str, parse: Any) -> Any:
        path = f"{self.root}/{name}"
        try:
            with fsspec.open(path, "rb", **self.storage_options) as f:
                return parse(f.read(), source=path)
        except FileNotFoundError:
            raise mf.ManifestError(f"{path}: missing; is this the output of `ximagenet12 build`?") from None

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description=self.config.description,
            features=features(self.manifest.class_names),
            homepage="https://arxiv.org/abs/2310.08182",
        )

    def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        name = self.config.name
        files = self.manifest.files_of(name)
        if not any(f.num_rows for f in files):
            raise ValueError(self._absent(name))
        if self.verify:
            if self.repo_id:
                verify_hub(self.repo_id, self.commit, files, token=self.storage_options.get("token"))
            else:
                verify_local(self.root, files)
        generators = []
        for split in SPLITS:
            urls = [f"{self.root}/{f.path}" for f in files if f.split == split]
            if urls:
                generators.append(datasets.SplitGenerator(name=split, gen_kwargs={"files": dl_manager.download(urls)}))
        return generators

    def _absent(self, name: str) -> str:
        """Why `name` has no rows: not planned in this build, or every source rejected for it (and why)."""
        built = self.manifest.built_configs()
        if name not in self.manifest.configs:
            return f"config {name!r} is not in this build; configs with rows: {built}"
        reasons = Counter(r for r in self._rejected_reasons() if r.startswith(f"{name}:"))
        why = "; ".join(f"{reason} ({n} sources)" for reason, n in reasons.most_common(3))
        return (
            f"config {name!r} has no rows in this build"
            + (f": {why}" if why else " (see rejected.jsonl)")
            + f"; configs with rows: {built}"
        )

    def _rejected_reasons(self) -> list[str]:
        def parse(data: bytes, source: str) -> list[str]:
            rows = [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
            return [str(r.get("reason", "")) for r in rows if isinstance(r, dict)]

        try:
            return self._read(mf.REJECTED_NAME, parse)
        except (mf.ManifestError, ValueError, OSError):
            return []

    def _generate_tables(self, files: list[str]):
        for shard, path in enumerate(files):
            with fsspec.open(path, "rb", **self.storage_options) as f:
                parquet = pq.ParquetFile(f)
                for group in range(parquet.num_row_groups):
                    # No Arrow threads on a Python (fsspec) file: they call back into it, and a test's streaming
                    # load from the Hub server once aborted that way ("terminate called", apache/arrow#34314).
                    yield Key(shard, group), parquet.read_row_group(group, use_threads=False)


def load(
    config: str = "original",
    split: str | None = None,
    *,
    data_dir: str | Path | None = None,
    repo_id: str | None = None,
    revision: str | None = None,
    streaming: bool = False,
    cache_dir: str | None = None,
    token: str | bool | None = None,
    verify: bool = True,
):
    """Load one scenario from a build folder or Hub repo: a Dataset, IterableDataset or dict of splits.

    Every shard is checked against its manifest sha256 first (once per file and change for local
    builds; by the Hub's LFS sha256 for repos); `verify=False` skips the check.
    """
    builder = XImageNet12(
        config_name=config,
        data_dir=str(data_dir) if data_dir is not None else None,
        repo_id=repo_id,
        revision=revision,
        cache_dir=cache_dir,
        token=token,
        verify=verify,
    )
    if streaming:
        return builder.as_streaming_dataset(split=split)
    builder.download_and_prepare()
    return builder.as_dataset(split=split)
