"""The build end to end: layout, determinism, resumption, locking, and loading with `datasets`."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
from ximagenet12_builder.pipeline import BuildLocked, BuildOptions, build_lock, run_build
from ximagenet12_builder.shards import ROW_GROUP_MAX_ROWS

import ximagenet12
from ximagenet12 import imageio
from ximagenet12.classes import BY_WNID
from ximagenet12.features import features, split_of
from ximagenet12.scenarios import SCENARIOS, apply


def tree_digest(out: Path) -> dict[str, str]:
    """sha256 of every published file of a build (everything but the private .build/ state)."""
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file() and ".build" not in p.relative_to(out).parts
    }


def manifest(out: Path) -> dict:
    return json.loads((out / "build_manifest.json").read_text())


def rows_of(out: Path, config: str) -> list[dict]:
    """Every row of a config, undecoded, read straight from the shards."""
    files = sorted((out / "data" / config).glob("*.parquet"))
    return [row for f in files for row in pq.read_table(f).to_pylist()]


@pytest.mark.slow
def test_every_config_loads_with_datasets_normal_and_streaming(synthetic_build: Path, tmp_path: Path) -> None:
    built = manifest(synthetic_build)
    names = [c["name"] for c in built["classes"]]
    assert set(built["configs"]) == set(SCENARIOS) - {"ai_bg"}
    for config in built["configs"]:
        dsd = datasets.load_dataset(str(synthetic_build), config, cache_dir=str(tmp_path / "cache"))
        assert set(dsd) == set(built["configs"][config]["splits"])
        for split, ds in dsd.items():
            assert ds.features == features(names)
            assert ds.features["label"].names == names
            assert len(ds) == built["configs"][config]["splits"][split]["num_examples"]
            stream = datasets.load_dataset(str(synthetic_build), config, split=split, streaming=True)
            streamed = [(r["source_id"], r["params"]) for r in stream]
            assert streamed == list(zip(ds["source_id"], ds["params"], strict=True))
            first = ds[0]
            assert first["image"].mode == ("RGBA" if config == "transparent" else "RGB")
            assert first["mask"].size == first["image"].size


def test_every_source_sits_in_the_same_split_in_every_config(synthetic_build: Path) -> None:
    seen: dict[str, str] = {}
    for f in sorted((synthetic_build / "data").rglob("*.parquet")):
        split = f.name.split("-")[0]
        for source_id in pq.read_table(f, columns=["source_id"]).column("source_id").to_pylist():
            assert seen.setdefault(source_id, split) == split
            assert split_of(source_id) == split
    assert set(seen.values()) == {"train", "test"}


def test_our_builder_gives_the_rows_load_dataset_gives(synthetic_build: Path, tmp_path: Path) -> None:
    for config in ("original", "rand_bg", "transparent"):
        ours = ximagenet12.load(config, split="test", data_dir=synthetic_build, cache_dir=str(tmp_path / "a"))
        theirs = datasets.load_dataset(str(synthetic_build), config, split="test", cache_dir=str(tmp_path / "b"))
        assert ours.features == theirs.features
        assert ours.data.table.equals(theirs.data.table)
        streamed = list(ximagenet12.load(config, split="test", data_dir=synthetic_build, streaming=True))
        assert [r["source_id"] for r in streamed] == theirs["source_id"]


def test_builder_refuses_a_config_that_was_not_built(synthetic_build: Path) -> None:
    with pytest.raises(ValueError, match="ai_bg"):
        ximagenet12.load("ai_bg", split="test", data_dir=synthetic_build)


def test_original_keeps_the_source_bytes(synthetic_build: Path, synthetic_sources: Path) -> None:
    for row in rows_of(synthetic_build, "original"):
        path = synthetic_sources / "image" / row["wnid"] / f"{row['source_id']}.JPEG"
        assert row["image"]["bytes"] == path.read_bytes()


def test_any_row_can_be_regenerated_alone_from_what_it_records(synthetic_build: Path, synthetic_sources: Path) -> None:
    def source(source_id: str) -> tuple[np.ndarray, np.ndarray]:
        wnid = source_id.rsplit("_", 1)[0]
        rgb = imageio.read_rgb(str(synthetic_sources / "image" / wnid / f"{source_id}.JPEG")).rgb
        mask_rgb = imageio.read_rgb(str(synthetic_sources / "masks" / wnid / f"{source_id}.png")).rgb
        return rgb, np.where(mask_rgb[..., 0] > 0, 255, 0).astype(np.uint8)

    for config in ("color_r", "color_rainbow", "rand_bg", "mixed_rand", "transparent"):
        row = rows_of(synthetic_build, config)[0]
        image, mask = source(row["source_id"])
        params = json.loads(row["params"])
        kwargs = {}
        if config == "rand_bg":
            kwargs["background"] = imageio.read_rgb(
                str(synthetic_sources / "backgrounds" / f"{row['background_id']}.jpg")
            ).rgb
        elif config.startswith("mixed"):
            kwargs["background"], kwargs["background_mask"] = source(row["background_id"])
        out, out_mask, _ = apply(config, image, mask, params=params, **kwargs)
        encoded = imageio.encode_png(out) if SCENARIOS[config].mode == "RGBA" else imageio.encode_jpeg(out)
        assert encoded == row["image"]["bytes"], config
        assert imageio.encode_png(out_mask) == row["mask"]["bytes"], config


def test_pairings_follow_their_rule(synthetic_build: Path) -> None:
    wnids = [c["wnid"] for c in manifest(synthetic_build)["classes"]]
    present = sorted({r["wnid"] for r in rows_of(synthetic_build, "original")}, key=wnids.index)
    for row in rows_of(synthetic_build, "rand_bg"):
        assert row["background_id"].startswith("photo_")
        params = json.loads(row["params"])
        assert params["background_origin"] == f"backgrounds/{row['background_id']}.jpg"
        assert "background_wnid" not in params  # the synthetic photos are of no known class
    for config, rule in (("mixed_same", 0), ("mixed_next", 1)):
        for row in rows_of(synthetic_build, config):
            partner_wnid = row["background_id"].rsplit("_", 1)[0]
            assert partner_wnid == present[(present.index(row["wnid"]) + rule) % len(present)]
            assert row["background_id"] != row["source_id"]
    for row in rows_of(synthetic_build, "mixed_rand"):
        params = json.loads(row["params"])
        assert params["pairing"] == "in9" and params["partner_class"] == row["background_id"].rsplit("_", 1)[0]
        assert row["background_id"] != row["source_id"]
    assert manifest(synthetic_build)["configs"]["mixed_rand"]["pairing"] == "in9"


def test_shards_are_hub_ready_parquet(synthetic_build: Path) -> None:
    built = manifest(synthetic_build)
    for record in built["files"]:
        path = synthetic_build / record["path"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == record["sha256"]
        meta = pq.ParquetFile(path).metadata
        assert meta.num_rows == record["num_rows"]
        assert b"huggingface" in pq.read_schema(path).metadata
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            assert group.num_rows <= ROW_GROUP_MAX_ROWS
            for c in range(group.num_columns):
                column = group.column(c)
                assert (column.has_offset_index and column.has_column_index) or column.path_in_schema.endswith("bytes")
                if column.path_in_schema in ("image.bytes", "mask.bytes"):
                    assert column.compression == "UNCOMPRESSED"
    yaml = (synthetic_build / "README.md").read_text().split("---")[1]
    assert "config_name: original" in yaml and "default: true" in yaml
    assert (synthetic_build / "rejected.jsonl").exists()


def _build(sources: Path, out: Path, **kwargs) -> Path:
    report = run_build(BuildOptions(sources=sources, out=out, progress=False, **kwargs))
    assert report.complete
    return out


@pytest.fixture(scope="module")
def small_shards_build(synthetic_sources: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic sources built with 3 sources a shard, one worker: the reference bytes."""
    return _build(synthetic_sources, tmp_path_factory.mktemp("ref") / "out", sources_per_shard=3)


