"""JPEG corruption: the image re-encoded as a JPEG whose compressed scan data is damaged.

The colour is encoded with Pillow (baseline, default 4:2:0 subsampling) with a restart marker
every few rows of 16 px blocks, so the scan falls into about `_BANDS` independent bands. A
seeded set of bytes inside the scan is overwritten; each damaged byte desynchronises the
Huffman decoder, and the damage (garbage blocks, a colour cast from the broken DC predictor,
blocks shifted along the row) runs on to the end of its band, where the next restart marker
resynchronises it: the blocky colour smears of broken files. With `blocks` on, each damaged
spot also gets a run of 8 x 8 blocks overlaid with wrong DCT coefficients (cosine patterns and
a colour cast), as corrupted coefficients look.

Safety: no 0xFF is ever written and no byte after an existing 0xFF is touched (that byte is
the 0x00 that stuffs a data 0xFF, or a marker code), so every marker survives and libjpeg only
ever meets bad entropy-coded data: it decodes it with warnings, and a band whose data runs out
at its restart marker gets zero coefficients (the flat smear), never a file that ends early.
Nothing here sets `ImageFile.LOAD_TRUNCATED_IMAGES` (io.py needs it False, process-wide, to
refuse truncated uploads): a decode that still fails is retried with half the damaged bytes,
then falls back to the clean re-encode. The result is always a full-size image.

Previews: 8 x 8 blocks are 8 px at any scale, so a preview corrupts its buffer upsampled by
1 / scale (at most `_MAX_UPSAMPLE`) and shrinks the result back. Damaged spots are drawn as
fractions of the image (a row, then a place along it: the byte at that share of the row's
data), `_MAX_HITS` draws whatever the size, so the preview damages the same bands from about
the same place; the garbage itself depends on the exact bits hit, so its colours differ
between the preview and the export.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from glitchzap.deadline import NO_DEADLINE, Deadline
from glitchzap.io import DECODE_ERRORS

_MAX_HITS = 48  # damaged bytes (and block runs) at amount 1, whatever the image size
_BANDS = 32  # restart intervals the scan is split into: a hit's damage ends with its band
_MAX_UPSAMPLE = 4.0  # a preview is corrupted at most 4x enlarged (and never above full size)
_TRIES = 4  # decodes with 1, 1/2, 1/4, 1/8 of the damaged bytes before the clean re-encode
_BLOCK = 8  # JPEG's DCT block, px
_MCU = 16  # rows of a 4:2:0 JPEG's minimum coded unit, px
_PATTERN_LEVELS = 70.0  # peak of a wrong AC coefficient's cosine pattern, 0..255 levels
_CAST_LEVELS = 45.0  # largest colour cast of a wrong DC coefficient, levels
# The AC coefficients a low-quality JPEG keeps (both frequencies 0..3, not DC), in the
# row-major index of an 8 x 8 block: the ones a corrupted block shows.
_LOW_FREQUENCIES = np.array([v * 8 + u for v in range(4) for u in range(4) if v or u])
_RESTART = re.compile(rb"\xff[\xd0-\xd7]")  # RST0-7 markers inside the scan data
_SOS, _EOI = 0xDA, b"\xff\xd9"


class JpegParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: float = Field(
        0.0, ge=0, le=1, description="How broken: damaged spots in the scan, 1 = 48 of them"
    )
    quality: int = Field(35, ge=1, le=95, description="JPEG quality of the re-encode, 1..95")
    blocks: bool = Field(True, description="Damaged spots also show wrong DCT blocks")

    def is_identity(self) -> bool:
        return self.amount == 0


@dataclass(frozen=True)
class _Draws:
    """Every random value the effect uses, drawn up front in a fixed number."""

    y: np.ndarray  # (_MAX_HITS,) where a hit lands, as fractions of the height
    x: np.ndarray  # (_MAX_HITS,) ... and of the width
    value: np.ndarray  # (_MAX_HITS,) the byte written, 0..254 (never 0xFF)
    run: np.ndarray  # (_MAX_HITS,) length of a block run, as a fraction of the width
    rows: np.ndarray  # (_MAX_HITS,) block rows in a run, 1 or 2
    pattern: np.ndarray  # (_MAX_HITS, 8) wrong AC coefficient of each block (cycling), 0..63
    level: np.ndarray  # (_MAX_HITS, 8) signed strength of each block's pattern, -1..1
    cast: np.ndarray  # (_MAX_HITS, 8, 3) signed colour cast of each block (wrong DC), -1..1


def _draw(rng: np.random.Generator) -> _Draws:
    return _Draws(
        y=rng.random(_MAX_HITS),
        x=rng.random(_MAX_HITS),
        value=rng.integers(0, 255, _MAX_HITS),
        run=rng.uniform(0.03, 0.3, _MAX_HITS),
        rows=rng.integers(1, 3, _MAX_HITS),
        pattern=_LOW_FREQUENCIES[rng.integers(0, len(_LOW_FREQUENCIES), (_MAX_HITS, 8))],
        level=rng.uniform(-1, 1, (_MAX_HITS, 8)),
        cast=rng.uniform(-1, 1, (_MAX_HITS, 8, 3)),
    )


def _encode(rgb: np.ndarray, quality: int) -> tuple[bytes, int]:
    """`rgb` as a baseline JPEG (4:2:0, Pillow's default) with a restart marker every few
    16 px block rows: the bytes and the block rows per restart interval."""
    # The effect's own round trip through a broken file, not an upload or a download: io.py
    # (which refuses damaged JPEGs by design) is not the place for it.
    rows_per_interval = max(1, round(-(-rgb.shape[0] // _MCU) / _BANDS))
    out = io.BytesIO()
    # Image.fromarray's copy, without first zero-filling the image every byte of is written.
    image = Image.new("RGB", (rgb.shape[1], rgb.shape[0]), None)
    image.frombytes(np.ascontiguousarray(rgb))
    image.save(
        out,
        "JPEG",
        quality=quality,
        subsampling="4:2:0",
        optimize=False,
        progressive=False,
        restart_marker_rows=rows_per_interval,
    )
    return out.getvalue(), rows_per_interval


def _scan_intervals(data: bytes) -> list[tuple[int, int]]:
    """[start, stop) byte ranges of the restart intervals of the JPEG's (only) scan."""
    pos = 2  # after SOI
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")  # the segment's length
        if marker == _SOS:
            break
    end = data.rfind(_EOI)
    intervals, start = [], pos
    for restart in _RESTART.finditer(data, pos, end):
        intervals.append((start, restart.start()))
        start = restart.end()
    intervals.append((start, end))
    return intervals


def _damage(data: bytes, height: int, rows_per_interval: int, draws: _Draws, hits: int) -> bytes:
    """`data` with the first `hits` drawn spots overwritten, each in the restart interval that
    holds its row, at the share of the interval's bytes its place takes; markers and stuffing
    untouched."""
    intervals = _scan_intervals(data)
    mcu_rows = (draws.y[:hits] * height // _MCU).astype(int)
    index = np.minimum(mcu_rows // rows_per_interval, len(intervals) - 1)
    rows_in = np.minimum(rows_per_interval, -(-height // _MCU) - index * rows_per_interval)
    share = ((mcu_rows - index * rows_per_interval) + draws.x[:hits]) / rows_in
    starts = np.array([a for a, _ in intervals])[index]
    lengths = np.array([b - a for a, b in intervals])[index]
    positions = starts + np.minimum((share * lengths).astype(int), lengths - 1)
    damaged = bytearray(data)
    view = np.frombuffer(damaged, np.uint8)
    usable = lengths > 0
    positions = positions[usable]
    safe = (view[positions] != 0xFF) & (view[positions - 1] != 0xFF)
    view[positions[safe]] = draws.value[:hits][usable][safe]
    return bytes(damaged)


def _decode(data: bytes, size: tuple[int, int]) -> np.ndarray | None:
    """RGB pixels of `data`, or None when it cannot be decoded to a full `size` image."""
    try:
        with Image.open(io.BytesIO(data), formats=("JPEG",)) as img:
            img.load()
            if img.size != size or img.mode != "RGB":
                return None
            return np.asarray(img)
    except DECODE_ERRORS:
        return None


def _decode_damaged(
    clean: bytes,
    rows_per_interval: int,
    size: tuple[int, int],
    hits: int,
    draws: _Draws,
    deadline: Deadline,
) -> np.ndarray | None:
    """Pixels of `clean` with `hits` bytes damaged; with half as many while a decode fails,
    then the clean re-encode; None only when even that does not decode."""
    for _ in range(_TRIES):
        deadline.check()
        decoded = _decode(_damage(clean, size[1], rows_per_interval, draws, hits), size)
        if decoded is not None:
            return decoded
        if hits == 1:
            break
        hits //= 2
    deadline.check()
    return _decode(clean, size)


def _dct_basis() -> np.ndarray:
    """(64, 8, 8) cosine patterns of the DCT coefficients in row-major (v, u) order."""
    k = (2 * np.arange(_BLOCK) + 1) * np.pi / (2 * _BLOCK)
    cos = np.cos(np.outer(np.arange(_BLOCK), k))  # [frequency, position]
    return np.einsum("vy,ux->vuyx", cos, cos).reshape(64, _BLOCK, _BLOCK).astype(np.float32)


_BASIS = _dct_basis()


def _block_strips(
    rgb_shape: tuple[int, ...], draws: _Draws, hits: int
) -> Iterator[tuple[int, int, np.ndarray]]:
    """(y, x, strip) of every wrong-coefficient 8-row strip, in the order they are added."""
    height, width = rgb_shape[:2]
    columns, block_rows = width // _BLOCK, height // _BLOCK
    if columns == 0 or block_rows == 0:
        return
    for i in range(hits):
        top = min(int(draws.y[i] * block_rows), block_rows - 1)
        left = min(int(draws.x[i] * columns), columns - 1)
        count = max(1, min(round(draws.run[i] * columns), columns - left))
        for row in range(min(int(draws.rows[i]), block_rows - top)):
            cycle = (np.arange(count) + row) % draws.pattern.shape[1]
            levels = draws.level[i, cycle] * _PATTERN_LEVELS
            casts = draws.cast[i, cycle] * _CAST_LEVELS  # (count, 3)
            # (count, 8, 8, 3) blocks -> one 8-row strip, blocks side by side.
            blocks = (_BASIS[draws.pattern[i, cycle]] * levels[:, None, None])[..., None]
            blocks = blocks + casts[:, None, None, :]
            strip = blocks.transpose(1, 0, 2, 3).reshape(_BLOCK, count * _BLOCK, 3)
            yield (top + row) * _BLOCK, left * _BLOCK, strip.astype(np.float32)


def _add_blocks(rgb: np.ndarray, draws: _Draws, hits: int) -> None:
    """Overlay wrong-coefficient 8 x 8 blocks on float `rgb` in place, one run per hit."""
    for y, x, strip in _block_strips(rgb.shape, draws, hits):
        rgb[y : y + _BLOCK, x : x + strip.shape[1]] += strip


def _add_blocks_uint8(rgb: np.ndarray, draws: _Draws, hits: int) -> None:
    """`_add_blocks` on uint8 `rgb`, in place, with the float path's bytes: each touched 8-row
    band is summed in float32 in the same order and rounded once, as the pipeline rounds."""
    bands: dict[int, np.ndarray] = {}
    for y, x, strip in _block_strips(rgb.shape, draws, hits):
        band = bands.get(y)
        if band is None:
            band = bands[y] = rgb[y : y + _BLOCK].astype(np.float32)
        band[:, x : x + strip.shape[1]] += strip
    for y, band in bands.items():
        rgb[y : y + _BLOCK] = _to_uint8(band)


def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    # Saturating, rounding conversion in one pass, as the pipeline's own.
    rgb = np.ascontiguousarray(rgb)
    return cv2.add(rgb, np.zeros(4, np.float64), dtype=cv2.CV_8U).reshape(rgb.shape)


def corrupt_jpeg(
    buf: np.ndarray,
    params: JpegParams,
    rng: np.random.Generator,
    scale: float,
    deadline: Deadline = NO_DEADLINE,
) -> np.ndarray:
    """`buf` re-encoded as a JPEG at `quality` with `amount` of its scan damaged, in place
    (colour only: alpha untouched, colour under alpha 0 never encoded)."""
    draws = _draw(rng)
    hits = max(1, round(params.amount * _MAX_HITS))
    height, width = buf.shape[:2]
    exact = buf.dtype == np.uint8  # the pipeline's uint8 fast path: same bytes, no float trip
    if not exact:
        rgb = _to_uint8(buf[..., :3])
    elif buf.shape[2] == 3 and buf.flags.c_contiguous:
        rgb = buf  # only read (encoded) before `buf` is overwritten
    else:
        rgb = np.ascontiguousarray(buf[..., :3])
    if buf.shape[2] == 4:
        rgb[buf[..., 3] <= 0] = 0  # hidden colour must not smear into visible pixels
    # A preview is corrupted at (nearly) the export's size, so 8 px blocks keep their share.
    factor = min(1.0 / scale, _MAX_UPSAMPLE) if 0 < scale < 1 else 1.0
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    if size != (width, height):
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC)
    deadline.check()
    clean, rows_per_interval = _encode(rgb, params.quality)
    del rgb  # the peak is the decode: keep only the bytes
    decoded = _decode_damaged(clean, rows_per_interval, size, hits, draws, deadline)
    if decoded is None:  # not even the clean re-encode decodes: leave the colour as it was
        return buf
    if size == (width, height):
        buf[..., :3] = decoded
        del decoded
        if params.blocks:
            if exact:
                _add_blocks_uint8(buf[..., :3], draws, hits)
            else:
                _add_blocks(buf[..., :3], draws, hits)
        return buf
    work = decoded.astype(np.float32)
    if params.blocks:
        _add_blocks(work, draws, hits)
    shrunk = cv2.resize(work, (width, height), interpolation=cv2.INTER_AREA)
    # On uint8, the pipeline's own rounding of the float result.
    buf[..., :3] = _to_uint8(shrunk) if exact else shrunk
    return buf


def exact_on_uint8(params: JpegParams, scale: float) -> bool:
    """Always: the effect rounds its input to uint8 first, and on a uint8 buffer it rounds what
    it adds (blocks, the preview's shrink) exactly as the pipeline would round the float."""
    return True
