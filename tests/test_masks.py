"""Masks from every annotation format, and every failure named with its file and fault."""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image
from pycocotools import mask as coco_mask

from ximagenet12.masks import (
    CocoImage,
    MaskError,
    check_mask,
    coco_index,
    load_mask,
    mask_from_coco,
    mask_from_labelme,
    mask_from_png,
    polygon_mask,
    same_mask,
)

H, W = 30, 40
TRIANGLE = [[5, 4], [30, 8], [12, 25]]


def square_mask() -> np.ndarray:
    mask = np.zeros((H, W), np.uint8)
    mask[8:20, 10:25] = 255
    return mask


def write_png(path: Path, array: np.ndarray) -> Path:
    ok, data = cv2.imencode(".png", array)
    assert ok
    path.write_bytes(data.tobytes())
    return path


def labelme_doc(shapes: list[dict], height: int = H, width: int = W) -> dict:
    return {"version": "5.4.1", "shapes": shapes, "imagePath": "x.jpg", "imageData": None,
            "imageHeight": height, "imageWidth": width}


def polygon_shape(points: list, label: str = "cat", kind: str = "polygon") -> dict:
    return {"label": label, "points": points, "shape_type": kind, "group_id": None, "flags": {}}


def fill(points: list, height: int = H, width: int = W) -> np.ndarray:
    expected = np.zeros((height, width), np.uint8)
    cv2.fillPoly(expected, [np.array(points, np.int32)], 255)
    return expected


def flat(points: list[list[int]]) -> list[int]:
    return [v for xy in points for v in xy]


def uncompressed_counts(mask: np.ndarray) -> list[int]:
    """COCO uncompressed RLE: column-major runs, starting with a (possibly empty) run of 0s."""
    counts, value, run = [], 0, 0
    for pixel in (mask > 0).flatten(order="F"):
        if pixel != value:
            counts.append(run)
            value, run = pixel, 0
        run += 1
    counts.append(run)
    return counts


def assert_mask_error(excinfo: pytest.ExceptionInfo, source: object, *faults: str) -> None:
    message = str(excinfo.value)
    assert str(source) in message
    for fault in faults:
        assert fault in message, message


# --- PNG ----------------------------------------------------------------------------------------


def test_v7_red_on_black_with_antialiased_edge(tmp_path: Path) -> None:
    mask = square_mask()
    bgr = np.zeros((H, W, 3), np.uint8)
    bgr[..., 2] = mask
    ring = cv2.dilate(mask, np.ones((3, 3), np.uint8)) & ~mask
    bgr[ring > 0, 2] = 37
    bgr[ring > 0, 1] = 5
    result = mask_from_png(write_png(tmp_path / "v7.png", bgr))
    assert result.dtype == np.uint8 and set(np.unique(result)) == {0, 255}
    np.testing.assert_array_equal(result, mask | np.where(ring > 0, 255, 0).astype(np.uint8))


def test_v7_rgba_uses_red_where_opaque(tmp_path: Path) -> None:
    mask = square_mask()
    bgra = np.zeros((H, W, 4), np.uint8)
    bgra[..., 2] = mask
    bgra[..., 3] = 255
    bgra[8:10, 10:25, 3] = 0
    expected = mask.copy()
    expected[8:10, 10:25] = 0
    np.testing.assert_array_equal(mask_from_png(write_png(tmp_path / "rgba.png", bgra)), expected)


def test_palette_png(tmp_path: Path) -> None:
    indices = (square_mask() > 0).astype(np.uint8)
    image = Image.fromarray(indices, mode="P")
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.save(tmp_path / "palette.png")
    np.testing.assert_array_equal(mask_from_png(tmp_path / "palette.png"), square_mask())


def test_single_channel_any_nonzero_is_object(tmp_path: Path) -> None:
    grey = (square_mask() > 0).astype(np.uint8) * 7
    grey[0, 0] = 1
    expected = square_mask()
    expected[0, 0] = 255
    np.testing.assert_array_equal(mask_from_png(write_png(tmp_path / "g.png", grey)), expected)


def test_sixteen_bit_grey_and_colour(tmp_path: Path) -> None:
    grey16 = (square_mask() > 0).astype(np.uint16) * 1000
    colour16 = np.zeros((H, W, 3), np.uint16)
    colour16[..., 2] = grey16
    for name, array in (("g16.png", grey16), ("c16.png", colour16)):
        np.testing.assert_array_equal(mask_from_png(write_png(tmp_path / name, array)), square_mask())


