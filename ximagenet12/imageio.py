"""Decoding source files to RGB arrays (with a note of any conversion) and encoding results."""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

JPEG_QUALITY = 95


class ImageDecodeError(ValueError):
    """A file that is not a decodable image; the message names the file and the fault."""


@dataclass(frozen=True)
class Decoded:
    """An RGB uint8 image and how it was obtained from the file."""

    rgb: np.ndarray
    format: str
    note: str | None


def decode_rgb(data: bytes, *, source: str = "<bytes>") -> Decoded:
    """Decode image bytes to RGB uint8; greyscale, CMYK, palette and alpha sources are converted with a note."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            sixteen = _is_16_bit(im)
            im.load()
            mode, fmt = im.mode, im.format or "unknown"
            if mode == "RGB" and not sixteen:
                rgb, note = np.asarray(im), None
            elif mode == "RGB":
                rgb, note = np.asarray(im), f"converted 16-bit RGB {fmt} to 8-bit RGB"
            else:
                rgb, note = _to_rgb(im, sixteen), f"converted {mode} {fmt} to RGB"
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageDecodeError(f"{source}: not a decodable image ({exc})") from exc
    if rgb.size == 0:
        raise ImageDecodeError(f"{source}: image has no pixels")
    return Decoded(np.ascontiguousarray(rgb), fmt, note)


def _is_16_bit(im: Image.Image) -> bool:
    """Whether the file stores 16 bits a sample (read from the decoder's raw mode, before loading)."""
    if im.mode.startswith("I;16"):
        return True
    args = im.tile[0].args if im.tile else None
    raw = args if isinstance(args, str) else args[0] if isinstance(args, tuple) and args else ""
    return isinstance(raw, str) and ";16" in raw


def _to_rgb(im: Image.Image, sixteen: bool = False) -> np.ndarray:
    if im.mode.startswith("I"):
        arr = np.asarray(im, dtype=np.float64)
        # 16-bit files scale by 255/65535 whatever their content; a 32-bit "I" image of unknown
        # depth is read as 8-bit when its values fit, else as 16-bit.
        full = 65535.0 if sixteen or arr.max(initial=0) > 255 else 255.0
        grey = np.round(arr * (255.0 / full)).clip(0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = np.asarray(im.convert("RGBA"))
        return rgba[..., :3].copy()
    return np.asarray(im.convert("RGB"))


def read_rgb(path: str, *, source: str | None = None) -> Decoded:
    """Read and decode an image file to RGB."""
    with open(path, "rb") as f:
        return decode_rgb(f.read(), source=source or str(path))


def encode_jpeg(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """Encode an RGB uint8 image as baseline JPEG (4:2:0) with OpenCV."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def encode_png(array: np.ndarray) -> bytes:
    """Encode a greyscale, RGB or RGBA uint8 image as PNG with OpenCV.

    Filters are chosen for speed at a small cost in size (measured in bench/scenarios.py): the
    "up" filter for masks, libpng's fast filter set at zlib level 1 for colour images.
    """
    params = [cv2.IMWRITE_PNG_COMPRESSION, 3, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP]
    if array.ndim == 3 and array.shape[2] == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    elif array.ndim == 3 and array.shape[2] == 4:
        array = cv2.cvtColor(array, cv2.COLOR_RGBA2BGRA)
    if array.ndim == 3:
        params = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FAST_FILTERS]
    ok, buf = cv2.imencode(".png", array, params)
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def decode_any(data: bytes) -> np.ndarray:
    """Decode PNG/JPEG bytes as stored in a shard: RGB, RGBA or single-channel uint8."""
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ImageDecodeError("not a decodable image")
    if arr.ndim == 3 and arr.shape[2] == 3:
        return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    if arr.ndim == 3 and arr.shape[2] == 4:
        return cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA)
    return arr
