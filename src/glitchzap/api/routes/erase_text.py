"""POST /api/erase-text: the image with its text inpainted."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from glitchzap.api.deps import State
from glitchzap.api.routes._image_input import openapi_body, read_image_request
from glitchzap.api.routes._image_output import cached_operation, image_response
from glitchzap.api.routes.render import IMAGE_RESPONSES
from glitchzap.api.schemas import EraseTextRequest
from glitchzap.io import encode_image

router = APIRouter(prefix="/api", tags=["text"])


@router.post(
    "/erase-text",
    response_class=Response,
    responses=IMAGE_RESPONSES,
    openapi_extra=openapi_body(EraseTextRequest),
)
async def erase_text_route(request: Request, state: State) -> Response:
    """`auto` erases only meme captions (scene text and textures stay); `always` every
    region OCR found; `never` nothing."""
    stored, body = await read_image_request(request, state, EraseTextRequest)
    params = body.model_dump(exclude={"image_id", "url"}, mode="json")

    def compute() -> bytes:
        from glitchzap.meme.compose import erase_text

        image = state.store.get(stored.image_id)
        with state.ocr_lock:
            result = erase_text(image, mode=body.mode, method=body.method, runtime=state.runtime)
        return encode_image(result.image, body.format)

    data, hit = await cached_operation(state, "erase-text", stored.image_id, params, compute)
    return image_response(data, body.format, hit)
