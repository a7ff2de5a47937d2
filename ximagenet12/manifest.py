"""A build folder's layout and its manifest (`build_manifest.json`), typed: the one reader every layer uses.

A build folder is a Hub dataset repo::

    README.md                 the card (YAML `configs:` and `dataset_info:`)
    build_manifest.json       this module's `Manifest`: classes, recipes, seed, versions, every file's sha256
    rejected.jsonl            every input or row left out, with file and reason
    assets/                   the card's pictures
    data/<config>/<split>-NNNNN-of-NNNNN.parquet
    .build/                   private resume state of `ximagenet12 build` (never published)
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path, PurePosixPath
from typing import Any

from .classes import ClassInfo
from .errors import XImageNet12Error
from .features import SPLITS

MANIFEST_NAME = "build_manifest.json"
REJECTED_NAME = "rejected.jsonl"
CARD_NAME = "README.md"
STATE_DIR = ".build"
DATA_DIR = "data"
ASSETS_DIR = "assets"
SHARD_NAME = re.compile(r"^(?P<split>[A-Za-z0-9_]+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.parquet$")


class ManifestError(XImageNet12Error, ValueError):
    """A manifest that is missing, unreadable or not what `ximagenet12 build` writes; names the file."""


def shard_path(config: str, split: str, index: int, count: int) -> str:
    """Where shard `index` of `count` of a config's split lives, relative to the build folder."""
    return f"{DATA_DIR}/{config}/{split}-{index:05d}-of-{count:05d}.parquet"


def split_pattern(config: str, split: str) -> str:
    """The data-files pattern of a config's split, as the card's `configs:` declares it."""
    return f"{DATA_DIR}/{config}/{split}-*.parquet"


def is_shard_path(path: str, configs: set[str] | None = None) -> bool:
    """Whether `path` is named like one of our shards (`data/<config>/<split>-NNNNN-of-NNNNN.parquet`)."""
    parts = PurePosixPath(path).parts
    if len(parts) != 3 or parts[0] != DATA_DIR or not SHARD_NAME.match(parts[2]):
        return False
    return configs is None or parts[1] in configs


@dataclass(frozen=True)
class FileEntry:
    """One finished shard: path relative to the build folder, config, split, rows, Arrow bytes, size, sha256."""

    path: str
    config: str
    split: str
    num_rows: int
    num_bytes: int
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SplitCounts:
    """Rows, Arrow bytes and file bytes of one config's split."""

    num_examples: int
    num_bytes: int
    download_size: int


@dataclass(frozen=True)
class ConfigEntry:
    """One config as built: the scenario's table entry and its per-split counts."""

    title: str
    description: str
    recipe: dict[str, Any]
    ranges: dict[str, Any]
    mode: str
    encoding: str
    family: str
    paper_column: str | None
    departs: str | None
    splits: dict[str, SplitCounts] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_rows(self) -> int:
        return sum(s.num_examples for s in self.splits.values())

    def split_names(self) -> list[str]:
        """Splits with counts, `train` and `test` first."""
        return [s for s in SPLITS if s in self.splits] + [s for s in self.splits if s not in SPLITS]

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("splits", "extra")}
        out["splits"] = {name: asdict(counts) for name, counts in self.splits.items()}
        return {**self.extra, **out}


_CONFIG_KEYS = {f.name for f in fields(ConfigEntry)} - {"extra"}


@dataclass(frozen=True)
class SourceCounts:
    """What a build read: annotated sources, background photos, generated images, and input files rejected."""

    annotated: int = 0
    background_photos: int = 0
    generated_images: int = 0
    rejected_files: int = 0
    greyscale_sources: int = 0
    background_classes: tuple[str, ...] = ()
    generation_models: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        for name in _SOURCE_LISTS:
            out[name] = list(out[name])
        return {**self.extra, **out}

    @classmethod
    def from_dict(cls, data: Any) -> SourceCounts:
        data = _dict(data, "sources")
        counts = {f.name for f in fields(cls)} - {"extra", *_SOURCE_LISTS}
        extra = {k: v for k, v in data.items() if k not in counts | set(_SOURCE_LISTS)}
        lists = {name: tuple(str(v) for v in _list(data.get(name, []), f"sources.{name}")) for name in _SOURCE_LISTS}
        return cls(**{k: int(data[k]) for k in counts if k in data}, **lists, extra=extra)


