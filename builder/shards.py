"""Writing one Parquet shard: `datasets` features embedded, viewer-sized row groups, atomic rename."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ximagenet12.features import COLUMNS, IMAGE, arrow_schema
from ximagenet12.manifest import SHARD_NAME, FileEntry
from ximagenet12.provenance import sha256_file

ROW_GROUP_BYTES = 64 << 20
# What the open writers of one shard job may buffer together (a job has one writer per config and split,
# 36 for a full build): over it, the fullest writers flush a (smaller) row group each.
BUFFER_BUDGET_BYTES = 48 << 20
ROW_GROUP_HARD_BYTES = 200 << 20
ROW_GROUP_MIN_ROWS = 100
ROW_GROUP_MAX_ROWS = 1000
PARTIAL_SUFFIX = ".partial"
# The name a shard has while it is written: `.<split>-NNNNN-of-NNNNN.parquet.<attempt>.partial`.
SHARD_PARTIAL = re.compile(
    r"^\." + SHARD_NAME.pattern.strip("^$") + r"\.[0-9a-f]{12}" + re.escape(PARTIAL_SUFFIX) + "$"
)


# `datasets.config.DEFAULT_CDC_OPTIONS`: the content-defined chunking `datasets` writes Parquet with, so that the
# Hub's storage deduplicates pages that did not change between two releases.
CDC_OPTIONS = {"min_chunk_size": 256 * 1024, "max_chunk_size": 1024 * 1024, "norm_level": 0}


@dataclass(frozen=True)
class ParquetFormat:
    """How a shard is written: schema (with the `datasets` features), column options, chunking."""

    schema: pa.Schema
    column_options: dict[str, Any]
    cdc_options: dict[str, int] | None


def parquet_format(class_names: Sequence[str]) -> ParquetFormat:
    """The Parquet format of every shard, as `datasets` writes Parquet for these features.

    Made from `ximagenet12.features.COLUMNS` without importing `datasets` (half a second, a sixteenth of a
    250-source build); tests/builder/test_shards.py checks it equals what `datasets` itself makes.
    """
    compression: dict[str, str] = {}
    use_dictionary: list[str] = []
    column_encoding: dict[str, str] = {}
    for name, kind in COLUMNS:
        if kind == IMAGE:  # image bytes are stored as they are: no compression, no dictionary
            for leaf in (f"{name}.bytes", f"{name}.path"):
                compression[leaf] = "none"
                column_encoding[leaf] = "PLAIN"
        else:
            compression[name] = "snappy"
            use_dictionary.append(name)
    options = {"compression": compression, "use_dictionary": use_dictionary, "column_encoding": column_encoding}
    return ParquetFormat(arrow_schema(class_names), options, dict(CDC_OPTIONS))


def column(values: Sequence[Any], type_: pa.DataType) -> pa.Array:
    """An Arrow array of Python values (None is null) built from buffers, for the shards' column types.

    `pa.array` and `Table.from_pydict` on Python lists import pandas (about a quarter of a second
    per build worker process) to ask whether the values are a pandas object.
    """
    n = len(values)
    if pa.types.is_struct(type_):
        children = [column([v[f.name] for v in values], f.type) for f in type_]
        return pa.StructArray.from_arrays(children, fields=list(type_))
    valid = np.fromiter((v is not None for v in values), bool, n)
    nulls = n - int(np.count_nonzero(valid))
    validity = pa.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
    if pa.types.is_signed_integer(type_):
        data = np.fromiter((0 if v is None else v for v in values), np.dtype(f"int{type_.bit_width}"), n)
        return pa.Array.from_buffers(type_, n, [validity, pa.py_buffer(data)], null_count=nulls)
    if type_ in (pa.string(), pa.binary()):
        blobs = [b"" if v is None else v.encode() if isinstance(v, str) else bytes(v) for v in values]
        ends = np.cumsum(np.fromiter(map(len, blobs), np.int64, n))
        if n and ends[-1] > np.iinfo(np.int32).max:
            raise ValueError(f"{type_} column of {ends[-1]} bytes: over the 2 GiB its 32-bit offsets can address")
        offsets = np.concatenate(([0], ends)).astype(np.int32)
        buffers = [validity, pa.py_buffer(offsets), pa.py_buffer(b"".join(blobs))]
        return pa.Array.from_buffers(type_, n, buffers, null_count=nulls)
    raise TypeError(f"no buffer layout for Arrow type {type_}")


def new_attempt() -> str:
    """A fresh attempt token for `partial_path`."""
    return uuid.uuid4().hex[:12]


def partial_path(path: Path, attempt: str) -> Path:
    """Where a shard is written until it is complete.

    Each attempt at a shard has its own `attempt` token: a task that a cluster retried elsewhere while the
    first attempt still runs (a node cut off, not dead) writes its own file, and the atomic rename of identical
    bytes wins.
    """
    return path.with_name(f".{path.name}.{attempt}{PARTIAL_SUFFIX}")


class ShardWriter:
    """Streams rows into one Parquet file, flushing a row group every ~64 MB (100-1000 rows)."""

    def __init__(
        self, root: Path, relpath: str, config: str, split: str, fmt: ParquetFormat, attempt: str | None = None
    ):
        self.root, self.relpath, self.config, self.split = root, relpath, config, split
        self.path = root / relpath
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.schema = fmt.schema
        self._columns: dict[str, list[Any]] = {name: [] for name in self.schema.names}
        self._buffered_bytes = 0
        self.num_rows = 0
        self.num_bytes = 0
        self._partial = partial_path(self.path, attempt or new_attempt())
        self._writer = pq.ParquetWriter(
            self._partial,
            self.schema,
            write_page_index=True,
            use_content_defined_chunking=fmt.cdc_options,
            **fmt.column_options,
        )

    def add(self, row: dict[str, Any]) -> None:
        """Buffer one encoded row; image columns are {"bytes", "path"} dicts."""
        for name, values in self._columns.items():
            values.append(row[name])
        self._buffered_bytes += len(row["image"]["bytes"]) + len(row["mask"]["bytes"]) + 256
        rows = len(self._columns["image"])
        if (
            rows >= ROW_GROUP_MAX_ROWS
            or self._buffered_bytes >= ROW_GROUP_HARD_BYTES
            or (self._buffered_bytes >= ROW_GROUP_BYTES and rows >= ROW_GROUP_MIN_ROWS)
        ):
            self.flush()

    @property
    def buffered_bytes(self) -> int:
        return self._buffered_bytes

    def flush(self) -> None:
        """Write the buffered rows as one row group."""
        rows = len(self._columns["image"])
        if not rows:
            return
        table = pa.Table.from_arrays(
            [column(self._columns[f.name], f.type) for f in self.schema], schema=self.schema
        )
        self._writer.write_table(table, row_group_size=rows)
        self.num_rows += rows
        self.num_bytes += table.nbytes
        self._columns = {name: [] for name in self.schema.names}
        self._buffered_bytes = 0

    def close(self) -> FileEntry:
        """Finish the file and move it to its final name."""
        self.flush()
        self._writer.close()
        tmp = self._partial
        record = FileEntry(
            self.relpath, self.config, self.split, self.num_rows, self.num_bytes, tmp.stat().st_size, sha256_file(tmp)
        )
        os.replace(tmp, self.path)
        return record

    def abort(self) -> None:
        """Drop the partial file (even when closing it fails, as on a full disk)."""
        try:
            self._writer.close()
        except OSError:
            pass
        finally:
            self._partial.unlink(missing_ok=True)


def flush_over_budget(writers: Iterable[ShardWriter], budget: int = BUFFER_BUDGET_BYTES) -> None:
    """Flush the fullest writers until all of them together buffer at most half of `budget`.

    Which writers flush, and so every row group's rows, follows only from the rows added so far: the
    bytes stay the same whatever the worker count or order.
    """
    writers = list(writers)
    total = sum(w.buffered_bytes for w in writers)
    if total <= budget:
        return
    for writer in sorted(writers, key=lambda w: (-w.buffered_bytes, w.relpath)):
        if total <= budget // 2:
            break
        total -= writer.buffered_bytes
        writer.flush()
