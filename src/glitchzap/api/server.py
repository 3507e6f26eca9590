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
import logging
import socket
import sys
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import Process

from glitchzap.settings import ServerSettings, Settings

log = logging.getLogger("uvicorn.error")

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


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing connections whose request headers come in too
    slowly (httptools, a C parser: uvicorn's pure-Python h11 cost ~0.4 ms of CPU per request,
    a tenth of a preview's whole cost).

    The timer runs while the server waits for a request line and headers: from the
    connection on, and again from each response on (keep-alive), unless the next request's
    headers are already in (pipelined). The parser's callbacks say when a request begins and
    when its headers are complete.
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
        self.in_headers = False  # a request has begun, its headers are not all in

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.in_headers = True

    def on_headers_complete(self) -> None:
        self.in_headers = False
        self._disarm_header_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        if not self.transport.is_closing() and not self.pipeline:
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
        if self.in_headers:  # part of a request came in: say why it ends (idle ones just close)
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
        access_log=server.access_log,
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
    """Serve until interrupted, in worker processes when `config.workers` > 1 (as uvicorn.run,
    but with a listening socket per worker where the system spreads connections over them)."""
    if config.workers > 1:
        sockets = spread_sockets(config) if SPREAD_CONNECTIONS else None
        supervisor = (
            SpreadMultiprocess(config, sockets)
            if sockets
            else Multiprocess(config, sockets=[config.bind_socket()])
        )
        with contextlib.suppress(KeyboardInterrupt):
            supervisor.run()
        return
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)


# Linux spreads the connections to one address over the sockets bound to it with SO_REUSEPORT
# (by a hash of each connection's addresses); elsewhere the option means something else.
SPREAD_CONNECTIONS = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def spread_sockets(config: uvicorn.Config) -> list[socket.socket]:
    """One listening socket per worker on `config`'s host and port, bound with SO_REUSEPORT
    (exits with uvicorn's start-up failure code when the address cannot be bound)."""
    family = socket.AF_INET6 if config.host and ":" in config.host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        for _ in range(config.workers):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((config.host, config.port))
            sock.set_inheritable(True)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        log.error("cannot listen on %s:%s: %s", config.host, config.port, exc)
        sys.exit(STARTUP_FAILURE)
    log.info("Serving on http://%s:%d with %d worker processes (Press CTRL+C to quit)",
             config.host, config.port, config.workers)  # fmt: skip
    return sockets


class SpreadMultiprocess(Multiprocess):
    """uvicorn's worker supervisor, each worker with a listening socket of its own.

    With uvicorn's one shared socket, whichever worker woke first accepted every connection
    waiting: 64 keep-alive connections opened at once were split 64:0, 53:11 or 63:1, and the
    busier worker then queued requests while the other idled (bench/api.py). The kernel
    spreads connections over SO_REUSEPORT sockets evenly. A worker that dies or is restarted
    is replaced on its own socket (connections sent to it meanwhile wait in its queue).
    uvicorn's supervisor creates workers in three places; each is redone here per socket.
    """

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        self.worker_sockets = sockets

    def spawn(self, index: int) -> Process:
        process = Process(self.config, [self.worker_sockets[index]])
        process.start()
        return process

    def init_processes(self) -> None:
        self.processes = [self.spawn(index) for index in range(self.processes_num)]

    def keep_subprocess_alive(self) -> None:
        for index, process in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # hung or dead
            process.join()
            if process.exitcode == STARTUP_FAILURE:  # the app cannot start: nor will a new one
                log.error("worker process %s failed to start; stopping", process.pid)
                self.should_exit.set()
                return
            log.info("worker process %s died; starting another", process.pid)
            self.processes[index] = self.spawn(index)

    def restart_all(self) -> None:
        """Replace each worker, its replacement serving before the old one stops (SIGHUP)."""
        for index, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self.spawn(index)
            timeout = self.config.timeout_worker_healthcheck
            if not new.wait_until_ready(timeout, self.should_exit):
                new.kill()
                new.join()
                log.error("worker process %s was not ready in time; restart aborted", new.pid)
                return
            old.terminate()
            old.join()
            self.processes[index] = new


# glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
# Blocks from 16 MiB up get a mapping of their own, unmapped when freed: a full-size render's
# buffers (a 12 MP image in float32 is 144 MB) go back to the OS at once. Smaller ones (an 800
# px preview in float32 is 7.7 MB) come from the heap and are reused by the next render.
MMAP_THRESHOLD_BYTES = 16 << 20
# Free memory at the top of the heap kept for the next render rather than given back.
TRIM_THRESHOLD_BYTES = 64 << 20
ARENAS = 2


def return_freed_memory() -> bool:
    """Make freed work memory go back to the OS (glibc only; False elsewhere). Each serving
    process calls it (`create_app`).

    By default glibc raises its mmap threshold after each large free (up to 32 MB) and gives
    every thread its own arena (8 per core), so the buffers of finished full-size renders and
    decoder blocks stayed in the process: under hostile load RSS grew ~250 MB more than the
    work in flight (bench/soak.py's hostile phase). Fixed thresholds and two arenas keep RSS
    close to what is in use. The mmap threshold stays above preview-sized buffers: at 1 MiB,
    every preview buffer was a fresh mapping, and page faults and zeroing tripled the time of
    a 500 px preview (2.2 -> 6.5 ms); a trim threshold under the buffers of one render undid
    half of that again (4.8 ms).
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
    tuned = [
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES),
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES),
        mallopt(M_ARENA_MAX, ARENAS),
    ]
    return all(tuned)
