"""Compiled loops for `quantize` (numba): the median-cut palette, the nearest-entry table and
Floyd-Steinberg error diffusion.

Imported only when quantize runs (importing numba takes ~0.2 s); each kernel compiles on its
first call and is cached on disk after that (`cache=True`). The kernels release the GIL, so
quantize's bands diffuse side by side in threads. Indices are unsigned (`_U`): numba wraps
negative indices of signed ones, which costs a compare in the innermost loops.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_U = np.uint64
CELL_BITS = 6  # the nearest-entry table covers 64 x 64 x 64 cells of 4 x 4 x 4 levels
_CELLS = 1 << CELL_BITS
# Median cut splits the longest side of a box, lengths weighted by each channel's share of
# luminance (as Pillow's median cut does): green ranges count most, blue ranges least.
_AXIS_WEIGHTS = (77, 150, 29)
# Rows of one Floyd-Steinberg band are diffused in pairs: the second row trails the first by
# _LAG pixels (it needs the errors of the three pixels above it), so the CPU overlaps the two
# rows' dependency chains. Any lag >= 1 gives the same bytes as one row after the other.
_LAG = 2


@njit(cache=True, nogil=True)
def median_cut(colours: np.ndarray, count: int) -> np.ndarray:
    """At most `count` x 3 uint8 palette of `colours` (n x 3 uint8): the box holding the most
    colours is split at its median along its longest side until `count` boxes (or no box
    with two different colours) are left; each entry is its box's rounded mean."""
    n = colours.shape[0]
    order = np.arange(n)
    starts = np.zeros(count, np.int64)
    ends = np.zeros(count, np.int64)
    sides = np.zeros(count, np.int64)  # weighted length of each box's longest side
    axes = np.zeros(count, np.int64)  # ... and its axis
    ends[0] = n
    sides[0], axes[0] = _longest_side(colours, order, 0, n)
    boxes = 1
    histogram = np.zeros(256, np.int64)
    while boxes < count:
        # The most populous box that still holds two different colours.
        best, best_size = -1, 0
        for b in range(boxes):
            if sides[b] > 0 and ends[b] - starts[b] > best_size:
                best, best_size = b, ends[b] - starts[b]
        if best < 0:
            break
        axis = axes[best]
        start, end = starts[best], ends[best]
        histogram[:] = 0
        for i in range(start, end):
            histogram[colours[order[i], axis]] += 1
        # The smallest value with more than half of the box at or below it goes left, with
        # every colour equal to it; if that empties the right side, the top value goes right.
        below, split, top = 0, 0, 0
        for value in range(256):
            if histogram[value]:
                top = value
        for value in range(256):
            below += histogram[value]
            if below * 2 > end - start:
                split = value
                break
        if split == top:
            split = top - 1
            while histogram[split] == 0:
                split -= 1
        middle = _partition(colours, order, start, end, axis, split)
        starts[boxes], ends[boxes] = middle, end
        ends[best] = middle
        sides[best], axes[best] = _longest_side(colours, order, start, middle)
        sides[boxes], axes[boxes] = _longest_side(colours, order, middle, end)
        boxes += 1
    palette = np.empty((boxes, 3), np.uint8)
    for b in range(boxes):
        for c in range(3):
            total = 0
            for i in range(starts[b], ends[b]):
                total += colours[order[i], c]
            palette[b, c] = (2 * total + ends[b] - starts[b]) // (2 * (ends[b] - starts[b]))
    return palette


@njit(cache=True, nogil=True)
def _longest_side(colours: np.ndarray, order: np.ndarray, start: int, end: int) -> tuple:
    """(weighted length, axis) of the longest side of the box of colours[order[start:end]]."""
    side, axis = 0, 0
    for c in range(3):
        low, high = 255, 0
        for i in range(start, end):
            value = colours[order[i], c]
            low = min(low, value)
            high = max(high, value)
        weighted = (high - low) * _AXIS_WEIGHTS[c] if high > low else 0
        if weighted > side:
            side, axis = weighted, c
    return side, axis


