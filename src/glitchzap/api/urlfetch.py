"""Fetching images from user-supplied URLs without letting the URL reach inside the network.

Every host is resolved here and each address checked before any connection: loopback,
private, link-local, CGNAT, multicast, reserved, unspecified and cloud-metadata addresses are
refused, whatever their spelling (decimal, octal, hex and short IPv4 forms, IPv4-mapped and
-compatible IPv6, 6to4, NAT64, Teredo). The connection then goes to the address that was
checked (the host name only travels in the Host header and TLS SNI), so a DNS answer that
changes between check and connect cannot redirect us. Redirects are followed by hand and
checked the same way. `server.url_allowlist` lists hosts or CIDRs an intranet deployment may
reach anyway, each optionally limited to one port (`host:8080`, `[fd00::1]:8080`).

A fetch has one deadline (`server.url_timeout_seconds`) for everything: the DNS lookup, the
connect, the TLS handshake, every byte of the request, the status line, the headers and the
body, over all redirects. It is enforced on the socket itself (`DeadlineSocket`), so an origin
that trickles one header byte a second is cut off on time and its connection closed at once.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urljoin, urlsplit

from glitchzap.errors import ImageTooLarge, UrlFetchFailed, UrlRefused
from glitchzap.settings import Settings

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
T = TypeVar("T")

REDIRECT_STATUSES = (301, 302, 303, 307, 308)
USER_AGENT = "glitchzap-urlfetch/1"
CHUNK_BYTES = 64 * 1024

# Ranges `ipaddress` counts as global that must still never be fetched.
_EXTRA_BLOCKED = [
    ipaddress.ip_network("100.64.0.0/10"),  # CGNAT (is_global is False already; kept explicit)
    ipaddress.ip_network("192.0.0.0/24"),  # IETF protocol assignments
    ipaddress.ip_network("198.18.0.0/15"),  # benchmarking
    ipaddress.ip_network("64:ff9b:1::/48"),  # local-use NAT64
    ipaddress.ip_network("fd00:ec2::254/128"),  # AWS metadata over IPv6
]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


@dataclass(frozen=True)
class AllowEntry:
    """One `server.url_allowlist` entry: a host name or a network, and a port (None = any)."""

    host: str
    network: IPNetwork | None
    port: int | None

    def allows_port(self, port: int) -> bool:
        return self.port is None or self.port == port


def parse_allow_entry(entry: str) -> AllowEntry | None:
    """`host`, `host:port`, `[v6]:port`, `CIDR` or `CIDR:port` as an entry; None if malformed.

    A bare IPv6 address or network (`::1`, `fd00::/8`) has no port: write `[::1]:8080`.
    """
    text, port_text = entry.strip().lower(), None
    if text.startswith("["):
        text, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        text, _, port_text = text.partition(":")
    port = None
    if port_text is not None:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            return None
        port = int(port_text)
    host = text.rstrip(".")
    try:
        network: IPNetwork | None = ipaddress.ip_network(host, strict=False)
    except ValueError:
        if not host or "/" in host:
            return None  # an empty host or a broken CIDR never matches anything
        network = None
    return AllowEntry(host, network, port)


@dataclass(frozen=True)
class UrlPolicy:
    """What URL input may reach: the allowlist plus the fetch limits."""

    allowlist: tuple[str, ...] = ()
    max_bytes: int = 50 * 1024 * 1024
    timeout_seconds: float = 10.0
    max_redirects: int = 5

    @cached_property
    def entries(self) -> tuple[AllowEntry, ...]:
        """The allowlist parsed; malformed entries are dropped (they allow nothing)."""
        parsed = (parse_allow_entry(entry) for entry in self.allowlist)
        return tuple(entry for entry in parsed if entry is not None)

    def allows_host(self, host: str, port: int) -> bool:
        """True when an entry names `host` itself (not a range) and allows `port`."""
        name = host.lower().strip("[]").rstrip(".")
        return any(e.host == name and e.allows_port(port) for e in self.entries)

    def allows_address(self, ip: IPAddress, port: int) -> bool:
        """True when an address or CIDR entry holds `ip` and allows `port`."""
        return any(
            e.network is not None
            and ip.version == e.network.version
            and ip in e.network
            and e.allows_port(port)
            for e in self.entries
        )


def policy_from_settings(settings: Settings) -> UrlPolicy:
    server = settings.server
    return UrlPolicy(
        allowlist=tuple(server.url_allowlist),
        max_bytes=settings.limits.max_bytes,
        timeout_seconds=server.url_timeout_seconds,
        max_redirects=server.url_max_redirects,
    )


def parse_ipv4_loose(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a host spells in any inet_aton form (`2130706433`, `0x7f.1`, `0177.1`)."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or any(part == "" for part in parts):
        return None
    numbers = []
    for part in parts:
        text = part.lower()
        try:
            if text.startswith("0x"):
                numbers.append(int(text[2:] or "0", 16))
            elif len(text) > 1 and text.startswith("0"):
                numbers.append(int(text, 8))
            else:
                numbers.append(int(text, 10))
        except ValueError:
            return None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    value = 0
    for n in head:
        value = value * 256 + n
    value = value * 256 ** (4 - len(head)) + last
    return ipaddress.IPv4Address(value)


def literal_address(host: str) -> IPAddress | None:
    """The address a URL host names literally (IPv6 without brackets), else None."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host.split("%")[0])  # drop an IPv6 zone id
    except ValueError:
        # "127.0.0.1." is an IPv4 literal too (one trailing dot, as browsers read it).
        return parse_ipv4_loose(host[:-1] if host.endswith(".") else host)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (mapped, compatible, 6to4, NAT64, Teredo)."""
    found = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    return found


def refusal_reason(ip: IPAddress) -> str | None:
    """Why `ip` must not be fetched (e.g. 'loopback'), or None for a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        for inner in embedded_ipv4(ip):
            reason = refusal_reason(inner)
            if reason:
                return f"{reason} (embedded in {ip})"
        if ip.ipv4_mapped is not None or ip in _NAT64:
            return None  # packets go to the embedded IPv4 address, checked above
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local / metadata", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("blocked range", any(ip in net for net in _EXTRA_BLOCKED if net.version == ip.version)),
        ("not globally routable", not ip.is_global),
    )
    for reason, hit in checks:
        if hit:
            return reason
    return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (tests replace this to keep DNS off the network)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UrlFetchFailed(f"Cannot resolve host {host!r}") from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def open_socket(address: tuple[str, int], timeout: float) -> socket.socket:
    """A TCP connection to an address already checked (tests replace this to record calls)."""
    return socket.create_connection(address, timeout=timeout)


