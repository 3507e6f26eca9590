"""POST /api/render: a recipe applied to a stored image, answered as image bytes.

Previews (fast/balanced/high) work on a downscaled copy kept beside the original and are sent
as JPEG by default (WebP when the image has alpha); `full` renders the original in the
recipe's output format. Results are cached in the "renders" cache by image digest + canonical
recipe + quality + format, so moving a slider back to a value seen before costs one cache
read. The subject mask and the cut-out a recipe may need are computed once per image and kept
beside the original too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter
from fastapi.responses import Response

from glitchzap.api.deps import ApiState, State
from glitchzap.api.routes.images import store_url
from glitchzap.api.schemas import ERROR_RESPONSES, RenderRequest
from glitchzap.cache import get_cache
from glitchzap.cache.keys import canonical_params, make_key
from glitchzap.io import encode_image
from glitchzap.recipes import Recipe

router = APIRouter(prefix="/api", tags=["render"])

MEDIA_TYPES = {"webp": "image/webp", "jpeg": "image/jpeg", "png": "image/png"}
PREVIEW_ENCODE_QUALITY = 80  # previews: small and fast; exports use the recipe's quality

IMAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    200: {"content": {t: {} for t in MEDIA_TYPES.values()}, "description": "The rendered image"},
}


@router.post("/render", response_class=Response, responses=IMAGE_RESPONSES)
async def render(body: RenderRequest, state: State) -> Response:
    """Apply `recipe` to the image named by `image_id` (or fetched from `url`)."""
    if body.image_id:
        info = state.store.info(body.image_id)
    else:
        info = await store_url(state, body.url or "")
    has_alpha = info.channels == 4 or body.recipe.background.remove
    fmt = body.format or default_format(body.quality, has_alpha, body.recipe)
    params = {"recipe": body.recipe.model_dump(mode="json"), "format": fmt}
    key = make_key("render", info.image_id, params, body.quality)
    cacheable = body.recipe.seed is not None  # no seed: a new random result every time
    renders = get_cache("renders")
    data = renders.get(key) if cacheable else None
    hit = data is not None
    if data is None:

        async def compute() -> bytes:
            with state.monitor.track("render", quality=body.quality):
                result = await state.pool.run(
                    state.settings.server.render_timeout_seconds,
                    render_bytes,
                    state,
                    info.image_id,
                    body,
                    fmt,
                )
            if cacheable:
                renders.set(key, result)
            return result

        data = await state.single_flight.run(key, compute) if cacheable else await compute()
    headers = {"X-Cache": "hit" if hit else "miss"}
    return Response(data, media_type=MEDIA_TYPES[fmt], headers=headers)


def default_format(quality: str, has_alpha: bool, recipe: Recipe) -> str:
    """`full`: the recipe's output format. Previews: JPEG, or WebP when there is alpha to keep.

    JPEG previews encode in 1-3 ms where WebP takes 35-60 ms at 500 px (Pillow's method 4),
    which would dominate a slider move; ask for `format: webp` explicitly to get WebP.
    """
    if quality == "full":
        return recipe.output.format
    return "webp" if has_alpha else "jpeg"


def render_bytes(state: ApiState, image_id: str, body: RenderRequest, fmt: str) -> bytes:
    """The encoded result of the render request (runs on a CPU pool thread)."""
    from glitchzap.pipeline import apply_effects, resize_for_preview, resize_mask

    recipe = body.recipe
    sizes = state.settings.image_processing.preview_sizes
    with state.monitor.profile(f"render-{image_id[:8]}"):
        source_key, source, mask = prepare_source(state, image_id, recipe)
        image = source
        if body.quality != "full":
            image = state.store.derived(
                f"{source_key}:preview-{body.quality}",
                lambda: resize_for_preview(source, body.quality, sizes),
            )
        if mask is not None and image.shape[:2] != mask.shape[:2]:
            mask = resize_mask(mask, image.shape[1], image.shape[0])
        target = recipe.target if mask is not None else "all"
        scale = image.shape[1] / source.shape[1]  # effect sizes are in full-resolution px
        out = apply_effects(
            image, recipe.effects, seed=recipe.seed, mask=mask, target=target, scale=scale
        )
        quality = recipe.output.quality if body.quality == "full" else PREVIEW_ENCODE_QUALITY
        return encode_image(out, fmt, quality=quality)


def prepare_source(
    state: ApiState, image_id: str, recipe: Recipe
) -> tuple[str, np.ndarray, np.ndarray | None]:
    """(key, pixels to render, subject mask or None): the cut-out when the recipe removes the
    background. Masks and cut-outs are kept per image, so the model runs at most once."""
    original = state.store.get(image_id)
    if not (recipe.background.remove or recipe.needs_mask):
        return image_id, original, None
    from glitchzap.background import foreground_mask, remove_background

    options = recipe.background
    mask = None
    if recipe.needs_mask:
        mask = state.store.derived(
            f"{image_id}:mask-{options.model}",
            lambda: foreground_mask(original, model=options.model),
        )
    if not options.remove:
        return image_id, original, mask
    key = f"{image_id}:cutout-{canonical_params({'model': options.model, 'color': options.color})}"
    cutout = state.store.derived(
        key, lambda: remove_background(original, model=options.model, background=options.color)
    )
    return key, cutout, mask
