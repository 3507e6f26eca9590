"""Redis-backed cache shared by several server replicas.

A Redis that is down must not fail the request that wanted to cache: while it is unreachable,
`get` is a miss and `set` does nothing. The outage is logged once; the connection is retried
after `retry_seconds`, and recovery is logged too.
"""

from __future__ import annotations

import logging
import threading
import time

from glitchzap.cache.base import Cache

log = logging.getLogger(__name__)

KEY_PREFIX = "glitchzap"


class RedisCache(Cache):
    def __init__(
        self,
        name: str,
        url: str,
        expiry_seconds: float,
        *,
        retry_seconds: float = 5.0,
        socket_timeout_seconds: float = 0.5,
    ) -> None:
        import redis

        super().__init__(name)
        self.url = url
        self.expiry_seconds = max(1, int(expiry_seconds))
        self.retry_seconds = retry_seconds
        self.errors = 0
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=socket_timeout_seconds,
            socket_connect_timeout=socket_timeout_seconds,
        )
        self._redis_errors = (redis.RedisError, OSError)
        self._down_until = 0.0  # monotonic time before which we do not try again
        self._down = False
        self._lock = threading.Lock()

    def _key(self, key: str) -> str:
        return f"{KEY_PREFIX}:{self.name}:{key}"

    def _available(self) -> bool:
        return not self._down or time.monotonic() >= self._down_until

    def _failed(self, action: str, exc: BaseException) -> None:
        with self._lock:
            self.errors += 1
            if not self._down:
                log.warning(
                    "redis cache %s unavailable (%s at %s: %s); running uncached, "
                    "retrying every %.0f s",
                    self.name,
                    action,
                    _safe_url(self.url),
                    exc,
                    self.retry_seconds,
                )
            self._down = True
            self._down_until = time.monotonic() + self.retry_seconds

    def _succeeded(self) -> None:
        if self._down:
            with self._lock:
                if self._down:
                    log.warning("redis cache %s is back at %s", self.name, _safe_url(self.url))
                    self._down = False

    def _get(self, key: str) -> bytes | None:
        if not self._available():
            return None
        try:
            value = self._client.get(self._key(key))
        except self._redis_errors as exc:
            self._failed("get", exc)
            return None
        self._succeeded()
        return bytes(value) if value is not None else None  # type: ignore[arg-type]

    def _set(self, key: str, value: bytes) -> None:
        if not self._available():
            return
        try:
            self._client.set(self._key(key), value, ex=self.expiry_seconds)
        except self._redis_errors as exc:
            self._failed("set", exc)
            return
        self._succeeded()

    def delete(self, key: str) -> None:
        if not self._available():
            return
        try:
            self._client.delete(self._key(key))
        except self._redis_errors as exc:
            self._failed("delete", exc)

    def clear(self) -> None:
        """Delete this cache's keys only (other caches share the Redis database)."""
        if not self._available():
            return
        try:
            for batch in _batches(self._client.scan_iter(match=f"{KEY_PREFIX}:{self.name}:*")):
                self._client.delete(*batch)
        except self._redis_errors as exc:
            self._failed("clear", exc)

    def close(self) -> None:
        self._client.close()

    def stats(self) -> dict[str, float | int | str]:
        return {
            **super().stats(),
            "url": _safe_url(self.url),
            "errors": self.errors,
            "available": int(not self._down),
        }


def _batches(keys: object, size: int = 500) -> list[list[bytes]]:
    batch: list[bytes] = []
    out: list[list[bytes]] = []
    for key in keys:  # type: ignore[attr-defined]
        batch.append(key)
        if len(batch) == size:
            out.append(batch)
            batch = []
    if batch:
        out.append(batch)
    return out


def _safe_url(url: str) -> str:
    """The URL without its password, for logs."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
