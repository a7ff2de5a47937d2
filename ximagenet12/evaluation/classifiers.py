"""Anything that classifies, behind one interface: torch modules, ONNX graphs, Python callables."""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..provenance import sha256_file
from .preprocessing import Preprocessing, from_model_config, normalize

SPEC_KINDS = ("onnx", "torch", "python", "predictions")


def parse_spec(spec: str) -> tuple[str, str]:
    """'kind:target' -> (kind, target), kind one of onnx, torch, python, predictions."""
    kind, sep, target = spec.partition(":")
    if not sep or kind not in SPEC_KINDS or not target:
        raise ValueError(f"model spec must be one of {[k + ':...' for k in SPEC_KINDS]}, not {spec!r}")
    return kind, target


def import_object(target: str) -> Any:
    """'package.module:attribute' -> the object."""
    module, sep, name = target.rpartition(":")
    if not sep or not module or not name:
        raise ValueError(f"expected 'package.module:name', not {target!r}")
    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _config_of(obj: object) -> dict | None:
    """A timm-style preprocessing config carried by a model (pretrained_cfg / default_cfg / preprocessing)."""
    for attr in ("pretrained_cfg", "default_cfg", "preprocessing"):
        cfg = getattr(obj, attr, None)
        if isinstance(cfg, dict) and cfg:
            return dict(cfg)
    return None


class Classifier:
    """prepare(uint8 NHWC batch) -> model input; forward(input) -> logits (N, C) as numpy."""

    kind = "abstract"
    input_description = "uint8 NHWC RGB"

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.model_config: dict | None = None

    def defaults(self) -> dict:
        """Preprocessing fields the model asks for (from its pretrained_cfg-style config)."""
        return from_model_config(self.model_config) if self.model_config else {}

    def prepare(self, images: np.ndarray, pre: Preprocessing) -> Any:
        """Turn a preprocessed uint8 NHWC batch into what forward takes."""
        return images

    def forward(self, inputs: Any) -> np.ndarray:
        """Logits for a prepared batch."""
        raise NotImplementedError

    def __call__(self, images: np.ndarray, pre: Preprocessing) -> np.ndarray:
        """prepare + forward."""
        return self.forward(self.prepare(images, pre))

    def identity(self) -> dict:
        """What identifies the model's behaviour (spec, file hashes)."""
        return {"kind": self.kind, "spec": self.spec, "input": self.input_description}

    def set_threads(self, threads: int) -> None:
        """Use this many threads for inference."""


