"""Pixel sorting: runs of pixels whose key lies in an interval, sorted along lines.

The lines are rows, columns or digital lines at an angle. A tilted line is a sheared row:
pixel (x, y) lies on line round(y + x tan(angle)) at position x (or the transpose for
steep angles), so every pixel belongs to exactly one line and sorting only permutes pixels.
That exact permutation is why tilted lines are not sorted on a rotated copy of the image:
two bilinear rotations would soften every pixel, the ones outside the interval included.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import wait
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from glitchzap.deadline import NO_DEADLINE, Deadline
from glitchzap.threads import executor

# Lines are picked in this many bands of equal height (fractions of the image), so a preview
# sorts the same bands as the export whatever their sizes; the draws never depend on size.
LINE_BANDS = 256
_BAND_ROWS = 32  # rows per chunk while computing keys: cache-sized scratch buffers
_BLOCK_CELLS = 1 << 16  # line cells sorted at a time: bounds the scratch, cache-sized
_LUMA = np.array([[0.299, 0.587, 0.114]], np.float32)  # Rec. 601 weights
_OUTSIDE = np.float32(-1.0)  # key of pixels that never join a run (transparent, padding)
_MAX_WORKERS = 4  # threads sorting blocks of lines at once
_MIN_WORKER_BLOCKS = 4  # blocks a worker gets at least: small images stay on one thread
_KEY_BITS = 30  # bit patterns of float32 keys in 0..1
_KEY_TOP = 0x3F800000  # the bit pattern of 1.0: top - bits reverses the order


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
    colour clipped to 0..255; `buf` is premultiplied when it has alpha. A uint8 `buf` gets
    bit for bit the keys of its float32 copy."""
    height, width, channels = buf.shape
    keys = np.empty((height, width), np.float32)
    for top in range(0, height, _BAND_ROWS):
        deadline.check()
        rows = slice(top, min(top + _BAND_ROWS, height))
        if buf.dtype == np.uint8:  # the float path's exact keys: same float32 steps
            colour = buf[rows, :, :3].astype(np.float32)
        else:
            colour = np.clip(buf[rows, :, :3], 0, 255)
        band = keys[rows]  # a view: the key lands straight in place
        if key == "brightness":
            luma = cv2.transform(colour, _LUMA, dst=band)
            if luma is not band:  # cv2 made its own array after all
                band[...] = luma.reshape(band.shape)
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
            if key == "hue":
                np.multiply(hsv[..., 0], np.float32(1 / 360), out=band)
            else:
                band[...] = hsv[..., 1]
        if channels == 4:
            band[buf[rows, :, 3] <= 0] = _OUTSIDE
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
    maximal spans of in-interval keys on the `selected` lines, each ordered by its key (ties
    keep their order along the line)."""
    in_run = keys >= np.float32(params.low)
    in_run &= keys <= np.float32(params.high)
    if not selected.all():
        in_run &= selected[:, None]
    starts = in_run.copy()
    # A run starts at an in-run cell after an outside one (in & ~before == in > before).
    np.greater(in_run[:, 1:], in_run[:, :-1], out=starts[:, 1:])
    cells = np.flatnonzero(in_run)
    if not cells.size:
        return cells, cells
    run_ids = np.cumsum(starts.ravel()[cells], dtype=np.int64)
    # Non-negative float32 keys order like their bit patterns (+ 0 turns a -0.0 key into
    # +0.0), and keys in 0..1 fit in 30 bits. The ids rise along the lines, so sorting
    # (run id, key, cell) sorts every run at once and no pixel leaves its run; the cell
    # makes every value unique, so a plain value sort (much faster than a stable argsort)
    # gives the stable order, and the cell comes back out of the low bits.
    key = keys.ravel()[cells]
    key += np.float32(0)
    bits = key.view(np.uint32)
    cell_bits = int(keys.size - 1).bit_length()
    if int(run_ids[-1]).bit_length() + _KEY_BITS + cell_bits > 63:  # huge lines
        if params.reverse:
            bits = ~bits
        run_ids <<= 32
        run_ids |= bits
        return cells, cells[np.argsort(run_ids, kind="stable")]
    packed = bits.astype(np.int64)
    if params.reverse:
        np.subtract(_KEY_TOP, packed, out=packed)
    run_ids <<= _KEY_BITS + cell_bits
    packed <<= cell_bits
    packed |= run_ids
    packed |= cells
    packed.sort()
    packed &= (1 << cell_bits) - 1
    return cells, packed


def exact_on_uint8(params: PixelSortParams, scale: float) -> bool:
    """Sorting only moves pixels, and a uint8 buffer gets its float32 copy's keys: the same
    permutation, so the same bytes, at every size."""
    return True


def _pixel_view(buf: np.ndarray) -> np.ndarray:
    """The pixels of the contiguous `buf` as one flat array, one element (a 4- or 8-byte
    word where that fits) per pixel: much faster to gather than pixels x channels."""
    size = buf.shape[2] * buf.itemsize
    word = {4: np.uint32, 8: np.uint64}.get(size)
    return buf.reshape(-1).view(np.dtype((np.void, size)) if word is None else word)


def pixel_sort(
    buf: np.ndarray,
    params: PixelSortParams,
    rng: np.random.Generator,
    scale: float,
    deadline: Deadline = NO_DEADLINE,
) -> np.ndarray:
    """`buf` with the runs of in-interval pixels sorted by key along the chosen lines (a
    share `amount` of them, picked at random), in place; alpha moves with its pixel. A uint8
    `buf` gets exactly the bytes its float32 copy rounds to."""
    if not buf.flags.c_contiguous:
        buf[...] = _sort_contiguous(np.ascontiguousarray(buf), params, rng, deadline)
        return buf
    return _sort_contiguous(buf, params, rng, deadline)


def _sort_contiguous(
    buf: np.ndarray, params: PixelSortParams, rng: np.random.Generator, deadline: Deadline
) -> np.ndarray:
    height, width, channels = buf.shape
    draws = rng.random(LINE_BANDS)  # the same draws for every size: previews match
    base = -90.0 if params.direction == "vertical" else 0.0
    layout = line_layout(height, width, base + params.angle)
    # Rows take their keys block by block (cache-warm, in the workers); tilted lines gather
    # theirs from everywhere.
    keys = None if layout is None else pixel_keys(buf, params.key, deadline).ravel()
    count, length = (height, width) if layout is None else (layout.count, len(layout.along))
    bands = ((np.arange(count) + 0.5) * (LINE_BANDS / count)).astype(np.int64)
    selected = draws[bands] < params.amount
    # 3-byte pixels gather slowly: they move as 4-byte words, copied back afterwards (rows:
    # block by block, in cache; tilted lines: the whole image at once).
    words = buf.dtype == np.uint8 and channels == 3
    packed = cv2.cvtColor(buf, cv2.COLOR_RGB2RGBA) if words and layout is not None else None
    pixels = _pixel_view(buf if packed is None else packed)
    # Runs never cross lines: blocks of lines sort independently (on disjoint pixels), with
    # block-sized scratch, split between worker threads (NumPy sorts and gathers without the
    # GIL); the split never changes the result.
    step = max(1, _BLOCK_CELLS // length)
    firsts = [f for f in range(0, count, step) if selected[f : f + step].any()]

    def sort_blocks(group: list[int]) -> None:
        for first in group:
            deadline.check()
            last = min(first + step, count)
            if layout is None:
                lines = buf[first:last]
                dst, src = sorted_moves(pixel_keys(lines, params.key), selected[first:last], params)
                if not dst.size:
                    continue
                if words:
                    scratch = cv2.cvtColor(lines, cv2.COLOR_RGB2RGBA)
                    block = scratch.reshape(-1).view(np.uint32)
                    block[dst] = block[src]
                    _unpack_words(scratch, lines)
                    continue
                block = pixels[first * width : last * width]  # a view: block-local cells
            else:
                assert keys is not None
                cells = layout.cells(first, last)
                block_keys = np.where(cells >= 0, keys[cells], _OUTSIDE)  # -1 cells: no run
                dst, src = sorted_moves(block_keys, selected[first:last], params)
                block, dst, src = pixels, cells.ravel()[dst], cells.ravel()[src]
            block[dst] = block[src]  # the right side is gathered first: a safe permutation

    workers = min(len(firsts) // _MIN_WORKER_BLOCKS, os.cpu_count() or 1, _MAX_WORKERS)
    if workers > 1:
        groups = [
            firsts[len(firsts) * i // workers : len(firsts) * (i + 1) // workers]
            for i in range(workers)
        ]
        futures = [
            executor("pixel_sort", _MAX_WORKERS).submit(sort_blocks, group) for group in groups
        ]
        wait(futures)  # every worker is done with the buffer before an error goes up
        for future in futures:
            future.result()  # re-raises a worker's error (a passed deadline)
    else:
        sort_blocks(firsts)
    if packed is not None:
        _unpack_words(packed, buf)
    return buf


def _unpack_words(packed: np.ndarray, buf: np.ndarray) -> None:
    """RGBA `packed` back into the RGB `buf`, in place."""
    rgb = cv2.cvtColor(packed, cv2.COLOR_RGBA2RGB, dst=buf)
    if rgb is not buf:  # cv2 made its own array after all
        buf[...] = rgb
