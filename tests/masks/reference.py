"""Slow, obviously-correct reference computations of the agreement measures, for checking the fast ones.

Written from the definitions (see `ximagenet12.masks.metrics`) with Python loops and all-pairs
distances, independent of the code under test.
"""

from __future__ import annotations

import math

import numpy as np


def seg2bmap(mask: np.ndarray) -> set[tuple[int, int]]:
    """(y, x) of the pixels whose value differs from their east, south or south-east neighbour;
    the last row compares east only, the last column south only, the last pixel nothing."""
    seg = mask != 0
    height, width = seg.shape
    out = set()
    for y in range(height):
        for x in range(width):
            here = seg[y, x]
            if y == height - 1 and x == width - 1:
                continue
            if y == height - 1:
                differs = here != seg[y, x + 1]
            elif x == width - 1:
                differs = here != seg[y + 1, x]
            else:
                differs = here != seg[y, x + 1] or here != seg[y + 1, x] or here != seg[y + 1, x + 1]
            if differs:
                out.add((y, x))
    return out


def directed(points: set[tuple[int, int]], targets: set[tuple[int, int]]) -> list[float]:
    """Distance from every point to its nearest target, all pairs."""
    t = np.array(sorted(targets), np.float64)
    return [float(np.sqrt(((t - np.array(p, np.float64)) ** 2).sum(1)).min()) for p in sorted(points)]


def reference(a: np.ndarray, b: np.ndarray, tol_px: int) -> dict:
    """Every measure of masks a and b, for masks that both have a boundary."""
    sa, sb = a != 0, b != 0
    inter, union = int((sa & sb).sum()), int((sa | sb).sum())
    ea, eb = seg2bmap(a), seg2bmap(b)
    ab, ba = directed(ea, eb), directed(eb, ea)
    precision = sum(d <= tol_px for d in ab) / len(ab)
    recall = sum(d <= tol_px for d in ba) / len(ba)
    ya, xa = np.nonzero(sa)
    yb, xb = np.nonzero(sb)
    return {
        "iou": inter / union,
        "dice": 2 * inter / (sa.sum() + sb.sum()),
        "boundary_precision": precision,
        "boundary_recall": recall,
        "boundary_f": 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall),
        "hd95": max(float(np.percentile(ab, 95)), float(np.percentile(ba, 95))),
        "area_ratio": sb.sum() / sa.sum(),
        "centroid_shift": math.hypot(xb.mean() - xa.mean(), yb.mean() - ya.mean()),
    }
