"""Batch runs over animations: animated inputs stay animated through the local engine, a
recipe's `animation` block makes stills into loops, and each output's container follows
`batch.formats` (the recipe's format when it can animate, else GIF)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from animated_photos import panned_frames, photo, read_frames, write_animation
from glitchzap.batch import run_batch
from glitchzap.batch.formats import output_formats
from glitchzap.batch.inputs import plan_batch
from glitchzap.io import encode_animation, load_animation, save_image
from glitchzap.recipes import parse_recipe
from glitchzap.rendering import render_animation
from glitchzap.runtime import configure, current

EFFECTS = {"effects": {"posterize": 3, "channel_shift": 3}, "seed": 5}


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """A folder of a still photo, an animated GIF with holes, an animated WebP and a GIF
    too large for the test's animation budget."""
    root = tmp_path / "in"
    root.mkdir()
    save_image(photo("astronaut", 128), root / "photo.jpg", quality=92)
    write_animation(root / "cat.gif", panned_frames(5, alpha=True), [80, 120, 50, 200, 90], loop=0)
    write_animation(root / "clip.webp", panned_frames(4, name="coffee"), [60] * 4, loop=2)
    write_animation(root / "long.gif", panned_frames(12), [40] * 12, loop=0)
    return root


def test_animated_inputs_stay_animated_through_the_local_engine(
    mixed: Path, tmp_path: Path
) -> None:
    configure(data_dir=tmp_path / "data", limits={"max_animation_pixels": 8 * 128 * 96})
    recipe = parse_recipe({**EFFECTS, "output": {"format": "jpeg", "quality": 90}})
    summary = run_batch(recipe, [mixed], tmp_path / "out", workers=1)
    assert (summary.done, summary.failed) == (3, 1)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir() if p.suffix != ".jsonl") == [
        "cat.gif",  # a JPEG recipe: animations go to GIF
        "clip.gif",
        "photo.jpg",  # the still as before
    ]
    [failure] = summary.failures
    assert failure.input.endswith("long.gif") and "limits.max_animation_pixels" in failure.reason

    frames, durations, loop = read_frames(out / "cat.gif")
    source, _, _ = read_frames(mixed / "cat.gif")
    assert len(frames) == 5 and durations == [80, 120, 50, 200, 90] and loop == 0
    for before, after in zip(source, frames, strict=True):
        assert np.array_equal(after[..., 3] == 0, before[..., 3] == 0)
    assert read_frames(out / "clip.gif")[1:] == ([60] * 4, 2)
    # One door: the batch writes what the library renders and encodes.
    expected = render_animation(load_animation(mixed / "cat.gif"), recipe, runtime=current())
    assert (out / "cat.gif").read_bytes() == encode_animation(expected, "gif", quality=90)


def test_an_animation_block_makes_every_still_a_loop(mixed: Path, tmp_path: Path) -> None:
    recipe = {
        **EFFECTS,
        "effects": {"noise": 0.2},
        "animation": {"frames": 6, "duration_ms": 70},
        "output": {"format": "webp", "quality": 80},
    }
    summary = run_batch(recipe, [mixed / "photo.jpg", mixed / "cat.gif"], tmp_path / "o", workers=1)
    assert (summary.done, summary.failed) == (2, 0)
    frames, durations, _ = read_frames(tmp_path / "o" / "photo.webp")
    assert len(frames) == 6 and durations == [70] * 6
    assert not np.array_equal(frames[0], frames[1])  # per-frame seeds: the noise moves
    # An animated input keeps its own frames and timing.
    assert read_frames(tmp_path / "o" / "cat.webp")[1] == [80, 120, 50, 200, 90]


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ({"format": "jpeg"}, ["cat.gif", "clip.gif", "long.gif", "notes.jpg", "photo.jpg"]),
        ({"format": "png"}, ["cat.png", "clip.png", "long.png", "notes.png", "photo.png"]),
        ({"format": "apng"}, ["cat.png", "clip.png", "long.png", "notes.png", "photo.png"]),
        ({"format": "gif"}, ["cat.gif", "clip.gif", "long.gif", "notes.gif", "photo.gif"]),
    ],
)
def test_output_names_follow_the_container_each_output_needs(
    mixed: Path, tmp_path: Path, output: dict[str, str], expected: list[str]
) -> None:
    recipe = parse_recipe({**EFFECTS, "output": output})
    # Unreadable: planned as a still (its worker then reports why it failed).
    (mixed / "notes.gif").write_bytes(b"GIF89a, or so it says")
    items = plan_batch([mixed], tmp_path / "out", output_formats(recipe, current().settings.limits))
    assert sorted(item.output.name for item in items if item.output) == expected


def test_a_jpeg_recipe_that_animates_stills_writes_gifs(mixed: Path, tmp_path: Path) -> None:
    recipe = parse_recipe({**EFFECTS, "animation": {"frames": 4}, "output": {"format": "jpeg"}})
    items = plan_batch([mixed], tmp_path / "out", output_formats(recipe, current().settings.limits))
    assert all(item.output and item.output.suffix == ".gif" for item in items)
