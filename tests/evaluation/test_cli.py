"""`ximagenet12 evaluate`, `score` and `leaderboard` through the real entry point: outputs and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ximagenet12_builder.cli import main

from ximagenet12 import manifest as mf
from ximagenet12.errors import EXIT_DATA, EXIT_USAGE
from ximagenet12.verify import CACHE_ENV

from .tiny_build import make_synthetic_build
from .toy_models import onnx_colour_model


def test_evaluate_then_score(tiny_build: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model = onnx_colour_model(tmp_path / "colour.onnx", size=200)
    out = tmp_path / "results"
    argv = ["evaluate", "--model", f"onnx:{model}", "--data", str(tiny_build), "--out", str(out),
            "--configs", "paper", "--batch-size", "4", "--resize", "240", "--crop", "200",
            "--interpolation", "bicubic", "--alpha-background", "none", "--bootstrap", "100", "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| `original` | 6 | 100.0% † |" in printed and "Robustness score (table3)" in printed
    assert "fewer than 30 images: not meaningful" in printed
    summary = json.loads((out / "summary.json").read_text())
    pre = summary["preprocessing"]
    assert (pre["resize"], pre["crop"], pre["interpolation"], pre["alpha_background"]) == (240, 200, "bicubic", None)
    assert pre["mean"] == [0.0, 0.0, 0.0]  # the graph's own metadata, not overridden
    assert summary["runtime"]["batch_size"] == 4 and len(summary["dataset"]["configs"]) == 9

    predictions = out / "predictions.parquet"
    assert main(["score", str(predictions), "--method", "text", "--internal", str(predictions),
                 "--bootstrap", "50"]) == 0
    printed = capsys.readouterr().out
    assert "Robustness score (text)" in printed and "internal standard deviation" in printed
    assert main(["score", str(predictions), "--json", "--configs", "original,seg_img,blur_bg",
                 "--out", str(tmp_path / "rescored"), "--data", str(tiny_build)]) == 0
    results = json.loads(capsys.readouterr().out)
    assert set(results["accuracy"]) == {"original", "seg_img", "blur_bg"}
    assert results["accuracy"]["original"]["n"] == 6 and results["accuracy"]["original"]["meaningful"] is False
    assert (tmp_path / "rescored" / "heatmap.png").is_file()


def test_flags_reach_the_run(tiny_build: Path, tmp_path: Path) -> None:
    argv = ["evaluate", "--model", "python:tests.evaluation.toy_models:imagenet_colour_logits",
            "--data", str(tiny_build), "--configs", "original", "--mapping", "argmax", "--mean", "0.5",
            "--std", "0.2,0.3,0.4", "--out", str(tmp_path), "--no-progress", "--bootstrap", "10"]
    assert main(argv) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["preprocessing"]["mean"] == [0.5] * 3 and summary["preprocessing"]["std"] == [0.2, 0.3, 0.4]
    assert summary["mapping"]["mode"] == "argmax"
    assert summary["runtime"]["requested_batch_size"] == "auto" and summary["runtime"]["batch_size"] == 32


def one_line_error(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    """Exit code and stderr of a failing command; stderr must be exactly one line."""
    code = main(argv)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"ximagenet12 {argv[0]}: error: "), err
    return code, err


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("onnx:{tmp}/missing.onnx", "missing.onnx does not exist"),
        ("torch:missing.mod:factory", "no module named 'missing'"),
        ("torch:ximagenet12.evaluation.models:nope", "ximagenet12.evaluation.models has no attribute 'nope'"),
        ("python:x:y", "no module named 'x'"),
        ("keras:model.h5", "model spec must be one of"),
    ],
)
def test_model_errors_are_one_line(spec: str, message: str, tiny_build: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture) -> None:
    code, err = one_line_error(["evaluate", "--model", spec.format(tmp=tmp_path), "--data", str(tiny_build),
                                "--configs", "original", "--out", str(tmp_path / "o")], capsys)
    assert code == EXIT_USAGE and message in err


def test_option_errors_are_one_line(tiny_build: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    spec = "python:tests.evaluation.toy_models:colour_logits"
    code, err = one_line_error(["evaluate", "--model", spec, "--data", str(tiny_build), "--configs", "ai_bg",
                                "--out", str(tmp_path)], capsys)
    assert code == EXIT_USAGE and "has no config ['ai_bg']" in err
    model = onnx_colour_model(tmp_path / "colour.onnx", size=200)
    code, err = one_line_error(["evaluate", "--model", f"onnx:{model}", "--data", str(tiny_build), "--crop", "150",
                                "--out", str(tmp_path / "o"), "--configs", "original", "--no-progress"], capsys)
    assert code == EXIT_USAGE and "takes (200, 200) images" in err
    code, err = one_line_error(["evaluate", "--model", "torch:tests.evaluation.toy_models:colour_net",
                                "--device", "cuda", "--data", str(tiny_build), "--out", str(tmp_path / "o")], capsys)
    assert code == EXIT_USAGE and "no CUDA device" in err
    for bad in (["--mapping", "top5"], ["--batch-size", "0"], ["--precision", "int8"], ["--device", "tpu"]):
        with pytest.raises(SystemExit):
            main(["evaluate", "--model", "onnx:m.onnx", *bad])


def test_score_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, err = one_line_error(["score", str(tmp_path / "missing.parquet")], capsys)
    assert code == EXIT_USAGE and "missing.parquet does not exist" in err
    (tmp_path / "empty.parquet").write_bytes(b"")
    code, err = one_line_error(["score", str(tmp_path / "empty.parquet")], capsys)
    assert code == EXIT_DATA and "empty (0 bytes)" in err
    schema = pa.schema([("source_id", pa.string()), ("config", pa.string()), ("label", pa.int64()),
                        ("prediction", pa.int64())])
    pq.write_table(schema.empty_table(), tmp_path / "no_rows.parquet")
    code, err = one_line_error(["score", str(tmp_path / "no_rows.parquet")], capsys)
    assert code == EXIT_DATA and "has no rows" in err
    nan = pa.table({"source_id": ["a", "b"], "config": ["original"] * 2, "label": [0, 1],
                    "prediction": pa.array([float("nan")] * 2)})
    pq.write_table(nan, tmp_path / "nan.parquet")
    code, err = one_line_error(["score", str(tmp_path / "nan.parquet")], capsys)
    assert code == EXIT_DATA and "2 NaN values" in err


def test_a_damaged_shard_stops_evaluate_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    build = make_synthetic_build(tmp_path / "b", ("original", "seg_img"))
    entry = mf.read_manifest(build).files_of("seg_img", "test")[0]
    data = bytearray((build / entry.path).read_bytes())
    data[300] ^= 0xFF
    (build / entry.path).write_bytes(bytes(data))
    argv = ["evaluate", "--model", "python:tests.evaluation.toy_models:colour_logits", "--data", str(build),
            "--out", str(tmp_path / "o"), "--no-progress", "--bootstrap", "10"]
    code, err = one_line_error(argv, capsys)
    assert code == EXIT_DATA and f"{entry.path}: sha256" in err and "--no-verify" in err
    assert not (tmp_path / "o" / "summary.json").exists()
    assert main([*argv, "--configs", "original"]) == 0
