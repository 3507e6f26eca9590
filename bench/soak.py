"""Soak test of the HTTP API: mixed good and hostile requests at N concurrent clients.

Starts a real uvicorn server (one worker) on a free loopback port with a throw-away data dir
and a one-template memegen folder, then sends REQUESTS requests from CLIENTS concurrent
keep-alive clients, drawn from a fixed mix: slider previews, uploads, memes, memegen URLs and
health checks, and hostile ones: random bytes, truncated files, PDFs, pixel-bomb headers, a
64 MP all-zero PNG, NaN recipes, 100,000-deep JSON, URLs to private addresses (refused
before any connection: nothing leaves loopback), bodies over the cap, absurd output sizes.

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

TARGET_RSS_GROWTH_MB = 50.0
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
        lambda: Request("huge-output", "GET", "/images/soak/a/b.png?width=10000&height=10000", 422),
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


def start_server(port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "GLITCHZAP_DATA_DIR": str(data_dir),
        "GLITCHZAP_TEMPLATES__DIR": str(make_template(data_dir)),
        "GLITCHZAP_SERVER__URL_TIMEOUT_SECONDS": "2",
    }
    command = [sys.executable, "-m", "uvicorn", "glitchzap.api.main:create_app", "--factory",
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
               "--no-access-log"]  # fmt: skip
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
    body, content_type = multipart(corpus.photo)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        (f"POST /api/images HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
    )  # fmt: skip
    raw = await reader.read()
    writer.close()
    return str(json.loads(raw.split(b"\r\n\r\n", 1)[1])["image_id"])


async def soak(args: argparse.Namespace) -> dict[str, object]:
    rng = random.Random(args.seed)
    corpus = Corpus.build()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="glitchzap-soak-") as tmp:
        process = start_server(port, Path(tmp))
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
            alive = process.poll() is None
            health = await Connection(port).send(Request("health", "GET", "/api/health", 200))
        finally:
            process.terminate()
            process.wait(timeout=30)
    return report(args, results, anchor, rss_start, rss_end, alive and health == 200)


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
    print(f"{'figure':<36}{'ours':>12}{'anchor':>14}{'ratio':>8}  target")
    rows = [
        ("requests", results.count, None, ""),
        ("throughput req/s", figures["throughput_rps"], None, ""),
        ("answered 4xx (hostile, as expected)", hostile, None, ""),
        ("5xx answers", results.server_errors, None, "== 0"),
        ("unexpected answers", unexpected, None, "== 0"),
        ("unexpected rate %", 100 * float(figures["unexpected_rate"]), None, "== 0"),  # type: ignore[arg-type]
        ("p50 latency ms", results.p(50), anchor.p(50), "(anchor: 1 client, good only)"),
        ("p99 latency ms", p99, anchor_p99, "(anchor: 1 client, good only)"),
        ("RSS start MB", rss_start / 2**20, None, ""),
        ("RSS end MB", rss_end / 2**20, None, ""),
        ("RSS growth MB", growth_mb, TARGET_RSS_GROWTH_MB, f"<= {TARGET_RSS_GROWTH_MB:.0f}"),
    ]
    for label, ours, anchor_value, target in rows:
        ours_f = float(ours)  # type: ignore[arg-type]
        anchor_text = f"{anchor_value:14.1f}" if anchor_value is not None else f"{'-':>14}"
        ratio = f"{ours_f / anchor_value:8.2f}" if anchor_value else f"{'-':>8}"
        print(f"{label:<36}{ours_f:12.1f}{anchor_text}{ratio}  {target}")
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
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    figures = asyncio.run(soak(args))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1), encoding="utf-8")
    raise SystemExit(0 if figures["passed"] else 1)


if __name__ == "__main__":
    main()
