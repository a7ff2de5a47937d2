"""Object focus per scenario and class, with bootstrap intervals over source images, and its shift from `original`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa

from ..robustness import REFERENCE
from ..source import order_configs
from ..stats import MEANINGFUL_N, Bootstrap
from .metrics import METRICS

# the level each measure reaches by chance: a map spread evenly over what the model saw
CHANCE = {"relevance_mass": "object_share", "rank_accuracy": "object_share", "pointing_game": "pointing_share",
          "energy_pointing_game": "box_share"}
FOCUS = "relevance_mass"  # the headline measure: the leaderboard's "object focus"


@dataclass(frozen=True)
class Cell:
    """One measure over one group of rows: mean, interval, chance level and shift from `original`."""

    n: int
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    chance: float | None
    shift: float | None = None
    shift_ci_low: float | None = None
    shift_ci_high: float | None = None

    @property
    def meaningful(self) -> bool:
        """Whether enough images back the mean (at least MEANINGFUL_N)."""
        return self.n >= MEANINGFUL_N

    def to_dict(self) -> dict:
        """JSON-ready record."""
        return {**asdict(self), "meaningful": self.meaningful}


@dataclass
class ExplainAnalysis:
    """Every table of an explanation report."""

    configs: list[str]
    class_names: list[str]
    cells: dict[str, dict[str, Cell]]  # config -> measure -> cell
    classes: dict[int, dict[str, Cell]]  # label -> config -> relevance mass cell
    undefined: dict[str, dict[str, int]]  # config -> reason -> rows
    bootstrap: dict

    def focus(self, config: str = REFERENCE) -> Cell | None:
        """The relevance mass of one config (the leaderboard's object focus)."""
        return self.cells.get(config, {}).get(FOCUS)

    def to_dict(self) -> dict:
        """JSON-ready results."""
        focus = self.focus()
        return {
            "scenarios": {c: {m: cell.to_dict() for m, cell in cells.items()} for c, cells in self.cells.items()},
            "classes": {self.class_names[label]: {c: cell.to_dict() for c, cell in cells.items()}
                        for label, cells in self.classes.items()},
            "undefined": self.undefined,
            "object_focus": None if focus is None else {
                "config": REFERENCE, "measure": FOCUS, **focus.to_dict()},
            "not_meaningful": {"rule": f"fewer than {MEANINGFUL_N} images"},
            "bootstrap": self.bootstrap,
        }


def _column(table: pa.Table, name: str) -> np.ndarray:
    """A nullable float column as float64 with NaN for nulls."""
    return np.asarray(table.column(name).to_pylist(), dtype=np.float64)


def measure_cells(
    source_ids: np.ndarray,
    configs: np.ndarray,
    values: np.ndarray,
    chance: np.ndarray,
    order: Sequence[str],
    *,
    resamples: int,
    seed: int,
    confidence: float = 0.95,
) -> dict[str, Cell]:
    """config -> Cell of one measure; rows where it is undefined (NaN) left out; shifts paired by source."""
    valid = np.isfinite(values)
    present = [c for c in order if (valid & (configs == c)).any()]
    boot = None
    if present:
        boot = Bootstrap(source_ids[valid], configs[valid], values[valid], present, resamples=resamples, seed=seed,
                         confidence=confidence)
    cells = {}
    for config in order:
        rows = valid & (configs == config)
        n = int(rows.sum())
        if n == 0 or boot is None:
            cells[config] = Cell(0, None, None, None, None)
            continue
        low, high = boot.interval(boot.column(config))
        chances = chance[rows][np.isfinite(chance[rows])]
        shift = shift_low = shift_high = None
        if REFERENCE in present and config != REFERENCE:
            reference = valid & (configs == REFERENCE)
            shift = float(values[rows].mean() - values[reference].mean())
            shift_low, shift_high = boot.interval(boot.column(config) - boot.column(REFERENCE))
        cells[config] = Cell(n, float(values[rows].mean()), low, high,
                             float(chances.mean()) if chances.size else None, shift, shift_low, shift_high)
    return cells


def summarise(
    table: pa.Table, class_names: Sequence[str], *, resamples: int = 1000, seed: int = 0, confidence: float = 0.95
) -> ExplainAnalysis:
    """Every measure per config, relevance mass per class and config, and the reasons for undefined rows."""
    order = order_configs(set(table.column("config").to_pylist()))
    configs = np.asarray(table.column("config").to_pylist(), dtype=object)
    source_ids = np.asarray(table.column("source_id").to_pylist(), dtype=object)
    labels = table.column("label").to_numpy().astype(np.int64)
    options = {"resamples": resamples, "seed": seed, "confidence": confidence}
    per_measure = {
        m: measure_cells(source_ids, configs, _column(table, m), _column(table, CHANCE[m]), order, **options)
        for m in METRICS
    }
    cells = {c: {m: per_measure[m][c] for m in METRICS} for c in order}
    names = list(class_names) + [f"class {i}" for i in range(len(class_names), int(labels.max(initial=-1)) + 1)]
    mass, mass_chance = _column(table, FOCUS), _column(table, CHANCE[FOCUS])
    classes = {}
    for label in sorted(set(labels.tolist())):
        rows = labels == label
        classes[label] = measure_cells(source_ids[rows], configs[rows], mass[rows], mass_chance[rows], order,
                                       **options)
    undefined: dict[str, dict[str, int]] = {}
    for config, note in zip(configs.tolist(), table.column("note").to_pylist(), strict=True):
        if note:
            reasons = undefined.setdefault(config, {})
            reasons[note] = reasons.get(note, 0) + 1
    info = {**options, "unit": "source_id, paired across configs", "interval": "percentile"}
    return ExplainAnalysis(order, names, cells, classes, undefined, info)
