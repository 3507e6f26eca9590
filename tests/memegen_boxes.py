"""Caption bounding boxes of a rendered memegen picture, measured against its clean template.

Used by `scripts/memegen_reference.py` (on memegen's own expected images) and by
`tests/test_memegen_visual.py` (on glitchzap's renders), so both are measured the same way:
the template picture resized to the render's size as memegen does (PIL LANCZOS), the
per-pixel difference thresholded, and the changed pixels grouped into connected components,
each given to the text box (memegen's anchor/scale rectangle) that holds its centre.
"""

from __future__ import annotations

import io
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml
from PIL import Image, ImageOps

THRESHOLD = 48  # max channel difference that counts as drawn text (resampling noise stays under)
MIN_AREA = 4  # px: smaller changed components are specks, not parts of a glyph
MARGIN = 0.02  # a text box's rectangle grows by this fraction of the picture width, each side
WATERMARK_HEIGHT = 20  # memegen's settings.WATERMARK_HEIGHT
DEFAULT_MIRROR = Path("/work/.mirror/jacebrowning+memegen/repo")  # a bare git dir
IMAGES_PATH = "app/tests/images"  # memegen's settings.TEST_IMAGES_DIRECTORY, in the repository

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1; x1 and y1 exclusive


@dataclass(frozen=True)
class TextBox:
    """One entry of a memegen config.yml `text:` list (the fields that place it)."""

    anchor_x: float = 0.0
    anchor_y: float = 0.0
    scale_x: float = 1.0
    scale_y: float = 0.2
    angle: float = 0.0


def read_text_boxes(config: Path) -> list[TextBox]:
    """The text boxes of a memegen template's config.yml, with memegen's defaults."""
    data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    fields = TextBox.__dataclass_fields__
    boxes = [TextBox(**{k: v for k, v in t.items() if k in fields}) for t in data.get("text") or []]
    return boxes or [TextBox(), TextBox(anchor_y=0.8)]


def template_picture(folder: Path) -> Path:
    """The still picture of a memegen template folder (default.png, .jpg ...)."""
    for suffix in ("png", "jpg", "jpeg", "webp", "gif"):
        if (path := folder / f"default.{suffix}").is_file():
            return path
    raise FileNotFoundError(f"No default picture in {folder}")


def template_background(picture: Path, size: tuple[int, int]) -> np.ndarray:
    """The template picture at `size` (width, height) as RGB, resized as memegen does."""
    image = ImageOps.exif_transpose(Image.open(picture).convert("RGBA"))
    image = image.resize(size, Image.Resampling.LANCZOS)
    return np.asarray(image.convert("RGB"))


def box_rectangles(
    boxes: Sequence[TextBox], size: tuple[int, int], *, watermark: bool = False
) -> list[Rect]:
    """Where memegen pastes each text box on a `size` picture (its `get_anchor`/`get_size`,
    grown by a rotation's expand=True)."""
    width, height = size
    rects = []
    for box in boxes:
        x, y = int(width * box.anchor_x), int(height * box.anchor_y)
        if watermark and box.anchor_x <= 0.1 and box.anchor_y >= 0.8:
            y -= WATERMARK_HEIGHT // 2  # memegen lifts a bottom-left box over its watermark
        w, h = int(width * box.scale_x), int(height * box.scale_y)
        if box.angle:
            w, h = Image.new("L", (w, h)).rotate(box.angle, expand=True).size
        rects.append((x, y, x + w, y + h))
    return rects


