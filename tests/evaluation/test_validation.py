"""Never a silently wrong score: predictions files that are not what they claim are refused with one line."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ximagenet12.errors import DataError, XImageNet12Error
from ximagenet12.evaluation import evaluate, score_predictions
from ximagenet12.evaluation.validation import check_predictions, read_predictions

from .tiny_build import make_synthetic_build

FAST = {"resamples": 20}


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three classes, 20 test images a config: original and seg_img."""
    return make_synthetic_build(tmp_path_factory.mktemp("v") / "b", ("original", "seg_img"), per_class=14)


@pytest.fixture(scope="module")
def truth(build: Path) -> pa.Table:
    """source_id, config, label of every test row of the build, with a correct prediction."""
    parts = []
    for config in ("original", "seg_img"):
        table = pq.read_table(build / "data" / config / "test-00000-of-00001.parquet", columns=["source_id", "label"])
        parts.append(pa.table({"source_id": table.column("source_id"),
                               "config": pa.array([config] * table.num_rows),
                               "label": table.column("label").cast(pa.int64()),
                               "prediction": table.column("label").cast(pa.int64())}))
    return pa.concat_tables(parts)


def write(table: pa.Table, path: Path) -> Path:
    pq.write_table(table, path)
    return path


def test_a_faithful_file_scores_with_n_and_full_coverage(build: Path, truth: pa.Table, tmp_path: Path) -> None:
    result = score_predictions(write(truth, tmp_path / "p.parquet"), build, out=tmp_path / "o", **FAST)
    assert result.accuracy == {"original": 1.0, "seg_img": 1.0}
    assert result.summary["coverage"]["complete"] is True
    assert result.summary["coverage"]["expected"] == {"original": 21, "seg_img": 21}
    assert result.summary["results"]["accuracy"]["original"]["n"] == 21
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["coverage"]["missing"] == {}


def test_one_original_row_of_many_is_refused_unless_partial_is_allowed(build: Path, truth: pa.Table,
                                                                       tmp_path: Path) -> None:
    keep = [c != "original" or i == 0 for i, c in enumerate(truth.column("config").to_pylist())]
    path = write(truth.filter(pa.array(keep)), tmp_path / "p.parquet")
    with pytest.raises(DataError, match=r"'original' lacks 20 of the build's 21 images.*--allow-partial"):
        score_predictions(path, build, **FAST)
    result = score_predictions(path, build, allow_partial=True, **FAST)
    assert result.summary["coverage"]["missing"] == {"original": 20}
    assert result.summary["coverage"]["present"] == {"original": 1, "seg_img": 21}
    assert result.summary["results"]["accuracy"]["original"]["n"] == 1
    with pytest.raises(DataError, match="lacks 20"):
        evaluate(f"predictions:{path}", build, **FAST)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.set_column(3, "prediction", pa.array([float("nan")] * t.num_rows)), "42 NaN values of 42"),
        (lambda t: t.set_column(3, "prediction", pa.array(["tabby cat"] * t.num_rows)),
         "must hold integer class indices, found string"),
        (lambda t: t.set_column(3, "prediction", pa.array([0.5] * t.num_rows)), "fractional"),
        (lambda t: t.set_column(3, "prediction", pa.array([None] * t.num_rows, pa.int64())), "42 empty values"),
        (lambda t: pa.concat_tables([t, t.slice(0, 3)]), r"3 \(source_id, config\) pairs appear more than once"),
        (lambda t: t.slice(0, 0), "has no rows"),
        (lambda t: t.drop_columns(["label"]), "lacks columns \\['label'\\]"),
        (lambda t: t.set_column(0, "source_id", pa.array(range(t.num_rows))), "'source_id' must hold strings"),
        (lambda t: t.append_column("correct", pa.array([True] * (t.num_rows - 1) + [False])),
         "'correct' disagrees with prediction == label in 1 rows"),
        (lambda t: t.set_column(2, "label", pa.array([-1] * t.num_rows)), "labels run -1..-1"),
    ],
)
def test_files_that_are_not_what_they_claim(truth: pa.Table, tmp_path: Path, change, message: str) -> None:
    path = write(change(truth), tmp_path / "bad.parquet")
    with pytest.raises(DataError, match=message) as caught:
        score_predictions(path, **FAST)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_nan_file_never_scores(truth: pa.Table, tmp_path: Path) -> None:
    nan = truth.set_column(3, "prediction", pa.array([float("nan")] * truth.num_rows))
    nan = nan.append_column("correct", pa.array([True] * truth.num_rows))
    with pytest.raises(DataError, match="NaN"):
        score_predictions(write(nan, tmp_path / "nan.parquet"), **FAST)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.set_column(2, "label", pa.array([(v + 1) % 3 for v in t.column("label").to_pylist()])),
         "21 rows of 'original' disagree with the build's labels, e.g. 'n02123045_0' has label 1, the build says 0"),
        (lambda t: t.set_column(0, "source_id", pa.array([f"x{v}" for v in range(t.num_rows)])),
         "21 rows of 'original' name images that are not in the build's 'test' split"),
        (lambda t: t.set_column(1, "config", pa.array([c.replace("seg_img", "ai_bg") for c in
                                                       t.column("config").to_pylist()])),
         "config 'ai_bg' has no 'test' split"),
        (lambda t: t.set_column(3, "prediction", pa.array([7] * t.num_rows)), "predictions reach 7; this build has 3"),
    ],
)
def test_files_that_disagree_with_the_build(build: Path, truth: pa.Table, tmp_path: Path, change, message) -> None:
    with pytest.raises(DataError, match=message):
        score_predictions(write(change(truth), tmp_path / "p.parquet"), build, **FAST)


def test_files_that_are_not_parquet(tmp_path: Path) -> None:
    with pytest.raises(XImageNet12Error, match="does not exist"):
        read_predictions(tmp_path / "missing.parquet")
    (tmp_path / "empty.parquet").write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        read_predictions(tmp_path / "empty.parquet")
    (tmp_path / "text.parquet").write_text("source_id,config\n")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        read_predictions(tmp_path / "text.parquet")
    with pytest.raises(XImageNet12Error, match="is a folder"):
        read_predictions(tmp_path)


def test_integral_floats_and_dictionary_strings_are_accepted_as_what_they_are() -> None:
    table = pa.table({
        "source_id": pa.array(["a", "b"]).dictionary_encode(),
        "config": pa.array(["original", "original"]),
        "label": pa.array([0.0, 2.0]),
        "prediction": pa.array([0, -1], pa.int32()),
    })
    checked = check_predictions(table, "t")
    assert checked.column("label").type == pa.int16() and checked.column("source_id").type == pa.string()
    assert checked.column("correct").to_pylist() == [True, False]
