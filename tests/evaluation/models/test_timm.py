"""timm: specs without the Hub: local --weights, timm's preprocessing, one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ximagenet12.evaluation import evaluate, load_classifier
from ximagenet12.evaluation.models import LoadOptions, ModelError
from ximagenet12.evaluation.preprocessing import Preprocessing

from . import tiny_models

timm = pytest.importorskip("timm")


def test_local_weights_file_and_timms_preprocessing(tiny_build: Path, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")

    folder = tiny_models.timm_model("test_resnet", tmp_path / "resnet")
    weights = folder / "model.safetensors"
    spec = f"timm:{tiny_models.TIMM_RESNET}"
    result = evaluate(spec, tiny_build, configs="original", weights=str(weights), progress=False, resamples=10)
    model = result.summary["model"]
    assert model["weights_file"] == str(weights) and len(model["weights_sha256"]) == 64 and model["hub"] is None
    assert model["timm_model"]["architecture"] == "test_resnet" and model["timm_model"]["num_classes"] == 1000
    data_config = timm.data.resolve_model_data_config(timm.create_model(tiny_models.TIMM_RESNET))
    pre = result.summary["preprocessing"]
    assert pre["crop"] == data_config["input_size"][-1] and pre["interpolation"] == data_config["interpolation"]
    assert pre["resize"] == int(data_config["input_size"][-1] / data_config["crop_pct"])
    assert pre["mean"] == list(data_config["mean"])

    classifier = load_classifier(spec, LoadOptions(weights=str(weights)))
    reference = timm.create_model(tiny_models.TIMM_RESNET, pretrained=True,
                                  pretrained_cfg_overlay={"file": str(weights)}).eval()
    images = np.random.default_rng(0).integers(0, 255, (2, 160, 160, 3), dtype=np.uint8)
    p = Preprocessing().updated(**classifier.preprocessing())
    with torch.no_grad():
        direct = reference(classifier.prepare(images, p)).numpy()
    assert np.allclose(classifier.predict(images, p), direct, atol=1e-5)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"weights": "/no/such/file.safetensors"}, "does not exist"),
        ({}, "could not load the model"),
    ],
)
def test_timm_errors_are_one_line(options: dict, message: str) -> None:
    with pytest.raises(ModelError, match=message) as caught:
        load_classifier("timm:no_such_architecture_xyz", LoadOptions(**options))
    assert "\n" not in str(caught.value)
