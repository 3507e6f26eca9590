"""The render use case: what a recipe asks of an image, for every door.

`render_recipe` is the one place a recipe becomes pixels: the subject mask when a target or
the cut-out needs it, background removal (transparent, a colour, an image or the blurred
photo; a drop shadow, the crop to the subject, the alpha alone; or the grey mask alone),
the preview resize, then the effects. The CLI (`glitch`, `remove-bg`), the API
(`/api/render`, `/api/remove-background`, the studio's download) and the batch engines
(local and Ray) all call it, so the same recipe gives the same pixels whichever way it came.

Each step is reused by content: masks and cut-outs by pixels digest + options (the model runs
at most once per image), previews by digest + size, rendered results by digest + canonical
recipe + quality.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from glitchzap.animation import Animation, eased_value, frame_seed
from glitchzap.cache.base import Cache
from glitchzap.cache.codec import decode_array, encode_array
from glitchzap.cache.keys import image_digest, make_key
from glitchzap.deadline import NO_DEADLINE, Deadline
from glitchzap.effects import EFFECTS
from glitchzap.errors import ImageTooLarge, InvalidParameters
from glitchzap.io import check_animation_pixels, encode_animation, encode_image
from glitchzap.pipeline import (
    apply_effects,
    effects_memory_bytes,
    preview_size,
    resize_for_preview,
    resize_mask,
)
from glitchzap.recipes import Recipe

if TYPE_CHECKING:
    from glitchzap.runtime import Runtime
    from glitchzap.settings import LimitsSettings

PREVIEW_ENCODE_QUALITY = 80  # previews: small and fast; exports use the recipe's quality


class LazyImage:
    """An image known by its shape whose pixels are decoded only when a step needs them: a
    preview already kept in memory needs none (a 50 MP upload is not decoded per slider move)."""

    def __init__(self, shape: tuple[int, ...], load: Callable[[], np.ndarray]) -> None:
        self.shape = tuple(shape)
        self._load = load
        self._pixels: np.ndarray | None = None

    def pixels(self) -> np.ndarray:
        if self._pixels is None:
            self._pixels = self._load()
        return self._pixels


ImageLike = np.ndarray | LazyImage


def pixels_of(image: ImageLike) -> np.ndarray:
    return image if isinstance(image, np.ndarray) else image.pixels()


def render_recipe(
    image: ImageLike,
    recipe: Recipe,
    *,
    runtime: Runtime,
    quality: str = "full",
    digest: str | None = None,
    use_cache: bool = True,
    deadline: Deadline = NO_DEADLINE,
    backdrop: np.ndarray | None = None,
) -> np.ndarray:
    """`image` rendered as `recipe` asks, at `quality` (full, or a preview mode): uint8.

    `digest` names the pixels when the caller already knows it (an upload's id); `use_cache`
    False skips storing the final array (callers that cache the encoded bytes instead). Past
    `deadline` the work stops between steps with `OperationTimeout`. `backdrop` is an image
    the cut-out is composited on (resized to fit), for a recipe with `background.remove`.
    """
    digest = digest or image_digest(pixels_of(image))
    source, source_id, mask = prepare_source(
        image, recipe, runtime=runtime, digest=digest, backdrop=backdrop
    )
    deadline.check()
    if recipe.background.only_mask or recipe.background.channels == "alpha":
        return pixels_of(source)  # a mask or an alpha is the answer: no effects on it
    return render_effects(
        source,
        recipe,
        runtime=runtime,
        quality=quality,
        mask=mask,
        digest=source_id,
        original_width=image.shape[1],
        use_cache=use_cache,
        deadline=deadline,
    )


def estimate_render_bytes(
    shape: tuple[int, ...], recipe: Recipe, *, quality: str, preview_sizes: Mapping[str, int]
) -> int:
    """Peak bytes `render_recipe` needs beyond the decoded original of `shape`: the subject
    mask and cut-out at full size when the recipe asks for them, then the effects on the
    preview-sized (or full) working image."""
    height, width = shape[:2]
    full = height * width
    channels = 4 if recipe.background.remove and recipe.background.color is None else shape[2]
    total = 0
    options = recipe.background
    if options.remove or options.only_mask or recipe.needs_mask:
        total += full * (4 + 1 + 4)  # float mask + uint8 alpha + the RGBA cut-out
    if options.remove and (options.shadow or options.bg_blur):
        total += full * 4 * 12  # float32 planes: photo, premultiplied layers, blurs
    work_w, work_h = preview_size(shape, quality, preview_sizes)
    total += effects_memory_bytes((work_h, work_w, channels), recipe.effects)
    if (work_w, work_h) != (width, height):
        total += work_w * work_h * channels * 2  # the preview and its resize temporaries
    return total


def prepare_source(
    image: ImageLike,
    recipe: Recipe,
    *,
    runtime: Runtime,
    digest: str,
    backdrop: np.ndarray | None = None,
) -> tuple[ImageLike, str, np.ndarray | None]:
    """(pixels the effects run on, their content id, full-size subject mask or None).

    The pixels are the original, the cut-out when `background.remove` (with its backdrop,
    shadow, crop and channels), or the grey mask when `background.only_mask`. The mask
    comes from the original pixels, whatever the cut-out."""
    options = recipe.background
    if backdrop is not None and (not options.remove or options.only_mask):
        raise InvalidParameters("A backdrop image needs background.remove (and no only_mask)")
    if backdrop is not None and options.color is not None:
        raise InvalidParameters("Give one backdrop: a background colour or an image")
    if not (options.remove or options.only_mask or recipe.needs_mask):
        return image, digest, None
    from glitchzap.background import (
        foreground_alpha,
        foreground_mask,
        remove_background,
        resolve_mode,
    )

    pixels = pixels_of(image)
    model, quality = options.model, options.quality
    # The mode and the models it runs key the in-memory arrays.
    resolved = resolve_mode(model, quality, runtime)
    mode = [resolved.name, resolved.models(runtime.settings.models.default)]
    memo = runtime.arrays
    mask = None
    if recipe.needs_mask:
        mask = memo.get_or_make(
            make_key("mask-array", digest, {"mode": mode}),
            lambda: foreground_mask(
                pixels, model=model, quality=quality, runtime=runtime, digest=digest
            ),
        )
    if options.only_mask:
        key = make_key("mask-only", digest, {"mode": mode, "post": options.post_process})
        alpha = memo.get_or_make(
            key,
            lambda: foreground_alpha(
                pixels,
                model=model,
                quality=quality,
                post_process=options.post_process,
                runtime=runtime,
                digest=digest,
            ),
        )
        return alpha, key, mask
    if not options.remove:
        return image, digest, mask
    cut_options = options.model_dump(exclude={"remove", "only_mask"}, mode="json")
    backdrop_id = None if backdrop is None else image_digest(backdrop)
    key = make_key("cutout", digest, {**cut_options, "mode": mode, "backdrop": backdrop_id})
    cutout = memo.get_or_make(
        key,
        lambda: remove_background(
            pixels,
            model=model,
            quality=quality,
            alpha_matting=options.alpha_matting,
            alpha_matting_foreground_threshold=options.alpha_matting_foreground_threshold,
            alpha_matting_background_threshold=options.alpha_matting_background_threshold,
            alpha_matting_erode_size=options.alpha_matting_erode_size,
            post_process=options.post_process,
            background=options.color if backdrop is None else backdrop,
            **options.finishing,
            runtime=runtime,
            digest=digest,
        ),
    )
    return cutout, key, mask


def render_effects(
    image: ImageLike,
    recipe: Recipe,
    *,
    runtime: Runtime,
    quality: str = "full",
    mask: np.ndarray | None = None,
    digest: str | None = None,
    original_width: int | None = None,
    use_cache: bool = True,
    deadline: Deadline = NO_DEADLINE,
) -> np.ndarray:
    """The recipe's effects on `image` at `quality` (uint8), from the cache when possible.

    `mask` is the full-size subject mask (float 0..1) when the recipe targets a region;
    effect sizes are in pixels of the full-size image (`original_width` wide)."""
    digest = digest or image_digest(pixels_of(image))
    sizes = runtime.settings.image_processing.preview_sizes
    mask_id = image_digest(mask) if mask is not None and recipe.target != "all" else None
    cache = runtime.cache("renders") if use_cache and recipe.seed is not None else None
    params = {
        "effects": recipe.effects,
        "target": recipe.target,
        "seed": recipe.seed,
        "mask": mask_id,
        "sizes": dict(sizes),
    }
    key = make_key("render", digest, params, quality)
    if cache is not None and (hit := cache.get(key)) is not None:
        array = decode_array(hit)
        if array is not None:
            return array
    small = preview(image, quality, runtime=runtime, digest=digest)
    scale = small.shape[1] / (original_width or image.shape[1])
    small_mask = None
    if mask is not None and recipe.target != "all":
        small_mask = runtime.arrays.get_or_make(
            make_key("mask-preview", str(mask_id), None, quality),
            lambda: resize_mask(mask, small.shape[1], small.shape[0]),
        )
    out = apply_effects(
        small,
        recipe.effects,
        seed=recipe.seed,
        mask=small_mask,
        target=recipe.target,
        scale=scale,
        deadline=deadline,
    )
    if cache is not None:
        cache.set(key, encode_array(out))
    return out


def preview(image: ImageLike, quality: str, *, runtime: Runtime, digest: str) -> np.ndarray:
    """`image` resized for the preview `quality` (itself for full), kept by content."""
    if quality == "full":
        return pixels_of(image)
    sizes = runtime.settings.image_processing.preview_sizes
    return runtime.arrays.get_or_make(
        preview_key(digest, quality, runtime),
        lambda: cached_preview(pixels_of(image), quality, digest=digest, sizes=sizes),
    )


def preview_key(digest: str, quality: str, runtime: Runtime) -> str:
    """The memo key of the `quality` preview of the pixels named `digest`."""
    sizes = runtime.settings.image_processing.preview_sizes
    return make_key("preview", digest, dict(sizes), quality)


def cached_preview(
    image: np.ndarray,
    quality: str,
    *,
    digest: str | None = None,
    sizes: Mapping[str, int] | None = None,
    cache: Cache | None = None,
) -> np.ndarray:
    """`resize_for_preview`, through `cache` (by pixels digest and quality) when given."""
    if quality == "full":
        return image
    key = make_key("preview", digest or image_digest(image), dict(sizes or {}), quality)
    if cache is not None and (hit := cache.get(key)) is not None:
        array = decode_array(hit)
        if array is not None:
            return array
    small = resize_for_preview(image, quality, sizes)
    if cache is not None:
        cache.set(key, encode_array(small))
    return small


def output_format(recipe: Recipe, quality: str, has_alpha: bool) -> str:
    """`full`: the recipe's output format. Previews: JPEG, or WebP when there is alpha to keep.

    JPEG previews encode in 1-3 ms where WebP takes 35-60 ms at 500 px (Pillow's method 4),
    which would dominate a slider move; ask for WebP explicitly to get it."""
    if quality == "full":
        return recipe.output.format
    return "webp" if has_alpha else "jpeg"


def encode_result(image: np.ndarray, recipe: Recipe, *, quality: str, fmt: str) -> bytes:
    """A rendered image as `fmt` bytes: the recipe's quality for exports, a fast one else."""
    encode_quality = recipe.output.quality if quality == "full" else PREVIEW_ENCODE_QUALITY
    return encode_image(image, fmt, quality=encode_quality)


def frame_effects(
    effects: Mapping[str, Mapping[str, Any]],
    ease: Mapping[str, Any],
    index: int,
    count: int,
) -> dict[str, dict[str, Any]]:
    """`effects` (full parameter dicts by effect name) with each eased "effect.param" set to
    its value at frame `index` of `count` (integers rounded). An eased effect missing from
    `effects` starts from its defaults. `ease` values have `start`, `end`, `curve`."""
    out = {name: dict(params) for name, params in effects.items()}
    for key, spec in ease.items():
        effect_name, param = key.split(".", 1)
        effect = EFFECTS[effect_name]
        params = out.setdefault(effect_name, effect.params().model_dump())
        value = eased_value(spec.start, spec.end, spec.curve, index, count)
        field = effect.params.model_fields[param]
        params[param] = round(value) if field.annotation is int else value
    return out


def frame_recipe(recipe: Recipe, index: int, count: int) -> Recipe:
    """The still recipe of frame `index` of `count`: eased parameters at their value there
    and the frame's seed. Without an `animation` block: the recipe itself."""
    options = recipe.animation
    if options is None:
        return recipe
    effects = frame_effects(recipe.effects, options.ease, index, count)
    seed = frame_seed(recipe.seed, options.seed, index)
    return recipe.model_copy(update={"effects": effects, "seed": seed, "animation": None})


def source_frames(animation: Animation, recipe: Recipe) -> Animation:
    """What the recipe's frames are rendered from: an animation's own frames and timing, or
    a still repeated `animation.frames` times at the recipe's frame rate and loop."""
    options = recipe.animation
    if animation.animated or options is None:
        loop = animation.loop if options is None or animation.animated else options.loop
        return Animation(animation.frames, animation.durations, loop)
    frame = animation.frames[0]
    count = options.frames
    return Animation([frame] * count, (options.frame_ms,) * count, options.loop)


def check_frames_budget(count: int, width: int, height: int, limits: LimitsSettings) -> None:
    """ImageTooLarge when `count` frames of width x height (a still made into a loop, say)
    are past the frame or animation-pixel budgets a decoded animation is held to."""
    if count > limits.max_frames:
        raise ImageTooLarge(
            f"The animation has {count} frames; the limit is {limits.max_frames} "
            "(limits.max_frames)"
        )
    check_animation_pixels(count, width, height, limits)


def render_animation(
    animation: Animation,
    recipe: Recipe,
    *,
    runtime: Runtime,
    quality: str = "full",
    use_cache: bool = True,
    deadline: Deadline = NO_DEADLINE,
    backdrop: np.ndarray | None = None,
) -> Animation:
    """`animation` (or a still, looped as `recipe.animation` says) rendered frame by frame
    through `render_recipe`: each frame's mask, cut-out, preview and effects are reused by
    content, so an unchanged frame (a repeated still, a slider that moved nothing in it)
    costs a lookup. A still without an `animation` block gives a one-frame result."""
    if animation.animated and recipe.background.remove and recipe.background.crop:
        # Each frame's subject has its own box; an animation's frames share one size.
        raise InvalidParameters(
            "background.crop takes a still: an animation's frames would crop to different "
            "sizes (cut it out uncropped, or crop one frame)"
        )
    frames = source_frames(animation, recipe)
    if not animation.animated:
        # A looped still is held to the budgets at the size its frames are made (a decoded
        # animation was checked from its container already).
        sizes = runtime.settings.image_processing.preview_sizes
        width, height = preview_size(animation.shape, quality, sizes)
        check_frames_budget(len(frames), width, height, runtime.settings.limits)
    digests: dict[int, str] = {}  # repeated frames (a looped still) are hashed once
    out = []
    for index, frame in enumerate(frames.frames):
        deadline.check()
        digest = digests.get(id(frame)) or digests.setdefault(id(frame), image_digest(frame))
        out.append(
            render_recipe(
                frame,
                frame_recipe(recipe, index, len(frames)),
                runtime=runtime,
                quality=quality,
                digest=digest,
                use_cache=use_cache,
                deadline=deadline,
                backdrop=backdrop,
            )
        )
    return Animation(out, frames.durations, frames.loop)


def animated_format(recipe: Recipe, quality: str, requested: str | None = None) -> str:
    """The container of an animated result: the requested format, else the recipe's for
    exports and WebP for previews (small, quick to encode, plays in every browser); png
    means APNG. JPEG cannot animate: InvalidParameters."""
    fmt = requested or (recipe.output.format if quality == "full" else "webp")
    fmt = "png" if fmt == "apng" else fmt
    if fmt == "jpeg":
        raise InvalidParameters("JPEG cannot hold an animation: ask for gif, webp or apng (or png)")
    return fmt


def encode_animation_result(
    animation: Animation, recipe: Recipe, *, quality: str, fmt: str
) -> bytes:
    """A rendered animation as `fmt` bytes (a one-frame one as a still of that format)."""
    if not animation.animated:
        return encode_result(animation.frames[0], recipe, quality=quality, fmt=fmt)
    if quality == "full":
        return encode_animation(animation, fmt, quality=recipe.output.quality)
    return encode_animation(animation, fmt, quality=PREVIEW_ENCODE_QUALITY, fast=True)
