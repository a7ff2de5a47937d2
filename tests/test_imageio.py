"""Decoding source files to RGB with conversion notes, and encoding scenario images."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from ximagenet12.imageio import (
    ImageDecodeError,
    decode_any,
    decode_rgb,
    encode_jpeg,
    encode_png,
    read_rgb,
)


def gradient(height: int = 24, width: int = 32) -> np.ndarray:
    """A smooth RGB uint8 gradient (compresses well, so JPEG stays close to it)."""
    yy, xx = np.mgrid[0:height, 0:width]
    red, green = xx * 255 // max(width - 1, 1), yy * 255 // max(height - 1, 1)
    return np.stack([red, green, np.full_like(xx, 90)], -1).astype(np.uint8)


def pil_bytes(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    """Save a Pillow image to bytes."""
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def cv2_png(array: np.ndarray) -> bytes:
    """PNG bytes of an array as OpenCV writes it (channels as given; 16-bit kept)."""
    ok, buf = cv2.imencode(".png", array)
    assert ok
    return buf.tobytes()


def check_decoded(decoded, shape: tuple[int, int], mode: str, fmt: str, converted: bool) -> None:
    """RGB uint8 of the right size, C-contiguous, with a note exactly when something was converted."""
    assert decoded.rgb.dtype == np.uint8
    assert decoded.rgb.shape == (*shape, 3)
    assert decoded.rgb.flags.c_contiguous
    if converted:
        assert decoded.note is not None and mode in decoded.note
    assert decoded.format == fmt
    if converted:
        assert decoded.note is not None and "converted" in decoded.note and "RGB" in decoded.note
    else:
        assert decoded.note is None


# --- decode_rgb: sources that are already RGB ---------------------------------------------------


def test_rgb_png_decodes_exactly_without_note() -> None:
    """An 8-bit RGB PNG comes back pixel for pixel, no note."""
    rgb = gradient()
    decoded = decode_rgb(pil_bytes(Image.fromarray(rgb), "PNG"))
    check_decoded(decoded, (24, 32), "RGB", "PNG", converted=False)
    np.testing.assert_array_equal(decoded.rgb, rgb)


def test_rgb_jpeg_decodes_in_rgb_order_without_note() -> None:
    """An RGB JPEG decodes close to its pixels, channels in RGB order (red stays red), no note."""
    rgb = gradient()
    rgb[:8, :8] = (255, 0, 0)
    decoded = decode_rgb(pil_bytes(Image.fromarray(rgb), "JPEG", quality=95))
    check_decoded(decoded, (24, 32), "RGB", "JPEG", converted=False)
    assert np.abs(decoded.rgb.astype(int) - rgb).mean() < 3
    red = decoded.rgb[2:6, 2:6].reshape(-1, 3).mean(axis=0)
    assert red[0] > 200 and red[2] < 60


# --- decode_rgb: conversions --------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_greyscale_becomes_three_equal_channels(fmt: str) -> None:
    """An 'L' image: R == G == B == the grey value; noted."""
    grey = gradient()[..., 0]
    decoded = decode_rgb(pil_bytes(Image.fromarray(grey, "L"), fmt))
    check_decoded(decoded, (24, 32), "L", fmt, converted=True)
    assert "L" in decoded.note
    assert np.all(decoded.rgb[..., 0] == decoded.rgb[..., 1]) and np.all(decoded.rgb[..., 1] == decoded.rgb[..., 2])
    if fmt == "PNG":
        np.testing.assert_array_equal(decoded.rgb[..., 0], grey)


def test_cmyk_jpeg_is_converted() -> None:
    """A CMYK JPEG (as some ImageNet files are) converts to RGB as Pillow does; noted."""
    cmyk = Image.new("CMYK", (20, 12), (10, 200, 30, 40))
    data = pil_bytes(cmyk, "JPEG", quality=95)
    decoded = decode_rgb(data, source="n02105855_2933.JPEG")
    check_decoded(decoded, (12, 20), "CMYK", "JPEG", converted=True)
    assert "CMYK" in decoded.note
    with Image.open(io.BytesIO(data)) as im:
        np.testing.assert_array_equal(decoded.rgb, np.asarray(im.convert("RGB")))
    assert np.abs(decoded.rgb.astype(int) - (205, 15, 185)).max() <= 40  # 255 - c - k, ...


def test_palette_png_is_looked_up() -> None:
    """A palette PNG converts through its palette; noted."""
    rgb = gradient()
    palette_image = Image.fromarray(rgb).quantize(colors=16)
    decoded = decode_rgb(pil_bytes(palette_image, "PNG"))
    check_decoded(decoded, (24, 32), "P", "PNG", converted=True)
    np.testing.assert_array_equal(decoded.rgb, np.asarray(palette_image.convert("RGB")))


def test_palette_png_with_transparency_keeps_the_colours() -> None:
    """A palette PNG with a transparent index still gives the palette's RGB; noted."""
    palette_image = Image.fromarray(gradient()).quantize(colors=8)
    decoded = decode_rgb(pil_bytes(palette_image, "PNG", transparency=0))
    check_decoded(decoded, (24, 32), "P", "PNG", converted=True)
    np.testing.assert_array_equal(decoded.rgb, np.asarray(palette_image.convert("RGB")))


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_dropped(mode: str) -> None:
    """RGBA / LA PNG: the colour channels are kept, alpha is dropped; noted."""
    rgba = np.dstack([gradient(), np.arange(24 * 32, dtype=np.uint8).reshape(24, 32)])
    image = Image.fromarray(rgba, "RGBA")
    if mode == "LA":
        image = image.convert("LA")
    decoded = decode_rgb(pil_bytes(image, "PNG"))
    check_decoded(decoded, (24, 32), mode, "PNG", converted=True)
    want = rgba[..., :3] if mode == "RGBA" else np.repeat(np.asarray(image)[..., :1], 3, axis=2)
    np.testing.assert_array_equal(decoded.rgb, want)


