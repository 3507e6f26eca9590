"""remove.bg-style finishing of a cut-out: pure functions on arrays.

Given the photo and the subject's alpha (uint8, 255 = subject), these build what the doors
offer on top of the plain cut-out, always in this order:

1. the mask (the model, then alpha matting when asked);
2. the backdrop and the shadow composited: the subject over a drop shadow over the backdrop
   (a colour, an image, the photo's own background blurred, or transparency);
3. the crop to the subject's box grown by the margin (the box comes from the subject's
   alpha, never from the shadow's);
4. `channels="alpha"`: the result's alpha channel alone (H×W uint8).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np

from glitchzap.errors import InvalidParameters

SUBJECT_THRESHOLD = 16  # alpha (of 255) a pixel needs to count toward the subject's box
MAX_BLUR = 500  # px: bg_blur and shadow_blur
MAX_OFFSET = 10_000  # px: each of shadow_offset's dx, dy

_MARGIN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%|px)?\s*$")

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (end exclusive)


@dataclass(frozen=True)
class Shadow:
    """A soft drop shadow: the subject's alpha shifted by `offset` (dx, dy px, +x right,
    +y down), blurred by a Gaussian of sigma `blur` px, at `opacity` (0..1), in black."""

    offset: tuple[int, int] = (12, 12)
    blur: float = 10.0
    opacity: float = 0.5

    def __post_init__(self) -> None:
        check_shadow(self.offset, self.blur, self.opacity)


def check_shadow(offset: tuple[int, int], blur: float, opacity: float) -> None:
    """InvalidParameters unless the shadow's settings are in range."""
    if len(tuple(offset)) != 2 or not all(
        isinstance(v, int | np.integer) and abs(v) <= MAX_OFFSET for v in offset
    ):
        raise InvalidParameters(
            f"shadow_offset must be two whole numbers dx,dy within ±{MAX_OFFSET}: {offset!r}"
        )
    if not 0 <= blur <= MAX_BLUR:
        raise InvalidParameters(f"shadow_blur must be 0..{MAX_BLUR} px, got {blur}")
    if not 0 <= opacity <= 1:
        raise InvalidParameters(f"shadow_opacity must be 0..1, got {opacity}")


def check_blur(radius: float) -> None:
    if not 0 <= radius <= MAX_BLUR:
        raise InvalidParameters(f"bg_blur must be 0..{MAX_BLUR} px, got {radius}")


def parse_margin(margin: int | float | str) -> tuple[float, bool]:
    """(value, is_percent) of a crop margin: 12 / "12" / "12px" pixels, or "10%" of the
    subject box's size (its width for left/right, its height for top/bottom)."""
    if isinstance(margin, bool):
        raise InvalidParameters(f"crop_margin must be pixels or a percentage: {margin!r}")
    if isinstance(margin, int | float):
        if not 0 <= margin <= MAX_OFFSET:
            raise InvalidParameters(f"crop_margin must be 0..{MAX_OFFSET} px, got {margin}")
        return float(margin), False
    match = _MARGIN.match(str(margin))
    if match is None:
        raise InvalidParameters(
            f'crop_margin must be pixels ("12", "12px") or a percentage ("10%"): {margin!r}'
        )
    value, percent = float(match.group(1)), match.group(2) == "%"
    if percent and value > 1000:
        raise InvalidParameters(f"crop_margin must be at most 1000%, got {margin!r}")
    if not percent and value > MAX_OFFSET:
        raise InvalidParameters(f"crop_margin must be 0..{MAX_OFFSET} px, got {margin!r}")
    return value, percent


