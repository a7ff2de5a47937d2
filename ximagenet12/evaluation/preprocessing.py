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
    "hamming": Image.Resampling.HAMMING,
}
RESIZE_MODES = ("shorter", "squash")
DEFAULT_CROP_PCT = 0.875  # timm's, when a config gives none
CROP_ROUNDINGS = ("round", "floor")
ALPHA_NAMES = {"black": (0, 0, 0), "white": (255, 255, 255), "grey": (128, 128, 128), "gray": (128, 128, 128)}


@dataclass(frozen=True)
class Preprocessing:
    """Resize (shorter side to `resize`, or squash to `resize` x `resize`), centre crop `crop`, then (x/255-mean)/std.

    Resampling is Pillow's (antialiased), with torchvision's size arithmetic, so the crop equals
    torchvision's `Resize` + `CenterCrop` on a PIL image (timm's and OpenCLIP's eval transforms);
    `crop_rounding="floor"` places the crop as transformers' image processors do.
    """

    resize: int = 256
    crop: int = 224
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    alpha_background: tuple[int, int, int] | None = (0, 0, 0)
    resize_mode: str = "shorter"
    crop_rounding: str = "round"

    def __post_init__(self) -> None:
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {sorted(INTERPOLATIONS)}")
        if self.resize_mode not in RESIZE_MODES:
            raise ValueError(f"resize_mode must be one of {RESIZE_MODES}")
        if self.crop_rounding not in CROP_ROUNDINGS:
            raise ValueError(f"crop_rounding must be one of {CROP_ROUNDINGS}")
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
        out["resize_rule"] = (
            "shorter side to `resize`, aspect kept (long side truncated), then centre crop `crop` x `crop`"
            if self.resize_mode == "shorter"
            else "squashed to `resize` x `resize` (aspect not kept), then centre crop `crop` x `crop`"
        )
        out["backend"] = "pillow (antialiased), torchvision's size arithmetic"
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
    """Preprocessing fields from a timm-style `pretrained_cfg` (input_size, crop_pct, crop_mode, interpolation, ...)."""
    out: dict = {}
    if "input_size" in cfg:
        height, width = (int(v) for v in cfg["input_size"][-2:])
        if height != width:
            raise ValueError(f"input size {height}x{width} is not square; only square crops are supported")
        out["crop"] = width
    if "crop" in out:
        crop_pct = cfg.get("crop_pct")
        out["resize"] = math.floor(out["crop"] / float(crop_pct if crop_pct is not None else DEFAULT_CROP_PCT))
    mode = cfg.get("crop_mode")
    if mode == "squash":
        out["resize_mode"] = "squash"
    elif mode not in (None, "center"):
        raise ValueError(f"crop_mode {mode!r} is not supported (center and squash are)")
    for key in ("resize", "crop"):
        if key in cfg:
            out[key] = int(cfg[key])
    if cfg.get("interpolation") in INTERPOLATIONS:
        out["interpolation"] = cfg["interpolation"]
    for key in ("mean", "std"):
        if key in cfg:
            out[key] = tuple(float(v) for v in cfg[key])
    for key in ("resize_mode", "crop_rounding"):
        if key in cfg:
            out[key] = str(cfg[key])
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


def resized_size(width: int, height: int, pre: Preprocessing) -> tuple[int, int]:
    """(width, height) after the resize step, as torchvision's `Resize` computes it."""
    if pre.resize_mode == "squash":
        return pre.resize, pre.resize
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(pre.resize * long / short)
    return (pre.resize, new_long) if width <= height else (new_long, pre.resize)


def crop_box(width: int, height: int, pre: Preprocessing) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the centre crop in the resized image."""
    if pre.crop_rounding == "round":  # torchvision's CenterCrop
        left, top = round((width - pre.crop) / 2.0), round((height - pre.crop) / 2.0)
    else:  # transformers' center_crop
        left, top = (width - pre.crop) // 2, (height - pre.crop) // 2
    return left, top, left + pre.crop, top + pre.crop


def resize_crop(image: Image.Image, pre: Preprocessing) -> np.ndarray:
    """Resize then centre crop pre.crop: an HxWx3 uint8 array."""
    size = resized_size(*image.size, pre)
    if size != image.size:
        image = image.resize(size, INTERPOLATIONS[pre.interpolation])
    return np.asarray(image.crop(crop_box(*size, pre)))


def load_image(data: bytes, pre: Preprocessing) -> np.ndarray:
    """Encoded bytes -> preprocessed crop (uint8, crop x crop x 3, RGB)."""
    return resize_crop(decode_for_model(data, pre.alpha_background), pre)


def normalize(batch: np.ndarray, pre: Preprocessing) -> np.ndarray:
    """uint8 NHWC batch -> float32 NCHW, (x/255 - mean) / std."""
    scale = np.float32(1.0 / 255.0) / np.asarray(pre.std, np.float32)
    shift = np.asarray(pre.mean, np.float32) / np.asarray(pre.std, np.float32)
    out = batch.astype(np.float32) * scale - shift
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))
