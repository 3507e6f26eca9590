"""What routes get injected: settings, the monitor, the CPU pool and the image store.

`ApiState` is built once per app in `create_app` and kept on `app.state.api`; the dependency
functions below only fetch pieces of it, so tests can build an app from any Settings.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request

from glitchzap.api.monitoring import Monitor
from glitchzap.api.store import ImageStore
from glitchzap.errors import OperationTimeout, ServerBusy, Unauthorized
from glitchzap.runtime import Runtime
from glitchzap.settings import Settings

T = TypeVar("T")


class CpuPool:
    """A thread pool sized to the cores with a bounded number of pending jobs.

    When `max_pending` jobs are running or queued, `run` refuses at once with `ServerBusy`
    (503 + Retry-After) instead of letting the queue, and the latency, grow without bound.
    A job that outlives its timeout keeps its slot until it really ends, so timeouts cannot
    be used to pile up work.
    """

    def __init__(self, workers: int, max_pending: int) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.max_pending = max(max_pending, self.workers)
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="glitchzap-cpu")
        self._slots = threading.BoundedSemaphore(self.max_pending)
        self._pending = 0
        self._lock = threading.Lock()

    @property
    def pending(self) -> int:
        return self._pending

    async def run(self, timeout_seconds: float, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on a pool thread; ServerBusy when full, OperationTimeout when slow."""
        if not self._slots.acquire(blocking=False):
            raise ServerBusy(f"The server is busy ({self.max_pending} jobs pending); retry shortly")
        with self._lock:
            self._pending += 1
        try:
            future = self._executor.submit(fn, *args)
        except RuntimeError:
            self._release(None)
            raise
        future.add_done_callback(self._release)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout_seconds)
        except TimeoutError as exc:
            raise OperationTimeout(f"The operation took over {timeout_seconds:g} s") from exc

    def _release(self, _future: object) -> None:
        with self._lock:
            self._pending -= 1
        self._slots.release()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class SingleFlight:
    """Concurrent requests for the same key share one computation (20 sliders, one render)."""

    def __init__(self) -> None:
        self._pending: dict[str, asyncio.Future[Any]] = {}

    async def run(self, key: str, compute: Callable[[], Awaitable[T]]) -> T:
        pending = self._pending.get(key)
        if pending is not None:
            result: T = await asyncio.shield(pending)
            return result
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_consume_exception)
        self._pending[key] = future
        try:
            value = await compute()
        except Exception as exc:
            future.set_exception(exc)
            raise
        except BaseException:
            future.cancel()
            raise
        else:
            future.set_result(value)
            return value
        finally:
            del self._pending[key]


def _consume_exception(future: asyncio.Future[Any]) -> None:
    """Mark a shared failure as seen: the waiters (if any) re-raise it themselves."""
    if not future.cancelled():
        future.exception()


@dataclass
class ApiState:
    """The app's runtime (settings, caches, models, templates, monitor) plus what only HTTP
    needs: the CPU pool, the upload store and the single-flight table."""

    runtime: Runtime
    pool: CpuPool
    store: ImageStore
    single_flight: SingleFlight = field(default_factory=SingleFlight)

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def monitor(self) -> Monitor:
        return self.runtime.monitor

    @property
    def ocr_lock(self) -> threading.Lock:
        # RapidOCR's engine is not documented as thread-safe: one OCR run at a time. (The
        # background ModelManager serialises its own session.)
        return self.runtime.ocr_lock

    @classmethod
    def build(cls, runtime: Runtime) -> ApiState:
        server = runtime.settings.server
        store = ImageStore(runtime.cache("images"), runtime.settings.limits, runtime.arrays)
        pool = CpuPool(server.cpu_workers, server.max_pending)
        return cls(runtime, pool, store)


def get_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


State = Annotated[ApiState, Depends(get_state)]


def require_api_key(request: Request) -> None:
    """Refuse the call unless `X-API-Key` matches `server.api_key` (when one is set)."""
    expected = get_state(request).settings.server.api_key
    if not expected:
        return
    given = request.headers.get("x-api-key", "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("Missing or wrong X-API-Key header")
