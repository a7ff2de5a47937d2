"""Agreement between mask sets: every format in every position, matching by id, what is left out, summaries."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

import ximagenet12.masks
from ximagenet12.masks import MaskSet, agreement, compare_masks, load_mask, mask_from_labelme, open_mask_set
from ximagenet12.masks.set_agreement import bootstrap
from ximagenet12.sample_data import sample_root

from .formats import FORMATS, HEIGHT, WIDTH, WNID, mask_of, outlines, write_set

MEASURES = ("iou", "dice", "boundary_precision", "boundary_recall", "boundary_f", "hd95", "area_ratio",
            "centroid_shift")


def test_the_api_is_a_function_of_the_masks_package() -> None:
    import ximagenet12.masks.set_agreement as module  # a module of another name: nothing shadows the function

    assert callable(ximagenet12.masks.agreement) and ximagenet12.masks.agreement is module.agreement


@pytest.mark.parametrize("fmt_b", FORMATS)
@pytest.mark.parametrize("fmt_a", FORMATS)
def test_every_format_in_every_position(tmp_path: Path, fmt_a: str, fmt_b: str) -> None:
    a_polygons, b_polygons = outlines(), outlines(shift=1)
    a = write_set(tmp_path / "a", fmt_a, a_polygons)
    b = write_set(tmp_path / "b", fmt_b, b_polygons)
    result = agreement(f"first={a}", f"second={b}", resamples=20, tolerance=1)
    assert result.problems == [] and result.unmatched == []
    assert [(r["set_a"], r["set_b"]) for r in result.rows] == [("first", "second")] * 3
    for row in result.rows:
        sid = row["source_id"]
        expected = compare_masks(mask_of(a_polygons[sid]), mask_of(b_polygons[sid]), tolerance=1)
        assert row["iou"] < 1  # the shift shows whatever the formats
        for name in MEASURES:
            assert row[name] == expected.to_dict()[name], (sid, name)
        assert (row["height"], row["width"]) == (HEIGHT, WIDTH)
    assert {r["wnid"] for r in result.rows} == {WNID, "n01693334"}


def test_sources_are_matched_by_id_and_the_unmatched_listed(tmp_path: Path) -> None:
    polygons = outlines()
    only_a = {sid: p for sid, p in polygons.items() if sid != f"{WNID}_2"}
    only_b = {sid: p for sid, p in polygons.items() if sid != "n01693334_7"}
    a = write_set(tmp_path / "a", "standard", only_a)
    b = write_set(tmp_path / "b", "labelme", only_b)
    c = write_set(tmp_path / "c", "coco_polygons", polygons)
    result = agreement(f"a={a}", f"b={b}", f"c={c}", resamples=20)
    assert result.pairs == [("a", "b"), ("a", "c"), ("b", "c")]
    compared = {(r["set_a"], r["set_b"], r["source_id"]) for r in result.rows}
    assert compared == {("a", "b", f"{WNID}_1"), ("a", "c", f"{WNID}_1"), ("a", "c", "n01693334_7"),
                        ("b", "c", f"{WNID}_1"), ("b", "c", f"{WNID}_2")}
    assert [u.to_dict() for u in result.unmatched] == [
        {"source_id": f"{WNID}_2", "present": ["b", "c"], "missing": ["a"]},
        {"source_id": "n01693334_7", "present": ["a", "c"], "missing": ["b"]},
    ]
    assert all(r["iou"] == 1 for r in result.rows)


def test_bad_masks_are_reported_and_skipped(tmp_path: Path) -> None:
    polygons = outlines()
    a = write_set(tmp_path / "a", "standard", polygons)
    b = write_set(tmp_path / "b", "standard", polygons)
    broken = a / WNID / f"{WNID}_1.png"
    broken.write_bytes(b"\x89PNG truncated")
    small = np.zeros((HEIGHT - 1, WIDTH), np.uint8)
    small[5:9, 5:9] = 255
    ok, data = cv2.imencode(".png", small)
    assert ok
    (b / WNID / f"{WNID}_2.png").write_bytes(data.tobytes())
    result = agreement(f"a={a}", f"b={b}", resamples=20)
    assert [r["source_id"] for r in result.rows] == ["n01693334_7"]
    reasons = {Path(p.file).name: p.reason for p in result.problems}
    assert "cannot decode" in reasons[f"{WNID}_1.png"]
    assert f"mask is {HEIGHT - 1}x{WIDTH}, the 'a' mask of {WNID}_2 is {HEIGHT}x{WIDTH}" in reasons[f"{WNID}_2.png"]


def test_an_id_twice_in_one_set_is_left_out(tmp_path: Path) -> None:
    polygons = outlines()
    a = write_set(tmp_path / "a", "standard", polygons)
    (a / "extra").mkdir()
    (a / "extra" / f"{WNID}_1.png").write_bytes((a / WNID / f"{WNID}_1.png").read_bytes())
    mask_set = open_mask_set(a)
    assert f"{WNID}_1" not in mask_set.entries and len(mask_set) == 2
    assert "appears 2 times" in mask_set.problems[0].reason


def test_coco_images_without_annotation_are_problems(tmp_path: Path) -> None:
    path = write_set(tmp_path, "coco_polygons", outlines())
    import json

    data = json.loads(path.read_text())
    data["images"].append({"id": 99, "file_name": f"{WNID}/{WNID}_9.JPEG", "height": HEIGHT, "width": WIDTH})
    path.write_text(json.dumps(data))
    mask_set = open_mask_set(path)
    assert len(mask_set) == 3 and "without annotation" in mask_set.problems[0].reason


def test_photos_are_never_read_as_masks(tmp_path: Path) -> None:
    # LabelMe beside PNG photos, a JPEG under masks/, a PNG under images/: only the JSON is a mask.
    root = write_set(tmp_path, "labelme", outlines())
    photo = root / "images" / WNID / f"{WNID}_1.JPEG"
    cv2.imwrite(str(photo.with_suffix(".png")), np.full((HEIGHT, WIDTH, 3), 90, np.uint8))
    mask_set = open_mask_set(root)
    assert {e.kind for e in mask_set.entries.values()} == {"labelme"} and len(mask_set) == 3
    assert mask_set.images[f"{WNID}_1"].endswith(("JPEG", "png"))


EMPTY = np.zeros((12, 12), np.uint8)
FULL = np.full((12, 12), 255, np.uint8)
SQUARE = np.zeros((12, 12), np.uint8)
SQUARE[3:8, 3:8] = 255


def test_empty_and_full_masks_leave_no_nan(tmp_path: Path) -> None:
    a = {"x_1": EMPTY, "x_2": FULL, "x_3": SQUARE, "x_4": EMPTY}
    b = {"x_1": EMPTY, "x_2": SQUARE, "x_3": EMPTY, "x_4": FULL}
    result = agreement(("a", a), ("b", b), resamples=50)
    for row in result.rows:
        for name in MEASURES:
            assert row[name] is None or math.isfinite(row[name])
    hd95 = result.summary("a", "b", "hd95")
    assert (hd95.n, hd95.defined) == (4, 1) and hd95.mean == 0.0  # only empty-vs-empty has a distance
    shift = result.summary("a", "b", "centroid_shift")
    assert shift.defined == 2  # empty-empty (0) and full-square
    from ximagenet12.masks.agreement_report import markdown, summary_csv

    text, table = markdown(result, figures=False), summary_csv(result)
    assert "nan" not in text.lower() and "nan" not in table.lower()
    assert result.table().column("hd95").null_count == 3


def test_summaries_are_the_data_means_and_medians() -> None:
    masks = {f"n01689811_{i}": SQUARE for i in range(5)}
    moved = {}
    for i, sid in enumerate(masks):
        m = np.zeros_like(SQUARE)
        m[3:8, 3 + (i % 3) : 8 + (i % 3)] = 255
        moved[sid] = m
    result = agreement(("a", masks), ("b", moved), resamples=200)
    ious = [r["iou"] for r in result.rows]
    s = result.summary("a", "b", "iou")
    assert s.mean == pytest.approx(np.mean(ious)) and s.median == pytest.approx(np.median(ious))
    assert min(ious) <= s.mean_low <= s.mean <= s.mean_high <= max(ious)
    per_class = result.summary("a", "b", "iou", "n01689811")
    assert per_class.mean == s.mean and per_class.class_name == "alligator lizard"
    assert result.worst[("a", "b", "all")][0] in {sid for sid, r in zip(masks, result.rows, strict=True)
                                                  if r["iou"] == min(ious)}


def test_bootstrap_is_seeded_per_group_and_degenerate_groups_are_exact() -> None:
    values = np.array([[0.2, np.nan], [0.4, 1.0], [0.9, 3.0]])
    one = bootstrap(values, np.random.default_rng(1), resamples=300, confidence=0.95)
    two = bootstrap(values, np.random.default_rng(1), resamples=300, confidence=0.95)
    assert one == two
    assert one[0][0] == pytest.approx(0.5) and one[1][0] == pytest.approx(2.0)  # NaN (no value) left out
    single = bootstrap(np.array([[0.7]]), np.random.default_rng(0), resamples=50, confidence=0.9)
    assert single == [(0.7, 0.7, 0.7, 0.7, 0.7, 0.7)]
    assert bootstrap(np.array([[np.nan]]), np.random.default_rng(0), resamples=5, confidence=0.9) == [(None,) * 6]


def test_results_do_not_depend_on_argument_order_of_sources() -> None:
    masks = {f"n01689811_{i}": SQUARE for i in range(6)}
    moved = {sid: np.roll(SQUARE, i % 3, axis=1) for i, sid in enumerate(masks)}
    forward = agreement(("a", masks), ("b", moved), resamples=100, seed=3)
    backward = agreement(("a", dict(reversed(masks.items()))), ("b", dict(reversed(moved.items()))),
                         resamples=100, seed=3)
    assert forward.summaries == backward.summaries and forward.rows == backward.rows
    assert agreement(("a", masks), ("b", moved), resamples=100, seed=4).summaries != forward.summaries


def test_sets_need_distinct_names_and_two_of_them(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least two"):
        agreement(("a", {"x": SQUARE}))
    with pytest.raises(ValueError, match="named 'a'"):
        agreement(("a", {"x": SQUARE}), ("a", {"x": SQUARE}))
    with pytest.raises(FileNotFoundError, match="not found"):
        open_mask_set(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="not a mask set"):
        (tmp_path / "x.json").write_text("{}")
        open_mask_set(tmp_path / "x.json")


def test_the_shipped_sample_against_its_grabcut_set() -> None:
    root = sample_root()
    result = agreement(f"labelme={root / 'images'}", f"grabcut={root / 'masks' / 'grabcut'}", resamples=100)
    assert result.problems == [] and result.unmatched == [] and len(result.rows) == 4
    recorded = {"n02123045_2106": 0.967, "n03773504_4402": 0.890, "n04485082_5103": 0.266, "n07920052_1915": 0.913}
    for row in result.rows:
        sid, wnid = row["source_id"], row["wnid"]
        outline = mask_from_labelme(root / "images" / wnid / f"{sid}.json")
        second = load_mask(root / "masks" / "grabcut" / wnid / f"{sid}.png")
        expected = compare_masks(outline, second)
        assert row["hd95"] == expected.hd95 and row["boundary_f"] == expected.boundary_f
        assert round(row["iou"], 3) == recorded[sid]  # the IoU the tool printed and SOURCES.md records
    assert result.class_names["n04485082"] == "tripod"  # from the sample's classes.json
    assert isinstance(result.sets[0], MaskSet) and result.sets[0].images  # photos found beside the outlines
