"""Slow origins meet one deadline, and slow fetches cannot take the rest of the API down.

The origin below listens on 127.0.0.1 only and gives each connection its own thread. `/drip-
headers` answers a status line and an unfinished header, then one more header byte a second
until the client hangs up (the attack that used to hold a fetch, and a worker thread, for
ever); `/drip-body` does the same inside a body. The origin records when the client closed
each connection, so the tests see the connection dropped, not only the error. Every loop is
bounded in time, and the origin's threads stop with the test (a handler still waiting for a
request gives up after 5 s).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from api_fixtures import NetworkGuard, make_client, noisy_image
from glitchzap.api import urlfetch
from glitchzap.api.urlfetch import UrlPolicy, fetch_bytes
from glitchzap.errors import UrlFetchFailed
from glitchzap.io import encode_image
from glitchzap.runtime import configure, restart

pytest_plugins = ["api_fixtures"]

DEADLINE_SECONDS = 2.0
# Generous: a loaded CI machine may be late, but a fetch that ignores the deadline is not
# "late", it runs until the origin gives up (MAX_DRIP_SECONDS).
SLACK_SECONDS = 3.0
# How soon after the fetch ends the origin must see the connection closed.
CLOSE_SECONDS = 1.0
MAX_DRIP_SECONDS = 12.0  # the origin's own bound: longer than any test waits
POLL_SECONDS = 0.05
PNG = encode_image(noisy_image(), "png")

HEAD = {
    "/drip-headers": b"HTTP/1.1 200 OK\r\nX-Slow: ",
    "/drip-body": b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 100\r\n\r\n",
}


@dataclass
class Visit:
    path: str
    closed_by_client_at: float | None = None


class SlowOrigin:
    """A TCP origin on 127.0.0.1 that drips, redirects slowly or serves a PNG, by path
    (over TLS when given a server context)."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(POLL_SECONDS)
        self.port = int(self.listener.getsockname()[1])
        self.visits: list[Visit] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._accept, daemon=True)]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for_visits(self, count: int, timeout: float = 5.0) -> None:
        give_up = time.monotonic() + timeout
        while len(self.visits) < count and time.monotonic() < give_up:
            time.sleep(POLL_SECONDS)
        assert len(self.visits) >= count, f"the origin saw {len(self.visits)} of {count} clients"

    def _accept(self) -> None:
        for _ in range(int(30 / POLL_SECONDS)):  # at most 30 s, normally stopped far sooner
            if self.stop.is_set():
                return
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            if self.tls is None:
                self._answer(conn)
                return
            conn.settimeout(5)
            with self.tls.wrap_socket(conn, server_side=True) as tls:
                self._answer(tls)

    def _answer(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            visit = Visit(_read_request_path(conn))
            self.visits.append(visit)
            if visit.path in HEAD:
                conn.sendall(HEAD[visit.path])
                self._drip(conn, visit)
            elif visit.path == "/hop":
                self.stop.wait(0.6)
                conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /hop\r\nContent-Length: 0\r\n\r\n")
            else:
                head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(PNG)}\r\n\r\n".encode()
                conn.sendall(head + PNG)

    def _drip(self, conn: socket.socket, visit: Visit) -> None:
        """One byte a second until the client closes (seen at once: recv returns b'')."""
        conn.settimeout(POLL_SECONDS)
        started = time.monotonic()
        next_byte = started + 1.0
        while time.monotonic() - started < MAX_DRIP_SECONDS and not self.stop.is_set():
            try:
                if conn.recv(1) == b"":
                    break
            except TimeoutError:
                if time.monotonic() >= next_byte:
                    conn.sendall(b"a")
                    next_byte += 1.0
            except OSError:  # reset by the client: closed too
                break
        else:
            return  # the client never hung up
        visit.closed_by_client_at = time.monotonic()

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(5)
        self.listener.close()


def _read_request_path(conn: socket.socket) -> str:
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    parts = data.split(b" ", 2)
    return parts[1].decode("latin-1") if len(parts) > 2 else ""  # a TLS hello is no request


@pytest.fixture
def origin(net_guard: NetworkGuard) -> Iterator[SlowOrigin]:
    """The slow origin, with urlfetch kept off DNS and off every non-loopback address."""
    server = SlowOrigin()
    server.threads[0].start()
    yield server
    server.close()


