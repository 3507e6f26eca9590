"""Motion blur: the image smeared along a straight line."""

from __future__ import annotations

import math

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from glitchzap.deadline import NO_DEADLINE, Deadline
from glitchzap.effects._shift import shift_add

# OpenCV's filter2D switches to a (much slower) DFT once a float kernel's area reaches 130:
# long diagonal lines are cut into pieces that each stay under it.
_DIRECT_AREA = 121


class MotionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    length: float = Field(0.0, ge=0, le=1000, description="Length of the smear, px")
    angle: float = Field(0.0, ge=0, lt=360, description="Direction, degrees counter-clockwise")

    def is_identity(self) -> bool:
        return self.length == 0


def line_kernel(length: float, angle_degrees: float) -> np.ndarray:
    """A normalised, anti-aliased line of `length` px through the kernel's centre."""
    length = max(length, 1.0)
    theta = math.radians(angle_degrees)
    dx, dy = math.cos(theta), -math.sin(theta)  # image rows grow downwards
    half = (length - 1) / 2
    size = 2 * math.ceil(half) + 3
    centre = size // 2
    kernel = np.zeros((size, size), np.float32)
    for t in np.linspace(-half, half, max(2, math.ceil(length) * 2 + 1)):
        x, y = centre + t * dx, centre + t * dy
        x0, y0 = math.floor(x), math.floor(y)
        fx, fy = x - x0, y - y0
        kernel[y0, x0] += (1 - fx) * (1 - fy)
        kernel[y0, x0 + 1] += fx * (1 - fy)
        kernel[y0 + 1, x0] += (1 - fx) * fy
        kernel[y0 + 1, x0 + 1] += fx * fy
    kernel /= kernel.sum()
    return kernel


def _pieces(kernel: np.ndarray) -> list[tuple[np.ndarray, int, int]]:
    """(sub-kernel, column, row) pieces whose bounding boxes each stay under _DIRECT_AREA."""
    rows = np.flatnonzero(kernel.any(axis=1))
    cols = np.flatnonzero(kernel.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    trimmed = kernel[r0:r1, c0:c1]
    height, width = trimmed.shape
    if height * width <= _DIRECT_AREA:
        return [(trimmed, c0, r0)]
    horizontal = width >= height
    span = width if horizontal else height
    across = height if horizontal else width
    # A slice `step` long along the major axis covers about step*across/span of the minor one.
    step = max(1, int(math.sqrt(_DIRECT_AREA * span / max(across, 1))))
    while step > 1 and step * (math.ceil(step * across / span) + 2) > _DIRECT_AREA:
        step -= 1
    count = math.ceil(span / step)
    step = math.ceil(span / count)  # even pieces: no sliver of a last one
    pieces = []
    for start in range(0, span, step):
        part = trimmed[:, start : start + step] if horizontal else trimmed[start : start + step]
        live_rows = np.flatnonzero(part.any(axis=1))
        live_cols = np.flatnonzero(part.any(axis=0))
        if live_rows.size == 0:
            continue
        pr0, pc0 = live_rows[0], live_cols[0]
        sub = part[pr0 : live_rows[-1] + 1, pc0 : live_cols[-1] + 1]
        col = c0 + pc0 + (start if horizontal else 0)
        row = r0 + pr0 + (0 if horizontal else start)
        pieces.append((np.ascontiguousarray(sub), int(col), int(row)))
    return pieces


def motion_blur(
    buf: np.ndarray,
    params: MotionParams,
    rng: np.random.Generator,
    scale: float,
    deadline: Deadline = NO_DEADLINE,
) -> np.ndarray:
    """Smear float32 `buf` along `angle` over `length * scale` px."""
    kernel = line_kernel(params.length * scale, params.angle)
    centre = kernel.shape[0] // 2
    pieces = _pieces(kernel)
    if len(pieces) == 1:
        sub, col, row = pieces[0]
        anchor = (centre - col, centre - row)
        return cv2.filter2D(buf, -1, sub, anchor=anchor, borderType=cv2.BORDER_REPLICATE)
    # The piece holding the kernel's centre writes the accumulator directly (its anchor can
    # sit on the centre); the others are shifted into it.
    home = next(
        i
        for i, (sub, col, row) in enumerate(pieces)
        if 0 <= centre - col < sub.shape[1] and 0 <= centre - row < sub.shape[0]
    )
    sub, col, row = pieces[home]
    acc = cv2.filter2D(
        buf, -1, sub, anchor=(centre - col, centre - row), borderType=cv2.BORDER_REPLICATE
    )
    for i, (sub, col, row) in enumerate(pieces):
        deadline.check()  # one piece at a time: a long smear on 50 MP stops within a piece
        if i != home:
            part = cv2.filter2D(buf, -1, sub, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
            shift_add(acc, part, col - centre, row - centre)
    return acc
