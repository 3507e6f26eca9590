"""SSRF-safe URL fetching: every private spelling refused, loopback reached only on purpose.

Every test runs under the `net_guard` guard: DNS answers come from a table and any connection
to a non-loopback address is refused and recorded, so a broken check cannot reach the network.
"""

from __future__ import annotations

import ipaddress
import time

import pytest
from werkzeug import Request, Response

from api_fixtures import NetworkGuard, free_port
from glitchzap.api.urlfetch import (
    UrlPolicy,
    check_url,
    fetch_bytes,
    literal_address,
    parse_allow_entry,
    parse_ipv4_loose,
    refusal_reason,
)
from glitchzap.errors import ImageTooLarge, UrlFetchFailed, UrlRefused

pytest_plugins = ["api_fixtures"]

pytest.importorskip("pytest_httpserver")

DNS = {
    "localhost": ["127.0.0.1"],
    "metadata.google.internal": ["169.254.169.254"],
    "rebind.test": ["93.184.216.34", "10.0.0.5"],  # one public answer does not make it safe
    "intranet.test": ["10.1.2.3"],
    "six.test": ["::1"],
}

SSRF_TABLE = [
    ("http://127.0.0.1/", "loopback"),
    ("http://localhost/", "host resolving to loopback"),
    ("http://2130706433/", "decimal"),
    ("http://0x7f000001/", "hex"),
    ("http://0x7f.0x0.0x0.0x1/", "hex dotted"),
    ("http://0177.0.0.1/", "octal"),
    ("http://127.000.000.001/", "zero padded"),
    ("http://127.1/", "short form"),
    ("http://10.1/", "short form private"),
    ("http://0/", "zero = unspecified"),
    ("http://0.0.0.0:8080/", "unspecified"),
    ("http://[::]/", "IPv6 unspecified"),
    ("http://[::1]/", "IPv6 loopback"),
    ("http://six.test/", "host resolving to ::1"),
    ("http://[::ffff:127.0.0.1]/", "IPv4-mapped"),
    ("http://[::ffff:7f00:1]/", "IPv4-mapped hex"),
    ("http://[::127.0.0.1]/", "IPv4-compatible"),
    ("http://[2002:7f00:1::]/", "6to4 of loopback"),
    ("http://[2002:a9fe:a9fe::1]/", "6to4 of metadata"),
    ("http://[64:ff9b::7f00:1]/", "NAT64 of loopback"),
    ("http://[64:ff9b::a9fe:a9fe]/", "NAT64 of metadata"),
    ("http://10.0.0.1/", "private 10/8"),
    ("http://172.16.5.4/", "private 172.16/12"),
    ("http://192.168.1.1/", "private 192.168/16"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://[::ffff:169.254.169.254]/", "metadata, IPv4-mapped"),
    ("http://metadata.google.internal/", "metadata host name"),
    ("http://[fd00:ec2::254]/", "AWS IPv6 metadata"),
    ("http://[fe80::1]/", "IPv6 link-local"),
    ("http://[fc00::1]/", "IPv6 unique local"),
    ("http://100.64.0.1/", "CGNAT"),
    ("http://100.127.255.254/", "CGNAT top"),
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "IPv6 multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://255.255.255.255/", "broadcast"),
    ("http://192.0.0.170/", "IETF protocol assignments"),
    ("http://rebind.test/", "one private answer among public ones"),
    ("http://intranet.test/", "intranet name"),
    ("file:///etc/passwd", "file scheme"),
    ("ftp://example.com/image.png", "ftp scheme"),
    ("gopher://127.0.0.1:6379/_INFO", "gopher scheme"),
    ("http://user:secret@example.com/", "credentials"),
    ("//example.com/image.png", "no scheme"),
]


