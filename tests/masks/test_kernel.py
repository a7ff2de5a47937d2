"""The compiled agreement kernel: built, the NumPy path's numbers to the last bit whatever the masks' layout,
exact distances, and clear errors for what it cannot read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ximagenet12.masks import compare_masks, load_mask, mask_from_labelme, metrics, parse_variant
from ximagenet12.masks.metrics import PERCENTILE, PairMetrics, _binary, _boundary_distances, _edges
from ximagenet12.sample_data import sample_root

from .reference import reference, seg2bmap

needs_kernel = pytest.mark.skipif(metrics.kernel is None, reason="the compiled kernel is not built")


def test_the_compiled_kernel_is_built() -> None:
    # setup.py marks the extension optional so that pip installs without a compiler; CI has one, so a
    # failed build must fail here rather than fall back to the NumPy path unnoticed.
    assert metrics.kernel is not None, "ximagenet12.masks._agreement is not built: pip install -e . with a C compiler"
    assert Path(metrics.kernel.__file__).parent == Path(metrics.__file__).parent


@needs_kernel
def test_the_numpy_path_sets_the_kernel_aside_and_restores_it() -> None:
    built = metrics.kernel
    with pytest.raises(RuntimeError), metrics.numpy_path():
        assert metrics.kernel is None
        raise RuntimeError
    assert metrics.kernel is built


def both_paths(a: np.ndarray, b: np.ndarray, tolerance: float) -> tuple[PairMetrics, PairMetrics]:
    """compare_masks by the compiled kernel, then by NumPy."""
    compiled = compare_masks(a, b, tolerance=tolerance)
    with metrics.numpy_path():
        return compiled, compare_masks(a, b, tolerance=tolerance)


def strided(mask: np.ndarray) -> np.ndarray:
    """The mask as a view every second row and third column of a larger array."""
    big = np.zeros((2 * mask.shape[0], 3 * mask.shape[1]), np.uint8)
    big[::2, ::3] = mask
    return big[::2, ::3]


# One logical mask, stored every way a caller may hand it over.
LAYOUTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "bool": lambda m: m,
    "uint8 0/255": lambda m: m.astype(np.uint8) * 255,
    "int32 -7": lambda m: m.astype(np.int32) * -7,
    "float 0.5": lambda m: m * 0.5,
    "strided view": strided,
    "Fortran order": np.asfortranarray,
    "negative strides": lambda m: m[::-1, ::-1].copy()[::-1, ::-1],
}


@st.composite
def mask_pairs(draw: st.DrawFn, max_side: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Two bool masks of one random size (1xN and Nx1 included): random pixels, empty, full or a box."""
    height, width = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))

    def one() -> np.ndarray:
        kind = draw(st.sampled_from(["random", "empty", "full", "box"]))
        if kind == "random":
            return draw(arrays(np.bool_, (height, width)))
        mask = np.full((height, width), kind == "full")
        if kind == "box":
            top, bottom = sorted(draw(st.integers(0, height)) for _ in range(2))
            left, right = sorted(draw(st.integers(0, width)) for _ in range(2))
            mask[top:bottom, left:right] = True
        return mask

    return one(), one()


@needs_kernel
@settings(max_examples=500, deadline=None)
@given(mask_pairs(), st.sampled_from(sorted(LAYOUTS)), st.sampled_from(sorted(LAYOUTS)),
       st.sampled_from([1, 2, 3, 0.2]))
def test_both_paths_agree_to_the_last_bit(pair, layout_a: str, layout_b: str, tolerance: float) -> None:
    a, b = pair
    compiled, numpy = both_paths(LAYOUTS[layout_a](a), LAYOUTS[layout_b](b), tolerance)
    assert repr(compiled) == repr(numpy)  # repr: every float to its last bit
    assert repr(both_paths(a, b, tolerance)[0]) == repr(compiled)  # the layout does not matter
    if seg2bmap(a) and seg2bmap(b):
        for name, value in reference(a, b, compiled.tolerance_px).items():
            assert getattr(compiled, name) == pytest.approx(value, rel=1e-12, abs=1e-12), name


