"""In-process LRU cache bounded by the total size of its values."""

from __future__ import annotations

import threading
from collections import OrderedDict

from glitchzap.cache.base import Cache


class MemoryCache(Cache):
    def __init__(self, name: str, max_bytes: int) -> None:
        super().__init__(name)
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def _get(self, key: str) -> bytes | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def _get_local(self, key: str) -> bytes | None:
        return self._get(key)

    def _set(self, key: str, value: bytes) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= len(old)  # dropped even when the new value is not kept: never stale
            if len(value) > self.max_bytes:
                return  # would evict everything else and still not fit
            self._entries[key] = value
            self._size += len(value)
            while self._size > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._size -= len(evicted)

    def delete(self, key: str) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= len(old)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._size = 0

    @property
    def size_bytes(self) -> int:
        return self._size

    def stats(self) -> dict[str, float | int | str]:
        return {**super().stats(), "entries": len(self._entries), "bytes": self._size}
