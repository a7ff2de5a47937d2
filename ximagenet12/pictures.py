"""Pictures for people: images made displayable, outlined, and laid out in labelled rows of one height."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

LABEL_HEIGHT = 22
GAP = 4
TITLE_WIDTH = 120
FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_SCALE = 0.5
MIN_FONT_SCALE = 0.32
INK = (20, 20, 20)
OUTLINE_COLOUR = (255, 214, 0)
WHITE = 255

Tile = tuple[str, np.ndarray]
Row = tuple[str | None, Sequence[Tile]]


@dataclass(frozen=True)
class Placed:
    """Where one tile's image sits in a picture: its row, label and box (top, left, height, width)."""

    row: int
    label: str
    top: int
    left: int
    height: int
    width: int


@dataclass
class Picture:
    """A laid-out picture (RGB uint8) and where each tile landed."""

    pixels: np.ndarray
    tiles: list[Placed] = field(default_factory=list)


def checkerboard(height: int, width: int, cell: int = 8) -> np.ndarray:
    """A light-grey checkerboard, the usual backdrop for transparent pixels."""
    yy, xx = np.mgrid[:height, :width]
    board = np.where(((yy // cell) + (xx // cell)) % 2 == 0, 205, 245).astype(np.uint8)
    return np.repeat(board[..., None], 3, axis=2)


def to_display(image: np.ndarray) -> np.ndarray:
    """RGB for display: greyscale expanded, RGBA composited on a checkerboard."""
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    if image.shape[2] == 4:
        alpha = image[..., 3:4].astype(np.float32) / 255.0
        board = checkerboard(*image.shape[:2]).astype(np.float32)
        return (image[..., :3] * alpha + board * (1 - alpha)).round().astype(np.uint8)
    return image


def to_height(image: np.ndarray, height: int) -> np.ndarray:
    """The image for display, scaled (aspect kept) to `height` pixels."""
    rgb = to_display(image)
    width = max(1, round(rgb.shape[1] * height / rgb.shape[0]))
    interpolation = cv2.INTER_AREA if height < rgb.shape[0] else cv2.INTER_LINEAR
    return cv2.resize(rgb, (width, height), interpolation=interpolation)


def outline(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    height: int | None = None,
    colour: tuple[int, int, int] = OUTLINE_COLOUR,
    thickness: int | None = None,
) -> np.ndarray:
    """The image for display (scaled to `height` if given) with the outline of `mask` drawn on it (`thickness`
    pixels, by default a hundredth of the shorter side)."""
    drawn = np.ascontiguousarray(to_height(image, height) if height else to_display(image)).copy()
    height, width = drawn.shape[:2]
    if mask.shape[:2] != (height, width):
        mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours((mask > 0).astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    thickness = thickness or max(1, round(min(height, width) / 100))
    cv2.drawContours(drawn, contours, -1, colour, thickness, cv2.LINE_8)
    return drawn


def _put_text(canvas: np.ndarray, text: str, left: int, baseline: int, width: int) -> None:
    """Write `text` from (left, baseline), shrunk to fit `width` pixels and cut with '…' if it still does not."""
    scale = FONT_SCALE
    while cv2.getTextSize(text, FONT, scale, 1)[0][0] > width and scale > MIN_FONT_SCALE:
        scale -= 0.02
    while len(text) > 1 and cv2.getTextSize(text, FONT, scale, 1)[0][0] > width:
        text = text[:-2] + "~"
    cv2.putText(canvas, text, (left, baseline), FONT, scale, INK, 1, cv2.LINE_AA)


def _wrap(text: str, width: int) -> list[str]:
    """Words of `text` in lines that fit `width` pixels at the label font."""
    lines: list[str] = []
    for word in text.split():
        trial = f"{lines[-1]} {word}" if lines else word
        if lines and cv2.getTextSize(trial, FONT, FONT_SCALE, 1)[0][0] <= width:
            lines[-1] = trial
        else:
            lines.append(word)
    return lines


def make_rows(rows: Sequence[Row], *, height: int = 150, title_width: int = TITLE_WIDTH) -> Picture:
    """Rows of labelled tiles, every tile scaled to `height` (aspect kept), each row after its title if it has one.

    Rows are as wide as their tiles, so only the right end of a shorter row is blank.
    """
    titled = any(title for title, _ in rows)
    start = title_width if titled else 0
    scaled = [[(label, to_height(image, height)) for label, image in tiles] for _, tiles in rows]
    widths = [start + sum(t.shape[1] + GAP for _, t in tiles) - (GAP if tiles else 0) for tiles in scaled]
    row_height = LABEL_HEIGHT + height + GAP
    canvas = np.full((max(1, len(rows) * row_height - GAP), max([1, *widths]), 3), WHITE, np.uint8)
    placed = []
    for r, ((title, _), tiles) in enumerate(zip(rows, scaled, strict=True)):
        top = r * row_height
        for k, line in enumerate(_wrap(title or "", title_width - 8)):
            _put_text(canvas, line, 4, top + LABEL_HEIGHT + 16 + 18 * k, title_width - 8)
        left = start
        for label, tile in tiles:
            _put_text(canvas, label, left + 2, top + 16, tile.shape[1] - 4)
            canvas[top + LABEL_HEIGHT : top + LABEL_HEIGHT + height, left : left + tile.shape[1]] = tile
            placed.append(Placed(r, label, top + LABEL_HEIGHT, left, height, tile.shape[1]))
            left += tile.shape[1] + GAP
    return Picture(canvas, placed)


def make_grid(tiles: Sequence[Tile], *, tile_width: int = 200, columns: int = 5) -> np.ndarray:
    """Tiles (label, image) resized to one width and laid out in rows, each with its label above.

    Rows are as tall as their tallest tile; for tiles of one height use `make_rows`.
    """
    cells = []
    for label, image in tiles:
        rgb = to_display(image)
        height = max(1, round(rgb.shape[0] * tile_width / rgb.shape[1]))
        cells.append((label, cv2.resize(rgb, (tile_width, height), interpolation=cv2.INTER_AREA)))
    tile_height = max(c.shape[0] for _, c in cells) + LABEL_HEIGHT
    rows = -(-len(cells) // columns)
    grid = np.full((rows * tile_height, columns * tile_width, 3), WHITE, np.uint8)
    for i, (label, cell) in enumerate(cells):
        top, left = (i // columns) * tile_height, (i % columns) * tile_width
        cv2.putText(grid, label, (left + 4, top + 16), FONT, FONT_SCALE, INK, 1, cv2.LINE_AA)
        grid[top + LABEL_HEIGHT : top + LABEL_HEIGHT + cell.shape[0], left : left + tile_width] = cell
    return grid


def family_rows(
    families: Sequence[tuple[str, Sequence[str]]], images: Mapping[str, np.ndarray], labels: Mapping[str, str]
) -> list[Row]:
    """One titled row per family with the images it has (keyed by scenario), labelled by `labels` or the name."""
    rows = []
    for title, names in families:
        tiles = [(labels.get(name, name), images[name]) for name in names if name in images]
        if tiles:
            rows.append((title, tiles))
    return rows


def closest_to_a_third(coverage: Mapping[str, float]) -> str | None:
    """The key whose object covers closest to a third of its image (ties: the smallest key), so that both the
    object and the background are large enough to see what a scenario changes."""
    if not coverage:
        return None
    return min(coverage, key=lambda key: (abs(coverage[key] - 1 / 3), key))
