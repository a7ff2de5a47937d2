"""Decoding source files to RGB arrays (with a note of any conversion) and encoding results."""

from __future__ import annotations

import io
import os
import re
import stat
import struct
import sys
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

JPEG_QUALITY = 95
EXIF_ORIENTATION = 0x0112
GREYSCALE_MODES = frozenset({"1", "L", "LA", "I", "F", "I;16", "I;16B", "I;16L", "I;16N"})
_ADDRESS = re.compile(r" at 0x[0-9A-Fa-f]+")


class ImageDecodeError(ValueError):
    """A file that is not a decodable image; the message names the file and the fault."""


def pixel_limit() -> int:
    """The largest image, in pixels, that any reader of the project accepts: Pillow's `MAX_IMAGE_PIXELS`."""
    return Image.MAX_IMAGE_PIXELS or sys.maxsize


def too_many_pixels(height: int, width: int) -> str | None:
    """Why an image of this size is refused, or None when it is within `pixel_limit()`."""
    if height * width > pixel_limit():
        return (
            f"{height}x{width} is {height * width} pixels, over the limit of {pixel_limit()} "
            "(PIL.Image.MAX_IMAGE_PIXELS)"
        )
    return None


@dataclass(frozen=True)
class Decoded:
    """An RGB uint8 image and how it was obtained from the file.

    `orientation` is the EXIF orientation that was applied (1: none); `greyscale` says the pixels
    carry no colour (a greyscale file, or an RGB file whose three channels are equal).
    """

    rgb: np.ndarray
    format: str
    note: str | None
    orientation: int = 1
    greyscale: bool = False


def _stable(exc: BaseException) -> str:
    """An exception's text without object addresses, so that two runs report the same bytes."""
    if isinstance(exc, UnidentifiedImageError):
        return "unknown image format"
    return _ADDRESS.sub("", str(exc)) or type(exc).__name__


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def decode_rgb(data: bytes, *, source: str = "<bytes>") -> Decoded:
    """Decode image bytes to RGB uint8 with the EXIF orientation applied, as viewers and `datasets` do.

    Greyscale, CMYK, palette and alpha sources are converted with a note; an image over
    `pixel_limit()` pixels is refused before its pixels are decoded.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                width, height = opened.size
                if (fault := too_many_pixels(height, width)) is not None:
                    raise ImageDecodeError(f"{source}: image too large: {fault}")
                sixteen = _is_16_bit(opened)  # before anything loads the pixels (PNG's getexif does)
                orientation = _orientation(opened)
                opened.load()
                im = ImageOps.exif_transpose(opened) if orientation != 1 else opened
                mode, fmt = im.mode, opened.format or "unknown"
                if mode == "RGB" and not sixteen:
                    rgb, note = np.asarray(im), None
                elif mode == "RGB":
                    rgb, note = np.asarray(im), f"converted 16-bit RGB {fmt} to 8-bit RGB"
                else:
                    rgb, note = _to_rgb(im, sixteen), f"converted {mode} {fmt} to RGB"
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(f"{source}: image too large: {exc}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageDecodeError(f"{source}: not a decodable image ({_stable(exc)})") from None
    except (MemoryError, RecursionError, IndexError, KeyError, TypeError, ZeroDivisionError, struct.error) as exc:
        raise ImageDecodeError(f"{source}: not a decodable image ({type(exc).__name__})") from None
    if rgb.size == 0:
        raise ImageDecodeError(f"{source}: image has no pixels")
    greyscale = mode in GREYSCALE_MODES or _equal_channels(rgb)
    return Decoded(np.ascontiguousarray(rgb), fmt, note, orientation, greyscale)


def _equal_channels(rgb: np.ndarray) -> bool:
    return bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]))


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


def read_bytes(path: str | os.PathLike, *, source: str | None = None) -> bytes:
    """A regular file's bytes; `ImageDecodeError` naming it when it is not one or cannot be read."""
    source = source or str(path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ImageDecodeError(f"{source}: not a regular file")
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise ImageDecodeError(f"{source}: cannot read file ({exc.strerror or type(exc).__name__})") from None


def read_rgb(path: str | os.PathLike, *, source: str | None = None) -> Decoded:
    """Read and decode an image file to RGB."""
    source = source or str(path)
    return decode_rgb(read_bytes(path, source=source), source=source)


def encode_jpeg(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """Encode an RGB uint8 image as baseline JPEG (4:2:0) with OpenCV."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def encode_png(array: np.ndarray) -> bytes:
    """Encode a greyscale, RGB or RGBA uint8 image as PNG with OpenCV.

    Every row is "up"-filtered, at zlib level 3 for masks and 1 for colour images: for colour, as small
    as libpng's adaptive filter choice in 0.7-0.9x its time (bench/png.py).
    """
    level = 3
    if array.ndim == 3 and array.shape[2] == 3:
        array, level = cv2.cvtColor(array, cv2.COLOR_RGB2BGR), 1
    elif array.ndim == 3 and array.shape[2] == 4:
        array, level = cv2.cvtColor(array, cv2.COLOR_RGBA2BGRA), 1
    params = [cv2.IMWRITE_PNG_COMPRESSION, level, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP]
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
