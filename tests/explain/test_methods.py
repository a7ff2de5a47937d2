"""Captum's attributions on models whose answer is known: a region-only model, a linear model (closed-form
integrated gradients), and the target layers Grad-CAM finds per architecture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ximagenet12.evaluation.explain import explain
from ximagenet12.evaluation.explain.layers import find_layer, named_layer
from ximagenet12.evaluation.explain.methods import Attributor, MethodSettings
from ximagenet12.evaluation.explain.metrics import relevance_mass
from ximagenet12.evaluation.models import ModelError
from ximagenet12.evaluation.models.torch import TorchClassifier
from ximagenet12.evaluation.preprocessing import Preprocessing, decode_for_model, resize_crop

from .toy_models import LINEAR_SIZE, REGION, SIZE, linear_build, linear_net, linear_weights, region_build, region_net

FAST = {"progress": False, "resamples": 50, "gallery": 0}
RANDOM = np.random.default_rng(11)


def dilated(mask: np.ndarray, pixels: int) -> np.ndarray:
    """A boolean mask grown by `pixels` in every direction (a square)."""
    out = mask.copy()
    ys, xs = np.nonzero(mask)
    out[max(0, ys.min() - pixels) : ys.max() + pixels + 1, max(0, xs.min() - pixels) : xs.max() + pixels + 1] = True
    return out


@pytest.fixture(scope="module")
def region() -> tuple[TorchClassifier, Preprocessing]:
    classifier = TorchClassifier(region_net(), "torch:tests.explain.toy_models:region_net", device="cpu")
    return classifier, Preprocessing(resize=SIZE, crop=SIZE, mean=(0.5,) * 3, std=(0.25,) * 3)


@pytest.mark.parametrize(("method", "options"), [("ig", {"steps": 16}), ("occlusion", {"window": 4, "stride": 4}),
                                                 ("gradcam", {})])
def test_a_model_reading_one_region_is_attributed_to_that_region(region, method: str, options: dict) -> None:
    classifier, pre = region
    images = RANDOM.integers(0, 256, (4, SIZE, SIZE, 3), dtype=np.uint8)
    inputs = classifier.prepare(images, pre)
    attributor = Attributor(classifier, MethodSettings(method, **options), pre, batch_size=8)
    maps, _ = attributor.attribute(inputs, [0, 1, 2, 0])
    inside = np.zeros((SIZE, SIZE), bool)
    inside[REGION] = True
    for image_map in maps:
        positive = np.maximum(image_map, 0)
        assert positive.sum() > 0
        if method == "gradcam":  # the 16 x 16 map is upsampled bilinearly: half a cell spills over the edge
            assert relevance_mass(positive, inside) > 0.9
            assert relevance_mass(positive, dilated(inside, 1)) == pytest.approx(1.0, abs=1e-12)
        else:  # no gradient and no change outside the region: exactly nothing there
            assert relevance_mass(positive, inside) == pytest.approx(1.0, abs=1e-12)
            assert np.all(image_map[~inside] == 0)
    if method == "gradcam":
        assert attributor.layer.name == "pool" and attributor.layer.attribute_to_input


@pytest.mark.parametrize("baseline", ["mean", "black"])
def test_integrated_gradients_of_a_linear_model_is_its_closed_form(baseline: str) -> None:
    classifier = TorchClassifier(linear_net(), "linear", device="cpu")
    pre = Preprocessing(resize=20, crop=LINEAR_SIZE)
    images = RANDOM.integers(0, 256, (3, LINEAR_SIZE, LINEAR_SIZE, 3), dtype=np.uint8)
    inputs = classifier.prepare(images, pre)
    targets = [2, 0, 1]
    attributor = Attributor(classifier, MethodSettings("ig", steps=7, baseline=baseline), pre, batch_size=4)
    maps, deltas = attributor.attribute(inputs, targets)
    mean, std = np.asarray(pre.mean) * 255, np.asarray(pre.std) * 255
    x = (images - mean) / std  # N H W C, normalised
    reference = (np.zeros(3) - mean) / std if baseline == "black" else np.zeros(3)
    weights = linear_weights().transpose(0, 2, 3, 1)  # class H W C
    expected = ((x - reference) * weights[targets]).sum(axis=3)  # IG of a linear function: (x - x') * w
    assert np.allclose(maps, expected, rtol=1e-4, atol=1e-6)
    assert np.abs(deltas).max() < 1e-4


def test_explain_measures_the_region_against_masks_end_to_end(tmp_path: Path) -> None:
    """Stored 32 x 32 = the model's input: `original` is masked with the region, `seg_img` with the rest."""
    build = region_build(tmp_path / "build")
    spec = "torch:tests.explain.toy_models:region_net"
    for method, options in (("ig", {"steps": 8}), ("occlusion", {"window": 4, "stride": 4}), ("gradcam", {})):
        result = explain(spec, build, method=method, device="cpu", **options, **FAST)
        rows = result.table.to_pylist()
        assert len(rows) == 12 and all(r["method"] == method for r in rows)
        for r in rows:
            expected_mass = 1.0 if r["config"] == "original" else 0.0
            tolerance = 0.1 if method == "gradcam" else 1e-9
            assert r["relevance_mass"] == pytest.approx(expected_mass, abs=tolerance), (method, r)
            assert r["object_share"] == pytest.approx(0.25 if r["config"] == "original" else 0.75)
        assert result.object_focus["original"] == pytest.approx(1.0, abs=0.1)


