"""Real animations for tests: scikit-image photos panned across frames, written by Pillow.

Pillow writes the inputs (not our encoder), so a test that reads them checks our decoding
against an independent writer, and reads our outputs back with Pillow the same way.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image


def photo(name: str = "chelsea", width: int = 160, min_height: int = 0) -> np.ndarray:
    """A scikit-image sample photo (RGB) scaled to `width` pixels wide (wider when needed
    to be `min_height` tall)."""
    from skimage import data

    image = getattr(data, name)()
    scale = max(width / image.shape[1], min_height / image.shape[0])
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    return cv2.resize(np.ascontiguousarray(image), size, interpolation=cv2.INTER_AREA)


def panned_frames(
    count: int, size: tuple[int, int] = (128, 96), *, name: str = "chelsea", alpha: bool = False
) -> list[np.ndarray]:
    """`count` frames of `size` (width, height) panning across a photo; with `alpha`, only a
    disc that moves along with the pan is opaque, the rest fully transparent."""
    width, height = size
    source = photo(name, width + 8 * count, height + 2 * count)
    frames = []
    yy, xx = np.mgrid[0:height, 0:width]
    for i in range(count):
        frame = np.ascontiguousarray(source[i * 2 : i * 2 + height, i * 8 : i * 8 + width])
        if alpha:
            inside = (xx - width // 2 - i * 3) ** 2 + (yy - height // 2) ** 2 < (
                height * 2 // 5
            ) ** 2
            frame = np.dstack([frame, np.where(inside, 255, 0).astype(np.uint8)])
        frames.append(frame)
    return frames


def animation_bytes(
    frames: list[np.ndarray], fmt: str, durations: list[int] | None = None, **options: Any
) -> bytes:
    """`frames` as an animated `fmt` (GIF, PNG for APNG, WEBP) written by Pillow; no
    `durations` leaves the frames without one."""
    mode = "RGBA" if frames[0].shape[2] == 4 else "RGB"
    images = [Image.fromarray(frame, mode) for frame in frames]
    if durations is not None:
        options["duration"] = durations
    if fmt == "GIF" and mode == "RGBA":
        options.setdefault("disposal", 2)  # each frame replaces the last: holes stay holes
    buffer = io.BytesIO()
    images[0].save(buffer, fmt, save_all=True, append_images=images[1:], **options)
    return buffer.getvalue()


def write_animation(
    path: Path, frames: list[np.ndarray], durations: list[int] | None = None, **options: Any
) -> Path:
    fmt = {".gif": "GIF", ".png": "PNG", ".apng": "PNG", ".webp": "WEBP"}[path.suffix]
    path.write_bytes(animation_bytes(frames, fmt, durations, **options))
    return path


def read_frames(source: Path | bytes) -> tuple[list[np.ndarray], list[int], Any]:
    """(frames as RGBA arrays, their durations in ms, the loop value or None), as Pillow
    reads them."""
    data = source.read_bytes() if isinstance(source, Path) else source
    frames, durations = [], []
    with Image.open(io.BytesIO(data)) as img:
        for index in range(getattr(img, "n_frames", 1)):
            img.seek(index)
            frames.append(np.array(img.convert("RGBA")))
            durations.append(img.info.get("duration"))
        loop = img.info.get("loop")
    return frames, durations, loop
