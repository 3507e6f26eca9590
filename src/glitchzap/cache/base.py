"""The cache interface: bytes in, bytes out, keyed by content.

Values are always `bytes` (PNG/NPY/JSON produced by the caller); nothing is pickled, so a
cache entry can never execute code when read back.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod


class Cache(ABC):
    """A named byte store with hit/miss counters."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.hits = 0
        self.misses = 0
        self._counter_lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        """The stored bytes, or None on a miss (an unreadable entry is a miss)."""
        value = self._get(key)
        self._count(value is not None)
        return value

    def get_local(self, key: str) -> bytes | None:
        """The value when an in-process tier holds it, else None, never waiting on a disk or
        the network: what an event loop may call. A None here is not a miss (the slower tiers
        were not asked), so only hits are counted."""
        value = self._get_local(key)
        if value is not None:
            self._count(True)
        return value

    def _get_local(self, key: str) -> bytes | None:
        return None  # no in-process tier

    def _count(self, hit: bool) -> None:
        with self._counter_lock:
            if hit:
                self.hits += 1
            else:
                self.misses += 1

    def set(self, key: str, value: bytes) -> None:
        """Store `value`; failures to store are swallowed by the backends and logged."""
        self._set(key, value)

    def set_many(self, items: list[tuple[str, bytes]]) -> None:
        """Store several values (backends that can write them in one go override this)."""
        for key, value in items:
            self.set(key, value)

    @abstractmethod
    def _get(self, key: str) -> bytes | None: ...

    @abstractmethod
    def _set(self, key: str, value: bytes) -> None: ...

    @abstractmethod
    def delete(self, key: str) -> None: ...

    @abstractmethod
    def clear(self) -> None: ...

    def stats(self) -> dict[str, float | int | str]:
        """Counters for monitoring: hits, misses, hit_rate."""
        total = self.hits + self.misses
        return {
            "name": self.name,
            "backend": type(self).__name__,
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": self.hits / total if total else 0.0,
        }
