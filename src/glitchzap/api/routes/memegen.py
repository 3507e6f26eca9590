"""memegen's image URLs: `GET /images/{template}/{line_1}/{line_2}.{ext}` and its neighbours.

As memegen does (app/views/images.py, helpers.py `render_image`), an image URL answers an
image even when something is wrong: the error picture with the status (404 unknown template,
414 a text segment over 200 bytes, 415 a remote image that cannot be fetched, 422 a bad
option), so an `<img>` tag always shows something. Non-canonical URLs redirect (301 to the
canonical text spelling, 301 from `style=animated` on a still format to `.gif`, 302 for a
watermark that may not be used); paths without an extension redirect to `.png` (302,
app/views/shortcuts.py). The drawing is `meme.memegen_render.render_memegen`; this module only
parses, fetches remote images through the SSRF guard, picks the status and caches.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import asdict, dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.datastructures import QueryParams

from glitchzap.api.cdn import content_key, matches, not_modified
from glitchzap.api.deps import ApiState, State
from glitchzap.api.memegen import (
    ALLOWED_EXTENSIONS,
    ANIMATED_EXTENSION,
    ANIMATED_EXTENSIONS,
    DEFAULT_EXTENSION,
    MAX_SLUG_PART_BYTES,
    PLACEHOLDER,
    clean_url,
    decode_slug,
    example_path,
    flag,
    is_url,
    normalize_slug,
    template_matches,
    template_styles,
)
from glitchzap.api.routes._image_output import content_headers
from glitchzap.api.routes.images import fetch_url
from glitchzap.api.routes.render import IMAGE_RESPONSES, MEDIA_TYPES
from glitchzap.api.schemas import is_template_id
from glitchzap.cache.keys import bytes_digest, make_key
from glitchzap.errors import (
    ImageTooLarge,
    InvalidParameters,
    NotFound,
    UnreadableImage,
    UnsupportedFormat,
    UrlFetchFailed,
    UrlRefused,
)
from glitchzap.meme.fonts import memegen_font
from glitchzap.meme.memegen_render import MemegenRequest, render_memegen, validate_color
from glitchzap.templates import Template

log = logging.getLogger(__name__)

router = APIRouter(tags=["memegen"])

# memegen's route patterns: `<template>.<ext>` (blank) and `<template>/<text...>.<ext>`.
BLANK_FILENAME = re.compile(r".+\.\w+", re.DOTALL)
TEXT_FILEPATH = re.compile(r"[^/].*\.\w+", re.DOTALL)
# What a remote image or a drawing can fail with (memegen's EXCEPTIONS, plus ours).
FETCH_ERRORS = (UrlRefused, UrlFetchFailed, ImageTooLarge, UnreadableImage)
RENDER_ERRORS = (InvalidParameters, UnreadableImage, UnsupportedFormat, ValueError, OSError)
FORMATS = {"png": "png", "jpg": "jpeg", "jpeg": "jpeg", "gif": "gif", "webp": "webp"}


@router.get("/images", tags=["memegen"])
def list_examples(request: Request, state: State) -> list[dict[str, str]]:
    """Every template's example meme as `{url, template}` (`?filter=` matches the id, name,
    keywords or example; `?animated=true|false` keeps only animated or still templates)."""
    query = request.query_params.get("filter", "").lower()
    animated = flag(request.query_params.get("animated"))
    base = public_base(request, state)
    items = []
    for template in sorted(state.runtime.templates.list_templates(), key=lambda t: t.id):
        if query and not template_matches(template, query):
            continue
        if animated is not None and template.animated != animated:
            continue
        items.append(
            {
                "url": base + example_path(template),
                "template": f"{base}/templates/{template.id}",
            }
        )
    return items


@router.get("/images/custom", responses={404: {"description": "No results matched"}})
def list_custom(request: Request) -> JSONResponse:
    """memegen lists popular custom memes from its tracking service; glitchzap keeps none, so
    this is memegen's answer when nothing matched."""
    query = request.query_params.get("filter", "").lower()
    return JSONResponse({"message": f"No results matched: {query}"}, status_code=404)


@router.get("/images/preview.jpg", response_class=Response, responses=IMAGE_RESPONSES)
async def preview(request: Request, state: State) -> Response:
    """A small JPEG preview (`template` id or image URL, `text[]`, `style`, `layout`), always
    200: problems are stamped on the picture, as memegen's `preview_image` does."""
    query = request.query_params
    lines = query.getlist("text[]") or query.getlist("lines[]")
    while lines and not lines[-1].strip():
        lines.pop()
    style = query.get("style") or ",".join(query.getlist("styles[]"))
    while style.endswith(",default"):
        style = style.removesuffix(",default")
    memegen = await preview_request(state, clean_url(query.get("template", "_error")), style)
    memegen = replace(
        memegen,
        lines=tuple(lines) if any(line.strip() for line in lines) else memegen.lines,
        layout="top" if query.get("layout") == "top" else "default",
    )
    data = await draw(state, memegen)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-cache"})


