"""Compiled loops for `edge_fill` (numba): the fill's 13-point operator, built pixel by pixel,
and the product and Gauss-Seidel sweeps that solve it.

Imported only when the `edges` inpainting runs (importing numba takes ~0.2 s); each kernel
compiles on its first call and is cached on disk after that (`cache=True`).

The operator lives in a row-per-unknown layout: `neighbours[i, k]` is the unknown at offset k
(`OFFSETS`) from unknown i, or -1 where that pixel is known or outside the image, and
`weights[i, k]` its coefficient. Known pixels' terms go to the right-hand side once.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# The operator's reach: the 3 x 3 of the anisotropic membrane and the 13-point thin plate.
OFFSETS = np.array(
    [(-2, 0), (-1, -1), (-1, 0), (-1, 1), (0, -2), (0, -1), (0, 0), (0, 1), (0, 2),
     (1, -1), (1, 0), (1, 1), (2, 0)],
    np.int64,
)  # fmt: skip
CENTER = 6  # the index of (0, 0) in OFFSETS
_NEAR = ((0, 1), (0, -1), (1, 0), (-1, 0))
# Below this share of the contrast, exp(-3.31488 / share^4) is under 1e-90: the cell is flat.
_FLAT = 0.35


@njit(cache=True, nogil=True)
def _degree(y: int, x: int, height: int, width: int) -> int:
    """How many of the pixel's 4 neighbours lie inside the image (the edge is a free one)."""
    return (y > 0) + (y < height - 1) + (x > 0) + (x < width - 1)


@njit(cache=True, nogil=True)
def diffusion(
    structure: np.ndarray, index: np.ndarray, contrast: float, tensor: np.ndarray
) -> None:
    """Each 2 x 2 cell's diffusion tensor (a, b, c) = [[a, b], [b, c]] into `tensor`
    ((H-1) x (W-1) x 3), from the structure tensor of its four pixels, for the cells that
    hold an unknown: 1 along the colours' edge, falling to 0 across one steeper than
    `contrast` (Weickert's diffusivity)."""
    height, width = index.shape
    for cy in range(height - 1):
        for cx in range(width - 1):
            if (
                index[cy, cx] < 0
                and index[cy, cx + 1] < 0
                and index[cy + 1, cx] < 0
                and index[cy + 1, cx + 1] < 0
            ):
                continue
            jxx = jxy = jyy = 0.0
            for dy in range(2):
                for dx in range(2):
                    jxx += structure[cy + dy, cx + dx, 0]
                    jxy += structure[cy + dy, cx + dx, 1]
                    jyy += structure[cy + dy, cx + dx, 2]
            jxx, jxy, jyy = jxx / 4, jxy / 4, jyy / 4
            spread = np.sqrt((jxx - jyy) ** 2 + 4 * jxy * jxy)
            ratio = (jxx + jyy + spread) / 2 / (contrast * contrast)  # the larger eigenvalue
            tensor[cy, cx, 0], tensor[cy, cx, 1], tensor[cy, cx, 2] = 1.0, 0.0, 1.0
            if ratio < _FLAT:
                continue
            vx, vy = 2 * jxy, jyy - jxx + spread  # its eigenvector: across the edge
            norm = np.sqrt(vx * vx + vy * vy)
            if norm < 1e-12:
                continue
            vx, vy = vx / norm, vy / norm
            drop = np.exp(-3.31488 / ratio**4)
            tensor[cy, cx, 0] = 1 - drop * vx * vx
            tensor[cy, cx, 1] = -drop * vx * vy
            tensor[cy, cx, 2] = 1 - drop * vy * vy