def test_bilevel_png() -> None:
    """A 1-bit PNG becomes black and white RGB; noted."""
    bits = gradient()[..., 0] > 128
    decoded = decode_rgb(pil_bytes(Image.fromarray(bits), "PNG"))
    check_decoded(decoded, (24, 32), "1", "PNG", converted=True)
    np.testing.assert_array_equal(decoded.rgb[..., 0], np.where(bits, 255, 0))


def test_16_bit_greyscale_png_scales_by_257() -> None:
    """16-bit grey: value v becomes round(v / 257) in all three channels; noted."""
    values = (np.arange(24 * 32, dtype=np.uint16).reshape(24, 32) * 85).astype(np.uint16)
    decoded = decode_rgb(cv2_png(values))
    check_decoded(decoded, (24, 32), "I;16", "PNG", converted=True)
    np.testing.assert_array_equal(decoded.rgb[..., 0], np.round(values / 257.0).astype(np.uint8))
    assert np.all(decoded.rgb[..., 0] == decoded.rgb[..., 2])


def test_dark_16_bit_greyscale_png_stays_dark() -> None:
    """A 16-bit image whose values all fit below 256 is nearly black, not stretched to 8-bit full range."""
    values = (np.arange(24 * 32).reshape(24, 32) % 200).astype(np.uint16)
    decoded = decode_rgb(cv2_png(values))
    assert decoded.rgb.max() <= 1


@pytest.mark.parametrize("channels", [3, 4])
def test_16_bit_colour_png_is_reduced_with_a_note(channels: int) -> None:
    """16-bit RGB / RGBA PNG: 8-bit RGB within 1 of v / 257, and a note saying it was converted."""
    rng = np.random.default_rng(0)
    rgb16 = rng.integers(0, 65536, (12, 20, 3), dtype=np.uint16)
    array = rgb16 if channels == 3 else np.dstack([rgb16, np.full((12, 20), 65535, np.uint16)])
    decoded = decode_rgb(cv2_png(array[..., [2, 1, 0, 3][:channels]]))
    check_decoded(decoded, (12, 20), "RGB" if channels == 3 else "RGBA", "PNG", converted=True)
    assert np.abs(decoded.rgb.astype(int) - np.round(rgb16 / 257.0)).max() <= 1
    if channels == 3:
        assert "16-bit" in decoded.note


