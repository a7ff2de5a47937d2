"""Per-image predictions as Arrow tables; per-config result files written atomically and reused by fingerprint."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..provenance import atomic_target

SCHEMA = pa.schema(
    [
        ("source_id", pa.string()),
        ("config", pa.string()),
        ("label", pa.int16()),
        ("prediction", pa.int16()),
        ("correct", pa.bool_()),
        ("p_true", pa.float32()),
        ("top5", pa.list_(pa.int16())),
        ("top5_raw", pa.list_(pa.int32())),
    ]
)
META_KEY = b"ximagenet12"


def make_table(config: str, source_ids: Sequence[str], labels: np.ndarray, mapped: dict) -> pa.Table:
    """One config's predictions as a table in SCHEMA."""
    n = len(source_ids)
    return pa.table(
        {
            "source_id": pa.array(list(source_ids), pa.string()),
            "config": pa.array([config] * n, pa.string()),
            "label": pa.array(np.asarray(labels, np.int16)),
            "prediction": pa.array(mapped["prediction"]),
            "correct": pa.array(mapped["correct"]),
            "p_true": pa.array(mapped["p_true"]),
            "top5": pa.array(list(mapped["top5"]), pa.list_(pa.int16())),
            "top5_raw": pa.array(list(mapped["top5_raw"]), pa.list_(pa.int32())),
        },
        schema=SCHEMA,
    )


def empty_table() -> pa.Table:
    """A table with SCHEMA and no rows."""
    return SCHEMA.empty_table()


def with_meta(table: pa.Table, meta: dict) -> pa.Table:
    """The table carrying `meta` (JSON) in its schema metadata."""
    return table.replace_schema_metadata({META_KEY: json.dumps(meta, sort_keys=True).encode()})


def read_meta(table_or_schema: pa.Table | pa.Schema) -> dict:
    """The JSON metadata stored by with_meta ({} if none)."""
    schema = table_or_schema.schema if isinstance(table_or_schema, pa.Table) else table_or_schema
    raw = (schema.metadata or {}).get(META_KEY)
    return json.loads(raw) if raw else {}


def write_table(path: str | Path, table: pa.Table) -> Path:
    """Write Parquet to a temporary file beside `path`, then rename it into place."""
    with atomic_target(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def load_cached(path: str | Path, fingerprint: str) -> pa.Table | None:
    """The cached table at `path` if it exists and was made with this fingerprint, else None."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowInvalid):
        return None
    if read_meta(schema).get("fingerprint") != fingerprint:
        return None
    return pq.read_table(path)

