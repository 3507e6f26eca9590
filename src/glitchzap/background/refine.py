"""Turning the model's low-resolution mask into a full-resolution one with clean edges.

The model sees 320 px (or 1024 px); a plain upscale of that mask blurs every edge over
dozens of pixels on a 12 MP photo. A colour guided filter (He et al., "Guided Image
Filtering") moves the mask's transitions onto the photo's own edges: its linear coefficients
are computed at a working resolution (at most `WORKING_PIXELS`), then upsampled and applied to
the full-resolution photo, as in the "fast guided filter", so the cost stays bounded while the
edges come from the full-resolution pixels. A final contrast gain narrows the transition that
the filter has placed (measured in tests/test_background_refine.py: several times closer to
the true edge than the same gain on a plain upscale).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

WORKING_PIXELS = 250_000  # coefficients are box-smoothed: ~2.5x the model's 320 px is plenty
EPSILON = 1e-4  # regularisation: the guide is RGB in [0, 1]; smaller follows weaker edges
EDGE_GAIN = 2.0  # contrast around 0.5 after filtering; 1 keeps the filter's soft ramp


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`mask` (float32 H×W in [0, 1]) resized to `size` = (height, width)."""
    height, width = size
    if mask.shape[:2] == (height, width):
        return mask
    shrinking = height * width < mask.shape[0] * mask.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    resized = cv2.resize(
        mask.astype(np.float32, copy=False), (width, height), interpolation=interpolation
    )
    return np.clip(resized, 0.0, 1.0)


def working_size(height: int, width: int, max_pixels: int = WORKING_PIXELS) -> tuple[int, int]:
    """(height, width) scaled down, keeping the aspect, to at most `max_pixels`."""
    scale = min(1.0, math.sqrt(max_pixels / float(height * width)))
    return max(1, round(height * scale)), max(1, round(width * scale))


def _box(x: np.ndarray, radius: int) -> np.ndarray:
    side = 2 * radius + 1
    return cv2.boxFilter(x, cv2.CV_32F, (side, side), borderType=cv2.BORDER_REFLECT)


def guided_coefficients(
    guide: np.ndarray, mask: np.ndarray, radius: int, epsilon: float = EPSILON
) -> tuple[list[np.ndarray], np.ndarray]:
    """Box-averaged coefficients ([A_r, A_g, A_b], B): sum(A_c * guide_c) + B is the result.

    `guide` is H×W×3 float32 in [0, 1]; the per-pixel 3×3 covariance systems are solved in
    closed form (cofactors), which is an order of magnitude faster than np.linalg.solve.
    """
    chans = [np.ascontiguousarray(guide[..., c]) for c in range(3)]
    mean_i = [_box(c, radius) for c in chans]
    mean_p = _box(mask, radius)
    cov = [_box(c * mask, radius) - m * mean_p for c, m in zip(chans, mean_i, strict=True)]

    def var(i: int, j: int) -> np.ndarray:
        return _box(chans[i] * chans[j], radius) - mean_i[i] * mean_i[j]

    rr, rg, rb = var(0, 0) + epsilon, var(0, 1), var(0, 2)
    gg, gb, bb = var(1, 1) + epsilon, var(1, 2), var(2, 2) + epsilon
    # Inverse of the symmetric matrix [[rr rg rb] [rg gg gb] [rb gb bb]] by cofactors.
    inv_rr, inv_rg, inv_rb = gg * bb - gb * gb, gb * rb - rg * bb, rg * gb - gg * rb
    inv_gg, inv_gb, inv_bb = rr * bb - rb * rb, rb * rg - rr * gb, rr * gg - rg * rg
    det = rr * inv_rr + rg * inv_rg + rb * inv_rb
    a_r = (inv_rr * cov[0] + inv_rg * cov[1] + inv_rb * cov[2]) / det
    a_g = (inv_rg * cov[0] + inv_gg * cov[1] + inv_gb * cov[2]) / det
    a_b = (inv_rb * cov[0] + inv_gb * cov[1] + inv_bb * cov[2]) / det
    b = mean_p - a_r * mean_i[0] - a_g * mean_i[1] - a_b * mean_i[2]
    return [_box(a, radius) for a in (a_r, a_g, a_b)], _box(b, radius)


def _refine(image: np.ndarray, low_res_mask: np.ndarray, scale: float) -> np.ndarray:
    """`scale` × the refined mask, float32, not yet clipped (see refine_mask)."""
    height, width = image.shape[:2]
    work_h, work_w = working_size(height, width)
    rgb = np.ascontiguousarray(image[..., :3])
    work = (
        rgb
        if (work_h, work_w) == (height, width)
        else cv2.resize(rgb, (work_w, work_h), interpolation=cv2.INTER_AREA)
    )
    mask = resize_mask(low_res_mask, (work_h, work_w))
    # The low-res mask is uncertain over about two of its own pixels; look that far.
    radius = max(2, round(2 * max(work_h, work_w) / max(low_res_mask.shape[:2])))
    guide = work.astype(np.float32) * np.float32(1 / 255)
    coef_a, coef_b = guided_coefficients(guide, mask, radius)
    # Fold the contrast gain, the output scale and the 1/255 of the guide into the
    # coefficients at working size, so full size costs one multiply-add per channel.
    gain = np.float32(EDGE_GAIN * scale)
    coef_b = coef_b * gain + np.float32((0.5 - 0.5 * EDGE_GAIN) * scale)
    refined = cv2.resize(coef_b, (width, height), interpolation=cv2.INTER_LINEAR)
    for plane, coef in zip(cv2.split(rgb), coef_a, strict=True):
        full = cv2.resize(coef * (gain / 255), (width, height), interpolation=cv2.INTER_LINEAR)
        refined += cv2.multiply(full, plane, dtype=cv2.CV_32F)
    return refined


def refine_mask(image: np.ndarray, low_res_mask: np.ndarray) -> np.ndarray:
    """The mask at the image's full size, its edges following the image's edges; float32."""
    return np.clip(_refine(image, low_res_mask, 1.0), 0.0, 1.0)


def refine_alpha(image: np.ndarray, low_res_mask: np.ndarray) -> np.ndarray:
    """`refine_mask` as uint8 alpha (0..255, rounded), without a float pass at full size."""
    refined = _refine(image, low_res_mask, 255.0)
    refined += np.float32(0.5)
    return np.clip(refined, 0, 255, out=refined).astype(np.uint8)