async def preview_request(state: ApiState, template_id: str, style: str) -> MemegenRequest:
    """The preview's template (or background), default lines and stamp."""
    base = MemegenRequest(lines=(), extension="jpg", preview=True)
    template = None
    if is_url(template_id):
        background = await fetch_image(state, template_id)
        if background is None:
            return replace(base, error=True, watermark="Invalid Background")
        base = replace(base, background=background)
    else:
        template = find_template(state, template_id)
        if template is None:
            return replace(base, error=True, watermark="Unknown Template")
        base = replace(base, template_id=template.id, lines=tuple(template.example))
    overlays: tuple[bytes, ...] = ()
    known = ("", "default", "animated", *(template_styles(template) if template else ()))
    if style not in known:
        fetched = await fetch_overlays(state, style) if is_url(style) else None
        if fetched is None:
            return replace(base, error=True, watermark="Invalid Overlay")
        overlays = fetched
    animated = template is not None and template.animated
    stamp = ""
    if style == "animated" and not animated:
        stamp = "Animated Text"
    elif style == "default" and animated:
        stamp = "Static Image"
    kind = "animated" if style == "animated" else "default"
    return replace(base, overlays=overlays, watermark=stamp, style=kind)


@router.get("/images/{path:path}", response_class=Response, responses=IMAGE_RESPONSES)
async def meme_image(path: str, request: Request, state: State) -> Response:
    """A meme: `/images/<template>/<line_1>/<line_2>.<png|jpg|gif|webp>`, or the blank
    template as `/images/<template>.<ext>`. Options: style, font, layout, width, height,
    color, background (custom), center, scale, start, stop, frames, watermark, status.

    Its ETag digests the template, text and every option that changes the picture;
    `Cache-Control: public, max-age=<server.memegen_max_age_seconds>`; an `If-None-Match`
    naming the ETag is 304 without drawing."""
    if path in ("", "/"):
        return JSONResponse(list_examples(request, state))
    if "/" not in path:
        if BLANK_FILENAME.fullmatch(path):
            template_id, extension = path.rsplit(".", 1)
            return await blank_image(request, state, template_id, extension)
        return example_redirect(state, path)
    template_id, text_filepath = path.split("/", 1)
    if TEXT_FILEPATH.fullmatch(text_filepath):
        return await text_image(request, state, template_id, text_filepath)
    return text_redirect(request, template_id, text_filepath)


async def blank_image(request: Request, state: ApiState, template_id: str, ext: str) -> Response:
    """memegen's `detail_blank`: the template without text."""
    if request.query_params.get("style") == "animated" and ext not in ANIMATED_EXTENSIONS:
        query = query_without(request, "style")
        return redirect(f"/images/{template_id}.{ANIMATED_EXTENSION}", query, 301)
    return await render_image(request, state, template_id, "", "", ext)


async def text_image(
    request: Request, state: ApiState, template_id: str, text_filepath: str
) -> Response:
    """memegen's `detail_text`: redirects to the canonical URL first, then the meme."""
    text_paths, ext = text_filepath.rsplit(".", 1)
    if request.query_params.get("style") == "animated" and ext not in ANIMATED_EXTENSIONS:
        query = query_without(request, "style")
        return redirect(f"/images/{template_id}/{text_paths}.{ANIMATED_EXTENSION}", query, 301)
    slug, updated = normalize_slug(text_paths)
    if updated:
        return redirect(f"/images/{template_id}/{slug}.{ext}", request.url.query, 301)
    watermark, updated = resolve_watermark(state, request.query_params.get("watermark"))
    if updated:
        query = query_without(request, "watermark")
        return redirect(f"/images/{template_id}/{slug}.{ext}", query, 302)
    return await render_image(request, state, template_id, slug, watermark, ext)


def resolve_watermark(state: ApiState, given: str | None) -> tuple[str, bool]:
    """(the watermark to draw, whether to redirect without `watermark=`). glitchzap's rule:
    `server.memegen_watermark` ("" = none) unless asked otherwise; `none` draws none; a value
    in `server.memegen_allowed_watermarks` is drawn; the default itself, or anything else, is
    memegen's 302 to the URL without it."""
    server = state.settings.server
    default = server.memegen_watermark
    if not given:
        return default, False
    if given == "none":
        return "", False
    if given != default and given in server.memegen_allowed_watermarks:
        return given, False
    return default, True