def tls_context() -> ssl.SSLContext:
    """The TLS settings for https fetches (tests replace this to trust a test certificate)."""
    return ssl.create_default_context()


def time_left(deadline: float) -> float:
    """Seconds until the `time.monotonic()` deadline; TimeoutError once it has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("The fetch deadline has passed")
    return left


def timed_out(host: str, policy: UrlPolicy) -> UrlFetchFailed:
    return UrlFetchFailed(f"Timed out after {policy.timeout_seconds:g} s fetching from {host}")


def resolve_by(host: str, port: int, deadline: float, policy: UrlPolicy) -> list[IPAddress]:
    """`resolve(host, port)`, given up at the deadline.

    getaddrinfo takes no timeout, so the lookup runs on a daemon thread; one given up on ends
    with the system resolver's own timeout and holds no connection of ours meanwhile.
    """
    answer: Future[list[IPAddress]] = Future()

    def lookup() -> None:
        try:
            answer.set_result(resolve(host, port))
        except Exception as exc:  # handed to the waiting fetch, which re-raises it
            answer.set_exception(exc)

    threading.Thread(target=lookup, name="glitchzap-dns", daemon=True).start()
    try:
        return answer.result(timeout=time_left(deadline))
    except TimeoutError as exc:
        raise timed_out(host, policy) from exc


def check_url(
    url: str, policy: UrlPolicy, deadline: float | None = None
) -> tuple[str, str, int, IPAddress]:
    """(scheme, host, port, address to connect to) for an allowed URL; raises UrlRefused.

    A host name is resolved by `deadline` (default: `policy.timeout_seconds` from now).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"Not a valid URL: {url[:200]!r}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlRefused(f"Only http and https URLs can be fetched, not {scheme or 'no scheme'!r}")
    if parts.username or parts.password:
        raise UrlRefused("URLs with credentials (user:password@) are not fetched")
    host = parts.hostname or ""
    if not host:
        raise UrlRefused("The URL has no host")
    port = port or (443 if scheme == "https" else 80)
    if deadline is None:
        deadline = time.monotonic() + policy.timeout_seconds
    literal = literal_address(host)
    addresses = [literal] if literal is not None else resolve_by(host, port, deadline, policy)
    if not addresses:
        raise UrlFetchFailed(f"Host {host!r} has no address")
    if not policy.allows_host(host, port):
        _refuse_private(host, port, addresses, policy)
    return scheme, host, port, addresses[0]


