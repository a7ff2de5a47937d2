"""The dataset's columns, the same in every config and split: one table, rendered for `datasets`, Arrow, the card."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datasets
    import pyarrow as pa

SPLITS: tuple[str, ...] = ("train", "test")
TEST_PERCENT = 20
NUM_FOLDS = 12
SPLIT_RULE = (
    f"test if sha256(source_id) % 100 < {TEST_PERCENT}; fold = sha256(source_id) // 100 % {NUM_FOLDS}"
)

IMAGE = "Image"
CLASS_LABEL = "ClassLabel"
# Each column and its `datasets` type: `Image`, `ClassLabel` (over the build's classes) or a `Value` dtype.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("image", IMAGE),
    ("mask", IMAGE),
    ("label", CLASS_LABEL),
    ("wnid", "string"),
    ("source_id", "string"),
    ("scenario", "string"),
    ("background_id", "string"),
    ("params", "string"),
    ("fold", "int8"),
)


def features_dict(class_names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The features as `datasets.Features.to_dict()` gives them (the JSON in every shard's schema metadata)."""
    out: dict[str, dict[str, Any]] = {}
    for name, kind in COLUMNS:
        if kind == IMAGE:
            out[name] = {"_type": IMAGE}
        elif kind == CLASS_LABEL:
            out[name] = {"names": list(class_names), "_type": CLASS_LABEL}
        else:
            out[name] = {"dtype": kind, "_type": "Value"}
    return out


def features(class_names: Sequence[str]) -> datasets.Features:
    """The features of every config, with `label` a ClassLabel over `class_names`."""
    import datasets  # here, not at the top: building needs no `datasets` (half a second of imports)

    return datasets.Features.from_dict(features_dict(class_names))


def features_yaml(class_names: Sequence[str]) -> list[dict[str, Any]]:
    """The features as a card's `dataset_info:` lists them (`datasets.Features._to_yaml_list()`)."""
    out: list[dict[str, Any]] = []
    for name, kind in COLUMNS:
        if kind == IMAGE:
            out.append({"name": name, "dtype": "image"})
        elif kind == CLASS_LABEL:
            names = {str(i): n for i, n in enumerate(class_names)}
            out.append({"name": name, "dtype": {"class_label": {"names": names}}})
        else:
            out.append({"name": name, "dtype": kind})
    return out


def arrow_schema(class_names: Sequence[str]) -> pa.Schema:
    """The Arrow schema of every shard, with the features in its metadata (`datasets.Features.arrow_schema`)."""
    import pyarrow as pa

    image = pa.struct({"bytes": pa.binary(), "path": pa.string()})
    types = {IMAGE: image, CLASS_LABEL: pa.int64()}
    schema = pa.schema([(name, types.get(kind) or pa.type_for_alias(kind)) for name, kind in COLUMNS])
    metadata = {"info": {"features": features_dict(class_names)}}
    return schema.with_metadata({"huggingface": json.dumps(metadata)})


def _digest(source_id: str) -> int:
    return int(hashlib.sha256(source_id.encode("utf-8")).hexdigest(), 16)


def split_of(source_id: str) -> str:
    """`test` for about 20% of source ids, by a stable hash: the same in every config."""
    return "test" if _digest(source_id) % 100 < TEST_PERCENT else "train"


def fold_of(source_id: str) -> int:
    """The 12-fold cross-validation fold (0-11) of a source id, by the same stable hash."""
    return (_digest(source_id) // 100) % NUM_FOLDS
