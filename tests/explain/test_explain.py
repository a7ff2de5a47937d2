"""explain(): outputs people read and machines reuse, resumption, selection, targets, refusals, the CLI."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from ximagenet12_builder.cli import main

import ximagenet12
from ximagenet12.errors import EXIT_MISSING_EXTRA, EXIT_USAGE, XImageNet12Error
from ximagenet12.evaluation.explain import explain
from ximagenet12.evaluation.explain.runner import SCHEMA
from ximagenet12.evaluation.models import ModelError

from ..evaluation.tiny_build import row, write_build
from .toy_models import CLASSES, SIZE, region_build, region_mask, textured

SPEC = "torch:tests.explain.toy_models:region_net"
FAST = {"progress": False, "resamples": 50, "device": "cpu"}


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return region_build(tmp_path_factory.mktemp("region") / "build", per_class=3)


@pytest.fixture(scope="module")
def run(build: Path, tmp_path_factory: pytest.TempPathFactory):
    return explain(SPEC, build, method="gradcam", out=tmp_path_factory.mktemp("run") / "out", **FAST)


def test_outputs_are_complete_and_consistent(run, build: Path) -> None:
    out = run.out
    names = {p.name for p in out.iterdir()}
    assert {"explanations.parquet", "explain_summary.json", "explain_report.md", "explain_scenarios.csv",
            "explain_classes.csv", "explain_gallery.png", "by_config"} <= names
    assert not list(out.rglob("*.tmp"))
    table = pq.read_table(out / "explanations.parquet")
    assert table.schema.remove_metadata() == SCHEMA and table.num_rows == 2 * 9
    rows = table.to_pylist()
    by_config: dict[str, list[float]] = {}
    for r in rows:
        by_config.setdefault(r["config"], []).append(r["relevance_mass"])
    summary = json.loads((out / "explain_summary.json").read_text())
    scenarios = summary["results"]["scenarios"]
    for config, values in by_config.items():
        assert scenarios[config]["relevance_mass"]["n"] == len(values) == 9
        assert scenarios[config]["relevance_mass"]["mean"] == pytest.approx(sum(values) / len(values))
    shift = scenarios["seg_img"]["relevance_mass"]["shift"]
    assert shift == pytest.approx(np.mean(by_config["seg_img"]) - np.mean(by_config["original"]))
    assert summary["results"]["object_focus"]["mean"] == pytest.approx(np.mean(by_config["original"]))
    assert summary["tool"]["command"] == "explain" and summary["model"]["spec"] == SPEC
    attribution = summary["attribution"]
    assert attribution["method"] == "gradcam" and attribution["captum"] == "captum.attr.LayerGradCam"
    assert attribution["layer"]["name"] == "pool" and attribution["layer"]["point"] == "input"
    assert attribution["target"] == "label" and summary["libraries"]["captum"] == attribution["captum_version"]
    assert summary["preprocessing"]["crop"] == SIZE and summary["measures"]["tolerance_px"] == 15.0
    assert summary["selection"]["gallery_sources"] and summary["runtime"]["device"] == "cpu"
    with open(out / "explain_scenarios.csv") as handle:
        records = list(csv.DictReader(handle))
    original = next(r for r in records if r["config"] == "original" and r["measure"] == "relevance_mass")
    assert float(original["mean"]) == pytest.approx(np.mean(by_config["original"]))
    assert float(original["chance"]) == pytest.approx(0.25)
    report = (out / "explain_report.md").read_text()
    for text in ("## Object focus per scenario", "## Shift from `original`", "## Relevance mass per class",
                 "Grad-CAM (`captum.attr.LayerGradCam`", "on the input of `pool`", "/ 0.25 †", "Arras",
                 "Zhang et al.", "Score-CAM", "explain_gallery.png", "fewer than 30 images: not meaningful"):
        assert text in report, text
    assert (out / "explain_gallery.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_reruns_resume_and_a_changed_method_recomputes(run, build: Path) -> None:
    again = explain(SPEC, build, method="gradcam", out=run.out, **FAST)
    assert again.summary["runtime"]["resumed_configs"] == ["original", "seg_img"]
    assert again.table.equals(run.table)
    other = explain(SPEC, build, method="occlusion", window=8, out=run.out, **FAST)
    assert other.summary["runtime"]["resumed_configs"] == []
    assert set(other.table.column("method").to_pylist()) == {"occlusion"}


def test_limit_takes_the_same_sources_in_every_config_classes_in_turn(build: Path) -> None:
    result = explain(SPEC, build, limit=2, gallery=1, **FAST)
    ids = {c: sorted(r["source_id"] for r in result.table.to_pylist() if r["config"] == c)
           for c in ("original", "seg_img")}
    assert ids["original"] == ids["seg_img"] and len(ids["original"]) == 2
    labels = {r["label"] for r in result.table.to_pylist()}
    assert len(labels) == 2
    assert result.summary["selection"]["limit"] == 2 and result.summary["results"]["scenarios"]["original"][
        "relevance_mass"]["n"] == 2


def test_the_target_is_the_label_or_the_prediction(build: Path) -> None:
    by_label = explain(SPEC, build, configs="original", target="label", **FAST).table.to_pylist()
    by_prediction = explain(SPEC, build, configs="original", target="prediction", **FAST).table.to_pylist()
    assert all(r["target"] == r["label"] == r["target_output"] for r in by_label)
    assert all(r["target"] == r["prediction"] == r["target_output"] for r in by_prediction)
    wrong = [i for i, r in enumerate(by_label) if not r["correct"]]
    assert wrong  # the random textures fool the toy model, so the two targets differ somewhere
    assert any(by_label[i]["positive_relevance"] != by_prediction[i]["positive_relevance"] for i in wrong)


def test_a_1000_way_model_explains_restricted_or_raw_predictions(build: Path) -> None:
    spec = "torch:tests.explain.toy_models:region_net_imagenet"
    restricted = explain(spec, build, configs="original", target="prediction", **FAST).table.to_pylist()
    indices = [index for _, index, _ in CLASSES]
    assert all(r["target_output"] == indices[r["prediction"]] for r in restricted)
    raw = explain(spec, build, configs="original", target="prediction", mapping="argmax", **FAST).table.to_pylist()
    # the model's own top-1 is output 0, outside the build's classes; its logit is constant: nothing to attribute
    assert all(r["target_output"] == 0 and r["target"] == -1 and not r["correct"] for r in raw)
    assert all(r["relevance_mass"] is None and r["note"] == "no positive attribution" for r in raw)


def test_models_without_gradients_and_bad_options_are_refused(build: Path, tmp_path: Path, capsys) -> None:
    with pytest.raises(ModelError, match="explain needs a torch-based model"):
        explain("python:tests.evaluation.toy_models:colour_logits", build, **FAST)
    with pytest.raises(ModelError, match="a predictions file has no model"):
        explain("predictions:x.parquet", build, **FAST)
    with pytest.raises(ValueError, match="--layer applies to gradcam"):
        explain(SPEC, build, method="ig", layer="pool", **FAST)
    with pytest.raises(ValueError, match=r"--gallery-configs \['rand_bg'\] are not among the configs explained"):
        explain(SPEC, build, gallery_configs=["original", "rand_bg"], **FAST)
    assert main(["explain", "--model", "python:tests.evaluation.toy_models:colour_logits", "--data", str(build),
                 "--out", str(tmp_path / "x")]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("ximagenet12 explain: error: python:tests.evaluation.toy_models:colour_logits: explain "
                          "needs a torch-based model") and len(err.strip().splitlines()) == 1
    assert main(["explain", "--model", SPEC, "--data", str(build), "--method", "gradcam", "--layer", "nowhere",
                 "--out", str(tmp_path / "y"), "--device", "cpu"]) == EXIT_USAGE
    assert "--layer 'nowhere' is not a module of the model" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_without_captum_one_line_names_the_extra(build: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "captum", None)
    assert main(["explain", "--model", SPEC, "--data", str(build), "--out", str(tmp_path / "z")]) \
        == EXIT_MISSING_EXTRA
    assert capsys.readouterr().err.strip() == ("ximagenet12 explain: error: explain needs the 'explain' extra: "
                                               "pip install 'ximagenet12[explain]'")


def test_a_users_file_in_out_is_never_overwritten(build: Path, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "explain_report.md").write_text("my notes")
    with pytest.raises(XImageNet12Error, match=r"explain_report\.md exists and was not written by"):
        explain(SPEC, build, out=out, **FAST)
    assert (out / "explain_report.md").read_text() == "my notes" and sorted(p.name for p in out.iterdir()) == [
        "explain_report.md"]


def test_an_unreadable_mask_costs_its_row_only(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = []
    for label, (wnid, _, _) in enumerate(CLASSES):
        item = row(textured(rng, SIZE, SIZE), region_mask(), label, wnid, f"{wnid}_0", "original")
        if label == 1:
            item["mask"] = {"bytes": b"not a png", "path": None}
        rows.append(item)
    build = write_build(tmp_path / "build", CLASSES, {"original": {"test": rows}}, card=False)
    result = explain(SPEC, build, **FAST)
    notes = {r["source_id"]: r["note"] for r in result.table.to_pylist()}
    assert notes[f"{CLASSES[1][0]}_0"].startswith("mask not readable") and len(notes) == 3
    assert [n for n in notes.values() if n is None] == [None, None]
    assert result.analysis.cells["original"]["relevance_mass"].n == 2
    assert result.summary["results"]["undefined"]["original"] == {notes[f"{CLASSES[1][0]}_0"]: 1}


def test_the_cli_and_the_package_attribute(build: Path, tmp_path: Path, capsys) -> None:
    assert ximagenet12.explain is explain
    out = tmp_path / "cli"
    assert main(["explain", "--model", SPEC, "--data", str(build), "--method", "occlusion", "--window", "8",
                 "--limit", "3", "--out", str(out), "--no-progress", "--device", "cpu", "--bootstrap", "20"]) == 0
    printed = capsys.readouterr().out
    assert "| `original` | 3 |" in printed and "wrote " in printed
    summary = json.loads((out / "explain_summary.json").read_text())
    assert summary["attribution"]["window"] == 8 and summary["attribution"]["stride"] == 4
    assert summary["attribution"]["baseline"] == "mean" and summary["selection"]["limit"] == 3


def test_a_run_cut_off_while_writing_is_taken_up_again(build: Path, tmp_path: Path, monkeypatch) -> None:
    from ximagenet12.evaluation.explain import gallery

    out = tmp_path / "cut"

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(gallery, "write_gallery", broken)
    with pytest.raises(OSError, match="disk full"):
        explain(SPEC, build, out=out, **FAST)
    assert json.loads((out / "explain_summary.json").read_text())["status"].startswith("writing")
    monkeypatch.undo()
    finished = explain(SPEC, build, out=out, **FAST)
    assert finished.summary["runtime"]["resumed_configs"] == ["original", "seg_img"]
    assert "status" not in json.loads((out / "explain_summary.json").read_text())
    (out / "explain_summary.json").unlink()  # our explanations.parquet still says whose the folder is
    assert explain(SPEC, build, out=out, **FAST).files["gallery"].is_file()
