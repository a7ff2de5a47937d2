"""The PNG settings of `imageio.encode_png` against the other ways to write the same pixels losslessly.

    python bench/png.py [--sources 60] [--runs 7]

On the sample scaled up to 500x375 sources (bench/_sources.py): the `transparent` rows (RGBA, the only
scenario stored as PNG) and the source photos (RGB, as `original` stores an EXIF-turned photo and as the
card's pictures are stored). Single-core, ms per image and KB per image, median (min-max) of `--runs`; the
ratios are taken within each run. Every way is checked to decode to the same pixels before it is timed.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ximagenet12 import imageio
from ximagenet12.masks import mask_from_png
from ximagenet12.scenarios import apply


def _opencv(flags: int) -> Callable[[np.ndarray], bytes]:
    def encode(array: np.ndarray) -> bytes:
        code = cv2.COLOR_RGBA2BGRA if array.shape[2] == 4 else cv2.COLOR_RGB2BGR
        params = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, flags]
        return cv2.imencode(".png", cv2.cvtColor(array, code), params)[1].tobytes()

    return encode


def _pillow(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


WAYS: dict[str, Callable[[np.ndarray], bytes]] = {
    "ours: imageio.encode_png (zlib 1, up)": imageio.encode_png,
    "libpng's adaptive fast filters, zlib 1": _opencv(cv2.IMWRITE_PNG_FAST_FILTERS),
    "libpng, no filter, zlib 1": _opencv(cv2.IMWRITE_PNG_FILTER_NONE),
    "Pillow, compress_level=1": _pillow,
}
BASELINE = "libpng's adaptive fast filters, zlib 1"


def _images(count: int) -> dict[str, list[np.ndarray]]:
    from _sources import scaled_sample

    with tempfile.TemporaryDirectory() as tmp:
        root = scaled_sample(Path(tmp) / "src", count)
        photos, rgba = [], []
        for image in sorted((root / "image").rglob("*.JPEG")):
            rgb = imageio.read_rgb(image).rgb
            mask = mask_from_png(root / "standard_masks" / image.parent.name / f"{image.stem}.png")
            photos.append(rgb)
            rgba.append(apply("transparent", rgb, mask)[0])
    return {"transparent (RGBA)": rgba, "photo (RGB)": photos}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=60)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    for kind, images in _images(args.sources).items():
        for name, encode in WAYS.items():
            for image in images[:3]:
                if not np.array_equal(imageio.decode_any(encode(image)), image):
                    raise SystemExit(f"{name}: does not decode to the same pixels")
        ms: dict[str, list[float]] = {name: [] for name in WAYS}
        size = {name: statistics.mean(len(encode(i)) for i in images) / 1024 for name, encode in WAYS.items()}
        for _ in range(args.runs):
            for name, encode in WAYS.items():
                start = time.perf_counter()
                for image in images:
                    encode(image)
                ms[name].append((time.perf_counter() - start) * 1000 / len(images))
        print(f"\n{kind}, {len(images)} images of 500x375, {args.runs} runs")
        print(f"{'way':<40} {'ms an image':>20} {'KB':>6} {'time / baseline':>22} {'size / baseline':>16}")
        for name in WAYS:
            ratios = [a / b for a, b in zip(ms[name], ms[BASELINE], strict=True)]
            spread = f"{statistics.median(ms[name]):.2f} ({min(ms[name]):.2f}-{max(ms[name]):.2f})"
            ratio = f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
            print(f"{name:<40} {spread:>20} {size[name]:>6.0f} {ratio:>22} {size[name] / size[BASELINE]:>15.2f}x")


if __name__ == "__main__":
    main()
