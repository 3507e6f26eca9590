"""Soak test of the HTTP API: mixed good and hostile requests at N concurrent clients.

Starts a real uvicorn server (one worker) on a free loopback port with a throw-away data dir
and a one-template memegen folder, then sends REQUESTS requests from CLIENTS concurrent
keep-alive clients, drawn from a fixed mix: slider previews, uploads, memes, memegen URLs and
health checks, and hostile ones: random bytes, truncated files, PDFs, pixel-bomb headers, a
64 MP all-zero PNG, NaN recipes, 100,000-deep JSON, URLs to private addresses (refused
before any connection: nothing leaves loopback), bodies over the cap, absurd output sizes.

Then a hostile phase (`--hostile-seconds`, 30 by default): slow origins trickling headers,
slowloris clients, full-quality renders that bust their deadline and 50 MP renders over the
memory budget, while good clients keep rendering previews; it reports their errors and p99,
the longest gap in /api/health answers and the server's peak RSS above idle (targets: no
errors, gaps <= 2 s, <= 1 GB).

Every request has one expected status; anything else counts as an unexpected answer. Prints
requests, unexpected rate, 5xx count, p50/p99 latency, and the server's RSS after warm-up and
at the end, beside the anchors measured in the same run (p99 of good requests from a single
client on the idle server) and the targets (zero 5xx, RSS growth <= 50 MB).

    .venv/bin/python bench/soak.py [--requests 10000] [--clients 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil
from PIL import Image
from skimage import data as skdata

from _report import header, row

TARGET_RSS_GROWTH_MB = 50.0
# The hostile phase: slow origins, slow clients, deadline-busting and 50 MP renders at once.
RENDER_DEADLINE_SECONDS = 2.0
TARGET_HOSTILE_RSS_MB = 1024.0  # peak RSS above idle during the hostile phase
TARGET_HEALTH_GAP_SECONDS = 2.0  # longest time /api/health may go unanswered
STARTUP_SECONDS = 90


# --- request bodies ---------------------------------------------------------------------------


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_with(width: int, height: int, idat: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def zero_png(side: int) -> bytes:
    packer = zlib.compressobj(9)
    row = b"\x00" * (side * 3 + 1)
    return png_with(
        side, side, b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    )


def encode(image: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, fmt)
    return buffer.getvalue()


def multipart(data: bytes, params: str | None = None) -> tuple[bytes, str]:
    boundary = "glitchzapsoakboundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + data
    if params is not None:
        body += (
            f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="params"\r\n\r\n{params}'
        ).encode()
    body += f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@dataclass(frozen=True)
class Request:
    kind: str
    method: str
    path: str
    expect: int
    body: bytes = b""
    content_type: str = ""
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class Corpus:
    """The fixed inputs, built once before the server starts."""

    photo: bytes
    crops: list[bytes]
    truncated: bytes
    bomb: bytes

    @classmethod
    def build(cls) -> Corpus:
        astronaut = np.ascontiguousarray(skdata.astronaut())
        crops = [
            encode(np.ascontiguousarray(astronaut[i * 6 : i * 6 + 96, :96])) for i in range(50)
        ]
        photo = encode(np.ascontiguousarray(astronaut[::2, ::2]), "JPEG")  # 256 x 256
        return cls(photo, crops, crops[0][: len(crops[0]) // 2], zero_png(8192))


def json_request(kind: str, path: str, body: object | str, expect: int) -> Request:
    text = body if isinstance(body, str) else json.dumps(body)
    return Request(kind, "POST", path, expect, text.encode(), "application/json")


def mix(corpus: Corpus, image_id: str, rng: random.Random) -> list[Callable[[], Request]]:
    """One factory per kind of request: the 7 good kinds first, then the 14 hostile ones."""
    nan_recipe = f'{{"image_id": "{image_id}", "recipe": {{"effects": {{"blur": NaN}}}}}}'
    slider = lambda: {"blur": round(rng.uniform(0, 8), 1), "noise": round(rng.uniform(0, 0.3), 2)}  # noqa: E731
    return [
        # good
        lambda: json_request("render", "/api/render",
                             {"image_id": image_id, "recipe": {"effects": slider(), "seed": 1}},
                             200),
        lambda: json_request("render-full", "/api/render", {"image_id": image_id, "quality": "full",
                             "recipe": {"effects": {"shake": rng.randint(0, 9)}, "seed": 2}}, 200),
        lambda: Request("upload", "POST", "/api/images", 200,
                        *multipart(rng.choice(corpus.crops))),
        lambda: json_request("meme", "/api/meme", {"image_id": image_id, "erase": "never",
                             "captions": [rng.choice(["top", "soak", "hi"]), "bottom"]}, 200),
        lambda: Request("memegen", "GET", f"/images/soak/line_{rng.randint(0, 9)}/two.jpg", 200),
        lambda: Request("info", "GET", f"/api/images/{image_id}", 200),
        lambda: Request("health", "GET", "/api/health", 200),
        # hostile
        lambda: Request("random-bytes", "POST", "/api/images", 400,
                        *multipart(rng.randbytes(rng.randint(1, 4000)))),
        lambda: Request("truncated", "POST", "/api/images", 400, *multipart(corpus.truncated)),
        lambda: Request("pdf", "POST", "/api/images", 415, *multipart(b"%PDF-1.7\n%\xe2\xe3\n")),
        lambda: Request("header-bomb", "POST", "/api/images", 413,
                        *multipart(png_with(100_000, 100_000, zlib.compress(b"\0" * 64)))),
        lambda: Request("64mp-bomb", "POST", "/api/images", 413, *multipart(corpus.bomb)),
        lambda: json_request("nan", "/api/render", nan_recipe, 422),
        lambda: json_request("unknown-id", "/api/render", {"image_id": "0" * 40}, 404),
        lambda: json_request("deep-json", "/api/meme", "[" * 100_000, 422),
        lambda: Request("deep-params", "POST", "/api/meme", 422,
                        *multipart(corpus.crops[1], "{" * 50_000)),
        lambda: json_request("ssrf", "/api/images", {"url": rng.choice(
            ["http://127.0.0.1:6379/", "http://169.254.169.254/latest/meta-data/",
             "http://[::ffff:10.0.0.1]/", "file:///etc/passwd", "http://0x7f.1/"])}, 400),
        lambda: Request("over-cap", "POST", "/api/images", 413, b"", "application/octet-stream",
                        (("Content-Length", "999999999"),)),
        # memegen shrinks a huge width x height to 1920 x 1080 pixels: an image, never 10^8 px
        lambda: Request("huge-output", "GET", "/images/soak/a/b.png?width=10000&height=10000", 200),
        lambda: json_request("long-caption", "/api/meme",
                             {"image_id": image_id, "captions": ["x" * 100_000]}, 422),
        lambda: Request("no-route", "GET", "/api/nothing-here", 404),
    ]  # fmt: skip


# --- a minimal keep-alive HTTP/1.1 client (httpx would cost more CPU than the server) ---------


class Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, request: Request) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        declared = dict(request.headers).get("Content-Length", str(len(request.body)))
        head = f"{request.method} {request.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if request.method == "POST":
            head += f"Content-Type: {request.content_type}\r\nContent-Length: {declared}\r\n"
        self.writer.write((head + "\r\n").encode() + request.body)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionResetError("closed before answering")
        length, close = 0, declared != str(len(request.body))
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and value.strip().lower() == "close":
                close = True
        await self.reader.readexactly(length)
        if close:
            await self.close()
        return int(status_line.split()[1])

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


# --- the server -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_template(root: Path) -> Path:
    """A template library holding one memegen-format template, "soak"."""
    from glitchzap.templates import TemplateLibrary

    template = root / "memegen" / "soak"
    template.mkdir(parents=True)
    (template / "config.yml").write_text("name: Soak\ntext: []\n")
    (template / "default.jpg").write_bytes(encode(np.ascontiguousarray(skdata.chelsea()), "JPEG"))
    library = TemplateLibrary(root / "templates")
    library.import_memegen(root / "memegen")
    library.store.close()
    return root / "templates"


def start_server(port: int, data_dir: Path, origin_port: int) -> subprocess.Popen[bytes]:
    """`glitchzap serve` with default settings, but for short URL and render deadlines (so the
    hostile phase busts them within seconds) and the slow origin allowed by port."""
    env = {
        **os.environ,
        "GLITCHZAP_DATA_DIR": str(data_dir),
        "GLITCHZAP_TEMPLATES__DIR": str(make_template(data_dir)),
        "GLITCHZAP_SERVER__URL_TIMEOUT_SECONDS": "2",
        "GLITCHZAP_SERVER__RENDER_TIMEOUT_SECONDS": str(RENDER_DEADLINE_SECONDS),
        "GLITCHZAP_SERVER__URL_ALLOWLIST": json.dumps([f"127.0.0.1:{origin_port}"]),
    }
    code = "from glitchzap.cli import main; main()"
    command = [sys.executable, "-c", code, "serve", "--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(command, env=env)


async def wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the server exited during start-up")
        try:
            if await Connection(port).send(Request("health", "GET", "/api/health", 200)) == 200:
                return
        except OSError:
            await asyncio.sleep(0.1)
    raise SystemExit(f"the server did not start within {STARTUP_SECONDS} s")


# --- the run ------------------------------------------------------------------------------------


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    unexpected: Counter[str] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def p(self, q: float) -> float:
        return float(np.percentile(self.latencies, q) * 1000) if self.latencies else float("nan")

    @property
    def count(self) -> int:
        return len(self.latencies) + sum(self.transport_errors.values())

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


async def run(port: int, factories: list[Callable[[], Request]], total: int, clients: int,
              rng: random.Random) -> Results:  # fmt: skip
    results = Results()
    queue: asyncio.Queue[Request] = asyncio.Queue()
    for _ in range(total):
        queue.put_nowait(rng.choice(factories)())

    async def client() -> None:
        conn = Connection(port)
        while not queue.empty():
            request = queue.get_nowait()
            start = time.perf_counter()
            try:
                status = await conn.send(request)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                results.transport_errors[f"{request.kind}: {type(exc).__name__}"] += 1
                await conn.close()
                continue
            results.latencies.append(time.perf_counter() - start)
            results.statuses[status] += 1
            if status != request.expect:
                results.unexpected[f"{request.kind}: {status} (expected {request.expect})"] += 1
        await conn.close()

    began = time.monotonic()
    await asyncio.gather(*(client() for _ in range(clients)))
    results.seconds = time.monotonic() - began
    return results


async def upload_photo(port: int, corpus: Corpus) -> str:
    return await upload_bytes(port, corpus.photo)


# --- the hostile phase ----------------------------------------------------------------------------


async def slow_origin(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """An allowlisted origin that sends a status line, then one header byte a second."""
    # CancelledError: the run is over and the loop shuts down with the handler mid-sleep.
    with contextlib.suppress(OSError, asyncio.IncompleteReadError, asyncio.CancelledError):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        for _ in range(120):  # bounded: two minutes at most
            await writer.drain()
            await asyncio.sleep(1)
            writer.write(b"a")
    writer.close()


async def slow_client(port: int, stop: float) -> None:
    """A slowloris client: one header byte a second until the server hangs up (or `stop`)."""
    with contextlib.suppress(OSError):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        while time.monotonic() < stop:
            await asyncio.sleep(1)
            writer.write(b"a")
            await writer.drain()
            if reader.at_eof():
                break
        writer.close()


def big_photo(side: int) -> bytes:
    """A `side` x `side` photo (astronaut, upscaled) as JPEG: a real picture at scale."""
    import cv2

    astronaut = np.ascontiguousarray(skdata.astronaut())
    return encode(cv2.resize(astronaut, (side, side), interpolation=cv2.INTER_LINEAR), "JPEG")


async def upload_bytes(port: int, data: bytes) -> str:
    body, content_type = multipart(data)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        (f"POST /api/images HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
    )  # fmt: skip
    raw = await reader.read()
    writer.close()
    return str(json.loads(raw.split(b"\r\n\r\n", 1)[1])["image_id"])


@dataclass
class Hostile:
    """What the hostile phase saw: good clients, attackers' answers, health, memory."""

    good: Results = field(default_factory=Results)
    attacks: Counter[str] = field(default_factory=Counter)
    unexpected: Counter[str] = field(default_factory=Counter)
    health_gap: float = 0.0
    rss_idle: int = 0
    rss_peak: int = 0
    seconds: float = 0.0


