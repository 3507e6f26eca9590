"""POST /api/render: a recipe applied to a stored image, answered as image bytes.

The route parses the request and formats the answer; the render itself is the core's
`render_recipe` (the same call the CLI and batch make). Previews are sent as JPEG by default
(WebP when the image has alpha); `full` in the recipe's output format. Encoded results are
cached in the "renders" cache by image digest + canonical recipe + quality + format, so moving
a slider back to a value seen before costs one cache read.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from glitchzap.api.deps import ApiState, State
from glitchzap.api.routes._image_output import request_memory
from glitchzap.api.routes.images import store_url
from glitchzap.api.schemas import ERROR_RESPONSES, RenderRequest
from glitchzap.cache.keys import make_key
from glitchzap.deadline import NO_DEADLINE, Deadline
from glitchzap.rendering import (
    LazyImage,
    encode_result,
    output_format,
    render_recipe,
)

router = APIRouter(prefix="/api", tags=["render"])

MEDIA_TYPES = {"webp": "image/webp", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif"}

IMAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    200: {"content": {t: {} for t in MEDIA_TYPES.values()}, "description": "The rendered image"},
}


@router.post("/render", response_class=Response, responses=IMAGE_RESPONSES)
async def render(body: RenderRequest, state: State) -> Response:
    """Apply `recipe` to the image named by `image_id` (or fetched from `url`)."""
    if body.image_id:
        info = state.store.info(body.image_id)
    else:
        info = await store_url(state, body.url or "")
    has_alpha = info.channels == 4 or body.recipe.background.remove
    fmt = body.format or output_format(body.recipe, body.quality, has_alpha)
    params = {"recipe": body.recipe.model_dump(mode="json"), "format": fmt}
    key = make_key("render", info.image_id, params, body.quality)
    cacheable = body.recipe.seed is not None  # no seed: a new random result every time
    renders = state.runtime.cache("renders")
    data = renders.get(key) if cacheable else None
    hit = data is not None
    if data is None:
        memory = request_memory(state, info, body.recipe, body.quality)

        async def compute() -> bytes:
            timeout = state.settings.server.render_timeout_seconds
            with state.monitor.track("render", quality=body.quality):
                result = await state.pool.run(
                    timeout,
                    render_bytes,
                    state,
                    info.image_id,
                    body,
                    fmt,
                    Deadline(timeout),
                    memory_bytes=memory,
                )
            if cacheable:
                renders.set(key, result)
            return result

        data = await state.single_flight.run(key, compute) if cacheable else await compute()
    headers = {"X-Cache": "hit" if hit else "miss"}
    return Response(data, media_type=MEDIA_TYPES[fmt], headers=headers)


def render_bytes(
    state: ApiState,
    image_id: str,
    body: RenderRequest,
    fmt: str,
    deadline: Deadline = NO_DEADLINE,
) -> bytes:
    """The encoded result of the render request (runs on a CPU pool thread; stops at
    `deadline`)."""
    with state.monitor.profile(f"render-{image_id[:8]}"):
        info = state.store.info(image_id)
        shape = (info.height, info.width, info.channels)
        image = LazyImage(shape, lambda: state.store.get(image_id))  # decoded only if needed
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
