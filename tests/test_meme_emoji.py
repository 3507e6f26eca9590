"""Colour emoji in captions: found, measured and drawn in colour; plain text exactly Pillow's."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from glitchzap.meme import emoji as emoji_module
from glitchzap.meme.emoji import draw_text, emojize, find_emoji_font, has_emoji, text_bbox
from glitchzap.meme.fonts import FontCache, resolve_font

PLAIN = ["HELLO WORLD", "two\nlines ÉŁЖ", "© 2024 ™", ""]


@pytest.fixture(scope="module")
def font() -> ImageFont.FreeTypeFont:
    return FontCache(4).get(resolve_font(), 48)


@pytest.fixture(scope="module")
def emoji_font() -> Path:
    found = find_emoji_font()
    if found is None:
        pytest.skip("no colour emoji font (apt-get install fonts-noto-color-emoji)")
    return found


def saturated_pixels(image: Image.Image) -> int:
    """Pixels whose colour is far from grey (white text and black outlines are not)."""
    rgb = np.asarray(image.convert("RGB")).astype(int)
    return int(((rgb.max(axis=2) - rgb.min(axis=2)) > 80).sum())


def test_emoji_are_found_and_shortcodes_expand() -> None:
    assert has_emoji("top text 😂") and has_emoji("🇫🇷") and has_emoji("👨‍👩‍👧 family")
    assert not has_emoji("plain text") and not has_emoji("© and ™ stay text")
    assert emojize("so :fire: :thumbsup:") == "so 🔥 👍"
    assert emojize("no codes") == "no codes"


@pytest.mark.parametrize("text", PLAIN)
@pytest.mark.parametrize("align", ["left", "center"])
def test_text_without_emoji_is_pillows(font: ImageFont.FreeTypeFont, text: str, align: str) -> None:
    expected = Image.new("RGBA", (600, 160), (30, 60, 90, 255))
    ImageDraw.Draw(expected).text(
        (10, 5), text, fill="white", font=font, align=align, stroke_width=3, stroke_fill="black"
    )
    actual = Image.new("RGBA", (600, 160), (30, 60, 90, 255))
    draw_text(
        actual, (10, 5), text, font, fill="white", align=align, stroke_width=3, stroke_fill="black"
    )
    assert actual.tobytes() == expected.tobytes()
    pillow = ImageDraw.Draw(Image.new("L", (1, 1))).multiline_textbbox(
        (0, 0), text, font, spacing=4, align=align, stroke_width=3
    )
    assert text_bbox(text, font, stroke_width=3, align=align) == pillow


def test_an_emoji_is_drawn_in_colour(font: ImageFont.FreeTypeFont, emoji_font: Path) -> None:
    grey = (128, 128, 128, 255)
    plain, with_emoji = Image.new("RGBA", (500, 120), grey), Image.new("RGBA", (500, 120), grey)
    draw_text(plain, (10, 10), "LOL", font, fill="white", stroke_width=2, stroke_fill="black")
    draw_text(
        with_emoji, (10, 10), "LOL 😂", font, fill="white", stroke_width=2, stroke_fill="black"
    )
    assert saturated_pixels(plain) == 0
    assert saturated_pixels(with_emoji) > 300  # the yellow face
    # The text before the emoji is where Pillow puts it.
    edge = 10 + int(font.getlength("LOL "))
    assert np.array_equal(np.asarray(with_emoji)[:, :edge], np.asarray(plain)[:, :edge])


def test_emoji_are_sized_to_the_line_and_measured(
    font: ImageFont.FreeTypeFont, emoji_font: Path
) -> None:
    _, top, right, bottom = text_bbox("A😂", font)
    assert right - font.getlength("A") == pytest.approx(round(48 * 0.8) * 136 / 128, abs=2)
    assert bottom - top <= 48 * 1.1
    two = text_bbox("😂\n😂", font)
    assert two[3] - two[1] > 48  # the second line is a line lower
    layer = Image.new("RGBA", (300, 200))
    draw_text(layer, (0, 0), "A😂\nB🔥", font, fill="white")
    ink = layer.getbbox()
    assert ink is not None
    box = text_bbox("A😂\nB🔥", font)
    assert box[0] - 1 <= ink[0] and ink[2] <= box[2] + 1 and ink[3] <= box[3] + 1


def test_emoji_off_the_edge_are_clipped(font: ImageFont.FreeTypeFont, emoji_font: Path) -> None:
    for image in (Image.new("RGBA", (40, 30)), Image.new("RGB", (40, 30))):
        draw_text(image, (-20, -15), "😂😂", font, fill="white")
        assert saturated_pixels(image) > 0


def test_without_the_emoji_font_emoji_use_the_text_font(
    font: ImageFont.FreeTypeFont,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="glitchzap.meme.emoji"):
        assert find_emoji_font((tmp_path,)) is None
    assert "fonts-noto-color-emoji" in caplog.text
    monkeypatch.setattr(emoji_module, "find_emoji_font", lambda: None)
    expected = Image.new("RGBA", (300, 80))
    ImageDraw.Draw(expected).text((0, 0), "ok 😂", fill="white", font=font)
    actual = Image.new("RGBA", (300, 80))
    draw_text(actual, (0, 0), "ok 😂", font, fill="white")
    assert actual.tobytes() == expected.tobytes()
