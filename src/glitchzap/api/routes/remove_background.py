"""POST /api/remove-background: the subject cut out (rembg's server, by image_id/url/file)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from glitchzap.api.deps import State
from glitchzap.api.routes._image_input import openapi_body, read_image_request
from glitchzap.api.routes._image_output import cached_operation, image_response, request_memory
from glitchzap.api.routes.render import IMAGE_RESPONSES
from glitchzap.api.schemas import RemoveBackgroundRequest
from glitchzap.deadline import Deadline
from glitchzap.io import encode_image
from glitchzap.recipes import BackgroundOptions, Recipe, opaque
from glitchzap.rendering import render_recipe

router = APIRouter(prefix="/api", tags=["background"])

CUTOUT_OPTIONS = {
    "model",
    "only_mask",
    "post_process",
    "alpha_matting",
    "alpha_matting_foreground_threshold",
    "alpha_matting_background_threshold",
    "alpha_matting_erode_size",
}


@router.post(
    "/remove-background",
    response_class=Response,
    responses=IMAGE_RESPONSES,
    openapi_extra=openapi_body(RemoveBackgroundRequest),
)
async def remove_background_route(request: Request, state: State) -> Response:
    """The cut-out as RGBA (or composited on `background`), or the mask with `only_mask`."""
    stored, body = await read_image_request(request, state, RemoveBackgroundRequest)
    params = body.model_dump(exclude={"image_id", "url"}, mode="json")

    recipe = Recipe(
        background=BackgroundOptions(
            remove=True,
            color=opaque(body.background),
            **body.model_dump(include=CUTOUT_OPTIONS),
        )
    )

    memory = request_memory(state, stored, recipe, "full")
    deadline = Deadline(state.settings.server.render_timeout_seconds)

    def compute() -> bytes:
        image = state.store.get(stored.image_id)
        out = render_recipe(
            image, recipe, runtime=state.runtime, digest=stored.image_id, deadline=deadline
        )
        if out.ndim == 2:  # the mask alone: a grey picture
            out = out[..., None].repeat(3, axis=2)
        return encode_image(out, body.format)

    data, hit = await cached_operation(
        state, "remove-background", stored.image_id, params, compute, memory
    )
    return image_response(data, body.format, hit)