async def hostile_phase(
    port: int, origin_port: int, image_id: str, seconds: float, server: psutil.Process
) -> Hostile:
    """Good clients keep rendering previews while attackers send slow origins, slow headers,
    renders that bust their deadline and 50 MP renders over the memory budget."""
    big_16 = await upload_bytes(port, big_photo(4000))  # 16 MP
    big_50 = await upload_bytes(port, big_photo(7000))  # 49 MP, just under limits.max_pixels
    await asyncio.sleep(1)  # the server settles after decoding them: this is its idle
    out = Hostile(rss_idle=server.memory_info().rss)
    out.rss_peak = out.rss_idle
    rng = random.Random(5)
    began = time.monotonic()
    stop = began + seconds

    attacks: list[Callable[[], tuple[Request, tuple[int, ...]]]] = [
        lambda: (json_request(
            "slow-origin", "/api/images", {"url": f"http://127.0.0.1:{origin_port}/x.png"}, 400
        ), (400, 503)),
        lambda: (json_request("deadline-buster", "/api/render", {
            "image_id": big_16, "quality": "full", "recipe": {"effects": {"motion": {
                "length": 1000, "angle": rng.uniform(0, 359)}}, "seed": rng.randint(0, 10**6)}},
            504), (504, 503)),
        lambda: (json_request("50mp-full", "/api/render", {
            "image_id": big_50, "quality": "full", "recipe": {"effects": {"blur": 250}}},
            413), (413,)),
        lambda: (json_request("50mp-preview", "/api/render", {
            "image_id": big_50, "quality": "balanced",
            "recipe": {"effects": {"blur": rng.uniform(1, 60)}, "seed": 1}}, 200),
            (200, 503, 504)),  # 503/504: queued behind a buster past the 2 s deadline
    ]  # fmt: skip

    async def attacker(factory: Callable[[], tuple[Request, tuple[int, ...]]]) -> None:
        conn = Connection(port)
        while time.monotonic() < stop:
            request, allowed = factory()
            try:
                status = await conn.send(request)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                out.unexpected[f"{request.kind}: {type(exc).__name__}"] += 1
                await conn.close()
                continue
            out.attacks[f"{request.kind}: {status}"] += 1
            if status not in allowed:
                out.unexpected[f"{request.kind}: {status} (expected {allowed})"] += 1
        await conn.close()

    async def good_client() -> None:
        conn = Connection(port)
        while time.monotonic() < stop:
            recipe = {"effects": {"blur": round(rng.uniform(0, 8), 2)}, "seed": 1}
            request = json_request("good-preview", "/api/render",
                                   {"image_id": image_id, "recipe": recipe}, 200)  # fmt: skip
            started = time.perf_counter()
            try:
                status = await conn.send(request)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                out.good.transport_errors[type(exc).__name__] += 1
                await conn.close()
                continue
            out.good.latencies.append(time.perf_counter() - started)
            out.good.statuses[status] += 1
            if status != 200:
                out.good.unexpected[f"good-preview: {status}"] += 1

    async def health_prober() -> None:
        last_ok = time.monotonic()
        while time.monotonic() < stop:
            try:
                status = await asyncio.wait_for(
                    Connection(port).send(Request("health", "GET", "/api/health", 200)), 5
                )
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
                status = 0
            now = time.monotonic()
            if status == 200:
                out.health_gap = max(out.health_gap, now - last_ok)
                last_ok = now
            await asyncio.sleep(0.1)
        out.health_gap = max(out.health_gap, time.monotonic() - last_ok)

    async def rss_sampler() -> None:
        while time.monotonic() < stop:
            with contextlib.suppress(psutil.Error):
                out.rss_peak = max(out.rss_peak, server.memory_info().rss)
            await asyncio.sleep(0.05)

    tasks = [attacker(attacks[0]) for _ in range(12)]  # more slow origins than fetch slots
    tasks += [attacker(attacks[1]) for _ in range(2)]
    tasks += [attacker(attacks[2]), attacker(attacks[3])]
    tasks += [slow_client(port, stop) for _ in range(50)]
    tasks += [good_client() for _ in range(4)]
    tasks += [health_prober(), rss_sampler()]
    await asyncio.gather(*tasks)
    out.seconds = time.monotonic() - began
    return out


