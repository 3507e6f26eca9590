"""Caption boxes, auto-fit and rendering, measured on the pixels drawn."""

from __future__ import annotations

import numpy as np
import pytest

from glitchzap.errors import InvalidParameters
from glitchzap.meme.captions import (
    LAYOUTS,
    TextBox,
    box_pixels,
    clean_text,
    fit_font,
    layout_boxes,
    mock_case,
    render_captions,
    split_in_three,
    split_in_two,
    style_text,
    text_size,
    wrap,
)
from glitchzap.meme.fonts import FontCache, resolve_font
from meme_cases import MemeSample


@pytest.fixture
def fonts() -> FontCache:
    return FontCache(16)


@pytest.fixture
def grey() -> np.ndarray:
    return np.full((300, 400, 3), 128, np.uint8)


def ink(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return np.any(before != after, axis=2)


def test_shorter_text_gets_a_bigger_font_that_fits_the_box(fonts: FontCache) -> None:
    source = resolve_font()
    short = fit_font(source, fonts, "HI", (400, 80), 60)
    long = fit_font(source, fonts, "THIS IS A RATHER LONG CAPTION FOR A BOX", (400, 80), 60)
    assert short.size == 60  # capped at the largest size tried (memegen: H / 9)
    assert long.size < short.size
    width, height = text_size("THIS IS A RATHER LONG CAPTION FOR A BOX", long)
    assert width <= 400 and height <= 80
    # one size up no longer fits: the search found the largest
    bigger = fonts.get(source, long.size + 1)
    x0, y0, _, _ = bigger.getbbox("THIS IS A RATHER LONG CAPTION FOR A BOX")
    w, h = text_size("THIS IS A RATHER LONG CAPTION FOR A BOX", bigger)
    assert w - x0 > 400 - 400 / 35 or h - y0 > 80 - 80 / 10


def test_wrapping_splits_at_spaces_only(fonts: FontCache) -> None:
    source = resolve_font()
    text = "if you try to put a bunch more text than can possibly fit on a meme"
    assert split_in_two("aaaa bbbb") == "aaaa\nbbbb"
    assert split_in_two("unbreakable") == "unbreakable"
    assert split_in_three(text).count("\n") == 2
    wrapped = wrap(source, fonts, text, (800, 120), 66)
    assert 2 <= wrapped.count("\n") + 1 <= 3
    assert wrapped.replace("\n", " ").split() == text.split()  # no word is cut
    assert wrap(source, fonts, "short", (800, 120), 66) == "short"  # one line when it fits big


def test_line_breaks_stay(grey: np.ndarray, fonts: FontCache) -> None:
    box = TextBox(scale_y=0.9)
    one = render_captions(grey, ["ONE TWO"], [box], font=resolve_font(), fonts=fonts)
    two = render_captions(grey, ["ONE\nTWO"], [box], font=resolve_font(), fonts=fonts)
    rows = np.flatnonzero(ink(grey, two).any(axis=1))
    gaps = np.flatnonzero(np.diff(rows) > 1)
    assert len(gaps) >= 1  # two separate rows of ink
    assert np.flatnonzero(ink(grey, one).any(axis=1)).size < rows.size


@pytest.mark.parametrize("angle", [0.0, 15.0, 90.0])
def test_text_never_leaves_its_box_or_the_image(
    grey: np.ndarray, fonts: FontCache, angle: float
) -> None:
    from skimage.draw import polygon

    caption = ["a caption that has to wrap"]
    # Its box: rotated at any of these angles it still lies inside the 400 x 300 image, so the
    # text has no reason to leave it.
    box = TextBox(anchor_x=0.3, anchor_y=0.3, scale_x=0.4, scale_y=0.3, angle=angle)
    out = render_captions(grey, caption, [box], font=resolve_font(), fonts=fonts)
    drawn = ink(grey, out)
    assert drawn.sum() > 500
    x, y, w, h = box_pixels(box, 400, 300)
    if angle == 0:
        outside = drawn.copy()
        outside[y : y + h, x : x + w] = False
        assert not outside.any()
    # The box turned as the renderer turns the text (PIL: counter-clockwise on screen, y
    # down), grown 2 px a side for anti-aliasing; pixel centres at +0.5. As memegen does
    # (app/utils/images.py render_image), the turned layer grows to hold the turned box and
    # its top-left corner goes to the box's anchor, so the centre moves by the growth / 2.
    tolerance, turn = 2.0, np.radians(angle)
    grown_w = abs(w * np.cos(turn)) + abs(h * np.sin(turn))
    grown_h = abs(w * np.sin(turn)) + abs(h * np.cos(turn))
    dx = np.array([-1, 1, 1, -1]) * (w / 2 + tolerance)
    dy = np.array([-1, -1, 1, 1]) * (h / 2 + tolerance)
    cols = x + grown_w / 2 + dx * np.cos(turn) + dy * np.sin(turn) - 0.5
    rows = y + grown_h / 2 - dx * np.sin(turn) + dy * np.cos(turn) - 0.5
    inside = np.zeros_like(drawn)
    inside[polygon(rows, cols, drawn.shape)] = True
    assert not (drawn & ~inside).any(), f"{(drawn & ~inside).sum()} px of ink outside the box"

    # The same box against the bottom-right corner: turned, it pokes out of the image, and the
    # caption is moved back inside whole (the same pixels, translated), never cut by the border.
    edge = TextBox(anchor_x=0.6, anchor_y=0.7, scale_x=0.4, scale_y=0.3, angle=angle)
    at_edge = render_captions(grey, caption, [edge], font=resolve_font(), fonts=fonts)

    def ink_crop(image: np.ndarray) -> np.ndarray:
        ys, xs = np.nonzero(ink(grey, image))
        return image[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]

    np.testing.assert_array_equal(ink_crop(at_edge), ink_crop(out))


def test_default_layout_puts_captions_top_and_bottom(grey: np.ndarray, fonts: FontCache) -> None:
    out = render_captions(
        grey, ["top", "bottom"], layout_boxes("default"), font=resolve_font(), fonts=fonts
    )
    rows = np.flatnonzero(ink(grey, out).any(axis=1))
    assert rows.min() < 60 and rows.max() > 240
    assert not ink(grey, out)[70:230].any()


def test_colours_and_outline(grey: np.ndarray, fonts: FontCache) -> None:
    out = render_captions(grey, ["HELLO"], [TextBox(scale_y=0.5)], font=resolve_font(), fonts=fonts)
    pixels = out[ink(grey, out)]
    assert (pixels.min(axis=1) > 240).any() and (pixels.max(axis=1) < 15).any()
    black = render_captions(
        grey, ["HELLO"], [TextBox(scale_y=0.5, color="black")], font=resolve_font(), fonts=fonts
    )
    pixels = black[ink(grey, black)]
    assert (pixels.max(axis=1) < 15).any() and (pixels.min(axis=1) > 128).any()  # light outline
    red = render_captions(
        grey, ["HELLO"], [TextBox(scale_y=0.5, color="#ff0000")], font=resolve_font(), fonts=fonts
    )
    assert ((red[..., 0] > 240) & (red[..., 1] < 15)).any()


def test_case_styles() -> None:
    assert clean_text("it's\ta\x00 trap\u200b") == "it's a trap"
    assert clean_text("one\ntwo") == "one\ntwo"
    assert style_text("loud", "upper") == "LOUD"
    assert style_text("LOUD", "lower") == "loud"
    assert style_text("Keep Case", "none") == "Keep Case"
    # memegen Text.stylize "default": lower-case sentences are capitalised, a lone i is I
    assert style_text("i think so.", "default", ["i think so."]) == "I think so."
    assert style_text("Mixed Case i", "default", ["Mixed Case i"]) == "Mixed Case I"
    # memegen's checked-in test image spongebob/You:_Stop_talking_like_that/Me:_Stop_talking_
    # like_that.png (app/tests/images) shows the mock-case box as "Me: StOp TaLkiNg LiKE ThaT"
    assert mock_case("Me: Stop talking like that") == "Me: StOp TaLkiNg LiKE ThaT"
    assert mock_case("same") == mock_case("same")


def test_rgba_images_stay_rgba_and_gain_opaque_text(fonts: FontCache) -> None:
    image = np.zeros((100, 200, 4), np.uint8)
    out = render_captions(image, ["hey"], [TextBox(scale_y=1.0)], font=resolve_font(), fonts=fonts)
    assert out.shape == image.shape and out[..., 3].max() == 255


def test_empty_and_odd_captions_never_crash(grey: np.ndarray, fonts: FontCache) -> None:
    odd = ["", "\U0001f389\U0001f389 \u4e2d\u6587 \ud800", "x" * 500]
    out = render_captions(
        grey,
        odd,
        [TextBox(), TextBox(anchor_y=0.4), TextBox(anchor_y=0.8)],
        font=resolve_font("builtin"),
        fonts=fonts,
    )
    assert out.shape == grey.shape


def test_bad_requests_raise(grey: np.ndarray, fonts: FontCache) -> None:
    with pytest.raises(InvalidParameters, match="layout"):
        layout_boxes("sideways")
    with pytest.raises(InvalidParameters, match="colour"):
        render_captions(
            grey, ["x"], [TextBox(color="not-a-colour")], font=resolve_font(), fonts=fonts
        )
    with pytest.raises(InvalidParameters, match="captions but only"):
        render_captions(
            grey, ["a", "b", "c"], layout_boxes("default"), font=resolve_font(), fonts=fonts
        )


def test_memegen_boxes_validate(meme_sample: MemeSample) -> None:
    import yaml

    # The first 40 of each source (later memegen ones have boxes past the edge: the library
    # clamps those, see templates.text_boxes).
    for config in (c for f in meme_sample.folders for c in sorted(f.glob("*/config.yml"))[:40]):
        for box in yaml.safe_load(config.read_text())["text"]:
            TextBox(**box)
    assert set(LAYOUTS) >= {"default", "top", "bottom"}
