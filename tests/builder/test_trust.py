"""A build of a folder holding every kind of bad input: each listed once, no good row lost, nothing of the user's
touched, memory bounded, and two builds equal byte for byte."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
from ximagenet12_builder.pipeline import BuildOptions, run_build

from ximagenet12 import imageio
from ximagenet12.masks import mask_from_png
from ximagenet12.synthetic import make_scene, make_source_tree

from .hostile import CLASSES as HOSTILE_CLASSES
from .hostile import CONFIGS, GOOD_PER_CLASS, Expected, huge_png, jpeg, make_hostile_tree

EXTRA_RSS_LIMIT_MB = 150
PEAK_RSS_LIMIT_MB = 600  # about 210 MB measured for either build


def source_digest(root: Path) -> dict[str, str]:
    """sha256 of every regular file, and the kind of every other entry, under the sources folder."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = f"link -> {os.readlink(path)}"
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[rel] = "dir" if path.is_dir() else "other"
    return out


def tree_digest(out: Path) -> dict[str, str]:
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file() and ".build" not in p.relative_to(out).parts
    }


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Expected, dict[str, str]]:
    root = tmp_path_factory.mktemp("hostile") / "sources"
    expected = make_hostile_tree(root, huge=huge_png(30000, 30000))
    return root, expected, source_digest(root)


# Peak RSS from the kernel's high-water mark of this process's own memory (VmHWM): getrusage's ru_maxrss
# would carry over the RSS of the (large) pytest process this one was forked from.
BUILD = """
import json, sys
from PIL import Image
from ximagenet12_builder.cli import main
code = main(sys.argv[1:])
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "tensorflow", "jax") and "." not in m)
print(json.dumps({"code": code, "peak_rss_kb": int(status["VmHWM"].split()[0]),
                  "heavy_modules": heavy, "pixel_limit": Image.MAX_IMAGE_PIXELS}))
"""


