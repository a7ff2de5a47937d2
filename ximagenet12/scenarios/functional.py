"""Pure image operations behind the scenarios: uint8 arrays in, uint8 arrays out, no I/O, no RNG.

Images are RGB (H, W, 3) uint8; masks are (H, W) uint8 with 255 on the object and 0 elsewhere.
Hue follows OpenCV's convention (0..179).

Every function returns a new array and leaves its arguments untouched. Internally each result is
built in as few full-size buffers as possible (OpenCV `dst=` and masked copies in place): the first
touch of a fresh full-size buffer (page faults) can cost as much as the arithmetic itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

import cv2
import numpy as np

# Intermediates shared by the scenarios of one image while `sharing()` is active: key -> (inputs, result).
_SHARED: ContextVar[dict | None] = ContextVar("ximagenet12_shared_intermediates", default=None)


@contextlib.contextmanager
def sharing() -> Iterator[None]:
    """Compute each intermediate of an image once (one blur for blur_bg and blur_obj, one HSV conversion
    for the colour scenarios, one brightened image for both bright_*) while the block runs.

    Results are the same bytes as without it; the memo (and the images it holds) is dropped on exit.
    """
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def _once(key: tuple, image: np.ndarray, compute: Callable[[], Any]) -> tuple[Any, bool]:
    """`compute()` of `image`, memoised while `sharing()` is active; also whether the result is shared.

    A shared result must not be written to. The memo keeps `image` itself, so its id cannot be reused.
    """
    memo = _SHARED.get()
    if memo is None:
        return compute(), False
    entry = memo.get((*key, id(image)))
    if entry is None or entry[0] is not image:
        entry = memo[(*key, id(image))] = (image, compute())
    return entry[1], True


def once(key: tuple, array: np.ndarray, compute: Callable[[], Any]) -> Any:
    """`compute()`, of `array`, once per array while `sharing()` is active; the result must not be written to."""
    return _once(key, array, compute)[0]


def _writable(array: np.ndarray, shared: bool) -> np.ndarray:
    return array.copy() if shared else array


def _paste(src: np.ndarray, mask: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Copy `src` into `dst` in place where `mask` is nonzero; returns `dst`."""
    result = cv2.copyTo(src, mask, dst)
    if result is not dst and not np.shares_memory(result, dst):
        dst[...] = result
    return dst


def _outside(mask: np.ndarray) -> np.ndarray:
    """The background as a copyTo mask (nonzero off the object)."""
    return (mask == 0).view(np.uint8)


def _on_object(image: np.ndarray, mask: np.ndarray, op: Callable[[np.ndarray], np.ndarray], radius: int) -> np.ndarray:
    """`image` with its object pixels taken from `op(image)`, computing `op` only near the object.

    `op` must be a filter whose output pixel depends on input pixels at most `radius` away and is
    computed the same whatever the array's size (true of OpenCV's bit-exact 8-bit GaussianBlur, not
    of addWeighted, whose SIMD and scalar paths round differently). It is run on the object's box
    grown by `radius` (clipped to the image), so the box comes out as from `op` on the whole image.
    """
    out = image.copy()
    top, bottom, left, right = object_box(mask)
    if bottom > top and right > left:
        height, width = mask.shape
        rows = slice(max(top - radius, 0), min(bottom + radius, height))
        cols = slice(max(left - radius, 0), min(right + radius, width))
        _paste(op(image[rows, cols]), mask[rows, cols], out[rows, cols])
    return out


