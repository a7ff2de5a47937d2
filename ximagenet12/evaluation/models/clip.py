"""`clip:ARCH@PRETRAINED` and `clip:hf-hub:REPO` specs: OpenCLIP zero-shot over the build's class names.

PRETRAINED is an OpenCLIP tag (`ViT-B-16@openai`), a weights file, or `hf-hub:REPO` (the repo's own
config must then be ARCH's). Each class's text embedding is the normalised mean over OpenCLIP's
standard ImageNet prompt templates (`OPENAI_IMAGENET_TEMPLATES`), built with the library's
`build_zero_shot_classifier`, computed once per model and class list; logits are
100 * cos(image, class), as open_clip's zero-shot evaluation computes them.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

from ...provenance import fingerprint
from .base import LoadOptions, ModelError, ModelSpec, cached_hub_file, load_failure, refuse_options, require
from .torch import TorchClassifier

HUB_PREFIX = "hf-hub:"
HUB_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
LOGIT_SCALE = 100.0
_TEXT_CACHE: dict[str, Any] = {}


def parse_target(target: str, spec: str) -> tuple[str | None, str, str | None]:
    """(arch, open_clip model name, pretrained) from `ARCH@PRETRAINED` or `hf-hub:REPO`."""
    if target.startswith(HUB_PREFIX):
        return None, target, None
    arch, sep, pretrained = target.partition("@")
    if not sep or not arch or not pretrained:
        raise ModelError(f"{spec}: expected clip:ARCH@PRETRAINED (a tag such as openai, a weights file, "
                         "or hf-hub:REPO) or clip:hf-hub:REPO")
    if pretrained.startswith(HUB_PREFIX):
        return arch, pretrained, None
    return arch, arch, pretrained


def _check_pretrained(open_clip: Any, arch: str, pretrained: str, spec: str) -> None:
    """ARCH must be one of OpenCLIP's and PRETRAINED one of its tags or an existing file."""
    if open_clip.get_model_config(arch) is None:
        raise ModelError(f"{spec}: {arch!r} is not an OpenCLIP architecture (open_clip.list_models())")
    tags = open_clip.list_pretrained_tags_by_model(arch)
    if pretrained not in tags and not Path(pretrained).is_file():
        raise ModelError(f"{spec}: {pretrained!r} is neither a weights file nor a tag of {arch} (tags: {tags})")


def templates() -> list[str]:
    """OpenCLIP's standard ImageNet prompt templates, as format strings."""
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

    return [template("{}") for template in OPENAI_IMAGENET_TEMPLATES]


def translate_preprocess(cfg: dict, spec: str) -> dict:
    """Preprocessing fields reproducing OpenCLIP's eval transform for the model's preprocess config."""
    size = cfg.get("size", 224)
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    if height != width:
        raise ModelError(f"{spec}: OpenCLIP input size {height}x{width} is not square")
    mode = cfg.get("resize_mode") or "shortest"
    if mode not in ("shortest", "squash"):
        raise ModelError(f"{spec}: OpenCLIP resize_mode {mode!r} (letterbox) is not supported")
    interpolation = "bilinear" if cfg.get("interpolation") == "bilinear" else "bicubic"
    return {
        "resize": int(height),
        "crop": int(height),
        "resize_mode": "shorter" if mode == "shortest" else "squash",
        "interpolation": interpolation,
        "mean": tuple(float(v) for v in cfg["mean"]),
        "std": tuple(float(v) for v in cfg["std"]),
        "crop_rounding": "round",
    }


