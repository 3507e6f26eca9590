"""Camera shake: the image averaged with copies of itself displaced at random."""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from glitchzap.deadline import NO_DEADLINE, Deadline
from glitchzap.effects._shift import shift_add


class ShakeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    offset: float = Field(0.0, ge=0, le=500, description="Largest displacement of a copy, px")
    copies: int = Field(3, ge=1, le=16, description="Displaced copies blended with the image")

    def is_identity(self) -> bool:
        return self.offset == 0


def _shifted(buf: np.ndarray, dx: float, dy: float) -> np.ndarray:
    matrix = np.array([[1, 0, -dx], [0, 1, -dy]], np.float32)
    height, width = buf.shape[:2]
    return cv2.warpAffine(
        buf, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def shake(
    buf: np.ndarray,
    params: ShakeParams,
    rng: np.random.Generator,
    scale: float,
    deadline: Deadline = NO_DEADLINE,
) -> np.ndarray:
    """Mean of `buf` and `copies` copies shifted by up to `offset * scale` px on each axis."""
    offsets = rng.uniform(-params.offset, params.offset, size=(params.copies, 2))
    acc = buf.copy()
    for dx, dy in offsets * scale:
        deadline.check()  # one copy at a time: a 50 MP shake stops within one warp
        if scale == 1.0:
            # Whole-pixel shifts at full resolution: a slice add, no resampling.
            shift_add(acc, buf, round(dx), round(dy))
        else:
            np.add(acc, _shifted(buf, dx, dy), out=acc)
    acc *= np.float32(1.0 / (params.copies + 1))
    return acc