# --- decode_rgb: bad files ----------------------------------------------------------------------


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_truncated_jpeg_names_the_source(keep: float) -> None:
    """A JPEG cut short is an ImageDecodeError (a ValueError) whose message names the file."""
    rng = np.random.default_rng(1)
    data = pil_bytes(Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)), "JPEG", quality=95)
    with pytest.raises(ImageDecodeError, match=r"^images/n01689811_42\.JPEG: not a decodable image"):
        decode_rgb(data[: int(len(data) * keep)], source="images/n01689811_42.JPEG")
    assert issubclass(ImageDecodeError, ValueError)


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, b"\xff\xd8\xff" + b"\x00" * 10, b"<svg></svg>"],
    ids=["empty", "text", "png-header-only", "jpeg-header-only", "svg"],
)
def test_non_image_bytes_name_the_source(data: bytes) -> None:
    """Anything that is not a decodable image raises ImageDecodeError with the source in the message."""
    with pytest.raises(ImageDecodeError, match=r"^bad\.jpg: "):
        decode_rgb(data, source="bad.jpg")


def test_default_source_name() -> None:
    """Without a source name the message still says what was decoded."""
    with pytest.raises(ImageDecodeError, match=r"^<bytes>: "):
        decode_rgb(b"junk")


def test_read_rgb_names_the_path(tmp_path: Path) -> None:
    """read_rgb decodes a file, and its errors name the path."""
    good = tmp_path / "good.png"
    good.write_bytes(pil_bytes(Image.fromarray(gradient()), "PNG"))
    np.testing.assert_array_equal(read_rgb(str(good)).rgb, gradient())
    bad = tmp_path / "bad.JPEG"
    bad.write_bytes(b"nope")
    with pytest.raises(ImageDecodeError, match=r"bad\.JPEG"):
        read_rgb(str(bad))


# --- encoding -----------------------------------------------------------------------------------


def test_encode_jpeg_keeps_rgb_order_and_quality() -> None:
    """encode_jpeg writes RGB (a red patch decodes red), higher quality is closer and larger."""
    rgb = gradient(48, 64)
    rgb[:16, :16] = (255, 0, 0)
    low, high = encode_jpeg(rgb, quality=30), encode_jpeg(rgb)
    assert high[:3] == b"\xff\xd8\xff" and len(high) > len(low)
    back = decode_any(high)
    assert back.shape == rgb.shape
    assert np.abs(back.astype(int) - rgb).mean() < np.abs(decode_any(low).astype(int) - rgb).mean()
    red = back[4:12, 4:12].reshape(-1, 3).mean(axis=0)
    assert red[0] > 200 and red[2] < 60


@settings(max_examples=40, deadline=None)
@given(
    height=st.integers(1, 20),
    width=st.integers(1, 20),
    channels=st.sampled_from([0, 3, 4]),
    seed=st.integers(0, 2**32 - 1),
)
def test_png_round_trip_is_exact(height: int, width: int, channels: int, seed: int) -> None:
    """encode_png then decode_any gives back grey, RGB and RGBA arrays exactly, channel order kept."""
    shape = (height, width) if channels == 0 else (height, width, channels)
    array = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    data = encode_png(array)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    np.testing.assert_array_equal(decode_any(data), array)
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode == {0: "L", 3: "RGB", 4: "RGBA"}[channels]
        np.testing.assert_array_equal(np.asarray(im), array)


def _scanline_filters(png: bytes, row_bytes: int) -> set[int]:
    """The filter type byte of every scanline of a non-interlaced PNG."""
    idat, at = b"", 8
    while at < len(png):
        (length,), kind = struct.unpack(">I", png[at : at + 4]), png[at + 4 : at + 8]
        if kind == b"IDAT":
            idat += png[at + 8 : at + 8 + length]
        at += 12 + length
    raw = zlib.decompress(idat)
    return {raw[i] for i in range(0, len(raw), row_bytes + 1)}


@pytest.mark.parametrize("channels", [0, 3, 4])
def test_png_rows_are_up_filtered(channels: int) -> None:
    """Every row is "up"-filtered, masks and colour alike (bench/png.py: as small as adaptive, and faster)."""
    shape = (30, 40) if channels == 0 else (30, 40, channels)
    array = np.random.default_rng(channels).integers(0, 256, shape, dtype=np.uint8)
    assert _scanline_filters(encode_png(array), 40 * max(channels, 1)) == {2}


