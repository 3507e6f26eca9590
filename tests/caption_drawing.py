"""The caption drawing glitchzap used before it followed memegen's layout, in Liberation Sans
Bold: kept only to draw the captioned test memes of the OCR, caption-region and inpainting
tests (`meme_cases.py`, `meme_variants.py`, `meme_ocr_cases.py`) exactly as those tests were
calibrated and judged. The product's renderer is `glitchzap.meme.captions`."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from glitchzap.errors import InvalidParameters
from glitchzap.meme.captions import PlacedCaption, composite, parse_color
from glitchzap.meme.fonts import FontCache, FontSource, resolve_font
from glitchzap.types import TextBox

STROKE_RATIO = 0.07
LINE_SPACING = 1.0
MIN_FONT_SIZE = 8
MAX_LINES = 3
_REF_SIZE = 100


@dataclass(frozen=True)
class FittedText:
    """A caption wrapped into lines at a font size (px) with its outline width (px)."""

    lines: tuple[str, ...]
    size: int
    stroke_width: int


def outline_color(fill: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black around light text, white around dark text."""
    luma = 0.299 * fill[0] + 0.587 * fill[1] + 0.114 * fill[2]
    return (0, 0, 0) if luma >= 100 else (255, 255, 255)


class _Measurer:
    """Widths at the reference size, memoised: wrapping at any size is then arithmetic."""

    def __init__(self, font: ImageFont.FreeTypeFont) -> None:
        self.font = font
        self.cache: dict[str, float] = {}

    def __getitem__(self, text: str) -> float:
        width = self.cache.get(text)
        if width is None:
            width = self.cache[text] = float(self.font.getlength(text))
        return width


def _split_long_word(word: str, widths: _Measurer, limit: float) -> list[str]:
    """Pieces of `word` no wider than `limit` (reference units), cut between characters."""
    pieces, current = [], ""
    for ch in word:
        if current and widths[current + ch] > limit:
            pieces.append(current)
            current = ""
        current += ch
    return [*pieces, current] if current else pieces


def _wrap(words: Sequence[str], measure: _Measurer, limit: float) -> list[str]:
    """Greedy wrap of `words` into lines no wider than `limit` (reference units)."""
    lines: list[str] = []
    current = ""
    for word in words:
        pieces = [word] if measure[word] <= limit else _split_long_word(word, measure, limit)
        for piece in pieces:
            candidate = f"{current} {piece}" if current else piece
            if current and measure[candidate] > limit:
                lines.append(current)
                current = piece
            else:
                current = candidate
    return [*lines, current] if current else lines


def _line_height(font: ImageFont.FreeTypeFont) -> float:
    ascent, descent = font.getmetrics()
    return float(ascent + descent)


def fit_text(
    text: str,
    source: FontSource,
    width: int,
    height: int,
    fonts: FontCache,
    *,
    max_lines: int = MAX_LINES,
) -> FittedText:
    """The largest size whose wrap into at most `max_lines` lines fits width x height px."""
    measure = _Measurer(fonts.get(source, _REF_SIZE))
    line_ref = _line_height(measure.font) * LINE_SPACING
    words = text.split()

    def wrap_at(size: int, lines_allowed: int) -> list[str] | None:
        stroke = stroke_width_for(size)
        scale = size / _REF_SIZE
        # 2% slack: hinting makes real widths drift a little from the scaled reference.
        limit = (width - 2 * stroke) / scale * 0.98
        if limit <= 0:
            return None
        lines = _wrap(words, measure, limit)
        tall = len(lines) * line_ref * scale + 2 * stroke
        return lines if len(lines) <= lines_allowed and tall <= height else None

    for lines_allowed in (max_lines, 10_000):
        low, high, best = MIN_FONT_SIZE, max(MIN_FONT_SIZE, height), None
        while low <= high:
            mid = (low + high) // 2
            lines = wrap_at(mid, lines_allowed)
            if lines is not None:
                best, low = (mid, lines), mid + 1
            else:
                high = mid - 1
        if best is not None:
            return _shrink_to_fit(best[0], words, source, width, height, fonts, lines_allowed)
    # Not even the smallest size fits: draw at it and let the box clip the overflow.
    lines = _wrap(words, measure, width / (MIN_FONT_SIZE / _REF_SIZE))
    return FittedText(tuple(lines), MIN_FONT_SIZE, stroke_width_for(MIN_FONT_SIZE))


def _shrink_to_fit(
    size: int,
    words: Sequence[str],
    source: FontSource,
    width: int,
    height: int,
    fonts: FontCache,
    lines_allowed: int,
) -> FittedText:
    """Step down from the size the scaled reference chose until the real font fits too
    (hinting and rounded metrics differ from the linear estimate by a pixel or two)."""
    while True:
        font, stroke = fonts.get(source, size), stroke_width_for(size)
        lines = _wrap(words, _Measurer(font), width - 2 * stroke)
        tall = len(lines) * _line_height(font) * LINE_SPACING + 2 * stroke
        if size <= MIN_FONT_SIZE or (len(lines) <= lines_allowed and tall <= height):
            return FittedText(tuple(lines), size, stroke)
        size -= 1