def test_png_from_bytes_equals_from_path(tmp_path: Path) -> None:
    path = write_png(tmp_path / "m.png", square_mask())
    np.testing.assert_array_equal(mask_from_png(path.read_bytes()), mask_from_png(path))


def test_undecodable_png_names_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(MaskError) as excinfo:
        mask_from_png(path)
    assert_mask_error(excinfo, path, "cannot decode image")


def test_undecodable_bytes_use_given_source() -> None:
    with pytest.raises(MaskError) as excinfo:
        mask_from_png(b"garbage", source="upload.png")
    assert_mask_error(excinfo, "upload.png", "cannot decode image")


def test_missing_png_names_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.png"
    with pytest.raises(MaskError) as excinfo:
        mask_from_png(path)
    assert_mask_error(excinfo, path, "cannot read file")


def test_colour_png_without_red_is_refused(tmp_path: Path) -> None:
    bgr = np.zeros((H, W, 3), np.uint8)
    bgr[..., 1] = square_mask()
    path = write_png(tmp_path / "green.png", bgr)
    with pytest.raises(MaskError) as excinfo:
        mask_from_png(path)
    assert_mask_error(excinfo, path, "no red pixels", "V7")


# --- LabelMe ------------------------------------------------------------------------------------


def test_labelme_polygon_matches_fillpoly(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(json.dumps(labelme_doc([polygon_shape(TRIANGLE)])))
    np.testing.assert_array_equal(mask_from_labelme(path), fill(TRIANGLE))


def test_labelme_float_points_round_to_pixels() -> None:
    floats = [[x + 0.3, y - 0.2] for x, y in TRIANGLE]
    np.testing.assert_array_equal(mask_from_labelme(labelme_doc([polygon_shape(floats)])), fill(TRIANGLE))


def test_labelme_union_and_label_filter() -> None:
    other = [[32, 20], [38, 20], [38, 28], [32, 28]]
    doc = labelme_doc([polygon_shape(TRIANGLE, "cat"), polygon_shape(other, "dog")])
    np.testing.assert_array_equal(mask_from_labelme(doc), fill(TRIANGLE) | fill(other))
    np.testing.assert_array_equal(mask_from_labelme(doc, labels={"dog"}), fill(other))


def test_labelme_rectangle_circle_and_rotation() -> None:
    rect = mask_from_labelme(labelme_doc([polygon_shape([[4, 5], [20, 15]], kind="rectangle")]))
    expected = np.zeros((H, W), np.uint8)
    expected[5:16, 4:21] = 255
    np.testing.assert_array_equal(rect, expected)

    circle = mask_from_labelme(labelme_doc([polygon_shape([[20, 15], [26, 15]], kind="circle")]))
    expected = np.zeros((H, W), np.uint8)
    cv2.circle(expected, (20, 15), 6, 255, -1)
    np.testing.assert_array_equal(circle, expected)

    quad = [[5, 5], [25, 8], [22, 20], [3, 17]]
    rotated = mask_from_labelme(labelme_doc([polygon_shape(quad, kind="rotation")]))
    np.testing.assert_array_equal(rotated, fill(quad))


def test_labelme_missing_shape_type_means_polygon() -> None:
    shape = {"label": "cat", "points": TRIANGLE, "shape_type": None}
    np.testing.assert_array_equal(mask_from_labelme(labelme_doc([shape])), fill(TRIANGLE))


def test_labelme_size_from_shape_when_absent() -> None:
    doc = {"shapes": [polygon_shape(TRIANGLE)]}
    assert mask_from_labelme(doc, shape=(H, W)).shape == (H, W)


def test_labelme_size_missing_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "nosize.json"
    path.write_text(json.dumps({"shapes": [polygon_shape(TRIANGLE)]}))
    with pytest.raises(MaskError) as excinfo:
        mask_from_labelme(path)
    assert_mask_error(excinfo, path, "imageHeight")


def test_labelme_size_disagreeing_with_image(tmp_path: Path) -> None:
    path = tmp_path / "size.json"
    path.write_text(json.dumps(labelme_doc([polygon_shape(TRIANGLE)], 300, 200)))
    with pytest.raises(MaskError) as excinfo:
        mask_from_labelme(path, shape=(375, 500))
    assert_mask_error(excinfo, path, "JSON is 300x200", "image is 375x500", "height x width")


@pytest.mark.parametrize(
    ("content", "faults"),
    [
        ('{"shapes": [', ("malformed JSON", "Expecting")),
        (json.dumps({"imageHeight": H, "imageWidth": W}), ("missing key 'shapes'",)),
        (json.dumps(labelme_doc([polygon_shape([[1, 1], [5, 5]])])), ("polygon with 2 points", "at least 3")),
        (json.dumps(labelme_doc([polygon_shape([[1, 1], [5, 5]], kind="line")])), ("'line'", "shape_type")),
        (json.dumps(labelme_doc([{"label": "cat", "shape_type": "polygon"}])), ("missing key 'points'",)),
        (json.dumps(labelme_doc([polygon_shape([[1, "a"], [5, 5], [2, 8]])])), ("[x, y] numbers",)),
        (json.dumps([1, 2]), ("must be an object",)),
    ],
)
def test_labelme_faults_name_file_and_fault(tmp_path: Path, content: str, faults: tuple[str, ...]) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(MaskError) as excinfo:
        mask_from_labelme(path)
    assert_mask_error(excinfo, path, *faults)


def test_labelme_label_filter_without_match(tmp_path: Path) -> None:
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(labelme_doc([polygon_shape(TRIANGLE, "cat")])))
    with pytest.raises(MaskError) as excinfo:
        mask_from_labelme(path, labels={"dog"})
    assert_mask_error(excinfo, path, "no shape labelled ['dog']", "labels present: ['cat']")


