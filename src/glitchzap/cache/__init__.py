"""Named caches built from settings: one per kind of result (renders, masks, ocr, ...).

`build_cache("masks", settings)` makes a memory LRU in front of the configured backend
(`cache.backend`: memory, disk or redis); a `Runtime` builds each name once and keeps it.
"""

from __future__ import annotations

from glitchzap.cache.base import Cache
from glitchzap.cache.disk import DiskCache
from glitchzap.cache.memory import MemoryCache
from glitchzap.cache.tiered import TieredCache
from glitchzap.settings import Settings

__all__ = ["Cache", "build_cache"]


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
