"""Meme captions laid out by memegen's rules: one renderer for `/api/meme` and the memegen URLs.

A `TextBox` is memegen's box: anchor and scale as fractions of the image, an angle in
degrees, a case style, a colour, a font and an alignment. Each caption is laid out as
memegen's `get_image_element` does (memegen app/utils/images.py):

- the box is `int(W * scale_x) x int(H * scale_y)` px at `(int(W * anchor_x), int(H * anchor_y))`;
  the largest font size tried is `H / 9` (`H / 4` for a turned box);
- `wrap` keeps the caption on one line when that is at least as large as splitting it in two,
  else splits it in two or three lines at spaces (never inside a word) when those lines fill
  at least 60 % of the box width; a `~n` line break in the URL stays a line break;
- the case style is applied after wrapping (`upper`, `lower`, `none`, memegen's `default`
  capitalisation, `mock` SpongeBob case, seeded so a caption always looks the same);
- the font size is the largest (from the top down to 7 px) whose text fits the box less a
  1/35 and 1/10 margin; the outline is `size / 12` px (1-3) black, 1 px 50 % white around
  black text, 1 px black around `#hex` colours;
- the text is centred in the box by memegen's offsets (lines with descenders sit a little
  higher), drawn into a box-sized layer, turned by the angle and pasted at the anchor.

A caption whose turned layer would poke out of the picture is moved back inside whole (memegen
cuts it at the border); a caption in a box inside the picture is never moved.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageColor, ImageDraw, ImageFont

from glitchzap.errors import InvalidParameters
from glitchzap.meme import emoji
from glitchzap.meme.fonts import FontCache, FontSource
from glitchzap.types import TextBox

MIN_FONT_SIZE = 7  # memegen settings.MINIMUM_FONT_SIZE
WATERMARK_HEIGHT = 20  # memegen settings.WATERMARK_HEIGHT: boxes at the bottom-left move up half
WRAP_FILL = 0.60  # a wrapped layout is kept only when its widest line fills this much of the box
CASE_STYLES = ("upper", "lower", "title", "capitalize", "swapcase")  # str methods memegen calls
MOCK_DIVERSITY = 0.75  # memegen's spongemock.mock(text, diversity_bias=0.75, random_seed=0)

# Named layouts: the boxes captions go into when none are given (one caption per box).
LAYOUTS: dict[str, list[TextBox]] = {
    "default": [TextBox(anchor_y=0.0, scale_y=0.2), TextBox(anchor_y=0.8, scale_y=0.2)],
    "top": [TextBox(anchor_y=0.0, scale_y=0.3)],
    "bottom": [TextBox(anchor_y=0.7, scale_y=0.3)],
    "center": [TextBox(anchor_y=0.35, scale_y=0.3)],
}

_DROPPED = ("Cc", "Cs", "Cf", "Co", "Cn")
_MEASURE = ImageDraw.Draw(Image.new("L", (1, 1)))


def layout_boxes(layout: str) -> list[TextBox]:
    """The boxes of a named layout."""
    try:
        return [box.model_copy() for box in LAYOUTS[layout]]
    except KeyError:
        raise InvalidParameters(
            f"Unknown layout {layout!r}: use one of {', '.join(LAYOUTS)}"
        ) from None


def clean_text(text: str) -> str:
    """The caption with control and invisible characters dropped and other white space made
    plain spaces; line breaks stay (memegen's `~n`)."""
    kept = []
    for ch in text:
        if ch == "\n":
            kept.append(ch)
        elif ch.isspace():
            kept.append(" ")
        elif unicodedata.category(ch) not in _DROPPED:
            kept.append(ch)
    return "".join(kept)


def mock_case(text: str, *, diversity: float = MOCK_DIVERSITY, seed: int = 0) -> str:
    """SpongeBob case as memegen draws it (spongemock's walk, with its own seeded generator:
    the same caption always comes out the same, and the process's `random` is left alone)."""
    rng = random.Random(seed)
    upper, chance = True, 0.5
    out = []
    for ch in text:
        if ch.isalpha():
            if rng.random() < chance:
                upper, chance = not upper, 0.5
            ch = ch.upper() if upper else ch.lower()
            chance += (1 - chance) * diversity
        out.append(ch)
    return "".join(out)


def style_text(text: str, style: str, lines: Sequence[str] = ()) -> str:
    """`text` in a memegen case style (memegen app/models/text.py `Text.stylize`); `lines`
    are all the meme's captions, which memegen's `default` style looks at."""
    text = emoji.emojize(text)
    shown = [line for line in (lines or [text]) if line.strip()]
    if style == "none":
        return text
    if style == "default":
        all_lower = all(line.islower() for line in shown)
        sentence = any(line.endswith((".", "?", "!")) for line in shown)
        if text.islower() and (all_lower or sentence):
            text = text.capitalize()
        return re.sub(r"\bi\b", "I", text)
    if style == "mock":
        return mock_case(text)
    if style in CASE_STYLES:
        return str(getattr(text, style)())
    return text


def parse_color(color: str) -> tuple[int, int, int]:
    """An (r, g, b) tuple for a CSS colour name, #rgb, #rrggbb or #rrggbbaa."""
    try:
        rgb = ImageColor.getrgb(color)
    except ValueError:
        raise InvalidParameters(f"Unknown colour {color!r}: use a name or #rrggbb") from None
    return rgb[0], rgb[1], rgb[2]


def stroke_width_for(size: int) -> int:
    """Outline width in px for a font size in px (memegen `get_stroke_width`)."""
    return min(3, max(1, int(size / 12)))


def stroke_style(color: str, width: int, *, thick: bool = False) -> tuple[int, str]:
    """(outline width, outline colour) for text in `color` (memegen `Text.get_stroke`)."""
    if color == "black":
        return 1, "#FFFFFF7F"
    if "#" in color:
        outline = "#000000"
        if len(color) >= len(outline) + 2:  # #rrggbbaa: the outline shares the text's alpha
            outline += color[-2:]
        return (2 if thick else 1), outline
    return width, "black"


def text_size(text: str, font: ImageFont.FreeTypeFont) -> tuple[int, int]:
    """(right, bottom) of the text drawn at (0, 0) plus the outline (memegen `get_text_size`)."""
    _, _, right, bottom = _MEASURE.textbbox((0, 0), text, font)  # emoji as memegen measures
    stroke = stroke_width_for(int(font.size))
    return int(right) + stroke, int(bottom) + stroke


def _ink_origin(text: str, font: ImageFont.FreeTypeFont) -> tuple[float, float]:
    """Where the first ink of `text` starts (x, y) relative to its origin. memegen reads it
    from `font.getbbox` of the whole caption; its line breaks add no ink (and Pillow's text
    layout refuses them here), so they are left out."""
    x_offset, y_offset, _, _ = font.getbbox(text.replace("\n", ""))
    return float(x_offset), float(y_offset)


def _fits(text: str, font: ImageFont.FreeTypeFont, limit: tuple[float, float]) -> bool:
    width, height = text_size(text, font)
    x_offset, y_offset = _ink_origin(text, font)
    return width - x_offset <= limit[0] and height - y_offset <= limit[1]


def fit_font(
    source: FontSource,
    fonts: FontCache,
    text: str,
    box: tuple[int, int],
    max_font_size: int,
) -> ImageFont.FreeTypeFont:
    """The largest size from `max_font_size` down to 7 px at which `text` fits `box` less a
    1/35 and 1/10 margin; 7 px when none does (memegen `get_font`).

    memegen tries every size from the top; this bisects (fitting is monotonic but for a pixel
    of hinting) and then tries the three sizes above the answer, so it picks what memegen does.
    """
    limit = (box[0] - box[0] / 35, box[1] - box[1] / 10)
    top = max(MIN_FONT_SIZE, max_font_size)

    def fits(size: int) -> bool:
        return _fits(text, fonts.get(source, size), limit)

    low, high = MIN_FONT_SIZE - 1, top + 1  # fits(low) assumed, fits(high) not
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    best = max(low, MIN_FONT_SIZE)
    for size in range(min(top, best + 3), best, -1):
        if fits(size):
            best = size
            break
    return fonts.get(source, best)


def split_in_two(line: str) -> str:
    """`line` broken at the space nearest its middle (memegen `split_2`); as is without one."""
    middle = len(line) // 2 - 1
    for offset in range(len(line) // 4):
        for index in (middle - offset, middle + offset):
            if line[index] == " ":
                return line[:index].strip() + "\n" + line[index:].strip()
    return line


def split_in_three(line: str) -> str:
    """`line` in three lines of about a third of its characters each (memegen `split_3`)."""
    most = len(line) / 3
    rows = ["", "", ""]
    index = 0
    for word in line.split(" "):
        if len(rows[index]) + len(word) * 0.7 > most and index < 2:
            index += 1
        rows[index] += word + " "
    return "\n".join(rows).strip()


def wrap(
    source: FontSource, fonts: FontCache, line: str, box: tuple[int, int], max_font_size: int
) -> str:
    """`line` on one, two or three lines, whichever memegen's `wrap` picks."""
    one, two, three = line, split_in_two(line), split_in_three(line)
    font_1 = fit_font(source, fonts, one, box, max_font_size)
    font_2 = fit_font(source, fonts, two, box, max_font_size)
    if font_1.size == font_2.size and font_2.size <= MIN_FONT_SIZE:
        return two
    if font_1.size >= font_2.size:
        return one
    font_3 = fit_font(source, fonts, three, box, max_font_size)
    if not emoji.only_emoji_line(three) and text_size(three, font_3)[0] >= box[0] * WRAP_FILL:
        return three
    if text_size(two, font_2)[0] >= box[0] * WRAP_FILL:
        return two
    return one


def text_offset(
    text: str,
    font: ImageFont.FreeTypeFont,
    box: tuple[int, int],
    align: str = "center",
    *,
    watermark: bool = False,
) -> tuple[float, float]:
    """Where the text's origin goes, negated, to sit centred in `box` (memegen
    `get_text_offset`: multi-line and Impact captions a little lower, descenders higher)."""
    width, height = text_size(text, font)
    stroke = stroke_width_for(int(font.size))
    x_offset, y_offset = _ink_origin(text, font)
    x, y = x_offset - stroke, y_offset - stroke
    rows = text.split("\n")
    family = font.getname()[0] or ""
    if len(rows) >= 3 or (len(rows) == 2 and ("Impact" in family or "Anton" in family)):
        y_adjust = 1.1
    else:
        y_adjust = 1 + (3 - len(rows)) * 0.25
    if align != "left":
        x -= (box[0] - width) / 2
    y -= (box[1] - height / y_adjust) / 2
    if any(letter in rows[-1] for letter in "gjpqy"):
        y += height // 20
    elif watermark:
        y += 2
    return x, y


@dataclass(frozen=True)
class PlacedCaption:
    """A caption drawn once and placed: its inked RGBA pixels (float32, h x w x 4) and the
    top-left corner (x, y, px) they go to (parts outside the picture are cut when composited).
    Compositing it on any frame of that size puts the caption at the same place, so an
    animation's captions never jump."""

    rgba: np.ndarray
    x: int
    y: int


def composite(image: np.ndarray, placed: PlacedCaption) -> None:
    """Alpha-blend a placed caption onto `image` in place (cut at the picture's border)."""
    rgba = placed.rgba
    height, width = image.shape[:2]
    x0, y0 = max(placed.x, 0), max(placed.y, 0)
    x1 = min(placed.x + rgba.shape[1], width)
    y1 = min(placed.y + rgba.shape[0], height)
    if x0 >= x1 or y0 >= y1:
        return
    part = rgba[y0 - placed.y : y1 - placed.y, x0 - placed.x : x1 - placed.x]
    alpha = part[..., 3:4] / 255.0
    region = image[y0:y1, x0:x1]
    blended = region[..., :3] * (1 - alpha) + part[..., :3] * alpha
    region[..., :3] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    if image.shape[2] == 4:
        region[..., 3] = np.maximum(region[..., 3], part[..., 3].astype(np.uint8))


def box_pixels(box: TextBox, image_width: int, image_height: int) -> tuple[int, int, int, int]:
    """(left, top, width, height) of a box in pixels, as memegen truncates them."""
    left = int(image_width * box.anchor_x)
    top = int(image_height * box.anchor_y)
    width = max(1, int(image_width * box.scale_x))
    height = max(1, int(image_height * box.scale_y))
    return left, top, width, height


def _inside(layer: Image.Image, x: int, y: int, bounds: tuple[int, int]) -> tuple[int, int]:
    """(x, y) moved so the layer's ink lies inside the picture when it would poke out."""
    ink = layer.getchannel("A").getbbox()
    if ink is None:
        return x, y
    width, height = bounds
    left, top, right, bottom = x + ink[0], y + ink[1], x + ink[2], y + ink[3]
    if right - left <= width:
        x += max(0, -left) - max(0, right - width)
    if bottom - top <= height:
        y += max(0, -top) - max(0, bottom - height)
    return x, y


def draw_caption_layer(
    text: str,
    font: ImageFont.FreeTypeFont,
    box: tuple[int, int],
    *,
    color: str,
    align: str,
    stroke: tuple[int, str],
    watermark: bool = False,
) -> Image.Image:
    """A transparent box-sized layer with `text` placed by memegen's offsets."""
    offset = text_offset(text, font, box, align, watermark=watermark)
    layer = Image.new("RGBA", box)
    rows = text.count("\n") + 1
    emoji.draw_text(
        layer,
        (-offset[0], -offset[1]),
        text,
        font,
        fill=color,
        spacing=-offset[1] / (rows * 2),
        align=align,
        stroke_width=stroke[0],
        stroke_fill=stroke[1],
    )
    return layer


def place_caption(
    text: str,
    box: TextBox,
    source: FontSource,
    fonts: FontCache,
    size: tuple[int, int],
    *,
    lines: Sequence[str] = (),
    watermark: bool = False,
) -> PlacedCaption | None:
    """One caption laid out in `box` of an image of `size` (w, h) and drawn; None when blank.
    `lines` are all the meme's captions (memegen's `default` case style reads them);
    `watermark` moves a bottom-left box up to make room for a watermark, as memegen does."""
    text = clean_text(text)
    if not text.strip():
        return None
    parse_color(box.color)
    image_w, image_h = size
    x, y, box_w, box_h = box_pixels(box, image_w, image_h)
    if watermark and box.anchor_x <= 0.1 and box.anchor_y >= 0.8:
        y -= WATERMARK_HEIGHT // 2
    max_font_size = int(image_h / (4 if box.angle else 9))
    wrapped = wrap(source, fonts, text, (box_w, box_h), max_font_size)
    styled = style_text(wrapped, box.style, lines or [text])
    font = fit_font(source, fonts, styled, (box_w, box_h), max_font_size)
    stroke = stroke_style(box.color, stroke_width_for(int(font.size)))
    layer = draw_caption_layer(
        styled, font, (box_w, box_h), color=box.color, align=box.align, stroke=stroke
    )
    if box.angle % 360:
        layer = layer.rotate(box.angle, resample=Image.Resampling.BICUBIC, expand=True)
        x, y = _inside(layer, x, y, size)
    ink = layer.getchannel("A").getbbox()
    if ink is None:
        return None
    # Only the inked part is kept and composited (a box is mostly transparent).
    layer = layer.crop(ink)
    return PlacedCaption(np.asarray(layer, dtype=np.float32), x + ink[0], y + ink[1])


def place_captions(
    size: tuple[int, int],
    captions: Sequence[str],
    boxes: Sequence[TextBox],
    *,
    font: FontSource,
    fonts: FontCache,
    box_fonts: dict[str, FontSource] | None = None,
    watermark: bool = False,
) -> list[PlacedCaption | None]:
    """Caption i laid out in box i of an image of `size` (w, h) and drawn, once: what
    `draw_placed` composites on each frame (None for a blank caption). A box naming a font
    in `box_fonts` uses it, any other `font`."""
    if len(captions) > len(boxes):
        raise InvalidParameters(
            f"{len(captions)} captions but only {len(boxes)} text boxes in this layout"
        )
    chosen = box_fonts or {}
    return [
        place_caption(
            text,
            box,
            chosen.get(box.font or "", font),
            fonts,
            size,
            lines=captions,
            watermark=watermark,
        )
        for text, box in zip(captions, boxes, strict=False)
    ]


def draw_placed(image: np.ndarray, placed: Sequence[PlacedCaption | None]) -> np.ndarray:
    """A copy of `image` with the placed captions composited (None entries skipped)."""
    out = image.copy()
    for caption in placed:
        if caption is not None:
            composite(out, caption)
    return out


def render_captions(
    image: np.ndarray,
    captions: Sequence[str],
    boxes: Sequence[TextBox],
    *,
    font: FontSource,
    fonts: FontCache,
    box_fonts: dict[str, FontSource] | None = None,
) -> np.ndarray:
    """A copy of `image` with caption i drawn in box i (blank captions are skipped)."""
    check_image(image)
    size = (image.shape[1], image.shape[0])
    placed = place_captions(size, captions, boxes, font=font, fonts=fonts, box_fonts=box_fonts)
    return draw_placed(image, placed)


def check_image(image: np.ndarray) -> None:
    """InvalidParameters unless `image` is H x W x 3|4 uint8."""
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
        raise InvalidParameters(f"Expected an H x W x 3|4 uint8 image, got {image.shape}")