def _refuse_private(
    host: str, port: int, addresses: Iterable[IPAddress], policy: UrlPolicy
) -> None:
    for ip in addresses:
        reason = refusal_reason(ip)
        if reason and not policy.allows_address(ip, port):
            raise UrlRefused(
                f"Refusing to fetch {host} on port {port}: it resolves to a {reason} address ({ip})"
            )


class DeadlineSocket:
    """A connected socket (plain or TLS) whose every send and receive ends by one deadline.

    Before each call the socket timeout is set to the time left, so a peer that sends one byte
    per recv still meets the same end; once the deadline passes (or a call times out) the
    socket is closed at once and TimeoutError raised. http.client reads the status line and
    headers through `makefile("rb")`: ours is a buffered reader over `_DeadlineReader`, whose
    every read is a `recv_into` here, so header bytes obey the deadline like body bytes.
    `close()` waits for open readers, as `socket.socket` does; `abort()` does not wait.
    """

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self._readers = 0
        self._close_asked = False

    def _call(self, operation: Callable[..., T], *args: Any) -> T:
        try:
            self.sock.settimeout(time_left(self.deadline))
            return operation(*args)
        except TimeoutError:
            self.abort()  # the deadline has passed: drop the connection now, not at GC
            raise

    # Extra arguments pass through untouched: TLS sockets refuse some that plain ones take.
    def recv_into(self, buffer: WriteableBuffer, *args: int) -> int:
        return self._call(self.sock.recv_into, buffer, *args)

    def recv(self, bufsize: int, *args: int) -> bytes:
        return self._call(self.sock.recv, bufsize, *args)

    def send(self, data: ReadableBuffer, *args: int) -> int:
        return self._call(self.sock.send, data, *args)

    def sendall(self, data: ReadableBuffer, *args: int) -> None:
        # One send per call (not socket.sendall), so each chunk gets only the time left.
        view = memoryview(data).cast("B")
        while view:
            view = view[self.send(view, *args) :]

    def makefile(self, mode: str = "rb", *_args: Any, **_kwargs: Any) -> io.BufferedReader:
        if mode not in ("rb", "br"):
            raise ValueError(f"DeadlineSocket only reads bytes, not mode {mode!r}")
        self._readers += 1
        return io.BufferedReader(_DeadlineReader(self))

    def close(self) -> None:
        self._close_asked = True
        if self._readers == 0:
            self.abort()

    def abort(self) -> None:
        """Close the connection now, whoever still reads from it."""
        self.sock.close()

    def reader_closed(self) -> None:
        self._readers -= 1
        if self._close_asked and self._readers == 0:
            self.abort()


