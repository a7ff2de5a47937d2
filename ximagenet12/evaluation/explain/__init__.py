"""Where does the model look? Attribution maps (Captum) on every scenario, measured against the hand-drawn masks.

`explain(model, data, method="gradcam"|"ig"|"occlusion", ...)` runs a torch-based classifier over a build as
`evaluate` does, carries each attribution map back to the stored image's pixels and measures how much of it
falls on the object (`metrics`), per scenario and class, and how that shifts from `original`.
"""

from .geometry import StoredMap, to_stored
from .methods import BASELINES, METHODS, TARGETS, MethodSettings
from .metrics import DEFINITIONS, METRICS, ObjectFocus, object_focus
from .runner import ExplanationResult, explain

__all__ = [
    "BASELINES",
    "DEFINITIONS",
    "METHODS",
    "METRICS",
    "TARGETS",
    "ExplanationResult",
    "MethodSettings",
    "ObjectFocus",
    "StoredMap",
    "explain",
    "object_focus",
    "to_stored",
]
