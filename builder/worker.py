"""Building one shard: decode each source once, run every planned scenario, stream rows to writers."""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ximagenet12 import imageio
from ximagenet12 import manifest as mf
from ximagenet12.errors import named_once
from ximagenet12.masks import MaskError, check_mask, coco_index, load_mask, mask_from_coco, same_mask
from ximagenet12.masks.variants import parse_variant
from ximagenet12.scenarios import SCENARIOS, apply, scenario_of
from ximagenet12.scenarios.functional import sharing

from .plan import Row, SourcePlan
from .shards import ParquetFormat, ShardWriter, flush_over_budget, new_attempt, partial_path
from .sources import Background, Rejected, Source

Progress = Callable[[dict[str, int]], None]


@dataclass
class ShardJob:
    """One shard of the plan, as sent to a worker."""

    index: int
    num_shards: int
    items: list[SourcePlan]
    out_dir: str
    fingerprint: str
    parquet: ParquetFormat
    jpeg_quality: int = imageio.JPEG_QUALITY
    photos: tuple[Background, ...] = ()  # background photos to check, used by a row or not (plan.photo_checks)

    def relpath(self, config: str, split: str) -> str:
        return mf.shard_path(config, split, self.index, self.num_shards)


@dataclass
class ShardResult:
    """What a worker wrote for one shard and what it had to leave out."""

    index: int
    fingerprint: str
    files: list[mf.FileEntry] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    greyscale: list[str] = field(default_factory=list)  # ids of sources whose pixels carry no colour
    # [source id, wnid, fraction of the image its object covers, configs with a row]: what the card's picks need
    sources: list[list] = field(default_factory=list)


@dataclass(frozen=True)
class Loaded:
    """A decoded source: RGB pixels (EXIF orientation applied), 0/255 mask, the file's bytes and how it was read."""

    data: bytes
    rgb: np.ndarray
    mask: np.ndarray
    note: str | None
    orientation: int = 1
    greyscale: bool = False

    @property
    def nbytes(self) -> int:
        return len(self.data) + self.rgb.nbytes + self.mask.nbytes


# Holds a pairing block (plan.BLOCK_SOURCES) of 500x375 sources with their photos, about 38 MB.
CACHE_BYTES = 48 << 20
FAILED_BYTES = 1 << 10  # what a remembered decoding error counts for in the cache


