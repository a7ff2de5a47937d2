"""Cost of comparing two masks of a 500x375 image, next to decoding that image's JPEG.

Run: `python bench/agreement.py [--runs N] [--calls N]`. Inputs: the four photos of the shipped
sample stretched to 500x375 (JPEG quality 95, as a build stores RGB rows), each with its masks
resized alike. Pairs per photo: the LabelMe outline against the GrabCut mask
(`ximagenet12/sample/masks/grabcut`, a different method: boundaries often far apart), and the
outline against itself changed as another tool would trace it (`dilate:1`, `simplify:2`: boundaries
within the tolerance).
Per run and pair, each contender is called `--calls` times back to back and its mean CPU time
taken (`time.process_time`: other jobs on a shared machine do not count); contenders alternate
within a run. Ratios are taken within a run, then the median over runs is printed with the
min-max spread. One thread (cv2.setNumThreads(1)). Before timing, every pair's measures are
checked equal to the straightforward way's, on both paths.

Contenders:
- ours: `ximagenet12.masks.compare_masks` (IoU, Dice, boundary F, HD95, area ratio, centroid shift), on
  each of its paths: ours-compiled (the C kernel `ximagenet12.masks._agreement`, when built) and ours-numpy
  (NumPy and OpenCV, what runs without a C compiler); the two are checked identical to the last bit;
- JPEG decode with OpenCV (`cv2.imdecode`) and with the package's decoder (`imageio.decode_rgb`, Pillow);
- the straightforward way, as a competent user writes the same measures from the papers' definitions:
  NumPy boundary maps, `cv2.dilate` with scikit-image's disk for the boundary F, SciPy's exact
  distance transform for HD95, `np.percentile` (needs scikit-image and SciPy; left out without them).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ximagenet12.imageio import decode_rgb, encode_jpeg
from ximagenet12.masks import load_mask, mask_from_labelme, metrics
from ximagenet12.masks.metrics import boundary_map, compare_masks
from ximagenet12.masks.variants import parse_variant

SAMPLE = Path(__file__).resolve().parents[1] / "ximagenet12" / "sample"
HEIGHT, WIDTH = 375, 500
GOAL = 0.5  # "well under" one JPEG decode, read as under half of one
OURS = ("ours-compiled", "ours-numpy") if metrics.kernel is not None else ("ours-numpy",)


@contextlib.contextmanager
def path(name: str) -> Iterator[None]:
    """`compare_masks` on NumPy's path for ours-numpy (the compiled kernel set aside), as built otherwise."""
    with metrics.numpy_path() if name == "ours-numpy" else contextlib.nullcontext():
        yield


def inputs() -> list[tuple[str, bytes, np.ndarray, np.ndarray]]:
    """(photo and pair, JPEG bytes, mask A, mask B) per sample photo and pair, all at 500x375."""
    out = []
    for photo in sorted((SAMPLE / "images").glob("*/*.JPEG")):
        grabcut = SAMPLE / "masks" / "grabcut" / photo.parent.name / f"{photo.stem}.png"
        if not grabcut.is_file():
            continue
        rgb = decode_rgb(photo.read_bytes()).rgb
        outline = mask_from_labelme(photo.with_suffix(".json"), shape=rgb.shape[:2])
        second = load_mask(grabcut, expected_shape=rgb.shape)
        size = (WIDTH, HEIGHT)
        jpeg = encode_jpeg(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))
        a = cv2.resize(outline, size, interpolation=cv2.INTER_NEAREST)
        b = cv2.resize(second, size, interpolation=cv2.INTER_NEAREST)
        out.append((f"{photo.stem} vs GrabCut", jpeg, a, b))
        for spec in ("dilate:1", "simplify:2"):
            out.append((f"{photo.stem} vs {spec}", jpeg, a, parse_variant(spec)(a)))
    if not out:
        raise SystemExit(f"no GrabCut masks under {SAMPLE / 'masks' / 'grabcut'}: run tools/make_grabcut_masks.py")
    return out


def straightforward(a: np.ndarray, b: np.ndarray, tolerance: float = 0.008) -> tuple[float, ...]:
    """The same measures written directly from their definitions with NumPy, scikit-image and SciPy."""
    from scipy import ndimage
    from skimage.morphology import disk

    sa, sb = a > 0, b > 0
    inter, union = np.logical_and(sa, sb).sum(), np.logical_or(sa, sb).sum()
    iou = inter / union
    dice = 2 * inter / (sa.sum() + sb.sum())

    def edges(seg: np.ndarray) -> np.ndarray:
        east, south, diag = np.zeros_like(seg), np.zeros_like(seg), np.zeros_like(seg)
        east[:, :-1], south[:-1, :], diag[:-1, :-1] = seg[:, 1:], seg[1:, :], seg[1:, 1:]
        edge = (seg ^ east) | (seg ^ south) | (seg ^ diag)
        edge[-1, :] = seg[-1, :] ^ east[-1, :]
        edge[:, -1] = seg[:, -1] ^ south[:, -1]
        edge[-1, -1] = False
        return edge

    ea, eb = edges(sa), edges(sb)
    radius = math.ceil(tolerance * math.hypot(*a.shape))
    kernel = disk(radius).astype(np.uint8)
    near_b = cv2.dilate(eb.astype(np.uint8), kernel) > 0
    near_a = cv2.dilate(ea.astype(np.uint8), kernel) > 0
    precision = (ea & near_b).sum() / ea.sum()
    recall = (eb & near_a).sum() / eb.sum()
    f = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    to_b = ndimage.distance_transform_edt(~eb)[ea]
    to_a = ndimage.distance_transform_edt(~ea)[eb]
    hd95 = max(np.percentile(to_b, 95), np.percentile(to_a, 95))
    ya, xa = np.nonzero(sa)
    yb, xb = np.nonzero(sb)
    shift = math.hypot(xb.mean() - xa.mean(), yb.mean() - ya.mean())
    return iou, dice, f, hd95, sb.sum() / sa.sum(), shift


