"""Attributions on the model's input carried back to the stored image's pixels through the exact resize and crop.

The model sees a `crop` x `crop` window of the stored image resized by `Preprocessing` (shorter side or
squash, Pillow's geometry: output pixel i of a resize from n to m pixels covers the input interval
[i * n/m, (i + 1) * n/m)). Each model-input pixel's attribution is spread over the stored pixels its
footprint covers, in proportion to the overlap, so the total attribution is kept. Stored pixels the
crop never covers are marked unseen: the model had no chance to attribute anything to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..preprocessing import Preprocessing, crop_box, resized_size


@dataclass(frozen=True)
class StoredMap:
    """Attribution per stored pixel (H x W) and which stored pixels the model's crop covered."""

    relevance: np.ndarray
    seen: np.ndarray


@lru_cache(maxsize=64)
def transfer(stored: int, resized: int, offset: int, crop: int) -> tuple[np.ndarray, np.ndarray]:
    """Along one axis: the (stored x crop) matrix of each crop pixel's share per stored pixel, and the seen flags.

    Crop pixel i covers resized [offset + i, offset + i + 1), that is stored [(offset + i) s, (offset + i + 1) s)
    with s = stored / resized; its share of stored pixel x is the overlap of [x, x + 1) with that interval
    divided by s, so every column sums to 1. Overlaps are counted in integers (units of 1 / resized of a
    stored pixel), so a pixel the interval only touches at an end is not seen, whatever the rounding.
    """
    ends = (offset + np.arange(crop + 1, dtype=np.int64)) * stored
    pixels = np.arange(stored + 1, dtype=np.int64)[:, None] * resized
    overlap = np.clip(np.minimum(pixels[1:], ends[1:]) - np.maximum(pixels[:-1], ends[:-1]), 0, None)
    seen = overlap.sum(axis=1) > 0
    matrix = overlap / stored
    matrix.setflags(write=False)
    seen.setflags(write=False)
    return matrix, seen


def to_stored(attribution: np.ndarray, width: int, height: int, pre: Preprocessing) -> StoredMap:
    """A (crop x crop) model-input map as a (height x width) map of the stored image, totals kept."""
    attribution = np.asarray(attribution, dtype=np.float64)
    if attribution.shape != (pre.crop, pre.crop):
        raise ValueError(f"expected a {pre.crop}x{pre.crop} attribution, got {attribution.shape}")
    new_width, new_height = resized_size(width, height, pre)
    left, top, _, _ = crop_box(new_width, new_height, pre)
    columns, seen_x = transfer(width, new_width, left, pre.crop)
    rows, seen_y = transfer(height, new_height, top, pre.crop)
    relevance = rows @ attribution @ columns.T
    return StoredMap(relevance, seen_y[:, None] & seen_x[None, :])
