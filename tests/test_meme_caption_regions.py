"""The caption rule on drawn captions and made-up regions: no OCR, so it runs in the fast loop."""

from __future__ import annotations

import numpy as np

from glitchzap.meme.caption_regions import caption_regions, is_placed_as_caption
from glitchzap.types import TextRegion
from meme_variants import add_captions


def rect(x0: float, y0: float, x1: float, y1: float, text: str = "X") -> TextRegion:
    return TextRegion(((x0, y0), (x1, y0), (x1, y1), (x0, y1)), text, 0.99)


def test_a_glyph_as_tall_as_the_picture_is_not_a_caption() -> None:
    assert not is_placed_as_caption(rect(0, 0, 540, 400), (400, 600, 3))


def test_small_text_in_the_middle_or_off_to_one_side_is_not_a_caption() -> None:
    shape = (400, 600, 3)
    assert not is_placed_as_caption(rect(260, 180, 340, 210), shape)  # a sign mid-picture
    assert not is_placed_as_caption(rect(10, 10, 110, 35), shape)  # a billboard top-left
    assert is_placed_as_caption(rect(200, 10, 400, 45), shape)  # a short centred top line
    assert is_placed_as_caption(rect(10, 350, 590, 390), shape)  # a long bottom line


def test_drawn_captions_are_kept_and_unconfident_or_plain_regions_dropped() -> None:
    gray = np.full((300, 400, 3), 128, np.uint8)
    meme = add_captions(gray, ("top text", "bottom text"))
    top, bottom = rect(60, 5, 340, 55), rect(60, 245, 340, 295)
    assert caption_regions(meme, [top, bottom], 0.5) == [top, bottom]
    assert caption_regions(gray, [top, bottom], 0.5) == []  # no lettering under the boxes
    unsure = TextRegion(top.box, top.text, 0.3)
    assert caption_regions(meme, [unsure], 0.5) == []
