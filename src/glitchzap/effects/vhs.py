"""VHS: tracking-noise bands torn sideways, colour bleeding along the lines, a soft picture.

In the order a worn tape plays: the tracking error tears a few bands sideways, the narrow
chroma bandwidth smears colour to the right, and the whole picture goes slightly soft.

An opaque picture takes all three in two passes over bands of rows, dealt round worker
threads (OpenCV lets go of the GIL): first the tears and the split into full-width luma and
chroma (colour minus luma) at a fraction of the width, as a tape records it; then the luma
softened, the chroma bled and softened at that width, stretched back and added to it. Every
step is linear, so this is softening the bled picture, up to where the stretch and the
softening trade places. (A softening too wide for a band's margins follows as the blur
effect.) With alpha, the chroma is bled band by band weighted by alpha, then softened.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import wait

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from glitchzap.deadline import NO_DEADLINE, Deadline
from glitchzap.effects.blur import BlurParams, gaussian_blur
from glitchzap.threads import executor

MAX_TRACKING_BANDS = 6  # tracking 1 = this many bands; drawn always, used up to the amount
_BAND_NOISE_POINTS = 24  # displacement knots per band, interpolated over its rows
_BAND_HEIGHT = (0.015, 0.08)  # a band's height, as a fraction of the image's height
_BAND_SHIFT = 0.06  # the largest tear at strength 1, as a fraction of the width
_BLEED_DELAY = 0.5  # the colour trails right by this many bleed radii (chroma delay)
_BAND_ROWS = 256  # rows bled at a time on the general path (chroma only moves along a row)
_WEAR_ROWS = 64  # rows per step of the opaque passes: each step's scratch stays in cache
_DIRECT_MAX_SIGMA = 3.0  # a softening above this runs as the blur effect (on a pyramid)
_NARROW_SIGMA = 1.05  # the chroma narrows 2**k times while the bleed is >= 2**k times this
_MAX_WORKERS = 2  # bands dealt round this many threads (OpenCV lets go of the GIL)
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # BT.601, as in YCrCb
_TO_LUMA = np.repeat(_LUMA[None, :], 3, axis=0)  # RGB -> (Y, Y, Y)
_TO_CHROMA = np.eye(3, dtype=np.float32) - _TO_LUMA  # RGB -> (R - Y, G - Y, B - Y)
# G - Y is -(0.299 (R - Y) + 0.114 (B - Y)) / 0.587: two chroma planes carry all the colour.
_TO_RED_CHROMA, _TO_BLUE_CHROMA = _TO_CHROMA[0:1], _TO_CHROMA[2:3]
_FROM_LUMA_CHROMA = np.array(  # (Y, R - Y, B - Y) -> RGB
    [[1, 1, 0], [1, -_LUMA[0] / _LUMA[1], -_LUMA[2] / _LUMA[1]], [1, 0, 1]], np.float32
)


class VhsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    strength: float = Field(0.0, ge=0, le=1, description="Overall amount of VHS wear")
    tracking: float = Field(0.5, ge=0, le=1, description="Amount of tracking-noise bands")
    bleed: float = Field(6.0, ge=0, le=100, description="Horizontal colour (chroma) bleed, px")
    blur: float = Field(1.0, ge=0, le=20, description="Softening of the picture, px")

    def is_identity(self) -> bool:
        nothing = self.tracking == 0 and self.bleed == 0 and self.blur == 0
        return self.strength == 0 or nothing


Tears = list[tuple[int, np.ndarray]]  # (first row, per-row shift in px) per tracking band


def _band_displacements(draws: np.ndarray, height: int, width: int, strength: float) -> Tears:
    """(first row, per-row shift in px) for each tracking band, from fractions only."""
    bands = []
    for centre, size, amplitude, *noise in draws.tolist():
        band = _BAND_HEIGHT[0] + size * (_BAND_HEIGHT[1] - _BAND_HEIGHT[0])
        top = math.floor((centre - band / 2) * height)
        rows = np.arange(max(0, top), min(height, math.ceil((centre + band / 2) * height)))
        if rows.size == 0:
            continue
        along = np.clip(((rows + 0.5) / height - (centre - band / 2)) / band, 0, 1)
        knots = np.linspace(0, 1, len(noise))
        jagged = 0.6 + 0.4 * np.interp(along, knots, np.asarray(noise) * 2 - 1)
        envelope = np.sin(np.pi * along)  # torn most in the middle, fading to its edges
        sign = 1.0 if amplitude >= 0.5 else -1.0
        magnitude = (0.4 + 0.6 * abs(amplitude * 2 - 1)) * _BAND_SHIFT * width * strength
        bands.append((int(rows[0]), sign * magnitude * jagged * envelope))
    return bands


def _tear(buf: np.ndarray, top: int, shifts: np.ndarray) -> None:
    """Move rows `top..` of `buf` right by `shifts` px each (linear, edges repeated), in place:
    one cv2.remap of the band (OpenCV weighs the two neighbours in 1/32 px steps)."""
    width = buf.shape[1]
    band = buf[top : top + len(shifts)]
    map_x = np.arange(width, dtype=np.float32)[None, :] - shifts[:, None].astype(np.float32)
    map_y = np.broadcast_to(np.arange(len(shifts), dtype=np.float32)[:, None], map_x.shape)
    band[...] = cv2.remap(
        band,
        map_x,
        np.ascontiguousarray(map_y),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    ).reshape(band.shape)


def _tear_rows(buf: np.ndarray, tears: Tears, top: int, stop: int) -> None:
    """The tears that fall in rows top..stop, in place (each row moves on its own)."""
    for first, shifts in tears:
        start, end = max(top, first), min(stop, first + len(shifts))
        if start < end:
            _tear(buf, start, shifts[start - first : end - first])


def _tracking_tears(params: VhsParams, rng: np.random.Generator, height: int, width: int) -> Tears:
    """The tracking bands' tears: every band is drawn (the same draws whatever the amount), the
    first `tracking * MAX_TRACKING_BANDS` are used."""
    draws = rng.random((MAX_TRACKING_BANDS, 3 + _BAND_NOISE_POINTS))
    used = round(params.tracking * MAX_TRACKING_BANDS)
    return _band_displacements(draws[:used], height, width, params.strength)


def _narrowing(sigma: float, width: int) -> int:
    """How many times (a power of 2) a row blur of std `sigma` px may narrow the rows first:
    while the shrink and the stretch back leave most of the blur still to do (>= ~0.9 px of
    the narrow rows), and the rows keep at least 8 px."""
    if sigma < 2 * _NARROW_SIGMA:
        return 1
    levels = min(int(math.log2(sigma / _NARROW_SIGMA)), int(math.log2(max(1, width // 8))))
    return 2 ** max(0, levels)


def _narrow_width(width: int, factor: int) -> int:
    """The width of rows narrowed `factor` times."""
    return max(1, round(width / factor))


def _narrow(rows: np.ndarray, factor: int) -> np.ndarray:
    """`rows` narrowed `factor` (a power of 2) times by area: a width `factor` divides halves
    again and again as exact pair means (INTER_LINEAR: several times faster than INTER_AREA,
    which shrinks any other width in one step)."""
    height, width = rows.shape[:2]
    if width % factor:
        size = (_narrow_width(width, factor), height)
        return cv2.resize(rows, size, interpolation=cv2.INTER_AREA)
    while factor > 1:
        width, factor = width // 2, factor // 2
        rows = cv2.resize(rows, (width, height), interpolation=cv2.INTER_LINEAR)
    return rows


def _bleed_kernel(sigma: float, delay: float) -> np.ndarray:
    """A normalised horizontal Gaussian whose weight sits `delay` px to the left (colour
    moves right), for OpenCV's correlation with the anchor at the centre."""
    radius = math.ceil(3 * sigma + abs(delay))
    taps = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * ((taps + delay) / sigma) ** 2)
    return (kernel / kernel.sum()).astype(np.float32)[None, :]


