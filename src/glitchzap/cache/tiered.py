"""A fast memory tier in front of a shared or persistent tier."""

from __future__ import annotations

from glitchzap.cache.base import Cache


class TieredCache(Cache):
    """Reads memory first, then `lower` (promoting hits); writes both."""

    def __init__(self, name: str, memory: Cache, lower: Cache) -> None:
        super().__init__(name)
        self.memory = memory
        self.lower = lower

    def _get(self, key: str) -> bytes | None:
        value = self.memory.get(key)
        if value is None:
            value = self.lower.get(key)
            if value is not None:
                self.memory.set(key, value)
        return value

    def _get_local(self, key: str) -> bytes | None:
        return self.memory.get_local(key)

    def _set(self, key: str, value: bytes) -> None:
        self.memory.set(key, value)
        self.lower.set(key, value)

    def delete(self, key: str) -> None:
        self.memory.delete(key)
        self.lower.delete(key)

    def clear(self) -> None:
        self.memory.clear()
        self.lower.clear()

    def stats(self) -> dict[str, float | int | str]:
        own = super().stats()
        for tier, cache in (("memory", self.memory), ("lower", self.lower)):
            for k, v in cache.stats().items():
                if k != "name":
                    own[f"{tier}_{k}"] = v
        return own
