"""Named caches built from settings: one per kind of result (renders, masks, ocr, ...).

`get_cache("masks")` returns the process-wide cache of that name: a memory LRU in front of
the configured backend (`cache.backend`: memory, disk or redis).
"""

from __future__ import annotations

import threading

from glitchzap.cache.base import Cache
from glitchzap.cache.disk import DiskCache
from glitchzap.cache.memory import MemoryCache
from glitchzap.cache.tiered import TieredCache
from glitchzap.settings import Settings, get_settings

__all__ = ["Cache", "all_cache_stats", "build_cache", "get_cache", "reset_caches"]

_caches: dict[str, Cache] = {}
_lock = threading.Lock()


def build_cache(name: str, settings: Settings) -> Cache:
    """A new cache named `name` configured by `settings.cache`."""
    conf = settings.cache
    memory = MemoryCache(name, conf.memory_max_bytes)
    if conf.backend == "memory":
        return memory
    expiry = conf.expiry_days * 86400
    if conf.backend == "redis":
        from glitchzap.cache.redis import RedisCache

        lower: Cache = RedisCache(name, conf.redis_url or "redis://127.0.0.1:6379/0", expiry)
    else:
        lower = DiskCache(name, settings.cache_dir, conf.disk_max_bytes, expiry)
    return TieredCache(name, memory, lower)


def get_cache(name: str) -> Cache:
    """The process-wide cache called `name`, built on first use from the current settings."""
    with _lock:
        cache = _caches.get(name)
        if cache is None:
            cache = _caches[name] = build_cache(name, get_settings())
        return cache


def reset_caches() -> None:
    """Forget every process-wide cache (after `configure`, and between tests)."""
    with _lock:
        for cache in _caches.values():
            for part in (cache, getattr(cache, "lower", None)):
                close = getattr(part, "close", None)
                if close is not None:
                    close()
        _caches.clear()


def all_cache_stats() -> list[dict[str, float | int | str]]:
    with _lock:
        return [cache.stats() for cache in _caches.values()]
