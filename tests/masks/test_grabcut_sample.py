"""The sample's second mask set (GrabCut from each outline's box): present, valid, documented, reproducible."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from ximagenet12.masks import check_mask, load_mask, mask_from_labelme
from ximagenet12.sample_data import sample_root

ROOT = sample_root()
PHOTOS = sorted((ROOT / "images").glob("*/*.JPEG"))
TOOL = Path(__file__).resolve().parents[2] / "tools" / "make_grabcut_masks.py"
MADE_WITH_OPENCV = "5.0.0"


def grabcut_mask(photo: Path) -> Path:
    return ROOT / "masks" / "grabcut" / photo.parent.name / f"{photo.stem}.png"


def tool():
    spec = importlib.util.spec_from_file_location("make_grabcut_masks", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("photo", PHOTOS, ids=lambda p: p.stem)
def test_every_photo_has_a_valid_grabcut_mask(photo: Path) -> None:
    image = cv2.imread(str(photo), cv2.IMREAD_UNCHANGED)
    path = grabcut_mask(photo)
    stored = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert stored.ndim == 2 and set(np.unique(stored)) <= {0, 255}
    mask = check_mask(load_mask(path, expected_shape=image.shape), image.shape, source=path)
    outline = mask_from_labelme(photo.with_suffix(".json"))
    x, y, w, h = cv2.boundingRect(outline)
    outside = mask.copy()
    outside[y : y + h, x : x + w] = 0
    assert not outside.any()  # GrabCut keeps everything outside the box as background


@pytest.mark.parametrize("photo", PHOTOS, ids=lambda p: p.stem)
def test_sources_md_records_each_mask_and_its_hash(photo: Path) -> None:
    text = (ROOT / "SOURCES.md").read_text()
    digest = hashlib.sha256(grabcut_mask(photo).read_bytes()).hexdigest()
    assert f"`{photo.parent.name}/{photo.stem}.png`" in text and digest in text


def test_the_second_set_does_not_disturb_the_default_build() -> None:
    from ximagenet12_builder.sources import discover

    inventory = discover(ROOT)
    assert inventory.rejected == [] and len(inventory.sources) == len(PHOTOS)


@pytest.mark.slow
def test_rerunning_the_tool_gives_the_shipped_masks(tmp_path: Path) -> None:
    make = tool()
    out = tmp_path / "grabcut"
    assert make.main(["--out", str(out)]) == 0
    for photo in PHOTOS:
        made, shipped = load_mask(out / photo.parent.name / f"{photo.stem}.png"), load_mask(grabcut_mask(photo))
        if cv2.__version__ == MADE_WITH_OPENCV:
            np.testing.assert_array_equal(made, shipped)
        else:  # GrabCut's GMM fit may round differently in another OpenCV: the masks stay close
            inter, union = np.count_nonzero(made & shipped), np.count_nonzero(made | shipped)
            assert inter / union > 0.95


def test_the_tool_leaves_a_foreign_file_alone(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    make = tool()
    photo = PHOTOS[0]
    sources = tmp_path / "images" / photo.parent.name
    sources.mkdir(parents=True)
    (sources / photo.name).write_bytes(photo.read_bytes())
    (sources / f"{photo.stem}.json").write_bytes(photo.with_suffix(".json").read_bytes())
    target = tmp_path / "out" / photo.parent.name / f"{photo.stem}.png"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"someone else's file")
    assert make.main(["--sources", str(tmp_path / "images"), "--out", str(tmp_path / "out")]) == 1
    assert target.read_bytes() == b"someone else's file"
    assert "left alone" in capsys.readouterr().err
