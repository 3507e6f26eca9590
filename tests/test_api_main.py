"""App-wide behaviour: error shape, body cap, timeouts, 503 when busy, API key, CORS."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
import time
from typing import Any

import pytest

from api_fixtures import free_port, make_client, upload
from glitchzap.api.deps import CpuPool
from glitchzap.api.middleware import LimitsMiddleware
from glitchzap.errors import OperationTimeout, ServerBusy
from glitchzap.settings import load_settings

pytest_plugins = ["api_fixtures"]


def test_unknown_route_and_method_use_the_error_shape(api_client: Any) -> None:
    missing = api_client.get("/api/nope")
    assert missing.status_code == 404
    assert missing.json() == {"error": "not_found", "message": "Not Found"}
    wrong = api_client.get("/api/render")
    assert wrong.status_code == 405
    assert wrong.json()["error"] == "method_not_allowed"


def test_start_up_objects_are_frozen_while_the_app_runs(api_settings: Any) -> None:
    """The collector's full passes skip what start-up made while the app serves, and the app's
    shutdown gives it back (tests start many apps in one process)."""
    gc.unfreeze()
    with make_client(api_settings) as client:
        assert client.get("/api/health").status_code == 200
        assert gc.get_freeze_count() > 10_000
    assert gc.get_freeze_count() == 0


def test_openapi_and_docs(api_client: Any) -> None:
    schema = api_client.get("/openapi.json").json()
    for path in (
        "/api/images",
        "/api/render",
        "/api/effects",
        "/api/health",
        "/api/performance",
        "/metrics",
        "/templates",
        "/images/{path}",
    ):
        assert path in schema["paths"], path
    assert api_client.get("/docs").status_code == 200
    # /api/render reads its body itself (deps.json_body): documented as a body parameter is
    render = schema["paths"]["/api/render"]["post"]
    body = render["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/RenderRequest"}
    components = schema["components"]["schemas"]
    assert {"image_id", "url", "recipe", "quality", "format"} <= set(
        components["RenderRequest"]["properties"]
    )
    assert components["RenderRequest"]["properties"]["recipe"]["$ref"].endswith("/Recipe")
    assert "Recipe" in components and "BackgroundOptions" in components
    assert [p["name"] for p in render["parameters"]] == ["if-none-match"]


@pytest.fixture
def small_body_client(tmp_path: Any) -> Any:
    settings = load_settings(None, data_dir=tmp_path, server={"max_body_bytes": 10_000})
    with make_client(settings) as small:
        yield small


def test_body_over_the_cap_with_content_length(small_body_client: Any) -> None:
    response = small_body_client.post(
        "/api/images", files={"file": ("x.png", b"\x89PNG" + b"0" * 20_000, "image/png")}
    )
    assert response.status_code == 413
    assert response.json()["error"] == "request_too_large"


def test_body_over_the_cap_streamed_without_content_length(small_body_client: Any) -> None:
    sent = []

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(100):
            sent.append(1)
            yield b"{" + b" " * 999

    response = small_body_client.post(
        "/api/render", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"] == "request_too_large"


def test_body_under_the_cap_passes(small_body_client: Any) -> None:
    response = small_body_client.post("/api/render", json={"image_id": "0" * 40})
    assert response.status_code == 404


def test_request_timeout_middleware() -> None:
    async def slow_app(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(5)

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    app = LimitsMiddleware(slow_app, max_body_bytes=100, timeout_seconds=0.05)
    start = time.monotonic()
    asyncio.run(app({"type": "http", "headers": []}, receive, send))
    assert time.monotonic() - start < 2
    assert sent[0]["status"] == 504


def test_pool_refuses_when_full_and_times_out() -> None:
    async def scenario() -> None:
        pool = CpuPool(workers=1, max_pending=2)
        release = threading.Event()
        first = asyncio.ensure_future(pool.run(10, release.wait))
        second = asyncio.ensure_future(pool.run(10, release.wait))
        await asyncio.sleep(0.05)
        with pytest.raises(ServerBusy):
            await pool.run(10, time.sleep, 0)
        release.set()
        await asyncio.gather(first, second)
        assert pool.pending == 0
        with pytest.raises(OperationTimeout):
            await pool.run(0.05, time.sleep, 0.5)
        assert pool.pending == 1  # the slow job keeps its slot until it really ends
        await asyncio.sleep(0.6)
        assert pool.pending == 0
        pool.shutdown()

    asyncio.run(scenario())


def test_busy_server_answers_503_with_retry_after(tmp_path: Any, api_astronaut_png: bytes) -> None:
    settings = load_settings(None, data_dir=tmp_path, server={"cpu_workers": 1, "max_pending": 1})
    with make_client(settings) as api:
        image_id = upload(api, api_astronaut_png)["image_id"]
        pool = api.app.state.api.pool
        release = threading.Event()
        api.portal.start_task_soon(pool.run, 30, release.wait)
        deadline = time.monotonic() + 5
        while pool.pending == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        response = api.post(
            "/api/render", json={"image_id": image_id, "recipe": {"effects": {"blur": 3}}}
        )
        release.set()
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.json()["error"] == "busy"
        deadline = time.monotonic() + 5
        while pool.pending and time.monotonic() < deadline:  # the released job gives its slot back
            time.sleep(0.01)
        ok = api.post(
            "/api/render", json={"image_id": image_id, "recipe": {"effects": {"blur": 3}}}
        )
        assert ok.status_code == 200


def test_api_key(tmp_path: Any) -> None:
    settings = load_settings(None, data_dir=tmp_path, server={"api_key": "s3cret"})
    with make_client(settings) as api:
        assert api.get("/api/health").status_code == 200  # health stays open for probes
        denied = api.get("/api/effects")
        assert denied.status_code == 401
        assert denied.json()["error"] == "unauthorized"
        assert api.get("/api/effects", headers={"X-API-Key": "wrong"}).status_code == 401
        assert api.get("/api/effects", headers={"X-API-Key": "s3cret"}).status_code == 200
        assert api.get("/templates").status_code == 401


def test_cors(tmp_path: Any) -> None:
    settings = load_settings(
        None, data_dir=tmp_path, server={"cors_origins": ["https://studio.example"]}
    )
    with make_client(settings) as api:
        allowed = api.options(
            "/api/render",
            headers={"Origin": "https://studio.example", "Access-Control-Request-Method": "POST"},
        )
        assert allowed.headers["access-control-allow-origin"] == "https://studio.example"
        other = api.get("/api/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_no_cors_headers_by_default(api_client: Any) -> None:
    response = api_client.get("/api/health", headers={"Origin": "https://studio.example"})
    assert "access-control-allow-origin" not in response.headers


def test_streamed_cap_on_a_real_server(tmp_path: Any) -> None:
    """Over a real socket: a chunked body is cut off at the cap, not read to the end."""
    import socket

    import uvicorn

    from glitchzap.api.main import create_app

    settings = load_settings(None, data_dir=tmp_path, server={"max_body_bytes": 50_000})
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(
            b"POST /api/render HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        sent = 0
        answer = b""
        try:
            for _ in range(2000):  # up to 2 MB offered, 40x the cap
                sock.sendall(b"400\r\n" + b" " * 1024 + b"\r\n")
                sent += 1024
                sock.settimeout(0.001)
                with contextlib.suppress(TimeoutError, BlockingIOError):
                    answer += sock.recv(4096)
                sock.settimeout(5)
                if answer:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        sock.settimeout(5)
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        sock.close()
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert sent < 1_000_000  # answered long before the body ended
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_single_flight_shares_one_computation() -> None:
    from glitchzap.api.deps import SingleFlight

    calls = []

    async def compute() -> str:
        calls.append(1)
        await asyncio.sleep(0.05)
        return "rendered"

    async def failing() -> str:
        await asyncio.sleep(0.01)
        raise ValueError("bad")

    async def scenario() -> None:
        flight = SingleFlight()
        results = await asyncio.gather(*(flight.run("k", compute) for _ in range(5)))
        assert results == ["rendered"] * 5
        assert len(calls) == 1
        outcomes = await asyncio.gather(
            *(flight.run("e", failing) for _ in range(3)), return_exceptions=True
        )
        assert all(isinstance(o, ValueError) for o in outcomes)
        assert await flight.run("k", compute) == "rendered"  # done keys are not remembered
        assert len(calls) == 2

    asyncio.run(scenario())