def _cli_build(root: Path, out: Path) -> tuple[dict, str]:
    """The CLI build in its own process (one worker, so its peak RSS is the build's)."""
    args = ["build", str(root), "--out", str(out), "--no-progress", "--configs", ",".join(CONFIGS),
            "--sources-per-shard", "5"]
    proc = subprocess.run([sys.executable, "-c", BUILD, *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stdout


@pytest.fixture(scope="module")
def hostile_build(hostile, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, str]:
    root, _, _ = hostile
    out = tmp_path_factory.mktemp("hostile_out") / "out"
    result, stdout = _cli_build(root, out)
    return out, result, stdout


@pytest.fixture(scope="module")
def baseline_build(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The same build of the hostile tree's good sources and photos alone: the memory baseline, measured alike."""
    root = tmp_path_factory.mktemp("baseline") / "sources"
    make_source_tree(root, n_per_class=GOOD_PER_CLASS, wnids=HOSTILE_CLASSES, layout="authors", seed=4)
    photos = root / "backgrounds" / "n02123159"
    photos.mkdir(parents=True)
    for i in range(2):
        (photos / f"tiger_{i}.jpg").write_bytes(jpeg(make_scene(900 + i, 80, 120)[0]))
    return _cli_build(root, tmp_path_factory.mktemp("baseline_out") / "out")[0]


def _rejected(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]


def _rows(out: Path, config: str, columns: list[str] | None = None) -> list[dict]:
    files = sorted((out / "data" / config).glob("*.parquet"))
    return [r for f in files for r in pq.read_table(f, columns=columns).to_pylist()]


@pytest.mark.slow
def test_the_build_goes_on_and_its_memory_stays_bounded(hostile_build, baseline_build) -> None:
    """Hostile inputs add no large allocation: the build's peak RSS stays within 150 MB of the same build
    without them (the 30000² mask alone would add 900 MB, the 20000² RLE 400 MB), measured side by side."""
    _, result, _ = hostile_build
    assert result["code"] == 0
    peak, base = result["peak_rss_kb"] / 1024, baseline_build["peak_rss_kb"] / 1024
    context = f"peak RSS {peak:.0f} MB, baseline {base:.0f} MB, {result}, {baseline_build}"
    assert peak - base < EXTRA_RSS_LIMIT_MB, context
    assert peak < PEAK_RSS_LIMIT_MB, context
    assert result["heavy_modules"] == baseline_build["heavy_modules"], context


@pytest.mark.slow
def test_each_bad_input_is_listed_once_with_its_reason(hostile, hostile_build) -> None:
    _, expected, _ = hostile
    out = hostile_build[0]
    entries = _rejected(out)
    for rel, reason in expected.rejected.items():
        mine = [e for e in entries if e["file"] == rel]
        assert len(mine) == 1, (rel, mine)
        assert reason in mine[0]["reason"], (rel, mine[0]["reason"])
    for entry in entries:
        assert not entry["file"].startswith("/") and str(hostile[0]) not in entry["reason"]
        assert " at 0x" not in entry["reason"] and "\n" not in entry["reason"]


@pytest.mark.slow
def test_an_all_object_source_is_refused_only_where_the_scenario_is_meaningless(hostile, hostile_build) -> None:
    _, expected, _ = hostile
    out = hostile_build[0]
    refused = sorted(e["reason"].split(":")[0] for e in _rejected(out) if Path(e["file"]).stem == expected.all_object)
    assert refused == sorted(set(CONFIGS) - {"original", "blur_obj"})
    for e in _rejected(out):
        if Path(e["file"]).stem == expected.all_object:
            assert "undefined for an all-object mask" in e["reason"]


@pytest.mark.slow
def test_no_good_row_is_lost(hostile, hostile_build) -> None:
    """A bad photo or partner costs only its own rows: every good source has every config."""
    _, expected, _ = hostile
    out = hostile_build[0]
    for config in CONFIGS:
        ids = [r["source_id"] for r in _rows(out, config, ["source_id"])]
        assert len(ids) == len(set(ids)) == expected.rows(config), config
        assert set(expected.good_sources) <= set(ids), config
    for row in _rows(out, "rand_bg", ["background_id", "params"]):
        assert row["background_id"] in ("n02123159/tiger_0", "n02123159/tiger_1")
        assert json.loads(row["params"])["background_wnid"] == "n02123159"


@pytest.mark.slow
def test_no_file_of_the_user_is_touched(hostile, hostile_build) -> None:
    root, _, before = hostile
    assert source_digest(root) == before


@pytest.mark.slow
def test_greyscale_sources_are_counted_and_their_colour_rows_say_so(hostile, hostile_build) -> None:
    _, expected, _ = hostile
    out, _, stdout = hostile_build
    manifest = json.loads((out / "build_manifest.json").read_text())
    assert manifest["sources"]["greyscale_sources"] == len(expected.greyscale_sources) == 1
    assert "greyscale sources: 1" in stdout
    for row in _rows(out, "color_r", ["source_id", "params"]) + _rows(out, "blur_bg", ["source_id", "params"]):
        params = json.loads(row["params"])
        grey = row["source_id"] in expected.greyscale_sources
        assert ("greyscale_source" in params) == (grey and "hue" in params), row


@pytest.mark.slow
def test_an_exif_rotated_source_keeps_its_object_and_loads_with_matching_sizes(
    hostile, hostile_build, tmp_path: Path
) -> None:
    root, expected, _ = hostile
    out = hostile_build[0]
    source_id = expected.orientation_source
    wnid = source_id.rsplit("_", 1)[0]
    mask = mask_from_png(root / "masks" / wnid / f"{source_id}.png")
    assert mask.shape == (64, 112), "the mask is drawn on the photo as displayed (non-square)"
    for config in ("original", "seg_img"):
        ds = datasets.load_dataset(str(out), config, cache_dir=str(tmp_path / "cache"))
        rows = [r for split in ds.values() for r in split if r["source_id"] == source_id]
        assert len(rows) == 1, config
        row = rows[0]
        assert row["image"].size == row["mask"].size == (112, 64), config
        assert json.loads(row["params"])["exif_orientation"] == 6
        pixels = np.asarray(row["image"].convert("RGB"))
        if config == "seg_img":
            inside = pixels[mask > 0].max(axis=1)
            assert (inside > 0).mean() > 0.95, "the object is kept where the mask says"
            outside = pixels[mask == 0].max(axis=1)
            assert (outside < 16).mean() > 0.97, "the background is black (JPEG rings a little at the edge)"
        else:
            displayed = imageio.read_rgb(root / "image" / wnid / f"{source_id}.JPEG").rgb
            np.testing.assert_array_equal(pixels, displayed)  # lossless PNG of the displayed pixels


@pytest.mark.slow
def test_two_builds_agree_on_every_byte_whatever_the_worker_count(hostile, hostile_build, tmp_path: Path) -> None:
    root, _, _ = hostile
    first = hostile_build[0]
    report = run_build(
        BuildOptions(root, tmp_path / "again", configs=CONFIGS, workers=2, sources_per_shard=5, progress=False)
    )
    assert report.complete and len(report.built) > 1
    assert tree_digest(tmp_path / "again") == tree_digest(first)
