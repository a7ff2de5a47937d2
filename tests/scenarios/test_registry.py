"""The scenario registry: `apply()` against independent references of the authors' recipes, and its contract."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ximagenet12.scenarios as registry
from ximagenet12.scenarios import (
    PAPER_SCENARIOS,
    SCENARIOS,
    SCENARIOS_LIST,
    ScenarioError,
    apply,
    draw_params,
)

from .checks import (
    HUE_BANDS,
    RAINBOW_SHIFT,
    check_background_untouched,
    check_binary_mask,
    check_object_untouched,
    check_pure,
    ellipse_mask,
    extra_inputs,
    hsv,
    make_image,
    random_image,
    random_mask,
    ref_blur,
    ref_bright,
    ref_tile,
    reference,
)

NAMES = list(SCENARIOS)
DRAWING = ["color_r", "color_g", "color_b", "color_rainbow"]
BACKGROUND_ONLY = ["blur_bg", "color_r", "color_g", "color_b", "color_rainbow", "color_grey", "bright_bg", "seg_img"]
OBJECT_ONLY = ["blur_obj", "bright_fg", "no_fg"]
# Where each scenario is defined, written from the recipes rather than read from the table.
DEFINED_EMPTY = {"original", "ai_bg"}
# With no background pixels, every scenario that replaces or changes the background would store the
# original under another name (seg_img, transparent, mixed_*) or blend a photo over the object
# (rand_bg): refused. Changing the object, or ingesting a generated image, still means something.
DEFINED_ALL_OBJECT = {"original", "blur_obj", "bright_fg", "ai_bg"}
ODD_SHAPES = [(1, 9), (9, 1), (3, 5), (2, 2), (1001, 7), (7, 1001)]


def run(name: str, image: np.ndarray, mask: np.ndarray, seed: int = 0, **kwargs):
    """`apply` with the extra inputs the scenario needs."""
    return apply(name, image, mask, seed=seed, **{**extra_inputs(name, image, mask), **kwargs})


def single_pixel_mask(height: int, width: int) -> np.ndarray:
    """A 0/255 mask with one object pixel in the middle."""
    mask = np.zeros((height, width), np.uint8)
    mask[height // 2, width // 2] = 255
    return mask


# --- the table ---------------------------------------------------------------------------------


def test_registry_lists_the_designed_configs() -> None:
    """The configs of DESIGN.md, in order, each with a reference in the tests."""
    assert NAMES == [
        "original", "blur_bg", "blur_obj", "color_r", "color_g", "color_b", "color_rainbow", "color_grey",
        "bright_bg", "bright_fg", "seg_img", "transparent", "rand_bg", "ai_bg", "no_fg", "only_bg_t",
        "mixed_same", "mixed_rand", "mixed_next",
    ]
    assert [s.name for s in SCENARIOS_LIST] == NAMES
    paper = {"blur_bg", "blur_obj", "color_g", "color_b", "color_grey", "color_r", "rand_bg", "seg_img"}
    assert set(PAPER_SCENARIOS) == paper


def test_recipes_are_the_authors_parameters() -> None:
    """Blur 15x15 sigma 3; brightness 9x9 sigma 4, 1.5 / 0.9 / 1.9; hue bands R, G, B; shift 0..90."""
    for name in ("blur_bg", "blur_obj"):
        assert SCENARIOS[name].recipe == {"ksize": 15, "sigma": 3.0}
    for name in ("bright_bg", "bright_fg"):
        assert SCENARIOS[name].recipe == {"ksize": 9, "sigma": 4.0, "alpha": 1.5, "beta": 0.9, "gamma": 1.9}
    for name, bands in HUE_BANDS.items():
        assert [tuple(b) for b in SCENARIOS[name].ranges["hue"]] == bands
    assert list(SCENARIOS["color_rainbow"].ranges["shift"]) == list(RAINBOW_SHIFT)


def test_hue_bands_partition_the_hue_circle() -> None:
    """R, G and B bands are disjoint and together cover 0..179; red also has 180, which OpenCV reads as 0."""
    hues = [h for bands in HUE_BANDS.values() for lo, hi in bands for h in range(lo, hi + 1)]
    assert sorted(hues) == [*range(180), 180]
    assert [hi for _, hi in HUE_BANDS["color_r"]] == [29, 180]


@pytest.mark.parametrize("name", NAMES)
def test_scenario_metadata(name: str) -> None:
    """Mode matches encoding, descriptions exist, draws produce exactly the keys of `ranges`."""
    scenario = SCENARIOS[name]
    assert scenario.title and scenario.description
    assert (scenario.mode == "RGBA") == (scenario.encoding == "png")
    drawn = draw_params(name, 0)
    assert drawn.pop("seed") == 0
    assert set(drawn) == set(scenario.ranges)
    assert (scenario.draw is None) == (name not in DRAWING)


# --- every scenario against its reference --------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("seed", [0, 7])
def test_matches_reference(name: str, seed: int) -> None:
    """The output image and mask equal the independent reference, byte for byte."""
    image, mask = make_image(seed, 37, 53), ellipse_mask(37, 53)
    extra = extra_inputs(name, image, mask, seed=seed)
    out, out_mask, params = apply(name, image, mask, seed=seed, **extra)
    want, want_mask = reference(name, image, mask, params, **extra)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(out_mask, want_mask)
    assert out.dtype == np.uint8 and out.shape[2] == (4 if SCENARIOS[name].mode == "RGBA" else 3)
    check_binary_mask(out_mask, out.shape)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", ODD_SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_odd_sizes(name: str, shape: tuple[int, int]) -> None:
    """Thin, tiny and odd sizes work and still match the reference."""
    image, mask = make_image(3, *shape), single_pixel_mask(*shape)
    extra = extra_inputs(name, image, mask)
    out, out_mask, params = apply(name, image, mask, seed=3, **extra)
    want, want_mask = reference(name, image, mask, params, **extra)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(out_mask, want_mask)


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(NAMES),
    height=st.integers(2, 40),
    width=st.integers(2, 40),
    seed=st.integers(0, 2**32 - 1),
)
def test_matches_reference_on_random_masks(name: str, height: int, width: int, seed: int) -> None:
    """Random rectangles, touching borders or not, on noise images: still the reference (or a clear error)."""
    image, mask = random_image(seed, height, width), random_mask(seed, height, width)
    extra = extra_inputs(name, image, mask, seed=seed)
    try:
        out, out_mask, params = apply(name, image, mask, seed=seed, **extra)
    except ScenarioError as exc:
        assert mask.all() or name == "only_bg_t", exc
        return
    want, want_mask = reference(name, image, mask, params, **extra)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(out_mask, want_mask)


# --- what each family keeps --------------------------------------------------------------------


@pytest.mark.parametrize("name", [*BACKGROUND_ONLY, "transparent", "only_bg_t"])
def test_object_untouched_where_only_the_background_changes(name: str) -> None:
    """Object pixels are the source's (only_bg_t: outside the object's box)."""
    image, mask = make_image(1, 40, 60), ellipse_mask(40, 60)
    out, _, _ = run(name, image, mask)
    if name == "only_bg_t":
        x, y, w, h = cv2.boundingRect(mask)
        outside = np.ones(mask.shape, bool)
        outside[y : y + h, x : x + w] = False
        np.testing.assert_array_equal(out[outside], image[outside])
        return
    check_object_untouched(out, image, mask)


@pytest.mark.parametrize("name", OBJECT_ONLY)
def test_background_untouched_where_only_the_object_changes(name: str) -> None:
    """Background pixels are the source's."""
    image, mask = make_image(2, 40, 60), ellipse_mask(40, 60)
    out, _, _ = run(name, image, mask)
    check_background_untouched(out, image, mask)


