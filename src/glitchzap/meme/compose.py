"""The meme flow: find text, erase it when there is some, write new captions.

`erase_text` and `make_meme` take the runtime (settings, caches, fonts, templates) as an
argument and pass plain values down to `ocr`, `inpaint` and `captions`. Large images
are read and inpainted at `image_processing.max_processing_dimension`; only the masked pixels
of the full-size image are replaced, and captions are drawn at full size.

`make_meme_animation` does the same on every frame of an animation: the captions are laid out
and drawn once and composited at the same place on each frame (they never jump), and old text
is read on a few frames only and erased on each frame where it still shows (see `frames`);
`read_animation_text` answers what was read there, region by region, with its frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np

from glitchzap.animation import Animation
from glitchzap.cache.codec import decode_array, encode_array
from glitchzap.cache.keys import image_digest, make_key
from glitchzap.errors import InvalidParameters
from glitchzap.meme.caption_regions import caption_regions
from glitchzap.meme.captions import (
    PlacedCaption,
    draw_placed,
    layout_boxes,
    place_captions,
    render_captions,
)
from glitchzap.meme.fonts import FontSource, resolve_font
from glitchzap.meme.frames import merge_regions, sample_indices, seen_texts, shown_regions
from glitchzap.meme.inpaint import inpaint, text_mask
from glitchzap.meme.ocr import OcrResult, find_text
from glitchzap.settings import Settings
from glitchzap.templates import text_boxes
from glitchzap.types import TextBox, TextRegion

if TYPE_CHECKING:
    from glitchzap.runtime import Runtime

EraseMode = Literal["auto", "always", "never"]
ERASE_MODES = ("auto", "always", "never")
# Formats that ask for an animated meme of a still input on an animated template (memegen's
# animated extensions, and APNG by name); png and jpeg give the template's still picture.
ANIMATED_MEME_FORMATS = ("gif", "webp", "apng")


@dataclass(frozen=True)
class EraseResult:
    """The image after text removal and the regions that were erased (empty: unchanged)."""

    image: np.ndarray
    regions_erased: list[TextRegion]
    ocr: OcrResult | None = None


@dataclass(frozen=True)
class MemeResult:
    image: np.ndarray
    regions_erased: list[TextRegion] = field(default_factory=list)
    ocr: OcrResult | None = None
    template_id: str | None = None  # the clean template rendered on, when one was used


def read_image_text(image: np.ndarray, *, runtime: Runtime, use_cache: bool = True) -> OcrResult:
    """OCR of `image` with the configured options, through the `ocr` cache."""
    settings = runtime.settings
    return find_text(
        image,
        settings.ocr,
        max_dimension=settings.image_processing.max_processing_dimension,
        cache=runtime.cache("ocr") if use_cache else None,
    )


@dataclass(frozen=True)
class AnimationOcrResult:
    """The text read on an animation's sampled frames (`frames.sample_indices`), merged: one
    region per caption (covering its readings, with its best-scoring text), the frames each
    one was read on, the frames OCR read, the animation's frame count, the OCR time (ms, all
    sampled frames) and whether every reading came from the cache."""

    regions: list[TextRegion]
    frames: list[tuple[int, ...]]  # per region: the sampled frames it was read on
    sampled: tuple[int, ...]
    frame_count: int
    elapsed_ms: float
    cached: bool


def read_animation_text(
    animation: Animation, *, runtime: Runtime, use_cache: bool = True
) -> AnimationOcrResult:
    """OCR of `animation`'s sampled frames, the readings at one place merged into one region
    (see `frames.merge_regions`). A caption shown only between two sampled frames is not
    read."""
    readings = _read_sampled(animation.frames, runtime=runtime, use_cache=use_cache)
    merged = merge_regions([(index, result.regions) for index, result in readings])
    return AnimationOcrResult(
        regions=[region for region, _, _ in merged],
        frames=[read_on for _, read_on, _ in merged],
        sampled=tuple(index for index, _ in readings),
        frame_count=len(animation),
        elapsed_ms=sum(result.elapsed_ms for _, result in readings),
        cached=all(result.cached for _, result in readings),
    )


def _read_sampled(
    frames: Sequence[np.ndarray], *, runtime: Runtime, use_cache: bool = True
) -> list[tuple[int, OcrResult]]:
    """(frame index, OCR result) for each frame `frames.sample_indices` picks."""
    return [
        (index, read_image_text(frames[index], runtime=runtime, use_cache=use_cache))
        for index in sample_indices(len(frames))
    ]


def _check_image(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
        raise InvalidParameters(f"Expected an H x W x 3|4 uint8 image, got {image.shape}")


def _inpaint_scaled(
    image: np.ndarray, mask: np.ndarray, method: str, radius: int, max_dimension: int
) -> np.ndarray:
    """Inpaint at most `max_dimension` px on the longest side; only masked pixels change."""
    height, width = image.shape[:2]
    scale = max_dimension / max(height, width)
    if scale >= 1:
        return inpaint(image, mask, method, radius)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    small_mask = cv2.resize(mask, size, interpolation=cv2.INTER_AREA)
    filled = inpaint(small, (small_mask > 0).astype(np.uint8) * 255, method, radius)
    big = cv2.resize(filled, (width, height), interpolation=cv2.INTER_CUBIC)
    out = image.copy()
    hole = mask > 0
    out[hole, :3] = big[hole, :3]
    return out


def erase_text(
    image: np.ndarray,
    *,
    mode: EraseMode = "auto",
    method: str | None = None,
    regions: Sequence[TextRegion] | None = None,
    runtime: Runtime,
    use_cache: bool = True,
) -> EraseResult:
    """`image` with its text inpainted. `auto` erases only the meme captions
    (`caption_regions`: confident, meme lettering, a caption's size and place) and returns
    the input itself when there is none, so scene text and textures OCR reads stay untouched;
    `always` erases every region OCR found (or `regions`); `never` returns the input.
    Erased images are cached (NPY) by pixels, regions and method, so a second meme from the
    same picture only draws captions."""
    _check_image(image)
    if mode not in ERASE_MODES:
        raise InvalidParameters(f"Unknown erase mode {mode!r}: use auto, always or never")
    settings = runtime.settings
    if mode == "never":
        return EraseResult(image, [])
    ocr_result = None
    if regions is None:
        ocr_result = read_image_text(image, runtime=runtime)
        regions = ocr_result.regions
    chosen = list(regions)
    if mode == "auto":
        threshold = settings.image_processing.skip_text_removal_threshold
        chosen = caption_regions(image, chosen, threshold)
        if not chosen:
            return EraseResult(image, [], ocr_result)
    method = method or settings.ocr.inpaint_method
    cache = runtime.cache("erased") if use_cache else None
    key = _erase_key(image, chosen, method, settings) if cache is not None else ""
    if cache is not None and (data := cache.get(key)) is not None:
        restored = _apply_patch(image, data)
        if restored is not None:
            return EraseResult(restored, chosen, ocr_result)
    mask = text_mask(image, chosen, settings.ocr.mask_mode)
    if not mask.any():
        return EraseResult(image, [], ocr_result)
    erased = _inpaint_scaled(
        image,
        mask,
        method,
        settings.ocr.inpaint_radius,
        settings.image_processing.max_processing_dimension,
    )
    if cache is not None:
        cache.set(key, _encode_patch(erased, mask > 0))
    return EraseResult(erased, chosen, ocr_result)


def _encode_patch(erased: np.ndarray, hole: np.ndarray) -> bytes:
    """The mask's bits then the new pixels under it: a fifth of the whole image's size."""
    return encode_array(np.concatenate([np.packbits(hole), erased[hole].ravel()]))


def _apply_patch(image: np.ndarray, data: bytes) -> np.ndarray | None:
    """`image` with a stored patch applied, or None when the entry does not fit it."""
    patch = decode_array(data)
    if patch is None or patch.dtype != np.uint8 or patch.ndim != 1:
        return None
    packed = (image.shape[0] * image.shape[1] + 7) // 8
    if patch.size < packed:
        return None
    bits = np.unpackbits(patch[:packed])[: image.shape[0] * image.shape[1]]
    hole = bits.reshape(image.shape[:2]).astype(bool)
    pixels = patch[packed:]
    if pixels.size != int(hole.sum()) * image.shape[2]:
        return None
    out = image.copy()
    out[hole] = pixels.reshape(-1, image.shape[2])
    return out


def _erase_key(
    image: np.ndarray, regions: Sequence[TextRegion], method: str, settings: Settings
) -> str:
    params = {
        "regions": [r.to_dict() for r in regions],
        "method": method,
        "mask_mode": settings.ocr.mask_mode,
        "radius": settings.ocr.inpaint_radius,
        "max_dimension": settings.image_processing.max_processing_dimension,
    }
    return make_key("erase", image_digest(image), params)


def caption_font(font: str | None, settings: Settings) -> FontSource:
    """The font to draw with: `font` if given, else `fonts.default`, else memegen's default
    (Titillium Web Black, when fetched), else the best found."""
    return resolve_font(
        font or settings.fonts.default, settings.fonts.paths, fonts_dir=settings.fonts_dir
    )


def make_meme_result(
    image: np.ndarray,
    captions: Sequence[str],
    *,
    erase: EraseMode = "auto",
    layout: str = "default",
    boxes: Sequence[TextBox] | None = None,
    font: str | None = None,
    method: str | None = None,
    template: str | None = None,
    runtime: Runtime,
) -> MemeResult:
    """Like `make_meme`, also returning the erased regions, the OCR result and the template."""
    _check_image(image)
    captions = _checked_captions(captions, runtime.settings)
    template_id = _pick_template(image, template, runtime)
    if template_id is not None:
        # The clean template replaces the picture: no text to erase, its own text boxes.
        image, template_boxes = template_picture(template_id, runtime=runtime)
        boxes = boxes if boxes is not None else template_boxes
        erase = "never"
    text_boxes = list(boxes) if boxes is not None else layout_boxes(layout)
    _check_box_count(captions, text_boxes)
    source = caption_font(font, runtime.settings)
    if font:
        text_boxes = _without_box_fonts(text_boxes)
    erased = erase_text(image, mode=erase, method=method, runtime=runtime)
    out = draw_captions(erased.image, captions, text_boxes, font=source, runtime=runtime)
    return MemeResult(out, erased.regions_erased, erased.ocr, template_id)


def make_template_meme(
    template_id: str, captions: Sequence[str], *, runtime: Runtime
) -> np.ndarray:
    """The clean template `template_id` with `captions` in its own text boxes (memegen's
    `/images/<template>/<line>/...`); NotFound for an unknown id."""
    captions = _checked_captions(captions, runtime.settings)
    image, boxes = template_picture(template_id, runtime=runtime)
    _check_box_count(captions, boxes)
    source = caption_font(None, runtime.settings)
    return draw_captions(image, captions, boxes, font=source, runtime=runtime)


def template_picture(template_id: str, *, runtime: Runtime) -> tuple[np.ndarray, list[TextBox]]:
    """(clean picture, text boxes) of a library template; the picture is kept in memory."""
    library = runtime.templates
    template = library.get(template_id)
    stat = template.image_path.stat()
    key = f"template:{template.id}:{stat.st_size}:{stat.st_mtime_ns}"
    image = runtime.arrays.get_or_make(key, lambda: library.image(template.id))
    return image, text_boxes(template)


def draw_captions(
    image: np.ndarray,
    captions: Sequence[str],
    boxes: Sequence[TextBox],
    *,
    font: FontSource,
    runtime: Runtime,
) -> np.ndarray:
    """`captions` drawn in `boxes` (one each, top first); `image` itself when all are blank."""
    if not any(text.strip() for text in captions):
        return image
    return render_captions(
        image,
        list(captions),
        list(boxes),
        font=font,
        fonts=runtime.fonts,
        box_fonts=box_fonts_of(boxes, runtime.settings),
    )


def box_fonts_of(boxes: Sequence[TextBox], settings: Settings) -> dict[str, FontSource]:
    """The fonts boxes name themselves (memegen's `thick`, `thin`, `comic`, `impact`...)."""
    fonts = {}
    for name in {box.font for box in boxes if box.font}:
        try:
            fonts[name] = caption_font(name, settings)
        except InvalidParameters:  # a template naming a font nobody has: the caption's font
            continue
    return fonts


def _without_box_fonts(boxes: Sequence[TextBox]) -> list[TextBox]:
    """The boxes with their own fonts dropped: a font the caller names is used for every
    box (memegen's `font=`)."""
    return [box.model_copy(update={"font": None}) for box in boxes]


def _checked_captions(captions: Sequence[str], settings: Settings) -> list[str]:
    limit = settings.limits.max_text_length
    for text in captions:
        if len(text) > limit:
            raise InvalidParameters(f"A caption has {len(text)} characters; the limit is {limit}")
    return list(captions)


def _check_box_count(captions: Sequence[str], boxes: Sequence[TextBox]) -> None:
    if len(captions) > len(boxes):
        raise InvalidParameters(
            f"{len(captions)} captions but only {len(boxes)} text boxes; "
            "pass fewer --text or another layout"
        )


def _pick_template(image: np.ndarray, template: str | None, runtime: Runtime) -> str | None:
    """The template id to render on: `template` itself, the best match for "auto", or None."""
    if template is None:
        return None
    if template != "auto":
        return runtime.templates.get(template).id  # NotFound for an unknown id
    best = runtime.templates.best_match(image)
    return best.id if best is not None else None


def make_meme(
    image: np.ndarray,
    captions: Sequence[str],
    *,
    erase: EraseMode = "auto",
    layout: str = "default",
    boxes: Sequence[TextBox] | None = None,
    font: str | None = None,
    method: str | None = None,
    template: str | None = None,
    runtime: Runtime,
) -> np.ndarray:
    """A meme: `image` with its existing text erased (per `erase`) and `captions` drawn in
    `boxes` (or the named `layout`'s boxes), one caption per box, top first.

    `template="auto"` renders on the clean template (with its own text boxes) when `image`
    matches one above `templates.match_threshold`; an id renders on that template.
    """
    return make_meme_result(
        image,
        captions,
        erase=erase,
        layout=layout,
        boxes=boxes,
        font=font,
        method=method,
        template=template,
        runtime=runtime,
    ).image


# ---- animated memes -----------------------------------------------------------------------


@dataclass(frozen=True)
class MemeAnimationResult:
    """An animated meme, the text regions erased (each on the frames that show it), how many
    frames had text erased, and the template rendered on, when one was used."""

    animation: Animation
    regions_erased: list[TextRegion] = field(default_factory=list)
    frames_erased: int = 0
    template_id: str | None = None


def make_meme_animation(
    animation: Animation,
    captions: Sequence[str],
    *,
    erase: EraseMode = "auto",
    layout: str = "default",
    boxes: Sequence[TextBox] | None = None,
    font: str | None = None,
    method: str | None = None,
    template: str | None = None,
    animate_template: bool = True,
    runtime: Runtime,
) -> Animation:
    """`make_meme` on every frame of `animation`: the same captions at the same place on
    each frame (frame count, durations, loop and transparency kept), old text erased on the
    frames that show it. A one-frame animation gives exactly `make_meme`'s picture, unless
    `template` names an animated template and `animate_template` is on: then its frames."""
    return make_meme_animation_result(
        animation,
        captions,
        erase=erase,
        layout=layout,
        boxes=boxes,
        font=font,
        method=method,
        template=template,
        animate_template=animate_template,
        runtime=runtime,
    ).animation


def make_meme_animation_result(
    animation: Animation,
    captions: Sequence[str],
    *,
    erase: EraseMode = "auto",
    layout: str = "default",
    boxes: Sequence[TextBox] | None = None,
    font: str | None = None,
    method: str | None = None,
    template: str | None = None,
    animate_template: bool = True,
    runtime: Runtime,
) -> MemeAnimationResult:
    """Like `make_meme_animation`, also returning what was erased and the template used.

    `template="auto"` matches the first frame; an animated input renders on the matched
    template only when that template is animated too (it stays an animation), a still one
    on the template's still picture (the picture it was matched against)."""
    if not animation.animated and not (
        animate_template and _is_animated_template(template, runtime)
    ):
        still = make_meme_result(
            animation.frames[0],
            captions,
            erase=erase,
            layout=layout,
            boxes=boxes,
            font=font,
            method=method,
            template=template,
            runtime=runtime,
        )
        out = Animation([still.image], animation.durations, animation.loop)
        erased_frames = 1 if still.regions_erased else 0
        return MemeAnimationResult(out, still.regions_erased, erased_frames, still.template_id)
    _check_image(animation.frames[0])
    if erase not in ERASE_MODES:
        raise InvalidParameters(f"Unknown erase mode {erase!r}: use auto, always or never")
    captions = _checked_captions(captions, runtime.settings)
    template_id = _pick_animation_template(animation, template, runtime)
    if template_id is not None:
        # The clean template replaces the picture: no text to erase, its own text boxes.
        animation, template_boxes = template_animation(template_id, runtime=runtime)
        boxes = boxes if boxes is not None else template_boxes
        erase = "never"
    text_boxes = list(boxes) if boxes is not None else layout_boxes(layout)
    _check_box_count(captions, text_boxes)
    source = caption_font(font, runtime.settings)
    if font:
        text_boxes = _without_box_fonts(text_boxes)
    erased, regions, count = erase_animation_text(
        animation, mode=erase, method=method, runtime=runtime
    )
    out = draw_animation_captions(erased, captions, text_boxes, font=source, runtime=runtime)
    return MemeAnimationResult(out, regions, count, template_id)


def erase_animation_text(
    animation: Animation,
    *,
    mode: EraseMode = "auto",
    method: str | None = None,
    runtime: Runtime,
) -> tuple[Animation, list[TextRegion], int]:
    """(`animation` with its text inpainted frame by frame, the regions erased, how many
    frames changed). OCR reads `frames.sample_indices` frames only; their regions are merged,
    and each frame is erased only where it still shows text (`frames.shown_regions`), so a
    frame without the caption is left as it is. `auto` keeps, on each sampled frame, only the
    meme captions (`caption_regions`) and skips when there is none."""
    if mode == "never":
        return animation, [], 0
    frames = animation.frames
    found = [(i, result.regions) for i, result in _read_sampled(frames, runtime=runtime)]
    if mode == "auto":
        threshold = runtime.settings.image_processing.skip_text_removal_threshold
        found = [(i, caption_regions(frames[i], rs, threshold)) for i, rs in found]
        if not any(rs for _, rs in found):
            return animation, [], 0
    texts = seen_texts(frames, found)
    done: dict[int, EraseResult] = {}  # a frame repeated (a looped still) is erased once
    for index, frame in enumerate(frames):
        if id(frame) not in done:
            regions = shown_regions(frame, index, texts, frames)
            done[id(frame)] = (
                erase_text(frame, mode="always", method=method, regions=regions, runtime=runtime)
                if regions
                else EraseResult(frame, [])
            )
    results = [done[id(frame)] for frame in frames]
    erased = {region for result in results for region in result.regions_erased}
    out = Animation([r.image for r in results], animation.durations, animation.loop)
    changed = sum(1 for r in results if r.regions_erased)
    return out, [t.region for t in texts if t.region in erased], changed


def draw_animation_captions(
    animation: Animation,
    captions: Sequence[str],
    boxes: Sequence[TextBox],
    *,
    font: FontSource,
    runtime: Runtime,
) -> Animation:
    """`captions` laid out and drawn once, then composited on every frame at the same place.
    As in memegen, a box's `start` and `stop` (fractions of the animation) bound the frames
    it shows on: frame i of n shows it when start <= i / n < stop (stop 0: always)."""
    if not any(text.strip() for text in captions):
        return animation
    height, width = animation.shape[:2]
    placed = place_captions(
        (width, height),
        list(captions),
        list(boxes),
        font=font,
        fonts=runtime.fonts,
        box_fonts=box_fonts_of(boxes, runtime.settings),
    )
    count = len(animation)
    frames = [
        draw_placed(frame, _shown_captions(placed, boxes, index, count))
        for index, frame in enumerate(animation.frames)
    ]
    return Animation(frames, animation.durations, animation.loop)


def _shown_captions(
    placed: Sequence[PlacedCaption | None], boxes: Sequence[TextBox], index: int, count: int
) -> list[PlacedCaption | None]:
    if count <= 1:
        return list(placed)
    at = index / count
    return [
        p if not box.stop or box.start <= at < box.stop else None
        for p, box in zip(placed, boxes, strict=False)
    ]


def make_template_meme_animation(
    template_id: str, captions: Sequence[str], *, runtime: Runtime
) -> Animation:
    """The template's animated picture (memegen's `default.gif`; its still picture as one
    frame when it has none) with `captions` in its text boxes on every frame (memegen's
    `/images/<template>/<line>/....gif`); NotFound for an unknown id."""
    captions = _checked_captions(captions, runtime.settings)
    animation, boxes = template_animation(template_id, runtime=runtime)
    _check_box_count(captions, boxes)
    source = caption_font(None, runtime.settings)
    return draw_animation_captions(animation, captions, boxes, font=source, runtime=runtime)


def template_animation(template_id: str, *, runtime: Runtime) -> tuple[Animation, list[TextBox]]:
    """(every frame of a library template's animated picture, its text boxes); the frames
    are kept in memory (as one array) like `template_picture`'s still."""
    library = runtime.templates
    template = library.get(template_id)
    stat = (template.animation_path or template.image_path).stat()
    key = f"template-animation:{template.id}:{stat.st_size}:{stat.st_mtime_ns}"
    frames, timing = runtime.arrays.get(key), runtime.arrays.get(f"{key}:timing")
    if frames is None or timing is None:
        animation = library.animation(template.id)
        frames = np.stack(animation.frames)
        loop = -1 if animation.loop is None else animation.loop
        timing = np.array([loop, *animation.durations], np.int64)
        runtime.arrays.put(key, frames)
        runtime.arrays.put(f"{key}:timing", timing)
    loop = int(timing[0])
    durations = tuple(int(ms) for ms in timing[1:])
    return Animation(list(frames), durations, None if loop < 0 else loop), text_boxes(template)


def _is_animated_template(template: str | None, runtime: Runtime) -> bool:
    """Whether `template` names (by id, not "auto") a template with several frames."""
    if template is None or template == "auto":
        return False
    return template_animation(template, runtime=runtime)[0].animated


def _pick_animation_template(
    animation: Animation, template: str | None, runtime: Runtime
) -> str | None:
    """`_pick_template` on the first frame; a match found by "auto" is used only when the
    template is animated (an animated input never becomes a still)."""
    template_id = _pick_template(animation.frames[0], template, runtime)
    if template_id is None or template != "auto":
        return template_id
    return template_id if template_animation(template_id, runtime=runtime)[0].animated else None
