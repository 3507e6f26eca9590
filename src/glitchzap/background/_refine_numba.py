"""The full-resolution step of the guided filter as one fused pass (numba).

refine.py computes the filter's linear coefficients at a working size (at most 0.25 MP); at full
size every pixel is `a_r*R + a_g*G + a_b*B + b` with the coefficients bilinearly upsampled. Done
with OpenCV that is four float32 planes resized to full size, three multiplies and adds, a clip
and a conversion: ~100 ms and ~200 MB of temporaries at 12 MP. Here each output row interpolates its
coefficient rows once and writes uint8 alpha directly, rows split over the cores: the same values
(OpenCV's INTER_LINEAR sampling, half-pixel centres; within one level of 255 of the OpenCV path,
tests/test_background_refine.py) for ~1/6 of the time and no temporaries.

The kernel compiles on first use and is cached on disk (`cache=True`; `make install` warms it).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, inline="always")
def _sample(position: float, source_size: int, target_size: int) -> tuple[int, int, float]:
    """INTER_LINEAR's source taps and weight for target index `position`."""
    scale = source_size / target_size
    x = (position + 0.5) * scale - 0.5
    if x < 0.0:
        x = 0.0
    left = int(x)
    if left >= source_size - 1:
        return source_size - 1, source_size - 1, 0.0
    return left, left + 1, x - left


@njit(cache=True, nogil=True, parallel=True, fastmath=True)
def apply_coefficients(
    rgb: np.ndarray,
    a_r: np.ndarray,
    a_g: np.ndarray,
    a_b: np.ndarray,
    b: np.ndarray,
) -> np.ndarray:
    """uint8 H×W: the coefficient planes (h×w float32) upsampled to `rgb`'s H×W, applied to
    its channels, +0.5, clipped to 0..255 (the planes already hold the output scale)."""
    height, width = rgb.shape[0], rgb.shape[1]
    small_h, small_w = b.shape
    out = np.empty((height, width), np.uint8)
    x0s = np.empty(width, np.int64)
    x1s = np.empty(width, np.int64)
    fxs = np.empty(width, np.float32)
    for x in range(width):
        x0s[x], x1s[x], fx = _sample(x, small_w, width)
        fxs[x] = fx
    for y in prange(height):
        y0, y1, fy = _sample(y, small_h, height)
        wy1 = np.float32(fy)
        wy0 = np.float32(1.0) - wy1
        # The four planes interpolated vertically once per row, then two taps per pixel.
        row = np.empty((4, small_w), np.float32)
        for i in range(small_w):
            row[0, i] = wy0 * a_r[y0, i] + wy1 * a_r[y1, i]
            row[1, i] = wy0 * a_g[y0, i] + wy1 * a_g[y1, i]
            row[2, i] = wy0 * a_b[y0, i] + wy1 * a_b[y1, i]
            row[3, i] = wy0 * b[y0, i] + wy1 * b[y1, i]
        for x in range(width):
            i0, i1 = x0s[x], x1s[x]
            wx1 = fxs[x]
            wx0 = np.float32(1.0) - wx1
            cr = wx0 * row[0, i0] + wx1 * row[0, i1]
            cg = wx0 * row[1, i0] + wx1 * row[1, i1]
            cb = wx0 * row[2, i0] + wx1 * row[2, i1]
            cc = wx0 * row[3, i0] + wx1 * row[3, i1]
            value = cr * rgb[y, x, 0] + cg * rgb[y, x, 1] + cb * rgb[y, x, 2] + cc + 0.5
            if value <= 0.0:
                out[y, x] = 0
            elif value >= 255.0:
                out[y, x] = 255
            else:
                out[y, x] = np.uint8(value)
    return out


@njit(cache=True, nogil=True, parallel=True, fastmath=True)
def solve_coefficients(
    means: np.ndarray, mean_p: np.ndarray, products: np.ndarray, epsilon: float
) -> tuple[np.ndarray, np.ndarray]:
    """The guided filter's per-pixel solve, fused: from the box means of the guide's channels
    (3×H×W), of the mask (H×W) and of the products (9×H×W: rr rg rb gg gb bb rp gp bp), the
    coefficients a (3×H×W) and b (H×W) of mask ≈ a·guide + b (3×3 systems by cofactors)."""
    _, height, width = means.shape
    a = np.empty((3, height, width), np.float32)
    b = np.empty((height, width), np.float32)
    eps = np.float32(epsilon)
    for y in prange(height):
        for x in range(width):
            mr, mg, mb, mp = means[0, y, x], means[1, y, x], means[2, y, x], mean_p[y, x]
            rr = products[0, y, x] - mr * mr + eps
            rg = products[1, y, x] - mr * mg
            rb = products[2, y, x] - mr * mb
            gg = products[3, y, x] - mg * mg + eps
            gb = products[4, y, x] - mg * mb
            bb = products[5, y, x] - mb * mb + eps
            cr = products[6, y, x] - mr * mp
            cg = products[7, y, x] - mg * mp
            cb = products[8, y, x] - mb * mp
            inv_rr, inv_rg, inv_rb = gg * bb - gb * gb, gb * rb - rg * bb, rg * gb - gg * rb
            inv_gg, inv_gb, inv_bb = rr * bb - rb * rb, rb * rg - rr * gb, rr * gg - rg * rg
            det = rr * inv_rr + rg * inv_rg + rb * inv_rb
            ar = (inv_rr * cr + inv_rg * cg + inv_rb * cb) / det
            ag = (inv_rg * cr + inv_gg * cg + inv_gb * cb) / det
            ab = (inv_rb * cr + inv_gb * cg + inv_bb * cb) / det
            a[0, y, x], a[1, y, x], a[2, y, x] = ar, ag, ab
            b[y, x] = mp - ar * mr - ag * mg - ab * mb
    return a, b
