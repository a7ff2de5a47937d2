"""A class x scenario top-1 heatmap (like the paper's Figure 5) as PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..provenance import atomic_target
from .analysis import Analysis


def write_heatmap(analysis: Analysis, path: str | Path, title: str = "") -> Path:
    """Draw class x scenario top-1 accuracy with values in the cells; write it to `path`."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    shown = analysis.present_classes
    data = analysis.class_accuracy[shown] * 100
    rows, cols = data.shape
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * cols, 1.2 + 0.45 * rows), dpi=110)
    masked = np.ma.masked_invalid(data)
    image = ax.imshow(masked, cmap="RdYlGn", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(cols), analysis.configs, rotation=45, ha="right")
    ax.set_yticks(range(rows), [analysis.class_names[i] for i in shown])
    for i in range(rows):
        for j in range(cols):
            if not np.isnan(data[i, j]):
                shade = "black" if 25 <= data[i, j] <= 85 else "white"
                ax.text(j, i, f"{data[i, j]:.0f}", ha="center", va="center", fontsize=7, color=shade)
    fig.colorbar(image, ax=ax, label="top-1 (%)", fraction=0.04)
    ax.set_title(title or "Top-1 per class and scenario", fontsize=10)
    fig.tight_layout()
    with atomic_target(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)
