"""Model specs: ONNX graphs, torch factories with local weights, Python callables, torch modules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ximagenet12.evaluation import evaluate, load_classifier
from ximagenet12.evaluation.classifiers import (
    CallableClassifier,
    OnnxClassifier,
    TorchClassifier,
    parse_spec,
)
from ximagenet12.evaluation.preprocessing import Preprocessing

from . import toy_models
from .toy_models import colour_logits, colour_net, onnx_colour_model

CONFIGS = ["original", "seg_img", "blur_obj"]


def expected_accuracy(build: Path) -> dict[str, float]:
    """What the colour rule scores (the reference every adapter must reproduce)."""
    return evaluate(colour_logits, build, configs=CONFIGS, progress=False, resamples=10).accuracy


@pytest.mark.parametrize("uint8", [False, True])
def test_onnx_graph(tmp_path: Path, tiny_build: Path, uint8: bool) -> None:
    path = onnx_colour_model(tmp_path / "colour.onnx", uint8=uint8)
    result = evaluate(f"onnx:{path}", tiny_build, configs=CONFIGS, progress=False, resamples=10)
    assert result.accuracy == expected_accuracy(tiny_build)
    model = result.summary["model"]
    assert model["kind"] == "onnx" and len(model["weights_sha256"]) == 64
    assert model["input"] == ("uint8 NHWC RGB" if uint8 else "float32 NCHW, (x/255 - mean) / std")
    pre = result.summary["preprocessing"]
    assert (pre["crop"], pre["resize"], pre["origin"]) == (224, 256, "model defaults")
    if not uint8:  # the graph's metadata asks for x/255
        assert pre["mean"] == [0.0, 0.0, 0.0]


def test_onnx_fixed_batch_is_chunked(tmp_path: Path) -> None:
    import onnx

    path = onnx_colour_model(tmp_path / "c.onnx", uint8=True, size=32)
    model = onnx.load(path)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 2
    onnx.save(model, path)
    classifier = OnnxClassifier(path)
    images = np.random.default_rng(0).integers(0, 255, (5, 32, 32, 3), dtype=np.uint8)
    out = classifier(images, Preprocessing(resize=32, crop=32))
    assert out.shape == (5, 3)
    assert np.allclose(out.argmax(1), colour_logits(images).argmax(1))


def test_torch_module_uses_its_pretrained_cfg(tiny_build: Path) -> None:
    net, threads = colour_net(), torch.get_num_threads()
    try:
        result = evaluate(net, tiny_build, configs=CONFIGS, progress=False, resamples=10, threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    pre = result.summary["preprocessing"]
    assert (pre["crop"], pre["resize"], pre["mean"], pre["std"]) == (96, 128, [0.5] * 3, [0.25] * 3)
    assert result.accuracy == expected_accuracy(tiny_build)
    assert result.summary["model"]["pretrained_cfg"]["crop_pct"] == 0.75


def test_torch_factory_spec_with_local_weights(tmp_path: Path, tiny_build: Path) -> None:
    weights = tmp_path / "colour.pth"
    state = colour_net().state_dict()
    state["scale"] = torch.tensor(7.0)
    torch.save({"state_dict": state}, weights)
    spec = "torch:tests.evaluation.toy_models:colour_net"
    classifier = load_classifier(spec, weights=str(weights), model_kwargs={"scale": 3.0})
    assert isinstance(classifier, TorchClassifier)
    assert float(classifier.module.scale) == 7.0  # the file wins over the factory's argument
    identity = classifier.identity()
    assert identity["spec"] == spec and identity["weights_file"] == str(weights)
    result = evaluate(spec, tiny_build, configs=CONFIGS, weights=str(weights), progress=False, resamples=10)
    assert result.accuracy == expected_accuracy(tiny_build)
    assert result.summary["model"]["weights_sha256"] == identity["weights_sha256"]


def test_python_spec_and_plain_callables() -> None:
    classifier = load_classifier("python:tests.evaluation.toy_models:colour_logits")
    assert isinstance(classifier, CallableClassifier) and classifier.function is toy_models.colour_logits
    identity = classifier.identity()
    assert identity["source_file"].endswith("toy_models.py") and "unhashable" not in identity
    assert "unhashable" in load_classifier(lambda x: x).identity()
    assert "unhashable" in load_classifier(np.asarray).identity()
    tensor_out = load_classifier(lambda x: torch.zeros(len(x), 3))
    assert tensor_out(np.zeros((2, 4, 4, 3), np.uint8), Preprocessing()).shape == (2, 3)


def test_identity_is_stable_and_sensitive() -> None:
    a, b = TorchClassifier(colour_net()), TorchClassifier(colour_net())
    assert a.identity() == b.identity()
    assert TorchClassifier(colour_net(scale=3.0)).identity() != a.identity()


@pytest.mark.parametrize("spec", ["model.onnx", "keras:model.h5", "torch:", "python:nomodule"])
def test_bad_specs(spec: str) -> None:
    with pytest.raises(ValueError):
        load_classifier(spec) if spec.startswith("python") else parse_spec(spec)


def test_predictions_spec_has_no_classifier_and_objects_must_classify() -> None:
    with pytest.raises(ValueError, match="predictions"):
        load_classifier("predictions:run.parquet")
    with pytest.raises(TypeError):
        load_classifier(42)