@njit(cache=True, nogil=True)
def build_operator(
    values: np.ndarray,
    index: np.ndarray,
    ys: np.ndarray,
    xs: np.ndarray,
    tensor: np.ndarray,
    floor: float,
    plate: float,
    neighbours: np.ndarray,
    weights: np.ndarray,
    rhs: np.ndarray,
) -> None:
    """Fill `neighbours`, `weights` (unknowns x 13) and `rhs` (unknowns x channels) for the
    energy sum over cells of grad(u)' D grad(u) + `floor` |grad u|^2 + `plate` (Lap u)^2.

    `values` (H x W x C) holds the known pixels; `index` (H x W) each unknown's row, -1 where
    known; `tensor` ((H-1) x (W-1) x 3) each 2 x 2 cell's D (`diffusion`). A cell's gradient
    is the mean of its two forward differences along each axis.
    """
    height, width = index.shape
    channels = values.shape[2]
    gx = np.array([-0.5, 0.5, -0.5, 0.5])  # d/dx over the corners (0,0), (0,1), (1,0), (1,1)
    gy = np.array([-0.5, -0.5, 0.5, 0.5])
    local = np.zeros((5, 5))
    for i in range(len(ys)):
        y, x = ys[i], xs[i]
        local[:] = 0.0
        for corner in range(4):  # the four cells that hold this pixel
            py, px = corner // 2, corner % 2
            cy, cx = y - py, x - px
            if cy < 0 or cx < 0 or cy >= height - 1 or cx >= width - 1:
                continue
            a, b, c = tensor[cy, cx, 0], tensor[cy, cx, 1], tensor[cy, cx, 2]
            for other in range(4):
                w = (
                    a * gx[corner] * gx[other]
                    + b * (gx[corner] * gy[other] + gy[corner] * gx[other])
                    + c * gy[corner] * gy[other]
                )
                local[other // 2 - py + 2, other % 2 - px + 2] += w
        degree = _degree(y, x, height, width)
        local[2, 2] += floor * degree
        for dy, dx in _NEAR:
            if 0 <= y + dy < height and 0 <= x + dx < width:
                local[2 + dy, 2 + dx] -= floor
        if plate != 0.0:  # (L L)[p, q] = sum over r of L[p, r] L[r, q]
            for r in range(5):
                ry, rx = (0, 0) if r == 4 else _NEAR[r]
                if not (0 <= y + ry < height and 0 <= x + rx < width):
                    continue
                lpr = float(degree) if r == 4 else -1.0
                local[2 + ry, 2 + rx] += plate * lpr * _degree(y + ry, x + rx, height, width)
                for dy, dx in _NEAR:
                    qy, qx = y + ry + dy, x + rx + dx
                    if 0 <= qy < height and 0 <= qx < width:
                        local[2 + ry + dy, 2 + rx + dx] -= plate * lpr
        for c in range(channels):
            rhs[i, c] = 0.0
        for k in range(len(OFFSETS)):
            qy, qx = y + OFFSETS[k, 0], x + OFFSETS[k, 1]
            w = local[OFFSETS[k, 0] + 2, OFFSETS[k, 1] + 2]
            neighbours[i, k] = -1
            weights[i, k] = 0.0
            if not (0 <= qy < height and 0 <= qx < width):
                continue
            j = index[qy, qx]
            if j >= 0:
                neighbours[i, k] = j
                weights[i, k] = w
            else:
                for c in range(channels):
                    rhs[i, c] -= w * values[qy, qx, c]


@njit(cache=True, nogil=True)
def multiply(neighbours: np.ndarray, weights: np.ndarray, x: np.ndarray, out: np.ndarray) -> None:
    """out = A x, A the operator (unknowns x channels)."""
    channels = x.shape[1]
    total = np.empty(channels)
    for i in range(neighbours.shape[0]):
        total[:] = 0.0
        for k in range(neighbours.shape[1]):
            j = neighbours[i, k]
            if j >= 0:
                w = weights[i, k]
                for c in range(channels):
                    total[c] += w * x[j, c]
        for c in range(channels):
            out[i, c] = total[c]


@njit(cache=True, nogil=True)
def gauss_seidel(
    neighbours: np.ndarray, weights: np.ndarray, rhs: np.ndarray, x: np.ndarray, forward: bool
) -> None:
    """One Gauss-Seidel sweep on A x = rhs in place, first row to last or last to first (the
    two in turn are a symmetric smoother)."""
    count = neighbours.shape[0]
    channels = x.shape[1]
    total = np.empty(channels)
    for step in range(count):
        i = step if forward else count - 1 - step
        for c in range(channels):
            total[c] = rhs[i, c]
        for k in range(neighbours.shape[1]):
            j = neighbours[i, k]
            if j >= 0 and k != CENTER:
                w = weights[i, k]
                for c in range(channels):
                    total[c] -= w * x[j, c]
        diagonal = weights[i, CENTER]
        for c in range(channels):
            x[i, c] = total[c] / diagonal
