"""`ximagenet12 preview`: one image through every scenario into a labelled grid."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from ximagenet12_builder.cli import main

from ximagenet12.imageio import decode_any, encode_jpeg, encode_png
from ximagenet12.pictures import make_grid, to_display
from ximagenet12.scenarios import SCENARIOS
from ximagenet12.synthetic import make_scene


def test_grid_lays_out_labelled_tiles_of_one_width() -> None:
    tiles = [("a", np.zeros((50, 100, 3), np.uint8)), ("b", np.zeros((100, 50, 4), np.uint8))] * 3
    grid = make_grid(tiles, tile_width=80, columns=4)
    assert grid.shape[1] == 320 and grid.shape[0] == 2 * (160 + 22)
    assert grid.dtype == np.uint8 and grid.shape[2] == 3


def test_transparent_pixels_show_a_checkerboard() -> None:
    rgba = np.zeros((16, 16, 4), np.uint8)
    shown = to_display(rgba)
    assert shown.shape == (16, 16, 3) and len(np.unique(shown)) == 2


def test_preview_of_the_shipped_sample(tmp_path: Path, capsys) -> None:
    out = tmp_path / "grid.png"
    assert main(["preview", "--out", str(out)]) == 0
    grid = decode_any(out.read_bytes())
    expected = len([s for s in SCENARIOS.values() if (s.extra is None or s.extra.origin != "generated")])
    assert f"({expected} scenarios)" in capsys.readouterr().out
    assert grid.shape[1] == 5 * 200 and grid.shape[0] >= -(-expected // 5) * 100


def test_preview_of_your_own_image(tmp_path: Path) -> None:
    image, mask = make_scene(3, 120, 160)
    (tmp_path / "img.jpg").write_bytes(encode_jpeg(image))
    (tmp_path / "mask.png").write_bytes(encode_png(mask))
    out = tmp_path / "grid.png"
    assert (
        main(["preview", "--image", str(tmp_path / "img.jpg"), "--mask", str(tmp_path / "mask.png"), "--out", str(out)])
        == 0
    )
    assert cv2.imread(str(out)) is not None
