"""Turning cached values into bytes and back, without pickle.

Decoders never raise on bad bytes: a damaged or foreign entry is reported as None (a miss).
"""

from __future__ import annotations

import io
import json
import math
from typing import Any

import numpy as np
from numpy.lib import format as npy_format

NPY_MAGIC = b"\x93NUMPY"
# encode_array writes version 1.0 (2.0 for very long headers); other versions are not ours.
HEADER_READERS = {
    (1, 0): npy_format.read_array_header_1_0,
    (2, 0): npy_format.read_array_header_2_0,
}


def encode_array(array: np.ndarray) -> bytes:
    """NPY bytes of `array` (object arrays are refused)."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def decode_array(data: bytes) -> np.ndarray | None:
    """The array stored by `encode_array`, or None when the bytes are not a valid NPY file.

    The header is checked against the payload before anything is allocated, so a damaged
    entry claiming a huge shape costs nothing, and object (pickled) arrays are refused.
    """
    if not data.startswith(NPY_MAGIC):
        return None  # np.load would also accept zip (npz) and pickle files; we never write those
    stream = io.BytesIO(data)
    try:
        version = npy_format.read_magic(stream)
        read_header = HEADER_READERS.get(version)
        if read_header is None:
            return None
        shape, fortran_order, dtype = read_header(stream)
    except (ValueError, OSError, EOFError, SyntaxError, TypeError):
        return None
    if dtype.hasobject or dtype.itemsize == 0:
        return None
    count = math.prod(shape)
    if len(data) - stream.tell() != count * dtype.itemsize:
        return None  # truncated, or bytes appended
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=stream.tell())
    if fortran_order:
        return flat.reshape(shape[::-1]).transpose().copy()
    return flat.reshape(shape).copy()  # a writable array, as np.load returns


def encode_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()


def decode_json(data: bytes) -> Any | None:
    """The decoded JSON value, or None when the bytes are not valid JSON."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
