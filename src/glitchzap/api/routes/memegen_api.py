"""memegen's JSON API: templates, fonts, creating meme URLs, and `POST /auth`.

Shapes and statuses follow memegen (app/views/templates.py, images.py, helpers.py
`generate_url`, fonts.py, clients.py). Bodies are JSON or forms, read leniently as memegen
reads them: `text` or `text_lines` (or `text[]`), `style` or `style[]`, `layout`, `font`,
`extension`, `background`, `redirect`. `POST /images/automatic` searches glitchzap's own
template library (memegen asks a remote service) and captions the best template.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from glitchzap.api.deps import ApiState, State
from glitchzap.api.memegen import (
    PLACEHOLDER,
    add_query,
    custom_path,
    flag,
    font_json,
    is_url,
    slugify,
    template_json,
    template_matches,
)
from glitchzap.api.routes.memegen import find_template, public_base
from glitchzap.api.schemas import ERROR_RESPONSES
from glitchzap.errors import InvalidParameters, NotFound
from glitchzap.meme.fonts import MEMEGEN_FONTS, memegen_font

router = APIRouter(tags=["memegen"])
auth_router = APIRouter(tags=["memegen"])  # open: it answers 401 itself, in memegen's shape

JSON_BODY = {"requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}}


@router.get("/templates")
def list_templates(request: Request, state: State) -> list[dict[str, Any]]:
    """Every template in memegen's JSON shape (`?filter=` matches the id, name, keywords or
    example; `?animated=true|false` keeps only animated or still ones)."""
    query = request.query_params.get("filter", "").lower()
    animated = flag(request.query_params.get("animated"))
    base = public_base(request, state)
    templates = sorted(state.runtime.templates.list_templates(), key=lambda t: t.id)
    return [
        template_json(t, base)
        for t in templates
        if (not query or template_matches(t, query)) and animated in (None, t.animated)
    ]


@router.get("/templates/{template_id}", responses=ERROR_RESPONSES)
def get_template(template_id: str, request: Request, state: State) -> dict[str, Any]:
    template = find_template(state, template_id)
    if template is None:
        raise NotFound(f"Template not found: {_shorten(template_id)}")
    return template_json(template, public_base(request, state))


@router.post("/templates/custom", status_code=201, openapi_extra=JSON_BODY)
async def create_custom_from_templates(request: Request, state: State) -> Response:
    """A meme URL on any image (`background`): memegen's `POST /templates/custom`."""
    return await generate_url(request, state)


@router.post("/templates/{template_id}", status_code=201, openapi_extra=JSON_BODY)
async def create_from_template(template_id: str, request: Request, state: State) -> Response:
    """A meme URL on `template_id`: 201 `{"url"}`, 404 with the URL when it is unknown."""
    return await generate_url(request, state, template_id)


@router.post("/images", status_code=201, openapi_extra=JSON_BODY)
async def create_meme(request: Request, state: State) -> Response:
    """A meme URL from raw text: `template_id` (required: 400), `text`, `style`, `layout`,
    `font`, `extension`; `redirect` answers 302 to the URL with `?status=201`."""
    return await generate_url(request, state, required=True)


@router.post("/images/custom", status_code=201, openapi_extra=JSON_BODY)
async def create_custom(request: Request, state: State) -> Response:
    """A meme URL on any image (`background`)."""
    return await generate_url(request, state)


@router.post("/images/automatic", status_code=201, openapi_extra=JSON_BODY)
async def create_automatic(request: Request, state: State) -> Response:
    """A meme URL for `text` on the template the library search ranks first: 201
    `{url, generator, confidence}`; 400 without `text`, 404 when no template matches."""
    payload = await read_payload(request)
    text = payload.get("text")
    if text is None:
        return JSONResponse({"error": '"text" is required'}, status_code=400)
    text = text[0] if isinstance(text, list) and text else str(text)
    found = await search_best(state, text)
    if found is None:
        return JSONResponse({"message": f"No results matched: {text}"}, status_code=404)
    template, confidence = found
    lines = split_caption(text, max(len(template.text_boxes), 1))
    url = public_base(request, state) + custom_path(template, lines)
    if truthy(payload.get("redirect", False)):
        return RedirectResponse(add_query(url, status="201"), status_code=302)
    body = {"url": url, "generator": "glitchzap", "confidence": round(confidence, 3)}
    return JSONResponse(body, status_code=201)


async def search_best(state: ApiState, text: str) -> tuple[Any, float] | None:
    """The library's best template for `text` and its relevance, or None."""
    library = state.runtime.templates
    timeout = state.settings.server.render_timeout_seconds
    try:
        hits = await state.pool.run(timeout, library.search, text, 1)
    except InvalidParameters:  # no words to search for
        return None
    return hits[0] if hits else None


def split_caption(text: str, boxes: int) -> list[str]:
    """`text` as top and bottom lines: at its line breaks, else (two or more boxes) at the
    space nearest its middle."""
    if "\n" in text:
        return [line.strip() for line in text.splitlines()]
    words = text.split()
    if boxes < 2 or len(words) < 2:
        return [text.strip()]
    half = len(text) / 2
    cut = min(range(1, len(words)), key=lambda i: abs(len(" ".join(words[:i])) - half))
    return [" ".join(words[:cut]), " ".join(words[cut:])]


