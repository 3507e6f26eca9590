"""Uploaded originals, kept by content digest so later calls send only an `image_id`.

The encoded bytes go to the cache named "images" (disk or Redis, so replicas and restarts
share them); decoded arrays and their preview-sized copies stay in a small in-process LRU,
bounded in bytes (the runtime's array memo), so a slider move costs no decode.
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
from glitchzap.io import ImageInfo, load_animation, load_image, probe_image
from glitchzap.settings import LimitsSettings


@dataclass(frozen=True)
class StoredImage:
    image_id: str
    width: int
    height: int
    channels: int = 3  # 4 when the image has alpha


class ImageStore:
    def __init__(self, cache: Cache, limits: LimitsSettings, arrays: ArrayMemo) -> None:
        self.cache = cache
        self.limits = limits
        self.arrays = arrays

    def put(self, data: bytes) -> StoredImage:
        """Decode (validating) and keep `data`; an image seen before is not decoded again."""
        image_id = bytes_digest(data)
        known = self._info(image_id)
        if known is not None and self.cache.get(f"original:{image_id}") is not None:
            return known
        image = load_image(data, limits=self.limits)
        self.arrays.put(image_id, image)
        self.cache.set(f"original:{image_id}", data)
        info = StoredImage(image_id, int(image.shape[1]), int(image.shape[0]), int(image.shape[2]))
        self.cache.set(f"info:{image_id}", encode_json([info.width, info.height, info.channels]))
        return info

    def info(self, image_id: str) -> StoredImage:
        """Width and height of a stored image; NotFound when the id is unknown or expired."""
        found = self._info(image_id)
        if found is None:
            raise _unknown(image_id)
        return found

    def _info(self, image_id: str) -> StoredImage | None:
        raw = self.cache.get(f"info:{image_id}")
        size = decode_json(raw) if raw is not None else None
        if not _valid_size(size):  # damaged, or written by something else: unknown
            return None
        return StoredImage(image_id, int(size[0]), int(size[1]), int(size[2]))

    def get(self, image_id: str) -> np.ndarray:
        """The decoded pixels (read-only) of a stored image."""
        image = self.arrays.get(image_id)
        if image is None:
            data = self.cache.get(f"original:{image_id}")
            # The id is the digest of the bytes: anything else under it is never decoded.
            if data is None or bytes_digest(data) != image_id:
                raise _unknown(image_id)
            image = load_image(data, limits=self.limits)
            self.arrays.put(image_id, image)
        return image

    def frames_info(self, image_id: str) -> ImageInfo:
        """What the stored image's header says (size, channels, frames, loop); nothing decoded."""
        return probe_image(self._original(image_id), self.limits)

    def animation(self, image_id: str) -> Animation:
        """Every frame of a stored image with its timing; a still is one frame (its decoded
        pixels from the memo)."""
        data = self._original(image_id)
        if not probe_image(data, self.limits).animated:
            return Animation.still(self.get(image_id))
        return load_animation(data, limits=self.limits)

    def _original(self, image_id: str) -> bytes:
        data = self.cache.get(f"original:{image_id}")
        # The id is the digest of the bytes: anything else under it is never decoded.
        if data is None or bytes_digest(data) != image_id:
            raise _unknown(image_id)
        return data


def _valid_size(size: Any) -> TypeGuard[list[int]]:
    """[width, height, channels] as a stored image's info entry must hold them."""
    if not (isinstance(size, list) and len(size) == 3):
        return False
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in size):
        return False
    return bool(size[0] >= 1 and size[1] >= 1 and size[2] in (3, 4))


def _unknown(image_id: str) -> NotFound:
    return NotFound(f"Unknown image_id {image_id}: upload the image again with POST /api/images")