def _narrow_kernel(sigma: float, delay: float, factor: int) -> np.ndarray:
    """The `_bleed_kernel` to run on rows narrowed `factor` times, so that shrink (a box),
    blur and stretch back (a tent) together blur by std `sigma` px, delayed `delay` px."""
    added_var = (factor**2 - 1) / 12 + factor**2 / 6 if factor > 1 else 0.0
    remaining = math.sqrt(max(sigma**2 - added_var, 0.0)) / factor
    return _bleed_kernel(max(remaining, 0.05), delay / factor)


def _blur_rows(image: np.ndarray, sigma: float) -> np.ndarray:
    """`image` blurred along x only (std `sigma` px, delayed rightwards); wide blurs run on a
    copy narrowed by `_narrowing` (area), as blur.py does in two dimensions."""
    height, width = image.shape[:2]
    factor = _narrowing(sigma, width)
    kernel = _narrow_kernel(sigma, _BLEED_DELAY * sigma, factor)
    if factor == 1:
        return cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT)
    # One INTER_AREA step, not `_narrow`'s halvings: the same box, no half-size copy.
    size = (_narrow_width(width, factor), height)
    narrow = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    narrow = cv2.filter2D(narrow, -1, kernel, borderType=cv2.BORDER_REFLECT)
    return cv2.resize(narrow, (width, height), interpolation=cv2.INTER_LINEAR)


def _bleed_band(band: np.ndarray, sigma: float) -> None:
    """Blur the chroma (YCrCb's Cr and Cb) of rows `band` along x, keeping the luma, in place.

    Cr and Cb are linear in (R - Y, B - Y), so blurring colour minus luma and adding the
    luma back is exactly that. With alpha (premultiplied) the chroma is averaged weighted
    by alpha, so transparent pixels lend no colour.
    """
    colour = band[..., :3]
    luma = colour @ _LUMA
    chroma = colour - luma[..., None]
    if band.shape[2] == 4:
        alpha = band[..., 3:4]
        spread = _blur_rows(np.dstack([chroma, alpha]), sigma)
        weighted, coverage = spread[..., :3], spread[..., 3:4]
        # (sum of alpha * chroma) / (sum of alpha), put back under this pixel's alpha.
        np.divide(weighted, coverage, out=weighted, where=coverage > 1e-3)
        weighted *= alpha
        np.copyto(weighted, chroma, where=coverage <= 1e-3)  # nothing visible around
        chroma = weighted
    else:
        chroma = _blur_rows(chroma, sigma)
    np.add(chroma, luma[..., None], out=colour)


def _bleed(buf: np.ndarray, sigma: float, deadline: Deadline) -> None:
    """Chroma bleed band by band: rows blur independently, so scratch stays small."""
    for top in range(0, buf.shape[0], _BAND_ROWS):
        deadline.check()
        _bleed_band(buf[top : top + _BAND_ROWS], sigma)


def _gaussian_kernel(sigma: float) -> np.ndarray:
    """A Gaussian of std `sigma` px as a column ([1] for none) whose last tap's outer edge
    reaches 3 sigma: blur.py's kernel less the taps beyond, each under 0.4% of the centre's
    (5 taps, not 7, at 0.7 px)."""
    if sigma <= 0:
        return np.ones((1, 1), np.float32)
    return cv2.getGaussianKernel(2 * math.ceil(3 * sigma - 0.5) + 1, sigma, cv2.CV_32F)


def _soften(
    buf: np.ndarray, radius: float, rng: np.random.Generator, scale: float, deadline: Deadline
) -> np.ndarray:
    """The blur effect's Gaussian (std `radius * scale` px), byte for byte: small ones through
    cv2.GaussianBlur, which gives sepFilter2D's result with the same kernel, only sooner."""
    sigma = radius * scale
    if sigma > _DIRECT_MAX_SIGMA:
        return gaussian_blur(buf, BlurParams(radius=radius), rng, scale, deadline)
    size = 2 * math.ceil(3 * sigma) + 1
    return cv2.GaussianBlur(buf, (size, size), sigma, borderType=cv2.BORDER_REFLECT)


def _in_bands(height: int, step: Callable[[int, int], None], deadline: Deadline) -> None:
    """`step(top, stop)` over every band of `_WEAR_ROWS` rows, dealt round the workers (a
    few tears land on few bands); bands are independent, so the split never changes the
    result."""
    tops = list(range(0, height, _WEAR_ROWS))
    workers = max(1, min(_MAX_WORKERS, os.cpu_count() or 1, len(tops) // 4))

    def run(group: list[int]) -> None:
        for top in group:
            deadline.check()
            step(top, min(top + _WEAR_ROWS, height))

    if workers == 1:
        run(tops)
        return
    futures = [executor("vhs", _MAX_WORKERS).submit(run, tops[i::workers]) for i in range(workers)]
    wait(futures)  # every worker is done with the buffer before an error goes up
    for future in futures:
        future.result()  # re-raises a worker's error (a passed deadline)


def _wear_opaque(
    buf: np.ndarray, tears: Tears, bleed: float, soft: float, deadline: Deadline
) -> None:
    """Contiguous RGB `buf` torn, chroma-bled (std `bleed` px) and softened (std `soft` px,
    at most _DIRECT_MAX_SIGMA), in place: the module docstring's two banded passes."""
    height, width = buf.shape[:2]
    # The chroma is softened along x with the bleed (variances add), along y on its own.
    factor = _narrowing(math.hypot(bleed, soft), width)
    row_kernel = _narrow_kernel(math.hypot(bleed, soft), _BLEED_DELAY * bleed, factor)
    column_kernel = _gaussian_kernel(soft)
    margin = len(column_kernel) // 2
    luma = np.empty((height, width), np.float32)
    chroma = np.empty((2, height, _narrow_width(width, factor)), np.float32)  # R - Y, B - Y

    def split(top: int, stop: int) -> None:
        _tear_rows(buf, tears, top, stop)
        rows = buf[top:stop]
        cv2.cvtColor(rows, cv2.COLOR_RGB2GRAY, dst=luma[top:stop])
        narrow = _narrow(rows, factor)
        cv2.transform(narrow, _TO_RED_CHROMA, dst=chroma[0, top:stop])
        cv2.transform(narrow, _TO_BLUE_CHROMA, dst=chroma[1, top:stop])

    def join(top: int, stop: int) -> None:
        # Softening down the columns takes `margin` rows either side (reflected at the
        # image's edges, as the blur effect does).
        first, last = max(0, top - margin), min(height, stop + margin)
        kept = slice(top - first, stop - first)
        planes = [luma[top:stop]]
        if margin:
            planes[0] = cv2.sepFilter2D(
                luma[first:last], -1, column_kernel, column_kernel, borderType=cv2.BORDER_REFLECT
            )[kept]
        for plane in chroma:
            bled = cv2.sepFilter2D(
                plane[first:last], -1, row_kernel, column_kernel, borderType=cv2.BORDER_REFLECT
            )[kept]
            if factor > 1:
                bled = cv2.resize(bled, (width, stop - top), interpolation=cv2.INTER_LINEAR)
            planes.append(bled)
        cv2.transform(cv2.merge(planes), _FROM_LUMA_CHROMA, dst=buf[top:stop])

    _in_bands(height, split, deadline)
    _in_bands(height, join, deadline)


def vhs(
    buf: np.ndarray,
    params: VhsParams,
    rng: np.random.Generator,
    scale: float,
    deadline: Deadline = NO_DEADLINE,
) -> np.ndarray:
    """Float32 `buf` worn like a VHS tape: bands torn sideways (fractions of the size, the
    same draws at any size), chroma bled `bleed * scale` px and softened `blur * scale` px,
    each scaled by `strength`."""
    height, width = buf.shape[:2]
    tears = _tracking_tears(params, rng, height, width)
    bleed = params.bleed * params.strength * scale
    softening = params.blur * params.strength
    soft = softening * scale if softening * scale > 0.05 else 0.0
    if bleed > 0.05 and buf.shape[2] == 3 and buf.flags.c_contiguous:
        # Opaque: the banded passes, with the softening unless it needs the blur's pyramid.
        banded_soft = soft if soft <= _DIRECT_MAX_SIGMA else 0.0
        _wear_opaque(buf, tears, bleed, banded_soft, deadline)
        tears, bleed = [], 0.0
        if banded_soft:
            soft = 0.0
    for first, shifts in tears:
        deadline.check()
        _tear(buf, first, shifts)
    if bleed > 0.05:
        deadline.check()
        _bleed(buf, bleed, deadline)
    if soft:
        deadline.check()
        buf = _soften(buf, softening, rng, scale, deadline)
    return buf