@dataclass
class Parsed:
    """An image request being checked: what to draw and the status to answer."""

    memegen: MemegenRequest
    status: int
    template: Template | None = None


async def render_image(
    request: Request, state: ApiState, template_id: str, slug: str, watermark: str, ext: str
) -> Response:
    """memegen's `render_image`: the status each problem gets, then the picture (the error
    picture for 404/414/415, the meme itself for most 422s, as memegen draws them)."""
    parsed = await parse_image(request.query_params, state, template_id, slug, ext)
    parsed.memegen = replace(parsed.memegen, watermark=watermark)
    memegen, status = parsed.memegen, parsed.status
    fmt = FORMATS[memegen.extension]
    key = make_key("memegen", memegen.template_id or "custom", cache_params(parsed), fmt)
    headers = {"Cache-Control": "no-cache"}
    if status < 400:
        headers = content_headers(state, content_key(key), fmt)
        max_age = state.settings.server.memegen_max_age_seconds
        headers["Cache-Control"] = f"public, max-age={max_age}"
        if matches(request.headers.get("if-none-match"), content_key(key)):
            return not_modified(headers)
    memes = state.runtime.cache("memes")
    data = memes.get(key)
    if data is None:
        try:
            data = await draw(state, memegen)
        except RENDER_ERRORS as exc:  # memegen: "Unable to render text" -> 422 error picture
            log.warning("memegen render failed (%s); answering the error picture", exc)
            status = status if status >= 400 else 422
            headers = {"Cache-Control": "no-cache"}
            return Response(
                await draw(state, replace(memegen, error=True, template_id=None, background=None)),
                status_code=status,
                media_type=MEDIA_TYPES[fmt],
                headers=headers,
            )
        memes.set(key, data)
    return Response(data, status_code=status, media_type=MEDIA_TYPES[fmt], headers=headers)


async def parse_image(
    query: QueryParams, state: ApiState, template_id: str, slug: str, ext: str
) -> Parsed:
    """The request's drawing and status, in memegen's order: status and frames, extension,
    text length, template (or custom background), colours, style, font, size."""
    status, valid = parse_int(query.get("status"), 200)
    if not valid or not (200 <= status <= 599) or status in (204, 205, 304):
        status = 422
    frames, valid = parse_int(query.get("frames"), 0)
    if not valid or frames < 0:
        frames, status = 0, 422
    styles = query.getlist("style")  # repeated `style=<url>`: one per overlay slot
    style = ",".join(s.strip() or "default" for s in styles) if styles else "default"
    if ext not in ALLOWED_EXTENSIONS:
        ext, status = DEFAULT_EXTENSION, 422
    lines = decode_slug(slug) if slug else []
    memegen = MemegenRequest(lines=tuple(lines), extension=ext, frames=frames)
    parsed = Parsed(memegen, status)
    limit = state.settings.limits.max_text_length
    too_long = any(len(part.encode()) > MAX_SLUG_PART_BYTES for part in slug.split("/"))
    if too_long or any(len(line) > limit for line in lines):
        short = slug[:50] + "..."
        parsed.memegen = replace(memegen, lines=tuple(decode_slug(short)), error=True)
        parsed.status, style = 414, "default"
    elif template_id == "custom":
        style = await parse_background(query, state, parsed, style)
    else:
        parsed.template = find_template(state, template_id)
        if parsed.template is not None and not parsed.template.image_path.exists():
            parsed.template = None  # memegen: `not template.image.exists()` is a 404 too
        if parsed.template is None:
            parsed.memegen = replace(parsed.memegen, error=True)
            if template_id != PLACEHOLDER:
                parsed.status = 404
        else:
            parsed.memegen = replace(parsed.memegen, template_id=parsed.template.id)
    invalid_color = parse_colors(query, parsed)
    if parsed.status < 400 or (parsed.status == 422 and invalid_color):
        await parse_style(state, parsed, style)
    parse_font(query, parsed)
    parse_size(query, parsed)
    parse_options(query, parsed)
    return parsed


async def parse_background(query: QueryParams, state: ApiState, parsed: Parsed, style: str) -> str:
    """`/images/custom/...?background=<url>`: 422 without one, 415 when it is not an image."""
    url = query.get("background")
    if not url:
        parsed.memegen = replace(parsed.memegen, error=True)
        parsed.status = 422
        return "default"
    if url == PLACEHOLDER:
        parsed.memegen = replace(parsed.memegen, error=True)
        return style
    background = await fetch_image(state, clean_url(url))
    if background is None:
        parsed.memegen = replace(parsed.memegen, error=True)
        parsed.status = 415
    else:
        parsed.memegen = replace(parsed.memegen, background=background)
    return style


