"""Tiny randomly initialised models made with each library, saved in the layout that library loads from the Hub.

They are pushed to the loopback Hub (`tests/hub_server.py`) by committing the folder's files, and loaded
back by spec through `HF_ENDPOINT` in a subprocess, as a user's run would.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

TIMM_RESNET = "test_resnet.r160_in1k"  # timm's own tiny test architectures, with Hub ids timm/<name>
TIMM_VIT = "test_vit.r160_in1k"
CLIP_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file under `folder`, by relative path: what to commit to a repo."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def timm_model(name: str, folder: Path, seed: int = 0) -> Path:
    """A timm architecture with random weights, saved as timm pushes to the Hub (config.json + model.safetensors)."""
    import timm
    import torch

    torch.manual_seed(seed)
    model = timm.create_model(name, pretrained=False)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0, 0.2)
    timm.models.save_for_hf(model, folder, safe_serialization=True)
    return folder


def imagenet_descriptions() -> list[str]:
    """ImageNet-1k label descriptions in index order ('tench, Tinca tinca', ...), as transformers configs carry."""
    from timm.data import ImageNetInfo

    return list(ImageNetInfo("imagenet-1k").label_descriptions())


def imagenet_wnids() -> list[str]:
    """ImageNet-1k wnids in index order."""
    from timm.data import ImageNetInfo

    return list(ImageNetInfo("imagenet-1k").label_names())


def hf_vit(folder: Path, labels: list[str], seed: int = 0) -> Path:
    """A tiny transformers ViT classifier with these labels and a 32 px ViTImageProcessor, save_pretrained'ed."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(seed)
    config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=37, num_labels=len(labels), id2label=dict(enumerate(labels)),
                       label2id={label: i for i, label in enumerate(labels)})
    model = ViTForImageClassification(config).eval()
    with torch.no_grad():
        model.classifier.weight.normal_(0, 1.0)
    model.save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}, resample=2, image_mean=[0.5, 0.4, 0.3],
                      image_std=[0.2, 0.25, 0.3]).save_pretrained(folder)
    return folder


def permuted_imagenet_labels(seed: int = 0) -> tuple[list[str], np.ndarray]:
    """The 1000 ImageNet descriptions in a shuffled order, and for each model column its ImageNet index.

    The two classes described just 'crane' (134, the bird; 517, the machine) cannot be told apart by their
    labels; they keep their relative order, as in every index-ordered id2label.
    """
    descriptions = imagenet_descriptions()
    order = np.random.default_rng(seed).permutation(len(descriptions))
    cranes = np.flatnonzero(np.isin(order, [134, 517]))
    order[cranes] = [134, 517]
    return [descriptions[i] for i in order], order


def clip_model(folder: Path, seed: int = 0) -> Path:
    """A tiny OpenCLIP model saved as open_clip pushes to the Hub (open_clip_config.json + safetensors)."""
    import open_clip
    import torch
    from open_clip.push_to_hf_hub import save_config_for_hf
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = open_clip.CLIP(**CLIP_CONFIG).eval()
    open_clip.model.set_model_preprocess_cfg(
        model, {"size": 32, "mode": "RGB", "mean": (0.48, 0.46, 0.41), "std": (0.27, 0.26, 0.28),
                "interpolation": "bicubic", "resize_mode": "shortest", "fill_color": 0})
    folder.mkdir(parents=True, exist_ok=True)
    save_file(model.state_dict(), folder / "open_clip_model.safetensors")
    save_config_for_hf(model, folder / "open_clip_config.json", model_config=CLIP_CONFIG)
    return folder


def clip_config_file(folder: Path, name: str) -> Path:
    """The tiny config as an OpenCLIP model config file `<name>.json` (for `open_clip.add_model_config`)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(CLIP_CONFIG))
    return path
