"""leaderboard.png: robustness score against original top-1 (one labelled point per model), and top-1 per scenario."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..provenance import atomic_target
from .leaderboard import Entry, configs_of
from .robustness import REFERENCE
from .stats import MEANINGFUL_N

MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def _interval(record: dict, low: str, high: str, value: float) -> tuple[float, float]:
    """Distances below and above `value` of an interval (0 where unknown)."""
    lo, hi = record.get(low), record.get(high)
    if lo is None or hi is None:
        return 0.0, 0.0
    return max(0.0, value - lo), max(0.0, hi - value)


def write_chart(entries: Sequence[Entry], path: str | Path) -> Path:
    """Two panels side by side; error bars are the runs' 95% bootstrap intervals."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    configs = configs_of(entries)
    colours = plt.get_cmap("tab10")(np.arange(len(entries)) % 10)
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(4.6 + 0.55 * len(configs) * max(1, len(entries)) / 3, 4.4), dpi=110,
        gridspec_kw={"width_ratios": [1, 2.6]},
    )
    scored = [(e, c) for e, c in zip(entries, colours, strict=True) if e.score is not None and REFERENCE in e.accuracy]
    placed: dict[tuple[float, float], int] = {}
    for k, (entry, colour) in enumerate(scored):
        record = entry.accuracy[REFERENCE]
        x, y = 100 * record["top1"], entry.score
        xerr = np.asarray(_interval(record, "ci_low", "ci_high", record["top1"]))[:, None] * 100
        ci = entry.score_ci or [None, None]
        yerr = np.asarray(_interval({"l": ci[0], "h": ci[1]}, "l", "h", y))[:, None]
        # markers shrink model by model, so runs at the same point stay visible as concentric marks
        left.errorbar(x, y, xerr=xerr, yerr=yerr, fmt=MARKERS[k % len(MARKERS)], color=colour, capsize=3,
                      ms=max(4.0, 11.0 - 2.5 * k), lw=1, zorder=3 + k)
        same = placed.get((round(x, 6), round(y, 6)), 0)
        placed[(round(x, 6), round(y, 6))] = same + 1
        left.annotate(entry.name, (x, y), textcoords="offset points", xytext=(8, 6 - 11 * same), fontsize=8,
                      color=colour)
    if not scored:
        left.text(0.5, 0.5, "no robustness scores", ha="center", va="center", transform=left.transAxes)
    left.set_xlabel(f"top-1 on `{REFERENCE}` (%)")
    left.set_ylabel("robustness score (Table 3)")
    left.set_title("Score against original accuracy", fontsize=10)
    left.grid(alpha=0.3)
    left.margins(0.3)
    low, high = left.get_xlim()
    left.set_xlim(max(low, -2.0), min(high, 102.0) if high > 100 else high)
    low, high = left.get_ylim()
    left.set_ylim(low, min(high, 1.02) if high > 1 else high)

    width = 0.8 / max(1, len(entries))
    positions = np.arange(len(configs))
    small = False
    for k, (entry, colour) in enumerate(zip(entries, colours, strict=True)):
        values, errors = [], []
        for config in configs:
            record = entry.accuracy.get(config)
            if not record:
                values.append(np.nan)
                errors.append((0.0, 0.0))
                continue
            small = small or record["n"] < MEANINGFUL_N
            values.append(100 * record["top1"])
            errors.append(tuple(100 * v for v in _interval(record, "ci_low", "ci_high", record["top1"])))
        offsets = positions - 0.4 + width * (k + 0.5)
        right.bar(offsets, values, width, color=colour, label=entry.name, yerr=np.asarray(errors).T,
                  error_kw={"lw": 0.8, "capsize": 2, "ecolor": "0.3"})
    right.set_xticks(positions, configs, rotation=45, ha="right")
    right.set_ylabel("top-1 (%)")
    right.set_ylim(0, 118)  # headroom for the legend above the 100% bars
    right.set_yticks(range(0, 101, 20))
    title = "Top-1 per scenario (95% CI)"
    if small:
        title += f": some from fewer than {MEANINGFUL_N} images, not meaningful"
    right.set_title(title, fontsize=10)
    right.legend(fontsize=8, ncol=min(len(entries), 4), loc="upper center", frameon=False)
    right.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    with atomic_target(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)
