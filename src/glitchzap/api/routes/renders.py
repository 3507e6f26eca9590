"""GET /api/renders/{key}.{ext}: a rendered image by its content address, for a CDN to cache.

The key is the hex digest in the image's ETag (see `glitchzap.api.cdn`); it is checked to be
40 hex digits before any cache is asked, and is only ever a cache key, never a path. The
bytes come from the result caches; once evicted the answer is 404: render again.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from glitchzap.api.cdn import (
    CONTENT_STEPS,
    EXTENSION_PATTERN,
    EXTENSIONS,
    KEY_PATTERN,
    matches,
    not_modified,
    sniff_format,
)
from glitchzap.api.deps import ApiState, State
from glitchzap.api.routes._image_output import MEDIA_TYPES, content_headers
from glitchzap.api.routes.render import IMAGE_RESPONSES, IfNoneMatch
from glitchzap.errors import NotFound

router = APIRouter(prefix="/api", tags=["render"])

ContentKey = Annotated[
    str, Path(pattern=KEY_PATTERN, description="40 hex digits: the image's ETag")
]
Extension = Annotated[
    str, Path(pattern=EXTENSION_PATTERN, description="png, jpg, jpeg, webp or gif")
]


@router.get("/renders/{key}.{ext}", response_class=Response, responses=IMAGE_RESPONSES)
def get_render(
    key: ContentKey,
    ext: Extension,
    state: State,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """The image a render, meme, erase-text, remove-background or memegen call answered,
    by the key in its ETag: the same bytes for ever (`Cache-Control: immutable`), so 304 to
    an `If-None-Match` naming it; 404 once it has left the cache (render it again)."""
    fmt = EXTENSIONS[ext]
    server = state.settings.server
    headers = content_headers(state, key, fmt)
    headers["Cache-Control"] = f"public, max-age={server.immutable_max_age_seconds}, immutable"
    if matches(if_none_match, key):  # the bytes of a key never change: even once evicted
        return not_modified(headers)
    data = stored_result(state, key)
    if data is None or sniff_format(data) != fmt:
        raise NotFound(
            f"No rendered {fmt} image has the key {key} (it may have left the cache): "
            "make the request that rendered it again"
        )
    return Response(data, media_type=MEDIA_TYPES[fmt], headers=headers)


def stored_result(state: ApiState, key: str) -> bytes | None:
    """The cached bytes of the result named `key`, whichever step made it."""
    for step, cache in CONTENT_STEPS:
        data = state.runtime.cache(cache).get(f"{step}:{key}")
        if data is not None:
            return data
    return None
