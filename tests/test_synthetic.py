"""Synthetic scenes: exact masks, determinism, and source trees that read back through masks."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from ximagenet12.masks import check_mask, coco_index, load_mask, mask_from_coco
from ximagenet12.synthetic import KINDS, _scene, make_scene, make_source_tree


@pytest.mark.parametrize("kind", KINDS)
def test_scene_shape_values_and_exact_mask(kind: str) -> None:
    image, mask = make_scene(3, 64, 80, kind=kind)
    assert image.shape == (64, 80, 3) and image.dtype == np.uint8
    check_mask(mask, image.shape)
    _, _, outer, holes = _scene(3, 64, 80, kind)
    filled = np.zeros_like(mask)
    for poly in outer:
        cv2.fillPoly(filled, [poly], 255)
    for poly in holes:
        cv2.fillPoly(filled, [poly], 0)
    np.testing.assert_array_equal(mask, filled)


def test_ring_has_a_hole() -> None:
    _, mask = make_scene(5, kind="ring")
    _, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    assert any(h[3] >= 0 for h in hierarchy[0])


def test_object_and_background_differ_at_the_mask_edge() -> None:
    image, mask = make_scene(11)
    inside = image[mask > 0].astype(float).mean(0)
    ring = cv2.dilate(mask, np.ones((9, 9), np.uint8)) & ~mask
    outside = image[ring > 0].astype(float).mean(0)
    assert np.abs(inside - outside).max() > 20


def test_background_is_textured_and_colourful() -> None:
    image, mask = make_scene(2)
    background = image[mask == 0].astype(float)
    assert background.std(0).min() > 10
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    assert hsv[..., 0][mask == 0].std() > 10 and hsv[..., 1][mask == 0].mean() > 100


def test_deterministic_per_seed() -> None:
    first, second = make_scene(7, kind="polygon"), make_scene(7, kind="polygon")
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], make_scene(8, kind="polygon")[0])


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown scene kind"):
        make_scene(0, kind="blob")


def expected_masks(ids: list[str], layout: str, size: tuple[int, int]) -> dict[str, np.ndarray]:
    kinds = KINDS if layout != "labelme" else ("ellipse", "polygon")
    return {sid: _scene(i, *size, kinds[i % len(kinds)])[1] for i, sid in enumerate(ids)}


@pytest.mark.parametrize("standard", [False, True])
def test_authors_layout_reads_back(tmp_path: Path, standard: bool) -> None:
    ids = make_source_tree(tmp_path, n_per_class=2, wnids=["n01", "n02"], standard_masks=standard)
    assert ids == ["n01_1", "n01_2", "n02_1", "n02_2"]
    folder = "standard_masks" if standard else "masks"
    for sid, expected in expected_masks(ids, "authors", (96, 128)).items():
        wnid = sid.split("_")[0]
        image = cv2.imread(str(tmp_path / "image" / wnid / f"{sid}.JPEG"))
        png = cv2.imread(str(tmp_path / folder / wnid / f"{sid}.png"), cv2.IMREAD_UNCHANGED)
        assert png.ndim == (2 if standard else 3)
        loaded = load_mask(tmp_path / folder / wnid / f"{sid}.png", expected_shape=image.shape)
        np.testing.assert_array_equal(loaded, expected)


def test_labelme_layout_reads_back(tmp_path: Path) -> None:
    ids = make_source_tree(tmp_path, n_per_class=2, layout="labelme", size=(40, 50), seed=0)
    for sid, expected in expected_masks(ids, "labelme", (40, 50)).items():
        wnid = sid.split("_")[0]
        doc = tmp_path / "images" / wnid / f"{sid}.json"
        assert json.loads(doc.read_text())["imagePath"] == f"{sid}.JPEG"
        assert (tmp_path / "images" / wnid / f"{sid}.JPEG").is_file()
        np.testing.assert_array_equal(load_mask(doc, expected_shape=(40, 50)), expected)


def test_coco_layout_reads_back_with_polygons_and_rle(tmp_path: Path) -> None:
    ids = make_source_tree(tmp_path, n_per_class=2, layout="coco")
    index = coco_index(tmp_path / "annotations.json")
    kinds = set()
    for sid, expected in expected_masks(ids, "coco", (96, 128)).items():
        name = f"{sid.split('_')[0]}/{sid}.JPEG"
        entry = index[name]
        assert (tmp_path / "images" / name).is_file()
        kinds.add(type(entry.annotations[0]["segmentation"]).__name__)
        np.testing.assert_array_equal(mask_from_coco(entry.annotations, entry.height, entry.width), expected)
    assert kinds == {"list", "dict"}


def test_unknown_layout(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown layout"):
        make_source_tree(tmp_path, layout="voc")
