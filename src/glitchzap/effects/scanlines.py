"""Scan lines: dark lines every `period` px, with optional interlace jitter.

Lines are drawn as a per-row weight: the share of each row that a line covers. At full size
with whole-pixel sizes that share is exactly 0 or 1; in a preview lines become fractional and
darken their rows partly, so the preview's average darkening is the export's.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from glitchzap.deadline import NO_DEADLINE, Deadline
from glitchzap.effects._shift import round_to_uint8


class ScanlinesParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    darkness: float = Field(0.0, ge=0, le=1, description="How much a line darkens; 1 = black")
    period: float = Field(4.0, ge=2, le=200, description="One line every `period` px")
    thickness: float = Field(1.0, ge=1, le=100, description="Line thickness, px (< period)")
    jitter: float = Field(
        0.0, ge=0, le=100, description="Interlace jitter: every other line shifts up to this, px"
    )

    @model_validator(mode="after")
    def _thinner_than_period(self) -> ScanlinesParams:
        if self.thickness >= self.period:
            raise ValueError(
                f"thickness ({self.thickness:g} px) must be less than period "
                f"({self.period:g} px), or the lines cover the whole image"
            )
        return self

    def is_identity(self) -> bool:
        return self.darkness == 0


def line_coverage(height: int, period: float, thickness: float) -> np.ndarray:
    """Share (0..1) of each row [y, y + 1) covered by lines [k * period, k * period + thickness)."""

    def covered_before(x: np.ndarray) -> np.ndarray:
        return np.floor(x / period) * thickness + np.minimum(np.mod(x, period), thickness)

    edges = np.arange(height + 1, dtype=np.float64)
    return np.diff(covered_before(edges))


def _shift_right(block: np.ndarray, shift: float) -> None:
    """Move `block` (rows x cols x channels) `shift` px right in place: edges repeat, and a
    fractional shift mixes the two nearest whole ones linearly."""
    width = block.shape[1]
    whole = math.floor(shift)
    fraction = np.float32(shift - whole)
    xs = np.arange(width)
    left = block[:, np.clip(xs - whole, 0, width - 1)]
    if fraction == 0:
        block[...] = left
        return
    right = block[:, np.clip(xs - whole - 1, 0, width - 1)]
    block[...] = left + fraction * (right - left)


def _jitter_rows(buf: np.ndarray, shifts: np.ndarray, deadline: Deadline) -> None:
    """Move each run of rows that shares a shift by it (one run per jittered line)."""
    cuts = np.flatnonzero(np.diff(shifts)) + 1
    starts = np.concatenate(([0], cuts)).tolist()
    stops = np.concatenate((cuts, [len(shifts)])).tolist()
    for start, stop in zip(starts, stops, strict=True):
        if shifts[start] != 0:
            deadline.check()
            _shift_right(buf[start:stop], float(shifts[start]))


def _line_shifts(
    height: int, period: float, jitter: float, scale: float, rng: np.random.Generator
) -> np.ndarray:
    """Sideways shift (px) of each row: every other line (one `period` tall) by its own amount.

    Amounts are whole full-size pixels times `scale`, drawn line by line from a child generator
    (one draw from `rng` whatever the size), so a preview's line k moves like the export's.
    """
    child = np.random.default_rng(rng.integers(0, 2**63))
    lines = math.ceil(height / period) + 1
    amounts = np.rint((child.random(lines) * 2 - 1) * jitter) * scale
    amounts[::2] = 0  # even lines stay: only one interlaced field jitters
    line_of_row = np.floor((np.arange(height) + 0.5) / period).astype(np.int64)
    return np.asarray(amounts[line_of_row])


def draw_scanlines(
    buf: np.ndarray,
    params: ScanlinesParams,
    rng: np.random.Generator,
    scale: float,
    deadline: Deadline = NO_DEADLINE,
) -> np.ndarray:
    """Darken rows of float32 `buf` covered by lines (by `darkness`), colour channels only."""
    height = buf.shape[0]
    period, thickness = params.period * scale, params.thickness * scale
    if params.jitter > 0:
        _jitter_rows(buf, _line_shifts(height, period, params.jitter, scale, rng), deadline)
    deadline.check()
    weight = (1.0 - params.darkness * line_coverage(height, period, thickness)).astype(np.float32)
    if buf.dtype == np.uint8:  # the uint8 fast path: only the lines, rounded as the engine does
        levels = np.arange(256, dtype=np.float32)
        for value in np.unique(weight[weight < 1]):  # a few distinct weights: one table each
            rows = np.flatnonzero(weight == value)
            table = round_to_uint8((levels * value)[None, :, None])[0, :, 0]
            colour = np.ascontiguousarray(buf[rows, :, :3])
            buf[rows, :, :3] = cv2.LUT(colour, table)
        return buf
    colour = buf[..., :3]
    np.multiply(colour, weight[:, None, None], out=colour)
    return buf


def exact_on_uint8(params: ScanlinesParams, scale: float) -> bool:
    """Whole-pixel jitter (full size, or none) leaves one rounded multiply: exact on uint8."""
    return params.jitter == 0 or scale == 1.0
