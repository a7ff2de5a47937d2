"""Pictures for people: images made displayable and laid out in labelled grids."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

LABEL_HEIGHT = 22


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


def make_grid(tiles: Sequence[tuple[str, np.ndarray]], *, tile_width: int = 200, columns: int = 5) -> np.ndarray:
    """Tiles (label, image) resized to one width and laid out in rows, each with its label above."""
    cells = []
    for label, image in tiles:
        rgb = to_display(image)
        height = max(1, round(rgb.shape[0] * tile_width / rgb.shape[1]))
        cells.append((label, cv2.resize(rgb, (tile_width, height), interpolation=cv2.INTER_AREA)))
    tile_height = max(c.shape[0] for _, c in cells) + LABEL_HEIGHT
    rows = -(-len(cells) // columns)
    grid = np.full((rows * tile_height, columns * tile_width, 3), 255, np.uint8)
    for i, (label, cell) in enumerate(cells):
        top, left = (i // columns) * tile_height, (i % columns) * tile_width
        cv2.putText(grid, label, (left + 4, top + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (20, 20, 20), 1, cv2.LINE_AA)
        grid[top + LABEL_HEIGHT : top + LABEL_HEIGHT + cell.shape[0], left : left + tile_width] = cell
    return grid
