"""`generation.jsonl`: the reader the build calls, and the generator's own tolerant reading of it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ximagenet12_builder.generation import RECORDS_NAME, read_generation_records
from ximagenet12_builder.generation.records import FIELDS, append_record, load_own_records, record_problem

from ximagenet12.errors import DataError

IMAGE = b"\x89PNG not really, but bytes with a sha256"
SHA = hashlib.sha256(IMAGE).hexdigest()


def record(**changes) -> dict:
    """A complete record of image 1 of n02119022_7, written out by hand."""
    base = {
        "file": "n02119022_7_1.png", "sha256": SHA, "source_id": "n02119022_7", "wnid": "n02119022",
        "class_name": "red fox", "k": 1, "seed": 12345, "run_seed": 7, "prompt_template": "a {name}",
        "prompt": "a red fox", "negative_prompt": "", "steps": 2, "guidance": 7.5, "strength": 0.9999,
        "model": {"id": "ns/tiny", "revision": "a" * 40, "pipeline": "StableDiffusionXLInpaintPipeline",
                  "origin": "hub"},
        "scheduler": {"class": "EulerDiscreteScheduler", "config": {}}, "precision": "fp32", "device": "cpu",
        "batch_size": 1, "mask_dilation_px": 8,
        "sizes": {"source": [375, 500], "generated": [896, 1184], "output": [375, 500]},
        "source_sha256": "b" * 64, "mask_sha256": "c" * 64, "settings_fingerprint": "d" * 64,
        "versions": {"diffusers": "0.42.1"}, "hardware": "cpu", "seconds": 1.5,
    }
    base.update(changes)
    return base


def write(folder: Path, *records: dict, text: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / RECORDS_NAME
    path.write_text(text if text is not None else "".join(json.dumps(r) + "\n" for r in records))
    return path


def test_no_records_file_means_images_made_elsewhere(tmp_path: Path) -> None:
    assert read_generation_records(tmp_path) == {}


def test_valid_records_keyed_by_file_the_last_one_wins(tmp_path: Path) -> None:
    (tmp_path / "n02119022_7_1.png").write_bytes(IMAGE)
    (tmp_path / "n02119022_7.png").write_bytes(IMAGE)
    first = record(prompt="an older prompt")
    other = record(file="n02119022_7.png", k=0)
    write(tmp_path, first, other, record())
    assert read_generation_records(tmp_path) == {"n02119022_7_1.png": record(), "n02119022_7.png": other}


def test_a_record_whose_image_is_gone_is_left_out_and_unchecked_reading_keeps_it(tmp_path: Path) -> None:
    write(tmp_path, record())
    assert read_generation_records(tmp_path) == {}
    assert read_generation_records(tmp_path, check_files=False) == {"n02119022_7_1.png": record()}


def test_an_image_changed_after_generation_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "n02119022_7_1.png").write_bytes(IMAGE + b"edited")
    write(tmp_path, record())
    with pytest.raises(DataError, match=r"n02119022_7_1\.png: sha256 differs from its record \(generation\.jsonl "
                                        r"line 1\)"):
        read_generation_records(tmp_path)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (record(k="1"), "k must be int, got str"),
        (record(k=True), "k must be int, got bool"),
        (record(guidance=None), "guidance must be a number, got NoneType"),
        (record(file="n02119022_7_2.png"), "is not the name of image 1 of n02119022_7"),
        (record(source_id="n02119022_x", file="n02119022_x_1.png"), "is not <wnid>_<number>"),
        (record(sha256="XYZ"), "sha256 is not a sha256 hex digest"),
        (record(sizes={"source": [375, 500], "generated": [896, 1184], "output": [500, 375]}),
         "sizes.output differs from sizes.source"),
        (record(sizes={"source": [375, 500], "output": [375, 500]}), r"sizes.generated must be \[height, width\]"),
        (record(model={"id": "ns/tiny", "pipeline": "X", "origin": "hub"}), "model.revision must be str"),
        ([1, 2], "a record must be a JSON object, got list"),
    ],
)
def test_each_fault_is_one_line_naming_file_and_line(tmp_path: Path, bad: object, message: str) -> None:
    path = write(tmp_path, record(file="n02119022_7.png", k=0), bad)
    with pytest.raises(DataError, match=f"^{path}:2: .*{message}") as info:
        read_generation_records(tmp_path, check_files=False)
    assert "\n" not in str(info.value)


def test_not_json_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, text=json.dumps(record()) + "\n{oops\n")
    with pytest.raises(DataError, match=f"^{path}:2: not a JSON record"):
        read_generation_records(tmp_path, check_files=False)


def test_with_an_errors_list_bad_lines_are_reported_and_the_rest_goes_on(tmp_path: Path) -> None:
    (tmp_path / "n02119022_7_1.png").write_bytes(IMAGE)
    write(tmp_path, record(k="x"), record(), text=None)
    with open(tmp_path / RECORDS_NAME, "a") as f:
        f.write("{oops\n")
    errors: list[str] = []
    assert read_generation_records(tmp_path, errors=errors) == {"n02119022_7_1.png": record()}
    assert [e.split(": ", 1)[0] for e in errors] == [f"{tmp_path / RECORDS_NAME}:1", f"{tmp_path / RECORDS_NAME}:3"]


@given(st.sampled_from(sorted(FIELDS)))
def test_a_record_missing_any_field_is_refused_naming_it(key: str) -> None:
    incomplete = record()
    del incomplete[key]
    assert record_problem(incomplete) == f"missing {key}"


def test_a_complete_record_has_no_problem() -> None:
    assert record_problem(record()) is None


def test_the_generator_drops_a_cut_off_last_line_with_a_note(tmp_path: Path) -> None:
    path = write(tmp_path, text=json.dumps(record()) + "\n" + json.dumps(record(k=0))[:50])
    records, notes = load_own_records(path)
    assert records == [record()]
    assert notes == [f"{path}:2: dropped a record cut off by an interrupted run"]


def test_the_generator_refuses_a_records_file_it_did_not_write(tmp_path: Path) -> None:
    path = write(tmp_path, text="garbage\n" + json.dumps(record()) + "\n")
    with pytest.raises(DataError, match=f"^{path}:1: not a JSON record; not a file generate-backgrounds wrote"):
        load_own_records(path)
    write(tmp_path, record(steps="two"))
    with pytest.raises(DataError, match="steps must be int"):
        load_own_records(path)


def test_appended_records_read_back_in_order(tmp_path: Path) -> None:
    path = tmp_path / RECORDS_NAME
    for k in (1, 2):
        append_record(path, record(k=k, file=f"n02119022_7_{k}.png"))
    lines = path.read_text().splitlines()
    assert [json.loads(line)["k"] for line in lines] == [1, 2]
    expected = [record(k=k, file=f"n02119022_7_{k}.png") for k in (1, 2)]
    assert load_own_records(path) == (expected, [])
