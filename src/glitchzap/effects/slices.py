"""Slice displacement (glitch-this's core look): random bands of rows shifted sideways.

Each band reads the image's own rows (glitch-this reads its untouched input too): where bands
overlap the later one wins, so every row is rewritten at most once, in place, from itself.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from glitchzap.deadline import NO_DEADLINE, Deadline

_DRAWS_PER_BAND = 4  # top, height, offset, channel offset: the same draws at any image size
_CHUNK_LINES = 256  # rows (columns) shifted at a time: each moves alone, so scratch stays small


class SlicesParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(0, ge=0, le=500, description="Number of displaced bands")
    max_offset: int = Field(60, ge=0, le=5000, description="Largest sideways shift of a band, px")
    band_height: int = Field(
        24, ge=1, le=5000, description="Mean band height, px (each 0.5..1.5 times it)"
    )
    direction: Literal["horizontal", "vertical"] = Field(
        "horizontal", description="horizontal: rows shift sideways; vertical: columns up/down"
    )
    channel_offset: int = Field(
        0, ge=0, le=1000, description="Extra opposite shift of red and blue per band, px"
    )
    wrap: bool = Field(True, description="Shifted content wraps around; false repeats the edge")

    def is_identity(self) -> bool:
        return self.count == 0 or (self.max_offset == 0 and self.channel_offset == 0)


def _shift_along_x(block: np.ndarray, shift: float, wrap: bool) -> None:
    """Move `block` (rows x cols x channels) `shift` px right along axis 1, in place.

    Whole-pixel shifts (every full-size render) are exact copies; a preview's fractional
    shift mixes the two nearest whole ones linearly.
    """
    width = block.shape[1]
    whole = math.floor(shift)
    fraction = np.float32(shift - whole)
    if fraction == 0:
        _whole_shift(block, whole, wrap)
        return
    xs = np.arange(width) - whole
    left = np.take(block, xs % width if wrap else np.clip(xs, 0, width - 1), axis=1)
    if fraction == 0:
        block[...] = left
        return
    xs -= 1
    right = np.take(block, xs % width if wrap else np.clip(xs, 0, width - 1), axis=1)
    np.subtract(right, left, out=right)
    right *= fraction
    np.add(left, right, out=block)


def _whole_shift(block: np.ndarray, shift: int, wrap: bool) -> None:
    """`block` moved `shift` whole px right along axis 1, in place, by slice copies."""
    width = block.shape[1]
    if wrap:
        shift %= width
        if shift:
            block[...] = np.concatenate((block[:, width - shift :], block[:, : width - shift]), 1)
        return
    shift = max(-width, min(width, shift))
    if shift > 0:
        block[:, shift:] = block[:, : width - shift].copy()
        block[:, :shift] = block[:, :1]
    elif shift < 0:
        block[:, : width + shift] = block[:, -shift:].copy()
        block[:, width + shift :] = block[:, -1:]


def _shift_band(block: np.ndarray, shift: float, colour_shift: float, wrap: bool) -> None:
    """Shift a band; with `colour_shift`, red goes that much further and blue that much less."""
    if colour_shift == 0:
        _shift_along_x(block, shift, wrap)
        return
    _shift_along_x(block[..., 0:1], shift + colour_shift, wrap)
    _shift_along_x(block[..., 2:3], shift - colour_shift, wrap)
    _shift_along_x(block[..., 1:2], shift, wrap)
    if block.shape[2] == 4:
        _shift_along_x(block[..., 3:4], shift, wrap)  # alpha follows the band, like green


def _band_rows(draws: np.ndarray, length: int, mean_height: float) -> tuple[np.ndarray, np.ndarray]:
    """(first, end) row of each band along an axis of `length` rows."""
    starts = draws[:, 0] * length
    heights = np.maximum(1.0, mean_height * (0.5 + draws[:, 1]))
    tops = np.minimum(length - 1, np.rint(starts)).astype(np.int64)
    ends = np.minimum(length, np.maximum(tops + 1, np.rint(starts + heights)))
    return tops, ends.astype(np.int64)


def _owner_runs(tops: np.ndarray, ends: np.ndarray, length: int) -> list[tuple[int, int, int]]:
    """(start, stop, band) runs of rows, each owned by the last band that covers it."""
    owner = np.full(length, -1, np.int64)
    for band, (top, end) in enumerate(zip(tops.tolist(), ends.tolist(), strict=True)):
        owner[top:end] = band
    cuts = np.flatnonzero(np.diff(owner)) + 1
    starts = np.concatenate(([0], cuts))
    stops = np.concatenate((cuts, [length]))
    return [
        (int(a), int(b), int(owner[a])) for a, b in zip(starts, stops, strict=True) if owner[a] >= 0
    ]


def displace_slices(
    buf: np.ndarray,
    params: SlicesParams,
    rng: np.random.Generator,
    scale: float,
    deadline: Deadline = NO_DEADLINE,
) -> np.ndarray:
    """Shift `count` random bands of float32 `buf` sideways by up to `max_offset * scale` px.

    Band tops are fractions of the height and offsets fractions of `max_offset` (4 draws per
    band whatever the size), so a preview shows the export's bands; vertical bands are columns.
    """
    draws = rng.random((params.count, _DRAWS_PER_BAND))
    view = buf if params.direction == "horizontal" else buf.transpose(1, 0, 2)
    length = view.shape[0]
    tops, ends = _band_rows(draws, length, params.band_height * scale)
    # Whole full-size pixels, times `scale`: a preview moves its bands by the same fraction.
    offsets = np.rint((draws[:, 2] * 2 - 1) * params.max_offset) * scale
    colour = np.rint((draws[:, 3] * 2 - 1) * params.channel_offset) * scale
    for start, stop, band in _owner_runs(tops, ends, length):
        for first in range(start, stop, _CHUNK_LINES):
            deadline.check()
            block = view[first : min(stop, first + _CHUNK_LINES)]
            _shift_band(block, float(offsets[band]), float(colour[band]), params.wrap)
    return buf


def exact_on_uint8(params: SlicesParams, scale: float) -> bool:
    """At full size bands move by whole pixels: the same bytes on uint8."""
    return scale == 1.0
