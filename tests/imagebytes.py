"""Hand-built image bytes for decoder tests (valid, truncated or lying about their size)."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

from PIL import Image

_FULL_ROWS_MAX = 64 * 2**20  # larger claimed sizes get a stub IDAT: header-only tests


def pil_bytes(img: Image.Image, fmt: str, **save_args: Any) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **save_args)
    return buffer.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_with(width: int, height: int, extra: bytes = b"", idat: bytes | None = None) -> bytes:
    """A PNG (8-bit RGB) claiming width x height, `extra` chunks before IDAT.

    Pixels are zero; a claimed size too large to spell out gets a short stub IDAT instead,
    for tests that must be refused from the header alone.
    """
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    if idat is None:
        raw = (width * 3 + 1) * height
        idat = zlib.compress(b"\x00" * raw if raw <= _FULL_ROWS_MAX else b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + extra
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )
