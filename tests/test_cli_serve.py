"""`glitchzap serve`: a real uvicorn process answering on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

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
