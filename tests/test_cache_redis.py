"""RedisCache against a real redis-server on a free loopback port, including it dying."""

from __future__ import annotations

import logging
import time

import pytest

from api_fixtures import RedisServer, free_port
from glitchzap.cache import build_cache
from glitchzap.cache.redis import RedisCache
from glitchzap.settings import load_settings

pytest_plugins = ["api_fixtures"]

pytest.importorskip("redis")


def test_round_trip_and_namespaces(redis_server: RedisServer) -> None:
    renders = RedisCache("renders", redis_server.url, 60)
    masks = RedisCache("masks", redis_server.url, 60)
    renders.set("k", b"\x00png bytes\xff")
    assert renders.get("k") == b"\x00png bytes\xff"
    assert masks.get("k") is None  # same key, other cache
    masks.set("k", b"mask")
    renders.clear()
    assert renders.get("k") is None
    assert masks.get("k") == b"mask"
    masks.delete("k")
    assert masks.get("k") is None
    assert renders.stats()["hits"] == 1 and renders.stats()["misses"] == 1


def test_entries_expire(redis_server: RedisServer) -> None:
    cache = RedisCache("renders", redis_server.url, 1)
    cache.set("k", b"v")
    assert cache.get("k") == b"v"
    time.sleep(2.1)
    assert cache.get("k") is None


def test_shared_between_replicas(redis_server: RedisServer) -> None:
    """Two processes' caches (two clients) see each other's entries."""
    one = RedisCache("renders", redis_server.url, 60)
    two = RedisCache("renders", redis_server.url, 60)
    one.set("key", b"value")
    assert two.get("key") == b"value"


def test_server_killed_mid_use_degrades_to_uncached(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    cache = RedisCache("renders", redis_server.url, 60, retry_seconds=0.2)
    cache.set("k", b"v")
    assert cache.get("k") == b"v"
    redis_server.stop()
    with caplog.at_level(logging.WARNING, logger="glitchzap.cache.redis"):
        assert cache.get("k") is None
        cache.set("k2", b"v2")  # no exception
        assert cache.get("k2") is None
    warnings = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(warnings) == 1  # one warning per outage, not one per call
    assert cache.stats()["available"] == 0
    # Back up (empty, as --save '' keeps nothing): the cache reconnects after retry_seconds.
    redis_server.start()
    time.sleep(0.3)
    cache.set("k3", b"v3")
    assert cache.get("k3") == b"v3"
    assert cache.stats()["available"] == 1


def test_unreachable_from_the_start() -> None:
    cache = RedisCache("renders", f"redis://127.0.0.1:{free_port()}/0", 60)
    assert cache.get("k") is None
    cache.set("k", b"v")
    cache.clear()
    assert cache.stats()["errors"] >= 1


def test_build_cache_puts_memory_in_front_of_redis(redis_server: RedisServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(
        None, data_dir=tmp_path, cache={"backend": "redis", "redis_url": redis_server.url}
    )
    cache = build_cache("renders", settings)
    cache.set("k", b"v")
    other_replica = build_cache("renders", settings)
    assert other_replica.get("k") == b"v"  # read through from Redis, not from memory
    assert "RedisCache" in str(cache.stats())
