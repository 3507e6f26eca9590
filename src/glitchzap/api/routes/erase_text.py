"""POST /api/erase-text: the image with its text inpainted; an animated image frame by frame
(on the frames that show the text), answered animated."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from glitchzap.api.deps import ApiState, State
from glitchzap.api.routes._image_input import openapi_body, read_image_request
from glitchzap.api.routes._image_output import (
    answer_format,
    cached_operation,
    frames_memory,
)
from glitchzap.api.routes.render import IMAGE_RESPONSES
from glitchzap.api.schemas import EraseTextRequest
from glitchzap.api.store import StoredImage
from glitchzap.io import encode_animation, encode_image

router = APIRouter(prefix="/api", tags=["text"])

# An animation being erased holds its decoded frames, the erased ones and the encoder's copy.
ANIMATION_COPIES = 3


@router.post(
    "/erase-text",
    response_class=Response,
    responses=IMAGE_RESPONSES,
    openapi_extra=openapi_body(EraseTextRequest),
)
async def erase_text_route(request: Request, state: State) -> Response:
    """`auto` erases only meme captions (scene text and textures stay); `always` every
    region OCR found; `never` nothing. An animated image is read on a few sampled frames and
    erased on each frame that shows the text; it stays animated (png is APNG; jpeg is 422)."""
    stored, body = await read_image_request(request, state, EraseTextRequest)
    params = body.model_dump(exclude={"image_id", "url"}, mode="json")
    fmt = answer_format(stored, body.format)
    memory = frames_memory(state, stored, ANIMATION_COPIES, "Erasing the text")

    def compute() -> bytes:
        return erased_bytes(state, stored, body, fmt)

    return await cached_operation(
        request, state, "erase-text", stored.image_id, params, fmt, compute, memory_bytes=memory
    )


def erased_bytes(state: ApiState, stored: StoredImage, body: EraseTextRequest, fmt: str) -> bytes:
    """The encoded image (every frame of an animation) with its text erased as `body` asks."""
    from glitchzap.meme.compose import erase_animation_text, erase_text

    if not stored.animated:
        image = state.store.get(stored.image_id)
        with state.ocr_lock:
            result = erase_text(image, mode=body.mode, method=body.method, runtime=state.runtime)
        return encode_image(result.image, fmt)
    animation = state.store.get_animation(stored.image_id)
    with state.ocr_lock:
        erased, _regions, _changed = erase_animation_text(
            animation, mode=body.mode, method=body.method, runtime=state.runtime
        )
    return encode_animation(erased, fmt)