@njit(cache=True, nogil=True)
def _partition(
    colours: np.ndarray, order: np.ndarray, start: int, end: int, axis: int, split: int
) -> int:
    """Reorder order[start:end] so colours at or below `split` on `axis` come first; returns
    where the rest begins."""
    left = start
    for i in range(start, end):
        if colours[order[i], axis] <= split:
            order[left], order[i] = order[i], order[left]
            left += 1
    return left


@njit(cache=True, nogil=True)
def nearest_table(palette: np.ndarray) -> np.ndarray:
    """uint8 index of the palette entry nearest to the centre of every 4 x 4 x 4-level cell,
    at cell r | g << 6 | b << 12 (r, g, b = level >> 2); the lower index on a tie."""
    k = palette.shape[0]
    # Squared distance per axis from each cell's centre (4 c + 1.5, doubled: 8 c + 3) to each
    # entry (doubled), so a cell's distance to entry j is a sum of three table reads.
    axis_distance = np.empty((3, k, _CELLS), np.int32)
    for c in range(3):
        for j in range(k):
            for cell in range(_CELLS):
                d = 8 * cell + 3 - 2 * np.int32(palette[j, c])
                axis_distance[c, j, cell] = d * d
    table = np.empty(_CELLS**3, np.uint8)
    best = np.empty(_CELLS, np.int32)
    index = np.empty(_CELLS, np.uint8)
    for b in range(_CELLS):
        for g in range(_CELLS):
            best[:] = 2**31 - 1
            for j in range(k):
                base = axis_distance[2, j, b] + axis_distance[1, j, g]
                for r in range(_CELLS):  # the innermost loop runs in SIMD lanes
                    d = base + axis_distance[0, j, r]
                    if d < best[r]:
                        best[r] = d
                        index[r] = j
            table[(b * _CELLS + g) * _CELLS : (b * _CELLS + g + 1) * _CELLS] = index
    return table


# Floyd-Steinberg errors travel packed: one int64 holds R, G and B in 16-bit lanes, so the
# error arithmetic (x 7, 5, 3, sums) is one instruction for all three channels. Errors are in
# 16ths of a level (|error| <= 16 * 255 < 2^15); where a pixel reads its error, every lane
# carries _ERROR_BIAS more, so no lane goes negative and each lane reads out with a shift.
_ERROR_BIAS = (1 << 15) * (1 + (1 << 16) + (1 << 32))
# A pixel's level plus its error (-255..510) indexes its channel's row of `_channel_tables`,
# whose entry holds the clipped level in that channel's lane and its bits of the nearest-entry
# cell from bit _CELL_BIT up: the three entries' sum is the packed colour and its cell.
_LEVEL_INDEX = 256  # table index of level 0
_TABLE_SIZE = 1024
_CELL_BIT = 45
_COLOUR_MASK = (1 << _CELL_BIT) - 1
_READ_OFFSET = _LEVEL_INDEX - (1 << 15) // 16  # table index offset, less the lanes' bias


@njit(cache=True, nogil=True)
def _channel_tables() -> np.ndarray:
    """R, G and B rows (flat, _TABLE_SIZE each) of packed clipped level + cell bits."""
    tables = np.empty(3 * _TABLE_SIZE, np.int64)
    for c in range(3):
        for i in range(_TABLE_SIZE):
            level = np.int64(min(max(i - _LEVEL_INDEX, 0), 255))
            cell = (level >> (8 - CELL_BITS)) << (_CELL_BIT + CELL_BITS * c)
            tables[c * _TABLE_SIZE + i] = (level << (16 * c)) + cell
    return tables


