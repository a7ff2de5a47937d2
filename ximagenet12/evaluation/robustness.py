"""The paper's robustness score (Table 3 as computed, or the text's literal formula) and BG-gap."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from ..scenarios import PAPER_SCENARIOS

REFERENCE = "original"
METHODS = ("table3", "text")

Method = Literal["table3", "text"]


@dataclass(frozen=True)
class Spread:
    """One side (external or internal) of the score: deviations, their variance and the term used."""

    reference_accuracy: float
    squared_deviations: dict[str, float]
    variance: float
    term: float


@dataclass(frozen=True)
class RobustnessScore:
    """A robustness score with every input that made it, so it can be checked by hand."""

    method: str
    scenarios: tuple[str, ...]
    missing: tuple[str, ...]
    external: Spread
    internal: Spread | None
    score: float

    @property
    def complete(self) -> bool:
        """True when all requested scenarios were present."""
        return not self.missing

    def to_dict(self) -> dict:
        """Plain-JSON form, with the method's definition spelled out."""
        out = asdict(self)
        out["complete"] = self.complete
        out["definition"] = DEFINITIONS[self.method]
        return out


DEFINITIONS = {
    "table3": "Table 3 as computed: d_i = (C_i - mu)^2 over the scenarios; variance = sum(d_i) / (n - 1); "
    "score = 1 - (variance_external + variance_internal)",
    "text": "the paper's text taken literally: sigma^2 = sum(d_i) / n; "
    "score = 1 - (sigma_external + sigma_internal) (standard deviations)",
}


def _spread(
    accuracies: Mapping[str, float], scenarios: Sequence[str], reference: str, method: str
) -> Spread:
    """Squared deviations around the reference accuracy, the variance and the score term."""
    mu = float(accuracies[reference])
    deviations = {s: (float(accuracies[s]) - mu) ** 2 for s in scenarios}
    total = sum(deviations.values())
    n = len(deviations)
    if method == "table3":
        variance = total / (n - 1)
        term = variance
    else:
        variance = total / n
        term = math.sqrt(variance)
    return Spread(mu, deviations, variance, term)


def robustness_score(
    accuracies: Mapping[str, float],
    *,
    internal: Mapping[str, float] | None = None,
    method: Method = "table3",
    scenarios: Sequence[str] = PAPER_SCENARIOS,
    reference: str = REFERENCE,
) -> RobustnessScore:
    """Score = 1 - (external + internal spread) of scenario accuracies around the original's."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    if reference not in accuracies:
        raise ValueError(f"the robustness score needs the {reference!r} accuracy")
    present = tuple(s for s in scenarios if s in accuracies)
    missing = tuple(s for s in scenarios if s not in accuracies)
    if len(present) < 2:
        raise ValueError(f"the robustness score needs at least 2 of {tuple(scenarios)}; got {present}")
    external = _spread(accuracies, present, reference, method)
    inner = None
    if internal is not None:
        absent = [s for s in (reference, *present) if s not in internal]
        if absent:
            raise ValueError(f"the internal run lacks {absent}")
        inner = _spread(internal, present, reference, method)
    score = 1.0 - (external.term + (inner.term if inner else 0.0))
    return RobustnessScore(method, present, missing, external, inner, score)


def bg_gap(accuracies: Mapping[str, float]) -> float | None:
    """ImageNet-9's BG-gap: accuracy(mixed_same) - accuracy(mixed_rand), None if either is absent."""
    if "mixed_same" in accuracies and "mixed_rand" in accuracies:
        return float(accuracies["mixed_same"]) - float(accuracies["mixed_rand"])
    return None
