"""Captioned memes with known text, for the OCR quality tests and bench/meme.py --ocr-quality.

Pictures: scikit-image's colour photos, every 23rd photo of ../shared/gt-davis345 and every
6th memegen template picture (../shared/memegen-templates), each scaled to 800 px on its
longest side; the shared sets add cases only when present. Each picture gets every variant,
captions drawn memegen-style by our own renderer:

- plain: upper-case captions in the default top and bottom boxes;
- small-bottom: a short top caption and a long bottom line in a box 2.5-4.5 % of the height;
- busy: the plain captions over the picture blended with a high-contrast texture;
- thin-outline: white lettering with a 1-2 px outline (under a third of memegen's) on the
  picture washed towards white;
- banner: lower-case black text in a regular face on a white banner above the picture;
- jpeg60: the plain meme at 60 % and JPEG quality 70.

Split: a case belongs to the tuning half when its picture's position in the sorted list is
even, to the held-out half when odd; the two halves also draw captions from different halves
of CAPTION_POOL, so held-out cases have neither pictures nor captions seen while tuning.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from glitchzap.io import encode_image, load_image
from glitchzap.meme.captions import _place, box_pixels, draw_text_layer, fit_text
from glitchzap.meme.fonts import SYSTEM_FONT_DIRS, FontCache, FontSource, resolve_font
from glitchzap.types import TextBox

FONTS = FontCache(32)
SHARED = Path(__file__).resolve().parents[2] / "shared"
MEMEGEN = SHARED / "memegen-templates"
DAVIS = SHARED / "gt-davis345" / "images"
SKIMAGE_COLOUR = ("astronaut", "chelsea", "coffee", "rocket", "cat", "immunohistochemistry")
TEXTURES = ("gravel", "grass", "brick")  # scikit-image's busy grey textures
VARIANTS = ("plain", "small-bottom", "busy", "thin-outline", "banner", "jpeg60")
LONGEST = 800

# Caption pairs (top, bottom); even positions caption tuning cases, odd ones held-out cases.
CAPTION_POOL = (
    ("when the coffee kicks in", "at five in the afternoon"),
    ("nobody asked", "but here we are"),
    ("me pretending to work", "while the boss walks by"),
    ("that feeling when", "the wifi comes back"),
    ("one simply does not", "skip breakfast twice"),
    ("is this a pigeon?", "no it's a bug report"),
    ("they said it was easy", "they lied"),
    ("waiting for the bus", "in the rain again"),
    ("why walk", "when you can run late"),
    ("ten out of ten", "would nap again"),
    ("my plants when", "i forget to water them"),
    ("first day at the gym", "last day at the gym"),
    ("when mom says", "we have food at home"),
    ("i have 99 problems", "and sleep is all of them"),
    ("keep calm", "and carry snacks"),
    ("brace yourselves", "the holidays are coming"),
    ("not today", "said the alarm clock"),
    ("that's a lot of words", "for a tuesday"),
    ("you had one job", "just one"),
    ("everyone gangsta", "until the printer jams"),
    ("said no one ever", "in the history of mondays"),
    ("when you finally find", "the other sock"),
    ("shut up and take", "my money"),
    ("so you're telling me", "there is no dessert"),
)


Rect = tuple[int, int, int, int]  # x, y, w, h in px


@dataclass(frozen=True)
class OcrCase:
    """One captioned picture: its name, variant, half, pixels, the text drawn on it (top to
    bottom, case styled) and the rectangles the captions cover."""

    name: str
    variant: str
    held_out: bool
    image: np.ndarray
    lines: tuple[str, ...]
    rects: tuple[Rect, ...]


def _fit(image: np.ndarray, longest: int = LONGEST) -> np.ndarray:
    image = image[..., :3] if image.ndim == 3 else np.stack([image] * 3, axis=-1)
    scale = longest / max(image.shape[:2])
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    resized = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(resized, dtype=np.uint8)


def pictures() -> list[tuple[str, np.ndarray]]:
    """(name, RGB picture at LONGEST px), sorted by name."""
    from skimage import data

    found = [(f"skimage-{n}", _fit(getattr(data, n)())) for n in SKIMAGE_COLOUR]
    if DAVIS.is_dir():
        davis = sorted(DAVIS.glob("*.jpg"))[::23]
        found += [(f"davis-{p.stem}", _fit(load_image(p))) for p in davis]
    if MEMEGEN.is_dir():
        dirs = sorted(d for d in MEMEGEN.iterdir() if any(d.glob("default.*")))[::6]
        found += [(f"memegen-{d.name}", _fit(load_image(next(d.glob("default.*"))))) for d in dirs]
    return sorted(found, key=lambda item: item[0])


def draw(
    image: np.ndarray, captions: tuple[str, ...], boxes: list[TextBox], outline: float | None = None
) -> tuple[np.ndarray, tuple[Rect, ...]]:
    """`image` with white captions in `boxes` (outline width per px of font size: memegen's
    when None), and the rectangles they cover."""
    out = image.copy()
    # fonts_dir=None: the system meme face the OCR/erase rules were tuned on, not memegen's.
    source = resolve_font(fonts_dir=None)
    height, width = image.shape[:2]
    rects = []
    for text, box in zip(captions, boxes, strict=True):
        left, top, w, h = box_pixels(box, width, height)
        fitted = fit_text(text.upper(), source, w, h, FONTS)
        if outline is not None:
            fitted = dataclasses.replace(fitted, stroke_width=max(1, round(fitted.size * outline)))
        font = FONTS.get(source, fitted.size)
        layer = draw_text_layer(fitted, font, (w, h), color=(255, 255, 255), align="center")
        layer, x, y = _place(layer, (left + w / 2, top + h / 2), (width, height))
        canvas = Image.fromarray(out)
        canvas.paste(layer, (x, y), layer)
        out = np.asarray(canvas).copy()
        rects.append((x, y, layer.width, layer.height))
    return out, tuple(rects)


def busy(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`image` blended with a contrast-stretched scikit-image texture (three parts in four)."""
    from skimage import data

    texture = getattr(data, TEXTURES[int(rng.integers(len(TEXTURES)))])()
    texture = cv2.resize(texture, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_AREA)
    texture = cv2.normalize(texture, None, 0, 255, cv2.NORM_MINMAX).astype(np.float32)
    mixed = image.astype(np.float32) * 0.25 + texture[..., None] * 0.75
    return np.clip(mixed, 0, 255).astype(np.uint8)


