"""POST /api/meme: captions drawn on an image (its old text erased first, per `erase`); an
animated image gets them on every frame and stays animated (gif, webp or apng)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from glitchzap.api.deps import ApiState, State
from glitchzap.api.routes._image_input import openapi_body, read_image_request
from glitchzap.api.routes._image_output import cached_operation, image_response
from glitchzap.api.routes.render import IMAGE_RESPONSES
from glitchzap.api.schemas import MemeRequest
from glitchzap.api.store import StoredImage
from glitchzap.errors import ImageTooLarge, InvalidParameters
from glitchzap.io import encode_animation, encode_image

router = APIRouter(prefix="/api", tags=["text"])


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
    info = stored
    if info.animated and body.format == "jpeg":
        raise InvalidParameters(
            "The image is animated and JPEG cannot hold an animation: "
            "ask for gif, webp, apng or png"
        )
    memory = _animation_memory(state, info)

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

    data, hit = await cached_operation(
        state, "meme", stored.image_id, params, compute, memory_bytes=memory
    )
    return image_response(data, "png" if body.format == "apng" else body.format, hit)


# An animated meme holds its decoded frames, the erased ones and the captioned ones at once.
ANIMATION_COPIES = 3


def _animation_memory(state: ApiState, info: StoredImage) -> int:
    """The bytes an animated meme of `info` holds at its peak (0 for a still: not counted, as
    before); ImageTooLarge (413) past limits.max_request_memory_bytes."""
    if not info.animated:
        return 0
    needed = info.frames * info.width * info.height * info.channels * ANIMATION_COPIES
    limit = state.settings.limits.max_request_memory_bytes
    if needed > limit:
        raise ImageTooLarge(
            f"A meme of this {info.frames}-frame {info.width}x{info.height} animation needs "
            f"about {needed / 1e6:,.0f} MB; limits.max_request_memory_bytes is "
            f"{limit / 1e6:,.0f} MB"
        )
    return needed
