"""POST /api/meme: captions drawn on an image (its old text erased first, per `erase`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from glitchzap.api.deps import State
from glitchzap.api.routes._image_input import openapi_body, read_image_request
from glitchzap.api.routes._image_output import cached_operation, image_response
from glitchzap.api.routes.render import IMAGE_RESPONSES
from glitchzap.api.schemas import MemeRequest
from glitchzap.io import encode_image

router = APIRouter(prefix="/api", tags=["text"])


@router.post(
    "/meme",
    response_class=Response,
    responses=IMAGE_RESPONSES,
    openapi_extra=openapi_body(MemeRequest),
)
async def meme_route(request: Request, state: State) -> Response:
    """One caption per box of `layout`, top first."""
    stored, body = await read_image_request(request, state, MemeRequest)
    params = body.model_dump(exclude={"image_id", "url"}, mode="json")

    def compute() -> bytes:
        from glitchzap.meme.compose import make_meme

        image = state.store.get(stored.image_id)
        with state.ocr_lock:
            out = make_meme(
                image,
                body.captions,
                erase=body.erase,
                layout=body.layout,
                font=body.font,
                boxes=body.boxes,
                template=body.template,
                runtime=state.runtime,
            )
        return encode_image(out, body.format)

    data, hit = await cached_operation(state, "meme", stored.image_id, params, compute)
    return image_response(data, body.format, hit)
