"""ImageNet-9's backgrounds challenge: each test foreground pasted onto many backgrounds, counted correct only
if the model is right on every one.

The definition is ImageNet-9's (Xiao et al., "Noise or Signal: The Role of Image Backgrounds in Object
Recognition", ICLR 2021), as its code runs it: github.com/MadryLab/backgrounds_challenge,
`challenge_eval.py` and `tools/model_utils.py:adv_bgs_eval_model` (commit 46d224b). There, a foreground
is "vulnerable" when the model's top-1 differs from its class on at least one background, composited as
`background * (1 - mask) + mask * foreground`, and the backgrounds are every `only_bg_t` image of the
test set; challenge accuracy = 1 - the vulnerable share (22.3% for the official ResNet-50).

Here each test foreground (the `original` row's image and mask) is pasted exactly as `mixed_*` rows are
made (`paste_object` onto `tile_background` of the partner, resized bilinearly to the foreground's size),
then preprocessed like any image. The backgrounds are the `only_bg_t` backgrounds of the split's other
sources: of other classes (`pool="other"`, the default) or of every source but the foreground's own
(`pool="all"`); N of them drawn per foreground with a generator seeded by (seed, source id), or all
when N is 0.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
from PIL import Image

from .. import imageio
from ..errors import XImageNet12Error
from ..scenarios import functional as F
from .loader import ahead
from .preprocessing import Preprocessing, resize_crop
from .source import BuildSource

POOLS = ("other", "all")
REFERENCE_CONFIG = "original"
SCHEMA = pa.schema(
    [
        ("source_id", pa.string()),
        ("background_id", pa.string()),
        ("label", pa.int16()),
        ("background_label", pa.int16()),
        ("prediction", pa.int16()),
        ("correct", pa.bool_()),
    ]
)
DEFINITION = (
    "a foreground counts as correct only if the model's top-1 is its class on every background tried; "
    "challenge accuracy = correct foregrounds / foregrounds (ImageNet-9's backgrounds challenge)"
)
REFERENCE = (
    "Xiao et al., ICLR 2021; github.com/MadryLab/backgrounds_challenge challenge_eval.py and "
    "tools/model_utils.py:adv_bgs_eval_model (commit 46d224b)"
)


@dataclass(frozen=True)
class ChallengeOptions:
    """N backgrounds per foreground (0: all), the seed of the draws, and which sources may serve."""

    backgrounds: int = 0
    seed: int = 0
    pool: str = "other"

    def __post_init__(self) -> None:
        if self.backgrounds < 0:
            raise ValueError(f"--challenge-backgrounds must be 0 (all) or more, not {self.backgrounds}")
        if self.pool not in POOLS:
            raise ValueError(f"challenge pool must be one of {POOLS}, not {self.pool!r}")

    def to_dict(self) -> dict:
        """JSON-ready record, with what the pool means."""
        pools = {"other": "backgrounds of other classes", "all": "every other source's background (any class)"}
        return {**asdict(self), "pool_rule": pools[self.pool], "per_foreground_seed": "sha256(seed, source_id)"}


@dataclass(frozen=True)
class Item:
    """One source of the split: its `original` image and mask (encoded), label and whether its background tiles."""

    source_id: str
    label: int
    image: bytes
    mask: bytes
    tiles: bool


def read_items(source: BuildSource, split: str) -> list[Item]:
    """The split's `original` rows, sorted by source id (so draws do not depend on shard order)."""
    if REFERENCE_CONFIG not in source.configs or split not in source.splits(REFERENCE_CONFIG):
        raise XImageNet12Error(f"the backgrounds challenge needs the {REFERENCE_CONFIG!r} config's {split!r} split, "
                         f"which {source.location} does not have")
    items = []
    for path in source.files(REFERENCE_CONFIG, split):
        with source.parquet(path) as parquet:
            table = parquet.read(columns=["source_id", "label", "image", "mask"])
        images = table.column("image").combine_chunks().field("bytes").to_pylist()
        masks = table.column("mask").combine_chunks().field("bytes").to_pylist()
        for source_id, label, image, mask in zip(
            table.column("source_id").to_pylist(), table.column("label").to_pylist(), images, masks, strict=True
        ):
            items.append(Item(source_id, int(label), image, mask, _tiles(decode_mask(mask))))
    return sorted(items, key=lambda item: item.source_id)


def decode_mask(data: bytes) -> np.ndarray:
    """A stored 0/255 mask."""
    mask = imageio.decode_any(data)
    return mask if mask.ndim == 2 else mask[..., 0]


def _tiles(mask: np.ndarray) -> bool:
    """Whether `tile_background` can fill the object's box (some background lies beside it)."""
    top, bottom, left, right = F.object_box(mask)
    height, width = mask.shape
    return top > 0 or left > 0 or bottom < height or right < width


def item_seed(seed: int, source_id: str) -> int:
    """A 63-bit seed from (run seed, source id)."""
    key = f"{seed}\x1f{source_id}\x1fchallenge".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") >> 1


