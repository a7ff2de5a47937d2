"""What the backgrounds challenge found: accuracy with its interval, per class, and the most fooling backgrounds."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..provenance import atomic_target
from .challenge import DEFINITION, REFERENCE
from .stats import MEANINGFUL_N, Bootstrap


@dataclass(frozen=True)
class FoolingBackground:
    """A background and how many of the foregrounds pasted on it the model got wrong."""

    source_id: str
    label: int
    fooled: int
    met: int

    @property
    def rate(self) -> float:
        """Share of the foregrounds it met that it fooled."""
        return self.fooled / self.met

    def to_dict(self) -> dict:
        return {**asdict(self), "rate": self.rate}


@dataclass
class ChallengeResult:
    """Challenge accuracy over tested foregrounds, its interval, per class and the most fooling backgrounds."""

    options: dict
    foregrounds: int
    correct: int
    untested: int
    pairs: int
    backgrounds_per_foreground: tuple[int, int]
    ci: tuple[float, float]
    per_class: list[dict] = field(default_factory=list)
    most_fooling: dict[str, list[FoolingBackground]] = field(default_factory=dict)

    @property
    def accuracy(self) -> float | None:
        """Correct foregrounds / tested foregrounds."""
        return self.correct / self.foregrounds if self.foregrounds else None

    @property
    def meaningful(self) -> bool:
        """Whether enough foregrounds back the accuracy."""
        return self.foregrounds >= MEANINGFUL_N

    def to_dict(self) -> dict:
        """JSON-ready record with the definition and where it comes from."""
        return {
            "accuracy": self.accuracy,
            "ci95": list(self.ci),
            "foregrounds": self.foregrounds,
            "correct": self.correct,
            "untested_foregrounds": self.untested,
            "pairs": self.pairs,
            "backgrounds_per_foreground": {"min": self.backgrounds_per_foreground[0],
                                           "max": self.backgrounds_per_foreground[1]},
            "meaningful": self.meaningful,
            "options": self.options,
            "per_class": self.per_class,
            "most_fooling": {k: [b.to_dict() for b in v] for k, v in self.most_fooling.items()},
            "definition": DEFINITION,
            "reference": REFERENCE,
        }


def summarise(
    table: pa.Table,
    class_names: Sequence[str],
    options: dict,
    *,
    foregrounds_total: int,
    resamples: int = 1000,
    seed: int = 0,
    top: int = 5,
) -> ChallengeResult:
    """Aggregate a pairs table (one row per foreground x background) into the challenge's results."""
    ids = np.asarray(table.column("source_id").to_pylist(), dtype=object)
    backgrounds = np.asarray(table.column("background_id").to_pylist(), dtype=object)
    labels = table.column("label").to_numpy()
    bg_labels = table.column("background_label").to_numpy()
    correct = table.column("correct").to_numpy(zero_copy_only=False).astype(bool)
    fg_ids, fg_index = np.unique(ids, return_inverse=True)
    tried = np.bincount(fg_index, minlength=len(fg_ids))
    wrong = np.bincount(fg_index, weights=~correct, minlength=len(fg_ids))
    fg_ok = wrong == 0
    fg_labels = np.zeros(len(fg_ids), dtype=np.int64)
    fg_labels[fg_index] = labels
    ci = (float("nan"), float("nan"))
    if len(fg_ids):
        boot = Bootstrap(fg_ids, np.full(len(fg_ids), "challenge", dtype=object), fg_ok.astype(float), ["challenge"],
                         resamples=resamples, seed=seed)
        ci = boot.interval(boot.column("challenge"))
    per_class = []
    for label in sorted(set(fg_labels.tolist())):
        members = fg_labels == label
        per_class.append({"label": label, "name": _name(class_names, label), "n": int(members.sum()),
                          "correct": int(fg_ok[members].sum()), "accuracy": float(fg_ok[members].mean())})
    return ChallengeResult(
        options=options,
        foregrounds=len(fg_ids),
        correct=int(fg_ok.sum()),
        untested=foregrounds_total - len(fg_ids),
        pairs=table.num_rows,
        backgrounds_per_foreground=(int(tried.min()), int(tried.max())) if len(tried) else (0, 0),
        ci=ci,
        per_class=per_class,
        most_fooling=_most_fooling(backgrounds, bg_labels, correct, class_names, top),
    )


