"""Hostile URLs through every route that takes `url`: SSRF, rebinding, redirects, bad origins.

test_urlfetch.py checks the library; these check what each API route answers. Real sockets
only ever go to 127.0.0.1 (pytest-httpserver, or the raw origin below); every other address
goes through `net_guard`, whose resolver answers from a table and whose connector records and
refuses anything that is not loopback.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from werkzeug import Response

from api_fixtures import NetworkGuard, free_port, make_client
from glitchzap.api import urlfetch
from glitchzap.runtime import configure, restart
from test_api_urlfetch import DNS, SSRF_TABLE

pytest_plugins = ["api_fixtures"]

pytest.importorskip("pytest_httpserver")

# Each route that accepts `url` in a JSON body, with the smallest valid rest of the body.
URL_ROUTES = [
    ("/api/images", {}),
    ("/api/render", {"recipe": {"effects": {"blur": 2}}}),
    ("/api/meme", {"captions": ["hi"], "erase": "never"}),
    ("/api/ocr", {}),
    ("/api/erase-text", {"mode": "never"}),
    ("/api/remove-background", {}),
]

MORE_SPELLINGS = [
    ("HTTP://127.0.0.1/", "upper-case scheme"),
    ("http://[0:0:0:0:0:ffff:127.0.0.1]/", "long IPv4-mapped"),
    ("http://[::1%25eth0]/", "IPv6 with zone id"),
    ("http://127.0.0.1./", "trailing dot"),
    ("http://0x7f.1/", "hex short form"),
    ("http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/", "full-width digits"),
    ("http://evil.test@127.0.0.1/", "userinfo trick"),
    ("data:image/png;base64,iVBORw0KGgo=", "data scheme"),
    ("javascript:alert(1)", "javascript scheme"),
    ("dict://127.0.0.1:11211/stat", "dict scheme"),
    ("http:///etc/passwd", "no host"),
    ("http://[::1/", "broken IPv6 literal"),
    ("http://127.0.0.1:99999/", "port out of range"),
]


@pytest.fixture
def guarded(net_guard: NetworkGuard) -> NetworkGuard:
    net_guard.dns.update(DNS)
    return net_guard


@pytest.mark.parametrize(("path", "rest"), URL_ROUTES, ids=[r[0] for r in URL_ROUTES])
def test_every_ssrf_spelling_is_refused_on_every_route(
    api_client: Any, guarded: NetworkGuard, path: str, rest: dict[str, Any]
) -> None:
    for url, why in [*SSRF_TABLE, *MORE_SPELLINGS]:
        response = api_client.post(path, json={"url": url, **rest})
        outcome = (response.status_code, response.json()["error"])
        assert outcome == (400, "url_refused"), (why, url, response.text)
    assert guarded.connects == []


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com#@127.0.0.1/",
        "http://example.com/?@127.0.0.1",
        "http://example.com/@127.0.0.1",
    ],
)
def test_confusing_urls_connect_where_the_parser_says(
    api_client: Any, guarded: NetworkGuard, url: str
) -> None:
    guarded.dns["example.com"] = ["93.184.216.34"]
    response = api_client.post("/api/images", json={"url": url})
    # The guard refuses the public address (tests never leave loopback): a fetch failure.
    assert (response.status_code, response.json()["error"]) == (400, "url_fetch_failed")
    assert guarded.connects == [("93.184.216.34", 80)]


def test_unresolvable_and_empty_answers(api_client: Any, guarded: NetworkGuard) -> None:
    guarded.dns["empty.test"] = []
    for host in ("no-such-host.test", "empty.test"):
        response = api_client.post("/api/images", json={"url": f"http://{host}/a.png"})
        assert (response.status_code, response.json()["error"]) == (400, "url_fetch_failed")
    assert guarded.connects == []


def test_dns_rebinding_cannot_redirect_the_connection(
    api_client: Any, net_guard: NetworkGuard, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first answer is public and passes; a later one would say loopback. We connect to
    the address we checked (the guard refuses it, as it refuses every non-loopback address)
    and never ask DNS again."""
    answers = iter([["93.184.216.34"], ["127.0.0.1"], ["127.0.0.1"]])
    checked = net_guard.resolve

    def rebinding(host: str, port: int) -> list[Any]:
        net_guard.dns[host] = next(answers)
        return checked(host, port)

    monkeypatch.setattr(urlfetch, "resolve", rebinding)
    response = api_client.post("/api/images", json={"url": "http://rebind.test/a.png"})
    assert (response.status_code, response.json()["error"]) == (400, "url_fetch_failed")
    assert net_guard.lookups == ["rebind.test"]
    assert net_guard.connects == [("93.184.216.34", 80)]


