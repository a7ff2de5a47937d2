"""`bench/build.py`'s baselines do the work they claim: the rows ours builds, stored as the same bytes."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections import defaultdict
from pathlib import Path
from types import ModuleType

import pyarrow.parquet as pq
import pytest

from ximagenet12.manifest import STATE_DIR, read_manifest

BENCH = Path(__file__).resolve().parents[1] / "bench"

pytestmark = pytest.mark.slow


def _load(name: str) -> ModuleType:
    """A bench script as a module of its own name (`bench/build.py` would clash with the `build` package)."""
    spec = importlib.util.spec_from_file_location(f"bench{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    saved = list(sys.path)  # the scripts put bench/ on it
    try:
        yield _load("build"), _load("_sources")
    finally:
        sys.path[:] = saved


@pytest.fixture(scope="module")
def built(bench, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The bench's inputs at 16 sources (every config buildable) and our build of them."""
    bench_build, sources_module = bench
    root = tmp_path_factory.mktemp("bench")
    sources = sources_module.with_backgrounds(sources_module.scaled_sample(root / "src", 16), count=4)
    out = root / "ours"
    assert bench_build._child_ours(sources, out, 1, bench_build._configs("all"))["rows"] > 0
    return sources, out


def _rows(files: list[Path]) -> dict[tuple[str, str], dict]:
    """(scenario, source id) -> the stored image and mask bytes and the label of every row in these files."""
    rows = {}
    for path in files:
        table = pq.read_table(path, columns=["image", "mask", "label", "source_id", "scenario", "background_id"])
        for row in table.to_pylist():
            key = (row["scenario"], row["source_id"])
            assert key not in rows, f"{path}: {key} twice"
            rows[key] = {
                "image": row["image"]["bytes"],
                "mask": row["mask"]["bytes"],
                "label": row["label"],
                "background_id": row["background_id"],
            }
    return rows


def test_naive_baseline_stores_the_bytes_ours_stores(bench, built, tmp_path: Path) -> None:
    bench_build, _ = bench
    sources, ours = built
    naive = tmp_path / "naive"
    result = bench_build._child_naive(sources, naive, 1, bench_build._configs("all"))

    by_config = defaultdict(list)
    for path in sorted((ours / "data").rglob("*.parquet")):
        by_config[path.parent.name].append(path)
    assert len(by_config) == 18
    theirs = _rows(sorted((naive / "data").rglob("*.parquet")))
    mine = _rows([p for files in by_config.values() for p in files])
    assert result["rows"] == len(mine) == len(theirs)
    assert theirs.keys() == mine.keys()
    different = [key for key in mine if mine[key] != theirs[key]]
    assert not different, f"{len(different)} rows differ, e.g. {different[:3]}"


def test_floor_encodes_every_row_ours_builds(bench, built) -> None:
    bench_build, _ = bench
    sources, ours = built
    stored = sum(pq.ParquetFile(p).metadata.num_rows for p in (ours / "data").rglob("*.parquet"))
    result = bench_build._child_floor(sources, ours.parent / "floor", 1, bench_build._configs("all"))
    assert result["rows"] == stored
    assert result["seconds"] > 0 and result["pixels_seconds"] > 0


def test_rebuild_times_only_the_fixed_part_and_refuses_a_build_that_writes_shards(bench, built, tmp_path: Path) -> None:
    bench_build, _ = bench
    sources, ours = built
    copy = tmp_path / "ours"
    shutil.copytree(ours, copy)
    configs = bench_build._configs("all")
    assert bench_build._child_rebuild(sources, copy, 1, configs)["rows"] == _rows_in(ours)

    next((copy / STATE_DIR / "shards").glob("*.json")).unlink()  # one shard no longer recorded: built again
    with pytest.raises(SystemExit, match="wrote shards again"):
        bench_build._child_rebuild(sources, copy, 1, configs)


def _rows_in(out: Path) -> int:
    return sum(f.num_rows for f in read_manifest(out).files)
