"""Each library's own preprocessing and forward pass on a build's images, beside ours, for the Hub tests.

`compare(spec, build, direct)` runs our loader and classifier on the rows of `original` and `seg_img`
(test split) and the library's own transform and model call on the same stored bytes decoded with PIL,
and returns the largest differences of the model inputs and of the logits.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from PIL import Image

from ximagenet12.evaluation.loader import batches
from ximagenet12.evaluation.models import LoadOptions, load_classifier
from ximagenet12.evaluation.runner import resolve_preprocessing
from ximagenet12.evaluation.source import open_build

CONFIGS = ("original", "seg_img")


def stored_images(build: str | Path, config: str, split: str = "test") -> list[Image.Image]:
    """The config's stored images in shard order, decoded by PIL as a user would."""
    source = open_build(build)
    out = []
    for path in source.files(config, split):
        for cell in pq.read_table(path, columns=["image"]).column("image").to_pylist():
            out.append(Image.open(io.BytesIO(cell["bytes"])).convert("RGB"))
    return out


def ours(spec: str, build: str | Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """Our prepared inputs and logits over CONFIGS, and the classifier's identity."""
    source = open_build(build)
    classifier = load_classifier(spec, LoadOptions(classes=source.manifest.classes))
    pre, _ = resolve_preprocessing(None, classifier.preprocessing(), classifier.preprocessing_origin)
    inputs, logits = [], []
    for config in CONFIGS:
        for _, prepared in batches(source, config, "test", pre, batch_size=4,
                                   transform=lambda images: classifier.prepare(images, pre)):
            inputs.append(np.asarray(prepared))
            logits.append(classifier.forward(prepared))
    return np.concatenate(inputs), np.concatenate(logits), classifier.identity()


def compare(spec: str, build: str | Path, direct: Callable[[list[Image.Image]], tuple]) -> dict:
    """Largest |ours - library's| of the model inputs and of the logits, with the logits' scale."""
    images = [image for config in CONFIGS for image in stored_images(build, config)]
    mine_in, mine_out, identity = ours(spec, build)
    their_in, their_out = direct(images)
    return {
        "inputs": float(np.abs(mine_in - np.asarray(their_in)).max()),
        "logits": float(np.abs(mine_out - np.asarray(their_out)).max()),
        "logit_scale": float(np.abs(np.asarray(their_out)).max()),
        "argmax_equal": bool(np.array_equal(mine_out.argmax(1), np.asarray(their_out).argmax(1))),
        "images": len(images),
        "identity": identity,
    }


def timm_direct(name: str) -> Callable:
    """timm.create_model(name, pretrained=True) with timm's own eval transform."""

    def run(images: list[Image.Image]) -> tuple:
        import timm
        import torch

        model = timm.create_model(name, pretrained=True).eval()
        transform = timm.data.create_transform(**timm.data.resolve_model_data_config(model), is_training=False)
        x = torch.stack([transform(image) for image in images])
        with torch.no_grad():
            return x.numpy(), model(x).numpy()

    return run


def hf_direct(repo: str, imagenet_index_of_column: list[int] | None) -> Callable:
    """AutoModelForImageClassification with its AutoImageProcessor (PIL backend), logits put in ImageNet order."""

    def run(images: list[Image.Image]) -> tuple:
        import torch
        from transformers import AutoImageProcessor, AutoModelForImageClassification

        model = AutoModelForImageClassification.from_pretrained(repo).eval()
        processor = AutoImageProcessor.from_pretrained(repo, backend="pil")
        x = processor(images=images, return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            logits = model(pixel_values=x).logits.numpy()
        if imagenet_index_of_column is not None:
            ordered = np.empty_like(logits)
            ordered[:, imagenet_index_of_column] = logits
            logits = ordered
        return x.numpy(), logits

    return run


def clip_direct(name: str, class_names: list[str]) -> Callable:
    """OpenCLIP's model and eval transform; text features averaged over the templates by hand; 100 * cosine."""

    def run(images: list[Image.Image]) -> tuple:
        import open_clip
        import torch
        from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

        model, _, preprocess = open_clip.create_model_and_transforms(name)
        model.eval()
        tokenizer = open_clip.get_tokenizer(name)
        with torch.no_grad():
            columns = []
            for class_name in class_names:
                texts = tokenizer([template(class_name) for template in OPENAI_IMAGENET_TEMPLATES])
                features = model.encode_text(texts)
                features = features / features.norm(dim=-1, keepdim=True)
                mean = features.mean(dim=0)
                columns.append(mean / mean.norm())
            text = torch.stack(columns, dim=1)
            x = torch.stack([preprocess(image) for image in images])
            image_features = model.encode_image(x)
            image_features = image_features / image_features.norm(dim=-1, keepdim=True)
            return x.numpy(), (100.0 * image_features @ text).numpy()

    return run