def parse_colors(query: QueryParams, parsed: Parsed) -> bool:
    """`color=<text>,<outline>`: whether one is invalid (then 422; it draws in white)."""
    color = query.get("color")
    if not color:
        return False
    colors, invalid = [], False
    for value in (v for v in color.split(",") if v):
        normalized, valid = validate_color(value)
        colors.append(normalized if valid and normalized else "white")
        invalid = invalid or not valid
    parsed.memegen = replace(parsed.memegen, colors=tuple(colors))
    if invalid and parsed.status < 400:
        parsed.status = 422
        return True
    return False


async def parse_style(state: ApiState, parsed: Parsed, style: str) -> None:
    """`style`: default, a style the template has (animated), or image URLs for its overlay
    slots (415 when one cannot be fetched); any other name is 422."""
    template = parsed.template
    if style in ("", "default", PLACEHOLDER) or (template and style in template_styles(template)):
        kind = "animated" if style == "animated" else "default"
        parsed.memegen = replace(parsed.memegen, style=kind)
        return
    if is_url(style):
        overlays = await fetch_overlays(state, style)
        if overlays is None:
            parsed.status = 415
        else:
            parsed.memegen = replace(parsed.memegen, overlays=overlays)
        return
    log.info("memegen: invalid style %r", style[:100])
    parsed.status = 422


def parse_font(query: QueryParams, parsed: Parsed) -> None:
    """`font`: a font id or alias (GET /fonts); an unknown one is 422, drawn in the default."""
    name = query.get("font", "")
    if not name or name == PLACEHOLDER:
        return
    if memegen_font(name) is None:
        parsed.status = 422
        return
    parsed.memegen = replace(parsed.memegen, font=name)


def parse_size(query: QueryParams, parsed: Parsed) -> None:
    """`width` and `height`: integers; 1-9 (or negative, or not a number) is 422."""
    width, width_ok = parse_int(query.get("width"), 0)
    height, height_ok = parse_int(query.get("height"), 0)
    if not (width_ok and height_ok) or any(v != 0 and v < 10 for v in (width, height)):
        parsed.status = 422
        return
    parsed.memegen = replace(parsed.memegen, width=width, height=height)


def parse_options(query: QueryParams, parsed: Parsed) -> None:
    """layout, center, scale, start and stop: memegen ignores values it cannot read."""
    memegen = parsed.memegen
    center = parse_floats(query.get("center", ""))
    scale = parse_floats(query.get("scale", ""))
    start = parse_floats(query.get("start", ""))
    stop = parse_floats(query.get("stop", ""))
    if start is None or stop is None:
        start = stop = ()
    layout = "top" if query.get("layout") == "top" else "default"
    if layout == "default" and parsed.template is not None:  # lines past the boxes: not drawn
        memegen = replace(memegen, lines=memegen.lines[: max(len(parsed.template.text_boxes), 1)])
    parsed.memegen = replace(
        memegen,
        layout=layout,
        center=(center[0], center[1]) if center and len(center) == 2 else None,
        scale=scale[0] if scale and len(scale) == 1 else None,
        start=start,
        stop=stop,
    )


def parse_int(value: str | None, default: int) -> tuple[int, bool]:
    """(the integer, whether `value` was one); absent is `default`."""
    if value is None or value == "":
        return default, True
    try:
        return int(value), True
    except ValueError:
        return default, False


def parse_floats(value: str) -> tuple[float, ...] | None:
    """Comma-separated finite numbers (empty parts skipped); None when one is not a number."""
    try:
        numbers = tuple(float(v) for v in value.split(",") if v)
    except ValueError:
        return None
    return numbers if all(abs(n) < float("inf") for n in numbers) else None


def cache_params(parsed: Parsed) -> dict[str, Any]:
    """Everything that changes the picture: the request (remote images by digest) and the
    template's files and text boxes (an edited template is another image)."""
    fields = asdict(parsed.memegen)
    fields["background"] = digest(parsed.memegen.background)
    fields["overlays"] = [digest(o) for o in parsed.memegen.overlays]
    template = parsed.template
    if template is not None and not parsed.memegen.error:
        stat = template.image_path.stat()
        fields["image"] = [stat.st_size, stat.st_mtime_ns]
        fields["boxes"] = template.text_boxes
        if template.animation_path is not None:
            gif = template.animation_path.stat()
            fields["animation"] = [gif.st_size, gif.st_mtime_ns]
    return fields