POLICY = UrlPolicy(allowlist=("127.0.0.1",), timeout_seconds=DEADLINE_SECONDS)


def timed(call: Callable[[], Any]) -> tuple[float, BaseException | None]:
    """Seconds `call` took, and what it raised."""
    started = time.monotonic()
    try:
        call()
    except Exception as exc:
        return time.monotonic() - started, exc
    return time.monotonic() - started, None


def assert_cut_off(origin: SlowOrigin, elapsed: float, ended_at: float) -> None:
    assert DEADLINE_SECONDS - 0.1 <= elapsed < DEADLINE_SECONDS + SLACK_SECONDS, elapsed
    give_up = time.monotonic() + CLOSE_SECONDS
    while origin.visits[-1].closed_by_client_at is None and time.monotonic() < give_up:
        time.sleep(POLL_SECONDS)
    closed_at = origin.visits[-1].closed_by_client_at
    assert closed_at is not None, "the origin never saw the connection closed"
    assert closed_at - ended_at < CLOSE_SECONDS, closed_at - ended_at


@pytest.mark.parametrize("path", ["/drip-headers", "/drip-body"])
def test_a_dripping_origin_is_cut_off_at_the_deadline(origin: SlowOrigin, path: str) -> None:
    elapsed, error = timed(lambda: fetch_bytes(origin.url(path), POLICY))
    assert isinstance(error, UrlFetchFailed), error
    assert str(error) == f"Timed out after {DEADLINE_SECONDS:g} s fetching from 127.0.0.1"
    assert_cut_off(origin, elapsed, time.monotonic())


