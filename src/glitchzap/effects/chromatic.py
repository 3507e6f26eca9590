"""Chromatic aberration: red magnified and blue shrunk about a centre, like a cheap lens."""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from glitchzap.deadline import NO_DEADLINE, Deadline


class ChromaticParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    strength: float = Field(
        0.0, ge=0, le=0.2, description="Red scaled by 1 + strength, blue by 1 - strength"
    )
    center_x: float = Field(0.5, ge=0, le=1, description="Centre, fraction of the width")
    center_y: float = Field(0.5, ge=0, le=1, description="Centre, fraction of the height")

    def is_identity(self) -> bool:
        return self.strength == 0


def _zoom_plane(
    plane: np.ndarray, factor: float, cx: float, cy: float, dst: np.ndarray | None = None
) -> np.ndarray:
    """`plane` scaled by `factor` about (cx, cy) in pixel-index coordinates (into `dst`)."""
    height, width = plane.shape
    matrix = np.array([[factor, 0, (1 - factor) * cx], [0, factor, (1 - factor) * cy]])
    return cv2.warpAffine(
        plane,
        matrix,
        (width, height),
        dst=dst,
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def chromatic_aberration(
    buf: np.ndarray,
    params: ChromaticParams,
    rng: np.random.Generator,
    scale: float,
    deadline: Deadline = NO_DEADLINE,
) -> np.ndarray:
    """`buf` with red scaled by 1 + strength and blue by 1 - strength about the centre.

    Everything is relative to the image, so `scale` has nothing to change; alpha stays put.
    """
    height, width = buf.shape[:2]
    # Pixel i covers [i, i + 1): the centre of a fraction f of the size sits at f * size - 0.5.
    cx, cy = params.center_x * width - 0.5, params.center_y * height - 0.5
    # Two full-size planes, reused for both channels: no allocation per channel.
    plane = np.empty((height, width), buf.dtype)
    zoomed = np.empty_like(plane)
    in_place = buf.flags.c_contiguous  # OpenCV then reads and writes `buf` itself
    for channel, factor in ((0, 1 + params.strength), (2, 1 - params.strength)):
        deadline.check()  # one channel at a time
        if in_place:
            cv2.extractChannel(buf, channel, dst=plane)
        else:
            plane[...] = buf[..., channel]
        _zoom_plane(plane, factor, cx, cy, dst=zoomed)
        if in_place:
            cv2.insertChannel(zoomed, buf, channel)
        else:
            buf[..., channel] = zoomed
    return buf
