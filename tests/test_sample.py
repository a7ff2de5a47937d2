"""The real sample shipped with the package: decodable photos, valid outlines, a usable split."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from ximagenet12.masks import check_mask, load_mask
from ximagenet12.sample_data import sample_classes, sample_root

ROOT = sample_root()
IMAGES = sorted((ROOT / "images").glob("*/*.JPEG"))


def split_of(source_id: str) -> str:
    """The build's rule, restated here so a change to either side shows."""
    return "test" if int(hashlib.sha256(source_id.encode()).hexdigest(), 16) % 100 < 20 else "train"


def test_sample_has_images_backgrounds_and_classes() -> None:
    assert len(IMAGES) >= 4
    assert len(list((ROOT / "backgrounds").glob("*.jpg"))) >= 3
    assert (ROOT / "SOURCES.md").is_file()


@pytest.mark.parametrize("path", IMAGES + sorted((ROOT / "backgrounds").glob("*.jpg")), ids=lambda p: p.name)
def test_every_image_decodes(path: Path) -> None:
    image = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None and image.dtype == np.uint8 and min(image.shape[:2]) >= 256


def test_sample_includes_a_greyscale_jpeg() -> None:
    channels = {cv2.imread(str(p), cv2.IMREAD_UNCHANGED).ndim for p in IMAGES}
    assert channels == {2, 3}


@pytest.mark.parametrize("path", IMAGES, ids=lambda p: p.stem)
def test_every_outline_gives_a_valid_mask(path: Path) -> None:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    annotation = path.with_suffix(".json")
    doc = json.loads(annotation.read_text())
    assert doc["imagePath"] == path.name
    assert {shape["shape_type"] for shape in doc["shapes"]} == {"polygon"}
    assert all(3 <= len(shape["points"]) <= 120 for shape in doc["shapes"])
    mask = check_mask(load_mask(annotation, expected_shape=image.shape), image.shape, source=annotation)
    assert 0.02 < (mask > 0).mean() < 0.95


def test_labels_name_the_folder_class() -> None:
    names = {c["wnid"]: c["name"] for c in sample_classes()}
    for path in IMAGES:
        wnid = path.parent.name
        assert path.stem.startswith(f"{wnid}_")
        labels = {shape["label"] for shape in json.loads(path.with_suffix(".json").read_text())["shapes"]}
        assert labels == {names[wnid]}


def test_classes_cover_every_folder() -> None:
    classes = sample_classes()
    wnids = [c["wnid"] for c in classes]
    assert wnids == sorted(wnids) and len(set(wnids)) == len(wnids)
    assert {p.name for p in (ROOT / "images").iterdir() if p.is_dir()} == set(wnids)
    for row in classes:
        assert set(row) == {"wnid", "imagenet_index", "name"}
        assert 0 <= row["imagenet_index"] < 1000


def test_split_rule_gives_both_splits() -> None:
    splits = [split_of(path.stem) for path in IMAGES]
    assert splits.count("test") >= 2 and splits.count("train") >= 2
