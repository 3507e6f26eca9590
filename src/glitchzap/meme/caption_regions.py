"""Which text regions are meme captions: the rule `erase: auto` erases by.

OCR finds more than captions: shop signs and billboards in the photo (scene text) and, now
and then, a texture it reads as a glyph (scikit-image's coffee cup read as a giant "8").
`auto` must erase only the captions someone wrote over the picture, so a region counts as a
caption when all of these hold:

- OCR is confident (`min_score`, `image_processing.skip_text_removal_threshold`);
- its lettering is meme lettering: white fill in a black outline, or black on white, covering
  at least CAPTION_MIN_INK of its box (`inpaint.stroke_share`; a photo's text and textures
  rarely have both extremes side by side);
- it is one line of caption size: its height at most CAPTION_MAX_HEIGHT of the picture's (a
  "glyph" as tall as the picture is a texture);
- it sits where captions go: its middle within CAPTION_EDGE of the top or bottom edge, and
  centred (its middle within CAPTION_OFF_CENTRE of the picture's middle) or wide (at least
  CAPTION_MIN_WIDTH of the picture), as memegen, imgflip and banner captions are laid out.

Thresholds were tuned on a deterministic half of the data (even-numbered text-free photos,
every other captioned case) and are reported on the other half by `bench/meme.py`. Limits:
a caption placed in the middle of the picture, or off to one side in a panel of a multi-panel
template, is not a caption by this rule (erase it with `always`); a billboard in white outlined
letters centred at the top edge of a photo would be one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from glitchzap.meme.inpaint import stroke_share
from glitchzap.types import TextRegion

CAPTION_MIN_INK = 0.3  # share of the box covered by fill-and-outline lettering
CAPTION_MAX_HEIGHT = 0.3  # line height / picture height; above: a texture read as a glyph
CAPTION_EDGE = 0.35  # the line's middle lies within this share of the height from an edge
CAPTION_OFF_CENTRE = 0.15  # |middle x - picture middle| / width, for a short line
CAPTION_MIN_WIDTH = 0.4  # a line this wide (share of the width) needs no centring


def _rect(region: TextRegion) -> tuple[float, float, float, float]:
    xs = [p[0] for p in region.box]
    ys = [p[1] for p in region.box]
    return min(xs), min(ys), max(xs), max(ys)


def is_placed_as_caption(region: TextRegion, shape: tuple[int, ...]) -> bool:
    """Whether `region` has a caption's size and place in a picture of `shape` (H, W, ...)."""
    height, width = shape[:2]
    x0, y0, x1, y1 = _rect(region)
    if region.height > CAPTION_MAX_HEIGHT * height:
        return False
    middle_y = (y0 + y1) / 2 / height
    if CAPTION_EDGE < middle_y < 1 - CAPTION_EDGE:
        return False
    centred = abs((x0 + x1) / 2 / width - 0.5) <= CAPTION_OFF_CENTRE
    return centred or (x1 - x0) >= CAPTION_MIN_WIDTH * width


def is_caption(image: np.ndarray, region: TextRegion, min_score: float) -> bool:
    """Whether `region` of `image` is a meme caption (see the module's rule)."""
    return (
        region.score >= min_score
        and is_placed_as_caption(region, image.shape)
        and stroke_share(image, region) >= CAPTION_MIN_INK
    )


def caption_regions(
    image: np.ndarray, regions: Sequence[TextRegion], min_score: float
) -> list[TextRegion]:
    """The regions of `image` that are meme captions, in their order; scene text, textures
    read as glyphs and unconfident readings are left out."""
    return [r for r in regions if is_caption(image, r, min_score)]
