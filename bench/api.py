"""Load test of the HTTP API on loopback: slider previews by image_id vs re-uploading each time.

Starts a real uvicorn server (one worker) on a free port with a throw-away data dir, uploads
one photo-sized image, then runs CLIENTS concurrent closed-loop clients for SECONDS each:

* studio: the image is uploaded once; every request is POST /api/render with only the
  image_id and a recipe whose slider values change (blur, noise, shake, motion, 11 positions
  each, as when dragging sliders back and forth), quality "balanced".
* naive (the anchor): the same previews, but every request first re-uploads the image
  (POST /api/images, multipart) and then renders it.

Prints throughput, p50/p99 latency, errors and the server's RSS before/after each phase, with
the ratio studio/naive, and the targets (p99 <= 60 ms, zero errors, RSS growth <= 50 MB).

    .venv/bin/python bench/api.py [--seconds 30] [--clients 20]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import httpx
import numpy as np
import psutil
from PIL import Image
from skimage import data as skdata

from _report import row

SLIDERS = {
    "blur": [{"radius": r} for r in np.linspace(0, 20, 11).round(1).tolist()],
    "noise": [{"amount": a} for a in np.linspace(0, 0.5, 11).round(2).tolist()],
    "shake": [{"offset": o} for o in np.linspace(0, 30, 11).round(1).tolist()],
    "motion": [{"length": n} for n in np.linspace(0, 60, 11).round(1).tolist()],
}
TARGET_P99_MS = 60.0
WARM_SECONDS = 2.0  # the first pass over the 44 slider positions renders; later ones hit
TARGET_RSS_GROWTH_MB = 50.0


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    started: list[float] = field(default_factory=list)  # seconds into the phase
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    rss_before: int = 0
    rss_after: int = 0
    server_cpu_seconds: float = 0.0
    client_cpu_seconds: float = 0.0

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile_ms(self, q: float, after_seconds: float = 0.0) -> float:
        chosen = [
            lat for lat, t in zip(self.latencies, self.started, strict=True) if t >= after_seconds
        ]
        return float(np.percentile(chosen, q) * 1000) if chosen else float("nan")

    def cpu_ms_per_request(self, seconds: float) -> float:
        return seconds / len(self.latencies) * 1000 if self.latencies else float("nan")

    @property
    def rss_growth_mb(self) -> float:
        return (self.rss_after - self.rss_before) / 1e6


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def photo_jpeg(side: int) -> bytes:
    """The astronaut photo scaled to side x side (a phone-photo-sized upload), as JPEG."""
    image = Image.fromarray(skdata.astronaut()).resize((side, side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def recipe(client: int, step: int) -> dict[str, object]:
    """The slider position client `client` sends at `step`: one effect, moving back and forth."""
    names = list(SLIDERS)
    name = names[(client + step // 21) % len(names)]
    positions = SLIDERS[name]
    k = step % 20
    index = k if k <= 10 else 20 - k
    return {"effects": {name: positions[index]}, "seed": 1}


def start_server(port: int, data_dir: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "GLITCHZAP_DATA_DIR": data_dir, "GLITCHZAP_MONITORING__LOG_TIMING": "true"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "glitchzap.api.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
    )


def wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the server exited during start-up")
        try:
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("the server did not start within 60 s")


class Connection:
    """A minimal HTTP/1.1 keep-alive client: httpx costs ~4 ms of CPU per request, which on
    2 cores shared with the server would measure the client rather than the server."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        payload = await self.reader.readexactly(length)
        return int(status_line.split()[1]), payload

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


def multipart(image: bytes) -> tuple[bytes, str]:
    boundary = "glitchzapbenchboundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="photo.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
    ).encode()
    body += image + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


async def upload(conn: Connection, form: tuple[bytes, str]) -> str:
    status, payload = await conn.request("/api/images", *form)
    if status != 200:
        raise RuntimeError(f"upload answered {status}: {payload[:200]!r}")
    return str(json.loads(payload)["image_id"])


async def render(conn: Connection, body: dict[str, object]) -> tuple[int, bytes]:
    return await conn.request("/api/render", json.dumps(body).encode(), "application/json")


async def run_phase(
    port: int,
    phase: Phase,
    image: bytes,
    clients: int,
    seconds: float,
    naive: bool,
    server: psutil.Process,
) -> None:
    form = multipart(image)
    first = Connection(port)
    image_id = await upload(first, form)
    # Warm-up: one render off the slider grid loads the effect modules and OpenCV, so the RSS
    # growth below is what the load adds, not the first imports.
    status, _ = await render(first, {"image_id": image_id, "recipe": {"effects": {"blur": 0.5}}})
    if status != 200:
        raise SystemExit(f"warm-up render answered {status}")
    await first.close()
    phase.rss_before = server.memory_info().rss
    server_cpu, client_cpu = sum(server.cpu_times()[:2]), time.process_time()
    stop = time.monotonic() + seconds
    began_perf = time.perf_counter()

    async def client(index: int) -> None:
        conn = Connection(port)
        step = 0
        while time.monotonic() < stop:
            start = time.perf_counter()
            try:
                current = await upload(conn, form) if naive else image_id
                status, _ = await render(
                    conn,
                    {"image_id": current, "recipe": recipe(index, step), "quality": "balanced"},
                )
            except (OSError, RuntimeError, asyncio.IncompleteReadError) as exc:
                phase.error(type(exc).__name__)
                await conn.close()
                conn = Connection(port)
            else:
                if status == 200:
                    phase.latencies.append(time.perf_counter() - start)
                    phase.started.append(start - began_perf)
                else:
                    phase.error(f"http_{status}")
            step += 1
        await conn.close()

    began = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(clients)))
    phase.seconds = time.monotonic() - began
    phase.rss_after = server.memory_info().rss
    phase.server_cpu_seconds = sum(server.cpu_times()[:2]) - server_cpu
    phase.client_cpu_seconds = time.process_time() - client_cpu


