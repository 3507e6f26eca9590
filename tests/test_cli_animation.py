"""`glitchzap glitch` and `remove-bg` on animations: GIF, APNG and WebP in and out, stills made
into loops, easing, seeds, limits and one-line errors.

The CLI runs in this process through its real entry point (`main`: argument parsing, the
runtime built from the environment, one-line errors with exit 2), with a memory cache so no
run is answered from an earlier one's results.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animated_photos import panned_frames, photo, read_frames, write_animation
from conftest import REAL_MODELS_DIR
from glitchzap.io import load_animation, load_image, save_image
from glitchzap.recipes import parse_recipe
from glitchzap.rendering import render_recipe
from glitchzap.runtime import current


@pytest.fixture
def glitchzap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """Run `glitchzap ARGS` (env: extra GLITCHZAP_* settings): (exit code, stdout, stderr)."""
    from glitchzap.cli import main

    monkeypatch.setenv("GLITCHZAP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GLITCHZAP_MODELS__DIR", str(REAL_MODELS_DIR))
    monkeypatch.setenv("GLITCHZAP_CACHE__BACKEND", "memory")

    def run(*args: str | Path, **env: str) -> tuple[int, str, str]:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setattr(sys, "argv", ["glitchzap", *map(str, args)])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def still(tmp_path: Path) -> Path:
    return save_image(photo("astronaut", 128), tmp_path / "astro.jpg", quality=95)


@pytest.fixture
def cat_gif(tmp_path: Path) -> Path:
    """A 5-frame GIF with a transparent surround and uneven durations, written by Pillow."""
    frames = panned_frames(5, alpha=True)
    return write_animation(tmp_path / "cat.gif", frames, [80, 120, 50, 200, 90], loop=0)


def test_a_still_becomes_a_looping_gif(glitchzap, still: Path, tmp_path: Path) -> None:
    out = tmp_path / "loop.gif"
    args = ("glitch", still, "-o", out, "--preset", "vhs", "--frames", "30", "--fps", "20")
    code, stdout, stderr = glitchzap(*args, "--loop", "3", "--seed", "4")
    assert code == 0, stderr
    assert "30 frames" in stdout
    frames, durations, loop = read_frames(out)
    assert len(frames) == 30 and durations == [50] * 30 and loop == 3
    # Per-frame seeds: the VHS noise and tears differ from frame to frame ...
    assert all(not np.array_equal(frames[i], frames[i + 1]) for i in range(29))
    # ... and the same command gives the same file.
    again = tmp_path / "again.gif"
    code, _, stderr = glitchzap(*args, "--loop", "3", "--seed", "4", "-o", again)
    assert code == 0, stderr
    assert again.read_bytes() == out.read_bytes()


def test_a_fixed_seed_without_easing_repeats_one_frame(
    glitchzap, still: Path, tmp_path: Path
) -> None:
    out = tmp_path / "fixed.gif"
    code, stdout, stderr = glitchzap(
        "glitch", still, "-o", out, "--noise", "0.3", "--frames", "4", "--seed-mode", "fixed"
    )
    assert code == 0, stderr
    assert "4 frames, 332 ms" in stdout  # the default 12 fps
    frames, durations, _ = read_frames(out)
    # Pillow writes a run of identical frames as one frame shown as long (same playback).
    assert sum(durations) == 320 and len(frames) < 4  # in GIF's 10 ms steps
    assert all(np.array_equal(frames[0], frame) for frame in frames)


def test_an_animated_gif_keeps_frames_timing_and_transparency(
    glitchzap, cat_gif: Path, tmp_path: Path
) -> None:
    source, source_durations, _ = read_frames(cat_gif)
    out = tmp_path / "out.gif"
    code, stdout, stderr = glitchzap("glitch", cat_gif, "-o", out, "--posterize", "3")
    assert code == 0, stderr
    assert "5 frames, 540 ms" in stdout
    frames, durations, loop = read_frames(out)
    assert len(frames) == 5 and durations == source_durations == [80, 120, 50, 200, 90]
    assert loop == 0
    for before, after in zip(source, frames, strict=True):
        assert np.array_equal(after[..., 3] == 0, before[..., 3] == 0)  # holes stay holes
        assert not np.array_equal(after[..., :3], before[..., :3])  # and the effect ran


def test_frames_without_a_duration_show_100_ms(glitchzap, tmp_path: Path) -> None:
    gif = write_animation(tmp_path / "old.gif", panned_frames(3))  # no durations at all
    assert read_frames(gif)[1] == [None] * 3
    out = tmp_path / "out.gif"
    code, _, stderr = glitchzap("glitch", gif, "-o", out, "--blur", "1")
    assert code == 0, stderr
    frames, durations, loop = read_frames(out)
    assert len(frames) == 3 and durations == [100] * 3
    assert loop is None  # the input plays once, and so does the output


def test_apng_in_webp_out_and_webp_in_apng_out(glitchzap, tmp_path: Path) -> None:
    apng = write_animation(tmp_path / "in.png", panned_frames(4), [40, 60, 80, 100], loop=2)
    webp = tmp_path / "out.webp"
    code, _, stderr = glitchzap("glitch", apng, "-o", webp, "--channel-shift", "4")
    assert code == 0, stderr
    frames, durations, loop = read_frames(webp)
    assert (len(frames), durations, loop) == (4, [40, 60, 80, 100], 2)

    back = tmp_path / "back.apng"
    code, _, stderr = glitchzap("glitch", webp, "-o", back, "--scanlines", "0.5")
    assert code == 0, stderr
    with Image.open(back) as img:
        assert img.format == "PNG" and img.n_frames == 4
    frames, durations, loop = read_frames(back)
    assert (len(frames), durations, loop) == (4, [40, 60, 80, 100], 2)


def test_ease_moves_a_parameter_to_its_end_value(glitchzap, still: Path, tmp_path: Path) -> None:
    out = tmp_path / "eased.png"
    code, _, stderr = glitchzap(
        "glitch", still, "-o", out, "--frames", "5", "--duration-ms", "120",
        "--ease", "channel-shift=0:12:ease-in-out", "--seed-mode", "fixed",
    )  # fmt: skip
    assert code == 0, stderr
    frames, durations, _ = read_frames(out)
    assert len(frames) == 5 and durations == [120] * 5
    image = load_image(still)
    at_end = render_recipe(
        image, parse_recipe({"effects": {"channel_shift": 12}}), runtime=current()
    )
    assert np.array_equal(frames[0][..., :3], image)  # shift 0: the photo itself
    assert np.array_equal(frames[-1][..., :3], at_end)  # shift 12: as a still render of it
    assert not np.array_equal(frames[2][..., :3], at_end)


def test_a_recipe_animation_block_works_like_the_options(
    glitchzap, still: Path, tmp_path: Path
) -> None:
    recipe = tmp_path / "wobble.yaml"
    recipe.write_text(
        "effects: {wave: {amplitude: 6}}\n"
        "animation:\n  frames: 6\n  duration_ms: 70\n  loop: 0\n"
        "  ease: {wave.phase: {from: 0, to: 300}}\n"
    )
    from_file, from_flags = tmp_path / "file.gif", tmp_path / "flags.gif"
    assert glitchzap("glitch", still, "-o", from_file, "--recipe", recipe)[0] == 0
    flags = ("--wave", "6", "--frames", "6", "--duration-ms", "70", "--ease", "wave.phase=0:300")
    assert glitchzap("glitch", still, "-o", from_flags, *flags)[0] == 0
    assert from_file.read_bytes() == from_flags.read_bytes()
    frames, durations, _ = read_frames(from_file)
    assert len(frames) == 6 and durations == [70] * 6
    faster = tmp_path / "faster.gif"  # a flag beats the file, --fps its duration_ms too
    assert glitchzap("glitch", still, "-o", faster, "--recipe", recipe, "--fps", "20")[0] == 0
    assert read_frames(faster)[1] == [50] * 6


def test_a_still_to_gif_without_options_is_one_frame(
    glitchzap, still: Path, tmp_path: Path
) -> None:
    out = tmp_path / "one.gif"
    code, stdout, stderr = glitchzap("glitch", still, "-o", out, "--posterize", "4")
    assert code == 0, stderr
    assert stdout.strip() == f"{out} (128x128)"
    frames, _, _ = read_frames(out)
    assert len(frames) == 1


@pytest.mark.parametrize("options", [(), ("--frames", "3")])
def test_an_animation_to_jpeg_is_one_line_and_exit_2(
    glitchzap, cat_gif: Path, still: Path, tmp_path: Path, options: tuple[str, ...]
) -> None:
    source = still if options else cat_gif
    out = tmp_path / "out.jpg"
    code, _, stderr = glitchzap("glitch", source, "-o", out, "--blur", "2", *options)
    assert code == 2
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith("error: out.jpg: JPEG cannot hold an animation")
    assert not out.exists()


def test_over_the_animation_budget_is_refused_naming_the_limit(
    glitchzap, cat_gif: Path, still: Path, tmp_path: Path
) -> None:
    small = {"GLITCHZAP_LIMITS__MAX_ANIMATION_PIXELS": str(4 * 128 * 96)}  # 4 of cat's 5 frames
    code, _, stderr = glitchzap("glitch", cat_gif, "-o", tmp_path / "a.gif", "--blur", "1", **small)
    assert code == 2 and "limits.max_animation_pixels" in stderr
    assert len(stderr.strip().splitlines()) == 1
    # A still made into a loop is held to the same budget before any frame is rendered.
    made = ("glitch", still, "-o", tmp_path / "b.gif", "--blur", "1", "--frames", "20")
    budget = {"GLITCHZAP_LIMITS__MAX_ANIMATION_PIXELS": str(19 * 128 * 128)}
    code, _, stderr = glitchzap(*made, **budget)
    assert code == 2 and "limits.max_animation_pixels" in stderr
    assert not (tmp_path / "b.gif").exists()
    assert glitchzap(*made, GLITCHZAP_LIMITS__MAX_ANIMATION_PIXELS=str(20 * 128 * 128))[0] == 0


def test_timing_options_on_an_animation_say_they_shape_stills_only(
    glitchzap, cat_gif: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.webp"
    code, _, stderr = glitchzap("glitch", cat_gif, "-o", out, "--fps", "30", "--blur", "1")
    assert code == 0
    assert "note: cat.gif is animated: it keeps its own 5 frames" in stderr
    assert read_frames(out)[1] == [80, 120, 50, 200, 90]


def test_a_bad_ease_is_one_line_and_exit_2(glitchzap, still: Path, tmp_path: Path) -> None:
    for ease, says in [
        ("wave=1", "--ease takes effect.param=FROM:TO[:curve]"),
        ("wave.amplitude=0:9:bouncy", "curve"),
        ("wave.direction=0:1", "wave has no number 'direction'"),
    ]:
        code, _, stderr = glitchzap("glitch", still, "-o", tmp_path / "x.gif", "--ease", ease)
        assert code == 2 and says in stderr, stderr
        assert len(stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_remove_bg_cuts_out_every_frame(glitchzap, tmp_path: Path) -> None:
    if not (REAL_MODELS_DIR / "u2netp.onnx").is_file():
        pytest.skip("u2netp not installed")
    gif = write_animation(tmp_path / "cat.gif", panned_frames(3), [70, 80, 90], loop=0)
    code, stdout, stderr = glitchzap("remove-bg", gif, "--out-dir", tmp_path / "cut")
    assert code == 0, stderr
    assert "3 frames" in stdout
    out = tmp_path / "cut" / "cat.png"  # APNG: every frame's soft alpha kept
    frames, durations, _ = read_frames(out)
    assert len(frames) == 3 and durations == [70, 80, 90]
    for frame in frames:
        alpha = frame[..., 3]
        assert (alpha == 0).mean() > 0.1 and (alpha == 255).mean() > 0.01
    # Each frame is the cut-out of that frame.
    source = load_animation(gif)
    expected = render_recipe(
        source.frames[2], parse_recipe({"background": {"remove": True}}), runtime=current()
    )
    assert np.array_equal(frames[2], expected)
    code, _, stderr = glitchzap("remove-bg", gif, "-o", tmp_path / "cut.jpg")
    assert code == 2 and "JPEG cannot hold an animation" in stderr
