"""Uploaded originals, kept by content digest so later calls send only an `image_id`.

The encoded bytes go to the cache named "images" (disk or Redis, so replicas and restarts
share them); decoded arrays and their preview-sized copies stay in a small in-process LRU,
bounded in bytes (the runtime's array memo), so a slider move costs no decode. An animated
upload is kept there as one N x H x W x C array of its frames as shown; its frame timing and
loop count are in the info entry, beside its size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeGuard

import numpy as np

from glitchzap.animation import Animation
from glitchzap.cache import Cache
from glitchzap.cache.arrays import ArrayMemo
from glitchzap.cache.codec import decode_json, encode_json
from glitchzap.cache.keys import bytes_digest
from glitchzap.errors import NotFound
from glitchzap.io import ImageInfo, decode_frames, load_image, probe_image
from glitchzap.settings import LimitsSettings


@dataclass(frozen=True)
class StoredImage:
    image_id: str
    width: int
    height: int
    channels: int = 3  # 4 when the image has alpha
    durations: tuple[int, ...] = ()  # ms per frame of an animation; () for a still
    loop: int | None = 0  # an animation's repeats: 0 = forever, None = plays once

    @property
    def frames(self) -> int:
        return max(1, len(self.durations))

    @property
    def animated(self) -> bool:
        return self.frames > 1

    @property
    def duration_ms(self) -> int | None:
        """How long one pass of the animation lasts (ms); None for a still."""
        return sum(self.durations) if self.animated else None

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.height, self.width, self.channels)


class ImageStore:
    def __init__(self, cache: Cache, limits: LimitsSettings, arrays: ArrayMemo) -> None:
        self.cache = cache
        self.limits = limits
        self.arrays = arrays

    def put(self, data: bytes) -> StoredImage:
        """Check the budgets from the header, then decode (validating) and keep `data`; an
        image seen before is not decoded again."""
        image_id = bytes_digest(data)
        known = self._entry(image_id)
        if known is not None and self.cache.get(f"original:{image_id}") is not None:
            stored, counts_frames = known
            if counts_frames:
                return stored
            # An entry from before animations were kept: probed and stored again below.
        probed = probe_image(data, self.limits)  # ImageTooLarge before any pixel is decoded
        if probed.animated:
            info = self._keep_animation(image_id, data, probed)
        else:
            image = load_image(data, limits=self.limits)
            self.arrays.put(image_id, image)
            info = StoredImage(image_id, image.shape[1], image.shape[0], image.shape[2])
        self.cache.set(f"original:{image_id}", data)
        entry = [info.width, info.height, info.channels, list(info.durations), info.loop]
        self.cache.set(f"info:{image_id}", encode_json(entry))
        return info

    def info(self, image_id: str) -> StoredImage:
        """Size, channels and frame timing of a stored image; NotFound when the id is unknown
        or expired."""
        found = self._entry(image_id)
        if found is None:
            raise _unknown(image_id)
        return found[0]

    def _entry(self, image_id: str) -> tuple[StoredImage, bool] | None:
        """(the stored info, whether it counts frames), or None. Entries written before
        animations were kept ([width, height, channels]) still read as stills."""
        raw = self.cache.get(f"info:{image_id}")
        entry = decode_json(raw) if raw is not None else None
        if not isinstance(entry, list) or not _valid_size(entry[:3]):
            return None  # damaged, or written by something else: unknown
        width, height, channels = (int(n) for n in entry[:3])
        if len(entry) == 3:
            return StoredImage(image_id, width, height, channels), False
        if len(entry) != 5 or not _valid_timing(entry[3], entry[4]):
            return None
        return StoredImage(image_id, width, height, channels, tuple(entry[3]), entry[4]), True

    def get(self, image_id: str) -> np.ndarray:
        """The decoded pixels (read-only) of a stored image: a still, or an animation's first
        frame (see `get_animation` for all of them)."""
        if self.info(image_id).animated:
            return np.asarray(self.get_animation(image_id).frames[0])
        image = self.arrays.get(image_id)
        if image is None:
            image = load_image(self._original(image_id), limits=self.limits)
            self.arrays.put(image_id, image)
        return image

    def in_memory(self, info: StoredImage) -> bool:
        """Whether the decoded pixels (every frame of an animation) are kept in memory."""
        key = _frames_key(info.image_id) if info.animated else info.image_id
        return self.arrays.get(key) is not None

    def get_animation(self, image_id: str) -> Animation:
        """Every frame (read-only) of a stored image with its timing; a still is one frame."""
        info = self.info(image_id)
        if not info.animated:
            return Animation.still(self.get(image_id))
        stack = self.arrays.get(_frames_key(image_id))
        if stack is None:
            data = self._original(image_id)
            stack = self._decode_stack(image_id, data, probe_image(data, self.limits))[0]
        return Animation(list(stack), info.durations, info.loop)

    def _keep_animation(self, image_id: str, data: bytes, probed: ImageInfo) -> StoredImage:
        stack, durations = self._decode_stack(image_id, data, probed)
        _, height, width, channels = stack.shape
        return StoredImage(image_id, width, height, channels, durations, probed.loop)

    def _decode_stack(
        self, image_id: str, data: bytes, probed: ImageInfo
    ) -> tuple[np.ndarray, tuple[int, ...]]:
        """All frames of `data` decoded one by one into one N x H x W x C array (kept in the
        memo when it fits there), and their durations (ms)."""
        shape = (probed.frames, probed.height, probed.width, probed.channels)
        stack = np.empty(shape, np.uint8)
        durations = []
        for index, frame in enumerate(decode_frames(data, self.limits)):
            stack[index] = frame.pixels
            durations.append(frame.duration_ms)
        self.arrays.put(_frames_key(image_id), stack)
        stack.setflags(write=False)
        return stack, tuple(durations)

    def _original(self, image_id: str) -> bytes:
        data = self.cache.get(f"original:{image_id}")
        # The id is the digest of the bytes: anything else under it is never decoded.
        if data is None or bytes_digest(data) != image_id:
            raise _unknown(image_id)
        return data


def _frames_key(image_id: str) -> str:
    return f"frames:{image_id}"


def _valid_size(size: Any) -> TypeGuard[list[int]]:
    """[width, height, channels] as a stored image's info entry must hold them."""
    if not (isinstance(size, list) and len(size) == 3):
        return False
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in size):
        return False
    return bool(size[0] >= 1 and size[1] >= 1 and size[2] in (3, 4))


def _valid_timing(durations: Any, loop: Any) -> bool:
    """Frame durations (ms; [] for a still, 2+ for an animation) and a loop count."""
    if not isinstance(durations, list) or len(durations) == 1:
        return False
    if not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in durations):
        return False
    return loop is None or (isinstance(loop, int) and not isinstance(loop, bool) and loop >= 0)


def _unknown(image_id: str) -> NotFound:
    return NotFound(f"Unknown image_id {image_id}: upload the image again with POST /api/images")
