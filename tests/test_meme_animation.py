"""Animated memes (`make_meme_animation`) on animations made from scikit-image photos:
captions at one place on every frame, timing and transparency kept, old text erased only on
the frames that show it."""

from __future__ import annotations

import numpy as np
import pytest

import glitchzap.meme.captions as captions_module
from glitchzap.animation import Animation
from glitchzap.io import encode_animation, load_animation
from glitchzap.meme.compose import (
    make_meme,
    make_meme_animation,
    make_meme_animation_result,
    read_animation_text,
    read_image_text,
)
from glitchzap.runtime import Runtime
from glitchzap.types import TextBox
from meme_animations import captioned_on, panning, photo, region_changes
from meme_variants import add_captions, add_sign

CAPTIONS = ["one does not simply", "animate a meme"]


def test_captions_on_every_frame_at_the_same_place(runtime: Runtime) -> None:
    source = panning(photo("chelsea"), 8)
    out = make_meme_animation(source, CAPTIONS, erase="never", runtime=runtime)
    assert len(out) == len(source)
    for frame, shot in zip(out.frames, source.frames, strict=True):
        # Each frame is exactly the still meme of that frame: same layout, same pixels.
        assert np.array_equal(frame, make_meme(shot, CAPTIONS, erase="never", runtime=runtime))
    # Where the photo moves but the output stays the same on every frame, the captions are.
    stack = np.stack(out.frames).astype(int)
    still = np.all(stack == stack[:1], axis=(0, 3))
    moving = np.any(np.stack(source.frames) != source.frames[0], axis=(0, 3))
    caption = still & moving
    height = caption.shape[0]
    assert caption[: height // 5].mean() > 0.05 and caption[-height // 5 :].mean() > 0.05
    assert not caption[height // 3 : 2 * height // 3].any()


def test_the_layout_is_computed_once(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    fitted = []
    wrap = captions_module.wrap

    def counting(*args: object, **kwargs: object) -> str:
        fitted.append(args[2])
        return wrap(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(captions_module, "wrap", counting)
    make_meme_animation(panning(photo(), 12), CAPTIONS, erase="never", runtime=runtime)
    assert len(fitted) == len(CAPTIONS)  # not once per frame


@pytest.mark.parametrize("loop", [0, 3, None])
def test_frame_count_durations_and_loop_are_kept(runtime: Runtime, loop: int | None) -> None:
    source = panning(photo("coffee"), 6, loop=loop)
    out = make_meme_animation(source, CAPTIONS, erase="never", runtime=runtime)
    assert (len(out), out.durations, out.loop) == (6, source.durations, loop)
    decoded = load_animation(encode_animation(out, "gif"))
    assert (len(decoded), decoded.durations) == (6, source.durations)


def test_transparency_is_kept(runtime: Runtime) -> None:
    rgb = photo("astronaut", 240)
    height, width = rgb.shape[:2]
    yy, xx = np.mgrid[:height, :width]
    alpha = np.where((yy - height / 2) ** 2 + (xx - width / 2) ** 2 < (height / 3) ** 2, 255, 0)
    rgba = np.dstack([rgb, alpha.astype(np.uint8)])
    source = panning(rgba, 5, step=0)  # the disc stays; the durations still differ
    out = make_meme_animation(source, CAPTIONS, erase="never", runtime=runtime)
    middle = slice(height // 3, 2 * height // 3)
    for frame, shot in zip(out.frames, source.frames, strict=True):
        assert frame.shape[2] == 4
        assert np.array_equal(frame[middle, :, 3], shot[middle, :, 3])  # no caption there
        assert (frame[: height // 5, :, 3] == 255).any()  # the caption is opaque
        assert (frame[: height // 5, :, 3] == 0).any()  # beside it, still transparent
    for fmt in ("gif", "webp"):
        decoded = load_animation(encode_animation(out, fmt))
        assert decoded.shape[2] == 4 and (decoded.frames[0][..., 3] == 0).any()


def test_one_frame_is_the_still_meme(runtime: Runtime) -> None:
    image = photo("rocket")
    out = make_meme_animation(Animation.still(image), CAPTIONS, erase="never", runtime=runtime)
    assert len(out) == 1
    assert np.array_equal(out.frames[0], make_meme(image, CAPTIONS, erase="never", runtime=runtime))


def test_box_timing_bounds_the_frames_a_caption_shows_on(runtime: Runtime) -> None:
    """memegen's `start` and `stop`: frame i of n shows the caption when start <= i/n < stop."""
    source = panning(photo(), 8)
    boxes = [TextBox(anchor_y=0.0, scale_y=0.2, stop=0.5), TextBox(anchor_y=0.8, scale_y=0.2)]
    out = make_meme_animation(source, CAPTIONS, boxes=boxes, erase="never", runtime=runtime)
    height = source.shape[0]
    top = region_changes(out.frames, source.frames, slice(0, height // 5))
    bottom = region_changes(out.frames, source.frames, slice(-height // 5, None))
    assert all(change > 5 for change in top[:4]) and top[4:] == [0.0] * 4
    assert all(change > 5 for change in bottom)


@pytest.mark.slow
def test_old_text_is_erased_only_on_the_frames_that_show_it(runtime: Runtime) -> None:
    """A caption burnt into the middle half of the frames: those lose it, the others keep
    every pixel (nothing smeared where there was no text)."""
    clean = panning(photo("chelsea", 400), 16, step=4)
    burnt_frames = range(4, 12)
    burnt = [
        make_meme(frame, ["old caption here"], layout="top", erase="never", runtime=runtime)
        if i in burnt_frames
        else frame
        for i, frame in enumerate(clean.frames)
    ]
    source = Animation(burnt, clean.durations, clean.loop)
    result = make_meme_animation_result(source, ["", "new caption"], runtime=runtime)

    assert result.frames_erased == len(burnt_frames)
    assert [r.text.upper() for r in result.regions_erased] == ["OLD CAPTION HERE"]
    top = slice(0, source.shape[0] * 3 // 10)
    frames = zip(result.animation.frames, burnt, clean.frames, strict=True)
    for i, (out, before, original) in enumerate(frames):
        if i in burnt_frames:  # the old caption is gone: back near the clean frame
            restored = region_changes([out], [original], top)[0]
            assert restored < region_changes([before], [original], top)[0] / 3
        else:
            assert np.array_equal(out[top], before[top])
    for i in (5, 10):  # frames OCR did not read (it reads 0, 4, 8, 11 and 15)
        text = " ".join(r.text for r in read_image_text(result.animation.frames[i],
                                                        runtime=runtime).regions)  # fmt: skip
        assert "NEW CAPTION" in text.upper() and "OLD" not in text.upper()


@pytest.mark.slow
def test_an_animation_without_text_is_not_erased(runtime: Runtime) -> None:
    source = panning(photo("chelsea"), 6)
    result = make_meme_animation_result(source, [], erase="auto", runtime=runtime)
    assert result.regions_erased == [] and result.frames_erased == 0
    assert all(a is b for a, b in zip(result.animation.frames, source.frames, strict=True))


@pytest.mark.slow
def test_text_read_on_an_animation_names_its_frames(runtime: Runtime) -> None:
    """Two captions: one on the first frames, one on the last; each is one region with the
    sampled frames it was read on."""
    clean = panning(photo("chelsea", 400), 16, step=4)
    source = captioned_on(clean, range(0, 6), "early words", runtime)
    frames = [
        make_meme(frame, ["", "late words"], erase="never", runtime=runtime) if i >= 10 else frame
        for i, frame in enumerate(source.frames)
    ]
    found = read_animation_text(Animation(frames, clean.durations), runtime=runtime)
    assert (found.frame_count, found.sampled) == (16, (0, 4, 8, 11, 15))
    read_on = dict(zip((r.text.upper() for r in found.regions), found.frames, strict=True))
    assert read_on == {"EARLY WORDS": (0, 4), "LATE WORDS": (11, 15)}
    assert not found.cached
    assert read_animation_text(Animation(frames, clean.durations), runtime=runtime).cached


@pytest.mark.slow
def test_a_shop_sign_in_an_animation_is_kept_while_its_captions_go(runtime: Runtime) -> None:
    clean = panning(photo("astronaut", 400), 4, step=4)
    rng = np.random.default_rng(1)
    signed, (x, y, w, h) = add_sign(clean.frames[0], rng)
    plate = signed[y : y + h, x : x + w]
    frames = []
    for frame in clean.frames:
        frame = frame.copy()
        frame[y : y + h, x : x + w] = plate  # the sign is fixed in the scene
        frames.append(add_captions(frame, ("when the build passes", "on the first try")))
    source = Animation(frames, clean.durations, clean.loop)
    result = make_meme_animation_result(source, [], erase="auto", runtime=runtime)
    assert result.frames_erased == len(frames)
    for out, before in zip(result.animation.frames, frames, strict=True):
        assert np.array_equal(out[y : y + h, x : x + w], before[y : y + h, x : x + w])
        assert not np.array_equal(out[: before.shape[0] // 5], before[: before.shape[0] // 5])
