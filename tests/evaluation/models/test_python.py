"""python: specs and plain callables."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ximagenet12.evaluation import load_classifier
from ximagenet12.evaluation.models import LoadOptions, ModelError
from ximagenet12.evaluation.models.python import CallableClassifier
from ximagenet12.evaluation.preprocessing import Preprocessing

from .. import toy_models


def test_python_spec_and_plain_callables() -> None:
    classifier = load_classifier("python:tests.evaluation.toy_models:colour_logits")
    assert isinstance(classifier, CallableClassifier) and classifier.function is toy_models.colour_logits
    identity = classifier.identity()
    assert identity["source_file"].endswith("toy_models.py") and "unhashable" not in identity
    assert "unhashable" in load_classifier(lambda x: x).identity()
    assert "unhashable" in load_classifier(np.asarray).identity()
    tensor_out = load_classifier(lambda x: torch.zeros(len(x), 3, dtype=torch.bfloat16))
    out = tensor_out(np.zeros((2, 4, 4, 3), np.uint8), Preprocessing())
    assert out.shape == (2, 3) and out.dtype == np.float32


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("python:nomodule", "expected 'package.module:name'"),
        ("python:no.such.module:f", "no module named 'no'"),
        ("python:tests.evaluation.toy_models:nope", "has no attribute 'nope'"),
        ("python:tests.evaluation.toy_models:COLOURS", "not a function"),
    ],
)
def test_python_spec_errors(spec: str, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        load_classifier(spec)


def test_device_and_precision_are_not_ours_to_set_for_a_function() -> None:
    with pytest.raises(ModelError, match="torch-based"):
        load_classifier("python:tests.evaluation.toy_models:colour_logits", LoadOptions(precision="bf16"))
