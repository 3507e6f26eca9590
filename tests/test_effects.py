"""Every registered effect against the properties all effects must keep."""

from __future__ import annotations

import numpy as np
import pytest

from glitchzap.effects import EFFECTS, effects_schema, parse_effects
from glitchzap.errors import InvalidParameters, UnknownEffect
from glitchzap.pipeline import apply_effects

# One row per registered effect: parameters that visibly change an image.
EFFECT_TABLE = {
    "noise": {"amount": 0.3},
    "blur": {"radius": 2.5},
    "shake": {"offset": 5, "copies": 3},
    "motion": {"length": 9, "angle": 30},
    # Red alone: two channels moved apart make real magenta fringes, which the RGBA test
    # would take for hidden magenta (tests/test_effects_channel_shift.py moves all three).
    "channel_shift": {"red_x": 8, "red_y": -3},
    "chromatic": {"strength": 0.02},
    "wave": {"amplitude": 6, "wavelength": 40},
    "slices": {"count": 8, "max_offset": 30, "band_height": 8},
    "pixel_sort": {"amount": 1.0},
    "posterize": {"crush": 5},
    "quantize": {"colors": 8},
    "scanlines": {"darkness": 0.5, "period": 4, "thickness": 2, "jitter": 3},
    "vhs": {"strength": 0.8},
    "jpeg": {"amount": 0.3},
}
ZERO_TABLE = {
    "noise": {"amount": 0},
    "blur": {"radius": 0},
    "shake": {"offset": 0},
    "motion": {"length": 0},
    "channel_shift": {"red_x": 0},
    "chromatic": {"strength": 0},
    "wave": {"amplitude": 0},
    "slices": {"count": 0},
    "pixel_sort": {"amount": 0},
    "posterize": {"crush": 0},
    "quantize": {"colors": 0},
    "scanlines": {"darkness": 0},
    "vhs": {"strength": 0},
    "jpeg": {"amount": 0},
}


def test_every_effect_has_a_table_row() -> None:
    assert set(EFFECT_TABLE) == set(EFFECTS) == set(ZERO_TABLE)


@pytest.mark.parametrize("name", list(EFFECT_TABLE))
@pytest.mark.parametrize("channels", [3, 4])
def test_shape_dtype_and_change(
    name: str, channels: int, small_rgb: np.ndarray, small_rgba: np.ndarray
) -> None:
    image = small_rgb if channels == 3 else small_rgba
    out = apply_effects(image, {name: EFFECT_TABLE[name]}, seed=7)
    assert out.shape == image.shape
    assert out.dtype == np.uint8
    assert not np.array_equal(out, image)
    assert out is not image


@pytest.mark.parametrize("name", list(EFFECT_TABLE))
def test_deterministic_for_a_seed(name: str, small_rgb: np.ndarray) -> None:
    first = apply_effects(small_rgb, {name: EFFECT_TABLE[name]}, seed=42)
    again = apply_effects(small_rgb, {name: EFFECT_TABLE[name]}, seed=42)
    assert np.array_equal(first, again)


@pytest.mark.parametrize("name", ["noise", "shake"])
def test_random_effects_depend_on_the_seed(name: str, small_rgb: np.ndarray) -> None:
    one = apply_effects(small_rgb, {name: EFFECT_TABLE[name]}, seed=1)
    two = apply_effects(small_rgb, {name: EFFECT_TABLE[name]}, seed=2)
    assert not np.array_equal(one, two)


@pytest.mark.parametrize("name", list(ZERO_TABLE))
def test_zero_is_bit_exact_identity(
    name: str, small_rgb: np.ndarray, small_rgba: np.ndarray
) -> None:
    for image in (small_rgb, small_rgba):
        assert np.array_equal(apply_effects(image, {name: ZERO_TABLE[name]}, seed=3), image)


def test_zero_effects_beside_active_ones_change_nothing(small_rgb: np.ndarray) -> None:
    active = apply_effects(small_rgb, {"blur": 2}, seed=3)
    zeros = {name: params for name, params in ZERO_TABLE.items() if name != "blur"}
    mixed = apply_effects(small_rgb, {**zeros, "blur": 2}, seed=3)
    assert np.array_equal(active, mixed)


def test_order_independent(small_rgb: np.ndarray) -> None:
    forward = apply_effects(small_rgb, dict(EFFECT_TABLE), seed=5)
    backward = apply_effects(small_rgb, dict(reversed(list(EFFECT_TABLE.items()))), seed=5)
    assert np.array_equal(forward, backward)
    names = [effect.name for effect, _ in parse_effects(dict(reversed(list(EFFECT_TABLE.items()))))]
    assert names == list(EFFECTS)


