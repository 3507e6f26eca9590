"""Colour emoji in captions, as memegen draws them (pilmoji with `emoji_scale_factor=0.8`).

Pillow draws a caption's text with its own font, where emoji come out as empty boxes or
monochrome outlines. Here each line is split into runs of text and of emoji: text runs are
drawn by Pillow exactly as `ImageDraw.text` would, and each emoji is pasted as a colour bitmap
from Noto Color Emoji (Debian's fonts-noto-color-emoji), scaled to the line. Text without emoji
goes straight to Pillow, so it is byte-identical to `ImageDraw.text`. Without the emoji font,
emoji are drawn with the text font (one log line).

Noto Color Emoji is a CBDT bitmap font: FreeType loads it only at its strike size (109), so
each emoji is drawn once at that size and scaled; the scaled bitmaps live in a small LRU.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from glitchzap.meme.fonts import SYSTEM_FONT_DIRS

EMOJI_FONT_FILES = ("NotoColorEmoji.ttf",)
EMOJI_STRIKE_SIZE = 109  # the only size a CBDT font loads at
EMOJI_SCALE = 0.8  # emoji width / font size, memegen's pilmoji emoji_scale_factor
# Single code points below this (©, ®, ™, ‼, arrows) are emoji only by variation selector:
# in a caption they are text, drawn in the caption's font.
FIRST_PICTOGRAPH = 0x2300

log = logging.getLogger(__name__)
_Ink = str | int | tuple[int, ...] | None
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class _Run:
    text: str
    is_emoji: bool


def emojize(text: str) -> str:
    """`text` with memegen's `:alias:` shortcodes (":thumbsup:") turned into emoji."""
    import emoji

    return str(emoji.emojize(text, language="alias"))


def has_emoji(text: str) -> bool:
    """Whether `text` holds an emoji drawn in colour."""
    return any(run.is_emoji for run in _runs(text))


def only_emoji_line(text: str) -> bool:
    """Whether some line of `text` is emoji and nothing else (memegen `_unsafe_wrap`: a wrap
    that leaves an emoji alone on a line is not used)."""
    for line in text.split("\n"):
        runs = _runs(line.strip())
        if (
            runs
            and any(r.is_emoji for r in runs)
            and all(r.is_emoji or not r.text.strip() for r in runs)
        ):
            return True
    return False


def _runs(line: str) -> list[_Run]:
    """`line` as alternating runs of text and single emoji (an emoji sequence is one run)."""
    if line.isascii():  # the common case, and no emoji is pure ASCII
        return [_Run(line, False)] if line else []
    import emoji

    runs: list[_Run] = []
    start = 0
    for match in emoji.emoji_list(line):
        begin, end = match["match_start"], match["match_end"]
        if end - begin == 1 and ord(line[begin]) < FIRST_PICTOGRAPH:
            continue  # © and friends stay text
        if begin > start:
            runs.append(_Run(line[start:begin], False))
        runs.append(_Run(line[begin:end], True))
        start = end
    if start < len(line):
        runs.append(_Run(line[start:], False))
    return _merge_text_runs(runs)


def _merge_text_runs(runs: list[_Run]) -> list[_Run]:
    merged: list[_Run] = []
    for run in runs:
        if merged and not run.is_emoji and not merged[-1].is_emoji:
            merged[-1] = _Run(merged[-1].text + run.text, False)
        else:
            merged.append(run)
    return merged


@functools.cache
def find_emoji_font(dirs: Sequence[Path] = SYSTEM_FONT_DIRS) -> Path | None:
    """The colour emoji font file under `dirs`, or None (logged once) when none is installed."""
    for directory in dirs:
        for name in EMOJI_FONT_FILES:
            found = sorted(directory.rglob(name)) if directory.is_dir() else []
            if found:
                return found[0]
    log.warning(
        "No colour emoji font (%s): emoji are drawn with the caption's font "
        "(apt-get install fonts-noto-color-emoji)",
        ", ".join(EMOJI_FONT_FILES),
    )
    return None


@functools.cache
def _emoji_font(path: Path) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), EMOJI_STRIKE_SIZE)


@functools.lru_cache(maxsize=256)
def emoji_bitmap(sequence: str, width: int, font_path: Path) -> Image.Image:
    """The emoji `sequence` in colour, RGBA, scaled to `width` px (its height keeps the
    aspect, rounded up as pilmoji does)."""
    font = _emoji_font(font_path)
    left, top, right, bottom = (round(v) for v in font.getbbox(sequence))
    strike = Image.new("RGBA", (max(1, right - left), max(1, bottom - top)))
    ImageDraw.Draw(strike).text((-left, -top), sequence, font=font, embedded_color=True)
    height = max(1, math.ceil(strike.height / strike.width * width))
    return strike.resize((width, height), Image.Resampling.LANCZOS)


def _emoji_width(font: ImageFont.FreeTypeFont) -> int:
    return max(1, round(font.size * EMOJI_SCALE))


def _line_spacing(font: ImageFont.FreeTypeFont, spacing: float, stroke_width: float) -> float:
    """Pillow's multiline line pitch: the bottom of "A" plus stroke and spacing."""
    return font.getbbox("A", stroke_width=stroke_width)[3] + stroke_width + spacing