# --- a loopback origin that is allowed, misbehaving in every way -----------------------------


@pytest.fixture
def fetch_client(tmp_path: Any, net_guard: NetworkGuard) -> Iterator[Any]:
    """An app that may fetch from 127.0.0.1, with a 1 s fetch timeout and a 200 KB cap."""
    settings = configure(
        None,
        data_dir=tmp_path,
        limits={"max_bytes": 200_000},
        server={"url_allowlist": ["127.0.0.1/32"], "url_timeout_seconds": 1.0},
    ).settings
    restart()
    with make_client(settings) as client:
        yield client
    restart()


def fetch(client: Any, url: str) -> tuple[int, str]:
    response = client.post("/api/images", json={"url": url})
    return response.status_code, response.json().get("error", "ok")


def test_an_allowlisted_port_is_the_only_port_reached(
    tmp_path: Any, net_guard: NetworkGuard, httpserver: Any, api_chelsea_jpeg: bytes
) -> None:
    """`127.0.0.1:PORT` lets URL input reach that one service, not the rest of the host."""
    httpserver.expect_request("/cat").respond_with_data(api_chelsea_jpeg)
    allowlist = [f"127.0.0.1:{httpserver.port}"]
    settings = configure(None, data_dir=tmp_path, server={"url_allowlist": allowlist}).settings
    restart()
    with make_client(settings) as client:
        assert fetch(client, httpserver.url_for("/cat")) == (200, "ok")
        other = free_port()
        for url in (f"http://127.0.0.1:{other}/cat", "http://127.0.0.1/cat"):
            assert fetch(client, url) == (400, "url_refused"), url
    restart()
    assert net_guard.connects == [("127.0.0.1", httpserver.port)]


def test_html_and_error_pages_labelled_as_images(
    fetch_client: Any, httpserver: Any, api_chelsea_jpeg: bytes
) -> None:
    serve = httpserver.expect_request
    serve("/html").respond_with_data(b"<html><body>login</body></html>", content_type="image/png")
    serve("/svg").respond_with_data(b"<svg xmlns='http://www.w3.org/2000/svg'/>", 200,
                                    content_type="image/png")  # fmt: skip
    serve("/404").respond_with_data(api_chelsea_jpeg, status=404, content_type="image/jpeg")
    serve("/500").respond_with_data(b"<h1>oops</h1>", status=500, content_type="image/png")
    serve("/empty").respond_with_data(b"", content_type="image/png")
    serve("/redirect-nowhere").respond_with_data(b"", status=302)
    assert fetch(fetch_client, httpserver.url_for("/html")) == (400, "unreadable_image")
    assert fetch(fetch_client, httpserver.url_for("/svg")) == (415, "unsupported_format")
    assert fetch(fetch_client, httpserver.url_for("/404")) == (400, "url_fetch_failed")
    assert fetch(fetch_client, httpserver.url_for("/500")) == (400, "url_fetch_failed")
    assert fetch(fetch_client, httpserver.url_for("/empty")) == (400, "unreadable_image")
    assert fetch(fetch_client, httpserver.url_for("/redirect-nowhere")) == (400, "url_fetch_failed")


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:10.0.0.1]/",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_FLUSHALL",
        "http://user:pw@127.0.0.1/",
    ],
)
def test_redirects_to_forbidden_places(
    fetch_client: Any, net_guard: NetworkGuard, httpserver: Any, location: str
) -> None:
    httpserver.expect_request("/go").respond_with_data(
        b"", status=302, headers={"Location": location}
    )
    assert fetch(fetch_client, httpserver.url_for("/go")) == (400, "url_refused")
    assert net_guard.refused == []  # refused by the check, not by the guard


