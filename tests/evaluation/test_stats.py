"""Bootstrap intervals by source image, paired across configs; per-class tables."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ximagenet12.evaluation.stats import (
    Bootstrap,
    accuracies,
    class_by_config,
    top5_hits,
)


def predictions(correct: dict[str, list[bool]], labels: list[int] | None = None) -> pa.Table:
    """A predictions-like table: the same source ids in every config."""
    rows = {"source_id": [], "config": [], "label": [], "correct": [], "top5": []}
    for config, values in correct.items():
        for i, ok in enumerate(values):
            label = labels[i] if labels else 0
            rows["source_id"].append(f"s{i}")
            rows["config"].append(config)
            rows["label"].append(label)
            rows["correct"].append(ok)
            rows["top5"].append([label if ok else label + 1, label + 2])
    return pa.table(rows)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.booleans(), min_size=3, max_size=40), st.integers(0, 2**16))
def test_interval_holds_the_estimate_and_is_reproducible(values: list[bool], seed: int) -> None:
    table = predictions({"original": values})
    rows, _ = accuracies(table, ["original"], resamples=200, seed=seed)
    row = rows[0]
    assert row.top1 == pytest.approx(np.mean(values))
    assert row.ci_low <= row.top1 + 1e-9 and row.top1 - 1e-9 <= row.ci_high
    again, _ = accuracies(table, ["original"], resamples=200, seed=seed)
    assert again[0] == row


def test_paired_drop_of_an_identical_config_is_exactly_zero() -> None:
    values = [True, False, True, True, False, True, False, True]
    table = predictions({"original": values, "copy": values, "worse": [False] * 8})
    rows, _ = accuracies(table, ["original", "copy", "worse"], resamples=300)
    copy, worse = rows[1], rows[2]
    assert (copy.drop, copy.drop_ci_low, copy.drop_ci_high) == (0.0, 0.0, 0.0)
    assert worse.drop == pytest.approx(-5 / 8) and worse.drop_ci_high < 0
    assert rows[0].ci_low < rows[0].ci_high


def test_no_reference_means_no_drop() -> None:
    rows, _ = accuracies(predictions({"seg_img": [True, False]}), ["seg_img"], resamples=50)
    assert rows[0].drop is None and rows[0].drop_ci_low is None


def test_derived_statistic_interval() -> None:
    boot = Bootstrap(np.asarray(["a", "b", "c", "a", "b", "c"]), np.asarray(["x"] * 3 + ["y"] * 3),
                     np.asarray([1.0, 1, 0, 1, 0, 0]), ["x", "y"], resamples=200)
    low, high = boot.derived(lambda acc: acc["x"] - acc["y"])
    assert 0 <= low <= 1 / 3 <= high <= 1
    assert all(np.isnan(boot.derived(lambda acc: None)))  # no value at all: no interval


def test_top5_and_class_table() -> None:
    table = predictions({"original": [True, False, True], "seg_img": [False, False, True]}, labels=[0, 1, 1])
    assert top5_hits(table).tolist() == [True, False, True, False, False, True]
    acc, count = class_by_config(table, ["original", "seg_img"], 3)
    assert count.tolist() == [[1, 1], [2, 2], [0, 0]]
    assert acc[0].tolist() == [1.0, 0.0] and acc[1].tolist() == [0.5, 0.5]
    assert np.isnan(acc[2]).all()
