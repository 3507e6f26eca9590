"""Faults while serving: model files vanishing or corrupt, a full disk, an unwritable cache
dir, Redis down or killed mid-request, and a worker exception. Each gets a clear answer, and
the server keeps serving the requests that do not need what broke.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from skimage import data as skdata

from api_fixtures import RedisServer, free_port, make_client, upload
from conftest import copy_installed_model
from glitchzap.io import encode_image
from glitchzap.runtime import configure, restart
from glitchzap.settings import load_settings

pytest_plugins = ["api_fixtures"]

BLUR = {"effects": {"blur": 2}, "seed": 1}


def photo_png(seed: int = 0) -> bytes:
    """A different small photo crop for each seed (distinct bytes, distinct cache entries)."""
    image = np.ascontiguousarray(skdata.astronaut()[seed * 8 : seed * 8 + 128, :128])
    return encode_image(image, "png")


def still_serving(client: Any) -> None:
    assert client.get("/api/health").json()["status"] == "ok"
    image_id = upload(client, photo_png(60))["image_id"]
    response = client.post("/api/render", json={"image_id": image_id, "recipe": BLUR})
    assert response.status_code == 200


# --- background model file missing or corrupt at run time -------------------------------------


@pytest.fixture
def models_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "models"
    copy_installed_model(copy)
    return copy


def reload_models(client: Any) -> None:
    """What an idle unload does: the next request loads the model file again."""
    client.app.state.api.runtime.models.unload()


def cutout(client: Any, seed: int) -> tuple[int, str | None]:
    image_id = upload(client, photo_png(seed))["image_id"]
    response = client.post("/api/remove-background", json={"image_id": image_id})
    is_json = response.headers["content-type"].startswith("application/json")
    return response.status_code, response.json()["error"] if is_json else None


@pytest.mark.slow
def test_model_file_removed_corrupted_and_restored(tmp_path: Path, models_copy: Path) -> None:
    model = models_copy / "u2netp.onnx"
    good = model.read_bytes()
    models = {"dir": models_copy, "auto_fetch": False}  # a broken file is refused, not re-fetched
    settings = load_settings(None, data_dir=tmp_path / "data", models=models)
    with make_client(settings) as client:
        assert cutout(client, 1) == (200, None)

        model.unlink()
        reload_models(client)
        assert cutout(client, 2) == (503, "model_not_available")
        still_serving(client)

        model.write_bytes(good[: len(good) // 2])  # a torn download
        reload_models(client)
        assert cutout(client, 3) == (503, "model_not_available")

        model.write_bytes(np.random.default_rng(0).bytes(len(good)))  # right size, wrong bytes
        reload_models(client)
        assert cutout(client, 4) == (503, "model_not_available")
        still_serving(client)

        model.write_bytes(good)  # fixed on disk: served again without a restart
        reload_models(client)
        assert cutout(client, 5) == (200, None)


# --- a worker exception -----------------------------------------------------------------------


@pytest.fixture
def api_client_no_raise(api_settings: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from glitchzap.api.main import create_app

    # The default TestClient re-raises server errors; clients see the 500 answer instead.
    with TestClient(create_app(api_settings), raise_server_exceptions=False) as client:
        yield client


def test_worker_exception_is_a_500_and_the_next_request_is_served(
    api_client_no_raise: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from glitchzap.api.routes import render as render_route

    api_client = api_client_no_raise
    image_id = upload(api_client, photo_png())["image_id"]
    real = render_route.render_bytes
    calls = {"n": 0}

    def flaky(*args: Any) -> bytes:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a bug in a worker")
        return real(*args)

    monkeypatch.setattr(render_route, "render_bytes", flaky)
    body = {"image_id": image_id, "recipe": BLUR}
    response = api_client.post("/api/render", json=body)
    assert (response.status_code, response.json()["error"]) == (500, "internal_error")
    assert "a bug in a worker" not in response.text  # details go to the log only
    assert "a bug in a worker" in caplog.text
    again = api_client.post("/api/render", json=body)  # same key: single-flight was cleared
    assert (again.status_code, again.headers["x-cache"]) == (200, "miss")
    assert api_client.get("/api/health").json()["pending_jobs"] == 0


def test_worker_exception_in_a_cached_operation(
    api_client_no_raise: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import glitchzap.meme.compose

    client = api_client_no_raise
    image_id = upload(client, photo_png())["image_id"]
    real = glitchzap.meme.compose.make_meme_animation  # what the route calls
    monkeypatch.setattr(glitchzap.meme.compose, "make_meme_animation", lambda *a, **k: 1 / 0)
    body = {"image_id": image_id, "captions": ["x"], "erase": "never"}
    response = client.post("/api/meme", json=body)
    assert (response.status_code, response.json()["error"]) == (500, "internal_error")
    monkeypatch.setattr(glitchzap.meme.compose, "make_meme_animation", real)
    assert client.post("/api/meme", json=body).status_code == 200  # nothing bad was cached
    assert client.get("/api/health").json()["pending_jobs"] == 0


# --- the cache's disk: unwritable, full ------------------------------------------------------


def test_cache_dir_that_is_a_file_runs_uncached(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_bytes(b"")  # root ignores permissions; a file in the way stops everyone
    cache = {"backend": "disk", "dir": blocker}
    settings = configure(None, data_dir=tmp_path / "data", cache=cache).settings
    restart()
    with make_client(settings) as client:
        for seed in range(3):
            image_id = upload(client, photo_png(seed))["image_id"]
            response = client.post("/api/render", json={"image_id": image_id, "recipe": BLUR})
            assert response.status_code == 200
        still_serving(client)
    restart()


SERVER = textwrap.dedent(
    """
    import resource, signal, sys
    import uvicorn
    from glitchzap.api.main import create_app
    from glitchzap.runtime import configure

    data_dir, port, max_file_bytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))
    settings = configure(None, data_dir=data_dir, cache={"backend": "disk"}).settings
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    """
)


@contextlib.contextmanager
def server_process(data_dir: Path, max_file_bytes: int) -> Iterator[tuple[str, Any]]:
    """A real uvicorn server on a free loopback port, every file it writes capped in size."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(data_dir), str(port), str(max_file_bytes)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.1)
        yield base, process
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_full_disk_is_served_uncached(tmp_path: Path) -> None:
    """Every file the server writes is capped at 64 KB (RLIMIT_FSIZE): the cache database and
    the timing log fill up after a few uploads, and every later write fails with EFBIG, as on
    a full disk."""
    import httpx

    with (
        server_process(tmp_path, 64 * 1024) as (base, process),
        httpx.Client(base_url=base, timeout=60) as client,
    ):
        for seed in range(12):  # ~12 x 40 KB of originals: far past 64 KB
            files = {"file": ("a.png", photo_png(seed), "image/png")}
            stored = client.post("/api/images", files=files)
            assert stored.status_code == 200, stored.text
            image_id = stored.json()["image_id"]
            body = {"image_id": image_id, "recipe": BLUR}
            assert client.post("/api/render", json=body).status_code == 200
        assert client.get("/api/health").json()["status"] == "ok"
        assert process.poll() is None
    log = process.stderr.read().decode() if process.stderr else ""
    assert "disk cache images disabled" in log  # the cache did run into the full disk...
    assert "disk I/O error" in log
    sizes = [path.stat().st_size for path in (tmp_path / "cache").iterdir()]
    assert max(sizes) <= 64 * 1024  # ...and nothing got past it


