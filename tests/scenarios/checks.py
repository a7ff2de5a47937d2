"""Reusable fixtures-in-code and checkers for the scenario tests (torchvision-style helpers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

# The authors' published recipe values (facts file), written here independently of the table.
BLUR_KSIZE, BLUR_SIGMA = 15, 3.0
BRIGHT_KSIZE, BRIGHT_SIGMA = 9, 4.0
BRIGHT_ALPHA, BRIGHT_BETA, BRIGHT_GAMMA = 1.5, 0.9, 1.9
HUE_BANDS = {"color_r": [(0, 29), (150, 180)], "color_g": [(30, 89)], "color_b": [(90, 149)]}
RAINBOW_SHIFT = (0, 90)


def make_image(seed: int, height: int, width: int) -> np.ndarray:
    """A colourful RGB uint8 image: a smooth hue/saturation gradient plus noise, saturated enough for HSV tests."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    hue = (rng.uniform(0, 180) + 170 * xx / max(width, 1) + 40 * yy / max(height, 1)) % 180
    sat = np.clip(150 + 100 * yy / max(height, 1) + rng.normal(0, 20, (height, width)), 0, 255)
    val = np.clip(140 + 100 * xx / max(width, 1) + rng.normal(0, 20, (height, width)), 0, 255)
    hsv = np.stack([hue, sat, val], axis=-1).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def random_image(seed: int, height: int, width: int) -> np.ndarray:
    """Uniform random RGB uint8 noise (every value, including dark and grey pixels)."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def ellipse_mask(height: int, width: int, *, scale: float = 0.6) -> np.ndarray:
    """A 0/255 mask holding one centred ellipse; never empty, and leaves background when scale < 1."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    cy, cx = (height - 1) / 2, (width - 1) / 2
    ry, rx = max(scale * height / 2, 0.5), max(scale * width / 2, 0.5)
    inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
    return np.where(inside, 255, 0).astype(np.uint8)


def random_mask(seed: int, height: int, width: int) -> np.ndarray:
    """A 0/255 mask of one or two random rectangles (possibly touching the borders), never empty."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((height, width), np.uint8)
    for _ in range(int(rng.integers(1, 3))):
        top, left = int(rng.integers(0, height)), int(rng.integers(0, width))
        bottom = int(rng.integers(top + 1, height + 1))
        right = int(rng.integers(left + 1, width + 1))
        mask[top:bottom, left:right] = 255
    return mask


def to3(mask: np.ndarray) -> np.ndarray:
    """A 2-D mask as a boolean (H, W, 1) array that broadcasts over channels."""
    return (mask != 0)[..., None]


def object_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right), end-exclusive, of the nonzero pixels, by numpy."""
    ys, xs = np.nonzero(mask)
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1


def hsv(rgb: np.ndarray) -> np.ndarray:
    """OpenCV HSV (hue 0..179) of an RGB image, as int64 for arithmetic."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.int64)


def check_object_untouched(out: np.ndarray, image: np.ndarray, mask: np.ndarray) -> None:
    """Every object pixel of `out` equals the source's."""
    assert out.shape[:2] == image.shape[:2]
    on = mask != 0
    np.testing.assert_array_equal(out[..., :3][on], image[on], err_msg="object pixels changed")


def check_background_untouched(out: np.ndarray, image: np.ndarray, mask: np.ndarray) -> None:
    """Every background pixel of `out` equals the source's."""
    assert out.shape[:2] == image.shape[:2]
    off = mask == 0
    np.testing.assert_array_equal(out[..., :3][off], image[off], err_msg="background pixels changed")


def check_binary_mask(mask: np.ndarray, shape: tuple[int, ...]) -> None:
    """A uint8 (H, W) mask holding only 0 and 255, aligned with an image of `shape`."""
    assert mask.dtype == np.uint8
    assert mask.shape == shape[:2]
    assert set(np.unique(mask).tolist()) <= {0, 255}


def _arrays(values: Any) -> list[np.ndarray]:
    found: list[np.ndarray] = []
    for value in values:
        if isinstance(value, np.ndarray):
            found.append(value)
        elif isinstance(value, (tuple, list)):
            found.extend(_arrays(value))
    return found


