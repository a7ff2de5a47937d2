"""The adapter registry: spec parsing, one module per prefix, one-line errors, missing libraries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ximagenet12.errors import EXIT_MISSING_EXTRA, MissingExtra
from ximagenet12.evaluation.models import (
    ADAPTERS,
    SPEC_KINDS,
    LoadOptions,
    ModelError,
    ModelSpec,
    load_classifier,
    parse_spec,
)
from ximagenet12.evaluation.models.base import Classifier

ROOT = Path(__file__).resolve().parents[3]


def test_every_prefix_has_one_adapter_module_with_a_load_function() -> None:
    import importlib

    assert set(ADAPTERS) == {"onnx", "torch", "python", "timm", "hf", "clip"}
    assert (*ADAPTERS, "predictions") == SPEC_KINDS
    for prefix, module in ADAPTERS.items():
        adapter = importlib.import_module(f"ximagenet12.evaluation.models.{module}")
        assert callable(adapter.load), prefix
        assert (ROOT / "ximagenet12" / "evaluation" / "models" / f"{module}.py").is_file()


@pytest.mark.parametrize(
    ("text", "kind", "target"),
    [
        ("timm:resnet50.a1_in1k", "timm", "resnet50.a1_in1k"),
        ("torch:pkg.mod:factory", "torch", "pkg.mod:factory"),
        ("clip:hf-hub:ns/tiny", "clip", "hf-hub:ns/tiny"),
        ("clip:ViT-B-16@openai", "clip", "ViT-B-16@openai"),
        ("hf:/abs/folder", "hf", "/abs/folder"),
    ],
)
def test_spec_splits_at_the_first_colon(text: str, kind: str, target: str) -> None:
    spec = parse_spec(text)
    assert (spec.kind, spec.target, str(spec)) == (kind, target, text)
    assert parse_spec(spec) is spec


@pytest.mark.parametrize("text", ["model.onnx", "keras:model.h5", "torch:", ":x"])
def test_bad_specs_are_one_line_errors(text: str) -> None:
    with pytest.raises(ModelError) as caught:
        parse_spec(text)
    assert "\n" not in str(caught.value) and text in str(caught.value)


def test_options_are_checked_and_picklable() -> None:
    import pickle

    from ximagenet12.classes import CLASSES

    options = LoadOptions(weights="w.pt", model_kwargs={"a": 1}, device="cpu", precision="bf16", classes=CLASSES)
    assert pickle.loads(pickle.dumps((ModelSpec("timm", "x"), options))) == (ModelSpec("timm", "x"), options)
    with pytest.raises(ModelError, match="--device"):
        LoadOptions(device="tpu")
    with pytest.raises(ModelError, match="--precision"):
        LoadOptions(precision="int8")


def test_objects_and_predictions_specs() -> None:
    with pytest.raises(ModelError, match="predictions"):
        load_classifier("predictions:run.parquet")
    with pytest.raises(TypeError):
        load_classifier(42)
    assert isinstance(load_classifier(lambda x: x), Classifier)


class Halving(Classifier):
    """Runs out of memory above `limit` images at once, raising what `fail()` makes."""

    def __init__(self, limit: int, fail) -> None:
        super().__init__("python:halving")
        self.limit, self.fail, self.sizes = limit, fail, []

    def _forward(self, inputs: np.ndarray) -> np.ndarray:
        self.sizes.append(len(inputs))
        if len(inputs) > self.limit:
            raise self.fail()
        return inputs.reshape(len(inputs), -1)[:, :3].astype(np.float32)


def cuda_oom() -> BaseException:
    import torch

    return torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


@pytest.mark.parametrize(
    "fail",
    [cuda_oom, MemoryError, lambda: RuntimeError("[enforce fail] DefaultCPUAllocator: can't allocate memory")],
)
def test_forward_halves_a_batch_that_does_not_fit(fail) -> None:
    images = np.random.default_rng(0).integers(0, 255, (13, 4, 4, 3), dtype=np.uint8)
    expected = images.reshape(13, -1)[:, :3].astype(np.float32)
    model = Halving(4, fail)
    assert np.array_equal(model.forward(images), expected)
    assert model.forward_batch_size == 3  # 13 -> 6 -> 3, then kept
    assert model.sizes == [13, 6, 3, 3, 3, 3, 1] and model.runtime()["forward_batch_size"] == 3
    assert np.array_equal(model.forward(images[:5]), expected[:5])
    with pytest.raises(ValueError, match="not memory"):
        Halving(0, lambda: ValueError("not memory")).forward(images)
    with pytest.raises(ModelError, match="one image at a time"):
        Halving(0, MemoryError).forward(images)


@pytest.mark.slow
def test_a_missing_library_is_a_one_line_error_naming_the_extra(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "for name in ('timm', 'transformers', 'open_clip'):\n"
        "    sys.modules[name] = None\n"
        "from ximagenet12_builder.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    from ..tiny_build import make_synthetic_build

    build = make_synthetic_build(tmp_path / "build", ("original",))
    for spec, what in [("timm:resnet18", "timm: models"), ("hf:ns/vit", "hf: models"),
                       ("clip:ViT-B-32@openai", "clip: models")]:
        run = subprocess.run(
            [sys.executable, "-c", script, "evaluate", "--model", spec, "--data", str(build),
             "--out", str(tmp_path / "out")],
            capture_output=True, text=True, cwd=ROOT, timeout=120,
        )
        assert run.returncode == EXIT_MISSING_EXTRA, run.stderr
        assert run.stderr.strip() == (f"ximagenet12 evaluate: error: {what} needs the 'models' extra: "
                                      "pip install 'ximagenet12[models]'")
    assert issubclass(MissingExtra, ImportError)


@pytest.mark.parametrize(
    ("spec", "options", "flags"),
    [
        ("onnx:m.onnx", {"weights": "w.pt"}, "--weights"),
        ("python:tests.evaluation.toy_models:colour_logits", {"model_kwargs": {"a": 1}}, "--model-kwargs"),
        ("torch:tests.evaluation.toy_models:colour_net", {"label_map": "imagenet-1k"}, "--label-map"),
        ("timm:resnet18", {"label_map": "m.json"}, "--label-map"),
        ("hf:ns/vit", {"weights": "w.pt", "model_kwargs": {"a": 1}}, "--weights, --model-kwargs"),
        ("clip:ViT-B-32@openai", {"weights": "w.pt"}, "--weights"),
    ],
)
def test_options_a_kind_of_model_cannot_use_are_refused(spec: str, options: dict, flags: str, tmp_path: Path) -> None:
    if spec.startswith("onnx"):
        from ..toy_models import onnx_colour_model

        spec = f"onnx:{onnx_colour_model(tmp_path / 'm.onnx')}"
    kind = spec.partition(":")[0]
    with pytest.raises(ModelError, match=f"{flags} do not apply to {kind}: models"):
        load_classifier(spec, LoadOptions(**options))
