"""Score classifiers on every XImageNet-12 scenario: accuracies, the paper's robustness score, reports."""

from .classifiers import Classifier, load_classifier
from .preprocessing import Preprocessing
from .robustness import PAPER_SCENARIOS, RobustnessScore, bg_gap, robustness_score
from .runner import EvaluationResult, evaluate, score_predictions

__all__ = [
    "PAPER_SCENARIOS",
    "Classifier",
    "EvaluationResult",
    "Preprocessing",
    "RobustnessScore",
    "bg_gap",
    "evaluate",
    "load_classifier",
    "robustness_score",
    "score_predictions",
]
