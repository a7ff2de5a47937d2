"""Synthetic scenes with exact masks, and small source folders in every layout a build reads."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as coco_mask

from ximagenet12.classes import BY_WNID, WNIDS
from ximagenet12.masks import polygon_mask

KINDS = ("ellipse", "polygon", "ring")
LAYOUTS = ("authors", "labelme", "coco")
JPEG_QUALITY = 95

Polygons = list[np.ndarray]


def _ellipse(cx: float, cy: float, rx: float, ry: float, angle: float) -> np.ndarray:
    centre = (round(cx), round(cy))
    axes = (max(2, round(rx)), max(2, round(ry)))
    return cv2.ellipse2Poly(centre, axes, round(angle), 0, 360, 6)


def _outline(
    rng: np.random.Generator, height: int, width: int, kind: str
) -> tuple[Polygons, Polygons]:
    cx, cy = rng.uniform(0.4, 0.6) * width, rng.uniform(0.4, 0.6) * height
    rx, ry = rng.uniform(0.2, 0.3) * width, rng.uniform(0.22, 0.32) * height
    angle = rng.uniform(0, 180)
    if kind == "ellipse":
        return [_ellipse(cx, cy, rx, ry, angle)], []
    if kind == "ring":
        scale = rng.uniform(0.4, 0.55)
        return [_ellipse(cx, cy, rx, ry, angle)], [_ellipse(cx, cy, rx * scale, ry * scale, angle)]
    if kind == "polygon":
        count = int(rng.integers(5, 10))
        steps = np.arange(count) + rng.uniform(-0.3, 0.3, count)
        angles = steps * 2 * np.pi / count + rng.uniform(0, 2 * np.pi)
        radii = rng.uniform(0.65, 1.0, count)
        points = np.stack([cx + rx * radii * np.cos(angles), cy + ry * radii * np.sin(angles)], 1)
        return [np.rint(points).astype(np.int32)], []
    raise ValueError(f"unknown scene kind {kind!r}; expected one of {KINDS}")


def _hsv_to_rgb(hue: np.ndarray, sat: np.ndarray, val: np.ndarray) -> np.ndarray:
    hsv = np.stack([hue % 180, sat, val], -1).clip(0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    yy, xx = yy / height, xx / width
    hue = rng.uniform(0, 180) + rng.uniform(60, 120) * xx + rng.uniform(20, 60) * yy
    freq, theta = rng.uniform(6, 14), rng.uniform(0, np.pi)
    waves = np.sin(2 * np.pi * freq * (xx * np.cos(theta) + yy * np.sin(theta)))
    val = 150 + 45 * waves + rng.normal(0, 12, (height, width))
    sat = 170 + 50 * yy + rng.normal(0, 10, (height, width))
    return _hsv_to_rgb(hue, sat, val)


def _object_texture(
    rng: np.random.Generator, height: int, width: int, base_hue: float
) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    cell = int(rng.integers(4, 9))
    checker = ((yy // cell + xx // cell) % 2).astype(np.float64)
    hue = np.full((height, width), base_hue + 90) + 25 * checker
    val = 200 - 80 * checker + rng.normal(0, 8, (height, width))
    return _hsv_to_rgb(hue, np.full((height, width), 235.0), val)


def _scene(
    seed: int, height: int, width: int, kind: str
) -> tuple[np.ndarray, np.ndarray, Polygons, Polygons]:
    rng = np.random.default_rng(seed)
    outer, holes = _outline(rng, height, width, kind)
    mask = polygon_mask(outer, height, width) & ~polygon_mask(holes, height, width)
    background = _background(rng, height, width)
    base_hue = float(cv2.cvtColor(background, cv2.COLOR_RGB2HSV)[..., 0].mean())
    obj = _object_texture(rng, height, width, base_hue)
    image = np.where(mask[..., None] > 0, obj, background)
    return image, mask, outer, holes


def make_scene(
    seed: int, height: int = 96, width: int = 128, *, kind: str = "ellipse"
) -> tuple[np.ndarray, np.ndarray]:
    """An RGB uint8 scene (graded, striped, noisy background; checkered object) and its mask.

    `kind` is "ellipse", "polygon" or "ring" (an ellipse with an elliptic hole). Deterministic per
    seed; the mask (0/255) is exactly the object's pixels.
    """
    image, mask, _, _ = _scene(seed, height, width, kind)
    return image, mask


def _write_jpeg(path: Path, rgb: np.ndarray) -> None:
    ok, data = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise OSError(f"cannot encode {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.tobytes())


def _write_png(path: Path, array: np.ndarray) -> None:
    ok, data = cv2.imencode(".png", array)
    if not ok:
        raise OSError(f"cannot encode {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.tobytes())


def _class_name(wnid: str) -> str:
    return BY_WNID[wnid].name if wnid in BY_WNID else wnid


def _labelme(image_name: str, wnid: str, outer: Polygons, size: tuple[int, int]) -> dict:
    shapes = [
        {"label": _class_name(wnid), "points": poly.tolist(), "group_id": None,
         "shape_type": "polygon", "flags": {}}
        for poly in outer
    ]
    return {"version": "5.4.1", "flags": {}, "shapes": shapes, "imagePath": image_name,
            "imageData": None, "imageHeight": size[0], "imageWidth": size[1]}


def _coco_segmentation(mask: np.ndarray, outer: Polygons, holes: Polygons) -> list | dict:
    if not holes:
        return [poly.reshape(-1).astype(float).tolist() for poly in outer]
    rle = coco_mask.encode(np.asfortranarray(mask > 0, dtype=np.uint8))
    return {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")}


def make_source_tree(
    root: str | Path,
    *,
    n_per_class: int = 2,
    wnids: Sequence[str] = WNIDS[:3],
    layout: str = "authors",
    size: tuple[int, int] = (96, 128),
    seed: int = 0,
    standard_masks: bool = False,
) -> list[str]:
    """Write a small source folder of synthetic scenes and return its source ids.

    Layouts: "authors" writes `image/<wnid>/<id>.JPEG` and `masks/<wnid>/<id>.png` (V7: red on
    black) or, with `standard_masks`, `standard_masks/<wnid>/<id>.png` (0/255); "labelme" writes
    `images/<wnid>/<id>.JPEG` with `<id>.json` beside it; "coco" writes `images/<wnid>/<id>.JPEG`
    and `annotations.json` (file_name relative to `images/`, polygons, or RLE for rings).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")
    root = Path(root)
    height, width = size
    kinds = KINDS if layout != "labelme" else ("ellipse", "polygon")
    ids: list[str] = []
    coco: dict = {"images": [], "annotations": [], "categories": []}
    for label, wnid in enumerate(wnids):
        coco["categories"].append({"id": label + 1, "name": wnid, "supercategory": "object"})
        for k in range(n_per_class):
            index = len(ids)
            source_id = f"{wnid}_{k + 1}"
            image, mask, outer, holes = _scene(
                seed * 100_000 + index, height, width, kinds[index % len(kinds)]
            )
            if layout == "authors":
                _write_jpeg(root / "image" / wnid / f"{source_id}.JPEG", image)
                if standard_masks:
                    _write_png(root / "standard_masks" / wnid / f"{source_id}.png", mask)
                else:
                    v7 = np.zeros((height, width, 3), np.uint8)
                    v7[..., 2] = mask
                    _write_png(root / "masks" / wnid / f"{source_id}.png", v7)
            else:
                folder = root / "images" / wnid
                _write_jpeg(folder / f"{source_id}.JPEG", image)
                if layout == "labelme":
                    doc = _labelme(f"{source_id}.JPEG", wnid, outer, size)
                    (folder / f"{source_id}.json").write_text(json.dumps(doc, indent=1))
                else:
                    coco["images"].append({"id": index + 1, "file_name": f"{wnid}/{source_id}.JPEG",
                                           "height": height, "width": width})
                    coco["annotations"].append({
                        "id": index + 1, "image_id": index + 1, "category_id": label + 1,
                        "segmentation": _coco_segmentation(mask, outer, holes), "iscrowd": 0,
                        "area": int((mask > 0).sum()),
                        "bbox": [float(v) for v in cv2.boundingRect(mask)],
                    })
            ids.append(source_id)
    if layout == "coco":
        root.mkdir(parents=True, exist_ok=True)
        (root / "annotations.json").write_text(json.dumps(coco))
    return ids
