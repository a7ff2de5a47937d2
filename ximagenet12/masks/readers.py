"""Object masks from every annotation format a build accepts, as uint8 arrays of 0 and 255.

Formats: V7 PNG exports (object red on black), single-channel PNG masks, LabelMe / AnyLabeling
JSON polygons, COCO polygons and RLE. Every failure raises `MaskError` naming the file and the
fault. Polygons are rasterised with OpenCV (union of `cv2.fillPoly` per polygon) whatever file
they came from, so the same outline gives the same mask in every format; RLE goes through
pycocotools.
"""

from __future__ import annotations

import io
import json
import math
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError
from pycocotools import mask as coco_mask

from ..imageio import too_many_pixels

PathLike = str | Path

LOSSLESS_SUFFIXES = (".png", ".bmp", ".tif", ".tiff")
LOSSY_SUFFIXES = (".jpg", ".jpeg")
AREA_SHAPE_TYPES = ("polygon", "rectangle", "circle", "rotation")
# Points may lie outside the image (annotation tools allow it), but not further than this many image
# sizes: beyond it the outline is no annotation of this image, and OpenCV's int32 maths would overflow.
COORDINATE_REACH = 4


class MaskError(ValueError):
    """A mask could not be read, or is not a valid mask for its image."""


class CocoImage(NamedTuple):
    """One image of a COCO file: its size and the annotations that point at it."""

    height: int
    width: int
    annotations: list[dict]


def _error(source: object, fault: str) -> MaskError:
    return MaskError(f"{source}: {fault}" if source is not None else fault)


def _size(shape: Sequence[int]) -> str:
    return f"{shape[0]}x{shape[1]}"


def check_pixels(height: int, width: int, *, source: object = None, what: str = "mask") -> None:
    """Refuse a mask size over the project's one pixel limit (`imageio.pixel_limit()`), before allocating it."""
    if (fault := too_many_pixels(height, width)) is not None:
        raise _error(source, f"{what} too large: {fault}")


def _check_reach(points: np.ndarray, height: int, width: int, where: str, source: object) -> None:
    reach = COORDINATE_REACH * max(height, width)
    if np.abs(points).max(initial=0) > reach:
        raise _error(
            source,
            f"{where}: a coordinate lies more than {COORDINATE_REACH} image sizes outside the "
            f"{height}x{width} image (|value| > {reach})",
        )


def polygon_mask(polygons: Iterable[np.ndarray | Sequence], height: int, width: int) -> np.ndarray:
    """Union of filled polygons, each (N, 2) x/y points, rounded to the pixel grid."""
    check_pixels(height, width)
    mask = np.zeros((height, width), np.uint8)
    for polygon in polygons:
        raw = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
        if not np.isfinite(raw).all():
            raise MaskError("polygon points must be finite numbers")
        _check_reach(raw, height, width, "polygon", None)
        points = np.rint(raw).astype(np.int32)
        # One call per polygon: fillPoly fills several polygons even-odd, not as a union.
        cv2.fillPoly(mask, [points], 255)
    return mask


# --- images (V7 exports, standard masks) -------------------------------------------------------


def _read_bytes(path_or_bytes: PathLike | bytes, source: object) -> tuple[bytes, object]:
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        return bytes(path_or_bytes), source
    source = path_or_bytes if source is None else source
    try:
        return Path(path_or_bytes).read_bytes(), source
    except OSError as exc:
        raise _error(source, f"cannot read file ({exc.strerror or exc})") from exc


def _image_to_mask(image: np.ndarray, threshold: int, source: object) -> np.ndarray:
    if image.ndim == 2:
        return (image > threshold).view(np.uint8) * 255
    channels = image.shape[2]
    if channels == 1:
        return _image_to_mask(image[:, :, 0], threshold, source)
    if channels not in (3, 4):
        raise _error(source, f"mask image has {channels} channels, expected 1, 3 or 4")
    # OpenCV decodes to BGR(A): index 2 is red.
    red = image[:, :, 2] > threshold
    if not red.any() and (image[:, :, :3] > threshold).any():
        raise _error(
            source, "colour mask has no red pixels: expected a V7 export (object red on black)"
        )
    if channels == 4:
        red &= image[:, :, 3] > 0
    return red.view(np.uint8) * 255