def stroke_width_for(size: int) -> int:
    """Outline width in px for a font size in px."""
    return max(1, round(size * STROKE_RATIO))


def box_pixels(box: TextBox, image_width: int, image_height: int) -> tuple[int, int, int, int]:
    """(left, top, width, height) of a box in pixels, clamped inside the image."""
    left = min(round(box.anchor_x * image_width), image_width - 1)
    top = min(round(box.anchor_y * image_height), image_height - 1)
    width = max(1, min(round(box.scale_x * image_width), image_width - left))
    height = max(1, min(round(box.scale_y * image_height), image_height - top))
    return left, top, width, height


def draw_text_layer(
    fitted: FittedText,
    font: ImageFont.FreeTypeFont,
    size: tuple[int, int],
    *,
    color: tuple[int, int, int],
    align: str,
) -> Image.Image:
    """An RGBA layer of `size` with the fitted lines centred vertically."""
    width, height = size
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    stroke = fitted.stroke_width
    pitch = _line_height(font) * LINE_SPACING
    top = (height - pitch * len(fitted.lines)) / 2
    for i, line in enumerate(fitted.lines):
        line_width = font.getlength(line)
        x: float
        if align == "left":
            x = stroke
        elif align == "right":
            x = width - stroke - line_width
        else:
            x = (width - line_width) / 2
        draw.text(
            (x, top + i * pitch),
            line,
            font=font,
            fill=(*color, 255),
            stroke_width=stroke,
            stroke_fill=(*outline_color(color), 255),
        )
    return layer


def _place(
    layer: Image.Image, center: tuple[float, float], bounds: tuple[int, int]
) -> tuple[Image.Image, int, int]:
    """Crop the layer to its ink and move it so it lies inside the image; (layer, x, y)."""
    ink = layer.getchannel("A").getbbox()
    if ink is None:
        return layer, 0, 0
    cx = center[0] - layer.width / 2 + (ink[0] + ink[2]) / 2
    cy = center[1] - layer.height / 2 + (ink[1] + ink[3]) / 2
    layer = layer.crop(ink)
    image_width, image_height = bounds
    if layer.width > image_width or layer.height > image_height:
        excess_x = max(0, layer.width - image_width) // 2
        excess_y = max(0, layer.height - image_height) // 2
        layer = layer.crop(
            (
                excess_x,
                excess_y,
                excess_x + min(layer.width, image_width),
                excess_y + min(layer.height, image_height),
            )
        )
    x = round(cx - layer.width / 2)
    y = round(cy - layer.height / 2)
    x = min(max(x, 0), image_width - layer.width)
    y = min(max(y, 0), image_height - layer.height)
    return layer, x, y


def clean_text(text: str, style: str = "none") -> str:
    """The caption with control characters dropped, spaces collapsed and case styled."""
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cs", "Cf", "Co", "Cn")
    )
    kept = " ".join(kept.split())
    if style == "upper":
        return kept.upper()
    if style == "lower":
        return kept.lower()
    if style == "mock":
        return "".join(ch.upper() if i % 2 else ch.lower() for i, ch in enumerate(kept))
    return kept


def place_caption(
    text: str, box: TextBox, source: FontSource, fonts: FontCache, size: tuple[int, int]
) -> PlacedCaption | None:
    """One caption fitted into `box` of an image of `size` (w, h) and drawn; None when empty."""
    text = clean_text(text, box.style)
    if not text:
        return None
    img_w, img_h = size
    left, top, width, height = box_pixels(box, img_w, img_h)
    pad = round(min(width, height) * 0.03)
    inner_w, inner_h = max(1, width - 2 * pad), max(1, height - 2 * pad)
    fitted = fit_text(text, source, inner_w, inner_h, fonts)
    font = fonts.get(source, fitted.size)
    layer = draw_text_layer(
        fitted, font, (inner_w, inner_h), color=parse_color(box.color), align=box.align
    )
    if box.angle % 360:
        layer = layer.rotate(box.angle, resample=Image.Resampling.BICUBIC, expand=True)
    layer, x, y = _place(layer, (left + width / 2, top + height / 2), (img_w, img_h))
    return PlacedCaption(np.asarray(layer, dtype=np.float32), x, y)


def render_captions(
    image: np.ndarray,
    captions: Sequence[str],
    boxes: Sequence[TextBox],
    *,
    font: FontSource | None = None,
    fonts: FontCache,
) -> np.ndarray:
    """A copy of `image` with caption i drawn in box i, in `font` (the legacy face when None)."""
    source = font or legacy_font()
    out = image.copy()
    size = (image.shape[1], image.shape[0])
    for text, box in zip(captions, boxes, strict=False):
        placed = place_caption(text, box, source, fonts, size)
        if placed is not None:
            composite(out, placed)
    return out


def legacy_font() -> FontSource:
    """The face the test memes were drawn in (Liberation Sans Bold where installed)."""
    try:
        return resolve_font("Liberation Sans Bold")
    except InvalidParameters:
        return resolve_font()
