"""Scenario registry: `apply(name, image, mask, seed=...)` runs one scenario as a pure function."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..masks import is_binary
from . import functional
from .table import PAPER_SCENARIOS, SCENARIOS, SCENARIOS_LIST, ExtraInput, Scenario

__all__ = [
    "NO_MASK_VARIANTS",
    "PAPER_SCENARIOS",
    "SCENARIOS",
    "SCENARIOS_LIST",
    "ExtraInput",
    "Scenario",
    "ScenarioError",
    "apply",
    "draw_params",
    "mask_variant_of",
    "order_configs",
    "scenario_of",
]

VARIANT_SEPARATOR = "@"
# Scenarios a mask variant is not built for: `original` stores the source untouched and `ai_bg` an image made
# elsewhere, so a changed mask would change no pixel of theirs.
NO_MASK_VARIANTS = ("original", "ai_bg")


def scenario_of(config: str) -> str:
    """The scenario a config is built with: 'seg_img@dilate3' -> 'seg_img'."""
    return config.split(VARIANT_SEPARATOR, 1)[0]


def order_configs(names: Iterable[str]) -> list[str]:
    """Configs in the benchmark's order: the scenario table's, then each mask variant's in the same order,
    then unknown names alphabetically."""
    index = {name: i for i, name in enumerate(SCENARIOS)}

    def key(name: str) -> tuple:
        base, variant = scenario_of(name), mask_variant_of(name)
        if base not in index:
            return (2, name)
        return (0, "", index[base]) if variant is None else (1, variant, index[base])

    return sorted(set(names), key=key)


def mask_variant_of(config: str) -> str | None:
    """The mask variant suffix of a config ('seg_img@dilate3' -> 'dilate3'), None for a plain scenario."""
    _, sep, suffix = config.partition(VARIANT_SEPARATOR)
    return suffix if sep else None


class ScenarioError(ValueError):
    """A scenario that cannot be computed for these inputs (bad array, undefined for this mask)."""


def _check_image(image: np.ndarray, what: str) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{getattr(image, 'dtype', type(image).__name__)} {getattr(image, 'shape', '')}"
        raise ScenarioError(f"{what} must be an RGB uint8 array of shape (H, W, 3), got {got}")
    if image.size == 0:
        raise ScenarioError(f"{what} has no pixels (shape {image.shape})")


def _check_mask(mask: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
    if not isinstance(mask, np.ndarray) or mask.ndim != 2:
        raise ScenarioError(f"{what} must be a 2-D array, got shape {getattr(mask, 'shape', None)}")
    if mask.shape != shape[:2]:
        raise ScenarioError(f"{what} is {mask.shape[0]}x{mask.shape[1]} (HxW), its image is {shape[0]}x{shape[1]}")
    if mask.dtype == np.uint8 and is_binary(mask):
        return mask
    return (mask != 0).view(np.uint8) * 255


def _checked_mask(mask: np.ndarray, shape: tuple[int, ...], what: str) -> tuple[np.ndarray, int]:
    """`_check_mask` and the mask's object pixel count, once per mask while `functional.sharing()` is active."""

    def check() -> tuple[np.ndarray, int]:
        checked = _check_mask(mask, shape, what)
        return checked, int(np.count_nonzero(checked))

    return functional.once(("checked_mask", tuple(shape[:2]), what), mask, check)


def _bands(spec: Any) -> list[tuple[int, int]]:
    """A `ranges` entry as inclusive (lo, hi) bands: `[lo, hi]` or a list of such pairs."""
    if len(spec) and isinstance(spec[0], (list, tuple)):
        return [(int(lo), int(hi)) for lo, hi in spec]
    return [(int(spec[0]), int(spec[1]))]


