"""Pixel sorting: runs of pixels whose key lies in an interval, sorted along lines.

The lines are rows, columns or digital lines at an angle. A tilted line is a sheared row:
pixel (x, y) lies on line round(y + x tan(angle)) at position x (or the transpose for
steep angles), so every pixel belongs to exactly one line and sorting only permutes pixels.
That exact permutation is why tilted lines are not sorted on a rotated copy of the image:
two bilinear rotations would soften every pixel, the ones outside the interval included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from glitchzap.deadline import NO_DEADLINE, Deadline

# Lines are picked in this many bands of equal height (fractions of the image), so a preview
# sorts the same bands as the export whatever their sizes; the draws never depend on size.
LINE_BANDS = 256
_BAND_ROWS = 256  # rows per chunk while computing keys: bounds the scratch buffers
_BLOCK_CELLS = 1 << 18  # line cells sorted at a time: bounds the sorting scratch
_LUMA = np.array([[0.299, 0.587, 0.114]], np.float32)  # Rec. 601 weights
_OUTSIDE = np.float32(-1.0)  # key of pixels that never join a run (transparent, padding)


class PixelSortParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: float = Field(
        0.0, ge=0, le=1, description="Share of the lines that get sorted, 0..1 (1 = every line)"
    )
    low: float = Field(0.25, ge=0, le=1, description="Lowest key that joins a run, 0..1")
    high: float = Field(0.8, ge=0, le=1, description="Highest key that joins a run, 0..1")
    key: Literal["brightness", "hue", "saturation"] = Field(
        "brightness", description="What runs are sorted by: luma, HSV hue or HSV saturation"
    )
    direction: Literal["horizontal", "vertical"] = Field(
        "horizontal", description="Sort along rows (left to right) or columns (top to bottom)"
    )
    angle: float = Field(
        0.0, ge=-90, le=90, description="Tilt of the sorting lines, degrees counter-clockwise"
    )
    reverse: bool = Field(False, description="Sort from the highest key to the lowest")

    @model_validator(mode="after")
    def _interval_is_ordered(self) -> PixelSortParams:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        return self

    def is_identity(self) -> bool:
        return self.amount == 0


def pixel_keys(buf: np.ndarray, key: str, deadline: Deadline = NO_DEADLINE) -> np.ndarray:
    """H x W float32 key of every pixel in 0..1 (-1 where alpha is 0), from its straight
    colour clipped to 0..255; `buf` is premultiplied when it has alpha."""
    height, width, channels = buf.shape
    keys = np.empty((height, width), np.float32)
    for top in range(0, height, _BAND_ROWS):
        deadline.check()
        rows = slice(top, min(top + _BAND_ROWS, height))
        colour = np.clip(buf[rows, :, :3], 0, 255)
        if key == "brightness":
            band = cv2.transform(colour, _LUMA).reshape(colour.shape[:2])
            if channels == 4:
                # Luma is linear: luma(colour / a) = luma(premultiplied colour) / a.
                np.divide(band, buf[rows, :, 3], out=band, where=buf[rows, :, 3] > 0)
            else:
                band *= np.float32(1 / 255)
            np.clip(band, 0, 1, out=band)
        else:
            # Hue and saturation do not change when a colour is scaled: no un-premultiply.
            colour *= np.float32(1 / 255)
            hsv = cv2.cvtColor(colour, cv2.COLOR_RGB2HSV)
            band = hsv[..., 0] * np.float32(1 / 360) if key == "hue" else hsv[..., 1]
        if channels == 4:
            band[buf[rows, :, 3] <= 0] = _OUTSIDE
        keys[rows] = band
    return keys


@dataclass(frozen=True)
class LineLayout:
    """Digital lines at an angle: line l holds, at position p, the pixel whose coordinate
    along the lines is `along[p]` and across them l - shift[p] (-1 cells: off the image)."""

    height: int
    width: int
    steep: bool  # positions are rows (y) and lines columns, rather than the other way round
    along: np.ndarray  # x (or y when steep) of every position, in sorting order
    shift: np.ndarray  # per position: line l meets it at y (or x) = l - shift
    count: int  # number of lines

    def cells(self, first: int, last: int) -> np.ndarray:
        """Flat pixel index of every cell of lines first..last-1 (lines x positions), -1
        where a line runs outside the image."""
        across = np.arange(first, last)[:, None] - self.shift[None, :]
        if self.steep:
            index = self.along[None, :] * self.width + across
            inside = (across >= 0) & (across < self.width)
        else:
            index = across * self.width + self.along[None, :]
            inside = (across >= 0) & (across < self.height)
        return np.where(inside, index, -1)


def line_layout(height: int, width: int, degrees: float) -> LineLayout | None:
    """The lines whose sorting direction points `degrees` counter-clockwise from +x, or None
    for plain rows sorted left to right.

    Pixel (x, y) lies on line round(y + x tan) at position x (mostly horizontal lines) or
    round(x + y cot) at position y (steep ones): each pixel is on exactly one line.
    """
    if degrees % 360 == 0:
        return None
    radians = math.radians(degrees)
    cos, sin = math.cos(radians), math.sin(radians)
    steep = abs(sin) > abs(cos)
    size, across = (height, width) if steep else (width, height)
    slope = cos / sin if steep else sin / cos
    shift = np.floor(np.arange(size) * slope + 0.5).astype(np.int64)
    shift -= shift.min()
    along = np.arange(size)
    backward = sin > 0 if steep else cos < 0  # sorting runs up the image, or right to left
    if backward:
        along, shift = along[::-1], shift[::-1]
    count = across + int(shift.max())
    return LineLayout(height, width, steep, along, shift, count)


def sorted_moves(
    keys: np.ndarray, selected: np.ndarray, params: PixelSortParams
) -> tuple[np.ndarray, np.ndarray]:
    """(destination cells, source cells) that sort every run of the lines x positions `keys`:
    maximal spans of in-interval keys on the `selected` lines, each ordered by its key."""
    in_run = (keys >= np.float32(params.low)) & (keys <= np.float32(params.high))
    in_run &= selected[:, None]
    starts = in_run.copy()
    starts[:, 1:] &= ~in_run[:, :-1]  # a run starts at an in-run cell after an outside one
    cells = np.flatnonzero(in_run)
    run_ids = np.cumsum(starts.ravel()[cells], dtype=np.int64)
    # Non-negative float32 keys order like their bit patterns: one int64 sort on
    # (run id, key) sorts every run at once; the ids rise along the lines, so no pixel
    # leaves its run (+ 0 turns a -0.0 key into +0.0).
    bits = (keys.ravel()[cells] + np.float32(0)).view(np.uint32)
    if params.reverse:
        bits = ~bits
    run_ids <<= 32
    run_ids |= bits
    order = np.argsort(run_ids, kind="stable")  # runs arrive in order: fast and stable
    return cells, cells[order]


def pixel_sort(
    buf: np.ndarray,
    params: PixelSortParams,
    rng: np.random.Generator,
    scale: float,
    deadline: Deadline = NO_DEADLINE,
) -> np.ndarray:
    """`buf` with the runs of in-interval pixels sorted by key along the chosen lines (a
    share `amount` of them, picked at random), in place; alpha moves with its pixel."""
    height, width, channels = buf.shape
    draws = rng.random(LINE_BANDS)  # the same draws for every size: previews match
    keys = pixel_keys(buf, params.key, deadline).ravel()
    base = -90.0 if params.direction == "vertical" else 0.0
    layout = line_layout(height, width, base + params.angle)
    count, length = (height, width) if layout is None else (layout.count, len(layout.along))
    bands = ((np.arange(count) + 0.5) * (LINE_BANDS / count)).astype(np.int64)
    selected = draws[bands] < params.amount
    pixels = buf.reshape(height * width, channels)
    # Runs never cross lines: blocks of lines sort independently, with block-sized scratch.
    step = max(1, _BLOCK_CELLS // length)
    for first in range(0, count, step):
        deadline.check()
        last = min(first + step, count)
        if not selected[first:last].any():
            continue
        if layout is None:
            dst, src = sorted_moves(
                keys[first * width : last * width].reshape(-1, width), selected[first:last], params
            )
            dst += first * width
            src += first * width
        else:
            cells = layout.cells(first, last)
            block_keys = np.where(cells >= 0, keys[cells], _OUTSIDE)  # -1 cells: no run
            dst, src = sorted_moves(block_keys, selected[first:last], params)
            dst, src = cells.ravel()[dst], cells.ravel()[src]
        pixels[dst] = pixels[src]  # the right side is gathered first: a safe permutation
    return buf