@pytest.mark.parametrize(("url", "why"), SSRF_TABLE, ids=[w for _, w in SSRF_TABLE])
def test_ssrf_table_is_refused_without_connecting(
    net_guard: NetworkGuard, url: str, why: str
) -> None:
    net_guard.dns.update(DNS)
    with pytest.raises(UrlRefused):
        fetch_bytes(url, UrlPolicy())
    assert net_guard.connects == [], f"{why}: a connection was attempted"


def test_table_covers_enough_spellings() -> None:
    assert len(SSRF_TABLE) >= 20


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.01", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("192.168.257", "192.168.1.1"),
        ("1.2.3.4", "1.2.3.4"),
        ("256.1.1.1", None),
        ("1.2.3.4.5", None),
        ("0x", "0.0.0.0"),
        ("example.com", None),
        ("1..2", None),
        ("08.1.1.1", None),  # 08 is not octal
    ],
)
def test_parse_ipv4_loose(host: str, expected: str | None) -> None:
    parsed = parse_ipv4_loose(host)
    assert (str(parsed) if parsed else None) == expected


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("::ffff:8.8.8.8", True),
        ("2002:808:808::", True),  # 6to4 of a public address
        ("64:ff9b::808:808", True),  # NAT64 of a public address
        ("64:ff9b:1::1", False),  # local-use NAT64
        ("198.18.0.1", False),
        ("100.64.0.0", False),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
    ],
)
def test_refusal_reason(address: str, public: bool) -> None:
    ip = literal_address(address)
    assert ip is not None
    assert (refusal_reason(ip) is None) == public


def test_public_address_is_connected_by_pinned_ip(net_guard: NetworkGuard) -> None:
    """A public answer passes the check, and the connection goes to exactly that address."""
    net_guard.dns["public.test"] = ["93.184.216.34"]
    with pytest.raises(UrlFetchFailed):
        fetch_bytes("http://public.test/cat.png", UrlPolicy())  # the guard refuses the socket
    assert net_guard.connects == [("93.184.216.34", 80)]


# --- real fetches from a loopback server, allowed by the allowlist -----------------------------

LOOPBACK_ALLOWED = UrlPolicy(allowlist=("127.0.0.1/32",), max_bytes=10_000, timeout_seconds=2)


def test_fetch_from_allowlisted_loopback(
    net_guard: NetworkGuard, httpserver, api_astronaut_png
) -> None:  # type: ignore[no-untyped-def]
    httpserver.expect_request("/a.png").respond_with_data(
        api_astronaut_png, content_type="image/png"
    )
    policy = UrlPolicy(allowlist=("127.0.0.1/32",), max_bytes=len(api_astronaut_png))
    assert fetch_bytes(httpserver.url_for("/a.png"), policy) == api_astronaut_png
    assert all(ipaddress.ip_address(host).is_loopback for host, _ in net_guard.connects)


def test_host_name_is_sent_while_the_ip_is_pinned(net_guard: NetworkGuard, httpserver) -> None:  # type: ignore[no-untyped-def]
    net_guard.dns["studio.test"] = ["127.0.0.1"]
    seen: list[str] = []

    def handler(request: Request) -> Response:
        seen.append(request.headers["Host"])
        return Response(b"ok")

    httpserver.expect_request("/x").respond_with_handler(handler)
    url = f"http://studio.test:{httpserver.port}/x"
    assert fetch_bytes(url, UrlPolicy(allowlist=("studio.test",))) == b"ok"
    assert seen == [f"studio.test:{httpserver.port}"]
    assert net_guard.connects == [("127.0.0.1", httpserver.port)]


def test_loopback_without_allowlist_is_refused(net_guard: NetworkGuard, httpserver) -> None:  # type: ignore[no-untyped-def]
    httpserver.expect_request("/a").respond_with_data(b"x")
    with pytest.raises(UrlRefused):
        fetch_bytes(httpserver.url_for("/a"), UrlPolicy())
    assert net_guard.connects == []


