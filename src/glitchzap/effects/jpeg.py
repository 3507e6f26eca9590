"""JPEG corruption: the image re-encoded as a JPEG whose compressed scan data is damaged.

The colour is encoded (baseline, 4:2:0 subsampling; OpenCV's libjpeg-turbo, which writes the
bytes Pillow would) with a restart marker every few rows of 16 px blocks, so the scan falls
into about `_BANDS` independent bands. A seeded set of bytes inside the scan is overwritten;
each damaged byte desynchronises the Huffman decoder, and the damage (garbage blocks, a colour
cast from the broken DC predictor, blocks shifted along the row) runs on to the end of its
band, where the next restart marker resynchronises it: the blocky colour smears of broken
files. With `blocks` on, each damaged spot also gets a run of 8 x 8 blocks overlaid with wrong
DCT coefficients (cosine patterns and a colour cast), as corrupted coefficients look.

Since no damage outlives its band, the image is encoded as `_PARTS` JPEGs of whole bands,
damaged and decoded side by side in threads (libjpeg lets go of the GIL): the single file's
glitch, bar the chroma upsampling of the row at a part's edge, which repeats its own chroma
instead of reading the next part's.

Safety: no 0xFF is ever written and no byte after an existing 0xFF is touched (that byte is
the 0x00 that stuffs a data 0xFF, or a marker code), so every marker survives and libjpeg only
ever meets bad entropy-coded data: it decodes it with warnings, and a band whose data runs out
at its restart marker gets zero coefficients (the flat smear), never a file that ends early.
Nothing here sets `ImageFile.LOAD_TRUNCATED_IMAGES` (io.py needs it False, process-wide, to
refuse truncated uploads): a part whose decode still fails is retried with half the damaged
bytes, then falls back to its clean re-encode (and a part too large for JPEG, over 65500 px,
stays as it was). Decoding is Pillow's, which keeps libjpeg's warnings quiet (OpenCV prints
them). The result is always a full-size image.

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
from itertools import pairwise

import cv2
import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from glitchzap.deadline import NO_DEADLINE, Deadline
from glitchzap.io import DECODE_ERRORS
from glitchzap.threads import executor

_MAX_HITS = 48  # damaged bytes (and block runs) at amount 1, whatever the image size
_BANDS = 32  # restart intervals the scan is split into: a hit's damage ends with its band
_PARTS = 8  # JPEGs the image is encoded as (whole restart intervals each), in threads
_MAX_SIDE = 65500  # px: libjpeg's limit; a larger part is left as it was
_MAX_INTERVAL = 65535  # MCUs: the largest restart interval a JPEG can declare
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


def _rows_per_interval(height: int) -> int:
    """16 px block rows per restart interval: about _BANDS intervals down the image."""
    return max(1, round(-(-height // _MCU) / _BANDS))


def _part_bounds(height: int, rows_per_interval: int) -> list[int]:
    """Row bounds of the JPEGs the image is encoded as: _PARTS runs of whole restart
    intervals (fewer when there are fewer intervals), a fixed split for a given height."""
    interval_rows = rows_per_interval * _MCU
    intervals = -(-height // interval_rows)
    parts = min(_PARTS, intervals)
    return [intervals * p // parts * interval_rows for p in range(parts)] + [height]


def _encode(bgr: np.ndarray, quality: int, rows_per_interval: int) -> bytes | None:
    """`bgr` as a baseline JPEG (4:2:0) with a restart marker every `rows_per_interval` 16 px
    block rows, or None if it is too large for JPEG."""
    # The effect's own round trip through a broken file, not an upload or a download: io.py
    # (which refuses damaged JPEGs by design) is not the place for it. OpenCV writes the bytes
    # Pillow would, straight from the array (libjpeg-turbo in both).
    if max(bgr.shape[:2]) > _MAX_SIDE:
        return None
    mcus_per_row = -(-bgr.shape[1] // _MCU)
    params = [
        cv2.IMWRITE_JPEG_QUALITY, quality,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
        cv2.IMWRITE_JPEG_RST_INTERVAL, min(mcus_per_row * rows_per_interval, _MAX_INTERVAL),
    ]  # fmt: skip
    encoded, data = cv2.imencode(".jpg", bgr, params)
    return data.tobytes() if encoded else None


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


@dataclass(frozen=True)
class _Hits:
    """The damaged spots that land in one part, in draw order."""

    draw: np.ndarray  # index of each spot's draw (the first n draws are the n-hit damage)
    interval: np.ndarray  # restart interval it lands in, counted within the part
    share: np.ndarray  # ... and the share of that interval's bytes before it, 0..1
    value: np.ndarray  # the byte written, 0..254


def _hits_by_part(
    bounds: list[int], rows_per_interval: int, draws: _Draws, hits: int
) -> list[_Hits]:
    """The first `hits` drawn spots, each in the restart interval that holds its row at the
    share of the interval its place takes, split by the part they land in."""
    height = bounds[-1]
    mcu_rows = -(-height // _MCU)
    row = (draws.y[:hits] * height // _MCU).astype(int)
    interval = np.minimum(row // rows_per_interval, -(-mcu_rows // rows_per_interval) - 1)
    rows_in = np.minimum(rows_per_interval, mcu_rows - interval * rows_per_interval)
    share = ((row - interval * rows_per_interval) + draws.x[:hits]) / rows_in
    firsts = [top // (rows_per_interval * _MCU) for top in bounds]
    parts = []
    for first, last in pairwise(firsts):
        mine = np.flatnonzero((interval >= first) & (interval < last))
        parts.append(_Hits(mine, interval[mine] - first, share[mine], draws.value[mine]))
    return parts


def _damage(data: bytes, hits: _Hits, count: int) -> bytes:
    """`data` with the spots of the first `count` draws overwritten, each at its share of its
    restart interval's bytes; markers and stuffing untouched."""
    chosen = hits.draw < count
    intervals = _scan_intervals(data)
    index = np.minimum(hits.interval[chosen], len(intervals) - 1)
    starts = np.array([a for a, _ in intervals])[index]
    lengths = np.array([b - a for a, b in intervals])[index]
    positions = starts + np.minimum((hits.share[chosen] * lengths).astype(int), lengths - 1)
    damaged = bytearray(data)
    view = np.frombuffer(damaged, np.uint8)
    usable = lengths > 0
    positions = positions[usable]
    safe = (view[positions] != 0xFF) & (view[positions - 1] != 0xFF)
    view[positions[safe]] = hits.value[chosen][usable][safe]
    return bytes(damaged)


