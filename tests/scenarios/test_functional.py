"""The pure image operations in `ximagenet12.scenarios.functional`, one section per function."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ximagenet12.scenarios import functional as F

from .checks import (
    check_background_untouched,
    check_object_untouched,
    check_pure,
    ellipse_mask,
    hsv,
    make_image,
    object_box,
    random_image,
    random_mask,
    ref_grey,
    ref_hue_rotated,
    ref_hue_set,
    ref_segment,
    ref_tile,
    to3,
)

BRIGHT = {"ksize": 9, "sigma": 4.0, "alpha": 1.5, "beta": 0.9, "gamma": 1.9}


@st.composite
def scenes(draw: st.DrawFn, max_side: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """A random noise image with a random one- or two-rectangle mask (borders included)."""
    height, width = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    seed = draw(st.integers(0, 2**32 - 1))
    return random_image(seed, height, width), random_mask(seed + 1, height, width)


# --- composite ---------------------------------------------------------------------------------


@settings(deadline=None)
@given(scene=scenes())
def test_composite_takes_object_from_foreground_rest_from_background(scene: tuple[np.ndarray, np.ndarray]) -> None:
    """A hard mask: object pixels from the first image, all others from the second."""
    image, mask = scene
    other = 255 - image
    out = F.composite(image, other, mask)
    np.testing.assert_array_equal(out, np.where(to3(mask), image, other))


def test_composite_treats_any_nonzero_as_object() -> None:
    """Mask values 1 and 17 count as object, like 255."""
    image, other = make_image(0, 6, 7), random_image(1, 6, 7)
    mask = np.zeros((6, 7), np.uint8)
    mask[1, 1], mask[2, 3], mask[4, 5] = 1, 17, 255
    np.testing.assert_array_equal(F.composite(image, other, mask), np.where(to3(mask), image, other))


# --- blur --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("ksize", "sigma"), [(15, 3.0), (9, 4.0), (3, 0.8), (1, 0.5)])
def test_gaussian_blur_is_opencv(ksize: int, sigma: float) -> None:
    """The square-kernel blur is cv2.GaussianBlur with its default border."""
    image = make_image(2, 31, 45)
    np.testing.assert_array_equal(F.gaussian_blur(image, ksize, sigma), cv2.GaussianBlur(image, (ksize, ksize), sigma))


@settings(max_examples=80, deadline=None)
@given(scene=scenes(), ksize=st.sampled_from([3, 9, 15]), sigma=st.sampled_from([1.0, 3.0, 4.0]))
def test_blur_background_and_object_split_the_blur_by_mask(
    scene: tuple[np.ndarray, np.ndarray], ksize: int, sigma: float
) -> None:
    """blur_background / blur_object take exactly the whole-image blur on their part, the source elsewhere.

    blur_object blurs only near the object; objects touching the borders, thin images and two
    separate objects must still match the whole-image blur.
    """
    image, mask = scene
    blurred = cv2.GaussianBlur(image, (ksize, ksize), sigma)
    np.testing.assert_array_equal(F.blur_background(image, mask, ksize, sigma), np.where(to3(mask), image, blurred))
    np.testing.assert_array_equal(F.blur_object(image, mask, ksize, sigma), np.where(to3(mask), blurred, image))


def test_blur_object_with_empty_mask_is_a_copy() -> None:
    """No object: nothing to blur, a fresh copy of the image."""
    image = make_image(3, 10, 12)
    out = F.blur_object(image, np.zeros((10, 12), np.uint8), 15, 3.0)
    np.testing.assert_array_equal(out, image)
    assert not np.shares_memory(out, image)


# --- hue ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("hue", [0, 15, 29, 30, 60, 89, 90, 120, 149, 150, 179, 180])
def test_set_background_hue_matches_the_bgr_recipe(hue: int) -> None:
    """Same bytes as the authors' BGR -> HSV, hue := k, HSV -> BGR, on the background only."""
    image, mask = make_image(4, 33, 47), ellipse_mask(33, 47)
    out = F.set_background_hue(image, mask, hue)
    np.testing.assert_array_equal(out, np.where(to3(mask), image, ref_hue_set(image, hue)))


def test_set_background_hue_keeps_grey_pixels_grey() -> None:
    """Zero-saturation pixels have no hue to set: they stay exactly as they were."""
    image = np.repeat(np.arange(0, 256, 4, dtype=np.uint8)[None, :, None], 3, axis=2)
    mask = np.zeros(image.shape[:2], np.uint8)
    np.testing.assert_array_equal(F.set_background_hue(image, mask, 100), image)


@pytest.mark.parametrize("shift", [0, 1, 45, 90, 179])
def test_rotate_background_hue_matches_integer_recipe(shift: int) -> None:
    """Same bytes as rotating the hue in int arithmetic modulo 180, on the background only."""
    image, mask = make_image(5, 33, 47), ellipse_mask(33, 47)
    out = F.rotate_background_hue(image, mask, shift)
    np.testing.assert_array_equal(out, np.where(to3(mask), image, ref_hue_rotated(image, shift)))