async def generate_url(
    request: Request, state: ApiState, template_id: str = "", *, required: bool = False
) -> Response:
    """memegen's `generate_url`: the canonical image URL for a JSON or form body."""
    payload = await read_payload(request)
    if required:
        if "template_id" not in payload:
            return JSONResponse({"error": '"template_id" is required'}, status_code=400)
        template_id = slugify(str(first(payload["template_id"])))
    style = first_of(payload, "", "style", "overlay")
    if isinstance(style, list):
        style = ",".join(str(s).strip() or "default" for s in style)
    style = str(style)
    while style.endswith(",default"):
        style = style.removesuffix(",default")
    lines = first_of(payload, [], "text", "text_lines")
    lines = [str(line) for line in lines] if isinstance(lines, list) else [str(lines)]
    layout = str(first(first_of(payload, "default", "layout")))
    font = str(first(first_of(payload, "", "font")))
    background = str(first(first_of(payload, "", "background", "image_url")))
    extension = str(first(first_of(payload, "", "extension")))
    if background and background != PLACEHOLDER and not is_url(background):
        template_id = background  # memegen: a background that is not a URL names a template
    options: dict[str, Any] = {
        "normalize": layout == "default",
        "extension": extension,
        "style": style,
        "layout": layout,
        "font": font,
    }
    status = 201
    if template_id:
        template = find_template(state, template_id)
        name = template_id if is_safe_segment(template_id) else "unknown"
        path = custom_path(template, lines, template_id=name, **options)
        if template is None:
            status = 404
    else:
        path = custom_path(None, lines, background=background, **options)
    url = public_base(request, state) + path
    if truthy(payload.get("redirect", False)):
        return RedirectResponse(add_query(url, status="201"), status_code=302)
    return JSONResponse({"url": url}, status_code=status)


async def read_payload(request: Request) -> dict[str, Any]:
    """A JSON or form body as memegen reads it: form fields named like `style` or `text` are
    lists, others single values; `text[]`, `style[]`, `text_lines[]` lose their brackets; a
    body that is neither is empty."""
    content_type = request.headers.get("content-type", "")
    payload: dict[str, Any] = {}
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        for key in form:
            values = [v for v in form.getlist(key) if isinstance(v, str)]
            many = "style" in key or "text" in key
            payload[key] = values if many else (values[0] if values else "")
    else:
        try:
            body = json.loads(await request.body() or b"{}")
        except (ValueError, UnicodeDecodeError):
            body = {}
        payload = body if isinstance(body, dict) else {}
    for name in ("style", "text", "text_lines"):
        if f"{name}[]" in payload:
            payload[name] = payload.pop(f"{name}[]")
    return payload


def first_of(payload: dict[str, Any], default: Any, *names: str) -> Any:
    """The first of `names` present (memegen's `urls.arg`)."""
    for name in names:
        if payload.get(name) is not None:
            return payload[name]
    return default


def first(value: Any) -> Any:
    return (value[0] if value else "") if isinstance(value, list) else value


def truthy(value: Any) -> bool:
    """A `redirect` flag: true, 1, "true", "yes"... (a form sends strings)."""
    value = first(value)
    if isinstance(value, str):
        known = flag(value)
        return bool(value) if known is None else known
    return bool(value)


def is_safe_segment(value: str) -> bool:
    """Whether an unknown template id can be echoed in a URL path (no `/`, `?`, `#`, spaces)."""
    return bool(value) and len(value) <= 64 and not any(c in value for c in "/?#%\\ \n\t")


@router.get("/fonts")
def list_fonts(request: Request, state: State) -> list[dict[str, Any]]:
    """The fonts `font=` accepts, in memegen's shape: `{id, alias, filename, _self}`."""
    base = public_base(request, state)
    return [font_json(font, base) for font in MEMEGEN_FONTS]


@router.get("/fonts/{font_id}", responses=ERROR_RESPONSES)
def get_font(font_id: str, request: Request, state: State) -> dict[str, Any]:
    font = memegen_font(font_id)
    if font is None:
        raise NotFound(f"Font not found: {_shorten(font_id)}")
    return font_json(font, public_base(request, state))


@auth_router.post("/auth")
def authenticate(request: Request, state: State) -> JSONResponse:
    """200 with the key's access when `X-API-Key` (or `?api_key=`) is the server's API key
    (`server.api_key`), else memegen's 401 `{"error": "API key missing or invalid."}`."""
    expected = state.settings.server.api_key
    given = request.headers.get("x-api-key") or request.query_params.get("api_key") or ""
    if expected and given and hmac.compare_digest(given.encode(), expected.encode()):
        info = {"email": None, "image_access": True, "search_access": True,
                "created": None, "modified": None}  # fmt: skip
        return JSONResponse(info)
    return JSONResponse({"error": "API key missing or invalid."}, status_code=401)


def _shorten(text: str, limit: int = 64) -> str:
    return text if len(text) <= limit else f"{text[:limit]}…"
