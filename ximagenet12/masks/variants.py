"""Masks changed the way a coarser annotation tool would change them, and the `--mask-variant` spec.

- `erode:K` removes every object pixel within K pixels (Euclidean) of the background: a tool that
  traces inside the object. The image edge is not background (the object goes on past it).
- `dilate:K` adds every pixel within K pixels of the object: a tool that traces outside it.
- `simplify:EPS` replaces every outline (outer and hole) by its Douglas-Peucker simplification
  with tolerance EPS pixels (`cv2.approxPolyDP`, EPS >= 0.01): a polygon tool with fewer clicks. Outlines are
  traced with OpenCV and filled back with the polygon-edge-is-object convention of the mask
  readers. EPS below half a pixel keeps straight edges and moves only outline pixels: a staircase
  vertex within EPS of its neighbours' chord goes, and the chord is drawn through the pixels nearest it.

Each is a pure function of a 0/255 uint8 mask; a variant may empty a mask (eroding a thin object),
which the caller must treat as it treats any empty mask. A variant's config-name suffix is
`@erode3`, `@dilate2`, `@simplify1p5` (the decimal point written `p`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import XImageNet12Error

KINDS = ("erode", "dilate", "simplify")
_SPEC = re.compile(r"^(?P<kind>[a-z]+):(?P<amount>[^:\s]+)$")


class VariantError(XImageNet12Error, ValueError):
    """A mask-variant spec that cannot be read; the message says what a valid one looks like."""


def _check(mask: np.ndarray) -> np.ndarray:
    if not isinstance(mask, np.ndarray) or mask.ndim != 2 or mask.dtype != np.uint8:
        raise ValueError(f"mask must be a 2-D uint8 array, got {getattr(mask, 'dtype', type(mask))} "
                         f"{getattr(mask, 'shape', '')}")
    return mask


def disk(radius: int) -> np.ndarray:
    """The Euclidean disk of `radius` pixels as a structuring element: offsets with dx² + dy² <= radius²."""
    dy, dx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return (dx * dx + dy * dy <= radius * radius).astype(np.uint8)


def erode(mask: np.ndarray, k: int) -> np.ndarray:
    """The mask without the object pixels that lie within `k` pixels of the background."""
    # Outside the image counts as object for OpenCV's erosion, so the image edge erodes nothing.
    binary = (_check(mask) > 0).view(np.uint8) * 255
    return cv2.erode(binary, disk(k))


def dilate(mask: np.ndarray, k: int) -> np.ndarray:
    """The mask with every pixel within `k` pixels of the object added."""
    binary = (_check(mask) > 0).view(np.uint8) * 255
    return cv2.dilate(binary, disk(k))


def simplify(mask: np.ndarray, eps: float) -> np.ndarray:
    """The mask redrawn from Douglas-Peucker simplifications (tolerance `eps` px) of all its outlines."""
    mask = _check(mask)
    binary = (mask > 0).view(np.uint8) * 255
    contours, hierarchy = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_NONE)
    out = np.zeros_like(binary)
    if hierarchy is None:
        return out
    depth = np.zeros(len(contours), np.int64)
    parents = hierarchy[0][:, 3]
    for i in range(len(contours)):
        parent = parents[i]
        while parent >= 0:
            depth[i] += 1
            parent = parents[parent]
    # Outer outlines (even depth) are filled with object, holes (odd depth) with background, from
    # the outside in; a hole's outline runs through object pixels, so it is drawn back as object.
    for i in np.argsort(depth, kind="stable"):
        polygon = cv2.approxPolyDP(contours[i], eps, True)
        if depth[i] % 2 == 0:
            cv2.fillPoly(out, [polygon], 255)
        else:
            cv2.fillPoly(out, [polygon], 0)
            cv2.polylines(out, [polygon], True, 255)
    return out


MIN_EPS = 0.01


def _format(amount: float) -> str:
    """3 -> '3', 1.5 -> '1.5', 0.25 -> '0.25' (at most six decimals)."""
    return str(int(amount)) if amount == int(amount) else f"{amount:.6f}".rstrip("0")


@dataclass(frozen=True)
class MaskVariant:
    """One mask change: its kind, its amount in pixels, and how a config built with it is named."""

    kind: str
    amount: float

    @property
    def spec(self) -> str:
        """The `--mask-variant` text that gives this variant, e.g. 'erode:3'."""
        return f"{self.kind}:{_format(self.amount)}"

    @property
    def suffix(self) -> str:
        """The config-name suffix, e.g. '@erode3' (a config 'seg_img' becomes 'seg_img@erode3')."""
        return f"@{self.kind}{_format(self.amount).replace('.', 'p')}"

    def config_name(self, config: str) -> str:
        """The name of `config` built with this variant."""
        return f"{config}{self.suffix}"

    def __call__(self, mask: np.ndarray) -> np.ndarray:
        return _FUNCTIONS[self.kind](mask, int(self.amount) if self.kind != "simplify" else self.amount)

    def describe(self) -> str:
        """What the variant does to a mask, in words."""
        amount = _format(self.amount)
        return {
            "erode": f"every object pixel within {amount} px of the background removed (a tool that traces inside "
            "the object)",
            "dilate": f"every pixel within {amount} px of the object added (a tool that traces outside it)",
            "simplify": f"every outline replaced by its Douglas-Peucker simplification at {amount} px (a polygon "
            "tool with fewer clicks)",
        }[self.kind]

    def to_dict(self) -> dict:
        """What a manifest or card records: kind, amount, spec, suffix and description."""
        return {"kind": self.kind, "amount": self.amount, "spec": self.spec, "suffix": self.suffix,
                "description": self.describe()}


_FUNCTIONS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "erode": erode,
    "dilate": dilate,
    "simplify": simplify,
}


def parse_variant(spec: str) -> MaskVariant:
    """'erode:3' / 'dilate:2' / 'simplify:1.5' -> a MaskVariant; anything else raises VariantError."""
    usage = "expected erode:K or dilate:K (K a whole number of pixels >= 1) or simplify:EPS (EPS pixels >= 0.01)"
    match = _SPEC.match(spec.strip()) if isinstance(spec, str) else None
    if match is None or match["kind"] not in KINDS:
        raise VariantError(f"--mask-variant {spec!r}: {usage}")
    kind, text = match["kind"], match["amount"]
    try:
        amount = float(text)
    except ValueError:
        raise VariantError(f"--mask-variant {spec!r}: {text!r} is not a number; {usage}") from None
    if not math.isfinite(amount) or amount <= 0:
        raise VariantError(f"--mask-variant {spec!r}: the amount must be positive; {usage}")
    if kind == "simplify" and amount < MIN_EPS:
        raise VariantError(f"--mask-variant {spec!r}: EPS below {MIN_EPS} px changes nothing; {usage}")
    if kind != "simplify":
        if amount != int(amount):
            raise VariantError(f"--mask-variant {spec!r}: K must be a whole number of pixels; {usage}")
        return MaskVariant(kind, int(amount))
    return MaskVariant(kind, amount)
