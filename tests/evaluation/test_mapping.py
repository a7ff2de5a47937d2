"""Label mapping: identity, restricted logits, top-1 over 1000 with unmapped counted wrong."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ximagenet12.evaluation.mapping import resolve_mapping

CLASSES = [{"label": i, "imagenet_index": index} for i, index in enumerate((44, 46, 124, 147, 153, 277))]
INDICES = np.asarray([c["imagenet_index"] for c in CLASSES])

logits_1000 = hnp.arrays(
    np.float64, st.tuples(st.integers(1, 6), st.just(1000)), elements=st.floats(-20, 20, width=32)
)


def labels_for(n: int) -> np.ndarray:
    return np.arange(n) % len(CLASSES)


@given(logits_1000)
def test_restrict_is_argmax_over_the_class_indices(logits: np.ndarray) -> None:
    labels = labels_for(len(logits))
    out = resolve_mapping(1000, CLASSES, "restrict").apply(logits, labels)
    restricted = logits[:, INDICES]
    assert np.array_equal(out["prediction"], np.argmax(restricted, axis=1))
    assert np.array_equal(out["correct"], out["prediction"] == labels)
    assert np.all((out["p_true"] >= 0) & (out["p_true"] <= 1))
    assert np.array_equal(out["top5"][:, 0], out["prediction"])
    assert out["top5"].shape == (len(logits), 5)


@given(logits_1000)
def test_argmax_counts_outside_predictions_wrong(logits: np.ndarray) -> None:
    labels = labels_for(len(logits))
    argmax = resolve_mapping(1000, CLASSES, "argmax").apply(logits, labels)
    restrict = resolve_mapping(1000, CLASSES, "restrict").apply(logits, labels)
    top1 = logits.argmax(axis=1)
    inside = np.isin(top1, INDICES)
    assert np.all(argmax["prediction"][~inside] == -1)
    assert np.array_equal(argmax["prediction"][inside], restrict["prediction"][inside])
    assert not np.any(argmax["correct"] & ~restrict["correct"])
    assert np.array_equal(argmax["top5_raw"][:, 0], top1)


def test_identity_for_one_output_per_class() -> None:
    logits = np.eye(6)[[3, 1, 0]] * 5
    mapping = resolve_mapping(6, CLASSES, "argmax")
    out = mapping.apply(logits, np.asarray([3, 2, 0]))
    assert mapping.mode == "identity"
    assert out["prediction"].tolist() == [3, 1, 0]
    assert out["correct"].tolist() == [True, False, True]
    assert out["p_true"][0] == pytest.approx(np.exp(5) / (np.exp(5) + 5))


def test_probability_of_the_true_class_per_mode() -> None:
    logits = np.full((1, 1000), -np.inf)
    logits[0, [44, 46, 999]] = [2.0, 1.0, 2.0]
    restrict = resolve_mapping(1000, CLASSES, "restrict").apply(logits, np.asarray([0]))
    argmax = resolve_mapping(1000, CLASSES, "argmax").apply(logits, np.asarray([0]))
    assert restrict["p_true"][0] == pytest.approx(np.exp(2) / (np.exp(2) + np.exp(1)))
    assert argmax["p_true"][0] == pytest.approx(np.exp(2) / (2 * np.exp(2) + np.exp(1)))
    assert restrict["prediction"][0] == 0 and argmax["prediction"][0] == 0


def test_wrong_output_count_and_bad_class_table_are_refused() -> None:
    with pytest.raises(ValueError, match="outputs"):
        resolve_mapping(10, CLASSES, "restrict")
    with pytest.raises(ValueError, match="mapping"):
        resolve_mapping(1000, CLASSES, "top5")
    with pytest.raises(ValueError, match="ImageNet"):
        resolve_mapping(1000, [{"imagenet_index": 1}, {"imagenet_index": 1}], "restrict")
    with pytest.raises(ValueError, match="expects 1000"):
        resolve_mapping(1000, CLASSES, "restrict").apply(np.zeros((2, 6)), np.zeros(2, int))