def discs(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A few random discs, some far from others: many boundary pixels beyond any small tolerance."""
    yy, xx = np.mgrid[:height, :width]
    mask = np.zeros((height, width), bool)
    for _ in range(rng.integers(1, 4)):
        cy, cx, r = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(0.5, 1 + max(height, width) / 3)
        mask |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    return mask


@needs_kernel
@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 70), st.integers(1, 70), st.integers(0, 4))
def test_the_kernels_counts_and_distances_are_exact(seed: int, height: int, width: int, radius: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = discs(rng, height, width), discs(rng, height, width)
    both = _binary(a, 1) | _binary(b, 2)
    (area_a, area_b, inter, sum_xa, sum_ya, sum_xb, sum_yb, edge_a, edge_b, near_a, near_b,
     low_a, high_a, low_b, high_b, d2_a, d2_b) = metrics.kernel.measure(both, radius, PERCENTILE, distances=True)
    (ya, xa), (yb, xb) = np.nonzero(a), np.nonzero(b)
    assert (area_a, area_b, inter) == (a.sum(), b.sum(), (a & b).sum())
    assert (sum_xa, sum_ya, sum_xb, sum_yb) == (xa.sum(), ya.sum(), xb.sum(), yb.sum())
    points_a, points_b = np.array(sorted(seg2bmap(a))), np.array(sorted(seg2bmap(b)))  # raster order
    assert (edge_a, edge_b) == (len(points_a), len(points_b))
    d2_a, d2_b = np.frombuffer(d2_a, np.int64), np.frombuffer(d2_b, np.int64)
    if not (edge_a and edge_b):
        assert (near_a, near_b, low_a, high_a, low_b, high_b, d2_a.size, d2_b.size) == (0, 0, -1, -1, -1, -1, 0, 0)
        return
    all_pairs = ((points_a[:, None, :] - points_b[None, :, :]) ** 2).sum(-1)
    np.testing.assert_array_equal(d2_a, all_pairs.min(1))
    np.testing.assert_array_equal(d2_b, all_pairs.min(0))
    assert (near_a, near_b) == (np.count_nonzero(d2_a <= radius**2), np.count_nonzero(d2_b <= radius**2))
    for d2, low, high in ((d2_a, low_a, high_a), (d2_b, low_b, high_b)):
        below = int(PERCENTILE / 100 * (len(d2) - 1))  # NumPy's linear percentile interpolates from here
        assert (low, high) == (np.sort(d2)[below], np.sort(d2)[min(below + 1, len(d2) - 1)])
    numpy_a, numpy_b, _, _ = _boundary_distances(_edges(both), max(radius, 1))
    assert np.array_equal(np.sqrt(d2_a), numpy_a) and np.array_equal(np.sqrt(d2_b), numpy_b)


def sample_pairs() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The shipped photos' outlines against their GrabCut masks and against variants of themselves."""
    root, pairs = sample_root(), []
    for photo in sorted((root / "images").glob("*/*.JPEG")):
        grabcut = root / "masks" / "grabcut" / photo.parent.name / f"{photo.stem}.png"
        outline = mask_from_labelme(photo.with_suffix(".json"))
        pairs.append((f"{photo.stem} grabcut", outline, load_mask(grabcut, expected_shape=outline.shape)))
        for spec in ("dilate:1", "erode:3", "simplify:2"):
            pairs.append((f"{photo.stem} {spec}", outline, parse_variant(spec)(outline)))
    return pairs


SAMPLE_PAIRS = sample_pairs()


@needs_kernel
@pytest.mark.parametrize(("a", "b"), [p[1:] for p in SAMPLE_PAIRS], ids=[p[0] for p in SAMPLE_PAIRS])
@pytest.mark.parametrize("tolerance", [0.008, 0.002, 3])
def test_both_paths_agree_on_the_sample(a: np.ndarray, b: np.ndarray, tolerance: float) -> None:
    compiled, numpy = both_paths(a, b, tolerance)
    assert repr(compiled) == repr(numpy)
    assert repr(both_paths(b, a, tolerance)[0]) == repr(both_paths(b, a, tolerance)[1])


# --- what the kernel accepts and refuses ---------------------------------------------------------

BOTH = (_binary(discs(np.random.default_rng(1), 9, 13), 1) | _binary(discs(np.random.default_rng(2), 9, 13), 2))


@needs_kernel
def test_any_readable_byte_map_gives_the_same_counts() -> None:
    measure = metrics.kernel.measure
    expected = measure(BOTH, 1, PERCENTILE)
    assert expected[7] and expected[8]  # both masks have a boundary
    assert measure(memoryview(BOTH.tobytes()).cast("B", BOTH.shape), 1, PERCENTILE) == expected
    assert measure(BOTH | 0b11111100, 1, PERCENTILE) == expected  # the higher bits are ignored
    wide = np.zeros((BOTH.shape[0], BOTH.shape[1] + 5), np.uint8)
    wide[:, 2:-3] = BOTH
    assert measure(wide[:, 2:-3], 1, PERCENTILE) == expected  # rows apart in memory
    column = np.asfortranarray(BOTH[:, :1])  # a single column may carry any column stride
    assert measure(column, 1, PERCENTILE) == measure(BOTH[:, :1].copy(), 1, PERCENTILE)
    assert measure((BOTH & 1).astype(bool), 1, PERCENTILE) == measure(BOTH & 1, 1, PERCENTILE)
    everything = measure(BOTH, 2**100, PERCENTILE)  # a radius beyond any distance: every boundary pixel near
    assert everything[9:11] == everything[7:9]


@needs_kernel
@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (np.zeros(5, np.uint8), ValueError, "must be 2-D, got 1 dimensions"),
        (np.zeros((2, 3, 1), np.uint8), ValueError, "must be 2-D, got 3 dimensions"),
        (np.zeros((3, 4), np.int32), TypeError, "uint8 or bool pixels, got format 'i' of 4 bytes"),
        (np.zeros((3, 4), np.float64), TypeError, "uint8 or bool pixels"),
        (np.zeros((0, 4), np.uint8), ValueError, "1 to 67108864 rows and columns, got 0 x 4"),
        (np.zeros((3, 8), np.uint8)[:, ::2], ValueError, r"rows must be contiguous and in order, got strides \(8, 2\)"),
        (np.zeros((3, 4), np.uint8)[::-1], ValueError, "rows must be contiguous and in order"),
        (np.zeros((3, 4), np.uint8, order="F"), ValueError, "rows must be contiguous and in order"),
        ([[0, 1], [1, 0]], TypeError, "bytes-like object is required"),
    ],
    ids=["1-D", "3-D", "int32", "float64", "no rows", "strided columns", "rows reversed", "Fortran order", "list"],
)
def test_buffers_it_cannot_read_are_refused(value, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        metrics.kernel.measure(value, 1, PERCENTILE)


@needs_kernel
@pytest.mark.parametrize(
    ("radius", "q", "error", "message"),
    [
        (-1, PERCENTILE, ValueError, "radius must be >= 0, got -1"),
        (-(2**100), PERCENTILE, ValueError, "radius must be >= 0"),
        (1.5, PERCENTILE, TypeError, "radius must be an int, got float"),
        (1, 100.5, ValueError, r"q must be within \[0, 100\], got 100.5"),
        (1, float("nan"), ValueError, "q must be within"),
    ],
)
def test_bad_arguments_are_refused(radius, q: float, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        metrics.kernel.measure(BOTH, radius, q)
