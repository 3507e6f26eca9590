"""A fast memory tier in front of a shared or persistent tier."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from glitchzap.cache.base import Cache

log = logging.getLogger(__name__)

# Deferred writes waiting beyond this many bytes are made by the caller instead (the disk or
# the network fell behind): memory stays bounded and the writer is not outrun for long.
MAX_DEFERRED_BYTES = 64 * 1024 * 1024
# How long the writer lets writes gather before it makes them: woken for each one, it took the
# GIL from the event loop hundreds of times a second (distinct previews/s fell ~4 %).
LINGER_SECONDS = 0.05


class TieredCache(Cache):
    """Reads memory first, then `lower` (promoting hits); writes both.

    After `defer_writes()`, `lower` is written by a background thread, a batch at a time, and
    `set` returns once the memory tier has the value: a server's answer never waits on the
    disk or Redis (writes of two processes into one SQLite file sometimes wait 1 ms or more
    for each other). Until a value is written it is read from the queue; `delete` and `clear`
    wait for the batch being written, so nothing deleted comes back; `flush` waits for all.
    """

    def __init__(self, name: str, memory: Cache, lower: Cache) -> None:
        super().__init__(name)
        self.memory = memory
        self.lower = lower
        self._writer: WriteBehind | None = None

    def defer_writes(self) -> None:
        if self._writer is None:
            self._writer = WriteBehind(self.lower.set_many)

    def _get(self, key: str) -> bytes | None:
        value = self.memory.get(key)
        if value is None and self._writer is not None:
            value = self._writer.pending(key)
        if value is None:
            value = self.lower.get(key)
            if value is not None:
                self.memory.set(key, value)
        return value

    def _get_local(self, key: str) -> bytes | None:
        return self.memory.get_local(key)

    def _set(self, key: str, value: bytes) -> None:
        self.memory.set(key, value)
        if self._writer is None or not self._writer.put(key, value):
            self.lower.set(key, value)

    def delete(self, key: str) -> None:
        self.memory.delete(key)
        with self._unqueued(key):
            self.lower.delete(key)

    def clear(self) -> None:
        self.memory.clear()
        with self._unqueued(None):
            self.lower.clear()

    def _unqueued(self, key: str | None) -> AbstractContextManager[object]:
        """Held while `lower` is changed: no deferred write of `key` (of any key when None)
        is waiting, and none is being written."""
        return self._writer.dropped(key) if self._writer is not None else nullcontext()

    def flush(self) -> None:
        """Wait until every deferred write has reached `lower`."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        self.flush()

    def stats(self) -> dict[str, float | int | str]:
        own = super().stats()
        for tier, cache in (("memory", self.memory), ("lower", self.lower)):
            for k, v in cache.stats().items():
                if k != "name":
                    own[f"{tier}_{k}"] = v
        if self._writer is not None:
            own["deferred_writes"] = self._writer.written
            own["deferred_waiting"] = len(self._writer.queue)
        return own


class WriteBehind:
    """A queue of (key, value) writes drained by one daemon thread through `write_many`."""

    def __init__(self, write_many: Callable[[list[tuple[str, bytes]]], None]) -> None:
        self.write_many = write_many
        self.queue: dict[str, bytes] = {}  # newest value per key, oldest key first
        self.writing: dict[str, bytes] = {}  # the batch being written
        self.written = 0
        self._bytes = 0
        self._lock = threading.Condition()
        self._batch_lock = threading.Lock()  # held while a batch is written
        self._thread: threading.Thread | None = None

    def put(self, key: str, value: bytes) -> bool:
        """Queue the write; False when the queue is full (the caller writes it itself)."""
        with self._lock:
            if self._bytes + len(value) > MAX_DEFERRED_BYTES:
                return False
            old = self.queue.pop(key, None)
            self._bytes += len(value) - (len(old) if old is not None else 0)
            self.queue[key] = value
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="glitchzap-cache-writer")
                self._thread.daemon = True
                self._thread.start()
            if len(self.queue) == 1:  # the writer waits for a first write, not for each
                self._lock.notify_all()
        return True

    def pending(self, key: str) -> bytes | None:
        with self._lock:
            value = self.queue.get(key)
            return value if value is not None else self.writing.get(key)

    @contextmanager
    def dropped(self, key: str | None) -> Iterator[None]:
        """Forget the queued write of `key` (of every key when None) and hold the writer off;
        entered once the batch being written is done, so nothing dropped lands afterwards."""
        with self._batch_lock:
            with self._lock:
                for k in list(self.queue) if key is None else [key]:
                    old = self.queue.pop(k, None)
                    self._bytes -= len(old) if old is not None else 0
            yield

    def flush(self, timeout_seconds: float = 30.0) -> None:
        """Wait until the queue is written (at most `timeout_seconds`)."""
        give_up = time.monotonic() + timeout_seconds
        with self._lock:
            while (self.queue or self.writing) and time.monotonic() < give_up:
                self._lock.wait(0.05)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self.queue:
                    self._lock.wait()
            time.sleep(LINGER_SECONDS)  # let a batch gather: fewer wake-ups and commits
            with self._batch_lock:
                with self._lock:
                    self.writing, self.queue, self._bytes = self.queue, {}, 0
                try:
                    self.write_many(list(self.writing.items()))
                except Exception:  # the backends log their own failures; keep on writing
                    log.exception("deferred cache writes failed")
                finally:
                    with self._lock:
                        self.written += len(self.writing)
                        self.writing = {}
                        self._lock.notify_all()