@pytest.mark.slow
def test_same_bytes_whatever_the_worker_count(
    synthetic_sources: Path, small_shards_build: Path, tmp_path: Path
) -> None:
    two = _build(synthetic_sources, tmp_path / "two", sources_per_shard=3, workers=2)
    assert tree_digest(two) == tree_digest(small_shards_build)
    assert len(list((two / "data" / "original").glob("train-*-of-00004.parquet"))) >= 2


def test_rerun_skips_finished_work(synthetic_sources: Path, small_shards_build: Path) -> None:
    before = tree_digest(small_shards_build)
    report = run_build(
        BuildOptions(sources=synthetic_sources, out=small_shards_build, sources_per_shard=3, progress=False)
    )
    assert report.built == [] and report.skipped == [0, 1, 2, 3]
    assert tree_digest(small_shards_build) == before


def test_a_second_build_on_the_same_folder_is_refused(synthetic_sources: Path, tmp_path: Path) -> None:
    with build_lock(tmp_path / "out"), pytest.raises(BuildLocked, match="another build"):
        run_build(BuildOptions(synthetic_sources, tmp_path / "out", progress=False))


@pytest.mark.slow
def test_a_build_killed_with_sigkill_resumes_to_the_same_bytes(tmp_path: Path) -> None:
    from ximagenet12.synthetic import make_source_tree

    sources = tmp_path / "src"
    make_source_tree(sources, n_per_class=3, wnids=list(BY_WNID)[:4], size=(300, 400), seed=3)
    script = (
        "import sys; from pathlib import Path;"
        "from ximagenet12_builder.pipeline import BuildOptions, run_build;"
        "run_build(BuildOptions(Path(sys.argv[1]), Path(sys.argv[2]), sources_per_shard=1, progress=False))"
    )
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", script, str(sources), str(out)])
    records = out / ".build" / "shards"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(records.glob("*.json")) if records.exists() else []) < 2:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list(records.glob("*.json")))
    assert 2 <= done < 12, "the build was not interrupted mid-way"
    assert not (out / "build_manifest.json").exists()

    resumed = run_build(BuildOptions(sources, out, sources_per_shard=1, progress=False))
    assert resumed.complete and len(resumed.skipped) == done
    reference = _build(sources, tmp_path / "reference", sources_per_shard=1)
    assert tree_digest(out) == tree_digest(reference)
    assert not list(out.rglob("*.partial"))


