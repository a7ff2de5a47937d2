"""Rebuild ximagenet12/sample/ from scikit-image's photos: converted images and GrabCut outlines.

The outlines are not hand-traced. Per photo, the PHOTOS table holds what was chosen by eye, in
pixel x, y: a box around the object (outside it is background) and foreground/background strokes
where GrabCut alone went wrong; `band` limits thin objects to the pixels near their strokes.
GrabCut's result is reduced to its largest component(s), outer contours simplified with
approxPolyDP (at most MAX_POINTS points), large see-through holes kept by cutting the mask into
hole-free pieces, and written as LabelMe polygons. Every outline was checked by eye on the overlays
this script writes (--overlays, default /tmp/sample_overlays).

    python tools/make_sample_masks.py [--overlays DIR]

Needs scikit-image (for its data folder) and OpenCV. Deterministic: OpenCV's RNG is seeded, and a
rerun rewrites the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import skimage

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout, installed or not

from ximagenet12.masks import mask_from_labelme  # noqa: E402

SAMPLE = REPO / "ximagenet12" / "sample"
SKIMAGE_DATA = Path(skimage.__file__).parent / "data"
PHOTO_QUALITY = 92
BACKGROUND_QUALITY = 90
MAX_POINTS = 120

# (thickness, x/y points): a polyline that wide, or with thickness FILLED a filled polygon
Stroke = tuple[int, list[tuple[int, int]]]
FILLED = -1


@dataclass(frozen=True)
class Photo:
    """One sample photo: where it comes from, its class and id, and how its outline is made."""

    file: str
    wnid: str
    number: int
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (inclusive), may touch the image edges
    fg: list[Stroke] = field(default_factory=list)
    bg: list[Stroke] = field(default_factory=list)
    parts: int = 1  # connected components kept, largest first
    min_hole: int | None = None  # keep holes of at least this area (px); smaller ones are filled
    band: int | None = None  # thin objects: only pixels this close to an fg stroke may be object
    grey: bool = False


CLASSES = {
    "n02123045": (281, "tabby cat"),
    "n03773504": (657, "missile"),
    "n04485082": (872, "tripod"),
    "n07920052": (967, "espresso"),
}

# fmt: off
PHOTOS = [
    Photo("chelsea.png", "n02123045", 2106, box=(0, 0, 450, 299),
          fg=[(20, [(60, 60), (200, 40), (330, 60)]), (40, [(100, 150), (250, 200), (300, 250)]),
              (20, [(30, 200), (40, 290)])],
          bg=[(20, [(0, 70), (10, 0)]), (14, [(420, 0), (450, 40)]),
              (30, [(440, 90), (430, 299)]), (20, [(400, 120), (410, 200)])]),
    Photo("coffee.png", "n07920052", 1915, box=(70, 14, 486, 399),
          fg=[(4, [(412, 75), (410, 110)]),
              (3, [(473, 230), (466, 270), (447, 306), (416, 338), (376, 363), (329, 378),
                   (279, 383), (229, 378), (182, 363), (142, 338), (111, 306), (92, 270),
                   (85, 230)])],
          bg=[(5, [(488, 200), (490, 245), (478, 288), (453, 328), (415, 360), (369, 384),
                   (316, 397), (261, 399), (206, 390), (157, 369), (117, 339), (87, 302),
                   (70, 260), (68, 215)]),
              (3, [(74, 253), (73, 218), (79, 190)])]),
    Photo("rocket.jpg", "n03773504", 4402, box=(300, 120, 345, 408),
          fg=[(14, [(322, 142), (322, 398)]), (6, [(322, 130), (322, 142)])],
          bg=[(3, [(307, 184), (307, 405)]), (3, [(337, 184), (337, 405)])]),
    Photo("camera.png", "n04485082", 5103, box=(225, 135, 411, 511), grey=True,
          parts=2, min_hole=300, band=4,
          fg=[(16, [(268, 156), (318, 156)]), (10, [(265, 172), (298, 172)]),
              (3, [(293, 215), (293, 486)]),
              (3, [(282, 345), (236, 510)]), (3, [(308, 330), (403, 510)]),
              (12, [(284, 322), (306, 322)]), (12, [(286, 338), (300, 338)]),
              (4, [(306, 318), (334, 304)]),
              (3, [(258, 467), (291, 481)])],
          bg=[(8, [(244, 191), (264, 191)]), (6, [(318, 185), (322, 205)]),
              (6, [(275, 215), (285, 232)]), (6, [(335, 175), (345, 200)])]),
]
# fmt: on


def source_id(photo: Photo) -> str:
    return f"{photo.wnid}_{photo.number}"


def split_of(sid: str) -> str:
    """The build's split rule: about 1 in 5 ids go to test."""
    return "test" if int(hashlib.sha256(sid.encode()).hexdigest(), 16) % 100 < 20 else "train"


