"""Hostile input to the image and mask readers: a valid image or mask, or the project's own error, nothing else."""

from __future__ import annotations

import functools
import io
import json
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ximagenet12.imageio import ImageDecodeError, decode_rgb, pixel_limit
from ximagenet12.masks import MaskError, check_mask, coco_index, mask_from_coco, mask_from_labelme, mask_from_png

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="JPEG")
    return buf.getvalue()


SEEDS = [
    _png(np.zeros((6, 9), np.uint8)),
    _png(np.full((5, 4, 3), 200, np.uint8)),
    _jpeg(np.full((8, 8, 3), 90, np.uint8)),
]


def _mutate(data: bytes, cuts: list[tuple[int, int]]) -> bytes:
    """Overwrite bytes of a valid file (position, value): a header or stream that is almost right."""
    buf = bytearray(data)
    for pos, value in cuts:
        buf[pos % len(buf)] = value
    return bytes(buf)


hostile_bytes = st.one_of(
    st.binary(max_size=400),
    st.builds(
        _mutate,
        st.sampled_from(SEEDS),
        st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=6),
    ),
    st.builds(lambda data, keep: data[: max(1, int(len(data) * keep))], st.sampled_from(SEEDS), st.floats(0, 1)),
)


def _valid_rgb(decoded) -> None:
    rgb = decoded.rgb
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.size > 0
    assert rgb.shape[0] * rgb.shape[1] <= pixel_limit()


def _valid_mask(mask: np.ndarray) -> None:
    assert isinstance(mask, np.ndarray) and mask.dtype == np.uint8 and mask.ndim == 2 and mask.size > 0
    assert set(np.unique(mask).tolist()) <= {0, 255}
    assert mask.shape[0] * mask.shape[1] <= pixel_limit()


@FUZZ
@given(hostile_bytes)
def test_image_decoder_returns_rgb_or_its_own_error(data: bytes) -> None:
    try:
        decoded = decode_rgb(data, source="fuzz.jpg")
    except ImageDecodeError as exc:
        assert str(exc).startswith("fuzz.jpg: ") and "\n" not in str(exc) and " at 0x" not in str(exc)
        return
    _valid_rgb(decoded)


@FUZZ
@given(hostile_bytes)
def test_png_mask_reader_returns_a_mask_or_its_own_error(data: bytes) -> None:
    try:
        mask = mask_from_png(data, source="fuzz.png")
    except MaskError as exc:
        assert str(exc).startswith("fuzz.png: ")
        return
    _valid_mask(mask)


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**13), 10**13), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
)
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)
sizes = st.one_of(st.integers(-3, 64), st.sampled_from([10**5, 20000, 30000, 2**31]), json_values)
coords = st.one_of(
    st.floats(-1e13, 1e13), st.sampled_from([float("nan"), float("inf")]), st.integers(-(10**13), 10**13)
)
points = st.one_of(st.lists(st.lists(coords, min_size=0, max_size=3), max_size=6), json_values)
shape = st.fixed_dictionaries(
    {"label": st.sampled_from(["cat", "dog", 3]), "points": points},
    optional={"shape_type": st.sampled_from(["polygon", "rectangle", "circle", "rotation", "line", None, 7])},
)
labelme_docs = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"shapes": st.one_of(st.lists(shape, max_size=3), json_values)},
        optional={"imageHeight": sizes, "imageWidth": sizes},
    ),
)


