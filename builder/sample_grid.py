"""The card's pictures, read from a build's Parquet shards.

- `assets/sample_grid.png`: one source through every config of the build, one row per family of scenarios
  (the rows `ximagenet12 preview` draws), the original with its mask's outline.
- `assets/class_grid.png`: one source of every class as `original` and two headline scenarios.

Sources are picked the way `preview` picks: the object covering closest to a third of the image. A build
picks them from what its workers recorded of each source (`choose_pictures`) and keeps the picks in its
manifest; `pick_pictures` reads the same facts back from the shards of a folder whose manifest has none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyarrow.parquet as pq

from ximagenet12.features import split_of
from ximagenet12.imageio import ImageDecodeError, decode_any, encode_png
from ximagenet12.manifest import Manifest, shard_path
from ximagenet12.pictures import closest_to_a_third, family_rows, make_rows, outline, to_height
from ximagenet12.preview import FAMILIES, ORIGINAL_LABEL
from ximagenet12.provenance import write_atomic
from ximagenet12.scenarios import SCENARIOS

GRID_PATH = "assets/sample_grid.png"
CLASS_GRID_PATH = "assets/class_grid.png"
CLASS_GRID_CONFIGS = ("original", "rand_bg", "seg_img")
GRID_HEIGHT = 150
CLASS_GRID_HEIGHT = 120
# Shards are read in batches of rows through a buffer: a whole row group of images is up to 64 MB.
BATCH_ROWS = 32
READ_BUFFER_BYTES = 1 << 20


@dataclass(frozen=True)
class Pictures:
    """What the card's pictures show: the grid's source, and the class grid's configs and source per class."""

    source_id: str | None
    class_configs: tuple[str, ...] = ()
    class_sources: tuple[tuple[str, str], ...] = ()  # (wnid, source id), in label order
    shards: tuple[tuple[str, int], ...] = ()  # (source id, index of the shard holding its rows), where known

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_id": self.source_id,
            "class_configs": list(self.class_configs),
            "class_sources": [list(p) for p in self.class_sources],
            "shards": dict(self.shards),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Pictures:
        return cls(
            data.get("source_id"),
            tuple(data.get("class_configs", ())),
            tuple((str(w), str(s)) for w, s in data.get("class_sources", ())),
            tuple((str(s), int(i)) for s, i in sorted(data.get("shards", {}).items())),
        )


@dataclass(frozen=True)
class SourceFacts:
    """What the card's picks need of one built source: its class, object coverage, configs with a row, shard."""

    wnid: str
    coverage: float
    configs: frozenset[str]
    shard: int | None = None


def _files_by_config(manifest: Manifest) -> dict[str, list[str]]:
    files: dict[str, list[str]] = {}
    for f in sorted(manifest.files, key=lambda f: f.path):
        if f.num_rows:
            files.setdefault(f.config, []).append(f.path)
    return files


def _open(path: Path) -> pq.ParquetFile:
    """A shard read page by page, so that memory holds a batch of rows rather than a whole row group."""
    return pq.ParquetFile(path, buffer_size=READ_BUFFER_BYTES)


def _batches(out: Path, paths: list[str], columns: list[str]) -> Iterator[dict[str, list]]:
    """The columns of these files, a batch of rows at a time."""
    for path in paths:
        for batch in _open(Path(out) / path).iter_batches(batch_size=BATCH_ROWS, columns=columns):
            yield batch.to_pydict()


def _keeps_size(config: str) -> bool:
    """Whether a config's images and masks keep the source's size (all but those pasted onto another image)."""
    extra = SCENARIOS[config].extra if config in SCENARIOS else None
    return config in SCENARIOS and (extra is None or extra.origin == "partner")


def _mask_config(configs: list[str]) -> str | None:
    """A config whose masks are the sources' own, `original` first when built."""
    return next((c for c in configs if _keeps_size(c)), next(iter(configs), None))