def _name(class_names: Sequence[str], label: int) -> str:
    return class_names[label] if 0 <= label < len(class_names) else f"class {label}"


def _most_fooling(
    backgrounds: np.ndarray, labels: np.ndarray, correct: np.ndarray, class_names: Sequence[str], top: int
) -> dict[str, list[FoolingBackground]]:
    """Per background class, the `top` backgrounds by share of foregrounds fooled (then count, then id)."""
    bg_ids, index = np.unique(backgrounds, return_inverse=True)
    met = np.bincount(index, minlength=len(bg_ids))
    fooled = np.bincount(index, weights=~correct, minlength=len(bg_ids)).astype(int)
    bg_labels = np.zeros(len(bg_ids), dtype=np.int64)
    bg_labels[index] = labels
    out: dict[str, list[FoolingBackground]] = {}
    for label in sorted(set(bg_labels.tolist())):
        found = [
            FoolingBackground(str(bg_ids[k]), label, int(fooled[k]), int(met[k]))
            for k in np.flatnonzero(bg_labels == label)
        ]
        ranked = sorted(found, key=lambda b: (-b.rate, -b.fooled, b.source_id))
        out[_name(class_names, label)] = ranked[:top]
    return out


def challenge_markdown(result: ChallengeResult) -> str:
    """The challenge section of a report."""
    options = result.options
    n_text = "all" if not options.get("backgrounds") else str(options["backgrounds"])
    low, high = result.ci
    accuracy = "–" if result.accuracy is None else f"{100 * result.accuracy:.1f}%"
    lines = [
        f"**Challenge accuracy: {accuracy}** (95% CI [{100 * low:.1f}, {100 * high:.1f}]; "
        f"{result.correct} of n = {result.foregrounds} foregrounds right on every background)"
        + ("" if result.meaningful else f" † fewer than {MEANINGFUL_N} foregrounds: not meaningful"),
        "",
        f"Backgrounds per foreground: {n_text} requested ({options.get('pool_rule')}), "
        f"{result.backgrounds_per_foreground[0]}–{result.backgrounds_per_foreground[1]} tried; "
        f"{result.pairs} pasted images; seed {options.get('seed')}."
        + (f" {result.untested} foregrounds had no background to try and are left out." if result.untested else ""),
        "",
        f"Definition: {DEFINITION}. Reference: {REFERENCE}.",
        "",
        "| class | n | challenge accuracy |",
        "| --- | ---: | ---: |",
    ]
    lines += [f"| {c['name']} | {c['n']} | {100 * c['accuracy']:.1f}% |" for c in result.per_class]
    return "\n".join(lines)


def write_picture(
    result: ChallengeResult, background_of: Callable[[str], np.ndarray], path: str | Path, title: str = ""
) -> Path | None:
    """The most fooling backgrounds per class, each titled with the share of foregrounds it fooled."""
    rows = [(name, found) for name, found in result.most_fooling.items() if found]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    cols = max(len(found) for _, found in rows)
    width = max(2.1 * cols + 0.6, 6.4)
    fig, axes = plt.subplots(len(rows), cols, figsize=(width, 2.0 * len(rows) + 0.9), dpi=90, squeeze=False)
    for r, (name, found) in enumerate(rows):
        for c in range(cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(found):
                ax.axis("off")
                continue
            b = found[c]
            ax.imshow(background_of(b.source_id))
            ax.set_title(f"{100 * b.rate:.0f}% ({b.fooled}/{b.met})", fontsize=8)
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
    heading = textwrap.fill(title or "Most fooling backgrounds per class", 70)
    fig.suptitle(f"{heading}\nabove each: share of the foregrounds pasted on it that the model got wrong "
                 "(wrong / met)", fontsize=9)
    fig.tight_layout()
    with atomic_target(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)
