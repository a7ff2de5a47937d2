"""Predictions checked before they are scored: the file, column types, NaN, duplicates, and the build's rows.

Every fault is a one-line `DataError` naming the file and what is wrong, so a file that is not what it
claims never yields a score (an all-NaN file used to score 1.0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import DataError, XImageNet12Error
from .source import BuildSource

KEY = ("source_id", "config")
INTEGERS = ("label", "prediction")
REQUIRED = (*KEY, *INTEGERS)


def read_predictions(path: str | Path, *, num_classes: int | None = None) -> pa.Table:
    """A predictions Parquet made here or elsewhere, checked (see `check_predictions`); `correct` derived if absent."""
    path = Path(path)
    if not path.exists():
        raise XImageNet12Error(f"{path} does not exist")
    if path.is_dir():
        raise XImageNet12Error(f"{path} is a folder, not a predictions Parquet file")
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty (0 bytes), not a predictions Parquet file")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(f"{path} is not a readable Parquet file ({first})") from None
    return check_predictions(table, str(path), num_classes=num_classes)


def _integers(table: pa.Table, name: str, where: str) -> pa.Array:
    """A column as int16, refusing strings, NaN, nulls and fractions."""
    column = table.column(name).combine_chunks()
    kind = column.type
    if pa.types.is_dictionary(kind):
        column, kind = column.dictionary_decode(), kind.value_type
    if column.null_count:
        raise DataError(f"{where}: column {name!r} has {column.null_count} empty values")
    if pa.types.is_floating(kind):
        values = column.to_numpy(zero_copy_only=False)
        nan = int(np.isnan(values).sum())
        if nan:
            raise DataError(f"{where}: column {name!r} has {nan} NaN values of {len(values)}")
        if not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
            raise DataError(f"{where}: column {name!r} holds fractional or infinite values; class indices are integers")
        return pa.array(values.astype(np.int64)).cast(pa.int16())
    if not pa.types.is_integer(kind):
        raise DataError(f"{where}: column {name!r} must hold integer class indices, found {kind}")
    values = column.to_numpy()
    if len(values) and (values.min() < -1 or values.max() > np.iinfo(np.int16).max):
        raise DataError(f"{where}: column {name!r} holds {values.min()}..{values.max()}, not class indices")
    return column.cast(pa.int16())


def _strings(table: pa.Table, name: str, where: str) -> pa.Array:
    """A column as strings, refusing other types, nulls and empty strings."""
    column = table.column(name).combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        raise DataError(f"{where}: column {name!r} must hold strings, found {column.type}")
    if column.null_count:
        raise DataError(f"{where}: column {name!r} has {column.null_count} empty values")
    column = column.cast(pa.string())
    if len(column) and pc.min(pc.utf8_length(column)).as_py() == 0:
        raise DataError(f"{where}: column {name!r} has empty strings")
    return column


def check_predictions(table: pa.Table, where: str, *, num_classes: int | None = None) -> pa.Table:
    """The table with typed columns, or a DataError: missing columns, no rows, bad types, NaN, duplicates."""
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise DataError(f"{where}: lacks columns {missing}; predictions need {list(REQUIRED)}")
    if table.num_rows == 0:
        raise DataError(f"{where}: has no rows")
    checked = {name: _strings(table, name, where) for name in KEY}
    checked |= {name: _integers(table, name, where) for name in INTEGERS}
    labels = checked["label"].to_numpy()
    predictions = checked["prediction"].to_numpy()
    if labels.min() < 0 or (num_classes is not None and labels.max() >= num_classes):
        top = f"0..{num_classes - 1}" if num_classes else "0 or more"
        raise DataError(f"{where}: labels run {labels.min()}..{labels.max()}; they must be {top}")
    if num_classes is not None and predictions.max() >= num_classes:
        raise DataError(f"{where}: predictions reach {predictions.max()}; this build has {num_classes} classes")
    keys = pa.table({k: checked[k] for k in KEY})
    counts = keys.group_by(list(KEY)).aggregate([([], "count_all")])
    repeated = counts.filter(pc.greater(counts.column("count_all"), 1))
    if repeated.num_rows:
        first = repeated.slice(0, 1).to_pylist()[0]
        raise DataError(f"{where}: {repeated.num_rows} (source_id, config) pairs appear more than once, "
                        f"e.g. ({first['source_id']!r}, {first['config']!r}) {first['count_all']} times")
    derived = predictions == labels
    if "correct" in table.column_names:
        stored = table.column("correct").combine_chunks()
        if not pa.types.is_boolean(stored.type) or stored.null_count:
            raise DataError(f"{where}: column 'correct' must be true/false without empty values")
        disagree = int((stored.to_numpy(zero_copy_only=False) != derived).sum())
        if disagree:
            raise DataError(f"{where}: column 'correct' disagrees with prediction == label in {disagree} rows")
    out = table
    for name, column in checked.items():
        out = out.set_column(out.column_names.index(name), name, column)
    if "correct" not in out.column_names:
        out = out.append_column("correct", pa.array(derived))
    return out


@dataclass
class Coverage:
    """How a predictions table covers a build's split: rows per config expected and present."""

    split: str
    expected: dict[str, int] = field(default_factory=dict)
    present: dict[str, int] = field(default_factory=dict)

    @property
    def missing(self) -> dict[str, int]:
        """config -> images of the build's split without a prediction."""
        return {c: self.expected[c] - self.present[c] for c in self.expected if self.present[c] < self.expected[c]}

    def to_dict(self) -> dict:
        """JSON-ready record."""
        return {"split": self.split, "expected": self.expected, "present": self.present, "missing": self.missing,
                "complete": not self.missing}


