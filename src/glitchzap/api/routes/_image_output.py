"""Running a cached image operation on the CPU pool and answering its bytes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from glitchzap.api.cdn import content_key, content_url, etag, matches, not_modified
from glitchzap.api.deps import ApiState
from glitchzap.api.store import StoredImage
from glitchzap.cache.keys import make_key
from glitchzap.errors import ImageTooLarge, InvalidParameters
from glitchzap.pipeline import preview_size
from glitchzap.recipes import Recipe
from glitchzap.rendering import check_frames_budget, estimate_render_bytes, preview_key

# APNG is served as image/png: every browser plays it from there, and a client that does not
# know APNG still shows its first frame (image/apng is registered but less widely known).
MEDIA_TYPES = {"webp": "image/webp", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif"}


async def cached_operation(
    request: Request,
    state: ApiState,
    step: str,
    image_id: str,
    params: dict[str, Any],
    fmt: str,
    compute: Callable[[], bytes],
    memory_bytes: int = 0,
) -> Response:
    """The `fmt` image `compute()` makes, cached in "renders" by step+image+params (`params`
    must name the format), with its ETag and content-addressed URL; 304 with no body, and
    nothing computed, when the request's If-None-Match already names it."""
    cache_key = make_key(step, image_id, params)
    headers = content_headers(state, content_key(cache_key), fmt)
    if matches(request.headers.get("if-none-match"), content_key(cache_key)):
        return not_modified(headers)
    data, hit = await state.cached(
        "renders", cache_key, compute, operation=step, memory_bytes=memory_bytes
    )
    return image_response(data, fmt, hit, **headers)


def content_headers(state: ApiState, key: str, fmt: str) -> dict[str, str]:
    """The strong ETag of the image named `key` and its content-addressed URL (see api.cdn)."""
    return {"ETag": etag(key), "Content-Location": content_url(state.settings.server, key, fmt)}


def answer_format(info: StoredImage, requested: str) -> str:
    """The container to answer `requested` in (png, jpeg, webp or gif; apng and png are APNG
    for an animation); InvalidParameters (422) for an animated image asked as JPEG."""
    if info.animated and requested == "jpeg":
        raise InvalidParameters(
            "The image is animated and JPEG cannot hold an animation: "
            "ask for gif, webp, apng or png"
        )
    return "png" if requested == "apng" else requested


def frames_memory(state: ApiState, info: StoredImage, copies: int, what: str) -> int:
    """The bytes an operation holding `copies` of every frame of an animation needs at its
    peak (0 for a still: not counted); ImageTooLarge (413) past
    limits.max_request_memory_bytes. `what` names the operation in the message."""
    if not info.animated:
        return 0
    needed = info.frames * info.width * info.height * info.channels * copies
    limit = state.settings.limits.max_request_memory_bytes
    if needed > limit:
        raise ImageTooLarge(
            f"{what} of this {info.frames}-frame {info.width}x{info.height} animation needs "
            f"about {needed / 1e6:,.0f} MB; limits.max_request_memory_bytes is "
            f"{limit / 1e6:,.0f} MB"
        )
    return needed


def image_response(data: bytes, fmt: str, hit: bool, **headers: str) -> Response:
    return Response(
        data, media_type=MEDIA_TYPES[fmt], headers={"X-Cache": "hit" if hit else "miss", **headers}
    )


def request_memory(state: ApiState, info: StoredImage, recipe: Recipe, quality: str) -> int:
    """The render's estimated peak bytes; ImageTooLarge (413) over the per-request limit, or
    for a still made into more frames than the animation budgets allow.

    An animation's frames render one after the other, so one frame's work is counted once;
    every rendered frame is held until the container is encoded (and the encoder copies
    them), and decoding the original holds all its frames."""
    frames = output_frames(info, recipe)
    sizes = state.settings.image_processing.preview_sizes
    if frames > 1:
        # At the size the frames are made: a 50 MP still still previews as a 300 px loop.
        out_width, out_height = preview_size(info.shape, quality, sizes)
        check_frames_budget(frames, out_width, out_height, state.settings.limits)
    needed = estimate_render_bytes(info.shape, recipe, quality=quality, preview_sizes=sizes)
    if frames > 1:
        width, height = preview_size(info.shape, quality, sizes)
        needed += frames * width * height * 4 * 2  # RGBA at most: the frame and its copy
    if needs_original(state, info, recipe, quality):
        needed += decode_bytes(info)
    limit = state.settings.limits.max_request_memory_bytes
    if needed > limit:
        what = f"{frames}-frame animation" if frames > 1 else "image"
        raise ImageTooLarge(
            f"This render of a {info.width}x{info.height} {what} needs about "
            f"{needed / 1e6:,.0f} MB; limits.max_request_memory_bytes is {limit / 1e6:,.0f} MB "
            "(use a preview quality, a smaller image, fewer frames, or raise the limit)"
        )
    return needed


def output_frames(info: StoredImage, recipe: Recipe) -> int:
    """Frames the render gives: an animation's own, a still looped by `recipe.animation`'s
    count, else 1."""
    if info.animated:
        return info.frames
    return recipe.animation.frames if recipe.animation is not None else 1


# Decoding an upload and resizing it for a preview, at their peak: Pillow's 4-byte pixels, the
# array and the resize (measured: ~6 bytes a pixel for a 49 MP JPEG).
DECODE_BYTES_PER_PIXEL = 8


def decode_bytes(info: StoredImage) -> int:
    """Peak bytes of decoding the stored original: a still, or every frame of an animation
    into one array while Pillow composes the next."""
    frame = info.width * info.height
    if info.animated:
        return info.frames * frame * info.channels + frame * DECODE_BYTES_PER_PIXEL
    return frame * DECODE_BYTES_PER_PIXEL


def needs_original(state: ApiState, info: StoredImage, recipe: Recipe, quality: str) -> bool:
    """Whether the render must decode the original: not when its pixels (or, for a still
    preview needing no mask or cut-out, that preview) are kept in memory."""
    if info.animated or recipe.animated:
        return not state.store.in_memory(info)
    if light_render(state, info, recipe, quality):
        return False
    return state.store.arrays.get(info.image_id) is None


def light_render(state: ApiState, info: StoredImage, recipe: Recipe, quality: str) -> bool:
    """Whether the render is light enough for the event loop (`server.inline_previews`): a
    still preview made from its preview-sized pixels already in memory, with no mask or
    cut-out (no model). Milliseconds of work (~2.4 ms for a 500 px preview with blur and
    noise; every effect at its maximum on an 800 px preview took ~0.15 s)."""
    return still_preview(info, recipe, quality) and preview_in_memory(state, info, quality)


def still_preview(info: StoredImage, recipe: Recipe, quality: str) -> bool:
    """Whether the render is made from the preview-sized copy of a still: a preview quality,
    no frames, no mask or cut-out (those start from the original)."""
    options = recipe.background
    if info.animated or recipe.animated or quality == "full":
        return False
    return not (options.remove or options.only_mask or recipe.needs_mask)


def preview_in_memory(state: ApiState, info: StoredImage, quality: str) -> bool:
    key = preview_key(info.image_id, quality, state.runtime)
    return state.runtime.arrays.get(key) is not None
