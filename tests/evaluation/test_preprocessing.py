"""Preprocessing: decoding odd files, alpha compositing, resize-crop geometry, normalisation, records."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from ximagenet12.evaluation.preprocessing import (
    Preprocessing,
    decode_for_model,
    from_model_config,
    load_image,
    normalize,
    parse_alpha_background,
    resize_crop,
)


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 700), st.integers(1, 700), st.sampled_from(["bilinear", "bicubic", "nearest"]))
def test_any_size_gives_a_crop_of_the_requested_size(width: int, height: int, interpolation: str) -> None:
    pre = Preprocessing(resize=64, crop=56, interpolation=interpolation)
    data = encoded(Image.new("RGB", (width, height), (10, 20, 30)), "PNG")
    out = load_image(data, pre)
    assert out.shape == (56, 56, 3) and out.dtype == np.uint8
    assert np.all(out == (10, 20, 30))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(8, 300),
    st.integers(8, 300),
    st.sampled_from(["bilinear", "bicubic", "nearest", "lanczos"]),
    st.sampled_from(["shorter", "squash"]),
    st.integers(8, 64),
    st.integers(0, 40),
)
def test_resize_crop_equals_torchvisions_resize_and_centre_crop(
    width: int, height: int, interpolation: str, mode: str, crop: int, extra: int
) -> None:
    from torchvision import transforms

    rng = np.random.default_rng(width * 1000 + height)
    image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    pre = Preprocessing(resize=crop + extra, crop=crop, interpolation=interpolation, resize_mode=mode)
    size = pre.resize if mode == "shorter" else (pre.resize, pre.resize)
    mode_of = {"bilinear": transforms.InterpolationMode.BILINEAR, "bicubic": transforms.InterpolationMode.BICUBIC,
               "nearest": transforms.InterpolationMode.NEAREST, "lanczos": transforms.InterpolationMode.LANCZOS}
    reference = transforms.Compose([transforms.Resize(size, interpolation=mode_of[interpolation]),
                                    transforms.CenterCrop(crop)])(image)
    assert np.array_equal(resize_crop(image, pre), np.asarray(reference))


@settings(max_examples=40, deadline=None)
@given(st.integers(20, 120), st.integers(20, 120), st.integers(4, 20), st.integers(0, 9))
def test_floor_rounding_equals_transformers_resize_and_centre_crop(
    width: int, height: int, crop: int, extra: int
) -> None:
    from transformers.image_transforms import center_crop, get_resize_output_image_size, resize
    from transformers.image_utils import PILImageResampling

    image = np.random.default_rng(width + 7 * height).integers(0, 256, (height, width, 3), dtype=np.uint8)
    pre = Preprocessing(resize=crop + extra, crop=crop, crop_rounding="floor")
    size = get_resize_output_image_size(image, size=pre.resize, default_to_square=False,
                                        input_data_format="channels_last")
    resized = resize(image, size, resample=PILImageResampling.BILINEAR, input_data_format="channels_last")
    expected = center_crop(resized, (crop, crop), input_data_format="channels_last")
    assert np.array_equal(resize_crop(Image.fromarray(image), pre), expected)


def test_centre_crop_keeps_the_centre() -> None:
    image = np.zeros((100, 300, 3), np.uint8)
    image[:, 100:200] = 255  # a white middle third
    out = load_image(encoded(Image.fromarray(image), "PNG"), Preprocessing(resize=100, crop=100))
    assert out.mean() == pytest.approx(255, abs=1)


@pytest.mark.parametrize("mode", ["L", "CMYK", "P", "RGB", "I;16"])
def test_modes_decode_to_rgb(mode: str) -> None:
    image = Image.new("RGB", (8, 6), (200, 100, 50)).convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    assert decode_for_model(encoded(image, fmt), (0, 0, 0)).mode == "RGB"


@given(st.integers(0, 255), st.tuples(*[st.integers(0, 255)] * 3))
def test_alpha_composites_over_the_background(alpha: int, background: tuple[int, int, int]) -> None:
    rgba = Image.new("RGBA", (4, 4), (250, 10, 120, alpha))
    out = np.asarray(decode_for_model(encoded(rgba, "PNG"), background)).astype(float)
    expected = (np.asarray([250, 10, 120]) * alpha + np.asarray(background) * (255 - alpha)) / 255
    assert np.allclose(out[0, 0], expected, atol=1.01)
    dropped = np.asarray(decode_for_model(encoded(rgba, "PNG"), None))
    assert dropped[0, 0].tolist() == [250, 10, 120]


def test_palette_transparency_counts_as_alpha() -> None:
    image = Image.new("P", (4, 4), 1)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    data = encoded(image, "PNG")
    with_transparency = io.BytesIO()
    image.save(with_transparency, "PNG", transparency=1)
    assert np.asarray(decode_for_model(data, (0, 0, 255)))[0, 0].tolist() == [255, 0, 0]
    assert np.asarray(decode_for_model(with_transparency.getvalue(), (0, 0, 255)))[0, 0].tolist() == [0, 0, 255]


def test_normalize_is_nchw_and_matches_the_formula() -> None:
    batch = np.random.default_rng(0).integers(0, 256, (2, 5, 4, 3), dtype=np.uint8)
    pre = Preprocessing(mean=(0.498,) * 3, std=(0.502,) * 3)
    out = normalize(batch, pre)
    assert out.shape == (2, 3, 5, 4) and out.dtype == np.float32
    expected = (batch.transpose(0, 3, 1, 2) / 255.0 - 0.498) / 0.502
    assert np.allclose(out, expected, atol=1e-5)


def test_model_config_and_record() -> None:
    fields = from_model_config({"input_size": (3, 240, 240), "crop_pct": 0.875, "interpolation": "bicubic",
                                "mean": (0.5, 0.5, 0.5), "std": [0.5, 0.5, 0.5]})
    assert fields == {"crop": 240, "resize": 274, "interpolation": "bicubic", "mean": (0.5,) * 3, "std": (0.5,) * 3}
    squash = from_model_config({"input_size": (3, 160, 160), "crop_pct": 1.0, "crop_mode": "squash"})
    assert squash == {"crop": 160, "resize": 160, "resize_mode": "squash"}
    assert from_model_config({"input_size": (3, 100, 100), "crop_pct": None})["resize"] == 114  # timm's 0.875
    with pytest.raises(ValueError, match="border"):
        from_model_config({"input_size": (3, 100, 100), "crop_mode": "border"})
    with pytest.raises(ValueError, match="not square"):
        from_model_config({"input_size": (3, 100, 120)})
    pre = Preprocessing().updated(**fields, alpha_background=None)
    record = pre.to_dict()
    assert record["resize"] == 274 and record["alpha_background"] is None and "dropped" in record["alpha"]
    assert Preprocessing.from_dict(record) == pre
    assert Preprocessing().to_dict()["alpha"] == "composited over RGB [0, 0, 0]"


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        Preprocessing(resize=200, crop=224)
    with pytest.raises(ValueError):
        Preprocessing(interpolation="magic")
    with pytest.raises(ValueError):
        Preprocessing(std=(0.0, 1.0, 1.0))
    with pytest.raises(ValueError):
        Preprocessing(resize_mode="letterbox")
    with pytest.raises(ValueError):
        Preprocessing(crop_rounding="ceil")
    assert parse_alpha_background("white") == (255, 255, 255)
    assert parse_alpha_background("1,2,3") == (1, 2, 3)
    assert parse_alpha_background("none") is None
    with pytest.raises(ValueError):
        parse_alpha_background("1,2,300")