def _check_params(scenario: Scenario, params: Any) -> dict[str, Any]:
    """The scenario's drawn parameters taken from `params` and checked against its `ranges`.

    Other keys (the seed, notes a build adds to a row such as `source_note`) are ignored, so a
    stored row's params reproduce it; they can never override the fixed recipe.
    """
    if not isinstance(params, dict):
        raise ScenarioError(f"{scenario.name}: params must be a dict, got {type(params).__name__}")
    missing = sorted(k for k in scenario.ranges if k not in params)
    if missing:
        raise ScenarioError(f"{scenario.name}: params lack the drawn value(s) {missing}")
    drawn = {k: params[k] for k in scenario.ranges}
    for key, value in drawn.items():
        bands = _bands(scenario.ranges[key])
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ScenarioError(f"{scenario.name}: params[{key!r}] must be an integer, got {value!r}")
        if not any(lo <= value <= hi for lo, hi in bands):
            allowed = " or ".join(f"{lo}..{hi}" for lo, hi in bands)
            raise ScenarioError(f"{scenario.name}: params[{key!r}] = {value} is outside {allowed}")
    return drawn


def draw_params(name: str, seed: int | None) -> dict[str, Any]:
    """The parameters `name` draws from a generator seeded with `seed`, with the seed itself."""
    scenario = SCENARIOS[name]
    params: dict[str, Any] = {"seed": seed}
    if scenario.draw is not None:
        params.update(scenario.draw(np.random.default_rng(seed)))
    return params


def apply(
    name: str,
    image: np.ndarray,
    mask: np.ndarray,
    seed: int | None = None,
    *,
    background: np.ndarray | None = None,
    background_mask: np.ndarray | None = None,
    params: dict[str, Any] | None = None,
    copy: bool = True,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Run scenario `name`; returns (image, mask aligned with it, JSON-able params incl. the seed).

    `background` is the photo for `rand_bg`, the generated image for `ai_bg` and the other image
    for `mixed_*` (with `background_mask`). Pass `params` (as returned earlier, or a stored row's) to
    reproduce a result without drawing; otherwise they are drawn from `numpy.random.default_rng(seed)`.
    With `copy=False` the results may be the inputs themselves (the mask, most often), for a caller that
    only reads them: a build encodes a mask once per source, not once per row.
    """
    try:
        scenario = SCENARIOS[name]
    except KeyError:
        raise ScenarioError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}") from None
    _check_image(image, "image")
    mask, n_object = _checked_mask(mask, image.shape, "mask")
    if scenario.needs_object and n_object == 0:
        raise ScenarioError(f"{name} is undefined for an empty mask (no object pixels)")
    if scenario.needs_background and n_object == mask.size:
        raise ScenarioError(f"{name} is undefined for an all-object mask (no background pixels)")

    kwargs: dict[str, Any] = {}
    extra = scenario.extra
    if extra is not None:
        if background is None:
            raise ScenarioError(f"{name} needs `background=` (a {extra.origin} image)")
        _check_image(background, "background")
        kwargs["background"] = background
    if extra is not None and "background_mask" in extra.arguments:
        if background_mask is None:
            raise ScenarioError(f"{name} needs `background_mask=` for the other image")
        background_mask, n_other = _checked_mask(background_mask, background.shape, "background_mask")
        if n_other in (0, background_mask.size):
            raise ScenarioError(f"{name}: the other image's mask must have object and background pixels")
        kwargs["background_mask"] = background_mask

    if params is None:
        params = draw_params(name, seed)
    drawn = _check_params(scenario, params)
    try:
        out_image, out_mask = scenario.run(image, mask, **scenario.recipe, **drawn, **kwargs)
    except ValueError as exc:
        raise ScenarioError(f"{name}: {exc}") from exc
    if not copy:
        return out_image, out_mask, dict(params)
    inputs = [a for a in (image, mask, background, background_mask) if a is not None]
    return _fresh(out_image, inputs), _fresh(out_mask, inputs), dict(params)


def _fresh(array: np.ndarray, inputs: list[np.ndarray]) -> np.ndarray:
    """`array` as a contiguous array sharing no memory with the inputs (copied only if needed)."""
    if any(np.may_share_memory(array, a) for a in inputs):
        return np.array(array, order="C")
    return np.ascontiguousarray(array)