@pytest.mark.parametrize("name", BACKGROUND_ONLY + OBJECT_ONLY)
def test_the_changed_part_does_change(name: str) -> None:
    """The scenario is not a no-op on the part it is about."""
    image, mask = make_image(4, 40, 60), ellipse_mask(40, 60)
    out, _, _ = run(name, image, mask)
    part = (mask != 0) if name in OBJECT_ONLY else (mask == 0)
    assert np.any(out[part] != image[part])


def test_blurs_are_the_authors_gaussian() -> None:
    """blur_bg / blur_obj change pixels to exactly GaussianBlur(img, (15, 15), 3)."""
    image, mask = make_image(5, 45, 70), ellipse_mask(45, 70)
    blurred = cv2.GaussianBlur(image, (15, 15), 3)
    bg, _, _ = apply("blur_bg", image, mask)
    obj, _, _ = apply("blur_obj", image, mask)
    np.testing.assert_array_equal(bg[mask == 0], blurred[mask == 0])
    np.testing.assert_array_equal(obj[mask != 0], blurred[mask != 0])
    np.testing.assert_array_equal(blurred, ref_blur(image))


def test_brightness_is_the_authors_saturating_add_weighted() -> None:
    """bright_bg / bright_fg change pixels to the saturating addWeighted(img, 1.5, blur 9x9/4, 0.9, 1.9)."""
    image, mask = make_image(6, 45, 70), ellipse_mask(45, 70)
    want = cv2.addWeighted(image, 1.5, cv2.GaussianBlur(image, (9, 9), 4), 0.9, 1.9)
    bg, _, _ = apply("bright_bg", image, mask)
    fg, _, _ = apply("bright_fg", image, mask)
    np.testing.assert_array_equal(bg[mask == 0], want[mask == 0])
    np.testing.assert_array_equal(fg[mask != 0], want[mask != 0])
    np.testing.assert_array_equal(want, ref_bright(image))
    exact = 1.5 * image + 0.9 * cv2.GaussianBlur(image, (9, 9), 4) + 1.9
    assert np.all(want[exact >= 255] == 255)  # saturates instead of wrapping
    assert np.abs(want.astype(float) - np.clip(exact, 0, 255)).max() <= 1.0