def watermark_rect(size: tuple[int, int]) -> Rect:
    """The strip memegen's watermark label is drawn in (bottom left)."""
    width, height = size
    return (0, height - WATERMARK_HEIGHT, width // 3, height)


def changed_mask(image: np.ndarray, background: np.ndarray) -> np.ndarray:
    """True where `image` differs from `background` by more than THRESHOLD in any channel."""
    diff = np.abs(image[..., :3].astype(np.int16) - background[..., :3].astype(np.int16))
    return diff.max(axis=2) > THRESHOLD


def _grow(rect: Rect, margin: int, size: tuple[int, int]) -> Rect:
    x0, y0, x1, y1 = rect
    return (
        max(0, x0 - margin),
        max(0, y0 - margin),
        min(size[0], x1 + margin),
        min(size[1], y1 + margin),
    )


def _inside(x: float, y: float, rect: Rect) -> bool:
    return rect[0] <= x < rect[2] and rect[1] <= y < rect[3]


def _owner(x: float, y: float, rects: Sequence[Rect], grown: Sequence[Rect]) -> int | None:
    """The text box that holds a component centred at (x, y): its own rectangle first."""
    for candidates in (rects, grown):
        for index, rect in enumerate(candidates):
            if _inside(x, y, rect):
                return index
    return None


def caption_bboxes(
    image: np.ndarray,
    background: np.ndarray,
    rects: Sequence[Rect],
    *,
    ignore: Sequence[Rect] = (),
) -> list[Rect | None]:
    """Per text box, the bounding box of the caption drawn in it (None when nothing is).

    A changed component smaller than MIN_AREA is dropped, as is one lying wholly inside an
    `ignore` rectangle (a watermark)."""
    height, width = image.shape[:2]
    grown = [_grow(r, round(MARGIN * width), (width, height)) for r in rects]
    mask = changed_mask(image, background).astype(np.uint8)
    count, _, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    found: list[Rect | None] = [None] * len(rects)
    for label in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[label])
        if area < MIN_AREA or any(_contains(r, (x, y, x + w, y + h)) for r in ignore):
            continue
        index = _owner(*centroids[label], rects, grown)
        if index is not None:
            found[index] = _union(found[index], (x, y, x + w, y + h))
    return found


def stray_pixels(
    image: np.ndarray, background: np.ndarray, rects: Sequence[Rect], *, ignore: Sequence[Rect] = ()
) -> int:
    """Changed pixels outside every (grown) text box and `ignore` rectangle: 0 when the
    background is reproduced exactly and all drawing stays in the boxes."""
    height, width = image.shape[:2]
    mask = changed_mask(image, background)
    for rect in [*(_grow(r, round(MARGIN * width), (width, height)) for r in rects), *ignore]:
        mask[rect[1] : rect[3], rect[0] : rect[2]] = False
    return int(mask.sum())


def _contains(outer: Rect, inner: Rect) -> bool:
    return (
        outer[0] <= inner[0]
        and outer[1] <= inner[1]
        and inner[2] <= outer[2]
        and inner[3] <= outer[3]
    )


def _union(a: Rect | None, b: Rect) -> Rect:
    if a is None:
        return b
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def decode_png(data: bytes) -> np.ndarray:
    """RGB pixels of an encoded still picture."""
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def read_memegen_file(repo: Path, path: str) -> bytes:
    """A file of memegen's repository: `repo` is a checkout (or just its `app` folder's
    parent) or a bare git dir, whose HEAD is read."""
    if (repo / path).is_file():
        return (repo / path).read_bytes()
    return subprocess.run(
        ["git", "-C", str(repo), "show", f"HEAD:{path}"], check=True, capture_output=True
    ).stdout


def measure_captions(
    image: np.ndarray, background: np.ndarray, config: Path, *, watermark: bool = False
) -> tuple[list[Rect | None], int]:
    """(caption bbox per text box of the memegen template `config`, stray pixels) of `image`,
    drawn on `background` (the same picture without captions)."""
    size = (image.shape[1], image.shape[0])
    rects = box_rectangles(read_text_boxes(config), size, watermark=watermark)
    ignore = [watermark_rect(size)] if watermark else []
    boxes = caption_bboxes(image, background, rects, ignore=ignore)
    return boxes, stray_pixels(image, background, rects, ignore=ignore)
