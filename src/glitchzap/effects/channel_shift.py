"""RGB split: the red, green and blue channels each displaced by their own offset."""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from glitchzap.deadline import NO_DEADLINE, Deadline

_LIMIT = 1000.0  # largest offset on either axis, px


class ChannelShiftParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    red_x: float = Field(0.0, ge=-_LIMIT, le=_LIMIT, description="Red shift, px (+ = right)")
    red_y: float = Field(0.0, ge=-_LIMIT, le=_LIMIT, description="Red shift, px (+ = down)")
    green_x: float = Field(0.0, ge=-_LIMIT, le=_LIMIT, description="Green shift, px (+ = right)")
    green_y: float = Field(0.0, ge=-_LIMIT, le=_LIMIT, description="Green shift, px (+ = down)")
    blue_x: float = Field(0.0, ge=-_LIMIT, le=_LIMIT, description="Blue shift, px (+ = right)")
    blue_y: float = Field(0.0, ge=-_LIMIT, le=_LIMIT, description="Blue shift, px (+ = down)")
    wrap: bool = Field(False, description="Wrap around the edges instead of repeating them")

    def is_identity(self) -> bool:
        return not any(self.offsets())

    def offsets(self) -> tuple[float, float, float, float, float, float]:
        return (self.red_x, self.red_y, self.green_x, self.green_y, self.blue_x, self.blue_y)


def _fit(offset: float, size: int, wrap: bool) -> float:
    """The same displacement kept within one image size (past it, wrap or clamp repeats)."""
    if wrap:
        return offset % size
    return max(-size, min(size, offset))


def _shift_plane(plane: np.ndarray, dx: float, dy: float, wrap: bool) -> np.ndarray:
    """`plane` moved by (dx, dy) px: out[y, x] = plane[y - dy, x - dx]."""
    height, width = plane.shape
    dx, dy = _fit(dx, width, wrap), _fit(dy, height, wrap)
    # Whole-pixel offsets copy pixels exactly; fractional ones (previews) interpolate.
    whole = float(dx).is_integer() and float(dy).is_integer()
    return cv2.warpAffine(
        plane,
        np.array([[1, 0, dx], [0, 1, dy]], np.float64),
        (width, height),
        flags=cv2.INTER_NEAREST if whole else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_WRAP if wrap else cv2.BORDER_REPLICATE,
    )


def shift_channels(
    buf: np.ndarray,
    params: ChannelShiftParams,
    rng: np.random.Generator,
    scale: float,
    deadline: Deadline = NO_DEADLINE,
) -> np.ndarray:
    """`buf` with each colour channel moved by its offset times `scale` px; alpha stays put."""
    offsets = params.offsets()
    for channel in range(3):
        dx, dy = offsets[2 * channel] * scale, offsets[2 * channel + 1] * scale
        if dx == 0 and dy == 0:
            continue
        deadline.check()  # one channel at a time
        plane = np.ascontiguousarray(buf[..., channel])
        buf[..., channel] = _shift_plane(plane, dx, dy, params.wrap)
    return buf


def exact_on_uint8(params: ChannelShiftParams, scale: float) -> bool:
    """Whole-pixel offsets copy pixels (nearest neighbour): the same bytes on uint8."""
    return all(float(offset * scale).is_integer() for offset in params.offsets())
