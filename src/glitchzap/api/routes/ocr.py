"""POST /api/ocr: the text lines found in an image, with their boxes and scores; on an
animation, those read on its sampled frames, each with the frames it was read on."""

from __future__ import annotations

from fastapi import APIRouter, Request

from glitchzap.api.deps import ApiState, State
from glitchzap.api.routes._image_input import openapi_body, read_image_request
from glitchzap.api.routes._image_output import decode_bytes
from glitchzap.api.schemas import ERROR_RESPONSES, OcrRequest, OcrResponse, TextRegionResponse
from glitchzap.api.store import StoredImage
from glitchzap.meme.compose import read_animation_text, read_image_text

router = APIRouter(prefix="/api", tags=["text"])


@router.post(
    "/ocr",
    response_model=OcrResponse,
    response_model_exclude_none=True,  # a still's answer has no frame fields
    responses=ERROR_RESPONSES,
    openapi_extra=openapi_body(OcrRequest),
)
async def ocr_route(request: Request, state: State) -> OcrResponse:
    """Text regions in image pixels (the OCR result is cached per image and options). An
    animation is read on a few sampled frames (`sampled_frames`); the readings at one place
    are one region, with the frames it was read on (`frames`) and `frame_count`."""
    stored, _body = await read_image_request(request, state, OcrRequest)
    # Reading an animation's frames may decode them all again (when they are not in memory).
    memory = decode_bytes(stored) if stored.animated and not state.store.in_memory(stored) else 0

    def compute() -> OcrResponse:
        return read_text(state, stored)

    with state.monitor.track("ocr"):
        timeout = state.settings.server.render_timeout_seconds
        return await state.pool.run(timeout, compute, memory_bytes=memory)


def read_text(state: ApiState, stored: StoredImage) -> OcrResponse:
    """The OCR answer for a stored image: a still's regions, or an animation's merged ones."""
    if not stored.animated:
        image = state.store.get(stored.image_id)
        with state.ocr_lock:
            result = read_image_text(image, runtime=state.runtime)
        regions = [TextRegionResponse(**region.to_dict()) for region in result.regions]
        return OcrResponse(regions=regions, elapsed_ms=result.elapsed_ms, cached=result.cached)
    animation = state.store.get_animation(stored.image_id)
    with state.ocr_lock:
        found = read_animation_text(animation, runtime=state.runtime)
    return OcrResponse(
        regions=[
            TextRegionResponse(**region.to_dict(), frames=list(frames))
            for region, frames in zip(found.regions, found.frames, strict=True)
        ],
        elapsed_ms=found.elapsed_ms,
        cached=found.cached,
        frame_count=found.frame_count,
        sampled_frames=list(found.sampled),
    )