def check_against_build(
    table: pa.Table, source: BuildSource, split: str, *, allow_partial: bool = False, where: str = "predictions"
) -> Coverage:
    """Every row names an image of the build's split with the build's label; each config's rows all present
    (or `allow_partial`, with what is missing counted); a DataError otherwise."""
    coverage = Coverage(split)
    configs = np.asarray(table.column("config").to_pylist(), dtype=object)
    ids = np.asarray(table.column("source_id").to_pylist(), dtype=object)
    labels = table.column("label").to_numpy()
    for config in sorted(set(configs.tolist())):
        if config not in source.configs or split not in source.splits(config):
            raise DataError(f"{where}: config {config!r} has no {split!r} split in {source.location}")
        build = _build_labels(source, config, split)
        rows = configs == config
        unknown = [s for s in ids[rows] if s not in build]
        if unknown:
            raise DataError(f"{where}: {len(unknown)} rows of {config!r} name images that are not in the build's "
                            f"{split!r} split, e.g. {unknown[0]!r}")
        wrong = [(s, int(lab), build[s]) for s, lab in zip(ids[rows], labels[rows], strict=True) if build[s] != lab]
        if wrong:
            source_id, theirs, ours = wrong[0]
            raise DataError(f"{where}: {len(wrong)} rows of {config!r} disagree with the build's labels, "
                            f"e.g. {source_id!r} has label {theirs}, the build says {ours}")
        coverage.expected[config] = len(build)
        coverage.present[config] = int(rows.sum())
    if coverage.missing and not allow_partial:
        config, count = next(iter(coverage.missing.items()))
        raise DataError(f"{where}: {config!r} lacks {count} of the build's {coverage.expected[config]} images "
                        f"of split {split!r} ({len(coverage.missing)} configs incomplete); "
                        "pass --allow-partial to score the rows present")
    return coverage


def _build_labels(source: BuildSource, config: str, split: str) -> dict[str, int]:
    """source_id -> label of a config's split in the build."""
    out: dict[str, int] = {}
    for path in source.files(config, split):
        with source.parquet(path) as parquet:
            part = parquet.read(columns=["source_id", "label"])
        out.update(zip(part.column("source_id").to_pylist(), part.column("label").to_pylist(), strict=True))
    return out
