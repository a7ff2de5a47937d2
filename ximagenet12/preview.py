"""One image through every scenario, as labelled tiles: what `ximagenet12 preview` draws."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import imageio
from .masks import load_mask
from .scenarios import SCENARIOS, ScenarioError, apply


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
        inputs = {
            "photo": {"background": photo},
            "partner": {"background": other, "background_mask": other_mask},
            "generated": {"background": generated} if generated is not None else None,
            None: {},
        }
        kwargs = inputs[scenario.extra.origin if scenario.extra else None]
        if kwargs is None:
            continue
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
