"""XImageNet-12: build, load, publish and score the background-robustness benchmark."""

from __future__ import annotations

from typing import Any

from .classes import CLASSES, ClassInfo
from .scenarios import PAPER_SCENARIOS, SCENARIOS, ScenarioError, apply

__version__ = "0.1.0"
__all__ = [
    "CLASSES",
    "PAPER_SCENARIOS",
    "SCENARIOS",
    "ClassInfo",
    "ScenarioError",
    "apply",
    "evaluate",
    "explain",
    "load",
    "robustness_score",
]

_LAZY = {
    "load": ("ximagenet12.dataset", "load"),
    "evaluate": ("ximagenet12.evaluation", "evaluate"),
    "explain": ("ximagenet12.evaluation.explain", "explain"),
    "robustness_score": ("ximagenet12.evaluation", "robustness_score"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'ximagenet12' has no attribute {name!r}")
