"""The uvicorn server `glitchzap serve` runs: its configuration, and an HTTP protocol that
closes connections whose request headers do not arrive in time.

uvicorn closes idle keep-alive connections, but has no limit on how long a client may take
to send a request's headers: a client trickling one header byte every few seconds holds a
connection for ever, and a few hundred of them hold every slot (slowloris).
`HeaderTimeoutProtocol` closes such a connection `server.header_timeout_seconds` after it
opened, or after its previous response; once a request's headers are in, the timer is off
(bodies and the work itself have their own limits: `LimitsMiddleware`).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Any

import h11
import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState
from uvicorn.supervisors import Multiprocess

from glitchzap.settings import ServerSettings, Settings

APP = "glitchzap.api.main:create_app"
DEFAULT_HEADER_TIMEOUT_SECONDS = 10.0  # the setting's default, for a plain uvicorn Config
TIMEOUT_BODY = b"The request headers did not arrive in time."
TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\n"
    b"connection: close\r\n\r\n%s" % (len(TIMEOUT_BODY), TIMEOUT_BODY)
)


class ServerConfig(uvicorn.Config):
    """uvicorn's Config plus the header timeout (module-level, so worker processes get it)."""

    def __init__(self, app: Any, *, header_timeout_seconds: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.header_timeout_seconds = header_timeout_seconds


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections whose request headers come in too slowly.

    The timer runs while the server waits for a request line and headers: from the
    connection on, and again from each response on (keep-alive). h11 tells when a request's
    headers are complete: its view of the client leaves the IDLE state.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.header_timeout_seconds: float = getattr(
            config, "header_timeout_seconds", DEFAULT_HEADER_TIMEOUT_SECONDS
        )
        self.header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:  # a request's headers are in (or it failed)
            self._disarm_header_timer()

    def on_response_complete(self) -> None:
        # Armed before the base class handles a pipelined request, whose headers disarm it.
        if not self.transport.is_closing():
            self._arm_header_timer()
        super().on_response_complete()

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        self.header_timer = self.loop.call_later(
            self.header_timeout_seconds, self._on_header_timeout
        )

    def _disarm_header_timer(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _on_header_timeout(self) -> None:
        self.header_timer = None
        if self.transport.is_closing():
            return
        pending, _closed = self.conn.trailing_data
        if pending:  # part of a request came in: say why it ends (idle ones just close)
            self.transport.write(TIMEOUT_RESPONSE)
        self.logger.debug("Closed a connection: request headers not complete in time")
        self.transport.close()


def build_server_config(
    server: ServerSettings,
    *,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
) -> ServerConfig:
    """The uvicorn configuration for the API app under `server` settings (arguments win)."""
    return ServerConfig(
        APP,
        factory=True,
        host=host or server.host,
        port=port or server.port,
        workers=workers or server.workers,
        http=HeaderTimeoutProtocol,
        header_timeout_seconds=server.header_timeout_seconds,
        log_level="info",
    )


def replicas_problem(settings: Settings, workers: int) -> str | None:
    """Why `workers` processes cannot serve under `settings`, or None when they can.

    Uploads are kept by id in the "images" cache, and a client's next request may reach any
    worker: with `cache.backend: memory` each process holds only its own uploads, so an
    `image_id` answers 404 on every other worker. Disk (one data dir) and Redis are shared.
    """
    if workers > 1 and settings.cache.backend == "memory":
        return (
            f"{workers} worker processes cannot share uploads held in memory: set "
            "cache.backend to disk (GLITCHZAP_CACHE__BACKEND=disk, the default) or redis"
        )
    return None


def run_server(config: ServerConfig) -> None:
    """Serve until interrupted, in worker processes when `config.workers` > 1 (as uvicorn.run)."""
    return_freed_memory()
    if config.workers > 1:
        with contextlib.suppress(KeyboardInterrupt):
            Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)


# glibc's mallopt parameters (malloc.h).
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 1 << 20


def return_freed_memory() -> bool:
    """Make freed work memory go back to the OS (glibc only; False elsewhere).

    By default glibc raises its mmap threshold after each large free (up to 32 MB) and gives
    every thread its own arena, so the buffers of finished renders (previews of a few MB,
    decoder blocks) stay in the process: under hostile load RSS grew ~250 MB more than the
    work in flight (bench/soak.py's hostile phase). A fixed 1 MiB threshold and two arenas
    keep RSS close to what is really in use.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(M_ARENA_MAX, 2))