def test_decode_any_rejects_junk() -> None:
    """Bytes that are not PNG/JPEG raise ImageDecodeError."""
    with pytest.raises(ImageDecodeError):
        decode_any(b"junk")


def test_encoders_do_not_touch_their_input() -> None:
    """Encoding leaves the (read-only) array as it was."""
    rgb = gradient()
    rgb.flags.writeable = False
    before = rgb.copy()
    encode_jpeg(rgb)
    encode_png(rgb)
    np.testing.assert_array_equal(rgb, before)


# --- EXIF orientation -------------------------------------------------------------------------

# How each EXIF orientation stores a picture, derived by hand from the EXIF 2.3 table (the stored
# pixels are the displayed ones put through the inverse of the display transform).
STORED_FROM_DISPLAYED = {
    2: lambda d: d[:, ::-1],  # mirrored left-right
    3: lambda d: d[::-1, ::-1],  # turned 180°
    4: lambda d: d[::-1],  # mirrored top-bottom
    5: lambda d: d.transpose(1, 0, 2),  # reflected in the main diagonal
    6: lambda d: np.rot90(d, 1),  # to be turned 90° clockwise for display
    7: lambda d: np.rot90(d, 2).transpose(1, 0, 2),  # reflected in the other diagonal
    8: lambda d: np.rot90(d, -1),  # to be turned 90° counter-clockwise for display
}


@pytest.mark.parametrize("orientation", sorted(STORED_FROM_DISPLAYED))
def test_exif_orientation_is_applied_as_viewers_show_the_picture(orientation: int) -> None:
    displayed = np.random.default_rng(orientation).integers(0, 256, (6, 10, 3), dtype=np.uint8)
    stored = np.ascontiguousarray(STORED_FROM_DISPLAYED[orientation](displayed))
    exif = Image.Exif()
    exif[0x0112] = orientation
    decoded = decode_rgb(pil_bytes(Image.fromarray(stored), "PNG", exif=exif.tobytes()))
    assert decoded.orientation == orientation
    np.testing.assert_array_equal(decoded.rgb, displayed)
    assert decoded.rgb.flags.c_contiguous


def test_no_or_broken_orientation_leaves_the_pixels_as_stored() -> None:
    rgb = gradient()
    exif = Image.Exif()
    exif[0x0112] = 42  # not an orientation
    for data in (pil_bytes(Image.fromarray(rgb), "PNG"), pil_bytes(Image.fromarray(rgb), "PNG", exif=exif.tobytes())):
        decoded = decode_rgb(data)
        assert decoded.orientation == 1
        np.testing.assert_array_equal(decoded.rgb, rgb)


def test_greyscale_is_flagged_for_grey_files_and_for_rgb_files_without_colour() -> None:
    grey = gradient()[..., 0]
    assert decode_rgb(pil_bytes(Image.fromarray(grey), "PNG")).greyscale
    assert decode_rgb(pil_bytes(Image.fromarray(np.dstack([grey] * 3)), "PNG")).greyscale
    assert not decode_rgb(pil_bytes(Image.fromarray(gradient()), "PNG")).greyscale


def test_colour_only_scenarios_leave_a_greyscale_image_unchanged_and_change_a_coloured_one() -> None:
    """The table's `colour_only` flag, checked against what each scenario does (a row's note relies on it)."""
    from ximagenet12.scenarios import SCENARIOS, apply

    grey = np.repeat(np.random.default_rng(3).integers(0, 256, (20, 30, 1), dtype=np.uint8), 3, axis=2)
    colour = gradient(20, 30)
    mask = np.zeros((20, 30), np.uint8)
    mask[5:15, 8:20] = 255
    flagged = [name for name, s in SCENARIOS.items() if s.colour_only]
    assert set(flagged) == {"color_r", "color_g", "color_b", "color_rainbow", "color_grey"}
    for name in flagged:
        out, _, _ = apply(name, grey, mask, seed=1)
        np.testing.assert_array_equal(out, grey, err_msg=name)
        out, _, _ = apply(name, colour, mask, seed=1)
        assert not np.array_equal(out, colour), name
    for name in ("blur_bg", "bright_bg", "no_fg"):
        out, _, _ = apply(name, grey, mask, seed=1)
        assert not np.array_equal(out, grey), name
