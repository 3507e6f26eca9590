"""Fetching images from user-supplied URLs without letting the URL reach inside the network.

Every host is resolved here and each address checked before any connection: loopback,
private, link-local, CGNAT, multicast, reserved, unspecified and cloud-metadata addresses are
refused, whatever their spelling (decimal, octal, hex and short IPv4 forms, IPv4-mapped and
-compatible IPv6, 6to4, NAT64, Teredo). The connection then goes to the address that was
checked (the host name only travels in the Host header and TLS SNI), so a DNS answer that
changes between check and connect cannot redirect us. Redirects are followed by hand and
checked the same way. `server.url_allowlist` lists hosts or CIDRs an intranet deployment may
reach anyway.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from glitchzap.errors import ImageTooLarge, UrlFetchFailed, UrlRefused
from glitchzap.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

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
class UrlPolicy:
    """What URL input may reach: the allowlist plus the fetch limits."""

    allowlist: tuple[str, ...] = ()
    max_bytes: int = 50 * 1024 * 1024
    timeout_seconds: float = 10.0
    max_redirects: int = 5

    def allows_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in {
            h.lower().rstrip(".") for h in self.allowlist if "/" not in h
        }

    def allows_address(self, ip: IPAddress) -> bool:
        for entry in self.allowlist:
            try:
                network = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                continue  # a host name, handled by allows_host
            if ip.version == network.version and ip in network:
                return True
        return False


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


def check_url(url: str, policy: UrlPolicy) -> tuple[str, str, int, IPAddress]:
    """(scheme, host, port, address to connect to) for an allowed URL; raises UrlRefused."""
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
    literal = literal_address(host)
    addresses = [literal] if literal is not None else resolve(host, port)
    if not addresses:
        raise UrlFetchFailed(f"Host {host!r} has no address")
    if not policy.allows_host(host):
        _refuse_private(host, addresses, policy)
    return scheme, host, port, addresses[0]


def _refuse_private(host: str, addresses: Iterable[IPAddress], policy: UrlPolicy) -> None:
    for ip in addresses:
        reason = refusal_reason(ip)
        if reason and not policy.allows_address(ip):
            raise UrlRefused(f"Refusing to fetch {host}: it resolves to a {reason} address ({ip})")


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to a fixed address; `host` is only used for the Host header."""

    def __init__(self, host: str, port: int, ip: IPAddress, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.pinned_ip = ip

    def connect(self) -> None:
        self.sock = open_socket((str(self.pinned_ip), self.port), self.timeout or 10.0)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a fixed address, with SNI and certificate checks against the host name."""

    def __init__(self, host: str, port: int, ip: IPAddress, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.pinned_ip = ip

    def connect(self) -> None:
        sock = open_socket((str(self.pinned_ip), self.port), self.timeout or 10.0)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


FETCH_ERRORS = (OSError, http.client.HTTPException, ssl.SSLError)


def fetch_bytes(url: str, policy: UrlPolicy) -> bytes:
    """The body behind `url` after checked redirects, at most `policy.max_bytes` long."""
    deadline = time.monotonic() + policy.timeout_seconds
    for _ in range(policy.max_redirects + 1):
        scheme, host, port, ip = check_url(url, policy)
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
    remaining = max(deadline - time.monotonic(), 0.1)
    cls = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    conn = cls(host, port, ip, timeout=remaining)
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
        return 200, None, _read_capped(response, policy.max_bytes, deadline)
    except TimeoutError as exc:
        raise UrlFetchFailed(f"Timed out fetching from {host}") from exc
    except FETCH_ERRORS as exc:
        raise UrlFetchFailed(f"Could not fetch from {host}: {exc}") from exc
    finally:
        conn.close()


def _read_capped(response: http.client.HTTPResponse, max_bytes: int, deadline: float) -> bytes:
    declared = response.getheader("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise ImageTooLarge(
            f"The remote file is {int(declared) / 1e6:.1f} MB; the limit is "
            f"{max_bytes / 1e6:.1f} MB"
        )
    chunks: list[bytes] = []
    total = 0
    while True:
        if time.monotonic() > deadline:
            raise UrlFetchFailed("Timed out reading the remote file")
        chunk = response.read1(CHUNK_BYTES)  # one recv: a trickling server meets the deadline
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
