"""`ximagenet12 check`: a clean build passes; each kind of fault is found and named, one line each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ximagenet12_builder import check
from ximagenet12_builder.check import check_build, check_folder
from ximagenet12_builder.cli import main

from ximagenet12 import manifest as mf
from ximagenet12.provenance import canonical_json, write_atomic

from .hubtools import replace_shard


def shard(out: Path, config: str, split: str = "train") -> str:
    return next(f.path for f in mf.read_manifest(out).files if f.config == config and f.split == split)


@pytest.mark.slow
def test_a_fresh_build_passes_every_check(synthetic_build: Path, capsys: pytest.CaptureFixture) -> None:
    assert check_build(synthetic_build) == []
    assert main(["check", str(synthetic_build)]) == 0
    assert "ready to publish" in capsys.readouterr().out


def test_cli_prints_one_line_per_fault_and_exits_non_zero(build: Path, capsys: pytest.CaptureFixture) -> None:
    (build / "build.py").write_text("print('a loading script')")  # named after the folder
    gone = shard(build, "blur_bg")
    (build / gone).unlink()
    assert main(["check", str(build), "--no-stream"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "config blur_bg split train: pattern data/blur_bg/train-*.parquet matches no file",
        f"{gone}: in the manifest but no config's data files match it",
        f"{gone}: missing",
        "build.py: named after the folder, so `load_dataset` takes it for a loading script and refuses it",
    ]


def test_foreign_files_are_notes_not_faults(build: Path, capsys: pytest.CaptureFixture) -> None:
    (build / "notes.txt").write_text("scratch")
    (build / "data" / "blur_bg" / "user_notes.txt").write_text("mine")
    (build / "data" / "rand_bg" / "loader.py").write_text("")
    (build / "assets" / ".sample_grid.png.123.abcd.tmp").write_bytes(b"half a picture")
    report = check_folder(build, stream=False)
    assert report.faults == []
    assert report.foreign == [
        "assets/.sample_grid.png.123.abcd.tmp",
        "data/blur_bg/user_notes.txt",
        "data/rand_bg/loader.py",
        "notes.txt",
    ]
    assert main(["check", str(build), "--no-stream"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:4] == [f"note: {p}: not part of the release; publish leaves it out" for p in report.foreign]
    assert out[4] == f"{build}: ready to publish (4 files that are not part of it are left out)"
    assert not any("remove" in line or "delete" in line for line in out)


def test_private_build_state_is_ignored(build: Path) -> None:
    (build / ".build" / "scratch.py").write_text("x = 1")
    (build / ".build" / "notes.txt").write_text("private")
    assert check_folder(build, stream=False) == check.CheckReport([], [])


def test_a_changed_byte_breaks_the_sha256(build: Path) -> None:
    path = build / shard(build, "blur_bg")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert check_build(build, stream=False) == [f"{shard(build, 'blur_bg')}: sha256 differs from the manifest's"]


def test_a_missing_shard_is_missing_and_unmatched(build: Path) -> None:
    gone = shard(build, "color_g", "test")
    (build / gone).unlink()
    faults = check_build(build, stream=False)
    assert "config color_g split test: pattern data/color_g/test-*.parquet matches no file" in faults
    assert f"{gone}: in the manifest but no config's data files match it" in faults
    assert f"{gone}: missing" in faults


def test_a_stray_shard_would_be_loaded_so_it_is_a_fault(build: Path) -> None:
    stray = "data/rand_bg/train-00009-of-00010.parquet"
    (build / stray).write_bytes((build / shard(build, "rand_bg")).read_bytes())
    (build / "data" / "rand_bg" / ".train-00000-of-00001.parquet.partial").write_bytes(b"half")
    report = check_folder(build, stream=False)
    assert report.faults == [f"{stray}: matched by config rand_bg split train but not in the manifest"]
    assert report.foreign == ["data/rand_bg/.train-00000-of-00001.parquet.partial"]


def test_yaml_that_does_not_parse(build: Path) -> None:
    readme = build / "README.md"
    readme.write_text(readme.read_text().replace("license: other", "license: [other", 1))
    faults = check_build(build, stream=False)
    assert len(faults) == 1 and faults[0].startswith("README.md: the YAML does not parse")


def test_yaml_counts_that_disagree_with_the_manifest(build: Path) -> None:
    readme = build / "README.md"
    text = readme.read_text()
    readme.write_text(text.replace("num_examples: 10\n", "num_examples: 11\n", 1))
    faults = check_build(build, stream=False)
    assert faults == [f"README.md: YAML dataset_info disagree with build_manifest.json; run `ximagenet12 card {build}`"]


def test_a_card_missing_its_picture(build: Path) -> None:
    (build / "assets" / "sample_grid.png").unlink()
    assert check_build(build, stream=False) == ["README.md: links to assets/sample_grid.png, which is missing"]


def test_manifest_rows_that_disagree_with_the_file(build: Path) -> None:
    manifest = json.loads((build / mf.MANIFEST_NAME).read_text())
    entry = next(f for f in manifest["files"] if f["config"] == "seg_img" and f["split"] == "train")
    entry["num_rows"] += 1
    write_atomic(build / mf.MANIFEST_NAME, canonical_json(manifest))
    faults = check_build(build, stream=False)
    assert f"{entry['path']}: {entry['num_rows'] - 1} rows, the manifest says {entry['num_rows']}" in faults
    assert any(f.startswith("config seg_img split train: files hold rows/bytes/size") for f in faults)


def test_row_groups_over_the_viewer_limit(build: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(check, "VIEWER_MAX_ROW_GROUP_BYTES", 1000)
    faults = check_build(build, stream=False)
    files = mf.read_manifest(build).files
    assert len(faults) == len(files)
    assert all("row group 0 is" in f and "over the viewer's 300 MB" in f for f in faults)


def test_a_shard_without_page_index(build: Path) -> None:
    path = shard(build, "no_fg")
    replace_shard(build, path, pq.read_table(build / path), page_index=False)
    assert check_build(build, stream=False) == [f"{path}: row group 0 has no page index"]


@pytest.mark.slow
def test_rows_that_do_not_decode_fail_streaming(build: Path) -> None:
    path = shard(build, "color_b", "train")
    table = pq.read_table(build / path)
    junk = [{"bytes": b"not an image", "path": None}] * table.num_rows
    broken = pa.array(junk, type=table.schema.field("image").type)
    replace_shard(build, path, table.set_column(table.schema.get_field_index("image"), "image", broken))
    assert check_build(build, stream=False) == []
    faults = check_build(build)
    assert len(faults) == 1
    assert faults[0].startswith("config color_b: streaming the first rows failed:")


def test_columns_that_differ_from_the_features(build: Path) -> None:
    path = shard(build, "blur_obj")
    table = pq.read_table(build / path)
    replace_shard(build, path, table.drop_columns(["fold"]))
    assert check_build(build, stream=False) == [f"{path}: columns differ from the dataset's features"]


def test_not_a_build(tmp_path: Path) -> None:
    faults = check_build(tmp_path)
    assert len(faults) == 1 and "no build manifest" in faults[0]


def _files_without_sha256(manifest: dict) -> dict:
    for f in manifest["files"]:
        del f["sha256"]
    return manifest


def _files_as_strings(manifest: dict) -> dict:
    manifest["files"] = [f["path"] for f in manifest["files"]]
    return manifest


def _rows_not_a_number(manifest: dict) -> dict:
    manifest["files"][0]["num_rows"] = "many"
    return manifest


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (lambda m: {}, "missing seed, classes, configs, files, versions, split_rule"),
        (lambda m: [], "a JSON object), got list"),
        (lambda m: None, "a JSON object), got NoneType"),
        (lambda m: "build", "a JSON object), got str"),
        (_files_without_sha256, "KeyError: 'sha256'"),
        (_files_as_strings, "TypeError"),
        (_rows_not_a_number, "ValueError"),
        (lambda m: {**m, "classes": {"0": "x"}}, "'classes' must be a list"),
        (lambda m: {**m, "configs": []}, "'configs' must be an object"),
    ],
)
def test_a_manifest_that_is_not_one_is_a_fault(
    build: Path, capsys: pytest.CaptureFixture, damage, says: str
) -> None:
    manifest = json.loads((build / mf.MANIFEST_NAME).read_text())
    (build / mf.MANIFEST_NAME).write_text(json.dumps(damage(manifest)))
    faults = check_build(build)
    assert len(faults) == 1
    assert faults[0].startswith(f"{build / mf.MANIFEST_NAME}: not a build manifest") and says in faults[0]
    assert main(["check", str(build)]) == 1
    assert capsys.readouterr().out.splitlines() == faults


def test_a_manifest_that_is_not_json(build: Path) -> None:
    (build / mf.MANIFEST_NAME).write_bytes(b"{\x00not json")
    faults = check_build(build)
    assert len(faults) == 1 and f"{build / mf.MANIFEST_NAME}: not valid JSON" in faults[0]


def test_manifest_entries_must_name_shards_inside_the_folder(build: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.parquet"
    outside.write_bytes(b"not ours")
    manifest = json.loads((build / mf.MANIFEST_NAME).read_text())
    entries = manifest["files"]
    moved = next(f for f in entries if f["config"] == "blur_bg" and f["split"] == "train")
    escaped = next(f for f in entries if f["config"] == "seg_img" and f["split"] == "test")
    moved["config"] = "blur_obj"
    escaped["path"] = "../../" + outside.name
    entries[0]["sha256"] = entries[0]["sha256"].upper()
    write_atomic(build / mf.MANIFEST_NAME, canonical_json(manifest))
    faults = check_build(build, stream=False)
    assert (
        f"{mf.MANIFEST_NAME}: lists {moved['path']} as config blur_obj split train; a shard of theirs is named "
        "data/blur_obj/train-NNNNN-of-NNNNN.parquet"
    ) in faults
    assert (
        f"{mf.MANIFEST_NAME}: lists ../../secret.parquet as config seg_img split test; a shard of theirs is named "
        "data/seg_img/test-NNNNN-of-NNNNN.parquet"
    ) in faults
    assert f"{mf.MANIFEST_NAME}: the sha256 of {entries[0]['path']} is not 64 hexadecimal digits" in faults
    assert not any("secret.parquet: missing" in f or "secret.parquet: sha256" in f for f in faults)


def test_a_card_link_outside_the_folder(build: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere.png").write_bytes(b"png")
    readme = build / "README.md"
    readme.write_text(readme.read_text() + "\n![x](../elsewhere.png)\n")
    assert check_build(build, stream=False) == [
        "README.md: links to ../elsewhere.png, outside the folder; a release holds only what is inside it"
    ]


def test_a_card_to_publish_needs_the_folders_readme_to_agree(build: Path) -> None:
    from ximagenet12_builder.card import render_card_for

    card = render_card_for(build, mf.read_manifest(build), "someone/xin12")
    assert check_folder(build, stream=False, card_text=card).faults == []
    readme = build / "README.md"
    readme.write_text(readme.read_text().replace("num_examples: 10\n", "num_examples: 11\n", 1))
    assert check_folder(build, stream=False, card_text=card).faults == [
        f"README.md: its YAML is not the card's; run `ximagenet12 card {build}`"
    ]
    readme.unlink()
    assert check_folder(build, stream=False, card_text=card).faults == [
        f"README.md: missing; run `ximagenet12 card {build}`"
    ]


TORCH_AFTER = """
import os, sys
from ximagenet12_builder.cli import main
from ximagenet12_builder.stream_probe import LIGHT_ENV, probe
if sys.argv[2] == "probe":
    os.environ.update(LIGHT_ENV)
    assert probe(sys.argv[1], "blur_bg", "train") is None
else:
    assert main(["check", sys.argv[1], "--no-stream"]) == 0
print("torch" in sys.modules, "datasets" in sys.modules)
"""


@pytest.mark.slow
@pytest.mark.parametrize("part", ["probe", "check"])
def test_check_and_its_probe_import_no_torch(synthetic_build: Path, part: str) -> None:
    pytest.importorskip("torch")  # with torch installed, `datasets` imports it unless told not to
    env = {k: v for k, v in os.environ.items() if k not in ("USE_TORCH", "USE_TF", "USE_JAX")}
    run = subprocess.run(
        [sys.executable, "-c", TORCH_AFTER, str(synthetic_build), part],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split()[-2:] == ["False", "True"]
