"""`hf:REPO_ID[@REVISION]` or `hf:FOLDER` specs: transformers' AutoModelForImageClassification + AutoImageProcessor.

The processor's settings become an explicit `Preprocessing` (resize, crop, resampling, mean, std)
that reproduces transformers' PIL backend exactly; anything it cannot reproduce is refused.
The model's `id2label` decides its outputs: a 1000-way ImageNet classifier's labels are mapped to
ImageNet-1k indices (any order), a model of the build's own classes to the build's labels, and any
other model needs `--label-map`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...classes import ClassInfo
from .base import LoadOptions, ModelError, ModelSpec, cached_hub_file, load_failure, refuse_options, require
from .torch import TorchClassifier

IMAGENET_1K = "imagenet-1k"
RESAMPLE_NAMES = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}
HUB_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
CONVNEXT_FULL_SQUASH = 384  # ConvNeXt processors squash without cropping from this shortest edge up


@dataclass(frozen=True)
class Outputs:
    """Which model logits make each output column: one model column each, or several (their max) per class."""

    space: str  # "imagenet-1k" (1000 columns in ImageNet index order) or "classes" (one per build label)
    groups: tuple[tuple[int, ...], ...]
    rule: str

    def to_dict(self) -> dict:
        singletons = all(len(g) == 1 for g in self.groups)
        return {"space": self.space, "rule": self.rule, "columns": len(self.groups),
                "model_columns": [g[0] for g in self.groups] if singletons else [list(g) for g in self.groups]}


def imagenet_labels() -> tuple[list[str], list[str]]:
    """ImageNet-1k wnids and label descriptions in index order (timm ships them)."""
    require("timm", "hf: ImageNet-1k label names", "models")
    from timm.data import ImageNetInfo

    info = ImageNetInfo("imagenet-1k")
    return list(info.label_names()), list(info.label_descriptions())


def _imagenet_order(labels: Sequence[str]) -> list[int] | None:
    """For each ImageNet index, the model column whose label names it, if all 1000 labels name distinct classes.

    A label names a class by its full description ('tench, Tinca tinca'), its wnid, or a first lemma that no
    other class shares. ImageNet has one description twice ('crane', the bird 134 and the machine 517): its
    columns are matched to those indices in order, as every index-ordered id2label has them.
    """
    wnids, descriptions = imagenet_labels()
    by_name: dict[str, list[int]] = {}
    for i, d in enumerate(descriptions):
        by_name.setdefault(d.lower(), []).append(i)
    for i, w in enumerate(wnids):
        by_name.setdefault(w.lower(), []).append(i)
    firsts: dict[str, list[int]] = {}
    for i, d in enumerate(descriptions):
        firsts.setdefault(d.split(",")[0].strip().lower(), []).append(i)
    order = [-1] * len(descriptions)
    for column, label in enumerate(labels):
        key = str(label).strip().lower()
        candidates = by_name.get(key) or (firsts[key] if len(firsts.get(key, [])) == 1 else [])
        free = [i for i in candidates if order[i] == -1]
        if not free:
            return None
        order[free[0]] = column
    return order if -1 not in order else None


def _class_of(value: Any, classes: Sequence[ClassInfo]) -> int | None:
    """A build label from a wnid, a class name or a label number."""
    text = str(value).strip().lower()
    for c in classes:
        if text in (c.wnid.lower(), c.name.lower(), str(c.label)):
            return c.label
    return None


def resolve_outputs(
    labels: Sequence[str], classes: Sequence[ClassInfo], label_map: str | None, spec: str
) -> Outputs:
    """How the model's labels become the evaluation's output columns, or a ModelError saying what to give."""
    if label_map == IMAGENET_1K:
        if len(labels) != 1000:
            raise ModelError(f"{spec}: --label-map {IMAGENET_1K} needs a 1000-way model; it has {len(labels)} labels")
        return Outputs(IMAGENET_1K, tuple((i,) for i in range(1000)), "declared ImageNet-1k order (--label-map)")
    if label_map is not None:
        return _from_label_map(labels, classes, label_map, spec)
    if len(labels) == 1000:
        order = _imagenet_order(labels)
        if order is not None:
            same = order == list(range(1000))
            rule = "id2label is ImageNet-1k" + (" in index order" if same else ", reordered to ImageNet indices")
            return Outputs(IMAGENET_1K, tuple((i,) for i in order), rule)
    found = [_class_of(label, classes) for label in labels]
    named = sorted(f for f in found if f is not None)
    if classes and len(labels) == len(classes) and named == list(range(len(classes))):
        by_label = {label: column for column, label in enumerate(found)}
        return Outputs("classes", tuple((by_label[c.label],) for c in classes), "id2label names the build's classes")
    shown = ", ".join(repr(str(v)) for v in list(labels)[:3])
    raise ModelError(
        f"{spec}: its {len(labels)} labels ({shown}, ...) are neither ImageNet-1k's nor this build's classes; "
        f"give --label-map FILE (JSON: model label -> class wnid) or --label-map {IMAGENET_1K}"
    )


def _from_label_map(labels: Sequence[str], classes: Sequence[ClassInfo], path: str, spec: str) -> Outputs:
    """A JSON file {model label or column: build class (wnid, name or label)}; a class takes its labels' max logit."""
    try:
        mapping = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ModelError(f"{spec}: --label-map {path} does not exist") from None
    except (OSError, ValueError) as error:
        raise ModelError(f"{spec}: --label-map {path} is not readable JSON ({error})") from None
    if not isinstance(mapping, Mapping) or not mapping:
        raise ModelError(f"{spec}: --label-map {path} must be a JSON object of model label -> class")
    columns = {str(label).strip().lower(): i for i, label in enumerate(labels)}
    groups: dict[int, list[int]] = {}
    for key, value in mapping.items():
        column = columns.get(str(key).strip().lower())
        if column is None and str(key).isdigit() and int(key) < len(labels):
            column = int(key)
        target = _class_of(value, classes)
        if column is None or target is None:
            what = f"model label {key!r}" if column is None else f"class {value!r}"
            raise ModelError(f"{spec}: --label-map {path}: {what} is not known")
        groups.setdefault(target, []).append(column)
    absent = [c.name for c in classes if c.label not in groups]
    if absent:
        raise ModelError(f"{spec}: --label-map {path} maps no model label to {absent}")
    return Outputs("classes", tuple(tuple(sorted(groups[c.label])) for c in classes), f"--label-map {path}")


