"""Animations made from scikit-image photos, for the animated-meme tests (core, API and CLI)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from skimage import data as skdata

from glitchzap.animation import Animation
from glitchzap.io import encode_animation

if TYPE_CHECKING:
    from glitchzap.runtime import Runtime

DURATIONS = (40, 60, 80, 100, 120, 140)  # ms; repeated over the frames, so each one differs


def photo(name: str = "chelsea", width: int = 320) -> np.ndarray:
    """A scikit-image photo, RGB, `width` px wide."""
    image = np.ascontiguousarray(getattr(skdata, name)()[..., :3])
    height = round(image.shape[0] * width / image.shape[1])
    return np.ascontiguousarray(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA))


def panning(
    image: np.ndarray, frames: int = 8, *, step: int = 6, loop: int | None = 0
) -> Animation:
    """`image` panned `step` px further right on each frame (a camera move: every pixel
    changes from one frame to the next), with varied durations."""
    shots = [np.ascontiguousarray(np.roll(image, step * i, axis=1)) for i in range(frames)]
    durations = tuple(DURATIONS[i % len(DURATIONS)] for i in range(frames))
    return Animation(shots, durations, loop)


def gif_file(animation: Animation, path: Path) -> Path:
    """`animation` written as a GIF (each frame's own palette: close to the source pixels)."""
    path.write_bytes(encode_animation(animation, "gif", quality=100))
    return path


def region_changes(a: Sequence[np.ndarray], b: Sequence[np.ndarray], rows: slice) -> list[float]:
    """Mean |difference| (0-255) between frames of `a` and `b`, over the band `rows`."""
    return [
        float(np.abs(x[rows, :, :3].astype(int) - y[rows, :, :3].astype(int)).mean())
        for x, y in zip(a, b, strict=True)
    ]


def captioned_on(
    animation: Animation, shown_on: Sequence[int], text: str, runtime: Runtime
) -> Animation:
    """`animation` with `text` burnt in at the top (make_meme) on the frames `shown_on` only."""
    from glitchzap.meme.compose import make_meme

    frames = [
        make_meme(frame, [text], layout="top", erase="never", runtime=runtime)
        if index in shown_on
        else frame
        for index, frame in enumerate(animation.frames)
    ]
    return Animation(frames, animation.durations, animation.loop)
