"""Caption boxes, auto-fit and rendering, measured on the pixels drawn."""

from __future__ import annotations

import numpy as np
import pytest

from glitchzap.errors import InvalidParameters
from glitchzap.meme.captions import (
    LAYOUTS,
    MAX_LINES,
    TextBox,
    box_pixels,
    clean_text,
    fit_text,
    layout_boxes,
    outline_color,
    render_captions,
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


def test_shorter_text_gets_a_bigger_font(fonts: FontCache) -> None:
    source = resolve_font()
    short = fit_text("HI", source, 400, 80, fonts)
    long = fit_text("THIS IS A RATHER LONG CAPTION FOR A BOX", source, 400, 80, fonts)
    assert short.size > long.size
    assert 1 <= len(long.lines) <= MAX_LINES
    assert short.stroke_width < short.size / 5


def test_fitted_lines_fit_the_box(fonts: FontCache) -> None:
    source = resolve_font()
    fitted = fit_text("ONE DOES NOT SIMPLY WALK INTO MORDOR", source, 300, 90, fonts)
    font = fonts.get(source, fitted.size)
    ascent, descent = font.getmetrics()
    for line in fitted.lines:
        assert font.getlength(line) + 2 * fitted.stroke_width <= 300
    assert len(fitted.lines) * (ascent + descent) + 2 * fitted.stroke_width <= 90


def test_very_long_text_uses_more_lines_only_when_three_cannot_fit(fonts: FontCache) -> None:
    text = " ".join(["WORD"] * 120)
    fitted = fit_text(text, resolve_font(), 400, 120, fonts)
    assert len(fitted.lines) > MAX_LINES
    assert " ".join(fitted.lines) == text


@pytest.mark.parametrize("angle", [0.0, 15.0, 90.0])
def test_text_never_leaves_its_box_or_the_image(
    grey: np.ndarray, fonts: FontCache, angle: float
) -> None:
    from skimage.draw import polygon

    caption = ["a caption that has to wrap"]
    # Its box: rotated at any of these angles it still lies inside the 400 x 300 image, so the
    # text has no reason to leave it.
    box = TextBox(anchor_x=0.5, anchor_y=0.55, scale_x=0.4, scale_y=0.3, angle=angle)
    out = render_captions(grey, caption, [box], font=resolve_font(), fonts=fonts)
    drawn = ink(grey, out)
    assert drawn.sum() > 500
    x, y, w, h = box_pixels(box, 400, 300)
    if angle == 0:
        outside = drawn.copy()
        outside[y : y + h, x : x + w] = False
        assert not outside.any()
    # The box turned about its centre as the renderer turns the text (PIL: counter-clockwise
    # on screen, y down), grown 2 px a side for anti-aliasing; pixel centres at +0.5.
    tolerance, turn = 2.0, np.radians(angle)
    dx = np.array([-1, 1, 1, -1]) * (w / 2 + tolerance)
    dy = np.array([-1, -1, 1, 1]) * (h / 2 + tolerance)
    cols = x + w / 2 + dx * np.cos(turn) + dy * np.sin(turn) - 0.5
    rows = y + h / 2 - dx * np.sin(turn) + dy * np.cos(turn) - 0.5
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
    assert outline_color((0, 0, 0)) == (255, 255, 255)
    red = render_captions(
        grey, ["HELLO"], [TextBox(scale_y=0.5, color="#ff0000")], font=resolve_font(), fonts=fonts
    )
    assert ((red[..., 0] > 240) & (red[..., 1] < 15)).any()


def test_styles_and_control_characters() -> None:
    assert clean_text("  it's\ta\x00 trap\u200b  ", "upper") == "IT'S A TRAP"
    assert clean_text("LOUD", "lower") == "loud"
    assert clean_text("Keep Case", "none") == "Keep Case"


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
