"""How much two masks of one image agree: region, boundary, distance, area and position measures.

Definitions (masks A and B of one H x W image, object = nonzero):

- IoU (Jaccard index) |A ∩ B| / |A ∪ B| and Dice 2|A ∩ B| / (|A| + |B|), the region measures of
  DAVIS (Perazzi et al., "A Benchmark Dataset and Evaluation Methodology for Video Object
  Segmentation", CVPR 2016, region similarity J).
- Boundary F, DAVIS's contour accuracy F (same paper): each mask's boundary map is that of the
  DAVIS / BSDS `seg2bmap` (a pixel whose value differs from its east, south or south-east
  neighbour; the image edge is no boundary); a boundary pixel of one mask matches when a boundary
  pixel of the other lies within `ceil(tolerance * image diagonal)` pixels (Euclidean, the disk
  DAVIS dilates with; DAVIS's default tolerance is 0.008). Precision is the matched fraction of A's
  boundary, recall that of B's, F their harmonic mean.
- HD95, the symmetric 95th-percentile Hausdorff distance in pixels: the larger of the two directed
  95th percentiles of boundary-to-nearest-boundary distances (Huttenlocher, Klanderman and
  Rucklidge, "Comparing images using the Hausdorff distance", IEEE TPAMI 1993, whose partial
  distance ranks the directed distances; the 95th percentile is the BraTS benchmark's choice,
  Menze et al., IEEE TMI 2015). Percentiles interpolate linearly (NumPy's default).
- Area ratio |B| / |A|, and centroid shift: the distance in pixels between the masks' centroids.

Degenerate masks get defined values or none, never NaN: identical masks (both empty, both full)
agree perfectly in every measure; otherwise a measure that has no meaning (the centroid of an
empty mask, a distance to a mask with no boundary) is None and `note` says why. DAVIS scores two
masks without boundaries F = 1 even when one is empty and the other full; here that case is F = 0.

Two paths give the same numbers, to the last bit: the compiled kernel `_agreement` (boundary maps,
exact nearest-boundary distances and pixel counts in one C pass; built by `pip install` when a C
compiler is present) and NumPy with OpenCV. Both count in integers and share every floating-point
step below; `kernel` is None when the extension is not built (tests set it None to check NumPy's).
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from types import ModuleType
from typing import NamedTuple

import cv2
import numpy as np

kernel: ModuleType | None
try:
    from . import _agreement as kernel
except ImportError:  # installed without a C compiler
    kernel = None


@contextlib.contextmanager
def numpy_path() -> Iterator[None]:
    """`compare_masks` by NumPy alone while the block runs, the compiled kernel set aside (tests, benches)."""
    global kernel
    built, kernel = kernel, None
    try:
        yield
    finally:
        kernel = built


DEFAULT_TOLERANCE = 0.008  # DAVIS's boundary tolerance, a fraction of the image diagonal
PERCENTILE = 95.0


@dataclass(frozen=True)
class PairMetrics:
    """Agreement of two masks of one image; None where a measure has no meaning (`note` says why)."""

    height: int
    width: int
    area_a: int
    area_b: int
    iou: float
    dice: float
    boundary_precision: float
    boundary_recall: float
    boundary_f: float
    hd95: float | None
    area_ratio: float | None
    centroid_shift: float | None
    tolerance: float
    tolerance_px: int
    note: str | None

    def to_dict(self) -> dict:
        """Plain record."""
        return asdict(self)


def tolerance_pixels(height: int, width: int, tolerance: float = DEFAULT_TOLERANCE) -> int:
    """The boundary tolerance in pixels: a fraction (< 1) of the image diagonal rounded up, or pixels (>= 1)."""
    if not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance) and tolerance > 0):
        raise ValueError(f"boundary tolerance must be a positive number, got {tolerance!r}")
    if tolerance >= 1:
        return math.ceil(tolerance)
    return math.ceil(tolerance * math.hypot(height, width))


def _binary(mask: np.ndarray, value: int = 1) -> np.ndarray:
    """A uint8 map holding `value` on the object (nonzero) and 0 elsewhere."""
    if mask.dtype == np.bool_:
        mask = mask.view(np.uint8)
    elif mask.dtype != np.uint8:
        mask = (mask != 0).view(np.uint8)
    return cv2.threshold(mask, 0, value, cv2.THRESH_BINARY)[1]


def _edges(seg: np.ndarray) -> np.ndarray:
    """seg2bmap, bit by bit, of a map holding one mask per bit.

    Replicating the last row and column reduces the east / south / south-east test there to
    DAVIS's rules (east only, south only, nothing at the corner).
    """
    # NumPy, not OpenCV, for the element-wise steps: OpenCV reads arrays of up to 4 pixels as scalars.
    grown = cv2.copyMakeBorder(seg, 0, 1, 0, 1, cv2.BORDER_REPLICATE)
    here = grown[:-1, :-1]
    edge = here ^ grown[:-1, 1:]
    edge |= here ^ grown[1:, :-1]
    edge |= here ^ grown[1:, 1:]
    return edge


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """DAVIS / BSDS `seg2bmap` boundary of a mask as a 0/1 uint8 map (the image edge is no boundary).

    A pixel is on the boundary when its value differs from its east, south or south-east
    neighbour; the last row compares east only, the last column south only, the corner nothing.
    """
    return _edges(_binary(mask))


@functools.lru_cache(maxsize=16)
def _disk_offsets(radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(dy, dx, squared distance) of every offset within `radius`, nearest first, and how many are within sqrt(2)."""
    dy, dx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    dy, dx = dy.ravel(), dx.ravel()
    d2 = dy * dy + dx * dx
    keep = d2 <= radius * radius
    dy, dx, d2 = dy[keep], dx[keep], d2[keep]
    order = np.lexsort((dx, dy, d2))
    d2 = d2[order]
    return dy[order], dx[order], d2, int(np.searchsorted(d2, 2, side="right"))