def report_hostile(hostile: Hostile) -> dict[str, object]:
    good = hostile.good
    good_errors = sum(good.unexpected.values()) + sum(good.transport_errors.values())
    peak_mb = (hostile.rss_peak - hostile.rss_idle) / 2**20
    figures: dict[str, object] = {
        "hostile_seconds": round(hostile.seconds, 1),
        "hostile_attacks": dict(sorted(hostile.attacks.items())),
        "hostile_unexpected": dict(hostile.unexpected),
        "hostile_good_requests": len(good.latencies),
        "hostile_good_errors": good_errors,
        "hostile_good_p50_ms": round(good.p(50), 1),
        "hostile_good_p99_ms": round(good.p(99), 1),
        "hostile_health_gap_s": round(hostile.health_gap, 2),
        "hostile_rss_idle_mb": round(hostile.rss_idle / 2**20, 1),
        "hostile_rss_peak_above_idle_mb": round(peak_mb, 1),
    }
    print(f"\n== soak, hostile phase: {hostile.seconds:.0f} s of slow origins (12), slowloris "
          f"clients (50), deadline-busting 16 MP renders (2), 50 MP renders, while 4 good "
          f"clients render previews (default settings but {RENDER_DEADLINE_SECONDS:g} s render "
          "and 2 s URL deadlines) ==")  # fmt: skip
    header("soak, hostile phase (figures for BENCHMARKS.md)")
    gap, rss_target = TARGET_HEALTH_GAP_SECONDS, TARGET_HOSTILE_RSS_MB
    unexpected = sum(hostile.unexpected.values())
    hostile_rows: list[tuple[str, float, str, str, bool | None]] = [
        ("hostile: good previews answered", len(good.latencies), "", "", None),
        ("hostile: good errors", good_errors, "", "== 0", good_errors == 0),
        ("hostile: good p50 latency", good.p(50), "ms", "", None),
        ("hostile: good p99 latency", good.p(99), "ms", "", None),
        ("hostile: longest /api/health gap", hostile.health_gap, "s", f"<= {gap:g} s",
         hostile.health_gap <= gap),
        ("hostile: RSS peak above idle", peak_mb, "MB", f"<= {rss_target:.0f} MB",
         peak_mb <= rss_target),
        ("hostile: unexpected attack answers", unexpected, "", "== 0", unexpected == 0),
    ]  # fmt: skip
    for label, value, unit, target, ok in hostile_rows:
        row(label, value, None, "no anchor", unit=unit, target=target, ok=ok)
    print(f"attack answers: {dict(sorted(hostile.attacks.items()))}")
    if hostile.unexpected:
        print(f"unexpected: {dict(hostile.unexpected)}")
    passed = good_errors == 0 and not hostile.unexpected
    passed = passed and hostile.health_gap <= TARGET_HEALTH_GAP_SECONDS
    passed = passed and peak_mb <= TARGET_HOSTILE_RSS_MB
    print(f"hostile phase verdict: {'PASS' if passed else 'FAIL'}")
    figures["hostile_passed"] = passed
    return figures