def composite(foreground: np.ndarray, background: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Object pixels from `foreground`, the rest from `background` (hard mask, no feathering)."""
    return _paste(foreground, mask, background.copy())


def gaussian_blur(image: np.ndarray, ksize: int, sigma: float) -> np.ndarray:
    """Whole-image Gaussian blur with a square kernel."""
    return cv2.GaussianBlur(image, (ksize, ksize), sigma)


def _shared_blur(image: np.ndarray, ksize: int, sigma: float) -> tuple[np.ndarray, bool]:
    return _once(("blur", ksize, sigma), image, lambda: gaussian_blur(image, ksize, sigma))


def blur_background(image: np.ndarray, mask: np.ndarray, ksize: int, sigma: float) -> np.ndarray:
    """Background from the blurred image, object kept."""
    return _paste(image, mask, _writable(*_shared_blur(image, ksize, sigma)))


def blur_object(image: np.ndarray, mask: np.ndarray, ksize: int, sigma: float) -> np.ndarray:
    """Object from the blurred image, background kept."""
    if _SHARED.get() is not None:  # the whole-image blur serves blur_bg too; equal to the blurred box on the object
        return _paste(_shared_blur(image, ksize, sigma)[0], mask, image.copy())
    return _on_object(image, mask, lambda crop: gaussian_blur(crop, ksize, sigma), ksize // 2)


def _hsv(image: np.ndarray) -> tuple[np.ndarray, bool]:
    return _once(("hsv",), image, lambda: cv2.cvtColor(image, cv2.COLOR_RGB2HSV))


def set_background_hue(image: np.ndarray, mask: np.ndarray, hue: int) -> np.ndarray:
    """Background hue set to one constant, its saturation and value kept; object kept."""
    hsv = _writable(*_hsv(image))
    hsv[..., 0] = hue
    return _paste(image, mask, cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB, dst=hsv))


def rotate_background_hue(image: np.ndarray, mask: np.ndarray, shift: int) -> np.ndarray:
    """Background hue rotated by `shift` modulo 180; object kept."""
    hsv = _writable(*_hsv(image))
    lut = ((np.arange(256, dtype=np.int64) + shift) % 180).astype(np.uint8)
    hsv[..., 0] = cv2.LUT(hsv[..., 0], lut)
    return _paste(image, mask, cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB, dst=hsv))


def grey_background(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Background converted to greyscale (ITU-R 601 luma), object kept."""
    grey = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    return _paste(image, mask, grey)


def brighten(image: np.ndarray, ksize: int, sigma: float, alpha: float, beta: float, gamma: float) -> np.ndarray:
    """Saturating `alpha * image + beta * blur(image) + gamma`, the authors' brightness change."""
    # Whole image and never in place: addWeighted's scalar path (short arrays, or the tail when
    # dst aliases a source) rounds some values 1 lower than its SIMD path.
    return cv2.addWeighted(image, alpha, gaussian_blur(image, ksize, sigma), beta, gamma)


def brighten_background(image: np.ndarray, mask: np.ndarray, **recipe: Any) -> np.ndarray:
    """Background from `brighten(image, **recipe)`, object kept."""
    return _paste(image, mask, _writable(*_brightened(image, recipe)))


def brighten_object(image: np.ndarray, mask: np.ndarray, **recipe: Any) -> np.ndarray:
    """Object from `brighten(image, **recipe)`, background kept."""
    return _paste(image, _outside(mask), _writable(*_brightened(image, recipe)))


def _brightened(image: np.ndarray, recipe: dict[str, Any]) -> tuple[np.ndarray, bool]:
    return _once(("bright", *sorted(recipe.items())), image, lambda: brighten(image, **recipe))


def segment(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Object kept, background exactly (0, 0, 0)."""
    return _paste(image, mask, np.zeros(image.shape, np.uint8))


def remove_object(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Background kept, object pixels exactly (0, 0, 0)."""
    return _paste(image, _outside(mask), np.zeros(image.shape, np.uint8))


def to_transparent(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """RGBA: object (r, g, b, 255), background (0, 0, 0, 0); alpha is the (0/255) mask."""
    out = cv2.cvtColor(segment(image, mask), cv2.COLOR_RGB2RGBA)
    out[..., 3] = mask
    return out


def stretch_onto(image: np.ndarray, mask: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The black-background object stretched to the background's size and added to it, saturating.

    This is the authors' `addWeighted(bg, 1, fg, 1, 0)`: object pixels are the sum of object and
    background, so the object looks washed out; the aspect ratio is not kept.
    """
    height, width = background.shape[:2]
    fg = cv2.resize(segment(image, mask), (width, height), interpolation=cv2.INTER_LINEAR)
    out_mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
    return cv2.add(background, fg, dst=fg), out_mask


def object_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding box (top, bottom, left, right), end-exclusive, of the mask's object pixels."""
    x, y, w, h = cv2.boundingRect(mask)
    return y, y + h, x, x + w


def tile_background(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The object's bounding box filled by tiling the largest background strip beside it.

    ImageNet-9's `only_bg_t`: of the four full-width or full-height strips outside the box (above,
    below, left, right), the largest is tiled over the box, starting at the box's corner.
    """
    top, bottom, left, right = object_box(mask)
    strips = {
        "above": image[:top, :],
        "below": image[bottom:, :],
        "left": image[:, :left],
        "right": image[:, right:],
    }
    strip = max(strips.values(), key=lambda s: s.shape[0] * s.shape[1])
    if strip.size == 0:
        raise ValueError("the object's bounding box covers the whole image: no background to tile")
    box_h, box_w = bottom - top, right - left
    reps = (-(-box_h // strip.shape[0]), -(-box_w // strip.shape[1]), 1)
    out = image.copy()
    out[top:bottom, left:right] = np.tile(strip, reps)[:box_h, :box_w]
    return out


def paste_object(image: np.ndarray, mask: np.ndarray, background: np.ndarray) -> np.ndarray:
    """The object pasted by its mask onto `background` resized (bilinear) to the image's size."""
    height, width = mask.shape
    if background.shape[:2] != (height, width):
        return _paste(image, mask, cv2.resize(background, (width, height), interpolation=cv2.INTER_LINEAR))
    return composite(image, background, mask)