def test_rotate_background_hue_wraps_at_180() -> None:
    """Hue 170 + 90 is 80 (the authors' uint8 sum gave (260 - 256) % 180 = 4)."""
    image = cv2.cvtColor(np.array([[[170, 255, 255]] * 3], np.uint8), cv2.COLOR_HSV2RGB)
    out = F.rotate_background_hue(image, np.zeros((1, 3), np.uint8), 90)
    assert hsv(out)[0, :, 0].tolist() == [80, 80, 80]


def test_rotate_by_zero_and_by_180_agree() -> None:
    """A full turn is no turn."""
    image, mask = make_image(6, 20, 30), ellipse_mask(20, 30)
    np.testing.assert_array_equal(F.rotate_background_hue(image, mask, 180), F.rotate_background_hue(image, mask, 0))


# --- grey and brightness -----------------------------------------------------------------------


@settings(deadline=None)
@given(scene=scenes())
def test_grey_background(scene: tuple[np.ndarray, np.ndarray]) -> None:
    """Background R == G == B == BT.601 luma; object kept."""
    image, mask = scene
    out = F.grey_background(image, mask)
    np.testing.assert_array_equal(out, np.where(to3(mask), image, ref_grey(image)))
    check_object_untouched(out, image, mask)


@given(scene=scenes())
@settings(deadline=None)
def test_brighten_is_saturating_add_weighted(scene: tuple[np.ndarray, np.ndarray]) -> None:
    """brighten == cv2.addWeighted(img, a, blur, b, g); the background/object variants split it by mask."""
    image, mask = scene
    want = cv2.addWeighted(image, 1.5, cv2.GaussianBlur(image, (9, 9), 4.0), 0.9, 1.9)
    np.testing.assert_array_equal(F.brighten(image, **BRIGHT), want)
    np.testing.assert_array_equal(F.brighten_background(image, mask, **BRIGHT), np.where(to3(mask), image, want))
    np.testing.assert_array_equal(F.brighten_object(image, mask, **BRIGHT), np.where(to3(mask), want, image))


def test_brighten_saturates() -> None:
    """A bright image clips at 255 rather than wrapping round to dark values."""
    image = np.full((5, 5, 3), 250, np.uint8)
    assert np.all(F.brighten(image, **BRIGHT) == 255)


# --- black-outs and transparency ---------------------------------------------------------------


@settings(deadline=None)
@given(scene=scenes())
def test_segment_and_remove_object_are_complementary(scene: tuple[np.ndarray, np.ndarray]) -> None:
    """segment + remove_object == image, each exactly black on the other's part."""
    image, mask = scene
    seg, removed = F.segment(image, mask), F.remove_object(image, mask)
    np.testing.assert_array_equal(seg, ref_segment(image, mask))
    check_object_untouched(seg, image, mask)
    check_background_untouched(removed, image, mask)
    assert not removed[mask != 0].any()
    np.testing.assert_array_equal(seg.astype(int) + removed, image)


@settings(deadline=None)
@given(scene=scenes())
def test_to_transparent(scene: tuple[np.ndarray, np.ndarray]) -> None:
    """RGBA: object (r, g, b, 255), background (0, 0, 0, 0)."""
    image, mask = scene
    out = F.to_transparent(image, mask)
    assert out.shape == (*mask.shape, 4) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., 3], np.where(mask != 0, 255, 0))
    np.testing.assert_array_equal(out[..., :3], ref_segment(image, mask))


# --- backgrounds from elsewhere ----------------------------------------------------------------


