"""The dataset's columns as `datasets` features: the same for every config and split."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datasets

SPLITS: tuple[str, ...] = ("train", "test")
TEST_PERCENT = 20
NUM_FOLDS = 12
SPLIT_RULE = (
    f"test if sha256(source_id) % 100 < {TEST_PERCENT}; fold = sha256(source_id) // 100 % {NUM_FOLDS}"
)


def features(class_names: Sequence[str]) -> datasets.Features:
    """The features of every config, with `label` a ClassLabel over `class_names`."""
    import datasets  # here, not at the top: the split rule and build workers need no `datasets`

    return datasets.Features(
        {
            "image": datasets.Image(),
            "mask": datasets.Image(),
            "label": datasets.ClassLabel(names=list(class_names)),
            "wnid": datasets.Value("string"),
            "source_id": datasets.Value("string"),
            "scenario": datasets.Value("string"),
            "background_id": datasets.Value("string"),
            "params": datasets.Value("string"),
            "fold": datasets.Value("int8"),
        }
    )


def _digest(source_id: str) -> int:
    return int(hashlib.sha256(source_id.encode("utf-8")).hexdigest(), 16)


def split_of(source_id: str) -> str:
    """`test` for about 20% of source ids, by a stable hash: the same in every config."""
    return "test" if _digest(source_id) % 100 < TEST_PERCENT else "train"


def fold_of(source_id: str) -> int:
    """The 12-fold cross-validation fold (0-11) of a source id, by the same stable hash."""
    return (_digest(source_id) // 100) % NUM_FOLDS
