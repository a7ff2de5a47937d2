"""Pure image operations behind the scenarios: uint8 arrays in, uint8 arrays out, no I/O, no RNG.

Images are RGB (H, W, 3) uint8; masks are (H, W) uint8 with 255 on the object and 0 elsewhere.
Hue follows OpenCV's convention (0..179).
"""

from __future__ import annotations

import cv2
import numpy as np


def composite(foreground: np.ndarray, background: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Object pixels from `foreground`, the rest from `background` (hard mask, no feathering)."""
    return cv2.copyTo(foreground, mask, background.copy())


def gaussian_blur(image: np.ndarray, ksize: int, sigma: float) -> np.ndarray:
    """Whole-image Gaussian blur with a square kernel."""
    return cv2.GaussianBlur(image, (ksize, ksize), sigma)


def blur_background(image: np.ndarray, mask: np.ndarray, ksize: int, sigma: float) -> np.ndarray:
    """Background from the blurred image, object kept."""
    return composite(image, gaussian_blur(image, ksize, sigma), mask)


def blur_object(image: np.ndarray, mask: np.ndarray, ksize: int, sigma: float) -> np.ndarray:
    """Object from the blurred image, background kept."""
    return composite(gaussian_blur(image, ksize, sigma), image, mask)


def set_background_hue(image: np.ndarray, mask: np.ndarray, hue: int) -> np.ndarray:
    """Background hue set to one constant, its saturation and value kept; object kept."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = hue
    return composite(image, cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB), mask)


def rotate_background_hue(image: np.ndarray, mask: np.ndarray, shift: int) -> np.ndarray:
    """Background hue rotated by `shift` modulo 180; object kept."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    lut = ((np.arange(256, dtype=np.int32) + shift) % 180).astype(np.uint8)
    hsv[..., 0] = cv2.LUT(hsv[..., 0], lut)
    return composite(image, cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB), mask)


def grey_background(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Background converted to greyscale (ITU-R 601 luma), object kept."""
    grey = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    return composite(image, grey, mask)


def brighten(image: np.ndarray, ksize: int, sigma: float, alpha: float, beta: float, gamma: float) -> np.ndarray:
    """Saturating `alpha * image + beta * blur(image) + gamma`, the authors' brightness change."""
    return cv2.addWeighted(image, alpha, gaussian_blur(image, ksize, sigma), beta, gamma)


def segment(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Object kept, background exactly (0, 0, 0)."""
    return composite(image, np.zeros_like(image), mask)


def remove_object(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Background kept, object pixels exactly (0, 0, 0)."""
    return composite(np.zeros_like(image), image, mask)


def to_transparent(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """RGBA: object (r, g, b, 255), background (0, 0, 0, 0)."""
    return np.dstack([segment(image, mask), mask])


def stretch_onto(image: np.ndarray, mask: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The black-background object stretched to the background's size and added to it, saturating.

    This is the authors' `addWeighted(bg, 1, fg, 1, 0)`: object pixels are the sum of object and
    background, so the object looks washed out; the aspect ratio is not kept.
    """
    height, width = background.shape[:2]
    fg = cv2.resize(segment(image, mask), (width, height), interpolation=cv2.INTER_LINEAR)
    out_mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
    return cv2.add(background, fg), out_mask


def object_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding box (top, bottom, left, right), end-exclusive, of the mask's object pixels."""
    x, y, w, h = cv2.boundingRect(mask)
    return y, y + h, x, x + w


def tile_background(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The object's bounding box filled by tiling the largest background strip beside it.

    ImageNet-9's `only_bg_t`: of the four full-width or full-height strips outside the box (above,
    below, left, right), the largest is tiled over the box, starting at the box's corner.
    """
    height, width = mask.shape
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
        background = cv2.resize(background, (width, height), interpolation=cv2.INTER_LINEAR)
    return composite(image, background, mask)
