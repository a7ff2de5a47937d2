"""Streaming read speed: `datasets` streaming (and our builder) against pyarrow + direct decode of the same files.

    python bench/load.py [--sources 96] [--config rand_bg]

Each reader yields every row with its image and mask decoded to numpy arrays; the ratio is rows/s against the
pyarrow baseline measured in the same run (goal >= 0.7).
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _sources import scaled_sample, with_backgrounds


def _pyarrow_rows(folder: Path, config: str) -> int:
    import pyarrow.parquet as pq
    from PIL import Image

    n = 0
    for path in sorted((folder / "data" / config).glob("*.parquet")):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=64):
            for row in batch.to_pylist():
                for column in ("image", "mask"):
                    with Image.open(io.BytesIO(row[column]["bytes"])) as im:
                        np.asarray(im)
                n += 1
    return n


def _datasets_rows(folder: Path, config: str) -> int:
    from datasets import load_dataset

    n = 0
    for split in ("train", "test"):
        for row in load_dataset(str(folder), config, split=split, streaming=True):
            np.asarray(row["image"]), np.asarray(row["mask"])
            n += 1
    return n


def _builder_rows(folder: Path, config: str) -> int:
    import ximagenet12

    n = 0
    for split in ("train", "test"):
        for row in ximagenet12.load(config, split=split, data_dir=folder, streaming=True):
            np.asarray(row["image"]), np.asarray(row["mask"])
            n += 1
    return n


def _timed(fn, folder: Path, config: str, repeat: int = 3) -> tuple[float, int]:
    best, rows = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        rows = fn(folder, config)
        best = min(best, time.perf_counter() - start)
    return best, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=96)
    parser.add_argument("--config", default="rand_bg")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "build"
        sources = with_backgrounds(scaled_sample(Path(tmp) / "src", args.sources))  # rand_bg needs photos
        subprocess.run(
            [
                sys.executable,
                "-m",
                "ximagenet12_builder.cli",
                "build",
                str(sources),
                "--out",
                str(folder),
                "--configs",
                f"original,{args.config}",
                "--no-progress",
            ],
            check=True,
            capture_output=True,
        )
        base_t, base_n = _timed(_pyarrow_rows, folder, args.config)
        ds_t, ds_n = _timed(_datasets_rows, folder, args.config)
        ours_t, ours_n = _timed(_builder_rows, folder, args.config)
    assert base_n == ds_n == ours_n, (base_n, ds_n, ours_n)
    print(f"{base_n} rows of {args.config}, image and mask decoded to arrays; best of 3\n")
    print(f"{'reader':<40} {'s':>7} {'rows/s':>8} {'ratio':>6}")
    for label, t in (
        ("pyarrow iter_batches + PIL decode", base_t),
        ("datasets load_dataset(streaming=True)", ds_t),
        ("ximagenet12.load(streaming=True)", ours_t),
    ):
        print(f"{label:<40} {t:>7.2f} {base_n / t:>8.1f} {base_t / t:>6.2f}")
    print("\ngoal: datasets streaming >= 0.7x the pyarrow baseline")


if __name__ == "__main__":
    main()
