"""evaluate(): outputs people read and machines reuse, resumption, mappings, scoring runs made elsewhere."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from ximagenet12.evaluation import Preprocessing, evaluate
from ximagenet12.evaluation.predictions import SCHEMA

from . import toy_models
from .tiny_build import make_synthetic_build
from .toy_models import colour_logits, imagenet_colour_logits

FAST = {"progress": False, "resamples": 200}
SPEC = "python:tests.evaluation.toy_models:colour_logits"


@pytest.fixture(scope="module")
def full_run(tiny_build: Path, tmp_path_factory: pytest.TempPathFactory):
    """One complete run over every config of the tiny build, written to a folder."""
    return evaluate(SPEC, tiny_build, out=tmp_path_factory.mktemp("run"), **FAST)


def by_hand(path: Path) -> dict[str, tuple[int, int]]:
    """config -> (correct, n), counted in plain Python from a predictions file."""
    counts: dict[str, list[int]] = {}
    for row in pq.read_table(path, columns=["config", "label", "prediction"]).to_pylist():
        tally = counts.setdefault(row["config"], [0, 0])
        tally[0] += row["prediction"] == row["label"]
        tally[1] += 1
    return {config: (c, n) for config, (c, n) in counts.items()}


def test_outputs_are_complete_and_consistent(full_run, tiny_build: Path) -> None:
    out = full_run.out
    names = {p.name for p in out.iterdir()}
    assert {"predictions.parquet", "summary.json", "report.md", "accuracy.csv", "class_by_scenario.csv",
            "robustness.csv", "heatmap.png", "by_config"} <= names
    assert not list(out.rglob("*.tmp"))
    table = pq.read_table(out / "predictions.parquet")
    assert table.schema.remove_metadata() == SCHEMA
    assert table.num_rows == 12 * 6
    assert set(table.column("config").to_pylist()) == set(full_run.accuracy)
    assert (out / "heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    counted = by_hand(out / "predictions.parquet")
    accuracy = {config: c / n for config, (c, n) in counted.items()}
    # By construction of the scenes and the nearest-colour rule: the object's colour wins on the original,
    # and the grey disc of this build's blur_obj is nearest the missile's green for all 6 test images.
    assert counted["original"] == (6, 6)
    assert counted["blur_obj"] == (2, 6)
    summary = json.loads((out / "summary.json").read_text())
    results = summary["results"]
    for config, (correct, n) in counted.items():
        assert (results["accuracy"][config]["correct"], results["accuracy"][config]["n"]) == (correct, n)
        assert results["accuracy"][config]["meaningful"] is False
    mu = accuracy["original"]
    paper = ("blur_bg", "blur_obj", "color_g", "color_b", "color_grey", "color_r", "rand_bg", "seg_img")
    variance = sum((accuracy[s] - mu) ** 2 for s in paper) / (len(paper) - 1)
    assert results["robustness"]["score"] == pytest.approx(1 - variance, abs=1e-12)
    assert results["robustness"]["complete"] is True
    assert results["bg_gap"]["value"] == pytest.approx(accuracy["mixed_same"] - accuracy["mixed_rand"], abs=1e-12)
    assert results["bg_gap"]["n"] == {"mixed_same": 6, "mixed_rand": 6}

    assert summary["model"]["spec"] == SPEC and len(summary["model"]["source_sha256"]) == 64
    assert summary["dataset"]["manifest_sha256"] and summary["dataset"]["split"] == "test"
    assert summary["preprocessing"]["resize"] == 256 and summary["preprocessing"]["interpolation"] == "bilinear"
    assert summary["preprocessing"]["alpha"] == "composited over RGB [0, 0, 0]"
    assert summary["mapping"]["mode"] == "identity" and summary["seed"] == 0
    assert {"numpy", "pyarrow", "datasets", "python"} <= set(summary["libraries"])
    assert summary["runtime"]["device"] == "the callable's own"

    with open(out / "accuracy.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["config"] for r in rows][:3] == ["original", "blur_bg", "blur_obj"]
    assert float(rows[2]["top1"]) == pytest.approx(1 / 3)
    report = (out / "report.md").read_text()
    for text in ("## Top-1 per scenario", "Robustness score (table3)", "BG-gap", "| espresso |", "heatmap.png",
                 "| `blur_obj` | 6 | 33.3% † |", "fewer than 30 images: not meaningful", "n = 6 and 6"):
        assert text in report
    assert "| espresso | 100% (2) † |" in report  # class x scenario cells carry their n


def brightness_logits(images: np.ndarray) -> np.ndarray:
    """Class 0 logit = mean brightness of the whole image, the others 0: sees the background."""
    mean = images.reshape(len(images), -1).mean(axis=1) / 50.0
    return np.stack([mean, np.zeros_like(mean), np.zeros_like(mean)], axis=1)


def test_transparent_is_composited_on_black_and_recorded(tiny_build: Path) -> None:
    black = evaluate(brightness_logits, tiny_build, configs=["transparent"], **FAST)
    white = evaluate(brightness_logits, tiny_build, configs=["transparent"],
                     preprocessing={"alpha_background": (255, 255, 255)}, **FAST)
    seg = evaluate(brightness_logits, tiny_build, configs=["seg_img"], **FAST)
    assert black.summary["preprocessing"]["alpha_background"] == [0, 0, 0]
    assert white.summary["preprocessing"]["alpha_background"] == [255, 255, 255]
    p_black = np.asarray(black.predictions.column("p_true").to_pylist())
    p_white = np.asarray(white.predictions.column("p_true").to_pylist())
    p_seg = np.asarray(seg.predictions.column("p_true").to_pylist())
    labels = np.asarray(black.predictions.column("label").to_pylist())
    brighter = np.where(labels == 0, p_white > p_black, p_white < p_black)
    assert brighter.all()
    assert np.allclose(p_black, p_seg, atol=0.02)  # on black, transparent looks like seg_img


def test_resume_skips_done_configs_and_recomputes_on_change(tmp_path: Path, tiny_build: Path) -> None:
    configs = ["original", "blur_obj", "seg_img"]
    toy_models.CALLS.update(n=0, fail_after=1)  # the second batch of the run fails
    spec = "python:tests.evaluation.toy_models:flaky_colour_logits"
    with pytest.raises(RuntimeError, match="interrupted"):
        evaluate(spec, tiny_build, configs=configs, out=tmp_path, batch_size=6, **FAST)
    done = sorted(p.name for p in (tmp_path / "by_config" / "test").iterdir())
    assert done == ["original.parquet"] and not list(tmp_path.rglob("*.tmp"))

    toy_models.CALLS.update(n=0, fail_after=None)
    resumed = evaluate(spec, tiny_build, configs=configs, out=tmp_path, batch_size=6, **FAST)
    assert resumed.summary["runtime"]["resumed_configs"] == ["original"]
    assert toy_models.CALLS["n"] == 2
    again = evaluate(spec, tiny_build, configs=configs, out=tmp_path, batch_size=6, **FAST)
    assert again.summary["runtime"]["resumed_configs"] == configs
    assert again.predictions.equals(resumed.predictions)
    changed = evaluate(spec, tiny_build, configs=configs, out=tmp_path, preprocessing={"crop": 192}, **FAST)
    assert changed.summary["runtime"]["resumed_configs"] == []
    forced = evaluate(
        spec, tiny_build, configs=configs, out=tmp_path, preprocessing={"crop": 192}, resume=False, **FAST
    )
    assert forced.summary["runtime"]["resumed_configs"] == []


def test_changed_data_is_recomputed(tmp_path: Path) -> None:
    build = make_synthetic_build(tmp_path / "b", ("original",))
    first = evaluate(SPEC, build, out=tmp_path / "out", **FAST)
    make_synthetic_build(tmp_path / "b", ("original",), per_class=6)
    second = evaluate(SPEC, build, out=tmp_path / "out", **FAST)
    assert second.summary["runtime"]["resumed_configs"] == []
    assert second.predictions.num_rows > first.predictions.num_rows


def test_imagenet_model_mappings(tiny_build: Path) -> None:
    configs = ["original", "blur_obj"]
    restrict = evaluate(imagenet_colour_logits, tiny_build, configs=configs, **FAST)
    argmax = evaluate(imagenet_colour_logits, tiny_build, configs=configs, mapping="argmax", **FAST)
    assert restrict.summary["mapping"]["mode"] == "restrict"
    assert restrict.summary["mapping"]["imagenet_indices"] == [281, 657, 967]
    assert argmax.summary["mapping"]["mode"] == "argmax"
    assert restrict.accuracy["original"] == 1.0
    assert argmax.accuracy["blur_obj"] == 0.0  # the grey disc is nearest the distractor
    assert -1 in argmax.predictions.column("prediction").to_pylist()
    assert all(argmax.accuracy[c] <= restrict.accuracy[c] for c in configs)
    raw = restrict.predictions.column("top5_raw").to_pylist()
    assert all(len(r) == 5 for r in raw)


def test_scoring_a_run_made_elsewhere_with_an_internal_run(full_run, tmp_path: Path) -> None:
    path = full_run.out / "predictions.parquet"
    table = pq.read_table(path).select(["source_id", "config", "label", "prediction"])
    foreign = tmp_path / "elsewhere.parquet"
    pq.write_table(table.replace_schema_metadata(None), foreign)
    scored = evaluate(f"predictions:{foreign}", out=tmp_path / "scored", **FAST)
    assert scored.accuracy == full_run.accuracy
    assert scored.summary["model"]["kind"] == "predictions"
    assert (tmp_path / "scored" / "report.md").is_file()

    ours = evaluate(f"predictions:{path}", internal=foreign, configs="original,seg_img,blur_obj", **FAST)
    assert ours.analysis.class_names == ["tabby cat", "missile", "espresso"]  # from the stored summary
    assert ours.robustness is not None and ours.robustness.internal is not None
    # the internal run is the same file, so both variances are equal: 2 x ((acc - mu)^2 summed) / (n - 1)
    acc = {c: k / n for c, (k, n) in by_hand(path).items()}
    variance = ((acc["seg_img"] - acc["original"]) ** 2 + (acc["blur_obj"] - acc["original"]) ** 2) / 1
    assert ours.robustness.score == pytest.approx(1 - 2 * variance, abs=1e-12)
    assert set(ours.accuracy) == {"original", "seg_img", "blur_obj"}


def test_without_the_paper_configs_there_is_no_score_but_a_reason(tiny_build: Path) -> None:
    result = evaluate(colour_logits, tiny_build, configs=["original", "transparent"], **FAST)
    assert result.robustness is None and result.bg_gap is None
    assert "no robustness score" in result.analysis.robustness_note
    assert result.summary["results"]["robustness"] is None


def test_explicit_preprocessing_object_and_errors(tiny_build: Path) -> None:
    pre = Preprocessing(resize=80, crop=64, interpolation="bicubic")
    result = evaluate(colour_logits, tiny_build, configs=["original"], preprocessing=pre, **FAST)
    assert result.summary["preprocessing"]["origin"] == "explicit"
    assert result.summary["preprocessing"]["crop"] == 64
    with pytest.raises(ValueError, match="needs data"):
        evaluate(colour_logits, None)
    with pytest.raises(ValueError, match="outputs"):
        evaluate(lambda x: x.reshape(len(x), -1)[:, :7], tiny_build, configs=["original"], **FAST)