# --- COCO ---------------------------------------------------------------------------------------


def test_coco_polygons_union() -> None:
    other = [[32, 20], [38, 20], [38, 28], [32, 28]]
    anns = [
        {"id": 1, "segmentation": [flat(TRIANGLE)]},
        {"id": 2, "segmentation": [flat(other)]},
    ]
    np.testing.assert_array_equal(mask_from_coco(anns, H, W), fill(TRIANGLE) | fill(other))


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_coco_uncompressed_rle_round_trip() -> None:
    mask = square_mask()
    mask[2:5, 30:33] = 255
    seg = {"size": [H, W], "counts": uncompressed_counts(mask)}
    reference = coco_mask.decode(coco_mask.frPyObjects(seg, H, W))
    np.testing.assert_array_equal(reference * 255, mask)
    np.testing.assert_array_equal(mask_from_coco([{"segmentation": seg}], H, W), mask)


def test_coco_compressed_rle_str_and_bytes() -> None:
    mask = square_mask()
    rle = coco_mask.encode(np.asfortranarray(mask > 0, dtype=np.uint8))
    for counts in (rle["counts"], rle["counts"].decode("ascii")):
        seg = {"size": [H, W], "counts": counts}
        np.testing.assert_array_equal(mask_from_coco([{"segmentation": seg}], H, W), mask)


@pytest.mark.parametrize(
    ("segmentation", "faults"),
    [
        ({"size": [H + 1, W], "counts": [H * W]}, ("RLE size is 31x40", "image is 30x40")),
        ({"size": [H, W], "counts": [5, 10]}, ("RLE runs cover 15 pixels", "1200")),
        ({"size": [H, W], "counts": [H * W + 1, -1]}, ("negative run",)),
        ({"size": [H, W], "counts": "0"}, ("RLE runs cover 0 pixels",)),
        ({"size": [H, W], "counts": "\x7f"}, ("invalid character",)),
        ({"counts": [H * W]}, ("needs 'counts' and 'size'",)),
        ([[1, 2, 3, 4, 5]], ("odd number of coordinates",)),
        ([[1, 2, 3, 4]], ("2 points", "at least 3")),
        ([[1, 2, "x", 4, 5, 6]], ("not a flat list of numbers",)),
        ("nope", ("neither polygons nor RLE",)),
    ],
)
def test_coco_segmentation_faults(segmentation: object, faults: tuple[str, ...]) -> None:
    with pytest.raises(MaskError) as excinfo:
        mask_from_coco([{"id": 7, "segmentation": segmentation}], H, W, source="ann.json")
    assert_mask_error(excinfo, "ann.json", "annotation 7", *faults)


def test_coco_missing_segmentation() -> None:
    with pytest.raises(MaskError) as excinfo:
        mask_from_coco([{"id": 3}], H, W, source="ann.json")
    assert_mask_error(excinfo, "ann.json", "annotation 3", "missing key 'segmentation'")


