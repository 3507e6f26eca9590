"""Several replicas: two real `glitchzap serve` processes sharing one real redis-server and one
templates folder. An image uploaded to one renders on the other; with one killed mid-load the
other answers every request. `serve --workers 2` shares uploads between its worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from skimage import data as skdata

from api_fixtures import RedisServer, free_port
from glitchzap.cache.redis import RedisCache
from glitchzap.io import encode_image
from glitchzap.templates import TemplateLibrary

pytest_plugins = ["api_fixtures"]

pytest.importorskip("redis")

LAUNCH = (
    "import sys; from glitchzap.cli import app, _register_all; _register_all(); app(sys.argv[1:])"
)
LOAD_RENDERS = 40


@dataclass
class Replica:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(self.url + path, timeout=30, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(self.url + path, timeout=30, **kwargs)


def start_replica(data_dir: Path, env: dict[str, str], *args: str) -> Replica:
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, "serve", "--host", "127.0.0.1", "--port", str(port),
             *args],
            env={**os.environ, **env, "GLITCHZAP_DATA_DIR": str(data_dir)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its worker processes go with it (killpg)
        )  # fmt: skip
    return Replica(process, f"http://127.0.0.1:{port}", log)


def wait_ready(replica: Replica) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and replica.process.poll() is None:
        try:
            if replica.get("/api/health").status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"replica did not start:\n{replica.log.read_text(errors='replace')}")


def stop(replica: Replica) -> None:
    if replica.process.poll() is None:
        os.killpg(replica.process.pid, signal.SIGTERM)
        try:
            replica.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(replica.process.pid, signal.SIGKILL)
            replica.process.wait(timeout=10)


@pytest.fixture
def shared_templates(tmp_path: Path) -> TemplateLibrary:
    """The templates folder both replicas use, holding one template before they start."""
    library = TemplateLibrary(tmp_path / "templates")
    library.add(skdata.chelsea(), name="Chelsea the Cat", template_id="cat", keywords=["cat"])
    return library


@pytest.fixture
def replicas(
    tmp_path: Path, redis_server: RedisServer, shared_templates: TemplateLibrary
) -> Iterator[tuple[Replica, Replica]]:
    env = {
        "GLITCHZAP_CACHE__BACKEND": "redis",
        "GLITCHZAP_CACHE__REDIS_URL": redis_server.url,
        "GLITCHZAP_TEMPLATES__DIR": str(shared_templates.root),
        "GLITCHZAP_TEMPLATES__STARTER_ON_EMPTY": "false",
        "GLITCHZAP_SERVER__CPU_WORKERS": "2",
    }
    started = []
    try:
        for name in ("a", "b"):
            started.append(start_replica(tmp_path / name, env))
        for replica in started:
            wait_ready(replica)
        yield started[0], started[1]
    finally:
        for replica in started:
            stop(replica)


def render(replica: Replica, image_id: str, amount: float) -> httpx.Response:
    recipe = {"effects": {"noise": {"amount": amount}, "shake": {"offset": 3}}, "seed": 7}
    body = {"image_id": image_id, "recipe": recipe, "format": "png"}
    return replica.post("/api/render", json=body)


def upload(replica: Replica, data: bytes) -> str:
    response = replica.post("/api/images", files={"file": ("cat.png", data, "image/png")})
    assert response.status_code == 200, response.text
    return str(response.json()["image_id"])


def test_an_upload_on_one_replica_renders_on_the_other(
    replicas: tuple[Replica, Replica], redis_server: RedisServer
) -> None:
    a, b = replicas
    image_id = upload(a, encode_image(skdata.chelsea(), "png"))
    assert b.get(f"/api/images/{image_id}").json()["width"] == skdata.chelsea().shape[1]
    on_b = render(b, image_id, 0.2)  # B has never seen the image: its pixels come from Redis
    assert on_b.status_code == 200, on_b.text
    RedisCache("renders", redis_server.url, 60).clear()  # so A renders it again itself
    on_a = render(a, image_id, 0.2)
    assert on_a.status_code == 200, on_a.text
    assert on_a.content == on_b.content
    assert on_a.headers["etag"] == on_b.headers["etag"]


def test_replicas_share_the_template_library(
    replicas: tuple[Replica, Replica], shared_templates: TemplateLibrary
) -> None:
    a, b = replicas
    for replica in replicas:
        assert [t["id"] for t in replica.get("/api/templates").json()["templates"]] == ["cat"]
    # An operator adds one (`glitchzap templates add` on the shared folder): both see it.
    shared_templates.add(skdata.coffee(), name="Coffee", template_id="coffee", keywords=["mug"])
    found = b.get("/api/templates/search", params={"q": "mug"}).json()["results"]
    assert [r["id"] for r in found][:1] == ["coffee"]
    assert len(a.get("/api/templates").json()["templates"]) == 2
    query = upload(b, encode_image(skdata.coffee()[40:, 30:], "png"))
    matched = b.post("/api/templates/match", json={"image_id": query}).json()
    assert matched["matches"][0]["id"] == "coffee"


def test_one_replica_killed_mid_load_the_other_answers(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    image_id = upload(a, encode_image(skdata.astronaut()[::2, ::2], "png"))
    requests = [(b if i % 2 else a, 0.05 + i / 200) for i in range(LOAD_RENDERS)]
    killed_after = LOAD_RENDERS // 4

    def send(job: tuple[Replica, float]) -> tuple[Replica, int | str]:
        replica, amount = job
        try:
            return replica, render(replica, image_id, amount).status_code
        except httpx.TransportError as exc:  # A's connections refused or cut once it is killed
            return replica, type(exc).__name__

    results = []
    with ThreadPoolExecutor(4) as pool:
        for index, outcome in enumerate(pool.map(send, requests)):
            results.append(outcome)
            if index == killed_after:
                a.process.send_signal(signal.SIGKILL)
    a.process.wait(timeout=10)
    on_b = [status for replica, status in results if replica is b]
    on_a = [status for replica, status in results if replica is a]
    assert on_b == [200] * (LOAD_RENDERS // 2)
    assert all(status == 200 or isinstance(status, str) for status in on_a)
    assert any(isinstance(status, str) for status in on_a)  # A really went away mid-load
    # B keeps answering, the image uploaded to A included.
    assert render(b, image_id, 0.9).status_code == 200
    assert b.get("/api/health").json()["status"] == "ok"


def test_serve_workers_share_uploads(tmp_path: Path) -> None:
    """`serve --workers 2` (disk cache under one data dir): an upload through one worker
    process renders through whichever worker takes the next connection."""
    replica = start_replica(
        tmp_path / "w", {"GLITCHZAP_SERVER__CPU_WORKERS": "1"}, "--workers", "2"
    )
    try:
        wait_ready(replica)
        image_id = upload(replica, encode_image(skdata.chelsea()[::2, ::2], "png"))
        statuses = [render(replica, image_id, 0.1 + i / 100).status_code for i in range(12)]
        assert statuses == [200] * 12
        log = replica.log.read_text(errors="replace")
        assert log.count("Application startup complete") == 2, log
    finally:
        stop(replica)
