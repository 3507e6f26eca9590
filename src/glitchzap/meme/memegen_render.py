"""memegen's picture rules on glitchzap's engine: sizes, padding, overlays, layouts, animation.

`render_memegen(request, runtime=...)` turns one parsed memegen request (`MemegenRequest`:
template or custom background, decoded lines, extension and the query options) into encoded
image bytes, following memegen's `utils.images.save`, `render_image` and `render_animation`
(memegen app/utils/images.py):

- size: with neither `width` nor `height` a still's shorter side becomes 600 px and an
  animation's longer side 600 px; one of them scales the other; both pad the picture onto a
  dark blurred copy of itself (`width` x `height` exactly). A requested size over 1920 x 1080
  pixels shrinks by 3/4 steps until it fits;
- `layout=top` adds a white band a quarter of the picture's height above it and writes each
  line there, black, left-aligned, in the thin font;
- overlays (`style=<url>`) are pasted into the template's overlay slots before resizing;
- `.gif`/`.webp` draw on every frame of an animated template (sampled down to about 20
  frames), a still with two captions becomes a 5-frame reveal and timed boxes 20 frames;
- a watermark, when one is asked for, is written small at the bottom-left, never on pictures
  300 px or smaller.

The HTTP adapter (`api/routes/memegen.py`) parses URLs, fetches remote images through the
SSRF-safe fetcher, picks status codes and caches; this module only draws. Captions go through
the one caption renderer (`meme.captions`), shared with `/api/meme`.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageColor, ImageFilter

from glitchzap.animation import Animation
from glitchzap.errors import InvalidParameters
from glitchzap.io import encode_animation, load_animation
from glitchzap.meme import emoji
from glitchzap.meme.captions import (
    WATERMARK_HEIGHT,
    PlacedCaption,
    draw_placed,
    fit_font,
    place_captions,
    stroke_style,
    stroke_width_for,
    text_offset,
)
from glitchzap.meme.compose import box_fonts_of, caption_font, template_animation, template_picture
from glitchzap.meme.fonts import FontSource
from glitchzap.types import TextBox

if TYPE_CHECKING:
    from glitchzap.runtime import Runtime

# memegen's app/settings.py
DEFAULT_SIZE = (600, 600)
PREVIEW_SIZE = (300, 300)
MAXIMUM_PIXELS = 1920 * 1080
MAXIMUM_FRAMES = 20
MINIMUM_FRAMES = 5
MINIMUM_DIMENSION = 10  # 0 < width or height < 10 is memegen's 422
ALLOWED_EXTENSIONS = ("gif", "jpg", "jpeg", "png", "webp")
ANIMATED_EXTENSIONS = ("gif", "webp")
WATERMARK_COLOR = "#FFFFFFA5"  # white at memegen's WATERMARK_ALPHA 0.65
PREVIEW_TEXT = "PREVIEW"
WATERMARK_FONT = "tiny"
TOP_BAND = 0.25  # layout=top: the white band's height, a fraction of the picture's
REVEAL_STARTS = (0.2, 0.6)  # a still with two captions as an animation: when each shows
ERROR_SIZE = 1000


@dataclass(frozen=True)
class MemegenRequest:
    """One memegen image request, parsed and validated by the adapter.

    `template_id` names a library template; `background` (image bytes the adapter fetched)
    makes a custom meme instead; `error` draws on the error picture (memegen's `_error`
    template) for 404/414/415/422 images. `extension` is one of ALLOWED_EXTENSIONS."""

    lines: tuple[str, ...]
    extension: str = "png"
    template_id: str | None = None
    background: bytes | None = None
    error: bool = False
    style: str = "default"  # "default" or "animated" (overlay URLs arrive as `overlays`)
    overlays: tuple[bytes, ...] = ()  # images fetched from style=<url>[,<url>...]; b"" = slot kept
    font: str = ""  # a font id or alias; "" = each box's own font
    layout: str = "default"  # "default" or "top"
    width: int = 0
    height: int = 0
    colors: tuple[str, ...] = ()  # validated colours: box i's text colour is colors[i]
    center: tuple[float, float] | None = None  # overlay centre (fractions)
    scale: float | None = None  # overlay scale
    start: tuple[float, ...] = ()  # text animation timing per box
    stop: tuple[float, ...] = ()
    watermark: str = ""  # "" = none
    frames: int = 0  # most frames in an animated output (0 = memegen's rule)
    preview: bool = False  # /images/preview.jpg: small, "PREVIEW" stamp, JPEG


@dataclass(frozen=True)
class Overlay:
    """memegen's overlay slot (app/models/overlay.py): centre and scale as fractions."""

    center_x: float = 0.5
    center_y: float = 0.5
    angle: float = 0.0
    scale: float = 0.25


