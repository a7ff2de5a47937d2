"""`torch:package.module:factory` specs, and the torch runner every torch-based adapter (timm, hf, clip) shares."""

from __future__ import annotations

import hashlib
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ...provenance import sha256_file
from ..preprocessing import Preprocessing
from .base import Classifier, LoadOptions, ModelError, ModelSpec, import_object, refuse_options, require

CONFIG_ATTRIBUTES = ("pretrained_cfg", "default_cfg", "preprocessing")


def config_of(obj: object) -> dict | None:
    """A timm-style preprocessing config carried by a model (pretrained_cfg / default_cfg / preprocessing)."""
    for attr in CONFIG_ATTRIBUTES:
        cfg = getattr(obj, attr, None)
        if isinstance(cfg, dict) and cfg:
            return dict(cfg)
    return None


def resolve_device(requested: str) -> str:
    """'auto' -> cuda, else mps, else cpu; an explicit device must be available here."""
    import torch

    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if requested == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if requested.startswith("cuda") and not cuda:
        raise ModelError(f"--device {requested}: no CUDA device is available to torch {torch.__version__} here")
    if requested.startswith("mps") and not mps:
        raise ModelError(f"--device {requested}: the MPS backend is not available to torch {torch.__version__} here")
    return requested


def state_dict_sha256(module: Any) -> str:
    """sha256 over every tensor of a module's state dict (name, dtype, shape and bytes)."""
    import torch

    digest = hashlib.sha256()
    for key, tensor in module.state_dict().items():
        flat = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class TorchClassifier(Classifier):
    """A torch.nn.Module in eval mode on a device, fed normalised float NCHW (channels-last), autocast if asked."""

    kind = "torch"
    input_description = "float32 NCHW, (x/255 - mean) / std"

    def __init__(
        self,
        module: Any,
        spec: str | None = None,
        *,
        weights_file: str | None = None,
        device: str = "auto",
        precision: str = "fp32",
        model_config: dict | None = None,
    ) -> None:
        import torch

        self.torch = torch
        name = f"{type(module).__module__}.{type(module).__qualname__}"
        super().__init__(spec or f"torch-module:{name}")
        self.device = resolve_device(device)
        self.precision = precision
        self.module = module.eval().to(device=self.device, memory_format=torch.channels_last)
        self.model_config = model_config if model_config is not None else config_of(module)
        if self.model_config:
            self.preprocessing_origin = "model defaults"
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

    def _autocast(self) -> Any:
        dtype = {"bf16": self.torch.bfloat16, "fp16": self.torch.float16}.get(self.precision)
        return self.torch.autocast(self.device.split(":")[0], dtype=dtype, enabled=dtype is not None)

    def run(self, x: Any) -> Any:
        """The module's logits for a normalised batch on the device (adapters override for their output types)."""
        out = self.module(x)
        return out[0] if isinstance(out, (tuple, list)) else out

    def _forward(self, inputs: Any) -> np.ndarray:
        with self.torch.inference_mode(), self._autocast():
            out = self.run(inputs.to(self.device, non_blocking=True))
        return out.float().cpu().numpy()

    def _after_out_of_memory(self) -> None:
        if self.device.startswith("cuda"):
            self.torch.cuda.empty_cache()

    @cached_property
    def state_sha256(self) -> str:
        """sha256 of the module's state dict (computed once)."""
        return state_dict_sha256(self.module)

    def identity(self) -> dict:
        out = super().identity()
        out["state_dict_sha256"] = self.state_sha256
        out["class"] = f"{type(self.module).__module__}.{type(self.module).__qualname__}"
        if self.weights_file:
            out["weights_file"] = str(self.weights_file)
            out["weights_sha256"] = sha256_file(self.weights_file)
        if self.model_config:
            out["pretrained_cfg"] = {k: v for k, v in self.model_config.items() if k != "file"}
        return out


def read_state_dict(path: str, spec: str) -> dict:
    """A state dict from a .safetensors or torch file (nested under 'state_dict'/'model' or not)."""
    import torch

    if not Path(path).is_file():
        raise ModelError(f"{spec}: --weights {path} does not exist")
    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            state = load_file(path)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ModelError(f"{spec}: --weights {path} is not a readable weights file ({type(error).__name__})") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    return state


def load(spec: ModelSpec, options: LoadOptions) -> TorchClassifier:
    """A torch.nn.Module from a factory, optionally loading a local state dict (`--weights`)."""
    require("torch", "torch: models", "eval")
    refuse_options(spec, options, "label_map")
    import torch

    factory = import_object(spec.target, str(spec))
    try:
        module = factory(**dict(options.model_kwargs))
    except TypeError as error:
        raise ModelError(f"{spec}: {error}") from None
    if not isinstance(module, torch.nn.Module):
        raise ModelError(f"{spec}: the factory returned a {type(module).__name__}, not a torch.nn.Module")
    if options.weights:
        try:
            module.load_state_dict(read_state_dict(options.weights, str(spec)))
        except RuntimeError as error:
            raise ModelError(f"{spec}: --weights {options.weights} does not fit the module ({error})") from None
    return TorchClassifier(module, str(spec), weights_file=options.weights, device=options.device,
                           precision=options.precision)
