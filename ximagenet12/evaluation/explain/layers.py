"""Grad-CAM's target layer: found per architecture from one probe pass, or named by the user (`--layer`).

Grad-CAM (Selvaraju et al., ICCV 2017) weighs the last convolutional feature maps by their pooled
gradients. For a network that ends in global pooling and a linear layer, those are the pooling's
input: the features the classifier reads, after their last activation. So the rule is: run one image,
record every module call, and take the input of the last module that turns a deep spatial map (smaller
than the image) into one without space (the global pooling: `avgpool` of torchvision's ResNets,
`global_pool` of timm's CNNs, `_avg_pooling` of EfficientNet-Lite). Without such a module, the output of
the last module called once that returns a deep spatial map. A map that comes before most of the
network's modules (a transformer's patch embedding) is refused: there Grad-CAM explains the first layer,
not the decision; name a layer with `--layer NAME` (its output) or `--layer NAME:input`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..models.base import ModelError

EARLY = 0.5  # a map after which more than this share of the module calls still run is too early


@dataclass(frozen=True)
class TargetLayer:
    """A module of the model, whether its input or output is attributed, and how it was chosen."""

    name: str
    module: Any
    attribute_to_input: bool
    how: str
    shape: tuple[int, ...] | None = None

    def to_dict(self) -> dict:
        """JSON-ready record."""
        return {"name": self.name, "point": "input" if self.attribute_to_input else "output", "how": self.how,
                "feature_shape": list(self.shape) if self.shape else None}


@dataclass
class _Call:
    name: str
    module: Any
    inputs: tuple[int, ...] | None
    output: tuple[int, ...] | None


def _shape(value: Any) -> tuple[int, ...] | None:
    if isinstance(value, (tuple, list)):
        value = value[0] if value else None
    shape = getattr(value, "shape", None)
    return tuple(int(v) for v in shape) if shape is not None else None


def _spatial(shape: tuple[int, ...] | None, image: tuple[int, int]) -> bool:
    """An N x C x h x w map with some space, smaller than the image and of its aspect (a feature map, not the
    picture, nor a transformer's heads x tokens x channels)."""
    if shape is None or len(shape) != 4 or shape[2] * shape[3] <= 1:
        return False
    height, width = shape[2:]
    aspect = image[0] / image[1]
    return height < image[0] and width < image[1] and abs(height / width - aspect) <= 0.25 * aspect


def _pooled(shape: tuple[int, ...] | None) -> bool:
    """An output without space: N x C, or N x C x 1 x 1."""
    return shape is not None and (len(shape) < 4 or shape[2] * shape[3] == 1)


def probe(run: Any, module: Any, example: Any) -> list[_Call]:
    """Every module call of one forward pass of `run(example)`, in order, with input and output shapes."""
    import torch

    calls: list[_Call] = []
    handles = []
    for name, sub in module.named_modules():
        if not name:
            continue

        def hook(mod: Any, args: Any, out: Any, name: str = name) -> None:
            calls.append(_Call(name, mod, _shape(args), _shape(out)))

        handles.append(sub.register_forward_hook(hook))
    try:
        with torch.no_grad():
            run(example)
    finally:
        for handle in handles:
            handle.remove()
    return calls


def find_layer(run: Any, module: Any, example: Any, spec: str) -> TargetLayer:
    """The target layer by the rule above, from one probe pass of `example` (a 1 x 3 x H x W batch)."""
    calls = probe(run, module, example)
    image = tuple(example.shape[2:4])
    counts: dict[str, int] = {}
    for call in calls:
        counts[call.name] = counts.get(call.name, 0) + 1
    chosen = None
    for index in range(len(calls) - 1, -1, -1):
        call = calls[index]
        if counts[call.name] == 1 and _spatial(call.inputs, image) and _pooled(call.output):
            how = f"found: the input of `{call.name}`, which pools the last feature map to one vector"
            chosen = (index, TargetLayer(call.name, call.module, True, how, call.inputs))
            break
    if chosen is None:
        for index in range(len(calls) - 1, -1, -1):
            call = calls[index]
            if counts[call.name] == 1 and _spatial(call.output, image):
                chosen = (index, TargetLayer(call.name, call.module, False,
                                             f"found: the last spatial feature map, output of `{call.name}`",
                                             call.output))
                break
    if chosen is None:
        raise ModelError(f"{spec}: gradcam needs a convolutional feature map and none was found; "
                         "use --method ig or occlusion, or name one with --layer")
    index, layer = chosen
    if (len(calls) - 1 - index) > EARLY * len(calls):
        raise ModelError(f"{spec}: the last spatial feature map is `{layer.name}`, before most of the network "
                         "(a transformer?); Grad-CAM there explains an early layer: give --layer NAME[:input], "
                         "or use --method ig or occlusion")
    return layer


def named_layer(module: Any, text: str, spec: str, example: Any = None, run: Any = None) -> TargetLayer:
    """The layer `NAME` (its output) or `NAME:input` of `module`, as given by --layer."""
    name, _, point = text.partition(":")
    if point not in ("", "input", "output"):
        raise ModelError(f"--layer {text}: expected NAME, NAME:input or NAME:output")
    modules = dict(module.named_modules())
    if not name or name not in modules:
        close = [n for n in modules if n and name and (name in n or n.endswith(name.split(".")[-1]))][:5]
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ModelError(f"{spec}: --layer {name!r} is not a module of the model{hint}")
    shape = None
    if example is not None and run is not None:
        calls = [c for c in probe(run, module, example) if c.name == name]
        if not calls:
            raise ModelError(f"{spec}: --layer {name!r} is never called in the forward pass")
        if len(calls) > 1:
            raise ModelError(f"{spec}: --layer {name!r} is called {len(calls)} times per forward pass; "
                             "name a module that is called once")
        shape = calls[0].inputs if point == "input" else calls[0].output
        if shape is None or len(shape) != 4:
            raise ModelError(f"{spec}: the {point or 'output'} of --layer {name!r} is not an N x C x H x W map "
                             f"(shape {shape})")
    return TargetLayer(name, modules[name], point == "input", f"--layer {text}", shape)
