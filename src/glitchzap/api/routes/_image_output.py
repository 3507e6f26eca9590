"""Running a cached image operation on the CPU pool and answering its bytes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.responses import Response

from glitchzap.api.deps import ApiState
from glitchzap.api.store import StoredImage
from glitchzap.cache.keys import make_key
from glitchzap.errors import ImageTooLarge
from glitchzap.recipes import Recipe
from glitchzap.rendering import estimate_render_bytes, preview_key

MEDIA_TYPES = {"webp": "image/webp", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif"}


async def cached_operation(
    state: ApiState,
    step: str,
    image_id: str,
    params: dict[str, Any],
    compute: Callable[[], bytes],
    memory_bytes: int = 0,
) -> tuple[bytes, bool]:
    """(bytes, was it a cache hit) of `compute()`, cached in "renders" by step+image+params."""
    key = make_key(step, image_id, params)
    renders = state.runtime.cache("renders")
    data = renders.get(key)
    if data is not None:
        return data, True

    async def run() -> bytes:
        with state.monitor.track(step):
            timeout = state.settings.server.render_timeout_seconds
            result = await state.pool.run(timeout, compute, memory_bytes=memory_bytes)
        renders.set(key, result)
        return result

    return await state.single_flight.run(key, run), False


def image_response(data: bytes, fmt: str, hit: bool, **headers: str) -> Response:
    return Response(
        data, media_type=MEDIA_TYPES[fmt], headers={"X-Cache": "hit" if hit else "miss", **headers}
    )


def request_memory(state: ApiState, info: StoredImage, recipe: Recipe, quality: str) -> int:
    """The render's estimated peak bytes; ImageTooLarge (413) over the per-request limit."""
    shape = (info.height, info.width, info.channels)
    sizes = state.settings.image_processing.preview_sizes
    needed = estimate_render_bytes(shape, recipe, quality=quality, preview_sizes=sizes)
    if needs_original(state, info, recipe, quality):
        needed += info.width * info.height * DECODE_BYTES_PER_PIXEL
    limit = state.settings.limits.max_request_memory_bytes
    if needed > limit:
        raise ImageTooLarge(
            f"This render of a {info.width}x{info.height} image needs about "
            f"{needed / 1e6:,.0f} MB; limits.max_request_memory_bytes is {limit / 1e6:,.0f} MB "
            "(use a preview quality, a smaller image, or raise the limit)"
        )
    return needed


# Decoding an upload and resizing it for a preview, at their peak: Pillow's 4-byte pixels, the
# array and the resize (measured: ~6 bytes a pixel for a 49 MP JPEG).
DECODE_BYTES_PER_PIXEL = 8


def needs_original(state: ApiState, info: StoredImage, recipe: Recipe, quality: str) -> bool:
    """Whether the render must decode the original: not when its preview is kept in memory
    and the recipe needs no mask or cut-out."""
    options = recipe.background
    if quality == "full" or options.remove or options.only_mask or recipe.needs_mask:
        return state.store.arrays.get(info.image_id) is None
    key = preview_key(info.image_id, quality, state.runtime)
    return state.runtime.arrays.get(key) is None and state.store.arrays.get(info.image_id) is None
