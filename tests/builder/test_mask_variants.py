"""`build --mask-variant`: every config again from masks a coarser tool would draw, all else the same."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
from datasets import load_dataset
from ximagenet12_builder.check import check_build
from ximagenet12_builder.cli import main
from ximagenet12_builder.pipeline import BuildOptions, run_build

import ximagenet12
from tests.hub_server import HubServer, hub_server_fixture  # noqa: F401
from ximagenet12 import manifest as mf
from ximagenet12.errors import EXIT_USAGE
from ximagenet12.evaluation.robustness import PAPER_SCENARIOS, robustness_score
from ximagenet12.imageio import decode_any
from ximagenet12.scenarios import NO_MASK_VARIANTS, SCENARIOS

VARIANTS = ("dilate:2", "erode:40")


@pytest.fixture(scope="module")
def variant_build(synthetic_sources: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("variants") / "out"
    report = run_build(BuildOptions(sources=synthetic_sources, out=out, mask_variants=VARIANTS, progress=False))
    assert report.complete
    return out


def rows(out: Path, config: str) -> dict[str, dict]:
    """source id -> row (raw image bytes) of every split of a config."""
    found = {}
    for entry in mf.read_manifest(out).files_of(config):
        for row in pq.read_table(out / entry.path).to_pylist():
            found[row["source_id"]] = row
    return found


def pixels(cell: dict) -> np.ndarray:
    return decode_any(cell["bytes"])


def test_every_config_but_original_and_ai_bg_gets_each_variant(variant_build: Path) -> None:
    manifest = mf.read_manifest(variant_build)
    plain = [c for c in manifest.built_configs() if "@" not in c]
    expected = {f"{c}@{suffix}" for c in plain if c not in NO_MASK_VARIANTS for suffix in ("dilate2", "erode40")}
    assert {c for c in manifest.configs if "@" in c} == expected
    entry = manifest.configs["seg_img@dilate2"]
    assert entry.extra["scenario"] == "seg_img" and entry.extra["mask_variant"]["spec"] == "dilate:2"
    assert entry.title == f"{SCENARIOS['seg_img'].title}, masks dilate:2"
    assert check_build(variant_build, stream=False) == []
    card = (variant_build / "README.md").read_text()
    assert "### Masks `dilate:2`: the configs `<scenario>@dilate2`" in card
    assert "### `seg_img@dilate2`" not in card  # one section per variant, not one per config


def test_only_the_masks_differ(variant_build: Path) -> None:
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    for config in ("seg_img", "mixed_rand", "color_r", "blur_obj"):
        plain, dilated = rows(variant_build, config), rows(variant_build, f"{config}@dilate2")
        assert plain.keys() == dilated.keys() and plain
        for source_id, row in plain.items():
            other = dilated[source_id]
            assert other["background_id"] == row["background_id"]
            p, q = json.loads(row["params"]), json.loads(other["params"])
            assert q.pop("mask_variant") == "dilate:2" and p == q  # same seed and draws
            mask, grown = pixels(row["mask"]) > 0, pixels(other["mask"]) > 0
            # Independently: within 2 px (Euclidean) of the object, as a distance transform says.
            near = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE) <= 2
            np.testing.assert_array_equal(grown, near)
            assert (grown & ~cv2.dilate(mask.astype(np.uint8), disk).astype(bool)).sum() == 0
    originals, segmented = rows(variant_build, "original"), rows(variant_build, "seg_img")
    for source_id, row in rows(variant_build, "seg_img@dilate2").items():
        image, grown = pixels(row["image"]).astype(int), pixels(row["mask"]) > 0
        mask = pixels(originals[source_id]["mask"]) > 0
        source = pixels(originals[source_id]["image"]).astype(int)
        ring = grown & ~mask  # object in the variant, background in the plain config
        far = ~cv2.dilate(grown.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        assert ring.sum() > 0 and np.abs(image[far]).mean() < 1  # black background (JPEG ringing aside)
        plain = pixels(segmented[source_id]["image"]).astype(int)
        # The ring holds the source's pixels in the variant (JPEG blurs colour at the edge) and black in the plain.
        assert np.abs(image[ring] - source[ring]).mean() < np.abs(plain[ring] - source[ring]).mean() / 3, source_id


def test_a_variant_that_empties_a_mask_costs_only_its_own_rows(variant_build: Path) -> None:
    rejected = [json.loads(line) for line in (variant_build / mf.REJECTED_NAME).read_text().splitlines()]
    emptied = [r for r in rejected if r["reason"].startswith("seg_img@erode40:")]
    assert emptied and all("empty mask" in r["reason"] for r in emptied)
    assert len(rows(variant_build, "seg_img@erode40")) + len(emptied) == len(rows(variant_build, "seg_img"))


def test_variant_configs_load_through_datasets_and_ours(variant_build: Path, tmp_path: Path) -> None:
    theirs = load_dataset(str(variant_build), "transparent@dilate2", split="train", cache_dir=str(tmp_path / "a"))
    ours = ximagenet12.load("transparent@dilate2", split="train", data_dir=variant_build, cache_dir=str(tmp_path / "b"))
    assert ours.data.table.equals(theirs.data.table) and len(ours) > 0
    streamed = list(ximagenet12.load("seg_img@dilate2", split="test", data_dir=variant_build, streaming=True))
    assert [r["source_id"] for r in streamed] == load_dataset(str(variant_build), "seg_img@dilate2", split="test")[
        "source_id"
    ]


def test_a_bad_variant_is_one_line(synthetic_sources: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for bad in ("grow:3", "erode:1.5", "dilate:0"):
        code = main(["build", str(synthetic_sources), "--out", str(tmp_path / "o"), "--mask-variant", bad])
        err = capsys.readouterr().err
        assert code == EXIT_USAGE and err.count("\n") == 1 and f"--mask-variant {bad!r}" in err
        assert not (tmp_path / "o").exists()


HUB_STREAM = """
from datasets import load_dataset
emit([row["source_id"] for row in load_dataset("ns/variants", "seg_img@dilate2", split="test", streaming=True)
      .select_columns(["source_id"])])