def report(studio: Phase, naive: Phase, clients: int, image_bytes: int) -> None:
    load = os.getloadavg()[0]
    print(
        f"\nAPI load test: {clients} concurrent clients, balanced previews, "
        f"{image_bytes / 1e6:.2f} MB JPEG upload, {os.cpu_count()} cores, "
        f"load average {load:.1f} at the end (others' work on the machine skews latency)"
    )
    header = f"{'':24}{'studio (image_id)':>20}{'naive (re-upload)':>20}{'ratio':>10}"
    print(header)
    print("-" * len(header))
    rows = [
        ("throughput req/s", studio.throughput, naive.throughput),
        ("p50 latency ms", studio.percentile_ms(50), naive.percentile_ms(50)),
        ("p99 latency ms", studio.percentile_ms(99), naive.percentile_ms(99)),
        (
            f"p99 after {WARM_SECONDS:.0f} s ms",
            studio.percentile_ms(99, WARM_SECONDS),
            naive.percentile_ms(99, WARM_SECONDS),
        ),
        ("requests ok", len(studio.latencies), len(naive.latencies)),
        (
            "server CPU ms/request",
            studio.cpu_ms_per_request(studio.server_cpu_seconds),
            naive.cpu_ms_per_request(naive.server_cpu_seconds),
        ),
        (
            "client CPU ms/request",
            studio.cpu_ms_per_request(studio.client_cpu_seconds),
            naive.cpu_ms_per_request(naive.client_cpu_seconds),
        ),
        ("errors", sum(studio.errors.values()), sum(naive.errors.values())),
        ("RSS before MB", studio.rss_before / 1e6, naive.rss_before / 1e6),
        ("RSS after MB", studio.rss_after / 1e6, naive.rss_after / 1e6),
        ("RSS growth MB", studio.rss_growth_mb, naive.rss_growth_mb),
    ]
    for label, ours, anchor in rows:
        ratio = f"{ours / anchor:.2f}" if anchor else "-"
        print(f"{label:24}{ours:>20.1f}{anchor:>20.1f}{ratio:>10}")
    if studio.errors or naive.errors:
        print(f"error kinds: studio {studio.errors}, naive {naive.errors}")
    p99 = studio.percentile_ms(99)
    print(
        f"\ntargets (studio): p99 {p99:.1f} ms <= {TARGET_P99_MS:.0f} ms: "
        f"{'PASS' if p99 <= TARGET_P99_MS else 'FAIL'}; errors {sum(studio.errors.values())} "
        f"== 0: {'PASS' if not studio.errors else 'FAIL'}; RSS growth {studio.rss_growth_mb:.1f} "
        f"MB <= {TARGET_RSS_GROWTH_MB:.0f} MB: "
        f"{'PASS' if studio.rss_growth_mb <= TARGET_RSS_GROWTH_MB else 'FAIL'}"
    )
    # The same figures as rows for docs/BENCHMARKS.md (anchor: the naive re-uploading client).
    naive_p99 = naive.percentile_ms(99)
    row(
        "API p99 latency, balanced previews",
        p99,
        naive_p99,
        "naive client, re-uploads",
        target=f"<= {TARGET_P99_MS:.0f} ms",
        ok=p99 <= TARGET_P99_MS,
    )
    row(
        "API p50 latency, balanced previews",
        studio.percentile_ms(50),
        naive.percentile_ms(50),
        "naive client, re-uploads",
    )
    row(
        "API errors",
        float(sum(studio.errors.values())),
        float(sum(naive.errors.values())),
        "naive client",
        unit="",
        target="== 0",
        ok=not studio.errors,
    )
    row(
        "API server RSS growth",
        studio.rss_growth_mb,
        naive.rss_growth_mb,
        "naive client",
        unit="MB",
        target=f"<= {TARGET_RSS_GROWTH_MB:.0f} MB",
        ok=studio.rss_growth_mb <= TARGET_RSS_GROWTH_MB,
    )
    row(
        "API throughput (1 / req/s, ms per request)",
        1000 / studio.throughput,
        1000 / naive.throughput,
        "naive client",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="duration of each phase")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--side", type=int, default=2048, help="uploaded image size, px")
    args = parser.parse_args()
    image = photo_jpeg(args.side)
    studio, naive = Phase("studio"), Phase("naive")
    for phase, is_naive in ((studio, False), (naive, True)):
        # A fresh server and data dir per phase: neither inherits the other's caches.
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with tempfile.TemporaryDirectory(prefix="glitchzap-bench-") as data_dir:
            process = start_server(port, data_dir)
            try:
                wait_ready(base, process)
                server = psutil.Process(process.pid)
                asyncio.run(
                    run_phase(port, phase, image, args.clients, args.seconds, is_naive, server)
                )
            finally:
                process.terminate()
                process.wait(timeout=30)
    report(studio, naive, args.clients, len(image))


if __name__ == "__main__":
    main()
