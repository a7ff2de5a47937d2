"""torch: specs and torch modules: pretrained_cfg, local weights, device, autocast precision, identity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ximagenet12.evaluation import evaluate, load_classifier
from ximagenet12.evaluation.models import LoadOptions, ModelError
from ximagenet12.evaluation.models.torch import TorchClassifier, state_dict_sha256
from ximagenet12.evaluation.preprocessing import Preprocessing

from ..toy_models import colour_logits, colour_net

CONFIGS = ["original", "seg_img", "blur_obj"]


def expected_accuracy(build: Path) -> dict[str, float]:
    """What the colour rule scores (the reference every adapter must reproduce)."""
    return evaluate(colour_logits, build, configs=CONFIGS, progress=False, resamples=10).accuracy


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
    runtime = result.summary["runtime"]
    assert (runtime["device"], runtime["precision"], runtime["batch_size"]) == ("cpu", "fp32", 32)


def test_torch_factory_spec_with_local_weights(tmp_path: Path, tiny_build: Path) -> None:
    weights = tmp_path / "colour.pth"
    state = colour_net().state_dict()
    state["scale"] = torch.tensor(7.0)
    torch.save({"state_dict": state}, weights)
    spec = "torch:tests.evaluation.toy_models:colour_net"
    classifier = load_classifier(spec, LoadOptions(weights=str(weights), model_kwargs={"scale": 3.0}))
    assert isinstance(classifier, TorchClassifier)
    assert float(classifier.module.scale) == 7.0  # the file wins over the factory's argument
    identity = classifier.identity()
    assert identity["spec"] == spec and identity["weights_file"] == str(weights)
    result = evaluate(spec, tiny_build, configs=CONFIGS, weights=str(weights), progress=False, resamples=10)
    assert result.accuracy == expected_accuracy(tiny_build)
    assert result.summary["model"]["weights_sha256"] == identity["weights_sha256"]


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_precision_is_used_and_recorded(tiny_build: Path, precision: str) -> None:
    conv = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                               torch.nn.Linear(4, 3))
    torch.manual_seed(0)
    for p in conv.parameters():
        torch.nn.init.normal_(p)
    images = np.random.default_rng(1).integers(0, 255, (4, 32, 32, 3), dtype=np.uint8)
    pre = Preprocessing(resize=32, crop=32)
    full = TorchClassifier(conv, device="cpu").predict(images, pre)
    low = TorchClassifier(conv, device="cpu", precision=precision).predict(images, pre)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    x = (x / 255 - torch.tensor(pre.mean).view(1, 3, 1, 1)) / torch.tensor(pre.std).view(1, 3, 1, 1)
    with torch.autocast("cpu", dtype={"bf16": torch.bfloat16, "fp16": torch.float16}[precision]):
        direct = conv(x).float().detach().numpy()
    assert np.allclose(low, direct, atol=1e-6)
    assert not np.array_equal(low, full) and np.allclose(low, full, rtol=0.05, atol=0.05)
    result = evaluate(colour_net(), tiny_build, configs=["original"], precision=precision, progress=False,
                      resamples=10)
    assert result.summary["runtime"]["precision"] == precision
    assert result.accuracy == {"original": 1.0}


def test_unavailable_device_is_a_one_line_error() -> None:
    with pytest.raises(ModelError, match=r"--device cuda: no CUDA device"):
        load_classifier("torch:tests.evaluation.toy_models:colour_net", LoadOptions(device="cuda"))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("torch:missing.mod:factory", "no module named 'missing'"),
        ("torch:ximagenet12.evaluation.models:nope", "ximagenet12.evaluation.models has no attribute 'nope'"),
        ("torch:builtins:dict", "returned a dict, not a torch.nn.Module"),
        ("torch:tests.evaluation.toy_models:colour_logits", "missing 1 required positional argument"),
    ],
)
def test_torch_spec_errors(spec: str, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        load_classifier(spec)


def test_identity_is_stable_and_sensitive() -> None:
    a, b = TorchClassifier(colour_net()), TorchClassifier(colour_net())
    assert a.identity() == b.identity()
    assert TorchClassifier(colour_net(scale=3.0)).identity() != a.identity()
    half = colour_net().to(torch.bfloat16)
    assert len(state_dict_sha256(half)) == 64 and state_dict_sha256(half) != a.state_sha256
