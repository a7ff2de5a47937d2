"""Tiny real classifiers of the synthetic scenes: object colour -> class (callable, torch, ONNX)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .tiny_build import SYNTHETIC_CLASSES

COLOURS = np.asarray([c[3] for c in SYNTHETIC_CLASSES], dtype=np.float64)
INDICES = [c[1] for c in SYNTHETIC_CLASSES]
CALLS = {"n": 0, "fail_after": None}


def centre_colour(images: np.ndarray) -> np.ndarray:
    """Mean RGB of the central half of each uint8 NHWC image."""
    height, width = images.shape[1:3]
    centre = images[:, height // 4 : 3 * height // 4, width // 4 : 3 * width // 4]
    return centre.reshape(len(images), -1, 3).mean(axis=1)


def colour_logits(images: np.ndarray) -> np.ndarray:
    """One logit per synthetic class: minus the distance of the centre colour to the class colour."""
    distance = np.linalg.norm(centre_colour(images)[:, None] - COLOURS[None], axis=2)
    return -distance / 20.0


def imagenet_colour_logits(images: np.ndarray) -> np.ndarray:
    """1000 ImageNet logits: the classes' at their indices (10 - d/10), a distractor (index 0) at 5."""
    out = np.full((len(images), 1000), -50.0)
    distance = np.linalg.norm(centre_colour(images)[:, None] - COLOURS[None], axis=2)
    out[:, INDICES] = 10.0 - distance / 10.0
    out[:, 0] = 5.0
    return out


def flaky_colour_logits(images: np.ndarray) -> np.ndarray:
    """colour_logits that raises after CALLS['fail_after'] calls (an interrupted run)."""
    CALLS["n"] += 1
    if CALLS["fail_after"] is not None and CALLS["n"] > CALLS["fail_after"]:
        raise RuntimeError("interrupted")
    return colour_logits(images)


def colour_net(scale: float = 20.0):
    """A torch module computing colour_logits from normalised input; carries a pretrained_cfg."""
    import torch

    class ColourNet(torch.nn.Module):
        """Undo the normalisation, average the centre, negative distance to each class colour."""

        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("colours", torch.tensor(COLOURS, dtype=torch.float32))
            self.register_buffer("scale", torch.tensor(scale))
            self.pretrained_cfg = {"input_size": (3, 96, 96), "crop_pct": 0.75, "mean": (0.5,) * 3, "std": (0.25,) * 3}

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            rgb = (x * 0.25 + 0.5) * 255.0
            height, width = rgb.shape[2:]
            centre = rgb[:, :, height // 4 : 3 * height // 4, width // 4 : 3 * width // 4].mean(dim=(2, 3))
            return -torch.cdist(centre, self.colours) / self.scale

    return ColourNet()


def onnx_colour_model(path: Path, *, uint8: bool = False, size: int = 224) -> Path:
    """An ONNX graph of the same rule, built with onnx.helper: float NCHW in 0..1, or raw uint8 NHWC."""
    import json

    import onnx
    from onnx import TensorProto, helper, numpy_helper

    lo, hi = size // 4, 3 * size // 4
    # logits = centre . colour_c / 255 - |colour_c|^2 / (2 * 255): argmax = nearest colour
    weight = (COLOURS.T / 255.0).astype(np.float32)
    bias = (-(COLOURS**2).sum(axis=1) / (2 * 255.0)).astype(np.float32)
    axes = [1, 2] if uint8 else [2, 3]
    inits = [
        numpy_helper.from_array(np.asarray([lo, lo], np.int64), "starts"),
        numpy_helper.from_array(np.asarray([hi, hi], np.int64), "ends"),
        numpy_helper.from_array(np.asarray(axes, np.int64), "axes"),
        numpy_helper.from_array(weight, "weight"),
        numpy_helper.from_array(bias, "bias"),
    ]
    nodes = []
    source = "pixels"
    if uint8:
        nodes.append(helper.make_node("Cast", ["pixels"], ["as_float"], to=TensorProto.FLOAT))
        source = "as_float"
    nodes += [
        helper.make_node("Slice", [source, "starts", "ends", "axes"], ["centre"]),
        helper.make_node("ReduceMean", ["centre"], ["mean"], axes=axes, keepdims=0),
    ]
    if not uint8:  # input is x/255: back to 0..255
        inits.append(numpy_helper.from_array(np.asarray(255.0, np.float32), "k255"))
        nodes.append(helper.make_node("Mul", ["mean", "k255"], ["mean255"]))
    nodes += [
        helper.make_node("MatMul", ["mean255" if not uint8 else "mean", "weight"], ["scores"]),
        helper.make_node("Add", ["scores", "bias"], ["logits"]),
    ]
    shape = ["N", size, size, 3] if uint8 else ["N", 3, size, size]
    dtype = TensorProto.UINT8 if uint8 else TensorProto.FLOAT
    graph = helper.make_graph(
        nodes,
        "colour",
        [helper.make_tensor_value_info("pixels", dtype, shape)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", len(COLOURS)])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    if not uint8:
        helper.set_model_props(model, {"preprocessing": json.dumps({"mean": [0, 0, 0], "std": [1, 1, 1]})})
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


GREY = np.asarray([128.0, 128.0, 128.0])


def corner_colour(images: np.ndarray) -> np.ndarray:
    """Mean RGB of the four corner patches (a tenth of each side) of each uint8 NHWC image."""
    height, width = images.shape[1:3]
    h, w = max(1, height // 10), max(1, width // 10)
    corners = [images[:, :h, :w], images[:, :h, -w:], images[:, -h:, :w], images[:, -h:, -w:]]
    return np.concatenate([c.reshape(len(images), -1, 3) for c in corners], axis=1).mean(axis=1)


def background_colour_logits(images: np.ndarray) -> np.ndarray:
    """Predicts from the background: the class whose colour the corners show; on a grey background, the object's."""
    corners = corner_colour(images)
    palette = np.concatenate([GREY[None], COLOURS])
    nearest = np.linalg.norm(corners[:, None] - palette[None], axis=2).argmin(axis=1)
    by_object = colour_logits(images)
    by_background = np.full((len(images), len(COLOURS)), -10.0)
    by_background[np.arange(len(images)), np.maximum(nearest - 1, 0)] = 10.0
    return np.where((nearest == 0)[:, None], by_object, by_background)


def broken_logits(images: np.ndarray) -> np.ndarray:
    """A model that fails on every batch, the same way wherever it runs."""
    raise RuntimeError(f"the toy model is broken ({len(images)} images)")


def slow_colour_logits(images: np.ndarray) -> np.ndarray:
    """colour_logits, a quarter of a second a batch: a run long enough to lose a node in."""
    import time

    time.sleep(0.25)
    return colour_logits(images)