def translate_processor(cfg: Mapping[str, Any], spec: str) -> dict:
    """Preprocessing fields reproducing an image processor's resize, crop, rescale and normalise."""
    kind = str(cfg.get("image_processor_type", "image processor"))

    def refuse(what: str) -> ModelError:
        return ModelError(f"{spec}: {kind} {what}, which evaluate cannot reproduce")

    if not cfg.get("do_resize", True):
        raise refuse("does not resize")
    size = dict(cfg.get("size") or {})
    fields: dict[str, Any] = {"crop_rounding": "floor"}
    if size.get("height") and size.get("width"):
        if size["height"] != size["width"]:
            raise refuse(f"resizes to a non-square {size['height']}x{size['width']}")
        fields.update(resize=int(size["height"]), resize_mode="squash", crop=int(size["height"]))
    elif size.get("shortest_edge") and not size.get("longest_edge"):
        edge = int(size["shortest_edge"])
        if kind.startswith("ConvNext"):  # ConvNeXt's own rule: shorter side to edge / crop_pct, crop edge
            if edge < CONVNEXT_FULL_SQUASH:
                fields.update(resize=int(edge / float(cfg.get("crop_pct") or 224 / 256)), crop=edge)
            else:
                fields.update(resize=edge, resize_mode="squash", crop=edge)
        else:
            fields["resize"] = edge
    else:
        raise refuse(f"resizes by {size}")
    if cfg.get("do_center_crop") and not kind.startswith("ConvNext"):
        crop = dict(cfg.get("crop_size") or {})
        if crop.get("height") != crop.get("width") or not crop.get("height"):
            raise refuse(f"crops to {crop}")
        fields["crop"] = int(crop["height"])
    if "crop" not in fields:
        raise refuse("keeps the aspect ratio without cropping (images of varying size)")
    if not cfg.get("do_rescale", True) or abs(float(cfg.get("rescale_factor", 1 / 255)) - 1 / 255) > 1e-9:
        raise refuse("does not rescale by 1/255")
    resample = cfg.get("resample", 2)
    if resample not in RESAMPLE_NAMES:
        raise refuse(f"resamples with {resample!r}")
    fields["interpolation"] = RESAMPLE_NAMES[resample]
    if cfg.get("do_normalize", True):
        fields["mean"] = tuple(float(v) for v in cfg["image_mean"])
        fields["std"] = tuple(float(v) for v in cfg["image_std"])
    else:
        fields["mean"], fields["std"] = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    return fields