def test_seg_img_and_no_fg_black_out_exactly_one_part() -> None:
    """seg_img: background (0, 0, 0), object kept; no_fg: object (0, 0, 0), background kept."""
    image, mask = make_image(7, 30, 40), ellipse_mask(30, 40)
    seg, _, _ = apply("seg_img", image, mask)
    nofg, nofg_mask, _ = apply("no_fg", image, mask)
    assert not seg[mask == 0].any()
    check_object_untouched(seg, image, mask)
    assert not nofg[mask != 0].any()
    check_background_untouched(nofg, image, mask)
    np.testing.assert_array_equal(nofg_mask, mask)


def test_transparent_is_rgba_with_alpha_from_the_mask() -> None:
    """RGBA; alpha == mask; background (0, 0, 0, 0); object RGB the source's, alpha 255."""
    image, mask = make_image(8, 30, 40), ellipse_mask(30, 40)
    out, out_mask, _ = apply("transparent", image, mask)
    assert SCENARIOS["transparent"].mode == "RGBA"
    assert out.shape == (30, 40, 4)
    np.testing.assert_array_equal(out[..., 3], mask)
    assert not out[mask == 0].any()
    np.testing.assert_array_equal(out[..., :3][mask != 0], image[mask != 0])
    np.testing.assert_array_equal(out_mask, mask)


def test_color_grey_background_is_grey() -> None:
    """Background R == G == B (the source's luma); object kept."""
    image, mask = make_image(9, 30, 40), ellipse_mask(30, 40)
    out, _, _ = apply("color_grey", image, mask)
    bg = out[mask == 0]
    assert np.all(bg[:, 0] == bg[:, 1]) and np.all(bg[:, 1] == bg[:, 2])
    np.testing.assert_array_equal(bg[:, 0], cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[mask == 0])
    check_object_untouched(out, image, mask)


# --- colour: drawn hues ------------------------------------------------------------------------


def _in_bands(value: int, bands: list[tuple[int, int]]) -> bool:
    return any(lo <= value <= hi for lo, hi in bands)


@pytest.mark.parametrize("name", list(HUE_BANDS))
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_color_background_hue_in_band_and_s_v_kept(name: str, seed: int) -> None:
    """Background hue (OpenCV HSV of the result) is the drawn hue, inside the band; S and V kept.

    Checked on source pixels with S, V >= 128, where the uint8 HSV round trip keeps hue and V exactly
    and S to within 2 (a low S or V loses hue information in uint8).
    """
    image, mask = make_image(seed, 40, 60), ellipse_mask(40, 60)
    out, _, params = apply(name, image, mask, seed=seed)
    hue = params["hue"]
    assert _in_bands(hue, HUE_BANDS[name])
    src, res = hsv(image), hsv(out)
    vivid = (mask == 0) & (src[..., 1] >= 128) & (src[..., 2] >= 128)
    assert vivid.sum() > 100
    assert np.all(res[..., 0][vivid] == hue % 180)
    assert np.all(res[..., 2][vivid] == src[..., 2][vivid])
    assert np.abs(res[..., 1][vivid] - src[..., 1][vivid]).max() <= 2
    check_object_untouched(out, image, mask)


@pytest.mark.parametrize("name", list(HUE_BANDS))
@settings(deadline=None)
@given(seed=st.integers(0, 2**63 - 1))
def test_drawn_hue_is_in_band_for_any_seed(name: str, seed: int) -> None:
    """Every seed draws an integer hue inside the scenario's band."""
    hue = draw_params(name, seed)["hue"]
    assert isinstance(hue, int) and _in_bands(hue, HUE_BANDS[name])


def test_red_draws_cover_both_sub_bands_evenly() -> None:
    """Red draws uniformly from its 61 values (0..29, 150..180): the low band gets 30/61 of 1000 seeds (+-10%)."""
    hues = [draw_params("color_r", seed)["hue"] for seed in range(1000)]
    low = sum(h <= 29 for h in hues)
    assert 392 <= low <= 592
    assert set(hues) == set(range(30)) | set(range(150, 181))


