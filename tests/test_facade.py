"""The library door (`import glitchzap`): every export resolves, and animations go from file
to file through it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import glitchzap
from animated_photos import panned_frames, photo, read_frames, write_animation


def test_every_export_resolves() -> None:
    for name in glitchzap.__all__:
        assert getattr(glitchzap, name) is not None, name


def test_an_animation_from_file_to_file(tmp_path: Path) -> None:
    source = write_animation(tmp_path / "in.gif", panned_frames(4), [70, 80, 90, 100], loop=1)
    animation = glitchzap.load_animation(source)
    assert isinstance(animation, glitchzap.Animation) and len(animation) == 4
    result = glitchzap.render_animation(animation, {"effects": {"slices": 6}, "seed": 2})
    assert result.durations == (70, 80, 90, 100) and result.loop == 1
    assert not np.array_equal(result.frames[0], animation.frames[0])
    glitchzap.save_animation(result, tmp_path / "out.webp")
    frames, durations, loop = read_frames(tmp_path / "out.webp")
    assert (len(frames), durations, loop) == (4, [70, 80, 90, 100], 1)


def test_a_still_becomes_a_loop_only_with_an_animation_block() -> None:
    image = photo("astronaut", 96)
    recipe = {"effects": {"noise": 0.3}, "seed": 1}
    once = glitchzap.render_animation(image, recipe)
    assert len(once) == 1 and np.array_equal(once.frames[0], glitchzap.render_recipe(image, recipe))
    loop = glitchzap.render_animation(image, {**recipe, "animation": {"frames": 8, "fps": 25}})
    assert len(loop) == 8 and loop.durations == (40,) * 8 and loop.loop == 0
