"""Tiny builds of hand-made scenes, written through the real shard writer, manifest and card."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
from ximagenet12_builder.card import write_card
from ximagenet12_builder.pipeline import build_versions
from ximagenet12_builder.shards import ShardWriter, parquet_format

from ximagenet12 import manifest as mf
from ximagenet12.classes import make_classes
from ximagenet12.features import SPLIT_RULE
from ximagenet12.provenance import canonical_json, write_atomic

SPLITS = ("train", "test")
# (wnid, imagenet_index, name, RGB colour of the object in synthetic scenes)
SYNTHETIC_CLASSES = (
    ("n02123045", 281, "tabby cat", (220, 40, 40)),
    ("n03773504", 657, "missile", (40, 200, 60)),
    ("n07920052", 967, "espresso", (50, 70, 230)),
)


def encode(image: np.ndarray, fmt: str = ".jpg") -> bytes:
    """RGB/RGBA/grey uint8 array -> JPEG or PNG bytes."""
    if image.ndim == 3 and image.shape[2] == 4:
        array = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    elif image.ndim == 3:
        array = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    else:
        array = image
    ok, data = cv2.imencode(fmt, array, [cv2.IMWRITE_JPEG_QUALITY, 95] if fmt == ".jpg" else [])
    assert ok
    return data.tobytes()


def write_build(
    root: Path,
    classes: Sequence[tuple[str, int, str]],
    rows: dict[str, dict[str, list[dict]]],
    *,
    rows_per_group: int | None = None,
    shards: int = 1,
    card: bool = True,
) -> Path:
    """Write rows[config][split] as shards with the build's ShardWriter, then the manifest and (optionally) card."""
    root.mkdir(parents=True, exist_ok=True)
    table = make_classes(list(classes))
    fmt = parquet_format([c.name for c in table])
    files: list[mf.FileEntry] = []
    configs = {}
    for config, splits in rows.items():
        counts = {}
        for split, items in splits.items():
            if not items:
                continue
            parts = [items[i::shards] for i in range(shards)]
            written = []
            for i, part in enumerate(parts):
                writer = ShardWriter(root, mf.shard_path(config, split, i, len(parts)), config, split, fmt)
                for n, item in enumerate(part, 1):
                    writer.add(item)
                    if rows_per_group and n % rows_per_group == 0:
                        writer.flush()
                written.append(writer.close())
            files += written
            counts[split] = mf.SplitCounts(
                sum(f.num_rows for f in written), sum(f.num_bytes for f in written), sum(f.size for f in written)
            )
        configs[config] = mf.config_entry(config, counts)
    manifest = mf.Manifest(
        seed=0,
        classes=table,
        configs=configs,
        files=tuple(sorted(files, key=lambda f: f.path)),
        versions=build_versions(),
        split_rule=SPLIT_RULE,
        encoding={"jpeg_quality": 95, "png": "OpenCV, lossless", "original": "JPEG, quality 95"},
        sources=mf.SourceCounts(annotated=len({r["source_id"] for s in rows.values() for v in s.values() for r in v})),
        sources_per_shard=None,
        num_shards=shards,
    )
    write_atomic(root / mf.MANIFEST_NAME, canonical_json(manifest.to_dict()))
    if card:
        write_card(root, manifest)
    return root


def row(image: np.ndarray, mask: np.ndarray, label: int, wnid: str, source_id: str, config: str) -> dict:
    """One row in the build's schema."""
    fmt = ".png" if image.ndim == 3 and image.shape[2] == 4 else ".jpg"
    return {
        "image": {"bytes": encode(image, fmt), "path": None},
        "mask": {"bytes": encode(mask, ".png"), "path": None},
        "label": label,
        "wnid": wnid,
        "source_id": source_id,
        "scenario": config,
        "background_id": None,
        "params": "{}",
        "fold": int(source_id.rsplit("_", 1)[-1]) % 12,
    }


def _scene(rng: np.random.Generator, colour: tuple[int, int, int], size: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """A textured grey background with a coloured ellipse in the middle, and its 0/255 mask."""
    height, width = size
    image = rng.integers(70, 170, (height, width, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(image, (5, 5), 2)
    mask = np.zeros((height, width), np.uint8)
    cv2.ellipse(mask, (width // 2, height // 2), (width // 4, height // 3), 0, 0, 360, 255, -1)
    jitter = rng.integers(-20, 21, 3)
    image[mask > 0] = np.clip(np.asarray(colour) + jitter, 0, 255).astype(np.uint8)
    return image, mask


def _blur_bg(image: np.ndarray, mask: np.ndarray, other: tuple) -> np.ndarray:
    out = cv2.GaussianBlur(image, (15, 15), 3)
    out[mask > 0] = image[mask > 0]
    return out


def _seg(image: np.ndarray, mask: np.ndarray, other: tuple) -> np.ndarray:
    return np.where(mask[..., None] > 0, image, 0).astype(np.uint8)


def _grey(image: np.ndarray, mask: np.ndarray, other: tuple) -> np.ndarray:
    grey = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    return np.where(mask[..., None] > 0, image, grey).astype(np.uint8)


def _paint_bg(image: np.ndarray, mask: np.ndarray, other: tuple) -> np.ndarray:
    """Background painted in another class's colour (confuses a whole-image model)."""
    out = image.copy()
    out[mask == 0] = other
    return out


def _blur_obj(image: np.ndarray, mask: np.ndarray, other: tuple) -> np.ndarray:
    """Object replaced by a grey disc: a synthetic scenario models must fail on."""
    out = image.copy()
    out[mask > 0] = 128
    return out


def _transparent(image: np.ndarray, mask: np.ndarray, other: tuple) -> np.ndarray:
    return np.dstack([image, mask])


SYNTHETIC_SCENARIOS: dict[str, Callable[[np.ndarray, np.ndarray, tuple], np.ndarray]] = {
    "original": lambda image, mask, other: image,
    "blur_bg": _blur_bg,
    "blur_obj": _blur_obj,
    "color_r": _grey,
    "color_g": _grey,
    "color_b": _grey,
    "color_grey": _grey,
    "seg_img": _seg,
    "rand_bg": _paint_bg,
    "transparent": _transparent,
    "mixed_same": _blur_bg,
    "mixed_rand": _paint_bg,
}


def make_synthetic_build(
    root: Path,
    configs: Sequence[str] = ("original", "seg_img", "rand_bg"),
    *,
    per_class: int = 4,
    size: tuple[int, int] = (48, 64),
    rows_per_group: int | None = 3,
    shards: int = 1,
    seed: int = 0,
    card: bool = True,
) -> Path:
    """Coloured-ellipse scenes, one class per colour; every other source image is in `test`."""
    rng = np.random.default_rng(seed)
    classes = [(wnid, index, name) for wnid, index, name, _ in SYNTHETIC_CLASSES]
    rows: dict[str, dict[str, list[dict]]] = {c: {s: [] for s in SPLITS} for c in configs}
    for label, (wnid, _, _, colour) in enumerate(SYNTHETIC_CLASSES):
        other = SYNTHETIC_CLASSES[(label + 1) % len(SYNTHETIC_CLASSES)][3]
        for n in range(per_class):
            image, mask = _scene(rng, colour, size)
            source_id = f"{wnid}_{n}"
            split = SPLITS[n % 2 == 0]
            for config in configs:
                made = SYNTHETIC_SCENARIOS[config](image, mask, other)
                rows[config][split].append(row(made, mask, label, wnid, source_id, config))
    return write_build(root, classes, rows, rows_per_group=rows_per_group, shards=shards, card=card)
