"""Pixels around the model: working size, the region repainted, what the model is shown, the object pasted back."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.ndimage import distance_transform_edt
from ximagenet12_builder.generation import compose

from ximagenet12.synthetic import make_scene


@pytest.mark.parametrize(
    ("size", "native", "multiple", "expected"),
    [
        # 375x500 to about 1024² in multiples of 32: scale 1024 / sqrt(187500) = 2.3649;
        # 886.8 / 32 = 27.7 -> 28 -> 896, 1182.4 / 32 = 36.95 -> 37 -> 1184.
        ((375, 500), 1024, 32, (896, 1184)),
        # SD 1.5 (512, multiples of 64): scale 512 / 433.01 = 1.1824;
        # 443.4 / 64 = 6.93 -> 448, 591.2 / 64 = 9.24 -> 576.
        ((375, 500), 512, 64, (448, 576)),
        # a square source maps to the native square
        ((300, 300), 1024, 32, (1024, 1024)),
        # a very thin source keeps one multiple on its short side: 4000 x 4.0477 = 16190.9 -> 253 x 64
        ((4, 4000), 512, 64, (64, 16192)),
    ],
)
def test_working_size_by_hand(size, native, multiple, expected) -> None:
    assert compose.working_size(*size, native, multiple) == expected


@given(st.integers(16, 4000), st.integers(16, 4000), st.sampled_from([(1024, 32), (512, 64), (64, 8)]))
def test_working_size_keeps_area_and_aspect_within_a_multiple(height: int, width: int, model: tuple) -> None:
    native, multiple = model
    h, w = compose.working_size(height, width, native, multiple)
    assert h % multiple == 0 and w % multiple == 0 and h >= multiple and w >= multiple
    scale = native / math.sqrt(height * width)
    for side, source in ((h, height), (w, width)):
        assert abs(side - source * scale) <= multiple / 2 or side == multiple


def test_repaint_is_the_background_grown_into_the_object_by_the_dilation() -> None:
    _, mask = make_scene(3, 80, 120)
    for dilation in (0, 2, 8):
        repaint = compose.repaint_mask(mask, mask.shape, dilation) > 0
        assert repaint[mask == 0].all()
        # distance of each object pixel to the nearest background pixel
        depth = distance_transform_edt(mask > 0)
        inside = mask > 0
        assert repaint[inside & (depth <= dilation)].all()
        assert not repaint[inside & (depth > dilation * math.sqrt(2))].any()
        assert np.isin(compose.repaint_mask(mask, mask.shape, dilation), [0, 255]).all()


def test_repaint_mask_is_made_at_the_working_size() -> None:
    mask = np.zeros((6, 8), np.uint8)
    mask[2:4, 2:6] = 255
    repaint = compose.repaint_mask(mask, (12, 16), 0)
    expected = np.full((12, 16), 255, np.uint8)
    expected[4:8, 4:12] = 0  # nearest-neighbour doubling of the object's rows 2-3 and columns 2-5
    np.testing.assert_array_equal(repaint, expected)


def test_the_model_sees_grey_wherever_it_repaints_and_the_source_elsewhere() -> None:
    image, mask = make_scene(4, 64, 96)
    repaint = compose.repaint_mask(mask, mask.shape, 3)
    shown = compose.model_input(image, repaint)
    assert (shown[repaint > 0] == compose.GREY).all()
    np.testing.assert_array_equal(shown[repaint == 0], image[repaint == 0])


def test_to_uint8_rounds_and_clips() -> None:
    # 0.5 x 255 = 127.5 rounds to even: 128
    values = np.array([[[-0.2, 0.0, 0.4 / 255]], [[0.5, 254.6 / 255, 1.3]]], np.float32)
    np.testing.assert_array_equal(compose.to_uint8(values), [[[0, 0, 0]], [[128, 255, 255]]])


def test_finish_keeps_every_object_pixel_and_takes_the_rest_from_the_generated_picture() -> None:
    image, mask = make_scene(5, 96, 128)
    generated, _ = make_scene(6, 96, 128)
    out = compose.finish(generated, image, mask)
    np.testing.assert_array_equal(out[mask > 0], image[mask > 0])
    np.testing.assert_array_equal(out[mask == 0], generated[mask == 0])


def test_finish_brings_a_working_size_picture_back_to_the_source_size() -> None:
    image, mask = make_scene(7, 90, 120)
    generated = np.full((56, 72, 3), (10, 200, 30), np.uint8)
    out = compose.finish(generated, image, mask)
    assert out.shape == image.shape
    np.testing.assert_array_equal(out[mask > 0], image[mask > 0])
    assert (out[mask == 0] == (10, 200, 30)).all()  # a flat picture stays flat whatever the resampling
