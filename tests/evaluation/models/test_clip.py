"""clip: specs without the Hub: ARCH@FILE, text embeddings cached by model and classes, spec errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ximagenet12.classes import make_classes
from ximagenet12.evaluation import evaluate, load_classifier
from ximagenet12.evaluation.models import LoadOptions, ModelError
from ximagenet12.evaluation.models import clip as clip_adapter
from ximagenet12.evaluation.preprocessing import Preprocessing
from ximagenet12.evaluation.source import open_build

from . import tiny_models

open_clip = pytest.importorskip("open_clip")


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clip")
    open_clip.add_model_config(tiny_models.clip_config_file(folder / "configs", "xin12-tiny-clip"))
    return tiny_models.clip_model(folder / "model") / "open_clip_model.safetensors"


def test_arch_at_a_weights_file(weights: Path, tiny_build: Path) -> None:
    spec = f"clip:xin12-tiny-clip@{weights}"
    result = evaluate(spec, tiny_build, configs="original,seg_img", progress=False, resamples=10)
    model = result.summary["model"]
    assert model["open_clip"]["weights_file"] == str(weights.resolve())
    assert model["zero_shot"]["class_names"] == ["tabby cat", "missile", "espresso"]
    assert result.summary["mapping"]["mode"] == "identity" and model["num_outputs"] == 3


def test_text_embeddings_are_computed_once_per_model_and_class_list(
    weights: Path, tiny_build: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    classes = open_build(tiny_build).manifest.classes
    spec = f"clip:xin12-tiny-clip@{weights}"
    first = load_classifier(spec, LoadOptions(classes=classes))
    calls = []
    original = clip_adapter.ClipClassifier._text_embeddings

    def counted(self, name: str):
        calls.append(name)
        return original(self, name)

    monkeypatch.setattr(clip_adapter.ClipClassifier, "_text_embeddings", counted)
    again = load_classifier(spec, LoadOptions(classes=classes))
    other = load_classifier(spec, LoadOptions(classes=classes[:2]))
    assert again.text_key == first.text_key and again.text is first.text
    assert other.text_key != first.text_key and len(calls) == 1 and other.text.shape == (32, 2)
    images = np.random.default_rng(0).integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
    pre = Preprocessing().updated(**first.preprocessing())
    assert np.allclose(first.predict(images, pre)[:, :2], other.predict(images, pre), atol=1e-5)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("ViT-B-32", "expected clip:ARCH@PRETRAINED"),
        ("no-such-arch@openai", "'no-such-arch' is not an OpenCLIP architecture"),
        ("ViT-B-32@no-such-tag", "neither a weights file nor a tag of ViT-B-32"),
        ("no-such-arch@hf-hub:ns/x", None),
    ],
)
def test_spec_errors(target: str, message: str | None) -> None:
    if message is None:
        assert clip_adapter.parse_target(target, "clip:x") == ("no-such-arch", "hf-hub:ns/x", None)
        return
    with pytest.raises(ModelError, match=message):
        load_classifier(f"clip:{target}", LoadOptions(classes=make_classes([("n02123045", 281, "tabby cat")])))


def test_letterbox_preprocessing_is_refused() -> None:
    with pytest.raises(ModelError, match="letterbox"):
        clip_adapter.translate_preprocess({"size": 224, "mean": [0] * 3, "std": [1] * 3, "resize_mode": "longest"},
                                          "clip:x")
