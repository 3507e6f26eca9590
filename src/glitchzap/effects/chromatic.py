"""Chromatic aberration: red magnified and blue shrunk about a centre, like a cheap lens.

Each of the two channels is zoomed in place, band by band of rows: a band's source rows are
copied out of the buffer, warped and put back, so nothing bigger than a band is ever
allocated. The bands go in an order that never lets a band read a row another has already
changed (see `_band_order`); red and blue touch different channels, so they go side by side,
one worker thread each (OpenCV lets go of the GIL).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import wait

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from glitchzap.deadline import NO_DEADLINE, Deadline
from glitchzap.threads import executor

_BAND_ROWS = 64  # output rows zoomed at a time: a band's scratch stays in cache
_PARALLEL_MIN_ROWS = 256  # below this, one thread zooms both channels


class ChromaticParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    strength: float = Field(
        0.0, ge=0, le=0.2, description="Red scaled by 1 + strength, blue by 1 - strength"
    )
    center_x: float = Field(0.5, ge=0, le=1, description="Centre, fraction of the width")
    center_y: float = Field(0.5, ge=0, le=1, description="Centre, fraction of the height")

    def is_identity(self) -> bool:
        return self.strength == 0


def _band_order(height: int, factor: float, cy: float) -> list[tuple[int, int]]:
    """(top, stop) of every band, in an order in which zooming `factor` times about row `cy`
    in place never reads a row already zoomed (with its one spare row each side, read only
    with weight 0). Zooming in, a row reads rows nearer the centre: the bands go from both
    edges inwards, the few rows about the centre (which read only themselves) last. Zooming
    out, a row reads rows farther out: the bands go outwards from the centre."""
    if factor > 1:
        lo = min(max(0, math.floor(cy) - 1), height)
        hi = max(lo, min(height, math.floor(cy) + 3))
        down = [(top, min(top + _BAND_ROWS, lo)) for top in range(0, lo, _BAND_ROWS)]
        up = [(max(stop - _BAND_ROWS, hi), stop) for stop in range(height, hi, -_BAND_ROWS)]
        return down + up + ([(lo, hi)] if hi > lo else [])
    middle = min(max(0, math.floor(cy) + 1), height)
    up = [(max(stop - _BAND_ROWS, 0), stop) for stop in range(middle, 0, -_BAND_ROWS)]
    down = [(top, min(top + _BAND_ROWS, height)) for top in range(middle, height, _BAND_ROWS)]
    return up + down


def _zoom_band(
    buf: np.ndarray, channel: int, factor: float, cx: float, cy: float, top: int, stop: int
) -> None:
    """Rows top..stop of `buf`'s `channel` scaled by `factor` about (cx, cy) in pixel-index
    coordinates, in place: output pixel (x, y) reads the channel (bilinear, edges repeated) at
    (cx, cy) + ((x, y) - (cx, cy)) / factor."""
    height, width = buf.shape[:2]
    ends = (cy + (top - cy) / factor, cy + (stop - 1 - cy) / factor)
    first = min(max(0, math.floor(min(ends)) - 1), height - 1)
    last = max(first + 1, min(height, math.floor(max(ends)) + 3))
    in_place = buf.flags.c_contiguous  # OpenCV then reads and writes `buf` itself
    if in_place:
        source = cv2.extractChannel(buf[first:last], channel)
    else:
        source = np.ascontiguousarray(buf[first:last, :, channel])
    inverse = np.array(
        [[1 / factor, 0, cx - cx / factor], [0, 1 / factor, cy + (top - cy) / factor - first]]
    )
    zoomed = cv2.warpAffine(
        source,
        inverse,
        (width, stop - top),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    if in_place:
        cv2.insertChannel(zoomed, buf[top:stop], channel)
    else:
        buf[top:stop, :, channel] = zoomed


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

    def zoom(channel: int, factor: float) -> None:
        for top, stop in _band_order(height, factor, cy):
            deadline.check()
            _zoom_band(buf, channel, factor, cx, cy, top, stop)

    channels = ((0, 1 + params.strength), (2, 1 - params.strength))
    if height < _PARALLEL_MIN_ROWS or (os.cpu_count() or 1) < 2:
        for channel, factor in channels:
            zoom(channel, factor)
        return buf
    jobs = [executor("chromatic", 2).submit(zoom, channel, factor) for channel, factor in channels]
    wait(jobs)  # both workers are done with the buffer before an error goes up
    for job in jobs:
        job.result()  # re-raises a worker's error (a passed deadline)
    return buf
