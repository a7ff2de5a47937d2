"""Accuracies with 95% intervals from a bootstrap over source images, paired across configs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa

MEANINGFUL_N = 30  # fewer images than this: an accuracy whose 95% interval spans tens of points


@dataclass(frozen=True)
class ConfigAccuracy:
    """Top-1 (and top-5) of one config, its interval and its drop from the reference config."""

    config: str
    n: int
    correct: int
    top1: float
    ci_low: float
    ci_high: float
    drop: float | None
    drop_ci_low: float | None
    drop_ci_high: float | None
    top5: float | None

    @property
    def meaningful(self) -> bool:
        """Whether enough images back the accuracy (at least MEANINGFUL_N)."""
        return self.n >= MEANINGFUL_N

    def to_dict(self) -> dict:
        """JSON-ready record."""
        return {**asdict(self), "meaningful": self.meaningful}


class Bootstrap:
    """Joint bootstrap samples of every config's accuracy: source ids resampled with replacement."""

    def __init__(
        self,
        source_ids: np.ndarray,
        configs: np.ndarray,
        correct: np.ndarray,
        order: Sequence[str],
        *,
        resamples: int = 1000,
        seed: int = 0,
        confidence: float = 0.95,
    ) -> None:
        self.order = list(order)
        self.confidence = confidence
        self.resamples = resamples
        self.seed = seed
        ids, index = np.unique(source_ids, return_inverse=True)
        size = len(ids)
        hits = np.zeros((len(self.order), size))
        counts = np.zeros((len(self.order), size))
        for row, config in enumerate(self.order):
            mask = configs == config
            hits[row] = np.bincount(index[mask], weights=correct[mask], minlength=size)
            counts[row] = np.bincount(index[mask], minlength=size)
        rng = np.random.default_rng(seed)
        chunks = []
        for start in range(0, resamples, 100):
            draws = min(100, resamples - start)
            weights = rng.multinomial(size, np.full(size, 1.0 / size), size=draws).astype(np.float64)
            with np.errstate(invalid="ignore", divide="ignore"):
                chunks.append((weights @ hits.T) / (weights @ counts.T))
        self.samples = np.concatenate(chunks) if chunks else np.empty((0, len(self.order)))

    def column(self, config: str) -> np.ndarray:
        """Bootstrap samples of one config's accuracy."""
        return self.samples[:, self.order.index(config)]

    def interval(self, values: np.ndarray) -> tuple[float, float]:
        """Percentile interval of a statistic's bootstrap samples."""
        tail = (1.0 - self.confidence) / 2 * 100
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return (float("nan"), float("nan"))
        low, high = np.percentile(finite, [tail, 100 - tail])
        return float(low), float(high)

    def derived(self, statistic: Callable[[dict[str, float]], float | None]) -> tuple[float, float]:
        """Interval of any statistic of the per-config accuracies (e.g. a robustness score)."""
        values = []
        for row in self.samples:
            value = statistic(dict(zip(self.order, row.tolist(), strict=True)))
            values.append(np.nan if value is None else value)
        return self.interval(np.asarray(values, dtype=np.float64))


def top5_hits(table: pa.Table) -> np.ndarray | None:
    """Per row: label within top5 (None if the table has no top5 column)."""
    if "top5" not in table.column_names:
        return None
    lists = table.column("top5").combine_chunks()
    offsets = lists.offsets.to_numpy()
    values = lists.values.to_numpy(zero_copy_only=False)
    rows = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    labels = table.column("label").to_numpy()
    hit = values == labels[rows]
    return np.bincount(rows, weights=hit, minlength=len(offsets) - 1) > 0


def accuracies(
    table: pa.Table,
    order: Sequence[str],
    *,
    reference: str = "original",
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[list[ConfigAccuracy], Bootstrap]:
    """Per-config top-1 with bootstrap intervals, and the drop from the reference with its interval."""
    configs = np.asarray(table.column("config").to_pylist(), dtype=object)
    correct = table.column("correct").to_numpy(zero_copy_only=False).astype(np.float64)
    source_ids = np.asarray(table.column("source_id").to_pylist(), dtype=object)
    boot = Bootstrap(
        source_ids, configs, correct, order, resamples=resamples, seed=seed, confidence=confidence
    )
    top5 = top5_hits(table)
    rows = []
    base = float(correct[configs == reference].mean()) if reference in order else None
    for config in order:
        mask = configs == config
        n = int(mask.sum())
        top1 = float(correct[mask].mean())
        low, high = boot.interval(boot.column(config))
        drop = drop_low = drop_high = None
        if base is not None:
            drop = top1 - base
            drop_low, drop_high = boot.interval(boot.column(config) - boot.column(reference))
        top5_value = float(top5[mask].mean()) if top5 is not None else None
        rows.append(
            ConfigAccuracy(config, n, int(correct[mask].sum()), top1, low, high, drop, drop_low, drop_high, top5_value)
        )
    return rows, boot


def class_by_config(table: pa.Table, order: Sequence[str], num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(accuracy, count) matrices of shape (num_classes, len(order)); accuracy NaN where no rows."""
    configs = np.asarray(table.column("config").to_pylist(), dtype=object)
    labels = table.column("label").to_numpy().astype(np.int64)
    correct = table.column("correct").to_numpy(zero_copy_only=False).astype(np.float64)
    hits = np.zeros((num_classes, len(order)))
    counts = np.zeros((num_classes, len(order)))
    for col, config in enumerate(order):
        mask = configs == config
        hits[:, col] = np.bincount(labels[mask], weights=correct[mask], minlength=num_classes)
        counts[:, col] = np.bincount(labels[mask], minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return hits / counts, counts.astype(np.int64)
