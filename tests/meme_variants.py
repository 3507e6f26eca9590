"""Meme-like variants of a template picture, for the matching tests and the benchmark.

Each kind is one way real memes differ from their template: new captions over the picture
(every kind has them), JPEG re-encoding, down-scaling, cropping, uniform padding, a caption
banner above or below, mirroring. Randomness comes from the `rng` argument only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from glitchzap.io import encode_image, load_image
from glitchzap.meme.captions import TextBox, layout_boxes, render_captions
from glitchzap.meme.fonts import FontCache, resolve_font

FONTS = FontCache(32)  # fonts shared by the captions these tests draw

CAPTIONS = (
    ("when the build passes", "on the first try"),
    ("me explaining", "why the tests are flaky"),
    ("nobody:", "absolutely nobody:"),
    ("one more bug fix", "what could go wrong"),
    ("monday morning", "standup in five minutes"),
    ("just deploy it", "friday 5 pm"),
    ("reading the docs", "after it broke"),
    ("it works on my machine", "ship the machine"),
)
KINDS = ("caption", "jpeg", "scale50", "crop", "border", "banner", "mirror")


def _captions(rng: np.random.Generator) -> tuple[str, str]:
    return CAPTIONS[int(rng.integers(len(CAPTIONS)))]


def add_captions(
    image: np.ndarray, captions: Sequence[str], boxes: Sequence[TextBox] | None = None
) -> np.ndarray:
    """`image` with meme captions drawn in `boxes` (top and bottom when None)."""
    boxes = list(boxes) if boxes else layout_boxes("default")
    texts = list(captions)[: len(boxes)]
    # fonts_dir=None: the system meme face the OCR/erase rules were tuned on, not memegen's.
    return render_captions(image, texts, boxes, font=resolve_font(fonts_dir=None), fonts=FONTS)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    return load_image(encode_image(image, "jpeg", quality=quality))


def banner(image: np.ndarray, text: str, rng: np.random.Generator) -> np.ndarray:
    """A white (or black) band with `text` added above (or below) the picture."""
    height, width = image.shape[:2]
    band_height = int(height * rng.uniform(0.15, 0.35))
    white = bool(rng.integers(2))
    band = np.full((band_height, width, 3), 255 if white else 0, np.uint8)
    font = FONTS.get(resolve_font(fonts_dir=None), max(10, band_height // 4))
    from PIL import Image, ImageDraw

    canvas = Image.fromarray(band)
    draw = ImageDraw.Draw(canvas)
    fill = (0, 0, 0) if white else (255, 255, 255)
    draw.text((width * 0.05, band_height * 0.3), text, font=font, fill=fill)
    band = np.asarray(canvas)
    parts = [band, image[:, :, :3]] if rng.integers(2) else [image[:, :, :3], band]
    return np.concatenate(parts, axis=0)


def pad(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uniform padding of one random colour, 3-20% of the size on each side."""
    height, width = image.shape[:2]
    sides = [int(s * rng.uniform(0.03, 0.2)) for s in (height, height, width, width)]
    colour = [int(c) for c in rng.integers(0, 256, 3)]
    return cv2.copyMakeBorder(image[:, :, :3], *sides, cv2.BORDER_CONSTANT, value=colour)


def crop(image: np.ndarray, rng: np.random.Generator, max_fraction: float = 0.1) -> np.ndarray:
    """A crop removing up to `max_fraction` of the size on each side."""
    height, width = image.shape[:2]
    top, bottom = (int(height * rng.uniform(0.02, max_fraction)) for _ in range(2))
    left, right = (int(width * rng.uniform(0.02, max_fraction)) for _ in range(2))
    return np.ascontiguousarray(image[top : height - bottom, left : width - right])


def scale(image: np.ndarray, factor: float) -> np.ndarray:
    height, width = image.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def make_variant(
    image: np.ndarray,
    kind: str,
    rng: np.random.Generator,
    boxes: Sequence[TextBox] | None = None,
) -> np.ndarray:
    """A captioned meme of kind `kind` (see KINDS) made from a template picture."""
    top, bottom = _captions(rng)
    captioned = add_captions(image[:, :, :3], (top, bottom), boxes)
    steps: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "caption": lambda im: im,
        "jpeg": lambda im: jpeg(im, int(rng.integers(40, 71))),
        "scale50": lambda im: scale(im, 0.5),
        "crop": lambda im: crop(im, rng),
        "border": lambda im: pad(im, rng),
        "banner": lambda im: banner(image[:, :, :3], f"{top} {bottom}", rng),
        "mirror": lambda im: np.ascontiguousarray(im[:, ::-1]),
    }
    return steps[kind](captioned)


SIGN_WORDS = ("OPEN", "EXIT", "CAFE", "SALE", "STOP", "BAR", "Open", "Hotel", "PARKING")
# (text, plate) colours of shop signs: dark on light, light on dark, coloured plates.
SIGN_COLOURS = (
    ((20, 20, 20), (245, 245, 240)),
    ((250, 250, 250), (200, 30, 30)),
    ((20, 20, 20), (240, 210, 40)),
    ((255, 255, 255), (30, 90, 40)),
    ((240, 60, 60), (20, 20, 20)),
)


def add_sign(
    image: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """`image` with a small shop sign (a plate with a word, 3-6% of the height tall, in a
    regular bold font) somewhere in its middle third, and the sign's (x, y, w, h)."""
    from PIL import Image, ImageDraw

    height, width = image.shape[:2]
    text = SIGN_WORDS[int(rng.integers(len(SIGN_WORDS)))]
    ink, plate = SIGN_COLOURS[int(rng.integers(len(SIGN_COLOURS)))]
    size = max(9, round(height * rng.uniform(0.03, 0.06)))
    font = FONTS.get(resolve_font("DejaVu Sans Bold"), size)
    canvas = Image.fromarray(np.ascontiguousarray(image[:, :, :3]))
    draw = ImageDraw.Draw(canvas)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    pad_x, pad_y = size // 2, size // 3
    w, h = right - left + 2 * pad_x, bottom - top + 2 * pad_y
    x = int(width * rng.uniform(0.3, 0.7) - w / 2)
    y = int(height * rng.uniform(0.38, 0.62) - h / 2)
    draw.rectangle((x, y, x + w - 1, y + h - 1), fill=plate)
    draw.text((x + pad_x - left, y + pad_y - top), text, font=font, fill=ink)
    return np.asarray(canvas), (x, y, w, h)
