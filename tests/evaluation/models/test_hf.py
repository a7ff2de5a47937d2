"""hf: specs without the Hub: labels mapped to ImageNet-1k or the build's classes, processors translated exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ximagenet12.classes import make_classes
from ximagenet12.evaluation import evaluate, load_classifier
from ximagenet12.evaluation.models import LoadOptions, ModelError
from ximagenet12.evaluation.models.hf import resolve_outputs, translate_processor
from ximagenet12.evaluation.preprocessing import Preprocessing, normalize, resize_crop

from ..tiny_build import SYNTHETIC_CLASSES
from . import tiny_models

pytest.importorskip("transformers")
CLASSES = make_classes([(wnid, index, name) for wnid, index, name, _ in SYNTHETIC_CLASSES])


def test_imagenet_labels_in_index_order_map_to_themselves() -> None:
    descriptions = tiny_models.imagenet_descriptions()
    outputs = resolve_outputs(descriptions, CLASSES, None, "hf:x")
    assert outputs.space == "imagenet-1k" and outputs.rule == "id2label is ImageNet-1k in index order"
    assert [g[0] for g in outputs.groups] == list(range(1000))


def test_permuted_and_differently_named_imagenet_labels_are_reordered() -> None:
    labels, order = tiny_models.permuted_imagenet_labels(seed=3)
    outputs = resolve_outputs(labels, CLASSES, None, "hf:x")
    columns = [g[0] for g in outputs.groups]
    assert labels[columns[281]] == "tabby, tabby cat"  # ImageNet 281 is the tabby, wherever the model put it
    assert labels[columns[967]] == "espresso"
    assert np.array_equal(np.asarray(order)[columns], np.arange(1000))
    wnids = tiny_models.imagenet_wnids()
    assert [g[0] for g in resolve_outputs(wnids, CLASSES, None, "hf:x").groups] == list(range(1000))


def test_a_model_of_the_builds_classes_and_a_label_map(tmp_path: Path) -> None:
    outputs = resolve_outputs(["espresso", "TABBY CAT", "n03773504"], CLASSES, None, "hf:x")
    assert outputs.space == "classes" and [g[0] for g in outputs.groups] == [1, 2, 0]
    with pytest.raises(ModelError, match=r"its 4 labels \('cat', 'kitten', 'rocket', \.\.\.\) are neither"):
        resolve_outputs(["cat", "kitten", "rocket", "coffee"], CLASSES, None, "hf:x")
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({"cat": "n02123045", "kitten": "tabby cat", "rocket": 1, "coffee": "espresso"}))
    outputs = resolve_outputs(["cat", "kitten", "rocket", "coffee"], CLASSES, str(mapping), "hf:x")
    assert outputs.groups == ((0, 1), (2,), (3,)) and outputs.rule == f"--label-map {mapping}"
    mapping.write_text(json.dumps({"cat": "n02123045"}))
    with pytest.raises(ModelError, match=r"maps no model label to \['missile', 'espresso'\]"):
        resolve_outputs(["cat", "rocket"], CLASSES, str(mapping), "hf:x")
    with pytest.raises(ModelError, match="does not exist"):
        resolve_outputs(["cat"], CLASSES, str(tmp_path / "none.json"), "hf:x")
    with pytest.raises(ModelError, match="needs a 1000-way model"):
        resolve_outputs(["cat"], CLASSES, "imagenet-1k", "hf:x")
    generic = [f"LABEL_{i}" for i in range(1000)]
    with pytest.raises(ModelError, match="--label-map imagenet-1k"):
        resolve_outputs(generic, CLASSES, None, "hf:x")
    assert resolve_outputs(generic, CLASSES, "imagenet-1k", "hf:x").space == "imagenet-1k"


def processors():
    from transformers import ConvNextImageProcessorPil, DeiTImageProcessorPil, ViTImageProcessorPil

    return [
        ViTImageProcessorPil(size={"height": 40, "width": 40}, resample=3),
        DeiTImageProcessorPil(size={"height": 48, "width": 48}, crop_size={"height": 37, "width": 37}),
        ConvNextImageProcessorPil(size={"shortest_edge": 36}, crop_pct=0.9),
        ConvNextImageProcessorPil(size={"shortest_edge": 384}),
    ]


@pytest.mark.parametrize("index", range(4))
def test_translation_reproduces_the_processors_pil_backend(index: int) -> None:
    processor = processors()[index]
    fields = translate_processor(processor.to_dict(), "hf:x")
    pre = Preprocessing().updated(**fields)
    rng = np.random.default_rng(index)
    for size in [(61, 45), (45, 61), (50, 50), (403, 397)]:
        image = Image.fromarray(rng.integers(0, 256, (*size[::-1], 3), dtype=np.uint8))
        theirs = processor(images=[image], return_tensors="np")["pixel_values"]
        ours = normalize(resize_crop(image, pre)[None], pre)
        assert ours.shape == theirs.shape
        assert np.abs(ours - theirs).max() < 1e-5


def test_untranslatable_processors_are_refused() -> None:
    base = {"image_processor_type": "X", "size": {"height": 32, "width": 32}, "image_mean": [0.5] * 3,
            "image_std": [0.5] * 3}
    assert translate_processor(base, "hf:x")["resize_mode"] == "squash"
    for change, message in [({"size": {"height": 32, "width": 40}}, "non-square"),
                            ({"size": {"shortest_edge": 32}}, "without cropping"),
                            ({"size": {"longest_edge": 32}}, "resizes by"),
                            ({"do_resize": False}, "does not resize"),
                            ({"rescale_factor": 1.0}, "1/255")]:
        with pytest.raises(ModelError, match=message):
            translate_processor({**base, **change}, "hf:x")


def test_a_local_folder_of_the_builds_classes(tiny_build: Path, tmp_path: Path) -> None:
    folder = tiny_models.hf_vit(tmp_path / "vit", ["espresso", "tabby cat", "missile"])
    result = evaluate(f"hf:{folder}", tiny_build, configs="original", progress=False, resamples=10)
    model = result.summary["model"]
    assert model["hub"] == {"repo_id": None, "local_folder": str(folder.resolve())}
    assert model["outputs"]["space"] == "classes" and model["outputs"]["model_columns"] == [1, 2, 0]
    assert result.summary["mapping"]["mode"] == "identity"
    classifier = load_classifier(f"hf:{folder}", LoadOptions(classes=CLASSES))
    images = np.random.default_rng(0).integers(0, 255, (3, 32, 32, 3), dtype=np.uint8)
    pre = Preprocessing().updated(**classifier.preprocessing())
    raw = classifier.module(pixel_values=classifier.prepare(images, pre)).logits.detach().numpy()
    assert np.allclose(classifier.predict(images, pre), raw[:, [1, 2, 0]], atol=1e-6)
    with pytest.raises(ModelError, match="could not load the model"):
        load_classifier(f"hf:{tmp_path}", LoadOptions(classes=CLASSES))