async def soak(args: argparse.Namespace) -> dict[str, object]:
    rng = random.Random(args.seed)
    corpus = Corpus.build()
    port = free_port()
    origin = await asyncio.start_server(slow_origin, "127.0.0.1", 0)
    origin_port = int(origin.sockets[0].getsockname()[1])
    hostile: Hostile | None = None
    with tempfile.TemporaryDirectory(prefix="glitchzap-soak-") as tmp:
        process = start_server(port, Path(tmp), origin_port)
        try:
            await wait_ready(port, process)
            server = psutil.Process(process.pid)
            image_id = await upload_photo(port, corpus)
            factories = mix(corpus, image_id, rng)
            good = factories[:7]
            factories = good * 2 + factories[7:]  # 14 good kinds to 14 hostile: half and half
            # Warm-up: every kind a few times (imports, caches, allocator pools), then the
            # anchor: good requests only, one client, on the otherwise idle server.
            await run(port, factories, len(factories) * 5, 4, rng)
            anchor = await run(port, good, args.anchor_requests, 1, rng)
            rss_start = server.memory_info().rss
            results = await run(port, factories, args.requests, args.clients, rng)
            rss_end = server.memory_info().rss
            if args.hostile_seconds > 0:
                hostile = await hostile_phase(
                    port, origin_port, image_id, args.hostile_seconds, server
                )
            alive = process.poll() is None
            health = await Connection(port).send(Request("health", "GET", "/api/health", 200))
        finally:
            process.terminate()
            process.wait(timeout=30)
            origin.close()
    figures = report(args, results, anchor, rss_start, rss_end, alive and health == 200)
    if hostile is not None:
        figures.update(report_hostile(hostile))
        figures["passed"] = bool(figures["passed"]) and bool(figures["hostile_passed"])
    return figures


