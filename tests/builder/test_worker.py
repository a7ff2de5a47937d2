"""Building shards: each input decoded once, the loader's cache never stale, writers within one memory budget."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from ximagenet12_builder import shards, worker
from ximagenet12_builder.pipeline import BuildOptions, run_build
from ximagenet12_builder.plan import BLOCK_SOURCES, default_sources_per_shard
from ximagenet12_builder.shards import ShardWriter, flush_over_budget, parquet_format
from ximagenet12_builder.sources import Source

from ximagenet12 import imageio
from ximagenet12.classes import WNIDS
from ximagenet12.scenarios import ScenarioError, apply
from ximagenet12.synthetic import make_scene, make_source_tree

MIXED = ("mixed_same", "mixed_rand", "mixed_next", "rand_bg", "blur_bg", "original")


def test_each_input_is_decoded_once_per_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sources are decoded once though each is also the partner of about three mixed_* rows of others; photos
    once though many rows draw them."""
    root = tmp_path / "src"
    make_source_tree(root, n_per_class=12, wnids=WNIDS[:4], size=(48, 64))
    (root / "backgrounds").mkdir()
    for i in range(2):
        (root / "backgrounds" / f"photo_{i}.jpg").write_bytes(imageio.encode_jpeg(make_scene(50 + i, 40, 60)[0]))
    images, masks = Counter(), Counter()
    decode, load_mask = imageio.decode_rgb, worker.load_mask

    def counting_decode(data, *args, source=None, **kwargs):
        images[str(source)] += 1
        return decode(data, *args, source=source, **kwargs)

    def counting_load_mask(path, **kwargs):
        masks[str(path)] += 1
        return load_mask(path, **kwargs)

    monkeypatch.setattr(imageio, "decode_rgb", counting_decode)
    monkeypatch.setattr(worker, "load_mask", counting_load_mask)
    monkeypatch.setattr(worker, "_LOADER", None)
    report = run_build(BuildOptions(root, tmp_path / "out", configs=MIXED, progress=False))
    assert report.complete and len(report.built) == 2  # 48 sources: two shards, partners across them

    sources = sorted(str(p) for p in (root / "image").rglob("*.JPEG"))
    assert len(sources) == 48
    assert {s: images[s] for s in sources} == dict.fromkeys(sources, 1)
    assert set(masks.values()) == {1} and len(masks) == 48
    photos = [k for k in images if "backgrounds" in k]
    assert len(photos) == 2 and all(images[p] == 1 for p in photos), "photos are checked by the worker using them"


