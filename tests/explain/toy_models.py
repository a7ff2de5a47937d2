"""Torch models whose attributions are known by construction, and tiny builds for them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..evaluation.tiny_build import SYNTHETIC_CLASSES, row, write_build

SIZE = 32  # input and stored size of the region model: no resize, no crop
REGION = (slice(8, 24), slice(8, 24))  # the only pixels RegionNet reads, on 4-pixel boundaries
LINEAR_SIZE = 16
CLASSES = [(wnid, index, name) for wnid, index, name, _ in SYNTHETIC_CLASSES]


def region_mask(size: int = SIZE) -> np.ndarray:
    """0/255: the region RegionNet reads."""
    mask = np.zeros((size, size), np.uint8)
    mask[REGION] = 255
    return mask


def region_net():
    """Three logits from the region only: a 2x2 stride-2 convolution, a fixed spatial gate that zeroes every
    feature outside the region, global average pooling, a linear layer. Outside the region every gradient and
    every feature is zero, so every attribution there is too."""
    import torch

    class RegionNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            generator = torch.Generator().manual_seed(0)
            self.features = torch.nn.Conv2d(3, 4, kernel_size=2, stride=2)
            self.pool = torch.nn.AdaptiveAvgPool2d(1)
            self.classifier = torch.nn.Linear(4, 3)
            with torch.no_grad():
                self.features.weight.copy_(torch.rand(4, 3, 2, 2, generator=generator) + 0.1)
                self.features.bias.zero_()
                self.classifier.weight.copy_(torch.rand(3, 4, generator=generator) + 0.1)
                self.classifier.bias.zero_()
            gate = torch.zeros(1, 1, SIZE // 2, SIZE // 2)
            gate[..., REGION[0].start // 2 : REGION[0].stop // 2, REGION[1].start // 2 : REGION[1].stop // 2] = 1
            self.register_buffer("gate", gate)
            self.pretrained_cfg = {"input_size": (3, SIZE, SIZE), "crop_pct": 1.0, "interpolation": "bilinear",
                                   "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25)}

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            gated = torch.relu(self.features(x)) * self.gate
            return self.classifier(self.pool(gated).flatten(1))

    return RegionNet()


def linear_weights() -> np.ndarray:
    """(3, 3, 16, 16) weights of LinearNet, seeded."""
    return np.random.default_rng(7).normal(0, 0.02, (3, 3, LINEAR_SIZE, LINEAR_SIZE)).astype(np.float32)


def linear_net():
    """logits = W . x + b on the normalised 16 x 16 input: integrated gradients is (x - x') * W exactly."""
    import torch

    class LinearNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(3 * LINEAR_SIZE * LINEAR_SIZE, 3)
            with torch.no_grad():
                self.linear.weight.copy_(torch.from_numpy(linear_weights().reshape(3, -1)))
                self.linear.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
            self.pretrained_cfg = {"input_size": (3, LINEAR_SIZE, LINEAR_SIZE), "crop_pct": 0.8,
                                   "interpolation": "bilinear", "mean": (0.485, 0.456, 0.406),
                                   "std": (0.229, 0.224, 0.225)}

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear(x.flatten(1))

    return LinearNet()


def textured(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A random RGB image."""
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def region_build(root: Path, per_class: int = 2) -> Path:
    """`original` rows masked with the region RegionNet reads, `seg_img` rows (the same images) masked with its
    complement; all 32 x 32, so the model sees them unresized."""
    rng = np.random.default_rng(3)
    rows: dict[str, dict[str, list[dict]]] = {c: {"test": []} for c in ("original", "seg_img")}
    for label, (wnid, _, _) in enumerate(CLASSES):
        for n in range(per_class):
            image = textured(rng, SIZE, SIZE)
            source_id = f"{wnid}_{n}"
            rows["original"]["test"].append(row(image, region_mask(), label, wnid, source_id, "original"))
            rows["seg_img"]["test"].append(row(image, 255 - region_mask(), label, wnid, source_id, "seg_img"))
    return write_build(root, CLASSES, rows, card=False)


def linear_build(root: Path, size: tuple[int, int] = (23, 29)) -> Path:
    """Images of another size than LinearNet's input (resize 20, crop 16), so the maps are carried back."""
    rng = np.random.default_rng(5)
    height, width = size
    mask = np.zeros((height, width), np.uint8)
    mask[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = 255
    rows: dict[str, dict[str, list[dict]]] = {"original": {"test": []}}
    for label, (wnid, _, _) in enumerate(CLASSES):
        for n in range(2):
            image = textured(rng, height, width)
            rows["original"]["test"].append(row(image, mask, label, wnid, f"{wnid}_{n}", "original"))
    return write_build(root, CLASSES, rows, card=False)


def region_net_imagenet():
    """RegionNet's three logits at the build classes' ImageNet indices of 1000 outputs, every other output a
    constant 50 (so the top-1 over all 1000 is output 0, whose attribution is zero everywhere)."""
    import torch

    inner = region_net()
    indices = [index for _, index, _ in CLASSES]

    class ImageNetRegionNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = inner
            self.pretrained_cfg = inner.pretrained_cfg

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            small = self.inner(x)
            out = torch.full((len(x), 1000), 50.0, dtype=small.dtype) + 0 * small.sum(dim=1, keepdim=True)
            out[:, indices] = small
            return out

    return ImageNetRegionNet()