# memegen's `_error` template: its two boxes, on a plain grey picture of our own.
ERROR_BOXES = (
    TextBox(anchor_x=0.1, anchor_y=0.1, scale_x=0.8, scale_y=0.2, font="thick"),
    TextBox(anchor_x=0.1, anchor_y=0.7, scale_x=0.8, scale_y=0.2, font="thick"),
)
# A custom background gets memegen's default Template text boxes.
CUSTOM_BOXES = (
    TextBox(anchor_x=0.0, anchor_y=0.0, font="thick"),
    TextBox(anchor_x=0.0, anchor_y=0.8, font="thick"),
)


def validate_color(value: str) -> tuple[str | None, bool]:
    """(normalised colour, valid) as memegen's `validate_color`: a name, `#hex` or bare hex."""
    for candidate in (value, "#" + value):
        try:
            ImageColor.getrgb(candidate)
        except ValueError:
            continue
        return candidate, True
    return None, False


def fit_size(width: float, height: float) -> tuple[int, int]:
    """A requested size shrunk by 3/4 steps until it holds at most MAXIMUM_PIXELS
    (memegen `fit_image`)."""
    while width * height > MAXIMUM_PIXELS:
        width *= 0.75
        height *= 0.75
    return int(width), int(height)


def resized_size(
    size: tuple[int, int], width: int, height: int, *, pad: bool, expand: bool
) -> tuple[int, int]:
    """The picture's size after memegen's `resize_image` (see the module docstring)."""
    ratio = size[0] / size[1]
    default_w, default_h = DEFAULT_SIZE
    if pad:
        return (
            (width, int(width / ratio)) if width < height * ratio else (int(height * ratio), height)
        )
    if width:
        return width, int(width / ratio)
    if height:
        return int(height * ratio), height
    if ratio < 1.0:
        return (
            (default_w, int(default_h / ratio)) if expand else (int(default_w * ratio), default_h)
        )
    return (int(default_w * ratio), default_h) if expand else (default_w, int(default_h / ratio))


def bounded_size(
    picture: tuple[int, int], size: tuple[int, int], *, pad: bool, expand: bool
) -> tuple[int, int]:
    """The picture's size after resizing (`resized_size`), shrunk to hold at most
    MAXIMUM_PIXELS. memegen caps only a requested `width` x `height`; a single huge `width`
    (or a very tall picture) would otherwise allocate gigapixels, so the cap holds for every
    output here."""
    width, height = resized_size(picture, *size, pad=pad, expand=expand)
    if width * height > MAXIMUM_PIXELS:
        scale = math.sqrt(MAXIMUM_PIXELS / (float(width) * float(height)))
        width, height = int(width * scale), int(height * scale)
    return max(1, width), max(1, height)


def _resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    size = (max(1, size[0]), max(1, size[1]))
    return image if image.size == size else image.resize(size, Image.Resampling.LANCZOS)