def test_redirect_to_loopback_is_refused(net_guard: NetworkGuard, httpserver) -> None:  # type: ignore[no-untyped-def]
    """The first hop is allowed by name; its redirect to a bare loopback address is not."""
    net_guard.dns["cdn.test"] = ["127.0.0.1"]
    target = httpserver.url_for("/secret")
    httpserver.expect_request("/start").respond_with_data(
        b"", status=302, headers={"Location": target}
    )
    httpserver.expect_request("/secret").respond_with_data(b"secret")
    with pytest.raises(UrlRefused):
        fetch_bytes(f"http://cdn.test:{httpserver.port}/start", UrlPolicy(allowlist=("cdn.test",)))
    assert len(net_guard.connects) == 1  # the first hop only


def test_redirect_to_metadata_is_refused(net_guard: NetworkGuard, httpserver) -> None:  # type: ignore[no-untyped-def]
    httpserver.expect_request("/start").respond_with_data(
        b"", status=307, headers={"Location": "http://169.254.169.254/latest/meta-data/"}
    )
    with pytest.raises(UrlRefused):
        fetch_bytes(httpserver.url_for("/start"), LOOPBACK_ALLOWED)
    assert net_guard.refused == []


def test_allowed_redirect_is_followed(net_guard: NetworkGuard, httpserver) -> None:  # type: ignore[no-untyped-def]
    httpserver.expect_request("/a").respond_with_data(b"", status=301, headers={"Location": "/b"})
    httpserver.expect_request("/b").respond_with_data(b"image bytes")
    assert fetch_bytes(httpserver.url_for("/a"), LOOPBACK_ALLOWED) == b"image bytes"


def test_too_many_redirects(net_guard: NetworkGuard, httpserver) -> None:  # type: ignore[no-untyped-def]
    httpserver.expect_request("/loop").respond_with_data(
        b"", status=302, headers={"Location": "/loop"}
    )
    with pytest.raises(UrlFetchFailed, match="redirects"):
        fetch_bytes(httpserver.url_for("/loop"), LOOPBACK_ALLOWED)
    assert len(net_guard.connects) == LOOPBACK_ALLOWED.max_redirects + 1


def test_declared_size_over_the_cap(net_guard: NetworkGuard, httpserver) -> None:  # type: ignore[no-untyped-def]
    httpserver.expect_request("/big").respond_with_data(b"x" * 20_000)
    with pytest.raises(ImageTooLarge):
        fetch_bytes(httpserver.url_for("/big"), LOOPBACK_ALLOWED)


def test_streamed_size_over_the_cap_without_content_length(
    net_guard: NetworkGuard, httpserver
) -> None:  # type: ignore[no-untyped-def]
    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(50):
            yield b"y" * 1000

    httpserver.expect_request("/stream").respond_with_response(Response(chunks()))
    with pytest.raises(ImageTooLarge):
        fetch_bytes(httpserver.url_for("/stream"), LOOPBACK_ALLOWED)


def test_slow_server_times_out(net_guard: NetworkGuard, httpserver) -> None:  # type: ignore[no-untyped-def]
    def slow(_request: Request) -> Response:
        time.sleep(1.5)
        return Response(b"late")

    httpserver.expect_request("/slow").respond_with_handler(slow)
    policy = UrlPolicy(allowlist=("127.0.0.1/32",), timeout_seconds=0.3)
    with pytest.raises(UrlFetchFailed, match="Timed out"):
        fetch_bytes(httpserver.url_for("/slow"), policy)


def test_http_error_status(net_guard: NetworkGuard, httpserver) -> None:  # type: ignore[no-untyped-def]
    httpserver.expect_request("/gone").respond_with_data(b"", status=404)
    with pytest.raises(UrlFetchFailed, match="404"):
        fetch_bytes(httpserver.url_for("/gone"), LOOPBACK_ALLOWED)


