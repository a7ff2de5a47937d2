"""Mask variants: erode, dilate and simplify as a coarser tool would change a mask, and their spec."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ximagenet12.errors import EXIT_USAGE
from ximagenet12.masks import MaskVariant, VariantError, compare_masks, parse_variant
from ximagenet12.masks.variants import dilate, erode, simplify
from ximagenet12.sample_data import sample_root


def square(top: int, left: int, size: int, shape: tuple[int, int] = (10, 10)) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    mask[top : top + size, left : left + size] = 255
    return mask


def near(mask: np.ndarray, k: int) -> np.ndarray:
    """Pixels with an object pixel within k (Euclidean), by looping over every pixel pair."""
    ys, xs = np.nonzero(mask)
    out = np.zeros_like(mask)
    for y in range(mask.shape[0]):
        for x in range(mask.shape[1]):
            if len(ys) and ((ys - y) ** 2 + (xs - x) ** 2 <= k * k).any():
                out[y, x] = 255
    return out


def test_erode_one_removes_pixels_with_a_background_neighbour() -> None:
    np.testing.assert_array_equal(erode(square(2, 2, 6), 1), square(3, 3, 4))


def test_erode_two_uses_a_round_disk() -> None:
    # (4, 4) stays: every offset with dx² + dy² <= 4 lands in the 6x6 square; (3, 4) goes: (1, 4) is out.
    np.testing.assert_array_equal(erode(square(2, 2, 6), 2), square(4, 4, 2))


def test_dilate_a_pixel_gives_the_disk() -> None:
    dot = square(5, 5, 1)
    assert np.count_nonzero(dilate(dot, 1)) == 5  # the plus
    assert np.count_nonzero(dilate(dot, 2)) == 13  # 1 + 4 + 4 + 4 offsets within radius 2
    assert dilate(dot, 2)[3, 5] == 255 and dilate(dot, 2)[4, 4] == 255 and dilate(dot, 2)[3, 4] == 0


def test_the_image_edge_is_not_background() -> None:
    touching = np.zeros((10, 10), np.uint8)
    touching[2:8, 0:6] = 255
    expected = np.zeros((10, 10), np.uint8)
    expected[3:7, 0:5] = 255
    np.testing.assert_array_equal(erode(touching, 1), expected)
    full = np.full((6, 6), 255, np.uint8)
    np.testing.assert_array_equal(erode(full, 3), full)


def test_erosion_can_empty_a_thin_object() -> None:
    line = np.zeros((9, 9), np.uint8)
    line[4, 1:8] = 255
    assert not erode(line, 1).any()


small = st.integers(1, 9).flatmap(lambda h: st.integers(1, 9).flatmap(lambda w: arrays(np.bool_, (h, w))))


@settings(max_examples=150, deadline=None)
@given(small, st.integers(1, 3))
def test_dilate_and_erode_match_the_definition(mask: np.ndarray, k: int) -> None:
    m = mask.astype(np.uint8) * 255
    np.testing.assert_array_equal(dilate(m, k), near(m, k))
    # Erosion is dilation of the background, with the outside of the image counted as object.
    np.testing.assert_array_equal(erode(m, k), 255 - near(255 - m, k))
    assert (erode(m, k) <= m).all() and (m <= dilate(m, k)).all()


def outline_pixels(mask: np.ndarray) -> np.ndarray:
    """Pixels with an 8-neighbour of the other value (the image edge not counting)."""
    k = np.ones((3, 3), np.uint8)
    return cv2.dilate(mask, k, borderType=cv2.BORDER_REPLICATE) != cv2.erode(mask, k, borderType=cv2.BORDER_REPLICATE)


@settings(max_examples=300, deadline=None)
@given(small, st.floats(0.01, 0.49))
def test_simplify_below_half_a_pixel_moves_only_outline_pixels(mask: np.ndarray, eps: float) -> None:
    m = mask.astype(np.uint8) * 255
    changed = simplify(m, eps) != m
    assert not (changed & ~outline_pixels(m)).any()


@pytest.mark.parametrize("eps", [0.01, 0.25, 0.49])
def test_simplify_below_half_a_pixel_keeps_straight_edges(eps: float) -> None:
    mask = square(2, 3, 5)
    mask[4:6, 1:9] = 255  # a plus sign: horizontal and vertical edges, inner and outer corners
    np.testing.assert_array_equal(simplify(mask, eps), mask)


def test_simplify_below_half_a_pixel_can_move_a_pixel_of_a_staircase() -> None:
    """A vertex 0.4 px from the chord of its neighbours goes; the chord is then drawn through other pixels."""
    stair = np.zeros((5, 7), np.uint8)
    for y, x in [(0, 3), (1, 2), (2, 2), (3, 1), (4, 0)]:
        stair[y, x] = 255
    moved = simplify(stair, 0.4) != stair
    assert moved.any() and not (moved & ~outline_pixels(stair)).any()


def test_simplify_removes_a_notch_and_keeps_a_hole() -> None:
    mask = square(2, 2, 16, (20, 20))
    mask[2, 9] = 0  # a one-pixel notch in the top edge
    mask[8:12, 8:12] = 0  # a 4x4 hole
    out = simplify(mask, 1.5)
    assert out[2, 9] == 255  # the notch is gone: the top edge is straight again
    assert not out[9:11, 9:11].any()  # the hole stays, its middle empty
    outer = square(2, 2, 16, (20, 20))
    outer[7:13, 7:13] = 0
    np.testing.assert_array_equal(out * (outer > 0), outer)  # nothing else moves
    # Douglas-Peucker may cut the hole's corners (by less than EPS): at most its 4 corner pixels x 2.
    assert np.count_nonzero(out[8:12, 8:12]) <= 8


@pytest.mark.parametrize("path", sorted((sample_root() / "images").glob("*/*.json")), ids=lambda p: p.stem)
@pytest.mark.parametrize("spec", ["erode:2", "dilate:2", "simplify:2"])
def test_variants_of_the_sample_outlines_stay_close(path, spec) -> None:
    from ximagenet12.masks import mask_from_labelme

    mask = mask_from_labelme(path)
    before = mask.copy()
    out = parse_variant(spec)(mask)
    np.testing.assert_array_equal(mask, before)  # pure: the input is untouched
    assert out.dtype == np.uint8 and out.shape == mask.shape and set(np.unique(out)) <= {0, 255}
    m = compare_masks(mask, out, tolerance=3)
    assert m.boundary_f > 0.9 and m.hd95 <= 3  # every variant moves the outline by at most its amount (+rounding)
    if spec.startswith("erode"):
        assert m.area_ratio < 1
    elif spec.startswith("dilate"):
        assert m.area_ratio > 1


@pytest.mark.parametrize(
    ("spec", "variant", "suffix"),
    [("erode:3", MaskVariant("erode", 3), "@erode3"), ("dilate:1", MaskVariant("dilate", 1), "@dilate1"),
     ("simplify:1.5", MaskVariant("simplify", 1.5), "@simplify1p5"),
     ("simplify:2", MaskVariant("simplify", 2.0), "@simplify2"), (" erode:2.0 ", MaskVariant("erode", 2), "@erode2")],
)
def test_spec_parsing_and_config_names(spec, variant, suffix) -> None:
    parsed = parse_variant(spec)
    assert parsed == variant and parsed.suffix == suffix
    assert parsed.config_name("seg_img") == f"seg_img{suffix}"
    assert parse_variant(parsed.spec) == parsed
    assert parsed.to_dict() == {"kind": variant.kind, "amount": variant.amount, "spec": parsed.spec, "suffix": suffix,
                                "description": parsed.describe()}
    assert f"{variant.amount:g} px" in parsed.describe()


@pytest.mark.parametrize(
    ("spec", "says"),
    [("erode:1.5", "whole number"), ("dilate:0", "positive"), ("blur:3", "expected erode:K"),
     ("erode:-1", "positive"), ("erode:x", "not a number"), ("simplify:0.001", "changes nothing"),
     ("erode", "expected erode:K"), ("simplify:inf", "positive")],
)
def test_bad_specs_are_refused_in_one_line(spec, says) -> None:
    with pytest.raises(VariantError) as excinfo:
        parse_variant(spec)
    message = str(excinfo.value)
    assert says in message and repr(spec) in message and "\n" not in message
    assert excinfo.value.exit_code == EXIT_USAGE
