"""`ximagenet12 leaderboard`: runs of one build compared, sorted by score; mixed builds and splits refused."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from ximagenet12_builder.cli import main

from ximagenet12.errors import EXIT_DATA, DataError, XImageNet12Error
from ximagenet12.evaluation import evaluate
from ximagenet12.evaluation.leaderboard import collect, to_markdown

from .tiny_build import make_synthetic_build

MODELS = {
    "colour": "python:tests.evaluation.toy_models:colour_logits",
    "imagenet": "python:tests.evaluation.toy_models:imagenet_colour_logits",
    "background": "python:tests.evaluation.toy_models:background_colour_logits",
}


@pytest.fixture(scope="module")
def runs(tiny_build: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for name, spec in MODELS.items():
        evaluate(spec, tiny_build, out=root / name, progress=False, resamples=50,
                 challenge=name == "colour", mapping="argmax" if name == "imagenet" else "restrict")
        out[name] = root / name
    return out


def test_sorted_by_score_with_every_column(runs: dict[str, Path], tmp_path: Path, capsys) -> None:
    assert main(["leaderboard", *map(str, runs.values()), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "| rank | model | robustness score |" in printed
    scores = {n: json.loads((p / "summary.json").read_text())["results"]["robustness"]["score"]
              for n, p in runs.items()}
    expected = sorted(scores, key=lambda n: -scores[n])
    records = json.loads((tmp_path / "leaderboard.json").read_text())
    assert [r["model"] for r in records] == [MODELS[n].rpartition(":")[2] for n in expected]
    assert [r["rank"] for r in records] == [1, 2, 3]
    with open(tmp_path / "leaderboard.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [float(r["robustness_score"]) for r in rows] == pytest.approx(sorted(scores.values(), reverse=True))
    colour = next(r for r in rows if r["model"] == "colour_logits")
    summary = json.loads((runs["colour"] / "summary.json").read_text())["results"]
    assert float(colour["blur_obj_top1"]) == pytest.approx(summary["accuracy"]["blur_obj"]["top1"])
    assert int(colour["original_n"]) == 6 and float(colour["challenge_accuracy"]) == summary["challenge"]["accuracy"]
    assert colour["bg_gap"] != "" and next(r for r in rows if r["model"] != "colour_logits")["challenge_accuracy"] == ""
    text = (tmp_path / "leaderboard.md").read_text()
    for part in ("## Top-1 per scenario", "## Drop from original", "![robustness score", "†",
                 "fewer than 30 images: not meaningful", "`blur_obj`"):
        assert part in text
    assert (tmp_path / "leaderboard.png").read_bytes()[:4] == b"\x89PNG"


def test_names_and_duplicates(runs: dict[str, Path]) -> None:
    entries = collect([runs["colour"], runs["colour"]])
    assert [e.name for e in entries] == ["colour_logits (colour)"] * 2
    named = collect([runs["colour"], runs["background"]], names=["A", "B"])
    assert {e.name for e in named} == {"A", "B"}
    with pytest.raises(XImageNet12Error, match="2 names for 1 folders"):
        collect([runs["colour"]], names=["A", "B"])
    assert "| 1 | A |" in to_markdown(named) or "| 1 | B |" in to_markdown(named)


def test_mixed_builds_and_splits_are_refused(runs: dict[str, Path], tmp_path: Path, capsys) -> None:
    other = make_synthetic_build(tmp_path / "other", ("original", "seg_img"), per_class=2)
    evaluate(MODELS["colour"], other, out=tmp_path / "other_run", progress=False, resamples=10)
    with pytest.raises(DataError, match="different builds"):
        collect([runs["colour"], tmp_path / "other_run"])
    assert main(["leaderboard", str(runs["colour"]), str(tmp_path / "other_run"), "--out", str(tmp_path / "lb")]) \
        == EXIT_DATA
    assert capsys.readouterr().err.startswith("ximagenet12 leaderboard: error: the runs score different builds")
    train = tmp_path / "train_run"
    evaluate(MODELS["colour"], runs_build(runs), split="train", out=train, progress=False, resamples=10)
    with pytest.raises(DataError, match="different splits"):
        collect([runs["colour"], train])
    with pytest.raises(XImageNet12Error, match=r"has no summary\.json"):
        collect([tmp_path])
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "summary.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="not an evaluation summary"):
        collect([tmp_path / "bad"])


def runs_build(runs: dict[str, Path]) -> str:
    return json.loads((runs["colour"] / "summary.json").read_text())["dataset"]["location"]
