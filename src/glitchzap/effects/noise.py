"""Gaussian grain, colour or monochrome."""

from __future__ import annotations

import functools

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from glitchzap.deadline import NO_DEADLINE, Deadline

# Standard deviation, in 0..255 levels, of the noise at amount 1.
FULL_SCALE_STD = 100.0
_BAND_ROWS = 512  # rows per chunk: bounds the scratch buffer, one pass for previews


class NoiseParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: float = Field(0.0, ge=0, le=1, description="Noise strength; 1 = std of 100 levels")
    monochrome: bool = Field(False, description="Same grain on every channel (film-like)")

    def is_identity(self) -> bool:
        return self.amount == 0


@functools.cache
def _gaussian_table() -> np.ndarray:
    """256 equiprobable quantiles of N(0, 1): a uniform byte maps to a Gaussian value."""
    from scipy.special import ndtri  # here, not at import: `glitchzap --help` stays quick

    return ndtri((np.arange(256) + 0.5) / 256).astype(np.float32)


def add_noise(
    buf: np.ndarray,
    params: NoiseParams,
    rng: np.random.Generator,
    scale: float,
    deadline: Deadline = NO_DEADLINE,
) -> np.ndarray:
    """Add zero-mean Gaussian noise to the colour channels of float32 `buf`, in place.

    The std shrinks with `scale` (a preview at scale s shows the export's grain averaged
    over 1/s pixels), so a preview looks like the export downscaled to the preview size.
    """
    std = params.amount * FULL_SCALE_STD * min(1.0, scale)
    table = _gaussian_table() * np.float32(std)
    channels = min(buf.shape[2], 3)
    cv2.setRNGSeed(int(rng.integers(0, 2**31 - 1)))
    height, width = buf.shape[:2]
    grain_channels = 1 if params.monochrome else channels
    # A 2-D single-channel buffer: cv2.randu's scalar bounds would only cover channel 0.
    raw = np.empty((min(_BAND_ROWS, height), width * grain_channels), np.uint8)
    for top in range(0, height, _BAND_ROWS):
        deadline.check()
        rows = min(_BAND_ROWS, height - top)
        band_raw = raw[:rows]
        cv2.randu(band_raw, 0, 256)
        grain = cv2.LUT(band_raw, table).reshape(rows, width, grain_channels)
        target = buf[top : top + rows, :, :channels]
        np.add(target, grain, out=target)
    return buf
