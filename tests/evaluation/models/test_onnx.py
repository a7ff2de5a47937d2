"""onnx: specs: float and uint8 graphs, fixed batch sizes, one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ximagenet12.evaluation import evaluate, load_classifier
from ximagenet12.evaluation.models import LoadOptions, ModelError
from ximagenet12.evaluation.models.onnx import OnnxClassifier
from ximagenet12.evaluation.preprocessing import Preprocessing

from ..toy_models import colour_logits, onnx_colour_model
from .test_torch import CONFIGS, expected_accuracy


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
    assert result.summary["runtime"]["device"] == "cpu"
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
    assert np.array_equal(out.argmax(1), colour_logits(images).argmax(1))


def test_onnx_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"missing\.onnx does not exist"):
        load_classifier(f"onnx:{tmp_path / 'missing.onnx'}")
    (tmp_path / "junk.onnx").write_bytes(b"not a graph")
    with pytest.raises(ModelError, match="not a loadable ONNX graph"):
        load_classifier(f"onnx:{tmp_path / 'junk.onnx'}")
    path = onnx_colour_model(tmp_path / "c.onnx")
    with pytest.raises(ModelError, match="precision"):
        load_classifier(f"onnx:{path}", LoadOptions(precision="fp16"))
    with pytest.raises(ModelError, match="--device cuda"):
        load_classifier(f"onnx:{path}", LoadOptions(device="cuda"))
