"""Fixtures for the browser tests: a real uvicorn server on loopback and headless Chromium.

Chromium is Debian's (`/usr/bin/chromium`, installed by `make system-deps`), driven by the
Playwright Python package with `executable_path`: `playwright install` is never run.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from glitchzap.runtime import configure, restart
from glitchzap.settings import Settings
from meme_cases import MemeSample

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parent / "artifacts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_studio_app() -> Any:
    """The API app with the studio mounted, as `glitchzap serve` builds it."""
    from glitchzap.api.main import create_app
    from glitchzap.web import mount_studio

    app = create_app()
    if not any(getattr(r, "path", None) == "/" for r in app.routes):  # until create_app mounts it
        mount_studio(app)
    return app


@dataclass
class LiveServer:
    url: str
    server: Any
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_server(app: Any, port: int | None = None) -> LiveServer:
    """uvicorn serving `app` on 127.0.0.1 in a thread; returns once it accepts connections."""
    import uvicorn

    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="studio-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the studio server did not start")
        time.sleep(0.02)
    return LiveServer(f"http://127.0.0.1:{port}", server, thread)


@pytest.fixture(scope="session")
def memegen_library_dir(tmp_path_factory: pytest.TempPathFactory, meme_sample: MemeSample) -> Path:
    """A template library with the sample's memegen templates imported (once per session):
    generated ones, plus the shared sample when present, which is never written to."""
    from glitchzap.templates import TemplateLibrary

    folder = tmp_path_factory.mktemp("studio-templates")
    library = TemplateLibrary(folder)
    for source in meme_sample.folders:
        library.import_memegen(source)
    library.store.close()
    return folder


@pytest.fixture
def studio_settings(settings: Settings, memegen_library_dir: Path) -> Settings:
    """The test's settings, with the sample's memegen templates in the template library."""
    folder = memegen_library_dir
    current = configure(None, **{**settings.model_dump(), "templates": {"dir": folder}}).settings
    restart()
    return current


@pytest.fixture
def live_server(studio_settings: Settings) -> Iterator[LiveServer]:
    server = start_server(build_studio_app())
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists() and not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (make system-deps installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")),
            args=CHROMIUM_ARGS,
        )
        yield browser
        browser.close()


@dataclass
class StudioPage:
    """A page on the studio plus the JavaScript errors it raised (a test fails on any)."""

    page: Any
    url: str
    errors: list[str] = field(default_factory=list)

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def open_studio(browser: Any, url: str, **context_options: Any) -> tuple[Any, StudioPage]:
    context = browser.new_context(
        accept_downloads=True,
        viewport={"width": 1280, "height": 900},
        permissions=["clipboard-read", "clipboard-write"],
        **context_options,
    )
    page = context.new_page()
    studio = StudioPage(page, url)
    page.on("pageerror", lambda exc: studio.errors.append(str(exc)))
    page.on("console", lambda m: _console_error(studio, m))
    page.goto(url)
    page.wait_for_selector("body[data-effects-ready='true']", timeout=15_000)
    return context, studio


def _console_error(studio: StudioPage, message: Any) -> None:
    # A 4xx answer the page handles (a missing optional route) is logged by Chromium too.
    if message.type == "error" and "Failed to load resource" not in message.text:
        studio.errors.append(message.text)


@pytest.fixture
def studio(browser: Any, live_server: LiveServer) -> Iterator[StudioPage]:
    context, page = open_studio(browser, live_server.url)
    yield page
    context.close()