class TorchClassifier(Classifier):
    """A torch.nn.Module in eval mode, channels-last, fed normalised float32 NCHW."""

    kind = "torch"
    input_description = "float32 NCHW, (x/255 - mean) / std"

    def __init__(self, module: Any, spec: str | None = None, weights_file: str | None = None) -> None:
        import torch

        self.torch = torch
        name = f"{type(module).__module__}.{type(module).__qualname__}"
        super().__init__(spec or f"torch-module:{name}")
        self.module = module.eval().to(memory_format=torch.channels_last)
        self.model_config = _config_of(module)
        self.weights_file = weights_file or getattr(module, "weights_file", None)
        if self.weights_file is None and self.model_config:
            self.weights_file = self.model_config.get("file")

    def set_threads(self, threads: int) -> None:
        self.torch.set_num_threads(max(1, threads))

    def prepare(self, images: np.ndarray, pre: Preprocessing) -> Any:
        torch = self.torch
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float()  # NHWC memory = channels-last
        mean = torch.tensor(pre.mean).view(1, 3, 1, 1) * 255.0
        std = torch.tensor(pre.std).view(1, 3, 1, 1) * 255.0
        return x.sub_(mean).div_(std)

    def forward(self, inputs: Any) -> np.ndarray:
        with self.torch.inference_mode():
            out = self.module(inputs)
        if isinstance(out, (tuple, list)):
            out = out[0]
        return out.float().numpy()

    def identity(self) -> dict:
        digest = hashlib.sha256()
        for key, tensor in self.module.state_dict().items():
            digest.update(key.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        out = super().identity()
        out["state_dict_sha256"] = digest.hexdigest()
        out["class"] = f"{type(self.module).__module__}.{type(self.module).__qualname__}"
        if self.weights_file:
            out["weights_file"] = str(self.weights_file)
            out["weights_sha256"] = sha256_file(self.weights_file)
        if self.model_config:
            out["pretrained_cfg"] = {k: v for k, v in self.model_config.items() if k != "file"}
        return out


class OnnxClassifier(Classifier):
    """An ONNX graph on onnxruntime (CPU); float inputs get normalised NCHW/NHWC, uint8 inputs raw pixels."""

    kind = "onnx"

    def __init__(self, path: str | Path, spec: str | None = None, threads: int | None = None) -> None:
        self.path = str(path)
        super().__init__(spec or f"onnx:{self.path}")
        self.threads = threads
        self._open()

    def _open(self) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
        self.session = ort.InferenceSession(self.path, options, providers=["CPUExecutionProvider"])
        node = self.session.get_inputs()[0]
        self.input_name = node.name
        self.uint8 = node.type == "tensor(uint8)"
        shape = list(node.shape)
        self.nhwc = len(shape) == 4 and shape[-1] == 3 and shape[1] != 3
        self.fixed_batch = shape[0] if isinstance(shape[0], int) else None
        spatial = shape[1:3] if self.nhwc else shape[2:4]
        self.static_size = tuple(spatial) if all(isinstance(v, int) for v in spatial) else None
        layout = "NHWC" if self.nhwc else "NCHW"
        self.input_description = f"uint8 {layout} RGB" if self.uint8 else f"float32 {layout}, (x/255 - mean) / std"
        meta = self.session.get_modelmeta().custom_metadata_map
        if "preprocessing" in meta:
            self.model_config = json.loads(meta["preprocessing"])

    def defaults(self) -> dict:
        out = super().defaults()
        if self.static_size and "crop" not in out:  # a fixed input size decides the crop
            out["crop"] = self.static_size[0]
            out.setdefault("resize", math.floor(out["crop"] / 0.875))
        return out

    def set_threads(self, threads: int) -> None:
        if threads != self.threads:
            self.threads = threads
            self._open()

    def prepare(self, images: np.ndarray, pre: Preprocessing) -> np.ndarray:
        if self.static_size and self.static_size != images.shape[1:3]:
            raise ValueError(f"{self.path} takes {self.static_size} images; preprocessing crops {pre.crop}")
        if self.uint8:
            return images if self.nhwc else np.ascontiguousarray(images.transpose(0, 3, 1, 2))
        x = normalize(images, pre)
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if self.nhwc else x

    def forward(self, inputs: np.ndarray) -> np.ndarray:
        step = self.fixed_batch or len(inputs)
        outs = []
        for start in range(0, len(inputs), step):
            chunk = inputs[start : start + step]
            short = step - len(chunk)
            if short:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], short, axis=0)])
            out = self.session.run(None, {self.input_name: chunk})[0]
            outs.append(out[: len(out) - short])
        return np.concatenate(outs).reshape(len(inputs), -1)

    def identity(self) -> dict:
        out = super().identity()
        out["weights_file"] = self.path
        out["weights_sha256"] = sha256_file(self.path)
        return out


class CallableClassifier(Classifier):
    """A Python function from a uint8 NHWC RGB batch to logits (normalisation is its own business)."""

    kind = "python"

    def __init__(self, function: Callable[[np.ndarray], Any], spec: str | None = None) -> None:
        name = f"{getattr(function, '__module__', '?')}:{getattr(function, '__qualname__', repr(function))}"
        super().__init__(spec or f"python:{name}")
        self.function = function
        self.model_config = _config_of(function)

    def forward(self, inputs: np.ndarray) -> np.ndarray:
        out = self.function(inputs)
        if hasattr(out, "detach"):
            out = out.detach().cpu().numpy()
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


def load_torch(target: str, weights: str | None, kwargs: dict) -> TorchClassifier:
    """A torch.nn.Module from 'package.module:factory', optionally loading a local state dict."""
    import torch

    module = import_object(target)(**kwargs)
    if weights:
        if weights.endswith(".safetensors"):
            from safetensors.torch import load_file

            state = load_file(weights)
        else:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        for key in ("state_dict", "model"):
            if isinstance(state, dict) and isinstance(state.get(key), dict):
                state = state[key]
        module.load_state_dict(state)
    return TorchClassifier(module, spec=f"torch:{target}", weights_file=weights)


def load_classifier(
    model: Any, *, weights: str | None = None, model_kwargs: dict | None = None
) -> Classifier:
    """A Classifier from a spec string, a torch.nn.Module, a Classifier or a callable on uint8 batches."""
    if isinstance(model, Classifier):
        return model
    if isinstance(model, str):
        kind, target = parse_spec(model)
        if kind == "onnx":
            return OnnxClassifier(target, spec=model)
        if kind == "torch":
            return load_torch(target, weights, model_kwargs or {})
        if kind == "python":
            return CallableClassifier(import_object(target), spec=model)
        raise ValueError("a predictions: spec has no classifier; score it with evaluate() or `score`")
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        return TorchClassifier(model, weights_file=weights)
    if callable(model):
        return CallableClassifier(model)
    raise TypeError(f"cannot evaluate a {type(model).__name__}: give a spec, a torch.nn.Module or a callable")
