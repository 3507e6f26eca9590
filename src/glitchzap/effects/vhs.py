"""VHS: tracking-noise bands torn sideways, colour bleeding along the lines, a soft picture.

In the order a worn tape plays: the tracking error tears a few bands sideways, the narrow
chroma bandwidth smears colour to the right, and the whole picture goes slightly soft.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from glitchzap.deadline import NO_DEADLINE, Deadline
from glitchzap.effects.blur import BlurParams, gaussian_blur

MAX_TRACKING_BANDS = 6  # tracking 1 = this many bands; drawn always, used up to the amount
_BAND_NOISE_POINTS = 24  # displacement knots per band, interpolated over its rows
_BAND_HEIGHT = (0.015, 0.08)  # a band's height, as a fraction of the image's height
_BAND_SHIFT = 0.06  # the largest tear at strength 1, as a fraction of the width
_BLEED_DELAY = 0.5  # the colour trails right by this many bleed radii (chroma delay)
_BAND_ROWS = 256  # rows bled at a time (chroma only moves along a row)
_DIRECT_MAX_SIGMA = 3.0  # above this, the chroma blur runs on a narrower copy
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # BT.601, as in YCrCb
_TO_LUMA = np.repeat(_LUMA[None, :], 3, axis=0)  # RGB -> (Y, Y, Y)
_TO_CHROMA = np.eye(3, dtype=np.float32) - _TO_LUMA  # RGB -> (R - Y, G - Y, B - Y)


class VhsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    strength: float = Field(0.0, ge=0, le=1, description="Overall amount of VHS wear")
    tracking: float = Field(0.5, ge=0, le=1, description="Amount of tracking-noise bands")
    bleed: float = Field(6.0, ge=0, le=100, description="Horizontal colour (chroma) bleed, px")
    blur: float = Field(1.0, ge=0, le=20, description="Softening of the picture, px")

    def is_identity(self) -> bool:
        nothing = self.tracking == 0 and self.bleed == 0 and self.blur == 0
        return self.strength == 0 or nothing


def _band_displacements(
    draws: np.ndarray, height: int, width: int, strength: float
) -> list[tuple[int, np.ndarray]]:
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


def _tracking(
    buf: np.ndarray, params: VhsParams, rng: np.random.Generator, deadline: Deadline
) -> None:
    draws = rng.random((MAX_TRACKING_BANDS, 3 + _BAND_NOISE_POINTS))
    used = round(params.tracking * MAX_TRACKING_BANDS)
    height, width = buf.shape[:2]
    for top, shifts in _band_displacements(draws[:used], height, width, params.strength):
        deadline.check()
        _tear(buf, top, shifts)


def _bleed_kernel(sigma: float, delay: float) -> np.ndarray:
    """A normalised horizontal Gaussian whose weight sits `delay` px to the left (colour
    moves right), for OpenCV's correlation with the anchor at the centre."""
    radius = math.ceil(3 * sigma + abs(delay))
    taps = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * ((taps + delay) / sigma) ** 2)
    return (kernel / kernel.sum()).astype(np.float32)[None, :]


def _blur_rows(image: np.ndarray, sigma: float) -> np.ndarray:
    """`image` blurred along x only (std `sigma` px, delayed rightwards); wide blurs run on a
    copy narrowed by 2**levels (area), as blur.py does in two dimensions."""
    delay = _BLEED_DELAY * sigma
    height, width = image.shape[:2]
    levels = 0
    if sigma > _DIRECT_MAX_SIGMA:
        levels = max(0, min(int(math.log2(sigma / 1.5)), int(math.log2(max(1, width // 8)))))
    if levels == 0:
        return cv2.filter2D(image, -1, _bleed_kernel(sigma, delay), borderType=cv2.BORDER_REFLECT)
    factor = 2**levels
    narrow_size = (max(1, round(width / factor)), height)
    narrow = cv2.resize(image, narrow_size, interpolation=cv2.INTER_AREA)
    added_var = (factor**2 - 1) / 12 + factor**2 / 6  # the box shrink and the linear stretch
    remaining = math.sqrt(max(sigma**2 - added_var, 0.0)) / factor
    kernel = _bleed_kernel(max(remaining, 0.05), delay / factor)
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


def _bleed_colour(band: np.ndarray, sigma: float) -> None:
    """`_bleed_band` for an opaque RGB band, with the chroma blurred on a narrower copy.

    Chroma (colour minus luma) is linear per pixel, so it commutes with the area shrink,
    the row blur and the linear stretch: the colour is shrunk once, turned to chroma at
    that width, bled, stretched back and added to the full-width luma, in place.
    """
    height, width = band.shape[:2]
    delay = _BLEED_DELAY * sigma
    levels = 0  # as `_blur_rows` narrows, so that this is its result up to rounding
    if sigma > _DIRECT_MAX_SIGMA:
        levels = max(0, min(int(math.log2(sigma / 1.5)), int(math.log2(max(1, width // 8)))))
    factor = 2**levels
    if factor > 1:
        narrow = cv2.resize(
            band, (max(1, round(width / factor)), height), interpolation=cv2.INTER_AREA
        )
        added_var = (factor**2 - 1) / 12 + factor**2 / 6  # the box shrink, the stretch
        remaining = math.sqrt(max(sigma**2 - added_var, 0.0)) / factor
        kernel = _bleed_kernel(max(remaining, 0.05), delay / factor)
    else:
        narrow, kernel = band, _bleed_kernel(sigma, delay)
    chroma = cv2.transform(narrow, _TO_CHROMA).reshape(narrow.shape)
    chroma = cv2.filter2D(chroma, -1, kernel, borderType=cv2.BORDER_REFLECT)
    if factor > 1:
        chroma = cv2.resize(chroma, (width, height), interpolation=cv2.INTER_LINEAR)
    luma = cv2.transform(band, _TO_LUMA, dst=band)  # (Y, Y, Y), written over the band
    if luma is not band:  # OpenCV had to give a new array (never for a contiguous band)
        band[...] = luma.reshape(band.shape)
    np.add(band, chroma.reshape(band.shape), out=band)


def _bleed(buf: np.ndarray, sigma: float, deadline: Deadline) -> None:
    """Chroma bleed band by band: rows blur independently, so scratch stays small."""
    bleed_band = _bleed_colour if buf.shape[2] == 3 else _bleed_band
    for top in range(0, buf.shape[0], _BAND_ROWS):
        deadline.check()
        bleed_band(buf[top : top + _BAND_ROWS], sigma)


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
    _tracking(buf, params, rng, deadline)
    bleed = params.bleed * params.strength * scale
    if bleed > 0.05:
        deadline.check()
        _bleed(buf, bleed, deadline)
    softening = params.blur * params.strength
    if softening * scale > 0.05:
        deadline.check()
        buf = _soften(buf, softening, rng, scale, deadline)
    return buf
