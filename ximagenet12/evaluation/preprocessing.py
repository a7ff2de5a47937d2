"""Explicit, recordable preprocessing: decode, composite alpha, resize, centre-crop, normalise."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace

import numpy as np
from PIL import Image

from .. import imageio

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INTERPOLATIONS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
}
ALPHA_NAMES = {"black": (0, 0, 0), "white": (255, 255, 255), "grey": (128, 128, 128), "gray": (128, 128, 128)}


@dataclass(frozen=True)
class Preprocessing:
    """Shorter side to `resize`, centre crop `crop`, Pillow (antialiased) resampling, then (x/255-mean)/std."""

    resize: int = 256
    crop: int = 224
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    alpha_background: tuple[int, int, int] | None = (0, 0, 0)

    def __post_init__(self) -> None:
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {sorted(INTERPOLATIONS)}")
        if not 0 < self.crop <= self.resize:
            raise ValueError("need 0 < crop <= resize")
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError("mean and std need three values, std > 0")
        if self.alpha_background is not None:
            object.__setattr__(self, "alpha_background", tuple(int(v) for v in self.alpha_background))

    def to_dict(self) -> dict:
        """JSON-ready record, naming the resampling backend and what alpha handling means."""
        out = asdict(self)
        out["mean"], out["std"] = list(self.mean), list(self.std)
        bg = self.alpha_background
        out["alpha_background"] = None if bg is None else list(bg)
        out["alpha"] = "dropped (RGB kept as stored)" if bg is None else f"composited over RGB {list(bg)}"
        out["resize_rule"] = "shorter side to `resize`, aspect kept, then centre crop `crop` x `crop`"
        out["backend"] = "pillow (antialiased, like torchvision's PIL path)"
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> Preprocessing:
        """Inverse of to_dict (extra keys ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def updated(self, **changes) -> Preprocessing:
        """A copy with the given fields changed."""
        return replace(self, **changes)


def from_model_config(cfg: Mapping) -> dict:
    """Preprocessing fields from a timm-style `pretrained_cfg` (input_size, crop_pct, interpolation, mean, std)."""
    out: dict = {}
    if "input_size" in cfg:
        out["crop"] = int(cfg["input_size"][-1])
    if "crop_pct" in cfg and "crop" in out:
        out["resize"] = math.floor(out["crop"] / float(cfg["crop_pct"]))
    for key in ("resize", "crop"):
        if key in cfg:
            out[key] = int(cfg[key])
    if cfg.get("interpolation") in INTERPOLATIONS:
        out["interpolation"] = cfg["interpolation"]
    for key in ("mean", "std"):
        if key in cfg:
            out[key] = tuple(float(v) for v in cfg[key])
    return out


def parse_alpha_background(value: str | None) -> tuple[int, int, int] | None:
    """'black' | 'white' | 'grey' | 'R,G,B' | 'none' (drop alpha) -> colour or None."""
    if value is None or value.lower() == "none":
        return None
    if value.lower() in ALPHA_NAMES:
        return ALPHA_NAMES[value.lower()]
    parts = tuple(int(v) for v in value.split(","))
    if len(parts) != 3 or not all(0 <= v <= 255 for v in parts):
        raise ValueError(f"alpha background must be a name or R,G,B in 0..255, not {value!r}")
    return parts


def decode_for_model(data: bytes, alpha_background: tuple[int, int, int] | None) -> Image.Image:
    """Decode JPEG/PNG bytes to an RGB image; alpha composited over the colour (or dropped if None)."""
    image = Image.open(io.BytesIO(data))
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if has_alpha and alpha_background is not None:
        rgba = image.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (*alpha_background, 255))
        return Image.alpha_composite(base, rgba).convert("RGB")
    if image.mode == "RGB":
        return image
    return Image.fromarray(imageio.decode_rgb(data).rgb)  # grey, CMYK, palette, 16-bit: the project's rules


def resize_crop(image: Image.Image, pre: Preprocessing) -> np.ndarray:
    """Shorter side to pre.resize, centre crop pre.crop: an HxWx3 uint8 array."""
    width, height = image.size
    scale = pre.resize / min(width, height)
    size = (max(pre.resize, round(width * scale)), max(pre.resize, round(height * scale)))
    if size != image.size:
        image = image.resize(size, INTERPOLATIONS[pre.interpolation])
    left = (size[0] - pre.crop) // 2
    top = (size[1] - pre.crop) // 2
    return np.asarray(image.crop((left, top, left + pre.crop, top + pre.crop)))


def load_image(data: bytes, pre: Preprocessing) -> np.ndarray:
    """Encoded bytes -> preprocessed crop (uint8, crop x crop x 3, RGB)."""
    return resize_crop(decode_for_model(data, pre.alpha_background), pre)


def normalize(batch: np.ndarray, pre: Preprocessing) -> np.ndarray:
    """uint8 NHWC batch -> float32 NCHW, (x/255 - mean) / std."""
    scale = np.float32(1.0 / 255.0) / np.asarray(pre.std, np.float32)
    shift = np.asarray(pre.mean, np.float32) / np.asarray(pre.std, np.float32)
    out = batch.astype(np.float32) * scale - shift
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))
