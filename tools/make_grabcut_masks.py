"""A second, independent mask set for LabelMe-annotated photos: OpenCV GrabCut from the outline's box.

For each `<wnid>/<id>.<ext>` photo with a LabelMe `<id>.json` beside it (by default the shipped
sample, `ximagenet12/sample/images/`), the only thing taken from the outline is its bounding box;
GrabCut (Rother, Kolmogorov and Blake, "GrabCut: interactive foreground extraction using iterated
graph cuts", SIGGRAPH 2004) then segments the photo from that box alone (`GC_INIT_WITH_RECT`,
ITERATIONS rounds, OpenCV's RNG seeded), the way ImageNet-9 cut its foregrounds out of ImageNet
bounding boxes (Xiao et al., "Noise or Signal: The Role of Image Backgrounds in Object
Recognition", ICLR 2021). Its output is kept as it comes: no strokes, no clean-up. Masks are
written as 0/255 single-channel PNGs, `<out>/<wnid>/<id>.png`.

    python tools/make_grabcut_masks.py [--sources DIR] [--out DIR] [--overlays DIR] [--overwrite]

A photo whose box covers the whole image (GrabCut then has no background to learn from) is
reported and skipped. An existing mask with other bytes is left alone unless --overwrite.
Deterministic for one OpenCV version: a rerun writes the same bytes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout, installed or not

from ximagenet12.imageio import encode_png  # noqa: E402
from ximagenet12.masks import MaskError, mask_from_labelme  # noqa: E402

SAMPLE = REPO / "ximagenet12" / "sample"
ITERATIONS = 5  # OpenCV's GrabCut tutorial's count
SEED = 0
PHOTO_SUFFIXES = (".jpeg", ".jpg", ".png")


def grabcut_from_box(image: np.ndarray, box: tuple[int, int, int, int], *, iterations: int = ITERATIONS) -> np.ndarray:
    """GrabCut's foreground (0/255) for a BGR or greyscale photo and an (x, y, w, h) box."""
    bgr = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image
    labels = np.zeros(bgr.shape[:2], np.uint8)
    background, foreground = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(SEED)
    cv2.grabCut(bgr, labels, box, background, foreground, iterations, cv2.GC_INIT_WITH_RECT)
    return np.where((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)


def photos(sources: Path) -> list[tuple[Path, Path]]:
    """(photo, LabelMe JSON) pairs under `sources`, sorted."""
    pairs = []
    for annotation in sorted(sources.rglob("*.json")):
        photo = next((p for p in sorted(annotation.parent.glob(f"{annotation.stem}.*"))
                      if p.suffix.lower() in PHOTO_SUFFIXES), None)
        if photo is not None:
            pairs.append((photo, annotation))
    return pairs


def overlay(image: np.ndarray, outline: np.ndarray, grabcut: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The photo with the box (yellow), the outline (green) and GrabCut's mask (magenta) drawn on it."""
    out = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    for mask, colour in ((outline, (0, 200, 0)), (grabcut, (255, 0, 255))):
        contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, colour, 1)
    x, y, w, h = box
    cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), (0, 255, 255), 1)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=Path, default=SAMPLE / "images", help="photos with LabelMe JSON beside them")
    parser.add_argument("--out", type=Path, default=SAMPLE / "masks" / "grabcut")
    parser.add_argument("--overlays", type=Path, help="also write overlays of outline, box and GrabCut here")
    parser.add_argument("--overwrite", action="store_true", help="replace existing masks whose bytes differ")
    args = parser.parse_args(argv)
    failed = 0
    for photo, annotation in photos(args.sources):
        image = cv2.imread(str(photo), cv2.IMREAD_UNCHANGED)
        if image is None:
            print(f"{photo}: skipped: not a readable image", file=sys.stderr)
            failed += 1
            continue
        try:
            outline = mask_from_labelme(annotation, shape=image.shape[:2])
        except MaskError as error:
            print(f"{annotation}: skipped: {error}", file=sys.stderr)
            failed += 1
            continue
        box = cv2.boundingRect(outline)
        if box[2] * box[3] == 0 or (box[2], box[3]) == (image.shape[1], image.shape[0]):
            print(f"{annotation}: skipped: the outline's box is empty or the whole image", file=sys.stderr)
            failed += 1
            continue
        mask = grabcut_from_box(image, box)
        target = args.out / photo.relative_to(args.sources).parent / f"{photo.stem}.png"
        data = encode_png(mask)
        if target.exists() and target.read_bytes() != data and not args.overwrite:
            print(f"{target}: left alone: exists with other bytes (rerun with --overwrite to replace)", file=sys.stderr)
            failed += 1
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        if args.overlays:
            args.overlays.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(args.overlays / f"{photo.stem}.png"), overlay(image, outline, mask, box))
        inter = np.count_nonzero(outline & mask)
        union = np.count_nonzero(outline | mask)
        print(f"{photo.stem}: box x={box[0]} y={box[1]} w={box[2]} h={box[3]}, "
              f"object {np.count_nonzero(mask) / mask.size:.1%} of the photo, IoU with the outline {inter / union:.3f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
