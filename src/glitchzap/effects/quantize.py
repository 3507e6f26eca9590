"""Palette reduction: the colours mapped onto a few of their own, with optional dithering.

The palette comes from a median cut (deterministic: the same image gets the same palette;
Pillow's rule, compiled in `_quantize_numba`: the box holding the most colours is split at
its median along its longest, luminance-weighted side) over at most ~256 x 256 evenly
strided visible pixels, so a big export costs what a preview costs and hidden colour under
alpha 0 never takes a palette entry. "k-means" refines that palette with Lloyd iterations
whose nearest-colour step is Pillow's own (C) mapping. Every pixel is then mapped in a few
horizontal bands at once: with Floyd-Steinberg error diffusion by compiled loops (a nearest-
entry table of 64^3 colour cells, two rows at a time), each band first dithering a few rows
above it so no seam shows; with nothing, or after an ordered (Bayer) offset, by Pillow. Both
let go of the GIL.
"""

from __future__ import annotations

import math
from concurrent.futures import Future
from itertools import pairwise
from typing import Literal

import cv2
import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, field_validator

from glitchzap.deadline import NO_DEADLINE, Deadline
from glitchzap.effects.posterize import PATTERN_MIN_SCALE, bayer_offsets, dither_tile
from glitchzap.threads import executor

_SAMPLE_PIXELS = 256 * 256  # pixels the palette is chosen from, at most
SPREAD_FACTOR = 0.75  # ordered dither: share of the palette's spacing (see ordered_spread)
_KMEANS_ROUNDS = 8  # Lloyd iterations at most (they usually settle in 3-5)
_BAND_ROWS = 64  # rows per chunk for float <-> uint8 conversions
# Bands mapped in parallel threads: at most this many, of at least _MIN_BAND_ROWS rows each;
# a Floyd-Steinberg band first dithers _WARMUP_ROWS rows above it.
_BANDS = 4
_MIN_BAND_ROWS = 256
_WARMUP_ROWS = 16


class QuantizeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    colors: int = Field(0, ge=0, le=256, description="Palette size: 0 = off, else 2..256")
    dither: Literal["none", "floyd-steinberg", "ordered"] = Field(
        "floyd-steinberg", description="How in-between colours are rendered with the palette"
    )
    method: Literal["median-cut", "k-means"] = Field(
        "median-cut", description="Palette choice: median cut, or median cut refined by k-means"
    )

    @field_validator("colors")
    @classmethod
    def _not_one_colour(cls, colors: int) -> int:
        if colors == 1:
            raise ValueError("colors must be 0 (off) or 2..256: one colour is a blank image")
        return colors

    def is_identity(self) -> bool:
        return self.colors == 0


def _to_uint8(colour: np.ndarray, offsets: np.ndarray | None = None) -> np.ndarray:
    """Rounded, clipped uint8 copy of float (or uint8) colour (H x W x 3), plus a per-pixel
    offset."""
    rounded = np.add(colour, 0.5, dtype=np.float32)
    if offsets is not None:
        rounded += offsets[..., None]
    np.clip(rounded, 0, 255, out=rounded)
    return rounded.astype(np.uint8)


def _palette_image(palette: np.ndarray) -> Image.Image:
    image = Image.new("P", (1, 1))
    image.putpalette(palette.ravel().tolist())  # only these entries: no padding colours
    return image


def _refine_kmeans(sample: Image.Image, palette: np.ndarray) -> np.ndarray:
    """`palette` moved to the mean of the sample colours nearest to each entry, repeatedly."""
    colours = np.asarray(sample).reshape(-1, 3).astype(np.float64)
    for _ in range(_KMEANS_ROUNDS):
        labels = np.asarray(
            sample.quantize(palette=_palette_image(palette), dither=Image.Dither.NONE)
        ).ravel()
        counts = np.bincount(labels, minlength=len(palette))
        sums = np.stack(
            [np.bincount(labels, colours[:, c], minlength=len(palette)) for c in range(3)], 1
        )
        means = np.rint(sums / np.maximum(counts, 1)[:, None]).astype(np.uint8)
        moved = np.where(counts[:, None] > 0, means, palette)
        if np.array_equal(moved, palette):
            break
        palette = moved
    return palette


