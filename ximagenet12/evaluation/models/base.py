"""The classifier protocol every library adapter implements, the parsed model spec and the options loading takes.

Loading is a pure step, `(ModelSpec, LoadOptions) -> Classifier`, whose inputs are small picklable
values, so a worker process or a Ray actor can load its own copy; `Classifier.predict` (or
`prepare` then `forward`) is the forward pass on a uint8 NHWC batch that such a worker calls.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...classes import ClassInfo
from ...errors import EXIT_NETWORK, EXIT_NOT_FOUND, EXIT_USAGE, MissingExtra, XImageNet12Error
from ...provenance import sha256_file
from ..preprocessing import Preprocessing, from_model_config

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("fp32", "bf16", "fp16")


class ModelError(XImageNet12Error, ValueError):
    """A model spec that cannot be loaded or run as asked; the message names the spec and the reason."""


@dataclass(frozen=True)
class ModelSpec:
    """A parsed `KIND:TARGET` model spec (`timm:resnet50.a1_in1k`, `torch:pkg.mod:factory`, ...)."""

    kind: str
    target: str

    @classmethod
    def parse(cls, text: str, kinds: tuple[str, ...]) -> ModelSpec:
        """Split at the first colon; the kind must be one of `kinds` and the target non-empty."""
        kind, sep, target = str(text).partition(":")
        if not sep or kind not in kinds or not target:
            raise ModelError(f"model spec must be one of {', '.join(k + ':...' for k in kinds)}; got {text!r}")
        return cls(kind, target)

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}"


@dataclass(frozen=True)
class LoadOptions:
    """Everything besides the spec that decides which classifier is loaded and how it runs."""

    weights: str | None = None
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)
    device: str = "auto"
    precision: str = "fp32"
    label_map: str | None = None
    classes: tuple[ClassInfo, ...] = ()
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.device not in DEVICES and not self.device.startswith(("cuda:", "mps:")):
            raise ModelError(f"--device must be one of {', '.join(DEVICES)} (or cuda:N), not {self.device!r}")
        if self.precision not in PRECISIONS:
            raise ModelError(f"--precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")


OPTION_FLAGS = {"weights": "--weights", "model_kwargs": "--model-kwargs", "label_map": "--label-map"}


def refuse_options(spec: ModelSpec, options: LoadOptions, *names: str) -> None:
    """A one-line ModelError if any of the named options is set: they mean nothing to this kind of model."""
    given = [OPTION_FLAGS[name] for name in names if getattr(options, name)]
    if given:
        raise ModelError(f"{spec}: {', '.join(given)} do not apply to {spec.kind}: models")


def require(module: str, what: str, extra: str) -> None:
    """Raise MissingExtra unless `module` can be imported."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a None entry in sys.modules
        found = False
    if not found:
        raise MissingExtra(what, extra)


def import_object(target: str, spec: str) -> Any:
    """'package.module:attribute' -> the object; a one-line ModelError naming `spec` otherwise."""
    module_name, sep, name = target.rpartition(":")
    if not sep or not module_name or not name:
        raise ModelError(f"{spec}: expected 'package.module:name' after the prefix")
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise ModelError(f"{spec}: no module named {error.name!r}") from None
    for part in name.split("."):
        if not hasattr(obj, part):
            raise ModelError(f"{spec}: {module_name} has no attribute {name!r}")
        obj = getattr(obj, part)
    return obj


def load_failure(spec: str, error: BaseException) -> ModelError:
    """A library's failure to load a model as a one-line error, with the Hub's exit codes for Hub failures."""
    name = type(error).__name__
    text = str(error).strip().splitlines()
    message = f"{spec}: could not load the model ({name}: {text[0] if text else 'no message'})"
    if name in ("RepositoryNotFoundError", "RevisionNotFoundError", "EntryNotFoundError", "GatedRepoError"):
        return ModelError(message, EXIT_NOT_FOUND)
    if name in ("ConnectError", "ConnectionError", "ConnectTimeout", "ReadTimeout", "LocalEntryNotFoundError"):
        return ModelError(message, EXIT_NETWORK)
    return ModelError(message, EXIT_USAGE)