def report(args: argparse.Namespace, results: Results, anchor: Results, rss_start: int,
           rss_end: int, alive: bool) -> dict[str, object]:  # fmt: skip
    growth_mb = (rss_end - rss_start) / 2**20
    unexpected = sum(results.unexpected.values()) + sum(results.transport_errors.values())
    hostile = sum(n for status, n in results.statuses.items() if 400 <= status < 500)
    figures: dict[str, object] = {
        "requests": results.count,
        "clients": args.clients,
        "seconds": round(results.seconds, 1),
        "throughput_rps": round(results.count / results.seconds, 1) if results.seconds else 0,
        "status_counts": dict(sorted(results.statuses.items())),
        "answered_4xx": hostile,
        "server_errors_5xx": results.server_errors,
        "unexpected": unexpected,
        "unexpected_rate": unexpected / results.count if results.count else 1.0,
        "unexpected_kinds": dict(results.unexpected + results.transport_errors),
        "p50_ms": round(results.p(50), 1),
        "p99_ms": round(results.p(99), 1),
        "anchor_p99_ms": round(anchor.p(99), 1),
        "rss_start_mb": round(rss_start / 2**20, 1),
        "rss_end_mb": round(rss_end / 2**20, 1),
        "rss_growth_mb": round(growth_mb, 1),
        "server_alive": alive,
        "load_average": round(os.getloadavg()[0], 1),
    }
    p99, anchor_p99 = results.p(99), anchor.p(99)
    print(f"\n== soak: {results.count} mixed requests at {args.clients} clients, "
          f"{os.cpu_count()} cores, load average {figures['load_average']} "
          f"(other work on the machine inflates latency) ==")  # fmt: skip
    header(f"soak: {results.count} mixed requests at {args.clients} clients")
    single = "1 client, good requests only, same run"
    growth_target = TARGET_RSS_GROWTH_MB
    mixed_rows: list[tuple[str, float, float | None, str, str, str, bool | None]] = [
        ("soak: requests", results.count, None, "no anchor", "", "", None),
        ("soak: throughput", results.count / max(results.seconds, 1e-9), None, "no anchor",
         "req/s", "", None),
        ("soak: answered 4xx (hostile, as expected)", hostile, None, "no anchor", "", "", None),
        ("soak: 5xx answers", results.server_errors, None, "no anchor", "", "== 0",
         results.server_errors == 0),
        ("soak: unexpected answers", unexpected, None, "no anchor", "", "== 0", unexpected == 0),
        ("soak: p50 latency", results.p(50), anchor.p(50), single, "ms", "", None),
        ("soak: p99 latency", p99, anchor_p99, single, "ms", "", None),
        ("soak: RSS growth over the run", growth_mb, None,
         f"RSS {rss_start / 2**20:.0f} MB after warm-up, {rss_end / 2**20:.0f} MB at the end",
         "MB", f"<= {growth_target:.0f} MB", growth_mb <= growth_target),
    ]  # fmt: skip
    for label, ours, anchor_value, anchor_name, unit, target, ok in mixed_rows:
        row(label, ours, anchor_value, anchor_name, unit=unit, target=target, ok=ok)
    if unexpected:
        print(f"unexpected: {figures['unexpected_kinds']}")
    passed = results.server_errors == 0 and unexpected == 0 and alive
    passed = passed and growth_mb <= TARGET_RSS_GROWTH_MB
    print(f"server alive at the end: {alive}; verdict: {'PASS' if passed else 'FAIL'}")
    figures["passed"] = passed
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--anchor-requests", type=int, default=200)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument(
        "--hostile-seconds", type=float, default=30.0, help="hostile phase length (0 = skip)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    figures = asyncio.run(soak(args))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1), encoding="utf-8")
    raise SystemExit(0 if figures["passed"] else 1)


if __name__ == "__main__":
    main()
