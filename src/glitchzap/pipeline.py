"""Running effects on an image: previews, targets and the float32 buffer discipline.

The whole chain runs on one float32 buffer, converted once from uint8 and clipped once back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import cv2
import numpy as np
from PIL import Image

from glitchzap.deadline import NO_DEADLINE, Deadline
from glitchzap.effects import parse_effects
from glitchzap.errors import InvalidParameters

Target = Literal["all", "foreground", "background"]
PreviewQuality = Literal["fast", "balanced", "high", "full"]
PREVIEW_SIZES: dict[str, int] = {"fast": 300, "balanced": 500, "high": 800}
_BAND_ROWS = 512


def preview_size(
    shape: tuple[int, ...], quality: str, sizes: Mapping[str, int] | None = None
) -> tuple[int, int]:
    """(width, height) of the preview for `quality`: longest side at most the mode's size."""
    height, width = shape[:2]
    if quality == "full":
        return width, height
    limits = sizes or PREVIEW_SIZES
    if quality not in limits:
        raise InvalidParameters(f"Unknown quality {quality!r}: use fast, balanced, high or full")
    longest = limits[quality]
    ratio = longest / max(width, height)
    if ratio >= 1:
        return width, height  # never upscale
    return max(1, round(width * ratio)), max(1, round(height * ratio))


def resize_for_preview(
    image: np.ndarray, quality: str = "balanced", sizes: Mapping[str, int] | None = None
) -> np.ndarray:
    """`image` scaled down (Lanczos, aspect kept) so its longest side fits the quality mode."""
    width, height = preview_size(image.shape, quality, sizes)
    if (width, height) == (image.shape[1], image.shape[0]):
        return image
    # reducing_gap: a box reduce, then Lanczos on the last factor of 3 (same look, ~5x faster).
    resized = Image.fromarray(image).resize(
        (width, height), Image.Resampling.LANCZOS, reducing_gap=3.0
    )
    return np.asarray(resized)


def resize_mask(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """A float mask resized to (height, width) with area averaging."""
    if mask.shape[:2] == (height, width):
        return mask
    return cv2.resize(mask.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)


def _premultiply(buf: np.ndarray) -> None:
    alpha = buf[..., 3:4] * np.float32(1 / 255)
    np.multiply(buf[..., :3], alpha, out=buf[..., :3])


def _unpremultiply(buf: np.ndarray) -> None:
    alpha = buf[..., 3:4] * np.float32(1 / 255)
    np.divide(buf[..., :3], alpha, out=buf[..., :3], where=alpha > 1e-6)


def _blend_target(out: np.ndarray, original: np.ndarray, weight: np.ndarray) -> None:
    """out = original + weight * (out - original), band by band to keep memory flat."""
    height = out.shape[0]
    for top in range(0, height, _BAND_ROWS):
        rows = slice(top, min(top + _BAND_ROWS, height))
        base = original[rows].astype(np.float32)
        band = out[rows]
        band -= base
        band *= weight[rows, :, None]
        band += base


def _to_uint8(buf: np.ndarray) -> np.ndarray:
    # Saturating, rounding conversion in one pass (cv2 arithmetic with an output depth).
    return cv2.add(buf, np.zeros(4, np.float64), dtype=cv2.CV_8U).reshape(buf.shape)


def _check_mask(mask: np.ndarray, image: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[..., 0]
    if mask.shape != image.shape[:2]:
        raise InvalidParameters(f"mask shape {mask.shape} does not match image {image.shape[:2]}")
    if mask.dtype == np.uint8:
        return mask.astype(np.float32) / 255
    return np.clip(mask.astype(np.float32, copy=False), 0, 1)


def _exact_on_uint8(chain: list[Any], scale: float, has_alpha: bool, target: str) -> bool:
    """Whether every effect of `chain` gives the float32 path's bytes on a uint8 buffer."""
    if target != "all":
        return False  # blending with the mask needs float weights
    return all(
        effect.uint8_exact is not None
        and effect.uint8_exact(params, scale)
        and not (has_alpha and effect.spatial)  # premultiplied alpha needs float
        for effect, params in chain
    )


def apply_effects(
    image: np.ndarray,
    effects: Mapping[str, Any] | None,
    *,
    seed: int | None = None,
    mask: np.ndarray | None = None,
    target: Target = "all",
    scale: float = 1.0,
    deadline: Deadline = NO_DEADLINE,
    uint8_fast_path: bool = True,
) -> np.ndarray:
    """A new uint8 image with `effects` applied in engine order (see `EFFECTS`).

    `mask` (float 0..1 or uint8, H x W, 1 = subject) with `target` limits the effects to the
    subject or the background; `scale` is preview size / full size. Past `deadline` the
    chain stops between steps with `OperationTimeout`.
    """
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4):
        raise InvalidParameters(
            f"Expected an H x W x 3|4 uint8 image, got {image.dtype} {image.shape}"
        )
    if target not in ("all", "foreground", "background"):
        raise InvalidParameters(f"Unknown target {target!r}: use all, foreground or background")
    if target != "all" and mask is None:
        raise InvalidParameters(f"target={target!r} needs a subject mask")
    chain = parse_effects(effects)
    if not chain:
        return image.copy()
    rng = np.random.default_rng(seed)
    if uint8_fast_path and _exact_on_uint8(chain, scale, image.shape[2] == 4, target):
        # Pixel moves and one rounded multiply give the same bytes on uint8: no float trip.
        out = image.copy()
        for effect, params in chain:
            deadline.check()
            out = effect.fn(out, params, rng, scale, deadline)
        return out
    buf = image.astype(np.float32)
    has_alpha = image.shape[2] == 4
    premultiplied = False
    for effect, params in chain:
        deadline.check()
        if effect.spatial and has_alpha and not premultiplied:
            _premultiply(buf)
            premultiplied = True
        buf = effect.fn(buf, params, rng, scale, deadline)
    deadline.check()
    if premultiplied:
        _unpremultiply(buf)
    if target != "all" and mask is not None:
        weight = _check_mask(mask, image)
        if target == "background":
            weight = 1 - weight
        _blend_target(buf, image, weight)
    return _to_uint8(buf)


def effects_memory_bytes(shape: tuple[int, ...], effects: Mapping[str, Any] | None) -> int:
    """Peak bytes `apply_effects` needs on an image of `shape`: the float32 copies of the
    hungriest effect (each declares its own), plus the uint8 result."""
    chain = parse_effects(effects)
    if not chain:
        return 0
    pixels = int(np.prod(shape))
    copies = max(effect.memory_copies for effect, _ in chain)
    return int(pixels * 4 * copies) + pixels
