"""Everything a report shows, computed once from a predictions table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from ..scenarios import mask_variant_of, order_configs
from .robustness import (
    PAPER_SCENARIOS,
    REFERENCE,
    RobustnessScore,
    bg_gap,
    robustness_score,
)
from .stats import MEANINGFUL_N, ConfigAccuracy, accuracies, class_by_config


@dataclass
class Analysis:
    """Per-config accuracy with intervals, class x config accuracy, robustness score and BG-gap."""

    configs: list[str]
    class_names: list[str]
    accuracy: list[ConfigAccuracy]
    class_accuracy: np.ndarray
    class_counts: np.ndarray
    robustness: RobustnessScore | None
    robustness_ci: tuple[float, float] | None
    robustness_note: str | None
    bg_gap: float | None
    bg_gap_ci: tuple[float, float] | None
    bootstrap: dict
    bg_gap_note: str | None = None
    by_mask_variant: dict[str, dict] = field(default_factory=dict)

    @property
    def small_configs(self) -> list[str]:
        """Configs whose accuracy rests on fewer than MEANINGFUL_N images."""
        return [row.config for row in self.accuracy if not row.meaningful]

    @property
    def counts(self) -> dict[str, int]:
        """config -> images scored."""
        return {row.config: row.n for row in self.accuracy}

    @property
    def present_classes(self) -> list[int]:
        """Labels with at least one row (the ones tables and the heatmap show)."""
        return [i for i, n in enumerate(self.class_counts.sum(axis=1)) if n > 0]

    @property
    def top1(self) -> dict[str, float]:
        """config -> top-1 accuracy."""
        return {row.config: row.top1 for row in self.accuracy}

    def to_dict(self) -> dict:
        """JSON-ready results (NaN becomes None)."""
        matrix = [[None if np.isnan(v) else float(v) for v in row] for row in self.class_accuracy]
        return {
            "accuracy": {row.config: row.to_dict() for row in self.accuracy},
            "class_by_config": {
                "classes": self.class_names,
                "configs": self.configs,
                "accuracy": matrix,
                "count": self.class_counts.tolist(),
            },
            "robustness": None
            if self.robustness is None
            else {**self.robustness.to_dict(), "ci95": list(self.robustness_ci or ())},
            "robustness_note": self.robustness_note,
            "bg_gap": None
            if self.bg_gap is None
            else {
                "value": self.bg_gap,
                "ci95": list(self.bg_gap_ci or ()),
                "definition": "top-1(mixed_same) - top-1(mixed_rand)",
                "n": {c: self.counts[c] for c in ("mixed_same", "mixed_rand")},
                "note": self.bg_gap_note,
            },
            "robustness_by_mask_variant": self.by_mask_variant,
            "not_meaningful": {
                "rule": f"fewer than {MEANINGFUL_N} images",
                "configs": self.small_configs,
            },
            "bootstrap": self.bootstrap,
        }


def config_accuracies(table: pa.Table) -> dict[str, float]:
    """config -> top-1 accuracy of a predictions table (no intervals)."""
    configs = np.asarray(table.column("config").to_pylist(), dtype=object)
    correct = table.column("correct").to_numpy(zero_copy_only=False).astype(np.float64)
    return {c: float(correct[configs == c].mean()) for c in order_configs(set(configs.tolist()))}


def analyse(
    table: pa.Table,
    class_names: Sequence[str],
    *,
    internal: Mapping[str, float] | None = None,
    method: str = "table3",
    scenarios: Sequence[str] = PAPER_SCENARIOS,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Analysis:
    """Compute every table, interval and score of a report."""
    order = order_configs(set(table.column("config").to_pylist()))
    rows, boot = accuracies(table, order, reference=REFERENCE, resamples=resamples, seed=seed, confidence=confidence)
    names = list(class_names)
    labels = table.column("label").to_numpy()
    top_label = int(labels.max()) + 1 if len(labels) else 0
    names += [f"class {i}" for i in range(len(names), top_label)]
    class_acc, class_n = class_by_config(table, order, len(names))
    top1 = {row.config: row.top1 for row in rows}

    score = score_ci = note = None
    try:
        score = robustness_score(top1, internal=internal, method=method, scenarios=scenarios)
        score_ci = boot.derived(
            lambda acc: robustness_score(acc, internal=internal, method=method, scenarios=scenarios).score
        )
        if score.missing:
            note = f"computed without {list(score.missing)}: not comparable with the paper's Table 3"
    except ValueError as error:
        note = f"no robustness score: {error}"

    small = {row.config for row in rows if not row.meaningful}
    if score is not None and small & {REFERENCE, *score.scenarios}:
        few = sorted(small & {REFERENCE, *score.scenarios}, key=order.index)
        note = "; ".join(filter(None, [note, f"not meaningful: {few} have fewer than {MEANINGFUL_N} images"]))
    gap = bg_gap(top1)
    gap_ci = boot.interval(boot.column("mixed_same") - boot.column("mixed_rand")) if gap is not None else None
    gap_note = None
    if gap is not None and small & {"mixed_same", "mixed_rand"}:
        gap_note = f"not meaningful: fewer than {MEANINGFUL_N} images"
    info = {"resamples": resamples, "seed": seed, "confidence": confidence, "unit": "source_id, paired across configs"}
    variants = mask_variant_scores(top1, boot, score, method=method, scenarios=scenarios)
    return Analysis(order, names, rows, class_acc, class_n, score, score_ci, note, gap, gap_ci, info, gap_note,
                    variants)


def mask_variant_scores(
    top1: Mapping[str, float], boot, plain: RobustnessScore | None, *, method: str, scenarios: Sequence[str]
) -> dict[str, dict]:
    """The robustness score again for each mask variant of the build (`<scenario>@<variant>` in place of each
    scenario, `original` as it is), with its interval and its change from the plain masks' score.

    The internal term is left out: a second run of the variant configs is not asked for.
    """
    out: dict[str, dict] = {}
    for variant in sorted({v for c in top1 if (v := mask_variant_of(c))}):

        def swap(acc: Mapping[str, float], variant: str = variant) -> dict[str, float]:
            swapped = {s: acc[f"{s}@{variant}"] for s in scenarios if f"{s}@{variant}" in acc}
            return {REFERENCE: acc[REFERENCE], **swapped} if REFERENCE in acc else swapped

        try:
            score = robustness_score(swap(top1), method=method, scenarios=scenarios)
        except ValueError as error:
            out[variant] = {"score": None, "note": str(error)}
            continue
        out[variant] = {
            "score": score.score,
            "ci95": list(boot.derived(lambda acc, s=swap: robustness_score(s(acc), method=method,
                                                                          scenarios=scenarios).score)),
            # Against the plain masks' external term alone, as the variant score has no internal term.
            "change": None if plain is None else plain.external.term - score.external.term,
            "scenarios": [f"{s}@{variant}" for s in score.scenarios],
            "missing": list(score.missing),
            "external": score.external.term,
        }
    return out
