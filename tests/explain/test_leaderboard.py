"""The leaderboard's object-focus columns: explanations of the same model, build and split, found or given."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from ximagenet12_builder.cli import main

from ximagenet12.errors import DataError
from ximagenet12.evaluation import evaluate
from ximagenet12.evaluation.explain import explain
from ximagenet12.evaluation.leaderboard import collect, to_markdown

from .toy_models import region_build

REGION = "torch:tests.explain.toy_models:region_net"
IMAGENET = "torch:tests.explain.toy_models:region_net_imagenet"
FAST = {"progress": False, "resamples": 30, "device": "cpu"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("board")
    build = region_build(root / "build")
    folders = {"build": build, "region": root / "region", "imagenet": root / "imagenet", "ig": root / "ig_imagenet",
               "stranger": root / "stranger"}
    evaluate(REGION, build, out=folders["region"], **FAST)
    evaluate(IMAGENET, build, out=folders["imagenet"], **FAST)
    explain(REGION, build, out=folders["region"], gallery=0, **FAST)  # beside its evaluate run
    explain(IMAGENET, build, method="ig", steps=4, out=folders["ig"], gallery=0, **FAST)
    explain(REGION, build, split="test", configs="seg_img", out=folders["stranger"], gallery=0, **FAST)
    return folders


def focus_of(folder: Path) -> dict:
    return json.loads((folder / "explain_summary.json").read_text())["results"]["object_focus"]


def test_object_focus_columns_from_the_run_folder_and_given_folders(runs: dict[str, Path], tmp_path: Path,
                                                                    capsys) -> None:
    assert main(["leaderboard", str(runs["region"]), str(runs["imagenet"]), "--explanations", str(runs["ig"]),
                 "--out", str(tmp_path), "--no-picture"]) == 0
    printed = capsys.readouterr().out
    assert "| object focus (Grad-CAM) | object focus (integrated gradients) |" in printed
    region, ig = focus_of(runs["region"]), focus_of(runs["ig"])
    cell = f"{region['mean']:.2f} [{region['ci_low']:.2f}, {region['ci_high']:.2f}] / {region['chance']:.2f} (6) †"
    assert cell in printed
    with open(tmp_path / "leaderboard.csv") as handle:
        rows = {r["spec"]: r for r in csv.DictReader(handle)}
    assert float(rows[REGION]["object_focus_gradcam_mean"]) == pytest.approx(region["mean"])
    assert rows[REGION]["object_focus_ig_mean"] == ""
    assert float(rows[IMAGENET]["object_focus_ig_mean"]) == pytest.approx(ig["mean"])
    assert float(rows[IMAGENET]["object_focus_ig_chance"]) == pytest.approx(0.25)
    records = {r["spec"]: r for r in json.loads((tmp_path / "leaderboard.json").read_text())}
    assert records[REGION]["object_focus"]["gradcam"]["folder"] == str(runs["region"])
    text = (tmp_path / "leaderboard.md").read_text()
    assert "Object focus: relevance mass on the object in `original`" in text


def test_explanations_of_another_model_or_scope_are_left_out_with_a_note(runs: dict[str, Path]) -> None:
    entries = collect([runs["imagenet"]], explanations=[runs["region"]])  # Grad-CAM of the other model
    assert entries[0].focus == {}
    text = to_markdown(entries)
    assert "object focus (" not in text  # no column
    assert f"explanations in {runs['region']} are of another model, build or split than any run given" in text
    entries = collect([runs["region"]], explanations=[runs["stranger"]])  # same model, but no `original` measured
    assert entries[0].focus["gradcam"]["folder"] == str(runs["region"])  # from its own folder
    assert f"explanations in {runs['stranger']} did not explain `original`" in to_markdown(entries)
    (runs["stranger"] / "explain_summary.json").write_text("[]")
    with pytest.raises(DataError, match="is not an explanation summary"):
        collect([runs["region"]], explanations=[runs["stranger"]])
    without = collect([runs["imagenet"]])
    assert without[0].focus == {} and "object focus (" not in to_markdown(without)