def plan_pairs(items: list[Item], options: ChallengeOptions) -> list[np.ndarray]:
    """For each foreground, the indices of its backgrounds (sorted); the draws depend on ids, not on list order."""
    labels = np.asarray([item.label for item in items])
    usable = np.asarray([item.tiles for item in items], dtype=bool)
    by_id = np.argsort(np.asarray([item.source_id for item in items], dtype=object), kind="stable")
    plan = []
    for i, item in enumerate(items):
        allowed = usable & (labels != item.label) if options.pool == "other" else usable.copy()
        allowed[i] = False
        candidates = by_id[allowed[by_id]]
        if options.backgrounds and options.backgrounds < len(candidates):
            rng = np.random.default_rng(item_seed(options.seed, item.source_id))
            candidates = rng.choice(candidates, options.backgrounds, replace=False)
        plan.append(np.sort(candidates))
    return plan


def background(item: Item) -> np.ndarray:
    """The item's `only_bg_t` background: the object's box filled by tiling the largest strip beside it."""
    return F.tile_background(imageio.decode_rgb(item.image).rgb, decode_mask(item.mask))


def paste(foreground: np.ndarray, mask: np.ndarray, tile: np.ndarray) -> np.ndarray:
    """The foreground pasted by its mask onto the tile resized to its size, as `mixed_*` rows are made."""
    return F.paste_object(foreground, mask, tile)


@dataclass
class PairBatch:
    """Preprocessed pasted images with their foreground and background indices."""

    foregrounds: np.ndarray
    backgrounds: np.ndarray
    images: np.ndarray


def pasted_batches(
    items: list[Item],
    plan: list[np.ndarray],
    pre: Preprocessing,
    *,
    batch_size: int = 64,
    workers: int | None = None,
    block: int = 128,
    transform: Any = None,
) -> Iterator[tuple[PairBatch, Any]]:
    """(batch, transform(batch.images)) over every planned pair, made ahead on a background thread.

    Foregrounds and backgrounds are decoded a block at a time, so memory holds at most two blocks of
    decoded images whatever N is, and each background is decoded once per block of foregrounds.
    """

    def produce(pool: ThreadPoolExecutor) -> Iterator[tuple[PairBatch, Any]]:
        for start in range(0, len(items), block):
            fg_index = range(start, min(start + block, len(items)))
            decoded = dict(zip(fg_index, pool.map(_foreground, (items[i] for i in fg_index)), strict=True))
            wanted = sorted({int(j) for i in fg_index for j in plan[i]})
            for bg_start in range(0, len(wanted), block):
                bg_block = wanted[bg_start : bg_start + block]
                tiles = dict(zip(bg_block, pool.map(background, (items[j] for j in bg_block)), strict=True))
                members = set(bg_block)
                pairs = [(i, int(j)) for i in fg_index for j in plan[i] if int(j) in members]
                make = partial(_pair_image, foregrounds=decoded, tiles=tiles, pre=pre)
                for first in range(0, len(pairs), batch_size):
                    chunk = pairs[first : first + batch_size]
                    images = np.stack(list(pool.map(make, chunk)))
                    batch = PairBatch(np.asarray([p[0] for p in chunk]), np.asarray([p[1] for p in chunk]), images)
                    yield batch, transform(images) if transform else None

    return ahead(produce, workers=workers, name="challenge")


def _pair_image(pair: tuple[int, int], *, foregrounds: dict, tiles: dict, pre: Preprocessing) -> np.ndarray:
    """One pasted pair, preprocessed."""
    image, mask = foregrounds[pair[0]]
    return resize_crop(Image.fromarray(paste(image, mask, tiles[pair[1]])), pre)


def _foreground(item: Item) -> tuple[np.ndarray, np.ndarray]:
    """Decoded image and mask of a foreground."""
    return imageio.decode_rgb(item.image).rgb, decode_mask(item.mask)


def pairs_table(items: list[Item], batches: list[tuple[PairBatch, dict]]) -> pa.Table:
    """Every pair's prediction in SCHEMA, sorted by (source id, background id)."""
    if not batches:
        return SCHEMA.empty_table()
    fg = np.concatenate([b.foregrounds for b, _ in batches])
    bg = np.concatenate([b.backgrounds for b, _ in batches])
    prediction = np.concatenate([m["prediction"] for _, m in batches])
    correct = np.concatenate([m["correct"] for _, m in batches])
    order = np.lexsort((bg, fg))  # items are sorted by id, so index order is id order
    ids = np.asarray([item.source_id for item in items], dtype=object)
    labels = np.asarray([item.label for item in items], dtype=np.int16)
    fg, bg = fg[order], bg[order]
    return pa.table(
        {
            "source_id": pa.array(ids[fg].tolist(), pa.string()),
            "background_id": pa.array(ids[bg].tolist(), pa.string()),
            "label": pa.array(labels[fg]),
            "background_label": pa.array(labels[bg]),
            "prediction": pa.array(prediction[order].astype(np.int16)),
            "correct": pa.array(correct[order].astype(bool)),
        },
        schema=SCHEMA,
    )
