"""Reading builds: configs from the manifest, any fsspec filesystem, config selection, batching."""

from __future__ import annotations

import shutil
from pathlib import Path

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ximagenet12 import manifest as mf
from ximagenet12.errors import DataError
from ximagenet12.evaluation.loader import batches, row_chunks
from ximagenet12.evaluation.preprocessing import Preprocessing
from ximagenet12.evaluation.source import open_build, select_configs
from ximagenet12.manifest import ManifestError
from ximagenet12.verify import CACHE_ENV

from .tiny_build import make_synthetic_build


def test_card_configs_classes_and_files(tiny_build: Path) -> None:
    source = open_build(tiny_build)
    assert source.kind == "local"
    assert source.configs[:3] == ["original", "blur_bg", "blur_obj"]
    assert [c["name"] for c in source.classes] == ["tabby cat", "missile", "espresso"]
    assert source.splits("seg_img") == ["train", "test"]
    assert source.num_rows("original", "test") == 6
    assert len(source.manifest_sha256) == 64
    identity = source.identity("original", "test")
    assert identity["shards"][0][0] == "test-00000-of-00001.parquet"


def test_configs_come_from_the_manifest_without_a_card(tmp_path: Path) -> None:
    root = make_synthetic_build(tmp_path / "b", ("original", "seg_img"), shards=2, card=False)
    assert not (root / "README.md").exists()
    source = open_build(root)
    assert source.configs == ["original", "seg_img"]
    assert len(source.files("seg_img", "test")) == 2
    assert source.num_rows("seg_img", "test") == 6


def test_selection(tiny_build: Path) -> None:
    source = open_build(tiny_build)
    assert select_configs(source, None, "test") == source.configs
    assert select_configs(source, "seg_img, original", "test") == ["original", "seg_img"]
    assert select_configs(source, "paper", "test")[0] == "original"
    assert len(select_configs(source, "paper", "test")) == 9
    with pytest.raises(ValueError, match="no config"):
        select_configs(source, ["ai_bg"], "test")
    with pytest.raises(ValueError, match="split"):
        select_configs(source, ["original"], "validation")


def test_any_fsspec_filesystem(tmp_path: Path) -> None:
    root = make_synthetic_build(tmp_path / "b", ("original",))
    memory = fsspec.filesystem("memory")
    for path in root.rglob("*"):
        if path.is_file():
            memory.pipe_file(f"/xin12/{path.relative_to(root).as_posix()}", path.read_bytes())
    source = open_build("memory://xin12")
    assert source.kind == "fsspec" and source.configs == ["original"]
    local = [b.source_ids for b, _ in batches(open_build(root), "original", "test", Preprocessing(), batch_size=4)]
    remote = [b.source_ids for b, _ in batches(source, "original", "test", Preprocessing(), batch_size=4)]
    assert remote == local


def test_missing_things_are_explained(tmp_path: Path) -> None:
    root = make_synthetic_build(tmp_path / "b", ("original",))
    with pytest.raises(FileNotFoundError):
        open_build(tmp_path / "nowhere" / "deeper")
    (root / "build_manifest.json").unlink()
    with pytest.raises(ManifestError, match="build_manifest"):
        _ = open_build(root).classes
    root = make_synthetic_build(tmp_path / "c", ("original",))
    shutil.rmtree(root / "data")
    with pytest.raises(DataError, match="missing; the build's manifest lists it"):
        open_build(root).files("original", "test")


@pytest.mark.parametrize("where", ["local", "memory"])
def test_shards_are_checked_against_the_manifest_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    root = make_synthetic_build(tmp_path / "b", ("original",))
    entry = mf.read_manifest(root).files_of("original", "test")[0]
    data = bytearray((root / entry.path).read_bytes())
    data[300] ^= 0xFF
    (root / entry.path).write_bytes(bytes(data))
    location = str(root)
    if where == "memory":
        memory = fsspec.filesystem("memory")
        for path in root.rglob("*"):
            if path.is_file():
                memory.pipe_file(f"/bad/{path.relative_to(root).as_posix()}", path.read_bytes())
        location = "memory://bad"
    with pytest.raises(DataError, match=rf"{entry.path}: sha256 .* differs from the manifest's"):
        open_build(location).files("original", "test")
    unchecked = open_build(location, verify=False)
    assert unchecked.files("original", "test")[0].endswith(entry.path)
    assert unchecked.provenance()["shards_verified"] is False


@pytest.mark.parametrize("batch_size", [1, 4, 5, 100])
def test_chunks_cross_row_groups_in_order(tmp_path: Path, batch_size: int) -> None:
    root = make_synthetic_build(tmp_path / "b", ("original",), per_class=7, shards=2, rows_per_group=2)
    source = open_build(root)
    sizes = [t.num_rows for t in row_chunks(source, "original", "test", batch_size)]
    total = source.num_rows("original", "test")
    assert sum(sizes) == total and all(s == batch_size for s in sizes[:-1])
    got = [sid for b, _ in batches(source, "original", "test", Preprocessing(resize=32, crop=32),
                                   batch_size=batch_size, workers=2) for sid in b.source_ids]
    expected = [sid for t in row_chunks(source, "original", "test", total) for sid in t.column("source_id").to_pylist()]
    assert got == expected


@pytest.mark.parametrize(
    ("start", "stop", "size"), [(0, 12, 4), (0, 5, 4), (3, 4, 2), (4, 12, 5), (7, 12, 3), (6, 6, 2)]
)
def test_a_row_range_reads_those_rows_only(tmp_path: Path, start: int, stop: int, size: int) -> None:
    root = make_synthetic_build(tmp_path / "b", ("original",), per_class=7, shards=2, rows_per_group=2)
    source = open_build(root)
    paths = source.files("original", "test")
    everything = pa.concat_tables(pq.read_table(p, columns=["source_id"]) for p in paths)
    assert everything.num_rows == 12 and len(paths) == 2
    opened: list[str] = []
    real = source.parquet
    source.parquet = lambda path: (opened.append(path), real(path))[1]  # type: ignore[method-assign]
    chunks = list(row_chunks(source, "original", "test", size, rows=(start, stop)))
    got = [sid for t in chunks for sid in t.column("source_id").to_pylist()]
    assert got == everything.column("source_id").to_pylist()[start:stop]
    assert all(t.num_rows == size for t in chunks[:-1])
    first_shard_rows = pq.ParquetFile(paths[0]).metadata.num_rows
    assert (paths[1] in opened) == (stop > first_shard_rows), "a shard outside the range was opened"


def test_batches_carry_the_transform_and_errors(tiny_build: Path) -> None:
    source = open_build(tiny_build)
    pre = Preprocessing(resize=40, crop=32)
    seen = list(batches(source, "transparent", "test", pre, batch_size=4, transform=lambda x: x.shape))
    assert [extra for _, extra in seen] == [(4, 32, 32, 3), (2, 32, 32, 3)]
    assert seen[0][0].images.dtype == np.uint8 and seen[0][0].labels.dtype == np.int64

    def boom(images: np.ndarray) -> None:
        raise RuntimeError("transform failed")

    with pytest.raises(RuntimeError, match="transform failed"):
        list(batches(source, "original", "test", pre, batch_size=2, transform=boom))
