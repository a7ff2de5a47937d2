"""`ximagenet12 evaluate` and `ximagenet12 score` through their argument parsers."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from ximagenet12_builder.cli.evaluate import add_parsers

from .toy_models import onnx_colour_model


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ximagenet12")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_evaluate_then_score(tiny_build: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model = onnx_colour_model(tmp_path / "colour.onnx", size=200)
    out = tmp_path / "results"
    argv = ["evaluate", "--model", f"onnx:{model}", "--data", str(tiny_build), "--out", str(out),
            "--configs", "paper", "--batch-size", "4", "--resize", "240", "--crop", "200",
            "--interpolation", "bicubic", "--alpha-background", "none", "--bootstrap", "100", "--no-progress"]
    assert run(argv) == 0
    printed = capsys.readouterr().out
    assert "| `original` | 6 | 100.0%" in printed and "Robustness score (table3)" in printed
    summary = json.loads((out / "summary.json").read_text())
    pre = summary["preprocessing"]
    assert (pre["resize"], pre["crop"], pre["interpolation"], pre["alpha_background"]) == (240, 200, "bicubic", None)
    assert pre["mean"] == [0.0, 0.0, 0.0]  # the graph's own metadata, not overridden
    assert summary["runtime"]["batch_size"] == 4 and len(summary["dataset"]["configs"]) == 9

    predictions = out / "predictions.parquet"
    assert run(["score", str(predictions), "--method", "text", "--internal", str(predictions),
                "--bootstrap", "50"]) == 0
    printed = capsys.readouterr().out
    assert "Robustness score (text)" in printed and "internal standard deviation" in printed
    assert run(["score", str(predictions), "--json", "--configs", "original,seg_img,blur_bg",
                "--out", str(tmp_path / "rescored"), "--data", str(tiny_build)]) == 0
    results = json.loads(capsys.readouterr().out)
    assert set(results["accuracy"]) == {"original", "seg_img", "blur_bg"}
    assert (tmp_path / "rescored" / "heatmap.png").is_file()


def test_mean_std_flags_and_errors(tiny_build: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["evaluate", "--model", "python:tests.evaluation.toy_models:imagenet_colour_logits",
            "--data", str(tiny_build), "--configs", "original", "--mapping", "argmax", "--mean", "0.5",
            "--std", "0.2,0.3,0.4", "--out", str(tmp_path), "--no-progress", "--bootstrap", "10"]
    assert run(argv) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["preprocessing"]["mean"] == [0.5] * 3 and summary["preprocessing"]["std"] == [0.2, 0.3, 0.4]
    assert summary["mapping"]["mode"] == "argmax"
    capsys.readouterr()
    assert run(["evaluate", "--model", "python:x:y", "--data", str(tiny_build), "--configs", "ai_bg",
                "--out", str(tmp_path)]) == 2
    assert "error" in capsys.readouterr().err
    model = onnx_colour_model(tmp_path / "colour.onnx", size=200)
    assert run(["evaluate", "--model", f"onnx:{model}", "--data", str(tiny_build), "--crop", "150",
                "--out", str(tmp_path / "o"), "--configs", "original", "--no-progress"]) == 2
    assert "takes (200, 200) images" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run(["evaluate", "--model", "onnx:m.onnx", "--mapping", "top5"])