@pytest.mark.parametrize("name", list(HUE_BANDS))
def test_every_hue_in_the_band_gets_drawn(name: str) -> None:
    """Over many seeds the draws reach every hue of the band and nothing else."""
    hues = {draw_params(name, seed)["hue"] for seed in range(2000)}
    assert hues == {h for lo, hi in HUE_BANDS[name] for h in range(lo, hi + 1)}


# --- rainbow -----------------------------------------------------------------------------------


@settings(deadline=None)
@given(seed=st.integers(0, 2**63 - 1))
def test_rainbow_shift_is_in_0_to_90(seed: int) -> None:
    """Every seed draws an integer shift in 0..90."""
    shift = draw_params("color_rainbow", seed)["shift"]
    assert isinstance(shift, int) and 0 <= shift <= 90


def test_rainbow_draws_cover_0_to_90() -> None:
    """Both ends of the range are reachable."""
    assert {draw_params("color_rainbow", seed)["shift"] for seed in range(3000)} == set(range(91))


def _hue_strip(hues: list[int]) -> np.ndarray:
    """A 1-row RGB image of fully saturated, full-value pixels of the given hues."""
    hsv_row = np.array([[(h, 255, 255) for h in hues]], np.uint8)
    return cv2.cvtColor(hsv_row, cv2.COLOR_HSV2RGB)


@pytest.mark.parametrize("shift", [0, 1, 20, 45, 89, 90])
def test_rainbow_rotates_every_hue_modulo_180(shift: int) -> None:
    """Background hue == (h + k) % 180 for every h in 0..179; the object column is kept."""
    hues = list(range(180))
    image = np.repeat(_hue_strip(hues), 2, axis=0)
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[:, 0] = 255
    out, _, _ = apply("color_rainbow", image, mask, params={"shift": shift})
    got = hsv(out)[1, 1:, 0]
    np.testing.assert_array_equal(got, [(h + shift) % 180 for h in hues[1:]])
    check_object_untouched(out, image, mask)


@pytest.mark.parametrize(("hue", "shift", "want"), [(170, 20, 10), (170, 90, 80), (179, 90, 89), (166, 90, 76)])
def test_rainbow_wraps_at_180_not_at_256(hue: int, shift: int, want: int) -> None:
    """The authors' uint8 `(h + k) % 180` wraps at 256 first (170 + 90 -> 4); the fix gives 80."""
    image = np.repeat(_hue_strip([hue, hue]), 2, axis=0)
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[0, 0] = 255
    out, _, _ = apply("color_rainbow", image, mask, params={"shift": shift})
    got = int(hsv(out)[1, 1, 0])
    authors = (hue + shift) % 256 % 180  # uint8 addition, then % 180
    assert got == want
    if hue + shift >= 256:
        assert got != authors


# --- backgrounds from elsewhere ----------------------------------------------------------------


@pytest.mark.parametrize("photo_shape", [(50, 80), (23, 31), (40, 60)])
def test_rand_bg_is_the_saturating_sum_at_the_photo_size(photo_shape: tuple[int, int]) -> None:
    """Photo + stretched black-background object, clipped; output and mask (nearest, 0/255) at the photo size."""
    image, mask = make_image(10, 40, 60), ellipse_mask(40, 60)
    photo = random_image(11, *photo_shape)
    out, out_mask, _ = apply("rand_bg", image, mask, background=photo)
    height, width = photo_shape
    seg = np.where(mask[..., None] != 0, image, 0).astype(np.uint8)
    fg = cv2.resize(seg, (width, height), interpolation=cv2.INTER_LINEAR)
    want = np.clip(photo.astype(np.int64) + fg, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(out, want)
    assert out.shape == (height, width, 3)
    np.testing.assert_array_equal(out_mask, cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST))
    check_binary_mask(out_mask, out.shape)
    assert np.array_equal(out[fg.sum(axis=2) == 0], photo[fg.sum(axis=2) == 0])


def test_rand_bg_saturates_instead_of_wrapping() -> None:
    """A bright object on a bright photo gives 255, not a wrapped dark value."""
    image = np.full((4, 4, 3), 200, np.uint8)
    mask = np.full((4, 4), 255, np.uint8)
    mask[0, 0] = 0  # rand_bg needs some background (an all-object mask is refused)
    photo = np.full((4, 4, 3), 100, np.uint8)
    out, _, _ = apply("rand_bg", image, mask, background=photo)
    assert np.all(out[mask > 0] == 255)
    np.testing.assert_array_equal(out[0, 0], [100, 100, 100])


def test_ai_bg_is_the_generated_image_with_the_mask_resized() -> None:
    """Output == the generated image (a copy), mask resized (nearest) to its size."""
    image, mask = make_image(12, 40, 60), ellipse_mask(40, 60)
    generated = random_image(13, 64, 96)
    out, out_mask, _ = apply("ai_bg", image, mask, background=generated)
    np.testing.assert_array_equal(out, generated)
    assert not np.shares_memory(out, generated)
    np.testing.assert_array_equal(out_mask, cv2.resize(mask, (96, 64), interpolation=cv2.INTER_NEAREST))
    check_binary_mask(out_mask, out.shape)


