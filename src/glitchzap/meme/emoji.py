"""Interim: text measuring and drawing through Pillow (colour emoji arrive with the fonts work)."""

from __future__ import annotations

from typing import Any

from PIL import Image, ImageDraw, ImageFont

_MEASURE = ImageDraw.Draw(Image.new("RGB", (1, 1)))


def emojize(text: str) -> str:
    return text


def only_emoji_line(text: str) -> bool:
    return False


def text_bbox(
    text: str, font: ImageFont.FreeTypeFont, *, spacing: float = 4, stroke_width: int = 0
) -> tuple[float, float, float, float]:
    return _MEASURE.textbbox((0, 0), text, font, spacing=spacing, stroke_width=stroke_width)


def draw_text(
    image: Image.Image, xy: tuple[float, float], text: str, font: Any, **kwargs: Any
) -> None:
    ImageDraw.Draw(image).text(xy, text, font=font, **kwargs)
