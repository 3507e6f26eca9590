"""Gaussian blur; large radii run on a pyramid level so cost stays flat."""

from __future__ import annotations

import math

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from glitchzap.deadline import NO_DEADLINE, Deadline

_DIRECT_MAX_SIGMA = 3.0  # above this, blur a downscaled copy and upscale


class BlurParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    radius: float = Field(0.0, ge=0, le=250, description="Gaussian standard deviation, px")

    def is_identity(self) -> bool:
        return self.radius == 0


def _gaussian(buf: np.ndarray, sigma: float) -> np.ndarray:
    size = 2 * math.ceil(3 * sigma) + 1
    kernel = cv2.getGaussianKernel(size, sigma, cv2.CV_32F)
    return cv2.sepFilter2D(buf, -1, kernel, kernel, borderType=cv2.BORDER_REFLECT)


def gaussian_blur(
    buf: np.ndarray,
    params: BlurParams,
    rng: np.random.Generator,
    scale: float,
    deadline: Deadline = NO_DEADLINE,
) -> np.ndarray:
    """Blur float32 `buf` with std `radius * scale` px."""
    sigma = params.radius * scale
    if sigma <= _DIRECT_MAX_SIGMA:
        return _gaussian(buf, sigma)
    height, width = buf.shape[:2]
    # Blur a copy shrunk by 2**levels (area average, centre-aligned like the upscale), then
    # subtract the variance the shrink (box) and the bilinear upscale (tent) already add.
    levels = min(int(math.log2(sigma / 1.5)), int(math.log2(max(1, min(height, width) // 8))))
    if levels < 1:
        return _gaussian(buf, sigma)
    factor = 2**levels
    small_size = (max(1, round(width / factor)), max(1, round(height / factor)))
    small = cv2.resize(buf, small_size, interpolation=cv2.INTER_AREA)
    added_var = (factor**2 - 1) / 12 + factor**2 / 6
    remaining = math.sqrt(max(sigma**2 - added_var, 0.0)) / factor
    if remaining > 0.05:
        small = _gaussian(small, remaining)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
