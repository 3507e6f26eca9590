"""What routes get injected: settings, the monitor, the CPU pool and the image store.

`ApiState` is built once per app in `create_app` and kept on `app.state.api`; the dependency
functions below only fetch pieces of it, so tests can build an app from any Settings.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import cv2
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from glitchzap.api.monitoring import Monitor
from glitchzap.api.store import ImageStore
from glitchzap.background.base import usable_cores
from glitchzap.errors import (
    GlitchzapError,
    ImageTooLarge,
    OperationTimeout,
    ServerBusy,
    Unauthorized,
)
from glitchzap.runtime import Runtime
from glitchzap.settings import Settings

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class CpuPool:
    """A thread pool sized to the cores that admits jobs by count and by memory.

    When `max_pending` jobs are running or queued, `run` refuses at once with `ServerBusy`
    (503 + Retry-After) instead of letting the queue, and the latency, grow without bound.
    Each job states the bytes it will need at its peak; jobs run only while their total stays
    within `memory_bytes` (one that does not fit waits for room until its timeout, then gets
    `ServerBusy`). A job that outlives its timeout keeps its slot until it really ends; jobs
    given a `Deadline` stop by themselves at their next check, and `cancelled` counts them.

    With `inline`, jobs their caller marks light (milliseconds of work: a still preview made
    from pixels in memory) run on the calling event loop itself, when their memory fits now.
    That is for one worker process per core: the process then has no spare core for a pool
    thread, and handing the job over only adds a thread switch and a wait for the GIL (the
    server's throughput on distinct previews rose ~12 % with it, its p99 fell). Heavy jobs still
    go to the pool, so the loop is never held for long.
    """

    MEMORY_POLL_SECONDS = 0.01

    def __init__(
        self,
        workers: int,
        max_pending: int,
        memory_bytes: int | None = None,
        name: str = "glitchzap-cpu",
        inline: bool = False,
    ) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.inline = inline
        self.inlined = 0  # light jobs run on the event loop
        self.max_pending = max(max_pending, self.workers)
        self.memory_bytes = memory_bytes
        self.memory_in_use = 0
        self.cancelled = 0  # jobs stopped by their deadline
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix=name)
        self._slots = threading.BoundedSemaphore(self.max_pending)
        self._pending = 0
        self._lock = threading.Lock()

    @property
    def pending(self) -> int:
        return self._pending

    async def run(
        self,
        timeout_seconds: float,
        fn: Callable[..., T],
        *args: Any,
        memory_bytes: int = 0,
        light: bool = False,
    ) -> T:
        """`fn(*args)` on a pool thread (on this event loop when `light` and the pool runs
        light jobs inline); ServerBusy when full, OperationTimeout when slow."""
        if self.memory_bytes is not None and memory_bytes > self.memory_bytes:
            raise ImageTooLarge(
                f"This operation needs about {memory_bytes / 1e6:,.0f} MB; the server runs at "
                f"most {self.memory_bytes / 1e6:,.0f} MB of work at once "
                "(server.render_memory_bytes)"
            )
        if light and self.inline and self._reserve_now(memory_bytes):
            self.inlined += 1
            try:
                return fn(*args)
            finally:
                with self._lock:
                    self.memory_in_use -= memory_bytes
        if not self._slots.acquire(blocking=False):
            raise ServerBusy(f"The server is busy ({self.max_pending} jobs pending); retry shortly")
        with self._lock:
            self._pending += 1
        started = time.monotonic()
        try:
            await self._reserve(memory_bytes, timeout_seconds)
        except BaseException:
            self._release(None, 0)
            raise
        try:
            future = self._executor.submit(_without_frames, fn, *args)
        except RuntimeError:  # shut down
            with self._lock:
                self.memory_in_use -= memory_bytes
            self._release(None, 0)
            raise
        future.add_done_callback(lambda done: self._release(done, memory_bytes))
        remaining = max(timeout_seconds - (time.monotonic() - started), 0.001)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), remaining)
        except TimeoutError as exc:
            raise OperationTimeout(f"The operation took over {timeout_seconds:g} s") from exc

    def _reserve_now(self, memory_bytes: int) -> bool:
        """Count `memory_bytes` in if they fit beside the running jobs now."""
        with self._lock:
            if self.memory_bytes is None or self.memory_in_use + memory_bytes <= self.memory_bytes:
                self.memory_in_use += memory_bytes
                return True
            return False

    async def _reserve(self, memory_bytes: int, timeout_seconds: float) -> None:
        """Wait until `memory_bytes` fit beside the running jobs, then count them in."""
        if not memory_bytes or self.memory_bytes is None:
            return
        give_up = time.monotonic() + timeout_seconds
        while not self._reserve_now(memory_bytes):
            if time.monotonic() > give_up:
                raise ServerBusy("The server is busy with large images; retry shortly")
            await asyncio.sleep(self.MEMORY_POLL_SECONDS)

    def _release(self, future: Future[Any] | None, memory_bytes: int) -> None:
        with self._lock:
            self._pending -= 1
            if future is not None:
                self.memory_in_use -= memory_bytes
                if not future.cancelled() and isinstance(future.exception(), OperationTimeout):
                    self.cancelled += 1
        self._slots.release()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _without_frames(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)`; a GlitchzapError leaves without its traceback. A job stopped by its
    deadline would otherwise keep its frames, and the arrays they hold (hundreds of MB), alive
    on the unread future until the cyclic garbage collector happens to run."""
    try:
        return fn(*args)
    except GlitchzapError as exc:
        raise exc.with_traceback(None) from None


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
    fetch_pool: CpuPool  # URL fetches: their own threads, so slow origins starve nobody
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

    async def cached(
        self,
        cache_name: str,
        key: str,
        compute: Callable[[], bytes],
        operation: str,
        memory_bytes: int | Callable[[], int] = 0,
        light: bool | Callable[[], bool] = False,
        **extra: Any,
    ) -> tuple[bytes, bool]:
        """`compute()`'s bytes, kept under `key` in the named cache, and whether they were
        there already. The in-process tier is read here, on the event loop; the slower tiers
        (disk, Redis) are read and written on the pool thread beside the computation, so the
        loop never waits on them. Concurrent requests for one key share one computation;
        `operation` is timed (in the monitor) only when it really computes. `memory_bytes`
        (the pool's reservation) may be a function: called only past the in-process tier.
        A `light` computation (a function too) may run on the loop itself (see CpuPool)."""
        cache = self.runtime.cache(cache_name)
        data = cache.get_local(key)
        if data is not None:
            return data, True

        def job() -> tuple[bytes, bool]:
            found = cache.get(key)
            if found is not None:
                return found, True
            value = compute()
            cache.set(key, value)
            return value, False

        async def run() -> tuple[bytes, bool]:
            inline = self.pool.inline and (light() if callable(light) else light)
            # A light job reserves nothing: it runs on the loop, one at a time, in the few MB
            # of a preview (estimating them was a tenth of what the API adds to a render).
            memory = 0 if inline else memory_bytes() if callable(memory_bytes) else memory_bytes
            timeout = self.settings.server.render_timeout_seconds
            with self.monitor.track(operation, **extra) as timing:
                value, hit = await self.pool.run(timeout, job, memory_bytes=memory, light=inline)
                timing.counted = not hit
            return value, hit

        return await self.single_flight.run(key, run)

    @classmethod
    def build(cls, runtime: Runtime) -> ApiState:
        server = runtime.settings.server
        runtime.defer_cache_writes()  # an answer never waits on the disk or Redis
        if server.workers >= usable_cores():
            # A worker process per core: OpenCV's own threads would only oversubscribe the
            # cores (distinct previews/s +8 % with one), as in batch workers.
            cv2.setNumThreads(1)
        store = ImageStore(runtime.cache("images"), runtime.settings.limits, runtime.arrays)
        memory = server.render_memory_bytes or runtime.settings.limits.max_request_memory_bytes
        pool = CpuPool(
            server.cpu_workers,
            server.max_pending,
            memory,
            inline=inline_light_jobs(runtime.settings),
        )
        fetches = CpuPool(server.max_url_fetches, server.max_url_fetches, name="glitchzap-fetch")
        return cls(runtime, pool, fetches, store)


def inline_light_jobs(settings: Settings) -> bool:
    """`server.inline_previews`; when unset, whether there is a worker process per usable core
    and the caches answer without a network round trip (a light job reads the shared tier on
    the loop: disk, not Redis)."""
    server = settings.server
    if server.inline_previews is not None:
        return server.inline_previews
    return server.workers >= usable_cores() and settings.cache.backend != "redis"


async def get_state(request: Request) -> ApiState:
    """The app's state. A coroutine on purpose: FastAPI runs a plain `def` dependency on its
    thread pool, and that hand-off per request was a fifth of the server's time under load."""
    return app_state(request)


def app_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


State = Annotated[ApiState, Depends(get_state)]


async def require_api_key(request: Request) -> None:
    """Refuse the call unless `X-API-Key` matches `server.api_key` (when one is set)."""
    expected = app_state(request).settings.server.api_key
    if not expected:
        return
    given = request.headers.get("x-api-key", "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("Missing or wrong X-API-Key header")


# Models read by `json_body`, by their schema name: the app's OpenAPI lists them (main.py).
JSON_BODY_MODELS: dict[str, type[BaseModel]] = {}


def json_body_openapi(model: type[BaseModel], *headers: tuple[str, str]) -> dict[str, Any]:
    """`openapi_extra` for a route reading its body with `json_body(request, model)` (and the
    optional `(name, description)` headers from `request.headers`): documented as FastAPI
    documents a body parameter and header parameters."""
    JSON_BODY_MODELS[model.__name__] = model
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
        "parameters": [
            {
                "name": name,
                "in": "header",
                "required": False,
                "description": description,
                "schema": {"type": "string", "description": description},
            }
            for name, description in headers
        ],
    }


async def json_body(request: Request, model: type[M]) -> M:
    """The request's JSON body as `model`, parsed and validated in one pass by pydantic.

    For the hottest route (POST /api/render): its body and header parameters cost ~65 us a
    request in FastAPI (json.loads, validation, dependency solving), a fifth of what the API
    adds to a render's own work. Errors are FastAPI's: RequestValidationError (422) for a body
    that is not JSON, not sent as JSON or not valid, located under "body"."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if not (media_type == "application/json" or media_type.endswith("+json")):
        error = {
            "type": "json_type",
            "loc": ("body",),
            "msg": "Send a JSON body (Content-Type: application/json)",
            "input": None,
        }
        raise RequestValidationError([error])
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None