def shipped_bytes(photo: Photo) -> bytes:
    """The image file as shipped: JPEG sources untouched, PNG sources re-encoded as JPEG."""
    path = SKIMAGE_DATA / photo.file
    if path.suffix.lower() in (".jpg", ".jpeg"):
        return path.read_bytes()
    flag = cv2.IMREAD_GRAYSCALE if photo.grey else cv2.IMREAD_COLOR
    pixels = cv2.imread(str(path), flag)
    ok, data = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, PHOTO_QUALITY])
    assert ok
    return data.tobytes()


def draw(seeds: np.ndarray, strokes: list[Stroke], label: int) -> None:
    for thickness, line in strokes:
        points = [np.array(line, np.int32)]
        if thickness == FILLED:
            cv2.fillPoly(seeds, points, label)
        else:
            cv2.polylines(seeds, points, False, label, thickness)


def box_seeds(shape: tuple[int, ...], photo: Photo) -> np.ndarray:
    """GrabCut seeds from the photo's box, band and strokes."""
    seeds = np.full(shape[:2], cv2.GC_BGD, np.uint8)
    x0, y0, x1, y1 = photo.box
    seeds[y0 : y1 + 1, x0 : x1 + 1] = cv2.GC_PR_FGD
    if photo.band:
        near = np.zeros_like(seeds)
        draw(near, photo.fg, 1)
        size = 2 * photo.band + 1
        near = cv2.dilate(near, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
        seeds[near == 0] = cv2.GC_BGD
    draw(seeds, photo.bg, int(cv2.GC_BGD))
    draw(seeds, photo.fg, int(cv2.GC_FGD))
    return seeds


def grabcut(image: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Foreground (bool) from GrabCut started from seed labels."""
    bgr = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image
    seeds = seeds.copy()
    cv2.setRNGSeed(0)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(bgr, seeds, None, bgd, fgd, 8, cv2.GC_INIT_WITH_MASK)
    return np.isin(seeds, (cv2.GC_FGD, cv2.GC_PR_FGD))


def largest_parts(foreground: np.ndarray, parts: int) -> np.ndarray:
    """The `parts` largest connected components of a foreground, lightly cleaned, as 0/255."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    clean = cv2.morphologyEx(foreground.astype(np.uint8) * 255, cv2.MORPH_OPEN, kernel)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(clean, connectivity=8)
    ranked = 1 + np.argsort(stats[1:, cv2.CC_STAT_AREA])[::-1][:parts]
    return np.where(np.isin(labels, ranked), 255, 0).astype(np.uint8)


def hole_free_pieces(mask: np.ndarray, min_hole: int) -> list[np.ndarray]:
    """Cut a mask through its large holes until no piece has one: LabelMe polygons have no holes.

    The pieces' union is the mask; each cut is a vertical line through a hole's middle.
    """
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    holes = [
        c for c, h in zip(contours, hierarchy[0] if hierarchy is not None else [], strict=True)
        if h[3] >= 0 and cv2.contourArea(c) >= min_hole
    ]
    if not holes:
        return [mask]
    x, _, w, _ = cv2.boundingRect(max(holes, key=cv2.contourArea))
    left, right = mask.copy(), mask.copy()
    left[:, x + w // 2 :] = 0
    right[:, : x + w // 2] = 0
    return hole_free_pieces(left, min_hole) + hole_free_pieces(right, min_hole)


def simplify(contour: np.ndarray) -> np.ndarray:
    """approxPolyDP with the smallest tolerance that leaves at most MAX_POINTS points."""
    epsilon = 0.5
    poly = cv2.approxPolyDP(contour, epsilon, True)
    while len(poly) > MAX_POINTS:
        epsilon *= 1.15
        poly = cv2.approxPolyDP(contour, epsilon, True)
    return poly.reshape(-1, 2)


def outline(foreground: np.ndarray, photo: Photo) -> list[np.ndarray]:
    """Polygons whose union is the photo's cleaned foreground (holes filled unless large)."""
    mask = largest_parts(foreground, photo.parts)
    pieces = hole_free_pieces(mask, photo.min_hole) if photo.min_hole else [mask]
    polygons = []
    for piece in pieces:
        contours, _ = cv2.findContours(piece, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        polygons += [simplify(c) for c in contours if cv2.contourArea(c) >= 4]
    return polygons


def labelme(photo: Photo, polygons: list[np.ndarray], shape: tuple[int, ...]) -> dict:
    name = CLASSES[photo.wnid][1]
    shapes = [
        {"label": name, "points": poly.astype(float).tolist(), "group_id": None,
         "description": "", "shape_type": "polygon", "flags": {}}
        for poly in polygons
    ]
    return {"version": "5.4.1", "flags": {}, "shapes": shapes,
            "imagePath": f"{source_id(photo)}.JPEG", "imageData": None,
            "imageHeight": shape[0], "imageWidth": shape[1]}


def overlay(image: np.ndarray, mask: np.ndarray, photo: Photo) -> np.ndarray:
    """The photo with the background dimmed, the outline in green and the seeds drawn."""
    bgr = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    out = np.where(mask[..., None] > 0, bgr, (bgr * 0.35).astype(np.uint8))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, (0, 255, 0), 1)
    x0, y0, x1, y1 = photo.box
    cv2.rectangle(out, (x0, y0), (x1, y1), (255, 255, 0), 1)
    for colour, strokes in (((0, 0, 255), photo.bg), ((255, 0, 255), photo.fg)):
        for thickness, line in strokes:
            closed = thickness == FILLED
            cv2.polylines(out, [np.array(line, np.int32)], closed, colour, 1)
    return out


def write_jpeg(path: Path, pixels: np.ndarray, quality: int) -> None:
    ok, data = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    path.write_bytes(data.tobytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--overlays", type=Path, default=Path("/tmp/sample_overlays"))
    args = parser.parse_args()
    args.overlays.mkdir(parents=True, exist_ok=True)
    for folder in ("images", "backgrounds"):
        shutil.rmtree(SAMPLE / folder, ignore_errors=True)
    for photo in PHOTOS:
        sid = source_id(photo)
        folder = SAMPLE / "images" / photo.wnid
        folder.mkdir(parents=True, exist_ok=True)
        data = shipped_bytes(photo)
        (folder / f"{sid}.JPEG").write_bytes(data)
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        foreground = grabcut(image, box_seeds(image.shape, photo))
        polygons = outline(foreground, photo)
        doc = labelme(photo, polygons, image.shape)
        (folder / f"{sid}.json").write_text(json.dumps(doc, indent=1) + "\n")
        mask = mask_from_labelme(doc)
        cv2.imwrite(str(args.overlays / f"{sid}.png"), overlay(image, mask, photo))
        iou = (foreground & (mask > 0)).sum() / max(1, (foreground | (mask > 0)).sum())
        points = [len(p) for p in polygons]
        print(f"{sid} {split_of(sid):5} {photo.file:22} points={points} iou_vs_grabcut={iou:.3f}")
    backgrounds = SAMPLE / "backgrounds"
    backgrounds.mkdir(parents=True, exist_ok=True)
    for name in ("brick", "grass", "gravel"):
        pixels = cv2.imread(str(SKIMAGE_DATA / f"{name}.png"), cv2.IMREAD_GRAYSCALE)
        write_jpeg(backgrounds / f"{name}.jpg", pixels, BACKGROUND_QUALITY)
    classes = [
        {"wnid": wnid, "imagenet_index": index, "name": name}
        for wnid, (index, name) in sorted(CLASSES.items())
    ]
    (SAMPLE / "classes.json").write_text(json.dumps(classes, indent=1) + "\n")


if __name__ == "__main__":
    main()