@dataclass(frozen=True)
class _Placed:
    """A line's text (emoji as spaces) at its origin, or an emoji bitmap at its top-left."""

    text: str
    is_emoji: bool
    x: float
    y: float


def _layout(
    text: str,
    font: ImageFont.FreeTypeFont,
    xy: tuple[float, float],
    spacing: float,
    align: str,
    stroke_width: float,
) -> list[_Placed]:
    """The lines and emoji placed as memegen's pilmoji places them: each line is drawn with
    its emoji replaced by as many spaces as the emoji is wide, and each emoji is pasted at
    the line's ink top, after the text before it."""
    width = _emoji_width(font)
    space = font.getlength(" ") or 1.0
    lines = [_runs(line) for line in text.split("\n")]
    printed = [
        "".join(" " * round(width / space) if run.is_emoji else run.text for run in runs)
        for runs in lines
    ]
    widths = [font.getlength(line) for line in printed]
    widest = max(widths)
    pitch = _line_spacing(font, spacing, stroke_width)
    placed: list[_Placed] = []
    y = xy[1]
    for runs, line, line_width in zip(lines, printed, widths, strict=True):
        shift = {"center": (widest - line_width) / 2, "right": widest - line_width}
        x = xy[0] + shift.get(align, 0.0)
        if line:
            placed.append(_Placed(line, False, x, y))
            # pilmoji reads the line's ink offset; a line of emoji alone has no ink there (its
            # offset is the baseline, which would hang the emoji below the line): use the
            # capitals' top instead.
            left, top = font.getbbox(line)[:2] if line.strip() else (0, font.getbbox("A")[1])
            cursor, line_top = int(x) + left, int(y) + top
            for run in runs:
                if run.is_emoji:
                    placed.append(_Placed(run.text, True, cursor, line_top))
                    cursor += width
                else:
                    cursor += int(font.getlength(run.text))
        y += pitch
    return placed


def _usable(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> Path | None:
    """The emoji font when `text` has emoji to draw in colour with `font`, else None."""
    if not isinstance(font, ImageFont.FreeTypeFont) or not has_emoji(text):
        return None
    return find_emoji_font()


def text_bbox(
    text: str,
    font: ImageFont.FreeTypeFont,
    *,
    spacing: float = 4,
    stroke_width: float = 0,
    align: str = "left",
) -> Box:
    """(left, top, right, bottom) px of what `draw_text` draws at (0, 0); Pillow's
    `multiline_textbbox` when there are no emoji."""
    draw = ImageDraw.Draw(Image.new("L", (1, 1)))
    emoji_font = _usable(text, font)
    if emoji_font is None:
        return draw.multiline_textbbox(
            (0, 0), text, font, spacing=spacing, align=align, stroke_width=stroke_width
        )
    boxes: list[Box] = []
    for item in _layout(text, font, (0, 0), spacing, align, stroke_width):
        if item.is_emoji:
            bitmap = emoji_bitmap(item.text, _emoji_width(font), emoji_font)
            boxes.append((item.x, item.y, item.x + bitmap.width, item.y + bitmap.height))
        elif item.text.strip():
            left, top, right, bottom = draw.textbbox(
                (item.x, item.y), item.text, font, stroke_width=stroke_width
            )
            boxes.append((left, top, right, bottom))
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def draw_text(
    image: Image.Image,
    xy: tuple[float, float],
    text: str,
    font: ImageFont.FreeTypeFont,
    *,
    fill: _Ink,
    spacing: float = 4,
    align: str = "left",
    stroke_width: float = 0,
    stroke_fill: _Ink = None,
) -> None:
    """Draw `text` on `image` in place like `ImageDraw.text`, with emoji in colour."""
    draw = ImageDraw.Draw(image)
    emoji_font = _usable(text, font)
    if emoji_font is None:
        draw.text(
            xy,
            text,
            fill=fill,
            font=font,
            spacing=spacing,
            align=align,
            stroke_width=stroke_width,
            stroke_fill=stroke_fill,
        )
        return
    for item in _layout(text, font, xy, spacing, align, stroke_width):
        if item.is_emoji:
            bitmap = emoji_bitmap(item.text, _emoji_width(font), emoji_font)
            _paste(image, bitmap, round(item.x), round(item.y))
        else:
            draw.text(
                (item.x, item.y),
                item.text,
                fill=fill,
                font=font,
                stroke_width=stroke_width,
                stroke_fill=stroke_fill,
            )


def _paste(image: Image.Image, bitmap: Image.Image, x: int, y: int) -> None:
    """Composite the RGBA `bitmap` over `image` with its top-left at (x, y), clipped."""
    if image.mode != "RGBA":
        image.paste(bitmap, (x, y), bitmap)
        return
    # alpha_composite takes no negative destination: cut the part left of / above the image.
    source = (max(0, -x), max(0, -y))
    if source[0] >= bitmap.width or source[1] >= bitmap.height:
        return
    image.alpha_composite(bitmap, dest=(max(0, x), max(0, y)), source=source)