def test_slow_dns_counts_against_the_deadline(
    net_guard: NetworkGuard, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = threading.Event()

    def slow_resolve(host: str, port: int) -> list[Any]:
        answer.wait(MAX_DRIP_SECONDS)  # released at the end of the test
        return net_guard.resolve(host, port)

    monkeypatch.setattr(urlfetch, "resolve", slow_resolve)
    net_guard.dns["slow-dns.test"] = ["127.0.0.1"]
    policy = UrlPolicy(allowlist=("slow-dns.test",), timeout_seconds=DEADLINE_SECONDS)
    try:
        elapsed, error = timed(lambda: fetch_bytes("http://slow-dns.test/a.png", policy))
    finally:
        answer.set()
    assert isinstance(error, UrlFetchFailed) and "Timed out" in str(error), error
    assert DEADLINE_SECONDS - 0.1 <= elapsed < DEADLINE_SECONDS + SLACK_SECONDS, elapsed
    assert net_guard.connects == []


def test_slow_connect_counts_against_the_deadline(net_guard: NetworkGuard) -> None:
    """A listener whose accept queue is full: the kernel drops our SYN, connect() hangs."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=1):  # fills the queue
            url = f"http://127.0.0.1:{port}/a.png"
            elapsed, error = timed(lambda: fetch_bytes(url, POLICY))
    assert isinstance(error, UrlFetchFailed) and "Timed out" in str(error), error
    assert DEADLINE_SECONDS - 0.1 <= elapsed < DEADLINE_SECONDS + SLACK_SECONDS, elapsed


def test_slow_redirects_share_one_deadline(origin: SlowOrigin) -> None:
    """Each hop takes 0.6 s: the fifth would pass a per-hop timeout, never the fetch's."""
    policy = UrlPolicy(("127.0.0.1",), timeout_seconds=DEADLINE_SECONDS, max_redirects=20)
    elapsed, error = timed(lambda: fetch_bytes(origin.url("/hop"), policy))
    assert isinstance(error, UrlFetchFailed) and "Timed out" in str(error), error
    assert elapsed < DEADLINE_SECONDS + SLACK_SECONDS, elapsed
    assert 2 <= len(origin.visits) <= 5


# --- the same over TLS (a loopback origin with a throwaway certificate for tls.test) -------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: Any) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed (it makes the test certificate)")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subject = ["-subj", "/CN=tls.test", "-addext", "subjectAltName=DNS:tls.test"]
    command = [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    subprocess.run(
        [*command, "-keyout", str(key), "-out", str(cert), *subject],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@pytest.fixture
def tls_origin(
    net_guard: NetworkGuard, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[SlowOrigin]:
    """The slow origin behind TLS as `tls.test` (resolving to 127.0.0.1), trusted by urlfetch."""
    cert, key = certificate
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))
    monkeypatch.setattr(urlfetch, "tls_context", lambda: trusting)
    net_guard.dns["tls.test"] = ["127.0.0.1"]
    server = SlowOrigin(server_context)
    server.threads[0].start()
    yield server
    server.close()


TLS_POLICY = UrlPolicy(allowlist=("tls.test",), timeout_seconds=DEADLINE_SECONDS)


def test_an_https_origin_is_fetched(tls_origin: SlowOrigin) -> None:
    assert fetch_bytes(f"https://tls.test:{tls_origin.port}/ok", TLS_POLICY) == PNG


@pytest.mark.parametrize("path", ["/drip-headers", "/drip-body"])
def test_a_dripping_https_origin_is_cut_off_at_the_deadline(
    tls_origin: SlowOrigin, path: str
) -> None:
    url = f"https://tls.test:{tls_origin.port}{path}"
    elapsed, error = timed(lambda: fetch_bytes(url, TLS_POLICY))
    assert isinstance(error, UrlFetchFailed), error
    assert str(error) == f"Timed out after {DEADLINE_SECONDS:g} s fetching from tls.test"
    assert_cut_off(tls_origin, elapsed, time.monotonic())


def test_a_stalled_tls_handshake_is_cut_off_at_the_deadline(origin: SlowOrigin) -> None:
    """A plain origin that never answers the ClientHello (it waits for an HTTP request)."""
    url = f"https://127.0.0.1:{origin.port}/a.png"
    elapsed, error = timed(lambda: fetch_bytes(url, POLICY))
    assert isinstance(error, UrlFetchFailed) and "Timed out" in str(error), error
    assert DEADLINE_SECONDS - 0.1 <= elapsed < DEADLINE_SECONDS + SLACK_SECONDS, elapsed


# --- through the API ----------------------------------------------------------------------


@pytest.fixture
def api(tmp_path: Any, origin: SlowOrigin) -> Iterator[Any]:
    """An app that may fetch from 127.0.0.1, with a 2 s deadline and two fetches at a time."""
    server = {
        "url_allowlist": ["127.0.0.1"],
        "url_timeout_seconds": DEADLINE_SECONDS,
        "max_url_fetches": 2,
    }
    settings = configure(None, data_dir=tmp_path, server=server).settings
    restart()
    with make_client(settings) as client:
        yield client
    restart()


def post_url(client: Any, url: str) -> Any:
    return client.post("/api/images", json={"url": url})


def test_a_header_drip_through_the_api_answers_url_fetch_failed(
    api: Any, origin: SlowOrigin
) -> None:
    started = time.monotonic()
    response = post_url(api, origin.url("/drip-headers"))
    elapsed = time.monotonic() - started
    assert (response.status_code, response.json()["error"]) == (400, "url_fetch_failed")
    assert "Timed out after 2 s" in response.json()["message"]
    assert_cut_off(origin, elapsed, time.monotonic())


def test_url_fetches_are_bounded_and_the_api_keeps_answering(api: Any, origin: SlowOrigin) -> None:
    answers: list[Any] = []
    slow = [
        threading.Thread(target=lambda: answers.append(post_url(api, origin.url("/drip-headers"))))
        for _ in range(2)
    ]
    for thread in slow:
        thread.start()
    try:
        origin.wait_for_visits(2)
        elapsed, _ = timed(lambda: answers.append(post_url(api, origin.url("/ok"))))
        refused = answers.pop()
        assert (refused.status_code, refused.json()["error"]) == (503, "busy"), refused.text
        assert refused.headers["Retry-After"] == "1"
        assert elapsed < 1.0, elapsed
        elapsed, _ = timed(lambda: answers.append(api.get("/api/health")))
        assert answers.pop().status_code == 200
        assert elapsed < 1.0, elapsed
        assert len(origin.visits) == 2  # the refused fetch never connected
    finally:
        for thread in slow:
            thread.join(DEADLINE_SECONDS + SLACK_SECONDS)
    assert [(r.status_code, r.json()["error"]) for r in answers] == [(400, "url_fetch_failed")] * 2
    admitted = post_url(api, origin.url("/ok"))  # the slots were given back
    assert admitted.status_code == 200, admitted.text