def digest(data: bytes | None) -> str | None:
    return None if data is None else bytes_digest(data)


async def draw(state: ApiState, memegen: MemegenRequest) -> bytes:
    """The picture, drawn on the CPU pool."""
    with state.monitor.track("memegen"):
        return await state.pool.run(
            state.settings.server.render_timeout_seconds, _render, memegen, state
        )


def _render(memegen: MemegenRequest, state: ApiState) -> bytes:
    return render_memegen(memegen, runtime=state.runtime)


async def fetch_overlays(state: ApiState, style: str) -> tuple[bytes, ...] | None:
    """The images of `style=<url>[,<url>...]`, one per overlay slot (b"" keeps a slot's
    default, memegen's `default` or empty entry); None when one cannot be fetched."""
    urls = [u.strip() for u in style.split(",") if u.strip()]
    overlays = []
    for url in urls:
        if url == "default":
            overlays.append(b"")
            continue
        data = await fetch_image(state, url)
        if data is None:
            return None
        overlays.append(data)
    return tuple(overlays)


async def fetch_image(state: ApiState, url: str) -> bytes | None:
    """The image bytes at `url` through the SSRF-safe fetcher; None (memegen's 415) when it
    is refused, unreachable, too large or not an image."""
    from PIL import Image

    try:
        data = await fetch_url(state, url)
        with Image.open(io.BytesIO(data)) as image:
            image.size  # noqa: B018 - reading the header is the check
    except FETCH_ERRORS as exc:
        log.info("memegen: unable to download image URL: %s", exc)
        return None
    except (OSError, ValueError, Image.DecompressionBombError):
        log.info("memegen: %s is not an image", url[:100])
        return None
    return data


def find_template(state: ApiState, template_id: str) -> Template | None:
    """The library template `template_id` names, else None; a malformed id never reaches the
    library or a file name."""
    if not is_template_id(template_id):
        return None
    try:
        return state.runtime.templates.get(template_id)
    except NotFound:
        return None


def example_redirect(state: ApiState, template_id: str) -> Response:
    """`/images/<template>`: 302 to its example meme (memegen shortcuts `example_path`)."""
    template = find_template(state, clean_url(template_id))
    if template is None:
        raise NotFound(f"Template not found: {shorten(template_id)}")
    return RedirectResponse(example_path(template), status_code=302)


def text_redirect(request: Request, template_id: str, text_paths: str) -> Response:
    """memegen's `custom_path` fixes for a text path without an extension: a query string
    typed with `&`, `//`, a trailing slash or quote; then `.png` (or the blank template)."""
    if template_id == "images":
        return RedirectResponse(f"/images/{text_paths}".removesuffix("/"), status_code=302)
    if not is_template_id(template_id):  # a malformed id is never echoed into a Location
        raise NotFound(f"Template not found: {shorten(template_id)}")
    query = request.url.query
    text_paths = clean_url(text_paths)
    if "&" in text_paths:
        text_paths, typed = text_paths.split("&", 1)
        query = urlencode(parse_qsl(typed, keep_blank_values=True) + parse_qsl(query))
    elif "//" in text_paths:
        text_paths = text_paths.split("//")[0]
    elif text_paths.endswith("/"):
        text_paths = text_paths.rstrip("/")
    elif text_paths.endswith('"'):
        text_paths = text_paths.rstrip('"')
    if not text_paths:
        return RedirectResponse(f"/images/{template_id}", status_code=302)
    if text_paths.startswith("."):
        return redirect(f"/images/{template_id}{text_paths}", query, 302)
    if not TEXT_FILEPATH.fullmatch(text_paths):
        text_paths += "." + DEFAULT_EXTENSION
    return redirect(f"/images/{template_id}/{text_paths}", query, 302)


def redirect(path: str, query: str, status: int) -> Response:
    """A redirect to `path?query`, tidied as memegen's `urls.clean`."""
    return RedirectResponse(clean_url(path + (f"?{query}" if query else "")), status_code=status)


def query_without(request: Request, name: str) -> str:
    pairs = parse_qsl(request.url.query, keep_blank_values=True)
    return urlencode([(k, v) for k, v in pairs if k != name])


def public_base(request: Request, state: ApiState) -> str:
    """The base of absolute URLs in JSON: `server.public_base_url`, else the request's."""
    base = state.settings.server.public_base_url or str(request.base_url)
    return base.rstrip("/")


def shorten(text: str, limit: int = 64) -> str:
    return text if len(text) <= limit else f"{text[:limit]}…"