def check_pure(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run `fn` twice on read-only inputs: inputs unchanged, equal results, no output aliasing an input."""
    inputs = _arrays(list(args) + list(kwargs.values()))
    before = [a.copy() for a in inputs]
    flags = [a.flags.writeable for a in inputs]
    for a in inputs:
        a.flags.writeable = False
    try:
        first, second = fn(*args, **kwargs), fn(*args, **kwargs)
    finally:
        for a, writeable in zip(inputs, flags, strict=True):
            if writeable:
                a.flags.writeable = True
    for a, b in zip(inputs, before, strict=True):
        np.testing.assert_array_equal(a, b, err_msg="an input was mutated")
    outs_first, outs_second = _arrays([first]), _arrays([second])
    assert len(outs_first) == len(outs_second) > 0
    for x, y in zip(outs_first, outs_second, strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes(), "two calls on the same inputs differ"
        for a in inputs:
            assert not np.shares_memory(x, a), "an output shares memory with an input"
    if isinstance(first, tuple) and len(first) == 3 and isinstance(first[2], dict):
        assert first[2] == second[2]
    return first


# Independent references: each scenario as the facts file describes it, written plainly (BGR, as
# the authors' OpenCV scripts were) with np.where on 3-channel masks, sharing no code with the engine.


def _bgr(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb[..., ::-1])


def _rgb(bgr: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(bgr[..., ::-1])


def ref_blur(image: np.ndarray) -> np.ndarray:
    """The whole image blurred as the authors did."""
    return _rgb(cv2.GaussianBlur(_bgr(image), (BLUR_KSIZE, BLUR_KSIZE), BLUR_SIGMA))


def ref_bright(image: np.ndarray) -> np.ndarray:
    """The whole image through the authors' saturating addWeighted brightness change."""
    bgr = _bgr(image)
    blur = cv2.GaussianBlur(bgr, (BRIGHT_KSIZE, BRIGHT_KSIZE), BRIGHT_SIGMA)
    return _rgb(cv2.addWeighted(bgr, BRIGHT_ALPHA, blur, BRIGHT_BETA, BRIGHT_GAMMA))


def ref_hue_set(image: np.ndarray, hue: int) -> np.ndarray:
    """The whole image with its hue set to `hue`, S and V kept, through OpenCV's BGR HSV."""
    hsv_bgr = cv2.cvtColor(_bgr(image), cv2.COLOR_BGR2HSV)
    hsv_bgr[..., 0] = hue
    return _rgb(cv2.cvtColor(hsv_bgr, cv2.COLOR_HSV2BGR))


def ref_hue_rotated(image: np.ndarray, shift: int) -> np.ndarray:
    """The whole image with its hue rotated by `shift` modulo 180 (in int, not the authors' uint8)."""
    hsv_bgr = cv2.cvtColor(_bgr(image), cv2.COLOR_BGR2HSV)
    hsv_bgr[..., 0] = (hsv_bgr[..., 0].astype(np.int64) + shift) % 180
    return _rgb(cv2.cvtColor(hsv_bgr, cv2.COLOR_HSV2BGR))


def ref_grey(image: np.ndarray) -> np.ndarray:
    """The whole image in BT.601 luma, as three equal channels."""
    grey = cv2.cvtColor(_bgr(image), cv2.COLOR_BGR2GRAY)
    return np.repeat(grey[..., None], 3, axis=2)


def ref_segment(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Object kept, background black."""
    return np.where(to3(mask), image, 0).astype(np.uint8)


def ref_tile(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """ImageNet-9 only_bg_t: the box filled, from its corner, by tiling the largest outside strip."""
    top, bottom, left, right = object_box(mask)
    height, width = mask.shape
    strips = [
        (top * width, image[:top]),
        ((height - bottom) * width, image[bottom:]),
        (left * height, image[:, :left]),
        ((width - right) * height, image[:, right:]),
    ]
    area, strip = max(strips, key=lambda item: item[0])
    assert area > 0
    out = image.copy()
    sh, sw = strip.shape[:2]
    for i in range(bottom - top):
        for j in range(right - left):
            out[top + i, left + j] = strip[i % sh, j % sw]
    return out


def ref_stretch(image: np.ndarray, mask: np.ndarray, photo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The black-background object stretched to the photo's size and added to it, saturating."""
    height, width = photo.shape[:2]
    fg = cv2.resize(ref_segment(image, mask), (width, height), interpolation=cv2.INTER_LINEAR)
    out = np.clip(photo.astype(np.int64) + fg.astype(np.int64), 0, 255).astype(np.uint8)
    return out, cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)


def reference(
    name: str,
    image: np.ndarray,
    mask: np.ndarray,
    params: dict[str, Any],
    background: np.ndarray | None = None,
    background_mask: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The expected (image, mask) of scenario `name`, computed independently of the engine."""
    m3 = to3(mask)
    if name == "original":
        return image, mask
    if name == "blur_bg":
        return np.where(m3, image, ref_blur(image)), mask
    if name == "blur_obj":
        return np.where(m3, ref_blur(image), image), mask
    if name in HUE_BANDS:
        return np.where(m3, image, ref_hue_set(image, params["hue"])), mask
    if name == "color_rainbow":
        return np.where(m3, image, ref_hue_rotated(image, params["shift"])), mask
    if name == "color_grey":
        return np.where(m3, image, ref_grey(image)), mask
    if name == "bright_bg":
        return np.where(m3, image, ref_bright(image)), mask
    if name == "bright_fg":
        return np.where(m3, ref_bright(image), image), mask
    if name == "seg_img":
        return ref_segment(image, mask), mask
    if name == "transparent":
        return np.dstack([ref_segment(image, mask), np.where(mask != 0, 255, 0).astype(np.uint8)]), mask
    if name == "rand_bg":
        assert background is not None
        return ref_stretch(image, mask, background)
    if name == "ai_bg":
        assert background is not None
        height, width = background.shape[:2]
        return background, cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
    if name == "no_fg":
        return np.where(m3, 0, image).astype(np.uint8), mask
    if name == "only_bg_t":
        return ref_tile(image, mask), mask
    if name.startswith("mixed_"):
        assert background is not None and background_mask is not None
        height, width = mask.shape
        other = cv2.resize(ref_tile(background, background_mask), (width, height), interpolation=cv2.INTER_LINEAR)
        return np.where(m3, image, other), mask
    raise KeyError(f"no reference for scenario {name!r}: add one before adding the scenario")


def extra_inputs(name: str, image: np.ndarray, mask: np.ndarray, *, seed: int = 1) -> dict[str, np.ndarray]:
    """The `background=` / `background_mask=` a scenario needs: another image of another size."""
    from ximagenet12.scenarios import SCENARIOS

    extra = SCENARIOS[name].extra
    if extra is None:
        return {}
    height, width = image.shape[:2]
    other_h, other_w = height + 3, max(width - 2, 4)
    if "background_mask" in extra.arguments:
        other = make_image(seed + 100, other_h, other_w)
        return {"background": other, "background_mask": ellipse_mask(other_h, other_w)}
    return {"background": random_image(seed + 200, other_h, other_w)}
