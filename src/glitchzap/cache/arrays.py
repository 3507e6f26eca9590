"""Decoded arrays kept in memory by key, bounded in bytes (no encode, no decode on a hit).

The byte caches (`Runtime.cache`) hold encoded results that survive restarts and replicas;
this memo sits in front of them for what a live studio asks again within seconds: the
decoded original, its preview-sized copies, its mask and its cut-out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np


class ArrayMemo:
    """Arrays by key, least recently used evicted once their total size passes `max_bytes`.

    Stored arrays are made read-only: they are shared between callers."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: str, value: np.ndarray) -> None:
        if value.nbytes > self.max_bytes:
            return
        value.setflags(write=False)  # shared between requests: nobody may edit it in place
        with self._lock:
            old = self._entries.pop(key, None)
            self._size += value.nbytes - (old.nbytes if old is not None else 0)
            self._entries[key] = value
            while self._size > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._size -= evicted.nbytes

    def get_or_make(self, key: str, make: Callable[[], np.ndarray]) -> np.ndarray:
        """The array under `key`, or `make()` kept under it."""
        value = self.get(key)
        if value is None:
            value = np.ascontiguousarray(make())
            self.put(key, value)
        return value