# --- Redis down from the start, and killed in the middle of a request -------------------------


def test_redis_down_from_the_start(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    settings = configure(
        None, data_dir=tmp_path, cache={"backend": "redis", "redis_url": url}
    ).settings
    restart()
    with make_client(settings) as client:
        still_serving(client)
        image_id = upload(client, photo_png(1))["image_id"]
        body = {"image_id": image_id, "captions": ["no redis"], "erase": "never"}
        assert client.post("/api/meme", json=body).status_code == 200
    restart()


def test_redis_killed_while_a_request_computes(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from glitchzap.api.routes import render as render_route

    settings = configure(
        None, data_dir=tmp_path, cache={"backend": "redis", "redis_url": redis_server.url}
    ).settings
    restart()
    real = render_route.render_bytes

    def kill_then_render(*args: Any) -> bytes:
        redis_server.stop()  # between the cache read and the cache write of this request
        return real(*args)

    with make_client(settings) as client:
        image_id = upload(client, photo_png(2))["image_id"]
        monkeypatch.setattr(render_route, "render_bytes", kill_then_render)
        response = client.post("/api/render", json={"image_id": image_id, "recipe": BLUR})
        assert response.status_code == 200
        monkeypatch.setattr(render_route, "render_bytes", real)
        still_serving(client)
    restart()