@njit(cache=True, nogil=True, inline="always")
def _fs_pixel(
    colour: np.ndarray,
    at: np.uint64,
    above: np.ndarray,
    read: np.uint64,
    below: np.ndarray,
    write: np.uint64,
    state: tuple,
    lookups: tuple,
) -> tuple:
    """One pixel of Floyd-Steinberg: colour[at:at+3] plus its errors (`state`'s 7/16 from
    the left, above[read] from the row above) replaced by the nearest palette entry; the
    completed errors of the pixel below-left go to below[write]. Returns the next state:
    (7/16 of this error + the bias, what the pixel below has so far, this error).
    `lookups`: the channel tables, the nearest-entry table, the packed and the flat palette."""
    right, below_so_far, last = state
    tables, nearest, packed, entries = lookups
    errors = above[read] + right
    r = _U(np.int64(colour[at]) + ((errors & 0xFFFF) >> 4) + _READ_OFFSET)
    g = _U(np.int64(colour[at + _U(1)]) + ((errors >> 20) & 0xFFF) + _READ_OFFSET)
    b = _U(np.int64(colour[at + _U(2)]) + (errors >> 36) + _READ_OFFSET)
    level = tables[r] + tables[g + _U(_TABLE_SIZE)] + tables[b + _U(2 * _TABLE_SIZE)]
    entry = _U(nearest[_U(level >> _CELL_BIT)])
    error = (level & _COLOUR_MASK) - packed[entry]
    at_entry = entry * _U(3)
    colour[at] = entries[at_entry]
    colour[at + _U(1)] = entries[at_entry + _U(1)]
    colour[at + _U(2)] = entries[at_entry + _U(2)]
    # Below-left gets 3/16 (now complete), below 5/16 and below-right 1/16 (carried on).
    below[write] = below_so_far + 3 * error
    return (7 * error + _ERROR_BIAS, 5 * error + last, error)


@njit(cache=True, nogil=True)
def diffuse(
    colour: np.ndarray,
    width: int,
    palette: np.ndarray,
    nearest: np.ndarray,
    errors: np.ndarray,
    spare: np.ndarray,
) -> None:
    """Floyd-Steinberg dither of `colour` (flat uint8, rows of `width` RGB pixels) onto
    `palette` (k x 3 uint8) in place, left to right on every row; `nearest` from
    `nearest_table`. `errors` (width + 2 int64, packed) holds the errors carried into the
    first row and, afterwards, those carried out of the last row; `spare` is scratch space of
    the same size. Slot x + 1 of an error row is pixel x's (slots 0 and width + 1 collect
    what falls off the edges)."""
    packed = (
        palette[:, 0].astype(np.int64)
        + (palette[:, 1].astype(np.int64) << 16)
        + (palette[:, 2].astype(np.int64) << 32)
    )
    lookups = (_channel_tables(), nearest, packed, palette.ravel())
    one, three = _U(1), _U(3)
    row = _U(width * 3)
    height = colour.shape[0] // (width * 3) if width else 0
    lead = min(_LAG, width)
    start = (np.int64(_ERROR_BIAS), np.int64(0), np.int64(0))
    first = 0
    while first + 1 < height:
        # Rows first and first + 1 together: errors -> first -> spare -> second -> errors.
        at_1 = _U(first) * row
        at_2 = at_1 + row
        state_1, state_2 = start, start
        read_1 = read_2 = one
        write_1 = write_2 = _U(0)
        for x in range(width + lead):
            if x < width:
                state_1 = _fs_pixel(colour, at_1, errors, read_1, spare, write_1, state_1, lookups)
                at_1 += three
                read_1 += one
                write_1 += one
            if x == width - 1:
                spare[write_1] = state_1[1]  # the last pixel's below slot is complete
            if x >= lead:
                state_2 = _fs_pixel(colour, at_2, spare, read_2, errors, write_2, state_2, lookups)
                at_2 += three
                read_2 += one
                write_2 += one
        errors[write_2] = state_2[1]
        first += 2
    if first < height:  # an odd row out
        at_1 = _U(first) * row
        state_1 = start
        read_1, write_1 = one, _U(0)
        for _ in range(width):
            state_1 = _fs_pixel(colour, at_1, errors, read_1, spare, write_1, state_1, lookups)
            at_1 += three
            read_1 += one
            write_1 += one
        spare[write_1] = state_1[1]
        errors[:] = spare
