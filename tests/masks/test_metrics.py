"""Agreement measures of two masks: hand-computed cases, degenerate masks, and properties against a slow reference,
each on both paths of `compare_masks` (the compiled kernel and NumPy's)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ximagenet12.masks import compare_masks, metrics
from ximagenet12.masks.metrics import _nearest_d2, boundary_map, percentile, tolerance_pixels

from .reference import reference, seg2bmap

FIELDS = ("iou", "dice", "boundary_precision", "boundary_recall", "boundary_f", "hd95", "area_ratio",
          "centroid_shift")


@pytest.fixture(autouse=True, scope="module", params=["compiled", "numpy"])
def path(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test of this module on each path (module-scoped: hypothesis refuses function-scoped fixtures)."""
    if request.param == "compiled" and metrics.kernel is None:
        pytest.skip("the compiled kernel is not built (test_kernel.py::test_the_compiled_kernel_is_built fails)")
    with metrics.numpy_path() if request.param == "numpy" else contextlib.nullcontext():
        yield request.param


def square(height: int, width: int, top: int, left: int, size: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    mask[top : top + size, left : left + size] = 255
    return mask


def assert_no_nan(metrics) -> None:
    for name in FIELDS:
        value = getattr(metrics, name)
        assert value is None or math.isfinite(value), (name, value)


# --- hand-computed -------------------------------------------------------------------------------


def test_boundary_of_a_square_is_the_ring_half_a_pixel_up_left() -> None:
    # A 2x2 object at rows 1-2, cols 1-2: the pixels differing from their E, S or SE neighbour
    # are the 3x3 block at (0, 0) without its centre (1, 1).
    edge = boundary_map(square(6, 6, 1, 1, 2))
    expected = np.zeros((6, 6), np.uint8)
    expected[0:3, 0:3] = 1
    expected[1, 1] = 0
    np.testing.assert_array_equal(edge, expected)


def test_identical_masks_agree_perfectly() -> None:
    a = square(10, 10, 2, 2, 4)
    m = compare_masks(a, a.copy(), tolerance=1)
    assert (m.iou, m.dice, m.boundary_f, m.hd95, m.area_ratio, m.centroid_shift) == (1, 1, 1, 0, 1, 0)
    assert (m.area_a, m.area_b, m.note) == (16, 16, None)


def test_disjoint_squares() -> None:
    # A 2x2 at cols 1-2, B at cols 6-7: boundaries are rings at cols 0-2 and 5-7, so the A->B
    # distances are 5, 4, 3 (top), 5, 3 (middle), 5, 4, 3 (bottom): 95th percentile 5.
    a, b = square(6, 10, 1, 1, 2), square(6, 10, 1, 6, 2)
    m = compare_masks(a, b, tolerance=1)
    assert (m.iou, m.dice, m.boundary_precision, m.boundary_recall, m.boundary_f) == (0, 0, 0, 0, 0)
    assert m.hd95 == 5 and m.area_ratio == 1 and m.centroid_shift == 5


def test_one_pixel_shift() -> None:
    # 4x4 squares, B one column right: overlap 12 of 20 pixels; half the boundary pixels
    # coincide and the rest are 1 px away.
    a, b = square(10, 10, 2, 2, 4), square(10, 10, 2, 3, 4)
    m = compare_masks(a, b, tolerance=1)
    assert m.iou == pytest.approx(12 / 20) and m.dice == pytest.approx(24 / 32)
    assert (m.boundary_precision, m.boundary_recall, m.boundary_f, m.hd95) == (1, 1, 1, 1)
    assert m.centroid_shift == pytest.approx(1) and m.area_ratio == 1


def test_two_pixel_shift() -> None:
    # Boundary distances A->B (and back): 6 at 0 px, 4 at 1 px, 6 at 2 px; within 1 px: 10 of 16.
    a, b = square(10, 10, 2, 2, 4), square(10, 10, 2, 4, 4)
    m = compare_masks(a, b, tolerance=1)
    assert m.iou == pytest.approx(8 / 24) and m.dice == pytest.approx(16 / 32)
    assert m.boundary_precision == pytest.approx(10 / 16) and m.boundary_recall == pytest.approx(10 / 16)
    assert m.boundary_f == pytest.approx(10 / 16) and m.hd95 == 2 and m.centroid_shift == pytest.approx(2)


def test_ring_against_the_filled_square() -> None:
    # A: a 6x6 square with a 2x2 hole in the middle; B: the square. The hole's 8 boundary
    # pixels are 2 px from the outer boundary, which both share (24 pixels).
    b = square(10, 10, 2, 2, 6)
    a = b.copy()
    a[4:6, 4:6] = 0
    m = compare_masks(a, b, tolerance=1)
    assert m.iou == pytest.approx(32 / 36) and m.dice == pytest.approx(64 / 68)
    assert m.boundary_precision == pytest.approx(24 / 32) and m.boundary_recall == 1
    assert m.boundary_f == pytest.approx(2 * 0.75 / 1.75)
    assert m.hd95 == 2 and m.area_ratio == pytest.approx(36 / 32) and m.centroid_shift == pytest.approx(0)


def test_tolerance_is_a_fraction_of_the_diagonal_rounded_up_or_pixels() -> None:
    assert tolerance_pixels(375, 500) == 5  # DAVIS's 0.008 of a 625-px diagonal
    assert tolerance_pixels(480, 854) == 8  # 7.84 rounded up, as DAVIS does
    assert tolerance_pixels(10, 10, 0.05) == 1 and tolerance_pixels(10, 10, 3) == 3
    with pytest.raises(ValueError, match="positive"):
        tolerance_pixels(10, 10, 0)
    m = compare_masks(square(375, 500, 100, 100, 50), square(375, 500, 100, 106, 50))
    assert (m.tolerance, m.tolerance_px) == (0.008, 5)


# --- degenerate masks ----------------------------------------------------------------------------

EMPTY, FULL = np.zeros((10, 10), np.uint8), np.full((10, 10), 255, np.uint8)
SQUARE = square(10, 10, 2, 2, 4)


def test_both_empty_agree_perfectly_with_a_note() -> None:
    m = compare_masks(EMPTY, EMPTY)
    assert (m.iou, m.dice, m.boundary_f, m.hd95, m.area_ratio, m.centroid_shift) == (1, 1, 1, 0, 1, 0)
    assert m.note == "both masks empty"


def test_both_full_agree_perfectly_with_a_note() -> None:
    m = compare_masks(FULL, FULL)
    assert (m.iou, m.dice, m.boundary_f, m.hd95, m.area_ratio, m.centroid_shift) == (1, 1, 1, 0, 1, 0)
    assert m.note == "both masks cover the whole image"


def test_empty_against_full_has_no_distance_and_says_why() -> None:
    m = compare_masks(EMPTY, FULL)
    assert (m.iou, m.dice, m.boundary_f) == (0, 0, 0)
    assert (m.hd95, m.area_ratio, m.centroid_shift) == (None, None, None)
    assert "neither mask has a boundary" in m.note and "mask A empty" in m.note
    assert_no_nan(m)


@pytest.mark.parametrize(
    ("a", "b", "ratio", "shifted", "says"),
    [
        (EMPTY, SQUARE, None, None, ["mask A has no boundary", "mask A empty: no area ratio or centroid shift"]),
        (SQUARE, EMPTY, 0.0, None, ["mask B has no boundary", "mask B empty: no centroid shift"]),
        (FULL, SQUARE, 16 / 100, True, ["mask A has no boundary"]),
        (SQUARE, FULL, 100 / 16, True, ["mask B has no boundary"]),
    ],
    ids=["empty-square", "square-empty", "full-square", "square-full"],
)
def test_one_degenerate_mask(a, b, ratio, shifted, says) -> None:
    m = compare_masks(a, b)
    assert m.boundary_f == 0 and m.hd95 is None
    assert m.area_ratio == (None if ratio is None else pytest.approx(ratio))
    # Full 10x10: centroid (4.5, 4.5); the square rows/cols 2-5: (3.5, 3.5).
    assert m.centroid_shift == (pytest.approx(math.hypot(1, 1)) if shifted else None)
    for text in says:
        assert text in m.note
    # DAVIS: the mask without boundary has precision 1 and the other recall 0 (A's precision, B's recall).
    assert (m.boundary_precision, m.boundary_recall) == ((1.0, 0.0) if a is not SQUARE else (0.0, 1.0))
    assert_no_nan(m)


def test_inputs_of_any_integer_or_bool_type_and_values() -> None:
    a = SQUARE > 0
    b = (square(10, 10, 2, 3, 4) // 255 * 7).astype(np.int32)
    m = compare_masks(a, b, tolerance=1)
    assert m.iou == pytest.approx(12 / 20) and m.hd95 == 1


def test_masks_of_different_size_are_refused() -> None:
    with pytest.raises(ValueError, match="one size"):
        compare_masks(np.zeros((4, 5), np.uint8), np.zeros((5, 4), np.uint8))


# --- properties ------------------------------------------------------------------------------------

small_masks = st.integers(1, 12).flatmap(
    lambda h: st.integers(1, 12).flatmap(
        lambda w: st.tuples(arrays(np.bool_, (h, w)), arrays(np.bool_, (h, w)))
    )
)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(small_masks, st.sampled_from([1, 2, 3, 0.2]))
def test_matches_the_slow_reference(pair, tolerance) -> None:
    a, b = pair
    m = compare_masks(a, b, tolerance=tolerance)
    assert_no_nan(m)
    if seg2bmap(a) and seg2bmap(b):
        expected = reference(a, b, m.tolerance_px)
        for name, value in expected.items():
            assert getattr(m, name) == pytest.approx(value, rel=1e-12, abs=1e-12), name


@settings(max_examples=200, deadline=None)
@given(small_masks)
def test_symmetry_and_bounds(pair) -> None:
    a, b = pair
    ab, ba = compare_masks(a, b, tolerance=1), compare_masks(b, a, tolerance=1)
    for name in ("iou", "dice", "boundary_f", "hd95", "centroid_shift"):
        assert getattr(ab, name) == getattr(ba, name) or getattr(ab, name) == pytest.approx(getattr(ba, name))
    assert (ab.boundary_precision, ab.boundary_recall) == (ba.boundary_recall, ba.boundary_precision)
    if ab.area_ratio and ba.area_ratio:
        assert ab.area_ratio * ba.area_ratio == pytest.approx(1)
    assert 0 <= ab.iou <= ab.dice <= 1 and 0 <= ab.boundary_f <= 1
    assert ab.iou == pytest.approx(ab.dice / (2 - ab.dice))
    assert ab.hd95 is None or ab.hd95 >= 0


def blobs(seed: int, size: int = 120, count: int = 3) -> np.ndarray:
    """A few overlapping discs, rows and columns of an irregular object."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    mask = np.zeros((size, size), bool)
    for _ in range(count):
        (cy, cx), r = rng.uniform(0.2, 0.8, 2) * size, rng.uniform(0.08, 0.2) * size
        mask |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    return mask


@pytest.mark.parametrize("seed", range(4))
def test_far_apart_boundaries_go_through_the_exact_search(seed: int) -> None:
    # Objects tens of pixels apart: most boundary pixels are beyond the tolerance, so they are
    # measured by the k-d tree; the result must still equal the all-pairs reference.
    a, b = blobs(seed), blobs(seed + 100)
    m = compare_masks(a, b, tolerance=2)
    expected = reference(a, b, 2)
    for name, value in expected.items():
        assert getattr(m, name) == pytest.approx(value, rel=1e-12, abs=1e-12), name


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 400), st.integers(1, 400))
def test_nearest_search_is_exact(seed: int, n: int, m: int) -> None:
    rng = np.random.default_rng(seed)
    points, targets = rng.integers(0, 300, (n, 2)), rng.integers(0, 300, (m, 2))
    expected = ((points[:, None, :] - targets[None, :, :]) ** 2).sum(-1).min(1)
    np.testing.assert_array_equal(_nearest_d2(points, targets), expected)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 1000, allow_nan=False), min_size=1, max_size=50), st.floats(0, 100))
def test_percentile_is_numpys(values, q) -> None:
    assert percentile(np.array(values), q) == pytest.approx(float(np.percentile(values, q)), rel=1e-12, abs=1e-9)
