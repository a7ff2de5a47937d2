"""`ximagenet12 preview`: one image through every scenario, as a labelled grid PNG."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from . import imageio
from .masks import load_mask
from .scenarios import SCENARIOS, ScenarioError, apply

LABEL_HEIGHT = 22


def _checkerboard(height: int, width: int, cell: int = 8) -> np.ndarray:
    yy, xx = np.mgrid[:height, :width]
    board = np.where(((yy // cell) + (xx // cell)) % 2 == 0, 205, 245).astype(np.uint8)
    return np.repeat(board[..., None], 3, axis=2)


def to_display(image: np.ndarray) -> np.ndarray:
    """RGB for display: greyscale expanded, RGBA composited on a checkerboard."""
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    if image.shape[2] == 4:
        alpha = image[..., 3:4].astype(np.float32) / 255.0
        board = _checkerboard(*image.shape[:2]).astype(np.float32)
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


def scenario_tiles(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    photo: np.ndarray,
    other: np.ndarray,
    other_mask: np.ndarray,
    generated: np.ndarray | None = None,
    seed: int = 0,
) -> list[tuple[str, np.ndarray]]:
    """Every scenario applied to one image: `photo` for rand_bg, `other` (+ mask) for mixed_*."""
    tiles = []
    for name, scenario in SCENARIOS.items():
        kwargs = {}
        if scenario.needs == "photo":
            kwargs = {"background": photo}
        elif scenario.needs == "image":
            kwargs = {"background": other, "background_mask": other_mask}
        elif scenario.needs == "generated":
            if generated is None:
                continue
            kwargs = {"background": generated}
        try:
            out, _, _ = apply(name, image, mask, seed=seed, **kwargs)
        except ScenarioError:
            continue
        tiles.append((name, out))
    return tiles


def sample_tiles(seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """A shipped sample photo through every scenario, with another sample photo as partner.

    The photo shown is the one whose object covers closest to a third of it, so that both the
    object and the background changes are visible.
    """
    from .sample_data import sample_root

    root = sample_root()
    images = sorted(p for p in (root / "images").rglob("*") if p.suffix.lower() in {".jpeg", ".jpg", ".png"})
    photos = sorted((root / "backgrounds").iterdir())

    def read(path: Path) -> tuple[np.ndarray, np.ndarray]:
        rgb = imageio.read_rgb(str(path)).rgb
        return rgb, load_mask(path.with_suffix(".json"), expected_shape=rgb.shape)

    loaded = {path: read(path) for path in images}
    first = min(images, key=lambda p: abs(np.count_nonzero(loaded[p][1]) / loaded[p][1].size - 1 / 3))
    image, mask = loaded[first]
    other_rgb, other_mask = loaded[next(p for p in images if p.parent != first.parent)]
    photo = imageio.read_rgb(str(photos[0])).rgb
    return scenario_tiles(image, mask, photo=photo, other=other_rgb, other_mask=other_mask, seed=seed)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `ximagenet12 preview`."""
    p = sub.add_parser("preview", help="render one image through every scenario into a labelled grid PNG")
    p.add_argument("--image", type=Path, help="an RGB image (default: the first shipped sample photo)")
    p.add_argument("--mask", type=Path, help="its mask: PNG or LabelMe JSON (required with --image)")
    p.add_argument("--background", type=Path, help="background photo for rand_bg (default: the image upside down)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("preview.png"))
    p.set_defaults(func=cmd_preview)


def cmd_preview(args: argparse.Namespace) -> int:
    """`ximagenet12 preview`."""
    if args.image is None:
        tiles = sample_tiles(args.seed)
    else:
        if args.mask is None:
            raise SystemExit("error: --mask is required with --image")
        rgb = imageio.read_rgb(str(args.image)).rgb
        mask = load_mask(args.mask, expected_shape=rgb.shape)
        photo = imageio.read_rgb(str(args.background)).rgb if args.background else rgb[::-1].copy()
        other, other_mask = rgb[:, ::-1].copy(), mask[:, ::-1].copy()
        tiles = scenario_tiles(rgb, mask, photo=photo, other=other, other_mask=other_mask, seed=args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(imageio.encode_png(make_grid(tiles)))
    print(f"wrote {args.out} ({len(tiles)} scenarios)")
    return 0