@settings(deadline=None)
@given(scene=scenes(), photo_h=st.integers(1, 60), photo_w=st.integers(1, 60))
def test_stretch_onto(scene: tuple[np.ndarray, np.ndarray], photo_h: int, photo_w: int) -> None:
    """Photo + bilinear-stretched black-background object, clipped at 255; mask stretched nearest."""
    image, mask = scene
    photo = random_image(photo_h * 100 + photo_w, photo_h, photo_w)
    out, out_mask = F.stretch_onto(image, mask, photo)
    fg = cv2.resize(ref_segment(image, mask), (photo_w, photo_h), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(out, np.clip(photo.astype(int) + fg, 0, 255))
    np.testing.assert_array_equal(out_mask, cv2.resize(mask, (photo_w, photo_h), interpolation=cv2.INTER_NEAREST))


@settings(deadline=None)
@given(scene=scenes())
def test_paste_object_same_size(scene: tuple[np.ndarray, np.ndarray]) -> None:
    """Same-size background: a plain composite."""
    image, mask = scene
    other = 255 - image
    np.testing.assert_array_equal(F.paste_object(image, mask, other), np.where(to3(mask), image, other))


def test_paste_object_resizes_the_background_bilinearly() -> None:
    """Another size: the background is resized (bilinear) to the image's size first."""
    image, mask = make_image(7, 20, 30), ellipse_mask(20, 30)
    other = random_image(8, 41, 17)
    resized = cv2.resize(other, (30, 20), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(F.paste_object(image, mask, other), np.where(to3(mask), image, resized))


# --- boxes and tiling --------------------------------------------------------------------------


@settings(deadline=None)
@given(scene=scenes())
def test_object_box_is_the_tight_box(scene: tuple[np.ndarray, np.ndarray]) -> None:
    """The end-exclusive box of the nonzero pixels."""
    _, mask = scene
    assert F.object_box(mask) == object_box(mask)


@settings(max_examples=60, deadline=None)
@given(scene=scenes())
def test_tile_background(scene: tuple[np.ndarray, np.ndarray]) -> None:
    """Box filled by tiling the largest strip outside it, else unchanged; an error if no strip exists."""
    image, mask = scene
    top, bottom, left, right = object_box(mask)
    height, width = mask.shape
    if (top, bottom, left, right) == (0, height, 0, width):
        with pytest.raises(ValueError, match="covers the whole image"):
            F.tile_background(image, mask)
        return
    out = F.tile_background(image, mask)
    np.testing.assert_array_equal(out, ref_tile(image, mask))


# --- every op ----------------------------------------------------------------------------------

OPS = {
    "composite": lambda im, m: F.composite(im, 255 - im, m),
    "gaussian_blur": lambda im, m: F.gaussian_blur(im, 15, 3.0),
    "blur_background": lambda im, m: F.blur_background(im, m, 15, 3.0),
    "blur_object": lambda im, m: F.blur_object(im, m, 15, 3.0),
    "set_background_hue": lambda im, m: F.set_background_hue(im, m, 100),
    "rotate_background_hue": lambda im, m: F.rotate_background_hue(im, m, 45),
    "grey_background": F.grey_background,
    "brighten": lambda im, m: F.brighten(im, **BRIGHT),
    "brighten_background": lambda im, m: F.brighten_background(im, m, **BRIGHT),
    "brighten_object": lambda im, m: F.brighten_object(im, m, **BRIGHT),
    "segment": F.segment,
    "remove_object": F.remove_object,
    "to_transparent": F.to_transparent,
    "stretch_onto": lambda im, m: F.stretch_onto(im, m, random_image(9, 13, 21)),
    "tile_background": F.tile_background,
    "paste_object": lambda im, m: F.paste_object(im, m, random_image(10, 13, 21)),
}


def test_every_public_op_is_listed() -> None:
    """A new image op in `functional` must be added to OPS (and so to the purity checks)."""
    public = {
        name for name, value in vars(F).items()
        if callable(value) and not name.startswith("_") and getattr(value, "__module__", "") == F.__name__
    }
    assert public - {"object_box", "sharing", "once"} == set(OPS)


def test_sharing_gives_the_same_bytes() -> None:
    """Under `sharing()` every op, run twice and its result scribbled on, gives the bytes it gives alone."""
    image, mask = make_image(13, 40, 52), ellipse_mask(40, 52)
    alone = {name: [a.copy() for a in as_tuple(op(image, mask))] for name, op in OPS.items()}
    with F.sharing():
        for _ in range(2):
            for name, op in OPS.items():
                got = as_tuple(op(image, mask))
                for g, want in zip(got, alone[name], strict=True):
                    np.testing.assert_array_equal(g, want, err_msg=name)
                    assert not np.shares_memory(g, image)
                    g[...] = 7  # a caller may write to its result: the shared intermediate must not change


@pytest.mark.parametrize("name", list(OPS))
def test_ops_are_pure(name: str) -> None:
    """Read-only inputs untouched, results repeatable and never aliasing the inputs."""
    image, mask = make_image(11, 24, 36), ellipse_mask(24, 36)
    check_pure(OPS[name], image, mask)


def as_tuple(result: np.ndarray | tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """An op's result as a tuple of arrays."""
    return result if isinstance(result, tuple) else (result,)


@pytest.mark.parametrize("name", list(OPS))
def test_ops_accept_non_contiguous_inputs(name: str) -> None:
    """Flipped views and Fortran-ordered arrays give the same bytes as contiguous ones."""
    image, mask = make_image(12, 24, 36)[:, ::-1], ellipse_mask(24, 36)[::-1]
    want = as_tuple(OPS[name](np.ascontiguousarray(image), np.ascontiguousarray(mask)))
    for im, m in ((image, mask), (np.asfortranarray(image), np.asfortranarray(mask))):
        for got, expected in zip(as_tuple(OPS[name](im, m)), want, strict=True):
            np.testing.assert_array_equal(got, expected)