def subject_box(alpha: np.ndarray, threshold: int = SUBJECT_THRESHOLD) -> Box | None:
    """The tight box (x0, y0, x1, y1; ends exclusive) of the pixels with alpha >= threshold,
    or None when there are none."""
    solid = alpha >= threshold
    rows, cols = np.flatnonzero(solid.any(axis=1)), np.flatnonzero(solid.any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def crop_box(alpha: np.ndarray, margin: int | float | str = 0) -> Box:
    """The subject's box grown by `margin` on every side, clipped to the image. Without a
    subject (an empty mask) it is the whole image."""
    height, width = alpha.shape[:2]
    box = subject_box(alpha)
    if box is None:
        return 0, 0, width, height
    value, percent = parse_margin(margin)
    x0, y0, x1, y1 = box
    mx = round(value * (x1 - x0) / 100) if percent else round(value)
    my = round(value * (y1 - y0) / 100) if percent else round(value)
    return max(0, x0 - mx), max(0, y0 - my), min(width, x1 + mx), min(height, y1 + my)


def crop(image: np.ndarray, box: Box) -> np.ndarray:
    x0, y0, x1, y1 = box
    return np.ascontiguousarray(image[y0:y1, x0:x1])


def _gaussian(plane: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return plane
    return cv2.GaussianBlur(plane, (0, 0), sigmaX=float(sigma), borderType=cv2.BORDER_REPLICATE)


def shadow_alpha(alpha: np.ndarray, shadow: Shadow) -> np.ndarray:
    """The shadow's coverage, float32 H×W in [0, opacity]: the subject's alpha moved by the
    offset (what moves in from outside is empty), blurred, scaled by the opacity."""
    height, width = alpha.shape
    dx, dy = shadow.offset
    moved = np.zeros((height, width), np.float32)
    src = alpha[max(0, -dy) : height - max(0, dy), max(0, -dx) : width - max(0, dx)]
    if src.size:
        moved[max(0, dy) : max(0, dy) + src.shape[0], max(0, dx) : max(0, dx) + src.shape[1]] = (
            src.astype(np.float32) * np.float32(1 / 255)
        )
    return _gaussian(moved, shadow.blur) * np.float32(shadow.opacity)


def blurred_backdrop(image: np.ndarray, alpha: np.ndarray, radius: float) -> np.ndarray:
    """The photo's own background blurred (Gaussian, sigma `radius` px), H×W×3 uint8.

    The blur is weighted by the background's share (1 - alpha) and normalised, so the
    subject's colours do not bleed into the blurred background around it; where the
    neighbourhood is all subject, the plain blur fills in (it is hidden under the subject)."""
    rgb = np.ascontiguousarray(image[..., :3]).astype(np.float32)
    if radius <= 0:
        return np.ascontiguousarray(image[..., :3])
    weight = np.float32(1) - alpha.astype(np.float32) * np.float32(1 / 255)
    summed = _gaussian(rgb * weight[..., None], radius)
    share = _gaussian(weight, radius)[..., None]
    plain = _gaussian(rgb, radius)
    out = np.where(share > 1e-3, summed / np.maximum(share, 1e-3), plain)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def over_with_shadow(
    image: np.ndarray,
    alpha: np.ndarray,
    shadow: np.ndarray,
    backdrop: np.ndarray | None,
    backdrop_opacity: int = 255,
) -> np.ndarray:
    """The subject (`image` through `alpha`) over a black shadow of coverage `shadow` over
    `backdrop` (H×W×3 at `backdrop_opacity`, or nothing: transparency).

    Premultiplied "over" at each step. RGB when the result is opaque everywhere (an opaque
    backdrop), else RGBA: on transparency the shadow shows as black at its coverage, so it
    lives in the alpha channel. Fully opaque subject pixels keep their exact colour."""
    rgb = np.ascontiguousarray(image[..., :3]).astype(np.float32)
    a = (alpha.astype(np.float32) * np.float32(1 / 255))[..., None]
    s = shadow[..., None]
    if backdrop is None:
        premult = np.zeros_like(rgb)
        cover = np.zeros_like(a)
    else:
        b = np.float32(backdrop_opacity / 255)
        premult = backdrop.astype(np.float32) * b
        cover = np.full_like(a, b)
    premult = premult * (1 - s)  # the shadow is black: it adds coverage, no colour
    cover = s + cover * (1 - s)
    premult = rgb * a + premult * (1 - a)
    cover = a + cover * (1 - a)
    colour = premult / np.maximum(cover, np.float32(1e-6))
    out = np.clip(colour + 0.5, 0, 255).astype(np.uint8)
    if backdrop is not None and backdrop_opacity == 255:
        return out
    # Where nothing covers a pixel, keep the photo's colour (as the plain cut-out does).
    clear = cover[..., 0] <= 0
    out[clear] = image[..., :3][clear]
    return np.dstack([out, np.clip(cover[..., 0] * 255 + 0.5, 0, 255).astype(np.uint8)])


def alpha_channel(result: np.ndarray) -> np.ndarray:
    """The alpha of a finished result as H×W uint8 (an opaque RGB result: all 255)."""
    if result.ndim == 2:
        return result
    if result.shape[2] == 4:
        return np.ascontiguousarray(result[..., 3])
    return np.full(result.shape[:2], 255, np.uint8)


DECONTAMINATE_RADII = (90, 6)  # px at 1 MP: a wide pass, then a narrow one (Forte & Pitié)


def _blur(planes: np.ndarray, radius: int) -> np.ndarray:
    side = max(1, radius)
    return cv2.blur(planes, (side, side), borderType=cv2.BORDER_REFLECT)


def _blur_fusion(
    image: np.ndarray, fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray, radius: int
) -> tuple[np.ndarray, np.ndarray]:
    """One pass of blur-fusion foreground estimation (float32 planes in [0, 1])."""
    a3 = alpha[..., None]
    blurred_alpha = _blur(alpha, radius)[..., None]
    blurred_fg = _blur(fg * a3, radius) / (blurred_alpha + np.float32(1e-5))
    blurred_bg = _blur(bg * (1 - a3), radius) / ((1 - blurred_alpha) + np.float32(1e-5))
    fg = blurred_fg + a3 * (image - a3 * blurred_fg - (1 - a3) * blurred_bg)
    return np.clip(fg, 0.0, 1.0, out=fg), blurred_bg


def decontaminate(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """`image` (uint8 RGB/RGBA) with the colours of its partly transparent pixels replaced by
    an estimate of the subject's own colour, so that a cut-out's soft edges stop carrying the
    old background (the halo when it is put on another backdrop).

    Blur-fusion foreground estimation (Forte & Pitié, "Approximate Fast Foreground Colour
    Estimation", ICIP 2021): I = αF + (1-α)B is solved for F with F and B taken locally smooth,
    from box blurs weighted by α and 1-α, twice (a wide then a narrow radius, scaled with the
    image). Only pixels with 0 < α < 255 change; opaque and fully transparent ones keep their
    values. Measured in tests/test_background_compose.py on a real photo composited on a known
    background."""
    edge = (alpha > 0) & (alpha < 255)
    if not edge.any():
        return image
    ys, xs = np.nonzero(edge)
    height, width = alpha.shape
    scale = (height * width / 1e6) ** 0.5
    wide, narrow = (max(1, round(r * scale)) for r in DECONTAMINATE_RADII)
    # Only the box around the soft edge (plus the wide radius) takes part.
    y0, y1 = max(0, ys.min() - wide), min(height, ys.max() + wide + 1)
    x0, x1 = max(0, xs.min() - wide), min(width, xs.max() + wide + 1)
    rgb = image[y0:y1, x0:x1, :3].astype(np.float32) * np.float32(1 / 255)
    a = alpha[y0:y1, x0:x1].astype(np.float32) * np.float32(1 / 255)
    fg, bg = _blur_fusion(rgb, rgb, rgb, a, wide)
    fg, _ = _blur_fusion(rgb, fg, bg, a, narrow)
    out = image.copy()
    window = out[y0:y1, x0:x1]
    soft = edge[y0:y1, x0:x1]
    window[..., :3][soft] = (fg[soft] * 255 + 0.5).astype(np.uint8)
    return out