def choose_palette(buf: np.ndarray, colors: int, method: str) -> np.ndarray:
    """k x 3 uint8 palette (k <= colors) of the visible pixels of `buf`; empty if none."""
    height, width = buf.shape[:2]
    stride = max(1, math.ceil(math.sqrt(height * width / _SAMPLE_PIXELS)))
    strided = buf[::stride, ::stride]
    colour = _to_uint8(strided[..., :3])
    visible = colour.reshape(-1, 3) if buf.shape[2] == 3 else colour[strided[..., 3] > 0]
    if not len(visible):
        return np.zeros((0, 3), np.uint8)
    from glitchzap.effects import _quantize_numba

    colours = np.ascontiguousarray(visible)
    palette = _quantize_numba.median_cut(colours, colors)
    if method == "k-means":
        palette = _refine_kmeans(Image.fromarray(colours.reshape(1, -1, 3)), palette)
    return palette


def ordered_spread(palette: np.ndarray) -> float:
    """Range, in levels, of the ordered-dither offsets (added to R, G and B alike) for
    `palette`: 3/4 of the median distance from an entry to its nearest neighbour.

    A photo's palette clusters (a cat: browns), so a spread from the palette's own spacing
    keeps the dots between neighbouring entries; a uniform-grid guess (255 / k^(1/3)) jumps
    across the cluster. Measured on photos nobody tuned on (bench/quantize_dither.py: 20
    DAVIS frames, 854 x 480, at 4..64 colours), 3/4 makes the local tone (8 px average) err
    3.1 % less than no dither on average (median 1.3 %; from 2.9 % more to 20.7 % less): the
    best mean of 1/2 (2.6 %, never more than 0.1 % worse), 1 (2.7 %, up to 12.9 % worse) and
    3/2 (0.6 % worse). On astronaut, chelsea and coffee, where 3/4 was first chosen: 0.9 to
    22.5 % less.
    """
    if len(palette) < 2:
        return 0.0
    entries = palette.astype(np.float64)
    distances = np.sqrt(((entries[:, None] - entries[None]) ** 2).sum(axis=-1))
    np.fill_diagonal(distances, np.inf)
    return SPREAD_FACTOR * float(np.median(distances.min(axis=1)))


def map_to_palette(
    buf: np.ndarray,
    palette: np.ndarray,
    offsets: np.ndarray | None,
    dither: Image.Dither,
    deadline: Deadline = NO_DEADLINE,
) -> np.ndarray:
    """H x W uint8 palette index of every pixel of `buf`'s colour plus the tiled `offsets`."""
    height, width, channels = buf.shape
    image = Image.new("RGB", (width, height))  # filled band by band: no full uint8 copy
    for top in range(0, height, _BAND_ROWS):
        deadline.check()
        rows = slice(top, min(top + _BAND_ROWS, height))
        tile = None if offsets is None else dither_tile(offsets, rows.stop - top, width)
        colour = _to_uint8(buf[rows, :, :3], tile)
        if channels == 4:
            # Hidden pixels take a palette colour: none of their error diffuses to visible ones.
            colour[buf[rows, :, 3] <= 0] = palette[0]
        image.paste(Image.fromarray(colour), (0, top))
    mapped = image.quantize(palette=_palette_image(palette), dither=dither)
    del image
    return np.asarray(mapped)


def exact_on_uint8(params: QuantizeParams, scale: float) -> bool:
    """Whether `quantize` gives the float32 path's bytes on a uint8 buffer: always, except the
    ordered preview (a float mean of 16 mappings)."""
    return not (params.dither == "ordered" and scale < PATTERN_MIN_SCALE)


