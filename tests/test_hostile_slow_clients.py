"""Slow clients against the real server (`glitchzap serve` in a subprocess): connections whose
request headers never finish are closed after `server.header_timeout_seconds`, while complete
requests, keep-alive clients and slow bodies are served.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from api_fixtures import free_port

pytest_plugins = ["api_fixtures"]

LAUNCH = (
    "import sys; from glitchzap.cli import app, _register_all; _register_all(); app(sys.argv[1:])"
)
HEADER_TIMEOUT_SECONDS = 2.0
CLOSED_WITHIN_SECONDS = 6.0  # the timeout plus slack for a loaded machine
TRICKLERS = 20
PARTIAL_REQUEST = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
HEALTH_REQUEST = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a `glitchzap serve` process with a 2 s header timeout."""
    folder = tmp_path_factory.mktemp("slow-clients")
    port = free_port()
    env = {
        **os.environ,
        "GLITCHZAP_DATA_DIR": str(folder),
        "GLITCHZAP_SERVER__HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT_SECONDS),
    }
    log_path = folder / "server.log"
    with log_path.open("wb") as log:  # a file, not a pipe: a full pipe would stall the server
        process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, process, log_path)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


def wait_until_up(base: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    pytest.fail(f"the server did not start:\n{log_path.read_text(errors='replace')}")


def connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    """(status, body) of one HTTP/1.1 response with a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed mid-response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    length = int({k.lower(): v for k, v in headers.items()}["content-length"])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    return int(lines[0].split()[1]), body


def send_one_byte(socks: list[socket.socket], closed: dict[int, float], since: float) -> None:
    """One more header byte to every socket the server has not closed."""
    for i, sock in enumerate(socks):
        if i not in closed:
            try:
                sock.send(b"a")
            except OSError:
                closed[i] = time.monotonic() - since


def read_for(
    socks: list[socket.socket],
    answers: list[bytes],
    closed: dict[int, float],
    since: float,
    seconds: float,
) -> None:
    """Collect what comes back for `seconds`; `closed[i]`: seconds from `since` to the close."""
    until = time.monotonic() + seconds
    while (remaining := until - time.monotonic()) > 0 and len(closed) < len(socks):
        open_ = [sock for i, sock in enumerate(socks) if i not in closed]
        readable, _, _ = select.select(open_, [], [], remaining)
        for sock in readable:
            i = socks.index(sock)
            try:
                chunk = sock.recv(65536)
            except ConnectionError:
                chunk = b""
            if chunk:
                answers[i] += chunk
            else:
                closed[i] = time.monotonic() - since


def trickle(
    socks: list[socket.socket], since: float, each_second: Callable[[], None] = lambda: None
) -> tuple[dict[int, float], list[bytes]]:
    """({socket index: seconds from `since` until the server closed it}, what each received):
    one byte a second to each open socket for at most CLOSED_WITHIN_SECONDS.

    Bytes go out half a second off the timeout's whole seconds, so none crosses the close
    (a byte landing on a closed socket resets it, and the 408 before it may be lost)."""
    answers = [b""] * len(socks)
    closed: dict[int, float] = {}
    read_for(socks, answers, closed, since, 0.5)
    while len(closed) < len(socks) and time.monotonic() - since < CLOSED_WITHIN_SECONDS:
        each_second()
        send_one_byte(socks, closed, since)
        read_for(socks, answers, closed, since, 1.0)
    return closed, answers


def test_trickled_headers_are_cut_while_others_are_served(server: str) -> None:
    health: list[int] = []
    with contextlib.ExitStack() as stack, httpx.Client(timeout=5) as normal:
        socks = [stack.enter_context(connect(server)) for _ in range(TRICKLERS)]
        opened = time.monotonic()
        for sock in socks:
            sock.sendall(PARTIAL_REQUEST)

        def check_health() -> None:  # a normal client, served all along
            health.append(normal.get(f"{server}/api/health").status_code)

        closed, answers = trickle(socks, opened, check_health)
    assert len(closed) == TRICKLERS, (
        f"{TRICKLERS - len(closed)} still open after {CLOSED_WITHIN_SECONDS} s"
    )
    assert min(closed.values()) >= HEADER_TIMEOUT_SECONDS - 0.5
    assert max(closed.values()) < CLOSED_WITHIN_SECONDS
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers), set(answers)
    assert len(health) >= 2 and set(health) == {200}, health


def test_keep_alive_client_is_not_cut_but_a_trickled_next_request_is(server: str) -> None:
    with connect(server) as sock:
        start = time.monotonic()
        served = 0
        while time.monotonic() - start < 2 * HEADER_TIMEOUT_SECONDS:  # longer than the timeout
            sock.sendall(HEALTH_REQUEST)
            assert read_response(sock)[0] == 200
            served += 1
            time.sleep(0.4)
        assert served >= 5
        # The timer starts again at each response: a next request trickled is cut like any.
        sock.sendall(HEALTH_REQUEST)
        assert read_response(sock)[0] == 200
        answered = time.monotonic()
        sock.sendall(PARTIAL_REQUEST)
        closed, answers = trickle([sock], answered)
    assert closed, f"still open after {CLOSED_WITHIN_SECONDS} s"
    assert HEADER_TIMEOUT_SECONDS - 0.5 <= closed[0] < CLOSED_WITHIN_SECONDS
    assert answers[0].startswith(b"HTTP/1.1 408 ")


def test_slow_body_after_complete_headers_is_served(server: str) -> None:
    body = b'{"url": ""}'  # invalid (empty url): answered 422 once the body is in
    head = (
        b"POST /api/images HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    with connect(server) as sock:
        sock.sendall(head)
        start = time.monotonic()
        for i in range(len(body)):  # 11 bytes, 0.3 s apart: slower than the header timeout
            sock.sendall(body[i : i + 1])
            time.sleep(0.3)
        status, answer = read_response(sock)
    assert time.monotonic() - start > HEADER_TIMEOUT_SECONDS
    assert status == 422, answer


def test_pipelined_requests_are_all_answered_and_then_the_timer_runs(server: str) -> None:
    """Three requests in one write (HTTP/1.1 pipelining): the later ones' headers are in
    while the first is answered, so none is cut; once all are answered, an idle connection
    is closed after the header timeout without a 408 (nothing of a request came in)."""
    with connect(server) as sock:
        sock.sendall(HEALTH_REQUEST * 3)
        assert [read_response(sock)[0] for _ in range(3)] == [200, 200, 200]
        answered = time.monotonic()
        closed: dict[int, float] = {}
        answers = [b""]
        read_for([sock], answers, closed, answered, CLOSED_WITHIN_SECONDS)
    assert closed, f"still open after {CLOSED_WITHIN_SECONDS} s"
    assert HEADER_TIMEOUT_SECONDS - 0.5 <= closed[0] < CLOSED_WITHIN_SECONDS
    assert answers == [b""]