"""


@pytest.mark.slow
def test_variant_configs_stream_from_the_hub(hub_server: HubServer, variant_build: Path) -> None:
    files = {p.relative_to(variant_build).as_posix(): p.read_bytes()
             for p in variant_build.rglob("*") if p.is_file() and mf.STATE_DIR not in p.parts}  # fmt: skip
    hub_server.create_repo("ns/variants")
    hub_server.commit_files("ns/variants", files)
    expected = load_dataset(str(variant_build), "seg_img@dilate2", split="test")["source_id"]
    assert hub_server.run(HUB_STREAM).result == expected


@pytest.mark.slow
def test_evaluate_and_leaderboard_show_the_score_with_each_variant(variant_build: Path, tmp_path: Path) -> None:
    from ximagenet12.evaluation import evaluate
    from ximagenet12.evaluation.leaderboard import collect, to_markdown

    def brightness_model(batch: np.ndarray) -> np.ndarray:
        """Class from the mean brightness: a fixed, deterministic toy classifier over the 12 classes."""
        means = batch.reshape(len(batch), -1).mean(axis=1)
        return -np.abs(means[:, None] - np.linspace(0, 255, 12)[None, :])

    result = evaluate(brightness_model, variant_build, split="train", out=tmp_path / "run", progress=False,
                      resamples=20)
    variants = result.analysis.by_mask_variant
    assert set(variants) == {"dilate2"}  # erode:40 empties every synthetic object: no @erode40 rows to score
    top1 = result.accuracy
    expected = robustness_score({"original": top1["original"],
                                 **{s: top1[f"{s}@dilate2"] for s in PAPER_SCENARIOS if f"{s}@dilate2" in top1}})
    assert variants["dilate2"]["score"] == pytest.approx(expected.score)
    text = to_markdown(collect([tmp_path / "run"]))
    assert "## Robustness score with changed masks" in text and "| `@dilate2` |" in text
