"""`onnx:model.onnx` specs: a graph on onnxruntime; float inputs get normalised NCHW/NHWC, uint8 inputs raw pixels."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ...provenance import sha256_file
from ..preprocessing import Preprocessing, normalize
from .base import Classifier, LoadOptions, ModelError, ModelSpec, refuse_options, require

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


class OnnxClassifier(Classifier):
    """An ONNX graph; its input's type, layout and static size decide what `prepare` makes."""

    kind = "onnx"

    def __init__(self, path: str | Path, spec: str | None = None, *, device: str = "auto",
                 threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = str(path)
        super().__init__(spec or f"onnx:{self.path}")
        available = ort.get_available_providers()
        if device == "auto":
            device = "cuda" if PROVIDERS["cuda"] in available else "cpu"
        if device not in PROVIDERS or PROVIDERS[device] not in available:
            raise ModelError(f"{self.spec}: --device {device} has no onnxruntime provider here (have {available})")
        self.device = device
        self.threads = threads
        self._open()

    def _open(self) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
        try:
            self.session = ort.InferenceSession(self.path, options, providers=[PROVIDERS[self.device]])
        except Exception as error:  # onnxruntime raises its own exception types for unreadable graphs
            reason = type(error).__name__
            raise ModelError(f"{self.spec}: {self.path} is not a loadable ONNX graph ({reason})") from None
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
            self.preprocessing_origin = "model defaults"

    def preprocessing(self) -> dict:
        out = super().preprocessing()
        if self.static_size and "crop" not in out:  # a fixed input size decides the crop
            out["crop"] = self.static_size[0]
            out.setdefault("resize", math.floor(out["crop"] / 0.875))
            self.preprocessing_origin = "model defaults"
        return out

    def set_threads(self, threads: int) -> None:
        if threads != self.threads:
            self.threads = threads
            self._open()

    def prepare(self, images: np.ndarray, pre: Preprocessing) -> np.ndarray:
        if self.static_size and self.static_size != images.shape[1:3]:
            raise ModelError(f"{self.path} takes {self.static_size} images; preprocessing crops {pre.crop}")
        if self.uint8:
            return images if self.nhwc else np.ascontiguousarray(images.transpose(0, 3, 1, 2))
        x = normalize(images, pre)
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if self.nhwc else x

    def _forward(self, inputs: np.ndarray) -> np.ndarray:
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


def load(spec: ModelSpec, options: LoadOptions) -> OnnxClassifier:
    """An ONNX graph file on onnxruntime (fp32: the graph runs in the precision it was exported in)."""
    require("onnxruntime", "onnx: models", "eval")
    refuse_options(spec, options, "weights", "model_kwargs", "label_map")
    path = Path(spec.target)
    if not path.is_file():
        raise ModelError(f"{spec}: {path} does not exist" if not path.exists() else f"{spec}: {path} is not a file")
    if options.precision != "fp32":
        raise ModelError(f"{spec}: --precision {options.precision} applies to torch-based models; "
                         "an ONNX graph runs in the precision it was exported in")
    return OnnxClassifier(path, str(spec), device=options.device, threads=options.threads)