def _coverage(out: Path, manifest: Manifest) -> dict[str, tuple[str, float]]:
    """source id -> (wnid, fraction of the image its object covers), from the masks of one config."""
    files = _files_by_config(manifest)
    config = _mask_config([c for c in manifest.built_configs() if c in files])
    found: dict[str, tuple[str, float]] = {}
    if config is None:
        return found
    for batch in _batches(out, files[config], ["source_id", "wnid", "mask"]):
        for sid, wnid, cell in zip(batch["source_id"], batch["wnid"], batch["mask"], strict=True):
            mask = cv2.imdecode(np.frombuffer(cell["bytes"], np.uint8), cv2.IMREAD_GRAYSCALE)
            if mask is not None and mask.size and sid not in found:
                found[sid] = (wnid, float(np.count_nonzero(mask)) / mask.size)
    return found


def read_facts(out: Path, manifest: Manifest) -> dict[str, SourceFacts]:
    """The facts of every source with a readable mask, read back from a build's shards."""
    files = _files_by_config(manifest)
    configs: dict[str, set[str]] = {}
    for config in manifest.built_configs():
        for batch in _batches(out, files.get(config, []), ["source_id"]):
            for sid in batch["source_id"]:
                configs.setdefault(sid, set()).add(config)
    return {
        sid: SourceFacts(wnid, fraction, frozenset(configs.get(sid, ())))
        for sid, (wnid, fraction) in _coverage(out, manifest).items()
    }


def choose_pictures(manifest: Manifest, facts: dict[str, SourceFacts]) -> Pictures:
    """The sources the card's pictures show (nothing for an empty build)."""
    configs = manifest.built_configs()
    seen = {sid: len(f.configs.intersection(configs)) for sid, f in facts.items()}
    if not any(seen.values()):
        return Pictures(None)
    most = max(seen.values())
    source = closest_to_a_third({sid: facts[sid].coverage for sid, n in seen.items() if n == most})
    class_configs = tuple(c for c in CLASS_GRID_CONFIGS if c in configs) or tuple(configs[:3])
    in_all = {sid for sid, f in facts.items() if f.configs.issuperset(class_configs)}
    per_class = []
    for cls in manifest.classes:
        pick = closest_to_a_third({sid: f.coverage for sid, f in facts.items() if f.wnid == cls.wnid and sid in in_all})
        if pick is not None:
            per_class.append((cls.wnid, pick))
    shown = {source, *(sid for _, sid in per_class)}
    shards = tuple(sorted((sid, facts[sid].shard) for sid in shown if facts[sid].shard is not None))
    return Pictures(source, class_configs, tuple(per_class), shards)


def pick_pictures(out: Path, manifest: Manifest) -> Pictures:
    """The manifest's picks, or else the picks made from the facts read back from the shards."""
    if manifest.pictures:
        return Pictures.from_dict(manifest.pictures)
    return choose_pictures(manifest, read_facts(out, manifest))


def _row(out: Path, paths: list[str], source_id: str) -> dict | None:
    """The row of `source_id` in these files (image and mask), reading one batch of rows' images at most."""
    for path in paths:
        parquet = _open(Path(out) / path)
        for group in range(parquet.num_row_groups):
            ids = parquet.read_row_group(group, columns=["source_id"]).column("source_id").to_pylist()
            if source_id not in ids:
                continue
            hit = ids.index(source_id)  # not `pc.index`: its `pa.scalar` imports pandas, a fifth of a second
            columns = ["image", "mask", "background_id"]
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS, row_groups=[group], columns=columns):
                if hit < batch.num_rows:
                    return batch.slice(hit, 1).to_pylist()[0]
                hit -= batch.num_rows
    return None


def _decoded(out: Path, paths: list[str], source_id: str) -> tuple[np.ndarray, np.ndarray, str | None] | None:
    """Image, mask and background id of `source_id`'s row in these files, or None if absent or undecodable."""
    row = _row(out, paths, source_id)
    if row is None:
        return None
    try:
        return decode_any(row["image"]["bytes"]), decode_any(row["mask"]["bytes"]), row["background_id"]
    except ImageDecodeError:
        return None


