"""Attribution maps from Captum: Grad-CAM (LayerGradCam), integrated gradients and occlusion, per model-input pixel.

Each method runs on the classifier's own forward function (`TorchClassifier.run`, the logits the
evaluation scores) in fp32, on the normalised batch `evaluate` feeds the model, and gives one map per
image over the `crop` x `crop` model input, colour channels summed:

- `gradcam`: Captum's `LayerGradCam` with `relu_attributions=True` (Selvaraju et al., ICCV 2017) on the
  target layer (`layers.py`), upsampled bilinearly to the input with `LayerAttribution.interpolate`.
- `ig`: Captum's `IntegratedGradients` (Sundararajan et al., ICML 2017), `steps` Gauss-Legendre steps from
  the baseline; Captum's convergence delta (sum of attributions minus the logit difference) is kept.
- `occlusion`: Captum's `Occlusion` (Zeiler and Fergus, ECCV 2014): a `window` x `window` patch set to the
  baseline, moved by `stride`; a pixel's value is the mean drop of the target logit over the patches that
  covered it.

Baselines: `mean` is the normalised zero, the colour of the normalisation's mean (Captum's default);
`black` is RGB (0, 0, 0). Pixels equal to the baseline get no integrated-gradients attribution, whatever
the model does with them (with `black`, the black background of `seg_img` and `no_fg`'s hole).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..models.base import ModelError
from ..preprocessing import Preprocessing
from .layers import TargetLayer, find_layer, named_layer

METHODS = ("gradcam", "ig", "occlusion")
BASELINES = ("mean", "black")
TARGETS = ("label", "prediction")  # which output is attributed: the true class's or the predicted class's
CAPTUM_CLASSES = {"gradcam": "captum.attr.LayerGradCam", "ig": "captum.attr.IntegratedGradients",
                  "occlusion": "captum.attr.Occlusion"}
OCCLUSION_WINDOWS = 7  # default window: a seventh of the input side (32 px at 224)


@dataclass(frozen=True)
class MethodSettings:
    """Which attribution method and its settings (None: the default for the model's input size)."""

    method: str = "gradcam"
    steps: int = 50
    baseline: str = "mean"
    window: int | None = None
    stride: int | None = None
    layer: str | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"--method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if self.baseline not in BASELINES:
            raise ValueError(f"--baseline must be one of {', '.join(BASELINES)}, not {self.baseline!r}")
        if self.steps < 1:
            raise ValueError(f"--steps must be at least 1, not {self.steps}")
        for name in ("window", "stride"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"--{name} must be at least 1, not {value}")
        if self.layer is not None and self.method != "gradcam":
            raise ValueError(f"--layer applies to gradcam, not to {self.method}")

    def window_for(self, crop: int) -> tuple[int, int]:
        """(window, stride) of occlusion for a crop size."""
        window = self.window or max(1, round(crop / OCCLUSION_WINDOWS))
        if window > crop:
            raise ValueError(f"--window {window} is larger than the model's {crop} px input")
        return window, self.stride or max(1, window // 2)


def baseline_rgb(baseline: str, pre: Preprocessing) -> list[float]:
    """The baseline's colour in 0..255 RGB."""
    return [0.0, 0.0, 0.0] if baseline == "black" else [255.0 * m for m in pre.mean]


class Attributor:
    """One Captum method bound to a torch classifier, its preprocessing and settings."""

    def __init__(self, classifier: Any, settings: MethodSettings, pre: Preprocessing, *, batch_size: int) -> None:
        import torch
        from captum import attr

        self.torch, self.classifier, self.settings, self.pre = torch, classifier, settings, pre
        self.batch_size = batch_size
        forward = classifier.run
        self.layer: TargetLayer | None = None
        self.window: tuple[int, int] | None = None
        if settings.method == "gradcam":
            example = self.blank()
            module = classifier.module
            self.layer = (named_layer(module, settings.layer, classifier.spec, example, forward) if settings.layer
                          else find_layer(forward, module, example, classifier.spec))
            self.captum = attr.LayerGradCam(forward, self.layer.module)
        elif settings.method == "ig":
            self.captum = attr.IntegratedGradients(forward)
        else:
            self.window = settings.window_for(pre.crop)
            self.captum = attr.Occlusion(forward)

    def blank(self) -> Any:
        """One normalised image of the baseline colour, on the classifier's device."""
        rgb = np.asarray(baseline_rgb(self.settings.baseline, self.pre), np.float32)
        image = np.broadcast_to(rgb, (1, self.pre.crop, self.pre.crop, 3))
        mean = np.asarray(self.pre.mean, np.float32) * 255.0
        std = np.asarray(self.pre.std, np.float32) * 255.0
        x = ((image - mean) / std).transpose(0, 3, 1, 2).copy()
        return self.torch.from_numpy(x).to(self.classifier.device)

    def attribute(self, inputs: Any, targets: list[int]) -> tuple[np.ndarray, np.ndarray | None]:
        """(N, crop, crop) float64 maps for a normalised batch and each row's target output column,
        and integrated gradients' convergence deltas (None for the other methods)."""
        torch = self.torch
        x = inputs.to(self.classifier.device).float()
        target = torch.as_tensor(targets, dtype=torch.long, device=x.device)
        delta = None
        with torch.enable_grad():
            if self.settings.method == "gradcam":
                from captum.attr import LayerAttribution

                cam = self.captum.attribute(x, target=target, relu_attributions=True,
                                            attribute_to_layer_input=self.layer.attribute_to_input)
                maps = LayerAttribution.interpolate(cam, (self.pre.crop, self.pre.crop), "bilinear").sum(dim=1)
            elif self.settings.method == "ig":
                out, delta = self.captum.attribute(
                    x, baselines=self.blank(), target=target, n_steps=self.settings.steps,
                    internal_batch_size=max(1, self.batch_size), return_convergence_delta=True)
                maps = out.sum(dim=1)
            else:
                window, stride = self.window
                out = self.captum.attribute(
                    x, sliding_window_shapes=(3, window, window), strides=(3, stride, stride),
                    baselines=self.blank(), target=target,
                    perturbations_per_eval=max(1, self.batch_size // max(1, len(x))))
                maps = out.sum(dim=1)
        result = maps.detach().double().cpu().numpy()
        if result.shape != (len(x), self.pre.crop, self.pre.crop):
            raise ModelError(f"{self.classifier.spec}: {self.settings.method} gave maps of shape {result.shape}")
        return result, None if delta is None else delta.detach().double().cpu().numpy()

    def to_dict(self) -> dict:
        """Everything that decides the maps, for the summary and the cache key."""
        import captum

        s = self.settings
        out: dict[str, Any] = {"method": s.method, "captum": CAPTUM_CLASSES[s.method],
                               "captum_version": captum.__version__, "precision": "fp32"}
        if s.method == "gradcam":
            out.update(layer=self.layer.to_dict(), relu=True, upsampling="bilinear (LayerAttribution.interpolate)")
        else:
            out.update(baseline=s.baseline, baseline_rgb=baseline_rgb(s.baseline, self.pre),
                       channels="summed over R, G, B")
        if s.method == "ig":
            out.update(steps=s.steps, integration="gausslegendre")
        if s.method == "occlusion":
            out.update(window=self.window[0], stride=self.window[1])
        return out
