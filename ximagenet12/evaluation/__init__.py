"""Score classifiers on every XImageNet-12 scenario: accuracies, robustness score, ImageNet-9 challenge, reports."""

from .models import Classifier, LoadOptions, ModelSpec, load_classifier, parse_spec
from .preprocessing import Preprocessing
from .robustness import PAPER_SCENARIOS, RobustnessScore, bg_gap, robustness_score
from .runner import EvaluationResult, evaluate, score_predictions

__all__ = [
    "PAPER_SCENARIOS",
    "Classifier",
    "EvaluationResult",
    "LoadOptions",
    "ModelSpec",
    "Preprocessing",
    "RobustnessScore",
    "bg_gap",
    "evaluate",
    "load_classifier",
    "parse_spec",
    "robustness_score",
    "score_predictions",
]