def mean_ms(fn: Callable[[], object], calls: int) -> float:
    """Mean wall time of `fn` over `calls` back-to-back calls, garbage collector off."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.process_time()
        for _ in range(calls):
            fn()
        return (time.process_time() - start) / calls * 1e3
    finally:
        if enabled:
            gc.enable()


def spread(values: list[float], digits: int = 2) -> str:
    """median [min-max]."""
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--calls", type=int, default=30)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    cases = inputs()
    try:
        import scipy  # noqa: F401
        import skimage  # noqa: F401

        contenders_extra = True
    except ImportError:
        contenders_extra = False

    names = ["cv2 decode", "Pillow decode", *OURS, *(["straightforward"] if contenders_extra else [])]
    for stem, _, a, b in cases:
        results = {}
        for name in OURS:
            with path(name):
                results[name] = compare_masks(a, b)
        if len({repr(m) for m in results.values()}) > 1:
            raise SystemExit(f"{stem}: the compiled kernel and NumPy differ: {results}")
        reference = straightforward(a, b) if contenders_extra else None
        for name, m in results.items() if contenders_extra else ():
            mine = (m.iou, m.dice, m.boundary_f, m.hd95, m.area_ratio, m.centroid_shift)
            if not np.allclose(mine, reference, rtol=1e-9, atol=1e-9):
                raise SystemExit(f"{stem}: {name} {mine} differs from the straightforward way {reference}")
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.runs):
        for stem, jpeg, a, b in cases:
            work = {
                "cv2 decode": lambda jpeg=jpeg: cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR),
                "Pillow decode": lambda jpeg=jpeg: decode_rgb(jpeg),
                "straightforward": lambda a=a, b=b: straightforward(a, b),
            } | {name: lambda a=a, b=b: compare_masks(a, b) for name in OURS}
            for name in names:
                calls = max(3, args.calls // 10) if name == "straightforward" else args.calls
                with path(name):
                    times.setdefault((stem, name), []).append(mean_ms(work[name], calls))

    print(f"# Mask pair agreement vs JPEG decode, {WIDTH}x{HEIGHT}, one thread, CPU time")
    print(f"python {platform.python_version()}, numpy {np.__version__}, opencv {cv2.__version__}, "
          f"{args.runs} runs x {args.calls} calls; median [min-max] over runs"
          f"{'' if metrics.kernel is not None else '; the compiled kernel is not built: NumPy path only'}\n")
    header = ["photo and pair", "boundary px A/B", "beyond tolerance", "IoU", *[f"{n} ms" for n in names]]
    for name in OURS:
        header += [f"{name} / cv2 decode", f"{name} / Pillow decode",
                   *([f"{name} speed-up vs straightforward"] if contenders_extra else [])]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    by_kind: dict[tuple[str, str], dict[str, list[float]]] = {}
    for stem, _, a, b in cases:
        m = compare_masks(a, b)
        na, nb = np.count_nonzero(boundary_map(a)), np.count_nonzero(boundary_map(b))
        beyond = 1 - (m.boundary_precision * na + m.boundary_recall * nb) / (na + nb)
        row = [stem, f"{na}/{nb}", f"{beyond:.0%}", f"{m.iou:.3f}", *[spread(times[(stem, n)]) for n in names]]
        for name in OURS:
            ours = times[(stem, name)]
            kind = by_kind.setdefault((stem.split(" vs ")[1], name), {"cv2": [], "Pillow": []})
            for decoder, column in (("cv2", "cv2 decode"), ("Pillow", "Pillow decode")):
                ratio = [o / d for o, d in zip(ours, times[(stem, column)], strict=True)]
                kind[decoder] += ratio
                row.append(spread(ratio))
            if contenders_extra:
                row.append(spread([s / o for o, s in zip(ours, times[(stem, "straightforward")], strict=True)], 1))
        print("| " + " | ".join(row) + " |")
    print()
    for (kind, name), ratios in by_kind.items():
        verdict = "met" if statistics.median(ratios["cv2"]) < GOAL else "NOT met"
        print(f"outline vs {kind}, {name}: / cv2 decode {spread(ratios['cv2'])}, / Pillow decode "
              f"{spread(ratios['Pillow'])} (all photos and runs); goal < {GOAL} x cv2 decode: {verdict}")


if __name__ == "__main__":
    main()
