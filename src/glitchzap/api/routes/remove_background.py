"""POST /api/remove-background: the subject cut out (rembg's server, by image_id/url/file);
an animated image is cut out frame by frame and stays animated."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import Response

from glitchzap.animation import Animation
from glitchzap.api.deps import ApiState, State
from glitchzap.api.routes._image_input import openapi_body, read_image_request
from glitchzap.api.routes._image_output import (
    answer_format,
    cached_operation,
    request_memory,
)
from glitchzap.api.routes.render import IMAGE_RESPONSES
from glitchzap.api.schemas import RemoveBackgroundRequest
from glitchzap.api.store import StoredImage
from glitchzap.deadline import Deadline
from glitchzap.errors import InvalidParameters
from glitchzap.io import encode_animation, encode_image
from glitchzap.recipes import Recipe, opaque, parse_recipe
from glitchzap.rendering import render_animation, render_recipe

router = APIRouter(prefix="/api", tags=["background"])

CUTOUT_OPTIONS = {
    "model",
    "quality",
    "only_mask",
    "post_process",
    "alpha_matting",
    "alpha_matting_foreground_threshold",
    "alpha_matting_background_threshold",
    "alpha_matting_erode_size",
    "bg_blur",
    "shadow",
    "shadow_blur",
    "shadow_offset",
    "shadow_opacity",
    "crop",
    "crop_margin",
    "channels",
    "decontaminate",
}


@router.post(
    "/remove-background",
    response_class=Response,
    responses=IMAGE_RESPONSES,
    openapi_extra=openapi_body(RemoveBackgroundRequest),
)
async def remove_background_route(request: Request, state: State) -> Response:
    """The cut-out as RGBA (or composited on `background`), or the mask with `only_mask`;
    every frame of an animated image, answered animated (png is APNG; jpeg is 422)."""
    stored, body = await read_image_request(request, state, RemoveBackgroundRequest)
    params = body.model_dump(exclude={"image_id", "url"}, mode="json")
    fmt = answer_format(stored, body.format)

    recipe = parse_recipe(
        {
            "background": {
                "remove": True,
                "color": opaque(body.background),
                **body.model_dump(include=CUTOUT_OPTIONS),
            }
        }
    )  # InvalidParameters (422) for options that do not go together

    backdrop_id = body.bg_image_id
    if backdrop_id is not None:
        if body.background is not None:
            raise InvalidParameters("Give one backdrop: background (a colour) or bg_image_id")
        state.store.info(backdrop_id)  # 404 now for an unknown id; decoded in compute()
    memory = request_memory(state, stored, recipe, "full")  # every frame of an animation
    deadline = Deadline(state.settings.server.render_timeout_seconds)

    def compute() -> bytes:
        backdrop = None if backdrop_id is None else state.store.get(backdrop_id)
        return cut_out_bytes(state, stored, recipe, fmt, deadline, backdrop)

    return await cached_operation(
        request, state, "remove-background", stored.image_id, params, fmt, compute, memory
    )


def cut_out_bytes(
    state: ApiState,
    stored: StoredImage,
    recipe: Recipe,
    fmt: str,
    deadline: Deadline,
    backdrop: np.ndarray | None = None,
) -> bytes:
    """The encoded cut-out (or mask) of a stored image: a still, or every frame of an
    animation with its timing (stops at `deadline`, between frames)."""
    if not stored.animated:
        image = state.store.get(stored.image_id)
        out = render_recipe(
            image,
            recipe,
            runtime=state.runtime,
            digest=stored.image_id,
            deadline=deadline,
            backdrop=backdrop,
        )
        return encode_image(out if _single(recipe) else _grey_as_rgb(out), fmt)
    animation = render_animation(
        state.store.get_animation(stored.image_id),
        recipe,
        runtime=state.runtime,
        use_cache=False,  # the encoded bytes are cached instead
        deadline=deadline,
        backdrop=backdrop,
    )
    frames = [f if _single(recipe) else _grey_as_rgb(f) for f in animation.frames]
    return encode_animation(Animation(frames, animation.durations, animation.loop), fmt)


def _single(recipe: Recipe) -> bool:
    """channels=alpha: the answer is a single-channel (L) image."""
    return recipe.background.channels == "alpha"


def _grey_as_rgb(image: np.ndarray) -> np.ndarray:
    """The mask alone (H x W) as a grey RGB picture; anything else as it is (an alpha
    asked for with channels=alpha stays single-channel: the caller skips this)."""
    return image[..., None].repeat(3, axis=2) if image.ndim == 2 else image