def test_completeness_survives_the_way_back_to_stored_pixels(tmp_path: Path) -> None:
    """IG's attributions sum to f(x) - f(baseline); carried back through resize 20 and crop 16 of 29 x 23 images
    they still do, computed here with NumPy from the weights."""
    build = linear_build(tmp_path / "build")
    result = explain("torch:tests.explain.toy_models:linear_net", build, method="ig", steps=5, device="cpu", **FAST)
    pre = Preprocessing(resize=20, crop=LINEAR_SIZE)
    weights, bias = linear_weights(), np.asarray([0.1, -0.2, 0.3])
    from ximagenet12.evaluation.source import open_build

    source = open_build(build)
    with source.parquet(source.files("original", "test")[0]) as parquet:
        stored = parquet.read(columns=["source_id", "image"]).to_pylist()
    images = {r["source_id"]: r["image"]["bytes"] for r in stored}
    mean, std = np.asarray(pre.mean) * 255, np.asarray(pre.std) * 255
    for r in result.table.to_pylist():
        crop = resize_crop(decode_for_model(images[r["source_id"]], (0, 0, 0)), pre).astype(np.float64)
        x = ((crop - mean) / std).transpose(2, 0, 1)
        logit = float((weights[r["target"]] * x).sum()) + bias[r["target"]]
        assert r["target"] == r["label"] and (r["width"], r["height"]) == (29, 23)
        assert r["relevance_sum"] == pytest.approx(logit - bias[r["target"]], abs=1e-4)  # mean baseline: x' = 0


def test_grad_cam_layers_per_architecture() -> None:
    import torch
    import torchvision

    example = torch.zeros(1, 3, 224, 224)
    resnet = torchvision.models.resnet18().eval()
    layer = find_layer(resnet, resnet, example, "resnet18")
    assert (layer.name, layer.attribute_to_input, layer.shape) == ("avgpool", True, (1, 512, 7, 7))
    chosen = named_layer(resnet, "layer3", "resnet18", example, resnet)
    assert (chosen.name, chosen.attribute_to_input, chosen.shape) == ("layer3", False, (1, 256, 14, 14))
    with pytest.raises(ModelError, match=r"the input of --layer 'fc' is not an N x C x H x W map"):
        named_layer(resnet, "fc:input", "resnet18", example, resnet)
    with pytest.raises(ModelError, match="called 2 times"):
        named_layer(resnet, "layer1.0.relu", "resnet18", example, resnet)
    with pytest.raises(ModelError, match="'layer9' is not a module"):
        named_layer(resnet, "layer9", "resnet18", example, resnet)
    with pytest.raises(ModelError, match="expected NAME, NAME:input or NAME:output"):
        named_layer(resnet, "layer4:sideways", "resnet18", example, resnet)
    timm = pytest.importorskip("timm")
    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False).eval()
    with pytest.raises(ModelError, match="before most of the network"):
        find_layer(vit, vit, example, "vit")
    with pytest.raises(ModelError, match=r"is not an N x C x H x W map \(shape \(1, 197, 192\)\)"):
        named_layer(vit, "blocks.11.norm1", "vit", example, vit)
