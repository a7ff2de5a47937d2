"""The four object-focus measures against hand-computed values and brute-force references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ximagenet12.evaluation.explain.metrics import object_focus, rank_accuracy

TOP_LEFT = np.zeros((4, 4), np.uint8)
TOP_LEFT[:2, :2] = 255
MAP = np.asarray([[4, 0, 0, 0], [0, 2, 0, 0], [0, 0, 1, 0], [-3, 0, 0, 1]], np.float64)


def test_hand_computed_values() -> None:
    focus = object_focus(MAP, TOP_LEFT, tolerance=0)
    assert focus.note is None
    assert focus.relevance_mass == pytest.approx(6 / 8)  # positive inside 4 + 2, positive total 4 + 2 + 1 + 1
    assert focus.rank_accuracy == pytest.approx(2 / 4)  # top 4 = {4, 2, 1, 1}; the two 1s lie outside
    assert focus.pointing_game == 1.0  # the maximum (4) is inside
    assert focus.energy_pointing_game == pytest.approx(6 / 8)  # the mask is its own box
    assert (focus.object_share, focus.box_share, focus.pointing_share) == (4 / 16, 4 / 16, 4 / 16)
    assert focus.mask_seen == 1.0 and focus.positive_relevance == 8.0 and focus.relevance_sum == 5.0


def test_ties_at_the_kth_value_share_the_places() -> None:
    values = np.asarray([[3, 1, 1, 1], [1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], np.float64)
    # K = 4: the 3 is inside; three places left among four tied 1s, two of them inside ((0, 1) and (1, 0))
    assert object_focus(values, TOP_LEFT).rank_accuracy == pytest.approx((1 + 3 * 2 / 4) / 4)
    # a plateau over everything: the object's share, whatever the pixel order
    flat = np.ones((4, 4))
    assert rank_accuracy(flat, TOP_LEFT > 0) == pytest.approx(0.25)
    assert rank_accuracy(flat[::-1], TOP_LEFT > 0) == pytest.approx(0.25)


def test_pointing_game_tolerance_is_euclidean_and_strict() -> None:
    values = np.zeros((4, 4))
    values[3, 3] = 1.0  # nearest object pixel (1, 1): distance sqrt(8) = 2.83
    assert object_focus(values, TOP_LEFT, tolerance=2.8).pointing_game == 0.0
    assert object_focus(values, TOP_LEFT, tolerance=3.0).pointing_game == 1.0
    assert object_focus(values, TOP_LEFT, tolerance=math.sqrt(8)).pointing_game == 0.0  # strictly less, as TorchRay
    values[0, 0] = 1.0  # two maxima, one inside, one far: half a hit
    assert object_focus(values, TOP_LEFT, tolerance=0).pointing_game == 0.5


def test_energy_game_uses_the_box_of_the_mask() -> None:
    l_shape = np.zeros((4, 4), np.uint8)
    l_shape[0, :2] = l_shape[1, 0] = 255
    focus = object_focus(MAP, l_shape)
    assert focus.relevance_mass == pytest.approx(4 / 8)  # the 2 at (1, 1) lies outside the L
    assert focus.energy_pointing_game == pytest.approx(6 / 8)  # but inside its box
    assert (focus.object_share, focus.box_share) == (3 / 16, 4 / 16)


def test_only_the_pixels_the_model_saw_count() -> None:
    seen = np.ones((4, 4), bool)
    seen[:, 0] = False  # the crop left out the first column
    focus = object_focus(MAP, TOP_LEFT, seen, tolerance=0)
    assert focus.relevance_mass == pytest.approx(2 / 4)  # 4 lies unseen: positive seen 2 + 1 + 1, inside 2
    assert focus.rank_accuracy == pytest.approx(1 / 2)  # K = 2 seen object pixels; top 2 of seen: 2 and a 1
    assert focus.pointing_game == 1.0  # the seen maximum (2) is inside
    assert (focus.object_share, focus.mask_seen) == (2 / 12, 0.5)


@pytest.mark.parametrize(
    ("values", "mask", "seen", "note"),
    [
        (MAP, np.zeros((4, 4), np.uint8), None, "empty mask"),
        (MAP, TOP_LEFT, np.pad(np.ones((2, 2), bool), ((2, 0), (2, 0))), "no object pixel lies in the model's crop"),
        (-np.abs(MAP), TOP_LEFT, None, "no positive attribution"),
        (MAP, np.zeros((4, 5), np.uint8), None, "mask 5x4 differs from the image 4x4"),
        (np.full((4, 4), np.nan), TOP_LEFT, None, "the attribution has non-finite values"),
    ],
)
def test_undefined_measures_say_why_and_are_none(values, mask, seen, note) -> None:
    focus = object_focus(values, mask, seen)
    assert focus.note == note
    assert (focus.relevance_mass, focus.rank_accuracy, focus.pointing_game, focus.energy_pointing_game) == (None,) * 4


masks = arrays(np.bool_, st.tuples(st.integers(2, 12), st.integers(2, 12))).filter(lambda m: m.any())


def brute_reach(inside: np.ndarray, tolerance: float) -> np.ndarray:
    """Pixels within `tolerance` (strictly) of an inside pixel, or inside, by comparing every pair."""
    ys, xs = np.nonzero(inside)
    grid_y, grid_x = np.mgrid[: inside.shape[0], : inside.shape[1]]
    distance = np.sqrt((grid_y[..., None] - ys) ** 2 + (grid_x[..., None] - xs) ** 2).min(axis=-1)
    return inside | (distance < tolerance)


@settings(max_examples=60, deadline=None)
@given(masks, st.floats(0, 6))
def test_an_even_map_scores_the_chance_levels(mask: np.ndarray, tolerance: float) -> None:
    focus = object_focus(np.full(mask.shape, 0.5), mask, tolerance=tolerance)
    share = mask.sum() / mask.size
    rows, cols = np.nonzero(mask)
    box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1) / mask.size
    reach = brute_reach(mask, tolerance).mean()
    assert focus.relevance_mass == pytest.approx(share) and focus.object_share == pytest.approx(share)
    assert focus.rank_accuracy == pytest.approx(share)
    assert focus.energy_pointing_game == pytest.approx(box) and focus.box_share == pytest.approx(box)
    assert focus.pointing_game == pytest.approx(reach) and focus.pointing_share == pytest.approx(reach)


@settings(max_examples=60, deadline=None)
@given(masks, st.integers(0, 2**32 - 1), st.floats(0, 6))
def test_distinct_values_match_a_brute_force_ranking(mask: np.ndarray, seed: int, tolerance: float) -> None:
    values = np.random.default_rng(seed).permutation(mask.size).reshape(mask.shape).astype(np.float64) - 3
    focus = object_focus(values, mask, tolerance=tolerance)
    positive = np.maximum(values, 0)
    if not positive.any():
        assert focus.note == "no positive attribution"
        return
    k = int(mask.sum())
    order = np.argsort(-positive.ravel(), kind="stable")
    if (positive > 0).sum() >= k:  # no ties among the top K
        assert focus.rank_accuracy == pytest.approx(mask.ravel()[order[:k]].mean())
    assert focus.relevance_mass == pytest.approx(positive[mask].sum() / positive.sum())
    top = np.unravel_index(order[0], mask.shape)
    assert focus.pointing_game == float(brute_reach(mask, tolerance)[top])


@settings(max_examples=40, deadline=None)
@given(masks, st.floats(0.01, 100))
def test_maps_on_the_object_or_beside_it(mask: np.ndarray, scale: float) -> None:
    on = object_focus(mask * scale, mask, tolerance=0)
    assert (on.relevance_mass, on.rank_accuracy, on.pointing_game, on.energy_pointing_game) == (1.0, 1.0, 1.0, 1.0)
    if not mask.all():
        off = object_focus(~mask * scale, mask, tolerance=0)
        assert off.relevance_mass == 0.0 and off.pointing_game == 0.0
        assert off.rank_accuracy == pytest.approx(max(0, mask.sum() - (~mask).sum()) / mask.sum())
