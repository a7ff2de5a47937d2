"""A class x scenario top-1 heatmap (like the paper's Figure 5) as PNG, with n in each cell."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..provenance import atomic_target
from .analysis import Analysis
from .stats import MEANINGFUL_N


def write_heatmap(analysis: Analysis, path: str | Path, title: str = "") -> Path:
    """Draw class x scenario top-1 with values and image counts; hatch cells from fewer than MEANINGFUL_N images."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    shown = analysis.present_classes
    data = analysis.class_accuracy[shown] * 100
    counts = analysis.class_counts[shown]
    rows, cols = data.shape
    fig, ax = plt.subplots(figsize=(1.6 + 0.78 * cols, 1.7 + 0.5 * rows), dpi=110)
    image = ax.imshow(np.ma.masked_invalid(data), cmap="RdYlGn", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(cols), analysis.configs, rotation=45, ha="right")
    ax.set_yticks(range(rows), [analysis.class_names[i] for i in shown])
    small = False
    for i in range(rows):
        for j in range(cols):
            if np.isnan(data[i, j]):
                continue
            shade = "black" if 25 <= data[i, j] <= 85 else "white"
            ax.text(j, i, f"{data[i, j]:.0f}\nn={counts[i, j]}", ha="center", va="center", fontsize=6.5,
                    color=shade, linespacing=0.95)
            if counts[i, j] < MEANINGFUL_N:
                small = True
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", lw=0, ec="0.35"))
    fig.colorbar(image, ax=ax, label="top-1 (%)", fraction=0.04)
    heading = title or "Top-1 per class and scenario"
    if small:
        heading += f"\nhatched: fewer than {MEANINGFUL_N} images, not meaningful"
    ax.set_title(heading, fontsize=9)
    fig.tight_layout()
    with atomic_target(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)