def light(image: np.ndarray) -> np.ndarray:
    """`image` washed towards white (a bright sky, a white wall) so white letters lean on
    their outline."""
    return (image.astype(np.uint16) // 2 + 110).astype(np.uint8)


def banner_font() -> FontSource:
    """A regular (not bold) sans face when the system has one, else the default font."""
    for directory in SYSTEM_FONT_DIRS:
        for name in ("LiberationSans-Regular.ttf", "DejaVuSans.ttf"):
            found = sorted(directory.rglob(name)) if directory.is_dir() else []
            if found:
                return resolve_font(str(found[0]))
    return resolve_font(fonts_dir=None)


def banner(image: np.ndarray, text: str) -> tuple[np.ndarray, tuple[Rect, ...]]:
    """A white banner with `text` in black regular letters (two or three lines) above the
    picture, and the banner's rectangle."""
    height, width = image.shape[:2]
    band_h = round(height * 0.16)
    source = banner_font()
    fitted = fit_text(text, source, round(width * 0.9), round(band_h * 0.85), FONTS)
    font = FONTS.get(source, fitted.size)
    canvas = Image.new("RGB", (width, band_h), (255, 255, 255))
    draw_ = ImageDraw.Draw(canvas)
    pitch = fitted.size * 1.15
    top = (band_h - pitch * len(fitted.lines)) / 2
    for i, line in enumerate(fitted.lines):
        draw_.text((width * 0.05, top + i * pitch), line, font=font, fill=(0, 0, 0))
    return np.concatenate([np.asarray(canvas), image], axis=0), ((0, 0, width, band_h),)


def shrink_jpeg(image: np.ndarray, factor: float = 0.6, quality: int = 70) -> np.ndarray:
    small = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    return load_image(encode_image(small, "jpeg", quality=quality))[..., :3]


def _variant(
    picture: np.ndarray, variant: str, pair: tuple[str, str], rng: np.random.Generator
) -> tuple[np.ndarray, tuple[str, ...], tuple[Rect, ...]]:
    top, bottom = pair
    default = [TextBox(anchor_y=0.0, scale_y=0.2), TextBox(anchor_y=0.8, scale_y=0.2)]
    upper = (top.upper(), bottom.upper())
    if variant == "small-bottom":
        long_bottom = f"{bottom} {top}"
        tall = float(rng.uniform(0.025, 0.045))
        boxes = [TextBox(anchor_y=0.0, scale_y=0.15), TextBox(anchor_y=1 - tall, scale_y=tall)]
        image, rects = draw(picture, (top, long_bottom), boxes)
        return image, (top.upper(), long_bottom.upper()), rects
    if variant == "banner":
        text = f"{top} {bottom}".lower()
        image, rects = banner(picture, text)
        return image, (text,), rects
    base = {"busy": busy(picture, rng), "thin-outline": light(picture)}.get(variant, picture)
    image, rects = draw(base, pair, default, outline=0.02 if variant == "thin-outline" else None)
    if variant == "jpeg60":
        rects = tuple(tuple(round(v * 0.6) for v in r) for r in rects)  # type: ignore[misc]
        return shrink_jpeg(image), upper, rects
    if variant not in VARIANTS:
        raise ValueError(variant)
    return image, upper, rects


def ocr_cases(seed: int = 18, variants: tuple[str, ...] = VARIANTS) -> Iterator[OcrCase]:
    """Every picture in every variant (see the module docstring), deterministic for `seed`."""
    rng = np.random.default_rng(seed)
    halves = (CAPTION_POOL[0::2], CAPTION_POOL[1::2])
    for index, (name, picture) in enumerate(pictures()):
        held_out = index % 2 == 1
        pool = halves[held_out]
        for variant in VARIANTS:
            pair = pool[int(rng.integers(len(pool)))]
            image, lines, rects = _variant(picture, variant, pair, rng)
            if variant in variants:
                yield OcrCase(name, variant, held_out, np.ascontiguousarray(image), lines, rects)


def in_captions(box: object, rects: tuple[Rect, ...], margin: int = 8) -> bool:
    """Whether a region's box (four corners) has its centre inside one of `rects`."""
    corners = np.asarray(box, dtype=np.float64)
    cx, cy = corners.mean(axis=0)
    return any(
        x - margin <= cx <= x + w + margin and y - margin <= cy <= y + h + margin
        for x, y, w, h in rects
    )


def normalise(text: str) -> str:
    """Upper-cased with whitespace removed (spacing is scored apart from reading)."""
    return "".join(text.upper().split())


def char_counts(expected: str, found: str) -> tuple[int, int, int]:
    """(matched, expected, found) characters after `normalise`; matched characters are those
    an edit script of insertions and deletions keeps (the longest common subsequence), so a
    substituted character counts as missed in recall and as invented in precision."""
    exp, got = normalise(expected), normalise(found)
    previous = [0] * (len(got) + 1)
    for a in exp:
        current = [0]
        for j, b in enumerate(got):
            current.append(previous[j] + 1 if a == b else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1], len(exp), len(got)
