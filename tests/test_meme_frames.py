"""Text across frames: which frames OCR reads, readings merged, and whether a frame shows a
caption (pure functions, no OCR)."""

from __future__ import annotations

import numpy as np
import pytest

from glitchzap.meme.compose import make_meme
from glitchzap.meme.frames import SeenText, merge_regions, sample_indices, seen_texts, shows
from glitchzap.runtime import Runtime
from glitchzap.types import TextRegion
from meme_animations import panning, photo


def region(x0: float, y0: float, x1: float, y1: float, score: float = 0.9) -> TextRegion:
    return TextRegion(((x0, y0), (x1, y0), (x1, y1), (x0, y1)), "TEXT", score)


@pytest.mark.parametrize(
    ("count", "expected"),
    [(1, [0]), (2, [0, 1]), (3, [0, 1, 2]), (16, [0, 4, 8, 11, 15]), (100, [0, 25, 50, 74, 99])],
)
def test_sampled_frames_are_the_first_the_middle_and_evenly_spaced(
    count: int, expected: list[int]
) -> None:
    assert sample_indices(count) == expected


def test_readings_at_one_place_merge_into_one_caption() -> None:
    first, moved = region(10, 10, 200, 40, 0.8), region(14, 12, 210, 42, 0.95)
    elsewhere = region(10, 300, 200, 330)
    merged = merge_regions([(0, [first, elsewhere]), (4, [moved]), (8, [])])
    assert len(merged) == 2
    (caption, frames, best), (other, other_frames, _) = merged
    assert caption.box == ((10, 10), (210, 10), (210, 42), (10, 42))  # covers both readings
    assert (caption.score, frames, best) == (0.95, (0, 4), 4)
    assert other == elsewhere and other_frames == (0,)


def test_a_frame_shows_a_caption_by_its_lettering(runtime: Runtime) -> None:
    clean = panning(photo("chelsea"), 3)
    captioned = make_meme(clean.frames[1], ["old caption"], layout="top", erase="never",
                          runtime=runtime)  # fmt: skip
    width = clean.shape[1]
    box = region(0, 0, width, clean.shape[0] * 0.2)
    frames = [clean.frames[0], captioned, clean.frames[2]]
    (seen,) = seen_texts(frames, [(1, [box])])
    assert seen.share > 0.1  # white-on-black lettering
    assert shows(captioned.copy(), 2, seen, captioned)  # another frame with the caption
    assert not shows(clean.frames[0], 0, seen, captioned)
    assert not shows(clean.frames[2], 2, seen, captioned)


def test_coloured_lettering_shows_where_its_box_is_unchanged() -> None:
    image = photo("coffee")
    seen = SeenText(region(20, 20, 120, 60), frames=(0,), reference=0, share=0.0)
    assert shows(image.copy(), 3, seen, image)
    other = image.copy()
    other[20:60, 20:120] = 255 - other[20:60, 20:120]
    assert not shows(other, 3, seen, image)
    assert shows(np.zeros_like(image), 0, seen, image)  # read there by OCR: shown
