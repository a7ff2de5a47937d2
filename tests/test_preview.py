"""Pictures and `ximagenet12 preview`: layout at one height, outlines, the pick, pairing as the build pairs."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
from ximagenet12_builder.cli import main

from ximagenet12.errors import EXIT_DATA, EXIT_USAGE
from ximagenet12.imageio import encode_jpeg, encode_png
from ximagenet12.pictures import OUTLINE_COLOUR, closest_to_a_third, make_grid, make_rows, outline, to_display
from ximagenet12.preview import FAMILIES, Partner, scenario_tiles
from ximagenet12.sample_data import sample_root
from ximagenet12.scenarios import SCENARIOS
from ximagenet12.synthetic import make_scene

LABEL, GAP, TITLE, HEIGHT = 22, 4, 120, 150


def solid(height: int, width: int, colour: tuple[int, ...]) -> np.ndarray:
    return np.full((height, width, len(colour)), colour, np.uint8)


def read_png(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_rows_scale_every_tile_to_one_height_and_keep_its_aspect() -> None:
    rows = [
        ("first", [("a", solid(50, 100, (255, 0, 0))), ("b", solid(100, 50, (0, 0, 255)))]),
        (None, [("c", solid(30, 30, (0, 255, 0)))]),
    ]
    picture = make_rows(rows, height=80, title_width=100)
    # Row 0: 80x160 and 80x40 tiles after a 100 px title column and a 4 px gap; row 1: one 80x80 tile.
    assert picture.pixels.shape == (2 * (22 + 80 + 4) - 4, 100 + 160 + 4 + 40, 3)
    boxes = [(t.row, t.label, t.top, t.left, t.height, t.width) for t in picture.tiles]
    assert boxes == [(0, "a", 22, 100, 80, 160), (0, "b", 22, 264, 80, 40), (1, "c", 128, 100, 80, 80)]
    for (_, _, top, left, height, width), colour in zip(boxes, [(255, 0, 0), (0, 0, 255), (0, 255, 0)], strict=True):
        assert (picture.pixels[top : top + height, left : left + width] == colour).all()
    assert (picture.pixels[128:208, 180:] == 255).all(), "only the end of a shorter row is blank"


def test_grid_lays_out_labelled_tiles_of_one_width() -> None:
    tiles = [("a", np.zeros((50, 100, 3), np.uint8)), ("b", np.zeros((100, 50, 4), np.uint8))] * 3
    grid = make_grid(tiles, tile_width=80, columns=4)
    # 50x100 -> 40x80, 100x50 -> 160x80: rows as tall as the tallest tile plus the label.
    assert grid.shape == (2 * (160 + 22), 320, 3) and grid.dtype == np.uint8


def test_transparent_pixels_show_a_checkerboard() -> None:
    shown = to_display(np.zeros((16, 16, 4), np.uint8))
    assert shown.shape == (16, 16, 3) and sorted(np.unique(shown)) == [205, 245]


def test_outline_follows_the_mask_border() -> None:
    mask = np.zeros((100, 100), np.uint8)
    mask[30:70, 20:60] = 255
    drawn = outline(np.zeros((100, 100, 3), np.uint8), mask)
    ys, xs = np.nonzero(np.all(drawn == OUTLINE_COLOUR, axis=2))
    assert len(ys) > 100
    near_rows = np.minimum(np.abs(ys - 30), np.abs(ys - 69)) <= 1
    near_columns = np.minimum(np.abs(xs - 20), np.abs(xs - 59)) <= 1
    on_border = near_rows | near_columns
    assert on_border.all() and ys.min() >= 29 and ys.max() <= 70 and xs.min() >= 19 and xs.max() <= 60


def test_closest_to_a_third() -> None:
    assert closest_to_a_third({"a": 0.75, "b": 0.5, "c": 0.02}) == "b"
    assert closest_to_a_third({"b": 0.5, "a": 0.5}) == "a"  # a tie goes to the smaller key
    assert closest_to_a_third({}) is None


def test_every_scenario_sits_in_exactly_one_family() -> None:
    listed = [name for _, names in FAMILIES for name in names]
    assert sorted(listed) == sorted(SCENARIOS)


def test_tiles_of_one_image_with_distinct_partners() -> None:
    image, mask = make_scene(3, 96, 128)
    partners = {p: Partner(*make_scene(10 + k, 96, 128), name=p) for k, p in enumerate(("same", "rand", "next"))}
    tiles = scenario_tiles(image, mask, photo=(make_scene(20, 80, 120)[0], "photo"), partners=partners, seeds=7)
    assert set(tiles.images) == set(SCENARIOS) - {"ai_bg"}
    assert tiles.left_out == {"ai_bg": "no generated image"}
    inside = mask[..., None] > 0
    assert (tiles.images["seg_img"] == np.where(inside, image, 0)).all()
    assert (tiles.images["no_fg"] == np.where(inside, 0, image)).all()
    mixed = [tiles.images[f"mixed_{p}"] for p in ("same", "rand", "next")]
    for i in range(3):
        assert (mixed[i][mask > 0] == image[mask > 0]).all()
        for j in range(i + 1, 3):
            assert (mixed[i][mask == 0] != mixed[j][mask == 0]).any()
    assert tiles.labels["mixed_rand"] == "mixed_rand + rand" and tiles.labels["blur_bg"] == "blur_bg"


def _polygon_coverage(annotation: Path) -> float:
    """Object fraction of a LabelMe file, rasterised here with OpenCV (not with the package's mask reader)."""
    doc = json.loads(annotation.read_text())
    mask = np.zeros((doc["imageHeight"], doc["imageWidth"]), np.uint8)
    for shape in doc["shapes"]:
        cv2.fillPoly(mask, [np.round(np.array(shape["points"])).astype(np.int32)], 255)
    return float(np.count_nonzero(mask)) / mask.size


@pytest.fixture(scope="module")
def sample_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ximagenet12_builder.pipeline import BuildOptions, run_build

    out = tmp_path_factory.mktemp("sample") / "build"
    assert run_build(BuildOptions(sources=sample_root(), out=out, progress=False)).complete
    return out


def _rows_of(build: Path, source_id: str) -> dict[str, dict]:
    rows = {}
    for path in sorted((build / "data").rglob("*.parquet")):
        for row in pq.read_table(path).to_pylist():
            if row["source_id"] == source_id:
                rows[row["scenario"]] = row
    return rows


@pytest.mark.slow
def test_preview_of_the_sample_is_the_default_builds_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture, sample_build: Path
) -> None:
    coverage = {p.stem: _polygon_coverage(p) for p in sorted((sample_root() / "images").rglob("*.json"))}
    chosen = min(sorted(coverage), key=lambda sid: abs(coverage[sid] - 1 / 3))
    assert main(["preview", "--out", str(tmp_path / "new") + "/"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'new' / 'preview.png'}: {chosen} (" in out
    picture = read_png(tmp_path / "new" / "preview.png")

    rows = _rows_of(sample_build, chosen)
    assert "left out mixed_same: the build makes none: every class has a single source" in out
    assert "mixed_same" not in rows
    families = [[n for n in names if n in rows] for _, names in FAMILIES]
    families = [f for f in families if f]
    assert picture.shape[0] == len(families) * (LABEL + HEIGHT + GAP) - GAP
    # Walk the layout by hand: each tile is the stored row's image scaled to 150 px high, after the titles.
    for r, names in enumerate(families):
        left = TITLE
        for name in names:
            stored = cv2.imdecode(np.frombuffer(rows[name]["image"]["bytes"], np.uint8), cv2.IMREAD_UNCHANGED)
            width = round(stored.shape[1] * HEIGHT / stored.shape[0])
            tile = picture[r * (LABEL + HEIGHT + GAP) + LABEL :][:HEIGHT, left : left + width].astype(int)
            if name in ("original", "transparent"):  # outlined / composited on a checkerboard for display
                left += width + GAP
                continue
            expected = cv2.cvtColor(stored, cv2.COLOR_BGR2RGB) if stored.ndim == 3 else np.dstack([stored] * 3)
            expected = cv2.resize(expected, (width, HEIGHT), interpolation=cv2.INTER_AREA).astype(int)
            assert np.abs(tile - expected).mean() < 4, name  # the row is a JPEG of the same pixels
            left += width + GAP


def test_preview_of_your_own_image(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    image, mask = make_scene(3, 120, 160)
    (tmp_path / "img.jpg").write_bytes(encode_jpeg(image))
    (tmp_path / "mask.png").write_bytes(encode_png(mask))
    (tmp_path / "out").mkdir()
    assert main(["preview", "--image", str(tmp_path / "img.jpg"), "--mask", str(tmp_path / "mask.png"),
                 "--out", str(tmp_path / "out")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'out' / 'preview.png'}: {tmp_path / 'img.jpg'} through 18 scenarios" in out
    assert "own mirror image (same) and shipped sample photos (rand, next)" in out
    picture = read_png(tmp_path / "out" / "preview.png")
    assert picture.shape[0] == 5 * (LABEL + HEIGHT + GAP) - GAP
    # The last row holds no_fg, only_bg_t and the three mixed_* tiles, 200 px wide each: the partners differ.
    top = 4 * (LABEL + HEIGHT + GAP) + LABEL
    mixed = [picture[top : top + HEIGHT, TITLE + k * 204 : TITLE + k * 204 + 200].astype(int) for k in (2, 3, 4)]
    assert all(np.abs(a - b).mean() > 5 for i, a in enumerate(mixed) for b in mixed[i + 1 :])


def test_preview_refuses_a_mask_without_its_image(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    assert main(["preview", "--mask", str(tmp_path / "m.png")]) == EXIT_USAGE
    assert capsys.readouterr().err.strip().splitlines() == [
        "ximagenet12 preview: error: --mask needs --image: the mask of which image?"
    ]


def test_preview_refuses_a_mask_of_another_size(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    image, mask = make_scene(3, 120, 160)
    (tmp_path / "img.jpg").write_bytes(encode_jpeg(image))
    (tmp_path / "mask.png").write_bytes(encode_png(mask[:100]))
    code = main(["preview", "--image", str(tmp_path / "img.jpg"), "--mask", str(tmp_path / "mask.png"),
                 "--out", str(tmp_path / "p.png")])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_DATA and len(err) == 1
    assert err[0].startswith("ximagenet12 preview: error: ") and str(tmp_path / "mask.png") in err[0]
    assert not (tmp_path / "p.png").exists()