class HFClassifier(TorchClassifier):
    """A transformers image classifier; logits taken by `Outputs` into ImageNet-1k or build-class columns."""

    kind = "hf"

    def __init__(self, module: Any, spec: str, *, outputs: Outputs, processor: dict, hub: dict, **kwargs: Any):
        super().__init__(module, spec, model_config={}, **kwargs)
        self.outputs = outputs
        self.processor = processor
        self.hub = hub
        self.preprocessing_origin = f"AutoImageProcessor ({processor.get('image_processor_type', '?')}), PIL backend"
        self.fields = translate_processor(processor, spec)
        singletons = all(len(g) == 1 for g in outputs.groups)
        self.columns = self.torch.tensor([g[0] for g in outputs.groups]) if singletons else None

    def preprocessing(self) -> dict:
        return dict(self.fields)

    def run(self, x: Any) -> Any:
        logits = self.module(pixel_values=x).logits
        if self.columns is not None:
            return logits[:, self.columns.to(logits.device)]
        return self.torch.stack([logits[:, list(g)].amax(dim=1) for g in self.outputs.groups], dim=1)

    def identity(self) -> dict:
        out = super().identity()
        out.pop("pretrained_cfg", None)
        out["hub"] = self.hub
        labels = [self.module.config.id2label[i] for i in range(self.module.config.num_labels)]
        out["id2label_sha256"] = hashlib.sha256(json.dumps(labels).encode()).hexdigest()
        out["outputs"] = self.outputs.to_dict()
        out["image_processor"] = self.processor
        return out


def load(spec: ModelSpec, options: LoadOptions) -> HFClassifier:
    """The model and its processor from a Hub repo (through huggingface_hub) or a local folder."""
    require("transformers", "hf: models", "models")
    require("torch", "hf: models", "models")
    refuse_options(spec, options, "weights", "model_kwargs")
    import torch
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    local = Path(spec.target).is_dir()
    name, _, revision = (spec.target, "", "") if local else spec.target.partition("@")
    kwargs = {} if local else {"revision": revision or None}
    try:
        module = AutoModelForImageClassification.from_pretrained(name, dtype=torch.float32, **kwargs)
        processor = AutoImageProcessor.from_pretrained(name, backend="pil", **kwargs).to_dict()
    except Exception as error:  # unknown repos, missing files and Hub failures all surface here
        raise load_failure(str(spec), error) from error
    labels = [module.config.id2label[i] for i in range(module.config.num_labels)]
    outputs = resolve_outputs(labels, options.classes, options.label_map, str(spec))
    if local:
        hub = {"repo_id": None, "local_folder": str(Path(name).resolve())}
    else:
        hub = {"repo_id": name, "revision": revision or None,
               **(cached_hub_file(name, HUB_WEIGHTS, revision=revision or None) or {})}
    return HFClassifier(module, str(spec), outputs=outputs, processor=processor, hub=hub,
                        device=options.device, precision=options.precision)

