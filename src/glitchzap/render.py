"""The cached render step: a recipe's effects on an image at a quality mode.

Preview resizes and rendered outputs are cached by content: pixels digest + canonical
parameters + quality (+ the mask's digest when effects target a region).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from glitchzap.cache import get_cache
from glitchzap.cache.base import Cache
from glitchzap.cache.codec import decode_array, encode_array
from glitchzap.cache.keys import image_digest, make_key
from glitchzap.pipeline import apply_effects, resize_for_preview, resize_mask
from glitchzap.recipes import Recipe


def cached_preview(
    image: np.ndarray,
    quality: str,
    *,
    digest: str | None = None,
    sizes: Mapping[str, int] | None = None,
    cache: Cache | None = None,
) -> np.ndarray:
    """`resize_for_preview`, cached by pixels digest and quality."""
    if quality == "full":
        return image
    cache = cache or get_cache("previews")
    key = make_key("preview", digest or image_digest(image), dict(sizes or {}), quality)
    hit = cache.get(key)
    if hit is not None and (array := decode_array(hit)) is not None:
        return array
    small = resize_for_preview(image, quality, sizes)
    cache.set(key, encode_array(small))
    return small


def render(
    image: np.ndarray,
    recipe: Recipe,
    *,
    quality: str = "full",
    mask: np.ndarray | None = None,
    digest: str | None = None,
    sizes: Mapping[str, int] | None = None,
    cache: Cache | None = None,
) -> np.ndarray:
    """The recipe's effects on `image` at `quality` (uint8), from the cache when possible.

    `mask` is the full-size subject mask (float 0..1) when the recipe targets a region.
    """
    digest = digest or image_digest(image)
    mask_id = image_digest(mask) if mask is not None and recipe.target != "all" else None
    cacheable = recipe.seed is not None
    cache = cache or get_cache("renders")
    params = {
        "effects": recipe.effects,
        "target": recipe.target,
        "seed": recipe.seed,
        "mask": mask_id,
        "sizes": dict(sizes or {}),
    }
    key = make_key("render", digest, params, quality)
    if (
        cacheable
        and (hit := cache.get(key)) is not None
        and (array := decode_array(hit)) is not None
    ):
        return array
    small = cached_preview(image, quality, digest=digest, sizes=sizes)
    scale = small.shape[1] / image.shape[1]
    small_mask = None
    if mask is not None and recipe.target != "all":
        small_mask = resize_mask(mask, small.shape[1], small.shape[0])
    out = apply_effects(
        small, recipe.effects, seed=recipe.seed, mask=small_mask, target=recipe.target, scale=scale
    )
    if cacheable:
        cache.set(key, encode_array(out))
    return out
