"""explain_gallery.png: for a few sources, the stored image with the mask's outline and the attribution heat map,
in `original` and the headline scenarios side by side."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ...pictures import FONT, INK, WHITE, make_rows, outline, to_display
from ...provenance import write_atomic
from ..preprocessing import Preprocessing
from .geometry import to_stored

GALLERY_CONFIGS = ("original", "blur_bg", "color_grey", "seg_img", "rand_bg", "ai_bg", "no_fg", "mixed_rand")
HEIGHT = 150
PERCENTILE = 99.0  # the colour scale tops out here, so a few extreme pixels do not wash out the map
UNSEEN = 0.3  # brightness of stored pixels outside the model's crop
OUTLINE = (255, 255, 255)
COLOURMAP = cv2.COLORMAP_TURBO
HEADER = 58


@dataclass(frozen=True)
class Tile:
    """One image of the gallery: what the model saw, its mask, the model-input map and the row's measures."""

    config: str
    image: np.ndarray
    mask: np.ndarray
    attribution: np.ndarray
    mass: float | None
    pointing: float | None


def heat_tile(image: np.ndarray, mask: np.ndarray, attribution: np.ndarray, pre: Preprocessing,
              height: int | None = None) -> np.ndarray:
    """The stored image (scaled to `height`) under its positive attribution, colour and opacity by the attribution
    each displayed pixel holds; pixels outside the model's crop dimmed; the mask outlined.

    The map is carried back at the stored resolution, then summed over each displayed pixel (area resampling),
    so a speckled map (integrated gradients) shows where its mass gathers rather than vanishing when scaled.
    """
    rgb = to_display(image)
    stored = to_stored(attribution, rgb.shape[1], rgb.shape[0], pre)
    positive = np.where(stored.seen, np.maximum(stored.relevance, 0.0), 0.0)
    seen = stored.seen.astype(np.float32)
    if height is not None and height != rgb.shape[0]:
        size = (max(1, round(rgb.shape[1] * height / rgb.shape[0])), height)
        shrink = cv2.INTER_AREA if height < rgb.shape[0] else cv2.INTER_LINEAR
        rgb = cv2.resize(rgb, size, interpolation=shrink)
        positive = cv2.resize(positive, size, interpolation=shrink)
        seen = cv2.resize(seen, size, interpolation=shrink)
    visible = seen >= 0.5
    values = positive[visible & (positive > 0)]
    top = float(np.percentile(values, PERCENTILE)) if values.size else 0.0
    level = np.clip(positive / top, 0.0, 1.0) if top > 0 else np.zeros_like(positive)
    colour = cv2.cvtColor(cv2.applyColorMap((level * 255).round().astype(np.uint8), COLOURMAP), cv2.COLOR_BGR2RGB)
    alpha = (0.1 + 0.7 * level)[..., None]
    blended = rgb.astype(np.float32) * (1 - alpha) + colour.astype(np.float32) * alpha
    blended = np.where(visible[..., None], blended, rgb.astype(np.float32) * UNSEEN)
    return outline(blended.round().astype(np.uint8), mask, colour=OUTLINE, thickness=1)


def _label(tile: Tile) -> str:
    if tile.mass is None:
        return f"{tile.config}: undefined"
    hit = "" if tile.pointing is None else (" hit" if tile.pointing >= 0.5 else " miss")
    return f"{tile.config}: mass {tile.mass:.2f}{hit}"


def _colour_bar(width: int, height: int) -> np.ndarray:
    ramp = np.linspace(0, 255, width).round().astype(np.uint8)[None].repeat(height, axis=0)
    return cv2.cvtColor(cv2.applyColorMap(ramp, COLOURMAP), cv2.COLOR_BGR2RGB)


def render(rows: Sequence[tuple[str, Sequence[Tile]]], pre: Preprocessing, title: str) -> np.ndarray:
    """The picture: one row per source (titled), one tile per config, a header naming the method and the legend."""
    picture = make_rows([(name, [(_label(t), heat_tile(t.image, t.mask, t.attribution, pre, HEIGHT)) for t in tiles])
                         for name, tiles in rows], height=HEIGHT)
    body = picture.pixels
    legend = "positive attribution, low to high (scale per image):"
    note = "white: object mask; dark: outside the model's crop; mass: relevance mass; hit/miss: pointing game"
    bar_left = 10 + cv2.getTextSize(legend, FONT, 0.45, 1)[0][0]
    width = max(body.shape[1], bar_left + 130 + cv2.getTextSize(note, FONT, 0.45, 1)[0][0] + 6)
    header = np.full((HEADER, width, 3), WHITE, np.uint8)
    scale = 0.5
    while cv2.getTextSize(title, FONT, scale, 1)[0][0] > width - 12 and scale > 0.3:
        scale -= 0.02
    cv2.putText(header, title, (6, 18), FONT, scale, INK, 1, cv2.LINE_AA)
    cv2.putText(header, legend, (6, 40), FONT, 0.45, INK, 1, cv2.LINE_AA)
    header[30:44, bar_left : bar_left + 120] = _colour_bar(120, 14)
    cv2.putText(header, note, (bar_left + 130, 40), FONT, 0.45, INK, 1, cv2.LINE_AA)
    canvas = np.full((HEADER + body.shape[0], width, 3), WHITE, np.uint8)
    canvas[:HEADER] = header
    canvas[HEADER:, : body.shape[1]] = body
    return canvas


def write_gallery(rows: Sequence[tuple[str, Sequence[Tile]]], pre: Preprocessing, path: str | Path,
                  title: str) -> Path:
    """Render and write the gallery PNG atomically."""
    ok, data = cv2.imencode(".png", cv2.cvtColor(render(rows, pre, title), cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("could not encode the gallery as PNG")
    return write_atomic(path, data.tobytes())
