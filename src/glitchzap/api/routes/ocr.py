"""POST /api/ocr: the text lines found in an image, with their boxes and scores."""

from __future__ import annotations

from fastapi import APIRouter, Request

from glitchzap.api.deps import State
from glitchzap.api.routes._image_input import openapi_body, read_image_request
from glitchzap.api.schemas import ERROR_RESPONSES, OcrRequest, OcrResponse, TextRegionResponse
from glitchzap.meme.compose import read_image_text

router = APIRouter(prefix="/api", tags=["text"])


@router.post(
    "/ocr",
    response_model=OcrResponse,
    responses=ERROR_RESPONSES,
    openapi_extra=openapi_body(OcrRequest),
)
async def ocr_route(request: Request, state: State) -> OcrResponse:
    """Text regions in image pixels (the OCR result is cached per image and options)."""
    stored, _body = await read_image_request(request, state, OcrRequest)

    def compute() -> OcrResponse:
        image = state.store.get(stored.image_id)
        with state.ocr_lock:
            result = read_image_text(image, runtime=state.runtime)
        regions = [TextRegionResponse(**region.to_dict()) for region in result.regions]
        return OcrResponse(regions=regions, elapsed_ms=result.elapsed_ms, cached=result.cached)

    with state.monitor.track("ocr"):
        return await state.pool.run(state.settings.server.render_timeout_seconds, compute)