def test_fixed_order_is_noise_blur_shake_motion(small_rgb: np.ndarray) -> None:
    # Noise first, then blur: the blur smooths the grain, so the result is far smoother than
    # noise applied after a blur would be.
    chained = apply_effects(small_rgb, {"noise": 0.5, "blur": 3}, seed=9).astype(float)
    blurred_only = apply_effects(small_rgb, {"blur": 3}, seed=9).astype(float)
    noisy_after = apply_effects(
        apply_effects(small_rgb, {"blur": 3}, seed=9), {"noise": 0.5}, seed=9
    )
    assert (
        np.abs(chained - blurred_only).std()
        < np.abs(noisy_after.astype(float) - blurred_only).std() / 3
    )


def test_bare_number_sets_the_primary_parameter(small_rgb: np.ndarray) -> None:
    assert np.array_equal(
        apply_effects(small_rgb, {"blur": 2}, seed=1),
        apply_effects(small_rgb, {"blur": {"radius": 2}}, seed=1),
    )


@pytest.mark.parametrize(
    "effects",
    [
        {"blur": -1},
        {"noise": {"amount": 2}},
        {"motion": {"length": 5, "angle": 360}},
        {"shake": {"offset": 3, "copies": 0}},
        {"blur": {"radius": float("nan")}},
        {"blur": {"radius": float("inf")}},
        {"blur": {"sigma": 3}},
        {"blur": "lots"},
    ],
)
def test_invalid_parameters_are_refused(effects: dict, small_rgb: np.ndarray) -> None:
    with pytest.raises(InvalidParameters):
        apply_effects(small_rgb, effects)


def test_unknown_effect_names_it(small_rgb: np.ndarray) -> None:
    with pytest.raises(UnknownEffect, match="sparkle"):
        apply_effects(small_rgb, {"sparkle": 1})


def test_blur_matches_a_reference_gaussian(small_rgb: np.ndarray) -> None:
    from scipy.ndimage import gaussian_filter

    image = np.ascontiguousarray(np.tile(small_rgb, (2, 2, 1)))
    for radius in (1.5, 6.0):  # the direct path and the pyramid path
        ours = apply_effects(image, {"blur": radius}).astype(float)
        reference = gaussian_filter(image.astype(float), sigma=(radius, radius, 0), mode="reflect")
        inner = (slice(12, -12), slice(12, -12))
        assert np.abs(ours[inner] - reference[inner]).mean() < 1.5


def test_motion_blur_smears_along_its_angle() -> None:
    image = np.zeros((61, 61, 3), np.uint8)
    image[30, 30] = 255
    horizontal = apply_effects(image, {"motion": {"length": 21, "angle": 0}})[..., 0]
    vertical = apply_effects(image, {"motion": {"length": 21, "angle": 90}})[..., 0]
    assert horizontal[30, 20:41].min() > 0 and horizontal[20, 30] == 0
    assert vertical[20:41, 30].min() > 0 and vertical[30, 20] == 0
    long_diagonal = apply_effects(image, {"motion": {"length": 41, "angle": 45}})[..., 0].astype(
        int
    )
    ys, xs = np.nonzero(long_diagonal)
    # The smear lies along y = -x through the centre (image rows grow downwards).
    assert np.abs((ys - 30) + (xs - 30)).max() <= 2
    assert xs.max() - xs.min() >= 26


def test_noise_keeps_the_mean_and_adds_the_documented_spread() -> None:
    flat = np.full((200, 200, 3), 128, np.uint8)
    out = apply_effects(flat, {"noise": 0.2}, seed=0).astype(float)
    assert abs(out.mean() - 128) < 0.5
    assert 17 < out.std() < 23  # amount 0.2 -> std 20 levels
    mono = apply_effects(flat, {"noise": {"amount": 0.2, "monochrome": True}}, seed=0)
    assert np.array_equal(mono[..., 0], mono[..., 1]) and np.array_equal(mono[..., 1], mono[..., 2])


def test_alpha_is_not_noised_and_transparent_pixels_do_not_darken_edges(
    small_rgba: np.ndarray,
) -> None:
    noised = apply_effects(small_rgba, {"noise": 0.5}, seed=1)
    assert np.array_equal(noised[..., 3], small_rgba[..., 3])
    white = np.zeros((40, 40, 4), np.uint8)
    white[:, 20:] = (255, 255, 255, 255)  # opaque white beside fully transparent black
    blurred = apply_effects(white, {"blur": 3})
    visible = blurred[..., 3] > 10
    assert blurred[..., :3][visible].min() >= 250  # premultiplied: no dark fringe


def test_schema_lists_every_effect_with_ranges() -> None:
    schema = effects_schema()
    assert list(schema) == list(EFFECTS)
    assert schema["blur"]["schema"]["properties"]["radius"]["minimum"] == 0
