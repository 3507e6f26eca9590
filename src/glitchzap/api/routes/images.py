"""POST /api/images: keep an uploaded (or fetched) image and answer its id."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from glitchzap.api.deps import ApiState, State
from glitchzap.api.schemas import ERROR_RESPONSES, ImageIdPath, ImageResponse, UrlRequest
from glitchzap.api.store import StoredImage
from glitchzap.api.urlfetch import fetch_bytes, policy_from_settings
from glitchzap.errors import GlitchzapError, InvalidParameters, ServerBusy, UnsupportedFormat
from glitchzap.io import probe_image
from glitchzap.settings import LimitsSettings

router = APIRouter(prefix="/api", tags=["images"])

# Both bodies are read by hand (one route, two content types), so describe them for OpenAPI.
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
            "application/json": {"schema": UrlRequest.model_json_schema()},
        },
    }
}


@router.post(
    "/images", response_model=ImageResponse, responses=ERROR_RESPONSES, openapi_extra=UPLOAD_BODY
)
async def upload_image(request: Request, state: State) -> ImageResponse:
    """Store an image sent as multipart `file`, or fetched from JSON `{"url": ...}`."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        data = await _read_upload(request)
        stored = await store_upload(state, data)
    elif content_type.startswith("application/json"):
        body = _parse_url_request(await request.body())
        stored = await store_url(state, body.url)
    else:
        raise UnsupportedFormat(
            'Send the image as multipart/form-data field `file`, or JSON {"url": "..."}'
        )
    return image_response(stored)


@router.get("/images/{image_id}", response_model=ImageResponse, responses=ERROR_RESPONSES)
def get_image_info(image_id: ImageIdPath, state: State) -> ImageResponse:
    """Size and frames of an image stored earlier (404 when unknown or expired: upload it
    again)."""
    return image_response(state.store.info(image_id))


def image_response(stored: StoredImage) -> ImageResponse:
    return ImageResponse(
        image_id=stored.image_id,
        width=stored.width,
        height=stored.height,
        frames=stored.frames,
        animated=stored.animated,
        duration_ms=stored.duration_ms,
    )


async def _read_upload(request: Request) -> bytes:
    form = await request.form(max_files=1, max_fields=10)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidParameters("The multipart body needs a file field named `file`")
        return await upload.read()
    finally:
        await form.close()


def _parse_url_request(raw: bytes) -> UrlRequest:
    try:
        return UrlRequest.model_validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidParameters(f"Invalid JSON body: {problems}") from exc


async def store_upload(state: ApiState, data: bytes) -> StoredImage:
    """Decode-check and keep `data` on the CPU pool, admitted by the memory its decoding
    takes (read from the header and container: for an animation, every frame)."""
    timeout = state.settings.server.render_timeout_seconds
    # The header walk of a long GIF is a Python loop: off the event loop.
    memory = await run_in_threadpool(decode_memory, data, state.settings.limits)
    return await state.pool.run(timeout, store_bytes, state, data, "upload", memory_bytes=memory)


def decode_memory(data: bytes, limits: LimitsSettings) -> int:
    """Bytes decoding `data` holds at its peak, from its header and container: a still's
    decoder buffer and array; an animation's frames as one array plus the canvas Pillow
    composes them on. 0 when over a budget or unreadable: the store then refuses it before
    decoding a pixel."""
    try:
        info = probe_image(data, limits)
    except GlitchzapError:
        return 0
    frame = info.width * info.height
    if info.animated:
        return info.frames * frame * info.channels + frame * 4 * 3
    return frame * max(info.channels, 3) * 2


def store_bytes(state: ApiState, data: bytes, operation: str) -> StoredImage:
    """Decode-check and keep uploaded bytes (runs on a CPU pool thread)."""
    with state.monitor.track(operation, bytes=len(data)):
        return state.store.put(data)


async def store_url(state: ApiState, url: str) -> StoredImage:
    """Fetch `url` through the SSRF guard and store what it holds (decoding sniffs the type)."""
    return await store_upload(state, await fetch_url(state, url))


async def fetch_url(state: ApiState, url: str) -> bytes:
    """The bytes at `url`, fetched through the SSRF guard.

    Fetches run on their own `server.max_url_fetches` threads, never on Starlette's threadpool
    (which serves /api/health and every sync route) nor on the CPU pool, so slow origins cannot
    starve the rest of the API. With every fetch thread busy the call gets 503 `busy` at once.
    """
    server = state.settings.server
    try:
        return await state.fetch_pool.run(
            server.url_timeout_seconds + FETCH_GRACE_SECONDS, _fetch, state, url
        )
    except ServerBusy as exc:
        raise ServerBusy(
            f"{server.max_url_fetches} URL fetches are already running; retry shortly"
        ) from exc


# The fetch ends itself by url_timeout_seconds; the pool's own timeout is only a backstop.
FETCH_GRACE_SECONDS = 5.0


def _fetch(state: ApiState, url: str) -> bytes:
    with state.monitor.track("fetch_url"):
        return fetch_bytes(url, policy_from_settings(state.settings))