class ClipClassifier(TorchClassifier):
    """OpenCLIP image tower against cached class text embeddings."""

    kind = "clip"

    def __init__(self, module: Any, spec: str, *, fields: dict, class_names: list[str], source: dict,
                 **kwargs: Any) -> None:
        super().__init__(module, spec, model_config={}, **kwargs)
        self.fields = fields
        self.class_names = class_names
        self.source = source
        self.preprocessing_origin = "open_clip preprocess config (image_transform, eval)"
        self.templates = templates()
        key = fingerprint([self.state_sha256, class_names, self.templates])
        if key not in _TEXT_CACHE:
            _TEXT_CACHE[key] = self._text_embeddings(source["model_name"])
        self.text = _TEXT_CACHE[key]
        self.text_key = key

    def _text_embeddings(self, model_name: str) -> Any:
        import open_clip
        from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

        tokenizer = open_clip.get_tokenizer(model_name)
        with self.torch.inference_mode(), self._autocast():
            weights = open_clip.build_zero_shot_classifier(
                self.module, tokenizer, self.class_names, OPENAI_IMAGENET_TEMPLATES, device=self.device
            )
        return weights.float()

    def preprocessing(self) -> dict:
        return dict(self.fields)

    def run(self, x: Any) -> Any:
        features = self.module.encode_image(x, normalize=True)
        return LOGIT_SCALE * features.float() @ self.text

    def identity(self) -> dict:
        out = super().identity()
        out.pop("pretrained_cfg", None)
        out["open_clip"] = self.source
        out["zero_shot"] = {"class_names": self.class_names, "templates": self.templates,
                            "template_set": "open_clip OPENAI_IMAGENET_TEMPLATES", "logit_scale": LOGIT_SCALE,
                            "text_embeddings_key": self.text_key}
        return out


def load(spec: ModelSpec, options: LoadOptions) -> ClipClassifier:
    """An OpenCLIP model and its zero-shot head over the build's class names."""
    require("open_clip", "clip: models", "models")
    refuse_options(spec, options, "weights", "model_kwargs", "label_map")
    import open_clip

    if not options.classes:
        raise ModelError(f"{spec}: zero-shot needs the build's class names")
    arch, model_name, pretrained = parse_target(spec.target, str(spec))
    if pretrained is not None:
        _check_pretrained(open_clip, arch, pretrained, str(spec))
    try:
        module, _, _ = open_clip.create_model_and_transforms(model_name, pretrained=pretrained)
    except Exception as error:  # unknown repos, unreadable files and Hub failures all surface here
        raise load_failure(str(spec), error) from error
    if arch is not None and model_name.startswith(HUB_PREFIX):
        _check_hub_arch(open_clip, arch, model_name, str(spec))
    source: dict[str, Any] = {"arch": arch, "model_name": model_name, "pretrained": pretrained}
    if model_name.startswith(HUB_PREFIX):
        source["hub"] = cached_hub_file(model_name[len(HUB_PREFIX):], HUB_WEIGHTS)
    elif pretrained is not None and Path(pretrained).is_file():
        source["weights_file"] = str(Path(pretrained).resolve())
    else:
        tag = dict(open_clip.get_pretrained_cfg(arch, pretrained))
        source["tag"] = tag
        if tag.get("hf_hub"):  # 'org/repo/' or 'org/repo/file', split as open_clip's download_pretrained does
            repo_id, filename = posixpath.split(tag["hf_hub"])
            source["hub"] = cached_hub_file(repo_id, (filename,) if filename else HUB_WEIGHTS)
    fields = translate_preprocess(open_clip.get_model_preprocess_cfg(module), str(spec))
    return ClipClassifier(module, str(spec), fields=fields, class_names=[c.name for c in options.classes],
                          source=source, device=options.device, precision=options.precision)


def _check_hub_arch(open_clip: Any, arch: str, model_name: str, spec: str) -> None:
    """With ARCH@hf-hub:REPO, the repo's model config must be ARCH's."""
    from open_clip.factory import _get_hf_config

    builtin = open_clip.get_model_config(arch)
    if builtin is None:
        raise ModelError(f"{spec}: {arch!r} is not an OpenCLIP architecture; use clip:{model_name} for the repo's own")
    if _get_hf_config(model_name[len(HUB_PREFIX):]).get("model_cfg") != builtin:
        raise ModelError(f"{spec}: the model config of {model_name} is not {arch}'s")
