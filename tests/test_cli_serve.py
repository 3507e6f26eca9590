"""`glitchzap serve`: a real uvicorn process answering on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from api_fixtures import free_port

pytest_plugins = ["api_fixtures"]

LAUNCH = (
    "import sys; from glitchzap.cli import app, _register_all; _register_all(); app(sys.argv[1:])"
)


def test_serve_starts_and_answers(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "GLITCHZAP_DATA_DIR": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        body = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).json()
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert body is not None, process.stdout.read().decode() if process.stdout else ""
        assert body["status"] == "ok"
        docs = httpx.get(f"http://127.0.0.1:{port}/docs", timeout=5)
        assert docs.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_serve_rejects_a_bad_port() -> None:
    result = subprocess.run(
        [sys.executable, "-c", LAUNCH, "serve", "--port", "70000"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--port" in result.stderr


def test_serve_refuses_workers_that_cannot_share_uploads(tmp_path: Path) -> None:
    """With the memory cache each worker process would hold only its own uploads (an
    `image_id` answering 404 on the others): refused before anything starts."""
    env = {**os.environ, "GLITCHZAP_DATA_DIR": str(tmp_path), "GLITCHZAP_CACHE__BACKEND": "memory"}
    result = subprocess.run(
        [sys.executable, "-c", LAUNCH, "serve", "--port", str(free_port()), "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 2
    assert "--workers" in result.stderr and "redis" in result.stderr


def worker_processes(server: psutil.Process) -> list[psutil.Process]:
    """The live worker processes `serve --workers N` spawned (not a killed one not yet reaped)."""
    workers = []
    for child in server.children():
        with contextlib.suppress(psutil.Error):  # gone, or a zombie
            if "spawn_main" in " ".join(child.cmdline()):
                workers.append(child)
    return workers


def listening(worker: psutil.Process) -> bool:
    """Whether the worker listens on its socket yet."""
    return any(c.status == psutil.CONN_LISTEN for c in worker.net_connections("tcp"))


def test_serve_workers_share_connections_and_replace_a_dead_one(tmp_path: Path) -> None:
    """`serve --workers 2`: each worker listens on a socket of its own (SO_REUSEPORT), so 64
    connections opened at once reach both (with one shared socket the first worker to wake
    took 53-64 of them); a killed worker is replaced on its socket and all answers are 200."""
    port = free_port()
    env = {**os.environ, "GLITCHZAP_DATA_DIR": str(tmp_path)}
    command = [sys.executable, "-c", LAUNCH, "serve", "--port", str(port), "--workers", "2"]
    with (tmp_path / "server.log").open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        server = psutil.Process(process.pid)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(worker_processes(server)) < 2:
            time.sleep(0.2)
        with httpx.Client(timeout=5) as client:
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{base}/api/health").status_code == 200:
                        break
                time.sleep(0.2)
        workers = worker_processes(server)
        assert len(workers) == 2, (tmp_path / "server.log").read_text()
        # The health answer says one worker is up; a worker still starting has not begun to
        # listen on its socket, and the kernel gives new connections to those that have.
        while time.monotonic() < deadline and not all(map(listening, workers)):
            time.sleep(0.2)
        sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(64)]
        try:
            time.sleep(0.5)  # accepted by now
            held = [
                sum(1 for c in w.net_connections("tcp") if c.status == psutil.CONN_ESTABLISHED)
                for w in workers
            ]
        finally:
            for sock in sockets:
                sock.close()
        assert sum(held) == 64 and min(held) >= 12, held  # binomial(64, 1/2): below 12 ~1e-7
        workers[0].kill()
        while time.monotonic() < deadline:
            now = worker_processes(server)
            if len(now) == 2 and workers[0].pid not in {p.pid for p in now}:
                break
            time.sleep(0.2)
        statuses = []
        while time.monotonic() < deadline and len(statuses) < 40:
            with contextlib.suppress(httpx.HTTPError):  # the new worker is starting
                statuses.append(httpx.get(f"{base}/api/health", timeout=5).status_code)
        assert len(statuses) == 40 and set(statuses) == {200}
    finally:
        process.terminate()
        process.wait(timeout=30)
