"""The `datasets` builder: one config per scenario, streaming the built Parquet shards as they are.

Reads a build folder (`data_dir=`) or a Hub dataset repo (`repo_id=`). Images are passed through
as stored bytes, never re-encoded, so rows equal `load_dataset(folder_or_repo, config)`'s.
"""

from __future__ import annotations

import hashlib
import json
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
from .scenarios import SCENARIOS_LIST

BATCH_ROWS = 64
_CODE_HASH = hashlib.sha256(Path(__file__).read_bytes() + __version__.encode()).hexdigest()


class XImageNet12Config(datasets.BuilderConfig):
    """One scenario: its name, description and recipe parameters."""

    def __init__(self, *, scenario: str, **kwargs: Any):
        spec = next(s for s in SCENARIOS_LIST if s.name == scenario)
        super().__init__(name=scenario, version=datasets.Version(__version__), description=spec.description, **kwargs)
        self.recipe = dict(spec.recipe)
        self.ranges = dict(spec.ranges)
        self.mode = spec.mode


def _hub_root(repo_id: str, revision: str | None) -> str:
    return f"hf://datasets/{repo_id}" + (f"@{quote(revision, safe='')}" if revision else "")


class XImageNet12(datasets.GeneratorBasedBuilder):
    """XImageNet-12 from a build folder or a Hub repo; configs are the scenarios."""

    BUILDER_CONFIG_CLASS = XImageNet12Config
    BUILDER_CONFIGS = [  # noqa: RUF012 (the datasets convention)
        XImageNet12Config(scenario=s.name) for s in SCENARIOS_LIST
    ]
    DEFAULT_CONFIG_NAME = "original"

    def __init__(self, *args: Any, revision: str | None = None, **kwargs: Any):
        data_dir, repo_id = kwargs.get("data_dir"), kwargs.get("repo_id")
        if (data_dir is None) == (repo_id is None):
            raise ValueError("give exactly one of data_dir= (a build folder) or repo_id= (a Hub dataset repo)")
        self.revision = revision
        self.root = str(Path(data_dir).resolve()) if data_dir else _hub_root(repo_id, revision)
        self.manifest = self._read_manifest(kwargs.get("token"))
        data_hash = hashlib.sha256(
            json.dumps([_CODE_HASH, [f.sha256 for f in self.manifest.files]]).encode()
        ).hexdigest()[:16]
        kwargs.setdefault("dataset_name", "ximagenet12")
        kwargs.setdefault("hash", data_hash)
        super().__init__(*args, **kwargs)

    def _read_manifest(self, token: Any) -> mf.Manifest:
        path = f"{self.root}/{mf.MANIFEST_NAME}"
        try:
            with fsspec.open(path, "rb", **({"token": token} if token and path.startswith("hf://") else {})) as f:
                return mf.parse_manifest(f.read(), source=path)
        except FileNotFoundError:
            raise mf.ManifestError(f"{path}: no build manifest; is this an `ximagenet12 build` output?") from None

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description=self.config.description,
            features=features(self.manifest.class_names),
            homepage="https://arxiv.org/abs/2310.08182",
        )

    def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        files = self.manifest.files_of(self.config.name)
        if not files:
            raise ValueError(
                f"config {self.config.name!r} is not in this build; built: {self.manifest.built_configs()}"
            )
        generators = []
        for split in SPLITS:
            urls = [f"{self.root}/{f.path}" for f in files if f.split == split]
            if urls:
                generators.append(datasets.SplitGenerator(name=split, gen_kwargs={"files": dl_manager.download(urls)}))
        return generators

    def _generate_examples(self, files: list[str]):
        for shard, path in enumerate(files):
            with fsspec.open(path, "rb") as f:
                parquet = pq.ParquetFile(f)
                index = 0
                for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
                    for row in batch.to_pylist():
                        yield Key(shard, index), row
                        index += 1


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
):
    """Load one scenario from a build folder or Hub repo: a Dataset, IterableDataset or dict of splits."""
    builder = XImageNet12(
        config_name=config,
        data_dir=str(data_dir) if data_dir is not None else None,
        repo_id=repo_id,
        revision=revision,
        cache_dir=cache_dir,
        token=token,
    )
    if streaming:
        return builder.as_streaming_dataset(split=split)
    builder.download_and_prepare()
    return builder.as_dataset(split=split)