def _background_name(manifest: Manifest, background_id: str) -> str:
    """A partner's class name, or a background photo's file stem."""
    wnid = background_id.split("_")[0]
    return next((c.name for c in manifest.classes if c.wnid == wnid), background_id.rsplit("/", 1)[-1])


def _shard_files(manifest: Manifest, pictures: Pictures) -> dict[tuple[str, str], list[str]]:
    """(config, source id) -> the files that may hold the source's row: its shard's, when known, else all."""
    files = _files_by_config(manifest)
    shards = dict(pictures.shards) if manifest.num_shards else {}
    shown = {pictures.source_id, *(sid for _, sid in pictures.class_sources)} - {None}

    def where(config: str, sid: str, paths: list[str]) -> list[str]:
        if sid not in shards:
            return paths
        return [p for p in paths if p == shard_path(config, split_of(sid), shards[sid], manifest.num_shards)]

    return {(config, sid): where(config, sid, paths) for config, paths in files.items() for sid in shown}


def family_picture(out: Path, manifest: Manifest, pictures: Pictures) -> np.ndarray:
    """The picked source in every config that has it, one row per family, the original outlined by its mask."""
    files = _shard_files(manifest, pictures)
    source_id = pictures.source_id
    images: dict[str, np.ndarray] = {}
    labels: dict[str, str] = {}
    for config in manifest.built_configs():
        found = _decoded(out, files.get((config, source_id), []), source_id)
        if found is None:
            continue
        if config == "original":
            images[config], labels[config] = outline(found[0], found[1], height=GRID_HEIGHT), ORIGINAL_LABEL
            continue
        images[config] = to_height(found[0], GRID_HEIGHT)  # held at tile size, not the source's
        if found[2]:
            labels[config] = f"{config} + {_background_name(manifest, found[2])}"
    known = {name for _, names in FAMILIES for name in names}
    families = [*FAMILIES, ("Other", tuple(c for c in images if c not in known))]
    return make_rows(family_rows(families, images, labels), height=GRID_HEIGHT).pixels


def class_picture(out: Path, manifest: Manifest, pictures: Pictures) -> np.ndarray:
    """One row per class: its picked source as each of the class grid's configs."""
    files = _shard_files(manifest, pictures)
    names = {c.wnid: c.name for c in manifest.classes}
    rows = []
    for wnid, source_id in pictures.class_sources:
        tiles = []
        for config in pictures.class_configs:
            found = _decoded(out, files.get((config, source_id), []), source_id)
            if found is not None:
                tiles.append((config, to_height(found[0], CLASS_GRID_HEIGHT)))
        rows.append((names.get(wnid, wnid), tiles))
    return make_rows(rows, height=CLASS_GRID_HEIGHT).pixels


def write_pictures(out: Path, manifest: Manifest, pictures: Pictures) -> list[str]:
    """Draw the card's pictures into `assets/` (each written atomically); return the paths written.

    The two are drawn at once, in two threads: reading, decoding and PNG encoding release the GIL. They are
    encoded as the shards' colour PNGs are (`imageio.encode_png`): 3x faster than zlib's default level for a few
    percent more bytes.
    """
    drawings = []
    if pictures.source_id is not None:
        drawings.append((GRID_PATH, family_picture))
    if pictures.class_sources:
        drawings.append((CLASS_GRID_PATH, class_picture))

    def draw(drawing: tuple[str, Callable[[Path, Manifest, Pictures], np.ndarray]]) -> tuple[str, bytes]:
        path, picture = drawing
        return path, encode_png(picture(out, manifest, pictures))

    with ThreadPoolExecutor(max_workers=2) as pool:
        drawn = list(pool.map(draw, drawings))
    for path, data in drawn:
        write_atomic(Path(out) / path, data)
    return [path for path, _ in drawn]