_SOURCE_LISTS = ("background_classes", "generation_models")


@dataclass(frozen=True)
class Manifest:
    """What a build made: classes, seed, recipes per config, sources counted, every file with its sha256.

    `not_built` maps each scenario the build has no rows of to why, in words for a newcomer.
    """

    seed: int
    classes: tuple[ClassInfo, ...]
    configs: dict[str, ConfigEntry]
    files: tuple[FileEntry, ...]
    versions: dict[str, str]
    split_rule: str
    encoding: dict[str, Any] = field(default_factory=dict)
    sources: SourceCounts = field(default_factory=SourceCounts)
    sources_per_shard: int | None = None
    num_shards: int | None = None
    block_sources: int | None = None  # partners and photos are drawn within blocks of this many sources
    name: str = "ximagenet12"
    not_built: dict[str, str] = field(default_factory=dict)
    pictures: dict[str, Any] = field(default_factory=dict)  # the sources the card's pictures show
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    @property
    def num_rows(self) -> int:
        return sum(c.num_rows for c in self.configs.values())

    def built_configs(self) -> list[str]:
        """Configs with at least one row, in the scenario table's order (unknown names after, as listed)."""
        from .scenarios import order_configs

        return order_configs(n for n, c in self.configs.items() if c.num_rows)

    def empty_configs(self) -> list[str]:
        """Configs that were planned but have no rows."""
        return [n for n, c in self.configs.items() if not c.num_rows]

    def files_of(self, config: str, split: str | None = None) -> list[FileEntry]:
        """The shards of a config (and split), sorted by path."""
        return sorted(
            (f for f in self.files if f.config == config and (split is None or f.split == split)),
            key=lambda f: f.path,
        )

    def data_files(self) -> dict[str, dict[str, list[str]]]:
        """config -> split -> data-file patterns, for every config with rows: what the card declares."""
        return {
            name: {split: [split_pattern(name, split)] for split in self.configs[name].split_names()}
            for name in self.built_configs()
        }

    def to_dict(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "seed": self.seed,
            "sources_per_shard": self.sources_per_shard,
            "num_shards": self.num_shards,
            "block_sources": self.block_sources,
            "encoding": self.encoding,
            "split_rule": self.split_rule,
            "classes": [c.to_dict() for c in self.classes],
            "sources": self.sources.to_dict(),
            "configs": {name: config.to_dict() for name, config in self.configs.items()},
            "files": [f.to_dict() for f in self.files],
            "versions": self.versions,
            "not_built": self.not_built,
            "pictures": self.pictures,
        }
        return {**self.extra, **out}

    @classmethod
    def from_dict(cls, data: Any, *, source: object = MANIFEST_NAME) -> Manifest:
        """Validate and type a manifest's JSON; `ManifestError` naming `source` and the fault otherwise."""
        if not isinstance(data, dict):
            raise ManifestError(f"{source}: not a build manifest (a JSON object), got {type(data).__name__}")
        required = ("seed", "classes", "configs", "files", "versions", "split_rule")
        missing = [k for k in required if k not in data]
        if missing:
            raise ManifestError(f"{source}: not a build manifest: missing {', '.join(missing)}")
        try:
            classes = tuple(
                ClassInfo(int(c["label"]), str(c["wnid"]), int(c["imagenet_index"]), str(c["name"]))
                for c in _list(data["classes"], "classes")
            )
            if [c.label for c in classes] != list(range(len(classes))):
                raise ManifestError(f"{source}: class labels must be 0..{len(classes) - 1} in order")
            configs = {str(name): _config(entry) for name, entry in _dict(data["configs"], "configs").items()}
            files = tuple(
                FileEntry(
                    str(f["path"]), str(f["config"]), str(f["split"]), int(f["num_rows"]),
                    int(f["num_bytes"]), int(f["size"]), str(f["sha256"]),
                )
                for f in _list(data["files"], "files")
            )
            known = {f.name for f in fields(cls)} - {"extra", "classes", "configs", "files", "sources"}
            scalars = {k: data[k] for k in known if k in data}
            scalars["sources"] = SourceCounts.from_dict(data.get("sources", {}))
            manifest = cls(
                classes=classes,
                configs=configs,
                files=files,
                extra={k: v for k, v in data.items() if k not in known | {"classes", "configs", "files", "sources"}},
                **scalars,
            )
        except ManifestError as exc:
            if str(exc).startswith(str(source)):
                raise
            raise ManifestError(f"{source}: not a build manifest: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(f"{source}: not a build manifest: {type(exc).__name__}: {exc}") from None
        if not isinstance(manifest.not_built, dict) or not isinstance(manifest.pictures, dict):
            raise ManifestError(f"{source}: not a build manifest: not_built and pictures must be objects")
        if not isinstance(manifest.seed, int) or not isinstance(manifest.versions, dict):
            raise ManifestError(f"{source}: not a build manifest: seed must be an integer and versions an object")
        unknown = sorted({f.config for f in manifest.files} - set(manifest.configs))
        if unknown:
            raise ManifestError(f"{source}: files of configs the manifest does not list: {unknown}")
        return manifest


def _list(value: Any, what: str) -> list:
    if not isinstance(value, list):
        raise ManifestError(f"'{what}' must be a list, got {type(value).__name__}")
    return value


def _dict(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise ManifestError(f"'{what}' must be an object, got {type(value).__name__}")
    return value


def _config(entry: Any) -> ConfigEntry:
    entry = _dict(entry, "configs.<name>")
    splits = {
        str(split): SplitCounts(int(c["num_examples"]), int(c["num_bytes"]), int(c["download_size"]))
        for split, c in _dict(entry.get("splits", {}), "splits").items()
    }
    values = {k: entry[k] for k in _CONFIG_KEYS - {"splits"} if k in entry}
    for key in ("recipe", "ranges"):
        values.setdefault(key, {})
    for key in ("paper_column", "departs"):
        values.setdefault(key, None)
    extra = {k: v for k, v in entry.items() if k not in _CONFIG_KEYS}
    return ConfigEntry(splits=splits, extra=extra, **values)


def config_entry(
    name: str, splits: dict[str, SplitCounts] | None = None, mask_variant: dict[str, Any] | None = None
) -> ConfigEntry:
    """A config's manifest entry from the scenario table, with its counts (and the mask variant it was built with)."""
    from .scenarios import SCENARIOS, scenario_of

    s = SCENARIOS[scenario_of(name)]
    extra = {"scenario": s.name, "mask_variant": mask_variant} if mask_variant else {}
    return ConfigEntry(
        title=f"{s.title}, masks {mask_variant['spec']}" if mask_variant else s.title,
        description=s.description,
        recipe=json.loads(json.dumps(s.recipe, sort_keys=True)),
        ranges=json.loads(json.dumps(s.ranges, sort_keys=True)),
        mode=s.mode,
        encoding=s.encoding,
        family=s.family,
        paper_column=s.paper_column,
        departs=s.departs,
        splits=dict(splits or {}),
        extra=extra,
    )


def parse_manifest(text: str | bytes, *, source: object = MANIFEST_NAME) -> Manifest:
    """A manifest from its JSON text."""
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{source}: not valid JSON ({exc})") from None
    return Manifest.from_dict(data, source=source)


def read_manifest(folder: str | Path) -> Manifest:
    """The manifest of a local build folder; `ManifestError` (one line, naming the file) if there is none."""
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(f"{path}: no build manifest; is {folder} the output of `ximagenet12 build`?")
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return parse_manifest(text, source=path)
