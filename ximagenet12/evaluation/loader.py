"""Batches of preprocessed images from a build: row groups read whole, decoded on a thread pool, prefetched."""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pyarrow as pa

from .preprocessing import Preprocessing, load_image
from .source import COLUMNS, BuildSource

T = TypeVar("T")


@dataclass
class Batch:
    """Preprocessed uint8 NHWC images with their labels and source ids."""

    images: np.ndarray
    labels: np.ndarray
    source_ids: list[str]


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def row_chunks(
    source: BuildSource,
    config: str,
    split: str,
    size: int,
    columns: Sequence[str] = COLUMNS,
    rows: tuple[int, int] | None = None,
) -> Iterator[pa.Table]:
    """Tables of `size` rows (last may be shorter), one whole row group read at a time (never a half-read stream).

    With `rows=(start, stop)` only the row groups holding those rows of the config's split are read.
    """
    start, stop = rows if rows is not None else (0, None)
    pending: list[pa.Table] = []
    count = offset = 0
    for path in source.files(config, split):
        if stop is not None and offset >= stop:
            break
        with source.parquet(path) as parquet:
            for group in range(parquet.num_row_groups):
                first, offset = offset, offset + parquet.metadata.row_group(group).num_rows
                if offset <= start:
                    continue
                if stop is not None and first >= stop:
                    break
                # use_threads=False: Arrow threads on an fsspec file, see ximagenet12/dataset.py
                table = parquet.read_row_group(group, columns=list(columns), use_threads=False)
                if rows is not None:
                    lo = max(start, first) - first
                    table = table.slice(lo, min(offset, stop) - first - lo)
                pending.append(table)
                count += table.num_rows
                while count >= size:
                    joined = pa.concat_tables(pending)
                    yield joined.slice(0, size)
                    pending, count = [joined.slice(size)], count - size
    if count:
        yield pa.concat_tables(pending)


def image_bytes(table: pa.Table) -> list[bytes]:
    """The encoded bytes of a table's `image` column."""
    column = table.column("image").combine_chunks()
    values = column.field("bytes").to_pylist()
    if any(v is None for v in values):
        raise ValueError("image rows without embedded bytes are not supported")
    return values


def decode_batch(table: pa.Table, pre: Preprocessing, pool: ThreadPoolExecutor) -> Batch:
    """Decode and preprocess one table of rows."""
    images = np.stack(list(pool.map(lambda data: load_image(data, pre), image_bytes(table))))
    labels = table.column("label").to_numpy().astype(np.int64)
    return Batch(images, labels, table.column("source_id").to_pylist())


def ahead(
    produce: Callable[[ThreadPoolExecutor], Iterator[T]],
    *,
    workers: int | None = None,
    depth: int = 2,
    name: str = "load",
) -> Iterator[T]:
    """The items of `produce(pool)`, computed `depth` ahead on a background thread with a decoding thread pool."""
    workers = workers or min(4, usable_cores())
    out: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def run() -> None:
        try:
            with ThreadPoolExecutor(workers, thread_name_prefix="decode") as pool:
                for item in produce(pool):
                    if stop.is_set():
                        return
                    _put(out, item, stop)
            _put(out, done, stop)
        except Exception as error:  # re-raised in the consumer
            _put(out, error, stop)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = out.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def batches(
    source: BuildSource,
    config: str,
    split: str,
    pre: Preprocessing,
    *,
    batch_size: int = 64,
    workers: int | None = None,
    prefetch: int = 2,
    transform: Callable[[np.ndarray], object] | None = None,
    rows: tuple[int, int] | None = None,
) -> Iterator[tuple[Batch, object]]:
    """(batch, transform(batch.images)) pairs of a config's split (or its `rows` range), produced ahead."""

    def produce(pool: ThreadPoolExecutor) -> Iterator[tuple[Batch, object]]:
        for table in row_chunks(source, config, split, batch_size, rows=rows):
            batch = decode_batch(table, pre, pool)
            yield batch, transform(batch.images) if transform else None

    return ahead(produce, workers=workers, depth=prefetch, name=f"load-{config}")


def _put(out: queue.Queue, item: object, stop: threading.Event) -> None:
    """Put unless the consumer has gone."""
    while not stop.is_set():
        try:
            out.put(item, timeout=0.1)
            return
        except queue.Full:
            continue
