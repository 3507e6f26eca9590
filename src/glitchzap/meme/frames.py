"""Text across an animation's frames: which frames OCR reads, the regions it found merged into
one set, and whether a given frame still shows each of them.

OCR costs 100-300 ms a frame, so only a few frames are read (`sample_indices`): the first, the
middle and evenly spaced ones. The regions found on them are merged (`merge_regions`): the
same caption read on several frames becomes one region covering all its readings. Each frame
is then erased only where it shows text (`shown_regions`): a frame where the caption is absent
(it appears halfway through, say) keeps its pixels, so nothing is smeared over the picture.

Limits: a caption shown only on frames between two sampled ones is not read, so not erased;
a caption whose words change from frame to frame (subtitles) is erased on the frames where its
lettering fills the box about as much as where it was read (a much shorter line is kept).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from glitchzap.meme.inpaint import MIN_STROKE_SHARE, stroke_share
from glitchzap.types import TextRegion

SAMPLED_FRAMES = 5  # frames OCR reads, evenly spaced from the first to the last (+ the middle)
SAME_TEXT_OVERLAP = 0.5  # two readings are one caption when they share this much of the smaller
# A frame shows a caption when its lettering covers this share of what it covered where it was
# read. On skimage photos captioned by make_meme, lettering covers 50-78% of its box; the same
# boxes without the caption 0-36% (the astronaut's white suit against black: the worst case).
SHOWN_SHARE = 0.6
SAME_PIXELS = 10.0  # mean |difference| (0-255) under which a coloured caption's box is unchanged


@dataclass(frozen=True)
class SeenText:
    """A caption OCR read on some sampled frames: its region (covering every reading), the
    frames it was read on, the best-scoring one and how much of its box lettering covered
    there (`stroke_share`; below MIN_STROKE_SHARE: coloured lettering)."""

    region: TextRegion
    frames: tuple[int, ...]
    reference: int
    share: float


def sample_indices(count: int, samples: int = SAMPLED_FRAMES) -> list[int]:
    """The frames of a `count`-frame animation to read: the first, the last, the middle and
    evenly spaced ones between, sorted, each once."""
    if count <= 1:
        return [0]
    spaced = {round(i * (count - 1) / (samples - 1)) for i in range(samples)}
    return sorted(spaced | {count // 2})


def _rect(region: TextRegion) -> tuple[float, float, float, float]:
    xs = [p[0] for p in region.box]
    ys = [p[1] for p in region.box]
    return min(xs), min(ys), max(xs), max(ys)


def _same_place(a: TextRegion, b: TextRegion) -> bool:
    """Whether two readings overlap by SAME_TEXT_OVERLAP of the smaller one's box."""
    ax0, ay0, ax1, ay1 = _rect(a)
    bx0, by0, bx1, by1 = _rect(b)
    overlap = max(0.0, min(ax1, bx1) - max(ax0, bx0)) * max(0.0, min(ay1, by1) - max(ay0, by0))
    smaller = min((ax1 - ax0) * (ay1 - ay0), (bx1 - bx0) * (by1 - by0))
    return smaller > 0 and overlap >= SAME_TEXT_OVERLAP * smaller


def _covering(readings: Sequence[TextRegion]) -> TextRegion:
    """The best-scoring reading, its box grown to the rectangle around every reading (one
    reading keeps its own, possibly rotated, box)."""
    best = max(readings, key=lambda r: r.score)
    if len(readings) == 1:
        return best
    rects = [_rect(r) for r in readings]
    x0, y0 = min(r[0] for r in rects), min(r[1] for r in rects)
    x1, y1 = max(r[2] for r in rects), max(r[3] for r in rects)
    box = ((x0, y0), (x1, y0), (x1, y1), (x0, y1))
    return TextRegion(box, best.text, best.score)


Reading = tuple[int, Sequence[TextRegion]]  # a sampled frame and the regions OCR found on it


def merge_regions(found: Sequence[Reading]) -> list[tuple[TextRegion, tuple[int, ...], int]]:
    """(region, frames read on, best frame) per caption, from (frame, regions) readings: the
    readings at the same place on different frames are one caption."""
    groups: list[list[tuple[int, TextRegion]]] = []
    for index, regions in found:
        for region in regions:
            group = next((g for g in groups if any(_same_place(region, r) for _, r in g)), None)
            if group is None:
                groups.append([(index, region)])
            else:
                group.append((index, region))
    merged = []
    for group in groups:
        best_frame = max(group, key=lambda item: item[1].score)[0]
        frames = tuple(sorted({index for index, _ in group}))
        merged.append((_covering([r for _, r in group]), frames, best_frame))
    return merged


def seen_texts(frames: Sequence[np.ndarray], found: Sequence[Reading]) -> list[SeenText]:
    """The captions read on the sampled `found` frames, merged, each with its lettering share
    on the frame it read best on."""
    return [
        SeenText(region, read_on, best, stroke_share(frames[best], region))
        for region, read_on, best in merge_regions(found)
    ]


def shows(frame: np.ndarray, index: int, seen: SeenText, reference: np.ndarray) -> bool:
    """Whether frame `index` still shows the caption `seen` (read on `reference`, the frame
    `seen.reference`). White-on-black (or black-on-white) lettering: its strokes cover at
    least SHOWN_SHARE of what they covered where it was read. Coloured lettering, erased as a
    whole box: the box's pixels are those of the reference frame."""
    if index in seen.frames:
        return True
    if seen.share >= MIN_STROKE_SHARE:
        needed = max(MIN_STROKE_SHARE, SHOWN_SHARE * seen.share)
        return stroke_share(frame, seen.region) >= needed
    x0, y0, x1, y1 = (round(v) for v in _rect(seen.region))
    height, width = frame.shape[:2]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x1 <= x0 or y1 <= y0:
        return False
    here = frame[y0:y1, x0:x1, :3].astype(np.int16)
    there = reference[y0:y1, x0:x1, :3].astype(np.int16)
    return float(np.abs(here - there).mean()) <= SAME_PIXELS


def shown_regions(
    frame: np.ndarray, index: int, texts: Sequence[SeenText], frames: Sequence[np.ndarray]
) -> list[TextRegion]:
    """The regions of `texts` that frame `index` shows (what to erase on it)."""
    return [t.region for t in texts if shows(frame, index, t, frames[t.reference])]