def _signature(*paths: str) -> tuple | None:
    """What tells a file changed since it was decoded: size, modification time and inode of each."""
    out = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            return None
        out.append((st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(out)


class SourceLoader:
    """Reads sources, partners and background photos, keeping the most recent in at most `capacity` bytes.

    An entry is used only while its files keep their size, time and inode, so one loader can serve every
    shard job a process runs, across builds. `decodes` counts the images and masks actually decoded.
    """

    def __init__(self, capacity: int = CACHE_BYTES):
        self._cache: OrderedDict[tuple[str, str], tuple[tuple | None, Any]] = OrderedDict()
        self._sizes: dict[tuple[str, str], int] = {}
        self._total = 0
        self._coco: dict[str, tuple[tuple | None, dict | MaskError]] = {}
        self.capacity = capacity
        self.decodes = 0

    def _load(self, key: tuple[str, str], signature: tuple | None, decode: Callable[[], tuple[Any, int]]) -> Any:
        """The cached value of `key` while its files are unchanged, else `decode()`'s (value, bytes), remembered.

        A file that cannot be decoded is remembered too, and its error raised again: a bad partner or photo
        is a candidate of many rows, and is read once. Errors of the file's access (OSError) are not kept.
        """
        entry = self._cache.get(key)
        if entry is not None and signature is not None and entry[0] == signature:
            self._cache.move_to_end(key)
            if isinstance(entry[1], ValueError):
                raise entry[1].with_traceback(None)
            return entry[1]
        self.decodes += 1
        try:
            value, size = decode()
        except ValueError as exc:  # ImageDecodeError, MaskError
            self._remember(key, signature, exc, FAILED_BYTES)
            raise
        return self._remember(key, signature, value, size)

    def _remember(self, key: tuple[str, str], signature: tuple | None, value: Any, size: int) -> Any:
        if key in self._cache:
            self._total -= self._sizes[key]
        self._cache[key] = (signature, value)
        self._sizes[key] = size
        self._total += size
        self._cache.move_to_end(key)
        while self._total > self.capacity and len(self._cache) > 1:
            old, _ = self._cache.popitem(last=False)
            self._total -= self._sizes.pop(old)
        return value

    def _coco_entry(self, source: Source):
        signature = _signature(source.mask)
        known = self._coco.get(source.mask)
        if known is None or known[0] != signature or signature is None:
            try:
                known = (signature, coco_index(source.mask))
            except MaskError as exc:
                known = (signature, exc)
            self._coco[source.mask] = known
        index = known[1]
        if isinstance(index, MaskError):
            raise index
        entry = index.get(source.mask_key)
        if entry is None:
            raise MaskError(f"{source.mask}: no image {source.mask_key!r}")
        return entry

    def source(self, source: Source) -> Loaded:
        """Decode a source and its mask; raises ImageDecodeError or MaskError naming the file."""
        return self._load(("source", source.image), _signature(source.image, source.mask), lambda: self._read(source))

    def _read(self, source: Source) -> tuple[Loaded, int]:
        data = imageio.read_bytes(source.image)
        decoded = imageio.decode_rgb(data, source=source.image)
        shape = decoded.rgb.shape
        if source.mask_kind == "coco":
            entry = self._coco_entry(source)
            if (entry.height, entry.width) != shape[:2]:
                raise MaskError(
                    f"{source.mask}: {source.mask_key} is declared {entry.height}x{entry.width}, "
                    f"the image is {shape[0]}x{shape[1]} (height x width)"
                )
            mask = mask_from_coco(entry.annotations, entry.height, entry.width, source=source.mask)
        else:
            mask = load_mask(source.mask, expected_shape=shape)
        mask = check_mask(mask, shape, source=source.mask)
        loaded = Loaded(data, decoded.rgb, mask, decoded.note, decoded.orientation, decoded.greyscale)
        return loaded, loaded.nbytes

    def photo(self, path: str) -> np.ndarray:
        """Decode a background photo or generated image to RGB; ImageDecodeError names the file."""

        def read() -> tuple[np.ndarray, int]:
            rgb = imageio.read_rgb(path).rgb
            return rgb, rgb.nbytes

        return self._load(("photo", path), _signature(path), read)


def _image_cell(data: bytes, name: str) -> dict[str, Any]:
    return {"bytes": data, "path": name}


def _encode(scenario: str, image: np.ndarray, quality: int) -> tuple[bytes, str]:
    if SCENARIOS[scenario].encoding == "png" or image.shape[-1] == 4:
        return imageio.encode_png(image), "png"
    return imageio.encode_jpeg(image, quality), "jpg"


GREYSCALE_NOTE = "the source has no colour, so this scenario leaves it unchanged"


def _source_params(config: str, src: Loaded) -> dict[str, Any]:
    """What a row records about how its source was read."""
    out: dict[str, Any] = {}
    if src.note:
        out["source_note"] = src.note
    if src.orientation != 1:
        out["exif_orientation"] = src.orientation
    if src.greyscale and SCENARIOS[scenario_of(config)].colour_only:
        out["greyscale_source"] = GREYSCALE_NOTE
    return out


def _row_params(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


class NoCandidate(ValueError):
    """None of a row's photos or partners could be used."""


def _paired(row: Row, loader: SourceLoader, bad: list[Rejected]) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """The first usable candidate of a paired row: apply() arguments, its id and what the row records of it."""
    for partner in row.partners:
        try:
            other = loader.source(partner)
        except (ValueError, OSError):
            continue  # reported under its own name by the shard that builds it as a source
        mask = parse_variant(row.mask_variant)(other.mask) if row.mask_variant else other.mask
        if mask.any() and not mask.all():
            return {"background": other.rgb, "background_mask": mask}, partner.id, {"partner_class": partner.wnid}
    for photo in row.backgrounds:
        try:
            rgb = loader.photo(photo.path)
        except (ValueError, OSError) as exc:
            bad.append(Rejected(photo.path, str(exc), "decode"))
            continue
        recorded: dict[str, Any] = {"background_origin": photo.origin or photo.id}
        if photo.wnid:
            recorded["background_wnid"] = photo.wnid
        if photo.record is not None:
            recorded["generation"] = json.loads(photo.record)
        return {"background": rgb}, photo.id, recorded
    what = "partner sources" if row.partners else "images"
    count = len(row.partners) + len(row.backgrounds)
    raise NoCandidate(f"none of the {count} candidate {what} could be used (see their own entries)")


class SourceMasks:
    """A source's mask and its mask variants, each computed and PNG-encoded once."""

    def __init__(self, mask: np.ndarray):
        self._masks: dict[str | None, np.ndarray] = {None: mask}
        self._png: dict[str | None, bytes] = {}

    def mask(self, variant: str | None) -> np.ndarray:
        if variant not in self._masks:
            self._masks[variant] = parse_variant(variant)(self._masks[None])
        return self._masks[variant]

    def png(self, variant: str | None) -> bytes:
        if variant not in self._png:
            self._png[variant] = imageio.encode_png(self.mask(variant))
        return self._png[variant]


def _scenario_row(
    item: SourcePlan, row: Row, src: Loaded, loader: SourceLoader, quality: int, masks: SourceMasks,
    bad: list[Rejected],
) -> dict:
    source = item.source
    mask = masks.mask(row.mask_variant)
    mask_png = masks.png(row.mask_variant)
    background_id = None
    recorded: dict[str, Any] = dict(row.params)
    if row.config == "original" and src.orientation == 1:
        image_cell = _image_cell(src.data, f"{source.id}{Path(source.image).suffix.lower()}")
        out_mask, params = src.mask, {"seed": row.seed}
    elif row.config == "original":
        # The file's pixels are stored turned; its bytes would show them turned back by any reader that
        # ignores EXIF. The pixels as displayed are stored losslessly instead (PNG).
        image_cell = _image_cell(imageio.encode_png(src.rgb), f"{source.id}.png")
        out_mask, params = src.mask, {"seed": row.seed, "original_encoding": "png of the EXIF-oriented pixels"}
    else:
        kwargs: dict[str, Any] = {}
        if row.partners or row.backgrounds:
            kwargs, background_id, of_candidate = _paired(row, loader, bad)
            recorded.update(of_candidate)
        out_image, out_mask, params = apply(scenario_of(row.config), src.rgb, mask, seed=row.seed, copy=False, **kwargs)
        data, ext = _encode(scenario_of(row.config), out_image, quality)
        image_cell = _image_cell(data, f"{source.id}.{ext}")
    if out_mask is not mask and not same_mask(out_mask, mask):
        mask_png = imageio.encode_png(out_mask)
    return {
        "image": image_cell,
        "mask": _image_cell(mask_png, f"{source.id}.mask.png"),
        "label": item.label,
        "wnid": source.wnid,
        "source_id": source.id,
        "scenario": row.config,
        "background_id": background_id,
        "params": _row_params({**params, **recorded, **_source_params(row.config, src)}),
        "fold": item.fold,
    }


def _scenario_reason(config: str, exc: Exception) -> str:
    """`config: message`, the config once: a ScenarioError's own text may already start with `config: `."""
    return named_once(config, str(exc))


def build_shard(job: ShardJob, progress: Progress | None = None) -> ShardResult:
    """Write every row of one shard; bad sources and rows are rejected, the rest goes on."""
    out_dir = Path(job.out_dir)
    loader = _process_loader()
    result = ShardResult(job.index, job.fingerprint)
    writers: dict[tuple[str, str], ShardWriter] = {}
    attempt = new_attempt()
    try:
        for item in job.items:
            done: dict[str, int] = {}
            try:
                src = loader.source(item.source)
            except MaskError as exc:
                result.rejected.append(Rejected(item.source.mask, str(exc), "mask"))
                _report(progress, {"rejected": len(item.rows)})
                continue
            except imageio.ImageDecodeError as exc:
                result.rejected.append(Rejected(item.source.image, str(exc), "decode"))
                _report(progress, {"rejected": len(item.rows)})
                continue
            if src.greyscale:
                result.greyscale.append(item.source.id)
            masks = SourceMasks(src.mask)
            with sharing():  # one blur, one HSV conversion, one brightened image for all the source's rows
                for row in item.rows:
                    try:
                        record = _scenario_row(item, row, src, loader, job.jpeg_quality, masks, result.rejected)
                    except (NoCandidate, ValueError) as exc:  # ScenarioError, encoding failures
                        reason = _scenario_reason(row.config, exc)
                        result.rejected.append(Rejected(item.source.image, reason, "scenario"))
                        done["rejected"] = done.get("rejected", 0) + 1
                        continue
                    key = (row.config, item.split)
                    if key not in writers:
                        writers[key] = ShardWriter(
                            out_dir, job.relpath(*key), row.config, item.split, job.parquet, attempt
                        )
                    writers[key].add(record)
                    flush_over_budget(writers.values())
                    done[row.config] = done.get(row.config, 0) + 1
            built = sorted(c for c in done if c != "rejected")
            if built:
                coverage = np.count_nonzero(src.mask) / src.mask.size
                result.sources.append([item.source.id, item.source.wnid, float(coverage), built])
            _report(progress, done)
        for photo in job.photos:
            try:
                loader.photo(photo.path)  # usually cached: a row of the shard has used it
            except (ValueError, OSError) as exc:
                result.rejected.append(Rejected(photo.path, str(exc), "decode"))
        result.files = [writers[key].close() for key in sorted(writers)]
        unique = {(r.file, r.reason, r.stage): r for r in result.rejected}
        result.rejected = sorted(unique.values(), key=lambda r: (r.file, r.reason, r.stage))
    except BaseException:
        for writer in writers.values():
            writer.abort()
        _drop_partials(out_dir, job, attempt)
        raise
    return result


def _drop_partials(out_dir: Path, job: ShardJob, attempt: str) -> None:
    """Remove this attempt's partial files that no writer holds: a Ctrl-C can land while a writer opens its file."""
    for config, split in {(row.config, item.split) for item in job.items for row in item.rows}:
        partial_path(out_dir / job.relpath(config, split), attempt).unlink(missing_ok=True)


_LOADER: SourceLoader | None = None


def _process_loader() -> SourceLoader:
    """The loader every shard job of this process shares: a partner decoded for one shard serves the next."""
    global _LOADER
    if _LOADER is None:
        _LOADER = SourceLoader()
    return _LOADER


def release_loader() -> None:
    """Drop the process's loader and the decoded images it holds (up to CACHE_BYTES), once no shard job is left."""
    global _LOADER
    _LOADER = None


def _report(progress: Progress | None, done: dict[str, int]) -> None:
    if progress is not None:
        progress(done)
