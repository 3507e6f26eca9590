"""Running a cached image operation on the CPU pool and answering its bytes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.responses import Response

from glitchzap.api.deps import ApiState
from glitchzap.cache.keys import make_key

MEDIA_TYPES = {"webp": "image/webp", "jpeg": "image/jpeg", "png": "image/png"}


async def cached_operation(
    state: ApiState,
    step: str,
    image_id: str,
    params: dict[str, Any],
    compute: Callable[[], bytes],
) -> tuple[bytes, bool]:
    """(bytes, was it a cache hit) of `compute()`, cached in "renders" by step+image+params."""
    key = make_key(step, image_id, params)
    renders = state.runtime.cache("renders")
    data = renders.get(key)
    if data is not None:
        return data, True

    async def run() -> bytes:
        with state.monitor.track(step):
            result = await state.pool.run(state.settings.server.render_timeout_seconds, compute)
        renders.set(key, result)
        return result

    return await state.single_flight.run(key, run), False


def image_response(data: bytes, fmt: str, hit: bool, **headers: str) -> Response:
    return Response(
        data, media_type=MEDIA_TYPES[fmt], headers={"X-Cache": "hit" if hit else "miss", **headers}
    )
