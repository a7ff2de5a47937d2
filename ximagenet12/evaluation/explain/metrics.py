"""How much of an attribution map falls on the object: four measures against the hand-drawn mask.

All four read one map R of the stored image (attribution per stored pixel, colour channels summed, see
`geometry`), the object mask M, and the pixels the model's crop covered (D); pixels outside D take no
part, so M means M ∩ D below. R+ = max(R, 0): these measures ask where the evidence *for* the target is.

- Relevance mass accuracy: sum of R+ inside M / sum of R+ over D (Arras, Osman and Samek, "CLEVR-XAI: A
  benchmark dataset for the ground truth evaluation of neural network explanations", Information Fusion
  81, 2022, section 4.2).
- Relevance rank accuracy: with K = |M|, the share of the K pixels of highest R+ that lie inside M
  (same paper, same section). Pixels tied at the K-th value share the remaining places in proportion
  (the expected value over every order of the ties), so plateaus (Occlusion's windows) do not depend on
  pixel order.
- Pointing game: a hit when the pixel of highest R+ lies within `tolerance` pixels (Euclidean, strictly
  less) of M, or inside it (Zhang et al., "Top-down neural attention by excitation backprop", IJCV 126,
  2018, with their 15-pixel tolerance; the rule of TorchRay's `PointingGame`). Tied maxima count in
  proportion: the value is the share of maximal pixels that hit (1 or 0 unless there are ties).
- Energy-based pointing game: sum of R+ inside the bounding box of M / sum of R+ over D (Wang et al.,
  "Score-CAM: Score-weighted visual explanations for convolutional neural networks", CVPR Workshops
  2020, section 5.2, which uses the annotated box; here the box of the hand-drawn mask).

Chance levels come with them: a map spread evenly over D scores `object_share` = |M| / |D| in mass and
(in expectation) in rank accuracy, `pointing_share` (the share of D within the tolerance of M) in the
pointing game, and `box_share` = |box ∩ D| / |D| in the energy game.
None, never NaN, where a measure has no meaning, with `note` saying why (no object pixel in view, no
positive attribution, a mask of another size).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

DEFAULT_TOLERANCE = 15.0  # pixels of the stored image, Zhang et al.'s
TIE = 1e-9  # values within this fraction of the map's largest |value| are ties
METRICS = ("relevance_mass", "rank_accuracy", "pointing_game", "energy_pointing_game")
DEFINITIONS = {
    "relevance_mass": (
        "share of positive attribution inside the mask",
        "Arras, Osman and Samek, Information Fusion 81 (2022), CLEVR-XAI, relevance mass accuracy",
    ),
    "rank_accuracy": (
        "share of the K most attributed pixels inside the mask, K = mask area (ties shared in proportion)",
        "Arras, Osman and Samek, Information Fusion 81 (2022), CLEVR-XAI, relevance rank accuracy",
    ),
    "pointing_game": (
        "1 when the most attributed pixel lies within the tolerance of the mask, else 0 (ties in proportion)",
        "Zhang et al., IJCV 126 (2018), Top-down neural attention by excitation backprop; 15 px tolerance",
    ),
    "energy_pointing_game": (
        "share of positive attribution inside the mask's bounding box",
        "Wang et al., CVPR Workshops 2020, Score-CAM, energy-based pointing game",
    ),
}


@dataclass(frozen=True)
class ObjectFocus:
    """The four measures of one map against one mask, their chance levels, and why any is missing."""

    relevance_mass: float | None
    rank_accuracy: float | None
    pointing_game: float | None
    energy_pointing_game: float | None
    object_share: float | None
    box_share: float | None
    pointing_share: float | None
    mask_seen: float | None
    positive_relevance: float
    relevance_sum: float
    note: str | None = None

    def to_dict(self) -> dict:
        """Plain record."""
        return asdict(self)


def relevance_mass(positive: np.ndarray, inside: np.ndarray) -> float:
    """Sum of `positive` where `inside` over its total (the total must be > 0)."""
    within, rest = float(positive[inside].sum()), float(positive[~inside].sum())
    return within / (within + rest)


def rank_accuracy(positive: np.ndarray, inside: np.ndarray) -> float:
    """Share of the K highest values that lie inside, K = inside.sum() > 0; ties at the K-th value in proportion."""
    values, inside = positive.ravel(), inside.ravel()
    k = int(inside.sum())
    threshold = np.partition(values, values.size - k)[values.size - k]
    eps = TIE * max(float(np.abs(values).max()), np.finfo(np.float64).tiny)
    above = values > threshold + eps
    tied = ~above & (values >= threshold - eps)
    places = k - int(above.sum())
    hits = float((above & inside).sum()) + places * float((tied & inside).sum()) / float(tied.sum())
    return hits / k


def pointing_game(
    positive: np.ndarray, inside: np.ndarray, tolerance: float = DEFAULT_TOLERANCE, where: np.ndarray | None = None
) -> float:
    """Share of the maximal pixels (among `where`) inside, or less than `tolerance` pixels from an inside pixel."""
    where = np.ones(positive.shape, bool) if where is None else where
    top = float(positive[where].max())
    eps = TIE * max(abs(top), np.finfo(np.float64).tiny)
    maximal = where & (positive >= top - eps)
    return float((maximal & reach(inside, tolerance)).sum() / maximal.sum())


def reach(inside: np.ndarray, tolerance: float) -> np.ndarray:
    """The pixels inside, or less than `tolerance` pixels (Euclidean, exact) from an inside pixel."""
    distance = cv2.distanceTransform((~inside).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return inside | (distance < tolerance)


def bounding_box(inside: np.ndarray) -> np.ndarray:
    """The filled bounding box of the True pixels (same shape)."""
    rows, columns = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    box = np.zeros_like(inside, dtype=bool)
    box[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1] = True
    return box


def object_focus(
    relevance: np.ndarray, mask: np.ndarray, seen: np.ndarray | None = None, *, tolerance: float = DEFAULT_TOLERANCE
) -> ObjectFocus:
    """The four measures of a stored-pixel attribution map against a 0/255 (or boolean) mask, over `seen` pixels."""
    relevance = np.asarray(relevance, dtype=np.float64)
    seen = np.ones(relevance.shape, bool) if seen is None else np.asarray(seen, bool)
    if mask.shape[:2] != relevance.shape:
        return undefined(relevance, seen, f"mask {mask.shape[1]}x{mask.shape[0]} differs from the image "
                                           f"{relevance.shape[1]}x{relevance.shape[0]}")
    if not np.isfinite(relevance[seen]).all():
        return undefined(relevance, seen, "the attribution has non-finite values")
    positive = np.where(seen, np.maximum(relevance, 0.0), 0.0)
    obj = np.asarray(mask) > 0
    inside = obj & seen
    area, view = int(inside.sum()), int(seen.sum())
    mask_seen = area / int(obj.sum()) if obj.any() else None
    object_share = area / view if view else None
    if area == 0:
        why = "empty mask" if not obj.any() else "no object pixel lies in the model's crop"
        return undefined(relevance, seen, why, object_share=object_share, mask_seen=mask_seen)
    box = bounding_box(inside) & seen
    shares = {"object_share": object_share, "box_share": int(box.sum()) / view,
              "pointing_share": int((reach(inside, tolerance) & seen).sum()) / view, "mask_seen": mask_seen}
    total = float(positive.sum())
    if total <= 0:
        return undefined(relevance, seen, "no positive attribution", **shares)
    return ObjectFocus(
        relevance_mass=relevance_mass(positive, inside),
        rank_accuracy=rank_accuracy(positive[seen], inside[seen]),
        pointing_game=pointing_game(positive, inside, tolerance, where=seen),
        energy_pointing_game=relevance_mass(positive, box),
        **shares,
        positive_relevance=total,
        relevance_sum=float(relevance[seen].sum()),
    )


def undefined(relevance: np.ndarray, seen: np.ndarray, note: str, **known: float | None) -> ObjectFocus:
    """An ObjectFocus without the four measures, saying why; the attribution's totals and any shares known."""
    values = relevance[seen] if relevance.shape == seen.shape else relevance.ravel()
    finite = values[np.isfinite(values)]
    return ObjectFocus(
        relevance_mass=None,
        rank_accuracy=None,
        pointing_game=None,
        energy_pointing_game=None,
        object_share=known.get("object_share"),
        box_share=known.get("box_share"),
        pointing_share=known.get("pointing_share"),
        mask_seen=known.get("mask_seen"),
        positive_relevance=float(np.maximum(finite, 0).sum()),
        relevance_sum=float(finite.sum()),
        note=note,
    )
