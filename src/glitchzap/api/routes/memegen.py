"""memegen-compatible URL API: `GET /images/{template}/{line1}/{line2}.png` and `/templates`.

`.gif` and `.webp` on an animated template draw the captions on every frame (its own frame
count, timing and loop); `.png` and `.jpg` draw them on the still picture, as memegen does."""

from __future__ import annotations

from typing import Annotated, Any

import cv2
import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from glitchzap.animation import Animation
from glitchzap.api.cdn import content_key, matches, not_modified
from glitchzap.api.deps import ApiState, State
from glitchzap.api.memegen import ANIMATED_FORMATS, decode_text, split_extension, template_json
from glitchzap.api.routes._image_output import content_headers
from glitchzap.api.routes.render import IMAGE_RESPONSES, MEDIA_TYPES, IfNoneMatch
from glitchzap.api.schemas import ERROR_RESPONSES, is_template_id
from glitchzap.cache.keys import make_key
from glitchzap.errors import InvalidParameters, NotFound, UnsupportedFormat
from glitchzap.io import encode_animation, encode_image
from glitchzap.settings import LimitsSettings
from glitchzap.templates import Template

router = APIRouter(tags=["memegen"])

Dimension = Annotated[int | None, Query(ge=1, le=100_000, description="Output size in px")]


@router.get("/templates")
def list_templates(request: Request, state: State) -> list[dict[str, Any]]:
    """Every template, in memegen's JSON shape."""
    base = _base_url(request)
    return [template_json(t, base) for t in state.runtime.templates.list_templates()]


@router.get("/templates/{template_id}", responses=ERROR_RESPONSES)
def get_template(template_id: str, request: Request, state: State) -> dict[str, Any]:
    return template_json(_template(state, template_id), _base_url(request))


@router.get("/images/{path:path}", response_class=Response, responses=IMAGE_RESPONSES)
async def meme_image(
    path: str,
    state: State,
    width: Dimension = None,
    height: Dimension = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """The template with one caption per path segment, memegen escapes decoded.

    Its ETag digests the template (its files' size and time), the captions, size and format;
    `Cache-Control: public, max-age=<server.memegen_max_age_seconds>`; an `If-None-Match`
    naming the ETag is 304 without drawing."""
    template_id, lines, fmt = parse_meme_path(path)
    template = _template(state, template_id)
    _check_lines(lines, state.settings.limits)
    limit = state.settings.limits.max_output_dimension
    if (width or 0) > limit or (height or 0) > limit:
        raise InvalidParameters(f"width and height must be at most {limit} px")
    stat = template.image_path.stat()
    params = {
        "lines": lines,
        "width": width,
        "height": height,
        "image": [stat.st_size, stat.st_mtime_ns],
        "boxes": template.text_boxes,  # an edited layout is another image (and ETag)
    }
    if fmt in ANIMATED_FORMATS and template.animation_path is not None:
        gif = template.animation_path.stat()
        params["animation"] = [gif.st_size, gif.st_mtime_ns]
    key = make_key("memegen", template_id, params, fmt)
    headers = content_headers(state, content_key(key), fmt)
    headers["Cache-Control"] = f"public, max-age={state.settings.server.memegen_max_age_seconds}"
    if matches(if_none_match, content_key(key)):
        return not_modified(headers)
    memes = state.runtime.cache("memes")
    data = memes.get(key)
    if data is None:
        with state.monitor.track("memegen"):
            data = await state.pool.run(
                state.settings.server.render_timeout_seconds,
                render_meme,
                state,
                template,
                lines,
                width,
                height,
                fmt,
            )
        memes.set(key, data)
    return Response(data, media_type=MEDIA_TYPES[fmt], headers=headers)


def parse_meme_path(path: str) -> tuple[str, list[str], str]:
    """(template id, decoded lines, output format) of `ants/line_1/line_2.png`."""
    segments = path.split("/")
    stem, fmt = split_extension(segments[-1])
    if fmt is None:
        raise UnsupportedFormat("End the meme URL with .png, .jpg, .webp or .gif")
    segments[-1] = stem
    template_id, *encoded = segments
    if not template_id:
        raise NotFound("The meme URL needs a template id: /images/<template>/<line>.png")
    return template_id, [decode_text(s) for s in encoded], fmt


def render_meme(
    state: ApiState,
    template: Template,
    lines: list[str],
    width: int | None,
    height: int | None,
    fmt: str,
) -> bytes:
    """The template image with captions drawn, resized to fit width x height, encoded: every
    frame of an animated template for gif and webp, else the still picture."""
    from glitchzap.meme.compose import make_template_meme, make_template_meme_animation

    if fmt in ANIMATED_FORMATS:
        meme = make_template_meme_animation(template.id, lines, runtime=state.runtime)
    else:
        meme = Animation.still(make_template_meme(template.id, lines, runtime=state.runtime))
    frame_h, frame_w = meme.shape[:2]  # an animated template's GIF may differ from its still
    size = _fitted_size(frame_w, frame_h, width, height)
    _check_output_size(size, state.settings.limits)
    frames = [_fit(frame, size) for frame in meme.frames]
    if meme.animated:
        return encode_animation(Animation(frames, meme.durations, meme.loop), fmt)
    return encode_image(frames[0], fmt)


def _fitted_size(w: int, h: int, width: int | None, height: int | None) -> tuple[int, int]:
    """(w, h) scaled to `width` and/or `height` keeping the aspect ratio (inside both)."""
    if not width and not height:
        return w, h
    scale = min(width / w if width else np.inf, height / h if height else np.inf)
    return max(1, round(w * scale)), max(1, round(h * scale))


def _check_lines(lines: list[str], limits: LimitsSettings) -> None:
    # The same caption limit as POST /api/meme: a 60,000-character line costs seconds of CPU.
    for line in lines:
        if len(line) > limits.max_text_length:
            raise InvalidParameters(
                f"A caption has {len(line)} characters; the limit is {limits.max_text_length}"
            )


def _check_output_size(size: tuple[int, int], limits: LimitsSettings) -> None:
    # One side given: the other follows the template's aspect ratio and may pass the limit.
    w, h = size
    if max(w, h) > limits.max_output_dimension or w * h > limits.max_pixels:
        raise InvalidParameters(
            f"The output would be {w}x{h} px; the limits are {limits.max_output_dimension} px "
            f"a side and {limits.max_pixels / 1e6:.1f} MP"
        )


def _fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`image` resized to `size` (w, h)."""
    h, w = image.shape[:2]
    if (w, h) == size:
        return image
    interpolation = cv2.INTER_AREA if size[0] < w else cv2.INTER_LINEAR
    return cv2.resize(image, size, interpolation=interpolation)


def _template(state: ApiState, template_id: str) -> Template:
    """The template `template_id` names; memegen's 404 for any id it does not know.

    A malformed id (too long, odd characters, `..`) never reaches the library or a file name.
    """
    if is_template_id(template_id):
        try:
            return state.runtime.templates.get(template_id)
        except NotFound:
            pass
    shown = template_id if len(template_id) <= 64 else f"{template_id[:64]}…"
    raise NotFound(f"Unknown template {shown!r}: see GET /templates")


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")