def _decode(data: bytes, size: tuple[int, int]) -> np.ndarray | None:
    """RGB pixels of `data`, or None when it cannot be decoded to a full `size` image."""
    # Pillow, not OpenCV: libjpeg's warnings about the damage stay quiet (OpenCV prints them).
    try:
        with Image.open(io.BytesIO(data), formats=("JPEG",)) as img:
            img.load()
            if img.size != size or img.mode != "RGB":
                return None
            return np.asarray(img)
    except DECODE_ERRORS:
        return None


def _decode_damaged(
    clean: bytes, shape: tuple[int, ...], hits: _Hits, count: int, deadline: Deadline
) -> np.ndarray | None:
    """Pixels of `clean` with the first `count` draws' spots damaged; with half as many while
    a decode fails, then the clean re-encode; None only when even that does not decode."""
    size = (shape[1], shape[0])
    for _ in range(_TRIES):
        deadline.check()
        decoded = _decode(_damage(clean, hits, count), size)
        if decoded is not None:
            return decoded
        if count == 1:
            break
        count //= 2
    deadline.check()
    return _decode(clean, size)


def _corrupt_rows(
    rows: np.ndarray,
    quality: int,
    rows_per_interval: int,
    hits: _Hits,
    count: int,
    deadline: Deadline,
) -> bool:
    """`rows` (uint8 RGB, whole restart intervals) replaced in place by their JPEG with the
    first `count` draws' spots damaged; with half as many while a decode fails, then none.
    False (`rows` as they were) only when not even the clean re-encode decodes."""
    cv2.cvtColor(rows, cv2.COLOR_RGB2BGR, dst=rows)  # what OpenCV encodes; then overwritten
    clean = _encode(rows, quality, rows_per_interval)
    decoded = None if clean is None else _decode_damaged(clean, rows.shape, hits, count, deadline)
    if decoded is None:
        cv2.cvtColor(rows, cv2.COLOR_BGR2RGB, dst=rows)
        return False
    rows[...] = decoded
    return True


def _corrupt(rgb: np.ndarray, quality: int, draws: _Draws, hits: int, deadline: Deadline) -> bool:
    """`rgb` (uint8, C-contiguous) replaced in place by its damaged JPEG, its parts encoded
    and decoded side by side in threads (libjpeg lets go of the GIL); False if no part
    decoded."""
    rows_per_interval = _rows_per_interval(rgb.shape[0])
    bounds = _part_bounds(rgb.shape[0], rows_per_interval)
    parts = _hits_by_part(bounds, rows_per_interval, draws, hits)
    jobs = [
        executor("jpeg", _PARTS).submit(
            _corrupt_rows, rgb[top:stop], quality, rows_per_interval, part, hits, deadline
        )
        for (top, stop), part in zip(pairwise(bounds), parts, strict=True)
    ]
    try:
        return any([job.result() for job in jobs])
    finally:
        for job in jobs:
            job.cancel()


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
        rgb = buf  # corrupted in place: the effect's own buffer
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
    if not _corrupt(rgb, params.quality, draws, hits, deadline):
        return buf  # not even the clean re-encode decodes: leave the colour as it was
    if size == (width, height):
        if rgb is not buf:
            buf[..., :3] = rgb
            del rgb
        if params.blocks:
            if exact:
                _add_blocks_uint8(buf[..., :3], draws, hits)
            else:
                _add_blocks(buf[..., :3], draws, hits)
        return buf
    work = rgb.astype(np.float32)
    del rgb
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
