"""Sine wave displacement: rows (or columns) slid sideways along a sine."""

from __future__ import annotations

import math
from typing import Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from glitchzap.deadline import NO_DEADLINE, Deadline

_BAND = 256  # rows (columns) per step: bounds the scratch buffers, one step for previews
_CHUNK = 16384  # pixels along a line per remap: OpenCV's remap takes images under 32767 px a side


class WaveParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amplitude: float = Field(0.0, ge=0, le=500, description="Largest displacement, px")
    wavelength: float = Field(120.0, ge=2, le=10000, description="Length of one period, px")
    direction: Literal["horizontal", "vertical"] = Field(
        "horizontal", description="horizontal: rows slide sideways; vertical: columns slide"
    )
    phase: float = Field(0.0, ge=0, le=360, description="Phase of the sine at the top, degrees")

    def is_identity(self) -> bool:
        return self.amplitude == 0


def wave_offsets(count: int, params: WaveParams, scale: float) -> np.ndarray:
    """Displacement in px of each of `count` rows (columns) at `scale`, as float32.

    Row i of a preview sits at full-size row (i + 0.5) / scale - 0.5, so the preview shows
    the export's wave shrunk; at scale 1 row y moves by amplitude * sin(2 pi y / wavelength
    + phase).
    """
    full_rows = (np.arange(count) + 0.5) / scale - 0.5
    angle = 2 * math.pi * full_rows / params.wavelength + math.radians(params.phase)
    return (params.amplitude * scale * np.sin(angle)).astype(np.float32)


def _slide(band: np.ndarray, offsets: np.ndarray, axis: int) -> np.ndarray:
    """`band` with line i moved `offsets[i]` px along `axis` (1: rows slide sideways, 0:
    columns slide down), linear between pixels, mirrored at the edges."""
    length, count = band.shape[axis], band.shape[1 - axis]
    reach = int(np.abs(offsets).max()) + 2  # how far a pixel reads along its line
    lines = np.arange(count, dtype=np.float32)
    out = np.empty_like(band)
    for start in range(0, length, _CHUNK):
        stop = min(start + _CHUNK, length)
        # The window a chunk reads: past a true edge, remap's mirror is the image's mirror.
        lo, hi = max(0, start - reach), min(length, stop + reach)
        along = np.arange(start - lo, stop - lo, dtype=np.float32)
        if axis == 1:
            window, target = band[:, lo:hi], (slice(None), slice(start, stop))
            map_x = along[None, :] - offsets[:, None]
            map_y = np.broadcast_to(lines[:, None], map_x.shape)
        else:
            window, target = band[lo:hi], (slice(start, stop), slice(None))
            map_y = along[:, None] - offsets[None, :]
            map_x = np.broadcast_to(lines[None, :], map_y.shape)
        out[target] = cv2.remap(
            window,
            np.ascontiguousarray(map_x),
            np.ascontiguousarray(map_y),
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT,
        )
    return out


def wave(
    buf: np.ndarray,
    params: WaveParams,
    rng: np.random.Generator,
    scale: float,
    deadline: Deadline = NO_DEADLINE,
) -> np.ndarray:
    """`buf` with each row (column) moved by its sine offset, alpha along with the colour.

    A row only reads itself (a column itself), so bands of them are slid in place.
    """
    horizontal = params.direction == "horizontal"
    axis = 1 if horizontal else 0  # the axis pixels move along
    count = buf.shape[1 - axis]
    offsets = wave_offsets(count, params, scale)
    for start in range(0, count, _BAND):
        deadline.check()  # one band at a time
        lines = slice(start, min(start + _BAND, count))
        band = (lines,) if horizontal else (slice(None), lines)
        buf[band] = _slide(buf[band], offsets[lines], axis)
    return buf
