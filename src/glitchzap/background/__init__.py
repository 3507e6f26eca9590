"""Background removal: the subject's soft mask, cut-outs and composites.

`foreground_mask` is a cached step (its low-resolution mask, key: pixel digest + the quality
mode's models, weights, mirroring and arithmetic + mask options), so changing anything
downstream (effects, background colour, alpha matting) never runs a model again. The models
are held by the one `ModelManager` (see manager.py); quality modes are in modes.py.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from glitchzap.background import compose
from glitchzap.background.compose import Shadow
from glitchzap.background.manager import ModelManager
from glitchzap.background.models import DEFAULT_MODEL, MODELS, get_spec
from glitchzap.background.modes import MODES, QualityMode, get_mode, low_res_mask, single_model
from glitchzap.background.refine import resize_mask, working_size
from glitchzap.errors import InvalidParameters

if TYPE_CHECKING:
    from glitchzap.runtime import Runtime

__all__ = [
    "CHANNELS",
    "DEFAULT_MODEL",
    "MODELS",
    "MODES",
    "ModelManager",
    "Shadow",
    "foreground_alpha",
    "foreground_mask",
    "remove_background",
    "resize_mask",
]

log = logging.getLogger(__name__)

Background = tuple[int, ...] | np.ndarray | None
CHANNELS = ("rgba", "alpha")
ALPHA_MATTING_PIXELS = 1_000_000  # closed-form matting is O(pixels); it runs at most this big


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise InvalidParameters("The image must be a uint8 numpy array")
    if image.ndim != 3 or image.shape[2] not in (3, 4) or min(image.shape[:2]) < 1:
        raise InvalidParameters(f"The image must be H×W×3 or H×W×4, got shape {image.shape}")


def _default_model(model: str | None, runtime: Runtime) -> str:
    if model:
        get_spec(model)
        return model
    return runtime.settings.models.default or DEFAULT_MODEL


def resolve_mode(model: str | None, quality: str | None, runtime: Runtime) -> QualityMode:
    """The quality mode a call runs: `model` alone when given, else `quality` (or
    `models.quality`); InvalidParameters for an unknown model or quality."""
    if model:
        get_spec(model)
        return single_model(model)
    return get_mode(quality or runtime.settings.models.quality)


def _encode_mask(alpha: np.ndarray) -> bytes:
    ok, png = cv2.imencode(".png", alpha, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:  # pragma: no cover - cv2 encodes any uint8 2-D array
        raise InvalidParameters("Cannot encode the mask")
    return bytes(png.tobytes())


def _decode_mask(data: bytes) -> np.ndarray | None:
    mask = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if mask is None or mask.ndim != 2 or mask.shape[0] != mask.shape[1]:
        return None  # a damaged or foreign entry is a miss, recomputed and overwritten
    return mask


def _low_res(
    image: np.ndarray, mode: QualityMode, default: str, post_process: bool, manager: ModelManager
) -> np.ndarray:
    """The mode's combined mask at the model grid, rounded to uint8: what the cache keeps (a
    few hundred KB at most, whatever the photo's size; the refinement to full size is cheap
    and deterministic, so it is redone rather than stored: a 12 MP alpha PNG costs ~90 ms to
    encode)."""
    low_res = low_res_mask(image, mode, default, manager)
    low_u8 = (np.clip(low_res, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    if post_process:
        from rembg.bg import post_process as rembg_post_process

        # rembg's morphological clean-up, at the model's resolution where it is cheap.
        low_u8 = np.ascontiguousarray(rembg_post_process(low_u8), dtype=np.uint8)
    return low_u8


def foreground_alpha(
    image: np.ndarray,
    *,
    runtime: Runtime,
    model: str | None = None,
    quality: str | None = None,
    post_process: bool = False,
    use_cache: bool = True,
    digest: str | None = None,
    manager: ModelManager | None = None,
) -> np.ndarray:
    """The subject's mask at full size as uint8 (255 = subject); the models' part comes from
    the cache when possible (it keeps the low-resolution mask, see _low_res).

    `model` runs that model alone; otherwise `quality` (fast, balanced, best; default
    `models.quality`) picks the models (modes.py). `digest` names the pixels when the caller
    knows it already (it keys the mask cache)."""
    from glitchzap.background.refine import refine_alpha
    from glitchzap.cache.keys import image_digest, make_key

    _check_image(image)
    mode = resolve_mode(model, quality, runtime)
    default = _default_model(None, runtime)
    manager = manager or runtime.models  # a test or bench may bring its own
    cache = runtime.cache("masks") if use_cache else None
    key = None
    low = None
    if cache is not None:
        digest = digest or image_digest(image)
        # Each member's model, weight, mirroring and arithmetic (float32, bfloat16 or the int8
        # variant) is part of what made the mask.
        members = [
            [name, member.weight, member.flip, manager.precision_for(name)]
            for name, member in zip(mode.models(default), mode.members, strict=True)
        ]
        key = make_key("mask-low", digest, {"members": members, "post_process": post_process})
        if (data := cache.get(key)) is not None:
            low = _decode_mask(data)
    if low is None:
        low = _low_res(image, mode, default, post_process, manager)
        if cache is not None and key is not None:
            cache.set(key, _encode_mask(low))
    return refine_alpha(image, low.astype(np.float32) * np.float32(1 / 255))


def foreground_mask(
    image: np.ndarray,
    *,
    runtime: Runtime,
    model: str | None = None,
    quality: str | None = None,
    post_process: bool = False,
    use_cache: bool = True,
    digest: str | None = None,
    manager: ModelManager | None = None,
) -> np.ndarray:
    """The subject's soft mask at the image's size: float32 H×W, 1 = subject, 0 = background."""
    alpha = foreground_alpha(
        image,
        runtime=runtime,
        model=model,
        quality=quality,
        post_process=post_process,
        use_cache=use_cache,
        digest=digest,
        manager=manager,
    )
    return alpha.astype(np.float32) * np.float32(1 / 255)


def _alpha_matting(
    image: np.ndarray,
    alpha: np.ndarray,
    foreground_threshold: int,
    background_threshold: int,
    erode_size: int,
) -> np.ndarray:
    """rembg's closed-form alpha matting of `alpha`, run at most ALPHA_MATTING_PIXELS big."""
    from PIL import Image
    from rembg.bg import alpha_matting_cutout

    height, width = alpha.shape
    work_h, work_w = working_size(height, width, ALPHA_MATTING_PIXELS)
    rgb = np.ascontiguousarray(image[..., :3])
    if (work_h, work_w) != (height, width):
        rgb = cv2.resize(rgb, (work_w, work_h), interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(alpha, (work_w, work_h), interpolation=cv2.INTER_AREA)
    try:
        cutout = alpha_matting_cutout(
            Image.fromarray(rgb),
            Image.fromarray(alpha),
            foreground_threshold,
            background_threshold,
            erode_size,
        )
    except ValueError as exc:
        # pymatting refuses a trimap without both known regions; rembg falls back the same way.
        log.warning("alpha matting skipped (%s); using the model's mask", exc)
        return cv2.resize(alpha, (width, height), interpolation=cv2.INTER_LINEAR)
    matted = np.asarray(cutout)[..., 3]
    return cv2.resize(matted, (width, height), interpolation=cv2.INTER_LINEAR)


def _check_thresholds(foreground: int, background: int, erode: int) -> None:
    if not (0 <= background < foreground <= 255):
        raise InvalidParameters(
            "alpha matting thresholds must satisfy 0 <= background < foreground <= 255"
        )
    if not 0 <= erode <= 100:
        raise InvalidParameters("alpha_matting_erode_size must be 0..100")


def _background_layer(background: Any, height: int, width: int) -> tuple[np.ndarray, int]:
    """The background as H×W×3 uint8 plus its opacity 0..255."""
    if isinstance(background, np.ndarray):
        _check_image(background)
        layer = cv2.resize(
            np.ascontiguousarray(background[..., :3]), (width, height), interpolation=cv2.INTER_AREA
        )
        return layer, 255
    colour = tuple(background)
    if len(colour) not in (3, 4) or not all(
        isinstance(c, int | np.integer) and 0 <= c <= 255 for c in colour
    ):
        raise InvalidParameters(f"Background colour must be R,G,B or R,G,B,A in 0..255: {colour}")
    opacity = int(colour[3]) if len(colour) == 4 else 255
    return np.full((height, width, 3), colour[:3], np.uint8), opacity


def composite(image: np.ndarray, alpha: np.ndarray, background: Any) -> np.ndarray:
    """`image` over `background` through `alpha`: RGB, or RGBA for a translucent colour."""
    height, width = alpha.shape
    layer, opacity = _background_layer(background, height, width)
    rgb = np.ascontiguousarray(image[..., :3])
    weight = alpha.astype(np.float32) * np.float32(1 / 255)
    if opacity == 255:
        return cv2.blendLinear(rgb, layer, weight, 1.0 - weight)
    # Alpha-over onto a translucent colour: out_a = a + b(1 - a), colour weighted to match.
    back = (1.0 - weight) * np.float32(opacity / 255)
    out_alpha = weight + back
    safe = np.maximum(out_alpha, np.float32(1e-6))
    out = cv2.blendLinear(rgb, layer, weight / safe, back / safe)
    return np.dstack([out, (out_alpha * 255 + 0.5).astype(np.uint8)])


def remove_background(
    image: np.ndarray,
    *,
    runtime: Runtime,
    model: str | None = None,
    quality: str | None = None,
    alpha_matting: bool = False,
    alpha_matting_foreground_threshold: int = 240,
    alpha_matting_background_threshold: int = 10,
    alpha_matting_erode_size: int = 10,
    post_process: bool = False,
    background: Background = None,
    bg_blur: float = 0,
    shadow: bool | Shadow = False,
    crop: bool = False,
    crop_margin: int | float | str = 0,
    channels: str = "rgba",
    decontaminate: bool | None = None,
    use_cache: bool = True,
    digest: str | None = None,
    manager: ModelManager | None = None,
) -> np.ndarray:
    """The subject cut out: RGBA uint8 (alpha = mask), or composited on a backdrop.

    Backdrops (at most one): `background`, an (R, G, B) or (R, G, B, A) colour or an image
    (resized to fit), or `bg_blur` > 0, the photo's own background blurred by that many px
    (Gaussian sigma; the subject stays sharp). The result is then RGB, or RGBA when the
    colour is translucent. `shadow` (True for the default `Shadow()`, or a `Shadow`) casts a
    soft drop shadow of the subject onto the backdrop, or onto transparency, where it shows
    in the alpha. `crop` cuts the result to the subject's box grown by `crop_margin` (px, or
    "10%" of the box). `channels="alpha"` answers the result's alpha alone (H×W uint8).
    `decontaminate` replaces the soft edges' colours by the subject's own estimated colours
    (no halo of the old background; None: as the quality mode says, on for `best`).
    Order: mask -> decontamination -> backdrop and shadow -> crop -> channels (compose.py).
    """
    _check_image(image)
    _check_thresholds(
        alpha_matting_foreground_threshold,
        alpha_matting_background_threshold,
        alpha_matting_erode_size,
    )
    check_finish(background, bg_blur, crop_margin, channels)
    shadow_spec = Shadow() if shadow is True else (shadow or None)
    if shadow_spec is not None and not isinstance(shadow_spec, Shadow):
        raise InvalidParameters("shadow must be True/False or a Shadow(offset, blur, opacity)")
    alpha = foreground_alpha(
        image,
        runtime=runtime,
        model=model,
        quality=quality,
        post_process=post_process,
        use_cache=use_cache,
        digest=digest,
        manager=manager,
    )
    if alpha_matting:
        alpha = _alpha_matting(
            image,
            alpha,
            alpha_matting_foreground_threshold,
            alpha_matting_background_threshold,
            alpha_matting_erode_size,
        )
    if image.shape[2] == 4:  # an already transparent pixel stays transparent
        alpha = cv2.multiply(alpha, image[..., 3], scale=1 / 255)
    if decontaminate is None:
        decontaminate = resolve_mode(model, quality, runtime).decontaminate
    if decontaminate and channels != "alpha":
        image = compose.decontaminate(image, alpha)
    result = _finish(image, alpha, background, bg_blur, shadow_spec)
    if crop:
        result = compose.crop(result, compose.crop_box(alpha, crop_margin))
    return compose.alpha_channel(result) if channels == "alpha" else result


def check_finish(
    background: Any, bg_blur: float, crop_margin: int | float | str, channels: str
) -> None:
    """InvalidParameters for finishing options that are out of range or do not go together."""
    compose.check_blur(bg_blur)
    compose.parse_margin(crop_margin)
    if channels not in CHANNELS:
        raise InvalidParameters(f"channels must be one of {', '.join(CHANNELS)}: {channels!r}")
    if background is not None and bg_blur:
        raise InvalidParameters("Give one backdrop: a background colour/image or bg_blur")
    if channels == "alpha" and (background is not None or bg_blur):
        raise InvalidParameters("channels=alpha answers the cut-out's alpha: give no backdrop")


def _finish(
    image: np.ndarray,
    alpha: np.ndarray,
    background: Any,
    bg_blur: float,
    shadow: Shadow | None,
) -> np.ndarray:
    """Step 2 of compose.py's order: the backdrop (colour, image or blur) and the shadow."""
    if bg_blur:
        background = compose.blurred_backdrop(image, alpha, bg_blur)
    if shadow is None:
        if background is not None:
            return composite(image, alpha, background)
        return _with_alpha(image, alpha)
    height, width = alpha.shape
    layer, opacity = (
        (None, 0) if background is None else _background_layer(background, height, width)
    )
    return compose.over_with_shadow(
        image, alpha, compose.shadow_alpha(alpha, shadow), layer, opacity
    )


def _with_alpha(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    # cvtColor + one channel write is several times faster than np.dstack at 12 MP.
    out = image.copy() if image.shape[2] == 4 else cv2.cvtColor(image, cv2.COLOR_RGB2RGBA)
    out[..., 3] = alpha
    return out
