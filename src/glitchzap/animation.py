"""Animations as arrays: frames, their timing, and parameters eased over the frames.

An `Animation` is what every door hands the render path when an image moves: the frames as
shown (H x W x C uint8, all one shape), how long each shows, and how often it loops. A still
is a one-frame animation. `eased_value` gives a parameter's value at frame i of n when a
recipe's `animation.ease` moves it from one value to another over the loop (applied to a
recipe's effects by `rendering.frame_effects`; this module imports no effect, so `io` can use
it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Curve = Literal["linear", "ease-in", "ease-out", "ease-in-out", "there-and-back"]
CURVES: tuple[str, ...] = ("linear", "ease-in", "ease-out", "ease-in-out", "there-and-back")
DEFAULT_FPS = 12  # a still turned into a loop without fps or duration_ms


@dataclass(frozen=True)
class Frame:
    pixels: np.ndarray  # H x W x 3|4 uint8
    duration_ms: int


@dataclass(frozen=True)
class Animation:
    """Frames as shown, one duration per frame (ms), and the loop count (0 = forever, None =
    plays once)."""

    frames: Sequence[np.ndarray]
    durations: tuple[int, ...]
    loop: int | None = 0

    def __post_init__(self) -> None:
        if not self.frames or len(self.frames) != len(self.durations):
            raise ValueError("an animation needs one duration per frame, and a frame")
        shapes = {frame.shape for frame in self.frames}
        if len(shapes) != 1:
            raise ValueError(f"the frames of an animation share one shape, not {shapes}")

    @classmethod
    def still(cls, image: np.ndarray, duration_ms: int = 100) -> Animation:
        return cls([image], (duration_ms,))

    @classmethod
    def from_frames(cls, frames: Sequence[Frame], loop: int | None = 0) -> Animation:
        return cls([f.pixels for f in frames], tuple(f.duration_ms for f in frames), loop)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.frames[0].shape)

    @property
    def animated(self) -> bool:
        return len(self.frames) > 1

    @property
    def total_ms(self) -> int:
        return sum(self.durations)

    def __len__(self) -> int:
        return len(self.frames)


def progress(curve: str, index: int, count: int) -> float:
    """How far (0..1) frame `index` of `count` is along `curve`. The last frame is at 1 for
    the one-way curves; "there-and-back" rises to 1 at the middle frame and returns, so the
    loop joins up (frame 0 follows the last one smoothly)."""
    if count <= 1:
        return 1.0 if curve != "there-and-back" else 0.0
    if curve == "there-and-back":
        return 0.5 - 0.5 * math.cos(2 * math.pi * index / count)
    t = index / (count - 1)
    if curve == "ease-in":
        return t * t
    if curve == "ease-out":
        return 1 - (1 - t) * (1 - t)
    if curve == "ease-in-out":
        return 0.5 - 0.5 * math.cos(math.pi * t)
    return t


def eased_value(start: float, end: float, curve: str, index: int, count: int) -> float:
    return start + (end - start) * progress(curve, index, count)


def frame_seed(seed: int | None, mode: str, index: int) -> int | None:
    """Frame `index`'s seed: the recipe's for "fixed", the recipe's + index for "per-frame"
    (each frame glitches differently, the same way every time)."""
    if seed is None or mode == "fixed":
        return seed
    return (seed + index) % 2**63