def blurred_pad(
    picture: Image.Image, background: Image.Image, size: tuple[int, int]
) -> Image.Image:
    """`picture` centred on `background` stretched to `size`, darkened to 40 % and blurred,
    with a 1 px black border (memegen `add_blurred_background`)."""
    width, height = size
    base_w, base_h = picture.size
    border_w, border_h = min(width, base_w + 2), min(height, base_h + 2)
    border = Image.new("RGB", (border_w, border_h))
    border.paste(picture, ((border_w - base_w) // 2, (border_h - base_h) // 2))
    backdrop = _resize(background, size).convert("RGB")
    backdrop = Image.eval(backdrop, lambda p: int(p * 0.4)).filter(ImageFilter.GaussianBlur(5))
    backdrop.paste(border, ((width - border_w) // 2, (height - border_h) // 2))
    return backdrop.convert("RGBA")


def pad_top(picture: Image.Image) -> Image.Image:
    """`picture` below a white band a quarter of its height (memegen `pad_top`)."""
    extra = int(picture.height * TOP_BAND)
    padded = Image.new("RGBA", (picture.width, picture.height + extra), "white")
    padded.paste(picture, (0, extra))
    return padded


def top_boxes(count: int) -> list[TextBox]:
    """memegen's `layout=top` boxes: black, left-aligned, thin font, one per line."""
    count = max(count, 1)
    return [
        TextBox(
            style="none",
            color="black",
            font="thin",
            anchor_x=0.01,
            anchor_y=min(1.0, index * 0.1),
            scale_x=0.99,
            scale_y=0.2 / count,
            align="left",
        )
        for index in range(count)
    ]


def paste_overlay(picture: Image.Image, overlay: Overlay, foreground: Image.Image) -> None:
    """`foreground` fitted into the overlay's square, turned and pasted centred on its
    centre, in place (memegen `embed`)."""
    side = min(int(picture.width * overlay.scale), int(picture.height * overlay.scale))
    if side < 1:
        return
    chip = foreground.convert("RGBA")
    ratio = chip.width / chip.height
    fitted = (side, int(side / ratio)) if side < side * ratio else (int(side * ratio), side)
    chip = _resize(chip, fitted)
    if overlay.angle:
        chip = chip.rotate(overlay.angle, expand=True)
    x = int(picture.width * overlay.center_x - chip.width / 2)
    y = int(picture.height * overlay.center_y - chip.height / 2)
    picture.paste(chip, (x, y), mask=chip)


def error_picture() -> Image.Image:
    """The picture error images are drawn on: light grey, darker towards the bottom."""
    ramp = np.linspace(235, 191, ERROR_SIZE, dtype=np.float32)
    grey = np.repeat(ramp[:, None], ERROR_SIZE, axis=1).astype(np.uint8)
    return Image.fromarray(np.dstack([grey, grey, grey, np.full_like(grey, 255)]), "RGBA")


@dataclass
class _Scene:
    """What to draw on: the frames (RGBA), their durations, the boxes and overlay slots."""

    frames: list[Image.Image]
    durations: list[int]
    boxes: list[TextBox]
    overlays: list[Overlay]


def _template_overlays(template_dir: Path | None) -> list[Overlay]:
    return list(_read_overlays(str(template_dir))) if template_dir else [Overlay()]


@lru_cache(maxsize=256)
def _read_overlays(folder: str) -> tuple[Overlay, ...]:
    """The overlay slots a memegen `config.yml` beside the template picture lists."""
    import yaml

    try:
        config = yaml.safe_load((Path(folder) / "config.yml").read_text())
    except (OSError, yaml.YAMLError):
        return (Overlay(),)
    slots = []
    for entry in (config or {}).get("overlay") or []:
        if isinstance(entry, dict):
            try:
                fields = {
                    k: float(entry[k])
                    for k in ("center_x", "center_y", "angle", "scale")
                    if k in entry
                }
            except (TypeError, ValueError):
                continue
            slots.append(Overlay(**fields))
    return tuple(slots) or (Overlay(),)


def _pil(frame: np.ndarray) -> Image.Image:
    if frame.ndim == 2:
        return Image.fromarray(frame, "L").convert("RGBA")
    mode = "RGBA" if frame.shape[2] == 4 else "RGB"
    return Image.fromarray(np.ascontiguousarray(frame), mode).convert("RGBA")


def _scene(request: MemegenRequest, animated: bool, runtime: Runtime) -> _Scene:
    limits = runtime.settings.limits
    if request.error:
        return _Scene([error_picture()], [100], list(ERROR_BOXES), [Overlay()])
    if request.background is not None:
        source = load_animation(request.background, limits=limits)
        kept = source.frames if animated else source.frames[:1]
        durations = list(source.durations) if animated else [100]
        return _Scene([_pil(f) for f in kept], durations, list(CUSTOM_BOXES), [Overlay()])
    if request.template_id is None:
        raise InvalidParameters("A memegen request needs a template or a background")
    template = runtime.templates.get(request.template_id)
    overlays = _template_overlays(template.image_path.parent)
    if animated:
        animation, boxes = template_animation(request.template_id, runtime=runtime)
        frames = [_pil(f) for f in animation.frames]
        return _Scene(frames, list(animation.durations), boxes, overlays)
    image, boxes = template_picture(request.template_id, runtime=runtime)
    return _Scene([_pil(image)], [100], boxes, overlays)


def _apply_options(scene: _Scene, request: MemegenRequest) -> None:
    """Overlays, colours, timing and the top layout, as memegen's `Template.clone` does."""
    if request.center is not None or request.scale is not None:
        first = scene.overlays[0]
        if request.center is not None:
            first = replace(first, center_x=request.center[0], center_y=request.center[1])
        if request.scale is not None:
            first = replace(first, scale=request.scale)
        scene.overlays[0] = first
    if request.overlays:
        # An empty entry is a slot left as it is (memegen's `style=<url>,default`).
        chips = [Image.open(io.BytesIO(data)) if data else None for data in request.overlays]
        for frame in scene.frames:
            for index, chip in enumerate(chips):
                if chip is not None:
                    slot = scene.overlays[min(index, len(scene.overlays) - 1)]
                    paste_overlay(frame, slot, chip)
    for index, color in enumerate(request.colors[: len(scene.boxes)]):
        scene.boxes[index] = scene.boxes[index].model_copy(update={"color": color})
    for index, value in enumerate(request.start[: len(scene.boxes)]):
        scene.boxes[index] = scene.boxes[index].model_copy(update={"start": value})
    for index, value in enumerate(request.stop[: len(scene.boxes)]):
        scene.boxes[index] = scene.boxes[index].model_copy(update={"stop": value})
    if request.layout == "top":
        scene.boxes = top_boxes(len(request.lines))
        scene.frames = [pad_top(frame) for frame in scene.frames]


def _fonts_for(
    boxes: Sequence[TextBox], request: MemegenRequest, runtime: Runtime
) -> tuple[FontSource, dict[str, FontSource]]:
    """The font every box uses: the request's `font` for all, else each box's own (memegen's
    `font_name or text.font`)."""
    settings = runtime.settings
    if request.font:
        return caption_font(request.font, settings), {}
    return caption_font(None, settings), box_fonts_of(boxes, settings)


def _watermark(
    image: Image.Image, label: str, runtime: Runtime, *, preview: bool, fuzz: int = 0
) -> Image.Image:
    """`label` small at the bottom-left (memegen `add_watermark`); the preview's message in
    amber when `preview`."""
    fonts = runtime.fonts
    source = caption_font(WATERMARK_FONT, runtime.settings)
    color = "#FFC107" if preview else WATERMARK_COLOR
    box = (image.width, int(WATERMARK_HEIGHT * 0.8) if preview else WATERMARK_HEIGHT)
    font = fit_font(source, fonts, label, box, 99)
    offset = text_offset(label, font, box, watermark=preview)
    stroke = stroke_style(color, stroke_width_for(int(font.size)), thick=preview)
    layer = Image.new("RGBA", image.size)
    emoji.draw_text(
        layer,
        (3 + fuzz, image.height - box[1] - offset[1]),
        label,
        font,
        fill=color,
        stroke_width=stroke[0],
        stroke_fill=stroke[1],
    )
    return Image.alpha_composite(image, layer)


def _preview_stamp(size: tuple[int, int], runtime: Runtime) -> PlacedCaption:
    """memegen's grey, turned "PREVIEW" across a preview (`Text.get_preview`)."""
    box = TextBox(
        color="#80808060", anchor_x=0.075, anchor_y=0.05, angle=10, scale_x=0.75, scale_y=0.75
    )
    font = caption_font(None, runtime.settings)
    placed = place_captions(size, [PREVIEW_TEXT], [box], font=font, fonts=runtime.fonts)
    stamp = placed[0]
    assert stamp is not None
    return stamp


def _draw(frame: Image.Image, placed: Sequence[PlacedCaption | None]) -> Image.Image:
    return Image.fromarray(draw_placed(np.asarray(frame), placed), "RGBA")


def _shown(
    boxes: Sequence[TextBox], placed: Sequence[PlacedCaption | None], percent: float
) -> list[PlacedCaption | None]:
    """The captions shown at `percent` of an animation (memegen `get_image_elements`)."""
    if percent == 1.0:
        return list(placed)
    return [
        caption if (box.start <= percent < box.stop or not box.stop) else None
        for box, caption in zip(boxes, placed, strict=False)
    ]


def render_memegen(request: MemegenRequest, *, runtime: Runtime) -> bytes:
    """The encoded image for `request` (png/jpg/gif/webp bytes)."""
    extension = "jpg" if request.preview else request.extension
    animated = extension in ANIMATED_EXTENSIONS
    scene = _scene(request, animated, runtime)
    _apply_options(scene, request)
    if request.preview:
        size, pad = PREVIEW_SIZE, False
    else:
        size = fit_size(request.width, request.height)
        pad = bool(size[0] and size[1])
    watermark = request.watermark
    small = (size[0] and size[0] <= PREVIEW_SIZE[0]) or (size[1] and size[1] <= PREVIEW_SIZE[1])
    if small and not request.preview:
        watermark = ""
    job = _Job(scene, list(request.lines), size, pad, watermark, request, runtime)
    if animated:
        frames, durations = _animate(job)
        arrays = [np.asarray(frame.convert("RGB")) for frame in frames]
        return encode_animation(Animation(arrays, tuple(durations), 0), extension)
    image = _still(job)
    return _encode_still(
        image, "jpeg" if extension in ("jpg", "jpeg") else "png", preview=request.preview
    )


@dataclass
class _Job:
    """One render: the scene, the captions, the requested size, whether to pad it, the
    watermark drawn (if any), the request and the runtime."""

    scene: _Scene
    lines: list[str]
    size: tuple[int, int]
    pad: bool
    watermark: str
    request: MemegenRequest
    runtime: Runtime


def _place(job: _Job, size: tuple[int, int]) -> list[PlacedCaption | None]:
    """The captions laid out once for frames of `size` (w, h)."""
    boxes = job.scene.boxes
    font, box_fonts = _fonts_for(boxes, job.request, job.runtime)
    return place_captions(
        size,
        job.lines[: len(boxes)],
        boxes,
        font=font,
        fonts=job.runtime.fonts,
        box_fonts=box_fonts,
        watermark=bool(job.watermark),
    )


def _still(job: _Job) -> Image.Image:
    background = job.scene.frames[0]
    size = bounded_size(background.size, job.size, pad=job.pad, expand=True)
    picture = _resize(background, size)
    placed = _place(job, picture.size)
    if job.request.preview:
        placed.append(_preview_stamp(picture.size, job.runtime))
    picture = _draw(picture, placed)
    if job.pad:
        picture = blurred_pad(picture, background, job.size)
    if job.watermark:
        picture = _watermark(picture, job.watermark, job.runtime, preview=job.request.preview)
    return picture


def _animate(job: _Job) -> tuple[list[Image.Image], list[int]]:
    """memegen's `render_animation`: frames sampled to about MAXIMUM_FRAMES, captions shown
    by their boxes' timing. Each kept frame lasts as long as the frames it stands for (memegen
    gives every frame one stretched duration; the playing time is the same)."""
    scene, lines, size, pad = job.scene, job.lines, job.size, job.pad
    sources, timing = scene.frames, list(scene.durations) or [100] * len(scene.frames)
    total = len(sources)
    if total == 1:
        if any(box.start != 0.0 or box.stop != 1.0 for box in scene.boxes):
            sources, timing = sources * MAXIMUM_FRAMES, [250] * MAXIMUM_FRAMES
        elif sum(1 for line in lines if line.strip()) == 2:
            for index, start in enumerate(REVEAL_STARTS[: len(scene.boxes)]):
                scene.boxes[index] = scene.boxes[index].model_copy(
                    update={"start": start, "stop": 1.0}
                )
            sources, timing = sources * MINIMUM_FRAMES, [1200] * MINIMUM_FRAMES
        total = len(sources)
    request = job.request
    maximum = request.frames or (MAXIMUM_FRAMES * 4 if request.extension == "webp" else 0)
    if maximum >= total:
        modulus = 1.0
    elif maximum:
        modulus = max(1.0, round(total / maximum, 1))
    else:
        scale = min(2.0, DEFAULT_SIZE[1] / size[1] if size[1] else 1.0)
        modulus = max(1.0, round(total / (MAXIMUM_FRAMES * scale), 1))
    kept = [index for index in range(total) if (index % modulus) < 1]
    frame_size = bounded_size(sources[0].size, size, pad=pad, expand=False)
    placed = _place(job, frame_size)
    frames: list[Image.Image] = []
    for index in kept:
        source = sources[index]
        picture = _resize(source, frame_size)
        percent = 1.0 if total == 1 else index / total
        picture = _draw(picture, _shown(scene.boxes, placed, percent))
        if pad:
            picture = blurred_pad(picture, source, size)
        if job.watermark:
            near_end = index if index / total < 0.5 else total - index - 1
            fuzz = 0 if total == 1 or total >= MAXIMUM_FRAMES else near_end
            picture = _watermark(picture, job.watermark, job.runtime, preview=False, fuzz=fuzz)
        frames.append(picture)
    ends = [*kept[1:], total]
    durations = [max(20, sum(timing[start:end])) for start, end in zip(kept, ends, strict=True)]
    return frames, durations


def _encode_still(image: Image.Image, fmt: str, *, preview: bool) -> bytes:
    """PNG, or JPEG at memegen's quality (95; a preview 50)."""
    buffer = io.BytesIO()
    rgb = image.convert("RGB")
    if fmt == "jpeg":
        rgb.save(buffer, "JPEG", quality=50 if preview else 95)
    else:
        rgb.save(buffer, "PNG", compress_level=6)
    return buffer.getvalue()
