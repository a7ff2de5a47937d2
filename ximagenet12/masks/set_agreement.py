"""Agreement between mask sets: every source two sets share compared, summarised per pair and class.

`agreement(a, b, ...)` matches sources by id across two or more mask sets (folders, COCO files or
in-memory masks, see `mask_sets`), compares every pair of sets on every source both hold
(`metrics.compare_masks`), and summarises each measure per pair of sets and per class: mean and
median with percentile-bootstrap intervals (sources resampled with replacement, one generator per
pair and class seeded from the run's seed, so the numbers do not depend on order), and the sources
that agree least (lowest IoU). Sources missing from some set are listed as unmatched, unreadable
masks and masks of different sizes as problems; both are left out of the numbers, never guessed.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from ..classes import CLASSES
from ..provenance import fingerprint
from .mask_sets import CLASS_TABLE, MaskSet, Problem, open_mask_set
from .metrics import DEFAULT_TOLERANCE, compare_masks
from .readers import MaskError

METRICS = ("iou", "dice", "boundary_f", "hd95", "area_ratio", "centroid_shift")
ALL_CLASSES = "all"
UNKNOWN_CLASS = "unknown"
_CHUNK = 1 << 22  # bootstrap elements drawn at once


@dataclass(frozen=True)
class Unmatched:
    """A source some sets have and others lack."""

    source_id: str
    present: tuple[str, ...]
    missing: tuple[str, ...]

    def to_dict(self) -> dict:
        """Plain record."""
        return {"source_id": self.source_id, "present": list(self.present), "missing": list(self.missing)}


@dataclass(frozen=True)
class Summary:
    """One measure over the sources of one pair of sets and one class (or all classes)."""

    set_a: str
    set_b: str
    wnid: str
    class_name: str
    metric: str
    n: int  # sources compared
    defined: int  # sources where the measure has a value
    mean: float | None
    mean_low: float | None
    mean_high: float | None
    median: float | None
    median_low: float | None
    median_high: float | None

    def to_dict(self) -> dict:
        """Plain record."""
        return asdict(self)


@dataclass
class Agreement:
    """What `agreement` found: one row per source and pair, summaries, the worst sources, what was left out."""

    sets: list[MaskSet]
    rows: list[dict]
    summaries: list[Summary]
    worst: dict[tuple[str, str, str], list[str]]  # (set_a, set_b, wnid or "all") -> source ids, worst first
    unmatched: list[Unmatched]
    problems: list[Problem]
    settings: dict[str, Any]
    class_names: dict[str, str] = field(default_factory=dict)

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """Every pair of set names compared, in argument order."""
        return [(a.name, b.name) for a, b in combinations(self.sets, 2)]

    def summary(self, set_a: str, set_b: str, metric: str, wnid: str = ALL_CLASSES) -> Summary:
        """The summary of one measure for one pair and class."""
        for s in self.summaries:
            if (s.set_a, s.set_b, s.metric, s.wnid) == (set_a, set_b, metric, wnid):
                return s
        raise KeyError(f"no summary of {metric} for {set_a} vs {set_b}, class {wnid}")

    def table(self):  # -> pyarrow.Table
        """The per-source rows as a pyarrow Table (None where a measure has no value, never NaN)."""
        import pyarrow as pa

        schema = pa.schema(
            [("set_a", pa.string()), ("set_b", pa.string()), ("source_id", pa.string()), ("wnid", pa.string()),
             ("class_name", pa.string()), ("height", pa.int32()), ("width", pa.int32()),
             ("area_a", pa.int64()), ("area_b", pa.int64()),
             *[(m, pa.float64()) for m in ("iou", "dice", "boundary_precision", "boundary_recall", "boundary_f",
                                            "hd95", "area_ratio", "centroid_shift", "tolerance")],
             ("tolerance_px", pa.int32()), ("note", pa.string()), ("file_a", pa.string()), ("file_b", pa.string())],
            metadata={"ximagenet12.agreement": json.dumps(self.settings, sort_keys=True)},
        )
        return pa.Table.from_pylist(self.rows, schema=schema)


def _class_tables(paths: Iterable[str], problems: list[Problem]) -> dict[str, str]:
    """wnid -> name from the 12 classes and any `classes.json` in or up to two folders above a set."""
    names = {c.wnid: c.name for c in CLASSES}
    seen: set[Path] = set()
    for root in paths:
        start = Path(root)
        start = start if start.is_dir() else start.parent
        for folder in [start, *list(start.resolve().parents)[:2]]:
            table = folder / CLASS_TABLE
            if table in seen or not table.is_file():
                continue
            seen.add(table)
            try:
                rows = json.loads(table.read_text(encoding="utf-8"))
                names.update({str(r["wnid"]): str(r["name"]) for r in rows})
            except (ValueError, KeyError, TypeError) as error:
                problems.append(Problem(str(table), f"not a class table (list of {{wnid, name}}): {error}"))
    return names


def _group_seed(seed: int, *parts: str) -> np.random.Generator:
    return np.random.default_rng(int(fingerprint([seed, *parts])[:16], 16))


def _interval(samples: np.ndarray, confidence: float) -> tuple[float | None, float | None]:
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return None, None
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap(
    values: np.ndarray, rng: np.random.Generator, *, resamples: int, confidence: float
) -> list[tuple[float | None, ...]]:
    """Per column of `values` (sources x measures, NaN = no value): mean, its interval, median, its interval.

    Sources are resampled with replacement (the same draws for every measure); a resample in which
    a measure has no value at all is left out of that measure's interval.
    """
    n, columns = values.shape
    means = np.empty((resamples, columns))
    medians = np.empty((resamples, columns))
    step = max(1, _CHUNK // max(1, n * columns))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN resamples: left out below
        for start in range(0, resamples, step):
            count = min(step, resamples - start)
            drawn = values[rng.integers(0, n, size=(count, n))]
            means[start : start + count] = np.nanmean(drawn, axis=1)
            medians[start : start + count] = np.nanmedian(drawn, axis=1)
    out = []
    for column in range(columns):
        defined = values[:, column][np.isfinite(values[:, column])]
        if defined.size == 0:
            out.append((None,) * 6)
            continue
        mean_low, mean_high = _interval(means[:, column], confidence)
        median_low, median_high = _interval(medians[:, column], confidence)
        out.append((float(defined.mean()), mean_low, mean_high, float(np.median(defined)), median_low, median_high))
    return out


def _summarise(
    rows: list[dict], pairs: Sequence[tuple[str, str]], names: Mapping[str, str], *, resamples: int,
    confidence: float, seed: int, worst: int,
) -> tuple[list[Summary], dict[tuple[str, str, str], list[str]]]:
    summaries: list[Summary] = []
    worst_of: dict[tuple[str, str, str], list[str]] = {}
    for set_a, set_b in pairs:
        pair_rows = [r for r in rows if (r["set_a"], r["set_b"]) == (set_a, set_b)]
        wnids = sorted({r["wnid"] for r in pair_rows})
        for wnid in [ALL_CLASSES, *wnids]:
            group = pair_rows if wnid == ALL_CLASSES else [r for r in pair_rows if r["wnid"] == wnid]
            if not group:
                continue
            values = np.array([[np.nan if r[m] is None else r[m] for m in METRICS] for r in group], np.float64)
            rng = _group_seed(seed, set_a, set_b, wnid)
            stats = bootstrap(values, rng, resamples=resamples, confidence=confidence)
            name = "all classes" if wnid == ALL_CLASSES else names.get(wnid, wnid)
            for metric, column, numbers in zip(METRICS, values.T, stats, strict=True):
                defined = int(np.isfinite(column).sum())
                summaries.append(Summary(set_a, set_b, wnid, name, metric, len(group), defined, *numbers))
            ranked = sorted(group, key=lambda r: (r["iou"], r["boundary_f"], r["source_id"]))
            worst_of[(set_a, set_b, wnid)] = [r["source_id"] for r in ranked[:worst]]
    return summaries, worst_of


def _open(item: str | Path | MaskSet | tuple[str, Mapping[str, np.ndarray]]) -> MaskSet:
    if isinstance(item, MaskSet):
        return item
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Mapping):
        return MaskSet.from_arrays(item[0], item[1])
    if isinstance(item, (str, Path)):
        return open_mask_set(item if isinstance(item, str) else Path(item))
    raise TypeError(f"a mask set is a path, 'name=path', a MaskSet or (name, {{id: mask}}), got {type(item).__name__}")


def agreement(
    *sets: str | Path | MaskSet | tuple[str, Mapping[str, np.ndarray]],
    tolerance: float = DEFAULT_TOLERANCE,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    worst: int = 3,
    class_names: Mapping[str, str] | None = None,
) -> Agreement:
    """Compare two or more mask sets source by source, and summarise per pair of sets and per class.

    Each set is a folder or COCO file (optionally 'name=path'), a `MaskSet`, or (name, {source
    id: mask}). `tolerance` is the boundary tolerance, a fraction of the image diagonal (< 1) or
    pixels (>= 1); `resamples`, `confidence` and `seed` set the bootstrap; `worst` how many
    sources each summary lists as least agreeing.
    """
    opened = [_open(item) for item in sets]
    if len(opened) < 2:
        raise ValueError(f"agreement needs at least two mask sets, got {len(opened)}")
    duplicates = sorted({s.name for s in opened if [t.name for t in opened].count(s.name) > 1})
    if duplicates:
        raise ValueError(f"two mask sets are named {duplicates[0]!r}: name them, e.g. v7=PATH grabcut=PATH")
    if resamples < 1 or not 0 < confidence < 1:
        raise ValueError(f"bootstrap needs resamples >= 1 and 0 < confidence < 1, got {resamples}, {confidence}")
    if not (math.isfinite(tolerance) and tolerance > 0):
        raise ValueError(f"boundary tolerance must be a positive number, got {tolerance}")
    problems = [p for s in opened for p in s.problems]
    names = _class_tables([s.root for s in opened if s.kind != "arrays"], problems)
    names.update(class_names or {})

    rows: list[dict] = []
    unmatched: list[Unmatched] = []
    every_id = sorted(set().union(*(s.entries for s in opened)))
    for sid in every_id:
        present = [s for s in opened if sid in s.entries]
        if len(present) < len(opened):
            unmatched.append(Unmatched(sid, tuple(s.name for s in present),
                                       tuple(s.name for s in opened if sid not in s.entries)))
        masks: dict[str, np.ndarray] = {}
        for s in present:
            try:
                masks[s.name] = s.load(sid)
            except (MaskError, OSError) as error:
                problems.append(Problem(s.entries[sid].path, f"{error}".removeprefix(f"{s.entries[sid].path}: ")))
        for a, b in combinations(opened, 2):
            if a.name not in masks or b.name not in masks:
                continue
            ma, mb = masks[a.name], masks[b.name]
            if ma.shape != mb.shape:
                problems.append(Problem(b.entries[sid].path, f"mask is {mb.shape[0]}x{mb.shape[1]}, the {a.name!r} "
                                        f"mask of {sid} is {ma.shape[0]}x{ma.shape[1]}: pair left out"))
                continue
            entry = a.entries[sid]
            wnid = entry.wnid or b.entries[sid].wnid or UNKNOWN_CLASS
            metrics = compare_masks(ma, mb, tolerance=tolerance).to_dict()
            rows.append({"set_a": a.name, "set_b": b.name, "source_id": sid, "wnid": wnid,
                         "class_name": names.get(wnid, wnid), **metrics,
                         "file_a": _where(entry), "file_b": _where(b.entries[sid])})
    pairs = [(a.name, b.name) for a, b in combinations(opened, 2)]
    summaries, worst_of = _summarise(rows, pairs, names, resamples=resamples, confidence=confidence, seed=seed,
                                     worst=worst)
    settings = {
        "sets": [{"name": s.name, "path": s.root, "kind": s.kind, "masks": len(s)} for s in opened],
        "tolerance": tolerance, "tolerance_note": "fraction of the image diagonal (< 1) or pixels (>= 1), rounded up",
        "resamples": resamples, "confidence": confidence, "seed": seed, "worst": worst,
        "metrics": list(METRICS),
    }
    used = {r["wnid"] for r in rows}
    return Agreement(opened, rows, summaries, worst_of, unmatched, problems, settings,
                     {w: names.get(w, w) for w in sorted(used)})


def _where(entry) -> str:
    return entry.path if entry.key is None else f"{entry.path} [{entry.key}]"
