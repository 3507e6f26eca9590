"""`glitchzap.gif`: GIF encoding of real photo animations, read back with Pillow."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from animated_photos import panned_frames, photo, read_frames
from glitchzap.animation import Animation
from glitchzap.gif import encode_gif
from glitchzap.io import encode_animation


def error(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of the colour channels, in levels."""
    return float(np.abs(a[..., :3].astype(int) - b[..., :3].astype(int)).mean())


def test_alpha_below_half_is_transparent_and_holes_stay_holes() -> None:
    frames = panned_frames(5, alpha=True)  # a disc of the photo that moves over a hole
    frames[0][:10, :, 3] = 127  # just below the cut: transparent
    frames[1][:10, :, 3] = 128  # at the cut: opaque
    decoded, _, _ = read_frames(encode_gif(Animation(frames, (60,) * 5)))
    assert len(decoded) == 5
    for source, frame in zip(frames, decoded, strict=True):
        # Exactly the pixels under half alpha are transparent, in every frame: what the disc
        # covered in the frame before is cleared, not left showing through.
        assert np.array_equal(frame[..., 3] == 0, source[..., 3] < 128)
        assert set(np.unique(frame[..., 3])) <= {0, 255}
        visible = source[..., 3] >= 128
        assert error(frame[visible], source[visible]) < 6


def test_a_photo_keeps_its_colours_without_dither_dots() -> None:
    frames = panned_frames(4, name="astronaut")
    decoded, _, _ = read_frames(encode_gif(Animation(frames, (80,) * 4)))
    for source, frame in zip(frames, decoded, strict=True):
        assert error(frame, source) < 5
        assert len(np.unique(frame.reshape(-1, 4), axis=0)) <= 255  # one shared palette
    # No dithering: a flat area (the photo's own flat colour, repeated) stays one colour.
    flat = np.empty_like(frames[0])
    flat[:] = frames[0][40, 60]
    decoded, _, _ = read_frames(encode_gif(Animation([flat, frames[1]], (80, 80))))
    assert len(np.unique(decoded[0].reshape(-1, 4), axis=0)) == 1


def test_colours_that_fit_one_palette_round_trip_exactly() -> None:
    base = Image.fromarray(photo("coffee", 180)).quantize(200, dither=Image.Dither.NONE)
    paletted = np.array(base.convert("RGB"))
    frames = [
        np.ascontiguousarray(paletted[i * 3 : i * 3 + 96, i * 9 : i * 9 + 128]) for i in range(6)
    ]
    assert len(np.unique(np.concatenate(frames).reshape(-1, 3), axis=0)) <= 200
    decoded, _, _ = read_frames(encode_gif(Animation(frames, (50,) * 6)))
    for source, frame in zip(frames, decoded, strict=True):
        assert np.array_equal(frame[..., :3], source)


def test_unchanged_pixels_cost_next_to_nothing_and_stay_identical() -> None:
    first = photo("astronaut", 200)
    moved = first.copy()
    moved[20:50, 30:70] = photo("coffee", 200)[20:50, 30:70]  # a small part changes
    still = len(encode_gif(Animation.still(first)))
    both = encode_gif(Animation([first, moved], (100, 100)))
    assert len(both) < 1.3 * still  # the second frame stores only what changed
    decoded, _, _ = read_frames(both)
    outside = np.ones(first.shape[:2], bool)
    outside[20:50, 30:70] = False
    assert np.array_equal(decoded[0][outside], decoded[1][outside])
    assert error(decoded[1][~outside], moved[~outside]) < 8


def test_quality_95_gives_each_frame_its_own_palette() -> None:
    frames = [photo(name, 128, min_height=96) for name in ("astronaut", "coffee")]
    frames = [np.ascontiguousarray(f[:96, :128]) for f in frames]
    shared, _, _ = read_frames(encode_gif(Animation(frames, (100, 100)), quality=90))
    own, _, _ = read_frames(encode_gif(Animation(frames, (100, 100)), quality=95))
    for source, a, b in zip(frames, shared, own, strict=True):
        assert error(b, source) < error(a, source)


@pytest.mark.parametrize(
    ("durations", "written"), [((33, 67, 5), [30, 70, 10]), ((100, 250, 1000), [100, 250, 1000])]
)
def test_durations_in_ten_millisecond_steps(durations: tuple[int, ...], written: list[int]) -> None:
    frames = panned_frames(3)
    assert read_frames(encode_gif(Animation(frames, durations)))[1] == written


def test_loop_count_or_once() -> None:
    frames = panned_frames(2)
    assert read_frames(encode_gif(Animation(frames, (100, 100), loop=0)))[2] == 0
    assert read_frames(encode_gif(Animation(frames, (100, 100), loop=3)))[2] == 3
    assert read_frames(encode_gif(Animation(frames, (100, 100), loop=None)))[2] is None


def test_grey_frames_such_as_masks_encode() -> None:
    masks = [frame[..., 1] for frame in panned_frames(3)]
    decoded, _, _ = read_frames(encode_animation(Animation(masks, (100,) * 3), "gif"))
    for mask, frame in zip(masks, decoded, strict=True):
        assert error(frame, np.dstack([mask] * 3)) < 3
        assert np.array_equal(frame[..., 0], frame[..., 2])  # still grey
