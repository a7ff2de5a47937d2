"""Benchmark inputs: the shipped sample scaled up to N sources of typical ImageNet size (500x375)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np

from ximagenet12 import imageio
from ximagenet12.masks import load_mask

SIZE = (375, 500)


def _sample_pairs() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(wnid, rgb, mask) of every shipped sample photo, or synthetic scenes if the sample is absent."""
    try:
        from ximagenet12.sample_data import sample_root

        root = sample_root()
        pairs = []
        for image in sorted((root / "images").rglob("*.JPEG")):
            annotation = image.with_suffix(".json")
            if annotation.exists():
                rgb = imageio.read_rgb(str(image)).rgb
                pairs.append((image.parent.name, rgb, load_mask(annotation, expected_shape=rgb.shape)))
        if pairs:
            return pairs
    except ImportError:
        pass
    from ximagenet12.classes import WNIDS
    from ximagenet12.synthetic import make_scene

    return [(WNIDS[i], *make_scene(i, *SIZE)) for i in range(4)]


def scaled_sample(root: Path, n: int, seed: int = 0) -> Path:
    """Write `n` sources (authors' layout, 0/255 masks) made by cropping, flipping and resizing the sample."""
    if root.exists():
        shutil.rmtree(root)
    rng = np.random.default_rng(seed)
    pairs = _sample_pairs()
    wnids = sorted({w for w, _, _ in pairs})
    (root / "image").mkdir(parents=True)
    for i in range(n):
        wnid, rgb, mask = pairs[i % len(pairs)]
        h, w = mask.shape
        scale = rng.uniform(0.8, 1.0)
        ch, cw = int(h * scale), int(w * scale)
        top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        crop, crop_mask = rgb[top : top + ch, left : left + cw], mask[top : top + ch, left : left + cw]
        if not crop_mask.any() or crop_mask.all():
            crop, crop_mask = rgb, mask
        if rng.random() < 0.5:
            crop, crop_mask = crop[:, ::-1], crop_mask[:, ::-1]
        size = (SIZE[1], SIZE[0]) if crop.shape[1] >= crop.shape[0] else (SIZE[0], SIZE[1])
        crop = cv2.resize(np.ascontiguousarray(crop), size, interpolation=cv2.INTER_AREA)
        crop_mask = cv2.resize(np.ascontiguousarray(crop_mask), size, interpolation=cv2.INTER_NEAREST)
        stem = f"{wnid}_{10000 + i}"
        (root / "image" / wnid).mkdir(exist_ok=True)
        (root / "standard_masks" / wnid).mkdir(parents=True, exist_ok=True)
        (root / "image" / wnid / f"{stem}.JPEG").write_bytes(imageio.encode_jpeg(crop, 90))
        (root / "standard_masks" / wnid / f"{stem}.png").write_bytes(imageio.encode_png(crop_mask))
    classes = [{"wnid": w, "imagenet_index": k, "name": w} for k, w in enumerate(wnids)]
    (root / "classes.json").write_text(json.dumps(classes))
    return root


def with_backgrounds(root: Path, count: int = 12) -> Path:
    """`backgrounds/`: photos for rand_bg (the sample's photos turned upside down; only their pixels matter)."""
    folder = root / "backgrounds"
    folder.mkdir(exist_ok=True)
    images = sorted((root / "image").rglob("*.JPEG"))[:count]
    for k, path in enumerate(images):
        rgb = imageio.read_rgb(str(path)).rgb
        (folder / f"bg_{k:03d}.jpg").write_bytes(imageio.encode_jpeg(cv2.flip(rgb, -1), 90))
    return root