@pytest.mark.slow
def test_ctrl_c_stops_a_two_worker_build_in_one_line_and_it_resumes(tmp_path: Path) -> None:
    """Ctrl-C reaches the driver and its spawned worker alike (one process group): one line, exit 130."""
    from ximagenet12.synthetic import make_source_tree

    sources = tmp_path / "src"
    make_source_tree(sources, n_per_class=3, wnids=list(BY_WNID)[:4], size=(300, 400), seed=3)
    out = tmp_path / "stopped"
    script = (
        "import signal, sys\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"  # as in a terminal, whatever started us
        "from ximagenet12_builder.cli import main\n"
        "sys.exit(main(['build', sys.argv[1], '--out', sys.argv[2], '--workers', '2', '--sources-per-shard', '1',"
        " '--no-progress']))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(sources), str(out)], start_new_session=True, stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL, text=True,
    )
    records = out / ".build" / "shards"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(records.glob("*.json")) if records.exists() else []) < 2:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err == "ximagenet12 build: error: interrupted\n"
    assert not (out / "build_manifest.json").exists() and not list(out.rglob("*.partial"))

    resumed = run_build(BuildOptions(sources, out, sources_per_shard=1, progress=False))
    assert resumed.complete and resumed.skipped
    assert tree_digest(out) == tree_digest(_build(sources, tmp_path / "reference", sources_per_shard=1))


def test_a_subset_of_configs_replaces_what_the_folder_had(
    synthetic_sources: Path, synthetic_build: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    shutil.copytree(synthetic_build, out)
    _build(synthetic_sources, out, configs=("blur_bg", "rand_bg"))
    assert sorted(p.name for p in (out / "data").iterdir()) == ["blur_bg", "rand_bg"]
    assert set(manifest(out)["configs"]) == {"blur_bg", "rand_bg"}
    assert "config_name: original" not in (out / "README.md").read_text()


def test_mixed_rand_other_class_is_a_recorded_option(synthetic_sources: Path, tmp_path: Path) -> None:
    out = _build(synthetic_sources, tmp_path / "other", configs=("mixed_rand",), mixed_rand_rule="other-class")
    rows = rows_of(out, "mixed_rand")
    assert len(rows) == 12
    for row in rows:
        params = json.loads(row["params"])
        assert params["pairing"] == "other-class" and params["partner_class"] != row["wnid"]
    entry = manifest(out)["configs"]["mixed_rand"]
    assert entry["pairing"] == "other-class" and "other than its own" in entry["description"]
