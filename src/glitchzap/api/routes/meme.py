"""POST /api/meme: captions drawn on an image (its old text erased first, per `erase`); an
animated image gets them on every frame and stays animated (gif, webp or apng)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from glitchzap.api.deps import State
from glitchzap.api.routes._image_input import openapi_body, read_image_request
from glitchzap.api.routes._image_output import (
    answer_format,
    cached_operation,
    frames_memory,
)
from glitchzap.api.routes.render import IMAGE_RESPONSES
from glitchzap.api.schemas import MemeRequest
from glitchzap.io import encode_animation, encode_image

router = APIRouter(prefix="/api", tags=["text"])

# An animated meme holds its decoded frames, the erased ones and the captioned ones at once.
ANIMATION_COPIES = 3


@router.post(
    "/meme",
    response_class=Response,
    responses=IMAGE_RESPONSES,
    openapi_extra=openapi_body(MemeRequest),
)
async def meme_route(request: Request, state: State) -> Response:
    """One caption per box of `layout`, top first; an animated input gets them on every
    frame and stays animated."""
    stored, body = await read_image_request(request, state, MemeRequest)
    params = body.model_dump(exclude={"image_id", "url"}, mode="json")
    fmt = answer_format(stored, body.format)
    memory = frames_memory(state, stored, ANIMATION_COPIES, "A meme")

    def compute() -> bytes:
        from glitchzap.meme.compose import ANIMATED_MEME_FORMATS, make_meme_animation

        animation = state.store.get_animation(stored.image_id)
        with state.ocr_lock:
            out = make_meme_animation(
                animation,
                body.captions,
                erase=body.erase,
                layout=body.layout,
                font=body.font,
                boxes=body.boxes,
                template=body.template,
                animate_template=body.format in ANIMATED_MEME_FORMATS,
                runtime=state.runtime,
            )
        if out.animated:
            return encode_animation(out, body.format)
        return encode_image(out.frames[0], body.format)

    return await cached_operation(
        request, state, "meme", stored.image_id, params, fmt, compute, memory_bytes=memory
    )