# --- allowlist entries with ports -----------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("intranet.test", ("intranet.test", None, None)),
        ("Intranet.Test.:8080", ("intranet.test", None, 8080)),
        ("10.0.0.5", ("10.0.0.5", "10.0.0.5/32", None)),
        ("10.0.0.5:443", ("10.0.0.5", "10.0.0.5/32", 443)),
        ("10.0.0.0/8", ("10.0.0.0/8", "10.0.0.0/8", None)),
        ("10.0.0.0/8:443", ("10.0.0.0/8", "10.0.0.0/8", 443)),
        ("::1", ("::1", "::1/128", None)),  # bare IPv6: no port, whatever its last group says
        ("[::1]", ("::1", "::1/128", None)),
        ("[::1]:8080", ("::1", "::1/128", 8080)),
        ("fd00::/8", ("fd00::/8", "fd00::/8", None)),
        ("[fd00::/8]:443", ("fd00::/8", "fd00::/8", 443)),
        ("host:0", None),
        ("host:65536", None),
        ("host:http", None),
        ("host:", None),
        (":80", None),
        ("", None),
        ("[::1", None),
        ("[::1]8080", None),
        ("10.0.0.0/33", None),
    ],
)
def test_parse_allow_entry(entry: str, expected: tuple[str, str | None, int | None] | None) -> None:
    parsed = parse_allow_entry(entry)
    if expected is None:
        assert parsed is None
        return
    assert parsed is not None
    network = str(parsed.network) if parsed.network is not None else None
    assert (parsed.host, network, parsed.port) == expected


def test_an_allowlist_port_allows_that_port_only(net_guard: NetworkGuard, httpserver) -> None:  # type: ignore[no-untyped-def]
    httpserver.expect_request("/a").respond_with_data(b"ok")
    policy = UrlPolicy(allowlist=(f"127.0.0.1:{httpserver.port}",))
    assert fetch_bytes(httpserver.url_for("/a"), policy) == b"ok"
    other = free_port()
    for host in ("127.0.0.1", "2130706433", "[::ffff:127.0.0.1]"):
        with pytest.raises(UrlRefused, match=f"port {other}"):
            fetch_bytes(f"http://{host}:{other}/a", policy)
    assert net_guard.connects == [("127.0.0.1", httpserver.port)]


@pytest.mark.parametrize(
    ("entry", "host"),
    [
        ("localhost:{port}", "localhost"),  # a host name entry
        ("127.0.0.0/8:{port}", "127.0.0.1"),  # a CIDR entry
        ("127.0.0.0/8:{port}", "0x7f.1"),  # ... whatever the address's spelling
        ("[::1]:{port}", "[::1]"),
        ("[::1]:{port}", "six.test"),  # a name resolving to an allowed address
    ],
)
def test_host_and_network_entries_with_ports(
    net_guard: NetworkGuard, entry: str, host: str
) -> None:
    net_guard.dns.update(DNS)
    policy = UrlPolicy(allowlist=(entry.format(port=8080),))
    assert check_url(f"http://{host}:8080/", policy)[2] == 8080
    for port in ("", ":80", ":8081"):
        with pytest.raises(UrlRefused):
            check_url(f"http://{host}{port}/", policy)
    assert net_guard.connects == []


def test_entries_without_a_port_allow_every_port(net_guard: NetworkGuard) -> None:
    net_guard.dns.update(DNS)
    policy = UrlPolicy(allowlist=("localhost", "10.0.0.0/8", "::1"))
    for url in ("http://localhost:1/", "http://10.1.2.3:65535/", "http://[::1]:8443/"):
        check_url(url, policy)


def test_a_malformed_entry_allows_nothing(net_guard: NetworkGuard) -> None:
    for entry in ("127.0.0.1:0", "127.0.0.1:http", "127.0.0.0/33", "[::1"):
        with pytest.raises(UrlRefused):
            check_url("http://127.0.0.1:8080/", UrlPolicy(allowlist=(entry,)))
