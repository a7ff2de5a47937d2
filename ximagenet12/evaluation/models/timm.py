"""`timm:NAME` specs: `timm.create_model(NAME, pretrained=True)`, weights through huggingface_hub or `--weights`.

Preprocessing is timm's own data config for the model (`timm.data.resolve_model_data_config`), which
`Preprocessing` reproduces exactly (torchvision's Resize + CenterCrop on a PIL image).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import LoadOptions, ModelError, ModelSpec, cached_hub_file, load_failure, refuse_options, require
from .torch import TorchClassifier

HUB_WEIGHTS = ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin")


class TimmClassifier(TorchClassifier):
    """A timm model; its identity names the timm model, the Hub repo and commit its weights came from."""

    kind = "timm"

    def __init__(self, module: Any, spec: str, *, hub: dict | None, **kwargs: Any) -> None:
        super().__init__(module, spec, **kwargs)
        self.hub = hub
        self.preprocessing_origin = "timm.data.resolve_model_data_config"

    def identity(self) -> dict:
        out = super().identity()
        cfg = getattr(self.module, "pretrained_cfg", {}) or {}
        out["timm_model"] = {k: cfg.get(k) for k in ("architecture", "tag", "hf_hub_id", "num_classes")}
        out["hub"] = self.hub
        return out


def load(spec: ModelSpec, options: LoadOptions) -> TimmClassifier:
    """timm.create_model(target, pretrained=True) with the model's data config as preprocessing."""
    require("timm", "timm: models", "models")
    refuse_options(spec, options, "label_map")
    import timm
    from timm.data import resolve_model_data_config

    kwargs = dict(options.model_kwargs)
    if options.weights:
        if not Path(options.weights).is_file():
            raise ModelError(f"{spec}: --weights {options.weights} does not exist")
        kwargs["pretrained_cfg_overlay"] = {"file": str(options.weights)}
    try:
        module = timm.create_model(spec.target, pretrained=True, **kwargs)
    except Exception as error:  # unknown names, missing weights and Hub failures all surface here
        raise load_failure(str(spec), error) from error
    data_config = dict(resolve_model_data_config(module))
    hub_id = (getattr(module, "pretrained_cfg", {}) or {}).get("hf_hub_id")
    hub = None
    if hub_id and not options.weights:
        repo_id, _, revision = hub_id.partition("@")
        hub = cached_hub_file(repo_id, HUB_WEIGHTS, revision=revision or None)
    return TimmClassifier(module, str(spec), hub=hub, weights_file=options.weights, device=options.device,
                          precision=options.precision, model_config=data_config)