def cached_hub_file(repo_id: str, filenames: tuple[str, ...], revision: str | None = None) -> dict | None:
    """The Hub commit and sha256 of the first of `filenames` in the local cache (a library just downloaded it)."""
    from huggingface_hub import try_to_load_from_cache

    for name in filenames:
        path = try_to_load_from_cache(repo_id, name, revision=revision)
        if isinstance(path, str) and Path(path).is_file():
            return {"repo_id": repo_id, "commit": Path(path).parent.name, "file": name, "sha256": sha256_file(path)}
    return None


def is_out_of_memory(error: BaseException) -> bool:
    """Whether an exception is an allocator's out-of-memory failure (CUDA, MPS, CPU)."""
    if isinstance(error, MemoryError):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and any(
        phrase in text for phrase in ("out of memory", "can't allocate memory", "failed to allocate")
    )


class Classifier:
    """A model behind one interface: preprocessing it asks for, `predict(uint8 NHWC batch)`, identity.

    Subclasses implement `_forward` (a prepared batch -> logits) and usually `prepare`; `forward`
    splits a batch that does not fit in memory into halves until it does, and remembers the size.
    """

    kind = "abstract"
    input_description = "uint8 NHWC RGB"

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.model_config: dict | None = None
        self.preprocessing_origin = "ImageNet default (256/224 bilinear)"
        self.device = "cpu"
        self.precision = "fp32"
        self.forward_batch_size: int | None = None

    def preprocessing(self) -> dict:
        """Preprocessing fields the model asks for (from its pretrained_cfg-style config)."""
        return from_model_config(self.model_config) if self.model_config else {}

    def prepare(self, images: np.ndarray, pre: Preprocessing) -> Any:
        """Turn a preprocessed uint8 NHWC batch into what `forward` takes (runs on a loader thread)."""
        return images

    def _forward(self, inputs: Any) -> np.ndarray:
        """Logits (N, C) for a prepared batch that fits in memory."""
        raise NotImplementedError

    def _after_out_of_memory(self) -> None:
        """Release what a failed batch held (a device cache)."""

    def forward(self, inputs: Any) -> np.ndarray:
        """Logits (N, C) as float32 numpy, in chunks halved on out-of-memory until they fit."""
        total = len(inputs)
        size = min(self.forward_batch_size or total, total) or 1
        while True:
            try:
                parts = [self._forward(inputs[i : i + size]) for i in range(0, total, size)]
                break
            except Exception as error:
                if not is_out_of_memory(error):
                    raise
                self._after_out_of_memory()
                if size == 1:
                    raise ModelError(f"{self.spec}: out of memory on {self.device} even one image at a time") from None
                size = max(1, size // 2)
                self.forward_batch_size = size
        out = np.concatenate(parts) if len(parts) > 1 else parts[0]
        return np.asarray(out, dtype=np.float32).reshape(total, -1)

    def predict(self, images: np.ndarray, pre: Preprocessing) -> np.ndarray:
        """Logits for a uint8 NHWC batch already resized and cropped by `pre`."""
        return self.forward(self.prepare(images, pre))

    __call__ = predict

    def identity(self) -> dict:
        """What identifies the model's behaviour (spec, weights hashes, configs), for provenance and resuming."""
        return {"kind": self.kind, "spec": self.spec, "input": self.input_description}

    def runtime(self) -> dict:
        """Where and how it ran: device, precision, the forward batch size that fitted."""
        return {"device": self.device, "precision": self.precision, "forward_batch_size": self.forward_batch_size}

    def set_threads(self, threads: int) -> None:
        """Use this many threads for inference."""