def coco_file(path: Path, **changes: object) -> Path:
    data = {
        "images": [{"id": 1, "file_name": "a/1.jpg", "height": H, "width": W},
                   {"id": 2, "file_name": "b/2.jpg", "height": 10, "width": 12}],
        "annotations": [{"id": 10, "image_id": 1, "segmentation": [flat(TRIANGLE)]},
                        {"id": 11, "image_id": 1, "segmentation": [[1, 1, 4, 1, 4, 4]]}],
        "categories": [{"id": 1, "name": "cat"}],
    }
    data.update(changes)
    path.write_text(json.dumps(data))
    return path


def test_coco_index(tmp_path: Path) -> None:
    index = coco_index(coco_file(tmp_path / "coco.json"))
    assert set(index) == {"a/1.jpg", "b/2.jpg"}
    first = index["a/1.jpg"]
    assert isinstance(first, CocoImage) and (first.height, first.width) == (H, W)
    assert [a["id"] for a in first.annotations] == [10, 11]
    assert index["b/2.jpg"].annotations == []
    assert mask_from_coco(first.annotations, first.height, first.width)[10, 12] == 255


@pytest.mark.parametrize(
    ("changes", "faults"),
    [
        ({"images": None}, ("'images' is not a list",)),
        ({"annotations": [{"id": 5, "image_id": 99, "segmentation": []}]}, ("annotation 5", "unknown image_id 99")),
        ({"annotations": [{"id": 5, "segmentation": []}]}, ("missing key 'image_id'",)),
        ({"images": [{"id": 1, "file_name": "a.jpg", "height": H}]}, ("missing key 'width'",)),
        ({"images": [{"id": 1, "file_name": "a.jpg", "height": 0, "width": W}]}, ("not positive integers",)),
        (
            {"images": [{"id": 1, "file_name": "a.jpg", "height": H, "width": W},
                        {"id": 2, "file_name": "a.jpg", "height": H, "width": W}]},
            ("duplicate file_name 'a.jpg'",),
        ),
    ],
)
def test_coco_index_faults(tmp_path: Path, changes: dict, faults: tuple[str, ...]) -> None:
    path = coco_file(tmp_path / "coco.json", **changes)
    with pytest.raises(MaskError) as excinfo:
        coco_index(path)
    assert_mask_error(excinfo, path, *faults)


def test_coco_index_missing_key_and_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "coco.json"
    path.write_text(json.dumps({"images": []}))
    with pytest.raises(MaskError) as excinfo:
        coco_index(path)
    assert_mask_error(excinfo, path, "missing key 'annotations'")
    path.write_text("{")
    with pytest.raises(MaskError) as excinfo:
        coco_index(path)
    assert_mask_error(excinfo, path, "malformed JSON")


# --- dispatch and validation --------------------------------------------------------------------


def test_load_mask_dispatch(tmp_path: Path) -> None:
    png = write_png(tmp_path / "m.png", square_mask())
    np.testing.assert_array_equal(load_mask(png, expected_shape=(H, W, 3)), square_mask())
    doc = tmp_path / "m.json"
    doc.write_text(json.dumps({"shapes": [polygon_shape(TRIANGLE)]}))
    np.testing.assert_array_equal(load_mask(doc, expected_shape=(H, W)), fill(TRIANGLE))


def test_load_mask_jpeg_is_thresholded(tmp_path: Path) -> None:
    _, data = cv2.imencode(".jpg", square_mask(), [cv2.IMWRITE_JPEG_QUALITY, 60])
    path = tmp_path / "m.JPG"
    path.write_bytes(data.tobytes())
    decoded = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    assert ((decoded > 0) & (square_mask() == 0)).any()  # compression noise outside the object
    np.testing.assert_array_equal(load_mask(path), square_mask())


def test_load_mask_wrong_size_and_unknown_type(tmp_path: Path) -> None:
    png = write_png(tmp_path / "m.png", square_mask())
    with pytest.raises(MaskError) as excinfo:
        load_mask(png, expected_shape=(375, 500))
    assert_mask_error(excinfo, png, "mask is 30x40, image is 375x500 (height x width)")
    other = tmp_path / "m.gif"
    other.write_bytes(b"GIF89a")
    with pytest.raises(MaskError) as excinfo:
        load_mask(other)
    assert_mask_error(excinfo, other, "unknown mask file type '.gif'")