def _header_size(data: bytes, source: object) -> tuple[int, int]:
    """(height, width) from an image file's header, read without decoding its pixels."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
    except Image.DecompressionBombError as exc:
        raise _error(source, f"mask image too large: {exc}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise _error(source, "cannot decode image (not a readable PNG/JPEG, or truncated)") from exc
    except Exception as exc:
        raise _error(source, f"cannot decode image ({type(exc).__name__} in its header)") from exc
    return height, width


def _decode_mask(data: bytes, source: object, *, lossy: bool) -> np.ndarray:
    if not data:
        raise _error(source, "cannot decode image (not a readable PNG/JPEG, or truncated)")
    check_pixels(*_header_size(data, source), source=source, what="mask image")
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        image = None
    if image is None:
        raise _error(source, "cannot decode image (not a readable PNG/JPEG, or truncated)")
    # JPEG masks carry compression noise around edges, so they are thresholded at mid-grey.
    threshold = np.iinfo(image.dtype).max // 2 if lossy else 0
    return _image_to_mask(image, threshold, source)


def mask_from_png(path_or_bytes: PathLike | bytes, *, source: object = None) -> np.ndarray:
    """Mask from a PNG: colour (V7 red on black; red > 0 is object) or single-channel (> 0).

    RGBA: object where red > 0 and alpha > 0. Palette PNGs are expanded to colour first;
    8- and 16-bit depths alike.
    """
    data, source = _read_bytes(path_or_bytes, source)
    return _decode_mask(data, source, lossy=False)


# --- LabelMe / AnyLabeling JSON ----------------------------------------------------------------


def _load_json(path_or_data: PathLike | dict, source: object) -> tuple[Any, object]:
    if isinstance(path_or_data, dict):
        return path_or_data, source
    source = path_or_data if source is None else source
    try:
        text = Path(path_or_data).read_text(encoding="utf-8")
    except OSError as exc:
        raise _error(source, f"cannot read file ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise _error(source, f"malformed JSON (not UTF-8 text: {exc})") from exc
    try:
        return json.loads(text), source
    except json.JSONDecodeError as exc:
        raise _error(source, f"malformed JSON ({exc})") from exc
    except RecursionError:
        raise _error(source, "malformed JSON (nested too deeply)") from None


def _points(raw: Any, where: str, source: object) -> np.ndarray:
    try:
        points = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise _error(source, f"{where}: points are not a list of [x, y] numbers") from exc
    if points.ndim != 2 or points.shape[1] != 2 or not np.isfinite(points).all():
        raise _error(source, f"{where}: points are not a list of [x, y] numbers")
    return points


def _labelme_size(data: dict, shape: Sequence[int] | None, source: object) -> tuple[int, int]:
    height, width = data.get("imageHeight"), data.get("imageWidth")
    if height is None or width is None:
        if shape is None:
            raise _error(source, "missing key 'imageHeight'/'imageWidth' and no shape given")
        check_pixels(int(shape[0]), int(shape[1]), source=source)
        return int(shape[0]), int(shape[1])
    if not (_positive_int(height) and _positive_int(width)):
        raise _error(source, f"imageHeight/imageWidth are not positive integers: {height}, {width}")
    check_pixels(height, width, source=source, what="declared image size")
    if shape is not None and (height, width) != (int(shape[0]), int(shape[1])):
        raise _error(
            source,
            f"JSON is {height}x{width} (imageHeight x imageWidth), "
            f"image is {_size(shape)} (height x width)",
        )
    return height, width


def _shape_mask(item: dict, where: str, height: int, width: int, source: object) -> np.ndarray:
    kind = item.get("shape_type") or "polygon"
    if "points" not in item:
        raise _error(source, f"{where}: missing key 'points'")
    points = _points(item["points"], where, source)
    # A circle's second point only gives its radius, which is checked below with its own message.
    _check_reach(points[:1] if kind == "circle" else points, height, width, where, source)
    if kind in ("polygon", "rotation"):
        if len(points) < 3:
            raise _error(source, f"{where}: polygon with {len(points)} points, needs at least 3")
        return polygon_mask([points], height, width)
    if kind == "rectangle":
        if len(points) == 4:
            return polygon_mask([points], height, width)
        if len(points) != 2:
            raise _error(source, f"{where}: rectangle with {len(points)} points, needs 2 or 4")
        (x0, y0), (x1, y1) = points
        corners = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
        return polygon_mask([corners], height, width)
    if kind == "circle":
        if len(points) != 2:
            raise _error(source, f"{where}: circle with {len(points)} points, needs 2")
        centre, edge = points
        mask = np.zeros((height, width), np.uint8)
        radius = round(math.dist(centre, edge))
        if radius > COORDINATE_REACH * max(height, width):
            raise _error(
                source,
                f"{where}: circle radius {radius} is more than {COORDINATE_REACH} times the {height}x{width} image",
            )
        cv2.circle(mask, tuple(round(v) for v in centre), radius, 255, thickness=-1)
        return mask
    raise _error(
        source,
        f"{where}: unsupported shape_type {kind!r} (supported: {', '.join(AREA_SHAPE_TYPES)})",
    )


def mask_from_labelme(
    path_or_dict: PathLike | dict,
    *,
    labels: set[str] | None = None,
    shape: Sequence[int] | None = None,
    source: object = None,
) -> np.ndarray:
    """Union of the shapes of a LabelMe / AnyLabeling JSON, optionally only those with `labels`.

    Size from imageHeight/imageWidth, or `shape` (H, W) when those are absent; both given and
    different is an error.
    """
    data, source = _load_json(path_or_dict, source)
    if not isinstance(data, dict):
        raise _error(source, f"LabelMe JSON must be an object, got {type(data).__name__}")
    if "shapes" not in data:
        raise _error(source, "missing key 'shapes'")
    if not isinstance(data["shapes"], list):
        raise _error(source, "'shapes' is not a list")
    height, width = _labelme_size(data, shape, source)
    mask = np.zeros((height, width), np.uint8)
    used = 0
    for index, item in enumerate(data["shapes"]):
        if not isinstance(item, dict):
            raise _error(source, f"shape {index}: not an object")
        label = item.get("label")
        if labels is not None and label not in labels:
            continue
        where = f"shape {index} (label {label!r})"
        mask |= _shape_mask(item, where, height, width, source)
        used += 1
    if labels is not None and used == 0:
        present = sorted({str(item.get("label")) for item in data["shapes"]})
        raise _error(source, f"no shape labelled {sorted(labels)}; labels present: {present}")
    return mask


# --- COCO --------------------------------------------------------------------------------------


def _rle_string_counts(counts: bytes, where: str, source: object) -> list[int]:
    """Run lengths of a compressed COCO RLE string (pycocotools' rleFrString, in Python)."""
    runs: list[int] = []
    pos = 0
    while pos < len(counts):
        value, shift, more = 0, 0, True
        while more:
            if pos >= len(counts):
                raise _error(source, f"{where}: compressed RLE string ends mid-value")
            code = counts[pos] - 48
            if not 0 <= code < 64:
                raise _error(source, f"{where}: compressed RLE has invalid character")
            value |= (code & 0x1F) << (5 * shift)
            more = bool(code & 0x20)
            pos += 1
            shift += 1
            if not more and code & 0x10:
                value |= -1 << (5 * shift)
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    return runs


def _check_runs(runs: Sequence[int], height: int, width: int, where: str, source: object) -> None:
    # pycocotools returns uninitialised memory when the runs fall short of the image.
    if any(run < 0 for run in runs):
        raise _error(source, f"{where}: RLE has a negative run length")
    if sum(runs) != height * width:
        raise _error(
            source, f"{where}: RLE runs cover {sum(runs)} pixels, size {height}x{width} has "
            f"{height * width}",
        )


def _rle_mask(seg: dict, height: int, width: int, where: str, source: object) -> np.ndarray:
    if "counts" not in seg or "size" not in seg:
        raise _error(source, f"{where}: RLE segmentation needs 'counts' and 'size'")
    if not isinstance(seg["size"], (list, tuple)) or len(seg["size"]) != 2:
        raise _error(source, f"{where}: RLE size must be [height, width]")
    if list(seg["size"]) != [height, width]:
        raise _error(
            source, f"{where}: RLE size is {_size(seg['size'])}, image is {height}x{width} "
            "(height x width)",
        )
    counts = seg["counts"]
    if isinstance(counts, list):
        if not all(isinstance(run, int) and not isinstance(run, bool) for run in counts):
            raise _error(source, f"{where}: uncompressed RLE counts must be integers")
        _check_runs(counts, height, width, where, source)
        rle = coco_mask.frPyObjects({"size": [height, width], "counts": counts}, height, width)
    elif isinstance(counts, (str, bytes)):
        try:
            raw = counts.encode("ascii") if isinstance(counts, str) else counts
        except UnicodeEncodeError as exc:
            raise _error(source, f"{where}: compressed RLE has invalid character") from exc
        _check_runs(_rle_string_counts(raw, where, source), height, width, where, source)
        rle = {"size": [height, width], "counts": raw}
    else:
        raise _error(source, f"{where}: RLE counts must be a list, str or bytes")
    with warnings.catch_warnings():
        # pycocotools 2.0.x under NumPy 2 warns on every decode; the result is unaffected.
        warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
        decoded = coco_mask.decode(rle)
    return (decoded > 0).view(np.uint8) * 255


def _coco_polygons(seg: list, height: int, width: int, where: str, source: object) -> list[np.ndarray]:
    polygons = []
    for part, flat in enumerate(seg):
        if not isinstance(flat, list) or not all(isinstance(v, (int, float)) for v in flat):
            raise _error(source, f"{where}: polygon {part} is not a flat list of numbers")
        if len(flat) % 2:
            raise _error(source, f"{where}: polygon {part} has an odd number of coordinates")
        if len(flat) < 6:
            raise _error(
                source, f"{where}: polygon {part} with {len(flat) // 2} points, needs at least 3"
            )
        points = np.asarray(flat, dtype=np.float64).reshape(-1, 2)
        if not np.isfinite(points).all():
            raise _error(source, f"{where}: polygon {part} has a coordinate that is not a finite number")
        _check_reach(points, height, width, f"{where}: polygon {part}", source)
        polygons.append(points)
    return polygons


def mask_from_coco(
    annotations: Iterable[dict], height: int, width: int, *, source: object = None
) -> np.ndarray:
    """Union of COCO `segmentation`s: polygons, uncompressed RLE or compressed RLE."""
    if not (_positive_int(height) and _positive_int(width)):
        raise _error(source, f"image height/width are not positive integers: {height}, {width}")
    check_pixels(height, width, source=source, what="declared image size")
    mask = np.zeros((height, width), np.uint8)
    for index, ann in enumerate(annotations):
        where = f"annotation {ann.get('id', index) if isinstance(ann, dict) else index}"
        if not isinstance(ann, dict) or "segmentation" not in ann:
            raise _error(source, f"{where}: missing key 'segmentation'")
        seg = ann["segmentation"]
        if isinstance(seg, list):
            mask |= polygon_mask(_coco_polygons(seg, height, width, where, source), height, width)
        elif isinstance(seg, dict):
            mask |= _rle_mask(seg, height, width, where, source)
        else:
            raise _error(source, f"{where}: segmentation is neither polygons nor RLE")
    return mask


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def coco_index(path: PathLike) -> dict[str, CocoImage]:
    """Map each image `file_name` of a COCO file to its size and annotations."""
    data, source = _load_json(path, None)
    if not isinstance(data, dict):
        raise _error(source, f"COCO file must be an object, got {type(data).__name__}")
    for key in ("images", "annotations"):
        if not isinstance(data.get(key), list):
            fault = f"missing key {key!r}" if key not in data else f"{key!r} is not a list"
            raise _error(source, fault)
    by_id: dict[Any, str] = {}
    index: dict[str, CocoImage] = {}
    for position, image in enumerate(data["images"]):
        if not isinstance(image, dict):
            raise _error(source, f"image {position}: not an object")
        missing = [k for k in ("id", "file_name", "height", "width") if k not in image]
        if missing:
            raise _error(source, f"image {position}: missing key {missing[0]!r}")
        if not isinstance(image["id"], (int, str)) or not isinstance(image["file_name"], str):
            raise _error(source, f"image {position}: 'id' must be a number or string and 'file_name' a string")
        if not (_positive_int(image["height"]) and _positive_int(image["width"])):
            raise _error(source, f"image {image['id']}: height/width are not positive integers")
        check_pixels(image["height"], image["width"], source=source, what=f"image {image['id']}: declared size")
        if image["id"] in by_id:
            raise _error(source, f"image {image['id']}: duplicate image id")
        if image["file_name"] in index:
            raise _error(source, f"image {image['id']}: duplicate file_name {image['file_name']!r}")
        by_id[image["id"]] = image["file_name"]
        index[image["file_name"]] = CocoImage(image["height"], image["width"], [])
    for position, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or "image_id" not in ann:
            raise _error(source, f"annotation {position}: missing key 'image_id'")
        if not isinstance(ann["image_id"], (int, str)) or ann["image_id"] not in by_id:
            where = f"annotation {ann.get('id', position)}"
            raise _error(source, f"{where}: unknown image_id {ann['image_id']!r}")
        index[by_id[ann["image_id"]]].annotations.append(ann)
    return index


# --- dispatch and validation -------------------------------------------------------------------


def load_mask(path: PathLike, *, expected_shape: Sequence[int] | None = None) -> np.ndarray:
    """Mask from a file by extension: PNG/BMP/TIFF, JPEG (cut at mid-grey) or LabelMe JSON.

    With `expected_shape` (H, W, ...) the mask must have that size.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        shape = None if expected_shape is None else tuple(expected_shape[:2])
        mask = mask_from_labelme(path, shape=shape)
    elif suffix in LOSSLESS_SUFFIXES or suffix in LOSSY_SUFFIXES:
        data, source = _read_bytes(path, None)
        mask = _decode_mask(data, source, lossy=suffix in LOSSY_SUFFIXES)
    else:
        raise _error(path, f"unknown mask file type {suffix!r}")
    if expected_shape is not None:
        _check_size(mask, expected_shape, path)
    return mask


def _check_size(mask: np.ndarray, image_shape: Sequence[int], source: object) -> None:
    if tuple(mask.shape[:2]) != tuple(image_shape[:2]):
        raise _error(
            source, f"mask is {_size(mask.shape)}, image is {_size(image_shape)} (height x width)"
        )


def is_binary(mask: np.ndarray) -> bool:
    """Whether a uint8 mask holds only 0 and 255 (one vectorised pass, no sort)."""
    return cv2.countNonZero(cv2.inRange(np.ascontiguousarray(mask), 1, 254)) == 0


def same_mask(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two masks have the same shape and values (for 2-D uint8 ones, one pass without a temporary array)."""
    if a.shape != b.shape:
        return False
    fast = all(m.dtype == np.uint8 and m.ndim == 2 and m.flags.c_contiguous for m in (a, b))
    return cv2.norm(a, b, cv2.NORM_INF) == 0 if fast else bool(np.array_equal(a, b))


def check_mask(
    mask: np.ndarray,
    image_shape: Sequence[int],
    *,
    source: object = None,
    allow_empty: bool = False,
) -> np.ndarray:
    """Check a mask against its image: 2-D uint8, values 0/255, same H x W, and some object."""
    if not isinstance(mask, np.ndarray) or mask.ndim != 2:
        shape = getattr(mask, "shape", None)
        raise _error(source, f"mask must be a 2-D array, got shape {shape}")
    if mask.dtype != np.uint8:
        raise _error(source, f"mask must be uint8, got {mask.dtype}")
    _check_size(mask, image_shape, source)
    if not is_binary(mask):
        stray = np.setdiff1d(np.unique(mask), [0, 255])
        raise _error(source, f"mask values must be 0 or 255, found {stray[:5].tolist()}")
    if not allow_empty and not mask.any():
        raise _error(source, "empty mask (no object pixels)")
    return mask
