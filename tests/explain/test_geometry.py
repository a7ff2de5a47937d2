"""Model-input maps carried back to stored pixels: markers through the real resize and centre crop, Pillow's box
filter, totals, and the pixels the crop never covers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from ximagenet12.evaluation.explain.geometry import to_stored, transfer
from ximagenet12.evaluation.preprocessing import Preprocessing, crop_box, resize_crop, resized_size

modes = st.sampled_from(["shorter", "squash"])
roundings = st.sampled_from(["round", "floor"])


def marker_image(width: int, height: int, x: int, y: int, side: int = 1) -> Image.Image:
    """A black single-channel float image with a side x side square of ones at (x, y)."""
    pixels = np.zeros((height, width), np.float32)
    pixels[y : y + side, x : x + side] = 1.0
    return Image.fromarray(pixels, mode="F")


@settings(max_examples=80, deadline=None)
@given(st.integers(6, 240), st.integers(6, 240), st.floats(0, 1), st.floats(0, 1), st.integers(4, 64),
       st.integers(0, 24), modes, roundings)
def test_a_marker_through_nearest_resize_and_crop_maps_back_onto_itself(
    width: int, height: int, u: float, v: float, crop: int, extra: int, mode: str, rounding: str
) -> None:
    pre = Preprocessing(resize=crop + extra, crop=crop, interpolation="nearest", resize_mode=mode,
                        crop_rounding=rounding)
    new_width, new_height = resized_size(width, height, pre)
    left, top, right, bottom = crop_box(new_width, new_height, pre)
    sx, sy = width / new_width, height / new_height
    side = int(np.ceil(max(sx, sy)))  # nearest sampling skips pixels when shrinking; a marker this big it cannot
    x = min(width - side, int(left * sx + u * (right - left) * sx))
    y = min(height - side, int(top * sy + v * (bottom - top) * sy))
    response = resize_crop(marker_image(width, height, x, y, side), pre)  # the real preprocessing
    assume(response.any())  # the crop's edge may still cut it off
    stored = to_stored(response, width, height, pre)
    ys, xs = np.nonzero(stored.relevance > 1e-12)
    assert stored.relevance[y : y + side, x : x + side].sum() > 0 and stored.seen[y : y + side, x : x + side].any()
    # nothing lands farther from the marker than one model-input pixel's footprint
    assert xs.min() > x - sx - 1 and xs.max() < x + side + sx and ys.min() > y - sy - 1 and ys.max() < y + side + sy
    assert stored.relevance.sum() == pytest.approx(float(response.sum()))


@settings(max_examples=60, deadline=None)
@given(st.integers(16, 400), st.integers(16, 400), st.integers(0, 10**6), st.sampled_from(["bilinear", "bicubic"]),
       modes)
def test_a_marker_through_smooth_resampling_maps_back_around_itself(
    width: int, height: int, where: int, interpolation: str, mode: str
) -> None:
    pre = Preprocessing(resize=40, crop=32, interpolation=interpolation, resize_mode=mode)
    new_width, new_height = resized_size(width, height, pre)
    left, top, right, bottom = crop_box(new_width, new_height, pre)
    sx, sy = width / new_width, height / new_height
    # a marker well inside the crop's footprint, so the filter's support stays within it
    x0 = int((left + 3) * sx) + where % max(1, int((right - left - 6) * sx))
    y0 = int((top + 3) * sy) + (where // 997) % max(1, int((bottom - top - 6) * sy))
    response = np.maximum(resize_crop(marker_image(width, height, x0, y0), pre), 0)  # bicubic rings below zero
    stored = to_stored(response, width, height, pre)
    mass = stored.relevance
    ys, xs = np.mgrid[:height, :width]
    centre_x, centre_y = (mass * xs).sum() / mass.sum(), (mass * ys).sum() / mass.sum()
    assert abs(centre_x - x0) <= max(1.0, sx) and abs(centre_y - y0) <= max(1.0, sy)
    assert mass.sum() == pytest.approx(float(response.sum()))


@settings(max_examples=60, deadline=None)
@given(st.integers(4, 40), st.integers(4, 40), st.integers(1, 4), st.integers(0, 39), modes, roundings,
       st.integers(0, 2**32 - 1))
def test_pillows_box_resize_is_the_transfer_transposed(
    width: int, height: int, factor: int, trim: int, mode: str, rounding: str, seed: int
) -> None:
    """For whole-number scale factors Pillow's box filter averages exactly the stored pixels each model-input pixel's
    footprint covers: the crop is rows^T @ image @ columns."""
    short = min(width, height)
    crop = max(1, short - trim % short)
    pre = Preprocessing(resize=short, crop=crop, interpolation="box",
                        resize_mode=mode, crop_rounding=rounding)
    if mode == "squash":
        width = height = short  # squashing to `short` x `short` is a whole-number factor only from a square
    stored_width, stored_height = width * factor, height * factor
    image = np.random.default_rng(seed).random((stored_height, stored_width)).astype(np.float32)
    crop_pixels = resize_crop(Image.fromarray(image, mode="F"), pre).astype(np.float64)
    new_width, new_height = resized_size(stored_width, stored_height, pre)
    assert (new_width, new_height) == (width, height)
    left, top, _, _ = crop_box(new_width, new_height, pre)
    columns, _ = transfer(stored_width, new_width, left, pre.crop)
    rows, _ = transfer(stored_height, new_height, top, pre.crop)
    assert np.allclose(crop_pixels, rows.T @ image @ columns, atol=1e-5)


@settings(max_examples=60, deadline=None)
@given(st.integers(8, 300), st.integers(8, 300), st.integers(4, 48), st.integers(0, 30), modes,
       st.integers(0, 2**32 - 1))
@example(8, 77, 4, 29, "squash", 0)  # the crop ends on a stored pixel's edge: 18 * 77/33 rounds above 42
@example(8, 140, 25, 27, "squash", 0)  # and 39 * 140/52 above 105
def test_totals_are_kept_and_the_uncovered_pixels_are_unseen(
    width: int, height: int, crop: int, extra: int, mode: str, seed: int
) -> None:
    pre = Preprocessing(resize=crop + extra, crop=crop, resize_mode=mode)
    attribution = np.random.default_rng(seed).normal(size=(crop, crop))
    stored = to_stored(attribution, width, height, pre)
    assert stored.relevance.shape == stored.seen.shape == (height, width)
    assert stored.relevance.sum() == pytest.approx(attribution.sum(), abs=1e-9)
    assert np.all(stored.relevance[~stored.seen] == 0)
    new_width, new_height = resized_size(width, height, pre)
    left, top, right, bottom = crop_box(new_width, new_height, pre)
    xs, ys = np.arange(width), np.arange(height)
    # Stored pixel x covers resized [x * new / stored, (x + 1) * new / stored): compared in integers, as a float
    # product such as 39 * 140/52 lands a hair above 105 and would call a pixel seen that only touches the crop.
    seen_x = ((xs + 1) * new_width > left * width) & (xs * new_width < right * width)
    seen_y = ((ys + 1) * new_height > top * height) & (ys * new_height < bottom * height)
    assert np.array_equal(stored.seen, seen_y[:, None] & seen_x[None, :])


def test_without_resize_or_crop_the_map_is_the_stored_map() -> None:
    pre = Preprocessing(resize=24, crop=24)
    attribution = np.arange(24 * 24, dtype=np.float64).reshape(24, 24)
    stored = to_stored(attribution, 24, 24, pre)
    assert np.allclose(stored.relevance, attribution) and stored.seen.all()
    with pytest.raises(ValueError, match="expected a 24x24 attribution"):
        to_stored(attribution[:10], 24, 24, pre)
