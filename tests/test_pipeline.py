from __future__ import annotations

import numpy as np
import pytest

from glitchzap.errors import InvalidParameters
from glitchzap.pipeline import apply_effects, preview_size, resize_for_preview


@pytest.mark.parametrize(("quality", "longest"), [("fast", 300), ("balanced", 500), ("high", 800)])
def test_preview_sizes_keep_aspect_and_never_upscale(quality: str, longest: int) -> None:
    image = np.zeros((1200, 1600, 3), np.uint8)
    small = resize_for_preview(image, quality)
    assert max(small.shape[:2]) == longest
    assert abs(small.shape[1] / small.shape[0] - 4 / 3) < 0.01
    tiny = np.zeros((100, 120, 3), np.uint8)
    assert resize_for_preview(tiny, quality) is tiny
    assert preview_size(image.shape, "full") == (1600, 1200)


def test_unknown_quality() -> None:
    with pytest.raises(InvalidParameters, match="ultra"):
        resize_for_preview(np.zeros((10, 10, 3), np.uint8), "ultra")


def test_preview_looks_like_the_downscaled_export(astronaut: np.ndarray) -> None:
    effects = {"blur": 6, "motion": {"length": 30, "angle": 20}, "shake": {"offset": 8}}
    export = apply_effects(astronaut, effects, seed=3)
    small = resize_for_preview(astronaut, "fast")
    preview = apply_effects(small, effects, seed=3, scale=small.shape[1] / astronaut.shape[1])
    export_small = resize_for_preview(export, "fast").astype(float)
    unscaled = apply_effects(small, effects, seed=3).astype(float)
    error_scaled = np.abs(preview.astype(float) - export_small).mean()
    error_unscaled = np.abs(unscaled - export_small).mean()
    assert error_scaled < 6
    assert error_scaled < error_unscaled / 2


def test_target_background_leaves_the_subject_unchanged(small_rgb: np.ndarray) -> None:
    mask = np.zeros(small_rgb.shape[:2], np.float32)
    mask[16:48, 24:72] = 1.0
    mask[16:48, 20:24] = 0.5  # a soft edge
    out = apply_effects(
        small_rgb, {"blur": 3, "noise": 0.3}, seed=1, mask=mask, target="background"
    )
    assert np.array_equal(out[mask == 1], small_rgb[mask == 1])
    assert not np.array_equal(out[mask == 0], small_rgb[mask == 0])
    fg = apply_effects(small_rgb, {"blur": 3}, seed=1, mask=mask, target="foreground")
    assert np.array_equal(fg[mask == 0], small_rgb[mask == 0])
    assert not np.array_equal(fg[mask == 1], small_rgb[mask == 1])


def test_target_needs_a_matching_mask(small_rgb: np.ndarray) -> None:
    with pytest.raises(InvalidParameters, match="mask"):
        apply_effects(small_rgb, {"blur": 2}, target="background")
    with pytest.raises(InvalidParameters, match="shape"):
        apply_effects(small_rgb, {"blur": 2}, target="background", mask=np.ones((5, 5)))
    with pytest.raises(InvalidParameters):
        apply_effects(small_rgb, {"blur": 2}, target="sideways")  # type: ignore[arg-type]


def test_uint8_mask_is_accepted(small_rgb: np.ndarray) -> None:
    mask = np.zeros(small_rgb.shape[:2], np.uint8)
    mask[:, 48:] = 255
    out = apply_effects(small_rgb, {"blur": 3}, mask=mask, target="foreground")
    assert np.array_equal(out[:, :48], small_rgb[:, :48])


def test_rejects_non_uint8_images() -> None:
    with pytest.raises(InvalidParameters):
        apply_effects(np.zeros((4, 4, 3), np.float32), {"blur": 1})


@pytest.mark.parametrize(
    "effects",
    [
        {"slices": {"count": 12, "max_offset": 90, "band_height": 30, "channel_offset": 5}},
        {"channel_shift": {"red_x": 7, "red_y": -3, "blue_x": -7, "wrap": True}},
        {"scanlines": {"darkness": 0.55, "period": 3, "thickness": 1, "jitter": 2}},
        {"pixel_sort": {"amount": 0.8, "low": 0.2, "high": 0.85, "angle": 15}},
        {  # the glitch-this look
            "slices": {"count": 10, "max_offset": 128, "band_height": 64},
            "channel_shift": {"red_x": 10, "red_y": 10},
            "scanlines": {"darkness": 1.0, "period": 2},
        },
    ],
)
def test_uint8_fast_path_gives_the_float_paths_bytes(effects: dict, astronaut: np.ndarray) -> None:
    """Chains of pixel moves and one rounded multiply skip the float32 round trip: same bytes."""
    from glitchzap.effects import EFFECTS, parse_effects

    chain = parse_effects(effects)
    assert all(e.uint8_exact is not None and e.uint8_exact(p, 1.0) for e, p in chain)
    fast = apply_effects(astronaut, effects, seed=5)
    slow = apply_effects(astronaut, effects, seed=5, uint8_fast_path=False)
    assert np.array_equal(fast, slow)
    assert not np.array_equal(fast, astronaut)
    small = resize_for_preview(astronaut, "fast")  # fractional preview shifts: the float path
    scale = small.shape[1] / astronaut.shape[1]
    assert np.array_equal(
        apply_effects(small, effects, seed=5, scale=scale),
        apply_effects(small, effects, seed=5, scale=scale, uint8_fast_path=False),
    )
    assert EFFECTS["blur"].uint8_exact is None  # arithmetic effects always take float32
