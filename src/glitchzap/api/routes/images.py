"""POST /api/images: keep an uploaded (or fetched) image and answer its id."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from glitchzap.api.deps import ApiState, State
from glitchzap.api.schemas import ERROR_RESPONSES, IMAGE_ID_PATTERN, ImageResponse, UrlRequest
from glitchzap.api.store import StoredImage
from glitchzap.api.urlfetch import fetch_bytes, policy_from_settings
from glitchzap.errors import InvalidParameters, UnsupportedFormat

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
        stored = await state.pool.run(
            state.settings.server.render_timeout_seconds, store_bytes, state, data, "upload"
        )
    elif content_type.startswith("application/json"):
        body = _parse_url_request(await request.body())
        stored = await store_url(state, body.url)
    else:
        raise UnsupportedFormat(
            'Send the image as multipart/form-data field `file`, or JSON {"url": "..."}'
        )
    return ImageResponse(image_id=stored.image_id, width=stored.width, height=stored.height)


@router.get("/images/{image_id}", response_model=ImageResponse, responses=ERROR_RESPONSES)
def get_image_info(image_id: str, state: State) -> ImageResponse:
    """Size of an image stored earlier (404 when unknown or expired: upload it again)."""
    if not _valid_id(image_id):
        raise InvalidParameters("image_id must be 40 lowercase hex characters")
    info = state.store.info(image_id)
    return ImageResponse(image_id=info.image_id, width=info.width, height=info.height)


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


def _valid_id(image_id: str) -> bool:
    return re.fullmatch(IMAGE_ID_PATTERN, image_id) is not None


def store_bytes(state: ApiState, data: bytes, operation: str) -> StoredImage:
    """Decode-check and keep uploaded bytes (runs on a CPU pool thread)."""
    with state.monitor.track(operation, bytes=len(data)):
        return state.store.put(data)


async def store_url(state: ApiState, url: str) -> StoredImage:
    """Fetch `url` through the SSRF guard and store what it holds (decoding sniffs the type).

    The network wait runs on Starlette's I/O threads, so slow servers do not hold CPU slots.
    """
    data = await run_in_threadpool(_fetch, state, url)
    return await state.pool.run(
        state.settings.server.render_timeout_seconds, store_bytes, state, data, "upload"
    )


def _fetch(state: ApiState, url: str) -> bytes:
    with state.monitor.track("fetch_url"):
        return fetch_bytes(url, policy_from_settings(state.settings))
