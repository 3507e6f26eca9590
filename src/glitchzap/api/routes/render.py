"""POST /api/render: a recipe applied to a stored image, answered as image bytes.

The route parses the request and formats the answer; the render itself is the core's
`render_recipe` (the same call the CLI and batch make), or `render_animation` when the
stored image is animated or the recipe has an `animation` block. Still previews are sent as
JPEG by default (WebP when the image has alpha), animated previews as animated WebP; `full`
in the recipe's output format. Encoded results are cached in the "renders" cache by image
digest + canonical recipe + quality + format, so moving a slider back to a value seen before
costs one cache read.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response

from glitchzap.api.cdn import content_key, matches, not_modified
from glitchzap.api.deps import ApiState, app_state, json_body, json_body_openapi
from glitchzap.api.routes._image_output import (
    MEDIA_TYPES,
    content_headers,
    light_render,
    request_memory,
)
from glitchzap.api.routes.images import store_url
from glitchzap.api.schemas import ERROR_RESPONSES, RenderRequest
from glitchzap.api.store import StoredImage
from glitchzap.cache.keys import bytes_digest, make_key
from glitchzap.deadline import NO_DEADLINE, Deadline
from glitchzap.rendering import (
    LazyImage,
    animated_format,
    encode_animation_result,
    encode_result,
    output_format,
    render_animation,
    render_recipe,
)

router = APIRouter(prefix="/api", tags=["render"])

# Read from the request, not as a FastAPI parameter: the route takes no parameters (see
# deps.json_body), and a header parameter alone cost ~40 us a request.
IF_NONE_MATCH = ("if-none-match", "ETags the client holds: 304 when one names the result")
IfNoneMatch = Annotated[str | None, Header(description=IF_NONE_MATCH[1])]

IMAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    200: {"content": {t: {} for t in MEDIA_TYPES.values()}, "description": "The rendered image"},
}


@router.post(
    "/render",
    response_class=Response,
    responses=IMAGE_RESPONSES,
    openapi_extra=json_body_openapi(RenderRequest, IF_NONE_MATCH),
)
async def render(request: Request) -> Response:
    """Apply `recipe` to the image named by `image_id` (or fetched from `url`).

    The answer's strong `ETag` names the result and `Content-Location` is where it can be
    fetched again (`GET /api/renders/<key>.<ext>`). With a seed, the same image, recipe,
    quality and format always have the same key, so `If-None-Match` naming it answers 304
    without rendering; without one every render is new and keyed by its bytes too."""
    body = await json_body(request, RenderRequest)
    state = app_state(request)
    if_none_match = request.headers.get("if-none-match")
    if body.image_id:
        info = state.store.info(body.image_id)
    else:
        info = await store_url(state, body.url or "")
    fmt = render_format(body, info)
    params = {"recipe": body.recipe.model_dump(mode="json"), "format": fmt}
    key = make_key("render", info.image_id, params, body.quality)
    cacheable = body.recipe.seed is not None  # no seed: a new random result every time
    if cacheable and matches(if_none_match, content_key(key)):
        return not_modified(content_headers(state, content_key(key), fmt))
    timeout = state.settings.server.render_timeout_seconds
    memory = partial(request_memory, state, info, body.recipe, body.quality)  # on a miss only
    compute = partial(render_bytes, state, info.image_id, body, fmt, Deadline(timeout))
    if cacheable:
        light = partial(light_render, state, info, body.recipe, body.quality)
        data, hit = await state.cached(
            "renders",
            key,
            compute,
            "render",
            memory_bytes=memory,
            light=light,
            quality=body.quality,
        )
    else:
        with state.monitor.track("render", quality=body.quality):
            data, key = await state.pool.run(
                timeout, render_unseeded, state, compute, params, info.image_id, body.quality,
                memory_bytes=memory(),
            )  # fmt: skip
        hit = False
    headers = {"X-Cache": "hit" if hit else "miss"}
    headers |= content_headers(state, content_key(key), fmt)
    return Response(data, media_type=MEDIA_TYPES[fmt], headers=headers)


def render_unseeded(
    state: ApiState,
    compute: Callable[[], bytes],
    params: dict[str, Any],
    image_id: str,
    quality: str,
) -> tuple[bytes, str]:
    """A render without a seed (a new random result each time) and the key it is kept under:
    named by its own bytes as well, so that this one result has an address (pool thread)."""
    data = compute()
    key = make_key("render", image_id, {**params, "result": bytes_digest(data)}, quality)
    state.runtime.cache("renders").set(key, data)
    return data, key


def render_format(body: RenderRequest, info: StoredImage) -> str:
    """The container of the answer (png, jpeg, webp or gif; png is APNG when animated);
    InvalidParameters (422) for an animated result asked as JPEG."""
    if info.animated or body.recipe.animated:
        return animated_format(body.recipe, body.quality, body.format)
    has_alpha = info.channels == 4 or body.recipe.background.remove
    fmt = body.format or output_format(body.recipe, body.quality, has_alpha)
    return "png" if fmt == "apng" else fmt


def render_bytes(
    state: ApiState,
    image_id: str,
    body: RenderRequest,
    fmt: str,
    deadline: Deadline = NO_DEADLINE,
) -> bytes:
    """The encoded result of the render request (runs on a CPU pool thread; stops at
    `deadline`, between frames for an animation)."""
    with state.monitor.profile(f"render-{image_id[:8]}"):
        info = state.store.info(image_id)
        if info.animated or body.recipe.animated:
            frames = render_animation(
                state.store.get_animation(image_id),
                body.recipe,
                runtime=state.runtime,
                quality=body.quality,
                use_cache=False,  # the encoded bytes are cached instead
                deadline=deadline,
            )
            return encode_animation_result(frames, body.recipe, quality=body.quality, fmt=fmt)
        image = LazyImage(info.shape, lambda: state.store.get(image_id))  # decoded if needed
        out = render_recipe(
            image,
            body.recipe,
            runtime=state.runtime,
            quality=body.quality,
            digest=image_id,
            use_cache=False,  # the encoded bytes are cached instead
            deadline=deadline,
        )
        return encode_result(out, body.recipe, quality=body.quality, fmt=fmt)
