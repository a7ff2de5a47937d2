"""One image through every scenario, drawn as one row per family of scenarios: what `ximagenet12 preview` shows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .pictures import Picture, family_rows, make_rows, outline
from .scenarios import SCENARIOS, ScenarioError, apply

# The order and grouping of scenarios in pictures (every scenario in exactly one family).
FAMILIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Source and object", ("original", "seg_img", "transparent")),
    ("Blur and brightness", ("blur_bg", "blur_obj", "bright_bg", "bright_fg")),
    ("Background colour", ("color_r", "color_g", "color_b", "color_rainbow", "color_grey")),
    ("New background", ("rand_bg", "ai_bg")),
    ("ImageNet-9 style", ("no_fg", "only_bg_t", "mixed_same", "mixed_rand", "mixed_next")),
)
ORIGINAL_LABEL = "original + mask outline"


@dataclass(frozen=True)
class Partner:
    """Another image (with its mask) that a `mixed_*` scenario takes its background from, and what to call it."""

    image: np.ndarray
    mask: np.ndarray
    name: str


@dataclass
class Tiles:
    """Scenario outputs of one image, the label of each, and why any scenario was left out."""

    images: dict[str, np.ndarray] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)


def scenario_tiles(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    photo: tuple[np.ndarray, str] | None = None,
    partners: Mapping[str, Partner] | None = None,
    generated: tuple[np.ndarray, str] | None = None,
    seeds: Mapping[str, int] | int = 0,
) -> Tiles:
    """Every scenario applied to one image.

    `photo` (image, name) serves `rand_bg`, `generated` serves `ai_bg`, `partners` maps a pairing (`same`, `rand`,
    `next`) to the partner of that `mixed_*` scenario. `seeds` is one seed or a seed per scenario (as a build
    draws them). A scenario without its input, or undefined for this mask, is left out with the reason.
    """
    partners = partners or {}
    tiles = Tiles()
    for name, scenario in SCENARIOS.items():
        kwargs: dict[str, np.ndarray] = {}
        extra = scenario.extra
        given = None
        if extra is not None and extra.origin == "partner":
            partner = partners.get(extra.pairing or "")
            if partner is not None:
                kwargs, given = {"background": partner.image, "background_mask": partner.mask}, partner.name
        elif extra is not None:
            chosen = photo if extra.origin == "photo" else generated
            if chosen is not None:
                kwargs, given = {"background": chosen[0]}, chosen[1]
        if extra is not None and given is None:
            tiles.left_out[name] = f"no {extra.origin} image" + (f" ({extra.pairing})" if extra.pairing else "")
            continue
        seed = seeds if isinstance(seeds, int) else seeds.get(name, 0)
        try:
            out, _, _ = apply(name, image, mask, seed=seed, **kwargs)
        except ScenarioError as exc:
            tiles.left_out[name] = str(exc)
            continue
        tiles.images[name] = out
        tiles.labels[name] = f"{name} + {given}" if given else name
    return tiles


def draw_tiles(tiles: Tiles, mask: np.ndarray, *, height: int = 150) -> Picture:
    """One row per family; the original carries the outline of its mask."""
    images = dict(tiles.images)
    labels = dict(tiles.labels)
    if "original" in images:
        images["original"] = outline(images["original"], mask, height=height)
        labels["original"] = ORIGINAL_LABEL
    return make_rows(family_rows(FAMILIES, images, labels), height=height)