def _brute_force_d2(points: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Squared distance from each point to its nearest target (both (n, 2) int), in bounded chunks."""
    out = np.empty(len(points), np.int64)
    step = max(1, (1 << 16) // max(1, len(targets)))
    tx, ty = targets[:, 0].astype(np.int64), targets[:, 1].astype(np.int64)
    for start in range(0, len(points), step):
        chunk = points[start : start + step].astype(np.int64)
        dx = chunk[:, :1] - tx[None, :]
        dy = chunk[:, 1:] - ty[None, :]
        out[start : start + step] = (dx * dx + dy * dy).min(axis=1)
    return out


def _nearest_d2(points: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Squared distance from each point to its nearest target: by brute force when few, else a k-d tree.

    OpenCV's FLANN single k-d tree (FLANN_INDEX_KDTREE_SINGLE = 4) searches exactly (eps 0, no
    approximation); the distance is then recomputed in integers from the neighbour it found.
    """
    if len(points) * len(targets) <= 1 << 13:
        return _brute_force_d2(points, targets)
    index = cv2.flann_Index(targets.astype(np.float32), {"algorithm": 4, "leaf_max_size": 16})
    nearest, _ = index.knnSearch(points.astype(np.float32), 1, params={})
    found = targets[nearest.ravel()].astype(np.int64)
    dx, dy = points[:, 0] - found[:, 0], points[:, 1] - found[:, 1]
    return dx * dx + dy * dy


def _points(edge: np.ndarray) -> np.ndarray:
    """(x, y) of the nonzero pixels of a sparse map, in raster order (eight pixels tested per word)."""
    flat = edge.reshape(-1)
    whole = flat.size // 8 * 8
    words = flat[:whole].view(np.uint64)
    busy = np.flatnonzero(words)
    word, byte = np.nonzero(words[busy].view(np.uint8).reshape(-1, 8))
    index = busy[word] * 8 + byte
    if whole < flat.size:
        index = np.concatenate((index, np.flatnonzero(flat[whole:]) + whole))
    y, x = np.divmod(index, edge.shape[1])
    return np.stack((x, y), axis=1)


def _boundary_distances(edges: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact Euclidean distance from each boundary pixel of A (bit 0 of `edges`) to B's (bit 1), and back.

    Offsets within `radius` (the boundary tolerance) are looked up nearest first, in two rounds
    (within sqrt 2, then the rest of the disk); both directions share each look-up, a point of A
    testing bit 1 and a point of B bit 0. Points with no boundary that near go to an exact search.
    """
    points = _points(edges)
    bits = edges[points[:, 1], points[:, 0]]
    from_a, from_b = np.flatnonzero(bits & 1), np.flatnonzero(bits & 2)
    if not from_a.size or not from_b.size:
        return np.empty(0), np.empty(0), from_a.size, from_b.size
    dy, dx, ring, first_round = _disk_offsets(radius)
    stride = edges.shape[1] + 2 * radius
    flat = cv2.copyMakeBorder(edges, radius, radius, radius, radius, cv2.BORDER_CONSTANT, value=0).ravel()
    queries = np.concatenate((from_a, from_b))
    look_for = np.concatenate((np.full(from_a.size, 2, np.uint8), np.ones(from_b.size, np.uint8)))
    base = points[queries, 1] * stride + points[queries, 0] + (radius * stride + radius)
    offsets = (dy * stride + dx)[:, None]
    weights = np.arange(len(ring), 0, -1, dtype=np.int32)[:, None]  # the first hit is the nearest: keep the largest
    d2 = np.full(queries.size, -1, np.int64)
    rest = np.arange(queries.size)
    for low, high in ((0, first_round), (first_round, len(ring))):
        if rest.size == 0 or high == low:
            continue
        # Offsets down, points across: NumPy reduces over the first axis fastest.
        hits = (flat[offsets[low:high] + base[rest]] & look_for[rest]) != 0
        best = (hits * weights[low:high]).max(axis=0)
        found = best != 0
        d2[rest[found]] = ring[len(ring) - best[found]]
        rest = rest[~found]
    if rest.size:
        split = int(np.searchsorted(rest, from_a.size))
        if split:
            d2[rest[:split]] = _nearest_d2(points[queries[rest[:split]]], points[from_b])
        if split < rest.size:
            d2[rest[split:]] = _nearest_d2(points[queries[rest[split:]]], points[from_a])
    distances = np.sqrt(d2)
    return distances[: from_a.size], distances[from_a.size :], from_a.size, from_b.size


def _rank(n: int, q: float) -> tuple[float, int, int]:
    """Where NumPy's linear percentile q of n values falls: (rank, the sorted position below, the one above)."""
    rank = q / 100 * (n - 1)
    low = math.floor(rank)
    return rank, low, min(low + 1, n - 1)


def percentile(values: np.ndarray, q: float) -> float:
    """NumPy's default (linear) percentile, by partial sort."""
    rank, low, high = _rank(len(values), q)
    part = np.partition(values, [low, high]) if high != low else np.partition(values, low)
    return _interpolate(part[low], part[high], rank, low)


def _interpolate(below: float, above: float, rank: float, low: int) -> float:
    """The linear percentile between the values at sorted positions `low` and the next."""
    return float(below + (rank - low) * (above - below))


def _centroid(seg: np.ndarray, area: int) -> tuple[float, float]:
    cols = cv2.reduce(seg, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    rows = cv2.reduce(seg, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    x = float(np.dot(cols, np.arange(len(cols), dtype=np.int64)))
    y = float(np.dot(rows, np.arange(len(rows), dtype=np.int64)))
    return x / area, y / area


class _Counts(NamedTuple):
    """What the measures are computed from, the same from either path."""

    area_a: int
    area_b: int
    inter: int
    edge_a: int  # boundary pixels of A
    edge_b: int
    near_a: int  # boundary pixels of A within the tolerance of B's boundary
    near_b: int
    hd95: float | None  # when both masks have a boundary
    centroid_shift: float | None  # when both masks have an object


def _counts_numpy(both: np.ndarray, tol_px: int) -> _Counts:
    """The counts by NumPy and OpenCV."""
    ca, cb = both & 1, both >> 1
    area_a, area_b = cv2.countNonZero(ca), cv2.countNonZero(cb)
    inter = cv2.countNonZero(ca & cb)
    a_to_b, b_to_a, edge_a, edge_b = _boundary_distances(_edges(both), tol_px)
    near_a, near_b = np.count_nonzero(a_to_b <= tol_px), np.count_nonzero(b_to_a <= tol_px)
    hd95 = max(percentile(a_to_b, PERCENTILE), percentile(b_to_a, PERCENTILE)) if edge_a and edge_b else None
    shift = None
    if area_a and area_b:
        (xa, ya), (xb, yb) = _centroid(ca, area_a), _centroid(cb, area_b)
        shift = math.hypot(xb - xa, yb - ya)
    return _Counts(area_a, area_b, inter, edge_a, edge_b, near_a, near_b, hd95, shift)


def _between(n: int, low_d2: int, high_d2: int) -> float:
    """The percentile of n distances from the squared ones at its two sorted positions, as `percentile` does."""
    rank, low, _ = _rank(n, PERCENTILE)
    return _interpolate(math.sqrt(low_d2), math.sqrt(high_d2), rank, low)


def _counts_compiled(both: np.ndarray, tol_px: int) -> _Counts:
    """The counts by the compiled kernel."""
    (area_a, area_b, inter, sum_xa, sum_ya, sum_xb, sum_yb, edge_a, edge_b, near_a, near_b,
     low_a, high_a, low_b, high_b) = kernel.measure(both, tol_px, PERCENTILE)
    hd95 = max(_between(edge_a, low_a, high_a), _between(edge_b, low_b, high_b)) if edge_a and edge_b else None
    shift = None
    if area_a and area_b:
        shift = math.hypot(float(sum_xb) / area_b - float(sum_xa) / area_a,
                           float(sum_yb) / area_b - float(sum_ya) / area_a)
    return _Counts(area_a, area_b, inter, edge_a, edge_b, near_a, near_b, hd95, shift)


def compare_masks(a: np.ndarray, b: np.ndarray, *, tolerance: float = DEFAULT_TOLERANCE) -> PairMetrics:
    """Every agreement measure of masks `a` and `b` (2-D, same size, object = nonzero)."""
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"masks must be 2-D and of one size, got {a.shape} and {b.shape}")
    height, width = a.shape
    tol_px = tolerance_pixels(height, width, tolerance)
    both = _binary(a, 1) | _binary(b, 2)  # bit 0: A, bit 1: B
    x, y, w, h = cv2.boundingRect(both)
    if w == 0:
        return PairMetrics(height, width, 0, 0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, tolerance, tol_px,
                           "both masks empty")
    # Every boundary pixel, and every pixel its test reads, lies in the union's box grown by one
    # pixel up-left (boundaries sit half a pixel towards the origin) and down-right.
    both = both[max(0, y - 1) : min(height, y + h + 1), max(0, x - 1) : min(width, x + w + 1)]
    c = _counts_numpy(both, tol_px) if kernel is None else _counts_compiled(both, tol_px)
    area_a, area_b, inter, edge_a, edge_b = c.area_a, c.area_b, c.inter, c.edge_a, c.edge_b
    notes: list[str] = []
    if area_a == area_b == height * width:
        notes.append("both masks cover the whole image")

    hd95: float | None
    if edge_a and edge_b:
        precision, recall, hd95 = c.near_a / edge_a, c.near_b / edge_b, c.hd95
    elif not edge_a and not edge_b:
        same = inter == area_a == area_b
        precision = recall = 1.0 if same else 0.0
        hd95 = 0.0 if same else None
        if not same:
            notes.append("neither mask has a boundary (one empty, one full): boundary F = 0, no HD95")
    else:
        # DAVIS: a mask without boundary has precision 1 (nothing to miss) and the other recall 0.
        precision, recall = (1.0, 0.0) if not edge_a else (0.0, 1.0)
        hd95 = None
        notes.append(f"mask {'A' if not edge_a else 'B'} has no boundary (empty or full): no HD95")
    boundary_f = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)

    area_ratio = area_b / area_a if area_a else None
    if not (area_a and area_b):
        empty = "A" if not area_a else "B"
        notes.append(f"mask {empty} empty: no {'area ratio or ' if not area_a else ''}centroid shift")
    return PairMetrics(
        height, width, area_a, area_b, inter / (area_a + area_b - inter), 2 * inter / (area_a + area_b),
        float(precision), float(recall), float(boundary_f), hd95, area_ratio, c.centroid_shift, tolerance, tol_px,
        "; ".join(notes) or None,
    )