# --- ImageNet-9 variants -----------------------------------------------------------------------


def _coordinate_image(height: int, width: int) -> np.ndarray:
    """An image whose pixel (y, x) is (y, x, 7): each pixel names where it came from."""
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([yy, xx, np.full_like(yy, 7)], axis=-1).astype(np.uint8)


@settings(max_examples=60, deadline=None)
@given(
    height=st.integers(2, 60),
    width=st.integers(2, 60),
    data=st.data(),
)
def test_only_bg_t_fills_the_box_from_outside_it(height: int, width: int, data: st.DataObject) -> None:
    """Every pixel of the object's box comes from outside the box, periodically; the rest is kept."""
    top = data.draw(st.integers(0, height - 1))
    bottom = data.draw(st.integers(top + 1, height))
    left = data.draw(st.integers(0, width - 1))
    right = data.draw(st.integers(left + 1, width))
    mask = np.zeros((height, width), np.uint8)
    mask[top:bottom, left:right] = 255
    mask[top, left + (right - left) // 2] = 255
    image = _coordinate_image(height, width)
    if top == 0 and left == 0 and bottom == height and right == width:
        with pytest.raises(ScenarioError):
            apply("only_bg_t", image, mask)
        return
    out, out_mask, _ = apply("only_bg_t", image, mask)
    np.testing.assert_array_equal(out_mask, mask)
    inside = np.zeros(mask.shape, bool)
    inside[top:bottom, left:right] = True
    np.testing.assert_array_equal(out[~inside], image[~inside])
    src_y, src_x = out[..., 0][inside].astype(int), out[..., 1][inside].astype(int)
    from_outside = ~((src_y >= top) & (src_y < bottom) & (src_x >= left) & (src_x < right))
    assert from_outside.all()
    assert not mask[src_y, src_x].any()
    np.testing.assert_array_equal(out, ref_tile(image, mask))


def test_only_bg_t_tiles_the_largest_strip() -> None:
    """A box near the left edge is filled from the (largest) strip to its right, tiled from the box's corner."""
    image = _coordinate_image(10, 20)
    mask = np.zeros((10, 20), np.uint8)
    mask[2:8, 1:9] = 255  # strips: above 2x20=40, below 2x20=40, left 10x1=10, right 10x11=110
    out, _, _ = apply("only_bg_t", image, mask)
    for i in range(6):
        for j in range(8):
            assert tuple(out[2 + i, 1 + j, :2]) == (i % 10, 9 + j % 11)


def test_only_bg_t_errors_when_the_box_covers_the_image() -> None:
    """Object pixels in two opposite corners leave no strip to tile: a clear ScenarioError."""
    image = make_image(14, 12, 16)
    mask = np.zeros((12, 16), np.uint8)
    mask[0, 0] = mask[-1, -1] = 255
    with pytest.raises(ScenarioError, match=r"only_bg_t: .*bounding box covers the whole image"):
        apply("only_bg_t", image, mask)


@pytest.mark.parametrize("name", ["mixed_same", "mixed_rand", "mixed_next"])
@pytest.mark.parametrize("other_shape", [(40, 60), (33, 71)])
def test_mixed_keeps_the_object_on_the_others_only_bg_t(name: str, other_shape: tuple[int, int]) -> None:
    """Object pixels are the source's exactly; background pixels are the other image's only_bg_t, resized."""
    image, mask = make_image(15, 40, 60), ellipse_mask(40, 60)
    other, other_mask = make_image(16, *other_shape), ellipse_mask(*other_shape, scale=0.5)
    out, out_mask, _ = apply(name, image, mask, background=other, background_mask=other_mask)
    check_object_untouched(out, image, mask)
    tiled, _, _ = apply("only_bg_t", other, other_mask)
    if other_shape != (40, 60):
        tiled = cv2.resize(tiled, (60, 40), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(out[mask == 0], tiled[mask == 0])
    np.testing.assert_array_equal(out_mask, mask)


@pytest.mark.parametrize("other_mask_kind", ["empty", "full", "corners"])
def test_mixed_rejects_an_unusable_other_mask(other_mask_kind: str) -> None:
    """The other image's mask must leave a background strip to tile."""
    image, mask = make_image(17, 20, 30), ellipse_mask(20, 30)
    other = make_image(18, 20, 30)
    other_mask = np.zeros((20, 30), np.uint8)
    if other_mask_kind == "full":
        other_mask[:] = 255
    elif other_mask_kind == "corners":
        other_mask[0, 0] = other_mask[-1, -1] = 255
    with pytest.raises(ScenarioError, match="mixed_same"):
        apply("mixed_same", image, mask, background=other, background_mask=other_mask)


# --- seeds and params --------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_bytes(name: str) -> None:
    """Same inputs and seed: identical bytes and equal params; params are JSON and reproduce the row."""
    image, mask = make_image(19, 30, 40), ellipse_mask(30, 40)
    first = run(name, image, mask, seed=12345)
    second = run(name, image, mask, seed=12345)
    assert first[0].tobytes() == second[0].tobytes()
    assert first[1].tobytes() == second[1].tobytes()
    assert first[2] == second[2]
    stored = json.loads(json.dumps(first[2]))
    assert stored == first[2] and stored["seed"] == 12345
    again = run(name, image, mask, seed=999, params=stored)
    assert again[0].tobytes() == first[0].tobytes()
    assert again[2] == stored


@pytest.mark.parametrize("name", DRAWING)
def test_different_seeds_draw_differently(name: str) -> None:
    """Seeds spread over the range, and a different draw gives a different image."""
    draws = {seed: draw_params(name, seed) for seed in range(100)}
    key = next(iter(SCENARIOS[name].ranges))
    assert len({d[key] for d in draws.values()}) >= 25
    image, mask = make_image(20, 30, 40), ellipse_mask(30, 40)
    a, b = next((s, t) for s in draws for t in draws if draws[s][key] != draws[t][key])
    assert run(name, image, mask, seed=a)[0].tobytes() != run(name, image, mask, seed=b)[0].tobytes()


@pytest.mark.parametrize("name", DRAWING)
def test_params_reproduce_without_drawing(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With `params=` nothing is drawn: the given values are used whatever the seed."""
    image, mask = make_image(21, 30, 40), ellipse_mask(30, 40)
    stored = draw_params(name, 5)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("drew parameters although params were given")

    monkeypatch.setattr(registry, "draw_params", refuse)
    out, _, params = apply(name, image, mask, seed=6, params=stored)
    monkeypatch.undo()
    assert params == stored
    assert out.tobytes() == apply(name, image, mask, seed=5)[0].tobytes()


def test_seed_none_records_draws_that_reproduce() -> None:
    """Without a seed the draw is fresh, but the recorded params still reproduce the image."""
    image, mask = make_image(22, 30, 40), ellipse_mask(30, 40)
    out, _, params = apply("color_g", image, mask)
    assert params["seed"] is None and 30 <= params["hue"] <= 89
    assert apply("color_g", image, mask, params=json.loads(json.dumps(params)))[0].tobytes() == out.tobytes()


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("color_r", {"seed": 0}, r"color_r: params lack the drawn value\(s\) \['hue'\]"),
        ("color_rainbow", {"hue": 3}, r"lack the drawn value\(s\) \['shift'\]"),
        ("color_r", {"hue": 40}, r"params\['hue'\] = 40 is outside 0..29 or 150..180"),
        ("color_g", {"hue": 5.0}, r"params\['hue'\] must be an integer"),
        ("color_b", {"hue": True}, r"params\['hue'\] must be an integer"),
        ("color_rainbow", {"shift": 91}, r"params\['shift'\] = 91 is outside 0..90"),
        ("color_rainbow", {"shift": -1}, r"outside 0..90"),
        ("blur_bg", [("seed", 1)], r"params must be a dict"),
    ],
)
def test_bad_params_name_what_is_wrong(name: str, params: object, match: str) -> None:
    """Stored params that cannot reproduce a row raise ScenarioError, not a TypeError from deep inside."""
    image, mask = make_image(23, 20, 30), ellipse_mask(20, 30)
    with pytest.raises(ScenarioError, match=match):
        apply(name, image, mask, params=params)  # type: ignore[arg-type]


def test_other_params_ride_along_without_reaching_the_recipe() -> None:
    """A stored row's extra keys (e.g. the builder's `source_note`) are kept and ignored."""
    image, mask = make_image(24, 20, 30), ellipse_mask(20, 30)
    stored = {"seed": 1, "hue": 100, "source_note": "converted CMYK JPEG to RGB", "_x": 1, "shift": 3}
    out, _, params = apply("color_b", image, mask, params=stored)
    assert params == stored
    assert out.tobytes() == apply("color_b", image, mask, params={"hue": 100})[0].tobytes()


def test_params_cannot_override_the_recipe() -> None:
    """The blur size and brightness weights are fixed: params naming them change nothing."""
    image, mask = make_image(25, 20, 30), ellipse_mask(20, 30)
    for name, fake in (("blur_bg", {"ksize": 3, "sigma": 0.5}), ("bright_fg", {"alpha": 1.0, "gamma": 0.0})):
        out = apply(name, image, mask, params={"seed": 0, **fake})[0]
        assert out.tobytes() == apply(name, image, mask, seed=0)[0].tobytes()


# --- purity ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_apply_is_pure(name: str) -> None:
    """Read-only inputs are left as they were, two calls agree, no output aliases an input."""
    image, mask = make_image(25, 30, 40), ellipse_mask(30, 40)
    check_pure(apply, name, image, mask, 3, **extra_inputs(name, image, mask))


@pytest.mark.parametrize("name", NAMES)
def test_non_contiguous_inputs_give_the_same_result(name: str) -> None:
    """A flipped view, a Fortran-ordered copy and a contiguous copy of the same pixels agree."""
    base, mask = make_image(26, 30, 40), ellipse_mask(30, 40)
    view = base[:, ::-1]
    extra = extra_inputs(name, base, mask)
    want = apply(name, np.ascontiguousarray(view), mask, seed=1, **extra)
    for image in (view, np.asfortranarray(view)):
        got = apply(name, image, np.asfortranarray(mask), seed=1, **extra)
        assert got[0].flags.c_contiguous and got[1].flags.c_contiguous
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


# --- odd masks and bad inputs ------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(20, 30), (1, 1)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_empty_mask(name: str, shape: tuple[int, int]) -> None:
    """An empty mask is a clear error unless the scenario does not need an object."""
    image, mask = make_image(27, *shape), np.zeros(shape, np.uint8)
    if name in DEFINED_EMPTY:
        out, out_mask, params = run(name, image, mask)
        want, want_mask = reference(name, image, mask, params, **extra_inputs(name, image, mask))
        np.testing.assert_array_equal(out, want)
        np.testing.assert_array_equal(out_mask, want_mask)
    else:
        with pytest.raises(ScenarioError, match=f"{name} is undefined for an empty mask"):
            run(name, image, mask)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(20, 30), (1, 1)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_all_object_mask(name: str, shape: tuple[int, int]) -> None:
    """An all-object mask is a clear error where the scenario changes the background, else works."""
    image, mask = make_image(28, *shape), np.full(shape, 255, np.uint8)
    if name in DEFINED_ALL_OBJECT:
        extra = extra_inputs(name, image, mask)
        out, out_mask, params = run(name, image, mask)
        want, want_mask = reference(name, image, mask, params, **extra)
        np.testing.assert_array_equal(out, want)
        np.testing.assert_array_equal(out_mask, want_mask)
    else:
        with pytest.raises(ScenarioError, match=f"{name} is undefined for an all-object mask"):
            run(name, image, mask)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", ["ones", "seventeen", "bool", "int64", "float", "mixed"])
def test_masks_are_normalised_to_0_255(name: str, kind: str) -> None:
    """Any nonzero value marks the object: masks of 1, 17, bool, int64, float give the 0/255 result."""
    image, mask = make_image(29, 20, 30), ellipse_mask(20, 30)
    on = mask != 0
    odd = {
        "ones": on.astype(np.uint8),
        "seventeen": (on * 17).astype(np.uint8),
        "bool": on,
        "int64": on.astype(np.int64) * 1000,
        "float": on.astype(np.float32) * 0.5,
        "mixed": np.where(on, np.arange(on.size).reshape(on.shape) % 254 + 1, 0).astype(np.uint8),
    }[kind]
    extra = extra_inputs(name, image, mask)
    want = apply(name, image, mask, seed=2, **extra)
    got = apply(name, image, odd, seed=2, **extra)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    check_binary_mask(got[1], got[0].shape)


def test_odd_background_mask_is_normalised() -> None:
    """The other image's mask is normalised like the source's."""
    image, mask = make_image(30, 20, 30), ellipse_mask(20, 30)
    other, other_mask = make_image(31, 20, 30), ellipse_mask(20, 30, scale=0.4)
    want = apply("mixed_rand", image, mask, background=other, background_mask=other_mask)[0]
    odd = (other_mask > 0).astype(np.uint8) * 3
    got = apply("mixed_rand", image, mask, background=other, background_mask=odd)[0]
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    ("image", "mask", "match"),
    [
        (np.zeros((4, 5, 3), np.float64), np.zeros((4, 5), np.uint8), r"image must be an RGB uint8 array.*float64"),
        (np.zeros((4, 5), np.uint8), np.zeros((4, 5), np.uint8), r"image must be .*\(H, W, 3\), got uint8 \(4, 5\)"),
        (np.zeros((4, 5, 4), np.uint8), np.zeros((4, 5), np.uint8), r"got uint8 \(4, 5, 4\)"),
        ([[0]], np.zeros((4, 5), np.uint8), r"image must be an RGB uint8 array.*list"),
        (np.zeros((0, 5, 3), np.uint8), np.zeros((0, 5), np.uint8), r"image has no pixels"),
        (np.zeros((4, 5, 3), np.uint8), np.zeros((4, 5, 3), np.uint8), r"mask must be a 2-D array, got .*\(4, 5, 3\)"),
        (np.zeros((4, 5, 3), np.uint8), np.zeros((5, 4), np.uint8), r"mask is 5x4 \(HxW\), its image is 4x5"),
        (np.zeros((4, 5, 3), np.uint8), None, r"mask must be a 2-D array"),
    ],
)
def test_bad_arrays_name_what_is_wrong(image: object, mask: object, match: str) -> None:
    """Wrong dtype, shape, channel count or mask size: a ScenarioError saying which."""
    with pytest.raises(ScenarioError, match=match):
        apply("blur_bg", image, mask)  # type: ignore[arg-type]


def test_scenario_error_is_a_value_error() -> None:
    """Callers catching ValueError (the builder) also catch scenario errors."""
    assert issubclass(ScenarioError, ValueError)


def test_unknown_scenario_lists_the_known_ones() -> None:
    """A typo names the bad name and every valid one."""
    with pytest.raises(ScenarioError, match=r"unknown scenario 'blur_background'; known: original, blur_bg"):
        apply("blur_background", make_image(0, 4, 4), ellipse_mask(4, 4))


@pytest.mark.parametrize("name", ["rand_bg", "ai_bg", "mixed_same"])
def test_missing_background_is_named(name: str) -> None:
    """Scenarios that need another image say so."""
    with pytest.raises(ScenarioError, match=rf"{name} needs `background=`"):
        apply(name, make_image(0, 8, 8), ellipse_mask(8, 8))


def test_missing_or_bad_background_inputs_are_named() -> None:
    """A mixed_* call without the other mask, with a wrong-size one, or a non-RGB background."""
    image, mask = make_image(0, 8, 8), ellipse_mask(8, 8)
    other = make_image(1, 10, 12)
    with pytest.raises(ScenarioError, match="needs `background_mask=`"):
        apply("mixed_next", image, mask, background=other)
    with pytest.raises(ScenarioError, match=r"background_mask is 8x8 \(HxW\), its image is 10x12"):
        apply("mixed_next", image, mask, background=other, background_mask=mask)
    with pytest.raises(ScenarioError, match=r"background must be an RGB uint8 array.*\(10, 12, 4\)"):
        apply("rand_bg", image, mask, background=np.zeros((10, 12, 4), np.uint8))


def test_under_sharing_each_mask_is_checked_once_and_results_are_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """A build runs every config of a source under `sharing()`: its mask (and a partner's) is checked once, not
    per config, and every result is the bytes `apply` gives alone; a mask with other values is still normalised."""
    from ximagenet12.scenarios import functional

    image, mask = make_image(5, 30, 40), ellipse_mask(30, 40)
    odd = np.where(mask > 0, 1, 0).astype(np.uint8)  # 0/1: normalised to 0/255 by every call
    alone = {(name, m.max()): run(name, image, m, seed=3) for name in NAMES for m in (mask, odd)}
    checks = []
    real = registry._check_mask
    monkeypatch.setattr(registry, "_check_mask", lambda m, shape, what: checks.append(what) or real(m, shape, what))
    with functional.sharing():
        for name in NAMES:
            for m in (mask, odd):
                got = run(name, image, m, seed=3)
                want = alone[(name, m.max())]
                for g, w in zip(got[:2], want[:2], strict=True):
                    np.testing.assert_array_equal(g, w, err_msg=name)
                assert got[2] == want[2]
    assert checks.count("mask") == 2  # one per mask object, for all the configs
    paired = [n for n in NAMES if SCENARIOS[n].extra is not None and "background_mask" in SCENARIOS[n].extra.arguments]
    assert checks.count("background_mask") == 2 * len(paired) > 0  # each run brings a new partner mask


@pytest.mark.parametrize("name", NAMES)
def test_copy_false_gives_the_same_pixels_and_may_return_the_inputs(name: str) -> None:
    """`copy=False` (what a build uses) changes no value; a scenario that keeps the mask hands back the very mask."""
    image, mask = make_image(9, 20, 28), ellipse_mask(20, 28)
    extra = extra_inputs(name, image, mask)
    copied = apply(name, image, mask, seed=4, **extra)
    shared = apply(name, image, mask, seed=4, copy=False, **extra)
    for got, want in zip(shared[:2], copied[:2], strict=True):
        np.testing.assert_array_equal(got, want)
    assert shared[2] == copied[2]
    assert not np.shares_memory(copied[1], mask)
    keeps_mask = np.array_equal(copied[1], mask)
    assert (shared[1] is mask) == keeps_mask