class _DeadlineReader(io.RawIOBase):
    """The raw stream under `DeadlineSocket.makefile`: each read is one deadline-bound recv."""

    def __init__(self, sock: DeadlineSocket) -> None:
        super().__init__()
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        return self._sock.recv_into(buffer)

    def close(self) -> None:
        if not self.closed:
            super().close()
            self._sock.reader_closed()


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to a fixed address by a deadline; `host` is only used for the Host header."""

    def __init__(self, host: str, port: int, ip: IPAddress, deadline: float) -> None:
        super().__init__(host, port)
        self.pinned_ip = ip
        self.deadline = deadline
        self.deadline_socket: DeadlineSocket | None = None

    def connect(self) -> None:
        sock = open_socket((str(self.pinned_ip), self.port), time_left(self.deadline))
        try:
            sock = self.secure(sock)
        except BaseException:
            sock.close()
            raise
        self.deadline_socket = DeadlineSocket(sock, self.deadline)
        self.sock = self.deadline_socket  # http.client only calls sendall, makefile, close

    def secure(self, sock: socket.socket) -> socket.socket:
        return sock  # plain HTTP

    def abort(self) -> None:
        """Close the connection now, even while a response still holds it."""
        self.close()
        if self.deadline_socket is not None:
            self.deadline_socket.abort()


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    """HTTPS to a fixed address, with SNI and certificate checks against the host name."""

    def secure(self, sock: socket.socket) -> socket.socket:
        sock.settimeout(time_left(self.deadline))  # the TLS handshake ends by it too
        return tls_context().wrap_socket(sock, server_hostname=self.host)


FETCH_ERRORS = (OSError, http.client.HTTPException, ssl.SSLError)


def fetch_bytes(url: str, policy: UrlPolicy) -> bytes:
    """The body behind `url` after checked redirects, at most `policy.max_bytes` long.

    Everything (lookups, connects, every byte read or sent, all redirects) ends within
    `policy.timeout_seconds`, else UrlFetchFailed with the connection already closed.
    """
    deadline = time.monotonic() + policy.timeout_seconds
    for _ in range(policy.max_redirects + 1):
        scheme, host, port, ip = check_url(url, policy, deadline)
        status, location, body = _get_once(scheme, host, port, ip, url, policy, deadline)
        if status in REDIRECT_STATUSES:
            if not location:
                raise UrlFetchFailed(f"{host} answered a redirect without a Location")
            url = urljoin(url, location)
            continue
        if status != 200:
            raise UrlFetchFailed(f"{host} answered HTTP {status}")
        return body
    raise UrlFetchFailed(f"More than {policy.max_redirects} redirects")


def _get_once(
    scheme: str, host: str, port: int, ip: IPAddress, url: str, policy: UrlPolicy, deadline: float
) -> tuple[int, str | None, bytes]:
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    cls = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    conn = cls(host, port, ip, deadline)
    try:
        default_port = 443 if scheme == "https" else 80
        host_header = host if port == default_port else f"{host}:{port}"
        if ":" in host and not host.startswith("["):
            host_header = f"[{host}]" if port == default_port else f"[{host}]:{port}"
        conn.putrequest("GET", target, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host_header)
        conn.putheader("User-Agent", USER_AGENT)
        conn.putheader("Accept", "image/*")
        conn.endheaders()
        response = conn.getresponse()
        if response.status in REDIRECT_STATUSES:
            return response.status, response.getheader("Location"), b""
        if response.status != 200:
            return response.status, None, b""
        return 200, None, _read_capped(response, policy.max_bytes)
    except TimeoutError as exc:
        raise timed_out(host, policy) from exc
    except FETCH_ERRORS as exc:
        raise UrlFetchFailed(f"Could not fetch from {host}: {exc}") from exc
    finally:
        conn.abort()  # one request per connection: nothing is kept for reuse


def _read_capped(response: http.client.HTTPResponse, max_bytes: int) -> bytes:
    declared = response.getheader("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise ImageTooLarge(
            f"The remote file is {int(declared) / 1e6:.1f} MB; the limit is "
            f"{max_bytes / 1e6:.1f} MB"
        )
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = response.read1(CHUNK_BYTES)  # one deadline-bound recv (see DeadlineSocket)
        if not chunk:
            if declared and declared.isdigit() and total < int(declared):
                raise UrlFetchFailed(
                    f"The connection closed after {total} of {int(declared)} bytes"
                )
            return b"".join(chunks)
        total += len(chunk)
        if total > max_bytes:
            raise ImageTooLarge(f"The remote file is over the {max_bytes / 1e6:.1f} MB limit")
        chunks.append(chunk)
