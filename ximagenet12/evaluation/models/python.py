"""`python:package.module:function` specs: a function from a uint8 NHWC RGB batch to logits."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ...provenance import sha256_file
from .base import Classifier, LoadOptions, ModelError, ModelSpec, import_object, refuse_options
from .torch import config_of


class CallableClassifier(Classifier):
    """A Python function on uint8 NHWC batches (normalisation, device and precision are its own business)."""

    kind = "python"

    def __init__(self, function: Callable[[np.ndarray], Any], spec: str | None = None) -> None:
        name = f"{getattr(function, '__module__', '?')}:{getattr(function, '__qualname__', repr(function))}"
        super().__init__(spec or f"python:{name}")
        self.function = function
        self.model_config = config_of(function)
        if self.model_config:
            self.preprocessing_origin = "model defaults"
        self.device = "the callable's own"
        self.precision = "the callable's own"

    def _forward(self, inputs: np.ndarray) -> np.ndarray:
        out = self.function(inputs)
        if hasattr(out, "detach"):
            out = out.detach().float().cpu().numpy()
        return np.asarray(out, dtype=np.float32)

    def identity(self) -> dict:
        out = super().identity()
        qualname = getattr(self.function, "__qualname__", "")
        named = inspect.isfunction(self.function) and "<" not in qualname
        source = inspect.getsourcefile(self.function) if named else None
        if source and Path(source).is_file():
            out["source_file"] = source
            out["source_sha256"] = sha256_file(source)
        else:  # lambdas, closures, instances: no stable identity, never resumed from cache
            out["unhashable"] = id(self.function)
        return out


def load(spec: ModelSpec, options: LoadOptions) -> CallableClassifier:
    """The named function; device, precision and weights are not ours to set for it."""
    if options.device not in ("auto", "cpu") or options.precision != "fp32" or options.weights:
        raise ModelError(f"{spec}: --device, --precision and --weights apply to torch-based models, "
                         "not to a Python function")
    refuse_options(spec, options, "model_kwargs", "label_map")
    function = import_object(spec.target, str(spec))
    if not callable(function):
        raise ModelError(f"{spec}: {spec.target} is a {type(function).__name__}, not a function")
    return CallableClassifier(function, str(spec))
