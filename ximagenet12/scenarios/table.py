"""The scenario table: every scenario's recipe, parameters and metadata, in one place.

The registry, the builder's configs and the dataset card are all generated from `SCENARIOS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from . import functional as F

Run = Callable[..., "tuple[np.ndarray, np.ndarray]"]
Draw = Callable[[np.random.Generator], dict[str, Any]]


@dataclass(frozen=True)
class ExtraInput:
    """An input a scenario takes besides the image and its mask, and where a build finds it.

    `origin`: `photo` (a real photo of a class outside the build's label set, from `backgrounds/`; the
    authors used ImageNet tiger cat, n02123159), `generated` (an image made elsewhere from this source)
    or `partner` (another source of the build, chosen by `pairing`, ImageNet-9's rules).
    `arguments` are the keyword arguments of `apply` it fills.
    """

    origin: Literal["photo", "generated", "partner"]
    arguments: tuple[str, ...] = ("background",)
    pairing: Literal["same", "rand", "next"] | None = None


@dataclass(frozen=True)
class Scenario:
    """One scenario: how it is computed, what it draws and how its images are stored.

    `needs_object` / `needs_background`: the result is meaningless without object pixels / without
    background pixels (an all-object mask), so `apply` refuses such a mask. `colour_only`: the
    scenario changes only hue or saturation, so a greyscale image comes out unchanged.
    """

    name: str
    title: str
    description: str
    run: Run
    recipe: dict[str, Any] = field(default_factory=dict)
    draw: Draw | None = None
    ranges: dict[str, Any] = field(default_factory=dict)
    mode: Literal["RGB", "RGBA"] = "RGB"
    encoding: Literal["source", "jpeg", "png"] = "jpeg"
    extra: ExtraInput | None = None
    needs_object: bool = True
    needs_background: bool = False
    colour_only: bool = False
    paper_column: str | None = None
    family: Literal["xin12", "in9"] = "xin12"
    departs: str | None = None


def _keep_mask(fn: Callable[..., np.ndarray]) -> Run:
    """Wrap an op that keeps the image size so it returns the input mask with the image."""

    def run(image: np.ndarray, mask: np.ndarray, **params: Any) -> tuple[np.ndarray, np.ndarray]:
        return fn(image, mask, **params), mask

    run.__doc__ = fn.__doc__
    return run


def _hue_from_bands(bands: list[tuple[int, int]]) -> Draw:
    """Draw one hue uniformly from the union of inclusive bands."""
    values = np.concatenate([np.arange(lo, hi + 1) for lo, hi in bands])

    def draw(rng: np.random.Generator) -> dict[str, Any]:
        return {"hue": int(values[rng.integers(len(values))])}

    return draw


def _original(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return image, mask


def _rand_bg(image: np.ndarray, mask: np.ndarray, *, background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return F.stretch_onto(image, mask, background)


def _ai_bg(image: np.ndarray, mask: np.ndarray, *, background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    height, width = background.shape[:2]
    if mask.shape != (height, width):
        import cv2

        mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
    return background, mask


def _mixed(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    background: np.ndarray,
    background_mask: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    return F.paste_object(image, mask, F.tile_background(background, background_mask)), mask


BLUR = {"ksize": 15, "sigma": 3.0}
BRIGHT = {"ksize": 9, "sigma": 4.0, "alpha": 1.5, "beta": 0.9, "gamma": 1.9}
HUE_BANDS = {
    "color_r": [(0, 29), (150, 180)],  # the authors' band; 8-bit OpenCV reads hue 180 as 0, pure red
    "color_g": [(30, 89)],
    "color_b": [(90, 149)],
}


def _color(channel: str, colour: str) -> Scenario:
    bands = HUE_BANDS[channel]
    return Scenario(
        name=channel,
        title=f"Colour {colour.lower()} background",
        description=(
            f"Background hue set to one random {colour.lower()} hue per image (OpenCV hue in "
            + " or ".join(f"{lo}..{hi}" for lo, hi in bands)
            + (", where 180 is the same red as 0" if any(hi == 180 for _, hi in bands) else "")
            + "), saturation and value kept; object kept. Not a channel isolation."
        ),
        run=_keep_mask(F.set_background_hue),
        draw=_hue_from_bands(bands),
        ranges={"hue": bands},
        needs_background=True,
        colour_only=True,
        paper_column=channel.capitalize(),
    )


def _mixed_scenario(pairing: Literal["same", "rand", "next"], who: str) -> Scenario:
    return Scenario(
        name=f"mixed_{pairing}",
        title=f"Mixed background, {who}",
        description=(
            f"The object pasted by its mask onto the `only_bg_t` background of an image of {who}, "
            "resized (bilinear) to this image's size."
        ),
        run=_mixed,
        extra=ExtraInput("partner", ("background", "background_mask"), pairing),
        needs_background=True,
        family="in9",
    )


SCENARIOS_LIST: tuple[Scenario, ...] = (
    Scenario(
        name="original",
        title="Original image",
        description="The source image; stored as the source file's bytes, untouched.",
        run=_original,
        encoding="source",
        needs_object=False,
    ),
    Scenario(
        name="blur_bg",
        title="Blurred background",
        description="Whole image Gaussian-blurred (15x15, sigma 3); background from the blur, object kept.",
        run=_keep_mask(F.blur_background),
        recipe=BLUR,
        needs_background=True,
        paper_column="Blur_bg",
    ),
    Scenario(
        name="blur_obj",
        title="Blurred object",
        description="Same blur; object from the blur, background kept.",
        run=_keep_mask(F.blur_object),
        recipe=BLUR,
        paper_column="Blur_obj",
    ),
    _color("color_r", "Red"),
    _color("color_g", "Green"),
    _color("color_b", "Blue"),
    Scenario(
        name="color_rainbow",
        title="Rainbow background",
        description="Background hue rotated by one random k in 0..90 per image, modulo 180; object kept.",
        run=_keep_mask(F.rotate_background_hue),
        draw=lambda rng: {"shift": int(rng.integers(0, 91))},
        ranges={"shift": [0, 90]},
        needs_background=True,
        colour_only=True,
        departs="The authors' script adds k in uint8 and so wraps at 256 before taking % 180; here hue wraps at 180.",
    ),
    Scenario(
        name="color_grey",
        title="Greyscale background",
        description="Background converted to greyscale (luma), object kept.",
        run=_keep_mask(F.grey_background),
        needs_background=True,
        colour_only=True,
        paper_column="Color_grey",
        departs="No code was published; this follows the paper's description.",
    ),
    Scenario(
        name="bright_bg",
        title="Bright background",
        description="Background from the saturating addWeighted(img, 1.5, GaussianBlur(img, 9x9, 4), 0.9, 1.9).",
        run=_keep_mask(F.brighten_background),
        recipe=BRIGHT,
        needs_background=True,
        departs="Switched off in the authors' scripts; built here as their code reads.",
    ),
    Scenario(
        name="bright_fg",
        title="Bright object",
        description="The same brightness change applied to the object, background kept.",
        run=_keep_mask(F.brighten_object),
        recipe=BRIGHT,
        departs="Switched off in the authors' scripts; applied to the object as the paper describes.",
    ),
    Scenario(
        name="seg_img",
        title="Segmented object",
        description="Object kept, background (0, 0, 0).",
        run=_keep_mask(F.segment),
        needs_background=True,
        paper_column="Seg_img",
    ),
    Scenario(
        name="transparent",
        title="Transparent object",
        description="RGBA PNG: object (r, g, b, 255), background (0, 0, 0, 0).",
        run=_keep_mask(F.to_transparent),
        mode="RGBA",
        encoding="png",
        needs_background=True,
        departs=(
            "The authors' script zeroed only alpha and kept the background's RGB, which comes back "
            "whenever a loader drops alpha; here the background is (0, 0, 0, 0) as the paper says."
        ),
    ),
    Scenario(
        name="rand_bg",
        title="Random real background",
        description=(
            "A real photo of a class outside the label set (the authors used ImageNet tiger cat, "
            "n02123159), from the build's backgrounds/ folder; the black-background object is stretched "
            "to the photo's size (aspect not kept) and added to it with saturation, as the authors did; "
            "the mask is resized with it."
        ),
        run=_rand_bg,
        extra=ExtraInput("photo"),
        needs_background=True,
        paper_column="Rand_bg",
    ),
    Scenario(
        name="ai_bg",
        title="AI-generated background",
        description=(
            "A picture of the object on a generated background, ingested as it is: made by "
            "`ximagenet12 generate-backgrounds` (diffusion inpainting around the object, which is kept "
            "exactly; each row records the model, prompt and seed) or elsewhere, as the authors made theirs "
            "with Stable Diffusion through Playground AI; the mask is resized (nearest) to its size."
        ),
        run=_ai_bg,
        extra=ExtraInput("generated"),
        needs_object=False,
    ),
    Scenario(
        name="no_fg",
        title="No foreground",
        description="Object pixels set to (0, 0, 0), background kept; the mask marks where the object was.",
        run=_keep_mask(F.remove_object),
        needs_background=True,
        family="in9",
    ),
    Scenario(
        name="only_bg_t",
        title="Only background, tiled",
        description=(
            "The object's bounding box filled by tiling the largest background strip beside it "
            "(ImageNet-9's only_bg_t); the mask marks where the object was."
        ),
        run=_keep_mask(F.tile_background),
        needs_background=True,
        family="in9",
    ),
    _mixed_scenario("same", "another source of the same class"),
    _mixed_scenario("rand", "a random source of a random class (ImageNet-9's rule: the own class included)"),
    _mixed_scenario("next", "a source of the next class (label + 1, wrapping)"),
)

SCENARIOS: dict[str, Scenario] = {s.name: s for s in SCENARIOS_LIST}
PAPER_SCENARIOS: tuple[str, ...] = (
    "blur_bg", "blur_obj", "color_g", "color_b", "color_grey", "color_r", "rand_bg", "seg_img",
)
