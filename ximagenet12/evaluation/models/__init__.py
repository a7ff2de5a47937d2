"""Classifiers from model specs: one adapter module per library, registered by the spec's prefix.

A new library is one new module here with a `load(spec: ModelSpec, options: LoadOptions) -> Classifier`
function and one line in `ADAPTERS`. Adapters are imported only when their prefix is used, so a spec
whose library is missing fails with a one-line `MissingExtra` and the rest works without it.

Also the ready-made EfficientNet-Lite0/1/2 factories: `torch:ximagenet12.evaluation.models:efficientnet_lite0`.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from .base import DEVICES, PRECISIONS, Classifier, LoadOptions, ModelError, ModelSpec
from .efficientnet import efficientnet_lite0, efficientnet_lite1, efficientnet_lite2

# spec prefix -> adapter module in this package
ADAPTERS: dict[str, str] = {
    "onnx": "onnx",
    "torch": "torch",
    "python": "python",
    "timm": "timm",
    "hf": "hf",
    "clip": "clip",
}
PREDICTIONS = "predictions"  # scored by the runner, no classifier
SPEC_KINDS: tuple[str, ...] = (*ADAPTERS, PREDICTIONS)

__all__ = [
    "ADAPTERS",
    "DEVICES",
    "PRECISIONS",
    "SPEC_KINDS",
    "Classifier",
    "LoadOptions",
    "ModelError",
    "ModelSpec",
    "efficientnet_lite0",
    "efficientnet_lite1",
    "efficientnet_lite2",
    "load_classifier",
    "parse_spec",
]


def parse_spec(spec: str | ModelSpec) -> ModelSpec:
    """'kind:target' -> ModelSpec, kind one of the registered prefixes or `predictions`."""
    return spec if isinstance(spec, ModelSpec) else ModelSpec.parse(spec, SPEC_KINDS)


def load_classifier(model: Any, options: LoadOptions | None = None) -> Classifier:
    """A Classifier from a spec (string or ModelSpec), a torch.nn.Module, a Classifier or a uint8-batch callable."""
    options = options or LoadOptions()
    if isinstance(model, Classifier):
        return model
    if isinstance(model, (str, ModelSpec)):
        spec = parse_spec(model)
        if spec.kind == PREDICTIONS:
            raise ModelError(f"{spec}: a predictions file has no classifier; score it with `score` or evaluate()")
        adapter = importlib.import_module(f"{__name__}.{ADAPTERS[spec.kind]}")
        return adapter.load(spec, options)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        from .torch import TorchClassifier

        return TorchClassifier(model, weights_file=options.weights, device=options.device, precision=options.precision)
    if callable(model):
        from .python import CallableClassifier

        return CallableClassifier(model)
    raise TypeError(f"cannot evaluate a {type(model).__name__}: give a spec, a torch.nn.Module or a callable")