def test_a_cache_of_one_pairing_block_decodes_each_source_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Partners are drawn within blocks, so a loader that holds one block (not the shard) decodes each source once."""
    root = tmp_path / "src"
    make_source_tree(root, n_per_class=10, wnids=WNIDS, size=(48, 64))
    files = sorted((root / "image").rglob("*.JPEG"))
    entry = 48 * 64 * 4 + max(f.stat().st_size for f in files)  # pixels, mask and file bytes of one source
    images: Counter = Counter()
    decode = imageio.decode_rgb

    def counting_decode(data, *args, source=None, **kwargs):
        images[str(source)] += 1
        return decode(data, *args, source=source, **kwargs)

    monkeypatch.setattr(imageio, "decode_rgb", counting_decode)
    monkeypatch.setattr(worker, "_LOADER", worker.SourceLoader(capacity=(BLOCK_SOURCES + 5) * entry))
    configs = ("mixed_same", "mixed_rand", "mixed_next", "blur_bg")
    report = run_build(BuildOptions(root, tmp_path / "out", configs=configs, sources_per_shard=120, progress=False))
    assert report.complete and report.built == [0] and len(files) == 120  # one shard of three blocks
    assert {str(f): images[str(f)] for f in files} == {str(f): 1 for f in files}


def test_a_bad_photo_is_reported_once_and_not_counted_whether_or_not_a_row_drew_it(tmp_path: Path) -> None:
    """Photos are checked by the shards that decode them: every bad one is in rejected.jsonl once, even one no
    row drew, no row uses one, and the manifest counts only the good photos."""
    root = tmp_path / "src"
    make_source_tree(root, n_per_class=3, wnids=WNIDS[:4], size=(48, 64))
    photos = root / "backgrounds" / "n02123159"
    photos.mkdir(parents=True)
    good = imageio.encode_jpeg(make_scene(60, 40, 60)[0])
    for i in range(30):  # more photos than rows: some are drawn by no row
        (photos / f"tiger_{i:02d}.jpg").write_bytes(good)
    for i in range(0, 30, 3):
        (photos / f"tiger_{i:02d}.jpg").write_bytes(b"not a photo" if i % 2 else good[: len(good) // 3])
    report = run_build(BuildOptions(root, tmp_path / "out", configs=("rand_bg", "blur_bg"), progress=False))
    assert report.complete
    rejected = [json.loads(line) for line in (tmp_path / "out" / "rejected.jsonl").read_text().splitlines()]
    bad = sorted(f"backgrounds/n02123159/tiger_{i:02d}.jpg" for i in range(0, 30, 3))
    assert sorted(r["file"] for r in rejected) == bad and {r["stage"] for r in rejected} == {"decode"}
    used = {r["background_id"] for r in pq.read_table(tmp_path / "out" / "data" / "rand_bg").to_pylist()}
    assert len(used) > 1 and not used & {b.removeprefix("backgrounds/").removesuffix(".jpg") for b in bad}
    manifest = json.loads((tmp_path / "out" / "build_manifest.json").read_text())
    assert manifest["sources"]["background_photos"] == 20 and manifest["sources"]["background_classes"] == ["n02123159"]
    assert sum(s["num_examples"] for s in manifest["configs"]["rand_bg"]["splits"].values()) == 12


def _source(root: Path, seed: int) -> Source:
    image, mask = make_scene(seed, 30, 40)
    (root / "a.jpg").write_bytes(imageio.encode_jpeg(image))
    (root / "a.png").write_bytes(imageio.encode_png(mask))
    return Source("n1_a", "n1", str(root / "a.jpg"), "png", str(root / "a.png"))


def test_the_loader_sees_a_file_that_changed(tmp_path: Path) -> None:
    """A process keeps its loader from build to build: a rewritten file is decoded again, never served stale."""
    loader = worker.SourceLoader()
    source = _source(tmp_path, 1)
    first = loader.source(source)
    assert loader.source(source) is first and loader.decodes == 1
    again = loader.source(_source(tmp_path, 2))
    assert loader.decodes == 2
    want = imageio.read_rgb(tmp_path / "a.jpg").rgb
    np.testing.assert_array_equal(again.rgb, want)
    assert not np.array_equal(again.rgb, first.rgb)


def test_the_loader_reads_a_bad_file_once_until_it_changes(tmp_path: Path) -> None:
    """A bad partner or photo is a candidate of many rows: its error is raised again without a second read, and a
    mended file is read anew."""
    loader = worker.SourceLoader()
    source = _source(tmp_path, 1)
    good = (tmp_path / "a.jpg").read_bytes()
    (tmp_path / "a.jpg").write_bytes(good[: len(good) // 3])
    (tmp_path / "photo.jpg").write_bytes(b"not a photo")
    for _ in range(3):
        with pytest.raises(imageio.ImageDecodeError, match=r"a\.jpg"):
            loader.source(source)
        with pytest.raises(imageio.ImageDecodeError, match=r"photo\.jpg"):
            loader.photo(str(tmp_path / "photo.jpg"))
    assert loader.decodes == 2
    (tmp_path / "a.jpg").write_bytes(good)
    os.utime(tmp_path / "a.jpg", ns=(1, 1))  # a different time, whatever the file system's clock resolution
    assert loader.source(source).rgb.shape == (30, 40, 3) and loader.decodes == 3


def test_the_loader_stays_within_its_capacity(tmp_path: Path) -> None:
    loader = worker.SourceLoader(capacity=1)
    for seed in (1, 2, 1):
        loader.source(_source(tmp_path, seed))
    assert len(loader._cache) == 1 and loader.decodes == 3


def _row(i: int, size: int) -> dict:
    cell = {"bytes": bytes([i % 256]) * size, "path": f"{i}.jpg"}
    return {
        "image": cell, "mask": {"bytes": b"m", "path": f"{i}.mask.png"}, "label": 0, "wnid": WNIDS[0],
        "source_id": f"s{i}", "scenario": "blur_bg", "background_id": None, "params": "{}", "fold": 0,
    }


def test_writers_flush_within_one_budget(tmp_path: Path) -> None:
    """Together the writers of a shard job never buffer more than the budget; every row reaches its file."""
    fmt = parquet_format(list(WNIDS[:2]))
    writers = [
        ShardWriter(tmp_path, f"data/c{k}/train-00000-of-00001.parquet", f"c{k}", "train", fmt) for k in range(3)
    ]
    budget = 10_000
    sizes = [700, 300, 1100]
    for i in range(60):
        writer = writers[i % 3]
        writer.add(_row(i, sizes[i % 3]))
        flush_over_budget(writers, budget)
        assert sum(w.buffered_bytes for w in writers) <= budget
    entries = [w.close() for w in writers]
    assert [e.num_rows for e in entries] == [20, 20, 20]
    for k, entry in enumerate(entries):
        table = pq.read_table(tmp_path / entry.path)
        assert table.column("source_id").to_pylist() == [f"s{i}" for i in range(k, 60, 3)]
        assert pq.ParquetFile(tmp_path / entry.path).metadata.num_row_groups > 1


@pytest.mark.parametrize(
    ("sources", "per_shard", "shards"),
    [
        (1, 1, 1),
        (31, 31, 1),
        (40, 20, 2),  # ceil(40 / 32) = 2 shards
        (250, 32, 8),  # 8 shards: 7 of 32 and one of 26
        (2_000, 250, 8),
        (15_410, 1_927, 8),
        (16_001, 1_778, 9),  # past 8 x 2,000: shards of at most 2,000
    ],
)
def test_default_shard_sizing_depends_on_the_source_count_only(sources: int, per_shard: int, shards: int) -> None:
    assert default_sources_per_shard(sources) == per_shard
    assert -(-sources // per_shard) == shards


class _KeepJobs:
    """An engine that runs nothing and keeps the jobs it was given."""

    def __init__(self) -> None:
        self.jobs: list = []

    def run(self, jobs, progress, finished) -> list:
        self.jobs = list(jobs)
        return []


def test_a_build_worker_process_builds_a_shard_without_importing_datasets_or_pandas(tmp_path: Path) -> None:
    """Workers get the Parquet format from the driver and build Arrow columns from buffers (`pa.array` on a
    list imports pandas): `datasets` and pandas would cost each worker process over a second."""
    root = tmp_path / "src"
    make_source_tree(root, n_per_class=2, wnids=WNIDS[:2], size=(24, 32))
    keep = _KeepJobs()
    run_build(BuildOptions(root, tmp_path / "out", configs=("original", "seg_img"), progress=False, engine=keep))
    (tmp_path / "jobs.pkl").write_bytes(pickle.dumps(keep.jobs))
    code = (
        "import pickle, sys; from ximagenet12_builder.worker import build_shard; "
        f"jobs = pickle.loads(open({str(tmp_path / 'jobs.pkl')!r}, 'rb').read()); "
        "rows = sum(f.num_rows for job in jobs for f in build_shard(job).files); "
        "print(rows, sorted(m for m in ('datasets', 'pandas', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split(maxsplit=1) == ["8", "[]\n"]
    assert sorted(p.name for p in (tmp_path / "out").rglob("*.parquet"))


def test_an_interrupt_while_a_writer_opens_its_file_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C can land after Parquet created a writer's file and before the shard job holds the writer."""
    root, out = tmp_path / "src", tmp_path / "out"
    make_source_tree(root, n_per_class=2, wnids=WNIDS[:2], size=(24, 32))
    keep = _KeepJobs()
    run_build(BuildOptions(root, out, configs=("original", "seg_img", "no_fg"), progress=False, engine=keep))
    opened: list[Path] = []
    open_writer = shards.pq.ParquetWriter

    def interrupted_on_the_third(path, *args, **kwargs):
        writer = open_writer(path, *args, **kwargs)
        opened.append(Path(path))
        if len(opened) == 3:
            raise KeyboardInterrupt
        return writer

    monkeypatch.setattr(shards.pq, "ParquetWriter", interrupted_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        worker.build_shard(keep.jobs[0])
    assert len(opened) == 3 and opened[2].name.endswith(".partial")
    assert not list(out.rglob("*.partial")) and not list(out.rglob("*.parquet"))


@pytest.mark.parametrize(("given", "expected"), [(None, "system"), ("mimalloc", "mimalloc")])
def test_the_cli_allocates_arrow_memory_with_malloc_unless_told_otherwise(given: str | None, expected: str) -> None:
    """Arrow's mimalloc pool keeps freed pages (a build's peak memory grew by ~60 MB); a user's choice stands."""
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if given is not None:
        env["ARROW_DEFAULT_MEMORY_POOL"] = given
    code = "import ximagenet12_builder.cli, pyarrow as pa; print(pa.default_memory_pool().backend_name)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.strip() == expected


def test_a_scenario_rejection_names_its_config_once() -> None:
    image = np.zeros((8, 8, 3), np.uint8)
    mask = np.zeros((8, 8), np.uint8)
    mask[2:5, 2:5] = 255
    with pytest.raises(ScenarioError) as caught:  # its own message starts with "mixed_same: "
        apply("mixed_same", image, mask, seed=0, background=image, background_mask=np.zeros_like(mask))
    assert worker._scenario_reason("mixed_same", caught.value) == str(caught.value)
    assert str(caught.value).startswith("mixed_same: the other image's mask")
    assert worker._scenario_reason("mixed_same", ValueError("PNG encoding failed")) == "mixed_same: PNG encoding failed"
