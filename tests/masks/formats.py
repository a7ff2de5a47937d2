"""Tiny mask sets written in every format the readers take, from polygons, for agreement tests."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as coco_mask

from ximagenet12.masks import polygon_mask

FORMATS = ("v7", "standard", "labelme", "coco_polygons", "coco_rle")
HEIGHT, WIDTH = 40, 50
WNID = "n01689811"


def outlines(shift: int = 0) -> dict[str, list[list[int]]]:
    """Three sources' polygons (x, y points), moved right by `shift` pixels."""
    base = {
        f"{WNID}_1": [[10, 8], [30, 8], [30, 28], [10, 28]],
        f"{WNID}_2": [[5, 5], [40, 12], [22, 35]],
        "n01693334_7": [[12, 10], [38, 10], [44, 30], [20, 34], [8, 22]],
    }
    return {sid: [[x + shift, y] for x, y in points] for sid, points in base.items()}


def mask_of(points: list[list[int]]) -> np.ndarray:
    return polygon_mask([np.array(points)], HEIGHT, WIDTH)


def _png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".png", array)
    assert ok
    path.write_bytes(data.tobytes())


def write_set(root: Path, fmt: str, polygons: dict[str, list[list[int]]]) -> Path:
    """Write the polygons as a mask set in `fmt`; returns what to pass to `agreement` (folder or COCO file)."""
    root.mkdir(parents=True, exist_ok=True)
    coco: dict = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "object"}]}
    for index, (sid, points) in enumerate(sorted(polygons.items())):
        wnid = sid.split("_")[0]
        mask = mask_of(points)
        if fmt == "v7":
            red = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
            red[..., 2] = mask  # BGR: object red on black
            _png(root / "masks" / wnid / f"{sid}.png", red)
        elif fmt == "standard":
            _png(root / wnid / f"{sid}.png", mask)
        elif fmt == "labelme":
            folder = root / "images" / wnid
            folder.mkdir(parents=True, exist_ok=True)
            ok, jpeg = cv2.imencode(".jpg", np.full((HEIGHT, WIDTH, 3), 128, np.uint8))
            assert ok
            (folder / f"{sid}.JPEG").write_bytes(jpeg.tobytes())
            doc = {"version": "5.4.1", "flags": {}, "imagePath": f"{sid}.JPEG", "imageData": None,
                   "imageHeight": HEIGHT, "imageWidth": WIDTH,
                   "shapes": [{"label": "object", "points": points, "shape_type": "polygon", "flags": {}}]}
            (folder / f"{sid}.json").write_text(json.dumps(doc))
        elif fmt in ("coco_polygons", "coco_rle"):
            file_name = f"{wnid}/{sid}.JPEG"
            coco["images"].append({"id": index + 1, "file_name": file_name, "height": HEIGHT, "width": WIDTH})
            if fmt == "coco_polygons":
                segmentation = [[float(v) for xy in points for v in xy]]
            else:
                rle = coco_mask.encode(np.asfortranarray((mask > 0).astype(np.uint8)))
                segmentation = {"size": [HEIGHT, WIDTH], "counts": rle["counts"].decode("ascii")}
            coco["annotations"].append({"id": index + 1, "image_id": index + 1, "category_id": 1,
                                        "segmentation": segmentation, "iscrowd": int(fmt == "coco_rle")})
        else:
            raise ValueError(fmt)
    if fmt.startswith("coco"):
        path = root / "annotations.json"
        path.write_text(json.dumps(coco))
        return path
    return root