def test_redirect_loop(fetch_client: Any, httpserver: Any) -> None:
    httpserver.expect_request("/loop").respond_with_data(
        b"", status=301, headers={"Location": "/loop"}
    )
    assert fetch(fetch_client, httpserver.url_for("/loop")) == (400, "url_fetch_failed")


def test_endless_fast_origin_is_cut_at_the_cap(fetch_client: Any, httpserver: Any) -> None:
    def endless() -> Iterator[bytes]:
        while True:
            yield b"\x89PNG" * 16_384

    httpserver.expect_request("/endless").respond_with_response(Response(endless()))
    assert fetch(fetch_client, httpserver.url_for("/endless")) == (413, "image_too_large")


def test_declared_length_over_the_cap(fetch_client: Any, httpserver: Any) -> None:
    httpserver.expect_request("/big").respond_with_data(b"\x00" * 300_000)
    assert fetch(fetch_client, httpserver.url_for("/big")) == (413, "image_too_large")


Behaviour = Callable[[socket.socket], None]


@contextlib.contextmanager
def raw_origin(behaviour: Behaviour) -> Iterator[int]:
    """A one-connection-at-a-time TCP origin on 127.0.0.1 that runs `behaviour` per client."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn, contextlib.suppress(OSError):
                behaviour(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(10)
        server.close()


def _read_request(conn: socket.socket) -> None:
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk


def trickle(conn: socket.socket) -> None:
    """Headers, then one byte a second for up to 5 s (the client must give up first)."""
    _read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 100\r\n\r\n")
    for byte in b"\x89PNG\r":
        conn.sendall(bytes([byte]))
        time.sleep(1)


def silent(conn: socket.socket) -> None:
    """Accepts, reads the request, never answers (for up to 3 s)."""
    _read_request(conn)
    time.sleep(3)


def slow_headers(conn: socket.socket) -> None:
    """One header byte a second."""
    _read_request(conn)
    for byte in b"HTTP/1.1 200 OK\r\n":
        conn.sendall(bytes([byte]))
        time.sleep(1)


def short_body(conn: socket.socket) -> None:
    """Promises 10,000 bytes, sends 10, hangs up."""
    _read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n\x89PNG\r\n\x1a\n\x00\x00")


def garbage_status(conn: socket.socket) -> None:
    _read_request(conn)
    conn.sendall(b"NOT-HTTP garbage\r\n\r\n")


def huge_header(conn: socket.socket) -> None:
    _read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        (trickle, (400, "url_fetch_failed")),
        (silent, (400, "url_fetch_failed")),
        (slow_headers, (400, "url_fetch_failed")),
        (short_body, (400, "url_fetch_failed")),
        (garbage_status, (400, "url_fetch_failed")),
        (huge_header, (400, "url_fetch_failed")),
    ],
    ids=["1-byte-per-second", "never-answers", "slow-headers", "short-body", "not-http",
         "huge-header"],
)  # fmt: skip
def test_misbehaving_origins(
    fetch_client: Any, net_guard: NetworkGuard, behaviour: Behaviour, expected: tuple[int, str]
) -> None:
    with raw_origin(behaviour) as port:
        assert fetch(fetch_client, f"http://127.0.0.1:{port}/a.png") == expected
        assert fetch_client.get("/api/health").status_code == 200
    assert all(host == "127.0.0.1" for host, _ in net_guard.connects)
