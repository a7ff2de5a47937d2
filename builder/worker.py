"""Building one shard: decode each source once, run every planned scenario, stream rows to writers."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ximagenet12 import imageio
from ximagenet12 import manifest as mf
from ximagenet12.features import features
from ximagenet12.masks import MaskError, check_mask, coco_index, load_mask, mask_from_coco
from ximagenet12.scenarios import SCENARIOS, ScenarioError, apply

from .plan import Row, SourcePlan
from .shards import ShardWriter
from .sources import Rejected, Source

Progress = Callable[[dict[str, int]], None]


@dataclass
class ShardJob:
    """One shard of the plan, as sent to a worker."""

    index: int
    num_shards: int
    items: list[SourcePlan]
    class_names: list[str]
    out_dir: str
    fingerprint: str
    jpeg_quality: int = imageio.JPEG_QUALITY

    def relpath(self, config: str, split: str) -> str:
        return mf.shard_path(config, split, self.index, self.num_shards)


@dataclass
class ShardResult:
    """What a worker wrote for one shard and what it had to leave out."""

    index: int
    fingerprint: str
    files: list[mf.FileEntry] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


@dataclass(frozen=True)
class Loaded:
    """A decoded source: RGB pixels, 0/255 mask, the file's bytes and any conversion note."""

    data: bytes
    rgb: np.ndarray
    mask: np.ndarray
    note: str | None


class SourceLoader:
    """Reads sources, partners and background photos, keeping the last few decoded."""

    def __init__(self, capacity: int = 32):
        self._cache: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._coco: dict[str, dict] = {}
        self.capacity = capacity

    def _cached(self, key: tuple[str, str]) -> Any:
        value = self._cache.get(key)
        if value is not None:
            self._cache.move_to_end(key)
        return value

    def _remember(self, key: tuple[str, str], value: Any) -> Any:
        self._cache[key] = value
        if len(self._cache) > self.capacity:
            self._cache.popitem(last=False)
        return value

    def source(self, source: Source) -> Loaded:
        """Decode a source and its mask; raises ImageDecodeError or MaskError naming the file."""
        cached = self._cached(("source", source.image))
        if cached is not None:
            return cached
        data = Path(source.image).read_bytes()
        decoded = imageio.decode_rgb(data, source=source.image)
        shape = decoded.rgb.shape
        if source.mask_kind == "coco":
            if source.mask not in self._coco:
                self._coco[source.mask] = coco_index(source.mask)
            entry = self._coco[source.mask].get(source.mask_key)
            if entry is None:
                raise MaskError(f"{source.mask}: no image {source.mask_key!r}")
            mask = mask_from_coco(entry.annotations, entry.height, entry.width, source=source.mask)
        else:
            mask = load_mask(source.mask, expected_shape=shape)
        mask = check_mask(mask, shape, source=source.mask)
        return self._remember(("source", source.image), Loaded(data, decoded.rgb, mask, decoded.note))

    def photo(self, path: str) -> np.ndarray:
        """Decode a background photo or generated image to RGB."""
        cached = self._cached(("photo", path))
        if cached is not None:
            return cached
        return self._remember(("photo", path), imageio.read_rgb(path).rgb)


def _image_cell(data: bytes, name: str) -> dict[str, Any]:
    return {"bytes": data, "path": name}


def _encode(scenario: str, image: np.ndarray, quality: int) -> tuple[bytes, str]:
    if SCENARIOS[scenario].encoding == "png" or image.shape[-1] == 4:
        return imageio.encode_png(image), "png"
    return imageio.encode_jpeg(image, quality), "jpg"


def _row_params(params: dict[str, Any], note: str | None) -> str:
    if note:
        params = {**params, "source_note": note}
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


def _scenario_row(item: SourcePlan, row: Row, src: Loaded, loader: SourceLoader, quality: int, mask_png: bytes) -> dict:
    source = item.source
    if row.config == "original":
        image_cell = _image_cell(src.data, f"{source.id}{Path(source.image).suffix.lower()}")
        out_mask, params = src.mask, {"seed": row.seed}
    else:
        kwargs: dict[str, Any] = {}
        if row.partner is not None:
            partner = loader.source(row.partner)
            kwargs = {"background": partner.rgb, "background_mask": partner.mask}
        elif row.background is not None:
            kwargs = {"background": loader.photo(row.background.path)}
        out_image, out_mask, params = apply(row.config, src.rgb, src.mask, seed=row.seed, **kwargs)
        data, ext = _encode(row.config, out_image, quality)
        image_cell = _image_cell(data, f"{source.id}.{ext}")
    if out_mask is not src.mask and not np.array_equal(out_mask, src.mask):
        mask_png = imageio.encode_png(out_mask)
    return {
        "image": image_cell,
        "mask": _image_cell(mask_png, f"{source.id}.mask.png"),
        "label": item.label,
        "wnid": source.wnid,
        "source_id": source.id,
        "scenario": row.config,
        "background_id": row.background_id,
        "params": _row_params(params, src.note),
        "fold": item.fold,
    }


def build_shard(job: ShardJob, progress: Progress | None = None) -> ShardResult:
    """Write every row of one shard; bad sources and rows are rejected, the rest goes on."""
    out_dir = Path(job.out_dir)
    feats = features(job.class_names)
    loader = SourceLoader()
    result = ShardResult(job.index, job.fingerprint)
    writers: dict[tuple[str, str], ShardWriter] = {}
    try:
        for item in job.items:
            done: dict[str, int] = {}
            try:
                src = loader.source(item.source)
            except MaskError as exc:
                result.rejected.append(Rejected(item.source.mask, str(exc), "mask"))
                _report(progress, {"rejected": len(item.rows)})
                continue
            except (OSError, ValueError) as exc:
                result.rejected.append(Rejected(item.source.image, str(exc), "decode"))
                _report(progress, {"rejected": len(item.rows)})
                continue
            mask_png = imageio.encode_png(src.mask)
            for row in item.rows:
                try:
                    record = _scenario_row(item, row, src, loader, job.jpeg_quality, mask_png)
                except (OSError, ValueError, ScenarioError) as exc:
                    result.rejected.append(Rejected(item.source.image, f"{row.config}: {exc}", "scenario"))
                    done["rejected"] = done.get("rejected", 0) + 1
                    continue
                key = (row.config, item.split)
                if key not in writers:
                    writers[key] = ShardWriter(out_dir, job.relpath(*key), row.config, item.split, feats)
                writers[key].add(record)
                done[row.config] = done.get(row.config, 0) + 1
            _report(progress, done)
        result.files = [writers[key].close() for key in sorted(writers)]
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
    return result


def _report(progress: Progress | None, done: dict[str, int]) -> None:
    if progress is not None:
        progress(done)
