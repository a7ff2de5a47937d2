"""`ximagenet12 agreement` end to end on the shipped sample and on tiny sets: every output, every refusal."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
from ximagenet12_builder.cli import main

from ximagenet12.errors import EXIT_FAULTS, EXIT_USAGE
from ximagenet12.sample_data import sample_root

from .formats import outlines, write_set

ROOT = sample_root()
SAMPLE_SETS = [f"labelme={ROOT / 'images'}", f"grabcut={ROOT / 'masks' / 'grabcut'}"]


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("agreement") / "report"
    assert main(["agreement", *SAMPLE_SETS, "--out", str(out), "--bootstrap", "200"]) == 0
    return out


@pytest.mark.slow  # draws the figures of the real sample (matplotlib)
def test_every_output_is_written(sample_report: Path) -> None:
    names = {p.name for p in sample_report.iterdir()}
    assert names == {"agreement.parquet", "agreement.csv", "agreement.md", "agreement.json", "agreement.png",
                     "agreement_gallery.png"}


@pytest.mark.slow  # draws the figures of the real sample (matplotlib)
def test_parquet_has_one_row_per_source_and_pair(sample_report: Path) -> None:
    table = pq.read_table(sample_report / "agreement.parquet")
    assert table.num_rows == 4 and set(table.column("set_a").to_pylist()) == {"labelme"}
    assert table.column("tolerance").to_pylist() == [0.008] * 4
    assert sorted(table.column("tolerance_px").to_pylist()) == [5, 6, 6, 7]  # 0.008 of each photo's diagonal
    settings = json.loads(table.schema.metadata[b"ximagenet12.agreement"])
    assert settings["resamples"] == 200 and [s["name"] for s in settings["sets"]] == ["labelme", "grabcut"]


@pytest.mark.slow  # draws the figures of the real sample (matplotlib)
def test_csv_summaries_per_pair_and_class(sample_report: Path) -> None:
    rows = list(csv.DictReader((sample_report / "agreement.csv").open()))
    iou = {r["wnid"]: r for r in rows if r["metric"] == "iou"}
    assert set(iou) == {"all", "n02123045", "n03773504", "n04485082", "n07920052"}
    assert iou["n04485082"]["class_name"] == "tripod" and iou["n04485082"]["least_agreeing"] == "n04485082_5103"
    assert iou["all"]["least_agreeing"].split()[0] == "n04485082_5103"
    assert float(iou["all"]["mean_low"]) <= float(iou["all"]["mean"]) <= float(iou["all"]["mean_high"])


@pytest.mark.slow  # draws the figures of the real sample (matplotlib)
def test_markdown_report(sample_report: Path, capsys: pytest.CaptureFixture) -> None:
    text = (sample_report / "agreement.md").read_text()
    for part in ("| labelme vs grabcut | 4 |", "## Per class: labelme vs grabcut", "tripod (`n04485082`)",
                 "0.008 of the image diagonal", "Perazzi et al.", "Huttenlocher", "![", "agreement_gallery.png"):
        assert part in text
    assert "nan" not in text.lower()


@pytest.mark.slow  # draws the figures of the real sample (matplotlib)
def test_json_records_settings_and_versions(sample_report: Path) -> None:
    data = json.loads((sample_report / "agreement.json").read_text())
    assert data["tool"] == "ximagenet12 agreement" and data["counts"]["rows"] == 4
    assert "numpy" in data["versions"] and data["settings"]["tolerance"] == 0.008
    assert set(data["outputs"]) == {p.name for p in sample_report.iterdir()}


@pytest.mark.slow  # draws the figures of the real sample (matplotlib)
def test_pictures_are_drawn(sample_report: Path) -> None:
    figure = cv2.imread(str(sample_report / "agreement.png"))
    gallery = cv2.imread(str(sample_report / "agreement_gallery.png"))
    assert figure.shape[0] > 400 and figure.shape[1] > 600
    assert gallery.shape[1] == 4 * 360 and gallery.std() > 20  # four photos with outlines, not a blank card


@pytest.mark.slow  # draws the figures of the real sample (matplotlib)
def test_rerun_into_its_own_folder(sample_report: Path) -> None:
    assert main(["agreement", *SAMPLE_SETS, "--out", str(sample_report), "--bootstrap", "50", "--no-figures"]) == 0


def test_without_figures_no_png(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["agreement", *SAMPLE_SETS, "--out", str(out), "--no-figures", "--bootstrap", "20"]) == 0
    assert not (out / "agreement.png").exists() and (out / "agreement.md").exists()
    assert "agreement.png" not in (out / "agreement.md").read_text()


def test_photos_from_images_folder_and_pixel_tolerance(tmp_path: Path) -> None:
    a = write_set(tmp_path / "a", "standard", outlines())
    b = write_set(tmp_path / "b", "coco_rle", outlines(shift=2))
    photos = tmp_path / "photos"
    for sid in outlines():
        folder = photos / sid.split("_")[0]
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{sid}.JPEG"), np.full((40, 50, 3), (30, 120, 200), np.uint8))
    out = tmp_path / "out"
    assert main(["agreement", str(a), str(b), "--out", str(out), "--images", str(photos), "--tolerance", "2",
                 "--bootstrap", "20", "--gallery", "2"]) == 0
    table = pq.read_table(out / "agreement.parquet")
    assert set(table.column("tolerance_px").to_pylist()) == {2}
    assert set(table.column("set_b").to_pylist()) == {"annotations"}  # a COCO file is named after its stem
    gallery = cv2.imread(str(out / "agreement_gallery.png"))
    assert gallery.shape[1] == 2 * 360


def test_no_source_in_two_sets_is_a_fault(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    polygons = outlines()
    first = dict(list(polygons.items())[:1])
    rest = dict(list(polygons.items())[1:])
    a, b = write_set(tmp_path / "a", "standard", first), write_set(tmp_path / "b", "standard", rest)
    out = tmp_path / "out"
    assert main(["agreement", f"a={a}", f"b={b}", "--out", str(out), "--no-figures"]) == EXIT_FAULTS
    assert "no source is in two of the sets" in capsys.readouterr().err
    assert "## Unmatched sources" in (out / "agreement.md").read_text()


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["x=/does/not/exist", str(ROOT / "images")], "/does/not/exist: mask set not found"),
        ([str(ROOT / "SOURCES.md"), str(ROOT / "images")], "not a mask set"),
        ([str(ROOT / "images")], "at least two mask sets"),
        ([str(ROOT / "images"), str(ROOT / "images")], "two mask sets are named 'images'"),
        (["bad name=x", str(ROOT / "images")], "mask set name 'bad name'"),
        ([*SAMPLE_SETS, "--tolerance", "0"], "positive"),
        ([*SAMPLE_SETS, "--bootstrap", "0"], "--bootstrap 0"),
        ([*SAMPLE_SETS, "--classes", str(ROOT / "SOURCES.md")], "not a class table"),
    ],
)
def test_bad_arguments_get_one_line(tmp_path: Path, capsys: pytest.CaptureFixture, argv, says) -> None:
    assert main(["agreement", *argv, "--out", str(tmp_path / "out"), "--no-figures"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("ximagenet12 agreement: error: ") and says in err and err.count("\n") == 1


def test_a_folder_with_someone_elses_report_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "agreement.md").write_text("my notes")
    assert main(["agreement", *SAMPLE_SETS, "--out", str(out), "--no-figures"]) == EXIT_USAGE
    assert "was not written by" in capsys.readouterr().err
    assert (out / "agreement.md").read_text() == "my notes"