def _band_bounds(height: int) -> list[int]:
    """Row bounds of the bands mapped in parallel: a fixed count for a given height (the
    output never depends on the machine), each starting at a multiple of the Bayer tile."""
    count = max(1, min(_BANDS, height // _MIN_BAND_ROWS))
    return [height * i // count // 4 * 4 for i in range(count)] + [height]


def _band_colour(rows: np.ndarray, palette: np.ndarray, offsets: np.ndarray | None) -> np.ndarray:
    """Rounded uint8 RGB copy of `rows` plus the tiled `offsets` (`rows` start at a multiple
    of their size), converted _BAND_ROWS rows at a time (small float temporaries)."""
    height, width, channels = rows.shape
    colour = np.empty((height, width, 3), np.uint8)
    for first in range(0, height, _BAND_ROWS):
        last = min(first + _BAND_ROWS, height)
        source, part = rows[first:last], colour[first:last]
        if rows.dtype == np.uint8 and offsets is None:
            part[...] = source[..., :3]  # float path: x + 0.5, clipped, truncated = x
        else:
            tile = None if offsets is None else dither_tile(offsets, last - first, width)
            part[...] = _to_uint8(source[..., :3], tile)
        if channels == 4:
            # Hidden pixels take a palette colour: none of their error diffuses to visible ones.
            part[source[..., 3] <= 0] = palette[0]
    return colour


def _map_band(
    buf: np.ndarray, top: int, stop: int, palette: np.ndarray, offsets: np.ndarray | None
) -> None:
    """Rows top..stop of `buf`'s colour (plus the tiled `offsets`) replaced by their nearest
    `palette` entries, in place (Pillow's mapping, no error diffusion)."""
    colour = _band_colour(buf[top:stop], palette, offsets)
    image = Image.fromarray(colour)
    del colour
    mapped = image.quantize(palette=_palette_image(palette), dither=Image.Dither.NONE)
    del image
    indices = np.asarray(mapped)
    colours = np.zeros((256, 1, 3), np.uint8)  # index -> colour, for OpenCV's (C) lookup
    colours[: len(palette), 0] = palette
    rows = buf[top:stop]
    if rows.dtype == np.uint8 and rows.shape[2] == 3 and rows.flags.c_contiguous:
        cv2.applyColorMap(indices, colours, dst=rows)  # straight into the buffer
    else:
        rows[..., :3] = cv2.applyColorMap(indices, colours)


def _diffuse_band(
    buf: np.ndarray,
    above: np.ndarray,
    top: int,
    stop: int,
    palette: np.ndarray,
    table: np.ndarray,
) -> None:
    """Rows top..stop of `buf`'s colour Floyd-Steinberg dithered onto `palette`, in place.
    `above` (a copy of the rows just above: another band's, changed meanwhile) is dithered
    first and dropped: the error it carries down makes the band's first row dither like any
    other (no seam)."""
    from glitchzap.effects import _quantize_numba

    width = buf.shape[1]
    errors = np.zeros(width + 2, np.int64)  # packed errors carried down (none into the top)
    spare = np.empty_like(errors)
    warmup = _band_colour(above, palette, None)
    _quantize_numba.diffuse(warmup.reshape(-1), width, palette, table, errors, spare)
    rows = buf[top:stop]
    if buf.dtype == np.uint8 and buf.shape[2] == 3 and rows.flags.c_contiguous:
        _quantize_numba.diffuse(rows.reshape(-1), width, palette, table, errors, spare)
        return  # dithered in the buffer itself
    colour = _band_colour(rows, palette, None)
    _quantize_numba.diffuse(colour.reshape(-1), width, palette, table, errors, spare)
    rows[..., :3] = colour


def _submit_diffusion(
    buf: np.ndarray, palette: np.ndarray, bounds: list[int], deadline: Deadline
) -> list[Future[None]]:
    """The Floyd-Steinberg bands between `bounds`, started in the band workers."""
    from glitchzap.effects import _quantize_numba

    table = _quantize_numba.nearest_table(palette)
    deadline.check()
    # Every band's rows above are copied before any band starts: that band changes them.
    above = [buf[max(0, top - _WARMUP_ROWS) : top].copy() for top in bounds[:-1]]
    return [
        executor("quantize", _BANDS).submit(_diffuse_band, buf, rows, top, stop, palette, table)
        for rows, (top, stop) in zip(above, pairwise(bounds), strict=True)
    ]


def quantize(
    buf: np.ndarray,
    params: QuantizeParams,
    rng: np.random.Generator,
    scale: float,
    deadline: Deadline = NO_DEADLINE,
) -> np.ndarray:
    """`buf` (float32, or uint8 where `exact_on_uint8`) with its colour mapped onto a palette
    of at most `colors` of its own colours (or, ordered below PATTERN_MIN_SCALE, the dots'
    local mean), in place; alpha untouched."""
    palette = choose_palette(buf, params.colors, params.method)
    if not len(palette):
        return buf
    deadline.check()
    offsets = bayer_offsets() * np.float32(ordered_spread(palette))
    if params.dither == "ordered" and scale < PATTERN_MIN_SCALE:
        # A preview: the mean of the 16 mappings a 4 x 4 cell of the export shows.
        lookup = palette.astype(np.float32)
        mean = np.zeros((*buf.shape[:2], 3), np.float32)
        for offset in offsets.ravel():
            shifted = offset.reshape(1, 1)
            mean += lookup[map_to_palette(buf, palette, shifted, Image.Dither.NONE, deadline)]
        buf[..., :3] = mean * np.float32(1 / offsets.size)
        return buf
    bounds = _band_bounds(buf.shape[0])
    if params.dither == "floyd-steinberg":
        jobs = _submit_diffusion(buf, np.ascontiguousarray(palette), bounds, deadline)
    else:
        pattern = offsets if params.dither == "ordered" else None
        jobs = [
            executor("quantize", _BANDS).submit(_map_band, buf, top, stop, palette, pattern)
            for top, stop in pairwise(bounds)
        ]
    try:
        for job in jobs:
            deadline.check()
            job.result()
    finally:
        for job in jobs:
            job.cancel()
    return buf