def test_check_mask_accepts_and_refuses() -> None:
    mask = square_mask()
    assert check_mask(mask, (H, W, 3), source="x.png") is mask
    empty = np.zeros((H, W), np.uint8)
    assert check_mask(empty, (H, W), allow_empty=True) is empty
    cases = [
        (empty, (H, W), "empty mask (no object pixels)"),
        (mask, (375, 500), "mask is 30x40, image is 375x500 (height x width)"),
        (mask // 2, (H, W), "values must be 0 or 255"),
        (mask.astype(np.uint16), (H, W), "must be uint8"),
        (np.dstack([mask, mask]), (H, W), "must be a 2-D array"),
    ]
    for bad, shape, fault in cases:
        with pytest.raises(MaskError) as excinfo:
            check_mask(bad, shape, source="x.png")
        assert_mask_error(excinfo, "x.png", fault)


def test_polygon_mask_is_a_union_not_even_odd() -> None:
    first = [[0, 0], [20, 0], [20, 20], [0, 20]]
    second = [[10, 10], [30, 10], [30, 25], [10, 25]]
    mask = polygon_mask([np.array(first), np.array(second)], H, W)
    assert mask[15, 15] == 255
    np.testing.assert_array_equal(mask, fill(first) | fill(second))


# --- properties ---------------------------------------------------------------------------------

points = st.lists(
    st.tuples(st.integers(-5, W + 5), st.integers(-5, H + 5)), min_size=3, max_size=12
)


@settings(max_examples=60, deadline=None)
@given(polygons=st.lists(points, min_size=1, max_size=3))
def test_labelme_and_coco_polygons_agree(polygons: list[list[tuple[int, int]]]) -> None:
    doc = labelme_doc([polygon_shape([list(p) for p in poly]) for poly in polygons])
    coco = [{"segmentation": [[float(v) for xy in poly for v in xy] for poly in polygons]}]
    from_labelme = mask_from_labelme(doc)
    np.testing.assert_array_equal(from_labelme, mask_from_coco(coco, H, W))
    np.testing.assert_array_equal(from_labelme, polygon_mask([np.array(p) for p in polygons], H, W))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 24), st.integers(1, 24), st.data())
def test_rle_forms_agree(height: int, width: int, data: st.DataObject) -> None:
    bits = data.draw(st.lists(st.booleans(), min_size=height * width, max_size=height * width))
    mask = np.array(bits, dtype=np.uint8).reshape(height, width) * 255
    compressed = coco_mask.encode(np.asfortranarray(mask > 0, dtype=np.uint8))
    segs = [
        {"size": [height, width], "counts": uncompressed_counts(mask)},
        {"size": [height, width], "counts": compressed["counts"]},
        {"size": [height, width], "counts": compressed["counts"].decode("ascii")},
    ]
    for seg in segs:
        np.testing.assert_array_equal(mask_from_coco([{"segmentation": seg}], height, width), mask)


def test_png_round_trip_through_pil_bytes() -> None:
    buffer = io.BytesIO()
    Image.fromarray(square_mask()).save(buffer, format="PNG")
    np.testing.assert_array_equal(mask_from_png(buffer.getvalue()), square_mask())


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 12), st.integers(1, 12), st.data(),
    st.sampled_from(["copy", "one_pixel", "transposed", "flipped", "bool", "cropped"]),
)
def test_same_mask_is_array_equal(height: int, width: int, data: st.DataObject, change: str) -> None:
    """`same_mask` answers as `np.array_equal` (shape included), for contiguous uint8 masks and any other array."""
    a = data.draw(arrays(np.uint8, (height, width), elements=st.sampled_from([0, 1, 255])))
    b = {
        "copy": lambda: a.copy(),
        "one_pixel": lambda: np.where(np.arange(a.size).reshape(a.shape) == a.size // 2, 255 - a, a).astype(np.uint8),
        "transposed": lambda: np.ascontiguousarray(a.T),
        "flipped": lambda: a[:, ::-1],
        "bool": lambda: a.astype(bool),
        "cropped": lambda: a[:, : max(1, width - 1)],
    }[change]()
    assert same_mask(a, b) == bool(a.shape == b.shape and np.array_equal(a, b))
    assert same_mask(a, a.copy())
