"""Fixtures shared by the API, URL-fetch and Redis tests (import the ones a test file needs)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from skimage import data as skdata

from glitchzap.api import urlfetch
from glitchzap.errors import UrlFetchFailed
from glitchzap.io import encode_image
from glitchzap.runtime import configure, restart
from glitchzap.settings import Settings, load_settings
from meme_cases import MemeSample

REAL_FONTS_DIR = load_settings().fonts_dir  # memegen's fonts, fetched by `make fonts`


@pytest.fixture
def api_settings(tmp_path: Path) -> Iterator[Settings]:
    """Process-wide settings with every file under tmp_path (caches, logs, templates)."""
    # An empty models dir that stays empty: API tests never fetch a model on first use.
    models = {"auto_fetch": False}
    settings = configure(
        None,
        data_dir=tmp_path,
        cache={"backend": "disk"},
        models=models,
        fonts={"dir": REAL_FONTS_DIR},
    ).settings
    restart()
    yield settings
    restart()


@pytest.fixture(scope="session")
def memegen_library(tmp_path_factory: Any, meme_sample: MemeSample) -> Path:
    """A library folder with the sample's memegen templates imported once (generated ones,
    plus the shared sample when present): the one template registry the API tests read."""
    from glitchzap.templates import TemplateLibrary

    folder = tmp_path_factory.mktemp("memegen-library")
    library = TemplateLibrary(folder)
    for source in meme_sample.folders:
        report = library.import_memegen(source)
        assert report.added and not report.errors and not report.conflicts, report.to_dict()
    library.store.close()
    return folder


@pytest.fixture
def memegen_library_copy(tmp_path: Path, memegen_library: Path) -> Path:
    """A private copy of `memegen_library` for a test whose requests may change templates."""
    return Path(shutil.copytree(memegen_library, tmp_path / "memegen-library"))


def make_client(settings: Settings) -> Any:
    from fastapi.testclient import TestClient

    from glitchzap.api.main import create_app

    return TestClient(create_app(settings))


@pytest.fixture
def api_client(api_settings: Settings) -> Iterator[Any]:
    with make_client(api_settings) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def api_astronaut_png() -> bytes:
    return encode_image(skdata.astronaut(), "png")


@pytest.fixture(scope="session")
def api_chelsea_jpeg() -> bytes:
    return encode_image(skdata.chelsea(), "jpeg", quality=90)


def upload(api_client: Any, data: bytes, name: str = "image.png") -> dict[str, Any]:
    response = api_client.post(
        "/api/images", files={"file": (name, data, "application/octet-stream")}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def small_image_id(api_client: Any) -> str:
    """A 128 px real photo (the astronaut) uploaded: for API checks of parameters."""
    return str(upload(api_client, encode_image(skdata.astronaut()[::4, ::4], "png"))["image_id"])


def render_raw_effects(api_client: Any, image_id: str, effects_json: str) -> Any:
    """POST /api/render with `effects_json` sent as written (NaN, Infinity and all)."""
    body = f'{{"image_id": "{image_id}", "recipe": {{"effects": {effects_json}}}}}'
    return api_client.post(
        "/api/render", content=body, headers={"content-type": "application/json"}
    )


def assert_api_refuses(api_client: Any, bad_effects_json: str, good_effects: dict) -> None:
    """A bad number in an effect is 422 `invalid_parameters`; a good value renders (200)."""
    image_id = small_image_id(api_client)
    refused = render_raw_effects(api_client, image_id, bad_effects_json)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == "invalid_parameters"
    ok = api_client.post(
        "/api/render", json={"image_id": image_id, "recipe": {"effects": good_effects}}
    )
    assert ok.status_code == 200, ok.text


# --- network guard: only loopback sockets, DNS answered from a table ---------------------------


@dataclass
class NetworkGuard:
    """Records every connection attempt; refuses (and flags) any that is not loopback."""

    dns: dict[str, list[str]] = field(default_factory=dict)
    connects: list[tuple[str, int]] = field(default_factory=list)
    refused: list[tuple[str, int]] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)

    def resolve(self, host: str, port: int) -> list[Any]:
        import ipaddress

        self.lookups.append(host)
        if host not in self.dns:
            raise UrlFetchFailed(f"Cannot resolve host {host!r} (test DNS)")
        return [ipaddress.ip_address(a) for a in self.dns[host]]

    def open_socket(self, address: tuple[str, int], timeout: float) -> socket.socket:
        import ipaddress

        self.connects.append(address)
        if not ipaddress.ip_address(address[0]).is_loopback:
            self.refused.append(address)
            raise ConnectionRefusedError(f"test guard: no connection to {address[0]}")
        return socket.create_connection(address, timeout=timeout)


@pytest.fixture
def net_guard(monkeypatch: pytest.MonkeyPatch) -> NetworkGuard:
    """Keep urlfetch off DNS and off every non-loopback address, even if the SSRF check breaks."""
    guard = NetworkGuard()
    monkeypatch.setattr(urlfetch, "resolve", guard.resolve)
    monkeypatch.setattr(urlfetch, "open_socket", guard.open_socket)
    return guard


@pytest.fixture(scope="session")
def httpserver_listen_address() -> tuple[str, int]:
    """pytest-httpserver on 127.0.0.1 (not "localhost", which would need DNS)."""
    return ("127.0.0.1", 0)


# --- a real redis-server on a free loopback port ------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    def __init__(self, binary: str, port: int) -> None:
        self.binary = binary
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip(
            "redis-server is not installed (make test installs it: apt-get install -y redis-server)"
        )
    server = RedisServer(binary, free_port())
    server.start()
    yield server
    server.stop()


def noisy_image(seed: int = 0, size: tuple[int, int] = (64, 48)) -> np.ndarray:
    """A small seeded RGB image for tests that need pixels but not a photo."""
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
