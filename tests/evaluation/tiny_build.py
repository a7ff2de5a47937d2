"""Tiny build-like folders (Hub layout: README configs, build_manifest.json, data/<config>/<split>-*.parquet)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import yaml
from datasets import ClassLabel, Dataset, Features, Image, Value, disable_progress_bars

SPLITS = ("train", "test")
# (wnid, imagenet_index, name, RGB colour of the object in synthetic scenes)
SYNTHETIC_CLASSES = (
    ("n02123045", 281, "tabby cat", (220, 40, 40)),
    ("n03773504", 657, "missile", (40, 200, 60)),
    ("n07920052", 967, "espresso", (50, 70, 230)),
)


def features(class_names: Sequence[str]) -> Features:
    """The columns of every config and split."""
    return Features(
        {
            "image": Image(),
            "mask": Image(),
            "label": ClassLabel(names=list(class_names)),
            "wnid": Value("string"),
            "source_id": Value("string"),
            "scenario": Value("string"),
            "background_id": Value("string"),
            "params": Value("string"),
            "fold": Value("int8"),
        }
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
    readme: bool = True,
) -> Path:
    """Write rows[config][split] as Parquet shards, the README's configs YAML and build_manifest.json."""
    disable_progress_bars()
    root.mkdir(parents=True, exist_ok=True)
    names = [name for _, _, name in classes]
    feats = features(names)
    card_configs, info = [], []
    for config, splits in rows.items():
        files, split_info = [], []
        for split, items in splits.items():
            parts = [items[i::shards] for i in range(shards)] if items else [[]]
            for i, part in enumerate(parts):
                path = root / "data" / config / f"{split}-{i:05d}-of-{len(parts):05d}.parquet"
                path.parent.mkdir(parents=True, exist_ok=True)
                columns = {name: [row[name] for row in part] for name in feats}
                Dataset.from_dict(columns, features=feats).to_parquet(str(path), batch_size=rows_per_group)
            files.append({"split": split, "path": f"data/{config}/{split}-*.parquet"})
            split_info.append({"name": split, "num_examples": len(items), "num_bytes": 0})
        card_configs.append({"config_name": config, "data_files": files})
        info.append({"config_name": config, "features": feats._to_yaml_list(), "splits": split_info})
    if readme:
        card = {"license": "apache-2.0", "configs": card_configs, "dataset_info": info}
        text = "---\n" + yaml.safe_dump(card, sort_keys=False) + "---\n\n# tiny build\n"
        (root / "README.md").write_text(text)
    manifest = {
        "classes": [
            {"label": i, "wnid": wnid, "imagenet_index": index, "name": name}
            for i, (wnid, index, name) in enumerate(classes)
        ],
        "configs": {config: {} for config in rows},
        "seed": 0,
    }
    (root / "build_manifest.json").write_text(json.dumps(manifest, indent=1))
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
    readme: bool = True,
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
    return write_build(root, classes, rows, rows_per_group=rows_per_group, shards=shards, readme=readme)