@FUZZ
@given(doc=labelme_docs)
def test_labelme_reader_returns_a_mask_or_its_own_error(doc, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("labelme") / "fuzz.json"
    path.write_text(json.dumps(doc))
    try:
        mask = mask_from_labelme(path)
    except MaskError as exc:
        assert str(exc).startswith(f"{path}: ")
        return
    _valid_mask(mask)


rle_counts = st.one_of(
    st.lists(st.integers(-5, 10**10), max_size=6), st.text(alphabet="0123456789:;<=>?@ABCabc`_", max_size=12)
)
segmentation = st.one_of(
    st.lists(st.lists(coords, max_size=8), max_size=3),
    st.fixed_dictionaries({"size": st.one_of(st.lists(sizes, max_size=3), json_values), "counts": rle_counts}),
    json_values,
)
coco_docs = st.fixed_dictionaries(
    {
        "images": st.lists(
            st.fixed_dictionaries({"id": st.sampled_from([1, 2, "a"]), "file_name": st.sampled_from(["a.jpg", "b.jpg"]),
                                   "height": sizes, "width": sizes}),
            max_size=2,
        ),
        "annotations": st.lists(
            st.fixed_dictionaries({"id": st.integers(0, 3), "image_id": st.sampled_from([1, 2, "a", None]),
                                   "segmentation": segmentation}),
            max_size=3,
        ),
    }
)


@FUZZ
@given(doc=st.one_of(coco_docs, json_values))
def test_coco_reader_returns_masks_or_its_own_error(doc, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("coco") / "coco.json"
    path.write_text(json.dumps(doc))
    try:
        index = coco_index(path)
        masks = [mask_from_coco(entry.annotations, entry.height, entry.width, source=path) for entry in index.values()]
    except MaskError as exc:
        assert str(exc).startswith(f"{path}: ")
        return
    for mask in masks:
        _valid_mask(mask)


@pytest.mark.slow
def test_a_30000_square_mask_png_of_under_a_megabyte_is_refused_before_decoding() -> None:
    """The PNG from the trust issue: 874 KB on disk, 900 million pixels once decoded."""
    data = _huge_png(30000, 30000)
    assert len(data) < 900_000
    with pytest.raises(MaskError, match=r"too large: .*900000000 pixels"):
        mask_from_png(data, source="big.png")


def test_a_tiny_coco_file_declaring_a_20000_square_rle_is_refused(tmp_path) -> None:
    doc = {"images": [{"id": 1, "file_name": "a.jpg", "height": 20000, "width": 20000}],
           "annotations": [{"id": 1, "image_id": 1, "segmentation": {"size": [20000, 20000], "counts": [400000000]}}]}
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(doc))
    assert path.stat().st_size < 500
    with pytest.raises(MaskError, match="declared size too large"):
        coco_index(path)
    with pytest.raises(MaskError, match="too large"):
        mask_from_coco(doc["annotations"], 20000, 20000, source=path)


def test_a_labelme_circle_of_radius_1e12_is_refused() -> None:
    doc = {"imageHeight": 40, "imageWidth": 50,
           "shapes": [{"label": "cat", "shape_type": "circle", "points": [[20, 20], [1e12, 20]]}]}
    with pytest.raises(MaskError, match=r"circle radius"):
        mask_from_labelme(doc, source="c.json")


def test_a_far_away_polygon_point_is_refused_rather_than_wrapped() -> None:
    """int32 would wrap 2**32 + 10 to 10: a silently wrong outline."""
    doc = {"imageHeight": 40, "imageWidth": 50,
           "shapes": [{"label": "cat", "points": [[2**32 + 10, 5], [30, 5], [30, 30]]}]}
    with pytest.raises(MaskError, match="outside"):
        mask_from_labelme(doc, source="p.json")


def test_points_somewhat_outside_the_image_are_still_accepted() -> None:
    doc = {"imageHeight": 40, "imageWidth": 50,
           "shapes": [{"label": "cat", "points": [[-10, -10], [60, -10], [60, 20]]}]}
    mask = check_mask(mask_from_labelme(doc, source="p.json"), (40, 50))
    assert mask[0, 49] == 255 and mask[39, 0] == 0


@pytest.mark.slow
def test_a_huge_source_image_is_refused_before_decoding() -> None:
    data = _huge_png(30000, 30000)
    with pytest.raises(ImageDecodeError, match="too large"):
        decode_rgb(data, source="big.png")


@functools.cache
def _huge_png(height: int, width: int) -> bytes:
    """A valid greyscale PNG of a black image, compressed in blocks so it never exists whole in memory."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    compressor = zlib.compressobj(9)
    block = 1000
    rows = b"\x00" * ((1 + width) * block)
    parts = [compressor.compress(rows[: (1 + width) * min(block, height - start)]) for start in range(0, height, block)]
    parts.append(compressor.flush())
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")
