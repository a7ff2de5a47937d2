"""From a model's outputs to the build's labels: identity, restricted logits, or top-1 over all 1000."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MAPPINGS = ("restrict", "argmax")
IMAGENET_CLASSES = 1000
DESCRIPTIONS = {
    "identity": "the model has one output per class of the build; used as they are",
    "restrict": "logits restricted to the classes' ImageNet-1k indices; prediction, probability "
    "and top-5 taken over those",
    "argmax": "top-1 over all 1000 ImageNet classes; a prediction outside the build's classes is "
    "counted wrong (label -1), as ImageNet-9 does; probability from the 1000-way softmax",
}


@dataclass(frozen=True)
class LabelMapping:
    """How outputs map to labels: mode and, for 1000-way models, each label's ImageNet index."""

    mode: str
    num_labels: int
    imagenet_indices: tuple[int, ...] | None = None

    def to_dict(self) -> dict:
        """JSON-ready record."""
        return {
            "mode": self.mode,
            "description": DESCRIPTIONS[self.mode],
            "num_labels": self.num_labels,
            "imagenet_indices": list(self.imagenet_indices) if self.imagenet_indices else None,
        }

    @classmethod
    def from_dict(cls, data: dict) -> LabelMapping:
        """Inverse of to_dict."""
        indices = data.get("imagenet_indices")
        return cls(data["mode"], int(data["num_labels"]), tuple(indices) if indices else None)

    def apply(self, logits: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
        """prediction, correct, p_true, top5 (build labels, -1 outside) and top5_raw (model indices)."""
        logits = np.asarray(logits, dtype=np.float64)
        if logits.ndim != 2 or logits.shape[0] != len(labels):
            raise ValueError(f"expected logits of shape ({len(labels)}, C), got {logits.shape}")
        expected = self.num_labels if self.mode == "identity" else IMAGENET_CLASSES
        if logits.shape[1] != expected:
            raise ValueError(f"mapping {self.mode!r} expects {expected} outputs, got {logits.shape[1]}")
        top5_raw = _topk(logits, 5)
        if self.mode == "identity":
            scores, top5 = logits, top5_raw
        else:
            index = np.asarray(self.imagenet_indices)
            inverse = np.full(logits.shape[1], -1, dtype=np.int64)
            inverse[index] = np.arange(len(index))
            if self.mode == "restrict":
                scores = logits[:, index]
                top5 = _topk(scores, 5)
            else:
                scores = logits
                top5 = inverse[top5_raw]
        probs = _softmax(scores)
        rows = np.arange(len(labels))
        true_column = labels if self.mode != "argmax" else np.asarray(self.imagenet_indices)[labels]
        prediction = top5[:, 0]
        return {
            "prediction": prediction.astype(np.int16),
            "correct": prediction == labels,
            "p_true": probs[rows, true_column].astype(np.float32),
            "top5": top5.astype(np.int16),
            "top5_raw": top5_raw.astype(np.int32),
        }


def resolve_mapping(num_outputs: int, classes: Sequence[dict], requested: str) -> LabelMapping:
    """The mapping for a model with `num_outputs` on a build with these classes."""
    if requested not in MAPPINGS:
        raise ValueError(f"mapping must be one of {MAPPINGS}, not {requested!r}")
    if num_outputs == len(classes):
        return LabelMapping("identity", len(classes))
    if num_outputs == IMAGENET_CLASSES:
        indices = tuple(int(c["imagenet_index"]) for c in classes)
        if len(set(indices)) != len(indices) or not all(0 <= i < IMAGENET_CLASSES for i in indices):
            raise ValueError(f"class table has invalid or repeated ImageNet indices: {indices}")
        return LabelMapping(requested, len(classes), indices)
    raise ValueError(
        f"the model has {num_outputs} outputs; expected {len(classes)} (one per class) or 1000 (ImageNet)"
    )


def _topk(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores per row, best first (ties: lower index first)."""
    k = min(k, scores.shape[1])
    order = np.argsort(-scores, axis=1, kind="stable")
    return order[:, :k]


def _softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax, numerically stable."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)
