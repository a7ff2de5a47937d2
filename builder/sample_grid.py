"""The card's sample picture: one source image through every config of a build, read from its Parquet shards."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ximagenet12.imageio import ImageDecodeError, decode_any
from ximagenet12.manifest import Manifest
from ximagenet12.pictures import make_grid
from ximagenet12.provenance import write_atomic

GRID_PATH = "assets/sample_grid.png"
PNG_LEVEL = 9


def _files_by_config(manifest: Manifest) -> dict[str, list[str]]:
    files: dict[str, list[str]] = {}
    for f in manifest.files:
        if f.num_rows:
            files.setdefault(f.config, []).append(f.path)
    return files


def pick_source(out: Path, manifest: Manifest, configs: list[str]) -> str | None:
    """The source id present in the most configs (ties: the smallest id), or None for an empty build."""
    files = _files_by_config(manifest)
    seen: Counter[str] = Counter()
    for config in configs:
        ids: set[str] = set()
        for path in files.get(config, []):
            ids.update(pq.read_table(Path(out) / path, columns=["source_id"]).column("source_id").to_pylist())
        seen.update(ids)
    if not seen:
        return None
    return min(seen, key=lambda sid: (-seen[sid], sid))


def _row(out: Path, paths: list[str], source_id: str) -> dict | None:
    """The first row of `source_id` in these files, reading one row group's images at most."""
    for path in paths:
        parquet = pq.ParquetFile(Path(out) / path)
        for group in range(parquet.num_row_groups):
            ids = parquet.read_row_group(group, columns=["source_id"]).column("source_id")
            hits = pc.index(ids, source_id).as_py()
            if hits >= 0:
                return parquet.read_row_group(group, columns=["image", "mask"]).slice(hits, 1).to_pylist()[0]
    return None


def source_tiles(out: Path, manifest: Manifest, configs: list[str], source_id: str) -> list[tuple[str, np.ndarray]]:
    """(label, image) for `source_id` in each config that has it decodable, the original's mask after the original."""
    files = _files_by_config(manifest)
    tiles = []
    for config in configs:
        row = _row(out, files.get(config, []), source_id)
        if row is None:
            continue
        try:
            tiles.append((config, decode_any(row["image"]["bytes"])))
            if config == "original":
                tiles.append(("mask", decode_any(row["mask"]["bytes"])))
        except ImageDecodeError:
            continue
    return tiles


def _png(rgb: np.ndarray) -> bytes:
    """Smallest PNG OpenCV writes: the grid is read on every visit of the card."""
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, PNG_LEVEL])
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def write_sample_grid(out: Path, manifest: Manifest, configs: list[str]) -> str | None:
    """Write `assets/sample_grid.png` and return the source id drawn, or None for an empty build."""
    source_id = pick_source(out, manifest, configs)
    if source_id is None:
        return None
    tiles = source_tiles(out, manifest, configs, source_id)
    write_atomic(Path(out) / GRID_PATH, _png(make_grid(tiles)))
    return source_id
